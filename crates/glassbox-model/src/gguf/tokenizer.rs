//! A byte-level BPE tokenizer (`tokenizer.json`) as GGUF `tokenizer.*` metadata, the way
//! llama.cpp reads GPT-2-style vocabularies: `tokenizer.ggml.model = "gpt2"`, the tokens in id
//! order with their types, the merges as `"a b"` strings, the special token ids, whether a BOS
//! is added, and the chat template.
//!
//! The pre-tokenizer name tells llama.cpp which splitting regex to use. A `ByteLevel`
//! pre-tokenizer with its regex is GPT-2's (`"gpt-2"`); a sequence that begins with a `Split`
//! is recognised only when its pattern is Llama 3's (`"llama-bpe"`), Qwen2's (`"qwen2"`) or SmolLM's digits-first
//! form (`"smollm"`) — any other is refused, since llama.cpp would split differently.

use serde_json::Value as Json;

use super::Value;

/// Llama 3's splitting regex, as its `tokenizer.json` writes it.
/// Qwen2's split regex: Llama 3's with single digits (`"qwen2"`).
const QWEN2_PATTERN: &str = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_PATTERN: &str = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/// llama.cpp's token types.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// The pre-tokenizer name llama.cpp expects for `pre` (a `tokenizer.json` `pre_tokenizer`).
fn pre_name(pre: &Json) -> Result<&'static str, String> {
    let ty = pre.get("type").and_then(Json::as_str).unwrap_or("");
    match ty {
        "ByteLevel" if pre.get("use_regex").and_then(Json::as_bool) != Some(false) => Ok("gpt-2"),
        "Sequence" => {
            let parts = pre
                .get("pretokenizers")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let split = parts
                .iter()
                .find(|p| p.get("type").and_then(Json::as_str) == Some("Split"))
                .and_then(|p| p.pointer("/pattern/Regex"))
                .and_then(Json::as_str);
            let digits = parts
                .iter()
                .any(|p| p.get("type").and_then(Json::as_str) == Some("Digits"));
            match (split, digits) {
                (Some(p), _) if p == LLAMA3_PATTERN => Ok("llama-bpe"),
                (Some(p), _) if p == QWEN2_PATTERN => Ok("qwen2"),
                (None, true) => Ok("smollm"),
                _ => Err(format!(
                    "pre-tokenizer sequence {} has no llama.cpp name",
                    serde_json::to_string(&parts).unwrap_or_default()
                )),
            }
        }
        other => Err(format!("pre-tokenizer `{other}` has no llama.cpp name")),
    }
}

/// A `tokenizer.json` and `tokenizer_config.json` rebuilt from a GGUF's `tokenizer.*` metadata
/// (the inverse of [`metadata`] for GPT-2-style vocabularies: `gpt2` model with the `gpt-2`,
/// `llama-bpe` or `smollm` pre-tokenizer). Padding tokens (`UNUSED`) stay in the vocabulary.
pub fn rebuild(f: &super::GgufFile) -> Result<(Json, Json), String> {
    let s = |k: &str| f.get(k).and_then(Value::as_str);
    if s("tokenizer.ggml.model") == Some("llama") {
        return super::spm::rebuild(f);
    }
    if s("tokenizer.ggml.model") != Some("gpt2") {
        return Err(format!(
            "metadata `tokenizer.ggml.model` is {:?}; glassbox rebuilds `gpt2` (byte-level BPE) tokenizers",
            s("tokenizer.ggml.model")
        ));
    }
    let tokens = strings(f, "tokenizer.ggml.tokens")?;
    let merges = strings(f, "tokenizer.ggml.merges").unwrap_or_default();
    let types: Vec<i64> = match f.get("tokenizer.ggml.token_type") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::I32(x) => i64::from(*x),
                other => other.as_u64().map_or(NORMAL.into(), |x| x as i64),
            })
            .collect(),
        _ => vec![i64::from(NORMAL); tokens.len()],
    };
    let pre = match s("tokenizer.ggml.pre").unwrap_or("gpt-2") {
        "gpt-2" | "default" => {
            serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})
        }
        "llama-bpe" | "llama3" => serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
        "qwen2" => serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
        "smollm" => serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]}),
        other => {
            return Err(format!(
                "metadata `tokenizer.ggml.pre` {other:?} is not one glassbox rebuilds"
            ));
        }
    };
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let ty = types.get(i).copied().unwrap_or(NORMAL.into());
        if ty == i64::from(CONTROL) || ty == i64::from(USER_DEFINED) {
            added.push(serde_json::json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": ty == i64::from(USER_DEFINED), "special": ty == i64::from(CONTROL)}));
        }
        vocab.insert(t.clone(), serde_json::json!(i));
    }
    let id = |k: &str| f.get(k).and_then(Value::as_u64);
    let name = |i: Option<u64>| i.and_then(|i| tokens.get(i as usize).cloned());
    let bos = name(id("tokenizer.ggml.bos_token_id"));
    let adds_bos = matches!(
        f.get("tokenizer.ggml.add_bos_token"),
        Some(Value::Bool(true))
    );
    let post = match (&bos, adds_bos) {
        (Some(b), true) => serde_json::json!({"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": b, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {b: {"id": b, "ids": [id("tokenizer.ggml.bos_token_id")], "tokens": [b]}}}),
        _ => {
            serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true})
        }
    };
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": pre, "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges},
    });
    let config = special_tokens_config(f, name);
    Ok((tokenizer, Json::Object(config)))
}

