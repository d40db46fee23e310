//! Model merging: linear averaging (Wortsman et al., "Model soups", 2022,
//! <https://arxiv.org/abs/2203.05482>), task arithmetic (Ilharco et al., "Editing Models with
//! Task Arithmetic", 2023, <https://arxiv.org/abs/2212.04089>), TIES (Yadav et al.,
//! "TIES-Merging", 2023, <https://arxiv.org/abs/2306.01708>), DARE (Yu et al., "Language Models
//! are Super Mario", 2024, <https://arxiv.org/abs/2311.03099>) and SLERP between two models.
//!
//! Every tensor is merged on its own, in f64 from the inputs' f32 values, the result rounded to
//! f32. Tensors are visited in name order and elements in row-major order; DARE's drops come
//! from one seeded glassbox RNG stream in that order, model after model, so a merge is a pure
//! function of its inputs, recipe and seed. The exact rules are in `docs/adaptation.md`, and a
//! NumPy script (`tests/fixtures/make_merge_fixtures.py`) computes the same merges.

use std::collections::BTreeMap;

use crate::{ModelError, Result};

/// A merge method and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `Σ wᵢ xᵢ / Σ wᵢ` (or without the division).
    Linear {
        /// Divide by the weights' sum.
        normalize: bool,
    },
    /// `b + λ Σ wᵢ (xᵢ − b)`.
    TaskArithmetic {
        /// λ.
        lambda: f64,
    },
    /// Trim each task vector to its `density` largest magnitudes, elect a sign per element,
    /// average the agreeing entries: `b + λ m`.
    Ties {
        /// Fraction of each task vector kept.
        density: f64,
        /// λ.
        lambda: f64,
    },
    /// Drop each task-vector entry with probability `drop_rate` (seeded), rescale the rest by
    /// `1 / (1 − drop_rate)`, then add (`b + λ Σ wᵢ τ̃ᵢ`), or with `sign_election` merge as TIES
    /// does without trimming.
    Dare {
        /// Probability of dropping an entry.
        drop_rate: f64,
        /// Rescale the kept entries.
        rescale: bool,
        /// TIES's sign election and disjoint mean after the drops.
        sign_election: bool,
        /// Seed of the drops.
        seed: u64,
        /// λ.
        lambda: f64,
    },
    /// Spherical interpolation between two models at `t` (linear when nearly parallel).
    Slerp {
        /// 0 gives the first model, 1 the second.
        t: f64,
    },
}

impl Method {
    /// Whether the method needs a base model.
    pub fn needs_base(&self) -> bool {
        matches!(
            self,
            Self::TaskArithmetic { .. } | Self::Ties { .. } | Self::Dare { .. }
        )
    }
}

