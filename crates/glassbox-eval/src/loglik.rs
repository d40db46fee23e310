//! Log-likelihood requests, scored as lm-evaluation-harness's `hf` backend scores them: the
//! model reads `(context + continuation)[-(max_length + 1):][:-1]` (the oldest tokens dropped
//! when the pair is longer than the window) and the continuation's log-probabilities are summed
//! over its last `len(continuation)` positions; `is_greedy` says whether every continuation
//! token was the model's argmax.
//!
//! Requests are scored in batches of rows padded on the left (the model's padded forward pass
//! gives each row the logits it gets alone, within f32 rounding; tested).

use candle_core::{D, Device, Tensor};
use glassbox_model::{Logits, Transformer};

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

/// Scores requests on a model.
#[derive(Debug)]
pub struct Scorer<'a> {
    model: &'a Transformer,
    /// The window: most tokens the model reads at once.
    pub max_length: usize,
    /// Rows per forward pass.
    pub batch_size: usize,
}

impl<'a> Scorer<'a> {
    /// A scorer over `model` with its `max_position_embeddings` as the window and batches of 8.
    pub fn new(model: &'a Transformer) -> Self {
        Self {
            model,
            max_length: model.config().max_position_embeddings,
            batch_size: 8,
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
        // Longest first, so a batch's rows are of similar length (lm-eval sorts the same way);
        // results go back in request order.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rows[i].0.len()));
        let mut out = vec![
            Score {
                loglikelihood: 0.0,
                is_greedy: false,
                truncated: false,
            };
            rows.len()
        ];
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
            let logits = self.model.forward(&input, &pad, None, Logits::All)?;
            let logp =
                candle_nn::ops::log_softmax(&logits.to_dtype(candle_core::DType::F32)?, D::Minus1)?;
            for (b, &i) in chunk.iter().enumerate() {
                let (_, n_cont, truncated, cont) = &rows[i];
                let row = logp.get(b)?;
                // The continuation's tokens are predicted at the last n_cont positions.
                let at = width - n_cont;
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
        }
        Ok(out)
    }
}
