//! CPU kernels candle lacks: a matrix–vector product for decoding.
//!
//! Decoding multiplies a handful of rows (`M ≤ 8`, one per sequence) by every weight matrix. A
//! general GEMM packs the weight into panels first, which for `M = 1` roughly doubles the memory
//! traffic of an operation that is bound by memory bandwidth. This kernel streams each weight row
//! once, computing its dot products with all `M` rows, split over rayon's threads by output rows.
//! It is used for f32 activations on the CPU with the fused (inference) kernels, and takes f32,
//! bf16 or f16 weights: half-precision weights are widened on the fly, so a bf16 checkpoint stays
//! bf16 in memory and decoding reads half the bytes. Each dot product widens a block of 16
//! weights and then accumulates exactly as the f32 path does, so the result is bit-identical to
//! widening the whole matrix first.
//!
//! With AVX-512F the f32 kernel works on blocks of four weight rows by four input rows (sixteen
//! accumulators sharing every load), fast enough that the inference forward pass also sends
//! short prompts (up to [`fused_max_rows`] tokens) through it instead of a GEMM. Every output
//! is accumulated in the same order whatever the blocking and the number of rows.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// Largest number of input rows a decoding step is meant to send through [`matvec_t`] on any
/// CPU (any number works; above it a GEMM is as good without AVX-512).
pub const MAX_ROWS: usize = 8;

