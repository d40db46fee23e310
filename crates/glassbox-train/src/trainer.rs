//! The training loop: data order from `glassbox-data`, forward and backward through candle,
//! global-norm clipping, AdamW, evaluation on the held-out split, logs, checkpoints, resume.
//!
//! A run directory holds `recipe.toml` (resolved: every default filled), `run.json`,
//! `logs/train.jsonl`, `logs/eval.jsonl`, `loss.svg` and `checkpoints/` (see
//! [`crate::checkpoint`]). Step `s` (0-based) trains on the batch `glassbox data batch --step s`
//! prints, so anyone can recompute what any step saw; checkpoint `step-N` holds the weights after
//! `N` updates (`step-0000000` is the initialisation).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::TrainData;
use candle_core::Device;
use glassbox_model::device::DeviceSpec;
use glassbox_model::{ModelConfig, Transformer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::checkpoint::{self, Index, STATE_SCHEMA, State};
use crate::learner::{Learner, StepOutcome};
use crate::optim::learning_rate;
use crate::recipe::Recipe;
use crate::{Result, TrainError};

/// Version of `run.json` and the log lines.
pub const RUN_SCHEMA: u32 = 1;

/// One line of `logs/train.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Steps completed after this update (1-based).
    pub step: u64,
    /// Mean training loss of the step's batch.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Training tokens per second over this step.
    pub tokens_per_s: f64,
    /// Tokens seen after this step.
    pub tokens_seen: u64,
    /// Seconds since the run (or resume) started.
    pub wall_time: f64,
}

/// One line of `logs/eval.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalLog {
    /// Steps completed.
    pub step: u64,
    /// Mean held-out loss.
    pub loss: f64,
    /// exp(loss).
    pub perplexity: f64,
    /// Held-out tokens predicted.
    pub tokens: u64,
}

/// Events reported while training, for progress bars.
#[derive(Debug, Clone)]
pub enum Event {
    /// A step finished.
    Step(StepLog, u64),
    /// An evaluation finished.
    Eval(EvalLog),
    /// A checkpoint was written.
    Checkpoint(u64, PathBuf),
    /// Something worth telling (resume notes).
    Note(String),
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The run directory.
    pub dir: PathBuf,
    /// Steps completed.
    pub steps: u64,
    /// Last training loss.
    pub loss: Option<f64>,
    /// Last held-out loss.
    pub eval_loss: Option<f64>,
    /// SHA-256 of the final weights file.
    pub final_weights_sha256: String,
    /// Final checkpoint directory.
    pub final_checkpoint: PathBuf,
}

/// Options of a training call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Stop after this many completed steps (a checkpoint is written there, so `resume`
    /// continues exactly; the schedule still follows the recipe's total).
    pub stop_after: Option<u64>,
    /// Where the model trains (`run.json` `device`). Bit-exact resume and replay are promised
    /// on the device and thread count the run used; `glassbox verify` replays on the CPU.
    pub device: DeviceSpec,
}

struct Run {
    dir: PathBuf,
    recipe: Recipe,
    cfg: ModelConfig,
    dataset: TrainData,
    learner: Learner,
    total: u64,
    eos_id: u32,
    last_loss: Option<f64>,
    last_lr: f64,
    last_checkpoint: String,
}

