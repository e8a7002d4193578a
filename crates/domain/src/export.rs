//! Writing an outcome: matches.csv, unmatched_left.csv, unmatched_right.csv, breaks.csv and
//! summary.json, to any `std::io::Write` (the CLI and the API open the files or streams).
//!
//! Output is byte-identical for identical outcomes: rows follow the outcome's order, scores and
//! values are printed with at most 4 decimals, and explanations list criteria in rule order. Text that came from the input (ids, references, names) is guarded against spreadsheet
//! formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
//! leading `'` (OWASP, CWE-1236). Numbers Recon formats itself are left as they are.

use std::fmt::Write as _;
use std::io::Write;

use rayon::prelude::*;

use crate::outcome::{Outcome, Summary};
use crate::record::Record;
use crate::rules::CompiledRules;

/// Guards a cell of input-derived text against formula injection.
pub fn neutralize(text: &str) -> std::borrow::Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => {
            std::borrow::Cow::Owned(format!("'{text}"))
        }
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// Writes the ids of `indices` joined by `|` into `out`, neutralised as one cell.
fn join_ids_into(out: &mut String, records: &[Record], indices: &[u32]) {
    out.clear();
    for (n, index) in indices.iter().enumerate() {
        if n > 0 {
            out.push('|');
        }
        out.push_str(&records[*index as usize].id);
    }
    if let std::borrow::Cow::Owned(neutralized) = neutralize(out) {
        *out = neutralized;
    }
}

/// Writes a value rounded to four decimals ([`crate::outcome::round4`]) exactly as `Display`
/// does ("1", "0.5", "0.3333"), without the general float formatter, which was the largest
/// part of rendering explanations. `round4` divides an integer by 10⁴, which IEEE rounds
/// correctly, so the value reads back from that multiple's own digits and no shorter decimal
/// does; below 10⁶ the spacing of doubles is far finer than 10⁻⁴. Anything else (negative,
/// large, not a multiple) goes through `Display`.
fn push_four_places(out: &mut String, value: f64) {
    let scaled = (value * 10_000.0).round();
    let exact =
        value.is_sign_positive() && (0.0..1e10).contains(&scaled) && scaled / 10_000.0 == value;
    if !exact {
        let _ = write!(out, "{value}");
        return;
    }
    let scaled = scaled as u64;
    let (whole, mut fraction) = (scaled / 10_000, scaled % 10_000);
    let _ = write!(out, "{whole}");
    if fraction != 0 {
        let mut digits = 4;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{fraction:0digits$}");
    }
}

fn csv_error(error: csv::Error) -> std::io::Error {
    std::io::Error::other(error)
}

/// Groups rendered per parallel batch.
const RENDER_CHUNK: usize = 16 * 1024;

/// matches.csv: one row per group. Rows are rendered in parallel batches and written in order.
///
/// The `explanation` column lists every criterion of the rule, separated by `; `, as
/// `<field(s)> <test> <value> +<contribution>` when it passed and `<field(s)> <test> <value>
/// failed` when it did not, e.g. `reference equals 1 +0.5; amount amount 0.75 +0.375`. The
/// contributions add up to the score. (JSON inside CSV doubles every quote and tripled the
/// file's size; the API serves the same explanation as JSON.)
pub fn write_matches(
    mut out: impl Write,
    outcome: &Outcome,
    rules: &CompiledRules,
    left: &[Record],
    right: &[Record],
) -> std::io::Result<()> {
    out.write_all(b"group_id,rule,strategy,left_ids,right_ids,left_count,right_count,score,amount_difference,status,explanation\n")?;
    let width = outcome.groups.len().to_string().len().max(6);
    let names: Vec<String> = rules
        .rules
        .iter()
        .map(|rule| neutralize(&rule.name).into_owned())
        .collect();
    let prefixes: Vec<Vec<String>> = rules
        .rules
        .iter()
        .map(|rule| {
            rule.criteria
                .iter()
                .map(|c| format!("{} {}", c.label, c.test.name()))
                .collect()
        })
        .collect();
    let rendered: Vec<std::io::Result<Vec<u8>>> = outcome
        .groups
        .par_chunks(RENDER_CHUNK)
        .enumerate()
        .map(|(chunk, groups)| {
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::with_capacity(groups.len() * 200));
            // Reused for every row: rendering a million rows allocated seven strings each.
            let mut explanation = String::new();
            let (mut group_id, mut left_ids, mut right_ids) =
                (String::new(), String::new(), String::new());
            let (mut left_count, mut right_count) = (String::new(), String::new());
            let (mut score, mut difference) = (String::new(), String::new());
            for (offset, group) in groups.iter().enumerate() {
                explanation.clear();
                for (i, (item, prefix)) in group
                    .explanation
                    .iter()
                    .zip(&prefixes[group.rule])
                    .enumerate()
                {
                    if i > 0 {
                        explanation.push_str("; ");
                    }
                    explanation.push_str(prefix);
                    explanation.push(' ');
                    push_four_places(&mut explanation, item.value);
                    if item.passed {
                        explanation.push_str(" +");
                        push_four_places(&mut explanation, item.contribution);
                    } else {
                        explanation.push_str(" failed");
                    }
                }
                let rule = &rules.rules[group.rule];
                group_id.clear();
                let _ = write!(group_id, "M{:0width$}", chunk * RENDER_CHUNK + offset + 1);
                join_ids_into(&mut left_ids, left, &group.left);
                join_ids_into(&mut right_ids, right, &group.right);
                left_count.clear();
                let _ = write!(left_count, "{}", group.left.len());
                right_count.clear();
                let _ = write!(right_count, "{}", group.right.len());
                score.clear();
                let _ = write!(score, "{:.4}", group.score);
                difference.clear();
                if let Some(d) = group.amount_difference {
                    let _ = write!(difference, "{}", d.normalize());
                }
                writer
                    .write_record([
                        group_id.as_str(),
                        names[group.rule].as_str(),
                        rule.strategy.as_str(),
                        left_ids.as_str(),
                        right_ids.as_str(),
                        left_count.as_str(),
                        right_count.as_str(),
                        score.as_str(),
                        difference.as_str(),
                        group.status.as_str(),
                        explanation.as_str(),
                    ])
                    .map_err(csv_error)?;
            }
            writer
                .into_inner()
                .map_err(|error| std::io::Error::other(error.to_string()))
        })
        .collect();
    for chunk in rendered {
        out.write_all(&chunk?)?;
    }
    Ok(())
}

