//! Helpers shared by the integration tests: fixture paths and reference files.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use glassbox_infer::Engine;
use glassbox_model::safetensors_io::SafetensorsFile;
use serde_json::{Value, json};

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub(crate) fn model_dir(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

pub(crate) fn fixture_models() -> Vec<String> {
    [
        "llama",
        "llama-legacy",
        "mistral",
        "qwen2",
        "qwen3",
        "smollm3",
        "olmo2",
        "olmo",
        "gpt-neox",
        "phi3",
        "gemma2",
        "gemma3",
        "mixtral",
        "olmoe",
        "qwen3-moe",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub(crate) fn engine(name: &str) -> Engine {
    Engine::load(&model_dir(name), &Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(crate) fn load_reference(name: &str) -> (Value, HashMap<String, Tensor>) {
    let dir = fixtures().join("reference");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    let file = SafetensorsFile::open(&dir.join(format!("{name}.safetensors"))).unwrap();
    let tensors = file
        .tensors()
        .keys()
        .map(|k| (k.clone(), file.load_f32(k, &Device::Cpu).unwrap()))
        .collect();
    (json, tensors)
}

pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    // bf16/f16 weights (kept in their dtype) compare by their f32 values.
    let f32 = |t: &Tensor| t.to_dtype(candle_core::DType::F32).unwrap();
    max_abs(&(f32(a) - f32(b)).unwrap())
}

/// The largest magnitude in `t`.
pub(crate) fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The conversations of make_fixtures.py, by key (kept in step with CONVERSATIONS there).
pub(crate) fn conversations() -> Value {
    json!({
        "single": [{"role": "user", "content": "Who made the heavens?"}],
        "multi": [
            {"role": "system", "content": "  You answer from Genesis.  "},
            {"role": "user", "content": "What was made on the first day?"},
            {"role": "assistant", "content": "Light, called day."},
            {"role": "user", "content": "And the second?\nBe brief."}
        ],
        "unicode": [{"role": "user", "content": "¿Qué creó Dios? 天地 🌍"}],
        "tool_call": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"location": "Paris", "unit": "C"}}}
            ]},
            {"role": "tool", "content": "{\"temp\": 21}"},
            {"role": "tool", "content": "{\"wind\": 3}"}
        ],
        "bad_alternation": [
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"}
        ]
    })
}

/// A sequence cache holding `prompt`, prefilled by the cached forward pass.
pub(crate) fn prefilled(
    m: &glassbox_model::Transformer,
    prompt: &[u32],
) -> glassbox_model::SeqCache {
    let mut c = glassbox_model::KvCache::new(m.config(), vec![0], &Device::Cpu);
    let t = Tensor::from_vec(prompt.to_vec(), (1, prompt.len()), &Device::Cpu).unwrap();
    m.forward(&t, &[], Some(&mut c), glassbox_model::Logits::Last)
        .unwrap();
    glassbox_model::SeqCache::from_kv_cache(&c).unwrap()
}
