//! Error responses: OG's plain-text bodies, OG's JSON auth bodies, Connect errors.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Go's `%q` of a string: double-quoted with `"`, `\` and control characters escaped.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// OG's error body: `<msg>: %q\n`, plain text.
pub fn og_error(status: StatusCode, msg: &str, err: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}: {}\n", go_quote(err)),
    )
        .into_response()
}

/// OG's JSON error body `{"errors":[msg]}` (auth and tenant failures).
pub fn json_errors(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "errors": [msg] }).to_string(),
    )
        .into_response()
}

/// A JSON body with `application/json`.
pub fn json_response<T: serde::Serialize>(v: &T) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

/// A Connect error: its code and message; the HTTP status follows the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// `invalid_argument`, `unauthenticated`, `permission_denied`, `resource_exhausted`,
    /// `internal`, …
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ConnectError {
    /// An error with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ConnectError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of the code (Connect protocol).
    pub fn status(&self) -> StatusCode {
        match self.code {
            "invalid_argument" => StatusCode::BAD_REQUEST,
            "unauthenticated" => StatusCode::UNAUTHORIZED,
            "permission_denied" => StatusCode::FORBIDDEN,
            "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
            "unimplemented" | "not_found" => StatusCode::NOT_FOUND,
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "canceled" => StatusCode::from_u16(499).unwrap_or(StatusCode::REQUEST_TIMEOUT),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code of an ingest error: `resource_exhausted` for size limits, else
    /// `invalid_argument`.
    pub fn from_ingest(e: &pyro_ingest::Error) -> Self {
        let code = match e.kind() {
            pyro_ingest::ErrorKind::TooLarge => "resource_exhausted",
            _ => "invalid_argument",
        };
        ConnectError::new(code, e.to_string())
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        (
            self.status(),
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            serde_json::json!({"code": self.code, "message": self.message}).to_string(),
        )
            .into_response()
    }
}
