//! The caller's address, for throttling and the audit trail.
//!
//! It is the TCP peer's address, unless that peer is one of the configured trusted proxies
//! (`RECON_TRUSTED_PROXIES`): then `X-Forwarded-For` is read from the right, skipping trusted
//! proxies, and the first address that is not one is the client. Without trusted proxies the
//! header is ignored entirely, so no client can choose the address it is throttled under.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The caller's address, when known (in-process test calls have no peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// The address as text, for storage.
    pub fn text(&self) -> Option<String> {
        self.0.map(|address| address.to_string())
    }
}

/// The client's address from the peer and the headers, trusting `trusted` proxies only.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|address| !is_trusted(address))
        .or(forwarded.first())
        .copied()
        .or(Some(peer))
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(resolve(
            peer,
            &parts.headers,
            &state.auth.settings.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", forwarded.parse().expect("header"));
        headers
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let peer: IpAddr = "203.0.113.9".parse().expect("ip");
        let spoofed = headers("198.51.100.1");
        assert_eq!(resolve(Some(peer), &spoofed, &[]), Some(peer));
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        // The client put a fake address first; the proxies appended the real one.
        let chain = headers("198.51.100.1, 192.0.2.7, 10.0.0.5");
        assert_eq!(
            resolve(Some(proxy), &chain, &trusted),
            Some("192.0.2.7".parse().expect("ip"))
        );
        assert_eq!(
            resolve(Some(proxy), &HeaderMap::new(), &trusted),
            Some(proxy)
        );
    }
}
