//! The one error shape of the HTTP API, and the policy for producing it.
//!
//! Every error a client sees is a JSON problem document:
//! `{"status": 404, "code": "not_found", "message": "…", "request_id": "…"}` with
//! `Content-Type: application/problem+json`. `code` is stable and machine-readable; `message` is
//! for people; `request_id` matches the `X-Request-Id` response header and the server's logs.
//! A validation error (422 `validation_failed`) also lists each field with its own message in
//! `errors`; a 429 carries `Retry-After`; a 401 carries `WWW-Authenticate: Bearer`.
//!
//! Policy: handlers return `Result<_, ApiError>` and use `?`. Infrastructure errors are mapped
//! once, here: an unavailable database is 503 `service_unavailable`; anything unexpected is
//! logged with its details and answered 500 `internal` with no details. Internal error text is
//! never sent to clients.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use recon_storage::StoreError;
use serde::Serialize;

use crate::observability::current_request_id;

/// An error answered as a problem document.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldProblem>,
    retry_after_secs: Option<u64>,
}

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    /// HTTP status code.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request id (also in the `X-Request-Id` header).
    pub request_id: String,
    /// For `validation_failed`: each field that is wrong, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One wrong field of a request.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field's name as sent.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 with `code`; answered with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 with `code`.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 `validation_failed`, listing every wrong field.
    pub fn validation(fields: Vec<FieldProblem>) -> Self {
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("the request has invalid fields: {}", names.join(", ")),
        );
        error.fields = fields;
        error
    }

    /// 429 `too_many_requests`, answered with `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
        error.retry_after_secs = Some(retry_after_secs.max(1));
        error
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not accept that method",
        )
    }

    /// 503 `service_unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
    }

    /// 500 `internal`; the details are logged, not sent.
    pub fn internal(details: impl std::fmt::Display) -> Self {
        tracing::error!(error = %details, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; the request id identifies it in the server logs",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            status: self.status.as_u16(),
            code: self.code.to_owned(),
            message: self.message,
            request_id: current_request_id().unwrap_or_default(),
            errors: self.fields,
        };
        let mut response = (self.status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"recon\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if let StoreError::Refused(code) = error {
            return refusal(code);
        }
        if error.is_unavailable() {
            tracing::warn!(%error, "database unavailable");
            Self::unavailable("the database is unavailable; try again shortly")
        } else {
            Self::internal(error)
        }
    }
}

/// The answer to a request the store refused because it contradicts what is stored.
fn refusal(code: &'static str) -> ApiError {
    match code {
        "email_taken" => ApiError::conflict(code, "an account with this email already exists"),
        "last_admin" => ApiError::conflict(
            code,
            "this would leave no active admin; make another account admin first",
        ),
        "last_owner" => ApiError::conflict(
            code,
            "this would leave the project without an owner; make another member owner first",
        ),
        "already_member" => ApiError::conflict(code, "this account is already a member"),
        "unknown_user" => ApiError::validation(vec![FieldProblem::new(
            "user_id",
            "no active account has this id",
        )]),
        other => ApiError::conflict(other, "the request conflicts with the stored state"),
    }
}
