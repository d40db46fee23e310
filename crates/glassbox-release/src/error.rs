//! The error type of `glassbox-release`.

use std::path::PathBuf;

/// Errors of releasing, verifying and tracing. A verification that *ran* and found a mismatch is
/// not an error: it is a failed check in the report.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A file could not be read or written.
    #[error(transparent)]
    Core(#[from] glassbox_core::CoreError),
    /// Training (recipe, checkpoints, replay) failed.
    #[error(transparent)]
    Train(#[from] glassbox_train::TrainError),
    /// The dataset failed.
    #[error(transparent)]
    Data(#[from] glassbox_data::DataError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] glassbox_model::ModelError),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A run, bundle or file is unusable; the message says why and what to do.
    #[error("{}: {message}", path.display())]
    Bundle {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A licence named in the recipe cannot be released (unknown id, no text available).
    #[error("recipe [release] {key} = \"{value}\": {message}")]
    License {
        /// The recipe key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
}

impl ReleaseError {
    pub(crate) fn bundle(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Self::Bundle {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ReleaseError> = std::result::Result<T, E>;
