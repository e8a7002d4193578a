//! Writing an outcome: matches.csv, unmatched_left.csv, unmatched_right.csv, breaks.csv and
//! summary.json, to any `std::io::Write` (the CLI and the API open the files or streams).
//!
//! Output is byte-identical for identical outcomes: rows follow the outcome's order, scores and
//! values are printed with at most 4 decimals, and explanations list criteria in rule order. Text that came from the input (ids, references, names) is guarded against spreadsheet
//! formula injection: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
//! leading `'` (OWASP, CWE-1236). Numbers Recon formats itself are left as they are.

use std::fmt::Write as _;
use std::io::Write;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::outcome::{Marks, MatchGroup, Outcome, Summary};
use crate::record::Records;
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

/// The ids of one side's records, copied into one compact table (`N` bytes per record: 8 when
/// the ids of both sides fit, else 16) for writing: matches.csv looks up two ids per row in an
/// order unrelated to the records', and reading each through its record (then a record, then
/// its id's own allocation: two cache misses in 150 MB) was half the time of writing the file.
/// An id of up to `N` bytes without a NUL byte is held in the table; a longer one is read from
/// its record.
struct IdTable<'a, const N: usize> {
    records: &'a Records,
    /// The id's bytes padded with zeros; all zeros (ids are never empty) when it is not held.
    short: Vec<[u8; N]>,
}

impl<'a, const N: usize> IdTable<'a, N> {
    fn new(records: &'a Records) -> Self {
        let short = records
            .par_iter()
            .map(|record| {
                let mut bytes = [0u8; N];
                let id = record.id().as_bytes();
                if id.len() <= bytes.len() && !id.contains(&0) {
                    bytes[..id.len()].copy_from_slice(id);
                }
                bytes
            })
            .collect();
        Self { records, short }
    }

    /// The table entries of `indices`, in order, into `out`. A loop that does nothing but
    /// load lets the processor wait for many cache misses at once; the same loads inside the
    /// rendering of each row waited for one at a time.
    fn gather<'i>(&self, indices: impl Iterator<Item = &'i u32>, out: &mut Vec<[u8; N]>) {
        out.clear();
        out.extend(indices.map(|i| self.short[*i as usize]));
    }

    /// The id of record `index`, whose table entry is `entry`.
    fn id<'s>(&'s self, entry: &'s [u8; N], index: u32) -> &'s str {
        let length = entry.iter().position(|b| *b == 0).unwrap_or(entry.len());
        match std::str::from_utf8(&entry[..length]) {
            Ok(id) if length > 0 => id,
            _ => self.records.get(index as usize).id(),
        }
    }
}

