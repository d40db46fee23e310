//! `glassbox bench serve`: throughput and time to first token of `glassbox serve` at several
//! numbers of concurrent streams, measured from this process (a second process on loopback)
//! against a server it starts on a SmolLM2-135M-shaped model with random weights. With
//! `--overload SECONDS` it runs the overload trial instead (`bench_overload.rs`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use candle_core::Device;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Serve this model directory instead of the built-in SmolLM2-135M shape (random weights).
    #[arg(long, value_name = "DIR")]
    pub(crate) model: Option<PathBuf>,
    /// Concurrent streams to measure, comma-separated.
    #[arg(long, default_value = "1,4,16", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Requests each stream sends, one after another.
    #[arg(long, default_value_t = 2)]
    requests: usize,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 32)]
    pub(crate) prompt_tokens: usize,
    /// Tokens generated per request.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_tokens: usize,
    /// Threads of the server's tensor math (default: all cores).
    #[arg(long)]
    pub(crate) server_threads: Option<usize>,
    /// Write the built-in model (random weights, tokenizer) to this directory and serve it from
    /// there, so another server can load the same model.
    #[arg(long, value_name = "DIR", conflicts_with = "model")]
    pub(crate) save_model: Option<PathBuf>,
    /// Load an already running OpenAI-compatible server at this port on 127.0.0.1 (for
    /// example llama.cpp's llama-server) instead of starting `glassbox serve`.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// With --port: the server's process id, to report its peak memory.
    #[arg(long, value_name = "PID", requires = "port")]
    pid: Option<u32>,
    /// Baseline: after `glassbox serve`, start llama.cpp's `llama-server` binary on the same
    /// model (written as an f32 GGUF file by `glassbox convert`), with as many slots as the
    /// largest level and the same threads, run the same load and print the ratios.
    #[arg(long, value_name = "BIN", conflicts_with_all = ["port", "overload"])]
    llama_server: Option<PathBuf>,
    /// Run the overload trial for this many seconds instead of the throughput levels: mixed
    /// requests from twice as many clients as the server holds (--max-batch + --max-queue),
    /// then the stall of 8 decoding streams while a long prompt is prefilled.
    #[arg(long, value_name = "SECONDS", conflicts_with = "port")]
    pub(crate) overload: Option<u64>,
    /// With --overload: the server's --max-batch.
    #[arg(long, default_value_t = 16)]
    pub(crate) max_batch: usize,
    /// With --overload: the server's --max-queue.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_queue: usize,
    /// With --overload: the server's --max-queue-wait, seconds (0: no limit).
    #[arg(long, default_value_t = 60.0)]
    pub(crate) max_queue_wait: f64,
    /// With --overload: seconds requests in flight when the load ends get to finish before they
    /// count as stuck.
    #[arg(long, default_value_t = 120)]
    pub(crate) grace: u64,
    /// With --overload: prompt tokens of the long prompt of the stall measurement.
    #[arg(long, default_value_t = 2000)]
    pub(crate) stall_prompt_tokens: usize,
    /// Use a tiny model of the same shape of tokenizer (2 layers, hidden 64) instead of the
    /// SmolLM2-135M shape: for quick checks of the bench itself.
    #[arg(long, conflicts_with = "model")]
    pub(crate) tiny: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
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

/// A chat template for the bench model (it has none of its own): `role: content` lines.
const CHAT_TEMPLATE: &str = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}\
{% if add_generation_prompt %}assistant: {% endif %}";

fn write_model(dir: &Path, tiny: bool) -> Result<()> {
    let mut cfg = if tiny {
        glassbox_infer::bench::tiny()?
    } else {
        glassbox_infer::bench::smollm2_135m()?
    };
    cfg.max_position_embeddings = 2048;
    let model = glassbox_model::Transformer::random(cfg.clone(), 0, &Device::Cpu)?;
    model.save(dir, glassbox_model::SaveDtype::F32, u64::MAX)?;
    std::fs::write(
        dir.join("tokenizer.json"),
        tokenizer_json(cfg.vocab_size).to_string(),
    )?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"eos_token": "<|endoftext|>", "chat_template": CHAT_TEMPLATE}).to_string(),
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

