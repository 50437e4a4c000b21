//! `GET /` and the UI's assets (`crate::ui` holds them).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::Reader;
use crate::ui::{APP_CSS, APP_JS, INDEX_HTML, PAGE_CSP};

/// `GET /`: the page. It asks for read access like `/render` does, so with read auth on the
/// browser's own prompt takes the token before any data is fetched.
pub async fn index(_: Reader) -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /ui/app.js`.
pub async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ui/app.css`.
pub async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        secured(PAGE_CSP),
        body,
    )
        .into_response()
}

/// The headers every UI answer carries: its Content-Security-Policy, no MIME sniffing, no
/// framing (also for browsers without `frame-ancestors`), no referrer.
fn secured(csp: &'static str) -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

/// A standalone page ([`crate::ui::standalone`]: `/render?format=html`, `/render-diff`), with the
/// CSP that allows exactly its inline script and style.
pub(crate) fn standalone_page(page: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        secured(crate::ui::standalone_csp()),
        page,
    )
        .into_response()
}
