//! The audit report (JSON schema version 1, documented in docs/audit.md) and its renderings:
//! terminal table, Markdown, self-contained HTML with an SVG level badge, and the exports
//! (MOT model file, CycloneDX 1.6 ML-BOM).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::component::{Component, Presence};
use crate::detect::{ReplayCheckedBy, ReplayMark, WeightFile};
use crate::evidence::Evidence;
use crate::finding::{Finding, Severity};
use crate::license::License;
use crate::lineage::{Lineage, render as lineage_render};
use crate::mof::{MofStatus, roman};
use crate::snapshot::TargetKind;
use crate::verdict::{FreedomVerdict, Level, Osaid, Status, Verdict};

/// Version of the JSON report layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The tool that wrote a report.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    /// `glassbox`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
}

/// What was audited.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// Path, `hf:org/name[@rev]` or MOT file.
    pub id: String,
    /// Kind.
    pub kind: TargetKind,
    /// Commit, when known.
    pub revision: Option<String>,
    /// Release name (MOT `release.name`, card `model_name`), when known.
    pub name: Option<String>,
}

/// MOF class and progress, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct MofSummary {
    /// `I`, `II`, `III`, or `null` when unclassified.
    pub class: Option<&'static str>,
    /// Progress towards each class, percent.
    pub progress: BTreeMap<&'static str, f64>,
    /// Required components not counted, per class.
    pub blocking: BTreeMap<&'static str, Vec<&'static str>>,
    /// Status of each MOF component.
    pub components: BTreeMap<&'static str, MofStatus>,
    /// Components with an open licence not of their content type's kind.
    pub not_type_appropriate: Vec<&'static str>,
}

/// What the next level needs.
#[derive(Debug, Clone, Serialize)]
pub struct NextLevel {
    /// The next level (`null` at the top).
    pub level: Option<Level>,
    /// Missing pieces.
    pub missing: Vec<String>,
}

/// A licence identified somewhere in the release.
#[derive(Debug, Clone, Serialize)]
pub struct LicenseFound {
    /// The licence.
    pub license: License,
    /// Where.
    pub evidence: Vec<Evidence>,
}

/// A complete audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The tool.
    pub tool: Tool,
    /// The target.
    pub target: TargetInfo,
    /// Openness level.
    pub level: Level,
    /// Human label of the level.
    pub level_label: &'static str,
    /// Whether a verified replay stands behind the release (see `replay`).
    pub replay_verified: bool,
    /// The replay mark: who checked (the publisher's record, or this audit), which glassbox
    /// version, which interval.
    pub replay: Option<ReplayMark>,
    /// The four freedoms.
    pub freedoms: BTreeMap<&'static str, FreedomVerdict>,
    /// MOF class.
    pub mof: MofSummary,
    /// OSAID 1.0 conformance.
    pub osaid: Osaid,
    /// The next level's missing pieces.
    pub next_level: NextLevel,
    /// Every component.
    pub components: Vec<Component>,
    /// Every licence identified.
    pub licenses: Vec<LicenseFound>,
    /// Weight files.
    pub weights: Vec<WeightFile>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// The models the release is derived from and how their terms bind it (`null` when it
    /// names no base and is not an adapter).
    pub lineage: Option<Lineage>,
}