/// Writes the ids of `indices`, whose table entries are `entries`, joined by `|` into `out`,
/// neutralised as one cell.
fn join_ids_into<const N: usize>(
    out: &mut String,
    ids: &IdTable<'_, N>,
    indices: &[u32],
    entries: &[[u8; N]],
) {
    out.clear();
    for (n, (index, entry)) in indices.iter().zip(entries).enumerate() {
        if n > 0 {
            out.push('|');
        }
        out.push_str(ids.id(entry, *index));
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

/// Writes `value` in decimal, zero-padded to at least `width` digits. itoa writes two digits
/// at a time into a `&str` it builds itself; the hand-written loop also checked its digits
/// as UTF-8 on every call (a fifth of rendering matches.csv went to numbers).
fn push_number(out: &mut String, value: u64, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(value);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Writes `value` without trailing zeros, as `Display` writes `value.normalize()`.
fn push_decimal(out: &mut String, value: Decimal) {
    let value = value.normalize();
    if value.is_zero() {
        // Every exact match's difference; normalising drops a zero's sign and scale.
        out.push('0');
        return;
    }
    push_decimal_as_displayed(out, value);
}

/// Writes `value` as `Display` writes it (all its decimals, and the sign even of a zero):
/// digits of the mantissa with the point placed by the scale, without the formatter's
/// machinery, which was a tenth of writing the unmatched records.
fn push_decimal_as_displayed(out: &mut String, value: Decimal) {
    if value.is_sign_negative() {
        out.push('-');
    }
    let mut digits = [b'0'; 40];
    let (mut at, mut rest) = (digits.len(), value.mantissa().unsigned_abs());
    while rest > 0 {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let scale = value.scale() as usize;
    // Leading zeros so that there is at least one digit before the point.
    let start = at.min(digits.len() - scale - 1);
    let (whole, fraction) = digits[start..].split_at(digits.len() - start - scale);
    out.push_str(std::str::from_utf8(whole).unwrap_or_default());
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(std::str::from_utf8(fraction).unwrap_or_default());
    }
}

fn csv_error(error: csv::Error) -> std::io::Error {
    std::io::Error::other(error)
}

/// Groups rendered per parallel batch.
const RENDER_CHUNK: usize = 16 * 1024;

/// Batches rendered per thread before they are written.
const BATCHES_PER_THREAD: usize = 2;

/// Rows rendered before they are written: [`BATCHES_PER_THREAD`] batches per thread.
fn window_rows() -> usize {
    RENDER_CHUNK * BATCHES_PER_THREAD * rayon::current_num_threads().max(1)
}

/// Renders `items` into one buffer per [`RENDER_CHUNK`] of them (buffers are reused and added
/// as needed), in parallel; `render` gets a batch's offset in `items`. Returns how many of
/// `buffers` hold the rows.
fn render_batches<T: Sync>(
    buffers: &mut Vec<String>,
    items: &[T],
    render: impl Fn(&mut String, usize, &[T]) + Sync,
) -> usize {
    let batches = items.len().div_ceil(RENDER_CHUNK);
    if buffers.len() < batches {
        buffers.resize_with(batches, String::new);
    }
    buffers[..batches]
        .par_iter_mut()
        .zip(items.par_chunks(RENDER_CHUNK))
        .enumerate()
        .for_each(|(b, (buffer, batch))| {
            buffer.clear();
            render(buffer, b * RENDER_CHUNK, batch);
        });
    batches
}

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
    out: impl Write + Send,
    outcome: &Outcome,
    rules: &CompiledRules,
    left: &Records,
    right: &Records,
) -> std::io::Result<()> {
    let longest = |records: &Records| records.par_iter().map(|r| r.id().len()).max();
    let (in_left, in_right) = rayon::join(|| longest(left), || longest(right));
    // Ids of up to 8 bytes (numbered ones) take half the table, and half its fresh pages.
    if in_left.max(in_right).unwrap_or(0) <= 8 {
        write_matches_with::<8>(out, outcome, rules, left, right)
    } else {
        write_matches_with::<16>(out, outcome, rules, left, right)
    }
}

/// [`write_matches`] with id tables of `N` bytes per record.
fn write_matches_with<const N: usize>(
    mut out: impl Write + Send,
    outcome: &Outcome,
    rules: &CompiledRules,
    left: &Records,
    right: &Records,
) -> std::io::Result<()> {
    out.write_all(b"group_id,rule,strategy,left_ids,right_ids,left_count,right_count,score,amount_difference,status,explanation\n")?;
    let layout = MatchesLayout::<N> {
        width: outcome.groups.len().to_string().len().max(6),
        names: rules
            .rules
            .iter()
            .map(|rule| {
                let mut cell = String::new();
                push_cell(&mut cell, &neutralize(&rule.name));
                cell
            })
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
        left: IdTable::new(left),
        right: IdTable::new(right),
    };
    let window = window_rows();
    let windows: Vec<&[MatchGroup]> = outcome.groups.chunks(window).collect();
    // While one window is written, the next is rendered.
    let (mut rendered, mut rendering): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    if let Some(first) = windows.first() {
        layout.render_window(&mut rendered, 0, first);
    }
    for w in 0..windows.len() {
        let batches = windows[w].len().div_ceil(RENDER_CHUNK);
        let (written, ()) = rayon::join(
            || {
                rendered[..batches]
                    .iter()
                    .try_for_each(|buffer| out.write_all(buffer.as_bytes()))
            },
            || {
                if let Some(next) = windows.get(w + 1) {
                    layout.render_window(&mut rendering, (w + 1) * window, next);
                }
            },
        );
        written?;
        std::mem::swap(&mut rendered, &mut rendering);
    }
    Ok(())
}

/// What every row of matches.csv is rendered with.
struct MatchesLayout<'a, const N: usize> {
    /// Digits of the group number.
    width: usize,
    /// Rule names as cells, neutralised and quoted where needed.
    names: Vec<String>,
    /// `<field(s)> <test>` of each criterion of each rule.
    prefixes: Vec<Vec<String>>,
    rules: &'a CompiledRules,
    left: IdTable<'a, N>,
    right: IdTable<'a, N>,
}

impl<const N: usize> MatchesLayout<'_, N> {
    /// Renders `groups`, the first of which is group number `first + 1`, into one buffer per
    /// [`RENDER_CHUNK`] groups, in parallel.
    fn render_window(&self, buffers: &mut Vec<String>, first: usize, groups: &[MatchGroup]) {
        render_batches(buffers, groups, |buffer, offset, batch| {
            self.render(buffer, first + offset, batch);
        });
    }

    /// Appends the rows of `groups`, the first of which is group number `first + 1`.
    ///
    /// Rows are built as text directly: the cells Recon formats itself (numbers, statuses) never
    /// need quoting, and the others go through [`push_cell`], which quotes as the csv crate
    /// does (a test compares them). The csv writer's per-field state machine was a tenth of
    /// the writing time.
    fn render(&self, out: &mut String, first: usize, groups: &[MatchGroup]) {
        // Reused for every row: rendering a million rows allocated seven strings each.
        let (mut explanation, mut explanation_cell, mut ids) =
            (String::new(), String::new(), String::new());
        let (mut left_entries, mut right_entries) = (Vec::new(), Vec::new());
        self.left
            .gather(groups.iter().flat_map(|g| g.left()), &mut left_entries);
        self.right
            .gather(groups.iter().flat_map(|g| g.right()), &mut right_entries);
        let (mut left_at, mut right_at) = (0, 0);
        // Groups of one rule often have the same marks (every exact match does): the last
        // explanation is reused when they are.
        let mut explained: Option<(usize, &Marks)> = None;
        for (offset, group) in groups.iter().enumerate() {
            if explained != Some((group.rule(), group.marks())) {
                explained = Some((group.rule(), group.marks()));
                self.explain(&mut explanation, group);
                explanation_cell.clear();
                push_cell(&mut explanation_cell, &explanation);
            }
            let rule = &self.rules.rules[group.rule()];
            out.push('M');
            push_number(out, (first + offset + 1) as u64, self.width);
            out.push(',');
            out.push_str(&self.names[group.rule()]);
            out.push(',');
            out.push_str(rule.strategy.as_str());
            out.push(',');
            let (l, r) = (group.left().len(), group.right().len());
            join_ids_into(
                &mut ids,
                &self.left,
                group.left(),
                &left_entries[left_at..left_at + l],
            );
            left_at += l;
            push_cell(out, &ids);
            out.push(',');
            join_ids_into(
                &mut ids,
                &self.right,
                group.right(),
                &right_entries[right_at..right_at + r],
            );
            right_at += r;
            push_cell(out, &ids);
            out.push(',');
            push_number(out, l as u64, 1);
            out.push(',');
            push_number(out, r as u64, 1);
            out.push(',');
            push_score(out, group.score());
            out.push(',');
            if let Some(difference) = group.amount_difference() {
                push_decimal(out, difference);
            }
            out.push(',');
            out.push_str(group.status().as_str());
            out.push(',');
            out.push_str(&explanation_cell);
            out.push('\n');
        }
    }
}

