//! A run handed to a distributed engine: [`export_run`] writes what PyTorch FSDP, OLMo-core's
//! Trainer or Megatron-Core (each launched with `torchrun`) needs to train *the same* run — the model's step-0 weights, the exact
//! sample of every position of the data order, every recipe setting mapped to its counterpart
//! (the learning rate of every step written out), the checkpoint steps, and a launch script.
//!
//! A recipe key without a counterpart is refused, naming the key, never dropped: a hand-off that
//! silently trained something else would defeat the point.
//!
//! Layout of the export (`export.json`, `schema_version` 1, is documented in docs/formats.md).
//! Both engines: `model/` (config.json, model.safetensors — the step-0 weights in Hugging Face
//! layout — and the tokenizer and generation files), `data/heldout.bin` (the held-out split, u32
//! little-endian, for the evaluations), `recipe.toml` (the resolved recipe, as `glassbox train`
//! writes it), `launch.sh`, `engine_common.py` (what the three launchers share), `export.json`.
//!
//! - `torch-fsdp`: `data/tokens.bin` (the train split, u32 little-endian), `data/order.bin` (u64
//!   little-endian: the sample index of each position `step · batch_size + row`; sample `i` is
//!   tokens `[i · seq_len, i · seq_len + seq_len + 1)`), `train_fsdp.py` (a short loop over FSDP).
//! - `olmo-core`: `data/instances.npy` (raw u32, OLMo-core's numpy token-array convention: the
//!   `seq_len + 1` tokens of every position's sample, in position order), `olmo_core/` (the
//!   `TransformerConfig`, `NumpyFSLDatasetConfig` and `TransformerTrainModuleConfig` as OLMo-core
//!   serialises them, and the step-0 weights under its parameter names — [`crate::olmo_core`]),
//!   `train_olmo_core.py` (glue that builds OLMo-core's Trainer from those files).
//! - `megatron`: `data/instances.bin` + `.idx` (a Megatron indexed dataset of the same windows),
//!   `megatron/` (the model description and the step-0 weights in Megatron-Core's layouts —
//!   [`crate::megatron`]), `train_megatron.py` (a loop over Megatron-Core's tensor-parallel
//!   `GPTModel`).

mod files;
mod mapping;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::data::TrainData;
use crate::optim::learning_rate;
use crate::recipe::Recipe;
use crate::{Result, TrainError};

pub use mapping::plain_llama_gap;

/// `export.json`'s layout version.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;

/// What every launcher imports (command line, export.json, logs, the newest resumable state).
pub(crate) const ENGINE_COMMON: &str = include_str!("../../../../scripts/engines/engine_common.py");

/// The training loop the torch-fsdp export ships.
const TRAIN_FSDP: &str = include_str!("../../../../scripts/engines/train_fsdp.py");

/// The training loop of a megatron export, over Megatron-Core's GPTModel.
const TRAIN_MEGATRON: &str = include_str!("../../../../scripts/engines/train_megatron.py");

/// The launcher of an OLMo-core export: glue around OLMo-core's own Trainer.
const TRAIN_OLMO_CORE: &str = include_str!("../../../../scripts/engines/train_olmo_core.py");

/// Engines a run can be exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PyTorch FSDP, launched with `torchrun`.
    TorchFsdp,
    /// OLMo-core's Trainer (`ai2-olmo-core`), launched with `torchrun`.
    OlmoCore,
    /// Megatron-Core's GPTModel with tensor parallelism (`megatron-core`), launched with `torchrun`.
    Megatron,
}

impl Engine {
    /// The engine's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Engine::TorchFsdp => "torch-fsdp",
            Engine::OlmoCore => "olmo-core",
            Engine::Megatron => "megatron",
        }
    }

    /// The Python packages its launcher needs (from PyPI).
    pub fn packages(self) -> &'static str {
        match self {
            Engine::TorchFsdp => "torch and transformers",
            Engine::OlmoCore => "torch and ai2-olmo-core",
            Engine::Megatron => "torch and megatron-core",
        }
    }

    /// The script its launch.sh runs.
    pub(crate) fn script(self) -> (&'static str, &'static str) {
        match self {
            Engine::TorchFsdp => ("train_fsdp.py", TRAIN_FSDP),
            Engine::OlmoCore => ("train_olmo_core.py", TRAIN_OLMO_CORE),
            Engine::Megatron => ("train_megatron.py", TRAIN_MEGATRON),
        }
    }
}

/// One recipe setting and what it became in the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The recipe key (`optim.lr`).
    pub key: &'static str,
    /// Its value in this recipe.
    pub value: Value,
    /// Its counterpart in the engine.
    pub counterpart: &'static str,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The export directory.
    pub dir: PathBuf,
    /// Every recipe setting and its counterpart.
    pub mapping: Vec<Mapping>,
    /// Steps the run takes.
    pub total_steps: u64,
    /// Positions of the data order written (steps × batch size).
    pub positions: u64,
}

