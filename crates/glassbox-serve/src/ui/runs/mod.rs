//! The runs pages (`glassbox serve --runs DIR`): `/runs` lists the training runs and release
//! bundles in the folder (and one level down, as the quickstart writes them); `/runs/view?path=…`
//! shows one — its loss, held-out and learning-rate curves and evaluation curves (drawn by
//! `run.js` from the data the page carries), the checkpoint timeline with each checkpoint's
//! samples and a button that loads it into the playground, the datasheet, a box that traces a
//! document id or a sentence to the steps and first checkpoint that saw it, and for a bundle its
//! replay record and a button that checks its hashes.
//!
//! A run is read as it is on disk, however far it got: a missing or cut-off log, a missing
//! checkpoint index, a checkpoint without its `state.json` or a leftover temporary checkpoint
//! are listed as problems on the page, never errors. Paths in requests are relative to the runs
//! folder and never leave it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use glassbox_audit::html::{escape as esc, url_encode as enc};
use serde_json::{Value, json};

use crate::routes::Shared;

mod api;
mod read;

pub(crate) use api::{load_api, trace_api, verify_api};
use read::{Kind, collect, kind, scan, summary};

/// Most entries the list shows.
const MAX_ENTRIES: usize = 500;
/// Longest text the trace box takes.
pub(crate) const MAX_TRACE_CHARS: usize = 4096;

/// The runs folder, or the page saying there is none.
fn root(s: &Shared) -> Result<PathBuf, Box<Response>> {
    s.runs.clone().ok_or_else(|| {
        Box::new(page(
            StatusCode::NOT_FOUND,
            "Runs",
            "<h1>Runs</h1><p class=\"error\" role=\"alert\" id=\"error\">This server lists no runs: start it with <code>--runs DIR</code>.</p>",
        ))
    })
}

/// `rel` inside the runs folder, resolved; `None` when it is missing or outside.
fn inside(root: &Path, rel: &str) -> Option<PathBuf> {
    let p = root.join(rel).canonicalize().ok()?;
    p.starts_with(root).then_some(p)
}

/// The server's navigation and a page around `body`.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{} — glassbox</title>\
         <link rel=\"stylesheet\" href=\"/ui/style.css\"><script src=\"/ui/run.js\" defer></script></head><body>\
         <nav class=\"nav\" aria-label=\"Pages\"><b>glassbox</b><a href=\"/\">Playground</a>\
         <a href=\"/runs\" aria-current=\"page\">Runs</a><a href=\"/audit\">Openness report</a></nav>\
         <main class=\"page\">{body}</main></body></html>",
        esc(title)
    );
    super::with_headers(
        (status, html).into_response(),
        "text/html; charset=utf-8",
        super::CSP,
        "no-store",
    )
}

