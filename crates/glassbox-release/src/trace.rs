//! The provenance chain over a bundle: for a document, the token spans, samples, steps and the
//! first checkpoint that had seen it; for a step or checkpoint, the documents trained on up to
//! it, counted per source and language.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use glassbox_data::dataset::{Dataset, Occurrence, permutation};
use serde::Serialize;
use serde_json::Value;

use crate::{ReleaseError, Result};

/// Where a document went.
#[derive(Debug, Clone, Serialize)]
pub struct DocTrace {
    /// `schema_version` (1).
    pub schema_version: u32,
    /// Document id.
    pub id: String,
    /// Its source.
    pub source: String,
    /// Its language.
    pub lang: String,
    /// Its token span: `{"shard", "offset", "start", "length"}` (EOS excluded).
    pub span: Value,
    /// Every (step, row) whose sample held some of its tokens, within the run's steps.
    pub occurrences: Vec<Occurrence>,
    /// The first step (0-based) that trained on it.
    pub first_step: Option<u64>,
    /// The first checkpoint whose weights had seen it (`step-N` holds the weights after N
    /// updates, so a document first trained on at step s is in checkpoint s + 1 onwards).
    pub first_checkpoint: Option<u64>,
    /// Tokens of it trained on in all (with repeats across epochs).
    pub tokens_trained: u64,
}

/// Counts per group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Count {
    /// Distinct documents.
    pub documents: u64,
    /// Tokens trained on (with repeats).
    pub tokens: u64,
}

/// What the model had seen after some steps.
#[derive(Debug, Clone, Serialize)]
pub struct StepTrace {
    /// `schema_version` (1).
    pub schema_version: u32,
    /// Steps completed (the weights of checkpoint `steps`).
    pub steps: u64,
    /// Samples trained on.
    pub samples: u64,
    /// Tokens trained on.
    pub tokens: u64,
    /// Per source.
    pub by_source: BTreeMap<String, Count>,
    /// Per language.
    pub by_language: BTreeMap<String, Count>,
    /// Every document, with the tokens of it trained on, in first-seen order.
    pub documents: Vec<(String, u64)>,
}

struct Ctx {
    ds: Dataset,
    batch: usize,
    seq_len: usize,
    seed: u64,
    total: u64,
    checkpoints: Vec<u64>,
}

