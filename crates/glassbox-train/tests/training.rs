//! Training runs on the committed tiny dataset (tests/fixtures/train): PyTorch parity,
//! determinism, bit-exact resume, crash safety, checkpoints loadable as models, bad recipes.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use glassbox_train::TrainError;
use glassbox_train::trainer::{self, Event, Options};
use serde_json::Value;

mod common;
use common::{check_loss_and_gradients, fixture, losses, quiet, recipe, train_family};

#[test]
fn losses_match_the_pytorch_oracle() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &[]);
    let run = tmp.path().join("run");
    trainer::train(&r, &run, Options::default(), &mut quiet).unwrap();
    let got = losses(&run);
    let want: Vec<f64> = serde_json::from_value(
        serde_json::from_str::<Value>(
            &std::fs::read_to_string(fixture().join("losses.json")).unwrap(),
        )
        .unwrap()["losses"]
            .clone(),
    )
    .unwrap();
    assert_eq!(got.len(), 20);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let rel = (g - w).abs() / w.abs();
        assert!(
            rel <= 1e-6,
            "step {}: glassbox {g} vs PyTorch {w} (relative {rel:e})",
            i + 1
        );
    }
    assert!(got[19] < got[0], "the loss goes down: {got:?}");
}

#[test]
fn same_recipe_same_final_weights_and_pythia_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &[("steps = 20", "steps = 12")]);
    let a = trainer::train(&r, &tmp.path().join("a"), Options::default(), &mut quiet).unwrap();
    let b = trainer::train(&r, &tmp.path().join("b"), Options::default(), &mut quiet).unwrap();
    assert_eq!(a.final_weights_sha256, b.final_weights_sha256);
    let idx: Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("a/checkpoints/index.json")).unwrap(),
    )
    .unwrap();
    let steps: Vec<u64> = idx["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![0, 1, 2, 4, 8, 12]);
    // Every checkpoint is a model directory glassbox (and transformers) can load.
    let (m, _) = glassbox_model::Transformer::load(
        &tmp.path().join("a/checkpoints/step-0000004"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(m.config().num_hidden_layers, 2);
    assert!(glassbox_infer_like_files(
        &tmp.path().join("a/checkpoints/step-0000012")
    ));
    assert!(tmp.path().join("a/loss.svg").exists());
}

fn glassbox_infer_like_files(dir: &Path) -> bool {
    [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "optimizer.safetensors",
        "state.json",
        "recipe.toml",
    ]
    .iter()
    .all(|f| dir.join(f).exists())
}

#[test]
fn a_run_stopped_and_resumed_ends_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &[("steps = 20", "steps = 12")]);
    let whole = trainer::train(
        &r,
        &tmp.path().join("whole"),
        Options::default(),
        &mut quiet,
    )
    .unwrap();
    // Stopped after step 6 (checkpoint 6 written), resumed to the end.
    let part = tmp.path().join("part");
    trainer::train(
        &r,
        &part,
        Options {
            stop_after: Some(6),
            ..Default::default()
        },
        &mut quiet,
    )
    .unwrap();
    let resumed = trainer::resume(&part, Options::default(), &mut quiet).unwrap();
    assert_eq!(resumed.final_weights_sha256, whole.final_weights_sha256);
    assert_eq!(losses(&part), losses(&tmp.path().join("whole")));
    // Stopped after step 7, but the stop checkpoint lost: resume from step 4 and still match.
    let lost = tmp.path().join("lost");
    trainer::train(
        &r,
        &lost,
        Options {
            stop_after: Some(7),
            ..Default::default()
        },
        &mut quiet,
    )
    .unwrap();
    std::fs::remove_dir_all(lost.join("checkpoints/step-0000007")).unwrap();
    let mut notes = Vec::new();
    let resumed = trainer::resume(&lost, Options::default(), &mut |e| {
        if let Event::Note(n) = e {
            notes.push(n)
        }
    })
    .unwrap();
    assert!(notes.iter().any(|n| n.contains("step 4")), "{notes:?}");
    assert_eq!(resumed.final_weights_sha256, whole.final_weights_sha256);
    assert_eq!(losses(&lost), losses(&tmp.path().join("whole")));
}

