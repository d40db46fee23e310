//! AdamW and the learning-rate schedule, computed operation for operation as PyTorch's
//! `torch.optim.AdamW` (single-tensor path) so that losses match a PyTorch run to 1e-4.
//!
//! Per parameter `p` with gradient `g`, at step `t` (1-based), learning rate `lr`:
//! ```text
//! p ← p · (1 − lr · wd)                      (decoupled weight decay; skipped for no-decay params)
//! m ← m + (g − m) · (1 − β₁)                 (PyTorch's lerp)
//! v ← v · β₂ + g · g · (1 − β₂)
//! p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//! Moments and the step count are the optimiser state saved in every checkpoint.

use candle_core::{Tensor, Var};

use crate::Result;
use crate::recipe::{Decay, Recipe};

/// The learning rate at (0-based) step `step` of `total`: linear warmup from 0 over
/// `warmup` steps (`lr · (step + 1) / warmup`), then the decay from `lr` to `min_lr` reached at
/// the last step.
pub fn learning_rate(r: &Recipe, step: u64, total: u64) -> f64 {
    let (lr, min) = (r.optim.lr, r.min_lr());
    let w = r.schedule.warmup_steps;
    if step < w {
        return lr * (step + 1) as f64 / w as f64;
    }
    let span = total.saturating_sub(w).max(1);
    let progress = ((step - w) as f64 / span as f64).min(1.0);
    match r.schedule.decay {
        Decay::Constant => lr,
        Decay::Linear => lr + (min - lr) * progress,
        Decay::Cosine => min + (lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// One parameter under optimisation.
#[derive(Debug)]
pub struct Param {
    /// HF name.
    pub name: String,
    /// The variable.
    pub var: Var,
    /// Whether weight decay applies.
    pub decay: bool,
    /// First moment.
    pub m: Tensor,
    /// Second moment.
    pub v: Tensor,
}

/// AdamW over a set of parameters.
#[derive(Debug)]
pub struct AdamW {
    /// Parameters, in HF order.
    pub params: Vec<Param>,
    /// Steps taken.
    pub step: u64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// Fresh state (zero moments).
    pub fn new(params: Vec<(String, Var, bool)>, r: &Recipe) -> Result<Self> {
        let params = params
            .into_iter()
            .map(|(name, var, decay)| {
                let m = var.as_tensor().zeros_like()?;
                let v = var.as_tensor().zeros_like()?;
                Ok(Param {
                    name,
                    var,
                    decay,
                    m,
                    v,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            params,
            step: 0,
            betas: (r.optim.betas[0], r.optim.betas[1]),
            eps: r.optim.eps,
            weight_decay: r.optim.weight_decay,
        })
    }

    /// One update with learning rate `lr`; `grads[i]` is the gradient of `params[i]`.
    pub fn update(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        self.step += 1;
        let (b1, b2) = self.betas;
        let t = self.step as i32;
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let step_size = lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        for (p, g) in self.params.iter_mut().zip(grads) {
            let mut w = p.var.as_tensor().clone();
            if p.decay && self.weight_decay != 0.0 {
                w = (w * (1.0 - lr * self.weight_decay))?;
            }
            p.m = (&p.m + ((g - &p.m)? * (1.0 - b1))?)?;
            p.v = ((&p.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let denom = ((p.v.sqrt()? / bc2_sqrt)? + self.eps)?;
            let w = (w - ((&p.m / denom)? * step_size)?)?;
            p.var.set(&w)?;
        }
        Ok(())
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: norm of the per-tensor norms, coefficient `max_norm / (norm + 1e-6)`
/// clamped to 1). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let mut sq = 0f64;
    let mut norms = Vec::with_capacity(grads.len());
    for g in grads.iter() {
        let n = g.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
        norms.push(n);
    }
    for n in &norms {
        sq += (*n as f64) * (*n as f64);
    }
    let total = (sq.sqrt()) as f32 as f64;
    if max_norm > 0.0 {
        let coef = (max_norm / (total + 1e-6)).min(1.0);
        if coef < 1.0 {
            for g in grads.iter_mut() {
                *g = (&*g * coef)?;
            }
        }
    }
    Ok(total)
}
