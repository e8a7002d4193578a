//! A small HTTP/1.1 load generator: N keep-alive connections, each sending the next request
//! as soon as the previous answer is read, for a fixed time. Counts answers and records
//! latencies; any non-200 or connection error is counted as an error.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// What one load run measured.
#[derive(Debug, Clone)]
pub(crate) struct LoadResult {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

impl LoadResult {
    pub(crate) fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

async fn connection(address: SocketAddr, path: String, until: Instant) -> (u64, u64, Vec<u32>) {
    let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::with_capacity(1 << 16));
    let Ok(stream) = tokio::net::TcpStream::connect(address).await else {
        return (0, 1, latencies);
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, driver)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return (0, 1, latencies);
    };
    tokio::spawn(driver);
    while Instant::now() < until {
        let request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, "localhost")
            .body(Empty::<Bytes>::new())
            .expect("static request");
        let started = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let body = response.into_body().collect().await;
                if status == 200 && body.is_ok() {
                    ok += 1;
                    latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    errors += 1;
                }
            }
            Err(_) => {
                errors += 1;
                break;
            }
        }
    }
    (ok, errors, latencies)
}

/// Runs `connections` connections against `path` for `duration` after `warmup`.
pub(crate) fn run(
    address: SocketAddr,
    path: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> LoadResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let warm_until = Instant::now() + warmup;
        let warm: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(connection(address, path.to_owned(), warm_until)))
            .collect();
        for task in warm {
            let _ = task.await;
        }
        let started = Instant::now();
        let until = started + duration;
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(connection(address, path.to_owned(), until)))
            .collect();
        let (mut requests, mut errors, mut latencies) = (0, 0, Vec::new());
        for task in tasks {
            if let Ok((ok, failed, mut samples)) = task.await {
                requests += ok;
                errors += failed;
                latencies.append(&mut samples);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let at = |p: f64| {
            latencies
                .get(((latencies.len().saturating_sub(1)) as f64 * p) as usize)
                .map_or(f64::NAN, |v| f64::from(*v))
        };
        LoadResult {
            requests,
            errors,
            seconds,
            p50_us: at(0.5),
            p99_us: at(0.99),
        }
    })
}