fn run_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Run {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Starts a new run of `recipe_path` in `dir` (which must not hold a run yet).
pub fn train(
    recipe_path: &Path,
    dir: &Path,
    options: Options,
    events: &mut dyn FnMut(Event),
) -> Result<Summary> {
    let recipe = Recipe::from_file(recipe_path)?;
    let dataset = TrainData::open(&recipe.data.dataset)?;
    let (vocab, eos_id) = dataset.vocab_and_eos();
    let mut cfg = recipe.resolve(recipe_path, vocab)?;
    if cfg.eos_token_ids.is_empty() {
        cfg.eos_token_ids = vec![eos_id];
    }
    let total = recipe.total_steps();
    dataset.check_seq_len(recipe.train.seq_len, recipe_path)?;
    if dir.join("run.json").exists() {
        return Err(run_err(
            dir,
            "already holds a run; continue it with --resume, or choose another directory",
        ));
    }
    // A device that cannot be opened stops the run before anything is written.
    options.device.open()?;
    std::fs::create_dir_all(dir.join("checkpoints"))
        .map_err(|e| run_err(dir, format!("cannot create the run directory: {e}")))?;
    std::fs::create_dir_all(dir.join("logs"))
        .map_err(|e| run_err(dir, format!("cannot create the run directory: {e}")))?;
    let resolved = toml::to_string(&recipe).map_err(|e| run_err(recipe_path, e))?;
    glassbox_core::fsio::atomic_write(&dir.join("recipe.toml"), resolved.as_bytes())?;
    start_from_zero(
        dir,
        resolved.as_bytes(),
        recipe,
        cfg,
        dataset,
        total,
        eos_id,
        options,
        events,
    )
}

/// Writes `run.json` and empty logs, then trains from the initial weights (a pure function of
/// the recipe's `init_seed`), writing checkpoint 0 first.
#[allow(clippy::too_many_arguments)]
fn start_from_zero(
    dir: &Path,
    resolved: &[u8],
    recipe: Recipe,
    cfg: ModelConfig,
    dataset: TrainData,
    total: u64,
    eos_id: u32,
    options: Options,
    events: &mut dyn FnMut(Event),
) -> Result<Summary> {
    let run_json = json!({
        "schema_version": RUN_SCHEMA,
        "glassbox_version": env!("CARGO_PKG_VERSION"),
        "recipe_sha256": glassbox_core::hash::sha256_hex(resolved),
        "model_config": cfg.to_hf_json("float32"),
        "parameters": cfg.num_parameters(),
        "init": match &recipe.model.init {
            Some(d) => crate::provenance::init_provenance(d)?,
            None => Value::Null,
        },
        "total_steps": total,
        // Tensor-math threads: replays use the same number (results are only promised
        // bit-identical on the same thread count).
        "threads": threads_in_use(),
        "device": options.device.to_string(),
        "dataset": dataset.describe()?,
    });
    glassbox_core::fsio::write_json_atomic(&dir.join("run.json"), &run_json)?;
    for f in ["train.jsonl", "eval.jsonl"] {
        std::fs::write(dir.join("logs").join(f), b"")
            .map_err(|e| run_err(&dir.join("logs").join(f), e))?;
    }
    let device = options.device.open()?;
    let init = initial_model(&recipe, &cfg, &device)?;
    let learner = Learner::new(init, &recipe)?;
    let mut run = Run::with_learner(dir, recipe, cfg, dataset, learner, total, eos_id);
    run.checkpoint(0, None, events)?;
    run.loop_from(0, options, events)
}

/// The tokenizer and generation files that make a checkpoint (or an export's `model/`) a
/// model directory `glassbox generate` and transformers load: the dataset's `tokenizer.json`, a
/// chat dataset's own `tokenizer_config.json` (special tokens, chat template) or one naming the
/// end-of-sequence piece, and `generation_config.json` with the end-of-sequence id.
pub(crate) fn write_tokenizer_files(
    dataset: &TrainData,
    cfg: &ModelConfig,
    eos_id: u32,
    dir: &Path,
) -> Result<()> {
    let ds = dataset.dir().to_path_buf();
    let tk = std::fs::read(ds.join("tokenizer.json"))
        .map_err(|e| run_err(&ds.join("tokenizer.json"), e))?;
    glassbox_core::fsio::atomic_write(&dir.join("tokenizer.json"), &tk)?;
    let chat_config = ds.join("tokenizer_config.json");
    if matches!(dataset, TrainData::Chat(_)) && chat_config.exists() {
        let c = std::fs::read(&chat_config).map_err(|e| run_err(&chat_config, e))?;
        glassbox_core::fsio::atomic_write(&dir.join("tokenizer_config.json"), &c)?;
    } else {
        let eos = dataset
            .eos_piece()
            .unwrap_or_else(|| "<|endoftext|>".to_string());
        glassbox_core::fsio::write_json_atomic(
            &dir.join("tokenizer_config.json"),
            &json!({"eos_token": eos, "model_max_length": cfg.max_position_embeddings, "clean_up_tokenization_spaces": false}),
        )?;
    }
    glassbox_core::fsio::write_json_atomic(
        &dir.join("generation_config.json"),
        &json!({"eos_token_id": eos_id, "do_sample": false}),
    )?;
    Ok(())
}

/// The weights step 0 starts from: the `[model] init` model's own (continual pre-training) under
/// the recipe's config, or random ones from `init_seed`. A LoRA run keeps them frozen.
pub(crate) fn initial_model(
    recipe: &Recipe,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<Transformer> {
    Ok(match &recipe.model.init {
        // The same config.json, so the shapes agree; weights widened to f32 for training.
        Some(model_dir) => {
            let (m, _) = Transformer::load_with(model_dir, device, false)?;
            Transformer::from_tensors(cfg.clone(), m.named_tensors().into_iter().collect(), device)?
        }
        // Drawn by glassbox's own RNG on the host: step 0 is the same weights on every device.
        None => Transformer::random(cfg.clone(), recipe.model.init_seed, device)?,
    })
}

/// The learner of a checkpoint: its weights, or for a LoRA run the frozen initial model with
/// the checkpoint's adapter.
/// `resolved` is the recipe's model configuration (what step 0 was built from).
fn learner_at(
    recipe: &Recipe,
    resolved: &ModelConfig,
    ck: &Path,
    device: &Device,
) -> Result<(Learner, ModelConfig)> {
    if recipe.lora.is_some() {
        let base = initial_model(recipe, resolved, device)?;
        let adapter = glassbox_model::Adapter::load(ck, device)?;
        let cfg = base.config().clone();
        return Ok((Learner::with_adapter(base, adapter, recipe)?, cfg));
    }
    let (model, _) = Transformer::load(ck, device)?;
    let mut cfg = model.config().clone();
    cfg.dtype = None;
    Ok((Learner::new(model, recipe)?, cfg))
}

/// Continues the run in `dir` from its newest valid checkpoint.
pub fn resume(dir: &Path, options: Options, events: &mut dyn FnMut(Event)) -> Result<Summary> {
    let recipe_path = dir.join("recipe.toml");
    if !recipe_path.exists() {
        return Err(run_err(dir, "no recipe.toml: not a glassbox run directory"));
    }
    let recipe = Recipe::from_file(&recipe_path)?;
    let dataset = TrainData::open(&recipe.data.dataset)?;
    let (vocab, eos_id) = dataset.vocab_and_eos();
    let (found, notes) = checkpoint::newest_valid(&dir.join("checkpoints"))?;
    for n in notes {
        events(Event::Note(n));
    }
    let Some((ck, state)) = found else {
        // Stopped before checkpoint 0 was complete: nothing was trained yet, and step 0 is a
        // pure function of the recipe, so the run starts again from it (same result as a run
        // never interrupted).
        events(Event::Note(
            "no complete checkpoint yet: the run starts again from step 0".into(),
        ));
        let resolved = std::fs::read(&recipe_path).map_err(|e| run_err(&recipe_path, e))?;
        let mut cfg = recipe.resolve(&recipe_path, vocab)?;
        if cfg.eos_token_ids.is_empty() {
            cfg.eos_token_ids = vec![eos_id];
        }
        let total = recipe.total_steps();
        for sub in ["checkpoints", "logs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| run_err(dir, format!("cannot create the run directory: {e}")))?;
        }
        return start_from_zero(
            dir, &resolved, recipe, cfg, dataset, total, eos_id, options, events,
        );
    };
    let resolved = recipe.resolve(&recipe_path, vocab)?;
    // Resumed on another device than the run's, the result is not the uninterrupted run's bits.
    let trained_on = glassbox_core::fsio::read_json::<Value>(&dir.join("run.json"))
        .ok()
        .and_then(|v| v.get("device").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "cpu".into());
    if trained_on != options.device.to_string() {
        events(Event::Note(format!(
            "the run trained on {trained_on} and resumes on {}: the result is not promised to be the bits of an uninterrupted run",
            options.device
        )));
    }
    let device = options.device.open()?;
    let (learner, cfg) = learner_at(&recipe, &resolved, &ck, &device)?;
    let total = recipe.total_steps();
    // The index is re-derived from disk, every file hashed again: a damaged older checkpoint
    // drops out of it here.
    let c = recipe.checkpoints.clone();
    Index::rebuild(&dir.join("checkpoints"), &|s| c.scheduled(s, total), true)?;
    let mut run = Run::with_learner(dir, recipe, cfg, dataset, learner, total, eos_id);
    run.load_optimizer(&ck, &state)?;
    run.last_checkpoint = ck.display().to_string();
    run.last_loss = state.loss;
    // Logs past the checkpoint belong to the interrupted run; the resumed run writes them again.
    for (f, key) in [("train.jsonl", "step"), ("eval.jsonl", "step")] {
        let p = dir.join("logs").join(f);
        let kept: Vec<String> = std::fs::read_to_string(&p)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v.get(key).and_then(|s| s.as_u64()))
                    .is_some_and(|s| s <= state.step)
            })
            .map(str::to_string)
            .collect();
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        glassbox_core::fsio::atomic_write(&p, text.as_bytes())?;
    }
    events(Event::Note(format!(
        "resuming from {} (step {})",
        ck.display(),
        state.step
    )));
    run.loop_from(state.step, options, events)
}

