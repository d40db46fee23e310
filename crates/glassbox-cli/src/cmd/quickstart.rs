//! `glassbox quickstart`: the whole assembly line on a public-domain corpus, in a few minutes on
//! two cores. Every stage is an ordinary glassbox command, printed before it runs, so the run can
//! be replayed by hand: get the text, `data curate`, `data tokenizer train`, `data tokenize`,
//! `train`, then samples from several checkpoints so the learning is visible.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use glassbox_infer::{GenerateOptions, SamplingParams};

/// A public-domain Bible in a Debian SWORD package, extracted as
/// `tests/fixtures/corpora/README.md` does.
pub(crate) struct Bible {
    /// The SWORD module.
    module: &'static str,
    /// Debian packages: the reader and the module.
    packages: [&'static str; 2],
    /// File written under `corpus/`.
    file: &'static str,
    /// SHA-256 of the reference extraction (diatheke 1.9.0).
    sha256: &'static str,
    /// What it is, for the log.
    title: &'static str,
}

/// The default corpus: the World English Bible (sword-text-web 426.0-1).
const WEB: Bible = Bible {
    module: "engWEB2015eb",
    packages: ["diatheke", "sword-text-web"],
    file: "en_web.txt",
    sha256: "5bd7275c02c7d9eb5a64cc7665604b7f8c1ae2cad19d58a0583dd052985e44a0",
    title: "the World English Bible (public domain), from Debian's sword-text-web",
};

/// The Spanish corpus of `--adapt es`: the Reina-Valera 1909 (sword-text-sparv 2.60-1).
pub(crate) const RV1909: Bible = Bible {
    module: "spaRV1909eb",
    packages: ["diatheke", "sword-text-sparv"],
    file: "es_rv1909.txt",
    sha256: "ff4f56764f5c11e65c8636dfa23649b35e9050e6298a68c740845d0cb0f0ca73",
    title: "the Reina-Valera 1909 (public domain), from Debian's sword-text-sparv",
};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Train on this text instead of the World English Bible: a UTF-8 file or a directory of
    /// them (.txt, .gz, .zst, .jsonl).
    #[arg(long, value_name = "PATH")]
    corpus: Option<PathBuf>,
    /// Licence of --corpus (an SPDX id such as CC-BY-4.0, or public-domain): it goes into the
    /// datasheet and the release, so it is required with --corpus and checked before any work.
    #[arg(long, value_name = "LICENSE", requires = "corpus")]
    corpus_license: Option<String>,
    /// Directory for everything the quickstart writes.
    #[arg(long, value_name = "DIR", default_value = "quickstart")]
    out: PathBuf,
    /// Training steps (8 × 128 tokens each).
    #[arg(long, default_value_t = 240)]
    steps: u64,
    /// Model preset (docs/training.md): small (≈4 M parameters) or tiny (for tests).
    #[arg(long, default_value = "small", value_parser = ["tiny", "small", "bench-10m"])]
    preset: String,
    /// Tokenizer vocabulary size.
    #[arg(long, default_value_t = 4096)]
    vocab_size: usize,
    /// The prompt of the samples.
    #[arg(long, default_value = "And God said")]
    prompt: String,
    /// Then adapt the model to another language three ways — LoRA, continual pre-training,
    /// vocabulary expansion + continual pre-training — and measure them (`es`: Spanish).
    #[arg(long, value_parser = ["es"])]
    adapt: Option<String>,
    /// The Spanish text [default: the Reina-Valera 1909 from Debian's sword-text-sparv].
    #[arg(long, value_name = "PATH", requires = "adapt")]
    adapt_corpus: Option<PathBuf>,
    /// Licence of --adapt-corpus (required with it).
    #[arg(long, value_name = "LICENSE", requires = "adapt_corpus")]
    adapt_corpus_license: Option<String>,
    /// Optimiser steps of each adaptation [default: half of --steps].
    #[arg(long, value_name = "N")]
    adapt_steps: Option<u64>,
    /// Tokens the Spanish extension of the tokenizer may add.
    #[arg(long, default_value_t = 1024)]
    adapt_tokens: usize,
    /// LoRA rank of the LoRA adaptation.
    #[arg(long, default_value_t = 16)]
    lora_rank: usize,
    /// Bytes of held-out text per language the adapted models are measured on.
    #[arg(long, default_value_t = 65536)]
    adapt_eval_bytes: usize,
}

