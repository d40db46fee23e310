//! `generation_config.json`: end-of-sequence ids and the sampling defaults a model ships with.

use std::path::Path;

use glassbox_model::ModelConfig;
use serde_json::Value;

use crate::sampling::SamplingParams;
use crate::{InferError, Result};

/// What `generation_config.json` (or, without it, `config.json`) says about generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Tokens that end generation.
    pub eos_token_ids: Vec<u32>,
    /// The beginning-of-sequence token, when given.
    pub bos_token_id: Option<u32>,
    /// Sampling defaults: transformers' semantics (`do_sample: false` means greedy; sampling
    /// without an explicit `top_k` uses transformers' default of 50).
    pub sampling: SamplingParams,
    /// `max_new_tokens`, when given.
    pub max_new_tokens: Option<usize>,
}

impl GenerationConfig {
    /// Reads `dir/generation_config.json`, falling back to `model`'s ids when it is absent.
    pub fn load(dir: &Path, model: &ModelConfig) -> Result<Self> {
        let path = dir.join("generation_config.json");
        let mut out = Self {
            eos_token_ids: model.eos_token_ids.clone(),
            bos_token_id: model.bos_token_id,
            sampling: SamplingParams::greedy(),
            max_new_tokens: None,
        };
        if !path.exists() {
            return Ok(out);
        }
        let v: Value = glassbox_core::fsio::read_json(&path)?;
        let err = |field: &str, message: String| InferError::Config {
            path: path.to_path_buf(),
            field: field.into(),
            message,
        };
        let num = |field: &str| -> Result<Option<f64>> {
            match v.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| err(field, format!("expected a number, found {x}"))),
            }
        };
        let id = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok());
        match v.get("eos_token_id") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                out.eos_token_ids = a
                    .iter()
                    .map(|x| {
                        id(x).ok_or_else(|| {
                            err("eos_token_id", format!("expected token ids, found {x}"))
                        })
                    })
                    .collect::<Result<_>>()?;
            }
            Some(x) => {
                out.eos_token_ids = vec![id(x).ok_or_else(|| {
                    err("eos_token_id", format!("expected a token id, found {x}"))
                })?];
            }
        }
        if let Some(x) = v.get("bos_token_id").filter(|x| !x.is_null()) {
            out.bos_token_id =
                Some(id(x).ok_or_else(|| {
                    err("bos_token_id", format!("expected a token id, found {x}"))
                })?);
        }
        let do_sample = match v.get("do_sample") {
            None | Some(Value::Null) => false,
            Some(x) => x
                .as_bool()
                .ok_or_else(|| err("do_sample", format!("expected true or false, found {x}")))?,
        };
        if do_sample {
            out.sampling = SamplingParams {
                temperature: num("temperature")?.unwrap_or(1.0) as f32,
                top_k: num("top_k")?.unwrap_or(50.0) as usize,
                top_p: num("top_p")?.unwrap_or(1.0) as f32,
                min_p: num("min_p")?.unwrap_or(0.0) as f32,
                repetition_penalty: num("repetition_penalty")?.unwrap_or(1.0) as f32,
                seed: 0,
            };
        } else if let Some(rp) = num("repetition_penalty")? {
            out.sampling.repetition_penalty = rp as f32;
        }
        out.sampling
            .validate()
            .map_err(|e| err("(sampling)", e.to_string()))?;
        out.max_new_tokens = num("max_new_tokens")?.map(|n| n as usize);
        Ok(out)
    }
}
