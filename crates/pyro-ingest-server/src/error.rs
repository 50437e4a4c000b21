//! The errors handlers answer with, one type per protocol, each with its own `IntoResponse`:
//! [`OgError`] (OG's plain-text `<msg>: %q` bodies), [`JsonErrors`] (OG's JSON `{"errors":[…]}`,
//! auth and tenant refusals), [`ConnectError`] (Connect's JSON errors, push and the querier),
//! [`Refused`] (the memory budget: 503 with `Retry-After`, or 413), and [`AppError`], which any of
//! them converts into and every handler returns. Each answer carries its reason in the response
//! extensions ([`Reason`]) for the request log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The reason an error answer gives, kept in its response's extensions for the request log.
#[derive(Debug, Clone)]
pub struct Reason(pub String);

fn with_reason(mut r: Response, reason: String) -> Response {
    r.extensions_mut().insert(Reason(reason));
    r
}

pub use pyro_labels::go_quote;

/// An error of an OG endpoint (`/ingest`, `/render`, the label endpoints): its status and OG's
/// plain-text body `<msg>: %q\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OgError {
    /// The HTTP status.
    pub status: StatusCode,
    /// OG's message, e.g. `invalid parameter`.
    pub msg: &'static str,
    /// What went wrong, quoted in the body.
    pub detail: String,
}

impl OgError {
    /// An error with `status`, `msg` and `detail`.
    pub fn new(status: StatusCode, msg: &'static str, detail: impl Into<String>) -> OgError {
        OgError {
            status,
            msg,
            detail: detail.into(),
        }
    }

    /// OG's 400 `invalid parameter`.
    pub fn invalid(detail: impl Into<String>) -> OgError {
        OgError::new(StatusCode::BAD_REQUEST, "invalid parameter", detail)
    }

    /// OG's 500 `internal error` (a task that failed).
    pub fn internal(detail: impl std::fmt::Display) -> OgError {
        OgError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            detail.to_string(),
        )
    }
}

impl From<tokio::task::JoinError> for OgError {
    fn from(e: tokio::task::JoinError) -> OgError {
        OgError::internal(e)
    }
}

impl IntoResponse for OgError {
    fn into_response(self) -> Response {
        let body = format!("{}: {}\n", self.msg, go_quote(&self.detail));
        let reason = body.trim_end().to_owned();
        with_reason(
            (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response(),
            reason,
        )
    }
}

/// OG's JSON error body `{"errors":[message]}` (auth and tenant refusals, §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonErrors {
    /// The HTTP status.
    pub status: StatusCode,
    /// The one message.
    pub message: &'static str,
    /// Add `WWW-Authenticate: Basic` to a 401, so a browser asks for credentials with its own
    /// prompt (the read endpoints and the UI).
    pub challenge: bool,
}

impl JsonErrors {
    /// A body of `message` with `status`, no challenge.
    pub fn new(status: StatusCode, message: &'static str) -> JsonErrors {
        JsonErrors {
            status,
            message,
            challenge: false,
        }
    }
}

impl IntoResponse for JsonErrors {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "errors": [self.message] }).to_string(),
        )
            .into_response();
        if self.challenge && self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="ingest-server", charset="UTF-8""#),
            );
        }
        with_reason(r, self.message.to_owned())
    }
}

/// A JSON body with `application/json`.
pub fn json_response<T: serde::Serialize>(v: &T) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

/// A Connect error code (the Connect protocol's, as Grafana Pyroscope answers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Bad request.
    InvalidArgument,
    /// No or wrong credentials.
    Unauthenticated,
    /// Credentials that may not do this.
    PermissionDenied,
    /// A limit: too large, too many series, over the read budget.
    ResourceExhausted,
    /// Nothing there.
    NotFound,
    /// A method not served.
    Unimplemented,
    /// Try again later.
    Unavailable,
    /// The request was cancelled (its client left, or its time ran out).
    Canceled,
    /// The server failed.
    Internal,
}

