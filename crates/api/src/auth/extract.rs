//! The extractors protected handlers take: [`CurrentUser`], [`AdminUser`] and
//! [`PendingUser`]. All three run [`authenticate`]; they differ in what they then require.
//!
//! On every request, after the token's signature and claims verify, the account and the
//! session are read from the database: a disabled account, a token issued under an older token
//! version (password changed, role changed, account disabled) or a revoked session (logout,
//! refresh-token reuse) is refused at once. So revocation takes effect on the next request,
//! not when the access token expires; the lookup is two primary-key reads.
//!
//! A request authenticated by the access cookie rather than the `Authorization` header must,
//! unless its method is safe (GET, HEAD, OPTIONS), carry `X-CSRF-Token` equal to the CSRF
//! cookie and signed for the token's session; bearer-token requests need none, since a browser
//! never attaches a bearer token on its own.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use recon_domain::access::{Role, UserStatus};
use recon_storage::access::{AuditEvent, UserRecord, Viewer};

use super::client_address::ClientAddress;
use super::cookies::{self, ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER};
use super::keyring::TokenRejection;
use super::secrets::csrf_token_valid;
use crate::errors::ApiError;
use crate::observability::current_request_id;
use crate::state::AppState;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account, as stored now.
    pub user: UserRecord,
    /// The login session the token belongs to.
    pub session_id: String,
    /// Authenticated by the access cookie (browser client) rather than a bearer header.
    pub via_cookie: bool,
    /// The caller's address.
    pub address: Option<IpAddr>,
}

impl Caller {
    /// Who is asking, for queries scoped by membership.
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            user_id: &self.user.id,
            is_admin: self.user.role == Role::Admin,
        }
    }

    /// An audit event by this caller.
    pub fn audit(&self, action: &str, target_type: &str, target_id: Option<&str>) -> AuditEvent {
        audit_event(
            Some(&self.user.id),
            self.address,
            action,
            target_type,
            target_id,
        )
    }
}

/// An audit event carrying the request id of the request being served.
pub fn audit_event(
    actor_id: Option<&str>,
    address: Option<IpAddr>,
    action: &str,
    target_type: &str,
    target_id: Option<&str>,
) -> AuditEvent {
    AuditEvent {
        actor_id: actor_id.map(str::to_owned),
        action: action.to_owned(),
        target_type: target_type.to_owned(),
        target_id: target_id.map(str::to_owned),
        project_id: None,
        client_address: address.map(|address| address.to_string()),
        request_id: current_request_id(),
        details: serde_json::Value::Null,
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn revoked() -> ApiError {
    ApiError::unauthorized(
        "token_revoked",
        "this session has ended (signed out, password changed, or account changed); sign in again",
    )
}

/// Authenticates the request: the token, then the account and session as stored now, then
/// CSRF for cookie-mode writes.
pub async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| {
                    let (scheme, token) = text.split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("bearer")
                        .then(|| token.trim().to_owned())
                })
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        "invalid_token",
                        "the Authorization header must be `Bearer <access token>`",
                    )
                })
        })
        .transpose()?;
    let (token, via_cookie) = match bearer {
        Some(token) => (token, false),
        None => match cookies::read(&parts.headers, ACCESS_COOKIE) {
            Some(token) => (token, true),
            None => {
                return Err(ApiError::unauthorized(
                    "unauthenticated",
                    "sign in first: send `Authorization: Bearer <access token>`",
                ));
            }
        },
    };
    let claims =
        state
            .auth
            .keyring
            .verify(&token, now_secs())
            .map_err(|rejection| match rejection {
                TokenRejection::Expired => ApiError::unauthorized(
                    "token_expired",
                    "the access token has expired; refresh it at /api/v1/auth/refresh",
                ),
                TokenRejection::Invalid => {
                    ApiError::unauthorized("invalid_token", "the access token is not valid")
                }
            })?;
    let user = state
        .store
        .find_user(&claims.sub)
        .await?
        .filter(|user| user.status == UserStatus::Active && user.token_version == claims.ver)
        .ok_or_else(revoked)?;
    state
        .store
        .find_session(&claims.sid)
        .await?
        .filter(|session| session.user_id == user.id && session.revoked_at_ms.is_none())
        .ok_or_else(revoked)?;
    if via_cookie && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        check_csrf(&parts.headers, state, &claims.sid)?;
    }
    let ClientAddress(address) = ClientAddress::from_request_parts(parts, state)
        .await
        .unwrap_or(ClientAddress(None));
    Ok(Caller {
        user,
        session_id: claims.sid,
        via_cookie,
        address,
    })
}

/// Refuses a cookie-mode write whose `X-CSRF-Token` is missing, differs from the CSRF cookie,
/// or is not signed for `session_id`.
pub fn check_csrf(headers: &HeaderMap, state: &AppState, session_id: &str) -> Result<(), ApiError> {
    let header = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    let cookie = cookies::read(headers, CSRF_COOKIE);
    let valid = match (header, cookie.as_deref()) {
        (Some(header), Some(cookie)) => {
            header == cookie
                && csrf_token_valid(&state.auth.settings.csrf_secret, session_id, header)
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "csrf_failed",
            "cookie-authenticated writes must send the CSRF cookie's value in X-CSRF-Token",
        ))
    }
}

/// Any signed-in account, including one that must change its password first (the routes that
/// let it do so: me, password, logout).
#[derive(Debug, Clone)]
pub struct PendingUser(pub Caller);

impl FromRequestParts<AppState> for PendingUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(Self)
    }
}

/// A signed-in account that has no pending password change.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Caller);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if caller.user.must_change_password {
            return Err(ApiError::forbidden(
                "password_change_required",
                "choose a new password at POST /api/v1/auth/password before anything else",
            ));
        }
        Ok(Self(caller))
    }
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Caller);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentUser(caller) = CurrentUser::from_request_parts(parts, state).await?;
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden("admin_only", "only admins may do this"));
        }
        Ok(Self(caller))
    }
}
