//! OLMo-core's side of a hand-off: its configuration files for the model, the dataset and the
//! train module, and the names of its parameters.
//!
//! OLMo-core (the `ai2-olmo-core` package) builds everything from config dataclasses that it
//! serialises as JSON with a `_CLASS_` field per object; [`model_config`], [`dataset_config`] and
//! [`train_module_config`] write exactly what `TransformerConfig.from_file`,
//! `NumpyFSLDatasetConfig.from_file` and `TransformerTrainModuleConfig.from_file` read back.
//! [`parameter_names`] pairs each Hugging Face tensor name with OLMo-core's: [`to_olmo_core`]
//! writes glassbox weights under OLMo-core's names, [`from_olmo_core`] reads an unsharded
//! OLMo-core checkpoint back into Hugging Face names.
//!
//! Only the plain Llama block has a one-to-one counterpart (pre-norm RMSNorm, separate q/k/v/o
//! without biases, SiLU-gated MLP, full-dimension RoPE without scaling):
//! [`crate::export::plain_llama_gap`] names the first feature of any other model.

use std::path::Path;

use candle_core::{Device, Tensor};
use glassbox_model::config::ModelConfig;
use serde_json::{Value, json};

use crate::{Result, TrainError};

/// A number OLMo-core's int-typed fields accept: integral floats as integers.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// `olmo_core/model.json`: a `TransformerConfig` (the Llama-like block).
pub fn model_config(cfg: &ModelConfig) -> Value {
    let norm = json!({
        "name": "rms", "eps": cfg.rms_norm_eps, "bias": false, "dtype": "float32",
        "_CLASS_": "olmo_core.nn.layer_norm.LayerNormConfig",
    });
    json!({
        "d_model": cfg.hidden_size,
        "vocab_size": cfg.vocab_size,
        "n_layers": cfg.num_hidden_layers,
        "block": {
            "sequence_mixer": {
                "name": "default",
                "n_heads": cfg.num_attention_heads,
                "n_kv_heads": cfg.num_key_value_heads,
                "head_dim": cfg.head_dim,
                "bias": false,
                "rope": {
                    "name": "default", "theta": number(cfg.rope_theta), "full_precision": true,
                    "no_global_rope": false, "partial_rotary_factor": 1.0,
                    "_CLASS_": "olmo_core.nn.rope.RoPEConfig",
                },
                "dtype": "float32",
                "scalable_softmax": false,
                "attention_sinks": false,
                "_CLASS_": "olmo_core.nn.attention.AttentionConfig",
                "type": "attention",
            },
            "layer_norm": norm,
            "feed_forward": {
                "hidden_size": cfg.intermediate_size, "name": "default", "bias": false,
                "activation": "silu", "_CLASS_": "olmo_core.nn.feed_forward.FeedForwardConfig",
            },
            "name": "default",
            "_CLASS_": "olmo_core.nn.transformer.config.TransformerBlockConfig",
        },
        "lm_head": {
            "name": "default", "layer_norm": norm, "bias": false, "dtype": "float32",
            "loss_implementation": "default", "_CLASS_": "olmo_core.nn.lm_head.LMHeadConfig",
        },
        "name": "default",
        "dtype": "float32",
        "init_method": "normal",
        "init_seed": 0,
        "init_std": 0.02,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "_CLASS_": "olmo_core.nn.transformer.config.TransformerConfig",
    })
}

/// `olmo_core/dataset.json`: a `NumpyFSLDatasetConfig` over `path` (relative to the export),
/// instances of `sequence_length` tokens stored as uint32.
pub fn dataset_config(path: &str, sequence_length: usize, vocab: usize, eos: u32) -> Value {
    json!({
        "tokenizer": {
            "vocab_size": vocab, "eos_token_id": eos, "pad_token_id": eos,
            "_CLASS_": "olmo_core.data.tokenizer.TokenizerConfig",
        },
        "paths": [path],
        "expand_glob": false,
        "dtype": "uint32",
        "include_instance_metadata": true,
        "ignore_fingerprint_mismatch": false,
        "sequence_length": sequence_length,
        "generate_doc_lengths": false,
        "_CLASS_": "olmo_core.data.numpy_dataset.NumpyFSLDatasetConfig",
    })
}

/// The settings of `olmo_core/train_module.json`.
#[derive(Debug, Clone)]
pub struct TrainModule {
    /// Tokens one rank puts through the model at once.
    pub rank_microbatch_tokens: usize,
    /// Tokens per instance.
    pub sequence_length: usize,
    /// The first step's learning rate (the launcher sets every step's).
    pub lr: f64,
    /// AdamW's betas.
    pub betas: [f64; 2],
    /// AdamW's epsilon.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Whether norm weights are decayed too.
    pub decay_norms: bool,
    /// Global-norm clipping, if any.
    pub max_grad_norm: Option<f64>,
}

