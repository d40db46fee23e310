//! The endpoints: OpenAI's `/v1/models`, `/v1/completions`, `/v1/chat/completions`, plus
//! `/tokenize`, `/detokenize`, `/tokenizer_info`, `/health` and `/metrics`; the web pages'
//! files (`crate::ui`) at `/` and `/ui/…`.
//!
//! This module holds the router, authentication, metrics and body reading; `generate` the
//! parts both generation endpoints share (sampling fields, submission to the scheduler,
//! collecting and streaming events); `completions`, `chat` and `tokens` the endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::metrics::Gauges;
use crate::params::Body;
use crate::state::AppState;

mod chat;
mod completions;
mod generate;
mod tokens;

use chat::chat;
use completions::completions;
use tokens::{detokenize, tokenize, tokenizer_info};

pub(super) type Shared = Arc<AppState>;

/// The router over `state`.
pub fn app(state: Shared) -> Router {
    crate::ui::asset_routes(Router::new())
        .route("/runs", get(crate::ui::runs::list))
        .route("/runs/view", get(crate::ui::runs::view))
        .route("/ui/api/trace", post(crate::ui::runs::trace_api))
        .route("/ui/api/load", post(crate::ui::runs::load_api))
        .route("/ui/api/verify", post(crate::ui::runs::verify_api))
        .route("/ui/key", post(crate::ui::set_key))
        .route("/audit", get(crate::ui::audit::page))
        .route("/ui/file", get(crate::ui::audit::file))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/tokenizer_info", get(tokenizer_info))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Authentication (every endpoint but `/health` and the web pages) and request metrics.
async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let path = req.uri().path().to_string();
    if path != "/health"
        && !crate::ui::is_open(&path)
        && let Some(key) = &s.api_key
    {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|k| constant_time_eq(k.as_bytes(), key.as_bytes()));
        let ok = bearer || crate::ui::has_key_cookie(req.headers(), key);
        if !ok {
            // A browser opening a page is asked for the key; API clients get OpenAI's error.
            let r = if crate::ui::wants_page(&req) {
                crate::ui::key_page()
            } else {
                ApiError::unauthorized().into_response()
            };
            s.metrics.request(
                &endpoint(&path),
                r.status().as_u16(),
                t0.elapsed().as_secs_f64(),
            );
            return r;
        }
    }
    let r = next.run(req).await;
    let done = Finished {
        s: s.clone(),
        endpoint: endpoint(&path),
        status: r.status().as_u16(),
        t0,
    };
    let streaming = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !streaming {
        return r;
    }
    // A stream's request ends with its last event, or when the client leaves: when the body is
    // dropped, which the guard carried inside it sees.
    let (parts, body) = r.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _carried = &done;
        chunk
    });
    Response::from_parts(parts, HttpBody::from_stream(body))
}

/// Records a request in the metrics when dropped: at once for whole answers, at the end of the
/// body for streams.
struct Finished {
    s: Shared,
    endpoint: String,
    status: u16,
    t0: Instant,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.s
            .metrics
            .request(&self.endpoint, self.status, self.t0.elapsed().as_secs_f64());
    }
}

fn endpoint(path: &str) -> String {
    match path {
        "/health"
        | "/metrics"
        | "/v1/models"
        | "/v1/completions"
        | "/v1/chat/completions"
        | "/tokenize"
        | "/detokenize"
        | "/tokenizer_info" => path.to_string(),
        p if crate::ui::is_open(p)
            || p == "/audit"
            || p == "/ui/file"
            || p.starts_with("/runs")
            || p.starts_with("/ui/api/") =>
        {
            "ui".into()
        }
        _ => "other".into(),
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(req: Request) -> ApiError {
    ApiError::invalid(
        None,
        format!("no endpoint {} {}", req.method(), req.uri().path()),
    )
    .status(StatusCode::NOT_FOUND)
    .code("not_found")
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    let mut g = Gauges::default();
    for m in s.all_models() {
        let st = m.scheduler.stats();
        g.queued += st.queued.load(Ordering::Relaxed);
        g.running += st.active.load(Ordering::Relaxed);
        let gap = st.max_decode_gap_us.load(Ordering::Relaxed) as f64 / 1e6;
        g.max_decode_gap_seconds = g.max_decode_gap_seconds.max(gap);
        g.panics += st.panics.load(Ordering::Relaxed);
        g.expired += st.expired.load(Ordering::Relaxed);
        g.dead_schedulers += usize::from(st.crashed.load(Ordering::Relaxed));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(g),
    )
}

async fn models(State(s): State<Shared>) -> impl IntoResponse {
    let data: Vec<Value> = s
        .all_models()
        .iter()
        .map(|m| {
            json!({"id": m.name, "object": "model", "created": m.created, "owned_by": "glassbox",
                   "max_model_len": m.engine.model.config().max_position_embeddings})
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data}))
}

/// Reads the body within the size and time limits.
pub(crate) async fn read_body(s: &AppState, body: HttpBody) -> Result<Body, ApiError> {
    let limit = s.limits.max_body_bytes;
    let bytes: Bytes = match tokio::time::timeout(
        s.limits.body_timeout,
        axum::body::to_bytes(body, limit),
    )
    .await
    {
        Err(_) => {
            return Err(ApiError::invalid(
                None,
                format!(
                    "the request body did not arrive within {} s",
                    s.limits.body_timeout.as_secs()
                ),
            )
            .status(StatusCode::REQUEST_TIMEOUT)
            .code("body_timeout"));
        }
        Ok(Err(e)) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|c| c.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            return Err(if too_big {
                ApiError::invalid(
                    None,
                    format!(
                        "the request body exceeds the limit of {limit} bytes (--max-body-bytes)"
                    ),
                )
                .status(StatusCode::PAYLOAD_TOO_LARGE)
                .code("body_too_large")
            } else {
                ApiError::invalid(None, format!("the request body could not be read: {e}"))
            });
        }
        Ok(Ok(b)) => b,
    };
    Body::parse(&bytes)
}

static SEEDS: AtomicU64 = AtomicU64::new(0);

/// A seed for a request that gave none: different every time, as OpenAI's.
pub(super) fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ SEEDS.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

pub(super) fn new_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", fresh_seed())
}
