//! The SQL behind [`AccessStore`](crate::access::AccessStore), written once for both backends.
//!
//! Both SQLite and PostgreSQL accept `$N` placeholders, `RETURNING`, `ON CONFLICT` and the
//! types used here, so the queries are the same text; what differs is how a write transaction
//! begins (SQLite: `BEGIN IMMEDIATE` on the single writer connection; PostgreSQL: a pooled
//! connection) and how audited writes are serialized (SQLite: already, by that writer;
//! PostgreSQL: a transaction-scoped advisory lock). Each backend supplies those through
//! `read_pool`, `begin_write` and `AUDIT_LOCK`, and expands [`access_store_for!`] once: a macro
//! rather than generic functions because sqlx's per-database trait bounds would otherwise be
//! repeated on every query.

use recon_domain::access::{ProjectAction, ProjectRole, Role, UserStatus};

use crate::StoreError;
use crate::access::{MemberRecord, ProjectRecord, UserRecord};

/// The columns of `users`, in [`UserRow`]'s order.
pub(crate) const USER_COLUMNS: &str = "id, email, display_name, role, status, \
    must_change_password, password_hash, token_version, created_at_ms, updated_at_ms";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    display_name: String,
    role: String,
    status: String,
    must_change_password: bool,
    password_hash: String,
    token_version: i64,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            role: Role::parse(&row.role)
                .ok_or_else(|| StoreError::Schema(format!("users.role {:?}", row.role)))?,
            status: UserStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Schema(format!("users.status {:?}", row.status)))?,
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            must_change_password: row.must_change_password,
            password_hash: row.password_hash,
            token_version: row.token_version,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow {
    id: String,
    name: String,
    description: String,
    created_by: String,
    created_at_ms: i64,
    updated_at_ms: i64,
    membership: Option<String>,
}

impl TryFrom<ProjectRow> for ProjectRecord {
    type Error = StoreError;

