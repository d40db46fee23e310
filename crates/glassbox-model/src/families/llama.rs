//! `LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`: the pre-norm decoder with
//! RMSNorm, RoPE, grouped-query attention and a SwiGLU MLP.
//!
//! References: Touvron et al., "LLaMA" (2023, <https://arxiv.org/abs/2302.13971>) and "Llama 2"
//! (<https://arxiv.org/abs/2307.09288>); Jiang et al., "Mistral 7B" (2023,
//! <https://arxiv.org/abs/2310.06825>, sliding-window attention); Qwen Team, "Qwen2 Technical
//! Report" (2024, <https://arxiv.org/abs/2407.10671>, q/k/v biases). Reference implementation:
//! transformers' `models/llama/modeling_llama.py`, `models/mistral/modeling_mistral.py`,
//! `models/qwen2/modeling_qwen2.py`.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS};
use crate::Result;
use crate::config::hf_json::first_window;
use crate::config::{Architecture, Fields, ModelConfig};

pub(crate) const FAMILY: Family = Family {
    traits: LLAMA_TRAITS,
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let arch = cfg.architecture;
    match arch {
        Architecture::Llama => {
            let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
            (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
            cfg.mlp_bias = f.opt_bool("mlp_bias")?.unwrap_or(false);
        }
        Architecture::Qwen2 => cfg.qkv_bias = true,
        _ => {}
    }
    if f.get("max_position_embeddings").is_none() {
        cfg.max_position_embeddings = match arch {
            Architecture::Mistral => 4096 * 32,
            Architecture::Qwen2 => 32768,
            _ => 2048,
        };
    }
    cfg.layer_attention = f.layer_attention(arch, cfg.num_hidden_layers)?;
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    match cfg.architecture {
        Architecture::Llama => {
            m.insert("attention_bias".into(), json!(cfg.qkv_bias));
            m.insert("mlp_bias".into(), json!(cfg.mlp_bias));
        }
        Architecture::Mistral => {
            m.insert("sliding_window".into(), json!(first_window(cfg)));
        }
        _ => qwen_windows(cfg, m),
    }
}

/// Qwen2/Qwen3's sliding-window fields: layers from `max_window_layers` on slide.
pub(crate) fn qwen_windows(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    let first_sliding = cfg
        .layer_attention
        .iter()
        .position(|a| matches!(a, crate::LayerAttention::Sliding(_)));
    m.insert("use_sliding_window".into(), json!(first_sliding.is_some()));
    m.insert("sliding_window".into(), json!(first_window(cfg)));
    m.insert(
        "max_window_layers".into(),
        json!(first_sliding.unwrap_or(cfg.num_hidden_layers)),
    );
}
