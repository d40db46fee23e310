//! `glassbox eval` from the command line: the table, the JSON, and a bad task named.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::run;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[test]
fn eval_prints_lm_eval_numbers_and_names_bad_tasks() {
    let f = fixtures();
    let model = f.join("models/qwen2");
    let (mc, ppl) = (
        f.join("eval/verses_mc.yaml"),
        f.join("eval/verses_ppl.yaml"),
    );
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (o, e, c) = run(&[
        "eval",
        "--model",
        &s(&model),
        "--task",
        &s(&mc),
        "--task",
        &s(&ppl),
        "--max-length",
        "32",
    ]);
    assert_eq!(c, 0, "{e}");
    // lm-eval's figures for this model and window (tests/fixtures/eval/lm-eval-reference.json).
    assert!(o.contains("| verses_mc | 8 | 2 | acc | 0.6250 |"), "{o}");
    assert!(
        o.contains("| verses_ppl | 3 | 0 | bits_per_byte | 5.4277 |"),
        "{o}"
    );
    assert!(e.contains("cut from the left"), "{e}");
    let (o, e, c) = run(&[
        "eval",
        "--model",
        &s(&model),
        "--task",
        &s(&mc),
        "--limit",
        "2",
        "--num-fewshot",
        "0",
        "--json",
    ]);
    assert_eq!(c, 0, "{e}");
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["results"][0]["docs"], 2);
    assert_eq!(
        v["results"][0]["samples"][0]["context"],
        "Verse: In the beginning, God created the heavens and the"
    );
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "task: bad\ndataset_path: json\ndataset_kwargs: {data_files: x.jsonl}\noutput_type: generate_until\n").unwrap();
    let (_, e, c) = run(&["eval", "--model", &s(&model), "--task", &s(&bad)]);
    assert_ne!(c, 0);
    assert!(
        e.contains("task bad") && e.contains("generate_until"),
        "{e}"
    );
}
