//! What a run produces: match groups with their explanations, breaks, the unmatched records of
//! each side, and a summary. Every input record is in exactly one of: a group, a break, or its
//! side's unmatched list. Record references are indices into the input slices.
//!
//! A run can make a million groups, and every byte of a group is a megabyte of memory the
//! process touches for the first time (which costs time on a virtual machine: see
//! docs/benchmarks.md), so a group is kept to 64 bytes with no heap allocation for the common
//! case: one record a side and a rule of up to [`INLINE_MARKS`] criteria. The score is kept in
//! ten-thousandths (it is rounded to four places when made), the explanation as [`Mark`]s,
//! each criterion's value and contribution in ten-thousandths, which is exactly what the
//! output prints. [`MatchGroup::explanation`] expands them with the rule's criterion names.

use std::borrow::Cow;
use std::fmt;

use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::rules::{CompiledRules, Rule};

/// Review status of a match group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Below the rule's auto-confirm score: a person should look.
    Proposed,
    /// At or above it.
    AutoConfirmed,
}

impl Status {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::AutoConfirmed => "auto_confirmed",
        }
    }
}

/// One criterion's part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The criterion's position in its rule: `rules[group.rule].criteria[criterion].label`
    /// names the field(s) compared, e.g. `reference` or `description~reference`. An index, not
    /// a shared label: cloning one `Arc` per criterion per group from every thread made
    /// building a million groups contend on its reference count.
    pub criterion: usize,
    /// The test, e.g. `normalized_equals`.
    pub test: &'static str,
    /// Whether it passed (for groups: for every member).
    pub passed: bool,
    /// Its value in [0, 1] (for groups: the lowest over members).
    pub value: f64,
    /// What it added to the score.
    pub contribution: f64,
}

/// Ten-thousandths in a unit: values and contributions are kept and printed to four places.
pub const FOUR_PLACES: f64 = 10_000.0;

/// One criterion's part in a group's score, compact (4 bytes): passed, and its value and
/// contribution in ten-thousandths (both lie in [0, 1]; see [`round4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// `round4(value)` × 10⁴ (at most 10⁴, below [`PASSED`]), with [`PASSED`] set when it
    /// passed.
    value: u16,
    /// `round4(contribution)` × 10⁴.
    contribution: u16,
}

/// The bit of [`Mark::value`] that says the criterion passed.
const PASSED: u16 = 1 << 15;

impl Mark {
    /// A criterion's mark from its verdict's value and what it added to the score. Values
    /// outside [0, 1] (none of the tests produces one) are clamped.
    pub fn new(passed: bool, value: f64, contribution: f64) -> Self {
        Self {
            value: ten_thousandths(value) | if passed { PASSED } else { 0 },
            contribution: ten_thousandths(contribution),
        }
    }

    /// Whether it passed.
    pub fn passed(self) -> bool {
        self.value & PASSED != 0
    }

    /// `round4(value)` × 10⁴.
    pub fn value(self) -> u16 {
        self.value & !PASSED
    }

    /// `round4(contribution)` × 10⁴.
    pub fn contribution(self) -> u16 {
        self.contribution
    }
}

/// `round4(value)` × 10⁴ as an integer, for a value in [0, 1].
fn ten_thousandths(value: f64) -> u16 {
    // In [0, 10⁴] after the clamp; NaN becomes 0.
    (value.clamp(0.0, 1.0) * FOUR_PLACES).round() as u16
}

/// Marks a group holds without a heap allocation.
pub const INLINE_MARKS: usize = 3;

/// The marks of a group's criteria, in rule order: up to [`INLINE_MARKS`] held inline, more in
/// one heap allocation. 16 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Marks(MarksHeld);

#[derive(Clone, PartialEq, Eq)]
enum MarksHeld {
    Inline {
        len: u8,
        marks: [Mark; INLINE_MARKS],
    },
    /// Boxed twice so the variant is one pointer wide (a `Vec` or boxed slice is two or three,
    /// and would make every group 8 bytes larger for the rare rule of many criteria).
    #[allow(clippy::box_collection)]
    Heap(Box<Vec<Mark>>),
}

impl Marks {
    /// The marks, in rule order.
    pub fn as_slice(&self) -> &[Mark] {
        match &self.0 {
            MarksHeld::Inline { len, marks } => &marks[..usize::from(*len)],
            MarksHeld::Heap(marks) => marks,
        }
    }

    /// The marks of `slice`, inline when they fit.
    pub fn from_slice(slice: &[Mark]) -> Self {
        slice.iter().copied().collect()
    }

