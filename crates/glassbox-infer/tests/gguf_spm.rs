//! A SentencePiece (`llama`) GGUF vocabulary rebuilt as a `tokenizer.json` tokenizes as
//! llama.cpp does: the fixture of `tests/fixtures/gguf/make_spm_fixture.py` records, for each
//! test string, the ids of SentencePiece, transformers and llama.cpp. Glassbox must give
//! llama.cpp's ids (with BOS, control-token text read as control tokens) on every string, which
//! are SentencePiece's on plain text, and decode back to SentencePiece's text. The same holds for
//! the vocabulary glassbox exports from transformers' `tokenizer.json`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use glassbox_infer::TextTokenizer;
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

/// `f`'s vocabulary rebuilt and loaded as glassbox loads a GGUF's.
fn load(f: &GgufFile, dir: &Path) -> TextTokenizer {
    let (tk, cfg) = tokenizer::rebuild(f).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tk.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), cfg.to_string()).unwrap();
    TextTokenizer::load(dir).unwrap()
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// `tk` decodes llama.cpp's ids after the BOS, control tokens skipped, as llama.cpp does — except
/// where they begin with a control token: llama.cpp then keeps the space that the text after it
/// was given, glassbox strips it as transformers does.
fn decoded_as_llama_cpp(tk: &TextTokenizer, c: &Json) {
    let text = c["text"].as_str().unwrap();
    let ids = ids(&c["llama_cpp"]);
    let ours = tk.decode(&ids[1..], true).unwrap();
    let theirs = c["llama_cpp_decoded"].as_str().unwrap();
    if text.starts_with("<s>") || text.starts_with("<|end|>") {
        assert_eq!(format!(" {ours}"), theirs, "decoding {text:?}");
    } else {
        assert_eq!(ours, theirs, "decoding {text:?}");
    }
}

/// Checks `tk` on every recorded string; returns how many also match transformers.
fn check(tk: &TextTokenizer) -> usize {
    let expected = json("expected.json");
    let bos = expected["bos_id"].as_u64().unwrap() as u32;
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    let mut as_transformers = 0;
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let ours = tk.encode(text, true).unwrap();
        assert_eq!(ours, ids(&c["llama_cpp"]), "llama.cpp on {text:?}");
        if !text.contains("<s>") {
            let mut sp = vec![bos];
            sp.extend(ids(&c["sentencepiece"]));
            assert_eq!(ours, sp, "SentencePiece on {text:?}");
            assert_eq!(
                tk.decode(&ours, true).unwrap(),
                c["sentencepiece_decoded"].as_str().unwrap(),
                "decoding {text:?}"
            );
        }
        decoded_as_llama_cpp(tk, c);
        as_transformers += usize::from(ours == ids(&c["transformers"]));
    }
    as_transformers
}

#[test]
fn rebuilt_vocabulary_tokenizes_as_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let tk = load(&GgufFile::open(&fixture("vocab.gguf")).unwrap(), dir.path());
    // transformers' Metaspace form drops the `▁` SentencePiece adds before a leading space and
    // after a control token: 3 strings of the fixture.
    assert_eq!(check(&tk), 13);
    // Without the post-processor: no BOS; control-token text is still read as control tokens,
    // as transformers does.
    let expected = json("expected.json");
    for c in expected["cases"].as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        assert_eq!(
            tk.encode(text, false).unwrap(),
            ids(&c["llama_cpp"])[1..],
            "{text:?}"
        );
    }
}

#[test]
fn exported_vocabulary_tokenizes_as_llama_cpp() {
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
    let f = GgufFile::from_bytes(&w.to_bytes(), &fixture("exported.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(&load(&f, dir.path())), 13);
}

#[test]
fn added_tokens_split_the_text_as_in_llama_cpp() {
    // A user-defined and a control token past the SentencePiece pieces; llama.cpp puts a `▁`
    // in front of the text after each.
    let dir = tempfile::tempdir().unwrap();
    let tk = load(
        &GgufFile::open(&fixture("vocab_added.gguf")).unwrap(),
        dir.path(),
    );
    let expected = json("expected.json");
    let cases = expected["added_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let ours = tk.encode(text, true).unwrap();
        assert_eq!(ours, ids(&c["llama_cpp"]), "llama.cpp on {text:?}");
        decoded_as_llama_cpp(&tk, c);
    }
}
