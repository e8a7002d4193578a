//! Records: what both sides of a reconciliation are made of once their columns are mapped.
//!
//! A record has a stable id (from an id column, or `row-N` when the source has none) and the
//! canonical fields — reference, amount with currency, date, counterparty, description — plus
//! the values of any other columns the rules name. Amounts are exact decimals, never floats.
//!
//! A side's records are kept by column in [`Records`]: each field in its own vector, and the
//! text of each text field in one buffer with the end of every value. A [`RecordRef`] reads
//! one record's fields from there; [`Record`] is one record owned whole, for building records
//! one at a time (tests, callers with their own sources).
//!
//! Memory per record: the id and every mapped text field take their text plus 4 bytes (8 once the
//! field's text passes 2 GiB on its side), the amount 8 bytes (a byte of scale and sign above its
//! magnitude's 56 bits, in one word; a wider one is kept whole aside), the date 4 bytes. Currencies
//! are kept as runs of equal codes, so a side in one currency (or a few, or none) costs nothing per
//! record for them; past 1024 changes from one record to the next (`MAX_RUNS`), 4 bytes a record.
//! Line numbers are kept the same way, as the places where a row does not start on the line after
//! the previous row's (a quoted field over several lines, a skipped row): a file of one line per
//! row costs nothing for them, one with more than 1024 such places 8 bytes a record. A text field
//! that no record has (an unmapped counterparty, say) takes nothing. An
//! exact reference-and-amount source with 8-byte ids and 11-byte references is about 39 bytes a
//! record, so a million records per side take about 78 MB for both sides. (Kept as one
//! struct per record with its text in separate allocations, the same records took 310 MB.)
//! Their id order (`Records::id_order`), once asked for, adds 4 bytes a record; the reader
//! asks, for its duplicate check, and the engine reuses it.

use std::fmt;
use std::sync::OnceLock;

use chrono::NaiveDate;
use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::id_order::IdOrder;

/// Which input a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The first dataset (e.g. the bank statement).
    Left,
    /// The second dataset (e.g. the ledger).
    Right,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::Left => Self::Right,
            Self::Right => Self::Left,
        }
    }

    /// `left` or `right`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
        }
    }
}

/// An ISO 4217-style currency code: three ASCII letters, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses three letters (any case).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = crate::parse::trim(text).as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        Some(Self([
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Constructed from ASCII letters only.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A canonical field, or another column by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// The record id.
    Id,
    /// Payment or invoice reference.
    Reference,
    /// Signed amount.
    Amount,
    /// Currency code.
    Currency,
    /// Booking or value date.
    Date,
    /// The other party's name.
    Counterparty,
    /// Free text.
    Description,
    /// Any other column, by its index among the kept columns.
    Column(usize),
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Stable id, unique within its side.
    pub id: Box<str>,
    /// The line (1-based, header = 1) it came from, for messages.
    pub line: u64,
    /// Reference.
    pub reference: Option<Box<str>>,
    /// Amount.
    pub amount: Option<Decimal>,
    /// Currency.
    pub currency: Option<Currency>,
    /// Date.
    pub date: Option<NaiveDate>,
    /// Counterparty.
    pub counterparty: Option<Box<str>>,
    /// Description.
    pub description: Option<Box<str>>,
    /// Values of the kept extra columns, in the mapping's `keep` order.
    pub extra: Box<[Option<Box<str>>]>,
}

impl Record {
    /// A record with only an id (tests and builders fill in the rest).
    pub fn new(id: impl Into<Box<str>>) -> Self {
        Self {
            id: id.into(),
            line: 0,
            reference: None,
            amount: None,
            currency: None,
            date: None,
            counterparty: None,
            description: None,
            extra: Box::new([]),
        }
    }

    /// The text of a field, when it is textual and present.
    pub fn text(&self, field: &Field) -> Option<&str> {
        match field {
            Field::Id => Some(&self.id),
            Field::Reference => self.reference.as_deref(),
            Field::Counterparty => self.counterparty.as_deref(),
            Field::Description => self.description.as_deref(),
            Field::Currency => self.currency.as_ref().map(Currency::as_str),
            Field::Column(index) => self.extra.get(*index).and_then(|value| value.as_deref()),
            Field::Amount | Field::Date => None,
        }
    }
}

/// Text values of one field, one after another in one buffer.
///
/// `ends[i]` is where value `i` ends in `bytes`, with [`ABSENT`] set when the record has no
/// value; the value starts where the one before it ends. While no record has a value, `ends`
/// stays empty and the column costs nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TextColumn {
    bytes: String,
    ends: Ends,
    len: usize,
}

/// Marks an absent value in [`TextColumn::ends`].
const ABSENT: u64 = 1 << 63;

/// Marks an absent value in [`Ends::Narrow`].
const NARROW_ABSENT: u32 = 1 << 31;

