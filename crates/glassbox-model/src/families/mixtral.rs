//! `MixtralForCausalLM`: Mistral whose MLP is a sparse mixture of SwiGLU experts. A router
//! (`block_sparse_moe.gate`) scores every expert; each token goes to the `num_experts_per_tok`
//! most probable of `num_local_experts` (softmax over all, top-k, renormalised) and their
//! outputs are mixed by those weights. Training adds `router_aux_loss_coef` times the
//! load-balancing loss (Switch Transformer's: `E · Σₑ fₑ · Pₑ`, the fraction of routing choices
//! and the mean router probability of each expert, over all sparse layers' tokens).
//!
//! References: Jiang et al., "Mixtral of Experts" (2024, <https://arxiv.org/abs/2401.04088>);
//! Fedus et al., "Switch Transformers" (2021, <https://arxiv.org/abs/2101.03961>). Reference
//! implementation: transformers' `models/mixtral/modeling_mixtral.py` (including
//! `load_balancing_loss_func`). Expert tensors are read and written in the per-expert layout of
//! published checkpoints (`experts.{e}.w1` gate, `w3` up, `w2` down).

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Names, Traits};
use crate::Result;
use crate::config::hf_json::first_window;
use crate::config::{Fields, ModelConfig, MoeConfig};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        eps: 1e-5,
        max_position_embeddings: 4096 * 32,
        ..LLAMA_TRAITS
    },
    names: Names {
        moe: "block_sparse_moe",
        expert_gate: "w1",
        expert_up: "w3",
        expert_down: "w2",
        ..LLAMA_NAMES
    },
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    cfg.layer_attention = f.layer_attention(cfg.architecture, cfg.num_hidden_layers)?;
    let e = read_experts(f, &["num_local_experts"], 8)?;
    let k = read_top_k(f, e, 2)?;
    cfg.moe = Some(MoeConfig {
        num_experts: e,
        top_k: k,
        norm_topk_prob: true,
        expert_intermediate_size: cfg.intermediate_size,
        router_aux_loss_coef: read_aux(f, 0.001)?,
        sparse_layers: vec![true; cfg.num_hidden_layers],
    });
    Ok(())
}

/// The expert count from the first of `keys` present, else `default`.
pub(crate) fn read_experts(f: &Fields<'_>, keys: &[&str], default: usize) -> Result<usize> {
    for key in keys {
        if let Some(e) = f.opt_size(key)? {
            return Ok(e);
        }
    }
    Ok(default)
}

/// `num_experts_per_tok`, which must not exceed the expert count.
pub(crate) fn read_top_k(f: &Fields<'_>, experts: usize, default: usize) -> Result<usize> {
    let k = f.opt_size("num_experts_per_tok")?.unwrap_or(default);
    if k > experts {
        return Err(f.err(
            "num_experts_per_tok",
            format!("{k} experts per token, but only {experts} experts"),
        ));
    }
    Ok(k)
}

/// `router_aux_loss_coef`, non-negative.
pub(crate) fn read_aux(f: &Fields<'_>, default: f64) -> Result<f64> {
    match f.opt_f64("router_aux_loss_coef")? {
        Some(c) if c < 0.0 => {
            Err(f.err("router_aux_loss_coef", format!("{c} must not be negative")))
        }
        c => Ok(c.unwrap_or(default)),
    }
}

/// The expert fields every mixture writes.
pub(crate) fn write_moe(cfg: &ModelConfig, m: &mut Map<String, Value>, experts_key: &str) {
    if let Some(moe) = &cfg.moe {
        m.insert(experts_key.into(), json!(moe.num_experts));
        m.insert("num_experts_per_tok".into(), json!(moe.top_k));
        m.insert(
            "router_aux_loss_coef".into(),
            json!(moe.router_aux_loss_coef),
        );
        m.insert("output_router_logits".into(), json!(false));
    }
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("sliding_window".into(), json!(first_window(cfg)));
    write_moe(cfg, m, "num_local_experts");
}
