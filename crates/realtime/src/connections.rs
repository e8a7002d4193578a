//! Tracking of long-lived connections so that shutdown can close them.
//!
//! `axum::serve(..).with_graceful_shutdown` stops waiting for a connection once it is upgraded
//! to a WebSocket (tokio-rs/axum#3003), so without this a socket would either hold the process
//! past its grace period or be cut without a close frame. Every socket task runs through
//! [`ConnectionTracker::spawn`], receives a child cancellation token, and is expected to send
//! Close 1001 ("going away") when the token fires. [`ConnectionTracker::shutdown`] fires the
//! tokens and waits, bounded in time, for the tasks to finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The WebSocket close code sent at shutdown: 1001, "going away".
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Tracks long-lived connection tasks.
#[derive(Debug, Clone, Default)]
pub struct ConnectionTracker {
    tasks: TaskTracker,
    shutdown: CancellationToken,
    active: Arc<AtomicUsize>,
}

struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let now = self.0.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("recon_websocket_connections").set(now as f64);
    }
}

impl ConnectionTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        metrics::gauge!("recon_websocket_connections").set(0.0);
        Self::default()
    }

    /// Spawns a connection task. `connection` receives a token that fires at shutdown; it
    /// should then close its peer with [`CLOSE_GOING_AWAY`] and return.
    pub fn spawn<F, Fut>(&self, connection: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let now = self.active.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::gauge!("recon_websocket_connections").set(now as f64);
        let guard = ActiveGuard(Arc::clone(&self.active));
        let task = connection(self.shutdown.child_token());
        self.tasks.spawn(async move {
            let _guard = guard;
            task.await;
        });
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Whether shutdown has begun (new connections should be refused).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Tells every connection to close and waits up to `deadline` for them. Returns how many
    /// were still open when the deadline passed (they are dropped with the runtime).
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            return self.active();
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn shutdown_signals_every_connection_and_waits_for_it() {
        let tracker = ConnectionTracker::new();
        let (closed_with, mut closes) = mpsc::unbounded_channel();
        for _ in 0..100 {
            let closed_with = closed_with.clone();
            tracker.spawn(move |token| async move {
                token.cancelled().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = closed_with.send(CLOSE_GOING_AWAY);
            });
        }
        assert_eq!(tracker.active(), 100);
        assert_eq!(tracker.shutdown(Duration::from_secs(5)).await, 0);
        assert_eq!(tracker.active(), 0);
        drop(closed_with);
        let mut codes = Vec::new();
        while let Some(code) = closes.recv().await {
            codes.push(code);
        }
        assert_eq!(codes, vec![CLOSE_GOING_AWAY; 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_ignores_shutdown_does_not_hold_it_past_the_deadline() {
        let tracker = ConnectionTracker::new();
        tracker.spawn(|_token| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let still_open = tracker.shutdown(Duration::from_secs(2)).await;
        assert_eq!(still_open, 1);
    }
}
