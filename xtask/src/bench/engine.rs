//! `cargo xtask bench engine`: generates three workloads and reports wall time and peak RSS of
//! `recon reconcile` (release) from CSV files in to result files out, measured by GNU time,
//! best of three runs per tool (all three printed) after the generated files are synced to
//! disk, with the best run's user and system time (on a VM that hands out fresh memory slowly,
//! the system time says how much of a run's wall time that was).
//!
//! - (a) 1M × 1M, exact reference + amount: 95 % of references shared, of those 2 % with a
//!   different amount (breaks), rows shuffled differently on each side.
//! - (b) 1M × 1M, no usable reference: same amount, dates up to 2 days apart, counterparty
//!   names with a typo; amount band + date window + Jaro-Winkler.
//! - (c) 100k ledger rows against 20k batch payouts (many_to_one): 10k customers, each with
//!   two payouts of five invoices.
//!
//! For (a), when the Python packages duckdb and datacompy are importable, the same files are
//! also processed by DuckDB (read both, FULL OUTER JOIN on the reference, classify matched /
//! break / left only / right only, write a CSV) and by datacompy (read both with pandas,
//! compare on the reference, write the rows that differ), in the same run, and the ratios are
//! printed. Then recon and DuckDB run in turn for `RECON_BENCH_ROUNDS` rounds (ten by default;
//! 0 leaves them out), the order swapped every round, and their medians and per-round ratio are
//! printed (see [`Alternation`]). `RECON_BENCH_ROWS` sets the rows per side of (a) and (b) (a
//! million by default) for a quick check. Generated data is deterministic (a fixed-seed
//! xorshift).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::{machine, out_dir, recon_binary};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

fn write_csv(path: &Path, header: &str, rows: &[String]) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "{header}")?;
    for row in rows {
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    Ok(())
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn date(day: u64) -> String {
    // Days from 2026-01-01 within a 300-day span.
    let mut remaining = day % 300;
    let months = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while remaining >= months[month] {
        remaining -= months[month];
        month += 1;
    }
    format!("2026-{:02}-{:02}", month + 1, remaining + 1)
}

const NAMES: [&str; 16] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "soylent",
    "cyberdyne",
    "tyrell",
    "wayne",
    "stark",
    "wonka",
    "gringotts",
    "oscorp",
    "massive",
    "northwind",
];
const SUFFIXES: [&str; 6] = ["ltd", "gmbh", "inc", "sarl", "bv", "plc"];

fn company(rng: &mut Rng, i: u64) -> String {
    format!(
        "{} {} {} {}",
        NAMES[(i % 16) as usize],
        NAMES[rng.below(16) as usize],
        SUFFIXES[(i % 6) as usize],
        i % 9973
    )
}

fn typo(name: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let at = 1 + rng.below((chars.len() - 2) as u64) as usize;
    chars.swap(at, at + 1);
    chars.into_iter().collect()
}

fn workload_a(dir: &Path, n: u64) -> anyhow::Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut left = Vec::with_capacity(n as usize);
    let mut right = Vec::with_capacity(n as usize);
    for i in 0..n {
        let cents = 100 + rng.below(10_000_000);
        let day = rng.below(300);
        left.push(format!("L{i},REF{i:08},{},{}", money(cents), date(day)));
        let shared = rng.below(100) < 95;
        let reference = if shared {
            format!("REF{i:08}")
        } else {
            format!("NEW{i:08}")
        };
        let amount = if shared && rng.below(100) < 2 {
            cents + 1 + rng.below(5000)
        } else {
            cents
        };
        right.push(format!(
            "R{i},{reference},{},{}",
            money(amount),
            date(day + rng.below(3))
        ));
    }
    shuffle(&mut left, &mut rng);
    shuffle(&mut right, &mut rng);
    write_csv(&dir.join("left.csv"), "id,ref,amount,date", &left)?;
    write_csv(&dir.join("right.csv"), "id,ref,amount,date", &right)?;
    std::fs::write(
        dir.join("rules.toml"),
        r#"[left]
id = "id"
fields = { reference = "ref", amount = "amount", date = "date" }
[right]
id = "id"
fields = { reference = "ref", amount = "amount", date = "date" }
[[rules]]
name = "reference and amount"
criteria = [ { test = "equals", field = "reference" }, { test = "amount", field = "amount" } ]
"#,
    )?;
    Ok(())
}

