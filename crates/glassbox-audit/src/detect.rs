//! Finding components in a snapshot's files and card, with evidence, and the licences that apply
//! to them.
//!
//! Rules of evidence (docs/audit.md has the full list): a component is *present* when files of
//! its kind are in the release (by name pattern, and for configs and cards by content); it is
//! *referenced* when the card or metadata links to it (a code repository, a Hub dataset, a paper,
//! a library known to implement the architecture). Licence files are selected by name but
//! identified by their text; each applies to its own directory and below. The card's `license`
//! applies to the whole repository; when it and the root licence file disagree, that is a
//! finding and the stricter licence is used.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::card::{Card, LinkKind};
use crate::component::{Component, ComponentId, Presence};
use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};
use crate::formats;
use crate::license::{self, License, LicenseKind};
use crate::pickle;
use crate::snapshot::{Snapshot, TargetKind};

/// Largest licence-like file read.
const MAX_LICENSE_TEXT: usize = 512 << 10;
/// Largest JSON metadata file read (config.json, datasheet.json, manifests).
const MAX_JSON: usize = 8 << 20;

/// Format of a weight file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// safetensors.
    Safetensors,
    /// GGUF (llama.cpp).
    Gguf,
    /// Python pickle (`.bin`, `.pt`, `.pth`, `.ckpt`, `.pkl`).
    Pickle,
    /// ONNX.
    Onnx,
    /// Keras / HDF5.
    Hdf5,
    /// Flax msgpack.
    Msgpack,
}

/// A weight file found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WeightFile {
    /// Path.
    pub path: String,
    /// Format.
    pub format: WeightFormat,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Whether it lies in a checkpoint directory (an intermediate checkpoint).
    pub intermediate: bool,
    /// Parameters per the header (safetensors), when read.
    pub parameters: Option<u64>,
}

/// Everything detection found.
#[derive(Debug, Default)]
pub struct Detection {
    /// One entry per [`ComponentId`].
    pub components: BTreeMap<ComponentId, Component>,
    /// Weight files.
    pub weights: Vec<WeightFile>,
    /// Every licence identified, with where.
    pub licenses: Vec<(License, Vec<Evidence>)>,
    /// The card, if any.
    pub card: Option<Card>,
    /// Whether a replay verification record says the release reproduced.
    pub replay_verified: bool,
    /// Findings.
    pub findings: Vec<Finding>,
}

fn lower_name(path: &str) -> (String, String) {
    let lower = path.to_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower).to_string();
    (lower, name)
}

/// The weight format of a file name, if it is one (optimizer and trainer states excluded).
pub fn weight_format(path: &str) -> Option<WeightFormat> {
    let (_, name) = lower_name(path);
    let ext = name.rsplit('.').next().unwrap_or("");
    let meta = ["optimizer", "scheduler", "rng_state", "training_args", "trainer_state", "scaler"];
    if meta.iter().any(|m| name.contains(m)) {
        return None;
    }
    match ext {
        "safetensors" => Some(WeightFormat::Safetensors),
        "gguf" => Some(WeightFormat::Gguf),
        "bin" if !name.contains("index") && (name.contains("model") || name.contains("weights") || name.starts_with("pytorch")) => {
            Some(WeightFormat::Pickle)
        }
        "pt" | "pth" | "ckpt" => Some(WeightFormat::Pickle),
        "onnx" => Some(WeightFormat::Onnx),
        "h5" | "keras" => Some(WeightFormat::Hdf5),
        "msgpack" => Some(WeightFormat::Msgpack),
        _ => None,
    }
}

/// Whether a path lies in a checkpoint directory (`checkpoint-500/`, `step-0001000/`,
/// `global_step100/`, `checkpoints/`).
pub fn in_checkpoint_dir(path: &str) -> bool {
    let lower = path.to_lowercase();
    let mut parts: Vec<&str> = lower.split('/').collect();
    parts.pop();
    parts.iter().any(|p| {
        *p == "checkpoints"
            || *p == "intermediate"
            || step_name(p)
            || ["checkpoint-", "checkpoint_", "global_step", "iter_", "ckpt-", "ckpt_"]
                .iter()
                .any(|pre| p.strip_prefix(pre).is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit())))
    })
}

/// `step123`, `step-123`, `step_123` (Pythia branches, glassbox checkpoint folders).
pub fn step_name(s: &str) -> bool {
    let s = s.to_lowercase();
    s.strip_prefix("step")
        .map(|r| r.trim_start_matches(['-', '_']))
        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
}

