//! The route table. Every path the service answers is registered here, in one place, through
//! `utoipa_axum`'s `routes!`, which puts each operation in the router and in the OpenAPI
//! document together.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::ApiError;
use crate::input::MAX_JSON_BODY_BYTES;
use crate::observability::ObserveLayer;
use crate::openapi::{ApiDoc, OPENAPI_PATH, document_json};
use crate::state::AppState;
use crate::v1::{audit, auth, members, projects, users};
use crate::{diagnostics, headers, health};

/// Liveness probe path (Kubernetes livenessProbe, Docker HEALTHCHECK).
pub const LIVE_PATH: &str = "/api/health/live";
/// Readiness probe path (Kubernetes readiness and startup probes).
pub const READY_PATH: &str = "/api/health/ready";
/// Dependency report path.
pub const HEALTH_PATH: &str = "/api/health";
/// Prometheus scrape path.
pub const METRICS_PATH: &str = "/metrics";

/// Every route with its documentation; `debug_routes` adds the development diagnostics.
pub fn api_routes(debug_routes: bool) -> OpenApiRouter<AppState> {
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::report))
        .routes(routes!(metrics))
        .routes(routes!(openapi_document))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::register))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user))
        .routes(routes!(users::reset_password))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(
            projects::get_project,
            projects::update_project,
            projects::delete_project
        ))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(members::update_member, members::remove_member))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::project_audit));
    if debug_routes {
        api = api
            .routes(routes!(diagnostics::sleep))
            .routes(routes!(diagnostics::panic));
    }
    api
}

/// Builds the router with all routes and middleware.
pub fn router(state: AppState) -> Router {
    let (router, _) = api_routes(state.debug_routes).split_for_parts();
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES));
    headers::apply(router, &state.http)
        .layer(ObserveLayer)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "route_not_found",
        "no such path; GET /api/openapi.json lists them all",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// The OpenAPI 3.1 document of this service.
#[utoipa::path(get, path = OPENAPI_PATH, tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
async fn openapi_document(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(state.debug_routes),
    )
        .into_response()
}

/// Prometheus text exposition, refreshing the gauges sampled at scrape time.
#[utoipa::path(get, path = METRICS_PATH, tag = "meta",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 503, description = "No metrics recorder installed", body = crate::errors::Problem),
    ),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = &state.metrics else {
        return Err(ApiError::unavailable("no metrics recorder is installed"));
    };
    let pool = state.store.pool_stats();
    metrics::gauge!("recon_db_pool_connections", "state" => "open").set(f64::from(pool.size));
    metrics::gauge!("recon_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("recon_db_pool_connections", "state" => "max").set(f64::from(pool.max));
    metrics::gauge!("recon_uptime_seconds").set(state.started_at.elapsed().as_secs_f64());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}
