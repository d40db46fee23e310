//! How a base's terms bind the release derived from it.
//!
//! - **Audited base.** Each freedom of the release is at most the base's: a freedom the base
//!   fails, the release fails, with the base's own reasons (the clause or component that holds
//!   the base back, its evidence under the base's path) after one that says the release inherits
//!   the base's terms whatever its own licence says; a freedom the base leaves unknown, the
//!   release cannot hold either. The level is at most the base's ([`cap`]).
//! - **Base named but not audited** (not on this machine, a loop, past the depth limit, not
//!   named): every freedom its terms decide is unknown, as with an unidentified licence, so the
//!   release cannot pass Open-Weight. When `release.json` records the base's licence, that licence
//!   decides run, redistribute and modify (a clause that breaks one fails it; an unidentified
//!   one leaves it unknown), and study stays unknown: only the base's files could show its
//!   architecture, training code and data. An adapter's run stays unknown too, since running
//!   it needs the base's weights, which were not seen.
//!
//! Inherited reasons concern the final weights (the adapted model's weights are the base's plus
//! the release's), so they count for Open-Source AI exactly as the release's own reasons do.

use crate::component::ComponentId;
use crate::evidence::Evidence;
use crate::license::{self, Freedom, License, LicenseKind};
use crate::verdict::{Level, Reason, Status};

use super::{Base, BaseStatus, Lineage, TermsSource};

/// Most reasons taken from one base for one freedom (the base's own audit lists them all).
const MAX_INHERITED: usize = 8;

/// The reasons the bases add to freedom `f`: those that fail it, and those that leave it unknown.
pub fn reasons(lineage: &Lineage, f: Freedom) -> (Vec<Reason>, Vec<Reason>) {
    let mut fails = Vec::new();
    let mut unknown = Vec::new();
    for b in &lineage.bases {
        match (&b.judged, b.status) {
            (Some(j), BaseStatus::Audited) => {
                if let Some(v) = j.freedoms.get(f.as_str()) {
                    let into = match v.status {
                        Status::Fails => Some(&mut fails),
                        Status::Unknown => Some(&mut unknown),
                        Status::Holds => None,
                    };
                    if let Some(into) = into {
                        let inherited = from_base(b, &v.reasons);
                        let about_terms = inherited
                            .first()
                            .is_some_and(|r| r.clause.is_some() || r.text.contains("licence"));
                        let h = if about_terms {
                            header(b)
                        } else {
                            limits_header(b)
                        };
                        into.extend(headed(b, &h, inherited));
                    }
                }
                if let Some(l) = recorded_terms(b) {
                    fails.extend(headed(b, &recorded_header(b, &l), clause_reasons(b, &l, f)));
                }
            }
            _ => match recorded_terms(b) {
                Some(l) => recorded_only(b, &l, f, lineage.adapter, &mut fails, &mut unknown),
                None => unknown.push(unchecked(b, f, lineage.adapter)),
            },
        }
    }
    (fails, unknown)
}

/// The licence `release.json` records for a base, when it adds to what the base's audit found
/// (the base was not audited, its weights had no licence, or the audit found another one).
fn recorded_terms(b: &Base) -> Option<License> {
    let rec = license::from_name(b.recorded_license.as_deref()?);
    match (b.license_source, &b.license) {
        (Some(TermsSource::Audit), Some(found)) if found.id == rec.id => None,
        _ => Some(rec),
    }
}

/// "inherits the base model's terms: `llama-3.2-community` (`../base`), whatever this release's
/// own licence says".
fn header(b: &Base) -> String {
    format!(
        "inherits the base model's terms: {} (`{}`), whatever this release's own licence says",
        b.terms(),
        b.name
    )
}

/// The header of a reason that is not about the base's licence (a component the base lacks).
fn limits_header(b: &Base) -> String {
    format!(
        "inherits the limits of its base model `{}`, whatever this release's own files say",
        b.name
    )
}

fn recorded_header(b: &Base, l: &License) -> String {
    format!(
        "inherits the base model's terms: `{}` (`{}`, as release.json records them), whatever this release's own licence says",
        l.id, b.name
    )
}

/// The first reason carries the header; the others say which base they come from.
fn headed(b: &Base, header: &str, reasons: Vec<Reason>) -> Vec<Reason> {
    reasons
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.text = if i == 0 {
                format!("{header} — {}", r.text)
            } else {
                format!("base model `{}`: {}", b.name, r.text)
            };
            r
        })
        .collect()
}

