//! One optimisation step, shared by the trainer and `glassbox bench train` so the benchmark
//! measures the code that trains: forward pass, cross-entropy, backward pass, gradient
//! accumulation over micro-batches, global-norm clipping, AdamW update.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use candle_core::{DType, Tensor, Var};
use glassbox_model::{Adapter, Kernels, LoraConfig, Transformer};

use crate::Result;
use crate::optim::{AdamW, clip_grad_norm};
use crate::recipe::Recipe;

/// Whether a parameter is exempt from weight decay by default (norm weights and biases).
pub fn no_decay(name: &str) -> bool {
    name.ends_with("norm.weight") || name.ends_with(".bias")
}

/// One training row: `seq_len + 1` tokens, and for instruction tuning the loss weight of each
/// of the `seq_len` predictions and the segment (conversation) of each token.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRow {
    /// Token ids.
    pub tokens: Vec<u32>,
    /// Weight of the prediction of token `i + 1` from position `i` (`None`: all 1).
    pub weights: Option<Vec<f32>>,
    /// Segment of each token; attention never crosses segments (`None`: one segment).
    pub segments: Option<Vec<u32>>,
}

impl TrainRow {
    /// A pre-training row: every prediction counts, one segment.
    pub fn plain(tokens: Vec<u32>) -> Self {
        Self {
            tokens,
            weights: None,
            segments: None,
        }
    }
}

/// A model under training and its optimiser.
#[derive(Debug)]
pub struct Learner {
    /// The model; its weights are the optimiser's variables.
    pub model: Transformer,
    /// AdamW and its state.
    pub opt: AdamW,
    seq_len: usize,
    grad_accum: usize,
    max_grad_norm: f64,
    /// With LoRA: the adapter's settings (its tensors are the optimiser's variables; the
    /// model's own weights are frozen).
    pub lora: Option<LoraConfig>,
    /// With LoRA dropout: the seed its masks derive from.
    dropout_seed: Option<u64>,
    /// With `train.rows_from`: a `(V, 1)` mask, 0 for the frozen rows, 1 for the trained ones,
    /// that every gradient (all of them embedding or output matrices) is multiplied by.
    row_mask: Option<Tensor>,
}

/// Where a step's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Forward pass and loss.
    pub forward: Duration,
    /// Backward pass and gradient accumulation.
    pub backward: Duration,
    /// Clipping and the AdamW update.
    pub optimizer: Duration,
}

/// The result of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepOutcome {
    /// The weights were updated.
    Updated {
        /// Mean loss over the micro-batches.
        loss: f64,
        /// Global gradient norm before clipping.
        grad_norm: f64,
        /// Time per phase.
        timings: Timings,
    },
    /// A micro-batch's loss was NaN or infinite; nothing was updated.
    NonFiniteLoss(f32),
    /// The gradient norm was NaN or infinite; nothing was updated.
    NonFiniteGradient(f64),
}

impl Learner {
    /// Puts `init`'s weights under AdamW with the recipe's optimiser and batch settings; with a
    /// `[lora]` section, a new adapter instead (seeded `A`, zero `B`) over the frozen `init`.
    pub fn new(init: Transformer, recipe: &Recipe) -> Result<Self> {
        if let Some(l) = &recipe.lora {
            let base = recipe.model.init.as_ref().map(|p| p.display().to_string());
            let adapter = Adapter::init(&init, l.config(base), l.seed)?;
            return Self::with_adapter(init, adapter, recipe);
        }
        // Every parameter becomes a Var; the model is rebuilt over the Vars' tensors, so updates
        // to the Vars are what the next forward pass sees.
        let mut params = Vec::new();
        let mut map = HashMap::new();
        let vocab = init.config().vocab_size;
        let rows_from = recipe.train.rows_from;
        for (name, t) in init.named_tensors() {
            let t = t.to_dtype(DType::F32)?;
            // Training only new rows: the vocabulary-sized matrices (embedding, untied output)
            // are the variables, without weight decay (so a row with no gradient never moves).
            if rows_from.is_some() {
                let is_vocab_matrix = t.rank() == 2 && t.dim(0)? == vocab;
                if !is_vocab_matrix {
                    map.insert(name, t);
                    continue;
                }
                let var = Var::from_tensor(&t)?;
                map.insert(name.clone(), var.as_tensor().clone());
                params.push((name, var, false));
                continue;
            }
            let var = Var::from_tensor(&t)?;
            map.insert(name.clone(), var.as_tensor().clone());
            let decay = recipe.optim.decay_norms_and_biases || !no_decay(&name);
            params.push((name, var, decay));
        }
        let mut cfg = init.config().clone();
        cfg.dtype = None;
        let device = init.device().clone();
        let model = Transformer::from_tensors(cfg, map, &device)?;
        let mut learner = Self::assemble(model, params, recipe, None)?;
        if let Some(n) = rows_from {
            let mask: Vec<f32> = (0..vocab).map(|i| if i < n { 0.0 } else { 1.0 }).collect();
            learner.row_mask = Some(Tensor::from_vec(mask, (vocab, 1), &device)?);
        }
        Ok(learner)
    }

