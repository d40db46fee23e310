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

#[test]
fn every_checkpoint_of_a_run_is_evaluated_once_and_plotted() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures();
    let recipe = std::fs::read_to_string(f.join("train/recipe.toml"))
        .unwrap()
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = \"{}\"", f.join("train/dataset").display()),
        )
        .replace("steps = 20", "steps = 4");
    let r = tmp.path().join("recipe.toml");
    std::fs::write(&r, recipe).unwrap();
    let run_dir = tmp.path().join("run");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (_, e, c) = run(&["train", &s(&r), "--out", &s(&run_dir)]);
    assert_eq!(c, 0, "{e}");
    let task = f.join("eval/verses_ppl.yaml");
    let args = [
        "eval",
        "--run",
        &s(&run_dir),
        "--task",
        &s(&task),
        "--max-length",
        "16",
    ];
    let (o, e, c) = run(&args);
    assert_eq!(c, 0, "{e}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(run_dir.join("evals/verses_ppl.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let steps: Vec<u64> = lines.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![0, 1, 2, 4], "{o}");
    assert_eq!(lines[3]["tokens"], 4 * 4 * 32);
    assert!(
        lines
            .iter()
            .all(|l| l["metrics"]["bits_per_byte"].as_f64().unwrap() > 0.0)
    );
    let svg = std::fs::read_to_string(run_dir.join("evals/verses_ppl.svg")).unwrap();
    assert!(svg.contains("<polyline") && svg.contains("training tokens"));
    // Again: every result from the cache, the same numbers.
    let first = std::fs::read_to_string(run_dir.join("evals/verses_ppl.jsonl")).unwrap();
    let (o2, e, c) = run(&args);
    assert_eq!(c, 0, "{e}");
    assert_eq!(o2.matches("(cached)").count(), 4, "{o2}");
    let again = std::fs::read_to_string(run_dir.join("evals/verses_ppl.jsonl")).unwrap();
    assert_eq!(again, first);
    // --every 2 keeps steps 0, 2, 4.
    let out = tmp.path().join("every");
    let (_, e, c) = run(&[
        "eval",
        "--run",
        &s(&run_dir),
        "--task",
        &s(&task),
        "--max-length",
        "16",
        "--every",
        "2",
        "--out",
        &s(&out),
    ]);
    assert_eq!(c, 0, "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("verses_ppl.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}
