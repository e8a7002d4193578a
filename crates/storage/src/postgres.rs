//! The PostgreSQL backend, for production and several replicas on one database.
//!
//! Migrations take sqlx's session-level advisory lock, so replicas that boot together apply
//! each migration exactly once; that lock needs a direct connection, not PgBouncer in
//! transaction mode. Every pooled connection carries a `statement_timeout`, and acquiring one
//! has a deadline, so an exhausted pool or a stuck query turns into a fast 503.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::StoreError;
use crate::store::{Backend, InstanceInfo, MigrationReport, PoolStats, Store, StoreSettings};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Advisory-lock key held around a migration run ("recon-mi" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7265_636f_6e2d_6d69;

pub(crate) struct PostgresStore {
    pool: PgPool,
    max_connections: u32,
}

impl PostgresStore {
    pub(crate) async fn open(
        options: PgConnectOptions,
        settings: &StoreSettings,
    ) -> Result<Self, StoreError> {
        let statement_timeout = settings.statement_timeout.as_millis().to_string();
        let options = options
            .application_name("recon")
            .options([("statement_timeout", statement_timeout.as_str())]);
        // One direct connection first: a pool would turn "connection refused" into a
        // misleading PoolTimedOut after acquire_timeout.
        let probe = tokio::time::timeout(settings.connect_timeout, options.connect())
            .await
            .map_err(|_| StoreError::Timeout(settings.connect_timeout))?
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            max_connections: settings.max_connections.max(1),
        })
    }
}

impl PostgresStore {
    // Audited writes take this transaction-scoped advisory lock ("recon-au" in ASCII) so
    // that the audit chain, the last-admin and the last-owner checks see one writer at a time.
    pub(crate) const AUDIT_LOCK: &str = "SELECT pg_advisory_xact_lock(8243104023212548469)";

    pub(crate) fn read_pool(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.pool
    }

    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

crate::access_sql::access_store_for!(PostgresStore, sqlx::Postgres);

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.pool))
            .await
            .map_err(|_| StoreError::Timeout(timeout))??;
        Ok(())
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        // sqlx already takes an advisory lock inside `run`; taking our own around the counts
        // as well makes `applied_now` exact when replicas migrate at the same moment (advisory
        // locks are re-entrant within a session, so sqlx's own lock still succeeds).
        let mut connection = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *connection)
            .await?;
        let outcome = async {
            let before = applied_count(&mut connection).await;
            MIGRATOR.run_direct(&mut *connection).await?;
            let after = applied_count(&mut connection).await;
            Ok::<_, StoreError>(after.saturating_sub(before))
        }
        .await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *connection)
            .await;
        if unlocked.is_err() {
            // A connection that may still hold the lock must not go back to the pool.
            connection.detach();
        }
        Ok(MigrationReport {
            known: MIGRATOR.iter().count(),
            applied_now: outcome?,
        })
    }

    async fn verify_schema(&self) -> Result<(), StoreError> {
        let applied: Vec<(i64, Vec<u8>, bool)> =
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(&self.pool)
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
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.max_connections,
        }
    }

    async fn register_instance(&self, instance: &InstanceInfo) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recon_instances \
             (id, hostname, version, started_at_ms, last_seen_at_ms, heartbeats) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, \
             version = excluded.version, last_seen_at_ms = excluded.last_seen_at_ms",
        )
        .bind(&instance.id)
        .bind(&instance.hostname)
        .bind(&instance.version)
        .bind(instance.started_at_ms)
        .bind(instance.last_seen_at_ms)
        .bind(instance.heartbeats)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_heartbeat(&self, id: &str, now_ms: i64) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE makes concurrent read-then-write transactions on one row queue up
        // instead of losing updates.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT heartbeats FROM recon_instances WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Err(StoreError::Schema(format!(
                "instance {id} is not registered"
            )));
        };
        sqlx::query(
            "UPDATE recon_instances SET heartbeats = $1, last_seen_at_ms = $2 WHERE id = $3",
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
        .fetch_all(&self.pool)
        .await?)
    }

    async fn deregister_instance(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recon_instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn applied_count(connection: &mut sqlx::PgConnection) -> usize {
    // Before the first migration the table does not exist: nothing is applied.
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(connection)
        .await
        .map_or(0, |count| count as usize)
}
