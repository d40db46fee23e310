//! Licence texts as sentences: the unit in which two copies of a licence are compared and in
//! which restrictive clauses are found and quoted.
//!
//! A text is cut at sentence ends (`.`, `;`, `?`, `!` before white space, and the CJK full stops),
//! never at line ends, so re-wrapping does not move a cut. Each sentence is compared in a
//! normalised form: lower case, letters and digits of any script only (Markdown marks, smart or
//! straight quotes, dashes and bullets all vanish), single spaces. Each sentence keeps the line
//! it starts on and the section it sits in (the last `4.`, `4.2`, `Section 5`, `(a)`, `iii.` seen
//! at the start of a line), so a clause can be quoted as `LICENSE:42, §4.a`.

/// One sentence of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The normalised form (see the module docs).
    pub norm: String,
    /// The sentence as written, white space collapsed.
    pub raw: String,
    /// 1-based line it starts on.
    pub line: usize,
    /// The section it starts in (`4.a`), or empty before the first numbered heading.
    pub section: String,
    /// Where each of its lines starts: char offset in `raw`, line number, section.
    pub marks: Vec<(usize, usize, String)>,
}

impl Sentence {
    /// The line and section at char offset `at` of `raw` (a sentence may span headings).
    pub fn position(&self, at: usize) -> (usize, &str) {
        self.marks
            .iter()
            .rev()
            .find(|(o, _, _)| *o <= at)
            .map_or((self.line, self.section.as_str()), |(_, l, s)| {
                (*l, s.as_str())
            })
    }

    /// Words (or CJK characters) in the normalised form.
    pub fn weight(&self) -> usize {
        self.norm.split(' ').filter(|w| !w.is_empty()).count()
            + self.norm.chars().filter(|c| is_cjk(*c)).count()
    }

    /// Whether the sentence is about copyright ownership rather than terms: copyright lines,
    /// "all rights reserved", the holder's name. Copies of a licence differ here legitimately.
    pub fn is_copyright_notice(&self) -> bool {
        let n = &self.norm;
        n.starts_with("copyright")
            || n.contains(" copyright c ")
            || n.starts_with("c 20")
            || n.starts_with("c 19")
            || n.contains("all rights reserved")
            || self.raw.contains('©')
            || n.contains("版权所有")
    }
}

/// Whether `c` is a CJK ideograph or CJK punctuation-free letter (counted as a word).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0xf900..=0xfaff)
}

