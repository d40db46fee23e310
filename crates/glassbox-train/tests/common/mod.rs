//! Helpers shared by the training tests: the fixture recipe, logs, family runs and the
//! gradient-oracle check.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use glassbox_train::trainer::{self, Event, Options};
use serde_json::Value;

pub(crate) fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/train")
}

/// The parity recipe with some keys replaced, written next to a copy pointing at the fixture
/// dataset.
pub(crate) fn recipe(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(fixture().join("recipe.toml")).unwrap();
    text = text.replace(
        "dataset = \"dataset\"",
        &format!("dataset = \"{}\"", fixture().join("dataset").display()),
    );
    for (from, to) in edits {
        assert!(text.contains(from), "{from} not in recipe");
        text = text.replace(from, to);
    }
    let p = dir.join("recipe.toml");
    std::fs::write(&p, text).unwrap();
    p
}

pub(crate) fn losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("logs/train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

pub(crate) fn quiet(_: Event) {}

/// Trains 8 steps of the parity recipe on the fixture model `family`'s configuration (its
/// vocabulary widened to the dataset's); checks the loss falls; returns checkpoints 0 and 8.
pub(crate) fn train_family(
    tmp: &Path,
    family: &str,
) -> (glassbox_model::Transformer, glassbox_model::Transformer) {
    let fixture_cfg = fixture().join(format!("../models/{family}/config.json"));
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_cfg).unwrap()).unwrap();
    cfg["vocab_size"] = 512.into();
    std::fs::create_dir_all(tmp).unwrap();
    let cfg_path = tmp.join(format!("{family}.json"));
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let r = recipe(
        tmp,
        &[
            (
                "preset = \"tiny\"",
                &format!("config = \"{}\"", cfg_path.display()),
            ),
            ("steps = 20", "steps = 8"),
        ],
    );
    trainer::train(&r, &tmp.join("run"), Options::default(), &mut quiet).unwrap();
    let l = losses(&tmp.join("run"));
    assert_eq!(l.len(), 8);
    assert!(
        l.iter().all(|x| x.is_finite()) && l[7] < l[0],
        "{family}: {l:?}"
    );
    let load = |step: &str| {
        glassbox_model::Transformer::load(
            &tmp.join("run/checkpoints").join(step),
            &candle_core::Device::Cpu,
        )
        .unwrap()
        .0
    };
    (load("step-0000000"), load("step-0000008"))
}

/// The learner's loss on `rows` within 1e-5 relative of `want`, and the gradient of every
/// optimised tensor within 1e-4 relative (max |Δ| over max |reference|) of the tensor of the same
/// name in `grads`, which must hold exactly those tensors. Returns the loss and the worst ratio.
pub(crate) fn check_loss_and_gradients(
    case: &str,
    learner: &glassbox_train::learner::Learner,
    rows: &[Vec<u32>],
    want: f64,
    grads: &Path,
) -> (f64, f32) {
    let loss = learner.loss(rows).unwrap();
    let got = f64::from(loss.to_scalar::<f32>().unwrap());
    assert!(
        (got - want).abs() / want.abs() <= 1e-5,
        "{case}: loss {got} vs the oracle's {want}"
    );
    let store = loss.backward().unwrap();
    let reference = glassbox_model::safetensors_io::SafetensorsFile::open(grads).unwrap();
    assert_eq!(
        learner.opt.params.len(),
        reference.tensors().len(),
        "{case}"
    );
    let max = |t: &candle_core::Tensor| {
        t.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let mut worst = 0f32;
    for p in &learner.opt.params {
        // An expert no token was routed to gets no gradient (zero, as in transformers).
        let g = match store.get(p.var.as_tensor()) {
            Some(g) => g.clone(),
            None => p.var.as_tensor().zeros_like().unwrap(),
        };
        let w = reference
            .load_f32(&p.name, &candle_core::Device::Cpu)
            .unwrap();
        let rel = max(&(g - &w).unwrap()) / max(&w).max(f32::MIN_POSITIVE);
        worst = worst.max(rel);
        assert!(
            rel <= 1e-4,
            "{case}: gradient of {}: relative {rel:e}",
            p.name
        );
    }
    (got, worst)
}