/// Libraries known to implement architectures and run weights, with their licences.
const LIBRARIES: &[(&str, &str, &str)] = &[
    ("transformers", "Apache-2.0", "https://github.com/huggingface/transformers"),
    ("diffusers", "Apache-2.0", "https://github.com/huggingface/diffusers"),
    ("sentence-transformers", "Apache-2.0", "https://github.com/UKPLab/sentence-transformers"),
    ("peft", "Apache-2.0", "https://github.com/huggingface/peft"),
    ("timm", "Apache-2.0", "https://github.com/huggingface/pytorch-image-models"),
    ("open_clip", "MIT", "https://github.com/mlfoundations/open_clip"),
    ("llama.cpp", "MIT", "https://github.com/ggml-org/llama.cpp"),
    ("gguf", "MIT", "https://github.com/ggml-org/llama.cpp"),
    ("mlx", "MIT", "https://github.com/ml-explore/mlx"),
    ("vllm", "Apache-2.0", "https://github.com/vllm-project/vllm"),
    ("glassbox", "Apache-2.0", "https://github.com/glassbox-ai/glassbox"),
];

/// transformers `model_type`s whose modelling code ships with transformers.
const TRANSFORMERS_TYPES: &[&str] = &[
    "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
    "gemma3_text", "gpt_neox", "gpt2", "gptj", "gpt_neo", "olmo", "olmo2", "olmoe", "phi", "phi3", "falcon",
    "mpt", "bloom", "opt", "t5", "bert", "roberta", "deberta", "deberta-v2", "distilbert", "starcoder2",
    "stablelm", "cohere", "granite", "deepseek_v3", "mamba", "jamba", "smollm3", "bart", "whisper", "clip",
    "vit", "llava", "idefics3", "internlm2", "baichuan", "chatglm", "persimmon", "codegen", "xglm", "electra",
];

/// Runs every detector over `snap`.
pub fn detect(snap: &mut Snapshot) -> Detection {
    let mut d = Detection::default();
    for id in ComponentId::ALL {
        d.components.insert(id, Component::absent(id));
    }
    let paths: Vec<(String, Option<u64>)> = snap.files.iter().map(|f| (f.path.clone(), f.size)).collect();

    // Model card.
    let card_path = ["README.md", "readme.md", "README.MD", "MODEL_CARD.md", "model_card.md"]
        .into_iter()
        .find(|p| snap.has(p))
        .map(str::to_string);
    if let Some(cp) = &card_path {
        if let Some((text, truncated)) = snap.read_text(cp, crate::card::MAX_CARD) {
            let card = Card::parse(cp, &text, truncated, &mut d.findings);
            mark(&mut d, ComponentId::ModelCard, Presence::Present, vec![Evidence::file(cp)], None);
            d.card = Some(card);
        }
    }
    if d.card.is_none() {
        if let Some(api) = snap.api_card_data.clone() {
            // The Hub parsed the card even if the file could not be fetched.
            d.card = Some(Card { path: "README.md".into(), meta: api, ..Default::default() });
        }
    }

    detect_weights(snap, &mut d, &paths);
    detect_files(snap, &mut d, &paths);
    detect_from_card(&mut d);
    detect_refs(snap, &mut d);
    assign_licenses(snap, &mut d, &paths);
    d.findings.append(&mut snap.findings);
    d
}

fn mark(d: &mut Detection, id: ComponentId, presence: Presence, evidence: Vec<Evidence>, note: Option<String>) {
    let Some(c) = d.components.get_mut(&id) else { return };
    // Present beats referenced beats absent.
    let rank = |p: Presence| match p {
        Presence::Present => 3,
        Presence::Declared => 2,
        Presence::Referenced => 1,
        Presence::Absent => 0,
    };
    if rank(presence) > rank(c.presence) {
        c.presence = presence;
        if note.is_some() {
            c.note = note;
        }
    } else if c.note.is_none() && rank(presence) == rank(c.presence) {
        c.note = note;
    }
    for e in evidence {
        if c.evidence.len() < 8 && !c.evidence.contains(&e) {
            c.evidence.push(e);
        }
    }
}

