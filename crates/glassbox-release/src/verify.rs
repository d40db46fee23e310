//! `glassbox verify BUNDLE`: (a) every hash of `MANIFEST.json` and the bundle's internal
//! consistency; (b) the dataset re-derived from the corpus and compared manifest to manifest;
//! (c) training replayed from one checkpoint to the next and compared bit for bit. A mismatch is
//! a failed check naming the file or tensor, never an error; the report passes only when every
//! check that ran passed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glassbox_data::config::CurateConfig;
use glassbox_data::tokenize::{Manifest as DataManifest, TokenizeOptions};
use glassbox_train::data::TrainData;
use glassbox_train::recipe::Recipe;
use serde::Serialize;
use serde_json::{Value, json};

mod replay;

use replay::check_replay;

use crate::manifest::{self, UNLISTED};
use crate::{ReleaseError, Result};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ran and matched.
    Passed,
    /// Ran and found a mismatch (or could not run because the bundle is damaged).
    Failed,
    /// Not run (not requested, or its inputs are not available).
    Skipped,
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `hashes`, `consistency`, `gguf`, `data` or `replay`.
    pub name: &'static str,
    /// Verdict.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// More lines (what differed, where).
    pub details: Vec<String>,
}

impl Check {
    pub(crate) fn new(name: &'static str, status: Status, summary: impl Into<String>) -> Self {
        Self {
            name,
            status,
            summary: summary.into(),
            details: Vec::new(),
        }
    }
}

/// Options of [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Corpus locations: `(source name or None for the only source, path)`.
    pub corpus: Vec<(Option<String>, PathBuf)>,
    /// Re-derive the dataset when the corpus is available.
    pub data: bool,
    /// Replay an interval.
    pub replay: bool,
    /// Replay from this checkpoint step (default: the one before `to`).
    pub from: Option<u64>,
    /// Replay to this checkpoint step (default: the last, or the one after `from`).
    pub to: Option<u64>,
    /// Write `verification.json` into the bundle after a replay.
    pub record: bool,
    /// Where the base model of an adapted run is now (default: the path the run recorded).
    pub base: Option<PathBuf>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            corpus: Vec::new(),
            data: true,
            replay: true,
            from: None,
            to: None,
            record: true,
            base: None,
        }
    }
}

/// The verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `schema_version` of this report (1).
    pub schema_version: u32,
    /// The bundle.
    pub bundle: PathBuf,
    /// One entry per check, in order.
    pub checks: Vec<Check>,
    /// Every check that ran passed (and the hashes ran).
    pub passed: bool,
    /// The checkpoint interval the replay ran over (`from`, `to`), when it ran.
    pub replayed: Option<(u64, u64)>,
}

