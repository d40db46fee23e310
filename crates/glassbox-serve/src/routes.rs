//! The endpoints: OpenAI's `/v1/models`, `/v1/completions`, `/v1/chat/completions`, plus
//! `/tokenize`, `/detokenize`, `/tokenizer_info`, `/health` and `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream, StreamExt};
use glassbox_infer::scheduler::{Job, JobEvent, SubmitError, TokenLogprob};
use glassbox_infer::{FinishReason, SamplingParams};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::params::{Body, kind};
use crate::state::{AppState, ModelEntry, now};

type Shared = Arc<AppState>;

/// A token, its log-probability (none for a prompt's first token) and the alternatives.
type LogprobEntry = (u32, Option<f64>, Option<Vec<(u32, f64)>>);

/// The router over `state`.
pub fn app(state: Shared) -> Router {
    Router::new()
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

/// Authentication (every endpoint but `/health`) and request metrics.
async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let path = req.uri().path().to_string();
    if path != "/health"
        && let Some(key) = &s.api_key
    {
        let ok = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|k| constant_time_eq(k.as_bytes(), key.as_bytes()));
        if !ok {
            let r = ApiError::unauthorized().into_response();
            s.metrics.request(
                &endpoint(&path),
                r.status().as_u16(),
                t0.elapsed().as_secs_f64(),
            );
            return r;
        }
    }
    let r = next.run(req).await;
    s.metrics.request(
        &endpoint(&path),
        r.status().as_u16(),
        t0.elapsed().as_secs_f64(),
    );
    r
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
        _ => "other".into(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    let queued = s
        .models
        .iter()
        .map(|m| m.scheduler.stats().queued.load(Ordering::Relaxed))
        .sum();
    let running = s
        .models
        .iter()
        .map(|m| m.scheduler.stats().active.load(Ordering::Relaxed))
        .sum();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(queued, running),
    )
}

async fn models(State(s): State<Shared>) -> impl IntoResponse {
    let data: Vec<Value> = s
        .models
        .iter()
        .map(|m| {
            json!({"id": m.name, "object": "model", "created": m.created, "owned_by": "glassbox",
                   "max_model_len": m.engine.model.config().max_position_embeddings})
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data}))
}

/// Reads the body within the size and time limits.
async fn read_body(s: &AppState, body: HttpBody) -> Result<Body, ApiError> {
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
fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ SEEDS.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{:016x}", fresh_seed())
}

/// Sampling settings common to both generation endpoints.
struct Gen {
    sampling: SamplingParams,
    n: usize,
    stop: Vec<String>,
    stream: bool,
}

fn gen_params(b: &Body, s: &AppState) -> Result<Gen, ApiError> {
    b.unsupported(&[
        ("presence_penalty", json!(0)),
        ("frequency_penalty", json!(0)),
        ("logit_bias", json!({})),
        ("suffix", json!("")),
        ("tools", json!([])),
    ])?;
    let temperature = b.f64_in("temperature", 0.0, 2.0)?.unwrap_or(1.0);
    let top_p = b.f64_in("top_p", f64::MIN_POSITIVE, 1.0)?.unwrap_or(1.0);
    let min_p = b.f64_in("min_p", 0.0, 1.0)?.unwrap_or(0.0);
    let top_k = b
        .int_in("top_k", -1, i64::from(u32::MAX))?
        .unwrap_or(0)
        .max(0) as usize;
    let repetition_penalty = b
        .f64_in("repetition_penalty", f64::MIN_POSITIVE, 10.0)?
        .unwrap_or(1.0);
    let n = b.int_in("n", 1, s.limits.max_n as i64)?.unwrap_or(1) as usize;
    if let Some(best) = b.int_in("best_of", 1, s.limits.max_n as i64)?
        && best as usize != n
    {
        return Err(ApiError::invalid(
            Some("best_of".into()),
            "`best_of` other than `n` is not supported",
        ));
    }
    Ok(Gen {
        sampling: SamplingParams {
            temperature: temperature as f32,
            top_k,
            top_p: top_p as f32,
            min_p: min_p as f32,
            repetition_penalty: repetition_penalty as f32,
            seed: b.seed()?.unwrap_or_else(fresh_seed),
        },
        n,
        stop: b.stop()?,
        stream: b.bool("stream")?.unwrap_or(false),
    })
}

