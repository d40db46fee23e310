//! `glassbox data tokenize`: curated documents → token shards, document index and manifest.
//!
//! Each document is encoded (no special tokens added) and followed by the end-of-sequence token,
//! into the `train` or `heldout` stream. The held-out split is chosen per document: a document
//! is held out when the first 8 bytes of `SHA-256(seed as 8 LE bytes ‖ id)`, read as a
//! little-endian `u64`, fall below `fraction × 2⁶⁴`. Encoding runs in parallel batches; writing
//! is in document order, so the output is byte-identical whatever the thread count.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::curate::{self, CuratedDoc};
use crate::datasheet::Datasheet;
use crate::shards::{Dtype, ShardWriter};
use crate::{DataError, Result};

/// Version of the dataset `manifest.json`.
pub const DATASET_SCHEMA: u32 = 1;

/// Settings of [`tokenize`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizeOptions {
    /// The end-of-sequence token appended after every document.
    pub eos: String,
    /// Share of documents held out for evaluation.
    pub heldout_fraction: f64,
    /// Seed of the held-out choice.
    pub heldout_seed: u64,
    /// Most tokens per shard.
    pub shard_tokens: u64,
    /// Force a dtype (default: the smallest that holds the vocabulary).
    pub dtype: Option<Dtype>,
}

impl Default for TokenizeOptions {
    fn default() -> Self {
        Self {
            eos: "<|endoftext|>".into(),
            heldout_fraction: 0.01,
            heldout_seed: 0,
            shard_tokens: 1 << 27,
            dtype: None,
        }
    }
}

/// A shard in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Path relative to the dataset directory.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Tokens.
    pub tokens: u64,
}

/// One split's shards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitEntry {
    /// Shards in order; their concatenation is the split's token stream.
    pub shards: Vec<ShardEntry>,
    /// Tokens in the split.
    pub tokens: u64,
    /// Documents in the split.
    pub documents: u64,
}

/// The dataset manifest (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`DATASET_SCHEMA`].
    pub schema_version: u32,
    /// Token type.
    pub dtype: Dtype,
    /// Tokenizer: file, SHA-256, vocabulary size, EOS token and id.
    pub tokenizer: serde_json::Value,
    /// Where the documents came from: the curated corpus's identity and curate.json, or the
    /// imported file.
    pub input: serde_json::Value,
    /// Sources with licences and file hashes (copied from the datasheet).
    pub sources: serde_json::Value,
    /// Held-out split rule.
    pub heldout: serde_json::Value,
    /// `train` and `heldout`.
    pub splits: BTreeMap<String, SplitEntry>,
    /// Document index file and its SHA-256.
    pub index: ShardEntry,
    /// Data-order files written for this dataset (seq_len, seed, file, SHA-256).
    #[serde(default)]
    pub orders: Vec<serde_json::Value>,
    /// Most tokens per shard ([`TokenizeOptions::shard_tokens`]), so the dataset can be
    /// re-derived exactly; absent in datasets written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_tokens: Option<u64>,
}

/// An entry of `index.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocEntry {
    /// Document id.
    pub id: String,
    /// `train` or `heldout`.
    pub split: String,
    /// Shard file.
    pub shard: String,
    /// Offset of its first token within the shard.
    pub offset: u64,
    /// Offset of its first token within the split's stream.
    pub start: u64,
    /// Tokens (the EOS that follows is not counted).
    pub length: u64,
    /// Source name.
    pub source: String,
    /// Language.
    pub lang: String,
}

/// Whether document `id` is held out.
pub fn is_heldout(id: &str, fraction: f64, seed: u64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    let h = glassbox_core::hash::sha256_hex(&bytes);
    let v = u64::from_str_radix(&h[..16], 16).unwrap_or(0).swap_bytes();
    (v as f64) < fraction * (u64::MAX as f64)
}

struct SplitWriter {
    name: &'static str,
    dir: std::path::PathBuf,
    dtype: Dtype,
    limit: u64,
    current: Option<(ShardWriter, String)>,
    entry: SplitEntry,
    stream_pos: u64,
}

impl SplitWriter {
    fn push_doc(&mut self, ids: &[u32], eos: u32) -> Result<(String, u64, u64)> {
        if self
            .current
            .as_ref()
            .is_some_and(|(w, _)| w.count() > 0 && w.count() + ids.len() as u64 + 1 > self.limit)
        {
            self.finish()?;
        }
        if self.current.is_none() {
            let file = format!("tokens/{}-{:05}.bin", self.name, self.entry.shards.len());
            self.current = Some((
                ShardWriter::create(&self.dir.join(&file), self.dtype)?,
                file,
            ));
        }
        let (w, file) = self
            .current
            .as_mut()
            .ok_or_else(|| DataError::Request("no shard".into()))?;
        let offset = w.count();
        w.push(ids)?;
        w.push(&[eos])?;
        let start = self.stream_pos;
        self.stream_pos += ids.len() as u64 + 1;
        self.entry.documents += 1;
        Ok((file.clone(), offset, start))
    }

    fn finish(&mut self) -> Result<()> {
        if let Some((w, file)) = self.current.take() {
            let tokens = w.finish()?;
            let sha256 = glassbox_core::hash::sha256_file(&self.dir.join(&file))?;
            self.entry.tokens += tokens;
            self.entry.shards.push(ShardEntry {
                file,
                sha256,
                tokens,
            });
        }
        Ok(())
    }
}

