//! `glassbox bench generate`: prefill and decode throughput, and llama.cpp on the same weights.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use glassbox_infer::bench::{BenchOptions, BenchReport, bench_generate, bench_model, bench_shape};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Model shape: smollm2-135m, llama-1b, pythia-70m, pythia-160m, olmoe-scaled (tiny: a smoke run).
    #[arg(long, default_value = "smollm2-135m")]
    shape: String,
    /// Quantize the random weights to this GGUF type (q8_0, q4_0, …) and run them quantized.
    #[arg(long, conflicts_with = "model")]
    quant: Option<String>,
    /// Also write the GGUF file of the random weights (f32, or --quant's type), so llama.cpp can
    /// run the same weights later.
    #[arg(long, conflicts_with = "model")]
    save_gguf: Option<PathBuf>,
    /// Run this GGUF file (its quantized matrices stay quantized) instead of random weights.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt tokens (one prefill pass).
    #[arg(long, default_value_t = 512)]
    prompt_len: usize,
    /// Tokens decoded one by one with the KV cache.
    #[arg(long, default_value_t = 128)]
    new_tokens: usize,
    /// Timed repetitions after one warm-up (median reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Baseline: llama.cpp through llama-cpp-python, run by this Python interpreter on the same
    /// weights (a GGUF file of them), the same prompt and threads; prints the ratios.
    #[arg(long, value_name = "PYTHON", conflicts_with = "llama_bench")]
    python: Option<String>,
    /// Baseline: llama.cpp's own `llama-bench` binary on the same weights (prefill as `-p N`,
    /// decode as `-n M` after an N-token context, `-d N`); prints the ratios.
    #[arg(long, value_name = "BIN")]
    llama_bench: Option<PathBuf>,
    /// Where the random f32 weights run: cpu, or cuda / cuda:N in a glassbox built with
    /// `--features cuda` (quantized weights and --model run on the CPU only).
    #[arg(long, value_name = "DEVICE", default_value = "cpu", conflicts_with_all = ["model", "quant"])]
    device: glassbox_model::device::DeviceSpec,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// llama.cpp's figures on the same file, the same prompt length and threads.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Baseline {
    /// How llama.cpp was run (`llama-cpp-python 0.3.36`, `llama-bench build 5163`).
    pub runner: String,
    /// Prompt tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Decoded tokens per second after the prompt.
    pub decode_tokens_per_s: f64,
}

/// The llama.cpp baseline script, embedded so the bench works from any directory.
const LLAMA_CPP_SCRIPT: &str = include_str!("../../../../scripts/bench_llama_cpp.py");

