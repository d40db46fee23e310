//! Quality filters with their published default thresholds (docs/data.md cites each):
//! Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods,
//! Analysis & Insights from Training Gopher", appendix A, table A1), the C4 rules (Raffel et al.
//! 2020, section 2.2) and the FineWeb rules (Penedo et al. 2024), each as datatrove implements it
//! (`datatrove/pipeline/filters/*`), re-implemented here.
//!
//! A filter returns `Ok` to keep a document, or the rule that removed it with a reason.

pub mod c4;
pub mod fineweb;
pub mod gopher;

/// Why a filter removed a document: the rule and a human reason with the measured value.
pub type Rejection = (&'static str, String);

/// Gopher's stop words for English (table A1), and the same number of the most frequent
/// function words for Spanish (glassbox's choice, as FineWeb-2 adapts the rule per language).
/// Other languages skip the stop-word rule.
pub fn stop_words(lang: &str) -> Option<&'static [&'static str]> {
    match lang {
        "eng" => Some(&["the", "be", "to", "of", "and", "that", "have", "with"]),
        "spa" => Some(&["de", "la", "que", "el", "en", "y", "los", "a"]),
        _ => None,
    }
}
