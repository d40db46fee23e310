//! `POST /v1/completions`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use glassbox_infer::Engine;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::params::Body;
use crate::state::{AppState, ModelEntry, now};

use super::generate::{
    StreamItem, admitted, check_prompt, collect, gen_params, piece, sse_error, stream_events,
    submit,
};
use super::{Shared, new_id, read_body};

/// A token, its log-probability (none for a prompt's first token) and the alternatives.
pub(super) type LogprobEntry = (u32, Option<f64>, Option<Vec<(u32, f64)>>);

/// Prompts of a completions request: a string, strings, token ids or lists of token ids; with
/// the text an echo returns (the string as given, or the decoded ids).
pub(super) fn prompts(
    b: &Body,
    m: &ModelEntry,
    s: &AppState,
) -> Result<Vec<(Vec<u32>, String)>, ApiError> {
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

/// Completions `logprobs` object over `ids` (prompt scores first when echoed).
pub(super) fn completion_logprobs(e: &Engine, entries: &[LogprobEntry], offset0: usize) -> Value {
    let mut tokens = Vec::new();
    let mut lps = Vec::new();
    let mut tops = Vec::new();
    let mut offsets = Vec::new();
    let mut off = offset0;
    for (id, lp, top) in entries {
        let t = piece(e, *id);
        offsets.push(off);
        off += t.chars().count();
        tokens.push(Value::String(t));
        lps.push(lp.map_or(Value::Null, |x| json!(x)));
        tops.push(match top {
            None => Value::Null,
            Some(list) => {
                let mut o = serde_json::Map::new();
                for (tid, l) in list {
                    o.entry(piece(e, *tid)).or_insert(json!(l));
                }
                Value::Object(o)
            }
        });
    }
    json!({"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets})
}

pub(super) async fn completions(
    State(s): State<Shared>,
    req: Request,
) -> Result<Response, ApiError> {
    let t0 = Instant::now();
    let b = read_body(&s, req.into_body()).await?;
    let model = s.model(b.str("model")?)?;
    let m = &*model;
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
    // Echoed prompts with log-probabilities are scored exactly as `glassbox score` scores them,
    // by the scheduler, behind the same bounded queue as generation (streams echo no scores).
    let score_prompt = logprobs.filter(|_| echo && !g.stream);
    let rx = submit(m, &prompts, &g, max_tokens, logprobs, score_prompt)?;
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
        let engine = m.engine.clone();
        let id1 = id.clone();
        let jobs = admitted(rx, count).await?;
        let events = stream_events(s.clone(), jobs, count, t0).map(move |(i, ev)| {
            let (text, finish, lp) = match ev {
                StreamItem::Text(t, lp) => (t, Value::Null, lp),
                StreamItem::Done(f) => (String::new(), json!(f), None),
                StreamItem::Failed => return Ok::<_, Infallible>(sse_error()),
            };
            let logprobs = lp.map_or(Value::Null, |(tid, l)| {
                completion_logprobs(&engine, &[(tid, Some(l.logprob), Some(l.top))], 0)
            });
            let chunk = json!({"id": id1, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": i, "text": text, "logprobs": logprobs, "finish_reason": finish}]});
            Ok::<_, Infallible>(Event::default().data(chunk.to_string()))
        });
        // Echoed prompts come first, in chunks with the completion's id.
        let id2 = id.clone();
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
                if let Some(scores) = &choices[pi * g.n].prompt_scores {
                    for sc in scores {
                        entries.push((sc.id, sc.logprob, sc.logprob.map(|_| sc.top.clone())));
                    }
                }
                for (tid, l) in c.ids.iter().zip(&c.logprobs) {
                    entries.push((*tid, Some(l.logprob), Some(l.top.clone())));
                }
                completion_logprobs(&m.engine, &entries, 0)
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
