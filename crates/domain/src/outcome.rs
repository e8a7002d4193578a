//! What a run produces: match groups with their explanations, breaks, the unmatched records of
//! each side, and a summary. Every input record is in exactly one of: a group, a break, or its
//! side's unmatched list. Record references are indices into the input slices.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::rules::CompiledRules;

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

/// A set of left records matched with a set of right records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchGroup {
    /// Index of the rule that made it.
    pub rule: usize,
    /// Left record indices, ordered by id.
    pub left: Vec<u32>,
    /// Right record indices, ordered by id.
    pub right: Vec<u32>,
    /// Score in [0, 1].
    pub score: f64,
    /// Sum of left amounts − sum of right amounts, when all are known.
    pub amount_difference: Option<Decimal>,
    /// Proposed or auto-confirmed.
    pub status: Status,
    /// Per-criterion breakdown.
    pub explanation: Vec<Explanation>,
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
        let matched_left: usize = self.groups.iter().map(|g| g.left.len()).sum();
        let matched_right: usize = self.groups.iter().map(|g| g.right.len()).sum();
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
            auto_confirmed: self
                .groups
                .iter()
                .filter(|g| g.status == Status::AutoConfirmed)
                .count(),
            proposed: self
                .groups
                .iter()
                .filter(|g| g.status == Status::Proposed)
                .count(),
            breaks: self.breaks.len(),
            match_rate: round4(rate),
            components_over_limit: self.components_over_limit,
            rules: rules
                .rules
                .iter()
                .enumerate()
                .map(|(index, rule)| {
                    let made: Vec<&MatchGroup> =
                        self.groups.iter().filter(|g| g.rule == index).collect();
                    RuleSummary {
                        name: rule.name.clone(),
                        strategy: rule.strategy.as_str(),
                        groups: made.len(),
                        left_records: made.iter().map(|g| g.left.len()).sum(),
                        right_records: made.iter().map(|g| g.right.len()).sum(),
                    }
                })
                .collect(),
        }
    }
}

/// Rounds to 4 decimals, so printed scores are stable.
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}