/// Lower case, letters and digits of any script, single spaces (none around CJK characters).
pub fn normalize_sentence(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if is_cjk(c) {
                if out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
                space = false;
                continue;
            }
            if space && !out.is_empty() && !out.chars().last().is_some_and(is_cjk) {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

fn is_end(c: char, next: Option<char>) -> bool {
    match c {
        '。' | '；' | '？' | '！' => true,
        '.' | ';' | '?' | '!' => next.is_none_or(char::is_whitespace),
        _ => false,
    }
}

/// Whether the sentence read so far ends in a list marker (`a.`, `1.`, `iv.`, `(b).`) rather
/// than a full stop: "… as follows: 1." goes on into item 1.
fn ends_list_marker(raw: &str) -> bool {
    let token = raw
        .trim_end_matches('.')
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_start_matches('(')
        .trim_end_matches(')');
    !token.is_empty()
        && token.len() <= 3
        && (token.chars().all(|c| c.is_ascii_digit())
            || token.chars().all(|c| matches!(c, 'i' | 'v' | 'x'))
            || (token.len() == 1 && token.chars().all(|c| c.is_ascii_alphabetic())))
}

/// Cuts `text` into sentences (see the module docs). Sentences without letters or digits are
/// dropped.
pub fn sentences(text: &str) -> Vec<Sentence> {
    let mut out = Vec::new();
    let mut section = Section::default();
    // The sentence being read, white space collapsed as it comes, and where each of its lines
    // starts in it (char offset, line, section).
    let mut raw = String::new();
    let mut chars_in_raw = 0usize;
    let mut marks: Vec<(usize, usize, String)> = Vec::new();
    let mut flush = |raw: &mut String, n: &mut usize, marks: &mut Vec<(usize, usize, String)>| {
        let trimmed = raw.trim_end();
        let norm = normalize_sentence(trimmed);
        if !norm.is_empty()
            && let Some((_, line, section)) = marks.first().cloned()
        {
            out.push(Sentence {
                norm,
                raw: trimmed.to_string(),
                line,
                section,
                marks: std::mem::take(marks),
            });
        }
        raw.clear();
        marks.clear();
        *n = 0;
    };
    let mut prev_blank = true;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        // Headings only move the section; they never cut a sentence, so re-wrapping a text
        // cannot change where its sentences end. Copyright lines are the exception: they are
        // sentences of their own, so that a copyright line without a full stop does not swallow
        // the first sentence of the terms.
        section.see_line(line);
        // Only a notice that opens its own paragraph counts: a wrapped line that happens to
        // start with "copyright" must not cut its sentence.
        let copyright = prev_blank && {
            let t = line.trim_start().to_lowercase();
            t.starts_with("copyright")
                || t.starts_with('©')
                || ["(c) 1", "(c) 2", "(c) copyright"]
                    .iter()
                    .any(|p| t.starts_with(p))
        };
        prev_blank = line.trim().is_empty();
        if copyright {
            flush(&mut raw, &mut chars_in_raw, &mut marks);
        }
        let mut marked = false;
        let chars: Vec<char> = line.chars().collect();
        for (j, &c) in chars.iter().enumerate() {
            if c.is_whitespace() {
                if !raw.is_empty() && !raw.ends_with(' ') {
                    raw.push(' ');
                    chars_in_raw += 1;
                }
                continue;
            }
            if !marked {
                marks.push((chars_in_raw, lineno, section.label()));
                marked = true;
            }
            raw.push(c);
            chars_in_raw += 1;
            if is_end(c, chars.get(j + 1).copied()) && !ends_list_marker(&raw) {
                flush(&mut raw, &mut chars_in_raw, &mut marks);
                marked = false;
            }
        }
        if copyright {
            flush(&mut raw, &mut chars_in_raw, &mut marks);
        }
        if !raw.is_empty() && !raw.ends_with(' ') {
            raw.push(' ');
            chars_in_raw += 1;
        }
    }
    flush(&mut raw, &mut chars_in_raw, &mut marks);
    out
}

/// The running section number, from headings at line starts. Indented plain numbers nest under
/// the number above them (`5.` then an indented `1.` is `5.1`); dotted numbers (`4.2`) are
/// absolute.
#[derive(Debug, Default)]
struct Section {
    /// Whether the last non-empty line ended with a colon (it introduces a list).
    after_colon: bool,
    stack: Vec<(usize, String)>,
    letter: String,
    roman: String,
}

impl Section {
    fn label(&self) -> String {
        let mut s = self
            .stack
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(".");
        for part in [&self.letter, &self.roman] {
            if !part.is_empty() {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(part);
            }
        }
        s
    }

    /// A numbered heading at `indent`. Dotted numbers are absolute; an indented number nests
    /// under the one above; at the same indent, a list that restarts at 1 under a heading
    /// (`4.` then `1.`, `2.`) is that heading's sub-list until the heading's successor (`5.`).
    fn see_number(&mut self, indent: usize, num: String) {
        if num.contains('.') {
            self.stack = vec![(indent, num)];
            return;
        }
        let value = |s: &str| s.parse::<u32>().unwrap_or(0);
        let n = value(&num);
        // The next number of a list already open at this indent: its sibling.
        // At one indent, the shallowest open number wins: after `4.` and its items `1.`–`4.`,
        // `5.` continues the headings.
        if let Some(pos) = self
            .stack
            .iter()
            .position(|(i, v)| *i == indent && value(v) + 1 == n)
        {
            self.stack.truncate(pos);
            self.stack.push((indent, num));
            return;
        }
        // A list starting at 1 below an open number is its sub-list when indented deeper or
        // introduced by a colon; otherwise numbering starts again (a second language version).
        let deeper = self.stack.last().is_some_and(|(i, _)| indent > *i);
        if n == 1 && !self.stack.is_empty() && self.stack.len() < 4 && (deeper || self.after_colon)
        {
            self.stack.push((indent, num));
            return;
        }
        self.stack = vec![(indent, num)];
    }

    /// Reads a line's start; true when it opens a numbered, lettered or roman item.
    fn see_line(&mut self, line: &str) -> bool {
        let colon = line.trim_end().ends_with(':');
        let blank = line.trim().is_empty();
        let opens = self.see_item(line);
        if !blank {
            self.after_colon = colon;
        }
        opens
    }

    fn see_item(&mut self, line: &str) -> bool {
        let indent: usize = line
            .chars()
            .take_while(|c| c.is_whitespace())
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        let t = line
            .trim_start()
            .trim_start_matches(['#', '*', '_', '>', '|'])
            .trim_start();
        // Markdown escapes the dot of a numbered line that is not a list: `1\.`.
        let lower = t.to_lowercase().replacen("\\.", ".", 1);
        let prefixed = ["section ", "article ", "§"]
            .iter()
            .find_map(|p| lower.strip_prefix(p));
        let t = prefixed.map_or(lower.as_str(), str::trim_start);
        // `4.`, `4.2`, `4.2.1`, `4)` followed by text: a numbered heading or item.
        let num: String = t
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let rest = &t[num.len()..];
        let parts: Vec<&str> = num.trim_end_matches('.').split('.').collect();
        if !num.is_empty()
            && parts.iter().all(|p| !p.is_empty() && p.len() <= 2)
            // A bare number at a line start is a heading only after `Section`: a wrapped line
            // may well start with "1 year" or "3 months".
            && (num.contains('.') || rest.starts_with(')') || prefixed.is_some())
            && rest.trim_start_matches(')').trim_start().chars().next().is_some_and(|c| !c.is_ascii_digit())
        {
            let num = num.trim_end_matches('.').to_string();
            if rest.starts_with(')') && !num.contains('.') {
                // `1)` numbers items inside a lettered item (`e. 1) … 2) …`).
                self.roman = num;
                return true;
            }
            self.see_number(indent, num);
            self.letter.clear();
            self.roman.clear();
            return true;
        }
        // `(a)`, `a.`, `a)`, `(iii)`, `iv.` followed by text: a lettered or roman item.
        let inner = t.strip_prefix('(').unwrap_or(t);
        let tok: String = inner
            .chars()
            .take_while(|c| c.is_ascii_lowercase())
            .collect();
        let after = &inner[tok.len()..];
        if tok.is_empty() || tok.len() > 4 || !(after.starts_with(". ") || after.starts_with(')')) {
            return false;
        }
        let roman = tok.chars().all(|c| matches!(c, 'i' | 'v' | 'x'));
        let is_roman = match tok.as_str() {
            // `i` is a letter right after `h` (or with no letter yet), a numeral otherwise.
            "i" => !self.letter.is_empty() && self.letter != "h",
            // `v` and `x` are numerals only when they continue a run of numerals.
            "v" | "x" => !self.roman.is_empty(),
            _ => roman,
        };
        if is_roman {
            self.roman = tok;
            true
        } else if tok.len() == 1 {
            self.letter = tok;
            self.roman.clear();
            true
        } else {
            false
        }
    }
}

/// How a text differs from a reference, in sentences.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentenceDiff {
    /// Indices (into the text's sentences) of sentences the reference lacks.
    pub added: Vec<usize>,
    /// Reference sentences the text lacks.
    pub removed: usize,
    /// Sentences in common.
    pub common: usize,
}

