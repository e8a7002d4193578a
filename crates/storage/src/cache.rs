//! A small key/value cache with TTLs and windowed counters (the building block of rate limits),
//! served by Redis when it is up and by process memory when it is not.
//!
//! The fallback keeps the service working with one honest difference: while degraded, entries
//! and counters are per replica, not shared. A Redis error on one call falls back for that call
//! only; the link's supervisor decides when Redis counts as down. The memory side holds at most
//! [`MEMORY_CAPACITY`] entries: when full it first drops expired entries, then the entry closest
//! to expiry, so a flood of keys cannot grow the process without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::redis::RedisLink;

/// Entries the in-memory side keeps at most.
pub const MEMORY_CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    expires_at: Instant,
}

/// Which side answered a cache call, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    /// Shared across replicas.
    Redis,
    /// This process only.
    Memory,
}

impl CacheBackend {
    fn label(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Memory => "memory",
        }
    }
}

/// The cache. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Cache {
    redis: Option<Arc<RedisLink>>,
    memory: Mutex<HashMap<String, Entry>>,
}

impl Cache {
    /// A cache that uses `redis` while it is up, memory otherwise.
    pub fn new(redis: Option<Arc<RedisLink>>) -> Self {
        for backend in [CacheBackend::Redis, CacheBackend::Memory] {
            metrics::counter!("recon_cache_hits_total", "backend" => backend.label()).absolute(0);
            metrics::counter!("recon_cache_misses_total", "backend" => backend.label()).absolute(0);
        }
        Self {
            redis,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The memory side; a panic while it was held leaves plain data, so a poisoned lock is
    /// taken over rather than propagated.
    fn memory(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn live_redis(&self) -> Option<&RedisLink> {
        self.redis.as_deref().filter(|link| link.is_up())
    }

    /// The value under `key`, if present and not expired.
    pub async fn get(&self, key: &str) -> (Option<String>, CacheBackend) {
        let (value, backend) = match self.live_redis() {
            Some(link) => match link.get(key).await {
                Ok(value) => (value, CacheBackend::Redis),
                Err(error) => {
                    tracing::debug!(%error, "cache get fell back to memory");
                    (self.memory_get(key), CacheBackend::Memory)
                }
            },
            None => (self.memory_get(key), CacheBackend::Memory),
        };
        let counter = if value.is_some() {
            "recon_cache_hits_total"
        } else {
            "recon_cache_misses_total"
        };
        metrics::counter!(counter, "backend" => backend.label()).increment(1);
        (value, backend)
    }

    /// Stores `value` under `key` for `ttl`.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> CacheBackend {
        if let Some(link) = self.live_redis() {
            match link.set(key, value, ttl).await {
                Ok(()) => return CacheBackend::Redis,
                Err(error) => tracing::debug!(%error, "cache set fell back to memory"),
            }
        }
        self.memory_insert(key, value.to_owned(), Instant::now() + ttl);
        CacheBackend::Memory
    }

    /// Adds one to the counter under `key`, which lives `window` from its first increment, and
    /// returns the new count (a fixed-window rate-limit counter).
    pub async fn incr_in_window(&self, key: &str, window: Duration) -> (u64, CacheBackend) {
        if let Some(link) = self.live_redis() {
            match link.incr_in_window(key, window).await {
                Ok(count) => return (count, CacheBackend::Redis),
                Err(error) => tracing::debug!(%error, "cache incr fell back to memory"),
            }
        }
        let now = Instant::now();
        let mut memory = self.memory();
        let count = match memory.get_mut(key).filter(|entry| entry.expires_at > now) {
            Some(entry) => {
                let next = entry.value.parse::<u64>().unwrap_or(0) + 1;
                entry.value = next.to_string();
                next
            }
            None => {
                drop(memory);
                self.memory_insert(key, "1".to_owned(), now + window);
                1
            }
        };
        (count, CacheBackend::Memory)
    }

    /// A windowed counter's value and the time left in its window; `None` when it is unset or
    /// expired.
    pub async fn counter(&self, key: &str) -> Option<(u64, Duration)> {
        if let Some(link) = self.live_redis() {
            match link.counter(key).await {
                Ok(counter) => return counter,
                Err(error) => tracing::debug!(%error, "cache counter fell back to memory"),
            }
        }
        let now = Instant::now();
        let memory = self.memory();
        memory
            .get(key)
            .filter(|entry| entry.expires_at > now)
            .and_then(|entry| {
                let count = entry.value.parse::<u64>().ok()?;
                Some((count, entry.expires_at - now))
            })
    }

    /// Removes `key` from both sides.
    pub async fn remove(&self, key: &str) {
        if let Some(link) = self.live_redis()
            && let Err(error) = link.remove(key).await
        {
            tracing::debug!(%error, "cache remove failed on redis");
        }
        self.memory().remove(key);
    }

    fn memory_get(&self, key: &str) -> Option<String> {
        let memory = self.memory();
        memory
            .get(key)
            .filter(|entry| entry.expires_at > Instant::now())
            .map(|entry| entry.value.clone())
    }

    fn memory_insert(&self, key: &str, value: String, expires_at: Instant) {
        let mut memory = self.memory();
        if memory.len() >= MEMORY_CAPACITY && !memory.contains_key(key) {
            let now = Instant::now();
            memory.retain(|_, entry| entry.expires_at > now);
            if memory.len() >= MEMORY_CAPACITY {
                let soonest = memory
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires_at)
                    .map(|(key, _)| key.clone());
                if let Some(soonest) = soonest {
                    memory.remove(&soonest);
                }
            }
        }
        memory.insert(key.to_owned(), Entry { value, expires_at });
    }

    /// Entries held in memory now (for tests of the capacity bound).
    pub fn memory_len(&self) -> usize {
        self.memory().len()
    }
}
