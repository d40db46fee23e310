//! A run trained by an engine brought back: [`import_run`] turns what the exported launcher
//! wrote (`checkpoints/step-NNNNNNN` — Hugging Face folders from `train_fsdp.py`; OLMo-core's
//! unsharded `model.safetensors` from `train_olmo_core.py` and Megatron-Core's gathered tensors
//! from `train_megatron.py`, both renamed here — `logs/train.jsonl`,
//! `engine.json`) and the export it trained ([`crate::export`]) into a glassbox run directory — the resolved recipe,
//! `run.json` naming the engine, the logs, Pythia-named checkpoints each with a `state.json`
//! hashing its files, and `checkpoints/index.json` — so `glassbox eval --run`, `trace` and the
//! runs pages read it as any run.
//!
//! An imported checkpoint holds the engine's weights and no optimiser state (the engine's is
//! sharded in its own format) — except step 0, whose AdamW moments are zero in any engine and
//! are written out, so `glassbox verify` can replay the first steps of the release. The run
//! cannot be resumed by glassbox, and `run.json` says where it was trained.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glassbox_model::ModelConfig;
use serde_json::{Value, json};

use crate::checkpoint::{Index, STATE_SCHEMA, State, dir_name};
use crate::recipe::Recipe;
use crate::{Result, TrainError};

/// Whose parameter names an engine's checkpoints use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// Hugging Face's, with the engine's `config.json` beside them (torch-fsdp).
    HuggingFace,
    /// OLMo-core's.
    OlmoCore,
    /// Megatron-Core's.
    Megatron,
}

impl Names {
    /// Puts the weights of the engine's checkpoint `src` into `dest` in Hugging Face names;
    /// returns the file's SHA-256.
    fn import_weights(self, cfg: &ModelConfig, src: &Path, dest: &Path) -> Result<String> {
        let (from, to) = (
            src.join("model.safetensors"),
            dest.join("model.safetensors"),
        );
        if !from.is_file() {
            return Err(bad(&from, "missing from the engine's checkpoint"));
        }
        let tensors = match self {
            Names::HuggingFace => {
                std::fs::copy(&from, &to).map_err(|e| bad(&from, e.to_string()))?;
                return Ok(glassbox_core::hash::sha256_file(&to)?);
            }
            Names::OlmoCore => crate::olmo_core::from_olmo_core(cfg, &from)?,
            Names::Megatron => crate::megatron::from_megatron(cfg, &from)?,
        };
        Ok(glassbox_model::weights::write_safetensors_file(
            &to, &tensors,
        )?)
    }
}

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The run directory.
    pub dir: PathBuf,
    /// Checkpoint steps imported.
    pub checkpoints: Vec<u64>,
    /// Logged steps.
    pub steps_logged: u64,
}

