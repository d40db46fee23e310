//! Log-likelihood requests, scored as lm-evaluation-harness's `hf` backend scores them: the
//! model reads `(context + continuation)[-(max_length + 1):][:-1]` (the oldest tokens dropped
//! when the pair is longer than the window) and the continuation's log-probabilities are summed
//! over its last `len(continuation)` positions; `is_greedy` says whether every continuation
//! token was the model's argmax.
//!
//! Requests are scored in batches of rows padded on the left (the model's padded forward pass
//! gives each row the logits it gets alone, within f32 rounding; tested). Requests that share a
//! context (the choices of a multiple-choice question) and fit the window whole share one
//! forward pass over it: the context runs once into a key/value cache, its last position scores
//! every continuation's first token, and the continuations' remaining tokens run together on
//! copies of the cache (equal to scoring each alone within f32 rounding; tested).

use candle_core::{D, Device, Tensor};
use glassbox_model::{KvCache, Logits, RopeScaling, Transformer};

use crate::{EvalError, Result};

/// One request: token ids of the context and of the continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Context tokens (may be empty only when the continuation has at least two tokens).
    pub context: Vec<u32>,
    /// Continuation tokens (at least one).
    pub continuation: Vec<u32>,
}

/// A request's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Sum of `log p(continuation token | everything before it)`, natural log.
    pub loglikelihood: f64,
    /// Whether each continuation token was the most likely one.
    pub is_greedy: bool,
    /// Whether the context was cut from the left to fit the window.
    pub truncated: bool,
}

/// A progress report: called with (done, total) as work completes.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// Scores requests on a model.
#[derive(Debug)]
pub struct Scorer<'a> {
    model: &'a Transformer,
    /// The window: most tokens the model reads at once.
    pub max_length: usize,
    /// Rows per forward pass.
    pub batch_size: usize,
    /// Whether requests with the same context share its forward pass.
    pub share_context: bool,
    /// Told (requests scored, requests) as batches finish.
    pub progress: Option<Progress>,
}

impl<'a> Scorer<'a> {
    /// A scorer over `model` with its `max_position_embeddings` as the window and batches of 8.
    pub fn new(model: &'a Transformer) -> Self {
        Self {
            model,
            max_length: model.config().max_position_embeddings,
            batch_size: 8,
            share_context: true,
            progress: None,
        }
    }

