//! `glassbox convert --to ollama`: a model directory as `OUT/<name>.gguf` and an
//! `OUT/Modelfile` for `ollama create NAME -f OUT/Modelfile`.
//!
//! The Modelfile carries the chat template as an Ollama (Go) template, observed from the
//! model's Jinja template and checked against it ([`glassbox_infer::ollama_template`]), the
//! stop strings (end-of-turn and EOS tokens), the context length, the sampling defaults of
//! `generation_config.json` and the licence.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use glassbox_infer::ollama_template::TurnStructure;
use glassbox_infer::{ChatTemplate, TextTokenizer};
use glassbox_model::Transformer;
use glassbox_model::gguf::{GgufFile, Value};

/// Writes `OUT/<name>.gguf` (matrices as `quant`) and `OUT/Modelfile`; `template_go` is a Go
/// template file used instead of the one observed from the model's chat template.
pub(crate) fn write(
    model: &Transformer,
    src: &Path,
    out: &Path,
    quant: &str,
    template_go: Option<&Path>,
) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} is a file; --to ollama writes a directory (a GGUF file and a Modelfile)",
            out.display()
        );
    }
    let name = file_stem(src);
    let tk = TextTokenizer::load(src)
        .with_context(|| format!("loading the tokenizer of {}", src.display()))?;
    // The template first: a model whose template cannot be written is refused before the
    // (long) export.
    let override_text = match template_go {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let adds_bos = runtime_adds_bos(src, model.config().vocab_size)?;
    let structure = match (&override_text, &tk.chat_template) {
        (None, Some((text, source))) => {
            let t = ChatTemplate::new(text, source, &tk)?;
            let s = TurnStructure::derive(&t, source, tk.bos_token.as_deref(), adds_bos)
                .with_context(|| {
                    format!(
                        "the chat template of {} cannot be converted; write its Ollama template by \
                         hand and pass it with --template-go FILE",
                        src.display()
                    )
                })?;
            Some(s)
        }
        _ => None,
    };
    let gguf = out.join(format!("{name}.gguf"));
    super::convert_gguf::write(model, src, &gguf, quant)?;
    let header = GgufFile::open(&gguf)?;
    let source_sha = match header.get("glassbox.source.sha256") {
        Some(Value::String(s)) => s.clone(),
        _ => glassbox_model::checkpoints::weights_sha256(src)?,
    };

    let mut m = String::new();
    writeln!(
        m,
        "# Modelfile for Ollama, written by glassbox {} (`glassbox convert --to ollama`).",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(m, "# Source weights: {name} (SHA-256 {source_sha}).")?;
    writeln!(
        m,
        "# Use: ollama create {} -f Modelfile",
        ollama_name(&name)
    )?;
    writeln!(m)?;
    writeln!(m, "FROM ./{name}.gguf")?;
    let mut stops: Vec<String> = Vec::new();
    match (&override_text, &structure, &tk.chat_template) {
        (Some(text), _, _) => {
            writeln!(
                m,
                "\n# Chat template: {} (given with --template-go).",
                template_go
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )?;
            writeln!(
                m,
                "TEMPLATE {}",
                quoted(text).context(
                    "the --template-go file contains `\"\"\"`, which a Modelfile cannot hold"
                )?
            )?;
        }
        (None, Some(s), Some((_, source))) => {
            writeln!(
                m,
                "\n# Chat template: from {source}, rendered the same as the Jinja template with the \
                 generation prompt{}.",
                if s.stripped_bos.is_some() {
                    " (the BOS token is left to the runtime, which adds it)"
                } else {
                    ""
                }
            )?;
            if s.trims_content {
                writeln!(
                    m,
                    "# The Jinja template trims spaces around message contents; Ollama passes them as given."
                )?;
            }
            if s.system == glassbox_infer::ollama_template::SystemForm::Unsupported {
                writeln!(
                    m,
                    "# The template takes no system prompt; Ollama's is not shown to the model."
                )?;
                eprintln!(
                    "note: the chat template of {} takes no system prompt; Ollama's system prompt is dropped",
                    src.display()
                );
            }
            let go = s.go_template();
            writeln!(
                m,
                "TEMPLATE {}",
                quoted(&go).context("the Go template contains `\"\"\"`")?
            )?;
            stops.extend(s.terminators());
        }
        _ => {
            writeln!(
                m,
                "\n# The model has no chat template: Ollama sends prompts as they are."
            )?;
        }
    }
    // End-of-sequence tokens: generation_config.json's, and the tokenizer's.
    let generation = glassbox_infer::GenerationConfig::load(src, model.config())?;
    for id in &generation.eos_token_ids {
        if let Some(p) = tk.token_piece(*id) {
            stops.push(p);
        }
    }
    stops.extend(tk.eos_token.clone());
    let mut seen = std::collections::BTreeSet::new();
    stops.retain(|s| !s.is_empty() && !s.contains('"') && seen.insert(s.clone()));
    writeln!(m)?;
    for s in &stops {
        writeln!(m, "PARAMETER stop \"{s}\"")?;
    }
    writeln!(
        m,
        "PARAMETER num_ctx {}",
        model.config().max_position_embeddings
    )?;
    sampling(&mut m, src)?;
    licence(&mut m, src)?;
    let path = out.join("Modelfile");
    glassbox_core::fsio::atomic_write(&path, m.as_bytes())?;
    eprintln!(
        "wrote {} and {}; load it with `ollama create {} -f {}`",
        gguf.display(),
        path.display(),
        ollama_name(&name),
        path.display()
    );
    Ok(())
}

/// The source directory's name, safe as a file name.
fn file_stem(src: &Path) -> String {
    let raw = src
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches(|c| c == '.' || c == '-').to_string();
    if s.is_empty() { "model".into() } else { s }
}

/// A model name Ollama accepts (lower case).
fn ollama_name(stem: &str) -> String {
    stem.to_ascii_lowercase()
}

/// Whether the GGUF's tokenizer adds a BOS token itself (`tokenizer.ggml.add_bos_token`).
fn runtime_adds_bos(src: &Path, vocab: usize) -> Result<bool> {
    let tk: serde_json::Value = glassbox_core::fsio::read_json(&src.join("tokenizer.json"))?;
    let cfg_path = src.join("tokenizer_config.json");
    let cfg: Option<serde_json::Value> = if cfg_path.exists() {
        Some(glassbox_core::fsio::read_json(&cfg_path)?)
    } else {
        None
    };
    let meta = glassbox_model::gguf::tokenizer::metadata(&tk, cfg.as_ref(), vocab)
        .map_err(|m| anyhow::anyhow!("{}: {m}", src.join("tokenizer.json").display()))?;
    Ok(meta
        .iter()
        .any(|(k, v)| k == "tokenizer.ggml.add_bos_token" && *v == Value::Bool(true)))
}

/// `"""text"""`, or `None` when the text holds `"""` (the Modelfile has no escape for it).
fn quoted(text: &str) -> Option<String> {
    (!text.contains("\"\"\"")).then(|| format!("\"\"\"{text}\"\"\""))
}

/// The sampling defaults of `generation_config.json`: greedy when `do_sample` is false (as
/// transformers decodes), else its temperature, top-p and top-k.
fn sampling(m: &mut String, src: &Path) -> Result<()> {
    let path = src.join("generation_config.json");
    if !path.exists() {
        return Ok(());
    }
    let v: serde_json::Value = glassbox_core::fsio::read_json(&path)?;
    if v.get("do_sample").and_then(serde_json::Value::as_bool) == Some(false) {
        writeln!(
            m,
            "# generation_config.json: do_sample is false (greedy decoding)."
        )?;
        writeln!(m, "PARAMETER temperature 0")?;
        return Ok(());
    }
    for (key, param) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
    ] {
        if let Some(x) = v.get(key).filter(|x| x.is_number()) {
            writeln!(m, "PARAMETER {param} {x}")?;
        }
    }
    Ok(())
}

/// `LICENSE """…"""` for each licence file of `src`; without one, the card's licence id as a
/// comment.
fn licence(m: &mut String, src: &Path) -> Result<()> {
    let files = super::convert::licence_files(src);
    let mut any = false;
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let fname = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match quoted(text.trim_end()) {
            Some(q) => {
                writeln!(m, "\n# {fname}\nLICENSE {q}")?;
                any = true;
            }
            None => writeln!(
                m,
                "\n# {fname} is not included (it contains `\"\"\"`); see the source directory."
            )?,
        }
    }
    if !any {
        let card = std::fs::read_to_string(src.join("README.md")).unwrap_or_default();
        match glassbox_train::provenance::card_license(&card) {
            Some(l) => writeln!(m, "\n# Licence (model card): {l}")?,
            None => writeln!(
                m,
                "\n# No licence file or declared licence found in the source directory."
            )?,
        }
    }
    Ok(())
}
