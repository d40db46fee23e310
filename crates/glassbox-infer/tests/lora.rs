//! LoRA adapters: applied, merged and merged back out give the same function; adapters survive
//! a save and reload; decoding with an adapter stays batch-invariant; adapters that do not fit
//! are refused naming the tensor. (PEFT's own numbers are checked in `lora_peft.rs`.)

#![allow(clippy::unwrap_used)]

mod common;

use candle_core::{Device, Tensor};
use common::{engine, max_abs_diff};
use glassbox_model::{Adapter, Logits, LoraConfig, SeqCache, Transformer};

fn config(targets: &[&str], r: usize, alpha: f64, rslora: bool) -> LoraConfig {
    LoraConfig {
        r,
        alpha,
        dropout: 0.0,
        use_rslora: rslora,
        target_modules: targets.iter().map(|s| s.to_string()).collect(),
        base_model: None,
    }
}

/// An adapter whose B is not zero, so it changes the model.
fn nontrivial(m: &Transformer, cfg: LoraConfig, seed: u64) -> Adapter {
    let mut ad = Adapter::init(m, cfg, seed).unwrap();
    for (k, (_, b)) in ad.modules.values_mut().enumerate() {
        // A fixed pattern in ±0.05 (not candle's unseeded randn: the test must not vary).
        let n = b.elem_count();
        let v: Vec<f32> = (0..n)
            .map(|i| (((i * 7919 + k * 104_729) % 1000) as f32 / 1000.0 - 0.5) * 0.1)
            .collect();
        *b = Tensor::from_vec(v, b.dims(), &Device::Cpu).unwrap();
    }
    ad
}

