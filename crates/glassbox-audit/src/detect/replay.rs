//! The *replay-verified* mark of a glassbox bundle, made hard to forge.
//!
//! `glassbox verify` writes `verification.json` at the bundle root after replaying a checkpoint
//! interval. Anyone can write such a file, so the audit accepts it only when:
//! - it is the bundle's top-level record (a `verification.json` anywhere else is ignored);
//! - it names the glassbox version that verified, the replayed interval and `passed: true`;
//! - its `manifest_sha256` is the SHA-256 of the current `MANIFEST.json`;
//! - every file the replay covered (the recipe, the dataset, the start checkpoint and the end
//!   checkpoint) is listed in `MANIFEST.json` and hashes to the listed SHA-256 now, and the
//!   record's `weights_sha256` is the listed hash of the end checkpoint's weights.
//!
//! The audit then reports the mark as *recorded by the publisher* (with the hashes re-checked).
//! `glassbox audit --verify` runs the replay itself and reports the mark as *re-checked by the
//! auditor* ([`AuditorReplay`]).

use serde::Serialize;
use serde_json::Value;

use super::*;

/// Who stands behind a replay mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayCheckedBy {
    /// The publisher's `verification.json`; this audit re-checked the hashes of the files the
    /// replay covered, not the replay itself.
    Publisher,
    /// This audit ran the replay (`glassbox audit --verify`).
    Auditor,
}

/// A replay that stands behind the release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayMark {
    /// Who checked.
    pub checked_by: ReplayCheckedBy,
    /// glassbox version that ran the replay.
    pub glassbox_version: String,
    /// First checkpoint step of the replayed interval.
    pub from: u64,
    /// Last checkpoint step of the replayed interval.
    pub to: u64,
    /// Files whose manifest hashes this audit re-checked (0 when the auditor replayed).
    pub files_hashed: usize,
    /// Where it comes from.
    pub evidence: Vec<Evidence>,
}

impl ReplayMark {
    /// One sentence for reports.
    pub fn describe(&self) -> String {
        match self.checked_by {
            ReplayCheckedBy::Publisher => format!(
                "the publisher's verification.json records a bit-exact replay of steps {}→{} by glassbox {}; this audit re-checked the {} replayed file(s) against MANIFEST.json, not the replay itself (re-run it with `glassbox audit --verify`)",
                self.from, self.to, self.glassbox_version, self.files_hashed
            ),
            ReplayCheckedBy::Auditor => format!(
                "this audit replayed steps {}→{} with glassbox {} and every tensor matched bit for bit",
                self.from, self.to, self.glassbox_version
            ),
        }
    }
}

/// The outcome of a replay the auditor ran (`glassbox verify` on the bundle), handed to the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditorReplay {
    /// Whether every check passed.
    pub passed: bool,
    /// The replayed interval, when the replay ran.
    pub interval: Option<(u64, u64)>,
    /// The failed checks' summaries (empty when passed).
    pub failures: Vec<String>,
}

/// Largest `verification.json` read.
const MAX_RECORD: usize = 1 << 20;

pub(super) fn detect_replay(snap: &mut Snapshot, d: &mut Detection) {
    let nested: Vec<String> = snap
        .files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| p != "verification.json" && lower_name(p).1 == "verification.json")
        .collect();
    for p in nested.iter().take(5) {
        d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Reproducibility,
            format!("{p} is not the bundle's top-level verification record: ignored"),
            vec![Evidence::file(p)],
        ));
    }
    if !snap.has("verification.json") {
        return;
    }
    let ev = vec![Evidence::file("verification.json")];
    match check_record(snap) {
        Ok(mark) => {
            d.findings.push(Finding::new(
                Severity::Info,
                FindingKind::Reproducibility,
                mark.describe(),
                ev,
            ));
            d.replay = Some(mark);
        }
        Err((severity, why)) => d.findings.push(Finding::new(
            severity,
            FindingKind::Reproducibility,
            format!("verification.json does not make the bundle replay-verified: {why}"),
            ev,
        )),
    }
}

type Refusal = (Severity, String);

fn refuse<T>(severity: Severity, why: impl Into<String>) -> Result<T, Refusal> {
    Err((severity, why.into()))
}

