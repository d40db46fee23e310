//! Verdicts: the four freedoms, the openness level, OSAID conformance and what is missing for
//! the next level, each decided by named components, clauses and evidence.
//!
//! Definitions follow design.md ("The openness spectrum"):
//! - **Run**: final weights and inference code obtainable; the weights' licence has no
//!   field-of-use limits, user thresholds, acceptable-use policies or competitor bans.
//! - **Study**: architecture and training code public; training data at least described.
//! - **Redistribute**: every released component under terms that allow redistribution without a
//!   separate agreement or approval.
//! - **Modify**: derivatives may be made and shared; no naming mandates, no "must not improve
//!   other models", no restrictions that must be passed downstream.
//!
//! Levels: Closed (no downloadable weights) → Open-Weight → Open-Source AI (final weights,
//! architecture, inference and training code available under terms that keep all four freedoms,
//! and the training data described) → Radical Openness (also the full training data under open
//! terms, data-processing code and intermediate checkpoints). The MOF class and OSAID
//! conformance are separate judgements reported beside the level; they never decide it.
//!
//! An adapted model is judged with its base ([`judge_with`]): each freedom and the level are at
//! most the base's ([`crate::lineage::inherit`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::component::{Component, ComponentId, Presence};
use crate::detect::{Detection, ReplayMark};
use crate::evidence::Evidence;
use crate::license::{Freedom, License, LicenseKind};
use crate::lineage::{Lineage, inherit};
use crate::mof::{self, MofResult};

/// The outcome for one freedom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The evidence shows it holds.
    Holds,
    /// A component or clause breaks it.
    Fails,
    /// The evidence does not decide (an unidentified licence, a component not found).
    Unknown,
}

/// Why a freedom holds, fails or is unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// One sentence.
    pub text: String,
    /// The component it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentId>,
    /// The licence (key or SPDX id) and clause section, when a clause decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clause: Option<(String, String)>,
    /// Where it comes from.
    pub evidence: Vec<Evidence>,
}

/// Verdict for one freedom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FreedomVerdict {
    /// Outcome.
    pub status: Status,
    /// Reasons (failures first).
    pub reasons: Vec<Reason>,
}

/// The openness level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No downloadable weights.
    Closed,
    /// Final weights downloadable.
    OpenWeight,
    /// Weights, architecture, inference and training code under terms that keep all four
    /// freedoms; training data described.
    OpenSourceAi,
    /// Open-Source AI plus open training data, data-processing code and checkpoints.
    RadicalOpenness,
}

impl Level {
    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "Closed",
            Self::OpenWeight => "Open-Weight",
            Self::OpenSourceAi => "Open-Source AI",
            Self::RadicalOpenness => "Radical Openness",
        }
    }

    /// The level above, if any.
    pub fn next(self) -> Option<Level> {
        match self {
            Self::Closed => Some(Self::OpenWeight),
            Self::OpenWeight => Some(Self::OpenSourceAi),
            Self::OpenSourceAi => Some(Self::RadicalOpenness),
            Self::RadicalOpenness => None,
        }
    }
}

/// OSI Open Source AI Definition 1.0 conformance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Osaid {
    /// Whether the release conforms.
    pub conformant: bool,
    /// What is missing (empty when conformant).
    pub missing: Vec<String>,
}

/// Everything judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Level reached.
    pub level: Level,
    /// The replay mark, when a verified replay stands behind the release.
    pub replay: Option<ReplayMark>,
    /// Per freedom.
    pub freedoms: BTreeMap<&'static str, FreedomVerdict>,
    /// MOF evaluation.
    pub mof: MofResult,
    /// OSAID conformance.
    pub osaid: Osaid,
    /// What the next level needs (empty at the top).
    pub next_level: Vec<String>,
}

fn comp(components: &[Component], id: ComponentId) -> &Component {
    // Every id is inserted by detection; fall back to a static absent entry otherwise.
    components.iter().find(|c| c.id == id).unwrap_or_else(|| {
        static ABSENT: std::sync::OnceLock<Vec<Component>> = std::sync::OnceLock::new();
        let all = ABSENT.get_or_init(|| {
            ComponentId::ALL
                .into_iter()
                .map(Component::absent)
                .collect()
        });
        all.iter().find(|c| c.id == id).unwrap_or(&all[0])
    })
}

fn ev_of(c: &Component) -> Vec<Evidence> {
    c.evidence.iter().take(3).cloned().collect()
}