fn logits(m: &Transformer, ids: &[u32]) -> Tensor {
    let t = Tensor::new(ids, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    m.forward(&t, &[], None, Logits::All).unwrap()
}

const CASES: [(&str, &[&str]); 4] = [
    (
        "llama",
        &[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
    ),
    (
        "gpt-neox",
        &["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    ),
    ("phi3", &["qkv_proj", "gate_up_proj"]),
    ("qwen3-moe", &["q_proj", "o_proj", "gate_proj"]),
];

#[test]
fn applied_merged_and_unmerged_agree() {
    for (name, targets) in CASES {
        let e = engine(name);
        let ids: Vec<u32> = (0..20).map(|i| 5 + i * 13 % 300).collect();
        let base = logits(&e.model, &ids);
        let ad = nontrivial(&e.model, config(targets, 4, 8.0, name == "phi3"), 7);
        let mut m = e.model.clone();
        m.apply_adapter(&ad).unwrap();
        assert!(m.has_adapter());
        let adapted = logits(&m, &ids);
        assert!(
            max_abs_diff(&adapted, &base) > 1e-3,
            "{name}: the adapter changes the model"
        );
        // Saved as PEFT files and read back: the same function.
        let dir = tempfile::tempdir().unwrap();
        ad.save(dir.path()).unwrap();
        let back = Adapter::load(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(back.config, ad.config);
        let mut m2 = e.model.clone();
        m2.apply_adapter(&back).unwrap();
        assert_eq!(max_abs_diff(&logits(&m2, &ids), &adapted), 0.0, "{name}");
        // Merged into the weights: within 1e-5 (relative to the logits' scale, at least 1) of
        // the adapter beside them — f32 rounding of W + s·B·A.
        let tol = 1e-5 * common::max_abs(&adapted).max(1.0);
        m.merge_adapter().unwrap();
        assert!(!m.has_adapter());
        let merged = logits(&m, &ids);
        let d = max_abs_diff(&merged, &adapted);
        assert!(d < tol, "{name}: merged vs applied {d:e} (bound {tol:e})");
        // And back out.
        m.unmerge_adapter(&ad).unwrap();
        let d = max_abs_diff(&logits(&m, &ids), &base);
        assert!(d < tol, "{name}: unmerged vs base {d:e} (bound {tol:e})");
    }
}

#[test]
fn decoding_with_an_adapter_is_batch_invariant_and_matches_the_cached_pass() {
    for (name, targets) in CASES {
        let e = engine(name);
        let mut m = e.model.clone();
        m.apply_adapter(&nontrivial(&e.model, config(targets, 2, 4.0, false), 3))
            .unwrap();
        let prompts: Vec<Vec<u32>> = vec![vec![5, 9, 12], vec![7; 6]];
        let mut caches: Vec<SeqCache> = prompts.iter().map(|p| common::prefilled(&m, p)).collect();
        let mut alone = caches[0].clone();
        let mut refs: Vec<&mut SeqCache> = caches.iter_mut().collect();
        let both = m.decode_step(&[40, 41], &mut refs).unwrap();
        let one = m.decode_step(&[40], &mut [&mut alone]).unwrap();
        assert_eq!(both[0], one[0], "{name}: batch-invariant");
        let mut full = prompts[1].clone();
        full.push(41);
        let want = logits(&m, &full);
        let last = want
            .narrow(1, full.len() - 1, 1)
            .unwrap()
            .flatten_all()
            .unwrap();
        let got = Tensor::new(both[1].as_slice(), &Device::Cpu).unwrap();
        assert!(max_abs_diff(&got, &last) < 1e-4, "{name}");
    }
}

#[test]
fn adapters_that_do_not_fit_are_refused_naming_the_tensor() {
    let llama = engine("llama");
    let neox = engine("gpt-neox");
    let ad = nontrivial(&llama.model, config(&["q_proj"], 2, 4.0, false), 1);
    let mut m = neox.model.clone();
    let err = m.apply_adapter(&ad).unwrap_err().to_string();
    assert!(
        err.contains("model.layers.0.self_attn.q_proj.lora_A.weight")
            && err.contains("GPTNeoXForCausalLM"),
        "{err}"
    );
    // Same architecture, other width.
    let mut other = ad.clone();
    for (a, _) in other.modules.values_mut() {
        *a = Tensor::zeros((2, 7), candle_core::DType::F32, &Device::Cpu).unwrap();
    }
    let mut m = llama.model.clone();
    let err = m.apply_adapter(&other).unwrap_err().to_string();
    assert!(err.contains("q_proj") && err.contains("[2, 7]"), "{err}");
    assert!(!m.has_adapter(), "nothing applied after a refusal");
    // Targets that match nothing name the modules there are.
    let err = Adapter::init(&llama.model, config(&["c_attn"], 2, 4.0, false), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("c_attn") && err.contains("q_proj"), "{err}");
    // Rank 0 and other PEFT features glassbox does not implement, named by field.
    let dir = tempfile::tempdir().unwrap();
    ad.save(dir.path()).unwrap();
    let cfg = dir.path().join("adapter_config.json");
    let original = std::fs::read_to_string(&cfg).unwrap();
    for (from, to, field) in [
        ("\"r\": 2", "\"r\": 0", "`r`"),
        ("\"use_dora\": false", "\"use_dora\": true", "`use_dora`"),
        (
            "\"peft_type\": \"LORA\"",
            "\"peft_type\": \"IA3\"",
            "`peft_type`",
        ),
    ] {
        assert!(original.contains(from), "{from} in {original}");
        std::fs::write(&cfg, original.replace(from, to)).unwrap();
        let err = Adapter::load(dir.path(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(field) && err.contains("adapter_config.json"),
            "{err}"
        );
    }
}

/// Growing the vocabulary keeps every existing embedding and output row bit for bit, fills the
/// new rows with the old rows' mean, and leaves the existing tokens' logits unchanged.
#[test]
fn resize_vocab_keeps_old_rows_and_adds_the_mean() {
    for name in ["llama", "gpt-neox"] {
        let e = engine(name);
        let v = e.model.config().vocab_size;
        let grown = e.model.resize_vocab(v + 5).unwrap();
        assert_eq!(grown.config().vocab_size, v + 5);
        let old: std::collections::HashMap<String, Tensor> =
            e.model.named_tensors().into_iter().collect();
        for (n, t) in grown.named_tensors() {
            let o = &old[&n];
            if t.dims() == o.dims() {
                assert_eq!(max_abs_diff(&t, o), 0.0, "{name}: {n}");
                continue;
            }
            assert_eq!(t.dims()[0], v + 5, "{name}: {n}");
            assert_eq!(
                max_abs_diff(&t.narrow(0, 0, v).unwrap(), o),
                0.0,
                "{name}: {n}"
            );
            let mean = o.mean_keepdim(0).unwrap();
            let new = t.narrow(0, v, 5).unwrap();
            let d = max_abs_diff(&new, &mean.broadcast_as(new.dims()).unwrap());
            assert!(d < 1e-6, "{name}: {n} new rows vs mean {d:e}");
        }
        let ids: Vec<u32> = (0..12).map(|i| 3 + i * 17 % 400).collect();
        let a = logits(&e.model, &ids);
        let b = logits(&grown, &ids).narrow(2, 0, v).unwrap();
        assert!(max_abs_diff(&a, &b) < 1e-5, "{name}: old logits changed");
    }
    assert!(engine("llama").model.resize_vocab(10).is_err());
}

/// New rows drawn from the old rows' mean and covariance: reproducible from the seed, different
/// across seeds, centred on the mean; old rows and old logits untouched.
#[test]
fn resize_vocab_with_mean_and_covariance_is_seeded() {
    use glassbox_model::VocabInit;
    let e = engine("llama");
    let v = e.model.config().vocab_size;
    let embed = |m: &Transformer| m.named_tensors()[0].1.clone();
    let a = e
        .model
        .resize_vocab_with(v + 400, VocabInit::MeanCov { seed: 3 })
        .unwrap();
    let b = e
        .model
        .resize_vocab_with(v + 400, VocabInit::MeanCov { seed: 3 })
        .unwrap();
    let c = e
        .model
        .resize_vocab_with(v + 400, VocabInit::MeanCov { seed: 4 })
        .unwrap();
    assert_eq!(max_abs_diff(&embed(&a), &embed(&b)), 0.0);
    assert!(max_abs_diff(&embed(&a), &embed(&c)) > 1e-3);
    let old = embed(&e.model);
    assert_eq!(max_abs_diff(&embed(&a).narrow(0, 0, v).unwrap(), &old), 0.0);
    // 400 draws: their mean is within a few standard errors of the old rows' mean.
    let new = embed(&a).narrow(0, v, 400).unwrap();
    let d = max_abs_diff(&new.mean_keepdim(0).unwrap(), &old.mean_keepdim(0).unwrap());
    let spread = common::max_abs(
        &old.broadcast_sub(&old.mean_keepdim(0).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .mean_keepdim(0)
            .unwrap()
            .sqrt()
            .unwrap(),
    );
    assert!(
        d < 5.0 * spread / 20.0,
        "mean of draws off by {d} (row spread {spread})"
    );
    let ids: Vec<u32> = (0..12).map(|i| 3 + i * 17 % 400).collect();
    let l0 = logits(&e.model, &ids);
    let l1 = logits(&a, &ids).narrow(2, 0, v).unwrap();
    assert!(max_abs_diff(&l0, &l1) < 1e-5);
}
