//! The checkpoint evaluations (`glassbox eval --run`, carried in `evals/`) in the model card's
//! `model-index`, its Evaluation section and the paper's results.

use std::fmt::Write as _;

use serde_json::Value;

/// One task's points, one per checkpoint, in step order (`evals/<task>.jsonl`).
pub(crate) type Curve = (String, Vec<Value>);

/// Reads `evals/<task>.jsonl` of every task in `tasks` from the bundle `b`; tasks whose file
/// is missing or holds no point are skipped.
pub(crate) fn read_curves(b: &std::path::Path, tasks: &[String]) -> Vec<Curve> {
    tasks
        .iter()
        .filter_map(|t| {
            let text = std::fs::read_to_string(b.join("evals").join(format!("{t}.jsonl"))).ok()?;
            let mut points: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            points.sort_by_key(|p| p.get("step").and_then(Value::as_u64).unwrap_or(0));
            (!points.is_empty()).then(|| (t.clone(), points))
        })
        .collect()
}

fn metrics(p: &Value) -> Vec<(String, f64)> {
    p.get("metrics")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
        .collect()
}

fn step(p: &Value) -> u64 {
    p.get("step").and_then(Value::as_u64).unwrap_or(0)
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `model-index` results (YAML list items, indented for `results:`) for the last checkpoint of
/// every curve.
pub(crate) fn model_index_results(curves: &[Curve]) -> String {
    let mut s = String::new();
    for (task, points) in curves {
        let Some(last) = points.last() else { continue };
        let ms = metrics(last);
        if ms.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "  - task:\n      type: text-generation\n      name: {}\n    dataset:\n      name: {}\n      type: {}\n      split: test\n    metrics:\n",
            yaml_str(task),
            yaml_str(&format!(
                "{task}: glassbox eval task (evals/tasks/{task}.jsonl)"
            )),
            yaml_str(&format!("glassbox-eval-{task}")),
        );
        for (k, v) in ms {
            let _ = write!(
                s,
                "    - type: {}\n      name: {}\n      value: {}\n",
                yaml_str(&k),
                yaml_str(&format!("{k} at step {}", step(last))),
                fmt(v)
            );
        }
    }
    s
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// The card's table: every task and metric at the first and the last checkpoint.
pub(crate) fn card_table(curves: &[Curve]) -> String {
    let mut s =
        String::from("| task | metric | first checkpoint | last checkpoint |\n|---|---|---|---|\n");
    for (task, points) in curves {
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        let f = metrics(first);
        for (k, v) in metrics(last) {
            let a = f.iter().find(|(n, _)| *n == k).map(|x| x.1);
            let _ = writeln!(
                s,
                "| {task} | {k} | {} (step {}) | {} (step {}) |",
                a.map_or("–".into(), fmt),
                step(first),
                fmt(v),
                step(last)
            );
        }
    }
    s
}

/// The paper's subsection: per task, every checkpoint's metrics and the curve.
pub(crate) fn paper_section(curves: &[Curve]) -> String {
    if curves.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n### Every checkpoint\n\nEach checkpoint evaluated with `glassbox eval --run` (results in `evals/<task>.jsonl`; \
tokens are training tokens seen; the built-in tasks, made from the held-out documents, are in `evals/tasks/`):\n",
    );
    for (task, points) in curves {
        let names: Vec<String> = points
            .last()
            .map(|p| metrics(p).into_iter().map(|m| m.0).collect())
            .unwrap_or_default();
        let _ = write!(
            s,
            "\n**{task}** (![{task}](../evals/{task}.svg))\n\n| step | tokens | {} |\n|---|---|{}\n",
            names.join(" | "),
            "---|".repeat(names.len())
        );
        for p in points {
            let m = metrics(p);
            let vals: Vec<String> = names
                .iter()
                .map(|n| {
                    m.iter()
                        .find(|x| &x.0 == n)
                        .map_or("–".into(), |x| fmt(x.1))
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                step(p),
                p.get("tokens")
                    .and_then(Value::as_u64)
                    .map_or("–".into(), |t| t.to_string()),
                vals.join(" | ")
            );
        }
    }
    s
}
