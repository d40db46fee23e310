//! C4 rules (Raffel et al. 2020, section 2.2), as datatrove's `C4QualityFilter`: keep only lines
//! that end in terminal punctuation and have at least 3 words and no word over 1000 characters;
//! drop lines mentioning "javascript" or cookie/terms-of-use policies; remove Wikipedia-style
//! citation markers; drop the document if it contains "lorem ipsum" or a curly bracket, or keeps
//! fewer than 5 sentences. The document's text becomes the kept lines.

use std::sync::OnceLock;

use super::Rejection;

const POLICY: &[&str] = &[
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];
const END_PUNCT: &[char] = &['.', '?', '!', '"', '\'', '”', '’', '»'];

fn citation() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\[\d*\]|\[edit\]|\[citation needed\]")
            .expect("literal citation pattern")
    })
}

/// Sentences in a line: runs ending in `.`, `!` or `?` followed by a space or the end.
fn sentences(line: &str) -> usize {
    let mut n = 0;
    let chars: Vec<char> = line.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace()) {
            n += 1;
        }
    }
    n.max(1)
}

/// Applies the rules; returns the filtered text, or why the document was dropped.
pub fn apply(text: &str) -> Result<String, Rejection> {
    let mut kept: Vec<String> = Vec::new();
    let mut n_sentences = 0;
    for line in text.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.iter().any(|w| w.chars().count() > 1000) {
            continue;
        }
        let line = citation().replace_all(line, "");
        let line = line.trim();
        if !line.ends_with(END_PUNCT) || line.ends_with("...") {
            continue;
        }
        if words.len() < 3 {
            continue;
        }
        let lower = line.to_lowercase();
        if lower.contains("lorem ipsum") {
            return Err(("c4_lorem_ipsum", "contains \"lorem ipsum\"".into()));
        }
        if lower.contains("javascript") {
            continue;
        }
        if line.contains('{') {
            return Err(("c4_curly_bracket", "contains a curly bracket".into()));
        }
        if POLICY.iter().any(|p| lower.contains(p)) {
            continue;
        }
        n_sentences += sentences(line);
        kept.push(line.to_string());
    }
    if n_sentences < 5 {
        return Err((
            "c4_too_few_sentences",
            format!("{n_sentences} sentences in kept lines < 5"),
        ));
    }
    Ok(kept.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sentences_and_drops_boilerplate() {
        let t = "Home\nThis is a fine sentence. And another one here.\nWe use cookies to improve this site.\nThird good line is here! Fourth one too. Fifth sentence ends.\nClick here";
        assert_eq!(
            apply(t).unwrap(),
            "This is a fine sentence. And another one here.\nThird good line is here! Fourth one too. Fifth sentence ends."
        );
        assert_eq!(
            apply("Lorem ipsum dolor sit amet. x x x.").unwrap_err().0,
            "c4_lorem_ipsum"
        );
        assert_eq!(
            apply("Too few sentences here.").unwrap_err().0,
            "c4_too_few_sentences"
        );
    }
}
