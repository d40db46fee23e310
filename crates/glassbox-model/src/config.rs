//! `config.json` of the supported Hugging Face architectures, read as transformers 4.x writes it
//! (`rope_theta`, `rope_scaling`, `torch_dtype`) and as 5.x writes it (`rope_parameters`, `dtype`).
//!
//! Parsing goes through [`serde_json::Value`] rather than a derive so that every problem names the
//! field (`rope_scaling.rope_type`), and so that a value glassbox would silently get wrong (an
//! activation other than SiLU, a RoPE type we do not implement, partial rotary embeddings) is
//! refused instead of ignored.

use std::path::Path;

use serde_json::Value;

use crate::{ModelError, Result, families};

/// The Hugging Face model classes glassbox implements: decoder-only transformers that differ in
/// norms (RMSNorm, Gemma's `(1 + w)` RMSNorm, LayerNorm with or without parameters), where the
/// norms sit (before, after or around each sublayer; GPT-NeoX's parallel residual), how q/k/v and
/// the MLP are stored (separate, fused, per-head interleaved), the MLP (SwiGLU, GeGLU, plain GeLU,
/// mixture of experts), RoPE (partial, LongRoPE, per-layer bases) and attention details (QK-norm,
/// sliding windows, logit soft-capping). Each family's specifics live in `crate::families`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `LlamaForCausalLM` (Llama 2/3/3.1/3.2, SmolLM/SmolLM2, TinyLlama …).
    Llama,
    /// `MistralForCausalLM` (sliding-window attention when `sliding_window` is set).
    Mistral,
    /// `Qwen2ForCausalLM` (biases on q/k/v, optional per-layer sliding window).
    Qwen2,
    /// `Qwen3ForCausalLM` (per-head RMSNorm of queries and keys before RoPE, explicit
    /// `head_dim`, optional `attention_bias`, optional per-layer sliding window).
    Qwen3,
    /// `SmolLM3ForCausalLM` (Llama with no position encoding in every `no_rope_layer_interval`-th
    /// layer, "NoPE"; optional attention and MLP biases).
    SmolLm3,
    /// `Olmo2ForCausalLM` (RMSNorm of each sublayer's output before the residual add instead of
    /// its input; RMSNorm of the whole query and key projections before RoPE).
    Olmo2,
    /// `OlmoForCausalLM` (LayerNorm without weight or bias, eps 1e-5, everywhere RMSNorm would
    /// be; q, k and v optionally clamped to ±`clip_qkv`).
    Olmo,
    /// `GPTNeoXForCausalLM` (Pythia: LayerNorm with bias, parallel residual, partial rotary,
    /// per-head interleaved fused QKV, GeLU MLP with biases, untied `embed_out`).
    GptNeoX,
    /// `Phi3ForCausalLM` (fused `qkv_proj` and `gate_up_proj`, LongRoPE).
    Phi3,
    /// `Gemma2ForCausalLM` (scaled embeddings, `(1 + w)` RMSNorm around both sublayers, GeGLU,
    /// attention and final logit soft-capping, alternating sliding-window and global layers).
    Gemma2,
    /// `Gemma3ForCausalLM`, the text model (Gemma 2 without soft-capping by default, with
    /// per-head QK-norm and a separate RoPE base for sliding-window layers).
    Gemma3,
    /// `MixtralForCausalLM` (Mistral with a top-k mixture of SwiGLU experts).
    Mixtral,
    /// `OlmoeForCausalLM` (OLMo-style attention with whole-projection QK-norm, mixture of experts).
    Olmoe,
    /// `Qwen3MoeForCausalLM` (Qwen3 attention, mixture of experts with optional dense layers).
    Qwen3Moe,
}

