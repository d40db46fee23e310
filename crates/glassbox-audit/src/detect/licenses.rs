//! Licences: files identified by content, the card's declaration, conflicts, and the licence of
//! each component.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

/// Licence-like file names (selected by name, identified by content).
fn license_candidate(path: &str) -> bool {
    let (lower, name) = lower_name(path);
    let stem = name.split('.').next().unwrap_or("");
    let ext_ok = !name.contains('.')
        || name.ends_with(".md")
        || name.ends_with(".txt")
        || name.ends_with(".rst");
    ext_ok
        && ([
            "license",
            "licence",
            "copying",
            "notice",
            "use_policy",
            "usage_policy",
            "acceptable_use",
            "responsible_use",
            "terms_of_use",
            "model_license",
        ]
        .iter()
        .any(|k| stem.starts_with(k) || stem.ends_with(k))
            || lower
                .split('/')
                .rev()
                .skip(1)
                .any(|d| d == "licenses" || d == "licences"))
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

pub(super) fn assign_licenses(
    snap: &mut Snapshot,
    d: &mut Detection,
    paths: &[(String, Option<u64>)],
) {
    // 1. Identify licence files by content; each covers its directory.
    let mut by_dir: BTreeMap<String, Vec<(License, Evidence)>> = BTreeMap::new();
    for (p, _) in paths.iter().filter(|(p, _)| license_candidate(p)).take(64) {
        let Some((text, truncated)) = snap.read_text(p, MAX_LICENSE_TEXT) else {
            continue;
        };
        if truncated {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Bounded,
                format!(
                    "{p} is larger than {} KiB; only its beginning was compared",
                    MAX_LICENSE_TEXT >> 10
                ),
                vec![Evidence::file(p)],
            ));
        }
        let ident = license::from_text(&text);
        if ident.license.kind == LicenseKind::Unknown {
            let (_, name) = lower_name(p);
            // NOTICE files and unrelated notes are not licences; only report real misses.
            if !name.starts_with("notice") && text.len() > 200 {
                let cands: Vec<String> = ident
                    .candidates
                    .iter()
                    .map(|(i, s)| format!("{i} {:.0}%", s * 100.0))
                    .collect();
                d.findings.push(Finding::new(
                    Severity::Warning,
                    FindingKind::UnknownLicense,
                    format!(
                        "{p}: licence text not identified (closest standard licences: {})",
                        cands.join(", ")
                    ),
                    vec![Evidence::file(p)],
                ));
            }
            continue;
        }
        d.licenses
            .push((ident.license.clone(), vec![Evidence::file(p)]));
        by_dir
            .entry(dir_of(p).to_string())
            .or_default()
            .push((ident.license, Evidence::file(p)));
    }
    // 2. The card's declared licence covers the repository root.
    let mut root: Option<(License, Vec<Evidence>)> = None;
    if let Some(card) = &d.card {
        let lic = card.strings("license");
        let name = card.field("license_name").and_then(Value::as_str);
        let link = card.field("license_link").and_then(Value::as_str);
        if let Some(l) = license::from_card_fields(&lic, name, link) {
            let ev = if snap.kind == TargetKind::Hub
                && snap.api_card_data.is_some()
                && card.meta_lines.is_empty()
            {
                vec![Evidence::api("cardData.license")]
            } else {
                vec![card.field_evidence("license")]
            };
            if l.kind == LicenseKind::Unknown {
                d.findings.push(Finding::new(
                    Severity::Warning,
                    FindingKind::UnknownLicense,
                    format!(
                        "the card declares licence `{}`, which glassbox does not recognise",
                        l.name
                    ),
                    ev.clone(),
                ));
            }
            d.licenses.push((l.clone(), ev.clone()));
            root = Some((l, ev));
        }
    }
    let root_files: Vec<(License, Evidence)> = by_dir.remove("").unwrap_or_default();
    let (file_lics, policies): (Vec<_>, Vec<_>) =
        root_files.into_iter().partition(|(l, _)| !is_policy(l));
    let mut root_license = match (root, file_lics.first()) {
        (Some((card_l, card_ev)), Some((file_l, file_ev))) => {
            if card_l.kind != LicenseKind::Unknown && card_l.id != file_l.id {
                let stricter = if file_l.strictness() > card_l.strictness() {
                    file_l.clone()
                } else {
                    card_l.clone()
                };
                let mut ev = card_ev.clone();
                ev.push(file_ev.clone());
                d.findings.push(Finding::new(
                    Severity::Error,
                    FindingKind::LicenseConflict,
                    format!(
                        "the card declares `{}` but {} is `{}`; judged by the stricter, `{}`",
                        card_l.id, file_ev, file_l.id, stricter.id
                    ),
                    ev.clone(),
                ));
                Some((stricter, ev))
            } else if card_l.kind == LicenseKind::Unknown {
                Some((file_l.clone(), vec![file_ev.clone()]))
            } else {
                let mut ev = card_ev;
                ev.push(file_ev.clone());
                Some((card_l, ev))
            }
        }
        (Some(c), None) => Some(c),
        (None, Some((l, e))) => Some((l.clone(), vec![e.clone()])),
        (None, None) => None,
    };
    // Use-policy files at the root add their clauses to the root licence.
    if let Some((l, ev)) = root_license.as_mut() {
        for (p, pev) in &policies {
            for c in &p.clauses {
                if !l.clauses.contains(c) {
                    l.clauses.push(c.clone());
                }
            }
            l.grants_all_freedoms = Some(false);
            ev.push(pev.clone());
        }
    }
    // GGUF metadata licences count as declared by the weights themselves.
    // 3. Each component takes the licence of the deepest directory holding its evidence, else
    //    the root licence; referenced libraries carry their own licence.
    let ids: Vec<ComponentId> = d.components.keys().copied().collect();
    for id in ids {
        let c = &d.components[&id];
        if !c.presence.available() {
            continue;
        }
        let mut chosen: Option<(License, Vec<Evidence>)> = None;
        for e in &c.evidence {
            if let Evidence::File { path, .. } = e {
                let mut dir = dir_of(path);
                loop {
                    if let Some(list) = by_dir.get(dir) {
                        if let Some((l, ev)) = list.iter().find(|(l, _)| !is_policy(l)) {
                            chosen = Some((l.clone(), vec![ev.clone()]));
                        }
                        break;
                    }
                    if dir.is_empty() {
                        break;
                    }
                    dir = dir_of(dir);
                }
            }
            if chosen.is_some() {
                break;
            }
        }
        if chosen.is_none() && c.presence == Presence::Referenced {
            for e in &c.evidence {
                if let Evidence::Url { url } = e
                    && let Some((_, spdx, _)) = LIBRARIES.iter().find(|(_, _, u)| u == url)
                {
                    chosen = Some((license::from_name(spdx), vec![Evidence::url(url.clone())]));
                }
            }
        }
        // Files in the release inherit the repository licence; linked resources do not. Training
        // data does not either: its terms are its sources' terms, so they must be declared for
        // the data itself (a data manifest or datasheet listing each source's licence, or a
        // licence file in the data's own directory).
        if id == ComponentId::Datasets {
            if let Some(dl) = data_license(snap, d) {
                chosen = Some(dl);
            }
        } else if chosen.is_none() && c.presence == Presence::Present {
            chosen = root_license.clone();
        }
        if let Some((l, ev)) = chosen
            && let Some(c) = d.components.get_mut(&id)
        {
            c.license = Some(l);
            c.license_evidence = ev;
        }
    }
}

