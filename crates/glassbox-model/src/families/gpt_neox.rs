//! `GPTNeoXForCausalLM` (Pythia, GPT-NeoX-20B): LayerNorm with weight and bias, a parallel
//! residual (`x + attn(ln₁(x)) + mlp(ln₂(x))`), RoPE on the first `rotary_pct` of each head,
//! q/k/v fused into one matrix grouped per head (`(heads, 3, head_dim)` rows), a plain GeLU MLP
//! with biases, and an untied output matrix `embed_out`.
//!
//! References: Black et al., "GPT-NeoX-20B: An Open-Source Autoregressive Language Model" (2022,
//! <https://arxiv.org/abs/2204.06745>); Biderman et al., "Pythia: A Suite for Analyzing Large
//! Language Models Across Training and Scaling" (2023, <https://arxiv.org/abs/2304.01373>).
//! Reference implementation: transformers' `models/gpt_neox/modeling_gpt_neox.py`.
//!
//! `config.json` spellings: 4.x `rotary_pct` (default 0.25) and `rotary_emb_base` (default
//! 10000); 5.x `rope_parameters.partial_rotary_factor` and `rope_parameters.rope_theta`.
//! `layer_norm_eps` (default 1e-5), `use_parallel_residual` (default true), `attention_bias`
//! (default true, on the fused q/k/v and the output projection).

use serde_json::{Map, Value, json};

use super::{Family, LLAMA_NAMES, LLAMA_TRAITS, Names, Traits};
use crate::Result;
use crate::config::{Activation, Fields, MlpLayout, ModelConfig, NormKind, QkvLayout, Residual};

pub(crate) const FAMILY: Family = Family {
    traits: Traits {
        norm: NormKind::LayerNorm,
        residual: Residual::Parallel,
        qkv_layout: QkvLayout::FusedPerHead,
        mlp_layout: MlpLayout::Plain,
        act: Activation::Gelu,
        eps_key: "layer_norm_eps",
        eps: 1e-5,
        partial_rotary: true,
        ..LLAMA_TRAITS
    },
    names: Names {
        embed: "gpt_neox.embed_in",
        layers: "gpt_neox.layers",
        final_norm: "gpt_neox.final_layer_norm",
        lm_head: "embed_out",
        attn: "attention",
        qkv: "query_key_value",
        o: "dense",
        up: "dense_h_to_4h",
        down: "dense_4h_to_h",
        ..LLAMA_NAMES
    },
};

pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    let bias = f.opt_bool("attention_bias")?.unwrap_or(true);
    (cfg.qkv_bias, cfg.o_bias, cfg.mlp_bias) = (bias, bias, true);
    if !f.opt_bool("use_parallel_residual")?.unwrap_or(true) {
        cfg.residual = Residual::PreNorm;
    }
    if f.get("head_dim").is_some() {
        return Err(f.err(
            "head_dim",
            "GPT-NeoX derives the head width from hidden_size / num_attention_heads; remove head_dim".into(),
        ));
    }
    Ok(())
}

pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    m.remove("head_dim");
    m.remove("rms_norm_eps");
    m.remove("num_key_value_heads");
    let theta = m.remove("rope_theta");
    m.insert("rotary_emb_base".into(), theta.unwrap_or(json!(10000.0)));
    m.insert(
        "rotary_pct".into(),
        json!(cfg.rotary_dim as f64 / cfg.head_dim as f64),
    );
    m.insert("layer_norm_eps".into(), json!(cfg.rms_norm_eps));
    m.insert(
        "use_parallel_residual".into(),
        json!(cfg.residual == Residual::Parallel),
    );
    m.insert("attention_bias".into(), json!(cfg.qkv_bias));
}
