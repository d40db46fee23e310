//! The decoder-only transformer every supported family runs on: one forward pass whose blocks
//! (norm kind, residual wiring, fused or separate projections, dense or mixture-of-experts MLP,
//! RoPE variant, attention scale and soft-capping) are chosen by the [`ModelConfig`]. Each
//! family's papers and transformers reference file are cited in `crate::families`; the numbers
//! are matched against transformers to 1e-4 by the parity tests.
//!
//! Shape legend: `B` batch, `T` new tokens this call, `S` key slots (cached + new), `H` hidden
//! size, `nq`/`nkv` query/key-value heads, `g = nq / nkv`, `hd` head width, `V` vocabulary,
//! `N = B·T` token rows, `E` experts.
//!
//! Deliberate deviations from transformers, none of which changes results:
//! - repeat_kv is never materialised: queries are regrouped as `(B, nkv, g·T, hd)` so one
//!   batched matmul serves every query head of a group.
//! - fused q/k/v and gate/up matrices are kept fused and split after the product.
//! - the lm_head can be applied to the last position only ([`Logits::Last`]) during generation,
//!   or to the last few ([`Logits::LastN`]) when scoring a continuation.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::config::{LayerAttention, ModelConfig};
use crate::kv_cache::KvCache;
use crate::rope::Rope;
use crate::weights::{SaveDtype, save_safetensors};
use crate::{ModelError, Result};

mod adapt;
pub use adapt::VocabInit;
mod blocks;
mod build;
mod decode;
mod linear;
use linear::{Linear, LoraDelta, Mm, Weight, matmul_t, widened};

/// Which positions get logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Every position: `(B, T, V)`.
    All,
    /// Only the last position: `(B, 1, V)` (generation needs nothing else).
    Last,
    /// The last `n` positions (at most the input's): `(B, n, V)` — scoring a continuation
    /// needs no logits over its context.
    LastN(usize),
}

/// Which implementation of normalisation, RoPE and softmax the forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// candle-nn's fused CPU kernels (fast; no gradients).
    Fused,
    /// Compositions of differentiable tensor ops (for training; same results within f32 rounding).
    Differentiable,
}

/// One normalisation over the last dimension.
#[derive(Debug, Clone)]
enum Norm {
    /// RMSNorm with this weight.
    Rms(Tensor),
    /// Gemma's RMSNorm, scaled by `1 + w`.
    RmsPlusOne(Tensor),
    /// LayerNorm with weight and bias.
    Layer(Tensor, Tensor),
    /// LayerNorm without weight or bias (OLMo).
    Plain,
}

/// The query/key/value projections.
#[derive(Debug, Clone)]
enum Qkv {
    Separate {
        q: Linear,
        k: Linear,
        v: Linear,
    },
    /// Rows `[q; k; v]`, or grouped per head when `per_head`.
    Fused {
        qkv: Linear,
        per_head: bool,
    },
}

/// One expert or dense SwiGLU block's matrices.
#[derive(Debug, Clone)]
struct Expert {
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A layer's MLP.
#[derive(Debug, Clone)]
enum Ffn {
    Gated(Expert),
    FusedGated {
        gate_up: Linear,
        down: Linear,
    },
    Plain {
        up: Linear,
        down: Linear,
    },
    Moe {
        router: Linear,
        experts: Vec<Expert>,
    },
}

#[derive(Debug, Clone)]
struct Layer {
    pre_attn: Option<Norm>,
    post_attn: Option<Norm>,
    pre_ffn: Option<Norm>,
    post_ffn: Option<Norm>,
    qkv: Qkv,
    o: Linear,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    ffn: Ffn,
    /// Index into [`Transformer::ropes`], `None` for a layer without RoPE.
    rope: Option<usize>,
    attention: LayerAttention,
}

/// Router probabilities and routing counts of one sparse layer, for the load-balancing loss.
struct RouterRecord {
    /// `(N, E)` softmax probabilities.
    probs: Tensor,
    /// How many of the `N · top_k` choices went to each expert.
    counts: Vec<f32>,
}

/// A loaded model: configuration, weights (f32) and RoPE tables.
#[derive(Debug, Clone)]
pub struct Transformer {
    cfg: ModelConfig,
    embed: Weight,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: Option<Weight>,
    /// The global RoPE, and Gemma 3's local one for sliding-window layers.
    ropes: Vec<Rope>,
    /// Every parameter with its HF name, in [`crate::tensor_shapes`] order.
    params: Vec<(String, Weight)>,
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

impl Transformer {
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

    /// Bytes the weights take in memory (bf16/f16 matrices at 2 bytes an element, quantized
    /// ones as their blocks).
    pub fn weight_bytes(&self) -> usize {
        self.params.iter().map(|(_, w)| w.bytes()).sum()
    }

    /// Whether some matrices are held quantized (see [`Transformer::from_weights`]).
    pub fn is_quantized(&self) -> bool {
        self.params
            .iter()
            .any(|(_, w)| matches!(w, Weight::Quant(_)))
    }

