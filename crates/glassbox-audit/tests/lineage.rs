//! Lineage: an adapted model (a PEFT adapter, a fine-tune naming `base_model:`, a bundle whose
//! `release.json` has a `base`) is bound by its base's terms whatever its own licence says.
//! Releases and their bases are written side by side in a temp dir with real licence texts from
//! `tests/fixtures/licenses`; each test checks the level, the freedoms and the words the report
//! uses, and compares with the level the release would have on its own files.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use glassbox_audit::lineage::{Base, BaseStatus, TermsSource};
use glassbox_audit::report::{self, Report};
use glassbox_audit::verdict::{Level, Status, judge};
use glassbox_audit::{audit_path, detect, local_snapshot};

mod common;

use common::{license_text, safetensors};

/// Several release directories in one temp dir, so a release can name `../base`.
struct Tree {
    tmp: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes `dir/path` (parents created).
    fn file(&self, dir: &str, path: &str, contents: impl AsRef<[u8]>) -> &Self {
        let p = self.dir(dir).join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    fn audit(&self, dir: &str) -> Report {
        audit_path(&self.dir(dir)).unwrap()
    }

    /// The level the release would have on its own files, its bases ignored.
    fn own_level(&self, dir: &str) -> Level {
        judge(&detect::detect(&mut local_snapshot(&self.dir(dir))), None).level
    }

    /// A base under Apache-2.0 that reaches Open-Source AI: weights, a Llama config (runs with
    /// transformers), training code, a datasheet.
    fn open_base(&self, dir: &str) -> &Self {
        self.file(dir, "model.safetensors", safetensors(16))
            .file(
                dir,
                "config.json",
                r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
            )
            .file(dir, "tokenizer.json", "{}")
            .file(dir, "train.py", "# training loop\n")
            .file(dir, "datasheet.md", "# Datasheet\n\nPublic-domain books.\n")
            .file(
                dir,
                "README.md",
                "---\nlicense: apache-2.0\n---\n# open base\n\n## Training data\n\nBooks.\n",
            )
            .file(dir, "LICENSE", license_text("Apache-2.0.txt"))
    }

    /// A base under the Llama 3.2 Community License and its acceptable-use policy (weights and a
    /// config only, as Meta publishes them: no training code).
    fn llama_base(&self, dir: &str) -> &Self {
        self.file(dir, "model.safetensors", safetensors(16))
            .file(
                dir,
                "config.json",
                r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
            )
            .file(dir, "tokenizer.json", "{}")
            .file(
                dir,
                "README.md",
                "---\nlicense: llama3.2\n---\n# Llama-3.2-1B\n\nA model.\n",
            )
            .file(
                dir,
                "LICENSE",
                license_text("Llama-3.2-Community-License.txt"),
            )
            .file(
                dir,
                "USE_POLICY.md",
                license_text("Llama-3.2-Acceptable-Use-Policy.txt"),
            )
    }

    /// A LoRA adapter in PEFT's layout under Apache-2.0 whose own files reach Open-Source AI:
    /// `adapter_config.json` naming `base`, the adapter weights, its training script and a card
    /// describing its data (`card_base`: the card's `base_model:` line, if any).
    fn adapter(&self, dir: &str, base: &str, card_base: Option<&str>) -> &Self {
        let config = serde_json::json!({
            "base_model_name_or_path": base,
            "peft_type": "LORA",
            "r": 4,
            "lora_alpha": 8,
            "target_modules": ["q_proj", "v_proj"],
            "task_type": "CAUSAL_LM",
        });
        let card_base = card_base.map_or(String::new(), |b| format!("base_model: {b}\n"));
        self.file(
            dir,
            "adapter_config.json",
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .file(dir, "adapter_model.safetensors", safetensors(8))
        .file(dir, "train_lora.py", "# LoRA training\n")
        .file(
            dir,
            "README.md",
            format!(
                "---\nlicense: apache-2.0\nlibrary_name: peft\n{card_base}---\n# adapter\n\n## Training data\n\nSpanish books.\n"
            ),
        )
        .file(dir, "LICENSE", license_text("Apache-2.0.txt"))
    }
}

fn reasons(r: &Report, f: &str) -> String {
    r.freedoms[f]
        .reasons
        .iter()
        .map(|x| x.text.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn only_base(r: &Report) -> &Base {
    let l = r.lineage.as_ref().expect("a lineage section");
    assert_eq!(l.bases.len(), 1, "{:#?}", l.bases);
    &l.bases[0]
}

/// Follows the first base down the chain, `levels` times.
fn nth_base(r: &Report, levels: usize) -> &Base {
    let mut b = only_base(r);
    for _ in 1..levels {
        b = &b.lineage.as_ref().expect("a deeper lineage").bases[0];
    }
    b
}

#[test]
fn apache_adapter_over_a_llama_base_is_held_to_the_base_and_says_so() {
    let t = Tree::new();
    t.llama_base("llama").adapter("adapter", "../llama", None);
    assert_eq!(t.own_level("adapter"), Level::OpenSourceAi);
    let r = t.audit("adapter");
    let table = report::to_table(&r);
    assert_eq!(r.level, Level::OpenWeight, "{table}");
    let b = only_base(&r);
    assert_eq!(b.status, BaseStatus::Audited);
    assert!(b.available);
    assert_eq!(b.level, Some(Level::OpenWeight));
    assert_eq!(b.license.as_ref().unwrap().id, "llama-3.2-community");
    assert_eq!(b.license_source, Some(TermsSource::Audit));
    assert_eq!(b.found_in[0].file, "adapter_config.json");
    assert_eq!(b.found_in[0].field, "base_model_name_or_path");
    assert_eq!(b.found_in[0].line, Some(2));
    // Run and modify fail on the base's clauses, named as holding the adapter back, and the
    // first reason says the adapter inherits the base's terms whatever its own licence says.
    for f in ["run", "modify"] {
        let v = &r.freedoms[f];
        assert_eq!(v.status, Status::Fails, "{f}: {}", reasons(&r, f));
        assert!(
            v.reasons[0].text.starts_with(
                "inherits the base model's terms: `llama-3.2-community` (`../llama`), whatever this release's own licence says — "
            ),
            "{f}: {}",
            reasons(&r, f)
        );
        assert!(
            v.reasons.iter().any(|x| x
                .clause
                .as_ref()
                .is_some_and(|(l, s)| l.starts_with("llama-3.2") && !s.is_empty())),
            "{f}: no Llama 3.2 clause: {}",
            reasons(&r, f)
        );
        // The evidence points into the base, from the adapter's root.
        assert!(
            v.reasons[0]
                .evidence
                .iter()
                .any(|e| e.to_string().starts_with("../llama/")),
            "{:?}",
            v.reasons[0].evidence
        );
    }
    // Missing for Open-Source AI: the freedoms the base breaks, and the base's own place.
    let missing = r.next_level.missing.join("\n");
    assert!(
        missing.contains("the freedom to run fails: inherits the base model's terms"),
        "{missing}"
    );
    assert!(
        missing.contains("the base model `../llama` is Open-Weight"),
        "{missing}"
    );
    assert!(!r.osaid.conformant);
    // Every rendering says so.
    assert!(
        table.contains("lineage") && table.contains("base `../llama`  audited, Open-Weight"),
        "{table}"
    );
    assert!(
        table.contains("inherits the base model's terms: `llama-3.2-community` (`../llama`)"),
        "{table}"
    );
    assert!(report::to_markdown(&r).contains("## Lineage"));
    assert!(report::to_html(&r).contains("<h2>Lineage</h2>"));
    let json = serde_json::to_value(&r).unwrap();
    let jb = &json["lineage"]["bases"][0];
    assert_eq!(jb["name"], "../llama");
    assert_eq!(jb["available"], true);
    assert_eq!(jb["status"], "audited");
    assert_eq!(jb["found_in"][0]["field"], "base_model_name_or_path");
    assert_eq!(json["lineage"]["adapter"], true);
    let bom = report::to_cyclonedx(&r);
    assert_eq!(
        bom["components"][0]["pedigree"]["ancestors"][0]["name"],
        "../llama"
    );
}

#[test]
fn adapter_over_an_open_base_keeps_its_own_level() {
    let t = Tree::new();
    t.open_base("base");
    // The card names the same base by its absolute path: one base, named in two places.
    let abs = t.dir("base").display().to_string();
    t.adapter("adapter", "../base", Some(&abs));
    let r = t.audit("adapter");
    assert_eq!(r.level, Level::OpenSourceAi, "{}", report::to_table(&r));
    assert_eq!(r.level, t.own_level("adapter"));
    for (f, v) in &r.freedoms {
        assert_eq!(v.status, Status::Holds, "{f}: {}", reasons(&r, f));
    }
    let b = only_base(&r);
    assert_eq!(b.status, BaseStatus::Audited);
    assert_eq!(b.level, Some(Level::OpenSourceAi));
    assert_eq!(b.license.as_ref().unwrap().id, "Apache-2.0");
    assert_eq!(b.found_in.len(), 2, "{:?}", b.found_in);
    assert_eq!(b.found_in[1].field, "base_model");
    let said = &r.lineage.as_ref().unwrap().inherited[0];
    assert!(said.contains("keeps every freedom"), "{said}");
    // OSAID asks for data-processing code, which neither has: the base's gap is named too.
    assert!(
        r.osaid.missing.iter().any(|m| m
            == "the base model `../base` does not conform, and this release inherits its terms"),
        "{:#?}",
        r.osaid.missing
    );
}

#[test]
fn a_hub_named_base_not_on_this_machine_is_reported_unchecked() {
    let t = Tree::new();
    t.adapter(
        "adapter",
        "meta-llama/Llama-3.2-1B",
        Some("meta-llama/Llama-3.2-1B"),
    );
    let r = t.audit("adapter");
    // The adapter is auditable: its weights are the released weights, described as an adapter.
    let w = r
        .components
        .iter()
        .find(|c| c.id == glassbox_audit::component::ComponentId::ModelParametersFinal)
        .unwrap();
    assert!(w.presence.available());
    assert!(
        w.note.as_deref().unwrap_or("").contains("PEFT adapter"),
        "{:?}",
        w.note
    );
    assert_eq!(t.own_level("adapter"), Level::OpenSourceAi);
    // Its base could not be checked: every freedom the base's terms decide is unknown, so it
    // cannot pass Open-Weight.
    assert_eq!(r.level, Level::OpenWeight, "{}", report::to_table(&r));
    let b = only_base(&r);
    assert_eq!(b.name, "meta-llama/Llama-3.2-1B");
    assert!(!b.available);
    assert_eq!(b.status, BaseStatus::NotLocal);
    assert!(b.license.is_none() && b.level.is_none());
    assert_eq!(b.found_in.len(), 2, "{:?}", b.found_in);
    for f in ["run", "study", "redistribute", "modify"] {
        assert_eq!(r.freedoms[f].status, Status::Unknown, "{f}");
        let text = reasons(&r, f);
        assert!(
            text.contains("`meta-llama/Llama-3.2-1B`") && text.contains("could not be checked"),
            "{f}: {text}"
        );
    }
    assert!(
        reasons(&r, "run").starts_with("running this adapter needs its base model"),
        "{}",
        reasons(&r, "run")
    );
    let table = report::to_table(&r);
    assert!(
        table.contains("not checked: it is not available locally"),
        "{table}"
    );
    assert!(
        r.next_level
            .missing
            .iter()
            .any(|m| m.contains("the freedom to run is unknown")),
        "{:#?}",
        r.next_level.missing
    );
}

/// A release whose own files reach Open-Source AI, with a `release.json` naming its base.
fn continued(t: &Tree, dir: &str, base: serde_json::Value) {
    t.open_base(dir);
    t.file(
        dir,
        "release.json",
        serde_json::to_string_pretty(&serde_json::json!({
            "schema_version": 1,
            "name": "continued",
            "base": base,
        }))
        .unwrap(),
    );
}

#[test]
fn release_json_base_licence_is_used_when_the_base_is_not_here() {
    let t = Tree::new();
    continued(
        &t,
        "release",
        serde_json::json!({
            "path": "models/start",
            "license": "llama3.2",
            "license_files": ["LICENSE", "USE_POLICY.md"],
            "sha256": {"model.safetensors": "ab".repeat(32)},
        }),
    );
    assert_eq!(t.own_level("release"), Level::OpenSourceAi);
    let r = t.audit("release");
    assert_eq!(r.level, Level::OpenWeight, "{}", report::to_table(&r));
    let b = only_base(&r);
    assert_eq!(b.status, BaseStatus::NotLocal);
    assert_eq!(b.found_in[0].file, "release.json");
    assert_eq!(b.found_in[0].field, "base.path");
    assert_eq!(b.recorded_license.as_deref(), Some("llama3.2"));
    assert_eq!(b.license.as_ref().unwrap().id, "llama-3.2-community");
    assert_eq!(b.license_source, Some(TermsSource::ReleaseJson));
    let run = &r.freedoms["run"];
    assert_eq!(run.status, Status::Fails, "{}", reasons(&r, "run"));
    assert!(
        run.reasons[0].text.starts_with(
            "inherits the base model's terms: `llama-3.2-community` (`models/start`, as release.json records them)"
        ),
        "{}",
        reasons(&r, "run")
    );
    assert!(
        run.reasons[0]
            .clause
            .as_ref()
            .is_some_and(|(l, _)| l.starts_with("llama-3.2")),
        "{:?}",
        run.reasons[0]
    );
    // What only the base's files could show stays unknown.
    assert_eq!(r.freedoms["study"].status, Status::Unknown);
    assert!(
        reasons(&r, "study").contains("could not be checked"),
        "{}",
        reasons(&r, "study")
    );
}

#[test]
fn release_json_base_found_here_is_audited_and_compared_with_the_record() {
    let t = Tree::new();
    t.open_base("start");
    let readme = std::fs::read(t.dir("start").join("README.md")).unwrap();
    continued(
        &t,
        "release",
        serde_json::json!({
            "path": "../start",
            "license": "cc-by-nc-4.0",
            "license_files": ["LICENSE"],
            "sha256": {
                "README.md": glassbox_core::hash::sha256_hex(&readme),
                "LICENSE": "00".repeat(32),
            },
        }),
    );
    let r = t.audit("release");
    let b = only_base(&r);
    assert_eq!(b.status, BaseStatus::Audited);
    assert_eq!(b.license.as_ref().unwrap().id, "Apache-2.0");
    // The record and the base disagree: both bind, so the non-commercial clause fails run.
    let conflict = r
        .findings
        .iter()
        .find(|f| {
            f.message
                .contains("release.json records the base's licence as `CC-BY-NC-4.0`")
        })
        .expect("a conflict finding");
    assert!(
        conflict.evidence[0]
            .to_string()
            .starts_with("release.json:")
    );
    assert_eq!(r.freedoms["run"].status, Status::Fails);
    assert!(
        r.freedoms["run"]
            .reasons
            .iter()
            .any(|x| x.clause.as_ref().is_some_and(|(l, _)| l == "CC-BY-NC-4.0")),
        "{}",
        reasons(&r, "run")
    );
    assert_eq!(r.level, Level::OpenWeight);
    // The LICENSE file is not the one recorded; the card is.
    let notes = r.lineage.as_ref().unwrap().notes.join("\n");
    assert!(
        notes.contains("is not the one release.json records: LICENSE (SHA-256"),
        "{notes}"
    );
    assert!(!notes.contains("README.md ("), "{notes}");
}

#[test]
fn a_loop_of_bases_terminates_with_a_clear_note() {
    let t = Tree::new();
    t.adapter("a", "../b", None).adapter("b", "../a", None);
    let r = t.audit("a");
    let b = only_base(&r);
    assert_eq!(b.name, "../b");
    assert_eq!(b.status, BaseStatus::Audited);
    let back = nth_base(&r, 2);
    assert_eq!(back.name, "../a");
    assert_eq!(back.status, BaseStatus::Loop);
    let notes = r.lineage.as_ref().unwrap().notes.join("\n");
    assert!(
        notes.contains("via base `../b`: the chain of base models loops:")
            && notes.contains("→ `../b` → `../a`")
            && notes.contains("treats that base's terms as unknown"),
        "{notes}"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("the chain of base models loops")),
        "{:#?}",
        r.findings
    );
    // A loop decides nothing: the terms it hides are unknown, so neither release passes
    // Open-Weight.
    assert_eq!(r.level, Level::OpenWeight);
    assert_eq!(r.freedoms["run"].status, Status::Unknown);
    // A release that names itself loops at once.
    t.adapter("selfish", ".", None);
    let r = t.audit("selfish");
    assert_eq!(only_base(&r).status, BaseStatus::Loop);
    assert_eq!(r.level, Level::OpenWeight);
}

#[test]
fn a_chain_longer_than_the_limit_stops_with_a_note() {
    let t = Tree::new();
    let n = glassbox_audit::lineage::MAX_DEPTH + 2;
    for i in 0..n {
        t.adapter(&format!("m{i}"), &format!("../m{}", i + 1), None);
    }
    t.open_base(&format!("m{n}"));
    let r = t.audit("m0");
    let deepest = nth_base(&r, glassbox_audit::lineage::MAX_DEPTH + 1);
    assert_eq!(deepest.status, BaseStatus::TooDeep, "{deepest:#?}");
    let notes = r.lineage.as_ref().unwrap().notes.join("\n");
    assert!(notes.contains("at most 4 levels of bases"), "{notes}");
    assert_eq!(r.level, Level::OpenWeight);
}

#[test]
fn a_fine_tune_naming_its_bases_in_the_card_inherits_each() {
    let t = Tree::new();
    t.llama_base("llama").open_base("tune");
    t.file(
        "tune",
        "README.md",
        "---\nlicense: apache-2.0\nbase_model:\n  - ../llama\n  - org/other-model\n---\n# tune\n\n## Training data\n\nBooks.\n",
    );
    assert_eq!(t.own_level("tune"), Level::OpenSourceAi);
    let r = t.audit("tune");
    let l = r.lineage.as_ref().unwrap();
    assert!(!l.adapter);
    assert_eq!(l.bases.len(), 2);
    assert_eq!(l.bases[0].status, BaseStatus::Audited);
    assert_eq!(l.bases[1].status, BaseStatus::NotLocal);
    assert!(
        l.bases
            .iter()
            .all(|b| b.found_in[0].field == "base_model" && b.found_in[0].line == Some(3))
    );
    assert_eq!(r.level, Level::OpenWeight);
    assert_eq!(r.freedoms["modify"].status, Status::Fails);
    let modify = reasons(&r, "modify");
    assert!(
        modify.contains("`llama-3.2-community` (`../llama`)")
            && modify.contains("`org/other-model`"),
        "{modify}"
    );
}

#[test]
fn an_adapter_that_names_no_base_is_judged_unknown() {
    let t = Tree::new();
    t.adapter("adapter", "", None);
    let r = t.audit("adapter");
    assert!(
        r.findings.iter().any(|f| f
            .message
            .contains("names no base model (`base_model_name_or_path`)")),
        "{:#?}",
        r.findings
    );
    assert_eq!(only_base(&r).status, BaseStatus::Unnamed);
    assert_eq!(r.freedoms["run"].status, Status::Unknown);
    assert_eq!(r.level, Level::OpenWeight);
}

#[test]
fn a_base_directory_without_model_files_is_not_audited() {
    let t = Tree::new();
    t.file("empty", "notes.txt", "nothing here\n");
    t.adapter("adapter", "../empty", None);
    let r = t.audit("adapter");
    let b = only_base(&r);
    assert!(b.available);
    assert_eq!(b.status, BaseStatus::NotAModel);
    assert_eq!(r.freedoms["run"].status, Status::Unknown);
    assert!(Path::new(b.path.as_deref().unwrap()).ends_with("empty"));
}