fn workload_b(dir: &Path, n: u64) -> anyhow::Result<()> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut left = Vec::with_capacity(n as usize);
    let mut right = Vec::with_capacity(n as usize);
    for i in 0..n {
        let cents = 100 + rng.below(50_000_000);
        let day = rng.below(300);
        let name = company(&mut rng, i);
        left.push(format!("L{i},{},{},{name}", money(cents), date(day)));
        let matched = rng.below(100) < 90;
        let amount = if matched {
            cents
        } else {
            100 + rng.below(50_000_000)
        };
        let other = if matched {
            typo(&name, &mut rng)
        } else {
            company(&mut rng, i + 7)
        };
        right.push(format!(
            "R{i},{},{},{other}",
            money(amount),
            date(day + rng.below(3))
        ));
    }
    shuffle(&mut left, &mut rng);
    shuffle(&mut right, &mut rng);
    write_csv(&dir.join("left.csv"), "id,amount,date,counterparty", &left)?;
    write_csv(
        &dir.join("right.csv"),
        "id,amount,date,counterparty",
        &right,
    )?;
    std::fs::write(
        dir.join("rules.toml"),
        r#"[left]
id = "id"
fields = { amount = "amount", date = "date", counterparty = "counterparty" }
[right]
id = "id"
fields = { amount = "amount", date = "date", counterparty = "counterparty" }
[[rules]]
name = "amount, date and name"
min_score = 0.7
criteria = [
  { test = "amount", field = "amount", absolute = "0.00" },
  { test = "date", field = "date", days = 3 },
  { test = "similarity", field = "counterparty", algorithm = "jaro_winkler", threshold = 0.85 },
]
"#,
    )?;
    Ok(())
}

fn workload_c(dir: &Path, customers: u64) -> anyhow::Result<()> {
    let mut rng = Rng(0x94D0_49BB_1331_11EB);
    let mut ledger = Vec::new();
    let mut payouts = Vec::new();
    for c in 0..customers {
        let name = format!("customer-{c:06}");
        for batch in 0..2u64 {
            let start = rng.below(200) + batch * 40;
            let mut total = 0;
            for k in 0..5u64 {
                let cents = 1000 + rng.below(200_000);
                total += cents;
                ledger.push(format!(
                    "INV-{c:06}-{batch}{k},{name},{},{}",
                    money(cents),
                    date(start + k)
                ));
            }
            payouts.push(format!(
                "PAY-{c:06}-{batch},{name},{},{}",
                money(total),
                date(start + 6)
            ));
        }
    }
    shuffle(&mut ledger, &mut rng);
    shuffle(&mut payouts, &mut rng);
    write_csv(&dir.join("left.csv"), "id,customer,amount,date", &ledger)?;
    write_csv(&dir.join("right.csv"), "id,customer,amount,date", &payouts)?;
    std::fs::write(
        dir.join("rules.toml"),
        r#"[left]
id = "id"
fields = { counterparty = "customer", amount = "amount", date = "date" }
[right]
id = "id"
fields = { counterparty = "customer", amount = "amount", date = "date" }
[[rules]]
name = "batch payouts"
strategy = "many_to_one"
criteria = [
  { test = "equals", field = "counterparty" },
  { test = "date", field = "date", days = 7, direction = "right_after" },
  { test = "amount", field = "amount", absolute = "0.01" },
]
"#,
    )?;
    Ok(())
}

/// The best of two runs (wall seconds, with that run's peak RSS and output): the first run
/// can pay for page-cache writeback of freshly generated files, which should not count.
/// Runs per tool. On a virtual machine the first large run after a pause also pays for the host
/// backing fresh memory (seen as kernel page zeroing), which weighs on whichever tool touches
/// most memory; three runs show that spread, and the best is what is compared.
const RUNS: usize = 3;

/// One run of a command, as GNU time measured it.
struct Timing {
    /// Wall-clock seconds.
    seconds: f64,
    peak_rss_mib: f64,
    /// CPU seconds in the process and in the kernel for it: on a VM that hands out fresh
    /// memory slowly, the system time is where that shows.
    user_seconds: f64,
    system_seconds: f64,
    stdout: String,
}

impl Timing {
    /// "user 1.41 s, system 0.12 s": the CPU time of the run.
    fn cpu(&self) -> String {
        format!(
            "user {:.2} s, system {:.2} s",
            self.user_seconds, self.system_seconds
        )
    }
}

/// The best of [`RUNS`] runs, and every run's wall seconds.
struct Timed {
    best: Timing,
    all: Vec<f64>,
}

