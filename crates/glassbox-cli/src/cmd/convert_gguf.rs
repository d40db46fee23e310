//! `glassbox convert --to gguf`: a model directory as one GGUF file for llama.cpp and Ollama.

use std::path::Path;

use anyhow::{Context, Result, bail};
use glassbox_model::Transformer;
use glassbox_model::gguf::GgufQuant;
use glassbox_model::gguf::llama::{Provenance, to_gguf};

/// The card's `license:` (front matter of `README.md`), if any.
fn card_license(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("README.md")).ok()?;
    let front = text.strip_prefix("---\n")?.split("\n---").next()?;
    front
        .lines()
        .find_map(|l| l.strip_prefix("license:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Writes `model` (loaded from `src`) to the GGUF file `out` with matrices as `quant` (a type,
/// or a llama.cpp mix such as `q4_k_m`).
pub(crate) fn write(model: &Transformer, src: &Path, out: &Path, quant: &str) -> Result<()> {
    let ty = GgufQuant::from_name(quant).with_context(|| {
        format!(
            "--quant {quant}: expected {}",
            glassbox_model::gguf::mix::NAMES
        )
    })?;
    if out.is_dir() {
        bail!(
            "--out {} is a directory; --to gguf writes one file",
            out.display()
        );
    }
    let name = src
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    let prov = Provenance {
        name,
        license: card_license(src),
        source_sha256: Some(glassbox_model::checkpoints::weights_sha256(src)?),
        glassbox_version: String::new(),
    };
    let mut w =
        to_gguf(model, ty, &prov).with_context(|| format!("exporting {}", src.display()))?;
    glassbox_model::gguf::llama::add_tokenizer(&mut w, src, model.config().vocab_size)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    w.write(out)?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({}, {} MiB, {})",
        out.display(),
        ty.name(),
        bytes >> 20,
        model.config().architecture.class_name()
    );
    Ok(())
}

/// `glassbox convert --model FILE.gguf --out DIR`: the GGUF as a Hugging Face model directory
/// (weights dequantized, q/k rows back in transformers' order, `tokenizer.json` and
/// `tokenizer_config.json` rebuilt from the metadata) that transformers loads.
pub(crate) fn import(
    src: &Path,
    out: &Path,
    dtype: glassbox_model::SaveDtype,
    max_shard: u64,
) -> Result<()> {
    let f = glassbox_model::gguf::GgufFile::open(src)?;
    let model = glassbox_model::gguf::llama::load_transformer(&f, &candle_core::Device::Cpu)
        .with_context(|| format!("reading the model in {}", src.display()))?;
    let (tk, tk_config) = glassbox_model::gguf::tokenizer::rebuild(&f)
        .map_err(|m| anyhow::anyhow!("{}: {m}", src.display()))?;
    model.save(out, dtype, max_shard)?;
    glassbox_core::fsio::write_json_atomic(&out.join("tokenizer.json"), &tk)?;
    glassbox_core::fsio::write_json_atomic(&out.join("tokenizer_config.json"), &tk_config)?;
    eprintln!(
        "wrote {} ({}, {} tensors from {})",
        out.display(),
        dtype.torch_name(),
        f.tensors.len(),
        src.display()
    );
    Ok(())
}
