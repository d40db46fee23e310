//! `glassbox data chat`: conversations (OpenAI `messages` JSONL) rendered with a model's chat
//! template into an instruction-tuning dataset whose loss falls on the assistant's tokens.

use std::path::PathBuf;

use anyhow::Result;
use glassbox_infer::sft_dataset::{ChatDatasetOptions, write_chat_dataset};

/// Arguments of `glassbox data chat`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  glassbox data chat --input chat.jsonl --model SmolLM2-135M-Instruct --out work/sft --seq-len 512 --pack\n\n\
Each line: {\"messages\": [{\"role\": \"user\", \"content\": \"…\"}, {\"role\": \"assistant\", \"content\": \"…\"}], \"system\": \"…\"}\n\
(roles: system, user, assistant, tool; `system` optional). Train on the result with `[data] dataset = \"work/sft\"`."
)]
pub(crate) struct ChatArgs {
    /// Chat JSONL: one conversation per line.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Model directory whose tokenizer and chat template render the conversations.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// A Jinja chat template to use instead of the model's (required when it has none).
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Dataset directory to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Training sequence length (rows hold seq_len + 1 tokens; longer conversations are cut).
    #[arg(long, default_value_t = 512)]
    seq_len: usize,
    /// Pack several conversations into a row (attention never crosses them).
    #[arg(long)]
    pack: bool,
    /// Share of conversations held out.
    #[arg(long, default_value_t = 0.0)]
    heldout: f64,
    /// Seed of the held-out choice.
    #[arg(long, default_value_t = 0)]
    heldout_seed: u64,
}

pub(crate) fn run(a: ChatArgs) -> Result<()> {
    let opts = ChatDatasetOptions {
        input: a.input,
        model: a.model,
        template: a.template,
        seq_len: a.seq_len,
        pack: a.pack,
        heldout: a.heldout,
        heldout_seed: a.heldout_seed,
    };
    let manifest = write_chat_dataset(&opts, &a.out)?;
    let t = &manifest.splits["train"];
    println!(
        "wrote {}: {} conversations in {} rows of {} tokens ({} trained tokens of {}){}",
        a.out.display(),
        t.examples,
        t.rows,
        a.seq_len + 1,
        t.trained_tokens,
        t.tokens,
        match manifest.splits.get("heldout") {
            Some(h) => format!("; {} held out", h.examples),
            None => String::new(),
        }
    );
    let r = &manifest.report;
    if !r.truncated_lines.is_empty() {
        println!(
            "  {} conversations cut to {} tokens (lines {})",
            r.truncated_lines.len(),
            a.seq_len + 1,
            list(&r.truncated_lines)
        );
    }
    if !r.dropped_lines.is_empty() {
        println!(
            "  {} conversations left out: no assistant token within the row (lines {})",
            r.dropped_lines.len(),
            list(&r.dropped_lines)
        );
    }
    Ok(())
}

fn list(lines: &[usize]) -> String {
    let mut s: Vec<String> = lines.iter().take(20).map(usize::to_string).collect();
    if lines.len() > 20 {
        s.push("…".into());
    }
    s.join(", ")
}
