//! RMSNorm, RoPE and SiLU·up.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{ROWS_PER_TASK, f32_slice, for_rows, width_of};
use crate::Result;

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
        let op = RmsNormGrad { eps: self.eps };
        // dx (rows, h) followed by one row of dw: split after.
        let both = x.apply_op3_no_bwd(&dy, &w.contiguous()?, &op)?;
        let dx = both.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = both.narrow(0, rows, 1)?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// The gradients of RMSNorm of `x` and `dy` with weight `w`: `(rows + 1, h)`, the rows of `dx`
/// then `dw`.
struct RmsNormGrad {
    eps: f32,
}

impl CustomOp3 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "glassbox-rms-norm-grad"
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
        let dy = f32_slice(s2, l2, self.name())?;
        let w = f32_slice(s3, l3, self.name())?;
        let h = w.len().max(1);
        let rows = x.len() / h;
        // Each row's 1 / rms, once for both gradients.
        let ks: Vec<f32> = (0..rows)
            .into_par_iter()
            .with_min_len(ROWS_PER_TASK)
            .map(|r| inv_rms(&x[r * h..(r + 1) * h], self.eps))
            .collect();
        let mut out = vec![0f32; (rows + 1) * h];
        let (dx, dw) = out.split_at_mut(rows * h);
        for_rows(dx, h, |r, o| {
            let (x, dy, k) = (&x[r * h..(r + 1) * h], &dy[r * h..(r + 1) * h], ks[r]);
            // d/dx of x·k·w: k·dy·w − x·k³/h · Σ dy·w·x
            let dot: f32 = x.iter().zip(dy).zip(w).map(|((x, d), w)| x * d * w).sum();
            let c = k * k * k * dot / h as f32;
            for (((o, &x), &dy), &w) in o.iter_mut().zip(x).zip(dy).zip(w) {
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
                    for ((a, &x), &dy) in acc.iter_mut().zip(x).zip(dy) {
                        *a += dy * x * ks[r];
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
