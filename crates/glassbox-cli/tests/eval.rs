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
fn a_text_file_gets_the_bits_per_byte_lm_eval_gives_it() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures();
    // The first passage of the perplexity task, as a plain file.
    let first = std::fs::read_to_string(f.join("eval/text.jsonl")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let text = doc["text"].as_str().unwrap();
    let p = tmp.path().join("passage.txt");
    std::fs::write(&p, text).unwrap();
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (o, e, c) = run(&[
        "eval",
        "--model",
        &s(&f.join("models/qwen2")),
        "--text",
        &s(&p),
        "--max-length",
        "32",
        "--json",
    ]);
    assert_eq!(c, 0, "{e}");
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    let got = v["results"][0]["metrics"]["bits_per_byte"]
        .as_f64()
        .unwrap();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(f.join("eval/lm-eval-reference.json")).unwrap(),
    )
    .unwrap();
    let qwen = reference["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "qwen2")
        .unwrap();
    let ll = qwen["tasks"]["verses_ppl"]["samples"][0]["loglikelihoods"][0]
        .as_f64()
        .unwrap();
    let want = -ll / text.len() as f64 / std::f64::consts::LN_2;
    assert!(
        (got - want).abs() < 1e-5 * want,
        "{got} vs lm-eval's {want}"
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

/// A tiny run on data where one document repeats: it memorises that document, and the report
/// names the first step that trained on it, as the data order says.
#[test]
fn memorisation_finds_the_repeated_document_and_the_step_that_first_taught_it() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures();
    // 60 documents of 31 tokens + EOS (id 1); every third is the same document D.
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (10 + (state >> 33) % 400) as u16
    };
    let d: Vec<u16> = (0..31).map(|_| next()).collect();
    let mut stream: Vec<u16> = Vec::new();
    for j in 0..60 {
        if j % 3 == 0 {
            stream.extend(&d);
        } else {
            stream.extend((0..31).map(|_| next()));
        }
        stream.push(1);
    }
    let bin = tmp.path().join("train.bin");
    std::fs::write(
        &bin,
        stream
            .iter()
            .flat_map(|t| t.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let ds = tmp.path().join("ds");
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let tok = f.join("train/dataset/tokenizer.json");
    let (_, e, c) = run(&[
        "data",
        "import",
        "--format",
        "nanogpt",
        "--input",
        &s(&bin),
        "--eos-id",
        "1",
        "--tokenizer",
        &s(&tok),
        "--out",
        &s(&ds),
    ]);
    assert_eq!(c, 0, "{e}");
    let recipe = format!(
        "[data]\ndataset = \"{}\"\nseed = 3\n[model]\npreset = \"tiny\"\n[optim]\nlr = 2e-2\nweight_decay = 0.0\n[schedule]\nwarmup_steps = 2\n[train]\nbatch_size = 4\nseq_len = 32\nsteps = 120\n[eval]\ninterval = 0\n[checkpoints]\nschedule = \"pythia\"\n",
        ds.display()
    );
    let r = tmp.path().join("recipe.toml");
    std::fs::write(&r, recipe).unwrap();
    let run_dir = tmp.path().join("run");
    let (_, e, c) = run(&["train", &s(&r), "--out", &s(&run_dir)]);
    assert_eq!(c, 0, "{e}");
    let (o, e, c) = run(&[
        "eval",
        "memorization",
        "--run",
        &s(&run_dir),
        "--samples",
        "24",
        "--prefix",
        "16",
        "--suffix",
        "16",
    ]);
    assert_eq!(c, 0, "{e}");
    let rep: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("evals/memorization.json")).unwrap(),
    )
    .unwrap();
    let d32: Vec<u64> = d.iter().map(|&t| t as u64).chain([1]).collect();
    let samples = rep["samples"].as_array().unwrap();
    let is_d = |i: u64| {
        let t: Vec<u64> = samples[i as usize]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        t == d32
    };
    // The first step whose batch holds D, from the data order itself.
    let mut dataset = glassbox_data::dataset::Dataset::open(&ds).unwrap();
    let first = (0..120u64)
        .find(|&st| {
            dataset.batch(st, 4, 32, 3).unwrap().iter().any(|row| {
                row.tokens
                    .windows(32)
                    .any(|w| w.iter().map(|&t| t as u64).eq(d32.iter().copied()))
            })
        })
        .unwrap()
        + 1;
    let svg = std::fs::read_to_string(run_dir.join("evals/memorization.svg")).unwrap();
    assert!(svg.contains("memorised share"));
    let cks = rep["checkpoints"].as_array().unwrap();
    assert_eq!(cks[0]["step"], 0);
    assert_eq!(cks[0]["memorised"], 0, "the random model memorises nothing");
    let last = cks.last().unwrap();
    let mem = last["sequences"].as_array().unwrap();
    let d_mem: Vec<&serde_json::Value> = mem
        .iter()
        .filter(|s| is_d(s["sample"].as_u64().unwrap()))
        .collect();
    assert!(!d_mem.is_empty(), "D is memorised by step 120: {o}");
    for s in &d_mem {
        assert_eq!(s["first_step"], first, "{o}");
        assert!(s["times_seen"].as_u64().unwrap() >= 5);
    }
    assert!(
        mem.len() <= d_mem.len() + 2,
        "unique random documents are rarely memorised: {o}"
    );
}

