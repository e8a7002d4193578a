//! Criteria: how one left field is compared with one right field, and what that contributes to
//! a candidate's score.
//!
//! Every test yields a value in [0, 1] and whether it passed:
//! - `equals` (exact text), `normalized_equals`, `contains` (either way round), `regex`
//!   (extract a capture from each side, then compare): 1 when they agree, else 0;
//! - `similarity`: Jaro-Winkler, normalised Levenshtein or token-set similarity (rapidfuzz), passes
//!   at or above its threshold;
//! - `amount`: passes when |left − right| ≤ max(absolute, relative × the larger magnitude); the
//!   value falls linearly from 1 (equal) to 0.5 (at the tolerance edge);
//! - `date`: passes when right − left is inside the window (both ways, or one-directional);
//!   value from 1 (same day) to 0.5 (window edge);
//! - `currency`: equal codes.
//!
//! A candidate's score is Σ(weight × value over passed criteria) / Σ(weight). A failed
//! *required* criterion rejects the candidate outright; a failed optional one contributes 0.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::record::{Field, RecordRef};

/// How whitespace is treated by a normaliser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Whitespace {
    /// Leave as is.
    Keep,
    /// Runs become one space; ends trimmed.
    Collapse,
    /// All whitespace removed.
    Remove,
}

/// Text normalisation applied before comparing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalizer {
    /// Case-insensitive.
    #[serde(default = "yes")]
    pub case: bool,
    /// Whitespace handling.
    #[serde(default = "remove")]
    pub whitespace: Whitespace,
    /// Drop punctuation and symbols.
    #[serde(default = "yes")]
    pub punctuation: bool,
    /// Prefixes removed from the start (after trimming, case-insensitively), e.g. "REF ".
    #[serde(default)]
    pub strip_prefixes: Vec<String>,
    /// Drop leading zeros of every run of digits ("INV-00123" → "INV-123").
    #[serde(default)]
    pub leading_zeros: bool,
}

fn yes() -> bool {
    true
}
fn remove() -> Whitespace {
    Whitespace::Remove
}

impl Normalizer {
    /// The normaliser `normalized_equals` uses when none is given.
    pub fn for_keys() -> Self {
        Self {
            case: true,
            whitespace: Whitespace::Remove,
            punctuation: true,
            strip_prefixes: Vec::new(),
            leading_zeros: false,
        }
    }

    /// The normaliser `similarity` and `contains` use when none is given.
    pub fn for_text() -> Self {
        Self {
            whitespace: Whitespace::Collapse,
            ..Self::for_keys()
        }
    }

    /// Applies the normalisation: one pass over the text, one allocation.
    pub fn apply(&self, text: &str) -> String {
        let mut out = String::new();
        self.apply_into(text, &mut out);
        out
    }

    /// [`Normalizer::apply`] into `out` (cleared first), reusing its memory: scoring a pair
    /// normalises both texts, and two allocations per pair were a sixth of a fuzzy-name scan.
    pub fn apply_into(&self, text: &str, out: &mut String) {
        out.clear();
        let mut text = text.trim();
        for prefix in &self.strip_prefixes {
            if prefix.is_empty()
                || text.len() < prefix.len()
                || !text.is_char_boundary(prefix.len())
            {
                continue;
            }
            let head = &text[..prefix.len()];
            let matches = if self.case {
                head.to_lowercase() == prefix.to_lowercase()
            } else {
                head == prefix
            };
            if matches {
                text = text[prefix.len()..].trim_start();
            }
        }
        out.reserve(text.len());
        let mut pending_space = false;
        let mut in_digits = false;
        let mut zeros_held = false;
        let push_lower = |out: &mut String, c: char| {
            if self.case && c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else if self.case && !c.is_lowercase() {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        };
        for c in text.chars() {
            let separator = c.is_whitespace() || (self.punctuation && !c.is_alphanumeric());
            if separator {
                if self.leading_zeros && zeros_held {
                    out.push('0');
                    zeros_held = false;
                }
                in_digits = false;
                if c.is_whitespace() {
                    match self.whitespace {
                        Whitespace::Keep => out.push(c),
                        Whitespace::Collapse => pending_space = !out.is_empty(),
                        Whitespace::Remove => {}
                    }
                }
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            if self.leading_zeros && c.is_ascii_digit() {
                if c == '0' && (!in_digits || zeros_held) {
                    zeros_held = true;
                    in_digits = true;
                    continue;
                }
                zeros_held = false;
                in_digits = true;
                out.push(c);
                continue;
            }
            if self.leading_zeros && zeros_held {
                out.push('0');
                zeros_held = false;
            }
            in_digits = false;
            push_lower(out, c);
        }
        if self.leading_zeros && zeros_held {
            out.push('0');
        }
    }
}

/// String-similarity algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Jaro-Winkler: good for names and short codes with typos at the end.
    JaroWinkler,
    /// 1 − edit distance / longer length.
    Levenshtein,
    /// Compares the shared and differing word sets: robust to word order and extra words.
    TokenSet,
}

/// Date window direction, seen from the left record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// |right − left| ≤ days.
    #[default]
    Both,
    /// The right date may lag: 0 ≤ right − left ≤ days.
    RightAfter,
    /// The right date may lead: 0 ≤ left − right ≤ days.
    RightBefore,
}