    fn assemble(
        mut model: Transformer,
        params: Vec<(String, Var, bool)>,
        recipe: &Recipe,
        lora: Option<LoraConfig>,
    ) -> Result<Self> {
        model.set_kernels(Kernels::Differentiable);
        Ok(Self {
            model,
            opt: AdamW::new(params, recipe)?,
            seq_len: recipe.train.seq_len,
            grad_accum: recipe.train.grad_accum,
            max_grad_norm: recipe.train.max_grad_norm,
            dropout_seed: recipe
                .lora
                .as_ref()
                .filter(|l| l.dropout > 0.0 && lora.is_some())
                .map(|l| l.seed),
            lora,
            row_mask: None,
        })
    }

    /// Trains `adapter` on the frozen `base`: only the adapter's tensors are variables (named as
    /// PEFT names them), so the base gets neither gradients nor optimiser state.
    pub fn with_adapter(base: Transformer, adapter: Adapter, recipe: &Recipe) -> Result<Self> {
        let mut params = Vec::new();
        let mut vars = Adapter {
            source: adapter.source.clone(),
            config: adapter.config.clone(),
            modules: Default::default(),
        };
        for (module, (a, b)) in &adapter.modules {
            let va = Var::from_tensor(&a.to_dtype(DType::F32)?)?;
            let vb = Var::from_tensor(&b.to_dtype(DType::F32)?)?;
            vars.modules.insert(
                module.clone(),
                (va.as_tensor().clone(), vb.as_tensor().clone()),
            );
            let prefix = glassbox_model::lora::PEFT_PREFIX;
            params.push((format!("{prefix}{module}.lora_A.weight"), va, true));
            params.push((format!("{prefix}{module}.lora_B.weight"), vb, true));
        }
        let mut model = base;
        model.apply_adapter(&vars)?;
        Self::assemble(model, params, recipe, Some(adapter.config))
    }

