//! Mappings: how one source's columns become records ([`Records`]).
//!
//! The serde form ([`SourceSpec`]) is what users write in the rules file; [`Mapping::compile`]
//! checks it and binds it to a header row. [`Mapping::record_into`] turns one row into a record
//! or a [`RowError`] naming the line, column, value and reason — a value that does not parse
//! never becomes zero or an empty date.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::parse::{AmountFormat, DateFormats, parse_amount, trim};
use crate::record::{Currency, RecordValues, Records};

/// File formats the readers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma- (or other-) separated values with a header row.
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// What to do with a row that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop at the first bad row (the default: nothing is silently dropped).
    #[default]
    Fail,
    /// Report the row, leave it out, go on.
    Skip,
}

/// Which source columns hold the canonical fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldColumns {
    /// Reference column.
    pub reference: Option<String>,
    /// Signed amount column.
    pub amount: Option<String>,
    /// Debit amount column (alternative to `amount`, with `credit`).
    pub debit: Option<String>,
    /// Credit amount column (alternative to `amount`, with `debit`).
    pub credit: Option<String>,
    /// Date column.
    pub date: Option<String>,
    /// Counterparty column.
    pub counterparty: Option<String>,
    /// Description column.
    pub description: Option<String>,
    /// Currency column (or set `parse.currency` for a constant).
    pub currency: Option<String>,
}

/// A column whose value says whether an amount is a debit or a credit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// The column.
    pub column: String,
    /// Values meaning debit (the amount becomes negative), compared case-insensitively.
    #[serde(default = "default_debits")]
    pub debit: Vec<String>,
    /// Values meaning credit (the amount stays positive).
    #[serde(default = "default_credits")]
    pub credit: Vec<String>,
}

fn default_debits() -> Vec<String> {
    vec!["D".into(), "DR".into(), "DEBIT".into()]
}

fn default_credits() -> Vec<String> {
    vec!["C".into(), "CR".into(), "CREDIT".into()]
}

/// How values are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseOptions {
    /// Date formats, tried in order (strftime syntax).
    #[serde(default = "default_date_formats")]
    pub date_formats: Vec<String>,
    /// Decimal separator.
    #[serde(default = "default_decimal")]
    pub decimal_separator: char,
    /// Thousands separator; `""` for none.
    #[serde(default = "default_thousands", with = "optional_char")]
    pub thousands_separator: Option<char>,
    /// Whether `(12.50)` is negative.
    #[serde(default = "yes")]
    pub parentheses_negative: bool,
    /// Debit/credit indicator column.
    pub indicator: Option<Indicator>,
    /// Negate every amount (a ledger's view against a bank's).
    #[serde(default)]
    pub flip_sign: bool,
    /// A constant currency for every row.
    pub currency: Option<String>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            date_formats: default_date_formats(),
            decimal_separator: '.',
            thousands_separator: Some(','),
            parentheses_negative: true,
            indicator: None,
            flip_sign: false,
            currency: None,
        }
    }
}

fn default_date_formats() -> Vec<String> {
    vec!["%Y-%m-%d".into()]
}
fn default_decimal() -> char {
    '.'
}
fn default_thousands() -> Option<char> {
    Some(',')
}
fn yes() -> bool {
    true
}

mod optional_char {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<char>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.map(String::from).unwrap_or_default())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<char>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (None, _) => Ok(None),
            (Some(c), None) => Ok(Some(c)),
            _ => Err(serde::de::Error::custom(
                "expected a single character or \"\"",
            )),
        }
    }
}

/// Limits that turn hostile or broken input into clear errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Longest row, in bytes.
    #[serde(default = "default_row_bytes")]
    pub max_row_bytes: usize,
    /// Most fields in a row.
    #[serde(default = "default_fields")]
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_row_bytes: default_row_bytes(),
            max_fields: default_fields(),
        }
    }
}

fn default_row_bytes() -> usize {
    1 << 20
}
fn default_fields() -> usize {
    1024
}

/// One source, as written in the rules file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A name for messages (e.g. "bank statement").
    #[serde(default)]
    pub name: Option<String>,
    /// csv or jsonl.
    #[serde(default)]
    pub format: Format,
    /// CSV delimiter.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Column holding a stable id; without it, ids are `row-N` (N = data row number).
    pub id: Option<String>,
    /// Canonical field columns.
    #[serde(default)]
    pub fields: FieldColumns,
    /// Value formats.
    #[serde(default)]
    pub parse: ParseOptions,
    /// Other columns to keep for rules (referred to as `column:NAME`).
    #[serde(default)]
    pub keep: Vec<String>,
    /// fail or skip.
    #[serde(default)]
    pub on_error: OnError,
    /// Row limits.
    #[serde(default)]
    pub limits: Limits,
}