impl<const N: usize> MatchesLayout<'_, N> {
    /// The explanation cell's text of `group`, into `out` (cleared first).
    fn explain(&self, out: &mut String, group: &MatchGroup) {
        out.clear();
        for (i, (mark, prefix)) in group
            .marks()
            .iter()
            .zip(&self.prefixes[group.rule()])
            .enumerate()
        {
            if i > 0 {
                out.push_str("; ");
            }
            out.push_str(prefix);
            out.push(' ');
            push_ten_thousandths(out, u64::from(mark.value()));
            if mark.passed() {
                out.push_str(" +");
                push_ten_thousandths(out, u64::from(mark.contribution()));
            } else {
                out.push_str(" failed");
            }
        }
    }
}

/// Appends one CSV cell as the csv crate writes it with its default settings: quoted, with
/// quotes doubled, only when it holds a comma, a quote, a carriage return or a line feed.
fn push_cell(out: &mut String, text: &str) {
    if !text
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.push_str(text);
        return;
    }
    out.push('"');
    for (i, part) in text.split('"').enumerate() {
        if i > 0 {
            out.push_str("\"\"");
        }
        out.push_str(part);
    }
    out.push('"');
}

/// unmatched_left.csv or unmatched_right.csv.
///
/// Rows are rendered in parallel batches and written in order, a window at a time, as for
/// matches.csv. The records are listed in id order, which is unrelated to where they lie:
/// each block's records, then their ids and references, are read by loops that only load
/// before its rows are built (see `IdTable::gather`).
pub fn write_unmatched(
    mut out: impl Write,
    records: &Records,
    indices: &[u32],
) -> std::io::Result<()> {
    out.write_all(b"id,line,reference,amount,currency,date,counterparty,description\n")?;
    let mut buffers: Vec<String> = Vec::new();
    for rows in indices.chunks(window_rows()) {
        let batches = render_batches(&mut buffers, rows, |buffer, _, batch| {
            render_unmatched(buffer, records, batch);
        });
        for buffer in &buffers[..batches] {
            out.write_all(buffer.as_bytes())?;
        }
    }
    out.flush()
}

