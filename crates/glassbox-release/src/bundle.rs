//! `glassbox release RUN --out BUNDLE`: assembles a release bundle from a finished training run
//! and its dataset. The bundle is written into a temporary sibling directory and renamed into
//! place at the end, so a failure never leaves a half bundle under the requested name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glassbox_train::checkpoint;
use glassbox_train::data::TrainData;
use glassbox_train::recipe::Recipe;
use serde_json::{Value, json};

use crate::licenses::{self, Resolved};
use crate::manifest::{self, BUNDLE_SCHEMA};
use crate::{ReleaseError, Result};

/// Whether checkpoints travel in the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointMode {
    /// Every checkpoint directory is copied into `checkpoints/` (default): the bundle alone
    /// can be replayed and counts as releasing intermediate checkpoints.
    #[default]
    Include,
    /// Only `checkpoints/index.json` (every file's hash) is copied; replay reads the run
    /// directory recorded in `release.json`. Intermediate checkpoints are then not released.
    Reference,
}

/// Options of [`release`].
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    /// Checkpoints included or referenced.
    pub checkpoints: CheckpointMode,
    /// Replace an existing bundle at the output path.
    pub force: bool,
    /// GGUF copies of the final model to add (`gguf/`), one per type or mix.
    pub gguf: Vec<glassbox_model::gguf::GgufQuant>,
}

/// What [`release`] wrote.
#[derive(Debug, Clone)]
pub struct ReleaseSummary {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Files listed in `MANIFEST.json`.
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Step of the released weights.
    pub final_step: u64,
    /// Checkpoints indexed.
    pub checkpoints: usize,
    /// SHA-256 of `MANIFEST.json`.
    pub manifest_sha256: String,
    /// The licence of each component.
    pub licenses: BTreeMap<String, String>,
}

/// Everything read from the run before anything is written.
pub(crate) struct RunInfo {
    pub recipe: Recipe,
    pub run_json: Value,
    pub index: Value,
    pub final_step: u64,
    pub final_dir: PathBuf,
    pub dataset_dir: PathBuf,
    pub datasheet: Value,
    /// The dataset, opened (every shard or rows file checked against its manifest) once.
    pub dataset: TrainData,
    /// Whether the run trained a LoRA adapter (its checkpoints are adapters).
    pub lora: bool,
}

/// Files of a final checkpoint that the bundle carries at its root: the model in Hugging Face
/// layout, or for a LoRA run the adapter in PEFT's layout; the tokenizer either way.
pub(crate) fn released_files(lora: bool) -> &'static [&'static str] {
    if lora {
        &[
            "adapter_config.json",
            "adapter_model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
        ]
    } else {
        &[
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
        ]
    }
}

fn read_json(p: &Path) -> Result<Value> {
    if !p.exists() {
        return Err(ReleaseError::bundle(p, "missing"));
    }
    Ok(glassbox_core::fsio::read_json(p)?)
}

fn read_run(run: &Path) -> Result<RunInfo> {
    if !run.join("run.json").exists() {
        return Err(ReleaseError::bundle(
            run,
            "not a training run directory (no run.json); train one with `glassbox train RECIPE.toml`",
        ));
    }
    let run_json = read_json(&run.join("run.json"))?;
    let recipe = Recipe::from_file(&run.join("recipe.toml"))?;
    let total = recipe.total_steps();
    let index = read_json(&run.join("checkpoints/index.json"))?;
    let entries = index
        .get("checkpoints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let steps: Vec<u64> = entries
        .iter()
        .filter_map(|c| c.get("step").and_then(Value::as_u64))
        .collect();
    let final_step = steps.iter().copied().max().ok_or_else(|| {
        ReleaseError::bundle(run.join("checkpoints/index.json"), "lists no checkpoint")
    })?;
    if final_step < total {
        return Err(ReleaseError::bundle(
            run,
            format!(
                "the run stopped at step {final_step} of {total}; finish it with `glassbox train --resume {}` before releasing",
                run.display()
            ),
        ));
    }
    // Every checkpoint must still match its own hashes: a damaged one is not released.
    for c in &entries {
        let dir = c.get("dir").and_then(Value::as_str).unwrap_or_default();
        let p = run.join(dir);
        checkpoint::verify(&p).map_err(|e| {
            ReleaseError::bundle(
                &p,
                format!("checkpoint is missing or damaged ({e}); it cannot be released"),
            )
        })?;
    }
    let final_dir = run
        .join("checkpoints")
        .join(checkpoint::dir_name(final_step));
    let dataset_dir = recipe.data.dataset.clone();
    let dataset = TrainData::open(&dataset_dir)?;
    let want = run_json
        .pointer("/dataset/manifest_sha256")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let got = glassbox_core::hash::sha256_file(&dataset_dir.join("manifest.json"))?;
    if got != want {
        return Err(ReleaseError::bundle(
            dataset_dir.join("manifest.json"),
            format!(
                "SHA-256 {got} differs from the {want} the run trained on (run.json); the dataset changed after training"
            ),
        ));
    }
    // A chat dataset has no curation datasheet: its data licence comes from the recipe.
    let datasheet = match &dataset {
        TrainData::Tokens(_) => read_json(&dataset_dir.join("datasheet.json"))?,
        TrainData::Chat(_) => json!({}),
    };
    Ok(RunInfo {
        lora: recipe.lora.is_some(),
        recipe,
        run_json,
        index,
        final_step,
        final_dir,
        dataset_dir,
        datasheet,
        dataset,
    })
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ReleaseError::bundle(parent, e))?;
    }
    std::fs::copy(from, to)
        .map_err(|e| ReleaseError::bundle(from, format!("cannot copy to {}: {e}", to.display())))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for rel in manifest::list_files(from)? {
        let name = rel.rsplit('/').next().unwrap_or("");
        if name.starts_with(".tmp") {
            continue;
        }
        copy_file(&from.join(&rel), &to.join(&rel))?;
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ReleaseError::bundle(parent, e))?;
    }
    glassbox_core::fsio::atomic_write(path, bytes)?;
    Ok(())
}

