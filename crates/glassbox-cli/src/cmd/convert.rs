//! `glassbox convert`: load a model directory and write it back in HF layout.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use glassbox_model::{SaveDtype, Transformer};

use super::common::ModelArg;

/// Files copied verbatim beside the weights, when present.
pub(crate) const SIDE_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
];

/// The `--quant` names (each one `glassbox_model::gguf::GgufQuant::from_name` reads).
pub(crate) const GGUF_QUANTS: [&str; 15] = [
    "f32", "f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_k", "q5_1", "q5_0", "q4_k_m",
    "q4_k_s", "q4_k", "q4_1", "q4_0",
];

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// Output directory (created; must differ from --model).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Weight dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Largest shard in bytes (suffixes KB, MB, GB); bigger models are split with an index.
    #[arg(long, default_value = "5GB", value_name = "SIZE")]
    max_shard_size: String,
    /// With --adapter: take the adapter back out of a model it was merged into
    /// (W − s·B·A) instead of merging it in.
    #[arg(long, requires = "adapter")]
    unmerge: bool,
    /// Input format: hf (a model directory) or gguf (one GGUF file, written back as a model
    /// directory, dequantized); by default a `.gguf` file is read as GGUF.
    #[arg(long, value_parser = ["hf", "gguf"])]
    from: Option<String>,
    /// Output format: hf (a model directory), gguf (one file for llama.cpp; every family it
    /// runs) or ollama (a directory with the GGUF file and a Modelfile for `ollama create`).
    #[arg(long, default_value = "hf", value_parser = ["hf", "gguf", "ollama"])]
    to: String,
    /// With --to ollama: a Go template file for the Modelfile's TEMPLATE, instead of the one
    /// derived from the model's chat template.
    #[arg(long, value_name = "FILE")]
    template_go: Option<PathBuf>,
    /// With --to gguf or ollama: the matrices' type (norms stay f32) — f32, f16, bf16, q8_0,
    /// q5_1, q5_0, q4_1, q4_0, q5_k or q4_k — or one of llama.cpp's k-quant mixes, made as
    /// llama-quantize makes them from an f32 file (without an importance matrix): q6_k, q5_k_m,
    /// q5_k_s, q4_k_m or q4_k_s.
    #[arg(long, default_value = "f16", value_parser = GGUF_QUANTS)]
    quant: String,
}

/// `glassbox merge-adapter`: `convert` with an adapter, which it requires.
pub(crate) fn merge_adapter(a: Args) -> Result<()> {
    if a.model.adapter.is_none() {
        bail!("merge-adapter needs --adapter DIR (a PEFT LoRA adapter directory)");
    }
    run(a)
}

