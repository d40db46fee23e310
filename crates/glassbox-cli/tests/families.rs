//! Every supported architecture through the real binary: `chat` holds a turn with the model's
//! own template, `serve` answers a chat completion for each, and `train` runs a step from the
//! family's `config.json` and leaves a checkpoint `generate` loads. (Greedy `generate` and
//! `score` against transformers are in `cli.rs`.)

#![allow(clippy::unwrap_used)]

mod common;
use common::FAMILIES;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn model(name: &str) -> String {
    fixtures().join("models").join(name).display().to_string()
}

#[test]
fn every_family_chats_through_a_pipe() {
    for name in FAMILIES {
        let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
            .args([
                "chat",
                "--model",
                &model(name),
                "--greedy",
                "--max-new-tokens",
                "6",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"Who made the heavens?\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().lines().count(),
            1,
            "{name}: one reply line"
        );
    }
}

#[test]
fn one_server_serves_every_family() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_glassbox"));
    cmd.args(["serve", "--port", "0"]);
    for name in FAMILIES {
        cmd.args(["--model", &format!("{name}={}", model(name))]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = common::served_port(&mut child);
    for name in FAMILIES {
        let body = format!(
            r#"{{"model":"{name}","messages":[{{"role":"user","content":"Hello"}}],"max_tokens":4,"temperature":0}}"#
        );
        let text = common::post(port, "/v1/chat/completions", &body);
        assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}");
        let json = text.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["model"], name);
        assert!(
            v["usage"]["completion_tokens"].as_u64().unwrap() >= 1,
            "{name}: {v}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The training fixture's recipe with `[model] config = <the family's config.json>` (vocabulary
/// widened to the fixture tokenizer's 512) and one step.
fn recipe(dir: &Path, name: &str) -> PathBuf {
    let mut cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("models").join(name).join("config.json")).unwrap(),
    )
    .unwrap();
    cfg["vocab_size"] = 512.into();
    let cfg_path = dir.join("config.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let train = fixtures().join("train");
    let text = std::fs::read_to_string(train.join("recipe.toml"))
        .unwrap()
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = \"{}\"", train.join("dataset").display()),
        )
        .replace(
            "preset = \"tiny\"",
            &format!("config = \"{}\"", cfg_path.display()),
        )
        .replace("steps = 20", "steps = 1")
        .replace("seq_len = 32", "seq_len = 16");
    let p = dir.join("recipe.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_family_trains_a_step_from_its_config() {
    for name in FAMILIES {
        let tmp = tempfile::tempdir().unwrap();
        let r = recipe(tmp.path(), name);
        let run = tmp.path().join("run");
        let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
            .args(["train", r.to_str().unwrap(), "--out", run.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        let ckpt = run.join("checkpoints/step-0000001");
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(ckpt.join("config.json")).unwrap())
                .unwrap();
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("models").join(name).join("config.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(cfg["architectures"], want["architectures"], "{name}");
        // The run's checkpoints are a series too.
        let (v, err, code) = checkpoints(&[run.to_str().unwrap(), "--json"]);
        assert_eq!(code, Some(0), "{name}: {err}");
        let steps: Vec<u64> = v["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, [0, 1], "{name}");
        let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
            .args([
                "generate",
                "--model",
                ckpt.to_str().unwrap(),
                "--prompt",
                "In the",
                "--max-new-tokens",
                "3",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

fn checkpoints(args: &[&str]) -> (serde_json::Value, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .arg("checkpoints")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (v, err, out.status.code())
}

/// Pythia-style revision directories and the Hugging Face cache layout both read as one series
/// in step order, every checkpoint loadable; a revision without config.json is named.
#[test]
fn checkpoint_series_in_both_download_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let neox = fixtures().join("models/gpt-neox");
    let root = tmp.path().join("pythia");
    for rev in ["step1000", "step0", "step512", "stage1-step2000-tokens4B"] {
        copy_model(&neox, &root.join(rev));
    }
    std::fs::create_dir_all(root.join("notes")).unwrap();
    let (v, err, code) = checkpoints(&[root.to_str().unwrap(), "--json", "--load"]);
    assert_eq!(code, Some(0), "{err}");
    let list = v["checkpoints"].as_array().unwrap();
    let steps: Vec<u64> = list.iter().map(|c| c["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [0, 512, 1000, 2000]);
    assert_eq!(list[3]["tokens"], 4_000_000_000u64);
    assert!(
        list.iter()
            .all(|c| c["architecture"] == "GPTNeoXForCausalLM"
                && c["loaded_weight_bytes"].as_u64().unwrap() > 0)
    );

    let cache = tmp.path().join("models--EleutherAI--pythia-70m");
    for (rev, commit) in [
        ("step143000", "c0ffee"),
        ("step3", "beef01"),
        ("main", "c0ffee"),
    ] {
        std::fs::create_dir_all(cache.join("refs")).unwrap();
        std::fs::write(cache.join("refs").join(rev), commit).unwrap();
        copy_model(&neox, &cache.join("snapshots").join(commit));
    }
    let (v, err, code) = checkpoints(&[cache.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<&str> = v["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["step3", "step143000"]);

    std::fs::remove_file(root.join("step512/config.json")).unwrap();
    let (_, err, code) = checkpoints(&[root.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("step512") && err.contains("config.json"),
        "{err}"
    );
}