fn lic_ev(c: &Component) -> Vec<Evidence> {
    if c.license_evidence.is_empty() {
        ev_of(c)
    } else {
        c.license_evidence.clone()
    }
}

/// Reasons from the clauses of `l` (on component `c`) that break `f`.
fn clause_reasons(c: &Component, l: &License, f: Freedom) -> Vec<Reason> {
    l.clauses
        .iter()
        .filter(|cl| cl.breaks.contains(&f.as_str()))
        .map(|cl| {
            let mut evidence = lic_ev(c);
            // A clause found in the text itself is quoted from a line of a file.
            if let (Some(file), Some(line)) = (&cl.file, cl.line) {
                evidence.insert(0, Evidence::line(file.clone(), line));
            }
            evidence.push(Evidence::Clause {
                license: cl.license.clone(),
                section: cl.section.clone(),
            });
            let at = if cl.section.is_empty() {
                String::new()
            } else {
                format!(" §{}", cl.section)
            };
            Reason {
                text: format!("{} licence `{}`{at}: {}", c.name, cl.license, cl.summary),
                component: Some(c.id),
                clause: Some((cl.license.clone(), cl.section.clone())),
                evidence,
            }
        })
        .collect()
}

/// Judges the freedoms, level and next steps of a detected release, on its own files.
pub fn judge(d: &Detection, gated: Option<&str>) -> Verdict {
    judge_with(d, gated, None)
}

