//! SentencePiece vocabularies in GGUF (`tokenizer.ggml.model = "llama"`: Llama 1/2, Mistral,
//! Gemma, TinyLlama, Phi-3 …) to and from a Hugging Face `tokenizer.json`.
//!
//! GGUF keeps what SentencePiece keeps: the pieces in id order, a score per piece, a type per
//! piece (normal, unknown, control, user-defined, unused, byte), no merges. llama.cpp tokenizes
//! such a vocabulary as SentencePiece's BPE does: spaces become `▁`, one `▁` is put in front
//! of the text (and of the text after each special token) unless `add_space_prefix` is false,
//! then the adjacent pair whose concatenation is the best-scoring piece is merged, again and
//! again; characters left outside the vocabulary become their `<0xXX>` byte pieces.
//!
//! A `tokenizer.json` says the same with a BPE model that falls back to bytes, whose merges are
//! every pair of normal pieces that concatenate to a normal piece, ranked by that piece's score
//! (transformers derives them so from a SentencePiece model). The `▁` prefix is written as a
//! normalizer (`Prepend("▁")`, then spaces replaced by `▁`), the form that prefixes every
//! stretch of text between special tokens and always adds one `▁` — as llama.cpp and
//! SentencePiece do, where the `Metaspace` pre-tokenizer skips the prefix before a text that
//! already begins with a space.
//!
//! The other way, a piece's score is recovered from the merges: the pieces that merges make, by
//! the rank of the first merge making each, then the others by id, score 0, -1, -2 … — the scores
//! SentencePiece's BPE trainer gives, so llama.cpp merges in the order the merges list.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::{GgufFile, Value};

/// llama.cpp's token types.
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const BYTE: i32 = 6;
const UNUSED: i32 = 5;

/// SentencePiece's whitespace mark.
const SPACE: &str = "\u{2581}";

/// A `<0xXX>` byte piece.
fn is_byte_piece(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 6
        && t.starts_with("<0x")
        && t.ends_with('>')
        && b[3..5].iter().all(u8::is_ascii_hexdigit)
}

