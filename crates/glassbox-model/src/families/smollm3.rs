//! `SmolLM3ForCausalLM`: Llama with no position encoding in every `no_rope_layer_interval`-th
//! layer ("NoPE"), optional attention and MLP biases.
//!
//! References: Hugging Face, "SmolLM3: smol, multilingual, long-context reasoner" (2025); NoPE
//! after Kazemnejad et al., "The Impact of Positional Encoding on Length Generalization in
//! Transformers" (2023, <https://arxiv.org/abs/2305.19466>). Reference implementation:
//! transformers' `models/smollm3/modeling_smollm3.py`.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::hf_json::{first_window, layer_types};
use crate::config::{Fields, ModelConfig};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        max_position_embeddings: 32768,
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    cfg.mlp_bias = f.opt_bool("mlp_bias")?.unwrap_or(false);
    cfg.layer_rope = f.layer_rope(cfg.architecture, cfg.num_hidden_layers)?;
    cfg.layer_attention = f.layer_attention(cfg.architecture, cfg.num_hidden_layers)?;
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
    m.insert("mlp_bias".into(), json!(cfg.mlp_bias));
    let no_rope: Vec<u8> = cfg.layer_rope.iter().map(|&r| u8::from(r)).collect();
    m.insert("no_rope_layers".into(), json!(no_rope));
    let window = first_window(cfg);
    m.insert("use_sliding_window".into(), json!(window.is_some()));
    m.insert("sliding_window".into(), json!(window));
    m.insert("layer_types".into(), layer_types(cfg));
}