/// The base's reasons with their evidence moved under the base's path, so `LICENSE:12` of the
/// base reads `../base/LICENSE:12` in the release's report.
fn from_base(b: &Base, reasons: &[Reason]) -> Vec<Reason> {
    reasons
        .iter()
        .take(MAX_INHERITED)
        .map(|r| Reason {
            text: r.text.clone(),
            component: r.component,
            clause: r.clause.clone(),
            evidence: r.evidence.iter().map(|e| under(&b.name, e)).collect(),
        })
        .collect()
}

fn under(base: &str, e: &Evidence) -> Evidence {
    match e {
        Evidence::File { path, line } => Evidence::File {
            path: format!("{}/{path}", base.trim_end_matches('/')),
            line: *line,
        },
        other => other.clone(),
    }
}

/// Reasons from the clauses of the base's recorded licence that break `f`.
fn clause_reasons(b: &Base, l: &License, f: Freedom) -> Vec<Reason> {
    let mut out: Vec<Reason> = l
        .clauses
        .iter()
        .filter(|cl| cl.breaks.contains(&f.as_str()))
        .map(|cl| {
            let at = if cl.section.is_empty() {
                String::new()
            } else {
                format!(" §{}", cl.section)
            };
            let mut evidence = b.evidence();
            evidence.push(Evidence::Clause {
                license: cl.license.clone(),
                section: cl.section.clone(),
            });
            Reason {
                text: format!("base licence `{}`{at}: {}", cl.license, cl.summary),
                component: Some(ComponentId::ModelParametersFinal),
                clause: Some((cl.license.clone(), cl.section.clone())),
                evidence,
            }
        })
        .collect();
    if l.kind == LicenseKind::None && f != Freedom::Study {
        out.push(Reason {
            text: format!(
                "the base is recorded without a licence (`{}`): all rights reserved",
                l.name
            ),
            component: Some(ComponentId::ModelParametersFinal),
            clause: None,
            evidence: b.evidence(),
        });
    }
    out
}

/// A base not audited whose licence `release.json` records: the licence decides run,
/// redistribute and modify; the rest stays unknown.
fn recorded_only(
    b: &Base,
    l: &License,
    f: Freedom,
    adapter: bool,
    fails: &mut Vec<Reason>,
    unknown: &mut Vec<Reason>,
) {
    let broken = headed(b, &recorded_header(b, l), clause_reasons(b, l, f));
    let failed = !broken.is_empty();
    fails.extend(broken);
    let why = b.status.why_unchecked();
    let text = match f {
        Freedom::Study => Some(format!(
            "the base model `{}` ({why}) could not be checked: only its files could show its architecture, training code and training data",
            b.name
        )),
        Freedom::Run if adapter && !failed => Some(format!(
            "running this adapter needs its base model's weights, and the base `{}` ({why}) could not be checked",
            b.name
        )),
        _ if l.grants_all_freedoms.is_none() && l.kind != LicenseKind::None => Some(format!(
            "the base model `{}`'s recorded licence `{}` is not identified well enough to judge",
            b.name, l.name
        )),
        _ => None,
    };
    if let Some(text) = text {
        unknown.push(Reason {
            text,
            component: Some(ComponentId::ModelParametersFinal),
            clause: None,
            evidence: b.evidence(),
        });
    }
}

/// The reason a base whose terms could not be checked leaves `f` unknown.
fn unchecked(b: &Base, f: Freedom, adapter: bool) -> Reason {
    let why = b.status.why_unchecked();
    let text = if b.status == BaseStatus::Unnamed {
        format!(
            "the release names no base model ({}): the terms it inherits could not be checked",
            b.where_named()
        )
    } else if f == Freedom::Run && adapter {
        format!(
            "running this adapter needs its base model `{}` ({}); {why}, so its weights and terms could not be checked",
            b.name,
            b.where_named()
        )
    } else {
        format!(
            "the base model `{}` ({}) binds this release with its terms whatever its own licence says; {why}, so its terms could not be checked",
            b.name,
            b.where_named()
        )
    };
    Reason {
        text,
        component: Some(ComponentId::ModelParametersFinal),
        clause: None,
        evidence: b.evidence(),
    }
}

