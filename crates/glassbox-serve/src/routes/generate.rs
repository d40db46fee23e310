//! What both generation endpoints share: sampling fields, prompt checks, submission to the
//! scheduler, and collecting or streaming its events.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::sse::Event;
use futures_util::stream::{self, Stream};
use glassbox_infer::scheduler::{Job, JobEvent, SubmitError, TokenLogprob};
use glassbox_infer::{Engine, FinishReason, SamplingParams, TokenScore};
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::params::Body;
use crate::state::{AppState, ModelEntry};

use super::{Shared, fresh_seed};

/// Sampling settings common to both generation endpoints.
pub(super) struct Gen {
    pub(super) sampling: SamplingParams,
    pub(super) n: usize,
    pub(super) stop: Vec<String>,
    pub(super) stream: bool,
}

pub(super) fn gen_params(b: &Body, s: &AppState) -> Result<Gen, ApiError> {
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

/// Checks a prompt against the model: not empty, known ids, room for `max_tokens`.
pub(super) fn check_prompt(
    p: &[u32],
    max_tokens: usize,
    m: &ModelEntry,
    param: &str,
) -> Result<(), ApiError> {
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
pub(super) struct Choice {
    pub(super) text: String,
    pub(super) ids: Vec<u32>,
    pub(super) logprobs: Vec<TokenLogprob>,
    pub(super) finish: Option<String>,
    pub(super) failed: Option<String>,
    /// The prompt's log-probabilities, when they were asked for (first choice of each prompt).
    pub(super) prompt_scores: Option<Vec<TokenScore>>,
}

pub(super) fn finish_name(f: &FinishReason) -> String {
    match f {
        FinishReason::Length => "length".into(),
        FinishReason::Eos | FinishReason::Stop(_) => "stop".into(),
    }
}

/// Submits one job per (prompt, choice); events arrive tagged with the choice index. With
/// `score_prompt`, the first choice of each prompt also reports the prompt's log-probabilities
/// with that many alternatives (scored in the scheduler, behind the same bounded queue).
pub(super) fn submit(
    m: &ModelEntry,
    prompts: &[Vec<u32>],
    g: &Gen,
    max_tokens: usize,
    logprobs: Option<usize>,
    score_prompt: Option<usize>,
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
                score_prompt: score_prompt.filter(|_| i == 0),
                sink: Box::new(move |e| tx.send((idx, e)).is_ok()),
            });
        }
    }
    m.scheduler.submit(jobs).map_err(|e| match e {
        SubmitError::QueueFull => ApiError::busy(),
        SubmitError::Stopped => ApiError::invalid(None, "the server is shutting down")
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .code("shutting_down"),
        SubmitError::Crashed => ApiError::unavailable(&m.name),
    })?;
    Ok(rx)
}

/// Waits for every choice to finish.
pub(super) async fn collect(
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
            eprintln!("glassbox serve: the scheduler dropped a request without an answer");
            return Err(ApiError::generation_failed());
        };
        let Some(c) = choices.get_mut(i) else {
            continue;
        };
        match e {
            JobEvent::Started => {}
            JobEvent::PromptScores(scores) => c.prompt_scores = Some(scores),
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
            JobEvent::Expired(waited) => return Err(ApiError::queue_timeout(waited)),
        }
    }
    if let Some(f) = choices.iter().find_map(|c| c.failed.clone()) {
        eprintln!("glassbox serve: generation failed: {f}");
        return Err(ApiError::generation_failed());
    }
    Ok(choices)
}

pub(super) fn piece(e: &Engine, id: u32) -> String {
    e.tokenizer.decode(&[id], false).unwrap_or_default()
}

pub(super) enum StreamItem {
    Text(String, Option<(u32, TokenLogprob)>),
    Done(String),
    /// The generation failed; the stream ends after this.
    Failed,
}

/// A request's jobs once every one has left the queue: the receiver, with the events that came
/// before the last `Started` (in order). A job that expired in the queue makes the request a 429
/// before any byte of a stream is sent; the other jobs are dropped with the receiver.
pub(super) struct Admitted {
    rx: mpsc::UnboundedReceiver<(usize, JobEvent)>,
    early: VecDeque<(usize, JobEvent)>,
}

/// Waits until all `count` jobs of a request have started (streams answer 200 only then).
pub(super) async fn admitted(
    mut rx: mpsc::UnboundedReceiver<(usize, JobEvent)>,
    count: usize,
) -> Result<Admitted, ApiError> {
    let mut early = VecDeque::new();
    let mut started = 0;
    while started < count {
        match rx.recv().await {
            None => {
                eprintln!("glassbox serve: the scheduler dropped a request without an answer");
                return Err(ApiError::generation_failed());
            }
            Some((_, JobEvent::Started)) => started += 1,
            Some((_, JobEvent::Expired(waited))) => return Err(ApiError::queue_timeout(waited)),
            Some(other) => early.push_back(other),
        }
    }
    Ok(Admitted { rx, early })
}

/// The scheduler's events as a stream of (choice, item); ends when every choice is done. A
/// failure ends the stream early with [`StreamItem::Failed`] (the details go to the server log),
/// which the endpoints send as an OpenAI error object ([`sse_error`]).
pub(super) fn stream_events(
    s: Shared,
    jobs: Admitted,
    count: usize,
    t0: Instant,
) -> impl Stream<Item = (usize, StreamItem)> {
    stream::unfold(
        (jobs, count, true, s),
        move |(mut jobs, open, first, s)| async move {
            if open == 0 {
                return None;
            }
            loop {
                let next = match jobs.early.pop_front() {
                    Some(e) => Some(e),
                    None => jobs.rx.recv().await,
                };
                let Some((i, e)) = next else {
                    eprintln!("glassbox serve: the scheduler dropped a request without an answer");
                    return Some(((0, StreamItem::Failed), (jobs, 0, first, s)));
                };
                match e {
                    JobEvent::Started | JobEvent::PromptScores(_) => continue,
                    JobEvent::Token { text, logprob, id } => {
                        if first {
                            s.metrics.first_token(t0.elapsed().as_secs_f64());
                        }
                        s.metrics.generation_tokens.fetch_add(1, Ordering::Relaxed);
                        let lp = logprob.map(|l| (id, l));
                        return Some(((i, StreamItem::Text(text, lp)), (jobs, open, false, s)));
                    }
                    JobEvent::Done { finish, .. } => {
                        return Some((
                            (i, StreamItem::Done(finish_name(&finish))),
                            (jobs, open - 1, first, s),
                        ));
                    }
                    // Expiry is only possible before `Started`, which `admitted` has seen.
                    JobEvent::Expired(_) => {
                        return Some(((i, StreamItem::Failed), (jobs, 0, first, s)));
                    }
                    JobEvent::Failed(m) => {
                        eprintln!("glassbox serve: generation failed: {m}");
                        return Some(((i, StreamItem::Failed), (jobs, 0, first, s)));
                    }
                }
            }
        },
    )
}

/// The event a stream ends with when its generation failed: an OpenAI error object, as
/// OpenAI-compatible servers send mid-stream.
pub(super) fn sse_error() -> Event {
    Event::default().data(ApiError::generation_failed().body().to_string())
}
