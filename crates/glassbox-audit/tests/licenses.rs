//! Licence identification held to the real world, on the texts in `tests/fixtures/licenses`
//! (provenance beside them): each reference text is itself; reformatted copies (re-wrapped,
//! Markdown, smart quotes, a copyright preamble, another copyright holder) still are; a known
//! licence with a clause added is "X with changes" with the clause quoted; licences the table
//! has never seen have their restrictions found and quoted; open licences yield no restriction;
//! every section the table cites is where the text puts that clause.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use glassbox_audit::license::clauses;
use glassbox_audit::license::text::{self, Sentence};
use glassbox_audit::license::{self, LicenseKind};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/licenses")
}

fn read(name: &str) -> String {
    let b = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    String::from_utf8_lossy(&b).into_owned()
}

/// Reference texts: file, AI-table key or open licence id, variant. These are the copies the
/// table's facts were written from; `src/license/references.rs` holds their sentence hashes.
const REFERENCES: &[(&str, &str, &str)] = &[
    ("AI2-AI-Model-License-Agreement-Tulu.txt", "ai2-tulu", "en"),
    (
        "Apple-ML-Research-Model-License.txt",
        "apple-ml-research",
        "en",
    ),
    ("Apple-Sample-Code-License.txt", "apple-sample-code", "en"),
    (
        "BigScience-BLOOM-RAIL-1.0.txt",
        "bigscience-bloom-rail-1.0",
        "en",
    ),
    (
        "BigCode-OpenRAIL-M-v1-thirdparty-transcription.txt",
        "bigcode-openrail-m",
        "en",
    ),
    ("ChatGLM3-6B-Model-License.txt", "chatglm3-6b", "en"),
    (
        "CreativeML-OpenRAIL++-M.txt",
        "creativeml-openrail++-m",
        "en",
    ),
    ("CreativeML-OpenRAIL-M.txt", "creativeml-openrail-m", "en"),
    (
        "Databricks-Open-Model-License.txt",
        "databricks-open-model",
        "en",
    ),
    ("DeepFloyd-IF-License.txt", "deepfloyd-if", "en"),
    (
        "DeepSeek-License-Agreement-1.0.txt",
        "deepseek-license",
        "en",
    ),
    (
        "Falcon-2-11B-TII-License-1.0-thirdparty-transcription.txt",
        "falcon-2-11b",
        "en",
    ),
    (
        "Falcon-2-11B-TII-Acceptable-Use-Policy-thirdparty-transcription.txt",
        "falcon-2-11b-aup",
        "en",
    ),
    (
        "GLM-4-9B-License-zh-en-thirdparty-copy.txt",
        "glm-4",
        "zh+en",
    ),
    (
        "Gemma-Prohibited-Use-Policy-2024-02-21-thirdparty-transcription.txt",
        "gemma-prohibited-use",
        "en",
    ),
    (
        "Gemma-Terms-of-Use-2025-03-24-thirdparty-transcription.txt",
        "gemma-terms",
        "en",
    ),
    (
        "LLaMA-1-Model-License-Noncommercial.txt",
        "llama-1-noncommercial",
        "en",
    ),
    ("Llama-2-Acceptable-Use-Policy.txt", "llama-2-aup", "en"),
    ("Llama-2-Community-License.txt", "llama-2-community", "en"),
    ("Llama-3-Acceptable-Use-Policy.txt", "llama-3-aup", "en"),
    ("Llama-3-Community-License.txt", "llama-3-community", "en"),
    ("Llama-3.1-Acceptable-Use-Policy.txt", "llama-3.1-aup", "en"),
    (
        "Llama-3.1-Community-License.txt",
        "llama-3.1-community",
        "en",
    ),
    ("Llama-3.2-Acceptable-Use-Policy.txt", "llama-3.2-aup", "en"),
    (
        "Llama-3.2-Community-License.txt",
        "llama-3.2-community",
        "en",
    ),
    ("Llama-3.3-Acceptable-Use-Policy.txt", "llama-3.3-aup", "en"),
    (
        "Llama-3.3-Community-License.txt",
        "llama-3.3-community",
        "en",
    ),
    ("Llama-4-Acceptable-Use-Policy.txt", "llama-4-aup", "en"),
    ("Llama-4-Community-License.txt", "llama-4-community", "en"),
    (
        "Microsoft-Research-License-Terms-MSR-LA-2015.txt",
        "msr-la",
        "en",
    ),
    (
        "Mistral-AI-Non-Production-License-0.1-thirdparty-copy.txt",
        "mistral-non-production",
        "en",
    ),
    (
        "Mistral-AI-Research-License-0.1-thirdparty-copy.txt",
        "mistral-research",
        "en",
    ),
    ("OPT-175B-License-Agreement.txt", "opt-175b", "en"),
    ("OpenMDW-1.0.txt", "OpenMDW-1.0", "en"),
    ("OpenMDW-1.1.txt", "OpenMDW-1.1", "en"),
    (
        "Qwen-Research-License-Agreement-2024-09-19-thirdparty-copy.txt",
        "qwen-research",
        "en",
    ),
    (
        "Skywork-Community-License-pdf-extracted.txt",
        "skywork-community",
        "en",
    ),
    (
        "Skywork-Community-License-zh-pdf-extracted.txt",
        "skywork-community",
        "zh",
    ),
    (
        "TII-Falcon-License-2024-12-thirdparty-transcription.txt",
        "tii-falcon",
        "en",
    ),
    (
        "TII-Falcon-License-2024-12-Acceptable-Use-Policy-thirdparty-transcription.txt",
        "tii-falcon-aup",
        "en",
    ),
    (
        "Tongyi-Qianwen-License-Agreement.txt",
        "tongyi-qianwen",
        "en",
    ),
    (
        "Tongyi-Qianwen-Research-License-Agreement.txt",
        "tongyi-qianwen-research",
        "en",
    ),
];