/// Prompts of a completions request: a string, strings, token ids or lists of token ids; with
/// the text an echo returns (the string as given, or the decoded ids).
fn prompts(b: &Body, m: &ModelEntry, s: &AppState) -> Result<Vec<(Vec<u32>, String)>, ApiError> {
    let bad = || {
        ApiError::invalid(
            Some("prompt".into()),
            "`prompt` must be a string, a list of strings, a list of token ids or a list of lists of token ids",
        )
    };
    let tok = |text: &str| {
        m.engine
            .tokenizer
            .encode(text, true)
            .map_err(ApiError::internal)
    };
    let ids = |a: &[Value]| -> Result<Vec<u32>, ApiError> {
        a.iter()
            .map(|v| {
                v.as_u64()
                    .filter(|&x| x <= u64::from(u32::MAX))
                    .map(|x| x as u32)
                    .ok_or_else(bad)
            })
            .collect()
    };
    let text = |t: &str| -> Result<(Vec<u32>, String), ApiError> {
        Ok((
            if t.is_empty() { Vec::new() } else { tok(t)? },
            t.to_string(),
        ))
    };
    let decoded = |x: Vec<u32>| {
        let t = m.engine.tokenizer.decode(&x, false).unwrap_or_default();
        (x, t)
    };
    let list: Vec<(Vec<u32>, String)> = match b.get("prompt") {
        None => {
            return Err(ApiError::invalid(
                Some("prompt".into()),
                "`prompt` is required",
            ));
        }
        Some(Value::String(t)) => vec![text(t)?],
        Some(Value::Array(a)) if a.is_empty() => vec![(Vec::new(), String::new())],
        Some(Value::Array(a)) => match &a[0] {
            Value::Number(_) => vec![decoded(ids(a)?)],
            Value::String(_) => a
                .iter()
                .map(|v| match v {
                    Value::String(t) => text(t),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            Value::Array(_) => a
                .iter()
                .map(|v| {
                    v.as_array()
                        .ok_or_else(bad)
                        .and_then(|x| ids(x))
                        .map(decoded)
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    if list.len() > s.limits.max_prompts {
        return Err(ApiError::invalid(
            Some("prompt".into()),
            format!(
                "{} prompts in one request; the limit is {}",
                list.len(),
                s.limits.max_prompts
            ),
        ));
    }
    Ok(list)
}

/// Checks a prompt against the model: not empty, known ids, room for `max_tokens`.
fn check_prompt(p: &[u32], max_tokens: usize, m: &ModelEntry, param: &str) -> Result<(), ApiError> {
    let cfg = m.engine.model.config();
    let ctx = cfg.max_position_embeddings;
    if p.is_empty() {
        return Err(ApiError::invalid(Some(param.into()), "the prompt is empty"));
    }
    if let Some(&bad) = p.iter().find(|&&t| t as usize >= cfg.vocab_size) {
        return Err(ApiError::invalid(
            Some(param.into()),
            format!(
                "token id {bad} is outside the model's vocabulary ({})",
                cfg.vocab_size
            ),
        ));
    }
    if p.len() >= ctx {
        return Err(ApiError::invalid(
            Some(param.into()),
            format!(
                "the prompt has {} tokens; the model's context is {ctx} tokens",
                p.len()
            ),
        )
        .code("context_length_exceeded"));
    }
    if p.len() + max_tokens > ctx {
        return Err(ApiError::invalid(
            Some("max_tokens".into()),
            format!(
                "the prompt ({} tokens) plus max_tokens ({max_tokens}) exceeds the model's context of {ctx} tokens",
                p.len()
            ),
        )
        .code("context_length_exceeded"));
    }
    Ok(())
}

/// One choice being generated.
#[derive(Default)]
struct Choice {
    text: String,
    ids: Vec<u32>,
    logprobs: Vec<TokenLogprob>,
    finish: Option<String>,
    failed: Option<String>,
}

fn finish_name(f: &FinishReason) -> String {
    match f {
        FinishReason::Length => "length".into(),
        FinishReason::Eos | FinishReason::Stop(_) => "stop".into(),
    }
}

/// Submits one job per (prompt, choice); events arrive tagged with the choice index.
fn submit(
    m: &ModelEntry,
    prompts: &[Vec<u32>],
    g: &Gen,
    max_tokens: usize,
    logprobs: Option<usize>,
) -> Result<mpsc::UnboundedReceiver<(usize, JobEvent)>, ApiError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut jobs = Vec::new();
    for (pi, p) in prompts.iter().enumerate() {
        for i in 0..g.n {
            let idx = pi * g.n + i;
            let tx = tx.clone();
            let mut sampling = g.sampling.clone();
            sampling.seed = sampling.seed.wrapping_add(i as u64);
            jobs.push(Job {
                prompt: p.clone(),
                sampling,
                max_new_tokens: max_tokens,
                stop: g.stop.clone(),
                eos_token_ids: m.engine.generation.eos_token_ids.clone(),
                logprobs,
                sink: Box::new(move |e| tx.send((idx, e)).is_ok()),
            });
        }
    }
    m.scheduler.submit(jobs).map_err(|e| match e {
        SubmitError::QueueFull => ApiError::busy(),
        SubmitError::Stopped => ApiError::invalid(None, "the server is shutting down")
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .code("shutting_down"),
    })?;
    Ok(rx)
}

/// Waits for every choice to finish.
async fn collect(
    s: &AppState,
    mut rx: mpsc::UnboundedReceiver<(usize, JobEvent)>,
    count: usize,
    t0: Instant,
) -> Result<Vec<Choice>, ApiError> {
    let mut choices: Vec<Choice> = (0..count).map(|_| Choice::default()).collect();
    let mut open = count;
    let mut first = true;
    while open > 0 {
        let Some((i, e)) = rx.recv().await else {
            return Err(ApiError::internal("the scheduler stopped"));
        };
        let c = &mut choices[i];
        match e {
            JobEvent::Started => {}
            JobEvent::Token { id, text, logprob } => {
                if first {
                    s.metrics.first_token(t0.elapsed().as_secs_f64());
                    first = false;
                }
                s.metrics.generation_tokens.fetch_add(1, Ordering::Relaxed);
                c.ids.push(id);
                c.text.push_str(&text);
                if let Some(l) = logprob {
                    c.logprobs.push(l);
                }
            }
            JobEvent::Done { finish, .. } => {
                c.finish = Some(finish_name(&finish));
                open -= 1;
            }
            JobEvent::Failed(m) => {
                c.failed = Some(m);
                open -= 1;
            }
        }
    }
    if let Some(f) = choices.iter().find_map(|c| c.failed.clone()) {
        return Err(ApiError::internal(f));
    }
    Ok(choices)
}

fn piece(m: &ModelEntry, id: u32) -> String {
    m.engine.tokenizer.decode(&[id], false).unwrap_or_default()
}

/// Completions `logprobs` object over `ids` (prompt scores first when echoed).
fn completion_logprobs(m: &ModelEntry, entries: &[LogprobEntry], offset0: usize) -> Value {
    let mut tokens = Vec::new();
    let mut lps = Vec::new();
    let mut tops = Vec::new();
    let mut offsets = Vec::new();
    let mut off = offset0;
    for (id, lp, top) in entries {
        let t = piece(m, *id);
        offsets.push(off);
        off += t.chars().count();
        tokens.push(Value::String(t));
        lps.push(lp.map_or(Value::Null, |x| json!(x)));
        tops.push(match top {
            None => Value::Null,
            Some(list) => {
                let mut o = serde_json::Map::new();
                for (tid, l) in list {
                    o.entry(piece(m, *tid)).or_insert(json!(l));
                }
                Value::Object(o)
            }
        });
    }
    json!({"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets})
}

async fn completions(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let b = read_body(&s, req.into_body()).await?;
    let m = s.model(b.str("model")?)?;
    let g = gen_params(&b, &s)?;
    let max_tokens = b
        .int_in("max_tokens", 0, s.limits.max_tokens as i64)?
        .unwrap_or(16) as usize;
    let logprobs = b
        .int_in("logprobs", 0, s.limits.max_logprobs as i64)?
        .map(|x| x as usize);
    let echo = b.bool("echo")?.unwrap_or(false);
    let (prompts, prompt_texts): (Vec<Vec<u32>>, Vec<String>) =
        prompts(&b, m, &s)?.into_iter().unzip();
    for p in &prompts {
        check_prompt(p, max_tokens, m, "prompt")?;
    }
    let prompt_tokens: usize = prompts.iter().map(Vec::len).sum();
    s.metrics
        .prompt_tokens
        .fetch_add(prompt_tokens as u64, Ordering::Relaxed);
    // Echoed prompts with log-probabilities are scored exactly as `glassbox score` scores them.
    let mut prompt_scores: Vec<Option<Vec<glassbox_infer::TokenScore>>> = vec![None; prompts.len()];
    if echo && logprobs.is_some() {
        for (i, p) in prompts.iter().enumerate() {
            let engine = m.engine.clone();
            let p = p.clone();
            let top = logprobs.unwrap_or(0);
            let scored = tokio::task::spawn_blocking(move || engine.score(&p, top))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            prompt_scores[i] = Some(scored);
        }
    }
    let rx = submit(m, &prompts, &g, max_tokens, logprobs)?;
    let id = new_id("cmpl");
    let created = now();
    let count = prompts.len() * g.n;
    if g.stream {
        let model = m.name.clone();
        let n = g.n;
        let echo_texts: Vec<Option<String>> = prompt_texts
            .iter()
            .map(|t| echo.then(|| t.clone()))
            .collect();
        let state = s.clone();
        let entry = s.clone();
        let model_index = s.models.iter().position(|x| x.name == m.name).unwrap_or(0);
        let events = stream_events(state, rx, count, t0).map(move |(i, ev)| {
            let (text, finish, lp) = match ev {
                StreamItem::Text(t, lp) => (t, Value::Null, lp),
                StreamItem::Done(f) => (String::new(), json!(f), None),
            };
            let me = &entry.models[model_index];
            let logprobs = lp.map_or(Value::Null, |(id, l)| {
                completion_logprobs(me, &[(id, Some(l.logprob), Some(l.top))], 0)
            });
            let chunk = json!({"id": id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": i, "text": text, "logprobs": logprobs, "finish_reason": finish}]});
            Ok::<_, Infallible>(Event::default().data(chunk.to_string()))
        });
        let id2 = new_id("cmpl");
        let model2 = m.name.clone();
        let echoes = stream::iter(
            echo_texts
                .into_iter()
                .enumerate()
                .flat_map(move |(pi, t)| (0..n).map(move |k| (pi * n + k, t.clone())))
                .filter_map(move |(i, t)| {
                    t.map(|t| {
                        Ok::<_, Infallible>(Event::default().data(
                            json!({"id": id2, "object": "text_completion", "created": created, "model": model2,
                                   "choices": [{"index": i, "text": t, "logprobs": null, "finish_reason": null}]})
                            .to_string(),
                        ))
                    })
                }),
        );
        let done = stream::once(async { Ok::<_, Infallible>(Event::default().data("[DONE]")) });
        return Ok(Sse::new(echoes.chain(events).chain(done))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let choices = collect(&s, rx, count, t0).await?;
    let completion_tokens: usize = choices.iter().map(|c| c.ids.len()).sum();
    let out: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let pi = i / g.n;
            let text = if echo {
                format!("{}{}", prompt_texts[pi], c.text)
            } else {
                c.text.clone()
            };
            let lp = logprobs.map(|_| {
                let mut entries: Vec<LogprobEntry> = Vec::new();
                if let Some(scores) = &prompt_scores[pi] {
                    for sc in scores {
                        entries.push((sc.id, sc.logprob, sc.logprob.map(|_| sc.top.clone())));
                    }
                }
                for (tid, l) in c.ids.iter().zip(&c.logprobs) {
                    entries.push((*tid, Some(l.logprob), Some(l.top.clone())));
                }
                completion_logprobs(m, &entries, 0)
            });
            json!({"index": i, "text": text, "logprobs": lp, "finish_reason": c.finish})
        })
        .collect();
    Ok(axum::Json(json!({
        "id": id, "object": "text_completion", "created": created, "model": m.name,
        "choices": out,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }))
    .into_response())
}

enum StreamItem {
    Text(String, Option<(u32, TokenLogprob)>),
    Done(String),
}

/// The scheduler's events as a stream of (choice, item); ends when every choice is done. A
/// failure ends the stream early (the client sees no `finish_reason` for that choice).
fn stream_events(
    s: Shared,
    rx: mpsc::UnboundedReceiver<(usize, JobEvent)>,
    count: usize,
    t0: Instant,
) -> impl Stream<Item = (usize, StreamItem)> {
    stream::unfold(
        (rx, count, true, s),
        move |(mut rx, open, first, s)| async move {
            if open == 0 {
                return None;
            }
            loop {
                let (i, e) = rx.recv().await?;
                match e {
                    JobEvent::Started => continue,
                    JobEvent::Token { text, logprob, id } => {
                        if first {
                            s.metrics.first_token(t0.elapsed().as_secs_f64());
                        }
                        s.metrics.generation_tokens.fetch_add(1, Ordering::Relaxed);
                        let lp = logprob.map(|l| (id, l));
                        return Some(((i, StreamItem::Text(text, lp)), (rx, open, false, s)));
                    }
                    JobEvent::Done { finish, .. } => {
                        return Some((
                            (i, StreamItem::Done(finish_name(&finish))),
                            (rx, open - 1, first, s),
                        ));
                    }
                    JobEvent::Failed(m) => {
                        eprintln!("glassbox serve: generation failed: {m}");
                        return None;
                    }
                }
            }
        },
    )
}

/// Chat messages: roles and contents (strings, or lists of text parts).
fn messages(b: &Body) -> Result<Vec<Value>, ApiError> {
    let Some(Value::Array(list)) = b.get("messages") else {
        return Err(ApiError::invalid(
            Some("messages".into()),
            "`messages` must be a non-empty list",
        ));
    };
    if list.is_empty() {
        return Err(ApiError::invalid(
            Some("messages".into()),
            "`messages` must be a non-empty list",
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let p = format!("messages[{i}]");
            let o = m.as_object().ok_or_else(|| ApiError::invalid(Some(p.clone()), format!("`{p}` must be an object, not {}", kind(m))))?;
            let role = o.get("role").and_then(Value::as_str).ok_or_else(|| ApiError::invalid(Some(format!("{p}.role")), "each message needs a string `role`"))?;
            if !["system", "user", "assistant", "tool", "developer"].contains(&role) {
                return Err(ApiError::invalid(Some(format!("{p}.role")), format!("unknown role `{role}`")));
            }
            let content = match o.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(|x| match (x.get("type").and_then(Value::as_str), x.get("text").and_then(Value::as_str)) {
                        (Some("text"), Some(t)) => Ok(t.to_string()),
                        _ => Err(ApiError::invalid(Some(format!("{p}.content")), "only text content parts are supported")),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(""),
                None | Some(Value::Null) if role == "assistant" => String::new(),
                _ => return Err(ApiError::invalid(Some(format!("{p}.content")), "`content` must be a string or a list of text parts")),
            };
            Ok(json!({"role": if role == "developer" { "system" } else { role }, "content": content}))
        })
        .collect()
}

fn render_chat(
    m: &ModelEntry,
    msgs: &[Value],
    add_generation_prompt: bool,
) -> Result<Vec<u32>, ApiError> {
    let tpl = m
        .engine
        .chat_template()
        .map_err(|e| ApiError::invalid(Some("messages".into()), e.to_string()))?;
    let text = tpl
        .render(msgs, add_generation_prompt, &serde_json::Map::new())
        .map_err(|e| ApiError::invalid(Some("messages".into()), e.to_string()))?;
    m.engine
        .tokenizer
        .encode(&text, false)
        .map_err(ApiError::internal)
}

fn chat_logprobs(m: &ModelEntry, ids: &[u32], lps: &[TokenLogprob]) -> Value {
    let entry = |id: u32, l: f64| {
        let t = piece(m, id);
        json!({"token": t, "logprob": l, "bytes": t.as_bytes()})
    };
    let content: Vec<Value> = ids
        .iter()
        .zip(lps)
        .map(|(id, l)| {
            let mut e = entry(*id, l.logprob);
            e["top_logprobs"] = Value::Array(l.top.iter().map(|(t, x)| entry(*t, *x)).collect());
            e
        })
        .collect();
    json!({"content": content})
}

async fn chat(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let b = read_body(&s, req.into_body()).await?;
    let m = s.model(b.str("model")?)?;
    let g = gen_params(&b, &s)?;
    let msgs = messages(&b)?;
    let prompt = render_chat(m, &msgs, true)?;
    let ctx = m.engine.model.config().max_position_embeddings;
    let asked = match b.int_in("max_completion_tokens", 0, s.limits.max_tokens as i64)? {
        Some(x) => Some(x),
        None => b.int_in("max_tokens", 0, s.limits.max_tokens as i64)?,
    };
    let max_tokens = asked.map_or_else(
        || ctx.saturating_sub(prompt.len()).min(s.limits.max_tokens),
        |x| x as usize,
    );
    check_prompt(&prompt, max_tokens, m, "messages")?;
    let logprobs = if b.bool("logprobs")?.unwrap_or(false) {
        Some(
            b.int_in("top_logprobs", 0, s.limits.max_logprobs as i64)?
                .unwrap_or(0) as usize,
        )
    } else {
        None
    };
    s.metrics
        .prompt_tokens
        .fetch_add(prompt.len() as u64, Ordering::Relaxed);
    let rx = submit(m, std::slice::from_ref(&prompt), &g, max_tokens, logprobs)?;
    let id = new_id("chatcmpl");
    let created = now();
    if g.stream {
        let include_usage = b
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let model = m.name.clone();
        let n = g.n;
        let prompt_tokens = prompt.len();
        let counted = Arc::new(AtomicU64::new(0));
        let c2 = counted.clone();
        let (id1, id2, id3) = (id.clone(), id.clone(), id.clone());
        let (m1, m2, m3) = (model.clone(), model.clone(), model);
        let roles = stream::iter((0..n).map(move |i| {
            Ok::<_, Infallible>(Event::default().data(
                json!({"id": id1, "object": "chat.completion.chunk", "created": created, "model": m1,
                       "choices": [{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})
                .to_string(),
            ))
        }));
        let events = stream_events(s.clone(), rx, n, t0).filter_map(move |(i, ev)| {
            let (delta, finish) = match ev {
                StreamItem::Text(t, _) => {
                    c2.fetch_add(1, Ordering::Relaxed);
                    if t.is_empty() {
                        return futures_util::future::ready(None);
                    }
                    (json!({"content": t}), Value::Null)
                }
                StreamItem::Done(f) => (json!({}), json!(f)),
            };
            futures_util::future::ready(Some(Ok::<_, Infallible>(Event::default().data(
                json!({"id": id2, "object": "chat.completion.chunk", "created": created, "model": m2,
                       "choices": [{"index": i, "delta": delta, "logprobs": null, "finish_reason": finish}]})
                .to_string(),
            ))))
        });
        let usage = stream::once(async move {
            let c = counted.load(Ordering::Relaxed) as usize;
            Ok::<_, Infallible>(Event::default().data(
                json!({"id": id3, "object": "chat.completion.chunk", "created": created, "model": m3, "choices": [],
                       "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": c, "total_tokens": prompt_tokens + c}})
                .to_string(),
            ))
        })
        .filter(move |_| futures_util::future::ready(include_usage));
        let done = stream::once(async { Ok::<_, Infallible>(Event::default().data("[DONE]")) });
        return Ok(Sse::new(roles.chain(events).chain(usage).chain(done))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let choices = collect(&s, rx, g.n, t0).await?;
    let completion_tokens: usize = choices.iter().map(|c| c.ids.len()).sum();
    let out: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"index": i, "message": {"role": "assistant", "content": c.text},
                   "logprobs": logprobs.map(|_| chat_logprobs(m, &c.ids, &c.logprobs)),
                   "finish_reason": c.finish})
        })
        .collect();
    Ok(axum::Json(json!({
        "id": id, "object": "chat.completion", "created": created, "model": m.name,
        "choices": out,
        "usage": {"prompt_tokens": prompt.len(), "completion_tokens": completion_tokens, "total_tokens": prompt.len() + completion_tokens},
    }))
    .into_response())
}

async fn tokenize(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let b = read_body(&s, req.into_body()).await?;
    let m = s.model(b.str("model")?)?;
    let ids = if b.get("messages").is_some() {
        let msgs = messages(&b)?;
        render_chat(m, &msgs, b.bool("add_generation_prompt")?.unwrap_or(true))?
    } else {
        let text = b.str("prompt")?.ok_or_else(|| {
            ApiError::invalid(
                Some("prompt".into()),
                "give `prompt` (a string) or `messages`",
            )
        })?;
        let special = b.bool("add_special_tokens")?.unwrap_or(true);
        m.engine
            .tokenizer
            .encode(text, special)
            .map_err(ApiError::internal)?
    };
    Ok(axum::Json(json!({"tokens": ids, "count": ids.len(), "max_model_len": m.engine.model.config().max_position_embeddings})).into_response())
}

async fn detokenize(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let b = read_body(&s, req.into_body()).await?;
    let m = s.model(b.str("model")?)?;
    let bad = || {
        ApiError::invalid(
            Some("tokens".into()),
            "`tokens` must be a list of token ids",
        )
    };
    let ids: Vec<u32> = b
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|v| {
            v.as_u64()
                .filter(|&x| x <= u64::from(u32::MAX))
                .map(|x| x as u32)
                .ok_or_else(bad)
        })
        .collect::<Result<_, _>>()?;
    let vocab = m.engine.model.config().vocab_size;
    if let Some(&x) = ids.iter().find(|&&t| t as usize >= vocab) {
        return Err(ApiError::invalid(
            Some("tokens".into()),
            format!("token id {x} is outside the vocabulary ({vocab})"),
        ));
    }
    let text = m
        .engine
        .tokenizer
        .decode(&ids, false)
        .map_err(ApiError::internal)?;
    Ok(axum::Json(json!({"prompt": text})).into_response())
}

async fn tokenizer_info(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    _h: HeaderMap,
) -> Result<Response, ApiError> {
    let m = s.model(q.get("model").map(String::as_str))?;
    let t = &m.engine.tokenizer;
    Ok(axum::Json(json!({
        "model": m.name,
        "vocab_size": m.engine.model.config().vocab_size,
        "max_model_len": m.engine.model.config().max_position_embeddings,
        "bos_token": t.bos_token, "eos_token": t.eos_token, "pad_token": t.pad_token,
        "eos_token_ids": m.engine.generation.eos_token_ids,
        "chat_template": t.chat_template.as_ref().map(|(src, _)| src.clone()),
    }))
    .into_response())
}
