//! Model Openness Tool model files (`models/*.yml` of lfai/model_openness_tool): reading one as an
//! audit target, and writing an audit as one (`--export mot`).
//!
//! Licence resolution follows MOT's `ModelEvaluator::resolveLicense`: a component's own `license`
//! (where `unlicensed` means none), else the release licence for the component's content type
//! (`code`, `data`, `document`), else the `distribution` licence. Unlike MOT, names are identified
//! (`Apache 2.0` is Apache-2.0); docs/audit.md lists where that changes a class (nowhere in MOT's
//! own 273 files).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::component::{Component, ComponentId, ContentType, Presence};
use crate::detect::Detection;
use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};
use crate::license;
use crate::{AuditError, Result};

/// Largest MOT file read.
const MAX_MOT: u64 = 4 << 20;

/// A parsed MOT file: release metadata and detected components.
#[derive(Debug)]
pub struct MotModel {
    /// `release.name`.
    pub name: String,
    /// `release.producer`.
    pub producer: String,
    /// `release.huggingface`, `release.repository` and similar links.
    pub links: Vec<String>,
    /// Components as detected from the file.
    pub detection: Detection,
}

fn content_key(t: ContentType) -> &'static str {
    match t {
        ContentType::Code => "code",
        ContentType::Data => "data",
        ContentType::Document => "document",
    }
}

/// Reads a MOT model file.
pub fn read(path: &Path) -> Result<MotModel> {
    let meta =
        std::fs::metadata(path).map_err(|e| glassbox_core::CoreError::io("reading", path, e))?;
    if meta.len() > MAX_MOT {
        return Err(AuditError::Mot {
            path: path.into(),
            message: format!("{} bytes is too large for a MOT model file", meta.len()),
        });
    }
    let text = glassbox_core::fsio::read_to_string(path)?;
    let value = crate::card::parse_yaml(&text).map_err(|e| AuditError::Mot {
        path: path.into(),
        message: format!("not valid YAML: {e}"),
    })?;
    parse(&value, path)
}

/// Interprets a parsed MOT document.
pub fn parse(value: &Value, path: &Path) -> Result<MotModel> {
    let err = |m: String| AuditError::Mot {
        path: path.into(),
        message: m,
    };
    let release = value
        .get("release")
        .and_then(Value::as_object)
        .ok_or_else(|| err("missing `release` mapping".into()))?;
    let s = |k: &str| {
        release
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut d = Detection::default();
    for id in ComponentId::ALL {
        d.components.insert(id, Component::absent(id));
    }
    let global = release.get("license").cloned().unwrap_or(Value::Null);
    let global_name = |key: &str| -> Option<String> {
        global
            .get(key)
            .and_then(|g| g.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    };
    let comps = match release.get("components") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(err("`release.components` must be a list".into())),
    };
    for (i, comp) in comps.iter().enumerate() {
        let Some(name) = comp.get("name").and_then(Value::as_str) else {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!("component {i} has no name"),
                vec![Evidence::mot(format!("release.components[{i}]"))],
            ));
            continue;
        };
        let Some(id) = ComponentId::from_mof_name(name) else {
            d.findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Malformed,
                format!("component {i}: `{name}` is not a MOF component"),
                vec![Evidence::mot(format!("release.components[{i}].name"))],
            ));
            continue;
        };
        let field = format!("release.components[{i}]");
        // MOT: an explicit component licence wins (PHP isset: null counts as absent).
        let (raw, lic_field) = match comp.get("license") {
            // MOT maps `unlicensed` and an empty string to "no licence".
            Some(Value::String(l)) if l.trim().is_empty() => {
                (Some("unlicensed".into()), format!("{field}.license"))
            }
            Some(Value::String(l)) => (Some(l.clone()), format!("{field}.license")),
            Some(Value::Number(n)) => (Some(n.to_string()), format!("{field}.license")),
            _ => {
                let key = content_key(id.content_type());
                match global_name(key) {
                    Some(n) => (Some(n), format!("release.license.{key}.name")),
                    None => (
                        global_name("distribution"),
                        "release.license.distribution.name".to_string(),
                    ),
                }
            }
        };
        let lic = raw.as_deref().map(license::from_name);
        if let Some(l) = &lic
            && l.kind == license::LicenseKind::Unknown
        {
            d.findings.push(Finding::new(
                Severity::Info,
                FindingKind::UnknownLicense,
                format!("{name}: licence `{}` not recognised", l.name),
                vec![Evidence::mot(lic_field.clone())],
            ));
        }
        let mut evidence = vec![Evidence::mot(format!("{field}.name"))];
        if let Some(p) = comp
            .get("component_path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            && p.starts_with("http")
        {
            evidence.push(Evidence::url(p));
        }
        if let Some(c) = d.components.get_mut(&id) {
            c.presence = Presence::Declared;
            c.license = lic.or_else(|| Some(license::from_name("unlicensed")));
            c.license_evidence = vec![Evidence::mot(lic_field)];
            c.evidence = evidence;
        }
    }
    let links = ["huggingface", "repository", "github", "paper"]
        .iter()
        .filter_map(|k| release.get(*k).and_then(Value::as_str))
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    Ok(MotModel {
        name: s("name"),
        producer: s("producer"),
        links,
        detection: d,
    })
}

