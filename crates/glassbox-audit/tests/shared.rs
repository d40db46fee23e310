//! Tests against real data kept in the repository (`tests/fixtures`): licence texts identified
//! by content, and MOF classes of all Model Openness Tool files compared with an independent
//! implementation of MOT's published rules.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use glassbox_audit::license::{self, LicenseKind};
use serde_json::Value;

/// The fixtures folder, laid out as `licenses/` (texts) and `mot/` (MOT models and schema).
fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn every_licence_text_is_identified_by_content() {
    let dir = shared().join("licenses");
    // File name → expected identification (AI-table key or SPDX id).
    let expected: BTreeMap<&str, &str> = [
        ("AI2-AI-Model-License-Agreement-Tulu.txt", "ai2-tulu"),
        (
            "BigCode-OpenRAIL-M-v1-thirdparty-transcription.txt",
            "bigcode-openrail-m",
        ),
        (
            "Falcon-180B-TII-License-1.0-thirdparty-markdown-notes-with-zh-translation.txt",
            "falcon-tii",
        ),
        (
            "Falcon-2-11B-TII-Acceptable-Use-Policy-thirdparty-transcription.txt",
            "falcon-2-11b-aup",
        ),
        (
            "Falcon-2-11B-TII-License-1.0-thirdparty-transcription.txt",
            "falcon-2-11b",
        ),
        ("GLM-4-9B-License-zh-en-thirdparty-copy.txt", "glm-4"),
        (
            "Gemma-Prohibited-Use-Policy-2024-02-21-thirdparty-transcription.txt",
            "gemma-prohibited-use",
        ),
        (
            "Mistral-AI-Non-Production-License-0.1-thirdparty-copy.txt",
            "mistral-non-production",
        ),
        (
            "Mistral-AI-Research-License-0.1-thirdparty-copy.txt",
            "mistral-research",
        ),
        ("OpenMDW-1.0.txt", "OpenMDW-1.0"),
        ("OpenMDW-1.1.txt", "OpenMDW-1.1"),
        (
            "Qwen-Research-License-Agreement-2024-09-19-thirdparty-copy.txt",
            "qwen-research",
        ),
        (
            "Skywork-Community-License-pdf-extracted.txt",
            "skywork-community",
        ),
        (
            "Skywork-Community-License-zh-pdf-extracted.txt",
            "skywork-community",
        ),
        (
            "TII-Falcon-License-2024-12-Acceptable-Use-Policy-thirdparty-transcription.txt",
            "tii-falcon-aup",
        ),
        (
            "TII-Falcon-License-2024-12-thirdparty-transcription.txt",
            "tii-falcon",
        ),
        ("Apache-2.0.txt", "Apache-2.0"),
        ("Apple-ML-Research-Model-License.txt", "apple-ml-research"),
        ("Apple-Sample-Code-License.txt", "apple-sample-code"),
        ("BSD-3-Clause.txt", "BSD-3-Clause"),
        ("BigScience-BLOOM-RAIL-1.0.txt", "bigscience-bloom-rail-1.0"),
        ("CC-BY-4.0.txt", "CC-BY-4.0"),
        ("CC-BY-NC-4.0.txt", "CC-BY-NC-4.0"),
        ("CC-BY-SA-4.0.txt", "CC-BY-SA-4.0"),
        ("CC0-1.0.txt", "CC0-1.0"),
        ("ChatGLM3-6B-Model-License.txt", "chatglm3-6b"),
        ("CreativeML-OpenRAIL++-M.txt", "creativeml-openrail++-m"),
        ("CreativeML-OpenRAIL-M.txt", "creativeml-openrail-m"),
        ("Databricks-Open-Model-License.txt", "databricks-open-model"),
        ("DeepFloyd-IF-License.txt", "deepfloyd-if"),
        ("DeepSeek-License-Agreement-1.0.txt", "deepseek-license"),
        ("GPL-3.txt", "GPL-3.0-only"),
        (
            "Gemma-Terms-of-Use-2025-03-24-thirdparty-transcription.txt",
            "gemma-terms",
        ),
        ("LGPL-3.txt", "LGPL-3.0-only"),
        (
            "LLaMA-1-Model-License-Noncommercial.txt",
            "llama-1-noncommercial",
        ),
        ("Llama-2-Acceptable-Use-Policy.txt", "llama-2-aup"),
        ("Llama-2-Community-License.txt", "llama-2-community"),
        ("Llama-3-Acceptable-Use-Policy.txt", "llama-3-aup"),
        ("Llama-3-Community-License.txt", "llama-3-community"),
        ("Llama-3.1-Acceptable-Use-Policy.txt", "llama-3.1-aup"),
        ("Llama-3.1-Community-License.txt", "llama-3.1-community"),
        ("Llama-3.2-Acceptable-Use-Policy.txt", "llama-3.2-aup"),
        ("Llama-3.2-Community-License.txt", "llama-3.2-community"),
        ("Llama-3.3-Acceptable-Use-Policy.txt", "llama-3.3-aup"),
        ("Llama-3.3-Community-License.txt", "llama-3.3-community"),
        ("Llama-4-Acceptable-Use-Policy.txt", "llama-4-aup"),
        ("Llama-4-Community-License.txt", "llama-4-community"),
        ("MIT.txt", "MIT"),
        ("MPL-2.0.txt", "MPL-2.0"),
        ("Microsoft-Research-License-Terms-MSR-LA-2015.txt", "msr-la"),
        ("OPT-175B-License-Agreement.txt", "opt-175b"),
        ("Tongyi-Qianwen-License-Agreement.txt", "tongyi-qianwen"),
        (
            "Tongyi-Qianwen-Research-License-Agreement.txt",
            "tongyi-qianwen-research",
        ),
    ]
    .into_iter()
    .collect();
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".txt") {
            continue;
        }
        let want = expected
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no expectation for {name}"));
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let got = license::from_text(&text);
        // GPL/LGPL texts are the same for -only and -or-later; either id is right.
        let ok = got.license.id == *want
            || (want.ends_with("-only") && got.license.id == want.replace("-only", "-or-later"));
        if !ok {
            failures.push(format!(
                "{name}: got `{}` ({:?}, confidence {:.2}), want `{want}`; candidates {:?}",
                got.license.id, got.license.kind, got.license.confidence, got.candidates
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "misidentified:\n{}",
        failures.join("\n")
    );
}

#[test]
fn llama_and_rail_texts_carry_their_clauses() {
    let dir = shared().join("licenses");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    let llama3 = license::from_text(&read("Llama-3-Community-License.txt")).license;
    let kinds: HashSet<&str> = llama3.clauses.iter().map(|c| c.kind).collect();
    for k in [
        "user_threshold",
        "naming_mandate",
        "acceptable_use_policy",
        "no_improving_other_models",
    ] {
        assert!(kinds.contains(k), "Llama 3 lacks {k}: {:?}", llama3.clauses);
    }
    let mau = llama3
        .clauses
        .iter()
        .find(|c| c.kind == "user_threshold")
        .unwrap();
    assert_eq!(mau.section, "2");
    assert!(mau.breaks.contains(&"run"));
    let bloom = license::from_text(&read("BigScience-BLOOM-RAIL-1.0.txt")).license;
    assert!(
        bloom
            .clauses
            .iter()
            .any(|c| c.kind == "downstream_restrictions" && c.breaks.contains(&"modify"))
    );
    let apache = license::from_text(&read("Apache-2.0.txt")).license;
    assert!(apache.open && apache.osi && apache.clauses.is_empty());
    let nc = license::from_text(&read("CC-BY-NC-4.0.txt")).license;
    assert!(!nc.open && nc.clauses.iter().any(|c| c.kind == "non_commercial"));
}

// ---- An independent implementation of MOT's rules, reading MOT's own schema files. ----

struct MotRules {
    open: HashSet<String>,
    components: Vec<(u32, String, String, u8, bool)>, // id, name, content type, class, required
}

const OPEN_DATA: &[&str] = &[
    "CC0-1.0",
    "CC-BY-1.0",
    "CC-BY-2.0",
    "CC-BY-2.5",
    "CC-BY-2.5-AU",
    "CC-BY-3.0",
    "CC-BY-3.0-AT",
    "CC-BY-3.0-AU",
    "CC-BY-3.0-DE",
    "CC-BY-3.0-IGO",
    "CC-BY-3.0-NL",
    "CC-BY-3.0-US",
    "CC-BY-4.0",
    "CC-BY-SA-1.0",
    "CC-BY-SA-2.0",
    "CC-BY-SA-2.0-UK",
    "CC-BY-SA-2.1-JP",
    "CC-BY-SA-2.5",
    "CC-BY-SA-3.0",
    "CC-BY-SA-3.0-AT",
    "CC-BY-SA-4.0",
    "CDLA-Permissive-1.0",
    "CDLA-Permissive-2.0",
    "CDLA-Sharing-1.0",
    "ODC-PDDL-1.0",
    "ODC-By-1.0",
    "ODbL-1.0",
    "GFDL-1.3",
    "OGL-Canada-2.0",
    "OGL-UK-2.0",
    "OGL-UK-3.0",
    "OpenMDW-1.0",
];

impl MotRules {
    fn load(schema: &std::path::Path) -> Self {
        let mut flags: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for f in ["spdx-licenses.json", "mof-licenses.json"] {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(schema.join(f)).unwrap()).unwrap();
            for l in v["licenses"].as_array().unwrap() {
                let id = l["licenseId"].as_str().unwrap().to_string();
                let osi = l
                    .get("isOsiApproved")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let fsf = l
                    .get("isFsfLibre")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                flags.insert(id, (osi, fsf)); // mof-licenses.json overrides, as MOT imports it second
            }
        }
        let mut open: HashSet<String> = flags
            .into_iter()
            .filter(|(_, (o, f))| *o || *f)
            .map(|(k, _)| k)
            .collect();
        open.extend(OPEN_DATA.iter().map(|s| s.to_string()));
        let comps: Value = serde_norway::from_str(
            &std::fs::read_to_string(schema.join("mof-components.yml")).unwrap(),
        )
        .unwrap();
        let components = comps["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_u64().unwrap() as u32,
                    c["name"].as_str().unwrap().to_string(),
                    c["content_type"].as_str().unwrap().to_string(),
                    c["class"].as_u64().unwrap() as u8,
                    c["required"].as_bool().unwrap(),
                )
            })
            .collect();
        Self { open, components }
    }

    /// MOT's class (1, 2, 3) or 0, with exact-string licence matching.
    fn class(&self, doc: &Value) -> u8 {
        let release = &doc["release"];
        let global = &release["license"];
        let mut included: BTreeMap<u32, Option<String>> = BTreeMap::new();
        for c in release["components"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap();
            let (id, _, ctype, _, _) = self.components.iter().find(|x| x.1 == name).unwrap();
            let lic = match c.get("license") {
                Some(Value::String(s)) => (s != "unlicensed" && !s.is_empty()).then(|| s.clone()),
                Some(Value::Null) | None => {
                    let g = |k: &str| {
                        global
                            .get(k)
                            .and_then(|x| x.get("name"))
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                    };
                    g(ctype).or_else(|| g("distribution"))
                }
                Some(other) => Some(other.to_string()),
            };
            included.insert(*id, lic);
        }
        let status = |id: u32| -> &'static str {
            match included.get(&id) {
                None => "missing",
                Some(None) => "unlicensed",
                Some(Some(l)) if self.open.contains(l) => "included",
                Some(Some(_)) => "invalid",
            }
        };
        let req = |class: u8| -> Vec<u32> {
            self.components
                .iter()
                .filter(|c| c.3 == class && c.4)
                .map(|c| c.0)
                .collect()
        };
        let (tr, rp) = (11, 21);
        let mut counted = [0usize; 4];
        let mut totals = [0usize; 4];
        let mut so_far = Vec::new();
        for class in [3u8, 2, 1] {
            so_far.extend(req(class));
            totals[class as usize] = so_far.len();
            let mut n = so_far
                .iter()
                .filter(|id| status(**id) == "included")
                .count();
            if class >= 2
                && status(tr) != "included"
                && status(rp) != "missing"
                && status(rp) == "included"
            {
                n += 1;
            }
            counted[class as usize] = n;
        }
        let progress = |class: u8| -> f64 {
            for above in (class + 1)..=3 {
                if counted[above as usize] < totals[above as usize] {
                    return 0.0;
                }
            }
            let mut total = totals[class as usize];
            if class == 1 && status(tr) != "included" && status(rp) == "included" {
                total -= 1;
            }
            (counted[class as usize] as f64 / total as f64 * 100.0).min(100.0)
        };
        [1u8, 2, 3]
            .into_iter()
            .find(|c| progress(*c) == 100.0)
            .unwrap_or(0)
    }
}

