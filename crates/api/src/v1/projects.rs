//! `/api/v1/projects`: projects, scoped by membership. The list holds the caller's projects
//! (admins: all); one project answers 404 to anyone who is not a member, whether or not it
//! exists, so ids reveal nothing. Members may read; editors may also change the description;
//! owners may also manage members, read the project's audit trail and delete it (softly: its
//! data stays until purged).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use recon_domain::access::{ProjectAction, ProjectRole, effective_project_role};
use recon_storage::access::ProjectRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageQuery, finish, next_offset, project_role_schema, text_field, timestamp};
use crate::auth::extract::{Caller, CurrentUser};
use crate::errors::{ApiError, Problem};
use crate::input::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Longest project name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest project description.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// A project.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    /// Project id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The role the caller acts with (admins act as owners everywhere).
    #[schema(schema_with = project_role_schema)]
    pub your_role: ProjectRole,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl ProjectView {
    fn of(project: &ProjectRecord, caller: &Caller) -> Self {
        Self {
            id: project.id.clone(),
            name: project.name.clone(),
            description: project.description.clone(),
            your_role: effective_project_role(caller.user.role, project.membership)
                .unwrap_or(ProjectRole::Viewer),
            created_by: project.created_by.clone(),
            created_at: timestamp(project.created_at_ms),
            updated_at: timestamp(project.updated_at_ms),
        }
    }
}

/// A page of projects, ordered by name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectPage {
    /// The projects.
    pub items: Vec<ProjectView>,
    /// Pass as `offset` for the next page; absent on the last page.
    pub next_offset: Option<i64>,
}

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Bank vs ledger", "description": "Monthly close"}))]
pub struct CreateProjectRequest {
    /// Name (1 to 200 characters).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Description (up to 4000 characters).
    #[schema(max_length = 4000, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
}

/// Changes to a project; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Monthly close, EUR accounts"}))]
pub struct UpdateProjectRequest {
    /// Name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// Description.
    #[schema(max_length = 4000, pattern = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
}

/// The project `id` as `caller` may see it, or 404; then 403 unless the caller's role allows
/// `action`. The visibility check is the scoped query itself.
pub async fn scoped_project(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: ProjectAction,
) -> Result<ProjectRecord, ApiError> {
    let project = state
        .store
        .find_project(id, caller.viewer())
        .await?
        .ok_or_else(|| ApiError::not_found("no such project"))?;
    let role = effective_project_role(caller.user.role, project.membership)
        .ok_or_else(|| ApiError::not_found("no such project"))?;
    if !role.allows(action) {
        return Err(ApiError::forbidden(
            "forbidden",
            format!("a project {role} may not do this"),
        ));
    }
    Ok(project)
}

/// An audit event about project `project_id`.
pub fn project_event(
    caller: &Caller,
    action: &str,
    project_id: &str,
    target_type: &str,
    target_id: &str,
    details: serde_json::Value,
) -> recon_storage::access::AuditEvent {
    let mut event = caller.audit(action, target_type, Some(target_id));
    event.project_id = Some(project_id.to_owned());
    event.details = details;
    event
}

/// Lists the caller's projects.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of projects", body = ProjectPage),
        (status = 401, description = "Not signed in", body = Problem),
    ),
    extensions(("x-recon-access" = json!("authenticated"))))]
pub async fn list_projects(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<ApiJson<ProjectPage>, ApiError> {
    let (offset, limit) = page.bounds()?;
    let projects = state
        .store
        .list_projects(caller.viewer(), offset, limit)
        .await?;
    Ok(ApiJson(ProjectPage {
        next_offset: next_offset(offset, limit, projects.len()),
        items: projects
            .iter()
            .map(|p| ProjectView::of(p, &caller))
            .collect(),
    }))
}

/// Creates a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects",
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created", body = ProjectView),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("authenticated"))))]
pub async fn create_project(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    ApiJson(request): ApiJson<CreateProjectRequest>,
) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let name = text_field(&mut problems, "name", &request.name, true, MAX_NAME_CHARS);
    let description = text_field(
        &mut problems,
        "description",
        request.description.as_deref().unwrap_or(""),
        false,
        MAX_DESCRIPTION_CHARS,
    );
    finish(problems)?;
    let mut event = caller.audit("project.created", "project", None);
    event.details = serde_json::json!({ "name": name });
    let project = state
        .store
        .create_project(&name, &description, &caller.user.id, event)
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(ProjectView::of(&project, &caller)),
    )
        .into_response())
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 404, description = "No such project for the caller", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:viewer"))))]
pub async fn get_project(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<ApiJson<ProjectView>, ApiError> {
    let project = scoped_project(&state, &caller, &id, ProjectAction::Read).await?;
    Ok(ApiJson(ProjectView::of(&project, &caller)))
}

/// Changes a project's name or description (editors and owners).
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 403, description = "`forbidden`: viewers may not write", body = Problem),
        (status = 404, description = "No such project for the caller", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:editor"))))]
pub async fn update_project(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateProjectRequest>,
) -> Result<ApiJson<ProjectView>, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::Write).await?;
    let mut problems = Vec::new();
    let name = request
        .name
        .as_deref()
        .map(|name| text_field(&mut problems, "name", name, true, MAX_NAME_CHARS));
    let description = request.description.as_deref().map(|text| {
        text_field(
            &mut problems,
            "description",
            text,
            false,
            MAX_DESCRIPTION_CHARS,
        )
    });
    finish(problems)?;
    let event = project_event(
        &caller,
        "project.updated",
        &id,
        "project",
        &id,
        serde_json::json!({ "name": name, "description_changed": description.is_some() }),
    );
    let project = state
        .store
        .update_project(
            &id,
            caller.viewer(),
            name.as_deref(),
            description.as_deref(),
            event,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("no such project"))?;
    Ok(ApiJson(ProjectView::of(&project, &caller)))
}

/// Deletes a project (owners). Soft: it disappears at once, its data stays until purged.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = String, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: only owners delete", body = Problem),
        (status = 404, description = "No such project for the caller", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:owner"))))]
pub async fn delete_project(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::Delete).await?;
    let event = project_event(
        &caller,
        "project.deleted",
        &id,
        "project",
        &id,
        serde_json::Value::Null,
    );
    if state
        .store
        .delete_project(&id, caller.viewer(), event)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such project"))
    }
}
