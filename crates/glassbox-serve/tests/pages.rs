//! The web pages' server side: the key as a cookie for browsers, the openness report of a
//! served model or a path, and the file viewer's bounds.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use glassbox_serve::routes::app;
use glassbox_serve::state::{AppState, ModelSpec};
use tower::ServiceExt;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

fn server(key: Option<&str>) -> Router {
    let specs = [ModelSpec {
        name: "llama".into(),
        dir: fixture("llama"),
        adapter: None,
    }];
    let s = AppState::load(
        &specs,
        Default::default(),
        Default::default(),
        key.map(str::to_string),
    )
    .unwrap();
    app(Arc::new(s))
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String, HeaderMap) {
    let mut r = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(r.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let h = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned(), h)
}

const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

#[tokio::test]
async fn a_browser_is_asked_for_the_key_and_then_holds_a_cookie() {
    let a = server(Some("sesame"));
    // A browser opening a page gets the page that asks for the key; an API client gets JSON.
    let (st, body, _) = send(&a, "GET", "/audit", &[HTML], "").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(body.contains("id=\"key-form\""), "{body}");
    let (st, body, _) = send(&a, "GET", "/audit", &[], "").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(body.contains("invalid_api_key"), "{body}");
    // A wrong key is refused and sets nothing; the right one sets an HttpOnly cookie.
    let json = ("content-type", "application/json");
    let (st, _, h) = send(&a, "POST", "/ui/key", &[json], r#"{"key":"wrong"}"#).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(h.get("set-cookie").is_none());
    let (st, _, h) = send(&a, "POST", "/ui/key", &[json], r#"{"key":"sesame"}"#).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let cookie = h["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("sesame"),
        "the cookie holds a hash, not the key"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    // The cookie opens the pages and the API alike; a made-up one does not.
    let (st, body, _) = send(&a, "GET", "/audit", &[HTML, ("cookie", &pair)], "").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("Openness audit"));
    let (st, _, _) = send(&a, "GET", "/v1/models", &[("cookie", &pair)], "").await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = send(
        &a,
        "GET",
        "/v1/models",
        &[("cookie", "glassbox_key=00")],
        "",
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _) = send(&a, "POST", "/ui/key", &[json], "{}").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a body without `key`");
}

#[tokio::test]
async fn the_report_of_a_served_model_and_its_files() {
    let a = server(None);
    let (st, body, h) = send(&a, "GET", "/audit", &[HTML], "").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(
        body.contains("Openness audit: <code>"),
        "the first served model by default"
    );
    assert!(body.contains("class=\"spectrum\"") && body.contains("id=\"f-run\""));
    assert!(
        body.contains("/ui/file?target=llama&amp;path=config.json"),
        "evidence links to the viewer"
    );
    assert!(body.contains("download=\"llama.audit.json\""));
    // The viewer: numbered lines, the cited one highlighted.
    let (st, body, _) = send(
        &a,
        "GET",
        "/ui/file?target=llama&path=config.json&line=2",
        &[HTML],
        "",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(
        body.contains("<tr id=\"L2\" class=\"hl\" aria-current=\"true\">"),
        "{body}"
    );
    // Nothing outside the release, no directories, no unknown targets, clear messages.
    for (uri, status, needle) in [
        (
            "/ui/file?target=llama&path=../llama/config.json",
            StatusCode::OK,
            "L1",
        ),
        (
            "/ui/file?target=llama&path=../qwen2/config.json",
            StatusCode::FORBIDDEN,
            "outside the audited release",
        ),
        (
            "/ui/file?target=llama&path=no-such-file",
            StatusCode::NOT_FOUND,
            "no-such-file",
        ),
        (
            "/ui/file?target=llama&path=config.json&line=x",
            StatusCode::BAD_REQUEST,
            "line number",
        ),
        (
            "/ui/file?target=llama",
            StatusCode::BAD_REQUEST,
            "needs `target` and `path`",
        ),
        (
            "/ui/file?target=hf:org/name&path=README.md",
            StatusCode::BAD_REQUEST,
            "open on the Hub",
        ),
        (
            "/audit?target=/no/such/release",
            StatusCode::NOT_FOUND,
            "cannot audit `/no/such/release`",
        ),
    ] {
        let (st, body, _) = send(&a, "GET", uri, &[HTML], "").await;
        assert_eq!(st, status, "{uri}: {body}");
        assert!(body.contains(needle), "{uri}: {body}");
    }
    // A folder the server was not given is not read, even though it exists; the answer is the
    // one a missing path gets.
    let other = fixture("qwen2").display().to_string();
    let (st, body, _) = send(&a, "GET", &format!("/audit?target={other}"), &[HTML], "").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("--browse DIR"), "{body}");
    let long = format!("/audit?target={}", "a".repeat(5000));
    let (st, body, _) = send(&a, "GET", &long, &[HTML], "").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("longer than 4,096 bytes"));
}
