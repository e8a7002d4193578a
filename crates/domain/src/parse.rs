//! Parsing of amounts and dates as finance exports write them, with the options a mapping sets.
//!
//! A value that does not parse is an error naming what was expected — never a silent zero or
//! epoch. Amounts are parsed straight into exact decimals: thousands separators removed, the
//! decimal separator normalised, negatives as a leading or trailing `-` or in parentheses.
//! Dates are tried against each configured format in order; purely numeric formats made of
//! `%Y`, `%m`, `%d` and separators take a fast path, others go through chrono.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// How amounts are written in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountFormat {
    /// The decimal separator (`.` or `,`).
    pub decimal_separator: char,
    /// The thousands separator, if any (`,`, `.`, ` `, `'`).
    pub thousands_separator: Option<char>,
    /// Whether `(12.50)` means `-12.50`.
    pub parentheses_negative: bool,
}

impl Default for AmountFormat {
    fn default() -> Self {
        Self {
            decimal_separator: '.',
            thousands_separator: Some(','),
            parentheses_negative: true,
        }
    }
}

/// `text` without leading and trailing whitespace, exactly as [`str::trim`] gives it. Most
/// values start and end with a printable ASCII byte, and then are returned as they are without
/// decoding characters at both ends: a byte below 0x80 is a whole character, and no printable
/// ASCII one is whitespace. A row has several values, each trimmed on its way to a record.
pub(crate) fn trim(text: &str) -> &str {
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        [only] if only.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Parses an amount; the error says what is wrong.
pub fn parse_amount(text: &str, format: &AmountFormat) -> Result<Decimal, String> {
    let trimmed = trim(text);
    if trimmed.is_empty() {
        return Err("empty amount".to_owned());
    }
    let (negative_by_parens, inner) =
        match trimmed.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            Some(inner) if format.parentheses_negative => (true, inner.trim()),
            Some(_) => {
                return Err("parentheses are not allowed for negatives in this source".to_owned());
            }
            None => (false, trimmed),
        };
    let (negative_by_sign, digits) = if let Some(rest) = inner.strip_prefix('-') {
        (true, rest.trim_start())
    } else if let Some(rest) = inner.strip_suffix('-') {
        (true, rest.trim_end())
    } else if let Some(rest) = inner.strip_prefix('+') {
        (false, rest.trim_start())
    } else {
        (false, inner)
    };
    if negative_by_parens && negative_by_sign {
        return Err("both parentheses and a minus sign".to_owned());
    }
    let negative = negative_by_parens || negative_by_sign;
    // The digits are accumulated as they are checked; a number of up to 28 digits (every
    // amount of money) becomes a Decimal directly, without the canonical text that longer ones
    // are parsed from.
    // The first 19 digits (any u64) are accumulated in a u64, the rest in the i128 they then
    // become: the u64 step is most of the work for money and several times cheaper.
    let (mut small, mut mantissa, mut count, mut scale) = (0u64, 0i128, 0u32, 0u32);
    let mut seen_decimal = false;
    for c in digits.chars() {
        if let Some(digit) = c.to_digit(10) {
            if count < SMALL_DIGITS {
                small = small * 10 + u64::from(digit);
            } else if count < MAX_DIRECT_DIGITS {
                if count == SMALL_DIGITS {
                    mantissa = i128::from(small);
                }
                mantissa = mantissa * 10 + i128::from(digit);
            }
            count += 1;
            scale += u32::from(seen_decimal);
        } else if c == format.decimal_separator && !seen_decimal {
            seen_decimal = true;
        } else if Some(c) == format.thousands_separator && !seen_decimal {
            // Dropped; "1,2,3" is accepted as 123, the common exports do not produce it.
        } else {
            return Err(format!("unexpected character {c:?} in amount"));
        }
    }
    if count == 0 {
        return Err("no digits in amount".to_owned());
    }
    if count <= SMALL_DIGITS {
        mantissa = i128::from(small);
    }
    // (A negative zero keeps its sign through the text path, as it always has.)
    if count <= MAX_DIRECT_DIGITS && !(negative && mantissa == 0) {
        let signed = if negative { -mantissa } else { mantissa };
        if let Ok(value) = Decimal::try_from_i128_with_scale(signed, scale) {
            return Ok(value);
        }
    }
    parse_canonical(negative, digits, format)
}

/// Digits a u64 always holds.
const SMALL_DIGITS: u32 = 19;

/// Digits a Decimal's 96-bit mantissa always holds.
const MAX_DIRECT_DIGITS: u32 = 28;

