//! `glassbox quickstart --adapt es`: the multilingual experiment. The quickstart's English base
//! is adapted to Spanish three ways, each an ordinary glassbox run in a process of its own (so
//! its peak memory is its own):
//!
//! - (a) **LoRA** on every projection, the base frozen;
//! - (b) **continual pre-training** of every weight on the Spanish data (the base's tokenizer);
//! - (c) **vocabulary expansion**: the tokenizer extended with Spanish tokens, the model grown to
//!   it (new rows at the mean of the old), a warm-up of the new rows alone, then continual
//!   pre-training — the same number of steps in all as (b).
//!
//! All four models are then measured on the same held-out English and Spanish text: bits per
//! UTF-8 byte (so models with different tokenizers compare), Spanish fertility (tokens per
//! word), trainable parameters, peak memory and wall time. The table goes to
//! `adapt-es/results.md` and `results.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use glassbox_data::dataset::Dataset;
use serde_json::{Value, json};

use super::quickstart::{s, step};

/// What the experiment starts from and how long it trains.
pub(crate) struct Plan {
    /// The quickstart's output directory.
    pub out: PathBuf,
    /// The base model (the quickstart run's final checkpoint).
    pub base: PathBuf,
    /// The base's tokenizer.
    pub tokenizer: PathBuf,
    /// The English dataset (its held-out split is the English test text).
    pub en_dataset: PathBuf,
    /// The Spanish text and its licence.
    pub es_corpus: PathBuf,
    /// Licence of the Spanish text.
    pub es_license: String,
    /// Optimiser steps of each adaptation.
    pub steps: u64,
    /// LoRA rank of (a).
    pub rank: usize,
    /// Tokens the Spanish extension of the tokenizer may add.
    pub add_tokens: usize,
    /// Bytes of held-out text per language the models are measured on.
    pub eval_bytes: usize,
    /// Whether the Spanish text is verse-per-line (`Book C:V: text`).
    pub verses: bool,
    /// The English corpus when both are verse-per-line: the models then also take the
    /// built-in English↔Spanish verse choice (`parallel`).
    pub en_verses: Option<PathBuf>,
}

/// One adaptation's training cost.
#[derive(Debug, Clone, Default)]
struct Cost {
    trainable: u64,
    peak_mib: u64,
    seconds: f64,
}

