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

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Shape, Tensor,
};
use rayon::prelude::*;

use crate::Result;

/// Rows handed to one rayon task.
const ROWS_PER_TASK: usize = 16;

/// Whether the fused kernels can take `t`: f32 on the CPU.
pub fn applies(t: &Tensor) -> bool {
    t.dtype() == DType::F32 && matches!(t.device(), Device::Cpu)
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: f32 expected");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: contiguous input expected");
    };
    Ok(&v[a..b])
}

/// Runs `f(row_index, out_row)` over the rows of `out` (each `width` long) on rayon's threads.
fn for_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    out.par_chunks_mut(width * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (i, row) in chunk.chunks_mut(width).enumerate() {
                f(c * ROWS_PER_TASK + i, row);
            }
        });
}

// ---------------------------------------------------------------- cross-entropy

/// `scale · Σᵢ wᵢ · CEᵢ` of `logits` `(N, V)` against `targets` (`N` ids), with `weights`
/// (`N`, or all ones): a scalar. The mean cross-entropy is `scale = 1 / N` without weights.
pub fn cross_entropy(
    logits: &Tensor,
    targets: &[u32],
    weights: Option<&[f32]>,
    scale: f64,
) -> Result<Tensor> {
    let (n, v) = logits.dims2()?;
    if targets.len() != n || weights.is_some_and(|w| w.len() != n) {
        return Err(candle_core::Error::Msg(format!(
            "cross_entropy: {n} rows of logits, {} targets, {:?} weights",
            targets.len(),
            weights.map(<[f32]>::len)
        ))
        .into());
    }
    if let Some(t) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(candle_core::Error::Msg(format!(
            "cross_entropy: target {t} is outside the vocabulary of {v}"
        ))
        .into());
    }
    let op = CrossEntropy {
        targets: targets.to_vec(),
        weights: weights.map(<[f32]>::to_vec),
        scale,
        stats: std::sync::Mutex::new(Vec::new()),
    };
    Ok(logits.contiguous()?.apply_op1(op)?)
}

struct CrossEntropy {
    targets: Vec<u32>,
    weights: Option<Vec<f32>>,
    scale: f64,
    /// Each row's maximum and `Σ exp(x − max)` from the forward pass, for the backward pass.
    stats: std::sync::Mutex<Vec<(f32, f32)>>,
}

