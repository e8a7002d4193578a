//! `/api/v1/auth`: sign in, refresh, sign out, the current account, password change and (when
//! enabled) self-registration.
//!
//! Sign-in answers an unknown email, a wrong password and a disabled account alike (401
//! `invalid_credentials`, after the same Argon2 work), and counts each failure against the
//! account and the client address (see `auth::throttle`). A successful sign-in starts a
//! session: a family of refresh tokens, each exchanged exactly once at `/refresh`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use recon_domain::access::{Role, UserStatus};
use recon_domain::credentials;
use recon_storage::access::{NewRefreshToken, NewSession, NewUser, Rotation, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{UserView, finish, text_field};
use crate::auth::client_address::ClientAddress;
use crate::auth::cookies::{self, REFRESH_COOKIE};
use crate::auth::extract::{PendingUser, audit_event, check_csrf};
use crate::auth::secrets::{csrf_token, new_refresh_token, refresh_token_hash};
use crate::errors::{ApiError, FieldProblem, Problem};
use crate::input::ApiJson;
use crate::state::AppState;

/// Sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    /// The account's email (any case).
    pub email: String,
    /// Its password.
    pub password: String,
    /// Browser clients: answer with `__Host-` cookies instead of tokens in the body.
    #[serde(default)]
    pub cookies: bool,
}

/// Tokens after sign-in, refresh or password change. In cookie mode `access_token` and
/// `refresh_token` are left out (they are in HttpOnly cookies, out of scripts' reach),
/// `token_type` is `cookie`, and `csrf_token` is the value to send in `X-CSRF-Token`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The access token (a JWT) for `Authorization: Bearer …`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The refresh token: opaque, single use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// `Bearer`, or `cookie` in cookie mode.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Cookie mode: repeat this in `X-CSRF-Token` on every state-changing request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Refresh. Cookie-mode clients send no body (or `{}`): the refresh cookie is used, and the
/// request must carry `X-CSRF-Token`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "hLx1…"}))]
pub struct RefreshRequest {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: Option<String>,
}

/// Password change by the account itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "a new and longer passphrase"}))]
pub struct PasswordChangeRequest {
    /// The password now.
    pub current_password: String,
    /// The new one: 8 to 128 characters, not a common password.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Self-registration (only when `RECON_OPEN_REGISTRATION=true`); creates a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "bo@example.com", "password": "correct horse battery staple", "display_name": "Bo"}))]
pub struct RegisterRequest {
    /// Email.
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f]([^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?$"
    )]
    pub email: String,
    /// Password: 8 to 128 characters, not a common password.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// Display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub display_name: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or password is wrong")
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(256).collect())
}

/// Answers with a fresh access token for `user` in `session_id`, and `refresh_token`.
fn tokens(
    state: &AppState,
    user: &UserRecord,
    session_id: &str,
    refresh_token: String,
    cookie_mode: bool,
    status: StatusCode,
) -> Response {
    let keyring = &state.auth.keyring;
    let now = now_ms() / 1000;
    let access_token = keyring.issue(user, session_id, now);
    let expires_in = keyring.ttl_secs();
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let body = if cookie_mode {
        let csrf = csrf_token(&state.auth.settings.csrf_secret, session_id);
        cookies::set_session_cookies(
            &mut headers,
            access_token,
            expires_in,
            refresh_token,
            state.auth.settings.refresh_ttl.as_secs() as i64,
            csrf.clone(),
        );
        TokenResponse {
            access_token: None,
            refresh_token: None,
            token_type: "cookie".to_owned(),
            expires_in,
            csrf_token: Some(csrf),
        }
    } else {
        TokenResponse {
            access_token: Some(access_token),
            refresh_token: Some(refresh_token),
            token_type: "Bearer".to_owned(),
            expires_in,
            csrf_token: None,
        }
    };
    (status, headers, ApiJson(body)).into_response()
}

