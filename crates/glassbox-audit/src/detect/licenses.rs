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
        let mut ident = license::from_text(&text);
        for c in &mut ident.license.clauses {
            if c.line.is_some() {
                c.file = Some(p.clone());
            }
        }
        let (_, name) = lower_name(p);
        if ident.license.kind == LicenseKind::Unknown {
            // NOTICE files and short notes ("see LICENSE-MODEL") are not licences, unless
            // they restrict something.
            if ident.license.clauses.is_empty() && (name.starts_with("notice") || text.len() <= 200)
            {
                continue;
            }
            let cands: Vec<String> = ident
                .candidates
                .iter()
                .map(|(i, s)| format!("{i} {:.0}%", s * 100.0))
                .collect();
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::UnknownLicense,
                format!(
                    "{p}: {}; {} restrictive sentence(s) found in it (closest standard licences: {})",
                    ident.license.name,
                    ident.license.clauses.len(),
                    cands.join(", ")
                ),
                vec![Evidence::file(p)],
            ));
        }
        if let Some(ch) = &ident.license.changes {
            let shown: Vec<String> = ch
                .added
                .iter()
                .take(3)
                .map(|(line, t)| format!("{p}:{line} “{t}”"))
                .collect();
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::UnknownLicense,
                format!(
                    "{p} is `{}` with changes, so it is not `{}`: {} sentence(s) added, {} removed{}{}",
                    ch.base,
                    ch.base,
                    ch.added_count,
                    ch.removed,
                    if shown.is_empty() { String::new() } else { format!("; added: {}", shown.join("; ")) },
                    if ch.added_count > shown.len() { " …" } else { "" }
                ),
                ch.added
                    .iter()
                    .take(3)
                    .map(|(line, _)| Evidence::line(p.clone(), *line))
                    .collect(),
            ));
        }
        d.licenses
            .push((ident.license.clone(), vec![Evidence::file(p)]));
        by_dir
            .entry(dir_of(p).to_string())
            .or_default()
            .push((ident.license, Evidence::file(p)));
    }
    // 2. The card's declared licence covers the repository root; `license: other` is followed
    //    through `license_link` (a file of the repository is read and identified by its text; a
    //    URL is matched against the licensors' addresses) and `license_name`.
    let mut root: Option<(License, Vec<Evidence>)> = None;
    if let Some(card) = d.card.clone() {
        let lic = card.strings("license");
        let name = card.field("license_name").and_then(Value::as_str);
        let link = card.field("license_link").and_then(Value::as_str);
        if let Some(mut l) = license::from_card_fields(&lic, name, link) {
            let mut ev = if snap.kind == TargetKind::Hub
                && snap.api_card_data.is_some()
                && card.meta_lines.is_empty()
            {
                vec![Evidence::api("cardData.license")]
            } else {
                vec![card.field_evidence("license")]
            };
            let other = lic.iter().any(|x| {
                let n = license::normalize(x);
                n == "other" || n == "unknown"
            });
            if other && let Some(link) = link {
                match follow_link(snap, &by_dir, link) {
                    Some((linked, lev)) => {
                        // The name and the linked text both describe the licence: the stricter
                        // decides when both are identified.
                        if l.kind == LicenseKind::Unknown || linked.strictness() >= l.strictness() {
                            l = linked;
                        }
                        ev.push(card.field_evidence("license_link"));
                        ev.push(lev);
                    }
                    None => ev.push(card.field_evidence("license_link")),
                }
            }
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
    let (mut file_lics, policies): (Vec<_>, Vec<_>) =
        root_files.into_iter().partition(|(l, _)| !is_policy(l));
    // Several licence files at the root (LICENSE, LICENSE-MODEL …): the strictest speaks for the
    // repository.
    file_lics.sort_by_key(|(l, _)| std::cmp::Reverse(l.strictness()));
    let mut root_license = match (root, file_lics.first()) {
        (Some((card_l, card_ev)), Some((file_l, file_ev))) => {
            if card_l.kind != LicenseKind::Unknown && card_l.id != file_l.id {
                // An unidentified text counts as stricter than an open id: a non-commercial
                // LICENSE is never outvoted by `license: apache-2.0` on the card.
                let stricter = if file_l.strictness() > card_l.strictness() {
                    file_l.clone()
                } else {
                    card_l.clone()
                };
                let mut ev = card_ev.clone();
                ev.push(file_ev.clone());
                let card_at: Vec<String> = card_ev.iter().map(|e| e.to_string()).collect();
                d.findings.push(Finding::new(
                    Severity::Error,
                    FindingKind::LicenseConflict,
                    format!(
                        "licence conflict: the card ({}) declares `{}` but {} is `{}`; judged by the stricter, `{}`",
                        card_at.join(", "),
                        card_l.id,
                        file_ev,
                        file_l.id,
                        stricter.id
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
    apply_weight_metadata(d);
}

/// The licence a card's `license_link` points to: a file of the repository (a relative path, or
/// a Hub `blob`/`resolve` address of any revision), identified by its text; else a licensor's
/// address known to the AI-licence table.
fn follow_link(
    snap: &mut Snapshot,
    by_dir: &BTreeMap<String, Vec<(License, Evidence)>>,
    link: &str,
) -> Option<(License, Evidence)> {
    let link = link.trim();
    let path = if let Some(rest) = link
        .strip_prefix("https://huggingface.co/")
        .or_else(|| link.strip_prefix("http://huggingface.co/"))
    {
        // ORG/NAME/blob/REV/PATH or ORG/NAME/resolve/REV/PATH
        let parts: Vec<&str> = rest.splitn(5, '/').collect();
        match parts.as_slice() {
            [_, _, "blob" | "resolve", _, p] => Some(p.to_string()),
            _ => None,
        }
    } else if !link.contains("://") {
        Some(link.trim_start_matches("./").to_string())
    } else {
        None
    };
    if let Some(p) = path {
        let p = p.replace("%20", " ");
        let known = by_dir
            .values()
            .flatten()
            .find(|(_, e)| matches!(e, Evidence::File { path, .. } if *path == p));
        if let Some((l, e)) = known {
            return Some((l.clone(), e.clone()));
        }
        if snap.has(&p)
            && let Some((text, _)) = snap.read_text(&p, MAX_LICENSE_TEXT)
        {
            let ident = license::from_text(&text);
            if ident.license.kind != LicenseKind::Unknown || !ident.license.clauses.is_empty() {
                return Some((ident.license, Evidence::file(p)));
            }
        }
    }
    license::from_url(link).map(|l| (l, Evidence::url(link)))
}

/// Licences declared inside the weight files (GGUF `general.license`) speak for the weights:
/// alone when nothing else does, and by the stricter when the repository says otherwise.
fn apply_weight_metadata(d: &mut Detection) {
    let Some((meta, meta_ev)) = d
        .weight_metadata_licenses
        .iter()
        .max_by_key(|(l, _)| l.strictness())
        .cloned()
    else {
        return;
    };
    let Some(w) = d.components.get_mut(&ComponentId::ModelParametersFinal) else {
        return;
    };
    match w.license.clone() {
        None => {
            w.license = Some(meta);
            w.license_evidence = vec![meta_ev];
        }
        Some(repo) if repo.id != meta.id && meta.kind != LicenseKind::Unknown => {
            let stricter = if meta.strictness() > repo.strictness() {
                meta.clone()
            } else {
                repo.clone()
            };
            let mut ev = w.license_evidence.clone();
            ev.push(meta_ev.clone());
            w.license = Some(stricter.clone());
            w.license_evidence = ev.clone();
            d.findings.push(Finding::new(
                Severity::Error,
                FindingKind::LicenseConflict,
                format!(
                    "licence conflict: the repository says `{}` but {meta_ev} declares `{}` in its metadata; judged by the stricter, `{}`",
                    repo.id, meta.id, stricter.id
                ),
                ev,
            ));
        }
        Some(_) => {}
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
