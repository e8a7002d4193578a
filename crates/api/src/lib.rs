//! Recon's HTTP surface: the axum router, its middleware, the health and metrics endpoints and
//! the one error shape every route answers with.
//!
//! [`router`] is the seam: the binary serves it, tests call it with `oneshot` or bind port 0.
//! Nothing in this crate reads the environment or opens sockets on its own.

mod diagnostics;
pub mod errors;
pub mod health;
pub mod observability;
mod routes;
pub mod state;

pub use routes::{HEALTH_PATH, LIVE_PATH, METRICS_PATH, READY_PATH, router};
pub use state::{App, AppState, BuildInfo};