/// Judges a detected release bound by its bases' terms (`lineage`): each freedom at most the
/// bases', the level at most theirs, OSAID conformance only when the bases conform.
pub fn judge_with(d: &Detection, gated: Option<&str>, lineage: Option<&Lineage>) -> Verdict {
    // The bases' reasons come first: whatever this release's own terms say, they bind it.
    let decide = |f: Freedom,
                  mut fails: Vec<Reason>,
                  mut unknown: Vec<Reason>,
                  holds: &dyn Fn() -> Reason| {
        if let Some(l) = lineage {
            let (inherited_fails, inherited_unknown) = inherit::reasons(l, f);
            fails.splice(0..0, inherited_fails);
            unknown.extend(inherited_unknown);
        }
        verdict(fails, unknown, holds)
    };
    let components: Vec<Component> = d.components.values().cloned().collect();
    let c = |id| comp(&components, id);
    let weights = c(ComponentId::ModelParametersFinal);
    let has_weights = weights.presence.available();
    let mut freedoms: BTreeMap<&'static str, FreedomVerdict> = BTreeMap::new();

    // Components whose licence terms matter for the freedoms: everything released.
    // The weights come first, so a clause shared by several components is cited on them.
    let mut released: Vec<&Component> = components
        .iter()
        .filter(|x| matches!(x.presence, Presence::Present | Presence::Declared))
        .collect();
    released.sort_by_key(|x| x.id != ComponentId::ModelParametersFinal);

    // Run.
    let mut run: Vec<Reason> = Vec::new();
    let mut run_unknown: Vec<Reason> = Vec::new();
    if !has_weights {
        run.push(Reason {
            text: "no final weights are released".into(),
            component: Some(ComponentId::ModelParametersFinal),
            clause: None,
            evidence: Vec::new(),
        });
    } else {
        match &weights.license {
            Some(l) => {
                run.extend(clause_reasons(weights, l, Freedom::Run));
                if l.kind == LicenseKind::None {
                    run.push(Reason {
                        text: "the weights carry no licence: no permission to use them".into(),
                        component: Some(weights.id),
                        clause: None,
                        evidence: lic_ev(weights),
                    });
                } else if l.grants_all_freedoms.is_none() && run.is_empty() {
                    run_unknown.push(Reason {
                        text: format!(
                            "the weights' licence `{}` is not identified well enough to judge",
                            l.name
                        ),
                        component: Some(weights.id),
                        clause: None,
                        evidence: lic_ev(weights),
                    });
                }
            }
            None => run_unknown.push(Reason {
                text: "no licence found for the weights".into(),
                component: Some(weights.id),
                clause: None,
                evidence: ev_of(weights),
            }),
        }
        if gated == Some("manual") {
            run.push(Reason {
                text: "downloads are gated with manual approval by the publisher".into(),
                component: Some(weights.id),
                clause: None,
                evidence: vec![Evidence::api("gated")],
            });
        }
        let inf = c(ComponentId::InferenceCode);
        if !inf.presence.available() && !c(ComponentId::ModelArchitecture).presence.available() {
            run_unknown.push(Reason {
                text: "no inference code or architecture description found to run the weights"
                    .into(),
                component: Some(ComponentId::InferenceCode),
                clause: None,
                evidence: Vec::new(),
            });
        }
    }
    freedoms.insert("run", decide(Freedom::Run, run, run_unknown, &|| holds_reason(weights, "weights and inference code available; the weights' licence sets no use restrictions")));

    // Study.
    let mut study: Vec<Reason> = Vec::new();
    let mut study_unknown: Vec<Reason> = Vec::new();
    for (id, what) in [
        (ComponentId::ModelArchitecture, "architecture"),
        (ComponentId::TrainingCode, "training code"),
    ] {
        let x = c(id);
        if !x.presence.available() {
            study.push(Reason {
                text: format!("no {what} is released or linked"),
                component: Some(id),
                clause: None,
                evidence: Vec::new(),
            });
        }
    }
    let data_described = [
        ComponentId::DataCard,
        ComponentId::Datasets,
        ComponentId::ResearchPaper,
        ComponentId::TechnicalReport,
    ]
    .into_iter()
    .any(|id| c(id).presence.available());
    if !data_described {
        study.push(Reason { text: "the training data is not described (no data card, datasheet, dataset reference or paper)".into(), component: Some(ComponentId::DataCard), clause: None, evidence: Vec::new() });
    }
    for x in &released {
        if let Some(l) = &x.license {
            study.extend(clause_reasons(x, l, Freedom::Study));
        }
    }
    if study.is_empty() && !has_weights {
        study_unknown.push(Reason {
            text: "nothing to study: no weights".into(),
            component: Some(ComponentId::ModelParametersFinal),
            clause: None,
            evidence: Vec::new(),
        });
    }
    let study_ev: Vec<Evidence> = [
        ComponentId::ModelArchitecture,
        ComponentId::TrainingCode,
        ComponentId::DataCard,
    ]
    .into_iter()
    .flat_map(|id| ev_of(c(id)))
    .collect();
    freedoms.insert(
        "study",
        decide(Freedom::Study, study, study_unknown, &|| Reason {
            text:
                "architecture, training code and a description of the training data are available"
                    .into(),
            component: None,
            clause: None,
            evidence: study_ev.clone(),
        }),
    );

    // Redistribute and Modify: every released component's terms.
    for f in [Freedom::Redistribute, Freedom::Modify] {
        let mut fails: Vec<Reason> = Vec::new();
        let mut unknown: Vec<Reason> = Vec::new();
        if !has_weights {
            fails.push(Reason {
                text: "no final weights are released".into(),
                component: Some(ComponentId::ModelParametersFinal),
                clause: None,
                evidence: Vec::new(),
            });
        }
        let mut seen_clauses = std::collections::BTreeSet::new();
        for x in &released {
            match &x.license {
                Some(l) => {
                    for r in clause_reasons(x, l, f) {
                        // One reason per clause, however many components share the licence.
                        if seen_clauses.insert(r.clause.clone()) {
                            fails.push(r);
                        }
                    }
                    if l.kind == LicenseKind::None && x.id.mof_id().is_some() {
                        fails.push(Reason {
                            text: format!(
                                "{} is released without a licence (all rights reserved)",
                                x.name
                            ),
                            component: Some(x.id),
                            clause: None,
                            evidence: lic_ev(x),
                        });
                    } else if l.grants_all_freedoms.is_none()
                        && matches!(
                            x.id,
                            ComponentId::ModelParametersFinal
                                | ComponentId::TrainingCode
                                | ComponentId::InferenceCode
                                | ComponentId::ModelArchitecture
                        )
                    {
                        unknown.push(Reason {
                            text: format!("{}: licence `{}` not identified", x.name, l.name),
                            component: Some(x.id),
                            clause: None,
                            evidence: lic_ev(x),
                        });
                    }
                }
                None if matches!(x.id, ComponentId::ModelParametersFinal) => {
                    unknown.push(Reason {
                        text: format!("{}: no licence found", x.name),
                        component: Some(x.id),
                        clause: None,
                        evidence: ev_of(x),
                    });
                }
                None => {}
            }
        }
        let text = match f {
            Freedom::Redistribute => {
                "every released component's licence allows redistribution without a separate agreement"
            }
            _ => {
                "derivatives may be made and shared; no naming, downstream or anti-improvement clauses"
            }
        };
        freedoms.insert(
            f.as_str(),
            decide(f, fails, unknown, &|| holds_reason(weights, text)),
        );
    }

    let mof = mof::evaluate(&components);
    let osai_gaps = open_source_ai_gaps(&c, &freedoms, data_described);
    let radical_gaps = radical_gaps(&c, &freedoms);
    let own_level = if !has_weights {
        Level::Closed
    } else if !osai_gaps.is_empty() {
        Level::OpenWeight
    } else if !radical_gaps.is_empty() {
        Level::OpenSourceAi
    } else {
        Level::RadicalOpenness
    };
    let cap = match lineage {
        Some(l) => inherit::cap(own_level, l),
        None => inherit::Cap {
            level: own_level,
            lowered: false,
            held_by: Vec::new(),
        },
    };
    let level = cap.level;
    // Each list is non-empty exactly when its level is not reached, so "missing for the next
    // level" can never be empty below the top. A level the bases hold the release at lists
    // what the bases lack, and what the release itself lacks for the next level (its own
    // weights are not what is missing when only its base's are).
    let mut next_level = match level {
        Level::Closed if !cap.lowered => {
            vec!["downloadable final weights (Model parameters (Final))".to_string()]
        }
        Level::Closed => Vec::new(),
        Level::OpenWeight => osai_gaps,
        Level::OpenSourceAi => radical_gaps,
        Level::RadicalOpenness => match &d.replay {
            Some(_) => Vec::new(),
            None => vec![
                "a replay verification record (`glassbox verify`) to be replay-verified".into(),
            ],
        },
    };
    next_level.extend(cap.held_by);
    let mut osaid = osaid(&components, data_described);
    if let Some(l) = lineage {
        osaid.missing.extend(inherit::osaid_gaps(l));
        osaid.conformant = osaid.missing.is_empty();
    }
    Verdict {
        level,
        replay: d.replay.clone(),
        freedoms,
        mof,
        osaid,
        next_level,
    }
}

