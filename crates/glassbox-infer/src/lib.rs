//! Using a model: tokenizers and chat templates, KV-cached generation with sampling, and scoring.
//!
//! - [`TextTokenizer`] loads `tokenizer.json` with the special tokens and chat template of
//!   `tokenizer_config.json` / `chat_template.jinja`.
//! - [`ChatTemplate`] renders conversations as transformers' `apply_chat_template` does.
//! - [`Sampler`] applies repetition penalty, temperature, top-k, top-p and min-p, seeded.
//! - [`Engine`] ties a [`glassbox_model::Transformer`] to its tokenizer and generation config:
//!   [`Engine::generate`] runs a batch of prompts (left-padded, KV cache, stop strings, EOS),
//!   streaming text; [`Engine::score`] gives per-token log-probabilities.
//! - [`sft`] renders instruction-tuning conversations and marks the assistant's tokens;
//!   [`sft_dataset`] writes (and derives again) the chat datasets training reads.
//! - [`scheduler::Scheduler`]: continuous batching for servers — requests join between decoding
//!   steps and share one batch-invariant forward pass per step.
//!
//! ```no_run
//! use glassbox_infer::{Engine, GenerateOptions};
//! # fn main() -> Result<(), glassbox_infer::InferError> {
//! let engine = Engine::load("SmolLM2-135M-Instruct".as_ref(), &candle_core::Device::Cpu)?;
//! let prompt = engine.tokenizer.encode("The capital of France is", true)?;
//! let mut request = engine.request(prompt);
//! request.max_new_tokens = 16;
//! let out = engine.generate(&[request], GenerateOptions::default(), &mut |_, text| print!("{text}"))?;
//! println!("\n{:?}", out[0].finish);
//! # Ok(()) }
//! ```

pub mod bench;
pub mod chat;
mod chat_check;
pub mod engine;
pub mod error;
pub mod generation_config;
pub mod ollama_template;
pub mod sampling;
pub mod scheduler;
pub mod sft;
pub mod sft_dataset;
pub mod stream;
pub mod tokenizer;

pub use chat::ChatTemplate;
pub use engine::{Completion, Engine, FinishReason, GenerateOptions, Request, Session, TokenScore};
pub use error::{InferError, Result};
pub use generation_config::GenerationConfig;
pub use sampling::{Sampler, SamplingParams};
pub use tokenizer::TextTokenizer;