fn is_policy(l: &License) -> bool {
    l.kind == LicenseKind::Ai
        && license::ai_license(&l.id).is_some_and(|a| a.doc == license::DocKind::UsePolicy)
}

/// The licence of the training data, from `datasheet.json` or a data `manifest.json`
/// (`license`, or `sources[].license`: every source must be open for the data to be open).
fn data_license(snap: &mut Snapshot, d: &Detection) -> Option<(License, Vec<Evidence>)> {
    let candidates: Vec<String> = snap
        .files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| {
            let (_, n) = lower_name(p);
            n == "datasheet.json" || (n == "manifest.json" && (p.contains("data") || d.components[&ComponentId::Datasets].evidence.iter().any(|e| matches!(e, Evidence::File { path, .. } if dir_of(path) == dir_of(p)))))
        })
        .collect();
    for p in candidates {
        let Some((text, _)) = snap.read_text(&p, MAX_JSON) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let mut names: Vec<String> = Vec::new();
        if let Some(l) = v.get("license").and_then(Value::as_str) {
            names.push(l.to_string());
        }
        for s in v
            .get("sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(l) = s.get("license").and_then(Value::as_str) {
                names.push(l.to_string());
            }
        }
        if names.is_empty() {
            continue;
        }
        let lics: Vec<License> = names.iter().map(|n| license::from_name(n)).collect();
        let worst = lics.into_iter().max_by_key(|l| l.strictness())?;
        return Some((worst, vec![Evidence::file(p)]));
    }
    None
}
