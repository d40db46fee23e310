//! Equivalent paths must agree: KV cache vs full recompute, batched vs one by one, a chat session
//! reusing its cache vs a fresh start, fused vs differentiable kernels, saved vs loaded weights,
//! and the same seed giving the same text.

#![allow(clippy::unwrap_used)]

mod common;

use candle_core::{Device, Tensor};
use common::{engine, fixture_models, max_abs_diff};
use glassbox_infer::{GenerateOptions, Request, SamplingParams};
use glassbox_model::{Kernels, KvCache, Logits, SaveDtype, Transformer};

/// Paths that differ only in the order of f32 operations (the fixtures' logits reach ~±30, so
/// this is a relative error of a few 1e-6); the same bound the transformers oracle is held to.
const F32_TOL: f32 = 1e-4;

/// `F32_TOL` relative to the logits' scale (at least 1): Gemma's √H-scaled embeddings and
/// soft-capped logits carry larger magnitudes, and f32 rounding grows with them.
fn tol(reference: &Tensor) -> f32 {
    F32_TOL * common::max_abs(reference).max(1.0)
}

fn prompts(e: &glassbox_infer::Engine) -> Vec<Vec<u32>> {
    [
        "In the beginning",
        "God called the light day, and the darkness he called night.",
        "And",
    ]
    .iter()
    .map(|t| e.tokenizer.encode(t, true).unwrap())
    .collect()
}

fn sampled(seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: 0.9,
        top_k: 40,
        top_p: 0.95,
        min_p: 0.02,
        repetition_penalty: 1.1,
        seed,
    }
}

fn request(e: &glassbox_infer::Engine, prompt: Vec<u32>, sampling: SamplingParams) -> Request {
    let mut r = e.request(prompt);
    r.sampling = sampling;
    r.max_new_tokens = 24;
    r.eos_token_ids.clear();
    r
}

#[test]
fn kv_cache_logits_equal_full_recompute() {
    for name in fixture_models() {
        let e = engine(&name);
        let ids = prompts(&e)[1].clone();
        let all = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let full = e.model.forward(&all, &[], None, Logits::All).unwrap();
        // Prefill 5 tokens, then one token at a time: every step's logits must equal the full pass.
        let mut cache = KvCache::new(e.model.config(), vec![0], &Device::Cpu);
        let mut rows = vec![
            e.model
                .forward(
                    &all.narrow(1, 0, 5).unwrap(),
                    &[],
                    Some(&mut cache),
                    Logits::All,
                )
                .unwrap(),
        ];
        for t in 5..ids.len() {
            rows.push(
                e.model
                    .forward(
                        &all.narrow(1, t, 1).unwrap(),
                        &[],
                        Some(&mut cache),
                        Logits::All,
                    )
                    .unwrap(),
            );
        }
        let stepwise = Tensor::cat(&rows, 1).unwrap();
        let diff = max_abs_diff(&stepwise, &full);
        assert!(
            diff < tol(&full),
            "{name}: cached vs full logits differ by {diff:e}"
        );
    }
}

/// Logits of the last few positions only (what scoring a continuation needs) are those
/// positions' logits of the full pass, with and without a cache.
#[test]
fn last_n_logits_are_the_full_passs_last_positions() {
    for name in fixture_models() {
        let e = engine(&name);
        let ids = prompts(&e)[1].clone();
        let t = ids.len();
        let all = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let full = e.model.forward(&all, &[], None, Logits::All).unwrap();
        let last3 = e.model.forward(&all, &[], None, Logits::LastN(3)).unwrap();
        let want = full.narrow(1, t - 3, 3).unwrap();
        assert!(max_abs_diff(&last3, &want) < tol(&want), "{name}");
        // More than the input has: all of it.
        let every = e
            .model
            .forward(&all, &[], None, Logits::LastN(t + 5))
            .unwrap();
        assert_eq!(every.dims(), full.dims(), "{name}");
        // After a cached prefix: the last positions of the new tokens.
        let mut cache = KvCache::new(e.model.config(), vec![0], &Device::Cpu);
        e.model
            .forward(
                &all.narrow(1, 0, 4).unwrap(),
                &[],
                Some(&mut cache),
                Logits::Last,
            )
            .unwrap();
        let rest = e
            .model
            .forward(
                &all.narrow(1, 4, t - 4).unwrap(),
                &[],
                Some(&mut cache),
                Logits::LastN(2),
            )
            .unwrap();
        let want = full.narrow(1, t - 2, 2).unwrap();
        assert!(max_abs_diff(&rest, &want) < tol(&want), "{name}: cached");
    }
}

#[test]
fn kv_cache_generation_equals_recompute() {
    for name in fixture_models() {
        let e = engine(&name);
        let reqs: Vec<Request> = prompts(&e)
            .into_iter()
            .map(|p| request(&e, p, SamplingParams::greedy()))
            .collect();
        let cached = e
            .generate(&reqs, GenerateOptions { use_cache: true }, &mut |_, _| {})
            .unwrap();
        let recomputed = e
            .generate(&reqs, GenerateOptions { use_cache: false }, &mut |_, _| {})
            .unwrap();
        assert_eq!(cached, recomputed, "{name}");
    }
}

