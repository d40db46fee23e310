//! The data chain through the real binary on the test corpora (English and Spanish).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn corpora() -> PathBuf {
    let p = common::corpora_dir();
    assert!(
        p.join("en_web.txt").exists(),
        "en_web.txt missing in {}",
        p.display()
    );
    p
}

fn glassbox(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "glassbox {args:?} failed: {err}");
    assert!(!err.contains("panicked"));
    String::from_utf8(out.stdout).unwrap()
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn whole_chain_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let c = corpora();
    let cfg = w.join("sources.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[source]]\nname = \"web-en\"\npath = \"{}\"\nsplit = \"group\"\ngroup_pattern = '^(.+? \\d+):\\d+:'\nstrip_pattern = '^.+? \\d+:\\d+: '\nlicense = \"public-domain\"\n\n[[source]]\nname = \"rv-es\"\npath = \"{}\"\nsplit = \"group\"\ngroup_pattern = '^(.+? \\d+):\\d+:'\nstrip_pattern = '^.+? \\d+:\\d+: '\nlicense = \"public-domain\"\n",
            c.join("en_web.txt").display(),
            c.join("es_rv1909.txt").display()
        ),
    )
    .unwrap();
    let curated = w.join("curated");
    let out = glassbox(&["data", "curate", "--config", p(&cfg), "--out", p(&curated)]);
    assert!(out.contains("eng:") && out.contains("spa:"), "{out}");
    assert!(curated.join("datasheet.md").exists());
    let tok = w.join("tokenizer.json");
    glassbox(&[
        "data",
        "tokenizer",
        "train",
        "--input",
        p(&curated),
        "--vocab-size",
        "1024",
        "--out",
        p(&tok),
    ]);
    let ds = w.join("dataset");
    glassbox(&[
        "data",
        "tokenize",
        "--input",
        p(&curated),
        "--tokenizer",
        p(&tok),
        "--out",
        p(&ds),
    ]);
    let out = glassbox(&["data", "verify", "--dataset", p(&ds)]);
    assert!(out.contains("match their SHA-256"));
    let order = glassbox(&[
        "data",
        "order",
        "--dataset",
        p(&ds),
        "--seq-len",
        "128",
        "--seed",
        "5",
    ]);
    assert!(order.contains("order-L128-S5.bin"));
    let batch: Value = serde_json::from_str(&glassbox(&[
        "data",
        "batch",
        "--dataset",
        p(&ds),
        "--seq-len",
        "128",
        "--batch-size",
        "4",
        "--seed",
        "5",
        "--step",
        "10",
        "--json",
    ]))
    .unwrap();
    let rows = batch["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["tokens"].as_array().unwrap().len(), 129);
    assert!(!rows[0]["text"].as_str().unwrap().is_empty());
    let doc = rows[0]["documents"][0]["id"].as_str().unwrap().to_string();
    let trace: Value = serde_json::from_str(&glassbox(&[
        "data",
        "trace",
        "--dataset",
        p(&ds),
        "--doc",
        &doc,
        "--seq-len",
        "128",
        "--batch-size",
        "4",
        "--seed",
        "5",
        "--json",
    ]))
    .unwrap();
    assert!(
        trace["occurrences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["step"] == 10 && o["row"] == 0),
        "{trace}"
    );
    glassbox(&[
        "data",
        "export",
        "--dataset",
        p(&ds),
        "--format",
        "megatron",
        "--out",
        p(&w.join("meg")),
    ]);
    glassbox(&[
        "data",
        "export",
        "--dataset",
        p(&ds),
        "--format",
        "olmo",
        "--seq-len",
        "128",
        "--seed",
        "5",
        "--out",
        p(&w.join("olmo")),
    ]);
    assert!(w.join("meg/train.idx").exists() && w.join("olmo/global_indices.npy").exists());
    let es = w.join("es.json");
    let ext = glassbox(&[
        "data",
        "tokenizer",
        "extend",
        "--tokenizer",
        p(&tok),
        "--input",
        p(&curated),
        "--add",
        "100",
        "--out",
        p(&es),
        "--json",
    ]);
    let v: Value = serde_json::from_str(&ext).unwrap();
    assert!(v["added"].as_u64().unwrap() > 0);
    // Help of every data verb carries an example.
    for verb in [
        &["data", "curate"][..],
        &["data", "tokenize"],
        &["data", "batch"],
        &["data", "trace"],
        &["data", "export"],
        &["data", "import"],
        &["data", "tokenizer", "train"],
        &["data", "tokenizer", "extend"],
    ] {
        let mut a = verb.to_vec();
        a.push("--help");
        assert!(glassbox(&a).contains("Example"), "{verb:?}");
    }
}
