//! `glassbox quickstart` end to end on the World English Bible test corpus (tiny settings), rerun
//! idempotently, and its explanation when the default corpus cannot be fetched.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

fn corpus() -> PathBuf {
    common::corpus("en_web.txt")
}

#[test]
fn quickstart_runs_the_whole_line_and_reruns_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let c = corpus();
    let args = [
        "quickstart",
        "--corpus",
        c.to_str().unwrap(),
        "--corpus-license",
        "public-domain",
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "4",
        "--preset",
        "tiny",
        "--vocab-size",
        "512",
    ];
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}\n{err}");
    for want in [
        "$ glassbox data curate",
        "$ glassbox data tokenizer train",
        "$ glassbox data tokenize",
        "$ glassbox train",
        "step     0: And God said",
        "step     4: And God said",
        "$ glassbox release",
        "PASS hashes",
        "PASS data",
        "PASS replay       steps 2 → 4",
        ": verified",
        "Radical Openness (replay-verified, as recorded by the publisher)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Verse references were recognised: one document per chapter, references stripped.
    let sources = std::fs::read_to_string(out.join("sources.toml")).unwrap();
    assert!(sources.contains("split = \"group\""), "{sources}");
    let sheet = std::fs::read_to_string(out.join("curated/datasheet.md")).unwrap();
    assert!(sheet.contains("public-domain"));
    for f in [
        "run/checkpoints/step-0000004/model.safetensors",
        "run/checkpoints/index.json",
        "run/loss.svg",
        "run/logs/train.jsonl",
        "samples.md",
        "bundle/MANIFEST.json",
        "bundle/verification.json",
        "bundle/samples/samples.md",
        "bundle/paper/paper.md",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let samples = std::fs::read_to_string(out.join("samples.md")).unwrap();
    assert!(samples.contains("- step 0:") && samples.contains("- step 4:"));
    // Again: the data stages are rebuilt to the same bytes, the finished run is kept.
    let weights =
        std::fs::read(out.join("run/checkpoints/step-0000004/model.safetensors")).unwrap();
    let tk = std::fs::read(out.join("tokenizer.json")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("is complete"), "{text}");
    assert_eq!(std::fs::read(out.join("tokenizer.json")).unwrap(), tk);
    assert_eq!(
        std::fs::read(out.join("run/checkpoints/step-0000004/model.safetensors")).unwrap(),
        weights
    );
    // Another recipe in the same place is refused rather than mixed in.
    let mut other = args.to_vec();
    other[8] = "5";
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(&other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("holds a run of another recipe"), "{err}");
}

#[test]
fn without_diatheke_or_apt_it_explains_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["quickstart", "--out"])
        .arg(tmp.path().join("qs"))
        .env("PATH", &empty)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    for want in ["diatheke", "sword-text-web", "apt-get", "--corpus"] {
        assert!(err.contains(want), "missing {want:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}
