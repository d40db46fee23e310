//! The weight products of [`super::Transformer`]: linear layers with an optional LoRA update,
//! the matrix–vector kernel for decoding, GEMM otherwise, bf16/f16 weights widened as they are
//! read, and frozen weights without a gradient in training.

use std::sync::Arc;

use candle_core::{DType, Tensor};

use super::Kernels;
use crate::Result;
use crate::quantized::QMatrix;

/// A weight matrix `(out, in)`: a tensor, or GGUF blocks that stay quantized in memory.
#[derive(Debug, Clone)]
pub(super) enum Weight {
    Dense(Tensor),
    Quant(Arc<QMatrix>),
}

impl Weight {
    /// `(out, in)` (or a dense tensor's first two dimensions).
    pub(super) fn dims2(&self) -> Result<(usize, usize)> {
        match self {
            Self::Dense(t) => Ok(t.dims2()?),
            Self::Quant(q) => Ok(q.dims()),
        }
    }

    /// The tensor, when the weight is one.
    pub(super) fn dense(&self) -> Option<&Tensor> {
        match self {
            Self::Dense(t) => Some(t),
            Self::Quant(_) => None,
        }
    }

    /// Whether the weight is a training variable.
    pub(super) fn is_variable(&self) -> bool {
        self.dense().is_some_and(Tensor::is_variable)
    }

    /// Bytes held in memory.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Self::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Self::Quant(q) => q.bytes(),
        }
    }

    /// The weight as a tensor in its own dtype (a quantized one dequantized to f32 on the CPU).
    pub(super) fn to_tensor(&self) -> Tensor {
        match self {
            Self::Dense(t) => t.clone(),
            Self::Quant(q) => q.to_tensor(),
        }
    }
}

/// How a weight product is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mm {
    /// The forward pass's choice for these kernels.
    Batched(Kernels),
    /// The matrix–vector kernel for every row count (batch-invariant decoding).
    Rows,
}

#[derive(Debug, Clone)]
pub(super) struct Linear {
    /// `(out, in)`, as stored by transformers.
    pub(super) w: Weight,
    pub(super) b: Option<Tensor>,
    /// A LoRA update, when an adapter is applied.
    pub(super) lora: Option<LoraDelta>,
}

/// `s · B (A x)` added to a linear layer's output (PEFT's order: after the bias).
#[derive(Debug, Clone)]
pub(super) struct LoraDelta {
    /// `(r, in)`.
    pub(super) a: Tensor,
    /// `(out, r)`.
    pub(super) b: Tensor,
    pub(super) scale: f64,
    /// The adapter's dropout on its input, applied only while a dropout seed is set (training).
    pub(super) dropout: f64,
    /// Seed of this forward pass's dropout masks, mixed with the module's index.
    pub(super) seed: Option<u64>,
    /// The module's position among the adapted ones.
    pub(super) index: u64,
}

impl Linear {
    /// `(M, in) -> (M, out)`.
    pub(super) fn mm(&self, x: &Tensor, mm: Mm) -> Result<Tensor> {
        // Training an adapter on a frozen f32 weight: the frozen product and the update are
        // summed in one op, so the backward pass keeps one output-sized tensor fewer; the scale
        // is applied to the rank-sized intermediate.
        if let (Some(l), Mm::Batched(Kernels::Differentiable), Some(w)) =
            (&self.lora, mm, self.w.dense())
            && !w.is_variable()
            && w.dtype() == DType::F32
            && x.dtype() == DType::F32
            && x.device().is_cpu()
        {
            let xd = match l.seed {
                Some(seed) if l.dropout > 0.0 => dropout(x, l.dropout, seed, l.index)?,
                _ => x.clone(),
            };
            let low = (dense_product(&xd, &l.a, mm)? * l.scale)?;
            let d = dense_product(&low, &l.b, mm)?;
            let y = crate::cpu_kernels::frozen_matmul_t_add(x, w, &d)?;
            return Ok(match &self.b {
                Some(bias) => y.broadcast_add(bias)?,
                None => y,
            });
        }
        let y = product(x, &self.w, mm)?;
        let y = match &self.b {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        match &self.lora {
            Some(l) => {
                let xd = match l.seed {
                    Some(seed) if l.dropout > 0.0 => dropout(x, l.dropout, seed, l.index)?,
                    _ => x.clone(),
                };
                let d = dense_product(&dense_product(&xd, &l.a, mm)?, &l.b, mm)?;
                Ok((y + (d * l.scale)?)?)
            }
            None => Ok(y),
        }
    }

    /// `[l.mm(x) for l in linears]` in one pass where every weight is quantized with the same
    /// type and width and none carries an adapter (the activations quantized once, all rows in
    /// one parallel region; the same bits as one at a time); `None` otherwise.
    pub(super) fn mm_many<const N: usize>(
        linears: [&Linear; N],
        x: &Tensor,
        mm: Mm,
    ) -> Result<Option<[Tensor; N]>> {
        let quantized: Option<Vec<&QMatrix>> = linears
            .iter()
            .map(|l| match (&l.w, &l.lora) {
                (Weight::Quant(q), None) => Some(q.as_ref()),
                _ => None,
            })
            .collect();
        let Some(mats) = quantized else {
            return Ok(None);
        };
        if mm == Mm::Batched(Kernels::Differentiable)
            || !x.device().is_cpu()
            || x.dtype() != DType::F32
        {
            return Ok(None);
        }
        let (m, _) = x.dims2()?;
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let ys = crate::quantized::matmul_t_many(&mats, &xs, m);
        let mut out = Vec::with_capacity(N);
        for ((l, q), y) in linears.iter().zip(&mats).zip(ys) {
            let y = Tensor::from_vec(y, (m, q.dims().0), x.device())?;
            out.push(match &l.b {
                Some(bias) => y.broadcast_add(bias)?,
                None => y,
            });
        }
        Ok(out.try_into().ok())
    }

    /// `(B, T, in) -> (B, T, out)` as one 2-D product.
    pub(super) fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        let (b, t, i) = x.dims3()?;
        let y = self.mm(&x.reshape((b * t, i))?, Mm::Batched(kernels))?;
        Ok(y.reshape((b, t, ()))?)
    }
}

