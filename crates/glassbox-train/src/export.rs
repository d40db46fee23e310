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
//! writes it), `launch.sh`, `export.json`.
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

use std::io::Write as _;
use std::path::{Path, PathBuf};

use glassbox_data::dataset::Dataset;
use glassbox_model::SaveDtype;
use glassbox_model::config::{
    Activation, Architecture, MlpLayout, ModelConfig, NormKind, QkNorm, QkvLayout, Residual,
    RopeScaling,
};
use serde_json::{Value, json};

use crate::optim::learning_rate;
use crate::recipe::{Decay, Recipe};
use crate::{Result, TrainError};
use crate::{megatron, olmo_core};

/// `export.json`'s layout version.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;

/// The training loop the torch-fsdp export ships.
const TRAIN_FSDP: &str = include_str!("../../../scripts/engines/train_fsdp.py");

/// The training loop of a megatron export, over Megatron-Core's GPTModel.
const TRAIN_MEGATRON: &str = include_str!("../../../scripts/engines/train_megatron.py");

/// The launcher of an OLMo-core export: glue around OLMo-core's own Trainer.
const TRAIN_OLMO_CORE: &str = include_str!("../../../scripts/engines/train_olmo_core.py");

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

    /// The script its launch.sh runs.
    fn script(self) -> (&'static str, &'static str) {
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
    /// Positions written to `data/order.bin` (steps × batch size).
    pub positions: u64,
}

