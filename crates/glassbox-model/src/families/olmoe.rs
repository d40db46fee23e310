//! `OlmoeForCausalLM`: OLMo-style attention with an RMSNorm over the whole query and key
//! projections (then optional `clip_qkv`), and a sparse mixture of SwiGLU experts
//! (`num_experts`, default 64, top `num_experts_per_tok`, default 8; probabilities renormalised
//! only with `norm_topk_prob`).
//!
//! Reference: Muennighoff et al., "OLMoE: Open Mixture-of-Experts Language Models" (2024,
//! <https://arxiv.org/abs/2409.02060>); transformers' `models/olmoe/modeling_olmoe.py`.

use serde_json::{Map, Value, json};

use super::mixtral::{read_aux, read_experts, read_top_k, write_moe};
use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::{Fields, ModelConfig, MoeConfig, QkNorm};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        qk_norm: QkNorm::Whole,
        eps: 1e-5,
        max_position_embeddings: 4096,
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    cfg.clip_qkv = super::olmo::read_clip(f)?;
    let e = read_experts(f, &["num_experts", "num_local_experts"], 64)?;
    cfg.moe = Some(MoeConfig {
        num_experts: e,
        top_k: read_top_k(f, e, 8)?,
        norm_topk_prob: f.opt_bool("norm_topk_prob")?.unwrap_or(false),
        expert_intermediate_size: cfg.intermediate_size,
        router_aux_loss_coef: read_aux(f, 0.01)?,
        sparse_layers: vec![true; cfg.num_hidden_layers],
    });
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
    m.insert("clip_qkv".into(), json!(cfg.clip_qkv));
    write_moe(cfg, m, "num_experts");
    if let Some(moe) = &cfg.moe {
        m.insert("norm_topk_prob".into(), json!(moe.norm_topk_prob));
    }
}
