//! Continuous batching: one thread owns the model and serves every request submitted to it.
//! New requests join between decoding steps (each is prefilled alone, then decoded with the
//! others); all running sequences share one forward pass per step through
//! [`glassbox_model::Transformer::decode_step`], which is batch-invariant, so a request's tokens
//! do not depend on what else is running. A request whose receiver is gone (a client that
//! disconnected) leaves the batch at the next step.
//!
//! The queue is bounded: [`Scheduler::submit`] refuses work past `max_queue` waiting jobs, so a
//! server can answer 429 instead of growing without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use candle_core::Tensor;
use glassbox_model::{KvCache, Logits, ModelError, SeqCache};

use crate::engine::{Engine, FinishReason};
use crate::sampling::{Sampler, SamplingParams, log_softmax};
use crate::stream::TextStream;

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
    /// The model failed; the job is over.
    Failed(String),
}

/// Receives a job's events; returns `false` when nobody listens any more (the job is dropped).
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
    /// Where events go.
    pub sink: Sink,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("prompt_tokens", &self.prompt.len())
            .field("max_new_tokens", &self.max_new_tokens)
            .finish_non_exhaustive()
    }
}

/// Limits of a scheduler.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerOptions {
    /// Sequences decoded together.
    pub max_batch: usize,
    /// Jobs allowed to wait for a slot.
    pub max_queue: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            max_batch: 16,
            max_queue: 64,
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
}

/// Counters a server reports.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Jobs waiting.
    pub queued: AtomicUsize,
    /// Sequences running.
    pub active: AtomicUsize,
    /// Tokens generated in all.
    pub generated: AtomicUsize,
    /// Decoding steps run.
    pub steps: AtomicUsize,
}