impl Report {
    /// Assembles a report.
    pub fn new(
        target: TargetInfo,
        verdict: Verdict,
        components: Vec<Component>,
        licenses: Vec<(License, Vec<Evidence>)>,
        weights: Vec<WeightFile>,
        mut findings: Vec<Finding>,
    ) -> Self {
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        findings.dedup();
        let m = &verdict.mof;
        let keys = ["I", "II", "III"];
        let mof = MofSummary {
            class: m.class.map(roman),
            progress: keys
                .iter()
                .zip(m.progress)
                .map(|(k, p)| (*k, (p * 10.0).round() / 10.0))
                .collect(),
            blocking: keys
                .iter()
                .zip(&m.blocking)
                .map(|(k, b)| (*k, b.iter().map(|c| c.name()).collect()))
                .collect(),
            components: m.components.iter().map(|(c, s)| (c.name(), *s)).collect(),
            not_type_appropriate: m.not_type_appropriate.iter().map(|c| c.name()).collect(),
        };
        let mut licenses_found: Vec<LicenseFound> = Vec::new();
        for (l, ev) in licenses {
            match licenses_found.iter_mut().find(|x| x.license.id == l.id) {
                Some(x) => x.evidence.extend(ev),
                None => licenses_found.push(LicenseFound {
                    license: l,
                    evidence: ev,
                }),
            }
        }
        Self {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "glassbox",
                version: env!("CARGO_PKG_VERSION"),
            },
            target,
            level: verdict.level,
            level_label: verdict.level.label(),
            replay_verified: verdict.replay.is_some(),
            replay: verdict.replay,
            freedoms: verdict.freedoms,
            mof,
            osaid: verdict.osaid,
            next_level: NextLevel {
                level: verdict.level.next(),
                missing: verdict.next_level,
            },
            components,
            licenses: licenses_found,
            weights,
            findings,
            lineage: None,
        }
    }

    /// The level with the replay mark, e.g. `Radical Openness (replay-verified, re-run by this
    /// audit)`: a mark the publisher recorded and one this audit re-checked read differently.
    pub fn level_text(&self) -> String {
        match (&self.replay, self.level) {
            (Some(m), Level::RadicalOpenness) => format!(
                "{} (replay-verified, {})",
                self.level_label,
                match m.checked_by {
                    ReplayCheckedBy::Publisher => "as recorded by the publisher",
                    ReplayCheckedBy::Auditor => "re-run by this audit",
                }
            ),
            _ => self.level_label.to_string(),
        }
    }

    /// One line for batch output.
    pub fn one_line(&self) -> String {
        let f: Vec<String> = self
            .freedoms
            .iter()
            .map(|(k, v)| format!("{k}:{}", status_word(v.status)))
            .collect();
        format!(
            "{:<16} MOF {:<4} {}",
            self.level_text(),
            self.mof.class.unwrap_or("-"),
            f.join(" ")
        )
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Holds => "holds",
        Status::Fails => "FAILS",
        Status::Unknown => "unknown",
    }
}

pub(crate) fn presence_word(p: Presence) -> &'static str {
    match p {
        Presence::Present => "present",
        Presence::Referenced => "linked",
        Presence::Declared => "declared",
        Presence::Absent => "absent",
    }
}

fn ev_list(ev: &[Evidence], n: usize) -> String {
    let mut s: Vec<String> = ev.iter().take(n).map(|e| e.to_string()).collect();
    if ev.len() > n {
        s.push(format!("+{}", ev.len() - n));
    }
    s.join(", ")
}

/// The terminal table.
pub fn to_table(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "glassbox audit: {}", r.target.id);
    let _ = writeln!(o, "level            {}", r.level_text());
    if let Some(m) = &r.replay {
        let _ = writeln!(o, "replay           {}", m.describe());
    }
    let _ = writeln!(
        o,
        "                 (MOF class and OSAID below are separate judgements; they do not decide the level)"
    );
    let _ = writeln!(
        o,
        "MOF class        {} (progress I {:.0}%, II {:.0}%, III {:.0}%)",
        r.mof
            .class
            .map_or("none".to_string(), |c| format!("Class {c}")),
        r.mof.progress["I"],
        r.mof.progress["II"],
        r.mof.progress["III"]
    );
    let _ = writeln!(
        o,
        "OSAID 1.0        {}",
        if r.osaid.conformant {
            "conformant"
        } else {
            "not conformant"
        }
    );
    let _ = writeln!(o, "\nfreedoms");
    for (k, v) in &r.freedoms {
        let _ = writeln!(o, "  {:<13} {}", k, status_word(v.status));
        for reason in v.reasons.iter().take(6) {
            let _ = writeln!(
                o,
                "      - {}{}",
                reason.text,
                if reason.evidence.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", ev_list(&reason.evidence, 3))
                }
            );
        }
    }
    if let Some(l) = &r.lineage {
        o.push_str(&lineage_render::table(l));
    }
    let _ = writeln!(o, "\ncomponents");
    let _ = writeln!(
        o,
        "  {:<32} {:<9} {:<28} evidence",
        "component", "status", "licence"
    );
    for c in &r.components {
        let lic = c.license.as_ref().map_or("-".to_string(), |l| l.id.clone());
        let lic: String = lic.chars().take(28).collect();
        let _ = writeln!(
            o,
            "  {:<32} {:<9} {:<28} {}",
            c.name,
            presence_word(c.presence),
            lic,
            ev_list(&c.evidence, 2)
        );
    }
    if !r.findings.is_empty() {
        let _ = writeln!(o, "\nfindings");
        for f in &r.findings {
            let _ = writeln!(
                o,
                "  [{:?}] {}{}",
                f.severity,
                f.message,
                if f.evidence.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", ev_list(&f.evidence, 2))
                }
            );
        }
    }
    match r.next_level.level {
        Some(next) => {
            let _ = writeln!(o, "\nmissing for {}", next.label());
            for m in &r.next_level.missing {
                let _ = writeln!(o, "  - {m}");
            }
        }
        None if !r.next_level.missing.is_empty() => {
            for m in &r.next_level.missing {
                let _ = writeln!(o, "\nnote: {m}");
            }
        }
        None => {}
    }
    o
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// ` (evidence, …)` after a reason or finding, or nothing when it has no evidence.
fn md_evidence(ev: &[Evidence], n: usize) -> String {
    if ev.is_empty() {
        String::new()
    } else {
        format!(" ({})", md_escape(&ev_list(ev, n)))
    }
}

