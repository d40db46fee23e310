//! `GET /audit?target=…`: the openness report of a served model (by name), a local path or an
//! `hf:org/name` — the page `glassbox audit --format html` writes, with the server's navigation
//! and its evidence linked to `GET /ui/file?target=…&path=…&line=…`, which shows one file of
//! an audited local release with line numbers and the cited line highlighted.
//!
//! Both read only inside the served models' folders and the folders the operator gave with
//! `--browse DIR` ([`crate::state::AppState::may_read`]), behind the API key when one is set;
//! the viewer opens only regular files inside the audited release (after resolving links) and
//! at most [`MAX_VIEW_BYTES`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use glassbox_audit::html::{HtmlOptions, escape as esc, to_html_with, url_encode as enc};

use crate::routes::Shared;

/// Largest file the viewer shows.
pub(crate) const MAX_VIEW_BYTES: u64 = 2 * 1024 * 1024;

/// The report's styles are inline; nothing else may load, and no script runs.
const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn html(status: StatusCode, body: String) -> Response {
    super::with_headers(
        (status, body).into_response(),
        "text/html; charset=utf-8",
        CSP,
        "no-store",
    )
}

/// What a `target` names: a served model's release, an `hf:` name, or a local path.
enum Target {
    Hub(String),
    Local(PathBuf),
}

fn resolve(s: &Shared, target: &str) -> Target {
    if let Some(m) = s.all_models().iter().find(|m| m.name == target) {
        return Target::Local(m.source.clone());
    }
    if target.starts_with("hf:") {
        return Target::Hub(target.to_string());
    }
    Target::Local(PathBuf::from(target))
}

/// The navigation above every page: the pages, the served models' reports, and a box to audit
/// anything else.
fn nav(s: &Shared, target: &str) -> String {
    let served: Vec<String> = s
        .models
        .iter()
        .map(|m| {
            format!(
                "<a href=\"/audit?target={}\">{}</a>",
                enc(&m.name),
                esc(&m.name)
            )
        })
        .collect();
    format!(
        "<nav class=\"nav\" aria-label=\"Pages\"><b>glassbox</b><a href=\"/\">Playground</a>\
         <a href=\"/runs\">Runs</a><a href=\"/audit\" aria-current=\"page\">Openness report</a><span>served: {}</span>\
         <form method=\"get\" action=\"/audit\" role=\"search\"><label for=\"target\">Audit</label>\
         <input id=\"target\" name=\"target\" value=\"{}\" placeholder=\"a served model, a local path or hf:org/name\">\
         <button type=\"submit\">Audit</button></form></nav>",
        served.join(" "),
        esc(target)
    )
}

/// A page of the server's own (errors, the file viewer) with its navigation.
fn shell(s: &Shared, target: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"/ui/style.css\"></head><body>{}<main class=\"page\">{body}</main></body></html>",
        esc(title),
        nav(s, target)
    )
}

fn error_page(s: &Shared, target: &str, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Openness report</h1><p class=\"error\" role=\"alert\" id=\"error\">{}</p>",
        esc(message)
    );
    html(status, shell(s, target, "glassbox — error", &body))
}

/// `GET /audit?target=…` (default: the first served model).
pub(crate) async fn page(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let target = q
        .get("target")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| s.models.first().map(|m| m.name.clone()))
        .unwrap_or_default();
    if target.len() > 4096 {
        return error_page(
            &s,
            "",
            StatusCode::BAD_REQUEST,
            "the target is longer than 4,096 bytes",
        );
    }
    let what = match resolve(&s, &target) {
        Target::Hub(name) => name,
        Target::Local(p) => {
            // One answer whether the path is missing or outside: the page tells nothing about
            // files it may not read.
            if !s.may_read(&p) {
                return error_page(
                    &s,
                    &target,
                    StatusCode::NOT_FOUND,
                    &format!(
                        "cannot audit `{target}`: not a served model, an hf:org/name, or a release inside the folders this server shows (the served models' and those given with --browse DIR)"
                    ),
                );
            }
            p.to_string_lossy().into_owned()
        }
    };
    let run = what.clone();
    let report = tokio::task::spawn_blocking(move || {
        glassbox_audit::audit(&run, &glassbox_audit::AuditOptions::default())
    })
    .await;
    let served = s.all_models().iter().any(|m| m.name == target);
    let report = match report {
        // A served model is shown by its name, not by the folder it was loaded from.
        Ok(Ok(mut r)) => {
            if served {
                r.target.id = target.clone();
            }
            r
        }
        Ok(Err(e)) => {
            return error_page(
                &s,
                &target,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("cannot audit `{target}`: {e}"),
            );
        }
        Err(e) => {
            return error_page(
                &s,
                &target,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the audit of `{target}` stopped: {e}"),
            );
        }
    };
    let hub = target.starts_with("hf:");
    let t = target.clone();
    let rev = report.target.revision.clone();
    let link = move |path: &str, line: Option<usize>| -> Option<String> {
        if hub {
            let repo = t.trim_start_matches("hf:");
            let repo = repo.split('@').next().unwrap_or(repo);
            return Some(format!(
                "https://huggingface.co/{repo}/blob/{}/{}{}",
                rev.as_deref().unwrap_or("main"),
                enc(path),
                line.map_or(String::new(), |l| format!("#L{l}"))
            ));
        }
        Some(format!(
            "/ui/file?target={}&path={}{}",
            enc(&t),
            enc(path),
            line.map_or(String::new(), |l| format!("&line={l}#L{l}"))
        ))
    };
    let header = nav(&s, &target);
    let body = to_html_with(
        &report,
        &HtmlOptions {
            file_link: &link,
            header: &header,
        },
    );
    html(StatusCode::OK, body)
}

