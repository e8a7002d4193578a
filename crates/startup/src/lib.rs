//! The `recon` binary's library: the command line, configuration, telemetry, the staged boot
//! and graceful shutdown. `main` here is the whole program; `src/main.rs` only calls it.
//!
//! Every exit says why: a failure writes its reason to stderr and ends with one of the
//! [`ExitReason`] codes; a clean stop logs `shutdown complete` with the signal that caused it.

pub mod audit;
pub mod boot;
pub mod cli;
pub mod config;
pub mod healthcheck;
pub mod reconcile;
pub mod secrets;
pub mod signals;
pub mod telemetry;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Config;

/// Crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit of the build.
pub const COMMIT: &str = env!("RECON_GIT_COMMIT");
/// What `recon --version` prints after the name.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RECON_GIT_COMMIT"),
    ")"
);

/// The process exit codes, documented in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// 0: stopped by a signal after a graceful shutdown.
    Clean,
    /// 1: an unexpected failure (the log says which).
    Failure,
    /// 2: the command line does not parse (clap).
    Usage,
    /// 65: migrations failed or the schema is not what this binary expects.
    Schema,
    /// 69: the database did not answer within the configured attempts.
    DatabaseUnavailable,
    /// 70: a panic (a bug); logged with its location.
    Panic,
    /// 71: the listening socket could not be bound.
    Bind,
    /// 78: the configuration is invalid; every problem is listed.
    Config,
    /// 130: a second stop signal forced an immediate exit.
    Forced,
}

impl ExitReason {
    /// The numeric code.
    pub const fn code(self) -> i32 {
        match self {
            Self::Clean => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Schema => 65,
            Self::DatabaseUnavailable => 69,
            Self::Panic => 70,
            Self::Bind => 71,
            Self::Config => 78,
            Self::Forced => 130,
        }
    }

    fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code() as u8)
    }
}

/// The program.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { timeout_ms }) => {
            healthcheck::run(&cli.settings, Duration::from_millis(timeout_ms))
        }
        Some(Command::Reconcile(args)) => reconcile::run(&args),
        Some(Command::Audit {
            command: cli::AuditCommand::Verify,
        }) => audit::verify(&cli.settings),
        Some(Command::Serve) | None => serve(&cli.settings),
    }
}

fn serve(settings: &cli::Settings) -> ExitCode {
    let format =
        config::parse_log_format(settings.log_format.as_deref()).unwrap_or(config::LogFormat::Text);
    let log_problem = telemetry::init(format);
    telemetry::install_panic_hook();

    let config = Config::from_settings(settings);
    let mut problems = config.as_ref().err().cloned().unwrap_or_default();
    if let Some(message) = log_problem {
        problems.push(config::Problem {
            variable: "RUST_LOG",
            message,
        });
    }
    if !problems.is_empty() {
        for problem in &problems {
            tracing::error!(variable = problem.variable, "{problem}");
        }
        tracing::error!(
            problems = problems.len(),
            exit_code = ExitReason::Config.code(),
            "invalid configuration ({} problem(s) above); not starting",
            problems.len()
        );
        return ExitReason::Config.exit_code();
    }
    let Ok(config) = config else {
        return ExitReason::Config.exit_code();
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitReason::Failure.exit_code();
        }
    };
    let outcome = runtime.block_on(boot::run(config));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(stopped) => {
            tracing::info!(reason = %stopped.reason, exit_code = 0, "shutdown complete");
            ExitReason::Clean.exit_code()
        }
        Err(fatal) => {
            let reason = fatal.exit_reason();
            tracing::error!(exit_code = reason.code(), "{fatal}");
            reason.exit_code()
        }
    }
}
