//! Every supported architecture through the real binary: `chat` holds a turn with the model's
//! own template, `serve` answers a chat completion for each, and `train` runs a step from the
//! family's `config.json` and leaves a checkpoint `generate` loads. (Greedy `generate` and
//! `score` against transformers are in `cli.rs`.)

#![allow(clippy::unwrap_used)]

mod common;
use common::FAMILIES;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    for name in FAMILIES {
        let body = format!(
            r#"{{"model":"{name}","messages":[{{"role":"user","content":"Hello"}}],"max_tokens":4,"temperature":0}}"#
        );
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
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
