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
