//! `glassbox generate`.

use std::io::Write;

use anyhow::{Result, bail};
use glassbox_infer::{FinishReason, GenerateOptions};

use super::common::{ModelArg, SamplingArgs, load_engine};

/// Version of the `glassbox generate --json` lines (docs/formats.md).
const GENERATE_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// Text to continue (repeat for a batch; the batch is generated together).
    #[arg(long, required = true, value_name = "TEXT")]
    prompt: Vec<String>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Do not add the tokenizer's special tokens (such as BOS) to the prompt.
    #[arg(long)]
    no_special_tokens: bool,
    /// Recompute the whole sequence every step instead of using the KV cache (slow; for checks).
    #[arg(long)]
    no_cache: bool,
    /// Print one JSON object per prompt (tokens, text, finish reason) instead of streaming text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(a: Args) -> Result<()> {
    let engine = load_engine(&a.model.model, a.model.adapter.as_deref(), a.model.device)?;
    let mut requests = Vec::new();
    for (i, p) in a.prompt.iter().enumerate() {
        if p.is_empty() {
            bail!("--prompt #{}: the prompt is empty", i + 1);
        }
        let ids = engine.tokenizer.encode(p, !a.no_special_tokens)?;
        requests.push(a.sampling.request(&engine, ids));
    }
    let single = requests.len() == 1;
    let options = GenerateOptions {
        use_cache: !a.no_cache,
    };
    let stdout = std::io::stdout();
    let streaming = single && !a.json;
    if streaming {
        print!("{}", a.prompt[0]);
        let _ = stdout.lock().flush();
    }
    let out = engine.generate(&requests, options, &mut |_, text| {
        if streaming {
            let mut lock = stdout.lock();
            // A closed pipe (`| head`) is not an error worth a panic: stop writing.
            let _ = lock.write_all(text.as_bytes()).and_then(|_| lock.flush());
        }
    })?;
    if a.json {
        for (p, c) in a.prompt.iter().zip(&out) {
            let v = serde_json::json!({"schema_version": GENERATE_SCHEMA_VERSION, "prompt": p, "completion": c});
            println!("{v}");
        }
    } else if streaming {
        println!();
    } else {
        for (i, (p, c)) in a.prompt.iter().zip(&out).enumerate() {
            println!("--- [{i}] {}", finish_label(&c.finish));
            println!("{p}{}", c.text);
        }
    }
    Ok(())
}

pub(crate) fn finish_label(f: &FinishReason) -> String {
    match f {
        FinishReason::Eos => "stopped at end-of-sequence".into(),
        FinishReason::Stop(s) => format!("stopped at {s:?}"),
        FinishReason::Length => "stopped at the token limit".into(),
    }
}
