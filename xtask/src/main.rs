//! Project automation, reached as `cargo xtask …` (see .cargo/config.toml):
//!
//! - `cargo xtask test` — the whole gate CI runs: formatting, clippy with `-D warnings`, the
//!   deployment-file validators, and every test. PostgreSQL and Redis are used when they answer
//!   on their default local ports; under `CI=true` they must.
//! - `cargo xtask bench startup|http|engine|all` — the benchmarks behind docs/benchmarks.md.

// xtask is a command-line tool: its reports go to stdout.
#![allow(clippy::print_stdout)]

mod bench;
mod process;
mod test_gate;
mod tools;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("test") => test_gate::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("bare-server") => bench::http::bare_server(),
        _ => {
            eprintln!("usage: cargo xtask test | cargo xtask bench <startup|http|engine|all>");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
