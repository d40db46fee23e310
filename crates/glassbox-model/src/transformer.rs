//! The decoder-only transformer shared by Llama, Mistral, Qwen2, Qwen3, SmolLM3 and OLMo 2.
//!
//! References: Touvron et al., "LLaMA" (2023, <https://arxiv.org/abs/2302.13971>) and "Llama 2"
//! (<https://arxiv.org/abs/2307.09288>); Ainslie et al., "GQA" (2023,
//! <https://arxiv.org/abs/2305.13245>); Zhang & Sennrich, "RMSNorm" (2019); Shazeer, "GLU Variants
//! Improve Transformer" (2020). The reference implementation we match to 1e-4 is transformers'
//! `models/llama/modeling_llama.py` (and its Mistral and Qwen2 siblings, which differ only in
//! biases and sliding-window masks, and Qwen3's `modeling_qwen3.py`, which adds an RMSNorm over
//! each query and key head before RoPE; Qwen Team, "Qwen3 Technical Report", 2025,
//! <https://arxiv.org/abs/2505.09388>), and SmolLM3's `modeling_smollm3.py`, which leaves RoPE
//! out of every fourth layer (Hugging Face, "SmolLM3: smol, multilingual, long-context reasoner",
//! 2025; NoPE after Kazemnejad et al., 2023, <https://arxiv.org/abs/2305.19466>), and OLMo 2's
//! `modeling_olmo2.py`, which normalises each sublayer's output instead of its input and the
//! whole query and key projections (Team OLMo, "2 OLMo 2 Furious", 2024,
//! <https://arxiv.org/abs/2501.00656>), and OLMo's `modeling_olmo.py` (LayerNorm without
//! parameters, q/k/v clipping; Groeneveld et al., "OLMo", 2024, <https://arxiv.org/abs/2402.00838>).
//!
//! Shape legend: `B` batch, `T` new tokens this call, `S` key slots (cached + new), `H` hidden
//! size, `nq`/`nkv` query/key-value heads, `g = nq / nkv`, `hd` head width, `V` vocabulary.
//!
//! Deliberate deviations from transformers, none of which changes results:
//! - repeat_kv is never materialised: queries are regrouped as `(B, nkv, g·T, hd)` so one
//!   batched matmul serves every query head of a group.
//! - the lm_head can be applied to the last position only ([`Logits::Last`]) during generation.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};

use crate::config::{LayerAttention, ModelConfig, QkNorm};
use crate::kv_cache::KvCache;
use crate::rope::Rope;
use crate::weights::{SaveDtype, WeightFiles, save_safetensors};
use crate::{ModelError, Result};

mod decode;

/// Which positions get logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Every position: `(B, T, V)`.
    All,
    /// Only the last position: `(B, 1, V)` (generation needs nothing else).
    Last,
}

/// Which implementation of normalisation, RoPE and softmax the forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// candle-nn's fused CPU kernels (fast; no gradients).
    Fused,
    /// Compositions of differentiable tensor ops (for training; same results within f32 rounding).
    Differentiable,
}

#[derive(Debug, Clone)]
struct Linear {
    /// `(out, in)`, as stored by transformers.
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        // (B, T, in) -> (B·T, in) @ (in, out) -> (B, T, out): one 2-D product instead of B small ones.
        let (b, t, i) = x.dims3()?;
        let y = matmul_t(&x.reshape((b * t, i))?, &self.w, kernels)?;
        let y = match &self.b {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        Ok(y.reshape((b, t, ()))?)
    }
}

impl Linear {
    /// `(M, in) -> (M, out)` with the matrix–vector kernel for any `M` on the CPU (each output one
    /// dot product, independent of `M`), GEMM elsewhere.
    fn forward_rows(&self, x: &Tensor) -> Result<Tensor> {
        let y = if x.device().is_cpu() && x.dtype() == DType::F32 && self.w.dtype() == DType::F32 {
            crate::cpu_kernels::matvec_t(x, &self.w)?
        } else {
            x.matmul(&self.w.t()?)?
        };
        Ok(match &self.b {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        })
    }
}

