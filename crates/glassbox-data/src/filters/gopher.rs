//! Gopher quality and repetition rules (Rae et al. 2021, table A1), with datatrove's defaults.

use std::collections::{HashMap, HashSet};

use super::{Rejection, stop_words};
use crate::text::{is_symbol_word, words};

/// Quality rules: 50–100,000 non-symbol words; mean word length 3–10; `#` and ellipses at most
/// 0.1 per word; at most 90 % of lines starting with a bullet, 30 % ending with an ellipsis; at
/// least 80 % of words with a letter; at least 2 of the language's stop words.
pub fn quality(text: &str, lang: &str) -> Result<(), Rejection> {
    let ws = words(text);
    let n_words = ws.len().max(1);
    let non_symbol: Vec<&str> = ws.iter().copied().filter(|w| !is_symbol_word(w)).collect();
    let n = non_symbol.len();
    if n < 50 {
        return Err(("gopher_short_doc", format!("{n} words < 50")));
    }
    if n > 100_000 {
        return Err(("gopher_long_doc", format!("{n} words > 100000")));
    }
    let mean = non_symbol.iter().map(|w| w.chars().count()).sum::<usize>() as f64 / n as f64;
    if mean < 3.0 {
        return Err((
            "gopher_below_avg_threshold",
            format!("mean word length {mean:.2} < 3"),
        ));
    }
    if mean > 10.0 {
        return Err((
            "gopher_above_avg_threshold",
            format!("mean word length {mean:.2} > 10"),
        ));
    }
    let hashes = text.matches('#').count() as f64 / n_words as f64;
    if hashes > 0.1 {
        return Err((
            "gopher_too_many_hashes",
            format!("{hashes:.3} '#' per word > 0.1"),
        ));
    }
    let ellipses =
        (text.matches("...").count() + text.matches('…').count()) as f64 / n_words as f64;
    if ellipses > 0.1 {
        return Err((
            "gopher_too_many_ellipsis",
            format!("{ellipses:.3} ellipses per word > 0.1"),
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    let n_lines = lines.len().max(1) as f64;
    let bullets = lines.iter().filter(|l| {
        let t = l.trim_start();
        t.starts_with('•') || t.starts_with('-')
    });
    let bullet_ratio = bullets.count() as f64 / n_lines;
    if bullet_ratio > 0.9 {
        return Err((
            "gopher_too_many_bullets",
            format!(
                "{:.0}% of lines start with a bullet > 90%",
                bullet_ratio * 100.0
            ),
        ));
    }
    let end_ellipsis = lines.iter().filter(|l| {
        let t = l.trim_end();
        t.ends_with("...") || t.ends_with('…')
    });
    let ellipsis_ratio = end_ellipsis.count() as f64 / n_lines;
    if ellipsis_ratio > 0.3 {
        return Err((
            "gopher_too_many_end_ellipsis",
            format!(
                "{:.0}% of lines end with an ellipsis > 30%",
                ellipsis_ratio * 100.0
            ),
        ));
    }
    let alpha = ws
        .iter()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count() as f64
        / n_words as f64;
    if alpha < 0.8 {
        return Err((
            "gopher_below_alpha_threshold",
            format!("{:.0}% of words have a letter < 80%", alpha * 100.0),
        ));
    }
    if let Some(stops) = stop_words(lang) {
        let present: HashSet<&str> = ws.iter().copied().filter(|w| stops.contains(w)).collect();
        if present.len() < 2 {
            return Err((
                "gopher_enough_stop_words",
                format!("{} distinct stop words < 2", present.len()),
            ));
        }
    }
    Ok(())
}

/// Repetition rules: duplicate paragraphs and lines (by count 0.30 and by characters 0.20), the
/// most frequent 2-, 3-, 4-gram's characters (0.20, 0.18, 0.16), and characters in duplicated
/// 5- to 10-grams (0.15 down to 0.10), all as fractions of the document's characters.
pub fn repetition(text: &str) -> Result<(), Rejection> {
    let chars = text.chars().count().max(1) as f64;
    let paragraphs: Vec<&str> = split_paragraphs(text.trim());
    let (dup, dup_chars) = duplicates(&paragraphs);
    if dup as f64 / paragraphs.len().max(1) as f64 > 0.3 {
        return Err((
            "dup_para_frac",
            format!("{dup} of {} paragraphs duplicated > 30%", paragraphs.len()),
        ));
    }
    if dup_chars as f64 / chars > 0.2 {
        return Err((
            "dup_para_char_frac",
            format!(
                "{:.0}% of characters in duplicated paragraphs > 20%",
                dup_chars as f64 / chars * 100.0
            ),
        ));
    }
    let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
    let (dup, dup_chars) = duplicates(&lines);
    if dup as f64 / lines.len().max(1) as f64 > 0.3 {
        return Err((
            "dup_line_frac",
            format!("{dup} of {} lines duplicated > 30%", lines.len()),
        ));
    }
    if dup_chars as f64 / chars > 0.2 {
        return Err((
            "dup_line_char_frac",
            format!(
                "{:.0}% of characters in duplicated lines > 20%",
                dup_chars as f64 / chars * 100.0
            ),
        ));
    }
    let ws = words(text);
    for (n, limit) in [(2usize, 0.20), (3, 0.18), (4, 0.16)] {
        if ws.len() < n {
            continue;
        }
        let mut counts: HashMap<&[&str], usize> = HashMap::new();
        for g in ws.windows(n) {
            *counts.entry(g).or_default() += 1;
        }
        // Ties between equally frequent n-grams: the longest counts (a deterministic choice).
        let top = counts
            .iter()
            .map(|(g, c)| (*c, gram_len(g, true)))
            .max()
            .map_or(0, |(c, l)| c * l);
        if top as f64 / chars > limit {
            return Err((
                "top_n_gram",
                format!(
                    "top {n}-gram covers {:.0}% of characters > {:.0}%",
                    top as f64 / chars * 100.0,
                    limit * 100.0
                ),
            ));
        }
    }
    for (n, limit) in [
        (5usize, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    ] {
        let repeated = repeated_ngram_chars(&ws, n);
        if repeated as f64 / chars > limit {
            return Err((
                "duplicated_n_grams",
                format!(
                    "{:.0}% of characters in repeated {n}-grams > {:.0}%",
                    repeated as f64 / chars * 100.0,
                    limit * 100.0
                ),
            ));
        }
    }
    Ok(())
}

/// Paragraphs: text split on runs of two or more newlines.
fn split_paragraphs(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\n\n") {
        out.push(&rest[..i]);
        rest = rest[i..].trim_start_matches('\n');
    }
    out.push(rest);
    out
}

/// Number of elements seen before, and their characters.
fn duplicates(items: &[&str]) -> (usize, usize) {
    let mut seen = HashSet::new();
    let (mut n, mut chars) = (0, 0);
    for x in items {
        if !seen.insert(*x) {
            n += 1;
            chars += x.chars().count();
        }
    }
    (n, chars)
}

/// Characters of an n-gram: joined with spaces (top n-grams) or without (duplicated n-grams), as
/// datatrove measures them.
fn gram_len(g: &[&str], spaced: bool) -> usize {
    g.iter().map(|w| w.chars().count()).sum::<usize>()
        + if spaced { g.len().saturating_sub(1) } else { 0 }
}

/// Characters covered by n-grams that repeat an earlier one, skipping past each repeat.
fn repeated_ngram_chars(ws: &[&str], n: usize) -> usize {
    let mut seen: HashSet<&[&str]> = HashSet::new();
    let mut repeated = 0;
    let mut i = 0;
    while i + n <= ws.len() {
        let g = &ws[i..i + n];
        if seen.contains(g) {
            repeated += gram_len(g, false);
            i += n;
        } else {
            seen.insert(g);
            i += 1;
        }
    }
    repeated
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROSE: &str = "In the beginning God created the heavens and the earth. The earth was formless and empty. \
Darkness was on the surface of the deep and the Spirit of God was hovering over the surface of the waters. \
God said that there should be light, and there was light. God saw the light, and saw that it was good. \
God divided the light from the darkness. God called the light day, and the darkness he called night. \
There was evening and there was morning, the first day.";

    #[test]
    fn prose_passes_and_junk_fails() {
        assert_eq!(quality(PROSE, "eng"), Ok(()));
        assert_eq!(repetition(PROSE), Ok(()));
        assert_eq!(
            quality("too short", "eng").unwrap_err().0,
            "gopher_short_doc"
        );
        let hashes = "#tag ".repeat(60);
        assert_eq!(
            quality(&hashes, "eng").unwrap_err().0,
            "gopher_too_many_hashes"
        );
        let repeated = format!("{PROSE}\n{PROSE}\n{PROSE}");
        assert!(repetition(&repeated).is_err());
        // No English stop words at all.
        let list = "alpha beta gamma delta epsilon zeta theta iota kappa lambda ".repeat(6);
        assert_eq!(
            quality(&list, "eng").unwrap_err().0,
            "gopher_enough_stop_words"
        );
    }
}
