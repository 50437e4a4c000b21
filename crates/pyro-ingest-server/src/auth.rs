//! Token authentication: a file of `<role> <token>` or `<role> sha256:<hex>` lines, and the
//! extractor ([`Caller`]) that checks a request's token and tenant from its headers.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::http::error::{ConnectError, json_errors};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Ingest and read.
    Admin,
    /// Ingest and read (what agents use).
    Agent,
    /// Read only.
    ReadOnly,
}

impl Role {
    /// Whether the role may ingest.
    pub fn can_ingest(self) -> bool {
        matches!(self, Role::Admin | Role::Agent)
    }
}

/// Which endpoints need a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/ingest` and push only.
    Ingest,
    /// `/render` and the label endpoints only.
    Read,
    /// Both.
    All,
}

impl Scope {
    /// Whether ingest endpoints need a token.
    pub fn ingest(self) -> bool {
        matches!(self, Scope::Ingest | Scope::All)
    }
    /// Whether read endpoints need a token.
    pub fn read(self) -> bool {
        matches!(self, Scope::Read | Scope::All)
    }
}

/// The loaded tokens, kept only as SHA-256 digests.
pub struct Tokens {
    entries: Vec<(Role, [u8; 32])>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print digests.
        write!(f, "Tokens({} entries)", self.entries.len())
    }
}

/// Why a token presented with a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, or an unknown one (401).
    InvalidCredentials,
    /// A known token whose role may not do this (403).
    PermissionDenied,
}

impl Tokens {
    /// Parses a token file: one `<role> <token>` or `<role> sha256:<64 hex>` per line, roles
    /// `admin`, `agent`, `readonly`; blank lines and `#` comments are ignored. Plain tokens are
    /// hashed on load.
    ///
    /// # Errors
    /// The first malformed line, with its number (the token itself is never echoed).
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let (role, token) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("line {n}: expected `<role> <token>`"))?;
            let role = match role {
                "admin" => Role::Admin,
                "agent" => Role::Agent,
                "readonly" => Role::ReadOnly,
                other => return Err(format!("line {n}: unknown role {other:?}")),
            };
            let token = token.trim();
            let digest = match token.strip_prefix("sha256:") {
                Some(hex) => parse_hex(hex).ok_or_else(|| {
                    format!("line {n}: sha256: must be followed by 64 hex digits")
                })?,
                None if token.is_empty() => return Err(format!("line {n}: empty token")),
                None => Sha256::digest(token.as_bytes()).into(),
            };
            entries.push((role, digest));
        }
        Ok(Tokens { entries })
    }

    /// The role of `token`, comparing its digest with every entry in constant time.
    pub fn role(&self, token: &str) -> Option<Role> {
        let d: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (role, digest) in &self.entries {
            if bool::from(digest.ct_eq(&d)) && found.is_none() {
                found = Some(*role);
            }
        }
        found
    }

    /// Checks an `Authorization` header for an ingest (`ingest == true`) or read request.
    ///
    /// `Bearer <token>`, or `Basic base64(user:token)` with the token as the password (as
    /// pyroscope-io and the Node agent send it; the user name is used when the password is empty).
    ///
    /// # Errors
    /// [`Denied::InvalidCredentials`] or [`Denied::PermissionDenied`].
    pub fn check(&self, authorization: Option<&str>, ingest: bool) -> Result<Role, Denied> {
        let token = authorization
            .and_then(token_of)
            .ok_or(Denied::InvalidCredentials)?;
        let role = self.role(&token).ok_or(Denied::InvalidCredentials)?;
        if ingest && !role.can_ingest() {
            return Err(Denied::PermissionDenied);
        }
        Ok(role)
    }
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn token_of(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.as_bytes())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
        let token = if pass.is_empty() { user } else { pass };
        return (!token.is_empty()).then(|| token.to_owned());
    }
    None
}

/// Why a request was turned away before its body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The token check failed.
    Denied(Denied),
    /// `--multi-tenant` and no usable `X-Scope-OrgID`.
    NoOrgId,
}

/// Authorization, then the tenant, from the request's headers alone.
fn gate(state: &AppState, headers: &HeaderMap, ingest: bool) -> Result<String, Refused> {
    if let Some((tokens, scope)) = &state.config.auth
        && ((ingest && scope.ingest()) || (!ingest && scope.read()))
    {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        tokens.check(auth, ingest).map_err(Refused::Denied)?;
    }
    if !state.config.multi_tenant {
        return Ok(String::new());
    }
    match headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(t) if !t.is_empty() && t.len() <= 150 && !t.contains('\u{1f}') => Ok(t.to_owned()),
        _ => Err(Refused::NoOrgId),
    }
}

