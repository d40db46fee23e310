//! Every checkpoint of a run: each task evaluated on each checkpoint of a
//! [`CheckpointSeries`] (a glassbox run, a bundle's checkpoints, or a directory of Hub
//! revisions such as Pythia's `stepN`), results cached by the checkpoint's weights and the
//! task, one JSON line per checkpoint in `<task>.jsonl`, and the curves as `<task>.svg` (metric
//! against training tokens seen, log scale).

use std::fmt::Write as _;
use std::path::Path;

use candle_core::Device;
use glassbox_infer::Engine;
use glassbox_model::checkpoints::{Checkpoint, CheckpointSeries};
use serde_json::{Value, json};

use crate::evaluate::{EvalOptions, TaskResult, evaluate};
use crate::task::TaskConfig;
use crate::{EvalError, Result};

/// What one checkpoint scored on one task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Optimiser steps.
    pub step: u64,
    /// Training tokens seen (when known).
    pub tokens: Option<u64>,
    /// The checkpoint's name.
    pub checkpoint: String,
    /// SHA-256 over the checkpoint's weight files.
    pub weights_sha256: String,
    /// Metric → value.
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// Whether the result came from the cache.
    #[serde(skip_deserializing, default)]
    pub cached: bool,
}

/// SHA-256 over the names and hashes of the `*.safetensors` files of `dir` (optimizer state
/// left out): [`glassbox_model::checkpoints::weights_sha256`].
pub fn weights_sha256(dir: &Path) -> Result<String> {
    Ok(glassbox_model::checkpoints::weights_sha256(dir)?)
}

/// Training tokens a glassbox checkpoint records (`state.json` `tokens_seen`), else what its
/// revision name says.
fn tokens_of(c: &Checkpoint) -> Option<u64> {
    glassbox_core::fsio::read_json::<Value>(&c.dir.join("state.json"))
        .ok()
        .and_then(|s| s.get("tokens_seen").and_then(Value::as_u64))
        .or(c.tokens)
}

/// The identity of a task run: the YAML, its documents and the options (so a changed task or
/// data file is evaluated again).
fn task_key(task: &TaskConfig, opts: &EvalOptions) -> Result<String> {
    let yaml = std::fs::read(&task.path).map_err(|e| task.err(format!("cannot read: {e}")))?;
    let docs = serde_json::to_vec(&task.docs(task.eval_split()?)?).unwrap_or_default();
    let pool = task
        .fewshot_pool_split()
        .map(|s| task.docs(s))
        .transpose()?
        .map(|d| serde_json::to_vec(&d).unwrap_or_default())
        .unwrap_or_default();
    let o = format!(
        "{}|{:?}|{}|{:?}|{:?}",
        env!("CARGO_PKG_VERSION"),
        opts.num_fewshot,
        opts.fewshot_seed,
        opts.limit,
        opts.max_length
    );
    let mut all = yaml;
    all.extend_from_slice(&docs);
    all.extend_from_slice(&pool);
    all.extend_from_slice(o.as_bytes());
    Ok(glassbox_core::hash::sha256_hex(&all))
}

/// Evaluates `tasks` on the checkpoints of `series` (every one, or those whose step is a
/// multiple of `every`, plus the last), writing `<task>.jsonl`, `<task>.svg` and the cache under
/// `out`. `progress` gets (checkpoint, task, cached).
///
/// Checkpoints that are LoRA adapters (an `adapter_config.json`, as a LoRA run writes them) are
/// evaluated on `base` with the adapter applied; their cache key covers the base's weights too.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_series(
    series: &CheckpointSeries,
    tasks: &[TaskConfig],
    opts: &EvalOptions,
    every: Option<u64>,
    base: Option<&Path>,
    out: &Path,
    progress: &mut dyn FnMut(&Checkpoint, &str, bool),
) -> Result<Vec<(String, Vec<Point>)>> {
    let base_sha = base.map(weights_sha256).transpose()?;
    let cache = out.join("cache");
    std::fs::create_dir_all(&cache)
        .map_err(|e| EvalError::Request(format!("{}: {e}", cache.display())))?;
    let last = series.checkpoints().last().map(|c| c.step);
    let chosen: Vec<&Checkpoint> = series
        .checkpoints()
        .iter()
        .filter(|c| every.is_none_or(|n| n == 0 || c.step % n == 0 || Some(c.step) == last))
        .collect();
    let keys: Vec<String> = tasks
        .iter()
        .map(|t| task_key(t, opts))
        .collect::<Result<_>>()?;
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); tasks.len()];
    for c in chosen {
        let adapter = c.dir.join("adapter_config.json").is_file();
        let sha = match (adapter, &base_sha) {
            (false, _) => weights_sha256(&c.dir)?,
            (true, Some(b)) => glassbox_core::hash::sha256_hex(
                format!("adapter {}\nbase {b}\n", weights_sha256(&c.dir)?).as_bytes(),
            ),
            (true, None) => {
                return Err(EvalError::Request(format!(
                    "{}: a LoRA adapter checkpoint; the base model it adapts is needed (a run records it in run.json `init`; else give --base DIR)",
                    c.dir.display()
                )));
            }
        };
        let mut engine: Option<Engine> = None;
        for (ti, task) in tasks.iter().enumerate() {
            let file = cache.join(format!("{}-{}.json", &sha[..16], &keys[ti][..16]));
            let (result, cached) = match glassbox_core::fsio::read_json::<Value>(&file) {
                Ok(v) if v.get("weights_sha256").and_then(Value::as_str) == Some(sha.as_str()) => (
                    serde_json::from_value::<std::collections::BTreeMap<String, f64>>(
                        v["metrics"].clone(),
                    )
                    .ok(),
                    true,
                ),
                _ => (None, false),
            };
            let metrics = match result {
                Some(m) => m,
                None => {
                    if engine.is_none() {
                        engine = Some(match (adapter, base) {
                            (true, Some(b)) => {
                                let mut e = Engine::load(b, &Device::Cpu)?;
                                let ad = glassbox_model::Adapter::load(&c.dir, &Device::Cpu)?;
                                e.model.apply_adapter(&ad)?;
                                e
                            }
                            _ => Engine::load(&c.dir, &Device::Cpu)?,
                        });
                    }
                    let Some(e) = engine.as_ref() else { continue };
                    let r: TaskResult = evaluate(task, e, opts)?;
                    glassbox_core::fsio::write_json_atomic(
                        &file,
                        &json!({"weights_sha256": sha, "task_key": keys[ti], "metrics": r.metrics, "docs": r.docs, "truncated": r.truncated}),
                    )?;
                    r.metrics
                }
            };
            progress(c, &task.task, cached);
            points[ti].push(Point {
                step: c.step,
                tokens: tokens_of(c),
                checkpoint: c.name.clone(),
                weights_sha256: sha.clone(),
                metrics,
                cached,
            });
        }
    }
    let mut out_all = Vec::new();
    for (task, pts) in tasks.iter().zip(points) {
        let mut lines = String::new();
        for p in &pts {
            lines.push_str(&serde_json::to_string(&json!({
                "schema_version": 1, "task": task.task, "step": p.step, "tokens": p.tokens,
                "checkpoint": p.checkpoint, "weights_sha256": p.weights_sha256, "metrics": p.metrics,
            })).unwrap_or_default());
            lines.push('\n');
        }
        glassbox_core::fsio::atomic_write(
            &out.join(format!("{}.jsonl", task.task)),
            lines.as_bytes(),
        )?;
        glassbox_core::fsio::atomic_write(
            &out.join(format!("{}.svg", task.task)),
            curves_svg(&task.task, &pts).as_bytes(),
        )?;
        out_all.push((task.task.clone(), pts));
    }
    Ok(out_all)
}

