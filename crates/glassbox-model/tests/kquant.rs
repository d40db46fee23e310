//! The k-quants and llama.cpp's mixes against llama.cpp itself
//! (`tests/fixtures/gguf/kquant-reference.json`, written by `make_kquant_fixture.py` beside it):
//! a table of awkward 256-weight blocks quantized to Q4_K, Q5_K and Q6_K byte for byte as
//! ggml's reference quantizers do, and two small random Llamas exported with every mix
//! (`q4_k_m`, `q5_k_m`, `q6_k`, `q4_k_s`, `q5_k_s`, uniform `q4_k`/`q5_k`) with the type, the
//! bytes and the dequantized values of every tensor equal to what `llama_model_quantize` makes
//! of glassbox's f32 export.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use glassbox_core::hash::sha256_hex;
use glassbox_model::gguf::llama::{Provenance, to_gguf};
use glassbox_model::gguf::quant::{dequantize, quantize};
use glassbox_model::gguf::{GgufFile, GgufQuant, TensorType, Value};
use glassbox_model::{ModelConfig, Transformer};
use serde_json::Value as Json;

fn fixture() -> Json {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/gguf/kquant-reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fixture script's integer hash.
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// The fixture script's `uniform`: `n` values in [-1, 1), exact in f32.
fn uniform(seed: u32, n: usize) -> Vec<f32> {
    let base = seed.wrapping_mul(0x9E37_79B1);
    (0..n as u32)
        .map(|i| (mix32(base.wrapping_add(i)) >> 8) as f32 / 16_777_216.0 * 2.0 - 1.0)
        .collect()
}

fn fnv1a(s: &str) -> u32 {
    s.bytes()
        .fold(0x811C_9DC5, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

fn scaled(v: Vec<f32>, s: f32) -> Vec<f32> {
    v.into_iter().map(|x| x * s).collect()
}

/// The fixture script's `rows()`, in its order.
fn kquant_rows() -> Vec<(&'static str, Vec<f32>)> {
    let u = |seed| uniform(seed, 256);
    let mut out = Vec::new();
    for (s, name) in ["uniform0", "uniform1", "uniform2", "uniform3"]
        .into_iter()
        .enumerate()
    {
        out.push((name, scaled(u(1 + s as u32), 0.05)));
    }
    let (a, b, c) = (u(11), u(12), u(13));
    let bell = (0..256).map(|i| (a[i] + b[i] + c[i]) * 0.02).collect();
    out.push(("bell", bell));
    out.push(("zeros", vec![0.0; 256]));
    out.push(("equal_pos", vec![0.3; 256]));
    out.push(("equal_neg", vec![-0.7; 256]));
    out.push((
        "negative_only",
        u(21).into_iter().map(|x| (x - 1.0) * 0.05).collect(),
    ));
    out.push((
        "positive_only",
        u(22).into_iter().map(|x| (x + 1.0) * 0.05).collect(),
    ));
    let mut x = scaled(u(23), 0.01);
    x[37] = 5.0;
    out.push(("outlier", x));
    let mut x = scaled(u(24), 0.01);
    x[200] = -3.0;
    out.push(("neg_outlier", x));
    out.push(("tiny", scaled(u(25), 1e-20)));
    out.push(("subnormal", scaled(u(26), 1e-39)));
    out.push(("huge", scaled(u(27), 1e15)));
    let mut x = scaled(u(28), 0.05);
    x[0..32].fill(0.0);
    x[100..116].fill(0.0);
    out.push(("zero_sub", x));
    out.push((
        "ties",
        (0..256).map(|i| (i % 16) as f32 * 0.25 - 2.0).collect(),
    ));
    let mut x = scaled(u(29), 0.05);
    x[64..96].fill(0.02);
    out.push(("equal_sub", x));
    let b = u(30);
    let sparse = (0..256)
        .map(|i| if i % 37 == 0 { b[i] * 0.5 } else { 0.0 })
        .collect();
    out.push(("sparse", sparse));
    let b = u(31);
    let scales = [1e-4f32, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0];
    out.push((
        "mixed_scale",
        (0..256).map(|i| b[i] * scales[i / 32]).collect(),
    ));
    let mut x = scaled(u(32), 0.05);
    x[160..176].iter_mut().for_each(|v| *v *= 1000.0);
    out.push(("large_range", x));
    out
}

#[test]
fn awkward_blocks_quantize_as_ggml_reference_does() {
    let fx = fixture();
    let r = &fx["rows"];
    let rows = kquant_rows();
    let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
    let want: Vec<&str> = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, want);
    let all: Vec<f32> = rows.iter().flat_map(|(_, x)| x.iter().copied()).collect();
    let bytes: Vec<u8> = all.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        sha256_hex(&bytes),
        r["input_sha256"].as_str().unwrap(),
        "the generated blocks are the script's"
    );
    let mut bad = Vec::new();
    for ty in [TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K] {
        for (i, (name, x)) in rows.iter().enumerate() {
            let ours = sha256_hex(&quantize(ty, x).unwrap());
            if ours[..16] != *r[ty.name()][i].as_str().unwrap() {
                bad.push(format!("{} {name}", ty.name()));
            }
        }
    }
    assert!(bad.is_empty(), "blocks that differ from ggml's: {bad:?}");
}

/// The fixture script's `hf_tensors`: matrices `0.05·u`, norms `1 + 0.1·u`, `u` from the
/// hash of the tensor's name.
fn random_llama(cfg: &Json) -> Transformer {
    let n = |k: &str| cfg[k].as_u64().unwrap() as usize;
    let (h, f, v) = (n("hidden_size"), n("intermediate_size"), n("vocab_size"));
    let q = n("num_attention_heads") * n("head_dim");
    let kv = n("num_key_value_heads") * n("head_dim");
    let mut shapes = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
    for l in 0..n("num_hidden_layers") {
        for (p, s) in [
            ("input_layernorm.weight", vec![h]),
            ("self_attn.q_proj.weight", vec![q, h]),
            ("self_attn.k_proj.weight", vec![kv, h]),
            ("self_attn.v_proj.weight", vec![kv, h]),
            ("self_attn.o_proj.weight", vec![h, q]),
            ("post_attention_layernorm.weight", vec![h]),
            ("mlp.gate_proj.weight", vec![f, h]),
            ("mlp.up_proj.weight", vec![f, h]),
            ("mlp.down_proj.weight", vec![h, f]),
        ] {
            shapes.push((format!("model.layers.{l}.{p}"), s));
        }
    }
    shapes.push(("model.norm.weight".into(), vec![h]));
    if !cfg["tie_word_embeddings"].as_bool().unwrap() {
        shapes.push(("lm_head.weight".into(), vec![v, h]));
    }
    let tensors: HashMap<String, Tensor> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let u = uniform(fnv1a(&name), shape.iter().product());
            let vals: Vec<f32> = if shape.len() == 1 {
                u.into_iter().map(|x| 1.0 + x * 0.1).collect()
            } else {
                scaled(u, 0.05)
            };
            let t = Tensor::from_vec(vals, shape, &Device::Cpu).unwrap();
            (name, t)
        })
        .collect();
    let config = ModelConfig::from_value(cfg, Path::new("config.json")).unwrap();
    Transformer::from_tensors(config, tensors, &Device::Cpu).unwrap()
}

