//! The route table. Every path the service answers is listed here, in one place.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::diagnostics;
use crate::errors::ApiError;
use crate::health;
use crate::observability::ObserveLayer;
use crate::state::AppState;

/// Liveness probe path (Kubernetes livenessProbe, Docker HEALTHCHECK).
pub const LIVE_PATH: &str = "/api/health/live";
/// Readiness probe path (Kubernetes readiness and startup probes).
pub const READY_PATH: &str = "/api/health/ready";
/// Dependency report path.
pub const HEALTH_PATH: &str = "/api/health";
/// Prometheus scrape path.
pub const METRICS_PATH: &str = "/metrics";

/// Builds the router with all routes and middleware.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route(LIVE_PATH, get(health::live))
        .route(READY_PATH, get(health::ready))
        .route(HEALTH_PATH, get(health::report))
        .route(METRICS_PATH, get(metrics));
    if state.debug_routes {
        router = router
            .route("/api/debug/sleep", get(diagnostics::sleep))
            .route("/api/debug/panic", get(diagnostics::panic));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(ObserveLayer)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such path")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Renders the Prometheus exposition, refreshing the gauges that are sampled at scrape time.
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
