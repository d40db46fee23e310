//! Components recognised from file names and contents (configs, code by purpose, data, logs).

use serde_json::Value;

use super::*;

fn any_name(name: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| name.contains(n))
}

/// The 1-based line of the first of `keys` to appear as a JSON key in `text`.
pub(super) fn key_line(text: &str, keys: &[&str]) -> Option<usize> {
    let quoted: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    text.lines()
        .position(|l| quoted.iter().any(|q| l.contains(q.as_str())))
        .map(|i| i + 1)
}

/// Reads a JSON file; invalid JSON is a finding.
pub(super) fn read_json(
    snap: &mut Snapshot,
    d: &mut Detection,
    p: &str,
) -> Option<(String, Value)> {
    let (text, _) = snap.read_text(p, MAX_JSON)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Some((text, v)),
        Err(e) => {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!("{p}: invalid JSON ({e})"),
                vec![Evidence::file(p)],
            ));
            None
        }
    }
}

/// A `config.json` that names an architecture: transformers (`architectures`, `model_type`) or a
/// diffusers model (`_class_name`, written by diffusers' `ConfigMixin` into each component
/// folder: `unet/`, `vae/`, `transformer/` …).
fn architecture_config(snap: &mut Snapshot, d: &mut Detection, p: &str) {
    use ComponentId as C;
    let Some((text, v)) = read_json(snap, d, p) else {
        return;
    };
    if v.get("architectures").is_some() || v.get("model_type").is_some() {
        mark(
            d,
            C::ModelArchitecture,
            Presence::Present,
            vec![Evidence::File {
                path: p.to_string(),
                line: key_line(&text, &["architectures", "model_type"]),
            }],
            Some("configuration of the architecture".into()),
        );
        if let Some(t) = v.get("model_type").and_then(Value::as_str)
            && TRANSFORMERS_TYPES.contains(&t)
        {
            mark_library(
                d,
                C::InferenceCode,
                "transformers",
                Some(format!("model_type `{t}` runs with transformers")),
            );
            mark_library(d, C::ModelArchitecture, "transformers", None);
        }
        if v.get("auto_map").is_some() {
            d.findings.push(Finding::new(Severity::Warning, FindingKind::Security,
                    format!("{p} has `auto_map`: loading needs trust_remote_code, which runs the repository's Python; the audit did not run it"),
                    vec![Evidence::file(p)]));
        }
    } else if let Some(class) = v.get("_class_name").and_then(Value::as_str) {
        mark(
            d,
            C::ModelArchitecture,
            Presence::Present,
            vec![Evidence::File {
                path: p.to_string(),
                line: key_line(&text, &["_class_name"]),
            }],
            Some(format!("diffusers model `{class}`")),
        );
        mark_library(
            d,
            C::InferenceCode,
            "diffusers",
            Some(format!("`{class}` runs with diffusers")),
        );
    }
}

/// A diffusers pipeline: `model_index.json` names the pipeline class and its components, each in
/// a folder of its own with a config and weights.
fn diffusers_pipeline(snap: &mut Snapshot, d: &mut Detection, p: &str) {
    use ComponentId as C;
    let Some((text, v)) = read_json(snap, d, p) else {
        return;
    };
    let Some(class) = v.get("_class_name").and_then(Value::as_str) else {
        return;
    };
    // `"unet": ["diffusers", "UNet2DConditionModel"]`; `[null, null]` marks a part left out.
    let parts: Vec<&str> = v
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, x)| {
            !k.starts_with('_')
                && x.as_array()
                    .and_then(|a| a.first())
                    .is_some_and(|lib| !lib.is_null())
        })
        .map(|(k, _)| k.as_str())
        .collect();
    let note = if parts.is_empty() {
        format!("diffusers pipeline `{class}`")
    } else {
        format!(
            "diffusers pipeline `{class}` (components: {})",
            parts.join(", ")
        )
    };
    mark(
        d,
        C::ModelArchitecture,
        Presence::Present,
        vec![Evidence::File {
            path: p.to_string(),
            line: key_line(&text, &["_class_name"]),
        }],
        Some(note),
    );
    mark_library(
        d,
        C::InferenceCode,
        "diffusers",
        Some(format!("pipeline `{class}` runs with diffusers")),
    );
}