/// Tokenises the curated corpus in `curated_dir` with the tokenizer at `tokenizer_path` into
/// the dataset directory `out`.
pub fn tokenize(
    curated_dir: &Path,
    tokenizer_path: &Path,
    out: &Path,
    opts: &TokenizeOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Manifest> {
    let cm = curate::read_manifest(curated_dir)?;
    let tk = crate::tokenizer::load(tokenizer_path)?;
    let vocab = tk.get_vocab_size(true);
    let eos = tk
        .token_to_id(&opts.eos)
        .ok_or_else(|| DataError::Tokenizer {
            path: tokenizer_path.to_path_buf(),
            message: format!(
                "has no token `{}` to end documents with (choose one with --eos)",
                opts.eos
            ),
        })?;
    let dtype = match opts.dtype {
        Some(Dtype::Uint16) if vocab > 1 << 16 => {
            return Err(DataError::Tokenizer {
                path: tokenizer_path.to_path_buf(),
                message: format!(
                    "vocabulary of {vocab} tokens does not fit uint16 shards; use uint32"
                ),
            });
        }
        Some(d) => d,
        None => Dtype::for_vocab(vocab),
    };
    std::fs::create_dir_all(out.join("tokens"))
        .map_err(|e| DataError::io("creating", out.join("tokens"), e))?;
    let tk_bytes =
        std::fs::read(tokenizer_path).map_err(|e| DataError::io("reading", tokenizer_path, e))?;
    glassbox_core::fsio::atomic_write(&out.join("tokenizer.json"), &tk_bytes)?;
    let index_path = out.join("index.jsonl");
    let index_file = std::fs::File::create(&index_path)
        .map_err(|e| DataError::io("creating", &index_path, e))?;
    let mut index = std::io::BufWriter::new(index_file);
    let mk = |name| SplitWriter {
        name,
        dir: out.to_path_buf(),
        dtype,
        limit: opts.shard_tokens,
        current: None,
        entry: SplitEntry::default(),
        stream_pos: 0,
    };
    let mut train = mk("train");
    let mut held = mk("heldout");
    let mut lang_tokens: BTreeMap<String, u64> = BTreeMap::new();
    let mut batch: Vec<CuratedDoc> = Vec::new();
    let mut done = 0u64;
    let mut flush = |batch: &mut Vec<CuratedDoc>| -> Result<()> {
        let docs = std::mem::take(batch);
        let encoded: Vec<Result<Vec<u32>>> = docs
            .par_iter()
            .map(|d| {
                tk.encode(d.text.as_str(), false)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| DataError::Request(format!("document {}: {e}", d.id)))
            })
            .collect();
        for (d, ids) in docs.into_iter().zip(encoded) {
            let ids = ids?;
            let heldout = is_heldout(&d.id, opts.heldout_fraction, opts.heldout_seed);
            let w = if heldout { &mut held } else { &mut train };
            let (shard, offset, start) = w.push_doc(&ids, eos)?;
            *lang_tokens.entry(d.lang.clone()).or_default() += ids.len() as u64;
            let e = DocEntry {
                id: d.id,
                split: w.name.to_string(),
                shard,
                offset,
                start,
                length: ids.len() as u64,
                source: d.source,
                lang: d.lang,
            };
            let line = serde_json::to_string(&e).map_err(|e| DataError::Request(e.to_string()))?;
            writeln!(index, "{line}").map_err(|e| DataError::io("writing", &index_path, e))?;
            done += 1;
        }
        progress(done);
        Ok(())
    };
    curate::for_each_doc(curated_dir, &cm, &mut |d| {
        batch.push(d);
        if batch.len() >= 1024 {
            flush(&mut batch)?;
        }
        Ok(())
    })?;
    flush(&mut batch)?;

    train.finish()?;
    held.finish()?;
    index
        .flush()
        .map_err(|e| DataError::io("writing", &index_path, e))?;
    drop(index);
    let mut sheet = Datasheet::read(curated_dir)?;
    for (l, n) in &lang_tokens {
        if let Some(s) = sheet.languages.get_mut(l) {
            s.tokens = Some(*n);
        }
    }
    let tokenizer = json!({
        "file": "tokenizer.json",
        "sha256": glassbox_core::hash::sha256_hex(&tk_bytes),
        "vocab_size": vocab,
        "eos": opts.eos,
        "eos_id": eos,
    });
    sheet.tokenization = Some(json!({
        "tokenizer": tokenizer,
        "dtype": dtype,
        "train_tokens": train.entry.tokens,
        "heldout_tokens": held.entry.tokens,
        "tokens_per_language": lang_tokens,
    }));
    sheet.write(out)?;
    for f in ["removed.jsonl", "curate.json"] {
        let src = curated_dir.join(f);
        if src.exists() {
            let bytes = std::fs::read(&src).map_err(|e| DataError::io("reading", &src, e))?;
            glassbox_core::fsio::atomic_write(&out.join(f), &bytes)?;
        }
    }
    let sources = serde_json::to_value(&sheet.sources).unwrap_or_default();
    let mut splits = BTreeMap::new();
    splits.insert("train".to_string(), train.entry);
    splits.insert("heldout".to_string(), held.entry);
    let manifest = Manifest {
        schema_version: DATASET_SCHEMA,
        dtype,
        tokenizer,
        input: json!({"kind": "curated", "curated_sha256": cm.sha256, "documents": cm.documents, "curate_json_sha256": glassbox_core::hash::sha256_file(&curated_dir.join("curate.json"))?}),
        sources,
        heldout: json!({"method": "sha256(seed_le8 || id) < fraction", "fraction": opts.heldout_fraction, "seed": opts.heldout_seed}),
        splits,
        index: ShardEntry {
            file: "index.jsonl".into(),
            sha256: glassbox_core::hash::sha256_file(&index_path)?,
            tokens: 0,
        },
        orders: Vec::new(),
        shard_tokens: Some(opts.shard_tokens),
    };
    glassbox_core::fsio::write_json_atomic(&out.join("manifest.json"), &manifest)?;
    Ok(manifest)
}