/// `x @ wᵀ` for `x` `(M, K)` and a weight `w` `(N, K)`: the streaming matrix–vector kernel for
/// the few rows of a decoding step, candle's GEMM otherwise (and whenever gradients are needed).
fn matmul_t(x: &Tensor, w: &Tensor, kernels: Kernels) -> Result<Tensor> {
    let rows = x.dim(0)?;
    if kernels == Kernels::Fused
        && rows <= crate::cpu_kernels::MAX_ROWS
        && x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
    {
        return Ok(crate::cpu_kernels::matvec_t(x, w)?);
    }
    Ok(x.matmul(&w.t()?)?)
}

#[derive(Debug, Clone)]
struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// Before attention (absent with post-sublayer norms).
    input_norm: Option<Norm>,
    /// Before the MLP, or with post-sublayer norms after attention.
    post_attention_norm: Norm,
    /// After the MLP (post-sublayer norms only).
    post_ff_norm: Option<Norm>,
    /// Per-head RMSNorm weights of queries and keys (`head_dim` wide), when the family has them.
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    /// Whether RoPE is applied to this layer's queries and keys.
    rope: bool,
    attention: LayerAttention,
}

/// One normalisation over the last dimension.
#[derive(Debug, Clone)]
enum Norm {
    /// RMSNorm with this weight.
    Rms(Tensor),
    /// LayerNorm without weight or bias (OLMo).
    Plain,
}

/// A loaded model: configuration, weights (f32) and RoPE tables.
#[derive(Debug, Clone)]
pub struct Transformer {
    cfg: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: Option<Tensor>,
    rope: Rope,
    kernels: Kernels,
    device: Device,
}

/// Report of what loading a directory found besides the model.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Tensors in the checkpoint that the model does not use (after the known-harmless ones).
    pub unused_tensors: Vec<String>,
    /// Storage dtype of most weights (`F32`, `BF16`, `F16`).
    pub stored_dtype: String,
}

/// HF names and shapes of every tensor the configuration needs, in transformers' order.
pub fn tensor_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (nq, nkv) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
    let mut out = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, h],
    )];
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let mut add = |name: &str, shape: Vec<usize>| out.push((format!("{p}.{name}"), shape));
        let norms = !cfg.parameterless_layer_norm;
        if !cfg.post_norm && norms {
            add("input_layernorm.weight", vec![h]);
        }
        for (proj, rows) in [("q_proj", nq), ("k_proj", nkv), ("v_proj", nkv)] {
            add(&format!("self_attn.{proj}.weight"), vec![rows, h]);
            if cfg.qkv_bias {
                add(&format!("self_attn.{proj}.bias"), vec![rows]);
            }
        }
        add("self_attn.o_proj.weight", vec![h, nq]);
        if cfg.o_bias {
            add("self_attn.o_proj.bias", vec![h]);
        }
        match cfg.qk_norm {
            QkNorm::None => {}
            QkNorm::PerHead => {
                add("self_attn.q_norm.weight", vec![hd]);
                add("self_attn.k_norm.weight", vec![hd]);
            }
            QkNorm::Whole => {
                add("self_attn.q_norm.weight", vec![nq]);
                add("self_attn.k_norm.weight", vec![nkv]);
            }
        }
        if norms {
            add("post_attention_layernorm.weight", vec![h]);
        }
        for (proj, shape, bias) in [
            ("gate_proj", vec![i, h], i),
            ("up_proj", vec![i, h], i),
            ("down_proj", vec![h, i], h),
        ] {
            add(&format!("mlp.{proj}.weight"), shape);
            if cfg.mlp_bias {
                add(&format!("mlp.{proj}.bias"), vec![bias]);
            }
        }
        if cfg.post_norm {
            add("post_feedforward_layernorm.weight", vec![h]);
        }
    }
    if !cfg.parameterless_layer_norm {
        out.push(("model.norm.weight".to_string(), vec![h]));
    }
    if !cfg.tie_word_embeddings {
        out.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, h]));
    }
    out
}

