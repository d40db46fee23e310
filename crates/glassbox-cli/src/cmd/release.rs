//! `glassbox release`, `glassbox verify` and `glassbox trace`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use glassbox_release::bundle::{self, CheckpointMode, ReleaseOptions};
use glassbox_release::trace;
use glassbox_release::verify::{self, Status, VerifyOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Checkpoints {
    /// Copy every checkpoint into the bundle.
    Include,
    /// Keep only their hashes; replay reads the run directory.
    Reference,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReleaseArgs {
    /// The finished training run directory.
    run: PathBuf,
    /// Where to write the bundle.
    #[arg(long, value_name = "BUNDLE")]
    out: PathBuf,
    /// Include the checkpoints, or only reference them.
    #[arg(long, value_enum, default_value = "include")]
    checkpoints: Checkpoints,
    /// Replace an existing bundle.
    #[arg(long)]
    force: bool,
    /// Add a GGUF copy of the final model (`gguf/`; Llama family) of this type, as `convert
    /// --to gguf --quant` names them (f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, q5_k, q4_k,
    /// or a llama.cpp mix: q6_k, q5_k_m, q5_k_s, q4_k_m, q4_k_s); repeatable. `verify`
    /// re-quantizes and compares the bytes.
    #[arg(long, value_name = "TYPE", value_parser = super::convert::GGUF_QUANTS)]
    gguf: Vec<String>,
}

pub(crate) fn release(a: ReleaseArgs) -> Result<()> {
    let opts = ReleaseOptions {
        checkpoints: match a.checkpoints {
            Checkpoints::Include => CheckpointMode::Include,
            Checkpoints::Reference => CheckpointMode::Reference,
        },
        force: a.force,
        // The names come from clap's list of the types glassbox writes.
        gguf: a
            .gguf
            .iter()
            .filter_map(|t| glassbox_model::gguf::GgufQuant::from_name(t))
            .collect(),
    };
    let s = bundle::release(&a.run, &a.out, &opts, &mut |stage| {
        eprintln!("release: {stage}")
    })?;
    println!(
        "bundle {}: {} files, {:.1} MiB, weights of step {}, {} checkpoints; MANIFEST.json SHA-256 {}",
        s.bundle.display(),
        s.files,
        s.bytes as f64 / (1u64 << 20) as f64,
        s.final_step,
        s.checkpoints,
        s.manifest_sha256
    );
    for (k, v) in &s.licenses {
        println!("  {k} licence: {v}");
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The bundle directory.
    bundle: PathBuf,
    /// The corpus to re-derive the dataset from: PATH (one source) or NAME=PATH (repeat per
    /// source) [default: the paths recorded in the datasheet, which are relative to the sources
    /// file that curated them, when they exist from the current directory].
    #[arg(long, value_name = "[NAME=]PATH")]
    corpus: Vec<String>,
    /// Replay from this checkpoint step [default: the one before --to].
    #[arg(long, value_name = "STEP")]
    from: Option<u64>,
    /// Replay to this checkpoint step [default: the last checkpoint].
    #[arg(long, value_name = "STEP")]
    to: Option<u64>,
    /// Skip the dataset re-derivation.
    #[arg(long)]
    no_data: bool,
    /// Skip the replay.
    #[arg(long)]
    no_replay: bool,
    /// Do not write verification.json into the bundle.
    #[arg(long)]
    no_record: bool,
    /// Where the base model of an adapted release is [default: the path its run recorded]; its
    /// files must have the SHA-256 the run recorded.
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs verify; exit code 0 only when every check that ran passed.
pub(crate) fn verify(a: VerifyArgs) -> Result<u8> {
    let corpus = a
        .corpus
        .iter()
        .map(|c| match c.split_once('=') {
            Some((n, p)) if !n.contains('/') => (Some(n.to_string()), PathBuf::from(p)),
            _ => (None, PathBuf::from(c)),
        })
        .collect();
    let opts = VerifyOptions {
        corpus,
        data: !a.no_data,
        replay: !a.no_replay,
        from: a.from,
        to: a.to,
        record: !a.no_record,
        base: a.base,
    };
    let report = verify::verify(&a.bundle, &opts, &mut |stage| {
        if !a.json && !stage.starts_with("replay step") {
            eprintln!("verify: {stage}");
        }
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            let mark = match c.status {
                Status::Passed => "PASS",
                Status::Failed => "FAIL",
                Status::Skipped => "SKIP",
            };
            println!("{mark} {:<12} {}", c.name, c.summary);
            if c.status == Status::Failed {
                for d in c.details.iter().skip(1).take(10) {
                    println!("     {d}");
                }
            }
        }
        println!(
            "{}: {}",
            a.bundle.display(),
            if report.passed {
                "verified"
            } else {
                "NOT verified"
            }
        );
    }
    Ok(if report.passed { 0 } else { 1 })
}

#[derive(Debug, clap::Args)]
pub(crate) struct TraceArgs {
    /// The bundle directory.
    bundle: PathBuf,
    /// A document id (`source:position:hash8`): where it was trained on.
    #[arg(long, value_name = "ID", conflicts_with_all = ["step", "checkpoint"])]
    doc: Option<String>,
    /// The documents trained on in the first N steps.
    #[arg(long, value_name = "N", conflicts_with = "checkpoint")]
    step: Option<u64>,
    /// The documents the weights of checkpoint N had seen.
    #[arg(long, value_name = "N")]
    checkpoint: Option<u64>,
    /// Print JSON (every document listed).
    #[arg(long)]
    json: bool,
}

pub(crate) fn trace(a: TraceArgs) -> Result<()> {
    if let Some(id) = &a.doc {
        let t = trace::document(&a.bundle, id)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&t)?);
            return Ok(());
        }
        println!("{} ({} , {}): tokens {}", t.id, t.source, t.lang, t.span);
        match (t.first_step, t.first_checkpoint) {
            (Some(s), ck) => println!(
                "trained on {} times ({} tokens); first at step {s}; first checkpoint that had seen it: {}",
                t.occurrences.len(),
                t.tokens_trained,
                ck.map_or("none (after the last checkpoint)".into(), |c| format!(
                    "step {c}"
                ))
            ),
            (None, _) => println!("never trained on (held out, or beyond the run's steps)"),
        }
        for o in t.occurrences.iter().take(20) {
            println!(
                "  step {:>6} row {:>3} epoch {} sample {:>8} tokens {}",
                o.step, o.row, o.epoch, o.sample, o.tokens
            );
        }
        if t.occurrences.len() > 20 {
            println!("  … {} more (--json lists all)", t.occurrences.len() - 20);
        }
        return Ok(());
    }
    let t = match (a.step, a.checkpoint) {
        (Some(s), None) => trace::steps(&a.bundle, s)?,
        (None, Some(c)) => trace::checkpoint(&a.bundle, c)?,
        _ => bail!("give --doc ID, --step N or --checkpoint N"),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(());
    }
    println!(
        "after {} steps: {} samples, {} tokens, {} distinct documents",
        t.steps,
        t.samples,
        t.tokens,
        t.documents.len()
    );
    for (k, c) in &t.by_source {
        println!(
            "  source {k}: {} documents, {} tokens",
            c.documents, c.tokens
        );
    }
    for (k, c) in &t.by_language {
        println!(
            "  language {k}: {} documents, {} tokens",
            c.documents, c.tokens
        );
    }
    for (id, n) in t.documents.iter().take(10) {
        println!("  {id}  {n} tokens");
    }
    if t.documents.len() > 10 {
        println!("  … {} more (--json lists all)", t.documents.len() - 10);
    }
    Ok(())
}

/// The thread count the bundle's run trained with (`release.json` `threads`), so the replay
/// computes with the same one; read before any thread pool exists.
pub(crate) fn run_threads(a: &VerifyArgs) -> Option<usize> {
    let text = std::fs::read_to_string(a.bundle.join("release.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("threads")?
        .as_u64()
        .filter(|n| *n > 0)
        .map(|n| n as usize)
}