impl Architecture {
    /// The `architectures[0]` string transformers uses.
    pub fn class_name(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Mistral => "MistralForCausalLM",
            Self::Qwen2 => "Qwen2ForCausalLM",
            Self::Qwen3 => "Qwen3ForCausalLM",
            Self::SmolLm3 => "SmolLM3ForCausalLM",
            Self::Olmo2 => "Olmo2ForCausalLM",
            Self::Olmo => "OlmoForCausalLM",
            Self::GptNeoX => "GPTNeoXForCausalLM",
            Self::Phi3 => "Phi3ForCausalLM",
            Self::Gemma2 => "Gemma2ForCausalLM",
            Self::Gemma3 => "Gemma3ForCausalLM",
            Self::Mixtral => "MixtralForCausalLM",
            Self::Olmoe => "OlmoeForCausalLM",
            Self::Qwen3Moe => "Qwen3MoeForCausalLM",
        }
    }

    /// The `model_type` string transformers uses.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Mistral => "mistral",
            Self::Qwen2 => "qwen2",
            Self::Qwen3 => "qwen3",
            Self::SmolLm3 => "smollm3",
            Self::Olmo2 => "olmo2",
            Self::Olmo => "olmo",
            Self::GptNeoX => "gpt_neox",
            Self::Phi3 => "phi3",
            Self::Gemma2 => "gemma2",
            Self::Gemma3 => "gemma3_text",
            Self::Mixtral => "mixtral",
            Self::Olmoe => "olmoe",
            Self::Qwen3Moe => "qwen3_moe",
        }
    }

    /// Every architecture, in the order the docs list them.
    pub const ALL: [Self; 14] = [
        Self::Llama,
        Self::Mistral,
        Self::Qwen2,
        Self::Qwen3,
        Self::SmolLm3,
        Self::Olmo,
        Self::Olmo2,
        Self::GptNeoX,
        Self::Phi3,
        Self::Gemma2,
        Self::Gemma3,
        Self::Mixtral,
        Self::Olmoe,
        Self::Qwen3Moe,
    ];

    fn from_class(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.class_name() == s)
    }

    fn from_model_type(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.model_type() == s)
    }
}

/// How rotary position embeddings are scaled for long contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE (`rope_type: "default"`, or no scaling).
    None,
    /// Position interpolation: every frequency divided by `factor` (`rope_type: "linear"`).
    Linear {
        /// The interpolation factor.
        factor: f64,
    },
    /// Llama 3.1's frequency-dependent scaling (`rope_type: "llama3"`): long wavelengths are
    /// divided by `factor`, short ones kept, the band between interpolated smoothly.
    Llama3 {
        /// Scale for low frequencies.
        factor: f64,
        /// Wavelengths above `original_max_position_embeddings / low_freq_factor` are scaled.
        low_freq_factor: f64,
        /// Wavelengths below `original_max_position_embeddings / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The context length the model was pre-trained with.
        original_max_position_embeddings: usize,
    },
    /// Phi-3's LongRoPE (`rope_type: "longrope"`, formerly `"su"`): each frequency divided by its
    /// own factor, `short_factor` while a sequence fits the pre-training context and
    /// `long_factor` once it does not, and cos/sin multiplied by an attention factor.
    LongRope {
        /// Per-frequency divisors for sequences within `original_max_position_embeddings`.
        short_factor: Vec<f64>,
        /// Per-frequency divisors beyond it.
        long_factor: Vec<f64>,
        /// The context length the model was pre-trained with.
        original_max_position_embeddings: usize,
        /// `factor`, when the file gives it (else `max_position_embeddings / original`).
        factor: Option<f64>,
        /// `attention_factor`, when the file gives it (else `sqrt(1 + ln f / ln original)`).
        attention_factor: Option<f64>,
    },
}

/// RMSNorm of queries and keys before RoPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    /// None (Llama, Mistral, Qwen2, SmolLM3).
    None,
    /// Over each head (weights `head_dim` wide; Qwen3, Gemma 3).
    PerHead,
    /// Over the whole projection (weights `heads · head_dim` wide; OLMo 2, OLMoE).
    Whole,
}

/// The normalisation every norm of the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm, `x / rms(x) · w`.
    Rms,
    /// Gemma's RMSNorm, `x / rms(x) · (1 + w)` (weights stored as offsets from one).
    RmsPlusOne,
    /// LayerNorm with weight and bias (GPT-NeoX).
    LayerNorm,
    /// LayerNorm without weight or bias (OLMo); no norm tensors are stored.
    Parameterless,
}

/// Where a layer's norms sit and how its sublayers join the residual stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residual {
    /// `x + attn(norm(x))`, then `x + mlp(norm(x))` (Llama and most others).
    PreNorm,
    /// `x + norm(attn(x))`, then `x + norm(mlp(x))` (OLMo 2).
    PostNorm,
    /// `x + norm(attn(norm(x)))`, then `x + norm(mlp(norm(x)))` (Gemma 2 and 3).
    Sandwich,
    /// `x + attn(norm₁(x)) + mlp(norm₂(x))` (GPT-NeoX's `use_parallel_residual`).
    Parallel,
}