fn license_file(r: &Resolved) -> String {
    if r.texts.len() == 1 {
        return r.texts[0].1.clone();
    }
    let mut s = format!("This component is licensed under {}.\n", r.expression);
    for (id, t) in &r.texts {
        s.push_str(&format!("\n==== {id} ====\n\n{t}\n"));
    }
    s
}

/// The data licence: the recipe's, else the sources' declared licences (every source must
/// declare one).
fn data_license(info: &RunInfo) -> Result<String> {
    if let Some(l) = &info.recipe.release.data_license {
        return Ok(l.clone());
    }
    let mut names: Vec<String> = Vec::new();
    for s in info
        .datasheet
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
        let l = s
            .get("license")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        if l.is_empty() || l.eq_ignore_ascii_case("unknown") {
            return Err(ReleaseError::License {
                key: "data_license".into(),
                value: String::new(),
                message: format!(
                    "the dataset's source `{name}` declares no licence ({}); declare it in the curation sources or set [release] data_license",
                    if l.is_empty() { "empty" } else { l }
                ),
            });
        }
        let canonical =
            licenses::resolve("data_license", l, &info.recipe.release.license_texts)?.expression;
        if !names.contains(&canonical) {
            names.push(canonical);
        }
    }
    if names.is_empty() {
        return Err(ReleaseError::License {
            key: "data_license".into(),
            value: String::new(),
            message: "the datasheet lists no sources; set [release] data_license".into(),
        });
    }
    Ok(names.join(" AND "))
}

/// ISO 639-3 (whatlang) → ISO 639-1 for the card, where one exists.
fn iso639_1(code: &str) -> String {
    let map = [
        ("eng", "en"),
        ("spa", "es"),
        ("fra", "fr"),
        ("deu", "de"),
        ("por", "pt"),
        ("ita", "it"),
        ("nld", "nl"),
        ("cat", "ca"),
        ("rus", "ru"),
        ("cmn", "zh"),
        ("jpn", "ja"),
        ("kor", "ko"),
        ("ara", "ar"),
        ("hin", "hi"),
        ("pol", "pl"),
        ("swe", "sv"),
        ("fin", "fi"),
        ("tur", "tr"),
        ("ukr", "uk"),
        ("ell", "el"),
    ];
    map.iter()
        .find(|(a, _)| *a == code)
        .map_or(code.to_string(), |(_, b)| b.to_string())
}

