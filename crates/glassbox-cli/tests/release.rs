//! Release bundles through the real binary: a bundle audits as Radical Openness and, after
//! `verify`, replay-verified; removing its data manifest or relicensing the weights under a RAIL
//! licence drops the level; tampering, a missing checkpoint, a newer format, a recipe that no
//! longer parses, a corpus one byte off and forged weights each give a failed verdict naming the
//! file or tensor; `trace` answers both directions and the two agree.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn test_corpus() -> PathBuf {
    common::corpus("en_web.txt")
}

fn glassbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One quickstart (tiny model, 8 steps, the first 10,000 verses) shared by every test; tests work
/// on copies of its bundle.
fn base() -> &'static Path {
    static BASE: OnceLock<tempfile::TempDir> = OnceLock::new();
    BASE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let corpus = tmp.path().join("corpus.txt");
        let full = std::fs::read_to_string(test_corpus()).unwrap();
        let part: Vec<&str> = full.lines().take(10000).collect();
        std::fs::write(&corpus, part.join("\n") + "\n").unwrap();
        let out = tmp.path().join("qs");
        let o = glassbox(&[
            "quickstart",
            "--corpus",
            s(&corpus),
            "--corpus-license",
            "public-domain",
            "--out",
            s(&out),
            "--steps",
            "8",
            "--preset",
            "tiny",
            "--vocab-size",
            "512",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        tmp
    })
    .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A private copy of the quickstart's bundle.
fn bundle_copy(tmp: &Path) -> PathBuf {
    let b = tmp.join("bundle");
    copy_dir(&base().join("qs/bundle"), &b);
    b
}

fn audit_json(bundle: &Path) -> Value {
    let o = glassbox(&["audit", s(bundle), "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn rewrite_manifest(bundle: &Path) {
    glassbox_release::manifest::write(bundle).unwrap();
}

#[test]
fn bundle_is_radical_openness_with_evidence_inside_it_and_replay_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_copy(tmp.path());
    let r = audit_json(&b);
    assert_eq!(r["level"], "radical_openness", "{r:#}");
    assert_eq!(r["replay_verified"], true);
    // The publisher's record, with the replayed files' hashes re-checked by the audit.
    assert_eq!(r["replay"]["checked_by"], "publisher", "{r:#}");
    assert!(r["replay"]["files_hashed"].as_u64().unwrap() > 4);
    for f in ["run", "study", "redistribute", "modify"] {
        assert_eq!(r["freedoms"][f]["status"], "holds", "{f}: {r:#}");
    }
    // Every piece of file evidence points at a file of the bundle.
    let mut files = 0;
    for c in r["components"].as_array().unwrap() {
        for e in c["evidence"].as_array().unwrap() {
            if let Some(p) = e.get("path").and_then(Value::as_str) {
                assert!(b.join(p).exists(), "{p}");
                files += 1;
            }
        }
    }
    assert!(files > 20);
    // The card carries the held-out results in model-index; the paper and code are there.
    let card = std::fs::read_to_string(b.join("README.md")).unwrap();
    assert!(card.starts_with("---\nlicense: \"apache-2.0\""), "{card}");
    assert!(card.contains("model-index:") && card.contains("type: perplexity"));
    assert!(b.join("code/crates/glassbox-train/src/trainer.rs").exists());
    let rev: Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("code_revision.json")).unwrap())
            .unwrap();
    assert!(rev["rustc"].as_str().unwrap().starts_with("rustc "));
    assert!(
        rev["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "candle-core")
    );
    // Without the verification record the level stands but the mark goes.
    std::fs::remove_file(b.join("verification.json")).unwrap();
    let r = audit_json(&b);
    assert_eq!(r["level"], "radical_openness");
    assert_eq!(r["replay_verified"], false);
    // `audit --verify` replays the bundle itself: the mark comes back, worded as the auditor's,
    // and nothing is written into the bundle.
    let o = glassbox(&["audit", s(&b), "--verify"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Radical Openness (replay-verified, re-run by this audit)"),
        "{out}"
    );
    assert!(!b.join("verification.json").exists());
}

#[test]
fn removing_the_data_manifest_drops_the_level_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_copy(tmp.path());
    std::fs::remove_file(b.join("data/manifest.json")).unwrap();
    let r = audit_json(&b);
    assert_ne!(r["level"], "radical_openness", "{r:#}");
    let all = r.to_string();
    assert!(all.contains("no data/manifest.json"), "{all}");
    assert!(
        all.contains("missing from the bundle: data/manifest.json"),
        "{all}"
    );
}

