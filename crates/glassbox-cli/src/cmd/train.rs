//! `glassbox train`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use glassbox_train::trainer::{self, Event, Options};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The recipe (docs/training.md). Not needed with --resume.
    recipe: Option<PathBuf>,
    /// Run directory [default: runs/RECIPE, RECIPE being the recipe's file name without .toml].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the run in this directory from its newest valid checkpoint.
    #[arg(long, value_name = "RUN")]
    resume: Option<PathBuf>,
    /// Stop after this many steps (a checkpoint is written; --resume continues exactly).
    #[arg(long, value_name = "STEPS")]
    stop_after: Option<u64>,
    /// Where the model trains: cpu, or cuda / cuda:N in a glassbox built with `--features cuda`
    /// (recorded in run.json; bit-exact resume is promised on the same device).
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    device: glassbox_model::device::DeviceSpec,
}

/// The progress bar and its messages.
pub(crate) fn progress() -> (indicatif::ProgressBar, impl FnMut(Event)) {
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    let b = bar.clone();
    let mut eval = String::new();
    // Without a terminal the bar is hidden and so are its println lines: write them plainly.
    let say = move |b: &indicatif::ProgressBar, line: String| {
        if b.is_hidden() {
            eprintln!("{line}");
        } else {
            b.println(line);
        }
    };
    let handler = move |e: Event| match e {
        Event::Step(s, total) => {
            b.set_length(total);
            b.set_position(s.step);
            b.set_message(format!(
                "loss {:.4}  {:.0} tok/s{eval}",
                s.loss, s.tokens_per_s
            ));
        }
        Event::Eval(e) => eval = format!("  held-out {:.4}", e.loss),
        Event::Checkpoint(step, path) => say(&b, format!("checkpoint {step}: {}", path.display())),
        Event::Note(n) => say(&b, n),
    };
    (bar, handler)
}

pub(crate) fn run(a: Args) -> Result<()> {
    let (bar, mut events) = progress();
    let options = Options {
        stop_after: a.stop_after,
        device: a.device,
    };
    let summary = match (&a.resume, &a.recipe) {
        (Some(run), _) => trainer::resume(run, options, &mut events)?,
        (None, Some(recipe)) => {
            let out = a.out.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(recipe.file_stem().unwrap_or_default())
            });
            trainer::train(recipe, &out, options, &mut events)?
        }
        (None, None) => bail!("give a RECIPE.toml, or --resume RUN"),
    };
    bar.finish_and_clear();
    println!(
        "trained {} steps into {}: loss {}, held-out {}; final weights SHA-256 {} ({}); peak memory {} MiB",
        summary.steps,
        summary.dir.display(),
        summary.loss.map_or("–".into(), |l| format!("{l:.4}")),
        summary.eval_loss.map_or("–".into(), |l| format!("{l:.4}")),
        summary.final_weights_sha256,
        summary.final_checkpoint.display(),
        glassbox_data::bench::peak_rss().unwrap_or(0) >> 20
    );
    Ok(())
}

/// `train.threads` of the recipe a train command will use, read before any thread pool exists.
pub(crate) fn recipe_threads(a: &Args) -> Option<usize> {
    let path = match (&a.resume, &a.recipe) {
        (Some(run), _) => run.join("recipe.toml"),
        (None, Some(r)) => r.clone(),
        _ => return None,
    };
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("train")?
        .get("threads")?
        .as_integer()
        .filter(|n| *n > 0)
        .map(|n| n as usize)
}
