//! Hugging Face Hub targets (`hf:ORG/NAME[@REVISION]`) through the Hub's public REST API, with a
//! light blocking client (ureq), an on-disk cache and an offline mode.
//!
//! Requests, all `GET` (shapes as documented for the Hub API):
//! - `{endpoint}/api/models/{repo}` or `…/revision/{rev}` with `?blobs=true`: model info (`sha`,
//!   `siblings[].rfilename`/`size`, `cardData`, `gated`, `private`, `disabled`, `tags`);
//! - `{endpoint}/api/models/{repo}/refs`: `branches[].name` (Pythia's `step1000` …), `tags`;
//! - `{endpoint}/{repo}/resolve/{sha}/{path}`: small files only (card, licences, configs).
//!
//! Weights are never downloaded. A gated repository answers 401/403 for files: that is a
//! finding, and the audit continues with what the API says. Every answer is cached under
//! `cache_dir/<sha256 of the URL>`; `--offline` answers from the cache only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::evidence::Evidence;
use crate::finding::{Finding, FindingKind, Severity};
use crate::snapshot::{Bytes, FileEntry, FileSource, Snapshot, TargetKind, safe_relative_path};
use crate::{AuditError, Result};

/// Largest response body accepted.
pub const MAX_BODY: u64 = 16 << 20;
/// Largest file fetched to read (cards, licences, configs); bigger files are read partially.
pub const MAX_FETCH: u64 = 2 << 20;

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The Hub's `X-Error-Code` header (`GatedRepo`, `RepoNotFound`, …), when present.
    pub error_code: Option<String>,
    /// Body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// How requests reach the Hub (real network, or recorded answers in tests).
pub trait Transport: std::fmt::Debug + Send + Sync {
    /// `GET url` with an optional bearer token and byte range limit.
    fn get(
        &self,
        url: &str,
        token: Option<&str>,
        max_bytes: u64,
    ) -> std::result::Result<HttpResponse, String>;
}

/// The network, through ureq (the platform's TLS via native-tls and its certificate store; 30 s
/// timeout; statuses returned, not raised). native-tls rather than rustls keeps the clean build
/// about a minute shorter: it links the system's OpenSSL instead of compiling a TLS stack.
#[derive(Debug)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl Default for UreqTransport {
    fn default() -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent(concat!("glassbox-audit/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: config.into(),
        }
    }
}

impl Transport for UreqTransport {
    fn get(
        &self,
        url: &str,
        token: Option<&str>,
        max_bytes: u64,
    ) -> std::result::Result<HttpResponse, String> {
        let mut req = self.agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        if max_bytes < MAX_BODY {
            req = req.header("Range", &format!("bytes=0-{}", max_bytes.saturating_sub(1)));
        }
        let mut resp = req.call().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let error_code = resp
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .body_mut()
            .with_config()
            .limit(max_bytes.min(MAX_BODY))
            .read_to_vec()
            .unwrap_or_default();
        Ok(HttpResponse {
            status,
            error_code,
            body,
        })
    }
}

/// Where and how to reach the Hub.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Base URL (`https://huggingface.co`, or `HF_ENDPOINT`).
    pub endpoint: String,
    /// Access token (`HF_TOKEN`), for gated or private repositories.
    pub token: Option<String>,
    /// Answer from the cache only.
    pub offline: bool,
    /// Cache directory.
    pub cache_dir: PathBuf,
}

impl HubOptions {
    /// Defaults from the environment: `HF_ENDPOINT`, `HF_TOKEN`, cache in
    /// `$XDG_CACHE_HOME/glassbox/hub` (or `~/.cache/glassbox/hub`).
    pub fn from_env() -> Self {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("glassbox/hub");
        Self {
            endpoint: std::env::var("HF_ENDPOINT")
                .unwrap_or_else(|_| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            token: std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
            offline: false,
            cache_dir: cache,
        }
    }
}

/// A Hub client with its cache.
#[derive(Debug, Clone)]
pub struct Hub {
    opts: HubOptions,
    transport: std::sync::Arc<dyn Transport>,
}

/// A parsed `hf:` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTarget {
    /// `org/name`.
    pub repo: String,
    /// Revision (branch, tag or commit); `main` when not given.
    pub revision: String,
}

/// Parses `hf:ORG/NAME[@REVISION]`.
pub fn parse_target(s: &str) -> Option<HubTarget> {
    let rest = s.strip_prefix("hf:")?;
    let (repo, revision) = match rest.split_once('@') {
        Some((r, v)) => (r, v.to_string()),
        None => (rest, "main".to_string()),
    };
    let parts: Vec<&str> = repo.split('/').collect();
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && p != "."
            && p != ".."
    };
    let ok_rev = !revision.is_empty()
        && revision.len() <= 200
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !revision.contains("..");
    (parts.len() == 2 && parts.iter().all(|p| ok_part(p)) && ok_rev).then(|| HubTarget {
        repo: repo.to_string(),
        revision,
    })
}

