//! Every recipe key and its counterpart in each engine; keys without one are refused, naming
//! the key.

use std::path::Path;

use glassbox_model::config::{
    Activation, Architecture, MlpLayout, ModelConfig, NormKind, QkNorm, QkvLayout, Residual,
    RopeScaling,
};
use serde_json::json;

use super::{Engine, Mapping, refuse};
use crate::Result;
use crate::recipe::{Decay, Recipe};

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

/// Refuses what the engine's loop does not do, then lists every setting with its counterpart.
pub(super) fn mapping(r: &Recipe, path: &Path, total: u64, engine: Engine) -> Result<Vec<Mapping>> {
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