/// A running scheduler thread.
#[derive(Debug)]
pub struct Scheduler {
    tx: Option<mpsc::Sender<Job>>,
    stats: Arc<SchedulerStats>,
    options: SchedulerOptions,
    thread: Option<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

impl Scheduler {
    /// Starts the scheduler thread for `engine`.
    pub fn start(engine: Arc<Engine>, options: SchedulerOptions) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let stats = Arc::new(SchedulerStats::default());
        let s = stats.clone();
        let max_batch = options.max_batch.max(1);
        let thread = std::thread::Builder::new()
            .name("glassbox-scheduler".into())
            .spawn(move || run(&engine, &rx, &s, max_batch))
            .ok();
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
        for (i, job) in jobs.into_iter().enumerate() {
            if tx.send(job).is_err() {
                self.stats.queued.fetch_sub(k - i, Ordering::SeqCst);
                return Err(SubmitError::Stopped);
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

/// A sequence being decoded.
struct Seq {
    job: Job,
    sampler: Sampler,
    stream: TextStream,
    cache: SeqCache,
    history: Vec<u32>,
    generated: usize,
    done: bool,
}

impl Seq {
    /// Takes the logits of the next position: samples, reports, and decides whether it is over.
    fn accept(&mut self, row: &[f32], ctx: usize, engine: &Engine, stats: &SchedulerStats) {
        let next = self.sampler.sample(row, &self.history);
        let logprob = self.job.logprobs.map(|top| {
            let lp = log_softmax(row);
            let mut order: Vec<usize> = (0..lp.len()).collect();
            order.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]).then(a.cmp(&b)));
            TokenLogprob {
                logprob: lp[next as usize],
                top: order
                    .into_iter()
                    .take(top)
                    .map(|j| (j as u32, lp[j]))
                    .collect(),
            }
        });
        self.history.push(next);
        self.generated += 1;
        stats.generated.fetch_add(1, Ordering::Relaxed);
        let mut finish = None;
        let mut text = String::new();
        if self.job.eos_token_ids.contains(&next) {
            finish = Some(FinishReason::Eos);
        } else {
            match self.stream.push(&engine.tokenizer, next) {
                Ok(step) => {
                    text = step.delta;
                    if let Some(s) = step.stopped {
                        finish = Some(FinishReason::Stop(s));
                    }
                }
                Err(e) => {
                    (self.job.sink)(JobEvent::Failed(e.to_string()));
                    self.done = true;
                    return;
                }
            }
            if finish.is_none()
                && (self.generated >= self.job.max_new_tokens || self.history.len() >= ctx)
            {
                finish = Some(FinishReason::Length);
            }
        }
        if matches!(finish, Some(FinishReason::Eos | FinishReason::Length)) {
            text.push_str(&self.stream.finish());
        }
        let alive = (self.job.sink)(JobEvent::Token {
            id: next,
            text,
            logprob,
        });
        if let Some(f) = finish {
            (self.job.sink)(JobEvent::Done {
                finish: f,
                tokens: self.generated,
            });
            self.done = true;
        } else if !alive {
            self.done = true;
        }
    }
}

fn run(engine: &Engine, rx: &mpsc::Receiver<Job>, stats: &SchedulerStats, max_batch: usize) {
    let ctx = engine.model.config().max_position_embeddings;
    let mut active: Vec<Seq> = Vec::new();
    loop {
        // Admit waiting jobs between steps; block only when there is nothing to decode.
        while active.len() < max_batch {
            let job = if active.is_empty() {
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            };
            stats.queued.fetch_sub(1, Ordering::SeqCst);
            if let Some(seq) = prefill(engine, job, ctx, stats) {
                active.push(seq);
            }
        }
        stats.active.store(active.len(), Ordering::SeqCst);
        if active.is_empty() {
            continue;
        }
        let tokens: Vec<u32> = active
            .iter()
            .map(|s| s.history.last().copied().unwrap_or(0))
            .collect();
        let mut caches: Vec<&mut SeqCache> = active.iter_mut().map(|s| &mut s.cache).collect();
        match engine.model.decode_step(&tokens, &mut caches) {
            Ok(rows) => {
                stats.steps.fetch_add(1, Ordering::Relaxed);
                for (seq, row) in active.iter_mut().zip(&rows) {
                    seq.accept(row, ctx, engine, stats);
                }
            }
            Err(e) => {
                for seq in &mut active {
                    (seq.job.sink)(JobEvent::Failed(e.to_string()));
                    seq.done = true;
                }
            }
        }
        active.retain(|s| !s.done);
        stats.active.store(active.len(), Ordering::SeqCst);
    }
}

/// Runs the prompt alone through the model and takes its first token; `None` when the job is
/// already over (no tokens wanted, finished at once, failed or abandoned).
fn prefill(engine: &Engine, mut job: Job, ctx: usize, stats: &SchedulerStats) -> Option<Seq> {
    if !(job.sink)(JobEvent::Started) {
        return None;
    }
    if job.max_new_tokens == 0 {
        (job.sink)(JobEvent::Done {
            finish: FinishReason::Length,
            tokens: 0,
        });
        return None;
    }
    let mut cache = KvCache::new(engine.model.config(), vec![0], engine.model.device());
    let row = (|| -> Result<(Vec<f32>, SeqCache), ModelError> {
        let t = job.prompt.len();
        let tokens = Tensor::from_vec(job.prompt.clone(), (1, t), engine.model.device())?;
        let logits = engine
            .model
            .forward(&tokens, &[], Some(&mut cache), Logits::Last)?;
        Ok((
            logits.flatten_all()?.to_vec1::<f32>()?,
            SeqCache::from_kv_cache(&cache)?,
        ))
    })();
    let (row, cache) = match row {
        Ok(r) => r,
        Err(e) => {
            (job.sink)(JobEvent::Failed(e.to_string()));
            return None;
        }
    };
    let mut seq = Seq {
        sampler: Sampler::new(job.sampling.clone()),
        stream: TextStream::new(&job.stop),
        history: job.prompt.clone(),
        cache,
        generated: 0,
        done: false,
        job,
    };
    seq.accept(&row, ctx, engine, stats);
    (!seq.done).then_some(seq)
}
