//! The access-control part of the [`Store`](crate::Store): accounts, login sessions and their
//! refresh tokens, projects, memberships and the audit trail.
//!
//! Tenancy lives in the queries: every project read or write takes a [`Viewer`] and joins the
//! membership table in the same statement, so a project the viewer cannot see is "not there"
//! (`None`), never fetched first and filtered later. Every data-changing call takes the
//! [`AuditEvent`] that describes it and appends it in the same transaction: a change is never
//! stored without its audit entry, nor the entry without the change.

use async_trait::async_trait;
use recon_domain::access::{ProjectRole, Role, UserStatus};

use crate::StoreError;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Random id (UUID).
    pub id: String,
    /// The address as typed.
    pub email: String,
    /// Shown in the interface.
    pub display_name: String,
    /// admin or member.
    pub role: Role,
    /// active or disabled.
    pub status: UserStatus,
    /// Set for generated or reset passwords: the account must choose its own first.
    pub must_change_password: bool,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Access tokens issued under an older version are refused.
    pub token_version: i64,
    /// Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// Unix epoch milliseconds.
    pub updated_at_ms: i64,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The address as typed (already checked).
    pub email: String,
    /// Display name (already checked).
    pub display_name: String,
    /// admin or member.
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Whether the password must be changed at first login.
    pub must_change_password: bool,
}

/// Changes an admin may make to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New role.
    pub role: Option<Role>,
    /// New status.
    pub status: Option<UserStatus>,
    /// New display name.
    pub display_name: Option<String>,
}

/// A login: the family its refresh tokens belong to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    /// Random id; access tokens carry it as `sid`.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// Absolute end, Unix epoch milliseconds.
    pub expires_at_ms: i64,
    /// When revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

/// A new login with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Random id.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// Absolute end, Unix epoch milliseconds.
    pub expires_at_ms: i64,
    /// The client's address.
    pub client_address: Option<String>,
    /// The client's User-Agent, cut to a sane length.
    pub user_agent: Option<String>,
    /// The first refresh token.
    pub refresh: NewRefreshToken,
}

/// A refresh token, as stored: its keyed hash only.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// HMAC-SHA-256 of the token under JWT_REFRESH_SECRET, hex.
    pub token_hash: String,
    /// Unix epoch milliseconds.
    pub expires_at_ms: i64,
}

/// What presenting a refresh token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now rotated and its successor stored.
    Rotated {
        /// The session, still live.
        session: SessionRecord,
    },
    /// The token was already rotated within the grace period (two concurrent refreshes):
    /// refused, the family left alive.
    Superseded,
    /// The token was already rotated before the grace period: reuse, so the whole family is
    /// now revoked (and the reuse audited).
    Reused {
        /// The revoked session.
        session_id: String,
        /// Its owner.
        user_id: String,
    },
    /// Unknown, expired, or of a revoked session.
    Invalid,
}

/// Who is asking, for queries scoped by membership.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// The account id.
    pub user_id: &'a str,
    /// Admins see every project.
    pub is_admin: bool,
}

/// A project, with the role the viewer acts with on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Random id (UUID).
    pub id: String,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The account that created it.
    pub created_by: String,
    /// Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// Unix epoch milliseconds.
    pub updated_at_ms: i64,
    /// The viewer's membership role (`None` for an admin who is not a member).
    pub membership: Option<ProjectRole>,
}

/// A project member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The account.
    pub user_id: String,
    /// Its email.
    pub email: String,
    /// Its display name.
    pub display_name: String,
    /// Its role in the project.
    pub role: ProjectRole,
    /// Unix epoch milliseconds.
    pub added_at_ms: i64,
}

/// Something to record in the audit trail. The store adds the time, the sequence number and
/// the hashes.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// Who (an account id), when known.
    pub actor_id: Option<String>,
    /// What, e.g. `project.created`.
    pub action: String,
    /// The kind of object, e.g. `project`.
    pub target_type: String,
    /// Its id.
    pub target_id: Option<String>,
    /// The project concerned, when there is one.
    pub project_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// Action-specific details (never secrets).
    pub details: serde_json::Value,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix epoch milliseconds.
    pub at_ms: i64,
    /// Who.
    pub actor_id: Option<String>,
    /// What.
    pub action: String,
    /// The kind of object.
    pub target_type: String,
    /// Its id.
    pub target_id: Option<String>,
    /// The project concerned.
    pub project_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// Details, a JSON object as text.
    pub details: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    /// The fields the entry's hash covers.
    pub fn fields(&self) -> recon_domain::audit::AuditFields<'_> {
        recon_domain::audit::AuditFields {
            seq: self.seq,
            at_ms: self.at_ms,
            actor_id: self.actor_id.as_deref(),
            action: &self.action,
            target_type: &self.target_type,
            target_id: self.target_id.as_deref(),
            project_id: self.project_id.as_deref(),
            client_address: self.client_address.as_deref(),
            request_id: self.request_id.as_deref(),
            details: &self.details,
        }
    }
}

