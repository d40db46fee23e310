//! Chat datasets for instruction tuning: tokenised conversations with the assistant's tokens
//! marked, laid out in fixed rows of `seq_len + 1` tokens with the same seeded data order as
//! pre-training, so the batch of any step can be recomputed.
//!
//! **Rows.** Without packing each conversation is one row, cut to `seq_len + 1` tokens and
//! padded with the pad id. With packing, conversations are laid into rows in file order, a new
//! row begun when the next one does not fit (next-fit); a conversation longer than a row is cut
//! and fills a row alone. Every token carries its segment (1, 2, … for the conversations of the
//! row, 0 for padding) and whether it is trained on. Training predicts token `i + 1` from
//! position `i` only when token `i + 1` is the assistant's and lies in the same segment, and
//! attention never crosses segments ([`Row::weights`]).
//!
//! **Files.** `manifest.json` (`kind = "chat"`, schema [`CHAT_SCHEMA`]) names the source file and
//! its hash, the tokenizer, the template, the row length, packing, and per split the rows file,
//! its hash and counts; `train.rows` / `heldout.rows` start with [`ROWS_MAGIC`], version, row
//! length and row count (little-endian `u32`, `u32`, `u64`), then per row `seq_len + 1` token ids
//! and `seq_len + 1` words `segment << 1 | trained` (`u32` each).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::{order_file_bytes, permutation};
use crate::{DataError, Result};

/// `schema_version` of a chat dataset's manifest.
pub const CHAT_SCHEMA: u32 = 1;
/// Magic bytes of a rows file.
pub const ROWS_MAGIC: &[u8; 8] = b"GBXCHAT\0";
/// Version of the rows file layout.
pub const ROWS_VERSION: u32 = 1;
/// Longest row (tokens) a chat dataset may hold.
pub const MAX_ROW: usize = 1 << 20;

/// A tokenised conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// 1-based line of the chat file.
    pub line: usize,
    /// Token ids of the rendered conversation.
    pub ids: Vec<u32>,
    /// Per token: whether it is the assistant's.
    pub assistant: Vec<bool>,
}

/// One training row of `seq_len + 1` tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Token ids.
    pub tokens: Vec<u32>,
    /// Segment of each token: 1, 2, … per conversation, 0 for padding.
    pub segments: Vec<u32>,
    /// Whether each token is an assistant token (a training target).
    pub trained: Vec<bool>,
}

impl Row {
    /// Loss weight of each of the `seq_len` predictions (position `i` predicts token `i + 1`):
    /// 1 when token `i + 1` is trained on and in the same segment as token `i`, else 0.
    pub fn weights(&self) -> Vec<f32> {
        (1..self.tokens.len())
            .map(|i| {
                let same = self.segments[i] == self.segments[i - 1] && self.segments[i] != 0;
                if same && self.trained[i] { 1.0 } else { 0.0 }
            })
            .collect()
    }
}

/// What [`pack`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackReport {
    /// Lines of conversations cut to the row length.
    pub truncated_lines: Vec<usize>,
    /// Lines of conversations left with no assistant token after the cut (not used).
    pub dropped_lines: Vec<usize>,
}

/// Lays `examples` into rows of `seq_len + 1` tokens (see the module documentation).
pub fn pack(
    examples: &[Example],
    seq_len: usize,
    packing: bool,
    pad_id: u32,
) -> (Vec<Row>, PackReport) {
    let width = seq_len + 1;
    let mut report = PackReport::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut open: Option<Row> = None;
    for ex in examples {
        let n = ex.ids.len().min(width);
        if n < ex.ids.len() {
            report.truncated_lines.push(ex.line);
        }
        // The first token is never a target (nothing precedes it in its segment).
        if !ex.assistant[1.min(n)..n].iter().any(|&a| a) {
            report.dropped_lines.push(ex.line);
            continue;
        }
        let fits = open
            .as_ref()
            .is_some_and(|r| packing && r.tokens.len() + n <= width);
        if !fits && let Some(r) = open.take() {
            rows.push(r);
        }
        let row = open.get_or_insert_with(|| Row {
            tokens: Vec::with_capacity(width),
            segments: Vec::with_capacity(width),
            trained: Vec::with_capacity(width),
        });
        let seg = row.segments.last().copied().unwrap_or(0) + 1;
        row.tokens.extend_from_slice(&ex.ids[..n]);
        row.segments.extend(std::iter::repeat_n(seg, n));
        row.trained.extend_from_slice(&ex.assistant[..n]);
    }
    rows.extend(open);
    for r in &mut rows {
        let pad = width - r.tokens.len();
        r.tokens.extend(std::iter::repeat_n(pad_id, pad));
        r.segments.extend(std::iter::repeat_n(0, pad));
        r.trained.extend(std::iter::repeat_n(false, pad));
    }
    (rows, report)
}

/// Counts of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatSplit {
    /// Rows file name.
    pub file: String,
    /// SHA-256 of the rows file.
    pub sha256: String,
    /// Rows.
    pub rows: u64,
    /// Conversations.
    pub examples: u64,
    /// Tokens that are not padding.
    pub tokens: u64,
    /// Tokens trained on (loss weight 1).
    pub trained_tokens: u64,
}

