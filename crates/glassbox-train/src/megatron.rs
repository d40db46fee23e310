//! Megatron-Core's side of a hand-off: the model description its `TransformerConfig` and
//! `GPTModel` are built from, and its parameter names and layouts.
//!
//! Megatron-Core (the `megatron-core` package, NVIDIA's Megatron library) fuses what Hugging Face
//! keeps apart: `linear_qkv` holds, for each query group in turn, that group's query heads, then
//! its key head, then its value head (so a tensor-parallel rank's contiguous slice is whole
//! groups), and `linear_fc1` holds the gate projection above the up projection. [`to_megatron`]
//! and [`from_megatron`] convert between the two, losslessly; [`model_config`] writes
//! `megatron/model.json`.

use std::path::Path;

use candle_core::{Device, Tensor};
use glassbox_model::config::ModelConfig;
use serde_json::{Value, json};

use crate::{Result, TrainError};

/// `megatron/model.json`: `transformer` (the `TransformerConfig` fields, with the Megatron-LM
/// flag each corresponds to in `megatron_lm_flags`) and `gpt` (the `GPTModel` arguments).
pub fn model_config(cfg: &ModelConfig) -> Value {
    let mut flags = vec![
        format!("--num-layers {}", cfg.num_hidden_layers),
        format!("--hidden-size {}", cfg.hidden_size),
        format!("--ffn-hidden-size {}", cfg.intermediate_size),
        format!("--num-attention-heads {}", cfg.num_attention_heads),
        "--group-query-attention".to_string(),
        format!("--num-query-groups {}", cfg.num_key_value_heads),
        format!("--kv-channels {}", cfg.head_dim),
        "--normalization RMSNorm".to_string(),
        format!("--norm-epsilon {}", cfg.rms_norm_eps),
        "--swiglu".to_string(),
        "--disable-bias-linear".to_string(),
        "--position-embedding-type rope".to_string(),
        format!("--rotary-base {}", cfg.rope_theta),
        format!("--max-position-embeddings {}", cfg.max_position_embeddings),
    ];
    if !cfg.tie_word_embeddings {
        flags.push("--untie-embeddings-and-output-weights".into());
    }
    json!({
        "transformer": {
            "num_layers": cfg.num_hidden_layers,
            "hidden_size": cfg.hidden_size,
            "ffn_hidden_size": cfg.intermediate_size,
            "num_attention_heads": cfg.num_attention_heads,
            "num_query_groups": cfg.num_key_value_heads,
            "kv_channels": cfg.head_dim,
            "normalization": "RMSNorm",
            "layernorm_epsilon": cfg.rms_norm_eps,
            "gated_linear_unit": true,
            "activation": "silu",
            "add_bias_linear": false,
        },
        "gpt": {
            "vocab_size": cfg.vocab_size,
            "max_sequence_length": cfg.max_position_embeddings,
            "share_embeddings_and_output_weights": cfg.tie_word_embeddings,
            "position_embedding_type": "rope",
            "rotary_base": cfg.rope_theta,
            "rotary_percent": 1.0,
        },
        "megatron_lm_flags": flags,
    })
}

/// The Hugging Face tensors one Megatron-Core parameter is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parts {
    /// The same tensor under another name.
    One(String),
    /// `linear_qkv`: the query, key and value projections, fused per query group.
    Qkv(String, String, String),
    /// `linear_fc1`: the gate projection above the up projection.
    GateUp(String, String),
}

/// Every parameter as (Megatron-Core name, the Hugging Face tensors it is made of).
pub fn parameter_names(cfg: &ModelConfig) -> Vec<(String, Parts)> {
    let mut names = vec![(
        "embedding.word_embeddings.weight".to_string(),
        Parts::One("model.embed_tokens.weight".to_string()),
    )];
    for i in 0..cfg.num_hidden_layers {
        let hf = |s: &str| format!("model.layers.{i}.{s}.weight");
        let mc = |s: &str| format!("decoder.layers.{i}.{s}.weight");
        names.push((mc("input_layernorm"), Parts::One(hf("input_layernorm"))));
        names.push((
            mc("self_attention.linear_qkv"),
            Parts::Qkv(
                hf("self_attn.q_proj"),
                hf("self_attn.k_proj"),
                hf("self_attn.v_proj"),
            ),
        ));
        names.push((
            mc("self_attention.linear_proj"),
            Parts::One(hf("self_attn.o_proj")),
        ));
        names.push((
            mc("pre_mlp_layernorm"),
            Parts::One(hf("post_attention_layernorm")),
        ));
        names.push((
            mc("mlp.linear_fc1"),
            Parts::GateUp(hf("mlp.gate_proj"), hf("mlp.up_proj")),
        ));
        names.push((mc("mlp.linear_fc2"), Parts::One(hf("mlp.down_proj"))));
    }
    names.push((
        "decoder.final_layernorm.weight".into(),
        Parts::One("model.norm.weight".into()),
    ));
    if !cfg.tie_word_embeddings {
        names.push((
            "output_layer.weight".into(),
            Parts::One("lm_head.weight".into()),
        ));
    }
    names
}

