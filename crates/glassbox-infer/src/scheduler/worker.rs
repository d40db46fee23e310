//! The scheduler thread: admission, chunked prefill, batched decoding, and what happens when
//! model code panics.
//!
//! Panics and state: model code only reads the weights (the [`glassbox_model::Transformer`] is
//! shared immutably), so after a panic the model is as it was. What a panic may leave half
//! written is the cache being filled — a prefill's [`KvCache`], or the [`SeqCache`]s of one
//! decoding step, which may hold a new position in some layers and not in others. Those caches
//! are discarded with the requests they belong to (one request for a prefill; every sequence of
//! the step for a decoding step, since they share the forward pass), which is why catching the
//! panic with `AssertUnwindSafe` is sound here.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Instant;

use candle_core::Tensor;
use glassbox_model::{KvCache, Logits, ModelError, SeqCache};

use super::{Job, JobEvent, SchedulerOptions, SchedulerStats, TokenLogprob};
use crate::engine::{Engine, FinishReason};
use crate::sampling::{Sampler, log_softmax};
use crate::stream::TextStream;

/// What the clients of a dead scheduler are told.
const CRASHED: &str = "the scheduler thread stopped after an internal error";

/// The scheduler thread's state. Dropping it while the thread unwinds fails every job it holds.
pub(super) struct Worker {
    engine: Arc<Engine>,
    rx: mpsc::Receiver<(Instant, Job)>,
    stats: Arc<SchedulerStats>,
    max_batch: usize,
    max_queue_wait: Option<std::time::Duration>,
    prefill_chunk: usize,
    ctx: usize,
    /// Admitted jobs whose prompt is not fully in their cache yet, first come first served.
    prefilling: VecDeque<Prefill>,
    /// Sequences being decoded.
    active: Vec<Seq>,
    /// When the last decoding step ended, while sequences were running.
    last_step: Option<Instant>,
}

impl Worker {
    pub(super) fn new(
        engine: Arc<Engine>,
        rx: mpsc::Receiver<(Instant, Job)>,
        stats: Arc<SchedulerStats>,
        options: SchedulerOptions,
    ) -> Self {
        let ctx = engine.model.config().max_position_embeddings;
        Self {
            engine,
            rx,
            stats,
            max_batch: options.max_batch.max(1),
            max_queue_wait: options.max_queue_wait,
            prefill_chunk: options.prefill_chunk.max(1),
            ctx,
            prefilling: VecDeque::new(),
            active: Vec::new(),
            last_step: None,
        }
    }

    /// Serves until the channel closes and every job is done.
    pub(super) fn run(mut self) {
        // One iteration: admit, prefill at most one chunk's worth, decode one token for every
        // running sequence. Interleaving keeps a long prompt from stalling the running streams.
        while self.admit() {
            self.prefill_some();
            self.decode();
            self.stats
                .active
                .store(self.active.len() + self.prefilling.len(), Ordering::SeqCst);
        }
    }

    /// Takes waiting jobs while there is room; blocks only when there is nothing else to do.
    /// `false` when the channel is closed and nothing is left.
    fn admit(&mut self) -> bool {
        while self.active.len() + self.prefilling.len() < self.max_batch {
            let idle = self.active.is_empty() && self.prefilling.is_empty();
            let (queued_at, mut job) = if idle {
                match self.rx.recv() {
                    Ok(j) => j,
                    Err(_) => return false,
                }
            } else {
                match self.rx.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            };
            self.stats.queued.fetch_sub(1, Ordering::SeqCst);
            let waited = queued_at.elapsed();
            if self.max_queue_wait.is_some_and(|max| waited > max) {
                self.stats.expired.fetch_add(1, Ordering::Relaxed);
                (job.sink)(JobEvent::Expired(waited));
                continue;
            }
            #[cfg(feature = "fault-injection")]
            super::fault::at_admission(&job.prompt);
            self.start(job);
        }
        true
    }

    fn start(&mut self, mut job: Job) {
        if !(job.sink)(JobEvent::Started) {
            return;
        }
        if job.max_new_tokens == 0 && job.score_prompt.is_none() {
            (job.sink)(JobEvent::Done {
                finish: FinishReason::Length,
                tokens: 0,
            });
            return;
        }
        let cache = KvCache::new(
            self.engine.model.config(),
            vec![0],
            self.engine.model.device(),
        );
        self.prefilling.push_back(Prefill {
            job,
            cache,
            fed: 0,
            scored: false,
        });
    }