    /// Whether they are on the heap (more than [`INLINE_MARKS`]).
    pub fn spilled(&self) -> bool {
        matches!(self.0, MarksHeld::Heap(_))
    }
}

impl Default for Marks {
    fn default() -> Self {
        Self::from_slice(&[])
    }
}

impl std::ops::Deref for Marks {
    type Target = [Mark];

    fn deref(&self) -> &[Mark] {
        self.as_slice()
    }
}

impl<'a> IntoIterator for &'a Marks {
    type Item = &'a Mark;
    type IntoIter = std::slice::Iter<'a, Mark>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl FromIterator<Mark> for Marks {
    fn from_iter<I: IntoIterator<Item = Mark>>(iter: I) -> Self {
        let mut marks = [Mark::default(); INLINE_MARKS];
        let mut len = 0;
        let mut iter = iter.into_iter();
        for mark in iter.by_ref() {
            if len == INLINE_MARKS {
                let mut all = marks.to_vec();
                all.push(mark);
                all.extend(iter);
                return Self(MarksHeld::Heap(Box::new(all)));
            }
            marks[len] = mark;
            len += 1;
        }
        Self(MarksHeld::Inline {
            len: len as u8,
            marks,
        })
    }
}

impl fmt::Debug for Marks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl Serialize for Marks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

impl Serialize for Mark {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut mark = serializer.serialize_struct("Mark", 3)?;
        mark.serialize_field("passed", &self.passed())?;
        mark.serialize_field("value", &(f64::from(self.value()) / FOUR_PLACES))?;
        mark.serialize_field(
            "contribution",
            &(f64::from(self.contribution()) / FOUR_PLACES),
        )?;
        mark.end()
    }
}

/// A group's record indices: one a side inline (every one-to-one group), larger groups' lists
/// in one heap allocation. 16 bytes.
#[derive(Clone, PartialEq, Eq)]
enum Members {
    Pair([u32; 2]),
    /// Left, then right. Boxed so the variant is one pointer wide.
    Lists(Box<(Vec<u32>, Vec<u32>)>),
}

/// A set of left records matched with a set of right records.
#[derive(Clone, PartialEq)]
pub struct MatchGroup {
    /// Index of the rule that made it (rules are counted in the tens, not billions).
    rule: u32,
    /// Score × 10⁴: scores are rounded to four places ([`round4`]) when a group is made.
    score: u16,
    status: Status,
    amount_difference: Option<Decimal>,
    members: Members,
    marks: Marks,
}

impl MatchGroup {
    /// A group of `rule` (its index) over `left` and `right` record indices (each ordered by
    /// id, or put in that order with [`MatchGroup::sort_members`]), with its score in [0, 1]
    /// (kept to four places, as [`round4`] rounds it), the sum of left amounts − the sum of
    /// right amounts when all are known, its status and its marks. Member lists handed over
    /// as vectors are kept as they are, not copied.
    pub fn new<'m>(
        rule: usize,
        left: impl Into<Cow<'m, [u32]>>,
        right: impl Into<Cow<'m, [u32]>>,
        score: f64,
        amount_difference: Option<Decimal>,
        status: Status,
        marks: Marks,
    ) -> Self {
        let (left, right) = (left.into(), right.into());
        let pair = match (&*left, &*right) {
            ([l], [r]) => Some([*l, *r]),
            _ => None,
        };
        let members = match pair {
            Some(pair) => Members::Pair(pair),
            None => Members::Lists(Box::new((left.into_owned(), right.into_owned()))),
        };
        Self {
            rule: rule as u32,
            score: ten_thousandths(score),
            status,
            amount_difference,
            members,
            marks,
        }
    }

    /// Index of the rule that made it.
    pub fn rule(&self) -> usize {
        self.rule as usize
    }

    /// Left record indices, ordered by id.
    pub fn left(&self) -> &[u32] {
        match &self.members {
            Members::Pair(pair) => &pair[..1],
            Members::Lists(lists) => &lists.0,
        }
    }

    /// Right record indices, ordered by id.
    pub fn right(&self) -> &[u32] {
        match &self.members {
            Members::Pair(pair) => &pair[1..],
            Members::Lists(lists) => &lists.1,
        }
    }

    /// Orders each side's members by `left_key` and `right_key`.
    pub fn sort_members<K: Ord>(
        &mut self,
        left_key: impl FnMut(&u32) -> K,
        right_key: impl FnMut(&u32) -> K,
    ) {
        if let Members::Lists(lists) = &mut self.members {
            lists.0.sort_unstable_by_key(left_key);
            lists.1.sort_unstable_by_key(right_key);
        }
    }

    /// Score in [0, 1], to four places.
    pub fn score(&self) -> f64 {
        f64::from(self.score) / FOUR_PLACES
    }

    /// Sum of left amounts − sum of right amounts, when all are known.
    pub fn amount_difference(&self) -> Option<Decimal> {
        self.amount_difference
    }

    /// Proposed or auto-confirmed.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Per-criterion breakdown, compact; [`MatchGroup::explanation`] names the criteria.
    pub fn marks(&self) -> &Marks {
        &self.marks
    }

    /// The per-criterion breakdown, with the test of each criterion of the group's rule.
    pub fn explanation(&self, rules: &CompiledRules) -> Vec<Explanation> {
        let rule: &Rule = &rules.rules[self.rule()];
        rule.criteria
            .iter()
            .zip(&self.marks)
            .enumerate()
            .map(|(index, (criterion, mark))| Explanation {
                criterion: index,
                test: criterion.test.name(),
                passed: mark.passed(),
                value: f64::from(mark.value()) / FOUR_PLACES,
                contribution: f64::from(mark.contribution()) / FOUR_PLACES,
            })
            .collect()
    }
}

