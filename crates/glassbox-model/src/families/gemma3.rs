//! `Gemma3ForCausalLM`, the text model of Gemma 3: Gemma 2's block (scaled embeddings, `(1 + w)`
//! RMSNorm around both sublayers, GeGLU, `query_pre_attn_scalar`) without soft-capping by
//! default, with a `(1 + w)` RMSNorm over each query and key head, five sliding-window layers per
//! global one (`sliding_window_pattern`, or `layer_types`), and a separate RoPE base for the
//! sliding layers (`rope_local_base_freq` in 4.x, `rope_parameters.sliding_attention` in 5.x;
//! `rope_scaling` applies to the global layers only).
//!
//! Reference: Gemma Team, "Gemma 3 Technical Report" (2025, <https://arxiv.org/abs/2503.19786>);
//! transformers' `models/gemma3/modeling_gemma3.py`.

use serde_json::{Map, Value, json};

use super::{Family, Traits};
use crate::Result;
use crate::config::{Fields, ModelConfig, QkNorm};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        qk_norm: QkNorm::PerHead,
        max_position_embeddings: 131072,
        ..super::gemma2::FAMILY.traits
    },
    names: super::LLAMA_NAMES,
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    super::gemma2::read_gemma(f, cfg, None, None)?;
    cfg.local_rope = Some(f.local_rope()?);
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    super::gemma2::write(cfg, m);
    if let Some((theta, _)) = &cfg.local_rope {
        m.insert("rope_local_base_freq".into(), json!(theta));
    }
}
