//! LoRA training: an adapter trained on a frozen model (resume, replay, dropout), and PEFT's
//! training oracle.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use glassbox_train::trainer::{self, Options};
use serde_json::Value;

mod common;
use common::{check_loss_and_gradients, fixture, quiet, recipe, train_family};

/// LoRA on a frozen model: the loss falls, checkpoints hold only the adapter (PEFT files) and
/// its AdamW moments, the base gets no optimiser state, a resumed run and a replay end on the
/// same adapter bytes as an uninterrupted run.
#[test]
fn lora_trains_an_adapter_on_a_frozen_model_and_resumes_bit_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("base");
    let _ = train_family(&first, "llama");
    let base = first.join("run/checkpoints/step-0000008");
    let lora = |dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        let r = recipe(
            dir,
            &[
                (
                    "preset = \"tiny\"",
                    &format!("init = \"{}\"", base.display()),
                ),
                ("lr = 3e-3", "lr = 3e-3"),
            ],
        );
        let mut text = std::fs::read_to_string(&r).unwrap();
        text.push_str("\n[lora]\nr = 4\nalpha = 8\ntargets = [\"q_proj\", \"v_proj\", \"down_proj\"]\nseed = 5\ndropout = 0.1\n");
        std::fs::write(&r, text).unwrap();
        r
    };
    let whole = tmp.path().join("whole");
    let r = lora(&whole);
    let s = trainer::train(&r, &whole.join("run"), Options::default(), &mut quiet).unwrap();
    let ck = whole.join("run/checkpoints/step-0000020");
    // On the batches it trained on, the adapted model's loss is below the frozen model's.
    let rec = glassbox_train::recipe::Recipe::from_file(&whole.join("run/recipe.toml")).unwrap();
    let (frozen, _) = glassbox_model::Transformer::load(&base, &candle_core::Device::Cpu).unwrap();
    let trained = glassbox_model::Adapter::load(&ck, &candle_core::Device::Cpu).unwrap();
    let with =
        glassbox_train::learner::Learner::with_adapter(frozen.clone(), trained, &rec).unwrap();
    let mut without_rec = rec.clone();
    without_rec.lora = None;
    let without = glassbox_train::learner::Learner::new(frozen, &without_rec).unwrap();
    let mut ds = glassbox_data::dataset::Dataset::open(&rec.data.dataset).unwrap();
    let (mut a, mut b) = (0f32, 0f32);
    for step in 10..20 {
        let rows: Vec<Vec<u32>> = ds
            .batch(step, rec.train.batch_size, rec.train.seq_len, rec.data.seed)
            .unwrap()
            .into_iter()
            .map(|s| s.tokens)
            .collect();
        a += with.loss(&rows).unwrap().to_scalar::<f32>().unwrap();
        b += without.loss(&rows).unwrap().to_scalar::<f32>().unwrap();
    }
    assert!(
        a < b - 0.1,
        "adapted {a} vs frozen {b} (sum over 10 batches)"
    );
    assert!(
        ck.join("adapter_model.safetensors").exists() && ck.join("adapter_config.json").exists()
    );
    assert!(
        !ck.join("model.safetensors").exists(),
        "the frozen model is not copied"
    );
    let opt =
        glassbox_model::safetensors_io::SafetensorsFile::open(&ck.join("optimizer.safetensors"))
            .unwrap();
    assert!(
        opt.tensors()
            .keys()
            .all(|k| k.contains(".lora_A.") || k.contains(".lora_B."))
    );
    assert_eq!(
        opt.tensors().len(),
        2 * 2 * 3 * 2,
        "m and v of A and B, 3 modules × 2 layers"
    );
    let adapter = glassbox_model::Adapter::load(&ck, &candle_core::Device::Cpu).unwrap();
    assert_eq!(adapter.config.r, 4);
    assert_eq!(
        s.final_weights_sha256,
        glassbox_core::hash::sha256_file(&ck.join("adapter_model.safetensors")).unwrap()
    );
    // Stopped after 3 steps and resumed: the same adapter bytes.
    let parts = tmp.path().join("parts");
    let r = lora(&parts);
    let stop = Options {
        stop_after: Some(10),
        ..Default::default()
    };
    trainer::train(&r, &parts.join("run"), stop, &mut quiet).unwrap();
    let resumed = trainer::resume(&parts.join("run"), Options::default(), &mut quiet).unwrap();
    assert_eq!(resumed.final_weights_sha256, s.final_weights_sha256);
    // Dropout is on (the same run without it ends elsewhere).
    let plain = tmp.path().join("plain");
    let r = lora(&plain);
    let text = std::fs::read_to_string(&r)
        .unwrap()
        .replace("dropout = 0.1", "dropout = 0.0");
    std::fs::write(&r, text).unwrap();
    let p = trainer::train(&r, &plain.join("run"), Options::default(), &mut quiet).unwrap();
    assert_ne!(p.final_weights_sha256, s.final_weights_sha256);
    // Replayed from checkpoint 16 to 20: the same adapter values.
    let replayed = trainer::replay_learner(
        &rec,
        &rec.data.dataset,
        &whole.join("run/checkpoints/step-0000016"),
        20,
        &mut |_| {},
    )
    .unwrap()
    .adapter()
    .unwrap();
    for ((n1, a), (n2, b)) in replayed
        .named_tensors()
        .iter()
        .zip(adapter.named_tensors().iter())
    {
        assert_eq!(n1, n2);
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert!(a == b, "{n1}: replay differs");
    }
}

/// The PEFT training oracle (`tests/fixtures/make_lora_fixtures.py`): on one batch, the loss of
/// the model with PEFT's adapter and the gradient of every LoRA tensor equal PEFT's backward
/// within 1e-4 relative (max |Δ| over max |reference| per tensor); the frozen weights get none.
#[test]
fn lora_gradients_match_peft() {
    let fx = fixture().join("..");
    for (case, base) in [
        ("llama-qv", "llama"),
        ("llama-all", "llama"),
        ("gpt-neox-fused", "gpt-neox"),
        ("qwen3-moe-attn", "qwen3-moe"),
    ] {
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(fx.join(format!("reference/lora-{case}.json"))).unwrap(),
        )
        .unwrap();
        let rows: Vec<Vec<u32>> =
            serde_json::from_value(reference["train"]["input_ids"].clone()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let r = recipe(tmp.path(), &[("seq_len = 32", "seq_len = 15")]);
        let recipe = glassbox_train::recipe::Recipe::from_file(&r).unwrap();
        let (model, _) = glassbox_model::Transformer::load(
            &fx.join(format!("models/{base}")),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        // PEFT's batch is plain cross-entropy (no router loss for the mixture of experts).
        let mut cfg = model.config().clone();
        if let Some(moe) = cfg.moe.as_mut() {
            moe.router_aux_loss_coef = 0.0;
        }
        let model = glassbox_model::Transformer::from_tensors(
            cfg,
            model.named_tensors().into_iter().collect(),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let adapter = glassbox_model::Adapter::load(
            &fx.join(format!("lora/{case}")),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let learner =
            glassbox_train::learner::Learner::with_adapter(model, adapter, &recipe).unwrap();
        let want = reference["train"]["loss"].as_f64().unwrap();
        let grads = fx.join(format!("reference/lora-{case}-grads.safetensors"));
        let (got, worst) = check_loss_and_gradients(case, &learner, &rows, want, &grads);
        eprintln!("{case}: loss {got} (PEFT {want}), worst gradient relative {worst:.2e}");
    }
}
