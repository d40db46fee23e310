//! `glassbox checkpoints`: a model's checkpoint series in step order.

use std::path::PathBuf;

use anyhow::{Context, Result};
use glassbox_model::{CheckpointSeries, ModelConfig};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A directory of checkpoints: one sub-directory per revision (step0, step1000, …,
    /// stage1-step140000-tokens1175B, checkpoint-500), a glassbox run, or the Hugging Face cache
    /// of one repository (models--ORG--NAME with refs/ and snapshots/).
    dir: PathBuf,
    /// Load every checkpoint's weights too (checks each is complete and loadable).
    #[arg(long)]
    load: bool,
    /// Print the series as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> Result<()> {
    let series = CheckpointSeries::open(&a.dir)?;
    let mut rows = Vec::new();
    for c in series.checkpoints() {
        let cfg = ModelConfig::from_file(&c.dir.join("config.json"))
            .with_context(|| format!("checkpoint {}", c.name))?;
        let loaded = if a.load {
            let (m, report) = c
                .load(&candle_core::Device::Cpu)
                .with_context(|| format!("loading checkpoint {}", c.name))?;
            Some((m.weight_bytes(), report.stored_dtype))
        } else {
            None
        };
        rows.push(json!({
            "step": c.step,
            "tokens": c.tokens,
            "name": c.name,
            "dir": c.dir.display().to_string(),
            "architecture": cfg.architecture.class_name(),
            "parameters": cfg.num_parameters(),
            "dtype": cfg.dtype,
            "loaded_weight_bytes": loaded.as_ref().map(|l| l.0),
            "stored_dtype": loaded.map(|l| l.1),
        }));
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "root": series.root().display().to_string(),
                "checkpoints": rows,
            }))?
        );
        return Ok(());
    }
    println!(
        "{:>10}  {:>14}  {:<32}  architecture",
        "step", "tokens", "revision"
    );
    for r in &rows {
        println!(
            "{:>10}  {:>14}  {:<32}  {} ({} parameters{})",
            r["step"],
            r["tokens"]
                .as_u64()
                .map_or("-".to_string(), |t| t.to_string()),
            r["name"].as_str().unwrap_or(""),
            r["architecture"].as_str().unwrap_or(""),
            r["parameters"],
            match r["stored_dtype"].as_str() {
                Some(d) => format!(", {d}, loaded"),
                None => String::new(),
            }
        );
    }
    println!("{} checkpoints", rows.len());
    Ok(())
}
