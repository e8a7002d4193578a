//! Accounts, tokens and sessions, on SQLite and on PostgreSQL: forged tokens, refresh rotation
//! and reuse, revocation by logout, password change and disabling, signing-key rotation, cookie
//! mode with CSRF, login throttling and the answers to bad input.

mod common;

use axum::http::{Method, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{ADMIN_EMAIL, Call, JWT_SECRET, PASSWORD, TestApp, settings};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use recon_api::auth::keyring::key_id;
use recon_test_support::backends::on_every_backend;
use serde_json::{Value, json};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json")
}

fn sign(claims: &Value, secret: &[u8], kid: Option<String>, typ: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("encode")
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

#[tokio::test]
async fn forged_and_unusable_tokens_are_all_answered_401() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let (member_id, member) = app.member("forgery@example.com").await;
        let (_, refresh) = app.login_tokens("forgery@example.com", PASSWORD).await;
        assert_eq!(
            app.get("/api/v1/auth/me", &member).await.status,
            StatusCode::OK
        );
        let claims = payload(&member);
        let kid = Some(key_id(JWT_SECRET));
        let typ = "at+jwt";
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
        let body = member.split('.').nth(1).expect("payload").to_owned();
        let tampered_claims = with(&claims, "role", json!("admin"));
        let tampered = {
            let parts: Vec<&str> = member.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(tampered_claims.to_string());
            format!("{}.{forged}.{}", parts[0], parts[2])
        };
        let table: Vec<(&str, String)> = vec![
            ("alg none", format!("{none_header}.{body}.")),
            (
                "HS256 with another key",
                sign(
                    &claims,
                    b"another-key-0123456789abcdef-012345",
                    kid.clone(),
                    typ,
                ),
            ),
            (
                "expired beyond the leeway",
                sign(
                    &with(
                        &with(&claims, "exp", json!(now() - 31 - 5)),
                        "iat",
                        json!(now() - 1000),
                    ),
                    JWT_SECRET,
                    kid.clone(),
                    typ,
                ),
            ),
            ("a refresh token as access token", refresh.clone()),
            (
                "wrong iss",
                sign(
                    &with(&claims, "iss", json!("someone-else")),
                    JWT_SECRET,
                    kid.clone(),
                    typ,
                ),
            ),
            (
                "wrong aud",
                sign(
                    &with(&claims, "aud", json!("another-api")),
                    JWT_SECRET,
                    kid.clone(),
                    typ,
                ),
            ),
            (
                "unknown kid",
                sign(
                    &claims,
                    JWT_SECRET,
                    Some("0000000000000000".to_owned()),
                    typ,
                ),
            ),
            ("no kid", sign(&claims, JWT_SECRET, None, typ)),
            (
                "not typed as an access token",
                sign(&claims, JWT_SECRET, kid.clone(), "JWT"),
            ),
            ("tampered payload", tampered),
            (
                "issued in the future",
                sign(
                    &with(&claims, "iat", json!(now() + 3600)),
                    JWT_SECRET,
                    kid.clone(),
                    typ,
                ),
            ),
            ("garbage", "not.a.token".to_owned()),
        ];
        for (case, token) in &table {
            let answer = app.get("/api/v1/auth/me", token).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{case}: {}",
                answer.body
            );
            assert!(
                answer.headers.contains_key(header::WWW_AUTHENTICATE),
                "{case}"
            );
            assert_eq!(answer.body["status"], 401, "{case}: the problem shape");
        }
        // Within the leeway an expired token still works; that is what the leeway is for.
        let recent = sign(
            &with(&claims, "exp", json!(now() - 5)),
            JWT_SECRET,
            kid.clone(),
            typ,
        );
        assert_eq!(
            app.get("/api/v1/auth/me", &recent).await.status,
            StatusCode::OK
        );
        // A token of a disabled account.
        let disabled = app
            .patch(
                &format!("/api/v1/users/{member_id}"),
                &app.admin,
                &json!({"status": "disabled"}),
            )
            .await;
        assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
        let answer = app.get("/api/v1/auth/me", &member).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.code(), "token_revoked");
        // No credentials at all.
        let anonymous = app.send(Call::new(Method::GET, "/api/v1/auth/me")).await;
        assert_eq!(
            (anonymous.status, anonymous.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        );
    })
    .await;
}

