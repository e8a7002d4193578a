//! Request observability: the request id, the per-request span and log line, the HTTP metrics,
//! and the Prometheus recorder with its bucket layout.
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is a sane token (1–128 of
//! `A-Z a-z 0-9 - _ . :`), a new UUID otherwise; it is echoed in the response header, carried
//! by the span, and put into error bodies. Spans and metrics are labelled with the *matched
//! route* (`/api/v1/projects/{id}`), never the raw path, so label cardinality stays bounded.
//! Probe and scrape routes (`/api/health/*`, `/metrics`) are traced at DEBUG rather than INFO:
//! orchestrators call them every few seconds and they would drown the log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use tracing::Instrument;

/// The request-id header, read and written.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Latency buckets (seconds) for `recon_http_request_duration_seconds`.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.to_string()).ok()
}

/// A Prometheus recorder configured with Recon's histogram buckets. The binary installs it
/// globally once and runs its upkeep; tests may use it locally.
pub fn build_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("recon_http_request_duration_seconds".to_owned()),
            LATENCY_BUCKETS,
        )
        .expect("the bucket list is a non-empty constant")
        .build_recorder()
}

/// Registers descriptions for the metrics this crate emits, so `/metrics` carries HELP lines.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "recon_http_requests_total",
        "HTTP requests answered, by method, matched route and status."
    );
    metrics::describe_histogram!(
        "recon_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency, by method and matched route."
    );
    metrics::describe_gauge!(
        "recon_db_pool_connections",
        "Database pool connections, by state (open, idle, max)."
    );
    metrics::describe_gauge!("recon_db_up", "1 when the last database check succeeded.");
    metrics::describe_gauge!(
        "recon_redis_up",
        "1 when Redis answered the last probe; 0 while degraded on in-memory fallbacks."
    );
    metrics::describe_counter!(
        "recon_redis_transitions_total",
        "Redis up/down transitions."
    );
    metrics::describe_counter!("recon_cache_hits_total", "Cache hits, by backend.");
    metrics::describe_counter!("recon_cache_misses_total", "Cache misses, by backend.");
    metrics::describe_gauge!("recon_websocket_connections", "Open WebSocket connections.");
    metrics::describe_gauge!(
        "recon_build_info",
        "Always 1; labels carry the version and commit."
    );
    metrics::describe_gauge!(
        "recon_uptime_seconds",
        metrics::Unit::Seconds,
        "Seconds since the process started serving."
    );
    metrics::describe_gauge!(
        "recon_ready",
        "1 when the instance is ready to serve traffic."
    );
}

fn valid_request_id(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let sane = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    sane.then_some(text)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The middleware: request id, span, log line and metrics for every request.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id: Arc<str> = match request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(valid_request_id)
    {
        Some(id) => Arc::from(id),
        None => Arc::from(uuid::Uuid::new_v4().to_string()),
    };
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let is_probe = route.starts_with("/api/health") || route == "/metrics";
    let span = if is_probe {
        tracing::debug_span!("request", method, route = %route, request_id = %request_id, status = tracing::field::Empty)
    } else {
        tracing::info_span!("request", method, route = %route, request_id = %request_id, status = tracing::field::Empty)
    };

    let mut response = REQUEST_ID
        .scope(
            Arc::clone(&request_id),
            next.run(request).instrument(span.clone()),
        )
        .await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("status", status);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if is_probe {
        tracing::debug!(parent: &span, status, latency_ms, "request completed");
    } else if status >= 500 {
        tracing::warn!(parent: &span, status, latency_ms, "request failed");
    } else {
        tracing::info!(parent: &span, status, latency_ms, "request completed");
    }
    metrics::counter!("recon_http_requests_total", "method" => method, "route" => route.clone(), "status" => status_label(status)).increment(1);
    metrics::histogram!("recon_http_request_duration_seconds", "method" => method, "route" => route).record(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}

fn status_label(status: u16) -> metrics::SharedString {
    match status {
        200 => "200".into(),
        201 => "201".into(),
        204 => "204".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        500 => "500".into(),
        503 => "503".into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_callers_are_accepted_only_when_sane() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(valid_request_id(&ok), Some("abc-123_x.y:z"));
        for bad in ["", "has space", "semi;colon", &"x".repeat(129)] {
            let value = HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static(""));
            assert_eq!(valid_request_id(&value), None, "{bad:?} should be refused");
        }
    }
}
