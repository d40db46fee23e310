//! The real binary on the fixture models, in temp dirs: generate, chat through a pipe, score,
//! convert, and every verb's help.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use glassbox_infer::{Engine, GenerateOptions, SamplingParams};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn model(name: &str) -> String {
    fixtures()
        .join("models")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn reference(name: &str) -> Value {
    let p = fixtures().join("reference").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn glassbox(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!se.contains("panicked"), "{se}");
    (so, se, out.status.code().unwrap_or(-1))
}

#[test]
fn every_verb_has_help_with_an_example() {
    for verb in [
        &["generate"][..],
        &["chat"],
        &["score"],
        &["convert"],
        &["checkpoints"],
        &["bench", "generate"],
        &["bench", "load"],
        &["bench", "gemm"],
        &["bench", "serve"],
    ] {
        let mut args = verb.to_vec();
        args.push("--help");
        let (out, _, code) = glassbox(&args);
        assert_eq!(code, 0);
        assert!(
            out.contains("Example:") || out.contains("Examples:"),
            "{verb:?} help lacks an example"
        );
    }
}

#[test]
fn generate_json_matches_transformers_greedy_and_streaming_matches_json() {
    for name in common::FAMILIES {
        let r = reference(name);
        let text = r["inputs"][0]["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(r["greedy"][0]["tokens"].clone()).unwrap();
        let (out, err, code) = glassbox(&[
            "generate",
            "--model",
            &model(name),
            "--prompt",
            text,
            "--greedy",
            "--max-new-tokens",
            "32",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        let got: Vec<u32> = serde_json::from_value(v["completion"]["tokens"].clone()).unwrap();
        assert_eq!(got, want, "{name}");
        let (streamed, _, code) = glassbox(&[
            "generate",
            "--model",
            &model(name),
            "--prompt",
            text,
            "--greedy",
            "--max-new-tokens",
            "32",
        ]);
        assert_eq!(code, 0);
        let expected = format!("{text}{}\n", v["completion"]["text"].as_str().unwrap());
        assert_eq!(streamed, expected, "{name}");
    }
}

#[test]
fn generate_batch_prints_each_prompt() {
    let (out, _, code) = glassbox(&[
        "generate",
        "--model",
        &model("llama"),
        "--prompt",
        "In the beginning",
        "--prompt",
        "And God said",
        "--max-new-tokens",
        "5",
        "--seed",
        "3",
        "--temperature",
        "0.8",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("--- [0]") && out.contains("--- [1]") && out.contains("And God said"),
        "{out}"
    );
}

#[test]
fn chat_through_a_pipe_holds_a_conversation() {
    let name = "qwen2";
    let turns = ["Who made the heavens?", "And the second day?"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "chat",
            "--model",
            &model(name),
            "--greedy",
            "--max-new-tokens",
            "12",
            "--system",
            "Be brief.",
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
        .write_all(format!("{}\n{}\n", turns[0], turns[1]).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same conversation through the library: template, then greedy generation per turn.
    let e = Engine::load(model(name).as_ref(), &candle_core::Device::Cpu).unwrap();
    let mut messages = vec![json!({"role": "system", "content": "Be brief."})];
    let mut expected = String::new();
    for t in turns {
        messages.push(json!({"role": "user", "content": t}));
        let prompt = e
            .chat_template()
            .unwrap()
            .render(&messages, true, &Default::default())
            .unwrap();
        let mut r = e.request(e.tokenizer.encode(&prompt, false).unwrap());
        r.sampling = SamplingParams::greedy();
        r.max_new_tokens = 12;
        let c = e
            .generate(&[r], GenerateOptions::default(), &mut |_, _| {})
            .unwrap()
            .remove(0);
        expected.push_str(&c.text);
        expected.push('\n');
        messages.push(json!({"role": "assistant", "content": c.text}));
    }
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn chat_refuses_a_model_without_template() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
    ] {
        std::fs::copy(fixtures().join("models/llama").join(f), dir.join(f)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["chat", "--model", dir.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no chat template"));
}

#[test]
fn score_matches_transformers_logprobs() {
    for name in common::FAMILIES {
        let r = reference(name);
        let text = r["score"]["text"].as_str().unwrap();
        let (out, err, code) = glassbox(&[
            "score",
            "--model",
            &model(name),
            "--text",
            text,
            "--top",
            "2",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let tokens = v["tokens"].as_array().unwrap();
        let want = r["score"]["logprobs"].as_array().unwrap();
        let ids = r["score"]["ids"].as_array().unwrap();
        assert_eq!(tokens.len(), want.len());
        for ((t, w), id) in tokens.iter().zip(want).zip(ids) {
            assert_eq!(&t["id"], id);
            match (t["logprob"].as_f64(), w.as_f64()) {
                (None, None) => {}
                (Some(g), Some(w)) => {
                    assert!((g - w).abs() <= 1e-4, "{name}: {g} vs {w}");
                    assert_eq!(t["top"].as_array().unwrap().len(), 2);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(v["perplexity"].as_f64().unwrap() > 1.0);
    }
}

#[test]
fn convert_to_bf16_shards_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bf16");
    let (_, err, code) = glassbox(&[
        "convert",
        "--model",
        &model("qwen2"),
        "--out",
        out.to_str().unwrap(),
        "--dtype",
        "bf16",
        "--max-shard-size",
        "100KB",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.join("model.safetensors.index.json").exists());
    assert!(out.join("tokenizer.json").exists() && out.join("chat_template.jinja").exists());
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["torch_dtype"], "bfloat16");
    let (_, err, code) = glassbox(&[
        "generate",
        "--model",
        out.to_str().unwrap(),
        "--prompt",
        "Hi",
        "--max-new-tokens",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, err, code) = glassbox(&[
        "convert",
        "--model",
        &model("qwen2"),
        "--out",
        &model("qwen2"),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("is the --model directory"));
}