/// `tokenizer.json`'s `added_tokens`: each one's content, id and whether it is special.
pub(super) fn added_tokens(tokenizer: &Json) -> Result<Vec<(&str, u64, bool)>, String> {
    tokenizer
        .get("added_tokens")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let (Some(content), Some(id)) = (
                a.get("content").and_then(Json::as_str),
                a.get("id").and_then(Json::as_u64),
            ) else {
                return Err("an added token lacks `content` or `id`".to_string());
            };
            let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
            Ok((content, id, special))
        })
        .collect()
}

/// The id of the token `tokenizer_config.json` names under `key` (a string, or
/// `{"content": …}`), looked up among the added tokens, then the vocabulary.
pub(super) fn named_token(
    config: Option<&Json>,
    key: &str,
    added: &std::collections::HashMap<String, u64>,
    vocab: &serde_json::Map<String, Json>,
) -> Option<u64> {
    let v = config?.get(key)?;
    let s = v
        .as_str()
        .or_else(|| v.get("content").and_then(Json::as_str))?;
    token_id(s, added, vocab)
}

/// The id of token `s`: an added token's, else the vocabulary's.
pub(super) fn token_id(
    s: &str,
    added: &std::collections::HashMap<String, u64>,
    vocab: &serde_json::Map<String, Json>,
) -> Option<u64> {
    added
        .get(s)
        .copied()
        .or_else(|| vocab.get(s).and_then(Json::as_u64))
}

/// The string array metadata `k`.
pub(super) fn strings(f: &super::GgufFile, k: &str) -> Result<Vec<String>, String> {
    match f.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("metadata `{k}` holds a non-string"))
            })
            .collect(),
        _ => Err(format!("metadata `{k}` is missing or not an array")),
    }
}

/// `tokenizer_config.json`'s special tokens (named by `name` from their GGUF ids), the chat
/// template and `clean_up_tokenization_spaces: false`.
pub(super) fn special_tokens_config(
    f: &super::GgufFile,
    name: impl Fn(Option<u64>) -> Option<String>,
) -> serde_json::Map<String, Json> {
    let mut config = serde_json::Map::new();
    for (key, gguf) in [
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
        ("unk_token", "tokenizer.ggml.unknown_token_id"),
    ] {
        if let Some(t) = name(f.get(gguf).and_then(Value::as_u64)) {
            config.insert(key.into(), Json::String(t));
        }
    }
    if let Some(t) = f.get("tokenizer.chat_template").and_then(Value::as_str) {
        config.insert("chat_template".into(), Json::String(t.into()));
    }
    config.insert("clean_up_tokenization_spaces".into(), Json::Bool(false));
    config
}

