//! A run handed to a distributed engine: [`export_run`] writes what PyTorch FSDP (`torchrun`)
//! needs to train *the same* run — the model's step-0 weights in Hugging Face layout, the token
//! stream and the exact sample of every position of the data order, every recipe setting mapped
//! to its counterpart (the learning rate of every step written out), the checkpoint steps, a
//! short training loop over FSDP and its launch script.
//!
//! A recipe key without a counterpart is refused, naming the key, never dropped: a hand-off that
//! silently trained something else would defeat the point.
//!
//! Layout of the export (`export.json`, `schema_version` 1, is documented in docs/formats.md):
//! `model/` (config.json, model.safetensors, the tokenizer and generation files), `data/tokens.bin` (the train split,
//! u32 little-endian), `data/order.bin` (u64 little-endian: the sample index of each position
//! `step · batch_size + row`; sample `i` is tokens `[i · seq_len, i · seq_len + seq_len + 1)`),
//! `data/heldout.bin` (the held-out split, u32 little-endian, for the evaluations),
//! `recipe.toml` (the resolved recipe, as `glassbox train` writes it), `train_fsdp.py`, `launch.sh`, `export.json`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use glassbox_data::dataset::Dataset;
use glassbox_model::SaveDtype;
use serde_json::{Value, json};

use crate::optim::learning_rate;
use crate::recipe::{Decay, Recipe};
use crate::{Result, TrainError};

/// `export.json`'s layout version.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;

/// The training loop the export ships (the only Python glassbox ships).
const TRAIN_FSDP: &str = include_str!("../../../scripts/engines/train_fsdp.py");

/// Engines a run can be exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PyTorch FSDP, launched with `torchrun`.
    TorchFsdp,
}

impl Engine {
    /// The engine's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Engine::TorchFsdp => "torch-fsdp",
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
    /// Positions written to `data/order.bin` (steps × batch size).
    pub positions: u64,
}

fn refuse(path: &Path, key: &str, why: &str) -> TrainError {
    TrainError::Recipe {
        path: path.to_path_buf(),
        message: format!("`{key}` has no counterpart in the exported run: {why}"),
    }
}