/// lm-eval's `local-completions` model pointed at `glassbox serve` (the script that wrote the
/// committed `lm-eval-serve.json`, run afresh) gives `glassbox eval`'s numbers. Runs where
/// `python3` can import lm-eval with its API extras (`PYTHONPATH` is passed on); elsewhere it says
/// so and passes — the committed output is checked in every run by glassbox-eval's tests.
#[test]
fn lm_eval_local_completions_against_glassbox_serve_equals_glassbox_eval() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import lm_eval, aiohttp, tenacity, transformers"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("lm-eval (with aiohttp, tenacity, transformers) is not importable: skipped");
        return;
    }
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("serve.json");
    let st = std::process::Command::new("python3")
        .arg(f.join("eval/lm_eval_serve.py"))
        .args(["--glassbox", env!("CARGO_BIN_EXE_glassbox"), "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "lm_eval_serve.py failed");
    let lm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for m in lm["models"].as_array().unwrap() {
        let name = m["model"].as_str().unwrap();
        for (task, want) in m["tasks"].as_object().unwrap() {
            let (o, e, c) = run(&[
                "eval",
                "--model",
                f.join("models").join(name).to_str().unwrap(),
                "--task",
                f.join(format!("eval/{task}.yaml")).to_str().unwrap(),
                "--max-length",
                &m["max_length"].to_string(),
                "--json",
            ]);
            assert_eq!(c, 0, "{e}");
            let v: serde_json::Value = serde_json::from_str(&o).unwrap();
            let got = &v["results"][0];
            for (g, w) in got["samples"]
                .as_array()
                .unwrap()
                .iter()
                .zip(want["samples"].as_array().unwrap())
            {
                let lls: Vec<f64> = match g.get("loglikelihoods") {
                    Some(x) => serde_json::from_value(x.clone()).unwrap(),
                    None => vec![g["loglikelihood"].as_f64().unwrap()],
                };
                let wl: Vec<f64> = serde_json::from_value(w["loglikelihoods"].clone()).unwrap();
                assert_eq!(lls.len(), wl.len());
                for (a, b) in lls.iter().zip(&wl) {
                    assert!((a - b).abs() < 1e-4, "{name} {task}: {a} vs {b}");
                }
            }
            for (k, w) in want["metrics"].as_object().unwrap() {
                let (a, b) = (got["metrics"][k].as_f64().unwrap(), w.as_f64().unwrap());
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs(),
                    "{name} {task} {k}: {a} vs {b}"
                );
            }
        }
    }
}

/// `bench eval` times both scorers on the same task and they report the same metrics.
#[test]
fn bench_eval_reports_both_scorers_with_equal_metrics() {
    let f = fixtures();
    let (o, e, c) = run(&[
        "bench",
        "eval",
        "--model",
        f.join("models/qwen2").to_str().unwrap(),
        "--task",
        f.join("eval/verses_mc0.yaml").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(c, 0, "{e}");
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["docs"], 8);
    assert!(v["glassbox_shared"]["docs_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        v["glassbox_shared"]["metrics"]["verses_mc0"]["acc"],
        v["glassbox_alone"]["metrics"]["verses_mc0"]["acc"]
    );
    assert!(v["lm_eval_hf"].is_null());
    // A task file not named after its task is refused (lm-eval finds tasks by name).
    let tmp = tempfile::tempdir().unwrap();
    let renamed = tmp.path().join("other.yaml");
    std::fs::copy(f.join("eval/verses_mc0.yaml"), &renamed).unwrap();
    for d in ["verses-test.jsonl", "verses-train.jsonl"] {
        std::fs::copy(f.join("eval").join(d), tmp.path().join(d)).unwrap();
    }
    let (_, e, c) = run(&[
        "bench",
        "eval",
        "--model",
        f.join("models/qwen2").to_str().unwrap(),
        "--task",
        renamed.to_str().unwrap(),
    ]);
    assert_ne!(c, 0);
    assert!(e.contains("verses_mc0.yaml"), "{e}");
}
