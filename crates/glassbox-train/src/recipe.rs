//! The training recipe (`recipe.toml`): typed, every field documented with its default, refused
//! before training starts when a key is unknown or a value impossible. The resolved recipe (all
//! defaults filled) is written into the run directory and every checkpoint.
//!
//! ```toml
//! [data]
//! dataset = "work/dataset"      # a tokenised dataset (glassbox data tokenize)
//! seed = 1234                   # data-order seed
//!
//! [model]
//! preset = "tiny"               # or `config = "path/config.json"`, or an inline [model.hf] table,
//! init_seed = 0                 # or `init = "path/model-dir"` to continue pre-training a model
//!
//! [optim]
//! lr = 6e-4
//!
//! [train]
//! batch_size = 8
//! seq_len = 256
//! steps = 1000
//! ```

use std::path::{Path, PathBuf};

use glassbox_model::ModelConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Result, TrainError};

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Dataset directory (relative paths are relative to the recipe file).
    pub dataset: PathBuf,
    /// Seed of the data order (`glassbox data batch --seed`). Default 0.
    #[serde(default)]
    pub seed: u64,
}

/// Which model to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A named configuration: `tiny` (≈0.1 M parameters, for tests), `small` (≈4 M, the
    /// quickstart), `bench-10m` (the 10,059,840-parameter benchmark model), `smollm2-135m`
    /// (SmolLM2-135M's shape). The vocabulary comes from the dataset's tokenizer.
    #[serde(default)]
    pub preset: Option<String>,
    /// A Hugging Face `config.json` to use instead (relative to the recipe).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// An inline Hugging Face config (JSON object as a TOML table) instead.
    #[serde(default)]
    pub hf: Option<Value>,
    /// A Hugging Face model directory (any supported architecture) whose configuration and
    /// weights start the run instead of random ones: continual pre-training (relative to the
    /// recipe).
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Seed of the initial weights (N(0, 0.02²), norms 1, biases 0). Default 0.
    #[serde(default)]
    pub init_seed: u64,
}

/// AdamW (Loshchilov & Hutter 2019), as PyTorch's `torch.optim.AdamW`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Peak learning rate. Default 6e-4.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// β₁, β₂. Default [0.9, 0.95].
    #[serde(default = "d_betas")]
    pub betas: [f64; 2],
    /// ε. Default 1e-8.
    #[serde(default = "d_eps")]
    pub eps: f64,
    /// Decoupled weight decay. Default 0.1.
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    /// Apply weight decay to norm weights and biases too. Default false (decay matrices only).
    #[serde(default)]
    pub decay_norms_and_biases: bool,
}

fn d_lr() -> f64 {
    6e-4
}
fn d_betas() -> [f64; 2] {
    [0.9, 0.95]
}
fn d_eps() -> f64 {
    1e-8
}
fn d_wd() -> f64 {
    0.1
}

impl Default for OptimSection {
    fn default() -> Self {
        Self {
            lr: d_lr(),
            betas: d_betas(),
            eps: d_eps(),
            weight_decay: d_wd(),
            decay_norms_and_biases: false,
        }
    }
}

/// Shape of the learning-rate decay after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Half-cosine from the peak to `min_lr`.
    Cosine,
    /// Straight line from the peak to `min_lr`.
    Linear,
    /// Stay at the peak.
    Constant,
}

/// Learning-rate schedule: linear warmup from 0, then decay to `min_lr` at the last step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// Warmup steps. Default 0.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Decay after warmup. Default cosine.
    #[serde(default = "d_decay")]
    pub decay: Decay,
    /// Final learning rate. Default lr / 10.
    #[serde(default)]
    pub min_lr: Option<f64>,
}

fn d_decay() -> Decay {
    Decay::Cosine
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            warmup_steps: 0,
            decay: Decay::Cosine,
            min_lr: None,
        }
    }
}

/// Batches, length and stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Samples per optimiser step (the global batch).
    pub batch_size: usize,
    /// Tokens per sample (each sample reads seq_len + 1 tokens).
    pub seq_len: usize,
    /// Micro-batches per step (batch_size must be divisible by it). Default 1.
    #[serde(default = "d_one")]
    pub grad_accum: usize,
    /// Global-norm gradient clipping (0 disables). Default 1.0.
    #[serde(default = "d_clip")]
    pub max_grad_norm: f64,
    /// Optimiser steps to run (or give `tokens`).
    #[serde(default)]
    pub steps: Option<u64>,
    /// Tokens to train on (steps = ⌈tokens / (batch_size · seq_len)⌉).
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Worker threads (0 = all cores). Default 0.
    #[serde(default)]
    pub threads: usize,
    /// Train only the embedding rows (and untied output rows) of token ids at or above this
    /// one; every other weight, and every older row, stays frozen bit for bit. For a grown
    /// vocabulary: warm up the new tokens before continuing pre-training. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_from: Option<usize>,
}

