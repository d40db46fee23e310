//! Training throughput: the [`Learner`] step the trainer runs, timed on random token batches of
//! a fixed model, so `glassbox bench train` measures exactly the code that trains.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use glassbox_model::{ModelConfig, Transformer};
use serde::Serialize;

use crate::learner::{Learner, StepOutcome, Timings};
use crate::recipe::{Recipe, preset};
use crate::{Result, TrainError};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Model preset (`bench-10m` is the one docs/PERFORMANCE.md reports).
    pub preset: String,
    /// Vocabulary size.
    pub vocab: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Steps timed.
    pub steps: usize,
    /// Steps run first and not timed.
    pub warmup: usize,
    /// Train a LoRA adapter of this rank on every linear layer (q, k, v, o, gate, up, down)
    /// of the frozen model instead of every weight.
    pub lora_rank: Option<usize>,
    /// Where it trains (`cuda` with the `cuda` feature).
    pub device: glassbox_model::device::DeviceSpec,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            preset: "bench-10m".into(),
            vocab: 8192,
            batch_size: 8,
            seq_len: 256,
            steps: 5,
            warmup: 1,
            lora_rank: None,
            device: Default::default(),
        }
    }
}

/// The measurement.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Parameters of the model.
    pub parameters: usize,
    /// Parameters the optimiser updates (all of them, or the adapter's).
    pub trainable_parameters: usize,
    /// Tokens per step (batch × sequence).
    pub tokens_per_step: usize,
    /// Median seconds of a timed step.
    pub median_step_s: f64,
    /// Tokens per second at the median step.
    pub tokens_per_s: f64,
    /// Seconds of every timed step.
    pub step_s: Vec<f64>,
    /// Mean seconds per step in the forward pass and loss.
    pub forward_s: f64,
    /// Mean seconds per step in the backward pass.
    pub backward_s: f64,
    /// Mean seconds per step in clipping and AdamW.
    pub optimizer_s: f64,
    /// Loss of the last step (≈ ln(vocab) on random tokens; a sanity check).
    pub last_loss: f64,
}

