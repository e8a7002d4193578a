//! `/api/v1/projects/{id}/members`: who belongs to a project and with which role. Members may
//! list them; only owners (and admins) add, change and remove them, and a project always keeps
//! at least one owner.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use recon_domain::access::{ProjectAction, ProjectRole};
use recon_storage::access::MemberRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::projects::{project_event, scoped_project};
use super::{project_role_schema, timestamp};
use crate::auth::extract::CurrentUser;
use crate::errors::{ApiError, Problem};
use crate::input::ApiJson;
use crate::state::AppState;

/// A member of a project.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// Account id.
    pub user_id: String,
    /// Its email.
    pub email: String,
    /// Its display name.
    pub display_name: String,
    /// owner, editor or viewer.
    #[schema(schema_with = project_role_schema)]
    pub role: ProjectRole,
    /// RFC 3339.
    pub added_at: String,
}

impl From<&MemberRecord> for MemberView {
    fn from(member: &MemberRecord) -> Self {
        Self {
            user_id: member.user_id.clone(),
            email: member.email.clone(),
            display_name: member.display_name.clone(),
            role: member.role,
            added_at: timestamp(member.added_at_ms),
        }
    }
}

/// The members of a project, ordered by email.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    /// The members.
    pub items: Vec<MemberView>,
}

/// A new member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "00000000-0000-0000-0000-000000000000", "role": "viewer"}))]
pub struct AddMemberRequest {
    /// An active account's id.
    pub user_id: String,
    /// owner, editor or viewer.
    #[schema(schema_with = project_role_schema)]
    pub role: ProjectRole,
}

/// A member's new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "editor"}))]
pub struct UpdateMemberRequest {
    /// owner, editor or viewer.
    #[schema(schema_with = project_role_schema)]
    pub role: ProjectRole,
}

/// Lists a project's members.
#[utoipa::path(get, path = "/api/v1/projects/{id}/members", tag = "members",
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 404, description = "No such project for the caller", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:viewer"))))]
pub async fn list_members(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<ApiJson<MemberList>, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::Read).await?;
    let members = state
        .store
        .list_members(&id, caller.viewer())
        .await?
        .ok_or_else(|| ApiError::not_found("no such project"))?;
    Ok(ApiJson(MemberList {
        items: members.iter().map(MemberView::from).collect(),
    }))
}

/// Adds an account to a project (owners).
#[utoipa::path(post, path = "/api/v1/projects/{id}/members", tag = "members",
    params(("id" = String, Path, description = "Project id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "Added", body = MemberView),
        (status = 403, description = "`forbidden`: only owners manage members", body = Problem),
        (status = 404, description = "No such project for the caller", body = Problem),
        (status = 409, description = "`already_member`", body = Problem),
        (status = 422, description = "`validation_failed`: no such active account", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:owner"))))]
pub async fn add_member(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AddMemberRequest>,
) -> Result<Response, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::ManageMembers).await?;
    let event = project_event(
        &caller,
        "project.member.added",
        &id,
        "user",
        &request.user_id,
        serde_json::json!({ "role": request.role }),
    );
    let member = state
        .store
        .add_member(&id, caller.viewer(), &request.user_id, request.role, event)
        .await?
        .ok_or_else(|| ApiError::not_found("no such project"))?;
    Ok((StatusCode::CREATED, ApiJson(MemberView::from(&member))).into_response())
}

/// Changes a member's role (owners).
#[utoipa::path(patch, path = "/api/v1/projects/{id}/members/{user_id}", tag = "members",
    params(
        ("id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "Member's account id"),
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 403, description = "`forbidden`: only owners manage members", body = Problem),
        (status = 404, description = "No such project or member", body = Problem),
        (status = 409, description = "`last_owner`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:owner"))))]
pub async fn update_member(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<UpdateMemberRequest>,
) -> Result<ApiJson<MemberView>, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::ManageMembers).await?;
    let event = project_event(
        &caller,
        "project.member.updated",
        &id,
        "user",
        &user_id,
        serde_json::json!({ "role": request.role }),
    );
    let member = state
        .store
        .update_member(&id, caller.viewer(), &user_id, request.role, event)
        .await?
        .ok_or_else(|| ApiError::not_found("no such member"))?;
    Ok(ApiJson(MemberView::from(&member)))
}

/// Removes a member (owners).
#[utoipa::path(delete, path = "/api/v1/projects/{id}/members/{user_id}", tag = "members",
    params(
        ("id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "Member's account id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`forbidden`: only owners manage members", body = Problem),
        (status = 404, description = "No such project or member", body = Problem),
        (status = 409, description = "`last_owner`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:owner"))))]
pub async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::ManageMembers).await?;
    let event = project_event(
        &caller,
        "project.member.removed",
        &id,
        "user",
        &user_id,
        serde_json::Value::Null,
    );
    if state
        .store
        .remove_member(&id, caller.viewer(), &user_id, event)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such member"))
    }
}
