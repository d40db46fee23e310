//! The *replay-verified* mark cannot be forged: only the bundle's top-level `verification.json`
//! counts, it must be tied to the current `MANIFEST.json`, and the files the replay covered must
//! still hash to what the manifest lists.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use glassbox_audit::detect::{AuditorReplay, ReplayCheckedBy};
use glassbox_audit::finding::FindingKind;
use glassbox_audit::{Report, audit_path, audit_path_with};
use glassbox_core::hash::sha256_hex;
use serde_json::json;

/// A small bundle: weights, two checkpoints, a dataset, a recipe and a MANIFEST.json hashing
/// every file.
struct Bundle {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

const FILES: &[(&str, &[u8])] = &[
    ("README.md", b"---\nlicense: apache-2.0\n---\n# tiny\n"),
    (
        "config.json",
        br#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
    ),
    ("model.safetensors", b"final weights"),
    ("recipe.toml", b"[model]\npreset = \"tiny\"\n"),
    (
        "data/manifest.json",
        br#"{"sources": [{"license": "CC0-1.0"}]}"#,
    ),
    ("data/shard-00000.bin", b"tokens tokens tokens"),
    ("checkpoints/index.json", b"{}"),
    (
        "checkpoints/step-0000002/model.safetensors",
        b"weights at step 2",
    ),
    (
        "checkpoints/step-0000002/optimizer.safetensors",
        b"moments at step 2",
    ),
    (
        "checkpoints/step-0000004/model.safetensors",
        b"weights at step 4",
    ),
    (
        "checkpoints/step-0000004/optimizer.safetensors",
        b"moments at step 4",
    ),
];

impl Bundle {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("bundle");
        for (p, b) in FILES {
            write(&root, p, b);
        }
        let b = Self { _tmp: tmp, root };
        b.write_manifest();
        b
    }

    fn write_manifest(&self) {
        let files: Vec<_> = FILES
            .iter()
            .map(|(p, _)| {
                let bytes = std::fs::read(self.root.join(p)).unwrap();
                json!({"path": p, "bytes": bytes.len(), "sha256": sha256_hex(&bytes)})
            })
            .collect();
        let m = json!({"schema_version": 1, "files": files});
        write(&self.root, "MANIFEST.json", m.to_string().as_bytes());
    }

    /// The record `glassbox verify` writes after a passed replay of steps 2→4.
    fn genuine_record(&self) -> serde_json::Value {
        let manifest = std::fs::read(self.root.join("MANIFEST.json")).unwrap();
        json!({
            "schema_version": 1,
            "glassbox_version": "0.1.0",
            "manifest_sha256": sha256_hex(&manifest),
            "checks": [],
            "replay": {"from": 2, "to": 4, "passed": true,
                       "weights_sha256": sha256_hex(b"weights at step 4")},
        })
    }

    fn record(&self, path: &str, v: &serde_json::Value) {
        write(&self.root, path, v.to_string().as_bytes());
    }

    fn audit(&self) -> Report {
        audit_path(&self.root).unwrap()
    }
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn replay_findings(r: &Report) -> String {
    r.findings
        .iter()
        .filter(|f| f.kind == FindingKind::Reproducibility)
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn genuine_record_earns_the_publisher_mark() {
    let b = Bundle::new();
    b.record("verification.json", &b.genuine_record());
    let r = b.audit();
    let m = r
        .replay
        .as_ref()
        .unwrap_or_else(|| panic!("{}", replay_findings(&r)));
    assert!(r.replay_verified);
    assert_eq!(m.checked_by, ReplayCheckedBy::Publisher);
    assert_eq!((m.from, m.to, m.glassbox_version.as_str()), (2, 4, "0.1.0"));
    // recipe, 2 data files, 2 files in each of the two checkpoints.
    assert_eq!(m.files_hashed, 7);
    assert!(m.describe().contains("recorded") || m.describe().contains("publisher"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["replay"]["checked_by"], "publisher");
}

#[test]
fn hand_written_record_is_refused() {
    let b = Bundle::new();
    b.record("verification.json", &json!({"replay": {"passed": true}}));
    let r = b.audit();
    assert!(!r.replay_verified && r.replay.is_none());
    assert!(replay_findings(&r).contains("does not name the glassbox version"));
    // With a version and an interval but no manifest hash: still nothing ties it to the files.
    let mut v = b.genuine_record();
    v.as_object_mut().unwrap().remove("manifest_sha256");
    b.record("verification.json", &v);
    let r = b.audit();
    assert!(!r.replay_verified);
    assert!(replay_findings(&r).contains("no manifest_sha256"));
}

#[test]
fn nested_record_is_ignored() {
    let b = Bundle::new();
    b.record("checkpoints/verification.json", &b.genuine_record());
    let r = b.audit();
    assert!(!r.replay_verified);
    assert!(replay_findings(&r).contains("not the bundle's top-level verification record"));
}

#[test]
fn stale_record_is_refused() {
    let b = Bundle::new();
    let v = b.genuine_record();
    // The bundle changes after verification and its manifest is rewritten to match.
    write(&b.root, "recipe.toml", b"[model]\npreset = \"small\"\n");
    b.write_manifest();
    b.record("verification.json", &v);
    let r = b.audit();
    assert!(!r.replay_verified);
    assert!(replay_findings(&r).contains("different MANIFEST.json"));
}

#[test]
fn changed_checkpoint_byte_is_refused() {
    let b = Bundle::new();
    b.record("verification.json", &b.genuine_record());
    // Same size, one byte different: the size check of the bundle passes, the hash does not.
    write(
        &b.root,
        "checkpoints/step-0000002/optimizer.safetensors",
        b"moments at step 3",
    );
    let r = b.audit();
    assert!(!r.replay_verified);
    let f = replay_findings(&r);
    assert!(
        f.contains(
            "checkpoints/step-0000002/optimizer.safetensors does not match its MANIFEST.json hash"
        ),
        "{f}"
    );
}

#[test]
fn record_about_other_weights_is_refused() {
    let b = Bundle::new();
    let mut v = b.genuine_record();
    v["replay"]["weights_sha256"] = json!(sha256_hex(b"some other weights"));
    b.record("verification.json", &v);
    let r = b.audit();
    assert!(!r.replay_verified);
    assert!(replay_findings(&r).contains("not MANIFEST.json's hash of"));
    // An interval whose checkpoints are not in the bundle.
    let mut v = b.genuine_record();
    v["replay"]["to"] = json!(8);
    b.record("verification.json", &v);
    assert!(replay_findings(&b.audit()).contains("step 8"));
}

#[test]
fn auditor_replay_is_worded_apart_and_failure_removes_the_mark() {
    let b = Bundle::new();
    b.record("verification.json", &b.genuine_record());
    let ok = AuditorReplay {
        passed: true,
        interval: Some((2, 4)),
        failures: Vec::new(),
    };
    let r = audit_path_with(&b.root, Some(&ok)).unwrap();
    let m = r.replay.as_ref().unwrap();
    assert_eq!(m.checked_by, ReplayCheckedBy::Auditor);
    assert!(m.describe().contains("this audit replayed steps 2→4"));
    let failed = AuditorReplay {
        passed: false,
        interval: Some((2, 4)),
        failures: vec!["replay: 1 tensor(s) differ".into()],
    };
    let r = audit_path_with(&b.root, Some(&failed)).unwrap();
    assert!(!r.replay_verified);
    assert!(replay_findings(&r).contains("1 tensor(s) differ"));
}
