//! The scaled, masked softmax of attention scores.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use super::{f32_slice, for_rows};
use crate::Result;

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
        None => scores.apply_op1(op)?,
    })
}

struct MaskedSoftmax {
    scale: f32,
}

impl MaskedSoftmax {
    /// The rows of `x` (scores with layout `l`) scaled, masked by `mask` `(B, 1, T, S)` if
    /// any, and normalised.
    fn softmax(
        &self,
        x: &[f32],
        l: &Layout,
        mask: Option<&[f32]>,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_b, h, t, s) = l.shape().dims4()?;
        let mut out = vec![0f32; x.len()];
        for_rows(&mut out, s, |r, o| {
            let row = &x[r * s..(r + 1) * s];
            match mask {
                Some(m) => {
                    // Row r is (batch, head, query) = (r / (h·t), ·, r % t); its mask row is
                    // (batch, query).
                    let mrow = &m[((r / (h * t)) * t + r % t) * s..][..s];
                    for ((o, &x), &m) in o.iter_mut().zip(row).zip(mrow) {
                        *o = x * self.scale + m;
                    }
                }
                None => {
                    for (o, &x) in o.iter_mut().zip(row) {
                        *o = x * self.scale;
                    }
                }
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
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    /// The gradient for the scores: `scale · y ⊙ (dy − Σ dy ⊙ y)`.
    fn grad(&self, res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Tensor> {
        let dy = grad_res.contiguous()?;
        res.apply_op2_no_bwd(&dy, &SoftmaxGrad { scale: self.scale })
    }
}

impl CustomOp1 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "glassbox-softmax-scaled"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.softmax(f32_slice(s, l, CustomOp1::name(self))?, l, None)
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(self.grad(res, grad_res)?))
    }
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
        let m = f32_slice(s2, l2, CustomOp2::name(self))?;
        self.softmax(f32_slice(s1, l1, CustomOp2::name(self))?, l1, Some(m))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(self.grad(res, grad_res)?), None))
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
