//! Licences as an audit meets them in releases: custom licences the table has never seen (their
//! restrictions decide the freedoms, quoted file:line), a permissive licence with one clause
//! added, a card whose `license:` disagrees with the LICENSE file, `license: other` followed
//! through `license_name` and `license_link`, and a GGUF whose metadata names the licence.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use glassbox_audit::component::ComponentId;
use glassbox_audit::evidence::Evidence;
use glassbox_audit::finding::FindingKind;
use glassbox_audit::license::LicenseKind;
use glassbox_audit::verdict::{Level, Status};
use glassbox_audit::{Report, audit_path};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/licenses")
        .join(name);
    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
}

struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    /// Weights, a Llama config, training code and a card with a training-data section: every
    /// component of Open-Source AI but the licence.
    fn new(card_meta: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        let r = Self { _tmp: tmp, root };
        r.file("model.safetensors", safetensors())
            .file(
                "config.json",
                r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
            )
            .file("train.py", "# training loop\n")
            .file(
                "README.md",
                format!(
                    "---\n{card_meta}---\n# Model\n\n## Training data\n\nPublic-domain books.\n"
                ),
            );
        r
    }
    fn file(&self, path: &str, contents: impl AsRef<[u8]>) -> &Self {
        let p = self.root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }
    fn audit(&self) -> Report {
        audit_path(&self.root).unwrap()
    }
}

fn safetensors() -> Vec<u8> {
    let header = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend([0u8; 16]);
    v
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

/// The freedom's failing reasons that quote `file:line`.
fn quoted(r: &Report, freedom: &str, file: &str, line: usize) -> bool {
    r.freedoms[freedom].reasons.iter().any(|x| {
        x.evidence.iter().any(
            |e| matches!(e, Evidence::File { path, line: Some(l) } if path == file && *l == line),
        )
    })
}

fn weights_license(r: &Report) -> glassbox_audit::license::License {
    r.components
        .iter()
        .find(|c| c.id == ComponentId::ModelParametersFinal)
        .unwrap()
        .license
        .clone()
        .unwrap()
}

fn show(r: &Report) -> String {
    glassbox_audit::report::to_table(r)
}

#[test]
fn custom_licence_restrictions_decide_the_freedoms_with_quotes() {
    let text = fixture("custom/acme-open-model-license.md");
    let repo = Repo::new("license: other\n");
    repo.file("LICENSE.md", &text);
    let r = repo.audit();
    assert_eq!(r.level, Level::OpenWeight, "{}", show(&r));
    let l = weights_license(&r);
    assert_eq!(l.kind, LicenseKind::Unknown);
    assert!(
        l.name.starts_with("unidentified licence text ("),
        "{}",
        l.name
    );
    // §3.1 user threshold and §3.2 policy break run; §4.1 "Built with" breaks modify;
    // §6.2 revocation at will breaks run and redistribute. Each quoted from its line.
    assert_eq!(r.freedoms["run"].status, Status::Fails, "{}", show(&r));
    assert!(
        quoted(
            &r,
            "run",
            "LICENSE.md",
            line_of(&text, "more than 50 million")
        ),
        "{}",
        show(&r)
    );
    assert!(
        quoted(
            &r,
            "run",
            "LICENSE.md",
            line_of(&text, "Acceptable Use Policy published")
        ),
        "{}",
        show(&r)
    );
    assert!(
        quoted(
            &r,
            "modify",
            "LICENSE.md",
            line_of(&text, "prominently display")
        ),
        "{}",
        show(&r)
    );
    assert!(
        quoted(
            &r,
            "redistribute",
            "LICENSE.md",
            line_of(&text, "at any time for any reason")
        ),
        "{}",
        show(&r)
    );
    // The HTML page quotes the sentence under the freedom it breaks, linked to its file.
    let html = glassbox_audit::report::to_html(&r);
    let run = &html[html.find("id=\"f-run\"").unwrap()..html.find("id=\"f-study\"").unwrap()];
    assert!(
        run.contains("<blockquote>") && run.contains("50 million"),
        "{run}"
    );
    assert!(run.contains("/LICENSE.md\"><code>LICENSE.md:"), "{run}");
    let sections: Vec<&str> = l.clauses.iter().map(|c| c.section.as_str()).collect();
    for s in ["3.1", "3.2", "4.1", "6.2"] {
        assert!(sections.contains(&s), "{sections:?}");
    }
    // The report says what the text is and what is missing for the next level.
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::UnknownLicense
                && f.message.contains("unidentified licence text")),
    );
    assert!(
        r.next_level
            .missing
            .iter()
            .any(|m| m.contains("LICENSE.md:")),
        "{:?}",
        r.next_level
    );
}

