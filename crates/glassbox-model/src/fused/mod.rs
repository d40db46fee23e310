//! Fused CPU kernels for training, each with its own backward pass.
//!
//! Written as compositions of tensor ops, a cross-entropy over the vocabulary or the softmax of
//! the attention scores is five to ten element-wise passes forward and as many backward, each
//! allocating its output, and candle's backward adds every gradient into a fresh zero tensor.
//! These kernels do the same arithmetic in one or two passes over the rows and give their
//! gradient in one more:
//!
//! - [`cross_entropy`]: `scale · Σᵢ wᵢ · (log Σⱼ exp xᵢⱼ − xᵢ,tᵢ)` over the rows of logits `x`,
//!   with targets `t` and optional weights `w`; gradient `scale · wᵢ · (softmax(xᵢ) − onehot(tᵢ))`.
//! - [`masked_softmax`]: `softmax(s · scale + mask)` over the last dimension of attention scores;
//!   gradient `scale · y ⊙ (dy − Σ dy ⊙ y)`.
//! - [`rms_norm`]: `x · w / √(mean(x²) + ε)` with gradients for `x` and `w`.
//! - [`rope`]: the rotary embedding (transformers' half-split layout), gradient by the inverse
//!   rotation.
//! - [`swiglu`]: `silu(g) · u` with gradients for `g` and `u`.
//!
//! Every kernel runs its rows on rayon's threads, each row computed by one thread the same way
//! whatever the number of threads, and reductions across rows (the loss, the norm weight's
//! gradient) are summed in a fixed order, so results do not depend on the thread count. They
//! take contiguous f32 tensors on the CPU; [`applies`] says when a caller may use them (the
//! caller keeps its composed path otherwise). The tests hold each kernel and its gradients to the
//! composed ops.

use candle_core::{CpuStorage, DType, Device, Layout, Tensor};
use rayon::prelude::*;

mod attention;
mod layer;
mod loss;
#[cfg(test)]
mod tests;

pub use attention::masked_softmax;
pub use layer::{rms_norm, rope, swiglu};
pub use loss::cross_entropy;

/// Rows handed to one rayon task.
pub(crate) const ROWS_PER_TASK: usize = 16;

/// Whether the fused kernels can take `t`: f32 on the CPU.
pub fn applies(t: &Tensor) -> bool {
    t.dtype() == DType::F32 && matches!(t.device(), Device::Cpu)
}

pub(crate) fn f32_slice<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: f32 expected");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: contiguous input expected");
    };
    Ok(&v[a..b])
}

/// Runs `f(row_index, out_row)` over the rows of `out` (each `width` long) on rayon's threads.
pub(crate) fn for_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    out.par_chunks_mut(width * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (i, row) in chunk.chunks_mut(width).enumerate() {
                f(c * ROWS_PER_TASK + i, row);
            }
        });
}

/// The length of the last dimension (at least 1).
pub(crate) fn width_of(l: &Layout) -> usize {
    l.shape().dims().last().copied().unwrap_or(1).max(1)
}
