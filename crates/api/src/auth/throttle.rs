//! Failed-login limits, per account and per client address, in fixed windows.
//!
//! Before a password is checked, both counters are read; at or over its limit, the login is
//! answered 429 with `Retry-After` (the time left in the window) whether or not the account
//! exists, so the limit reveals nothing either. A failure adds one to both counters; a success
//! clears the account's. The counters live in the shared cache: Redis when it is up (limits
//! hold across replicas), this process's memory when it is not (limits hold per replica, which
//! the cache logs when it falls back). Account keys are a hash of the email, so Redis never
//! holds addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use recon_storage::cache::Cache;
use sha2::{Digest, Sha256};

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Failures per account per window.
    pub per_account: u64,
    /// Failures per client address per window (higher: offices share addresses).
    pub per_address: u64,
    /// The window.
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// The failed-login counters.
pub struct LoginThrottle {
    cache: Arc<Cache>,
    limits: ThrottleLimits,
}

fn account_key(email: &str) -> String {
    let digest = Sha256::digest(recon_domain::credentials::normalize_email(email).as_bytes());
    format!(
        "recon:login-failures:account:{}",
        hex::encode(&digest[..16])
    )
}

fn address_key(address: IpAddr) -> String {
    format!("recon:login-failures:address:{address}")
}

impl LoginThrottle {
    /// Counters in `cache`.
    pub fn new(cache: Arc<Cache>, limits: ThrottleLimits) -> Self {
        Self { cache, limits }
    }

    /// `Err(seconds)` when `email` or `address` has used up its failures for now.
    pub async fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), u64> {
        let mut wait = None;
        let mut consider = |counter: Option<(u64, Duration)>, limit: u64| {
            if let Some((count, left)) = counter
                && count >= limit
            {
                let seconds = left.as_secs().max(1);
                wait = Some(wait.map_or(seconds, |w: u64| w.max(seconds)));
            }
        };
        consider(
            self.cache.counter(&account_key(email)).await,
            self.limits.per_account,
        );
        if let Some(address) = address {
            consider(
                self.cache.counter(&address_key(address)).await,
                self.limits.per_address,
            );
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts one failed login.
    pub async fn record_failure(&self, email: &str, address: Option<IpAddr>) {
        self.cache
            .incr_in_window(&account_key(email), self.limits.window)
            .await;
        if let Some(address) = address {
            self.cache
                .incr_in_window(&address_key(address), self.limits.window)
                .await;
        }
    }

    /// Forgets the account's failures after a successful login.
    pub async fn clear_account(&self, email: &str) {
        self.cache.remove(&account_key(email)).await;
    }
}