#[test]
fn weights_under_a_rail_licence_drop_the_level_with_the_clause() {
    let tmp = tempfile::tempdir().unwrap();
    let qs = base().join("qs");
    let rail = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../glassbox-audit/tests/fixtures/licenses/BigScience-BLOOM-RAIL-1.0.txt");
    let recipe = std::fs::read_to_string(qs.join("recipe.toml"))
        .unwrap()
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = {:?}", s(&qs.join("dataset"))),
        )
        + &format!(
            "weights_license = \"bigscience-bloom-rail-1.0\"\nlicense_texts = {{ \"bigscience-bloom-rail-1.0\" = {:?} }}\n",
            s(&rail)
        );
    let rp = tmp.path().join("recipe.toml");
    std::fs::write(&rp, recipe).unwrap();
    let run = tmp.path().join("run");
    let o = glassbox(&["train", s(&rp), "--out", s(&run)]);
    assert!(o.status.success(), "{}", text(&o));
    let b = tmp.path().join("bundle");
    let o = glassbox(&["release", s(&run), "--out", s(&b)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("weights licence: bigscience-bloom-rail-1.0"));
    let r = audit_json(&b);
    assert_eq!(r["level"], "open_weight", "{r:#}");
    let run_reasons = r["freedoms"]["run"].to_string();
    assert_eq!(r["freedoms"]["run"]["status"], "fails");
    assert!(
        run_reasons.contains("bigscience-bloom-rail-1.0")
            && run_reasons.contains("restricted uses"),
        "{run_reasons}"
    );
    assert_eq!(r["freedoms"]["modify"]["status"], "fails");
    // An unfinished run is not released.
    let part = tmp.path().join("part");
    let o = glassbox(&["train", s(&rp), "--out", s(&part), "--stop-after", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&glassbox(&[
        "release",
        s(&part),
        "--out",
        s(&tmp.path().join("b2")),
    ]));
    assert!(
        t.contains("stopped at step 3 of 8") && t.contains("--resume"),
        "{t}"
    );
}

#[test]
fn tampering_is_named_and_withdraws_the_replay_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_copy(tmp.path());
    let p = b.join("logs/train.jsonl");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let o = glassbox(&["verify", s(&b), "--no-data"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL hashes") && t.contains("logs/train.jsonl"),
        "{t}"
    );
    assert!(t.contains("NOT verified"), "{t}");
    assert_eq!(audit_json(&b)["replay_verified"], false);
    // A file slipped in is named too.
    let b2 = bundle_copy(&tmp.path().join("two"));
    std::fs::write(b2.join("extra.bin"), b"x").unwrap();
    let t = text(&glassbox(&["verify", s(&b2), "--no-data", "--no-replay"]));
    assert!(t.contains("extra.bin: not listed in MANIFEST.json"), "{t}");
}

#[test]
fn missing_checkpoint_newer_format_and_broken_recipe_are_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    // A missing checkpoint.
    let b = bundle_copy(&tmp.path().join("a"));
    std::fs::remove_dir_all(b.join("checkpoints/step-0000004")).unwrap();
    let o = glassbox(&["verify", s(&b), "--no-data", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["passed"], false);
    assert_eq!(r["checks"][0]["status"], "failed");
    assert!(
        r["checks"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("checkpoints/step-0000004/"),
        "{r:#}"
    );
    assert_eq!(
        r["checks"].as_array().unwrap().last().unwrap()["status"],
        "failed"
    );
    // Even with MANIFEST.json rewritten to match, the index still lists it.
    rewrite_manifest(&b);
    let t = text(&glassbox(&["verify", s(&b), "--no-data", "--no-replay"]));
    assert!(
        t.contains("FAIL consistency") && t.contains("checkpoint 4"),
        "{t}"
    );
    // A bundle from a newer glassbox.
    let b = bundle_copy(&tmp.path().join("b"));
    let m = b.join("MANIFEST.json");
    let v = std::fs::read_to_string(&m)
        .unwrap()
        .replace("\"schema_version\": 1", "\"schema_version\": 2");
    std::fs::write(&m, v).unwrap();
    let o = glassbox(&["verify", s(&b)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        t.contains("MANIFEST.json: schema_version 2 is not supported")
            && t.contains("written by a newer glassbox"),
        "{t}"
    );
    assert!(!t.contains(": verified"));
    // A recipe that no longer parses (and a manifest made to match it).
    let b = bundle_copy(&tmp.path().join("c"));
    let r = b.join("recipe.toml");
    let v = std::fs::read_to_string(&r)
        .unwrap()
        .replace("[train]", "[train]\nbatch_sise = 3");
    std::fs::write(&r, v).unwrap();
    rewrite_manifest(&b);
    let o = glassbox(&["verify", s(&b), "--no-data"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        t.contains("recipe.toml no longer parses") && t.contains("batch_sise"),
        "{t}"
    );
}

#[test]
fn a_corpus_one_byte_off_is_not_the_training_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_copy(tmp.path());
    let corpus = base().join("corpus.txt");
    // The bundle records the corpus path relative to its sources file, never the publisher's
    // directories; given the corpus, verify re-derives the dataset exactly.
    let sheet = std::fs::read_to_string(b.join("data/datasheet.json")).unwrap();
    assert!(!sheet.contains(base().to_str().unwrap()), "{sheet}");
    let t = text(&glassbox(&[
        "verify",
        s(&b),
        "--corpus",
        s(&corpus),
        "--no-replay",
        "--no-record",
    ]));
    assert!(t.contains("PASS data") && t.contains("identical"), "{t}");
    let mut bytes = std::fs::read(&corpus).unwrap();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    let off = tmp.path().join("corpus-off.txt");
    std::fs::write(&off, bytes).unwrap();
    let o = glassbox(&["verify", s(&b), "--corpus", s(&off), "--no-replay"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL data") && t.contains("corpus-off.txt"),
        "{t}"
    );
    assert!(
        t.contains("not the corpus this model was trained on"),
        "{t}"
    );
}

#[test]
fn forged_weights_are_caught_by_replay_naming_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_copy(tmp.path());
    // Replaying 2 → 4 reproduces checkpoint 4 bit for bit.
    let t = text(&glassbox(&[
        "verify",
        s(&b),
        "--no-data",
        "--from",
        "2",
        "--to",
        "4",
    ]));
    assert!(t.contains("PASS replay       steps 2 → 4"), "{t}");
    // Forge checkpoint 4 consistently (its state, the index and the manifest all agree).
    let ck = b.join("checkpoints/step-0000004");
    let w = ck.join("model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0x01;
    std::fs::write(&w, &bytes).unwrap();
    let sha = glassbox_release_sha(&w);
    let sp = ck.join("state.json");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&sp).unwrap()).unwrap();
    let old = state["files"]["model.safetensors"]
        .as_str()
        .unwrap()
        .to_string();
    state["files"]["model.safetensors"] = Value::String(sha.clone());
    std::fs::write(&sp, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let ssha = glassbox_release_sha(&sp);
    let ip = b.join("checkpoints/index.json");
    let mut idx: Value = serde_json::from_str(&std::fs::read_to_string(&ip).unwrap()).unwrap();
    for c in idx["checkpoints"].as_array_mut().unwrap() {
        if c["step"] == 4 {
            assert_eq!(c["files"]["model.safetensors"], Value::String(old.clone()));
            c["files"]["model.safetensors"] = Value::String(sha.clone());
            c["files"]["state.json"] = Value::String(ssha.clone());
            c["state_sha256"] = Value::String(ssha.clone());
        }
    }
    std::fs::write(&ip, serde_json::to_string_pretty(&idx).unwrap()).unwrap();
    rewrite_manifest(&b);
    let o = glassbox(&["verify", s(&b), "--no-data", "--from", "2", "--to", "4"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("PASS hashes") && t.contains("PASS consistency"),
        "{t}"
    );
    assert!(
        t.contains("FAIL replay") && t.contains("1 tensor(s) differ") && t.contains("1 of "),
        "{t}"
    );
    assert_eq!(audit_json(&b)["replay_verified"], false);
}

fn glassbox_release_sha(p: &Path) -> String {
    let m = glassbox_release::manifest::write(p.parent().unwrap()).unwrap();
    let name = p.file_name().unwrap().to_str().unwrap();
    let sha = m
        .files
        .iter()
        .find(|f| f.path == name)
        .unwrap()
        .sha256
        .clone();
    std::fs::remove_file(p.parent().unwrap().join("MANIFEST.json")).unwrap();
    sha
}

#[test]
fn trace_document_and_checkpoint_agree() {
    let b = base().join("qs/bundle");
    let o = glassbox(&["trace", s(&b), "--checkpoint", "4", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let at4: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(at4["samples"], 4 * 8);
    assert_eq!(
        at4["by_language"]["eng"]["documents"],
        at4["documents"].as_array().unwrap().len()
    );
    let id = at4["documents"][0][0].as_str().unwrap().to_string();
    let o = glassbox(&["trace", s(&b), "--doc", &id, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    let first = d["first_step"].as_u64().unwrap();
    assert!(first < 4);
    let ck = d["first_checkpoint"].as_u64().unwrap();
    assert!(ck > first && ck <= 4, "{d:#}");
    // The step trace just before its first step does not hold it; the one just after does.
    let before: Value = serde_json::from_slice(
        &glassbox(&["trace", s(&b), "--step", &first.to_string(), "--json"]).stdout,
    )
    .unwrap();
    let after: Value = serde_json::from_slice(
        &glassbox(&["trace", s(&b), "--step", &(first + 1).to_string(), "--json"]).stdout,
    )
    .unwrap();
    let has = |v: &Value| {
        v["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x[0] == id)
    };
    assert!(!has(&before) && has(&after));
    // Unknown ids and checkpoints are clear errors.
    let t = text(&glassbox(&[
        "trace",
        s(&b),
        "--doc",
        "corpus:99999999:00000000",
    ]));
    assert!(t.contains("no document corpus:99999999:00000000"), "{t}");
    let t = text(&glassbox(&["trace", s(&b), "--checkpoint", "3"]));
    assert!(t.contains("no checkpoint at step 3"), "{t}");
}

/// The run and its bundle trace a document the same way, and a sentence of it finds it.
#[test]
fn a_run_traces_like_its_bundle_and_text_finds_documents() {
    use glassbox_release::trace::{Source, document_at, find_text};
    let (run, b) = (base().join("qs/run"), base().join("qs/bundle"));
    let at4: Value =
        serde_json::from_slice(&glassbox(&["trace", s(&b), "--checkpoint", "4", "--json"]).stdout)
            .unwrap();
    let id = at4["documents"][0][0].as_str().unwrap().to_string();
    let via_bundle = serde_json::to_value(document_at(Source::Bundle(&b), &id).unwrap()).unwrap();
    let via_run = serde_json::to_value(document_at(Source::Run(&run), &id).unwrap()).unwrap();
    assert_eq!(via_bundle, via_run);
    // A phrase of the corpus names the documents holding it, the same from both.
    let phrase = "The earth was formless and empty.";
    let from_run = find_text(Source::Run(&run), phrase, 10).unwrap();
    assert_eq!(from_run, find_text(Source::Bundle(&b), phrase, 10).unwrap());
    assert!(
        !from_run.is_empty(),
        "Genesis 1:2 is in the first 10,000 verses"
    );
    assert!(
        find_text(Source::Run(&run), "no such sentence anywhere at all", 10)
            .unwrap()
            .is_empty()
    );
    // A half-written run (no run.json) is an error naming the file.
    let tmp = tempfile::tempdir().unwrap();
    let e = document_at(Source::Run(tmp.path()), &id)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run.json"), "{e}");
}

#[test]
fn referenced_checkpoints_replay_from_the_run_but_are_not_released() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("ref");
    let o = glassbox(&[
        "release",
        s(&base().join("qs/run")),
        "--out",
        s(&b),
        "--checkpoints",
        "reference",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!b.join("checkpoints/step-0000004").exists());
    let o = glassbox(&["verify", s(&b), "--no-data"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = audit_json(&b);
    assert_eq!(r["level"], "open_source_ai", "{r:#}");
    assert!(r["next_level"].to_string().contains("ntermediate"), "{r:#}");
    // An existing bundle is not overwritten without --force.
    let t = text(&glassbox(&[
        "release",
        s(&base().join("qs/run")),
        "--out",
        s(&b),
    ]));
    assert!(t.contains("already exists") && t.contains("--force"), "{t}");
}

/// Regression: `trace` multiplied the bundle's `final_step` by its batch size unchecked, and a
/// batch size of 0 reached the data order; a forged `release.json` is now an error naming it.
#[test]
fn trace_of_a_forged_release_json_is_an_error_not_an_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle_copy(tmp.path());
    let index = std::fs::read_to_string(b.join("data/index.jsonl")).unwrap();
    let first: Value = serde_json::from_str(index.lines().next().unwrap()).unwrap();
    let id = first["id"].as_str().unwrap().to_string();
    let path = b.join("release.json");
    let orig: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (pointer, value, want, checkpoint_too) in [
        ("/order/batch_size", 0, "batch_size is 0", true),
        ("/order/seq_len", 0, "seq_len is 0", true),
        ("/final_step", u64::MAX, "more samples than 2^64", false),
    ] {
        let mut r = orig.clone();
        *r.pointer_mut(pointer).unwrap() = Value::from(value);
        std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
        let mut runs = vec![["--doc", id.as_str()]];
        if checkpoint_too {
            runs.push(["--checkpoint", "4"]);
        }
        for args in runs {
            let o = glassbox(&["trace", s(&b), args[0], args[1]]);
            let t = text(&o);
            assert!(!o.status.success(), "{pointer} {args:?}: {t}");
            assert!(t.contains(want), "{pointer} {args:?}: {t}");
        }
    }
}

/// A release of a run that continued pre-training another model names that base, its hashes
/// and its declared licence, in `release.json` and the model card.
#[test]
fn a_continued_model_names_its_base_in_the_release() {
    let tmp = tempfile::tempdir().unwrap();
    let qs = base().join("qs");
    let start = qs.join("run/checkpoints/step-0000008");
    let start_copy = tmp.path().join("start");
    copy_dir(&start, &start_copy);
    std::fs::write(
        start_copy.join("README.md"),
        "---\nlicense: apache-2.0\n---\n# The base\n",
    )
    .unwrap();
    let recipe = std::fs::read_to_string(qs.join("recipe.toml")).unwrap();
    let recipe = recipe
        .replace(
            "dataset = \"dataset\"",
            &format!("dataset = {:?}", s(&qs.join("dataset"))),
        )
        .replace("preset = \"tiny\"", &format!("init = {:?}", s(&start_copy)))
        .replace("steps = 8", "steps = 2");
    assert!(recipe.contains("init = "), "{recipe}");
    let rp = tmp.path().join("recipe.toml");
    std::fs::write(&rp, recipe).unwrap();
    let run = tmp.path().join("run");
    let o = glassbox(&["train", s(&rp), "--out", s(&run)]);
    assert!(o.status.success(), "{}", text(&o));
    let b = tmp.path().join("bundle");
    let o = glassbox(&["release", s(&run), "--out", s(&b)]);
    assert!(o.status.success(), "{}", text(&o));
    let release: Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("release.json")).unwrap()).unwrap();
    assert_eq!(release["base"]["license"], "apache-2.0", "{release:#}");
    assert!(release["base"]["sha256"]["model.safetensors"].is_string());
    let card = std::fs::read_to_string(b.join("README.md")).unwrap();
    assert!(
        card.contains("Training continued from") && card.contains("apache-2.0"),
        "{card}"
    );
}
