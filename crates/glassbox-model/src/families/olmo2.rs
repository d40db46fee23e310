//! `Olmo2ForCausalLM`: RMSNorm of each sublayer's output before the residual add (instead of its
//! input) and RMSNorm of the whole query and key projections before RoPE.
//!
//! Reference: Team OLMo, "2 OLMo 2 Furious" (2024, <https://arxiv.org/abs/2501.00656>);
//! transformers' `models/olmo2/modeling_olmo2.py`.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::{Fields, ModelConfig, QkNorm, Residual};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        residual: Residual::PostNorm,
        qk_norm: QkNorm::Whole,
        eps: 1e-5,
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
}