/// `GET /runs`.
pub(crate) async fn list(State(s): State<Shared>) -> Response {
    let root = match root(&s) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let r2 = root.clone();
    // Listing and reading each entry's summary is file I/O: off the async runtime.
    let found = tokio::task::spawn_blocking(move || {
        scan(&r2)
            .into_iter()
            .map(|(rel, k)| {
                let (steps, loss) = summary(&r2.join(&rel), k);
                (rel, k, steps, loss)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut body = String::from("<h1>Runs and releases</h1>");
    if found.is_empty() {
        body.push_str("<p id=\"empty\">No training run or release bundle in this folder (a run has <code>run.json</code> or <code>logs/train.jsonl</code>; a bundle <code>MANIFEST.json</code> and <code>release.json</code>).</p>");
    } else {
        body.push_str("<table id=\"runs\"><caption>Runs and bundles in the folder given with --runs</caption><tr><th>name</th><th>kind</th><th>steps</th><th>last loss</th></tr>");
        for (rel, k, steps, loss) in &found {
            let _ = write!(
                body,
                "<tr><td><a href=\"/runs/view?path={}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                enc(rel),
                esc(if rel.is_empty() { "." } else { rel }),
                k.word(),
                steps.map_or("—".into(), |v| v.to_string()),
                loss.map_or("—".into(), |v| format!("{v:.4}"))
            );
        }
        body.push_str("</table>");
        if found.len() >= MAX_ENTRIES {
            let _ = write!(body, "<p>Only the first {MAX_ENTRIES} are listed.</p>");
        }
    }
    page(StatusCode::OK, "Runs", &body)
}

fn fmt_opt(v: Option<&Value>, digits: usize) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) => format!("{x:.digits$}"),
        None => "—".into(),
    }
}

/// `GET /runs/view?path=…`.
pub(crate) async fn view(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let root = match root(&s) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let rel = q.get("path").cloned().unwrap_or_default();
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            "Run",
            &format!(
                "<h1>Run</h1><p class=\"error\" role=\"alert\" id=\"error\">No run or bundle <code>{}</code> in the runs folder.</p>",
                esc(&rel)
            ),
        )
    };
    let Some(dir) = inside(&root, &rel) else {
        return not_found();
    };
    let Some(k) = kind(&dir) else {
        return not_found();
    };
    let d2 = dir.clone();
    let Ok(d) = tokio::task::spawn_blocking(move || collect(&d2, k)).await else {
        return not_found();
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{} <small>({}: <code>{}</code>)</small></h1>",
        esc(&d.name),
        k.word(),
        esc(if rel.is_empty() { "." } else { &rel })
    );
    if !d.problems.is_empty() {
        b.push_str("<section id=\"problems\" aria-labelledby=\"problems-title\"><h2 id=\"problems-title\">Problems</h2><ul class=\"error\">");
        for p in &d.problems {
            let _ = write!(b, "<li>{}</li>", esc(p));
        }
        b.push_str("</ul></section>");
    }
    let _ = write!(
        b,
        "<p>{} steps planned · {} checkpoints · <a href=\"/audit?target={}\">openness report</a></p>",
        d.total_steps.map_or("?".into(), |v| v.to_string()),
        d.checkpoints.len(),
        enc(&dir.to_string_lossy())
    );
    if k == Kind::Bundle {
        b.push_str(
            "<section aria-labelledby=\"verify-title\"><h2 id=\"verify-title\">Verification</h2>",
        );
        match &d.verification {
            Some(v) => {
                let passed = v.pointer("/replay/passed").and_then(Value::as_bool) == Some(true);
                let failing: Vec<String> = v
                    .get("checks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|c| c.get("status").and_then(Value::as_str) == Some("failed"))
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c.get("name").and_then(Value::as_str).unwrap_or("?"),
                            c.get("summary").and_then(Value::as_str).unwrap_or("")
                        )
                    })
                    .collect();
                if passed && failing.is_empty() {
                    let _ = write!(
                        b,
                        "<p class=\"ok\">The publisher's replay record says the replay of steps {}–{} passed (<code>verification.json</code>).</p>",
                        v.pointer("/replay/from")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                        v.pointer("/replay/to").and_then(Value::as_u64).unwrap_or(0)
                    );
                } else {
                    let _ = write!(
                        b,
                        "<p class=\"error\" role=\"alert\">The recorded verification failed: {}</p>",
                        esc(&failing.join("; "))
                    );
                }
            }
            None => b.push_str(
                "<p>No replay record (<code>verification.json</code>) in the bundle.</p>",
            ),
        }
        let _ = write!(
            b,
            "<button type=\"button\" id=\"verify\" data-path=\"{}\">Check the hashes now</button><p id=\"verify-result\" role=\"status\"></p></section>",
            esc(&rel)
        );
    }
    // Curves (drawn by run.js from the data below).
    b.push_str("<section aria-labelledby=\"curves-title\"><h2 id=\"curves-title\">Curves</h2>\
        <label class=\"check\"><input type=\"checkbox\" id=\"logx\"> Logarithmic steps (step + 1)</label>\
        <div class=\"charts\"><figure class=\"chart\" id=\"chart-loss\"><figcaption>Loss: training and held-out</figcaption></figure>\
        <figure class=\"chart\" id=\"chart-lr\"><figcaption>Learning rate</figcaption></figure>");
    for task in d.evals.keys() {
        let _ = write!(
            b,
            "<figure class=\"chart\" id=\"chart-eval-{}\" data-task=\"{}\"><figcaption>Evaluation: {}</figcaption></figure>",
            esc(task),
            esc(task),
            esc(task)
        );
    }
    b.push_str("</div></section>");
    // The checkpoint timeline.
    b.push_str("<section aria-labelledby=\"ck-title\"><h2 id=\"ck-title\">Checkpoints</h2><p id=\"load-status\" role=\"status\"></p><table id=\"checkpoints\"><tr><th>step</th><th>tokens seen</th><th>loss</th><th>held-out loss</th><th>sample</th><th>playground</th></tr>");
    for c in &d.checkpoints {
        let step = c.get("step").and_then(Value::as_u64).unwrap_or(0);
        let sample = d
            .samples
            .iter()
            .find(|(n, _)| *n == step)
            .map_or(String::new(), |(_, t)| esc(t));
        let valid = c.get("valid").and_then(Value::as_bool) == Some(true);
        let loadable = c.get("loadable").and_then(Value::as_bool) == Some(true);
        let button = if loadable {
            format!(
                "<button type=\"button\" class=\"load\" data-path=\"{}\" data-step=\"{step}\">Open step {step} in the playground</button>",
                esc(&rel)
            )
        } else {
            "not in this folder".into()
        };
        let _ = write!(
            b,
            "<tr{}><td>{step}{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"sample\">{sample}</td><td>{button}</td></tr>",
            if valid { "" } else { " class=\"invalid\"" },
            if valid || k == Kind::Bundle {
                ""
            } else {
                " (incomplete)"
            },
            c.get("tokens_seen")
                .and_then(Value::as_u64)
                .map_or("—".into(), |v| v.to_string()),
            fmt_opt(c.get("loss"), 4),
            fmt_opt(c.get("eval_loss"), 4),
        );
    }
    b.push_str("</table></section>");
    // Trace.
    let _ = write!(
        b,
        "<section aria-labelledby=\"trace-title\"><h2 id=\"trace-title\">Which steps saw it?</h2>\
         <form id=\"trace-form\" data-path=\"{}\"><label for=\"trace-query\">A document id (<code>source:position:hash</code>) or a sentence of the training data</label>\
         <textarea id=\"trace-query\" rows=\"3\" maxlength=\"{MAX_TRACE_CHARS}\"></textarea>\
         <button type=\"submit\">Trace</button></form><div id=\"trace-result\" role=\"status\"></div></section>",
        esc(&rel)
    );
    if let Some(sheet) = &d.datasheet {
        let _ = write!(
            b,
            "<section aria-labelledby=\"ds-title\"><h2 id=\"ds-title\">Datasheet</h2><details><summary>The dataset's datasheet</summary><pre class=\"datasheet\">{}</pre></details></section>",
            esc(sheet)
        );
    }
    let data = json!({
        "train": d.train, "eval": d.eval, "evals": d.evals,
    });
    // JSON inside a non-executed script element: `</` must not close it.
    let _ = write!(
        b,
        "<script type=\"application/json\" id=\"run-data\">{}</script>",
        data.to_string().replace("</", "<\\/")
    );
    page(StatusCode::OK, &d.name, &b)
}
