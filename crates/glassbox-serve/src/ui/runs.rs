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

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use glassbox_audit::html::{escape as esc, url_encode as enc};
use glassbox_release::trace::{self, Source};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::routes::Shared;

/// Most entries the list shows.
const MAX_ENTRIES: usize = 500;
/// Most points of one curve sent to the page (longer logs are thinned evenly, last kept).
const MAX_POINTS: usize = 4000;
/// Longest text the trace box takes.
pub(crate) const MAX_TRACE_CHARS: usize = 4096;
/// Most documents a sentence is traced to.
const MAX_TRACE_DOCS: usize = 20;

/// What a folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Run,
    Bundle,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Bundle => "bundle",
        }
    }
}

fn kind(dir: &Path) -> Option<Kind> {
    if dir.join("MANIFEST.json").is_file() && dir.join("release.json").is_file() {
        Some(Kind::Bundle)
    } else if dir.join("run.json").is_file()
        || dir.join("logs/train.jsonl").is_file()
        || (dir.join("recipe.toml").is_file() && dir.join("checkpoints").is_dir())
    {
        Some(Kind::Run)
    } else {
        None
    }
}

/// The runs folder, or the page saying there is none.
fn root(s: &Shared) -> Result<PathBuf, Box<Response>> {
    s.runs.clone().ok_or_else(|| {
        Box::new(page(
            s,
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
fn page(_s: &Shared, status: StatusCode, title: &str, body: &str) -> Response {
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
    let found = tokio::task::spawn_blocking(move || scan(&r2))
        .await
        .unwrap_or_default();
    let mut body = String::from("<h1>Runs and releases</h1>");
    if found.is_empty() {
        body.push_str("<p id=\"empty\">No training run or release bundle in this folder (a run has <code>run.json</code> or <code>logs/train.jsonl</code>; a bundle <code>MANIFEST.json</code> and <code>release.json</code>).</p>");
    } else {
        body.push_str("<table id=\"runs\"><caption>Runs and bundles in the folder given with --runs</caption><tr><th>name</th><th>kind</th><th>steps</th><th>last loss</th></tr>");
        for (rel, k) in &found {
            let dir = root.join(rel);
            let (steps, loss) = summary(&dir, *k);
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
    page(&s, StatusCode::OK, "Runs", &body)
}

/// The runs and bundles at the root, its children and grandchildren (relative paths, sorted).
fn scan(root: &Path) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    let mut walk = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = walk.pop() {
        if out.len() >= MAX_ENTRIES {
            break;
        }
        if let Some(k) = kind(&dir) {
            let rel = dir
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((rel, k));
            continue;
        }
        if depth >= 2 {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk.push((e.path(), depth + 1));
            }
        }
    }
    out.sort();
    out
}

/// Steps and last training loss, from what is on disk.
fn summary(dir: &Path, k: Kind) -> (Option<u64>, Option<f64>) {
    let json = |p: &str| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(dir.join(p)).ok()?).ok()
    };
    let steps = match k {
        Kind::Bundle => json("release.json").and_then(|v| v.get("final_step")?.as_u64()),
        Kind::Run => json("run.json").and_then(|v| v.get("total_steps")?.as_u64()),
    };
    let loss = std::fs::read_to_string(dir.join("logs/train.jsonl"))
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok()?.get("loss")?.as_f64())
        });
    (steps, loss)
}

/// Everything the run page shows.
#[derive(Default)]
struct RunData {
    name: String,
    problems: Vec<String>,
    train: Vec<Value>,
    eval: Vec<Value>,
    evals: serde_json::Map<String, Value>,
    checkpoints: Vec<Value>,
    samples: Vec<(u64, String)>,
    datasheet: Option<String>,
    verification: Option<Value>,
    total_steps: Option<u64>,
}

