//! `POST /v1/chat/completions`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use glassbox_infer::Engine;
use glassbox_infer::scheduler::TokenLogprob;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::params::{Body, kind};
use crate::state::{ModelEntry, now};

use super::generate::{
    StreamItem, admitted, check_prompt, collect, gen_params, piece, sse_error, stream_events,
    submit,
};
use super::{Shared, new_id, read_body};

/// Chat messages: roles and contents (strings, or lists of text parts).
pub(super) fn messages(b: &Body) -> Result<Vec<Value>, ApiError> {
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

pub(super) fn render_chat(
    m: &ModelEntry,
    msgs: &[Value],
    add_generation_prompt: bool,
) -> Result<Vec<u32>, ApiError> {
    let tpl = m
        .engine
        .chat_template()
        .map_err(|e| ApiError::from_infer(&m.name, "messages", &e))?;
    let text = tpl
        .render(msgs, add_generation_prompt, &serde_json::Map::new())
        .map_err(|e| ApiError::from_infer(&m.name, "messages", &e))?;
    m.engine
        .tokenizer
        .encode(&text, false)
        .map_err(|e| ApiError::from_infer(&m.name, "messages", &e))
}

pub(super) fn chat_logprobs(e: &Engine, ids: &[u32], lps: &[TokenLogprob]) -> Value {
    let entry = |id: u32, l: f64| {
        let t = piece(e, id);
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

pub(super) async fn chat(State(s): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let b = read_body(&s, req.into_body()).await?;
    let model = s.model(b.str("model")?)?;
    let m = &*model;
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
    let rx = submit(
        m,
        std::slice::from_ref(&prompt),
        &g,
        max_tokens,
        logprobs,
        None,
    )?;
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
        let jobs = admitted(rx, n).await?;
        let engine = m.engine.clone();
        let events = stream_events(s.clone(), jobs, n, t0).filter_map(move |(i, ev)| {
            let (delta, finish, lps) = match ev {
                StreamItem::Text(t, lp) => {
                    c2.fetch_add(1, Ordering::Relaxed);
                    // With log-probabilities every token gets its chunk (its text may be empty
                    // while a character's bytes are incomplete); without, empty deltas are left out.
                    let lps = lp.map_or(Value::Null, |(id, l)| {
                        chat_logprobs(&engine, &[id], std::slice::from_ref(&l))
                    });
                    if t.is_empty() && lps.is_null() {
                        return futures_util::future::ready(None);
                    }
                    (json!({"content": t}), Value::Null, lps)
                }
                StreamItem::Done(f) => (json!({}), json!(f), Value::Null),
                StreamItem::Failed => return futures_util::future::ready(Some(Ok(sse_error()))),
            };
            futures_util::future::ready(Some(Ok::<_, Infallible>(Event::default().data(
                json!({"id": id2, "object": "chat.completion.chunk", "created": created, "model": m2,
                       "choices": [{"index": i, "delta": delta, "logprobs": lps, "finish_reason": finish}]})
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
                   "logprobs": logprobs.map(|_| chat_logprobs(&m.engine, &c.ids, &c.logprobs)),
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