/// Runs the experiment; prints and writes the table.
pub(crate) fn run(p: &Plan) -> Result<()> {
    let dir = p.out.join("adapt-es");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    println!(
        "\n== adapt to Spanish three ways ({} steps each) and measure",
        p.steps
    );
    // 1. The Spanish data, curated as the English was, tokenised with the base's tokenizer.
    // Scripture-specific: the English-web quality and repetition filters would drop Spanish
    // text (Gopher's stop words are English); deduplication stays on.
    let sources = dir.join("sources.toml");
    let mut toml = format!(
        "# Written by glassbox quickstart --adapt es.\n[[source]]\nname = \"corpus-es\"\npath = {:?}\nlicense = {:?}\n",
        p.es_corpus.display().to_string(),
        p.es_license
    );
    if p.verses {
        toml.push_str("split = \"group\"\ngroup_pattern = '^(.+? \\d+):\\d+:'\nstrip_pattern = '^.+? \\d+:\\d+: '\n");
    } else {
        toml.push_str("split = \"line\"\npack_words = 200\n");
    }
    toml.push_str("\n[steps]\ngopher_quality = false\ngopher_repetition = false\nc4 = false\nfineweb = false\n");
    glassbox_core::fsio::atomic_write(&sources, toml.as_bytes())?;
    let curated = dir.join("curated");
    let dataset = dir.join("dataset");
    if !dataset.join("manifest.json").exists() {
        remove(&curated)?;
        step(
            "curate the Spanish text",
            &[
                "data",
                "curate",
                "--config",
                s(&sources)?,
                "--out",
                s(&curated)?,
            ],
        )?;
        step(
            "tokenize it with the English tokenizer",
            &[
                "data",
                "tokenize",
                "--input",
                s(&curated)?,
                "--tokenizer",
                s(&p.tokenizer)?,
                "--out",
                s(&dataset)?,
                "--heldout",
                "0.01",
            ],
        )?;
    }
    // The extended tokenizer and the grown model for (c).
    let tok_es = dir.join("tokenizer-es.json");
    let dataset_ext = dir.join("dataset-ext");
    let grown = dir.join("grown");
    let add = p.add_tokens.to_string();
    if !dataset_ext.join("manifest.json").exists() {
        step(
            "extend the tokenizer with Spanish tokens (existing ids unchanged)",
            &[
                "data",
                "tokenizer",
                "extend",
                "--tokenizer",
                s(&p.tokenizer)?,
                "--input",
                s(&curated)?,
                "--add",
                &add,
                "--out",
                s(&tok_es)?,
            ],
        )?;
        step(
            "tokenize the Spanish text with the extended tokenizer",
            &[
                "data",
                "tokenize",
                "--input",
                s(&curated)?,
                "--tokenizer",
                s(&tok_es)?,
                "--out",
                s(&dataset_ext)?,
                "--heldout",
                "0.01",
            ],
        )?;
    }
    if !grown.join("model.safetensors").exists() {
        remove(&grown)?;
        step(
            "grow the model to the extended tokenizer (new rows at the mean of the old)",
            &[
                "resize-vocab",
                "--model",
                s(&p.base)?,
                "--tokenizer",
                s(&tok_es)?,
                "--out",
                s(&grown)?,
            ],
        )?;
    }
    let old_vocab = glassbox_data::tokenizer::load(&p.tokenizer)?.get_vocab_size(true);

    // 2. The three adaptations.
    let n = p.steps;
    let warm = (n / 4).max(1);
    let lora_section = format!(
        "\n[lora]\nr = {}\nalpha = {}\ntargets = [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"]\nseed = 0\n",
        p.rank,
        2 * p.rank
    );
    let lora = train(
        &dir,
        "lora",
        &recipe(&dataset, &p.base, 2e-3, n, ""),
        &lora_section,
    )?;
    let cpt = train(&dir, "cpt", &recipe(&dataset, &p.base, 1e-3, n, ""), "")?;
    let rows = format!("rows_from = {old_vocab}\n");
    let warmup = train(
        &dir,
        "vocab-warmup",
        &recipe(&dataset_ext, &grown, 3e-3, warm, &rows),
        "",
    )?;
    let warm_ck = run_final(&dir.join("vocab-warmup"), warm);
    let vocab = train(
        &dir,
        "vocab-cpt",
        &recipe(
            &dataset_ext,
            &warm_ck,
            1e-3,
            n.saturating_sub(warm).max(1),
            "",
        ),
        "",
    )?;
    let vocab_cost = Cost {
        trainable: vocab.trainable,
        peak_mib: warmup.peak_mib.max(vocab.peak_mib),
        seconds: warmup.seconds + vocab.seconds,
    };

    // 3. Measure every model on the same held-out text.
    println!("\n== measure: held-out bits per byte (English, Spanish) and Spanish fertility");
    let en_text = heldout_text(&p.en_dataset, p.eval_bytes)?;
    let es_text = heldout_text(&dataset, p.eval_bytes)?;
    let fert = |tok: &Path| -> Result<f64> {
        let t = glassbox_data::tokenizer::load(tok)?;
        let enc = t
            .encode(es_text.as_str(), false)
            .map_err(|e| anyhow::anyhow!("{}: {e}", tok.display()))?;
        Ok(enc.get_ids().len() as f64 / es_text.split_whitespace().count().max(1) as f64)
    };
    let rows_of = [
        (
            "English base",
            p.base.clone(),
            None,
            p.tokenizer.clone(),
            Cost::default(),
            "—".to_string(),
        ),
        (
            "(a) LoRA",
            p.base.clone(),
            Some(run_final(&dir.join("lora"), n)),
            p.tokenizer.clone(),
            lora,
            format!("r = {}, all projections", p.rank),
        ),
        (
            "(b) continual pre-training",
            run_final(&dir.join("cpt"), n),
            None,
            p.tokenizer.clone(),
            cpt,
            "every weight".into(),
        ),
        (
            "(c) vocabulary + continual pre-training",
            run_final(&dir.join("vocab-cpt"), n.saturating_sub(warm).max(1)),
            None,
            tok_es.clone(),
            vocab_cost,
            format!(
                "+{} tokens; {warm} steps new rows only, then every weight",
                vocab_new(&tok_es, old_vocab)?
            ),
        ),
    ];
    // The English↔Spanish verse choice over verses whose Spanish text is held out.
    let parallel = match (&p.en_verses, p.verses) {
        (Some(en), true) => {
            let va = glassbox_eval::corpus_tasks::read_verses(en)?;
            let vb = glassbox_eval::corpus_tasks::read_verses(&p.es_corpus)?;
            let keep = glassbox_eval::builtin::heldout_texts(&dataset)?;
            let o = glassbox_eval::corpus_tasks::CorpusTaskOptions {
                seed: 1234,
                max_docs: 100,
            };
            match glassbox_eval::corpus_tasks::write_parallel_task(
                ("English", &va),
                ("Spanish", &vb),
                Some(&keep),
                &o,
                &dir.join("tasks"),
            ) {
                Ok(t) => Some(t),
                Err(e) => {
                    println!("(no English↔Spanish verse choice: {e})");
                    None
                }
            }
        }
        _ => None,
    };
    let mut table = String::from(
        "| model | Spanish bits/byte | English bits/byte | en↔es verse choice (acc) | Spanish tokens/word | trainable parameters | peak memory | training time | notes |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut results = Vec::new();
    for (i, (name, model, adapter, tok, cost, notes)) in rows_of.iter().enumerate() {
        let engine = super::common::load_engine(model, adapter.as_deref(), Default::default())?;
        let es = bits_per_byte(&engine, &es_text)?;
        let en = bits_per_byte(&engine, &en_text)?;
        let f = fert(tok)?;
        let choice = match &parallel {
            Some(t) => Some(
                glassbox_eval::evaluate::evaluate(
                    t,
                    &engine,
                    &glassbox_eval::evaluate::EvalOptions::default(),
                )?
                .metrics
                .get("acc")
                .copied()
                .unwrap_or(0.0),
            ),
            None => None,
        };
        let (params, mem, secs) = if i == 0 {
            ("—".to_string(), "—".to_string(), "—".to_string())
        } else {
            (
                cost.trainable.to_string(),
                format!("{} MiB", cost.peak_mib),
                format!("{:.0} s", cost.seconds),
            )
        };
        table.push_str(&format!(
            "| {name} | {es:.3} | {en:.3} | {} | {f:.2} | {params} | {mem} | {secs} | {notes} |\n",
            choice.map_or("—".to_string(), |c| format!("{c:.2}"))
        ));
        results.push(json!({
            "model": name, "es_bits_per_byte": es, "en_bits_per_byte": en, "es_tokens_per_word": f,
            "en_es_verse_choice_acc": choice,
            "trainable_parameters": cost.trainable, "peak_rss_mib": cost.peak_mib, "seconds": cost.seconds,
            "notes": notes,
        }));
    }
    let meta = json!({
        "schema_version": 1,
        "steps": n,
        "batch_size": 8,
        "seq_len": 128,
        "eval_bytes": {"en": en_text.len(), "es": es_text.len()},
        "threads": glassbox_train::trainer::threads_in_use(),
        "results": results,
    });
    glassbox_core::fsio::write_json_atomic(&dir.join("results.json"), &meta)?;
    glassbox_core::fsio::atomic_write(&dir.join("results.md"), table.as_bytes())?;
    println!("{table}");
    println!(
        "(held-out text: the first {} bytes of English and {} bytes of Spanish held-out documents; written to {})",
        en_text.len(),
        es_text.len(),
        dir.join("results.md").display()
    );
    Ok(())
}

