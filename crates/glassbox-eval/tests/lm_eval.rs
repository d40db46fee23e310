//! Agreement with lm-evaluation-harness itself: its `hf` backend's per-request log-likelihoods,
//! few-shot contexts and metrics on two tiny committed models and the committed local tasks
//! (`tests/fixtures/eval/lm-eval-reference.json`, written by `make_eval_fixture.py` beside them),
//! and the same from its `local-completions` model pointed at `glassbox serve`
//! (`lm-eval-serve.json`, written by `lm_eval_serve.py`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use candle_core::Device;
use glassbox_eval::evaluate::{EvalOptions, evaluate};
use glassbox_eval::task::TaskConfig;
use glassbox_infer::Engine;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[test]
fn loglikelihoods_contexts_and_metrics_equal_lm_evals() {
    agrees_with("lm-eval-reference.json");
}

#[test]
fn lm_evals_local_completions_against_glassbox_serve_gives_the_same_numbers() {
    agrees_with("lm-eval-serve.json");
}

/// Every request, few-shot context and metric of the lm-eval output `file` equals glassbox's.
fn agrees_with(file: &str) {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("eval").join(file)).unwrap())
            .unwrap();
    for m in reference["models"].as_array().unwrap() {
        let name = m["model"].as_str().unwrap();
        let engine = Engine::load(&fixtures().join("models").join(name), &Device::Cpu).unwrap();
        let opts = EvalOptions {
            max_length: Some(m["max_length"].as_u64().unwrap() as usize),
            ..EvalOptions::default()
        };
        for (task, want) in m["tasks"].as_object().unwrap() {
            let cfg = TaskConfig::load(&fixtures().join(format!("eval/{task}.yaml"))).unwrap();
            let got = evaluate(&cfg, &engine, &opts).unwrap();
            let samples = want["samples"].as_array().unwrap();
            assert_eq!(got.samples.len(), samples.len(), "{name} {task}");
            for (g, w) in got.samples.iter().zip(samples) {
                let lls: Vec<f64> = match g.get("loglikelihoods") {
                    Some(v) => serde_json::from_value(v.clone()).unwrap(),
                    None => vec![g["loglikelihood"].as_f64().unwrap()],
                };
                let want_lls: Vec<f64> =
                    serde_json::from_value(w["loglikelihoods"].clone()).unwrap();
                assert_eq!(lls.len(), want_lls.len());
                for (a, b) in lls.iter().zip(&want_lls) {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{file} {name} {task} doc {}: {a} vs lm-eval {b}",
                        w["doc"]
                    );
                }
                if let Some(ctx) = w["contexts"].as_array() {
                    assert_eq!(g["context"], ctx[0], "{name} {task}: few-shot context");
                }
            }
            for (k, v) in want["metrics"].as_object().unwrap() {
                let (a, b) = (got.metrics[k], v.as_f64().unwrap());
                let tol = if task.starts_with("verses_mc") {
                    0.0
                } else {
                    1e-5 * b.abs()
                };
                assert!(
                    (a - b).abs() <= tol,
                    "{file} {name} {task} {k}: {a} vs lm-eval {b}"
                );
            }
            if task == "verses_mc" {
                assert!(
                    got.truncated > 0,
                    "the few-shot contexts exceed the 32-token window"
                );
            }
            if task == "verses_mc0" {
                // Zero-shot, most questions fit the window: their choices share a pass over
                // their context, and give lm-eval's numbers all the same.
                assert!(got.truncated * 2 < got.docs * 4, "{}", got.truncated);
            }
        }
    }
}