/// `n` prompt token ids below `vocab` (ids from 300 on; `salt` varies them).
pub(crate) fn prompt_ids(n: usize, vocab: usize, salt: usize) -> Vec<u32> {
    let span = vocab.clamp(301, 40300) - 300;
    (0..n)
        .map(|i| (300 + (i * 7919 + salt) % span) as u32)
        .collect()
}

pub(crate) fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn run(a: Args) -> Result<()> {
    if let Some(port) = a.port {
        let rows = load(&a, port, 49152)?;
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
                "bench serve: writing a {} model (random weights) to {}",
                if a.tiny {
                    "tiny"
                } else {
                    "SmolLM2-135M-shaped"
                },
                d.display()
            );
            write_model(&d, a.tiny)?;
            d
        }
    };
    if let Some(seconds) = a.overload {
        let vocab = vocab_size(&dir)?;
        return super::bench_overload::run(&a, &dir, vocab, seconds);
    }
    let max_c = a.concurrency.iter().copied().max().unwrap_or(1).max(1);
    let (server, port) = start_server(
        &dir,
        a.server_threads,
        &["--max-batch", &max_c.to_string(), "--max-queue", "256"],
    )?;
    let rows = vocab_size(&dir).and_then(|v| load(&a, port, v));
    let peak = peak_rss_kib(server.id());
    stop_server(server);
    let rows = rows?;
    let Some(bin) = &a.llama_server else {
        return report(&a, &dir.display().to_string(), &rows, peak);
    };
    let gguf = tmp.path().join("bench-f32.gguf");
    eprintln!("bench serve: writing the model as an f32 GGUF file for llama-server");
    let o = Command::new(std::env::current_exe()?)
        .args(["convert", "--model"])
        .arg(&dir)
        .args(["--to", "gguf", "--quant", "f32", "--out"])
        .arg(&gguf)
        .output()?;
    anyhow::ensure!(
        o.status.success(),
        "converting {} to GGUF failed: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr).trim()
    );
    let threads = a
        .server_threads
        .unwrap_or_else(candle_core::utils::get_num_threads);
    let (theirs, port) = start_llama_server(bin, &gguf, threads, max_c)?;
    let their_rows = vocab_size(&dir).and_then(|v| load(&a, port, v));
    let their_peak = peak_rss_kib(theirs.id());
    stop_server(theirs);
    compare(
        &a,
        (&dir.display().to_string(), &rows, peak),
        (&bin.display().to_string(), &their_rows?, their_peak),
    )
}