/// Each metric against training tokens (or steps when tokens are unknown), log x; the first
/// checkpoint (step 0) sits at the left edge.
pub fn curves_svg(title: &str, pts: &[Point]) -> String {
    let (w, h) = (720.0, 420.0);
    let (left, right, top, bottom) = (64.0, 160.0, 36.0, 48.0);
    let by_tokens = pts.iter().all(|p| p.tokens.is_some());
    let xv = |p: &Point| if by_tokens { p.tokens.unwrap_or(0) } else { p.step } as f64;
    let pos: Vec<f64> = pts.iter().map(xv).filter(|x| *x > 0.0).collect();
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let hi = pos.iter().copied().fold(1.0, f64::max).max(lo * 10.0);
    let (l0, l1) = ((lo / 2.0).log10(), hi.log10());
    let x = |v: f64| left + ((v.max(lo / 2.0)).log10() - l0) / (l1 - l0) * (w - left - right);
    let names: std::collections::BTreeSet<&String> =
        pts.iter().flat_map(|p| p.metrics.keys()).collect();
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>"
    );
    let _ = write!(
        o,
        "<text x=\"{left}\" y=\"22\" font-size=\"14\">{} — each metric scaled to its own range</text>",
        escape(title)
    );
    let _ = write!(
        o,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - right,
        h - bottom
    );
    let mut d = 1.0f64;
    while d <= hi * 1.0001 {
        if d >= lo / 2.0 {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(d),
                h - bottom + 16.0,
                human(d)
            );
        }
        d *= 10.0;
    }
    let _ = write!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} (log scale)</text>",
        (left + w - right) / 2.0,
        h - 8.0,
        if by_tokens { "training tokens" } else { "step" }
    );
    for (k, name) in names.iter().enumerate() {
        let vals: Vec<(f64, f64)> = pts
            .iter()
            .filter_map(|p| p.metrics.get(*name).map(|v| (xv(p), *v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let (vmin, vmax) = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, v)| {
                (a.min(*v), b.max(*v))
            });
        let span = if vmax - vmin > 1e-12 {
            vmax - vmin
        } else {
            1.0
        };
        let y = |v: f64| top + (1.0 - (v - vmin) / span) * (h - top - bottom);
        let c = colours[k % colours.len()];
        let path: Vec<String> = vals
            .iter()
            .map(|(a, v)| format!("{:.1},{:.1}", x(*a), y(*v)))
            .collect();
        let _ = write!(
            o,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (a, v) in &vals {
            let _ = write!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"><title>{}: {v:.4}</title></circle>",
                x(*a),
                y(*v),
                escape(name)
            );
        }
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" fill=\"{c}\">{} {:.3}–{:.3}</text>",
            w - right + 8.0,
            top + 16.0 * (k as f64 + 1.0),
            escape(name),
            vmin,
            vmax
        );
    }
    o.push_str("</svg>\n");
    o
}

fn human(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{}G", v / 1e9),
        v if v >= 1e6 => format!("{}M", v / 1e6),
        v if v >= 1e3 => format!("{}k", v / 1e3),
        v => format!("{v}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
