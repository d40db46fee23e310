//! A model to and from llama.cpp's GGUF layout: `general.*` provenance, the family's
//! hyper-parameters and tensors (`gguf::arch`, [`super::tensors`]), and tokenizer metadata.
//!
//! Every family llama.cpp runs as glassbox does is covered (Llama, Mistral, Mixtral, Qwen2,
//! Qwen3, Qwen3-MoE, Gemma 2 and 3, Phi-3, OLMo, OLMo 2, OLMoE, GPT-NeoX); the module keeps
//! its historical name. transformers' Llama rotates the two halves of each head
//! (`rotate_half`); llama.cpp's `llama` graph rotates adjacent pairs, so q/k rows are permuted
//! per head on export and back on import, and a model survives the trip bit for bit in f32
//! (Gemma's norms up to the rounding of `1 + w`).
//!
//! Matrices are stored `[in, out]` innermost first (GGUF order), i.e. the HF `[out, in]` weight's
//! bytes unchanged; norms stay f32 whatever the requested type, as llama.cpp keeps them.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::quant::{dequantize, quantize};
use super::{GgufFile, GgufQuant, GgufWriter, TensorType, Value, arch, tensors};
use crate::config::ModelConfig;
use crate::quantized::{self, QMatrix};
use crate::{ModelError, Result, RopeScaling, Transformer};

/// A model the export cannot write (not a malformed file: no path to name).
fn err(message: impl Into<String>) -> ModelError {
    ModelError::Input(message.into())
}

pub use super::tensors::permute_rows;

/// What goes into `general.*` besides the model.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// `general.name`.
    pub name: String,
    /// `general.license` (SPDX or the card's licence).
    pub license: Option<String>,
    /// SHA-256 of the source weights ([`crate::checkpoints::weights_sha256`]), recorded as
    /// `glassbox.source.sha256`.
    pub source_sha256: Option<String>,
    /// `glassbox.version`; empty: this build's. A verifier re-exporting a file passes the
    /// version that wrote it, so that only a changed algorithm changes the bytes.
    pub glassbox_version: String,
}

