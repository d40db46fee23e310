//! FineWeb rules (Penedo et al. 2024, section 3.3), as datatrove's `FineWebQualityFilter`: at
//! least 12 % of non-empty lines end in terminal punctuation; at most 67 % of lines are 30
//! characters or shorter; characters in duplicated lines at most 1 % of the text; at most 0.3
//! newlines per word.

use std::collections::HashSet;

use super::Rejection;
use crate::text::words;

const TERMINAL: &[char] = &[
    '.', '!', '?', '"', '\'', '”', '’', '»', '。', '！', '？', '؟', '।', '…',
];

/// Applies the rules.
pub fn check(text: &str) -> Result<(), Rejection> {
    let lines: Vec<&str> = text.split('\n').filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return Err(("fineweb_empty", "no non-empty line".into()));
    }
    let n = lines.len() as f64;
    let punct = lines.iter().filter(|l| l.ends_with(TERMINAL)).count() as f64 / n;
    if punct < 0.12 {
        return Err((
            "fineweb_line_punct_ratio",
            format!("{:.0}% of lines end in punctuation < 12%", punct * 100.0),
        ));
    }
    let short = lines.iter().filter(|l| l.chars().count() <= 30).count() as f64 / n;
    if short > 0.67 {
        return Err((
            "fineweb_short_line_ratio",
            format!("{:.0}% of lines are ≤ 30 characters > 67%", short * 100.0),
        ));
    }
    let mut seen = HashSet::new();
    let dup_chars: usize = lines
        .iter()
        .filter(|l| !seen.insert(**l))
        .map(|l| l.chars().count())
        .sum();
    let chars = text.chars().filter(|c| *c != '\n').count().max(1) as f64;
    if dup_chars as f64 / chars > 0.01 {
        return Err((
            "fineweb_char_dup_ratio",
            format!(
                "{:.1}% of characters in duplicated lines > 1%",
                dup_chars as f64 / chars * 100.0
            ),
        ));
    }
    let nl = text.matches('\n').count() as f64 / words(text).len().max(1) as f64;
    if nl > 0.3 {
        return Err((
            "fineweb_list_ratio",
            format!("{nl:.2} newlines per word > 0.3"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_menus_fail() {
        assert!(
            check("A proper line of text that ends well.\nAnother proper line of text that ends.")
                .is_ok()
        );
        assert_eq!(
            check("Home\nAbout\nContact\nNews").unwrap_err().0,
            "fineweb_line_punct_ratio"
        );
        assert_eq!(
            check("a.\nb.\nc.\nd.").unwrap_err().0,
            "fineweb_short_line_ratio"
        );
    }
}
