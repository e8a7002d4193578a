//! The cookies of browser clients that ask for cookie mode at login.
//!
//! The access and refresh tokens ride in `__Host-` cookies: HttpOnly (scripts cannot read them),
//! Secure, SameSite=Strict, `Path=/`, no `Domain` (the prefix enforces the last three). The CSRF
//! token rides in a third `__Host-` cookie that is *not* HttpOnly, so the client's script can
//! copy it into the `X-CSRF-Token` header of every state-changing request.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

/// Holds the access token.
pub const ACCESS_COOKIE: &str = "__Host-recon-access";
/// Holds the refresh token.
pub const REFRESH_COOKIE: &str = "__Host-recon-refresh";
/// Holds the CSRF token (readable by scripts).
pub const CSRF_COOKIE: &str = "__Host-recon-csrf";
/// The header that must repeat the CSRF cookie on state-changing cookie-mode requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn set(
    headers: &mut HeaderMap,
    name: &'static str,
    value: String,
    max_age_secs: i64,
    http_only: bool,
) {
    let cookie = Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(http_only)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Sets the three cookies of a cookie-mode login or refresh.
pub fn set_session_cookies(
    headers: &mut HeaderMap,
    access_token: String,
    access_ttl_secs: i64,
    refresh_token: String,
    refresh_ttl_secs: i64,
    csrf_token: String,
) {
    set(headers, ACCESS_COOKIE, access_token, access_ttl_secs, true);
    set(
        headers,
        REFRESH_COOKIE,
        refresh_token,
        refresh_ttl_secs,
        true,
    );
    set(headers, CSRF_COOKIE, csrf_token, refresh_ttl_secs, false);
}

/// Expires the three cookies (logout).
pub fn clear_session_cookies(headers: &mut HeaderMap) {
    for (name, http_only) in [
        (ACCESS_COOKIE, true),
        (REFRESH_COOKIE, true),
        (CSRF_COOKIE, false),
    ] {
        set(headers, name, String::new(), 0, http_only);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}
