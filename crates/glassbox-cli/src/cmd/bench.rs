//! `glassbox bench`.

use anyhow::Result;
use glassbox_infer::bench::{BenchOptions, bench_generate, smollm2_135m};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Bench {
    /// Prefill and decode throughput of a SmolLM2-135M-shaped model (random weights, f32, batch
    /// 1), beside this machine's memory bandwidth and the decode bound it implies.
    #[command(
        after_help = "Example:\n  glassbox --threads 2 bench generate --prompt-len 512 --new-tokens 128"
    )]
    Generate(GenerateArgs),
    /// Audit time of a release with one large weights file, beside reading that file once.
    #[command(after_help = "Example:\n  glassbox bench audit --size-mb 1024")]
    Audit(AuditArgs),
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

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Prompt tokens (one prefill pass).
    #[arg(long, default_value_t = 512)]
    prompt_len: usize,
    /// Tokens decoded one by one with the KV cache.
    #[arg(long, default_value_t = 128)]
    new_tokens: usize,
    /// Timed repetitions after one warm-up (median reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(b: Bench) -> Result<()> {
    match b {
        Bench::Audit(a) => {
            let r = glassbox_audit::bench::bench_audit(a.size_mb << 20, a.repeats)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
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
        Bench::Generate(a) => {
            let options = BenchOptions {
                prompt_len: a.prompt_len.max(1),
                new_tokens: a.new_tokens,
                repeats: a.repeats.max(1),
                // 1 GiB: far past any last-level cache, so the probe reads DRAM.
                bandwidth_bytes: 1 << 30,
            };
            let r = bench_generate(smollm2_135m()?, &options, &mut |msg| {
                eprintln!("bench: {msg}")
            })?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "model            SmolLM2-135M shape, {} parameters, f32 ({:.0} MB of weights)",
                    r.parameters,
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
                    "memory bandwidth {:.2} GB/s (parallel read, best of 5)",
                    r.memory_bandwidth_bytes_per_s / 1e9
                );
                println!(
                    "decode bound     {:.2} tokens/s (bandwidth / weight bytes)",
                    r.decode_bound_tokens_per_s
                );
                println!(
                    "decode / bound   {:.0}%",
                    100.0 * r.decode_tokens_per_s / r.decode_bound_tokens_per_s
                );
            }
            Ok(())
        }
    }
}
