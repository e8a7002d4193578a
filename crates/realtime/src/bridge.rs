//! The Redis pub/sub bridge: carries events published in this replica to every other replica.
//!
//! Outbound, events published on the local [`EventHub`] go through a bounded queue to one
//! multiplexed Redis connection and `PUBLISH`. Inbound, a dedicated pub/sub connection (pub/sub
//! cannot share a pooled connection) `SUBSCRIBE`s to the channel and delivers what other
//! replicas sent; the hub drops our own echoes by origin. Both sides reconnect on their own
//! with capped exponential backoff, so the bridge survives Redis restarts. While Redis is down
//! local delivery is unaffected, events to other replicas are dropped and counted
//! (`recon_realtime_bridge_dropped_total`), and the fallback is "one replica, in memory".

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::hub::{Event, EventHub};

/// Queue between the hub and the publisher; when full, remote copies are dropped.
const OUTBOUND_QUEUE: usize = 1024;

/// How the bridge reaches Redis.
#[derive(Debug, Clone)]
pub struct BridgeSettings {
    /// `redis://` URL.
    pub url: String,
    /// Pub/sub channel; replicas of one deployment share it.
    pub channel: String,
    /// Deadline for connecting and for each publish.
    pub op_timeout: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

/// Handles on the bridge's two tasks.
#[derive(Debug)]
pub struct RedisBridge {
    /// The task publishing local events.
    pub publisher: JoinHandle<()>,
    /// The task receiving remote events.
    pub subscriber: JoinHandle<()>,
}

impl RedisBridge {
    /// Attaches a bridge to `hub` and starts it; it runs until `shutdown` fires. Fails if the
    /// URL is malformed or the hub already has a bridge.
    pub fn start(
        hub: Arc<EventHub>,
        settings: BridgeSettings,
        shutdown: CancellationToken,
    ) -> Result<Self, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|error| format!("invalid redis URL: {error}"))?;
        let (outbound, queue) = mpsc::channel(OUTBOUND_QUEUE);
        if !hub.attach_outbound(outbound) {
            return Err("this hub already has a bridge".to_owned());
        }
        let publisher = tokio::spawn(publish_loop(
            client.clone(),
            settings.clone(),
            queue,
            shutdown.clone(),
        ));
        let subscriber = tokio::spawn(subscribe_loop(client, settings, hub, shutdown));
        Ok(Self {
            publisher,
            subscriber,
        })
    }
}

async fn publish_loop(
    client: redis::Client,
    settings: BridgeSettings,
    mut queue: mpsc::Receiver<Arc<Event>>,
    shutdown: CancellationToken,
) {
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = queue.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let Ok(body) = serde_json::to_string(&*event) else {
            continue;
        };
        if connection.is_none() {
            connection = tokio::time::timeout(
                settings.op_timeout,
                client.get_multiplexed_async_connection(),
            )
            .await
            .ok()
            .and_then(Result::ok);
        }
        let sent = match connection.as_mut() {
            Some(live) => matches!(
                tokio::time::timeout(
                    settings.op_timeout,
                    live.publish::<_, _, i64>(&settings.channel, body),
                )
                .await,
                Ok(Ok(_))
            ),
            None => false,
        };
        if !sent {
            connection = None;
            metrics::counter!("recon_realtime_bridge_dropped_total").increment(1);
        }
    }
}

async fn subscribe_loop(
    client: redis::Client,
    settings: BridgeSettings,
    hub: Arc<EventHub>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = tokio::time::timeout(settings.op_timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&settings.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(100);
                tracing::debug!(channel = %settings.channel, "event bridge subscribed");
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        message = messages.next() => match message {
                            Some(message) => {
                                match serde_json::from_slice::<Event>(message.get_payload_bytes()) {
                                    Ok(event) => hub.deliver_remote(event),
                                    Err(error) => tracing::warn!(%error, "ignoring a malformed event from redis"),
                                }
                            }
                            None => break,
                        },
                    }
                }
                tracing::debug!("event bridge lost its redis subscription; reconnecting");
            }
            Ok(Err(error)) => tracing::debug!(%error, "event bridge could not subscribe"),
            Err(_) => tracing::debug!("event bridge timed out connecting to redis"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}
