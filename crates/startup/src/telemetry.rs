//! Logging setup and the panic hook.
//!
//! One subscriber, installed once: an `EnvFilter` from RUST_LOG defaulting to `info`, writing
//! text or JSON (one object per line) to stderr. The writer is blocking on purpose: a
//! non-blocking writer drops lines when its buffer fills and loses the tail at exit unless its
//! guard outlives `main`, and the last lines before an exit are the ones that explain it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Returns a problem with RUST_LOG, if any (then `info` is used).
pub fn init(format: LogFormat) -> Option<String> {
    let (filter, problem) = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, None),
            Err(error) => (
                EnvFilter::new("info"),
                Some(format!(
                    "{directives:?} is not a valid filter ({error}); use e.g. info or recon=debug,info"
                )),
            ),
        },
        _ => (EnvFilter::new("info"), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    if let Err(error) = installed {
        eprintln!("recon: logging was already initialised: {error}");
    }
    problem
}

/// Logs any panic through tracing, with its location, then ends the process with
/// [`crate::ExitReason::Panic`]'s code: a panic means an invariant broke, and an orchestrator
/// restarting a clean process is safer than serving on from an unknown state.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        tracing::error!(panic.message = %message, panic.location = %location, backtrace = %backtrace, "panic; exiting");
        std::process::exit(crate::ExitReason::Panic.code());
    }));
}
