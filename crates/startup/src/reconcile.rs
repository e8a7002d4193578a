//! `recon reconcile`: runs the engine on two files and writes the results to a directory.
//!
//! This is the only code that opens files for the engine. It reads both sources in parallel,
//! runs the rules, and writes matches.csv, unmatched_left.csv, unmatched_right.csv, breaks.csv
//! and summary.json, each first to a `.partial` file renamed when complete, so an interrupted
//! run never leaves a half-written result that looks whole. On a terminal a progress bar shows
//! each phase; otherwise nothing is drawn.
//!
//! Every failure is one line on stderr naming the file (and line and column for bad values)
//! and what to do, then one of [`CliExit`]'s codes.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use recon_domain::engine::{Observer, reconcile};
use recon_domain::export;
use recon_domain::mapping::{OnError, SourceSpec};
use recon_domain::reader::{self, Dataset, ReadError};
use recon_domain::rules::{CompiledRules, RulesError, RulesFile};

/// Arguments of `recon reconcile`.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// The left source (e.g. a bank statement), CSV or JSON Lines as the rules file says.
    #[arg(long, value_name = "FILE")]
    pub left: PathBuf,
    /// The right source (e.g. the ledger).
    #[arg(long, value_name = "FILE")]
    pub right: PathBuf,
    /// The rules file, TOML (.toml) or JSON (.json): both mappings and the rules.
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    /// Directory for the results (created if needed; existing result files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Override the left source's CSV delimiter.
    #[arg(long, value_name = "CHAR")]
    pub left_delimiter: Option<char>,
    /// Override the right source's CSV delimiter.
    #[arg(long, value_name = "CHAR")]
    pub right_delimiter: Option<char>,
    /// Override both sources' policy for rows that do not parse.
    #[arg(long, value_enum)]
    pub on_error: Option<OnErrorArg>,
    /// Draw no progress bar, even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

/// `--on-error` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnErrorArg {
    /// Stop at the first bad row.
    Fail,
    /// Report bad rows in summary.json and leave them out.
    Skip,
}

/// Exit codes of `recon reconcile` (README.md lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliExit {
    /// 0: results written.
    Done = 0,
    /// 65: an input file holds data that does not parse (the message names line and column).
    BadData = 65,
    /// 66: an input file cannot be opened.
    NoInput = 66,
    /// 73: the output directory or a result file cannot be written.
    CannotWrite = 73,
    /// 78: the rules file is not valid.
    BadRules = 78,
}

struct Failure {
    exit: CliExit,
    message: String,
}

fn fail(exit: CliExit, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
    }
}

