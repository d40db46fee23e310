//! `config.json` of the supported Hugging Face architectures, read as transformers 4.x writes it
//! (`rope_theta`, `rope_scaling`, `torch_dtype`) and as 5.x writes it (`rope_parameters`, `dtype`).
//!
//! Parsing goes through [`serde_json::Value`] rather than a derive so that every problem names the
//! field (`rope_scaling.rope_type`), and so that a value glassbox would silently get wrong (an
//! activation other than SiLU, a RoPE type we do not implement, partial rotary embeddings) is
//! refused instead of ignored.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::{ModelError, Result};

/// The Hugging Face model classes glassbox implements. All are the same pre-norm decoder
/// (RMSNorm, RoPE, grouped-query attention, SwiGLU MLP); they differ in defaults, biases,
/// Qwen3's per-head RMSNorm of queries and keys, SmolLM3's layers without RoPE, and OLMo 2's
/// norms after each sublayer with an RMSNorm over the whole query and key projections; OLMo
/// normalises with a LayerNorm without parameters and may clip q, k and v.
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
        }
    }

    /// Every architecture, in the order the docs list them.
    pub const ALL: [Self; 7] = [
        Self::Llama,
        Self::Mistral,
        Self::Qwen2,
        Self::Qwen3,
        Self::SmolLm3,
        Self::Olmo,
        Self::Olmo2,
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
}

