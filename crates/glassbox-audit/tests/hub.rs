//! `hf:` targets against recorded Hub answers (tests/fixtures/hub): detection from the API, gated
//! repositories, errors, the cache and `--offline`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use glassbox_audit::component::{ComponentId, Presence};
use glassbox_audit::finding::FindingKind;
use glassbox_audit::hub::{HttpResponse, Hub, HubOptions, Transport};
use glassbox_audit::verdict::{Level, Status};
use serde_json::Value;

/// Answers from a folder of recorded responses; records every URL asked.
#[derive(Debug)]
struct Recorded {
    answers: HashMap<String, HttpResponse>,
    asked: Mutex<Vec<String>>,
}

impl Recorded {
    fn load(case: &str) -> Arc<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/hub")
            .join(case);
        let map: HashMap<String, Value> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("responses.json")).unwrap())
                .unwrap();
        let answers = map
            .into_iter()
            .map(|(url, v)| {
                let body = std::fs::read(dir.join(v["body"].as_str().unwrap())).unwrap();
                let r = HttpResponse {
                    status: v["status"].as_u64().unwrap() as u16,
                    error_code: v
                        .get("error_code")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    body,
                };
                (url, r)
            })
            .collect();
        Arc::new(Self {
            answers,
            asked: Mutex::new(Vec::new()),
        })
    }
}

impl Transport for Recorded {
    fn get(&self, url: &str, _token: Option<&str>, max_bytes: u64) -> Result<HttpResponse, String> {
        self.asked.lock().unwrap().push(url.to_string());
        let mut r = self.answers.get(url).cloned().unwrap_or(HttpResponse {
            status: 404,
            error_code: Some("EntryNotFound".into()),
            body: Vec::new(),
        });
        r.body.truncate(max_bytes as usize);
        Ok(r)
    }
}

/// A transport that must never be used (offline mode).
#[derive(Debug)]
struct NoNetwork;

impl Transport for NoNetwork {
    fn get(&self, url: &str, _: Option<&str>, _: u64) -> Result<HttpResponse, String> {
        panic!("network used in offline mode: {url}");
    }
}

fn opts(cache: &std::path::Path, offline: bool) -> HubOptions {
    HubOptions {
        endpoint: "https://hub.test".into(),
        token: None,
        offline,
        cache_dir: cache.to_path_buf(),
    }
}

#[test]
fn pythia_like_repository_from_the_api() {
    let cache = tempfile::tempdir().unwrap();
    let t = Recorded::load("pythia");
    let hub = Hub::with_transport(opts(cache.path(), false), t.clone());
    let r = glassbox_audit::audit_hub("hf:openlab/pythia-like-70m", &hub).unwrap();
    let comp = |id| r.components.iter().find(|c| c.id == id).unwrap();
    let inter = comp(ComponentId::ModelParametersIntermediate);
    assert_eq!(inter.presence, Presence::Present);
    assert!(
        inter
            .note
            .as_ref()
            .unwrap()
            .contains("3 checkpoint branches"),
        "{:?}",
        inter.note
    );
    assert_eq!(
        comp(ComponentId::ModelParametersFinal)
            .license
            .as_ref()
            .unwrap()
            .id,
        "Apache-2.0"
    );
    assert_eq!(
        comp(ComponentId::TrainingCode).presence,
        Presence::Referenced
    );
    assert_eq!(
        comp(ComponentId::ResearchPaper).presence,
        Presence::Referenced
    );
    assert_eq!(comp(ComponentId::Datasets).presence, Presence::Referenced);
    assert_eq!(
        r.freedoms["study"].status,
        Status::Holds,
        "{:?}",
        r.freedoms["study"]
    );
    assert_eq!(r.freedoms["run"].status, Status::Holds);
    // Weights, architecture, inference and (linked) training code under Apache-2.0 with the data
    // described: Open-Source AI. The linked data's licence is not known, so not Radical Openness,
    // and the next level says exactly that.
    assert_eq!(r.level, Level::OpenSourceAi, "{:?}", r.next_level);
    assert!(
        r.next_level
            .missing
            .iter()
            .any(|m| m.contains("only linked") && m.contains("licence is not known")),
        "{:?}",
        r.next_level
    );
    // The pickle twin is reported (not scanned: weights are never downloaded); the hostile path is refused.
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::Security && f.message.contains("pytorch_model.bin"))
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.contains("leaves the repository"))
    );
    let asked = t.asked.lock().unwrap().clone();
    assert!(
        !asked
            .iter()
            .any(|u| u.contains("model.safetensors") || u.contains("pytorch_model.bin")),
        "weights fetched: {asked:?}"
    );
    assert_eq!(
        r.target.revision.as_deref(),
        Some("1111111111111111111111111111111111111111")
    );
}

#[test]
fn gated_repository_is_judged_from_the_api_with_findings() {
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::with_transport(opts(cache.path(), false), Recorded::load("gated"));
    let r = glassbox_audit::audit_hub("hf:bigcorp/chat-1b", &hub).unwrap();
    assert_eq!(r.level, Level::OpenWeight);
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == FindingKind::Gated && f.message.contains("manual"))
    );
    assert!(r.findings.iter().any(
        |f| f.message.contains("LICENSE.txt could not be read") && f.message.contains("gated")
    ));
    let w = r
        .components
        .iter()
        .find(|c| c.id == ComponentId::ModelParametersFinal)
        .unwrap();
    assert_eq!(w.license.as_ref().unwrap().id, "llama-3.2-community");
    let run = &r.freedoms["run"];
    assert_eq!(run.status, Status::Fails);
    assert!(
        run.reasons
            .iter()
            .any(|x| x.text.contains("manual approval"))
    );
    assert!(run.reasons.iter().any(|x| {
        x.clause
            .as_ref()
            .is_some_and(|(l, s)| l == "llama-3.2-community" && s == "2")
    }));
}

#[test]
fn missing_repository_and_bad_targets_are_clear_errors() {
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::with_transport(opts(cache.path(), false), Recorded::load("pythia"));
    let e = glassbox_audit::audit_hub("hf:nobody/nothing", &hub)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("repository not found") && e.contains("nobody/nothing"),
        "{e}"
    );
    let e = glassbox_audit::audit_hub("hf:../etc", &hub)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected hf:ORG/NAME"), "{e}");
}

#[test]
fn offline_mode_answers_from_the_cache_only() {
    let cache = tempfile::tempdir().unwrap();
    let online = Hub::with_transport(opts(cache.path(), false), Recorded::load("pythia"));
    let first = glassbox_audit::audit_hub("hf:openlab/pythia-like-70m", &online).unwrap();
    let offline = Hub::with_transport(opts(cache.path(), true), Arc::new(NoNetwork));
    let second = glassbox_audit::audit_hub("hf:openlab/pythia-like-70m", &offline).unwrap();
    assert_eq!(
        serde_json::to_value(&first).unwrap(),
        serde_json::to_value(&second).unwrap()
    );
    let empty = tempfile::tempdir().unwrap();
    let offline_empty = Hub::with_transport(opts(empty.path(), true), Arc::new(NoNetwork));
    let e = glassbox_audit::audit_hub("hf:openlab/pythia-like-70m", &offline_empty)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--offline"), "{e}");
}
