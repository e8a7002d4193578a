//! Stop signals. The first SIGTERM or SIGINT starts a graceful shutdown; a second one, while
//! that shutdown runs, ends the process at once. Both are logged with the signal's name.

use std::sync::{Arc, OnceLock};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Fires on the first stop signal and remembers which one it was.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    token: CancellationToken,
    name: Arc<OnceLock<&'static str>>,
}

impl StopSignal {
    /// Starts listening for SIGTERM and SIGINT.
    pub fn listen() -> std::io::Result<Self> {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let stop = Self::default();
        let listener = stop.clone();
        tokio::spawn(async move {
            let first = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            let _ = listener.name.set(first);
            tracing::info!(
                signal = first,
                "received {first}; shutting down gracefully (send it again to exit at once)"
            );
            listener.token.cancel();
            let second = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::warn!(
                signal = second,
                "received {second} during shutdown; exiting immediately"
            );
            std::process::exit(crate::ExitReason::Forced.code());
        });
        Ok(stop)
    }

    /// Resolves once a stop signal has arrived.
    pub async fn received(&self) {
        self.token.cancelled().await;
    }

    /// Whether one has arrived.
    pub fn is_received(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The signal's name, once one arrived.
    pub fn name(&self) -> &'static str {
        self.name.get().copied().unwrap_or("none")
    }
}
