//! Prometheus text exposition of the server's counters: requests by endpoint and status, prompt
//! and generated tokens, queue depth and running sequences, the longest pause between two
//! decoding steps, panics caught in model code, latency (to the last byte, streams included) and
//! time-to-first-token histograms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Histogram bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Live values read from the schedulers when the metrics are rendered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Requests waiting for a slot (prompt scoring included).
    pub queued: usize,
    /// Sequences being prefilled or decoded.
    pub running: usize,
    /// The longest time between two decoding steps while sequences were running, seconds.
    pub max_decode_gap_seconds: f64,
    /// Panics in model code caught (each failed the requests it touched).
    pub panics: usize,
    /// Models whose scheduler thread died.
    pub dead_schedulers: usize,
    /// Requests dropped after waiting in the queue past `--max-queue-wait`.
    pub expired: usize,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    ttft: Mutex<Histogram>,
    /// Prompt tokens processed.
    pub prompt_tokens: AtomicU64,
    /// Tokens generated and returned.
    pub generation_tokens: AtomicU64,
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((endpoint.to_string(), status)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            l.entry(endpoint.to_string()).or_default().observe(seconds);
        }
    }

    /// Records a time to first token.
    pub fn first_token(&self, seconds: f64) {
        if let Ok(mut h) = self.ttft.lock() {
            h.observe(seconds);
        }
    }

    /// The exposition, with the live gauges given.
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP glassbox_requests_total Requests answered, by endpoint and HTTP status.\n# TYPE glassbox_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((e, s), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "glassbox_requests_total{{endpoint=\"{e}\",status=\"{s}\"}} {n}"
                );
            }
        }
        let _ = write!(
            out,
            "# HELP glassbox_prompt_tokens_total Prompt tokens processed.\n# TYPE glassbox_prompt_tokens_total counter\nglassbox_prompt_tokens_total {}\n\
# HELP glassbox_generation_tokens_total Tokens generated.\n# TYPE glassbox_generation_tokens_total counter\nglassbox_generation_tokens_total {}\n\
# HELP glassbox_queue_depth Requests waiting for a decoding slot.\n# TYPE glassbox_queue_depth gauge\nglassbox_queue_depth {}\n\
# HELP glassbox_running_sequences Sequences being prefilled or decoded.\n# TYPE glassbox_running_sequences gauge\nglassbox_running_sequences {}\n\
# HELP glassbox_decode_stall_max_seconds Longest time between two decoding steps while sequences were running.\n# TYPE glassbox_decode_stall_max_seconds gauge\nglassbox_decode_stall_max_seconds {}\n\
# HELP glassbox_model_panics_total Panics in model code caught; each failed the requests it touched.\n# TYPE glassbox_model_panics_total counter\nglassbox_model_panics_total {}\n\
# HELP glassbox_dead_schedulers Models whose scheduler stopped after an internal error (their requests get 503).\n# TYPE glassbox_dead_schedulers gauge\nglassbox_dead_schedulers {}\n\
# HELP glassbox_queue_expired_total Jobs dropped (answered 429) after waiting in the queue past the limit.\n# TYPE glassbox_queue_expired_total counter\nglassbox_queue_expired_total {}\n",
            self.prompt_tokens.load(Ordering::Relaxed),
            self.generation_tokens.load(Ordering::Relaxed),
            g.queued,
            g.running,
            g.max_decode_gap_seconds,
            g.panics,
            g.dead_schedulers,
            g.expired,
        );
        out.push_str("# HELP glassbox_request_duration_seconds Time from request to last byte (for streams, until the stream ends or the client leaves), by endpoint.\n# TYPE glassbox_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (e, h) in l.iter() {
                h.write(
                    &mut out,
                    "glassbox_request_duration_seconds",
                    &format!("endpoint=\"{e}\""),
                );
            }
        }
        out.push_str("# HELP glassbox_time_to_first_token_seconds Time from request to its first generated token.\n# TYPE glassbox_time_to_first_token_seconds histogram\n");
        if let Ok(h) = self.ttft.lock() {
            h.write(&mut out, "glassbox_time_to_first_token_seconds", "");
        }
        out
    }
}
