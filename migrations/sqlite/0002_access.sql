-- Accounts, sessions, projects, memberships and the audit trail (SQLite). The same schema as
-- migrations/postgres/0002_access.sql in SQLite's types; both backends run the same queries
-- (crates/storage/src/access_sql.rs). Timestamps are Unix epoch milliseconds.

CREATE TABLE users (
    id                   TEXT    PRIMARY KEY NOT NULL,
    email                TEXT    NOT NULL,
    -- The lowercased email: uniqueness is case-insensitive.
    email_key            TEXT    NOT NULL UNIQUE,
    display_name         TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
    status               TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    must_change_password INTEGER NOT NULL DEFAULT 0,
    -- Argon2id PHC string.
    password_hash        TEXT    NOT NULL,
    -- Access tokens carry the version they were issued under; bumping it (password change,
    -- disable, role change) makes every earlier access token fail at once.
    token_version        INTEGER  NOT NULL DEFAULT 0,
    created_at_ms        INTEGER  NOT NULL,
    updated_at_ms        INTEGER  NOT NULL
);

-- One login: a family of refresh tokens, rotated on every use.
CREATE TABLE auth_sessions (
    id              TEXT   PRIMARY KEY,
    user_id         TEXT   NOT NULL REFERENCES users (id),
    created_at_ms   INTEGER NOT NULL,
    last_used_at_ms INTEGER NOT NULL,
    -- Absolute end of the session, whatever the rotations.
    expires_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER,
    revoked_reason  TEXT,
    client_address  TEXT,
    user_agent      TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

-- Refresh tokens are stored only as a keyed hash (HMAC-SHA-256 with JWT_REFRESH_SECRET).
CREATE TABLE refresh_tokens (
    token_hash    TEXT   PRIMARY KEY,
    session_id    TEXT   NOT NULL REFERENCES auth_sessions (id),
    issued_at_ms  INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    -- Set when the token was exchanged for its successor; presenting it again is reuse.
    rotated_at_ms INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE projects (
    id            TEXT   PRIMARY KEY,
    name          TEXT   NOT NULL,
    description   TEXT   NOT NULL DEFAULT '',
    created_by    TEXT   NOT NULL REFERENCES users (id),
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    -- Soft delete: the project disappears from every query; its data stays until purged.
    deleted_at_ms INTEGER,
    deleted_by    TEXT
);

CREATE TABLE project_members (
    project_id  TEXT   NOT NULL REFERENCES projects (id),
    user_id     TEXT   NOT NULL REFERENCES users (id),
    role        TEXT   NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    added_at_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

-- Append-only, hash-chained (crates/domain/src/audit.rs says what each hash covers).
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    at_ms          INTEGER NOT NULL,
    actor_id       TEXT,
    action         TEXT   NOT NULL,
    target_type    TEXT   NOT NULL,
    target_id      TEXT,
    project_id     TEXT,
    client_address TEXT,
    request_id     TEXT,
    details        TEXT   NOT NULL,
    prev_hash      TEXT   NOT NULL,
    hash           TEXT   NOT NULL
);
CREATE INDEX audit_log_project ON audit_log (project_id, seq);

-- The service never changes or removes an entry; the database refuses it too. (Someone with
-- the rights to drop this trigger can still edit rows: the hash chain is what catches that.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
