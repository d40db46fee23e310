//! The `glassbox` command: parses flags, wires the library crates together, prints results and
//! maps errors to exit codes. No logic of its own lives here.
//!
//! Exit codes: 0 success; 1 the command failed (bad input, missing file, model error); 2 the
//! command line itself is wrong (clap's usage errors); 3 `audit --min-level` not met.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// glassbox: the open AI assembly line you can audit and reproduce.
#[derive(Debug, Parser)]
#[command(name = "glassbox", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Worker threads for tensor math (default: all cores; also RAYON_NUM_THREADS).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Continue a prompt, streaming tokens as they come.
    #[command(
        after_help = "Example:\n  glassbox generate --model ./SmolLM2-135M --prompt \"The capital of France is\" --max-new-tokens 20"
    )]
    Generate(cmd::generate::Args),
    /// Talk with a model through its chat template (reads stdin line by line; works in a pipe).
    #[command(
        after_help = "Example:\n  glassbox chat --model ./SmolLM2-135M-Instruct\n  printf 'Hello!\\nAnd again?\\n' | glassbox chat --model ./SmolLM2-135M-Instruct --greedy"
    )]
    Chat(cmd::chat::Args),
    /// Print the log-probability of every token of a text, given its prefix, as JSON.
    #[command(
        after_help = "Example:\n  glassbox score --model ./SmolLM2-135M --text \"In the beginning God created the heavens\""
    )]
    Score(cmd::score::Args),
    /// Re-save a model directory (other dtype, shards) in Hugging Face layout.
    #[command(
        after_help = "Example:\n  glassbox convert --model ./SmolLM2-135M --out ./smol-bf16 --dtype bf16"
    )]
    Convert(cmd::convert::Args),
    /// Train a model from a recipe, with Pythia-style checkpoints, logs and resume.
    #[command(
        after_help = "Examples:\n  glassbox train recipe.toml --out runs/tiny\n  glassbox train --resume runs/tiny"
    )]
    Train(cmd::train::Args),
    /// The data pipeline: curate, tokenizers, tokenize, data order, batches, trace, interop.
    #[command(subcommand)]
    Data(cmd::data::Data),
    /// Judge a model release against the four freedoms and place it on the openness spectrum.
    #[command(
        after_help = "Examples:\n  glassbox audit ./my-model\n  glassbox audit hf:EleutherAI/pythia-70m --format html --out pythia.html\n  glassbox audit ../shared/openness/mot/models/BLOOM.yml --format json\n  glassbox audit ./releases/            # one line per target, then a summary\n  glassbox audit ./bundle --export cyclonedx --out bom.json\n\nExit codes: 0 report written; 1 the target could not be audited; 3 below --min-level."
    )]
    Audit(cmd::audit::Args),
    /// Benchmarks (throughput figures for docs/PERFORMANCE.md).
    #[command(subcommand)]
    Bench(cmd::bench::Bench),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli.threads.or(match &cli.command {
        Command::Train(a) => cmd::train::recipe_threads(a),
        _ => None,
    });
    if let Some(n) = threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::from(2);
        }
        // SAFETY: `set_var` is unsafe because another thread could read the environment at the
        // same time. Nothing has started a thread yet: this is the first statement of `main`
        // after argument parsing, before candle's or rayon's pools exist. candle reads
        // RAYON_NUM_THREADS for its matmul parallelism and rayon sizes its global pool from it.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        }
    }
    let result = match cli.command {
        Command::Generate(a) => cmd::generate::run(a),
        Command::Chat(a) => cmd::chat::run(a),
        Command::Score(a) => cmd::score::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Bench(b) => cmd::bench::run(b),
        Command::Data(d) => cmd::data::run(d),
        Command::Train(a) => cmd::train::run(a),
        Command::Audit(a) => match cmd::audit::run(a) {
            Ok(0) => Ok(()),
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
    };
    if std::env::var_os("GLASSBOX_REPORT_PEAK_RSS").is_some() {
        // Used by `bench data` to measure a child process's peak memory.
        if let Some(b) = glassbox_data::bench::peak_rss() {
            eprintln!("peak-rss-bytes: {b}");
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