    /// The adapter being trained (its current values), for LoRA runs.
    pub fn adapter(&self) -> Option<Adapter> {
        let config = self.lora.clone()?;
        let prefix = glassbox_model::lora::PEFT_PREFIX;
        let mut modules = std::collections::BTreeMap::new();
        for p in &self.opt.params {
            if let Some(m) = p
                .name
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".lora_A.weight"))
            {
                let b = format!("{prefix}{m}.lora_B.weight");
                if let Some(pb) = self.opt.params.iter().find(|q| q.name == b) {
                    modules.insert(
                        m.to_string(),
                        (p.var.as_tensor().clone(), pb.var.as_tensor().clone()),
                    );
                }
            }
        }
        Some(Adapter {
            source: None,
            config,
            modules,
        })
    }

    /// Mean cross-entropy of next-token prediction over `rows` (each seq_len + 1 tokens), plus,
    /// for a mixture of experts, `router_aux_loss_coef` times the load-balancing loss.
    ///
    /// A mixture of experts runs on all seq_len + 1 tokens of each row (the last position's
    /// logits unused), as transformers does when it shifts the labels itself: the router's
    /// load-balancing loss then counts every token of the batch.
    pub fn loss<R: AsRef<[u32]>>(&self, rows: &[R]) -> Result<Tensor> {
        let (l, b) = (self.seq_len, rows.len());
        let (moe, fed) = self.moe_fed();
        let mut inputs = Vec::with_capacity(b * fed);
        let mut targets = Vec::with_capacity(b * l);
        for r in rows {
            let r = r.as_ref();
            inputs.extend_from_slice(&r[..fed]);
            targets.extend_from_slice(&r[1..=l]);
        }
        let device = self.model.device().clone();
        let inputs = Tensor::from_vec(inputs, (b, fed), &device)?;
        let (logits, aux) = self.model.forward_train(&inputs)?;
        let logits = self.predicting(logits, b, fed)?;
        let ce = if glassbox_model::fused::applies(&logits) {
            // The mean over predictions, in one pass forward and one backward.
            glassbox_model::fused::cross_entropy(&logits, &targets, None, 1.0 / (b * l) as f64)?
        } else {
            let targets = Tensor::from_vec(targets, b * l, &device)?;
            candle_nn::loss::cross_entropy(&logits, &targets)?
        };
        with_aux(ce, aux, moe)
    }

    /// A mixture of experts with a load-balancing loss, and how many tokens of a row the model
    /// is fed (all seq_len + 1 for such a model, else seq_len).
    fn moe_fed(&self) -> (Option<&glassbox_model::MoeConfig>, usize) {
        let moe = self
            .model
            .config()
            .moe
            .as_ref()
            .filter(|m| m.router_aux_loss_coef > 0.0);
        (moe, self.seq_len + usize::from(moe.is_some()))
    }

    /// The `(b · seq_len, V)` logits that predict the next tokens, of logits over `fed` tokens.
    fn predicting(&self, logits: Tensor, b: usize, fed: usize) -> Result<Tensor> {
        let l = self.seq_len;
        let logits = if fed > l {
            logits.narrow(1, 0, l)?
        } else {
            logits
        };
        let v = logits.dim(2)?;
        Ok(logits.reshape((b * l, v))?)
    }

    /// Weighted next-token cross-entropy over `rows`: the sum over predictions of weight ×
    /// cross-entropy, divided by `norm` (the step's total weight, so micro-batches add up to
    /// the step's mean over its trained tokens), plus any load-balancing loss. Rows without
    /// weights or segments go through [`Learner::loss`].
    pub fn loss_rows(&self, rows: &[TrainRow], norm: f64) -> Result<Tensor> {
        if rows
            .iter()
            .all(|r| r.weights.is_none() && r.segments.is_none())
        {
            let plain: Vec<&[u32]> = rows.iter().map(|r| r.tokens.as_slice()).collect();
            return self.loss(&plain);
        }
        let (l, b) = (self.seq_len, rows.len());
        let (moe, fed) = self.moe_fed();
        let mut inputs = Vec::with_capacity(b * fed);
        let mut targets = Vec::with_capacity(b * l);
        let mut weights = Vec::with_capacity(b * l);
        let mut segments = Vec::with_capacity(b);
        for r in rows {
            inputs.extend_from_slice(&r.tokens[..fed]);
            targets.extend_from_slice(&r.tokens[1..=l]);
            match &r.weights {
                Some(w) => weights.extend_from_slice(&w[..l]),
                None => weights.extend(std::iter::repeat_n(1f32, l)),
            }
            segments.push(match &r.segments {
                Some(s) => s[..fed].to_vec(),
                None => vec![1; fed],
            });
        }
        let device = self.model.device().clone();
        let inputs = Tensor::from_vec(inputs, (b, fed), &device)?;
        let (logits, aux) = self.model.forward_train_packed(&inputs, Some(&segments))?;
        let logits = self.predicting(logits, b, fed)?;
        let scale = 1.0 / norm.max(1.0);
        let ce = if glassbox_model::fused::applies(&logits) {
            glassbox_model::fused::cross_entropy(&logits, &targets, Some(&weights), scale)?
        } else {
            let targets = Tensor::from_vec(targets, (b * l, 1), &device)?;
            let weights = Tensor::from_vec(weights, b * l, &device)?;
            let logp = candle_nn::ops::log_softmax(&logits, 1)?;
            let picked = logp.gather(&targets, 1)?.squeeze(1)?;
            ((picked * weights)?.sum_all()? * -scale)?
        };
        with_aux(ce, aux, moe)
    }

    /// One optimiser step on a batch of `rows` (split into `grad_accum` micro-batches) at
    /// learning rate `lr`.
    pub fn step(&mut self, rows: Vec<Vec<u32>>, lr: f64) -> Result<StepOutcome> {
        let rows: Vec<TrainRow> = rows.into_iter().map(TrainRow::plain).collect();
        self.step_rows(&rows, lr)
    }

    /// [`Learner::step`] over rows that may carry loss weights and segments (instruction
    /// tuning): the loss is the mean over the step's trained tokens, whatever micro-batch they
    /// fall in.
    pub fn step_rows(&mut self, rows: &[TrainRow], lr: f64) -> Result<StepOutcome> {
        let weighted = rows
            .iter()
            .any(|r| r.weights.is_some() || r.segments.is_some());
        let l = self.seq_len;
        let norm: f64 = rows
            .iter()
            .map(|r| {
                r.weights
                    .as_ref()
                    .map_or(l as f64, |w| w.iter().map(|&x| x as f64).sum())
            })
            .sum();
        let accum = self.grad_accum;
        let micro = rows.len().div_ceil(accum).max(1);
        let mut timings = Timings::default();
        let mut grads: Vec<Tensor> = Vec::new();
        let mut loss_sum = 0f64;
        for (m, chunk) in rows.chunks(micro).enumerate() {
            // LoRA dropout: masks seeded by the adapter's seed, the optimiser step (restored on
            // resume) and the micro-batch, so a resumed or replayed step drops the same entries.
            if let Some(seed) = self.dropout_seed {
                let s = seed
                    ^ (self.opt.step.wrapping_mul(1_000_003) + m as u64)
                        .wrapping_mul(0xd1b5_4a32_d192_ed03);
                self.model.set_lora_dropout_seed(Some(s));
            }
            let t = Instant::now();
            let loss = if weighted {
                self.loss_rows(chunk, norm)
            } else {
                self.loss(
                    &chunk
                        .iter()
                        .map(|r| r.tokens.as_slice())
                        .collect::<Vec<_>>(),
                )
            };
            if self.dropout_seed.is_some() {
                self.model.set_lora_dropout_seed(None);
            }
            let loss = loss?;
            let value = loss.to_scalar::<f32>()?;
            timings.forward += t.elapsed();
            if !value.is_finite() {
                return Ok(StepOutcome::NonFiniteLoss(value));
            }
            loss_sum += value as f64;
            let t = Instant::now();
            let scaled = if accum > 1 && !weighted {
                (loss / accum as f64)?
            } else {
                loss
            };
            let store = scaled.backward()?;
            for (i, p) in self.opt.params.iter().enumerate() {
                let g = match store.get(p.var.as_tensor()) {
                    Some(g) => g.clone(),
                    None => p.var.as_tensor().zeros_like()?,
                };
                if grads.len() <= i {
                    grads.push(g);
                } else {
                    grads[i] = (&grads[i] + g)?;
                }
            }
            timings.backward += t.elapsed();
        }
        let t = Instant::now();
        if let Some(mask) = &self.row_mask {
            for g in &mut grads {
                *g = g.broadcast_mul(mask)?;
            }
        }
        let grad_norm = clip_grad_norm(&mut grads, self.max_grad_norm)?;
        if !grad_norm.is_finite() {
            return Ok(StepOutcome::NonFiniteGradient(grad_norm));
        }
        self.opt.update(&grads, lr)?;
        timings.optimizer = t.elapsed();
        Ok(StepOutcome::Updated {
            // Weighted micro-batch losses are already shares of the step's mean.
            loss: if weighted {
                loss_sum
            } else {
                loss_sum / accum as f64
            },
            grad_norm,
            timings,
        })
    }
}

/// `ce`, plus for a mixture of experts its load-balancing loss weighted as the config says.
fn with_aux(
    ce: Tensor,
    aux: Option<Tensor>,
    moe: Option<&glassbox_model::MoeConfig>,
) -> Result<Tensor> {
    match (aux, moe) {
        (Some(aux), Some(moe)) => Ok((ce + (aux * moe.router_aux_loss_coef)?)?),
        _ => Ok(ce),
    }
}
