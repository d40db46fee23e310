//! The error type of `glassbox-audit`.
//!
//! Only problems that stop an audit altogether are errors (a target that does not exist, a Hub
//! that cannot be reached while no cached copy exists). Defects *in* a release (missing files,
//! malformed YAML, hostile pickles, licence conflicts) are findings in the report, never errors.

use std::path::PathBuf;

/// Errors that prevent an audit from producing a report.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading a local file failed.
    #[error(transparent)]
    Core(#[from] glassbox_core::CoreError),
    /// The target string names nothing glassbox can audit.
    #[error("{target}: {message}")]
    Target {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        message: String,
    },
    /// A MOT model file does not follow the MOT schema.
    #[error("{}: {message}", path.display())]
    Mot {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The Hugging Face Hub could not be asked, or refused, and no cached answer exists.
    #[error("{url}: {message}")]
    Hub {
        /// The request.
        url: String,
        /// What went wrong, with a hint.
        message: String,
    },
    /// Writing a report or export failed.
    #[error("writing the report: {0}")]
    Report(String),
}

/// Result alias for this crate.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;
