//! Release layouts beyond a transformers checkpoint, built in temp dirs from tiny synthetic files:
//! diffusers pipelines, GGUF-only repositories (whole and split), ONNX exports, and sharded
//! safetensors with an index. Each must show its architecture, weights and a way to run them,
//! with evidence.

#![allow(clippy::unwrap_used)]

use glassbox_audit::component::{Component, ComponentId, Presence};
use glassbox_audit::detect::WeightFormat;
use glassbox_audit::evidence::Evidence;
use glassbox_audit::finding::{Finding, FindingKind, Severity};
use glassbox_audit::{Report, report};

mod common;

use common::{Repo, safetensors};

/// Apache-2.0 as the LICENSE file and the card's declaration.
fn apache(repo: &Repo) -> &Repo {
    repo.file("LICENSE", spdx::license_id("Apache-2.0").unwrap().text())
        .file(
            "README.md",
            "---\nlicense: apache-2.0\n---\n# tiny\n\nA tiny model.\n",
        )
}

fn comp(r: &Report, id: ComponentId) -> &Component {
    r.components.iter().find(|c| c.id == id).unwrap()
}

fn has_file(c: &Component, path: &str) -> bool {
    c.evidence
        .iter()
        .any(|e| matches!(e, Evidence::File { path: p, .. } if p == path))
}

fn has_url(c: &Component, url: &str) -> bool {
    c.evidence.contains(&Evidence::url(url))
}

/// The reasons about the architecture, weights and inference code all carry evidence, none says
/// the architecture is missing, and the Markdown report never prints an empty `()`.
fn assert_reasons_have_evidence(r: &Report) {
    let table = report::to_table(r);
    for (freedom, v) in &r.freedoms {
        for reason in &v.reasons {
            assert!(
                !reason.text.contains("no architecture"),
                "{freedom}: {}\n{table}",
                reason.text
            );
            if matches!(
                reason.component,
                Some(
                    ComponentId::ModelArchitecture
                        | ComponentId::ModelParametersFinal
                        | ComponentId::InferenceCode
                )
            ) {
                assert!(
                    !reason.evidence.is_empty(),
                    "{freedom}: `{}` has no evidence",
                    reason.text
                );
            }
        }
    }
    let md = report::to_markdown(r);
    assert!(!md.contains("()"), "{md}");
}

fn gguf_string(s: &str) -> Vec<u8> {
    [
        (s.len() as u64).to_le_bytes().to_vec(),
        s.as_bytes().to_vec(),
    ]
    .concat()
}

/// A GGUF v3 file with string metadata `kvs`, a token array, and a few bytes standing for the
/// tensor descriptions and data.
fn gguf(kvs: &[(&str, &str)]) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend(3u32.to_le_bytes());
    v.extend(1u64.to_le_bytes());
    v.extend((kvs.len() as u64 + 1).to_le_bytes());
    for (k, val) in kvs {
        v.extend(gguf_string(k));
        v.extend(8u32.to_le_bytes());
        v.extend(gguf_string(val));
    }
    v.extend(gguf_string("tokenizer.ggml.tokens"));
    v.extend(9u32.to_le_bytes());
    v.extend(8u32.to_le_bytes());
    v.extend(2u64.to_le_bytes());
    v.extend(gguf_string("<s>"));
    v.extend(gguf_string("</s>"));
    v.extend([0u8; 256]);
    v
}

fn missing_shard_findings(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| {
            f.kind == FindingKind::Malformed && f.message.contains("missing from the release")
        })
        .collect()
}