/// Records read ahead of the rows built from them.
const TOUCH_BLOCK: usize = 64;

/// Appends the unmatched.csv rows of `indices`.
fn render_unmatched(out: &mut String, records: &Records, indices: &[u32]) {
    let text = |out: &mut String, value: Option<&str>| {
        if let Some(value) = value {
            push_cell(out, &neutralize(value));
        }
    };
    for block in indices.chunks(TOUCH_BLOCK) {
        let touched = block.iter().fold(0u64, |sum, &i| {
            let record = records.get(i as usize);
            sum.wrapping_add(record.line())
                .wrapping_add(record.amount().map_or(0, |a| u64::from(a.scale())))
                .wrapping_add(record.date().map_or(0, |d| u64::from(d.day())))
        });
        let touched = block.iter().fold(touched, |sum, &i| {
            let record = records.get(i as usize);
            let first = |text: Option<&str>| text.and_then(|t| t.bytes().next()).unwrap_or(0);
            sum.wrapping_add(u64::from(first(Some(record.id()))))
                .wrapping_add(u64::from(first(record.reference())))
        });
        std::hint::black_box(touched);
        for &i in block {
            let record = records.get(i as usize);
            push_cell(out, &neutralize(record.id()));
            out.push(',');
            push_number(out, record.line(), 1);
            out.push(',');
            text(out, record.reference());
            out.push(',');
            if let Some(amount) = record.amount() {
                push_decimal_as_displayed(out, amount);
            }
            out.push(',');
            if let Some(currency) = record.currency() {
                out.push_str(currency.as_str());
            }
            out.push(',');
            if let Some(date) = record.date() {
                push_date(out, date);
            }
            out.push(',');
            text(out, record.counterparty());
            out.push(',');
            text(out, record.description());
            out.push('\n');
        }
    }
}

/// Writes a date as `Display` writes it: `YYYY-MM-DD` for years 0 to 9999 (the others through
/// the formatter, which adds a sign).
fn push_date(out: &mut String, date: NaiveDate) {
    let year = date.year();
    match u64::try_from(year) {
        Ok(year @ 0..=9999) => {
            push_number(out, year, 4);
            out.push('-');
            push_number(out, u64::from(date.month()), 2);
            out.push('-');
            push_number(out, u64::from(date.day()), 2);
        }
        _ => {
            let _ = write!(out, "{date}");
        }
    }
}

