//! The error type of `glassbox-train`.

use std::path::PathBuf;

/// Errors of training. Recipe problems are found before any step runs.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error(transparent)]
    Core(#[from] glassbox_core::CoreError),
    /// The model failed (loading, forward, saving).
    #[error(transparent)]
    Model(#[from] glassbox_model::ModelError),
    /// The dataset failed (missing, modified, too short).
    #[error(transparent)]
    Data(#[from] glassbox_data::DataError),
    /// The recipe is invalid; the message names the key.
    #[error("{}: {message}", path.display())]
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The run directory is unusable or a checkpoint is damaged.
    #[error("{}: {message}", path.display())]
    Run {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "loss is {loss} at step {step}; training stopped. The last good checkpoint is {last_good}"
    )]
    Diverged {
        /// The step whose loss was not finite.
        step: u64,
        /// The loss value.
        loss: f32,
        /// The newest checkpoint written before it.
        last_good: String,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result alias for this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