/// How the query, key and value projections are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkvLayout {
    /// Three matrices, `q_proj`, `k_proj`, `v_proj`.
    Separate,
    /// One matrix, rows `[q; k; v]` (Phi-3's `qkv_proj`).
    Fused,
    /// One matrix, rows grouped per head as `(heads, 3, head_dim)` (GPT-NeoX's
    /// `query_key_value`).
    FusedPerHead,
}

/// How a dense MLP is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlpLayout {
    /// `down(act(gate(x)) · up(x))` with three matrices.
    Gated,
    /// The same with `gate` and `up` stored as one matrix, rows `[gate; up]` (Phi-3).
    FusedGated,
    /// `down(act(up(x)))` (GPT-NeoX's `dense_h_to_4h`, `dense_4h_to_h`).
    Plain,
}

/// The MLP's activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x · sigmoid(x)` (`silu`, `swish`).
    Silu,
    /// Exact GeLU, `x · Φ(x)` (`gelu`).
    Gelu,
    /// GeLU's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
}

impl Activation {
    /// The `hidden_act` string transformers knows this activation by.
    pub fn hf_name(self) -> &'static str {
        match self {
            Self::Silu => "silu",
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_pytorch_tanh",
        }
    }
}

/// A sparse mixture-of-experts MLP: a router picks `top_k` of `num_experts` SwiGLU experts per
/// token and mixes their outputs by the router's softmax probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct MoeConfig {
    /// Experts per sparse layer.
    pub num_experts: usize,
    /// Experts each token is routed to (`num_experts_per_tok`).
    pub top_k: usize,
    /// Whether the chosen experts' probabilities are renormalised to sum to one.
    pub norm_topk_prob: bool,
    /// Width of one expert's hidden layer.
    pub expert_intermediate_size: usize,
    /// Weight of the load-balancing loss added to the training loss.
    pub router_aux_loss_coef: f64,
    /// Which layers are sparse (`num_hidden_layers` entries); the others have a dense MLP of
    /// `intermediate_size`.
    pub sparse_layers: Vec<bool>,
}

/// Which attention a layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerAttention {
    /// Every earlier position is visible.
    Full,
    /// Only the last `window` positions (the query's included) are visible.
    Sliding(usize),
}

/// A decoder-only model configuration, resolved: every default applied, every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The model class.
    pub architecture: Architecture,
    /// Vocabulary size (rows of the embedding matrix).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the dense MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one head (`hidden_size / num_attention_heads` unless `head_dim` is given).
    pub head_dim: usize,
    /// Epsilon inside every norm (`rms_norm_eps`, or `layer_norm_eps`).
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Leading dimensions of each head that RoPE rotates (`head_dim` unless partial rotary).
    pub rotary_dim: usize,
    /// Base and scaling of sliding-window layers' own RoPE (Gemma 3), when they have one.
    pub local_rope: Option<(f64, RopeScaling)>,
    /// Longest sequence the model accepts.
    pub max_position_embeddings: usize,
    /// Whether the output projection shares the input embedding matrix.
    pub tie_word_embeddings: bool,
    /// Bias on the q, k and v projections (Qwen2; Llama's `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Llama's `attention_bias`).
    pub o_bias: bool,
    /// Bias on the MLP projections (Llama's `mlp_bias`).
    pub mlp_bias: bool,
    /// RMSNorm of queries and keys before RoPE.
    pub qk_norm: QkNorm,
    /// The normalisation used by every norm.
    pub norm: NormKind,
    /// Where the norms sit.
    pub residual: Residual,
    /// How q, k and v are stored.
    pub qkv_layout: QkvLayout,
    /// How the dense MLP is stored.
    pub mlp_layout: MlpLayout,
    /// The MLP's activation.
    pub hidden_act: Activation,
    /// Clamp q, k and v projections to `±clip_qkv` (OLMo, OLMoE).
    pub clip_qkv: Option<f64>,
    /// Attention scores are scaled by `query_pre_attn_scalar^-½` instead of `head_dim^-½`
    /// (Gemma).
    pub query_pre_attn_scalar: Option<f64>,
    /// `cap · tanh(s / cap)` of attention scores (Gemma 2).
    pub attn_logit_softcapping: Option<f64>,
    /// `cap · tanh(z / cap)` of the output logits (Gemma 2).
    pub final_logit_softcapping: Option<f64>,
    /// Embeddings multiplied by `sqrt(hidden_size)` (Gemma).
    pub embed_scale: bool,
    /// The mixture of experts, for sparse models.
    pub moe: Option<MoeConfig>,
    /// Whether each layer applies RoPE (`num_hidden_layers` entries; SmolLM3's `no_rope_layers`
    /// turns it off in some).
    pub layer_rope: Vec<bool>,
    /// Attention kind of each layer (`num_hidden_layers` entries).
    pub layer_attention: Vec<LayerAttention>,
    /// `bos_token_id`, when given.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id`, as a list (it may be an integer or a list in the file).
    pub eos_token_ids: Vec<u32>,
    /// `pad_token_id`, when given.
    pub pad_token_id: Option<u32>,
    /// The dtype the weights were saved in (`torch_dtype` / `dtype`), when given.
    pub dtype: Option<String>,
}

