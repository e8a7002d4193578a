//! Writing an outcome: matches.csv, unmatched_left.csv, unmatched_right.csv, breaks.csv and
//! summary.json, to any `std::io::Write` (the CLI and the API open the files or streams).
//!
//! Output is byte-identical for identical outcomes: rows follow the outcome's order, scores and
//! values are printed with at most 4 decimals, and explanations are compact JSON in criterion
//! order. Text that came from the input (ids, references, names) is guarded against spreadsheet
//! formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
//! leading `'` (OWASP, CWE-1236). Numbers Recon formats itself are left as they are.

use std::io::Write;

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

fn joined_ids(records: &[Record], indices: &[u32]) -> String {
    let ids: Vec<&str> = indices.iter().map(|i| &*records[*i as usize].id).collect();
    neutralize(&ids.join("|")).into_owned()
}

fn csv_error(error: csv::Error) -> std::io::Error {
    std::io::Error::other(error)
}

/// matches.csv: one row per group.
pub fn write_matches(
    out: impl Write,
    outcome: &Outcome,
    rules: &CompiledRules,
    left: &[Record],
    right: &[Record],
) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record([
            "group_id",
            "rule",
            "strategy",
            "left_ids",
            "right_ids",
            "left_count",
            "right_count",
            "score",
            "amount_difference",
            "status",
            "explanation",
        ])
        .map_err(csv_error)?;
    let width = outcome.groups.len().to_string().len().max(6);
    for (number, group) in outcome.groups.iter().enumerate() {
        let rule = &rules.rules[group.rule];
        let explanation =
            serde_json::to_string(&group.explanation).map_err(std::io::Error::other)?;
        writer
            .write_record([
                format!("M{:0width$}", number + 1),
                neutralize(&rule.name).into_owned(),
                rule.strategy.as_str().to_owned(),
                joined_ids(left, &group.left),
                joined_ids(right, &group.right),
                group.left.len().to_string(),
                group.right.len().to_string(),
                format!("{:.4}", group.score),
                group
                    .amount_difference
                    .map(|d| d.normalize().to_string())
                    .unwrap_or_default(),
                group.status.as_str().to_owned(),
                explanation,
            ])
            .map_err(csv_error)?;
    }
    writer.flush()
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
