//! `glassbox merge` against the NumPy oracle (`tests/fixtures/make_merge_fixtures.py`): linear,
//! task arithmetic, TIES, DARE (with and without sign election) and SLERP within 1e-6 of NumPy's
//! float64 computation; the same recipe writes the same bytes twice; bad recipes and mismatched
//! models are refused naming the key or the files.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use glassbox_model::safetensors_io::SafetensorsFile;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn glassbox(args: &[&str]) -> (String, i32) {
    let (_, err, code) = common::run(args);
    (err, code)
}

#[test]
fn every_method_equals_the_numpy_oracle_and_reruns_give_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    for case in [
        "linear",
        "task_arithmetic",
        "ties",
        "dare",
        "dare_ties",
        "slerp",
    ] {
        let recipe = fixtures().join("merge").join(format!("{case}.toml"));
        let out = tmp.path().join(case);
        let (err, code) = glassbox(&[
            "merge",
            recipe.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{case}: {err}");
        let ours = SafetensorsFile::open(&out.join("model.safetensors")).unwrap();
        let want =
            SafetensorsFile::open(&fixtures().join(format!("reference/merge-{case}.safetensors")))
                .unwrap();
        assert_eq!(ours.tensors().len(), want.tensors().len(), "{case}");
        let mut worst = 0f32;
        for name in want.tensors().keys() {
            let a = ours.load_f32(name, &candle_core::Device::Cpu).unwrap();
            let b = want.load_f32(name, &candle_core::Device::Cpu).unwrap();
            let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap();
            worst = worst.max(d.max(0).unwrap().to_scalar::<f32>().unwrap());
        }
        assert!(worst <= 1e-6, "{case}: max |Δ| {worst:e}");
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("merge.json")).unwrap())
                .unwrap();
        assert_eq!(record["schema_version"], 1);
        assert!(
            record["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["sha256"]["model.safetensors"].is_string())
        );
        assert!(out.join("merge.toml").exists());
        // Tokenizer files come from the base (the fixture fine-tunes carry none).
        let has_base = record["inputs"][0]["role"] == "base";
        assert_eq!(out.join("tokenizer.json").exists(), has_base, "{case}");
        // The card names every input as a base model: the merge comes under all their terms.
        let card = std::fs::read_to_string(out.join("README.md")).unwrap();
        let inputs = record["inputs"].as_array().unwrap();
        assert!(card.contains("base_model:"), "{card}");
        for i in inputs {
            let name = std::path::Path::new(i["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(card.contains(&name), "{case}: {name} not in\n{card}");
        }
        let again = tmp.path().join(format!("{case}-again"));
        let (err, code) = glassbox(&[
            "merge",
            recipe.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        for f in ["model.safetensors", "config.json", "README.md"] {
            assert_eq!(
                std::fs::read(out.join(f)).unwrap(),
                std::fs::read(again.join(f)).unwrap(),
                "{case}: {f} differs between runs"
            );
        }
    }
}

#[test]
fn dare_draws_from_glassbox_rng_as_the_oracle_does() {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("reference/merge-rng.json")).unwrap(),
    )
    .unwrap();
    for (key, seed) in [("seed0", 0u64), ("seed7", 7)] {
        let mut rng = glassbox_core::rng::Rng::seed_from_u64(seed);
        let ours: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        let want: Vec<u64> = serde_json::from_value(v[key].clone()).unwrap();
        assert_eq!(ours, want, "{key}");
    }
}

#[test]
fn bad_merges_are_refused_naming_the_key_or_files() {
    let tmp = tempfile::tempdir().unwrap();
    let models = fixtures().join("models");
    let write = |name: &str, text: String| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let out = tmp.path().join("out");
    let cases = [
        (
            format!(
                "method = \"ties\"\nbase = \"{}\"\n[[models]]\npath = \"{}\"\n",
                models.join("llama").display(),
                models.join("llama").display()
            ),
            vec!["`density`"],
        ),
        (
            format!(
                "method = \"ties\"\ndensity = 0.5\n[[models]]\npath = \"{}\"\n",
                models.join("llama").display()
            ),
            vec!["needs `base`"],
        ),
        (
            format!(
                "method = \"soup\"\n[[models]]\npath = \"{}\"\n",
                models.join("llama").display()
            ),
            vec!["`method`", "soup"],
        ),
        (
            format!(
                "method = \"task_arithmetic\"\nbase = \"{}\"\n[[models]]\npath = \"{}\"\n",
                models.join("llama").display(),
                models.join("gpt-neox").display()
            ),
            vec!["GPTNeoXForCausalLM", "LlamaForCausalLM", "gpt-neox"],
        ),
        (
            format!(
                "method = \"linear\"\n[[models]]\npath = \"{}\"\n[[models]]\npath = \"{}\"\n",
                models.join("llama").display(),
                models.join("mistral").display()
            ),
            vec!["tensor", "mistral"],
        ),
        (
            format!(
                "method = \"slerp\"\nt = 0.5\n[[models]]\npath = \"{}\"\n",
                models.join("llama").display()
            ),
            vec!["exactly two"],
        ),
    ];
    for (i, (text, wants)) in cases.into_iter().enumerate() {
        let p = write(&format!("r{i}.toml"), text);
        let (err, code) = glassbox(&["merge", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(code, 1, "case {i}: {err}");
        for w in wants {
            assert!(err.contains(w), "case {i}: `{w}` not in {err}");
        }
    }
}
