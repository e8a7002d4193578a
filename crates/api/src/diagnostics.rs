//! Development-only diagnostics routes, mounted when `RECON_DEBUG_ROUTES=true` (refused in
//! production by configuration). They let an operator or a test rehearse what production must
//! survive: a slow request during a drain, and a panic.
//!
//! - `GET /api/debug/sleep?ms=N` answers after N ms (at most 60 000).
//! - `GET /api/debug/panic` panics, which ends the process through the panic hook.

use std::time::Duration;

use axum::Json;
use axum::extract::Query;
use serde::Deserialize;

use crate::errors::ApiError;

/// Longest sleep accepted.
const MAX_SLEEP_MS: u64 = 60_000;

/// `?ms=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SleepQuery {
    /// How long to wait, at most 60 000 ms.
    ms: u64,
}

/// Development only: answers after `ms` milliseconds (rehearses a drain).
#[utoipa::path(get, path = "/api/debug/sleep", tag = "debug",
    params(SleepQuery),
    responses((status = 200, description = "Slept", body = Object)),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub(crate) async fn sleep(
    Query(query): Query<SleepQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if query.ms > MAX_SLEEP_MS {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("ms must be at most {MAX_SLEEP_MS}"),
        ));
    }
    tokio::time::sleep(Duration::from_millis(query.ms)).await;
    Ok(Json(serde_json::json!({ "slept_ms": query.ms })))
}

/// Development only: panics (rehearses a crash: exit code 70).
#[utoipa::path(get, path = "/api/debug/panic", tag = "debug",
    responses((status = 500, description = "Never answers: the process ends")),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
#[allow(clippy::panic)]
pub(crate) async fn panic() -> &'static str {
    panic!("panic requested through /api/debug/panic")
}
