-- Base schema (SQLite). Timestamps are Unix epoch milliseconds (INTEGER) so that both backends
-- share one representation; PostgreSQL mirrors this file in migrations/postgres/0001_base.sql.

-- Every running `recon` process registers itself here at boot and records a heartbeat while it
-- runs; /api/health lists the replicas that share this database.
CREATE TABLE recon_instances (
    id              TEXT    PRIMARY KEY NOT NULL,
    hostname        TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    last_seen_at_ms INTEGER NOT NULL,
    heartbeats      INTEGER NOT NULL DEFAULT 0
);
