//! `glassbox convert`: load a model directory and write it back in HF layout.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use glassbox_model::{SaveDtype, Transformer};

use super::common::ModelArg;

/// Files copied verbatim beside the weights, when present.
pub(crate) const SIDE_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
];

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// Output directory (created; must differ from --model).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Weight dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Largest shard in bytes (suffixes KB, MB, GB); bigger models are split with an index.
    #[arg(long, default_value = "5GB", value_name = "SIZE")]
    max_shard_size: String,
    /// With --adapter: take the adapter back out of a model it was merged into
    /// (W − s·B·A) instead of merging it in.
    #[arg(long, requires = "adapter")]
    unmerge: bool,
}

/// `glassbox merge-adapter`: `convert` with an adapter, which it requires.
pub(crate) fn merge_adapter(a: Args) -> Result<()> {
    if a.model.adapter.is_none() {
        bail!("merge-adapter needs --adapter DIR (a PEFT LoRA adapter directory)");
    }
    run(a)
}

pub(crate) fn run(a: Args) -> Result<()> {
    let dtype = SaveDtype::parse(&a.dtype)
        .with_context(|| format!("--dtype {}: expected f32, bf16 or f16", a.dtype))?;
    let shard = parse_size(&a.max_shard_size).with_context(|| {
        format!(
            "--max-shard-size {}: expected a size such as 500MB",
            a.max_shard_size
        )
    })?;
    let src = &a.model.model;
    if a.out.exists() && same_dir(src, &a.out) {
        bail!(
            "--out {} is the --model directory; write to a new directory",
            a.out.display()
        );
    }
    let (mut model, _) = Transformer::load(src, &candle_core::Device::Cpu)
        .with_context(|| format!("loading the model in {}", src.display()))?;
    if let Some(dir) = &a.model.adapter {
        let adapter = glassbox_model::Adapter::load(dir, &candle_core::Device::Cpu)
            .with_context(|| format!("loading the adapter in {}", dir.display()))?;
        if a.unmerge {
            model.unmerge_adapter(&adapter)
        } else {
            model
                .apply_adapter(&adapter)
                .and_then(|()| model.merge_adapter())
        }
        .with_context(|| format!("applying the adapter in {}", dir.display()))?;
    }
    model.save(&a.out, dtype, shard)?;
    for f in SIDE_FILES {
        let from = src.join(f);
        if from.exists() {
            std::fs::copy(&from, a.out.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    eprintln!(
        "wrote {} ({}, {})",
        a.out.display(),
        dtype.torch_name(),
        model.config().architecture.class_name()
    );
    Ok(())
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `5GB`, `500MB`, `100KB`, `123` (bytes); decimal units as transformers uses.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("GB") {
        (n, 1_000_000_000)
    } else if let Some(n) = s.strip_suffix("MB") {
        (n, 1_000_000)
    } else if let Some(n) = s.strip_suffix("KB") {
        (n, 1_000)
    } else {
        (s.as_str(), 1)
    };
    let n: f64 = num.trim().parse().ok()?;
    (n > 0.0).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("5GB"), Some(5_000_000_000));
        assert_eq!(super::parse_size("1.5mb"), Some(1_500_000));
        assert_eq!(super::parse_size("-1"), None);
    }
}