impl Transformer {
    /// Builds a model from named tensors (HF names, f32, shapes as [`tensor_shapes`]). Missing or
    /// misshapen tensors are errors; extra tensors are ignored.
    pub fn from_tensors(
        cfg: ModelConfig,
        mut tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        for (name, shape) in tensor_shapes(&cfg) {
            match tensors.get(&name) {
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
                Some(_) => {}
            }
        }
        let mut take = |name: String| -> Result<Tensor> {
            let t = tensors
                .remove(&name)
                .ok_or_else(|| ModelError::MissingTensor {
                    name,
                    where_: "the tensors given".into(),
                })?;
            Ok(t.to_dtype(DType::F32)?)
        };
        let plain = cfg.parameterless_layer_norm;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{l}");
            let mut lin = |name: &str, bias: bool| -> Result<Linear> {
                Ok(Linear {
                    w: take(format!("{p}.{name}.weight"))?,
                    b: if bias {
                        Some(take(format!("{p}.{name}.bias"))?)
                    } else {
                        None
                    },
                })
            };
            let q = lin("self_attn.q_proj", cfg.qkv_bias)?;
            let k = lin("self_attn.k_proj", cfg.qkv_bias)?;
            let v = lin("self_attn.v_proj", cfg.qkv_bias)?;
            let o = lin("self_attn.o_proj", cfg.o_bias)?;
            let gate = lin("mlp.gate_proj", cfg.mlp_bias)?;
            let up = lin("mlp.up_proj", cfg.mlp_bias)?;
            let down = lin("mlp.down_proj", cfg.mlp_bias)?;
            let (q_norm, k_norm) = if cfg.qk_norm != QkNorm::None {
                (
                    Some(take(format!("{p}.self_attn.q_norm.weight"))?),
                    Some(take(format!("{p}.self_attn.k_norm.weight"))?),
                )
            } else {
                (None, None)
            };
            layers.push(Layer {
                q,
                k,
                v,
                o,
                gate,
                up,
                down,
                input_norm: if cfg.post_norm {
                    None
                } else if plain {
                    Some(Norm::Plain)
                } else {
                    Some(Norm::Rms(take(format!("{p}.input_layernorm.weight"))?))
                },
                post_attention_norm: if plain {
                    Norm::Plain
                } else {
                    Norm::Rms(take(format!("{p}.post_attention_layernorm.weight"))?)
                },
                post_ff_norm: if cfg.post_norm {
                    Some(Norm::Rms(take(format!(
                        "{p}.post_feedforward_layernorm.weight"
                    ))?))
                } else {
                    None
                },
                q_norm,
                k_norm,
                rope: cfg.layer_rope.get(l).copied().unwrap_or(true),
                attention: cfg.layer_attention[l],
            });
        }
        let embed = take("model.embed_tokens.weight".into())?;
        let norm = if plain {
            Norm::Plain
        } else {
            Norm::Rms(take("model.norm.weight".into())?)
        };
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(take("lm_head.weight".into())?)
        };
        let rope = Rope::new(cfg.head_dim, cfg.rope_theta, &cfg.rope_scaling);
        Ok(Self {
            cfg,
            embed,
            layers,
            norm,
            lm_head,
            rope,
            kernels: Kernels::Fused,
            device: device.clone(),
        })
    }

    /// Loads a Hugging Face model directory (`config.json` + safetensors, f32/f16/bf16).
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, LoadReport)> {
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
            let t = files.get(&name, &shape, device)?;
            tensors.insert(name, t);
        }
        let unused_tensors = files
            .unused()
            .into_iter()
            // Old Llama checkpoints store RoPE buffers; tied checkpoints may repeat the embedding.
            .filter(|n| !n.ends_with("rotary_emb.inv_freq"))
            .filter(|n| !(cfg.tie_word_embeddings && n == "lm_head.weight"))
            .collect();
        let report = LoadReport {
            unused_tensors,
            stored_dtype: files.stored_dtype().to_string(),
        };
        Ok((Self::from_tensors(cfg, tensors, device)?, report))
    }

    /// A model with transformers' default initialisation: every matrix N(0, 0.02²) (the
    /// `initializer_range` default), norms 1, biases 0, drawn from the seeded glassbox RNG.
    pub fn random(cfg: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
        let mut tensors = HashMap::new();
        for (name, shape) in tensor_shapes(&cfg) {
            let n: usize = shape.iter().product();
            let t = if name.ends_with("norm.weight") {
                Tensor::ones(shape.as_slice(), DType::F32, device)?
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

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Chooses fused or differentiable kernels.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
    }

    /// Every tensor with its HF name, in transformers' order (tied weights once).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("model.embed_tokens.weight".to_string(), self.embed.clone())];
        for (l, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{l}");
            if let Some(Norm::Rms(w)) = &layer.input_norm {
                out.push((format!("{p}.input_layernorm.weight"), w.clone()));
            }
            for (name, lin) in [
                ("self_attn.q_proj", &layer.q),
                ("self_attn.k_proj", &layer.k),
                ("self_attn.v_proj", &layer.v),
                ("self_attn.o_proj", &layer.o),
            ] {
                out.push((format!("{p}.{name}.weight"), lin.w.clone()));
                if let Some(b) = &lin.b {
                    out.push((format!("{p}.{name}.bias"), b.clone()));
                }
            }
            for (name, w) in [("q_norm", &layer.q_norm), ("k_norm", &layer.k_norm)] {
                if let Some(w) = w {
                    out.push((format!("{p}.self_attn.{name}.weight"), w.clone()));
                }
            }
            if let Norm::Rms(w) = &layer.post_attention_norm {
                out.push((format!("{p}.post_attention_layernorm.weight"), w.clone()));
            }
            for (name, lin) in [
                ("mlp.gate_proj", &layer.gate),
                ("mlp.up_proj", &layer.up),
                ("mlp.down_proj", &layer.down),
            ] {
                out.push((format!("{p}.{name}.weight"), lin.w.clone()));
                if let Some(b) = &lin.b {
                    out.push((format!("{p}.{name}.bias"), b.clone()));
                }
            }
            if let Some(Norm::Rms(w)) = &layer.post_ff_norm {
                out.push((format!("{p}.post_feedforward_layernorm.weight"), w.clone()));
            }
        }
        if let Norm::Rms(w) = &self.norm {
            out.push(("model.norm.weight".to_string(), w.clone()));
        }
        if let Some(h) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), h.clone()));
        }
        out
    }

    /// Writes `config.json` and the weights into `dir` in HF layout (loadable by transformers).
    /// Tokenizer and generation files are the caller's (see `glassbox-infer`).
    pub fn save(&self, dir: &Path, dtype: SaveDtype, max_shard_bytes: u64) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| glassbox_core::CoreError::io("creating", dir, e))?;
        save_safetensors(dir, &self.named_tensors(), dtype, max_shard_bytes)?;
        let config = self.cfg.to_hf_json(dtype.torch_name());
        glassbox_core::fsio::write_json_atomic(&dir.join("config.json"), &config)?;
        Ok(())
    }

    /// Runs the model on `tokens` `(B, T)` (u32).
    ///
    /// `pad[r]` is the number of left-padding slots at the start of row `r` over the whole key
    /// sequence (empty: no padding). With a `cache`, the new tokens follow the cached slots and
    /// the cache's own padding applies (`pad` is ignored). Returns logits `(B, T, V)` or
    /// `(B, 1, V)` as `logits` asks.
    pub fn forward(
        &self,
        tokens: &Tensor,
        pad: &[usize],
        cache: Option<&mut KvCache>,
        logits: Logits,
    ) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        if t == 0 {
            return Err(ModelError::Input("no tokens to run".into()));
        }
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let pad: Vec<usize> = match &cache {
            Some(c) => c.pad().to_vec(),
            None if pad.is_empty() => vec![0; b],
            None => pad.to_vec(),
        };
        if pad.len() != b {
            return Err(ModelError::Input(format!(
                "{} padding counts for a batch of {b}",
                pad.len()
            )));
        }
        let max_pos = self.cfg.max_position_embeddings;
        for (r, &p) in pad.iter().enumerate() {
            let last = (offset + t).saturating_sub(p);
            if last > max_pos {
                return Err(ModelError::Input(format!(
                    "row {r}: {last} positions exceed the model's max_position_embeddings ({max_pos})"
                )));
            }
        }
        let ids = tokens.to_dtype(DType::U32)?;
        let max_id = ids.flatten_all()?.max(0)?.to_scalar::<u32>()?;
        if max_id as usize >= self.cfg.vocab_size {
            return Err(ModelError::Input(format!(
                "token id {max_id} is outside the vocabulary (size {})",
                self.cfg.vocab_size
            )));
        }
        let positions: Vec<Vec<u32>> = pad
            .iter()
            .map(|&p| {
                (offset..offset + t)
                    .map(|s| s.saturating_sub(p) as u32)
                    .collect()
            })
            .collect();
        let (cos, sin) = self.rope.cos_sin(&positions, &self.device)?;
        let mut cache = cache;
        if let Some(c) = cache.as_deref_mut() {
            if c.batch() != b {
                return Err(ModelError::Input(format!(
                    "cache holds {} rows, input has {b}",
                    c.batch()
                )));
            }
            c.reserve(t)?;
        }
        let mut masks: HashMap<LayerAttention, Option<Tensor>> = HashMap::new();
        // (B, T) -> (B, T, H)
        let mut x = self
            .embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, ()))?;
        for (l, layer) in self.layers.iter().enumerate() {
            let mask = match masks.get(&layer.attention) {
                Some(m) => m.clone(),
                None => {
                    let m = build_mask(&pad, offset, t, layer.attention, &self.device)?;
                    masks.insert(layer.attention, m.clone());
                    m
                }
            };
            let h = match &layer.input_norm {
                Some(n) => self.norm(&x, n)?,
                None => x.clone(),
            };
            let h = self.attention(
                l,
                layer,
                &h,
                &cos,
                &sin,
                mask.as_ref(),
                cache.as_deref_mut(),
            )?;
            x = match &layer.post_ff_norm {
                // Post-sublayer norms (OLMo 2): x + norm(attn(x)), then x + norm(mlp(x)).
                Some(ff) => {
                    let x = (&x + self.norm(&h, &layer.post_attention_norm)?)?;
                    let m = self.mlp(layer, &x)?;
                    (&x + self.norm(&m, ff)?)?
                }
                None => {
                    let x = (x + h)?;
                    let h = self.norm(&x, &layer.post_attention_norm)?;
                    (&x + self.mlp(layer, &h)?)?
                }
            };
        }
        if let Some(c) = cache {
            c.advance(t);
        }
        let x = match logits {
            Logits::All => x,
            Logits::Last => x.narrow(1, t - 1, 1)?,
        };
        let x = self.norm(&x, &self.norm)?;
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        // (B, T', H) @ (H, V) -> (B, T', V)
        let (bb, tt, hh) = x.dims3()?;
        Ok(x.reshape((bb * tt, hh))?
            .matmul(&head.t()?)?
            .reshape((bb, tt, ()))?)
    }

    /// OLMo's q/k/v clamp to `±clip_qkv`, when the configuration sets it.
    fn clip(&self, x: Tensor) -> Result<Tensor> {
        match self.cfg.clip_qkv {
            Some(c) => Ok(x.clamp(-c as f32, c as f32)?),
            None => Ok(x),
        }
    }

    /// `n` over the last dimension, row by row: RMSNorm, or OLMo's LayerNorm without
    /// parameters, `(x − mean) / sqrt(var + eps)`.
    fn norm(&self, x: &Tensor, n: &Norm) -> Result<Tensor> {
        match n {
            Norm::Rms(w) => self.rms_norm(x, w),
            Norm::Plain => {
                let xc = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
                let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
                Ok(xc.broadcast_div(&(var + self.cfg.rms_norm_eps)?.sqrt()?)?)
            }
        }
    }

    fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps;
        match self.kernels {
            Kernels::Fused => Ok(candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)?),
            Kernels::Differentiable => {
                // transformers: x * rsqrt(mean(x²) + eps) * w
                let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
                Ok(x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)?)
            }
        }
    }

    /// RMSNorm of every head of `x` (`rows` heads of `head_dim` in all, any leading shape), or of
    /// each whole projection row, as the configuration says, when `w` is given; `x` unchanged
    /// otherwise. Row by row, so batch-invariant.
    fn head_norm(&self, x: Tensor, w: Option<&Tensor>, rows: usize) -> Result<Tensor> {
        match w {
            None => Ok(x),
            // Over the whole projection (OLMo 2): the last dimension already is.
            Some(w) if self.cfg.qk_norm == QkNorm::Whole => self.rms_norm(&x, w),
            Some(w) => {
                let shape = x.dims().to_vec();
                let y = self.rms_norm(&x.reshape((rows, self.cfg.head_dim))?, w)?;
                Ok(y.reshape(shape)?)
            }
        }
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        match self.kernels {
            Kernels::Fused => Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?),
            Kernels::Differentiable => {
                // x·cos + rotate_half(x)·sin, with cos/sin (B, T, hd/2) duplicated to hd and
                // broadcast over heads: (B, 1, T, hd).
                let cos = Tensor::cat(&[cos, cos], D::Minus1)?.unsqueeze(1)?;
                let sin = Tensor::cat(&[sin, sin], D::Minus1)?.unsqueeze(1)?;
                let half = x.dim(D::Minus1)? / 2;
                let x1 = x.narrow(D::Minus1, 0, half)?;
                let x2 = x.narrow(D::Minus1, half, half)?;
                let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
                Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
            }
        }
    }

    fn softmax(&self, x: &Tensor) -> Result<Tensor> {
        match self.kernels {
            Kernels::Fused => Ok(candle_nn::ops::softmax_last_dim(x)?),
            Kernels::Differentiable => Ok(candle_nn::ops::softmax(x, D::Minus1)?),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        l: usize,
        layer: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (nq, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
            self.cfg.head_dim,
        );
        let g = nq / nkv;
        // (B, T, n·hd) -> (B, T, n, hd) -> (B, n, T, hd)
        // Qwen3 normalises each head before RoPE: (B, T, n·hd) viewed as (B·T·n, hd).
        let q = self
            .head_norm(
                self.clip(layer.q.forward(x, self.kernels)?)?,
                layer.q_norm.as_ref(),
                b * t * nq,
            )?
            .reshape((b, t, nq, hd))?
            .transpose(1, 2)?;
        let k = self
            .head_norm(
                self.clip(layer.k.forward(x, self.kernels)?)?,
                layer.k_norm.as_ref(),
                b * t * nkv,
            )?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?;
        let v = self
            .clip(layer.v.forward(x, self.kernels)?)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k) = if layer.rope {
            (self.rope(&q, cos, sin)?, self.rope(&k, cos, sin)?)
        } else {
            (q, k.contiguous()?)
        };
        let (k, v) = match cache {
            Some(c) => c.append(l, &k, &v)?,
            None => (k, v),
        };
        let s = k.dim(2)?;
        // Query head h reads key/value head h / g (transformers' repeat_kv), so the g heads of a
        // group are adjacent: (B, nq, T, hd) -> (B, nkv, g·T, hd).
        let q = q.contiguous()?.reshape((b, nkv, g * t, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        // (B, nkv, g·T, hd) @ (B, nkv, hd, S) -> (B, nkv, g·T, S) -> (B, nq, T, S)
        let scores = (q.matmul(&k.transpose(2, 3)?)? * scale)?.reshape((b, nq, t, s))?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = self.softmax(&scores)?;
        // (B, nkv, g·T, S) @ (B, nkv, S, hd) -> (B, nkv, g·T, hd) -> (B, nq, T, hd) -> (B, T, nq·hd)
        let y = probs.reshape((b, nkv, g * t, s))?.matmul(&v)?;
        let y = y
            .reshape((b, nq, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nq * hd))?;
        layer.o.forward(&y, self.kernels)
    }

    fn mlp(&self, layer: &Layer, x: &Tensor) -> Result<Tensor> {
        // SwiGLU: down(silu(gate(x)) * up(x))
        let gate = layer.gate.forward(x, self.kernels)?.silu()?;
        let up = layer.up.forward(x, self.kernels)?;
        layer.down.forward(&(gate * up)?, self.kernels)
    }
}

/// The additive attention mask `(B, 1, T, S)` for `t` new tokens after `offset` cached slots, or
/// `None` when every key is visible to every query.
///
/// Query slot `q` may see key slot `k` when `k <= q` (causal), `k` is not padding, and, for
/// sliding-window layers, `q - k < window` (transformers' `sliding_window_overlay`). A padding
/// query sees itself only, so its row stays finite (its output is never used).
fn build_mask(
    pad: &[usize],
    offset: usize,
    t: usize,
    attention: LayerAttention,
    device: &Device,
) -> Result<Option<Tensor>> {
    let s = offset + t;
    let window = match attention {
        LayerAttention::Full => usize::MAX,
        LayerAttention::Sliding(w) => w,
    };
    let any_pad = pad.iter().any(|&p| p > 0);
    if t == 1 && !any_pad && s <= window {
        return Ok(None);
    }
    let mut m = vec![0f32; pad.len() * t * s];
    for (r, &p) in pad.iter().enumerate() {
        for qi in 0..t {
            let q = offset + qi;
            let row = &mut m[(r * t + qi) * s..(r * t + qi + 1) * s];
            for (k, cell) in row.iter_mut().enumerate() {
                let visible = if q < p {
                    k == q
                } else {
                    k <= q && k >= p && q - k < window
                };
                if !visible {
                    *cell = f32::NEG_INFINITY;
                }
            }
        }
    }
    Ok(Some(Tensor::from_vec(m, (pad.len(), 1, t, s), device)?))
}