/// unmatched_left.csv or unmatched_right.csv.
pub fn write_unmatched(
    out: impl Write,
    records: &[Record],
    indices: &[u32],
) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record([
            "id",
            "line",
            "reference",
            "amount",
            "currency",
            "date",
            "counterparty",
            "description",
        ])
        .map_err(csv_error)?;
    for index in indices {
        let record = &records[*index as usize];
        let text = |value: &Option<Box<str>>| {
            value
                .as_deref()
                .map(|v| neutralize(v).into_owned())
                .unwrap_or_default()
        };
        writer
            .write_record([
                neutralize(&record.id).into_owned(),
                record.line.to_string(),
                text(&record.reference),
                record.amount.map(|a| a.to_string()).unwrap_or_default(),
                record.currency.map(|c| c.to_string()).unwrap_or_default(),
                record.date.map(|d| d.to_string()).unwrap_or_default(),
                text(&record.counterparty),
                text(&record.description),
            ])
            .map_err(csv_error)?;
    }
    writer.flush()
}

/// breaks.csv.
pub fn write_breaks(
    out: impl Write,
    outcome: &Outcome,
    rules: &CompiledRules,
    left: &[Record],
    right: &[Record],
) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record([
            "rule",
            "left_id",
            "right_id",
            "left_amount",
            "right_amount",
            "amount_difference",
            "days_difference",
            "reason",
        ])
        .map_err(csv_error)?;
    for item in &outcome.breaks {
        let (l, r) = (&left[item.left as usize], &right[item.right as usize]);
        writer
            .write_record([
                neutralize(&rules.rules[item.rule].name).into_owned(),
                neutralize(&l.id).into_owned(),
                neutralize(&r.id).into_owned(),
                l.amount.map(|a| a.to_string()).unwrap_or_default(),
                r.amount.map(|a| a.to_string()).unwrap_or_default(),
                item.amount_difference
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
                item.days_difference
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                item.reason.clone(),
            ])
            .map_err(csv_error)?;
    }
    writer.flush()
}

/// summary.json, pretty-printed.
pub fn write_summary(mut out: impl Write, summary: &Summary) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut out, summary).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_place_values_are_written_as_display_writes_them() {
        let mut checked = 0;
        for k in (0..=200_000u64).chain([999_999_999, 12_345_678_901]) {
            let value = crate::outcome::round4(k as f64 / 10_000.0);
            let mut out = String::new();
            push_four_places(&mut out, value);
            assert_eq!(out, value.to_string(), "{k}");
            checked += 1;
        }
        for odd in [-0.0, -0.5, 0.123_456, f64::NAN, f64::INFINITY, 1e20] {
            let mut out = String::new();
            push_four_places(&mut out, odd);
            assert_eq!(out, odd.to_string());
        }
        assert!(checked > 200_000);
    }

    #[test]
    fn formula_like_cells_are_neutralised() {
        for (input, expected) in [
            ("=1+1", "'=1+1"),
            ("+44", "'+44"),
            ("-2", "'-2"),
            ("@SUM", "'@SUM"),
            ("\tx", "'\tx"),
            ("ok", "ok"),
            ("", ""),
        ] {
            assert_eq!(neutralize(input), expected);
        }
    }
}