impl Code {
    /// The code as Connect writes it, e.g. `invalid_argument`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::Unauthenticated => "unauthenticated",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::NotFound => "not_found",
            Code::Unimplemented => "unimplemented",
            Code::Unavailable => "unavailable",
            Code::Canceled => "canceled",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status of the code (Connect protocol).
    pub fn status(self) -> StatusCode {
        match self {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented | Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::REQUEST_TIMEOUT),
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A Connect error: its code and message; the HTTP status follows the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// The code.
    pub code: Code,
    /// Human-readable message.
    pub message: String,
}

impl ConnectError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ConnectError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of the code (Connect protocol).
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

/// An ingest error: `resource_exhausted` for size limits, else `invalid_argument`.
impl From<pyro_ingest::Error> for ConnectError {
    fn from(e: pyro_ingest::Error) -> Self {
        let code = match e.kind() {
            pyro_ingest::ErrorKind::TooLarge => Code::ResourceExhausted,
            _ => Code::InvalidArgument,
        };
        ConnectError::new(code, e.to_string())
    }
}

/// A read of the store that failed: over the read budget `resource_exhausted`, cancelled
/// `canceled`, the memory budget spent `unavailable`, else `internal`.
impl From<pyro_store::StoreError> for ConnectError {
    fn from(e: pyro_store::StoreError) -> Self {
        use pyro_store::ErrorKind;
        let code = match e.kind() {
            ErrorKind::Budget | ErrorKind::SeriesLimit => Code::ResourceExhausted,
            ErrorKind::Overflow => Code::InvalidArgument,
            ErrorKind::Cancelled => Code::Canceled,
            ErrorKind::Busy => Code::Unavailable,
            _ => Code::Internal,
        };
        ConnectError::new(code, e.to_string())
    }
}

impl From<tokio::task::JoinError> for ConnectError {
    fn from(e: tokio::task::JoinError) -> Self {
        ConnectError::new(Code::Internal, e.to_string())
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let reason = self.message.clone();
        with_reason(
            (
                self.status(),
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                serde_json::json!({"code": self.code.as_str(), "message": self.message})
                    .to_string(),
            )
                .into_response(),
            reason,
        )
    }
}

/// Seconds a client is told to wait when the memory budget is spent.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Why the server-wide memory budget refused a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not now: other requests hold the budget (503 with `Retry-After`).
    Busy,
    /// Never: more than the whole budget (413).
    Never,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refused::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server busy: too many bytes in flight, retry later\n",
            ),
            Refused::Never => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request needs more memory than the server's --max-inflight-bytes\n",
            ),
        };
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response();
        if self == Refused::Busy {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        with_reason(r, text.trim_end().to_owned())
    }
}

/// What every handler answers a failure with: one of the protocol errors above, or a plain-text
/// answer of the body layer (a bad `Content-Encoding`, 400/413).
#[derive(Debug)]
pub enum AppError {
    /// OG's plain-text error.
    Og(OgError),
    /// OG's JSON errors.
    Json(JsonErrors),
    /// A Connect error.
    Connect(ConnectError),
    /// The memory budget refused the request.
    Refused(Refused),
    /// A plain-text answer: its status and text.
    Text(StatusCode, String),
}

impl From<OgError> for AppError {
    fn from(e: OgError) -> Self {
        AppError::Og(e)
    }
}

impl From<JsonErrors> for AppError {
    fn from(e: JsonErrors) -> Self {
        AppError::Json(e)
    }
}

impl From<ConnectError> for AppError {
    fn from(e: ConnectError) -> Self {
        AppError::Connect(e)
    }
}

impl From<Refused> for AppError {
    fn from(e: Refused) -> Self {
        AppError::Refused(e)
    }
}

/// A blocking task that failed, as the OG endpoints answer it (500 `internal error`); Connect
/// endpoints convert into [`ConnectError`] instead.
impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Og(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Og(e) => e.into_response(),
            AppError::Json(e) => e.into_response(),
            AppError::Connect(e) => e.into_response(),
            AppError::Refused(e) => e.into_response(),
            AppError::Text(status, text) => {
                let reason = text.trim_end().to_owned();
                with_reason((status, text).into_response(), reason)
            }
        }
    }
}
