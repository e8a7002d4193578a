//! `recon audit verify` on SQLite and PostgreSQL: an intact chain verifies; editing one row or
//! deleting one (after removing the append-only trigger, as someone with database rights could)
//! makes it exit 65 naming the first broken entry.

use std::process::Command;
use std::sync::Arc;

use recon_storage::access::AuditEvent;
use recon_storage::{Store, StoreSettings};
use recon_test_support::backends::on_every_backend;

async fn store_with_entries(url: &str, count: usize) -> Arc<dyn Store> {
    let store = recon_storage::open(url, &StoreSettings::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    for index in 0..count {
        store
            .append_audit(AuditEvent {
                action: "test.event".to_owned(),
                target_type: "test".to_owned(),
                details: serde_json::json!({ "index": index }),
                ..AuditEvent::default()
            })
            .await
            .expect("append");
    }
    store
}

fn verify(url: &str) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_recon"))
        .args(["audit", "verify"])
        .env_clear()
        .env("DATABASE_URL", url)
        .output()
        .expect("run recon audit verify");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `statements` with the append-only trigger out of the way.
async fn tamper(url: &str, statement: &str) {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        for sql in [
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            statement,
        ] {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        for sql in [
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            statement,
        ] {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
    }
}

#[tokio::test]
async fn an_intact_chain_verifies_and_an_edited_entry_is_named() {
    on_every_backend(|url| async move {
        let store = store_with_entries(&url, 6).await;
        let (code, stdout, stderr) = verify(&url);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("audit chain verified: 6 entries"),
            "{stdout}"
        );
        tamper(
            &url,
            "UPDATE audit_log SET details = '{\"index\": 99}' WHERE seq = 3",
        )
        .await;
        let (code, _, stderr) = verify(&url);
        assert_eq!(code, 65, "{stderr}");
        assert!(
            stderr.contains("broken at entry 3") && stderr.contains("edited"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_deleted_entry_is_named() {
    on_every_backend(|url| async move {
        let store = store_with_entries(&url, 6).await;
        tamper(&url, "DELETE FROM audit_log WHERE seq = 4").await;
        let (code, _, stderr) = verify(&url);
        assert_eq!(code, 65, "{stderr}");
        assert!(
            stderr.contains("broken at entry 4") && stderr.contains("missing"),
            "{stderr}"
        );
        store.close().await;
    })
    .await;
}

#[test]
fn a_database_that_does_not_answer_or_a_bad_url_exits_with_its_reason() {
    let port = recon_test_support::closed_port();
    let (code, _, stderr) = verify(&format!("postgres://postgres@127.0.0.1:{port}/nothing"));
    assert_eq!(code, 69, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    let (code, _, stderr) = verify("mysql://somewhere/db");
    assert_eq!(code, 78, "{stderr}");
}