    /// Scores every request, in order.
    pub fn score(&self, requests: &[Request]) -> Result<Vec<Score>> {
        // The tokens each request feeds, and where its continuation starts in them.
        let mut rows = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            if r.continuation.is_empty() {
                return Err(EvalError::Request(format!(
                    "request {i}: empty continuation"
                )));
            }
            let mut all = r.context.clone();
            all.extend_from_slice(&r.continuation);
            if all.len() < 2 {
                return Err(EvalError::Request(format!(
                    "request {i}: a one-token continuation needs a context token before it"
                )));
            }
            let keep = (self.max_length + 1).min(all.len());
            let truncated = keep < all.len();
            let window = all[all.len() - keep..all.len() - 1].to_vec();
            let n_cont = r.continuation.len().min(window.len());
            rows.push((window, n_cont, truncated, r.continuation.clone()));
        }
        let mut out = vec![
            Score {
                loglikelihood: 0.0,
                is_greedy: false,
                truncated: false,
            };
            rows.len()
        ];
        // Requests sharing a context, where each fits the window whole: scored from one pass
        // over it. (LongRoPE's factors depend on the sequence length, which the shared batch's
        // padding would change: not shared.)
        let mut shared = vec![false; requests.len()];
        let mut done = 0;
        let longrope = matches!(
            self.model.config().rope_scaling,
            RopeScaling::LongRope { .. }
        );
        if self.share_context && !longrope {
            let mut groups: std::collections::HashMap<&[u32], Vec<usize>> =
                std::collections::HashMap::new();
            for (i, r) in requests.iter().enumerate() {
                if !r.context.is_empty()
                    && r.context.len() + r.continuation.len() <= self.max_length + 1
                {
                    groups.entry(&r.context).or_default().push(i);
                }
            }
            let mut groups: Vec<(&[u32], Vec<usize>)> =
                groups.into_iter().filter(|(_, v)| v.len() > 1).collect();
            // Longest contexts first, so a batch's contexts are of similar length; a batch of
            // contexts holds `batch_size` questions.
            groups.sort_by_key(|(c, v)| (std::cmp::Reverse(c.len()), v[0]));
            let mut at = 0;
            while at < groups.len() {
                let end = (at + self.batch_size.max(1)).min(groups.len());
                let batch: Vec<(&[u32], Vec<&[u32]>)> = groups[at..end]
                    .iter()
                    .map(|(c, m)| {
                        (
                            *c,
                            m.iter()
                                .map(|&i| requests[i].continuation.as_slice())
                                .collect(),
                        )
                    })
                    .collect();
                let scores = self.score_shared(&batch)?;
                done += batch.iter().map(|q| q.1.len()).sum::<usize>();
                self.report(done, requests.len());
                for ((_, members), sc) in groups[at..end].iter().zip(scores) {
                    for (&i, x) in members.iter().zip(sc) {
                        out[i] = x;
                        shared[i] = true;
                    }
                }
                at = end;
            }
        }
        // Longest first, so a batch's rows are of similar length (lm-eval sorts the same way);
        // results go back in request order.
        let mut order: Vec<usize> = (0..rows.len()).filter(|&i| !shared[i]).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rows[i].0.len()));
        for chunk in order.chunks(self.batch_size.max(1)) {
            let width = chunk.iter().map(|&i| rows[i].0.len()).max().unwrap_or(1);
            let mut ids = Vec::with_capacity(chunk.len() * width);
            let mut pad = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let w = &rows[i].0;
                let p = width - w.len();
                // Pad with the row's own first token: padding slots are masked out.
                ids.extend(std::iter::repeat_n(w[0], p));
                ids.extend_from_slice(w);
                pad.push(p);
            }
            let input = Tensor::from_vec(ids, (chunk.len(), width), &Device::Cpu)?;
            let pad = if pad.iter().all(|&p| p == 0) {
                Vec::new()
            } else {
                pad
            };
            // Logits only where continuation tokens are predicted: the last positions.
            let need = chunk.iter().map(|&i| rows[i].1).max().unwrap_or(1);
            let logits = self
                .model
                .forward(&input, &pad, None, Logits::LastN(need))?;
            let logp =
                candle_nn::ops::log_softmax(&logits.to_dtype(candle_core::DType::F32)?, D::Minus1)?;
            for (b, &i) in chunk.iter().enumerate() {
                let (_, n_cont, truncated, cont) = &rows[i];
                let row = logp.get(b)?;
                // The continuation's tokens are predicted at the last n_cont positions.
                let at = need - n_cont;
                let lp = row.narrow(0, at, *n_cont)?;
                let targets: Vec<u32> = cont[cont.len() - n_cont..].to_vec();
                let t = Tensor::from_vec(targets.clone(), (*n_cont, 1), &Device::Cpu)?;
                let picked: Vec<f32> = lp.gather(&t, 1)?.squeeze(1)?.to_vec1()?;
                let argmax: Vec<u32> = lp.argmax(D::Minus1)?.to_vec1()?;
                out[i] = Score {
                    loglikelihood: picked.iter().map(|&x| x as f64).sum(),
                    is_greedy: argmax == targets,
                    truncated: *truncated,
                };
            }
            done += chunk.len();
            self.report(done, requests.len());
        }
        Ok(out)
    }

    fn report(&self, done: usize, total: usize) {
        if let Some(p) = &self.progress {
            (p.0)(done, total);
        }
    }

    /// Scores the continuations of each `(context, continuations)` question (contexts
    /// non-empty; every pair within the window): one pass over the contexts, left-padded into a
    /// key/value cache, whose last positions score every continuation's first token; then the
    /// continuations' other tokens, right-padded, on rows of the cache copied per continuation.
    fn score_shared(&self, questions: &[(&[u32], Vec<&[u32]>)]) -> Result<Vec<Vec<Score>>> {
        let cpu = Device::Cpu;
        let vocab = self.model.config().vocab_size;
        if let Some(bad) = questions
            .iter()
            .flat_map(|(_, cs)| cs.iter().flat_map(|c| c.iter()))
            .find(|&&t| t as usize >= vocab)
        {
            return Err(EvalError::Request(format!(
                "token id {bad} is outside the vocabulary (size {vocab})"
            )));
        }
        let width = questions.iter().map(|(c, _)| c.len()).max().unwrap_or(1);
        let mut ids = Vec::with_capacity(questions.len() * width);
        let mut pad = Vec::with_capacity(questions.len());
        for (c, _) in questions {
            ids.extend(std::iter::repeat_n(c[0], width - c.len()));
            ids.extend_from_slice(c);
            pad.push(width - c.len());
        }
        let mut cache = KvCache::new(self.model.config(), pad, &cpu);
        let input = Tensor::from_vec(ids, (questions.len(), width), &cpu)?;
        let last = self
            .model
            .forward(&input, &[], Some(&mut cache), Logits::Last)?
            .to_dtype(candle_core::DType::F32)?
            .squeeze(1)?;
        let first = candle_nn::ops::log_softmax(&last, D::Minus1)?;
        let first_best: Vec<u32> = first.argmax(D::Minus1)?.to_vec1()?;
        let first: Vec<Vec<f32>> = first.to_vec2()?;
        // One row per continuation with more than one token: all its tokens but the last.
        let mut rows = Vec::new();
        let mut tails: Vec<&[u32]> = Vec::new();
        for (q, (_, cs)) in questions.iter().enumerate() {
            for c in cs.iter().filter(|c| c.len() > 1) {
                rows.push(q);
                tails.push(c);
            }
        }
        // The tails longest first, `batch_size` rows at a time, so that little is padding; a
        // row joins a batch only if its context and the batch's width stay within the model's
        // positions (its padding is positions too).
        let mut rest: Vec<(f64, bool)> = vec![(0.0, true); tails.len()];
        let mut left: Vec<usize> = (0..tails.len()).collect();
        left.sort_by_key(|&i| std::cmp::Reverse(tails[i].len()));
        let max_pos = self.model.config().max_position_embeddings;
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        while let Some(&head) = left.first() {
            let w = tails[head].len() - 1;
            let mut chunk = Vec::new();
            left.retain(|&i| {
                let fits = questions[rows[i]].0.len() + w <= max_pos;
                let take = chunk.len() < self.batch_size.max(1) && (i == head || fits);
                if take {
                    chunk.push(i);
                }
                !take
            });
            chunks.push(chunk);
        }
        for chunk in &chunks {
            let w = chunk.iter().map(|&i| tails[i].len() - 1).max().unwrap_or(1);
            let mut ids = Vec::with_capacity(chunk.len() * w);
            for &i in chunk {
                let c = tails[i];
                // Padding on the right: causal attention never lets a real token read it.
                ids.extend_from_slice(&c[..c.len() - 1]);
                ids.extend(std::iter::repeat_n(c[0], w - (c.len() - 1)));
            }
            let input = Tensor::from_vec(ids, (chunk.len(), w), &cpu)?;
            let picked_rows: Vec<usize> = chunk.iter().map(|&i| rows[i]).collect();
            let mut per_row = cache.select_rows(&picked_rows)?;
            let logits = self
                .model
                .forward(&input, &[], Some(&mut per_row), Logits::All)?;
            let logp =
                candle_nn::ops::log_softmax(&logits.to_dtype(candle_core::DType::F32)?, D::Minus1)?;
            for (b, &i) in chunk.iter().enumerate() {
                let c = tails[i];
                let n = c.len() - 1;
                let lp = logp.get(b)?.narrow(0, 0, n)?;
                let targets = c[1..].to_vec();
                let t = Tensor::from_vec(targets.clone(), (n, 1), &cpu)?;
                let picked: Vec<f32> = lp.gather(&t, 1)?.squeeze(1)?.to_vec1()?;
                let argmax: Vec<u32> = lp.argmax(D::Minus1)?.to_vec1()?;
                rest[i] = (picked.iter().map(|&x| x as f64).sum(), argmax == targets);
            }
        }
        let mut rest = rest.into_iter();
        let mut out = Vec::with_capacity(questions.len());
        for (q, (_, cs)) in questions.iter().enumerate() {
            let mut scores = Vec::with_capacity(cs.len());
            for c in cs {
                let (ll, greedy) = if c.len() > 1 {
                    rest.next().unwrap_or((0.0, false))
                } else {
                    (0.0, true)
                };
                scores.push(Score {
                    loglikelihood: first[q][c[0] as usize] as f64 + ll,
                    is_greedy: greedy && first_best[q] == c[0],
                    truncated: false,
                });
            }
            out.push(scores);
        }
        Ok(out)
    }
}
