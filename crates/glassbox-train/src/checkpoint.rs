//! Checkpoints: `checkpoints/step-NNNNNNN/`, each a Hugging Face model directory (weights,
//! `config.json`, tokenizer files) plus `optimizer.safetensors` (AdamW moments) and `state.json`
//! (step, optimiser step, tokens seen, data position, learning rate, loss, the SHA-256 of every
//! other file). A checkpoint is written into a temporary directory, every file synced, then
//! renamed into place and the parent directory synced: a crash leaves either a whole
//! checkpoint or a temporary directory that resume ignores and removes. `state.json` is written
//! last and carries the hashes, so a checkpoint is valid exactly when its state parses and every
//! hash matches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// Version of `state.json` and `checkpoints/index.json`.
pub const STATE_SCHEMA: u32 = 1;

/// `state.json` of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_SCHEMA`].
    pub schema_version: u32,
    /// Optimiser steps completed (the checkpoint's name).
    pub step: u64,
    /// AdamW's step count.
    pub optimizer_step: u64,
    /// Training tokens consumed.
    pub tokens_seen: u64,
    /// The next training position (sample index into the data order) = step × batch_size.
    pub data_position: u64,
    /// Data-order seed.
    pub data_seed: u64,
    /// RNG states. Training itself draws no random numbers (no dropout; the data order is a
    /// function of the seed and the position), so this records the initialisation seed only.
    pub rng: serde_json::Value,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Training loss of the last step (`null` at step 0).
    pub loss: Option<f64>,
    /// Held-out loss at this checkpoint, when evaluated.
    pub eval_loss: Option<f64>,
    /// SHA-256 of every other file of the checkpoint.
    pub files: BTreeMap<String, String>,
}

/// Directory name of a step.
pub fn dir_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// Syncs a written file.
fn sync(path: &Path) -> Result<()> {
    let f =
        std::fs::File::open(path).map_err(|e| glassbox_core::CoreError::io("opening", path, e))?;
    f.sync_all()
        .map_err(|e| glassbox_core::CoreError::io("syncing", path, e))?;
    Ok(())
}

/// Moves a finished temporary checkpoint directory into place as `checkpoints/step-N`.
pub fn commit(tmp: &Path, root: &Path, step: u64) -> Result<PathBuf> {
    for e in std::fs::read_dir(tmp).map_err(|e| glassbox_core::CoreError::io("listing", tmp, e))? {
        let p = e
            .map_err(|e| glassbox_core::CoreError::io("listing", tmp, e))?
            .path();
        sync(&p)?;
    }
    glassbox_core::fsio::sync_dir(tmp)?;
    let dest = root.join(dir_name(step));
    if dest.exists() {
        // A checkpoint of the same step from a run that crashed later: move it aside first.
        let old = root.join(format!(".old-{}-{}", dir_name(step), std::process::id()));
        std::fs::rename(&dest, &old)
            .map_err(|e| glassbox_core::CoreError::io("renaming", &dest, e))?;
        let _ = std::fs::remove_dir_all(&old);
    }
    std::fs::rename(tmp, &dest)
        .map_err(|e| glassbox_core::CoreError::io("renaming into place", &dest, e))?;
    glassbox_core::fsio::sync_dir(root)?;
    Ok(dest)
}

/// Reads `state.json` of a checkpoint and checks that every file it names exists (no hashing).
pub fn read_state(dir: &Path) -> Result<State> {
    let path = dir.join("state.json");
    let state: State = glassbox_core::fsio::read_json(&path)?;
    glassbox_core::schema::check_version(&path, state.schema_version, &[STATE_SCHEMA])?;
    if let Some(f) = state.files.keys().find(|f| !dir.join(f).is_file()) {
        return Err(TrainError::Run {
            path: dir.join(f),
            message: "named in state.json but missing".into(),
        });
    }
    Ok(state)
}

/// Reads and checks a checkpoint: `state.json` parses and every file hash matches.
pub fn verify(dir: &Path) -> Result<State> {
    let state = read_state(dir)?;
    for (f, sha) in &state.files {
        let p = dir.join(f);
        let h = glassbox_core::hash::sha256_file(&p)?;
        if &h != sha {
            return Err(TrainError::Run {
                path: p,
                message: format!("SHA-256 {h} does not match state.json ({sha})"),
            });
        }
    }
    Ok(state)
}

/// A checkpoint found on disk: its directory and its verified state.
pub type Found = (PathBuf, State);

/// The newest valid checkpoint under `root` (temporary and damaged ones are skipped), with the
/// problems met on the way.
pub fn newest_valid(root: &Path) -> Result<(Option<Found>, Vec<String>)> {
    let mut dirs: Vec<(u64, PathBuf)> = Vec::new();
    let mut notes = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix("step-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                dirs.push((n, e.path()));
            } else if name.starts_with(".tmp-") || name.starts_with(".old-") {
                notes.push(format!(
                    "removed the unfinished {name} (a crash during a checkpoint write)"
                ));
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, d) in dirs {
        match verify(&d) {
            Ok(s) => return Ok((Some((d, s)), notes)),
            Err(e) => notes.push(format!("skipped {}: {e}", d.display())),
        }
    }
    Ok((None, notes))
}

/// One entry of `checkpoints/index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Step.
    pub step: u64,
    /// Directory (relative to the run).
    pub dir: String,
    /// Whether the step is on the checkpoint schedule.
    pub scheduled: bool,
    /// Tokens seen.
    pub tokens_seen: u64,
    /// Training loss.
    pub loss: Option<f64>,
    /// Held-out loss.
    pub eval_loss: Option<f64>,
    /// SHA-256 of `state.json` (which holds the hashes of every other file).
    pub state_sha256: String,
    /// SHA-256 of every file.
    pub files: BTreeMap<String, String>,
}

/// `checkpoints/index.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// [`STATE_SCHEMA`].
    pub schema_version: u32,
    /// Checkpoints by step.
    pub checkpoints: Vec<IndexEntry>,
}

impl Index {
    /// Rebuilds the index from the checkpoint directories under `root` (so it can never
    /// disagree with what is on disk), and writes it atomically. With `rehash` every file of
    /// every checkpoint is hashed again and damaged checkpoints are left out; without it (during
    /// training, where each checkpoint was hashed as it was written) `state.json` must parse and
    /// every file it names must exist with a hash recorded.
    pub fn rebuild(root: &Path, scheduled: &dyn Fn(u64) -> bool, rehash: bool) -> Result<Index> {
        let mut checkpoints = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(|e| glassbox_core::CoreError::io("listing", root, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
            })
            .collect();
        dirs.sort();
        for d in dirs {
            let state = if rehash { verify(&d) } else { read_state(&d) };
            let Ok(s) = state else { continue };
            let mut files = s.files.clone();
            let state_sha = glassbox_core::hash::sha256_file(&d.join("state.json"))?;
            files.insert("state.json".into(), state_sha.clone());
            checkpoints.push(IndexEntry {
                step: s.step,
                dir: format!("checkpoints/{}", dir_name(s.step)),
                scheduled: scheduled(s.step),
                tokens_seen: s.tokens_seen,
                loss: s.loss,
                eval_loss: s.eval_loss,
                state_sha256: state_sha,
                files,
            });
        }
        let idx = Index {
            schema_version: STATE_SCHEMA,
            checkpoints,
        };
        glassbox_core::fsio::write_json_atomic(&root.join("index.json"), &idx)?;
        Ok(idx)
    }
}
