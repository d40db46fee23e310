//! Typed reads of `config.json` fields, with errors that name the field: the pieces
//! [`super::ModelConfig::from_value`] is built from.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Architecture, LayerAttention, RopeScaling, limit_of};
use crate::{ModelError, Result};

/// Typed access to a JSON object with errors that carry the field's full name.
pub(super) struct Fields<'a> {
    pub(super) obj: &'a Map<String, Value>,
    pub(super) path: &'a Path,
    pub(super) prefix: &'a str,
}

impl<'a> Fields<'a> {
    pub(super) fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub(super) fn err(&self, key: &str, message: String) -> ModelError {
        ModelError::Config {
            path: PathBuf::from(self.path),
            field: self.name(key),
            message,
        }
    }

    /// The value of `key`, with JSON `null` treated as absent (transformers writes nulls).
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
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
    pub(super) fn opt_size(&self, key: &str) -> Result<Option<usize>> {
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

    pub(super) fn req_size(&self, key: &str) -> Result<usize> {
        self.opt_size(key)?
            .ok_or_else(|| self.err(key, "missing".into()))
    }

    pub(super) fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a number, found {v}"))),
        }
    }

    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected true or false, found {v}"))),
        }
    }

    pub(super) fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected a string, found {v}"))),
        }
    }

    pub(super) fn opt_token(&self, key: &str) -> Result<Option<u32>> {
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
    pub(super) fn token_list(&self, key: &str) -> Result<Vec<u32>> {
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

    pub(super) fn architecture(&self) -> Result<Architecture> {
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

    /// `(rope_theta, scaling)` from 4.x (`rope_theta` + `rope_scaling`) or 5.x (`rope_parameters`).
    pub(super) fn rope(&self) -> Result<(f64, RopeScaling)> {
        if let Some(params) = self.get("rope_parameters") {
            let obj = params.as_object().ok_or_else(|| {
                self.err(
                    "rope_parameters",
                    format!("expected an object, found {params}"),
                )
            })?;
            let sub = Fields {
                obj,
                path: self.path,
                prefix: "rope_parameters",
            };
            // Per-layer-type RoPE (`{"full_attention": {...}, ...}`) belongs to other families.
            if sub.get("rope_type").is_none()
                && obj.values().all(Value::is_object)
                && !obj.is_empty()
            {
                return Err(self.err(
                    "rope_parameters",
                    "per-layer-type RoPE parameters are not supported for this architecture".into(),
                ));
            }
            let theta = sub
                .opt_f64("rope_theta")?
                .or(self.opt_f64("rope_theta")?)
                .unwrap_or(10_000.0);
            return Ok((theta, sub.scaling()?));
        }
        let theta = self.opt_f64("rope_theta")?.unwrap_or(10_000.0);
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
                .scaling()?
            }
        };
        Ok((theta, scaling))
    }

    /// Reads a scaling object (`rope_scaling`, or `rope_parameters` in 5.x).
    pub(super) fn scaling(&self) -> Result<RopeScaling> {
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
            other => Err(self.err(
                key,
                format!(
                    "`{other}` is not supported (glassbox implements default, linear and llama3)"
                ),
            )),
        }
    }

    /// Which layers apply RoPE: all, except SmolLM3's `no_rope_layers` zeros (given, or every
    /// `no_rope_layer_interval`-th layer, default 4, as transformers derives them).
    pub(super) fn layer_rope(&self, arch: Architecture, layers: usize) -> Result<Vec<bool>> {
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
        Ok((0..layers).map(|i| (i + 1) % every != 0).collect())
    }

    pub(super) fn layer_attention(
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
            | Architecture::Olmo => vec![LayerAttention::Full; layers],
            Architecture::Mistral => vec![sliding(window); layers],
            Architecture::Qwen2 | Architecture::Qwen3 => {
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