/// (query groups, query heads per group, head dimension).
fn groups(cfg: &ModelConfig) -> (usize, usize, usize) {
    let g = cfg.num_key_value_heads.max(1);
    (g, cfg.num_attention_heads / g, cfg.head_dim)
}

/// Writes `tensors` (Hugging Face names) in Megatron-Core's names and layouts into one
/// safetensors file.
pub fn to_megatron(cfg: &ModelConfig, tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let get = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| TrainError::Run {
                path: path.to_path_buf(),
                message: format!("the model has no tensor `{name}`"),
            })
    };
    let (g, per, d) = groups(cfg);
    let h = cfg.hidden_size;
    let mut out = Vec::new();
    for (mc, hf) in parameter_names(cfg) {
        let t = match &hf {
            Parts::Qkv(q, k, v) => {
                // Per query group: its query heads, its key head, its value head.
                let q = get(q)?.reshape((g, per * d, h))?;
                let k = get(k)?.reshape((g, d, h))?;
                let v = get(v)?.reshape((g, d, h))?;
                Tensor::cat(&[q, k, v], 1)?.reshape((g * (per + 2) * d, h))?
            }
            Parts::GateUp(gate, up) => Tensor::cat(&[get(gate)?, get(up)?], 0)?,
            Parts::One(one) => get(one)?,
        };
        out.push((mc, t.contiguous()?));
    }
    glassbox_model::weights::write_safetensors_file(path, &out)?;
    Ok(())
}

/// Reads full (gathered) Megatron-Core tensors back into Hugging Face names.
pub fn from_megatron(cfg: &ModelConfig, path: &Path) -> Result<Vec<(String, Tensor)>> {
    let f = glassbox_model::safetensors_io::SafetensorsFile::open(path)?;
    let names = parameter_names(cfg);
    let bad = |message: String| TrainError::Run {
        path: path.to_path_buf(),
        message,
    };
    if let Some(extra) = f
        .tensors()
        .keys()
        .find(|k| !names.iter().any(|(mc, _)| mc == *k))
    {
        return Err(bad(format!(
            "holds `{extra}`, which this model does not have"
        )));
    }
    let (g, per, d) = groups(cfg);
    let (h, ffn) = (cfg.hidden_size, cfg.intermediate_size);
    let mut out = Vec::new();
    for (mc, hf) in names {
        if !f.tensors().contains_key(&mc) {
            return Err(bad(format!("has no tensor `{mc}`")));
        }
        let t = f.load_f32(&mc, &Device::Cpu)?;
        let shape_is = |want: &[usize]| -> Result<()> {
            if t.dims() == want {
                Ok(())
            } else {
                Err(bad(format!(
                    "`{mc}` has shape {:?}, the model needs {want:?}",
                    t.dims()
                )))
            }
        };
        match hf {
            Parts::Qkv(q, k, v) => {
                shape_is(&[g * (per + 2) * d, h])?;
                let t = t.reshape((g, (per + 2) * d, h))?;
                out.push((
                    q.clone(),
                    t.narrow(1, 0, per * d)?
                        .contiguous()?
                        .reshape((g * per * d, h))?,
                ));
                out.push((
                    k.clone(),
                    t.narrow(1, per * d, d)?.contiguous()?.reshape((g * d, h))?,
                ));
                out.push((
                    v.clone(),
                    t.narrow(1, per * d + d, d)?
                        .contiguous()?
                        .reshape((g * d, h))?,
                ));
            }
            Parts::GateUp(gate, up) => {
                shape_is(&[2 * ffn, h])?;
                out.push((gate.clone(), t.narrow(0, 0, ffn)?.contiguous()?));
                out.push((up.clone(), t.narrow(0, ffn, ffn)?.contiguous()?));
            }
            Parts::One(one) => out.push((one, t)),
        }
    }
    Ok(out)
}
