//! The error type of `glassbox-core`.

use std::path::PathBuf;

/// Errors from the shared helpers. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// An I/O operation on `path` failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "writing", "renaming" …).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file did not parse, or did not have the expected shape.
    #[error("{}: invalid JSON at line {line}, column {column}: {message}", path.display())]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// What serde_json reported.
        message: String,
    },
    /// A file's schema version is not one this build can read.
    #[error(
        "{}: schema_version {found} is not supported (this glassbox reads {supported}); {hint}",
        path.display()
    )]
    Schema {
        /// The file concerned.
        path: PathBuf,
        /// The version found in the file.
        found: String,
        /// The versions this build reads.
        supported: String,
        /// What to do about it.
        hint: &'static str,
    },
}

/// Result alias for this crate.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    /// Wraps an I/O error with the operation and path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Wraps a serde_json error with the path.
    pub fn json(path: impl Into<PathBuf>, err: &serde_json::Error) -> Self {
        // serde_json's Display appends " at line L column C"; keep only the message.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) if err.line() > 0 => full[..i].to_string(),
            _ => full,
        };
        Self::Json {
            path: path.into(),
            line: err.line(),
            column: err.column(),
            message,
        }
    }
}