#[test]
fn a_run_killed_before_checkpoint_0_resumes_from_step_0_and_ends_identical() {
    // Found by scripts/trial-kill.sh: SIGKILL after run.json but before checkpoint 0 left a run
    // that `--resume` refused ("no valid checkpoint") and a new run refused ("already holds a run").
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &[("steps = 20", "steps = 6")]);
    let whole = trainer::train(
        &r,
        &tmp.path().join("whole"),
        Options::default(),
        &mut quiet,
    )
    .unwrap();
    for (name, keep_run_json) in [("killed", true), ("killed-earlier", false)] {
        let killed = tmp.path().join(name);
        std::fs::create_dir_all(killed.join("checkpoints")).unwrap();
        std::fs::create_dir_all(killed.join("logs")).unwrap();
        std::fs::copy(
            tmp.path().join("whole/recipe.toml"),
            killed.join("recipe.toml"),
        )
        .unwrap();
        if keep_run_json {
            std::fs::copy(tmp.path().join("whole/run.json"), killed.join("run.json")).unwrap();
        }
        // A checkpoint 0 whose write was cut short: a temp folder and no index entry.
        std::fs::create_dir_all(killed.join("checkpoints/.tmp-0000000")).unwrap();
        let mut notes = Vec::new();
        let resumed = trainer::resume(&killed, Options::default(), &mut |e| {
            if let Event::Note(n) = e {
                notes.push(n)
            }
        })
        .unwrap();
        assert!(notes.iter().any(|n| n.contains("step 0")), "{notes:?}");
        assert_eq!(resumed.final_weights_sha256, whole.final_weights_sha256);
        assert_eq!(losses(&killed), losses(&tmp.path().join("whole")));
        assert!(killed.join("run.json").is_file());
    }
}

#[test]
fn gradient_accumulation_equals_one_big_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let one = recipe(
        tmp.path(),
        &[
            ("grad_accum = 2", "grad_accum = 1"),
            ("steps = 20", "steps = 5"),
        ],
    );
    trainer::train(
        &one,
        &tmp.path().join("one"),
        Options::default(),
        &mut quiet,
    )
    .unwrap();
    let r4 = recipe(
        tmp.path(),
        &[
            ("grad_accum = 2", "grad_accum = 4"),
            ("steps = 20", "steps = 5"),
        ],
    );
    trainer::train(
        &r4,
        &tmp.path().join("four"),
        Options::default(),
        &mut quiet,
    )
    .unwrap();
    for (a, b) in losses(&tmp.path().join("one"))
        .iter()
        .zip(losses(&tmp.path().join("four")))
    {
        assert!((a - b).abs() / a < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn bad_recipes_are_refused_before_training_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[(
                "[train]",
                "[train]
batch_szie = 3",
            )],
            "batch_szie",
        ),
        (&[("batch_size = 4", "batch_size = 0")], "train.batch_size"),
        (&[("seq_len = 32", "seq_len = 100000")], "train.seq_len"),
        (&[("grad_accum = 2", "grad_accum = 3")], "train.grad_accum"),
        (&[("lr = 3e-3", "lr = -1.0")], "optim.lr"),
        (
            &[("preset = \"tiny\"", "preset = \"huge\"")],
            "model.preset",
        ),
        (
            &[(
                "preset = \"tiny\"",
                "hf = { architectures = [\"LlamaForCausalLM\"], vocab_size = 100, hidden_size = 64, intermediate_size = 128, num_hidden_layers = 1, num_attention_heads = 4 }",
            )],
            "does not match the model",
        ),
        (
            &[("schedule = \"pythia\"", "schedule = \"often\"")],
            "checkpoints.schedule",
        ),
    ];
    for (i, (edits, key)) in cases.iter().enumerate() {
        let r = recipe(tmp.path(), edits);
        let run = tmp.path().join(format!("run{i}"));
        let e = trainer::train(&r, &run, Options::default(), &mut quiet)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(key) && e.contains("recipe.toml"),
            "case {i}: {e}"
        );
        assert!(
            !run.join("checkpoints").exists(),
            "case {i}: training must not start"
        );
    }
}

#[test]
fn diverging_loss_stops_naming_the_step_and_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(
        tmp.path(),
        &[
            ("lr = 3e-3", "lr = 1e6"),
            ("max_grad_norm = 1.0", "max_grad_norm = 0.0"),
            ("min_lr = 3e-4", "min_lr = 1e5"),
        ],
    );
    let e =
        trainer::train(&r, &tmp.path().join("run"), Options::default(), &mut quiet).unwrap_err();
    match &e {
        TrainError::Diverged {
            step, last_good, ..
        } => {
            assert!(*step >= 1);
            assert!(last_good.contains("step-"), "{e}");
            assert!(Path::new(last_good).join("state.json").exists());
        }
        other => panic!("expected divergence, got {other}"),
    }
}

#[test]
fn unwritable_run_directory_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &[]);
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let e = trainer::train(&r, &blocker.join("run"), Options::default(), &mut quiet)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot create the run directory"), "{e}");
}

