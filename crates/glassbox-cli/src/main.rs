//! The `glassbox` command: parses flags, wires the library crates together, prints results and
//! maps errors to exit codes. No logic of its own lives here.
//!
//! Exit codes: 0 success; 1 the command failed (bad input, missing file, model error); 2 the
//! command line itself is wrong (clap's usage errors); 3 `audit --min-level` not met.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc instead of the system allocator: training allocates and frees tensors of tens of
/// megabytes every operation, which glibc hands back to the kernel and faults in again (zeroed)
/// each time. Measured in docs/PERFORMANCE.md (bench train).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the option enum of the mimalloc (v3) that libmimalloc-sys builds;
/// the test `mimalloc_option_table_is_the_expected_one` guards the number.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in mimalloc instead of returning it to the kernel (purge delay -1), so the
/// next tensor of the same size reuses mapped pages.
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; it takes no
    // pointers and any value is valid for this option (-1 means "never purge"). The option index
    // is checked against the bound library by the test below. No other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

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
    /// The whole assembly line in a few minutes: get a public-domain corpus, curate it, train a
    /// tokenizer, tokenize, train a small model with checkpoints, and sample from them.
    #[command(
        after_help = "Examples:\n  glassbox quickstart                          # the World English Bible, via Debian's diatheke\n  glassbox quickstart --corpus my-texts/ --corpus-license CC-BY-4.0 --out qs-mine"
    )]
    Quickstart(cmd::quickstart::Args),
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
    /// Evaluate a model on tasks in lm-evaluation-harness's YAML dialect (multiple choice with
    /// acc/acc_norm, rolling perplexity), scored exactly as lm-eval scores them.
    #[command(
        after_help = "Example:\n  glassbox eval --model ./SmolLM2-135M --task tasks/verses_mc.yaml --num-fewshot 2"
    )]
    Eval(Box<cmd::eval::Args>),
    /// Serve models over an OpenAI-compatible HTTP API with continuous batching.
    #[command(
        after_help = "Examples:\n  glassbox serve --model ./SmolLM2-135M-Instruct\n  glassbox serve --model smol=./SmolLM2-135M-Instruct --model mine=quickstart/bundle --port 8080 --api-key secret\n\nThen: curl http://127.0.0.1:8000/v1/completions -d '{\"prompt\": \"Hello\", \"max_tokens\": 8}'"
    )]
    Serve(cmd::serve::Args),
    /// Look inside a run or a release bundle in the browser: its curves, checkpoints, samples and
    /// trace at /runs, its model in the playground, its openness report.
    #[command(
        after_help = "Examples:\n  glassbox ui quickstart          # the quickstart's run and bundle\n  glassbox ui quickstart/bundle --port 8080\n\nThen open http://127.0.0.1:8000/runs"
    )]
    Ui(cmd::ui::Args),
    /// Hand a run to a distributed engine: the same weights, data order and settings for
    /// PyTorch FSDP, OLMo-core's Trainer or Megatron-Core (torchrun), with a launch script.
    #[command(
        after_help = "Example:\n  glassbox export-run recipe.toml --engine torch-fsdp --out fsdp-run\n  NPROC=2 fsdp-run/launch.sh\n  glassbox export-run recipe.toml --engine olmo-core --out olmo-run"
    )]
    ExportRun(cmd::export_run::Args),
    /// Bring a run trained by an engine from `glassbox export-run` back as a glassbox run
    /// directory (checkpoints, logs, run.json naming the engine).
    #[command(
        after_help = "Example:\n  glassbox import-run engine-run --export fsdp-run --out runs/from-fsdp\n  glassbox eval --run runs/from-fsdp --task heldout"
    )]
    ImportRun(cmd::export_run::ImportArgs),
    /// Re-save a model directory (other dtype, shards) in Hugging Face layout.
    #[command(
        after_help = "Example:\n  glassbox convert --model ./SmolLM2-135M --out ./smol-bf16 --dtype bf16"
    )]
    Convert(cmd::convert::Args),
    /// Merge a LoRA adapter into its base model (W + s·B·A) and save the result, or take it back
    /// out with --unmerge.
    #[command(
        after_help = "Examples:\n  glassbox merge-adapter --model ./SmolLM2-135M --adapter runs/lora/adapter --out ./smol-merged\n  glassbox merge-adapter --model ./smol-merged --adapter runs/lora/adapter --unmerge --out ./smol-base"
    )]
    MergeAdapter(cmd::convert::Args),
    /// Merge models that share a base and shape (linear, task arithmetic, TIES, DARE, SLERP);
    /// the recipe, the inputs' hashes and the seed are written beside the result.
    #[command(
        after_help = "Example:\n  glassbox merge merge.toml --out merged/\n\nmerge.toml:\n  method = \"ties\"\n  base = \"SmolLM2-135M\"\n  density = 0.5\n  [[models]]\n  path = \"smol-es\"\n  [[models]]\n  path = \"smol-code\""
    )]
    Merge(cmd::merge::Args),
    /// Grow a model's vocabulary to an extended tokenizer's (new embedding and output rows start
    /// as the mean of the old ones; existing token ids must not change).
    #[command(
        after_help = "Example:\n  glassbox data tokenizer extend --tokenizer smol/tokenizer.json --input curated-es --add 2000 --out tok-es.json\n  glassbox resize-vocab --model smol --tokenizer tok-es.json --out smol-es-vocab"
    )]
    ResizeVocab(cmd::resize_vocab::Args),
    /// List a model's checkpoint series in step order (Pythia's step0 … step143000, OLMo's
    /// stage1-step…-tokens…B revisions, a glassbox run's checkpoints), each a loadable model.
    #[command(after_help = "Examples:
  glassbox checkpoints pythia-70m/                # step0/, step1/, …, step143000/
  glassbox checkpoints ~/.cache/huggingface/hub/models--EleutherAI--pythia-70m --load
  glassbox checkpoints runs/tiny --json")]
    Checkpoints(cmd::checkpoints::Args),
    /// Train a model from a recipe, with Pythia-style checkpoints, logs and resume.
    #[command(
        after_help = "Examples:\n  glassbox train recipe.toml --out runs/tiny\n  glassbox train --resume runs/tiny"
    )]
    Train(cmd::train::Args),
    /// The data pipeline: curate, tokenizers, tokenize, data order, batches, trace, interop.
    #[command(subcommand)]
    Data(cmd::data::Data),
    /// Assemble a release bundle from a finished run: model, card, paper, data and its order,
    /// checkpoints, logs, evaluation, code, licences, and MANIFEST.json hashing every file.
    #[command(
        after_help = "Example:\n  glassbox release runs/tiny --out bundles/tiny\n  glassbox release runs/big --out bundles/big --checkpoints reference"
    )]
    Release(cmd::release::ReleaseArgs),
    /// Prove a bundle: hashes, dataset re-derived from the corpus, a checkpoint interval replayed
    /// bit for bit. Exit code 0 only when every check passes.
    #[command(
        after_help = "Examples:\n  glassbox verify bundles/tiny\n  glassbox verify bundles/tiny --corpus corpus/en_web.txt --from 4 --to 8 --json"
    )]
    Verify(cmd::release::VerifyArgs),
    /// Provenance over a bundle: where a document was trained on, or what a step had seen.
    #[command(
        after_help = "Examples:\n  glassbox trace bundles/tiny --doc corpus:00000012:3fa2b1c0\n  glassbox trace bundles/tiny --checkpoint 64 --json"
    )]
    Trace(cmd::release::TraceArgs),
    /// Judge a model release against the four freedoms and place it on the openness spectrum.
    #[command(
        after_help = "Examples:\n  glassbox audit ./my-model\n  glassbox audit hf:EleutherAI/pythia-70m --format html --out pythia.html\n  glassbox audit mot/models/BLOOM.yml --format json\n  glassbox audit ./releases/            # one line per target, then a summary\n  glassbox audit ./bundle --export cyclonedx --out bom.json\n\nExit codes: 0 report written; 1 the target could not be audited; 3 below --min-level."
    )]
    Audit(cmd::audit::Args),
    /// Benchmarks (throughput figures for docs/PERFORMANCE.md).
    #[command(subcommand)]
    Bench(cmd::bench::Bench),
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let threads = cli.threads.or(match &cli.command {
        Command::Train(a) => cmd::train::recipe_threads(a),
        Command::Verify(a) => cmd::release::run_threads(a),
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
    let result = dispatch(cli.command);
    if std::env::var_os("GLASSBOX_REPORT_PEAK_RSS").is_some() {
        // Used by `bench data` to measure a child process's peak memory.
        if let Some(b) = glassbox_data::bench::peak_rss() {
            eprintln!("peak-rss-bytes: {b}");
        }
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs `f` on one of rayon's worker threads (`join` from outside the pool moves it there), so
/// that the many small parallel products of inference are shared between the workers without
/// the main thread going to sleep and waking around each one (decoding a SmolLM2-135M-shaped
/// Q8_0 model: 41 → 49 tokens/s on 2 threads). Only for verbs that compute and return; a verb
/// that blocks (a server, a chat waiting for input) would hold one worker idle.
fn on_a_worker(f: impl FnOnce() -> anyhow::Result<()> + Send) -> anyhow::Result<()> {
    rayon::join(f, || ()).0
}

/// Runs a verb; the exit code on success (0, or 3 for an unmet `audit --min-level`).
fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Quickstart(a) => cmd::quickstart::run(a),
        Command::Generate(a) => on_a_worker(|| cmd::generate::run(a)),
        Command::Chat(a) => cmd::chat::run(a),
        Command::Score(a) => on_a_worker(|| cmd::score::run(a)),
        Command::Eval(a) => on_a_worker(|| cmd::eval::run(*a)),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Ui(a) => cmd::ui::run(a),
        Command::ExportRun(a) => cmd::export_run::run(a),
        Command::ImportRun(a) => cmd::export_run::import(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::MergeAdapter(a) => cmd::convert::merge_adapter(a),
        Command::Checkpoints(a) => cmd::checkpoints::run(a),
        Command::Merge(a) => cmd::merge::run(a),
        Command::ResizeVocab(a) => cmd::resize_vocab::run(a),
        Command::Bench(b) => cmd::bench::run(b),
        Command::Data(d) => cmd::data::run(d),
        Command::Train(a) => cmd::train::run(a),
        Command::Audit(a) => return cmd::audit::run(a),
        Command::Verify(a) => return cmd::release::verify(a),
        Command::Release(a) => cmd::release::release(a),
        Command::Trace(a) => cmd::release::trace(a),
    }
    .map(|()| 0)
}

#[cfg(test)]
mod tests {
    /// The option index must be mimalloc's purge delay: a child test process started with
    /// `MIMALLOC_PURGE_DELAY=1234` (read by mimalloc at start-up) must see 1234 at that index.
    #[test]
    fn purge_delay_index_is_the_purge_delay_option() {
        // SAFETY: reads an integer from mimalloc's option table.
        #[allow(unsafe_code)]
        let value = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("GLASSBOX_MIMALLOC_PROBE").is_some() {
            println!("purge-delay={value}");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::purge_delay_index_is_the_purge_delay_option",
                "--nocapture",
            ])
            .env("GLASSBOX_MIMALLOC_PROBE", "1")
            .env("MIMALLOC_PURGE_DELAY", "1234")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("purge-delay=1234"), "{text}");
    }
}