/// What keeps `cfg` from being a plain Llama model (pre-norm RMSNorm, separate q/k/v/o without
/// biases, SiLU-gated MLP, full-dimension RoPE without scaling), the one block OLMo-core and
/// Megatron-Core are given; `None` for a plain Llama model.
pub fn plain_llama_gap(cfg: &ModelConfig) -> Option<&'static str> {
    let checks: [(bool, &'static str); 14] = [
        (
            !matches!(cfg.architecture, Architecture::Llama),
            "an architecture other than Llama",
        ),
        (cfg.qkv_bias || cfg.o_bias, "attention biases"),
        (cfg.mlp_bias, "MLP biases"),
        (!matches!(cfg.qk_norm, QkNorm::None), "q/k norms"),
        (
            !matches!(cfg.norm, NormKind::Rms),
            "a norm other than RMSNorm",
        ),
        (
            !matches!(cfg.residual, Residual::PreNorm),
            "a residual layout other than pre-norm",
        ),
        (
            !matches!(cfg.qkv_layout, QkvLayout::Separate),
            "fused q/k/v projections",
        ),
        (
            !matches!(cfg.mlp_layout, MlpLayout::Gated),
            "an MLP other than the separate gated one",
        ),
        (
            !matches!(cfg.hidden_act, Activation::Silu),
            "an activation other than SiLU",
        ),
        (
            !matches!(cfg.rope_scaling, RopeScaling::None) || cfg.local_rope.is_some(),
            "RoPE scaling or a second RoPE",
        ),
        (cfg.rotary_dim != cfg.head_dim, "partial rotary dimensions"),
        (cfg.clip_qkv.is_some(), "q/k/v clipping"),
        (
            cfg.query_pre_attn_scalar.is_some()
                || cfg.attn_logit_softcapping.is_some()
                || cfg.final_logit_softcapping.is_some(),
            "attention scaling or logit soft-capping",
        ),
        (cfg.embed_scale, "scaled embeddings"),
    ];
    checks.iter().find(|(bad, _)| *bad).map(|(_, why)| *why)
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
fn mapping(r: &Recipe, path: &Path, total: u64, engine: Engine) -> Result<Vec<Mapping>> {
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
    // Each key with its counterpart in torch-fsdp, olmo-core and megatron.
    let m = |key, value, fsdp, olmo_core, megatron| Mapping {
        key,
        value,
        counterpart: match engine {
            Engine::TorchFsdp => fsdp,
            Engine::OlmoCore => olmo_core,
            Engine::Megatron => megatron,
        },
    };
    Ok(vec![
        m(
            "data.dataset",
            json!(r.data.dataset.display().to_string()),
            "data/tokens.bin (the train split) and data/order.bin",
            "data/instances.npy (olmo_core/dataset.json, a NumpyFSLDatasetConfig): one instance of seq_len + 1 tokens per position of the order",
            "data/instances.bin + .idx (a Megatron indexed dataset read with megatron-core's IndexedDataset): one sequence of seq_len + 1 tokens per position of the order",
        ),
        m(
            "data.seed",
            json!(r.data.seed),
            "data/order.bin (the permutation it seeds, written out per position)",
            "the order of data/instances.npy (the loader's shuffling off: instance k is position k)",
            "the order of data/instances (sequence k is position k, read in order)",
        ),
        m(
            "model.preset / model.config / model.hf",
            json!(r.model.preset.clone().unwrap_or_default()),
            "model/config.json (LlamaForCausalLM.from_pretrained)",
            "olmo_core/model.json (TransformerConfig, Llama-like block)",
            "megatron/model.json (megatron-core TransformerConfig and GPTModel arguments, with the Megatron-LM flags)",
        ),
        m(
            "model.init / model.init_seed",
            json!(r.model.init.as_ref().map_or_else(
                || json!(r.model.init_seed),
                |p| json!(p.display().to_string())
            )),
            "model/model.safetensors (the step-0 weights glassbox would start from)",
            "olmo_core/model.safetensors (the step-0 weights under OLMo-core's names), loaded over its initialisation",
            "megatron/model.safetensors (the step-0 weights in megatron-core's names and layouts: q/k/v fused per query group, gate above up)",
        ),
        m(
            "optim.lr",
            json!(r.optim.lr),
            "the peak of export.json lr_schedule",
            "the peak of export.json lr_schedule (AdamWConfig.lr holds the first step's)",
            "the peak of export.json lr_schedule (Megatron-LM --lr)",
        ),
        m(
            "optim.betas",
            json!(r.optim.betas),
            "torch.optim.AdamW(betas=…)",
            "AdamWConfig.betas",
            "torch.optim.AdamW(betas=…) (Megatron-LM --adam-beta1, --adam-beta2)",
        ),
        m(
            "optim.eps",
            json!(r.optim.eps),
            "torch.optim.AdamW(eps=…)",
            "AdamWConfig.eps",
            "torch.optim.AdamW(eps=…) (Megatron-LM --adam-eps)",
        ),
        m(
            "optim.weight_decay",
            json!(r.optim.weight_decay),
            "AdamW param group weight_decay",
            "AdamWConfig.weight_decay",
            "AdamW param group weight_decay (Megatron-LM --weight-decay)",
        ),
        m(
            "optim.decay_norms_and_biases",
            json!(r.optim.decay_norms_and_biases),
            "norm weights and biases in the decayed group (true) or a weight_decay=0 group (false)",
            "AdamWConfig.group_overrides: *norm.weight at weight_decay 0 (false) or no override (true)",
            "1-D parameters (the norms) in a weight_decay=0 group (false, Megatron-LM's default) or decayed (true)",
        ),
        m(
            "schedule.warmup_steps / decay / min_lr",
            json!({"warmup_steps": r.schedule.warmup_steps, "decay": decay, "min_lr": r.min_lr()}),
            "export.json lr_schedule: the learning rate of every step, set on the param groups before it",
            "a Scheduler returning export.json lr_schedule for each step (OLMo-core's own schedulers count the step one ahead)",
            "export.json lr_schedule, set before every step (Megatron's OptimizerParamScheduler computes a step's rate from the steps done, one step behind)",
        ),
        m(
            "train.batch_size",
            json!(r.train.batch_size),
            "global batch: rows split evenly over the ranks (world size must divide it)",
            "the data loader's global_batch_size = batch_size · (seq_len + 1) tokens, split over the ranks",
            "the global batch, split evenly over the data-parallel replicas (Megatron-LM --global-batch-size)",
        ),
        m(
            "train.seq_len",
            json!(r.train.seq_len),
            "windows of seq_len + 1 tokens from data/tokens.bin",
            "NumpyFSLDatasetConfig.sequence_length = seq_len + 1 (its last label ignored: the loss is over seq_len tokens)",
            "sequences of seq_len + 1 tokens: inputs the first seq_len, labels the last seq_len (Megatron-LM --seq-length)",
        ),
        m(
            "train.grad_accum",
            json!(r.train.grad_accum),
            "each rank's rows in grad_accum micro-batches, loss / grad_accum",
            "TransformerTrainModuleConfig.rank_microbatch_size = batch_size / grad_accum · (seq_len + 1) tokens",
            "each replica's rows in grad_accum micro-batches (Megatron-LM --micro-batch-size = rows per micro-batch)",
        ),
        m(
            "train.max_grad_norm",
            json!(r.train.max_grad_norm),
            "torch.nn.utils.clip_grad_norm_ over the sharded parameters",
            "TransformerTrainModuleConfig.max_grad_norm (0: none)",
            "the global gradient norm (tensor-parallel shards summed, replicated parameters once), clipped (Megatron-LM --clip-grad)",
        ),
        m(
            "train.steps / train.tokens",
            json!(total),
            "export.json total_steps",
            "TrainerConfig.max_duration = Duration.steps(total_steps)",
            "export.json total_steps (Megatron-LM --train-iters)",
        ),
        m(
            "train.threads",
            json!(r.train.threads),
            "launch.sh THREADS (torch.set_num_threads per rank)",
            "launch.sh THREADS (torch.set_num_threads per rank)",
            "launch.sh THREADS (torch.set_num_threads per rank)",
        ),
        m(
            "checkpoints.schedule / checkpoints.every",
            json!({"schedule": r.checkpoints.schedule, "every": r.checkpoints.every}),
            "export.json checkpoint_steps (HF folders checkpoints/step-NNNNNNN)",
            "ListCheckpointerCallback(save_steps = export.json checkpoint_steps), unsharded to checkpoints/step-NNNNNNN",
            "export.json checkpoint_steps: full tensors in megatron-core's names, checkpoints/step-NNNNNNN",
        ),
        m(
            "eval.interval / eval.windows",
            json!({"interval": r.eval.interval, "windows": r.eval.windows}),
            "export.json eval_steps and eval_windows: mean loss over the first windows of data/heldout.bin, to logs/eval.jsonl",
            "export.json eval_steps and eval_windows: a callback's mean loss over the first windows of data/heldout.bin, to logs/eval.jsonl",
            "export.json eval_steps and eval_windows: mean loss over the first windows of data/heldout.bin, to logs/eval.jsonl",
        ),
        m(
            "release.*",
            json!(r.release.name),
            "kept in recipe.toml for `glassbox release` after `glassbox import-run`",
            "kept in recipe.toml for `glassbox release` after `glassbox import-run`",
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
    let mapping = mapping(&recipe, recipe_path, total, engine)?;
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
    let model = crate::trainer::initial_model(&recipe, &cfg, &candle_core::Device::Cpu)?;
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
    let positions = total
        .checked_mul(b as u64)
        .ok_or_else(|| TrainError::Recipe {
            path: recipe_path.to_path_buf(),
            message: "steps × batch_size does not fit 64 bits".into(),
        })?;
    let train_tokens = ds.tokens_in("train");
    match engine {
        Engine::TorchFsdp => {
            // The token stream of the train split, then the sample of every position.
            write_split(&mut ds, "train", &tmp.join("data/tokens.bin"))?;
            let path = tmp.join("data/order.bin");
            write_order(&mut ds, n, positions, l, seed, &path, &mut |_, index, w| {
                w.write_all(&index.to_le_bytes())
            })?;
        }
        Engine::OlmoCore | Engine::Megatron => {
            // The window of every position, in order: the engine reads them unshuffled (raw u32
            // for OLMo-core's numpy arrays; the same bytes are a Megatron `.bin` of int32).
            let file = if engine == Engine::OlmoCore {
                "data/instances.npy"
            } else {
                "data/instances.bin"
            };
            let path = tmp.join(file);
            let mut window = Vec::with_capacity((l + 1) * 4);
            write_order(
                &mut ds,
                n,
                positions,
                l,
                seed,
                &path,
                &mut |ds, index, w| {
                    window.clear();
                    let tokens = ds
                        .read("train", index * l as u64, l + 1)
                        .map_err(std::io::Error::other)?;
                    tokens
                        .iter()
                        .for_each(|t| window.extend_from_slice(&t.to_le_bytes()));
                    w.write_all(&window)
                },
            )?;
            if engine == Engine::OlmoCore {
                write_olmo_core_configs(&recipe, &cfg, &model, &tmp, eos)?;
            } else {
                if cfg.vocab_size > i32::MAX as usize {
                    return Err(refuse(
                        recipe_path,
                        "data.dataset",
                        "its vocabulary does not fit Megatron's int32 token ids",
                    ));
                }
                let idx = tmp.join("data/instances.idx");
                glassbox_core::fsio::atomic_write(
                    &idx,
                    &glassbox_data::interop::megatron_index_fixed(positions, l + 1, 4),
                )?;
                let dir = tmp.join("megatron");
                std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                glassbox_core::fsio::write_json_atomic(
                    &dir.join("model.json"),
                    &megatron::model_config(&cfg),
                )?;
                megatron::to_megatron(
                    &cfg,
                    &model.named_tensors(),
                    &dir.join("model.safetensors"),
                )?;
            }
        }
    }
    // The held-out split, for the evaluations during training.
    let heldout_tokens = write_split(&mut ds, "heldout", &tmp.join("data/heldout.bin"))?;
    // The recipe, the loop, its launcher, and the record.
    let resolved = toml::to_string(&recipe).map_err(|e| TrainError::Recipe {
        path: recipe_path.to_path_buf(),
        message: e.to_string(),
    })?;
    glassbox_core::fsio::atomic_write(&tmp.join("recipe.toml"), resolved.as_bytes())?;
    let (script, text) = engine.script();
    std::fs::write(tmp.join(script), text).map_err(|e| io(&tmp, e))?;
    let launch = tmp.join("launch.sh");
    std::fs::write(&launch, launch_script(engine)).map_err(|e| io(&launch, e))?;
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

/// Writes one record per position of the data order into `path`: `record(dataset, sample
/// index, writer)`. One epoch at a time: each epoch's permutation is computed once, and no more
/// than one epoch of indices sits in memory.
fn write_order(
    ds: &mut Dataset,
    samples: u64,
    positions: u64,
    seq_len: usize,
    seed: u64,
    path: &Path,
    record: &mut dyn FnMut(&mut Dataset, u64, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| io(path, e))?);
    let mut at = 0u64;
    while at < positions {
        let count = (samples - at % samples).min(positions - at);
        for index in ds.sample_indices(at, count, seq_len, seed)? {
            record(ds, index, &mut w).map_err(|e| io(path, e))?;
        }
        at += count;
    }
    w.flush().map_err(|e| io(path, e))?;
    Ok(())
}

/// `olmo_core/`: the model, dataset and train-module configs, and the step-0 weights under
/// OLMo-core's parameter names.
fn write_olmo_core_configs(
    recipe: &Recipe,
    cfg: &ModelConfig,
    model: &glassbox_model::Transformer,
    tmp: &Path,
    eos: u32,
) -> Result<()> {
    let dir = tmp.join("olmo_core");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let (b, l, t) = (recipe.train.batch_size, recipe.train.seq_len, &recipe.train);
    let write = |name: &str, v: &Value| glassbox_core::fsio::write_json_atomic(&dir.join(name), v);
    write("model.json", &olmo_core::model_config(cfg))?;
    write(
        "dataset.json",
        &olmo_core::dataset_config("data/instances.npy", l + 1, cfg.vocab_size, eos),
    )?;
    let module = olmo_core::TrainModule {
        rank_microbatch_tokens: b / t.grad_accum.max(1) * (l + 1),
        sequence_length: l + 1,
        lr: learning_rate(recipe, 0, recipe.total_steps()),
        betas: recipe.optim.betas,
        eps: recipe.optim.eps,
        weight_decay: recipe.optim.weight_decay,
        decay_norms: recipe.optim.decay_norms_and_biases,
        max_grad_norm: (t.max_grad_norm > 0.0).then_some(t.max_grad_norm),
    };
    write(
        "train_module.json",
        &olmo_core::train_module_config(&module),
    )?;
    let tensors: Vec<(String, candle_core::Tensor)> = model.named_tensors().into_iter().collect();
    olmo_core::to_olmo_core(cfg, &tensors, &dir.join("model.safetensors"))
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
fn launch_script(engine: Engine) -> String {
    let (script, _) = engine.script();
    let (what, needs, tp_doc, tp_arg) = match engine {
        Engine::TorchFsdp => ("PyTorch FSDP", "torch and transformers", "", ""),
        Engine::OlmoCore => ("OLMo-core's Trainer", "torch and ai2-olmo-core", "", ""),
        Engine::Megatron => (
            "Megatron-Core's GPTModel",
            "torch and megatron-core",
            "\n#   TP       tensor-parallel ranks per replica (default 1; NPROC × NNODES / TP replicas)",
            " --tensor-parallel \"${TP:-1}\"",
        ),
    };
    format!(
        r#"#!/usr/bin/env bash
# Trains the exported glassbox run with {what}. Parameters (environment):
#   NPROC    processes on this node (default 2)      NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT
#   BACKEND  gloo (CPU, default) or nccl (GPUs)      THREADS  torch threads per process (default 1){tp_doc}
#   OUT      where checkpoints and logs go (default ./engine-run)
#   PYTHON   the interpreter with {needs} (default python3; this is torchrun)
# Bring the result back with: glassbox import-run "$OUT" --export "$(dirname "$0")" --out RUN
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${{PYTHON:-python3}}" -m torch.distributed.run --nproc_per_node "${{NPROC:-2}}" --nnodes "${{NNODES:-1}}" --node_rank "${{NODE_RANK:-0}}" \
  --master_addr "${{MASTER_ADDR:-127.0.0.1}}" --master_port "${{MASTER_PORT:-29500}}" \
  "$here/{script}" --export "$here" --out "${{OUT:-./engine-run}}" \
  --backend "${{BACKEND:-gloo}}" --threads "${{THREADS:-1}}"{tp_arg} "$@"
"#
    )
}
