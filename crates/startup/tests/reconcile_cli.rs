//! `recon reconcile` end to end on the shipped examples, and its answers to bad input: one
//! line on stderr naming the file (and line and column), a distinct non-zero exit, no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn example(name: &str) -> PathBuf {
    Path::new(ROOT).join("examples").join(name)
}

fn reconcile(left: &Path, right: &Path, rules: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recon"))
        .arg("reconcile")
        .args([
            "--left",
            &left.display().to_string(),
            "--right",
            &right.display().to_string(),
        ])
        .args([
            "--rules",
            &rules.display().to_string(),
            "--out",
            &out.display().to_string(),
        ])
        .args(extra)
        .env_clear()
        .output()
        .expect("run recon reconcile")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn rows(dir: &Path, name: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(dir.join(name))
        .expect("csv")
        .records()
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn the_examples_reconcile_into_the_expected_buckets_deterministically() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &example("rules.toml"),
        out.path(),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    let matches = rows(out.path(), "matches.csv");
    let find = |left: &str| {
        matches
            .iter()
            .find(|r| &r[3] == left)
            .unwrap_or_else(|| panic!("no group for {left}"))
    };
    assert_eq!(
        &find("B-0012")[4],
        "L-0021|L-0022|L-0023",
        "a batch payout covers three invoices"
    );
    assert_eq!(&find("B-0014")[4], "L-0024|L-0025");
    assert_eq!(
        (&find("B-0003")[4], &find("B-0003")[9]),
        ("L-0003", "auto_confirmed"),
        "a garbled reference still matches"
    );
    let fee = find("B-0010");
    assert_eq!(
        (&fee[1], &fee[4], &fee[8], &fee[9]),
        (
            "invoice reference, fee deducted",
            "L-0013",
            "-29.1",
            "proposed"
        )
    );
    let parts: Vec<&str> = fee[10].split("; ").collect();
    assert_eq!(parts.len(), 4, "one entry per criterion: {}", &fee[10]);
    assert!(
        parts[0].starts_with("description~reference regex 1 +"),
        "{}",
        &fee[10]
    );
    assert!(parts[1].starts_with("amount amount "), "{}", &fee[10]);
    let contributions: f64 = parts
        .iter()
        .filter_map(|p| p.rsplit_once(" +"))
        .map(|(_, c)| c.parse::<f64>().expect("number"))
        .sum();
    assert!(
        (contributions - fee[7].parse::<f64>().expect("score")).abs() < 0.001,
        "contributions add up to the score"
    );

    let breaks = rows(out.path(), "breaks.csv");
    assert!(
        breaks
            .iter()
            .any(|b| &b[1] == "B-0009" && &b[2] == "L-0009" && &b[5] == "-90"),
        "{breaks:?}"
    );
    let unmatched_right = read(out.path(), "unmatched_right.csv");
    assert!(
        unmatched_right.contains("L-0031"),
        "the duplicate posting stays unmatched"
    );
    assert!(
        unmatched_right.contains("L-0030"),
        "the unpaid invoice stays unmatched"
    );

    let summary: serde_json::Value =
        serde_json::from_str(&read(out.path(), "summary.json")).expect("summary");
    for side in ["left", "right"] {
        let s = &summary[side];
        let total = s["matched"].as_u64().unwrap_or(0)
            + s["in_breaks"].as_u64().unwrap_or(0)
            + s["unmatched"].as_u64().unwrap_or(0);
        assert_eq!(
            Some(total),
            s["records"].as_u64(),
            "{side}: every record in one bucket"
        );
    }
    assert_eq!(summary["left"]["records"], 20);
    assert_eq!(summary["right"]["records"], 22);

    // The same inputs give byte-identical results.
    let again = tempfile::tempdir().expect("tempdir");
    let second = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &example("rules.toml"),
        again.path(),
        &[],
    );
    assert!(second.status.success());
    for name in [
        "matches.csv",
        "unmatched_left.csv",
        "unmatched_right.csv",
        "breaks.csv",
        "summary.json",
    ] {
        assert_eq!(
            read(out.path(), name),
            read(again.path(), name),
            "{name} differs between runs"
        );
    }
    assert!(!out.path().join("matches.csv.partial").exists());

    // Results already in the directory are replaced whole.
    std::fs::write(out.path().join("matches.csv"), "stale\n").expect("writes");
    std::fs::write(out.path().join("breaks.csv"), "").expect("writes");
    let third = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &example("rules.toml"),
        out.path(),
        &[],
    );
    assert!(third.status.success(), "{}", stderr(&third));
    for name in ["matches.csv", "breaks.csv"] {
        assert_eq!(read(out.path(), name), read(again.path(), name), "{name}");
    }
    assert!(!out.path().join("matches.csv.partial").exists());
}