#[test]
fn mof_classes_agree_with_mot_rules_on_all_mot_files() {
    let root = shared().join("mot");
    let rules = MotRules::load(&root.join("schema"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 273, "expected MOT's 273 model files");
    let mut agree = 0;
    let mut disagreements = Vec::new();
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let report =
            glassbox_audit::audit_path(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let mot = rules.class(&doc);
        let ours = match report.mof.class {
            Some("I") => 1,
            Some("II") => 2,
            Some("III") => 3,
            _ => 0,
        };
        *classes
            .entry(report.mof.class.unwrap_or("none").to_string())
            .or_default() += 1;
        if ours == mot {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{}: glassbox {ours}, MOT rules {mot}",
                f.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let share = agree as f64 / files.len() as f64;
    eprintln!(
        "MOT agreement: {agree}/{} = {:.2}% ; classes {classes:?}",
        files.len(),
        share * 100.0
    );
    for d in &disagreements {
        eprintln!("  disagreement: {d}");
    }
    assert_eq!(
        agree,
        273,
        "agreement {:.2}%:\n{}",
        share * 100.0,
        disagreements.join("\n")
    );
    let want: BTreeMap<String, usize> = [("I", 14), ("II", 1), ("III", 16), ("none", 242)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(classes, want, "MOF class histogram");
}

#[test]
fn mot_files_yield_levels_and_recognised_licences() {
    let root = shared().join("mot/models");
    let r = glassbox_audit::audit_path(&root.join("BLOOM.yml")).unwrap();
    assert_eq!(r.level, glassbox_audit::verdict::Level::OpenWeight);
    let weights = r
        .components
        .iter()
        .find(|c| c.name == "Model parameters (Final)")
        .unwrap();
    assert_eq!(
        weights.license.as_ref().unwrap().id,
        "bigscience-bloom-rail-1.0"
    );
    assert_eq!(
        r.freedoms["modify"].status,
        glassbox_audit::verdict::Status::Fails
    );
    let amber = glassbox_audit::audit_path(&root.join("Amber.yml")).unwrap();
    let w = amber
        .components
        .iter()
        .find(|c| c.name == "Model parameters (Final)")
        .unwrap();
    assert_eq!(w.license.as_ref().unwrap().kind, LicenseKind::Spdx);
}
