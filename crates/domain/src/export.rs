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

use crate::outcome::{MatchGroup, Outcome, Summary};
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

/// Writes a value kept in ten-thousandths ([`crate::outcome::Mark`]) as `Display` writes the
/// `f64` it stands for ("1", "0.5", "0.3333"): the whole part, then the fraction without
/// trailing zeros. `k / 10⁴` is the double nearest that decimal, and no shorter decimal reads
/// back as it, so these are `Display`'s digits; a test checks every value up to 20.
fn push_ten_thousandths(out: &mut String, value: u64) {
    let (whole, mut fraction) = (value / 10_000, value % 10_000);
    push_number(out, whole, 1);
    if fraction != 0 {
        let mut digits = 4;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        out.push('.');
        push_number(out, fraction, digits);
    }
}

/// Writes a score as `{:.4}` does, without the float formatter when it is a multiple of 10⁻⁴
/// (scores are [`crate::outcome::round4`]ed); anything else goes through the formatter.
fn push_score(out: &mut String, score: f64) {
    let scaled = (score * 10_000.0).round();
    if score.is_sign_positive() && (0.0..1e10).contains(&scaled) && scaled / 10_000.0 == score {
        let scaled = scaled as u64;
        push_number(out, scaled / 10_000, 1);
        out.push('.');
        push_number(out, scaled % 10_000, 4);
    } else {
        let _ = write!(out, "{score:.4}");
    }
}

/// Writes `value` in decimal, zero-padded to at least `width` digits.
fn push_number(out: &mut String, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let (mut at, mut rest) = (digits.len(), value);
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = at.min(digits.len() - width.min(digits.len()));
    for digit in &digits[start..] {
        out.push(char::from(*digit));
    }
}

fn csv_error(error: csv::Error) -> std::io::Error {
    std::io::Error::other(error)
}

/// Groups rendered per parallel batch.
const RENDER_CHUNK: usize = 16 * 1024;

/// Batches rendered per thread before they are written.
const BATCHES_PER_THREAD: usize = 2;

/// matches.csv: one row per group.
///
/// Rows are rendered in parallel batches and written in order, a window of batches at a time;
/// the window's buffers are reused, so memory holds a window of rows, not the whole file.
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
    let layout = MatchesLayout {
        width: outcome.groups.len().to_string().len().max(6),
        names: rules
            .rules
            .iter()
            .map(|rule| neutralize(&rule.name).into_owned())
            .collect(),
        prefixes: rules
            .rules
            .iter()
            .map(|rule| {
                rule.criteria
                    .iter()
                    .map(|c| format!("{} {}", c.label, c.test.name()))
                    .collect()
            })
            .collect(),
        rules,
        left,
        right,
    };
    let window = RENDER_CHUNK * BATCHES_PER_THREAD * rayon::current_num_threads().max(1);
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    for (w, groups) in outcome.groups.chunks(window).enumerate() {
        let batches = groups.len().div_ceil(RENDER_CHUNK);
        if buffers.len() < batches {
            buffers.resize_with(batches, Vec::new);
        }
        buffers[..batches]
            .par_iter_mut()
            .zip(groups.par_chunks(RENDER_CHUNK))
            .enumerate()
            .try_for_each(|(b, (buffer, batch))| {
                buffer.clear();
                layout.render(buffer, w * window + b * RENDER_CHUNK, batch)
            })?;
        for buffer in &buffers[..batches] {
            out.write_all(buffer)?;
        }
    }
    Ok(())
}

/// What every row of matches.csv is rendered with.
struct MatchesLayout<'a> {
    /// Digits of the group number.
    width: usize,
    /// Rule names, neutralised.
    names: Vec<String>,
    /// `<field(s)> <test>` of each criterion of each rule.
    prefixes: Vec<Vec<String>>,
    rules: &'a CompiledRules,
    left: &'a [Record],
    right: &'a [Record],
}

impl MatchesLayout<'_> {
    /// Appends the rows of `groups`, the first of which is group number `first + 1`.
    fn render(
        &self,
        buffer: &mut Vec<u8>,
        first: usize,
        groups: &[MatchGroup],
    ) -> std::io::Result<()> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(buffer);
        // Reused for every row: rendering a million rows allocated seven strings each.
        let mut explanation = String::new();
        let (mut group_id, mut left_ids, mut right_ids) =
            (String::new(), String::new(), String::new());
        let (mut left_count, mut right_count) = (String::new(), String::new());
        let (mut score, mut difference) = (String::new(), String::new());
        for (offset, group) in groups.iter().enumerate() {
            explanation.clear();
            for (i, (mark, prefix)) in group
                .marks
                .iter()
                .zip(&self.prefixes[group.rule])
                .enumerate()
            {
                if i > 0 {
                    explanation.push_str("; ");
                }
                explanation.push_str(prefix);
                explanation.push(' ');
                push_ten_thousandths(&mut explanation, u64::from(mark.value));
                if mark.passed {
                    explanation.push_str(" +");
                    push_ten_thousandths(&mut explanation, u64::from(mark.contribution));
                } else {
                    explanation.push_str(" failed");
                }
            }
            let rule = &self.rules.rules[group.rule];
            group_id.clear();
            group_id.push('M');
            push_number(&mut group_id, (first + offset + 1) as u64, self.width);
            join_ids_into(&mut left_ids, self.left, &group.left);
            join_ids_into(&mut right_ids, self.right, &group.right);
            left_count.clear();
            push_number(&mut left_count, group.left.len() as u64, 1);
            right_count.clear();
            push_number(&mut right_count, group.right.len() as u64, 1);
            score.clear();
            push_score(&mut score, group.score);
            difference.clear();
            if let Some(d) = group.amount_difference {
                let _ = write!(difference, "{}", d.normalize());
            }
            writer
                .write_record([
                    group_id.as_str(),
                    self.names[group.rule].as_str(),
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
        writer.flush()
    }
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
    fn ten_thousandths_are_written_as_display_writes_their_value() {
        let mut checked = 0;
        for k in (0..=200_000u64).chain([999_999_999, 12_345_678_901]) {
            let value = crate::outcome::round4(k as f64 / 10_000.0);
            let mut out = String::new();
            push_ten_thousandths(&mut out, k);
            assert_eq!(out, value.to_string(), "{k}");
            checked += 1;
        }
        assert!(checked > 200_000);
    }

    #[test]
    fn scores_are_written_as_four_place_formatting_writes_them() {
        for k in (0..=200_000u64).chain([999_999_999, 12_345_678_901]) {
            let score = crate::outcome::round4(k as f64 / 10_000.0);
            let mut out = String::new();
            push_score(&mut out, score);
            assert_eq!(out, format!("{score:.4}"), "{k}");
        }
        for odd in [-0.0, -0.5, 0.123_456, f64::NAN, f64::INFINITY, 1e20] {
            let mut out = String::new();
            push_score(&mut out, odd);
            assert_eq!(out, format!("{odd:.4}"));
        }
    }

    #[test]
    fn numbers_are_zero_padded_to_their_width() {
        for (value, width, expected) in [
            (0, 1, "0"),
            (7, 6, "000007"),
            (1_234_567, 6, "1234567"),
            (u64::MAX, 25, "18446744073709551615"),
        ] {
            let mut out = String::new();
            push_number(&mut out, value, width);
            assert_eq!(out, expected);
        }
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