/// Runs the command.
pub fn run(args: &ReconcileArgs) -> ExitCode {
    match execute(args) {
        Ok(line) => {
            #[allow(clippy::print_stdout)]
            {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("recon reconcile: {}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

fn load_rules(path: &Path) -> Result<(RulesFile, CompiledRules), Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|error| {
        fail(
            CliExit::NoInput,
            format!("cannot read rules file {shown}: {error}; check the --rules path"),
        )
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        RulesFile::from_json(&text)
    } else {
        RulesFile::from_toml(&text)
    };
    let file = parsed.map_err(|error| {
        fail(
            CliExit::BadRules,
            format!("{shown}: {}", one_line(&error.to_string())),
        )
    })?;
    let compiled = file.compile().map_err(|error| match error {
        RulesError::Invalid(problems) => fail(
            CliExit::BadRules,
            format!(
                "{shown} has {} problem(s): {}",
                problems.len(),
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
        ),
        RulesError::Syntax(text) => {
            fail(CliExit::BadRules, format!("{shown}: {}", one_line(&text)))
        }
    })?;
    Ok((file, compiled))
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l
                    .chars()
                    .all(|c| c == '|' || c == '^' || c.is_whitespace() || c.is_ascii_digit())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_side(
    path: &Path,
    spec: &SourceSpec,
    side: &str,
    bar: &ProgressBar,
) -> Result<Dataset, Failure> {
    let shown = path.display();
    let file = File::open(path).map_err(|error| {
        fail(
            CliExit::NoInput,
            format!("cannot open {shown}: {error}; check the --{side} path"),
        )
    })?;
    let size = file.metadata().ok().map(|m| m.len());
    reader::read_sized(file, size, spec, &|rows| bar.set_message(format!("reading: {rows} rows"))).map_err(|error| match error {
        ReadError::Row(row) => fail(
            CliExit::BadData,
            format!("{shown} {row}; fix the value, or set on_error = \"skip\" for the {side} source in the rules file (or pass --on-error skip)"),
        ),
        ReadError::Mapping(message) => fail(CliExit::BadRules, format!("{shown}: the {side} mapping does not fit: {message}")),
        ReadError::Malformed(message) => fail(CliExit::BadData, format!("{shown}: {message}")),
    })
}

struct Bar(ProgressBar);

impl Observer for Bar {
    fn progress(&self, phase: &str, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
        if self.0.message() != phase {
            self.0.set_message(phase.to_owned());
        }
    }
}

fn write_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let partial = dir.join(format!("{name}.partial"));
    let target = dir.join(name);
    let cannot = |error: std::io::Error| {
        fail(
            CliExit::CannotWrite,
            format!(
                "cannot write {}: {error}; check that --out is a writable directory",
                target.display()
            ),
        )
    };
    let file = File::create(&partial).map_err(cannot)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out).map_err(cannot)?;
    out.flush().map_err(cannot)?;
    drop(out);
    // The previous result is removed first: renaming over an existing file makes ext4
    // (auto_da_alloc) allocate and start writing the new file's blocks at once, 45 ms for a
    // 120 MB matches.csv, where a rename to a free name returns at once. Either way no file
    // under the final name is ever half-written.
    match std::fs::remove_file(&target) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(cannot(error)),
    }
    std::fs::rename(&partial, &target).map_err(cannot)
}

fn execute(args: &ReconcileArgs) -> Result<String, Failure> {
    let started = Instant::now();
    let (mut file, compiled) = load_rules(&args.rules)?;
    if let Some(delimiter) = args.left_delimiter {
        file.left.delimiter = delimiter;
    }
    if let Some(delimiter) = args.right_delimiter {
        file.right.delimiter = delimiter;
    }
    if let Some(policy) = args.on_error {
        let policy = match policy {
            OnErrorArg::Fail => OnError::Fail,
            OnErrorArg::Skip => OnError::Skip,
        };
        file.left.on_error = policy;
        file.right.on_error = policy;
    }
    let draw = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let (left, right) = rayon::join(
        || read_side(&args.left, &file.left, "left", &bar),
        || read_side(&args.right, &file.right, "right", &bar),
    );
    let (left, right) = (left?, right?);
    let read_at = started.elapsed();

    let outcome = reconcile(&compiled, &left.records, &right.records, &Bar(bar.clone()))
        .map_err(|error| fail(CliExit::BadData, error.to_string()))?;
    let matched_at = started.elapsed();
    bar.set_message("writing results");

    std::fs::create_dir_all(&args.out).map_err(|error| {
        fail(
            CliExit::CannotWrite,
            format!(
                "cannot create {}: {error}; choose a writable --out directory",
                args.out.display()
            ),
        )
    })?;
    let summary = outcome.summary(&compiled, (left.skipped.len(), right.skipped.len()));
    let dir = args.out.as_path();
    let (l, r) = (&left.records, &right.records);
    let written: Vec<Result<(), Failure>> = {
        let jobs: Vec<Box<dyn FnOnce() -> Result<(), Failure> + Send + '_>> = vec![
            Box::new(|| {
                write_file(dir, "matches.csv", |out| {
                    export::write_matches(out, &outcome, &compiled, l, r)
                })
            }),
            Box::new(|| {
                write_file(dir, "unmatched_left.csv", |out| {
                    export::write_unmatched(out, l, &outcome.unmatched_left)
                })
            }),
            Box::new(|| {
                write_file(dir, "unmatched_right.csv", |out| {
                    export::write_unmatched(out, r, &outcome.unmatched_right)
                })
            }),
            Box::new(|| {
                write_file(dir, "breaks.csv", |out| {
                    export::write_breaks(out, &outcome, &compiled, l, r)
                })
            }),
            Box::new(|| {
                write_file(dir, "summary.json", |out| {
                    let mut value =
                        serde_json::to_value(&summary).map_err(std::io::Error::other)?;
                    value["skipped"] =
                        serde_json::json!({ "left": left.skipped, "right": right.skipped });
                    serde_json::to_writer_pretty(&mut *out, &value)
                        .map_err(std::io::Error::other)?;
                    out.write_all(b"\n")
                })
            }),
        ];
        use rayon::prelude::*;
        jobs.into_par_iter().map(|job| job()).collect()
    };
    written.into_iter().collect::<Result<Vec<()>, Failure>>()?;
    bar.finish_and_clear();
    let total = started.elapsed();
    eprintln!(
        "recon reconcile: read {:.2} s, matched {:.2} s, wrote {:.2} s",
        read_at.as_secs_f64(),
        (matched_at - read_at).as_secs_f64(),
        (total - matched_at).as_secs_f64()
    );
    let summary_line = summary_line(&summary, total, args);
    // The process ends right after this: freeing millions of records, groups and strings one by
    // one took a tenth of a second or more, and the operating system reclaims them at once.
    std::mem::forget((outcome, left, right));
    Ok(summary_line)
}

fn summary_line(
    summary: &recon_domain::outcome::Summary,
    total: std::time::Duration,
    args: &ReconcileArgs,
) -> String {
    format!(
        "{} + {} records: {} groups ({} auto-confirmed, {} proposed), {} breaks, {} + {} unmatched, match rate {:.1}% in {:.2} s; results in {}",
        summary.left.records,
        summary.right.records,
        summary.groups,
        summary.auto_confirmed,
        summary.proposed,
        summary.breaks,
        summary.left.unmatched,
        summary.right.unmatched,
        summary.match_rate * 100.0,
        total.as_secs_f64(),
        args.out.display()
    )
}