/// `manifest.json` of a chat dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatManifest {
    /// [`CHAT_SCHEMA`].
    pub schema_version: u32,
    /// Always `chat`.
    pub kind: String,
    /// The chat file: `{"file": name, "sha256": …, "lines": n}`.
    pub source: Value,
    /// The tokenizer: `vocab_size`, `eos_id`, `eos`, `pad_id`, `sha256` of `tokenizer.json`.
    pub tokenizer: Value,
    /// The chat template: where it came from and its SHA-256.
    pub template: Value,
    /// Tokens per row, less one (the training `seq_len` this dataset is for).
    pub seq_len: usize,
    /// Whether conversations share rows.
    pub packing: bool,
    /// Share of conversations held out, and the seed choosing them.
    pub heldout_fraction: f64,
    /// Seed of the held-out choice.
    pub heldout_seed: u64,
    /// `train` and `heldout`.
    pub splits: std::collections::BTreeMap<String, ChatSplit>,
    /// Conversations cut or dropped.
    pub report: PackReport,
}

fn format_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Writes `rows` as the rows file `path`; returns the split's counts.
pub fn write_rows(path: &Path, rows: &[Row], seq_len: usize, examples: u64) -> Result<ChatSplit> {
    let width = seq_len + 1;
    let mut bytes = Vec::with_capacity(24 + rows.len() * width * 8);
    bytes.extend_from_slice(ROWS_MAGIC);
    bytes.extend_from_slice(&ROWS_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(width as u32).to_le_bytes());
    bytes.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    let (mut tokens, mut trained) = (0u64, 0u64);
    for r in rows {
        for &t in &r.tokens {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
        for (s, &tr) in r.segments.iter().zip(&r.trained) {
            bytes.extend_from_slice(&((s << 1) | tr as u32).to_le_bytes());
        }
        tokens += r.segments.iter().filter(|&&s| s != 0).count() as u64;
        trained += r.weights().iter().filter(|&&w| w > 0.0).count() as u64;
    }
    glassbox_core::fsio::atomic_write(path, &bytes)?;
    Ok(ChatSplit {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: glassbox_core::hash::sha256_hex(&bytes),
        rows: rows.len() as u64,
        examples,
        tokens,
        trained_tokens: trained,
    })
}

/// Reads every row of the rows file `path`, checking its header against `seq_len`.
pub fn read_rows(path: &Path, seq_len: usize) -> Result<Vec<Row>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Input {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if bytes.len() < 24 || &bytes[..8] != ROWS_MAGIC {
        return Err(format_err(
            path,
            "not a glassbox chat rows file (bad magic)",
        ));
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if word(8) != ROWS_VERSION {
        return Err(format_err(
            path,
            format!(
                "rows file version {} (this glassbox reads {ROWS_VERSION})",
                word(8)
            ),
        ));
    }
    let width = word(12) as usize;
    if width != seq_len + 1 || width > MAX_ROW {
        return Err(format_err(
            path,
            format!("rows of {width} tokens, the manifest says {}", seq_len + 1),
        ));
    }
    let mut n8 = [0u8; 8];
    n8.copy_from_slice(&bytes[16..24]);
    let n = u64::from_le_bytes(n8);
    let row_bytes = width as u64 * 8;
    if Some(bytes.len() as u64 - 24) != n.checked_mul(row_bytes) {
        return Err(format_err(
            path,
            format!(
                "{n} rows of {width} tokens do not fill {} bytes",
                bytes.len()
            ),
        ));
    }
    let mut rows = Vec::with_capacity(n as usize);
    for r in 0..n as usize {
        let base = 24 + r * width * 8;
        let tokens = (0..width).map(|i| word(base + 4 * i)).collect();
        let meta: Vec<u32> = (0..width).map(|i| word(base + 4 * (width + i))).collect();
        rows.push(Row {
            tokens,
            segments: meta.iter().map(|m| m >> 1).collect(),
            trained: meta.iter().map(|m| m & 1 == 1).collect(),
        });
    }
    Ok(rows)
}

/// An opened chat dataset: every row in memory (instruction-tuning sets are small).
#[derive(Debug)]
pub struct ChatDataset {
    dir: PathBuf,
    /// The manifest.
    pub manifest: ChatManifest,
    train: Vec<Row>,
    heldout: Vec<Row>,
}

/// Whether `dir` holds a chat dataset (its manifest says `kind = "chat"`).
pub fn is_chat_dataset(dir: &Path) -> bool {
    std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v.get("kind").and_then(Value::as_str) == Some("chat"))
}

impl ChatDataset {
    /// Opens `dir`, checking every rows file against the manifest's hash.
    pub fn open(dir: &Path) -> Result<Self> {
        let mpath = dir.join("manifest.json");
        let manifest: ChatManifest = glassbox_core::fsio::read_json(&mpath)?;
        if manifest.kind != "chat" || manifest.schema_version != CHAT_SCHEMA {
            return Err(format_err(
                &mpath,
                format!(
                    "a chat dataset of schema {} (kind `{}`); this glassbox reads kind `chat`, schema {CHAT_SCHEMA}",
                    manifest.schema_version, manifest.kind
                ),
            ));
        }
        let load = |name: &str| -> Result<Vec<Row>> {
            let Some(split) = manifest.splits.get(name) else {
                return Ok(Vec::new());
            };
            let path = dir.join(&split.file);
            let got = glassbox_core::hash::sha256_file(&path)?;
            if got != split.sha256 {
                return Err(format_err(
                    &path,
                    format!("SHA-256 {got}, the manifest says {}", split.sha256),
                ));
            }
            let rows = read_rows(&path, manifest.seq_len)?;
            if rows.len() as u64 != split.rows {
                return Err(format_err(
                    &path,
                    format!("{} rows, the manifest says {}", rows.len(), split.rows),
                ));
            }
            Ok(rows)
        };
        let train = load("train")?;
        let heldout = load("heldout")?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            train,
            heldout,
        })
    }

    /// The dataset directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Training rows.
    pub fn num_rows(&self) -> u64 {
        self.train.len() as u64
    }

    /// The held-out rows.
    pub fn heldout(&self) -> &[Row] {
        &self.heldout
    }

    /// The order file of the rows under `seed` (the pre-training format, rows for samples).
    pub fn order_bytes(&self, seed: u64) -> Vec<u8> {
        order_file_bytes(self.manifest.seq_len, seed, self.num_rows())
    }

    /// The row index at data position `p` (epoch by epoch, as pre-training orders its samples).
    pub fn row_at(&self, p: u64, seed: u64) -> u64 {
        let n = self.num_rows().max(1);
        permutation(n, seed, p / n)[(p % n) as usize]
    }

    /// Rows of step `step` with batch size `b`: data positions `step·b … step·b + b − 1`.
    pub fn batch(&self, step: u64, b: usize, seed: u64) -> Result<Vec<Row>> {
        let n = self.num_rows();
        if n == 0 {
            return Err(DataError::Request(format!(
                "{}: no training rows",
                self.dir.display()
            )));
        }
        let mut out = Vec::with_capacity(b);
        let mut epoch_cache: Option<(u64, Vec<u64>)> = None;
        for p in step * b as u64..(step + 1) * b as u64 {
            let e = p / n;
            if epoch_cache.as_ref().is_none_or(|(ce, _)| *ce != e) {
                epoch_cache = Some((e, permutation(n, seed, e)));
            }
            let idx = epoch_cache
                .as_ref()
                .map_or(0, |(_, perm)| perm[(p % n) as usize]);
            out.push(self.train[idx as usize].clone());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ex(line: usize, n: usize, first_assistant: usize) -> Example {
        Example {
            line,
            ids: (0..n as u32).map(|i| 100 * line as u32 + i).collect(),
            assistant: (0..n).map(|i| i >= first_assistant).collect(),
        }
    }

    #[test]
    fn packing_keeps_examples_apart_and_weights_only_their_assistant_tokens() {
        let examples = [
            ex(1, 4, 2),
            ex(2, 3, 1),
            ex(3, 6, 3),
            ex(4, 12, 10),
            ex(5, 3, 5),
        ];
        let (rows, report) = pack(&examples, 8, true, 0);
        // 4 + 3 fit in 9; 6 starts a row; 12 is cut to 9, losing its assistant tokens, and 5
        // has none: both are dropped.
        assert_eq!(rows.len(), 2);
        assert_eq!(report.truncated_lines, vec![4]);
        assert_eq!(report.dropped_lines, vec![4, 5]);
        let r = &rows[0];
        assert_eq!(r.segments, vec![1, 1, 1, 1, 2, 2, 2, 0, 0]);
        // Position i predicts token i+1: tokens 2, 3 of the first example, 1, 2 of the second;
        // never the first token of a segment, never padding.
        assert_eq!(r.weights(), vec![0., 1., 1., 0., 1., 1., 0., 0.]);
        let (single, _) = pack(&examples, 8, false, 7);
        assert_eq!(single.len(), 3);
        assert_eq!(single[0].tokens, vec![100, 101, 102, 103, 7, 7, 7, 7, 7]);
    }

    #[test]
    fn rows_round_trip_and_a_changed_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (rows, _) = pack(&[ex(1, 4, 2), ex(2, 3, 1)], 5, true, 0);
        let p = dir.path().join("train.rows");
        let split = write_rows(&p, &rows, 5, 2).unwrap();
        assert_eq!(read_rows(&p, 5).unwrap(), rows);
        assert_eq!(split.trained_tokens, 4);
        assert!(
            read_rows(&p, 6)
                .unwrap_err()
                .to_string()
                .contains("rows of 6 tokens")
        );
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 1);
        std::fs::write(&p, b).unwrap();
        assert!(
            read_rows(&p, 5)
                .unwrap_err()
                .to_string()
                .contains("do not fill")
        );
    }
}
