//! Continuous batching: one thread owns the model and serves every request submitted to it.
//!
//! New requests join between decoding steps. Each is prefilled alone, in chunks of at most
//! [`SchedulerOptions::prefill_chunk`] prompt tokens, one chunk per iteration between decoding
//! steps, so a long prompt delays the running streams by one chunk at a time instead of by its
//! whole prefill. Once prefilled, a sequence decodes with the others: all running sequences
//! share one forward pass per step through [`glassbox_model::Transformer::decode_step`], which
//! is batch-invariant, so a request's tokens do not depend on what else is running (chunk
//! boundaries depend only on the prompt's own length, never on other requests). A request
//! whose receiver is gone (a client that disconnected) leaves the batch at the next step.
//!
//! The queue is bounded: [`Scheduler::submit`] refuses work past `max_queue` waiting jobs, so a
//! server can answer 429 instead of growing without limit, and a job that waited past
//! `max_queue_wait` is dropped when its turn comes ([`JobEvent::Expired`]), so the jobs that run
//! finish within that wait plus their own work. Prompt scoring
//! ([`Job::score_prompt`]) goes through the same queue.
//!
//! A panic in model code fails the requests it touched ([`JobEvent::Failed`]) and the thread
//! goes on serving the others. Should the thread die anyway, every waiting and running job is
//! failed as it unwinds and later submissions get [`SubmitError::Crashed`]: nobody waits
//! forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::engine::{Engine, FinishReason, TokenScore};
use crate::sampling::SamplingParams;

#[cfg(feature = "fault-injection")]
pub mod fault;
mod worker;

/// The log-probability of a generated token and the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// `log p(token | prefix)` under the model (before temperature or truncation).
    pub logprob: f64,
    /// The `top` most likely tokens at this position as `(id, logprob)`, best first.
    pub top: Vec<(u32, f64)>,
}

/// What a running job reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The job left the queue and is being prefilled.
    Started,
    /// The prompt's per-token log-probabilities, when the job asked for them
    /// ([`Job::score_prompt`]); comes before any token.
    PromptScores(Vec<TokenScore>),
    /// A token was generated; `text` is the text it releases (possibly empty).
    Token {
        /// Token id.
        id: u32,
        /// Text released by this token.
        text: String,
        /// Its log-probability, when the job asked for them.
        logprob: Option<TokenLogprob>,
    },
    /// The job finished.
    Done {
        /// Why.
        finish: FinishReason,
        /// Tokens generated.
        tokens: usize,
    },
    /// The model failed (an error or a panic); the job is over.
    Failed(String),
    /// The job waited in the queue longer than [`SchedulerOptions::max_queue_wait`] and was
    /// dropped without running (the wait is given); a server answers it as it answers a full
    /// queue.
    Expired(std::time::Duration),
}

/// Receives a job's events; returns `false` when nobody listens any more (the job is dropped).
/// It runs on the scheduler thread and must not panic.
pub type Sink = Box<dyn FnMut(JobEvent) -> bool + Send>;

/// One generation request.
pub struct Job {
    /// Prompt token ids (not empty, shorter than the context).
    pub prompt: Vec<u32>,
    /// Sampling settings (the seed fixes the draws).
    pub sampling: SamplingParams,
    /// Most tokens to generate (0: none).
    pub max_new_tokens: usize,
    /// Strings that end the text.
    pub stop: Vec<String>,
    /// Tokens that end generation.
    pub eos_token_ids: Vec<u32>,
    /// Report each token's log-probability with this many alternatives.
    pub logprobs: Option<usize>,
    /// Before generating, report the prompt's per-token log-probabilities with this many
    /// alternatives ([`JobEvent::PromptScores`]), computed exactly as [`Engine::score`] does
    /// (one forward pass over the whole prompt, not chunked).
    pub score_prompt: Option<usize>,
    /// Where events go.
    pub sink: Sink,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("prompt_tokens", &self.prompt.len())
            .field("max_new_tokens", &self.max_new_tokens)
            .field("score_prompt", &self.score_prompt)
            .finish_non_exhaustive()
    }
}