/// Whether a sentence takes part in comparisons: notices of copyright and fragments of fewer than
/// three words (numbers, headings cut off by a full stop) are left out, since copies of one
/// licence legitimately differ there.
pub fn compared(s: &Sentence) -> bool {
    s.weight() >= 3 && !s.is_copyright_notice()
}

/// 64-bit FNV-1a of a normalised sentence: the form in which reference texts are kept.
pub fn sentence_hash(norm: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in norm.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The hashes of the compared sentences of `text`, in order.
pub fn reference_hashes(text: &str) -> Vec<u64> {
    sentences(text)
        .iter()
        .filter(|s| compared(s))
        .map(|s| sentence_hash(&s.norm))
        .collect()
}

/// One step of an alignment of a text's sentences with a reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Text sentence `.0` is reference sentence `.1`.
    Same(usize, usize),
    /// Text sentence `.0` is not in the reference.
    Added(usize),
    /// Reference sentence `.0` is not in the text.
    Removed(usize),
}

/// Aligns the text's compared sentences with the reference hashes by longest common
/// subsequence. Bounded: beyond 3,000 sentences a side, set membership replaces order.
pub fn diff_ops(text: &[Sentence], reference: &[u64]) -> Vec<Op> {
    let idx: Vec<usize> = (0..text.len()).filter(|&i| compared(&text[i])).collect();
    let a: Vec<u64> = idx.iter().map(|&i| sentence_hash(&text[i].norm)).collect();
    let b = reference;
    let mut ops = Vec::new();
    if a.len() > 3000 || b.len() > 3000 {
        let bs: std::collections::HashSet<u64> = b.iter().copied().collect();
        let as_: std::collections::HashSet<u64> = a.iter().copied().collect();
        for (i, h) in idx.iter().zip(&a) {
            ops.push(if bs.contains(h) {
                Op::Same(*i, 0)
            } else {
                Op::Added(*i)
            });
        }
        ops.extend(
            (0..b.len())
                .filter(|&j| !as_.contains(&b[j]))
                .map(Op::Removed),
        );
        return ops;
    }
    align(&a, b)
        .into_iter()
        .map(|op| match op {
            Op::Same(i, j) => Op::Same(idx[i], j),
            Op::Added(i) => Op::Added(idx[i]),
            removed => removed,
        })
        .collect()
}