fn d_one() -> usize {
    1
}
fn d_clip() -> f64 {
    1.0
}

/// Held-out evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Evaluate every this many steps (and at every checkpoint); 0 disables. Default 100.
    #[serde(default = "d_eval")]
    pub interval: u64,
    /// Held-out windows of seq_len + 1 tokens per evaluation (the first ones of the split). Default 16.
    #[serde(default = "d_eval_batches")]
    pub windows: usize,
}

fn d_eval() -> u64 {
    100
}
fn d_eval_batches() -> usize {
    16
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            interval: d_eval(),
            windows: d_eval_batches(),
        }
    }
}

/// Which steps are checkpointed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// `pythia`: steps 0, 1, 2, 4, …, 512, then every `every` steps, and the last (default);
    /// `every`: every `every` steps, step 0 and the last.
    #[serde(default = "d_sched")]
    pub schedule: String,
    /// Interval after 512 (pythia) or throughout (every). Default 1000.
    #[serde(default = "d_every")]
    pub every: u64,
    /// Keep only this many newest checkpoints that are *not* on the schedule (schedule
    /// checkpoints are never removed). Default: keep all.
    #[serde(default)]
    pub keep_unscheduled: Option<usize>,
}

fn d_sched() -> String {
    "pythia".into()
}
fn d_every() -> u64 {
    1000
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            schedule: d_sched(),
            every: d_every(),
            keep_unscheduled: None,
        }
    }
}

impl CheckpointSection {
    /// Whether `step` is on the checkpoint schedule of a run of `total` steps.
    pub fn scheduled(&self, step: u64, total: u64) -> bool {
        if step == 0 || step == total {
            return true;
        }
        match self.schedule.as_str() {
            "every" => self.every > 0 && step.is_multiple_of(self.every),
            _ => {
                (step <= 512 && step.is_power_of_two())
                    || (self.every > 0 && step.is_multiple_of(self.every))
            }
        }
    }
}

/// What a release bundle (`glassbox release`) says about the model: its name, languages and the
/// licence of each component. Licences are SPDX ids or expressions (or Hugging Face licence ids
/// such as `bigscience-openrail-m`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSection {
    /// Model name in the card. Default: the run directory's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Licence of the weights (final and intermediate) and of the card. Default Apache-2.0.
    #[serde(default = "d_apache")]
    pub weights_license: String,
    /// Licence of the code shipped in the bundle (glassbox's own). Default Apache-2.0.
    #[serde(default = "d_apache")]
    pub code_license: String,
    /// Licence of the training data as released. Default: the licences the dataset's sources
    /// declare (every source must declare one).
    #[serde(default)]
    pub data_license: Option<String>,
    /// Licence of the documents (paper, datasheet). Default CC-BY-4.0.
    #[serde(default = "d_docs")]
    pub docs_license: String,
    /// Languages (ISO 639-1) for the card. Default: those of the datasheet.
    #[serde(default)]
    pub language: Vec<String>,
    /// Licence texts for licences the SPDX list has no text for (RAIL licences, Llama, Gemma
    /// …): licence name → text file (relative to the recipe). Default none.
    #[serde(default)]
    pub license_texts: std::collections::BTreeMap<String, PathBuf>,
}

fn d_apache() -> String {
    "Apache-2.0".into()
}
fn d_docs() -> String {
    "CC-BY-4.0".into()
}

impl Default for ReleaseSection {
    fn default() -> Self {
        Self {
            name: None,
            weights_license: d_apache(),
            code_license: d_apache(),
            data_license: None,
            docs_license: d_docs(),
            language: Vec::new(),
            license_texts: Default::default(),
        }
    }
}

/// A whole recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Data.
    pub data: DataSection,
    /// Model.
    pub model: ModelSection,
    /// Optimiser.
    #[serde(default)]
    pub optim: OptimSection,
    /// Schedule.
    #[serde(default)]
    pub schedule: ScheduleSection,
    /// Training.
    pub train: TrainSection,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSection,
    /// Checkpoints.
    #[serde(default)]
    pub checkpoints: CheckpointSection,
    /// Release metadata and licences.
    #[serde(default)]
    pub release: ReleaseSection,
    /// Train a LoRA adapter on the frozen model instead of every weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraSection>,
}