/// A compiled test.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal text (after the normaliser, if any).
    Equals(Option<Normalizer>),
    /// One normalised text contains the other.
    Contains(Normalizer),
    /// Extract a capture (group 1, or the whole match) on each side with a pattern, then
    /// compare the normalised extracts. `None` uses the whole field.
    Regex {
        /// Pattern for the left field.
        left: Option<Regex>,
        /// Pattern for the right field.
        right: Option<Regex>,
        /// Applied to the extracts.
        normalizer: Normalizer,
    },
    /// Similarity at least `threshold`.
    Similarity {
        /// Which measure.
        algorithm: Algorithm,
        /// Passing value.
        threshold: f64,
        /// Applied first.
        normalizer: Normalizer,
    },
    /// Amount within tolerance.
    Amount {
        /// Absolute tolerance.
        absolute: Decimal,
        /// Relative tolerance (fraction of the larger magnitude).
        relative: Decimal,
    },
    /// Date within a window.
    Date {
        /// Window size in days.
        days: u32,
        /// Which way.
        direction: Direction,
    },
    /// Same currency.
    Currency,
}

impl Test {
    /// The name used in explanations.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Equals(None) => "equals",
            Self::Equals(Some(_)) => "normalized_equals",
            Self::Contains(_) => "contains",
            Self::Regex { .. } => "regex",
            Self::Similarity { .. } => "similarity",
            Self::Amount { .. } => "amount",
            Self::Date { .. } => "date",
            Self::Currency => "currency",
        }
    }
}

/// One compiled criterion.
#[derive(Debug, Clone)]
pub struct Criterion {
    /// Left field.
    pub left: Field,
    /// Right field.
    pub right: Field,
    /// Field names as written, for explanations.
    pub label: Arc<str>,
    /// Weight in the score.
    pub weight: f64,
    /// Whether failing rejects the candidate.
    pub required: bool,
    /// The test.
    pub test: Test,
}

/// The outcome of one criterion on one candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Passed or not.
    pub passed: bool,
    /// Value in [0, 1].
    pub value: f64,
    /// Signed left − right amount difference, for amount tests.
    pub amount_difference: Option<Decimal>,
    /// Signed right − left days, for date tests.
    pub days_difference: Option<i64>,
}

impl Verdict {
    fn boolean(passed: bool) -> Self {
        Self {
            passed,
            value: if passed { 1.0 } else { 0.0 },
            amount_difference: None,
            days_difference: None,
        }
    }
}

/// Tolerance of an amount test for two amounts.
pub fn amount_tolerance(
    absolute: Decimal,
    relative: Decimal,
    left: Decimal,
    right: Decimal,
) -> Decimal {
    absolute.max(relative * left.abs().max(right.abs()))
}