/// Longest-common-subsequence alignment of `a` with `b` (indices into each): what `a` keeps,
/// adds and lacks. Quadratic in time and memory; callers bound the sizes.
pub fn align<T: PartialEq>(a: &[T], b: &[T]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    // lcs[i * (m + 1) + j] = length of the LCS of a[i..] and b[j..] (u32: inputs may exceed
    // 65,535 items).
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * (m + 1) + j] = if a[i] == b[j] {
                lcs[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
            };
        }
    }
    let mut ops = Vec::with_capacity(n.max(m));
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            ops.push(Op::Same(i, j));
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1] {
            ops.push(Op::Added(i));
            i += 1;
        } else {
            ops.push(Op::Removed(j));
            j += 1;
        }
    }
    ops.extend((i..n).map(Op::Added));
    ops.extend((j..m).map(Op::Removed));
    ops
}

/// The alignment summed up: added sentences, and counts of removed and common ones.
pub fn diff(text: &[Sentence], reference: &[u64]) -> SentenceDiff {
    let mut d = SentenceDiff::default();
    for op in diff_ops(text, reference) {
        match op {
            Op::Same(..) => d.common += 1,
            Op::Added(i) => d.added.push(i),
            Op::Removed(_) => d.removed += 1,
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrapped_markdown_and_smart_quotes_give_the_same_sentences() {
        let a = "1. Definitions. \"Agreement\" means the terms\nset out here. You may use it.";
        let b = "## 1. Definitions.\n\n**“Agreement”** means the terms set out\n\nhere.  You may\nuse it.";
        let na: Vec<String> = sentences(a).into_iter().map(|s| s.norm).collect();
        let nb: Vec<String> = sentences(b).into_iter().map(|s| s.norm).collect();
        assert_eq!(na, nb);
    }

    #[test]
    fn sections_and_lines_are_tracked() {
        let t = "Intro text here.\n4. Restrictions\n(a) You shall not do X.\n(b) Nor Y; nor Zed.\n5.2 Other.\n";
        let s = sentences(t);
        // Headings do not cut sentences; the position inside one tells its line and section.
        let x = s.iter().find(|s| s.norm.contains("do x")).unwrap();
        let at = x.raw.find("You shall").unwrap();
        assert_eq!(x.position(at), (3, "4.a"));
        let z = s.iter().find(|s| s.norm == "nor zed").unwrap();
        assert_eq!(z.section, "4.b");
        assert_eq!(s.last().unwrap().section, "5.2");
        assert_eq!(s[0].section, "");
        let at = |text: &str, word: &str| -> String {
            let ss = sentences(text);
            let s = ss.iter().find(|s| s.raw.contains(word)).unwrap();
            s.position(s.raw.find(word).unwrap()).1.to_string()
        };
        let nested = "5. Acceptable Use\n\t1. Comply with it always.\n\t2. Do not misuse it.\n6. Publication\n\t1. Say so to everyone.\n";
        assert_eq!(at(nested, "Comply"), "5.1");
        assert_eq!(at(nested, "misuse"), "5.2");
        assert_eq!(at(nested, "everyone"), "6.1");
        // A flat list restarting at 1 after a colon belongs to the heading until its successor.
        let flat = "4. Distribution of the model, on these conditions:\n1. Restrictions must be included.\n2. Give recipients a copy.\n5. Use-based restrictions apply.\n";
        assert_eq!(at(flat, "Distribution"), "4");
        assert_eq!(at(flat, "included"), "4.1");
        assert_eq!(at(flat, "recipients"), "4.2");
        assert_eq!(at(flat, "apply"), "5");
    }

    #[test]
    fn diff_finds_added_and_removed_sentences() {
        let reference = reference_hashes("You may copy it. You may change it. You may share it.");
        let text = sentences(
            "Copyright 2024 Someone Else. You may copy it. You may change it. You may not sell it at all.",
        );
        let d = diff(&text, &reference);
        assert_eq!(d.removed, 1);
        assert_eq!(d.added.len(), 1);
        assert_eq!(text[d.added[0]].raw, "You may not sell it at all.");
    }

    #[test]
    fn chinese_sentences_are_cut_and_kept() {
        let s = sentences("本协议适用于模型。您不得将模型用于商业用途；需书面授权。");
        assert_eq!(s.len(), 3);
        assert!(s[1].norm.contains("商业用途"));
        assert!(compared(&s[1]));
    }
}