fn detect_weights(snap: &mut Snapshot, d: &mut Detection, paths: &[(String, Option<u64>)]) {
    let local = matches!(snap.kind, TargetKind::Directory | TargetKind::Bundle);
    let mut pickles_scanned = 0;
    for (p, size) in paths {
        let Some(format) = weight_format(p) else { continue };
        let intermediate = in_checkpoint_dir(p);
        let mut parameters = None;
        match format {
            WeightFormat::Safetensors if local => {
                if let Some(first) = snap.read(p, 8) {
                    let src = &snap.source;
                    match formats::safetensors_summary(&first.data, |n| src.read(p, 8, n).map(|b| b.data)) {
                        Ok(s) => parameters = Some(s.parameters),
                        Err(e) => d.findings.push(Finding::new(
                            Severity::Warning,
                            FindingKind::Malformed,
                            format!("{p}: not a valid safetensors header ({e})"),
                            vec![Evidence::file(p)],
                        )),
                    }
                }
            }
            WeightFormat::Gguf if local => {
                if let Some(b) = snap.read(p, formats::GGUF_READ) {
                    match formats::gguf_summary(&b.data) {
                        Ok(s) => {
                            if let Some(l) = s.general.get("general.license") {
                                let lic = license::from_name(l);
                                d.licenses.push((lic, vec![Evidence::File { path: p.clone(), line: None }]));
                            }
                        }
                        Err(e) => d.findings.push(Finding::new(
                            Severity::Warning,
                            FindingKind::Malformed,
                            format!("{p}: not a valid GGUF header ({e})"),
                            vec![Evidence::file(p)],
                        )),
                    }
                }
            }
            WeightFormat::Pickle => {
                let mut msg = format!(
                    "{p} is a pickle-based checkpoint: loading it with torch.load/pickle can execute code; prefer safetensors"
                );
                let mut severity = Severity::Warning;
                if local && pickles_scanned < 64 {
                    pickles_scanned += 1;
                    let report = scan_local_pickle(snap, p);
                    let bad: Vec<String> = report
                        .imports
                        .iter()
                        .filter(|i| i.risk != pickle::Risk::Safe)
                        .map(|i| format!("{}.{} ({:?})", i.module, i.name, i.risk).to_lowercase())
                        .collect();
                    if report.max_risk() == pickle::Risk::Dangerous {
                        severity = Severity::Error;
                        msg = format!("{p} imports globals that can execute code when loaded: {}", bad.join(", "));
                    } else if !bad.is_empty() {
                        msg.push_str(&format!("; it imports globals outside the safe list: {}", bad.join(", ")));
                    } else if report.problems.is_empty() {
                        msg.push_str(&format!("; static scan of {} pickle stream(s) found only safe globals", report.streams));
                    }
                    if !report.problems.is_empty() {
                        msg.push_str(&format!("; scan incomplete: {}", report.problems.join("; ")));
                    }
                } else {
                    msg.push_str("; not scanned (remote file)");
                }
                d.findings.push(Finding::new(severity, FindingKind::Security, msg, vec![Evidence::file(p)]));
            }
            _ => {}
        }
        d.weights.push(WeightFile { path: p.clone(), format, size: *size, intermediate, parameters });
        let id = if intermediate { ComponentId::ModelParametersIntermediate } else { ComponentId::ModelParametersFinal };
        mark(d, id, Presence::Present, vec![Evidence::file(p)], None);
    }
    // Optimiser and trainer state files are model metadata (and pickles too).
    for (p, _) in paths {
        let (_, name) = lower_name(p);
        if ["optimizer", "trainer_state", "training_args", "scheduler", "rng_state"].iter().any(|m| name.contains(m))
            && (name.ends_with(".pt") || name.ends_with(".bin") || name.ends_with(".json") || name.ends_with(".pth"))
        {
            mark(d, ComponentId::ModelMetadata, Presence::Present, vec![Evidence::file(p)], None);
            if !name.ends_with(".json") && local && pickles_scanned < 64 {
                pickles_scanned += 1;
                let report = scan_local_pickle(snap, p);
                if report.max_risk() == pickle::Risk::Dangerous {
                    d.findings.push(Finding::new(
                        Severity::Error,
                        FindingKind::Security,
                        format!("{p} imports globals that can execute code when loaded"),
                        vec![Evidence::file(p)],
                    ));
                }
            }
        }
    }
}

fn scan_local_pickle(snap: &Snapshot, p: &str) -> pickle::ScanReport {
    // Pickles in zip archives need random access; read at most 256 MiB into memory.
    match snap.source.read(p, 0, 256 << 20) {
        Ok(b) => pickle::scan_file(std::io::Cursor::new(b.data)),
        Err(e) => pickle::ScanReport { problems: vec![e], ..Default::default() },
    }
}

