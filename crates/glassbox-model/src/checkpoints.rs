//! A model's training checkpoints as a series, ordered by step, for studying learning dynamics.
//!
//! Open models publish their intermediate checkpoints as Hub revisions: Pythia's `step0`, `step1`,
//! `step2` … `step143000` (154 of them), OLMo's `step1000-tokens4B`, OLMo 2's
//! `stage1-step140000-tokens1175B`, Hugging Face Trainer's `checkpoint-500`; glassbox's own runs
//! write `checkpoints/step-0000512`. [`CheckpointSeries::open`] accepts a directory holding such
//! checkpoints in either of the two layouts a download leaves:
//!
//! - one sub-directory per revision (`huggingface-cli download … --revision step1000 --local-dir
//!   pythia-70m/step1000`), or a glassbox run directory (its `checkpoints/`);
//! - the Hugging Face cache of one repository (`models--EleutherAI--pythia-70m`), whose
//!   `refs/<revision>` files name the `snapshots/<commit>` directory of each revision.
//!
//! Each checkpoint is a model directory [`crate::Transformer::load`] reads.

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::{LoadReport, ModelError, Result, Transformer};

/// One checkpoint of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Optimiser steps taken when it was saved.
    pub step: u64,
    /// Training tokens seen, when the revision name says (`tokens4B`).
    pub tokens: Option<u64>,
    /// The revision or directory name.
    pub name: String,
    /// The model directory.
    pub dir: PathBuf,
}

impl Checkpoint {
    /// Loads the checkpoint's model.
    pub fn load(&self, device: &Device) -> Result<(Transformer, LoadReport)> {
        Transformer::load(&self.dir, device)
    }
}

/// The checkpoints of one model, in step order.
#[derive(Debug, Clone)]
pub struct CheckpointSeries {
    root: PathBuf,
    checkpoints: Vec<Checkpoint>,
}

/// The step and token count a revision name encodes: `step1000`, `step-0001000`,
/// `checkpoint-1000`, `step1000-tokens4B`, `stage1-step140000-tokens1175B`, `global_step500`.
pub fn parse_revision(name: &str) -> Option<(u64, Option<u64>)> {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(['-', '_']).collect();
    let mut step = None;
    let mut tokens = None;
    for (i, p) in parts.iter().enumerate() {
        let next_number = || parts.get(i + 1).and_then(|n| n.parse::<u64>().ok());
        if let Some(rest) = p.strip_prefix("step") {
            if rest.is_empty() {
                step = step.or_else(next_number);
            } else if let Ok(n) = rest.parse::<u64>() {
                step = step.or(Some(n));
            }
        } else if *p == "checkpoint" {
            step = step.or_else(next_number);
        } else if let Some(rest) = p.strip_prefix("tokens") {
            tokens = tokens.or_else(|| token_count(rest));
        }
    }
    step.map(|s| (s, tokens))
}

/// `4B`, `1175B`, `500M`, `12K`, `123` as a number of tokens.
fn token_count(s: &str) -> Option<u64> {
    let (digits, scale) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1_000),
        'm' => (&s[..s.len() - 1], 1_000_000),
        'b' => (&s[..s.len() - 1], 1_000_000_000),
        't' => (&s[..s.len() - 1], 1_000_000_000_000),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

