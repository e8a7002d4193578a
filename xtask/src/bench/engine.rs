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
//! printed. Generated data is deterministic (a fixed-seed xorshift).

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

fn run_recon(dir: &Path) -> anyhow::Result<Timed> {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let path = |name: &str| dir.join(name).display().to_string();
    timed(
        &recon_binary().display().to_string(),
        &[
            "reconcile",
            "--left",
            &path("left.csv"),
            "--right",
            &path("right.csv"),
            "--rules",
            &path("rules.toml"),
            "--out",
            &out.display().to_string(),
            "--quiet",
        ],
    )
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

fn scale() -> u64 {
    std::env::var("RECON_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
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
        let duck = timed(
            "python3",
            &[
                "-c",
                DUCKDB,
                &path("left.csv"),
                &path("right.csv"),
                &path("duckdb_out.csv"),
            ],
        )?;
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
