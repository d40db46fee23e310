//! The error type of `glassbox-data`: every variant names the file, field or document at fault.

use std::path::PathBuf;

/// Errors of the data pipeline.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a file failed.
    #[error(transparent)]
    Core(#[from] glassbox_core::CoreError),
    /// A configuration file is invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An input file could not be read to its end (truncated archive, I/O error).
    #[error("{}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What happened and where.
        message: String,
    },
    /// A tokenizer could not be loaded, trained or used.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer file (or the output path when training).
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A dataset file disagrees with its manifest, or has a bad header.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A request cannot be served (a step past the end of the data, an unknown document).
    #[error("{0}")]
    Request(String),
}

/// Result alias for this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, e: std::io::Error) -> Self {
        Self::Core(glassbox_core::CoreError::io(op, path, e))
    }
}
