//! Tokenizers: training a byte-level BPE deterministically, extending one with tokens learned
//! from a new language (existing ids unchanged), and measuring fertility (tokens per word).
//!
//! The trained tokenizer is GPT-2-style byte-level BPE (the `tokenizers` crate: `ByteLevel`
//! pre-tokenizer with its regex, no prefix space, `ByteLevel` decoder), with the special tokens
//! first (ids 0, 1, …). Training is deterministic: the same documents and settings give the same
//! `tokenizer.json` bytes, whatever the number of threads (tested).

use std::path::Path;

use serde_json::Value;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

use crate::{DataError, Result};

/// Settings of [`train`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// Vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Special tokens, in id order (the first is used as end-of-sequence by default).
    pub special_tokens: Vec<String>,
    /// Pairs seen fewer times are never merged.
    pub min_frequency: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            vocab_size: 8192,
            special_tokens: vec!["<|endoftext|>".into()],
            min_frequency: 2,
        }
    }
}

fn tok_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Trains a byte-level BPE on `docs`.
pub fn train<I: Iterator<Item = String> + Send>(
    docs: I,
    opts: &TrainOptions,
    out: &Path,
) -> Result<Tokenizer> {
    if opts.vocab_size < 256 + opts.special_tokens.len() {
        return Err(tok_err(
            out,
            format!(
                "vocabulary size {} is smaller than the 256 byte symbols plus {} special tokens",
                opts.vocab_size,
                opts.special_tokens.len()
            ),
        ));
    }
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(opts.vocab_size)
        .min_frequency(opts.min_frequency)
        .special_tokens(
            opts.special_tokens
                .iter()
                .map(|s| AddedToken::from(s.clone(), true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .show_progress(false)
        .build();
    let mut tk = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(Some(ByteLevel::new(false, false, true)))
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(|e| tok_err(out, e))?;
    tk.train(&mut trainer, docs).map_err(|e| tok_err(out, e))?;
    let tk: Tokenizer = tk.into();
    Ok(tk)
}

/// The `tokenizer.json` bytes of `tk` (pretty, as transformers writes them).
pub fn to_json(tk: &Tokenizer, path: &Path) -> Result<String> {
    tk.to_string(true).map_err(|e| tok_err(path, e))
}

/// Loads a `tokenizer.json`.
pub fn load(path: &Path) -> Result<Tokenizer> {
    if !path.exists() {
        return Err(tok_err(
            path,
            "missing; train one with `glassbox data tokenizer train`",
        ));
    }
    let tk = glassbox_core::panics::catching(|| Tokenizer::from_file(path))
        .map_err(|p| tok_err(path, format!("the tokenizers library failed on it ({p})")))?
        .map_err(|e| tok_err(path, e))?;
    // A file the library accepts but then panics on when used is refused here, not mid-run.
    glassbox_core::panics::catching(|| {
        if let Ok(enc) = tk.encode("Hello, world! ¿Qué tal? 你好 123\n", true) {
            let _ = tk.decode(enc.get_ids(), false);
        }
    })
    .map_err(|p| {
        tok_err(
            path,
            format!("cannot be used: the tokenizers library panicked: {p}"),
        )
    })?;
    Ok(tk)
}

/// Tokens per whitespace-separated word over `docs`.
pub fn fertility<'a>(tk: &Tokenizer, docs: impl Iterator<Item = &'a str>) -> Result<f64> {
    let (mut tokens, mut words) = (0usize, 0usize);
    for d in docs {
        words += d.split_whitespace().count();
        tokens += tk
            .encode(d, false)
            .map_err(|e| DataError::Request(e.to_string()))?
            .get_ids()
            .len();
    }
    Ok(if words == 0 {
        0.0
    } else {
        tokens as f64 / words as f64
    })
}

/// What [`extend`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExtendReport {
    /// Vocabulary size before (with added tokens).
    pub vocab_before: usize,
    /// Vocabulary size after.
    pub vocab_after: usize,
    /// Tokens added.
    pub added: usize,
    /// A few of the added tokens (decoded), for the reader.
    pub examples: Vec<String>,
    /// Tokens per word on the new-language corpus, before.
    pub fertility_before: f64,
    /// Tokens per word on the new-language corpus, after.
    pub fertility_after: f64,
}

/// Adds up to `add` tokens learned from `docs` (a new language) to `base`: a byte-level BPE is
/// trained on `docs`, and its merges are appended, in the order learned, wherever both parts are
/// already tokens and the result is new. Existing tokens keep their ids and existing merges keep
/// their priority, so text the base tokenizer handled is tokenised as before wherever no new
/// merge applies. New tokens take the ids after every existing one (special tokens included).
pub fn extend(
    base: &Tokenizer,
    docs: &[String],
    add: usize,
    base_path: &Path,
) -> Result<(Tokenizer, ExtendReport)> {
    let mut json: Value =
        serde_json::from_str(&to_json(base, base_path)?).map_err(|e| tok_err(base_path, e))?;
    if json.pointer("/model/type").and_then(Value::as_str) != Some("BPE") {
        return Err(tok_err(base_path, "only BPE tokenizers can be extended"));
    }
    let opts = TrainOptions {
        vocab_size: base.get_vocab_size(true) + add * 2 + 256,
        ..Default::default()
    };
    let learned = train(docs.iter().cloned(), &opts, base_path)?;
    let learned_json: Value =
        serde_json::from_str(&to_json(&learned, base_path)?).map_err(|e| tok_err(base_path, e))?;
    let vocab = json
        .pointer_mut("/model/vocab")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| tok_err(base_path, "model.vocab missing"))?;
    let mut next_id = vocab.values().filter_map(Value::as_u64).max().unwrap_or(0) + 1;
    for t in base.get_added_tokens_decoder().keys() {
        next_id = next_id.max(*t as u64 + 1);
    }
    let mut new_merges: Vec<Value> = Vec::new();
    let mut added = Vec::new();
    for m in learned_json
        .pointer("/model/merges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if added.len() >= add {
            break;
        }
        let (a, b) = match m {
            Value::Array(p) if p.len() == 2 => {
                (p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or(""))
            }
            Value::String(s) => match s.split_once(' ') {
                Some((a, b)) => (a, b),
                None => continue,
            },
            _ => continue,
        };
        let merged = format!("{a}{b}");
        if vocab.contains_key(a) && vocab.contains_key(b) && !vocab.contains_key(&merged) {
            vocab.insert(merged.clone(), Value::from(next_id));
            next_id += 1;
            new_merges.push(Value::Array(vec![Value::from(a), Value::from(b)]));
            added.push(merged);
        }
    }
    let merges = json
        .pointer_mut("/model/merges")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| tok_err(base_path, "model.merges missing"))?;
    let string_form = merges.first().is_some_and(Value::is_string);
    for m in new_merges {
        if string_form {
            let pair = m
                .as_array()
                .map(|p| {
                    format!(
                        "{} {}",
                        p[0].as_str().unwrap_or(""),
                        p[1].as_str().unwrap_or("")
                    )
                })
                .unwrap_or_default();
            merges.push(Value::String(pair));
        } else {
            merges.push(m);
        }
    }
    let text = serde_json::to_string(&json).map_err(|e| tok_err(base_path, e))?;
    let extended: Tokenizer = text.parse().map_err(|e| tok_err(base_path, e))?;
    let before = fertility(base, docs.iter().map(String::as_str))?;
    let after = fertility(&extended, docs.iter().map(String::as_str))?;
    let examples = added
        .iter()
        .take(12)
        .filter_map(|t| extended.token_to_id(t))
        .filter_map(|id| extended.decode(&[id], false).ok())
        .collect();
    let report = ExtendReport {
        vocab_before: base.get_vocab_size(true),
        vocab_after: extended.get_vocab_size(true),
        added: added.len(),
        examples,
        fertility_before: before,
        fertility_after: after,
    };
    Ok((extended, report))
}
