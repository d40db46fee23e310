//! The weight products of [`super::Transformer`]: linear layers with an optional LoRA update,
//! the matrix–vector kernel for decoding, GEMM otherwise, bf16/f16 weights widened as they are
//! read, and frozen weights without a gradient in training.

use candle_core::{DType, Tensor};

use super::Kernels;
use crate::Result;

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
    pub(super) w: Tensor,
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
        if let (Some(l), Mm::Batched(Kernels::Differentiable)) = (&self.lora, mm)
            && !self.w.is_variable()
            && self.w.dtype() == DType::F32
            && x.dtype() == DType::F32
            && x.device().is_cpu()
        {
            let xd = match l.seed {
                Some(seed) if l.dropout > 0.0 => dropout(x, l.dropout, seed, l.index)?,
                _ => x.clone(),
            };
            let low = (product(&xd, &l.a, mm)? * l.scale)?;
            let d = product(&low, &l.b, mm)?;
            let y = crate::cpu_kernels::frozen_matmul_t_add(x, &self.w, &d)?;
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
                let d = product(&product(&xd, &l.a, mm)?, &l.b, mm)?;
                Ok((y + (d * l.scale)?)?)
            }
            None => Ok(y),
        }
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

/// `x @ wᵀ` as `mm` says.
fn product(x: &Tensor, w: &Tensor, mm: Mm) -> Result<Tensor> {
    match mm {
        Mm::Batched(k) => matmul_t(x, w, k),
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
/// the few rows of a decoding step, candle's GEMM otherwise (and whenever gradients are needed).
/// A bf16/f16 weight is read as it is by the kernel, widened to f32 for the GEMM.
pub(super) fn matmul_t(x: &Tensor, w: &Tensor, kernels: Kernels) -> Result<Tensor> {
    let rows = x.dim(0)?;
    if kernels == Kernels::Fused
        && rows <= crate::cpu_kernels::MAX_ROWS
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
