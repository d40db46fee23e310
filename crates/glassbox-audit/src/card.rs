//! Model cards: `README.md` with Hugging Face YAML front matter.
//!
//! The front matter is bounded (256 KiB) and parsed with a YAML parser that refuses deep nesting
//! and alias bombs; a malformed block is a finding and the body is still read. Links in the body
//! (papers, code repositories, datasets) and section headings become evidence with line numbers.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};

/// Largest card read, in bytes.
pub const MAX_CARD: usize = 1 << 20;
/// Largest front-matter block parsed, in bytes.
pub const MAX_FRONT_MATTER: usize = 256 << 10;

/// What a link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// arxiv.org, openreview.net, aclanthology.org, doi.org and similar.
    Paper,
    /// A source repository (github.com, gitlab.com, codeberg.org, huggingface.co spaces).
    Code,
    /// A dataset (huggingface.co/datasets/…).
    Dataset,
    /// A model on the Hub.
    Model,
    /// Anything else.
    Other,
}

/// A link found in the card body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The address.
    pub url: String,
    /// 1-based line in the card.
    pub line: usize,
    /// Classification.
    pub kind: LinkKind,
    /// The text of the line (trimmed, at most 200 characters), for context.
    pub context: String,
}

/// A parsed model card.
#[derive(Debug, Clone, Default)]
pub struct Card {
    /// Path of the card in the target.
    pub path: String,
    /// Front-matter metadata (a JSON object; `Null` when absent or malformed).
    pub meta: Value,
    /// Line of each top-level front-matter key.
    pub meta_lines: BTreeMap<String, usize>,
    /// The body text after the front matter.
    pub body: String,
    /// Line number of the body's first line.
    pub body_line: usize,
    /// Links in the body.
    pub links: Vec<Link>,
    /// Markdown headings: (line, text lowercased).
    pub headings: Vec<(usize, String)>,
}

impl Card {
    /// Parses card text read from `path`; problems are pushed to `findings`.
    pub fn parse(path: &str, text: &str, truncated: bool, findings: &mut Vec<Finding>) -> Self {
        let mut card = Card {
            path: path.to_string(),
            meta: Value::Null,
            body_line: 1,
            ..Default::default()
        };
        if truncated {
            findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Bounded,
                format!(
                    "{path} is larger than {} MiB; only its beginning was read",
                    MAX_CARD >> 20
                ),
                vec![Evidence::file(path)],
            ));
        }
        let mut body = text;
        let first = text.lines().next().unwrap_or("");
        if first.trim_end() == "---" {
            // Find the closing `---` (or `...`) line.
            let mut offset = first.len() + 1;
            let mut close = None;
            for (i, line) in text[offset.min(text.len())..]
                .split_inclusive('\n')
                .enumerate()
            {
                let t = line.trim_end();
                if t == "---" || t == "..." {
                    close = Some((offset, i + 2, line.len()));
                    break;
                }
                offset += line.len();
            }
            match close {
                Some((end, close_line, close_len)) => {
                    let yaml = &text[first.len() + 1..end];
                    body = &text[(end + close_len).min(text.len())..];
                    card.body_line = close_line + 1;
                    card.parse_front_matter(yaml, findings);
                }
                None => findings.push(Finding::new(
                    Severity::Warning,
                    FindingKind::Malformed,
                    format!(
                        "{path}: the YAML front matter opened on line 1 is never closed with `---`"
                    ),
                    vec![Evidence::line(path, 1)],
                )),
            }
        }
        card.body = body.to_string();
        card.scan_body();
        card
    }

    fn parse_front_matter(&mut self, yaml: &str, findings: &mut Vec<Finding>) {
        let path = self.path.clone();
        if yaml.len() > MAX_FRONT_MATTER {
            findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Bounded,
                format!("{path}: front matter is {} bytes (limit {MAX_FRONT_MATTER}); it was not parsed", yaml.len()),
                vec![Evidence::line(&path, 1)],
            ));
            return;
        }
        for (i, line) in yaml.lines().enumerate() {
            if let Some((key, _)) = line.split_once(':')
                && !key.starts_with([' ', '\t', '-', '#'])
                && !key.is_empty()
            {
                self.meta_lines
                    .entry(key.trim().to_string())
                    .or_insert(i + 2);
            }
        }
        match parse_yaml(yaml) {
            Ok(Value::Object(m)) => self.meta = Value::Object(m),
            Ok(Value::Null) => {}
            Ok(other) => findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!(
                    "{path}: front matter is a YAML {}, not a mapping",
                    kind_name(&other)
                ),
                vec![Evidence::line(&path, 1)],
            )),
            Err(e) => findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!("{path}: malformed YAML front matter ({e}); card metadata ignored"),
                vec![Evidence::line(&path, 1)],
            )),
        }
    }

    fn scan_body(&mut self) {
        let mut in_code = false;
        for (i, line) in self.body.lines().enumerate() {
            let n = self.body_line + i;
            let t = line.trim();
            if t.starts_with("```") {
                in_code = !in_code;
            }
            if !in_code && t.starts_with('#') {
                let h = t.trim_start_matches('#').trim().to_lowercase();
                if !h.is_empty() {
                    self.headings.push((n, h));
                }
            }
            for url in find_urls(line) {
                let kind = classify_url(&url);
                let context: String = t.chars().take(200).collect();
                self.links.push(Link {
                    url,
                    line: n,
                    kind,
                    context,
                });
            }
        }
    }

    /// A top-level metadata field.
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.meta.get(key).filter(|v| !v.is_null())
    }

    /// Metadata field as a list of strings (a string or a list of strings in YAML).
    pub fn strings(&self, key: &str) -> Vec<String> {
        match self.field(key) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Evidence for a metadata field (its line, or the file).
    pub fn field_evidence(&self, key: &str) -> Evidence {
        match self.meta_lines.get(key) {
            Some(&l) => Evidence::line(&self.path, l),
            None => Evidence::file(&self.path),
        }
    }

    /// Lines of the body whose lowercase text contains any of `needles`, as evidence.
    pub fn mentions(&self, needles: &[&str]) -> Vec<Evidence> {
        self.body
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let l = l.to_lowercase();
                needles.iter().any(|n| l.contains(n))
            })
            .take(3)
            .map(|(i, _)| Evidence::line(&self.path, self.body_line + i))
            .collect()
    }

    /// Headings whose text contains any of `needles`, as evidence.
    pub fn heading(&self, needles: &[&str]) -> Vec<Evidence> {
        self.headings
            .iter()
            .filter(|(_, h)| needles.iter().any(|n| h.contains(n)))
            .take(3)
            .map(|(l, _)| Evidence::line(&self.path, *l))
            .collect()
    }
}