/// The `tokenizer.*` entries for a model of `vocab_size` from `tokenizer.json` and, when given,
/// `tokenizer_config.json` (BOS/EOS/padding tokens, whether a BOS is added, the chat template).
pub fn metadata(
    tokenizer: &Json,
    config: Option<&Json>,
    vocab_size: usize,
) -> Result<Vec<(String, Value)>, String> {
    if super::spm::is_sentencepiece(tokenizer) {
        return super::spm::metadata(tokenizer, config, vocab_size);
    }
    let model = tokenizer
        .get("model")
        .ok_or("tokenizer.json has no `model`")?;
    if model.get("type").and_then(Json::as_str) != Some("BPE") {
        return Err("only BPE tokenizers are exported to GGUF".into());
    }
    let vocab = model
        .get("vocab")
        .and_then(Json::as_object)
        .ok_or("tokenizer.json has no `model.vocab`")?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    let mut types = vec![NORMAL; vocab_size];
    let mut place = |tok: &str, id: u64| -> Result<(), String> {
        let slot = tokens
            .get_mut(id as usize)
            .ok_or_else(|| format!("token {tok:?} has id {id}, beyond the model's {vocab_size}"))?;
        *slot = Some(tok.to_string());
        Ok(())
    };
    for (tok, id) in vocab {
        place(
            tok,
            id.as_u64()
                .ok_or_else(|| format!("token {tok:?}: id not a number"))?,
        )?;
    }
    let mut specials: std::collections::HashMap<String, u64> = Default::default();
    for (content, id, special) in added_tokens(tokenizer)? {
        place(content, id)?;
        types[id as usize] = if special { CONTROL } else { USER_DEFINED };
        specials.insert(content.to_string(), id);
    }
    let tokens: Vec<Value> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(t) => Value::String(t),
            None => {
                types[i] = UNUSED;
                Value::String(format!("[PAD{i}]"))
            }
        })
        .collect();
    let merges: Vec<Value> = model
        .get("merges")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|m| match m {
            Json::String(s) => Ok(Value::String(s.clone())),
            Json::Array(p) if p.len() == 2 => Ok(Value::String(format!(
                "{} {}",
                p[0].as_str().unwrap_or_default(),
                p[1].as_str().unwrap_or_default()
            ))),
            _ => Err(format!("merge {m} is neither \"a b\" nor [a, b]")),
        })
        .collect::<Result<_, _>>()?;
    let pre = tokenizer
        .get("pre_tokenizer")
        .ok_or("tokenizer.json has no `pre_tokenizer`")?;
    let mut out = vec![
        (
            "tokenizer.ggml.model".to_string(),
            Value::String("gpt2".into()),
        ),
        (
            "tokenizer.ggml.pre".to_string(),
            Value::String(pre_name(pre)?.into()),
        ),
        ("tokenizer.ggml.tokens".to_string(), Value::Array(tokens)),
        (
            "tokenizer.ggml.token_type".to_string(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.merges".to_string(), Value::Array(merges)),
    ];
    let named = |key: &str| named_token(config, key, &specials, vocab);
    for (key, gguf) in [
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
        ("unk_token", "tokenizer.ggml.unknown_token_id"),
    ] {
        if let Some(id) = named(key) {
            out.push((gguf.to_string(), Value::U32(id as u32)));
        }
    }
    // Whether a BOS is added: the post-processor's template starts with one.
    let adds_bos = tokenizer
        .pointer("/post_processor/single")
        .or_else(|| {
            tokenizer
                .pointer("/post_processor/processors")
                .and_then(Json::as_array)
                .and_then(|ps| ps.iter().find_map(|p| p.get("single")))
        })
        .and_then(Json::as_array)
        .and_then(|s| s.first())
        .is_some_and(|first| first.get("SpecialToken").is_some());
    out.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(adds_bos)));
    out.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)));
    if let Some(t) = config
        .and_then(|c| c.get("chat_template"))
        .and_then(Json::as_str)
    {
        out.push(("tokenizer.chat_template".into(), Value::String(t.into())));
    }
    Ok(out)
}
