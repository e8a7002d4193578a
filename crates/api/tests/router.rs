//! The router, called in-process with `oneshot`: error shape, request ids, and readiness
//! computed from state rather than from the database on every probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use recon_api::auth::{Auth, AuthSettings};
use recon_api::errors::Problem;
use recon_api::headers::HttpPolicy;
use recon_api::health::HealthMonitor;
use recon_api::{App, AppState, BuildInfo};
use recon_realtime::{ConnectionTracker, EventHub};
use recon_storage::StoreSettings;
use recon_storage::cache::Cache;
use tower::ServiceExt;

async fn state(dir: &tempfile::TempDir, migrate: bool) -> AppState {
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    let store = recon_storage::open(&url, &StoreSettings::default())
        .await
        .expect("store");
    let health = Arc::new(HealthMonitor::new(
        Duration::from_millis(500),
        Duration::from_secs(3),
    ));
    if migrate {
        store.migrate().await.expect("migrate");
        health.mark_migrations_done();
        health.check_database(store.as_ref()).await;
    }
    let cache = Arc::new(Cache::new(None));
    let auth = Arc::new(Auth::new(
        AuthSettings::new(&[1; 32], &[2; 32], &[3; 32]),
        Arc::clone(&cache),
    ));
    AppState(Arc::new(App {
        store,
        redis: None,
        cache,
        auth,
        http: HttpPolicy::default(),
        health,
        hub: Arc::new(EventHub::new("test", 16)),
        connections: ConnectionTracker::new(),
        metrics: None,
        build: BuildInfo {
            version: "0.0.0",
            commit: "test",
        },
        started_at: Instant::now(),
        debug_routes: false,
    }))
}

async fn call(
    state: &AppState,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = recon_api::router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn unknown_paths_get_the_problem_shape_with_the_request_id_of_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(&dir, true).await;
    let (status, headers, body) = call(&state, get("/api/v1/nothing-here")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/problem+json");
    let problem: Problem = serde_json::from_str(&body).expect("problem JSON");
    assert_eq!(problem.code, "route_not_found");
    assert_eq!(problem.status, 404);
    assert_eq!(
        headers["x-request-id"].to_str().expect("ascii"),
        problem.request_id
    );
    assert_eq!(problem.request_id.len(), 36, "a generated UUID");
}

#[tokio::test]
async fn a_callers_request_id_is_kept_and_a_bad_one_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(&dir, true).await;
    let request = Request::get("/nope")
        .header("x-request-id", "trace-abc.123")
        .body(Body::empty())
        .expect("request");
    let (_, headers, body) = call(&state, request).await;
    assert_eq!(headers["x-request-id"], "trace-abc.123");
    assert!(body.contains("\"request_id\":\"trace-abc.123\""));
    let request = Request::get("/nope")
        .header("x-request-id", "bad id; drop table")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = call(&state, request).await;
    assert_ne!(headers["x-request-id"], "bad id; drop table");
}

#[tokio::test]
async fn a_wrong_method_gets_405_in_the_problem_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(&dir, true).await;
    let (status, _, body) = call(
        &state,
        Request::post("/api/health/live")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.contains("\"code\":\"method_not_allowed\""), "{body}");
}

#[tokio::test]
async fn readiness_waits_for_migrations_and_turns_503_at_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(&dir, false).await;
    let (status, _, body) = call(&state, get("/api/health/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("migrations"), "{body}");
    assert_eq!(
        call(&state, get("/api/health/live")).await.0,
        StatusCode::OK,
        "live does not wait for anything"
    );

    state.store.migrate().await.expect("migrate");
    state.health.mark_migrations_done();
    state.health.check_database(state.store.as_ref()).await;
    assert_eq!(
        call(&state, get("/api/health/ready")).await.0,
        StatusCode::OK
    );

    state.health.begin_shutdown();
    let (status, _, body) = call(&state, get("/api/health/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("shutting down"));
    assert_eq!(
        call(&state, get("/api/health")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_probe_storm_does_not_reach_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(&dir, true).await;
    // Closing the store makes any database call fail; probes must still answer from state.
    state.store.close().await;
    for _ in 0..200 {
        assert_eq!(
            call(&state, get("/api/health/ready")).await.0,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_stale_database_check_makes_the_instance_unready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("stale.db").display());
    let store = recon_storage::open(&url, &StoreSettings::default())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let health = HealthMonitor::new(Duration::from_millis(100), Duration::from_millis(50));
    health.mark_migrations_done();
    health.check_database(store.as_ref()).await;
    assert_eq!(health.readiness(), recon_api::health::Readiness::Ready);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        matches!(health.readiness(), recon_api::health::Readiness::NotReady(reason) if reason.contains("no database check"))
    );
}

#[tokio::test]
async fn the_health_report_names_each_dependency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(&dir, true).await;
    let (status, _, body) = call(&state, get("/api/health")).await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["version"], "0.0.0");
    assert_eq!(report["commit"], "test");
    assert_eq!(report["dependencies"]["database"]["critical"], true);
    assert_eq!(report["dependencies"]["redis"]["critical"], false);
    assert!(
        report["dependencies"]["database"]["latency_ms"]
            .as_f64()
            .is_some()
    );
}
