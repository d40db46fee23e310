//! Perplexity of whole texts as lm-evaluation-harness's `loglikelihood_rolling` computes it: the
//! text's tokens cut into windows of at most `max_length` predictions, the first predicted from
//! the prefix token (end-of-text) alone, each later window predicting the next tokens from the
//! `max_length` tokens before them (context length 1: disjoint predictions, every token scored
//! exactly once), and the metrics lm-eval reports for such tasks.

use crate::Result;
use crate::loglik::{Request, Scorer};

/// The `(context, continuation)` token windows of `tokens` (lm-eval's
/// `get_rolling_token_windows(tokens, prefix, max_len, context_len = 1)` followed by
/// `make_disjoint_window`).
pub fn rolling_windows(tokens: &[u32], prefix: u32, max_len: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut out = Vec::new();
    if tokens.is_empty() || max_len == 0 {
        return out;
    }
    let pred_len = max_len; // max_len − context_len + 1 with context_len = 1
    let first = max_len.min(tokens.len());
    let mut ctx = vec![prefix];
    ctx.extend_from_slice(&tokens[..first - 1]);
    out.push(disjoint(ctx, tokens[..first].to_vec()));
    let mut predicted = first;
    while predicted < tokens.len() {
        let n = (tokens.len() - predicted).min(pred_len);
        let end = predicted + n;
        let start = end.saturating_sub(max_len + 1);
        out.push(disjoint(
            tokens[start..end - 1].to_vec(),
            tokens[end - n..end].to_vec(),
        ));
        predicted += n;
    }
    out
}

/// `make_disjoint_window`: the context without the continuation's tokens it overlaps.
fn disjoint(context: Vec<u32>, continuation: Vec<u32>) -> (Vec<u32>, Vec<u32>) {
    let keep = context.len() - (continuation.len() - 1).min(context.len());
    (context[..keep].to_vec(), continuation)
}

/// The summed log-likelihood of `tokens` under the scorer's model, scored in rolling windows.
pub fn loglikelihood_rolling(scorer: &Scorer<'_>, tokens: &[u32], prefix: u32) -> Result<f64> {
    let requests: Vec<Request> = rolling_windows(tokens, prefix, scorer.max_length)
        .into_iter()
        .map(|(context, continuation)| Request {
            context,
            continuation,
        })
        .collect();
    Ok(scorer
        .score(&requests)?
        .iter()
        .map(|s| s.loglikelihood)
        .sum())
}

/// What lm-eval reports for a perplexity task, from per-document log-likelihoods, words and
/// bytes: `word_perplexity` = exp(−Σ ll / Σ words), `byte_perplexity` = exp(−Σ ll / Σ bytes),
/// `bits_per_byte` = −Σ ll / Σ bytes / ln 2.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Perplexity {
    /// exp(−Σ ll / Σ words).
    pub word_perplexity: f64,
    /// exp(−Σ ll / Σ bytes).
    pub byte_perplexity: f64,
    /// −Σ ll / Σ bytes / ln 2.
    pub bits_per_byte: f64,
}

impl Perplexity {
    /// Aggregates `(loglikelihood, words, bytes)` per document.
    pub fn of(docs: &[(f64, usize, usize)]) -> Self {
        let ll: f64 = docs.iter().map(|d| d.0).sum();
        let words: usize = docs.iter().map(|d| d.1).sum();
        let bytes: usize = docs.iter().map(|d| d.2).sum();
        Self {
            word_perplexity: (-ll / words.max(1) as f64).exp(),
            byte_perplexity: (-ll / bytes.max(1) as f64).exp(),
            bits_per_byte: -ll / bytes.max(1) as f64 / std::f64::consts::LN_2,
        }
    }
}

/// Words as lm-eval counts them: `len(re.split(r"\s+", text))` (a leading or trailing run of
/// whitespace yields an empty piece, which counts).
pub fn count_words(text: &str) -> usize {
    let mut runs = 0;
    let mut in_space = false;
    for c in text.chars() {
        let s = crate::evaluate::py_space(c);
        if s && !in_space {
            runs += 1;
        }
        in_space = s;
    }
    runs + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_predict_every_token_once_from_at_most_max_len_before_it() {
        let tokens: Vec<u32> = (1..=10).collect();
        let w = rolling_windows(&tokens, 0, 4);
        // First window: the prefix (and the predicted tokens before each) predict tokens 1..=4;
        // disjoint, the context is the prefix alone.
        assert_eq!(w[0], (vec![0], vec![1, 2, 3, 4]));
        // Then 4 more from the 4 before them (disjoint context: the tokens not predicted).
        assert_eq!(w[1], (vec![4], vec![5, 6, 7, 8]));
        assert_eq!(w[2], (vec![6, 7, 8], vec![9, 10]));
        let predicted: Vec<u32> = w.iter().flat_map(|(_, c)| c.clone()).collect();
        assert_eq!(predicted, tokens);
        for (ctx, cont) in &w {
            assert!(ctx.len() + cont.len() <= 4 + 1);
        }
        assert!(rolling_windows(&[], 0, 4).is_empty());
        assert_eq!(rolling_windows(&[7], 0, 4), vec![(vec![0], vec![7])]);
    }

    #[test]
    fn words_and_metrics_follow_lm_eval() {
        assert_eq!(count_words("a b  c"), 3);
        assert_eq!(count_words(" a b"), 3);
        let p = Perplexity::of(&[(-2.0, 2, 4), (-2.0, 2, 4)]);
        assert!((p.word_perplexity - 1f64.exp()).abs() < 1e-12);
        assert!((p.bits_per_byte - 0.5 / std::f64::consts::LN_2).abs() < 1e-12);
    }
}