/// The ends of a text column's values, read and written as `u64`s with [`ABSENT`]: 4 bytes
/// each while the column's text is under 2 GiB, widened once to 8 bytes each when it passes
/// that.
#[derive(Debug, Clone)]
enum Ends {
    /// Ends below 2³¹, with [`NARROW_ABSENT`] for [`ABSENT`].
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Ends {
    fn default() -> Self {
        Self::Narrow(Vec::new())
    }
}

impl Ends {
    fn len(&self) -> usize {
        match self {
            Self::Narrow(ends) => ends.len(),
            Self::Wide(ends) => ends.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, index: usize) -> Option<u64> {
        match self {
            // The flag moves from bit 31 to bit 63.
            Self::Narrow(ends) => ends.get(index).map(|&end| {
                u64::from(end & !NARROW_ABSENT) | (u64::from(end & NARROW_ABSENT) << 32)
            }),
            Self::Wide(ends) => ends.get(index).copied(),
        }
    }

    fn push(&mut self, end: u64) {
        if let Self::Narrow(ends) = self {
            match u32::try_from(end & !ABSENT) {
                Ok(offset) if offset < NARROW_ABSENT => {
                    ends.push(offset | if end & ABSENT != 0 { NARROW_ABSENT } else { 0 });
                    return;
                }
                _ => self.widen(),
            }
        }
        if let Self::Wide(ends) = self {
            ends.push(end);
        }
    }

    /// Switches to 8-byte ends, keeping the values.
    fn widen(&mut self) {
        if let Self::Narrow(_) = self {
            let wide = (0..self.len())
                .filter_map(|index| self.get(index))
                .collect();
            *self = Self::Wide(wide);
        }
    }

    fn resize(&mut self, len: usize, end: u64) {
        while self.len() < len {
            self.push(end);
        }
    }

    /// Appends `other`'s ends, each `base` further on.
    fn extend_shifted(&mut self, other: &Self, base: u64) {
        // Ends only grow, so the last is the largest: when it stays narrow, all do, and adding
        // `base` to a flagged end cannot carry into the flag.
        let last = other.get(other.len().wrapping_sub(1)).unwrap_or(0) & !ABSENT;
        if let (Self::Narrow(mine), Self::Narrow(theirs)) = (&mut *self, other)
            && let Ok(base) = u32::try_from(base)
            && last + u64::from(base) < u64::from(NARROW_ABSENT)
        {
            mine.extend(theirs.iter().map(|end| end + base));
            return;
        }
        self.reserve(other.len());
        for index in 0..other.len() {
            if let Some(end) = other.get(index) {
                self.push(end + base);
            }
        }
    }

    fn clear(&mut self) {
        match self {
            Self::Narrow(ends) => ends.clear(),
            // Emptied, the column's text is back under 2 GiB.
            Self::Wide(_) => *self = Self::default(),
        }
    }

    fn reserve(&mut self, additional: usize) {
        match self {
            Self::Narrow(ends) => ends.reserve(additional),
            Self::Wide(ends) => ends.reserve(additional),
        }
    }
}

/// Equal when they hold the same ends, however wide.
impl PartialEq for Ends {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Narrow(a), Self::Narrow(b)) => a == b,
            (Self::Wide(a), Self::Wide(b)) => a == b,
            _ => self.len() == other.len() && (0..self.len()).all(|i| self.get(i) == other.get(i)),
        }
    }
}

impl Eq for Ends {}

impl TextColumn {
    /// A column of `len` absent values.
    fn absent(len: usize) -> Self {
        Self {
            len,
            ..Self::default()
        }
    }

    fn push(&mut self, value: Option<&str>) {
        match value {
            Some(text) => {
                if self.ends.len() < self.len {
                    // The first value: the records before it get their (absent) ends now.
                    self.ends.resize(self.len, ABSENT | self.bytes.len() as u64);
                }
                self.bytes.push_str(text);
                self.ends.push(self.bytes.len() as u64);
            }
            None if self.ends.is_empty() => {}
            None => self.ends.push(ABSENT | self.bytes.len() as u64),
        }
        self.len += 1;
    }

    fn get(&self, index: usize) -> Option<&str> {
        let end = self.ends.get(index)?;
        if end & ABSENT != 0 {
            return None;
        }
        let start = match index {
            0 => 0,
            _ => self.ends.get(index - 1).unwrap_or_default() & !ABSENT,
        };
        self.bytes.get(start as usize..end as usize)
    }

    /// Copies `other`'s values after this column's.
    fn append(&mut self, other: &Self) {
        if other.ends.is_empty() {
            if !self.ends.is_empty() {
                let end = ABSENT | self.bytes.len() as u64;
                self.ends.resize(self.len + other.len, end);
            }
        } else {
            if self.ends.len() < self.len {
                self.ends.resize(self.len, ABSENT | self.bytes.len() as u64);
            }
            let base = self.bytes.len() as u64;
            self.bytes.push_str(&other.bytes);
            self.ends.extend_shifted(&other.ends, base);
        }
        self.len += other.len;
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.len = 0;
    }

    /// Room for `additional` more values as long on average as the ones held, when the
    /// column holds values at all.
    fn reserve(&mut self, additional: usize) {
        if !self.ends.is_empty() {
            let average = self.bytes.len() / self.len.max(1) + 1;
            self.bytes.reserve(additional * average);
            self.ends.reserve(additional);
        }
    }
}

