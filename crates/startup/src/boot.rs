//! The staged boot, serving and graceful shutdown.
//!
//! Stages, each logged with its duration:
//! 1. database (critical): connect with capped exponential backoff, logging every attempt;
//!    give up with [`Fatal::Database`] after the configured attempts.
//! 2. migrations (critical): apply the embedded migrations, then verify the schema.
//! 3. redis (important, only when REDIS_URL is set): bounded attempts; on failure one WARN and
//!    degraded mode on in-memory equivalents, with a supervisor that switches back.
//! 4. checks (standard): warnings that do not stop the boot.
//! 5. accounts: a self-test of the access-token keys, the password hasher's dummy hash, and,
//!    on a database without accounts, the first admin (replicas booting together create
//!    exactly one between them).
//! 6. bind, then `listening on http://HOST:PORT`, then serve.
//!
//! Shutdown, on the first SIGTERM/SIGINT: readiness turns 503 at once; the server keeps serving
//! for the drain delay (load balancers notice); it stops accepting; in-flight requests get the
//! grace period; long-lived connections are closed with 1001; background workers stop; the
//! instance deregisters; `shutdown complete` is logged by the caller.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use recon_api::auth::{Auth, AuthSettings};
use recon_api::headers::HttpPolicy;
use recon_api::health::HealthMonitor;
use recon_api::{App, AppState, BuildInfo};
use recon_realtime::bridge::BridgeSettings;
use recon_realtime::{ConnectionTracker, EventHub, RedisBridge};
use recon_storage::cache::Cache;
use recon_storage::redis::{RedisLink, RedisSettings};
use recon_storage::{Backend, InstanceInfo, Store, StoreSettings};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Environment, redact_url};
use crate::signals::StopSignal;
use crate::{COMMIT, ExitReason, VERSION};