fn open(bundle: &Path) -> Result<Ctx> {
    crate::manifest::read(bundle)?;
    let r: Value = glassbox_core::fsio::read_json(&bundle.join("release.json"))?;
    crate::manifest::check_version(&bundle.join("release.json"), &r)?;
    let get = |k: &str| {
        r.pointer(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| ReleaseError::bundle(bundle.join("release.json"), format!("no {k}")))
    };
    let mut checkpoints: Vec<u64> = r
        .pointer("/checkpoints/steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    checkpoints.sort_unstable();
    let positive = |k: &str| -> Result<usize> {
        let v = get(k)?;
        usize::try_from(v)
            .ok()
            .filter(|v| *v > 0 && *v <= u32::MAX as usize)
            .ok_or_else(|| {
                ReleaseError::bundle(
                    bundle.join("release.json"),
                    format!("{k} is {v}; it must be between 1 and 2^32 − 1"),
                )
            })
    };
    Ok(Ctx {
        ds: Dataset::open(&bundle.join("data"))?,
        batch: positive("/order/batch_size")?,
        seq_len: positive("/order/seq_len")?,
        seed: get("/order/seed")?,
        total: get("/final_step")?,
        checkpoints,
    })
}

/// The error for a step count whose samples or tokens do not fit 64 bits.
fn too_many(bundle: &Path, steps: u64, batch: usize) -> ReleaseError {
    ReleaseError::bundle(
        bundle.join("release.json"),
        format!("{steps} steps of batch {batch} count more samples than 2^64"),
    )
}

/// What is traced: a release bundle, or a training run directory (its `run.json`, resolved
/// `recipe.toml`, checkpoint index and the dataset it names).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A bundle (`release.json`, `data/`).
    Bundle(&'a Path),
    /// A run directory.
    Run(&'a Path),
}

impl Source<'_> {
    fn open(self) -> Result<Ctx> {
        match self {
            Source::Bundle(b) => open(b),
            Source::Run(r) => open_run(r),
        }
    }

    fn dir(self) -> PathBuf {
        match self {
            Source::Bundle(p) | Source::Run(p) => p.to_path_buf(),
        }
    }
}

/// The context of a run directory: batch, sequence length and data seed from its resolved
/// recipe, steps from `run.json`, checkpoints from `checkpoints/index.json`, and its dataset.
fn open_run(run: &Path) -> Result<Ctx> {
    let bad = |file: &str, what: String| ReleaseError::bundle(run.join(file), what);
    let info: Value = glassbox_core::fsio::read_json(&run.join("run.json"))?;
    let recipe_path = run.join("recipe.toml");
    let text = std::fs::read_to_string(&recipe_path)
        .map_err(|e| bad("recipe.toml", format!("cannot read it: {e}")))?;
    let recipe: toml::Value =
        toml::from_str(&text).map_err(|e| bad("recipe.toml", format!("not TOML: {e}")))?;
    let int = |table: &str, key: &str| -> Result<u64> {
        recipe
            .get(table)
            .and_then(|t| t.get(key))
            .and_then(toml::Value::as_integer)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| bad("recipe.toml", format!("no [{table}] {key}")))
    };
    let positive = |table: &str, key: &str| -> Result<usize> {
        let v = int(table, key)?;
        usize::try_from(v)
            .ok()
            .filter(|v| *v > 0 && *v <= u32::MAX as usize)
            .ok_or_else(|| {
                bad(
                    "recipe.toml",
                    format!("[{table}] {key} is {v}; it must be between 1 and 2^32 − 1"),
                )
            })
    };
    let dataset = info
        .pointer("/dataset/path")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("run.json", "no dataset.path".into()))?;
    let total = info
        .get("total_steps")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("run.json", "no total_steps".into()))?;
    let index: Value =
        glassbox_core::fsio::read_json(&run.join("checkpoints/index.json")).unwrap_or(Value::Null);
    let mut checkpoints: Vec<u64> = index
        .get("checkpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("step").and_then(Value::as_u64))
        .collect();
    checkpoints.sort_unstable();
    Ok(Ctx {
        ds: Dataset::open(Path::new(dataset))?,
        batch: positive("train", "batch_size")?,
        seq_len: positive("train", "seq_len")?,
        seed: int("data", "seed")?,
        total,
        checkpoints,
    })
}

/// The documents (training split first, then held-out) whose text contains `text`, at most
/// `limit` of them; texts are decoded from the dataset's tokens with its own tokenizer.
pub fn find_text(src: Source<'_>, text: &str, limit: usize) -> Result<Vec<String>> {
    let mut c = src.open()?;
    let path = c.ds.dir().join("tokenizer.json");
    let tk = glassbox_data::tokenizer::load(&path)?;
    let mut found = Vec::new();
    for (split, docs) in [
        ("train", c.ds.train_docs.clone()),
        ("heldout", c.ds.heldout_docs.clone()),
    ] {
        for d in docs {
            if found.len() >= limit {
                return Ok(found);
            }
            let ids = c.ds.read(split, d.start, d.length as usize)?;
            let body = tk.decode(&ids, false).map_err(|e| {
                ReleaseError::bundle(
                    path.clone(),
                    format!("cannot decode document {}: {e}", d.id),
                )
            })?;
            if body.contains(text) {
                found.push(d.id.clone());
            }
        }
    }
    Ok(found)
}

/// Traces document `id` through the bundle's training.
pub fn document(bundle: &Path, id: &str) -> Result<DocTrace> {
    document_at(Source::Bundle(bundle), id)
}

