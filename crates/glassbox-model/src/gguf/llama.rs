//! The Llama family in llama.cpp's GGUF layout (`general.architecture = "llama"`): tensor names,
//! hyper-parameters, and the row order of the query and key projections.
//!
//! transformers' Llama rotates the two halves of each head (`rotate_half`); llama.cpp's `llama`
//! graph rotates adjacent pairs. Its converter therefore permutes the rows of `q_proj` and
//! `k_proj` per head: the row for (head h, pair i, member j) comes from HF row
//! `h·d + j·d/2 + i` (d the head dimension). [`to_gguf`] applies that permutation and
//! [`from_gguf`] undoes it, so a model survives the trip bit for bit in f32.
//!
//! Matrices are stored `[in, out]` innermost first (GGUF order), i.e. the HF `[out, in]` weight's
//! bytes unchanged; norms stay f32 whatever the requested type, as llama.cpp keeps them.

use candle_core::{DType, Device, Tensor};

use super::quant::{dequantize, quantize};
use super::{GgufFile, GgufQuant, GgufWriter, Value};
use crate::config::{Architecture, ModelConfig};
use crate::{ModelError, Result, RopeScaling, Transformer};

/// A model the export cannot write (not a malformed file: no path to name).
fn err(message: impl Into<String>) -> ModelError {
    ModelError::Input(message.into())
}

/// HF tensor name → GGUF name (`model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`).
pub fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let g = match part {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{layer}.{g}"))
}

/// GGUF name → HF name (the inverse of [`gguf_name`]).
pub fn hf_name(g: &str, layers: usize) -> Option<String> {
    let fixed = [
        "model.embed_tokens.weight",
        "model.norm.weight",
        "lm_head.weight",
    ];
    if let Some(f) = fixed.iter().find(|f| gguf_name(f).as_deref() == Some(g)) {
        return Some(f.to_string());
    }
    let rest = g.strip_prefix("blk.")?;
    let (layer, _) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok().filter(|&l| l < layers)?;
    [
        "input_layernorm.weight",
        "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight",
        "self_attn.o_proj.weight",
        "post_attention_layernorm.weight",
        "mlp.gate_proj.weight",
        "mlp.up_proj.weight",
        "mlp.down_proj.weight",
    ]
    .iter()
    .map(|p| format!("model.layers.{layer}.{p}"))
    .find(|h| gguf_name(h).as_deref() == Some(g))
}

/// Permutes the rows of a `[heads·d, in]` matrix from HF's half-split order to llama.cpp's
/// interleaved one (`inverse`: back).
pub fn permute_rows(w: &[f32], heads: usize, d: usize, cols: usize, inverse: bool) -> Vec<f32> {
    let mut out = vec![0f32; w.len()];
    for h in 0..heads {
        for i in 0..d / 2 {
            for j in 0..2 {
                let ggml = h * d + i * 2 + j;
                let hf = h * d + j * (d / 2) + i;
                let (to, from) = if inverse { (hf, ggml) } else { (ggml, hf) };
                out[to * cols..(to + 1) * cols].copy_from_slice(&w[from * cols..(from + 1) * cols]);
            }
        }
    }
    out
}

/// Checks that `cfg` is a Llama llama.cpp's `llama` graph runs as glassbox does.
fn check(cfg: &ModelConfig) -> Result<()> {
    if cfg.architecture != Architecture::Llama {
        return Err(err(format!(
            "GGUF export covers the Llama family for now; {} is not exported",
            cfg.architecture.class_name()
        )));
    }
    if cfg.qkv_bias || cfg.o_bias || cfg.mlp_bias {
        return Err(err("a Llama with attention or MLP biases is not exported"));
    }
    if !matches!(cfg.rope_scaling, RopeScaling::None) {
        return Err(err(format!(
            "RoPE scaling {:?} is not exported yet",
            cfg.rope_scaling
        )));
    }
    if !cfg.head_dim.is_multiple_of(2) {
        return Err(err("an odd head dimension cannot be rotated in pairs"));
    }
    Ok(())
}

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