/// The merges llama.cpp's scores imply: for every normal piece, each split into two normal
/// pieces, best score first (then lower id, then the pieces' text), as transformers ranks them.
fn merges(tokens: &[String], scores: &[f32], types: &[i32]) -> Vec<Json> {
    let mut normal: HashMap<&str, usize> = HashMap::new();
    for (i, t) in tokens.iter().enumerate() {
        if types[i] == NORMAL {
            // A repeated piece keeps its first id, as the vocabulary map does.
            normal.entry(t.as_str()).or_insert(i);
        }
    }
    let mut ranked: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (&t, &id) in &normal {
        for (split, _) in t.char_indices().skip(1) {
            let (l, r) = t.split_at(split);
            if normal.contains_key(l) && normal.contains_key(r) {
                ranked.push((scores[id], id, l, r));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(b.2))
            .then(a.3.cmp(b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, l, r)| json!([l, r]))
        .collect()
}

/// A `tokenizer.json` and `tokenizer_config.json` rebuilt from a GGUF's SentencePiece
/// (`llama`) vocabulary: BPE with byte fallback, merges from the scores, control and unknown
/// pieces as special added tokens, user-defined pieces as added tokens, BOS/EOS added as
/// `add_bos_token`/`add_eos_token` say.
pub fn rebuild(f: &GgufFile) -> Result<(Json, Json), String> {
    let tokens = super::tokenizer::strings(f, "tokenizer.ggml.tokens")?;
    let n = tokens.len();
    let scores: Vec<f32> = match f.get("tokenizer.ggml.scores") {
        Some(Value::Array(a)) if a.len() == n => a
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32))
            .collect::<Option<_>>()
            .ok_or("metadata `tokenizer.ggml.scores` holds a non-number")?,
        _ => {
            return Err(format!(
                "metadata `tokenizer.ggml.scores` is missing or not {n} numbers; a SentencePiece \
                 vocabulary needs its scores to know the merge order"
            ));
        }
    };
    let types: Vec<i32> = match f.get("tokenizer.ggml.token_type") {
        Some(Value::Array(a)) if a.len() == n => a
            .iter()
            .map(|v| match v {
                Value::I32(x) => *x,
                other => other.as_u64().map_or(NORMAL, |x| x as i32),
            })
            .collect(),
        Some(_) => {
            return Err(format!(
                "metadata `tokenizer.ggml.token_type` is not {n} types"
            ));
        }
        None => tokens
            .iter()
            .map(|t| if is_byte_piece(t) { BYTE } else { NORMAL })
            .collect(),
    };
    let flag = |k: &str, default: bool| match f.get(k) {
        Some(Value::Bool(b)) => *b,
        _ => default,
    };
    // llama.cpp's defaults for a `llama` vocabulary.
    let prefix = flag("tokenizer.ggml.add_space_prefix", true);
    let (adds_bos, adds_eos) = (
        flag("tokenizer.ggml.add_bos_token", true),
        flag("tokenizer.ggml.add_eos_token", false),
    );
    let id = |k: &str| {
        f.get(k)
            .and_then(Value::as_u64)
            .filter(|&i| (i as usize) < n)
    };
    let name = |i: Option<u64>| i.map(|i| tokens[i as usize].clone());
    let unk = name(id("tokenizer.ggml.unknown_token_id")).or_else(|| {
        types
            .iter()
            .position(|&t| t == UNKNOWN)
            .map(|i| tokens[i].clone())
    });

    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let ty = types[i];
        if matches!(ty, CONTROL | UNKNOWN | USER_DEFINED) {
            // User-defined pieces are matched whole in the raw text, before the `▁` mark.
            added.push(
                json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": ty != USER_DEFINED}),
            );
        }
        if !vocab.contains_key(t) {
            vocab.insert(t.clone(), json!(i));
        }
    }
    let merges = merges(&tokens, &scores, &types);

    let mut normalizer = Vec::new();
    if prefix {
        normalizer.push(json!({"type": "Prepend", "prepend": SPACE}));
    }
    normalizer.push(json!({"type": "Replace", "pattern": {"String": " "}, "content": SPACE}));
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": SPACE}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    let post = post_processor(
        name(id("tokenizer.ggml.bos_token_id")).filter(|_| adds_bos),
        id("tokenizer.ggml.bos_token_id"),
        name(id("tokenizer.ggml.eos_token_id")).filter(|_| adds_eos),
        id("tokenizer.ggml.eos_token_id"),
    );
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizer},
        "pre_tokenizer": null, "post_processor": post,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab, "merges": merges},
    });
    // An id past the vocabulary names no token.
    let mut config = super::tokenizer::special_tokens_config(f, |i| {
        i.filter(|&i| (i as usize) < n)
            .map(|i| tokens[i as usize].clone())
    });
    config.insert("add_bos_token".into(), Json::Bool(adds_bos));
    config.insert("add_eos_token".into(), Json::Bool(adds_eos));
    Ok((tokenizer, Json::Object(config)))
}

/// transformers' Llama post-processor: `BOS? $A EOS?` (and `BOS? $A EOS? BOS? $B EOS?` for
/// pairs); `null` when neither is added.
fn post_processor(
    bos: Option<String>,
    bos_id: Option<u64>,
    eos: Option<String>,
    eos_id: Option<u64>,
) -> Json {
    if bos.is_none() && eos.is_none() {
        return Json::Null;
    }
    let mut specials = serde_json::Map::new();
    let seq = |name: &str, type_id: u32| -> Vec<Json> {
        let mut out = Vec::new();
        if let Some(b) = &bos {
            out.push(json!({"SpecialToken": {"id": b, "type_id": type_id}}));
        }
        out.push(json!({"Sequence": {"id": name, "type_id": type_id}}));
        if let Some(e) = &eos {
            out.push(json!({"SpecialToken": {"id": e, "type_id": type_id}}));
        }
        out
    };
    for (t, i) in [(&bos, bos_id), (&eos, eos_id)] {
        if let (Some(t), Some(i)) = (t, i) {
            specials.insert(t.clone(), json!({"id": t, "ids": [i], "tokens": [t]}));
        }
    }
    let single = seq("A", 0);
    let mut pair = single.clone();
    pair.extend(seq("B", 1));
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}