/// Line numbers of a side's records, kept as `line − index` (wrapping) in a [`RunColumn`]: a
/// source of one line per row is one run, whatever its length, and a run starts only where a
/// row does not start on the line after the previous row's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LineColumn(RunColumn<u64>);

impl LineColumn {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn push(&mut self, line: u64) {
        let index = self.len() as u64;
        self.0.push(line.wrapping_sub(index));
    }

    fn get(&self, index: usize) -> u64 {
        self.0.get(index).wrapping_add(index as u64)
    }

    fn append(&mut self, other: &Self) {
        // The same lines at positions `self.len()` further on.
        let shift = self.len() as u64;
        self.0
            .append_mapped(&other.0, |offset| offset.wrapping_sub(shift));
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Amounts in 8 bytes each where `Option<Decimal>` takes 20: one word holding a byte of scale,
/// sign and presence above the magnitude's 56 bits, so reading an amount at a random record
/// (a candidate, an unmatched row) reads one cache line, not two. A magnitude of 2⁵⁶ or more
/// (above 720 trillion at two decimals), or a negative zero, is kept whole in `aside` and its
/// position there in the low bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AmountColumn {
    /// Per record, the form byte from bit [`FORM_SHIFT`] up (the scale, 0–28, in its low
    /// bits, with [`NEGATIVE`], [`ASIDE`] or [`NO_AMOUNT`] set) and below it the magnitude or
    /// the position in `aside`.
    words: Vec<u64>,
    aside: Vec<Decimal>,
}

/// Where a word of [`AmountColumn::words`] keeps its form byte.
const FORM_SHIFT: u32 = 56;
/// The magnitude's (or position's) bits of a word.
const MAGNITUDE: u64 = (1 << FORM_SHIFT) - 1;
/// In a form: the amount is negative.
const NEGATIVE: u8 = 1 << 5;
/// In a form: the amount is in `aside`.
const ASIDE: u8 = 1 << 6;
/// In a form: the record has no amount.
const NO_AMOUNT: u8 = 1 << 7;
/// The scale's bits of a form (scales go up to 28).
const SCALE: u8 = NEGATIVE - 1;

/// A word of [`AmountColumn::words`]: `form` above `low` (a magnitude or a position, at most
/// [`MAGNITUDE`]).
fn amount_word(form: u8, low: u64) -> u64 {
    (u64::from(form) << FORM_SHIFT) | low
}

impl AmountColumn {
    fn push(&mut self, amount: Option<Decimal>) {
        let Some(amount) = amount else {
            self.words.push(amount_word(NO_AMOUNT, 0));
            return;
        };
        let magnitude = amount.mantissa().unsigned_abs();
        let negative = amount.is_sign_negative();
        match u64::try_from(magnitude) {
            Ok(magnitude) if magnitude <= MAGNITUDE && (magnitude != 0 || !negative) => {
                // Scales are at most 28: they fit the low five bits.
                let scale = amount.scale() as u8 & SCALE;
                let form = scale | if negative { NEGATIVE } else { 0 };
                self.words.push(amount_word(form, magnitude));
            }
            _ => {
                self.words.push(amount_word(ASIDE, self.aside.len() as u64));
                self.aside.push(amount);
            }
        }
    }

    fn get(&self, index: usize) -> Option<Decimal> {
        let word = self.words[index];
        let form = (word >> FORM_SHIFT) as u8;
        let magnitude = word & MAGNITUDE;
        if form & (NO_AMOUNT | ASIDE) == 0 {
            Some(Decimal::from_parts(
                magnitude as u32,
                (magnitude >> 32) as u32,
                0,
                form & NEGATIVE != 0,
                u32::from(form & SCALE),
            ))
        } else if form & NO_AMOUNT != 0 {
            None
        } else {
            Some(self.aside[magnitude as usize])
        }
    }

    fn append(&mut self, other: &Self) {
        if other.aside.is_empty() {
            self.words.extend_from_slice(&other.words);
        } else {
            for index in 0..other.words.len() {
                self.push(other.get(index));
            }
        }
    }

    fn clear(&mut self) {
        self.words.clear();
        self.aside.clear();
    }