/// Markdown.
pub fn to_markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Openness audit: `{}`\n", r.target.id);
    let _ = writeln!(o, "- **Level:** {}", r.level_text());
    if let Some(m) = &r.replay {
        let _ = writeln!(o, "- **Replay:** {}", m.describe());
    }
    let _ = writeln!(
        o,
        "- **MOF class:** {}",
        r.mof
            .class
            .map_or("none".to_string(), |c| format!("Class {c}"))
    );
    let _ = writeln!(
        o,
        "- **OSAID 1.0:** {}\n",
        if r.osaid.conformant {
            "conformant"
        } else {
            "not conformant"
        }
    );
    let _ = writeln!(
        o,
        "## Freedoms\n\n| freedom | status | reasons |\n|---|---|---|"
    );
    for (k, v) in &r.freedoms {
        let reasons: Vec<String> = v
            .reasons
            .iter()
            .map(|x| format!("{}{}", md_escape(&x.text), md_evidence(&x.evidence, 3)))
            .collect();
        let _ = writeln!(
            o,
            "| {k} | {} | {} |",
            status_word(v.status),
            reasons.join("<br>")
        );
    }
    if let Some(l) = &r.lineage {
        o.push_str(&lineage_render::markdown(l, md_escape));
    }
    let _ = writeln!(
        o,
        "\n## Components\n\n| component | status | licence | evidence |\n|---|---|---|---|"
    );
    for c in &r.components {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            c.name,
            presence_word(c.presence),
            md_escape(&c.license.as_ref().map_or("-".into(), |l| l.id.clone())),
            md_escape(&ev_list(&c.evidence, 3))
        );
    }
    if !r.findings.is_empty() {
        let _ = writeln!(o, "\n## Findings\n");
        for f in &r.findings {
            let _ = writeln!(
                o,
                "- **{:?}** {}{}",
                f.severity,
                md_escape(&f.message),
                md_evidence(&f.evidence, 3)
            );
        }
    }
    if let Some(next) = r.next_level.level {
        let _ = writeln!(o, "\n## Missing for {}\n", next.label());
        for m in &r.next_level.missing {
            let _ = writeln!(o, "- {}", md_escape(m));
        }
    }
    o
}

fn html_escape(s: &str) -> String {
    crate::html::escape(s)
}

/// An SVG badge for the level (a flat two-part label).
pub fn badge_svg(r: &Report) -> String {
    let color = match r.level {
        Level::Closed => "#9f3a38",
        Level::OpenWeight => "#d9822b",
        Level::OpenSourceAi => "#2e8540",
        Level::RadicalOpenness => "#0b6e99",
    };
    let text = html_escape(&r.level_text());
    let right = 12 + text.chars().count() * 7;
    let width = 70 + right;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\" role=\"img\" aria-label=\"openness: {text}\">\
<rect width=\"70\" height=\"20\" fill=\"#555\"/><rect x=\"70\" width=\"{right}\" height=\"20\" fill=\"{color}\"/>\
<g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"8\" y=\"14\">openness</text><text x=\"78\" y=\"14\">{text}</text></g></svg>"
    )
}

