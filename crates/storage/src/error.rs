//! The storage error type. Callers map it once: `Unavailable` means "try later" (HTTP 503,
//! readiness false), everything else is a bug or bad configuration.

use std::time::Duration;

/// Everything that can go wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we support, or does not parse.
    #[error("{0}")]
    InvalidUrl(String),
    /// The database did not answer in time, or the connection was refused or dropped.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// An operation took longer than its deadline.
    #[error("database did not answer within {0:?}")]
    Timeout(Duration),
    /// Applying the embedded migrations failed; the schema is not what this binary expects.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The schema is missing something this binary needs.
    #[error("schema check failed: {0}")]
    Schema(String),
    /// Redis could not be reached or answered with an error.
    #[error("redis: {0}")]
    Redis(String),
    /// The request contradicts what is stored; the code says how (`email_taken`,
    /// `last_admin`, `last_owner`, `already_member`, `unknown_user`).
    #[error("refused: {0}")]
    Refused(&'static str),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether the error is about reachability (retry later) rather than about the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => Self::Unavailable(error.to_string()),
            sqlx::Error::Migrate(error) => Self::Migration(error.to_string()),
            other => Self::Database(other),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(error.to_string())
    }
}
