//! Token authentication: a file of `<role> <token>` or `<role> sha256:<hex>` lines, and the
//! extractor ([`Caller`]) that checks a request's token and tenant from its headers.

use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{AppError, Code, ConnectError, JsonErrors};

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

/// Which endpoints need a token (`--auth-scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// `/ingest` and push only.
    Ingest,
    /// `/render`, the label endpoints, the querier, the UI and `/metrics` only.
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

/// A token file that cannot be used: the line at fault (the token itself is never echoed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokensError {
    /// A line that is not `<role> <token> [<tenant>]`.
    Shape {
        /// 1-based line number.
        line: usize,
    },
    /// A tenant longer than 150 bytes or with a `\x1f`.
    Tenant {
        /// 1-based line number.
        line: usize,
    },
    /// A role other than `admin`, `agent`, `readonly`.
    Role {
        /// 1-based line number.
        line: usize,
        /// The role given.
        role: String,
    },
    /// `sha256:` without 64 hex digits.
    Digest {
        /// 1-based line number.
        line: usize,
    },
    /// No token at all (every endpoint the file protects would refuse all).
    Empty,
}

impl fmt::Display for TokensError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokensError::Shape { line } => write!(
                f,
                "line {line}: expected `<role> <token>` or `<role> <token> <tenant>`"
            ),
            TokensError::Tenant { line } => write!(f, "line {line}: invalid tenant"),
            TokensError::Role { line, role } => write!(f, "line {line}: unknown role {role:?}"),
            TokensError::Digest { line } => {
                write!(f, "line {line}: sha256: must be followed by 64 hex digits")
            }
            TokensError::Empty => {
                f.write_str("no token in the file (every endpoint it protects would refuse all)")
            }
        }
    }
}

impl std::error::Error for TokensError {}

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
    pub fn parse(text: &str) -> Result<Tokens, TokensError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let mut words = line.split_whitespace();
            let (Some(role), Some(token)) = (words.next(), words.next()) else {
                return Err(TokensError::Shape { line: n });
            };
            let tenant = words.next().map(str::to_owned);
            if words.next().is_some() {
                return Err(TokensError::Shape { line: n });
            }
            if let Some(t) = &tenant
                && (t.len() > 150 || t.contains('\u{1f}'))
            {
                return Err(TokensError::Tenant { line: n });
            }
            let role = match role {
                "admin" => Role::Admin,
                "agent" => Role::Agent,
                "readonly" => Role::ReadOnly,
                other => {
                    return Err(TokensError::Role {
                        line: n,
                        role: other.to_owned(),
                    });
                }
            };
            let digest = match token.strip_prefix("sha256:") {
                Some(hex) => parse_hex(hex).ok_or(TokensError::Digest { line: n })?,
                None => Sha256::digest(token.as_bytes()).into(),
            };
            entries.push(Entry {
                role,
                digest,
                tenant,
            });
        }
        if entries.is_empty() {
            return Err(TokensError::Empty);
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

impl Refused {
    /// OG's JSON answer (§7), with a Basic challenge on a read's 401 (so a browser opening the
    /// UI or `/render` asks for credentials with its own prompt; the token goes in as the
    /// password and nothing of it is kept in the page or the URL).
    fn og(self, challenge: bool) -> JsonErrors {
        let (status, message) = match self {
            Refused::Denied(Denied::InvalidCredentials) => {
                (StatusCode::UNAUTHORIZED, "invalid credentials")
            }
            Refused::Denied(Denied::PermissionDenied) => {
                (StatusCode::FORBIDDEN, "permission denied")
            }
            Refused::NoOrgId => (StatusCode::UNAUTHORIZED, "no org id"),
        };
        JsonErrors {
            status,
            message,
            challenge,
        }
    }

    /// The Connect answer (push, the querier).
    fn connect(self) -> ConnectError {
        let (code, message) = match self {
            Refused::Denied(Denied::InvalidCredentials) => {
                (Code::Unauthenticated, "invalid credentials")
            }
            Refused::Denied(Denied::PermissionDenied) => {
                (Code::PermissionDenied, "permission denied")
            }
            Refused::NoOrgId => (Code::Unauthenticated, "no org id"),
        };
        ConnectError::new(code, message)
    }
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
    type Rejection = AppError;

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
            Err(r) if CONNECT => Err(r.connect().into()),
            Err(r) => Err(r.og(!INGEST).into()),
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
            Tokens::parse("admin").unwrap_err().to_string(),
            "line 1: expected `<role> <token>` or `<role> <token> <tenant>`"
        );
        assert_eq!(
            Tokens::parse("\nroot x").unwrap_err(),
            TokensError::Role {
                line: 2,
                role: "root".into()
            }
        );
        assert_eq!(
            Tokens::parse("\nroot x").unwrap_err().to_string(),
            "line 2: unknown role \"root\""
        );
        assert_eq!(
            Tokens::parse("agent sha256:abc").unwrap_err().to_string(),
            "line 1: sha256: must be followed by 64 hex digits"
        );
        assert_eq!(
            Tokens::parse("# nothing\n\n").unwrap_err(),
            TokensError::Empty
        );
        assert_eq!(
            Tokens::parse("admin a b c").unwrap_err(),
            TokensError::Shape { line: 1 }
        );
        let t = Tokens::parse("agent tok-a team-a\nagent tok-b").unwrap();
        assert_eq!(t.grant("tok-a").unwrap().tenant.as_deref(), Some("team-a"));
        assert_eq!(t.grant("tok-b").unwrap().tenant, None);
    }
}
