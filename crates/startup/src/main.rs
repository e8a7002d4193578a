//! The `recon` binary. All the work is in the `recon_startup` library so tests can reach it.

use std::process::ExitCode;

/// mimalloc keeps freed memory for reuse where glibc returns large blocks to the kernel, which
/// then zeroes fresh pages on every touch: that was 18% of a 1M-row reconciliation's profile
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    recon_startup::main()
}