/// Accounts, sessions, projects, members and the audit trail. Both backends run the same SQL
/// (`access_sql.rs`) and pass the same conformance suite.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// How many accounts exist.
    async fn count_users(&self) -> Result<i64, StoreError>;

    /// Creates the first admin if, and only if, no account exists yet (replicas booting
    /// together create one between them). `None` when accounts already existed.
    async fn bootstrap_admin(
        &self,
        user: NewUser,
        audit: AuditEvent,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// Creates an account. [`StoreError::Refused`] `email_taken` when the email (any case)
    /// is in use.
    async fn create_user(&self, user: NewUser, audit: AuditEvent)
    -> Result<UserRecord, StoreError>;

    /// The account with this id.
    async fn find_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;

    /// The account with this email, compared case-insensitively.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// Accounts ordered by email, a page at a time.
    async fn list_users(&self, offset: i64, limit: i64) -> Result<Vec<UserRecord>, StoreError>;

    /// Applies an admin's changes. Disabling an account or changing its role revokes its
    /// sessions and bumps its token version. [`StoreError::Refused`] `last_admin` when the
    /// change would leave no active admin.
    async fn update_user(
        &self,
        id: &str,
        changes: UserChanges,
        audit: AuditEvent,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// Sets a new password hash, revokes every session of the account and bumps its token
    /// version (a change by the account itself, or a reset by an admin).
    async fn set_password(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
        audit: AuditEvent,
    ) -> Result<Option<UserRecord>, StoreError>;

    /// Replaces the hash with one under current parameters (rehash on login); nothing else
    /// changes and nothing is revoked.
    async fn upgrade_password_hash(&self, id: &str, password_hash: &str) -> Result<(), StoreError>;

    /// Stores a new login with its first refresh token.
    async fn create_session(
        &self,
        session: NewSession,
        audit: AuditEvent,
    ) -> Result<(), StoreError>;

    /// The session with this id.
    async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The session a refresh token belongs to, without using the token (for checking a
    /// cookie-mode refresh's CSRF token before rotating).
    async fn find_refresh_session(&self, token_hash: &str) -> Result<Option<String>, StoreError>;

    /// Exchanges the refresh token with hash `token_hash` for `successor`. A token rotated
    /// less than `grace_ms` ago is [`Rotation::Superseded`]; an older one is reuse and revokes
    /// the family, recording `reuse_audit` (its actor and target filled in by the store).
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        successor: NewRefreshToken,
        grace_ms: i64,
        reuse_audit: AuditEvent,
    ) -> Result<Rotation, StoreError>;

    /// Revokes one session (logout). False when it was already revoked or does not exist.
    async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        audit: AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Creates a project with its creator as owner.
    async fn create_project(
        &self,
        name: &str,
        description: &str,
        owner_id: &str,
        audit: AuditEvent,
    ) -> Result<ProjectRecord, StoreError>;

    /// The projects `viewer` may see (admins: all), ordered by name, a page at a time.
    async fn list_projects(
        &self,
        viewer: Viewer<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<ProjectRecord>, StoreError>;

    /// The project, if it exists, is not deleted, and `viewer` may see it.
    async fn find_project(
        &self,
        id: &str,
        viewer: Viewer<'_>,
    ) -> Result<Option<ProjectRecord>, StoreError>;

    /// Changes name and/or description, if `viewer` may write the project.
    async fn update_project(
        &self,
        id: &str,
        viewer: Viewer<'_>,
        name: Option<&str>,
        description: Option<&str>,
        audit: AuditEvent,
    ) -> Result<Option<ProjectRecord>, StoreError>;

    /// Soft-deletes the project, if `viewer` owns it. False when it was not there to delete.
    async fn delete_project(
        &self,
        id: &str,
        viewer: Viewer<'_>,
        audit: AuditEvent,
    ) -> Result<bool, StoreError>;

    /// The project's members, if `viewer` may see the project.
    async fn list_members(
        &self,
        project_id: &str,
        viewer: Viewer<'_>,
    ) -> Result<Option<Vec<MemberRecord>>, StoreError>;

    /// Adds an active account to a project `viewer` owns. `Ok(None)`: no such project for the
    /// viewer, or no such active account. Conflict `already_member`.
    async fn add_member(
        &self,
        project_id: &str,
        viewer: Viewer<'_>,
        user_id: &str,
        role: ProjectRole,
        audit: AuditEvent,
    ) -> Result<Option<MemberRecord>, StoreError>;

    /// Changes a member's role in a project `viewer` owns. Conflict `last_owner` when it would
    /// leave the project without an owner.
    async fn update_member(
        &self,
        project_id: &str,
        viewer: Viewer<'_>,
        user_id: &str,
        role: ProjectRole,
        audit: AuditEvent,
    ) -> Result<Option<MemberRecord>, StoreError>;

    /// Removes a member from a project `viewer` owns. Conflict `last_owner` as above.
    async fn remove_member(
        &self,
        project_id: &str,
        viewer: Viewer<'_>,
        user_id: &str,
        audit: AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Appends one entry on its own (logins, refresh-token reuse…).
    async fn append_audit(&self, event: AuditEvent) -> Result<AuditEntry, StoreError>;

    /// Entries newest first, before `before_seq` when given, of one project when given.
    async fn list_audit(
        &self,
        project_id: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Entries oldest first after `after_seq`, for verifying the chain a page at a time.
    async fn audit_chain_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