impl Default for SourceSpec {
    fn default() -> Self {
        Self {
            name: None,
            format: Format::Csv,
            delimiter: ',',
            id: None,
            fields: FieldColumns::default(),
            parse: ParseOptions::default(),
            keep: Vec::new(),
            on_error: OnError::Fail,
            limits: Limits::default(),
        }
    }
}

fn default_delimiter() -> char {
    ','
}

/// A row that did not become a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Line number in the file (header = line 1).
    pub line: u64,
    /// The column at fault (empty when the row as a whole is).
    pub column: String,
    /// The offending value (cut at 80 characters).
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.reason)
        } else {
            write!(
                f,
                "line {}, column {:?}: value {:?}: {}",
                self.line, self.column, self.value, self.reason
            )
        }
    }
}

fn row_error(line: u64, column: &str, value: &str, reason: impl Into<String>) -> RowError {
    let value: String = value.chars().take(80).collect();
    RowError {
        line,
        column: column.to_owned(),
        value,
        reason: reason.into(),
    }
}

/// Where each needed column sits in the rows.
#[derive(Debug, Clone)]
struct Columns {
    id: Option<usize>,
    reference: Option<usize>,
    amount: Option<usize>,
    debit: Option<usize>,
    credit: Option<usize>,
    date: Option<usize>,
    counterparty: Option<usize>,
    description: Option<usize>,
    currency: Option<usize>,
    indicator: Option<usize>,
    keep: Vec<usize>,
}

/// A [`SourceSpec`] checked and bound to a header.
#[derive(Debug, Clone)]
pub struct Mapping {
    spec: SourceSpec,
    columns: Columns,
    names: Vec<String>,
    amounts: AmountFormat,
    dates: DateFormats,
    constant_currency: Option<Currency>,
    debit_values: Vec<String>,
    credit_values: Vec<String>,
}

impl Mapping {
    /// Checks `spec` against the source's `header` (column names in order). Errors name the
    /// setting and what would be valid.
    pub fn compile(spec: &SourceSpec, header: &[String]) -> Result<Self, String> {
        let find = |setting: &str, name: &Option<String>| -> Result<Option<usize>, String> {
            match name {
                None => Ok(None),
                Some(name) => header.iter().position(|h| h == name).map(Some).ok_or_else(|| {
                    format!("{setting} names column {name:?}, which the header does not have (it has: {})", header.join(", "))
                }),
            }
        };
        let fields = &spec.fields;
        if fields.amount.is_some() && (fields.debit.is_some() || fields.credit.is_some()) {
            return Err(
                "fields.amount and fields.debit/credit are alternatives; set one or the other"
                    .to_owned(),
            );
        }
        if fields.debit.is_some() != fields.credit.is_some() {
            return Err("fields.debit and fields.credit go together; set both".to_owned());
        }
        if fields.currency.is_some() && spec.parse.currency.is_some() {
            return Err("fields.currency (a column) and parse.currency (a constant) are alternatives; set one".to_owned());
        }
        let constant_currency = match &spec.parse.currency {
            None => None,
            Some(code) => Some(Currency::parse(code).ok_or_else(|| {
                format!("parse.currency {code:?} is not a three-letter currency code")
            })?),
        };
        if spec.parse.decimal_separator == spec.parse.thousands_separator.unwrap_or('\0') {
            return Err(
                "parse.decimal_separator and parse.thousands_separator must differ".to_owned(),
            );
        }
        let columns = Columns {
            id: find("id", &spec.id)?,
            reference: find("fields.reference", &fields.reference)?,
            amount: find("fields.amount", &fields.amount)?,
            debit: find("fields.debit", &fields.debit)?,
            credit: find("fields.credit", &fields.credit)?,
            date: find("fields.date", &fields.date)?,
            counterparty: find("fields.counterparty", &fields.counterparty)?,
            description: find("fields.description", &fields.description)?,
            currency: find("fields.currency", &fields.currency)?,
            indicator: find(
                "parse.indicator.column",
                &spec.parse.indicator.as_ref().map(|i| i.column.clone()),
            )?,
            keep: spec
                .keep
                .iter()
                .map(|name| find("keep", &Some(name.clone())).map(|i| i.unwrap_or(0)))
                .collect::<Result<_, _>>()?,
        };
        let dates = DateFormats::new(&spec.parse.date_formats)
            .map_err(|error| format!("parse.date_formats: {error}"))?;
        let upper = |values: &[String]| {
            values
                .iter()
                .map(|v| v.trim().to_ascii_uppercase())
                .collect::<Vec<_>>()
        };
        Ok(Self {
            columns,
            names: header.to_vec(),
            amounts: AmountFormat {
                decimal_separator: spec.parse.decimal_separator,
                thousands_separator: spec.parse.thousands_separator,
                parentheses_negative: spec.parse.parentheses_negative,
            },
            dates,
            constant_currency,
            debit_values: spec
                .parse
                .indicator
                .as_ref()
                .map_or_else(Vec::new, |i| upper(&i.debit)),
            credit_values: spec
                .parse
                .indicator
                .as_ref()
                .map_or_else(Vec::new, |i| upper(&i.credit)),
            spec: spec.clone(),
        })
    }