/// Runs one glassbox command line, printed first, through the same parser as the shell.
pub(crate) fn step(title: &str, args: &[&str]) -> Result<()> {
    println!("\n== {title}\n$ glassbox {}", shell_words(args));
    let cli = crate::Cli::try_parse_from(std::iter::once("glassbox").chain(args.iter().copied()))
        .with_context(|| format!("quickstart built a bad command line: {args:?}"))?;
    match crate::dispatch(cli.command)? {
        0 => Ok(()),
        code => bail!("glassbox {} exited with {code}", shell_words(args)),
    }
}

fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn s(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not valid UTF-8; choose another --out", p.display()))
}

/// Words a document of a user's corpus is packed to (`pack_words`): above Gopher's 50-word
/// minimum with room for the other quality rules.
const PACK_WORDS: usize = 200;

/// Fewest curated documents the quickstart goes on with: the held-out split needs some.
const MIN_DOCUMENTS: u64 = 20;

/// The licence of a user's corpus, checked before any work: the release step at the end needs a
/// real one, and finding out after minutes of training is too late.
fn corpus_license(a: &Args) -> Result<Option<String>> {
    if a.corpus.is_none() {
        return Ok(None);
    }
    match a.corpus_license.as_deref().map(str::trim) {
        None | Some("") => bail!(
            "--corpus needs --corpus-license: the licence of your text goes into the datasheet and the release bundle (e.g. --corpus-license CC-BY-4.0, or public-domain); nothing was done"
        ),
        Some(l) if l.eq_ignore_ascii_case("unknown") || l.eq_ignore_ascii_case("none") => bail!(
            "--corpus-license {l}: a release needs the data's licence; give the licence the text is under (e.g. CC-BY-4.0, or public-domain); nothing was done"
        ),
        Some(l) => Ok(Some(l.to_string())),
    }
}

