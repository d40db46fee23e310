//! `glassbox bench serve --overload SECONDS`: the overload trial of `glassbox serve`.
//!
//! 1. Overload: the server holds `--max-batch` running sequences plus `--max-queue` waiting
//!    requests (its capacity); twice that many client threads send mixed requests over loopback
//!    for SECONDS — plain completions, streamed completions, echo/log-prob scoring, chat
//!    completions, and streams that disconnect after a few chunks. A client answered 429 waits
//!    for `Retry-After` and sends its next request. When the time is up no new request starts;
//!    requests still unanswered after `--grace` seconds are *stuck*. Pass: only 200 and 429, no
//!    connection error, no timeout, nothing stuck.
//! 2. Stall: on a fresh server per `--prefill-chunk` (512, then 100000, which disables
//!    chunking), 8 streams decode while one long prompt is prefilled; the longest gap between
//!    two consecutive tokens of any stream during that prefill is reported.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::bench_serve::{Args, pct, proc_kib, prompt_ids, start_server, stop_server};

/// The request kinds, in the order clients cycle through them.
const KINDS: [&str; 5] = ["completion", "stream", "echo", "chat", "disconnect"];
/// Chunks a disconnecting client reads before it drops the connection.
const DISCONNECT_AFTER: usize = 3;
/// Decoding streams of the stall measurement.
const STALL_STREAMS: usize = 8;

/// How one request ended.
#[derive(Debug, Clone)]
struct Outcome {
    kind: &'static str,
    /// HTTP status, when a status line arrived.
    status: Option<u16>,
    /// What went wrong, if anything (connection error, timeout, a broken body or stream).
    error: Option<String>,
    /// A disconnecting client dropped the stream on purpose.
    dropped: bool,
    /// A 429 because the request waited in the queue past `--max-queue-wait`.
    expired: bool,
    seconds: f64,
}

/// How the client reads the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reading {
    Whole,
    Stream,
    DropAfter(usize),
}

/// How an answer ended, besides its status.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Normal,
    /// The client dropped the stream on purpose.
    Dropped,
    /// A 429 because the request waited in the queue past `--max-queue-wait`.
    Expired,
}

/// One request on a fresh connection (`Connection: close`).
fn request(
    port: u16,
    path: &str,
    body: &Value,
    how: Reading,
    timeout: Duration,
) -> (Option<u16>, Option<String>, End) {
    let body = body.to_string();
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return (None, Some(format!("connect: {e}")), End::Normal),
    };
    let sent = s.set_read_timeout(Some(timeout)).and_then(|()| {
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    });
    if let Err(e) = sent {
        return (None, Some(io_error("send", &e)), End::Normal);
    }
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let status = match r.read_line(&mut line) {
        Ok(0) => {
            return (
                None,
                Some("closed before a status line".into()),
                End::Normal,
            );
        }
        Ok(_) => line.split_whitespace().nth(1).and_then(|c| c.parse().ok()),
        Err(e) => return (None, Some(io_error("read", &e)), End::Normal),
    };
    let Some(status) = status else {
        return (None, Some(format!("bad status line {line:?}")), End::Normal);
    };
    // Headers.
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => {
                return (
                    Some(status),
                    Some("closed in the headers".into()),
                    End::Normal,
                );
            }
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
            Err(e) => return (Some(status), Some(io_error("read", &e)), End::Normal),
        }
    }
    if status != 200 || how == Reading::Whole {
        let mut rest = String::new();
        if let Err(e) = r.read_to_string(&mut rest) {
            return (Some(status), Some(io_error("read", &e)), End::Normal);
        }
        if status == 200 && !rest.contains("\"choices\"") {
            return (
                Some(status),
                Some("200 without choices".into()),
                End::Normal,
            );
        }
        let end = if status == 429 && rest.contains("queue_timeout") {
            End::Expired
        } else {
            End::Normal
        };
        return (Some(status), None, end);
    }
    let mut chunks = 0;
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => {
                return (
                    Some(status),
                    Some("stream ended without [DONE]".into()),
                    End::Normal,
                );
            }
            Ok(_) => {}
            Err(e) => return (Some(status), Some(io_error("stream read", &e)), End::Normal),
        }
        let Some(data) = line.trim_end().strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            return (Some(status), None, End::Normal);
        }
        if data.contains("\"error\"") {
            return (
                Some(status),
                Some("error event in the stream".into()),
                End::Normal,
            );
        }
        chunks += 1;
        if how == Reading::DropAfter(chunks) {
            // Dropping `r` closes the connection mid-stream.
            return (Some(status), None, End::Dropped);
        }
    }
}

