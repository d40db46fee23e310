//! `glassbox audit` through the real binary: formats, exports, batches, exit codes.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn mot_models() -> PathBuf {
    common::mot_models()
}

fn run(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let se = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!se.contains("panicked"), "{se}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        se,
        out.status.code().unwrap(),
    )
}

#[test]
fn json_report_of_a_mot_file() {
    let f = mot_models().join("BLOOM.yml");
    let (out, err, code) = run(&["audit", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["level"], "open_weight");
    assert_eq!(v["freedoms"]["modify"]["status"], "fails");
    assert_eq!(v["target"]["kind"], "mot");
}

#[test]
fn table_markdown_html_and_exports() {
    let f = mot_models().join("Amber.yml");
    let f = f.to_str().unwrap();
    let (out, _, code) = run(&["audit", f]);
    assert_eq!(code, 0);
    assert!(out.contains("level ") && out.contains("freedoms") && out.contains("components"));
    let (md, _, _) = run(&["audit", f, "--format", "markdown"]);
    assert!(md.starts_with("# Openness audit"));
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("a.html");
    let (_, _, code) = run(&[
        "audit",
        f,
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let h = std::fs::read_to_string(&html).unwrap();
    assert!(h.contains("<svg") && h.contains("</html>"));
    let (bom, _, _) = run(&["audit", f, "--export", "cyclonedx"]);
    let v: Value = serde_json::from_str(&bom).unwrap();
    assert_eq!(v["bomFormat"], "CycloneDX");
    let (mot, _, _) = run(&["audit", f, "--export", "mot"]);
    assert!(mot.contains("Model Openness Framework") && mot.contains("Model parameters (Final)"));
}

#[test]
fn folder_of_targets_prints_one_line_each_and_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    for n in ["BLOOM.yml", "Amber.yml", "Pythia.yml"] {
        if mot_models().join(n).exists() {
            std::fs::copy(mot_models().join(n), tmp.path().join(n)).unwrap();
        }
    }
    let (out, err, code) = run(&["audit", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(".yml")).collect();
    assert!(lines.len() >= 2, "{out}");
    assert!(out.contains("targets:"), "{out}");
}

#[test]
fn exit_codes() {
    let (_, err, code) = run(&["audit", "/nonexistent/model"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/model"));
    let f = mot_models().join("BLOOM.yml");
    let (_, err, code) = run(&[
        "audit",
        f.to_str().unwrap(),
        "--min-level",
        "open-source-ai",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("below"));
    let (_, _, code) = run(&["audit", f.to_str().unwrap(), "--min-level", "open-weight"]);
    assert_eq!(code, 0);
    let (_, err, code) = run(&[
        "audit",
        "hf:a/b",
        "--offline",
        "--cache-dir",
        "/nonexistent-cache",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--offline"), "{err}");
}
