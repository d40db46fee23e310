//! The models a release names as its base — PEFT's `adapter_config.json`
//! (`base_model_name_or_path`), the card's `base_model:` (a string or a list, the Hugging Face
//! convention) and a glassbox bundle's `release.json` `base` — and the adapter itself: a PEFT
//! adapter's configuration describes its architecture (a low-rank update of named modules of the
//! base) and PEFT runs it, on the base.

use serde_json::Value;

use super::files::{key_line, read_json};
use super::*;
use crate::lineage::{BaseRef, FoundIn, MAX_REFS, normalize_name};

/// Most licence-file names and hashes taken from `release.json` `base`.
const MAX_RECORDED: usize = 256;

pub(super) fn detect_bases(snap: &mut Snapshot, d: &mut Detection) {
    adapter(snap, d);
    card_bases(d);
    release_base(snap, d);
}

/// Adds a reference to `name` found at `found` (merged with an earlier one of the same name);
/// `None` past [`MAX_REFS`] names.
fn add<'a>(d: &'a mut Detection, name: &str, found: FoundIn) -> Option<&'a mut BaseRef> {
    let key = normalize_name(name);
    let i = match d.bases.iter().position(|b| normalize_name(&b.name) == key) {
        Some(i) => i,
        None if d.bases.len() >= MAX_REFS => {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Bounded,
                format!(
                    "{} names more than {MAX_REFS} base models; `{name}` and any after it were not followed",
                    found.file
                ),
                vec![found.evidence()],
            ));
            return None;
        }
        None => {
            d.bases.push(BaseRef {
                name: name.trim().to_string(),
                ..BaseRef::default()
            });
            d.bases.len() - 1
        }
    };
    let b = d.bases.get_mut(i)?;
    if !b.found_in.contains(&found) {
        b.found_in.push(found);
    }
    Some(b)
}

/// A PEFT adapter at the root: its configuration is the architecture of what is released (an
/// update of named modules of the base), PEFT runs it, and the weights are only that update.
fn adapter(snap: &mut Snapshot, d: &mut Detection) {
    const P: &str = "adapter_config.json";
    if !snap.has(P) {
        return;
    }
    let Some((text, v)) = read_json(snap, d, P) else {
        return;
    };
    d.adapter = true;
    let peft = v.get("peft_type").and_then(Value::as_str).unwrap_or("?");
    let rank = v
        .get("r")
        .and_then(Value::as_u64)
        .map_or(String::new(), |r| format!(", rank {r}"));
    let targets = match v.get("target_modules") {
        Some(Value::Array(a)) => {
            let names: Vec<&str> = a.iter().filter_map(Value::as_str).take(8).collect();
            format!(", modules {}", names.join(", "))
        }
        Some(Value::String(s)) => format!(", modules matching `{s}`"),
        _ => String::new(),
    };
    mark(
        d,
        ComponentId::ModelArchitecture,
        Presence::Present,
        vec![Evidence::File {
            path: P.into(),
            line: key_line(&text, &["peft_type", "target_modules"]),
        }],
        Some(format!(
            "PEFT adapter configuration ({peft}{rank}{targets}); the rest of the architecture is the base model's"
        )),
    );
    mark_library(
        d,
        ComponentId::InferenceCode,
        "peft",
        Some("a PEFT adapter runs with peft, on its base model".into()),
    );
    if let Some(w) = d.components.get_mut(&ComponentId::ModelParametersFinal)
        && w.presence == Presence::Present
    {
        let adapter_note =
            "a PEFT adapter: the update of the base model's weights, which running it also needs";
        w.note = Some(match w.note.take() {
            Some(n) => format!("{n}; {adapter_note}"),
            None => adapter_note.to_string(),
        });
    }
    let found = FoundIn {
        file: P.into(),
        field: "base_model_name_or_path".into(),
        line: key_line(&text, &["base_model_name_or_path"]),
    };
    match v.get("base_model_name_or_path").and_then(Value::as_str) {
        Some(name) if !name.trim().is_empty() => {
            add(d, name, found);
        }
        _ => d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Malformed,
            format!(
                "{P} names no base model (`base_model_name_or_path`): the adapter cannot run without one, and the terms it inherits could not be checked"
            ),
            vec![found.evidence()],
        )),
    }
}

/// The card's `base_model:`, a string or a list.
fn card_bases(d: &mut Detection) {
    let Some(card) = &d.card else {
        return;
    };
    let names = card.strings("base_model");
    let found = FoundIn {
        file: card.path.clone(),
        field: "base_model".into(),
        line: card.meta_lines.get("base_model").copied(),
    };
    for n in names.iter().filter(|n| !n.trim().is_empty()) {
        if add(d, n, found.clone()).is_none() {
            break;
        }
    }
}

/// A glassbox bundle's `release.json` `base`: `path`, `license`, `license_files`, `sha256`.
fn release_base(snap: &mut Snapshot, d: &mut Detection) {
    const P: &str = "release.json";
    if !snap.has(P) {
        return;
    }
    let Some((text, v)) = read_json(snap, d, P) else {
        return;
    };
    let base = match v.get("base") {
        None | Some(Value::Null) => return,
        Some(b) => b,
    };
    let line = key_line(&text, &["base"]);
    let version = v.get("schema_version").and_then(Value::as_u64).unwrap_or(0);
    if version > bundle::BUNDLE_SCHEMA {
        d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Malformed,
            format!(
                "{P} has format version {version}, newer than this glassbox reads ({}); its `base` was read as version {} describes it",
                bundle::BUNDLE_SCHEMA,
                bundle::BUNDLE_SCHEMA
            ),
            vec![Evidence::file(P)],
        ));
    }
    let path = base.get("path").and_then(Value::as_str).map(str::trim);
    let found = FoundIn {
        file: P.into(),
        field: "base.path".into(),
        line,
    };
    let Some(name) = path.filter(|p| !p.is_empty()) else {
        d.findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Malformed,
            format!(
                "{P}: `base` has no `path` (expected an object with `path`, `license`, `license_files`, `sha256`); the base could not be identified"
            ),
            vec![found.evidence()],
        ));
        // A base is there even if it is not named: its terms are unknown, not absent.
        d.bases.push(BaseRef {
            found_in: vec![found],
            recorded_license: recorded_license(base),
            ..BaseRef::default()
        });
        return;
    };
    let Some(b) = add(d, name, found) else {
        return;
    };
    b.recorded_license = recorded_license(base);
    b.license_files = base
        .get("license_files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(MAX_RECORDED)
        .map(str::to_string)
        .collect();
    b.sha256 = base
        .get("sha256")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .take(MAX_RECORDED)
        .collect();
}

/// `base.license`: a licence expression or `null`.
fn recorded_license(base: &Value) -> Option<String> {
    base.get("license")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