/// The recipe of one adaptation run.
fn recipe(dataset: &Path, init: &Path, lr: f64, steps: u64, train_extra: &str) -> String {
    // Absolute: a recipe's relative paths are read from the recipe's own directory.
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (dataset, init) = (abs(dataset), abs(init));
    format!(
        "# Written by glassbox quickstart --adapt es.\n[data]\ndataset = {:?}\nseed = 1234\n\n[model]\ninit = {:?}\n\n[optim]\nlr = {lr:e}\nweight_decay = 0.1\n\n[schedule]\nwarmup_steps = {}\ndecay = \"cosine\"\nmin_lr = {:e}\n\n[train]\nbatch_size = 8\nseq_len = 128\nsteps = {steps}\n{train_extra}\n[eval]\ninterval = {}\nwindows = 16\n\n[checkpoints]\nschedule = \"pythia\"\nevery = 100\n",
        dataset.display().to_string(),
        init.display().to_string(),
        (steps / 10).max(1),
        lr / 10.0,
        (steps / 4).max(1),
    )
}

/// The final checkpoint of the run in `dir` after `steps`.
fn run_final(dir: &Path, steps: u64) -> PathBuf {
    dir.join("checkpoints")
        .join(glassbox_train::checkpoint::dir_name(steps))
}

