//! The web pages `glassbox serve` shows at `/`: hand-written HTML, CSS and JavaScript embedded in
//! the binary (no build step, nothing fetched from elsewhere). The playground talks to the
//! server's own OpenAI-compatible endpoints from the browser, so it holds no state here.
//!
//! - `/`: the playground (chat and completion against the API, token probabilities).
//! - `/audit?target=…`: the openness report of a served model, a local path or an `hf:` name
//!   ([`audit`]), the same page `glassbox audit --format html` writes, its evidence linked to
//!   `/ui/file`, a viewer of the audited release's files that highlights the quoted line.
//!
//! The playground's files carry no data and are served without the API key. Everything else
//! needs it: API clients send `Authorization: Bearer`, a browser sends the cookie `POST /ui/key`
//! sets once the key is typed into the page (HttpOnly, SameSite=Strict, holding a hash of the
//! key, never the key). A browser opening a page without it gets a page that asks for it.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::routes::Shared;

pub(crate) mod audit;
pub(crate) mod runs;

/// One embedded file: where it is served, its bytes and content type.
struct Asset {
    path: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file the pages load, served without the API key (they hold no data).
const ASSETS: [Asset; 5] = [
    Asset {
        path: "/",
        body: include_str!("assets/index.html"),
        content_type: HTML,
    },
    Asset {
        path: "/ui/style.css",
        body: include_str!("assets/style.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        path: "/ui/playground.js",
        body: include_str!("assets/playground.js"),
        content_type: JS,
    },
    Asset {
        path: "/ui/run.js",
        body: include_str!("assets/run.js"),
        content_type: JS,
    },
    Asset {
        path: "/ui/key.js",
        body: include_str!("assets/key.js"),
        content_type: JS,
    },
];

/// The page that asks for the API key (not served at a path of its own).
const KEY_PAGE: Asset = Asset {
    path: "",
    body: include_str!("assets/key.html"),
    content_type: HTML,
};

/// The routes of the embedded files, each serving its file.
pub(crate) fn asset_routes(router: axum::Router<Shared>) -> axum::Router<Shared> {
    ASSETS.iter().fold(router, |r, a| {
        r.route(a.path, axum::routing::get(move || async move { serve(a) }))
    })
}

/// Whether `path` is served without the API key: the embedded files, and `POST /ui/key`,
/// which checks the key itself.
pub(crate) fn is_open(path: &str) -> bool {
    path == "/ui/key" || ASSETS.iter().any(|a| a.path == path)
}

/// The cookie a browser holds once its key is accepted.
const COOKIE: &str = "glassbox_key";

/// The cookie's value for `key`: a hash, so the key itself never sits in the browser.
fn cookie_value(key: &str) -> String {
    glassbox_core::hash::sha256_hex(format!("glassbox web key\n{key}").as_bytes())
}

/// Whether the request carries the cookie for `key`.
pub(crate) fn has_key_cookie(headers: &HeaderMap, key: &str) -> bool {
    let want = cookie_value(key);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && crate::routes::constant_time_eq(v.as_bytes(), want.as_bytes()))
}

/// Whether a browser is opening a page (a `GET` that accepts HTML), not an API client.
pub(crate) fn wants_page(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// The page that asks for the key (status 401), then reloads the page asked for.
pub(crate) fn key_page() -> Response {
    let mut r = serve(&KEY_PAGE);
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// `POST /ui/key` with `{"key": "…"}`: with the right key, 204 and the cookie; otherwise 401.
/// (Without a key configured, 204 and no cookie.)
pub(crate) async fn set_key(State(s): State<Shared>, req: Request) -> Response {
    let b = match crate::routes::read_body(&s, req.into_body()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let given = match b.str("key") {
        Ok(Some(k)) => k.to_string(),
        Ok(None) => {
            return ApiError::invalid(Some("key".to_string()), "`key` is required").into_response();
        }
        Err(e) => return e.into_response(),
    };
    let Some(key) = &s.api_key else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if !crate::routes::constant_time_eq(given.as_bytes(), key.as_bytes()) {
        return ApiError::unauthorized().into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        cookie_value(key)
    );
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Scripts and styles only from this server, nothing inline, no frames.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn serve(a: &Asset) -> Response {
    with_headers(a.body.into_response(), a.content_type, CSP, "no-cache")
}

/// `r` with its content type, content security policy, caching, and no type sniffing.
pub(crate) fn with_headers(
    mut r: Response,
    content_type: &'static str,
    csp: &'static str,
    cache: &'static str,
) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page names is one the server serves, and the page loads nothing from
    /// elsewhere (no CDN: it must work offline).
    #[test]
    fn the_page_names_only_embedded_files() {
        for page in [ASSETS[0].body, KEY_PAGE.body] {
            for reference in page.split(['"', '\'']).filter(|s| s.starts_with("/ui/")) {
                assert!(is_open(reference), "{reference} is not served");
            }
        }
        for a in ASSETS.iter().chain([&KEY_PAGE]) {
            // The SVG namespace is a name, not an address anything is fetched from.
            let body = a.body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !body.contains("http://") && !body.contains("https://") && !body.contains("//cdn"),
                "{} names another site",
                a.path
            );
        }
    }
}
