//! The event hub: publish once, every subscriber in this process receives it; attached to a
//! [`crate::RedisBridge`], subscribers in other replicas receive it too.
//!
//! Capacity: the broadcast ring holds [`DEFAULT_CAPACITY`] events (tokio rounds up to a power
//! of two). A subscriber that falls further behind is not dropped: [`Subscription::recv`]
//! returns [`Received::Lagged`] with the number of events it missed, so a WebSocket can send a
//! "resync" frame and carry on from the oldest retained event. Only shutdown ends a
//! subscription. Publishing never waits for subscribers.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Events the ring buffer keeps for slow subscribers.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One event, as delivered to subscribers and carried between replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id.
    pub id: Uuid,
    /// The instance that published it (the bridge uses it to skip its own echoes).
    pub origin: String,
    /// What it concerns, e.g. `project:<id>`; subscribers filter on it.
    pub topic: String,
    /// What happened, e.g. `job.progress`.
    pub kind: String,
    /// Event-specific data.
    pub payload: serde_json::Value,
    /// Per-origin sequence number, increasing.
    pub sequence: i64,
}

/// What a subscriber gets from [`Subscription::recv`].
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The next event.
    Event(Arc<Event>),
    /// The subscriber fell behind and this many events were skipped; the next call resumes at
    /// the oldest event still held.
    Lagged(u64),
    /// The hub is shutting down.
    Closed,
}

/// The hub. Share it behind an `Arc`.
#[derive(Debug)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<Event>>,
    instance_id: String,
    sequence: AtomicI64,
    outbound: OnceLock<mpsc::Sender<Arc<Event>>>,
    shutdown: CancellationToken,
}

impl EventHub {
    /// A hub for this instance holding `capacity` events for slow subscribers.
    pub fn new(instance_id: impl Into<String>, capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender,
            instance_id: instance_id.into(),
            sequence: AtomicI64::new(0),
            outbound: OnceLock::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// This hub's instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Publishes an event to local subscribers and, when a bridge is attached, to other
    /// replicas. Never blocks: a full bridge queue drops the remote copy and counts it.
    pub fn publish(
        &self,
        topic: impl Into<String>,
        kind: impl Into<String>,
        payload: serde_json::Value,
    ) -> Arc<Event> {
        let event = Arc::new(Event {
            id: Uuid::new_v4(),
            origin: self.instance_id.clone(),
            topic: topic.into(),
            kind: kind.into(),
            payload,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        });
        // An error only means nobody is subscribed right now.
        let _ = self.sender.send(Arc::clone(&event));
        metrics::counter!("recon_realtime_events_published_total").increment(1);
        if let Some(outbound) = self.outbound.get()
            && outbound.try_send(Arc::clone(&event)).is_err()
        {
            metrics::counter!("recon_realtime_bridge_dropped_total").increment(1);
        }
        event
    }

    /// Delivers an event that arrived from another replica to local subscribers only.
    pub fn deliver_remote(&self, event: Event) {
        if event.origin == self.instance_id {
            return;
        }
        let _ = self.sender.send(Arc::new(event));
    }

    /// A new subscription, starting with the next event published.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
            shutdown: self.shutdown.clone(),
        }
    }

    /// Subscribers now.
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Ends every subscription ([`Received::Closed`]).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    pub(crate) fn attach_outbound(&self, outbound: mpsc::Sender<Arc<Event>>) -> bool {
        self.outbound.set(outbound).is_ok()
    }
}

/// A subscriber's handle on the hub.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Event>>,
    shutdown: CancellationToken,
}

impl Subscription {
    /// The next event, a lag notice, or `Closed` at shutdown.
    pub async fn recv(&mut self) -> Received {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Received::Closed,
            received = self.receiver.recv() => match received {
                Ok(event) => Received::Event(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    metrics::counter!("recon_realtime_lagged_events_total").increment(missed);
                    Received::Lagged(missed)
                }
                Err(broadcast::error::RecvError::Closed) => Received::Closed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_receives_each_event_in_order() {
        let hub = EventHub::new("a", 16);
        let mut first = hub.subscribe();
        let mut second = hub.subscribe();
        hub.publish("project:1", "job.progress", serde_json::json!({"done": 1}));
        hub.publish("project:1", "job.progress", serde_json::json!({"done": 2}));
        for subscription in [&mut first, &mut second] {
            for expected in [1, 2] {
                match subscription.recv().await {
                    Received::Event(event) => {
                        assert_eq!(event.payload["done"], expected);
                        assert_eq!(event.sequence, expected);
                    }
                    other => panic!("expected an event, got {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_continues() {
        let hub = EventHub::new("a", 4);
        let mut slow = hub.subscribe();
        for done in 0..10 {
            hub.publish("t", "k", serde_json::json!({ "done": done }));
        }
        assert_eq!(slow.recv().await, Received::Lagged(6));
        match slow.recv().await {
            Received::Event(event) => assert_eq!(event.payload["done"], 6),
            other => panic!("expected the oldest retained event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn shutdown_closes_subscriptions() {
        let hub = EventHub::new("a", 4);
        let mut subscription = hub.subscribe();
        hub.shutdown();
        assert_eq!(subscription.recv().await, Received::Closed);
    }

    #[tokio::test]
    async fn remote_events_from_this_instance_are_not_delivered_twice() {
        let hub = EventHub::new("a", 4);
        let mut subscription = hub.subscribe();
        let echo = (*hub.publish("t", "k", serde_json::json!(1))).clone();
        hub.deliver_remote(echo);
        hub.deliver_remote(Event {
            origin: "b".into(),
            ..(*hub.publish("t", "k", serde_json::json!(2))).clone()
        });
        let mut seen = Vec::new();
        for _ in 0..3 {
            if let Received::Event(event) = subscription.recv().await {
                seen.push((event.origin.clone(), event.payload.clone()));
            }
        }
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), serde_json::json!(1)),
                ("a".to_owned(), serde_json::json!(2)),
                ("b".to_owned(), serde_json::json!(2)),
            ]
        );
    }
}
