//! The curation configuration (`sources.toml`): sources with their licence and origin, and the
//! settings of every step. Every field has a default; the resolved configuration (all defaults
//! filled) is written into the datasheet so a run can be repeated exactly.
//!
//! ```toml
//! [[source]]
//! name = "web-en"                      # used in document ids
//! path = "corpora/en_web.txt"          # a file or a directory (read recursively, sorted)
//! format = "text"                      # "text" or "jsonl" (a `text` field, other fields kept as metadata)
//! split = "group"                      # text only: "file" | "line" | "paragraph" | "group"
//! group_pattern = '^(.+? \d+):\d+:'     # "group": consecutive lines with the same capture form a document
//! strip_pattern = '^.+? \d+:\d+: '       # removed from each line (here: verse references)
//! license = "public-domain"
//! url = "https://ebible.org/engwebp/"
//!
//! [filters]
//! gopher_quality = true
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{DataError, Result};

/// How a text file is cut into documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The whole file is one document.
    File,
    /// Every non-empty line is a document.
    Line,
    /// Blank-line-separated paragraphs are documents.
    Paragraph,
    /// Consecutive lines whose `group_pattern` capture is equal form one document.
    Group,
}

/// Input format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Plain text, cut by `split`.
    Text,
    /// JSON Lines: one object per line with a `text` string; other fields are kept as metadata.
    Jsonl,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Name used in document ids (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// A file or a directory (relative paths are relative to the config file). Files ending in
    /// `.gz` or `.zst` are decompressed while read.
    pub path: PathBuf,
    /// Input format (default `text`; `.jsonl` / `.jsonl.gz` / `.jsonl.zst` files default to `jsonl`).
    #[serde(default)]
    pub format: Option<Format>,
    /// How text files are cut into documents (default `file`).
    #[serde(default)]
    pub split: Option<Split>,
    /// The regular expression of `split = "group"`; its first capture group keys a document.
    #[serde(default)]
    pub group_pattern: Option<String>,
    /// A regular expression whose first match in each line is removed (after grouping), e.g.
    /// verse references `'^\S.*? \d+:\d+: '` (text files only).
    #[serde(default)]
    pub strip_pattern: Option<String>,
    /// Text files only: consecutive documents are joined (one line break between them) until
    /// they hold at least this many words, so that short paragraphs or one-sentence lines become
    /// documents of useful length for the quality filters (Gopher's 50-word minimum) and the
    /// held-out split (default: off, every document stands alone; 1 to 100,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_words: Option<usize>,
    /// Declared licence (SPDX id, or a name such as `public-domain`).
    pub license: String,
    /// Where the data comes from.
    #[serde(default)]
    pub url: Option<String>,
}

/// What to do with a document whose bytes are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidUtf8 {
    /// Remove it, with a record in removed.jsonl (default).
    Remove,
    /// Replace invalid sequences with U+FFFD and keep it (counted in the datasheet).
    Replace,
}

/// What to do when an input cannot be read to its end (a truncated gzip, an I/O error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnReadError {
    /// Stop with an error naming the file and the offset (default).
    Fail,
    /// Keep the documents read so far and record the error in the datasheet.
    Record,
}

fn yes() -> bool {
    true
}

/// Switches and thresholds of the curation steps. Defaults are the published ones (docs/data.md
/// lists each with its source).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Steps {
    /// Unicode NFC normalisation.
    #[serde(default = "yes")]
    pub nfc: bool,
    /// Whitespace cleanup (CRLF → LF, trailing spaces, runs of blank lines, control characters).
    #[serde(default = "yes")]
    pub whitespace: bool,
    /// Language identification (whatlang).
    #[serde(default = "yes")]
    pub language_id: bool,
    /// Keep only these languages (ISO 639-3 codes as whatlang gives them: `eng`, `spa`); empty
    /// keeps all.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Lowest language score to keep a document when `languages` is set.
    #[serde(default)]
    pub min_language_score: f64,
    /// Gopher quality rules (Rae et al. 2021, table A1 / datatrove defaults).
    #[serde(default = "yes")]
    pub gopher_quality: bool,
    /// Gopher repetition rules (Rae et al. 2021, table A1).
    #[serde(default = "yes")]
    pub gopher_repetition: bool,
    /// C4 rules (Raffel et al. 2020, as datatrove's `C4QualityFilter`).
    #[serde(default = "yes")]
    pub c4: bool,
    /// FineWeb rules (Penedo et al. 2024, as datatrove's `FineWebQualityFilter`).
    #[serde(default = "yes")]
    pub fineweb: bool,
    /// Exact deduplication by content hash.
    #[serde(default = "yes")]
    pub exact_dedup: bool,
    /// Near-duplicate removal by MinHash LSH.
    #[serde(default = "yes")]
    pub minhash_dedup: bool,
    /// Replace e-mail addresses and IPv4 addresses with placeholders.
    #[serde(default)]
    pub mask_pii: bool,
}

