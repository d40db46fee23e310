//! Fixture releases built in temp dirs with real licence texts from `tests/fixtures/licenses`, each
//! judged as a demanding reader would: level, freedoms, the deciding clauses, findings.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use glassbox_audit::Report;
use glassbox_audit::component::ComponentId;
use glassbox_audit::finding::FindingKind;
use glassbox_audit::verdict::{Level, Status};

mod common;

use common::{Repo, safetensors};

fn text(name: &str) -> String {
    common::license_text(name)
}

/// Weights, a Llama config and a tokenizer.
fn weights(repo: &Repo) -> &Repo {
    repo.file("model.safetensors", safetensors(16))
        .file(
            "config.json",
            r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4}"#,
        )
        .file("tokenizer.json", "{}")
}

fn reasons(r: &Report, f: &str) -> String {
    r.freedoms[f]
        .reasons
        .iter()
        .map(|x| x.text.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn has_clause(r: &Report, f: &str, license: &str, section: &str) -> bool {
    r.freedoms[f].reasons.iter().any(|x| {
        x.clause
            .as_ref()
            .is_some_and(|(l, s)| l == license && s == section)
    })
}

#[test]
fn llama3_style_release_is_open_weight_failing_run_and_modify() {
    let repo = Repo::new();
    weights(&repo)
        .file(
            "README.md",
            "---\nlicense: llama3\nlicense_name: llama3\n---\n# Meta-Llama-3-8B\n\nA model.\n",
        )
        .file("LICENSE", text("Llama-3-Community-License.txt"))
        .file("USE_POLICY.md", text("Llama-3-Acceptable-Use-Policy.txt"));
    let r = repo.audit();
    assert_eq!(
        r.level,
        Level::OpenWeight,
        "{}",
        glassbox_audit::report::to_table(&r)
    );
    assert_eq!(r.freedoms["run"].status, Status::Fails);
    assert!(
        has_clause(&r, "run", "llama-3-community", "2"),
        "700M MAU clause not cited: {}",
        reasons(&r, "run")
    );
    assert!(reasons(&r, "run").contains("700"), "{}", reasons(&r, "run"));
    assert_eq!(r.freedoms["modify"].status, Status::Fails);
    assert!(
        has_clause(&r, "modify", "llama-3-community", "1.b.i"),
        "naming clause not cited: {}",
        reasons(&r, "modify")
    );
    // The evidence points at the licence file.
    let run = &r.freedoms["run"].reasons[0];
    assert!(
        run.evidence
            .iter()
            .any(|e| e.to_string().contains("LICENSE") || e.to_string().contains("README.md"))
    );
    assert!(!r.next_level.missing.is_empty());
}

#[test]
fn apache_weights_only_release_fails_study() {
    let repo = Repo::new();
    weights(&repo)
        .file(
            "README.md",
            "---\nlicense: apache-2.0\n---\n# tiny\n\nWeights.\n",
        )
        .file("LICENSE", text("Apache-2.0.txt"));
    let r = repo.audit();
    assert_eq!(r.level, Level::OpenWeight);
    assert_eq!(
        r.freedoms["run"].status,
        Status::Holds,
        "{}",
        reasons(&r, "run")
    );
    assert_eq!(
        r.freedoms["modify"].status,
        Status::Holds,
        "{}",
        reasons(&r, "modify")
    );
    assert_eq!(r.freedoms["study"].status, Status::Fails);
    let study = reasons(&r, "study");
    assert!(
        study.contains("training code") && study.contains("training data"),
        "{study}"
    );
    assert!(
        r.next_level
            .missing
            .iter()
            .any(|m| m.contains("Training code")),
        "{:?}",
        r.next_level.missing
    );
}

fn pythia_like(repo: &Repo) {
    repo.file("model.safetensors", safetensors(64))
        .file("config.json", r#"{"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox"}"#)
        .file("tokenizer.json", "{}")
        .file("LICENSE", text("Apache-2.0.txt"))
        .file(
            "README.md",
            "---\nlicense: apache-2.0\ndatasets:\n- EleutherAI/pile\nmodel-index:\n- name: pythia\n  results:\n  - task: {type: text-generation}\n    dataset: {name: lambada, type: lambada}\n    metrics: [{type: accuracy, value: 0.5}]\n---\n# Pythia-like\n\n## Training data\n\nThe Pile, deduplicated.\n\n## Evaluation\n\n| task | acc |\n|---|---|\n| lambada | 0.5 |\n",
        )
        .file("checkpoints/step1000/model.safetensors", safetensors(64))
        .file("checkpoints/step2000/model.safetensors", safetensors(64))
        .file("training/train.py", "import torch\n# training loop\n")
        .file("training/LICENSE", text("Apache-2.0.txt"))
        .file("data/preprocess.py", "# dedup and tokenize\n")
        .file("data/train-00000.jsonl", "{\"text\": \"In the beginning\"}\n")
        .file("data/manifest.json", r#"{"schema_version": 1, "sources": [{"name": "web", "license": "CC0-1.0"}, {"name": "bible", "license": "CC-BY-4.0"}]}"#)
        .file("datasheet.md", "# Datasheet\n")
        .file("eval/eval.py", "# evaluation harness\n")
        .file("eval/data/lambada.jsonl", "{}\n")
        .file("paper/pythia.pdf", "%PDF-1.4 fake")
        .file("paper/LICENSE", text("CC-BY-4.0.txt"))
        .file("logs/train.jsonl", "{\"step\": 1, \"loss\": 10.0}\n")
        .file("data/order/data_order.bin", [0u8; 16])
        .file("recipe.toml", "[model]\npreset = \"tiny\"\n");
}

#[test]
fn pythia_style_release_is_radical_openness() {
    let repo = Repo::new();
    pythia_like(&repo);
    let r = repo.audit();
    assert_eq!(
        r.level,
        Level::RadicalOpenness,
        "{}",
        glassbox_audit::report::to_table(&r)
    );
    assert_eq!(r.mof.class, Some("I"));
    for f in ["run", "study", "redistribute", "modify"] {
        assert_eq!(
            r.freedoms[f].status,
            Status::Holds,
            "{f}: {}",
            reasons(&r, f)
        );
    }
    let comp = |id: ComponentId| r.components.iter().find(|c| c.id == id).unwrap();
    assert!(
        comp(ComponentId::ModelParametersIntermediate)
            .presence
            .available()
    );
    assert!(comp(ComponentId::TrainingLogs).presence.available());
    assert!(comp(ComponentId::DataOrder).presence.available());
    assert_eq!(
        comp(ComponentId::Datasets).license.as_ref().unwrap().id,
        "CC-BY-4.0"
    );
    assert!(!r.replay_verified);
    // A record anyone could write (no bundle manifest, no hashes) earns nothing; the forgery
    // tests are in tests/replay.rs.
    repo.file(
        "verification.json",
        r#"{"schema_version": 1, "replay": {"passed": true}}"#,
    );
    let r = repo.audit();
    assert!(!r.replay_verified && !r.level_text().contains("replay-verified"));
}

#[test]
fn removing_the_data_manifest_or_relicensing_weights_drops_the_level() {
    let repo = Repo::new();
    pythia_like(&repo);
    std::fs::remove_file(repo.root.join("data/manifest.json")).unwrap();
    let r = repo.audit();
    assert!(
        r.level < Level::RadicalOpenness,
        "{}",
        glassbox_audit::report::to_table(&r)
    );
    assert!(
        r.next_level
            .missing
            .iter()
            .any(|m| m.contains("training data")),
        "{:?}",
        r.next_level.missing
    );
    let repo = Repo::new();
    pythia_like(&repo);
    repo.file(
        "README.md",
        "---\nlicense: bigscience-bloom-rail-1.0\n---\n# x\n",
    )
    .file("LICENSE", text("BigScience-BLOOM-RAIL-1.0.txt"));
    let r = repo.audit();
    assert_eq!(r.level, Level::OpenWeight);
    assert_eq!(r.freedoms["modify"].status, Status::Fails);
}

#[test]
fn fine_tunes_point_at_their_base_model() {
    let repo = Repo::new();
    weights(&repo).file(
        "README.md",
        "---\nlicense: apache-2.0\nbase_model: meta-llama/Meta-Llama-3-8B\n---\n# tune\n",
    );
    let r = repo.audit();
    let f = r
        .findings
        .iter()
        .find(|f| {
            f.message
                .contains("derived from meta-llama/Meta-Llama-3-8B")
        })
        .unwrap();
    assert_eq!(f.evidence[0].to_string(), "README.md:3");
}

#[test]
fn card_without_weights_is_closed() {
    let repo = Repo::new();
    repo.file(
        "README.md",
        "---\nlicense: apache-2.0\n---\n# API-only model\n\nAccess through our API.\n",
    );
    let r = repo.audit();
    assert_eq!(r.level, Level::Closed);
    assert_eq!(r.freedoms["run"].status, Status::Fails);
    assert_eq!(
        r.next_level.missing,
        vec!["downloadable final weights (Model parameters (Final))".to_string()]
    );
}

#[test]
fn rail_release_fails_modify_on_downstream_restrictions() {
    let repo = Repo::new();
    weights(&repo)
        .file(
            "README.md",
            "---\nlicense: bigscience-bloom-rail-1.0\n---\n# bloom-like\n",
        )
        .file("LICENSE", text("BigScience-BLOOM-RAIL-1.0.txt"));
    let r = repo.audit();
    assert_eq!(r.level, Level::OpenWeight);
    assert_eq!(r.freedoms["modify"].status, Status::Fails);
    let m = &r.freedoms["modify"].reasons;
    assert!(
        // The BLOOM text numbers the condition 4.1 (its list under Section 4 is numbered).
        m.iter().any(|x| x.text.contains("§4.1")),
        "{}",
        reasons(&r, "modify")
    );
    assert_eq!(
        r.freedoms["run"].status,
        Status::Fails,
        "use restrictions (Attachment A) break Run"
    );
}

#[test]
fn card_and_licence_file_conflict_is_judged_by_the_stricter() {
    let repo = Repo::new();
    weights(&repo)
        .file("README.md", "---\nlicense: apache-2.0\n---\n# x\n")
        .file("LICENSE", text("Llama-3-Community-License.txt"));
    let r = repo.audit();
    let conflict = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LicenseConflict)
        .expect("conflict finding");
    assert!(conflict.message.contains("apache") || conflict.message.contains("Apache"));
    assert!(conflict.message.contains("llama-3-community"));
    let w = r
        .components
        .iter()
        .find(|c| c.id == ComponentId::ModelParametersFinal)
        .unwrap();
    assert_eq!(w.license.as_ref().unwrap().id, "llama-3-community");
    assert_eq!(r.freedoms["run"].status, Status::Fails);
}

#[test]
fn hostile_inputs_are_bounded_findings() {
    let repo = Repo::new();
    // A pickle that would run `posix.system("id")`, a binary LICENSE, a huge card, bad JSON.
    let evil: &[u8] = b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";
    let mut big = "---\nlicense: mit\n---\n".to_string();
    big.push_str(&"x".repeat(3 << 20));
    repo.file("pytorch_model.bin", evil)
        .file("LICENSE", [0u8, 1, 2, 3, 0, 255])
        .file("README.md", big)
        .file("config.json", "{\"a\": [[[[");
    let r = repo.audit();
    let sec = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Security)
        .expect("security finding");
    assert!(sec.message.contains("posix.system"), "{}", sec.message);
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("LICENSE is binary"))
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::Bounded && f.message.contains("README.md"))
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::Malformed && f.message.contains("config.json"))
    );
    assert_eq!(r.level, Level::OpenWeight);
}

