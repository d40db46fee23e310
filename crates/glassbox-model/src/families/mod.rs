//! One file per model family: its papers and reference implementation, its `config.json` fields
//! and defaults, and its tensor names. The forward pass they share is
//! [`crate::Transformer`]; a family is a choice of [`Traits`] (which norms, residual wiring,
//! projections and MLP), [`Names`] (how transformers names each tensor) and the fields only it
//! reads.

use serde_json::{Map, Value};

use crate::Result;
use crate::config::{
    Activation, Architecture, Fields, MlpLayout, ModelConfig, NormKind, QkNorm, QkvLayout, Residual,
};

pub(crate) mod gemma2;
pub(crate) mod gemma3;
pub(crate) mod gpt_neox;
pub(crate) mod llama;
pub(crate) mod mixtral;
pub(crate) mod olmo;
pub(crate) mod olmo2;
pub(crate) mod olmoe;
pub(crate) mod phi3;
pub(crate) mod qwen3;
pub(crate) mod qwen3_moe;
pub(crate) mod smollm3;

/// The building blocks and defaults of a family.
#[derive(Debug)]
pub(crate) struct Traits {
    pub norm: NormKind,
    pub residual: Residual,
    pub qkv_layout: QkvLayout,
    pub mlp_layout: MlpLayout,
    pub qk_norm: QkNorm,
    pub embed_scale: bool,
    /// Keys the activation may be given under, in order of precedence.
    pub act_keys: &'static [&'static str],
    pub act: Activation,
    /// The epsilon's key and default; `fixed_eps` overrides the file.
    pub eps_key: &'static str,
    pub eps: f64,
    pub fixed_eps: Option<f64>,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Whether transformers' code for the family honours a partial rotary factor.
    pub partial_rotary: bool,
}

/// The Llama family's traits, which most families start from.
pub(crate) const LLAMA_TRAITS: Traits = Traits {
    norm: NormKind::Rms,
    residual: Residual::PreNorm,
    qkv_layout: QkvLayout::Separate,
    mlp_layout: MlpLayout::Gated,
    qk_norm: QkNorm::None,
    embed_scale: false,
    act_keys: &["hidden_act"],
    act: Activation::Silu,
    eps_key: "rms_norm_eps",
    eps: 1e-6,
    fixed_eps: None,
    max_position_embeddings: 2048,
    tie_word_embeddings: false,
    partial_rotary: false,
};

/// Tensor names (without `.weight`/`.bias`) relative to the model and to each layer.
#[derive(Debug)]
pub(crate) struct Names {
    pub embed: &'static str,
    pub layers: &'static str,
    pub final_norm: &'static str,
    pub lm_head: &'static str,
    pub attn: &'static str,
    pub q: &'static str,
    pub k: &'static str,
    pub v: &'static str,
    pub qkv: &'static str,
    pub o: &'static str,
    pub mlp: &'static str,
    pub gate: &'static str,
    pub up: &'static str,
    pub down: &'static str,
    pub gate_up: &'static str,
    pub moe: &'static str,
    pub router: &'static str,
    pub expert_gate: &'static str,
    pub expert_up: &'static str,
    pub expert_down: &'static str,
}

/// transformers' Llama names, which most families share.
pub(crate) const LLAMA_NAMES: Names = Names {
    embed: "model.embed_tokens",
    layers: "model.layers",
    final_norm: "model.norm",
    lm_head: "lm_head",
    attn: "self_attn",
    q: "q_proj",
    k: "k_proj",
    v: "v_proj",
    qkv: "qkv_proj",
    o: "o_proj",
    mlp: "mlp",
    gate: "gate_proj",
    up: "up_proj",
    down: "down_proj",
    gate_up: "gate_up_proj",
    moe: "mlp",
    router: "gate",
    expert_gate: "gate_proj",
    expert_up: "up_proj",
    expert_down: "down_proj",
};

/// A family: traits and names.
#[derive(Debug)]
pub(crate) struct Family {
    pub traits: Traits,
    pub names: Names,
}

/// The family of `arch`.
pub(crate) fn family(arch: Architecture) -> &'static Family {
    match arch {
        Architecture::Llama | Architecture::Mistral | Architecture::Qwen2 => &llama::FAMILY,
        Architecture::Qwen3 => &qwen3::FAMILY,
        Architecture::SmolLm3 => &smollm3::FAMILY,
        Architecture::Olmo => &olmo::FAMILY,
        Architecture::Olmo2 => &olmo2::FAMILY,
        Architecture::GptNeoX => &gpt_neox::FAMILY,
        Architecture::Phi3 => &phi3::FAMILY,
        Architecture::Gemma2 => &gemma2::FAMILY,
        Architecture::Gemma3 => &gemma3::FAMILY,
        Architecture::Mixtral => &mixtral::FAMILY,
        Architecture::Olmoe => &olmoe::FAMILY,
        Architecture::Qwen3Moe => &qwen3_moe::FAMILY,
    }
}

/// Reads the fields only `cfg.architecture` has into `cfg` (biases, windows, experts …).
pub(crate) fn read(f: &Fields<'_>, cfg: &mut ModelConfig) -> Result<()> {
    match cfg.architecture {
        Architecture::Llama | Architecture::Mistral | Architecture::Qwen2 => llama::read(f, cfg),
        Architecture::Qwen3 => qwen3::read(f, cfg),
        Architecture::SmolLm3 => smollm3::read(f, cfg),
        Architecture::Olmo => olmo::read(f, cfg),
        Architecture::Olmo2 => olmo2::read(f, cfg),
        Architecture::GptNeoX => gpt_neox::read(f, cfg),
        Architecture::Phi3 => phi3::read(f, cfg),
        Architecture::Gemma2 => gemma2::read(f, cfg),
        Architecture::Gemma3 => gemma3::read(f, cfg),
        Architecture::Mixtral => mixtral::read(f, cfg),
        Architecture::Olmoe => olmoe::read(f, cfg),
        Architecture::Qwen3Moe => qwen3_moe::read(f, cfg),
    }
}

/// Writes the fields only `cfg.architecture` has into a `config.json` object.
pub(crate) fn write(cfg: &ModelConfig, m: &mut Map<String, Value>) {
    match cfg.architecture {
        Architecture::Llama | Architecture::Mistral | Architecture::Qwen2 => llama::write(cfg, m),
        Architecture::Qwen3 => qwen3::write(cfg, m),
        Architecture::SmolLm3 => smollm3::write(cfg, m),
        Architecture::Olmo => olmo::write(cfg, m),
        Architecture::Olmo2 => olmo2::write(cfg, m),
        Architecture::GptNeoX => gpt_neox::write(cfg, m),
        Architecture::Phi3 => phi3::write(cfg, m),
        Architecture::Gemma2 => gemma2::write(cfg, m),
        Architecture::Gemma3 => gemma3::write(cfg, m),
        Architecture::Mixtral => mixtral::write(cfg, m),
        Architecture::Olmoe => olmoe::write(cfg, m),
        Architecture::Qwen3Moe => qwen3_moe::write(cfg, m),
    }
}

mod layout;
pub use layout::tensor_shapes;
pub(crate) use layout::{FfnNames, QkvNames, layer_names, model_names};
