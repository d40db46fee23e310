//! Turning logits into the next token: repetition penalty, temperature, top-k, top-p, min-p, in
//! the order transformers' `generate` applies them, then a draw from the seeded glassbox RNG.
//!
//! Greedy decoding (temperature 0) is the argmax, ties to the lowest id as `torch.argmax`.

use glassbox_core::rng::Rng;

use crate::{InferError, Result};

/// Sampling settings of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; `0` means greedy. Default 1.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (ties kept); `0` disables. Default 0.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`; `1` disables.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the most likely one; `0` disables.
    pub min_p: f32,
    /// CTRL-style penalty (Keskar et al., 2019) on every token already in the sequence: positive
    /// logits divided by it, negative ones multiplied; `1` disables.
    pub repetition_penalty: f32,
    /// Seed of the request's RNG: the same seed and inputs give the same tokens.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks ranges; the error names the parameter.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, v: f32, range: &str| {
            Err(InferError::Input(format!(
                "{name} = {v} is out of range ({range})"
            )))
        };
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature", self.temperature, "≥ 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", self.top_p, "0 < top_p ≤ 1");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", self.min_p, "0 ≤ min_p ≤ 1");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("repetition_penalty", self.repetition_penalty, "> 0");
        }
        Ok(())
    }
}

/// A request's sampler: its parameters and RNG stream.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
}

impl Sampler {
    /// A sampler whose RNG is seeded from `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = Rng::seed_from_u64(params.seed);
        Self { params, rng }
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Chooses the next token from `logits` (one row, vocabulary-sized), given the tokens of the
    /// sequence so far (`history`, prompt included) for the repetition penalty.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let mut logits = logits.to_vec();
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            let mut seen = vec![false; logits.len()];
            for &t in history {
                if let Some(s) = seen.get_mut(t as usize)
                    && !*s
                {
                    *s = true;
                    let l = &mut logits[t as usize];
                    *l = if *l < 0.0 {
                        *l * p.repetition_penalty
                    } else {
                        *l / p.repetition_penalty
                    };
                }
            }
        }
        if p.temperature == 0.0 {
            return argmax(&logits);
        }
        for l in logits.iter_mut() {
            *l /= p.temperature;
        }
        if p.top_k > 0 && p.top_k < logits.len() {
            let mut sorted = logits.clone();
            sorted.sort_unstable_by(|a, b| b.total_cmp(a));
            let kth = sorted[p.top_k - 1];
            for l in logits.iter_mut() {
                if *l < kth {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let mut probs = softmax(&logits);
        if p.top_p < 1.0 {
            let mut order: Vec<usize> = (0..probs.len()).collect();
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            let mut cum = 0.0;
            let mut keep = order.len();
            for (i, &id) in order.iter().enumerate() {
                cum += probs[id];
                if cum >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            for &id in &order[keep..] {
                probs[id] = 0.0;
            }
        }
        if p.min_p > 0.0 {
            let max = probs.iter().copied().fold(0.0, f64::max);
            let threshold = p.min_p as f64 * max;
            for q in probs.iter_mut() {
                if *q < threshold {
                    *q = 0.0;
                }
            }
        }
        let total: f64 = probs.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return argmax(&logits);
        }
        let mut u = self.rng.next_f64() * total;
        let mut last = 0;
        for (id, &q) in probs.iter().enumerate() {
            if q > 0.0 {
                last = id;
                if u < q {
                    return id as u32;
                }
                u -= q;
            }
        }
        last as u32
    }
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// Softmax in f64 (probabilities of masked `-inf` logits are exactly 0).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| ((l as f64) - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// `log_softmax` in f64.
pub fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = logits
        .iter()
        .map(|&l| ((l as f64) - max).exp())
        .sum::<f64>()
        .ln()
        + max;
    logits.iter().map(|&l| l as f64 - lse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(params: SamplingParams, logits: &[f32], n: usize) -> Vec<u32> {
        let mut s = Sampler::new(params);
        (0..n).map(|_| s.sample(logits, &[])).collect()
    }

    #[test]
    fn greedy_is_argmax_and_first_on_ties() {
        assert_eq!(
            draws(SamplingParams::greedy(), &[1.0, 3.0, 3.0, 0.0], 3),
            vec![1, 1, 1]
        );
    }

    #[test]
    fn same_seed_same_tokens_other_seed_differs() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let p = SamplingParams {
            seed: 11,
            ..Default::default()
        };
        assert_eq!(draws(p.clone(), &logits, 64), draws(p.clone(), &logits, 64));
        assert_ne!(
            draws(p, &logits, 64),
            draws(
                SamplingParams {
                    seed: 12,
                    ..Default::default()
                },
                &logits,
                64
            )
        );
    }

    #[test]
    fn filters_restrict_support() {
        let logits = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let topk = draws(
            SamplingParams {
                top_k: 2,
                ..Default::default()
            },
            &logits,
            500,
        );
        assert!(topk.iter().all(|&t| t >= 3));
        // Probabilities ≈ [.012, .032, .087, .236, .643]: top_p 0.8 keeps {4, 3}.
        let topp = draws(
            SamplingParams {
                top_p: 0.8,
                ..Default::default()
            },
            &logits,
            500,
        );
        assert!(topp.iter().all(|&t| t >= 3) && topp.contains(&3));
        // min_p 0.3 keeps tokens with p ≥ 0.3 × 0.643: {3, 4}.
        let minp = draws(
            SamplingParams {
                min_p: 0.3,
                ..Default::default()
            },
            &logits,
            500,
        );
        assert!(minp.iter().all(|&t| t >= 3) && minp.contains(&3));
    }

    #[test]
    fn repetition_penalty_follows_sign() {
        let mut s = Sampler::new(SamplingParams {
            repetition_penalty: 100.0,
            temperature: 0.0,
            ..Default::default()
        });
        // Token 0 (logit 2) is penalised to 0.02, so token 1 (logit 1) wins.
        assert_eq!(s.sample(&[2.0, 1.0, -1.0], &[0, 0]), 1);
        // A negative logit is pushed further down.
        assert_eq!(s.sample(&[-1.0, -2.0], &[0]), 1);
    }

    #[test]
    fn validation_names_parameter() {
        let e = SamplingParams {
            top_p: 0.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("top_p"));
    }

    #[test]
    fn log_softmax_normalises() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f64 = lp.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}