impl fmt::Debug for MatchGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchGroup")
            .field("rule", &self.rule())
            .field("left", &self.left())
            .field("right", &self.right())
            .field("score", &self.score())
            .field("amount_difference", &self.amount_difference)
            .field("status", &self.status)
            .field("marks", &self.marks)
            .finish()
    }
}

impl Serialize for MatchGroup {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut group = serializer.serialize_struct("MatchGroup", 7)?;
        group.serialize_field("rule", &self.rule())?;
        group.serialize_field("left", self.left())?;
        group.serialize_field("right", self.right())?;
        group.serialize_field("score", &self.score())?;
        group.serialize_field("amount_difference", &self.amount_difference)?;
        group.serialize_field("status", &self.status)?;
        group.serialize_field("marks", &self.marks)?;
        group.end()
    }
}

/// Two records that agree on a rule's key but fall outside its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Break {
    /// The rule whose key they share.
    pub rule: usize,
    /// Left record index.
    pub left: u32,
    /// Right record index.
    pub right: u32,
    /// Left − right amount.
    pub amount_difference: Option<Decimal>,
    /// Right − left days.
    pub days_difference: Option<i64>,
    /// What failed.
    pub reason: String,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Outcome {
    /// Match groups, ordered by rule, then first left id, then first right id.
    pub groups: Vec<MatchGroup>,
    /// Breaks, ordered by left id.
    pub breaks: Vec<Break>,
    /// Unmatched left records, by id.
    pub unmatched_left: Vec<u32>,
    /// Unmatched right records, by id.
    pub unmatched_right: Vec<u32>,
    /// Records on each side.
    pub left_records: usize,
    /// Records on each side.
    pub right_records: usize,
    /// Many-to-many components left alone because they exceeded max_group_size or the budget.
    pub components_over_limit: usize,
}

/// Counts for one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideSummary {
    /// Records read.
    pub records: usize,
    /// In a match group.
    pub matched: usize,
    /// In a break.
    pub in_breaks: usize,
    /// Neither.
    pub unmatched: usize,
    /// Rows left out by the reader (`on_error = "skip"`).
    pub skipped_rows: usize,
}

/// Counts for one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    /// Rule name.
    pub name: String,
    /// Strategy.
    pub strategy: &'static str,
    /// Groups it made.
    pub groups: usize,
    /// Left records in them.
    pub left_records: usize,
    /// Right records in them.
    pub right_records: usize,
}

/// The run in numbers (summary.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Left side.
    pub left: SideSummary,
    /// Right side.
    pub right: SideSummary,
    /// Match groups.
    pub groups: usize,
    /// Of which auto-confirmed.
    pub auto_confirmed: usize,
    /// Of which proposed.
    pub proposed: usize,
    /// Breaks.
    pub breaks: usize,
    /// Matched records / all records, both sides together (4 decimals).
    pub match_rate: f64,
    /// Many-to-many components too large to search.
    pub components_over_limit: usize,
    /// Per rule, in order.
    pub rules: Vec<RuleSummary>,
}