impl Timed {
    /// Every run's wall seconds, as "1.29, 0.87, 0.81".
    fn runs(&self) -> String {
        self.all
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// "1.23 s (runs 1.58, 1.23, 1.44), peak RSS 281 MiB, user 2.17 s, system 0.13 s": how
    /// recon's line of a workload reports it.
    fn recon_summary(&self) -> String {
        format!(
            "{:.2} s (runs {}), peak RSS {:.0} MiB, {}",
            self.best.seconds,
            self.runs(),
            self.best.peak_rss_mib,
            self.best.cpu()
        )
    }

    /// The best run's figures for engine.json, each key prefixed with `tool`.
    fn json_into(&self, entry: &mut serde_json::Value, tool: &str) {
        let best = &self.best;
        entry[format!("{tool}_seconds")] = best.seconds.into();
        entry[format!("{tool}_peak_rss_mib")] = best.peak_rss_mib.into();
        entry[format!("{tool}_user_seconds")] = best.user_seconds.into();
        entry[format!("{tool}_system_seconds")] = best.system_seconds.into();
    }
}

fn timed(program: &str, args: &[&str]) -> anyhow::Result<Timed> {
    let mut best: Option<Timing> = None;
    let mut all = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let run = timed_once(program, args)?;
        all.push(run.seconds);
        if best.as_ref().is_none_or(|b| run.seconds < b.seconds) {
            best = Some(run);
        }
    }
    Ok(Timed {
        best: best.context("no run")?,
        all,
    })
}

/// One run of a command, timed by GNU time.
fn timed_once(program: &str, args: &[&str]) -> anyhow::Result<Timing> {
    let report = std::env::temp_dir().join(format!("recon-bench-time-{}", std::process::id()));
    let output = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%e %M %U %S",
            "-o",
            &report.display().to_string(),
            program,
        ])
        .args(args)
        .output()
        .context(
            "GNU time (/usr/bin/time) is needed for the engine benchmark: apt-get install time",
        )?;
    if !output.status.success() {
        bail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(&report)?;
    let mut parts = text.split_whitespace();
    let mut next = || -> anyhow::Result<f64> {
        Ok(parts
            .next()
            .with_context(|| format!("GNU time wrote {text:?}"))?
            .parse()?)
    };
    Ok(Timing {
        seconds: next()?,
        peak_rss_mib: next()? / 1024.0,
        user_seconds: next()?,
        system_seconds: next()?,
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    })
}

/// The program and arguments of `recon reconcile` on the workload in `dir`, writing to
/// `dir/out`.
fn recon_command(dir: &Path) -> (String, Vec<String>) {
    let path = |name: &str| dir.join(name).display().to_string();
    let args = [
        "reconcile",
        "--left",
        &path("left.csv"),
        "--right",
        &path("right.csv"),
        "--rules",
        &path("rules.toml"),
        "--out",
        &path("out"),
        "--quiet",
    ];
    (
        recon_binary().display().to_string(),
        args.iter().map(|arg| arg.to_string()).collect(),
    )
}

