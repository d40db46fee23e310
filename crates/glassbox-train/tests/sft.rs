//! Instruction-tuning loss: packed rows give the same loss as one conversation per row, a row
//! weighted 1 everywhere gives the pre-training loss, and tokens weighted 0 teach nothing.

#![allow(clippy::unwrap_used)]

mod common;

use candle_core::Device;
use glassbox_data::chat::{Example, pack};
use glassbox_train::learner::{Learner, TrainRow};
use glassbox_train::recipe::Recipe;

fn learner() -> (Learner, Recipe) {
    let tmp = tempfile::tempdir().unwrap();
    let r = common::recipe(tmp.path(), &[]);
    let rec = Recipe::from_file(&r).unwrap();
    let cfg = rec.resolve(&r, 512).unwrap();
    let model = glassbox_model::Transformer::random(cfg, 3, &Device::Cpu).unwrap();
    (Learner::new(model, &rec).unwrap(), rec)
}

fn example(line: usize, n: usize, first: usize) -> Example {
    Example {
        line,
        ids: (0..n as u32)
            .map(|i| (37 * line as u32 + 11 * i) % 500)
            .collect(),
        assistant: (0..n).map(|i| i >= first).collect(),
    }
}

fn rows(r: &[glassbox_data::chat::Row]) -> Vec<TrainRow> {
    r.iter()
        .map(|r| TrainRow {
            tokens: r.tokens.clone(),
            weights: Some(r.weights()),
            segments: Some(r.segments.clone()),
        })
        .collect()
}

#[test]
fn packed_and_unpacked_rows_give_the_same_loss() {
    let (l, rec) = learner();
    let examples = [example(1, 10, 4), example(2, 7, 3), example(3, 14, 6)];
    let (packed, _) = pack(&examples, rec.train.seq_len, true, 0);
    let (single, _) = pack(&examples, rec.train.seq_len, false, 0);
    assert_eq!((packed.len(), single.len()), (1, 3));
    let norm: f64 = single.iter().flat_map(|r| r.weights()).map(f64::from).sum();
    assert_eq!(norm, (6 + 4 + 8) as f64);
    let a = l
        .loss_rows(&rows(&packed), norm)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let b = l
        .loss_rows(&rows(&single), norm)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        (a - b).abs() < 1e-5 * b.abs(),
        "packed {a} vs one per row {b}"
    );
}

#[test]
fn weights_of_one_give_the_pretraining_loss_and_zero_weights_teach_nothing() {
    let (mut l, rec) = learner();
    let n = rec.train.seq_len;
    let tokens: Vec<u32> = (0..=n as u32).map(|i| (i * 7 + 3) % 500).collect();
    let plain = l
        .loss(std::slice::from_ref(&tokens))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let ones = TrainRow {
        tokens: tokens.clone(),
        weights: Some(vec![1.0; n]),
        segments: Some(vec![1; n + 1]),
    };
    let w = l
        .loss_rows(&[ones], n as f64)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((plain - w).abs() < 1e-5 * plain, "{plain} vs {w}");
    // A row weighted 0 everywhere gives no loss and no gradient.
    let zero = TrainRow {
        tokens,
        weights: Some(vec![0.0; n]),
        segments: Some(vec![1; n + 1]),
    };
    let first = |l: &Learner| -> Vec<f32> {
        let t = l.opt.params[0].var.as_tensor().flatten_all().unwrap();
        t.to_vec1().unwrap()
    };
    let before = first(&l);
    let out = l.step_rows(&[zero.clone(), zero], 1e-2).unwrap();
    let glassbox_train::learner::StepOutcome::Updated {
        loss, grad_norm, ..
    } = out
    else {
        panic!("{out:?}");
    };
    assert_eq!((loss, grad_norm), (0.0, 0.0));
    let after = first(&l);
    // AdamW with a zero gradient still applies weight decay; nothing else moves the weights.
    let decay = 1.0 - 1e-2 * rec.optim.weight_decay;
    for (a, b) in after.iter().zip(&before) {
        assert!((a - b * decay as f32).abs() <= 1e-7 * b.abs().max(1.0));
    }
}
