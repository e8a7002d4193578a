//! Password hashing: Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1), stored as a PHC
//! string, so each hash says how it was made and [`Verification::needs_rehash`] can tell when
//! the parameters changed.
//!
//! Hashing costs ~20 MiB and tens of milliseconds of CPU, so it never runs on the async
//! runtime's threads (`spawn_blocking`) and at most one hash per core runs at once; a burst of
//! logins queues here instead of starving every other request. Verifying against an unknown
//! account still does one full verification (against a fixed dummy hash), so an unknown email
//! and a wrong password take the same time.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::errors::ApiError;

/// OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 iterations, 1 lane.
pub const OWASP_MEMORY_KIB: u32 = 19 * 1024;
/// Iterations.
pub const OWASP_ITERATIONS: u32 = 2;
/// Lanes.
pub const OWASP_PARALLELISM: u32 = 1;

/// The result of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matches.
    pub matches: bool,
    /// It matches, but the stored hash uses other parameters: store a new one.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords.
pub struct PasswordHasher {
    params: Params,
    running: Arc<Semaphore>,
    dummy: OnceCell<String>,
}

impl PasswordHasher {
    /// The hasher at OWASP's parameters.
    pub fn owasp() -> Self {
        let params = Params::new(OWASP_MEMORY_KIB, OWASP_ITERATIONS, OWASP_PARALLELISM, None)
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            params,
            running: Arc::new(Semaphore::new(cores)),
            dummy: OnceCell::new(),
        }
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let params = self.params.clone();
        self.blocking(move || {
            use argon2::PasswordHasher as _;
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            Self::argon2(params)
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| ApiError::internal(format!("hashing a password: {error}")))
        })
        .await?
    }

    /// Checks `password` against `stored`; with no stored hash (unknown account), checks it
    /// against a dummy hash so that the time taken is the same, and answers no.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verification, ApiError> {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => self.dummy_hash().await?.to_owned(),
        };
        let params = self.params.clone();
        let verification = self
            .blocking(move || {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return Verification {
                        matches: false,
                        needs_rehash: false,
                    };
                };
                let matches = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                let current = parsed.algorithm.as_str() == "argon2id"
                    && Params::try_from(&parsed).is_ok_and(|used| {
                        used.m_cost() == params.m_cost()
                            && used.t_cost() == params.t_cost()
                            && used.p_cost() == params.p_cost()
                    });
                Verification {
                    matches,
                    needs_rehash: matches && !current,
                }
            })
            .await?;
        Ok(Verification {
            matches: verification.matches && known,
            needs_rehash: verification.needs_rehash && known,
        })
    }

    /// Computes the dummy hash now, so the first sign-in with an unknown email does not take
    /// one hash longer than the rest (the boot calls this).
    pub async fn warm_up(&self) -> Result<(), ApiError> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<&str, ApiError> {
        self.dummy
            .get_or_try_init(|| self.hash(uuid::Uuid::new_v4().to_string()))
            .await
            .map(String::as_str)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|error| ApiError::internal(format!("password hashing closed: {error}")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| ApiError::internal(format!("password hashing task: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_at_owasp_parameters() {
        let hasher = PasswordHasher::owasp();
        let hash = hasher
            .hash("correct horse battery".to_owned())
            .await
            .expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let ok = hasher
            .verify("correct horse battery".to_owned(), Some(hash.clone()))
            .await
            .expect("verify");
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = hasher
            .verify("wrong".to_owned(), Some(hash))
            .await
            .expect("verify");
        assert!(!wrong.matches);
        let unknown = hasher
            .verify("anything".to_owned(), None)
            .await
            .expect("verify");
        assert!(!unknown.matches, "an unknown account never matches");
    }

    #[tokio::test]
    async fn a_hash_with_weaker_parameters_asks_to_be_rehashed() {
        use argon2::PasswordHasher as _;
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).expect("params"),
        );
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let old = weak
            .hash_password(b"long enough pass", &salt)
            .expect("hash")
            .to_string();
        let verification = PasswordHasher::owasp()
            .verify("long enough pass".to_owned(), Some(old))
            .await
            .expect("verify");
        assert_eq!(
            verification,
            Verification {
                matches: true,
                needs_rehash: true
            }
        );
    }
}