fn any_name(name: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| name.contains(n))
}

fn detect_files(snap: &mut Snapshot, d: &mut Detection, paths: &[(String, Option<u64>)]) {
    use ComponentId as C;
    let mut py_read = 0;
    for (p, _) in paths {
        let (lower, name) = lower_name(p);
        let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
        let code = matches!(ext, "py" | "sh" | "rs" | "ipynb" | "jl" | "c" | "cpp" | "cu" | "js" | "ts" | "go");
        let dir_has = |needles: &[&str]| lower.split('/').rev().skip(1).any(|part| any_name(part, needles));
        // Architecture: a config that names one, or modelling code.
        if name == "config.json" && !in_checkpoint_dir(p) {
            if let Some((text, _)) = snap.read_text(p, MAX_JSON) {
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => {
                        let line = text.lines().position(|l| l.contains("\"architectures\"") || l.contains("\"model_type\"")).map(|i| i + 1);
                        if v.get("architectures").is_some() || v.get("model_type").is_some() {
                            mark(d, C::ModelArchitecture, Presence::Present, vec![Evidence::File { path: p.clone(), line }], Some("configuration of the architecture".into()));
                            if let Some(t) = v.get("model_type").and_then(Value::as_str) {
                                if TRANSFORMERS_TYPES.contains(&t) {
                                    mark(d, C::InferenceCode, Presence::Referenced, vec![Evidence::Url { url: LIBRARIES[0].2.into() }], Some(format!("model_type `{t}` runs with transformers")));
                                    mark(d, C::ModelArchitecture, Presence::Referenced, vec![Evidence::Url { url: LIBRARIES[0].2.into() }], None);
                                }
                            }
                            if v.get("auto_map").is_some() {
                                d.findings.push(Finding::new(Severity::Warning, FindingKind::Security,
                                    format!("{p} has `auto_map`: loading needs trust_remote_code, which runs the repository's Python; the audit did not run it"),
                                    vec![Evidence::file(p)]));
                            }
                        }
                    }
                    Err(e) => d.findings.push(Finding::new(Severity::Warning, FindingKind::Malformed, format!("{p}: invalid JSON ({e})"), vec![Evidence::file(p)])),
                }
            }
        }
        if ext == "py" && (name.starts_with("modeling_") || name.starts_with("modelling_") || name == "model.py" || name == "models.py") {
            mark(d, C::ModelArchitecture, Presence::Present, vec![Evidence::file(p)], Some("modelling code".into()));
        } else if ext == "py" && py_read < 200 && !any_name(&name, &["train", "eval", "test", "preprocess", "setup"]) {
            py_read += 1;
            if let Some(b) = snap.read(p, 256 << 10) {
                if let Some(t) = b.text() {
                    if let Some(i) = t.lines().position(|l| l.contains("(nn.Module)") || l.contains("(PreTrainedModel)") || l.contains("(torch.nn.Module)")) {
                        mark(d, C::ModelArchitecture, Presence::Present, vec![Evidence::line(p, i + 1)], Some("modelling code".into()));
                    }
                }
            }
        }
        // Tokenizer.
        if matches!(name.as_str(), "tokenizer.json" | "tokenizer.model" | "tokenizer_config.json" | "vocab.json" | "merges.txt" | "spiece.model" | "vocab.txt") {
            mark(d, C::Tokenizer, Presence::Present, vec![Evidence::file(p)], None);
        }
        // Code by purpose.
        if code || name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".toml") {
            if any_name(&name, &["train", "pretrain", "finetune", "fine_tune", "sft"]) || (code && dir_has(&["train"])) {
                mark(d, C::TrainingCode, Presence::Present, vec![Evidence::file(p)], None);
            }
            if any_name(&name, &["preprocess", "prepare_data", "data_prep", "dedup", "tokenize", "curate", "filter_data", "clean_data"])
                || (code && dir_has(&["preprocess", "data_processing", "curation"]))
            {
                mark(d, C::DataPreprocessingCode, Presence::Present, vec![Evidence::file(p)], None);
            }
            if code && (any_name(&name, &["eval", "benchmark"]) || dir_has(&["eval"])) {
                mark(d, C::EvaluationCode, Presence::Present, vec![Evidence::file(p)], None);
            }
            if code && any_name(&name, &["inference", "generate", "serve", "predict", "run_model", "chat"]) {
                mark(d, C::InferenceCode, Presence::Present, vec![Evidence::file(p)], None);
            }
        }
        if name == "recipe.toml" || (name.contains("recipe") && (ext == "toml" || ext == "yaml" || ext == "yml" || ext == "json")) {
            mark(d, C::Recipe, Presence::Present, vec![Evidence::file(p)], None);
            mark(d, C::ModelMetadata, Presence::Present, vec![Evidence::file(p)], Some("training configuration".into()));
        }
        // Supporting libraries.
        if matches!(name.as_str(), "requirements.txt" | "pyproject.toml" | "setup.py" | "environment.yml" | "cargo.toml" | "cargo.lock" | "code_revision.json" | "code-revision.json") {
            mark(d, C::SupportingLibraries, Presence::Present, vec![Evidence::file(p)], None);
        }
        // Data cards and datasets.
        if any_name(&name, &["datasheet", "data_card", "datacard", "dataset_card"]) && matches!(ext, "md" | "json" | "txt" | "pdf" | "yaml") {
            mark(d, C::DataCard, Presence::Present, vec![Evidence::file(p)], None);
        }
        if matches!(ext, "jsonl" | "parquet" | "arrow" | "zst" | "gz" | "tfrecord" | "npy" | "idx")
            && (dir_has(&["data"]) || any_name(&name, &["train", "shard", "corpus"]))
            && !dir_has(&["eval"])
        {
            mark(d, C::Datasets, Presence::Present, vec![Evidence::file(p)], None);
        }
        if dir_has(&["eval"]) && matches!(ext, "jsonl" | "parquet" | "csv" | "tsv" | "json") && any_name(&lower, &["data", "dataset", "tasks"]) {
            mark(d, C::EvaluationData, Presence::Present, vec![Evidence::file(p)], None);
        }
        // Evaluation results.
        if matches!(ext, "json" | "jsonl" | "csv" | "md")
            && (any_name(&name, &["eval_results", "evaluation_results", "results"]) || name == "eval.jsonl" || (dir_has(&["evals", "evaluation"]) && any_name(&name, &["result", "score", "metrics"])))
        {
            mark(d, C::EvaluationResults, Presence::Present, vec![Evidence::file(p)], None);
        }
        // Logs, data order.
        if name.ends_with(".log") || name.starts_with("events.out.tfevents") || (dir_has(&["logs"]) && matches!(ext, "jsonl" | "json" | "csv" | "txt")) || name == "trainer_state.json" {
            mark(d, C::TrainingLogs, Presence::Present, vec![Evidence::file(p)], None);
        }
        if any_name(&name, &["data_order", "data-order", "global_indices", "sample_order", "batch_order"]) || (dir_has(&["order"]) && matches!(ext, "bin" | "npy" | "json")) {
            mark(d, C::DataOrder, Presence::Present, vec![Evidence::file(p)], None);
        }
        // Papers and reports shipped as files.
        if ext == "pdf" {
            let id = if any_name(&name, &["report", "technical"]) { C::TechnicalReport } else if any_name(&name, &["datasheet", "data_card"]) { C::DataCard } else { C::ResearchPaper };
            mark(d, id, Presence::Present, vec![Evidence::file(p)], None);
        }
        if dir_has(&["samples", "sample_outputs", "generations"]) || any_name(&name, &["sample_output", "samples.", "generations."]) {
            mark(d, C::SampleOutputs, Presence::Present, vec![Evidence::file(p)], None);
        }
        // A glassbox replay record.
        if name == "verification.json" {
            if let Some((t, _)) = snap.read_text(p, 1 << 20) {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    let passed = v.pointer("/replay/passed").and_then(Value::as_bool).unwrap_or(false);
                    d.replay_verified |= passed;
                    if passed {
                        d.findings.push(Finding::new(Severity::Info, FindingKind::Reproducibility, format!("{p} records a successful replay verification"), vec![Evidence::file(p)]));
                    }
                }
            }
        }
    }
}

