//! The cross-tenant matrix, generated from the served OpenAPI document so that a new route is
//! covered the day it is added: for every operation, by its declared `x-recon-access`, a member
//! of project A gets 404 on everything of project B, viewers cannot write, only owners manage
//! members, admin routes refuse members, and anonymous callers get 401. Runs on SQLite and
//! PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::{Call, TestApp, settings};
use recon_test_support::backends::on_every_backend;
use serde_json::{Value, json};

struct Operation {
    method: Method,
    path: String,
    access: String,
    body: Option<Value>,
}

/// Every operation with its access level and, for those with a body, the example of the body's
/// schema (each request type carries one).
fn operations(doc: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (name, operation) in item.as_object().expect("item") {
            let Ok(method) = Method::from_bytes(name.to_uppercase().as_bytes()) else {
                continue;
            };
            let body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|reference| {
                    let schema = reference.rsplit('/').next().expect("name");
                    doc["components"]["schemas"][schema]["example"].clone()
                });
            if let Some(example) = &body {
                assert!(
                    !example.is_null(),
                    "{name} {path}: the request schema needs an example"
                );
            }
            all.push(Operation {
                method,
                path: path.clone(),
                access: operation["x-recon-access"]
                    .as_str()
                    .expect("access")
                    .to_owned(),
                body,
            });
        }
    }
    all
}

async fn call(
    app: &TestApp,
    op: &Operation,
    token: Option<&str>,
    project: &str,
    user: &str,
) -> common::Answer {
    let path = op.path.replace("{id}", project).replace("{user_id}", user);
    let mut request = Call::new(op.method.clone(), &path);
    if let Some(token) = token {
        request = request.bearer(token);
    }
    if let Some(body) = &op.body {
        request = request.json(body);
    }
    app.send(request).await
}

