//! Evaluation as lm-evaluation-harness defines it, on glassbox's models.
//!
//! - [`loglik`]: log-likelihood requests (context, continuation) scored as lm-eval's `hf`
//!   backend scores them — left truncation to the window, summed continuation log-probabilities,
//!   `is_greedy` — in batches of left-padded rows.
//! - [`rolling`]: perplexity of whole texts in lm-eval's rolling windows, and its
//!   `word_perplexity`, `byte_perplexity` and `bits_per_byte`.

pub mod error;
pub mod loglik;
pub mod rolling;

pub use error::{EvalError, Result};