/// Named tensors as `(shape, f32 values)`.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Merges `models` (each with its weight) over `base`, tensor by tensor. All inputs must hold
/// the same tensor names and shapes (the error names the first that differs).
pub fn merge(
    method: &Method,
    base: Option<&Tensors>,
    models: &[(f64, &Tensors)],
) -> Result<Tensors> {
    let bad = |m: String| ModelError::Input(m);
    if models.is_empty() {
        return Err(bad("no models to merge".into()));
    }
    if method.needs_base() && base.is_none() {
        return Err(bad(
            "this method merges task vectors: give a base model".into()
        ));
    }
    if matches!(method, Method::Slerp { .. }) && models.len() != 2 {
        return Err(bad(format!(
            "slerp merges exactly two models, not {}",
            models.len()
        )));
    }
    let reference = base.unwrap_or(models[0].1);
    for (i, (_, m)) in models.iter().enumerate() {
        for (name, (shape, _)) in reference {
            match m.get(name) {
                None => return Err(bad(format!("model {i} has no tensor `{name}`"))),
                Some((s, _)) if s != shape => {
                    return Err(bad(format!(
                        "tensor `{name}`: model {i} has shape {s:?}, the {} {shape:?}",
                        if base.is_some() {
                            "base"
                        } else {
                            "first model"
                        }
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = m.keys().find(|k| !reference.contains_key(*k)) {
            return Err(bad(format!(
                "model {i} has a tensor `{extra}` the others lack"
            )));
        }
    }
    let mut rng = match method {
        Method::Dare { seed, .. } => Some(glassbox_core::rng::Rng::seed_from_u64(*seed)),
        _ => None,
    };
    // DARE draws model after model over every tensor, so the task vectors of a model are
    // masked in one pass before any tensor is merged.
    let mut dropped: Vec<BTreeMap<&str, Vec<f64>>> = Vec::new();
    if let (
        Method::Dare {
            drop_rate, rescale, ..
        },
        Some(b),
        Some(rng),
    ) = (method, base, rng.as_mut())
    {
        for (_, m) in models {
            let mut per = BTreeMap::new();
            for (name, (_, bv)) in b {
                let xv = &m[name].1;
                let keep = 1.0 - drop_rate;
                let tau: Vec<f64> = xv
                    .iter()
                    .zip(bv)
                    .map(|(&x, &b)| {
                        let t = f64::from(x) - f64::from(b);
                        if rng.next_f64() >= *drop_rate {
                            if *rescale { t / keep } else { t }
                        } else {
                            0.0
                        }
                    })
                    .collect();
                per.insert(name.as_str(), tau);
            }
            dropped.push(per);
        }
    }
    let mut out = Tensors::new();
    for (name, (shape, _)) in reference {
        let xs: Vec<&[f32]> = models.iter().map(|(_, m)| m[name].1.as_slice()).collect();
        let ws: Vec<f64> = models.iter().map(|(w, _)| *w).collect();
        let b = base.map(|b| b[name].1.as_slice());
        let merged: Vec<f64> = match method {
            Method::Linear { normalize } => {
                let total: f64 = ws.iter().sum();
                (0..xs[0].len())
                    .map(|j| {
                        let s: f64 = xs.iter().zip(&ws).map(|(x, w)| w * f64::from(x[j])).sum();
                        if *normalize { s / total } else { s }
                    })
                    .collect()
            }
            Method::TaskArithmetic { lambda } => {
                let b = b.unwrap_or_default();
                (0..b.len())
                    .map(|j| {
                        let bj = f64::from(b[j]);
                        let s: f64 = xs
                            .iter()
                            .zip(&ws)
                            .map(|(x, w)| w * (f64::from(x[j]) - bj))
                            .sum();
                        bj + lambda * s
                    })
                    .collect()
            }
            Method::Ties { density, lambda } => {
                let b = b.unwrap_or_default();
                let taus: Vec<Vec<f64>> = xs
                    .iter()
                    .map(|x| {
                        trim(
                            &x.iter()
                                .zip(b)
                                .map(|(&x, &b)| f64::from(x) - f64::from(b))
                                .collect::<Vec<_>>(),
                            *density,
                        )
                    })
                    .collect();
                add(b, &disjoint_mean(&taus, &ws), *lambda)
            }
            Method::Dare {
                sign_election,
                lambda,
                ..
            } => {
                let b = b.unwrap_or_default();
                let taus: Vec<Vec<f64>> =
                    dropped.iter().map(|d| d[name.as_str()].clone()).collect();
                let m = if *sign_election {
                    disjoint_mean(&taus, &ws)
                } else {
                    (0..b.len())
                        .map(|j| taus.iter().zip(&ws).map(|(t, w)| w * t[j]).sum())
                        .collect()
                };
                add(b, &m, *lambda)
            }
            Method::Slerp { t } => slerp(xs[0], xs[1], *t),
        };
        out.insert(
            name.clone(),
            (
                shape.clone(),
                merged.into_iter().map(|v| v as f32).collect(),
            ),
        );
    }
    Ok(out)
}

/// `b + λ m`.
fn add(b: &[f32], m: &[f64], lambda: f64) -> Vec<f64> {
    b.iter()
        .zip(m)
        .map(|(&b, m)| f64::from(b) + lambda * m)
        .collect()
}

/// Keeps the `floor(density · n)` (at least one) largest magnitudes, ties to the lower index.
fn trim(tau: &[f64], density: f64) -> Vec<f64> {
    let n = tau.len();
    let k = ((density * n as f64).floor() as usize).max(1).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| tau[b].abs().total_cmp(&tau[a].abs()).then(a.cmp(&b)));
    let mut out = vec![0.0; n];
    for &i in &order[..k] {
        out[i] = tau[i];
    }
    out
}

/// TIES: the sign of `Σ wᵢ τᵢ` per element, then the weighted mean of the entries that are
/// non-zero and agree with it (0 where none do).
fn disjoint_mean(taus: &[Vec<f64>], ws: &[f64]) -> Vec<f64> {
    let n = taus.first().map_or(0, Vec::len);
    (0..n)
        .map(|j| {
            let total: f64 = taus.iter().zip(ws).map(|(t, w)| w * t[j]).sum();
            let s = sign(total);
            if s == 0.0 {
                return 0.0;
            }
            let (mut num, mut den) = (0.0, 0.0);
            for (t, w) in taus.iter().zip(ws) {
                if t[j] != 0.0 && sign(t[j]) == s {
                    num += w * t[j];
                    den += w;
                }
            }
            if den == 0.0 { 0.0 } else { num / den }
        })
        .collect()
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Spherical interpolation of two flattened tensors (linear when a norm is zero or they are
/// within 0.9995 of parallel).
fn slerp(x0: &[f32], x1: &[f32], t: f64) -> Vec<f64> {
    let a: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    let b: Vec<f64> = x1.iter().map(|&v| f64::from(v)).collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (n0, n1) = (norm(&a), norm(&b));
    let lerp = || {
        a.iter()
            .zip(&b)
            .map(|(x, y)| (1.0 - t) * x + t * y)
            .collect()
    };
    if n0 == 0.0 || n1 == 0.0 {
        return lerp();
    }
    let d = (a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x / n0) * (y / n1))
        .sum::<f64>())
    .clamp(-1.0, 1.0);
    if d.abs() > 0.9995 {
        return lerp();
    }
    let omega = d.acos();
    let (c0, c1) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter().zip(&b).map(|(x, y)| c0 * x + c1 * y).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: Vec<f32>) -> Tensors {
        [("w".to_string(), (vec![v.len()], v))].into()
    }

    #[test]
    fn ties_trims_elects_and_averages_the_agreeing() {
        let base = one(vec![0.0; 4]);
        let a = one(vec![3.0, -1.0, 0.5, 2.0]);
        let b = one(vec![1.0, 2.0, -0.5, -4.0]);
        let m = Method::Ties {
            density: 0.5,
            lambda: 1.0,
        };
        let out = merge(&m, Some(&base), &[(1.0, &a), (1.0, &b)]).unwrap();
        // a keeps 3, 2; b keeps 2 (index 1), -4. Signs: +, +, 0, sum(2, -4) = - → -4.
        assert_eq!(out["w"].1, vec![3.0, 2.0, 0.0, -4.0]);
    }

    #[test]
    fn slerp_ends_are_the_inputs_and_shapes_must_agree() {
        let a = one(vec![1.0, 0.0]);
        let b = one(vec![0.0, 2.0]);
        let at = |t| {
            merge(&Method::Slerp { t }, None, &[(1.0, &a), (1.0, &b)]).unwrap()["w"]
                .1
                .clone()
        };
        assert_eq!(at(0.0), vec![1.0, 0.0]);
        assert_eq!(at(1.0), vec![0.0, 2.0]);
        // Orthogonal inputs at t = ½: both coefficients sin(π/4) / sin(π/2).
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert_eq!(at(0.5), vec![h as f32, (2.0 * h) as f32]);
        let c = one(vec![1.0, 2.0, 3.0]);
        let e = merge(
            &Method::Linear { normalize: true },
            None,
            &[(1.0, &a), (1.0, &c)],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`w`") && e.contains("[3]"), "{e}");
    }
}