#[test]
fn diffusers_pipeline_has_architecture_weights_and_inference() {
    let repo = Repo::new();
    apache(&repo)
        .file(
            "model_index.json",
            r#"{
  "_class_name": "StableDiffusionPipeline",
  "_diffusers_version": "0.30.0",
  "safety_checker": [null, null],
  "scheduler": ["diffusers", "PNDMScheduler"],
  "text_encoder": ["transformers", "CLIPTextModel"],
  "tokenizer": ["transformers", "CLIPTokenizer"],
  "unet": ["diffusers", "UNet2DConditionModel"],
  "vae": ["diffusers", "AutoencoderKL"]
}"#,
        )
        .file(
            "unet/config.json",
            "{\n  \"_class_name\": \"UNet2DConditionModel\",\n  \"_diffusers_version\": \"0.30.0\",\n  \"sample_size\": 8\n}",
        )
        .file("unet/diffusion_pytorch_model.safetensors", safetensors(32))
        .file(
            "vae/config.json",
            r#"{"_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "latent_channels": 4}"#,
        )
        .file("vae/diffusion_pytorch_model.safetensors", safetensors(8))
        .file(
            "text_encoder/config.json",
            r#"{"architectures": ["CLIPTextModel"], "model_type": "clip_text_model"}"#,
        )
        .file("text_encoder/model.safetensors", safetensors(16))
        .file("tokenizer/vocab.json", "{}")
        .file("tokenizer/merges.txt", "#version: 0.2\n")
        .file(
            "scheduler/scheduler_config.json",
            r#"{"_class_name": "PNDMScheduler"}"#,
        );
    let r = repo.audit();
    let table = report::to_table(&r);

    let arch = comp(&r, ComponentId::ModelArchitecture);
    assert_eq!(arch.presence, Presence::Present, "{table}");
    assert!(
        arch.evidence
            .contains(&Evidence::line("model_index.json", 2)),
        "{:?}",
        arch.evidence
    );
    assert!(has_file(arch, "unet/config.json") && has_file(arch, "vae/config.json"));
    let note = arch.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("StableDiffusionPipeline") && note.contains("unet"),
        "{note}"
    );
    assert!(
        !note.contains("safety_checker"),
        "a [null, null] part is left out: {note}"
    );

    let weights = comp(&r, ComponentId::ModelParametersFinal);
    assert_eq!(weights.presence, Presence::Present);
    for w in [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ] {
        assert!(has_file(weights, w), "{w} not in {:?}", weights.evidence);
    }
    assert!(r.weights.iter().all(|w| !w.intermediate));
    assert_eq!(
        comp(&r, ComponentId::ModelParametersIntermediate).presence,
        Presence::Absent
    );
    assert_eq!(
        weights.license.as_ref().map(|l| l.id.as_str()),
        Some("Apache-2.0")
    );

    let inference = comp(&r, ComponentId::InferenceCode);
    assert_eq!(inference.presence, Presence::Referenced);
    assert!(has_url(
        inference,
        "https://github.com/huggingface/diffusers"
    ));
    assert_eq!(
        inference.license.as_ref().map(|l| l.id.as_str()),
        Some("Apache-2.0")
    );
    assert_reasons_have_evidence(&r);
}

#[test]
fn gguf_only_repo_names_architecture_and_licence_from_metadata() {
    let repo = Repo::new();
    let path = "tinyllama-1.1b-chat.Q4_K_M.gguf";
    repo.file(
        path,
        gguf(&[
            ("general.architecture", "llama"),
            ("general.name", "TinyLlama 1.1B Chat"),
            ("general.license", "apache-2.0"),
        ]),
    );

    let d = repo.detect();
    assert_eq!(d.weight_metadata_licenses.len(), 1);
    let (lic, ev) = &d.weight_metadata_licenses[0];
    assert_eq!((lic.id.as_str(), ev), ("Apache-2.0", &Evidence::file(path)));

    let r = repo.audit();
    let table = report::to_table(&r);
    let weights = comp(&r, ComponentId::ModelParametersFinal);
    assert_eq!(weights.presence, Presence::Present, "{table}");
    assert!(has_file(weights, path));
    assert_eq!(r.weights[0].format, WeightFormat::Gguf);

    let arch = comp(&r, ComponentId::ModelArchitecture);
    assert_eq!(arch.presence, Presence::Present, "{table}");
    assert!(has_file(arch, path));
    let note = arch.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("`llama`") && note.contains("TinyLlama"),
        "{note}"
    );

    let inference = comp(&r, ComponentId::InferenceCode);
    assert_eq!(inference.presence, Presence::Referenced);
    assert!(has_url(inference, "https://github.com/ggml-org/llama.cpp"));
    assert_eq!(
        inference.license.as_ref().map(|l| l.id.as_str()),
        Some("MIT")
    );
    // The licence found in the metadata is listed with the file as its evidence.
    assert!(
        r.licenses
            .iter()
            .any(|l| l.license.id == "Apache-2.0" && l.evidence.contains(&Evidence::file(path))),
        "{table}"
    );
    assert_reasons_have_evidence(&r);
}