/// Assembles the bundle of `run` at `out`.
pub fn release(
    run: &Path,
    out: &Path,
    opts: &ReleaseOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ReleaseSummary> {
    let mut info = read_run(run)?;
    if info.lora && info.run_json.get("init").is_none_or(Value::is_null) {
        return Err(ReleaseError::bundle(
            run.join("recipe.toml"),
            "this LoRA run adapts a randomly initialised model, not a released one; an adapter bundle needs a base model directory ([model] init)",
        ));
    }
    let rel = &info.recipe.release;
    let texts = &rel.license_texts;
    let weights = licenses::resolve("weights_license", &rel.weights_license, texts)?;
    let code = licenses::resolve("code_license", &rel.code_license, texts)?;
    let docs = licenses::resolve("docs_license", &rel.docs_license, texts)?;
    let data = licenses::resolve("data_license", &data_license(&info)?, texts)?;

    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty && !opts.force {
            return Err(ReleaseError::bundle(
                out,
                "already exists; choose another --out, or --force to replace it",
            ));
        }
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ReleaseError::bundle(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".glassbox-release-")
        .tempdir_in(parent)
        .map_err(|e| {
            ReleaseError::bundle(parent, format!("cannot create a temporary directory: {e}"))
        })?;
    let b = tmp.path();

    // 1. The final model, Hugging Face layout.
    progress("final model");
    for f in released_files(info.lora) {
        copy_file(&info.final_dir.join(f), &b.join(f))?;
    }
    // 2. Recipe, run record, logs, plot.
    progress("recipe, logs");
    copy_file(&run.join("recipe.toml"), &b.join("recipe.toml"))?;
    copy_file(&run.join("run.json"), &b.join("run.json"))?;
    for f in [
        "logs/train.jsonl",
        "logs/eval.jsonl",
        "loss.svg",
        "samples/samples.md",
    ] {
        if run.join(f).exists() {
            copy_file(&run.join(f), &b.join(f))?;
        }
    }
    // Evaluations of every checkpoint (`glassbox eval --run`): their results and curves.
    if let Ok(entries) = std::fs::read_dir(run.join("evals")) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|x| x == "jsonl" || x == "svg" || x == "json")
            })
            .collect();
        files.sort();
        for f in files {
            if let Some(name) = f.file_name() {
                copy_file(&f, &b.join("evals").join(name))?;
            }
        }
        copy_eval_tasks(&run.join("evals/tasks"), &b.join("evals/tasks"))?;
    }
    // 3. The dataset, its data order and licence.
    progress("dataset");
    copy_dir(&info.dataset_dir, &b.join("data"))?;
    // The copy is byte-identical to the dataset opened (and checked) above; it is read from there.
    let ds = &mut info.dataset;
    let (seq_len, seed) = (info.recipe.train.seq_len, info.recipe.data.seed);
    let order_rel = format!("data/order/order-L{seq_len}-S{seed}.bin");
    let order = ds.order_bytes(seq_len, seed);
    let heldout_units = heldout_units(ds);
    write(&b.join(&order_rel), &order)?;
    write(&b.join("data/LICENSE"), license_file(&data).as_bytes())?;
    // 4. Checkpoints.
    progress("checkpoints");
    copy_file(
        &run.join("checkpoints/index.json"),
        &b.join("checkpoints/index.json"),
    )?;
    let entries = info
        .index
        .get("checkpoints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if opts.checkpoints == CheckpointMode::Include {
        for c in &entries {
            let dir = c.get("dir").and_then(Value::as_str).unwrap_or_default();
            copy_dir(&run.join(dir), &b.join(dir))?;
        }
    }
    // 5. Evaluation data and results.
    progress("evaluation");
    let heldout = heldout_text(ds, &b.join("data/tokenizer.json"))?;
    write(&b.join("eval/heldout-data.jsonl"), heldout.as_bytes())?;
    // The held-out documents are corpus text: they carry the data's licence.
    write(&b.join("eval/LICENSE"), license_file(&data).as_bytes())?;
    let evals: Vec<Value> = std::fs::read_to_string(run.join("logs/eval.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let last_eval = evals.last().cloned();
    let results = json!({
        "schema_version": BUNDLE_SCHEMA,
        "task": "next-token prediction on the held-out split",
        "data": "eval/heldout-data.jsonl",
        "windows": info.recipe.eval.windows,
        "seq_len": seq_len,
        "final": last_eval,
        "history": evals,
    });
    glassbox_core::fsio::write_json_atomic(&b.join("eval/eval_results.json"), &results)?;
    // 6. Code: the source this glassbox was built from, and its revision.
    progress("code");
    let revision = crate::revision::revision();
    glassbox_core::fsio::write_json_atomic(&b.join("code_revision.json"), &revision)?;
    for (path, bytes) in crate::revision::sources() {
        let p = manifest::safe_join(&b.join("code"), path)?;
        write(&p, bytes)?;
    }
    write(&b.join("code/LICENSE"), license_file(&code).as_bytes())?;
    // 7. Licences.
    write(&b.join("LICENSE"), license_file(&weights).as_bytes())?;
    for r in [&weights, &code, &docs, &data] {
        for (id, t) in &r.texts {
            write(&b.join(format!("licenses/{id}.txt")), t.as_bytes())?;
        }
    }
    // 8. release.json, the paper, the card.
    let name = rel.name.clone().unwrap_or_else(|| {
        run.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "glassbox-model".into())
    });
    let mut language: Vec<String> = rel.language.clone();
    if language.is_empty()
        && let Some(l) = info.datasheet.get("languages").and_then(Value::as_object)
    {
        language = l.keys().map(|k| iso639_1(k)).collect();
    }
    let mut licences = BTreeMap::new();
    licences.insert("weights".to_string(), weights.expression.clone());
    licences.insert("code".to_string(), code.expression.clone());
    licences.insert("data".to_string(), data.expression.clone());
    licences.insert("docs".to_string(), docs.expression.clone());
    let sources: Vec<Value> = info
        .datasheet
        .get("sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let name = s.get("name").cloned().unwrap_or(Value::Null);
            let original = info
                .datasheet
                .pointer("/config/source")
                .and_then(Value::as_array)
                .and_then(|l| l.iter().find(|c| c.get("name") == Some(&name)))
                .and_then(|c| c.get("path").cloned())
                .unwrap_or(Value::Null);
            json!({"name": name, "license": s.get("license"), "url": s.get("url"), "files": s.get("files"), "path": original})
        })
        .collect();
    // GGUF copies of the final model, recorded so that `verify` can make them again.
    if info.lora && !opts.gguf.is_empty() {
        return Err(ReleaseError::bundle(
            run,
            "a LoRA run releases an adapter; GGUF copies are made of a whole model (merge the adapter first)",
        ));
    }
    if !opts.gguf.is_empty() {
        progress("gguf");
    }
    let gguf = crate::gguf::export(b, &opts.gguf, &name, &weights.expression)?;
    let release_json = json!({
        "schema_version": BUNDLE_SCHEMA,
        "glassbox_version": env!("CARGO_PKG_VERSION"),
        "name": name,
        "language": language,
        "licenses": licences,
        "final_step": info.final_step,
        "total_steps": info.recipe.total_steps(),
        "parameters": info.run_json.get("parameters"),
        "threads": info.run_json.get("threads"),
        // Where it trained (`cpu`, `cuda:N`); older runs did not record it (the CPU).
        "device": info.run_json.get("device").cloned().unwrap_or(Value::Null),
        // A run trained by another engine from a glassbox export (`glassbox import-run`).
        "trained_by": info.run_json.get("trained_by").cloned().unwrap_or(Value::Null),
        // The model training started from (continual pre-training), with its hashes and terms.
        "base": info.run_json.get("init").cloned().unwrap_or(Value::Null),
        "recipe_sha256": glassbox_core::hash::sha256_file(&run.join("recipe.toml"))?,
        "dataset": {
            "dir": "data",
            "kind": match ds { TrainData::Tokens(_) => "tokens", TrainData::Chat(_) => "chat" },
            "manifest_sha256": glassbox_core::hash::sha256_file(&b.join("data/manifest.json"))?,
            "train_tokens": ds.tokens_in("train"),
            "heldout_tokens": ds.tokens_in("heldout"),
            // Held-out documents, or held-out conversations of a chat dataset.
            "heldout_documents": heldout_units,
        },
        // A LoRA run releases its adapter (PEFT layout) for the base named in `base`.
        "adapter": if info.lora { read_json(&b.join("adapter_config.json"))? } else { Value::Null },
        "order": {
            "file": order_rel,
            "sha256": glassbox_core::hash::sha256_hex(&order),
            "seq_len": seq_len,
            "seed": seed,
            "samples": ds.num_samples(seq_len),
            "batch_size": info.recipe.train.batch_size,
        },
        "checkpoints": {
            "mode": match opts.checkpoints { CheckpointMode::Include => "included", CheckpointMode::Reference => "referenced" },
            "run_dir": std::path::absolute(run).unwrap_or_else(|_| run.to_path_buf()).display().to_string(),
            "steps": entries.iter().filter_map(|c| c.get("step").cloned()).collect::<Vec<_>>(),
        },
        "sources": sources,
        // Tasks evaluated at every checkpoint: `evals/<task>.jsonl` and `.svg`.
        "evals": evals_in(b),
        "gguf": gguf,
        "code": {"commit": revision.get("commit"), "dirty": revision.get("dirty"), "repository": revision.get("repository")},
    });
    glassbox_core::fsio::write_json_atomic(&b.join("release.json"), &release_json)?;
    progress("card and paper");
    let ctx = crate::card::Context {
        name: &name,
        release: &release_json,
        run_json: &info.run_json,
        recipe: &info.recipe,
        datasheet: &info.datasheet,
        evals: &evals,
        curves: &crate::card_evals::read_curves(b, &evals_in(b)),
        revision: &revision,
        checkpoints: &entries,
    };
    write(
        &b.join("paper/paper.md"),
        crate::card::paper(&ctx).as_bytes(),
    )?;
    write(&b.join("paper/LICENSE"), license_file(&docs).as_bytes())?;
    write(
        &b.join("README.md"),
        crate::card::model_card(&ctx).as_bytes(),
    )?;
    // 9. The manifest, then the bundle takes its name.
    progress("manifest");
    let m = manifest::write(b)?;
    let manifest_sha256 = glassbox_core::hash::sha256_file(&b.join("MANIFEST.json"))?;
    if out.exists() {
        std::fs::remove_dir_all(out)
            .map_err(|e| ReleaseError::bundle(out, format!("cannot replace: {e}")))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        ReleaseError::bundle(
            out,
            format!("cannot move the finished bundle into place: {e}"),
        )
    })?;
    Ok(ReleaseSummary {
        bundle: out.to_path_buf(),
        files: m.files.len(),
        bytes: m.files.iter().map(|f| f.bytes).sum(),
        final_step: info.final_step,
        checkpoints: entries.len(),
        manifest_sha256,
        licenses: licences,
    })
}

