//! The PEFT oracle (`tests/fixtures/make_lora_fixtures.py`): adapters trained and saved by PEFT
//! load in glassbox with logits within 1e-4 of PEFT's, on Llama (q/v; all seven projections
//! with rsLoRA), GPT-NeoX (fused query_key_value and the MLP) and Qwen3-MoE; an adapter glassbox
//! saves holds the same tensors under the same names.

#![allow(clippy::unwrap_used)]

mod common;

use candle_core::{Device, Tensor};
use common::{engine, fixtures, max_abs_diff};
use glassbox_model::safetensors_io::SafetensorsFile;
use glassbox_model::{Adapter, Logits};
use serde_json::Value;

pub(crate) const CASES: [(&str, &str); 4] = [
    ("llama-qv", "llama"),
    ("llama-all", "llama"),
    ("gpt-neox-fused", "gpt-neox"),
    ("qwen3-moe-attn", "qwen3-moe"),
];

#[test]
fn peft_adapters_give_peft_logits() {
    for (case, base) in CASES {
        let e = engine(base);
        let dir = fixtures().join("lora").join(case);
        let ad = Adapter::load(&dir, &Device::Cpu).unwrap();
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join(format!("reference/lora-{case}.json")))
                .unwrap(),
        )
        .unwrap();
        let scaling = reference["lora"]["scaling"].as_f64().unwrap();
        assert!((ad.config.scale() - scaling).abs() < 1e-12, "{case}: scale");
        let logits =
            SafetensorsFile::open(&fixtures().join(format!("reference/lora-{case}.safetensors")))
                .unwrap();
        let mut m = e.model.clone();
        m.apply_adapter(&ad).unwrap();
        for (i, ids) in reference["inputs"].as_array().unwrap().iter().enumerate() {
            let ids: Vec<u32> = serde_json::from_value(ids.clone()).unwrap();
            let t = Tensor::new(ids.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let got = m
                .forward(&t, &[], None, Logits::All)
                .unwrap()
                .squeeze(0)
                .unwrap();
            let want = logits
                .load_f32(&format!("logits_{i}"), &Device::Cpu)
                .unwrap();
            let d = max_abs_diff(&got, &want);
            assert!(d < 1e-4, "{case} input {i}: max |Δlogit| {d:e}");
        }
        // Saved by glassbox: the same names and values as PEFT's file.
        let out = tempfile::tempdir().unwrap();
        ad.save(out.path()).unwrap();
        let ours = SafetensorsFile::open(&out.path().join("adapter_model.safetensors")).unwrap();
        let theirs = SafetensorsFile::open(&dir.join("adapter_model.safetensors")).unwrap();
        assert_eq!(
            ours.tensors().keys().collect::<Vec<_>>(),
            theirs.tensors().keys().collect::<Vec<_>>(),
            "{case}"
        );
        for name in theirs.tensors().keys() {
            let (a, b) = (
                ours.load_f32(name, &Device::Cpu).unwrap(),
                theirs.load_f32(name, &Device::Cpu).unwrap(),
            );
            assert_eq!(max_abs_diff(&a, &b), 0.0, "{case}: {name}");
        }
    }
}
