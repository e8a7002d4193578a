//! The storage conformance suite: every story runs on SQLite always and on PostgreSQL when a
//! server answers (always under CI=true). Each run gets its own database — a temporary file, or
//! a fresh PostgreSQL database dropped and checked gone afterwards.

use std::sync::Arc;
use std::time::Duration;

use recon_storage::{InstanceInfo, Store, StoreError, StoreSettings};
use recon_test_support::backends::on_every_backend;

async fn open(url: &str) -> Arc<dyn Store> {
    recon_storage::open(url, &StoreSettings::default())
        .await
        .expect("open the store")
}

async fn migrated(url: &str) -> Arc<dyn Store> {
    let store = open(url).await;
    store.migrate().await.expect("migrate");
    store
}

fn instance(id: &str) -> InstanceInfo {
    InstanceInfo {
        id: id.to_owned(),
        hostname: "test-host".to_owned(),
        version: "0.0.0-test".to_owned(),
        started_at_ms: 1_000,
        last_seen_at_ms: 1_000,
        heartbeats: 0,
    }
}

#[tokio::test]
async fn migrations_apply_once_and_the_schema_verifies() {
    on_every_backend(|url| async move {
        let store = open(&url).await;
        let unverified = store.verify_schema().await;
        assert!(
            matches!(unverified, Err(StoreError::Schema(_))),
            "an empty database must not verify: {unverified:?}"
        );
        let first = store.migrate().await.expect("first migration run");
        assert!(first.known >= 1);
        assert_eq!(
            first.applied_now, first.known,
            "a new database gets every migration"
        );
        let second = store.migrate().await.expect("second migration run");
        assert_eq!(second.applied_now, 0, "a second run applies nothing");
        store
            .verify_schema()
            .await
            .expect("schema verifies after migrating");
        store.ping(Duration::from_secs(1)).await.expect("ping");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn concurrent_migrations_from_two_pools_apply_each_migration_exactly_once() {
    on_every_backend(|url| async move {
        let (a, b) = (open(&url).await, open(&url).await);
        let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
        let (ra, rb) = (ra.expect("migrate a"), rb.expect("migrate b"));
        assert_eq!(ra.applied_now + rb.applied_now, ra.known, "{ra:?} {rb:?}");
        a.verify_schema().await.expect("verifies");
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn instances_register_beat_list_and_leave() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        store
            .register_instance(&instance("a"))
            .await
            .expect("register a");
        store
            .register_instance(&instance("b"))
            .await
            .expect("register b");
        assert_eq!(store.record_heartbeat("a", 5_000).await.expect("beat"), 1);
        assert_eq!(store.record_heartbeat("a", 6_000).await.expect("beat"), 2);
        let listed = store.list_instances().await.expect("list");
        assert_eq!(
            listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"],
            "most recently seen first"
        );
        assert_eq!(listed[0].heartbeats, 2);
        assert_eq!(listed[0].last_seen_at_ms, 6_000);
        // Re-registering keeps the count and the original start time.
        store
            .register_instance(&InstanceInfo {
                started_at_ms: 9,
                ..instance("a")
            })
            .await
            .expect("re-register");
        let again = store.list_instances().await.expect("list");
        assert_eq!(
            again
                .iter()
                .find(|i| i.id == "a")
                .map(|i| (i.heartbeats, i.started_at_ms)),
            Some((2, 1_000))
        );
        store.deregister_instance("a").await.expect("deregister");
        assert_eq!(store.list_instances().await.expect("list").len(), 1);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_heartbeat_for_an_unknown_instance_is_an_error_and_changes_nothing() {
    on_every_backend(|url| async move {
        let store = migrated(&url).await;
        let error = store
            .record_heartbeat("ghost", 1)
            .await
            .expect_err("unknown instance");
        assert!(error.to_string().contains("ghost"), "{error}");
        assert!(store.list_instances().await.expect("list").is_empty());
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_read_then_write_transactions_all_commit() {
    on_every_backend(|url| async move {
        // Two stores on one database stand for two processes: on SQLite they contend for the
        // file lock, not only for the in-process writer pool.
        let first = migrated(&url).await;
        let second = open(&url).await;
        first
            .register_instance(&instance("hot"))
            .await
            .expect("register");
        let mut writers = Vec::new();
        for n in 0..50 {
            let store = if n % 2 == 0 {
                Arc::clone(&first)
            } else {
                Arc::clone(&second)
            };
            writers.push(tokio::spawn(async move {
                store.record_heartbeat("hot", n).await
            }));
        }
        let mut failures = Vec::new();
        for writer in writers {
            if let Err(error) = writer.await.expect("writer task") {
                failures.push(error.to_string());
            }
        }
        assert!(
            failures.is_empty(),
            "no write may fail (e.g. 'database is locked'): {failures:?}"
        );
        let listed = first.list_instances().await.expect("list");
        assert_eq!(listed[0].heartbeats, 50, "no update may be lost");
        first.close().await;
        second.close().await;
    })
    .await;
}

#[tokio::test]
async fn pool_stats_report_the_configured_maximum() {
    on_every_backend(|url| async move {
        let store = recon_storage::open(
            &url,
            &StoreSettings {
                max_connections: 4,
                ..StoreSettings::default()
            },
        )
        .await
        .expect("open");
        store.ping(Duration::from_secs(1)).await.expect("ping");
        let stats = store.pool_stats();
        // SQLite adds its single writer connection to the readers.
        assert!(stats.max == 4 || stats.max == 5, "{stats:?}");
        assert!(stats.size >= 1 && stats.size <= stats.max, "{stats:?}");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn urls_that_fit_no_backend_are_refused_before_connecting() {
    for url in [
        "mysql://localhost/x",
        "",
        "sqlite",
        "postgres//missing-colon",
    ] {
        let error = recon_storage::open(url, &StoreSettings::default())
            .await
            .err();
        assert!(
            matches!(error, Some(StoreError::InvalidUrl(_))),
            "{url:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_reported_as_unavailable_not_as_a_pool_timeout() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/x",
        recon_test_support::closed_port()
    );
    let error = recon_storage::open(&url, &StoreSettings::default())
        .await
        .err()
        .expect("must fail");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(!error.to_string().contains("pool timed out"), "{error}");
}
