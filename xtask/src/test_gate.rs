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

    run_cmd_with_env(
        "cargo",
        &["test", "--workspace", "--locked", "--no-fail-fast"],
        &with_path,
    )?;
    eprintln!("xtask test: all checks passed");
    Ok(())
}
