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
        "run/evals/heldout.jsonl",
        "bundle/evals/heldout.jsonl",
        "bundle/evals/heldout.svg",
        "bundle/evals/cloze.jsonl",
        "bundle/evals/cloze.svg",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Every checkpoint's held-out bits per byte, carried by the bundle and cited by its card.
    let curve = std::fs::read_to_string(out.join("bundle/evals/heldout.jsonl")).unwrap();
    assert_eq!(curve.lines().count(), 4, "checkpoints 0, 1, 2, 4: {curve}");
    let card = std::fs::read_to_string(out.join("bundle/README.md")).unwrap();
    assert!(card.contains("evals/heldout.svg"), "{card}");
    assert!(
        card.contains("type: \"glassbox-eval-cloze\""),
        "model-index: {card}"
    );
    let paper = std::fs::read_to_string(out.join("bundle/paper/paper.md")).unwrap();
    assert!(paper.contains("### Every checkpoint") && paper.contains("../evals/cloze.svg"));
    // The bundle's task files run again from the bundle and give the last checkpoint's numbers.
    let cloze = out.join("bundle/evals/tasks/cloze.yaml");
    assert!(
        std::fs::read_to_string(&cloze)
            .unwrap()
            .contains("test: \"cloze.jsonl\"")
    );
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["eval", "--model"])
        .arg(out.join("bundle"))
        .arg("--task")
        .arg(&cloze)
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(out.join("bundle/evals/cloze.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["results"][0]["metrics"], last["metrics"]);
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

fn quickstart(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .arg("quickstart")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn corpus_without_a_licence_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qs");
    let c = corpus();
    for extra in [&[][..], &["--corpus-license", "unknown"][..]] {
        let mut args = vec![
            "--corpus",
            c.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = quickstart(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(
            err.contains("--corpus-license") && err.contains("nothing was done"),
            "{err}"
        );
        assert!(!out.exists(), "work started before the licence was checked");
    }
}

#[test]
fn one_sentence_per_line_text_is_packed_and_what_curation_removed_is_shown() {
    // The first 6,000 verses without their references: a plain text, one sentence per line,
    // nearly every line under Gopher's 50-word minimum.
    let tmp = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(corpus()).unwrap();
    let lines: Vec<&str> = full
        .lines()
        .take(6000)
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let text = tmp.path().join("sentences.txt");
    std::fs::write(&text, lines.join("\n") + "\n").unwrap();
    let out = tmp.path().join("qs");
    let o = quickstart(&[
        "--corpus",
        text.to_str().unwrap(),
        "--corpus-license",
        "public-domain",
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "2",
        "--preset",
        "tiny",
        "--vocab-size",
        "512",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{err}");
    assert!(
        stdout.contains("packed into documents of at least 200 words"),
        "{stdout}"
    );
    let sheet: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("curated/datasheet.json")).unwrap())
            .unwrap();
    let read = sheet["totals"]["documents_read"].as_u64().unwrap();
    let kept = sheet["totals"]["documents_kept"].as_u64().unwrap();
    assert!(
        kept * 5 >= read * 4,
        "packing keeps most of the text: {kept} of {read}"
    );
    assert!(
        stdout.contains(&format!("curation kept {kept} of {read} documents")),
        "{stdout}"
    );
    let sources = std::fs::read_to_string(out.join("sources.toml")).unwrap();
    assert!(sources.contains("pack_words = 200"), "{sources}");
}

#[test]
fn too_little_left_after_curation_stops_with_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("tiny.txt");
    std::fs::write(&text, "One short line.\nAnother short line.\n").unwrap();
    let out = tmp.path().join("qs");
    let o = quickstart(&[
        "--corpus",
        text.to_str().unwrap(),
        "--corpus-license",
        "CC0-1.0",
        "--out",
        out.to_str().unwrap(),
        "--preset",
        "tiny",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stdout.contains("removed by"), "{stdout}");
    assert!(
        err.contains("survived curation") && err.contains("sources.toml"),
        "{err}"
    );
    assert!(!out.join("run").exists(), "training started anyway");
}

/// The multilingual experiment at tiny scale: an English base adapted to Spanish by LoRA,
/// continual pre-training and vocabulary expansion + continual pre-training, all measured.
#[test]
fn quickstart_adapt_es_runs_three_adaptations_and_measures_them() {
    let tmp = tempfile::tempdir().unwrap();
    let cut = |name: &str, bytes: usize| {
        let text = std::fs::read(common::corpus(name)).unwrap();
        // Whole lines only.
        let end = text[..bytes].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        let p = tmp.path().join(name);
        std::fs::write(&p, &text[..end]).unwrap();
        p
    };
    let (en, es) = (cut("en_web.txt", 1_500_000), cut("es_rv1909.txt", 400_000));
    let out = tmp.path().join("qs");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args([
            "quickstart",
            "--corpus",
            &s(&en),
            "--corpus-license",
            "public-domain",
            "--out",
            &s(&out),
            "--steps",
            "4",
            "--preset",
            "tiny",
            "--vocab-size",
            "512",
            "--adapt",
            "es",
            "--adapt-corpus",
            &s(&es),
            "--adapt-corpus-license",
            "public-domain",
            "--adapt-steps",
            "4",
            "--adapt-tokens",
            "64",
            "--adapt-eval-bytes",
            "4096",
            "--lora-rank",
            "4",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapt-es/results.json")).unwrap())
            .unwrap();
    let rows = r["results"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let get = |i: usize, k: &str| rows[i][k].as_f64().unwrap();
    for (i, row) in rows.iter().enumerate() {
        for k in ["es_bits_per_byte", "en_bits_per_byte", "es_tokens_per_word"] {
            let v = get(i, k);
            assert!(v.is_finite() && v > 0.0, "{row}");
        }
    }
    // Spanish training lowers Spanish bits per byte below the English base's, every way.
    for i in 1..4 {
        assert!(
            get(i, "es_bits_per_byte") < get(0, "es_bits_per_byte"),
            "{r}"
        );
    }
    // The extension shortens Spanish; LoRA trains far fewer parameters than full training.
    assert!(
        get(3, "es_tokens_per_word") < get(0, "es_tokens_per_word"),
        "{r}"
    );
    assert_eq!(get(1, "es_tokens_per_word"), get(0, "es_tokens_per_word"));
    assert!(
        get(1, "trainable_parameters") * 5.0 < get(2, "trainable_parameters"),
        "{r}"
    );
    assert!(get(3, "trainable_parameters") > get(2, "trainable_parameters"));
    for i in 1..4 {
        assert!(
            get(i, "peak_rss_mib") > 0.0 && get(i, "seconds") > 0.0,
            "{r}"
        );
    }
    let table = std::fs::read_to_string(out.join("adapt-es/results.md")).unwrap();
    assert!(
        table.contains("(c) vocabulary + continual pre-training"),
        "{table}"
    );
    // Both corpora are verse files: every model took the English↔Spanish verse choice, made
    // from verses whose Spanish text is held out.
    for i in 0..4 {
        let acc = get(i, "en_es_verse_choice_acc");
        assert!((0.0..=1.0).contains(&acc), "{r}");
    }
    let parallel = std::fs::read_to_string(out.join("adapt-es/tasks/parallel.jsonl")).unwrap();
    assert!(parallel.lines().count() >= 4, "{parallel}");
    // The warm-up stage changed only the new rows of the grown model.
    let load = |d: &str| {
        let (m, _) =
            glassbox_model::Transformer::load(&out.join(d), &candle_core::Device::Cpu).unwrap();
        m.named_tensors()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (grown, warm) = (
        load("adapt-es/grown"),
        load("adapt-es/vocab-warmup/checkpoints/step-0000001"),
    );
    for (name, t) in &grown {
        let a: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = warm[name].flatten_all().unwrap().to_vec1().unwrap();
        if t.dim(0).unwrap() == 576 {
            let h = t.dim(1).unwrap();
            assert_eq!(a[..512 * h], b[..512 * h], "{name}");
        } else {
            assert_eq!(a, b, "{name}");
        }
    }
}