impl ModelConfig {
    /// Reads and resolves `config.json` at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
                hint: "a Hugging Face model directory must contain config.json".into(),
            });
        }
        let value: Value = glassbox_core::fsio::read_json(path)?;
        Self::from_value(&value, path)
    }

    /// Resolves a parsed `config.json`; `path` is used in error messages only.
    pub fn from_value(value: &Value, path: &Path) -> Result<Self> {
        let obj = value.as_object().ok_or_else(|| ModelError::Config {
            path: path.to_path_buf(),
            field: "(top level)".into(),
            message: "expected a JSON object".into(),
        })?;
        let f = Fields {
            obj,
            path,
            prefix: "",
        };
        let architecture = f.architecture()?;
        let traits = &families::family(architecture).traits;
        // Every size is checked (positive, below its limit) as it is read: the divisibility
        // checks below divide by them, and `layer_attention` allocates one entry per layer,
        // both before any tensor is read.
        let hidden_size = f.req_size("hidden_size")?;
        let num_attention_heads = f.req_size("num_attention_heads")?;
        let num_hidden_layers = f.req_size("num_hidden_layers")?;
        let num_key_value_heads = f
            .opt_size("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(f.err(
                "num_key_value_heads",
                format!("{num_key_value_heads} does not divide num_attention_heads ({num_attention_heads})"),
            ));
        }
        let head_dim = match f.opt_size("head_dim")? {
            Some(d) => d,
            None => {
                if hidden_size % num_attention_heads != 0 {
                    return Err(f.err(
                        "num_attention_heads",
                        format!("{num_attention_heads} does not divide hidden_size ({hidden_size}) and no head_dim is given"),
                    ));
                }
                let d = hidden_size / num_attention_heads;
                if d > limit_of("head_dim") {
                    return Err(f.err(
                        "head_dim",
                        format!(
                            "hidden_size / num_attention_heads = {d} exceeds the limit of {}; \
                             set head_dim or num_attention_heads",
                            limit_of("head_dim")
                        ),
                    ));
                }
                d
            }
        };
        if head_dim % 2 != 0 {
            return Err(f.err(
                "head_dim",
                format!("{head_dim} is odd; RoPE needs an even head width"),
            ));
        }
        let hidden_act = f.activation(traits.act_keys, traits.act)?;
        // `pretraining_tp` is accepted and ignored: for tp > 1 transformers only slices the
        // matmuls, computing the same function.
        let (rope_theta, rope_scaling, rope_key) = f.rope(architecture)?;
        let rotary_dim = f.rotary_dim(architecture, traits.partial_rotary, head_dim)?;
        if let RopeScaling::LongRope {
            short_factor,
            long_factor,
            ..
        } = &rope_scaling
        {
            for (name, list) in [("short_factor", short_factor), ("long_factor", long_factor)] {
                if list.len() != rotary_dim / 2 {
                    return Err(f.err(
                        &format!("{rope_key}.{name}"),
                        format!(
                            "{} entries, but the rotary width {rotary_dim} needs {}",
                            list.len(),
                            rotary_dim / 2
                        ),
                    ));
                }
            }
        }
        let max_position_embeddings = f
            .opt_size("max_position_embeddings")?
            .unwrap_or(traits.max_position_embeddings);
        let eps = match traits.fixed_eps {
            Some(e) => e,
            None => f.opt_f64(traits.eps_key)?.unwrap_or(traits.eps),
        };
        let mut cfg = Self {
            architecture,
            vocab_size: f.req_size("vocab_size")?,
            hidden_size,
            intermediate_size: f.req_size("intermediate_size")?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: eps,
            rope_theta,
            rope_scaling,
            rotary_dim,
            local_rope: None,
            max_position_embeddings,
            tie_word_embeddings: f
                .opt_bool("tie_word_embeddings")?
                .unwrap_or(traits.tie_word_embeddings),
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            qk_norm: traits.qk_norm,
            norm: traits.norm,
            residual: traits.residual,
            qkv_layout: traits.qkv_layout,
            mlp_layout: traits.mlp_layout,
            hidden_act,
            clip_qkv: None,
            query_pre_attn_scalar: None,
            attn_logit_softcapping: None,
            final_logit_softcapping: None,
            embed_scale: traits.embed_scale,
            moe: None,
            layer_rope: vec![true; num_hidden_layers],
            layer_attention: vec![LayerAttention::Full; num_hidden_layers],
            bos_token_id: f.opt_token("bos_token_id")?,
            eos_token_ids: f.token_list("eos_token_id")?,
            pad_token_id: f.opt_token("pad_token_id")?,
            dtype: match f.opt_str("dtype")? {
                Some(d) => Some(d.to_string()),
                None => f.opt_str("torch_dtype")?.map(str::to_string),
            },
        };
        families::read(&f, &mut cfg)?;
        if let Some(moe) = &cfg.moe {
            let sparse = moe.sparse_layers.iter().filter(|&&s| s).count();
            if sparse.saturating_mul(moe.num_experts) > MAX_EXPERTS {
                return Err(f.err(
                    "num_experts",
                    format!(
                        "{} experts in each of {sparse} sparse layers exceed the limit of {MAX_EXPERTS} experts in all; is this config.json corrupt?",
                        moe.num_experts
                    ),
                ));
            }
        }
        if cfg.qkv_layout == QkvLayout::FusedPerHead
            && cfg.num_key_value_heads != cfg.num_attention_heads
        {
            return Err(f.err(
                "num_key_value_heads",
                format!(
                    "{} differs from num_attention_heads ({}); {} has no grouped-query attention",
                    cfg.num_key_value_heads,
                    cfg.num_attention_heads,
                    architecture.class_name()
                ),
            ));
        }
        match cfg.checked_num_parameters() {
            Some(n) if n <= MAX_PARAMETERS => {}
            count => {
                let found = count.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
                return Err(f.err(
                    "num_hidden_layers",
                    format!(
                        "the sizes imply {found} parameters, above the limit of {MAX_PARAMETERS}; \
                         check num_hidden_layers, hidden_size, intermediate_size and vocab_size"
                    ),
                ));
            }
        }
        if cfg.rms_norm_eps <= 0.0 {
            return Err(f.err(traits.eps_key, "must be positive".into()));
        }
        Ok(cfg)
    }

    /// Number of query heads per key/value head.
    pub fn gqa_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Whether layer `l` has a mixture of experts instead of a dense MLP.
    pub fn is_sparse(&self, l: usize) -> bool {
        self.moe
            .as_ref()
            .is_some_and(|m| m.sparse_layers.get(l).copied().unwrap_or(false))
    }

    /// Attention score scale: `query_pre_attn_scalar^-½` or `head_dim^-½`.
    pub fn attention_scale(&self) -> f64 {
        1.0 / self
            .query_pre_attn_scalar
            .unwrap_or(self.head_dim as f64)
            .sqrt()
    }

    /// Number of parameters (every weight and bias, the tied matrix counted once).
    ///
    /// Saturates at `usize::MAX` for a hand-built configuration whose count does not fit; one
    /// resolved by [`ModelConfig::from_value`] is at most [`MAX_PARAMETERS`].
    pub fn num_parameters(&self) -> usize {
        self.checked_num_parameters()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX)
    }

    /// Parameters one token uses: a sparse layer counts its router and `top_k` experts only.
    pub fn active_parameters(&self) -> usize {
        let Some(moe) = &self.moe else {
            return self.num_parameters();
        };
        let sparse = moe.sparse_layers.iter().filter(|&&s| s).count();
        let idle = sparse
            .saturating_mul(moe.num_experts.saturating_sub(moe.top_k))
            .saturating_mul(3)
            .saturating_mul(self.hidden_size)
            .saturating_mul(moe.expert_intermediate_size);
        self.num_parameters().saturating_sub(idle)
    }

    /// Number of parameters, or `None` when the count does not fit in a `u64`.
    pub fn checked_num_parameters(&self) -> Option<u64> {
        let u = |x: usize| u64::try_from(x).ok();
        let (h, i, hd) = (
            u(self.hidden_size)?,
            u(self.intermediate_size)?,
            u(self.head_dim)?,
        );
        let (nq, nkv) = (u(self.num_attention_heads)?, u(self.num_key_value_heads)?);
        let (vocab, layers) = (u(self.vocab_size)?, u(self.num_hidden_layers)?);
        let q_width = nq.checked_mul(hd)?;
        let kv_width = nkv.checked_mul(hd)?;
        // q and o: h × (nq·hd) each; k and v: h × (nkv·hd) each.
        let mut attn = h
            .checked_mul(q_width)?
            .checked_mul(2)?
            .checked_add(h.checked_mul(kv_width)?.checked_mul(2)?)?;
        if self.qkv_bias {
            attn = attn.checked_add(q_width.checked_add(kv_width.checked_mul(2)?)?)?;
        }
        if self.o_bias {
            attn = attn.checked_add(h)?;
        }
        let mut dense = match self.mlp_layout {
            MlpLayout::Gated | MlpLayout::FusedGated => h.checked_mul(i)?.checked_mul(3)?,
            MlpLayout::Plain => h.checked_mul(i)?.checked_mul(2)?,
        };
        if self.mlp_bias {
            dense = dense.checked_add(match self.mlp_layout {
                MlpLayout::Plain => i.checked_add(h)?,
                _ => i.checked_mul(2)?.checked_add(h)?,
            })?;
        }
        match self.qk_norm {
            QkNorm::None => {}
            QkNorm::PerHead => attn = attn.checked_add(hd.checked_mul(2)?)?,
            QkNorm::Whole => attn = attn.checked_add(q_width.checked_add(kv_width)?)?,
        }
        let norm = match self.norm {
            NormKind::Parameterless => 0,
            NormKind::Rms | NormKind::RmsPlusOne => h,
            NormKind::LayerNorm => h.checked_mul(2)?,
        };
        let norms_per_layer = match self.residual {
            Residual::Sandwich => 4,
            _ => 2,
        };
        let base = attn.checked_add(norm.checked_mul(norms_per_layer)?)?;
        let (sparse_layers, sparse) = match &self.moe {
            None => (0, 0),
            Some(m) => {
                let e = u(m.num_experts)?;
                let per_expert = h
                    .checked_mul(u(m.expert_intermediate_size)?)?
                    .checked_mul(3)?;
                let n = u(m.sparse_layers.iter().filter(|&&s| s).count())?;
                (
                    n,
                    e.checked_mul(per_expert)?.checked_add(e.checked_mul(h)?)?,
                )
            }
        };
        let dense_layers = layers.checked_sub(sparse_layers)?;
        let all_layers = layers
            .checked_mul(base)?
            .checked_add(dense_layers.checked_mul(dense)?)?
            .checked_add(sparse_layers.checked_mul(sparse)?)?;
        let embed = vocab.checked_mul(h)?;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed
            .checked_add(all_layers)?
            .checked_add(norm)?
            .checked_add(head)
    }
}