pub(crate) fn run(a: Args) -> Result<()> {
    let clock = Instant::now();
    let user_license = corpus_license(&a)?;
    let out = a.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    println!(
        "glassbox quickstart → {} (corpus, curated data, tokenizer, dataset, run, samples)",
        out.display()
    );

    // 1. The corpus.
    let (corpus, license, verses) = match &a.corpus {
        Some(c) => {
            if !c.exists() {
                bail!("--corpus {}: no such file or directory", c.display());
            }
            let c = std::path::absolute(c).unwrap_or_else(|_| c.clone());
            let verses = looks_like_verses(&c);
            (c, user_license.clone().unwrap_or_default(), verses)
        }
        None => (
            extract_bible(&out, &WEB)?,
            "public-domain".to_string(),
            true,
        ),
    };
    let t_corpus = clock.elapsed();

    // 2. Curation. Scripture repeats on purpose (psalm headings, genealogies, refrains): the
    // web-text repetition filters (Gopher repetition, C4, FineWeb) would drop most of it, so they
    // are off; Gopher quality rules, language id and both deduplications stay on.
    let sources = out.join("sources.toml");
    let mut toml = format!(
        "# Written by glassbox quickstart.\n[[source]]\nname = \"corpus\"\npath = {:?}\nlicense = {:?}\n",
        corpus.display().to_string(),
        license
    );
    if verses {
        toml.push_str(
            "# One document per chapter; verse references removed.\nsplit = \"group\"\ngroup_pattern = '^(.+? \\d+):\\d+:'\nstrip_pattern = '^.+? \\d+:\\d+: '\n\n[steps]\ngopher_repetition = false\nc4 = false\nfineweb = false\n",
        );
    } else {
        // A user's text may be one sentence or verse per line: lines are packed into documents of
        // at least PACK_WORDS words, so the quality filters judge documents, not sentences.
        toml.push_str(&format!(
            "# Lines packed into documents of at least {PACK_WORDS} words.\nsplit = \"line\"\npack_words = {PACK_WORDS}\n"
        ));
        println!(
            "corpus: {} (lines are packed into documents of at least {PACK_WORDS} words: pack_words in sources.toml)",
            corpus.display()
        );
    }
    glassbox_core::fsio::atomic_write(&sources, toml.as_bytes())?;
    let curated = out.join("curated");
    remove_stage(&curated)?;
    step(
        "curate: normalise, filter, deduplicate, datasheet",
        &[
            "data",
            "curate",
            "--config",
            s(&sources)?,
            "--out",
            s(&curated)?,
        ],
    )?;

    removed_table(&curated)?;

    // 3. Tokenizer and dataset.
    let tokenizer = out.join("tokenizer.json");
    let vocab = a.vocab_size.to_string();
    step(
        "tokenizer: byte-level BPE, trained deterministically",
        &[
            "data",
            "tokenizer",
            "train",
            "--input",
            s(&curated)?,
            "--vocab-size",
            &vocab,
            "--out",
            s(&tokenizer)?,
        ],
    )?;
    let dataset = out.join("dataset");
    remove_stage(&dataset)?;
    step(
        "tokenize: token shards, index, manifest, held-out split",
        &[
            "data",
            "tokenize",
            "--input",
            s(&curated)?,
            "--tokenizer",
            s(&tokenizer)?,
            "--out",
            s(&dataset)?,
            "--heldout",
            "0.01",
        ],
    )?;
    let t_data = clock.elapsed();

    // 4. Training. A finished run is kept (delete it to train again); an interrupted one resumes.
    let recipe = out.join("recipe.toml");
    let recipe_text = format!(
        "# Written by glassbox quickstart; docs/training.md explains every key.\n[data]\ndataset = \"dataset\"\nseed = 1234\n\n[model]\npreset = {:?}\ninit_seed = 0\n\n[optim]\nlr = 3e-3\nweight_decay = 0.1\n\n[schedule]\nwarmup_steps = {}\ndecay = \"cosine\"\nmin_lr = 3e-4\n\n[train]\nbatch_size = 8\nseq_len = 128\nsteps = {}\nmax_grad_norm = 1.0\n\n[eval]\ninterval = {}\nwindows = 16\n\n[checkpoints]\nschedule = \"pythia\"\nevery = 100\n\n[release]\nname = \"glassbox-quickstart-{}\"\n",
        a.preset,
        (a.steps / 10).max(1),
        a.steps,
        (a.steps / 8).max(1),
        a.preset,
    );
    let run_dir = out.join("run");
    let final_ck = run_dir
        .join("checkpoints")
        .join(glassbox_train::checkpoint::dir_name(a.steps));
    let same_recipe = std::fs::read_to_string(&recipe).is_ok_and(|t| t == recipe_text);
    if run_dir.exists() && !same_recipe {
        bail!(
            "{} holds a run of another recipe; delete it or choose another --out",
            run_dir.display()
        );
    }
    glassbox_core::fsio::atomic_write(&recipe, recipe_text.as_bytes())?;
    if final_ck.join("state.json").exists() {
        println!(
            "\n== train\nthe run in {} is complete (delete it to train again)",
            run_dir.display()
        );
    } else if run_dir.join("recipe.toml").exists() {
        step(
            "train: resume the interrupted run",
            &["train", "--resume", s(&run_dir)?],
        )?;
    } else {
        step(
            "train: AdamW, warmup + cosine, Pythia checkpoints, held-out loss",
            &["train", s(&recipe)?, "--out", s(&run_dir)?],
        )?;
    }
    let t_train = clock.elapsed();

    // 5. Samples from several checkpoints, the same prompt and seed for each.
    println!("\n== samples: the same prompt and sampler seed at several checkpoints");
    let mut report = format!(
        "# glassbox quickstart samples\n\nPrompt `{}`, temperature 0.8, top-k 40, seed 0, 40 new tokens.\n\n",
        a.prompt
    );
    for (step_no, dir) in sample_checkpoints(&run_dir, a.steps)? {
        let engine = super::common::load_engine(&dir, None, Default::default())?;
        let ids = engine.tokenizer.encode(&a.prompt, true)?;
        let mut req = engine.request(ids);
        req.max_new_tokens = 40;
        req.sampling = SamplingParams {
            temperature: 0.8,
            top_k: 40,
            ..SamplingParams::default()
        };
        let done = engine.generate(&[req], GenerateOptions::default(), &mut |_, _| {})?;
        let text = done
            .first()
            .map(|c| c.text.replace('\n', " "))
            .unwrap_or_default();
        println!("step {step_no:>5}: {}{}", a.prompt, text);
        report.push_str(&format!("- step {step_no}: {}{}\n", a.prompt, text));
    }
    glassbox_core::fsio::atomic_write(&out.join("samples.md"), report.as_bytes())?;
    // The run keeps them too, so the release bundle ships sample outputs.
    std::fs::create_dir_all(run_dir.join("samples"))
        .with_context(|| format!("creating {}", run_dir.join("samples").display()))?;
    glassbox_core::fsio::atomic_write(&run_dir.join("samples/samples.md"), report.as_bytes())?;
    // The learning curves of every checkpoint on the held-out documents, for the bundle.
    step(
        "eval: held-out bits per byte and last-word cloze at every checkpoint (curves in run/evals/)",
        &[
            "eval",
            "--run",
            s(&run_dir)?,
            "--task",
            "heldout",
            "--task",
            "cloze",
            "--max-docs",
            "200",
        ],
    )?;
    let t_samples = clock.elapsed();

    // 6. The release bundle, its verification (hashes, data re-derived from the corpus, the last
    // checkpoint interval replayed bit for bit) and its audit.
    let bundle = out.join("bundle");
    step(
        "release: model, card, paper, data and order, checkpoints, logs, code, licences, MANIFEST.json",
        &["release", s(&run_dir)?, "--out", s(&bundle)?, "--force"],
    )?;
    step(
        "verify: every hash, the dataset re-derived from the corpus, the last interval replayed",
        &["verify", s(&bundle)?, "--corpus", s(&corpus)?],
    )?;
    step(
        "audit: the bundle on the openness spectrum",
        &["audit", s(&bundle)?],
    )?;

    let t_release = clock.elapsed();
    if a.adapt.is_some() {
        let (es_corpus, es_license, es_verses) = match &a.adapt_corpus {
            Some(c) => {
                let Some(l) = a.adapt_corpus_license.clone() else {
                    bail!(
                        "--adapt-corpus needs --adapt-corpus-license (an SPDX id, or public-domain)"
                    );
                };
                if !c.exists() {
                    bail!("--adapt-corpus {}: no such file or directory", c.display());
                }
                let c = std::path::absolute(c).unwrap_or_else(|_| c.clone());
                let v = looks_like_verses(&c);
                (c, l, v)
            }
            None => (
                extract_bible(&out, &RV1909)?,
                "public-domain".to_string(),
                true,
            ),
        };
        super::quickstart_adapt::run(&super::quickstart_adapt::Plan {
            out: out.clone(),
            base: final_ck.clone(),
            tokenizer: tokenizer.clone(),
            en_dataset: dataset.clone(),
            es_corpus,
            es_license,
            steps: a.adapt_steps.unwrap_or((a.steps / 2).max(1)),
            rank: a.lora_rank,
            add_tokens: a.adapt_tokens,
            eval_bytes: a.adapt_eval_bytes,
            verses: es_verses,
            // Both Bibles verse by verse: the English↔Spanish verse choice can be made.
            en_verses: (verses && es_verses).then(|| corpus.clone()),
        })?;
    }
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "\ndone in {:.0} s (corpus {:.0} s, data {:.0} s, training {:.0} s, samples {:.0} s, release + verify + audit {:.0} s{})",
        secs(clock.elapsed()),
        secs(t_corpus),
        secs(t_data - t_corpus),
        secs(t_train - t_data),
        secs(t_samples - t_train),
        secs(t_release - t_samples),
        if a.adapt.is_some() {
            format!(", adaptation {:.0} s", secs(clock.elapsed() - t_release))
        } else {
            String::new()
        }
    );
    println!(
        "look at:\n  {}/curated/datasheet.md   what was kept and removed, and why\n  {}/run/loss.svg           the loss curves\n  {}/run/logs/              train.jsonl, eval.jsonl\n  {}/run/checkpoints/       every checkpoint (index.json lists them with hashes)\n  {}/samples.md\n  {}/bundle/               the release: README.md (card), paper/paper.md, MANIFEST.json\nthen: glassbox generate --model {} --prompt \"{}\"\n      glassbox trace {}/bundle --checkpoint 64\n      glassbox ui {}               curves, checkpoints, trace and the model in the browser",
        out.display(),
        out.display(),
        out.display(),
        out.display(),
        out.display(),
        out.display(),
        final_ck.display(),
        a.prompt,
        out.display(),
        out.display()
    );
    Ok(())
}