fn io_error(what: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("timeout ({what})"),
        _ => format!("{what}: {e}"),
    }
}

/// The body, endpoint and reading of request `i` of client `k`.
fn make_request(
    kind: &str,
    c: ClientArgs,
    vocab: usize,
    salt: usize,
) -> (&'static str, Value, Reading) {
    let prompt = prompt_ids(c.prompt_tokens, vocab, salt);
    let m = c.max_tokens;
    match kind {
        "stream" => (
            "/v1/completions",
            json!({"prompt": prompt, "max_tokens": m, "temperature": 0, "stream": true}),
            Reading::Stream,
        ),
        "echo" => (
            "/v1/completions",
            json!({"prompt": prompt, "echo": true, "logprobs": 1, "max_tokens": 0}),
            Reading::Whole,
        ),
        "chat" => (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": format!("Request {salt}: say something.")}],
                   "max_tokens": m, "temperature": 0}),
            Reading::Whole,
        ),
        "disconnect" => (
            "/v1/completions",
            json!({"prompt": prompt, "max_tokens": m.max(DISCONNECT_AFTER + 2), "temperature": 0, "stream": true}),
            Reading::DropAfter(DISCONNECT_AFTER),
        ),
        _ => (
            "/v1/completions",
            json!({"prompt": prompt, "max_tokens": m, "temperature": 0}),
            Reading::Whole,
        ),
    }
}

/// Requests in flight (id → start), and whether the trial gave up on them.
#[derive(Debug, Default)]
struct InFlight {
    started: HashMap<u64, Instant>,
    abandoned: bool,
}

pub(crate) fn run(a: &Args, dir: &Path, vocab: usize, seconds: u64) -> Result<()> {
    let capacity = a.max_batch.max(1) + a.max_queue;
    let clients = 2 * capacity;
    eprintln!(
        "bench serve --overload: capacity {capacity} (max-batch {} + max-queue {}), {clients} clients for {seconds} s",
        a.max_batch, a.max_queue
    );
    let overload = overload(a, dir, vocab, seconds, clients)?;
    let mut stalls = Vec::new();
    for chunk in [512usize, 100_000] {
        eprintln!("bench serve --overload: stall with --prefill-chunk {chunk}");
        stalls.push(stall(a, dir, vocab, chunk)?);
    }
    let pass = overload["pass"].as_bool().unwrap_or(false);
    let report = json!({
        "model": dir.display().to_string(), "capacity": capacity, "clients": clients,
        "seconds": seconds, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
        "max_batch": a.max_batch, "max_queue": a.max_queue, "max_queue_wait_seconds": a.max_queue_wait,
        "grace_seconds": a.grace,
        "overload": overload, "stall": stalls, "pass": pass,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report);
    }
    if !pass {
        bail!("overload trial failed: {}", report["overload"]["failures"]);
    }
    Ok(())
}