/// A reason the boot or the server could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// The database never answered.
    #[error(
        "could not connect to the database at DATABASE_URL={url} after {attempts} attempt(s): {error}; check that the server runs and DATABASE_URL is right"
    )]
    Database {
        /// Redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// Migrations or the schema check failed.
    #[error("database schema: {0}")]
    Schema(String),
    /// The listener could not be bound.
    #[error("{0}")]
    Bind(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl Fatal {
    /// The exit reason matching this failure.
    pub fn exit_reason(&self) -> ExitReason {
        match self {
            Self::Database { .. } => ExitReason::DatabaseUnavailable,
            Self::Schema(_) => ExitReason::Schema,
            Self::Bind(_) => ExitReason::Bind,
            Self::Other(_) => ExitReason::Failure,
        }
    }
}

/// How the service ended when it ended well.
#[derive(Debug)]
pub struct Stopped {
    /// Why: the signal's name.
    pub reason: String,
}

async fn stage<T, E>(name: &'static str, work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let started = Instant::now();
    let outcome = work.await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &outcome {
        Ok(_) => tracing::info!(stage = name, duration_ms, "stage {name} done"),
        Err(_) => tracing::error!(stage = name, duration_ms, "stage {name} failed"),
    }
    outcome
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Boots, serves until a stop signal, and shuts down.
pub async fn run(config: Config) -> Result<Stopped, Fatal> {
    let boot_started = Instant::now();
    let instance_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(
        version = VERSION,
        commit = COMMIT,
        environment = ?config.environment,
        database = config.database.backend.as_str(),
        instance_id = %instance_id,
        "starting recon"
    );
    for variable in &config.generated_secrets {
        tracing::warn!(
            variable,
            "{variable} is not set; using a generated development secret stored in {} (set it explicitly in production)",
            config
                .data_dir
                .join(crate::secrets::DEV_SECRETS_FILE)
                .display()
        );
    }

    let metrics_handle = install_metrics()?;
    let stop = StopSignal::listen()
        .map_err(|error| Fatal::Other(format!("cannot listen for signals: {error}")))?;
    let workers = TaskTracker::new();
    let stop_workers = CancellationToken::new();

    // Stage 1: the database.
    let store = stage("database", connect_database(&config, &stop)).await?;

    // Stage 2: migrations and schema.
    stage("migrations", async {
        let report = store
            .migrate()
            .await
            .map_err(|error| Fatal::Schema(error.to_string()))?;
        tracing::info!(
            known = report.known,
            applied_now = report.applied_now,
            "migrations up to date"
        );
        store
            .verify_schema()
            .await
            .map_err(|error| Fatal::Schema(error.to_string()))
    })
    .await?;

    // Stage 3: Redis.
    let redis = match &config.redis {
        None => None,
        Some(redis) => Some(
            stage("redis", connect_redis(redis))
                .await
                .map_err(Fatal::Other)?,
        ),
    };

    // Stage 4: warnings.
    stage("checks", async {
        standard_checks(&config);
        Ok::<_, Fatal>(())
    })
    .await?;

    let health = Arc::new(HealthMonitor::new(
        config.health_timeout,
        (config.health_interval * 3).max(Duration::from_secs(3)),
    ));
    health.mark_migrations_done();
    health.check_database(store.as_ref()).await;
    let hub = Arc::new(EventHub::new(
        instance_id.clone(),
        recon_realtime::hub::DEFAULT_CAPACITY,
    ));
    let cache = Arc::new(Cache::new(redis.clone()));
    let auth = Arc::new(Auth::new(auth_settings(&config), Arc::clone(&cache)));

    // Stage 5: the token keys and password hashing work; the first admin, when there is no
    // account yet.
    stage("accounts", async {
        auth.keyring
            .self_test()
            .map_err(|why| Fatal::Other(format!("access tokens cannot be issued: {why}")))?;
        // The dummy hash unknown emails are checked against, made now rather than during the
        // first such sign-in (which would otherwise take one hash longer than the rest).
        auth.passwords
            .warm_up()
            .await
            .map_err(|_| Fatal::Other("password hashing does not work".to_owned()))?;
        bootstrap_admin(&config, store.as_ref(), &auth).await
    })
    .await?;

    let state = AppState(Arc::new(App {
        store: Arc::clone(&store),
        cache,
        auth,
        http: HttpPolicy {
            cors_origins: config
                .access
                .cors_origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok())
                .collect(),
            hsts: config.access.hsts,
        },
        redis: redis.clone(),
        health: Arc::clone(&health),
        hub: Arc::clone(&hub),
        connections: ConnectionTracker::new(),
        metrics: Some(metrics_handle),
        build: BuildInfo {
            version: VERSION,
            commit: COMMIT,
        },
        started_at: Instant::now(),
        debug_routes: config.debug_routes,
    }));
    spawn_workers(&config, &state, &instance_id, &workers, &stop_workers).await;

    // Stage 6: bind and serve.
    let listener = stage("bind", bind(&config)).await?;
    let address = listener
        .local_addr()
        .map_err(|error| Fatal::Bind(error.to_string()))?;
    tracing::info!(
        boot_ms = boot_started.elapsed().as_millis() as u64,
        "listening on http://{address}"
    );

    serve(listener, &config, &state, &stop).await?;

    // Shutdown: close long-lived connections, stop workers, deregister.
    let still_open = state.connections.shutdown(Duration::from_secs(5)).await;
    if still_open > 0 {
        tracing::warn!(
            still_open,
            "long-lived connections did not close in time; dropping them"
        );
    }
    hub.shutdown();
    stop_workers.cancel();
    workers.close();
    if tokio::time::timeout(Duration::from_secs(2), workers.wait())
        .await
        .is_err()
    {
        tracing::warn!("background workers did not stop within 2 s");
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        store.deregister_instance(&instance_id),
    )
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), store.close()).await;
    Ok(Stopped {
        reason: stop.name().to_owned(),
    })
}

fn auth_settings(config: &Config) -> AuthSettings {
    let secrets = &config.secrets;
    let access = &config.access;
    let mut settings = AuthSettings::new(
        secrets.jwt.expose().as_bytes(),
        secrets.jwt_refresh.expose().as_bytes(),
        secrets.csrf.expose().as_bytes(),
    );
    settings.jwt_previous_secret = access
        .jwt_previous_secret
        .as_ref()
        .map(|secret| secret.expose().as_bytes().to_vec());
    settings.access_ttl = access.access_token_ttl;
    settings.refresh_ttl = access.refresh_token_ttl;
    settings.session_ttl = settings.session_ttl.max(access.refresh_token_ttl);
    settings.trusted_proxies = access.trusted_proxies.clone();
    settings.open_registration = access.open_registration;
    settings
}