/// Runs the checks on `bundle`.
pub fn verify(
    bundle: &Path,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    if !bundle.is_dir() {
        return Err(ReleaseError::bundle(bundle, "not a directory"));
    }
    let mut checks = Vec::new();
    progress("hashes");
    // The hashes just checked against MANIFEST.json are reused below, so no file is read twice.
    let (hashes, known) = check_hashes(bundle);
    let trusted = hashes.status == Status::Passed;
    checks.push(hashes);
    let release = if trusted {
        read_release(bundle)
    } else {
        Err("the hash check failed".into())
    };
    progress("consistency");
    let consistency = match &release {
        Ok(r) => check_consistency(bundle, r, &known),
        Err(e) => Check::new("consistency", Status::Skipped, format!("not checked: {e}")),
    };
    let consistent = consistency.status == Status::Passed;
    checks.push(consistency);
    let ready = trusted && consistent;
    let why = if !trusted {
        "the hash check failed"
    } else {
        "the consistency check failed"
    };
    if let (Ok(r), true) = (&release, ready)
        && r.get("gguf")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    {
        progress("gguf");
        if let Some(c) = crate::gguf::check(bundle, r) {
            checks.push(c);
        }
    }
    if opts.data {
        progress("data");
        checks.push(match (&release, ready) {
            (Ok(_), true) => check_data(bundle, opts),
            _ => Check::new("data", Status::Skipped, format!("not checked: {why}")),
        });
    }
    let mut replay_record = None;
    if opts.replay {
        progress("replay");
        let c = match (&release, ready) {
            (Ok(r), true) => check_replay(bundle, r, opts, &mut replay_record, progress),
            _ => Check::new("replay", Status::Failed, format!("not replayed: {why}")),
        };
        checks.push(c);
    }
    let passed = checks.iter().all(|c| c.status != Status::Failed)
        && checks.first().is_some_and(|c| c.status == Status::Passed);
    let replayed = replay_record.as_ref().and_then(|r| {
        Some((
            r.get("from").and_then(Value::as_u64)?,
            r.get("to").and_then(Value::as_u64)?,
        ))
    });
    if opts.replay && opts.record {
        let manifest_sha = glassbox_core::hash::sha256_file(&bundle.join("MANIFEST.json")).ok();
        let mut replay = replay_record.unwrap_or_else(|| json!({}));
        replay["passed"] = json!(passed);
        let record = json!({
            "schema_version": 1,
            "glassbox_version": env!("CARGO_PKG_VERSION"),
            "manifest_sha256": manifest_sha,
            "checks": checks.iter().map(|c| json!({"name": c.name, "status": c.status, "summary": c.summary})).collect::<Vec<_>>(),
            "replay": replay,
        });
        glassbox_core::fsio::write_json_atomic(&bundle.join("verification.json"), &record)?;
    }
    Ok(Report {
        schema_version: 1,
        bundle: bundle.to_path_buf(),
        checks,
        passed,
        replayed,
    })
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// Checks every file against MANIFEST.json; also returns the manifest's hashes by path (all
/// verified when the check passed).
fn check_hashes(bundle: &Path) -> (Check, BTreeMap<String, String>) {
    let m = match manifest::read(bundle) {
        Ok(m) => m,
        Err(e) => {
            return (
                Check::new("hashes", Status::Failed, e.to_string()),
                BTreeMap::new(),
            );
        }
    };
    let known: BTreeMap<String, String> = m
        .files
        .iter()
        .map(|f| (f.path.clone(), f.sha256.clone()))
        .collect();
    let mut bad = Vec::new();
    let mut bytes = 0u64;
    let listed: std::collections::BTreeSet<&str> =
        m.files.iter().map(|f| f.path.as_str()).collect();
    for f in &m.files {
        let p = match manifest::safe_join(bundle, &f.path) {
            Ok(p) => p,
            Err(e) => {
                bad.push(e.to_string());
                continue;
            }
        };
        let Ok(meta) = std::fs::metadata(&p) else {
            bad.push(format!("{}: missing (listed in MANIFEST.json)", f.path));
            continue;
        };
        bytes += meta.len();
        if meta.len() != f.bytes {
            bad.push(format!(
                "{}: {} bytes, MANIFEST.json lists {}",
                f.path,
                meta.len(),
                f.bytes
            ));
            continue;
        }
        match glassbox_core::hash::sha256_file(&p) {
            Ok(h) if h == f.sha256 => {}
            Ok(h) => bad.push(format!(
                "{}: SHA-256 {h}, MANIFEST.json lists {} (the file was modified)",
                f.path, f.sha256
            )),
            Err(e) => bad.push(format!("{}: {e}", f.path)),
        }
    }
    match manifest::list_files(bundle) {
        Ok(all) => {
            for p in all {
                if !listed.contains(p.as_str()) && !UNLISTED.contains(&p.as_str()) {
                    bad.push(format!(
                        "{p}: not listed in MANIFEST.json (added after release)"
                    ));
                }
            }
        }
        Err(e) => bad.push(e.to_string()),
    }
    let check = if bad.is_empty() {
        Check::new(
            "hashes",
            Status::Passed,
            format!(
                "{} files ({}) match MANIFEST.json",
                m.files.len(),
                mib(bytes)
            ),
        )
    } else {
        let mut c = Check::new(
            "hashes",
            Status::Failed,
            format!(
                "{} of {} files do not match MANIFEST.json; first: {}",
                bad.len(),
                m.files.len(),
                bad[0]
            ),
        );
        c.details = bad;
        c
    };
    (check, known)
}

fn read_release(bundle: &Path) -> std::result::Result<Value, String> {
    let p = bundle.join("release.json");
    let v: Value = glassbox_core::fsio::read_json(&p).map_err(|e| e.to_string())?;
    manifest::check_version(&p, &v).map_err(|e| e.to_string())?;
    Ok(v)
}

/// The bundle's recipe with its dataset pointing at the bundle's `data/`.
fn bundle_recipe(bundle: &Path) -> Result<Recipe> {
    let mut r = Recipe::from_file(&bundle.join("recipe.toml"))?;
    r.data.dataset = bundle.join("data");
    Ok(r)
}

/// Where checkpoint `dir` (e.g. `checkpoints/step-0000004`) lives: in the bundle, or in the
/// referenced run directory.
fn checkpoint_dir(bundle: &Path, release: &Value, dir: &str) -> PathBuf {
    if release.pointer("/checkpoints/mode").and_then(Value::as_str) == Some("referenced") {
        let run = release
            .pointer("/checkpoints/run_dir")
            .and_then(Value::as_str)
            .unwrap_or("");
        PathBuf::from(run).join(dir)
    } else {
        bundle.join(dir)
    }
}

fn index_entries(bundle: &Path) -> Result<Vec<Value>> {
    let p = bundle.join("checkpoints/index.json");
    let v: Value = glassbox_core::fsio::read_json(&p)?;
    Ok(v.get("checkpoints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn check_consistency(bundle: &Path, release: &Value, known: &BTreeMap<String, String>) -> Check {
    // A file of the bundle was hashed by the hash check; only referenced ones are read here.
    let sha = |rel: &str, abs: &Path| match known.get(rel) {
        Some(h) if abs.starts_with(bundle) => Ok(h.clone()),
        _ => glassbox_core::hash::sha256_file(abs),
    };
    let mut bad: Vec<String> = Vec::new();
    let recipe = match bundle_recipe(bundle) {
        Ok(r) => Some(r),
        Err(e) => {
            bad.push(format!("recipe.toml no longer parses: {e}"));
            None
        }
    };
    let ds = match TrainData::open(&bundle.join("data")) {
        Ok(d) => Some(d),
        Err(e) => {
            bad.push(format!("the dataset in data/ does not open: {e}"));
            None
        }
    };
    if let (Some(r), Some(ds)) = (&recipe, &ds) {
        let file = release
            .pointer("/order/file")
            .and_then(Value::as_str)
            .unwrap_or("");
        let want = release
            .pointer("/order/sha256")
            .and_then(Value::as_str)
            .unwrap_or("");
        let got = glassbox_core::hash::sha256_hex(&ds.order_bytes(r.train.seq_len, r.data.seed));
        if got != want {
            bad.push(format!("{file}: the data order recomputed from the recipe's seed {} has SHA-256 {got}, release.json lists {want}", r.data.seed));
        }
    }
    let entries = match index_entries(bundle) {
        Ok(e) => e,
        Err(e) => {
            bad.push(format!("checkpoints/index.json: {e}"));
            Vec::new()
        }
    };
    let mut final_model = None;
    let weights = weights_file(release);
    let last = entries
        .iter()
        .filter_map(|c| c.get("step").and_then(Value::as_u64))
        .max();
    for c in &entries {
        let step = c.get("step").and_then(Value::as_u64).unwrap_or(0);
        let dir = c.get("dir").and_then(Value::as_str).unwrap_or("");
        let p = checkpoint_dir(bundle, release, dir);
        if !p.is_dir() {
            bad.push(format!("checkpoint {step}: {} is missing", p.display()));
            continue;
        }
        for (name, want) in c
            .get("files")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let want = want.as_str().unwrap_or("");
            match sha(&format!("{dir}/{name}"), &p.join(name)) {
                Ok(h) if h == want => {}
                Ok(h) => bad.push(format!(
                    "checkpoint {step}: {name} has SHA-256 {h}, checkpoints/index.json lists {want}"
                )),
                Err(e) => bad.push(format!("checkpoint {step}: {e}")),
            }
        }
        if Some(step) == last {
            final_model = c
                .pointer(&format!("/files/{weights}"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    if let Some(want) = final_model {
        match sha(weights, &bundle.join(weights)) {
            Ok(h) if h == want => {}
            Ok(h) => bad.push(format!(
                "{weights} (SHA-256 {h}) is not the final checkpoint's weights ({want})"
            )),
            Err(e) => bad.push(e.to_string()),
        }
    }
    if bad.is_empty() {
        Check::new(
            "consistency",
            Status::Passed,
            format!(
                "recipe parses, dataset opens, data order matches its seed, {} checkpoints match checkpoints/index.json, the released weights are the last checkpoint's",
                entries.len()
            ),
        )
    } else {
        let mut c = Check::new("consistency", Status::Failed, bad[0].clone());
        c.details = bad;
        c
    }
}

/// The file holding what the run trained: the model, or a LoRA run's adapter.
fn weights_file(release: &Value) -> &'static str {
    if release.get("adapter").is_some_and(Value::is_object) {
        "adapter_model.safetensors"
    } else {
        "model.safetensors"
    }
}

fn check_data(bundle: &Path, opts: &VerifyOptions) -> Check {
    if glassbox_data::chat::is_chat_dataset(&bundle.join("data")) {
        return rederive_chat(bundle);
    }
    match rederive(bundle, opts) {
        Ok(c) => c,
        Err(e) => Check::new("data", Status::Failed, format!("re-derivation failed: {e}")),
    }
}

fn rederive(bundle: &Path, opts: &VerifyOptions) -> Result<Check> {
    let sheet: Value = glassbox_core::fsio::read_json(&bundle.join("data/datasheet.json"))?;
    let mut cfg: CurateConfig = serde_json::from_value(
        sheet.get("config").cloned().unwrap_or(Value::Null),
    )
    .map_err(|e| {
        ReleaseError::bundle(
            bundle.join("data/datasheet.json"),
            format!("config does not parse as a curation config: {e}"),
        )
    })?;
    let sources: Vec<Value> = sheet
        .get("sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let only = cfg.sources.len() == 1;
    let mut details = Vec::new();
    for src in &mut cfg.sources {
        let given = opts
            .corpus
            .iter()
            .find(|(n, _)| n.as_deref() == Some(src.name.as_str()) || (n.is_none() && only));
        let path = match given {
            Some((_, p)) => p.clone(),
            None => {
                if src.path.exists() {
                    src.path.clone()
                } else {
                    return Ok(Check::new(
                        "data",
                        Status::Skipped,
                        format!(
                            "corpus of source `{}` not available (recorded at {}); give --corpus PATH to re-derive the dataset",
                            src.name,
                            src.path.display()
                        ),
                    ));
                }
            }
        };
        // The raw files first: the clearest verdict for a corpus that changed.
        let recorded = sources
            .iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(src.name.as_str()));
        for f in recorded
            .and_then(|s| s.get("files"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let rel = f.get("path").and_then(Value::as_str).unwrap_or("");
            let want = f.get("sha256").and_then(Value::as_str).unwrap_or("");
            let file = if path.is_file() {
                path.clone()
            } else {
                path.join(rel)
            };
            match glassbox_core::hash::sha256_file(&file) {
                Ok(h) if h == want => {}
                Ok(h) => {
                    let mut c = Check::new(
                        "data",
                        Status::Failed,
                        format!(
                            "corpus file {} has SHA-256 {h}, but the dataset was built from {want} (source `{}`, {rel}): it is not the corpus this model was trained on",
                            file.display(),
                            src.name
                        ),
                    );
                    c.details = details;
                    return Ok(c);
                }
                Err(e) => {
                    return Ok(Check::new(
                        "data",
                        Status::Failed,
                        format!("corpus file of source `{}`: {e}", src.name),
                    ));
                }
            }
        }
        details.push(format!(
            "source `{}`: {} matches its recorded SHA-256",
            src.name,
            path.display()
        ));
        src.path = path;
    }
    let work = tempfile::tempdir().map_err(|e| ReleaseError::bundle(std::env::temp_dir(), e))?;
    glassbox_data::curate::curate(&cfg, &work.path().join("curated"), &mut |_| {})?;
    let ours: DataManifest = glassbox_core::fsio::read_json(&bundle.join("data/manifest.json"))?;
    let t = TokenizeOptions {
        eos: ours
            .tokenizer
            .get("eos")
            .and_then(Value::as_str)
            .unwrap_or("<|endoftext|>")
            .to_string(),
        heldout_fraction: ours
            .heldout
            .get("fraction")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        heldout_seed: ours
            .heldout
            .get("seed")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        shard_tokens: ours
            .shard_tokens
            .unwrap_or(TokenizeOptions::default().shard_tokens),
        dtype: Some(ours.dtype),
    };
    let theirs = glassbox_data::tokenize::tokenize(
        &work.path().join("curated"),
        &bundle.join("data/tokenizer.json"),
        &work.path().join("dataset"),
        &t,
        &mut |_| {},
    )?;
    let want_curated = ours
        .input
        .get("curated_sha256")
        .and_then(Value::as_str)
        .unwrap_or("");
    let got_curated = theirs
        .input
        .get("curated_sha256")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut diffs = Vec::new();
    if want_curated != got_curated {
        diffs.push(format!("curated corpus: SHA-256 {got_curated}, the bundle's dataset was built from {want_curated} (curation differs)"));
    }
    for (name, split) in &ours.splits {
        let other = theirs.splits.get(name);
        for (i, s) in split.shards.iter().enumerate() {
            match other.and_then(|o| o.shards.get(i)) {
                Some(o) if o.sha256 == s.sha256 => {}
                Some(o) => diffs.push(format!(
                    "data/{}: re-derived SHA-256 {} ({} tokens), bundle {} ({} tokens)",
                    s.file, o.sha256, o.tokens, s.sha256, s.tokens
                )),
                None => diffs.push(format!(
                    "data/{}: not produced by the re-derivation",
                    s.file
                )),
            }
        }
    }
    if ours.index.sha256 != theirs.index.sha256 {
        diffs.push(format!(
            "data/index.jsonl: re-derived SHA-256 {}, bundle {}",
            theirs.index.sha256, ours.index.sha256
        ));
    }
    let strip = |m: &DataManifest| {
        let mut m = m.clone();
        m.orders.clear();
        serde_json::to_value(m).unwrap_or(Value::Null)
    };
    if diffs.is_empty() && strip(&ours) != strip(&theirs) {
        diffs.push("data/manifest.json: the re-derived manifest differs in its metadata".into());
    }
    if diffs.is_empty() {
        let mut c = Check::new(
            "data",
            Status::Passed,
            format!(
                "re-derived from the corpus: curated corpus {}, {} shards and the document index identical",
                &want_curated[..want_curated.len().min(12)],
                ours.splits.values().map(|s| s.shards.len()).sum::<usize>()
            ),
        );
        c.details = details;
        Ok(c)
    } else {
        let mut c = Check::new("data", Status::Failed, diffs[0].clone());
        details.extend(diffs);
        c.details = details;
        Ok(c)
    }
}

/// A chat dataset holds its conversations, tokenizer and template: it is derived again from
/// them and compared rows file by rows file.
fn rederive_chat(bundle: &Path) -> Check {
    let scratch = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => return Check::new("data", Status::Failed, format!("no scratch directory: {e}")),
    };
    match glassbox_infer::sft_dataset::rederive_chat_dataset(
        &bundle.join("data"),
        &scratch.path().join("data"),
    ) {
        Ok(d) if d.is_empty() => Check::new(
            "data",
            Status::Passed,
            "the chat dataset derived again from data/source.jsonl with its tokenizer and template: every rows file identical",
        ),
        Ok(d) => {
            let mut c = Check::new("data", Status::Failed, d[0].clone());
            c.details = d;
            c
        }
        Err(e) => Check::new("data", Status::Failed, format!("re-derivation failed: {e}")),
    }
}
