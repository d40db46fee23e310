//! `glassbox convert --to gguf`: a trained checkpoint as one GGUF file with its tokenizer, read
//! back by glassbox's reader and model loader; what is not exported is refused by name.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use candle_core::Device;
use glassbox_model::gguf::{GgufFile, TensorType, Value};

#[test]
fn a_trained_checkpoint_converts_to_gguf_with_its_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/train");
    let recipe = std::fs::read_to_string(fixture.join("recipe.toml"))
        .unwrap()
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = \"{}\"", fixture.join("dataset").display()),
        )
        .replace("steps = 20", "steps = 2");
    let r = tmp.path().join("recipe.toml");
    std::fs::write(&r, recipe).unwrap();
    let run = tmp.path().join("run");
    let (_, e, c) = common::run(&["train", r.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert_eq!(c, 0, "{e}");
    let ck = run.join("checkpoints/step-0000002");
    let convert = |model: &std::path::Path, quant: &str, out: &std::path::Path| {
        common::run(&[
            "convert",
            "--model",
            model.to_str().unwrap(),
            "--to",
            "gguf",
            "--quant",
            quant,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    for q in ["f32", "q8_0"] {
        let out = tmp.path().join(format!("m-{q}.gguf"));
        let (_, e, c) = convert(&ck, q, &out);
        assert_eq!(c, 0, "{e}");
        let f = GgufFile::open(&out).unwrap();
        assert_eq!(
            f.get("tokenizer.ggml.model"),
            Some(&Value::String("gpt2".into()))
        );
        assert_eq!(
            f.get("tokenizer.ggml.pre"),
            Some(&Value::String("gpt-2".into()))
        );
        let Some(Value::Array(tokens)) = f.get("tokenizer.ggml.tokens") else {
            panic!("no tokens")
        };
        let (m, _) = glassbox_model::Transformer::load(&ck, &Device::Cpu).unwrap();
        assert_eq!(tokens.len(), m.config().vocab_size);
        let want = if q == "f32" {
            TensorType::F32
        } else {
            TensorType::Q8_0
        };
        // Matrices as asked, except rows that are not whole blocks (f16, as llama.cpp's
        // converter falls back); norms f32.
        for t in &f.tensors {
            let expect = match (t.dims.len(), t.dims[0] % 32 == 0) {
                (1, _) => TensorType::F32,
                (_, true) => want,
                (_, false) if want == TensorType::F32 => TensorType::F32,
                _ => TensorType::F16,
            };
            assert_eq!(t.ty, expect, "{}", t.name);
        }
        assert!(f.tensors.iter().any(|t| t.ty == want));
        let Some(Value::String(h)) = f.get("glassbox.source.sha256") else {
            panic!("no source hash")
        };
        assert_eq!(h.len(), 64);
        // The f32 file loads back as the same weights.
        if q == "f32" {
            let back = glassbox_model::gguf::llama::load_transformer(&f, &Device::Cpu).unwrap();
            for ((a, x), (_, y)) in m.named_tensors().iter().zip(back.named_tensors()) {
                let x: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
                let y: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
                assert_eq!(x, y, "{a}");
            }
        }
    }
    // A directory as --out, and a family not exported yet, are refused by name.
    let (_, e, c) = convert(&ck, "f16", tmp.path());
    assert_ne!(c, 0);
    assert!(e.contains("is a directory"), "{e}");
    let qwen = fixture.join("../models/qwen2");
    let (_, e, c) = convert(&qwen, "f16", &tmp.path().join("q.gguf"));
    assert_ne!(c, 0);
    assert!(e.contains("Qwen2ForCausalLM"), "{e}");
}
