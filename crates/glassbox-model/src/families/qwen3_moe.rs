//! `Qwen3MoeForCausalLM`: Qwen3 attention (per-head QK-norm) with a sparse mixture of SwiGLU
//! experts of width `moe_intermediate_size` in every `decoder_sparse_step`-th layer not listed in
//! `mlp_only_layers` (the others keep a dense MLP of `intermediate_size`); top
//! `num_experts_per_tok` of `num_experts`, renormalised with `norm_topk_prob`.
//!
//! Reference: Qwen Team, "Qwen3 Technical Report" (2025, <https://arxiv.org/abs/2505.09388>);
//! transformers' `models/qwen3_moe/modeling_qwen3_moe.py`.

use serde_json::{Map, Value, json};

use super::mixtral::{read_aux, read_experts, read_top_k, write_moe};
use super::{Family, Traits};
use crate::Result;
use crate::config::{Fields, ModelConfig, MoeConfig};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        ..super::qwen3::FAMILY.traits
    },
    names: super::LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    cfg.layer_attention = f.layer_attention(cfg.architecture, cfg.num_hidden_layers)?;
    let layers = cfg.num_hidden_layers;
    let e = read_experts(f, &["num_experts", "num_local_experts"], 128)?;
    let step = f.opt_size("decoder_sparse_step")?.unwrap_or(1);
    let mut dense_only = vec![false; layers];
    if let Some(list) = f.get("mlp_only_layers") {
        let items = list.as_array().ok_or_else(|| {
            f.err(
                "mlp_only_layers",
                format!("expected a list of layer indices, found {list}"),
            )
        })?;
        for (i, v) in items.iter().enumerate() {
            match v.as_u64().and_then(|x| usize::try_from(x).ok()) {
                Some(l) if l < layers => dense_only[l] = true,
                _ => {
                    return Err(f.err(
                        "mlp_only_layers",
                        format!("entry {i} is {v}, not a layer index below {layers}"),
                    ));
                }
            }
        }
    }
    cfg.moe = Some(MoeConfig {
        num_experts: e,
        top_k: read_top_k(f, e, 8)?,
        norm_topk_prob: f.opt_bool("norm_topk_prob")?.unwrap_or(false),
        expert_intermediate_size: f.opt_size("moe_intermediate_size")?.unwrap_or(768),
        router_aux_loss_coef: read_aux(f, 0.001)?,
        sparse_layers: (0..layers)
            .map(|l| !dense_only[l] && (l + 1) % step == 0)
            .collect(),
    });
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    super::qwen3::write(cfg, m);
    write_moe(cfg, m, "num_experts");
    if let Some(moe) = &cfg.moe {
        m.insert("norm_topk_prob".into(), json!(moe.norm_topk_prob));
        m.insert(
            "moe_intermediate_size".into(),
            json!(moe.expert_intermediate_size),
        );
        m.insert("decoder_sparse_step".into(), json!(1));
        let dense: Vec<usize> = (0..cfg.num_hidden_layers)
            .filter(|&l| !moe.sparse_layers[l])
            .collect();
        m.insert("mlp_only_layers".into(), json!(dense));
    }
}