fn check_record(snap: &mut Snapshot) -> Result<ReplayMark, Refusal> {
    use Severity::{Error, Warning};
    if snap.kind != TargetKind::Bundle {
        return refuse(
            Warning,
            "the target is not a glassbox bundle (no MANIFEST.json at its root)",
        );
    }
    let Some(raw) = snap.read("verification.json", MAX_RECORD) else {
        return refuse(Warning, "it cannot be read");
    };
    let rec: Value = match raw.text().map(serde_json::from_str::<Value>) {
        Some(Ok(v)) if !raw.truncated => v,
        _ => return refuse(Warning, "it is not valid JSON"),
    };
    let passed = rec.pointer("/replay/passed").and_then(Value::as_bool);
    if passed != Some(true) {
        return refuse(Warning, "it does not record a passed replay");
    }
    let Some(version) = rec.get("glassbox_version").and_then(Value::as_str) else {
        return refuse(
            Warning,
            "it does not name the glassbox version that verified",
        );
    };
    let (Some(from), Some(to)) = (
        rec.pointer("/replay/from").and_then(Value::as_u64),
        rec.pointer("/replay/to").and_then(Value::as_u64),
    ) else {
        return refuse(
            Warning,
            "it does not name the replayed interval (replay.from, replay.to)",
        );
    };
    let Some(want_manifest) = rec.get("manifest_sha256").and_then(Value::as_str) else {
        return refuse(
            Warning,
            "it has no manifest_sha256, so nothing ties it to these files",
        );
    };
    let Some(mbytes) = snap.read("MANIFEST.json", MAX_JSON) else {
        return refuse(Error, "MANIFEST.json cannot be read");
    };
    if mbytes.truncated {
        return refuse(Warning, "MANIFEST.json is too large to check");
    }
    if glassbox_core::hash::sha256_hex(&mbytes.data) != want_manifest {
        return refuse(
            Warning,
            "it was written for a different MANIFEST.json: the bundle changed after it was verified; run `glassbox verify` again",
        );
    }
    let manifest: Value = serde_json::from_slice(&mbytes.data)
        .or_else(|e| refuse(Error, format!("MANIFEST.json is not valid JSON ({e})")))?;
    let listed: BTreeMap<String, String> = manifest
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some((
                f.get("path")?.as_str()?.to_string(),
                f.get("sha256")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let start = format!("checkpoints/step-{from:07}/");
    let end = format!("checkpoints/step-{to:07}/");
    let covered: Vec<(&String, &String)> = listed
        .iter()
        .filter(|(p, _)| {
            p.as_str() == "recipe.toml"
                || p.starts_with("data/")
                || p.starts_with(&start)
                || p.starts_with(&end)
        })
        .collect();
    for (dir, step) in [(&start, from), (&end, to)] {
        if !covered.iter().any(|(p, _)| p.starts_with(dir.as_str())) {
            return refuse(
                Error,
                format!("the replayed checkpoint of step {step} ({dir}) is not in MANIFEST.json"),
            );
        }
    }
    let weights = format!("{end}model.safetensors");
    match (
        listed.get(&weights),
        rec.pointer("/replay/weights_sha256")
            .and_then(Value::as_str),
    ) {
        (Some(a), Some(b)) if a == b => {}
        _ => {
            return refuse(
                Error,
                format!(
                    "its replay.weights_sha256 is not MANIFEST.json's hash of {weights}: the record is not about these weights"
                ),
            );
        }
    }
    for (path, want) in &covered {
        match hash_file(snap, path) {
            Ok(got) if &got == *want => {}
            Ok(_) => {
                return refuse(
                    Error,
                    format!(
                        "{path} does not match its MANIFEST.json hash: the replayed files changed after verification"
                    ),
                );
            }
            Err(e) => return refuse(Error, format!("{path} cannot be read ({e})")),
        }
    }
    Ok(ReplayMark {
        checked_by: ReplayCheckedBy::Publisher,
        glassbox_version: version.to_string(),
        from,
        to,
        files_hashed: covered.len(),
        evidence: vec![
            Evidence::file("verification.json"),
            Evidence::file("MANIFEST.json"),
        ],
    })
}

/// SHA-256 of a file of the snapshot, streamed in 4 MiB reads.
fn hash_file(snap: &Snapshot, path: &str) -> Result<String, String> {
    const BLOCK: usize = 4 << 20;
    let mut h = glassbox_core::hash::Sha256Stream::new();
    let mut offset = 0u64;
    loop {
        let b = snap.source.read(path, offset, BLOCK)?;
        h.update(&b.data);
        offset += b.data.len() as u64;
        if !b.truncated || b.data.is_empty() {
            break;
        }
    }
    Ok(h.finish())
}

/// Applies a replay the auditor ran: a pass becomes the mark (whatever the record says), a
/// failure removes any mark and is an error finding.
pub fn apply_auditor_replay(d: &mut Detection, r: &AuditorReplay) {
    let ev = vec![Evidence::file("MANIFEST.json")];
    match (r.passed, r.interval) {
        (true, Some((from, to))) => {
            let mark = ReplayMark {
                checked_by: ReplayCheckedBy::Auditor,
                glassbox_version: env!("CARGO_PKG_VERSION").to_string(),
                from,
                to,
                files_hashed: 0,
                evidence: ev.clone(),
            };
            d.findings.push(Finding::new(
                Severity::Info,
                FindingKind::Reproducibility,
                mark.describe(),
                ev,
            ));
            d.replay = Some(mark);
        }
        _ => {
            d.replay = None;
            let why = if r.failures.is_empty() {
                "no replay ran".to_string()
            } else {
                r.failures.join("; ")
            };
            d.findings.push(Finding::new(
                Severity::Error,
                FindingKind::Reproducibility,
                format!("this audit's replay (`glassbox verify`) failed: {why}"),
                ev,
            ));
        }
    }
}
