//! The runs pages' JSON endpoints: trace a document id or a sentence, load a checkpoint into the
//! playground, check a bundle's hashes. Paths are relative to the runs folder and never leave it.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use glassbox_release::trace::{self, Source};
use serde_json::{Value, json};

use super::read::{Kind, kind};
use super::{MAX_TRACE_CHARS, inside};
use crate::error::ApiError;
use crate::routes::Shared;

/// Most documents a sentence is traced to.
const MAX_TRACE_DOCS: usize = 20;

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
