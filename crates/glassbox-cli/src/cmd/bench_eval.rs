//! `glassbox bench eval`: documents per second of `glassbox eval` on a model and tasks — with
//! the choices of a question sharing one pass over their context, and without — against
//! lm-evaluation-harness's `hf` backend on the same model, tasks, window and batch size in the
//! same run (`--python`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use glassbox_eval::evaluate::{EvalOptions, evaluate};
use glassbox_eval::task::TaskConfig;
use serde_json::{Value, json};

use super::common::load_engine;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The model (a Hugging Face-layout directory lm-eval can load too).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Task YAMLs (each file named after its `task`); repeat for several.
    #[arg(long, value_name = "FILE", required = true)]
    task: Vec<PathBuf>,
    /// Only the first N documents of each task.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Few-shot examples (overrides the tasks' num_fewshot; both sides).
    #[arg(long, value_name = "N")]
    num_fewshot: Option<usize>,
    /// Rows per forward pass (both sides).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// The window [default: the model's max_position_embeddings, both sides].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Timed repetitions of each glassbox configuration (the fastest is reported).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// A Python with lm-eval, transformers and torch, to measure lm-eval's hf backend.
    #[arg(long, value_name = "PYTHON")]
    python: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

const LM_EVAL_SCRIPT: &str = include_str!("../../../../scripts/bench_eval_lm_eval.py");

/// One glassbox configuration: documents, best seconds, metrics per task.
fn time_glassbox(a: &Args, tasks: &[TaskConfig], share: bool) -> Result<(usize, f64, Value)> {
    let engine = load_engine(&a.model, None, Default::default())?;
    let opts = EvalOptions {
        limit: a.limit,
        batch_size: a.batch_size.max(1),
        max_length: a.max_length,
        share_context: share,
        num_fewshot: a.num_fewshot,
        ..EvalOptions::default()
    };
    let mut best = f64::INFINITY;
    let mut docs = 0;
    let mut metrics = serde_json::Map::new();
    for _ in 0..a.repeats.max(1) {
        let t0 = Instant::now();
        docs = 0;
        for t in tasks {
            let r = evaluate(t, &engine, &opts)?;
            docs += r.docs;
            metrics.insert(r.task.clone(), json!(r.metrics));
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok((docs, best, Value::Object(metrics)))
}

pub(crate) fn run(a: Args) -> Result<()> {
    let threads = candle_core::utils::get_num_threads();
    let tasks = a
        .task
        .iter()
        .map(|t| TaskConfig::load(t).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    for (t, p) in tasks.iter().zip(&a.task) {
        ensure!(
            p.file_stem().is_some_and(|s| s.to_string_lossy() == t.task),
            "{}: lm-eval finds a task by its name; name the file {}.yaml",
            p.display(),
            t.task
        );
    }
    eprintln!("bench eval: glassbox, choices sharing their context");
    let (docs, shared_s, shared_m) = time_glassbox(&a, &tasks, true)?;
    eprintln!("bench eval: glassbox, every request alone");
    let (_, alone_s, alone_m) = time_glassbox(&a, &tasks, false)?;
    let theirs = match &a.python {
        None => None,
        Some(py) => {
            eprintln!("bench eval: lm-eval hf backend ({py})");
            let script =
                std::env::temp_dir().join(format!("glassbox-bench-eval-{}.py", std::process::id()));
            std::fs::write(&script, LM_EVAL_SCRIPT)?;
            let mut cmd = std::process::Command::new(py);
            cmd.arg(&script)
                .arg("--model")
                .arg(&a.model)
                .args(["--threads", &threads.to_string()])
                .args(["--batch-size", &a.batch_size.to_string()]);
            for t in &a.task {
                cmd.arg("--task").arg(t);
            }
            if let Some(n) = a.limit {
                cmd.args(["--limit", &n.to_string()]);
            }
            if let Some(n) = a.num_fewshot {
                cmd.args(["--num-fewshot", &n.to_string()]);
            }
            if let Some(n) = a.max_length {
                cmd.args(["--max-length", &n.to_string()]);
            }
            let o = cmd.output().with_context(|| format!("running {py}"));
            let _ = std::fs::remove_file(&script);
            let o = o?;
            ensure!(
                o.status.success(),
                "the lm-eval baseline failed (are lm-eval and torch importable by {py}?): {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let v: Value =
                serde_json::from_slice(&o.stdout).context("reading the lm-eval baseline's JSON")?;
            Some(v)
        }
    };
    let dps = |s: f64| docs as f64 / s;
    let report = json!({
        "schema_version": 1,
        "model": a.model.display().to_string(),
        "tasks": tasks.iter().map(|t| t.task.clone()).collect::<Vec<_>>(),
        "docs": docs,
        "threads": threads,
        "batch_size": a.batch_size,
        "num_fewshot": a.num_fewshot,
        "glassbox_shared": {"seconds": shared_s, "docs_per_s": dps(shared_s), "metrics": shared_m},
        "glassbox_alone": {"seconds": alone_s, "docs_per_s": dps(alone_s), "metrics": alone_m},
        "lm_eval_hf": theirs,
        "cpu": glassbox_core::cpu::detect(),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("cpu: {}", glassbox_core::cpu::detect().describe());
    println!(
        "{docs} documents ({}), batch {}, {threads} threads",
        report["tasks"]
            .as_array()
            .map(|t| t
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        a.batch_size
    );
    println!("| scorer | s | docs/s | vs lm-eval hf |\n|---|---|---|---|");
    let base = theirs
        .as_ref()
        .and_then(|t| t["docs_per_s"].as_f64())
        .filter(|&x| x > 0.0);
    let ratio = |x: f64| base.map_or("–".to_string(), |b| format!("{:.2}×", x / b));
    println!(
        "| glassbox, shared context | {shared_s:.2} | {:.1} | {} |",
        dps(shared_s),
        ratio(dps(shared_s))
    );
    println!(
        "| glassbox, each request alone | {alone_s:.2} | {:.1} | {} |",
        dps(alone_s),
        ratio(dps(alone_s))
    );
    if let Some(t) = &theirs {
        println!(
            "| lm-eval {} hf (torch {}) | {:.2} | {:.1} | 1.00× |",
            t["lm_eval"].as_str().unwrap_or("?"),
            t["torch"].as_str().unwrap_or("?"),
            t["seconds"].as_f64().unwrap_or(0.0),
            t["docs_per_s"].as_f64().unwrap_or(0.0)
        );
    }
    println!("metrics: glassbox {shared_m}");
    if let Some(t) = &theirs {
        println!("         lm-eval  {}", t["metrics"]);
    }
    Ok(())
}