/// The GGUF of `model` with its matrices stored as `quant` says — one type (a
/// [`super::TensorType`]) or a llama.cpp mix (a [`super::KMix`]); norms f32; a matrix whose rows
/// are not whole blocks falls back as [`GgufQuant::tensor_types`] says — with the
/// hyper-parameters llama.cpp reads, `general.*` provenance, and `tokenizer` metadata (from
/// [`super::tokenizer::metadata`]) appended by the caller.
pub fn to_gguf(
    model: &Transformer,
    quant: impl Into<GgufQuant>,
    prov: &Provenance,
) -> Result<GgufWriter> {
    let quant = quant.into();
    let cfg = model.config();
    check(cfg)?;
    let mut w = GgufWriter::new();
    let s = |x: &str| Value::String(x.to_string());
    let u = |x: usize| Value::U32(x as u32);
    w.set("general.architecture", s("llama"));
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
    w.set("llama.context_length", u(cfg.max_position_embeddings));
    w.set("llama.embedding_length", u(cfg.hidden_size));
    w.set("llama.block_count", u(cfg.num_hidden_layers));
    w.set("llama.feed_forward_length", u(cfg.intermediate_size));
    w.set("llama.attention.head_count", u(cfg.num_attention_heads));
    w.set("llama.attention.head_count_kv", u(cfg.num_key_value_heads));
    w.set("llama.rope.freq_base", Value::F32(cfg.rope_theta as f32));
    w.set(
        "llama.attention.layer_norm_rms_epsilon",
        Value::F32(cfg.rms_norm_eps as f32),
    );
    w.set("llama.vocab_size", u(cfg.vocab_size));
    w.set("llama.rope.dimension_count", u(cfg.head_dim));
    if cfg.head_dim * cfg.num_attention_heads != cfg.hidden_size {
        w.set("llama.attention.key_length", u(cfg.head_dim));
        w.set("llama.attention.value_length", u(cfg.head_dim));
    }
    // Each tensor's type is chosen knowing them all (a mix counts layers, looks for a separate
    // output matrix).
    let tensors = model.named_tensors();
    let mut layout = Vec::with_capacity(tensors.len());
    for (hf, t) in &tensors {
        let g = gguf_name(hf).ok_or_else(|| err(format!("no GGUF name for `{hf}`")))?;
        layout.push((g, t.dims().iter().rev().map(|&d| d as u64).collect()));
    }
    let llama_70b =
        cfg.num_hidden_layers == 80 && cfg.num_attention_heads != cfg.num_key_value_heads;
    let types = quant.tensor_types(&layout, cfg.num_hidden_layers, llama_70b);
    for (((hf, t), (g, gdims)), this) in tensors.into_iter().zip(layout).zip(types) {
        let dims: Vec<usize> = t.dims().to_vec();
        let mut data: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let cols = *dims.last().unwrap_or(&1);
        if hf.ends_with("q_proj.weight") {
            data = permute_rows(&data, cfg.num_attention_heads, cfg.head_dim, cols, false);
        } else if hf.ends_with("k_proj.weight") {
            data = permute_rows(&data, cfg.num_key_value_heads, cfg.head_dim, cols, false);
        }
        let bytes = quantize(this, &data).map_err(|m| err(format!("`{g}`: {m}")))?;
        w.add_tensor(&g, gdims, this, bytes)?;
    }
    Ok(w)
}

/// The HF-named f32 tensors of a Llama GGUF (dequantized, q/k rows back in HF order) and the
/// `config.json` its hyper-parameters give.
pub fn from_gguf(f: &GgufFile) -> Result<(serde_json::Value, Vec<(String, Tensor)>)> {
    let bad = |m: String| ModelError::Gguf {
        path: f.path.clone(),
        message: m,
    };
    match f.get("general.architecture").and_then(Value::as_str) {
        Some("llama") => {}
        other => {
            return Err(bad(format!(
                "metadata `general.architecture` is {other:?}; glassbox reads `llama` GGUF files"
            )));
        }
    }
    let num = |k: &str| -> Result<u64> {
        f.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(format!("metadata `{k}` is missing or not an integer")))
    };
    let float = |k: &str| -> Result<f64> {
        f.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| bad(format!("metadata `{k}` is missing or not a number")))
    };
    let hidden = num("llama.embedding_length")? as usize;
    let layers = num("llama.block_count")? as usize;
    let heads = num("llama.attention.head_count")? as usize;
    let kv_heads = f
        .get("llama.attention.head_count_kv")
        .and_then(Value::as_u64)
        .map_or(heads, |x| x as usize);
    if heads == 0 || kv_heads == 0 || layers == 0 {
        return Err(bad("head or layer count of 0".into()));
    }
    let head_dim = f
        .get("llama.attention.key_length")
        .and_then(Value::as_u64)
        .map_or(hidden / heads, |x| x as usize);
    let embd = f
        .tensor("token_embd.weight")
        .ok_or_else(|| bad("no tensor `token_embd.weight`".into()))?;
    let vocab = embd.dims.get(1).copied().unwrap_or(0) as usize;
    let tied = f.tensor("output.weight").is_none();
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": num("llama.feed_forward_length")?,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": num("llama.context_length")?,
        "rms_norm_eps": float("llama.attention.layer_norm_rms_epsilon")?,
        "rope_theta": f.get("llama.rope.freq_base").and_then(Value::as_f64).unwrap_or(10000.0),
        "rope_scaling": null,
        "tie_word_embeddings": tied,
        "attention_bias": false,
        "mlp_bias": false,
        "torch_dtype": "float32",
    });
    let mut config = config;
    for (gguf, hf) in [
        ("tokenizer.ggml.bos_token_id", "bos_token_id"),
        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
    ] {
        if let Some(id) = f.get(gguf).and_then(Value::as_u64) {
            config[hf] = serde_json::json!(id);
        }
    }
    let mut out = Vec::new();
    for t in &f.tensors {
        let hf = hf_name(&t.name, layers)
            .ok_or_else(|| bad(format!("tensor `{}` is not part of a Llama", t.name)))?;
        let raw = f.tensor_bytes(&t.name)?;
        let mut data =
            dequantize(t.ty, &raw).map_err(|m| bad(format!("tensor `{}`: {m}", t.name)))?;
        let shape: Vec<usize> = t.dims.iter().rev().map(|&d| d as usize).collect();
        let cols = *shape.last().unwrap_or(&1);
        if hf.ends_with("q_proj.weight") {
            data = permute_rows(&data, heads, head_dim, cols, true);
        } else if hf.ends_with("k_proj.weight") {
            data = permute_rows(&data, kv_heads, head_dim, cols, true);
        }
        out.push((hf, Tensor::from_vec(data, shape, &Device::Cpu)?));
    }
    Ok((config, out))
}

/// A Llama GGUF as a [`Transformer`] (f32 weights, dequantized).
pub fn load_transformer(f: &GgufFile, device: &Device) -> Result<Transformer> {
    let (config, tensors) = from_gguf(f)?;
    let cfg = ModelConfig::from_value(&config, &f.path)?;
    Transformer::from_tensors(cfg, tensors.into_iter().collect(), device)
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
