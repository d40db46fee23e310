//! `glassbox bench load`: peak resident memory of loading a model and decoding with it, against
//! the bytes its weights and KV cache need. Each measurement runs in a fresh process (this
//! binary, `--model DIR`), so nothing else inflates its peak.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use glassbox_infer::bench::bench_shape;
use glassbox_model::{KvCache, Logits, SaveDtype, Transformer};
use serde_json::{Value, json};

use super::bench_serve::proc_kib;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Measure this model directory in this process. Without it, a random model of --shape is
    /// saved in each --dtype to a temporary directory and measured in a child process.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Built-in shape: pythia-70m, pythia-160m, smollm2-135m, olmoe-scaled.
    #[arg(long, default_value = "pythia-70m")]
    shape: String,
    /// Checkpoint dtypes to measure (f32, bf16, f16), comma-separated.
    #[arg(long, default_value = "f32,bf16", value_delimiter = ',')]
    dtype: Vec<String>,
    /// Prompt tokens (one prefill pass) after loading.
    #[arg(long, default_value_t = 128)]
    prompt_len: usize,
    /// Tokens decoded one by one with the KV cache.
    #[arg(long, default_value_t = 128)]
    new_tokens: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> Result<()> {
    if let Some(dir) = &a.model {
        let r = measure(dir, a.prompt_len, a.new_tokens)?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    let cfg = bench_shape(&a.shape)?;
    let tmp = tempfile::tempdir()?;
    let exe = std::env::current_exe().context("locating this binary")?;
    let threads = candle_core::utils::get_num_threads();
    let mut rows = Vec::new();
    for d in &a.dtype {
        let dtype =
            SaveDtype::parse(d).with_context(|| format!("--dtype {d}: use f32, bf16 or f16"))?;
        let dir = tmp.path().join(d);
        eprintln!("bench: saving a random {} model in {d}", a.shape);
        Transformer::random(cfg.clone(), 0, &Device::Cpu)?.save(&dir, dtype, u64::MAX)?;
        eprintln!("bench: loading it in a fresh process");
        let out = Command::new(&exe)
            .args([
                "--threads",
                &threads.to_string(),
                "bench",
                "load",
                "--model",
            ])
            .arg(&dir)
            .args([
                "--prompt-len",
                &a.prompt_len.to_string(),
                "--new-tokens",
                &a.new_tokens.to_string(),
            ])
            .output()
            .context("running the measurement")?;
        anyhow::ensure!(
            out.status.success(),
            "the measurement failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let mut v: Value = serde_json::from_slice(&out.stdout).context("reading its report")?;
        v["dtype"] = json!(d);
        rows.push(v);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"shape": a.shape, "runs": rows, "cpu": glassbox_core::cpu::detect()})
            )?
        );
        return Ok(());
    }
    let mib = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0) / (1u64 << 20) as f64;
    println!("cpu: {}", glassbox_core::cpu::detect().describe());
    println!(
        "{} ({} parameters), prompt {} + {} decoded tokens, {threads} threads",
        a.shape,
        cfg.num_parameters(),
        a.prompt_len,
        a.new_tokens
    );
    println!(
        "| checkpoint | file | weights in memory | KV cache | peak RSS above start | peak / (weights + KV) |"
    );
    println!("|---|---|---|---|---|---|");
    for v in &rows {
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} |",
            v["dtype"].as_str().unwrap_or("?"),
            mib(v, "file_bytes"),
            mib(v, "weight_bytes"),
            mib(v, "kv_bytes"),
            mib(v, "peak_above_start_bytes"),
            v["ratio"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}

/// Loads `dir`, prefills `prompt_len` tokens and decodes `new_tokens`, and reports this
/// process's resident memory before and at its peak.
fn measure(dir: &Path, prompt_len: usize, new_tokens: usize) -> Result<Value> {
    let pid = std::process::id();
    let start = proc_kib(pid, "VmRSS").context("reading /proc/self/status")? * 1024;
    let (model, report) = Transformer::load(dir, &Device::Cpu)?;
    let after_load = proc_kib(pid, "VmHWM").unwrap_or(0) * 1024;
    let rss_after_load = proc_kib(pid, "VmRSS").unwrap_or(0) * 1024;
    let cfg = model.config().clone();
    let mut cache = KvCache::new(&cfg, vec![0], &Device::Cpu);
    let prompt: Vec<u32> = (0..prompt_len.max(1))
        .map(|i| (i * 7919 % cfg.vocab_size) as u32)
        .collect();
    let mut input = Tensor::new(prompt.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    for _ in 0..=new_tokens {
        let logits = model.forward(&input, &[], Some(&mut cache), Logits::Last)?;
        let row: Vec<f32> = logits.flatten_all()?.to_vec1()?;
        let next = glassbox_infer::sampling::argmax(&row);
        input = Tensor::new(&[[next]], &Device::Cpu)?;
    }
    let peak = proc_kib(pid, "VmHWM").unwrap_or(0) * 1024;
    let file_bytes: u64 = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    // Keys and values of every layer for every position decoded, f32.
    let positions = cache.len();
    let kv_bytes =
        cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * cfg.head_dim * positions * 4;
    let weight_bytes = model.weight_bytes();
    let above = peak.saturating_sub(start);
    Ok(json!({
        "stored_dtype": report.stored_dtype,
        "file_bytes": file_bytes,
        "weight_bytes": weight_bytes,
        "kv_bytes": kv_bytes,
        "start_rss_bytes": start,
        "peak_after_load_bytes": after_load,
        "rss_after_load_bytes": rss_after_load,
        "peak_rss_bytes": peak,
        "peak_above_start_bytes": above,
        "ratio": above as f64 / (weight_bytes + kv_bytes) as f64,
    }))
}
