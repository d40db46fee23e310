//! Continuous batching: `decode_step` agrees with the cached forward pass, and a request's
//! tokens are bit-for-bit the same alone or among 16 concurrent requests (batch invariance),
//! for every fixture architecture (Llama, Mistral with its sliding window, Qwen2 with biases).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use glassbox_infer::SamplingParams;
use glassbox_infer::scheduler::{Job, JobEvent, Scheduler, SchedulerOptions};
use glassbox_model::{KvCache, Logits, SeqCache};

/// Next-token logits of `seq` computed without a cache.
fn recomputed(m: &glassbox_model::Transformer, seq: &[u32]) -> Vec<f32> {
    let t = Tensor::from_vec(seq.to_vec(), (1, seq.len()), &Device::Cpu).unwrap();
    m.forward(&t, &[], None, Logits::Last)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[test]
fn decode_step_matches_the_cached_forward_pass() {
    for name in common::fixture_models() {
        let e = common::engine(&name);
        let m = &e.model;
        let prompts: Vec<Vec<u32>> =
            vec![vec![5, 9, 12], vec![7; 11], vec![20, 21, 22, 23, 24, 25]];
        let mut caches: Vec<SeqCache> = Vec::new();
        let mut next = Vec::new();
        for p in &prompts {
            let mut c = KvCache::new(m.config(), vec![0], &Device::Cpu);
            let t = Tensor::from_vec(p.clone(), (1, p.len()), &Device::Cpu).unwrap();
            m.forward(&t, &[], Some(&mut c), Logits::Last).unwrap();
            caches.push(SeqCache::from_kv_cache(&c).unwrap());
            next.push(30 + p.len() as u32);
        }
        let mut refs: Vec<&mut SeqCache> = caches.iter_mut().collect();
        let rows = m.decode_step(&next, &mut refs).unwrap();
        for (i, p) in prompts.iter().enumerate() {
            let mut full = p.clone();
            full.push(next[i]);
            let d = max_diff(&rows[i], &recomputed(m, &full));
            assert!(d < 1e-4, "{name} sequence {i}: max |diff| {d}");
        }
    }
}

/// Phi-3's LongRoPE switches to its long factors once a sequence passes 32 positions (the
/// fixture's `original_max_position_embeddings`): decoding across the switch, alone or beside a
/// sequence that has not reached it, gives at every step the logits of a full recomputation.
#[test]
fn longrope_decoding_across_the_switch_equals_full_recomputation() {
    let e = common::engine("phi3");
    let m = &e.model;
    let mut seqs: Vec<Vec<u32>> = vec![(0..29).map(|i| 3 + i * 7 % 400).collect(), vec![9, 8, 7]];
    let mut caches: Vec<SeqCache> = seqs.iter().map(|p| common::prefilled(m, p)).collect();
    for step in 0..8u32 {
        let next: Vec<u32> = (0..2).map(|i| 40 + step * 3 + i).collect();
        let mut refs: Vec<&mut SeqCache> = caches.iter_mut().collect();
        let rows = m.decode_step(&next, &mut refs).unwrap();
        for (i, s) in seqs.iter_mut().enumerate() {
            s.push(next[i]);
            let d = max_diff(&rows[i], &recomputed(m, s));
            assert!(
                d < 1e-4,
                "step {step}, sequence {i} (length {}): {d}",
                s.len()
            );
        }
    }
    assert!(seqs[0].len() > 33, "the first sequence crossed the switch");
}

/// Runs `prompts` through a scheduler all at once; returns each one's generated tokens.
fn run(
    engine: &Arc<glassbox_infer::Engine>,
    jobs: &[(Vec<u32>, SamplingParams, usize)],
    prefill_chunk: usize,
) -> Vec<Vec<u32>> {
    let s = Scheduler::start(
        engine.clone(),
        SchedulerOptions {
            max_batch: 16,
            max_queue: 64,
            prefill_chunk,
            max_queue_wait: None,
        },
    );
    let (tx, rx) = mpsc::channel();
    let out: Vec<Arc<Mutex<Vec<u32>>>> = jobs
        .iter()
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let batch = jobs
        .iter()
        .enumerate()
        .map(|(i, (prompt, sampling, max))| {
            let o = out[i].clone();
            let tx = tx.clone();
            Job {
                prompt: prompt.clone(),
                sampling: sampling.clone(),
                max_new_tokens: *max,
                stop: Vec::new(),
                eos_token_ids: Vec::new(),
                logprobs: None,
                score_prompt: None,
                sink: Box::new(move |e| {
                    match e {
                        JobEvent::Token { id, .. } => o.lock().unwrap().push(id),
                        JobEvent::Done { .. } | JobEvent::Failed(_) | JobEvent::Expired(_) => {
                            let _ = tx.send(i);
                        }
                        JobEvent::Started | JobEvent::PromptScores(_) => {}
                    }
                    true
                }),
            }
        })
        .collect();
    s.submit(batch).unwrap();
    for _ in jobs {
        rx.recv().unwrap();
    }
    out.iter().map(|o| o.lock().unwrap().clone()).collect()
}

#[test]
fn a_request_gets_the_same_tokens_alone_or_among_sixteen() {
    same_tokens_alone_or_among_sixteen(512);
}

/// Chunk boundaries depend only on the prompt, so chunked prefill keeps batch invariance.
#[test]
fn a_request_gets_the_same_tokens_alone_or_among_sixteen_with_chunked_prefill() {
    same_tokens_alone_or_among_sixteen(7);
}

fn same_tokens_alone_or_among_sixteen(chunk: usize) {
    for name in common::fixture_models() {
        let engine = Arc::new(common::engine(&name));
        let sampled = SamplingParams {
            temperature: 0.9,
            top_p: 0.95,
            seed: 7,
            ..SamplingParams::default()
        };
        let long: Vec<u32> = (0..30).map(|k| (k * 11) % 60 + 5).collect();
        let probe = vec![
            (vec![5, 9, 12, 40], sampled.clone(), 40),
            (vec![11, 3], SamplingParams::greedy(), 40),
            (
                long,
                SamplingParams {
                    seed: 9,
                    ..sampled.clone()
                },
                40,
            ),
        ];
        let alone: Vec<Vec<u32>> = probe
            .iter()
            .map(|j| run(&engine, std::slice::from_ref(j), chunk).remove(0))
            .collect();
        let mut many = probe.clone();
        for i in 0..13u32 {
            let prompt: Vec<u32> = (0..(3 + i * 5)).map(|k| (k * 7 + i) % 60 + 5).collect();
            let s = SamplingParams {
                temperature: 1.0,
                seed: 100 + i as u64,
                ..SamplingParams::default()
            };
            many.push((prompt, s, 10 + i as usize * 3));
        }
        many.rotate_left(5);
        let together = run(&engine, &many, chunk);
        let pos = |p: &Vec<u32>| many.iter().position(|j| &j.0 == p).unwrap();
        for (k, j) in probe.iter().enumerate() {
            assert_eq!(alone[k].len(), 40, "{name}");
            assert_eq!(
                together[pos(&j.0)],
                alone[k],
                "{name}: probe {k} changed in a batch of 16"
            );
        }
    }
}

/// A job whose events go to `tx`, tagged `tag`.
fn job(
    prompt: Vec<u32>,
    max_new_tokens: usize,
    tag: char,
    tx: &mpsc::Sender<(char, JobEvent)>,
) -> Job {
    let tx = tx.clone();
    Job {
        prompt,
        sampling: SamplingParams::greedy(),
        max_new_tokens,
        stop: Vec::new(),
        eos_token_ids: Vec::new(),
        logprobs: Some(5),
        score_prompt: None,
        sink: Box::new(move |e| tx.send((tag, e)).is_ok()),
    }
}

/// Regression: a prefill used to run whole between two decoding steps, so a long prompt froze
/// every running stream until it was done. Now it is cut into chunks interleaved with decoding.
#[test]
fn a_long_prefill_does_not_stall_running_streams() {
    let engine = Arc::new(common::engine("llama"));
    let s = Scheduler::start(
        engine,
        SchedulerOptions {
            max_batch: 4,
            max_queue: 8,
            prefill_chunk: 16,
            max_queue_wait: None,
        },
    );
    let (tx, rx) = mpsc::channel();
    s.submit(vec![job(vec![5, 9, 12], 200, 'a', &tx)]).unwrap();
    // Wait until the short request is decoding, then send a 240-token prompt.
    let mut a_tokens = 0;
    while a_tokens < 3 {
        if let (_, JobEvent::Token { .. }) = rx.recv().unwrap() {
            a_tokens += 1;
        }
    }
    let long: Vec<u32> = (0..240).map(|k| (k * 13) % 400 + 5).collect();
    s.submit(vec![job(long, 4, 'b', &tx)]).unwrap();
    // Count the running stream's tokens between the long job's admission and its first token.
    let mut admitted = false;
    let mut during = 0;
    loop {
        match rx.recv().unwrap() {
            ('b', JobEvent::Started) => admitted = true,
            ('b', JobEvent::Token { .. }) => break,
            ('a', JobEvent::Token { .. }) if admitted => during += 1,
            ('a', JobEvent::Done { .. } | JobEvent::Failed(_)) => panic!("the short job ended"),
            ('b', JobEvent::Failed(m)) => panic!("{m}"),
            _ => {}
        }
    }
    // 240 tokens in chunks of 16: 15 chunks, a decoding step after each but the last.
    assert!(
        during >= 14,
        "only {during} tokens while the long prompt was prefilled"
    );
    assert!(
        s.stats()
            .max_decode_gap_us
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

/// Equivalent paths agree: a prompt prefilled in chunks gives the logits of one prefill.
#[test]
fn chunked_prefill_agrees_with_a_single_prefill() {
    for name in common::fixture_models() {
        let engine = Arc::new(common::engine(&name));
        let prompt: Vec<u32> = (0..100).map(|k| (k * 17) % 400 + 5).collect();
        let tokens = |chunk: usize| {
            let s = Scheduler::start(
                engine.clone(),
                SchedulerOptions {
                    prefill_chunk: chunk,
                    ..SchedulerOptions::default()
                },
            );
            let (tx, rx) = mpsc::channel();
            s.submit(vec![job(prompt.clone(), 8, 'a', &tx)]).unwrap();
            let mut out = Vec::new();
            loop {
                match rx.recv().unwrap() {
                    (_, JobEvent::Token { id, logprob, .. }) => out.push((id, logprob.unwrap())),
                    (_, JobEvent::Done { .. }) => return out,
                    (_, JobEvent::Failed(m)) => panic!("{m}"),
                    _ => {}
                }
            }
        };
        let whole = tokens(512);
        for chunk in [1, 9, 64] {
            let got = tokens(chunk);
            assert_eq!(got.len(), whole.len(), "{name}");
            for (i, ((a, la), (b, lb))) in got.iter().zip(&whole).enumerate() {
                assert_eq!(a, b, "{name} chunk {chunk}: token {i}");
                for ((ta, xa), (tb, xb)) in la.top.iter().zip(&lb.top) {
                    assert_eq!(ta, tb, "{name} chunk {chunk}: token {i}");
                    assert!(
                        (xa - xb).abs() < 1e-4,
                        "{name} chunk {chunk}: token {i}: {xa} vs {xb}"
                    );
                }
            }
        }
    }
}
