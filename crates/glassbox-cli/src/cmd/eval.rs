//! `glassbox eval`: tasks in lm-evaluation-harness's YAML dialect, scored as lm-eval scores them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use glassbox_eval::evaluate::{EvalOptions, evaluate};
use glassbox_eval::task::TaskConfig;

use super::common::load_engine;

/// Version of the `glassbox eval --json` output (docs/formats.md).
const EVAL_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("what").required(true).args(["model", "run", "checkpoints", "bundle"])),
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub(crate) struct Args {
    #[command(subcommand)]
    sub: Option<Sub>,
    /// A model directory.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// A LoRA adapter on --model.
    #[arg(long, value_name = "DIR", requires = "model")]
    adapter: Option<PathBuf>,
    /// Where --model runs: cpu, or cuda / cuda:N in a glassbox built with `--features cuda`
    /// (series of checkpoints run on the CPU).
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: glassbox_model::device::DeviceSpec,
    /// Every checkpoint of a glassbox run (results in RUN/evals/).
    #[arg(long, value_name = "RUN")]
    run: Option<PathBuf>,
    /// A directory of checkpoints (Hub revisions such as Pythia's step1000, or step-NNNNNNN).
    #[arg(long, value_name = "DIR")]
    checkpoints: Option<PathBuf>,
    /// The checkpoints of a release bundle.
    #[arg(long, value_name = "BUNDLE")]
    bundle: Option<PathBuf>,
    /// Only checkpoints whose step is a multiple of N (and the last).
    #[arg(long, value_name = "N")]
    every: Option<u64>,
    /// The base model of a series of LoRA adapter checkpoints [default: the one the run's
    /// run.json or the bundle's release.json records].
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
    /// Where a series' results go [default: RUN/evals for --run, ./evals otherwise].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A task YAML (lm-eval's dialect, local JSON data), or a built-in task made from the
    /// held-out documents of --dataset (or of --run's dataset): `heldout` (bits per byte),
    /// `cloze` (last word), `follows` (which line follows); repeat for several.
    #[arg(long, value_name = "FILE", required_unless_present = "text")]
    task: Vec<PathBuf>,
    /// The tokenised dataset whose held-out documents built-in tasks are made from [default:
    /// the run's].
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
    /// Most documents of a built-in task (evenly spaced over the candidates).
    #[arg(long, value_name = "N", default_value_t = 500)]
    max_docs: usize,
    /// A UTF-8 text file: its bits per byte (rolling windows, as lm-eval's perplexity tasks);
    /// repeat for several.
    #[arg(long, value_name = "FILE")]
    text: Vec<PathBuf>,
    /// Few-shot examples (overrides the tasks' num_fewshot).
    #[arg(long, value_name = "N")]
    num_fewshot: Option<usize>,
    /// Seed of the few-shot draws (lm-eval's default).
    #[arg(long, default_value_t = 1234)]
    fewshot_seed: u32,
    /// Only the first N documents of each task.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The window in tokens [default: the model's max_position_embeddings].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Score every request on its own, also the choices of one question (which otherwise
    /// share one pass over their context; the results agree within f32 rounding).
    #[arg(long)]
    no_shared_context: bool,
    /// Print the results (with every document's scores) as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Writes a built-in task as lm-eval task files (`<task>.yaml`, `<task>.jsonl`): `heldout`,
    /// `cloze` or `follows` from a dataset's held-out documents, `parallel` from two
    /// verse-aligned texts (`Book C:V: text` lines).
    #[command(
        after_help = "Examples:\n  glassbox eval make-task follows --dataset out/dataset --out tasks\n  glassbox eval make-task parallel --pair English=corpus/en_web.txt --pair Spanish=corpus/es_rv1909.txt --out tasks"
    )]
    MakeTask {
        /// heldout, cloze, follows or parallel.
        #[arg(value_parser = ["heldout", "cloze", "follows", "parallel"])]
        task: String,
        /// The tokenised dataset (for parallel: keep only verses found in its held-out documents).
        #[arg(long, value_name = "DIR")]
        dataset: Option<PathBuf>,
        /// For parallel: LANGUAGE=FILE, twice.
        #[arg(long, value_name = "LANGUAGE=FILE")]
        pair: Vec<String>,
        /// Seed of the distractor draws.
        #[arg(long, default_value_t = 1234)]
        seed: u32,
        /// Most documents (evenly spaced over the candidates).
        #[arg(long, value_name = "N", default_value_t = 500)]
        max_docs: usize,
        /// Where to write the task files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Which training sequences each checkpoint can reproduce (k-extractability), traced
    /// through the data order to the steps that trained on them.
    #[command(
        after_help = "Example:\n  glassbox eval memorization --run runs/tiny --samples 256 --prefix 32 --suffix 32"
    )]
    Memorization {
        /// The glassbox run.
        #[arg(long, value_name = "RUN")]
        run: PathBuf,
        /// Training sequences sampled from the data order.
        #[arg(long, default_value_t = 256)]
        samples: usize,
        /// Tokens given to the model.
        #[arg(long, default_value_t = 32)]
        prefix: usize,
        /// Tokens it must then produce exactly (greedy).
        #[arg(long, default_value_t = 32)]
        suffix: usize,
        /// Seed of the sample.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Only checkpoints whose step is a multiple of N (and the last).
        #[arg(long, value_name = "N")]
        every: Option<u64>,
        /// Where to write memorization.json [default: RUN/evals/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

pub(crate) fn run(a: Args) -> Result<()> {
    anyhow::ensure!(
        a.model.is_some() || a.device == glassbox_model::device::DeviceSpec::Cpu,
        "--device {} applies to --model; a series of checkpoints is evaluated on the CPU",
        a.device
    );
    if let Some(Sub::MakeTask {
        task,
        dataset,
        pair,
        seed,
        max_docs,
        out,
    }) = &a.sub
    {
        return make_task(task, dataset.as_deref(), pair, *seed, *max_docs, out);
    }
    if let Some(Sub::Memorization {
        run,
        samples,
        prefix,
        suffix,
        seed,
        every,
        out,
    }) = &a.sub
    {
        let o = glassbox_eval::memorization::MemorizationOptions {
            samples: *samples,
            prefix: *prefix,
            suffix: *suffix,
            seed: *seed,
            every: *every,
        };
        let report = glassbox_eval::memorization::memorization(run, &o, &mut |s| {
            eprintln!("eval memorization: checkpoint {s}")
        })?;
        let dir = out.clone().unwrap_or_else(|| run.join("evals"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("memorization.json");
        glassbox_core::fsio::write_json_atomic(&path, &report)?;
        // The share memorised against training tokens, as the checkpoint curves are drawn.
        let points: Vec<glassbox_eval::series::Point> = report["checkpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| glassbox_eval::series::Point {
                step: c["step"].as_u64().unwrap_or(0),
                tokens: c["tokens"].as_u64(),
                checkpoint: c["checkpoint"].as_str().unwrap_or_default().to_string(),
                weights_sha256: String::new(),
                metrics: [(
                    "memorised share".to_string(),
                    c["share"].as_f64().unwrap_or(0.0),
                )]
                .into(),
                cached: false,
            })
            .collect();
        glassbox_core::fsio::atomic_write(
            &dir.join("memorization.svg"),
            glassbox_eval::series::curves_svg("memorisation (k-extractable share)", &points)
                .as_bytes(),
        )?;
        println!(
            "| step | memorised | share | first trained at step (times seen) |\n|---|---|---|---|"
        );
        for c in report["checkpoints"].as_array().into_iter().flatten() {
            let seqs: Vec<String> = c["sequences"]
                .as_array()
                .into_iter()
                .flatten()
                .take(8)
                .map(|s| format!("{} ({})", s["first_step"], s["times_seen"]))
                .collect();
            println!(
                "| {} | {} | {:.3} | {} |",
                c["step"],
                c["memorised"],
                c["share"].as_f64().unwrap_or(0.0),
                seqs.join(", ")
            );
        }
        println!(
            "→ {}, {}",
            path.display(),
            dir.join("memorization.svg").display()
        );
        return Ok(());
    }
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let opts = EvalOptions {
        num_fewshot: a.num_fewshot,
        fewshot_seed: a.fewshot_seed,
        limit: a.limit,
        batch_size: a.batch_size,
        max_length: a.max_length,
        share_context: !a.no_shared_context,
        progress: None,
    };
    let mut tasks = Vec::new();
    // `--text FILE`: a task of its own over the file, written where nothing is left behind.
    let scratch = tempfile::tempdir()?;
    for (i, f) in a.text.iter().enumerate() {
        let name = f
            .file_stem()
            .map_or_else(|| format!("text{i}"), |s| s.to_string_lossy().into_owned());
        tasks.push(glassbox_eval::builtin::text_task(
            f,
            &name,
            &scratch.path().join(i.to_string()),
        )?);
    }
    for t in &a.task {
        let name = t.to_string_lossy();
        if !t.exists() && glassbox_eval::builtin::BUILTIN.contains(&name.as_ref()) {
            // Made from the held-out documents of --dataset or of the run's dataset.
            let ds = match (&a.dataset, &a.run) {
                (Some(d), _) => d.clone(),
                (None, Some(run)) => run_dataset(run)?,
                (None, None) => bail!(
                    "--task {name} is made from a dataset's held-out documents: give --dataset DIR (or --run)"
                ),
            };
            // Beside a series' results (so they cache), else where nothing is left behind.
            let dir = match (&a.out, &a.run) {
                (Some(o), _) => o.join("tasks"),
                (None, Some(run)) => run.join("evals/tasks"),
                (None, None) => scratch.path().join("builtin"),
            };
            let o = glassbox_eval::corpus_tasks::CorpusTaskOptions {
                seed: 1234,
                max_docs: a.max_docs,
            };
            tasks.push(glassbox_eval::builtin::builtin_task(&name, &ds, &o, &dir)?);
        } else {
            tasks.push(TaskConfig::load(t)?);
        }
    }
    let Some(model) = &a.model else {
        return series(&a, &tasks, &opts);
    };
    let engine = load_engine(model, a.adapter.as_deref(), a.device)?;
    let mut results = Vec::new();
    for cfg in &tasks {
        let bar = indicatif::ProgressBar::new(0).with_message(cfg.task.clone());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let b = bar.clone();
        let o = EvalOptions {
            progress: Some(glassbox_eval::loglik::Progress(std::sync::Arc::new(
                move |done, total| {
                    b.set_length(total as u64);
                    b.set_position(done as u64);
                },
            ))),
            ..opts.clone()
        };
        results.push(evaluate(cfg, &engine, &o)?);
        bar.finish_and_clear();
    }
    if a.json {
        let out = serde_json::json!({
            "schema_version": EVAL_SCHEMA_VERSION,
            "model": model.display().to_string(),
            "adapter": a.adapter.as_ref().map(|p| p.display().to_string()),
            "fewshot_seed": a.fewshot_seed,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("| task | docs | shots | metric | value |\n|---|---|---|---|---|");
    for r in &results {
        for (k, v) in &r.metrics {
            println!(
                "| {} | {} | {} | {k} | {v:.4} |",
                r.task, r.docs, r.num_fewshot
            );
        }
        if r.truncated > 0 {
            eprintln!(
                "{}: {} request(s) longer than the window were cut from the left (as lm-eval does)",
                r.task, r.truncated
            );
        }
    }
    Ok(())
}

/// Where a series' results go: `--out`, else RUN/evals for `--run`, else ./evals.
fn series_out(a: &Args) -> PathBuf {
    match (&a.out, &a.run) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => r.join("evals"),
        (None, None) => PathBuf::from("evals"),
    }
}

/// `--run`, `--checkpoints` or `--bundle`: every checkpoint, cached, with curves.
fn series(a: &Args, tasks: &[TaskConfig], opts: &EvalOptions) -> Result<()> {
    let root = match (&a.run, &a.checkpoints, &a.bundle) {
        (Some(r), _, _) => r.clone(),
        (_, Some(c), _) => c.clone(),
        (_, _, Some(b)) => b.join("checkpoints"),
        _ => bail!("give --model, --run, --checkpoints or --bundle"),
    };
    let out = series_out(a);
    let s = glassbox_model::CheckpointSeries::open(&root)?;
    // LoRA checkpoints are adapters on the model the run started from.
    let recorded = |file: PathBuf, pointer: &str| -> Option<PathBuf> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
        v.pointer(pointer)
            .and_then(|p| p.as_str())
            .map(PathBuf::from)
    };
    let base = a.base.clone().or_else(|| match (&a.run, &a.bundle) {
        (Some(r), _) => recorded(r.join("run.json"), "/init/path"),
        (_, Some(b)) => recorded(b.join("release.json"), "/base/path"),
        _ => None,
    });
    let bar = indicatif::ProgressBar::new((s.len() * tasks.len()) as u64);
    let done = glassbox_eval::series::evaluate_series(
        &s,
        tasks,
        opts,
        a.every,
        base.as_deref(),
        &out,
        &mut |c, t, cached| {
            bar.set_message(format!(
                "{} {t}{}",
                c.name,
                if cached { " (cached)" } else { "" }
            ));
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"schema_version": EVAL_SCHEMA_VERSION, "series": root.display().to_string(), "results": done.iter().map(|(t, p)| serde_json::json!({"task": t, "points": p})).collect::<Vec<_>>()})
            )?
        );
        return Ok(());
    }
    for (task, points) in &done {
        println!("{task}:");
        println!(
            "| step | tokens | checkpoint | {} |",
            points
                .first()
                .map(|p| p.metrics.keys().cloned().collect::<Vec<_>>().join(" | "))
                .unwrap_or_default()
        );
        for p in points {
            let vals: Vec<String> = p.metrics.values().map(|v| format!("{v:.4}")).collect();
            println!(
                "| {} | {} | {}{} | {} |",
                p.step,
                p.tokens.map_or("–".into(), |t| t.to_string()),
                p.checkpoint,
                if p.cached { " (cached)" } else { "" },
                vals.join(" | ")
            );
        }
        println!(
            "  → {}, {}",
            out.join(format!("{task}.jsonl")).display(),
            out.join(format!("{task}.svg")).display()
        );
    }
    Ok(())
}