    fn try_from(row: ProjectRow) -> Result<Self, StoreError> {
        Ok(Self {
            membership: row.membership.as_deref().map(project_role).transpose()?,
            id: row.id,
            name: row.name,
            description: row.description,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    user_id: String,
    email: String,
    display_name: String,
    role: String,
    added_at_ms: i64,
}

impl TryFrom<MemberRow> for MemberRecord {
    type Error = StoreError;

    fn try_from(row: MemberRow) -> Result<Self, StoreError> {
        Ok(Self {
            role: project_role(&row.role)?,
            user_id: row.user_id,
            email: row.email,
            display_name: row.display_name,
            added_at_ms: row.added_at_ms,
        })
    }
}

fn project_role(text: &str) -> Result<ProjectRole, StoreError> {
    ProjectRole::parse(text).ok_or_else(|| StoreError::Schema(format!("project role {text:?}")))
}

/// A scoped project select: `$1` project id (or unused), `$2` viewer id, `$3` viewer is admin.
pub(crate) const PROJECT_SELECT: &str = "SELECT p.id, p.name, p.description, p.created_by, \
    p.created_at_ms, p.updated_at_ms, m.role AS membership \
    FROM projects p LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $2 \
    WHERE p.deleted_at_ms IS NULL AND (m.user_id IS NOT NULL OR $3)";

/// The member select: `$1` project id.
pub(crate) const MEMBER_SELECT: &str = "SELECT m.user_id, u.email, u.display_name, m.role, \
    m.added_at_ms FROM project_members m JOIN users u ON u.id = m.user_id \
    WHERE m.project_id = $1";

/// An SQL condition true when account `$viewer` (admin flag `$admin`) may do `action` to
/// project `$project`: the membership check every scoped write carries in its own statement.
pub(crate) fn may(action: ProjectAction, project: &str, viewer: &str, admin: &str) -> String {
    let roles: Vec<String> = ProjectRole::ALL
        .iter()
        .filter(|role| role.allows(action))
        .map(|role| format!("'{role}'"))
        .collect();
    format!(
        "({admin} OR EXISTS (SELECT 1 FROM project_members pm WHERE pm.project_id = {project} \
         AND pm.user_id = {viewer} AND pm.role IN ({})))",
        roles.join(", ")
    )
}

/// Maps a unique-constraint violation to a refusal with `code`; anything else passes through.
pub(crate) fn unique_as(code: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Refused(code)
        }
        _ => StoreError::from(error),
    }
}

/// Unix epoch milliseconds now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// `AccessStore` for one backend; see the module doc.
macro_rules! access_store_for {
    ($store:ty, $db:ty) => {
        mod access_impl {
            use async_trait::async_trait;
            use recon_domain::access::{ProjectAction, ProjectRole, Role, UserStatus};
            use recon_domain::audit::{GENESIS_HASH, entry_hash};
            use sqlx::Transaction;

            use super::*;
            use crate::StoreError;
            use crate::access::*;
            use crate::access_sql::{
                MEMBER_SELECT, MemberRow, PROJECT_SELECT, ProjectRow, USER_COLUMNS, UserRow,
                may, now_ms, unique_as,
            };

            type Tx = Transaction<'static, $db>;

            async fn lock_audit(tx: &mut Tx) -> Result<(), StoreError> {
                sqlx::query(<$store>::AUDIT_LOCK).execute(&mut **tx).await?;
                Ok(())
            }

            async fn append(tx: &mut Tx, event: AuditEvent) -> Result<AuditEntry, StoreError> {
                lock_audit(tx).await?;
                let last: Option<(i64, String)> =
                    sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&mut **tx)
                        .await?;
                let (seq, prev_hash) =
                    last.map_or((1, GENESIS_HASH.to_owned()), |(seq, hash)| (seq + 1, hash));
                let details = match event.details {
                    serde_json::Value::Null => "{}".to_owned(),
                    other => other.to_string(),
                };
                let mut entry = AuditEntry {
                    seq,
                    at_ms: now_ms(),
                    actor_id: event.actor_id,
                    action: event.action,
                    target_type: event.target_type,
                    target_id: event.target_id,
                    project_id: event.project_id,
                    client_address: event.client_address,
                    request_id: event.request_id,
                    details,
                    prev_hash,
                    hash: String::new(),
                };
                entry.hash = entry_hash(&entry.fields(), &entry.prev_hash);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at_ms, actor_id, action, target_type, \
                     target_id, project_id, client_address, request_id, details, prev_hash, \
                     hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(entry.seq)
                .bind(entry.at_ms)
                .bind(&entry.actor_id)
                .bind(&entry.action)
                .bind(&entry.target_type)
                .bind(&entry.target_id)
                .bind(&entry.project_id)
                .bind(&entry.client_address)
                .bind(&entry.request_id)
                .bind(&entry.details)
                .bind(&entry.prev_hash)
                .bind(&entry.hash)
                .execute(&mut **tx)
                .await?;
                Ok(entry)
            }

            /// Commits `tx`, with `audit` appended when `changed`; returns `changed`.
            async fn commit_audited_if(
                mut tx: Tx,
                changed: bool,
                audit: AuditEvent,
            ) -> Result<bool, StoreError> {
                if changed {
                    append(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(changed)
            }

            async fn user_in(tx: &mut Tx, id: &str) -> Result<Option<UserRecord>, StoreError> {
                let row: Option<UserRow> =
                    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                row.map(UserRecord::try_from).transpose()
            }

            async fn insert_user(tx: &mut Tx, user: NewUser) -> Result<UserRecord, StoreError> {
                let now = now_ms();
                let record = UserRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    email: user.email,
                    display_name: user.display_name,
                    role: user.role,
                    status: UserStatus::Active,
                    must_change_password: user.must_change_password,
                    password_hash: user.password_hash,
                    token_version: 0,
                    created_at_ms: now,
                    updated_at_ms: now,
                };
                sqlx::query(&format!(
                    "INSERT INTO users ({USER_COLUMNS}, email_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&record.id)
                .bind(&record.email)
                .bind(&record.display_name)
                .bind(record.role.as_str())
                .bind(record.status.as_str())
                .bind(record.must_change_password)
                .bind(&record.password_hash)
                .bind(record.token_version)
                .bind(record.created_at_ms)
                .bind(record.updated_at_ms)
                .bind(recon_domain::credentials::normalize_email(&record.email))
                .execute(&mut **tx)
                .await
                .map_err(unique_as("email_taken"))?;
                Ok(record)
            }

            async fn revoke_user_sessions(
                tx: &mut Tx,
                user_id: &str,
                reason: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE auth_sessions SET revoked_at_ms = $1, revoked_reason = $2 \
                     WHERE user_id = $3 AND revoked_at_ms IS NULL",
                )
                .bind(now_ms())
                .bind(reason)
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn project_in(
                tx: &mut Tx,
                id: &str,
                viewer: Viewer<'_>,
            ) -> Result<Option<ProjectRecord>, StoreError> {
                let row: Option<ProjectRow> =
                    sqlx::query_as(&format!("{PROJECT_SELECT} AND p.id = $1"))
                        .bind(id)
                        .bind(viewer.user_id)
                        .bind(viewer.is_admin)
                        .fetch_optional(&mut **tx)
                        .await?;
                row.map(ProjectRecord::try_from).transpose()
            }

            async fn may_in(
                tx: &mut Tx,
                action: ProjectAction,
                project_id: &str,
                viewer: Viewer<'_>,
            ) -> Result<bool, StoreError> {
                let allowed: bool = sqlx::query_scalar(&format!(
                    "SELECT {} FROM projects WHERE id = $1 AND deleted_at_ms IS NULL",
                    may(action, "$1", "$2", "$3")
                ))
                .bind(project_id)
                .bind(viewer.user_id)
                .bind(viewer.is_admin)
                .fetch_optional(&mut **tx)
                .await?
                .unwrap_or(false);
                Ok(allowed)
            }

            async fn member_in(
                tx: &mut Tx,
                project_id: &str,
                user_id: &str,
            ) -> Result<Option<MemberRecord>, StoreError> {
                let row: Option<MemberRow> =
                    sqlx::query_as(&format!("{MEMBER_SELECT} AND m.user_id = $2"))
                        .bind(project_id)
                        .bind(user_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                row.map(MemberRecord::try_from).transpose()
            }

            /// Refuses a change that would leave `project_id` without an owner.
            async fn keep_an_owner(
                tx: &mut Tx,
                project_id: &str,
                current: &MemberRecord,
                new_role: Option<ProjectRole>,
            ) -> Result<(), StoreError> {
                if current.role != ProjectRole::Owner || new_role == Some(ProjectRole::Owner) {
                    return Ok(());
                }
                let owners: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM project_members WHERE project_id = $1 AND role = 'owner'",
                )
                .bind(project_id)
                .fetch_one(&mut **tx)
                .await?;
                if owners <= 1 {
                    return Err(StoreError::Refused("last_owner"));
                }
                Ok(())
            }

            /// The member `user_id` of `project_id`, after checking under the audit lock that
            /// `viewer` manages the project's members and that giving the member `new_role`
            /// (`None`: removing it) leaves the project an owner. `None`: no such project for
            /// the viewer, or no such member.
            async fn managed_member(
                tx: &mut Tx,
                project_id: &str,
                viewer: Viewer<'_>,
                user_id: &str,
                new_role: Option<ProjectRole>,
            ) -> Result<Option<MemberRecord>, StoreError> {
                lock_audit(tx).await?;
                if !may_in(tx, ProjectAction::ManageMembers, project_id, viewer).await? {
                    return Ok(None);
                }
                let Some(current) = member_in(tx, project_id, user_id).await? else {
                    return Ok(None);
                };
                keep_an_owner(tx, project_id, &current, new_role).await?;
                Ok(Some(current))
            }

            #[async_trait]
            impl AccessStore for $store {
                async fn count_users(&self) -> Result<i64, StoreError> {
                    Ok(sqlx::query_scalar("SELECT count(*) FROM users")
                        .fetch_one(self.read_pool())
                        .await?)
                }

                async fn bootstrap_admin(
                    &self,
                    user: NewUser,
                    audit: AuditEvent,
                ) -> Result<Option<UserRecord>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    lock_audit(&mut tx).await?;
                    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                        .fetch_one(&mut *tx)
                        .await?;
                    if existing > 0 {
                        return Ok(None);
                    }
                    let record = insert_user(&mut tx, user).await?;
                    append(
                        &mut tx,
                        AuditEvent {
                            target_id: Some(record.id.clone()),
                            ..audit
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(Some(record))
                }

                async fn create_user(
                    &self,
                    user: NewUser,
                    audit: AuditEvent,
                ) -> Result<UserRecord, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let record = insert_user(&mut tx, user).await?;
                    append(
                        &mut tx,
                        AuditEvent {
                            target_id: Some(record.id.clone()),
                            ..audit
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn find_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
                    let row: Option<UserRow> =
                        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                            .bind(id)
                            .fetch_optional(self.read_pool())
                            .await?;
                    row.map(UserRecord::try_from).transpose()
                }

                async fn find_user_by_email(
                    &self,
                    email: &str,
                ) -> Result<Option<UserRecord>, StoreError> {
                    let row: Option<UserRow> = sqlx::query_as(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE email_key = $1"
                    ))
                    .bind(recon_domain::credentials::normalize_email(email))
                    .fetch_optional(self.read_pool())
                    .await?;
                    row.map(UserRecord::try_from).transpose()
                }

                async fn list_users(
                    &self,
                    offset: i64,
                    limit: i64,
                ) -> Result<Vec<UserRecord>, StoreError> {
                    let rows: Vec<UserRow> = sqlx::query_as(&format!(
                        "SELECT {USER_COLUMNS} FROM users ORDER BY email_key LIMIT $1 OFFSET $2"
                    ))
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.read_pool())
                    .await?;
                    rows.into_iter().map(UserRecord::try_from).collect()
                }

                async fn update_user(
                    &self,
                    id: &str,
                    changes: UserChanges,
                    audit: AuditEvent,
                ) -> Result<Option<UserRecord>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    // The lock serializes admin changes, so two admins demoting each other at
                    // once cannot both pass the last-admin check.
                    lock_audit(&mut tx).await?;
                    let Some(current) = user_in(&mut tx, id).await? else {
                        return Ok(None);
                    };
                    let role = changes.role.unwrap_or(current.role);
                    let status = changes.status.unwrap_or(current.status);
                    let was_active_admin =
                        current.role == Role::Admin && current.status == UserStatus::Active;
                    let stays_active_admin = role == Role::Admin && status == UserStatus::Active;
                    if was_active_admin && !stays_active_admin {
                        let others: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM users WHERE role = 'admin' \
                             AND status = 'active' AND id <> $1",
                        )
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                        if others == 0 {
                            return Err(StoreError::Refused("last_admin"));
                        }
                    }
                    let revoke = role != current.role
                        || (status == UserStatus::Disabled && current.status != status);
                    sqlx::query(
                        "UPDATE users SET role = $1, status = $2, display_name = $3, \
                         token_version = token_version + $4, updated_at_ms = $5 WHERE id = $6",
                    )
                    .bind(role.as_str())
                    .bind(status.as_str())
                    .bind(changes.display_name.as_deref().unwrap_or(&current.display_name))
                    .bind(i64::from(revoke))
                    .bind(now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if revoke {
                        revoke_user_sessions(&mut tx, id, "account changed by an admin").await?;
                    }
                    append(&mut tx, audit).await?;
                    let updated = user_in(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn set_password(
                    &self,
                    id: &str,
                    password_hash: &str,
                    must_change_password: bool,
                    audit: AuditEvent,
                ) -> Result<Option<UserRecord>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query(
                        "UPDATE users SET password_hash = $1, must_change_password = $2, \
                         token_version = token_version + 1, updated_at_ms = $3 WHERE id = $4",
                    )
                    .bind(password_hash)
                    .bind(must_change_password)
                    .bind(now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Ok(None);
                    }
                    revoke_user_sessions(&mut tx, id, "password changed").await?;
                    append(&mut tx, audit).await?;
                    let updated = user_in(&mut tx, id).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn upgrade_password_hash(
                    &self,
                    id: &str,
                    password_hash: &str,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn create_session(
                    &self,
                    session: NewSession,
                    audit: AuditEvent,
                ) -> Result<(), StoreError> {
                    let now = now_ms();
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO auth_sessions (id, user_id, created_at_ms, \
                         last_used_at_ms, expires_at_ms, client_address, user_agent) \
                         VALUES ($1, $2, $3, $3, $4, $5, $6)",
                    )
                    .bind(&session.id)
                    .bind(&session.user_id)
                    .bind(now)
                    .bind(session.expires_at_ms)
                    .bind(&session.client_address)
                    .bind(&session.user_agent)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at_ms, \
                         expires_at_ms) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&session.refresh.token_hash)
                    .bind(&session.id)
                    .bind(now)
                    .bind(session.refresh.expires_at_ms)
                    .execute(&mut *tx)
                    .await?;
                    append(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn find_session(
                    &self,
                    id: &str,
                ) -> Result<Option<SessionRecord>, StoreError> {
                    Ok(sqlx::query_as(
                        "SELECT id, user_id, expires_at_ms, revoked_at_ms \
                         FROM auth_sessions WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(self.read_pool())
                    .await?)
                }

                async fn find_refresh_session(
                    &self,
                    token_hash: &str,
                ) -> Result<Option<String>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
                    )
                    .bind(token_hash)
                    .fetch_optional(self.read_pool())
                    .await?)
                }

                async fn rotate_refresh_token(
                    &self,
                    token_hash: &str,
                    successor: NewRefreshToken,
                    grace_ms: i64,
                    reuse_audit: AuditEvent,
                ) -> Result<Rotation, StoreError> {
                    let now = now_ms();
                    let mut tx = self.begin_write().await?;
                    let found: Option<(i64, Option<i64>, String, String, i64, Option<i64>)> =
                        sqlx::query_as(
                            "SELECT t.expires_at_ms, t.rotated_at_ms, s.id, s.user_id, \
                             s.expires_at_ms, s.revoked_at_ms FROM refresh_tokens t \
                             JOIN auth_sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
                        )
                        .bind(token_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((expires, rotated, session_id, user_id, session_end, revoked)) =
                        found
                    else {
                        return Ok(Rotation::Invalid);
                    };
                    if revoked.is_some() {
                        return Ok(Rotation::Invalid);
                    }
                    if let Some(rotated_at) = rotated {
                        if now - rotated_at < grace_ms {
                            return Ok(Rotation::Superseded);
                        }
                        sqlx::query(
                            "UPDATE auth_sessions SET revoked_at_ms = $1, \
                             revoked_reason = 'refresh token reused' WHERE id = $2",
                        )
                        .bind(now)
                        .bind(&session_id)
                        .execute(&mut *tx)
                        .await?;
                        append(
                            &mut tx,
                            AuditEvent {
                                actor_id: Some(user_id.clone()),
                                target_type: "session".to_owned(),
                                target_id: Some(session_id.clone()),
                                ..reuse_audit
                            },
                        )
                        .await?;
                        tx.commit().await?;
                        return Ok(Rotation::Reused {
                            session_id,
                            user_id,
                        });
                    }
                    if expires <= now || session_end <= now {
                        return Ok(Rotation::Invalid);
                    }
                    // Conditional, so of two transactions that both read the token as current
                    // only one rotates it; the other finds nothing to update.
                    let claimed = sqlx::query(
                        "UPDATE refresh_tokens SET rotated_at_ms = $1 \
                         WHERE token_hash = $2 AND rotated_at_ms IS NULL",
                    )
                    .bind(now)
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if claimed == 0 {
                        return Ok(Rotation::Superseded);
                    }
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at_ms, \
                         expires_at_ms) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&successor.token_hash)
                    .bind(&session_id)
                    .bind(now)
                    .bind(successor.expires_at_ms.min(session_end))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE auth_sessions SET last_used_at_ms = $1 WHERE id = $2")
                        .bind(now)
                        .bind(&session_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Rotation::Rotated {
                        session: SessionRecord {
                            id: session_id,
                            user_id,
                            expires_at_ms: session_end,
                            revoked_at_ms: None,
                        },
                    })
                }

                async fn revoke_session(
                    &self,
                    id: &str,
                    reason: &str,
                    audit: AuditEvent,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let revoked = sqlx::query(
                        "UPDATE auth_sessions SET revoked_at_ms = $1, revoked_reason = $2 \
                         WHERE id = $3 AND revoked_at_ms IS NULL",
                    )
                    .bind(now_ms())
                    .bind(reason)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    commit_audited_if(tx, revoked, audit).await
                }

                async fn create_project(
                    &self,
                    name: &str,
                    description: &str,
                    owner_id: &str,
                    audit: AuditEvent,
                ) -> Result<ProjectRecord, StoreError> {
                    let now = now_ms();
                    let id = uuid::Uuid::new_v4().to_string();
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO projects (id, name, description, created_by, \
                         created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&id)
                    .bind(name)
                    .bind(description)
                    .bind(owner_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO project_members (project_id, user_id, role, added_at_ms) \
                         VALUES ($1, $2, 'owner', $3)",
                    )
                    .bind(&id)
                    .bind(owner_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    append(
                        &mut tx,
                        AuditEvent {
                            target_id: Some(id.clone()),
                            project_id: Some(id.clone()),
                            ..audit
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(ProjectRecord {
                        id,
                        name: name.to_owned(),
                        description: description.to_owned(),
                        created_by: owner_id.to_owned(),
                        created_at_ms: now,
                        updated_at_ms: now,
                        membership: Some(ProjectRole::Owner),
                    })
                }

                async fn list_projects(
                    &self,
                    viewer: Viewer<'_>,
                    offset: i64,
                    limit: i64,
                ) -> Result<Vec<ProjectRecord>, StoreError> {
                    let rows: Vec<ProjectRow> = sqlx::query_as(&format!(
                        "{PROJECT_SELECT} AND $1 = $1 ORDER BY p.name, p.id LIMIT $4 OFFSET $5"
                    ))
                    .bind("")
                    .bind(viewer.user_id)
                    .bind(viewer.is_admin)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.read_pool())
                    .await?;
                    rows.into_iter().map(ProjectRecord::try_from).collect()
                }

                async fn find_project(
                    &self,
                    id: &str,
                    viewer: Viewer<'_>,
                ) -> Result<Option<ProjectRecord>, StoreError> {
                    let row: Option<ProjectRow> =
                        sqlx::query_as(&format!("{PROJECT_SELECT} AND p.id = $1"))
                            .bind(id)
                            .bind(viewer.user_id)
                            .bind(viewer.is_admin)
                            .fetch_optional(self.read_pool())
                            .await?;
                    row.map(ProjectRecord::try_from).transpose()
                }

                async fn update_project(
                    &self,
                    id: &str,
                    viewer: Viewer<'_>,
                    name: Option<&str>,
                    description: Option<&str>,
                    audit: AuditEvent,
                ) -> Result<Option<ProjectRecord>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let changed = sqlx::query(&format!(
                        "UPDATE projects SET name = COALESCE($4, name), \
                         description = COALESCE($5, description), updated_at_ms = $6 \
                         WHERE id = $1 AND deleted_at_ms IS NULL AND {}",
                        may(ProjectAction::Write, "$1", "$2", "$3")
                    ))
                    .bind(id)
                    .bind(viewer.user_id)
                    .bind(viewer.is_admin)
                    .bind(name)
                    .bind(description)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Ok(None);
                    }
                    append(&mut tx, audit).await?;
                    let project = project_in(&mut tx, id, viewer).await?;
                    tx.commit().await?;
                    Ok(project)
                }

                async fn delete_project(
                    &self,
                    id: &str,
                    viewer: Viewer<'_>,
                    audit: AuditEvent,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let deleted = sqlx::query(&format!(
                        "UPDATE projects SET deleted_at_ms = $4, deleted_by = $2 \
                         WHERE id = $1 AND deleted_at_ms IS NULL AND {}",
                        may(ProjectAction::Delete, "$1", "$2", "$3")
                    ))
                    .bind(id)
                    .bind(viewer.user_id)
                    .bind(viewer.is_admin)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    commit_audited_if(tx, deleted, audit).await
                }

                async fn list_members(
                    &self,
                    project_id: &str,
                    viewer: Viewer<'_>,
                ) -> Result<Option<Vec<MemberRecord>>, StoreError> {
                    if self.find_project(project_id, viewer).await?.is_none() {
                        return Ok(None);
                    }
                    let rows: Vec<MemberRow> =
                        sqlx::query_as(&format!("{MEMBER_SELECT} ORDER BY u.email_key"))
                            .bind(project_id)
                            .fetch_all(self.read_pool())
                            .await?;
                    rows.into_iter()
                        .map(MemberRecord::try_from)
                        .collect::<Result<Vec<_>, _>>()
                        .map(Some)
                }

                async fn add_member(
                    &self,
                    project_id: &str,
                    viewer: Viewer<'_>,
                    user_id: &str,
                    role: ProjectRole,
                    audit: AuditEvent,
                ) -> Result<Option<MemberRecord>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    if !may_in(&mut tx, ProjectAction::ManageMembers, project_id, viewer).await? {
                        return Ok(None);
                    }
                    match user_in(&mut tx, user_id).await? {
                        Some(user) if user.status == UserStatus::Active => {}
                        _ => return Err(StoreError::Refused("unknown_user")),
                    }
                    sqlx::query(
                        "INSERT INTO project_members (project_id, user_id, role, added_at_ms) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(project_id)
                    .bind(user_id)
                    .bind(role.as_str())
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_as("already_member"))?;
                    append(&mut tx, audit).await?;
                    let member = member_in(&mut tx, project_id, user_id).await?;
                    tx.commit().await?;
                    Ok(member)
                }

                async fn update_member(
                    &self,
                    project_id: &str,
                    viewer: Viewer<'_>,
                    user_id: &str,
                    role: ProjectRole,
                    audit: AuditEvent,
                ) -> Result<Option<MemberRecord>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    if managed_member(&mut tx, project_id, viewer, user_id, Some(role))
                        .await?
                        .is_none()
                    {
                        return Ok(None);
                    }
                    sqlx::query(
                        "UPDATE project_members SET role = $1 \
                         WHERE project_id = $2 AND user_id = $3",
                    )
                    .bind(role.as_str())
                    .bind(project_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    append(&mut tx, audit).await?;
                    let member = member_in(&mut tx, project_id, user_id).await?;
                    tx.commit().await?;
                    Ok(member)
                }

                async fn remove_member(
                    &self,
                    project_id: &str,
                    viewer: Viewer<'_>,
                    user_id: &str,
                    audit: AuditEvent,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    if managed_member(&mut tx, project_id, viewer, user_id, None)
                        .await?
                        .is_none()
                    {
                        return Ok(false);
                    }
                    sqlx::query(
                        "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2",
                    )
                    .bind(project_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    append(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let entry = append(&mut tx, event).await?;
                    tx.commit().await?;
                    Ok(entry)
                }

                async fn list_audit(
                    &self,
                    project_id: Option<&str>,
                    before_seq: Option<i64>,
                    limit: i64,
                ) -> Result<Vec<AuditEntry>, StoreError> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM audit_log WHERE ($1 IS NULL OR project_id = $1) \
                         AND ($2 IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3",
                    )
                    .bind(project_id)
                    .bind(before_seq)
                    .bind(limit)
                    .fetch_all(self.read_pool())
                    .await?)
                }

                async fn audit_chain_page(
                    &self,
                    after_seq: i64,
                    limit: i64,
                ) -> Result<Vec<AuditEntry>, StoreError> {
                    Ok(sqlx::query_as(
                        "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    )
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(self.read_pool())
                    .await?)
                }
            }
        }
    };
}

pub(crate) use access_store_for;
