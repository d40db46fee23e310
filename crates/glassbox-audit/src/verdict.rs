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
//! Levels: Closed (no downloadable weights) → Open-Weight → Open-Source AI (all four freedoms
//! for weights, architecture, inference and training code, data described, MOF Class II or
//! better) → Radical Openness (also full training data under open terms, data-processing code
//! and intermediate checkpoints: MOF Class I).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::component::{Component, ComponentId, Presence};
use crate::detect::Detection;
use crate::evidence::Evidence;
use crate::license::{Freedom, License, LicenseKind};
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
    /// All four freedoms, data described, MOF Class II or better.
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
    /// Whether a replay verification record is present and passed.
    pub replay_verified: bool,
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
            evidence.push(Evidence::Clause {
                license: cl.license.clone(),
                section: cl.section.clone(),
            });
            Reason {
                text: format!(
                    "{} licence `{}` §{}: {}",
                    c.name, cl.license, cl.section, cl.summary
                ),
                component: Some(c.id),
                clause: Some((cl.license.clone(), cl.section.clone())),
                evidence,
            }
        })
        .collect()
}

/// Judges the freedoms, level and next steps of a detected release.
pub fn judge(d: &Detection, gated: Option<&str>) -> Verdict {
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
    freedoms.insert("run", verdict(run, run_unknown, || holds_reason(weights, "weights and inference code available; the weights' licence sets no use restrictions")));

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
        verdict(study, study_unknown, || Reason {
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
            verdict(fails, unknown, || holds_reason(weights, text)),
        );
    }

    let mof = mof::evaluate(&components);
    let all_hold = freedoms.values().all(|v| v.status == Status::Holds);
    let mut level = if has_weights {
        Level::OpenWeight
    } else {
        Level::Closed
    };
    let mut osai_missing: Vec<String> = Vec::new();
    for (name, v) in &freedoms {
        if v.status != Status::Holds {
            let why = v
                .reasons
                .first()
                .map_or(String::new(), |r| format!(": {}", r.text));
            osai_missing.push(format!(
                "freedom to {name} {}{why}",
                if v.status == Status::Fails {
                    "fails"
                } else {
                    "is unknown"
                }
            ));
        }
    }
    for id in [
        ComponentId::ModelArchitecture,
        ComponentId::InferenceCode,
        ComponentId::TrainingCode,
    ] {
        let x = c(id);
        if !x.presence.available() {
            osai_missing.push(format!("{} (not found)", x.name));
        }
    }
    if !data_described {
        osai_missing.push("a description of the training data (data card or datasheet)".into());
    }
    if mof.class.is_none_or(|k| k > 2) {
        let blocking: Vec<&str> = mof.blocking[1].iter().map(|c| c.name()).collect();
        osai_missing.push(format!(
            "MOF Class II: open-licensed {}",
            blocking.join(", ")
        ));
    }
    if has_weights && all_hold && osai_missing.is_empty() {
        level = Level::OpenSourceAi;
    }
    let mut radical_missing: Vec<String> = Vec::new();
    if level == Level::OpenSourceAi {
        let data = c(ComponentId::Datasets);
        let data_open = data.presence.available() && data.license.as_ref().is_some_and(|l| l.open);
        if !data_open {
            radical_missing.push("the full training data under open terms".into());
        }
        for id in [
            ComponentId::DataPreprocessingCode,
            ComponentId::ModelParametersIntermediate,
        ] {
            if !c(id).presence.available() {
                radical_missing.push(format!("{} (not found)", c(id).name));
            }
        }
        if mof.class != Some(1) {
            let blocking: Vec<&str> = mof.blocking[0].iter().map(|c| c.name()).collect();
            radical_missing.push(format!(
                "MOF Class I: open-licensed {}",
                blocking.join(", ")
            ));
        }
        if radical_missing.is_empty() {
            level = Level::RadicalOpenness;
        }
    }
    let next_level = match level {
        Level::Closed => vec!["downloadable final weights".to_string()],
        Level::OpenWeight => osai_missing,
        Level::OpenSourceAi => radical_missing,
        Level::RadicalOpenness => {
            if d.replay_verified {
                Vec::new()
            } else {
                vec![
                    "a replay verification record (`glassbox verify`) to be replay-verified".into(),
                ]
            }
        }
    };
    let osaid = osaid(&components, data_described);
    Verdict {
        level,
        replay_verified: d.replay_verified,
        freedoms,
        mof,
        osaid,
        next_level,
    }
}

fn holds_reason(c: &Component, text: &str) -> Reason {
    Reason {
        text: text.to_string(),
        component: Some(c.id),
        clause: None,
        evidence: lic_ev(c),
    }
}

fn verdict(
    fails: Vec<Reason>,
    unknown: Vec<Reason>,
    holds: impl FnOnce() -> Reason,
) -> FreedomVerdict {
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