fn run_recon(dir: &Path) -> anyhow::Result<Timed> {
    let _ = std::fs::remove_dir_all(dir.join("out"));
    let (program, args) = recon_command(dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    timed(&program, &args)
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

const DUCKDB: &str = r#"
import sys, duckdb
left, right, out = sys.argv[1:4]
con = duckdb.connect()
con.execute(f"""
COPY (
  SELECT l.id AS left_id, r.id AS right_id, coalesce(l.ref, r.ref) AS ref,
         CASE WHEN r.id IS NULL THEN 'left_only' WHEN l.id IS NULL THEN 'right_only'
              WHEN l.amount = r.amount THEN 'matched' ELSE 'break' END AS status,
         l.amount - r.amount AS amount_difference
  FROM read_csv('{left}', columns={{'id':'VARCHAR','ref':'VARCHAR','amount':'DECIMAL(18,2)','date':'DATE'}}, header=true) l
  FULL OUTER JOIN read_csv('{right}', columns={{'id':'VARCHAR','ref':'VARCHAR','amount':'DECIMAL(18,2)','date':'DATE'}}, header=true) r
  ON l.ref = r.ref
) TO '{out}' (HEADER, DELIMITER ',')
""")
"#;

const DATACOMPY: &str = r#"
import sys, pandas, datacompy
left, right, out = sys.argv[1:4]
l = pandas.read_csv(left, dtype={'id': str, 'ref': str, 'amount': float, 'date': str})
r = pandas.read_csv(right, dtype={'id': str, 'ref': str, 'amount': float, 'date': str})
Compare = getattr(datacompy, 'PandasCompare', None) or datacompy.Compare
compare = Compare(l, r, join_columns='ref', abs_tol=0, df1_name='left', df2_name='right')
compare.all_mismatch().to_csv(out, index=False)
"#;

/// The number in environment variable `name`, or `default` when it is unset or not a number.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Rounds of recon and DuckDB in turn on (a), after the best-of-three runs:
/// `RECON_BENCH_ROUNDS` (0 leaves them out), ten by default.
fn rounds() -> usize {
    env_number("RECON_BENCH_ROUNDS", 10)
}

/// Recon and DuckDB run in turn, the order swapped every round (recon first, then DuckDB
/// first, …), so that neither always follows the other: on a VM whose fresh memory is slow,
/// a run after a pause or after the other tool pays more, and best-of-three runs of one tool
/// back to back favour whichever touches most memory. The medians and the per-round ratio say
/// what a single best run cannot: how the two compare run for run.
struct Alternation {
    recon: Vec<Timing>,
    duckdb: Vec<Timing>,
}

impl Alternation {
    fn run(
        rounds: usize,
        recon: impl Fn() -> anyhow::Result<Timing>,
        duckdb: impl Fn() -> anyhow::Result<Timing>,
    ) -> anyhow::Result<Self> {
        let mut alternation = Self {
            recon: Vec::with_capacity(rounds),
            duckdb: Vec::with_capacity(rounds),
        };
        for round in 0..rounds {
            if round % 2 == 0 {
                alternation.recon.push(recon()?);
                alternation.duckdb.push(duckdb()?);
            } else {
                alternation.duckdb.push(duckdb()?);
                alternation.recon.push(recon()?);
            }
        }
        Ok(alternation)
    }

    /// Each round's recon / DuckDB wall-time ratio.
    fn ratios(&self) -> Vec<f64> {
        self.recon
            .iter()
            .zip(&self.duckdb)
            .map(|(r, d)| r.seconds / d.seconds)
            .collect()
    }

    /// Rounds in which recon took less wall time than DuckDB.
    fn recon_faster(&self) -> usize {
        self.ratios().iter().filter(|ratio| **ratio < 1.0).count()
    }

    /// "10 rounds …: recon 0.84 s (user 1.20 s, system 0.30 s), DuckDB …; recon / DuckDB 0.97
    /// (0.81–1.12), recon faster in 6 of 10": medians, the ratio's median and range.
    fn summary(&self) -> String {
        let ratios = self.ratios();
        let (low, high) = ratios.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
            (lo.min(*r), hi.max(*r))
        });
        let side = |runs: &[Timing]| {
            format!(
                "{:.3} s (user {:.2} s, system {:.2} s)",
                median(runs.iter().map(|t| t.seconds)),
                median(runs.iter().map(|t| t.user_seconds)),
                median(runs.iter().map(|t| t.system_seconds))
            )
        };
        format!(
            "{} rounds in turn, medians: recon {}, DuckDB {}; recon / DuckDB {:.2} ({low:.2}–{high:.2}), recon faster in {} of {}",
            ratios.len(),
            side(&self.recon),
            side(&self.duckdb),
            median(ratios.iter().copied()),
            self.recon_faster(),
            ratios.len()
        )
    }

    fn json_into(&self, entry: &mut serde_json::Value) {
        let ratios = self.ratios();
        entry["alternated_rounds"] = ratios.len().into();
        entry["alternated_recon_median_seconds"] =
            median(self.recon.iter().map(|t| t.seconds)).into();
        entry["alternated_duckdb_median_seconds"] =
            median(self.duckdb.iter().map(|t| t.seconds)).into();
        entry["alternated_median_ratio"] = median(ratios.iter().copied()).into();
        entry["alternated_recon_faster"] = self.recon_faster().into();
    }
}

/// The median of `values` (the mean of the middle two for an even count; 0 for none).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn scale() -> u64 {
    env_number("RECON_BENCH_ROWS", 1_000_000)
}

/// Flushes freshly written workload files so their writeback does not overlap a timed run.
fn settle() {
    let _ = Command::new("sync").status();
}

