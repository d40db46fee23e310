//! `glassbox bench generate` with a llama.cpp baseline: the same GGUF file reaches the baseline,
//! its figures come back as ratios, and the temporary file is gone afterwards. llama.cpp itself
//! is not installed in CI, so stand-ins that check their arguments print llama-cpp-python's and
//! llama-bench's JSON.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["--threads", "1", "bench", "generate", "--shape", "tiny"])
        .args(["--prompt-len", "8", "--new-tokens", "4", "--repeats", "1"])
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn llama_cpp_python_runs_on_the_same_gguf_and_the_ratios_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("args");
    // $1 is the embedded script, $2 the GGUF file; it must exist and be a GGUF file.
    let py = script(
        dir.path(),
        "python",
        &format!(
            "echo \"$@\" > {log}\nhead -c 4 \"$2\" | grep -q GGUF || exit 3\ngrep -q llama_cpp \"$1\" || exit 4\necho '{{\"llama_cpp_python\": \"0.0-test\", \"threads\": 1, \"prefill_tokens_per_s\": 100.0, \"decode_tokens_per_s\": 10.0}}'\n",
            log = log.display()
        ),
    );
    let v = bench(&["--python", py.to_str().unwrap()]);
    let args = std::fs::read_to_string(&log).unwrap();
    for want in [
        "--threads 1",
        "--prompt-len 8",
        "--new-tokens 4",
        "--repeats 1",
        "--json",
    ] {
        assert!(args.contains(want), "{want} not in {args}");
    }
    assert_eq!(v["llama_cpp"]["runner"], "llama-cpp-python 0.0-test");
    let ours = v["prefill_tokens_per_s"].as_f64().unwrap();
    let ratio = v["prefill_ratio"].as_f64().unwrap();
    assert!(
        (ratio - ours / 100.0).abs() < 1e-9 * ratio.abs().max(1.0),
        "{v}"
    );
    let ours = v["decode_tokens_per_s"].as_f64().unwrap();
    let ratio = v["decode_ratio"].as_f64().unwrap();
    assert!(
        (ratio - ours / 10.0).abs() < 1e-9 * ratio.abs().max(1.0),
        "{v}"
    );
    assert!(!v["cpu"]["model"].as_str().unwrap().is_empty(), "{v}");
    let gguf = args.split_whitespace().nth(1).unwrap();
    assert!(gguf.ends_with(".gguf"), "{args}");
    assert!(
        !Path::new(gguf).exists(),
        "the temporary GGUF file {gguf} was left behind"
    );
}

#[test]
fn llama_bench_runs_prompt_then_decode_at_depth() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    // Prefill: -p 8 -n 0; decode: -p 0 -n 4 -d 8. Answers as llama-bench's `-o json`.
    let bin = script(
        dir.path(),
        "llama-bench",
        &format!(
            "echo \"$@\" >> {log}\nhead -c 4 \"$2\" | grep -q GGUF || exit 3\ncase \"$*\" in\n  *'-d 8'*) echo '[{{\"build_commit\": \"abc123\", \"build_number\": 7, \"n_prompt\": 0, \"n_gen\": 4, \"n_depth\": 8, \"avg_ts\": 20.0}}]' ;;\n  *) echo '[{{\"build_commit\": \"abc123\", \"build_number\": 7, \"n_prompt\": 8, \"n_gen\": 0, \"n_depth\": 0, \"avg_ts\": 400.0}}]' ;;\nesac\n",
            log = log.display()
        ),
    );
    let out = dir.path().join("tiny.gguf");
    let v = bench(&[
        "--llama-bench",
        bin.to_str().unwrap(),
        "--save-gguf",
        out.to_str().unwrap(),
    ]);
    assert!(out.exists(), "--save-gguf keeps the file");
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(lines[0].contains("-p 8 -n 0"), "{calls}");
    assert!(lines[1].contains("-p 0 -n 4 -d 8"), "{calls}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("-t 1") && l.contains("-o json"))
    );
    assert_eq!(v["llama_cpp"]["runner"], "llama-bench build 7 (abc123)");
    assert_eq!(v["llama_cpp"]["prefill_tokens_per_s"], 400.0);
    assert_eq!(v["llama_cpp"]["decode_tokens_per_s"], 20.0);
    let ratio = v["decode_ratio"].as_f64().unwrap();
    let ours = v["decode_tokens_per_s"].as_f64().unwrap();
    assert!((ratio - ours / 20.0).abs() < 1e-9 * ratio.max(1.0), "{v}");
}

#[test]
fn a_failing_baseline_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let py = script(
        dir.path(),
        "python",
        "echo 'no module llama_cpp' >&2\nexit 1\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["--threads", "1", "bench", "generate", "--shape", "tiny"])
        .args(["--prompt-len", "4", "--new-tokens", "2", "--repeats", "1"])
        .args(["--python", py.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("llama.cpp baseline failed") && err.contains("no module llama_cpp"),
        "{err}"
    );
}

#[test]
fn a_llama_bench_without_depth_decodes_from_an_empty_context_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let bin = script(
        dir.path(),
        "llama-bench",
        &format!(
            "echo \"$@\" >> {log}\ncase \"$*\" in\n  *'-d 8'*) echo 'error: invalid parameter for argument: -d' >&2; exit 1 ;;\n  *'-n 4'*) echo '[{{\"build_commit\": \"old\", \"build_number\": 4, \"n_prompt\": 0, \"n_gen\": 4, \"n_depth\": 0, \"avg_ts\": 25.0}}]' ;;\n  *) echo '[{{\"build_commit\": \"old\", \"build_number\": 4, \"n_prompt\": 8, \"n_gen\": 0, \"avg_ts\": 300.0}}]' ;;\nesac\n",
            log = log.display()
        ),
    );
    let v = bench(&["--llama-bench", bin.to_str().unwrap()]);
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().count(), 3, "{calls}");
    assert!(
        v["llama_cpp"]["runner"]
            .as_str()
            .unwrap()
            .contains("decode from an empty context"),
        "{v}"
    );
    assert_eq!(v["llama_cpp"]["decode_tokens_per_s"], 25.0);
}