#[test]
fn gguf_splits_count_as_one_model_and_a_missing_split_is_a_finding() {
    let repo = Repo::new();
    repo.file(
        "q8/model-q8_0-00001-of-00003.gguf",
        gguf(&[
            ("general.architecture", "qwen2"),
            ("general.license", "mit"),
        ]),
    )
    // Later splits carry only `split.*` keys; their metadata is not read.
    .file("q8/model-q8_0-00002-of-00003.gguf", gguf(&[]));
    let d = repo.detect();
    // The licence is read once, from the first split.
    assert_eq!(d.weight_metadata_licenses.len(), 1);
    assert_eq!(d.weight_metadata_licenses[0].0.id, "MIT");
    let weights = &d.components[&ComponentId::ModelParametersFinal];
    let note = weights.note.as_deref().unwrap_or_default();
    assert!(
        note.starts_with("1 weight file(s) (GGUF)") && note.contains("in 2 shards"),
        "{note}"
    );
    let missing = missing_shard_findings(&d.findings);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0]
            .message
            .contains("q8/model-q8_0-00003-of-00003.gguf"),
        "{}",
        missing[0].message
    );
    assert!(!missing[0].evidence.is_empty());
}

#[test]
fn onnx_export_has_architecture_weights_and_inference() {
    let repo = Repo::new();
    // ir_version 8 and a producer name: enough bytes to stand for a graph, never parsed.
    let graph = [&[0x08, 0x08, 0x12, 0x04][..], b"test"].concat();
    apache(&repo)
        .file("onnx/model.onnx", &graph)
        .file("onnx/model.onnx_data", [0u8; 64])
        .file("onnx/model_quantized.onnx", &graph);
    let r = repo.audit();
    let table = report::to_table(&r);

    let weights = comp(&r, ComponentId::ModelParametersFinal);
    assert_eq!(weights.presence, Presence::Present, "{table}");
    assert!(has_file(weights, "onnx/model.onnx_data"));
    assert!(r.weights.iter().all(|w| w.format == WeightFormat::Onnx));
    assert_eq!(r.weights.len(), 3);

    let arch = comp(&r, ComponentId::ModelArchitecture);
    assert_eq!(arch.presence, Presence::Present, "{table}");
    assert!(has_file(arch, "onnx/model.onnx"));
    assert!(
        !has_file(arch, "onnx/model.onnx_data"),
        "external data is not the graph"
    );
    assert!(
        arch.note
            .as_deref()
            .unwrap_or_default()
            .contains("ONNX graph")
    );

    let inference = comp(&r, ComponentId::InferenceCode);
    assert_eq!(inference.presence, Presence::Referenced);
    assert!(has_url(
        inference,
        "https://github.com/microsoft/onnxruntime"
    ));
    assert_eq!(
        inference.license.as_ref().map(|l| l.id.as_str()),
        Some("MIT")
    );
    assert_reasons_have_evidence(&r);
}

#[test]
fn sharded_safetensors_sum_parameters_and_name_a_missing_shard() {
    let index = r#"{
  "metadata": {"total_size": 288},
  "weight_map": {
    "a.weight": "model-00001-of-00003.safetensors",
    "b.weight": "model-00002-of-00003.safetensors",
    "c.weight": "model-00003-of-00003.safetensors"
  }
}"#;
    let repo = Repo::new();
    apache(&repo)
        .file("model-00001-of-00003.safetensors", safetensors(16))
        .file("model-00002-of-00003.safetensors", safetensors(32))
        .file("model.safetensors.index.json", index)
        .file(
            "config.json",
            r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
        );
    let r = repo.audit();

    // The index is not a weight; the shards' parameters add up.
    assert_eq!(r.weights.len(), 2, "{:?}", r.weights);
    assert!(r.weights.iter().all(|w| w.path.ends_with(".safetensors")));
    let total: u64 = r.weights.iter().filter_map(|w| w.parameters).sum();
    assert_eq!(total, 48);
    let weights = comp(&r, ComponentId::ModelParametersFinal);
    let note = weights.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("`model.safetensors` in 2 shards, 48 parameters"),
        "{note}"
    );

    // One finding, from the index, naming the missing file and pointing at its line.
    let missing = missing_shard_findings(&r.findings);
    assert_eq!(missing.len(), 1, "{missing:?}");
    let f = missing[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("model-00003-of-00003.safetensors"),
        "{}",
        f.message
    );
    assert_eq!(
        f.evidence,
        vec![Evidence::line("model.safetensors.index.json", 6)]
    );
    assert_reasons_have_evidence(&r);

    // Complete: no finding.
    repo.file("model-00003-of-00003.safetensors", safetensors(8));
    let r = repo.audit();
    assert!(missing_shard_findings(&r.findings).is_empty());
    let note = comp(&r, ComponentId::ModelParametersFinal)
        .note
        .clone()
        .unwrap_or_default();
    assert!(note.contains("in 3 shards, 56 parameters"), "{note}");
}