pub(crate) fn run(a: Args) -> Result<()> {
    let options = BenchOptions {
        prompt_len: a.prompt_len.max(1),
        new_tokens: a.new_tokens,
        repeats: a.repeats.max(1),
        // 1 GiB: far past any last-level cache, so the probe reads DRAM.
        bandwidth_bytes: 1 << 30,
        device: a.device,
    };
    let wants_baseline = a.python.is_some() || a.llama_bench.is_some();
    let mut progress = |msg: &str| eprintln!("bench: {msg}");
    // The GGUF file llama.cpp runs: the given file, or the random weights written out (to
    // --save-gguf, or to a temporary file removed at the end).
    let mut temp: Option<PathBuf> = None;
    let (r, weights, gguf) = if let Some(path) = &a.model {
        progress("loading the GGUF file");
        let model = glassbox_infer::bench::load_gguf(path)?;
        let r = bench_model(&model, &options, &mut progress)?;
        (r, format!("GGUF {}", path.display()), Some(path.clone()))
    } else {
        let cfg = bench_shape(&a.shape)?;
        let quant = a.quant.as_deref();
        let path = if a.save_gguf.is_some() || wants_baseline || quant.is_some() {
            progress(match quant {
                Some(_) => "initialising and quantizing random weights",
                None => "initialising random weights and writing them as GGUF",
            });
            let bytes = glassbox_infer::bench::random_gguf(cfg.clone(), quant.unwrap_or("f32"))?;
            let path = match &a.save_gguf {
                Some(p) => p.clone(),
                None => {
                    let p = std::env::temp_dir()
                        .join(format!("glassbox-bench-{}.gguf", std::process::id()));
                    temp = Some(p.clone());
                    p
                }
            };
            glassbox_core::fsio::atomic_write(&path, &bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            Some(path)
        } else {
            None
        };
        let result = match (quant, &path) {
            (Some(q), Some(p)) => glassbox_infer::bench::load_gguf(p)
                .map_err(anyhow::Error::from)
                .and_then(|m| Ok(bench_model(&m, &options, &mut progress)?))
                .map(|r| (r, format!("{q} GGUF"))),
            _ => bench_generate(cfg, &options, &mut progress)
                .map_err(anyhow::Error::from)
                .map(|r| (r, "f32".to_string())),
        };
        match result {
            Ok((r, w)) => (r, w, path),
            Err(e) => {
                remove_temp(&temp);
                return Err(e);
            }
        }
    };
    let baseline = match (&gguf, &a.python, &a.llama_bench) {
        (Some(file), Some(py), _) => {
            progress(&format!("llama.cpp through llama-cpp-python ({py})"));
            Some(llama_cpp_python(py, file, &options, r.threads))
        }
        (Some(file), None, Some(bin)) => {
            progress(&format!("llama.cpp's llama-bench ({})", bin.display()));
            Some(llama_bench(bin, file, &options, r.threads))
        }
        _ => None,
    };
    remove_temp(&temp);
    let baseline = baseline.transpose()?;
    let cpu = glassbox_core::cpu::detect();
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["cpu"] = serde_json::to_value(&cpu)?;
        if let Some(b) = &baseline {
            v["llama_cpp"] = serde_json::to_value(b)?;
            v["prefill_ratio"] = (r.prefill_tokens_per_s / b.prefill_tokens_per_s).into();
            v["decode_ratio"] = (r.decode_tokens_per_s / b.decode_tokens_per_s).into();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let shape = if a.model.is_some() {
        "file's"
    } else {
        &a.shape
    };
    println!("cpu              {}", cpu.describe());
    print_report(&r, shape, &weights, &options);
    if let Some(b) = &baseline {
        println!("llama.cpp        {} on the same GGUF file", b.runner);
        println!(
            "  prefill        {:.1} tokens/s; glassbox / llama.cpp {:.2}x",
            b.prefill_tokens_per_s,
            r.prefill_tokens_per_s / b.prefill_tokens_per_s
        );
        println!(
            "  decode         {:.2} tokens/s; glassbox / llama.cpp {:.2}x",
            b.decode_tokens_per_s,
            r.decode_tokens_per_s / b.decode_tokens_per_s
        );
    }
    Ok(())
}

fn remove_temp(temp: &Option<PathBuf>) {
    if let Some(p) = temp {
        let _ = std::fs::remove_file(p);
    }
}

fn print_report(r: &BenchReport, shape: &str, weights: &str, options: &BenchOptions) {
    println!(
        "model            {shape} shape, {} parameters ({} active per token), {weights} ({:.0} MB of weights read per token)",
        r.parameters,
        r.active_parameters,
        r.weight_bytes as f64 / 1e6
    );
    println!("threads          {}", r.threads);
    println!(
        "prefill          {:.1} tokens/s ({} prompt tokens, batch 1)",
        r.prefill_tokens_per_s, options.prompt_len
    );
    println!(
        "decode           {:.2} tokens/s ({} new tokens, batch 1, KV cache)",
        r.decode_tokens_per_s, options.new_tokens
    );
    println!(
        "decode (server)  {:.2} tokens/s (the same tokens, the server's decoding step)",
        r.step_decode_tokens_per_s
    );
    println!(
        "memory bandwidth {:.2} GB/s (parallel read, best of 5)",
        r.memory_bandwidth_bytes_per_s / 1e9
    );
    println!(
        "decode bound     {:.2} tokens/s (bandwidth / active weight bytes)",
        r.decode_bound_tokens_per_s
    );
    println!(
        "decode / bound   {:.0}%",
        100.0 * r.decode_tokens_per_s / r.decode_bound_tokens_per_s
    );
}

/// Runs the embedded `bench_llama_cpp.py` with `python` on `file`.
fn llama_cpp_python(
    python: &str,
    file: &Path,
    options: &BenchOptions,
    threads: usize,
) -> Result<Baseline> {
    let args: Vec<String> = [
        file.display().to_string(),
        "--threads".into(),
        threads.to_string(),
        "--prompt-len".into(),
        options.prompt_len.to_string(),
        "--new-tokens".into(),
        options.new_tokens.to_string(),
        "--repeats".into(),
        options.repeats.to_string(),
        "--json".into(),
    ]
    .into();
    let v = super::bench::run_script(
        python,
        LLAMA_CPP_SCRIPT,
        "llama",
        &args,
        "the llama.cpp baseline",
        "llama_cpp (and numpy)",
    )?;
    let field = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("the llama.cpp baseline's JSON has no number `{k}`: {v}"))
    };
    Ok(Baseline {
        runner: format!(
            "llama-cpp-python {}",
            v["llama_cpp_python"]
                .as_str()
                .unwrap_or("(version unknown)")
        ),
        prefill_tokens_per_s: field("prefill_tokens_per_s")?,
        decode_tokens_per_s: field("decode_tokens_per_s")?,
    })
}

