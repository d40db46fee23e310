//! The replay check of `glassbox verify`: training re-run from one checkpoint to the next on the
//! bundle's data (an adapted model's on its hash-checked base) and compared bit for bit.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::Device;
use glassbox_train::checkpoint;
use glassbox_train::recipe::Recipe;
use serde_json::{Value, json};

use super::{
    Check, Status, VerifyOptions, bundle_recipe, checkpoint_dir, index_entries, weights_file,
};
use crate::{ReleaseError, Result};
use std::path::Path;

/// Largest weight difference a replay of a run trained by another engine may show.
const ENGINE_TOLERANCE: f32 = 1e-4;

pub(super) fn check_replay(
    bundle: &Path,
    release: &Value,
    opts: &VerifyOptions,
    record: &mut Option<Value>,
    progress: &mut dyn FnMut(&str),
) -> Check {
    match replay(bundle, release, opts, record, progress) {
        Ok(c) => c,
        Err(e) => Check::new("replay", Status::Failed, format!("replay failed: {e}")),
    }
}

fn replay(
    bundle: &Path,
    release: &Value,
    opts: &VerifyOptions,
    record: &mut Option<Value>,
    progress: &mut dyn FnMut(&str),
) -> Result<Check> {
    let entries = index_entries(bundle)?;
    let mut steps: Vec<u64> = entries
        .iter()
        .filter_map(|c| c.get("step").and_then(Value::as_u64))
        .collect();
    steps.sort_unstable();
    let idx = bundle.join("checkpoints/index.json");
    let not_ck = |s: u64| {
        ReleaseError::bundle(
            &idx,
            format!("there is no checkpoint at step {s}; checkpoints: {steps:?}"),
        )
    };
    // A run trained by another engine (`glassbox import-run`) has optimiser state at step 0
    // only: its first interval is replayed, and compared within a tolerance, since the engine's
    // arithmetic is not glassbox's.
    let engine = release
        .get("trained_by")
        .filter(|t| t.is_object())
        .map(|t| {
            t.get("engine")
                .and_then(Value::as_str)
                .unwrap_or("another engine")
                .to_string()
        });
    if let Some(e) = &engine
        && opts.from.is_some_and(|f| f != 0)
    {
        return Ok(Check::new(
            "replay",
            Status::Failed,
            format!(
                "the run was trained by {e}: only step 0 carries optimiser state, so a replay starts there (--from 0)"
            ),
        ));
    }
    let opts_from = if engine.is_some() { Some(0) } else { opts.from };
    // A run trained on a GPU (`glassbox train --device cuda`) has every checkpoint's optimiser
    // state, but its arithmetic is the GPU's: the CPU replay is compared within the tolerance.
    let device = release
        .get("device")
        .and_then(Value::as_str)
        .filter(|d| *d != "cpu");
    let tolerant: Option<String> = match (&engine, device) {
        (Some(e), _) => Some(format!(
            "trained by {e}, whose arithmetic is not glassbox's"
        )),
        (None, Some(d)) => Some(format!("trained on {d}, whose arithmetic is not the CPU's")),
        (None, None) => None,
    };
    let (from, to) = match (opts_from, opts.to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (
            f,
            *steps
                .iter()
                .find(|s| **s > f)
                .ok_or_else(|| not_ck(f + 1))?,
        ),
        (None, Some(t)) => (
            *steps
                .iter()
                .rev()
                .find(|s| **s < t)
                .ok_or_else(|| not_ck(t.saturating_sub(1)))?,
            t,
        ),
        (None, None) => {
            let n = steps.len();
            if n < 2 {
                return Ok(Check::new(
                    "replay",
                    Status::Failed,
                    "fewer than two checkpoints: nothing to replay",
                ));
            }
            (steps[n - 2], steps[n - 1])
        }
    };
    for s in [from, to] {
        if !steps.contains(&s) {
            return Err(not_ck(s));
        }
    }
    if to <= from {
        return Err(ReleaseError::bundle(
            &idx,
            format!("--to {to} must be after --from {from}"),
        ));
    }
    let dir_of = |s: u64| {
        checkpoint_dir(
            bundle,
            release,
            &format!("checkpoints/{}", checkpoint::dir_name(s)),
        )
    };
    let (a, b) = (dir_of(from), dir_of(to));
    let mut recipe = bundle_recipe(bundle)?;
    if let Some(problem) = locate_base(release, opts, &mut recipe)? {
        return Ok(Check::new("replay", Status::Failed, problem));
    }
    let run_threads = release.get("threads").and_then(Value::as_u64);
    let threads = glassbox_train::trainer::threads_in_use() as u64;
    let mut msg = |s: u64| progress(&format!("replay step {s}/{to}"));
    let learner =
        glassbox_train::trainer::replay_learner(&recipe, &bundle.join("data"), &a, to, &mut msg)?;
    let weights = weights_file(release);
    // Compare every tensor of the target checkpoint, bit for bit.
    let target = glassbox_model::safetensors_io::SafetensorsFile::open(&b.join(weights))?;
    let ours: BTreeMap<String, candle_core::Tensor> = match learner.adapter() {
        // The adapter's tensors under PEFT's names, as its checkpoints store them.
        Some(adapter) => adapter.named_tensors().into_iter().collect(),
        None => learner.model.named_tensors().into_iter().collect(),
    };
    let mut first: Option<String> = None;
    let mut differing = 0usize;
    let mut worst = 0f32;
    let mut missing = 0usize;
    for name in target.tensors().keys() {
        let want = target
            .load_f32(name, &Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        // A checkpoint written by another engine may store a tied output head on its own
        // (transformers does): it is the embedding matrix the replay trained.
        let tied = (name == "lm_head.weight")
            .then(|| ours.get("model.embed_tokens.weight"))
            .flatten();
        let Some(t) = ours.get(name).or(tied) else {
            first.get_or_insert(format!(
                "{name}: in the checkpoint but not produced by the replay"
            ));
            differing += 1;
            missing += 1;
            continue;
        };
        let got = t
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut n = 0usize;
        let mut max = 0f32;
        for (g, w) in got.iter().zip(&want) {
            if g.to_bits() != w.to_bits() {
                n += 1;
                max = max.max((g - w).abs());
            }
        }
        worst = worst.max(max);
        if got.len() != want.len() {
            missing += 1;
        }
        if n > 0 || got.len() != want.len() {
            differing += 1;
            first.get_or_insert(format!(
                "{name}: {n} of {} values differ, max |difference| {max:e}",
                want.len()
            ));
        }
    }
    if let Some(why) = tolerant {
        let source = engine.map_or_else(|| "the run".to_string(), |e| e.to_string());
        return Ok(if worst <= ENGINE_TOLERANCE && missing == 0 {
            Check::new(
                "replay",
                Status::Passed,
                format!(
                    "steps {from} → {to} replayed from checkpoint {from}: all {} tensors within {ENGINE_TOLERANCE:e} of checkpoint {to} (max |difference| {worst:e}; {why}, so bits are not promised and no replay mark is recorded)",
                    target.tensors().len()
                ),
            )
        } else {
            let mut c = Check::new(
                "replay",
                Status::Failed,
                format!(
                    "steps {from} → {to}: the replay differs from {source}'s checkpoint {to} by up to {worst:e} (tolerance {ENGINE_TOLERANCE:e}; {why}){}",
                    first.map_or(String::new(), |f| format!("; first {f}"))
                ),
            );
            c.details.push(format!("checkpoint {to}: {}", b.display()));
            c
        });
    }
    let target_sha = glassbox_core::hash::sha256_file(&b.join(weights))?;
    *record = Some(
        json!({"from": from, "to": to, "weights_sha256": target_sha, "threads": threads, "run_threads": run_threads}),
    );
    let note = match run_threads {
        Some(r) if r != threads => format!(
            " (the run used {r} threads, this replay {threads}: bit-identity is only promised on the same count; rerun with --threads {r})"
        ),
        _ => String::new(),
    };
    Ok(match first {
        None => Check::new(
            "replay",
            Status::Passed,
            format!(
                "steps {from} → {to} replayed from checkpoint {from}: all {} tensors bit-identical to checkpoint {to}",
                target.tensors().len()
            ),
        ),
        Some(f) => {
            let mut c = Check::new(
                "replay",
                Status::Failed,
                format!(
                    "steps {from} → {to}: {differing} tensor(s) differ from checkpoint {to}; first {f}{note}"
                ),
            );
            c.details.push(format!("checkpoint {to}: {}", b.display()));
            c
        }
    })
}

/// For a run that started from a base model: points `recipe` at the base (the `--base` given,
/// else the path the run recorded) and checks its files against the SHA-256 the run recorded.
/// Returns why the replay cannot run, if it cannot.
fn locate_base(
    release: &Value,
    opts: &VerifyOptions,
    recipe: &mut Recipe,
) -> Result<Option<String>> {
    let Some(base) = release.get("base").filter(|b| b.is_object()) else {
        return Ok(None);
    };
    let dir = match (&opts.base, base.get("path").and_then(Value::as_str)) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => {
            return Ok(Some(
                "release.json names a base without a path; give it with --base DIR".into(),
            ));
        }
    };
    if !dir.is_dir() {
        return Ok(Some(format!(
            "the base model {} is not here; the replay needs it (give its location with --base DIR)",
            dir.display()
        )));
    }
    for (name, want) in base
        .get("sha256")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let want = want.as_str().unwrap_or("");
        let got = glassbox_core::hash::sha256_file(&dir.join(name))?;
        if got != want {
            return Ok(Some(format!(
                "the base model's {name} in {} has SHA-256 {got}, the run started from {want}: not the same base",
                dir.display()
            )));
        }
    }
    recipe.model.init = Some(dir);
    Ok(None)
}