/// Creates the first admin when no account exists. A generated password is logged once (the
/// only secret that ever reaches the log, on purpose: nobody else could learn it) and must be
/// changed at first sign-in.
async fn bootstrap_admin(config: &Config, store: &dyn Store, auth: &Auth) -> Result<(), Fatal> {
    let fail = |error: recon_storage::StoreError| {
        Fatal::Other(format!("creating the first admin: {error}"))
    };
    if store.count_users().await.map_err(fail)? > 0 {
        return Ok(());
    }
    let access = &config.access;
    let (password, generated) = match &access.admin_password {
        Some(secret) => (secret.expose().to_owned(), false),
        None => (recon_api::v1::users::generate_password(), true),
    };
    let password_hash = auth
        .passwords
        .hash(password.clone())
        .await
        .map_err(|_| Fatal::Other("hashing the first admin's password failed".to_owned()))?;
    let created = store
        .bootstrap_admin(
            recon_storage::access::NewUser {
                email: access.admin_email.clone(),
                display_name: "Administrator".to_owned(),
                role: recon_domain::access::Role::Admin,
                password_hash,
                must_change_password: generated,
            },
            recon_storage::access::AuditEvent {
                action: "user.bootstrap".to_owned(),
                target_type: "user".to_owned(),
                details: serde_json::json!({ "email": access.admin_email, "generated_password": generated }),
                ..Default::default()
            },
        )
        .await
        .map_err(fail)?;
    match (created, generated) {
        (None, _) => tracing::info!("another replica created the first admin"),
        (Some(user), true) => tracing::warn!(
            email = %user.email,
            "created the first admin {} with the generated password {password} — shown only this once; it must be changed at first sign-in (or set RECON_ADMIN_PASSWORD before the first start)",
            user.email
        ),
        (Some(user), false) => tracing::info!(
            email = %user.email,
            "created the first admin {} with the password from RECON_ADMIN_PASSWORD",
            user.email
        ),
    }
    Ok(())
}

fn install_metrics() -> Result<metrics_exporter_prometheus::PrometheusHandle, Fatal> {
    let recorder = recon_api::observability::build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|error| Fatal::Other(format!("cannot install the metrics recorder: {error}")))?;
    recon_api::observability::describe_metrics();
    metrics::gauge!("recon_build_info", "version" => VERSION, "commit" => COMMIT).set(1.0);
    // Without upkeep, histogram samples accumulate between scrapes (metrics-rs#467).
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticker.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

async fn connect_database(config: &Config, stop: &StopSignal) -> Result<Arc<dyn Store>, Fatal> {
    let database = &config.database;
    let settings = StoreSettings {
        max_connections: database.max_connections,
        acquire_timeout: database.acquire_timeout,
        connect_timeout: database.connect_timeout,
        ..StoreSettings::default()
    };
    let url = redact_url(&database.url);
    let mut delay = database.retry_initial;
    let mut last_error = String::new();
    for attempt in 1..=database.connect_attempts {
        match recon_storage::open(&database.url, &settings).await {
            Ok(store) => {
                tracing::info!(
                    attempt,
                    backend = store.backend().as_str(),
                    "connected to the database"
                );
                return Ok(store);
            }
            Err(error) => {
                last_error = error.to_string();
                if attempt == database.connect_attempts {
                    break;
                }
                tracing::warn!(
                    attempt,
                    of = database.connect_attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %last_error,
                    "database at DATABASE_URL={url} not reachable; retrying"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.received() => {
                        return Err(Fatal::Database { url, attempts: attempt, error: format!("{last_error} (stopped by {})", stop.name()) });
                    }
                }
                delay = (delay * 2).min(database.retry_max);
            }
        }
    }
    Err(Fatal::Database {
        url,
        attempts: database.connect_attempts,
        error: last_error,
    })
}