/// Compares two amounts.
pub fn compare_amounts(
    absolute: Decimal,
    relative: Decimal,
    left: Decimal,
    right: Decimal,
) -> Verdict {
    let difference = left - right;
    // Without a relative part the tolerance is the absolute one (never negative): no
    // multiplication for the common exact or fixed-tolerance rule.
    let tolerance = if relative.is_zero() {
        absolute
    } else {
        amount_tolerance(absolute, relative, left, right)
    };
    let passed = difference.abs() <= tolerance;
    let value = if !passed {
        0.0
    } else if tolerance.is_zero() {
        1.0
    } else {
        1.0 - 0.5 * (difference.abs() / tolerance).to_f64().unwrap_or(1.0)
    };
    Verdict {
        passed,
        value,
        amount_difference: Some(difference),
        days_difference: None,
    }
}

/// Compares two dates.
pub fn compare_dates(
    days: u32,
    direction: Direction,
    left: NaiveDate,
    right: NaiveDate,
) -> Verdict {
    let lag = (right - left).num_days();
    let window = i64::from(days);
    let passed = match direction {
        Direction::Both => lag.abs() <= window,
        Direction::RightAfter => (0..=window).contains(&lag),
        Direction::RightBefore => (-window..=0).contains(&lag),
    };
    let value = if !passed {
        0.0
    } else if window == 0 {
        1.0
    } else {
        1.0 - 0.5 * (lag.abs() as f64 / window as f64)
    };
    Verdict {
        passed,
        value,
        amount_difference: None,
        days_difference: Some(lag),
    }
}

/// Similarity of two texts with `algorithm`, by rapidfuzz: its Jaro-Winkler and Levenshtein
/// are bit-parallel (64 characters a machine word), where strsim's (used before) compared
/// characters one pair at a time; strsim's Jaro-Winkler was a third of a fuzzy-name scan. The
/// values agree with strsim's to within 1e-16 (Levenshtein exactly); a test checks it.
pub fn similarity(algorithm: Algorithm, a: &str, b: &str) -> f64 {
    match algorithm {
        Algorithm::JaroWinkler => {
            rapidfuzz::distance::jaro_winkler::normalized_similarity(a.chars(), b.chars())
        }
        Algorithm::Levenshtein => levenshtein(a, b),
        Algorithm::TokenSet => token_set(a, b),
    }
}

/// 1 − edit distance / the longer length (1 for two empty texts).
fn levenshtein(a: &str, b: &str) -> f64 {
    rapidfuzz::distance::levenshtein::normalized_similarity(a.chars(), b.chars())
}

/// Token-set similarity: the best normalised-Levenshtein agreement between the shared words
/// and each side's full word set, so "ACME LTD PAYMENTS" and "payments acme" score high.
fn token_set(a: &str, b: &str) -> f64 {
    let mut left: Vec<&str> = a.split_whitespace().collect();
    let mut right: Vec<&str> = b.split_whitespace().collect();
    if left.is_empty() || right.is_empty() {
        return 0.0;
    }
    left.sort_unstable();
    left.dedup();
    right.sort_unstable();
    right.dedup();
    let shared: Vec<&str> = left
        .iter()
        .filter(|w| right.binary_search(w).is_ok())
        .copied()
        .collect();
    let only_left: Vec<&str> = left
        .iter()
        .filter(|w| right.binary_search(w).is_err())
        .copied()
        .collect();
    let only_right: Vec<&str> = right
        .iter()
        .filter(|w| left.binary_search(w).is_err())
        .copied()
        .collect();
    let join = |parts: &[&[&str]]| {
        parts
            .iter()
            .flat_map(|p| p.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let base = join(&[&shared]);
    let with_left = join(&[&shared, &only_left]);
    let with_right = join(&[&shared, &only_right]);
    let mut best = levenshtein(&with_left, &with_right);
    if !shared.is_empty() {
        best = best
            .max(levenshtein(&base, &with_left))
            .max(levenshtein(&base, &with_right));
    }
    best
}

/// Extracts group 1 (or the whole match) of `pattern` from `text`.
pub fn extract<'t>(pattern: &Regex, text: &'t str) -> Option<&'t str> {
    let captures = pattern.captures(text)?;
    captures
        .get(1)
        .or_else(|| captures.get(0))
        .map(|m| m.as_str())
}

