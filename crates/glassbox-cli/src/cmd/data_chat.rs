//! `glassbox data chat`: conversations (OpenAI `messages` JSONL) rendered with a model's chat
//! template into an instruction-tuning dataset whose loss falls on the assistant's tokens.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glassbox_data::chat::{ChatManifest, Example, pack, write_rows};
use glassbox_infer::sft::{parse_line, render_masked};
use glassbox_infer::{ChatTemplate, InferError, TextTokenizer};
use serde_json::{Value, json};

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
    if a.seq_len == 0 || a.seq_len >= glassbox_data::chat::MAX_ROW {
        bail!(
            "--seq-len {} must be between 1 and {}",
            a.seq_len,
            glassbox_data::chat::MAX_ROW - 1
        );
    }
    if !(0.0..1.0).contains(&a.heldout) {
        bail!("--heldout {} must lie in [0, 1)", a.heldout);
    }
    if a.out.join("manifest.json").exists() {
        bail!(
            "{} already holds a dataset; choose another --out",
            a.out.display()
        );
    }
    let mut tk = TextTokenizer::load(&a.model)?;
    if let Some(t) = &a.template {
        let text =
            std::fs::read_to_string(t).with_context(|| format!("reading {}", t.display()))?;
        let name = t
            .file_name()
            .map_or("template".into(), |n| n.to_string_lossy().into_owned());
        tk.chat_template = Some((text, name));
    }
    let template =
        ChatTemplate::from_tokenizer(&tk)?.ok_or_else(|| InferError::NoChatTemplate {
            dir: a.model.clone(),
        })?;
    let Some((template_text, template_source)) = tk.chat_template.clone() else {
        bail!("{}: no chat template", a.model.display());
    };
    let eos = tk.eos_token.clone();
    let eos_id = eos.as_deref().and_then(|e| tk.token_id(e));
    let pad_id = tk
        .pad_token
        .as_deref()
        .and_then(|p| tk.token_id(p))
        .or(eos_id)
        .unwrap_or(0);
    let source = a.input.display().to_string();
    let file = std::fs::File::open(&a.input).with_context(|| format!("opening {source}"))?;
    let (mut train, mut held) = (Vec::new(), Vec::new());
    let mut lines = 0usize;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{source} line {}: not UTF-8 text", i + 1))?;
        lines = i + 1;
        let Some(ex) = parse_line(&source, i + 1, &line)? else {
            continue;
        };
        let r = render_masked(&template, &tk, &ex, &source)?;
        let example = Example {
            line: ex.line,
            ids: r.ids,
            assistant: r.assistant,
        };
        let id = format!("line-{}", ex.line);
        if glassbox_data::tokenize::is_heldout(&id, a.heldout, a.heldout_seed) {
            held.push(example);
        } else {
            train.push(example);
        }
    }
    if train.is_empty() {
        bail!("{source}: no conversations for training (empty file, or all held out)");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (train_rows, mut report) = pack(&train, a.seq_len, a.pack, pad_id);
    let (held_rows, held_report) = pack(&held, a.seq_len, a.pack, pad_id);
    report.truncated_lines.extend(held_report.truncated_lines);
    report.dropped_lines.extend(held_report.dropped_lines);
    report.truncated_lines.sort_unstable();
    report.dropped_lines.sort_unstable();
    let mut splits = std::collections::BTreeMap::new();
    let used = |ex: &[Example]| {
        ex.iter()
            .filter(|e| report.dropped_lines.binary_search(&e.line).is_err())
            .count() as u64
    };
    let n_train = used(&train);
    splits.insert(
        "train".to_string(),
        write_rows(&a.out.join("train.rows"), &train_rows, a.seq_len, n_train)?,
    );
    if !held_rows.is_empty() {
        let n_held = used(&held);
        splits.insert(
            "heldout".to_string(),
            write_rows(&a.out.join("heldout.rows"), &held_rows, a.seq_len, n_held)?,
        );
    }
    let tk_json = a.model.join("tokenizer.json");
    std::fs::copy(&tk_json, a.out.join("tokenizer.json"))
        .with_context(|| format!("copying {}", tk_json.display()))?;
    write_tokenizer_config(&a.model, &a.out, &template_text)?;
    let manifest = ChatManifest {
        schema_version: glassbox_data::chat::CHAT_SCHEMA,
        kind: "chat".into(),
        source: json!({
            "file": a.input.file_name().map(|n| n.to_string_lossy().into_owned()),
            "sha256": glassbox_core::hash::sha256_file(&a.input)?,
            "lines": lines,
        }),
        tokenizer: json!({
            "vocab_size": tk.vocab_size(),
            "eos": eos,
            "eos_id": eos_id.unwrap_or(pad_id),
            "pad_id": pad_id,
            "sha256": glassbox_core::hash::sha256_file(&tk_json)?,
        }),
        template: json!({
            "source": template_source,
            "sha256": glassbox_core::hash::sha256_hex(template_text.as_bytes()),
        }),
        seq_len: a.seq_len,
        packing: a.pack,
        heldout_fraction: a.heldout,
        heldout_seed: a.heldout_seed,
        splits,
        report,
    };
    glassbox_core::fsio::write_json_atomic(&a.out.join("manifest.json"), &manifest)?;
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

/// The model's `tokenizer_config.json` with `chat_template` set to the template used, so a model
/// trained on this dataset carries it.
fn write_tokenizer_config(model: &Path, out: &Path, template: &str) -> Result<()> {
    let p = model.join("tokenizer_config.json");
    let mut cfg: Value = if p.exists() {
        glassbox_core::fsio::read_json(&p)?
    } else {
        json!({})
    };
    let Some(obj) = cfg.as_object_mut() else {
        bail!("{}: not a JSON object", p.display());
    };
    obj.insert("chat_template".into(), Value::String(template.to_string()));
    glassbox_core::fsio::write_json_atomic(&out.join("tokenizer_config.json"), &cfg)?;
    Ok(())
}