/// Largest number of input rows the fused (inference) forward pass sends through
/// [`matvec_t`] rather than candle's GEMM: [`MAX_ROWS`], or 32 where AVX-512F gives the kernel
/// its 4 × 4 blocks. A GEMM packs (transposes) the whole weight matrix on every call, which
/// a prompt of a few dozen tokens does not amortise; the blocked kernel reads the weights as
/// they are stored. Measured on a SmolLM2-135M shape (docs/PERFORMANCE.md): 16- and 32-token
/// prefills 1.8× and 1.3× faster, 48 tokens the same, longer prompts faster through the GEMM.
pub fn fused_max_rows() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return 32;
        }
    }
    MAX_ROWS
}

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
        let CpuStorage::F32(x) = s1 else {
            candle_core::bail!("{}: f32 activations expected", self.name());
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
        let x = &x[x0..x1];
        let out = match s2 {
            CpuStorage::F32(w) => {
                let w = &w[w0..w1];
                match block_fn() {
                    Some(block) => by_weight_blocks(m, n, ROWS_PER_TASK, 4, |r, g, outs| {
                        block(x, &w[r * k..(r + g) * k], k, outs)
                    }),
                    None => {
                        let rows = rows_fn();
                        by_weight_rows(m, n, ROWS_PER_TASK, |r, outs| {
                            rows(x, &w[r * k..(r + 1) * k], outs)
                        })
                    }
                }
            }
            CpuStorage::BF16(w) => products(x, &w[w0..w1], m, n, k, |a, b| {
                dot_widening(a, b, half::bf16::to_f32)
            }),
            CpuStorage::F16(w) => products(x, &w[w0..w1], m, n, k, |a, b| {
                dot_widening(a, b, half::f16::to_f32)
            }),
            _ => candle_core::bail!("{}: f32, bf16 or f16 weights expected", self.name()),
        };
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// The `(m, n)` products of `m` rows of `x` with `n` rows of `w` (each `k` long).
fn products<W: Sync>(
    x: &[f32],
    w: &[W],
    m: usize,
    n: usize,
    k: usize,
    dot: impl Fn(&[f32], &[W]) -> f32 + Sync,
) -> Vec<f32> {
    by_weight_rows(m, n, ROWS_PER_TASK, |r, outs| {
        for (j, o) in outs.iter_mut().enumerate() {
            *o = dot(&x[j * k..(j + 1) * k], &w[r * k..(r + 1) * k]);
        }
    })
}

/// The row-major `(m, n)` matrix whose column `r` `f(r, outs)` fills (weight row `r` with each
/// of the `m` input rows), split over rayon's threads (or a decoding session's team,
/// [`crate::team`]) by weight rows: each task owns `per_task` weight rows, so every weight row
/// is streamed from memory once.
pub(crate) fn by_weight_rows(
    m: usize,
    n: usize,
    per_task: usize,
    f: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    by_weight_blocks(m, n, per_task, 1, |r, _, outs| f(r, outs))
}

/// [`by_weight_rows`] handing `f` up to `block` consecutive weight rows at a time:
/// `f(r, g, outs)` fills the `g` columns `r..r + g` (`outs` is `g` runs of `m`). `per_task`
/// must be a multiple of `block`.
pub(crate) fn by_weight_blocks(
    m: usize,
    n: usize,
    per_task: usize,
    block: usize,
    f: impl Fn(usize, usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    if m == 0 || n == 0 {
        return Vec::new();
    }
    let mut out_t = vec![0f32; n * m];
    {
        // One lock per task (never contended: each task owns its chunk), so that the tasks can
        // be handed to a decoding session's team as well as to rayon.
        let chunks: Vec<std::sync::Mutex<&mut [f32]>> = out_t
            .chunks_mut(per_task * m)
            .map(std::sync::Mutex::new)
            .collect();
        crate::team::for_each_task(chunks.len(), &|task| {
            let mut chunk = chunks[task]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (i, outs) in chunk.chunks_mut(block * m).enumerate() {
                f(task * per_task + i * block, outs.len() / m, outs);
            }
        });
    }
    if m == 1 {
        return out_t;
    }
    let mut out = vec![0f32; m * n];
    for r in 0..n {
        for j in 0..m {
            out[j * n + r] = out_t[r * m + j];
        }
    }
    out
}

/// [`dot`] with half-precision `b`, widened 16 at a time: the same accumulation order, so the
/// same bits as widening first.
fn dot_widening<H: Copy>(a: &[f32], b: &[H], widen: fn(H) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * widen(*y))
        .sum();
    let mut wide = [0f32; 16];
    for (xa, xb) in ca.zip(cb) {
        prefetch_ahead(xb);
        for (w, h) in wide.iter_mut().zip(xb) {
            *w = widen(*h);
        }
        for l in 0..16 {
            acc[l] += xa[l] * wide[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The dot products of one weight row `w` with every row of `x` (`outs.len()` rows of
/// `w.len()`): four rows at a time share each load of the weights (a decoding step of many
/// sequences reads each weight row once from memory and keeps it in registers for four), and
/// each row's arithmetic is [`dot`]'s, so every output has the bits of that row alone. Compiled
/// for AVX-512F or AVX where the CPU has them (the same per-lane arithmetic; no FMA).
fn rows_fn() -> fn(&[f32], &[f32], &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return rows_avx512_checked;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return rows_avx_checked;
        }
    }
    rows_portable
}

/// A kernel over a block of weight rows: `(x, w, k, outs)`.
type BlockKernel = fn(&[f32], &[f32], usize, &mut [f32]);

/// Where the CPU has AVX-512F, the products of `x`'s rows with a block of weight rows (`w` holds
/// `g` rows of `k`; `outs` is `g` runs of one output per row of `x`), four weight rows and four
/// input rows at a time (elsewhere `None`: one weight row at a time through [`rows_fn`]): sixteen accumulators share each load, which makes a prefill of a few dozen tokens
/// compute-bound without packing the weights as a GEMM does. Every output is still [`dot`]'s
/// arithmetic, so its bits do not depend on the number of rows or on the blocking.
fn block_fn() -> Option<BlockKernel> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(block_avx512_checked);
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn block_avx512_checked(x: &[f32], w: &[f32], k: usize, outs: &mut [f32]) {
    // SAFETY: `block_fn` returns this function only after detecting AVX-512F, the one feature
    // `block_avx512` is compiled for.
    #[allow(unsafe_code)]
    unsafe {
        block_avx512(x, w, k, outs)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn block_avx512(x: &[f32], w: &[f32], k: usize, outs: &mut [f32]) {
    let m = x.len() / k;
    let g = w.len() / k;
    if g != 4 || m < 4 {
        for (wr, o) in w.chunks_exact(k).zip(outs.chunks_exact_mut(m)) {
            rows(x, wr, o);
        }
        return;
    }
    let w4 = [&w[..k], &w[k..2 * k], &w[2 * k..3 * k], &w[3 * k..4 * k]];
    let mut j = 0;
    while j + 4 <= m {
        let x4 = [
            &x[j * k..(j + 1) * k],
            &x[(j + 1) * k..(j + 2) * k],
            &x[(j + 2) * k..(j + 3) * k],
            &x[(j + 3) * k..(j + 4) * k],
        ];
        let t = dot4x4(x4, w4);
        for (wi, tw) in t.iter().enumerate() {
            outs[wi * m + j..wi * m + j + 4].copy_from_slice(tw);
        }
        j += 4;
    }
    for jj in j..m {
        for (wi, wr) in w4.iter().enumerate() {
            outs[wi * m + jj] = dot(&x[jj * k..(jj + 1) * k], wr);
        }
    }
}

/// [`dot`] of four rows `a` with each of four rows `b`: `[i][j]` is `dot(a[j], b[i])`, each
/// accumulated exactly as `dot` does (16 lanes, a product then a sum — two roundings, no fused
/// multiply-add — and the lanes summed in order), with sixteen 512-bit accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dot4x4(a: [&[f32]; 4], b: [&[f32]; 4]) -> [[f32; 4]; 4] {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };
    let k = b[0].len();
    assert!(
        a.iter().chain(&b).all(|r| r.len() == k),
        "rows of one length"
    );
    let full = k - k % 16;
    let load = |r: &[f32], c: usize| -> __m512 {
        let v = &r[c..c + 16];
        // SAFETY: `v` is 16 floats in bounds (checked by the slice above); the load is
        // unaligned, and AVX-512F is enabled for this function.
        #[allow(unsafe_code)]
        unsafe {
            _mm512_loadu_ps(v.as_ptr())
        }
    };
    let mut s = [[_mm512_setzero_ps(); 4]; 4];
    let mut c = 0;
    while c < full {
        let xa = [load(a[0], c), load(a[1], c), load(a[2], c), load(a[3], c)];
        for (i, si) in s.iter_mut().enumerate() {
            let xb = load(b[i], c);
            for (j, sij) in si.iter_mut().enumerate() {
                *sij = _mm512_add_ps(*sij, _mm512_mul_ps(xa[j], xb));
            }
        }
        c += 16;
    }
    let mut out = [[0f32; 4]; 4];
    for (i, oi) in out.iter_mut().enumerate() {
        for (j, o) in oi.iter_mut().enumerate() {
            let mut lanes = [0f32; 16];
            // SAFETY: `lanes` holds 16 floats; the store is unaligned.
            #[allow(unsafe_code)]
            unsafe {
                _mm512_storeu_ps(lanes.as_mut_ptr(), s[i][j])
            };
            let tail: f32 = a[j][full..]
                .iter()
                .zip(&b[i][full..])
                .map(|(x, y)| x * y)
                .sum();
            *o = lanes.iter().sum::<f32>() + tail;
        }
    }
    out
}

fn rows_portable(x: &[f32], w: &[f32], outs: &mut [f32]) {
    rows(x, w, outs)
}

#[cfg(target_arch = "x86_64")]
fn rows_avx512_checked(x: &[f32], w: &[f32], outs: &mut [f32]) {
    // SAFETY: `rows_fn` returns this function only after detecting AVX-512F, the one feature
    // `rows_avx512` is compiled for.
    #[allow(unsafe_code)]
    unsafe {
        rows_avx512(x, w, outs)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rows_avx512(x: &[f32], w: &[f32], outs: &mut [f32]) {
    rows(x, w, outs)
}

#[cfg(target_arch = "x86_64")]
fn rows_avx_checked(x: &[f32], w: &[f32], outs: &mut [f32]) {
    // SAFETY: `rows_fn` returns this function only after detecting AVX, the one feature
    // `rows_avx` is compiled for.
    #[allow(unsafe_code)]
    unsafe {
        rows_avx(x, w, outs)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn rows_avx(x: &[f32], w: &[f32], outs: &mut [f32]) {
    rows(x, w, outs)
}

#[inline(always)]
fn rows(x: &[f32], w: &[f32], outs: &mut [f32]) {
    let k = w.len();
    let mut quads = outs.chunks_exact_mut(4);
    let mut j = 0;
    for o in &mut quads {
        let x4 = [
            &x[j * k..(j + 1) * k],
            &x[(j + 1) * k..(j + 2) * k],
            &x[(j + 2) * k..(j + 3) * k],
            &x[(j + 3) * k..(j + 4) * k],
        ];
        o.copy_from_slice(&dot4(x4, w));
        j += 4;
    }
    for o in quads.into_remainder() {
        *o = dot(&x[j * k..(j + 1) * k], w);
        j += 1;
    }
}

/// [`dot`] of four rows with one `b`, each row accumulated exactly as `dot` does.
#[inline(always)]
fn dot4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    let (mut s0, mut s1, mut s2, mut s3) = ([0f32; 16], [0f32; 16], [0f32; 16], [0f32; 16]);
    let cb = b.chunks_exact(16);
    let full = b.len() - cb.remainder().len();
    let (c0, c1, c2, c3) = (
        a[0].chunks_exact(16),
        a[1].chunks_exact(16),
        a[2].chunks_exact(16),
        a[3].chunks_exact(16),
    );
    for ((((xb, x0), x1), x2), x3) in cb.zip(c0).zip(c1).zip(c2).zip(c3) {
        prefetch_ahead(xb);
        for l in 0..16 {
            s0[l] += x0[l] * xb[l];
            s1[l] += x1[l] * xb[l];
            s2[l] += x2[l] * xb[l];
            s3[l] += x3[l] * xb[l];
        }
    }
    let finish = |acc: &[f32; 16], a: &[f32]| -> f32 {
        let tail: f32 = a[full..].iter().zip(&b[full..]).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    };
    [
        finish(&s0, a[0]),
        finish(&s1, a[1]),
        finish(&s2, a[2]),
        finish(&s3, a[3]),
    ]
}

/// Dot product with 16 independent accumulators so the compiler can vectorise it (also the
/// query–key products of decoding attention: a sum in order would be a chain of dependent adds).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (xa, xb) in ca.zip(cb) {
        prefetch_ahead(xb);
        for l in 0..16 {
            acc[l] += xa[l] * xb[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Asks for the weights 1.5 KiB past `w` to be fetched (see the quantized kernels: the hardware
/// prefetcher starts over at each 4 KiB page, and a decoding step reads each weight once).
#[inline]
fn prefetch_ahead<T>(w: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = w.as_ptr().cast::<u8>().wrapping_add(1536);
        // SAFETY: `_mm_prefetch` needs SSE, part of the x86-64 baseline every such CPU has;
        // a prefetch is a hint that never faults and never writes, whatever the address (here
        // possibly past the end of the weights).
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = w;
}

/// `x @ wᵀ` with a frozen `w`: the same GEMM candle runs, but the backward pass computes only
/// the gradient of `x` (`grad @ w`). candle's own matmul computes the gradient of both sides,
/// which for the frozen weights of LoRA training is a weight-sized product and tensor per layer
/// thrown away.
struct FrozenMatmulT;

impl candle_core::CustomOp2 for FrozenMatmulT {
    fn name(&self) -> &'static str {
        "glassbox-frozen-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("{}: inner dimensions {k} and {k2} differ", self.name());
        }
        let rhs = l2.transpose(0, 1)?;
        let out = s1.matmul(s2, (1, m, n, k), l1, &rhs)?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(w)?), None))
    }
}

/// `x @ wᵀ + d` with the frozen `w` held by the op: differentiable in `x` and `d` only. One
/// output tensor where a product and a sum would keep two alive for the backward pass (a LoRA
/// layer's frozen product plus its update).
struct FrozenMatmulTAdd {
    w: Tensor,
}

impl candle_core::CustomOp2 for FrozenMatmulTAdd {
    fn name(&self) -> &'static str {
        "glassbox-frozen-matmul-t-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = self.w.dims2()?;
        if k != k2 || l2.shape().dims2()? != (m, n) {
            candle_core::bail!(
                "{}: x {:?}, w {:?}, addend {:?} do not fit",
                self.name(),
                l1.shape(),
                self.w.shape(),
                l2.shape()
            );
        }
        let (ws, wl) = self.w.storage_and_layout();
        let candle_core::Storage::Cpu(ws) = &*ws else {
            candle_core::bail!("{}: the weight is not on the CPU", self.name());
        };
        let rhs = wl.transpose(0, 1)?;
        let out = s1.matmul(ws, (1, m, n, k), l1, &rhs)?;
        let (CpuStorage::F32(mut y), CpuStorage::F32(d)) = (out, s2) else {
            candle_core::bail!("{}: f32 only", self.name());
        };
        let Some(d) = l2.contiguous_offsets().map(|(a, b)| &d[a..b]) else {
            candle_core::bail!("{}: the addend must be contiguous", self.name());
        };
        for (yi, di) in y.iter_mut().zip(d) {
            *yi += di;
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _d: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(&self.w)?), Some(grad.clone())))
    }
}

/// `x @ wᵀ + d` for `x` `(M, K)` f32, a frozen f32 `w` `(N, K)` and `d` `(M, N)` f32 on the CPU,
/// differentiable in `x` and `d` only.
pub fn frozen_matmul_t_add(x: &Tensor, w: &Tensor, d: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2(
        &d.contiguous()?,
        FrozenMatmulTAdd {
            w: w.contiguous()?.detach(),
        },
    )
}

/// `x @ wᵀ` for `x` `(M, K)` and a frozen `w` `(N, K)` (same dtype, CPU), differentiable in `x`
/// only.
pub fn frozen_matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, FrozenMatmulT)
}

/// `x @ wᵀ` for `x` `(M, K)` f32 and `w` `(N, K)` f32, bf16 or f16, on the CPU (fastest for
/// `M ≤ MAX_ROWS`; any `M` works, and every output is the same dot product whatever `M` is).
pub fn matvec_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &MatVecT)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    /// Whatever the blocking (4 × 4 blocks, four rows per weight load, single rows; weight rows
    /// in a partial last block; a length that is not a multiple of 16), every output has the
    /// bits of its row computed alone, which are those of [`super::dot`].
    #[test]
    fn rows_are_computed_the_same_whatever_their_number() {
        let dev = Device::Cpu;
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for (m, k, n) in [(11, 97, 300), (32, 64, 70), (5, 48, 131), (4, 16, 4)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
            let all: Vec<Vec<f32>> = super::matvec_t(&x, &w).unwrap().to_vec2().unwrap();
            let (xs, ws): (Vec<Vec<f32>>, Vec<Vec<f32>>) =
                (x.to_vec2().unwrap(), w.to_vec2().unwrap());
            for (i, row) in all.iter().enumerate() {
                let one: Vec<Vec<f32>> = super::matvec_t(&x.narrow(0, i, 1).unwrap(), &w)
                    .unwrap()
                    .to_vec2()
                    .unwrap();
                assert_eq!(bits(&one[0]), bits(row), "{m}x{k}x{n}, row {i}");
                let dots: Vec<f32> = ws.iter().map(|wr| super::dot(&xs[i], wr)).collect();
                assert_eq!(bits(&dots), bits(row), "{m}x{k}x{n}, row {i} against dot");
            }
        }
    }

    #[test]
    fn half_weights_give_the_bits_of_widened_weights() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 101), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (70, 101), &dev).unwrap();
        for dt in [candle_core::DType::BF16, candle_core::DType::F16] {
            let half = w.to_dtype(dt).unwrap();
            let wide = half.to_dtype(candle_core::DType::F32).unwrap();
            let a: Vec<Vec<f32>> = super::matvec_t(&x, &half).unwrap().to_vec2().unwrap();
            let b: Vec<Vec<f32>> = super::matvec_t(&x, &wide).unwrap().to_vec2().unwrap();
            assert_eq!(a, b, "{dt:?}");
        }
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn frozen_matmul_equals_matmul_and_its_input_gradient() {
        let dev = Device::Cpu;
        let x = candle_core::Var::randn(0f32, 1.0, (5, 12), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (7, 12), &dev).unwrap();
        let a = super::frozen_matmul_t(x.as_tensor(), &w).unwrap();
        let b = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
        let ga = a.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let gb = b.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let d = |p: Tensor, q: Tensor| max_abs_diff(&p, &q);
        assert_eq!(d(a.clone(), b.clone()), 0.0);
        let (xa, xb) = (
            ga.get(x.as_tensor()).unwrap(),
            gb.get(x.as_tensor()).unwrap(),
        );
        assert!(d(xa.clone(), xb.clone()) < 1e-4);
        assert!(ga.get(&w).is_none(), "no gradient for the frozen weight");
    }

    #[test]
    fn frozen_matmul_add_equals_product_plus_addend_with_both_gradients() {
        let dev = Device::Cpu;
        let x = candle_core::Var::randn(0f32, 1.0, (5, 12), &dev).unwrap();
        let d = candle_core::Var::randn(0f32, 1.0, (5, 7), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (7, 12), &dev).unwrap();
        let a = super::frozen_matmul_t_add(x.as_tensor(), &w, d.as_tensor()).unwrap();
        let b = (x.as_tensor().matmul(&w.t().unwrap()).unwrap() + d.as_tensor()).unwrap();
        assert!(max_abs_diff(&a, &b) < 1e-5);
        let ga = a.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let gb = b.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for v in [x.as_tensor(), d.as_tensor()] {
            assert!(max_abs_diff(ga.get(v).unwrap(), gb.get(v).unwrap()) < 1e-4);
        }
        assert!(ga.get(&w).is_none(), "no gradient for the frozen weight");
    }

    #[test]
    fn equals_matmul() {
        let dev = Device::Cpu;
        for (m, k, n) in [(1, 576, 1536), (3, 37, 130), (8, 64, 1)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
            let a = super::matvec_t(&x, &w).unwrap();
            let b = x.matmul(&w.t().unwrap()).unwrap();
            let d = max_abs_diff(&a, &b);
            assert!(d < 1e-3, "{m}x{k}x{n}: {d}");
        }
    }
}