/// The amount's digits as canonical text (`-`, digits, `.`), parsed by rust_decimal: numbers
/// too long to build directly get its rounding and its errors.
fn parse_canonical(negative: bool, digits: &str, format: &AmountFormat) -> Result<Decimal, String> {
    let mut canonical = String::with_capacity(digits.len() + 1);
    if negative {
        canonical.push('-');
    }
    let mut seen_decimal = false;
    for c in digits.chars() {
        if c.is_ascii_digit() {
            canonical.push(c);
        } else if c == format.decimal_separator && !seen_decimal {
            canonical.push('.');
            seen_decimal = true;
        }
    }
    Decimal::from_str(&canonical).map_err(|error| format!("not a decimal number ({error})"))
}

/// A compiled list of date formats.
#[derive(Debug, Clone)]
pub struct DateFormats {
    formats: Vec<DateFormat>,
}

#[derive(Debug, Clone)]
enum DateFormat {
    /// Only `%Y`, `%m`, `%d` and literal separators: parsed by hand.
    Numeric(Vec<Piece>),
    /// Anything else: chrono's parser. `date_only` formats use NaiveDate; others are parsed as
    /// a timestamp and its date (in its own offset) is kept.
    Chrono(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Year,
    Month,
    Day,
    Literal(u8),
}

impl DateFormats {
    /// Compiles formats in strftime syntax (`%d/%m/%Y`, `%Y-%m-%d`, `%+` for RFC 3339…).
    pub fn new(formats: &[String]) -> Result<Self, String> {
        if formats.is_empty() {
            return Err("at least one date format is needed".to_owned());
        }
        let formats = formats
            .iter()
            .map(|format| {
                numeric_pieces(format).map_or_else(
                    || validate_chrono(format).map(|()| DateFormat::Chrono(format.clone())),
                    |pieces| Ok(DateFormat::Numeric(pieces)),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { formats })
    }

    /// Parses a date with the first format that fits.
    pub fn parse(&self, text: &str) -> Result<NaiveDate, String> {
        let text = trim(text);
        if text.is_empty() {
            return Err("empty date".to_owned());
        }
        for format in &self.formats {
            let parsed = match format {
                DateFormat::Numeric(pieces) => parse_numeric(text, pieces),
                DateFormat::Chrono(format) => NaiveDate::parse_from_str(text, format)
                    .ok()
                    .or_else(|| {
                        chrono::DateTime::parse_from_str(text, format)
                            .ok()
                            .map(|t| t.date_naive())
                    })
                    .or_else(|| {
                        chrono::NaiveDateTime::parse_from_str(text, format)
                            .ok()
                            .map(|t| t.date())
                    }),
            };
            if let Some(date) = parsed {
                return Ok(date);
            }
        }
        Err("matches none of the date formats".to_owned())
    }
}

fn validate_chrono(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "{format:?} is not a valid date format (strftime syntax, e.g. %d/%m/%Y)"
        ));
    }
    Ok(())
}

fn numeric_pieces(format: &str) -> Option<Vec<Piece>> {
    let bytes = format.as_bytes();
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            pieces.push(match bytes.get(i + 1)? {
                b'Y' => Piece::Year,
                b'm' => Piece::Month,
                b'd' => Piece::Day,
                _ => return None,
            });
            i += 2;
        } else if bytes[i].is_ascii_alphanumeric() {
            return None;
        } else {
            pieces.push(Piece::Literal(bytes[i]));
            i += 1;
        }
    }
    let count = |p: Piece| pieces.iter().filter(|q| **q == p).count();
    (count(Piece::Year) == 1 && count(Piece::Month) == 1 && count(Piece::Day) == 1)
        .then_some(pieces)
}

