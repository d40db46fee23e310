//! Log-likelihood scoring agrees with itself and with the per-token scores of `glassbox score`:
//! batched equals one by one, the sum over continuation tokens equals `Engine::score`'s, and a
//! context longer than the window is cut from the left exactly as scoring the kept tokens.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use candle_core::Device;
use glassbox_eval::loglik::{Request, Scorer};
use glassbox_infer::Engine;

fn engine(name: &str) -> Engine {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name);
    Engine::load(&dir, &Device::Cpu).unwrap()
}

fn requests(e: &Engine) -> Vec<Request> {
    let enc = |t: &str| e.tokenizer.encode(t, false).unwrap();
    [
        ("In the beginning", " God created"),
        ("And God said, Let there be light", ": and there was light."),
        ("And", " the"),
        (
            "The earth was without form, and void; and darkness was upon the face",
            " of the deep.",
        ),
    ]
    .iter()
    .map(|(c, x)| Request {
        context: enc(c),
        continuation: enc(x),
    })
    .collect()
}

#[test]
fn batched_equals_one_by_one_and_the_per_token_scores() {
    for name in ["llama", "mistral", "gemma2", "olmoe"] {
        let e = engine(name);
        let reqs = requests(&e);
        let mut s = Scorer::new(&e.model);
        let batched = s.score(&reqs).unwrap();
        s.batch_size = 1;
        let single = s.score(&reqs).unwrap();
        for (i, (a, b)) in batched.iter().zip(&single).enumerate() {
            let tol = 1e-4 * b.loglikelihood.abs().max(1.0);
            assert!(
                (a.loglikelihood - b.loglikelihood).abs() < tol,
                "{name} {i}: {a:?} vs {b:?}"
            );
            assert_eq!(a.is_greedy, b.is_greedy);
        }
        for (r, sc) in reqs.iter().zip(&single) {
            let ids: Vec<u32> = r.context.iter().chain(&r.continuation).copied().collect();
            let per_token = e.score(&ids, 0).unwrap();
            let want: f64 = per_token[r.context.len()..]
                .iter()
                .map(|t| t.logprob.unwrap())
                .sum();
            assert!(
                (sc.loglikelihood - want).abs() < 1e-4 * want.abs().max(1.0),
                "{name}: {} vs {want}",
                sc.loglikelihood
            );
            assert!(!sc.truncated);
        }
    }
}

#[test]
fn a_long_context_is_cut_from_the_left() {
    let e = engine("llama");
    let r = &requests(&e)[3];
    let mut s = Scorer::new(&e.model);
    s.max_length = 6;
    let cut = s.score(std::slice::from_ref(r)).unwrap()[0];
    assert!(cut.truncated);
    // The window keeps the last 7 tokens of context + continuation and feeds 6 of them.
    let all: Vec<u32> = r.context.iter().chain(&r.continuation).copied().collect();
    let kept = &all[all.len() - 7..];
    let n = r.continuation.len();
    let alone = Request {
        context: kept[..7 - n].to_vec(),
        continuation: kept[7 - n..].to_vec(),
    };
    s.max_length = 64;
    let want = s.score(&[alone]).unwrap()[0];
    assert!(
        (cut.loglikelihood - want.loglikelihood).abs() < 1e-5,
        "{cut:?} vs {want:?}"
    );
    assert!(
        s.score(&[Request {
            context: vec![],
            continuation: vec![5]
        }])
        .is_err()
    );
}

/// The choices of a question share one pass over their context: the same scores and greedy
/// flags as each scored alone, on dense, sliding-window, soft-capped and mixture-of-experts
/// models (and Phi-3's LongRoPE, which is never shared), in batches of any size, with questions
/// of different context lengths batched together.
#[test]
fn choices_sharing_a_context_score_as_each_alone() {
    for name in ["llama", "mistral", "gemma2", "olmoe", "phi3", "qwen3"] {
        let e = engine(name);
        let enc = |t: &str| e.tokenizer.encode(t, false).unwrap();
        let ctx = enc("And God said, Let there be light: and there was");
        let mut reqs: Vec<Request> = [
            " light.",
            " darkness upon the deep",
            " a",
            " the evening and the morning, the first day.",
        ]
        .iter()
        .map(|c| Request {
            context: ctx.clone(),
            continuation: enc(c),
        })
        .collect();
        // The model's own three next tokens, so that one request is greedy throughout.
        let mut g = ctx.clone();
        for _ in 0..3 {
            let x = candle_core::Tensor::new(g.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let l = e
                .model
                .forward(&x, &[], None, glassbox_model::Logits::Last)
                .unwrap();
            g.push(
                l.flatten_all()
                    .unwrap()
                    .argmax(0)
                    .unwrap()
                    .to_scalar::<u32>()
                    .unwrap(),
            );
        }
        reqs.push(Request {
            context: ctx.clone(),
            continuation: g[ctx.len()..].to_vec(),
        });
        // A second question with a shorter context: in one batch with the first, its context
        // is padded on the left.
        let short = enc("In the beginning");
        for c in [" God", " God created the heavens", " was the Word"] {
            reqs.push(Request {
                context: short.clone(),
                continuation: enc(c),
            });
        }
        // A question whose context nearly fills the window, batched with continuations longer
        // than the room it leaves: the batch must not pad it past the model's positions.
        let max_pos = e.model.config().max_position_embeddings;
        let unit = enc(" light and darkness");
        let long: Vec<u32> = unit.iter().copied().cycle().take(max_pos - 3).collect();
        for c in [" day", " night", " evening", " morning"] {
            let cont: Vec<u32> = enc(c).into_iter().take(2).collect();
            reqs.push(Request {
                context: long.clone(),
                continuation: cont,
            });
        }
        reqs.extend(requests(&e));
        let mut s = Scorer::new(&e.model);
        s.share_context = false;
        let alone = s.score(&reqs).unwrap();
        for bs in [1, 3, 8, 16] {
            let mut t = Scorer::new(&e.model);
            t.batch_size = bs;
            let shared = t.score(&reqs).unwrap();
            for (i, (a, b)) in shared.iter().zip(&alone).enumerate() {
                assert!(
                    (a.loglikelihood - b.loglikelihood).abs()
                        < 1e-4 * b.loglikelihood.abs().max(1.0),
                    "{name} batch {bs} request {i}: {a:?} vs {b:?}"
                );
                assert_eq!(a.is_greedy, b.is_greedy, "{name} {i}");
            }
            assert!(
                shared[4].is_greedy,
                "{name}: the model's own continuation is greedy"
            );
        }
    }
}

/// Progress is reported as batches finish, ending at every request scored.
#[test]
fn progress_counts_up_to_every_request() {
    let e = engine("llama");
    let mut reqs = requests(&e);
    let ctx = e.tokenizer.encode("And God said", false).unwrap();
    for c in [" light", " let there be"] {
        reqs.push(Request {
            context: ctx.clone(),
            continuation: e.tokenizer.encode(c, false).unwrap(),
        });
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let mut s = Scorer::new(&e.model);
    s.batch_size = 2;
    s.progress = Some(glassbox_eval::loglik::Progress(std::sync::Arc::new(
        move |d, t| {
            s2.lock().unwrap().push((d, t));
        },
    )));
    s.score(&reqs).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    assert_eq!(seen.last(), Some(&(reqs.len(), reqs.len())));
}
