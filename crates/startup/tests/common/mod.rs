//! A harness for tests of the real `recon` binary: start it with exactly the environment a test
//! gives (nothing inherited but PATH), read its log lines as they come, find its port from the
//! `listening on` line, send it signals, and collect its exit.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use recon_test_support::http;

/// A running `recon` process.
pub struct Recon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub address: Option<SocketAddr>,
}

impl Recon {
    /// Starts `recon` in `dir` with `env` only (plus PATH), port 0 unless `env` sets PORT.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(dir, env, &[])
    }

    /// Like [`Recon::start`] with extra command-line arguments.
    pub fn start_with_args(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_recon"));
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !env.iter().any(|(k, _)| *k == "PORT") {
            command.env("PORT", "0");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn recon");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().expect("log lock").push(line);
                }
            });
        }
        Self {
            child,
            lines,
            address: None,
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().expect("log lock").clone()
    }

    /// Everything logged so far, as one text.
    pub fn log_text(&self) -> String {
        self.log().join("\n")
    }

    /// Waits until a log line contains `needle`; panics with the log after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log().into_iter().find(|line| line.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} within {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for `listening on http://…` and remembers the address.
    pub fn wait_listening(&mut self) -> SocketAddr {
        let line = self.wait_for_log("listening on http://", Duration::from_secs(20));
        let address = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').next())
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the address from {line:?}"));
        self.address = Some(address);
        address
    }

    /// The bound address (after [`Recon::wait_listening`]).
    pub fn addr(&self) -> SocketAddr {
        self.address.expect("wait_listening first")
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> http::Response {
        http::get(self.addr(), path)
            .unwrap_or_else(|error| panic!("GET {path}: {error}; log:\n{}", self.log_text()))
    }

    /// Polls `path` until it answers `status`, within `timeout`.
    pub fn wait_status(&self, path: &str, status: u16, timeout: Duration) -> http::Response {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(response) = http::get(self.addr(), path)
                && response.status == status
            {
                return response;
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not answer {status} within {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (TERM, INT, KILL).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "recon did not exit within {timeout:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Recon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that no log line reports a Rust panic through the default hook.
pub fn assert_no_raw_panic(log: &str) {
    assert!(!log.contains("panicked at"), "a raw panic escaped:\n{log}");
}