/// Starts a session for `user` and answers with its tokens.
async fn start_session(
    state: &AppState,
    user: &UserRecord,
    address: ClientAddress,
    agent: Option<String>,
    cookie_mode: bool,
    action: &str,
) -> Result<Response, ApiError> {
    let settings = &state.auth.settings;
    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh_token = new_refresh_token();
    let now = now_ms();
    let session_end = now + settings.session_ttl.as_millis() as i64;
    state
        .store
        .create_session(
            NewSession {
                id: session_id.clone(),
                user_id: user.id.clone(),
                expires_at_ms: session_end,
                client_address: address.text(),
                user_agent: agent,
                refresh: NewRefreshToken {
                    token_hash: refresh_token_hash(&settings.refresh_secret, &refresh_token),
                    expires_at_ms: (now + settings.refresh_ttl.as_millis() as i64).min(session_end),
                },
            },
            audit_event(
                Some(&user.id),
                address.0,
                action,
                "session",
                Some(&session_id),
            ),
        )
        .await?;
    Ok(tokens(
        state,
        user,
        &session_id,
        refresh_token,
        cookie_mode,
        StatusCode::OK,
    ))
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 422, description = "The body does not fit", body = Problem),
        (status = 429, description = "Too many failed sign-ins; see Retry-After", body = Problem),
    ),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub async fn login(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = request.email.trim();
    let auth = &state.auth;
    if let Err(wait) = auth.throttle.check(email, address.0).await {
        return Err(ApiError::too_many_requests(
            format!("too many failed sign-ins; try again in {wait} seconds"),
            wait,
        ));
    }
    let user = state.store.find_user_by_email(email).await?;
    let password = request.password;
    let verification = auth
        .passwords
        .verify(
            password.clone(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let user = match user {
        Some(user) if verification.matches && user.status == UserStatus::Active => user,
        other => {
            auth.throttle.record_failure(email, address.0).await;
            let id = other.as_ref().map(|user| user.id.as_str());
            let mut event = audit_event(id, address.0, "auth.login.failed", "user", id);
            // Attacker-chosen text: kept no longer than any real address can be.
            let tried: String = credentials::normalize_email(email)
                .chars()
                .take(credentials::MAX_EMAIL_CHARS)
                .collect();
            event.details = serde_json::json!({ "email": tried });
            state.store.append_audit(event).await?;
            return Err(invalid_credentials());
        }
    };
    auth.throttle.clear_account(email).await;
    if verification.needs_rehash {
        let password_hash = auth.passwords.hash(password.clone()).await?;
        state
            .store
            .upgrade_password_hash(&user.id, &password_hash)
            .await?;
    }
    start_session(
        &state,
        &user,
        address,
        user_agent(&headers),
        request.cookies,
        "auth.login.succeeded",
    )
    .await
}

/// Exchanges a refresh token for new tokens. Each refresh token works once: presenting it
/// again within 10 s (two tabs refreshing together) is answered `refresh_token_superseded`;
/// later, it is treated as theft and signs the whole session out (`refresh_token_reused`).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`, `refresh_token_superseded` or `refresh_token_reused`", body = Problem),
        (status = 403, description = "`csrf_failed` (cookie mode)", body = Problem),
    ),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub async fn refresh(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("the body does not fit this endpoint: {error}"),
            )
        })?
    };
    let settings = &state.auth.settings;
    let (token, cookie_mode) = match request.refresh_token {
        Some(token) => (token, false),
        None => (
            cookies::read(&headers, REFRESH_COOKIE).ok_or_else(|| {
                ApiError::unauthorized(
                    "unauthenticated",
                    "send {\"refresh_token\": …} or the refresh cookie",
                )
            })?,
            true,
        ),
    };
    let invalid = || {
        ApiError::unauthorized(
            "invalid_refresh_token",
            "the refresh token is unknown, expired or revoked; sign in again",
        )
    };
    let token_hash = refresh_token_hash(&settings.refresh_secret, &token);
    if cookie_mode {
        let session_id = state
            .store
            .find_refresh_session(&token_hash)
            .await?
            .ok_or_else(invalid)?;
        check_csrf(&headers, &state, &session_id)?;
    }
    let successor = new_refresh_token();
    let rotation = state
        .store
        .rotate_refresh_token(
            &token_hash,
            NewRefreshToken {
                token_hash: refresh_token_hash(&settings.refresh_secret, &successor),
                expires_at_ms: now_ms() + settings.refresh_ttl.as_millis() as i64,
            },
            settings.reuse_grace.as_millis() as i64,
            audit_event(None, address.0, "auth.refresh.reused", "session", None),
        )
        .await?;
    match rotation {
        Rotation::Rotated { session } => {
            let user = state
                .store
                .find_user(&session.user_id)
                .await?
                .filter(|user| user.status == UserStatus::Active)
                .ok_or_else(invalid)?;
            Ok(tokens(
                &state,
                &user,
                &session.id,
                successor,
                cookie_mode,
                StatusCode::OK,
            ))
        }
        Rotation::Superseded => Err(ApiError::unauthorized(
            "refresh_token_superseded",
            "this refresh token was just exchanged by another request; use the newest one",
        )),
        Rotation::Reused {
            session_id,
            user_id,
        } => {
            tracing::warn!(
                session_id,
                user_id,
                "a rotated refresh token was presented again; the session is revoked"
            );
            Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; for safety the session is signed out",
            ))
        }
        Rotation::Invalid => Err(invalid()),
    }
}

/// Signs out: revokes the session (every token of it stops working) and clears the cookies.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem),
    ),
    extensions(("x-recon-access" = json!("authenticated"))))]