/// Upper bounds on the sizes in `config.json`, checked before anything is allocated from them.
///
/// They sit one to two orders of magnitude above the largest released dense models (Llama 3.1
/// 405B: 126 layers, hidden 16384, intermediate 53248, 128 heads; Gemma's 256k vocabulary; 10M
/// token contexts), so that a real config always passes and a corrupt or hostile one cannot
/// make glassbox size a table from it.
pub const SIZE_LIMITS: &[(&str, usize)] = &[
    ("num_hidden_layers", 1 << 10),
    ("hidden_size", 1 << 17),
    ("intermediate_size", 1 << 20),
    ("vocab_size", 1 << 22),
    ("num_attention_heads", 1 << 10),
    ("num_key_value_heads", 1 << 10),
    ("head_dim", 1 << 13),
    ("max_position_embeddings", 1 << 24),
    ("original_max_position_embeddings", 1 << 24),
    ("num_experts", 1 << 12),
    ("moe_intermediate_size", 1 << 20),
];

/// Upper bound on the experts of all sparse layers together (each is three named tensors): four
/// times DeepSeek-V3's 256 × 58 and Qwen3-235B's 128 × 94.
pub const MAX_EXPERTS: usize = 1 << 16;

/// Upper bound on the parameter count a `config.json` may imply (10 trillion).
pub const MAX_PARAMETERS: u64 = 10_000_000_000_000;

/// The limit of a size field of [`SIZE_LIMITS`] (a field not listed is unbounded).
fn limit_of(key: &str) -> usize {
    SIZE_LIMITS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(usize::MAX, |(_, max)| *max)
}

mod fields;
pub(crate) use fields::Fields;
pub(crate) mod hf_json;

#[cfg(test)]
mod tests;