    /// The spec this mapping was compiled from.
    pub fn spec(&self) -> &SourceSpec {
        &self.spec
    }

    /// Turns one row (values in header order) from `line` into a record added to `records`.
    /// A row that fails adds nothing.
    pub fn record_into(
        &self,
        line: u64,
        data_row: u64,
        values: &[&str],
        records: &mut Records,
    ) -> Result<(), RowError> {
        let columns = &self.columns;
        let get = |index: Option<usize>| index.map(|i| values.get(i).copied().unwrap_or(""));
        let name = |index: Option<usize>| {
            index
                .and_then(|i| self.names.get(i))
                .map_or("", String::as_str)
        };
        let text = |index: Option<usize>| get(index).map(trim).filter(|t| !t.is_empty());

        let generated_id;
        let id: &str = match get(columns.id).map(|value| (value, trim(value))) {
            Some((_, id)) if !id.is_empty() => id,
            Some((value, _)) => return Err(row_error(line, name(columns.id), value, "empty id")),
            None => {
                generated_id = format!("row-{data_row}");
                &generated_id
            }
        };
        let amount_at = |index: Option<usize>| -> Result<Option<Decimal>, RowError> {
            match get(index) {
                None => Ok(None),
                Some(value) if trim(value).is_empty() => Ok(None),
                Some(value) => parse_amount(value, &self.amounts)
                    .map(Some)
                    .map_err(|reason| row_error(line, name(index), value, reason)),
            }
        };
        let mut amount = if columns.debit.is_some() {
            match (amount_at(columns.debit)?, amount_at(columns.credit)?) {
                (Some(debit), None) => Some(-debit.abs()),
                (None, Some(credit)) => Some(credit.abs()),
                (None, None) => None,
                (Some(debit), Some(credit)) if debit.is_zero() => Some(credit.abs()),
                (Some(debit), Some(credit)) if credit.is_zero() => Some(-debit.abs()),
                (Some(_), Some(_)) => {
                    return Err(row_error(
                        line,
                        name(columns.debit),
                        get(columns.debit).unwrap_or(""),
                        "both debit and credit hold an amount",
                    ));
                }
            }
        } else {
            amount_at(columns.amount)?
        };
        if columns.amount.is_some() && amount.is_none() {
            return Err(row_error(line, name(columns.amount), "", "missing amount"));
        }
        if let (Some(value), Some(index)) = (amount, columns.indicator) {
            let raw = values.get(index).copied().unwrap_or("");
            let flag = raw.trim().to_ascii_uppercase();
            amount = Some(if self.debit_values.contains(&flag) {
                -value.abs()
            } else if self.credit_values.contains(&flag) {
                value.abs()
            } else {
                return Err(row_error(
                    line,
                    name(columns.indicator),
                    raw,
                    format!(
                        "not a debit/credit indicator; expected one of {:?} or {:?}",
                        self.debit_values, self.credit_values
                    ),
                ));
            });
        }
        if self.spec.parse.flip_sign {
            amount = amount.map(|value| -value);
        }
        let date = match get(columns.date) {
            None => None,
            Some(value) => Some(self.dates.parse(value).map_err(|reason| {
                row_error(
                    line,
                    name(columns.date),
                    value,
                    format!("{reason} ({})", self.spec.parse.date_formats.join(", ")),
                )
            })?),
        };
        let currency = match (get(columns.currency), self.constant_currency) {
            (Some(value), _) if trim(value).is_empty() => None,
            (Some(value), _) => Some(Currency::parse(value).ok_or_else(|| {
                row_error(
                    line,
                    name(columns.currency),
                    value,
                    "not a three-letter currency code",
                )
            })?),
            (None, constant) => constant,
        };
        records.push_row(
            &RecordValues {
                id,
                line,
                reference: text(columns.reference),
                amount,
                currency,
                date,
                counterparty: text(columns.counterparty),
                description: text(columns.description),
            },
            columns.keep.iter().map(|i| text(Some(*i))),
        );
        Ok(())
    }
}
