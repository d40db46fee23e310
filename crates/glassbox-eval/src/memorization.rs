//! Memorisation across training, the Pythia study (Biderman et al., 2023) as a verb: training
//! sequences are sampled from a run's exact data order, and at each checkpoint a sequence counts
//! as memorised when greedy decoding from its first `prefix` tokens reproduces the next `suffix`
//! tokens exactly (k-extractability). Through the data order each sequence is traced to the
//! steps that trained on it: every step whose batch contains its `prefix + suffix` tokens
//! anywhere in a row.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::Device;
use glassbox_data::dataset::Dataset;
use glassbox_infer::{Engine, GenerateOptions, SamplingParams};
use glassbox_model::CheckpointSeries;
use serde_json::{Value, json};

use crate::{EvalError, Result};

/// What to sample and test.
#[derive(Debug, Clone)]
pub struct MemorizationOptions {
    /// Training sequences sampled.
    pub samples: usize,
    /// Tokens given.
    pub prefix: usize,
    /// Tokens that must follow exactly.
    pub suffix: usize,
    /// Seed of the sample.
    pub seed: u64,
    /// Only checkpoints whose step is a multiple of this (and the last).
    pub every: Option<u64>,
}

impl Default for MemorizationOptions {
    fn default() -> Self {
        Self {
            samples: 256,
            prefix: 32,
            suffix: 32,
            seed: 0,
            every: None,
        }
    }
}

fn run_err(run: &Path, m: impl Into<String>) -> EvalError {
    EvalError::Request(format!("{}: {}", run.display(), m.into()))
}

/// Runs the study on the glassbox run in `run`; returns the report (`schema_version` 1).
/// `progress` gets each checkpoint's step.
pub fn memorization(
    run: &Path,
    o: &MemorizationOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Value> {
    let recipe_text = std::fs::read_to_string(run.join("recipe.toml"))
        .map_err(|e| run_err(run, format!("no recipe.toml ({e}): not a glassbox run")))?;
    let recipe: toml::Value =
        toml::from_str(&recipe_text).map_err(|e| run_err(run, format!("recipe.toml: {e}")))?;
    let get = |section: &str, key: &str| recipe.get(section).and_then(|s| s.get(key)).cloned();
    let dataset = get("data", "dataset")
        .and_then(|v| v.as_str().map(std::path::PathBuf::from))
        .ok_or_else(|| run_err(run, "recipe.toml has no data.dataset"))?;
    let seed = get("data", "seed")
        .and_then(|v| v.as_integer())
        .unwrap_or(0) as u64;
    let b = get("train", "batch_size")
        .and_then(|v| v.as_integer())
        .unwrap_or(0) as usize;
    let l = get("train", "seq_len")
        .and_then(|v| v.as_integer())
        .unwrap_or(0) as usize;
    if b == 0 || l == 0 {
        return Err(run_err(
            run,
            "recipe.toml lacks train.batch_size or train.seq_len",
        ));
    }
    let k = o.prefix + o.suffix;
    if o.prefix == 0 || o.suffix == 0 || k > l + 1 {
        return Err(run_err(
            run,
            format!(
                "prefix {} + suffix {} must fit a training row of {} tokens (each at least 1)",
                o.prefix,
                o.suffix,
                l + 1
            ),
        ));
    }
    let series = CheckpointSeries::open(run)?;
    let last = series.checkpoints().last().map_or(0, |c| c.step);
    if last == 0 {
        return Err(run_err(
            run,
            "no checkpoint after step 0: nothing was trained",
        ));
    }
    let mut ds = Dataset::open(&dataset)?;
    // The sample: distinct data positions among those trained up to the last checkpoint.
    let positions = last * b as u64;
    let n = (o.samples as u64).min(positions);
    let mut rng = glassbox_core::rng::Rng::seed_from_u64(o.seed);
    let mut chosen = HashSet::new();
    let mut picks = Vec::new();
    while (picks.len() as u64) < n {
        let p = rng.below(positions);
        if chosen.insert(p) {
            picks.push(p);
        }
    }
    let mut seqs: Vec<Vec<u32>> = Vec::with_capacity(picks.len());
    for &p in &picks {
        let rows = ds.batch(p / b as u64, b, l, seed)?;
        seqs.push(rows[(p % b as u64) as usize].tokens[..k].to_vec());
    }
    // Every step that trained on each sequence (anywhere in a row).
    let index: HashMap<&[u32], Vec<usize>> =
        seqs.iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, s)| {
                m.entry(s.as_slice()).or_insert_with(Vec::new).push(i);
                m
            });
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); seqs.len()];
    for step in 0..last {
        for row in ds.batch(step, b, l, seed)? {
            let mut hit: HashSet<usize> = HashSet::new();
            for w in row.tokens.windows(k) {
                if let Some(ids) = index.get(w) {
                    hit.extend(ids.iter().copied());
                }
            }
            for i in hit {
                seen[i].push(step + 1);
            }
        }
    }
    // k-extractability at each checkpoint.
    let mut per_ck = Vec::new();
    for c in series.checkpoints() {
        if let Some(e) = o.every
            && e > 0
            && c.step % e != 0
            && c.step != last
        {
            continue;
        }
        progress(c.step);
        let engine = Engine::load(&c.dir, &Device::Cpu)?;
        let requests: Vec<_> = seqs
            .iter()
            .map(|s| {
                let mut r = engine.request(s[..o.prefix].to_vec());
                r.max_new_tokens = o.suffix;
                r.sampling = SamplingParams {
                    temperature: 0.0,
                    ..SamplingParams::default()
                };
                r.eos_token_ids.clear();
                r.stop.clear();
                r
            })
            .collect();
        let mut memorised = Vec::new();
        for chunk in (0..requests.len()).collect::<Vec<_>>().chunks(16) {
            let batch: Vec<_> = chunk.iter().map(|&i| requests[i].clone()).collect();
            let done = engine.generate(&batch, GenerateOptions::default(), &mut |_, _| {})?;
            for (&i, d) in chunk.iter().zip(&done) {
                if d.tokens == seqs[i][o.prefix..] {
                    memorised.push(i);
                }
            }
        }
        let tokens = glassbox_core::fsio::read_json::<Value>(&c.dir.join("state.json"))
            .ok()
            .and_then(|s| s.get("tokens_seen").and_then(Value::as_u64));
        per_ck.push(json!({
            "step": c.step,
            "tokens": tokens,
            "checkpoint": c.name,
            "memorised": memorised.len(),
            "share": memorised.len() as f64 / seqs.len().max(1) as f64,
            "sequences": memorised.iter().map(|&i| json!({
                "sample": i,
                "first_step": seen[i].first(),
                "times_seen": seen[i].iter().filter(|&&s| s <= c.step).count(),
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(json!({
        "schema_version": 1,
        "run": run.display().to_string(),
        "prefix": o.prefix,
        "suffix": o.suffix,
        "seed": o.seed,
        "samples": picks.iter().zip(&seqs).enumerate().map(|(i, (p, s))| json!({
            "sample": i,
            "position": p,
            "step": p / b as u64 + 1,
            "first_step": seen[i].first(),
            "times_seen": seen[i].len(),
            "tokens": s,
        })).collect::<Vec<_>>(),
        "checkpoints": per_ck,
    }))
}