/// What Open-Source AI needs and the release lacks: final weights, architecture, inference code
/// and training code available under terms that keep all four freedoms, and the training data
/// described. Evaluation code, data and results, supporting libraries and reports are not
/// required (MOF classes are judged separately and never gate the level).
fn open_source_ai_gaps<'a>(
    c: &impl Fn(ComponentId) -> &'a Component,
    freedoms: &BTreeMap<&'static str, FreedomVerdict>,
    data_described: bool,
) -> Vec<String> {
    let mut gaps = Vec::new();
    for id in [
        ComponentId::ModelParametersFinal,
        ComponentId::ModelArchitecture,
        ComponentId::InferenceCode,
        ComponentId::TrainingCode,
    ] {
        if !c(id).presence.available() {
            gaps.push(format!(
                "{} (not found in the release or linked from it)",
                id.name()
            ));
        }
    }
    if !data_described {
        gaps.push(
            "a description of the training data (data card, datasheet, dataset reference or paper)"
                .into(),
        );
    }
    gaps.extend(freedom_gaps(freedoms, &CORE));
    gaps
}

/// What Radical Openness needs beyond Open-Source AI: the full training data released under open
/// terms, the data-processing code and intermediate checkpoints.
fn radical_gaps<'a>(
    c: &impl Fn(ComponentId) -> &'a Component,
    freedoms: &BTreeMap<&'static str, FreedomVerdict>,
) -> Vec<String> {
    let mut gaps = Vec::new();
    let data = c(ComponentId::Datasets);
    let data_ev = evidence_suffix(&data.evidence);
    match (&data.presence, &data.license) {
        (p, _) if !p.available() => gaps.push(format!(
            "the full training data (Datasets) released under open terms: not found{}",
            data.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        )),
        (Presence::Referenced, None) => gaps.push(format!(
            "the full training data under open terms: it is only linked and its licence is not known{data_ev}"
        )),
        (_, None) => gaps.push(format!(
            "the full training data under open terms: no licence is declared for the data itself (a datasheet or data manifest naming each source's licence){data_ev}"
        )),
        (_, Some(l)) if !l.open => gaps.push(format!(
            "the full training data under open terms: its licence `{}` is not open{}",
            l.id,
            evidence_suffix(&data.license_evidence)
        )),
        _ => {}
    }
    for id in [
        ComponentId::DataPreprocessingCode,
        ComponentId::ModelParametersIntermediate,
    ] {
        if !c(id).presence.available() {
            gaps.push(format!(
                "{} (not found in the release or linked from it)",
                id.name()
            ));
        }
    }
    gaps.extend(freedom_gaps(freedoms, &RADICAL));
    gaps
}