/// The GGUF of `model` with its matrices stored as `quant` says — one type (a [`TensorType`])
/// or a llama.cpp mix (a [`super::KMix`]); norms and a MoE router f32; a matrix whose rows are
/// not whole blocks falls back as [`GgufQuant::tensor_types`] says — with the hyper-parameters
/// llama.cpp reads, `general.*` provenance, and `tokenizer` metadata (from
/// [`super::tokenizer::metadata`]) appended by the caller.
pub fn to_gguf(
    model: &Transformer,
    quant: impl Into<GgufQuant>,
    prov: &Provenance,
) -> Result<GgufWriter> {
    let quant = quant.into();
    let cfg = model.config();
    let spec = arch::check(cfg)?;
    let mut w = GgufWriter::new();
    let s = |x: &str| Value::String(x.to_string());
    w.set("general.architecture", s(spec.name));
    w.set("general.name", s(&prov.name));
    if let Some(l) = &prov.license {
        w.set("general.license", s(l));
    }
    w.set("general.file_type", Value::U32(quant.file_type()));
    if quant.is_quantized() {
        w.set("general.quantization_version", Value::U32(2));
    }
    w.set(
        "glassbox.version",
        s(if prov.glassbox_version.is_empty() {
            env!("CARGO_PKG_VERSION")
        } else {
            &prov.glassbox_version
        }),
    );
    if let Some(h) = &prov.source_sha256 {
        w.set("glassbox.source.sha256", s(h));
    }
    arch::write_hparams(&mut w, cfg, spec);
    // RoPE factor tensors llama.cpp reads instead of metadata (f32, as its converter writes them).
    let mut derived: Vec<(&str, Vec<f32>)> = Vec::new();
    if let Some(f) = arch::llama3_factors(cfg) {
        derived.push(("rope_freqs.weight", f));
    }
    if let RopeScaling::LongRope {
        short_factor,
        long_factor,
        ..
    } = &cfg.rope_scaling
    {
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        derived.push(("rope_factors_long.weight", f32s(long_factor)));
        derived.push(("rope_factors_short.weight", f32s(short_factor)));
    }
    for (name, data) in derived {
        let bytes = quantize(TensorType::F32, &data).map_err(|m| err(format!("`{name}`: {m}")))?;
        w.add_tensor(name, vec![data.len() as u64], TensorType::F32, bytes)?;
    }
    let hf: HashMap<String, Tensor> = model.named_tensors().into_iter().collect();
    let table = tensors::table(cfg, spec.permute);
    // Each entry's dimensions (outermost first), then every tensor's type chosen knowing them
    // all (a mix counts layers and looks for a separate output matrix).
    let mut shapes = Vec::with_capacity(table.len());
    for entry in &table {
        let mut dims: Vec<usize> = Vec::new();
        for name in &entry.hf {
            let t = hf
                .get(name)
                .ok_or_else(|| err(format!("the model has no tensor `{name}`")))?;
            dims = t.dims().to_vec();
        }
        if entry.rule == tensors::Rule::Stack {
            dims.insert(0, entry.hf.len());
        }
        shapes.push(dims);
    }
    let layout: Vec<(String, Vec<u64>)> = table
        .iter()
        .zip(&shapes)
        .map(|(e, d)| (e.gguf.clone(), d.iter().rev().map(|&x| x as u64).collect()))
        .collect();
    let llama_70b = spec.name == "llama"
        && cfg.num_hidden_layers == 80
        && cfg.num_attention_heads != cfg.num_key_value_heads;
    let types = quant.tensor_types(&layout, cfg.num_hidden_layers, llama_70b);
    for (((entry, dims), (g, gdims)), ty) in table.iter().zip(shapes).zip(layout).zip(types) {
        let mut parts = Vec::with_capacity(entry.hf.len());
        for name in &entry.hf {
            let t = hf
                .get(name)
                .ok_or_else(|| err(format!("the model has no tensor `{name}`")))?;
            parts.push(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
        }
        // Row width: a bias or norm is a column of one-wide rows.
        let cols = if dims.len() > 1 {
            dims[dims.len() - 1]
        } else {
            1
        };
        let data = tensors::export(entry.rule, cfg.head_dim, parts, cols);
        // The router stays f32, as llama.cpp keeps it.
        let this = if g.ends_with("ffn_gate_inp.weight") {
            TensorType::F32
        } else {
            ty
        };
        let bytes = quantize(this, &data).map_err(|m| err(format!("`{g}`: {m}")))?;
        w.add_tensor(&g, gdims, this, bytes)?;
    }
    Ok(w)
}

/// The HF-named f32 tensors of a GGUF file (dequantized, llama.cpp's conventions undone) and
/// the `config.json` its hyper-parameters give.
pub fn from_gguf(f: &GgufFile) -> Result<(serde_json::Value, Vec<(String, Tensor)>)> {
    let p = from_gguf_parts(f, false)?;
    Ok((p.config, p.tensors))
}

/// A GGUF's model by HF names: its `config.json`, tensors, and (when asked) the matrices kept
/// in their blocks, llama.cpp's row conventions undone.
#[derive(Debug)]
pub struct GgufParts {
    /// The `config.json` the hyper-parameters give.
    pub config: serde_json::Value,
    /// f32 tensors (dequantized where not kept quantized).
    pub tensors: Vec<(String, Tensor)>,
    /// Matrices kept quantized.
    pub quantized: Vec<(String, QMatrix)>,
}

/// [`from_gguf`], with `keep_quantized` leaving block-quantized matrices in their blocks
/// instead of dequantizing them (their rows regrouped as the import's rule says; a rule that
/// changes values, Gemma's `1 + w` norms, dequantizes).
pub fn from_gguf_parts(f: &GgufFile, keep_quantized: bool) -> Result<GgufParts> {
    let bad = |m: String| ModelError::Gguf {
        path: f.path.clone(),
        message: m,
    };
    let config = arch::read_config(f)?;
    let cfg = ModelConfig::from_value(&config, &f.path)?;
    let spec = arch::spec_of(cfg.architecture)
        .ok_or_else(|| bad(format!("{} is not read", cfg.architecture.class_name())))?;
    let table = tensors::table(&cfg, spec.permute);
    let shapes: HashMap<String, Vec<usize>> = crate::tensor_shapes(&cfg).into_iter().collect();
    let derived = [
        "rope_freqs.weight",
        "rope_factors_long.weight",
        "rope_factors_short.weight",
    ];
    let mut out = Vec::new();
    let mut quant = Vec::new();
    for t in &f.tensors {
        if derived.contains(&t.name.as_str()) {
            continue;
        }
        let entry = table.iter().find(|e| e.gguf == t.name).ok_or_else(|| {
            bad(format!(
                "tensor `{}` is not part of a {}",
                t.name,
                cfg.architecture.class_name()
            ))
        })?;
        let mut parts = Vec::new();
        for name in &entry.hf {
            let shape = shapes
                .get(name)
                .ok_or_else(|| bad(format!("tensor `{}`: no shape for `{name}`", t.name)))?;
            parts.push((name.clone(), shape.clone()));
        }
        let want: usize = parts.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        if want as u64 != t.elements() {
            return Err(bad(format!(
                "tensor `{}` has {} values; the configuration needs {want}",
                t.name,
                t.elements()
            )));
        }
        let cols = parts
            .first()
            .filter(|(_, s)| s.len() > 1)
            .and_then(|(_, s)| s.last().copied())
            .unwrap_or(1);
        let raw = f.tensor_bytes(&t.name)?;
        let matrices = parts.iter().all(|(_, s)| s.len() == 2);
        if keep_quantized && quantized::supported(t.ty) && matrices {
            let rows = want / cols.max(1);
            if let Some(orders) = tensors::import_rows(entry.rule, cfg.head_dim, rows, parts.len())
            {
                let whole = QMatrix::new(t.ty, rows, cols, raw)
                    .map_err(|m| bad(format!("tensor `{}`: {m}", t.name)))?;
                for ((name, _), order) in parts.into_iter().zip(orders) {
                    let m = whole
                        .with_rows(&order)
                        .map_err(|m| bad(format!("tensor `{}`: {m}", t.name)))?;
                    quant.push((name, m));
                }
                continue;
            }
        }
        let data = dequantize(t.ty, &raw).map_err(|m| bad(format!("tensor `{}`: {m}", t.name)))?;
        let split = tensors::import(entry.rule, cfg.head_dim, data, parts.len(), cols);
        for ((name, shape), d) in parts.into_iter().zip(split) {
            out.push((name, Tensor::from_vec(d, shape, &Device::Cpu)?));
        }
    }
    Ok(GgufParts {
        config: cfg.to_hf_json("float32"),
        tensors: out,
        quantized: quant,
    })
}

/// A GGUF file as a [`Transformer`] (f32 weights, dequantized).
pub fn load_transformer(f: &GgufFile, device: &Device) -> Result<Transformer> {
    let (config, tensors) = from_gguf(f)?;
    let cfg = ModelConfig::from_value(&config, &f.path)?;
    Transformer::from_tensors(cfg, tensors.into_iter().collect(), device)
}

/// A GGUF file as a [`Transformer`] whose block-quantized matrices stay quantized in memory
/// (products read the blocks; see [`crate::quantized`]); f32/f16/bf16 tensors load as tensors.
pub fn load_quantized(f: &GgufFile, device: &Device) -> Result<Transformer> {
    let p = from_gguf_parts(f, true)?;
    let cfg = ModelConfig::from_value(&p.config, &f.path)?;
    let quant = p
        .quantized
        .into_iter()
        .map(|(n, m)| (n, std::sync::Arc::new(m)))
        .collect();
    Transformer::from_weights(cfg, p.tensors.into_iter().collect(), quant, device)
}

/// Adds the `tokenizer.*` metadata of the model directory `dir` (`tokenizer.json`, and
/// `tokenizer_config.json` when present) to `w`.
pub fn add_tokenizer(w: &mut GgufWriter, dir: &std::path::Path, vocab_size: usize) -> Result<()> {
    let read = |name: &str| -> Result<serde_json::Value> {
        glassbox_core::fsio::read_json(&dir.join(name)).map_err(Into::into)
    };
    let tk = read("tokenizer.json")?;
    let cfg = if dir.join("tokenizer_config.json").exists() {
        Some(read("tokenizer_config.json")?)
    } else {
        None
    };
    let meta = super::tokenizer::metadata(&tk, cfg.as_ref(), vocab_size).map_err(|m| {
        ModelError::Gguf {
            path: dir.join("tokenizer.json"),
            message: m,
        }
    })?;
    for (k, v) in meta {
        w.set(&k, v);
    }
    Ok(())
}
