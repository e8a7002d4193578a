//! Secrets: the three keys (JWT_SECRET, JWT_REFRESH_SECRET, CSRF_SECRET), their strength rules,
//! and the development store of generated ones.
//!
//! A [`Secret`] never prints its value: `Debug` and `Display` show `Secret(***)`, so a secret
//! cannot reach a log line through `{:?}`. In production each secret must be given, be at least
//! [`MIN_SECRET_BYTES`] long, and not look like a placeholder. In development a missing secret
//! is generated once from the operating system's CSPRNG, kept in `dev-secrets.json` (mode 0600)
//! in the data directory, and reused on the next start.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use rand::TryRngCore;

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output, 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// File holding generated development secrets, inside the data directory.
pub const DEV_SECRETS_FILE: &str = "dev-secrets.json";

/// Words that mark a value as a placeholder rather than a secret.
const PLACEHOLDER_WORDS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "change-this",
    "changethis",
    "replace-me",
    "replaceme",
    "secret",
    "placeholder",
    "example",
    "default",
    "password",
    "your-",
    "insert-",
];

/// A secret value that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the code that signs or hashes with it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The three secrets.
#[derive(Debug, Clone)]
pub struct SecretSet {
    /// Signs access tokens.
    pub jwt: Secret,
    /// Keys the hash of stored refresh tokens.
    pub jwt_refresh: Secret,
    /// Signs CSRF tokens.
    pub csrf: Secret,
}

impl SecretSet {
    /// Builds the set from `(variable, value)` pairs that are all present.
    pub(crate) fn from_values(values: Vec<(&'static str, Option<Secret>)>) -> Self {
        let mut by_name: BTreeMap<&str, Secret> = values
            .into_iter()
            .filter_map(|(name, secret)| secret.map(|s| (name, s)))
            .collect();
        let mut take = |name: &str| {
            by_name
                .remove(name)
                .unwrap_or_else(|| Secret::new(String::new()))
        };
        Self {
            jwt: take("JWT_SECRET"),
            jwt_refresh: take("JWT_REFRESH_SECRET"),
            csrf: take("CSRF_SECRET"),
        }
    }
}

/// Why a production secret is refused, or `Ok`.
pub fn check_production(value: &str) -> Result<(), String> {
    if value.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "is {} bytes; at least {MIN_SECRET_BYTES} are required",
            value.len()
        ));
    }
    let lowered = value.to_ascii_lowercase();
    if let Some(word) = PLACEHOLDER_WORDS
        .iter()
        .find(|word| lowered.contains(*word))
    {
        return Err(format!(
            "looks like a placeholder (contains {word:?}), not a random secret"
        ));
    }
    let mut distinct: Vec<char> = value.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() == 1 {
        return Err("is one repeated character".to_owned());
    }
    if distinct.len() < 10 {
        return Err(format!(
            "has too few distinct characters ({}) to be random",
            distinct.len()
        ));
    }
    Ok(())
}

/// Fills the missing secrets from the development store in `data_dir`, generating and saving
/// any the store does not hold yet.
pub(crate) fn fill_from_dev_store(
    data_dir: &Path,
    values: Vec<(&'static str, Option<Secret>)>,
) -> Result<SecretSet, String> {
    let path = data_dir.join(DEV_SECRETS_FILE);
    let mut stored: BTreeMap<String, String> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            format!(
                "{} is not valid JSON ({error}); delete it to generate new development secrets",
                path.display()
            )
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    let mut changed = false;
    let mut filled = Vec::new();
    for (name, secret) in values {
        let secret = match secret {
            Some(secret) => secret,
            None => {
                let value = match stored.get(name) {
                    Some(value) => value.clone(),
                    None => {
                        let value = generate()?;
                        stored.insert(name.to_owned(), value.clone());
                        changed = true;
                        value
                    }
                };
                Secret::new(value)
            }
        };
        filled.push((name, Some(secret)));
    }
    if changed {
        write_private(
            &path,
            &serde_json::to_vec_pretty(&stored).unwrap_or_default(),
        )?;
    }
    Ok(SecretSet::from_values(filled))
}

/// 32 random bytes from the OS, base64.
fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| format!("the operating system's random source failed: {error}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Writes `bytes` to `path` with mode 0600, atomically (temporary file, then rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|error| format!("cannot write {}: {error}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| format!("cannot write {}: {error}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("s3cr3t-value-that-must-not-leak");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{secret}"), "***");
        let set = SecretSet {
            jwt: secret.clone(),
            jwt_refresh: secret.clone(),
            csrf: secret,
        };
        assert!(!format!("{set:?}").contains("leak"));
    }

    #[test]
    fn generated_secrets_are_private_strong_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = || {
            vec![
                ("JWT_SECRET", None),
                ("JWT_REFRESH_SECRET", None),
                (
                    "CSRF_SECRET",
                    Some(Secret::new("given-csrf-value-of-sufficient-len")),
                ),
            ]
        };
        let first = fill_from_dev_store(dir.path(), missing()).expect("generate");
        let path = dir.path().join(DEV_SECRETS_FILE);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            check_production(first.jwt.expose()).is_ok(),
            "a generated secret passes the production rules"
        );
        assert_ne!(first.jwt, first.jwt_refresh);
        assert_eq!(first.csrf.expose(), "given-csrf-value-of-sufficient-len");
        let second = fill_from_dev_store(dir.path(), missing()).expect("reuse");
        assert_eq!(first.jwt, second.jwt);
        assert_eq!(first.jwt_refresh, second.jwt_refresh);
    }
}
