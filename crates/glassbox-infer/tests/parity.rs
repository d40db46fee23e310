//! Parity with Hugging Face transformers, the oracle: logits, greedy continuations, chat templates
//! and log-probabilities of the fixture models (made by tests/fixtures/make_fixtures.py).

#![allow(clippy::unwrap_used)]

mod common;

use candle_core::{Device, Tensor};
use common::{fixture_models, load_reference, max_abs_diff};
use glassbox_infer::{GenerateOptions, SamplingParams};
use glassbox_model::Logits;
use serde_json::Value;

const LOGIT_TOL: f32 = 1e-4;

#[test]
fn logits_match_transformers() {
    for name in fixture_models() {
        let (reference, logits) = load_reference(&name);
        let engine = common::engine(&name);
        for (i, input) in reference["inputs"].as_array().unwrap().iter().enumerate() {
            let ids: Vec<u32> = serde_json::from_value(input["ids"].clone()).unwrap();
            let encoded = engine
                .tokenizer
                .encode(input["text"].as_str().unwrap(), true)
                .unwrap();
            assert_eq!(
                encoded, ids,
                "{name}: tokenizer disagrees with transformers on input {i}"
            );
            let tokens = Tensor::new(ids.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let got = engine
                .model
                .forward(&tokens, &[], None, Logits::All)
                .unwrap()
                .squeeze(0)
                .unwrap();
            let want = &logits[&format!("logits_{i}")];
            let diff = max_abs_diff(&got, want);
            assert!(
                diff <= LOGIT_TOL,
                "{name}: input {i}: max |Δlogit| = {diff:e} > {LOGIT_TOL:e}"
            );
            eprintln!(
                "{name}: input {i} ({} tokens): max |Δlogit| = {diff:.2e}",
                ids.len()
            );
        }
    }
}

#[test]
fn greedy_continuations_match_transformers() {
    for name in fixture_models() {
        let (reference, _) = load_reference(&name);
        let engine = common::engine(&name);
        for case in reference["greedy"].as_array().unwrap() {
            let prompt: Vec<u32> = serde_json::from_value(case["prompt_ids"].clone()).unwrap();
            let want: Vec<u32> = serde_json::from_value(case["tokens"].clone()).unwrap();
            let mut request = engine.request(prompt);
            request.sampling = SamplingParams::greedy();
            request.max_new_tokens = 32;
            let out = engine
                .generate(&[request], GenerateOptions::default(), &mut |_, _| {})
                .unwrap();
            assert_eq!(
                out[0].tokens, want,
                "{name}: greedy tokens differ from transformers"
            );
        }
    }
}

#[test]
fn chat_templates_render_as_transformers() {
    for name in fixture_models() {
        let (reference, _) = load_reference(&name);
        let engine = common::engine(&name);
        let template = engine.chat_template().unwrap();
        let conversations = common::conversations();
        let mut checked = 0;
        for case in reference["chat"].as_array().unwrap() {
            let key = case["conversation"].as_str().unwrap();
            let messages = conversations[key].as_array().unwrap();
            let mut extra: serde_json::Map<String, Value> =
                case["extra"].as_object().unwrap().clone();
            if !case["tools"].is_null() {
                extra.insert("tools".into(), case["tools"].clone());
            }
            let add_gen = case["add_generation_prompt"].as_bool().unwrap();
            let rendered = template.render(messages, add_gen, &extra);
            match case.get("error") {
                Some(err) => {
                    let got = rendered
                        .expect_err("transformers raised, glassbox rendered")
                        .to_string();
                    assert!(
                        got.contains(err.as_str().unwrap()),
                        "{name}/{key}: error `{got}` lacks `{err}`"
                    );
                }
                None => {
                    let text = rendered.unwrap_or_else(|e| panic!("{name}/{key}: {e}"));
                    assert_eq!(
                        text,
                        case["text"].as_str().unwrap(),
                        "{name}/{key} (generation prompt: {add_gen})"
                    );
                    let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
                    assert_eq!(
                        engine.tokenizer.encode(&text, false).unwrap(),
                        ids,
                        "{name}/{key}: ids"
                    );
                }
            }
            checked += 1;
        }
        assert!(checked >= 10, "{name}: only {checked} chat cases");
    }
}

#[test]
fn score_matches_transformers_logprobs() {
    for name in fixture_models() {
        let (reference, _) = load_reference(&name);
        let engine = common::engine(&name);
        let score = &reference["score"];
        let ids = engine
            .tokenizer
            .encode(score["text"].as_str().unwrap(), true)
            .unwrap();
        let want: Vec<Option<f64>> = serde_json::from_value(score["logprobs"].clone()).unwrap();
        let got = engine.score(&ids, 0).unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            match (g.logprob, w) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-4, "{name}: logprob {g} vs {w}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