/// Starts llama.cpp's `llama-server` on `gguf` at a free loopback port with `slots` parallel
/// slots (continuous batching, 256 context tokens each) and waits until `/health` answers 200.
fn start_llama_server(
    bin: &Path,
    gguf: &Path,
    threads: usize,
    slots: usize,
) -> Result<(Child, u16)> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let mut server = Command::new(bin)
        .arg("-m")
        .arg(gguf)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["-c", &(256 * slots).to_string(), "-np", &slots.to_string()])
        .args(["-t", &threads.to_string(), "-tb", &threads.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let t0 = Instant::now();
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            bail!("{} exited before it served ({status})", bin.display());
        }
        if health(port) {
            return Ok((server, port));
        }
        if t0.elapsed() > Duration::from_secs(300) {
            stop_server(server);
            bail!("{} did not answer /health within 300 s", bin.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `GET /health` at `port` answers 200.
fn health(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(
        s,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line.split_whitespace().nth(1) == Some("200")
}

/// Starts `glassbox serve` on `dir` (served as `bench`) at a free loopback port with `extra`
/// arguments; returns the child and its port.
pub(crate) fn start_server(
    dir: &Path,
    threads: Option<usize>,
    extra: &[&str],
) -> Result<(Child, u16)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    if let Some(t) = threads {
        cmd.args(["--threads", &t.to_string()]);
    }
    let mut server = cmd
        .args([
            "serve",
            "--model",
            &format!("bench={}", dir.display()),
            "--port",
            "0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting glassbox serve")?;
    let mut first = String::new();
    let read = match server.stdout.take() {
        Some(out) => BufReader::new(out)
            .read_line(&mut first)
            .map_err(Into::into),
        None => Err(anyhow::anyhow!("no server stdout")),
    };
    let port = read.ok().and_then(|_| {
        first
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<u16>().ok())
    });
    match port {
        Some(p) => Ok((server, p)),
        None => {
            stop_server(server);
            bail!("the server did not say where it listens: {first:?}")
        }
    }
}

/// SIGTERM, then wait for the process to exit.
pub(crate) fn stop_server(mut server: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
}

/// `vocab_size` of a model directory's `config.json`.
fn vocab_size(dir: &Path) -> Result<usize> {
    let p = dir.join("config.json");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
    )
    .with_context(|| format!("parsing {}", p.display()))?;
    v.get("vocab_size")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .with_context(|| format!("{} has no vocab_size", p.display()))
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub(crate) fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident memory of a process (`VmHWM`), KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    proc_kib(pid, "VmHWM")
}

/// Every concurrency level against the server at `port`: one row each.
fn load(a: &Args, port: u16, vocab: usize) -> Result<Vec<Value>> {
    let prompt = prompt_ids(a.prompt_tokens, vocab, 0);
    // Warm-up: one request, not measured.
    one(port, &prompt, 4)?;
    let mut rows = Vec::new();
    for &c in &a.concurrency {
        let t0 = Instant::now();
        let handles: Vec<_> = (0..c)
            .map(|k| {
                let mut p = prompt.clone();
                if let Some(first) = p.first_mut() {
                    *first = 300 + (k % (vocab.saturating_sub(300)).max(1)) as u32;
                }
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

/// Both servers' levels side by side, with glassbox / llama-server ratios.
fn compare(
    a: &Args,
    ours: (&str, &[Value], Option<u64>),
    theirs: (&str, &[Value], Option<u64>),
) -> Result<()> {
    let cpu = glassbox_core::cpu::detect();
    let f = |r: &Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let mib = |k: Option<u64>| k.map(|k| k as f64 / 1024.0);
    let ratios: Vec<Value> = ours
        .1
        .iter()
        .zip(theirs.1)
        .map(|(o, t)| {
            json!({"concurrency": o["concurrency"],
                "tokens_per_s": f(o, "tokens_per_s") / f(t, "tokens_per_s"),
                "ttft_p50": f(o, "ttft_p50_ms") / f(t, "ttft_p50_ms"),
                "ttft_p99": f(o, "ttft_p99_ms") / f(t, "ttft_p99_ms")})
        })
        .collect();
    if a.json {
        let v = json!({"cpu": cpu, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
            "glassbox": {"server": ours.0, "levels": ours.1, "server_peak_rss_mib": mib(ours.2)},
            "llama_server": {"server": theirs.0, "levels": theirs.1, "server_peak_rss_mib": mib(theirs.2)},
            "ratios": ratios});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("cpu: {}", cpu.describe());
    println!(
        "streams  glassbox tok/s  llama-server tok/s  ratio  TTFT p50 ms (g / l)  TTFT p99 ms (g / l)"
    );
    for (o, t) in ours.1.iter().zip(theirs.1) {
        println!(
            "{:>7}  {:>14.1}  {:>18.1}  {:>4.2}x  {:>9.0} / {:<8.0}  {:>9.0} / {:<8.0}",
            o["concurrency"],
            f(o, "tokens_per_s"),
            f(t, "tokens_per_s"),
            f(o, "tokens_per_s") / f(t, "tokens_per_s"),
            f(o, "ttft_p50_ms"),
            f(t, "ttft_p50_ms"),
            f(o, "ttft_p99_ms"),
            f(t, "ttft_p99_ms")
        );
    }
    if let (Some(o), Some(t)) = (mib(ours.2), mib(theirs.2)) {
        println!(
            "server peak RSS  glassbox {o:.0} MiB, llama-server {t:.0} MiB ({:.2}x)",
            o / t
        );
    }
    Ok(())
}

fn report(a: &Args, target: &str, rows: &[Value], peak_kib: Option<u64>) -> Result<()> {
    let cpu = glassbox_core::cpu::detect();
    let report = json!({"server": target, "cpu": cpu, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
        "levels": rows, "server_peak_rss_mib": peak_kib.map(|k| k as f64 / 1024.0)});
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("cpu: {}", cpu.describe());
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