#[test]
fn gguf_release_reads_licence_from_metadata() {
    let repo = Repo::new();
    let mut d = b"GGUF".to_vec();
    d.extend_from_slice(&3u32.to_le_bytes());
    d.extend_from_slice(&0u64.to_le_bytes());
    d.extend_from_slice(&1u64.to_le_bytes());
    let s = |x: &str| [&(x.len() as u64).to_le_bytes()[..], x.as_bytes()].concat();
    d.extend(s("general.license"));
    d.extend_from_slice(&8u32.to_le_bytes());
    d.extend(s("mit"));
    repo.file("model-q4.gguf", d);
    let r = repo.audit();
    assert!(r.licenses.iter().any(|l| l.license.id == "MIT"));
    assert_eq!(
        r.weights[0].format,
        glassbox_audit::detect::WeightFormat::Gguf
    );
}

#[test]
fn reports_render_in_every_format() {
    let repo = Repo::new();
    weights(&repo)
        .file("README.md", "---\nlicense: llama3\n---\n# x\n")
        .file("LICENSE", text("Llama-3-Community-License.txt"));
    let r = repo.audit();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["level"], "open_weight");
    assert_eq!(json["freedoms"]["run"]["status"], "fails");
    let md = glassbox_audit::report::to_markdown(&r);
    assert!(md.contains("| run | FAILS |"));
    let html = glassbox_audit::report::to_html(&r);
    assert!(
        html.starts_with("<!doctype html>") && html.contains("<svg") && !html.contains("http://")
            || html.contains("xmlns=\"http://www.w3.org/2000/svg\"")
    );
    assert!(!html.contains("<script"));
    // The page: the level marked on the spectrum, the run freedom failing with the licence's own
    // sentence quoted and linked to its line, and the three exports as downloads.
    assert!(html.contains("aria-current=\"step\">Open-Weight (this release)</li>"));
    assert!(html.contains("run: <span class=\"fails\">fails</span>"));
    assert!(
        html.contains("§2 of <code>llama-3-community</code>"),
        "the clause is named"
    );
    let root = repo.root.display().to_string();
    assert!(
        html.contains(&format!("href=\"{}/LICENSE\"", root.replace(' ', "%20"))),
        "the clause links to the LICENSE file beside the report's target"
    );
    for (file, mime) in [
        ("repo.audit.json", "application/json"),
        ("repo.mot.yml", "application/yaml"),
        ("repo.cdx.json", "application/json"),
    ] {
        assert!(
            html.contains(&format!("download=\"{file}\" href=\"data:{mime};base64,")),
            "{file}"
        );
    }
    let bom = glassbox_audit::report::to_cyclonedx(&r);
    assert_eq!(bom["specVersion"], "1.6");
    assert_eq!(bom["components"][0]["type"], "machine-learning-model");
    let comps: Vec<_> = r.components.clone();
    let mot = glassbox_audit::mot::export("x", "y", &comps, &Default::default());
    let back = glassbox_audit::mot::parse(
        &serde_norway::from_str(&mot).unwrap(),
        Path::new("export.yml"),
    )
    .unwrap();
    assert!(
        back.detection.components[&ComponentId::ModelParametersFinal]
            .presence
            .available()
    );
}

#[test]
fn directory_of_targets_is_a_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    std::fs::create_dir(&a).unwrap();
    std::fs::write(a.join("README.md"), "---\nlicense: mit\n---\n").unwrap();
    std::fs::write(tmp.path().join("m.yml"), "release:\n  name: m\n  components:\n    - name: 'Model parameters (Final)'\n      license: MIT\n").unwrap();
    assert!(glassbox_audit::is_batch_dir(tmp.path()));
    assert!(!glassbox_audit::is_batch_dir(&a));
    let out = glassbox_audit::audit_batch(tmp.path());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].1.as_ref().unwrap().level, Level::Closed);
    assert_eq!(out[1].1.as_ref().unwrap().level, Level::OpenWeight);
}