impl Run {
    fn with_learner(
        dir: &Path,
        recipe: Recipe,
        cfg: ModelConfig,
        dataset: TrainData,
        learner: Learner,
        total: u64,
        eos_id: u32,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            recipe,
            cfg,
            dataset,
            learner,
            total,
            eos_id,
            last_loss: None,
            last_lr: 0.0,
            last_checkpoint: String::new(),
        }
    }

    fn load_optimizer(&mut self, ck: &Path, state: &State) -> Result<()> {
        load_moments(&mut self.learner, ck, state)?;
        self.last_lr = state.lr;
        Ok(())
    }

    fn evaluate(&mut self, step: u64) -> Result<Option<EvalLog>> {
        let found = crate::eval::heldout_loss_of(
            &self.learner,
            &mut self.dataset,
            self.recipe.train.seq_len,
            self.recipe.eval.windows,
        )?;
        Ok(found.map(|(loss, tokens)| EvalLog {
            step,
            loss,
            perplexity: loss.exp(),
            tokens,
        }))
    }

    fn append_log(&self, file: &str, line: &impl Serialize) -> Result<()> {
        let p = self.dir.join("logs").join(file);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .map_err(|e| run_err(&p, format!("cannot write the log: {e}")))?;
        let text = serde_json::to_string(line).map_err(|e| run_err(&p, e))?;
        writeln!(f, "{text}").map_err(|e| run_err(&p, format!("cannot write the log: {e}")))?;
        Ok(())
    }

    fn checkpoint(
        &mut self,
        step: u64,
        eval_loss: Option<f64>,
        events: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let root = self.dir.join("checkpoints");
        let tmp = root.join(format!(
            ".tmp-{}-{}",
            checkpoint::dir_name(step),
            std::process::id()
        ));
        let written = std::fs::create_dir_all(&tmp)
            .map_err(|e| run_err(&tmp, e))
            .and_then(|()| self.write_checkpoint_files(&tmp, step, eval_loss))
            .and_then(|()| checkpoint::commit(&tmp, &root, step));
        let dest = match written {
            Ok(d) => d,
            Err(e) => {
                // A full disk or a vanished directory: drop the partial copy, keep every
                // finished checkpoint, and say which one a resume would start from.
                let _ = std::fs::remove_dir_all(&tmp);
                let last = if self.last_checkpoint.is_empty() {
                    "none (no checkpoint was finished)".to_string()
                } else {
                    self.last_checkpoint.clone()
                };
                return Err(run_err(
                    &tmp,
                    format!(
                        "cannot write checkpoint {step}: {e}; the last good checkpoint is {last}"
                    ),
                ));
            }
        };
        self.last_checkpoint = dest.display().to_string();
        let (total, c) = (self.total, self.recipe.checkpoints.clone());
        Index::rebuild(&root, &|s| c.scheduled(s, total), false)?;
        self.thin(step)?;
        events(Event::Checkpoint(step, dest));
        self.plot()?;
        Ok(())
    }

    /// Writes every file of checkpoint `step` into the temporary directory `tmp`.
    fn write_checkpoint_files(&self, tmp: &Path, step: u64, eval_loss: Option<f64>) -> Result<()> {
        match self.learner.adapter() {
            // A LoRA checkpoint is the adapter (PEFT's files); the frozen model is the run's
            // `[model]`.
            Some(adapter) => adapter.save(tmp)?,
            None => self
                .learner
                .model
                .save(tmp, glassbox_model::SaveDtype::F32, u64::MAX)?,
        }
        crash_point(step, "weights");
        let mut moments = Vec::with_capacity(self.learner.opt.params.len() * 2);
        for p in &self.learner.opt.params {
            moments.push((format!("m.{}", p.name), p.m.clone()));
            moments.push((format!("v.{}", p.name), p.v.clone()));
        }
        glassbox_model::weights::write_safetensors_file(
            &tmp.join("optimizer.safetensors"),
            &moments,
        )?;
        write_tokenizer_files(&self.dataset, &self.cfg, self.eos_id, tmp)?;
        let resolved = toml::to_string(&self.recipe).map_err(|e| run_err(tmp, e))?;
        glassbox_core::fsio::atomic_write(&tmp.join("recipe.toml"), resolved.as_bytes())?;
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(tmp).map_err(|e| run_err(tmp, e))? {
            let e = e.map_err(|e| run_err(tmp, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                files.insert(name, glassbox_core::hash::sha256_file(&e.path())?);
            }
        }
        let b = self.recipe.train.batch_size as u64;
        let state = State {
            schema_version: STATE_SCHEMA,
            step,
            optimizer_step: self.learner.opt.step,
            tokens_seen: step * b * self.recipe.train.seq_len as u64,
            data_position: step * b,
            data_seed: self.recipe.data.seed,
            rng: json!({"init_seed": self.recipe.model.init_seed, "training_draws": 0}),
            lr: self.last_lr,
            loss: self.last_loss,
            eval_loss,
            files,
        };
        glassbox_core::fsio::write_json_atomic(&tmp.join("state.json"), &state)?;
        crash_point(step, "state");
        Ok(())
    }

    /// Retention: keeps the newest `keep_unscheduled` checkpoints that are not on the schedule.
    fn thin(&self, newest: u64) -> Result<()> {
        let Some(keep) = self.recipe.checkpoints.keep_unscheduled else {
            return Ok(());
        };
        let root = self.dir.join("checkpoints");
        let mut unscheduled: Vec<u64> = std::fs::read_dir(&root)
            .map_err(|e| run_err(&root, e))?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("step-")
                    .and_then(|n| n.parse().ok())
            })
            .filter(|s: &u64| *s != newest && !self.recipe.checkpoints.scheduled(*s, self.total))
            .collect();
        unscheduled.sort_unstable_by(|a, b| b.cmp(a));
        for s in unscheduled.into_iter().skip(keep) {
            let _ = std::fs::remove_dir_all(root.join(checkpoint::dir_name(s)));
        }
        let (total, c) = (self.total, self.recipe.checkpoints.clone());
        Index::rebuild(&root, &|s| c.scheduled(s, total), false)?;
        Ok(())
    }

    fn plot(&self) -> Result<()> {
        let read = |f: &str| -> Vec<(u64, f64)> {
            std::fs::read_to_string(self.dir.join("logs").join(f))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| Some((v.get("step")?.as_u64()?, v.get("loss")?.as_f64()?)))
                .collect()
        };
        let svg = crate::plot::loss_svg(
            &format!(
                "{} ({} parameters)",
                self.dir.display(),
                self.cfg.num_parameters()
            ),
            &read("train.jsonl"),
            &read("eval.jsonl"),
        );
        glassbox_core::fsio::atomic_write(&self.dir.join("loss.svg"), svg.as_bytes())?;
        Ok(())
    }

    fn loop_from(
        &mut self,
        start: u64,
        options: Options,
        events: &mut dyn FnMut(Event),
    ) -> Result<Summary> {
        let (b, l) = (self.recipe.train.batch_size, self.recipe.train.seq_len);
        let clock = Instant::now();
        let mut last_eval = None;
        let end = options.stop_after.map_or(self.total, |s| s.min(self.total));
        for step in start..end {
            let t0 = Instant::now();
            let (loss, grad_norm, lr) = train_step(
                &mut self.learner,
                &mut self.dataset,
                &self.recipe,
                step,
                self.total,
                &self.last_checkpoint,
            )?;
            let done = step + 1;
            self.last_loss = Some(loss);
            self.last_lr = lr;
            let log = StepLog {
                step: done,
                loss,
                lr,
                grad_norm,
                tokens_per_s: (b * l) as f64 / t0.elapsed().as_secs_f64(),
                tokens_seen: done * (b * l) as u64,
                wall_time: clock.elapsed().as_secs_f64(),
            };
            self.append_log("train.jsonl", &log)?;
            events(Event::Step(log, self.total));
            let scheduled = self.recipe.checkpoints.scheduled(done, self.total);
            let eval_due = self.recipe.eval.interval > 0
                && (done % self.recipe.eval.interval == 0 || scheduled);
            let mut eval_loss = None;
            if eval_due && let Some(e) = self.evaluate(done)? {
                eval_loss = Some(e.loss);
                self.append_log("eval.jsonl", &e)?;
                events(Event::Eval(e.clone()));
                last_eval = Some(e.loss);
            }
            if scheduled {
                self.checkpoint(done, eval_loss, events)?;
            }
        }
        let final_dir = self.dir.join("checkpoints").join(checkpoint::dir_name(end));
        if end > start && !self.recipe.checkpoints.scheduled(end, self.total) || !final_dir.exists()
        {
            self.checkpoint(end, None, events)?;
        }
        Ok(Summary {
            dir: self.dir.clone(),
            steps: end,
            loss: self.last_loss,
            eval_loss: last_eval,
            // A LoRA run's trained weights are its adapter.
            final_weights_sha256: glassbox_core::hash::sha256_file(&final_dir.join(
                if self.learner.lora.is_some() {
                    "adapter_model.safetensors"
                } else {
                    "model.safetensors"
                },
            ))?,
            final_checkpoint: final_dir,
        })
    }
}

