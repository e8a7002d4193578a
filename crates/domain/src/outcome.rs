//! What a run produces: match groups with their explanations, breaks, the unmatched records of
//! each side, and a summary. Every input record is in exactly one of: a group, a break, or its
//! side's unmatched list. Record references are indices into the input slices.
//!
//! A run can make a million groups, so a group is kept small (112 bytes, no heap
//! allocation for up to four members per side and four criteria): members are held inline,
//! and the explanation is kept as [`Mark`]s, each criterion's value and contribution in
//! ten-thousandths, which is exactly what the output prints. [`MatchGroup::explanation`]
//! expands them with the rule's criterion names.

use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::ser::SerializeStruct;
use smallvec::SmallVec;

use crate::rules::{CompiledRules, Rule};

/// Record indices of one side of a group, ordered by id; up to four are held inline.
pub type Members = SmallVec<[u32; 4]>;

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

/// The marks of a group's criteria, in rule order; up to four are held inline.
pub type Marks = SmallVec<[Mark; 4]>;

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

/// A set of left records matched with a set of right records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchGroup {
    /// Index of the rule that made it.
    pub rule: usize,
    /// Left record indices, ordered by id.
    pub left: Members,
    /// Right record indices, ordered by id.
    pub right: Members,
    /// Score in [0, 1].
    pub score: f64,
    /// Sum of left amounts − sum of right amounts, when all are known.
    pub amount_difference: Option<Decimal>,
    /// Proposed or auto-confirmed.
    pub status: Status,
    /// Per-criterion breakdown, compact; [`MatchGroup::explanation`] names the criteria.
    pub marks: Marks,
}

impl MatchGroup {
    /// The per-criterion breakdown, with the test of each criterion of the group's rule.
    pub fn explanation(&self, rules: &CompiledRules) -> Vec<Explanation> {
        let rule: &Rule = &rules.rules[self.rule];
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
                    if let Some(count) = counts.get_mut(group.rule) {
                        count[0] += 1;
                        count[1] += group.left.len();
                        count[2] += group.right.len();
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

    /// A million groups are a normal run: a group stays within two cache lines, with no heap
    /// allocation for one-to-one groups of rules with up to four criteria.
    #[test]
    fn a_group_is_small_and_one_to_one_groups_stay_inline() {
        assert!(
            std::mem::size_of::<MatchGroup>() <= 128,
            "{}",
            std::mem::size_of::<MatchGroup>()
        );
        let group = MatchGroup {
            rule: 0,
            left: Members::from_slice(&[1]),
            right: Members::from_slice(&[2]),
            score: 1.0,
            amount_difference: None,
            status: Status::AutoConfirmed,
            marks: Marks::from_slice(&[Mark::new(true, 1.0, 0.5); 4]),
        };
        assert!(!group.left.spilled() && !group.right.spilled() && !group.marks.spilled());
        assert!(std::mem::size_of::<MatchGroup>() <= 112);
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