/// The components whose terms decide Open-Source AI: the weights, the architecture, the
/// inference and training code (and the data description, for the freedom to study).
const CORE: [ComponentId; 5] = [
    ComponentId::ModelParametersFinal,
    ComponentId::ModelArchitecture,
    ComponentId::InferenceCode,
    ComponentId::TrainingCode,
    ComponentId::DataCard,
];

/// What Radical Openness adds, whose terms must keep the freedoms too.
const RADICAL: [ComponentId; 3] = [
    ComponentId::Datasets,
    ComponentId::DataPreprocessingCode,
    ComponentId::ModelParametersIntermediate,
];

/// One gap per freedom that does not hold because of `ids` (a reason without a component counts
/// for every set): the first such reason with its evidence, and how many more there are.
fn freedom_gaps(
    freedoms: &BTreeMap<&'static str, FreedomVerdict>,
    ids: &[ComponentId],
) -> Vec<String> {
    let mut gaps = Vec::new();
    for f in Freedom::ALL {
        let Some(v) = freedoms.get(f.as_str()) else {
            continue;
        };
        if v.status == Status::Holds {
            continue;
        }
        let relevant: Vec<&Reason> = v
            .reasons
            .iter()
            .filter(|r| r.component.is_none_or(|c| ids.contains(&c)))
            .collect();
        let Some(first) = relevant.first() else {
            continue;
        };
        let word = if v.status == Status::Fails {
            "fails"
        } else {
            "is unknown"
        };
        let more = match relevant.len() {
            1 => String::new(),
            n => format!(" (+{} more reason{})", n - 1, if n > 2 { "s" } else { "" }),
        };
        gaps.push(format!(
            "the freedom to {} {word}: {}{}{more}",
            f.as_str(),
            first.text,
            evidence_suffix(&first.evidence)
        ));
    }
    gaps
}

/// ` [a, b]` for non-empty evidence, nothing otherwise (never an empty "()").
fn evidence_suffix(ev: &[Evidence]) -> String {
    if ev.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = ev.iter().take(3).map(|e| e.to_string()).collect();
    format!(" [{}]", shown.join(", "))
}

fn holds_reason(c: &Component, text: &str) -> Reason {
    Reason {
        text: text.to_string(),
        component: Some(c.id),
        clause: None,
        evidence: lic_ev(c),
    }
}

fn verdict(fails: Vec<Reason>, unknown: Vec<Reason>, holds: &dyn Fn() -> Reason) -> FreedomVerdict {
    if !fails.is_empty() {
        let mut reasons = fails;
        reasons.extend(unknown);
        FreedomVerdict {
            status: Status::Fails,
            reasons,
        }
    } else if !unknown.is_empty() {
        FreedomVerdict {
            status: Status::Unknown,
            reasons: unknown,
        }
    } else {
        FreedomVerdict {
            status: Status::Holds,
            reasons: vec![holds()],
        }
    }
}

/// OSAID 1.0: parameters under OSI-compatible terms; complete code to train, run and process
/// data under OSI-approved licences; sufficiently detailed data information.
fn osaid(components: &[Component], data_described: bool) -> Osaid {
    let mut missing = Vec::new();
    let w = comp(components, ComponentId::ModelParametersFinal);
    if !w.presence.available() {
        missing.push("parameters (weights) are not released".into());
    } else if !w
        .license
        .as_ref()
        .is_some_and(|l| l.open && l.grants_all_freedoms == Some(true))
    {
        missing.push(format!(
            "parameters are not under OSI-compatible terms ({})",
            w.license
                .as_ref()
                .map_or("no licence".to_string(), |l| format!("`{}`", l.id))
        ));
    }
    for id in [
        ComponentId::TrainingCode,
        ComponentId::InferenceCode,
        ComponentId::DataPreprocessingCode,
        ComponentId::ModelArchitecture,
    ] {
        let x = comp(components, id);
        if !x.presence.available() {
            missing.push(format!("{} is not available", x.name.to_lowercase()));
        } else if !x.license.as_ref().is_some_and(|l| l.osi) {
            missing.push(format!(
                "{} is not under an OSI-approved licence",
                x.name.to_lowercase()
            ));
        }
    }
    if !data_described {
        missing.push("data information: no description of the training data".into());
    }
    Osaid {
        conformant: missing.is_empty(),
        missing,
    }
}
