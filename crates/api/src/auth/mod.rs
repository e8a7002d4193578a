//! Authentication: who is calling, proven how, and how hard they may try.
//!
//! - [`keyring`]: access tokens (HS256 JWTs, 15 minutes) signed with `JWT_SECRET`, verified by
//!   `kid` against the current and the previous secret, validation explicit and pinned.
//! - [`passwords`]: Argon2id at OWASP's parameters, off the async runtime, with a bound on how
//!   many hashes run at once.
//! - [`secrets`]: opaque refresh tokens and their keyed hashes, signed CSRF tokens.
//! - [`cookies`]: the `__Host-` cookies of browser clients.
//! - [`throttle`]: failed-login limits per account and per client address.
//! - [`client_address`]: the caller's address, from `X-Forwarded-For` only behind trusted
//!   proxies.
//! - [`extract`]: the extractors handlers use (`CurrentUser`, `AdminUser`, …), which also
//!   check on every request that the account is active and the session not revoked.

pub mod client_address;
pub mod cookies;
pub mod extract;
pub mod keyring;
pub mod passwords;
pub mod secrets;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use recon_storage::cache::Cache;

use self::keyring::Keyring;
use self::passwords::PasswordHasher;
use self::throttle::{LoginThrottle, ThrottleLimits};

/// Everything authentication is configured with. Built by the binary from its configuration;
/// tests build it with [`AuthSettings::new`].
#[derive(Clone)]
pub struct AuthSettings {
    /// Signs access tokens.
    pub jwt_secret: Vec<u8>,
    /// Still accepted for verifying during a key rotation.
    pub jwt_previous_secret: Option<Vec<u8>>,
    /// Keys the stored hash of refresh tokens.
    pub refresh_secret: Vec<u8>,
    /// Signs CSRF tokens.
    pub csrf_secret: Vec<u8>,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime (each rotation starts a new one, within the session's).
    pub refresh_ttl: Duration,
    /// Absolute lifetime of a login, whatever the rotations.
    pub session_ttl: Duration,
    /// A refresh token presented again within this time of its rotation is answered 401
    /// `refresh_token_superseded` without revoking the family (two tabs refreshing at once);
    /// later, it is reuse and revokes the family.
    pub reuse_grace: Duration,
    /// Clock skew tolerated on `exp` (at most 30 s).
    pub leeway: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Whether anyone may create a member account through `/api/v1/auth/register`.
    pub open_registration: bool,
    /// Failed-login limits.
    pub throttle: ThrottleLimits,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("secrets", &"***")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("session_ttl", &self.session_ttl)
            .field("reuse_grace", &self.reuse_grace)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("open_registration", &self.open_registration)
            .finish_non_exhaustive()
    }
}

/// Access-token lifetime unless configured.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Refresh-token lifetime unless configured.
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Session lifetime unless configured.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Concurrent-refresh grace unless configured.
pub const DEFAULT_REUSE_GRACE: Duration = Duration::from_secs(10);
/// Largest leeway allowed (RFC 8725 asks for a small one; the issue caps it at 30 s).
pub const MAX_LEEWAY: Duration = Duration::from_secs(30);

impl AuthSettings {
    /// The defaults around three secrets.
    pub fn new(jwt_secret: &[u8], refresh_secret: &[u8], csrf_secret: &[u8]) -> Self {
        Self {
            jwt_secret: jwt_secret.to_vec(),
            jwt_previous_secret: None,
            refresh_secret: refresh_secret.to_vec(),
            csrf_secret: csrf_secret.to_vec(),
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            session_ttl: DEFAULT_SESSION_TTL,
            reuse_grace: DEFAULT_REUSE_GRACE,
            leeway: MAX_LEEWAY,
            trusted_proxies: Vec::new(),
            open_registration: false,
            throttle: ThrottleLimits::default(),
        }
    }
}

/// The authentication services a handler reaches through the state.
pub struct Auth {
    /// The configuration.
    pub settings: AuthSettings,
    /// Signs and verifies access tokens.
    pub keyring: Keyring,
    /// Hashes and verifies passwords.
    pub passwords: PasswordHasher,
    /// Failed-login limits.
    pub throttle: LoginThrottle,
}

impl Auth {
    /// Builds the services; `cache` backs the throttle (Redis when up, memory otherwise).
    pub fn new(settings: AuthSettings, cache: Arc<Cache>) -> Self {
        Self {
            keyring: Keyring::new(&settings),
            passwords: PasswordHasher::owasp(),
            throttle: LoginThrottle::new(cache, settings.throttle),
            settings,
        }
    }
}