/// Parses YAML into JSON values. serde_norway bounds recursion depth and alias expansion, so a
/// hostile document fails with an error instead of exhausting memory or the stack.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    serde_norway::from_str::<Value>(text).map_err(|e| e.to_string())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "list",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "mapping",
        Value::Null => "null",
    }
}

/// URLs (`http://`, `https://`) in a line, with trailing punctuation removed.
pub fn find_urls(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("http") {
        let cand = &rest[i..];
        if cand.starts_with("https://") || cand.starts_with("http://") {
            let end = cand
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"' | '\'' | '<' | '`' | '|')
                })
                .unwrap_or(cand.len());
            let url = cand[..end].trim_end_matches(['.', ',', ';', ':']);
            if url.len() > 10 {
                out.push(url.to_string());
            }
            rest = &cand[end..];
        } else {
            rest = &cand[4..];
        }
    }
    out
}

/// Classifies a URL by host and path.
pub fn classify_url(url: &str) -> LinkKind {
    let u = url.to_lowercase();
    let host_path = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    let host = host_path.split('/').next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let path = &host_path[host.len().min(host_path.len())..];
    match host {
        "arxiv.org"
        | "openreview.net"
        | "aclanthology.org"
        | "doi.org"
        | "dl.acm.org"
        | "proceedings.mlr.press"
        | "papers.nips.cc"
        | "proceedings.neurips.cc"
        | "ieeexplore.ieee.org" => LinkKind::Paper,
        "github.com" | "gitlab.com" | "codeberg.org" | "bitbucket.org" => {
            if path
                .trim_matches('/')
                .split('/')
                .filter(|s| !s.is_empty())
                .count()
                >= 2
            {
                LinkKind::Code
            } else {
                LinkKind::Other
            }
        }
        "huggingface.co" | "hf.co" => {
            if path.starts_with("/datasets/") {
                LinkKind::Dataset
            } else if path.starts_with("/papers/") {
                LinkKind::Paper
            } else if path.starts_with("/spaces/")
                || path.starts_with("/docs")
                || path.starts_with("/blog")
            {
                LinkKind::Other
            } else if path.trim_matches('/').split('/').count() == 2 {
                LinkKind::Model
            } else {
                LinkKind::Other
            }
        }
        _ if u.ends_with(".pdf") => LinkKind::Paper,
        _ => LinkKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_and_links() {
        let text = "---\nlicense: apache-2.0\ndatasets:\n  - EleutherAI/pile\n---\n# Model\n\nSee [paper](https://arxiv.org/abs/2304.01373).\nCode: https://github.com/EleutherAI/pythia.\n## Training data\n";
        let mut f = Vec::new();
        let c = Card::parse("README.md", text, false, &mut f);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(c.strings("license"), vec!["apache-2.0"]);
        assert_eq!(c.strings("datasets"), vec!["EleutherAI/pile"]);
        assert_eq!(c.field_evidence("license"), Evidence::line("README.md", 2));
        assert_eq!(c.links[0].kind, LinkKind::Paper);
        assert_eq!(c.links[0].line, 8);
        assert_eq!(c.links[1].url, "https://github.com/EleutherAI/pythia");
        assert_eq!(c.links[1].kind, LinkKind::Code);
        assert_eq!(
            c.heading(&["training data"]),
            vec![Evidence::line("README.md", 10)]
        );
    }

    #[test]
    fn malformed_and_hostile_front_matter_are_findings() {
        let mut f = Vec::new();
        let c = Card::parse(
            "README.md",
            "---\nlicense: [unclosed\n---\nbody",
            false,
            &mut f,
        );
        assert!(c.meta.is_null());
        assert_eq!(f[0].kind, FindingKind::Malformed);
        // Deep nesting is refused by the parser instead of overflowing the stack.
        let deep = format!(
            "---\na: {}{}\n---\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let mut f = Vec::new();
        let c = Card::parse("README.md", &deep, false, &mut f);
        assert!(
            c.meta.is_null() && f[0].kind == FindingKind::Malformed,
            "{f:?}"
        );
        // An alias bomb is refused too.
        let bomb = "---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n---\n";
        let mut f = Vec::new();
        let _ = Card::parse("README.md", bomb, false, &mut f);
        assert!(f.iter().any(|x| x.kind == FindingKind::Malformed), "{f:?}");
        let mut f = Vec::new();
        let _ = Card::parse("README.md", "---\nlicense: mit\nno end", false, &mut f);
        assert!(f[0].message.contains("never closed"));
    }
}
