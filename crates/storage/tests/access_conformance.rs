//! The access-control stories of the storage conformance suite, on SQLite and PostgreSQL:
//! accounts, refresh-token rotation and reuse, membership-scoped projects, and the audit chain.

use std::sync::Arc;

use recon_domain::access::{ProjectRole, Role, UserStatus};
use recon_domain::audit::ChainVerifier;
use recon_storage::access::{
    AuditEvent, NewRefreshToken, NewSession, NewUser, Rotation, UserChanges, Viewer,
};
use recon_storage::{Store, StoreError, StoreSettings};
use recon_test_support::backends::on_every_backend;

async fn migrated(url: &str) -> Arc<dyn Store> {
    let store = recon_storage::open(url, &StoreSettings::default())
        .await
        .expect("open the store");
    store.migrate().await.expect("migrate");
    store
}

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.to_owned(),
        display_name: email.split('@').next().unwrap_or("x").to_owned(),
        role,
        password_hash: "$argon2id$placeholder-not-verified-here".to_owned(),
        must_change_password: false,
    }
}

async fn admin(store: &dyn Store) -> recon_storage::access::UserRecord {
    store
        .bootstrap_admin(
            new_user("admin@localhost", Role::Admin),
            event("user.bootstrap"),
        )
        .await
        .expect("bootstrap")
        .expect("created")
}

async fn member(store: &dyn Store, email: &str) -> recon_storage::access::UserRecord {
    store
        .create_user(new_user(email, Role::Member), event("user.created"))
        .await
        .expect("create a member")
}

fn event(action: &str) -> AuditEvent {
    AuditEvent {
        action: action.to_owned(),
        target_type: "test".to_owned(),
        ..AuditEvent::default()
    }
}

fn far_future() -> i64 {
    i64::MAX / 2
}

async fn session(store: &dyn Store, user_id: &str, token_hash: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    store
        .create_session(
            NewSession {
                id: id.clone(),
                user_id: user_id.to_owned(),
                expires_at_ms: far_future(),
                client_address: Some("127.0.0.1".to_owned()),
                user_agent: None,
                refresh: NewRefreshToken {
                    token_hash: token_hash.to_owned(),
                    expires_at_ms: far_future(),
                },
            },
            event("auth.login.succeeded"),
        )
        .await
        .expect("create session");
    id
}

fn successor(hash: &str) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: hash.to_owned(),
        expires_at_ms: far_future(),
    }
}

