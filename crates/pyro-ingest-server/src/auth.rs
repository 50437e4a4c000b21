//! Token authentication: a file of `<role> <token>` or `<role> sha256:<hex>` lines, and the
//! extractor ([`Caller`]) that checks a request's token and tenant from its headers.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ConnectError, json_errors};

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
    entries: Vec<Entry>,
}

/// One line of the token file.
struct Entry {
    role: Role,
    digest: [u8; 32],
    tenant: Option<String>,
}

/// What a valid token grants: its role and, for a token bound to a tenant, that tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// The tenant the token is bound to (`<role> <token> <tenant>`), if any.
    pub tenant: Option<String>,
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
    /// Parses a token file: one `<role> <token> [<tenant>]` or `<role> sha256:<64 hex>
    /// [<tenant>]` per line, roles `admin`, `agent`, `readonly`; blank lines and `#` comments are
    /// ignored. Plain tokens are hashed on load. A token bound to a tenant may only act as that
    /// tenant (under `--multi-tenant`).
    ///
    /// # Errors
    /// The first malformed line, with its number (the token itself is never echoed), or a file
    /// without any token.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let mut words = line.split_whitespace();
            let (Some(role), Some(token)) = (words.next(), words.next()) else {
                return Err(format!(
                    "line {n}: expected `<role> <token>` or `<role> <token> <tenant>`"
                ));
            };
            let tenant = words.next().map(str::to_owned);
            if words.next().is_some() {
                return Err(format!(
                    "line {n}: expected `<role> <token>` or `<role> <token> <tenant>`"
                ));
            }
            if let Some(t) = &tenant
                && (t.len() > 150 || t.contains('\u{1f}'))
            {
                return Err(format!("line {n}: invalid tenant"));
            }
            let role = match role {
                "admin" => Role::Admin,
                "agent" => Role::Agent,
                "readonly" => Role::ReadOnly,
                other => return Err(format!("line {n}: unknown role {other:?}")),
            };
            let digest = match token.strip_prefix("sha256:") {
                Some(hex) => parse_hex(hex).ok_or_else(|| {
                    format!("line {n}: sha256: must be followed by 64 hex digits")
                })?,
                None => Sha256::digest(token.as_bytes()).into(),
            };
            entries.push(Entry {
                role,
                digest,
                tenant,
            });
        }
        if entries.is_empty() {
            return Err(
                "no token in the file (every endpoint it protects would refuse all)".into(),
            );
        }
        Ok(Tokens { entries })
    }

    /// What `token` grants, comparing its digest with every entry in constant time.
    pub fn grant(&self, token: &str) -> Option<Grant> {
        let d: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(&d)) && found.is_none() {
                found = Some(Grant {
                    role: e.role,
                    tenant: e.tenant.clone(),
                });
            }
        }
        found
    }

    /// The role of `token`.
    pub fn role(&self, token: &str) -> Option<Role> {
        self.grant(token).map(|g| g.role)
    }

    /// Checks an `Authorization` header for an ingest (`ingest == true`) or read request.
    ///
    /// `Bearer <token>`, or `Basic base64(user:token)` with the token as the password (as
    /// pyroscope-io and the Node agent send it; the user name is used when the password is empty).
    ///
    /// # Errors
    /// [`Denied::InvalidCredentials`] or [`Denied::PermissionDenied`].
    pub fn check(&self, authorization: Option<&str>, ingest: bool) -> Result<Grant, Denied> {
        let token = authorization
            .and_then(token_of)
            .ok_or(Denied::InvalidCredentials)?;
        let grant = self.grant(&token).ok_or(Denied::InvalidCredentials)?;
        if ingest && !grant.role.can_ingest() {
            return Err(Denied::PermissionDenied);
        }
        Ok(grant)
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

/// What the auth extractors need from the server's state (its `FromRef` part).
#[derive(Clone, Default)]
pub struct Gate {
    /// Tokens and the endpoints they protect; `None` leaves every endpoint open.
    pub auth: Option<(Arc<Tokens>, Scope)>,
    /// Keep tenants (`X-Scope-OrgID`) apart; every request must name one.
    pub multi_tenant: bool,
}

/// Why a request was turned away before its body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The token check failed.
    Denied(Denied),
    /// `--multi-tenant` and no usable `X-Scope-OrgID`.
    NoOrgId,
}