/// One self-contained HTML page (see [`crate::html`]).
pub use crate::html::to_html;

/// The release as a Model Openness Tool model file (YAML): its name (the card's or MOT's release
/// name, else the target's last path segment) and, for a Hub target, its Hub page.
pub fn mot_export(r: &Report) -> String {
    let name = r.target.name.clone().unwrap_or_else(|| {
        r.target
            .id
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(&r.target.id)
            .to_string()
    });
    let mut links = BTreeMap::new();
    if let Some(repo) = r.target.id.strip_prefix("hf:") {
        links.insert(
            "huggingface",
            format!(
                "https://huggingface.co/{}",
                repo.split('@').next().unwrap_or(repo)
            ),
        );
    }
    crate::mot::export(&name, "", &r.components, &links)
}

/// A CycloneDX 1.6 ML-BOM: the model as a `machine-learning-model` component with its licence,
/// datasets as `data` components, and the audit's level and freedoms as properties.
pub fn to_cyclonedx(r: &Report) -> Value {
    let lic = |c: &Component| -> Vec<Value> {
        match &c.license {
            Some(l) if l.kind == crate::license::LicenseKind::Spdx => {
                vec![json!({"expression": l.id})]
            }
            Some(l) => vec![json!({"license": {"name": l.name}})],
            None => Vec::new(),
        }
    };
    let weights = r
        .components
        .iter()
        .find(|c| c.id == crate::component::ComponentId::ModelParametersFinal);
    let mut props = vec![
        json!({"name": "glassbox:openness:level", "value": r.level_label}),
        json!({"name": "glassbox:mof:class", "value": r.mof.class.unwrap_or("none")}),
        json!({"name": "glassbox:osaid:conformant", "value": r.osaid.conformant.to_string()}),
    ];
    for (k, v) in &r.freedoms {
        props.push(json!({"name": format!("glassbox:freedom:{k}"), "value": status_word(v.status).to_lowercase()}));
    }
    let datasets: Vec<Value> = r
        .components
        .iter()
        .filter(|c| matches!(c.id, crate::component::ComponentId::Datasets | crate::component::ComponentId::EvaluationData) && c.presence.available())
        .map(|c| json!({"type": "dataset", "name": c.name, "description": c.note.clone().unwrap_or_default()}))
        .collect();
    let model = json!({
        "type": "machine-learning-model",
        "bom-ref": "model",
        "name": r.target.name.clone().unwrap_or_else(|| r.target.id.clone()),
        "version": r.target.revision.clone().unwrap_or_default(),
        "licenses": weights.map(lic).unwrap_or_default(),
        "modelCard": {
            "modelParameters": {"datasets": datasets},
            "considerations": {"ethicalConsiderations": r.findings.iter().filter(|f| f.severity == Severity::Error).map(|f| json!({"name": f.message})).collect::<Vec<_>>()}
        },
        "properties": props,
    });
    // The bases are the model's ancestors (CycloneDX pedigree).
    let ancestors: Vec<Value> = r
        .lineage
        .iter()
        .flat_map(|l| &l.bases)
        .map(|b| json!({"type": "machine-learning-model", "name": b.name, "description": b.note}))
        .collect();
    let mut model = model;
    if !ancestors.is_empty()
        && let Some(m) = model.as_object_mut()
    {
        m.insert("pedigree".into(), json!({"ancestors": ancestors}));
    }
    let mut components = vec![model];
    for c in r.components.iter().filter(|c| {
        c.presence.available() && matches!(c.id, crate::component::ComponentId::Datasets)
    }) {
        components.push(json!({"type": "data", "bom-ref": "training-data", "name": c.note.clone().unwrap_or_else(|| c.name.to_string()), "licenses": lic(c)}));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"tools": {"components": [{"type": "application", "name": "glassbox", "version": r.tool.version}]}},
        "components": components,
    })
}
