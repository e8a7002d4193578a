//! The application state: built once by the binary, shared by every handler as [`AppState`].

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use recon_realtime::{ConnectionTracker, EventHub};
use recon_storage::Store;
use recon_storage::cache::Cache;
use recon_storage::redis::RedisLink;

use crate::auth::Auth;
use crate::headers::HttpPolicy;
use crate::health::HealthMonitor;

/// What the binary is.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// Crate version.
    pub version: &'static str,
    /// Git commit the binary was built from (`unknown` outside a checkout).
    pub commit: &'static str,
}

/// Everything a handler may need. Collaborators with two implementations sit behind `dyn`.
pub struct App {
    /// The database (SQLite or PostgreSQL).
    pub store: Arc<dyn Store>,
    /// Redis, when configured.
    pub redis: Option<Arc<RedisLink>>,
    /// The cache (Redis when up, memory otherwise).
    pub cache: Arc<Cache>,
    /// Readiness and dependency state, refreshed in the background.
    pub health: Arc<HealthMonitor>,
    /// The event hub.
    pub hub: Arc<EventHub>,
    /// Long-lived connections to close at shutdown.
    pub connections: ConnectionTracker,
    /// Renders `/metrics`; `None` when no recorder is installed (some tests).
    pub metrics: Option<PrometheusHandle>,
    /// Version and commit.
    pub build: BuildInfo,
    /// When the process started serving.
    pub started_at: Instant,
    /// Whether the development-only diagnostics routes are mounted.
    pub debug_routes: bool,
    /// Tokens, passwords, throttling.
    pub auth: Arc<Auth>,
    /// Security headers and CORS.
    pub http: HttpPolicy,
}

/// The state handlers extract: a cheap clone of one `Arc<App>`.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
