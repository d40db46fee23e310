//! Components named by the model card (metadata, sections, links) and by Hub branches.

use serde_json::Value;

use super::*;

pub(super) fn detect_from_card(d: &mut Detection) {
    use ComponentId as C;
    let Some(card) = d.card.clone() else { return };
    let path = card.path.clone();
    // Datasets named in metadata. (`base_model` is read by `base_refs`: the lineage.)
    let datasets = card.strings("datasets");
    if !datasets.is_empty() {
        mark(
            d,
            C::Datasets,
            Presence::Referenced,
            vec![card.field_evidence("datasets")],
            Some(format!("named in the card: {}", datasets.join(", "))),
        );
    }
    // model-index holds evaluation results and names evaluation datasets.
    if let Some(mi) = card.field("model-index") {
        mark(
            d,
            C::EvaluationResults,
            Presence::Present,
            vec![card.field_evidence("model-index")],
            Some("model-index in the card".into()),
        );
        let mut eval_sets = Vec::new();
        for model in mi.as_array().into_iter().flatten() {
            for r in model
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = r
                    .pointer("/dataset/name")
                    .or_else(|| r.pointer("/dataset/type"))
                    .and_then(Value::as_str)
                {
                    eval_sets.push(name.to_string());
                }
            }
        }
        if !eval_sets.is_empty() {
            eval_sets.sort();
            eval_sets.dedup();
            mark(
                d,
                C::EvaluationData,
                Presence::Referenced,
                vec![card.field_evidence("model-index")],
                Some(format!("evaluation datasets: {}", eval_sets.join(", "))),
            );
        }
    }
    if let Some(lib) = card.field("library_name").and_then(Value::as_str)
        && let Some((name, _, url)) = LIBRARIES
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(lib))
    {
        mark(
            d,
            C::InferenceCode,
            Presence::Referenced,
            vec![
                card.field_evidence("library_name"),
                Evidence::Url { url: (*url).into() },
            ],
            Some(format!("runs with {name}")),
        );
    }
    // Tags such as `arxiv:2304.01373` name papers.
    for t in card.strings("tags") {
        if let Some(id) = t.strip_prefix("arxiv:") {
            mark(
                d,
                C::ResearchPaper,
                Presence::Referenced,
                vec![Evidence::Url {
                    url: format!("https://arxiv.org/abs/{id}"),
                }],
                None,
            );
        }
    }
    // Sections of the card.
    let data_sections = card.heading(&["training data", "dataset", "pretraining data", "data"]);
    if !data_sections.is_empty() {
        mark(
            d,
            C::DataCard,
            Presence::Present,
            data_sections,
            Some("training data described in a section of the model card".into()),
        );
    }
    let eval_sections = card.heading(&["evaluation", "results", "benchmark"]);
    if !eval_sections.is_empty() && card.body.contains('|') {
        mark(
            d,
            C::EvaluationResults,
            Presence::Present,
            eval_sections,
            Some("results table in the model card".into()),
        );
    }
    // Links in the body, classified by what surrounds them.
    for link in &card.links {
        let ctx = link.context.to_lowercase();
        let ev = vec![
            Evidence::line(&path, link.line),
            Evidence::Url {
                url: link.url.clone(),
            },
        ];
        match link.kind {
            LinkKind::Paper => {
                let id = if ctx.contains("technical report") || ctx.contains("tech report") {
                    C::TechnicalReport
                } else {
                    C::ResearchPaper
                };
                mark(d, id, Presence::Referenced, ev, None);
            }
            LinkKind::Code => {
                let mut hit = false;
                for (needles, id) in [
                    (
                        &["train", "pretrain", "fine-tun", "finetun", "recipe"][..],
                        C::TrainingCode,
                    ),
                    (
                        &[
                            "preprocess",
                            "data processing",
                            "data-processing",
                            "curation",
                            "dedup",
                            "tokeniz",
                            "dolma",
                            "datatrove",
                        ][..],
                        C::DataPreprocessingCode,
                    ),
                    (&["eval", "benchmark", "harness"][..], C::EvaluationCode),
                    (
                        &["inference", "serving", "generation", "deploy"][..],
                        C::InferenceCode,
                    ),
                ] {
                    if needles.iter().any(|n| ctx.contains(n)) {
                        mark(
                            d,
                            id,
                            Presence::Referenced,
                            ev.clone(),
                            Some(format!("linked repository {}", link.url)),
                        );
                        hit = true;
                    }
                }
                if !hit
                    && (ctx.contains("code")
                        || ctx.contains("repository")
                        || ctx.contains("github"))
                {
                    mark(
                        d,
                        C::TrainingCode,
                        Presence::Referenced,
                        ev.clone(),
                        Some(format!(
                            "linked code repository {} (purpose not stated)",
                            link.url
                        )),
                    );
                }
            }
            LinkKind::Dataset => {
                let id = if ctx.contains("eval") || ctx.contains("benchmark") {
                    C::EvaluationData
                } else {
                    C::Datasets
                };
                mark(d, id, Presence::Referenced, ev, None);
            }
            LinkKind::Other
                if link.url.contains("wandb.ai") || link.url.contains("tensorboard") =>
            {
                mark(d, C::TrainingLogs, Presence::Referenced, ev, None);
            }
            _ => {}
        }
    }
}

pub(super) fn detect_refs(snap: &Snapshot, d: &mut Detection) {
    let steps: Vec<&String> = snap.refs.iter().filter(|r| step_name(r)).collect();
    if !steps.is_empty() {
        let first: Vec<&str> = steps.iter().take(4).map(|s| s.as_str()).collect();
        mark(
            d,
            ComponentId::ModelParametersIntermediate,
            Presence::Present,
            vec![Evidence::api("refs.branches")],
            Some(format!(
                "{} checkpoint branches ({}{})",
                steps.len(),
                first.join(", "),
                if steps.len() > 4 { ", …" } else { "" }
            )),
        );
    }
}