std::thread_local! {
    /// The two normalised texts of the pair being scored (`contains`, `similarity`), reused
    /// from pair to pair.
    static NORMALIZED: std::cell::RefCell<(String, String)> =
        const { std::cell::RefCell::new((String::new(), String::new())) };
}

impl Criterion {
    /// The comparable key of `record` on `side` for key tests (equals, regex), if any.
    pub fn key<'r>(&self, record: RecordRef<'r>, left_side: bool) -> Option<Cow<'r, str>> {
        let field = if left_side { &self.left } else { &self.right };
        let text = record.text(field)?;
        match &self.test {
            Test::Equals(None) => Some(Cow::Borrowed(text)),
            Test::Equals(Some(normalizer)) => {
                Some(Cow::<str>::Owned(normalizer.apply(text))).filter(|k| !k.is_empty())
            }
            Test::Regex {
                left,
                right,
                normalizer,
            } => {
                let pattern = if left_side { left } else { right };
                let extract = match pattern {
                    Some(pattern) => extract(pattern, text)?,
                    None => text,
                };
                Some(Cow::<str>::Owned(normalizer.apply(extract))).filter(|k| !k.is_empty())
            }
            _ => None,
        }
    }

    /// Evaluates the criterion on a left and a right record.
    pub fn evaluate(&self, left: RecordRef<'_>, right: RecordRef<'_>) -> Verdict {
        match &self.test {
            Test::Equals(_) | Test::Regex { .. } => {
                let (a, b) = (self.key(left, true), self.key(right, false));
                Verdict::boolean(a.is_some() && a == b)
            }
            Test::Contains(normalizer) => match (left.text(&self.left), right.text(&self.right)) {
                (Some(a), Some(b)) => NORMALIZED.with_borrow_mut(|(a_text, b_text)| {
                    normalizer.apply_into(a, a_text);
                    normalizer.apply_into(b, b_text);
                    let (a, b) = (a_text.as_str(), b_text.as_str());
                    Verdict::boolean(
                        !a.is_empty() && !b.is_empty() && (a.contains(b) || b.contains(a)),
                    )
                }),
                _ => Verdict::boolean(false),
            },
            Test::Similarity {
                algorithm,
                threshold,
                normalizer,
            } => match (left.text(&self.left), right.text(&self.right)) {
                (Some(a), Some(b)) => {
                    let value = NORMALIZED.with_borrow_mut(|(a_text, b_text)| {
                        normalizer.apply_into(a, a_text);
                        normalizer.apply_into(b, b_text);
                        similarity(*algorithm, a_text, b_text)
                    });
                    Verdict {
                        passed: value >= *threshold,
                        value,
                        amount_difference: None,
                        days_difference: None,
                    }
                }
                _ => Verdict::boolean(false),
            },
            Test::Amount { absolute, relative } => match (left.amount(), right.amount()) {
                (Some(a), Some(b)) => compare_amounts(*absolute, *relative, a, b),
                _ => Verdict::boolean(false),
            },
            Test::Date { days, direction } => match (left.date(), right.date()) {
                (Some(a), Some(b)) => compare_dates(*days, *direction, a, b),
                _ => Verdict::boolean(false),
            },
            Test::Currency => {
                Verdict::boolean(left.currency().is_some() && left.currency() == right.currency())
            }
        }
    }
}

/// Combines verdicts into a score: Σ weight × value over passed / Σ weight.
pub fn score(criteria: &[Criterion], verdicts: &[Verdict]) -> f64 {
    weighted_score(criteria, verdicts.iter().map(|v| (v.passed, v.value)))
}