/// Threads candle's CPU kernels use (`RAYON_NUM_THREADS`, else the cores), as candle counts them.
pub fn threads_in_use() -> usize {
    candle_core::utils::get_num_threads()
}

/// Replays training from the checkpoint directory `from` (weights, `optimizer.safetensors`,
/// `state.json`, all hash-checked) up to `to` completed steps, on the batches of the dataset at
/// `dataset` with `recipe`'s settings, exactly as the run computed them. Nothing is written;
/// the trained model is returned. `progress` gets each completed step.
pub fn replay(
    recipe: &Recipe,
    dataset: &Path,
    from: &Path,
    to: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Transformer> {
    Ok(replay_learner(recipe, dataset, from, to, progress)?.model)
}

/// [`replay`], returning the learner (for a LoRA run, [`Learner::adapter`] is what was trained).
pub fn replay_learner(
    recipe: &Recipe,
    dataset: &Path,
    from: &Path,
    to: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Learner> {
    let state = checkpoint::verify(from)?;
    if to <= state.step {
        return Err(run_err(
            from,
            format!(
                "replay target step {to} is not after the checkpoint's step {}",
                state.step
            ),
        ));
    }
    let total = recipe.total_steps();
    if to > total {
        return Err(run_err(
            from,
            format!("replay target step {to} is past the recipe's {total} steps"),
        ));
    }
    let mut dataset = TrainData::open(dataset)?;
    let (vocab, _) = dataset.vocab_and_eos();
    let resolved = recipe.resolve(&from.join("recipe.toml"), vocab)?;
    let (mut learner, _) = learner_at(recipe, &resolved, from, &Device::Cpu)?;
    load_moments(&mut learner, from, &state)?;
    let last_good = from.display().to_string();
    for step in state.step..to {
        train_step(&mut learner, &mut dataset, recipe, step, total, &last_good)?;
        progress(step + 1);
    }
    Ok(learner)
}

/// Loads AdamW's moments and step count from checkpoint `ck` into `learner`.
fn load_moments(learner: &mut Learner, ck: &Path, state: &State) -> Result<()> {
    let f =
        glassbox_model::safetensors_io::SafetensorsFile::open(&ck.join("optimizer.safetensors"))?;
    let device = learner.model.device().clone();
    for p in &mut learner.opt.params {
        p.m = f.load_f32(&format!("m.{}", p.name), &device)?;
        p.v = f.load_f32(&format!("v.{}", p.name), &device)?;
    }
    learner.opt.step = state.optimizer_step;
    Ok(())
}

/// Step `step` (0-based) of training: its batch from the data order, its learning rate, one
/// update. Returns (loss, gradient norm, learning rate); a non-finite loss or gradient stops
/// with [`TrainError::Diverged`] naming `last_good`. The run and its replay both go through here.
fn train_step(
    learner: &mut Learner,
    dataset: &mut TrainData,
    recipe: &Recipe,
    step: u64,
    total: u64,
    last_good: &str,
) -> Result<(f64, f64, f64)> {
    let (b, l) = (recipe.train.batch_size, recipe.train.seq_len);
    let lr = learning_rate(recipe, step, total);
    let rows = dataset.batch(step, b, l, recipe.data.seed)?;
    let diverged = |loss: f32| TrainError::Diverged {
        step: step + 1,
        loss,
        last_good: last_good.to_string(),
    };
    match learner.step_rows(&rows, lr)? {
        StepOutcome::Updated {
            loss, grad_norm, ..
        } => Ok((loss, grad_norm, lr)),
        StepOutcome::NonFiniteLoss(value) => Err(diverged(value)),
        StepOutcome::NonFiniteGradient(norm) => Err(diverged(norm as f32)),
    }
}

/// Fault injection for the crash-safety tests: with `GLASSBOX_CRASH_AT=STEP:PHASE` the process
/// aborts (as SIGKILL would stop it) in the middle of writing checkpoint STEP, after PHASE
/// (`weights` or `state`) was written to the temporary directory.
fn crash_point(step: u64, phase: &str) {
    if let Ok(v) = std::env::var("GLASSBOX_CRASH_AT")
        && v == format!("{step}:{phase}")
    {
        std::process::abort();
    }
}