/// Limits of a scheduler.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// Sequences decoded (or prefilled) together. Default 16.
    pub max_batch: usize,
    /// Jobs allowed to wait for a slot. Default 64.
    pub max_queue: usize,
    /// Most prompt tokens prefilled between two decoding steps (at least 1). Default 512.
    pub prefill_chunk: usize,
    /// Longest a job may wait in the queue; one that waited longer is dropped when its turn
    /// comes ([`JobEvent::Expired`]), so the latency of the jobs that run is bounded by this wait
    /// plus their own work. `None`: no limit. Default 60 s.
    pub max_queue_wait: Option<std::time::Duration>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            max_batch: 16,
            max_queue: 64,
            prefill_chunk: 512,
            max_queue_wait: Some(std::time::Duration::from_secs(60)),
        }
    }
}

/// Why a submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full.
    #[error("the queue is full")]
    QueueFull,
    /// The scheduler has stopped.
    #[error("the scheduler has stopped")]
    Stopped,
    /// The scheduler thread died (a panic outside model code); nothing more will run.
    #[error("the scheduler thread stopped after an internal error")]
    Crashed,
}

/// Counters a server reports.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Jobs waiting.
    pub queued: AtomicUsize,
    /// Sequences running (being prefilled or decoded).
    pub active: AtomicUsize,
    /// Tokens generated in all.
    pub generated: AtomicUsize,
    /// Decoding steps run.
    pub steps: AtomicUsize,
    /// The longest time between two consecutive decoding steps while sequences were running,
    /// in microseconds: the worst pause a running stream saw between two tokens.
    pub max_decode_gap_us: AtomicU64,
    /// Prompts scored ([`Job::score_prompt`]).
    pub scored_prompts: AtomicUsize,
    /// Panics in model code caught (each failed the requests it touched).
    pub panics: AtomicUsize,
    /// Jobs dropped after waiting past [`SchedulerOptions::max_queue_wait`].
    pub expired: AtomicUsize,
    /// The scheduler thread died; submissions are refused with [`SubmitError::Crashed`].
    pub crashed: AtomicBool,
}

/// A running scheduler thread.
#[derive(Debug)]
pub struct Scheduler {
    tx: Option<mpsc::Sender<(Instant, Job)>>,
    stats: Arc<SchedulerStats>,
    options: SchedulerOptions,
    thread: Option<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

impl Scheduler {
    /// Starts the scheduler thread for `engine`.
    pub fn start(engine: Arc<Engine>, options: SchedulerOptions) -> Self {
        let (tx, rx) = mpsc::channel::<(Instant, Job)>();
        let stats = Arc::new(SchedulerStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("glassbox-scheduler".into())
            .spawn(move || worker::Worker::new(engine, rx, s, options).run())
            .ok();
        if thread.is_none() {
            stats.crashed.store(true, Ordering::SeqCst);
        }
        Self {
            tx: Some(tx),
            stats,
            options,
            thread,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Queues `jobs` together, or none of them when the queue has no room for all.
    pub fn submit(&self, jobs: Vec<Job>) -> Result<(), SubmitError> {
        if self.stats.crashed.load(Ordering::SeqCst) {
            return Err(SubmitError::Crashed);
        }
        if self.stopping.load(Ordering::SeqCst) {
            return Err(SubmitError::Stopped);
        }
        let k = jobs.len();
        let max = self.options.max_queue;
        self.stats
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (q + k <= max).then_some(q + k)
            })
            .map_err(|_| SubmitError::QueueFull)?;
        let tx = self.tx.as_ref().ok_or(SubmitError::Stopped)?;
        let now = Instant::now();
        for (i, job) in jobs.into_iter().enumerate() {
            if tx.send((now, job)).is_err() {
                self.stats.queued.fetch_sub(k - i, Ordering::SeqCst);
                return Err(if self.stats.crashed.load(Ordering::SeqCst) {
                    SubmitError::Crashed
                } else {
                    SubmitError::Stopped
                });
            }
        }
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> &SchedulerStats {
        &self.stats
    }

    /// The limits.
    pub fn options(&self) -> SchedulerOptions {
        self.options
    }

    /// Refuses new jobs from now on; running and queued ones finish.
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the queued and running jobs are done.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