/// Runs llama.cpp's `llama-bench` twice on `file`: the prompt (`-p N -n 0`), then the decoded
/// tokens after a context of the prompt's length (`-p 0 -n M -d N`), JSON output.
fn llama_bench(
    bin: &Path,
    file: &Path,
    options: &BenchOptions,
    threads: usize,
) -> Result<Baseline> {
    let run = |extra: &[String]| -> Result<serde_json::Value> {
        let o = std::process::Command::new(bin)
            .arg("-m")
            .arg(file)
            .args(["-t", &threads.to_string()])
            .args(["-r", &options.repeats.to_string()])
            .args(["-o", "json"])
            .args(extra)
            .output()
            .with_context(|| format!("running {}", bin.display()))?;
        anyhow::ensure!(
            o.status.success(),
            "{} {} failed: {}",
            bin.display(),
            extra.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        );
        serde_json::from_slice(&o.stdout)
            .with_context(|| format!("reading the JSON of {} {}", bin.display(), extra.join(" ")))
    };
    let (n, m) = (
        options.prompt_len.to_string(),
        options.new_tokens.to_string(),
    );
    let pp = run(&["-p".into(), n.clone(), "-n".into(), "0".into()])?;
    // llama-bench builds before `-d` (spring 2025) refuse it: decode from an empty context
    // then, which favours llama.cpp (attention over fewer keys), and say so.
    let mut note = "";
    let tg = match run(&[
        "-p".into(),
        "0".into(),
        "-n".into(),
        m.clone(),
        "-d".into(),
        n,
    ]) {
        Ok(v) => v,
        Err(_) => {
            note = ", decode from an empty context (this llama-bench has no -d)";
            run(&["-p".into(), "0".into(), "-n".into(), m])?
        }
    };
    let prefill = llama_bench_rate(&pp, options.prompt_len, 0)?;
    let decode = llama_bench_rate(&tg, 0, options.new_tokens)?;
    let build = pp
        .as_array()
        .and_then(|a| a.first())
        .map(|t| {
            format!(
                "llama-bench build {} ({})",
                t["build_number"],
                t["build_commit"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_else(|| "llama-bench".into());
    Ok(Baseline {
        runner: format!("{build}{note}"),
        prefill_tokens_per_s: prefill,
        decode_tokens_per_s: decode,
    })
}

/// The mean tokens/s (`avg_ts`) of the test with `n_prompt` and `n_gen` in `llama-bench -o json`
/// output.
pub(crate) fn llama_bench_rate(
    v: &serde_json::Value,
    n_prompt: usize,
    n_gen: usize,
) -> Result<f64> {
    let tests = v
        .as_array()
        .context("llama-bench's JSON output is not an array of tests")?;
    tests
        .iter()
        .find(|t| {
            t["n_prompt"].as_u64() == Some(n_prompt as u64) && t["n_gen"].as_u64() == Some(n_gen as u64)
        })
        .and_then(|t| t["avg_ts"].as_f64())
        .with_context(|| {
            format!("llama-bench's JSON has no test with n_prompt {n_prompt}, n_gen {n_gen} and an avg_ts")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_matching_tests_mean() {
        let v = serde_json::json!([
            {"n_prompt": 512, "n_gen": 0, "n_depth": 0, "avg_ts": 7100.5},
            {"n_prompt": 0, "n_gen": 128, "n_depth": 512, "avg_ts": 118.9}
        ]);
        assert_eq!(llama_bench_rate(&v, 512, 0).unwrap(), 7100.5);
        assert_eq!(llama_bench_rate(&v, 0, 128).unwrap(), 118.9);
        let e = llama_bench_rate(&v, 64, 0).unwrap_err().to_string();
        assert!(e.contains("n_prompt 64"), "{e}");
        let e = llama_bench_rate(&serde_json::json!({}), 1, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an array"), "{e}");
    }
}