/// RMSNorm of queries and keys before RoPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    /// None (Llama, Mistral, Qwen2, SmolLM3).
    None,
    /// Over each head (weights `head_dim` wide; Qwen3).
    PerHead,
    /// Over the whole projection (weights `heads · head_dim` wide; OLMo 2).
    Whole,
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
    /// Width of the MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one head (`hidden_size / num_attention_heads` unless `head_dim` is given).
    pub head_dim: usize,
    /// Epsilon inside RMSNorm.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
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
    /// Norms after each sublayer (`post_attention_layernorm`, `post_feedforward_layernorm`,
    /// applied to the sublayer's output before the residual add; OLMo 2) instead of before it.
    pub post_norm: bool,
    /// LayerNorm without weight or bias instead of RMSNorm (OLMo); no norm tensors are stored
    /// and `rms_norm_eps` is its epsilon.
    pub parameterless_layer_norm: bool,
    /// Clamp q, k and v projections to `±clip_qkv` (OLMo).
    pub clip_qkv: Option<f64>,
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
        match f.opt_str("hidden_act")? {
            None | Some("silu") | Some("swish") => {}
            Some(other) => {
                return Err(f.err(
                    "hidden_act",
                    format!("`{other}` is not supported (only silu)"),
                ));
            }
        }
        if let Some(p) = f.opt_f64("partial_rotary_factor")?
            && p != 1.0
        {
            return Err(f.err(
                "partial_rotary_factor",
                format!("{p} is not supported (only 1.0)"),
            ));
        }
        // `pretraining_tp` is accepted and ignored: for tp > 1 transformers only slices the
        // matmuls, computing the same function.
        let (rope_theta, rope_scaling) = f.rope()?;
        let (qkv_bias, o_bias, mlp_bias) = match architecture {
            Architecture::Llama => {
                let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
                (ab, ab, f.opt_bool("mlp_bias")?.unwrap_or(false))
            }
            Architecture::Mistral => (false, false, false),
            Architecture::Qwen2 => (true, false, false),
            Architecture::Qwen3 => {
                let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
                (ab, ab, false)
            }
            Architecture::SmolLm3 => {
                let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
                (ab, ab, f.opt_bool("mlp_bias")?.unwrap_or(false))
            }
            Architecture::Olmo2 | Architecture::Olmo => {
                let ab = f.opt_bool("attention_bias")?.unwrap_or(false);
                (ab, ab, false)
            }
        };
        let clip_qkv = match architecture {
            Architecture::Olmo => match f.opt_f64("clip_qkv")? {
                Some(c) if !(c > 0.0 && c.is_finite()) => {
                    return Err(f.err("clip_qkv", format!("{c} must be positive")));
                }
                c => c,
            },
            _ => None,
        };
        let layer_rope = f.layer_rope(architecture, num_hidden_layers)?;
        let layer_attention = f.layer_attention(architecture, num_hidden_layers)?;
        let max_position_embeddings =
            f.opt_size("max_position_embeddings")?
                .unwrap_or(match architecture {
                    Architecture::Llama | Architecture::Olmo2 | Architecture::Olmo => 2048,
                    Architecture::Mistral => 4096 * 32,
                    Architecture::Qwen2 | Architecture::Qwen3 | Architecture::SmolLm3 => 32768,
                });
        let cfg = Self {
            architecture,
            vocab_size: f.req_size("vocab_size")?,
            hidden_size,
            intermediate_size: f.req_size("intermediate_size")?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            // transformers' defaults: 1e-5 for OLMo 2, 1e-6 for the others; OLMo's LayerNorm
            // always uses 1e-5.
            rms_norm_eps: match architecture {
                Architecture::Olmo => 1e-5,
                _ => f.opt_f64("rms_norm_eps")?.unwrap_or(match architecture {
                    Architecture::Olmo2 => 1e-5,
                    _ => 1e-6,
                }),
            },
            rope_theta,
            rope_scaling,
            max_position_embeddings,
            tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            qkv_bias,
            o_bias,
            mlp_bias,
            qk_norm: match architecture {
                Architecture::Qwen3 => QkNorm::PerHead,
                Architecture::Olmo2 => QkNorm::Whole,
                _ => QkNorm::None,
            },
            post_norm: architecture == Architecture::Olmo2,
            parameterless_layer_norm: architecture == Architecture::Olmo,
            clip_qkv,
            layer_rope,
            layer_attention,
            bos_token_id: f.opt_token("bos_token_id")?,
            eos_token_ids: f.token_list("eos_token_id")?,
            pad_token_id: f.opt_token("pad_token_id")?,
            dtype: match f.opt_str("dtype")? {
                Some(d) => Some(d.to_string()),
                None => f.opt_str("torch_dtype")?.map(str::to_string),
            },
        };
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
            return Err(f.err("rms_norm_eps", "must be positive".into()));
        }
        Ok(cfg)
    }

    /// Number of query heads per key/value head.
    pub fn gqa_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
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
        let mut mlp = h.checked_mul(i)?.checked_mul(3)?;
        if self.mlp_bias {
            mlp = mlp.checked_add(i.checked_mul(2)?.checked_add(h)?)?;
        }
        match self.qk_norm {
            QkNorm::None => {}
            QkNorm::PerHead => attn = attn.checked_add(hd.checked_mul(2)?)?,
            QkNorm::Whole => attn = attn.checked_add(q_width.checked_add(kv_width)?)?,
        }
        let norm = if self.parameterless_layer_norm { 0 } else { h };
        let layer = attn.checked_add(mlp)?.checked_add(norm.checked_mul(2)?)?;
        let embed = vocab.checked_mul(h)?;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        embed
            .checked_add(layers.checked_mul(layer)?)?
            .checked_add(norm)?
            .checked_add(head)
    }

    /// `config.json` as transformers 4.x writes it (read by transformers 4.x and 5.x alike).
    /// `dtype` is the dtype the weights are saved in (`"float32"`, `"bfloat16"`, `"float16"`).
    pub fn to_hf_json(&self, dtype: &str) -> Value {
        let mut m = Map::new();
        m.insert(
            "architectures".into(),
            json!([self.architecture.class_name()]),
        );
        m.insert("model_type".into(), json!(self.architecture.model_type()));
        m.insert("vocab_size".into(), json!(self.vocab_size));
        m.insert("hidden_size".into(), json!(self.hidden_size));
        m.insert("intermediate_size".into(), json!(self.intermediate_size));
        m.insert("num_hidden_layers".into(), json!(self.num_hidden_layers));
        m.insert(
            "num_attention_heads".into(),
            json!(self.num_attention_heads),
        );
        m.insert(
            "num_key_value_heads".into(),
            json!(self.num_key_value_heads),
        );
        m.insert("head_dim".into(), json!(self.head_dim));
        m.insert("hidden_act".into(), json!("silu"));
        m.insert(
            "max_position_embeddings".into(),
            json!(self.max_position_embeddings),
        );
        m.insert("rms_norm_eps".into(), json!(self.rms_norm_eps));
        m.insert("rope_theta".into(), json!(self.rope_theta));
        m.insert(
            "rope_scaling".into(),
            match &self.rope_scaling {
                RopeScaling::None => Value::Null,
                RopeScaling::Linear { factor } => json!({"rope_type": "linear", "factor": factor}),
                RopeScaling::Llama3 {
                    factor,
                    low_freq_factor,
                    high_freq_factor,
                    original_max_position_embeddings,
                } => json!({
                    "rope_type": "llama3",
                    "factor": factor,
                    "low_freq_factor": low_freq_factor,
                    "high_freq_factor": high_freq_factor,
                    "original_max_position_embeddings": original_max_position_embeddings,
                }),
            },
        );
        m.insert(
            "tie_word_embeddings".into(),
            json!(self.tie_word_embeddings),
        );
        match self.architecture {
            Architecture::Llama => {
                m.insert("attention_bias".into(), json!(self.qkv_bias));
                m.insert("mlp_bias".into(), json!(self.mlp_bias));
            }
            Architecture::Olmo2 => {
                m.insert("attention_bias".into(), json!(self.qkv_bias));
            }
            Architecture::Olmo => {
                m.insert("attention_bias".into(), json!(self.qkv_bias));
                m.insert("clip_qkv".into(), json!(self.clip_qkv));
            }
            Architecture::SmolLm3 => {
                m.insert("attention_bias".into(), json!(self.qkv_bias));
                m.insert("mlp_bias".into(), json!(self.mlp_bias));
                let no_rope: Vec<u8> = self.layer_rope.iter().map(|&r| u8::from(r)).collect();
                m.insert("no_rope_layers".into(), json!(no_rope));
                let window = self.layer_attention.iter().find_map(|a| match a {
                    LayerAttention::Sliding(w) => Some(*w),
                    LayerAttention::Full => None,
                });
                let types: Vec<&str> = self
                    .layer_attention
                    .iter()
                    .map(|a| match a {
                        LayerAttention::Full => "full_attention",
                        LayerAttention::Sliding(_) => "sliding_attention",
                    })
                    .collect();
                m.insert("use_sliding_window".into(), json!(window.is_some()));
                m.insert("sliding_window".into(), json!(window));
                m.insert("layer_types".into(), json!(types));
            }
            Architecture::Mistral => {
                let window = self.layer_attention.iter().find_map(|a| match a {
                    LayerAttention::Sliding(w) => Some(*w),
                    LayerAttention::Full => None,
                });
                m.insert("sliding_window".into(), json!(window));
            }
            Architecture::Qwen2 | Architecture::Qwen3 => {
                if self.architecture == Architecture::Qwen3 {
                    m.insert("attention_bias".into(), json!(self.qkv_bias));
                }
                let first_sliding = self
                    .layer_attention
                    .iter()
                    .position(|a| matches!(a, LayerAttention::Sliding(_)));
                let window = first_sliding.map(|i| match self.layer_attention[i] {
                    LayerAttention::Sliding(w) => w,
                    LayerAttention::Full => 0,
                });
                m.insert("use_sliding_window".into(), json!(first_sliding.is_some()));
                m.insert("sliding_window".into(), json!(window));
                m.insert(
                    "max_window_layers".into(),
                    json!(first_sliding.unwrap_or(self.num_hidden_layers)),
                );
            }
        }
        if let Some(b) = self.bos_token_id {
            m.insert("bos_token_id".into(), json!(b));
        }
        match self.eos_token_ids.as_slice() {
            [] => {}
            [one] => {
                m.insert("eos_token_id".into(), json!(one));
            }
            many => {
                m.insert("eos_token_id".into(), json!(many));
            }
        }
        if let Some(p) = self.pad_token_id {
            m.insert("pad_token_id".into(), json!(p));
        }
        m.insert("torch_dtype".into(), json!(dtype));
        m.insert("use_cache".into(), json!(true));
        Value::Object(m)
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
];

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
use fields::Fields;

#[cfg(test)]
mod tests;
