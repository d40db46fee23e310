//! The error type of `glassbox-infer`.

use std::path::PathBuf;

use glassbox_core::CoreError;
use glassbox_model::ModelError;

/// Errors from tokenizers, chat templates, generation and scoring.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Reading a file failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// Writing or reading a chat dataset failed.
    #[error(transparent)]
    Data(#[from] glassbox_data::DataError),
    /// `tokenizer.json` could not be loaded, or encoding/decoding failed.
    #[error("{}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A field of `tokenizer_config.json` or `generation_config.json` is invalid.
    #[error("{}: field `{field}`: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A line of a chat (instruction-tuning) JSONL file is invalid.
    #[error("{file} line {line}: {message}")]
    ChatData {
        /// The chat file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The chat template failed to compile or render.
    #[error("chat template ({source_name}): {message}")]
    Template {
        /// Where the template came from (`tokenizer_config.json`, `chat_template.jinja`).
        source_name: String,
        /// The template engine's message, or the template's own `raise_exception` text.
        message: String,
    },
    /// The model has no chat template.
    #[error(
        "{} has no chat template (no `chat_template` in tokenizer_config.json, no chat_template.jinja); \
         use `glassbox generate` for plain completion",
        dir.display()
    )]
    NoChatTemplate {
        /// The model directory.
        dir: PathBuf,
    },
    /// A request is invalid (empty prompt, too long, bad sampling parameter …).
    #[error("invalid request: {0}")]
    Input(String),
}

/// Result alias for this crate.
pub type Result<T, E = InferError> = std::result::Result<T, E>;
