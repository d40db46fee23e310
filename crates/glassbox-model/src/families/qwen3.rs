//! `Qwen3ForCausalLM`: Qwen2 without q/k/v biases (optional `attention_bias`), an explicit
//! `head_dim`, and an RMSNorm over each query and key head before RoPE.
//!
//! Reference: Qwen Team, "Qwen3 Technical Report" (2025, <https://arxiv.org/abs/2505.09388>);
//! transformers' `models/qwen3/modeling_qwen3.py`.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::{Fields, ModelConfig, QkNorm};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        qk_norm: QkNorm::PerHead,
        max_position_embeddings: 32768,
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    cfg.layer_attention = f.layer_attention(cfg.architecture, cfg.num_hidden_layers)?;
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
    super::llama::qwen_windows(cfg, m);
}