fn encode_path(p: &str) -> String {
    p.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Hub {
    /// A client over the network.
    pub fn new(opts: HubOptions) -> Self {
        Self::with_transport(opts, std::sync::Arc::new(UreqTransport::default()))
    }

    /// A client over any transport (tests use recorded answers).
    pub fn with_transport(opts: HubOptions, transport: std::sync::Arc<dyn Transport>) -> Self {
        Self { opts, transport }
    }

    fn cache_path(&self, url: &str) -> PathBuf {
        self.opts
            .cache_dir
            .join(glassbox_core::hash::sha256_hex(url.as_bytes()))
    }

    /// `GET url`, through the cache. Immutable answers (at a commit) come from the cache when
    /// present; others are refreshed when online. Offline, a missing entry is an error.
    pub fn get(
        &self,
        url: &str,
        max_bytes: u64,
        immutable: bool,
    ) -> std::result::Result<HttpResponse, String> {
        let path = self.cache_path(url);
        let cached = || -> Option<HttpResponse> {
            let bytes = std::fs::read(&path).ok()?;
            let v: Value = serde_json::from_slice(&bytes).ok()?;
            Some(HttpResponse {
                status: v.get("status")?.as_u64()? as u16,
                error_code: v
                    .get("error_code")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                body: v.get("body")?.as_str()?.as_bytes().to_vec(),
            })
        };
        if self.opts.offline || immutable {
            if let Some(r) = cached() {
                return Ok(r);
            }
            if self.opts.offline {
                return Err(format!(
                    "not in the cache ({}) and --offline is set",
                    self.opts.cache_dir.display()
                ));
            }
        }
        let resp = self
            .transport
            .get(url, self.opts.token.as_deref(), max_bytes)?;
        // Cache text answers (JSON, cards, licences); binary answers are never needed twice.
        if let Ok(body) = std::str::from_utf8(&resp.body) {
            let entry = serde_json::json!({"url": url, "status": resp.status, "error_code": resp.error_code, "body": body});
            if std::fs::create_dir_all(&self.opts.cache_dir).is_ok() {
                let _ = glassbox_core::fsio::write_json_atomic(&path, &entry);
            }
        }
        Ok(resp)
    }

    /// Builds the snapshot of `target`.
    pub fn snapshot(&self, target: &HubTarget) -> Result<Snapshot> {
        let ep = &self.opts.endpoint;
        let info_url = if target.revision == "main" {
            format!("{ep}/api/models/{}?blobs=true", target.repo)
        } else {
            format!(
                "{ep}/api/models/{}/revision/{}?blobs=true",
                target.repo,
                encode_path(&target.revision)
            )
        };
        let hub_err = |url: &str, message: String| AuditError::Hub {
            url: url.to_string(),
            message,
        };
        let resp = self
            .get(&info_url, MAX_BODY, false)
            .map_err(|e| hub_err(&info_url, e))?;
        match resp.status {
            200 => {}
            401 | 403 => {
                return Err(hub_err(
                    &info_url,
                    format!(
                        "access denied ({}); the repository is private or needs a token: set HF_TOKEN",
                        resp.status
                    ),
                ));
            }
            404 => {
                let what = if resp.error_code.as_deref() == Some("RevisionNotFound") {
                    format!("revision `{}` not found", target.revision)
                } else {
                    "repository not found".to_string()
                };
                return Err(hub_err(&info_url, what));
            }
            s => return Err(hub_err(&info_url, format!("the Hub answered HTTP {s}"))),
        }
        let info: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| hub_err(&info_url, format!("answer is not JSON: {e}")))?;
        let mut findings = Vec::new();
        let sha = info.get("sha").and_then(Value::as_str).map(str::to_string);
        let gated = match info.get("gated") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(true)) => Some("auto".into()),
            _ => None,
        };
        if let Some(g) = &gated {
            findings.push(Finding::new(
                Severity::Warning,
                FindingKind::Gated,
                format!(
                    "downloads are gated (`{g}`): users must accept the publisher's terms{}",
                    if g == "manual" {
                        " and wait for approval"
                    } else {
                        ""
                    }
                ),
                vec![Evidence::api("gated")],
            ));
        }
        if info.get("disabled").and_then(Value::as_bool) == Some(true) {
            findings.push(Finding::new(
                Severity::Error,
                FindingKind::Note,
                "the repository is disabled on the Hub".into(),
                vec![Evidence::api("disabled")],
            ));
        }
        let mut files = Vec::new();
        for (i, s) in info
            .get("siblings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(name) = s.get("rfilename").and_then(Value::as_str) else {
                continue;
            };
            if !safe_relative_path(name) {
                findings.push(Finding::new(
                    Severity::Error,
                    FindingKind::Security,
                    format!(
                        "the API lists a file path that leaves the repository (`{}`); ignored",
                        name.chars().take(100).collect::<String>()
                    ),
                    vec![Evidence::api(format!("siblings[{i}].rfilename"))],
                ));
                continue;
            }
            let size = s
                .get("size")
                .and_then(Value::as_u64)
                .or_else(|| s.pointer("/lfs/size").and_then(Value::as_u64));
            files.push(FileEntry {
                path: name.to_string(),
                size,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        let refs_url = format!("{ep}/api/models/{}/refs", target.repo);
        let mut refs = Vec::new();
        match self.get(&refs_url, MAX_BODY, false) {
            Ok(r) if r.status == 200 => {
                if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
                    for kind in ["branches", "tags"] {
                        for b in v.get(kind).and_then(Value::as_array).into_iter().flatten() {
                            if let Some(n) = b.get("name").and_then(Value::as_str) {
                                refs.push(n.to_string());
                            }
                        }
                    }
                }
            }
            Ok(r) => findings.push(Finding::new(
                Severity::Info,
                FindingKind::Unreadable,
                format!("branches could not be listed (HTTP {})", r.status),
                vec![Evidence::url(refs_url.clone())],
            )),
            Err(e) => findings.push(Finding::new(
                Severity::Info,
                FindingKind::Unreadable,
                format!("branches could not be listed ({e})"),
                vec![Evidence::url(refs_url.clone())],
            )),
        }
        let rev = sha.clone().unwrap_or_else(|| target.revision.clone());
        let sizes: BTreeMap<String, Option<u64>> =
            files.iter().map(|f| (f.path.clone(), f.size)).collect();
        let source = HubSource {
            hub: self.clone(),
            repo: target.repo.clone(),
            rev,
            immutable: sha.is_some(),
            sizes,
        };
        Ok(Snapshot {
            id: format!(
                "hf:{}{}",
                target.repo,
                if target.revision == "main" {
                    String::new()
                } else {
                    format!("@{}", target.revision)
                }
            ),
            kind: TargetKind::Hub,
            revision: sha,
            files,
            refs,
            api_card_data: info.get("cardData").cloned().filter(|v| v.is_object()),
            gated,
            source: Box::new(source),
            findings,
        })
    }
}

