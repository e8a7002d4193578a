//! A Recon API on a real database (SQLite file or a fresh PostgreSQL database), called
//! in-process with `oneshot`, with a signed-in admin to start from.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use recon_api::auth::{Auth, AuthSettings};
use recon_api::headers::HttpPolicy;
use recon_api::health::HealthMonitor;
use recon_api::{App, AppState, BuildInfo};
use recon_domain::access::Role;
use recon_realtime::{ConnectionTracker, EventHub};
use recon_storage::access::{AuditEvent, NewUser};
use recon_storage::cache::Cache;
use recon_storage::{Store, StoreSettings};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const JWT_SECRET: &[u8] = b"test-jwt-secret-0123456789abcdef-0123";
pub const REFRESH_SECRET: &[u8] = b"test-refresh-secret-0123456789abcdef";
pub const CSRF_SECRET: &[u8] = b"test-csrf-secret-0123456789abcdef-01";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

/// The address in-process calls come from unless a test says otherwise.
pub const CLIENT: &str = "192.0.2.10:50000";

pub struct TestApp {
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub admin: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// `name=value` of the Set-Cookie named `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next().map(str::to_owned))
    }
}

/// A request under construction.
pub struct Call {
    request: Request<Body>,
}

impl Call {
    pub fn new(method: Method, path: &str) -> Self {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let peer: SocketAddr = CLIENT.parse().expect("address");
        request.extensions_mut().insert(ConnectInfo(peer));
        Self { request }
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.request
            .headers_mut()
            .append(name, value.parse().expect("header"));
        self
    }

    pub fn from(mut self, peer: &str) -> Self {
        let peer: SocketAddr = peer.parse().expect("address");
        self.request.extensions_mut().insert(ConnectInfo(peer));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.request.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        *self.request.body_mut() = Body::from(body.to_string());
        self
    }

    pub fn raw(mut self, content_type: &str, body: &str) -> Self {
        self.request
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
        *self.request.body_mut() = Body::from(body.to_owned());
        self
    }
}

pub fn settings() -> AuthSettings {
    AuthSettings::new(JWT_SECRET, REFRESH_SECRET, CSRF_SECRET)
}

impl TestApp {
    /// A migrated store at `url` with one admin, served with `auth`.
    pub async fn start(url: &str, auth: AuthSettings) -> Self {
        Self::start_with(url, auth, HttpPolicy::default()).await
    }

    pub async fn start_with(url: &str, auth: AuthSettings, http: HttpPolicy) -> Self {
        let store = recon_storage::open(url, &StoreSettings::default())
            .await
            .expect("open the store");
        store.migrate().await.expect("migrate");
        let app = Self::serve(Arc::clone(&store), auth, http);
        let hash = app
            .state
            .auth
            .passwords
            .hash(PASSWORD.to_owned())
            .await
            .expect("hash");
        let created = store
            .bootstrap_admin(
                NewUser {
                    email: ADMIN_EMAIL.to_owned(),
                    display_name: "Admin".to_owned(),
                    role: Role::Admin,
                    password_hash: hash,
                    must_change_password: false,
                },
                AuditEvent {
                    action: "user.bootstrap".to_owned(),
                    target_type: "user".to_owned(),
                    ..AuditEvent::default()
                },
            )
            .await
            .expect("bootstrap");
        let mut app = app;
        if created.is_some() {
            app.admin = app.login(ADMIN_EMAIL, PASSWORD).await;
        }
        app
    }

    /// Another app on the same store (another replica, or other keys).
    pub fn serve(store: Arc<dyn Store>, auth: AuthSettings, http: HttpPolicy) -> Self {
        Self::replica(store, auth, http, Arc::new(Cache::new(None)))
    }

    /// Another app on the same store with its own cache (Redis-backed for shared limits).
    pub fn replica(
        store: Arc<dyn Store>,
        auth: AuthSettings,
        http: HttpPolicy,
        cache: Arc<Cache>,
    ) -> Self {
        let health = Arc::new(HealthMonitor::new(
            Duration::from_millis(500),
            Duration::from_secs(3),
        ));
        health.mark_migrations_done();
        let state = AppState(Arc::new(App {
            store: Arc::clone(&store),
            redis: None,
            auth: Arc::new(Auth::new(auth, Arc::clone(&cache))),
            cache,
            health,
            hub: Arc::new(EventHub::new("test", 16)),
            connections: ConnectionTracker::new(),
            metrics: None,
            build: BuildInfo {
                version: "0.0.0",
                commit: "test",
            },
            started_at: Instant::now(),
            debug_routes: false,
            http,
        }));
        Self {
            state,
            store,
            admin: String::new(),
        }
    }

    pub async fn send(&self, call: Call) -> Answer {
        let response = recon_api::router(self.state.clone())
            .oneshot(call.request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Call::new(Method::GET, path).bearer(token)).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(Call::new(Method::POST, path).bearer(token).json(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(Call::new(Method::PATCH, path).bearer(token).json(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.send(Call::new(Method::DELETE, path).bearer(token))
            .await
    }

    pub async fn login_answer(&self, email: &str, password: &str) -> Answer {
        self.send(
            Call::new(Method::POST, "/api/v1/auth/login")
                .json(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        self.login_tokens(email, password).await.0
    }

    /// Signs in and returns (access, refresh).
    pub async fn login_tokens(&self, email: &str, password: &str) -> (String, String) {
        let answer = self.login_answer(email, password).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "login {email}: {}",
            answer.body
        );
        (
            answer.body["access_token"]
                .as_str()
                .expect("access")
                .to_owned(),
            answer.body["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    /// Creates a member through the admin API (no pending password change) and signs it in:
    /// (account id, access token).
    pub async fn member(&self, email: &str) -> (String, String) {
        let created = self
            .post(
                "/api/v1/users",
                &self.admin,
                &json!({"email": email, "password": PASSWORD, "display_name": email,
                        "must_change_password": false}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["id"].as_str().expect("id").to_owned();
        (id, self.login(email, PASSWORD).await)
    }

    /// Creates a project as `token`; returns its id.
    pub async fn project(&self, token: &str, name: &str) -> String {
        let created = self
            .post("/api/v1/projects", token, &json!({"name": name}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["id"].as_str().expect("id").to_owned()
    }

    /// Adds `user_id` to `project` as `role`, as `owner_token`.
    pub async fn add(&self, owner_token: &str, project: &str, user_id: &str, role: &str) {
        let added = self
            .post(
                &format!("/api/v1/projects/{project}/members"),
                owner_token,
                &json!({"user_id": user_id, "role": role}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    }
}