/// Traces document `id` through the training of a bundle or a run.
pub fn document_at(src: Source<'_>, id: &str) -> Result<DocTrace> {
    let c = src.open()?;
    let bundle = &src.dir();
    let d =
        c.ds.train_docs
            .iter()
            .chain(&c.ds.heldout_docs)
            .find(|d| d.id == id)
            .cloned()
            .ok_or_else(|| {
                ReleaseError::bundle(bundle.join("data/index.jsonl"), format!("no document {id}"))
            })?;
    let n = c.ds.num_samples(c.seq_len);
    if n == 0 {
        return Err(ReleaseError::bundle(
            bundle.join("data/manifest.json"),
            format!("the train split holds no sample of seq_len {}", c.seq_len),
        ));
    }
    let epochs = c
        .total
        .checked_mul(c.batch as u64)
        .ok_or_else(|| too_many(bundle, c.total, c.batch))?
        .div_ceil(n)
        .max(1);
    let occurrences: Vec<Occurrence> = if d.split == "train" {
        c.ds.trace(id, c.batch, c.seq_len, c.seed, epochs)?
            .into_iter()
            .filter(|o| o.step < c.total)
            .collect()
    } else {
        Vec::new()
    };
    let first_step = occurrences.first().map(|o| o.step);
    let first_checkpoint = first_step.and_then(|s| c.checkpoints.iter().copied().find(|k| *k > s));
    Ok(DocTrace {
        schema_version: 1,
        id: d.id.clone(),
        source: d.source.clone(),
        lang: d.lang.clone(),
        span: serde_json::json!({"split": d.split, "shard": d.shard, "offset": d.offset, "start": d.start, "length": d.length}),
        tokens_trained: occurrences.iter().map(|o| o.tokens).sum(),
        occurrences,
        first_step,
        first_checkpoint,
    })
}

/// The documents trained on in the first `steps` steps.
pub fn steps(bundle: &Path, steps: u64) -> Result<StepTrace> {
    steps_in(&open(bundle)?, bundle, steps)
}

fn steps_in(c: &Ctx, bundle: &Path, steps: u64) -> Result<StepTrace> {
    if steps > c.total {
        return Err(ReleaseError::bundle(
            bundle.join("release.json"),
            format!(
                "the run trained {} steps; step {steps} is past its end",
                c.total
            ),
        ));
    }
    let n = c.ds.num_samples(c.seq_len);
    if n == 0 {
        return Err(ReleaseError::bundle(
            bundle.join("data/manifest.json"),
            format!("the train split holds no sample of seq_len {}", c.seq_len),
        ));
    }
    let l = c.seq_len as u64;
    let meta: HashMap<&str, (&str, &str)> =
        c.ds.train_docs
            .iter()
            .map(|d| (d.id.as_str(), (d.source.as_str(), d.lang.as_str())))
            .collect();
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut perm: Option<(u64, Vec<u64>)> = None;
    let samples = steps
        .checked_mul(c.batch as u64)
        .filter(|s| s.checked_mul(l + 1).is_some())
        .ok_or_else(|| too_many(bundle, steps, c.batch))?;
    for position in 0..samples {
        let (epoch, k) = (position / n, position % n);
        if perm.as_ref().is_none_or(|(e, _)| *e != epoch) {
            perm = Some((epoch, permutation(n, c.seed, epoch)));
        }
        let index = perm.as_ref().map_or(0, |(_, p)| p[k as usize]);
        for o in c.ds.docs_in(index * l, index * l + l + 1) {
            match seen.get_mut(&o.id) {
                Some(t) => *t += o.tokens,
                None => {
                    order.push(o.id.clone());
                    seen.insert(o.id, o.tokens);
                }
            }
        }
    }
    let mut by_source: BTreeMap<String, Count> = BTreeMap::new();
    let mut by_language: BTreeMap<String, Count> = BTreeMap::new();
    let mut documents = Vec::with_capacity(order.len());
    for id in order {
        let t = seen.get(&id).copied().unwrap_or(0);
        let (src, lang) = meta.get(id.as_str()).copied().unwrap_or(("?", "?"));
        for (map, key) in [(&mut by_source, src), (&mut by_language, lang)] {
            let e = map.entry(key.to_string()).or_default();
            e.documents += 1;
            e.tokens += t;
        }
        documents.push((id, t));
    }
    Ok(StepTrace {
        schema_version: 1,
        steps,
        samples,
        tokens: samples * (l + 1),
        by_source,
        by_language,
        documents,
    })
}

/// The trace of checkpoint `step` (which must exist in the bundle's index).
pub fn checkpoint(bundle: &Path, step: u64) -> Result<StepTrace> {
    let c = open(bundle)?;
    if !c.checkpoints.contains(&step) {
        return Err(ReleaseError::bundle(
            bundle.join("checkpoints/index.json"),
            format!(
                "no checkpoint at step {step}; checkpoints: {:?}",
                c.checkpoints
            ),
        ));
    }
    steps_in(&c, bundle, step)
}