async fn connect_redis(redis: &crate::config::RedisConfig) -> Result<Arc<RedisLink>, String> {
    let link = Arc::new(
        RedisLink::new(RedisSettings {
            url: redis.url.clone(),
            connect_timeout: redis.timeout,
            op_timeout: redis.timeout,
            pool_size: 16,
            check_interval: redis.check_interval,
        })
        .map_err(|error| format!("REDIS_URL: {error}"))?,
    );
    let mut delay = Duration::from_millis(100);
    let mut last_error = String::new();
    for attempt in 1..=redis.connect_attempts {
        match link.probe().await {
            Ok(latency) => {
                link.set_up(true);
                tracing::info!(
                    attempt,
                    latency_ms = latency.as_secs_f64() * 1000.0,
                    "connected to redis"
                );
                return Ok(link);
            }
            Err(error) => {
                last_error = error.to_string();
                tracing::debug!(attempt, error = %last_error, "redis attempt failed");
                if attempt < redis.connect_attempts {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
    link.set_up(false);
    tracing::warn!(
        attempts = redis.connect_attempts,
        error = %last_error,
        "redis at REDIS_URL={} is unreachable; running degraded: cache, rate limits and events stay in this process until it returns",
        redact_url(&redis.url)
    );
    Ok(link)
}

fn standard_checks(config: &Config) {
    if running_as_root() {
        tracing::warn!("running as root; run recon as an unprivileged user");
    }
    if config.environment == Environment::Development && config.host.is_unspecified() {
        tracing::warn!(host = %config.host, "HOST={} in development exposes the service on every interface", config.host);
    }
    if config.environment == Environment::Production && config.database.backend == Backend::Sqlite {
        tracing::warn!(
            "SQLite in production supports one replica only; use PostgreSQL to run several"
        );
    }
    if config.debug_routes {
        tracing::warn!(
            "RECON_DEBUG_ROUTES=true: /api/debug/sleep and /api/debug/panic are mounted"
        );
    }
    if config.environment == Environment::Production && config.redis.is_none() {
        tracing::warn!("no REDIS_URL in production: cache, rate limits and events are per replica");
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .is_some_and(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                == Some("0")
        })
}

async fn spawn_workers(
    config: &Config,
    state: &AppState,
    instance_id: &str,
    workers: &TaskTracker,
    stop_workers: &CancellationToken,
) {
    workers.spawn(Arc::clone(&state.health).refresh(
        Arc::clone(&state.store),
        config.health_interval,
        stop_workers.clone(),
    ));
    if let Some(link) = &state.redis {
        workers.spawn(Arc::clone(link).supervise(stop_workers.clone()));
        let bridge = RedisBridge::start(
            Arc::clone(&state.hub),
            BridgeSettings {
                url: link.settings().url.clone(),
                channel: "recon:events".to_owned(),
                op_timeout: link.settings().op_timeout,
                max_backoff: Duration::from_secs(5),
            },
            stop_workers.clone(),
        );
        if let Err(error) = bridge {
            tracing::warn!(%error, "event bridge not started; events stay in this process");
        }
    }
    let instance = InstanceInfo {
        id: instance_id.to_owned(),
        hostname: hostname(),
        version: VERSION.to_owned(),
        started_at_ms: now_ms(),
        last_seen_at_ms: now_ms(),
        heartbeats: 0,
    };
    if let Err(error) = state.store.register_instance(&instance).await {
        tracing::warn!(%error, "could not register this instance");
    }
    let store = Arc::clone(&state.store);
    let stop = stop_workers.clone();
    let id = instance_id.to_owned();
    workers.spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {
                    if let Err(error) = store.record_heartbeat(&id, now_ms()).await {
                        tracing::debug!(%error, "heartbeat not recorded");
                    }
                }
            }
        }
    });
}

async fn bind(config: &Config) -> Result<tokio::net::TcpListener, Fatal> {
    let address = SocketAddr::new(config.host, config.port);
    tokio::net::TcpListener::bind(address).await.map_err(|error| {
        Fatal::Bind(match error.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {address}: the port is already in use; set PORT to a free port or stop the process using it"
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "cannot listen on {address}: permission denied; use a PORT above 1023 or grant CAP_NET_BIND_SERVICE"
            ),
            std::io::ErrorKind::AddrNotAvailable => format!(
                "cannot listen on {address}: HOST is not an address of this machine; set HOST to 127.0.0.1 or 0.0.0.0"
            ),
            _ => format!("cannot listen on {address}: {error}"),
        })
    })
}

async fn serve(
    listener: tokio::net::TcpListener,
    config: &Config,
    state: &AppState,
    stop: &StopSignal,
) -> Result<(), Fatal> {
    let router = recon_api::router(state.clone());
    let health = Arc::clone(&state.health);
    let drain = config.shutdown_drain;
    let graceful = {
        let stop = stop.clone();
        async move {
            stop.received().await;
            health.begin_shutdown();
            if !drain.is_zero() {
                tracing::info!(
                    drain_ms = drain.as_millis() as u64,
                    "readiness is 503; serving on while load balancers drain"
                );
                tokio::time::sleep(drain).await;
            }
            tracing::info!("no longer accepting connections; finishing in-flight requests");
        }
    };
    // Peer addresses feed the client address of throttling and the audit trail.
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(graceful);
    let deadline = async {
        stop.received().await;
        tokio::time::sleep(drain + config.shutdown_grace).await;
    };
    tokio::select! {
        outcome = server => outcome.map_err(|error| Fatal::Other(format!("server error: {error}")))?,
        () = deadline => {
            tracing::warn!(grace_ms = config.shutdown_grace.as_millis() as u64, "grace period over with requests still in flight; abandoning them");
        }
    }
    Ok(())
}
