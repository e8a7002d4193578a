//! The audit trail, newest first: all of it for admins (`/api/v1/audit`), one project's for
//! that project's owners (`/api/v1/projects/{id}/audit`). Paged by sequence number: pass the
//! `next_before` of one page as `before` for the next.

use axum::extract::{Path, State};
use recon_domain::access::ProjectAction;
use recon_storage::access::AuditEntry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::projects::scoped_project;
use super::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, timestamp};
use crate::auth::extract::{AdminUser, CurrentUser};
use crate::errors::{ApiError, FieldProblem, Problem};
use crate::input::{ApiJson, ApiQuery};
use crate::state::AppState;

/// `?before=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries with a smaller sequence number.
    pub before: Option<i64>,
    /// Entries to return, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    /// Who, when known.
    pub actor_id: Option<String>,
    /// What, e.g. `project.created`.
    pub action: String,
    /// The kind of object.
    pub target_type: String,
    /// Its id.
    pub target_id: Option<String>,
    /// The project concerned.
    pub project_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// Action-specific details.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// This entry's hash (SHA-256, hex).
    pub hash: String,
    /// The previous entry's hash.
    pub prev_hash: String,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            seq: entry.seq,
            at: timestamp(entry.at_ms),
            details: serde_json::from_str(&entry.details).unwrap_or(serde_json::Value::Null),
            actor_id: entry.actor_id,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            project_id: entry.project_id,
            client_address: entry.client_address,
            request_id: entry.request_id,
            hash: entry.hash,
            prev_hash: entry.prev_hash,
        }
    }
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditEntryView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

async fn page(
    state: &AppState,
    project_id: Option<&str>,
    query: &AuditQuery,
) -> Result<AuditPage, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "limit",
            format!("must be from 1 to {MAX_PAGE_SIZE}"),
        )]));
    }
    let entries = state
        .store
        .list_audit(project_id, query.before, limit)
        .await?;
    let next_before = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|entry| entry.seq))
        .flatten();
    Ok(AuditPage {
        items: entries.into_iter().map(AuditEntryView::from).collect(),
        next_before,
    })
}

/// The whole audit trail (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 403, description = "`admin_only`", body = Problem),
    ),
    extensions(("x-recon-access" = json!("admin"))))]
pub async fn list_audit(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<ApiJson<AuditPage>, ApiError> {
    Ok(ApiJson(page(&state, None, &query).await?))
}

/// One project's audit trail (its owners).
#[utoipa::path(get, path = "/api/v1/projects/{id}/audit", tag = "audit",
    params(("id" = String, Path, description = "Project id"), AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 403, description = "`forbidden`: only owners", body = Problem),
        (status = 404, description = "No such project for the caller", body = Problem),
    ),
    extensions(("x-recon-access" = json!("project:owner"))))]
pub async fn project_audit(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<ApiJson<AuditPage>, ApiError> {
    scoped_project(&state, &caller, &id, ProjectAction::ManageMembers).await?;
    Ok(ApiJson(page(&state, Some(&id), &query).await?))
}