#[test]
fn research_licence_and_chinese_licence_are_read() {
    let text = fixture("custom/nimbus-research-license.txt");
    let repo = Repo::new("license: other\n");
    repo.file("LICENSE", &text);
    let r = repo.audit();
    let kinds: Vec<&str> = weights_license(&r).clauses.iter().map(|c| c.kind).collect();
    for k in ["research_only", "no_improving_other_models", "geographic"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert!(
        quoted(
            &r,
            "modify",
            "LICENSE",
            line_of(&text, "train, improve or distil")
        ),
        "{}",
        show(&r)
    );

    let zh = fixture("custom/kite-model-license-zh.txt");
    let repo = Repo::new("license: other\n");
    repo.file("LICENSE", &zh);
    let r = repo.audit();
    let l = weights_license(&r);
    let kinds: Vec<&str> = l.clauses.iter().map(|c| c.kind).collect();
    for k in ["approval_required", "user_threshold", "field_of_use"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert!(
        quoted(&r, "run", "LICENSE", line_of(&zh, "月活跃用户")),
        "{}",
        show(&r)
    );
    let q = l
        .clauses
        .iter()
        .find(|c| c.kind == "user_threshold")
        .unwrap();
    assert!(q.quote.as_ref().unwrap().contains("月活跃用户超过一亿"));
}

#[test]
fn unidentified_text_without_restrictions_leaves_freedoms_unknown_and_says_why() {
    let repo = Repo::new("license: other\n");
    repo.file("LICENSE", fixture("custom/zephyr-permissive.txt"));
    let r = repo.audit();
    assert_eq!(r.freedoms["run"].status, Status::Unknown, "{}", show(&r));
    let why = &r.freedoms["run"].reasons[0].text;
    assert!(why.contains("unidentified licence text (1 KB)"), "{why}");
}

#[test]
fn permissive_licence_with_a_clause_added_is_not_the_permissive_licence() {
    let mit = fixture("MIT.txt");
    let cut = mit.find("THE SOFTWARE IS PROVIDED").unwrap();
    let text = format!(
        "{}You will not use the Software or its outputs to train or improve any other AI models.\n\n{}",
        &mit[..cut],
        &mit[cut..]
    );
    let repo = Repo::new("license: mit\n");
    repo.file("LICENSE", &text);
    let r = repo.audit();
    let l = weights_license(&r);
    assert_eq!(l.id, "MIT with changes", "{}", show(&r));
    assert_eq!(r.freedoms["modify"].status, Status::Fails);
    assert!(
        quoted(
            &r,
            "modify",
            "LICENSE",
            line_of(&text, "You will not use the Software")
        ),
        "{}",
        show(&r)
    );
    // The card's `mit` and the file disagree: a conflict naming both, judged by the file.
    let conflict = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LicenseConflict)
        .unwrap();
    assert!(
        conflict.message.contains("README.md:2") && conflict.message.contains("MIT with changes"),
        "{}",
        conflict.message
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("with changes, so it is not `MIT`"))
    );
}

#[test]
fn non_commercial_licence_file_is_never_outvoted_by_an_open_card() {
    // A reformatted CC-BY-NC text against `license: apache-2.0`.
    let nc = fixture("CC-BY-NC-4.0.txt").replace('"', "“");
    let repo = Repo::new("license: apache-2.0\n");
    repo.file("LICENSE", &nc);
    let r = repo.audit();
    assert_eq!(weights_license(&r).id, "CC-BY-NC-4.0", "{}", show(&r));
    assert_eq!(r.freedoms["run"].status, Status::Fails);
    let conflict = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LicenseConflict)
        .unwrap();
    assert!(
        conflict.message.contains("`Apache-2.0`") && conflict.message.contains("`CC-BY-NC-4.0`"),
        "{}",
        conflict.message
    );
    // An unidentified text that forbids commercial use, against the same card.
    let custom = "Ozone Model Terms\n\nYou may use and share the Ozone model, but you may not use it for any commercial purpose whatsoever.\nNo warranty.\n";
    let repo = Repo::new("license: apache-2.0\n");
    repo.file("LICENSE", custom);
    let r = repo.audit();
    assert_eq!(
        weights_license(&r).kind,
        LicenseKind::Unknown,
        "{}",
        show(&r)
    );
    assert_eq!(r.freedoms["run"].status, Status::Fails, "{}", show(&r));
    assert!(quoted(&r, "run", "LICENSE", 3), "{}", show(&r));
    // Even an unidentified text with nothing restrictive counts as stricter than an open id.
    let repo = Repo::new("license: apache-2.0\n");
    repo.file("LICENSE", fixture("custom/zephyr-permissive.txt"));
    let r = repo.audit();
    assert_ne!(r.freedoms["run"].status, Status::Holds, "{}", show(&r));
}

