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
    static REQUEST_ID: HeaderValue;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID
        .try_with(|id| id.to_str().unwrap_or_default().to_owned())
        .ok()
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
        "HTTP request latency, by method, matched route and status."
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

/// The middleware as a tower layer: request id, span, log line and metrics for every request.
/// Written by hand rather than with `axum::middleware::from_fn`, which boxes a cloned inner
/// service per request; on the probe path that overhead was measurable (docs/benchmarks.md).
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// The service [`ObserveLayer`] wraps around each route.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was made ready is the one to call; keep a fresh clone for next time.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(observe(request, inner))
    }
}

fn new_request_id() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

async fn observe<S>(request: Request, mut inner: S) -> Result<Response, std::convert::Infallible>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    let started = Instant::now();
    let request_id = match request.headers().get(&REQUEST_ID_HEADER) {
        Some(given) if valid_request_id(given).is_some() => given.clone(),
        _ => new_request_id(),
    };
    let method = method_label(request.method());
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| Arc::from("unmatched"), |path| route_name(path.as_str()));
    let is_probe = route.starts_with("/api/health") || &*route == "/metrics";
    let id_text = request_id.to_str().unwrap_or_default();
    let span = if is_probe {
        tracing::debug_span!("request", method, route = %route, request_id = %id_text, status = tracing::field::Empty)
    } else {
        tracing::info_span!("request", method, route = %route, request_id = %id_text, status = tracing::field::Empty)
    };

    let Ok(mut response) = REQUEST_ID
        .scope(
            request_id.clone(),
            inner.call(request).instrument(span.clone()),
        )
        .await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if !span.is_disabled() {
        span.record("status", status);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if is_probe {
            tracing::debug!(parent: &span, status, latency_ms, "request completed");
        } else if status >= 500 {
            tracing::warn!(parent: &span, status, latency_ms, "request failed");
        } else {
            tracing::info!(parent: &span, status, latency_ms, "request completed");
        }
    }
    record_metrics(&route, method, status, elapsed.as_secs_f64());
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID_HEADER.clone(), request_id);
    crate::headers::stamp(headers);
    Ok(response)
}

/// Per-route metric handles, cached per worker thread: the metrics registry otherwise hashes
/// and allocates the label set on every request. The cache holds one entry per (route,
/// method, status) actually seen, which the matched-route labelling keeps small.
#[derive(Default)]
struct RouteHandles {
    counters: Vec<(&'static str, u16, metrics::Counter)>,
    histograms: Vec<(&'static str, u16, metrics::Histogram)>,
}

thread_local! {
    static HANDLES: std::cell::RefCell<std::collections::HashMap<Arc<str>, RouteHandles>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static ROUTE_NAMES: std::cell::RefCell<std::collections::HashMap<String, Arc<str>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// An interned `Arc<str>` for a matched route, so labelling allocates once per route.
fn route_name(path: &str) -> Arc<str> {
    ROUTE_NAMES.with_borrow_mut(|names| match names.get(path) {
        Some(name) => Arc::clone(name),
        None => {
            let name: Arc<str> = Arc::from(path);
            names.insert(path.to_owned(), Arc::clone(&name));
            name
        }
    })
}

fn record_metrics(route: &Arc<str>, method: &'static str, status: u16, seconds: f64) {
    HANDLES.with_borrow_mut(|handles| {
        let entry = handles.entry(Arc::clone(route)).or_default();
        let counter = match entry.counters.iter().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, counter)) => counter,
            None => {
                let counter = metrics::counter!("recon_http_requests_total", "method" => method, "route" => route.to_string(), "status" => status_label(status));
                entry.counters.push((method, status, counter));
                &entry.counters[entry.counters.len() - 1].2
            }
        };
        counter.increment(1);
        let histogram = match entry.histograms.iter().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, histogram)) => histogram,
            None => {
                let histogram = metrics::histogram!(
                    "recon_http_request_duration_seconds",
                    "method" => method,
                    "route" => route.to_string(),
                    "status" => status_label(status)
                );
                entry.histograms.push((method, status, histogram));
                &entry.histograms[entry.histograms.len() - 1].2
            }
        };
        histogram.record(seconds);
    });
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
