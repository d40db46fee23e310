//! Bad input, one test per case: each must end with exit code 1 and one clear error naming the
//! file and the field or tensor at fault, never a panic.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

/// A private copy of a fixture model to break.
fn copy_model(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    (tmp, dir)
}

/// Runs `glassbox score` (which loads everything) and returns stderr, asserting failure.
fn fails(dir: &Path) -> String {
    fails_scoring(dir, "In the beginning")
}

fn fails_scoring(dir: &Path, text: &str) -> String {
    let args = ["score", "--model", dir.to_str().unwrap(), "--text", text];
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit code 1; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(out.stdout.is_empty(), "no partial output on failure");
    eprintln!("{stderr}");
    stderr
}

fn assert_mentions(stderr: &str, parts: &[&str]) {
    for p in parts {
        assert!(stderr.contains(p), "stderr lacks `{p}`:\n{stderr}");
    }
}

/// Splits a safetensors file into (header JSON, data).
fn read_st(path: &Path) -> (Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        bytes[8 + n..].to_vec(),
    )
}

fn write_st(path: &Path, header: &Value, data: &[u8]) {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut Value)) {
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn missing_model_directory() {
    let e = fails(Path::new("/nonexistent/model"));
    assert_mentions(&e, &["/nonexistent/model", "model directory"]);
}

#[test]
fn missing_config_json() {
    let (_t, dir) = copy_model("llama");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert_mentions(&fails(&dir), &["config.json", "missing"]);
}

#[test]
fn missing_weights() {
    let (_t, dir) = copy_model("llama");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    assert_mentions(&fails(&dir), &["model.safetensors", "missing"]);
}

#[test]
fn pickle_only_weights_are_refused_with_a_reason() {
    let (_t, dir) = copy_model("llama");
    std::fs::rename(dir.join("model.safetensors"), dir.join("pytorch_model.bin")).unwrap();
    assert_mentions(&fails(&dir), &["pytorch_model.bin", "arbitrary code"]);
}

#[test]
fn missing_tokenizer_json() {
    let (_t, dir) = copy_model("llama");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    assert_mentions(&fails(&dir), &["tokenizer.json", "missing"]);
}

#[test]
fn missing_shard_listed_in_index() {
    let (_t, dir) = copy_model("llama-legacy");
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    assert_mentions(
        &fails(&dir),
        &["model-00002-of-00002.safetensors", "missing", "index"],
    );
}

#[test]
fn truncated_safetensors() {
    let (_t, dir) = copy_model("llama");
    let p = dir.join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    assert_mentions(
        &fails(&dir),
        &["model.safetensors", "truncated", "tensor `"],
    );
}

#[test]
fn header_length_past_end_of_file() {
    let (_t, dir) = copy_model("llama");
    let p = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&p).unwrap();
    let past = bytes.len() as u64 * 2;
    bytes[..8].copy_from_slice(&past.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    assert_mentions(
        &fails(&dir),
        &["model.safetensors", "header length", "past the end"],
    );
}

#[test]
fn offsets_out_of_range() {
    let (_t, dir) = copy_model("llama");
    let p = dir.join("model.safetensors");
    let (mut h, data) = read_st(&p);
    h["model.norm.weight"]["data_offsets"][1] = serde_json::json!(data.len() + 1000);
    write_st(&p, &h, &data);
    assert_mentions(
        &fails(&dir),
        &["model.safetensors", "`model.norm.weight`", "data_offsets"],
    );
}

#[test]
fn overlapping_offsets() {
    let (_t, dir) = copy_model("llama");
    let p = dir.join("model.safetensors");
    let (mut h, data) = read_st(&p);
    // Point one 64-float tensor at the bytes of another of the same size.
    let other = h["model.layers.0.input_layernorm.weight"]["data_offsets"].clone();
    h["model.layers.0.post_attention_layernorm.weight"]["data_offsets"] = other;
    write_st(&p, &h, &data);
    assert_mentions(
        &fails(&dir),
        &["model.safetensors", "overlaps", "layernorm.weight`"],
    );
}

#[test]
fn dtype_and_shape_disagree_with_byte_length() {
    let (_t, dir) = copy_model("llama");
    let p = dir.join("model.safetensors");
    let (mut h, data) = read_st(&p);
    h["model.norm.weight"]["dtype"] = serde_json::json!("F16");
    write_st(&p, &h, &data);
    assert_mentions(
        &fails(&dir),
        &[
            "model.safetensors",
            "`model.norm.weight`",
            "needs 128 bytes",
        ],
    );
}

#[test]
fn tensor_missing_for_config() {
    let (_t, dir) = copy_model("qwen2");
    let p = dir.join("model.safetensors");
    let (mut h, data) = read_st(&p);
    // Drop a bias and give its bytes to nobody: also a hole, so rewrite the data without it.
    let name = "model.layers.1.self_attn.k_proj.bias";
    let off = h[name]["data_offsets"].clone();
    let (s, e) = (
        off[0].as_u64().unwrap() as usize,
        off[1].as_u64().unwrap() as usize,
    );
    h.as_object_mut().unwrap().remove(name);
    for (_, v) in h.as_object_mut().unwrap().iter_mut() {
        if let Some(o) = v.get_mut("data_offsets") {
            for i in 0..2 {
                let x = o[i].as_u64().unwrap() as usize;
                if x >= e {
                    o[i] = serde_json::json!(x - (e - s));
                }
            }
        }
    }
    let data = [&data[..s], &data[e..]].concat();
    write_st(&p, &h, &data);
    assert_mentions(&fails(&dir), &[name, "missing", "model.safetensors"]);
}

#[test]
fn tensor_shape_disagrees_with_config() {
    let (_t, dir) = copy_model("llama");
    edit_config(&dir, |v| v["intermediate_size"] = serde_json::json!(96));
    assert_mentions(
        &fails(&dir),
        &[
            "model.safetensors",
            "`model.layers.0.mlp.gate_proj.weight`",
            "[128, 64]",
            "[96, 64]",
        ],
    );
}

#[test]
fn invalid_json_in_config() {
    let (_t, dir) = copy_model("llama");
    std::fs::write(
        dir.join("config.json"),
        "{\"hidden_size\": 64,\n  \"vocab_size\": }",
    )
    .unwrap();
    assert_mentions(&fails(&dir), &["config.json", "invalid JSON", "line 2"]);
}

#[test]
fn invalid_json_in_tokenizer_config() {
    let (_t, dir) = copy_model("llama");
    std::fs::write(dir.join("tokenizer_config.json"), "[1, 2").unwrap();
    assert_mentions(&fails(&dir), &["tokenizer_config.json", "invalid JSON"]);
}

#[test]
fn invalid_generation_config_field() {
    let (_t, dir) = copy_model("llama");
    std::fs::write(
        dir.join("generation_config.json"),
        r#"{"eos_token_id": "two"}"#,
    )
    .unwrap();
    assert_mentions(&fails(&dir), &["generation_config.json", "`eos_token_id`"]);
}

#[test]
fn unsupported_architecture() {
    let (_t, dir) = copy_model("llama");
    edit_config(&dir, |v| {
        v["architectures"] = serde_json::json!(["FalconForCausalLM"])
    });
    assert_mentions(
        &fails(&dir),
        &[
            "config.json",
            "`architectures`",
            "FalconForCausalLM",
            "GPTNeoXForCausalLM",
            "Gemma3ForCausalLM",
            "OlmoeForCausalLM",
        ],
    );
}

#[test]
fn a_family_config_missing_its_own_field_is_named() {
    let (_t, dir) = copy_model("gemma2");
    edit_config(&dir, |v| {
        v.as_object_mut().unwrap().remove("head_dim");
    });
    assert_mentions(&fails(&dir), &["config.json", "`head_dim`", "missing"]);
}

#[test]
fn more_experts_per_token_than_experts_is_named() {
    let (_t, dir) = copy_model("mixtral");
    edit_config(&dir, |v| v["num_experts_per_tok"] = serde_json::json!(9));
    assert_mentions(
        &fails(&dir),
        &["config.json", "`num_experts_per_tok`", "only 8 experts"],
    );
}

#[test]
fn an_expert_count_the_weights_disagree_with_names_the_router() {
    // The router is the first tensor whose shape the expert count decides.
    let (_t, dir) = copy_model("qwen3-moe");
    edit_config(&dir, |v| v["num_local_experts"] = serde_json::json!(9));
    assert_mentions(
        &fails(&dir),
        &["model.layers.0.mlp.gate.weight", "[8, 64]", "[9, 64]"],
    );
}

#[test]
fn a_fused_tensor_of_the_wrong_shape_is_named() {
    // Four key/value heads instead of two: qkv_proj must be [192, 64]; the file has [128, 64].
    let (_t, dir) = copy_model("phi3");
    edit_config(&dir, |v| v["num_key_value_heads"] = serde_json::json!(4));
    assert_mentions(
        &fails(&dir),
        &[
            "model.safetensors",
            "model.layers.0.self_attn.qkv_proj.weight",
            "192",
            "128",
        ],
    );
}

#[test]
fn gpt_neox_with_grouped_query_heads_is_refused() {
    let (_t, dir) = copy_model("gpt-neox");
    edit_config(&dir, |v| v["num_key_value_heads"] = serde_json::json!(2));
    assert_mentions(&fails(&dir), &["config.json", "`num_key_value_heads`"]);
}

#[test]
fn unsupported_rope_type() {
    let (_t, dir) = copy_model("llama");
    edit_config(&dir, |v| {
        v["rope_parameters"]["rope_type"] = serde_json::json!("yarn")
    });
    assert_mentions(
        &fails(&dir),
        &["config.json", "`rope_parameters.rope_type`", "yarn"],
    );
}

#[test]
fn empty_prompt() {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "generate",
            "--model",
            fixture("llama").to_str().unwrap(),
            "--prompt",
            "",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_mentions(&stderr, &["--prompt", "empty"]);
}

#[test]
fn over_long_prompt() {
    // The fixtures' context is 256 positions; this prompt is far longer.
    let long = "In the beginning God created the heavens and the earth. ".repeat(40);
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "generate",
            "--model",
            fixture("llama").to_str().unwrap(),
            "--prompt",
            &long,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"));
    assert_mentions(&stderr, &["prompt has", "max_position_embeddings"]);
    let e = fails_scoring(&fixture("llama"), &long);
    assert_mentions(&e, &["max_position_embeddings"]);
}

#[test]
fn bad_sampling_parameter() {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "generate",
            "--model",
            fixture("llama").to_str().unwrap(),
            "--prompt",
            "Hi",
            "--top-p",
            "1.5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_mentions(&String::from_utf8_lossy(&out.stderr), &["top_p"]);
}
