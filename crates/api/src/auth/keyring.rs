//! Access tokens: HS256 JWTs signed with `JWT_SECRET`.
//!
//! Issued with the header `{"alg": "HS256", "typ": "at+jwt", "kid": …}` (RFC 9068 explicit
//! typing) and the claims `iss`, `aud`, `sub` (account id), `role`, `iat`, `exp`, `jti`, `sid`
//! (the login session) and `ver` (the account's token version). Verification is explicit
//! (RFC 8725): the header must say HS256 and `at+jwt`; the `kid` must name a configured key —
//! the current secret or, during a rotation, `JWT_SECRET_PREVIOUS` — and nothing in the token
//! chooses the key otherwise (`jku`, `x5u`, `jwk` are ignored); `iss`, `aud`, `exp`, `iat` and
//! `sub` are required, `exp` is checked with a leeway of at most 30 s, and an `iat` in the
//! future beyond the leeway is refused.
//!
//! A `kid` is the first 16 hex digits of SHA-256 over a fixed label and the secret: stable for
//! a secret, revealing nothing of it, and different for each secret, which is what lets two
//! keys be live at once.
//!
//! Rotating the signing key without logging anyone out: set `JWT_SECRET_PREVIOUS` to the
//! current secret and `JWT_SECRET` to a new one, and restart the replicas. New tokens are
//! signed with the new key; tokens signed with the old one keep verifying until they expire.
//! After one access-token lifetime (15 minutes by default), remove `JWT_SECRET_PREVIOUS`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use recon_storage::access::UserRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuthSettings;

/// The `iss` of every access token.
pub const ISSUER: &str = "recon";
/// The `aud` of every access token.
pub const AUDIENCE: &str = "recon-api";
/// The `typ` header of every access token.
pub const TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The account id.
    pub sub: String,
    /// The account's role when issued (authorization reads the stored role).
    pub role: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The login session.
    pub sid: String,
    /// The account's token version when issued.
    pub ver: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Past `exp` plus the leeway: refresh it.
    Expired,
    /// Anything else: malformed, wrong algorithm or type, unknown key, bad signature, wrong
    /// issuer or audience, missing claims.
    Invalid,
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn new(secret: &[u8]) -> Self {
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// The key id of a secret.
pub fn key_id(secret: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"recon access-token key id\0");
    hasher.update(secret);
    hex::encode(&hasher.finalize()[..8])
}

/// The signing key and the keys still accepted.
pub struct Keyring {
    current: SigningKey,
    previous: Option<SigningKey>,
    ttl_secs: i64,
    leeway_secs: u64,
}

impl Keyring {
    /// The keyring of `settings`.
    pub fn new(settings: &AuthSettings) -> Self {
        Self {
            current: SigningKey::new(&settings.jwt_secret),
            previous: settings.jwt_previous_secret.as_deref().map(SigningKey::new),
            ttl_secs: settings.access_ttl.as_secs() as i64,
            leeway_secs: settings.leeway.min(super::MAX_LEEWAY).as_secs(),
        }
    }

    /// The `kid` new tokens carry.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// Lifetime of new tokens, seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token for `user` in session `session_id` at `now` (Unix seconds).
    pub fn issue(&self, user: &UserRecord, session_id: &str, now: i64) -> String {
        let claims = AccessClaims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user.id.clone(),
            role: user.role.as_str().to_owned(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session_id.to_owned(),
            ver: user.token_version,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(self.current.kid.clone());
        // Encoding HS256 claims that serialize cannot fail; an empty token would be refused.
        jsonwebtoken::encode(&header, &claims, &self.current.encoding).unwrap_or_default()
    }

    /// Signs and verifies a token with every configured key: run at boot, so that a broken
    /// crypto backend (jsonwebtoken needs exactly one; this build pins `rust_crypto`) stops the
    /// start with a reason instead of failing the first sign-in.
    pub fn self_test(&self) -> Result<(), String> {
        let probe = AccessClaims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: "self-test".to_owned(),
            role: "member".to_owned(),
            iat: 0,
            exp: i64::MAX / 2,
            jti: "self-test".to_owned(),
            sid: "self-test".to_owned(),
            ver: 0,
        };
        for key in std::iter::once(&self.current).chain(self.previous.as_ref()) {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some(TOKEN_TYPE.to_owned());
            header.kid = Some(key.kid.clone());
            let token = jsonwebtoken::encode(&header, &probe, &key.encoding)
                .map_err(|error| format!("signing a test token failed: {error}"))?;
            let claims = self.verify(&token, 0).map_err(|rejection| {
                format!("a freshly signed token was refused: {rejection:?}")
            })?;
            if claims != probe {
                return Err("a freshly signed token came back changed".to_owned());
            }
        }
        Ok(())
    }

    /// Verifies a token at `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(TokenRejection::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(TokenRejection::Invalid)?;
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|key| key.kid == kid)
            .ok_or(TokenRejection::Invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenRejection::Expired,
                _ => TokenRejection::Invalid,
            })?
            .claims;
        if claims.iat > now + self.leeway_secs as i64 {
            return Err(TokenRejection::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_test_passes_with_one_key_or_two() {
        let mut settings = AuthSettings::new(&[7; 32], &[8; 32], &[9; 32]);
        Keyring::new(&settings).self_test().expect("current key");
        settings.jwt_previous_secret = Some(vec![6; 32]);
        Keyring::new(&settings)
            .self_test()
            .expect("current and previous keys");
    }

    #[test]
    fn key_ids_differ_per_secret_and_reveal_nothing_of_it() {
        let a = key_id(b"0123456789abcdef0123456789abcdef");
        let b = key_id(b"0123456789abcdef0123456789abcdeX");
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(!a.contains("0123456789abcdef"));
    }
}
