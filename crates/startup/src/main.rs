//! The `recon` binary. All the work is in the `recon_startup` library so tests can reach it.

use std::process::ExitCode;

fn main() -> ExitCode {
    recon_startup::main()
}