pub(crate) fn run() -> anyhow::Result<()> {
    let rows = scale();
    let base: PathBuf = out_dir().join("engine");
    println!(
        "engine benchmark — {rows} rows per side for (a) and (b) on {}",
        machine()
    );
    let mut report = String::new();
    let mut json = serde_json::Map::new();

    let a = base.join("a");
    std::fs::create_dir_all(&a)?;
    workload_a(&a, rows)?;
    settle();
    let recon = run_recon(&a)?;
    let seconds = recon.best.seconds;
    writeln!(
        report,
        "(a) exact reference + amount, {rows} x {rows}: recon {}\n    {}",
        recon.recon_summary(),
        recon.best.stdout
    )?;
    let mut entry = serde_json::json!({});
    recon.json_into(&mut entry, "recon");
    let path = |name: &str| a.join(name).display().to_string();
    if python_has("duckdb") {
        let duckdb_args = [
            "-c",
            DUCKDB,
            &path("left.csv"),
            &path("right.csv"),
            &path("duckdb_out.csv"),
        ];
        let duck = timed("python3", &duckdb_args)?;
        writeln!(
            report,
            "    DuckDB {:.2} s (runs {}, peak RSS {:.0} MiB, {}): recon / DuckDB = {:.2}",
            duck.best.seconds,
            duck.runs(),
            duck.best.peak_rss_mib,
            duck.best.cpu(),
            seconds / duck.best.seconds
        )?;
        duck.json_into(&mut entry, "duckdb");
        let rounds = rounds();
        if rounds > 0 {
            let (program, args) = recon_command(&a);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let alternation = Alternation::run(
                rounds,
                || timed_once(&program, &args),
                || timed_once("python3", &duckdb_args),
            )?;
            writeln!(report, "    {}", alternation.summary())?;
            alternation.json_into(&mut entry);
        }
    } else {
        writeln!(
            report,
            "    DuckDB skipped: python3 cannot import duckdb (pip install duckdb)"
        )?;
    }
    if python_has("datacompy") {
        let compy = timed(
            "python3",
            &[
                "-c",
                DATACOMPY,
                &path("left.csv"),
                &path("right.csv"),
                &path("datacompy_out.csv"),
            ],
        )?;
        writeln!(
            report,
            "    datacompy {:.2} s (runs {}, peak RSS {:.0} MiB): recon / datacompy = {:.2}",
            compy.best.seconds,
            compy.runs(),
            compy.best.peak_rss_mib,
            seconds / compy.best.seconds
        )?;
        compy.json_into(&mut entry, "datacompy");
    } else {
        writeln!(
            report,
            "    datacompy skipped: python3 cannot import datacompy (pip install datacompy)"
        )?;
    }
    json.insert("a".into(), entry);

    let b = base.join("b");
    std::fs::create_dir_all(&b)?;
    workload_b(&b, rows)?;
    settle();
    let recon = run_recon(&b)?;
    writeln!(
        report,
        "(b) amount band + date window + fuzzy name, {rows} x {rows}: recon {}\n    {}",
        recon.recon_summary(),
        recon.best.stdout
    )?;
    let mut entry = serde_json::json!({});
    recon.json_into(&mut entry, "recon");
    json.insert("b".into(), entry);

    let c = base.join("c");
    std::fs::create_dir_all(&c)?;
    workload_c(&c, rows / 100)?;
    settle();
    let recon = run_recon(&c)?;
    writeln!(
        report,
        "(c) many_to_one, {} ledger rows x {} payouts: recon {:.2} s, peak RSS {:.0} MiB, {}\n    {}",
        rows / 10,
        rows / 50,
        recon.best.seconds,
        recon.best.peak_rss_mib,
        recon.best.cpu(),
        recon.best.stdout
    )?;
    let mut entry = serde_json::json!({});
    recon.json_into(&mut entry, "recon");
    json.insert("c".into(), entry);

    print!("{report}");
    std::fs::write(
        out_dir().join("engine.json"),
        serde_json::to_vec_pretty(&json)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(seconds: f64) -> Timing {
        Timing {
            seconds,
            peak_rss_mib: 0.0,
            user_seconds: seconds,
            system_seconds: 0.0,
            stdout: String::new(),
        }
    }

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
    }

    #[test]
    fn alternation_swaps_the_order_every_round_and_pairs_each_round() {
        let order = std::cell::RefCell::new(String::new());
        let alternation = Alternation::run(
            4,
            || {
                order.borrow_mut().push('r');
                Ok(timing(0.9))
            },
            || {
                order.borrow_mut().push('d');
                Ok(timing(1.0))
            },
        )
        .expect("no run fails");
        assert_eq!(order.into_inner(), "rddrrddr");
        assert_eq!(alternation.ratios().len(), 4);
        assert!(
            alternation
                .summary()
                .ends_with("recon / DuckDB 0.90 (0.90–0.90), recon faster in 4 of 4"),
            "{}",
            alternation.summary()
        );
    }
}