fn detect_from_card(d: &mut Detection) {
    use ComponentId as C;
    let Some(card) = d.card.clone() else { return };
    let path = card.path.clone();
    // Datasets named in metadata.
    let datasets = card.strings("datasets");
    if !datasets.is_empty() {
        mark(d, C::Datasets, Presence::Referenced, vec![card.field_evidence("datasets")], Some(format!("named in the card: {}", datasets.join(", "))));
    }
    // model-index holds evaluation results and names evaluation datasets.
    if let Some(mi) = card.field("model-index") {
        mark(d, C::EvaluationResults, Presence::Present, vec![card.field_evidence("model-index")], Some("model-index in the card".into()));
        let mut eval_sets = Vec::new();
        for model in mi.as_array().into_iter().flatten() {
            for r in model.get("results").and_then(Value::as_array).into_iter().flatten() {
                if let Some(name) = r.pointer("/dataset/name").or_else(|| r.pointer("/dataset/type")).and_then(Value::as_str) {
                    eval_sets.push(name.to_string());
                }
            }
        }
        if !eval_sets.is_empty() {
            eval_sets.sort();
            eval_sets.dedup();
            mark(d, C::EvaluationData, Presence::Referenced, vec![card.field_evidence("model-index")], Some(format!("evaluation datasets: {}", eval_sets.join(", "))));
        }
    }
    if let Some(lib) = card.field("library_name").and_then(Value::as_str) {
        if let Some((name, _, url)) = LIBRARIES.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(lib)) {
            mark(d, C::InferenceCode, Presence::Referenced, vec![card.field_evidence("library_name"), Evidence::Url { url: (*url).into() }], Some(format!("runs with {name}")));
        }
    }
    // Tags such as `arxiv:2304.01373` name papers.
    for t in card.strings("tags") {
        if let Some(id) = t.strip_prefix("arxiv:") {
            mark(d, C::ResearchPaper, Presence::Referenced, vec![Evidence::Url { url: format!("https://arxiv.org/abs/{id}") }], None);
        }
    }
    // Sections of the card.
    let data_sections = card.heading(&["training data", "dataset", "pretraining data", "data"]);
    if !data_sections.is_empty() {
        mark(d, C::DataCard, Presence::Present, data_sections, Some("training data described in a section of the model card".into()));
    }
    let eval_sections = card.heading(&["evaluation", "results", "benchmark"]);
    if !eval_sections.is_empty() && card.body.contains('|') {
        mark(d, C::EvaluationResults, Presence::Present, eval_sections, Some("results table in the model card".into()));
    }
    // Links in the body, classified by what surrounds them.
    for link in &card.links {
        let ctx = link.context.to_lowercase();
        let ev = vec![Evidence::line(&path, link.line), Evidence::Url { url: link.url.clone() }];
        match link.kind {
            LinkKind::Paper => {
                let id = if ctx.contains("technical report") || ctx.contains("tech report") { C::TechnicalReport } else { C::ResearchPaper };
                mark(d, id, Presence::Referenced, ev, None);
            }
            LinkKind::Code => {
                let mut hit = false;
                for (needles, id) in [
                    (&["train", "pretrain", "fine-tun", "finetun", "recipe"][..], C::TrainingCode),
                    (&["preprocess", "data processing", "data-processing", "curation", "dedup", "tokeniz", "dolma", "datatrove"][..], C::DataPreprocessingCode),
                    (&["eval", "benchmark", "harness"][..], C::EvaluationCode),
                    (&["inference", "serving", "generation", "deploy"][..], C::InferenceCode),
                ] {
                    if needles.iter().any(|n| ctx.contains(n)) {
                        mark(d, id, Presence::Referenced, ev.clone(), Some(format!("linked repository {}", link.url)));
                        hit = true;
                    }
                }
                if !hit && (ctx.contains("code") || ctx.contains("repository") || ctx.contains("github")) {
                    mark(d, C::TrainingCode, Presence::Referenced, ev.clone(), Some(format!("linked code repository {} (purpose not stated)", link.url)));
                }
            }
            LinkKind::Dataset => {
                let id = if ctx.contains("eval") || ctx.contains("benchmark") { C::EvaluationData } else { C::Datasets };
                mark(d, id, Presence::Referenced, ev, None);
            }
            LinkKind::Other if link.url.contains("wandb.ai") || link.url.contains("tensorboard") => {
                mark(d, C::TrainingLogs, Presence::Referenced, ev, None);
            }
            _ => {}
        }
    }
}

