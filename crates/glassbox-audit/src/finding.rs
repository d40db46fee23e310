//! Findings: defects and facts worth a reader's attention (security, licence conflicts, gated
//! access, bounded reads), each with its evidence.

use serde::Serialize;

use crate::evidence::Evidence;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// May change the verdict or needs a human look.
    Warning,
    /// A security risk or a defect that decides the verdict.
    Error,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Pickle-based weights, escaping links, dangerous imports.
    Security,
    /// Two sources disagree about a licence.
    LicenseConflict,
    /// A licence that could not be identified.
    UnknownLicense,
    /// Downloads require accepting terms or approval.
    Gated,
    /// A file was larger or deeper than the audit reads; it was cut or skipped.
    Bounded,
    /// Malformed metadata (YAML front matter, JSON).
    Malformed,
    /// A file or directory could not be read.
    Unreadable,
    /// Reproducibility evidence (logs, data order, recipe, replay record).
    Reproducibility,
    /// Anything else.
    Note,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What it is about.
    pub kind: FindingKind,
    /// One sentence.
    pub message: String,
    /// Where it comes from.
    pub evidence: Vec<Evidence>,
}

impl Finding {
    /// A finding.
    pub fn new(
        severity: Severity,
        kind: FindingKind,
        message: String,
        evidence: Vec<Evidence>,
    ) -> Self {
        Self {
            severity,
            kind,
            message,
            evidence,
        }
    }
}
