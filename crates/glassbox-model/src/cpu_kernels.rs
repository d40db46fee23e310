//! CPU kernels candle lacks: a matrix–vector product for decoding.
//!
//! Decoding multiplies a handful of rows (`M ≤ 8`, one per sequence) by every weight matrix. A
//! general GEMM packs the weight into panels first, which for `M = 1` roughly doubles the memory
//! traffic of an operation that is bound by memory bandwidth. This kernel streams each weight row
//! once, computing its dot products with all `M` rows, split over rayon's threads by output rows.
//! It is used only for f32 tensors on the CPU with the fused (inference) kernels.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Largest number of input rows handled by [`matvec_t`]; above it a GEMM is as good.
pub const MAX_ROWS: usize = 8;

/// Output rows computed per rayon task (big enough to amortise scheduling, small enough to balance).
const ROWS_PER_TASK: usize = 64;

struct MatVecT;

impl CustomOp2 for MatVecT {
    fn name(&self) -> &'static str {
        "glassbox-matvec-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (s1, s2) else {
            candle_core::bail!("{}: f32 inputs expected", self.name());
        };
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("{}: inner dimensions {k} and {k2} differ", self.name());
        }
        let (Some((x0, x1)), Some((w0, w1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("{}: contiguous inputs expected", self.name());
        };
        let (x, w) = (&x[x0..x1], &w[w0..w1]);
        // (n, m): each task owns a block of weight rows and writes their m outputs.
        let mut out_t = vec![0f32; n * m];
        out_t
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each(|(task, chunk)| {
                let first = task * ROWS_PER_TASK;
                for (r, outs) in chunk.chunks_mut(m).enumerate() {
                    let row = &w[(first + r) * k..(first + r + 1) * k];
                    for (j, o) in outs.iter_mut().enumerate() {
                        *o = dot(&x[j * k..(j + 1) * k], row);
                    }
                }
            });
        let out = if m == 1 {
            out_t
        } else {
            let mut out = vec![0f32; m * n];
            for j in 0..n {
                for i in 0..m {
                    out[i * n + j] = out_t[j * m + i];
                }
            }
            out
        };
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// Dot product with 16 independent accumulators so the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += xa[l] * xb[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `x @ wᵀ` for `x` `(M, K)` and `w` `(N, K)`, both f32 on the CPU (fastest for `M ≤ MAX_ROWS`;
/// any `M` works, and every output is the same dot product whatever `M` is).
pub fn matvec_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &MatVecT)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    #[test]
    fn rows_are_computed_the_same_whatever_their_number() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (11, 97), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (300, 97), &dev).unwrap();
        let all: Vec<Vec<f32>> = super::matvec_t(&x, &w).unwrap().to_vec2().unwrap();
        for (i, row) in all.iter().enumerate() {
            let one: Vec<Vec<f32>> = super::matvec_t(&x.narrow(0, i, 1).unwrap(), &w)
                .unwrap()
                .to_vec2()
                .unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&one[0]), bits(row), "row {i}");
        }
    }

    #[test]
    fn equals_matmul() {
        let dev = Device::Cpu;
        for (m, k, n) in [(1, 576, 1536), (3, 37, 130), (8, 64, 1)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
            let a = super::matvec_t(&x, &w).unwrap();
            let b = x.matmul(&w.t().unwrap()).unwrap();
            let d: f32 = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(d < 1e-3, "{m}x{k}x{n}: {d}");
        }
    }
}