/// SplitMix64: the random token stream (fixed seed, so runs see the same batches).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the benchmark: AdamW (lr 6e-4, betas 0.9/0.95, weight decay 0.1), clipping at 1.0, fp32.
pub fn run(o: &BenchOptions) -> Result<BenchResult> {
    let mut recipe_text = format!(
        "[data]\ndataset = \"unused\"\n[model]\npreset = {:?}\n[train]\nbatch_size = {}\nseq_len = {}\nsteps = {}\nmax_grad_norm = 1.0\n",
        o.preset,
        o.batch_size,
        o.seq_len,
        o.steps + o.warmup
    );
    if let Some(r) = o.lora_rank {
        recipe_text.push_str(&format!(
            "[lora]\nr = {r}\nalpha = {}\ntargets = [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"]\n",
            2 * r
        ));
    }
    let here = Path::new("bench-train");
    let recipe: Recipe = toml::from_str(&recipe_text).map_err(|e| TrainError::Recipe {
        path: here.into(),
        message: e.to_string(),
    })?;
    let value =
        preset(&o.preset, o.vocab, o.seq_len.max(256)).ok_or_else(|| TrainError::Recipe {
            path: here.into(),
            message: format!(
                "model.preset {:?} is not one of tiny, small, bench-10m, smollm2-135m",
                o.preset
            ),
        })?;
    let cfg = ModelConfig::from_value(&value, here).map_err(|e| TrainError::Recipe {
        path: here.into(),
        message: format!("model: {e}"),
    })?;
    let parameters = cfg.num_parameters();
    let init = Transformer::random(cfg, 0, &o.device.open()?)?;
    let mut learner = Learner::new(init, &recipe)?;
    let trainable_parameters = learner
        .opt
        .params
        .iter()
        .map(|p| p.var.as_tensor().elem_count())
        .sum();
    let mut seed = 42u64;
    let mut step_s = Vec::new();
    let mut total = Timings::default();
    let mut last_loss = f64::NAN;
    for i in 0..o.warmup + o.steps {
        let rows: Vec<Vec<u32>> = (0..o.batch_size)
            .map(|_| {
                (0..=o.seq_len)
                    .map(|_| (splitmix(&mut seed) % o.vocab as u64) as u32)
                    .collect()
            })
            .collect();
        let t = Instant::now();
        let outcome = learner.step(rows, 6e-4)?;
        let secs = t.elapsed().as_secs_f64();
        let StepOutcome::Updated {
            loss, timings: tm, ..
        } = outcome
        else {
            return Err(TrainError::Run {
                path: here.into(),
                message: format!("the benchmark step diverged: {outcome:?}"),
            });
        };
        if i >= o.warmup {
            step_s.push(secs);
            total.forward += tm.forward;
            total.backward += tm.backward;
            total.optimizer += tm.optimizer;
        }
        last_loss = loss;
    }
    let mut sorted = step_s.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let n = step_s.len().max(1) as f64;
    let tokens = o.batch_size * o.seq_len;
    Ok(BenchResult {
        parameters,
        trainable_parameters,
        tokens_per_step: tokens,
        median_step_s: median,
        tokens_per_s: tokens as f64 / median,
        step_s,
        forward_s: total.forward.as_secs_f64() / n,
        backward_s: total.backward.as_secs_f64() / n,
        optimizer_s: total.optimizer.as_secs_f64() / n,
        last_loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_benchmark_runs_and_sees_random_tokens() {
        let r = run(&BenchOptions {
            preset: "tiny".into(),
            vocab: 256,
            batch_size: 2,
            seq_len: 16,
            steps: 2,
            warmup: 1,
            lora_rank: None,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.step_s.len(), 2);
        assert_eq!(r.tokens_per_step, 32);
        assert!(r.tokens_per_s > 0.0);
        // Random tokens: the loss stays near ln(256) ≈ 5.55.
        assert!((r.last_loss - 256f64.ln()).abs() < 0.5, "{}", r.last_loss);
        assert_eq!(r.trainable_parameters, r.parameters);
        let l = run(&BenchOptions {
            preset: "tiny".into(),
            vocab: 256,
            batch_size: 2,
            seq_len: 16,
            steps: 1,
            warmup: 0,
            lora_rank: Some(2),
            ..Default::default()
        })
        .unwrap();
        // Rank 2 on the 7 projections of 2 layers: 2·(in + out) each.
        assert!(
            l.trainable_parameters < l.parameters / 10,
            "{}",
            l.trainable_parameters
        );
    }
}

/// One matrix product measured by [`gemm`]: `batch × (m, k) @ (k, n)`, the right side stored
/// as `(n, k)` rows and transposed, as a linear layer's weight is.
#[derive(Debug, Clone, Serialize)]
pub struct GemmRow {
    /// Where the shape occurs.
    pub what: &'static str,
    /// Independent products (attention heads × sequences), else 1.
    pub batch: usize,
    /// Rows of the left side.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of the result.
    pub n: usize,
    /// Median seconds of one product.
    pub seconds: f64,
    /// `2 · batch · m · k · n / seconds / 1e9`.
    pub gflops: f64,
}

/// The shapes of `bench-10m` training (8 × 256 tokens: forward, and the weight gradients of
/// backward) and of a 512-token prefill of the SmolLM2-135M shape.
pub const GEMM_SHAPES: [(&str, usize, usize, usize, usize); 9] = [
    ("train: q/k/v projection", 1, 2048, 320, 960),
    ("train: gate/up projection", 1, 2048, 320, 1728),
    ("train: down projection", 1, 2048, 864, 320),
    ("train: output head (vocab 8192)", 1, 2048, 320, 8192),
    ("train: attention scores (40 heads)", 40, 256, 64, 256),
    ("train: head weight gradient", 1, 8192, 2048, 320),
    ("train: down weight gradient", 1, 320, 2048, 864),
    ("prefill: gate/up (SmolLM2, 512 tokens)", 1, 512, 576, 1536),
    ("prefill: output head (SmolLM2)", 1, 512, 576, 49152),
];

/// GFLOP/s of candle's f32 matrix product (the GEMM every training step and prefill runs) at
/// [`GEMM_SHAPES`], median of `repeats` after one warm-up.
pub fn gemm(repeats: usize) -> Result<Vec<GemmRow>> {
    let dev = Device::Cpu;
    let mut rows = Vec::new();
    for &(what, batch, m, k, n) in &GEMM_SHAPES {
        let a = candle_core::Tensor::randn(0f32, 1.0, (batch, m, k), &dev)?;
        let b = candle_core::Tensor::randn(0f32, 1.0, (batch, n, k), &dev)?;
        let bt = b.transpose(1, 2)?;
        let mut times = Vec::new();
        for i in 0..=repeats.max(1) {
            let t = Instant::now();
            let c = a.matmul(&bt)?;
            let s = t.elapsed().as_secs_f64();
            drop(c);
            if i > 0 {
                times.push(s);
            }
        }
        times.sort_by(f64::total_cmp);
        let seconds = times[times.len() / 2];
        rows.push(GemmRow {
            what,
            batch,
            m,
            k,
            n,
            seconds,
            gflops: 2.0 * (batch * m * k * n) as f64 / seconds / 1e9,
        });
    }
    Ok(rows)
}