/// Whether `tokenizer` (a `tokenizer.json`) is SentencePiece-style: BPE falling back to byte
/// pieces, with spaces written as `▁` by its normalizer or a `Metaspace` pre-tokenizer.
pub fn is_sentencepiece(tokenizer: &Json) -> bool {
    let model = tokenizer.get("model");
    model.and_then(|m| m.get("type")).and_then(Json::as_str) == Some("BPE")
        && model
            .and_then(|m| m.get("byte_fallback"))
            .and_then(Json::as_bool)
            == Some(true)
        && space_handling(tokenizer).is_some()
}

/// `Some(adds_prefix)` when spaces become `▁` (a `Replace` normalizer or a `Metaspace`
/// pre-tokenizer), with whether a `▁` is put in front of the text.
fn space_handling(tokenizer: &Json) -> Option<bool> {
    let parts = |v: Option<&Json>, key: &str| -> Vec<Json> {
        match v {
            Some(Json::Object(o)) if o.get("type").and_then(Json::as_str) == Some("Sequence") => o
                .get(key)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default(),
            Some(Json::Object(_)) => v.into_iter().cloned().collect(),
            _ => Vec::new(),
        }
    };
    let ty = |p: &Json| {
        p.get("type")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string()
    };
    let norms = parts(tokenizer.get("normalizer"), "normalizers");
    let replaces = norms.iter().any(|p| {
        ty(p) == "Replace"
            && p.pointer("/pattern/String").and_then(Json::as_str) == Some(" ")
            && p.get("content").and_then(Json::as_str) == Some(SPACE)
    });
    if replaces {
        return Some(norms.iter().any(|p| {
            ty(p) == "Prepend" && p.get("prepend").and_then(Json::as_str) == Some(SPACE)
        }));
    }
    let pres = parts(tokenizer.get("pre_tokenizer"), "pretokenizers");
    pres.iter().find(|p| ty(p) == "Metaspace").map(|m| {
        match m.get("prepend_scheme").and_then(Json::as_str) {
            Some(scheme) => scheme != "never",
            None => m
                .get("add_prefix_space")
                .and_then(Json::as_bool)
                .unwrap_or(true),
        }
    })
}