impl Default for Steps {
    fn default() -> Self {
        Self {
            nfc: true,
            whitespace: true,
            language_id: true,
            languages: Vec::new(),
            min_language_score: 0.0,
            gopher_quality: true,
            gopher_repetition: true,
            c4: true,
            fineweb: true,
            exact_dedup: true,
            minhash_dedup: true,
            mask_pii: false,
        }
    }
}

/// MinHash LSH settings (defaults as datatrove's `MinhashConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Minhash {
    /// Word n-gram size of shingles.
    #[serde(default = "five")]
    pub ngram: usize,
    /// Bands (buckets).
    #[serde(default = "fourteen")]
    pub bands: usize,
    /// Rows (hashes) per band.
    #[serde(default = "eight")]
    pub rows: usize,
    /// Seed of the hash functions.
    #[serde(default = "one")]
    pub seed: u64,
}

fn five() -> usize {
    5
}
fn fourteen() -> usize {
    14
}
fn eight() -> usize {
    8
}
fn one() -> u64 {
    1
}

impl Default for Minhash {
    fn default() -> Self {
        Self {
            ngram: 5,
            bands: 14,
            rows: 8,
            seed: 1,
        }
    }
}

/// Limits that keep memory bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest line read, in bytes; longer lines are cut there and the document removed
    /// (`too_long`).
    #[serde(default = "max_line")]
    pub max_line_bytes: usize,
    /// Longest document kept, in bytes (longer ones are removed as `too_long` before filtering).
    #[serde(default = "max_doc")]
    pub max_doc_bytes: usize,
    /// Documents processed together (one parallel batch).
    #[serde(default = "batch")]
    pub batch_docs: usize,
    /// Documents per curated shard.
    #[serde(default = "shard")]
    pub shard_docs: usize,
}

fn max_line() -> usize {
    64 << 20
}
fn max_doc() -> usize {
    8 << 20
}
fn batch() -> usize {
    2048
}
fn shard() -> usize {
    50_000
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_bytes: max_line(),
            max_doc_bytes: max_doc(),
            batch_docs: batch(),
            shard_docs: shard(),
        }
    }
}

/// A whole curation configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurateConfig {
    /// The inputs, in order (the order fixes document positions and output order).
    #[serde(rename = "source")]
    pub sources: Vec<Source>,
    /// Step switches.
    #[serde(default)]
    pub steps: Steps,
    /// MinHash settings.
    #[serde(default)]
    pub minhash: Minhash,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Invalid UTF-8 policy.
    #[serde(default = "remove")]
    pub invalid_utf8: InvalidUtf8,
    /// Read-error policy.
    #[serde(default = "fail")]
    pub on_read_error: OnReadError,
    /// Examples of removed text kept per filter in the datasheet.
    #[serde(default = "three")]
    pub examples_per_filter: usize,
    /// The directory of the file this configuration was read from: the datasheet records source
    /// paths relative to it, so it does not carry the publisher's directory layout.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

impl CurateConfig {
    /// The configuration as the datasheet records it: source paths relative to the
    /// configuration file's directory (`../` where they lie outside it).
    pub fn recorded(&self) -> CurateConfig {
        let mut c = self.clone();
        if let Some(base) = &self.base_dir {
            for s in &mut c.sources {
                s.path = relative_to(&s.path, base);
            }
        }
        c
    }
}

/// `path` relative to `base` (both taken as given; `..` components where `path` lies outside).
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, b) = (abs(path), abs(base));
    let pc: Vec<_> = p.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn remove() -> InvalidUtf8 {
    InvalidUtf8::Remove
}
fn fail() -> OnReadError {
    OnReadError::Fail
}
fn three() -> usize {
    3
}

