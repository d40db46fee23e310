//! The files of an export: the step-0 model directory, the data in the engine's format with
//! glassbox's order, the engine's own configs and weights, the recipe, the script and its
//! launcher.

use std::io::Write as _;
use std::path::Path;

use glassbox_data::dataset::Dataset;
use glassbox_model::{ModelConfig, SaveDtype, Transformer};
use serde_json::Value;

use super::{Engine, io, refuse};
use crate::data::TrainData;
use crate::optim::learning_rate;
use crate::recipe::Recipe;
use crate::{Result, megatron, olmo_core};

/// What the export is of.
pub(super) struct Plan<'a> {
    pub recipe: &'a Recipe,
    pub cfg: &'a ModelConfig,
    pub engine: Engine,
    pub eos: u32,
    /// Positions of the data order (steps × batch size).
    pub positions: u64,
}

/// What `export.json` records of the files.
pub(super) struct Written {
    pub recipe_sha256: String,
    /// Training samples of one epoch.
    pub samples: u64,
    pub train_tokens: u64,
    pub heldout_tokens: u64,
}

/// Writes every file of the export but `export.json` into `tmp`.
pub(super) fn write_all(plan: &Plan<'_>, data: TrainData, tmp: &Path) -> Result<Written> {
    for d in ["model", "data"] {
        std::fs::create_dir_all(tmp.join(d)).map_err(|e| io(tmp, e))?;
    }
    let model = write_model_dir(plan, &data, &tmp.join("model"))?;
    let l = plan.recipe.train.seq_len;
    // The mapping refuses chat datasets before anything is written.
    let TrainData::Tokens(mut dataset) = data else {
        return Err(refuse(
            &plan.recipe.data.dataset,
            "data.dataset",
            "it is a chat dataset",
        ));
    };
    let ds = &mut dataset;
    let samples = ds.num_samples(l);
    match plan.engine {
        Engine::TorchFsdp => {
            // The token stream of the train split, then the sample of every position.
            write_split(ds, "train", &tmp.join("data/tokens.bin"))?;
            let path = tmp.join("data/order.bin");
            write_order(ds, plan, samples, &path, &mut |_, index, w| {
                w.write_all(&index.to_le_bytes())
            })?;
        }
        Engine::OlmoCore | Engine::Megatron => {
            // The window of every position, in order: the engine reads them unshuffled (raw u32
            // for OLMo-core's numpy arrays; the same bytes are a Megatron `.bin` of int32).
            let file = match plan.engine {
                Engine::OlmoCore => "data/instances.npy",
                _ => "data/instances.bin",
            };
            let mut window = Vec::with_capacity((l + 1) * 4);
            write_order(ds, plan, samples, &tmp.join(file), &mut |ds, index, w| {
                window.clear();
                let tokens = ds
                    .read("train", index * l as u64, l + 1)
                    .map_err(std::io::Error::other)?;
                tokens
                    .iter()
                    .for_each(|t| window.extend_from_slice(&t.to_le_bytes()));
                w.write_all(&window)
            })?;
            if plan.engine == Engine::OlmoCore {
                write_olmo_core_configs(plan, &model, tmp)?;
            } else {
                write_megatron(plan, &model, tmp)?;
            }
        }
    }
    // The held-out split, for the evaluations during training.
    let heldout_tokens = write_split(ds, "heldout", &tmp.join("data/heldout.bin"))?;
    // The recipe, the script and its launcher.
    let resolved = toml::to_string(plan.recipe).map_err(|e| crate::TrainError::Recipe {
        path: tmp.join("recipe.toml"),
        message: e.to_string(),
    })?;
    glassbox_core::fsio::atomic_write(&tmp.join("recipe.toml"), resolved.as_bytes())?;
    let (script, text) = plan.engine.script();
    for (name, text) in [(script, text), ("engine_common.py", super::ENGINE_COMMON)] {
        std::fs::write(tmp.join(name), text).map_err(|e| io(tmp, e))?;
    }
    let launch = tmp.join("launch.sh");
    std::fs::write(&launch, launch_script(plan.engine)).map_err(|e| io(&launch, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&launch, std::fs::Permissions::from_mode(0o755));
    }
    Ok(Written {
        recipe_sha256: glassbox_core::hash::sha256_hex(resolved.as_bytes()),
        samples,
        train_tokens: ds.tokens_in("train"),
        heldout_tokens,
    })
}

/// `model/`: the step-0 weights in Hugging Face layout (glassbox's step-0 checkpoint, byte for
/// byte), with the tokenizer and generation files glassbox's own checkpoints carry. Returns
/// the model.
fn write_model_dir(plan: &Plan<'_>, data: &TrainData, dir: &Path) -> Result<Transformer> {
    let model = crate::trainer::initial_model(plan.recipe, plan.cfg, &candle_core::Device::Cpu)?;
    model.save(dir, SaveDtype::F32, u64::MAX)?;
    crate::trainer::write_tokenizer_files(data, plan.cfg, plan.eos, dir)?;
    Ok(model)
}

/// `megatron/`: the model description, the step-0 weights in Megatron-Core's layouts, and the
/// `.idx` of `data/instances.bin` (sequences of `seq_len + 1` int32 tokens).
fn write_megatron(plan: &Plan<'_>, model: &Transformer, tmp: &Path) -> Result<()> {
    let idx = tmp.join("data/instances.idx");
    glassbox_core::fsio::atomic_write(
        &idx,
        &glassbox_data::interop::megatron_index_fixed(
            plan.positions,
            plan.recipe.train.seq_len + 1,
            4,
        ),
    )?;
    let dir = tmp.join("megatron");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    glassbox_core::fsio::write_json_atomic(
        &dir.join("model.json"),
        &megatron::model_config(plan.cfg),
    )?;
    megatron::to_megatron(
        plan.cfg,
        &model.named_tensors(),
        &dir.join("model.safetensors"),
    )
}

/// Writes one record per position of the data order into `path`: `record(dataset, sample
/// index, writer)`. One epoch at a time: each epoch's permutation is computed once, and no more
/// than one epoch of indices sits in memory.
fn write_order(
    ds: &mut Dataset,
    plan: &Plan<'_>,
    samples: u64,
    path: &Path,
    record: &mut dyn FnMut(&mut Dataset, u64, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    let positions = plan.positions;
    let (seq_len, seed) = (plan.recipe.train.seq_len, plan.recipe.data.seed);
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
fn write_olmo_core_configs(plan: &Plan<'_>, model: &Transformer, tmp: &Path) -> Result<()> {
    let (recipe, cfg, eos) = (plan.recipe, plan.cfg, plan.eos);
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
    olmo_core::to_olmo_core(cfg, &model.named_tensors(), &dir.join("model.safetensors"))
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
    let needs = engine.packages();
    let (what, tp_doc, tp_arg) = match engine {
        Engine::TorchFsdp => ("PyTorch FSDP", "", ""),
        Engine::OlmoCore => ("OLMo-core's Trainer", "", ""),
        Engine::Megatron => (
            "Megatron-Core's GPTModel",
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
