//! Building a [`Transformer`]: from named tensors (some possibly quantized), from a Hugging Face
//! model directory, or with transformers' random initialisation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use super::{Expert, Ffn, Kernels, Layer, Linear, LoadReport, Norm, Qkv, Transformer, Weight};
use crate::config::{LayerAttention, ModelConfig, NormKind, QkvLayout};
use crate::families::{FfnNames, QkvNames, layer_names, model_names, tensor_shapes};
use crate::quantized::QMatrix;
use crate::rope::Rope;
use crate::weights::WeightFiles;
use crate::{ModelError, Result};

/// Tensors old checkpoints carry that transformers recomputes (RoPE tables, GPT-2-style causal
/// mask buffers of GPT-NeoX).
fn harmless(name: &str) -> bool {
    name.ends_with("rotary_emb.inv_freq")
        || name.ends_with(".attention.bias")
        || name.ends_with(".attention.masked_bias")
}

impl Transformer {
    /// Builds a model on `device` from named tensors (HF names, shapes as [`tensor_shapes`]),
    /// moving them there. Missing or misshapen tensors are errors; extra tensors are ignored.
    pub fn from_tensors(
        cfg: ModelConfig,
        tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        Self::from_weights(cfg, tensors, HashMap::new(), device)
    }

    /// [`Transformer::from_tensors`] with some matrices quantized (`quantized`, by HF name):
    /// they stay in their blocks, and products read them there (see [`crate::quantized`]).
    pub fn from_weights(
        cfg: ModelConfig,
        mut tensors: HashMap<String, Tensor>,
        mut quantized: HashMap<String, Arc<QMatrix>>,
        device: &Device,
    ) -> Result<Self> {
        let shapes = tensor_shapes(&cfg);
        let mut params = Vec::with_capacity(shapes.len());
        for (name, shape) in shapes {
            if let Some(q) = quantized.remove(&name) {
                let (r, c) = q.dims();
                if shape != [r, c] {
                    return Err(ModelError::TensorShape {
                        path: "(in memory)".into(),
                        name,
                        expected: shape,
                        found: vec![r, c],
                    });
                }
                params.push((name, Weight::Quant(q)));
                continue;
            }
            match tensors.remove(&name) {
                None => {
                    return Err(ModelError::MissingTensor {
                        name,
                        where_: "the tensors given".into(),
                    });
                }
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(ModelError::TensorShape {
                        path: "(in memory)".into(),
                        name,
                        expected: shape,
                        found: t.dims().to_vec(),
                    });
                }
                Some(t) => {
                    // Matrices stay bf16/f16 when given so (the kernels widen them as they
                    // read); norms and biases become f32.
                    let keep = t.rank() == 2 && matches!(t.dtype(), DType::BF16 | DType::F16);
                    let t = if keep { t } else { t.to_dtype(DType::F32)? };
                    // On the model's device (the same tensor when it is there already).
                    let t = t.to_device(device)?;
                    params.push((name, Weight::Dense(t)));
                }
            }
        }
        let by_name: HashMap<&str, &Weight> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let weight = |name: &str| -> Result<Weight> {
            by_name
                .get(name)
                .map(|t| (*t).clone())
                .ok_or_else(|| ModelError::MissingTensor {
                    name: name.to_string(),
                    where_: "the tensors given".into(),
                })
        };
        // Norms and biases are never quantized (the GGUF loader keeps them f32).
        let get = |name: &str| -> Result<Tensor> {
            match weight(name)? {
                Weight::Dense(t) => Ok(t),
                Weight::Quant(_) => Err(ModelError::Input(format!(
                    "`{name}` must not be quantized (only matrices may be)"
                ))),
            }
        };
        let lin = |name: &str, bias: bool| -> Result<Linear> {
            Ok(Linear {
                w: weight(&format!("{name}.weight"))?,
                b: if bias {
                    Some(get(&format!("{name}.bias"))?)
                } else {
                    None
                },
                lora: None,
            })
        };
        let norm = |name: &Option<String>| -> Result<Option<Norm>> {
            let Some(name) = name else { return Ok(None) };
            Ok(Some(match cfg.norm {
                NormKind::Parameterless => Norm::Plain,
                NormKind::Rms => Norm::Rms(get(&format!("{name}.weight"))?),
                NormKind::RmsPlusOne => Norm::RmsPlusOne(get(&format!("{name}.weight"))?),
                NormKind::LayerNorm => Norm::Layer(
                    get(&format!("{name}.weight"))?,
                    get(&format!("{name}.bias"))?,
                ),
            }))
        };
        let qk_norm = |name: &Option<String>| -> Result<Option<Norm>> {
            let Some(name) = name else { return Ok(None) };
            let w = get(&format!("{name}.weight"))?;
            Ok(Some(if cfg.norm == NormKind::RmsPlusOne {
                Norm::RmsPlusOne(w)
            } else {
                Norm::Rms(w)
            }))
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let n = layer_names(&cfg, l);
            let qkv = match &n.qkv {
                QkvNames::Separate { q, k, v } => Qkv::Separate {
                    q: lin(q, cfg.qkv_bias)?,
                    k: lin(k, cfg.qkv_bias)?,
                    v: lin(v, cfg.qkv_bias)?,
                },
                QkvNames::Fused(name) => Qkv::Fused {
                    qkv: lin(name, cfg.qkv_bias)?,
                    per_head: cfg.qkv_layout == QkvLayout::FusedPerHead,
                },
            };
            let mb = cfg.mlp_bias;
            let ffn = match &n.ffn {
                FfnNames::Gated { gate, up, down } => Ffn::Gated(Expert {
                    gate: lin(gate, mb)?,
                    up: lin(up, mb)?,
                    down: lin(down, mb)?,
                }),
                FfnNames::FusedGated { gate_up, down } => Ffn::FusedGated {
                    gate_up: lin(gate_up, mb)?,
                    down: lin(down, mb)?,
                },
                FfnNames::Plain { up, down } => Ffn::Plain {
                    up: lin(up, mb)?,
                    down: lin(down, mb)?,
                },
                FfnNames::Moe { router, experts } => Ffn::Moe {
                    router: lin(router, false)?,
                    experts: experts
                        .iter()
                        .map(|[g, u, d]| {
                            Ok(Expert {
                                gate: lin(g, false)?,
                                up: lin(u, false)?,
                                down: lin(d, false)?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?,
                },
            };
            let attention = cfg.layer_attention[l];
            let rope = if !cfg.layer_rope.get(l).copied().unwrap_or(true) {
                None
            } else if cfg.local_rope.is_some() && matches!(attention, LayerAttention::Sliding(_)) {
                Some(1)
            } else {
                Some(0)
            };
            layers.push(Layer {
                pre_attn: norm(&n.pre_attn)?,
                post_attn: norm(&n.post_attn)?,
                pre_ffn: norm(&n.pre_ffn)?,
                post_ffn: norm(&n.post_ffn)?,
                qkv,
                o: lin(&n.o, cfg.o_bias)?,
                q_norm: qk_norm(&n.q_norm)?,
                k_norm: qk_norm(&n.k_norm)?,
                ffn,
                rope,
                attention,
            });
        }
        let names = model_names(&cfg);
        let embed = weight(&format!("{}.weight", names.embed))?;
        let final_norm = norm(&Some(names.final_norm.clone()))?.unwrap_or(Norm::Plain);
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(weight(&format!("{}.weight", names.lm_head))?)
        };
        let mut ropes = vec![Rope::new(
            cfg.rotary_dim,
            cfg.rope_theta,
            &cfg.rope_scaling,
            cfg.max_position_embeddings,
        )];
        if let Some((theta, scaling)) = &cfg.local_rope {
            ropes.push(Rope::new(
                cfg.rotary_dim,
                *theta,
                scaling,
                cfg.max_position_embeddings,
            ));
        }
        drop(by_name);
        Ok(Self {
            cfg,
            embed,
            layers,
            norm: final_norm,
            lm_head,
            ropes,
            params,
            kernels: Kernels::Fused,
            device: device.clone(),
        })
    }

    /// Loads a Hugging Face model directory (`config.json` + safetensors, f32/f16/bf16). Weight
    /// matrices stored in bf16 or f16 stay in that dtype in memory (see [`Transformer::load_with`]).
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, LoadReport)> {
        Self::load_with(dir, device, true)
    }

    /// [`Transformer::load`], with `keep_half` false widening every weight to f32 (twice the
    /// memory of a bf16 checkpoint; the results are the same).
    pub fn load_with(dir: &Path, device: &Device, keep_half: bool) -> Result<(Self, LoadReport)> {
        if !dir.is_dir() {
            return Err(ModelError::MissingFile {
                path: dir.to_path_buf(),
                hint: "expected a model directory (config.json, model.safetensors, tokenizer.json)"
                    .into(),
            });
        }
        let cfg = ModelConfig::from_file(&dir.join("config.json"))?;
        let files = WeightFiles::open_dir(dir)?;
        let mut tensors = HashMap::new();
        for (name, shape) in tensor_shapes(&cfg) {
            let t = files.get_as(&name, &shape, device, keep_half && shape.len() == 2)?;
            tensors.insert(name, t);
        }
        let lm_head = format!("{}.weight", model_names(&cfg).lm_head);
        let unused_tensors = files
            .unused()
            .into_iter()
            .filter(|n| !harmless(n))
            // Tied checkpoints may repeat the embedding.
            .filter(|n| !(cfg.tie_word_embeddings && *n == lm_head))
            .collect();
        let report = LoadReport {
            unused_tensors,
            stored_dtype: files.stored_dtype().to_string(),
        };
        Ok((Self::from_tensors(cfg, tensors, device)?, report))
    }

    /// A model with transformers' default initialisation: every matrix N(0, 0.02²) (the
    /// `initializer_range` default), norms 1 (Gemma's `1 + w` norms: w = 0), biases 0, drawn from
    /// the seeded glassbox RNG.
    pub fn random(cfg: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
        let mut tensors = HashMap::new();
        let norm_value = if cfg.norm == NormKind::RmsPlusOne {
            0.0
        } else {
            1.0
        };
        for (name, shape) in tensor_shapes(&cfg) {
            let n: usize = shape.iter().product();
            let t = if name.ends_with("norm.weight") {
                Tensor::full(norm_value as f32, shape.as_slice(), device)?
            } else if name.ends_with(".bias") {
                Tensor::zeros(shape.as_slice(), DType::F32, device)?
            } else {
                let mut v = Vec::with_capacity(n);
                while v.len() < n {
                    // Box–Muller: two uniforms give two independent normals.
                    let u1 = 1.0 - rng.next_f64();
                    let u2 = rng.next_f64();
                    let r = (-2.0 * u1.ln()).sqrt() * 0.02;
                    let a = 2.0 * std::f64::consts::PI * u2;
                    v.push((r * a.cos()) as f32);
                    if v.len() < n {
                        v.push((r * a.sin()) as f32);
                    }
                }
                Tensor::from_vec(v, shape.as_slice(), device)?
            };
            tensors.insert(name, t);
        }
        Self::from_tensors(cfg, tensors, device)
    }
}