fn bad(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Run {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    Ok(glassbox_core::fsio::read_json(path)?)
}

/// Imports the engine's output `engine_out`, trained from the export `export`, into `out`
/// (which must not exist).
pub fn import_run(engine_out: &Path, export: &Path, out: &Path) -> Result<Imported> {
    if out.exists() {
        return Err(bad(out, "exists already; choose a new directory"));
    }
    let rec_path = export.join("export.json");
    let rec = read_json(&rec_path)?;
    if rec.get("schema_version").and_then(Value::as_u64) != Some(1) {
        return Err(bad(&rec_path, "not an export of schema_version 1"));
    }
    let engine_path = engine_out.join("engine.json");
    let engine = read_json(&engine_path)?;
    if engine.get("schema_version").and_then(Value::as_u64) != Some(1) {
        return Err(bad(
            &engine_path,
            "not an engine record of schema_version 1 (written by the exported launcher)",
        ));
    }
    let names = match engine.get("engine").and_then(Value::as_str) {
        Some(e) if Some(e) != rec.get("engine").and_then(Value::as_str) => {
            return Err(bad(
                &engine_path,
                format!(
                    "names the engine {e}, but the export is for {}",
                    rec.get("engine")
                        .and_then(Value::as_str)
                        .unwrap_or("another")
                ),
            ));
        }
        Some("olmo-core") => Names::OlmoCore,
        Some("megatron") => Names::Megatron,
        Some("torch-fsdp") => Names::HuggingFace,
        _ => return Err(bad(&engine_path, "names no engine glassbox exports to")),
    };
    if engine.get("export_recipe_sha256") != rec.get("recipe_sha256") {
        return Err(bad(
            &engine_path,
            "was trained from another export (its export_recipe_sha256 is not this export's recipe_sha256)",
        ));
    }
    let recipe = Recipe::from_file(&export.join("recipe.toml"))?;
    let total = recipe.total_steps();
    let batch = recipe.train.batch_size as u64;
    // The logs: every step 1..=n in order, each with a finite loss.
    let log_path = engine_out.join("logs/train.jsonl");
    let text = std::fs::read_to_string(&log_path)
        .map_err(|e| bad(&log_path, format!("cannot read it: {e}")))?;
    let mut logs: Vec<Value> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| bad(&log_path, format!("line {}: {e}", i + 1)))?;
        let step = v.get("step").and_then(Value::as_u64);
        let loss = v.get("loss").and_then(Value::as_f64);
        if step != Some(i as u64 + 1) || !loss.is_some_and(f64::is_finite) {
            return Err(bad(
                &log_path,
                format!("line {}: expected step {} with a finite loss", i + 1, i + 1),
            ));
        }
        logs.push(v);
    }
    let logged = logs.len() as u64;
    // The checkpoints the engine wrote.
    let ck_root = engine_out.join("checkpoints");
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(&ck_root)
        .map_err(|e| bad(&ck_root, format!("cannot list it: {e}")))?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let step = n.strip_prefix("step-")?.parse::<u64>().ok()?;
            Some((step, e.path()))
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(bad(&ck_root, "holds no checkpoint (step-NNNNNNN)"));
    }
    if let Some((s, _)) = found.iter().find(|(s, _)| *s > logged) {
        return Err(bad(
            &ck_root,
            format!("checkpoint {s} is past the {logged} logged steps"),
        ));
    }
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map_or("run".into(), |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    for d in ["checkpoints", "logs"] {
        std::fs::create_dir_all(tmp.join(d)).map_err(|e| bad(&tmp, e.to_string()))?;
    }
    let resolved =
        toml::to_string(&recipe).map_err(|e| bad(&export.join("recipe.toml"), e.to_string()))?;
    glassbox_core::fsio::atomic_write(&tmp.join("recipe.toml"), resolved.as_bytes())?;
    let dataset = crate::data::TrainData::open(&recipe.data.dataset)?;
    let (vocab, _) = dataset.vocab_and_eos();
    let model_cfg = recipe.resolve(&export.join("recipe.toml"), vocab)?;
    let parameters = model_cfg.num_parameters();
    // OLMo-core's checkpoints hold its own parameter names and config: the Hugging Face
    // config.json is the export's.
    let first_cfg = if names != Names::HuggingFace {
        read_json(&export.join("model/config.json"))?
    } else {
        read_json(&found[0].1.join("config.json"))?
    };
    // What the engine recorded of itself (fields it did not write are left out).
    let mut trained_by = serde_json::Map::new();
    for key in [
        "engine",
        "olmo_core",
        "megatron_core",
        "torch",
        "transformers",
        "world_size",
        "tensor_parallel",
        "backend",
    ] {
        if let Some(v) = engine.get(key).filter(|v| !v.is_null()) {
            trained_by.insert(key.into(), v.clone());
        }
    }
    trained_by.insert("export_recipe_sha256".into(), rec["recipe_sha256"].clone());
    trained_by.insert(
        "export_glassbox_version".into(),
        rec["glassbox_version"].clone(),
    );
    let run_json = json!({
        "schema_version": 1,
        "glassbox_version": env!("CARGO_PKG_VERSION"),
        "recipe_sha256": glassbox_core::hash::sha256_hex(resolved.as_bytes()),
        "model_config": first_cfg,
        "parameters": parameters,
        "init": Value::Null,
        "total_steps": total,
        "threads": Value::Null,
        "dataset": dataset.describe()?,
        "trained_by": trained_by,
    });
    glassbox_core::fsio::write_json_atomic(&tmp.join("run.json"), &run_json)?;
    let mut lines = String::new();
    for v in &logs {
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    glassbox_core::fsio::atomic_write(&tmp.join("logs/train.jsonl"), lines.as_bytes())?;
    // The held-out evaluations, when the engine made them.
    let eval_path = engine_out.join("logs/eval.jsonl");
    let evals: Vec<Value> = match std::fs::read_to_string(&eval_path) {
        Ok(t) => t
            .lines()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| bad(&eval_path, format!("line {}: {e}", i + 1)))
            })
            .collect::<Result<_>>()?,
        Err(_) => Vec::new(),
    };
    let mut eval_text = String::new();
    for v in &evals {
        eval_text.push_str(&v.to_string());
        eval_text.push('\n');
    }
    glassbox_core::fsio::atomic_write(&tmp.join("logs/eval.jsonl"), eval_text.as_bytes())?;
    let eval_at = |step: u64| {
        evals
            .iter()
            .find(|v| v.get("step").and_then(Value::as_u64) == Some(step))
            .and_then(|v| v.get("loss").and_then(Value::as_f64))
    };
    let mut steps = Vec::new();
    for (step, src) in &found {
        let dest = tmp.join("checkpoints").join(dir_name(*step));
        std::fs::create_dir_all(&dest).map_err(|e| bad(&dest, e.to_string()))?;
        let mut files = BTreeMap::new();
        // The weights and config are the engine's; the tokenizer and generation files are the
        // export's (the engine copies only tokenizer.json, and writes its own generation defaults).
        files.insert(
            "model.safetensors".to_string(),
            names.import_weights(&model_cfg, src, &dest)?,
        );
        for name in [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
        ] {
            // Hugging Face checkpoints carry their config.json; for renamed weights it is the
            // export's.
            let from = if name == "config.json" && names == Names::HuggingFace {
                src.join(name)
            } else {
                export.join("model").join(name)
            };
            if !from.is_file() {
                if name == "config.json" {
                    return Err(bad(&from, "missing from the engine's checkpoint"));
                }
                continue;
            }
            std::fs::copy(&from, dest.join(name)).map_err(|e| bad(&from, e.to_string()))?;
            files.insert(
                name.to_string(),
                glassbox_core::hash::sha256_file(&dest.join(name))?,
            );
        }
        if *step == 0 {
            // AdamW's moments before the first step are zero in any engine: with them, step 0
            // is a checkpoint glassbox can replay from (`glassbox verify` on the release).
            let weights = glassbox_model::safetensors_io::SafetensorsFile::open(
                &dest.join("model.safetensors"),
            )?;
            let mut zeros = Vec::new();
            for (name, info) in weights.tensors() {
                let z = candle_core::Tensor::zeros(
                    info.shape.as_slice(),
                    candle_core::DType::F32,
                    &candle_core::Device::Cpu,
                )?;
                zeros.push((format!("m.{name}"), z.clone()));
                zeros.push((format!("v.{name}"), z));
            }
            let opt = dest.join("optimizer.safetensors");
            glassbox_model::weights::write_safetensors_file(&opt, &zeros)?;
            files.insert(
                "optimizer.safetensors".into(),
                glassbox_core::hash::sha256_file(&opt)?,
            );
        }
        glassbox_core::fsio::atomic_write(&dest.join("recipe.toml"), resolved.as_bytes())?;
        files.insert(
            "recipe.toml".into(),
            glassbox_core::hash::sha256_hex(resolved.as_bytes()),
        );
        let last = (*step > 0).then(|| &logs[*step as usize - 1]);
        let state = State {
            schema_version: STATE_SCHEMA,
            step: *step,
            optimizer_step: *step,
            tokens_seen: step * batch * recipe.train.seq_len as u64,
            data_position: step * batch,
            data_seed: recipe.data.seed,
            rng: json!({"init_seed": recipe.model.init_seed, "training_draws": 0}),
            lr: last
                .and_then(|v| v.get("lr").and_then(Value::as_f64))
                .unwrap_or(0.0),
            loss: last.and_then(|v| v.get("loss").and_then(Value::as_f64)),
            eval_loss: eval_at(*step),
            files,
        };
        glassbox_core::fsio::write_json_atomic(&dest.join("state.json"), &state)?;
        steps.push(*step);
    }
    let sched = |s: u64| recipe.checkpoints.scheduled(s, total);
    Index::rebuild(&tmp.join("checkpoints"), &sched, true)?;
    std::fs::rename(&tmp, out).map_err(|e| bad(out, e.to_string()))?;
    Ok(Imported {
        dir: out.to_path_buf(),
        checkpoints: steps,
        steps_logged: logged,
    })
}