/// Trains `name` in its own process (reusing a finished run and its recorded cost).
fn train(dir: &Path, name: &str, recipe_text: &str, extra: &str) -> Result<Cost> {
    let run = dir.join(name);
    let cost_file = run.join("experiment-cost.json");
    let text = format!("{recipe_text}{extra}");
    let recipe = dir.join(format!("{name}.toml"));
    let same = std::fs::read_to_string(&recipe).is_ok_and(|t| t == text);
    if same && let Ok(v) = glassbox_core::fsio::read_json::<Value>(&cost_file) {
        println!(
            "\n== {name}: finished earlier (delete {} to train again)",
            run.display()
        );
        return Ok(Cost {
            trainable: v["trainable"].as_u64().unwrap_or(0),
            peak_mib: v["peak_mib"].as_u64().unwrap_or(0),
            seconds: v["seconds"].as_f64().unwrap_or(0.0),
        });
    }
    remove(&run)?;
    glassbox_core::fsio::atomic_write(&recipe, text.as_bytes())?;
    println!(
        "\n== {name}\n$ glassbox train {} --out {}",
        recipe.display(),
        run.display()
    );
    let clock = Instant::now();
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["train", s(&recipe)?, "--out", s(&run)?])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting glassbox train")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success() {
        bail!("the {name} run failed ({})", out.status);
    }
    let seconds = clock.elapsed().as_secs_f64();
    let peak_mib = stdout
        .split("peak memory ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let trainable = trainable_parameters(&run)?;
    let cost = Cost {
        trainable,
        peak_mib,
        seconds,
    };
    glassbox_core::fsio::write_json_atomic(
        &cost_file,
        &json!({"trainable": trainable, "peak_mib": peak_mib, "seconds": seconds}),
    )?;
    Ok(cost)
}

/// Parameters the optimiser of the run in `run` updated: the sizes of the first moments in its
/// step-0 checkpoint's `optimizer.safetensors` (counting only rows that may change for a
/// `rows_from` run).
fn trainable_parameters(run: &Path) -> Result<u64> {
    let ck = run_final(run, 0);
    let f =
        glassbox_model::safetensors_io::SafetensorsFile::open(&ck.join("optimizer.safetensors"))?;
    let recipe = glassbox_train::recipe::Recipe::from_file(&run.join("recipe.toml"))?;
    let mut n = 0u64;
    for (name, info) in f.tensors() {
        if !name.starts_with("m.") {
            continue;
        }
        let shape = &info.shape;
        let count: u64 = shape.iter().map(|&d| d as u64).product();
        n += match (recipe.train.rows_from, shape.first()) {
            (Some(from), Some(&rows)) if rows > from => count / rows as u64 * (rows - from) as u64,
            _ => count,
        };
    }
    Ok(n)
}

/// How many tokens the extension added.
fn vocab_new(tok: &Path, old: usize) -> Result<usize> {
    Ok(glassbox_data::tokenizer::load(tok)?
        .get_vocab_size(true)
        .saturating_sub(old))
}

/// The first `max_bytes` (cut at a document boundary, at least one document) of the held-out
/// documents of `dataset`, decoded with its tokenizer and joined by newlines.
fn heldout_text(dataset: &Path, max_bytes: usize) -> Result<String> {
    let mut text = String::new();
    for (_, doc) in Dataset::open(dataset)?.heldout_texts()? {
        if !text.is_empty() && text.len() + doc.len() + 1 > max_bytes {
            break;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&doc);
    }
    if text.is_empty() {
        bail!("{}: the held-out split is empty", dataset.display());
    }
    Ok(text)
}

/// Bits per UTF-8 byte of `text` under `engine`'s model: its tokens in windows of 129 with a
/// stride of 128 (every token but the first predicted once, from up to 128 tokens before it in
/// its window), the summed negative log-likelihood in bits over the text's bytes.
fn bits_per_byte(engine: &glassbox_infer::Engine, text: &str) -> Result<f64> {
    use glassbox_eval::loglik::{Request, Scorer};
    let ids = engine.tokenizer.encode(text, false)?;
    let mut scorer = Scorer::new(&engine.model);
    scorer.max_length = 128.min(scorer.max_length.saturating_sub(1)).max(1);
    // Window k predicts ids[k·w + 1 ..= (k+1)·w] from the tokens before it in the window.
    let w = scorer.max_length;
    let requests: Vec<Request> = (0..ids.len().saturating_sub(1))
        .step_by(w)
        .map(|start| {
            let end = (start + w + 1).min(ids.len());
            Request {
                context: ids[start..start + 1].to_vec(),
                continuation: ids[start + 1..end].to_vec(),
            }
        })
        .collect();
    let nats: f64 = -scorer
        .score(&requests)?
        .iter()
        .map(|s| s.loglikelihood)
        .sum::<f64>();
    Ok(nats / std::f64::consts::LN_2 / text.len() as f64)
}

/// Removes a stage's output directory before it is made again.
fn remove(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}