/// Held-out documents (pre-training data) or conversations (chat data).
fn heldout_units(ds: &TrainData) -> u64 {
    match ds {
        TrainData::Tokens(d) => d.heldout_docs.len() as u64,
        TrainData::Chat(d) => d.manifest.splits.get("heldout").map_or(0, |s| s.examples),
    }
}

/// `eval/heldout-data.jsonl`: every held-out document, or every held-out conversation as its
/// rendered text, one JSON line each.
fn heldout_text(ds: &mut TrainData, tokenizer: &Path) -> Result<String> {
    let tk = glassbox_data::tokenizer::load(tokenizer)?;
    let decode = |ids: &[u32], what: &str| {
        tk.decode(ids, false)
            .map_err(|e| ReleaseError::bundle(tokenizer, format!("cannot decode {what}: {e}")))
    };
    let mut out = String::new();
    match ds {
        TrainData::Tokens(ds) => {
            for (d, text) in ds.heldout_texts()? {
                let line = json!({"id": d.id, "source": d.source, "lang": d.lang, "tokens": d.length, "text": text});
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
        TrainData::Chat(ds) => {
            for (i, r) in ds.heldout().iter().enumerate() {
                let segs: std::collections::BTreeSet<u32> =
                    r.segments.iter().copied().filter(|&s| s != 0).collect();
                for s in segs {
                    let ids: Vec<u32> = r
                        .tokens
                        .iter()
                        .zip(&r.segments)
                        .filter(|(_, g)| **g == s)
                        .map(|(t, _)| *t)
                        .collect();
                    let trained = r
                        .trained
                        .iter()
                        .zip(&r.segments)
                        .filter(|(t, g)| **t && **g == s)
                        .count();
                    let text = decode(&ids, &format!("held-out row {i}"))?;
                    let line = json!({"row": i, "segment": s, "tokens": ids.len(), "assistant_tokens": trained, "text": text});
                    out.push_str(&line.to_string());
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

/// The tasks whose checkpoint curves the bundle carries (`evals/<task>.jsonl`), sorted.
/// The task files of the evaluations (`RUN/evals/tasks/`): each `<task>.jsonl`, and its
/// `<task>.yaml` with the data path made relative (`<task>.jsonl`, beside it), so the bundle's
/// evaluation runs again from `evals/tasks/`.
fn copy_eval_tasks(from: &Path, to: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    let mut yamls: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    yamls.sort();
    for y in yamls {
        let (Some(stem), Some(name)) = (y.file_stem(), y.file_name()) else {
            continue;
        };
        let data = from.join(format!("{}.jsonl", stem.to_string_lossy()));
        if !data.is_file() {
            continue;
        }
        copy_file(&data, &to.join(format!("{}.jsonl", stem.to_string_lossy())))?;
        let text = std::fs::read_to_string(&y).map_err(|e| ReleaseError::bundle(&y, e))?;
        // The data path glassbox eval wrote (`    test: "/…/<task>.jsonl"`), made relative.
        let rel: String = text
            .lines()
            .map(|l| match l.strip_prefix("    test: ") {
                Some(_) => format!(
                    "    test: {:?}\n",
                    format!("{}.jsonl", stem.to_string_lossy())
                ),
                None => format!("{l}\n"),
            })
            .collect();
        write(&to.join(name), rel.as_bytes())?;
    }
    Ok(())
}

fn evals_in(b: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(b.join("evals"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".jsonl").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}
