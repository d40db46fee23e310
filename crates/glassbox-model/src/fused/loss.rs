//! The cross-entropy over the vocabulary.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{ROWS_PER_TASK, f32_slice, for_rows};
use crate::Result;

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