/// The records of a JSON-lines log; a line that is not JSON (a run cut off mid-write) is a
/// problem, and reading goes on.
fn jsonl(dir: &Path, rel: &str, problems: &mut Vec<String>) -> Vec<Value> {
    let text = match std::fs::read_to_string(dir.join(rel)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.push(format!("{rel}: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push(v),
            Err(e) => problems.push(format!(
                "{rel} line {}: not a JSON record ({e}); the run may still be writing it, or was cut off",
                i + 1
            )),
        }
    }
    out
}

/// `points`, thinned evenly to at most [`MAX_POINTS`] (the last one kept).
fn thin(points: Vec<Value>) -> Vec<Value> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let stride = points.len().div_ceil(MAX_POINTS);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % stride == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

fn collect(dir: &Path, k: Kind) -> RunData {
    let mut d = RunData::default();
    let p = &mut d.problems;
    let read_json = |rel: &str, p: &mut Vec<String>| -> Option<Value> {
        match std::fs::read(dir.join(rel)) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(v) => Some(v),
                Err(e) => {
                    p.push(format!("{rel}: not valid JSON ({e})"));
                    None
                }
            },
            Err(_) => None,
        }
    };
    let info = match k {
        Kind::Bundle => read_json("release.json", p),
        Kind::Run => {
            let v = read_json("run.json", p);
            if v.is_none() {
                p.push(
                    "no run.json: the run has not started properly, or this is not its folder"
                        .into(),
                );
            }
            v
        }
    };
    d.total_steps = info.as_ref().and_then(|v| {
        v.get("total_steps")
            .or_else(|| v.get("final_step"))
            .and_then(Value::as_u64)
    });
    d.name = info
        .as_ref()
        .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .or_else(|| {
            let t = std::fs::read_to_string(dir.join("recipe.toml")).ok()?;
            let r: toml::Value = toml::from_str(&t).ok()?;
            r.get("release")?.get("name")?.as_str().map(str::to_string)
        })
        .unwrap_or_else(|| {
            dir.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned())
        });
    if !dir.join("logs/train.jsonl").is_file() {
        p.push("no logs/train.jsonl: no training step has been logged".into());
    }
    d.train = thin(
        jsonl(dir, "logs/train.jsonl", p)
            .into_iter()
            .filter_map(|v| {
                Some(json!([
                    v.get("step")?.as_u64()?,
                    v.get("loss")?.as_f64()?,
                    v.get("lr").and_then(Value::as_f64),
                    v.get("tokens_seen").and_then(Value::as_u64)
                ]))
            })
            .collect(),
    );
    d.eval = thin(
        jsonl(dir, "logs/eval.jsonl", p)
            .into_iter()
            .filter_map(|v| Some(json!([v.get("step")?.as_u64()?, v.get("loss")?.as_f64()?])))
            .collect(),
    );
    if let Ok(rd) = std::fs::read_dir(dir.join("evals")) {
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for f in files {
            let task = f
                .file_stem()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let rel = format!("evals/{task}.jsonl");
            let points: Vec<Value> = jsonl(dir, &rel, p)
                .into_iter()
                .filter_map(|v| Some(json!([v.get("step")?.as_u64()?, v.get("metrics")?.clone()])))
                .collect();
            if !points.is_empty() {
                d.evals.insert(task, Value::Array(points));
            }
        }
    }
    // Checkpoints: the index, else the folders; each checked for its state.json.
    let index = read_json("checkpoints/index.json", p);
    let mut cks: Vec<Value> = index
        .as_ref()
        .and_then(|v| v.get("checkpoints")?.as_array().cloned())
        .unwrap_or_default();
    let folders: Vec<(u64, String)> = std::fs::read_dir(dir.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(".tmp-step-") {
                p.push(format!(
                    "checkpoints/{n}: a checkpoint being written, or left by a crash (resuming removes it)"
                ));
                return None;
            }
            let step = n.strip_prefix("step-")?.parse::<u64>().ok()?;
            Some((step, format!("checkpoints/{n}")))
        })
        .collect();
    if index.is_none() && !folders.is_empty() {
        p.push("no checkpoints/index.json: the checkpoints are listed from their folders".into());
        cks = folders
            .iter()
            .map(|(step, dir)| json!({"step": step, "dir": dir}))
            .collect();
    }
    cks.sort_by_key(|c| c.get("step").and_then(Value::as_u64).unwrap_or(0));
    for c in &mut cks {
        let rel = c
            .get("dir")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let valid = !rel.is_empty() && dir.join(&rel).join("state.json").is_file();
        if !valid && k == Kind::Run {
            p.push(format!(
                "{rel}: no state.json — a checkpoint is valid only once its state.json is written"
            ));
        }
        c["valid"] = json!(valid);
        c["loadable"] = json!(dir.join(&rel).join("model.safetensors").is_file());
    }
    d.checkpoints = cks;
    // Samples: `- step N: text` lines of samples/samples.md.
    if let Ok(t) = std::fs::read_to_string(dir.join("samples/samples.md")) {
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("- step ")
                && let Some((n, text)) = rest.split_once(": ")
                && let Ok(n) = n.trim().parse::<u64>()
            {
                d.samples.push((n, text.to_string()));
            }
        }
    }
    // The datasheet: the bundle's, or the one of the dataset the run names.
    let sheet = match k {
        Kind::Bundle => Some(dir.join("data/datasheet.md")),
        Kind::Run => info
            .as_ref()
            .and_then(|v| v.pointer("/dataset/path")?.as_str().map(PathBuf::from))
            .map(|p| p.join("datasheet.md")),
    };
    d.datasheet = sheet
        .and_then(|f| std::fs::read(f).ok())
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(512 * 1024)]).into_owned());
    if k == Kind::Bundle {
        d.verification = read_json("verification.json", p);
    }
    d
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
    let not_found = |s: &Shared| {
        page(
            s,
            StatusCode::NOT_FOUND,
            "Run",
            &format!(
                "<h1>Run</h1><p class=\"error\" role=\"alert\" id=\"error\">No run or bundle <code>{}</code> in the runs folder.</p>",
                esc(&rel)
            ),
        )
    };
    let Some(dir) = inside(&root, &rel) else {
        return not_found(&s);
    };
    let Some(k) = kind(&dir) else {
        return not_found(&s);
    };
    let d2 = dir.clone();
    let Ok(d) = tokio::task::spawn_blocking(move || collect(&d2, k)).await else {
        return not_found(&s);
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
    page(&s, StatusCode::OK, &d.name, &b)
}