/// [`score`] from each criterion's (passed, value).
pub fn weighted_score(criteria: &[Criterion], parts: impl Iterator<Item = (bool, f64)>) -> f64 {
    let total: f64 = criteria.iter().map(|c| c.weight).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let earned: f64 = criteria
        .iter()
        .zip(parts)
        .filter(|(_, (passed, _))| *passed)
        .map(|(c, (_, value))| c.weight * value)
        .sum();
    earned / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_handles_case_space_punctuation_prefixes_and_zeros() {
        let keys = Normalizer {
            strip_prefixes: vec!["REF ".into()],
            leading_zeros: true,
            ..Normalizer::for_keys()
        };
        assert_eq!(keys.apply("  REF inv-00123 "), "inv123");
        assert_eq!(keys.apply("INV 123"), "inv123");
        assert_eq!(keys.apply("0000"), "0");
        assert_eq!(keys.apply("A-0-B"), "a0b");
        assert_eq!(Normalizer::for_text().apply("  ACME   Ltd. "), "acme ltd");
    }

    #[test]
    fn amounts_pass_within_absolute_or_relative_tolerance() {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        assert!(compare_amounts(d("0.05"), d("0"), d("100.00"), d("100.05")).passed);
        assert!(!compare_amounts(d("0.05"), d("0"), d("100.00"), d("100.06")).passed);
        assert!(compare_amounts(d("0"), d("0.01"), d("1000"), d("1010")).passed);
        assert!(!compare_amounts(d("0"), d("0.01"), d("1000"), d("1011")).passed);
        let exact = compare_amounts(d("0"), d("0"), d("5"), d("5"));
        assert_eq!((exact.passed, exact.value), (true, 1.0));
        let edge = compare_amounts(d("1"), d("0"), d("5"), d("6"));
        assert_eq!(
            (edge.passed, edge.value, edge.amount_difference),
            (true, 0.5, Some(d("-1")))
        );
    }

    #[test]
    fn date_windows_can_be_one_directional() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d).expect("date");
        assert!(compare_dates(3, Direction::Both, day(10), day(7)).passed);
        assert!(!compare_dates(3, Direction::RightAfter, day(10), day(7)).passed);
        assert!(compare_dates(3, Direction::RightAfter, day(10), day(13)).passed);
        assert!(!compare_dates(3, Direction::RightAfter, day(10), day(14)).passed);
        assert!(compare_dates(2, Direction::RightBefore, day(10), day(8)).passed);
    }

    #[test]
    fn similarity_measures_rank_near_strings_above_far_ones() {
        for algorithm in [
            Algorithm::JaroWinkler,
            Algorithm::Levenshtein,
            Algorithm::TokenSet,
        ] {
            let near = similarity(algorithm, "acme limited", "acme limted");
            let far = similarity(algorithm, "acme limited", "globex corp");
            assert!(near > far, "{algorithm:?}: {near} vs {far}");
            assert!((0.0..=1.0).contains(&near) && (0.0..=1.0).contains(&far));
        }
        assert!(similarity(Algorithm::TokenSet, "payments acme ltd", "acme ltd") > 0.99);
        assert_eq!(similarity(Algorithm::TokenSet, "", "acme"), 0.0);
    }

    proptest::proptest! {
        /// rapidfuzz's values are strsim's (a widely used reference, and Recon's similarity
        /// before): Levenshtein exactly, Jaro-Winkler to within rounding of the last bit. Short
        /// texts over a small alphabet, with a non-ASCII letter, make matches, transpositions and
        /// shared prefixes common; lengths go past 64, where the bit-parallel code uses blocks.
        #[test]
        fn similarity_agrees_with_strsim(a in "[abcé ]{0,80}", b in "[abcé ]{0,80}") {
            let jaro_winkler = similarity(Algorithm::JaroWinkler, &a, &b);
            proptest::prop_assert!(
                (jaro_winkler - strsim::jaro_winkler(&a, &b)).abs() < 1e-15,
                "{} vs {}", jaro_winkler, strsim::jaro_winkler(&a, &b)
            );
            proptest::prop_assert_eq!(
                similarity(Algorithm::Levenshtein, &a, &b).to_bits(),
                strsim::normalized_levenshtein(&a, &b).to_bits()
            );
        }
    }

    #[test]
    fn regex_extraction_takes_the_first_group() {
        let pattern = Regex::new(r"INV-?(\d+)").expect("regex");
        assert_eq!(
            extract(&pattern, "Payment for INV-4411 thanks"),
            Some("4411")
        );
        assert_eq!(extract(&pattern, "no invoice"), None);
    }
}
