//! `glassbox export-run RECIPE --engine torch-fsdp|olmo-core|megatron --out DIR`: the run handed to a distributed
//! engine (`glassbox_train::export`); `glassbox import-run ENGINE_OUT --export DIR --out RUN`:
//! the engine's result brought back as a run (`glassbox_train::import`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use glassbox_train::export::{Engine, export_run};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum EngineArg {
    /// PyTorch FSDP through torchrun (a short training loop over FSDP2).
    TorchFsdp,
    /// OLMo-core's Trainer through torchrun (its configs, data loader and checkpoints).
    OlmoCore,
    /// Megatron-Core's GPTModel through torchrun (tensor parallelism, its indexed dataset).
    Megatron,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The recipe (as for `glassbox train`).
    recipe: PathBuf,
    /// The engine to hand the run to.
    #[arg(long, value_enum)]
    engine: EngineArg,
    /// The export directory (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Print the setting-by-setting mapping as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> Result<()> {
    let engine = match a.engine {
        EngineArg::TorchFsdp => Engine::TorchFsdp,
        EngineArg::OlmoCore => Engine::OlmoCore,
        EngineArg::Megatron => Engine::Megatron,
    };
    let e = export_run(&a.recipe, engine, &a.out)
        .with_context(|| format!("exporting {} for {}", a.recipe.display(), engine.name()))?;
    if a.json {
        let text = std::fs::read_to_string(e.dir.join("export.json"))
            .with_context(|| format!("reading {}", e.dir.join("export.json").display()))?;
        print!("{text}");
        return Ok(());
    }
    println!(
        "export-run: {} steps, {} positions of the data order → {} ({})",
        e.total_steps,
        e.positions,
        e.dir.display(),
        engine.name()
    );
    println!("{:<42} {:<28} counterpart", "recipe key", "value");
    for m in &e.mapping {
        let v = m.value.to_string();
        let v = if v.chars().count() > 28 {
            format!("{}…", v.chars().take(27).collect::<String>())
        } else {
            v
        };
        println!("{:<42} {:<28} {}", m.key, v, m.counterpart);
    }
    let tp = if engine == Engine::Megatron {
        "; TP=2 for two tensor-parallel ranks"
    } else {
        ""
    };
    println!(
        "then: NPROC=2 {}/launch.sh   (needs {}{tp}; BACKEND=nccl on GPUs)",
        e.dir.display(),
        engine.packages()
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// What the engine wrote (checkpoints/, logs/train.jsonl, engine.json).
    engine_out: PathBuf,
    /// The export it trained (`glassbox export-run --out`).
    #[arg(long)]
    export: PathBuf,
    /// The run directory to write (must not exist).
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn import(a: ImportArgs) -> Result<()> {
    let r = glassbox_train::import::import_run(&a.engine_out, &a.export, &a.out)
        .with_context(|| format!("importing {}", a.engine_out.display()))?;
    println!(
        "import-run: {} logged steps, checkpoints {:?} → {}",
        r.steps_logged,
        r.checkpoints,
        r.dir.display()
    );
    Ok(())
}
