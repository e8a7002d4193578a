//! Recon's HTTP surface: the axum router, its middleware, the health and metrics endpoints,
//! authentication and access control ([`auth`]), the v1 JSON API ([`v1`]), its OpenAPI document
//! ([`openapi`]) and the one error shape every route answers with ([`errors`]).
//!
//! [`router`] is the seam: the binary serves it, tests call it with `oneshot` or bind port 0.
//! Nothing in this crate reads the environment or opens sockets on its own.

pub mod auth;
mod diagnostics;
pub mod errors;
pub mod headers;
pub mod health;
pub mod input;
pub mod observability;
pub mod openapi;
mod routes;
pub mod state;
pub mod v1;

pub use routes::{HEALTH_PATH, LIVE_PATH, METRICS_PATH, READY_PATH, api_routes, router};
pub use state::{App, AppState, BuildInfo};
