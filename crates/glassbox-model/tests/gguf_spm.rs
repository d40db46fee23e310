//! SentencePiece (`llama`) vocabularies against the fixture of `make_spm_fixture.py`
//! (`tests/fixtures/gguf/spm/`): a SentencePiece BPE model, the `tokenizer.json` transformers
//! makes of it, and the vocabulary-only GGUF written as llama.cpp's converter writes it.
//! Export gives that GGUF's pieces, scores and types; import gives transformers' merges; the
//! two compose. (Encoding with the rebuilt tokenizer: `glassbox-infer`'s `gguf_spm` test.)

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use glassbox_model::gguf::{GgufFile, GgufWriter, Value, tokenizer};
use serde_json::Value as Json;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/gguf/spm")
        .join(name)
}

fn json(name: &str) -> Json {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn reference() -> GgufFile {
    GgufFile::open(&fixture("vocab.gguf")).unwrap()
}

fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn export_writes_the_converters_vocabulary() {
    let gguf = reference();
    let meta = tokenizer::metadata(
        &json("tokenizer.json"),
        Some(&json("tokenizer_config.json")),
        500,
    )
    .unwrap();
    let get = |k: &str| &meta.iter().find(|(key, _)| key == k).unwrap().1;
    assert_eq!(get("tokenizer.ggml.model"), &Value::String("llama".into()));
    assert_eq!(get("tokenizer.ggml.pre"), &Value::String("default".into()));
    for key in [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.add_bos_token",
    ] {
        assert_eq!(get(key), gguf.get(key).unwrap(), "{key}");
    }
    // Scores compared as numbers: SentencePiece writes the first merge's score as -0.0.
    let ours = array(get("tokenizer.ggml.scores"));
    let theirs = array(gguf.get("tokenizer.ggml.scores").unwrap());
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a.as_f64(), b.as_f64(), "score of token {i}");
    }
    assert_eq!(get("tokenizer.ggml.add_eos_token"), &Value::Bool(false));
    assert!(meta.iter().all(|(k, _)| k != "tokenizer.ggml.merges"));
}

#[test]
fn import_rebuilds_transformers_merges_and_vocabulary() {
    let (tk, cfg) = tokenizer::rebuild(&reference()).unwrap();
    let hf = json("tokenizer.json");
    assert_eq!(tk["model"]["vocab"], hf["model"]["vocab"]);
    assert_eq!(tk["model"]["merges"], hf["model"]["merges"]);
    assert_eq!(tk["model"]["byte_fallback"], Json::Bool(true));
    assert_eq!(tk["added_tokens"], hf["added_tokens"]);
    assert_eq!(tk["decoder"], hf["decoder"]);
    assert_eq!(
        tk["post_processor"]["single"],
        hf["post_processor"]["single"]
    );
    // Spaces: a normalizer that always prefixes `▁`, as SentencePiece and llama.cpp do.
    assert_eq!(
        tk["normalizer"]["normalizers"][0],
        serde_json::json!({"type": "Prepend", "prepend": "\u{2581}"})
    );
    assert_eq!(tk["pre_tokenizer"], Json::Null);
    assert_eq!(cfg["bos_token"], "<s>");
    assert_eq!(cfg["eos_token"], "</s>");
    assert_eq!(cfg["unk_token"], "<unk>");
    assert_eq!(cfg["add_bos_token"], true);
    assert_eq!(cfg["add_eos_token"], false);
}

#[test]
fn export_then_import_is_import() {
    let meta = tokenizer::metadata(
        &json("tokenizer.json"),
        Some(&json("tokenizer_config.json")),
        500,
    )
    .unwrap();
    let mut w = GgufWriter::new();
    w.set("general.architecture", Value::String("llama".into()));
    for (k, v) in meta {
        w.set(&k, v);
    }
    let ours = GgufFile::from_bytes(&w.to_bytes(), &fixture("exported.gguf")).unwrap();
    assert_eq!(
        tokenizer::rebuild(&ours).unwrap(),
        tokenizer::rebuild(&reference()).unwrap()
    );
}

#[test]
fn padding_ids_and_no_prefix_are_written() {
    let mut hf = json("tokenizer.json");
    // Gemma's form: no `▁` in front of the text.
    hf["normalizer"] =
        serde_json::json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    hf["pre_tokenizer"] = Json::Null;
    let meta = tokenizer::metadata(&hf, None, 502).unwrap();
    let get = |k: &str| &meta.iter().find(|(key, _)| key == k).unwrap().1;
    assert_eq!(get("tokenizer.ggml.add_space_prefix"), &Value::Bool(false));
    let tokens = array(get("tokenizer.ggml.tokens"));
    assert_eq!(tokens[501], Value::String("[PAD501]".into()));
    assert_eq!(array(get("tokenizer.ggml.token_type"))[500], Value::I32(5));
    // No config: the unknown token comes from the model, none here, so `<unk>` stays control.
    assert_eq!(array(get("tokenizer.ggml.token_type"))[0], Value::I32(3));

    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.set(&k, v);
    }
    let f = GgufFile::from_bytes(&w.to_bytes(), &fixture("nopfx.gguf")).unwrap();
    let (tk, _) = tokenizer::rebuild(&f).unwrap();
    assert_eq!(
        tk["normalizer"]["normalizers"],
        serde_json::json!([{"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}])
    );
    assert_eq!(tk["decoder"]["decoders"].as_array().unwrap().len(), 3);
}

#[test]
fn a_vocabulary_without_scores_is_refused() {
    let g = reference();
    let mut w = GgufWriter::new();
    for (k, v) in &g.metadata {
        if k != "tokenizer.ggml.scores" {
            w.set(k, v.clone());
        }
    }
    let f = GgufFile::from_bytes(&w.to_bytes(), &fixture("noscores.gguf")).unwrap();
    let e = tokenizer::rebuild(&f).unwrap_err();
    assert!(e.contains("tokenizer.ggml.scores"), "{e}");
}

#[test]
fn added_tokens_are_exported_as_the_converter_writes_them() {
    let mut hf = json("tokenizer.json");
    let added = hf["added_tokens"].as_array_mut().unwrap();
    for (id, content, special) in [(500, "<|user|>", false), (501, "<|end|>", true)] {
        added.push(
            serde_json::json!({"id": id, "content": content, "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": special}),
        );
    }
    let meta = tokenizer::metadata(&hf, Some(&json("tokenizer_config.json")), 502).unwrap();
    let gguf = GgufFile::open(&fixture("vocab_added.gguf")).unwrap();
    for key in [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.scores",
    ] {
        let ours = &meta.iter().find(|(k, _)| k == key).unwrap().1;
        let theirs = gguf.get(key).unwrap();
        let f = |v: &Value| -> Vec<String> {
            array(v)
                .iter()
                .map(|x| x.as_f64().map_or(format!("{x:?}"), |n| n.to_string()))
                .collect()
        };
        assert_eq!(f(ours), f(theirs), "{key}");
    }
}

#[test]
fn the_normalizer_form_exports_as_the_metaspace_form() {
    // transformers 4's Llama files put the `▁` prefix in the normalizer, as the rebuilt one does.
    let (rebuilt, cfg) = tokenizer::rebuild(&reference()).unwrap();
    let hf = tokenizer::metadata(
        &json("tokenizer.json"),
        Some(&json("tokenizer_config.json")),
        500,
    )
    .unwrap();
    assert_eq!(tokenizer::metadata(&rebuilt, Some(&cfg), 500).unwrap(), hf);
}
