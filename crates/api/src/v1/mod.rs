//! Version 1 of the JSON API: the contract web clients code against.
//!
//! [`auth`] (sign-in, tokens, the current account), [`users`] (admin account management),
//! [`projects`] and [`members`] (membership-scoped projects), [`audit`] (the audit trail). This
//! module holds what they share: the views of stored records, pagination and field checks.
//!
//! Every operation declares who may call it in the OpenAPI extension `x-recon-access`
//! (`public`, `authenticated`, `admin`, `project:viewer`, `project:editor`, `project:owner`);
//! the cross-tenant test reads that from the served document and holds each handler to it.

pub mod audit;
pub mod auth;
pub mod members;
pub mod projects;
pub mod users;

use recon_domain::access::{ProjectRole, Role, UserStatus};
use recon_storage::access::UserRecord;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use crate::errors::{ApiError, FieldProblem};

/// Largest page a list returns.
pub const MAX_PAGE_SIZE: i64 = 200;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: i64 = 50;

/// RFC 3339 (UTC, milliseconds) of Unix epoch milliseconds.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn enum_schema(values: impl IntoIterator<Item = &'static str>) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
}

fn nullable_enum_schema(values: impl IntoIterator<Item = &'static str>) -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values.into_iter().map(Some).chain([None])))
        .build()
}

/// The schema of an optional [`Role`] (absent or null: unchanged).
pub fn nullable_role_schema() -> utoipa::openapi::Object {
    nullable_enum_schema(Role::ALL.iter().map(|role| role.as_str()))
}

/// The schema of an optional [`UserStatus`] (absent or null: unchanged).
pub fn nullable_status_schema() -> utoipa::openapi::Object {
    nullable_enum_schema(UserStatus::ALL.iter().map(|status| status.as_str()))
}

/// The schema of [`Role`].
pub fn role_schema() -> utoipa::openapi::Object {
    enum_schema(Role::ALL.iter().map(|role| role.as_str()))
}

/// The schema of [`UserStatus`].
pub fn status_schema() -> utoipa::openapi::Object {
    enum_schema(UserStatus::ALL.iter().map(|status| status.as_str()))
}

/// The schema of [`ProjectRole`].
pub fn project_role_schema() -> utoipa::openapi::Object {
    enum_schema(ProjectRole::ALL.iter().map(|role| role.as_str()))
}

/// An account as clients see it (never its password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Account id.
    pub id: String,
    /// Email as typed at creation.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// admin or member.
    #[schema(schema_with = role_schema)]
    pub role: Role,
    /// active or disabled.
    #[schema(schema_with = status_schema)]
    pub status: UserStatus,
    /// The account must choose a new password before anything else.
    pub must_change_password: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
            status: user.status,
            must_change_password: user.must_change_password,
            created_at: timestamp(user.created_at_ms),
            updated_at: timestamp(user.updated_at_ms),
        }
    }
}

/// `?offset=&limit=` of offset-paged lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Items to return, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

impl PageQuery {
    /// `(offset, limit)`, checked.
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let offset = self.offset.unwrap_or(0);
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        let mut problems = Vec::new();
        if offset < 0 {
            problems.push(FieldProblem::new("offset", "must be 0 or more"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            problems.push(FieldProblem::new(
                "limit",
                format!("must be from 1 to {MAX_PAGE_SIZE}"),
            ));
        }
        if problems.is_empty() {
            Ok((offset, limit))
        } else {
            Err(ApiError::validation(problems))
        }
    }
}

/// The offset of the next page, when this one was full.
pub fn next_offset(offset: i64, limit: i64, returned: usize) -> Option<i64> {
    (returned as i64 == limit).then_some(offset + limit)
}

/// Checks a required text field's length in characters after trimming.
pub fn text_field(
    problems: &mut Vec<FieldProblem>,
    field: &str,
    value: &str,
    required: bool,
    max_chars: usize,
) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        problems.push(FieldProblem::new(field, "must not be empty"));
    } else if value.chars().count() > max_chars {
        problems.push(FieldProblem::new(
            field,
            format!("must be at most {max_chars} characters long"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        problems.push(FieldProblem::new(
            field,
            "must not contain control characters",
        ));
    }
    value.to_owned()
}

/// Fails with every collected problem, if any.
pub fn finish(problems: Vec<FieldProblem>) -> Result<(), ApiError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(problems))
    }
}