fn overload(a: &Args, dir: &Path, vocab: usize, seconds: u64, clients: usize) -> Result<Value> {
    let (server, port) = start_server(
        dir,
        a.server_threads,
        &[
            "--max-batch",
            &a.max_batch.max(1).to_string(),
            "--max-queue",
            &a.max_queue.to_string(),
            "--max-queue-wait",
            &a.max_queue_wait.to_string(),
        ],
    )?;
    let pid = server.id();
    // Warm-up: one request, not counted.
    let client = ClientArgs {
        prompt_tokens: a.prompt_tokens,
        max_tokens: a.max_tokens,
    };
    let (wb, wh, wr) = make_request("completion", client, vocab, 0);
    let warm = request(port, wb, &wh, wr, Duration::from_secs(600));
    if warm.0 != Some(200) {
        stop_server(server);
        bail!("the warm-up request failed: {warm:?}");
    }
    let rss_start = proc_kib(pid, "VmRSS");
    let io_timeout = Duration::from_secs(seconds + a.grace + 60);
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let next_id = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..clients)
        .map(|k| {
            let (in_flight, outcomes, next_id) =
                (in_flight.clone(), outcomes.clone(), next_id.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                while Instant::now() < deadline {
                    let kind = KINDS[(k + i) % KINDS.len()];
                    let (path, body, how) = make_request(kind, client, vocab, k * 1009 + i);
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let start = Instant::now();
                    if let Ok(mut f) = in_flight.lock() {
                        f.started.insert(id, start);
                    }
                    let (status, error, end) = request(port, path, &body, how, io_timeout);
                    let (expired, dropped) = (end == End::Expired, end == End::Dropped);
                    let seconds = start.elapsed().as_secs_f64();
                    let counted = in_flight
                        .lock()
                        .map(|mut f| f.started.remove(&id).is_some() && !f.abandoned)
                        .unwrap_or(false);
                    if !counted {
                        return;
                    }
                    if let Ok(mut o) = outcomes.lock() {
                        o.push(Outcome {
                            kind,
                            status,
                            error,
                            dropped,
                            expired,
                            seconds,
                        });
                    }
                    i += 1;
                    if status == Some(429) {
                        // Retry-After: 1.
                        let wait = Duration::from_secs(1)
                            .min(deadline.saturating_duration_since(Instant::now()));
                        std::thread::sleep(wait);
                    }
                }
            })
        })
        .collect();
    // Sample the server's RSS while the load runs.
    let mut rss_max_sampled = rss_start.unwrap_or(0);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500).min(deadline - Instant::now().min(deadline)));
        rss_max_sampled = rss_max_sampled.max(proc_kib(pid, "VmRSS").unwrap_or(0));
    }
    let load_end = Instant::now();
    // Grace: requests in flight get `--grace` seconds to finish.
    let grace_end = load_end + Duration::from_secs(a.grace);
    let stuck = loop {
        rss_max_sampled = rss_max_sampled.max(proc_kib(pid, "VmRSS").unwrap_or(0));
        let mut f = in_flight
            .lock()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        if f.started.is_empty() || Instant::now() >= grace_end {
            f.abandoned = true;
            break f.started.len();
        }
        drop(f);
        std::thread::sleep(Duration::from_millis(100));
    };
    let drained_s = load_end.elapsed().as_secs_f64();
    let rss_end = proc_kib(pid, "VmRSS");
    let rss_peak = proc_kib(pid, "VmHWM");
    let metrics = scrape_metrics(port);
    // Stopping the server unblocks any stuck client.
    if stuck > 0 {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    stop_server(server);
    let mut panicked = 0;
    for h in handles {
        if h.join().is_err() {
            panicked += 1;
        }
    }
    let outcomes = outcomes
        .lock()
        .map(|o| o.clone())
        .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
    Ok(summarise(
        &outcomes,
        stuck,
        panicked,
        drained_s,
        [rss_start, rss_peak, rss_end, Some(rss_max_sampled)],
        &metrics,
    ))
}

/// What a client thread needs of the arguments.
#[derive(Debug, Clone, Copy)]
struct ClientArgs {
    prompt_tokens: usize,
    max_tokens: usize,
}

fn summarise(
    outcomes: &[Outcome],
    stuck: usize,
    panicked: usize,
    drained_s: f64,
    rss: [Option<u64>; 4],
    metrics: &str,
) -> Value {
    let mib = |k: Option<u64>| k.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
    let mut kinds = Vec::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let mut admitted = Vec::new();
    for kind in KINDS {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        let mut st: BTreeMap<String, usize> = BTreeMap::new();
        for o in &mine {
            let key = o.status.map_or("none".into(), |s| s.to_string());
            *st.entry(key.clone()).or_default() += 1;
            *by_status.entry(key).or_default() += 1;
            if let Some(e) = &o.error {
                // A connection error, timeout or broken body: a failure whatever the client.
                *failures.entry(format!("{kind}: {e}")).or_default() += 1;
            } else if let Some(s) = o.status
                && s != 200
                && s != 429
            {
                *failures.entry(format!("{kind}: HTTP {s}")).or_default() += 1;
            }
        }
        let mut lat: Vec<f64> = mine
            .iter()
            .filter(|o| o.status == Some(200) && o.error.is_none() && !o.dropped)
            .map(|o| o.seconds)
            .collect();
        admitted.extend(lat.iter().copied());
        let dropped = mine.iter().filter(|o| o.dropped).count();
        let expired = mine.iter().filter(|o| o.expired).count();
        kinds.push(json!({
            "kind": kind, "requests": mine.len(), "status": st, "dropped_mid_stream": dropped,
            "expired_in_queue": expired,
            "latency_p50_s": finite(pct(&mut lat, 0.5)), "latency_p99_s": finite(pct(&mut lat, 0.99)),
        }));
    }
    if stuck > 0 {
        failures.insert("stuck".into(), stuck);
    }
    if panicked > 0 {
        failures.insert("client threads panicked".into(), panicked);
    }
    let pass = failures.is_empty();
    json!({
        "requests": outcomes.len(), "status": by_status, "kinds": kinds, "failures": failures,
        "latency_p50_s": finite(pct(&mut admitted, 0.5)),
        "latency_p99_s": finite(pct(&mut admitted, 0.99)),
        "admitted_completed": admitted.len(),
        "stuck": stuck, "drain_seconds": drained_s,
        "server_rss_mib": {"start": mib(rss[0]), "peak_vmhwm": mib(rss[1]), "end": mib(rss[2]), "max_sampled": mib(rss[3])},
        "server_metrics": {
            "requests_total": metric_lines(metrics, "glassbox_requests_total{"),
            "decode_stall_max_seconds": metric_value(metrics, "glassbox_decode_stall_max_seconds"),
            "model_panics_total": metric_value(metrics, "glassbox_model_panics_total"),
            "queue_expired_total": metric_value(metrics, "glassbox_queue_expired_total"),
            "queue_depth_after": metric_value(metrics, "glassbox_queue_depth"),
            "running_after": metric_value(metrics, "glassbox_running_sequences"),
        },
        "pass": pass,
    })
}

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// `GET /metrics` (empty on any failure).
fn scrape_metrics(port: u16) -> String {
    let get = || -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    };
    get().unwrap_or_default()
}

fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

fn metric_lines(metrics: &str, prefix: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// 8 streams decode; one long prompt arrives; the longest gap between two consecutive tokens
/// of any stream while it is prefilled.
fn stall(a: &Args, dir: &Path, vocab: usize, chunk: usize) -> Result<Value> {
    let (server, port) = start_server(
        dir,
        a.server_threads,
        &["--prefill-chunk", &chunk.to_string(), "--max-batch", "16"],
    )?;
    let result = stall_on(a, port, vocab, chunk);
    let metrics = scrape_metrics(port);
    stop_server(server);
    let mut v = result?;
    v["server_decode_stall_max_seconds"] =
        json!(metric_value(&metrics, "glassbox_decode_stall_max_seconds"));
    Ok(v)
}

fn stall_on(a: &Args, port: u16, vocab: usize, chunk: usize) -> Result<Value> {
    let long_len = a.stall_prompt_tokens.clamp(1, 2047);
    let stream_max = 2048usize.saturating_sub(a.prompt_tokens + 1).clamp(1, 1500);
    let stop = Arc::new(AtomicBool::new(false));
    let times: Vec<Arc<Mutex<Vec<Instant>>>> = (0..STALL_STREAMS)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let handles: Vec<_> = (0..STALL_STREAMS)
        .map(|k| {
            let (stop, times) = (stop.clone(), times[k].clone());
            let prompt = prompt_ids(a.prompt_tokens, vocab, 17 * k + 5);
            std::thread::spawn(move || -> std::result::Result<(), String> {
                let body = json!({"prompt": prompt, "max_tokens": stream_max, "temperature": 0, "stream": true}).to_string();
                let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(Duration::from_secs(600)))
                    .map_err(|e| e.to_string())?;
                write!(
                    s,
                    "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .map_err(|e| e.to_string())?;
                let mut r = BufReader::new(s);
                let mut line = String::new();
                while !stop.load(Ordering::Relaxed) {
                    line.clear();
                    if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                        break;
                    }
                    let Some(data) = line.trim_end().strip_prefix("data: ") else {
                        continue;
                    };
                    if data == "[DONE]" {
                        break;
                    }
                    let now = Instant::now();
                    if let Ok(mut t) = times.lock() {
                        t.push(now);
                    }
                }
                Ok(())
            })
        })
        .collect();
    let count = |k: usize| times[k].lock().map_or(0, |t| t.len());
    // Wait until every stream decodes.
    let wait_start = Instant::now();
    while (0..STALL_STREAMS).any(|k| count(k) < 3) {
        if wait_start.elapsed() > Duration::from_secs(600) {
            stop.store(true, Ordering::Relaxed);
            bail!("the {STALL_STREAMS} streams did not all start within 600 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let long = prompt_ids(long_len, vocab, 99);
    let sent = Instant::now();
    let (status, error, _) = request(
        port,
        "/v1/completions",
        &json!({"prompt": long, "max_tokens": 1, "temperature": 0}),
        Reading::Whole,
        Duration::from_secs(600),
    );
    let done = Instant::now();
    // One more token of every stream still running, then stop them.
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(120)
        && (0..STALL_STREAMS).any(|k| {
            !handles[k].is_finished()
                && times[k]
                    .lock()
                    .is_ok_and(|t| t.last().is_none_or(|&l| l <= done))
        })
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let mut stream_errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => stream_errors.push(e),
            Err(_) => stream_errors.push("panicked".into()),
        }
    }
    let mut longest = 0.0f64;
    let mut before = Vec::new();
    let mut covered = 0;
    for t in &times {
        let t = t.lock().map(|t| t.clone()).unwrap_or_default();
        if t.last().is_some_and(|&l| l > done) {
            covered += 1;
        }
        for w in t.windows(2) {
            let gap = (w[1] - w[0]).as_secs_f64();
            if w[1] > sent && w[0] < done {
                longest = longest.max(gap);
            } else if w[1] <= sent {
                before.push(gap);
            }
        }
    }
    if status != Some(200) || error.is_some() {
        bail!("the long prompt failed: status {status:?}, {error:?}");
    }
    Ok(json!({
        "prefill_chunk": chunk, "streams": STALL_STREAMS, "long_prompt_tokens": long_len,
        "prefill_seconds": (done - sent).as_secs_f64(),
        "longest_gap_seconds": longest,
        "median_gap_before_seconds": finite(pct(&mut before, 0.5)),
        "streams_running_through_the_prefill": covered,
        "stream_errors": stream_errors,
    }))
}

fn fmt_s(v: &Value) -> String {
    v.as_f64().map_or("—".into(), |x| format!("{x:.3}"))
}

fn print_tables(r: &Value) {
    let o = &r["overload"];
    println!(
        "Overload: {} clients ({}× capacity {} = max-batch {} + max-queue {}), max-queue-wait {} s, {} s, prompt {} tokens, max_tokens {}\n",
        r["clients"],
        2,
        r["capacity"],
        r["max_batch"],
        r["max_queue"],
        r["max_queue_wait_seconds"],
        r["seconds"],
        r["prompt_tokens"],
        r["max_tokens"]
    );
    println!(
        "| kind | requests | 200 | 429 (of which expired in the queue) | other | dropped mid-stream | p50 s (200) | p99 s (200) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let empty = Vec::new();
    for k in o["kinds"].as_array().unwrap_or(&empty) {
        let st = k["status"].as_object();
        let n = |s: &str| {
            st.and_then(|m| m.get(s))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let total = k["requests"].as_u64().unwrap_or(0);
        println!(
            "| {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
            k["kind"].as_str().unwrap_or(""),
            total,
            n("200"),
            n("429"),
            k["expired_in_queue"],
            total - n("200") - n("429"),
            k["dropped_mid_stream"],
            fmt_s(&k["latency_p50_s"]),
            fmt_s(&k["latency_p99_s"]),
        );
    }
    let rss = &o["server_rss_mib"];
    println!(
        "\n| measure | value |\n|---|---|\n| requests | {} |\n| by status | {} |\n| admitted (200) latency p50 / p99 | {} s / {} s |\n| stuck after the {} s grace | {} |\n| drained after the load in | {:.1} s |\n| server RSS start / peak (VmHWM) / end | {} / {} / {} MiB |\n| server `glassbox_decode_stall_max_seconds` | {} |\n| failures | {} |\n| pass | {} |",
        o["requests"],
        o["status"],
        fmt_s(&o["latency_p50_s"]),
        fmt_s(&o["latency_p99_s"]),
        r["grace_seconds"],
        o["stuck"],
        o["drain_seconds"].as_f64().unwrap_or(f64::NAN),
        rss["start"],
        rss["peak_vmhwm"],
        rss["end"],
        fmt_s(&o["server_metrics"]["decode_stall_max_seconds"]),
        o["failures"],
        o["pass"],
    );
    println!(
        "\nStall: {} streams decoding, one {}-token prompt arrives\n",
        STALL_STREAMS, r["stall"][0]["long_prompt_tokens"]
    );
    println!(
        "| --prefill-chunk | prefill s | longest gap between tokens s | median gap before s | streams running through | server stall max s |"
    );
    println!("|---|---|---|---|---|---|");
    for s in r["stall"].as_array().unwrap_or(&empty) {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            s["prefill_chunk"],
            fmt_s(&s["prefill_seconds"]),
            fmt_s(&s["longest_gap_seconds"]),
            fmt_s(&s["median_gap_before_seconds"]),
            s["streams_running_through_the_prefill"],
            fmt_s(&s["server_decode_stall_max_seconds"]),
        );
    }
}
