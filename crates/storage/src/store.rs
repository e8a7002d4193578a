//! The [`Store`] trait every backend implements, and the plain types it speaks in.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::StoreError;

/// Which database engine serves a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (the zero-setup default).
    Sqlite,
    /// PostgreSQL server (production, many replicas).
    Postgres,
}

impl Backend {
    /// The lowercase name used in logs, metrics and health output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A parsed, validated `DATABASE_URL`. Parsing does not connect.
#[derive(Debug)]
pub enum DatabaseUrl {
    /// `sqlite:path` or `sqlite://path`.
    Sqlite(Box<SqliteConnectOptions>),
    /// `postgres://…` or `postgresql://…`.
    Postgres(Box<PgConnectOptions>),
}

impl DatabaseUrl {
    /// Parses a URL, naming what is wrong when it does not fit either backend.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::InvalidUrl(why);
        if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)
                .map(|options| Self::Sqlite(Box::new(options)))
                .map_err(|error| invalid(format!("not a valid SQLite URL ({error})")))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url)
                .map(|options| Self::Postgres(Box::new(options)))
                .map_err(|error| invalid(format!("not a valid PostgreSQL URL ({error})")))
        } else {
            Err(invalid(
                "must start with sqlite: (embedded) or postgres:// (server)".to_owned(),
            ))
        }
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Pool and deadline settings shared by both backends.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Upper bound on open connections (SQLite: readers; there is always exactly one writer).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing fast (503).
    pub acquire_timeout: Duration,
    /// How long opening the first connection may take.
    pub connect_timeout: Duration,
    /// Server-side limit on any one statement (PostgreSQL `statement_timeout`).
    pub statement_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// What a migration run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations this binary embeds.
    pub known: usize,
    /// Migrations applied by this run (0 when another replica got there first).
    pub applied_now: usize,
}

/// Connection-pool occupancy, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The configured maximum.
    pub max: u32,
}

/// One `recon` process registered in the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct InstanceInfo {
    /// Random id chosen at boot.
    pub id: String,
    /// The host (pod) name.
    pub hostname: String,
    /// The binary's version.
    pub version: String,
    /// Boot time, Unix epoch milliseconds.
    pub started_at_ms: i64,
    /// Last heartbeat, Unix epoch milliseconds.
    pub last_seen_at_ms: i64,
    /// Heartbeats recorded since boot.
    pub heartbeats: i64,
}

/// The persistence interface. Both backends pass the same conformance suite
/// (`crates/storage/tests/conformance.rs`).
#[async_trait]
pub trait Store: crate::AccessStore + Send + Sync + 'static {
    /// Which engine this is.
    fn backend(&self) -> Backend;

    /// A round trip to the database, bounded by `timeout`.
    async fn ping(&self, timeout: Duration) -> Result<(), StoreError>;

    /// Applies the embedded migrations. Safe when several replicas call it at once on one
    /// PostgreSQL database: sqlx holds an advisory lock while it migrates.
    async fn migrate(&self) -> Result<MigrationReport, StoreError>;

    /// Checks that every embedded migration is applied, unmodified, and that the tables this
    /// binary relies on answer.
    async fn verify_schema(&self) -> Result<(), StoreError>;

    /// Pool occupancy now.
    fn pool_stats(&self) -> PoolStats;

    /// Registers (or re-registers) this process.
    async fn register_instance(&self, instance: &InstanceInfo) -> Result<(), StoreError>;

    /// Records a heartbeat for `id` at `now_ms` and returns the new heartbeat count. This is a
    /// read-then-write transaction on purpose: it is the write path concurrency tests hammer.
    async fn record_heartbeat(&self, id: &str, now_ms: i64) -> Result<i64, StoreError>;

    /// Every registered instance, most recently seen first.
    async fn list_instances(&self) -> Result<Vec<InstanceInfo>, StoreError>;

    /// Removes `id` (clean shutdown).
    async fn deregister_instance(&self, id: &str) -> Result<(), StoreError>;

    /// Closes every pooled connection; waits for connections in use to be returned.
    async fn close(&self);
}

/// The tables this binary relies on; `verify_schema` checks each answers.
pub(crate) const REQUIRED_TABLES: &[&str] = &[
    "recon_instances",
    "users",
    "auth_sessions",
    "refresh_tokens",
    "projects",
    "project_members",
    "audit_log",
];

/// Compares the migrations recorded in the database with the ones this binary embeds: each
/// must be applied successfully with the same checksum (an edited migration is an error).
pub(crate) fn check_applied(
    migrator: &sqlx::migrate::Migrator,
    applied: &[(i64, Vec<u8>, bool)],
) -> Result<(), StoreError> {
    for migration in migrator.iter() {
        match applied
            .iter()
            .find(|(version, _, _)| *version == migration.version)
        {
            None => {
                return Err(StoreError::Schema(format!(
                    "migration {} ({}) is not applied",
                    migration.version, migration.description
                )));
            }
            Some((_, _, false)) => {
                return Err(StoreError::Schema(format!(
                    "migration {} ({}) failed part-way; repair the database by hand",
                    migration.version, migration.description
                )));
            }
            Some((_, checksum, true)) if checksum.as_slice() != &*migration.checksum => {
                return Err(StoreError::Schema(format!(
                    "migration {} ({}) was changed after it was applied",
                    migration.version, migration.description
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