#[test]
fn batched_generation_equals_one_by_one() {
    for name in fixture_models() {
        let e = engine(&name);
        for sampling in [SamplingParams::greedy(), sampled(5)] {
            let reqs: Vec<Request> = prompts(&e)
                .into_iter()
                .map(|p| request(&e, p, sampling.clone()))
                .collect();
            let batched = e
                .generate(&reqs, GenerateOptions::default(), &mut |_, _| {})
                .unwrap();
            for (r, b) in reqs.iter().zip(&batched) {
                let single = e
                    .generate(
                        std::slice::from_ref(r),
                        GenerateOptions::default(),
                        &mut |_, _| {},
                    )
                    .unwrap();
                assert_eq!(
                    &single[0], b,
                    "{name}: batched differs from single ({sampling:?})"
                );
            }
        }
    }
}

#[test]
fn padded_batch_logits_equal_unpadded() {
    let e = engine("mistral"); // sliding window: padding must not shift the window
    let ids = prompts(&e)[1].clone();
    let t = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let plain = e.model.forward(&t, &[], None, Logits::All).unwrap();
    let padded_ids: Vec<u32> = [vec![7u32; 4], ids.clone()].concat();
    let p = Tensor::new(padded_ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let padded = e
        .model
        .forward(&p, &[4], None, Logits::All)
        .unwrap()
        .narrow(1, 4, ids.len())
        .unwrap();
    assert!(max_abs_diff(&plain, &padded) < tol(&plain));
}

#[test]
fn same_seed_same_text_other_seed_other_text() {
    let e = engine("llama");
    let p = prompts(&e)[0].clone();
    let run = |seed| {
        e.generate(
            &[request(&e, p.clone(), sampled(seed))],
            GenerateOptions::default(),
            &mut |_, _| {},
        )
        .unwrap()
    };
    let a = run(1);
    assert_eq!(a, run(1));
    assert_ne!(a[0].tokens, run(2)[0].tokens);
}

#[test]
fn streamed_text_equals_final_text() {
    for name in fixture_models() {
        let e = engine(&name);
        let reqs: Vec<Request> = prompts(&e)
            .into_iter()
            .map(|p| request(&e, p, sampled(9)))
            .collect();
        let mut streamed = vec![String::new(); reqs.len()];
        let out = e
            .generate(&reqs, GenerateOptions::default(), &mut |i, t| {
                streamed[i].push_str(t)
            })
            .unwrap();
        for (s, c) in streamed.iter().zip(&out) {
            assert_eq!(s, &c.text, "{name}");
        }
    }
}

#[test]
fn stop_string_cuts_text_and_is_never_streamed() {
    let e = engine("llama");
    let p = prompts(&e)[0].clone();
    let full = e
        .generate(
            &[request(&e, p.clone(), SamplingParams::greedy())],
            GenerateOptions::default(),
            &mut |_, _| {},
        )
        .unwrap();
    let text = &full[0].text;
    // Stop on a 3-character piece from the middle of the greedy text.
    let start = text
        .char_indices()
        .map(|(i, _)| i)
        .nth(text.chars().count() / 2)
        .unwrap();
    let stop: String = text[start..].chars().take(3).collect();
    let mut r = request(&e, p, SamplingParams::greedy());
    r.stop = vec![stop.clone()];
    let mut streamed = String::new();
    let out = e
        .generate(&[r], GenerateOptions::default(), &mut |_, t| {
            streamed.push_str(t)
        })
        .unwrap();
    let cut = &text[..text.find(&stop).unwrap()];
    assert_eq!(out[0].text, cut);
    assert_eq!(streamed, cut);
    assert_eq!(out[0].finish, glassbox_infer::FinishReason::Stop(stop));
}

#[test]
fn session_reuse_equals_fresh_generation() {
    let e = engine("qwen2");
    let template = e.chat_template().unwrap();
    let mut session = e.session();
    let mut messages =
        vec![serde_json::json!({"role": "user", "content": "Who made the heavens?"})];
    for turn in 0..3 {
        let prompt = template
            .render(&messages, true, &Default::default())
            .unwrap();
        let ids = e.tokenizer.encode(&prompt, false).unwrap();
        let r = request(&e, ids, SamplingParams::greedy());
        let fresh = e
            .generate(
                std::slice::from_ref(&r),
                GenerateOptions::default(),
                &mut |_, _| {},
            )
            .unwrap();
        let reused = e.generate_in(&mut session, &r, &mut |_| {}).unwrap();
        assert_eq!(reused, fresh[0], "turn {turn}");
        if turn > 0 {
            assert!(
                session.cached_tokens().len() > r.prompt.len(),
                "cache holds prompt and reply"
            );
        }
        messages.push(serde_json::json!({"role": "assistant", "content": reused.text}));
        messages.push(serde_json::json!({"role": "user", "content": format!("And then {turn}?")}));
    }
}

#[test]
fn differentiable_kernels_equal_fused() {
    for name in fixture_models() {
        let e = engine(&name);
        let ids = prompts(&e)[1].clone();
        let t = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let fused = e.model.forward(&t, &[], None, Logits::All).unwrap();
        let mut m = e.model.clone();
        m.set_kernels(Kernels::Differentiable);
        let diff = max_abs_diff(&fused, &m.forward(&t, &[], None, Logits::All).unwrap());
        assert!(diff < tol(&fused), "{name}: {diff:e}");
    }
}

#[test]
fn saved_weights_reload_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    for name in fixture_models() {
        let e = engine(&name);
        let out = dir.path().join(&name);
        // A tiny shard limit forces the sharded layout with an index.
        e.model.save(&out, SaveDtype::F32, 50_000).unwrap();
        assert!(out.join("model.safetensors.index.json").exists());
        let (back, report) = Transformer::load(&out, &Device::Cpu).unwrap();
        assert!(report.unused_tensors.is_empty());
        let mut want = e.model.config().clone();
        want.dtype = Some("float32".into());
        assert_eq!(back.config(), &want);
        for ((n1, a), (n2, b)) in e
            .model
            .named_tensors()
            .iter()
            .zip(back.named_tensors().iter())
        {
            assert_eq!(n1, n2);
            assert_eq!(max_abs_diff(a, b), 0.0, "{name}: {n1}");
        }
        // Saving again unsharded replaces the index, as transformers would need.
        e.model.save(&out, SaveDtype::BF16, u64::MAX).unwrap();
        assert!(!out.join("model.safetensors.index.json").exists());
        assert!(Transformer::load(&out, &Device::Cpu).is_ok());
    }
}

