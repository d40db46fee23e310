//! LoRA adapters through the binary: `--adapter` on score, generate, chat and serve;
//! `merge-adapter` into the base and back out again.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use candle_core::{Device, Tensor};
use glassbox_model::{Adapter, LoraConfig, Transformer};
use serde_json::Value;

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

fn glassbox(args: &[&str]) -> (String, String, i32) {
    common::run(args)
}

/// A q/v/down adapter for the llama fixture whose B is a fixed non-zero pattern.
fn write_adapter(dir: &Path) {
    let (m, _) = Transformer::load(&model("llama"), &Device::Cpu).unwrap();
    let cfg = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        use_rslora: false,
        target_modules: vec!["q_proj".into(), "v_proj".into(), "down_proj".into()],
        base_model: Some("llama".into()),
    };
    let mut ad = Adapter::init(&m, cfg, 11).unwrap();
    for (k, (_, b)) in ad.modules.values_mut().enumerate() {
        let v: Vec<f32> = (0..b.elem_count())
            .map(|i| (((i * 31 + k * 7) % 100) as f32 / 100.0 - 0.5) * 0.2)
            .collect();
        *b = Tensor::from_vec(v, b.dims(), &Device::Cpu).unwrap();
    }
    ad.save(dir).unwrap();
}

fn logprobs(args: &[&str]) -> Vec<f64> {
    let mut all = vec![
        "score",
        "--text",
        "In the beginning God created the heavens",
    ];
    all.extend_from_slice(args);
    let (out, err, code) = glassbox(&all);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["logprob"].as_f64())
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn adapter_flag_and_merge_adapter_agree_and_unmerge_restores_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let ad = tmp.path().join("adapter");
    write_adapter(&ad);
    let base_dir = model("llama");
    let base = logprobs(&["--model", base_dir.to_str().unwrap()]);
    let adapted = logprobs(&[
        "--model",
        base_dir.to_str().unwrap(),
        "--adapter",
        ad.to_str().unwrap(),
    ]);
    assert!(
        max_diff(&base, &adapted) > 1e-2,
        "the adapter changes the scores"
    );
    let merged = tmp.path().join("merged");
    let (_, err, code) = glassbox(&[
        "merge-adapter",
        "--model",
        base_dir.to_str().unwrap(),
        "--adapter",
        ad.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(merged.join("tokenizer.json").exists());
    let m = logprobs(&["--model", merged.to_str().unwrap()]);
    assert!(max_diff(&m, &adapted) < 1e-4, "merged vs --adapter");
    let back = tmp.path().join("back");
    let (_, err, code) = glassbox(&[
        "merge-adapter",
        "--model",
        merged.to_str().unwrap(),
        "--adapter",
        ad.to_str().unwrap(),
        "--unmerge",
        "--out",
        back.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let b = logprobs(&["--model", back.to_str().unwrap()]);
    assert!(max_diff(&b, &base) < 1e-4, "unmerged vs base");
    // generate and chat take the adapter too.
    let (out, err, code) = glassbox(&[
        "generate",
        "--model",
        base_dir.to_str().unwrap(),
        "--adapter",
        ad.to_str().unwrap(),
        "--prompt",
        "In the",
        "--greedy",
        "--max-new-tokens",
        "4",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("In the"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["chat", "--model", base_dir.to_str().unwrap(), "--adapter"])
        .arg(&ad)
        .args(["--greedy", "--max-new-tokens", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"Hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // merge-adapter without an adapter, and an adapter for another architecture, are refused.
    let (_, err, code) = glassbox(&[
        "merge-adapter",
        "--model",
        base_dir.to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--adapter"), "{err}");
    let (_, err, code) = glassbox(&[
        "score",
        "--model",
        model("gpt-neox").to_str().unwrap(),
        "--adapter",
        ad.to_str().unwrap(),
        "--text",
        "Hi",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains(".lora_A.weight") && err.contains("GPTNeoXForCausalLM"),
        "{err}"
    );
}

#[test]
fn serve_applies_an_adapter_to_the_model_it_names() {
    let tmp = tempfile::tempdir().unwrap();
    let ad = tmp.path().join("adapter");
    write_adapter(&ad);
    let dir = model("llama");
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["serve", "--port", "0", "--model"])
        .arg(format!("base={}", dir.display()))
        .arg("--model")
        .arg(format!("tuned={}", dir.display()))
        .arg("--adapter")
        .arg(format!("tuned={}", ad.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = common::served_port(&mut child);
    let logprob = |name: &str| -> f64 {
        let body = format!(
            r#"{{"model":"{name}","prompt":"In the beginning God","max_tokens":1,"echo":true,"logprobs":1,"temperature":0}}"#
        );
        let text = common::post(port, "/v1/completions", &body);
        assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}");
        let v: Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
        v["choices"][0]["logprobs"]["token_logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .sum()
    };
    let (b, t) = (logprob("base"), logprob("tuned"));
    assert!((b - t).abs() > 1e-2, "base {b} vs tuned {t}");
    let _ = child.kill();
    let _ = child.wait();
}

/// LoRA training from the CLI: a base pre-trained for two steps, an adapter trained on it, the
/// adapter checkpoint used with `generate --adapter`; the run releases as an adapter bundle
/// that names its base.
#[test]
fn lora_training_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/train");
    let text = std::fs::read_to_string(fixture.join("recipe.toml"))
        .unwrap()
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = \"{}\"", fixture.join("dataset").display()),
        )
        .replace("steps = 20", "steps = 2");
    let base_recipe = tmp.path().join("base.toml");
    std::fs::write(&base_recipe, &text).unwrap();
    let base_run = tmp.path().join("base");
    let (_, err, code) = glassbox(&[
        "train",
        base_recipe.to_str().unwrap(),
        "--out",
        base_run.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let base = base_run.join("checkpoints/step-0000002");
    let lora_text = text.replace(
        "preset = \"tiny\"",
        &format!("init = \"{}\"", base.display()),
    ) + "\n[lora]\nr = 2\ntargets = [\"q_proj\", \"v_proj\"]\n";
    let lora_recipe = tmp.path().join("lora.toml");
    std::fs::write(&lora_recipe, lora_text).unwrap();
    let lora_run = tmp.path().join("lora");
    let (out, err, code) = glassbox(&[
        "train",
        lora_recipe.to_str().unwrap(),
        "--out",
        lora_run.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let ck = lora_run.join("checkpoints/step-0000002");
    let sha = glassbox_core::hash::sha256_file(&ck.join("adapter_model.safetensors")).unwrap();
    assert!(
        out.contains(&sha),
        "the summary names the adapter's hash: {out}"
    );
    let (_, err, code) = glassbox(&[
        "generate",
        "--model",
        base.to_str().unwrap(),
        "--adapter",
        ck.to_str().unwrap(),
        "--prompt",
        "In the",
        "--max-new-tokens",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    // Its checkpoints are a series of adapters on the base the run records: step 0 (B = 0)
    // scores as the base itself.
    let task = fixture.join("../eval/verses_ppl.yaml");
    let eval = |what: &str, dir: &PathBuf| -> Value {
        let (out, err, code) = glassbox(&[
            "eval",
            what,
            dir.to_str().unwrap(),
            "--task",
            task.to_str().unwrap(),
            "--max-length",
            "16",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let series = eval("--run", &lora_run);
    let points = series["results"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "steps 0, 1, 2: {series}");
    let plain = eval("--model", &base);
    let bpb = |m: &Value| m["bits_per_byte"].as_f64().unwrap();
    let want = bpb(&plain["results"][0]["metrics"]);
    assert!(
        (bpb(&points[0]["metrics"]) - want).abs() < 1e-9 * want,
        "{out}"
    );
    assert_ne!(
        bpb(&points[2]["metrics"]),
        want,
        "the trained adapter changes the scores"
    );
    // The run releases as an adapter bundle naming its base.
    let bundle = tmp.path().join("bundle");
    let (_, err, code) = glassbox(&[
        "release",
        lora_run.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let rel: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("release.json")).unwrap())
            .unwrap();
    assert!(
        rel["adapter"].is_object() && rel["base"]["path"].is_string(),
        "{rel}"
    );
    assert!(bundle.join("adapter_model.safetensors").exists());
}

/// Vocabulary expansion: a tokenizer extended with new tokens (existing ids untouched) grows the
/// model's embedding with rows at the old rows' mean; the grown model scores the old tokens as
/// before and generates; a tokenizer that renumbers a token is refused naming it.
#[test]
fn resize_vocab_grows_the_model_to_an_extended_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    // A copy of the fixture under the Llama 3.2 licence: the grown model carries its terms.
    let base = tmp.path().join("llama");
    std::fs::create_dir_all(&base).unwrap();
    for f in std::fs::read_dir(model("llama")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), base.join(f.file_name())).unwrap();
    }
    std::fs::write(
        base.join("README.md"),
        "---\nlicense: llama3.2\n---\n# base\n",
    )
    .unwrap();
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../glassbox-audit/tests/fixtures/licenses/Llama-3.2-Community-License.txt"),
        base.join("LICENSE"),
    )
    .unwrap();
    let mut tk: Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("tokenizer.json")).unwrap())
            .unwrap();
    let ids = tk["model"]["vocab"]
        .as_object()
        .unwrap()
        .values()
        .chain(
            tk["added_tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| &t["id"]),
        )
        .filter_map(Value::as_u64);
    let first_new = ids.max().unwrap() as usize + 1;
    for (i, word) in ["hola", "mundo", "gracias"].iter().enumerate() {
        tk["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "id": first_new + i, "content": word, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": true, "special": false
            }));
    }
    let extended = tmp.path().join("tok-es.json");
    std::fs::write(&extended, tk.to_string()).unwrap();
    let out = tmp.path().join("grown");
    let (_, err, code) = glassbox(&[
        "resize-vocab",
        "--model",
        base.to_str().unwrap(),
        "--tokenizer",
        extended.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["vocab_size"].as_u64().unwrap() as usize, first_new + 3);
    // Lineage: the card names the base and its licence, the licence file travels, and the audit
    // judges the grown model under the base's terms.
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        card.contains("base_model: ") && card.contains("license: \"llama3.2\""),
        "{card}"
    );
    assert!(out.join("LICENSE").exists());
    let (o, err, _) = glassbox(&["audit", out.to_str().unwrap()]);
    assert!(
        o.contains("inherits the base model's terms") && o.contains("llama-3.2"),
        "{o}{err}"
    );
    let before = logprobs(&["--model", base.to_str().unwrap()]);
    let after = logprobs(&["--model", out.to_str().unwrap()]);
    // The old tokens' logits are unchanged; the softmax now also spreads over three new rows.
    assert!(max_diff(&before, &after) < 0.05, "{before:?} vs {after:?}");
    let (o, err, code) = glassbox(&[
        "generate",
        "--model",
        out.to_str().unwrap(),
        "--prompt",
        "hola mundo",
        "--max-new-tokens",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(o.starts_with("hola mundo"));
    let (_, err, code) = glassbox(&[
        "resize-vocab",
        "--model",
        base.to_str().unwrap(),
        "--tokenizer",
        extended.to_str().unwrap(),
        "--out",
        tmp.path().join("grown-cov").to_str().unwrap(),
        "--init",
        "mean-cov",
        "--seed",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("covariance, seed 5"), "{err}");
    // Renumbering a token is refused, naming it.
    let mut bad = tk.clone();
    let vocab = bad["model"]["vocab"].as_object_mut().unwrap();
    let (k1, k2) = {
        let mut keys = vocab.keys().cloned();
        (keys.nth(10).unwrap(), keys.next().unwrap())
    };
    let (v1, v2) = (vocab[&k1].clone(), vocab[&k2].clone());
    vocab.insert(k1.clone(), v2);
    vocab.insert(k2.clone(), v1);
    let renumbered = tmp.path().join("bad.json");
    std::fs::write(&renumbered, bad.to_string()).unwrap();
    let (_, err, code) = glassbox(&[
        "resize-vocab",
        "--model",
        base.to_str().unwrap(),
        "--tokenizer",
        renumbered.to_str().unwrap(),
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("lost their id") && err.contains("bad.json"),
        "{err}"
    );
}
