//! glassbox release bundles (`MANIFEST.json` at the root): the manifest is the bill of materials,
//! so files it lists but the bundle lacks, files whose size differs, and training data without
//! its data manifest are findings, and such data does not count as released. Hashes are not
//! computed here (an audit reads headers, not gigabytes): `glassbox verify` does that.

use serde_json::Value;

use super::*;

/// Newest bundle format this audit reads (`MANIFEST.json` `schema_version`).
pub(super) const BUNDLE_SCHEMA: u64 = 1;

pub(super) fn detect_bundle(snap: &mut Snapshot, d: &mut Detection) {
    if snap.kind != TargetKind::Bundle {
        return;
    }
    let Some((text, _)) = snap.read_text("MANIFEST.json", MAX_JSON) else {
        return;
    };
    let manifest: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            d.findings.push(Finding::new(
                Severity::Error,
                FindingKind::Malformed,
                format!("MANIFEST.json: invalid JSON ({e}); the bundle's files cannot be checked"),
                vec![Evidence::file("MANIFEST.json")],
            ));
            return;
        }
    };
    let version = manifest
        .get("schema_version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if version > BUNDLE_SCHEMA {
        d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Malformed,
            format!(
                "MANIFEST.json has bundle format version {version}, newer than this glassbox reads ({BUNDLE_SCHEMA}); the audit judges the files it recognises"
            ),
            vec![Evidence::file("MANIFEST.json")],
        ));
    }
    let sizes: BTreeMap<String, Option<u64>> = snap
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();
    let mut listed = std::collections::BTreeSet::new();
    let mut missing = Vec::new();
    for f in manifest
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(path) = f.get("path").and_then(Value::as_str) else {
            continue;
        };
        listed.insert(path.to_string());
        match sizes.get(path) {
            None => missing.push(path.to_string()),
            Some(size) => {
                let want = f.get("bytes").and_then(Value::as_u64);
                if let (Some(s), Some(w)) = (size, want)
                    && *s != w
                {
                    d.findings.push(Finding::new(
                        Severity::Error,
                        FindingKind::Malformed,
                        format!(
                            "{path} is {s} bytes but MANIFEST.json lists {w}: the bundle was modified after release (check it with `glassbox verify`)"
                        ),
                        vec![Evidence::file(path)],
                    ));
                }
            }
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        d.findings.push(Finding::new(
            Severity::Error,
            FindingKind::Malformed,
            format!(
                "{} file(s) listed in MANIFEST.json are missing from the bundle: {}{}",
                missing.len(),
                shown.join(", "),
                if missing.len() > 5 { ", …" } else { "" }
            ),
            vec![Evidence::file("MANIFEST.json")],
        ));
    }
    let unlisted: Vec<&String> = sizes
        .keys()
        .filter(|p| !listed.contains(*p) && *p != "MANIFEST.json" && *p != "verification.json")
        .take(5)
        .collect();
    if !unlisted.is_empty() && !listed.is_empty() {
        d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Malformed,
            format!(
                "files not listed in MANIFEST.json (added after release?): {}",
                unlisted
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            vec![Evidence::file("MANIFEST.json")],
        ));
    }
    // Token shards without their data manifest cannot be opened, checked or attributed to
    // licensed sources: the training data is not released in a usable form.
    let data = ComponentId::Datasets;
    if d.components[&data].presence == Presence::Present && !snap.has("data/manifest.json") {
        if let Some(c) = d.components.get_mut(&data) {
            c.presence = Presence::Absent;
            c.evidence.clear();
            c.note = Some("token shards without data/manifest.json".into());
        }
        d.findings.push(Finding::new(
            Severity::Error,
            FindingKind::Malformed,
            "the bundle's training data has no data/manifest.json: its shards cannot be opened, checked against their hashes or traced to licensed sources, so the training data does not count as released".to_string(),
            vec![Evidence::file("MANIFEST.json")],
        ));
    }
}
