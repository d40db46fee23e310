//! `train.rows_from`: only the embedding and output rows of new token ids learn; every other
//! weight and every older row keeps its bits, and the run resumes to the same bits.

#![allow(clippy::unwrap_used)]

mod common;

use candle_core::Device;
use common::{quiet, recipe};
use glassbox_model::Transformer;
use glassbox_train::trainer::{self, Options};

#[test]
fn only_rows_from_n_change_and_resume_is_bit_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(
        tmp.path(),
        &[
            ("steps = 20", "steps = 6\nrows_from = 400"),
            ("lr = 3e-3", "lr = 3e-2"),
        ],
    );
    trainer::train(&r, &tmp.path().join("run"), Options::default(), &mut quiet).unwrap();
    let load = |s: &str| {
        let (m, _) =
            Transformer::load(&tmp.path().join("run/checkpoints").join(s), &Device::Cpu).unwrap();
        m.named_tensors()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (before, after) = (load("step-0000000"), load("step-0000006"));
    let mut vocab_matrices = 0;
    for (name, a) in &before {
        let b = &after[name];
        let (va, vb): (Vec<f32>, Vec<f32>) = (
            a.flatten_all().unwrap().to_vec1().unwrap(),
            b.flatten_all().unwrap().to_vec1().unwrap(),
        );
        if a.rank() == 2 && a.dim(0).unwrap() == 512 {
            vocab_matrices += 1;
            let h = a.dim(1).unwrap();
            assert_eq!(va[..400 * h], vb[..400 * h], "{name}: an old row moved");
            assert_ne!(
                va[400 * h..],
                vb[400 * h..],
                "{name}: new rows did not learn"
            );
        } else {
            assert_eq!(va, vb, "{name}: a frozen weight moved");
        }
    }
    assert!(vocab_matrices >= 1);
    // Stopped at 3 and resumed: the same weights and optimiser state.
    let split = tmp.path().join("split");
    let o = Options {
        stop_after: Some(3),
        ..Default::default()
    };
    trainer::train(&r, &split, o, &mut quiet).unwrap();
    trainer::resume(&split, Options::default(), &mut quiet).unwrap();
    for f in ["model.safetensors", "optimizer.safetensors"] {
        let read = |d: &std::path::Path| {
            std::fs::read(d.join("checkpoints/step-0000006").join(f)).unwrap()
        };
        assert!(
            read(&tmp.path().join("run")) == read(&split),
            "{f} differs after resume"
        );
    }
    // Out of range: refused before training.
    let bad = recipe(tmp.path(), &[("steps = 20", "steps = 6\nrows_from = 512")]);
    let e = trainer::train(
        &bad,
        &tmp.path().join("bad"),
        Options::default(),
        &mut quiet,
    )
    .unwrap_err();
    assert!(e.to_string().contains("train.rows_from = 512"), "{e}");
}