#[tokio::test]
async fn the_first_admin_is_created_once_and_emails_are_unique_in_any_case() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        let first = store
            .bootstrap_admin(
                new_user("admin@localhost", Role::Admin),
                event("user.bootstrap"),
            )
            .await
            .expect("bootstrap");
        assert!(first.is_some(), "an empty database gets its admin");
        let second = store
            .bootstrap_admin(
                new_user("other@localhost", Role::Admin),
                event("user.bootstrap"),
            )
            .await
            .expect("bootstrap again");
        assert_eq!(second, None, "a second bootstrap creates nothing");
        assert_eq!(store.count_users().await.expect("count"), 1);

        member(store.as_ref(), "Ana@Example.com").await;
        let duplicate = store
            .create_user(
                new_user("ana@EXAMPLE.com", Role::Member),
                event("user.created"),
            )
            .await;
        assert!(
            matches!(duplicate, Err(StoreError::Refused("email_taken"))),
            "{duplicate:?}"
        );
        let found = store
            .find_user_by_email("ANA@example.COM")
            .await
            .expect("find")
            .expect("ana exists");
        assert_eq!(
            found.email, "Ana@Example.com",
            "the address is kept as typed"
        );
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_and_disabling_revokes_sessions() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        let admin = admin(store.as_ref()).await;
        let refused = store
            .update_user(
                &admin.id,
                UserChanges {
                    status: Some(UserStatus::Disabled),
                    ..UserChanges::default()
                },
                event("user.updated"),
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Refused("last_admin"))),
            "{refused:?}"
        );

        let member = member(store.as_ref(), "bo@example.com").await;
        let session_id = session(store.as_ref(), &member.id, "hash-bo-1").await;
        let disabled = store
            .update_user(
                &member.id,
                UserChanges {
                    status: Some(UserStatus::Disabled),
                    ..UserChanges::default()
                },
                event("user.updated"),
            )
            .await
            .expect("disable")
            .expect("exists");
        assert_eq!(disabled.status, UserStatus::Disabled);
        assert_eq!(disabled.token_version, member.token_version + 1);
        let revoked = store
            .find_session(&session_id)
            .await
            .expect("find")
            .expect("exists");
        assert!(
            revoked.revoked_at_ms.is_some(),
            "disabling revokes every session"
        );
        let rotation = store
            .rotate_refresh_token("hash-bo-1", successor("hash-bo-2"), 0, event("reuse"))
            .await
            .expect("rotate");
        assert_eq!(rotation, Rotation::Invalid);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        let user = member(store.as_ref(), "cy@example.com").await;
        let session_id = session(store.as_ref(), &user.id, "t1").await;
        let first = store
            .rotate_refresh_token("t1", successor("t2"), 0, event("auth.refresh.reused"))
            .await
            .expect("rotate t1");
        assert!(matches!(first, Rotation::Rotated { ref session } if session.id == session_id));
        // t1 again, after the grace period (0 here): theft is assumed.
        let replay = store
            .rotate_refresh_token("t1", successor("t3"), 0, event("auth.refresh.reused"))
            .await
            .expect("replay t1");
        assert_eq!(
            replay,
            Rotation::Reused {
                session_id: session_id.clone(),
                user_id: user.id.clone()
            }
        );
        // The family is dead: the legitimate successor no longer works either.
        let after = store
            .rotate_refresh_token("t2", successor("t4"), 0, event("auth.refresh.reused"))
            .await
            .expect("rotate t2");
        assert_eq!(after, Rotation::Invalid);
        let audit = store.list_audit(None, None, 10).await.expect("audit");
        let reuse = audit
            .iter()
            .find(|entry| entry.action == "auth.refresh.reused")
            .expect("the reuse is audited");
        assert_eq!(reuse.actor_id.as_deref(), Some(user.id.as_str()));
        assert_eq!(reuse.target_id.as_deref(), Some(session_id.as_str()));
        let unknown = store
            .rotate_refresh_token("never-issued", successor("t5"), 0, event("x"))
            .await
            .expect("unknown");
        assert_eq!(unknown, Rotation::Invalid);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn of_two_concurrent_refreshes_exactly_one_rotates() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        let user = member(store.as_ref(), "di@example.com").await;
        for round in 0..5 {
            let original = format!("race-{round}");
            session(store.as_ref(), &user.id, &original).await;
            let (a, b) = tokio::join!(
                store.rotate_refresh_token(
                    &original,
                    successor(&format!("{original}-a")),
                    60_000,
                    event("r")
                ),
                store.rotate_refresh_token(
                    &original,
                    successor(&format!("{original}-b")),
                    60_000,
                    event("r")
                ),
            );
            let outcomes = [a.expect("a"), b.expect("b")];
            let rotated = outcomes
                .iter()
                .filter(|o| matches!(o, Rotation::Rotated { .. }))
                .count();
            let superseded = outcomes
                .iter()
                .filter(|o| **o == Rotation::Superseded)
                .count();
            assert_eq!((rotated, superseded), (1, 1), "round {round}: {outcomes:?}");
        }
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn projects_are_visible_and_writable_only_through_membership() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        let admin = admin(store.as_ref()).await;
        let owner = member(store.as_ref(), "owner@example.com").await;
        let viewer = member(store.as_ref(), "viewer@example.com").await;
        let stranger = member(store.as_ref(), "stranger@example.com").await;
        let as_owner = Viewer {
            user_id: &owner.id,
            is_admin: false,
        };
        let as_viewer = Viewer {
            user_id: &viewer.id,
            is_admin: false,
        };
        let as_stranger = Viewer {
            user_id: &stranger.id,
            is_admin: false,
        };
        let as_admin = Viewer {
            user_id: &admin.id,
            is_admin: true,
        };

        let project = store
            .create_project("Bank vs ledger", "", &owner.id, event("project.created"))
            .await
            .expect("create project");
        assert_eq!(project.membership, Some(ProjectRole::Owner));
        store
            .add_member(
                &project.id,
                as_owner,
                &viewer.id,
                ProjectRole::Viewer,
                event("m"),
            )
            .await
            .expect("add viewer")
            .expect("added");

        assert_eq!(
            store
                .find_project(&project.id, as_stranger)
                .await
                .expect("find"),
            None
        );
        assert!(
            store
                .list_projects(as_stranger, 0, 50)
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(
            store
                .list_projects(as_admin, 0, 50)
                .await
                .expect("list")
                .len(),
            1
        );
        assert_eq!(
            store
                .find_project(&project.id, as_viewer)
                .await
                .expect("find")
                .and_then(|p| p.membership),
            Some(ProjectRole::Viewer)
        );
        assert_eq!(
            store
                .list_members(&project.id, as_stranger)
                .await
                .expect("members"),
            None
        );

        // Writes carry the membership check in their own statement.
        let by_viewer = store
            .update_project(
                &project.id,
                as_viewer,
                Some("renamed"),
                None,
                event("project.updated"),
            )
            .await
            .expect("update");
        assert_eq!(by_viewer, None, "a viewer cannot write");
        let by_stranger = store
            .add_member(
                &project.id,
                as_stranger,
                &stranger.id,
                ProjectRole::Owner,
                event("m"),
            )
            .await
            .expect("add");
        assert_eq!(by_stranger, None, "a stranger cannot add themselves");
        assert!(
            !store
                .delete_project(&project.id, as_viewer, event("d"))
                .await
                .expect("delete")
        );
        let renamed = store
            .update_project(
                &project.id,
                as_owner,
                Some("renamed"),
                None,
                event("project.updated"),
            )
            .await
            .expect("update")
            .expect("owner writes");
        assert_eq!(
            (renamed.name.as_str(), renamed.description.as_str()),
            ("renamed", "")
        );

        // Members: one owner always remains; no duplicates; only active accounts.
        let last = store
            .update_member(
                &project.id,
                as_owner,
                &owner.id,
                ProjectRole::Editor,
                event("m"),
            )
            .await;
        assert!(
            matches!(last, Err(StoreError::Refused("last_owner"))),
            "{last:?}"
        );
        let last = store
            .remove_member(&project.id, as_owner, &owner.id, event("m"))
            .await;
        assert!(
            matches!(last, Err(StoreError::Refused("last_owner"))),
            "{last:?}"
        );
        let twice = store
            .add_member(
                &project.id,
                as_owner,
                &viewer.id,
                ProjectRole::Editor,
                event("m"),
            )
            .await;
        assert!(
            matches!(twice, Err(StoreError::Refused("already_member"))),
            "{twice:?}"
        );
        let ghost = store
            .add_member(
                &project.id,
                as_owner,
                "no-such-user",
                ProjectRole::Editor,
                event("m"),
            )
            .await;
        assert!(
            matches!(ghost, Err(StoreError::Refused("unknown_user"))),
            "{ghost:?}"
        );

        assert!(
            store
                .delete_project(&project.id, as_owner, event("project.deleted"))
                .await
                .expect("delete")
        );
        assert_eq!(
            store
                .find_project(&project.id, as_admin)
                .await
                .expect("find"),
            None,
            "soft-deleted"
        );
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_audit_trail_chains_and_the_database_refuses_edits() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        for index in 0..25 {
            store
                .append_audit(AuditEvent {
                    details: serde_json::json!({ "index": index }),
                    ..event("test.event")
                })
                .await
                .expect("append");
        }
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = store.audit_chain_page(after, 10).await.expect("page");
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in &page {
                verifier
                    .check(&entry.fields(), &entry.prev_hash, &entry.hash)
                    .expect("intact");
            }
        }
        assert_eq!(verifier.verified(), 25);
        let newest = store.list_audit(None, Some(10), 3).await.expect("list");
        assert_eq!(
            newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![9, 8, 7]
        );

        let pool_url = url.clone();
        let edit = if pool_url.starts_with("sqlite") {
            let pool = sqlx::SqlitePool::connect(&pool_url).await.expect("connect");
            let outcome = sqlx::query("UPDATE audit_log SET action = 'forged' WHERE seq = 3")
                .execute(&pool)
                .await;
            pool.close().await;
            outcome.map(|_| ())
        } else {
            let pool = sqlx::PgPool::connect(&pool_url).await.expect("connect");
            let outcome = sqlx::query("DELETE FROM audit_log WHERE seq = 3")
                .execute(&pool)
                .await;
            pool.close().await;
            outcome.map(|_| ())
        };
        let error = edit.expect_err("the append-only trigger refuses");
        assert!(error.to_string().contains("append-only"), "{error}");
        store.close().await;
    })
    .await;
}
