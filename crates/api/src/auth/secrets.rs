//! Opaque secrets handed to clients: refresh tokens and CSRF tokens.
//!
//! A refresh token is 256 random bits, base64url, and is stored only as
//! HMAC-SHA-256(`JWT_REFRESH_SECRET`, token): a leaked table does not yield usable tokens, and
//! without the secret the hashes cannot be tested against guesses either.
//!
//! A CSRF token is the signed double-submit token of OWASP's CSRF cheat sheet: a random nonce
//! and HMAC-SHA-256(`CSRF_SECRET`, session id ‖ nonce), so it is bound to one login session and
//! cannot be minted by anyone without the secret. It is sent both as a readable cookie and,
//! by the client's script, in the `X-CSRF-Token` header.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The operating system's CSPRNG; if it ever fails the process cannot issue secrets at all.
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .unwrap_or_else(|error| panic!("the operating system's random source failed: {error}"));
    bytes
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// A new refresh token (256 bits).
pub fn new_refresh_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The stored form of a refresh token.
pub fn refresh_token_hash(secret: &[u8], token: &str) -> String {
    hex::encode(
        mac(secret, &[b"refresh", token.as_bytes()])
            .finalize()
            .into_bytes(),
    )
}

/// A CSRF token for `session_id`.
pub fn csrf_token(secret: &[u8], session_id: &str) -> String {
    let nonce = URL_SAFE_NO_PAD.encode(random_bytes::<16>());
    let signature = mac(secret, &[b"csrf", session_id.as_bytes(), nonce.as_bytes()])
        .finalize()
        .into_bytes();
    format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Whether `token` is a CSRF token this service signed for `session_id` (constant time).
pub fn csrf_token_valid(secret: &[u8], session_id: &str, token: &str) -> bool {
    let Some((nonce, signature)) = token.split_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    mac(secret, &[b"csrf", session_id.as_bytes(), nonce.as_bytes()])
        .verify_slice(&signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a csrf secret of at least 32 bytes long";

    #[test]
    fn refresh_tokens_are_256_bits_and_their_hash_depends_on_the_secret() {
        let token = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).expect("base64url").len(), 32);
        assert_ne!(new_refresh_token(), token);
        assert_ne!(
            refresh_token_hash(b"one", &token),
            refresh_token_hash(b"two", &token)
        );
        assert_eq!(
            refresh_token_hash(b"one", &token),
            refresh_token_hash(b"one", &token)
        );
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session_and_secret() {
        let token = csrf_token(SECRET, "session-a");
        assert!(csrf_token_valid(SECRET, "session-a", &token));
        assert!(!csrf_token_valid(SECRET, "session-b", &token));
        assert!(!csrf_token_valid(b"another secret", "session-a", &token));
        assert!(!csrf_token_valid(SECRET, "session-a", "forged.token"));
        assert!(!csrf_token_valid(SECRET, "session-a", ""));
    }
}
