//! `glassbox bench`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Bench {
    /// Prefill and decode throughput of a model of a built-in shape (SmolLM2-135M by default;
    /// random weights, f32, batch 1), beside this machine's memory bandwidth and the decode bound
    /// it implies (for a mixture of experts: the bytes of the parameters one token uses).
    #[command(
        after_help = "Examples:\n  glassbox --threads 2 bench generate --prompt-len 512 --new-tokens 128\n  glassbox --threads 2 bench generate --quant q8_0 --python python3   # against llama.cpp (llama-cpp-python)\n  glassbox --threads 2 bench generate --llama-bench llama.cpp/build/bin/llama-bench\n  glassbox --threads 2 bench generate --shape olmoe-scaled --prompt-len 128 --new-tokens 32"
    )]
    Generate(super::bench_generate::Args),
    /// Peak resident memory of loading a checkpoint (f32 and bf16) and decoding with it, against
    /// the bytes of its weights and KV cache.
    #[command(
        after_help = "Example:\n  glassbox --threads 2 bench load --shape pythia-70m --dtype f32,bf16"
    )]
    Load(super::bench_load::Args),
    /// Data pipeline: tokenisation MB/s (against HF tokenizers from Python with --python),
    /// curation and MinHash throughput, peak memory at 1× and 10× the corpus.
    #[command(
        after_help = "Example:\n  glassbox --threads 2 bench data --corpus target/corpora/en_web.txt --python python3"
    )]
    Data(DataArgs),
    /// Training tokens/s of the bench-10m model (batch 8 × 256, AdamW, fp32) and peak memory,
    /// against the same model, batch and optimiser in eager PyTorch with --python.
    #[command(
        after_help = "Example:\n  glassbox --threads 2 bench train --python python3   # PYTHONPATH must reach torch"
    )]
    Train(TrainArgs),
    /// `glassbox serve` under load from this process: generated tokens/s and time to first token
    /// at 1, 4 and 16 concurrent streams on a SmolLM2-135M-shaped model, and the server's peak
    /// memory. With --overload SECONDS: the overload trial (twice the server's capacity, mixed
    /// requests; only 200 and 429 allowed, nothing stuck) and the stall of running streams while
    /// a long prompt is prefilled.
    #[command(
        after_help = "Examples:\n  glassbox bench serve --concurrency 1,4,16 --requests 2\n  glassbox --threads 2 bench serve --llama-server llama.cpp/build/bin/llama-server   # against llama.cpp\n  glassbox bench serve --overload 300 --max-tokens 16 --grace 300"
    )]
    Serve(super::bench_serve::Args),
    /// Documents/s of `glassbox eval` (choices sharing their context, and each request alone)
    /// against lm-eval's hf backend on the same model and tasks with --python.
    #[command(
        after_help = "Example:\n  glassbox --threads 2 bench eval --model out/run/checkpoints/step-0000240 --task tasks/follows.yaml --python python3"
    )]
    Eval(super::bench_eval::Args),
    /// GFLOP/s of the f32 matrix product (candle's GEMM) at the shapes training and prefill
    /// hit, against PyTorch's at the same shapes and threads with --python.
    #[command(
        after_help = "Example:\n  glassbox --threads 2 bench gemm --python python3   # PYTHONPATH must reach torch"
    )]
    Gemm(GemmArgs),
    /// Audit time of a release with one large weights file, beside reading that file once.
    #[command(after_help = "Example:\n  glassbox bench audit --size-mb 1024")]
    Audit(AuditArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DataArgs {
    /// The corpus (a text file; the World English Bible test corpus by default).
    #[arg(long, value_name = "FILE")]
    corpus: PathBuf,
    /// A Python with `tokenizers` installed, to measure the Hugging Face baseline in the same run.
    #[arg(long, value_name = "PYTHON")]
    python: Option<String>,
    /// Timed repetitions (median).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Skip the 10× peak-memory run.
    #[arg(long)]
    quick: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TrainArgs {
    /// Model preset (docs/training.md).
    #[arg(long, default_value = "bench-10m", value_parser = ["tiny", "small", "bench-10m", "smollm2-135m"])]
    preset: String,
    /// Vocabulary size.
    #[arg(long, default_value_t = 8192)]
    vocab: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    seq_len: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// A Python with torch, to measure eager PyTorch in the same run (bench-10m only).
    #[arg(long, value_name = "PYTHON")]
    python: Option<String>,
    /// Train a LoRA adapter of this rank (alpha 2r) on every linear layer of the frozen model;
    /// full fine-tuning of the same model is measured too, in a fresh process, and with
    /// --python PEFT's LoRA on the PyTorch model.
    #[arg(long, value_name = "RANK")]
    lora: Option<usize>,
    /// Where glassbox trains: cpu, or cuda / cuda:N in a glassbox built with `--features cuda`.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: glassbox_model::device::DeviceSpec,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// With --python: the PyTorch baseline through `torch.compile` (inductor) instead of eager.
    #[arg(long, requires = "python")]
    torch_compile: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GemmArgs {
    /// Timed products per shape after one warm-up (median reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Python interpreter that can import torch: the same shapes in PyTorch.
    #[arg(long, value_name = "PYTHON")]
    python: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// Size of the weights file, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mb: u64,
    /// Timed audits (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(b: Bench) -> Result<()> {
    match b {
        Bench::Data(a) => bench_data(a),
        Bench::Train(a) => bench_train(a),
        Bench::Serve(a) => super::bench_serve::run(a),
        Bench::Load(a) => super::bench_load::run(a),
        Bench::Eval(a) => super::bench_eval::run(a),
        Bench::Audit(a) => {
            let r = glassbox_audit::bench::bench_audit(a.size_mb << 20, a.repeats)?;
            let cpu = glassbox_core::cpu::detect();
            if a.json {
                let mut v = serde_json::to_value(&r)?;
                v["cpu"] = serde_json::to_value(&cpu)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("cpu              {}", cpu.describe());
                println!(
                    "weights file     {:.0} MiB safetensors",
                    r.weights_bytes as f64 / (1 << 20) as f64
                );
                println!(
                    "audit            {:.2} ms (median of {}), {} bytes read",
                    r.audit_seconds * 1e3,
                    a.repeats,
                    r.audit_bytes_read
                );
                println!(
                    "baseline         {:.2} ms to read the weights file once",
                    r.full_read_seconds * 1e3
                );
                println!("audit / baseline {:.4}", r.ratio);
            }
            Ok(())
        }
        Bench::Generate(a) => super::bench_generate::run(a),
        Bench::Gemm(a) => bench_gemm(a),
    }
}

/// Runs the embedded Python `script` with `python` and `args`, and reads the one JSON object it
/// prints; errors name the `baseline` and the module (`needs`) the interpreter must import.
pub(crate) fn run_script(
    python: &str,
    script: &str,
    name: &str,
    args: &[String],
    baseline: &str,
    needs: &str,
) -> Result<serde_json::Value> {
    let path =
        std::env::temp_dir().join(format!("glassbox-bench-{name}-{}.py", std::process::id()));
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    let o = std::process::Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .with_context(|| format!("running {python}"));
    let _ = std::fs::remove_file(&path);
    let o = o?;
    anyhow::ensure!(
        o.status.success(),
        "{baseline} failed (is {needs} importable by {python}?): {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    serde_json::from_slice(&o.stdout).with_context(|| format!("reading the JSON of {baseline}"))
}

/// The PyTorch GEMM baseline, embedded so the bench works from any directory.
const TORCH_GEMM_SCRIPT: &str = include_str!("../../../../scripts/bench_gemm_torch.py");

fn bench_gemm(a: GemmArgs) -> Result<()> {
    let threads = candle_core::utils::get_num_threads();
    eprintln!("bench: candle's f32 GEMM, {threads} threads");
    let ours = glassbox_train::bench::gemm(a.repeats)?;
    let theirs: Option<serde_json::Value> = match &a.python {
        None => None,
        Some(py) => {
            eprintln!("bench: PyTorch ({py})");
            let shapes: Vec<[usize; 4]> = ours.iter().map(|r| [r.batch, r.m, r.k, r.n]).collect();
            Some(run_script(
                py,
                TORCH_GEMM_SCRIPT,
                "gemm",
                &[
                    "--shapes".into(),
                    serde_json::to_string(&shapes)?,
                    "--threads".into(),
                    threads.to_string(),
                    "--repeats".into(),
                    a.repeats.max(1).to_string(),
                ],
                "the PyTorch baseline",
                "torch",
            )?)
        }
    };
    let torch_gflops = |i: usize| {
        theirs
            .as_ref()
            .and_then(|t| t["rows"][i]["gflops"].as_f64())
    };
    let cpu = glassbox_core::cpu::detect();
    if a.json {
        let v = serde_json::json!({"cpu": cpu, "threads": threads, "glassbox": ours, "pytorch": theirs});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("cpu              {}", cpu.describe());
    println!(
        "{:<40} {:>22} {:>14} {:>13} {:>6}",
        "product", "batch x (m, k, n)", "candle GFLOP/s", "torch GFLOP/s", "ratio"
    );
    for (i, r) in ours.iter().enumerate() {
        let shape = format!("{} x ({}, {}, {})", r.batch, r.m, r.k, r.n);
        match torch_gflops(i) {
            Some(t) => println!(
                "{:<40} {shape:>22} {:>14.1} {t:>13.1} {:>5.2}x",
                r.what,
                r.gflops,
                r.gflops / t
            ),
            None => println!("{:<40} {shape:>22} {:>14.1}", r.what, r.gflops),
        }
    }
    if let Some(t) = &theirs {
        println!("torch {}", t["torch"].as_str().unwrap_or("?"));
    }
    Ok(())
}

/// The eager-PyTorch training baseline, embedded so the bench works from any directory.
const TORCH_TRAIN_SCRIPT: &str = include_str!("../../../../scripts/bench_train_torch.py");

fn bench_train(a: TrainArgs) -> Result<()> {
    use glassbox_train::bench;
    let threads = candle_core::utils::get_num_threads();
    let options = bench::BenchOptions {
        preset: a.preset.clone(),
        vocab: a.vocab,
        batch_size: a.batch_size.max(1),
        seq_len: a.seq_len.max(1),
        steps: a.steps.max(1),
        warmup: a.warmup,
        lora_rank: a.lora,
        device: a.device,
    };
    // Full fine-tuning of the same model, in its own process so its peak memory is its own.
    let full = match a.lora {
        None => None,
        Some(_) => {
            eprintln!("bench: glassbox full fine-tuning (child process)");
            let o = std::process::Command::new(std::env::current_exe()?)
                .args([
                    "--threads",
                    &threads.to_string(),
                    "bench",
                    "train",
                    "--json",
                    "--preset",
                    &a.preset,
                    "--vocab",
                    &a.vocab.to_string(),
                    "--batch-size",
                    &options.batch_size.to_string(),
                    "--seq-len",
                    &options.seq_len.to_string(),
                    "--steps",
                    &options.steps.to_string(),
                    "--warmup",
                    &options.warmup.to_string(),
                ])
                .output()?;
            anyhow::ensure!(
                o.status.success(),
                "the full fine-tuning run failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
            Some(v)
        }
    };
    eprintln!(
        "bench: glassbox, {} steps after {} warm-up",
        options.steps, options.warmup
    );
    let ours = bench::run(&options)?;
    let peak = glassbox_data::bench::peak_rss().unwrap_or(0);
    let theirs = match &a.python {
        None => None,
        Some(py) => {
            anyhow::ensure!(
                matches!(a.preset.as_str(), "bench-10m" | "smollm2-135m"),
                "the PyTorch baseline has the shapes of --preset bench-10m and smollm2-135m"
            );
            eprintln!("bench: eager PyTorch ({py})");
            let args: Vec<String> = [
                "--threads",
                &threads.to_string(),
                "--steps",
                &options.steps.to_string(),
                "--warmup",
                &options.warmup.to_string(),
                "--batch-size",
                &options.batch_size.to_string(),
                "--seq-len",
                &options.seq_len.to_string(),
                "--vocab",
                &options.vocab.to_string(),
                "--lora",
                &a.lora.unwrap_or(0).to_string(),
                "--preset",
                &a.preset,
                "--device",
                &a.device.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(a.torch_compile.then(|| "--compile".to_string()))
            .collect();
            let v = run_script(
                py,
                TORCH_TRAIN_SCRIPT,
                "train",
                &args,
                "the PyTorch baseline",
                "torch",
            )?;
            anyhow::ensure!(
                v["parameters"].as_u64() == Some(ours.parameters as u64),
                "the PyTorch model has {} parameters, glassbox's {}",
                v["parameters"],
                ours.parameters
            );
            Some(v)
        }
    };
    if a.json {
        let v = serde_json::json!({
            "glassbox": ours,
            "glassbox_peak_rss_bytes": peak,
            "threads": threads,
            "cpu": glassbox_core::cpu::detect(),
            "pytorch": theirs,
            "ratio": theirs.as_ref().and_then(|t| t["tokens_per_s"].as_f64()).map(|t| ours.tokens_per_s / t),
            "full_fine_tuning": full,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mib = |b: f64| b / (1u64 << 20) as f64;
    println!(
        "cpu              {}",
        glassbox_core::cpu::detect().describe()
    );
    println!(
        "model            {} preset, {} parameters, vocab {}, fp32, tied embeddings",
        a.preset, ours.parameters, a.vocab
    );
    println!(
        "batch            {} × {} tokens, AdamW, clip 1.0, {threads} threads",
        options.batch_size, options.seq_len
    );
    println!(
        "glassbox         {:.0} tokens/s (median step {:.3} s of {})",
        ours.tokens_per_s,
        ours.median_step_s,
        ours.step_s.len()
    );
    let step = ours.forward_s + ours.backward_s + ours.optimizer_s;
    println!(
        "  where it goes  forward+loss {:.0}%, backward {:.0}%, clip+AdamW {:.0}%",
        100.0 * ours.forward_s / step,
        100.0 * ours.backward_s / step,
        100.0 * ours.optimizer_s / step
    );
    println!("  peak memory    {:.0} MiB (RSS)", mib(peak as f64));
    if let Some(f) = &full {
        let g = &f["glassbox"];
        let (tps, fpeak) = (
            g["tokens_per_s"].as_f64().unwrap_or(f64::NAN),
            f["glassbox_peak_rss_bytes"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "LoRA r={}        {} trainable parameters of {} ({:.2}%)",
            a.lora.unwrap_or(0),
            ours.trainable_parameters,
            ours.parameters,
            100.0 * ours.trainable_parameters as f64 / ours.parameters as f64
        );
        println!(
            "full fine-tune   {tps:.0} tokens/s, peak memory {:.0} MiB (RSS), same model and batches",
            mib(fpeak)
        );
        println!(
            "LoRA / full      {:.2}x tokens/s, {:.2}x peak memory",
            ours.tokens_per_s / tps,
            peak as f64 / fpeak
        );
    }
    if let Some(t) = &theirs {
        let tps = t["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{}    {:.0} tokens/s (torch {}, {} threads, median step {:.3} s)",
            if a.torch_compile {
                "torch.compile"
            } else {
                "eager PyTorch"
            },
            tps,
            t["torch"].as_str().unwrap_or("?"),
            t["threads"],
            t["median_step_s"].as_f64().unwrap_or(f64::NAN)
        );
        println!(
            "  peak memory    {:.0} MiB (RSS)",
            mib(t["peak_rss_bytes"].as_f64().unwrap_or(0.0))
        );
        println!(
            "ratio            {:.2}x (glassbox / PyTorch)",
            ours.tokens_per_s / tps
        );
    }
    Ok(())
}

/// The Python baseline, embedded so the bench works from any directory.
const HF_SCRIPT: &str = include_str!("../../../../scripts/bench_tokenize_hf.py");

/// Runs `glassbox data curate` in a child process and returns (seconds, peak RSS bytes).
fn curate_child(config: &Path, out: &Path) -> Result<(f64, u64)> {
    let exe = std::env::current_exe()?;
    let t = std::time::Instant::now();
    let o = std::process::Command::new(exe)
        .args(["data", "curate", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .env("GLASSBOX_REPORT_PEAK_RSS", "1")
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr);
    anyhow::ensure!(o.status.success(), "curate failed: {err}");
    let peak = err
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((secs, peak))
}

fn bench_data(a: DataArgs) -> Result<()> {
    use glassbox_data::{bench, curate, tokenizer};
    let text = std::fs::read_to_string(&a.corpus)
        .with_context(|| format!("reading {}", a.corpus.display()))?;
    let tmp = std::env::temp_dir().join(format!("glassbox-bench-data-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = (|| -> Result<()> {
        let tk_path = tmp.join("tokenizer.json");
        let t = std::time::Instant::now();
        let tk = tokenizer::train(
            text.lines().map(str::to_string),
            &tokenizer::TrainOptions {
                vocab_size: 8192,
                ..Default::default()
            },
            &tk_path,
        )?;
        let train_s = t.elapsed().as_secs_f64();
        std::fs::write(&tk_path, tokenizer::to_json(&tk, &tk_path)?)?;
        let json = tokenizer::to_json(&tk, &tk_path)?;
        let fast = glassbox_data::fastbpe::FastBpe::new(&json)
            .context("the trained tokenizer should fit the fast encoder")?;
        println!(
            "cpu              {}",
            glassbox_core::cpu::detect().describe()
        );
        let crate_only = bench::bench_encode(&tk, None, &text, a.repeats)?;
        let ours = bench::bench_encode(&tk, Some(&fast), &text, a.repeats)?;
        anyhow::ensure!(
            ours.tokens == crate_only.tokens,
            "fast encoder and tokenizers disagree ({} vs {} tokens)",
            ours.tokens,
            crate_only.tokens
        );
        println!(
            "tokenizer        byte-level BPE, 8192 tokens, trained on the corpus in {train_s:.1} s"
        );
        println!(
            "glassbox encode  {:.2} MB/s ({} lines, {} tokens, {} threads, median of {})",
            ours.mb_per_s, ours.lines, ours.tokens, ours.threads, a.repeats
        );
        println!(
            "tokenizers crate {:.2} MB/s (the same lines through the Rust tokenizers crate, same threads)",
            crate_only.mb_per_s
        );
        if let Some(py) = &a.python {
            let args = [
                "--tokenizer".to_string(),
                tk_path.to_string_lossy().into_owned(),
                "--input".into(),
                a.corpus.to_string_lossy().into_owned(),
                "--threads".into(),
                ours.threads.to_string(),
                "--repeats".into(),
                a.repeats.to_string(),
            ];
            let v = run_script(
                py,
                HF_SCRIPT,
                "tokenize",
                &args,
                "the HF tokenizers baseline",
                "tokenizers",
            )?;
            let theirs = v["mb_per_s"].as_f64().unwrap_or(0.0);
            println!(
                "HF tokenizers    {theirs:.2} MB/s (Python encode_batch, tokenizers {}, same tokenizer, {} threads)",
                v["tokenizers"].as_str().unwrap_or("?"),
                v["threads"]
            );
            println!("ratio            {:.2}x", ours.mb_per_s / theirs);
        }
        let cfg = |path: &Path| {
            format!(
                "[[source]]\nname = \"corpus\"\npath = \"{}\"\nsplit = \"group\"\ngroup_pattern = '^(.+? \\d+):\\d+:'\nstrip_pattern = '^.+? \\d+:\\d+: '\nlicense = \"public-domain\"\n",
                path.display()
            )
        };
        let c1 = tmp.join("one.toml");
        std::fs::write(&c1, cfg(&a.corpus))?;
        let (secs, peak1) = curate_child(&c1, &tmp.join("cur1"))?;
        let sheet: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(tmp.join("cur1/datasheet.json"))?)?;
        let read = sheet["totals"]["documents_read"].as_u64().unwrap_or(0);
        println!(
            "curate           {:.0} docs/s ({read} documents, {:.1} MB in {secs:.2} s, all steps)",
            read as f64 / secs,
            text.len() as f64 / 1e6
        );
        let m = curate::read_manifest(&tmp.join("cur1"))?;
        let mut docs = Vec::new();
        curate::for_each_doc(&tmp.join("cur1"), &m, &mut |d| {
            docs.push(d.text);
            Ok(())
        })?;
        let mh = bench::bench_minhash(&docs);
        println!(
            "minhash dedup    {:.0} docs/s ({} documents, 5-grams, 14 x 8)",
            mh.docs_per_s, mh.documents
        );
        if !a.quick {
            let big = tmp.join("ten.txt");
            let bytes = bench::repeat_file(&a.corpus, &big, 10)?;
            let c10 = tmp.join("ten.toml");
            std::fs::write(&c10, cfg(&big))?;
            let (secs10, peak10) = curate_child(&c10, &tmp.join("cur10"))?;
            println!(
                "peak memory      {:.0} MiB at 1x, {:.0} MiB at 10x ({:.0} MB input, {secs10:.1} s); ratio {:.2}",
                peak1 as f64 / 1048576.0,
                peak10 as f64 / 1048576.0,
                bytes as f64 / 1e6,
                peak10 as f64 / peak1.max(1) as f64
            );
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