#[test]
fn a_failed_checkpoint_write_keeps_the_last_good_one_and_resume_still_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), &[("steps = 20", "steps = 10")]);
    let whole = trainer::train(
        &r,
        &tmp.path().join("whole"),
        Options::default(),
        &mut quiet,
    )
    .unwrap();
    // When checkpoint 4 is done, a directory is put where checkpoint 8's weights must go:
    // writing them fails the way a full disk would, in the middle of a checkpoint.
    let run = tmp.path().join("run");
    let ck = run.join("checkpoints");
    let mut block = |e: Event| {
        if let Event::Checkpoint(4, _) = e {
            let tmpdir = ck.join(format!(".tmp-step-0000008-{}", std::process::id()));
            std::fs::create_dir_all(tmpdir.join("model.safetensors")).unwrap();
        }
    };
    let e = trainer::train(&r, &run, Options::default(), &mut block)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot write checkpoint 8"), "{e}");
    assert!(
        e.contains("last good checkpoint is") && e.contains("step-0000004"),
        "{e}"
    );
    let names: Vec<String> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".tmp-")), "{names:?}");
    glassbox_train::checkpoint::verify(&ck.join("step-0000004")).unwrap();
    let resumed = trainer::resume(&run, Options::default(), &mut quiet).unwrap();
    assert_eq!(resumed.final_weights_sha256, whole.final_weights_sha256);
    assert_eq!(losses(&run), losses(&tmp.path().join("whole")));
}

#[test]
fn retention_thins_unscheduled_checkpoints_but_never_scheduled_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(
        tmp.path(),
        &[
            ("steps = 20", "steps = 12"),
            ("every = 1000", "every = 1000\nkeep_unscheduled = 0"),
        ],
    );
    let run = tmp.path().join("run");
    let steps = |run: &Path| -> Vec<u64> {
        let idx: Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("checkpoints/index.json")).unwrap(),
        )
        .unwrap();
        idx["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["step"].as_u64().unwrap())
            .collect()
    };
    // Stops at 6 and 7 leave unscheduled checkpoints; each newer one thins the older.
    let stop = |s| Options {
        stop_after: Some(s),
        ..Default::default()
    };
    trainer::train(&r, &run, stop(6), &mut quiet).unwrap();
    assert_eq!(steps(&run), vec![0, 1, 2, 4, 6]);
    trainer::resume(&run, stop(7), &mut quiet).unwrap();
    assert_eq!(steps(&run), vec![0, 1, 2, 4, 7]);
    trainer::resume(&run, Options::default(), &mut quiet).unwrap();
    assert_eq!(steps(&run), vec![0, 1, 2, 4, 8, 12]);
    assert!(!run.join("checkpoints/step-0000007").exists());
}

/// Training from a model configuration of another family (`[model] config = …`): a Qwen3 config
/// (per-head QK-norm) trains, its loss falls, and its checkpoints load back as Qwen3 with the
/// QK-norm weights trained.
#[test]
fn a_qwen3_config_trains_and_its_checkpoints_load_as_qwen3() {
    let tmp = tempfile::tempdir().unwrap();
    let (m0, m8) = train_family(tmp.path(), "qwen3");
    assert_eq!(
        m8.config().architecture,
        glassbox_model::Architecture::Qwen3
    );
    let norm = |m: &glassbox_model::Transformer| {
        m.named_tensors()
            .into_iter()
            .find(|(n, _)| n == "model.layers.0.self_attn.q_norm.weight")
            .unwrap()
            .1
    };
    let moved = (norm(&m8) - norm(&m0))
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(moved > 0.0, "the QK-norm weights did not train");
}

/// The same for SmolLM3 (a layer without RoPE): it trains and reloads with its layer pattern.
#[test]
fn a_smollm3_config_trains_and_its_checkpoints_keep_the_nope_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, m8) = train_family(tmp.path(), "smollm3");
    assert_eq!(
        m8.config().architecture,
        glassbox_model::Architecture::SmolLm3
    );
    assert_eq!(m8.config().layer_rope, [true, true, true, false]);
}

/// And for OLMo (LayerNorm without parameters, q/k/v clipping): no norm tensor is trained or
/// saved, and the clip survives the round trip through the checkpoint's config.
#[test]
fn an_olmo_config_trains_without_norm_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, m8) = train_family(tmp.path(), "olmo");
    assert_eq!(m8.config().architecture, glassbox_model::Architecture::Olmo);
    assert_eq!(m8.config().clip_qkv, Some(0.3));
    assert!(m8.named_tensors().iter().all(|(n, _)| !n.contains("norm")));
}

