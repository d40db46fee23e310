//! A model's tokenizer: `tokenizer.json` (the `tokenizers` crate) plus the special tokens and
//! chat template of `tokenizer_config.json` / `chat_template.jinja`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{InferError, Result};

/// Tokenizer files and the settings transformers reads beside them.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    /// `bos_token` (text), when defined.
    pub bos_token: Option<String>,
    /// `eos_token` (text), when defined.
    pub eos_token: Option<String>,
    /// `pad_token` (text), when defined.
    pub pad_token: Option<String>,
    /// `unk_token` (text), when defined.
    pub unk_token: Option<String>,
    /// The default chat template and where it came from, when the model has one.
    pub chat_template: Option<(String, String)>,
    /// `clean_up_tokenization_spaces`: transformers' post-decode fix of spaces before punctuation.
    pub clean_up_tokenization_spaces: bool,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` and
    /// `chat_template.jinja` (or `chat_template.json`) from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(InferError::Tokenizer {
                path,
                message:
                    "missing; a model directory must contain tokenizer.json (the fast-tokenizer \
                          file transformers writes)"
                        .into(),
            });
        }
        let inner = glassbox_core::panics::catching(|| tokenizers::Tokenizer::from_file(&path))
            .map_err(|p| format!("the tokenizers library failed on it ({p})"))
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| InferError::Tokenizer {
                path: path.clone(),
                message: format!("cannot load: {e}"),
            })?;
        probe(&inner).map_err(|e| InferError::Tokenizer {
            path: path.clone(),
            message: format!("cannot be used: {e}"),
        })?;
        let mut tok = Self {
            inner,
            path,
            bos_token: None,
            eos_token: None,
            pad_token: None,
            unk_token: None,
            chat_template: None,
            clean_up_tokenization_spaces: false,
        };
        let cfg_path = dir.join("tokenizer_config.json");
        if cfg_path.exists() {
            let cfg: Value = glassbox_core::fsio::read_json(&cfg_path)?;
            let token =
                |key: &str| -> Result<Option<String>> { special_token(&cfg, key, &cfg_path) };
            tok.bos_token = token("bos_token")?;
            tok.eos_token = token("eos_token")?;
            tok.pad_token = token("pad_token")?;
            tok.unk_token = token("unk_token")?;
            tok.clean_up_tokenization_spaces = cfg
                .get("clean_up_tokenization_spaces")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            tok.chat_template = chat_template_from_config(&cfg, &cfg_path)?;
        }
        // transformers ≥ 4.43 saves the template beside the config; the file wins, as it does there.
        let jinja = dir.join("chat_template.jinja");
        let json = dir.join("chat_template.json");
        if jinja.exists() {
            let text = glassbox_core::fsio::read_to_string(&jinja)?;
            tok.chat_template = Some((text, "chat_template.jinja".into()));
        } else if json.exists() {
            let v: Value = glassbox_core::fsio::read_json(&json)?;
            tok.chat_template = chat_template_from_config(&v, &json)?;
        }
        Ok(tok)
    }

    /// The `tokenizers` object.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Token ids of `text`; `add_special_tokens` applies the post-processor (BOS for Llama).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.guarded("encoding", || self.inner.encode(text, add_special_tokens))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Runs a call into the `tokenizers` library; its error, or a panic in it, becomes an error
    /// naming `tokenizer.json` and what was being done.
    fn guarded<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> Result<T> {
        glassbox_core::panics::catching(f)
            .map_err(|p| format!("the tokenizers library panicked: {p}"))
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| InferError::Tokenizer {
                path: self.path.clone(),
                message: format!("{what} failed: {e}"),
            })
    }

    /// Text of `ids`, as transformers' `decode` gives it.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let text = self.guarded("decoding", || self.inner.decode(ids, skip_special_tokens))?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_spaces(&text)
        } else {
            text
        })
    }

    /// The vocabulary piece of `id` (`Ġthe`, `<|im_end|>`), when it exists.
    pub fn token_piece(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a vocabulary piece or added token.
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        self.inner.token_to_id(piece)
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Path of `tokenizer.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Encodes and decodes a mixed text with and without special tokens: a `tokenizer.json` that
/// makes the `tokenizers` library panic (a post-processor naming a special token it does not
/// define, say) is refused when loaded, not at the first request. An ordinary error on this text
/// (a vocabulary without the characters and no unknown token) is not a reason to refuse.
fn probe(t: &tokenizers::Tokenizer) -> std::result::Result<(), String> {
    const TEXT: &str = "Hello, world! ¿Qué tal? 你好 123\n";
    for special in [false, true] {
        glassbox_core::panics::catching(|| {
            if let Ok(enc) = t.encode(TEXT, special) {
                let _ = t.decode(enc.get_ids(), !special);
            }
        })
        .map_err(|p| format!("the tokenizers library panicked: {p}"))?;
    }
    Ok(())
}

/// A special token given as a string or as an `AddedToken` object (`{"content": ...}`).
fn special_token(cfg: &Value, key: &str, path: &Path) -> Result<Option<String>> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(InferError::Config {
                path: path.to_path_buf(),
                field: format!("{key}.content"),
                message: "expected a string".into(),
            }),
        },
        Some(other) => Err(InferError::Config {
            path: path.to_path_buf(),
            field: key.into(),
            message: format!("expected a string or an object with `content`, found {other}"),
        }),
    }
}

/// `chat_template` as a string, or as a list of `{name, template}` (the one named `default`).
fn chat_template_from_config(cfg: &Value, path: &Path) -> Result<Option<(String, String)>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match cfg.get("chat_template") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some((s.clone(), name))),
        Some(Value::Array(list)) => {
            let named = |n: &str| {
                list.iter()
                    .find(|e| e.get("name").and_then(Value::as_str) == Some(n))
                    .and_then(|e| e.get("template"))
                    .and_then(Value::as_str)
            };
            match named("default") {
                Some(t) => Ok(Some((
                    t.to_string(),
                    format!("{name} (template `default`)"),
                ))),
                None => Err(InferError::Config {
                    path: path.to_path_buf(),
                    field: "chat_template".into(),
                    message: "a list of templates must contain one named `default`".into(),
                }),
            }
        }
        Some(other) => Err(InferError::Config {
            path: path.to_path_buf(),
            field: "chat_template".into(),
            message: format!("expected a string or a list, found {other}"),
        }),
    }
}

/// transformers' `clean_up_tokenization`: removes the space before punctuation and contractions.
pub fn clean_up_spaces(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}