    fn reserve(&mut self, additional: usize) {
        self.words.reserve(additional);
    }
}

/// Runs of equal values kept before a [`RunColumn`] holds one value per record instead.
const MAX_RUNS: usize = 1024;

/// A column whose values mostly repeat from one record to the next (a currency: one per file,
/// or a few runs of each): kept as its runs while there are at most [`MAX_RUNS`] of them, so a
/// side in a single currency (or with none) costs nothing per record, and as one value per
/// record once there are more. Reading a value of the runs is a binary search over them.
#[derive(Debug, Clone)]
enum RunColumn<T> {
    /// (first record of the run, its value), by record; `len` records in all.
    Runs {
        runs: Vec<(usize, T)>,
        len: usize,
    },
    Dense(Vec<T>),
}

impl<T> Default for RunColumn<T> {
    fn default() -> Self {
        Self::Runs {
            runs: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Copy + PartialEq> RunColumn<T> {
    fn len(&self) -> usize {
        match self {
            Self::Runs { len, .. } => *len,
            Self::Dense(values) => values.len(),
        }
    }

    /// The value of record `index`. Panics when it is out of range, as slice indexing does.
    fn get(&self, index: usize) -> &T {
        match self {
            Self::Runs { runs, len } => {
                assert!(index < *len, "record {index} of {len}");
                &runs[runs.partition_point(|(start, _)| *start <= index) - 1].1
            }
            Self::Dense(values) => &values[index],
        }
    }

    /// Every value, in record order.
    fn values(&self) -> impl Iterator<Item = T> + '_ {
        let (runs, dense): (&[(usize, T)], &[T]) = match self {
            Self::Runs { runs, .. } => (runs, &[]),
            Self::Dense(values) => (&[], values),
        };
        let ends = runs
            .iter()
            .skip(1)
            .map(|(start, _)| *start)
            .chain(std::iter::once(self.len()));
        runs.iter()
            .zip(ends)
            .flat_map(|((start, value), end)| std::iter::repeat_n(*value, end - start))
            .chain(dense.iter().copied())
    }

    fn push(&mut self, value: T) {
        match self {
            Self::Runs { runs, len } => {
                if runs.last().is_none_or(|(_, last)| *last != value) {
                    runs.push((*len, value));
                }
                *len += 1;
                if runs.len() > MAX_RUNS {
                    self.make_dense();
                }
            }
            Self::Dense(values) => values.push(value),
        }
    }

    fn append(&mut self, other: &Self) {
        self.append_mapped(other, |value| value);
    }

    /// Appends `other`'s values, each as `map` makes it.
    fn append_mapped(&mut self, other: &Self, map: impl Fn(T) -> T) {
        if let (Self::Runs { runs, len }, Self::Runs { runs: theirs, .. }) = (&mut *self, other) {
            for (start, value) in theirs {
                let value = map(*value);
                if runs.last().is_none_or(|(_, last)| *last != value) {
                    runs.push((*len + start, value));
                }
            }
            *len += other.len();
            if runs.len() > MAX_RUNS {
                self.make_dense();
            }
            return;
        }
        self.make_dense();
        if let Self::Dense(values) = self {
            values.extend(other.values().map(map));
        }
    }

    /// Switches to one value per record.
    fn make_dense(&mut self) {
        if let Self::Runs { .. } = self {
            let mut values = Vec::with_capacity(self.len());
            values.extend(self.values());
            *self = Self::Dense(values);
        }
    }

    /// Removes every value, keeping the memory of a dense column for the next ones.
    fn clear(&mut self) {
        match self {
            Self::Runs { runs, len } => {
                runs.clear();
                *len = 0;
            }
            Self::Dense(values) => values.clear(),
        }
    }

    fn reserve(&mut self, additional: usize) {
        if let Self::Dense(values) = self {
            values.reserve(additional);
        }
    }
}

/// Columns are equal when their values are, however they are kept.
impl<T: Copy + PartialEq> PartialEq for RunColumn<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.values().eq(other.values())
    }
}

impl<T: Copy + Eq> Eq for RunColumn<T> {}

/// The records of one side, kept by column (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    ids: TextColumn,
    lines: LineColumn,
    references: TextColumn,
    amounts: AmountColumn,
    currencies: RunColumn<Option<Currency>>,
    dates: Vec<Option<NaiveDate>>,
    counterparties: TextColumn,
    descriptions: TextColumn,
    /// One column per kept extra column.
    extra: Vec<TextColumn>,
    /// The records' id order, once asked for; emptied by every change.
    id_order: IdOrderCache,
}

/// A kept [`IdOrder`]: derived from the records, so never part of their equality.
#[derive(Debug, Clone, Default)]
struct IdOrderCache(OnceLock<IdOrder>);

impl PartialEq for IdOrderCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for IdOrderCache {}

/// One record's values, borrowed: what [`Records::push_row`] stores. Readers build one per
/// row from the row's own text, so a record's text is copied once, into its columns.
#[derive(Debug, Clone, Default)]
pub struct RecordValues<'v> {
    /// Stable id, unique within its side.
    pub id: &'v str,
    /// The line it came from.
    pub line: u64,
    /// Reference.
    pub reference: Option<&'v str>,
    /// Amount.
    pub amount: Option<Decimal>,
    /// Currency.
    pub currency: Option<Currency>,
    /// Date.
    pub date: Option<NaiveDate>,
    /// Counterparty.
    pub counterparty: Option<&'v str>,
    /// Description.
    pub description: Option<&'v str>,
}

