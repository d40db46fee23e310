//! A GGUF model run on its quantized blocks: near the dequantized model's logits (the products
//! quantize activations to 8 bits, as llama.cpp does), the KV cache equal to recomputing, one
//! sequence decoded alone equal bit for bit to it decoded beside others, and the weights held in
//! a fraction of the f32 bytes.

#![allow(clippy::unwrap_used)]

use candle_core::{Device, Tensor};
use glassbox_model::gguf::llama::{Provenance, load_quantized, load_transformer, to_gguf};
use glassbox_model::gguf::{GgufFile, TensorType};
use glassbox_model::{KvCache, Logits, ModelConfig, SeqCache, Transformer};

/// A Llama whose matrices are whole 256-element super-blocks wide (k-quants need that).
fn llama(tied: bool) -> Transformer {
    let cfg = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 160,
        "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
        "hidden_act": "silu", "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": tied, "attention_bias": false,
        "mlp_bias": false,
    });
    let cfg = ModelConfig::from_value(&cfg, "config.json".as_ref()).unwrap();
    Transformer::random(cfg, 11, &Device::Cpu).unwrap()
}

/// `m` exported as `ty` and read back twice: quantized in memory, and dequantized.
fn both(m: &Transformer, ty: TensorType, dir: &std::path::Path) -> (Transformer, Transformer) {
    let prov = Provenance {
        name: "t".into(),
        license: None,
        source_sha256: None,
        glassbox_version: String::new(),
    };
    let path = dir.join(format!("m-{}.gguf", ty.name()));
    to_gguf(m, ty, &prov).unwrap().write(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    (
        load_quantized(&f, &Device::Cpu).unwrap(),
        load_transformer(&f, &Device::Cpu).unwrap(),
    )
}

const IDS: [u32; 9] = [1, 5, 9, 33, 2, 70, 4, 150, 8];

fn logits(m: &Transformer, ids: &[u32]) -> Vec<Vec<f32>> {
    let t = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    m.forward(&t, &[], None, Logits::All)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2()
        .unwrap()
}

fn log_softmax(z: &[f32]) -> Vec<f64> {
    let m = z.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
    let s: f64 = z.iter().map(|&v| (v as f64 - m).exp()).sum();
    z.iter().map(|&v| v as f64 - m - s.ln()).collect()
}

#[test]
fn quantized_products_stay_near_the_dequantized_model() {
    let tmp = tempfile::tempdir().unwrap();
    for tied in [true, false] {
        let m = llama(tied);
        // 8-bit activations cost ~1/254 of each block's range: 0.010–0.015 measured.
        for (ty, tol) in [
            (TensorType::Q8_0, 0.03),
            (TensorType::Q4_0, 0.03),
            (TensorType::Q4_1, 0.03),
            (TensorType::Q5_0, 0.03),
            (TensorType::Q5_1, 0.03),
        ] {
            let (q, d) = both(&m, ty, tmp.path());
            assert!(q.is_quantized() && !d.is_quantized());
            assert!(q.weight_bytes() * 3 < d.weight_bytes(), "{}", ty.name());
            let (lq, ld) = (logits(&q, &IDS), logits(&d, &IDS));
            let mut worst = 0f64;
            for (a, b) in lq.iter().zip(&ld) {
                for (x, y) in log_softmax(a).iter().zip(log_softmax(b)) {
                    worst = worst.max((x - y).abs());
                }
            }
            assert!(
                worst < tol,
                "{} tied={tied}: max |Δ log p| {worst}",
                ty.name()
            );
            assert!(worst > 0.0, "activations are quantized too");
        }
    }
}

#[test]
fn the_kv_cache_equals_recomputing_and_batching_changes_no_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, _) = both(&llama(true), TensorType::Q8_0, tmp.path());
    let cfg = q.config().clone();
    // Prefill 5 tokens, then 4 one at a time: the same logits as the whole sequence at once.
    let full = logits(&q, &IDS);
    let mut cache = KvCache::new(&cfg, vec![0], &Device::Cpu);
    let head = Tensor::new(&IDS[..5], &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    q.forward(&head, &[], Some(&mut cache), Logits::Last)
        .unwrap();
    let mut seq = SeqCache::from_kv_cache(&cache).unwrap();
    let mut other = SeqCache::from_kv_cache(&cache).unwrap();
    for (i, &t) in IDS[5..].iter().enumerate() {
        let x = Tensor::new(&[[t]], &Device::Cpu).unwrap();
        let z: Vec<f32> = q
            .forward(&x, &[], Some(&mut cache), Logits::Last)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (a, b) in z.iter().zip(&full[5 + i]) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
    // The server's step: a sequence decoded alone and beside another gives the same bits.
    let mut alone = seq.clone();
    let a = q.decode_step(&[IDS[5]], &mut [&mut alone]).unwrap();
    let b = q
        .decode_step(&[IDS[5], 17], &mut [&mut seq, &mut other])
        .unwrap();
    assert_eq!(a[0], b[0]);
    for (x, y) in a[0].iter().zip(&full[5]) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}
