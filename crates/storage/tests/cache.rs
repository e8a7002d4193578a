//! The cache: Redis when it is up, memory when it is not, with the same behaviour either way.

use std::sync::Arc;
use std::time::Duration;

use recon_storage::cache::{Cache, CacheBackend, MEMORY_CAPACITY};
use recon_storage::redis::{RedisLink, RedisSettings};

fn settings(url: String) -> RedisSettings {
    RedisSettings {
        url,
        connect_timeout: Duration::from_millis(500),
        op_timeout: Duration::from_millis(500),
        pool_size: 4,
        check_interval: Duration::from_millis(100),
    }
}

async fn exercise(cache: &Cache, expected: CacheBackend) {
    let key = format!("recon-test:{}", uuid_like());
    assert_eq!(cache.get(&key).await, (None, expected));
    assert_eq!(
        cache.set(&key, "v1", Duration::from_secs(30)).await,
        expected
    );
    assert_eq!(cache.get(&key).await, (Some("v1".to_owned()), expected));
    let counter = format!("{key}:count");
    for n in 1..=3 {
        assert_eq!(
            cache
                .incr_in_window(&counter, Duration::from_secs(30))
                .await,
            (n, expected)
        );
    }
    let short = format!("{key}:short");
    cache
        .set(&short, "gone soon", Duration::from_millis(50))
        .await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        cache.get(&short).await.0,
        None,
        "expired entries are not returned"
    );
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

#[tokio::test]
async fn without_redis_the_cache_works_in_memory() {
    exercise(&Cache::new(None), CacheBackend::Memory).await;
}

#[tokio::test]
async fn with_redis_up_the_cache_is_shared_through_redis() {
    let Some(url) = recon_test_support::redis_url() else {
        return;
    };
    let link = Arc::new(RedisLink::new(settings(url)).expect("link"));
    link.probe().await.expect("redis answers");
    link.set_up(true);
    let cache = Cache::new(Some(Arc::clone(&link)));
    exercise(&cache, CacheBackend::Redis).await;
    // A second cache on the same Redis sees the first one's entries: state is shared.
    let other = Cache::new(Some(link));
    cache
        .set("recon-test:shared", "yes", Duration::from_secs(5))
        .await;
    assert_eq!(
        other.get("recon-test:shared").await,
        (Some("yes".to_owned()), CacheBackend::Redis)
    );
}

#[tokio::test]
async fn with_redis_unreachable_the_cache_falls_back_to_memory() {
    let url = format!("redis://127.0.0.1:{}", recon_test_support::closed_port());
    let link = Arc::new(RedisLink::new(settings(url)).expect("link"));
    assert!(link.probe().await.is_err());
    // Even when the link still believes Redis is up, a failing call falls back for that call.
    link.set_up(true);
    let cache = Cache::new(Some(link));
    exercise(&cache, CacheBackend::Memory).await;
}

#[tokio::test]
async fn the_memory_side_never_grows_past_its_capacity() {
    let cache = Cache::new(None);
    for n in 0..(MEMORY_CAPACITY + 500) {
        cache
            .set(&format!("k{n}"), "v", Duration::from_secs(60))
            .await;
    }
    assert_eq!(cache.memory_len(), MEMORY_CAPACITY);
    assert_eq!(
        cache
            .get(&format!("k{}", MEMORY_CAPACITY + 499))
            .await
            .0
            .as_deref(),
        Some("v"),
        "the newest entry is kept"
    );
}

#[tokio::test]
async fn the_supervisor_notices_redis_coming_and_going() {
    let Some(url) = recon_test_support::redis_url() else {
        return;
    };
    let target: std::net::SocketAddr = url
        .trim_start_matches("redis://")
        .parse()
        .expect("host:port");
    let proxy = recon_test_support::proxy::TcpProxy::start(target, false);
    let link =
        Arc::new(RedisLink::new(settings(format!("redis://{}", proxy.address()))).expect("link"));
    let shutdown = tokio_util_token();
    let supervisor = tokio::spawn(Arc::clone(&link).supervise(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!link.is_up(), "down while the proxy is cut");
    proxy.restore();
    wait_until(|| link.is_up()).await;
    proxy.cut();
    wait_until(|| !link.is_up()).await;
    shutdown.cancel();
    supervisor.await.expect("supervisor stops");
}

fn tokio_util_token() -> tokio_util::sync::CancellationToken {
    tokio_util::sync::CancellationToken::new()
}

async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..100 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 5 s");
}