    /// Every tensor with its HF name, in transformers' order (tied weights once); quantized
    /// matrices dequantized to f32.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(n, w)| (n.clone(), w.to_tensor()))
            .collect()
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
        self.forward_inner(tokens, pad, cache, logits, None, None)
    }

    /// Logits of every position of `tokens` `(B, T)` without padding or cache, and for a mixture
    /// of experts the load-balancing loss over all sparse layers (transformers'
    /// `load_balancing_loss_func`: `E · Σₑ fₑ · Pₑ` with `fₑ` the share of routing choices and
    /// `Pₑ` the mean router probability of expert `e`), which training adds to the loss times
    /// `router_aux_loss_coef`.
    pub fn forward_train(&self, tokens: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        self.forward_train_packed(tokens, None)
    }

    /// [`Transformer::forward_train`] over packed rows: `segments[r][i]` names the example token
    /// `i` of row `r` belongs to. Attention never crosses examples (a token sees the earlier
    /// tokens of its own segment only) and positions restart at 0 with each segment, so a
    /// packed row gives every example the logits it would get alone.
    pub fn forward_train_packed(
        &self,
        tokens: &Tensor,
        segments: Option<&[Vec<u32>]>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let mut records = Vec::new();
        let logits =
            self.forward_inner(tokens, &[], None, Logits::All, Some(&mut records), segments)?;
        let Some(moe) = &self.cfg.moe else {
            return Ok((logits, None));
        };
        if records.is_empty() {
            return Ok((logits, None));
        }
        let e = moe.num_experts;
        let rows: usize = records
            .iter()
            .map(|r| r.probs.dim(0))
            .sum::<candle_core::Result<usize>>()?;
        let mut counts = vec![0f32; e];
        let mut prob_sum: Option<Tensor> = None;
        for r in &records {
            for (c, x) in counts.iter_mut().zip(&r.counts) {
                *c += x;
            }
            let s = r.probs.sum(0)?;
            prob_sum = Some(match prob_sum {
                None => s,
                Some(p) => (p + s)?,
            });
        }
        let Some(prob_sum) = prob_sum else {
            return Ok((logits, None));
        };
        let total = rows as f64;
        let fraction = (Tensor::from_vec(counts, e, &self.device)? / total)?;
        let mean_prob = (prob_sum / total)?;
        let aux = ((fraction * mean_prob)?.sum_all()? * e as f64)?;
        Ok((logits, Some(aux)))
    }

    /// The sequence length past which LongRoPE switches to its long factors, if it does.
    pub(crate) fn rope_switch(&self) -> Option<usize> {
        match &self.cfg.rope_scaling {
            crate::RopeScaling::LongRope {
                original_max_position_embeddings,
                ..
            } => Some(*original_max_position_embeddings),
            _ => None,
        }
    }

    fn forward_inner(
        &self,
        tokens: &Tensor,
        pad: &[usize],
        cache: Option<&mut KvCache>,
        logits: Logits,
        record: Option<&mut Vec<RouterRecord>>,
        segments: Option<&[Vec<u32>]>,
    ) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        // A decoding step (a few rows through every weight): its many short products run on a
        // team that stays awake for the whole step (`crate::team`); same results, less waking.
        if b * t <= crate::cpu_kernels::MAX_ROWS
            && self.device.is_cpu()
            && self.kernels == Kernels::Fused
        {
            return crate::team::session(|| {
                self.forward_body(tokens, pad, cache, logits, record, segments)
            });
        }
        self.forward_body(tokens, pad, cache, logits, record, segments)
    }

