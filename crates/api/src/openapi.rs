//! The OpenAPI 3.1 document, generated from the code: every operation is a handler annotated
//! with `#[utoipa::path]` and registered through `utoipa_axum`'s `routes!`, which adds it to
//! the router and to the document in one step, so neither can list a route the other lacks
//! (`tests/openapi.rs` checks both directions against the running router).
//!
//! One pass over the generated document then applies the error policy to every operation at
//! once, instead of repeating it on each handler: problem bodies are documented with their real
//! content type `application/problem+json`; every operation that needs a signed-in caller
//! documents 401; and every operation has a `default` response in the problem shape, since any
//! route can also answer 400/413/415/422 for a body it cannot read, 429, or 503 when the
//! database is away.

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
        match serde_json::to_value(&document) {
            Ok(mut value) => {
                apply_error_policy(&mut value);
                value.to_string()
            }
            Err(error) => {
                tracing::error!(%error, "the OpenAPI document does not serialize");
                String::from("{}")
            }
        }
    })
}

const PROBLEM_REF: &str = "#/components/schemas/Problem";

fn problem_response(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": { "application/problem+json": { "schema": { "$ref": PROBLEM_REF } } }
    })
}

/// See the module doc.
fn apply_error_policy(document: &mut serde_json::Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let public = operation["x-recon-access"] == "public";
            let Some(responses) = operation["responses"].as_object_mut() else {
                continue;
            };
            for response in responses.values_mut() {
                // `get_mut`, not indexing: indexing a missing key would insert a null.
                let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut())
                else {
                    continue;
                };
                let is_problem = content
                    .get("application/json")
                    .is_some_and(|json| json["schema"]["$ref"] == PROBLEM_REF);
                if let Some(json) = is_problem
                    .then(|| content.remove("application/json"))
                    .flatten()
                {
                    content.insert("application/problem+json".to_owned(), json);
                }
            }
            if !public && !responses.contains_key("401") {
                responses.insert(
                    "401".to_owned(),
                    problem_response("Not signed in, or the token is invalid, expired or revoked"),
                );
            }
            responses
                .entry("default")
                .or_insert_with(|| problem_response("Any other error, in the problem shape"));
        }
    }
}