#[test]
fn license_other_is_followed_through_name_and_link() {
    // A link to a file of the repository: the file's text decides.
    let repo = Repo::new("license: other\nlicense_name: mrl\nlicense_link: LICENSE.md\n");
    repo.file(
        "LICENSE.md",
        fixture("Mistral-AI-Research-License-0.1-thirdparty-copy.txt"),
    );
    let r = repo.audit();
    assert_eq!(weights_license(&r).id, "mistral-research", "{}", show(&r));
    assert!(
        r.freedoms["run"]
            .reasons
            .iter()
            .any(|x| x.clause == Some(("mistral-research".into(), "3.2".into()))),
        "{}",
        show(&r)
    );
    // A Hub address of a file of this repository.
    let repo = Repo::new(
        "license: other\nlicense_name: qwen-research\nlicense_link: https://huggingface.co/Qwen/Qwen2.5-3B/blob/main/LICENSE\n",
    );
    repo.file(
        "LICENSE",
        fixture("Qwen-Research-License-Agreement-2024-09-19-thirdparty-copy.txt"),
    );
    assert_eq!(weights_license(&repo.audit()).id, "qwen-research");
    // A licensor's URL only (no file): the table knows the address.
    let repo = Repo::new("license: other\nlicense_link: https://mistral.ai/licenses/MNPL-0.1.md\n");
    let r = repo.audit();
    assert_eq!(
        weights_license(&r).id,
        "mistral-non-production",
        "{}",
        show(&r)
    );
    // Names the Hub uses for custom licences.
    for (name, key) in [
        ("falcon-llm-license", "tii-falcon"),
        ("jamba-open-model-license", "jamba-open-model"),
        ("baichuan2-community-license", "baichuan-2-community"),
        ("skywork-community-license", "skywork-community"),
        ("glm-4", "glm-4"),
    ] {
        let repo = Repo::new(&format!("license: other\nlicense_name: {name}\n"));
        assert_eq!(weights_license(&repo.audit()).id, key, "{name}");
    }
}

#[test]
fn third_party_copies_of_hub_licences_are_identified() {
    // A Markdown copy of the Falcon 180B licence with a Chinese translation appended.
    let t = license_of(&fixture(
        "Falcon-180B-TII-License-1.0-thirdparty-markdown-notes-with-zh-translation.txt",
    ));
    assert_eq!(t.id, "falcon-tii");
    // The Chinese version of the Skywork licence alone.
    let t = license_of(&fixture("Skywork-Community-License-zh-pdf-extracted.txt"));
    assert_eq!(t.id, "skywork-community");
    // OpenMDW is open.
    let t = license_of(&fixture("OpenMDW-1.0.txt"));
    assert!(t.open && t.grants_all_freedoms == Some(true), "{t:?}");
}

fn license_of(text: &str) -> glassbox_audit::license::License {
    glassbox_audit::license::from_text(text).license
}

#[test]
fn gguf_metadata_licence_decides_when_the_repository_says_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root: &Path = tmp.path();
    std::fs::write(root.join("model.gguf"), gguf("llama", "cc-by-nc-4.0")).unwrap();
    let r = audit_path(root).unwrap();
    assert_eq!(weights_license(&r).id, "CC-BY-NC-4.0", "{}", show(&r));
    assert_eq!(r.freedoms["run"].status, Status::Fails);
    // With an Apache card: a conflict, judged by the stricter metadata.
    std::fs::write(
        root.join("README.md"),
        "---\nlicense: apache-2.0\n---\n# m\n",
    )
    .unwrap();
    let r = audit_path(root).unwrap();
    assert_eq!(weights_license(&r).id, "CC-BY-NC-4.0", "{}", show(&r));
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::LicenseConflict && f.message.contains("model.gguf"))
    );
}

/// A GGUF v3 file with `general.architecture` and `general.license` and no tensors.
fn gguf(arch: &str, license: &str) -> Vec<u8> {
    let s = |v: &mut Vec<u8>, x: &str| {
        v.extend((x.len() as u64).to_le_bytes());
        v.extend(x.as_bytes());
    };
    let mut v = b"GGUF".to_vec();
    v.extend(3u32.to_le_bytes());
    v.extend(0u64.to_le_bytes());
    v.extend(2u64.to_le_bytes());
    for (k, val) in [("general.architecture", arch), ("general.license", license)] {
        s(&mut v, k);
        v.extend(8u32.to_le_bytes());
        s(&mut v, val);
    }
    v
}