/// What the audited bases do to the level of a release judged `level` on its own files (with
/// the freedoms it inherits).
#[derive(Debug, Clone, PartialEq)]
pub struct Cap {
    /// The level: at most every audited base's.
    pub level: Level,
    /// Whether the bases lowered it.
    pub lowered: bool,
    /// One entry per base at that level, for "missing for the next level" (none at the top:
    /// a base that is Radical Openness holds nothing back).
    pub held_by: Vec<String>,
}

/// The highest level the audited bases allow a release judged `level`, and the bases that hold
/// it there.
pub fn cap(level: Level, lineage: &Lineage) -> Cap {
    let capped = lineage
        .bases
        .iter()
        .filter_map(|b| b.level)
        .fold(level, Level::min);
    if capped == Level::RadicalOpenness {
        return Cap {
            level: capped,
            lowered: false,
            held_by: Vec::new(),
        };
    }
    let held_by = lineage
        .bases
        .iter()
        .filter(|b| b.level == Some(capped))
        .map(|b| {
            let lacks = b.judged.as_ref().map_or(String::new(), |j| {
                // The freedoms the base breaks are inherited and listed as this release's own.
                let gaps: Vec<&str> = j
                    .missing
                    .iter()
                    .map(String::as_str)
                    .filter(|m| !m.starts_with("the freedom to "))
                    .collect();
                let shown: Vec<&str> = gaps.iter().take(3).copied().collect();
                let more = gaps.len().saturating_sub(shown.len());
                match j.next {
                    Some(next) if !shown.is_empty() => format!(
                        "; for {} the base (paths under `{}`) lacks: {}{}",
                        next.label(),
                        b.name,
                        shown.join("; "),
                        if more > 0 {
                            format!(" (+{more} more)")
                        } else {
                            String::new()
                        }
                    ),
                    _ => String::new(),
                }
            });
            format!(
                "the base model `{}` is {} and this release inherits its place ({}){lacks}",
                b.name,
                capped.label(),
                header(b)
            )
        })
        .collect();
    Cap {
        level: capped,
        lowered: capped < level,
        held_by,
    }
}

/// What OSAID 1.0 conformance misses because of the bases.
pub fn osaid_gaps(lineage: &Lineage) -> Vec<String> {
    lineage
        .bases
        .iter()
        .filter_map(|b| match &b.judged {
            Some(j) if j.osaid => None,
            Some(_) => Some(format!(
                "the base model `{}` does not conform, and this release inherits its terms",
                b.name
            )),
            None => Some(format!(
                "the base model `{}` could not be checked ({})",
                b.name,
                b.status.why_unchecked()
            )),
        })
        .collect()
}

/// One sentence on how a base binds the release, for the report's lineage section.
pub fn summary(b: &Base, adapter: bool) -> String {
    let needs = if adapter {
        "; running this adapter needs the base's weights"
    } else {
        ""
    };
    match (&b.judged, b.level) {
        (Some(j), Some(level)) => {
            let with = |s: Status| -> Vec<&str> {
                j.freedoms
                    .iter()
                    .filter(|(_, v)| v.status == s)
                    .map(|(k, _)| *k)
                    .collect()
            };
            let (failed, unknown) = (with(Status::Fails), with(Status::Unknown));
            let mut s = format!("{}: the base is {}", header(b), level.label());
            if !failed.is_empty() {
                s.push_str(&format!(", fails {}", failed.join(", ")));
            }
            if !unknown.is_empty() {
                s.push_str(&format!(", leaves {} unknown", unknown.join(", ")));
            }
            if failed.is_empty() && unknown.is_empty() {
                s.push_str(" and keeps every freedom");
            }
            s.push_str(&format!(
                "; this release keeps no freedom the base lacks and is at most {}{needs}",
                level.label()
            ));
            s
        }
        _ => match b.recorded_license.as_deref() {
            Some(rec) => format!(
                "{}; the base itself could not be checked ({}), so what only its files could show stays unknown{needs}",
                recorded_header(b, &license::from_name(rec)),
                b.status.why_unchecked()
            ),
            None if b.status == BaseStatus::Unnamed => format!(
                "the release names no base model: the terms it inherits could not be checked, so every freedom they decide is unknown{needs}"
            ),
            None => format!(
                "the base model `{}`'s terms could not be checked ({}); they bind this release whatever its own licence says, so every freedom they decide is unknown{needs}",
                b.name,
                b.status.why_unchecked()
            ),
        },
    }
}