/// The file `path` of the local release `root`, checked to lie inside it.
fn open_inside(root: &Path, path: &str) -> Result<(PathBuf, Vec<u8>), (StatusCode, String)> {
    let root = root
        .canonicalize()
        .map_err(|e| (StatusCode::NOT_FOUND, format!("{}: {e}", root.display())))?;
    let root = if root.is_file() {
        root.parent().map_or(root.clone(), Path::to_path_buf)
    } else {
        root
    };
    let full = root
        .join(path)
        .canonicalize()
        .map_err(|e| (StatusCode::NOT_FOUND, format!("`{path}`: {e}")))?;
    if !full.starts_with(&root) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("`{path}` is outside the audited release"),
        ));
    }
    let meta =
        std::fs::metadata(&full).map_err(|e| (StatusCode::NOT_FOUND, format!("`{path}`: {e}")))?;
    if !meta.is_file() {
        return Err((StatusCode::BAD_REQUEST, format!("`{path}` is not a file")));
    }
    if meta.len() > MAX_VIEW_BYTES {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "`{path}` has {} bytes; the viewer shows files up to {MAX_VIEW_BYTES}",
                meta.len()
            ),
        ));
    }
    let bytes =
        std::fs::read(&full).map_err(|e| (StatusCode::NOT_FOUND, format!("`{path}`: {e}")))?;
    Ok((full, bytes))
}

/// `GET /ui/file?target=…&path=…[&line=N]`.
pub(crate) async fn file(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(target), Some(path)) = (q.get("target"), q.get("path")) else {
        return error_page(
            &s,
            "",
            StatusCode::BAD_REQUEST,
            "the viewer needs `target` and `path`",
        );
    };
    let line: Option<usize> = match q.get("line").map(|l| l.parse()) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => {
            return error_page(
                &s,
                target,
                StatusCode::BAD_REQUEST,
                "`line` must be a line number",
            );
        }
    };
    let root = match resolve(&s, target) {
        Target::Hub(_) => {
            return error_page(
                &s,
                target,
                StatusCode::BAD_REQUEST,
                "files of a Hub repository open on the Hub; the report links there",
            );
        }
        Target::Local(p) if s.may_read(&p) => p,
        Target::Local(_) => {
            return error_page(
                &s,
                target,
                StatusCode::FORBIDDEN,
                "the target is outside the folders this server shows (the served models' and those given with --browse DIR)",
            );
        }
    };
    let (root2, path2) = (root.clone(), path.clone());
    let opened = tokio::task::spawn_blocking(move || open_inside(&root2, &path2)).await;
    let bytes = match opened {
        Ok(Ok((_, b))) => b,
        Ok(Err((status, message))) => return error_page(&s, target, status, &message),
        Err(e) => {
            return error_page(
                &s,
                target,
                StatusCode::INTERNAL_SERVER_ERROR,
                &e.to_string(),
            );
        }
    };
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return error_page(
            &s,
            target,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("`{path}` is a binary file"),
        );
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut body = format!(
        "<h1><code>{}</code></h1><p>In <a href=\"/audit?target={}\">{}</a>{}</p><table class=\"code\"><caption class=\"visually-hidden\">{} with line numbers</caption>",
        esc(path),
        enc(target),
        esc(target),
        line.map_or(String::new(), |l| format!(", line {l} highlighted")),
        esc(path)
    );
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let hl = line == Some(n);
        let _ = write!(
            body,
            "<tr id=\"L{n}\"{}><td class=\"ln\"><a href=\"#L{n}\">{n}</a></td><td class=\"src\">{}</td></tr>",
            if hl {
                " class=\"hl\" aria-current=\"true\""
            } else {
                ""
            },
            esc(l)
        );
    }
    body.push_str("</table>");
    html(
        StatusCode::OK,
        shell(&s, target, &format!("{path} — glassbox"), &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewer_opens_only_files_inside_the_release() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = d.path().join("release");
        std::fs::create_dir_all(root.join("sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.join("sub/LICENSE"), "line one\nline two\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.path().join("secret"), "no").unwrap_or_else(|e| panic!("{e}"));
        assert!(open_inside(&root, "sub/LICENSE").is_ok());
        let escape = open_inside(&root, "../secret").map(|_| ());
        assert_eq!(escape.map_err(|e| e.0), Err(StatusCode::FORBIDDEN));
        let missing = open_inside(&root, "nope").map(|_| ());
        assert_eq!(missing.map_err(|e| e.0), Err(StatusCode::NOT_FOUND));
        let dir = open_inside(&root, "sub").map(|_| ());
        assert_eq!(dir.map_err(|e| e.0), Err(StatusCode::BAD_REQUEST));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.path().join("secret"), root.join("link"))
                .unwrap_or_else(|e| panic!("{e}"));
            let link = open_inside(&root, "link").map(|_| ());
            assert_eq!(link.map_err(|e| e.0), Err(StatusCode::FORBIDDEN));
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(enc("a b&c=d/e:f"), "a%20b%26c%3Dd/e%3Af");
    }
}