/// The dataset a run's recipe names (`[data] dataset`).
fn run_dataset(run: &std::path::Path) -> Result<PathBuf> {
    let p = run.join("recipe.toml");
    let recipe: toml::Value = toml::from_str(
        &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
    )
    .with_context(|| format!("parsing {}", p.display()))?;
    match recipe
        .get("data")
        .and_then(|d| d.get("dataset"))
        .and_then(|d| d.as_str())
    {
        Some(d) => Ok(PathBuf::from(d)),
        None => bail!("{} names no [data] dataset", p.display()),
    }
}

/// `glassbox eval make-task`.
fn make_task(
    task: &str,
    dataset: Option<&std::path::Path>,
    pair: &[String],
    seed: u32,
    max_docs: usize,
    out: &std::path::Path,
) -> Result<()> {
    let o = glassbox_eval::corpus_tasks::CorpusTaskOptions { seed, max_docs };
    let cfg = if task == "parallel" {
        let [a, b] = pair else {
            bail!(
                "make-task parallel needs --pair LANGUAGE=FILE twice (e.g. --pair English=en.txt --pair Spanish=es.txt)"
            );
        };
        let split = |p: &String| -> Result<(String, Vec<(String, String)>)> {
            let Some((lang, file)) = p.split_once('=') else {
                bail!("--pair {p:?}: give LANGUAGE=FILE");
            };
            Ok((
                lang.to_string(),
                glassbox_eval::corpus_tasks::read_verses(std::path::Path::new(file))?,
            ))
        };
        let (la, va) = split(a)?;
        let (lb, vb) = split(b)?;
        let keep = dataset
            .map(glassbox_eval::builtin::heldout_texts)
            .transpose()?;
        glassbox_eval::corpus_tasks::write_parallel_task(
            (&la, &va),
            (&lb, &vb),
            keep.as_deref(),
            &o,
            out,
        )?
    } else {
        let Some(ds) = dataset else {
            bail!(
                "make-task {task} is made from a dataset's held-out documents: give --dataset DIR"
            );
        };
        glassbox_eval::builtin::builtin_task(task, ds, &o, out)?
    };
    let docs = cfg.docs(cfg.eval_split()?)?.len();
    println!(
        "{}: {docs} documents → {}",
        cfg.task,
        out.join(format!("{}.yaml", cfg.task)).display()
    );
    Ok(())
}