/// The exported file, parsed, and its bytes.
fn export(model: &Transformer, quant: GgufQuant) -> (GgufFile, Vec<u8>) {
    let bytes = to_gguf(model, quant, &Provenance::default())
        .unwrap()
        .to_bytes();
    let f = GgufFile::from_bytes(&bytes, Path::new("export.gguf")).unwrap();
    (f, bytes)
}

#[test]
fn every_mix_matches_llama_quantize_tensor_for_tensor() {
    let fx = fixture();
    let mut checked = 0;
    for (key, rec) in fx["models"].as_object().unwrap() {
        let model = random_llama(&rec["config"]);
        // The f32 export is the file llama.cpp quantized.
        let (f32, bytes) = export(&model, GgufQuant::Uniform(TensorType::F32));
        for (name, sha) in rec["f32"].as_object().unwrap() {
            let ours = &sha256_hex(f32.tensor_slice(&bytes, name).unwrap())[..16];
            assert_eq!(ours, sha.as_str().unwrap(), "{key} f32 {name}");
        }
        for (mix, want) in rec["mixes"].as_object().unwrap() {
            let quant = GgufQuant::from_name(mix).unwrap();
            let (f, bytes) = export(&model, quant);
            assert_eq!(
                f.get("general.file_type"),
                Some(&Value::U32(want["file_type"].as_u64().unwrap() as u32)),
                "{key} {mix}"
            );
            let tensors = want["tensors"].as_object().unwrap();
            assert_eq!(f.tensors.len(), tensors.len(), "{key} {mix}");
            for (name, t) in tensors {
                let info = f.tensor(name).unwrap();
                let at = format!("{key} {mix} {name}");
                assert_eq!(info.ty.name(), t["type"].as_str().unwrap(), "{at}: type");
                let raw = f.tensor_slice(&bytes, name).unwrap();
                assert_eq!(
                    sha256_hex(raw)[..16],
                    *t["sha256"].as_str().unwrap(),
                    "{at}: bytes"
                );
                let deq = dequantize(info.ty, raw).unwrap();
                for (i, v) in t["values"].as_array().unwrap().iter().enumerate() {
                    assert_eq!(deq[i], v.as_f64().unwrap() as f32, "{at}: value {i}");
                }
                checked += 1;
            }
        }
    }
    // 7 mixes of the 75-tensor and the 29-tensor model.
    assert_eq!(checked, 7 * (75 + 29));
}
