//! `glassbox score`.

use anyhow::{Result, bail};

use super::common::{ModelArg, load_engine};

/// Version of the `glassbox score` JSON (docs/formats.md).
const SCORE_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// The text to score.
    #[arg(long, value_name = "TEXT")]
    text: String,
    /// Also list the N most likely tokens at each position.
    #[arg(long, default_value_t = 0, value_name = "N")]
    top: usize,
    /// Do not add the tokenizer's special tokens (such as BOS).
    #[arg(long)]
    no_special_tokens: bool,
}

pub(crate) fn run(a: Args) -> Result<()> {
    if a.text.is_empty() {
        bail!("--text is empty: nothing to score");
    }
    let engine = load_engine(&a.model.model, a.model.adapter.as_deref(), a.model.device)?;
    let ids = engine.tokenizer.encode(&a.text, !a.no_special_tokens)?;
    let tokens = engine.score(&ids, a.top)?;
    let total: f64 = tokens.iter().filter_map(|t| t.logprob).sum();
    let scored = tokens.iter().filter(|t| t.logprob.is_some()).count();
    let out = serde_json::json!({
        "schema_version": SCORE_SCHEMA_VERSION,
        "model": a.model.model.display().to_string(),
        "text": a.text,
        "tokens": tokens,
        "sum_logprob": total,
        "scored_tokens": scored,
        "perplexity": if scored > 0 { Some((-total / scored as f64).exp()) } else { None },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
