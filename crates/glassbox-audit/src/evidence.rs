//! Evidence: where a finding comes from (a file and line, a URL, an API field, a MOT field).

use serde::Serialize;

/// The source of one piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Evidence {
    /// A file of the target, optionally a line (1-based).
    File {
        /// Path relative to the target root, `/`-separated.
        path: String,
        /// Line number, when the evidence is one line.
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
    /// A web address (linked repository, paper, licence page).
    Url {
        /// The address.
        url: String,
    },
    /// A field of a Hub API response (`cardData.license`, `siblings`, `refs.branches`).
    Api {
        /// The field path.
        field: String,
    },
    /// A field of a MOT model file (`release.components[3].license`).
    Mot {
        /// The field path.
        field: String,
    },
    /// A clause of a licence (identified licence key and section).
    Clause {
        /// The licence key (`llama-3-community`) or SPDX id.
        license: String,
        /// The section as the licence numbers it.
        section: String,
    },
}

impl Evidence {
    /// A whole file.
    pub fn file(path: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            line: None,
        }
    }

    /// One line of a file.
    pub fn line(path: impl Into<String>, line: usize) -> Self {
        Self::File {
            path: path.into(),
            line: Some(line),
        }
    }

    /// An API field.
    pub fn api(field: impl Into<String>) -> Self {
        Self::Api {
            field: field.into(),
        }
    }

    /// A web address.
    pub fn url(url: impl Into<String>) -> Self {
        Self::Url { url: url.into() }
    }

    /// A MOT field.
    pub fn mot(field: impl Into<String>) -> Self {
        Self::Mot {
            field: field.into(),
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File {
                path,
                line: Some(l),
            } => write!(f, "{path}:{l}"),
            Self::File { path, line: None } => write!(f, "{path}"),
            Self::Url { url } => write!(f, "{url}"),
            Self::Api { field } => write!(f, "api:{field}"),
            Self::Mot { field } => write!(f, "mot:{field}"),
            Self::Clause { license, section } => write!(f, "{license} §{section}"),
        }
    }
}