/// The JSON body of a runs API request, with `path` resolved inside the runs folder.
async fn request(
    s: &Shared,
    req: Request,
) -> Result<(crate::params::Body, PathBuf, Kind), ApiError> {
    let b = crate::routes::read_body(s, req.into_body()).await?;
    let root = s
        .runs
        .clone()
        .ok_or_else(|| ApiError::invalid(None, "this server lists no runs (--runs DIR)"))?;
    let rel = b.str("path")?.unwrap_or("").to_string();
    let dir = inside(&root, &rel).ok_or_else(|| {
        ApiError::invalid(
            Some("path".to_string()),
            format!("no run or bundle `{rel}` in the runs folder"),
        )
    })?;
    let k = kind(&dir).ok_or_else(|| {
        ApiError::invalid(
            Some("path".to_string()),
            format!("`{rel}` is not a run or a bundle"),
        )
    })?;
    Ok((b, dir, k))
}

/// `POST /ui/api/trace` `{"path", "query"}`: a document id's trace, or the traces of the
/// documents holding a sentence.
pub(crate) async fn trace_api(State(s): State<Shared>, req: Request) -> Response {
    let (b, dir, k) = match request(&s, req).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let query = match b.str("query") {
        Ok(Some(q)) => q.trim().to_string(),
        Ok(None) => {
            return ApiError::invalid(Some("query".to_string()), "`query` is required")
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    if query.is_empty() {
        return ApiError::invalid(
            Some("query".to_string()),
            "paste a document id or a sentence",
        )
        .into_response();
    }
    if query.chars().count() > MAX_TRACE_CHARS {
        return ApiError::invalid(
            Some("query".to_string()),
            format!(
                "the text has {} characters; paste at most {MAX_TRACE_CHARS} (one sentence is enough)",
                query.chars().count()
            ),
        )
        .into_response();
    }
    let out = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let src = match k {
            Kind::Bundle => Source::Bundle(&dir),
            Kind::Run => Source::Run(&dir),
        };
        let is_id = {
            let parts: Vec<&str> = query.split(':').collect();
            parts.len() >= 3 && !query.contains(char::is_whitespace)
        };
        let ids = if is_id {
            vec![query.clone()]
        } else {
            trace::find_text(src, &query, MAX_TRACE_DOCS).map_err(|e| e.to_string())?
        };
        let mut docs = Vec::new();
        for id in &ids {
            let t = trace::document_at(src, id).map_err(|e| e.to_string())?;
            docs.push(json!({
                "id": t.id, "source": t.source, "split": t.span.get("split"),
                "first_step": t.first_step, "first_checkpoint": t.first_checkpoint,
                "steps": t.occurrences.iter().map(|o| o.step).collect::<std::collections::BTreeSet<_>>(),
                "tokens_trained": t.tokens_trained,
            }));
        }
        Ok(json!({"query": query, "by": if is_id { "id" } else { "text" }, "documents": docs, "limit": MAX_TRACE_DOCS}))
    })
    .await;
    match out {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(m)) => ApiError::invalid(Some("query".to_string()), m).into_response(),
        Err(e) => ApiError::invalid(None, e.to_string()).into_response(),
    }
}

