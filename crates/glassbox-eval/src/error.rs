//! The error type of `glassbox-eval`: every variant names the task, document or field at fault.

use std::path::PathBuf;

/// Errors of evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Running the model failed.
    #[error(transparent)]
    Model(#[from] glassbox_model::ModelError),
    /// Tokenising or loading the model failed.
    #[error(transparent)]
    Infer(#[from] glassbox_infer::InferError),
    /// Reading a file failed.
    #[error(transparent)]
    Core(#[from] glassbox_core::CoreError),
    /// Reading a dataset failed.
    #[error(transparent)]
    Data(#[from] glassbox_data::DataError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// A task definition is invalid.
    #[error("task {task} ({}): {message}", path.display())]
    Task {
        /// The task's name.
        task: String,
        /// Its YAML file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A document of a task cannot be turned into requests.
    #[error("task {task}, document {doc}: {message}")]
    Document {
        /// The task's name.
        task: String,
        /// The document's index in its split.
        doc: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A request is impossible (empty continuation …).
    #[error("{0}")]
    Request(String),
}

/// Result alias for this crate.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
