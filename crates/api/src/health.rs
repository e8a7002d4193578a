//! Health: liveness, readiness and the dependency report, served from state that a background
//! task refreshes, so a storm of probes never reaches the database.
//!
//! - `GET /api/health/live` — 200 while the process can serve. Touches no dependency: a
//!   database outage must make the pod unready, never restart it.
//! - `GET /api/health/ready` — 200 only when migrations are done, the database answered its
//!   last check within the freshness window, and shutdown has not begun; otherwise 503 with the
//!   reason.
//! - `GET /api/health` — version, uptime, each dependency's state and latency, and whether the
//!   instance runs degraded (Redis configured but away); 200 when ready, 503 otherwise.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use recon_storage::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// The last database check.
#[derive(Debug, Clone)]
struct DatabaseCheck {
    at: Instant,
    latency: Duration,
    error: Option<String>,
}

/// Readiness inputs, written by startup, shutdown and the refresh task.
#[derive(Debug)]
pub struct HealthMonitor {
    migrations_done: AtomicBool,
    shutting_down: AtomicBool,
    database: Mutex<Option<DatabaseCheck>>,
    check_timeout: Duration,
    fresh_for: Duration,
}

/// The verdict of [`HealthMonitor::readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Serve traffic.
    Ready,
    /// Do not route traffic here, and why.
    NotReady(String),
}

impl HealthMonitor {
    /// A monitor that checks the database with `check_timeout` and treats a successful check
    /// as current for `fresh_for`.
    pub fn new(check_timeout: Duration, fresh_for: Duration) -> Self {
        Self {
            migrations_done: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            database: Mutex::new(None),
            check_timeout,
            fresh_for,
        }
    }

    /// Startup calls this once migrations are applied and the schema verified.
    pub fn mark_migrations_done(&self) {
        self.migrations_done.store(true, Ordering::Release);
    }

    /// Shutdown calls this first: readiness turns 503 at once.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        metrics::gauge!("recon_ready").set(0.0);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Checks the database once and records the outcome.
    pub async fn check_database(&self, store: &dyn Store) {
        let started = Instant::now();
        let outcome = store.ping(self.check_timeout).await;
        let check = DatabaseCheck {
            at: Instant::now(),
            latency: started.elapsed(),
            error: outcome.err().map(|error| error.to_string()),
        };
        metrics::gauge!("recon_db_up").set(if check.error.is_none() { 1.0 } else { 0.0 });
        let was_up = {
            let mut slot = self
                .database
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let was_up = slot.as_ref().map(|previous| previous.error.is_none());
            *slot = Some(check.clone());
            was_up
        };
        match (was_up, &check.error) {
            (Some(true), Some(error)) => {
                tracing::warn!(%error, "database check failed; instance is not ready")
            }
            (Some(false), None) => tracing::info!("database answers again; instance is ready"),
            _ => {}
        }
        metrics::gauge!("recon_ready").set(if self.readiness() == Readiness::Ready {
            1.0
        } else {
            0.0
        });
    }

    /// Re-checks the database every `interval` until `shutdown` fires.
    pub async fn refresh(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => self.check_database(store.as_ref()).await,
            }
        }
    }

    /// Ready, or why not.
    pub fn readiness(&self) -> Readiness {
        if self.is_shutting_down() {
            return Readiness::NotReady("shutting down".to_owned());
        }
        if !self.migrations_done.load(Ordering::Acquire) {
            return Readiness::NotReady("migrations have not finished".to_owned());
        }
        let slot = self
            .database
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match slot.as_ref() {
            None => Readiness::NotReady("the database has not been checked yet".to_owned()),
            Some(DatabaseCheck {
                error: Some(error), ..
            }) => Readiness::NotReady(format!("database check failed: {error}")),
            Some(check) if check.at.elapsed() > self.fresh_for => Readiness::NotReady(format!(
                "no database check for {} ms",
                check.at.elapsed().as_millis()
            )),
            Some(_) => Readiness::Ready,
        }
    }

    fn database_report(&self, backend: &'static str) -> DependencyReport {
        let slot = self
            .database
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        DependencyReport {
            configured: true,
            critical: true,
            backend: Some(backend),
            up: slot.as_ref().is_some_and(|check| check.error.is_none()),
            latency_ms: slot
                .as_ref()
                .map(|check| check.latency.as_secs_f64() * 1000.0),
            checked_ms_ago: slot
                .as_ref()
                .map(|check| check.at.elapsed().as_millis() as u64),
            error: slot.as_ref().and_then(|check| check.error.clone()),
        }
    }
}

