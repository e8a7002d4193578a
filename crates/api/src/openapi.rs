//! The OpenAPI 3.1 document, generated from the code: every operation is a handler annotated
//! with `#[utoipa::path]` and registered through `utoipa_axum`'s `routes!`, which adds it to
//! the router and to the document in one step, so neither can list a route the other lacks
//! (`tests/openapi.rs` checks both directions against the running router).

use std::sync::OnceLock;

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::auth::cookies::ACCESS_COOKIE;

/// Served at this path.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Recon API",
        description = "Reconcile two datasets, explain every match, review the rest. Every error is a problem document `{status, code, message, request_id, errors?}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("cookie" = [])),
    tags(
        (name = "auth", description = "Sign-in, tokens and the current account"),
        (name = "users", description = "Account management (admins)"),
        (name = "projects", description = "Projects, scoped by membership"),
        (name = "members", description = "Project members (owners manage them)"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "health", description = "Probes and the dependency report"),
        (name = "meta", description = "Metrics and this document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from /api/v1/auth/login or /api/v1/auth/refresh",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                ACCESS_COOKIE,
                "Cookie mode (browsers): state-changing requests must also send X-CSRF-Token",
            ))),
        );
    }
}

/// The document as served, built once per shape of the router.
pub fn document_json(debug_routes: bool) -> &'static str {
    static PLAIN: OnceLock<String> = OnceLock::new();
    static WITH_DEBUG: OnceLock<String> = OnceLock::new();
    let cell = if debug_routes { &WITH_DEBUG } else { &PLAIN };
    cell.get_or_init(|| {
        let (_, document) = crate::routes::api_routes(debug_routes).split_for_parts();
        document.to_json().unwrap_or_else(|error| {
            tracing::error!(%error, "the OpenAPI document does not serialize");
            String::from("{}")
        })
    })
}
