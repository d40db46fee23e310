//! `glassbox ui PATH`: `glassbox serve` on a run, a release bundle or a folder of them, with the
//! runs pages listing PATH and its model (the bundle's, or the run's newest checkpoint) in the
//! playground.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Parser;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A training run, a release bundle, or a folder holding them (a quickstart's output).
    path: PathBuf,
    /// Address to bind (the default accepts local connections only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

/// `glassbox serve`'s arguments, parsed from the command line this verb builds.
#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    a: super::serve::Args,
}

/// A model directory in HF layout.
fn is_model(dir: &Path) -> bool {
    dir.join("config.json").is_file()
        && (dir.join("model.safetensors").is_file()
            || dir.join("model.safetensors.index.json").is_file())
}

/// The newest checkpoint of a run with its `state.json` (a complete one).
fn newest_checkpoint(run: &Path) -> Option<PathBuf> {
    let mut steps: Vec<(u64, PathBuf)> = std::fs::read_dir(run.join("checkpoints"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let step = n.strip_prefix("step-")?.parse::<u64>().ok()?;
            let p = e.path();
            (p.join("state.json").is_file() && is_model(&p)).then_some((step, p))
        })
        .collect();
    steps.sort();
    steps.pop().map(|(_, p)| p)
}

/// The model to serve for `path`: itself (a bundle or model folder), a run's newest complete
/// checkpoint, or the first of those one or two folders down (model folders before runs).
fn model_of(path: &Path) -> Option<PathBuf> {
    find_model(path, 2)
}

fn find_model(dir: &Path, depth: usize) -> Option<PathBuf> {
    if is_model(dir) {
        return Some(dir.to_path_buf());
    }
    if let Some(c) = newest_checkpoint(dir) {
        return Some(c);
    }
    if depth == 0 {
        return None;
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    children.sort();
    children
        .iter()
        .find(|c| is_model(c))
        .cloned()
        .or_else(|| children.iter().find_map(|c| find_model(c, depth - 1)))
}

pub(crate) fn run(a: Args) -> Result<()> {
    if !a.path.is_dir() {
        bail!(
            "{}: not a folder (give a run, a bundle or a folder of them)",
            a.path.display()
        );
    }
    let Some(model) = model_of(&a.path) else {
        bail!(
            "{}: no model to serve: give a run with a complete checkpoint, a release bundle, or a folder holding one",
            a.path.display()
        );
    };
    eprintln!(
        "glassbox ui: serving {} ; the runs pages list {} at /runs",
        model.display(),
        a.path.display()
    );
    let port = a.port.to_string();
    let argv: Vec<std::ffi::OsString> = vec![
        "serve".into(),
        "--model".into(),
        model.into_os_string(),
        "--runs".into(),
        a.path.clone().into_os_string(),
        "--host".into(),
        a.host.clone().into(),
        "--port".into(),
        port.into(),
    ];
    let s = Serve::try_parse_from(argv)?;
    super::serve::run(s.a)
}