fn io(path: &Path, e: std::io::Error) -> TrainError {
    TrainError::Run {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Refuses what the engine's loop does not do, then lists every setting with its counterpart.
fn mapping(r: &Recipe, path: &Path, total: u64) -> Result<Vec<Mapping>> {
    if r.lora.is_some() {
        return Err(refuse(
            path,
            "lora",
            "the exported loop trains every weight; export a full fine-tune, or train the adapter with glassbox",
        ));
    }
    if glassbox_data::chat::is_chat_dataset(&r.data.dataset) {
        return Err(refuse(
            path,
            "data.dataset",
            "it is a chat dataset (instruction tuning: loss on the assistant's tokens, conversations kept apart), which the exported loop does not train",
        ));
    }
    if r.train.rows_from.is_some() {
        return Err(refuse(
            path,
            "train.rows_from",
            "the exported loop cannot freeze part of a matrix",
        ));
    }
    if r.checkpoints.keep_unscheduled.is_some() {
        return Err(refuse(
            path,
            "checkpoints.keep_unscheduled",
            "the exported loop writes the scheduled checkpoints only",
        ));
    }
    let decay = match r.schedule.decay {
        Decay::Constant => "constant",
        Decay::Linear => "linear",
        Decay::Cosine => "cosine",
    };
    let m = |key, value, counterpart| Mapping {
        key,
        value,
        counterpart,
    };
    Ok(vec![
        m(
            "data.dataset",
            json!(r.data.dataset.display().to_string()),
            "data/tokens.bin (the train split) and data/order.bin",
        ),
        m(
            "data.seed",
            json!(r.data.seed),
            "data/order.bin (the permutation it seeds, written out per position)",
        ),
        m(
            "model.preset / model.config / model.hf",
            json!(r.model.preset.clone().unwrap_or_default()),
            "model/config.json (LlamaForCausalLM.from_pretrained)",
        ),
        m(
            "model.init / model.init_seed",
            json!(r.model.init.as_ref().map_or_else(
                || json!(r.model.init_seed),
                |p| json!(p.display().to_string())
            )),
            "model/model.safetensors (the step-0 weights glassbox would start from)",
        ),
        m(
            "optim.lr",
            json!(r.optim.lr),
            "the peak of export.json lr_schedule",
        ),
        m(
            "optim.betas",
            json!(r.optim.betas),
            "torch.optim.AdamW(betas=…)",
        ),
        m("optim.eps", json!(r.optim.eps), "torch.optim.AdamW(eps=…)"),
        m(
            "optim.weight_decay",
            json!(r.optim.weight_decay),
            "AdamW param group weight_decay",
        ),
        m(
            "optim.decay_norms_and_biases",
            json!(r.optim.decay_norms_and_biases),
            "norm weights and biases in the decayed group (true) or a weight_decay=0 group (false)",
        ),
        m(
            "schedule.warmup_steps / decay / min_lr",
            json!({"warmup_steps": r.schedule.warmup_steps, "decay": decay, "min_lr": r.min_lr()}),
            "export.json lr_schedule: the learning rate of every step, set on the param groups before it",
        ),
        m(
            "train.batch_size",
            json!(r.train.batch_size),
            "global batch: rows split evenly over the ranks (world size must divide it)",
        ),
        m(
            "train.seq_len",
            json!(r.train.seq_len),
            "windows of seq_len + 1 tokens from data/tokens.bin",
        ),
        m(
            "train.grad_accum",
            json!(r.train.grad_accum),
            "each rank's rows in grad_accum micro-batches, loss / grad_accum",
        ),
        m(
            "train.max_grad_norm",
            json!(r.train.max_grad_norm),
            "torch.nn.utils.clip_grad_norm_ over the sharded parameters",
        ),
        m(
            "train.steps / train.tokens",
            json!(total),
            "export.json total_steps",
        ),
        m(
            "train.threads",
            json!(r.train.threads),
            "launch.sh THREADS (torch.set_num_threads per rank)",
        ),
        m(
            "checkpoints.schedule / checkpoints.every",
            json!({"schedule": r.checkpoints.schedule, "every": r.checkpoints.every}),
            "export.json checkpoint_steps (HF folders checkpoints/step-NNNNNNN)",
        ),
        m(
            "eval.interval / eval.windows",
            json!({"interval": r.eval.interval, "windows": r.eval.windows}),
            "export.json eval_steps and eval_windows: mean loss over the first windows of data/heldout.bin, to logs/eval.jsonl",
        ),
        m(
            "release.*",
            json!(r.release.name),
            "kept in recipe.toml for `glassbox release` after `glassbox import-run`",
        ),
    ])
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
    let mapping = mapping(&recipe, recipe_path, total)?;
    let mut ds = Dataset::open(&recipe.data.dataset)?;
    let vocab = ds
        .manifest
        .tokenizer
        .get("vocab_size")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let eos = ds
        .manifest
        .tokenizer
        .get("eos_id")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    let mut cfg = recipe.resolve(recipe_path, vocab)?;
    if cfg.eos_token_ids.is_empty() {
        cfg.eos_token_ids = vec![eos];
    }
    let (b, l, seed) = (
        recipe.train.batch_size,
        recipe.train.seq_len,
        recipe.data.seed,
    );
    let n = ds.num_samples(l);
    if n == 0 {
        return Err(TrainError::Recipe {
            path: recipe_path.to_path_buf(),
            message: format!("the train split is too short for `train.seq_len` {l}"),
        });
    }
    // Written next to `out`, renamed at the end: a failed export leaves nothing half-made.
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map_or("export".into(), |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    for d in ["model", "data"] {
        std::fs::create_dir_all(tmp.join(d)).map_err(|e| io(&tmp, e))?;
    }
    // The step-0 weights.
    let model = crate::trainer::initial_model(&recipe, &cfg)?;
    model.save(&tmp.join("model"), SaveDtype::F32, u64::MAX)?;
    // The tokenizer files glassbox's own checkpoints carry.
    let tok = recipe.data.dataset.join("tokenizer.json");
    std::fs::copy(&tok, tmp.join("model/tokenizer.json")).map_err(|e| io(&tok, e))?;
    let eos_piece = ds
        .manifest
        .tokenizer
        .get("eos")
        .and_then(Value::as_str)
        .unwrap_or("<|endoftext|>")
        .to_string();
    glassbox_core::fsio::write_json_atomic(
        &tmp.join("model/tokenizer_config.json"),
        &json!({"eos_token": eos_piece, "model_max_length": cfg.max_position_embeddings, "clean_up_tokenization_spaces": false}),
    )?;
    glassbox_core::fsio::write_json_atomic(
        &tmp.join("model/generation_config.json"),
        &json!({"eos_token_id": cfg.eos_token_ids.first().copied().unwrap_or(eos), "do_sample": false}),
    )?;
    // The token stream of the train split, then the sample of every position.
    let train_tokens = write_split(&mut ds, "train", &tmp.join("data/tokens.bin"))?;
    let positions = total
        .checked_mul(b as u64)
        .ok_or_else(|| TrainError::Recipe {
            path: recipe_path.to_path_buf(),
            message: "steps × batch_size does not fit 64 bits".into(),
        })?;
    let path = tmp.join("data/order.bin");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| io(&path, e))?);
    // One epoch at a time: each epoch's permutation is computed once, and no more than one
    // epoch of indices sits in memory.
    let mut at = 0u64;
    while at < positions {
        let count = (n - at % n).min(positions - at);
        for index in ds.sample_indices(at, count, l, seed)? {
            w.write_all(&index.to_le_bytes())
                .map_err(|e| io(&path, e))?;
        }
        at += count;
    }
    w.flush().map_err(|e| io(&path, e))?;
    // The held-out split, for the evaluations during training.
    let heldout_tokens = write_split(&mut ds, "heldout", &tmp.join("data/heldout.bin"))?;
    // The recipe, the loop, its launcher, and the record.
    let resolved = toml::to_string(&recipe).map_err(|e| TrainError::Recipe {
        path: recipe_path.to_path_buf(),
        message: e.to_string(),
    })?;
    glassbox_core::fsio::atomic_write(&tmp.join("recipe.toml"), resolved.as_bytes())?;
    std::fs::write(tmp.join("train_fsdp.py"), TRAIN_FSDP).map_err(|e| io(&tmp, e))?;
    let launch = tmp.join("launch.sh");
    std::fs::write(&launch, LAUNCH).map_err(|e| io(&launch, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&launch, std::fs::Permissions::from_mode(0o755));
    }
    let lrs: Vec<f64> = (0..total)
        .map(|s| learning_rate(&recipe, s, total))
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
        "engine": engine.name(),
        "recipe_sha256": glassbox_core::hash::sha256_hex(resolved.as_bytes()),
        "dataset_manifest_sha256": glassbox_core::hash::sha256_file(&recipe.data.dataset.join("manifest.json"))?,
        "total_steps": total,
        "batch_size": b,
        "seq_len": l,
        "grad_accum": recipe.train.grad_accum,
        "samples": n,
        "positions": positions,
        "train_tokens": train_tokens,
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
        "heldout_tokens": heldout_tokens,
        "mapping": mapping.iter().map(|m| json!({"key": m.key, "value": m.value, "counterpart": m.counterpart})).collect::<Vec<_>>(),
    });
    glassbox_core::fsio::atomic_write(
        &tmp.join("export.json"),
        (serde_json::to_string_pretty(&record).unwrap_or_default() + "\n").as_bytes(),
    )?;
    std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
    Ok(Exported {
        dir: out.to_path_buf(),
        mapping,
        total_steps: total,
        positions,
    })
}

