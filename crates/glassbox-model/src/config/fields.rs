//! Typed reads of `config.json` fields, with errors that name the field: the pieces
//! [`super::ModelConfig::from_value`] is built from.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Activation, Architecture, LayerAttention, RopeScaling, limit_of};
use crate::{ModelError, Result};

/// Typed access to a JSON object with errors that carry the field's full name.
pub(crate) struct Fields<'a> {
    pub(super) obj: &'a Map<String, Value>,
    pub(super) path: &'a Path,
    pub(super) prefix: &'a str,
}

impl<'a> Fields<'a> {
    pub(crate) fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub(crate) fn err(&self, key: &str, message: String) -> ModelError {
        ModelError::Config {
            path: PathBuf::from(self.path),
            field: self.name(key),
            message,
        }
    }

    /// The value of `key`, with JSON `null` treated as absent (transformers writes nulls).
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    self.err(key, format!("expected a non-negative integer, found {v}"))
                }),
        }
    }

    /// A size: a positive integer no larger than its entry in [`SIZE_LIMITS`].
    pub(crate) fn opt_size(&self, key: &str) -> Result<Option<usize>> {
        let Some(n) = self.opt_usize(key)? else {
            return Ok(None);
        };
        if n == 0 {
            return Err(self.err(key, "must be positive".into()));
        }
        let max = limit_of(key);
        if n > max {
            return Err(self.err(
                key,
                format!("{n} exceeds the limit of {max}; is this config.json corrupt?"),
            ));
        }
        Ok(Some(n))
    }

    pub(crate) fn req_size(&self, key: &str) -> Result<usize> {
        self.opt_size(key)?
            .ok_or_else(|| self.err(key, "missing".into()))
    }

    pub(crate) fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a number, found {v}"))),
        }
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected true or false, found {v}"))),
        }
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a string, found {v}"))),
        }
    }

    pub(crate) fn opt_token(&self, key: &str) -> Result<Option<u32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a token id, found {v}"))),
        }
    }

    /// A token id or a list of token ids (as `eos_token_id` may be).
    pub(crate) fn token_list(&self, key: &str) -> Result<Vec<u32>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| self.err(key, format!("expected token ids, found {v}")))
                })
                .collect(),
            Some(_) => Ok(self.opt_token(key)?.into_iter().collect()),
        }
    }

    pub(crate) fn architecture(&self) -> Result<Architecture> {
        if let Some(v) = self.get("architectures") {
            let first = v
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    self.err(
                        "architectures",
                        format!("expected a list of class names, found {v}"),
                    )
                })?;
            return Architecture::from_class(first).ok_or_else(|| {
                self.err(
                    "architectures",
                    format!(
                        "`{first}` is not supported; glassbox implements {}",
                        Architecture::ALL.map(Architecture::class_name).join(", ")
                    ),
                )
            });
        }
        match self.opt_str("model_type")? {
            Some(t) => Architecture::from_model_type(t).ok_or_else(|| {
                self.err(
                    "model_type",
                    format!(
                        "`{t}` is not supported; glassbox implements {}",
                        Architecture::ALL.map(Architecture::model_type).join(", ")
                    ),
                )
            }),
            None => Err(self.err("architectures", "missing (and no model_type either)".into())),
        }
    }

    /// `(rope_theta, scaling, key)` from 4.x (`rope_theta` + `rope_scaling`) or 5.x
    /// (`rope_parameters`); `key` names the object the scaling came from. GPT-NeoX 4.x says
    /// `rotary_emb_base`; Gemma 3's per-layer-type parameters give the global layers' RoPE here
    /// (the sliding layers' is [`Fields::local_rope`]).
    pub(crate) fn rope(&self, arch: Architecture) -> Result<(f64, RopeScaling, &'static str)> {
        let top_theta = match self.opt_f64("rope_theta")? {
            Some(t) => Some(t),
            None if arch == Architecture::GptNeoX => self.opt_f64("rotary_emb_base")?,
            None => None,
        };
        let default_theta = match arch {
            Architecture::Gemma3 => 1_000_000.0,
            _ => 10_000.0,
        };
        let original = self.opt_size("original_max_position_embeddings")?;
        if let Some(params) = self.get("rope_parameters") {
            let obj = params.as_object().ok_or_else(|| {
                self.err(
                    "rope_parameters",
                    format!("expected an object, found {params}"),
                )
            })?;
            let per_type = obj.get("rope_type").is_none()
                && !obj.is_empty()
                && obj.values().all(Value::is_object);
            let (obj, prefix) = if per_type {
                if arch != Architecture::Gemma3 {
                    return Err(self.err(
                        "rope_parameters",
                        "per-layer-type RoPE parameters are not supported for this architecture"
                            .into(),
                    ));
                }
                let full = obj
                    .get("full_attention")
                    .and_then(Value::as_object)
                    .ok_or_else(|| self.err("rope_parameters.full_attention", "missing".into()))?;
                (full, "rope_parameters.full_attention")
            } else {
                (obj, "rope_parameters")
            };
            let sub = Fields {
                obj,
                path: self.path,
                prefix,
            };
            let theta = sub
                .opt_f64("rope_theta")?
                .or(top_theta)
                .unwrap_or(default_theta);
            let key = if per_type {
                "rope_parameters.full_attention"
            } else {
                "rope_parameters"
            };
            return Ok((theta, sub.scaling(original)?, key));
        }
        let theta = top_theta.unwrap_or(default_theta);
        let scaling = match self.get("rope_scaling") {
            None => RopeScaling::None,
            Some(v) => {
                let obj = v.as_object().ok_or_else(|| {
                    self.err(
                        "rope_scaling",
                        format!("expected an object or null, found {v}"),
                    )
                })?;
                Fields {
                    obj,
                    path: self.path,
                    prefix: "rope_scaling",
                }
                .scaling(original)?
            }
        };
        Ok((theta, scaling, "rope_scaling"))
    }

    /// Gemma 3's RoPE for sliding-window layers: `rope_parameters.sliding_attention` (5.x) or
    /// `rope_local_base_freq` with plain RoPE (4.x, default 10000).
    pub(crate) fn local_rope(&self) -> Result<(f64, RopeScaling)> {
        if let Some(local) = self
            .get("rope_parameters")
            .and_then(|p| p.get("sliding_attention"))
        {
            let obj = local.as_object().ok_or_else(|| {
                self.err(
                    "rope_parameters.sliding_attention",
                    format!("expected an object, found {local}"),
                )
            })?;
            let sub = Fields {
                obj,
                path: self.path,
                prefix: "rope_parameters.sliding_attention",
            };
            let theta = sub.opt_f64("rope_theta")?.unwrap_or(10_000.0);
            return Ok((theta, sub.scaling(None)?));
        }
        Ok((
            self.opt_f64("rope_local_base_freq")?.unwrap_or(10_000.0),
            RopeScaling::None,
        ))
    }

    /// How many leading dimensions of a head RoPE rotates: `head_dim` times the partial rotary
    /// factor (`partial_rotary_factor`, in `rope_parameters` or at the top; GPT-NeoX 4.x:
    /// `rotary_pct`, default 0.25), refused for families whose transformers code rotates whole
    /// heads.
    pub(crate) fn rotary_dim(
        &self,
        arch: Architecture,
        allowed: bool,
        head_dim: usize,
    ) -> Result<usize> {
        let nested = match self.get("rope_parameters").and_then(Value::as_object) {
            Some(obj) => Fields {
                obj,
                path: self.path,
                prefix: "rope_parameters",
            }
            .opt_f64("partial_rotary_factor")?
            .map(|p| (p, "rope_parameters.partial_rotary_factor")),
            None => None,
        };
        let found = match nested {
            Some(x) => Some(x),
            None => match self.opt_f64("partial_rotary_factor")? {
                Some(p) => Some((p, "partial_rotary_factor")),
                None if arch == Architecture::GptNeoX => {
                    Some((self.opt_f64("rotary_pct")?.unwrap_or(0.25), "rotary_pct"))
                }
                None => None,
            },
        };
        let Some((p, key)) = found else {
            return Ok(head_dim);
        };
        if p == 1.0 {
            return Ok(head_dim);
        }
        if !allowed {
            return Err(self.err(key, format!("{p} is not supported (only 1.0)")));
        }
        if !(p > 0.0 && p <= 1.0) {
            return Err(self.err(key, format!("{p} must be in (0, 1]")));
        }
        // transformers: int(head_dim * factor).
        let dim = (head_dim as f64 * p) as usize;
        if dim == 0 || !dim.is_multiple_of(2) {
            return Err(self.err(
                key,
                format!("{p} × head_dim {head_dim} gives {dim} rotary dimensions; RoPE needs a positive even number"),
            ));
        }
        Ok(dim)
    }

    /// The MLP activation from the first of `keys` present (`hidden_activation` before
    /// `hidden_act` for Gemma), else `default`.
    pub(crate) fn activation(&self, keys: &[&str], default: Activation) -> Result<Activation> {
        for key in keys {
            if let Some(name) = self.opt_str(key)? {
                return match name {
                    "silu" | "swish" => Ok(Activation::Silu),
                    "gelu" => Ok(Activation::Gelu),
                    "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
                    other => Err(self.err(
                        key,
                        format!(
                            "`{other}` is not supported (glassbox implements silu, gelu, gelu_new, gelu_pytorch_tanh and gelu_fast)"
                        ),
                    )),
                };
            }
        }
        Ok(default)
    }

    /// A number that may be set to `null` to turn a feature off: absent gives `default`,
    /// `null` gives `None`.
    pub(crate) fn nullable_f64(&self, key: &str, default: Option<f64>) -> Result<Option<f64>> {
        match self.obj.get(key) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(_) => match self.opt_f64(key)? {
                Some(x) if x > 0.0 => Ok(Some(x)),
                Some(x) => Err(self.err(key, format!("{x} must be positive"))),
                None => Ok(None),
            },
        }
    }

    /// Reads a scaling object (`rope_scaling`, or `rope_parameters` in 5.x).
    /// `original` is the top-level `original_max_position_embeddings` (where Phi-3 4.x keeps it).
    pub(crate) fn scaling(&self, original: Option<usize>) -> Result<RopeScaling> {
        // Old configs say `type`, newer ones `rope_type`.
        let kind = match self.opt_str("rope_type")? {
            Some(t) => t,
            None => self.opt_str("type")?.unwrap_or("default"),
        };
        let key = if self.get("rope_type").is_some() {
            "rope_type"
        } else {
            "type"
        };
        let factor = || -> Result<f64> {
            let f = self
                .opt_f64("factor")?
                .ok_or_else(|| self.err("factor", "missing".into()))?;
            if f <= 0.0 {
                return Err(self.err("factor", format!("{f} must be positive")));
            }
            Ok(f)
        };
        match kind {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear { factor: factor()? }),
            "llama3" => {
                let low = self
                    .opt_f64("low_freq_factor")?
                    .ok_or_else(|| self.err("low_freq_factor", "missing".into()))?;
                let high = self
                    .opt_f64("high_freq_factor")?
                    .ok_or_else(|| self.err("high_freq_factor", "missing".into()))?;
                if high <= low {
                    return Err(self.err(
                        "high_freq_factor",
                        format!("{high} must exceed low_freq_factor ({low})"),
                    ));
                }
                Ok(RopeScaling::Llama3 {
                    factor: factor()?,
                    low_freq_factor: low,
                    high_freq_factor: high,
                    original_max_position_embeddings: self
                        .opt_size("original_max_position_embeddings")?
                        .ok_or_else(|| {
                            self.err("original_max_position_embeddings", "missing".into())
                        })?,
                })
            }
            "longrope" | "su" => {
                let list = |name: &str| -> Result<Vec<f64>> {
                    let v = self
                        .get(name)
                        .ok_or_else(|| self.err(name, "missing".into()))?;
                    v.as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|x| x.as_f64().filter(|f| f.is_finite() && *f > 0.0))
                                .collect::<Option<Vec<f64>>>()
                        })
                        .ok_or_else(|| self.err(name, "expected a list of positive numbers".into()))
                };
                let original_max_position_embeddings =
                    match self.opt_size("original_max_position_embeddings")? {
                        Some(o) => o,
                        None => original.ok_or_else(|| {
                            self.err("original_max_position_embeddings", "missing".into())
                        })?,
                    };
                let positive = |name: &str| -> Result<Option<f64>> {
                    match self.opt_f64(name)? {
                        Some(x) if x <= 0.0 => {
                            Err(self.err(name, format!("{x} must be positive")))
                        }
                        x => Ok(x),
                    }
                };
                Ok(RopeScaling::LongRope {
                    short_factor: list("short_factor")?,
                    long_factor: list("long_factor")?,
                    original_max_position_embeddings,
                    factor: positive("factor")?,
                    attention_factor: positive("attention_factor")?,
                })
            }
            other => Err(self.err(
                key,
                format!(
                    "`{other}` is not supported (glassbox implements default, linear, llama3 and longrope)"
                ),
            )),
        }
    }

    /// Which layers apply RoPE: all, except SmolLM3's `no_rope_layers` zeros (given, or every
    /// `no_rope_layer_interval`-th layer, default 4, as transformers derives them).
    pub(crate) fn layer_rope(&self, arch: Architecture, layers: usize) -> Result<Vec<bool>> {
        if arch != Architecture::SmolLm3 {
            return Ok(vec![true; layers]);
        }
        if let Some(list) = self.get("no_rope_layers").filter(|v| !v.is_null()) {
            let list = list
                .as_array()
                .filter(|l| l.len() == layers)
                .ok_or_else(|| {
                    self.err(
                        "no_rope_layers",
                        format!("expected a list of {layers} entries (1: RoPE, 0: none)"),
                    )
                })?;
            return list
                .iter()
                .enumerate()
                .map(|(i, v)| match v.as_u64() {
                    Some(0) => Ok(false),
                    Some(1) => Ok(true),
                    _ => Err(self.err("no_rope_layers", format!("entry {i} is {v}, not 0 or 1"))),
                })
                .collect();
        }
        let every = self.opt_size("no_rope_layer_interval")?.unwrap_or(4);
        if every == 0 {
            return Err(self.err("no_rope_layer_interval", "is 0 (at least 1)".to_string()));
        }
        Ok((0..layers).map(|i| (i + 1) % every != 0).collect())
    }

    pub(crate) fn layer_attention(
        &self,
        arch: Architecture,
        layers: usize,
    ) -> Result<Vec<LayerAttention>> {
        // SmolLM3 slides only where `use_sliding_window` is on and the layer type says so.
        if arch == Architecture::SmolLm3 && !self.opt_bool("use_sliding_window")?.unwrap_or(false) {
            return Ok(vec![LayerAttention::Full; layers]);
        }
        let window = self.opt_usize("sliding_window")?;
        if let Some(types) = self.get("layer_types") {
            let list = types
                .as_array()
                .filter(|l| l.len() == layers)
                .ok_or_else(|| self.err("layer_types", format!("expected {layers} layer types")))?;
            return list
                .iter()
                .enumerate()
                .map(|(i, t)| match t.as_str() {
                    Some("full_attention") => Ok(LayerAttention::Full),
                    Some("sliding_attention") => window
                        .filter(|w| *w > 0)
                        .map(LayerAttention::Sliding)
                        .ok_or_else(|| {
                            self.err(
                                "sliding_window",
                                format!("layer {i} is sliding_attention but no window is set"),
                            )
                        }),
                    _ => Err(self.err("layer_types", format!("entry {i}: `{t}` is not supported"))),
                })
                .collect();
        }
        let sliding = |w: Option<usize>| match w {
            Some(w) if w > 0 => LayerAttention::Sliding(w),
            _ => LayerAttention::Full,
        };
        Ok(match arch {
            Architecture::Llama
            | Architecture::SmolLm3
            | Architecture::Olmo2
            | Architecture::Olmo
            | Architecture::GptNeoX
            | Architecture::Olmoe => vec![LayerAttention::Full; layers],
            Architecture::Mistral | Architecture::Mixtral | Architecture::Phi3 => {
                vec![sliding(window); layers]
            }
            // Gemma 2 4.x: even layers slide; Gemma 3 4.x: all but every
            // `sliding_window_pattern`-th (default 6). Window default 4096.
            Architecture::Gemma2 => (0..layers)
                .map(|i| {
                    if i % 2 == 0 {
                        sliding(window.or(Some(4096)))
                    } else {
                        LayerAttention::Full
                    }
                })
                .collect(),
            Architecture::Gemma3 => {
                let every = self.opt_size("sliding_window_pattern")?.unwrap_or(6);
                (0..layers)
                    .map(|i| {
                        if (i + 1) % every != 0 {
                            sliding(window.or(Some(4096)))
                        } else {
                            LayerAttention::Full
                        }
                    })
                    .collect()
            }
            Architecture::Qwen2 | Architecture::Qwen3 | Architecture::Qwen3Moe => {
                if self.opt_bool("use_sliding_window")?.unwrap_or(false) {
                    // transformers: layers with index >= max_window_layers use the window.
                    let first = self.opt_usize("max_window_layers")?.unwrap_or(layers);
                    (0..layers)
                        .map(|i| {
                            if i >= first {
                                sliding(window)
                            } else {
                                LayerAttention::Full
                            }
                        })
                        .collect()
                } else {
                    vec![LayerAttention::Full; layers]
                }
            }
        })
    }
}