    /// Advances the waiting prefills by at most `prefill_chunk` prompt tokens in all (at least
    /// one piece of work, however large: a prompt score is one forward pass over the prompt).
    fn prefill_some(&mut self) {
        let mut used = 0;
        while let Some(p) = self.prefilling.front_mut() {
            let cost = p.next_cost(self.prefill_chunk);
            if used > 0 && used + cost > self.prefill_chunk {
                break;
            }
            used += cost;
            match p.advance(&self.engine, self.prefill_chunk, &self.stats) {
                Progress::More => {}
                Progress::Over => {
                    self.prefilling.pop_front();
                }
                Progress::Ready(row, cache) => {
                    let Some(p) = self.prefilling.pop_front() else {
                        break;
                    };
                    let mut seq = Seq {
                        sampler: Sampler::new(p.job.sampling.clone()),
                        stream: TextStream::new(&p.job.stop),
                        history: p.job.prompt.clone(),
                        cache,
                        generated: 0,
                        done: false,
                        job: p.job,
                    };
                    seq.accept_guarded(&row, self.ctx, &self.engine, &self.stats);
                    if !seq.done {
                        self.active.push(seq);
                    }
                }
            }
        }
    }

    /// One decoding step for every running sequence.
    fn decode(&mut self) {
        if self.active.is_empty() {
            self.last_step = None;
            return;
        }
        let tokens: Vec<u32> = self
            .active
            .iter()
            .map(|s| s.history.last().copied().unwrap_or(0))
            .collect();
        #[cfg(feature = "fault-injection")]
        let inject = self
            .active
            .iter()
            .any(|s| super::fault::panics_in_decode(&s.job.prompt, s.generated));
        #[cfg(feature = "fault-injection")]
        if self
            .active
            .iter()
            .any(|s| super::fault::slows_decode(&s.job.prompt))
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let engine = &self.engine;
        let mut caches: Vec<&mut SeqCache> = self.active.iter_mut().map(|s| &mut s.cache).collect();
        let rows = guarded(&self.stats, || {
            #[cfg(feature = "fault-injection")]
            if inject {
                super::fault::panic_now("decode step");
            }
            engine.model.decode_step(&tokens, &mut caches)
        });
        match rows {
            Ok(rows) => {
                self.stats.steps.fetch_add(1, Ordering::Relaxed);
                for (seq, row) in self.active.iter_mut().zip(&rows) {
                    seq.accept_guarded(row, self.ctx, &self.engine, &self.stats);
                }
            }
            Err(message) => {
                // Every sequence of the step shares the failed forward pass; their caches may
                // be half written, so none of them can go on.
                for seq in &mut self.active {
                    fail(&mut seq.job, &message);
                    seq.done = true;
                }
            }
        }
        let now = Instant::now();
        if let Some(prev) = self.last_step {
            let gap = now.duration_since(prev).as_micros() as u64;
            self.stats
                .max_decode_gap_us
                .fetch_max(gap, Ordering::Relaxed);
        }
        self.active.retain(|s| !s.done);
        self.last_step = (!self.active.is_empty()).then_some(now);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Only an unwinding thread has anything to clean up: a normal return means the channel
        // closed with every job done. Sinks must not panic here (that would abort).
        if !std::thread::panicking() {
            return;
        }
        self.stats.crashed.store(true, Ordering::SeqCst);
        eprintln!("glassbox scheduler: the thread died; failing its pending requests");
        for s in &mut self.active {
            (s.job.sink)(JobEvent::Failed(CRASHED.into()));
        }
        for p in &mut self.prefilling {
            (p.job.sink)(JobEvent::Failed(CRASHED.into()));
        }
        while let Ok((_, mut job)) = self.rx.try_recv() {
            self.stats.queued.fetch_sub(1, Ordering::SeqCst);
            (job.sink)(JobEvent::Failed(CRASHED.into()));
        }
        self.stats.active.store(0, Ordering::SeqCst);
        // Jobs sent after this drain are dropped with the receiver; their sinks close, which
        // their receivers see at once.
    }
}

