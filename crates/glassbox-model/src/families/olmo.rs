//! `OlmoForCausalLM`: a LayerNorm without weight or bias (eps 1e-5) wherever Llama has an
//! RMSNorm, and q, k, v optionally clamped to `±clip_qkv`.
//!
//! Reference: Groeneveld et al., "OLMo: Accelerating the Science of Language Models" (2024,
//! <https://arxiv.org/abs/2402.00838>); transformers' `models/olmo/modeling_olmo.py`.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::{Fields, ModelConfig, NormKind};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        norm: NormKind::Parameterless,
        fixed_eps: Some(1e-5),
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    cfg.clip_qkv = read_clip(f)?;
    Ok(())
}

/// `clip_qkv`: absent or null for none, else a positive number.
pub(crate) fn read_clip(f: &Fields<'_>) -> Result<Option<f64>> {
    match f.opt_f64("clip_qkv")? {
        Some(c) if !(c > 0.0 && c.is_finite()) => {
            Err(f.err("clip_qkv", format!("{c} must be positive")))
        }
        c => Ok(c),
    }
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
    m.insert("clip_qkv".into(), json!(cfg.clip_qkv));
}
