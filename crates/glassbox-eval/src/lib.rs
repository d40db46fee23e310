//! Evaluation as lm-evaluation-harness defines it, on glassbox's models.
//!
//! - [`loglik`]: log-likelihood requests (context, continuation) scored as lm-eval's `hf`
//!   backend scores them — left truncation to the window, summed continuation log-probabilities,
//!   `is_greedy` — in batches of left-padded rows.
//! - [`task`] reads task YAMLs in lm-eval's dialect (local JSON data), [`fields`] resolves
//!   their `doc_to_*` fields, [`pyrandom`] is Python's `random` for lm-eval's few-shot draws, and
//!   [`evaluate`] runs a task: multiple choice (`acc`, `acc_norm`) or rolling perplexity.
//! - [`builtin`]: built-in tasks from a dataset's held-out documents (`heldout` bits per byte;
//!   [`corpus_tasks`]' `cloze`, `follows`) and `parallel` from two verse-aligned texts.
//! - [`series`]: every checkpoint of a run (or of Hub revisions), cached by weights, with curves.
//! - [`memorization`]: k-extractability of sampled training sequences at every checkpoint,
//!   each traced through the data order to the steps that trained on it.
//! - [`rolling`]: perplexity of whole texts in lm-eval's rolling windows, and its
//!   `word_perplexity`, `byte_perplexity` and `bits_per_byte`.

pub mod builtin;
pub mod corpus_tasks;
pub mod error;
pub mod evaluate;
pub mod fields;
pub mod loglik;
pub mod memorization;
pub mod pyrandom;
pub mod rolling;
pub mod series;
pub mod task;

pub use error::{EvalError, Result};
