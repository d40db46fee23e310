//! `Phi3ForCausalLM` (Phi-3, Phi-3.5, Phi-4-mini): Llama with q/k/v fused into `qkv_proj` (rows
//! `[q; k; v]`), gate and up fused into `gate_up_proj` (rows `[gate; up]`), LongRoPE scaling
//! (`rope_scaling.type` `longrope`, formerly `su`) and an optional partial rotary factor.
//!
//! References: Abdin et al., "Phi-3 Technical Report" (2024, <https://arxiv.org/abs/2404.14219>);
//! Ding et al., "LongRoPE: Extending LLM Context Window Beyond 2 Million Tokens" (2024,
//! <https://arxiv.org/abs/2402.13753>). Reference implementation: transformers'
//! `models/phi3/modeling_phi3.py` and `_compute_longrope_parameters` in `modeling_rope_utils.py`.
//!
//! LongRoPE picks its frequencies per call in transformers (long factors once any position of
//! the call reaches `original_max_position_embeddings`); glassbox decides per sequence, so a
//! sequence's result does not depend on the batch it runs in.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::hf_json::first_window;
use crate::config::{Fields, MlpLayout, ModelConfig, QkvLayout, RopeScaling};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        qkv_layout: QkvLayout::Fused,
        mlp_layout: MlpLayout::FusedGated,
        eps: 1e-5,
        max_position_embeddings: 4096,
        partial_rotary: true,
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    cfg.layer_attention = f.layer_attention(cfg.architecture, cfg.num_hidden_layers)?;
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("sliding_window".into(), json!(first_window(cfg)));
    m.insert(
        "partial_rotary_factor".into(),
        json!(cfg.rotary_dim as f64 / cfg.head_dim as f64),
    );
    if let RopeScaling::LongRope {
        original_max_position_embeddings,
        ..
    } = &cfg.rope_scaling
    {
        m.insert(
            "original_max_position_embeddings".into(),
            json!(original_max_position_embeddings),
        );
    }
}