pub(crate) fn run(a: Args) -> Result<()> {
    let dtype = SaveDtype::parse(&a.dtype)
        .with_context(|| format!("--dtype {}: expected f32, bf16 or f16", a.dtype))?;
    let shard = parse_size(&a.max_shard_size).with_context(|| {
        format!(
            "--max-shard-size {}: expected a size such as 500MB",
            a.max_shard_size
        )
    })?;
    let src = &a.model.model;
    if a.template_go.is_some() && a.to != "ollama" {
        bail!("--template-go goes with --to ollama");
    }
    if a.out.exists() && same_dir(src, &a.out) {
        bail!(
            "--out {} is the --model directory; write to a new directory",
            a.out.display()
        );
    }
    let is_gguf = src.is_file() && src.extension().is_some_and(|e| e == "gguf");
    match a.from.as_deref() {
        Some("gguf") if !is_gguf => bail!("--from gguf: {} is not a .gguf file", src.display()),
        Some("hf") if is_gguf => bail!(
            "--from hf: {} is a GGUF file; --from gguf converts it to a model directory",
            src.display()
        ),
        _ => {}
    }
    if is_gguf {
        if a.to != "hf" || a.model.adapter.is_some() {
            bail!("a GGUF input is converted to a model directory (--to hf), without --adapter");
        }
        return super::convert_gguf::import(src, &a.out, dtype, shard);
    }
    let (mut model, _) = Transformer::load(src, &candle_core::Device::Cpu)
        .with_context(|| format!("loading the model in {}", src.display()))?;
    if let Some(dir) = &a.model.adapter {
        let adapter = glassbox_model::Adapter::load(dir, &candle_core::Device::Cpu)
            .with_context(|| format!("loading the adapter in {}", dir.display()))?;
        if a.unmerge {
            model.unmerge_adapter(&adapter)
        } else {
            model
                .apply_adapter(&adapter)
                .and_then(|()| model.merge_adapter())
        }
        .with_context(|| format!("applying the adapter in {}", dir.display()))?;
    }
    if a.to == "gguf" {
        return super::convert_gguf::write(&model, src, &a.out, &a.quant);
    }
    if a.to == "ollama" {
        return super::convert_ollama::write(
            &model,
            src,
            &a.out,
            &a.quant,
            a.template_go.as_deref(),
        );
    }
    model.save(&a.out, dtype, shard)?;
    for f in SIDE_FILES {
        let from = src.join(f);
        if from.exists() {
            std::fs::copy(&from, a.out.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    match &a.model.adapter {
        // The same model in another dtype: its card too.
        None => copy_card(src, &a.out)?,
        Some(dir) => write_lineage(
            &[src],
            &a.out,
            &format!(
                "The model in `{}` with the LoRA adapter in `{}` {} (`glassbox merge-adapter`)",
                src.display(),
                dir.display(),
                if a.unmerge {
                    "taken back out of it"
                } else {
                    "merged into its weights"
                }
            ),
        )?,
    }
    eprintln!(
        "wrote {} ({}, {})",
        a.out.display(),
        dtype.torch_name(),
        model.config().architecture.class_name()
    );
    Ok(())
}

/// Copies the model card and licence files of `src` into `out` (the same model, converted).
fn copy_card(src: &std::path::Path, out: &std::path::Path) -> Result<()> {
    for f in licence_files(src)
        .into_iter()
        .chain(Some(src.join("README.md")))
    {
        if let Some(name) = f.file_name().filter(|_| f.is_file()) {
            std::fs::copy(&f, out.join(name))
                .with_context(|| format!("copying {}", f.display()))?;
        }
    }
    Ok(())
}

/// The licence files (`LICENSE*`, `USE_POLICY*`, `NOTICE*` …) at the top of `dir`, sorted.
pub(crate) fn licence_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| glassbox_train::provenance::licence_file(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// For a model derived from `srcs` (an adapter merged in, a grown vocabulary, a merge of
/// models): every base's licence files copied (a second file of the same name gets the base's
/// directory name appended), and a card whose front matter names the bases (`base_model:`, the
/// Hugging Face convention) and the licence their cards declare when they agree, so the terms
/// travel with the weights and `glassbox audit` judges the result with its bases.
pub(crate) fn write_lineage(
    srcs: &[&std::path::Path],
    out: &std::path::Path,
    what: &str,
) -> Result<()> {
    let mut bases = Vec::new();
    let mut licences: Vec<Option<String>> = Vec::new();
    for src in srcs {
        let abs = src
            .canonicalize()
            .or_else(|_| std::path::absolute(src))
            .unwrap_or_else(|_| src.to_path_buf());
        bases.push(abs.display().to_string());
        let card = std::fs::read_to_string(src.join("README.md")).unwrap_or_default();
        licences.push(glassbox_train::provenance::card_license(&card));
    }
    let agreed = match licences.first() {
        Some(Some(l)) if licences.iter().all(|x| x.as_deref() == Some(l.as_str())) => {
            Some(l.clone())
        }
        _ => None,
    };
    let mut text = String::from("---\n");
    match bases.as_slice() {
        [one] => text.push_str(&format!("base_model: {one:?}\n")),
        many => {
            text.push_str("base_model:\n");
            for b in many {
                text.push_str(&format!("- {b:?}\n"));
            }
        }
    }
    if let Some(l) = &agreed {
        text.push_str(&format!("license: {l:?}\n"));
    }
    text.push_str("library_name: transformers\n---\n\n");
    // Nothing of the output's own path goes in: the same inputs give the same bytes anywhere.
    let name = "A model derived by glassbox";
    let declared: Vec<String> = bases
        .iter()
        .zip(&licences)
        .map(|(b, l)| format!("`{b}`: {}", l.as_deref().unwrap_or("no licence declared")))
        .collect();
    text.push_str(&format!(
        "# {name}\n\n{what}. A model derived from others comes under its base models' terms as well as its own; their cards declare {}; their licence files are copied beside the weights.\n",
        declared.join("; ")
    ));
    let mut written = std::collections::BTreeSet::new();
    for src in srcs {
        for f in licence_files(src) {
            let Some(n) = f.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let target = if written.insert(n.clone()) {
                n
            } else {
                let dir = src
                    .file_name()
                    .map_or("base".into(), |d| d.to_string_lossy().into_owned());
                format!("{n}-{dir}")
            };
            std::fs::copy(&f, out.join(&target))
                .with_context(|| format!("copying {}", f.display()))?;
        }
    }
    glassbox_core::fsio::atomic_write(&out.join("README.md"), text.as_bytes())?;
    Ok(())
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `5GB`, `500MB`, `100KB`, `123` (bytes); decimal units as transformers uses.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("GB") {
        (n, 1_000_000_000)
    } else if let Some(n) = s.strip_suffix("MB") {
        (n, 1_000_000)
    } else if let Some(n) = s.strip_suffix("KB") {
        (n, 1_000)
    } else {
        (s.as_str(), 1)
    };
    let n: f64 = num.trim().parse().ok()?;
    (n > 0.0).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("5GB"), Some(5_000_000_000));
        assert_eq!(super::parse_size("1.5mb"), Some(1_500_000));
        assert_eq!(super::parse_size("-1"), None);
    }
}