/// Standard licences: identified against the SPDX texts shipped with the `spdx` crate.
const STANDARD: &[(&str, &str)] = &[
    ("Apache-2.0.txt", "Apache-2.0"),
    ("BSD-3-Clause.txt", "BSD-3-Clause"),
    ("CC-BY-4.0.txt", "CC-BY-4.0"),
    ("CC-BY-NC-4.0.txt", "CC-BY-NC-4.0"),
    ("CC-BY-SA-4.0.txt", "CC-BY-SA-4.0"),
    ("CC0-1.0.txt", "CC0-1.0"),
    ("GPL-3.txt", "GPL-3.0-only"),
    ("LGPL-3.txt", "LGPL-3.0-only"),
    ("MIT.txt", "MIT"),
    ("MPL-2.0.txt", "MPL-2.0"),
];

fn same_id(got: &str, want: &str) -> bool {
    got == want || (want.ends_with("-only") && got == want.replace("-only", "-or-later"))
}

fn render_references() -> String {
    let mut out = String::from(
        "//! Reference sentences of the licence texts glassbox compares with: for each AI-table key (and\n\
         //! open licences the `spdx` crate lacks), the 64-bit hashes of the normalised sentences of one\n\
         //! verbatim copy, in order (see `text::reference_hashes`). No licence text is stored.\n\
         //!\n\
         //! Generated by `GLASSBOX_BLESS=1 cargo test -p glassbox-audit --test licenses` from the texts in\n\
         //! `tests/fixtures/licenses` (provenance beside them); the same test fails when this file is stale.\n\
         \n\
         /// One reference text.\n\
         #[derive(Debug)]\n\
         pub(crate) struct Reference {\n    \
             /// AI-table key or licence id.\n    \
             pub(crate) key: &'static str,\n    \
             /// Language or variant of the text (`en`, `zh`).\n    \
             #[allow(dead_code)]\n    \
             pub(crate) variant: &'static str,\n    \
             /// Sentence hashes, in order.\n    \
             pub(crate) hashes: &'static [u64],\n\
         }\n\
         \n\
         #[rustfmt::skip]\n\
         pub(crate) const REFERENCES: &[Reference] = &[\n",
    );
    for (file, key, variant) in REFERENCES {
        let hashes = text::reference_hashes(&read(file));
        out.push_str(&format!(
            "    // {file}\n    Reference {{\n        key: \"{key}\",\n        variant: \"{variant}\",\n        hashes: &[\n"
        ));
        for chunk in hashes.chunks(4) {
            let row: Vec<String> = chunk.iter().map(|h| format!("0x{h:016x}")).collect();
            out.push_str(&format!("            {},\n", row.join(", ")));
        }
        out.push_str("        ],\n    },\n");
    }
    out.push_str("];\n");
    out
}

#[test]
fn reference_table_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/license/references.rs");
    let want = render_references();
    if std::env::var_os("GLASSBOX_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let got = std::fs::read_to_string(&path).unwrap();
    assert!(
        got == want,
        "src/license/references.rs is stale: run GLASSBOX_BLESS=1 cargo test -p glassbox-audit --test licenses"
    );
}

