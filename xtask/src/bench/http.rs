//! `cargo xtask bench http`: throughput of GET /api/health/live through recon's full middleware
//! stack (request id, span, metrics, routing) against a bare axum route serving "ok", built
//! into this benchmark (`xtask bare-server`), both release builds, measured in the same run with
//! the same load generator, in alternating rounds so drift hits both alike.

use std::process::Command;
use std::time::Duration;

use super::load::{self, LoadResult};
use super::{Server, machine, out_dir, recon_binary};

const CONNECTIONS: usize = 32;
const ROUNDS: usize = 3;
const WARMUP: Duration = Duration::from_secs(1);
const DURATION: Duration = Duration::from_secs(5);

/// The bare server: one axum route, no middleware. Prints its address like recon does.
pub(crate) fn bare_server() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let router = axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, router).await?;
        Ok(())
    })
}

fn report(name: &str, result: &LoadResult) {
    println!(
        "  {name:<6} {:>9.0} req/s  ({} requests, {} errors, p50 {:.0} µs, p99 {:.0} µs)",
        result.throughput(),
        result.requests,
        result.errors,
        result.p50_us,
        result.p99_us
    );
}

pub(crate) fn run() -> anyhow::Result<()> {
    println!(
        "http benchmark — {CONNECTIONS} keep-alive connections, {ROUNDS} rounds of {}s on {}",
        DURATION.as_secs(),
        machine()
    );
    let data = std::env::temp_dir().join(format!("recon-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let mut recon = Command::new(recon_binary());
    recon
        .env_clear()
        .env("PORT", "0")
        .env("RECON_DATA_DIR", &data)
        .current_dir(&data);
    let recon = Server::spawn(recon)?;
    let mut bare = Command::new(std::env::current_exe()?);
    bare.arg("bare-server");
    let bare = Server::spawn(bare)?;

    let (mut recon_results, mut bare_results) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        println!("round {round}");
        let b = load::run(bare.address, "/ok", CONNECTIONS, WARMUP, DURATION);
        report("bare", &b);
        let r = load::run(
            recon.address,
            "/api/health/live",
            CONNECTIONS,
            WARMUP,
            DURATION,
        );
        report("recon", &r);
        bare_results.push(b);
        recon_results.push(r);
    }
    let median = |results: &[LoadResult]| {
        let mut values: Vec<f64> = results.iter().map(LoadResult::throughput).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (recon_rps, bare_rps) = (median(&recon_results), median(&bare_results));
    let errors: u64 = recon_results
        .iter()
        .chain(&bare_results)
        .map(|r| r.errors)
        .sum();
    println!(
        "median: recon {recon_rps:.0} req/s, bare {bare_rps:.0} req/s, ratio {:.3} (target ≥ 0.9); errors {errors}",
        recon_rps / bare_rps
    );
    let report = serde_json::json!({
        "connections": CONNECTIONS,
        "rounds": ROUNDS,
        "seconds_per_round": DURATION.as_secs(),
        "recon_live_rps": recon_results.iter().map(LoadResult::throughput).collect::<Vec<_>>(),
        "bare_ok_rps": bare_results.iter().map(LoadResult::throughput).collect::<Vec<_>>(),
        "median_ratio": recon_rps / bare_rps,
        "errors": errors,
    });
    std::fs::write(
        out_dir().join("http.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