/// LoRA training (Hu et al. 2021): the model's weights stay frozen (no gradients, no optimiser
/// state) and a low-rank update of the target modules is trained; checkpoints hold the adapter
/// in PEFT's format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    /// Rank.
    pub r: usize,
    /// `lora_alpha`; the update is scaled by `alpha / r` (or `alpha / √r` with `rslora`).
    /// Default 8, as PEFT.
    #[serde(default = "d_lora_alpha")]
    pub alpha: f64,
    /// Module names to adapt (`q_proj`, `v_proj`, `query_key_value`, …; a module matches when its
    /// path ends with the name).
    pub targets: Vec<String>,
    /// rsLoRA scaling. Default false.
    #[serde(default)]
    pub rslora: bool,
    /// Dropout on the adapter's input during training (inverted dropout; masks drawn from the
    /// glassbox RNG seeded by `seed`, the step and the micro-batch). Default 0.
    #[serde(default)]
    pub dropout: f64,
    /// Seed of the adapter's initial `A` (B starts at zero) and of its dropout masks. Default 0.
    #[serde(default)]
    pub seed: u64,
}

fn d_lora_alpha() -> f64 {
    8.0
}

impl LoraSection {
    /// The adapter settings this section describes.
    pub fn config(&self, base: Option<String>) -> glassbox_model::LoraConfig {
        glassbox_model::LoraConfig {
            r: self.r,
            alpha: self.alpha,
            dropout: self.dropout,
            use_rslora: self.rslora,
            target_modules: self.targets.clone(),
            base_model: base,
        }
    }
}

/// The presets.
pub fn preset(name: &str, vocab: usize, max_pos: usize) -> Option<Value> {
    let (h, i, layers, heads, kv) = match name {
        "tiny" => (64, 176, 2, 4, 2),
        "small" => (256, 688, 4, 4, 4),
        "bench-10m" => (320, 864, 6, 5, 5),
        // SmolLM2-135M's shape (its vocabulary when given 49152): the adaptation benchmark.
        "smollm2-135m" => (576, 1536, 30, 9, 3),
        _ => return None,
    };
    Some(json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": vocab, "hidden_size": h, "intermediate_size": i, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "max_position_embeddings": max_pos,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true,
    }))
}

