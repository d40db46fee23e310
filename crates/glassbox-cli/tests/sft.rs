//! Instruction tuning from the command line: `data chat` renders conversations with the model's
//! template, full and LoRA runs train on the assistant's tokens only, resume to the same bits,
//! and bad chat data or a missing template is refused naming the file and line.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::run;
use serde_json::Value;

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/qwen2")
}

/// Twenty short conversations (question → verse) as chat JSONL.
fn chat_file(dir: &Path) -> PathBuf {
    let answers = [
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void.",
        "And God said, Let there be light: and there was light.",
        "And God saw the light, that it was good.",
        "And God called the light Day, and the darkness he called Night.",
    ];
    let mut text = String::new();
    for i in 0..20 {
        let a = answers[i % answers.len()];
        let q = format!("Verse {} please.", i % answers.len() + 1);
        let line = if i % 3 == 0 {
            serde_json::json!({"system": "Quote Genesis.", "messages": [
                {"role": "user", "content": q}, {"role": "assistant", "content": a}]})
        } else {
            serde_json::json!({"messages": [
                {"role": "user", "content": q}, {"role": "assistant", "content": a},
                {"role": "user", "content": "Again?"}, {"role": "assistant", "content": a}]})
        };
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let p = dir.join("chat.jsonl");
    std::fs::write(&p, text).unwrap();
    p
}

fn prepare(dir: &Path, pack: bool) -> PathBuf {
    let chat = chat_file(dir);
    let out = dir.join(if pack { "sft-packed" } else { "sft" });
    let m = model();
    let mut args = vec![
        "data",
        "chat",
        "--input",
        chat.to_str().unwrap(),
        "--model",
        m.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--seq-len",
        "96",
        "--heldout",
        "0.2",
    ];
    if pack {
        args.push("--pack");
    }
    let (o, e, c) = run(&args);
    assert_eq!(c, 0, "{e}");
    assert!(o.contains("conversations in"), "{o}");
    out
}

fn recipe(dir: &Path, dataset: &Path, lora: bool) -> PathBuf {
    let mut text = format!(
        "[data]\ndataset = \"{}\"\nseed = 3\n\n[model]\ninit = \"{}\"\n\n[optim]\nlr = 2e-3\n\n\
         [train]\nbatch_size = 4\nseq_len = 96\ngrad_accum = 2\nsteps = 12\n\n[eval]\ninterval = 6\nwindows = 8\n\n\
         [checkpoints]\nschedule = \"every\"\nevery = 6\n",
        dataset.display(),
        model().display()
    );
    if lora {
        text = text.replace("lr = 2e-3", "lr = 1e-2");
        text.push_str("\n[lora]\nr = 8\nalpha = 16\ntargets = [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\"]\nseed = 1\n");
    }
    let p = dir.join(if lora { "lora.toml" } else { "full.toml" });
    std::fs::write(&p, text).unwrap();
    p
}

fn losses(run_dir: &Path, file: &str) -> Vec<f64> {
    std::fs::read_to_string(run_dir.join("logs").join(file))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

#[test]
fn full_and_lora_sft_learn_the_answers_and_resume_bit_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = prepare(tmp.path(), true);
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(ds.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["kind"], "chat");
    assert!(m["splits"]["heldout"]["examples"].as_u64().unwrap() > 0);
    for lora in [false, true] {
        let r = recipe(tmp.path(), &ds, lora);
        let whole = tmp.path().join(format!("whole-{lora}"));
        let (_, e, c) = run(&[
            "train",
            r.to_str().unwrap(),
            "--out",
            whole.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{e}");
        let l = losses(&whole, "train.jsonl");
        assert_eq!(l.len(), 12);
        assert!(l[11] < l[0] * 0.8, "lora={lora}: {l:?}");
        let held = losses(&whole, "eval.jsonl");
        assert!(
            held.len() >= 2 && held[held.len() - 1] < held[0],
            "{held:?}"
        );
        let run_json: Value =
            serde_json::from_str(&std::fs::read_to_string(whole.join("run.json")).unwrap())
                .unwrap();
        assert_eq!(run_json["dataset"]["kind"], "chat");
        // Interrupted after 6 steps and resumed: the same final bits.
        let split = tmp.path().join(format!("split-{lora}"));
        let (_, e, c) = run(&[
            "train",
            r.to_str().unwrap(),
            "--out",
            split.to_str().unwrap(),
            "--stop-after",
            "6",
        ]);
        assert_eq!(c, 0, "{e}");
        let (_, e, c) = run(&["train", "--resume", split.to_str().unwrap()]);
        assert_eq!(c, 0, "{e}");
        let weights = if lora {
            "adapter_model.safetensors"
        } else {
            "model.safetensors"
        };
        let last =
            |d: &Path| std::fs::read(d.join("checkpoints/step-0000012").join(weights)).unwrap();
        assert!(
            last(&whole) == last(&split),
            "lora={lora}: resumed run differs"
        );
        assert_eq!(losses(&whole, "train.jsonl"), losses(&split, "train.jsonl"));
    }
    // The full run's checkpoint keeps the chat template: `chat` answers with it.
    let ck = tmp.path().join("whole-false/checkpoints/step-0000012");
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(ck.join("tokenizer_config.json")).unwrap())
            .unwrap();
    assert!(
        cfg["chat_template"]
            .as_str()
            .unwrap()
            .contains("<|im_start|>")
    );
}

fn data_chat(input: &Path, model: &Path, out: &Path) -> (String, String, i32) {
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (i, m, o) = (s(input), s(model), s(out));
    run(&["data", "chat", "--input", &i, "--model", &m, "--out", &o])
}

#[test]
fn bad_chat_data_is_refused_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            "line 2: no assistant turn",
        ),
        (
            r#"{"messages": [{"role": "narrator", "content": "hi"}, {"role": "assistant", "content": "x"}]}"#,
            "line 2: message 0 has unknown role `narrator`",
        ),
    ];
    let good = r#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#;
    for (i, (bad, want)) in cases.iter().enumerate() {
        let p = tmp.path().join(format!("bad{i}.jsonl"));
        std::fs::write(&p, format!("{good}\n{bad}\n")).unwrap();
        let out = tmp.path().join(format!("out{i}"));
        let (_, e, c) = data_chat(&p, &model(), &out);
        assert_ne!(c, 0);
        assert!(
            e.contains(&format!("bad{i}.jsonl")) && e.contains(want),
            "{e}"
        );
        assert!(!out.join("manifest.json").exists());
    }
    // A model without a chat template.
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(model().join("tokenizer.json"), bare.join("tokenizer.json")).unwrap();
    let p = tmp.path().join("good.jsonl");
    std::fs::write(&p, format!("{good}\n")).unwrap();
    let (_, e, c) = data_chat(&p, &bare, &tmp.path().join("o"));
    assert_ne!(c, 0);
    assert!(
        e.contains("has no chat template") && e.contains("bare"),
        "{e}"
    );
    // A recipe whose seq_len differs from the rows.
    let ds = prepare(tmp.path(), false);
    let r = recipe(tmp.path(), &ds, false);
    let text = std::fs::read_to_string(&r)
        .unwrap()
        .replace("seq_len = 96", "seq_len = 64");
    std::fs::write(&r, text).unwrap();
    let (_, e, c) = run(&[
        "train",
        r.to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_ne!(c, 0);
    assert!(
        e.contains("differs from the chat dataset's rows") && e.contains("full.toml"),
        "{e}"
    );
}

#[test]
fn adapted_bundles_name_their_base_and_verify_by_replay() {
    let tmp = tempfile::tempdir().unwrap();
    // The base is copied, so it can be moved and damaged below.
    let base = tmp.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    for f in std::fs::read_dir(model()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), base.join(f.file_name())).unwrap();
    }
    // Under the Llama 3.2 licence: whatever the adapted releases say, they inherit it.
    let licences =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../glassbox-audit/tests/fixtures/licenses");
    std::fs::write(
        base.join("README.md"),
        "---\nlicense: llama3.2\n---\n# A base\n",
    )
    .unwrap();
    std::fs::copy(
        licences.join("Llama-3.2-Community-License.txt"),
        base.join("LICENSE"),
    )
    .unwrap();
    let ds = prepare(tmp.path(), true);
    for lora in [true, false] {
        let r = recipe(tmp.path(), &ds, lora);
        let text = std::fs::read_to_string(&r)
            .unwrap()
            .replace(&model().display().to_string(), &base.display().to_string())
            .replace("steps = 12", "steps = 4")
            .replace("every = 6", "every = 2")
            + "\n[release]\nname = \"genesis-chat\"\ndata_license = \"CC0-1.0\"\n";
        std::fs::write(&r, text).unwrap();
        let run_dir = tmp.path().join(format!("run-{lora}"));
        let (_, e, c) = run(&[
            "train",
            r.to_str().unwrap(),
            "--out",
            run_dir.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{e}");
        let b = tmp.path().join(format!("bundle-{lora}"));
        let (_, e, c) = run(&[
            "release",
            run_dir.to_str().unwrap(),
            "--out",
            b.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{e}");
        let rel: Value =
            serde_json::from_str(&std::fs::read_to_string(b.join("release.json")).unwrap())
                .unwrap();
        assert_eq!(rel["base"]["path"], base.display().to_string());
        assert_eq!(rel["dataset"]["kind"], "chat");
        assert!(b.join("data/source.jsonl").exists());
        let card = std::fs::read_to_string(b.join("README.md")).unwrap();
        assert!(card.contains("instruction-tuned") && card.contains(&base.display().to_string()));
        if lora {
            assert!(rel["adapter"]["r"] == 8 && b.join("adapter_model.safetensors").exists());
            assert!(!b.join("model.safetensors").exists());
            assert!(card.contains("LoRA adapter") && card.contains("--adapter ."));
        }
        let (o, e, c) = run(&["verify", b.to_str().unwrap(), "--no-record"]);
        assert_eq!(c, 0, "lora={lora}: {o}{e}");
        assert!(
            o.contains("every rows file identical") && o.contains("bit-identical"),
            "{o}"
        );
    }
    // The base moved: named; given with --base, the replay runs. A different base is refused.
    let moved = tmp.path().join("moved-base");
    std::fs::rename(&base, &moved).unwrap();
    let b = tmp.path().join("bundle-true");
    let (o, _, c) = run(&["verify", b.to_str().unwrap(), "--no-record", "--no-data"]);
    assert_ne!(c, 0);
    assert!(o.contains("is not here") && o.contains("--base"), "{o}");
    let (o, e, c) = run(&[
        "verify",
        b.to_str().unwrap(),
        "--no-record",
        "--no-data",
        "--base",
        moved.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{o}{e}");
    let mut w = std::fs::read(moved.join("model.safetensors")).unwrap();
    let n = w.len();
    w[n - 1] ^= 1;
    std::fs::write(moved.join("model.safetensors"), w).unwrap();
    let (o, _, c) = run(&[
        "verify",
        b.to_str().unwrap(),
        "--no-record",
        "--no-data",
        "--base",
        moved.to_str().unwrap(),
    ]);
    assert_ne!(c, 0);
    assert!(
        o.contains("not the same base") && o.contains("model.safetensors"),
        "{o}"
    );
}
