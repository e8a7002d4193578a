//! The OpenAPI document against the router it describes: every documented operation is
//! routed, every routed method is documented, every operation declares its access level and
//! its errors, and the document is OpenAPI 3.1.

mod common;

use axum::http::{Method, StatusCode};
use common::{Call, TestApp, settings};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let answer = app.send(Call::new(Method::GET, "/api/openapi.json")).await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

/// An app on a fresh SQLite file and the document it serves.
async fn served_document() -> (TestApp, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("o.db").display());
    let app = TestApp::start(&url, settings()).await;
    let doc = document(&app).await;
    (app, doc, dir)
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-0000-0000-000000000001")
        .replace("{user_id}", "00000000-0000-0000-0000-000000000002")
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_uppercase().as_bytes()).expect("method")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_routed_method_documented() {
    let (app, doc, _dir) = served_document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{} paths", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        for name in METHODS {
            let call = Call::new(method(name), &concrete(path)).bearer(&app.admin);
            let call = if matches!(name, "post" | "patch" | "put") {
                call.json(&serde_json::json!({}))
            } else {
                call
            };
            let answer = app.send(call).await;
            if item.get(name).is_some() {
                operations += 1;
                assert_ne!(
                    answer.code(),
                    "route_not_found",
                    "{name} {path} is documented but not routed"
                );
                assert_ne!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{name} {path} is documented but not routed"
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{name} {path} answers but is not documented"
                );
            }
        }
    }
    assert!(operations >= 25, "{operations} operations");
}

#[test]
fn every_route_goes_through_the_documented_route_table() {
    // Routes registered with plain axum would escape the document; the api crate registers
    // every route through utoipa_axum's `routes!` in routes.rs.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read");
                for (number, line) in text.lines().enumerate() {
                    if line.contains(".route(")
                        || line.contains(".nest(")
                        || line.contains(".route_service(")
                    {
                        offenders.push(format!(
                            "{}:{}: {}",
                            path.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes outside the documented table:\n{}",
        offenders.join("\n")
    );
}

#[tokio::test]
async fn every_operation_declares_its_access_and_documents_its_problems() {
    let (_app, doc, _dir) = served_document().await;
    let known = [
        "public",
        "authenticated",
        "admin",
        "project:viewer",
        "project:editor",
        "project:owner",
    ];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for name in METHODS {
            let Some(operation) = item.get(name) else {
                continue;
            };
            let access = operation["x-recon-access"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} {path} lacks x-recon-access"));
            assert!(known.contains(&access), "{name} {path}: {access}");
            let public = access == "public";
            let security = operation.get("security");
            assert_eq!(
                security.is_some_and(|s| s == &serde_json::json!([{}])),
                public,
                "{name} {path}: public operations and only they declare no security"
            );
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|code| code.starts_with('2') || code == "503"),
                "{name} {path} documents no success"
            );
            if access.starts_with("project:") {
                assert!(
                    responses.contains_key("404"),
                    "{name} {path} must document 404"
                );
            }
            if access == "admin" {
                assert!(
                    responses.contains_key("403"),
                    "{name} {path} must document 403"
                );
            }
        }
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (name, operation) in item.as_object().expect("item") {
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.contains_key("default"),
                "{name} {path}: a default problem response"
            );
            if operation["x-recon-access"] != "public" {
                assert!(
                    responses.contains_key("401"),
                    "{name} {path} must document 401"
                );
            }
            for (status, response) in responses {
                let json = &response["content"]["application/json"]["schema"]["$ref"];
                assert_ne!(
                    json, "#/components/schemas/Problem",
                    "{name} {path} {status}: problems are application/problem+json"
                );
                assert!(
                    response.get("content").is_none_or(|c| c.is_object()),
                    "{name} {path} {status}"
                );
            }
        }
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("schemes");
    assert!(schemes.contains_key("bearer") && schemes.contains_key("cookie"));
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_for_an_independent_validator() {
    let found = std::process::Command::new("openapi-spec-validator")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !recon_test_support::in_ci(),
            "openapi-spec-validator is required under CI=true; `cargo xtask test` installs it"
        );
        eprintln!("note: openapi-spec-validator not found; pip install openapi-spec-validator");
        return;
    }
    let (_app, doc, dir) = served_document().await;
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let output = std::process::Command::new("openapi-spec-validator")
        .arg(&file)
        .output()
        .expect("run the validator");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