/// Writes an audit's components as a MOT model file (MOF 1.0 framework block, release metadata,
/// one entry per available component with its licence).
pub fn export(
    name: &str,
    producer: &str,
    components: &[Component],
    links: &BTreeMap<&str, String>,
) -> String {
    let mut comps = Vec::new();
    for c in components
        .iter()
        .filter(|c| c.mof_id.is_some() && c.presence.available())
    {
        let mut entry = serde_json::Map::new();
        entry.insert("name".into(), json!(c.name));
        entry.insert("description".into(), json!(mof_description(c.id)));
        let lic = match &c.license {
            Some(l) if l.kind == license::LicenseKind::None => "unlicensed".to_string(),
            Some(l) if l.kind == license::LicenseKind::Unknown => l.name.clone(),
            Some(l) => l.id.clone(),
            None => "unlicensed".to_string(),
        };
        entry.insert("license".into(), json!(lic));
        if let Some(p) = c.evidence.iter().find_map(|e| match e {
            Evidence::File { path, .. } => Some(path.clone()),
            Evidence::Url { url } => Some(url.clone()),
            _ => None,
        }) {
            entry.insert("component_path".into(), json!(p));
        }
        comps.push(Value::Object(entry));
    }
    let doc = json!({
        "framework": {"name": "Model Openness Framework", "version": "1.0", "date": "2024-12-15"},
        "release": {
            "name": name,
            "version": "",
            "date": "",
            "type": "language",
            "architecture": "",
            "origin": "",
            "producer": producer,
            "contact": "",
            "repository": links.get("repository").cloned().unwrap_or_default(),
            "huggingface": links.get("huggingface").cloned().unwrap_or_default(),
            "license": {},
            "components": comps,
        }
    });
    serde_norway::to_string(&doc).unwrap_or_default()
}

fn mof_description(id: ComponentId) -> &'static str {
    match id {
        ComponentId::ModelArchitecture => "Well commented code for the model's architecture",
        ComponentId::DataPreprocessingCode => {
            "Code for data cleansing, normalization, and augmentation"
        }
        ComponentId::TrainingCode => "Code used for training the model",
        ComponentId::InferenceCode => "Code used for running the model to make predictions",
        ComponentId::EvaluationCode => "Code used for evaluating the model",
        ComponentId::SupportingLibraries => "Libraries and tools used in the model's development",
        ComponentId::ModelParametersFinal | ComponentId::ModelParametersIntermediate => {
            "Trained model parameters, weights and biases"
        }
        ComponentId::Datasets => "Training, validation and testing datasets used for the model",
        ComponentId::EvaluationData => "Data used for evaluating the model",
        ComponentId::ModelMetadata => {
            "Any model metadata including training configuration and optimizer states"
        }
        ComponentId::SampleOutputs => "Examples of outputs generated by the model",
        ComponentId::ModelCard => {
            "Model details including performance metrics, intended use, and limitations"
        }
        ComponentId::DataCard => {
            "Documentation for datasets including source, characteristics, and preprocessing details"
        }
        ComponentId::TechnicalReport => {
            "Technical report detailing capabilities and usage instructions for the model"
        }
        ComponentId::ResearchPaper => {
            "Research paper detailing the development and capabilities of the model"
        }
        ComponentId::EvaluationResults => "The results from evaluating the model",
        _ => "",
    }
}