#[test]
fn every_reference_text_is_exactly_itself() {
    let mut failures = Vec::new();
    for (file, key, _) in REFERENCES {
        let got = license::from_text(&read(file)).license;
        if got.id != *key || got.changes.is_some() {
            failures.push(format!("{file}: got `{}` {:?}", got.id, got.changes));
        }
    }
    for (file, id) in STANDARD {
        let got = license::from_text(&read(file)).license;
        if !same_id(&got.id, id) || got.changes.is_some() {
            failures.push(format!("{file}: got `{}` {:?}", got.id, got.changes));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A copy as another publisher would make it: paragraphs re-wrapped to 60 columns, numbered
/// headings as Markdown headings, curly quotes, a copyright preamble naming another holder.
fn reformat(text: &str) -> String {
    let mut out = String::from("Copyright (c) 2025 Example Labs Ltd. All rights reserved.\n\n");
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para.lines().collect();
        let first = lines.first().map_or("", |l| l.trim());
        let listy = lines.iter().any(|l| {
            let t = l.trim_start();
            t.starts_with(['-', '*', '(', '•'])
                || t.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
                    && t.chars().nth(1).is_some_and(|c| c == '.' || c == ')')
        });
        if listy || lines.len() < 2 {
            // Lists and single lines keep their lines (re-flowing would join list items);
            // numbered headings become Markdown headings.
            for l in &lines {
                let t = l.trim();
                if t.len() < 60
                    && t.chars().next().is_some_and(|c| c.is_ascii_digit())
                    && !t.ends_with('.')
                {
                    out.push_str("## ");
                }
                out.push_str(&curly(t));
                out.push('\n');
            }
        } else {
            let words: Vec<&str> = para.split_whitespace().collect();
            let mut line = String::new();
            for w in words {
                if line.len() + w.len() > 60 {
                    out.push_str(&curly(&line));
                    out.push('\n');
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(w);
            }
            out.push_str(&curly(&line));
            out.push('\n');
        }
        let _ = first;
        out.push('\n');
    }
    out
}

fn curly(s: &str) -> String {
    let mut open = true;
    s.chars()
        .map(|c| match c {
            '"' => {
                open = !open;
                if open { '”' } else { '“' }
            }
            '\'' => '’',
            c => c,
        })
        .collect()
}

#[test]
fn reformatted_copies_are_still_the_licence() {
    let mut failures = Vec::new();
    let all = REFERENCES
        .iter()
        .map(|(f, k, _)| (*f, *k))
        .chain(STANDARD.iter().copied());
    for (file, key) in all {
        let copy = reformat(&read(file));
        let got = license::from_text(&copy).license;
        if !same_id(&got.id, key) || got.changes.is_some() {
            failures.push(format!("{file}: got `{}` {:?}", got.id, got.changes));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // BSD with its copyright holder named where the SPDX text says "the copyright holder".
    let bsd = read("BSD-3-Clause.txt").replace("the copyright holder", "Example Labs Ltd.");
    let got = license::from_text(&bsd).license;
    assert_eq!(
        (got.id.as_str(), got.changes.is_none()),
        ("BSD-3-Clause", true),
        "{got:?}"
    );
}

#[test]
fn a_known_licence_with_a_clause_added_is_x_with_changes() {
    let mit = read("MIT.txt");
    let cut = mit.find("THE SOFTWARE IS PROVIDED").unwrap();
    let text = format!(
        "{}The Software may not be used for commercial purposes without our prior written approval.\n\n{}",
        &mit[..cut],
        &mit[cut..]
    );
    let line = text[..text.find("may not be used").unwrap()]
        .lines()
        .count();
    let got = license::from_text(&text).license;
    assert_eq!(got.id, "MIT with changes");
    assert!(!got.open && got.grants_all_freedoms == Some(false));
    let ch = got.changes.as_ref().unwrap();
    assert_eq!(
        (ch.base.as_str(), ch.added_count, ch.removed),
        ("MIT", 1, 0)
    );
    assert_eq!(ch.added[0].0, line);
    let kinds: Vec<&str> = got.clauses.iter().map(|c| c.kind).collect();
    assert!(
        kinds.contains(&"non_commercial") && kinds.contains(&"approval_required"),
        "{kinds:?}"
    );
    let c = got
        .clauses
        .iter()
        .find(|c| c.kind == "non_commercial")
        .unwrap();
    assert_eq!(c.line, Some(line));
    assert!(
        c.quote
            .as_ref()
            .unwrap()
            .contains("may not be used for commercial purposes")
    );
    // A clause removed from Llama 3's licence: not Llama 3 either.
    let llama = read("Llama-3-Community-License.txt");
    let start = llama
        .find("iv. Your use of the Llama Materials must comply")
        .unwrap();
    let end = start + llama[start..].find("\n").unwrap();
    let cut = format!("{}{}", &llama[..start], &llama[end..]);
    let got = license::from_text(&cut).license;
    assert_eq!(got.id, "llama-3-community with changes");
    assert!(got.changes.as_ref().unwrap().removed >= 1);
}

#[test]
fn open_licence_texts_yield_no_restriction() {
    let open = [
        "Apache-2.0.txt",
        "BSD-3-Clause.txt",
        "CC-BY-4.0.txt",
        "CC-BY-SA-4.0.txt",
        "CC0-1.0.txt",
        "GPL-3.txt",
        "LGPL-3.txt",
        "MIT.txt",
        "MPL-2.0.txt",
        "OpenMDW-1.0.txt",
        "OpenMDW-1.1.txt",
    ];
    let mut failures = Vec::new();
    for f in open {
        let s = text::sentences(&read(f));
        let refs: Vec<&Sentence> = s.iter().collect();
        for c in clauses::find(&refs) {
            failures.push(format!("{f}:{} {:?}: {}", c.line, c.kind, c.quote));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn restrictive_texts_yield_their_restrictions() {
    // Every restrictive licence text: the detector finds at least the kinds the table lists
    // (with a tolerance for kinds that are definitions or whole policies rather than sentences).
    let mut failures = Vec::new();
    for (file, key, _) in REFERENCES {
        let Some(entry) = license::ai_license(key) else {
            continue;
        };
        let s = text::sentences(&read(file));
        let refs: Vec<&Sentence> = s.iter().collect();
        let found = clauses::find(&refs);
        if !entry.clauses.is_empty() && found.is_empty() {
            failures.push(format!("{file}: no restriction found"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn table_sections_are_where_the_text_puts_them() {
    // For every clause the table cites with a number, the text has a sentence in that section
    // (its leading number) that the detector classifies as the same kind.
    // Copies whose numbering was lost in conversion (the table cites the licensor's numbering):
    // the AI2 Tulu text renumbered its lettered items, LLaMA 1's headings carry no numbers.
    const LOST_NUMBERING: &[&str] = &["ai2-tulu", "llama-1-noncommercial"];
    // Clauses that live in a definition rather than in a restricting sentence.
    // Or in a duty that restricts only through the agreement it passes on (Skywork's copy of
    // the Agreement for every recipient reads like an attribution duty).
    const DEFINITIONS: &[(&str, &str)] = &[("gemma-terms", "1.1(e)"), ("skywork-community", "4")];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, key, variant) in REFERENCES {
        if *variant == "zh" || LOST_NUMBERING.contains(key) {
            continue;
        }
        let Some(entry) = license::ai_license(key) else {
            continue;
        };
        let s = text::sentences(&read(file));
        let refs: Vec<&Sentence> = s.iter().collect();
        let found = clauses::find(&refs);
        for c in entry.clauses {
            let lead: String = c
                .section
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if lead.is_empty() || DEFINITIONS.contains(&(*key, c.section)) {
                continue;
            }
            checked += 1;
            // The table's section as far as it is a plain label (`4.1`, `1.b.iv`; `2.a(i)` →
            // `2.a`; `5, Attachment A` → `5`): the found sentence sits in it or below it.
            let label: String = c
                .section
                .chars()
                .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '.')
                .collect();
            let label = label.trim_end_matches('.').to_ascii_lowercase();
            let hit = found.iter().any(|f| {
                f.kind == c.kind
                    && (f.section == label || f.section.starts_with(&format!("{label}.")))
            });
            if !hit {
                let kinds: Vec<String> = found
                    .iter()
                    .map(|f| format!("{}@{}", f.kind.as_str(), f.section))
                    .collect();
                failures.push(format!(
                    "{file}: {} §{} not found there; found {}",
                    c.kind.as_str(),
                    c.section,
                    kinds.join(" ")
                ));
            }
        }
    }
    assert!(checked > 40, "{checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unidentified_text_without_restrictions_says_so() {
    let text = "The Zephyr Model Licence\n\nPermission is granted to everyone to use, copy, change and share the Zephyr model weights and their outputs, in any form, for any purpose, for free. The authors give no warranty of any kind and accept no liability for any use. Keep this notice with every copy you make.\n";
    let got = license::from_text(text).license;
    assert_eq!(got.kind, LicenseKind::Unknown);
    assert!(got.clauses.is_empty());
    // Nothing known is close: no "closest" is named.
    assert_eq!(got.name, "unidentified licence text (1 KB)");
    // MIT's grant reworded around: an MIT text is named as the closest, with its share.
    let mit = read("MIT.txt");
    let grant = mit
        .split("\n\n")
        .find(|p| p.contains("Permission is hereby granted"))
        .unwrap();
    let text = format!("The Nova Licence\n\n{grant}\n\nNova Labs may change these terms.\n");
    let got = license::from_text(&text).license;
    assert_eq!(got.kind, LicenseKind::Unknown, "{got:?}");
    assert!(got.name.contains("closest: MIT"), "{}", got.name);
}
