//! LoRA adapters on a [`Transformer`]: applied beside the frozen weights, merged into them, and
//! merged back out.

use candle_core::{DType, Tensor};

use super::{Ffn, Linear, LoraDelta, Qkv, Transformer, Weight, widened};
use crate::families::{FfnNames, QkvNames, layer_names};
use crate::lora::{Adapter, PEFT_PREFIX};
use crate::{ModelError, Result};

impl Transformer {
    /// Every linear layer with its module path (`model.layers.0.self_attn.q_proj`), in
    /// transformers' order.
    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let cfg = self.cfg.clone();
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let n = layer_names(&cfg, l);
            match (&mut layer.qkv, n.qkv) {
                (
                    Qkv::Separate { q, k, v },
                    QkvNames::Separate {
                        q: nq,
                        k: nk,
                        v: nv,
                    },
                ) => {
                    out.push((nq, q));
                    out.push((nk, k));
                    out.push((nv, v));
                }
                (Qkv::Fused { qkv, .. }, QkvNames::Fused(name)) => out.push((name, qkv)),
                _ => {}
            }
            out.push((n.o, &mut layer.o));
            match (&mut layer.ffn, n.ffn) {
                (Ffn::Gated(e), FfnNames::Gated { gate, up, down }) => {
                    out.push((gate, &mut e.gate));
                    out.push((up, &mut e.up));
                    out.push((down, &mut e.down));
                }
                (
                    Ffn::FusedGated { gate_up, down },
                    FfnNames::FusedGated {
                        gate_up: g,
                        down: d,
                    },
                ) => {
                    out.push((g, gate_up));
                    out.push((d, down));
                }
                (Ffn::Plain { up, down }, FfnNames::Plain { up: u, down: d }) => {
                    out.push((u, up));
                    out.push((d, down));
                }
                (
                    Ffn::Moe { router, experts },
                    FfnNames::Moe {
                        router: r,
                        experts: names,
                    },
                ) => {
                    out.push((r, router));
                    for (e, [g, u, d]) in experts.iter_mut().zip(names) {
                        out.push((g, &mut e.gate));
                        out.push((u, &mut e.up));
                        out.push((d, &mut e.down));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Module paths of every linear layer an adapter may target.
    pub fn linear_modules(&self) -> Vec<String> {
        let mut m = self.clone();
        m.linears_mut().into_iter().map(|(n, _)| n).collect()
    }

    /// Applies `adapter` beside the frozen weights (replacing any adapter applied before). Every
    /// module it holds must be a linear layer of this model with matching shapes; the error
    /// names the tensor otherwise.
    pub fn apply_adapter(&mut self, adapter: &Adapter) -> Result<()> {
        let scale = adapter.config.scale();
        let arch = self.cfg.architecture.class_name();
        let path = adapter.source.as_ref().map_or_else(
            || "(adapter)".into(),
            |d| d.join("adapter_model.safetensors"),
        );
        let mut linears = self.linears_mut();
        // Check everything before changing anything.
        for (module, (a, b)) in &adapter.modules {
            let Some((_, lin)) = linears.iter().find(|(n, _)| n == module) else {
                return Err(ModelError::Adapter {
                    path,
                    message: format!(
                        "`{PEFT_PREFIX}{module}.lora_A.weight` adapts `{module}`, which is not a linear layer of this {arch} model (an adapter for another architecture?)"
                    ),
                });
            };
            let (out, inp) = lin.w.dims2()?;
            let r = adapter.config.r;
            if a.dims() != [r, inp] || b.dims() != [out, r] {
                return Err(ModelError::Adapter {
                    path,
                    message: format!(
                        "`{module}`: lora_A {:?} and lora_B {:?} do not fit its weight {:?} (expected [{r}, {inp}] and [{out}, {r}]; an adapter for another model size?)",
                        a.dims(),
                        b.dims(),
                        [out, inp]
                    ),
                });
            }
        }
        let mut index = 0u64;
        for (name, lin) in linears.iter_mut() {
            lin.lora = adapter.modules.get(name).map(|(a, b)| {
                index += 1;
                LoraDelta {
                    a: a.clone(),
                    b: b.clone(),
                    scale,
                    dropout: adapter.config.dropout,
                    seed: None,
                    index,
                }
            });
        }
        Ok(())
    }

    /// Turns the adapter's dropout on for the next forward passes, with masks drawn from
    /// `seed` (training sets a seed per micro-batch), or off with `None` (inference, evaluation).
    pub fn set_lora_dropout_seed(&mut self, seed: Option<u64>) {
        for (_, lin) in self.linears_mut() {
            if let Some(l) = lin.lora.as_mut() {
                l.seed = seed;
            }
        }
    }

    /// Removes the applied adapter, if any.
    pub fn remove_adapter(&mut self) {
        for (_, lin) in self.linears_mut() {
            lin.lora = None;
        }
    }

    /// Whether an adapter is applied.
    pub fn has_adapter(&self) -> bool {
        self.clone()
            .linears_mut()
            .iter()
            .any(|(_, l)| l.lora.is_some())
    }

    /// Folds the applied adapter into the weights, `W ← W + s · B A` (in f32), and removes it:
    /// the model then computes the same function without the adapter.
    pub fn merge_adapter(&mut self) -> Result<()> {
        self.fold(1.0)
    }

    /// Takes `adapter` back out of weights it was merged into, `W ← W − s · B A`.
    pub fn unmerge_adapter(&mut self, adapter: &Adapter) -> Result<()> {
        self.apply_adapter(adapter)?;
        self.fold(-1.0)
    }

    fn fold(&mut self, sign: f64) -> Result<()> {
        let mut updates = Vec::new();
        for (name, lin) in self.linears_mut() {
            let Some(l) = lin.lora.take() else { continue };
            let delta =
                (l.b.to_dtype(DType::F32)?
                    .matmul(&l.a.to_dtype(DType::F32)?)?
                    * (sign * l.scale))?;
            let w: Tensor = (widened(&lin.w.to_tensor())? + delta)?;
            lin.w = Weight::Dense(w.clone());
            updates.push((format!("{name}.weight"), w));
        }
        for (name, w) in updates {
            if let Some(p) = self.params.iter_mut().find(|(n, _)| *n == name) {
                p.1 = Weight::Dense(w);
            }
        }
        Ok(())
    }
}

impl Transformer {
    /// The model with its vocabulary grown to `vocab` rows: the embedding (and an untied output
    /// matrix) keep every existing row bit for bit, and each new row is the mean of the old rows
    /// (computed in f64), so a new token starts as the average token (Hewitt, "Initializing New
    /// Word Embeddings for Pretrained Language Models", 2021). Logits of the existing tokens are
    /// unchanged.
    pub fn resize_vocab(&self, vocab: usize) -> Result<Transformer> {
        self.resize_vocab_with(vocab, VocabInit::Mean)
    }

    /// [`Transformer::resize_vocab`] with a choice of how the new rows start.
    pub fn resize_vocab_with(&self, vocab: usize, init: VocabInit) -> Result<Transformer> {
        let old = self.cfg.vocab_size;
        if vocab < old {
            return Err(ModelError::Input(format!(
                "the vocabulary can only grow: {vocab} < the model's {old}"
            )));
        }
        let grow = |t: &Tensor| -> Result<Tensor> {
            let t = t.to_dtype(DType::F32)?;
            let (rows, h) = t.dims2()?;
            let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
            let mut mean = vec![0f64; h];
            for r in v.chunks(h) {
                for (m, x) in mean.iter_mut().zip(r) {
                    *m += f64::from(*x);
                }
            }
            let mean: Vec<f64> = mean.iter().map(|m| m / rows as f64).collect();
            let new = vocab - rows;
            let mut out = v.clone();
            match init {
                VocabInit::Mean => {
                    for _ in 0..new {
                        out.extend(mean.iter().map(|&m| m as f32));
                    }
                }
                VocabInit::MeanCov { seed } => {
                    let l = cholesky(&covariance(&v, &mean, rows, h), h);
                    let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
                    for _ in 0..new {
                        let z: Vec<f64> = (0..h).map(|_| normal(&mut rng)).collect();
                        for i in 0..h {
                            let lz: f64 = (0..=i).map(|j| l[i * h + j] * z[j]).sum();
                            out.push((mean[i] + lz) as f32);
                        }
                    }
                }
            }
            Ok(Tensor::from_vec(out, (vocab, h), t.device())?)
        };
        let names = crate::families::model_names(&self.cfg);
        let (embed, head) = (
            format!("{}.weight", names.embed),
            format!("{}.weight", names.lm_head),
        );
        let mut tensors = std::collections::HashMap::new();
        for (name, w) in &self.params {
            let t = w.to_tensor();
            let t = if *name == embed || *name == head {
                grow(&t)?
            } else {
                t
            };
            tensors.insert(name.clone(), t);
        }
        let mut cfg = self.cfg.clone();
        cfg.vocab_size = vocab;
        Transformer::from_tensors(cfg, tensors, &self.device)
    }
}

/// How the rows added by [`Transformer::resize_vocab_with`] start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabInit {
    /// Every new row is the mean of the old rows.
    Mean,
    /// Each new row is drawn from a normal distribution with the old rows' mean and covariance
    /// (Hewitt, 2021), from the glassbox RNG seeded with `seed`.
    MeanCov {
        /// Seed of the draws.
        seed: u64,
    },
}

/// The `(h, h)` covariance of `rows` rows of width `h` around `mean`, in f64, with a small ridge
/// (1e-6 of the mean variance) so that a rank-deficient matrix still factors.
fn covariance(v: &[f32], mean: &[f64], rows: usize, h: usize) -> Vec<f64> {
    let mut c = vec![0f64; h * h];
    let mut d = vec![0f64; h];
    for r in v.chunks(h) {
        for (k, (x, m)) in r.iter().zip(mean).enumerate() {
            d[k] = f64::from(*x) - m;
        }
        for i in 0..h {
            let di = d[i];
            let row = &mut c[i * h..i * h + i + 1];
            for (j, cij) in row.iter_mut().enumerate() {
                *cij += di * d[j];
            }
        }
    }
    let n = rows.max(1) as f64;
    let trace: f64 = (0..h).map(|i| c[i * h + i] / n).sum();
    let ridge = 1e-6 * trace / h as f64 + f64::MIN_POSITIVE;
    for i in 0..h {
        for j in 0..=i {
            let x = c[i * h + j] / n;
            c[i * h + j] = x;
            c[j * h + i] = x;
        }
        c[i * h + i] += ridge;
    }
    c
}

/// The lower Cholesky factor of a symmetric positive-definite `(h, h)` matrix (row-major); a
/// non-positive pivot (round-off) is clamped to zero.
fn cholesky(a: &[f64], h: usize) -> Vec<f64> {
    let mut l = vec![0f64; h * h];
    for i in 0..h {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * h + k] * l[j * h + k]).sum();
            if i == j {
                l[i * h + i] = (a[i * h + i] - s).max(0.0).sqrt();
            } else {
                let d = l[j * h + j];
                l[i * h + j] = if d > 0.0 { (a[i * h + j] - s) / d } else { 0.0 };
            }
        }
    }
    l
}

/// A standard normal draw (Box–Muller, one of the pair).
fn normal(rng: &mut glassbox_core::rng::Rng) -> f64 {
    let u1 = 1.0 - rng.next_f64();
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