/// One dependency in the `/api/health` report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DependencyReport {
    /// Whether the dependency is configured at all.
    pub configured: bool,
    /// Whether the instance can be ready without it.
    pub critical: bool,
    /// Which engine, for the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
    /// Whether its last check succeeded.
    pub up: bool,
    /// Round-trip time of the last successful check.
    pub latency_ms: Option<f64>,
    /// How long ago it was last checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_ms_ago: Option<u64>,
    /// The last check's error.
    pub error: Option<String>,
}

/// The `/api/health` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// `ok`, `degraded` or `unavailable`.
    pub status: &'static str,
    /// Whether the instance takes traffic.
    pub ready: bool,
    /// Why it does not, when it does not.
    pub reason: Option<String>,
    /// Redis is configured but away: running on in-memory fallbacks.
    pub degraded: bool,
    /// Crate version.
    pub version: &'static str,
    /// Git commit.
    pub commit: &'static str,
    /// Seconds since the process started serving.
    pub uptime_seconds: f64,
    /// This process's instance id.
    pub instance_id: String,
    /// Per-dependency state.
    pub dependencies: Dependencies,
}

/// The dependencies section.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Dependencies {
    /// The database.
    pub database: DependencyReport,
    /// Redis.
    pub redis: DependencyReport,
}

/// The body of the liveness and readiness probes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProbeBody {
    /// `live`, `ready` or `unavailable`.
    status: &'static str,
    /// Why the instance is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Liveness: 200 while the process can serve; touches no dependency.
#[utoipa::path(get, path = crate::routes::LIVE_PATH, tag = "health",
    responses((status = 200, description = "The process can serve", body = ProbeBody)),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub(crate) async fn live() -> Response {
    Json(ProbeBody {
        status: "live",
        reason: None,
    })
    .into_response()
}

/// Readiness: 200 when migrations are done, the database answered its last background check
/// and no shutdown has begun; 503 with the reason otherwise.
#[utoipa::path(get, path = crate::routes::READY_PATH, tag = "health",
    responses(
        (status = 200, description = "Ready for traffic", body = ProbeBody),
        (status = 503, description = "Not ready, with the reason", body = ProbeBody),
    ),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    match state.health.readiness() {
        Readiness::Ready => Json(ProbeBody {
            status: "ready",
            reason: None,
        })
        .into_response(),
        Readiness::NotReady(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ProbeBody {
                status: "unavailable",
                reason: Some(reason),
            }),
        )
            .into_response(),
    }
}

/// The dependency report: version, uptime, each dependency's state and latency.
#[utoipa::path(get, path = crate::routes::HEALTH_PATH, tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthReport),
        (status = 503, description = "Not ready", body = HealthReport),
    ),
    security(()),
    extensions(("x-recon-access" = json!("public"))))]
pub(crate) async fn report(State(state): State<AppState>) -> Response {
    let readiness = state.health.readiness();
    let redis = match &state.redis {
        None => DependencyReport {
            configured: false,
            critical: false,
            backend: None,
            up: false,
            latency_ms: None,
            checked_ms_ago: None,
            error: None,
        },
        Some(link) => {
            let status = link.status();
            DependencyReport {
                configured: true,
                critical: false,
                backend: None,
                up: status.up,
                latency_ms: status.latency_ms,
                checked_ms_ago: None,
                error: status.last_error,
            }
        }
    };
    let degraded = redis.configured && !redis.up;
    let ready = readiness == Readiness::Ready;
    let body = HealthReport {
        status: match (ready, degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ok",
        },
        ready,
        reason: match readiness {
            Readiness::Ready => None,
            Readiness::NotReady(reason) => Some(reason),
        },
        degraded,
        version: state.build.version,
        commit: state.build.commit,
        uptime_seconds: state.started_at.elapsed().as_secs_f64(),
        instance_id: state.hub.instance_id().to_owned(),
        dependencies: Dependencies {
            database: state.health.database_report(state.store.backend().as_str()),
            redis,
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
