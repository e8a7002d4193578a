//! Persistence for Recon: one [`Store`] interface with two backends, SQLite (the embedded
//! default) and PostgreSQL (production, many replicas), plus the Redis link and the cache that
//! falls back to memory when Redis is away.
//!
//! [`Store`] includes [`AccessStore`] (accounts, sessions, projects, members, the audit trail),
//! whose SQL is written once for both backends.
//!
//! Row mapping happens here, on plain structs, so `recon-domain` never sees sqlx. Which backend
//! serves a URL is decided once, in [`open`]; everything above this crate holds an
//! `Arc<dyn Store>` and does not know which one it got.

pub mod access;
mod access_sql;
mod error;
mod postgres;
mod sqlite;
mod store;

pub mod cache;
pub mod redis;

use std::sync::Arc;

pub use access::AccessStore;
pub use error::StoreError;
pub use store::{
    Backend, DatabaseUrl, InstanceInfo, MigrationReport, PoolStats, Store, StoreSettings,
};

/// Opens the store named by `url`: `sqlite:…` or `postgres://…` (`postgresql://…`).
///
/// This makes one real connection before returning, so an unreachable server or an unwritable
/// SQLite file is reported here with the driver's own error rather than later as a pool timeout.
pub async fn open(url: &str, settings: &StoreSettings) -> Result<Arc<dyn Store>, StoreError> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(options) => Ok(Arc::new(
            sqlite::SqliteStore::open(*options, settings).await?,
        )),
        DatabaseUrl::Postgres(options) => Ok(Arc::new(
            postgres::PostgresStore::open(*options, settings).await?,
        )),
    }
}
