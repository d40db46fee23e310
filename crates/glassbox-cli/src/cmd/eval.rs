//! `glassbox eval`: tasks in lm-evaluation-harness's YAML dialect, scored as lm-eval scores them.

use std::path::PathBuf;

use anyhow::{Result, bail};
use glassbox_eval::evaluate::{EvalOptions, evaluate};
use glassbox_eval::task::TaskConfig;

use super::common::{ModelArg, load_engine};

/// Version of the `glassbox eval --json` output (docs/formats.md).
const EVAL_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// A task YAML (lm-eval's dialect, local JSON data); repeat for several.
    #[arg(long, value_name = "FILE", required = true)]
    task: Vec<PathBuf>,
    /// Few-shot examples (overrides the tasks' num_fewshot).
    #[arg(long, value_name = "N")]
    num_fewshot: Option<usize>,
    /// Seed of the few-shot draws (lm-eval's default).
    #[arg(long, default_value_t = 1234)]
    fewshot_seed: u32,
    /// Only the first N documents of each task.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The window in tokens [default: the model's max_position_embeddings].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Print the results (with every document's scores) as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let engine = load_engine(&a.model.model, a.model.adapter.as_deref())?;
    let opts = EvalOptions {
        num_fewshot: a.num_fewshot,
        fewshot_seed: a.fewshot_seed,
        limit: a.limit,
        batch_size: a.batch_size,
        max_length: a.max_length,
    };
    let mut results = Vec::new();
    for t in &a.task {
        let cfg = TaskConfig::load(t)?;
        results.push(evaluate(&cfg, &engine, &opts)?);
    }
    if a.json {
        let out = serde_json::json!({
            "schema_version": EVAL_SCHEMA_VERSION,
            "model": a.model.model.display().to_string(),
            "adapter": a.model.adapter.as_ref().map(|p| p.display().to_string()),
            "fewshot_seed": a.fewshot_seed,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("| task | docs | shots | metric | value |\n|---|---|---|---|---|");
    for r in &results {
        for (k, v) in &r.metrics {
            println!(
                "| {} | {} | {} | {k} | {v:.4} |",
                r.task, r.docs, r.num_fewshot
            );
        }
        if r.truncated > 0 {
            eprintln!(
                "{}: {} request(s) longer than the window were cut from the left (as lm-eval does)",
                r.task, r.truncated
            );
        }
    }
    Ok(())
}