pub(crate) fn refuse(path: &Path, key: &str, why: &str) -> TrainError {
    TrainError::Recipe {
        path: path.to_path_buf(),
        message: format!("`{key}` has no counterpart in the exported run: {why}"),
    }
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> TrainError {
    TrainError::Run {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Exports the run of `recipe_path` for `engine` into `out` (which must not exist yet).
pub fn export_run(recipe_path: &Path, engine: Engine, out: &Path) -> Result<Exported> {
    if out.exists() {
        return Err(TrainError::Run {
            path: out.to_path_buf(),
            message: "exists already; choose a new directory".into(),
        });
    }
    let recipe = Recipe::from_file(recipe_path)?;
    let total = recipe.total_steps();
    let mapping = mapping::mapping(&recipe, recipe_path, total, engine)?;
    let data = TrainData::open(&recipe.data.dataset)?;
    let (vocab, eos) = data.vocab_and_eos();
    let mut cfg = recipe.resolve(recipe_path, vocab)?;
    if cfg.eos_token_ids.is_empty() {
        cfg.eos_token_ids = vec![eos];
    }
    if engine != Engine::TorchFsdp
        && let Some(why) = plain_llama_gap(&cfg)
    {
        return Err(refuse(
            recipe_path,
            "model.preset / model.config",
            &format!(
                "the model has {why}, which the {} model export (a plain Llama block) does not",
                engine.name()
            ),
        ));
    }
    if engine == Engine::Megatron && cfg.vocab_size > i32::MAX as usize {
        return Err(refuse(
            recipe_path,
            "data.dataset",
            "its vocabulary does not fit Megatron's int32 token ids",
        ));
    }
    data.check_seq_len(recipe.train.seq_len, recipe_path)?;
    let positions = total
        .checked_mul(recipe.train.batch_size as u64)
        .ok_or_else(|| TrainError::Recipe {
            path: recipe_path.to_path_buf(),
            message: "steps × batch_size does not fit 64 bits".into(),
        })?;
    // Written next to `out`, renamed at the end: a failed export leaves nothing behind.
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map_or("export".into(), |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let plan = files::Plan {
        recipe: &recipe,
        cfg: &cfg,
        engine,
        eos,
        positions,
    };
    let written = files::write_all(&plan, data, &tmp).and_then(|w| {
        write_record(&plan, &mapping, &w, &tmp)?;
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(Exported {
        dir: out.to_path_buf(),
        mapping,
        total_steps: total,
        positions,
    })
}

/// `export.json`: every setting the launcher reads, the learning rate of every step, the
/// checkpoint and evaluation steps, and the mapping.
fn write_record(
    plan: &files::Plan<'_>,
    mapping: &[Mapping],
    written: &files::Written,
    tmp: &Path,
) -> Result<()> {
    let (recipe, total) = (plan.recipe, plan.recipe.total_steps());
    let lrs: Vec<f64> = (0..total)
        .map(|s| learning_rate(recipe, s, total))
        .collect();
    let checkpoint_steps: Vec<u64> = (0..=total)
        .filter(|s| recipe.checkpoints.scheduled(*s, total))
        .collect();
    // As glassbox's loop: after step `done`, when it is a multiple of the interval or a
    // scheduled checkpoint (and the interval is not 0).
    let interval = recipe.eval.interval;
    let eval_steps: Vec<u64> = (1..=total)
        .filter(|d| interval > 0 && (d % interval == 0 || recipe.checkpoints.scheduled(*d, total)))
        .collect();
    let record = json!({
        "schema_version": EXPORT_SCHEMA_VERSION,
        "glassbox_version": env!("CARGO_PKG_VERSION"),
        "engine": plan.engine.name(),
        "recipe_sha256": written.recipe_sha256,
        "dataset_manifest_sha256": glassbox_core::hash::sha256_file(&recipe.data.dataset.join("manifest.json"))?,
        "total_steps": total,
        "batch_size": recipe.train.batch_size,
        "seq_len": recipe.train.seq_len,
        "grad_accum": recipe.train.grad_accum,
        "samples": written.samples,
        "positions": plan.positions,
        "train_tokens": written.train_tokens,
        "optimizer": {
            "betas": recipe.optim.betas,
            "eps": recipe.optim.eps,
            "weight_decay": recipe.optim.weight_decay,
            "decay_norms_and_biases": recipe.optim.decay_norms_and_biases,
        },
        "max_grad_norm": recipe.train.max_grad_norm,
        "lr_schedule": lrs,
        "checkpoint_steps": checkpoint_steps,
        "eval_steps": eval_steps,
        "eval_windows": recipe.eval.windows,
        "heldout_tokens": written.heldout_tokens,
        "mapping": mapping.iter().map(|m| json!({"key": m.key, "value": m.value, "counterpart": m.counterpart})).collect::<Vec<_>>(),
    });
    glassbox_core::fsio::atomic_write(
        &tmp.join("export.json"),
        (serde_json::to_string_pretty(&record).unwrap_or_default() + "\n").as_bytes(),
    )?;
    Ok(())
}
