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

use crate::card::{Card, LinkKind};
use crate::component::{Component, ComponentId, Presence};
use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};
use crate::formats;
use crate::license::{self, License, LicenseKind};
use crate::pickle;
use crate::snapshot::{Snapshot, TargetKind};

mod base_refs;
mod bundle;
mod card_links;
mod files;
mod licenses;
mod replay;
mod weights;

pub use replay::{AuditorReplay, ReplayCheckedBy, ReplayMark, apply_auditor_replay};

/// Largest licence-like file read.
pub(super) const MAX_LICENSE_TEXT: usize = 512 << 10;
/// Largest JSON metadata file read (config.json, datasheet.json, manifests).
pub(super) const MAX_JSON: usize = 8 << 20;

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
    /// Licences declared inside weight files' metadata (GGUF `general.license`), with the file.
    pub weight_metadata_licenses: Vec<(License, Evidence)>,
    /// The card, if any.
    pub card: Option<Card>,
    /// The replay that stands behind the release, when one does.
    pub replay: Option<ReplayMark>,
    /// The base models the release names (adapter config, card `base_model`, `release.json`
    /// `base`), each once; resolved and audited by [`crate::lineage`].
    pub bases: Vec<crate::lineage::BaseRef>,
    /// Whether the release is a PEFT adapter (`adapter_config.json` at its root).
    pub adapter: bool,
    /// Findings.
    pub findings: Vec<Finding>,
}

pub(super) fn lower_name(path: &str) -> (String, String) {
    let lower = path.to_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower).to_string();
    (lower, name)
}

/// The weight format of a file name, if it is one (optimizer and trainer states excluded).
pub fn weight_format(path: &str) -> Option<WeightFormat> {
    let (_, name) = lower_name(path);
    let ext = name.rsplit('.').next().unwrap_or("");
    let meta = [
        "optimizer",
        "scheduler",
        "rng_state",
        "training_args",
        "trainer_state",
        "scaler",
    ];
    if meta.iter().any(|m| name.contains(m)) {
        return None;
    }
    // ONNX external data (`model.onnx_data`, `model.onnx.data`) holds the tensors of a graph
    // saved beside it.
    if name.ends_with(".onnx.data") {
        return Some(WeightFormat::Onnx);
    }
    match ext {
        "safetensors" => Some(WeightFormat::Safetensors),
        "gguf" => Some(WeightFormat::Gguf),
        "bin"
            if !name.contains("index")
                && (name.contains("model")
                    || name.contains("weights")
                    || name.starts_with("pytorch")) =>
        {
            Some(WeightFormat::Pickle)
        }
        "pt" | "pth" | "ckpt" => Some(WeightFormat::Pickle),
        "onnx" | "onnx_data" => Some(WeightFormat::Onnx),
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
            || [
                "checkpoint-",
                "checkpoint_",
                "global_step",
                "iter_",
                "ckpt-",
                "ckpt_",
            ]
            .iter()
            .any(|pre| {
                p.strip_prefix(pre)
                    .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
            })
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
pub(super) const LIBRARIES: &[(&str, &str, &str)] = &[
    (
        "transformers",
        "Apache-2.0",
        "https://github.com/huggingface/transformers",
    ),
    (
        "diffusers",
        "Apache-2.0",
        "https://github.com/huggingface/diffusers",
    ),
    (
        "sentence-transformers",
        "Apache-2.0",
        "https://github.com/UKPLab/sentence-transformers",
    ),
    ("peft", "Apache-2.0", "https://github.com/huggingface/peft"),
    (
        "timm",
        "Apache-2.0",
        "https://github.com/huggingface/pytorch-image-models",
    ),
    (
        "open_clip",
        "MIT",
        "https://github.com/mlfoundations/open_clip",
    ),
    ("llama.cpp", "MIT", "https://github.com/ggml-org/llama.cpp"),
    ("gguf", "MIT", "https://github.com/ggml-org/llama.cpp"),
    ("mlx", "MIT", "https://github.com/ml-explore/mlx"),
    (
        "onnxruntime",
        "MIT",
        "https://github.com/microsoft/onnxruntime",
    ),
    ("vllm", "Apache-2.0", "https://github.com/vllm-project/vllm"),
    (
        "glassbox",
        "Apache-2.0",
        "https://github.com/glassbox-ai/glassbox",
    ),
];

/// Marks `id` as referenced through `library` (a name in [`LIBRARIES`]): the evidence is the
/// library's address only, so the component takes the library's licence, not the licence of the
/// files that led to it.
pub(super) fn mark_library(
    d: &mut Detection,
    id: ComponentId,
    library: &str,
    note: Option<String>,
) {
    if let Some((_, _, url)) = LIBRARIES.iter().find(|(n, _, _)| *n == library) {
        mark(d, id, Presence::Referenced, vec![Evidence::url(*url)], note);
    }
}

/// transformers `model_type`s whose modelling code ships with transformers.
pub(super) const TRANSFORMERS_TYPES: &[&str] = &[
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "gpt_neox",
    "gpt2",
    "gptj",
    "gpt_neo",
    "olmo",
    "olmo2",
    "olmoe",
    "phi",
    "phi3",
    "falcon",
    "mpt",
    "bloom",
    "opt",
    "t5",
    "bert",
    "roberta",
    "deberta",
    "deberta-v2",
    "distilbert",
    "starcoder2",
    "stablelm",
    "cohere",
    "granite",
    "deepseek_v3",
    "mamba",
    "jamba",
    "smollm3",
    "bart",
    "whisper",
    "clip",
    "vit",
    "llava",
    "idefics3",
    "internlm2",
    "baichuan",
    "chatglm",
    "persimmon",
    "codegen",
    "xglm",
    "electra",
];

/// Runs every detector over `snap`.
pub fn detect(snap: &mut Snapshot) -> Detection {
    let mut d = Detection::default();
    for id in ComponentId::ALL {
        d.components.insert(id, Component::absent(id));
    }
    let paths: Vec<(String, Option<u64>)> = snap
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();

    // Model card.
    let card_path = [
        "README.md",
        "readme.md",
        "README.MD",
        "MODEL_CARD.md",
        "model_card.md",
    ]
    .into_iter()
    .find(|p| snap.has(p))
    .map(str::to_string);
    if let Some(cp) = &card_path
        && let Some((text, truncated)) = snap.read_text(cp, crate::card::MAX_CARD)
    {
        let card = Card::parse(cp, &text, truncated, &mut d.findings);
        mark(
            &mut d,
            ComponentId::ModelCard,
            Presence::Present,
            vec![Evidence::file(cp)],
            None,
        );
        d.card = Some(card);
    }
    if d.card.is_none()
        && let Some(api) = snap.api_card_data.clone()
    {
        // The Hub parsed the card even if the file could not be fetched.
        d.card = Some(Card {
            path: "README.md".into(),
            meta: api,
            ..Default::default()
        });
    }

    weights::detect_weights(snap, &mut d, &paths);
    files::detect_files(snap, &mut d, &paths);
    card_links::detect_from_card(&mut d);
    card_links::detect_refs(snap, &mut d);
    bundle::detect_bundle(snap, &mut d);
    base_refs::detect_bases(snap, &mut d);
    replay::detect_replay(snap, &mut d);
    licenses::assign_licenses(snap, &mut d, &paths);
    d.findings.append(&mut snap.findings);
    d
}

pub(super) fn mark(
    d: &mut Detection,
    id: ComponentId,
    presence: Presence,
    evidence: Vec<Evidence>,
    note: Option<String>,
) {
    let Some(c) = d.components.get_mut(&id) else {
        return;
    };
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