#[tokio::test]
async fn the_access_matrix_holds_for_every_documented_operation() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let doc = app
            .send(Call::new(Method::GET, "/api/openapi.json"))
            .await
            .body;
        let operations = operations(&doc);
        let (_, owner_a) = app.member("owner-a@example.com").await;
        let (owner_b_id, owner_b) = app.member("owner-b@example.com").await;
        let (editor_id, editor_b) = app.member("editor-b@example.com").await;
        let (viewer_id, viewer_b) = app.member("viewer-b@example.com").await;
        let project_a = app.project(&owner_a, "A").await;
        let project_b = app.project(&owner_b, "B").await;
        app.add(&owner_b, &project_b, &editor_id, "editor").await;
        app.add(&owner_b, &project_b, &viewer_id, "viewer").await;
        let mut checked = 0;

        for op in &operations {
            let label = format!("{} {}", op.method, op.path);
            match op.access.as_str() {
                "public" => {}
                "authenticated" => {
                    let answer = call(&app, op, None, &project_b, &viewer_id).await;
                    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "anonymous {label}");
                    checked += 1;
                }
                "admin" => {
                    let answer = call(&app, op, Some(&owner_b), &owner_b_id, &viewer_id).await;
                    assert_eq!(
                        (answer.status, answer.code()),
                        (StatusCode::FORBIDDEN, "admin_only"),
                        "member on {label}"
                    );
                    let anonymous = call(&app, op, None, &owner_b_id, &viewer_id).await;
                    assert_eq!(
                        anonymous.status,
                        StatusCode::UNAUTHORIZED,
                        "anonymous {label}"
                    );
                    checked += 2;
                }
                project => {
                    // A member of A sees nothing of B: 404 with no data, whatever the verb.
                    let stranger = call(&app, op, Some(&owner_a), &project_b, &viewer_id).await;
                    assert_eq!(
                        stranger.status,
                        StatusCode::NOT_FOUND,
                        "A's owner on {label}: {}",
                        stranger.body
                    );
                    assert!(
                        !stranger.body.to_string().contains(&project_b)
                            && !stranger.body.to_string().contains("\"B\""),
                        "{label} leaks"
                    );
                    // A project that does not exist answers the same.
                    let missing = call(
                        &app,
                        op,
                        Some(&owner_a),
                        "00000000-0000-0000-0000-000000000000",
                        &viewer_id,
                    )
                    .await;
                    assert_eq!(
                        (missing.status, missing.code()),
                        (stranger.status, stranger.code()),
                        "{label}"
                    );
                    let anonymous = call(&app, op, None, &project_b, &viewer_id).await;
                    assert_eq!(
                        anonymous.status,
                        StatusCode::UNAUTHORIZED,
                        "anonymous {label}"
                    );
                    let role_rank = |role: &str| {
                        ["project:viewer", "project:editor", "project:owner"]
                            .iter()
                            .position(|r| *r == role)
                            .expect("role")
                    };
                    let needed = role_rank(project);
                    for (rank, token, who) in [(0, &viewer_b, "viewer"), (1, &editor_b, "editor")] {
                        if rank < needed {
                            let answer = call(&app, op, Some(token), &project_b, &viewer_id).await;
                            assert_eq!(
                                (answer.status, answer.code()),
                                (StatusCode::FORBIDDEN, "forbidden"),
                                "{who} on {label}: {}",
                                answer.body
                            );
                            checked += 1;
                        } else if op.method == Method::GET {
                            let answer = call(&app, op, Some(token), &project_b, &viewer_id).await;
                            assert_eq!(
                                answer.status,
                                StatusCode::OK,
                                "{who} on {label}: {}",
                                answer.body
                            );
                            checked += 1;
                        }
                    }
                    checked += 3;
                }
            }
        }
        assert!(checked > 40, "only {checked} checks ran");

        // After all that, nothing of B changed: the writes above were all refused.
        let b = app
            .get(&format!("/api/v1/projects/{project_b}"), &owner_b)
            .await;
        assert_eq!(b.body["name"], "B");
        let members = app
            .get(&format!("/api/v1/projects/{project_b}/members"), &owner_b)
            .await;
        assert_eq!(members.body["items"].as_array().expect("items").len(), 3);
        let listed = app.get("/api/v1/projects", &owner_a).await;
        let names: Vec<&str> = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, vec!["A"], "the list holds only A's projects");
        let all = app.get("/api/v1/projects", &app.admin).await;
        assert_eq!(
            all.body["items"].as_array().expect("items").len(),
            2,
            "admins see all"
        );
        let _ = project_a;
    })
    .await;
}