impl Recipe {
    /// Reads a recipe; unknown keys and bad types are errors naming the key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = glassbox_core::fsio::read_to_string(path)?;
        let mut r: Recipe = toml::from_str(&text).map_err(|e| TrainError::Recipe {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        // Paths are made absolute, so the resolved copy in a run directory still points at the
        // same dataset when read from there.
        let anchor = |p: &Path| -> PathBuf {
            let joined = base.join(p);
            std::path::absolute(&joined).unwrap_or(joined)
        };
        r.data.dataset = anchor(&r.data.dataset);
        if let Some(c) = &mut r.model.config {
            *c = anchor(c);
        }
        if let Some(c) = &mut r.model.init {
            *c = anchor(c);
        }
        for p in r.release.license_texts.values_mut() {
            *p = anchor(p);
        }
        Ok(r)
    }

    /// The steps this recipe runs.
    pub fn total_steps(&self) -> u64 {
        match (self.train.steps, self.train.tokens) {
            (Some(s), _) => s,
            (None, Some(t)) => {
                t.div_ceil((self.train.batch_size * self.train.seq_len).max(1) as u64)
            }
            (None, None) => 0,
        }
    }

    /// The final learning rate.
    pub fn min_lr(&self) -> f64 {
        self.schedule.min_lr.unwrap_or(self.optim.lr / 10.0)
    }

    /// Resolves the model configuration against the dataset's vocabulary and checks every value
    /// that would make training impossible; errors name the key.
    pub fn resolve(&self, path: &Path, dataset_vocab: usize) -> Result<ModelConfig> {
        let err = |m: String| TrainError::Recipe {
            path: path.to_path_buf(),
            message: m,
        };
        let t = &self.train;
        if t.batch_size == 0 {
            return Err(err("train.batch_size must be at least 1".into()));
        }
        if t.seq_len == 0 {
            return Err(err("train.seq_len must be at least 1".into()));
        }
        if t.grad_accum == 0 || !t.batch_size.is_multiple_of(t.grad_accum) {
            return Err(err(format!(
                "train.grad_accum ({}) must divide train.batch_size ({})",
                t.grad_accum, t.batch_size
            )));
        }
        if t.steps.is_none() && t.tokens.is_none() {
            return Err(err("give train.steps or train.tokens".into()));
        }
        if t.steps.is_some() && t.tokens.is_some() {
            return Err(err("give train.steps or train.tokens, not both".into()));
        }
        let o = &self.optim;
        if !(o.lr > 0.0 && o.lr.is_finite()) {
            return Err(err(format!("optim.lr = {} must be positive", o.lr)));
        }
        if !o.betas.iter().all(|b| (0.0..1.0).contains(b)) {
            return Err(err(format!(
                "optim.betas = {:?} must lie in [0, 1)",
                o.betas
            )));
        }
        if o.eps.is_nan() || o.eps <= 0.0 || o.weight_decay < 0.0 {
            return Err(err(
                "optim.eps must be positive and optim.weight_decay not negative".into(),
            ));
        }
        if self.min_lr() < 0.0 || self.min_lr() > o.lr {
            return Err(err(format!(
                "schedule.min_lr = {} must lie in [0, optim.lr]",
                self.min_lr()
            )));
        }
        if !matches!(self.checkpoints.schedule.as_str(), "pythia" | "every") {
            return Err(err(format!(
                "checkpoints.schedule = `{}`: use \"pythia\" or \"every\"",
                self.checkpoints.schedule
            )));
        }
        let sources = [
            self.model.preset.is_some(),
            self.model.config.is_some(),
            self.model.hf.is_some(),
            self.model.init.is_some(),
        ];
        if sources.iter().filter(|x| **x).count() != 1 {
            return Err(err(
                "[model] needs exactly one of preset, config, hf or init".into(),
            ));
        }
        let value = if let Some(p) = &self.model.preset {
            preset(p, dataset_vocab, t.seq_len.max(256)).ok_or_else(|| {
                err(format!(
                    "model.preset = `{p}`: use tiny, small, bench-10m or smollm2-135m"
                ))
            })?
        } else if let Some(c) = &self.model.config {
            glassbox_core::fsio::read_json(c)?
        } else if let Some(dir) = &self.model.init {
            glassbox_core::fsio::read_json(&dir.join("config.json"))?
        } else {
            self.model.hf.clone().unwrap_or(Value::Null)
        };
        let cfg = ModelConfig::from_value(&value, path).map_err(|e| err(format!("model: {e}")))?;
        if let Some(l) = &self.lora {
            if l.r == 0 || l.r > 1 << 16 {
                return Err(err(format!(
                    "lora.r = {}: the rank must be between 1 and 65536",
                    l.r
                )));
            }
            if l.targets.is_empty() {
                return Err(err(
                    "lora.targets is empty: name the modules to adapt (q_proj, v_proj, …)".into(),
                ));
            }
            if !(l.alpha.is_finite() && l.alpha > 0.0) {
                return Err(err(format!(
                    "lora.alpha = {}: must be a positive number",
                    l.alpha
                )));
            }
            if !(0.0..1.0).contains(&l.dropout) {
                return Err(err(format!(
                    "lora.dropout = {}: must be in [0, 1)",
                    l.dropout
                )));
            }
        }
        if let Some(n) = t.rows_from {
            if n == 0 || n >= cfg.vocab_size {
                return Err(err(format!(
                    "train.rows_from = {n}: must lie between 1 and the model's vocab_size − 1 ({})",
                    cfg.vocab_size.saturating_sub(1)
                )));
            }
            if self.lora.is_some() {
                return Err(err(
                    "train.rows_from and [lora] cannot be combined: an adapter does not train embedding rows".into(),
                ));
            }
        }
        if cfg.vocab_size < dataset_vocab {
            return Err(err(format!(
                "the model's vocab_size ({}) is smaller than the dataset tokenizer's vocabulary ({dataset_vocab}): the tokenizer does not match the model",
                cfg.vocab_size
            )));
        }
        if t.seq_len > cfg.max_position_embeddings {
            return Err(err(format!(
                "train.seq_len ({}) exceeds the model's max_position_embeddings ({})",
                t.seq_len, cfg.max_position_embeddings
            )));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_from_the_recipe_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("sub/recipe.toml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            "[data]\ndataset = \"../ds\"\n[model]\nconfig = \"c.json\"\n[train]\nbatch_size = 1\nseq_len = 8\nsteps = 1\n",
        )
        .unwrap();
        let r = Recipe::from_file(&p).unwrap();
        assert!(r.data.dataset.is_absolute());
        assert!(r.data.dataset.ends_with("sub/../ds"));
        assert_eq!(r.model.config.unwrap(), tmp.path().join("sub/c.json"));
    }

    #[test]
    fn pythia_schedule() {
        let c = CheckpointSection::default();
        let steps: Vec<u64> = (0..=3000).filter(|s| c.scheduled(*s, 2500)).collect();
        assert_eq!(
            steps,
            vec![
                0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 2500, 3000
            ]
        );
    }

    #[test]
    fn presets_have_the_documented_sizes() {
        let v = preset("bench-10m", 8192, 256).unwrap();
        let cfg = ModelConfig::from_value(&v, Path::new("p")).unwrap();
        assert_eq!(cfg.num_parameters(), 10_059_840);
        // SmolLM2-135M's shape with its vocabulary: its parameter count.
        let v = preset("smollm2-135m", 49152, 2048).unwrap();
        let cfg = ModelConfig::from_value(&v, Path::new("p")).unwrap();
        assert_eq!(cfg.num_parameters(), 134_515_008);
    }
}
