//! The spectrum's example release families as a regression table (`docs/audit.md`, "The
//! spectrum's examples"): each row is the level glassbox gives on the family's Model Openness
//! Tool file (the publisher's declaration, copied into `tests/fixtures/mot`) or on a local
//! repository that reproduces the family's public Hub layout and licence, and the piece that
//! decides it. A change in any verdict fails here first.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use glassbox_audit::verdict::Level;
use glassbox_audit::{Report, audit_path};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn mot(name: &str) -> Report {
    audit_path(&fixtures().join("mot/models").join(format!("{name}.yml"))).unwrap()
}

fn license_text(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("licenses").join(name)).unwrap()
}

fn safetensors() -> Vec<u8> {
    let header = r#"{"w":{"dtype":"BF16","shape":[8],"data_offsets":[0,16]}}"#;
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend([0u8; 16]);
    v
}

/// A local repository with `files` (path, contents).
fn local(files: &[(&str, Vec<u8>)]) -> Report {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    for (p, b) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    }
    audit_path(&root).unwrap()
}

/// SmolLM2's Hub layout: Apache-2.0 on the card, weights and config, training code, data and the
/// data-processing library linked from the card, intermediate checkpoints in a separate repository.
fn smollm() -> Report {
    local(&[
        ("model.safetensors", safetensors()),
        ("config.json", br#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#.to_vec()),
        ("tokenizer.json", b"{}".to_vec()),
        (
            "README.md",
            b"---\nlibrary_name: transformers\nlicense: apache-2.0\nlanguage:\n- en\n---\n# SmolLM2\n\n## Training\n\nThe training code and nanotron configs are at https://github.com/huggingface/smollm .\n\n## Training data\n\nTrained on [FineWeb-Edu](https://huggingface.co/datasets/HuggingFaceFW/fineweb-edu), [DCLM](https://huggingface.co/datasets/mlfoundations/dclm-baseline-1.0) and [The Stack](https://huggingface.co/datasets/bigcode/the-stack-v2).\nData curation and deduplication code: https://github.com/huggingface/datatrove\n\nIntermediate checkpoints: https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-intermediate-checkpoints\n".to_vec(),
        ),
    ])
}

/// TinyLlama's layout: Apache-2.0, datasets in the card's metadata, the training repository linked.
fn tinyllama() -> Report {
    local(&[
        ("model.safetensors", safetensors()),
        ("config.json", br#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#.to_vec()),
        ("tokenizer.model", b"sentencepiece".to_vec()),
        (
            "README.md",
            b"---\nlicense: apache-2.0\ndatasets:\n- cerebras/SlimPajama-627B\n- bigcode/starcoderdata\nlanguage:\n- en\n---\n# TinyLlama-1.1B\n\nThe TinyLlama project pretrains a 1.1B Llama model on 3 trillion tokens. Training code: https://github.com/jzhang38/TinyLlama\n\n## Training data\n\nSlimPajama and StarCoder data, 950B tokens.\n".to_vec(),
        ),
    ])
}

/// Phi-3's layout: MIT LICENSE, weights, a config with custom modelling code, the training data
/// described in the card, no training code.
fn phi3() -> Report {
    local(&[
        ("model-00001-of-00002.safetensors", safetensors()),
        ("model-00002-of-00002.safetensors", safetensors()),
        (
            "model.safetensors.index.json",
            br#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#.to_vec(),
        ),
        ("config.json", br#"{"architectures": ["Phi3ForCausalLM"], "model_type": "phi3"}"#.to_vec()),
        ("LICENSE", license_text("MIT.txt")),
        (
            "README.md",
            b"---\nlicense: mit\nlicense_link: https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/resolve/main/LICENSE\nlanguage:\n- en\npipeline_tag: text-generation\n---\n# Phi-3 Mini\n\n## Training Datasets\n\nPublicly available documents filtered for quality, synthetic textbook-like data and chat data, 3.3T tokens.\n".to_vec(),
        ),
    ])
}

/// (family, where the verdict comes from, level glassbox gives, words that the first piece
/// missing for the next level contains).
type Row = (&'static str, &'static str, Level, &'static str);

const ROWS: &[Row] = &[
    (
        "Pythia",
        "mot:Pythia-70M",
        Level::RadicalOpenness,
        "replay verification record",
    ),
    (
        "OLMo",
        "mot:OLMo-7B",
        Level::RadicalOpenness,
        "replay verification record",
    ),
    ("SmolLM", "local:smollm", Level::OpenSourceAi, "only linked"),
    (
        "TinyLlama",
        "local:tinyllama",
        Level::OpenSourceAi,
        "only linked",
    ),
    (
        "Mistral",
        "mot:Mistral-7B-v0.1",
        Level::OpenWeight,
        "Inference code (not found",
    ),
    (
        "Phi-3",
        "local:phi3",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "DBRX",
        "mot:dbrx-base",
        Level::OpenWeight,
        "Inference code (not found",
    ),
    (
        "Llama 3",
        "mot:Llama-3-8B",
        Level::OpenWeight,
        "Inference code (not found",
    ),
    (
        "Gemma",
        "mot:gemma-7b",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "Falcon",
        "mot:Falcon-40B",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "Falcon 180B",
        "mot:Falcon-180B",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "BLOOM",
        "mot:BLOOM",
        Level::OpenWeight,
        "the freedom to run fails",
    ),
    (
        "DeepSeek-R1",
        "mot:DeepSeek-R1",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "Qwen",
        "mot:Qwen2.5-7B",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "gpt-oss",
        "mot:gpt-oss-20b",
        Level::OpenWeight,
        "Training code (not found",
    ),
    (
        "OpenELM",
        "mot:OpenELM-270M",
        Level::OpenWeight,
        "Inference code (not found",
    ),
    (
        "Nemotron",
        "mot:Nemotron-4-340B-Base",
        Level::OpenWeight,
        "Training code (not found",
    ),
];

fn judge(source: &str) -> Report {
    match source.split_once(':') {
        Some(("mot", name)) => mot(name),
        Some(("local", "smollm")) => smollm(),
        Some(("local", "tinyllama")) => tinyllama(),
        Some(("local", "phi3")) => phi3(),
        _ => panic!("unknown source {source}"),
    }
}

#[test]
fn every_spectrum_example_gets_its_level_and_reason() {
    let mut failures = Vec::new();
    for (family, source, level, reason) in ROWS {
        let r = judge(source);
        let first = r.next_level.missing.first().cloned().unwrap_or_default();
        if r.level != *level || !first.contains(reason) {
            failures.push(format!(
                "{family} ({source}): {} — first missing: {first}",
                r.level_label
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bloom_fails_on_its_rail_clauses_and_llama_on_its_threshold() {
    let bloom = mot("BLOOM");
    assert!(
        bloom.freedoms["modify"]
            .reasons
            .iter()
            .any(|x| x.text.contains("bigscience-bloom-rail-1.0") && x.text.contains("§4.1"))
    );
    let llama = mot("Llama-3-8B");
    assert!(
        llama.freedoms["run"]
            .reasons
            .iter()
            .any(|x| x.clause == Some(("llama-3-community".into(), "2".into())))
    );
}