/// A bf16 checkpoint stays bf16 in memory (half the bytes) and computes what the same weights
/// widened to f32 compute: every cached decoding step within f32 rounding, greedy tokens equal.
#[test]
fn bf16_weights_stay_bf16_and_compute_as_widened() {
    let dir = tempfile::tempdir().unwrap();
    for name in fixture_models() {
        let e = engine(&name);
        let out = dir.path().join(&name);
        e.model.save(&out, SaveDtype::BF16, u64::MAX).unwrap();
        let (half, _) = Transformer::load(&out, &Device::Cpu).unwrap();
        let (wide, _) = Transformer::load_with(&out, &Device::Cpu, false).unwrap();
        let matrices: usize = wide
            .named_tensors()
            .iter()
            .filter(|(_, t)| t.rank() == 2)
            .map(|(_, t)| t.elem_count())
            .sum();
        assert_eq!(
            wide.weight_bytes() - half.weight_bytes(),
            2 * matrices,
            "{name}: matrices kept at 2 bytes"
        );
        let ids = prompts(&e)[1].clone();
        let all = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let a = half.forward(&all, &[], None, Logits::All).unwrap();
        let b = wide.forward(&all, &[], None, Logits::All).unwrap();
        assert!(max_abs_diff(&a, &b) < tol(&b), "{name}: prefill");
        let (mut ca, mut cb) = (
            KvCache::new(half.config(), vec![0], &Device::Cpu),
            KvCache::new(wide.config(), vec![0], &Device::Cpu),
        );
        for t in 0..ids.len() {
            let x = all.narrow(1, t, 1).unwrap();
            let a = half.forward(&x, &[], Some(&mut ca), Logits::Last).unwrap();
            let b = wide.forward(&x, &[], Some(&mut cb), Logits::Last).unwrap();
            assert!(max_abs_diff(&a, &b) < tol(&b), "{name}: step {t}");
        }
    }
}

#[test]
fn packed_rows_give_each_example_its_own_logits() {
    // Three examples in one row (segments 1, 2, 3): attention must not cross them and positions
    // restart, on every family (sliding windows, LongRoPE, MoE routing included).
    for name in fixture_models() {
        let e = engine(&name);
        let examples = prompts(&e);
        let mut packed = Vec::new();
        let mut segments = Vec::new();
        for (i, ex) in examples.iter().enumerate() {
            packed.extend_from_slice(ex);
            segments.extend(std::iter::repeat_n(i as u32 + 1, ex.len()));
        }
        let row = Tensor::new(packed.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let (together, _) = e
            .model
            .forward_train_packed(&row, Some(&[segments]))
            .unwrap();
        let mut at = 0;
        for ex in &examples {
            let t = Tensor::new(ex.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let (alone, _) = e.model.forward_train(&t).unwrap();
            let part = together.narrow(1, at, ex.len()).unwrap();
            let d = max_abs_diff(&alone, &part);
            assert!(d < tol(&alone), "{name}: packed differs by {d}");
            at += ex.len();
        }
    }
}