/// The `tokenizer.*` entries of a SentencePiece-style `tokenizer.json` for a model of
/// `vocab_size`, as llama.cpp's converter writes them from the SentencePiece model: pieces,
/// scores (recovered from the merges), types; special ids, BOS/EOS flags and the chat template
/// from `config` (`tokenizer_config.json`) and the post-processor.
pub fn metadata(
    tokenizer: &Json,
    config: Option<&Json>,
    vocab_size: usize,
) -> Result<Vec<(String, Value)>, String> {
    let model = tokenizer
        .get("model")
        .ok_or("tokenizer.json has no `model`")?;
    let vocab = model
        .get("vocab")
        .and_then(Json::as_object)
        .ok_or("tokenizer.json has no `model.vocab`")?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    let mut place = |tok: &str, id: u64| -> Result<(), String> {
        let slot = tokens
            .get_mut(id as usize)
            .ok_or_else(|| format!("token {tok:?} has id {id}, beyond the model's {vocab_size}"))?;
        *slot = Some(tok.to_string());
        Ok(())
    };
    let mut in_model = vec![false; vocab_size];
    for (tok, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| format!("token {tok:?}: id not a number"))?;
        place(tok, id)?;
        in_model[id as usize] = true;
    }
    let mut added: HashMap<u64, bool> = HashMap::new();
    let mut by_name: HashMap<String, u64> = HashMap::new();
    for (content, id, special) in super::tokenizer::added_tokens(tokenizer)? {
        place(content, id)?;
        added.insert(id, special);
        by_name.insert(content.to_string(), id);
    }
    let named = |key: &str| super::tokenizer::named_token(config, key, &by_name, vocab);
    let unk = named("unk_token").or_else(|| {
        let s = model.get("unk_token").and_then(Json::as_str)?;
        super::tokenizer::token_id(s, &by_name, vocab)
    });

    // Normal pieces by the rank of the first merge making them, then the rest by id.
    let mut first_merge: HashMap<String, usize> = HashMap::new();
    for (rank, m) in model
        .get("merges")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let joined = match m {
            Json::String(s) => s.split_once(' ').map(|(l, r)| format!("{l}{r}")),
            Json::Array(p) if p.len() == 2 => {
                Some(p.iter().filter_map(Json::as_str).collect::<String>())
            }
            _ => None,
        }
        .ok_or_else(|| format!("merge {m} is neither \"a b\" nor [a, b]"))?;
        first_merge.entry(joined).or_insert(rank);
    }
    let mut types = vec![NORMAL; vocab_size];
    // The converter's values for ids no piece fills.
    let mut scores = vec![-10000.0f32; vocab_size];
    let mut normal = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Some(t) = t else {
            types[i] = UNUSED;
            continue;
        };
        let id = i as u64;
        types[i] = match added.get(&id) {
            _ if Some(id) == unk => UNKNOWN,
            Some(true) => CONTROL,
            Some(false) => USER_DEFINED,
            None if is_byte_piece(t) => BYTE,
            None => NORMAL,
        };
        // Pieces of the SentencePiece model score 0 unless normal; tokens added past it,
        // -1000, as the converter gives added tokens.
        scores[i] = if in_model[i] || types[i] == BYTE {
            0.0
        } else {
            -1000.0
        };
        if types[i] == NORMAL {
            normal.push((first_merge.get(t).copied().unwrap_or(usize::MAX), i));
        }
    }
    normal.sort_unstable();
    for (rank, (_, i)) in normal.into_iter().enumerate() {
        scores[i] = -(rank as f32);
    }
    let tokens: Vec<Value> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| Value::String(t.unwrap_or_else(|| format!("[PAD{i}]"))))
        .collect();

    let mut out = vec![
        (
            "tokenizer.ggml.model".to_string(),
            Value::String("llama".into()),
        ),
        (
            "tokenizer.ggml.pre".to_string(),
            Value::String("default".into()),
        ),
        ("tokenizer.ggml.tokens".to_string(), Value::Array(tokens)),
        (
            "tokenizer.ggml.scores".to_string(),
            Value::Array(scores.into_iter().map(Value::F32).collect()),
        ),
        (
            "tokenizer.ggml.token_type".to_string(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
    ];
    for (key, gguf) in [
        ("bos_token", "tokenizer.ggml.bos_token_id"),
        ("eos_token", "tokenizer.ggml.eos_token_id"),
        ("pad_token", "tokenizer.ggml.padding_token_id"),
    ] {
        if let Some(id) = named(key) {
            out.push((gguf.to_string(), Value::U32(id as u32)));
        }
    }
    if let Some(id) = unk {
        out.push((
            "tokenizer.ggml.unknown_token_id".into(),
            Value::U32(id as u32),
        ));
    }
    let (adds_bos, adds_eos) = added_specials(tokenizer, config);
    out.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(adds_bos)));
    out.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(adds_eos)));
    // llama.cpp adds the `▁` prefix unless told not to; the converter writes the key only then.
    if space_handling(tokenizer) == Some(false) {
        out.push(("tokenizer.ggml.add_space_prefix".into(), Value::Bool(false)));
    }
    if let Some(t) = config
        .and_then(|c| c.get("chat_template"))
        .and_then(Json::as_str)
    {
        out.push(("tokenizer.chat_template".into(), Value::String(t.into())));
    }
    Ok(out)
}

/// Whether a BOS and an EOS are added: the post-processor's single-sequence template begins or
/// ends with a special token; without a template, `add_bos_token`/`add_eos_token` of the config
/// (transformers' Llama defaults: BOS yes, EOS no).
fn added_specials(tokenizer: &Json, config: Option<&Json>) -> (bool, bool) {
    let single = tokenizer
        .pointer("/post_processor/single")
        .or_else(|| {
            tokenizer
                .pointer("/post_processor/processors")
                .and_then(Json::as_array)
                .and_then(|ps| ps.iter().find_map(|p| p.get("single")))
        })
        .and_then(Json::as_array);
    let special = |p: Option<&Json>| p.is_some_and(|p| p.get("SpecialToken").is_some());
    match single {
        Some(s) => (special(s.first()), special(s.last())),
        None => {
            let flag = |k: &str, d: bool| {
                config
                    .and_then(|c| c.get(k))
                    .and_then(Json::as_bool)
                    .unwrap_or(d)
            };
            (flag("add_bos_token", true), flag("add_eos_token", false))
        }
    }
}
