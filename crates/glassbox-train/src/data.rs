//! What a run trains on: a tokenised pre-training dataset (windows of the token stream) or a
//! chat dataset (instruction tuning: rows with the assistant's tokens weighted and conversations
//! kept apart). Both give the batch of any step from the same seeded data order.

use std::path::Path;

use glassbox_data::chat::{ChatDataset, is_chat_dataset};
use glassbox_data::dataset::Dataset;
use serde_json::{Value, json};

use crate::learner::TrainRow;
use crate::{Result, TrainError};

/// An opened training dataset.
#[derive(Debug)]
pub enum TrainData {
    /// Pre-training: token shards.
    Tokens(Dataset),
    /// Instruction tuning: chat rows.
    Chat(ChatDataset),
}

impl TrainData {
    /// Opens the dataset at `dir`, whichever kind it is.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(if is_chat_dataset(dir) {
            Self::Chat(ChatDataset::open(dir)?)
        } else {
            Self::Tokens(Dataset::open(dir)?)
        })
    }

    /// The dataset directory.
    pub fn dir(&self) -> &Path {
        match self {
            Self::Tokens(d) => d.dir(),
            Self::Chat(d) => d.dir(),
        }
    }

    fn tokenizer(&self) -> &Value {
        match self {
            Self::Tokens(d) => &d.manifest.tokenizer,
            Self::Chat(d) => &d.manifest.tokenizer,
        }
    }

    /// The tokenizer's vocabulary size and end-of-sequence id (from the manifest).
    pub fn vocab_and_eos(&self) -> (usize, u32) {
        let get = |k: &str| self.tokenizer().get(k).and_then(Value::as_u64).unwrap_or(0);
        (get("vocab_size") as usize, get("eos_id") as u32)
    }

    /// The end-of-sequence token's text, when the manifest names it.
    pub fn eos_piece(&self) -> Option<String> {
        self.tokenizer()
            .get("eos")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Refuses a `seq_len` the data cannot serve, in words for `recipe`.
    pub fn check_seq_len(&self, seq_len: usize, recipe: &Path) -> Result<()> {
        let message = match self {
            Self::Tokens(d) if d.num_samples(seq_len) == 0 => format!(
                "train.seq_len ({seq_len}) is longer than the dataset's train split ({} tokens)",
                d.tokens_in("train")
            ),
            Self::Chat(d) if d.manifest.seq_len != seq_len => format!(
                "train.seq_len ({seq_len}) differs from the chat dataset's rows ({} tokens + 1); \
                 prepare it again with --seq-len {seq_len}, or set seq_len = {}",
                d.manifest.seq_len, d.manifest.seq_len
            ),
            Self::Chat(d) if d.num_rows() == 0 => "the chat dataset has no training rows".into(),
            _ => return Ok(()),
        };
        Err(TrainError::Recipe {
            path: recipe.to_path_buf(),
            message,
        })
    }

    /// The dataset section of `run.json`.
    pub fn describe(&self) -> Result<Value> {
        let sha = glassbox_core::hash::sha256_file(&self.dir().join("manifest.json"))?;
        Ok(match self {
            Self::Tokens(d) => json!({
                "path": d.dir().display().to_string(),
                "manifest_sha256": sha,
                "train_tokens": d.tokens_in("train"),
                "heldout_tokens": d.tokens_in("heldout"),
            }),
            Self::Chat(d) => json!({
                "path": d.dir().display().to_string(),
                "manifest_sha256": sha,
                "kind": "chat",
                "train_tokens": self.tokens_in("train"),
                "heldout_tokens": self.tokens_in("heldout"),
                "packing": d.manifest.packing,
            }),
        })
    }

    /// The epoch-0 data-order file of (`seq_len`, `seed`).
    pub fn order_bytes(&self, seq_len: usize, seed: u64) -> Vec<u8> {
        match self {
            Self::Tokens(d) => d.order_bytes(seq_len, seed),
            Self::Chat(d) => d.order_bytes(seed),
        }
    }

    /// Training samples (windows, or chat rows) for `seq_len`.
    pub fn num_samples(&self, seq_len: usize) -> u64 {
        match self {
            Self::Tokens(d) => d.num_samples(seq_len),
            Self::Chat(d) => d.num_rows(),
        }
    }

    /// Tokens of `split` (`train`, `heldout`); for chat data, tokens that are not padding.
    pub fn tokens_in(&self, split: &str) -> u64 {
        match self {
            Self::Tokens(d) => d.tokens_in(split),
            Self::Chat(d) => d.manifest.splits.get(split).map_or(0, |s| s.tokens),
        }
    }

    /// The rows of step `step` (batch size `b`, sequence length `l`, data-order `seed`).
    pub fn batch(&mut self, step: u64, b: usize, l: usize, seed: u64) -> Result<Vec<TrainRow>> {
        Ok(match self {
            Self::Tokens(d) => d
                .batch(step, b, l, seed)?
                .into_iter()
                .map(|s| TrainRow::plain(s.tokens))
                .collect(),
            Self::Chat(d) => d
                .batch(step, b, seed)?
                .into_iter()
                .map(|r| TrainRow {
                    weights: Some(r.weights()),
                    segments: Some(r.segments),
                    tokens: r.tokens,
                })
                .collect(),
        })
    }
}