#[tokio::test]
async fn owners_manage_members_and_a_project_keeps_an_owner() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let (owner_id, owner) = app.member("o@example.com").await;
        let (editor_id, editor) = app.member("e@example.com").await;
        let project = app.project(&owner, "P").await;
        app.add(&owner, &project, &editor_id, "editor").await;
        let members = format!("/api/v1/projects/{project}/members");
        let renamed = app
            .patch(
                &format!("/api/v1/projects/{project}"),
                &editor,
                &json!({"name": "P2"}),
            )
            .await;
        assert_eq!(
            (renamed.status, renamed.body["your_role"].as_str()),
            (StatusCode::OK, Some("editor"))
        );
        let last = app.delete(&format!("{members}/{owner_id}"), &owner).await;
        assert_eq!(
            (last.status, last.code()),
            (StatusCode::CONFLICT, "last_owner")
        );
        let twice = app
            .post(
                &members,
                &owner,
                &json!({"user_id": editor_id, "role": "viewer"}),
            )
            .await;
        assert_eq!(twice.code(), "already_member");
        let ghost = app
            .post(
                &members,
                &owner,
                &json!({"user_id": "nobody", "role": "viewer"}),
            )
            .await;
        assert_eq!(ghost.body["errors"][0]["field"], "user_id");
        let promoted = app
            .patch(
                &format!("{members}/{editor_id}"),
                &owner,
                &json!({"role": "owner"}),
            )
            .await;
        assert_eq!(promoted.body["role"], "owner");
        assert_eq!(
            app.delete(&format!("{members}/{owner_id}"), &editor)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.get(&format!("/api/v1/projects/{project}"), &owner)
                .await
                .status,
            StatusCode::NOT_FOUND,
            "removed members lose access at once"
        );
        // Soft delete: gone for everyone, the audit keeps the trail.
        assert_eq!(
            app.delete(&format!("/api/v1/projects/{project}"), &editor)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.get(&format!("/api/v1/projects/{project}"), &app.admin)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let trail = app.get("/api/v1/audit?limit=200", &app.admin).await;
        let actions: Vec<&str> = trail.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["project_id"] == project.as_str())
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        // Newest first; the refused add (already a member) changed nothing and left no entry.
        assert_eq!(
            actions,
            vec![
                "project.deleted",
                "project.member.removed",
                "project.member.updated",
                "project.updated",
                "project.member.added",
                "project.created"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn the_audit_trail_records_actions_and_owners_see_their_projects_part() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let (_, owner) = app.member("aud-owner@example.com").await;
        let (viewer_id, viewer) = app.member("aud-viewer@example.com").await;
        let mine = app.project(&owner, "Mine").await;
        let _other = app.project(&app.admin, "Other").await;
        app.add(&owner, &mine, &viewer_id, "viewer").await;
        let failed = app
            .login_answer("aud-owner@example.com", "wrong wrong wrong")
            .await;
        assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
        let long = format!("{}@example.com", "x".repeat(5000));
        let failed_long = app.login_answer(&long, "whatever").await;
        assert_eq!(failed_long.status, StatusCode::UNAUTHORIZED);

        let all = app.get("/api/v1/audit?limit=200", &app.admin).await;
        let entries = all.body["items"].as_array().expect("items");
        for action in [
            "user.bootstrap",
            "user.created",
            "auth.login.succeeded",
            "auth.login.failed",
            "project.created",
            "project.member.added",
        ] {
            assert!(
                entries.iter().any(|e| e["action"] == action),
                "{action} missing"
            );
        }
        let failure = entries
            .iter()
            .find(|e| e["action"] == "auth.login.failed")
            .expect("failure");
        assert_eq!(failure["client_address"], "192.0.2.10");
        let longest = entries
            .iter()
            .filter(|e| e["action"] == "auth.login.failed")
            .filter_map(|e| e["details"]["email"].as_str())
            .map(|email| email.chars().count())
            .max();
        assert_eq!(
            longest,
            Some(254),
            "attacker-chosen emails are cut to 254 characters"
        );
        assert!(
            failure["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        assert!(
            !all.body.to_string().contains("wrong wrong wrong"),
            "passwords never reach the trail"
        );
        let seqs: Vec<i64> = entries
            .iter()
            .map(|e| e["seq"].as_i64().expect("seq"))
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] == w[1] + 1),
            "newest first, no gaps: {seqs:?}"
        );

        let page = app.get("/api/v1/audit?limit=2", &app.admin).await;
        let before = page.body["next_before"].as_i64().expect("more pages");
        let next = app
            .get(
                &format!("/api/v1/audit?limit=2&before={before}"),
                &app.admin,
            )
            .await;
        assert_eq!(next.body["items"][0]["seq"].as_i64(), Some(before - 1));

        let project_trail = app
            .get(&format!("/api/v1/projects/{mine}/audit"), &owner)
            .await;
        assert_eq!(project_trail.status, StatusCode::OK);
        let items = project_trail.body["items"].as_array().expect("items");
        assert!(!items.is_empty() && items.iter().all(|e| e["project_id"] == mine.as_str()));
        assert_eq!(
            app.get(&format!("/api/v1/projects/{mine}/audit"), &viewer)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.get("/api/v1/audit", &owner).await.code(), "admin_only");
    })
    .await;
}