async fn refresh(app: &TestApp, token: &str) -> common::Answer {
    app.send(Call::new(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": token})))
        .await
}

#[tokio::test]
async fn a_refresh_token_works_once_and_replaying_it_ends_the_session() {
    on_every_backend(|url| async move {
        let mut auth = settings();
        auth.reuse_grace = std::time::Duration::ZERO;
        let app = TestApp::start(&url, auth).await;
        let (_, refresh_1) = app.login_tokens(ADMIN_EMAIL, PASSWORD).await;
        let first = refresh(&app, &refresh_1).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.headers[header::CACHE_CONTROL], "no-store");
        let access_2 = first.body["access_token"]
            .as_str()
            .expect("access")
            .to_owned();
        let refresh_2 = first.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        assert_ne!(refresh_2, refresh_1, "rotated");
        assert_eq!(
            app.get("/api/v1/auth/me", &access_2).await.status,
            StatusCode::OK
        );

        let replay = refresh(&app, &refresh_1).await;
        assert_eq!(
            (replay.status, replay.code()),
            (StatusCode::UNAUTHORIZED, "refresh_token_reused")
        );
        // The whole family is dead: the newest refresh token and the access token too.
        let after = refresh(&app, &refresh_2).await;
        assert_eq!(
            (after.status, after.code()),
            (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
        );
        assert_eq!(
            app.get("/api/v1/auth/me", &access_2).await.code(),
            "token_revoked"
        );
        let audit = app.get("/api/v1/audit?limit=5", &app.admin).await;
        assert!(
            audit.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|e| e["action"] == "auth.refresh.reused"),
            "the reuse is audited: {}",
            audit.body
        );
        let unknown = refresh(&app, "never-issued").await;
        assert_eq!(unknown.code(), "invalid_refresh_token");
    })
    .await;
}

#[tokio::test]
async fn of_two_concurrent_refreshes_one_wins_and_the_session_survives() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let (_, original) = app.login_tokens(ADMIN_EMAIL, PASSWORD).await;
        let (a, b) = tokio::join!(refresh(&app, &original), refresh(&app, &original));
        let (winner, loser) = if a.status == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(winner.status, StatusCode::OK, "{}", winner.body);
        assert_eq!(
            (loser.status, loser.code()),
            (StatusCode::UNAUTHORIZED, "refresh_token_superseded"),
            "within the grace period the loser is told, and the family lives"
        );
        let next = winner.body["refresh_token"].as_str().expect("refresh");
        assert_eq!(refresh(&app, next).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn logout_password_change_and_disabling_revoke_sessions() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let (user_id, first) = app.member("revoke@example.com").await;
        let (second, second_refresh) = app.login_tokens("revoke@example.com", PASSWORD).await;

        // Logout ends that session only.
        let out = app.send(Call::new(Method::POST, "/api/v1/auth/logout").bearer(&first)).await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/api/v1/auth/me", &first).await.code(), "token_revoked");
        assert_eq!(app.get("/api/v1/auth/me", &second).await.status, StatusCode::OK);

        // A password change ends every session and answers with a new one.
        let changed = app
            .post(
                "/api/v1/auth/password",
                &second,
                &json!({"current_password": PASSWORD, "new_password": "an entirely new passphrase"}),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        assert_eq!(app.get("/api/v1/auth/me", &second).await.code(), "token_revoked");
        assert_eq!(refresh(&app, &second_refresh).await.code(), "invalid_refresh_token");
        let third = changed.body["access_token"].as_str().expect("access").to_owned();
        assert_eq!(app.get("/api/v1/auth/me", &third).await.status, StatusCode::OK);
        assert_eq!(app.login_answer("revoke@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);

        // Disabling ends every session, and the account cannot sign in.
        let disabled = app
            .patch(&format!("/api/v1/users/{user_id}"), &app.admin, &json!({"status": "disabled"}))
            .await;
        assert_eq!(disabled.status, StatusCode::OK);
        assert_eq!(app.get("/api/v1/auth/me", &third).await.code(), "token_revoked");
        let refused = app.login_answer("revoke@example.com", "an entirely new passphrase").await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    })
    .await;
}

#[tokio::test]
async fn tokens_of_the_previous_key_work_during_a_rotation_and_fail_after_it() {
    on_every_backend(|url| async move {
        let old = TestApp::start(&url, settings()).await;
        let token = old.admin.clone();
        let new_secret = b"the-next-jwt-secret-0123456789abcdef".to_vec();

        let mut rotating = settings();
        rotating.jwt_secret = new_secret.clone();
        rotating.jwt_previous_secret = Some(JWT_SECRET.to_vec());
        let during = TestApp::serve(old.store.clone(), rotating, Default::default());
        assert_eq!(
            during.get("/api/v1/auth/me", &token).await.status,
            StatusCode::OK
        );
        let fresh = during.login(ADMIN_EMAIL, PASSWORD).await;
        let kid = jsonwebtoken::decode_header(&fresh).expect("header").kid;
        assert_eq!(
            kid,
            Some(key_id(&new_secret)),
            "new tokens are signed with the new key"
        );

        let mut rotated = settings();
        rotated.jwt_secret = new_secret;
        let after = TestApp::serve(old.store.clone(), rotated, Default::default());
        assert_eq!(
            after.get("/api/v1/auth/me", &token).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            after.get("/api/v1/auth/me", &fresh).await.status,
            StatusCode::OK
        );
    })
    .await;
}

#[tokio::test]
async fn cookie_mode_writes_need_the_csrf_token_and_bearer_writes_do_not() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let login = app
            .send(
                Call::new(Method::POST, "/api/v1/auth/login")
                    .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD, "cookies": true})),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        assert!(
            login.body.get("access_token").is_none(),
            "no token reaches scripts"
        );
        assert_eq!(login.body["token_type"], "cookie");
        for cookie in login.set_cookies() {
            assert!(cookie.starts_with("__Host-"), "{cookie}");
            for attribute in ["Secure", "SameSite=Strict", "Path=/"] {
                assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
            }
            assert_eq!(
                cookie.contains("HttpOnly"),
                !cookie.starts_with("__Host-recon-csrf"),
                "{cookie}"
            );
        }
        let access = login.cookie("__Host-recon-access").expect("access cookie");
        let csrf_cookie = login.cookie("__Host-recon-csrf").expect("csrf cookie");
        let csrf = login.body["csrf_token"].as_str().expect("csrf").to_owned();
        let cookies = format!("{access}; {csrf_cookie}");
        let create = |with_csrf: Option<&str>| {
            let mut call = Call::new(Method::POST, "/api/v1/projects")
                .header("cookie", &cookies)
                .json(&json!({"name": "cookie project"}));
            if let Some(token) = with_csrf {
                call = call.header("x-csrf-token", token);
            }
            call
        };
        let refused = app.send(create(None)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::FORBIDDEN, "csrf_failed")
        );
        let wrong = app.send(create(Some("forged.token"))).await;
        assert_eq!(wrong.code(), "csrf_failed");
        let accepted = app.send(create(Some(&csrf))).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
        let read = app
            .send(Call::new(Method::GET, "/api/v1/projects").header("cookie", &cookies))
            .await;
        assert_eq!(read.status, StatusCode::OK, "reads need no CSRF token");
        let bearer = app
            .post(
                "/api/v1/projects",
                &app.admin,
                &json!({"name": "bearer project"}),
            )
            .await;
        assert_eq!(
            bearer.status,
            StatusCode::CREATED,
            "bearer writes need no CSRF token"
        );

        // Refresh by cookie: CSRF required too.
        let refresh_cookie = login
            .cookie("__Host-recon-refresh")
            .expect("refresh cookie");
        let both = format!("{refresh_cookie}; {csrf_cookie}");
        let no_csrf = app
            .send(Call::new(Method::POST, "/api/v1/auth/refresh").header("cookie", &both))
            .await;
        assert_eq!(no_csrf.code(), "csrf_failed");
        let renewed = app
            .send(
                Call::new(Method::POST, "/api/v1/auth/refresh")
                    .header("cookie", &both)
                    .header("x-csrf-token", &csrf),
            )
            .await;
        assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
        assert!(renewed.cookie("__Host-recon-access").is_some());
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_throttled_alike_for_known_and_unknown_accounts() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let limit = settings().throttle.per_account;
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..limit {
            let started = std::time::Instant::now();
            let answer = app.login_answer(ADMIN_EMAIL, "wrong password here").await;
            known.push((
                answer.status,
                answer.body["code"].clone(),
                answer.body["message"].clone(),
                started.elapsed(),
            ));
            let started = std::time::Instant::now();
            let answer = app
                .login_answer("nobody@example.com", "wrong password here")
                .await;
            unknown.push((
                answer.status,
                answer.body["code"].clone(),
                answer.body["message"].clone(),
                started.elapsed(),
            ));
        }
        for (k, u) in known.iter().zip(&unknown) {
            assert_eq!((k.0, &k.1, &k.2), (u.0, &u.1, &u.2), "identical answers");
            assert_eq!(k.0, StatusCode::UNAUTHORIZED);
        }
        // Both did one Argon2 verification per attempt: comparable time, not a fast path.
        let total = |all: &[(StatusCode, Value, Value, std::time::Duration)]| {
            all.iter().map(|a| a.3).sum::<std::time::Duration>()
        };
        let ratio = total(&known).as_secs_f64() / total(&unknown).as_secs_f64();
        assert!(
            (0.33..3.0).contains(&ratio),
            "known/unknown time ratio {ratio:.2}"
        );
        for email in [ADMIN_EMAIL, "nobody@example.com"] {
            // Even the right password is refused while the account is throttled.
            let answer = app.login_answer(email, PASSWORD).await;
            assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{email}");
            let wait: u64 = answer.headers[header::RETRY_AFTER]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=900).contains(&wait), "Retry-After {wait}");
        }
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_and_forwarded_for_is_not_believed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut auth = settings();
    auth.throttle.per_address = 4;
    let app = TestApp::start(&url, auth).await;
    for attempt in 0..4 {
        let answer = app
            .send(
                Call::new(Method::POST, "/api/v1/auth/login")
                    .from("198.51.100.7:4000")
                    .header("x-forwarded-for", &format!("203.0.113.{attempt}"))
                    .json(&json!({"email": format!("user{attempt}@example.com"), "password": "x"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = app
        .send(
            Call::new(Method::POST, "/api/v1/auth/login")
                .from("198.51.100.7:4001")
                .header("x-forwarded-for", "203.0.113.99")
                .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        blocked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "spoofed X-Forwarded-For changes nothing"
    );
    let elsewhere = app
        .send(
            Call::new(Method::POST, "/api/v1/auth/login")
                .from("198.51.100.8:4000")
                .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::OK,
        "another address is not blocked"
    );
}

#[tokio::test]
async fn bad_input_gets_the_problem_shape_with_every_field_named() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let invalid = app
            .post("/api/v1/users", &app.admin, &json!({"email": "not-an-email", "password": "short", "display_name": " "}))
            .await;
        assert_eq!((invalid.status, invalid.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
        let fields: Vec<&str> = invalid.body["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
        assert_eq!(fields, vec!["email", "display_name", "password"]);
        assert!(invalid.body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        let common = app
            .post("/api/v1/users", &app.admin, &json!({"email": "c@example.com", "password": "password1", "display_name": "C"}))
            .await;
        assert!(common.body["errors"][0]["message"].as_str().expect("message").contains("common"), "{}", common.body);

        let array = app
            .patch(&format!("/api/v1/users/{}", "x"), &app.admin, &json!([null, null]))
            .await;
        assert_eq!(
            (array.status, array.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "an array is not an object, even with the struct's arity"
        );
        let unknown_field = app.post("/api/v1/projects", &app.admin, &json!({"name": "x", "colour": "red"})).await;
        assert_eq!((unknown_field.status, unknown_field.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
        let malformed = app.send(Call::new(Method::POST, "/api/v1/projects").bearer(&app.admin).raw("application/json", "{\"name\":")).await;
        assert_eq!((malformed.status, malformed.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
        let not_json = app.send(Call::new(Method::POST, "/api/v1/projects").bearer(&app.admin).raw("text/plain", "name=x")).await;
        assert_eq!((not_json.status, not_json.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
        let huge = app
            .send(Call::new(Method::POST, "/api/v1/projects").bearer(&app.admin).raw("application/json", &format!("{{\"name\":\"{}\"}}", "x".repeat(70_000))))
            .await;
        assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", huge.body);
        let bad_page = app.get("/api/v1/projects?limit=100000", &app.admin).await;
        assert_eq!(bad_page.code(), "validation_failed");
        let bad_query = app.get("/api/v1/projects?limit=lots", &app.admin).await;
        assert_eq!((bad_query.status, bad_query.code()), (StatusCode::BAD_REQUEST, "invalid_query"));

        // Duplicate email in another case: 409, and the first account is untouched.
        let taken = app
            .post("/api/v1/users", &app.admin, &json!({"email": "ADMIN@example.com", "password": PASSWORD, "display_name": "Imposter"}))
            .await;
        assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "email_taken"));
        assert_eq!(app.get("/api/v1/auth/me", &app.admin).await.body["display_name"], "Admin");
        // The last admin cannot be demoted.
        let me = app.get("/api/v1/auth/me", &app.admin).await;
        let id = me.body["id"].as_str().expect("id");
        let demote = app.patch(&format!("/api/v1/users/{id}"), &app.admin, &json!({"role": "member"})).await;
        assert_eq!((demote.status, demote.code()), (StatusCode::CONFLICT, "last_admin"));
    })
    .await;
}

#[tokio::test]
async fn a_pending_password_change_blocks_everything_but_the_change() {
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let created = app
            .post("/api/v1/users", &app.admin, &json!({"email": "new@example.com", "password": PASSWORD, "display_name": "New"}))
            .await;
        assert_eq!(created.body["must_change_password"], true, "admin-set passwords are temporary");
        let token = app.login("new@example.com", PASSWORD).await;
        let blocked = app.get("/api/v1/projects", &token).await;
        assert_eq!((blocked.status, blocked.code()), (StatusCode::FORBIDDEN, "password_change_required"));
        assert_eq!(app.get("/api/v1/auth/me", &token).await.status, StatusCode::OK);
        let same = app
            .post("/api/v1/auth/password", &token, &json!({"current_password": PASSWORD, "new_password": PASSWORD}))
            .await;
        assert_eq!(same.body["errors"][0]["field"], "new_password");
        let wrong = app
            .post("/api/v1/auth/password", &token, &json!({"current_password": "not it at all", "new_password": "fresh long passphrase"}))
            .await;
        assert_eq!(wrong.body["errors"][0]["field"], "current_password");
        let changed = app
            .post("/api/v1/auth/password", &token, &json!({"current_password": PASSWORD, "new_password": "fresh long passphrase"}))
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        let fresh = changed.body["access_token"].as_str().expect("access");
        assert_eq!(app.get("/api/v1/projects", fresh).await.status, StatusCode::OK);

        // An admin cannot reset their own password here: that path asks for no current one.
        let me = app.get("/api/v1/auth/me", &app.admin).await;
        let own = app
            .post(&format!("/api/v1/users/{}/password", me.body["id"].as_str().expect("id")), &app.admin, &json!({}))
            .await;
        assert_eq!((own.status, own.code()), (StatusCode::FORBIDDEN, "own_password"));
        assert_eq!(app.get("/api/v1/auth/me", &app.admin).await.status, StatusCode::OK, "nothing was revoked");
        // An admin reset without a password generates one, shown once, and makes it temporary.
        let id = created.body["id"].as_str().expect("id");
        let reset = app.post(&format!("/api/v1/users/{id}/password"), &app.admin, &json!({})).await;
        let temporary = reset.body["temporary_password"].as_str().expect("generated").to_owned();
        assert_eq!(temporary.chars().count(), 20);
        assert_eq!(app.get("/api/v1/projects", fresh).await.code(), "token_revoked");
        let again = app.login("new@example.com", &temporary).await;
        assert_eq!(app.get("/api/v1/projects", &again).await.code(), "password_change_required");
    })
    .await;
}

#[tokio::test]
async fn open_registration_is_off_by_default_and_creates_members_only() {
    on_every_backend(|url| async move {
        let body = json!({"email": "self@example.com", "password": PASSWORD, "display_name": "Self"});
        let closed = TestApp::start(&url, settings()).await;
        let answer = closed.send(Call::new(Method::POST, "/api/v1/auth/register").json(&body)).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::FORBIDDEN, "registration_closed"));
        let mut open = settings();
        open.open_registration = true;
        let app = TestApp::serve(closed.store.clone(), open, Default::default());
        let created = app.send(Call::new(Method::POST, "/api/v1/auth/register").json(&body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["role"], "member");
        let escalate = app
            .send(Call::new(Method::POST, "/api/v1/auth/register").json(&json!({
                "email": "boss@example.com", "password": PASSWORD, "display_name": "Boss", "role": "admin"
            })))
            .await;
        assert_eq!(escalate.code(), "invalid_body", "no role can be chosen: {}", escalate.body);
    })
    .await;
}

#[tokio::test]
async fn with_redis_the_failure_counts_are_shared_between_replicas() {
    use recon_storage::cache::Cache;
    use recon_storage::redis::{RedisLink, RedisSettings};
    let Some(redis_url) = recon_test_support::redis_url() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let first = TestApp::start(&url, settings()).await;
    let replica = |link: std::sync::Arc<RedisLink>| {
        TestApp::replica(
            first.store.clone(),
            settings(),
            Default::default(),
            std::sync::Arc::new(Cache::new(Some(link))),
        )
    };
    let link = || {
        let link = RedisLink::new(RedisSettings {
            url: redis_url.clone(),
            connect_timeout: std::time::Duration::from_millis(500),
            op_timeout: std::time::Duration::from_millis(500),
            pool_size: 2,
            check_interval: std::time::Duration::from_secs(1),
        })
        .expect("link");
        link.set_up(true);
        std::sync::Arc::new(link)
    };
    let (a, b) = (replica(link()), replica(link()));
    // A fresh email, so parallel runs on the shared Redis do not meet.
    let email = format!("shared-{}@example.com", uuid::Uuid::new_v4().simple());
    let limit = settings().throttle.per_account;
    for attempt in 0..limit {
        let app = if attempt % 2 == 0 { &a } else { &b };
        assert_eq!(
            app.login_answer(&email, "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&a, &b] {
        assert_eq!(
            app.login_answer(&email, "wrong password").await.status,
            StatusCode::TOO_MANY_REQUESTS,
            "failures on one replica count on the other"
        );
    }
}

#[tokio::test]
async fn a_password_hashed_with_old_parameters_is_rehashed_at_sign_in() {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    on_every_backend(|url| async move {
        let app = TestApp::start(&url, settings()).await;
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).expect("params"),
        );
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let old_hash = weak
            .hash_password(PASSWORD.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        let user = app
            .store
            .create_user(
                recon_storage::access::NewUser {
                    email: "old@example.com".to_owned(),
                    display_name: "Old".to_owned(),
                    role: recon_domain::access::Role::Member,
                    password_hash: old_hash.clone(),
                    must_change_password: false,
                },
                recon_storage::access::AuditEvent {
                    action: "user.created".to_owned(),
                    target_type: "user".to_owned(),
                    ..Default::default()
                },
            )
            .await
            .expect("create");
        app.login("old@example.com", PASSWORD).await;
        let stored = app
            .store
            .find_user(&user.id)
            .await
            .expect("find")
            .expect("user");
        assert_ne!(stored.password_hash, old_hash);
        assert!(
            stored
                .password_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            stored.password_hash
        );
        assert_eq!(
            stored.token_version, user.token_version,
            "a rehash revokes nothing"
        );
        app.login("old@example.com", PASSWORD).await;
    })
    .await;
}
