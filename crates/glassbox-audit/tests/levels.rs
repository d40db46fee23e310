//! The spectrum's levels exactly as defined, walked piece by piece: starting from a release that
//! has everything, each missing piece (or each freedom broken) drops the release to the level
//! below the one that needs it, and "missing for the next level" names that piece. The MOF class
//! never gates the level.

#![allow(clippy::unwrap_used)]

use glassbox_audit::component::{Component, ComponentId, Presence};
use glassbox_audit::detect::Detection;
use glassbox_audit::evidence::Evidence;
use glassbox_audit::license::{self, ClauseRef, License};
use glassbox_audit::verdict::{Level, Verdict, judge};

use ComponentId as C;

/// Every component present under Apache-2.0, the data under CC0-1.0.
fn full() -> Detection {
    let mut d = Detection::default();
    for id in ComponentId::ALL {
        let mut c = Component::absent(id);
        c.presence = Presence::Present;
        c.evidence = vec![Evidence::file(format!("{}/file", id.name()))];
        c.license = Some(license::from_name(if id == C::Datasets {
            "CC0-1.0"
        } else {
            "apache-2.0"
        }));
        c.license_evidence = vec![Evidence::file("LICENSE")];
        d.components.insert(id, c);
    }
    d
}

fn with(mut d: Detection, id: ComponentId, f: impl FnOnce(&mut Component)) -> Detection {
    f(d.components.get_mut(&id).unwrap());
    d
}

fn absent(d: Detection, id: ComponentId) -> Detection {
    with(d, id, |c| *c = Component::absent(id))
}

/// A licence whose one clause breaks `freedom` only.
fn breaking(freedom: &'static str) -> License {
    let mut l = license::from_name("apache-2.0");
    l.id = format!("custom-{freedom}");
    l.open = false;
    l.grants_all_freedoms = Some(false);
    l.clauses = vec![ClauseRef {
        license: l.id.clone(),
        kind: "field_of_use",
        section: "4.2".into(),
        summary: format!("a clause that breaks {freedom}"),
        breaks: vec![freedom],
        ..ClauseRef::default()
    }];
    l
}

fn check(d: &Detection, level: Level, needle: &str) -> Verdict {
    let v = judge(d, None);
    assert_eq!(v.level, level, "{needle}: {:#?}", v.next_level);
    assert!(
        v.next_level.iter().any(|m| m.contains(needle)),
        "next level does not name `{needle}`: {:#?}",
        v.next_level
    );
    v
}

#[test]
fn full_release_is_radical_openness_and_only_the_replay_is_left() {
    let v = judge(&full(), None);
    assert_eq!(v.level, Level::RadicalOpenness);
    assert_eq!(v.next_level.len(), 1);
    assert!(v.next_level[0].contains("replay verification record"));
}

#[test]
fn closed_without_final_weights() {
    check(
        &absent(full(), C::ModelParametersFinal),
        Level::Closed,
        "final weights",
    );
}

#[test]
fn each_missing_open_source_ai_piece_is_named() {
    for (id, needle) in [
        (C::ModelArchitecture, "Model architecture"),
        (C::InferenceCode, "Inference code"),
        (C::TrainingCode, "Training code"),
    ] {
        check(&absent(full(), id), Level::OpenWeight, needle);
    }
    // The data is described by any of a data card, the datasets, a paper or a report; with none
    // of them it is not described. (Without the datasets Radical Openness is out of reach too,
    // but the next level is Open-Source AI.)
    let mut d = full();
    for id in [
        C::DataCard,
        C::Datasets,
        C::ResearchPaper,
        C::TechnicalReport,
    ] {
        d = absent(d, id);
    }
    check(&d, Level::OpenWeight, "description of the training data");
}

