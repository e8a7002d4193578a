//! `cargo xtask test`: the one command behind README's "run the tests" and `.ci/run`.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::bail;

use crate::process::{run_cmd, run_cmd_with_env};
use crate::tools;

fn answers(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .is_ok_and(|address| TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok())
}

pub(crate) fn run() -> anyhow::Result<()> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");

    run_cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    run_cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Documentation builds without warnings: a link to an item that was renamed or removed
    // fails here rather than rotting quietly.
    run_cmd_with_env(
        "cargo",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings".to_owned())],
    )?;

    let postgres = answers("127.0.0.1:5432");
    let redis = answers("127.0.0.1:6379");
    eprintln!(
        "services: PostgreSQL {}, Redis {}",
        if postgres {
            "answers on 127.0.0.1:5432"
        } else {
            "NOT reachable"
        },
        if redis {
            "answers on 127.0.0.1:6379"
        } else {
            "NOT reachable"
        }
    );
    if in_ci && !(postgres && redis) {
        bail!(
            "CI=true requires PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (the env skill lists the commands that start them)"
        );
    }
    if !(postgres && redis) {
        eprintln!(
            "note: suites that need the missing service(s) will say so and skip; CI=true makes that a failure"
        );
    }

    let usable = tools::ensure(in_ci)?;
    let path = tools::path_with_tools();
    let with_path = [("PATH", path.clone())];
    if usable.contains(&"check-jsonschema") {
        run_cmd_with_env(
            "check-jsonschema",
            &["--builtin-schema", "vendor.compose-spec", "compose.yaml"],
            &with_path,
        )?;
    } else {
        eprintln!(
            "note: check-jsonschema not installed; compose.yaml schema check skipped (pip install check-jsonschema)"
        );
    }
    if usable.contains(&"kubernetes-validate") {
        run_cmd_with_env(
            "kubernetes-validate",
            &[
                "--strict",
                "docker/k8s/deployment.yaml",
                "docker/k8s/service.yaml",
                "docker/k8s/prometheus-scrape.yaml",
            ],
            &with_path,
        )?;
    } else {
        eprintln!(
            "note: kubernetes-validate not installed; manifest schema check skipped (pip install kubernetes-validate)"
        );
    }
    if !usable.contains(&"promtool") {
        eprintln!("note: promtool not found; the /metrics lint test will skip (CI installs it)");
    }

    let (passed, failed) = run_tests(&path)?;
    if in_ci {
        fuzz_smoke()?;
    }
    eprintln!("xtask test: all checks passed");
    // The closing line CI reads: every test of every suite, summed.
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Under CI: a 30-second run of the reader fuzz target, when a nightly toolchain is installed
/// (cargo-fuzz needs one, and no toolchain can be fetched here). Without nightly it says so and
/// goes on: the same property runs on stable in the test suite.
fn fuzz_smoke() -> anyhow::Result<()> {
    let nightly = std::process::Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        });
    if !nightly {
        eprintln!(
            "note: no nightly toolchain; the cargo-fuzz smoke run is skipped (tests/readers_never_panic.rs covers the property on stable)"
        );
        return Ok(());
    }
    let has_fuzz = std::process::Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        run_cmd("cargo", &["install", "--locked", "--quiet", "cargo-fuzz"])?;
    }
    let root = crate::process::workspace_root();
    eprintln!("$ cargo +nightly fuzz run readers -- -max_total_time=30 (in crates/domain)");
    // libFuzzer reports every new input; keep that in a file and show its summary line.
    let log_path = root.join("target").join("fuzz-readers.log");
    let log = std::fs::File::create(&log_path)?;
    let status = std::process::Command::new("cargo")
        .args([
            "+nightly",
            "fuzz",
            "run",
            "readers",
            "--",
            "-max_total_time=30",
            "-rss_limit_mb=2048",
        ])
        .current_dir(root.join("crates/domain"))
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let summary = text
        .lines()
        .rev()
        .find(|l| l.starts_with("Done "))
        .unwrap_or("no summary line");
    eprintln!(
        "fuzz (readers): {summary}; full log in {}",
        log_path.display()
    );
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        bail!("the reader fuzz target found a failure; see crates/domain/fuzz/artifacts/readers/");
    }
    Ok(())
}

/// Runs the whole suite, streaming its output, and sums the `test result:` lines.
fn run_tests(path: &str) -> anyhow::Result<(u64, u64)> {
    use std::io::BufRead;
    let args = ["test", "--workspace", "--locked", "--no-fail-fast"];
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = std::process::Command::new("cargo")
        .args(args)
        .env("PATH", path)
        .current_dir(crate::process::workspace_root())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from cargo test"))?;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |label: &str| {
                rest.split(';')
                    .find_map(|part| {
                        part.trim()
                            .trim_start_matches("ok. ")
                            .trim_start_matches("FAILED. ")
                            .strip_suffix(label)
                    })
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        println!("tests: {passed} passed, {failed} failed");
        bail!("cargo test failed ({status})");
    }
    Ok((passed, failed))
}