/// breaks.csv.
pub fn write_breaks(
    out: impl Write,
    outcome: &Outcome,
    rules: &CompiledRules,
    left: &Records,
    right: &Records,
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
        let (l, r) = (left.get(item.left as usize), right.get(item.right as usize));
        writer
            .write_record([
                neutralize(&rules.rules[item.rule].name).into_owned(),
                neutralize(l.id()).into_owned(),
                neutralize(r.id()).into_owned(),
                l.amount().map(|a| a.to_string()).unwrap_or_default(),
                r.amount().map(|a| a.to_string()).unwrap_or_default(),
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
    use crate::record::Record;

    #[test]
    fn dates_are_written_as_display_writes_them() {
        let mut checked = 0;
        let years = (-50..=120)
            .chain(1900..=2100)
            .chain([9998, 9999, 10_000, 262_142]);
        for year in years {
            for (month, day) in [(1, 1), (2, 28), (6, 9), (12, 31)] {
                let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else {
                    continue;
                };
                let mut out = String::new();
                push_date(&mut out, date);
                assert_eq!(out, date.to_string());
                checked += 1;
            }
        }
        assert!(checked > 1500);
    }

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
    fn decimals_are_written_as_display_writes_them() {
        let mut values: Vec<Decimal> = [
            "0",
            "-0",
            "0.000",
            "-0.00",
            "1",
            "-1",
            "10",
            "100.00",
            "-19.37",
            "0.5",
            "-0.0005",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7922816251426433759354395033.5",
            "123.4500",
        ]
        .iter()
        .map(|text| text.parse().expect("a decimal literal"))
        .collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mantissa = i64::from_ne_bytes(state.to_ne_bytes()) >> (state % 60);
            values.push(Decimal::new(mantissa, (state >> 58) as u32 % 29));
        }
        for value in values {
            let mut out = String::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.normalize().to_string(), "{value:?}");
            out.clear();
            push_decimal_as_displayed(&mut out, value);
            assert_eq!(out, value.to_string(), "{value:?}");
        }
    }

    #[test]
    fn numbers_are_zero_padded_to_their_width() {
        for (value, width, expected) in [
            (0, 1, "0"),
            (7, 6, "000007"),
            (1_234_567, 6, "1234567"),
            (u64::MAX, 20, "18446744073709551615"),
            (42, 25, "0000000000000000000000042"),
        ] {
            let mut out = String::new();
            push_number(&mut out, value, width);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn cells_are_quoted_as_the_csv_crate_quotes_them() {
        let cells = [
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            "line\nbreak",
            "cr\rhere",
            "tab\tok",
            "'=1+1",
            "ünïcødé, too",
            ",",
            "\"\"",
            " spaced ",
        ];
        for cell in cells {
            let mut expected = csv::Writer::from_writer(Vec::new());
            expected
                .write_record(["x", cell, "y"])
                .expect("writes to memory");
            let expected = String::from_utf8(expected.into_inner().expect("flushes to memory"))
                .expect("UTF-8 in, UTF-8 out");
            let mut ours = String::from("x,");
            push_cell(&mut ours, cell);
            ours.push_str(",y\n");
            assert_eq!(ours, expected, "{cell:?}");
        }
    }

    #[test]
    fn unmatched_rows_are_what_the_csv_writer_made_of_the_same_values() {
        use crate::record::Currency;
        let texts = [
            "plain",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
            "=1+1",
            "-5",
            "ünï, çødé",
        ];
        let records: Vec<Record> = (0..5000usize)
            .map(|i| {
                let mut record = Record::new(format!("{}{i}", ["L", "=", "id,"][i % 3]));
                record.line = i as u64 * 7 + 2;
                record.reference = (i % 4 != 0).then(|| texts[i % texts.len()].into());
                record.amount =
                    (i % 5 != 0).then(|| Decimal::new(i as i64 * 37 - 90_000, (i % 4) as u32));
                record.currency = (i % 2 == 0).then(|| Currency::parse("eur")).flatten();
                record.date = NaiveDate::from_ymd_opt(
                    [2026, 1, 9999, 10_000, -3][i % 5],
                    1 + (i % 12) as u32,
                    1 + (i % 28) as u32,
                );
                record.counterparty = (i % 3 == 0).then(|| texts[(i / 3) % texts.len()].into());
                record.description = (i % 7 == 0).then(|| "x".repeat(i % 40).into());
                record
            })
            .collect();
        // Records in an order unrelated to their positions, over several batches and windows.
        let indices: Vec<u32> = (0..records.len() as u32)
            .rev()
            .step_by(3)
            .chain((0..records.len() as u32).cycle().take(3 * RENDER_CHUNK * 4))
            .collect();
        let mut ours = Vec::new();
        let stored = Records::from(records.clone());
        write_unmatched(&mut ours, &stored, &indices).expect("writes to memory");

        let mut expected = csv::Writer::from_writer(Vec::new());
        expected
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
            .expect("writes to memory");
        let text = |value: &Option<Box<str>>| {
            value
                .as_deref()
                .map(|v| neutralize(v).into_owned())
                .unwrap_or_default()
        };
        for &i in &indices {
            let record = &records[i as usize];
            expected
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
                .expect("writes to memory");
        }
        let expected = expected.into_inner().expect("flushes to memory");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&expected)
        );
    }

    /// Every id read back through an `N`-byte table, held in it or not.
    fn ids_read_back<const N: usize>() {
        let ids = [
            "L1",
            "8-bytes!",
            "9-bytes!!",
            "sixteen-bytes-id",
            "seventeen-bytes-i",
            "ünï",
            "a\0b",
            "=SUM(A1)",
            "x",
        ];
        let records: Records = ids
            .iter()
            .map(|id| Record::new(*id))
            .collect::<Vec<_>>()
            .into();
        let table = IdTable::<N>::new(&records);
        let mut entries = Vec::new();
        let all: Vec<u32> = (0..ids.len() as u32).collect();
        table.gather(all.iter(), &mut entries);
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(table.id(&entries[index], index as u32), *id, "N = {N}");
        }
        let mut out = String::new();
        table.gather([7, 0, 4].iter(), &mut entries);
        join_ids_into(&mut out, &table, &[7, 0, 4], &entries);
        assert_eq!(out, "'=SUM(A1)|L1|seventeen-bytes-i", "N = {N}");
    }

    #[test]
    fn ids_are_the_same_from_the_table_or_the_record() {
        ids_read_back::<8>();
        ids_read_back::<16>();
    }

    #[test]
    fn matches_csv_is_the_same_with_either_id_table() {
        let left: Records = ["L1", "L22", "L333"]
            .iter()
            .map(|id| Record::new(*id))
            .collect::<Vec<_>>()
            .into();
        let right: Records = ["R1", "R22", "R333"]
            .iter()
            .map(|id| Record::new(*id))
            .collect::<Vec<_>>()
            .into();
        let rules = crate::rules::RulesFile::from_toml(
            r#"
[left]
id = "id"
[right]
id = "id"
[[rules]]
name = "by id"
criteria = [ { test = "equals", field = "id" } ]
"#,
        )
        .expect("parses")
        .compile()
        .expect("valid");
        let outcome = Outcome {
            groups: (0..3)
                .map(|i| {
                    MatchGroup::new(
                        0,
                        &[i][..],
                        &[2 - i][..],
                        1.0,
                        None,
                        crate::outcome::Status::AutoConfirmed,
                        Marks::default(),
                    )
                })
                .collect(),
            ..Outcome::default()
        };
        let (mut eight, mut sixteen) = (Vec::new(), Vec::new());
        write_matches_with::<8>(&mut eight, &outcome, &rules, &left, &right).expect("writes");
        write_matches_with::<16>(&mut sixteen, &outcome, &rules, &left, &right).expect("writes");
        let text = String::from_utf8(eight.clone()).expect("UTF-8");
        assert!(text.contains(",L22,R22,"), "{text}");
        assert!(text.contains(",L333,R1,"), "{text}");
        assert_eq!(eight, sixteen);
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