impl Records {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lines.len() == 0
    }

    /// Record `index`. Panics when it is out of range, as slice indexing does.
    pub fn get(&self, index: usize) -> RecordRef<'_> {
        assert!(index < self.len(), "record {index} of {}", self.len());
        RecordRef {
            records: self,
            index,
        }
    }

    /// Every record, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordRef<'_>> + Clone {
        (0..self.len()).map(|index| RecordRef {
            records: self,
            index,
        })
    }

    /// The records' indices in id order (equal ids in index order), sorted on the first call
    /// and kept until the records change.
    pub(crate) fn id_order(&self) -> &IdOrder {
        self.id_order.0.get_or_init(|| IdOrder::of(self))
    }

    /// Every id's text, one after the other, in record order.
    pub(crate) fn id_text(&self) -> &str {
        &self.ids.bytes
    }

    /// Every record, in parallel.
    pub fn par_iter(&self) -> impl IndexedParallelIterator<Item = RecordRef<'_>> {
        (0..self.len()).into_par_iter().map(move |index| RecordRef {
            records: self,
            index,
        })
    }

    /// Adds a record.
    pub fn push(&mut self, record: &Record) {
        self.push_row(
            &RecordValues {
                id: &record.id,
                line: record.line,
                reference: record.reference.as_deref(),
                amount: record.amount,
                currency: record.currency,
                date: record.date,
                counterparty: record.counterparty.as_deref(),
                description: record.description.as_deref(),
            },
            record.extra.iter().map(Option::as_deref),
        );
    }

    /// Adds a record from its values and the values of its kept extra columns.
    pub fn push_row<'v>(
        &mut self,
        values: &RecordValues<'_>,
        extra: impl ExactSizeIterator<Item = Option<&'v str>>,
    ) {
        let len = self.len();
        self.id_order.0.take();
        self.ids.push(Some(values.id));
        self.lines.push(values.line);
        self.references.push(values.reference);
        self.amounts.push(values.amount);
        self.currencies.push(values.currency);
        self.dates.push(values.date);
        self.counterparties.push(values.counterparty);
        self.descriptions.push(values.description);
        let width = extra.len();
        while self.extra.len() < width {
            self.extra.push(TextColumn::absent(len));
        }
        for (column, value) in self.extra.iter_mut().zip(extra) {
            column.push(value);
        }
        for column in self.extra.iter_mut().skip(width) {
            column.push(None);
        }
    }

    /// Keeps only the records for whose index `keep` is true.
    pub fn retain(&mut self, keep: impl Fn(usize) -> bool) {
        let mut kept = Self::default();
        for record in self.iter().filter(|record| keep(record.index)) {
            kept.push_row(&record.values(), record.extras());
        }
        *self = kept;
    }

    /// Copies `other`'s records after these.
    pub fn append(&mut self, other: &Self) {
        let len = self.len();
        self.id_order.0.take();
        self.ids.append(&other.ids);
        self.lines.append(&other.lines);
        self.references.append(&other.references);
        self.amounts.append(&other.amounts);
        self.currencies.append(&other.currencies);
        self.dates.extend_from_slice(&other.dates);
        self.counterparties.append(&other.counterparties);
        self.descriptions.append(&other.descriptions);
        while self.extra.len() < other.extra.len() {
            self.extra.push(TextColumn::absent(len));
        }
        for (index, column) in self.extra.iter_mut().enumerate() {
            match other.extra.get(index) {
                Some(theirs) => column.append(theirs),
                None => column.append(&TextColumn::absent(other.len())),
            }
        }
    }

    /// Removes every record, keeping the memory for the next ones.
    pub fn clear(&mut self) {
        self.id_order.0.take();
        self.ids.clear();
        self.lines.clear();
        self.references.clear();
        self.amounts.clear();
        self.currencies.clear();
        self.dates.clear();
        self.counterparties.clear();
        self.descriptions.clear();
        for column in &mut self.extra {
            column.clear();
        }
    }

    /// Room for `additional` more records like the ones held (text sized by their average).
    pub fn reserve(&mut self, additional: usize) {
        self.ids.reserve(additional);
        self.references.reserve(additional);
        self.amounts.reserve(additional);
        self.currencies.reserve(additional);
        self.dates.reserve(additional);
        self.counterparties.reserve(additional);
        self.descriptions.reserve(additional);
        for column in &mut self.extra {
            column.reserve(additional);
        }
    }
}

impl From<Vec<Record>> for Records {
    fn from(records: Vec<Record>) -> Self {
        records.iter().collect()
    }
}

impl<'r> FromIterator<&'r Record> for Records {
    fn from_iter<I: IntoIterator<Item = &'r Record>>(records: I) -> Self {
        let mut all = Self::default();
        for record in records {
            all.push(record);
        }
        all
    }
}

/// One record of a [`Records`]: reads its fields from their columns.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    records: &'a Records,
    index: usize,
}

impl<'a> RecordRef<'a> {
    /// Its position among its side's records.
    pub fn index(self) -> usize {
        self.index
    }

