//! Response headers every answer carries, and CORS.
//!
//! Security headers (OWASP ASVS 5.0 §3.4), stamped by [`stamp`] on every response: `X-Content-Type-Options: nosniff`, a
//! `Content-Security-Policy` that allows nothing (this is a JSON API: no page of it should ever
//! render or be framed), `X-Frame-Options: DENY` for older browsers, `Referrer-Policy:
//! no-referrer`, `Cache-Control: no-store` unless a handler set one (financial data must not sit
//! in shared caches), and `Strict-Transport-Security` for one year when `RECON_HSTS=true` (set
//! it when clients reach the service over HTTPS, directly or through a TLS-terminating proxy).
//!
//! CORS is off unless `RECON_CORS_ORIGINS` lists origins: then exactly those origins may call
//! the API from a browser, with credentials (cookie mode), the methods the API uses, and the
//! headers it reads (`Authorization`, `Content-Type`, `X-CSRF-Token`, `X-Request-Id`).

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// How the HTTP surface presents itself to browsers.
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    /// Origins allowed to call the API from a browser (empty: CORS off).
    pub cors_origins: Vec<HeaderValue>,
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
}

/// The content security policy of every response.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// One year, with subdomains (ASVS asks for at least a year).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The headers every response carries, whatever the configuration, unless a handler set its
/// own (`Cache-Control` on token responses, say).
const FIXED: [(HeaderName, HeaderValue); 5] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// Adds the fixed security headers to a response. Called by the outermost layer
/// (`observability::ObserveLayer`) in the pass that sets `X-Request-Id`: as five separate
/// tower layers they cost a tenth of the throughput of the cheapest route.
pub fn stamp(headers: &mut HeaderMap) {
    for (name, value) in FIXED {
        headers.entry(name).or_insert(value);
    }
}

/// Wraps `router` in the configured parts: HSTS and CORS.
pub fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    policy: &HttpPolicy,
) -> Router<S> {
    let mut router = router;
    if policy.hsts {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ));
    }
    if !policy.cors_origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(policy.cors_origins.clone()))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-csrf-token"),
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
                .max_age(Duration::from_secs(600)),
        );
    }
    router
}
