//! Records: what both sides of a reconciliation are made of once their columns are mapped.
//!
//! A record has a stable id (from an id column, or `row-N` when the source has none) and the
//! canonical fields — reference, amount with currency, date, counterparty, description — plus
//! the values of any other columns the rules name. Amounts are exact decimals, never floats.
//!
//! Memory: a record is 120 bytes plus its text (ids, references, names: typically 40–100
//! bytes), so a million records per side stay well under 400 MB.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
        let bytes = text.trim().as_bytes();
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