/// Removes the output of a stage that is recomputed on every run (only glassbox's own output).
fn remove_stage(dir: &Path) -> Result<()> {
    if dir.exists() {
        let ours = ["curate.json", "manifest.json"]
            .iter()
            .any(|f| dir.join(f).exists());
        if !ours {
            bail!(
                "{} exists but is not glassbox output; delete it or choose another --out",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Steps to sample: 0, then roughly every factor of four, and the last.
fn sample_checkpoints(run: &Path, last: u64) -> Result<Vec<(u64, PathBuf)>> {
    let root = run.join("checkpoints");
    let mut wanted = vec![0u64];
    let mut s = 4;
    while s < last {
        wanted.push(s);
        s *= 4;
    }
    wanted.push(last);
    let mut found = Vec::new();
    for w in wanted {
        let d = root.join(glassbox_train::checkpoint::dir_name(w));
        if d.join("state.json").exists() && !found.iter().any(|(s, _)| *s == w) {
            found.push((w, d));
        }
    }
    if found.is_empty() {
        bail!("no checkpoints in {}", root.display());
    }
    Ok(found)
}

/// Prints what curation kept and what each filter removed (from the datasheet), and stops when
/// too little is left to train and hold out.
fn removed_table(curated: &Path) -> Result<()> {
    let path = curated.join("datasheet.json");
    let sheet: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    let totals = &sheet["totals"];
    let read = totals["documents_read"].as_u64().unwrap_or(0);
    let kept = totals["documents_kept"].as_u64().unwrap_or(0);
    println!("\ncuration kept {kept} of {read} documents");
    let mut rows: Vec<(String, u64)> = sheet["filters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v["removed"].as_u64()?)))
        .filter(|(_, n)| *n > 0)
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if !rows.is_empty() {
        println!("  {:<28} {:>9}", "removed by", "documents");
        for (k, n) in &rows {
            println!("  {k:<28} {n:>9}");
        }
    }
    if kept < MIN_DOCUMENTS {
        bail!(
            "only {kept} of {read} documents survived curation (table above), fewer than the {MIN_DOCUMENTS} a run with a held-out split needs: give more text, or turn off the filters that removed it in {}",
            curated.parent().map_or_else(
                || "sources.toml".to_string(),
                |p| p.join("sources.toml").display().to_string()
            )
        );
    }
    Ok(())
}

/// Whether a text file is a Bible in diatheke's `Book C:V: text` form (then grouped by chapter):
/// at least half of its first 200 non-empty lines start with a verse reference (poetry
/// continues over lines without one).
fn looks_like_verses(path: &Path) -> bool {
    let Ok(re) = regex::Regex::new(r"^\S.*? \d+:\d+: ") else {
        return false;
    };
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    let head = String::from_utf8_lossy(&text[..text.len().min(64 * 1024)]).into_owned();
    let lines: Vec<&str> = head
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(200)
        .collect();
    !lines.is_empty() && lines.iter().filter(|l| re.is_match(l)).count() * 2 >= lines.len()
}

/// The World English Bible in `OUT/corpus/en_web.txt`, extracted with diatheke (installed with
/// apt-get when absent), exactly as `tests/fixtures/corpora/README.md` describes.
pub(crate) fn extract_bible(out: &Path, bible: &Bible) -> Result<PathBuf> {
    let dir = out.join("corpus");
    let path = dir.join(bible.file);
    if path.exists() {
        println!("\n== corpus\nusing {} (extracted earlier)", path.display());
        return Ok(std::path::absolute(&path).unwrap_or(path));
    }
    println!("\n== corpus: {}", bible.title);
    if !has_module(bible.module)? {
        install_packages(&bible.packages)?;
    }
    println!(
        "$ diatheke -b {} -f plain -k \"Gen 1:1 - Rev 22:21\" | strip",
        bible.module
    );
    let output = Command::new("diatheke")
        .args([
            "-b",
            bible.module,
            "-f",
            "plain",
            "-k",
            "Gen 1:1 - Rev 22:21",
        ])
        .output()
        .context("running diatheke")?;
    if !output.status.success() || output.stdout.len() < 1_000_000 {
        bail!(
            "diatheke did not print the Bible (exit {}, {} bytes): {}",
            output.status,
            output.stdout.len(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text =
        String::from_utf8(output.stdout).context("diatheke printed text that is not UTF-8")?;
    let clean = strip_diatheke(&text, bible.module);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    glassbox_core::fsio::atomic_write(&path, clean.as_bytes())?;
    let sha = glassbox_core::hash::sha256_hex(clean.as_bytes());
    if sha == bible.sha256 {
        println!(
            "wrote {} ({} bytes, SHA-256 {sha}: the reference bytes)",
            path.display(),
            clean.len()
        );
    } else {
        println!(
            "wrote {} ({} bytes, SHA-256 {sha}); the reference extraction (diatheke 1.9.0, {}) has {}: another package version, so the numbers below will differ from docs",
            path.display(),
            clean.len(),
            bible.packages[1],
            bible.sha256
        );
    }
    Ok(std::path::absolute(&path).unwrap_or(path))
}

/// Whether diatheke runs and knows the module.
fn has_module(module: &str) -> Result<bool> {
    match Command::new("diatheke")
        .args(["-b", module, "-f", "plain", "-k", "Gen 1:1"])
        .output()
    {
        Ok(o) => Ok(o.status.success() && o.stdout.len() > 20),
        Err(_) => Ok(false),
    }
}

/// `apt-get install diatheke sword-text-web` (as root, or through `sudo -n`), or an explanation.
fn install_packages(packages: &[&str; 2]) -> Result<()> {
    let explain = format!(
        "The corpus needs the Debian packages {} (the diatheke reader and a Bible module). Install them with your package manager (Debian/Ubuntu: sudo apt-get install -y {}), or give any UTF-8 text with --corpus PATH (--adapt-corpus PATH for the adaptation's).",
        packages.join(" and "),
        packages.join(" ")
    );
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("diatheke is not installed and apt-get is not available. {explain}");
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut base: Vec<&str> = Vec::new();
    if !root {
        let sudo = Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !sudo {
            bail!(
                "diatheke is not installed, and installing it needs root (sudo asks for a password). {explain}"
            );
        }
        base.push("sudo");
        base.push("-n");
    }
    let apt = |args: &[&str]| -> bool {
        let mut all = base.clone();
        all.extend_from_slice(args);
        println!("$ {}", all.join(" "));
        Command::new(all[0])
            .args(&all[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"];
    let mut args: Vec<&str> = install.to_vec();
    args.extend(packages);
    if apt(&args) {
        return Ok(());
    }
    // A fresh machine often has no package lists yet.
    if apt(&["apt-get", "update", "-q"]) && apt(&args) {
        return Ok(());
    }
    bail!(
        "apt-get could not install {}. {explain}",
        packages.join(" ")
    )
}

/// The `strip` of `tests/fixtures/corpora/README.md`: removes Strong's numbers (` <G1234>`), leading
/// spaces and the module's name line, keeping every other byte.
fn strip_diatheke(text: &str, module: &str) -> String {
    let strongs = regex::Regex::new(r" ?<[GH][0-9]+>").ok();
    let name_line = format!("({module})");
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive('\n') {
        let (line, nl) = match piece.strip_suffix('\n') {
            Some(l) => (l, "\n"),
            None => (piece, ""),
        };
        let line = match &strongs {
            Some(re) => re.replace_all(line, ""),
            None => line.into(),
        };
        let line = line.trim_start_matches(' ');
        if line == name_line {
            continue;
        }
        out.push_str(line);
        out.push_str(nl);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_the_sed_of_the_corpora_readme() {
        let raw = "Genesis 1:1: In the beginning<H7225>, God <H430>created.\n  Genesis 1:2: The earth.  \n(engWEB2015eb)\n\nJohn 3:16: For God<G2316> so loved\n(engWEB2015eb)";
        assert_eq!(
            strip_diatheke(raw, "engWEB2015eb"),
            "Genesis 1:1: In the beginning, Godcreated.\nGenesis 1:2: The earth.  \n\nJohn 3:16: For God so loved\n"
        );
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(
            shell_words(&["data", "--out", "a b", "it's"]),
            "data --out 'a b' 'it'\\''s'"
        );
    }
}