fn parse_numeric(text: &str, pieces: &[Piece]) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let (mut year, mut month, mut day) = (0i32, 0u32, 0u32);
    let mut i = 0;
    for piece in pieces {
        match piece {
            Piece::Literal(c) => {
                if bytes.get(i) != Some(c) {
                    return None;
                }
                i += 1;
            }
            Piece::Year | Piece::Month | Piece::Day => {
                let max = if *piece == Piece::Year { 4 } else { 2 };
                let start = i;
                let mut value = 0u32;
                while i < bytes.len() && i - start < max && bytes[i].is_ascii_digit() {
                    value = value * 10 + u32::from(bytes[i] - b'0');
                    i += 1;
                }
                let digits = i - start;
                if digits == 0 || (*piece == Piece::Year && digits != 4) {
                    return None;
                }
                match piece {
                    Piece::Year => year = value as i32,
                    Piece::Month => month = value,
                    _ => day = value,
                }
            }
        }
    }
    if i != bytes.len() {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(text: &str) -> Result<String, String> {
        parse_amount(text, &AmountFormat::default()).map(|d| d.to_string())
    }

    /// The fast path leaves alone only what `str::trim` leaves alone.
    #[test]
    fn trim_is_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\t12.50\r\n",
            "ab",
            "a b",
            "\u{a0}x",
            "x\u{a0}",
            "\u{3000}\u{3000}",
            "é",
            "éa",
            "aé",
            "~",
            "\u{7f}x",
            "x\u{85}",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn trim_is_str_trim_on_any_text(
            text in proptest::string::string_regex("[ \t\r\na-z0-9é\u{a0}\u{2003}\u{3000}\u{7f}\u{85}~]{0,6}").expect("regex"),
            other in proptest::prelude::any::<String>(),
        ) {
            proptest::prop_assert_eq!(trim(&text), text.trim());
            proptest::prop_assert_eq!(trim(&other), other.trim());
        }
    }

    #[test]
    fn amounts_built_directly_equal_the_parsed_text() {
        let format = AmountFormat::default();
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.00",
            "-0.00",
            "5.",
            ".5",
            "-.5",
            "007.10",
            "1,234.56",
            "9999999999999999999999999999",
            "99999999999999999999999999999",
            "0.0000000000000000000000000001",
            "0.00000000000000000000000000001",
            "79228162514264337593543950335",
            "79228162514264337593543950336",
            "1234567890123456789012345678.9",
            "9999999999999999999",
            "-9999999999999999999",
            "99999999999999999999",
            "18446744073709551615",
            "1234567890.123456789",
            "1234567890.1234567890",
            "0.00000000000000000001",
        ]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 1_000_000_000_000) >> (state % 37);
            let point = (state >> 40) as usize % 8;
            let mut text = digits.to_string();
            if point > 0 && point < text.len() {
                text.insert(text.len() - point, '.');
            }
            if state & (1 << 62) != 0 {
                text.insert(0, '-');
            }
            texts.push(text);
        }
        for text in texts {
            let trimmed = text.trim_start_matches('-');
            let negative = trimmed.len() != text.len();
            let direct = parse_amount(&text, &format);
            let canonical = parse_canonical(negative, trimmed, &format);
            match (direct, canonical) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(
                        (a.to_string(), a.scale()),
                        (b.to_string(), b.scale()),
                        "{text}"
                    );
                }
                (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "{text}: {a:?} {b:?}"),
            }
        }
    }

    #[test]
    fn amounts_parse_exactly_in_the_common_notations() {
        assert_eq!(amount("1,234.56"), Ok("1234.56".into()));
        assert_eq!(amount("-12.5"), Ok("-12.5".into()));
        assert_eq!(amount("(12.50)"), Ok("-12.50".into()));
        assert_eq!(amount("12.50-"), Ok("-12.50".into()));
        assert_eq!(amount("+7"), Ok("7".into()));
        assert_eq!(amount("0.1"), Ok("0.1".into()));
        let european = AmountFormat {
            decimal_separator: ',',
            thousands_separator: Some('.'),
            parentheses_negative: true,
        };
        assert_eq!(
            parse_amount("1.234,56", &european).map(|d| d.to_string()),
            Ok("1234.56".into())
        );
    }

    #[test]
    fn garbage_amounts_are_errors_never_zero() {
        for bad in ["", "   ", "abc", "12.3.4", "--5", "(-5)", "1e5", "$12", "-"] {
            assert!(amount(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn dates_try_each_format_in_order() {
        let formats = DateFormats::new(&["%d/%m/%Y".into(), "%Y-%m-%d".into(), "%d %b %Y".into()])
            .expect("formats");
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(formats.parse("03/02/2026"), Ok(ymd(2026, 2, 3)));
        assert_eq!(formats.parse("2026-02-03"), Ok(ymd(2026, 2, 3)));
        assert_eq!(formats.parse("3/2/2026"), Ok(ymd(2026, 2, 3)));
        assert_eq!(formats.parse("03 Feb 2026"), Ok(ymd(2026, 2, 3)));
        for bad in [
            "",
            "31/02/2026",
            "2026-13-01",
            "yesterday",
            "03/02/26",
            "2026-02-03x",
        ] {
            assert!(formats.parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn timestamps_keep_their_own_date() {
        let formats = DateFormats::new(&["%+".into()]).expect("formats");
        assert_eq!(
            formats.parse("2026-02-03T23:30:00-05:00"),
            Ok(NaiveDate::from_ymd_opt(2026, 2, 3).expect("date"))
        );
    }

    #[test]
    fn bad_formats_are_refused() {
        assert!(DateFormats::new(&[]).is_err());
        assert!(DateFormats::new(&["%Q".into()]).is_err());
    }
}
