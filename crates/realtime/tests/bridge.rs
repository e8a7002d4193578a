//! The Redis bridge carries events between replicas, against a real Redis: two hubs stand for
//! two replicas; what one publishes, the other's subscribers receive, once.

use std::sync::Arc;
use std::time::Duration;

use recon_realtime::bridge::BridgeSettings;
use recon_realtime::{EventHub, Received, RedisBridge};
use tokio_util::sync::CancellationToken;

fn settings(url: &str, channel: &str) -> BridgeSettings {
    BridgeSettings {
        url: url.to_owned(),
        channel: channel.to_owned(),
        op_timeout: Duration::from_millis(500),
        max_backoff: Duration::from_millis(200),
    }
}

async fn next_event(subscription: &mut recon_realtime::Subscription) -> Option<Received> {
    tokio::time::timeout(Duration::from_secs(3), subscription.recv())
        .await
        .ok()
}

#[tokio::test]
async fn events_published_on_one_replica_reach_the_other_once() {
    let Some(url) = recon_test_support::redis_url() else {
        return;
    };
    let channel = format!("recon-test:{}", uuid::Uuid::new_v4());
    let shutdown = CancellationToken::new();
    let (a, b) = (
        Arc::new(EventHub::new("replica-a", 64)),
        Arc::new(EventHub::new("replica-b", 64)),
    );
    RedisBridge::start(Arc::clone(&a), settings(&url, &channel), shutdown.clone())
        .expect("bridge a");
    RedisBridge::start(Arc::clone(&b), settings(&url, &channel), shutdown.clone())
        .expect("bridge b");
    let mut on_a = a.subscribe();
    let mut on_b = b.subscribe();

    // Subscriptions to Redis are asynchronous: publish until b has seen one, then check order.
    let mut delivered = None;
    for attempt in 0..30 {
        a.publish(
            "project:1",
            "probe",
            serde_json::json!({ "attempt": attempt }),
        );
        if let Ok(Received::Event(event)) =
            tokio::time::timeout(Duration::from_millis(100), on_b.recv()).await
        {
            delivered = Some(event);
            break;
        }
    }
    let first = delivered.expect("b receives a's events through redis");
    assert_eq!(first.origin, "replica-a");
    // Drain the probes on b.
    while tokio::time::timeout(Duration::from_millis(200), on_b.recv())
        .await
        .is_ok()
    {}
    while tokio::time::timeout(Duration::from_millis(50), on_a.recv())
        .await
        .is_ok()
    {}

    let sent = a.publish(
        "project:1",
        "job.progress",
        serde_json::json!({ "done": 42 }),
    );
    match next_event(&mut on_b).await {
        Some(Received::Event(event)) => assert_eq!(*event, *sent),
        other => panic!("b should receive the event, got {other:?}"),
    }
    // a's own subscriber gets it once, locally; the copy echoed back by Redis is dropped.
    assert!(
        matches!(next_event(&mut on_a).await, Some(Received::Event(event)) if event.id == sent.id)
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), on_a.recv())
            .await
            .is_err(),
        "no echo"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn with_redis_unreachable_local_delivery_still_works() {
    let url = format!("redis://127.0.0.1:{}", recon_test_support::closed_port());
    let hub = Arc::new(EventHub::new("alone", 16));
    let shutdown = CancellationToken::new();
    RedisBridge::start(
        Arc::clone(&hub),
        settings(&url, "recon-test:none"),
        shutdown.clone(),
    )
    .expect("bridge");
    let mut subscription = hub.subscribe();
    hub.publish("t", "k", serde_json::json!(1));
    assert!(matches!(
        next_event(&mut subscription).await,
        Some(Received::Event(_))
    ));
    shutdown.cancel();
}