pub(super) fn detect_files(
    snap: &mut Snapshot,
    d: &mut Detection,
    paths: &[(String, Option<u64>)],
) {
    use ComponentId as C;
    // Pipelines first, so the architecture's note names the pipeline rather than one part.
    for (p, _) in paths {
        if lower_name(p).1 == "model_index.json" && !in_checkpoint_dir(p) {
            diffusers_pipeline(snap, d, p);
        }
    }
    let mut py_read = 0;
    for (p, _) in paths {
        let (lower, name) = lower_name(p);
        let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
        let code = matches!(
            ext,
            "py" | "sh" | "rs" | "ipynb" | "jl" | "c" | "cpp" | "cu" | "js" | "ts" | "go"
        );
        let dir_has = |needles: &[&str]| {
            lower
                .split('/')
                .rev()
                .skip(1)
                .any(|part| any_name(part, needles))
        };
        // Architecture: a config that names one, or modelling code.
        if name == "config.json" && !in_checkpoint_dir(p) {
            architecture_config(snap, d, p);
        }
        if ext == "py"
            && (name.starts_with("modeling_")
                || name.starts_with("modelling_")
                || name == "model.py"
                || name == "models.py")
        {
            mark(
                d,
                C::ModelArchitecture,
                Presence::Present,
                vec![Evidence::file(p)],
                Some("modelling code".into()),
            );
        } else if ext == "py"
            && py_read < 200
            && !any_name(&name, &["train", "eval", "test", "preprocess", "setup"])
        {
            py_read += 1;
            if let Some(b) = snap.read(p, 256 << 10)
                && let Some(t) = b.text()
                && let Some(i) = t.lines().position(|l| {
                    l.contains("(nn.Module)")
                        || l.contains("(PreTrainedModel)")
                        || l.contains("(torch.nn.Module)")
                })
            {
                mark(
                    d,
                    C::ModelArchitecture,
                    Presence::Present,
                    vec![Evidence::line(p, i + 1)],
                    Some("modelling code".into()),
                );
            }
        }
        // Tokenizer.
        if matches!(
            name.as_str(),
            "tokenizer.json"
                | "tokenizer.model"
                | "tokenizer_config.json"
                | "vocab.json"
                | "merges.txt"
                | "spiece.model"
                | "vocab.txt"
        ) {
            mark(
                d,
                C::Tokenizer,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        // Code by purpose.
        if code || name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".toml") {
            if any_name(
                &name,
                &["train", "pretrain", "finetune", "fine_tune", "sft"],
            ) || (code && dir_has(&["train"]))
            {
                mark(
                    d,
                    C::TrainingCode,
                    Presence::Present,
                    vec![Evidence::file(p)],
                    None,
                );
            }
            if any_name(
                &name,
                &[
                    "preprocess",
                    "prepare_data",
                    "data_prep",
                    "dedup",
                    "tokenize",
                    "curate",
                    "filter_data",
                    "clean_data",
                ],
            ) || (code && dir_has(&["preprocess", "data_processing", "curation"]))
            {
                mark(
                    d,
                    C::DataPreprocessingCode,
                    Presence::Present,
                    vec![Evidence::file(p)],
                    None,
                );
            }
            if code && (any_name(&name, &["eval", "benchmark"]) || dir_has(&["eval"])) {
                mark(
                    d,
                    C::EvaluationCode,
                    Presence::Present,
                    vec![Evidence::file(p)],
                    None,
                );
            }
            if code
                && any_name(
                    &name,
                    &[
                        "inference",
                        "generate",
                        "serve",
                        "predict",
                        "run_model",
                        "chat",
                    ],
                )
            {
                mark(
                    d,
                    C::InferenceCode,
                    Presence::Present,
                    vec![Evidence::file(p)],
                    None,
                );
            }
        }
        if name == "recipe.toml"
            || (name.contains("recipe")
                && (ext == "toml" || ext == "yaml" || ext == "yml" || ext == "json"))
        {
            mark(
                d,
                C::Recipe,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
            mark(
                d,
                C::ModelMetadata,
                Presence::Present,
                vec![Evidence::file(p)],
                Some("training configuration".into()),
            );
        }
        // Supporting libraries.
        if matches!(
            name.as_str(),
            "requirements.txt"
                | "pyproject.toml"
                | "setup.py"
                | "environment.yml"
                | "cargo.toml"
                | "cargo.lock"
                | "code_revision.json"
                | "code-revision.json"
        ) {
            mark(
                d,
                C::SupportingLibraries,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        // Data cards and datasets.
        if any_name(
            &name,
            &["datasheet", "data_card", "datacard", "dataset_card"],
        ) && matches!(ext, "md" | "json" | "txt" | "pdf" | "yaml")
        {
            mark(
                d,
                C::DataCard,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        if matches!(
            ext,
            "jsonl" | "parquet" | "arrow" | "zst" | "gz" | "tfrecord" | "npy" | "idx"
        ) && (dir_has(&["data"]) || any_name(&name, &["train", "shard", "corpus"]))
            && !dir_has(&["eval"])
        {
            mark(
                d,
                C::Datasets,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        if dir_has(&["eval"])
            && matches!(ext, "jsonl" | "parquet" | "csv" | "tsv" | "json")
            && any_name(&lower, &["data", "dataset", "tasks"])
        {
            mark(
                d,
                C::EvaluationData,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        // Evaluation results.
        if matches!(ext, "json" | "jsonl" | "csv" | "md")
            && (any_name(&name, &["eval_results", "evaluation_results", "results"])
                || name == "eval.jsonl"
                || (dir_has(&["evals", "evaluation"])
                    && any_name(&name, &["result", "score", "metrics"])))
        {
            mark(
                d,
                C::EvaluationResults,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        // Logs, data order.
        if name.ends_with(".log")
            || name.starts_with("events.out.tfevents")
            || (dir_has(&["logs"]) && matches!(ext, "jsonl" | "json" | "csv" | "txt"))
            || name == "trainer_state.json"
        {
            mark(
                d,
                C::TrainingLogs,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        if any_name(
            &name,
            &[
                "data_order",
                "data-order",
                "global_indices",
                "sample_order",
                "batch_order",
            ],
        ) || (dir_has(&["order"]) && matches!(ext, "bin" | "npy" | "json"))
        {
            mark(
                d,
                C::DataOrder,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
        // Papers and reports shipped as files.
        if ext == "pdf" {
            let id = if any_name(&name, &["report", "technical"]) {
                C::TechnicalReport
            } else if any_name(&name, &["datasheet", "data_card"]) {
                C::DataCard
            } else {
                C::ResearchPaper
            };
            mark(d, id, Presence::Present, vec![Evidence::file(p)], None);
        }
        // Papers and reports written in Markdown, LaTeX or HTML: by the file's stem.
        if matches!(ext, "md" | "tex" | "html") {
            let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
            let id = match stem {
                "paper" | "research_paper" | "research-paper" => Some(C::ResearchPaper),
                "technical_report" | "technical-report" | "tech_report" | "report" => {
                    Some(C::TechnicalReport)
                }
                _ => None,
            };
            if let Some(id) = id {
                mark(d, id, Presence::Present, vec![Evidence::file(p)], None);
            }
        }
        if dir_has(&["samples", "sample_outputs", "generations"])
            || any_name(&name, &["sample_output", "samples.", "generations."])
        {
            mark(
                d,
                C::SampleOutputs,
                Presence::Present,
                vec![Evidence::file(p)],
                None,
            );
        }
    }
}
