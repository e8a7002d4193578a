//! Running commands from xtask: echo each one, fail with its name when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `program args…` in the workspace root, streaming its output; an error names it.
pub(crate) fn run_cmd(program: &str, args: &[&str]) -> anyhow::Result<()> {
    run_cmd_with_env(program, args, &[])
}

/// Like [`run_cmd`] with extra environment variables.
pub(crate) fn run_cmd_with_env(
    program: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether `program` can be run (found on PATH).
pub(crate) fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}