#[test]
fn each_broken_freedom_on_a_core_component_is_named_with_its_clause() {
    for (freedom, id) in [
        ("run", C::ModelParametersFinal),
        ("study", C::ModelParametersFinal),
        ("redistribute", C::TrainingCode),
        ("modify", C::ModelArchitecture),
        ("redistribute", C::InferenceCode),
    ] {
        let d = with(full(), id, |c| c.license = Some(breaking(freedom)));
        let v = check(
            &d,
            Level::OpenWeight,
            &format!("the freedom to {freedom} fails"),
        );
        assert!(
            v.next_level
                .iter()
                .any(|m| m.contains(&format!("custom-{freedom}` §4.2"))),
            "{:#?}",
            v.next_level
        );
        assert!(
            v.next_level.iter().any(|m| m.contains("[LICENSE")),
            "{:#?}",
            v.next_level
        );
    }
    // An unidentified weights licence leaves the freedoms unknown, and that is what is missing.
    let d = with(full(), C::ModelParametersFinal, |c| {
        c.license = Some(license::from_name("some custom licence"));
    });
    check(&d, Level::OpenWeight, "the freedom to run is unknown");
    // No licence at all on the weights: all rights reserved.
    let d = with(full(), C::ModelParametersFinal, |c| {
        c.license = Some(license::from_name("unlicensed"));
    });
    check(&d, Level::OpenWeight, "no permission to use them");
}

#[test]
fn each_missing_radical_piece_is_named() {
    for (id, needle) in [
        (C::DataPreprocessingCode, "Data preprocessing code"),
        (
            C::ModelParametersIntermediate,
            "Model parameters (Intermediate)",
        ),
        (C::Datasets, "the full training data"),
    ] {
        check(&absent(full(), id), Level::OpenSourceAi, needle);
    }
    // Data only linked, with no licence known.
    let d = with(full(), C::Datasets, |c| {
        c.presence = Presence::Referenced;
        c.license = None;
    });
    check(&d, Level::OpenSourceAi, "only linked");
    // Data released without a licence of its own.
    let d = with(full(), C::Datasets, |c| c.license = None);
    check(
        &d,
        Level::OpenSourceAi,
        "no licence is declared for the data",
    );
    // Data under non-open terms: the data's terms break freedoms, which blocks Radical Openness
    // but not Open-Source AI (whose terms are those of weights, architecture and code).
    let d = with(full(), C::Datasets, |c| {
        c.license = Some(license::from_name("cc-by-nc-4.0"));
    });
    let v = check(&d, Level::OpenSourceAi, "`CC-BY-NC-4.0` is not open");
    assert!(v.next_level.iter().any(|m| m.contains("the freedom to")));
    // Checkpoints under terms that break a freedom.
    let d = with(full(), C::ModelParametersIntermediate, |c| {
        c.license = Some(breaking("modify"));
    });
    check(&d, Level::OpenSourceAi, "the freedom to modify fails");
}

#[test]
fn mof_class_never_gates_the_level() {
    // Without evaluation code, evaluation data, results, model card, technical report and paper,
    // MOF gives no class at all; the level is still Radical Openness.
    let mut d = full();
    for id in [
        C::EvaluationCode,
        C::EvaluationData,
        C::EvaluationResults,
        C::ModelCard,
        C::TechnicalReport,
        C::ResearchPaper,
        C::SupportingLibraries,
    ] {
        d = absent(d, id);
    }
    let v = judge(&d, None);
    assert_eq!(v.mof.class, None);
    assert_eq!(v.level, Level::RadicalOpenness, "{:#?}", v.next_level);
    // Evaluation data under a non-commercial licence: a freedom fails in the report, but the
    // level's components are unaffected.
    let d = with(full(), C::EvaluationData, |c| {
        c.license = Some(license::from_name("cc-by-nc-4.0"));
    });
    let v = judge(&d, None);
    assert_eq!(v.level, Level::RadicalOpenness, "{:#?}", v.next_level);
    assert_ne!(
        v.freedoms["redistribute"].status,
        glassbox_audit::verdict::Status::Holds
    );
}

#[test]
fn next_level_is_never_empty_below_the_top() {
    // Every single removal and every single broken freedom, on every component.
    for id in ComponentId::ALL {
        for d in [
            absent(full(), id),
            with(full(), id, |c| c.license = Some(breaking("run"))),
            with(full(), id, |c| c.license = Some(breaking("modify"))),
            with(full(), id, |c| {
                c.license = Some(license::from_name("odd text"))
            }),
        ] {
            let v = judge(&d, None);
            if v.level != Level::RadicalOpenness {
                assert!(!v.next_level.is_empty(), "{id:?}: {:?}", v.level);
            }
        }
    }
}
