//! The external validators the gate uses, and how it gets them: `check-jsonschema`,
//! `kubernetes-validate` and `openapi-spec-validator` (the API document) from PyPI, `promtool` extracted from Debian's prometheus package into
//! `target/tools/` (only the one binary: installing the package would also set up a server).
//! Outside CI a missing tool is reported and its check skipped; under `CI=true` it is installed.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::process::{available, run_cmd, workspace_root};

/// Where xtask keeps tools it fetched.
pub(crate) fn tools_dir() -> PathBuf {
    workspace_root().join("target").join("tools")
}

/// PATH with the tools folder and the user's pip scripts in front.
pub(crate) fn path_with_tools() -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    format!(
        "{}:{home}/.local/bin:{}",
        tools_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn available_on(path: &str, program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .env("PATH", path)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Makes sure each tool is there (installing under CI); returns which are usable.
pub(crate) fn ensure(in_ci: bool) -> anyhow::Result<Vec<&'static str>> {
    let path = path_with_tools();
    let mut usable = Vec::new();
    for (tool, package) in [
        ("check-jsonschema", "check-jsonschema"),
        ("kubernetes-validate", "kubernetes-validate"),
        ("openapi-spec-validator", "openapi-spec-validator"),
    ] {
        if !available_on(&path, tool) && in_ci {
            run_cmd(
                "python3",
                &[
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    package,
                ],
            )
            .with_context(|| format!("installing {package} from PyPI"))?;
        }
        if available_on(&path, tool) {
            usable.push(tool);
        }
    }
    if !available_on(&path, "promtool") && in_ci {
        install_promtool()?;
    }
    if available_on(&path, "promtool") {
        usable.push("promtool");
    }
    Ok(usable)
}

fn install_promtool() -> anyhow::Result<()> {
    let dir = tools_dir();
    std::fs::create_dir_all(&dir)?;
    let download = dir.join("download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)?;
    // apt-get download needs package lists; update them once if the lookup fails.
    let fetch = |dir: &PathBuf| {
        Command::new("apt-get")
            .args(["download", "prometheus"])
            .current_dir(dir)
            .status()
    };
    if !fetch(&download).is_ok_and(|s| s.success()) {
        run_cmd("apt-get", &["update", "-qq"])?;
        if !fetch(&download)?.success() {
            bail!("apt-get download prometheus failed");
        }
    }
    let deb = std::fs::read_dir(&download)?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"))
        .context("no .deb downloaded")?;
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' ./usr/bin/promtool && mv '{}/usr/bin/promtool' '{}/promtool'",
        deb.display(),
        download.display(),
        download.display(),
        dir.display()
    );
    if !Command::new("sh").args(["-c", &script]).status()?.success() {
        bail!("could not extract promtool from {}", deb.display());
    }
    if !available(&dir.join("promtool").display().to_string()) {
        bail!("promtool was extracted but does not run");
    }
    Ok(())
}
