//! `glassbox bench serve`: throughput and time to first token of `glassbox serve` at several
//! numbers of concurrent streams, measured from this process (a second process on loopback)
//! against a server it starts on a SmolLM2-135M-shaped model with random weights.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use candle_core::Device;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Serve this model directory instead of the built-in SmolLM2-135M shape (random weights).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Concurrent streams to measure, comma-separated.
    #[arg(long, default_value = "1,4,16", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Requests each stream sends, one after another.
    #[arg(long, default_value_t = 2)]
    requests: usize,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 32)]
    prompt_tokens: usize,
    /// Tokens generated per request.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// Threads of the server's tensor math (default: all cores).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Write the built-in model (random weights, tokenizer) to this directory and serve it from
    /// there, so another server can load the same model.
    #[arg(long, value_name = "DIR", conflicts_with = "model")]
    save_model: Option<PathBuf>,
    /// Load an already running OpenAI-compatible server at this port on 127.0.0.1 (for
    /// example llama.cpp's llama-server) instead of starting `glassbox serve`.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// With --port: the server's process id, to report its peak memory.
    #[arg(long, value_name = "PID", requires = "port")]
    pid: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A byte-level tokenizer with `vocab` ids: the 256 bytes, then `<|tN|>` tokens (id 0 is EOS).
fn tokenizer_json(vocab: usize) -> Value {
    let chars = glassbox_data::fastbpe::byte_chars();
    let mut v = serde_json::Map::new();
    let mut added = vec![
        json!({"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}),
    ];
    for (b, c) in chars.iter().enumerate() {
        v.insert(c.to_string(), json!(b + 1));
    }
    for id in 257..vocab {
        added.push(json!({"id": id, "content": format!("<|t{id}|>"), "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
    }
    v.insert("<|endoftext|>".into(), json!(0));
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": v, "merges": []}
    })
}

fn write_model(dir: &Path) -> Result<()> {
    let mut cfg = glassbox_infer::bench::smollm2_135m()?;
    cfg.max_position_embeddings = 2048;
    let model = glassbox_model::Transformer::random(cfg.clone(), 0, &Device::Cpu)?;
    model.save(dir, glassbox_model::SaveDtype::F32, u64::MAX)?;
    std::fs::write(
        dir.join("tokenizer.json"),
        tokenizer_json(cfg.vocab_size).to_string(),
    )?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"eos_token": "<|endoftext|>"}).to_string(),
    )?;
    std::fs::write(
        dir.join("generation_config.json"),
        json!({"eos_token_id": 0}).to_string(),
    )?;
    Ok(())
}

/// One streamed completion: (time to first token, tokens received, total time).
fn one(port: u16, prompt: &[u32], max_tokens: usize) -> Result<(f64, usize, f64)> {
    let t0 = Instant::now();
    let body =
        json!({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": true})
            .to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    write!(
        s,
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut ttft = None;
    let mut tokens = 0;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let Some(data) = line.trim_end().strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(data)?;
        if v.pointer("/choices/0/finish_reason")
            .is_some_and(Value::is_null)
        {
            tokens += 1;
            ttft.get_or_insert(t0.elapsed().as_secs_f64());
        }
    }
    Ok((ttft.unwrap_or(f64::NAN), tokens, t0.elapsed().as_secs_f64()))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn run(a: Args) -> Result<()> {
    if let Some(port) = a.port {
        let rows = load(&a, port)?;
        let peak = a.pid.and_then(peak_rss_kib);
        return report(&a, &format!("127.0.0.1:{port}"), &rows, peak);
    }
    let tmp = tempfile::tempdir()?;
    let dir = match (&a.model, &a.save_model) {
        (Some(d), _) => d.clone(),
        (None, target) => {
            let d = target.clone().unwrap_or_else(|| tmp.path().to_path_buf());
            std::fs::create_dir_all(&d)?;
            eprintln!(
                "bench serve: writing a SmolLM2-135M-shaped model (random weights) to {}",
                d.display()
            );
            write_model(&d)?;
            d
        }
    };
    let mut cmd = Command::new(std::env::current_exe()?);
    if let Some(t) = a.server_threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let max_c = a.concurrency.iter().copied().max().unwrap_or(1).max(1);
    let mut server = cmd
        .args([
            "serve",
            "--model",
            &format!("bench={}", dir.display()),
            "--port",
            "0",
            "--max-batch",
            &max_c.to_string(),
            "--max-queue",
            "256",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting glassbox serve")?;
    let mut first = String::new();
    BufReader::new(server.stdout.take().context("server stdout")?).read_line(&mut first)?;
    let port: u16 = first
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the server did not say where it listens: {first:?}"))?;
    let rows = load(&a, port);
    let peak = peak_rss_kib(server.id());
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    report(&a, &dir.display().to_string(), &rows?, peak)
}

/// Peak resident memory of a process (`VmHWM`), KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Every concurrency level against the server at `port`: one row each.
fn load(a: &Args, port: u16) -> Result<Vec<Value>> {
    let prompt: Vec<u32> = (0..a.prompt_tokens)
        .map(|i| (i * 7919 % 40000 + 300) as u32)
        .collect();
    // Warm-up: one request, not measured.
    one(port, &prompt, 4)?;
    let mut rows = Vec::new();
    for &c in &a.concurrency {
        let t0 = Instant::now();
        let handles: Vec<_> = (0..c)
            .map(|k| {
                let mut p = prompt.clone();
                p[0] = 300 + k as u32;
                let (n, m) = (a.requests, a.max_tokens);
                std::thread::spawn(move || -> Result<Vec<(f64, usize, f64)>> {
                    (0..n).map(|_| one(port, &p, m)).collect()
                })
            })
            .collect();
        let mut results = Vec::new();
        for h in handles {
            match h.join() {
                Ok(r) => results.extend(r?),
                Err(_) => bail!("a load thread panicked"),
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let tokens: usize = results.iter().map(|r| r.1).sum();
        let mut ttft: Vec<f64> = results.iter().map(|r| r.0).collect();
        rows.push(json!({
            "concurrency": c, "requests": results.len(), "generated_tokens": tokens, "seconds": wall,
            "tokens_per_s": tokens as f64 / wall,
            "ttft_p50_ms": pct(&mut ttft, 0.5) * 1e3, "ttft_p99_ms": pct(&mut ttft, 0.99) * 1e3,
        }));
    }
    Ok(rows)
}

fn report(a: &Args, target: &str, rows: &[Value], peak_kib: Option<u64>) -> Result<()> {
    let report = json!({"server": target, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
        "levels": rows, "server_peak_rss_mib": peak_kib.map(|k| k as f64 / 1024.0)});
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("streams  requests  tokens  tokens/s  TTFT p50 ms  TTFT p99 ms");
        for r in rows {
            println!(
                "{:>7}  {:>8}  {:>6}  {:>8.1}  {:>11.0}  {:>11.0}",
                r["concurrency"],
                r["requests"],
                r["generated_tokens"],
                r["tokens_per_s"].as_f64().unwrap_or(0.0),
                r["ttft_p50_ms"].as_f64().unwrap_or(0.0),
                r["ttft_p99_ms"].as_f64().unwrap_or(0.0)
            );
        }
        if let Some(k) = peak_kib {
            println!("server peak RSS {:.0} MiB", k as f64 / 1024.0);
        }
    }
    Ok(())
}