/// Writes the tokens of `split` to `path` (u32 little-endian, no header); returns their number.
fn write_split(ds: &mut Dataset, split: &str, path: &Path) -> Result<u64> {
    let n = ds.tokens_in(split);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| io(path, e))?);
    let chunk = 1usize << 20;
    let mut at = 0u64;
    while at < n {
        let len = chunk.min((n - at) as usize);
        for t in ds.read(split, at, len)? {
            w.write_all(&t.to_le_bytes()).map_err(|e| io(path, e))?;
        }
        at += len as u64;
    }
    w.flush().map_err(|e| io(path, e))?;
    Ok(n)
}

/// `launch.sh`: torchrun with the parallelism as parameters.
const LAUNCH: &str = r#"#!/usr/bin/env bash
# Trains the exported glassbox run with PyTorch FSDP. Parameters (environment):
#   NPROC    processes on this node (default 2)      NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT
#   BACKEND  gloo (CPU, default) or nccl (GPUs)      THREADS  torch threads per process (default 1)
#   OUT      where checkpoints and logs go (default ./engine-run)
#   PYTHON   the interpreter with torch and transformers (default python3; this is torchrun)
# Bring the result back with: glassbox import-run "$OUT" --export "$(dirname "$0")" --out RUN
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${PYTHON:-python3}" -m torch.distributed.run --nproc_per_node "${NPROC:-2}" --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
  "$here/train_fsdp.py" --export "$here" --out "${OUT:-./engine-run}" \
  --backend "${BACKEND:-gloo}" --threads "${THREADS:-1}" "$@"
"#;