pub async fn logout(
    State(state): State<AppState>,
    PendingUser(caller): PendingUser,
) -> Result<Response, ApiError> {
    state
        .store
        .revoke_session(
            &caller.session_id,
            "signed out",
            caller.audit("auth.logout", "session", Some(&caller.session_id)),
        )
        .await?;
    let mut headers = HeaderMap::new();
    if caller.via_cookie {
        cookies::clear_session_cookies(&mut headers);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 401, description = "Not signed in", body = Problem),
    ),
    extensions(("x-recon-access" = json!("authenticated"))))]
pub async fn me(PendingUser(caller): PendingUser) -> ApiJson<UserView> {
    ApiJson(UserView::from(&caller.user))
}

/// Changes the signed-in account's password. Every session of the account is revoked; the
/// answer carries tokens of a new session for the caller.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "Changed; tokens of a new session", body = TokenResponse),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "`validation_failed`: wrong current password or a refused new one", body = Problem),
        (status = 429, description = "Too many wrong current passwords", body = Problem),
    ),
    extensions(("x-recon-access" = json!("authenticated"))))]
pub async fn change_password(
    State(state): State<AppState>,
    PendingUser(caller): PendingUser,
    address: ClientAddress,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PasswordChangeRequest>,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    let user = &caller.user;
    if let Err(wait) = auth.throttle.check(&user.email, address.0).await {
        return Err(ApiError::too_many_requests(
            format!("too many wrong passwords; try again in {wait} seconds"),
            wait,
        ));
    }
    let verification = auth
        .passwords
        .verify(
            request.current_password.clone(),
            Some(user.password_hash.clone()),
        )
        .await?;
    if !verification.matches {
        auth.throttle.record_failure(&user.email, address.0).await;
        return Err(ApiError::validation(vec![FieldProblem::new(
            "current_password",
            "is not the account's current password",
        )]));
    }
    let mut problems = Vec::new();
    if request.new_password == request.current_password {
        problems.push(FieldProblem::new(
            "new_password",
            "must differ from the current password",
        ));
    } else if let Err(problem) =
        credentials::check_password(&request.new_password, &[&user.email, &user.display_name])
    {
        problems.push(FieldProblem::new("new_password", problem.to_string()));
    }
    finish(problems)?;
    let password_hash = auth.passwords.hash(request.new_password).await?;
    let updated = state
        .store
        .set_password(
            &user.id,
            &password_hash,
            false,
            caller.audit("auth.password.changed", "user", Some(&user.id)),
        )
        .await?
        .ok_or_else(|| ApiError::unauthorized("token_revoked", "the account no longer exists"))?;
    start_session(
        &state,
        &updated,
        address,
        user_agent(&headers),
        caller.via_cookie,
        "auth.session.renewed",
    )
    .await
}

/// Creates a member account for oneself, when open registration is enabled.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created (a member)", body = UserView),
        (status = 403, description = "`registration_closed`", body = Problem),
        (status = 409, description = "`email_taken`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub async fn register(
    State(state): State<AppState>,
    address: ClientAddress,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    if !state.auth.settings.open_registration {
        return Err(ApiError::forbidden(
            "registration_closed",
            "self-registration is off; ask an admin for an account",
        ));
    }
    let user = NewUser {
        role: Role::Member,
        must_change_password: false,
        ..checked_new_user(
            &state,
            &request.email,
            &request.password,
            &request.display_name,
        )
        .await?
    };
    let mut event = audit_event(None, address.0, "user.registered", "user", None);
    event.details = serde_json::json!({ "email": user.email });
    let created = state.store.create_user(user, event).await?;
    Ok((StatusCode::CREATED, ApiJson(UserView::from(&created))).into_response())
}

/// Checks an email, password and display name together (every problem at once) and hashes the
/// password; the role and must-change flag are left for the caller to set.
pub async fn checked_new_user(
    state: &AppState,
    email: &str,
    password: &str,
    display_name: &str,
) -> Result<NewUser, ApiError> {
    let mut problems = Vec::new();
    let email = match credentials::check_email(email) {
        Ok(email) => email.to_owned(),
        Err(problem) => {
            problems.push(FieldProblem::new("email", problem.to_string()));
            String::new()
        }
    };
    let display_name = text_field(
        &mut problems,
        "display_name",
        display_name,
        true,
        credentials::MAX_DISPLAY_NAME_CHARS,
    );
    if let Err(problem) = credentials::check_password(password, &[&email, &display_name]) {
        problems.push(FieldProblem::new("password", problem.to_string()));
    }
    finish(problems)?;
    Ok(NewUser {
        email,
        display_name,
        role: Role::Member,
        password_hash: state.auth.passwords.hash(password.to_owned()).await?,
        must_change_password: true,
    })
}
