//! `Gemma2ForCausalLM`: embeddings scaled by `sqrt(hidden_size)`, `(1 + w)` RMSNorm before and
//! after both sublayers, a GeGLU MLP (tanh GeLU), attention scores scaled by
//! `query_pre_attn_scalar^-½` and soft-capped (`cap · tanh(s / cap)`), output logits soft-capped,
//! and sliding-window layers alternating with global ones.
//!
//! Reference: Gemma Team, "Gemma 2: Improving Open Language Models at a Practical Size" (2024,
//! <https://arxiv.org/abs/2408.00118>); transformers' `models/gemma2/modeling_gemma2.py`.

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Traits};
use crate::Result;
use crate::config::hf_json::{first_window, layer_types};
use crate::config::{Activation, Fields, ModelConfig, NormKind, Residual};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        norm: NormKind::RmsPlusOne,
        residual: Residual::Sandwich,
        embed_scale: true,
        act_keys: &["hidden_activation", "hidden_act"],
        act: Activation::GeluTanh,
        max_position_embeddings: 8192,
        tie_word_embeddings: true,
        ..LLAMA_TRAITS
    },
    names: LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    read_gemma(f, cfg, Some(50.0), Some(30.0))
}

/// The fields Gemma 2 and 3 share; the soft-capping defaults differ.
pub(crate) fn read_gemma(
    f: &Fields<'_>,
    cfg: &mut ModelConfig,
    attn_cap: Option<f64>,
    final_cap: Option<f64>,
) -> Result<()> {
    let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
    (cfg.qkv_bias, cfg.o_bias) = (ab, ab);
    if f.get("head_dim").is_none() {
        return Err(f.err("head_dim", "missing (Gemma configs give it)".into()));
    }
    cfg.query_pre_attn_scalar = Some(match f.opt_f64("query_pre_attn_scalar")? {
        Some(q) if q > 0.0 => q,
        Some(q) => return Err(f.err("query_pre_attn_scalar", format!("{q} must be positive"))),
        None => 256.0,
    });
    cfg.attn_logit_softcapping = f.nullable_f64("attn_logit_softcapping", attn_cap)?;
    cfg.final_logit_softcapping = f.nullable_f64("final_logit_softcapping", final_cap)?;
    cfg.layer_attention = f.layer_attention(cfg.architecture, cfg.num_hidden_layers)?;
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.insert("hidden_activation".into(), json!(cfg.hidden_act.hf_name()));
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
    // transformers 5 types it as an integer (Gemma's values are: 224, 256).
    let scalar = match cfg.query_pre_attn_scalar {
        Some(q) if q.fract() == 0.0 && q <= u32::MAX as f64 => json!(q as u64),
        other => json!(other),
    };
    m.insert("query_pre_attn_scalar".into(), scalar);
    m.insert(
        "attn_logit_softcapping".into(),
        json!(cfg.attn_logit_softcapping),
    );
    m.insert(
        "final_logit_softcapping".into(),
        json!(cfg.final_logit_softcapping),
    );
    m.insert("sliding_window".into(), json!(first_window(cfg)));
    m.insert("layer_types".into(), layer_types(cfg));
}