/// Authorization, then the tenant (and the tenant a bound token names), from the request's
/// headers alone. A token bound to a tenant acts as that tenant only, with or without
/// `--multi-tenant`: an `X-Scope-OrgID` naming another is refused.
fn gate(
    state: &Gate,
    headers: &HeaderMap,
    ingest: bool,
) -> Result<(String, Option<String>), Refused> {
    let mut bound = None;
    if let Some((tokens, scope)) = &state.auth
        && ((ingest && scope.ingest()) || (!ingest && scope.read()))
    {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        bound = tokens.check(auth, ingest).map_err(Refused::Denied)?.tenant;
    }
    if let (Some(t), Some(b)) = (sent_org_id(headers), &bound)
        && t != b
    {
        // A bound token acts as its tenant, and only as that tenant.
        return Err(Refused::Denied(Denied::PermissionDenied));
    }
    if !state.multi_tenant {
        return Ok((String::new(), bound));
    }
    match (sent_org_id(headers), bound) {
        (_, Some(b)) => Ok((b.clone(), Some(b))),
        (Some(t), None) if acceptable_tenant(t) => Ok((t.to_owned(), None)),
        _ => Err(Refused::NoOrgId),
    }
}

/// Whether a sent tenant id is one we take: 150 bytes at most, no `\x1f`.
fn acceptable_tenant(t: &str) -> bool {
    t.len() <= 150 && !t.contains('\u{1f}')
}

/// The request's `X-Scope-OrgID`, trimmed, when not empty.
fn sent_org_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
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

/// A read refusal with `WWW-Authenticate: Basic` when it is a 401, so a browser opening the UI
/// or `/render` asks for credentials with its own prompt (the token goes in as the password;
/// nothing of it is kept in the page or the URL). The JSON body stays as OG's.
fn with_basic_challenge(mut r: Response) -> Response {
    if r.status() == axum::http::StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static(r#"Basic realm="ingest-server", charset="UTF-8""#),
        );
    }
    r
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
    /// The tenant to name upstream when forwarding: the tenant under `--multi-tenant`, else the
    /// tenant the caller's token is bound to, else the client's own `X-Scope-OrgID` (empty when
    /// it sent none).
    pub org_id: String,
    /// The tenant the caller's token is bound to, if it is.
    pub bound: Option<String>,
}

/// An authorized caller of `/ingest`.
pub type Ingester = Caller<true, false>;
/// An authorized caller of push (Connect errors).
pub type Pusher = Caller<true, true>;
/// An authorized caller of `/render` and the label endpoints.
pub type Reader = Caller<false, false>;

impl<S, const INGEST: bool, const CONNECT: bool> FromRequestParts<S> for Caller<INGEST, CONNECT>
where
    S: Send + Sync,
    Gate: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match gate(&Gate::from_ref(state), &parts.headers, INGEST) {
            Ok((tenant, bound)) => {
                let org_id = if !tenant.is_empty() {
                    tenant.clone()
                } else if let Some(b) = &bound {
                    // Single tenant here; upstream, the token's own tenant.
                    b.clone()
                } else {
                    sent_org_id(&parts.headers)
                        .filter(|t| acceptable_tenant(t))
                        .unwrap_or_default()
                        .to_owned()
                };
                Ok(Caller {
                    tenant,
                    org_id,
                    bound,
                })
            }
            Err(r) if CONNECT => Err(connect_refusal(r)),
            Err(r) if INGEST => Err(og_refusal(r)),
            Err(r) => Err(with_basic_challenge(og_refusal(r))),
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
        let role = |h: &str, ingest| t.check(Some(h), ingest).map(|g| g.role);
        assert_eq!(role("Bearer s3cret", true), Ok(Role::Admin));
        // sha256("secret")
        assert_eq!(role("bearer secret", true), Ok(Role::Agent));
        let basic = base64::engine::general_purpose::STANDARD.encode("app:secret");
        assert_eq!(role(&format!("Basic {basic}"), true), Ok(Role::Agent));
        let user_only = base64::engine::general_purpose::STANDARD.encode("secret:");
        assert_eq!(role(&format!("Basic {user_only}"), true), Ok(Role::Agent));
        assert_eq!(role("Bearer viewer", false), Ok(Role::ReadOnly));
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
            "line 1: expected `<role> <token>` or `<role> <token> <tenant>`"
        );
        assert_eq!(
            Tokens::parse("\nroot x").unwrap_err(),
            "line 2: unknown role \"root\""
        );
        assert_eq!(
            Tokens::parse("agent sha256:abc").unwrap_err(),
            "line 1: sha256: must be followed by 64 hex digits"
        );
        assert!(
            Tokens::parse("# nothing\n\n")
                .unwrap_err()
                .starts_with("no token")
        );
        assert!(Tokens::parse("admin a b c").is_err());
        let t = Tokens::parse("agent tok-a team-a\nagent tok-b").unwrap();
        assert_eq!(t.grant("tok-a").unwrap().tenant.as_deref(), Some("team-a"));
        assert_eq!(t.grant("tok-b").unwrap().tenant, None);
    }
}