/// Runs model code; an error or a panic becomes the message the failed jobs report.
fn guarded<T, E: std::fmt::Display>(
    stats: &SchedulerStats,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => {
            stats.panics.fetch_add(1, Ordering::Relaxed);
            let what = glassbox_core::panics::message(payload.as_ref());
            Err(format!("the model panicked: {what}"))
        }
    }
}

/// Reports `message` as the job's end; a sink that panics is ignored (the job is over anyway).
fn fail(job: &mut Job, message: &str) {
    let sink = &mut job.sink;
    let _ = catch_unwind(AssertUnwindSafe(|| {
        sink(JobEvent::Failed(message.to_string()))
    }));
}

/// A job being prefilled.
struct Prefill {
    job: Job,
    cache: KvCache,
    /// Prompt tokens in `cache`.
    fed: usize,
    /// Whether its prompt score (when asked for) was reported.
    scored: bool,
}

/// What one piece of prefill work left.
enum Progress {
    /// More to do.
    More,
    /// The job is over (failed, abandoned, or nothing to generate).
    Over,
    /// The prompt is in the cache: the logits of the next position, and the cache to decode with.
    Ready(Vec<f32>, SeqCache),
}

impl Prefill {
    /// Prompt tokens the next piece of work processes.
    fn next_cost(&self, chunk: usize) -> usize {
        if self.job.score_prompt.is_some() && !self.scored {
            self.job.prompt.len()
        } else {
            chunk.min(self.job.prompt.len() - self.fed)
        }
    }

    /// Does the next piece of work: the prompt score, or the next chunk of the prompt. Chunks
    /// start at multiples of `chunk` whatever else is waiting, so the cache — and every token
    /// after it — depends only on the prompt.
    fn advance(&mut self, engine: &Engine, chunk: usize, stats: &SchedulerStats) -> Progress {
        if let Some(top) = self.job.score_prompt.filter(|_| !self.scored) {
            self.scored = true;
            let prompt = &self.job.prompt;
            match guarded(stats, || engine.score(prompt, top)) {
                Ok(scores) => {
                    stats.scored_prompts.fetch_add(1, Ordering::Relaxed);
                    if !(self.job.sink)(JobEvent::PromptScores(scores)) {
                        return Progress::Over;
                    }
                }
                Err(message) => {
                    fail(&mut self.job, &message);
                    return Progress::Over;
                }
            }
            if self.job.max_new_tokens == 0 {
                (self.job.sink)(JobEvent::Done {
                    finish: FinishReason::Length,
                    tokens: 0,
                });
                return Progress::Over;
            }
            return Progress::More;
        }
        let (start, len) = (self.fed, self.job.prompt.len());
        let end = (start + chunk).min(len);
        let piece = &self.job.prompt[start..end];
        let cache = &mut self.cache;
        #[cfg(feature = "fault-injection")]
        let inject = super::fault::panics_in_prefill(&self.job.prompt);
        let out = guarded(
            stats,
            || -> Result<Option<(Vec<f32>, SeqCache)>, ModelError> {
                #[cfg(feature = "fault-injection")]
                if inject {
                    super::fault::panic_now("prefill");
                }
                let device = engine.model.device();
                let tokens = Tensor::from_vec(piece.to_vec(), (1, piece.len()), device)?;
                let logits = engine
                    .model
                    .forward(&tokens, &[], Some(&mut *cache), Logits::Last)?;
                if end < len {
                    return Ok(None);
                }
                Ok(Some((
                    logits.flatten_all()?.to_vec1::<f32>()?,
                    SeqCache::from_kv_cache(cache)?,
                )))
            },
        );
        match out {
            Ok(None) => {
                self.fed = end;
                Progress::More
            }
            Ok(Some((row, seq_cache))) => Progress::Ready(row, seq_cache),
            Err(message) => {
                fail(&mut self.job, &message);
                Progress::Over
            }
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
    /// [`Seq::accept`], failing the sequence alone if sampling or detokenising panics.
    fn accept_guarded(&mut self, row: &[f32], ctx: usize, engine: &Engine, stats: &SchedulerStats) {
        let r = guarded(stats, || {
            self.accept(row, ctx, engine, stats);
            Ok::<(), std::convert::Infallible>(())
        });
        if let Err(message) = r {
            fail(&mut self.job, &message);
            self.done = true;
        }
    }

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