    fn forward_body(
        &self,
        tokens: &Tensor,
        pad: &[usize],
        cache: Option<&mut KvCache>,
        logits: Logits,
        mut record: Option<&mut Vec<RouterRecord>>,
        segments: Option<&[Vec<u32>]>,
    ) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        if t == 0 {
            return Err(ModelError::Input("no tokens to run".into()));
        }
        let logits = match logits {
            Logits::LastN(n) => Logits::LastN(n.clamp(1, t)),
            l => l,
        };
        if let Some(s) = segments
            && (s.len() != b || s.iter().any(|r| r.len() != t) || cache.is_some())
        {
            return Err(ModelError::Input(format!(
                "segment ids must be one per token of the {b}×{t} input, without a cache"
            )));
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
        let positions: Vec<Vec<u32>> = match segments {
            Some(segs) => segs.iter().map(|r| segment_positions(r)).collect(),
            None => pad
                .iter()
                .map(|&p| {
                    (offset..offset + t)
                        .map(|s| s.saturating_sub(p) as u32)
                        .collect()
                })
                .collect(),
        };
        let tables = self
            .ropes
            .iter()
            .map(|r| r.cos_sin(&positions, &self.device))
            .collect::<Result<Vec<_>>>()?;
        let mut cache = cache;
        // LongRoPE: once a row reaches the pre-training context, every key must carry the long
        // factors, so a cache filled below it is recomputed (transformers' Phi-3 drops its cache
        // at that point too).
        if let (Some(at), Some(c)) = (self.rope_switch(), cache.as_deref_mut())
            && offset > 0
            && c.batch() == b
            && pad
                .iter()
                .any(|&p| offset.saturating_sub(p) <= at && offset + t - p.min(offset + t) > at)
        {
            let new = tokens.to_dtype(DType::U32)?.to_vec2::<u32>()?;
            let all: Vec<u32> = c
                .fed()
                .iter()
                .zip(&new)
                .flat_map(|(f, n)| f.iter().chain(n).copied())
                .collect();
            let len = offset + t;
            if all.len() == b * len {
                c.truncate(0);
                let ids = Tensor::from_vec(all, (b, len), &self.device)?;
                let z = self.forward_inner(&ids, &[], Some(c), logits, record, None)?;
                return match logits {
                    Logits::All => Ok(z.narrow(1, offset, t)?),
                    Logits::Last | Logits::LastN(_) => Ok(z),
                };
            }
        }
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
            .embed_tokens(&ids.flatten_all()?)?
            .reshape((b, t, ()))?;
        let mm = Mm::Batched(self.kernels);
        for (l, layer) in self.layers.iter().enumerate() {
            let mask = match masks.get(&layer.attention) {
                Some(m) => m.clone(),
                None => {
                    let m = match segments {
                        Some(segs) => Some(segment_mask(segs, layer.attention, &self.device)?),
                        None => build_mask(&pad, offset, t, layer.attention, &self.device)?,
                    };
                    masks.insert(layer.attention, m.clone());
                    m
                }
            };
            let h = self.maybe_norm(&x, layer.pre_attn.as_ref())?;
            let rope = layer.rope.map(|i| (&tables[i].0, &tables[i].1));
            let a = self.attention(l, layer, &h, rope, mask.as_ref(), cache.as_deref_mut())?;
            let a = self.maybe_norm(&a, layer.post_attn.as_ref())?;
            x = self.join(layer, x, a, |h| {
                let (bb, tt, hh) = h.dims3()?;
                let y = self.ffn(layer, &h.reshape((bb * tt, hh))?, mm, record.as_deref_mut())?;
                Ok(y.reshape((bb, tt, hh))?)
            })?;
        }
        if let Some(c) = cache {
            c.advance(t);
            // Only a model whose RoPE changes with the length ever refeeds the tokens.
            if self.rope_switch().is_some() {
                c.record(ids.to_vec2::<u32>()?);
            }
        }
        let x = match logits {
            Logits::All => x,
            Logits::Last => x.narrow(1, t - 1, 1)?,
            Logits::LastN(n) => x.narrow(1, t - n, n)?,
        };
        let x = self.apply_norm(&x, &self.norm)?;
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        // (B, T', H) @ (H, V) -> (B, T', V); a bf16/f16 head through the kernel that reads it
        // as it is when few rows need logits.
        let (bb, tt, hh) = x.dims3()?;
        let x = x.reshape((bb * tt, hh))?;
        // A frozen head in training goes through the product without a weight gradient.
        let frozen = self.kernels == Kernels::Differentiable && !head.is_variable();
        let z = if let Some(h) = head.dense().filter(|h| h.dtype() == DType::F32 && !frozen) {
            x.matmul(&h.t()?)?
        } else {
            matmul_t(&x, head, self.kernels)?
        };
        let z = z.reshape((bb, tt, ()))?;
        self.cap_logits(z)
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

/// Position of each token within its segment (0 at each segment's first token).
fn segment_positions(segments: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(segments.len());
    let mut pos = 0u32;
    for (i, s) in segments.iter().enumerate() {
        if i > 0 && segments[i - 1] != *s {
            pos = 0;
        }
        out.push(pos);
        pos += 1;
    }
    out
}

/// The additive mask `(B, 1, T, T)` of packed rows: query `q` sees key `k` when `k <= q`, both
/// lie in the same segment, and (sliding-window layers) `q - k < window`.
fn segment_mask(
    segments: &[Vec<u32>],
    attention: LayerAttention,
    device: &Device,
) -> Result<Tensor> {
    let b = segments.len();
    let t = segments.first().map_or(0, Vec::len);
    let window = match attention {
        LayerAttention::Full => usize::MAX,
        LayerAttention::Sliding(w) => w,
    };
    let mut m = vec![f32::NEG_INFINITY; b * t * t];
    for (r, segs) in segments.iter().enumerate() {
        for q in 0..t {
            let row = &mut m[(r * t + q) * t..(r * t + q + 1) * t];
            for k in (0..=q).rev() {
                if segs[k] != segs[q] || q - k >= window {
                    break;
                }
                row[k] = 0.0;
            }
        }
    }
    Ok(Tensor::from_vec(m, (b, 1, t, t), device)?)
}
