//! The `recon` binary. All the work is in the `recon_startup` library so tests can reach it.

use std::process::ExitCode;

/// mimalloc keeps freed memory for reuse where glibc returns large blocks to the kernel, which
/// then zeroes fresh pages on every touch: that was 18% of a 1M-row reconciliation's profile
/// (docs/benchmarks.md). (Blocks of tens of megabytes, such as a million-key table, mimalloc
/// returns at once too.) Its 2.x line (the crate's `v2` feature) held 75 MiB less than 3.x at
/// the peak of a 1M × 1M exact-key run, and spent half the system time faulting memory in.
/// It does not ask for transparent huge pages (the crate's `no_thp` feature): a huge page is a
/// 2 MiB block the kernel must find free and zero whole, which on a VM that hands freed memory
/// back to its host means memory the host must back again, and run after another program,
/// recon's system time was twice as large with them (0.585 against 0.29 s, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    recon_startup::main()
}
