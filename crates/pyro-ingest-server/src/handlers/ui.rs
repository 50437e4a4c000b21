//! `GET /` and the UI's assets (`crate::ui` holds them).

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::Reader;
use crate::ui::{APP_CSS, APP_JS, INDEX_HTML};

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
        body,
    )
        .into_response()
}
