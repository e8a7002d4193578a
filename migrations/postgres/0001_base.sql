-- Base schema (PostgreSQL). Timestamps are Unix epoch milliseconds (BIGINT) so that both
-- backends share one representation; SQLite mirrors this file in migrations/sqlite/0001_base.sql.

-- Every running `recon` process registers itself here at boot and records a heartbeat while it
-- runs; /api/health lists the replicas that share this database.
CREATE TABLE recon_instances (
    id              TEXT   PRIMARY KEY,
    hostname        TEXT   NOT NULL,
    version         TEXT   NOT NULL,
    started_at_ms   BIGINT NOT NULL,
    last_seen_at_ms BIGINT NOT NULL,
    heartbeats      BIGINT NOT NULL DEFAULT 0
);