fn detect_refs(snap: &Snapshot, d: &mut Detection) {
    let steps: Vec<&String> = snap.refs.iter().filter(|r| step_name(r)).collect();
    if !steps.is_empty() {
        let first: Vec<&str> = steps.iter().take(4).map(|s| s.as_str()).collect();
        mark(
            d,
            ComponentId::ModelParametersIntermediate,
            Presence::Present,
            vec![Evidence::api("refs.branches")],
            Some(format!("{} checkpoint branches ({}{})", steps.len(), first.join(", "), if steps.len() > 4 { ", …" } else { "" })),
        );
    }
}

/// Licence-like file names (selected by name, identified by content).
fn license_candidate(path: &str) -> bool {
    let (lower, name) = lower_name(path);
    let stem = name.split('.').next().unwrap_or("");
    let ext_ok = !name.contains('.') || name.ends_with(".md") || name.ends_with(".txt") || name.ends_with(".rst");
    ext_ok
        && (["license", "licence", "copying", "notice", "use_policy", "usage_policy", "acceptable_use", "responsible_use", "terms_of_use", "model_license"]
            .iter()
            .any(|k| stem.starts_with(k) || stem.ends_with(k))
            || lower.split('/').rev().skip(1).any(|d| d == "licenses" || d == "licences"))
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn assign_licenses(snap: &mut Snapshot, d: &mut Detection, paths: &[(String, Option<u64>)]) {
    // 1. Identify licence files by content; each covers its directory.
    let mut by_dir: BTreeMap<String, Vec<(License, Evidence)>> = BTreeMap::new();
    for (p, _) in paths.iter().filter(|(p, _)| license_candidate(p)).take(64) {
        let Some((text, truncated)) = snap.read_text(p, MAX_LICENSE_TEXT) else { continue };
        if truncated {
            d.findings.push(Finding::new(Severity::Warning, FindingKind::Bounded, format!("{p} is larger than {} KiB; only its beginning was compared", MAX_LICENSE_TEXT >> 10), vec![Evidence::file(p)]));
        }
        let ident = license::from_text(&text);
        if ident.license.kind == LicenseKind::Unknown {
            let (_, name) = lower_name(p);
            // NOTICE files and unrelated notes are not licences; only report real misses.
            if !name.starts_with("notice") && text.len() > 200 {
                let cands: Vec<String> = ident.candidates.iter().map(|(i, s)| format!("{i} {:.0}%", s * 100.0)).collect();
                d.findings.push(Finding::new(Severity::Warning, FindingKind::UnknownLicense,
                    format!("{p}: licence text not identified (closest standard licences: {})", cands.join(", ")), vec![Evidence::file(p)]));
            }
            continue;
        }
        d.licenses.push((ident.license.clone(), vec![Evidence::file(p)]));
        by_dir.entry(dir_of(p).to_string()).or_default().push((ident.license, Evidence::file(p)));
    }
    // 2. The card's declared licence covers the repository root.
    let mut root: Option<(License, Vec<Evidence>)> = None;
    if let Some(card) = &d.card {
        let lic = card.strings("license");
        let name = card.field("license_name").and_then(Value::as_str);
        let link = card.field("license_link").and_then(Value::as_str);
        if let Some(l) = license::from_card_fields(&lic, name, link) {
            let ev = if snap.kind == TargetKind::Hub && snap.api_card_data.is_some() && card.meta_lines.is_empty() {
                vec![Evidence::api("cardData.license")]
            } else {
                vec![card.field_evidence("license")]
            };
            if l.kind == LicenseKind::Unknown {
                d.findings.push(Finding::new(Severity::Warning, FindingKind::UnknownLicense, format!("the card declares licence `{}`, which glassbox does not recognise", l.name), ev.clone()));
            }
            d.licenses.push((l.clone(), ev.clone()));
            root = Some((l, ev));
        }
    }
    let root_files: Vec<(License, Evidence)> = by_dir.remove("").unwrap_or_default();
    let (file_lics, policies): (Vec<_>, Vec<_>) = root_files.into_iter().partition(|(l, _)| !is_policy(l));
    let mut root_license = match (root, file_lics.first()) {
        (Some((card_l, card_ev)), Some((file_l, file_ev))) => {
            if card_l.kind != LicenseKind::Unknown && card_l.id != file_l.id {
                let stricter = if file_l.strictness() > card_l.strictness() { file_l.clone() } else { card_l.clone() };
                let mut ev = card_ev.clone();
                ev.push(file_ev.clone());
                d.findings.push(Finding::new(Severity::Error, FindingKind::LicenseConflict,
                    format!("the card declares `{}` but {} is `{}`; judged by the stricter, `{}`", card_l.id, file_ev, file_l.id, stricter.id), ev.clone()));
                Some((stricter, ev))
            } else if card_l.kind == LicenseKind::Unknown {
                Some((file_l.clone(), vec![file_ev.clone()]))
            } else {
                let mut ev = card_ev;
                ev.push(file_ev.clone());
                Some((card_l, ev))
            }
        }
        (Some(c), None) => Some(c),
        (None, Some((l, e))) => Some((l.clone(), vec![e.clone()])),
        (None, None) => None,
    };
    // Use-policy files at the root add their clauses to the root licence.
    if let Some((l, ev)) = root_license.as_mut() {
        for (p, pev) in &policies {
            for c in &p.clauses {
                if !l.clauses.contains(c) {
                    l.clauses.push(c.clone());
                }
            }
            l.grants_all_freedoms = Some(false);
            ev.push(pev.clone());
        }
    }
    // GGUF metadata licences count as declared by the weights themselves.
    // 3. Each component takes the licence of the deepest directory holding its evidence, else
    //    the root licence; referenced libraries carry their own licence.
    let ids: Vec<ComponentId> = d.components.keys().copied().collect();
    for id in ids {
        let c = &d.components[&id];
        if !c.presence.available() {
            continue;
        }
        let mut chosen: Option<(License, Vec<Evidence>)> = None;
        for e in &c.evidence {
            if let Evidence::File { path, .. } = e {
                let mut dir = dir_of(path);
                loop {
                    if let Some(list) = by_dir.get(dir) {
                        if let Some((l, ev)) = list.iter().find(|(l, _)| !is_policy(l)) {
                            chosen = Some((l.clone(), vec![ev.clone()]));
                        }
                        break;
                    }
                    if dir.is_empty() {
                        break;
                    }
                    dir = dir_of(dir);
                }
            }
            if chosen.is_some() {
                break;
            }
        }
        if chosen.is_none() && c.presence == Presence::Referenced {
            for e in &c.evidence {
                if let Evidence::Url { url } = e {
                    if let Some((_, spdx, _)) = LIBRARIES.iter().find(|(_, _, u)| u == url) {
                        chosen = Some((license::from_name(spdx), vec![Evidence::url(url.clone())]));
                    }
                }
            }
        }
        // Files in the release inherit the repository licence; linked resources do not.
        if chosen.is_none() && c.presence == Presence::Present {
            chosen = root_license.clone();
        }
        // Data licences declared in a datasheet or data manifest.
        if id == ComponentId::Datasets {
            if let Some(dl) = data_license(snap, d) {
                chosen = Some(dl);
            }
        }
        if let Some((l, ev)) = chosen {
            if let Some(c) = d.components.get_mut(&id) {
                c.license = Some(l);
                c.license_evidence = ev;
            }
        }
    }
}

fn is_policy(l: &License) -> bool {
    l.kind == LicenseKind::Ai && license::ai_license(&l.id).is_some_and(|a| a.doc == license::DocKind::UsePolicy)
}

/// The licence of the training data, from `datasheet.json` or a data `manifest.json`
/// (`license`, or `sources[].license`: every source must be open for the data to be open).
fn data_license(snap: &mut Snapshot, d: &Detection) -> Option<(License, Vec<Evidence>)> {
    let candidates: Vec<String> = snap
        .files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| {
            let (_, n) = lower_name(p);
            n == "datasheet.json" || (n == "manifest.json" && (p.contains("data") || d.components[&ComponentId::Datasets].evidence.iter().any(|e| matches!(e, Evidence::File { path, .. } if dir_of(path) == dir_of(p)))))
        })
        .collect();
    for p in candidates {
        let Some((text, _)) = snap.read_text(&p, MAX_JSON) else { continue };
        let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
        let mut names: Vec<String> = Vec::new();
        if let Some(l) = v.get("license").and_then(Value::as_str) {
            names.push(l.to_string());
        }
        for s in v.get("sources").and_then(Value::as_array).into_iter().flatten() {
            if let Some(l) = s.get("license").and_then(Value::as_str) {
                names.push(l.to_string());
            }
        }
        if names.is_empty() {
            continue;
        }
        let lics: Vec<License> = names.iter().map(|n| license::from_name(n)).collect();
        let worst = lics.into_iter().max_by_key(|l| l.strictness())?;
        return Some((worst, vec![Evidence::file(p)]));
    }
    None
}