/// `olmo_core/train_module.json`: a `TransformerTrainModuleConfig` (AdamW, its parameter groups,
/// clipping, FSDP in float32).
pub fn train_module_config(t: &TrainModule) -> Value {
    let overrides = if t.decay_norms {
        json!([])
    } else {
        json!([{
            "params": ["*norm.weight"], "opts": {"weight_decay": 0.0},
            "_CLASS_": "olmo_core.optim.config.OptimGroupOverride",
        }])
    };
    json!({
        "rank_microbatch_size": t.rank_microbatch_tokens,
        "max_sequence_length": t.sequence_length,
        "optim": {
            "group_overrides": overrides,
            "compile": false,
            "fixed_fields": ["initial_lr"],
            "lr": t.lr,
            "betas": t.betas,
            "eps": t.eps,
            "weight_decay": t.weight_decay,
            "_CLASS_": "olmo_core.optim.adamw.AdamWConfig",
            "type": "adamw",
        },
        "max_grad_norm": t.max_grad_norm,
        "compile_model": false,
        "dp_config": {
            "name": "fsdp", "param_dtype": "float32", "reduce_dtype": "float32",
            "wrapping_strategy": "full", "prefetch_factor": 0,
            "only_allreduce_last_microbatch": true, "reduce_grads_in_fp32": true,
            "accumulate_grads_in_fp32": true, "use_reduce_scatter": false,
            "_CLASS_": "olmo_core.train.train_module.transformer.config.TransformerDataParallelConfig",
        },
        "label_ignore_index": -100,
        "_CLASS_": "olmo_core.train.train_module.transformer.config.TransformerTrainModuleConfig",
    })
}

/// Every parameter as (Hugging Face name, OLMo-core name). A tied model's OLMo-core state still
/// lists `lm_head.w_out.weight` (the embedding under a second name); it is paired with the
/// embedding here.
pub fn parameter_names(cfg: &ModelConfig) -> Vec<(String, String)> {
    let mut names = vec![(
        "model.embed_tokens.weight".to_string(),
        "embeddings.weight".to_string(),
    )];
    for i in 0..cfg.num_hidden_layers {
        let hf = |s: &str| format!("model.layers.{i}.{s}.weight");
        let oc = |s: &str| format!("blocks.{i}.{s}.weight");
        for (h, o) in [
            ("self_attn.q_proj", "attention.w_q"),
            ("self_attn.k_proj", "attention.w_k"),
            ("self_attn.v_proj", "attention.w_v"),
            ("self_attn.o_proj", "attention.w_out"),
            ("input_layernorm", "attention_norm"),
            ("mlp.gate_proj", "feed_forward.w1"),
            ("mlp.down_proj", "feed_forward.w2"),
            ("mlp.up_proj", "feed_forward.w3"),
            ("post_attention_layernorm", "feed_forward_norm"),
        ] {
            names.push((hf(h), oc(o)));
        }
    }
    names.push(("model.norm.weight".into(), "lm_head.norm.weight".into()));
    let head = if cfg.tie_word_embeddings {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    };
    names.push((head.into(), "lm_head.w_out.weight".into()));
    names
}

fn missing(path: &Path, name: &str) -> TrainError {
    TrainError::Run {
        path: path.to_path_buf(),
        message: format!("has no tensor `{name}`"),
    }
}

/// Writes `tensors` (Hugging Face names) under OLMo-core's names into one safetensors file.
pub fn to_olmo_core(cfg: &ModelConfig, tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let mut out = Vec::new();
    for (hf, oc) in parameter_names(cfg) {
        let t = tensors
            .iter()
            .find(|(n, _)| *n == hf)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| missing(path, &hf))?;
        out.push((oc, t));
    }
    glassbox_model::weights::write_safetensors_file(path, &out)?;
    Ok(())
}

/// Reads an unsharded OLMo-core checkpoint (`unshard_checkpoint(..., use_safetensors=True)`)
/// into Hugging Face names (the tied head is checked equal to the embedding, then dropped).
pub fn from_olmo_core(cfg: &ModelConfig, path: &Path) -> Result<Vec<(String, Tensor)>> {
    let f = glassbox_model::safetensors_io::SafetensorsFile::open(path)?;
    let names = parameter_names(cfg);
    if let Some(extra) = f
        .tensors()
        .keys()
        .find(|k| !names.iter().any(|(_, oc)| oc == *k))
    {
        return Err(TrainError::Run {
            path: path.to_path_buf(),
            message: format!("holds `{extra}`, which this model does not have"),
        });
    }
    let mut out: Vec<(String, Tensor)> = Vec::new();
    for (hf, oc) in names {
        if !f.tensors().contains_key(&oc) {
            return Err(missing(path, &oc));
        }
        let t = f.load_f32(&oc, &Device::Cpu)?;
        if let Some((_, first)) = out.iter().find(|(n, _)| *n == hf) {
            // The tied head: the same tensor stored twice.
            let differ = (first - &t)?.abs()?.max_all()?.to_scalar::<f32>()?;
            if differ != 0.0 {
                return Err(TrainError::Run {
                    path: path.to_path_buf(),
                    message: format!(
                        "`{oc}` differs from the embedding it is tied to (max |diff| {differ})"
                    ),
                });
            }
            continue;
        }
        out.push((hf, t));
    }
    Ok(out)
}