impl CheckpointSeries {
    /// Finds the checkpoints under `root` (see the module documentation). A directory whose
    /// name is a revision but which lacks `config.json` (or, for a LoRA adapter,
    /// `adapter_config.json`) is an error naming it; other entries are ignored. No checkpoint at all is an error.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(ModelError::MissingFile {
                path: root.to_path_buf(),
                hint: "expected a directory of checkpoints (step0, step1000, …)".into(),
            });
        }
        let mut found = Vec::new();
        let refs = root.join("refs");
        if refs.is_dir() && root.join("snapshots").is_dir() {
            // The Hugging Face cache: refs/<revision> holds the snapshot's commit hash.
            for (name, path) in entries(&refs)? {
                let Some((step, tokens)) = parse_revision(&name) else {
                    continue;
                };
                let commit = glassbox_core::fsio::read_to_string(&path)?;
                let dir = root.join("snapshots").join(commit.trim());
                found.push(checked(step, tokens, name, dir)?);
            }
        } else {
            let base = if root.join("checkpoints").is_dir() && !root.join("config.json").exists() {
                root.join("checkpoints")
            } else {
                root.to_path_buf()
            };
            for (name, path) in entries(&base)? {
                if !path.is_dir() {
                    continue;
                }
                let Some((step, tokens)) = parse_revision(&name) else {
                    continue;
                };
                found.push(checked(step, tokens, name, path)?);
            }
        }
        if found.is_empty() {
            return Err(ModelError::MissingFile {
                path: root.to_path_buf(),
                hint: "no checkpoint directories (step0, step1000, step-0000512, checkpoint-500, or a Hugging Face cache with refs/step…)".into(),
            });
        }
        found.sort_by(|a, b| (a.step, &a.name).cmp(&(b.step, &b.name)));
        Ok(Self {
            root: root.to_path_buf(),
            checkpoints: found,
        })
    }

    /// The directory the series was opened from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The checkpoints, in step order.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// The checkpoint saved at `step`, if there is one.
    pub fn at(&self, step: u64) -> Option<&Checkpoint> {
        self.checkpoints.iter().find(|c| c.step == step)
    }

    /// Number of checkpoints.
    pub fn len(&self) -> usize {
        self.checkpoints.len()
    }

    /// Whether there are none (never true for an opened series).
    pub fn is_empty(&self) -> bool {
        self.checkpoints.is_empty()
    }
}

/// `(file name, path)` of every entry of `dir`, sorted by name.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let read =
        std::fs::read_dir(dir).map_err(|e| glassbox_core::CoreError::io("listing", dir, e))?;
    let mut out: Vec<(String, PathBuf)> = read
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    out.sort();
    Ok(out)
}

fn checked(step: u64, tokens: Option<u64>, name: String, dir: PathBuf) -> Result<Checkpoint> {
    // A model (config.json) or a LoRA adapter on one (adapter_config.json, a LoRA run's).
    if !dir.join("config.json").is_file() && !dir.join("adapter_config.json").is_file() {
        return Err(ModelError::MissingFile {
            path: dir.join("config.json"),
            hint: format!("checkpoint `{name}` (step {step}) has no config.json"),
        });
    }
    Ok(Checkpoint {
        step,
        tokens,
        name,
        dir,
    })
}

/// SHA-256 over the names and SHA-256 of the weight files (`*.safetensors`, optimizer state
/// left out) of `dir`, one `name sha256` line each in name order: one hash for a checkpoint's
/// weights however they are sharded.
pub fn weights_sha256(dir: &Path) -> Result<String> {
    use std::fmt::Write as _;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| glassbox_core::CoreError::io("listing", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "safetensors")
                && !p.ends_with("optimizer.safetensors")
        })
        .collect();
    names.sort();
    let mut all = String::new();
    for p in &names {
        let _ = writeln!(
            all,
            "{} {}",
            p.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            glassbox_core::hash::sha256_file(p)?
        );
    }
    Ok(glassbox_core::hash::sha256_hex(all.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_names_of_the_open_model_families() {
        assert_eq!(parse_revision("step0"), Some((0, None)));
        assert_eq!(parse_revision("step143000"), Some((143_000, None)));
        assert_eq!(parse_revision("step-0000512"), Some((512, None)));
        assert_eq!(parse_revision("checkpoint-500"), Some((500, None)));
        assert_eq!(parse_revision("global_step20"), Some((20, None)));
        assert_eq!(
            parse_revision("step1000-tokens4B"),
            Some((1000, Some(4_000_000_000)))
        );
        assert_eq!(
            parse_revision("stage1-step140000-tokens1175B"),
            Some((140_000, Some(1_175_000_000_000)))
        );
        for not in ["main", "notes", "stepping", "tokens4B", "step-x"] {
            assert_eq!(parse_revision(not), None, "{not}");
        }
    }
}