/// OG's JSON answer to a refused plain-HTTP request (§7).
fn og_refusal(r: Refused) -> Response {
    match r {
        Refused::Denied(Denied::InvalidCredentials) => {
            json_errors(StatusCode::UNAUTHORIZED, "invalid credentials")
        }
        Refused::Denied(Denied::PermissionDenied) => {
            json_errors(StatusCode::FORBIDDEN, "permission denied")
        }
        Refused::NoOrgId => json_errors(StatusCode::UNAUTHORIZED, "no org id"),
    }
}

/// The Connect answer to a refused push.
fn connect_refusal(r: Refused) -> Response {
    let (code, message) = match r {
        Refused::Denied(Denied::InvalidCredentials) => ("unauthenticated", "invalid credentials"),
        Refused::Denied(Denied::PermissionDenied) => ("permission_denied", "permission denied"),
        Refused::NoOrgId => ("unauthenticated", "no org id"),
    };
    ConnectError::new(code, message).into_response()
}

/// An extractor for an authorized caller of an ingest (`INGEST = true`) or read endpoint, with
/// its tenant (empty unless `--multi-tenant`). It decides from the headers alone, so a refused
/// request is answered before a byte of its body is read. `CONNECT` picks the answer's shape:
/// OG's JSON errors, or Connect errors for push.
pub struct Caller<const INGEST: bool, const CONNECT: bool> {
    /// The tenant.
    pub tenant: String,
}

/// An authorized caller of `/ingest`.
pub type Ingester = Caller<true, false>;
/// An authorized caller of push (Connect errors).
pub type Pusher = Caller<true, true>;
/// An authorized caller of `/render` and the label endpoints.
pub type Reader = Caller<false, false>;

impl<const INGEST: bool, const CONNECT: bool> FromRequestParts<Arc<AppState>>
    for Caller<INGEST, CONNECT>
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match gate(state, &parts.headers, INGEST) {
            Ok(tenant) => Ok(Caller { tenant }),
            Err(r) if CONNECT => Err(connect_refusal(r)),
            Err(r) => Err(og_refusal(r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# tokens\n\nadmin s3cret\nagent sha256:\
        2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\nreadonly viewer\n";

    #[test]
    fn roles_bearer_and_basic() {
        let t = Tokens::parse(FILE).unwrap();
        assert_eq!(t.check(Some("Bearer s3cret"), true), Ok(Role::Admin));
        // sha256("secret")
        assert_eq!(t.check(Some("bearer secret"), true), Ok(Role::Agent));
        let basic = base64::engine::general_purpose::STANDARD.encode("app:secret");
        assert_eq!(
            t.check(Some(&format!("Basic {basic}")), true),
            Ok(Role::Agent)
        );
        let user_only = base64::engine::general_purpose::STANDARD.encode("secret:");
        assert_eq!(
            t.check(Some(&format!("Basic {user_only}")), true),
            Ok(Role::Agent)
        );
        assert_eq!(t.check(Some("Bearer viewer"), false), Ok(Role::ReadOnly));
        assert_eq!(
            t.check(Some("Bearer viewer"), true),
            Err(Denied::PermissionDenied)
        );
        assert_eq!(
            t.check(Some("Bearer nope"), false),
            Err(Denied::InvalidCredentials)
        );
        assert_eq!(t.check(None, false), Err(Denied::InvalidCredentials));
        assert_eq!(
            t.check(Some("Token s3cret"), false),
            Err(Denied::InvalidCredentials)
        );
        assert_eq!(
            t.check(Some("Basic !!!"), false),
            Err(Denied::InvalidCredentials)
        );
        assert_eq!(format!("{t:?}"), "Tokens(3 entries)");
    }

    #[test]
    fn bad_files() {
        assert_eq!(
            Tokens::parse("admin").unwrap_err(),
            "line 1: expected `<role> <token>`"
        );
        assert_eq!(
            Tokens::parse("\nroot x").unwrap_err(),
            "line 2: unknown role \"root\""
        );
        assert_eq!(
            Tokens::parse("agent sha256:abc").unwrap_err(),
            "line 1: sha256: must be followed by 64 hex digits"
        );
    }
}