impl Outcome {
    /// Summarises the outcome; `skipped` are the readers' left-out rows per side.
    pub fn summary(&self, rules: &CompiledRules, skipped: (usize, usize)) -> Summary {
        // One parallel pass: per rule, (groups, left records, right records, auto-confirmed).
        let per_rule = self
            .groups
            .par_iter()
            .fold(
                || vec![[0usize; 4]; rules.rules.len()],
                |mut counts, group| {
                    if let Some(count) = counts.get_mut(group.rule()) {
                        count[0] += 1;
                        count[1] += group.left().len();
                        count[2] += group.right().len();
                        count[3] += usize::from(group.status == Status::AutoConfirmed);
                    }
                    counts
                },
            )
            .reduce(
                || vec![[0usize; 4]; rules.rules.len()],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        for k in 0..4 {
                            x[k] += y[k];
                        }
                    }
                    a
                },
            );
        let total_of = |k: usize| per_rule.iter().map(|count| count[k]).sum::<usize>();
        let (matched_left, matched_right) = (total_of(1), total_of(2));
        let auto_confirmed = total_of(3);
        let total = self.left_records + self.right_records;
        let rate = if total == 0 {
            0.0
        } else {
            (matched_left + matched_right) as f64 / total as f64
        };
        Summary {
            left: SideSummary {
                records: self.left_records,
                matched: matched_left,
                in_breaks: self.breaks.len(),
                unmatched: self.unmatched_left.len(),
                skipped_rows: skipped.0,
            },
            right: SideSummary {
                records: self.right_records,
                matched: matched_right,
                in_breaks: self.breaks.len(),
                unmatched: self.unmatched_right.len(),
                skipped_rows: skipped.1,
            },
            groups: self.groups.len(),
            auto_confirmed,
            proposed: self.groups.len() - auto_confirmed,
            breaks: self.breaks.len(),
            match_rate: round4(rate),
            components_over_limit: self.components_over_limit,
            rules: rules
                .rules
                .iter()
                .enumerate()
                .map(|(index, rule)| RuleSummary {
                    name: rule.name.clone(),
                    strategy: rule.strategy.as_str(),
                    groups: per_rule[index][0],
                    left_records: per_rule[index][1],
                    right_records: per_rule[index][2],
                })
                .collect(),
        }
    }
}

/// Rounds to 4 decimals, so printed scores are stable.
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million groups are a normal run: a group is 64 bytes, with no heap allocation for
    /// one-to-one groups of rules with up to three criteria; larger ones read back as made.
    #[test]
    fn a_group_is_small_and_one_to_one_groups_stay_inline() {
        assert_eq!(std::mem::size_of::<MatchGroup>(), 64);
        assert_eq!(std::mem::size_of::<Marks>(), 16);
        let mark = Mark::new(true, 1.0, 0.5);
        let group = MatchGroup::new(
            0,
            &[1][..],
            &[2][..],
            0.75,
            None,
            Status::AutoConfirmed,
            Marks::from_slice(&[mark; INLINE_MARKS]),
        );
        assert!(matches!(group.members, Members::Pair(_)) && !group.marks().spilled());
        assert_eq!((group.left(), group.right()), (&[1][..], &[2][..]));
        assert_eq!(group.score(), 0.75);
        let marks: Marks = std::iter::repeat_n(mark, INLINE_MARKS + 2).collect();
        let mut large = MatchGroup::new(
            1,
            vec![5, 3],
            vec![4],
            0.123_4,
            None,
            Status::Proposed,
            marks.clone(),
        );
        assert!(marks.spilled() && marks.len() == INLINE_MARKS + 2);
        assert_eq!(large.marks().as_slice(), &[mark; INLINE_MARKS + 2][..]);
        large.sort_members(|i| *i, |i| *i);
        assert_eq!((large.left(), large.right()), (&[3, 5][..], &[4][..]));
        assert_eq!((large.rule(), large.score()), (1, 0.123_4));
    }

    #[test]
    fn marks_keep_the_four_place_values_that_round4_gives() {
        for value in [0.0, 0.333_333, 0.5, 0.987_65, 0.999_95, 1.0] {
            let mark = Mark::new(true, value, value / 3.0);
            assert!(mark.passed());
            assert_eq!(f64::from(mark.value()) / FOUR_PLACES, round4(value));
            assert_eq!(
                f64::from(mark.contribution()) / FOUR_PLACES,
                round4(value / 3.0)
            );
            let failed = Mark::new(false, value, 0.0);
            assert!(!failed.passed());
            assert_eq!(failed.value(), mark.value());
        }
        assert_eq!(Mark::new(false, f64::NAN, 0.0).value(), 0);
        assert_eq!(std::mem::size_of::<Mark>(), 4);
    }
}
