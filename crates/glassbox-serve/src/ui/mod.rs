//! The web pages `glassbox serve` shows at `/`: hand-written HTML, CSS and JavaScript embedded in
//! the binary (no build step, nothing fetched from elsewhere). The playground talks to the
//! server's own OpenAI-compatible endpoints from the browser, so it holds no state here.
//!
//! The pages themselves carry no data and are served without the API key; every request they
//! make goes through the API and its key (the page asks for it once and keeps it in the tab).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// One embedded file: its bytes and content type.
struct Asset {
    body: &'static str,
    content_type: &'static str,
}

const INDEX: Asset = Asset {
    body: include_str!("assets/index.html"),
    content_type: "text/html; charset=utf-8",
};
const STYLE: Asset = Asset {
    body: include_str!("assets/style.css"),
    content_type: "text/css; charset=utf-8",
};
const PLAYGROUND: Asset = Asset {
    body: include_str!("assets/playground.js"),
    content_type: "text/javascript; charset=utf-8",
};

/// Whether `path` is one of the pages or their files (served without the API key).
pub(crate) fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/ui/style.css" | "/ui/playground.js")
}

/// Scripts and styles only from this server, nothing inline, no frames.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn serve(a: &Asset) -> Response {
    let mut r = a.body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`: the playground.
pub(crate) async fn index() -> Response {
    serve(&INDEX)
}

/// `GET /ui/style.css`.
pub(crate) async fn style() -> Response {
    serve(&STYLE)
}

/// `GET /ui/playground.js`.
pub(crate) async fn playground() -> Response {
    serve(&PLAYGROUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page names is one the server serves, and the page loads nothing from
    /// elsewhere (no CDN: it must work offline).
    #[test]
    fn the_page_names_only_embedded_files() {
        let html = INDEX.body;
        for reference in html.split(['"', '\'']).filter(|s| s.starts_with("/ui/")) {
            assert!(is_page(reference), "{reference} is not served");
        }
        for body in [INDEX.body, STYLE.body, PLAYGROUND.body] {
            assert!(
                !body.contains("http://") && !body.contains("https://") && !body.contains("//cdn")
            );
        }
    }
}
