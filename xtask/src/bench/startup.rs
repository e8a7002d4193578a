//! `cargo xtask bench startup`: time from exec to a 200 on /api/health/ready, on SQLite (fresh
//! data directory each run) and on PostgreSQL (fresh database each run, so migrations run
//! every time); idle RSS one second after ready; and SIGTERM-to-exit time when idle.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Server, machine, out_dir, percentile, recon_binary, rss_mib};

const RUNS: usize = 15;

struct Sample {
    ready_ms: f64,
    rss_mib: f64,
    exit_ms: f64,
}

fn ready(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /api/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    matches!(stream.read(&mut head), Ok(n) if n >= 12 && &head[9..12] == b"200")
}

fn one_run(env: &[(&str, String)]) -> anyhow::Result<Sample> {
    let dir = tempfile_dir()?;
    let mut command = Command::new(recon_binary());
    command
        .env_clear()
        .env("PORT", "0")
        .env("RECON_DATA_DIR", &dir)
        .current_dir(&dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let started = Instant::now();
    let mut server = Server::spawn(command)?;
    while !ready(server.address) {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("not ready within 30 s");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(1));
    let rss = rss_mib(server.pid()).unwrap_or(f64::NAN);
    let signalled = Instant::now();
    Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()?;
    let status = server.child.wait()?;
    let exit_ms = signalled.elapsed().as_secs_f64() * 1000.0;
    if !status.success() {
        bail!("recon exited with {status} after SIGTERM");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Sample {
        ready_ms,
        rss_mib: rss,
        exit_ms,
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "recon-bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_suffix()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn psql(sql: &str) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qAtc",
            sql,
        ])
        .status()
        .context("psql (the PostgreSQL client) is needed for the PostgreSQL startup benchmark")?;
    if !status.success() {
        bail!("psql failed: {sql}");
    }
    Ok(())
}

fn summarize(name: &str, samples: &[Sample]) -> serde_json::Value {
    let sorted = |pick: fn(&Sample) -> f64| {
        let mut values: Vec<f64> = samples.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let ready = sorted(|s| s.ready_ms);
    let rss = sorted(|s| s.rss_mib);
    let exit = sorted(|s| s.exit_ms);
    println!(
        "{name:<10} ready ms: median {:>6.1}  p90 {:>6.1}  max {:>6.1} | idle RSS MiB: median {:>5.1} | SIGTERM→exit ms: median {:>5.1}  max {:>5.1}",
        percentile(&ready, 0.5),
        percentile(&ready, 0.9),
        percentile(&ready, 1.0),
        percentile(&rss, 0.5),
        percentile(&exit, 0.5),
        percentile(&exit, 1.0)
    );
    serde_json::json!({
        "runs": samples.len(),
        "ready_ms": { "median": percentile(&ready, 0.5), "p90": percentile(&ready, 0.9), "max": percentile(&ready, 1.0) },
        "idle_rss_mib": { "median": percentile(&rss, 0.5), "max": percentile(&rss, 1.0) },
        "sigterm_to_exit_ms": { "median": percentile(&exit, 0.5), "max": percentile(&exit, 1.0) },
    })
}

pub(crate) fn run() -> anyhow::Result<()> {
    println!(
        "startup benchmark — {} runs per backend on {}",
        RUNS,
        machine()
    );
    let mut report = serde_json::Map::new();
    one_run(&[])?; // warm the page cache
    let sqlite: Vec<Sample> = (0..RUNS)
        .map(|_| one_run(&[]))
        .collect::<anyhow::Result<_>>()?;
    report.insert("sqlite".into(), summarize("sqlite", &sqlite));

    if TcpStream::connect_timeout(&"127.0.0.1:5432".parse()?, Duration::from_secs(1)).is_ok() {
        let mut postgres = Vec::new();
        for run in 0..RUNS {
            let name = format!("recon_bench_{}_{run}", std::process::id());
            psql(&format!("CREATE DATABASE {name}"))?;
            let sample = one_run(&[(
                "DATABASE_URL",
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
            )]);
            psql(&format!("DROP DATABASE {name} WITH (FORCE)"))?;
            postgres.push(sample?);
        }
        report.insert("postgres".into(), summarize("postgres", &postgres));
    } else {
        println!("postgres   skipped: nothing answers on 127.0.0.1:5432");
    }
    std::fs::write(
        out_dir().join("startup.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(())
}