/// Inverted dropout of `x` with probability `p`: each element kept (× 1/(1 − p)) when a draw of
/// the glassbox RNG seeded with `seed` and the module's `index` is at least `p`, in row-major
/// order. The same seed gives the same mask, so a resumed or replayed step drops the same
/// entries.
fn dropout(x: &Tensor, p: f64, seed: u64, index: u64) -> Result<Tensor> {
    let mut rng = glassbox_core::rng::Rng::seed_from_u64(
        seed ^ index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let keep = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.next_f64() >= p { keep } else { 0.0 })
        .collect();
    let mask = Tensor::from_vec(mask, x.dims(), x.device())?;
    Ok((x * mask)?)
}

/// `x @ wᵀ` as `mm` says; a quantized weight through its block kernels (f32 activations on
/// the CPU), dequantized otherwise.
fn product(x: &Tensor, w: &Weight, mm: Mm) -> Result<Tensor> {
    match w {
        Weight::Dense(w) => dense_product(x, w, mm),
        Weight::Quant(q) => quant_product(x, q, mm == Mm::Batched(Kernels::Differentiable)),
    }
}

/// `x @ qᵀ` on the blocks, or through the dequantized matrix where gradients or another device
/// or dtype need it.
fn quant_product(x: &Tensor, q: &Arc<QMatrix>, differentiable: bool) -> Result<Tensor> {
    if !differentiable && x.device().is_cpu() && x.dtype() == DType::F32 {
        return Ok(q.matmul_t_tensor(x)?);
    }
    let w = q.to_tensor().to_device(x.device())?.to_dtype(x.dtype())?;
    Ok(x.matmul(&w.t()?)?)
}

/// `x @ wᵀ` for a tensor weight as `mm` says.
fn dense_product(x: &Tensor, w: &Tensor, mm: Mm) -> Result<Tensor> {
    match mm {
        Mm::Batched(k) => dense_matmul_t(x, w, k),
        Mm::Rows => {
            if x.device().is_cpu() && x.dtype() == DType::F32 {
                Ok(crate::cpu_kernels::matvec_t(x, w)?)
            } else {
                Ok(x.matmul(&widened(w)?.t()?)?)
            }
        }
    }
}

/// `x @ wᵀ` for `x` `(M, K)` and a weight `w` `(N, K)`: the streaming matrix–vector kernel for
/// the few rows of a decoding step or a short prompt (`M ≤ fused_max_rows()`), candle's GEMM
/// otherwise (and whenever gradients are needed).
/// A bf16/f16 weight is read as it is by the kernel, widened to f32 for the GEMM.
pub(super) fn matmul_t(x: &Tensor, w: &Weight, kernels: Kernels) -> Result<Tensor> {
    match w {
        Weight::Dense(w) => dense_matmul_t(x, w, kernels),
        Weight::Quant(q) => quant_product(x, q, kernels == Kernels::Differentiable),
    }
}

/// [`matmul_t`] for a tensor weight.
fn dense_matmul_t(x: &Tensor, w: &Tensor, kernels: Kernels) -> Result<Tensor> {
    let rows = x.dim(0)?;
    if kernels == Kernels::Fused
        && rows <= crate::cpu_kernels::fused_max_rows()
        && x.device().is_cpu()
        && x.dtype() == DType::F32
    {
        return Ok(crate::cpu_kernels::matvec_t(&x.contiguous()?, w)?);
    }
    // Training with frozen weights (LoRA): no gradient for the weight.
    if kernels == Kernels::Differentiable && !w.is_variable() && x.device().is_cpu() {
        return Ok(crate::cpu_kernels::frozen_matmul_t(x, &widened(w)?)?);
    }
    Ok(x.matmul(&widened(w)?.t()?)?)
}

/// `w` in f32 (a copy for a bf16/f16 weight; the same tensor otherwise).
pub(super) fn widened(w: &Tensor) -> Result<Tensor> {
    if w.dtype() == DType::F32 {
        Ok(w.clone())
    } else {
        Ok(w.to_dtype(DType::F32)?)
    }
}
