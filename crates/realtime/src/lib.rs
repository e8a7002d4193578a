//! Recon's realtime layer: an in-process event hub built on `tokio::sync::broadcast`, the
//! tracker that lets shutdown close long-lived (WebSocket) connections with code 1001, and the
//! Redis pub/sub bridge that fans events out across replicas.
//!
//! No actors and no `LocalSet`: everything here is a plain tokio task on the one multi-threaded
//! runtime, so nothing can panic with "spawn_local called from outside of a task::LocalSet".

pub mod bridge;
pub mod connections;
pub mod hub;

pub use bridge::RedisBridge;
pub use connections::ConnectionTracker;
pub use hub::{Event, EventHub, Received, Subscription};