/// `POST /ui/api/load` `{"path", "step"}`: loads a checkpoint as a model and names it.
pub(crate) async fn load_api(State(s): State<Shared>, req: Request) -> Response {
    let (b, dir, _) = match request(&s, req).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let step = match b.get("step").and_then(Value::as_u64) {
        Some(v) => v,
        None => {
            return ApiError::invalid(
                Some("step".to_string()),
                "`step` must be a checkpoint's step",
            )
            .into_response();
        }
    };
    let ck = dir.join(format!("checkpoints/step-{step:07}"));
    if !ck.join("model.safetensors").is_file() {
        return ApiError::invalid(
            Some("step".to_string()),
            format!("no checkpoint at step {step} in this folder"),
        )
        .into_response();
    }
    let run = dir
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    let name = match parent {
        Some(p) => format!("{p}/{run}@step-{step}"),
        None => format!("{run}@step-{step}"),
    };
    let s2 = s.clone();
    let n2 = name.clone();
    let out = tokio::task::spawn_blocking(move || s2.load_checkpoint(&n2, &ck)).await;
    match out {
        Ok(Ok(m)) => axum::Json(json!({"model": m.name})).into_response(),
        Ok(Err(e)) => ApiError::invalid(Some("step".to_string()), e).into_response(),
        Err(e) => ApiError::invalid(None, e.to_string()).into_response(),
    }
}

/// `POST /ui/api/verify` `{"path"}`: `glassbox verify` on a bundle without the replay and the
/// data re-derivation: every hash against `MANIFEST.json`, and the records' consistency.
pub(crate) async fn verify_api(State(s): State<Shared>, req: Request) -> Response {
    let (_, dir, k) = match request(&s, req).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    if k != Kind::Bundle {
        return ApiError::invalid(Some("path".to_string()), "only a bundle can be verified")
            .into_response();
    }
    let out = tokio::task::spawn_blocking(move || {
        let opts = glassbox_release::verify::VerifyOptions {
            corpus: Vec::new(),
            data: false,
            replay: false,
            from: None,
            to: None,
            record: false,
            base: None,
        };
        glassbox_release::verify::verify(&dir, &opts, &mut |_| {})
    })
    .await;
    match out {
        Ok(Ok(r)) => {
            let failed: Vec<Value> = r
                .checks
                .iter()
                .filter(|c| c.status == glassbox_release::verify::Status::Failed)
                .map(|c| json!({"check": c.name, "summary": c.summary, "details": c.details.iter().take(5).collect::<Vec<_>>()}))
                .collect();
            let ran: Vec<&str> = r.checks.iter().map(|c| c.name).collect();
            axum::Json(json!({"passed": r.passed, "checks": ran, "failed": failed})).into_response()
        }
        Ok(Err(e)) => axum::Json(json!({"passed": false, "checks": [], "failed": [{"check": "bundle", "summary": e.to_string(), "details": []}]})).into_response(),
        Err(e) => ApiError::invalid(None, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_curves_are_thinned_evenly_keeping_the_last_point() {
        let points: Vec<Value> = (0..10_001).map(|i| json!([i, 1.0])).collect();
        let t = thin(points);
        assert!(t.len() <= MAX_POINTS + 1, "{}", t.len());
        assert_eq!(t.first(), Some(&json!([0, 1.0])));
        assert_eq!(t.last(), Some(&json!([10_000, 1.0])));
        let short: Vec<Value> = (0..10).map(|i| json!([i, 1.0])).collect();
        assert_eq!(thin(short.clone()), short);
    }

    #[test]
    fn folders_are_runs_bundles_or_neither_and_paths_stay_inside() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = d.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let mk = |p: &str, body: &str| {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap_or(&root)).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(f, body).unwrap_or_else(|e| panic!("{e}"));
        };
        mk("a/run/run.json", "{}");
        mk("b/MANIFEST.json", "{}");
        mk("b/release.json", "{}");
        mk("c/notes.txt", "");
        mk("d/logs/train.jsonl", "{\"step\":1,\"loss\":2.0}\n{\"st");
        assert_eq!(
            scan(&root),
            vec![
                ("a/run".to_string(), Kind::Run),
                ("b".to_string(), Kind::Bundle),
                ("d".to_string(), Kind::Run)
            ]
        );
        assert!(inside(&root, "a/run").is_some());
        assert!(inside(&root, "../").is_none());
        assert!(inside(&root, "nope").is_none());
        let data = collect(&root.join("d"), Kind::Run);
        assert_eq!(data.train, vec![json!([1, 2.0, null, null])]);
        assert!(
            data.problems
                .iter()
                .any(|p| p.contains("line 2: not a JSON record")),
            "{:?}",
            data.problems
        );
        assert!(
            data.problems.iter().any(|p| p.contains("no run.json")),
            "{:?}",
            data.problems
        );
    }
}