impl CurateConfig {
    /// Reads a TOML file; relative source paths are resolved against its directory.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = glassbox_core::fsio::read_to_string(path)?;
        let mut cfg: CurateConfig = toml::from_str(&text).map_err(|e| DataError::Config {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.base_dir = Some(base.to_path_buf());
        for s in &mut cfg.sources {
            if s.path.is_relative() {
                s.path = base.join(&s.path);
            }
        }
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks names, patterns and limits; the error names the field.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let err = |m: String| {
            Err(DataError::Config {
                path: path.to_path_buf(),
                message: m,
            })
        };
        if self.sources.is_empty() {
            return err("no [[source]] entries".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return err(format!(
                    "source[{i}].name `{}`: use letters, digits, '-', '_' or '.'",
                    s.name
                ));
            }
            if !names.insert(&s.name) {
                return err(format!("source[{i}].name `{}` is used twice", s.name));
            }
            if s.license.trim().is_empty() {
                return err(format!(
                    "source[{i}].license: declare the licence of `{}`",
                    s.name
                ));
            }
            if let Some(n) = s.pack_words
                && !(1..=100_000).contains(&n)
            {
                return err(format!(
                    "source[{i}].pack_words = {n}: must be between 1 and 100000"
                ));
            }
            if s.split == Some(Split::Group) {
                match &s.group_pattern {
                    None => {
                        return err(format!(
                            "source[{i}].group_pattern is required with split = \"group\""
                        ));
                    }
                    Some(p) => {
                        let re = regex::Regex::new(p).map_err(|e| DataError::Config {
                            path: path.to_path_buf(),
                            message: format!("source[{i}].group_pattern: {e}"),
                        })?;
                        if re.captures_len() < 2 {
                            return err(format!("source[{i}].group_pattern needs a capture group"));
                        }
                    }
                }
            }
        }
        for (i, s) in self.sources.iter().enumerate() {
            if let Some(p) = &s.strip_pattern {
                regex::Regex::new(p).map_err(|e| DataError::Config {
                    path: path.to_path_buf(),
                    message: format!("source[{i}].strip_pattern: {e}"),
                })?;
            }
        }
        let m = &self.minhash;
        if m.ngram == 0 || m.bands == 0 || m.rows == 0 {
            return err("minhash.ngram, bands and rows must be positive".into());
        }
        // Every document gets bands × rows hashes; the limits keep a typo from sizing memory.
        if m.bands.checked_mul(m.rows).is_none_or(|n| n > MAX_MINHASH) || m.ngram > MAX_NGRAM {
            return err(format!(
                "minhash.bands × minhash.rows is at most {MAX_MINHASH} and minhash.ngram at most {MAX_NGRAM} (got {} × {}, ngram {})",
                m.bands, m.rows, m.ngram
            ));
        }
        if self.limits.batch_docs == 0 || self.limits.shard_docs == 0 {
            return err("limits.batch_docs and limits.shard_docs must be positive".into());
        }
        if self.limits.batch_docs > MAX_BATCH_DOCS {
            return err(format!(
                "limits.batch_docs is at most {MAX_BATCH_DOCS} (got {})",
                self.limits.batch_docs
            ));
        }
        Ok(())
    }
}

/// Most MinHash values per document (bands × rows).
const MAX_MINHASH: usize = 4096;
/// Longest MinHash shingle, words.
const MAX_NGRAM: usize = 1024;
/// Most documents held in memory at once.
const MAX_BATCH_DOCS: usize = 10_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(
            &p,
            "[[source]]\nname = \"a\"\npath = \"x.txt\"\nlicense = \"CC0-1.0\"\n",
        )
        .unwrap();
        let c = CurateConfig::from_file(&p).unwrap();
        assert_eq!(c.minhash, Minhash::default());
        assert!(c.steps.gopher_quality && !c.steps.mask_pii);
        assert_eq!(c.sources[0].path, dir.path().join("x.txt"));
        std::fs::write(
            &p,
            "[[source]]\nname = \"a\"\npath = \"x\"\nlicense = \"\"\n",
        )
        .unwrap();
        assert!(
            CurateConfig::from_file(&p)
                .unwrap_err()
                .to_string()
                .contains("source[0].license")
        );
        std::fs::write(
            &p,
            "[[source]]\nname = \"a\"\npath = \"x\"\nlicense = \"MIT\"\nsplit = \"group\"\n",
        )
        .unwrap();
        assert!(
            CurateConfig::from_file(&p)
                .unwrap_err()
                .to_string()
                .contains("group_pattern")
        );
        std::fs::write(
            &p,
            "[[source]]\nname = \"a\"\npath = \"x\"\nlicence = \"MIT\"\n",
        )
        .unwrap();
        let e = CurateConfig::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("s.toml") && e.contains("licence"), "{e}");
    }

    #[test]
    fn oversized_minhash_and_batch_limits_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        let src = "[[source]]\nname = \"a\"\npath = \"x\"\nlicense = \"MIT\"\n";
        for (extra, want) in [
            (
                "[minhash]\nbands = 4611686018427387904\nrows = 8\n",
                "bands × minhash.rows",
            ),
            ("[minhash]\nbands = 100\nrows = 100\n", "at most 4096"),
            ("[minhash]\nngram = 100000\n", "ngram at most 1024"),
            (
                "[limits]\nbatch_docs = 1000000000000\n",
                "limits.batch_docs is at most",
            ),
        ] {
            std::fs::write(&p, format!("{src}{extra}")).unwrap();
            let e = CurateConfig::from_file(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{extra}: {e}");
        }
        std::fs::write(&p, format!("{src}[minhash]\nbands = 64\nrows = 64\n")).unwrap();
        assert!(CurateConfig::from_file(&p).is_ok());
    }
}