#[test]
fn the_json_form_of_the_rules_gives_the_same_results() {
    let rules = recon_domain::rules::RulesFile::from_toml(
        &std::fs::read_to_string(example("rules.toml")).expect("read"),
    )
    .expect("toml");
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("rules.json");
    std::fs::write(&json, serde_json::to_string_pretty(&rules).expect("json")).expect("write");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(
        reconcile(
            &example("bank_statement.csv"),
            &example("ledger.csv"),
            &example("rules.toml"),
            &a,
            &[]
        )
        .status
        .success()
    );
    let output = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &json,
        &b,
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read(&a, "matches.csv"), read(&b, "matches.csv"));
}

#[test]
fn a_value_that_does_not_parse_names_file_line_column_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bank.csv");
    let text = std::fs::read_to_string(example("bank_statement.csv"))
        .expect("read")
        .replace("\"3,400.50\"", "\"3,4OO.50\"");
    std::fs::write(&bad, text).expect("write");
    let output = reconcile(
        &bad,
        &example("ledger.csv"),
        &example("rules.toml"),
        &dir.path().join("out"),
        &[],
    );
    assert_eq!(output.status.code(), Some(65));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    for needle in [
        "bank.csv",
        "line 3",
        "column \"Amount\"",
        "3,4OO.50",
        "on_error",
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written when the input is bad"
    );

    // With --on-error skip the row is left out and reported in summary.json.
    let out = dir.path().join("skipped");
    let output = reconcile(
        &bad,
        &example("ledger.csv"),
        &example("rules.toml"),
        &out,
        &["--on-error", "skip"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out, "summary.json")).expect("summary");
    assert_eq!(summary["left"]["skipped_rows"], 1);
    assert_eq!(summary["skipped"]["left"][0]["line"], 3);
    assert_eq!(summary["left"]["records"], 19);
}

#[test]
fn bad_invocations_each_get_their_own_exit_code_and_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = reconcile(
        &dir.path().join("nope.csv"),
        &example("ledger.csv"),
        &example("rules.toml"),
        &dir.path().join("o"),
        &[],
    );
    assert_eq!(missing.status.code(), Some(66));
    assert!(stderr(&missing).contains("nope.csv") && stderr(&missing).contains("--left"));

    let rules = dir.path().join("rules.toml");
    let broken = std::fs::read_to_string(example("rules.toml"))
        .expect("read")
        .replacen("relative = \"0.035\"", "relative = \"1.5\", days = 3", 1);
    std::fs::write(&rules, broken).expect("write");
    let invalid = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &rules,
        &dir.path().join("o"),
        &[],
    );
    assert_eq!(invalid.status.code(), Some(78));
    let message = stderr(&invalid);
    assert!(
        message.contains("rule 2 \"invoice reference, fee deducted\", criterion 2 (amount)"),
        "{message}"
    );
    assert!(
        message.contains("`days` does not apply") && message.contains("relative is 1.5"),
        "{message}"
    );

    std::fs::write(&rules, "[left]\nid = 1\n").expect("write");
    let syntax = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &rules,
        &dir.path().join("o"),
        &[],
    );
    assert_eq!(syntax.status.code(), Some(78));
    assert_eq!(stderr(&syntax).lines().count(), 1, "{}", stderr(&syntax));

    let file_as_dir = dir.path().join("a-file");
    std::fs::write(&file_as_dir, "x").expect("write");
    let unwritable = reconcile(
        &example("bank_statement.csv"),
        &example("ledger.csv"),
        &example("rules.toml"),
        &file_as_dir.join("out"),
        &[],
    );
    assert_eq!(unwritable.status.code(), Some(73));
    for output in [&missing, &invalid, &syntax, &unwritable] {
        assert!(!stderr(output).contains("panicked"));
    }
}
