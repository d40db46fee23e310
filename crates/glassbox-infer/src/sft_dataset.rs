//! Writing a chat dataset (`glassbox data chat`): every conversation of a JSONL file rendered
//! with the model's chat template ([`crate::sft`]), split into training and held-out
//! conversations, laid into rows ([`glassbox_data::chat::pack`]) and written with its manifest,
//! the tokenizer files (template included) and a copy of the conversations themselves, so the
//! dataset can be derived again from what it holds and compared file by file.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use glassbox_data::chat::{CHAT_SCHEMA, ChatManifest, Example, MAX_ROW, pack, write_rows};
use serde_json::{Value, json};

use crate::sft::{parse_line, render_masked};
use crate::{ChatTemplate, InferError, Result, TextTokenizer};

/// The copy of the conversations a chat dataset keeps.
pub const SOURCE_FILE: &str = "source.jsonl";

/// How to build a chat dataset.
#[derive(Debug, Clone)]
pub struct ChatDatasetOptions {
    /// The chat JSONL file.
    pub input: PathBuf,
    /// Model (or chat dataset) directory whose tokenizer and chat template render it.
    pub model: PathBuf,
    /// A template file used instead of the model's.
    pub template: Option<PathBuf>,
    /// Training sequence length (rows hold `seq_len + 1` tokens).
    pub seq_len: usize,
    /// Whether conversations share rows.
    pub pack: bool,
    /// Share of conversations held out.
    pub heldout: f64,
    /// Seed of the held-out choice.
    pub heldout_seed: u64,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> InferError {
    InferError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Builds the chat dataset of `opts` in `out` (which must not hold a dataset yet) and returns
/// its manifest.
pub fn write_chat_dataset(opts: &ChatDatasetOptions, out: &Path) -> Result<ChatManifest> {
    if opts.seq_len == 0 || opts.seq_len >= MAX_ROW {
        return Err(InferError::Input(format!(
            "seq_len {} must be between 1 and {}",
            opts.seq_len,
            MAX_ROW - 1
        )));
    }
    if !(0.0..1.0).contains(&opts.heldout) {
        return Err(InferError::Input(format!(
            "the held-out share {} must lie in [0, 1)",
            opts.heldout
        )));
    }
    if out.join("manifest.json").exists() {
        return Err(InferError::Input(format!(
            "{} already holds a dataset; choose another output directory",
            out.display()
        )));
    }
    let mut tk = TextTokenizer::load(&opts.model)?;
    if let Some(t) = &opts.template {
        let text = std::fs::read_to_string(t).map_err(|e| io_err(t, e))?;
        let name = t
            .file_name()
            .map_or("template".into(), |n| n.to_string_lossy().into_owned());
        tk.chat_template = Some((text, name));
    }
    let template =
        ChatTemplate::from_tokenizer(&tk)?.ok_or_else(|| InferError::NoChatTemplate {
            dir: opts.model.clone(),
        })?;
    let (template_text, template_source) = tk.chat_template.clone().unwrap_or_default();
    let eos = tk.eos_token.clone();
    let eos_id = eos.as_deref().and_then(|e| tk.token_id(e));
    let pad_id = tk
        .pad_token
        .as_deref()
        .and_then(|p| tk.token_id(p))
        .or(eos_id)
        .unwrap_or(0);
    let source = opts.input.display().to_string();
    let file = std::fs::File::open(&opts.input).map_err(|e| io_err(&opts.input, e))?;
    let (mut train, mut held) = (Vec::new(), Vec::new());
    let mut lines = 0usize;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| InferError::ChatData {
            file: source.clone(),
            line: i + 1,
            message: format!("cannot be read as UTF-8 text: {e}"),
        })?;
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
        if glassbox_data::tokenize::is_heldout(&id, opts.heldout, opts.heldout_seed) {
            held.push(example);
        } else {
            train.push(example);
        }
    }
    if train.is_empty() {
        return Err(InferError::ChatData {
            file: source,
            line: lines,
            message: "no conversations for training (an empty file, or every one held out)".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let (train_rows, mut report) = pack(&train, opts.seq_len, opts.pack, pad_id);
    let (held_rows, held_report) = pack(&held, opts.seq_len, opts.pack, pad_id);
    report.truncated_lines.extend(held_report.truncated_lines);
    report.dropped_lines.extend(held_report.dropped_lines);
    report.truncated_lines.sort_unstable();
    report.dropped_lines.sort_unstable();
    let used = |ex: &[Example]| {
        ex.iter()
            .filter(|e| report.dropped_lines.binary_search(&e.line).is_err())
            .count() as u64
    };
    let mut splits = std::collections::BTreeMap::new();
    let n = used(&train);
    let split = write_rows(&out.join("train.rows"), &train_rows, opts.seq_len, n)?;
    splits.insert("train".to_string(), split);
    if !held_rows.is_empty() {
        let n = used(&held);
        let split = write_rows(&out.join("heldout.rows"), &held_rows, opts.seq_len, n)?;
        splits.insert("heldout".to_string(), split);
    }
    let tk_json = opts.model.join("tokenizer.json");
    std::fs::copy(&tk_json, out.join("tokenizer.json")).map_err(|e| io_err(&tk_json, e))?;
    std::fs::copy(&opts.input, out.join(SOURCE_FILE)).map_err(|e| io_err(&opts.input, e))?;
    write_tokenizer_config(&opts.model, out, &template_text)?;
    let manifest = ChatManifest {
        schema_version: CHAT_SCHEMA,
        kind: "chat".into(),
        source: json!({
            "file": opts.input.file_name().map(|n| n.to_string_lossy().into_owned()),
            "copy": SOURCE_FILE,
            "sha256": glassbox_core::hash::sha256_file(&opts.input)?,
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
        seq_len: opts.seq_len,
        packing: opts.pack,
        heldout_fraction: opts.heldout,
        heldout_seed: opts.heldout_seed,
        splits,
        report,
    };
    glassbox_core::fsio::write_json_atomic(&out.join("manifest.json"), &manifest)?;
    Ok(manifest)
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
        return Err(InferError::Config {
            path: p,
            field: "(top level)".into(),
            message: "not a JSON object".into(),
        });
    };
    obj.insert("chat_template".into(), Value::String(template.to_string()));
    glassbox_core::fsio::write_json_atomic(&out.join("tokenizer_config.json"), &cfg)?;
    Ok(())
}

/// Derives the chat dataset at `dir` again from what it holds (its copy of the conversations,
/// tokenizer and template) into `scratch`, and lists every difference of the rows files and
/// counts; empty when the dataset is exactly what its inputs give.
pub fn rederive_chat_dataset(dir: &Path, scratch: &Path) -> Result<Vec<String>> {
    let m: ChatManifest = glassbox_core::fsio::read_json(&dir.join("manifest.json"))?;
    let opts = ChatDatasetOptions {
        input: dir.join(SOURCE_FILE),
        model: dir.to_path_buf(),
        template: None,
        seq_len: m.seq_len,
        pack: m.packing,
        heldout: m.heldout_fraction,
        heldout_seed: m.heldout_seed,
    };
    let again = write_chat_dataset(&opts, scratch)?;
    let mut diffs = Vec::new();
    if again.source.get("sha256") != m.source.get("sha256") {
        diffs.push(format!(
            "{SOURCE_FILE}: SHA-256 {} differs from the manifest's {}",
            again.source["sha256"], m.source["sha256"]
        ));
    }
    if again.template.get("sha256") != m.template.get("sha256") {
        diffs.push(
            "the template in tokenizer_config.json is not the one the rows were rendered with"
                .into(),
        );
    }
    for (name, want) in &m.splits {
        match again.splits.get(name) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!(
                "{}: derived again it has SHA-256 {} ({} rows, {} trained tokens), the manifest lists {} ({} rows, {} trained tokens)",
                want.file, got.sha256, got.rows, got.trained_tokens, want.sha256, want.rows, want.trained_tokens
            )),
            None => diffs.push(format!("{}: not produced when derived again", want.file)),
        }
    }
    if again.report != m.report {
        diffs.push("the cut and left-out conversations differ from the manifest's".into());
    }
    Ok(diffs)
}
