//! Helpers for Recon's test suites. Never a dependency of production code.
//!
//! The rule for real services: a suite runs against PostgreSQL and Redis when they answer on
//! their default local ports (or `RECON_TEST_POSTGRES_URL` / `RECON_TEST_REDIS_URL`). When one
//! does not answer, the test says so on stderr and returns early — except under `CI=true`,
//! where a missing service is a failure, so CI can never go green without them.

pub mod backends;
pub mod http;
pub mod postgres;
pub mod proxy;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Whether this run is CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

fn reachable(host_port: &str) -> bool {
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address: SocketAddr| {
            TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
        })
}

fn host_port_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let after_user = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    after_user
        .split(['/', '?'])
        .next()
        .unwrap_or(after_user)
        .to_owned()
}

fn service(variable: &str, default: &str, name: &str) -> Option<String> {
    let url = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    if reachable(&host_port_of(&url)) {
        return Some(url);
    }
    assert!(
        !in_ci(),
        "{name} does not answer at {url}, and CI=true requires it; start it (see README.md) or set {variable}"
    );
    eprintln!(
        "note: {name} does not answer at {url}; this {name} test is skipped (CI=true would fail)"
    );
    None
}

/// The PostgreSQL admin URL when a server answers; see the module doc for the CI rule.
pub fn postgres_admin_url() -> Option<String> {
    service(
        "RECON_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
        "PostgreSQL",
    )
}

/// The Redis URL when a server answers; see the module doc for the CI rule.
pub fn redis_url() -> Option<String> {
    service("RECON_TEST_REDIS_URL", "redis://127.0.0.1:6379", "Redis")
}

/// A local port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}