/// The row's maximum and `Σ exp(x − max)`.
fn max_and_sum_exp(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum = row.iter().map(|&x| (x - max).exp()).sum::<f32>();
    (max, sum)
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "glassbox-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (n, v) = l.shape().dims2()?;
        let per_row: Vec<(f64, (f32, f32))> = (0..n)
            .into_par_iter()
            .with_min_len(ROWS_PER_TASK)
            .map(|i| {
                let row = &x[i * v..(i + 1) * v];
                let (max, sum) = max_and_sum_exp(row);
                let ce = f64::from(sum.ln()) - f64::from(row[self.targets[i] as usize] - max);
                let w = self.weights.as_ref().map_or(1.0, |w| f64::from(w[i]));
                (w * ce, (max, sum))
            })
            .collect();
        // Summed in row order: the same value whatever the number of threads.
        let total = per_row.iter().map(|r| r.0).sum::<f64>() * self.scale;
        *self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            per_row.into_iter().map(|r| r.1).collect();
        Ok((CpuStorage::F32(vec![total as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let g = f64::from(grad_res.to_dtype(DType::F32)?.to_scalar::<f32>()?);
        let stats = self
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let op = CrossEntropyGrad {
            targets: &self.targets,
            weights: self.weights.as_deref(),
            factor: g * self.scale,
            stats: (stats.len() == self.targets.len()).then_some(stats.as_slice()),
        };
        Ok(Some(arg.apply_op1_no_bwd(&op)?))
    }
}

struct CrossEntropyGrad<'a> {
    targets: &'a [u32],
    weights: Option<&'a [f32]>,
    factor: f64,
    /// The forward pass's row statistics (recomputed when absent).
    stats: Option<&'a [(f32, f32)]>,
}

impl CustomOp1 for CrossEntropyGrad<'_> {
    fn name(&self) -> &'static str {
        "glassbox-cross-entropy-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (n, v) = l.shape().dims2()?;
        let mut out = vec![0f32; n * v];
        for_rows(&mut out, v, |i, o| {
            let row = &x[i * v..(i + 1) * v];
            let (max, sum) = match self.stats {
                Some(s) => s[i],
                None => max_and_sum_exp(row),
            };
            let w = self.weights.map_or(1.0, |w| f64::from(w[i]));
            let k = (self.factor * w) as f32 / sum;
            for (o, &x) in o.iter_mut().zip(row) {
                *o = (x - max).exp() * k;
            }
            o[self.targets[i] as usize] -= (self.factor * w) as f32;
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

// ---------------------------------------------------------------- attention softmax

/// `softmax(scores · scale + mask)` over the last dimension of `scores` `(B, H, T, S)`; `mask`
/// `(B, 1, T, S)` is added to every head (`-inf` hides a key).
pub fn masked_softmax(scores: &Tensor, mask: Option<&Tensor>, scale: f64) -> Result<Tensor> {
    let (b, _h, t, s) = scores.dims4()?;
    let scores = scores.contiguous()?;
    let op = MaskedSoftmax {
        scale: scale as f32,
    };
    Ok(match mask {
        Some(m) => {
            let m = m.contiguous()?;
            if m.dims() != [b, 1, t, s] {
                return Err(candle_core::Error::Msg(format!(
                    "masked_softmax: mask {:?} for scores {:?}",
                    m.dims(),
                    scores.dims()
                ))
                .into());
            }
            scores.apply_op2(&m, op)?
        }
        None => {
            let zero = Tensor::zeros((b, 1, t, s), DType::F32, scores.device())?;
            scores.apply_op2(&zero, op)?
        }
    })
}

struct MaskedSoftmax {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "glassbox-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let m = f32_slice(s2, l2, self.name())?;
        let (_b, h, t, s) = l1.shape().dims4()?;
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, s, |r, o| {
            // Row r is (batch, head, query) = (r / (h·t), ·, r % t); its mask row (batch, query).
            let mrow = &m[((r / (h * t)) * t + r % t) * s..][..s];
            let row = &x[r * s..(r + 1) * s];
            for ((o, &x), &m) in o.iter_mut().zip(row).zip(mrow) {
                *o = x * self.scale + m;
            }
            let max = o.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for o in o.iter_mut() {
                *o = (*o - max).exp();
                sum += *o;
            }
            for o in o.iter_mut() {
                *o /= sum;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = grad_res.contiguous()?;
        let grad = res.apply_op2_no_bwd(&dy, &SoftmaxGrad { scale: self.scale })?;
        Ok((Some(grad), None))
    }
}

/// `scale · y ⊙ (dy − Σ dy ⊙ y)` row by row, of `y` (the softmax) and `dy`.
struct SoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "glassbox-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        let s = *l1.shape().dims().last().unwrap_or(&1);
        let mut out = vec![0f32; y.len()];
        for_rows(&mut out, s.max(1), |r, o| {
            let (y, dy) = (&y[r * s..(r + 1) * s], &dy[r * s..(r + 1) * s]);
            let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
            for ((o, &y), &dy) in o.iter_mut().zip(y).zip(dy) {
                *o = self.scale * y * (dy - dot);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

// ---------------------------------------------------------------- RMSNorm

/// `x · w / √(mean(x²) + eps)` over the last dimension of `x`, `w` of that length.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    Ok(x.apply_op2(&w, RmsNorm { eps: eps as f32 })?)
}

struct RmsNorm {
    eps: f32,
}

/// `1 / √(mean(x²) + eps)` of one row.
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ms = row.iter().map(|x| x * x).sum::<f32>() / row.len() as f32;
    1.0 / (ms + eps).sqrt()
}

fn width_of(l: &Layout) -> usize {
    l.shape().dims().last().copied().unwrap_or(1).max(1)
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "glassbox-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let h = width_of(l1);
        if w.len() != h {
            candle_core::bail!("{}: weight of {} for rows of {h}", self.name(), w.len());
        }
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, h, |r, o| {
            let row = &x[r * h..(r + 1) * h];
            let k = inv_rms(row, self.eps);
            for ((o, &x), &w) in o.iter_mut().zip(row).zip(w) {
                *o = x * k * w;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = grad_res.contiguous()?;
        let rows = x.elem_count() / w.elem_count().max(1);
        let op = RmsNormGrad { eps: self.eps, w };
        // dx (rows, h) followed by one row of dw: split after.
        let both = x.apply_op2_no_bwd(&dy, &op)?;
        let dx = both.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = both.narrow(0, rows, 1)?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// The gradients of RMSNorm for `x` and `dy`: `(rows + 1, h)`, the rows of `dx` then `dw`.
struct RmsNormGrad<'a> {
    eps: f32,
    w: &'a Tensor,
}

impl CustomOp2 for RmsNormGrad<'_> {
    fn name(&self) -> &'static str {
        "glassbox-rms-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        let w = self.w.flatten_all()?.to_vec1::<f32>()?;
        let h = w.len().max(1);
        let rows = x.len() / h;
        let mut out = vec![0f32; (rows + 1) * h];
        let (dx, dw) = out.split_at_mut(rows * h);
        for_rows(dx, h, |r, o| {
            let (x, dy) = (&x[r * h..(r + 1) * h], &dy[r * h..(r + 1) * h]);
            let k = inv_rms(x, self.eps);
            // d/dx of x·k·w: k·dy·w − x·k³/h · Σ dy·w·x
            let dot: f32 = x.iter().zip(dy).zip(&w).map(|((x, d), w)| x * d * w).sum();
            let c = k * k * k * dot / h as f32;
            for (((o, &x), &dy), &w) in o.iter_mut().zip(x).zip(dy).zip(&w) {
                *o = k * dy * w - x * c;
            }
        });
        // dw = Σ_rows dy · x · k, in fixed blocks of rows summed in order.
        let blocks: Vec<Vec<f32>> = (0..rows.div_ceil(ROWS_PER_TASK))
            .into_par_iter()
            .map(|b| {
                let mut acc = vec![0f32; h];
                for r in b * ROWS_PER_TASK..((b + 1) * ROWS_PER_TASK).min(rows) {
                    let (x, dy) = (&x[r * h..(r + 1) * h], &dy[r * h..(r + 1) * h]);
                    let k = inv_rms(x, self.eps);
                    for ((a, &x), &dy) in acc.iter_mut().zip(x).zip(dy) {
                        *a += dy * x * k;
                    }
                }
                acc
            })
            .collect();
        for b in &blocks {
            for (d, a) in dw.iter_mut().zip(b) {
                *d += a;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, h))))
    }
}

// ---------------------------------------------------------------- RoPE

/// Rotary embedding of `x` `(B, n, T, d)` in transformers' half-split layout, with `cos` and
/// `sin` `(B, T, d/2)`: `[x₁·cos − x₂·sin ‖ x₂·cos + x₁·sin]`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, _n, t, d) = x.dims4()?;
    if d % 2 != 0 || cos.dims() != [b, t, d / 2] || sin.dims() != [b, t, d / 2] {
        return Err(candle_core::Error::Msg(format!(
            "rope: x {:?} with cos {:?} and sin {:?}",
            x.dims(),
            cos.dims(),
            sin.dims()
        ))
        .into());
    }
    Ok(x.contiguous()?
        .apply_op3(&cos.contiguous()?, &sin.contiguous()?, Rope { sign: 1.0 })?)
}

/// The rotation by `sign · angle` (the backward pass rotates the gradient back: `sign = −1`).
struct Rope {
    sign: f32,
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "glassbox-rope"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let cos = f32_slice(s2, l2, self.name())?;
        let sin = f32_slice(s3, l3, self.name())?;
        let (_b, n, t, d) = l1.shape().dims4()?;
        let half = d / 2;
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, d, |r, o| {
            let at = ((r / (n * t)) * t + r % t) * half;
            let (c, s) = (&cos[at..at + half], &sin[at..at + half]);
            let (x1, x2) = x[r * d..(r + 1) * d].split_at(half);
            let (o1, o2) = o.split_at_mut(half);
            for i in 0..half {
                let si = self.sign * s[i];
                o1[i] = x1[i] * c[i] - x2[i] * si;
                o2[i] = x2[i] * c[i] + x1[i] * si;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let back = Rope { sign: -self.sign };
        let dx = grad_res.contiguous()?.apply_op3_no_bwd(cos, sin, &back)?;
        Ok((Some(dx), None, None))
    }
}

// ---------------------------------------------------------------- SwiGLU

/// `silu(g) · u`, element by element (`g` and `u` of one shape).
pub fn swiglu(g: &Tensor, u: &Tensor) -> Result<Tensor> {
    if g.dims() != u.dims() {
        return Err(candle_core::Error::Msg(format!(
            "swiglu: gate {:?} and up {:?} differ",
            g.dims(),
            u.dims()
        ))
        .into());
    }
    Ok(g.contiguous()?.apply_op2(&u.contiguous()?, SwiGlu)?)
}

struct SwiGlu;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "glassbox-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, self.name())?;
        let u = f32_slice(s2, l2, self.name())?;
        let h = width_of(l1);
        let mut out = vec![0f32; g.len()];
        for_rows(&mut out, h, |r, o| {
            let (g, u) = (&g[r * h..(r + 1) * h], &u[r * h..(r + 1) * h]);
            for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
                *o = g / (1.0 + (-g).exp()) * u;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        g: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = grad_res.contiguous()?;
        let n = g.elem_count();
        let grads = g.apply_op3_no_bwd(u, &dy, &SwiGluGrad)?;
        let dg = grads.narrow(0, 0, n)?.reshape(g.shape())?;
        let du = grads.narrow(0, n, n)?.reshape(u.shape())?;
        Ok((Some(dg), Some(du)))
    }
}

/// Of `g`, `u` and `dy`: `[dy · u · silu'(g) ‖ dy · silu(g)]`, one vector.
struct SwiGluGrad;

impl CustomOp3 for SwiGluGrad {
    fn name(&self) -> &'static str {
        "glassbox-swiglu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, self.name())?;
        let u = f32_slice(s2, l2, self.name())?;
        let dy = f32_slice(s3, l3, self.name())?;
        let n = dy.len();
        if g.len() != n || u.len() != n {
            candle_core::bail!("{}: gate, up and gradient differ in size", self.name());
        }
        let mut out = vec![0f32; 2 * n];
        let (dg, du) = out.split_at_mut(n);
        const CHUNK: usize = 4096;
        dg.par_chunks_mut(CHUNK)
            .zip(du.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (dg, du))| {
                let base = c * CHUNK;
                for (i, (dg, du)) in dg.iter_mut().zip(du.iter_mut()).enumerate() {
                    let (g, u, dy) = (g[base + i], u[base + i], dy[base + i]);
                    let s = sigmoid(g);
                    let silu = g * s;
                    *du = dy * silu;
                    // silu'(g) = s · (1 + g · (1 − s))
                    *dg = dy * u * (s * (1.0 + g * (1.0 - s)));
                }
            });
        Ok((CpuStorage::F32(out), Shape::from(2 * n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Var};

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
        let v: Vec<f32> = (0..n)
            .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_rel(a: &Tensor, b: &Tensor) -> f32 {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-30);
        a.iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    /// The value and the gradients (for `vars`) of `f` with the fused and the composed path,
    /// backpropagating `Σ f · r` for a fixed random `r`.
    fn compare(
        vars: &[Var],
        fused: impl Fn(&[Tensor]) -> Tensor,
        composed: impl Fn(&[Tensor]) -> Tensor,
        tol: f32,
    ) {
        let xs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (a, b) = (fused(&xs), composed(&xs));
        assert_eq!(a.dims(), b.dims());
        assert!(max_rel(&a, &b) <= tol, "values: {}", max_rel(&a, &b));
        let r = rand(a.dims(), 99);
        let ga = (a * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, v) in vars.iter().enumerate() {
            let (x, y) = (ga.get(v).unwrap(), gb.get(v).unwrap());
            assert!(max_rel(x, y) <= tol, "gradient {i}: {}", max_rel(x, y));
        }
    }

    #[test]
    fn cross_entropy_and_its_gradient_equal_the_composed_ops() {
        let logits = Var::from_tensor(&(rand(&[37, 300], 1) * 3.0).unwrap()).unwrap();
        let targets: Vec<u32> = (0..37).map(|i| (i * 53 % 300) as u32).collect();
        let weights: Vec<f32> = (0..37).map(|i| (i % 3) as f32 * 0.5).collect();
        for w in [None, Some(weights.as_slice())] {
            let t = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
            compare(
                std::slice::from_ref(&logits),
                |x| cross_entropy(&x[0], &targets, w, 1.0 / 37.0).unwrap(),
                |x| {
                    let logp = candle_nn::ops::log_softmax(&x[0], 1).unwrap();
                    let picked = logp.gather(&t.unsqueeze(1).unwrap(), 1).unwrap();
                    let picked = picked.squeeze(1).unwrap();
                    let picked = match w {
                        Some(w) => (picked * Tensor::new(w, &Device::Cpu).unwrap()).unwrap(),
                        None => picked,
                    };
                    (picked.sum_all().unwrap() * (-1.0 / 37.0)).unwrap()
                },
                2e-6,
            );
        }
        let e = cross_entropy(logits.as_tensor(), &[300; 37], None, 1.0).unwrap_err();
        assert!(e.to_string().contains("target 300"), "{e}");
    }

    #[test]
    fn masked_softmax_and_its_gradient_equal_the_composed_ops() {
        let scores = Var::from_tensor(&rand(&[2, 3, 5, 7], 2)).unwrap();
        // A causal mask with an offset of 2 and a padded first key in batch 1.
        let mut m = vec![0f32; 2 * 5 * 7];
        for b in 0..2 {
            for q in 0..5 {
                for k in 0..7 {
                    if k > q + 2 || (b == 1 && k == 0) {
                        m[(b * 5 + q) * 7 + k] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(m, (2, 1, 5, 7), &Device::Cpu).unwrap();
        for mask in [Some(&mask), None] {
            compare(
                std::slice::from_ref(&scores),
                |x| masked_softmax(&x[0], mask, 0.37).unwrap(),
                |x| {
                    let s = (&x[0] * 0.37).unwrap();
                    let s = match mask {
                        Some(m) => s.broadcast_add(m).unwrap(),
                        None => s,
                    };
                    candle_nn::ops::softmax(&s, D::Minus1).unwrap()
                },
                2e-6,
            );
        }
    }

    #[test]
    fn rms_norm_and_its_gradients_equal_the_composed_ops() {
        let x = Var::from_tensor(&rand(&[2, 9, 24], 3)).unwrap();
        let w = Var::from_tensor(&(rand(&[24], 4) + 1.0).unwrap()).unwrap();
        compare(
            &[x, w],
            |v| rms_norm(&v[0], &v[1], 1e-5).unwrap(),
            |v| {
                let ms = v[0].sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
                let d = (ms + 1e-5).unwrap().sqrt().unwrap();
                v[0].broadcast_div(&d)
                    .unwrap()
                    .broadcast_mul(&v[1])
                    .unwrap()
            },
            2e-6,
        );
    }

    #[test]
    fn rope_and_its_gradient_equal_the_composed_ops() {
        let x = Var::from_tensor(&rand(&[2, 3, 5, 8], 9)).unwrap();
        let cos = rand(&[2, 5, 4], 10);
        let sin = rand(&[2, 5, 4], 11);
        compare(
            std::slice::from_ref(&x),
            |v| rope(&v[0], &cos, &sin).unwrap(),
            |v| {
                let c = Tensor::cat(&[&cos, &cos], D::Minus1).unwrap();
                let s = Tensor::cat(&[&sin, &sin], D::Minus1).unwrap();
                let (c, s) = (c.unsqueeze(1).unwrap(), s.unsqueeze(1).unwrap());
                let x1 = v[0].narrow(D::Minus1, 0, 4).unwrap();
                let x2 = v[0].narrow(D::Minus1, 4, 4).unwrap();
                let rot = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
                (v[0].broadcast_mul(&c).unwrap() + rot.broadcast_mul(&s).unwrap()).unwrap()
            },
            0.0,
        );
    }

    #[test]
    fn swiglu_and_its_gradients_equal_the_composed_ops() {
        let g = Var::from_tensor(&(rand(&[3, 5000], 5) * 4.0).unwrap()).unwrap();
        let u = Var::from_tensor(&rand(&[3, 5000], 6)).unwrap();
        compare(
            &[g, u],
            |v| swiglu(&v[0], &v[1]).unwrap(),
            |v| (v[0].silu().unwrap() * &v[1]).unwrap(),
            2e-6,
        );
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let x = rand(&[64, 40], 7);
        let w = rand(&[40], 8);
        let targets: Vec<u32> = (0..64).map(|i| i as u32 % 40).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let xv = Var::from_tensor(&x).unwrap();
                let wv = Var::from_tensor(&w).unwrap();
                let y = rms_norm(xv.as_tensor(), wv.as_tensor(), 1e-6).unwrap();
                let loss = cross_entropy(&y, &targets, None, 1.0 / 64.0).unwrap();
                let g = loss.backward().unwrap();
                let bits = |t: &Tensor| -> Vec<u32> {
                    t.flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .collect()
                };
                (
                    bits(&loss.reshape(1).unwrap()),
                    bits(g.get(&xv).unwrap()),
                    bits(g.get(&wv).unwrap()),
                )
            })
        };
        assert_eq!(run(1), run(3));
    }
}