    /// Stable id, unique within its side.
    pub fn id(self) -> &'a str {
        self.records.ids.get(self.index).unwrap_or_default()
    }

    /// The line (1-based, header = 1) it came from, for messages.
    pub fn line(self) -> u64 {
        self.records.lines.get(self.index)
    }

    /// Reference.
    pub fn reference(self) -> Option<&'a str> {
        self.records.references.get(self.index)
    }

    /// Amount.
    pub fn amount(self) -> Option<Decimal> {
        self.records.amounts.get(self.index)
    }

    /// Currency.
    pub fn currency(self) -> Option<Currency> {
        *self.records.currencies.get(self.index)
    }

    /// Date.
    pub fn date(self) -> Option<NaiveDate> {
        self.records.dates[self.index]
    }

    /// Counterparty.
    pub fn counterparty(self) -> Option<&'a str> {
        self.records.counterparties.get(self.index)
    }

    /// Description.
    pub fn description(self) -> Option<&'a str> {
        self.records.descriptions.get(self.index)
    }

    /// Value of kept extra column `column`.
    pub fn extra(self, column: usize) -> Option<&'a str> {
        self.records.extra.get(column)?.get(self.index)
    }

    /// The text of a field, when it is textual and present.
    pub fn text(self, field: &Field) -> Option<&'a str> {
        match field {
            Field::Id => Some(self.id()),
            Field::Reference => self.reference(),
            Field::Counterparty => self.counterparty(),
            Field::Description => self.description(),
            Field::Currency => {
                let records: &'a Records = self.records;
                records
                    .currencies
                    .get(self.index)
                    .as_ref()
                    .map(Currency::as_str)
            }
            Field::Column(index) => self.extra(*index),
            Field::Amount | Field::Date => None,
        }
    }

    /// Its values, borrowed, as [`Records::push_row`] takes them (with [`RecordRef::extras`]).
    pub fn values(self) -> RecordValues<'a> {
        RecordValues {
            id: self.id(),
            line: self.line(),
            reference: self.reference(),
            amount: self.amount(),
            currency: self.currency(),
            date: self.date(),
            counterparty: self.counterparty(),
            description: self.description(),
        }
    }

    /// The values of every kept extra column, in order.
    pub fn extras(self) -> impl ExactSizeIterator<Item = Option<&'a str>> {
        (0..self.records.extra.len()).map(move |column| self.extra(column))
    }

    /// The record, owned.
    pub fn to_record(self) -> Record {
        let values = self.values();
        Record {
            id: values.id.into(),
            line: values.line,
            reference: values.reference.map(Into::into),
            amount: values.amount,
            currency: values.currency,
            date: values.date,
            counterparty: values.counterparty.map(Into::into),
            description: values.description.map(Into::into),
            extra: self.extras().map(|value| value.map(Into::into)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = Option<Box<str>>> {
        prop::option::of("[a-zé ,\"]{0,6}".prop_map(|t| t.into_boxed_str()))
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            "[A-Z0-9ü-]{0,8}",
            any::<u64>(),
            text(),
            prop::option::of(amount()),
            prop::option::of(Just("eur")),
            prop::option::of(0i64..40_000),
            (text(), text()),
            prop::collection::vec(text(), 0..3),
        )
            .prop_map(
                |(id, line, reference, amount, currency, day, (who, what), extra)| Record {
                    id: id.into(),
                    line,
                    reference,
                    amount,
                    currency: currency.and_then(Currency::parse),
                    date: day.and_then(|d| NaiveDate::from_num_days_from_ce_opt(d as i32)),
                    counterparty: who,
                    description: what,
                    extra: extra.into_boxed_slice(),
                },
            )
    }

    /// Amounts of every form the amount column keeps: magnitudes under 2⁵⁶ (and around it),
    /// wider ones (up to the 96 bits a decimal has), and negative zeros.
    fn amount() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..6).prop_map(|(units, scale)| Decimal::new(units, scale)),
            (-2i64..=2, 0u32..=28, any::<bool>()).prop_map(|(step, scale, negative)| {
                let mut amount = Decimal::from_i128_with_scale((1 << 56) + i128::from(step), scale);
                amount.set_sign_negative(negative);
                amount
            }),
            (any::<i128>(), 0u32..=28).prop_map(|(units, scale)| {
                Decimal::from_i128_with_scale(units % (1i128 << 96), scale)
            }),
            (0u32..=28).prop_map(|scale| {
                let mut zero = Decimal::new(0, scale);
                zero.set_sign_negative(true);
                zero
            }),
        ]
    }

    /// `record` as a `Records` of `width` extra columns gives it back.
    fn padded(record: &Record, width: usize) -> Record {
        let mut extra = record.extra.to_vec();
        extra.resize(width, None);
        Record {
            extra: extra.into_boxed_slice(),
            ..record.clone()
        }
    }

    /// An amount reads back exactly: the same mantissa, scale and sign (a negative zero
    /// included), whichever way it is kept.
    #[test]
    fn amounts_read_back_exactly() {
        let mut negative_zero = Decimal::new(0, 2);
        negative_zero.set_sign_negative(true);
        let amounts = [
            Decimal::new(-12_345, 2),
            Decimal::new(0, 0),
            negative_zero,
            Decimal::from_i128_with_scale((1 << 56) - 1, 2),
            Decimal::from_i128_with_scale(-((1 << 56) - 1), 28),
            Decimal::from_i128_with_scale(1 << 56, 2),
            Decimal::from_i128_with_scale(i128::from(u64::MAX), 3),
            Decimal::from_i128_with_scale(-(i128::from(u64::MAX) + 1), 28),
            Decimal::MAX,
            Decimal::MIN,
        ];
        let mut records = Records::default();
        for (index, amount) in amounts.iter().enumerate() {
            let mut record = Record::new(format!("r{index}"));
            record.amount = Some(*amount);
            records.push(&record);
        }
        records.push(&Record::new("none"));
        for (index, amount) in amounts.iter().enumerate() {
            let stored = records.get(index).amount().expect("stored");
            assert_eq!(stored.serialize(), amount.serialize(), "{amount}");
        }
        assert_eq!(records.get(amounts.len()).amount(), None);
        assert!(negative_zero.is_sign_negative());
        assert_eq!(
            records.amounts.aside.len(),
            6,
            "the five of 2^56 or more and the negative zero"
        );
    }

    /// Text ends are 4 bytes while they are under 2 GiB and read back the same once a column
    /// passes that and they are widened, absent values included.
    #[test]
    fn text_ends_widen_past_two_gibibytes_and_read_back_the_same() {
        let limit = u64::from(NARROW_ABSENT);
        let expected = [
            5,
            ABSENT | 5,
            limit - 1,
            ABSENT | (limit - 1),
            limit,
            ABSENT | limit,
            1 << 40,
        ];
        let mut ends = Ends::default();
        for (count, end) in expected.iter().enumerate() {
            ends.push(*end);
            assert_eq!(matches!(ends, Ends::Narrow(_)), count < 4, "after {end:#x}");
        }
        let read: Vec<u64> = (0..ends.len()).filter_map(|i| ends.get(i)).collect();
        assert_eq!(read, expected);

        // Appending shifted ends: narrow while they fit, widened when they pass the limit.
        let mut small = Ends::default();
        [3, ABSENT | 3, 10]
            .into_iter()
            .for_each(|end| small.push(end));
        let mut joined = small.clone();
        joined.extend_shifted(&small, 10);
        assert!(matches!(joined, Ends::Narrow(_)));
        let read: Vec<u64> = (0..joined.len()).filter_map(|i| joined.get(i)).collect();
        assert_eq!(read, [3, ABSENT | 3, 10, 13, ABSENT | 13, 20]);
        joined.extend_shifted(&small, limit - 5);
        assert!(matches!(joined, Ends::Wide(_)));
        let read: Vec<u64> = (0..joined.len()).filter_map(|i| joined.get(i)).collect();
        assert_eq!(read[6..], [limit - 2, ABSENT | (limit - 2), limit + 5]);

        // The same ends are equal however wide they are kept.
        let mut wide = small.clone();
        wide.widen();
        assert!(matches!(wide, Ends::Wide(_)) && wide == small);
        wide.clear();
        assert!(matches!(wide, Ends::Narrow(_)) && wide.is_empty());
    }

    /// The number of runs a run column keeps, `None` once it keeps a value per record.
    fn runs<T>(column: &RunColumn<T>) -> Option<usize> {
        match column {
            RunColumn::Runs { runs, .. } => Some(runs.len()),
            RunColumn::Dense(_) => None,
        }
    }

    #[test]
    fn the_kept_id_order_follows_every_change() {
        let order = |records: &Records| records.id_order().order.clone();
        let mut records: Records = vec![Record::new("b"), Record::new("a")].into();
        assert_eq!(order(&records), [1, 0]);
        records.push(&Record::new("0"));
        assert_eq!(order(&records), [2, 1, 0]);
        records.append(&vec![Record::new("aa")].into());
        assert_eq!(order(&records), [2, 1, 3, 0]);
        records.retain(|index| index != 1);
        assert_eq!(order(&records), [1, 2, 0]);
        assert_eq!(
            records,
            vec![Record::new("b"), Record::new("0"), Record::new("aa")].into()
        );
        records.clear();
        assert!(order(&records).is_empty());
    }

    /// A source numbered one line per row keeps one run of line numbers, whatever its length;
    /// one whose rows skip lines more than [`MAX_RUNS`] times keeps a line per record.
    #[test]
    fn consecutive_lines_take_one_run() {
        let mut records = Records::default();
        for index in 0..1000u64 {
            let mut record = Record::new(format!("r{index}"));
            record.line = index + 2;
            records.push(&record);
        }
        assert_eq!(runs(&records.lines.0), Some(1));
        assert_eq!(records.get(999).line(), 1001);
        let mut record = Record::new("after a gap");
        record.line = 1005;
        records.push(&record);
        assert_eq!(runs(&records.lines.0), Some(2));
        assert_eq!(
            (records.get(999).line(), records.get(1000).line()),
            (1001, 1005)
        );
        // A row every other line (say, each a quoted field over two lines).
        let mut spread = Records::default();
        for index in 0..=2 * MAX_RUNS as u64 {
            let mut record = Record::new(format!("s{index}"));
            record.line = 2 + 2 * index;
            spread.push(&record);
        }
        assert_eq!(runs(&spread.lines.0), None);
        records.append(&spread);
        assert_eq!(runs(&records.lines.0), None);
        assert_eq!(
            (records.get(1000).line(), records.get(1001).line()),
            (1005, 2)
        );
        assert_eq!(
            records.get(1001 + 2 * MAX_RUNS).line(),
            2 + 4 * MAX_RUNS as u64
        );
    }

    /// A side in one currency keeps one run however many records it has; one whose currency
    /// changes more than [`MAX_RUNS`] times keeps a value per record, and reads the same.
    #[test]
    fn currencies_are_kept_as_runs_until_there_are_many() {
        let eur = Currency::parse("EUR");
        let usd = Currency::parse("USD");
        let mut records = Records::default();
        for index in 0..5000 {
            let mut record = Record::new(format!("r{index}"));
            record.currency = eur;
            records.push(&record);
        }
        assert_eq!(runs(&records.currencies), Some(1));
        let mut alternating = Records::default();
        for index in 0..=2 * MAX_RUNS {
            let mut record = Record::new(format!("a{index}"));
            record.currency = if index % 2 == 0 { eur } else { usd };
            alternating.push(&record);
        }
        assert_eq!(runs(&alternating.currencies), None);
        records.append(&alternating);
        assert_eq!(runs(&records.currencies), None);
        assert_eq!(records.get(4999).currency(), eur);
        assert_eq!(records.get(5001).currency(), usd);
        assert_eq!(records.get(5001).text(&Field::Currency), Some("USD"));
    }

    proptest! {
        /// A run column reads back the values pushed and appended, whether it holds runs or
        /// one value per record, and equals another with the same values however each is kept.
        #[test]
        fn run_columns_read_back_as_stored(
            pieces in prop::collection::vec(
                prop::collection::vec((0u8..3, 1usize..4), 0..1100),
                1..4,
            ),
        ) {
            let mut column: RunColumn<u8> = RunColumn::default();
            let mut expected: Vec<u8> = Vec::new();
            for piece in &pieces {
                let mut part: RunColumn<u8> = RunColumn::default();
                for (value, repeat) in piece {
                    for _ in 0..*repeat {
                        part.push(*value);
                        expected.push(*value);
                    }
                }
                column.append(&part);
            }
            prop_assert_eq!(column.len(), expected.len());
            for (index, value) in expected.iter().enumerate() {
                prop_assert_eq!(column.get(index), value);
            }
            prop_assert_eq!(column.values().collect::<Vec<_>>(), expected.clone());
            let mut dense = column.clone();
            dense.make_dense();
            prop_assert!(matches!(dense, RunColumn::Dense(_)));
            prop_assert_eq!(&dense, &column);
            let runs = expected.chunk_by(|a, b| a == b).count();
            prop_assert_eq!(matches!(column, RunColumn::Runs { .. }), runs <= MAX_RUNS);
        }
    }

    proptest! {
        /// Every field reads back as it was stored, absent values included, however the
        /// records were put together: one by one, by appending pieces, or by keeping some.
        #[test]
        fn records_read_back_as_stored(
            mut records in prop::collection::vec(record(), 0..40),
            split in 0usize..40,
            keep_every in 1usize..4,
            first_line in prop::option::of(0u64..4),
        ) {
            if let Some(first) = first_line {
                // Lines as a reader numbers them: one after another, with a gap now and then
                // (a row over two lines, a skipped row).
                let mut line = first;
                for (index, record) in records.iter_mut().enumerate() {
                    line += if index % 7 == 3 { 2 } else { 1 };
                    record.line = line;
                }
            }
            let width = records.iter().map(|r| r.extra.len()).max().unwrap_or(0);
            let whole: Records = records.iter().collect();
            prop_assert_eq!(whole.len(), records.len());
            for (index, record) in records.iter().enumerate() {
                let stored = whole.get(index);
                prop_assert_eq!(stored.to_record(), padded(record, width));
                prop_assert_eq!(stored.text(&Field::Id), Some(&*record.id));
                prop_assert_eq!(stored.text(&Field::Currency), record.currency.as_ref().map(Currency::as_str));
                prop_assert_eq!(stored.text(&Field::Amount), None);
            }

            let split = split.min(records.len());
            let mut pieces: Records = records[..split].iter().collect();
            let mut tail: Records = records[split..].iter().collect();
            pieces.append(&tail);
            tail.clear();
            prop_assert_eq!(tail.len(), 0);
            for (index, record) in records.iter().enumerate() {
                prop_assert_eq!(pieces.get(index).to_record(), padded(record, width));
            }
            // However they were put together, the same records are kept the same way.
            prop_assert_eq!(&pieces, &whole);

            let mut kept = whole.clone();
            kept.retain(|index| index % keep_every == 0);
            let expected: Vec<Record> = records
                .iter()
                .step_by(keep_every)
                .map(|r| padded(r, width))
                .collect();
            prop_assert_eq!(kept.iter().map(RecordRef::to_record).collect::<Vec<_>>(), expected);
        }
    }
}