/// Reads files of a Hub repository at one commit.
#[derive(Debug)]
struct HubSource {
    hub: Hub,
    repo: String,
    rev: String,
    immutable: bool,
    sizes: BTreeMap<String, Option<u64>>,
}

impl FileSource for HubSource {
    fn read(&self, path: &str, offset: u64, limit: usize) -> std::result::Result<Bytes, String> {
        if !safe_relative_path(path) || !self.sizes.contains_key(path) {
            return Err(format!("`{path}` is not a file of the repository"));
        }
        if offset > 0 {
            return Err("partial reads of remote files are not supported".into());
        }
        let want = (limit as u64).min(MAX_FETCH);
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.hub.opts.endpoint,
            self.repo,
            encode_path(&self.rev),
            encode_path(path)
        );
        let resp = self.hub.get(&url, want, self.immutable)?;
        match resp.status {
            200 | 206 => {
                let total = self.sizes.get(path).copied().flatten();
                let truncated = total.map_or(resp.body.len() as u64 >= want, |t| {
                    t > resp.body.len() as u64
                });
                Ok(Bytes {
                    data: resp.body,
                    truncated,
                })
            }
            401 | 403 => Err(format!(
                "access denied (HTTP {}{}): the files are gated; accept the terms on the Hub and set HF_TOKEN",
                resp.status,
                resp.error_code
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default()
            )),
            s => Err(format!("HTTP {s}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_refuse_tricks() {
        assert_eq!(
            parse_target("hf:EleutherAI/pythia-70m@step1000"),
            Some(HubTarget {
                repo: "EleutherAI/pythia-70m".into(),
                revision: "step1000".into()
            })
        );
        assert_eq!(parse_target("hf:a/b").unwrap().revision, "main");
        for bad in [
            "hf:a",
            "hf:a/b/c",
            "hf:../b",
            "hf:a/b@",
            "hf:a/b@../../x",
            "hf:a b/c",
            "a/b",
        ] {
            assert!(parse_target(bad).is_none(), "{bad}");
        }
        assert_eq!(encode_path("refs/pr/1"), "refs/pr/1");
        assert_eq!(encode_path("a b/c#d"), "a%20b/c%23d");
    }
}