/// Pythia-style pre-training of a GPT-NeoX (parallel residual, partial rotary, LayerNorm with
/// bias) from its config, then continual pre-training of an OLMo 2 from a trained checkpoint
/// (`[model] init`): checkpoint 0 of the continued run holds exactly the starting weights, its
/// loss starts where the first run ended rather than at a random model's, and it keeps falling.
#[test]
fn gpt_neox_pretrains_and_olmo2_continues_pretraining() {
    let tmp = tempfile::tempdir().unwrap();
    let (n0, n8) = train_family(&tmp.path().join("neox"), "gpt-neox");
    assert_eq!(
        n8.config().architecture,
        glassbox_model::Architecture::GptNeoX
    );
    assert_ne!(
        n0.named_tensors()[0].1.to_vec2::<f32>().unwrap(),
        n8.named_tensors()[0].1.to_vec2::<f32>().unwrap()
    );
    let first = tmp.path().join("olmo2");
    let (_, _) = train_family(&first, "olmo2");
    let start = first.join("run/checkpoints/step-0000008");
    // The starting model's terms, as a Hub model would carry them.
    std::fs::write(
        start.join("README.md"),
        "---\nlicense: apache-2.0\n---\n# A model\n",
    )
    .unwrap();
    std::fs::write(start.join("LICENSE"), "Apache License, Version 2.0 …\n").unwrap();
    let cont = tmp.path().join("continued");
    std::fs::create_dir_all(&cont).unwrap();
    let r = recipe(
        &cont,
        &[
            (
                "preset = \"tiny\"",
                &format!("init = \"{}\"", start.display()),
            ),
            ("steps = 20", "steps = 4"),
        ],
    );
    trainer::train(&r, &cont.join("run"), Options::default(), &mut quiet).unwrap();
    let load = |d: &Path| {
        glassbox_model::Transformer::load(d, &candle_core::Device::Cpu)
            .unwrap()
            .0
    };
    let (a, b) = (
        load(&start),
        load(&cont.join("run/checkpoints/step-0000000")),
    );
    for ((na, ta), (nb, tb)) in a.named_tensors().iter().zip(b.named_tensors().iter()) {
        assert_eq!(na, nb);
        let (va, vb) = (
            ta.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            tb.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert!(va == vb, "{na} changed before the first step");
    }
    let before = losses(&first.join("run"));
    let after = losses(&cont.join("run"));
    assert!(
        after[0] < before[0],
        "continued {after:?} vs fresh {before:?}"
    );
    assert!(after.iter().all(|x| x.is_finite()));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(cont.join("run/run.json")).unwrap()).unwrap();
    assert!(
        run["init"]["sha256"]["model.safetensors"].is_string(),
        "{run}"
    );
    assert_eq!(run["init"]["license"], "apache-2.0", "{run}");
    assert_eq!(
        run["init"]["license_files"],
        serde_json::json!(["LICENSE"]),
        "{run}"
    );
    assert!(run["init"]["sha256"]["LICENSE"].is_string(), "{run}");
}

/// The training oracle of the model families: the loss of one batch and the gradient of every
/// parameter, as transformers' backward computes them (`make_family_fixtures.py`), within 1e-4
/// relative (max |Δ| over max |reference| per tensor). Gradients are named as the checkpoint
/// names the tensors.
#[test]
fn loss_and_every_gradient_match_transformers() {
    // Pythia-style GPT-NeoX, OLMo 2 and a mixture of experts (whose loss includes the router's
    // load-balancing term).
    for family in ["gpt-neox", "olmo2", "mixtral"] {
        let fx = fixture().join("..");
        let train: Value = serde_json::from_str(
            &std::fs::read_to_string(fx.join(format!("reference/{family}-train.json"))).unwrap(),
        )
        .unwrap();
        let rows: Vec<Vec<u32>> = serde_json::from_value(train["input_ids"].clone()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        // Rows of 16 tokens: 15 predictions each, as transformers shifts the labels.
        let r = recipe(tmp.path(), &[("seq_len = 32", "seq_len = 15")]);
        let recipe = glassbox_train::recipe::Recipe::from_file(&r).unwrap();
        let (model, _) = glassbox_model::Transformer::load(
            &fx.join(format!("models/{family}")),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let learner = glassbox_train::learner::Learner::new(model, &recipe).unwrap();
        let want = train["loss"].as_f64().unwrap();
        let grads = fx.join(format!("reference/{family}-grads.safetensors"));
        let (got, worst) = check_loss_and_gradients(family, &learner, &rows, want, &grads);
        eprintln!(
            "{family}: loss {got} (transformers {want}), worst gradient relative {worst:.2e}"
        );
    }
}
