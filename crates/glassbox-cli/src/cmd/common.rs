//! Flags shared by several verbs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use glassbox_infer::{Engine, Request, SamplingParams};
use glassbox_model::device::DeviceSpec;

/// Sampling flags; unset ones take the model's `generation_config.json` defaults.
#[derive(Debug, clap::Args)]
pub(crate) struct SamplingArgs {
    /// Most tokens to generate [default: generation_config's max_new_tokens, else 256].
    #[arg(long, value_name = "N")]
    pub max_new_tokens: Option<usize>,
    /// Greedy decoding (argmax), whatever the model's defaults.
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p", "min_p"])]
    pub greedy: bool,
    /// Softmax temperature (0 = greedy).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Keep the K most likely tokens (0 = off).
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to probability P.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Drop tokens less likely than P × the most likely one.
    #[arg(long, value_name = "P")]
    pub min_p: Option<f32>,
    /// Penalise tokens already present (1 = off).
    #[arg(long, value_name = "R")]
    pub repetition_penalty: Option<f32>,
    /// Seed of the sampler: same seed, same text.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when this string appears (repeatable); it is not printed.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// Keep generating past end-of-sequence tokens.
    #[arg(long)]
    pub ignore_eos: bool,
}

impl SamplingArgs {
    /// A request for `prompt` with the model defaults overridden by these flags.
    pub(crate) fn request(&self, engine: &Engine, prompt: Vec<u32>) -> Request {
        let mut r = engine.request(prompt);
        let s: &mut SamplingParams = &mut r.sampling;
        if self.greedy {
            *s = SamplingParams {
                repetition_penalty: s.repetition_penalty,
                ..SamplingParams::greedy()
            };
        }
        if self.temperature.is_some()
            || self.top_k.is_some()
            || self.top_p.is_some()
            || self.min_p.is_some()
        {
            // Asking for any sampling knob means sampling, even if the model defaults to greedy.
            if s.temperature == 0.0 {
                s.temperature = 1.0;
            }
        }
        if let Some(t) = self.temperature {
            s.temperature = t;
        }
        if let Some(k) = self.top_k {
            s.top_k = k;
        }
        if let Some(p) = self.top_p {
            s.top_p = p;
        }
        if let Some(p) = self.min_p {
            s.min_p = p;
        }
        if let Some(p) = self.repetition_penalty {
            s.repetition_penalty = p;
        }
        s.seed = self.seed;
        if let Some(n) = self.max_new_tokens {
            r.max_new_tokens = n;
        }
        r.stop = self.stop.clone();
        if self.ignore_eos {
            r.eos_token_ids.clear();
        }
        r
    }
}

/// The `--model DIR` flag.
#[derive(Debug, clap::Args)]
pub(crate) struct ModelArg {
    /// A Hugging Face-layout model directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// A LoRA adapter directory (PEFT's adapter_config.json + adapter_model.safetensors) applied
    /// on top of the model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// Where the model runs: cpu, or cuda / cuda:N in a glassbox built with `--features cuda`.
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: DeviceSpec,
}

/// Loads an engine on `device` (with a LoRA adapter applied when given) and warns about
/// checkpoint tensors the model does not use.
pub(crate) fn load_engine(
    dir: &Path,
    adapter: Option<&Path>,
    device: DeviceSpec,
) -> Result<Engine> {
    let device = device.open().context("--device")?;
    let mut engine = Engine::load(dir, &device)
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    if let Some(a) = adapter {
        let ad = glassbox_model::Adapter::load(a, &device)
            .with_context(|| format!("loading the adapter in {}", a.display()))?;
        engine
            .model
            .apply_adapter(&ad)
            .with_context(|| format!("applying the adapter in {}", a.display()))?;
    }
    let unused = &engine.load_report.unused_tensors;
    if !unused.is_empty() {
        let shown: Vec<&str> = unused.iter().take(5).map(String::as_str).collect();
        eprintln!(
            "warning: {} tensor(s) in the checkpoint are not used by {}: {}{}",
            unused.len(),
            engine.model.config().architecture.class_name(),
            shown.join(", "),
            if unused.len() > 5 { ", …" } else { "" }
        );
    }
    Ok(engine)
}
