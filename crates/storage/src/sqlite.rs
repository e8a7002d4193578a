//! The embedded SQLite backend.
//!
//! SQLite allows one writer at a time. To make "database is locked" impossible under
//! concurrency, every write goes through a dedicated pool of exactly one connection and starts
//! with `BEGIN IMMEDIATE`, which takes the write lock up front: a deferred `BEGIN` that reads and
//! then writes fails with `SQLITE_BUSY` at once when another connection committed in between, and
//! `busy_timeout` does not cover that case (sqlx#451). Reads use a separate pool and, thanks to
//! WAL, never wait for the writer. `busy_timeout` still covers other processes on the same file.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreError;
use crate::store::{Backend, InstanceInfo, MigrationReport, PoolStats, Store, StoreSettings};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a writer from another process may hold the lock before we give up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    max_readers: u32,
}

impl SqliteStore {
    pub(crate) async fn open(
        options: SqliteConnectOptions,
        settings: &StoreSettings,
    ) -> Result<Self, StoreError> {
        let in_memory = options.get_filename().as_os_str() == ":memory:";
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let writer = tokio::time::timeout(
            settings.connect_timeout,
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options.clone()),
        )
        .await
        .map_err(|_| StoreError::Timeout(settings.connect_timeout))?
        .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        // An in-memory database exists once per connection, so it cannot have a second pool.
        let (reader, max_readers) = if in_memory {
            (writer.clone(), 1)
        } else {
            let readers = settings.max_connections.max(1);
            let pool = SqlitePoolOptions::new()
                .max_connections(readers)
                .acquire_timeout(settings.acquire_timeout)
                .connect_lazy_with(options);
            (pool, readers)
        };
        Ok(Self {
            reader,
            writer,
            max_readers,
        })
    }
}

impl SqliteStore {
    // SQLite serializes audited writes already: they all go through the one writer connection
    // inside BEGIN IMMEDIATE.
    pub(crate) const AUDIT_LOCK: &str = "SELECT 1";

    pub(crate) fn read_pool(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.reader
    }

    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

crate::access_sql::access_store_for!(SqliteStore, sqlx::Sqlite);

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.reader))
            .await
            .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(())
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        // sqlx's migration lock is a no-op on SQLite, so two processes migrating one file at
        // once would both try to apply the same migration. One IMMEDIATE transaction around
        // the whole run takes the write lock first; the other process waits (busy_timeout),
        // then finds everything applied. sqlx nests each migration in a savepoint inside it.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let before = applied_count(&mut tx).await;
        MIGRATOR.run_direct(&mut *tx).await?;
        let after = applied_count(&mut tx).await;
        tx.commit().await?;
        Ok(MigrationReport {
            known: MIGRATOR.iter().count(),
            applied_now: after.saturating_sub(before),
        })
    }

    async fn verify_schema(&self) -> Result<(), StoreError> {
        let applied: Vec<(i64, Vec<u8>, bool)> =
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&self.reader)
                .await
                .map_err(|error| StoreError::Schema(format!("no migration table: {error}")))?;
        crate::store::check_applied(&MIGRATOR, &applied)?;
        for table in crate::store::REQUIRED_TABLES {
            sqlx::query(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(self.read_pool())
                .await
                .map_err(|error| StoreError::Schema(format!("{table}: {error}")))?;
        }
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: (self.reader.num_idle() + self.writer.num_idle()) as u32,
            max: self.max_readers + 1,
        }
    }

    async fn register_instance(&self, instance: &InstanceInfo) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recon_instances \
             (id, hostname, version, started_at_ms, last_seen_at_ms, heartbeats) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, \
             version = excluded.version, last_seen_at_ms = excluded.last_seen_at_ms",
        )
        .bind(&instance.id)
        .bind(&instance.hostname)
        .bind(&instance.version)
        .bind(instance.started_at_ms)
        .bind(instance.last_seen_at_ms)
        .bind(instance.heartbeats)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn record_heartbeat(&self, id: &str, now_ms: i64) -> Result<i64, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT heartbeats FROM recon_instances WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Err(StoreError::Schema(format!(
                "instance {id} is not registered"
            )));
        };
        sqlx::query(
            "UPDATE recon_instances SET heartbeats = ?1, last_seen_at_ms = ?2 WHERE id = ?3",
        )
        .bind(current + 1)
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(current + 1)
    }

    async fn list_instances(&self) -> Result<Vec<InstanceInfo>, StoreError> {
        Ok(sqlx::query_as::<_, InstanceInfo>(
            "SELECT id, hostname, version, started_at_ms, last_seen_at_ms, heartbeats \
             FROM recon_instances ORDER BY last_seen_at_ms DESC, id",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    async fn deregister_instance(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recon_instances WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

async fn applied_count(connection: &mut sqlx::SqliteConnection) -> usize {
    // Before the first migration the table does not exist: nothing is applied.
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(connection)
        .await
        .map_or(0, |count| count as usize)
}
