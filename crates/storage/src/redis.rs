//! The Redis link: a connection pool with a deadline on every operation, and a supervisor that
//! knows whether Redis is up right now.
//!
//! deadpool sets no timeouts by default, so a Redis that stops answering would hang every
//! caller; here waiting for a connection, creating one, recycling one and every command are
//! bounded. Redis is an *important* dependency, not a critical one: when it is down Recon runs
//! degraded on in-memory equivalents (see [`crate::cache`]), the supervisor keeps probing in the
//! background, and both transitions are logged once and exported as metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use tokio_util::sync::CancellationToken;

use crate::StoreError;

/// How to reach Redis and how long to wait for it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL.
    pub url: String,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// Deadline for one command, including waiting for a pooled connection.
    pub op_timeout: Duration,
    /// Pooled connections.
    pub pool_size: usize,
    /// How often the supervisor probes Redis.
    pub check_interval: Duration,
}

/// What health reports about Redis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RedisStatus {
    /// Whether the last probe succeeded.
    pub up: bool,
    /// Round-trip time of the last successful probe.
    pub latency_ms: Option<f64>,
    /// The last probe's error, when it failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct ProbeRecord {
    latency: Option<Duration>,
    last_error: Option<String>,
}

/// A pooled Redis connection with deadlines, plus its up/down state.
pub struct RedisLink {
    pool: Pool,
    settings: RedisSettings,
    up: AtomicBool,
    record: Mutex<ProbeRecord>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password, so it is not printed.
        f.debug_struct("RedisLink")
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Builds the pool without connecting. Fails only on a malformed URL.
    pub fn new(settings: RedisSettings) -> Result<Self, StoreError> {
        redis::parse_redis_url(&settings.url)
            .ok_or_else(|| StoreError::InvalidUrl("not a valid redis:// URL".to_owned()))?;
        let mut pool_config = PoolConfig::new(settings.pool_size.max(1));
        pool_config.timeouts = Timeouts {
            wait: Some(settings.op_timeout),
            create: Some(settings.connect_timeout),
            recycle: Some(settings.op_timeout),
        };
        let mut config = Config::from_url(settings.url.clone());
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|error| StoreError::InvalidUrl(error.to_string()))?;
        Ok(Self {
            pool,
            settings,
            up: AtomicBool::new(false),
            record: Mutex::new(ProbeRecord::default()),
        })
    }

    /// The settings this link was built with (the pub/sub bridge reuses the URL and deadlines).
    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// Whether the last probe succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Health's view of the link.
    pub fn status(&self) -> RedisStatus {
        let record = self
            .record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        RedisStatus {
            up: self.is_up(),
            latency_ms: record.latency.map(|latency| latency.as_secs_f64() * 1000.0),
            last_error: record.last_error.clone(),
        }
    }

    /// One PING with the operation deadline; records the outcome and returns whether the
    /// up/down state changed.
    pub async fn probe(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        let outcome = self
            .run(|mut connection| async move {
                let reply: String = redis::cmd("PING").query_async(&mut connection).await?;
                Ok(reply)
            })
            .await;
        let mut record = self
            .record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match outcome {
            Ok(_) => {
                let latency = started.elapsed();
                record.latency = Some(latency);
                record.last_error = None;
                Ok(latency)
            }
            Err(error) => {
                record.last_error = Some(error.to_string());
                Err(error)
            }
        }
    }

    /// Sets the up/down state, logging and counting a transition. Returns whether it changed.
    pub fn set_up(&self, up: bool) -> bool {
        let changed = self.up.swap(up, Ordering::AcqRel) != up;
        metrics::gauge!("recon_redis_up").set(if up { 1.0 } else { 0.0 });
        if changed {
            let to = if up { "up" } else { "down" };
            metrics::counter!("recon_redis_transitions_total", "to" => to).increment(1);
        }
        changed
    }

    /// Probes Redis every `check_interval` until `shutdown` fires, switching between normal and
    /// degraded mode when the answer changes. Each transition is logged once.
    pub async fn supervise(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings.check_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.probe().await {
                Ok(latency) => {
                    if self.set_up(true) {
                        tracing::info!(
                            latency_ms = latency.as_millis() as u64,
                            "redis is reachable again; leaving degraded mode"
                        );
                    }
                }
                Err(error) => {
                    if self.set_up(false) {
                        tracing::warn!(
                            %error,
                            "redis became unreachable; running degraded on in-memory fallbacks"
                        );
                    } else {
                        tracing::debug!(%error, "redis still unreachable");
                    }
                }
            }
        }
    }

    /// Runs `operation` on a pooled connection, the whole call bounded by the operation
    /// deadline.
    pub async fn run<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let deadline = self.settings.op_timeout;
        let work = async {
            let connection = self
                .pool
                .get()
                .await
                .map_err(|error| StoreError::Redis(error.to_string()))?;
            operation(connection)
                .await
                .map_err(|error| StoreError::Redis(error.to_string()))
        };
        tokio::time::timeout(deadline, work)
            .await
            .map_err(|_| StoreError::Timeout(deadline))?
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.run(|mut connection| async move { connection.get(key).await })
            .await
    }

    /// `SET key value PX ttl`.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        let millis = ttl.as_millis().max(1) as u64;
        self.run(|mut connection| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis)
                .query_async(&mut connection)
                .await
        })
        .await
    }

    /// `INCR key`, setting `PEXPIRE window` when the key is new. Returns the new count.
    pub async fn incr_in_window(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let key = key.to_owned();
        let millis = window.as_millis().max(1) as u64;
        self.run(|mut connection| async move {
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .incr(&key, 1u64)
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(millis)
                .arg("NX")
                .ignore()
                .query_async(&mut connection)
                .await?;
            Ok(count)
        })
        .await
    }

    /// `GET key` and `PTTL key`: a counter's value and the time left in its window.
    pub async fn counter(&self, key: &str) -> Result<Option<(u64, Duration)>, StoreError> {
        let key = key.to_owned();
        self.run(|mut connection| async move {
            let (value, ttl_ms): (Option<u64>, i64) = redis::pipe()
                .get(&key)
                .cmd("PTTL")
                .arg(&key)
                .query_async(&mut connection)
                .await?;
            Ok(value.map(|count| (count, Duration::from_millis(ttl_ms.max(0) as u64))))
        })
        .await
    }

    /// `DEL key`.
    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.run(|mut connection| async move { connection.del(key).await })
            .await
    }
}
