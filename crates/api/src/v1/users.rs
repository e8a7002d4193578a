//! `/api/v1/users`: account management, for admins only. There is no other way to create an
//! admin (self-registration, when enabled, creates members).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use recon_domain::access::{Role, UserStatus};
use recon_domain::credentials;
use recon_storage::access::UserChanges;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::checked_new_user;
use super::{
    PageQuery, UserView, finish, next_offset, nullable_role_schema, nullable_status_schema,
    text_field,
};
use crate::auth::extract::AdminUser;
use crate::errors::{ApiError, FieldProblem, Problem};
use crate::input::{ApiJson, ApiQuery};
use crate::state::AppState;

/// A page of accounts, ordered by email.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    /// The accounts.
    pub items: Vec<UserView>,
    /// Pass as `offset` for the next page; absent on the last page.
    pub next_offset: Option<i64>,
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "bo@example.com", "password": "correct horse battery staple", "display_name": "Bo", "role": "member"}))]
pub struct CreateUserRequest {
    /// Email (unique, case-insensitive).
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f]([^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?$"
    )]
    pub email: String,
    /// Initial password: 8 to 128 characters, not a common password.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// Display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub display_name: String,
    /// admin or member (default member).
    #[schema(schema_with = nullable_role_schema)]
    pub role: Option<Role>,
    /// Require a new password at first sign-in (default true).
    pub must_change_password: Option<bool>,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Bo Jensen"}))]
pub struct UpdateUserRequest {
    /// admin or member. A change signs the account out everywhere.
    #[schema(schema_with = nullable_role_schema)]
    pub role: Option<Role>,
    /// active or disabled. Disabling signs the account out everywhere.
    #[schema(schema_with = nullable_status_schema)]
    pub status: Option<UserStatus>,
    /// Display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$",
        nullable
    )]
    pub display_name: Option<String>,
}

/// A password reset by an admin.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct ResetPasswordRequest {
    /// The new password; absent: one is generated and returned once.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: Option<String>,
    /// Require a new password at next sign-in (default true).
    pub must_change_password: Option<bool>,
}

/// The account after a reset, with the generated password when one was generated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResetPasswordResponse {
    /// The account.
    pub user: UserView,
    /// The generated password, shown only in this response.
    pub temporary_password: Option<String>,
}

/// Lists accounts.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of accounts", body = UserPage),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "`admin_only`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("admin"))))]
pub async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<UserPage>, ApiError> {
    let (offset, limit) = page.bounds()?;
    let users = state.store.list_users(offset, limit).await?;
    Ok(ApiJson(UserPage {
        next_offset: next_offset(offset, limit, users.len()),
        items: users.iter().map(UserView::from).collect(),
    }))
}

/// Creates an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 403, description = "`admin_only`", body = Problem),
        (status = 409, description = "`email_taken`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("admin"))))]
pub async fn create_user(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let mut user = checked_new_user(
        &state,
        &request.email,
        &request.password,
        &request.display_name,
    )
    .await?;
    user.role = request.role.unwrap_or(Role::Member);
    user.must_change_password = request.must_change_password.unwrap_or(true);
    let mut event = caller.audit("user.created", "user", None);
    event.details = serde_json::json!({ "email": user.email, "role": user.role });
    let created = state.store.create_user(user, event).await?;
    Ok((StatusCode::CREATED, ApiJson(UserView::from(&created))).into_response())
}

/// Changes an account's role, status or display name.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "Account id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 403, description = "`admin_only`", body = Problem),
        (status = 404, description = "No such account", body = Problem),
        (status = 409, description = "`last_admin`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("admin"))))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<ApiJson<UserView>, ApiError> {
    let mut problems = Vec::new();
    let display_name = request.display_name.as_deref().map(|name| {
        text_field(
            &mut problems,
            "display_name",
            name,
            true,
            credentials::MAX_DISPLAY_NAME_CHARS,
        )
    });
    finish(problems)?;
    let mut event = caller.audit("user.updated", "user", Some(&id));
    event.details = serde_json::json!({
        "role": request.role,
        "status": request.status,
        "display_name": display_name,
    });
    let changes = UserChanges {
        role: request.role,
        status: request.status,
        display_name,
    };
    let updated = state
        .store
        .update_user(&id, changes, event)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(ApiJson(UserView::from(&updated)))
}

/// Sets a new password for another account and signs it out everywhere. An admin changes
/// their own password at `/api/v1/auth/password`, which asks for the current one.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users",
    params(("id" = String, Path, description = "Account id")),
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Reset", body = ResetPasswordResponse),
        (status = 403, description = "`admin_only`, or `own_password`: use /api/v1/auth/password", body = Problem),
        (status = 404, description = "No such account", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("admin"))))]
pub async fn reset_password(
    State(state): State<AppState>,
    AdminUser(caller): AdminUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ResetPasswordRequest>,
) -> Result<ApiJson<ResetPasswordResponse>, ApiError> {
    if id == caller.user.id {
        // Resetting needs no current password; changing one's own does.
        return Err(ApiError::forbidden(
            "own_password",
            "change your own password at POST /api/v1/auth/password, which asks for the current one",
        ));
    }
    let target = state
        .store
        .find_user(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    let (password, generated) = match request.new_password {
        Some(password) => (password, false),
        None => (generate_password(), true),
    };
    if let Err(problem) =
        credentials::check_password(&password, &[&target.email, &target.display_name])
    {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "new_password",
            problem.to_string(),
        )]));
    }
    let password_hash = state.auth.passwords.hash(password.clone()).await?;
    let updated = state
        .store
        .set_password(
            &id,
            &password_hash,
            request.must_change_password.unwrap_or(true),
            caller.audit("user.password_reset", "user", Some(&id)),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(ApiJson(ResetPasswordResponse {
        user: UserView::from(&updated),
        temporary_password: generated.then_some(password),
    }))
}

/// A random password of 20 base64url characters (120 bits).
pub fn generate_password() -> String {
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
