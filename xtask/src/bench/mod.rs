//! `cargo xtask bench …`: builds release binaries, runs the benchmark in a release build of
//! xtask itself (a debug load generator would measure itself), prints a table and writes JSON
//! under `bench-out/`. docs/benchmarks.md records the figures with the machine and command.

mod engine;
pub(crate) mod http;
mod load;
pub(crate) mod startup;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::process::{run_cmd, workspace_root};

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let which = args.first().map(String::as_str).unwrap_or("all");
    // Re-exec in release unless we already are.
    if cfg!(debug_assertions) {
        run_cmd(
            "cargo",
            &[
                "build",
                "--release",
                "--quiet",
                "--package",
                "recon-startup",
                "--package",
                "xtask",
            ],
        )?;
        let status = Command::new(workspace_root().join("target/release/xtask"))
            .arg("bench")
            .args(args)
            .current_dir(workspace_root())
            .status()
            .context("run the release xtask")?;
        if !status.success() {
            bail!("benchmark failed ({status})");
        }
        return Ok(());
    }
    std::fs::create_dir_all(out_dir())?;
    match which {
        "startup" => startup::run(),
        "http" => http::run(),
        "engine" => engine::run(),
        "all" => {
            startup::run()?;
            http::run()?;
            engine::run()
        }
        other => bail!("unknown benchmark {other:?}; use startup, http, engine or all"),
    }
}

/// Where benchmark results go.
pub(crate) fn out_dir() -> PathBuf {
    workspace_root().join("bench-out")
}

/// The release `recon` binary.
pub(crate) fn recon_binary() -> PathBuf {
    workspace_root().join("target/release/recon")
}

/// A child whose stderr is scanned for `listening on http://ADDR`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: SocketAddr,
}

impl Server {
    /// Spawns `command` and waits (up to 30 s) for its listening line.
    pub(crate) fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()?;
        let stderr = child.stderr.take().context("stderr")?;
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.split("listening on http://").nth(1) {
                    let text = rest
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .unwrap_or_default();
                    if let Ok(address) = text.parse::<SocketAddr>() {
                        let _ = found.send(address);
                        sent = true;
                    }
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(30))
            .context("server did not report its address")?;
        Ok(Self { child, address })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of `pid` in MiB, from /proc.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// One-line description of the machine for the report.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {memory:.0} GiB RAM")
}
