//! The error type of `glassbox-model`: every variant names the file, field or tensor at fault.

use std::path::PathBuf;

use glassbox_core::CoreError;

/// Errors from loading, running and saving models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading a file or parsing its JSON failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A file the model directory must contain is absent.
    #[error("{}: missing; {hint}", path.display())]
    MissingFile {
        /// The expected path.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// A `config.json` field is missing, of the wrong type, or has a value glassbox does not support.
    #[error("{}: field `{field}`: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The field, as a JSON path (`rope_scaling.rope_type`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A GGUF file is malformed or holds what glassbox does not read; the message names the
    /// metadata key or tensor.
    #[error("{}: invalid GGUF: {message}", path.display())]
    Gguf {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key or tensor.
        message: String,
    },
    /// A safetensors file is malformed (header, offsets, dtype or length).
    #[error("{}: invalid safetensors{}: {message}", path.display(), tensor_suffix(tensor))]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The tensor concerned, when the problem is in one entry.
        tensor: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A tensor the configuration needs is in none of the weight files.
    #[error("tensor `{name}` is missing from {where_}; the checkpoint does not match config.json")]
    MissingTensor {
        /// The tensor name (HF naming).
        name: String,
        /// The files searched.
        where_: String,
    },
    /// A tensor has a shape that disagrees with `config.json`.
    #[error(
        "{}: tensor `{name}` has shape {found:?}, but config.json implies {expected:?}",
        path.display()
    )]
    TensorShape {
        /// The weight file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A LoRA adapter does not fit the model, or its files are malformed.
    #[error("{}: {message}", path.display())]
    Adapter {
        /// The adapter directory or file.
        path: PathBuf,
        /// What is wrong, naming the field or tensor.
        message: String,
    },
    /// A request to the model is invalid (empty input, token id past the vocabulary, too long).
    #[error("invalid input: {0}")]
    Input(String),
    /// A device cannot be opened (`--device`).
    #[error("device: {0}")]
    Device(String),
    /// The tensor engine failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

fn tensor_suffix(t: &Option<String>) -> String {
    t.as_ref()
        .map(|t| format!(" (tensor `{t}`)"))
        .unwrap_or_default()
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
