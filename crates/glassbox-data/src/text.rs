//! Text utilities shared by the curation steps: normalisation, word splitting, masking.

use unicode_normalization::UnicodeNormalization;

/// Unicode NFC.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

/// Whitespace cleanup: CRLF/CR → LF; tabs and other horizontal spaces kept but trailing
/// whitespace removed from every line; control characters (other than `\n`, `\t`) dropped;
/// runs of more than one blank line collapsed to one; leading and trailing blank lines removed.
pub fn clean_whitespace(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.split('\n') {
        let line: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run > 0 {
                out.push('\n');
            }
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

/// Punctuation (ASCII and the common Unicode marks) split off words like NLTK's word tokenizer
/// does in datatrove's `split_into_words`.
pub fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '“' | '”'
                | '‘'
                | '’'
                | '«'
                | '»'
                | '—'
                | '–'
                | '…'
                | '¡'
                | '¿'
                | '·'
                | '„'
                | '‹'
                | '›'
                | '。'
                | '、'
                | '，'
                | '：'
                | '；'
                | '！'
                | '？'
        )
}

/// Words: whitespace-separated, with leading and trailing punctuation split off as their own
/// tokens (so "light," gives "light" and ","), as datatrove's word tokenizers do.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        let start = raw
            .char_indices()
            .find(|(_, c)| !is_punct(*c))
            .map(|(i, _)| i);
        let Some(start) = start else {
            // All punctuation: each character is a token.
            out.extend(raw.char_indices().map(|(i, c)| &raw[i..i + c.len_utf8()]));
            continue;
        };
        let end = raw
            .char_indices()
            .rev()
            .find(|(_, c)| !is_punct(*c))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(raw.len());
        for (i, c) in raw[..start].char_indices() {
            out.push(&raw[i..i + c.len_utf8()]);
        }
        out.push(&raw[start..end]);
        for (i, c) in raw[end..].char_indices() {
            out.push(&raw[end + i..end + i + c.len_utf8()]);
        }
    }
    out
}

/// Whether a word is only punctuation (datatrove's "symbol word").
pub fn is_symbol_word(w: &str) -> bool {
    w.chars().all(is_punct)
}

/// Replaces e-mail addresses with `email@example.com` and IPv4 addresses with `0.0.0.0`
/// (datatrove's PII formatter placeholders). Returns the new text and the number of replacements.
pub fn mask_pii(text: &str) -> (String, usize) {
    use std::sync::OnceLock;
    static EMAIL: OnceLock<regex::Regex> = OnceLock::new();
    static IP: OnceLock<regex::Regex> = OnceLock::new();
    // The patterns are literals; the tests compile them.
    let email = EMAIL.get_or_init(|| {
        regex::Regex::new(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
            .expect("literal e-mail pattern")
    });
    let ip = IP.get_or_init(|| {
        regex::Regex::new(
            r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b",
        )
        .expect("literal IPv4 pattern")
    });
    let mut n = email.find_iter(text).count();
    let t = email.replace_all(text, "email@example.com");
    n += ip.find_iter(&t).filter(|m| m.as_str() != "0.0.0.0").count();
    let t = ip.replace_all(&t, "0.0.0.0");
    (t.into_owned(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_and_nfc() {
        assert_eq!(
            clean_whitespace("a  \r\nb\r\n\r\n\r\n\r\nc\u{7}d\n\n"),
            "a\nb\n\ncd"
        );
        assert_eq!(nfc("e\u{301}"), "é");
    }

    #[test]
    fn words_split_punctuation() {
        assert_eq!(
            words("God said, “Let there be light,” and"),
            vec![
                "God", "said", ",", "“", "Let", "there", "be", "light", ",", "”", "and"
            ]
        );
        assert_eq!(words("... #"), vec![".", ".", ".", "#"]);
    }

    #[test]
    fn pii_is_masked() {
        let (t, n) = mask_pii("write to a.b@example.org or 192.168.1.20, not 999.1.1.1");
        assert_eq!(t, "write to email@example.com or 0.0.0.0, not 999.1.1.1");
        assert_eq!(n, 2);
    }
}
