//! Security headers on every kind of response, HSTS only when configured, and CORS only for
//! the configured origins.

mod common;

use axum::http::{HeaderValue, Method, StatusCode, header};
use common::{Call, TestApp, settings};
use recon_api::headers::HttpPolicy;

async fn serve(policy: HttpPolicy) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    (TestApp::start_with(&url, settings(), policy).await, dir)
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (app, _dir) = serve(HttpPolicy::default()).await;
    let calls = [
        Call::new(Method::GET, "/api/health/live"),
        Call::new(Method::GET, "/api/v1/auth/me"),
        Call::new(Method::GET, "/no/such/path"),
        Call::new(Method::GET, "/api/v1/projects").bearer(&app.admin),
        Call::new(Method::PUT, "/api/v1/projects"),
    ];
    for call in calls {
        let answer = app.send(call).await;
        let h = &answer.headers;
        assert_eq!(
            h[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{}",
            answer.status
        );
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert!(
            !h.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "no HSTS unless configured"
        );
        assert!(
            !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "no CORS unless configured"
        );
    }
    let (hsts, _dir) = serve(HttpPolicy {
        hsts: true,
        ..HttpPolicy::default()
    })
    .await;
    let answer = hsts.send(Call::new(Method::GET, "/api/health/live")).await;
    assert_eq!(
        answer.headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains"
    );
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let allowed = "https://recon.example.com";
    let (app, _dir) = serve(HttpPolicy {
        cors_origins: vec![HeaderValue::from_static(allowed)],
        hsts: false,
    })
    .await;
    let preflight = |origin: &str| {
        Call::new(Method::OPTIONS, "/api/v1/projects")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
    };
    let ok = app.send(preflight(allowed)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
    assert_eq!(ok.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let allowed_headers = ok.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .expect("ascii");
    assert!(
        allowed_headers.contains("x-csrf-token"),
        "{allowed_headers}"
    );
    let evil = app.send(preflight("https://evil.example.net")).await;
    assert!(
        !evil
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    let simple = app
        .send(
            Call::new(Method::GET, "/api/v1/projects")
                .bearer(&app.admin)
                .header("origin", allowed),
        )
        .await;
    assert_eq!(simple.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], allowed);
    let exposed = simple.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .expect("ascii");
    assert!(exposed.contains("x-request-id"), "{exposed}");
}
