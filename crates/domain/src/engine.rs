//! The engine: runs the rules in order over two record sets and returns an [`Outcome`].
//!
//! A record matched by one rule is not offered to later ones. After the rules, records that
//! share a one-to-one rule's key but failed only its amount or date tolerance become breaks.
//! Everything left is unmatched. The output is deterministic: every ordering decision is broken
//! by record ids, never by input position or thread timing, so the same inputs and rules give
//! the same outcome whatever the thread count or input order.
//!
//! Progress is reported through an [`Observer`] (phase, done, total) from worker threads, and
//! the observer's `is_cancelled` is polled every few thousand records; a cancelled run returns
//! [`Cancelled`] and no partial outcome.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;
use rust_decimal::Decimal;

use crate::candidates::Index;
use crate::criteria::{self, Test, Verdict};
use crate::grouping;
use crate::outcome::{Break, Explanation, MatchGroup, Outcome, Status, round4};
use crate::record::Record;
use crate::rules::{Blocking, CompiledRules, Rule, Strategy};

/// Records handled between progress reports and cancellation checks.
pub(crate) const BATCH: usize = 4096;

/// Receives progress and answers whether to stop. Called from several threads.
pub trait Observer: Sync {
    /// `phase` (e.g. `rule 1/3 "exact": matching`), records done of total.
    fn progress(&self, _phase: &str, _done: u64, _total: u64) {}
    /// Polled regularly; return true to stop the run.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// An observer that reports nothing and never cancels.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// The run was cancelled through its observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reconciliation was cancelled")]
pub struct Cancelled;

/// Which records are taken.
pub(crate) struct Taken {
    pub(crate) left: Vec<bool>,
    pub(crate) right: Vec<bool>,
}

/// Shared per-run context handed to the strategies.
pub(crate) struct Run<'a> {
    pub(crate) left: &'a [Record],
    pub(crate) right: &'a [Record],
    pub(crate) observer: &'a dyn Observer,
    pub(crate) cancelled: AtomicBool,
}

impl Run<'_> {
    pub(crate) fn check(&self) -> Result<(), Cancelled> {
        if self.cancelled.load(Ordering::Relaxed) || self.observer.is_cancelled() {
            self.cancelled.store(true, Ordering::Relaxed);
            return Err(Cancelled);
        }
        Ok(())
    }

    /// A progress counter for one phase.
    pub(crate) fn phase<'p>(&'p self, name: String, total: usize) -> Phase<'p> {
        self.observer.progress(&name, 0, total as u64);
        Phase {
            run: self,
            name,
            total: total as u64,
            done: AtomicU64::new(0),
        }
    }
}

/// Progress of one phase.
pub(crate) struct Phase<'p> {
    run: &'p Run<'p>,
    name: String,
    total: u64,
    done: AtomicU64,
}

impl Phase<'_> {
    /// Adds `count` done, reports, and says whether to stop.
    pub(crate) fn advance(&self, count: usize) -> bool {
        let done = self.done.fetch_add(count as u64, Ordering::Relaxed) + count as u64;
        self.run
            .observer
            .progress(&self.name, done.min(self.total), self.total);
        self.run.check().is_err()
    }
}

/// Runs `rules` over `left` and `right`.
pub fn reconcile(
    rules: &CompiledRules,
    left: &[Record],
    right: &[Record],
    observer: &dyn Observer,
) -> Result<Outcome, Cancelled> {
    assert!(
        left.len() < u32::MAX as usize && right.len() < u32::MAX as usize,
        "more than 4 billion records per side are not supported"
    );
    let run = Run {
        left,
        right,
        observer,
        cancelled: AtomicBool::new(false),
    };
    let mut taken = Taken {
        left: vec![false; left.len()],
        right: vec![false; right.len()],
    };
    let mut groups = Vec::new();
    let mut components_over_limit = 0;
    let count = rules.rules.len();
    for (index, rule) in rules.rules.iter().enumerate() {
        run.check()?;
        let phase = format!("rule {}/{count} {:?}", index + 1, rule.name);
        let made = match rule.strategy {
            Strategy::OneToOne => one_to_one(&run, index, rule, &mut taken, &phase)?,
            Strategy::ManyToOne => {
                grouping::many_to_one(&run, index, rule, &mut taken, &phase, true)?
            }
            Strategy::OneToMany => {
                grouping::many_to_one(&run, index, rule, &mut taken, &phase, false)?
            }
            Strategy::ManyToMany => {
                let (made, over) = grouping::many_to_many(&run, index, rule, &mut taken, &phase)?;
                components_over_limit += over;
                made
            }
        };
        groups.extend(made);
    }
    run.check()?;
    let breaks = find_breaks(&run, rules, &mut taken)?;

    let by_id = |records: &[Record], indices: &mut Vec<u32>| {
        indices.sort_unstable_by(|a, b| records[*a as usize].id.cmp(&records[*b as usize].id))
    };
    for group in &mut groups {
        by_id(left, &mut group.left);
        by_id(right, &mut group.right);
    }
    groups.par_sort_unstable_by(|a, b| {
        a.rule
            .cmp(&b.rule)
            .then_with(|| first_id(left, &a.left).cmp(&first_id(left, &b.left)))
            .then_with(|| first_id(right, &a.right).cmp(&first_id(right, &b.right)))
    });
    let mut unmatched_left: Vec<u32> = (0..left.len() as u32)
        .filter(|i| !taken.left[*i as usize])
        .collect();
    let mut unmatched_right: Vec<u32> = (0..right.len() as u32)
        .filter(|i| !taken.right[*i as usize])
        .collect();
    by_id(left, &mut unmatched_left);
    by_id(right, &mut unmatched_right);
    observer.progress("done", 1, 1);
    Ok(Outcome {
        groups,
        breaks,
        unmatched_left,
        unmatched_right,
        left_records: left.len(),
        right_records: right.len(),
        components_over_limit,
    })
}

/// The smallest id of a group's side (its indices are sorted by id).
fn first_id<'r>(records: &'r [Record], indices: &[u32]) -> Option<&'r str> {
    indices.first().map(|i| &*records[*i as usize].id)
}

/// Builds the explanation and score from verdicts.
pub(crate) fn explain(rule: &Rule, verdicts: &[Verdict]) -> (f64, Vec<Explanation>) {
    let total: f64 = rule.criteria.iter().map(|c| c.weight).sum();
    let explanation = rule
        .criteria
        .iter()
        .zip(verdicts)
        .map(|(criterion, verdict)| Explanation {
            criterion: criterion.label.clone(),
            test: criterion.test.name(),
            passed: verdict.passed,
            value: round4(verdict.value),
            contribution: if verdict.passed && total > 0.0 {
                round4(criterion.weight * verdict.value / total)
            } else {
                0.0
            },
        })
        .collect();
    (
        round4(criteria::score(&rule.criteria, verdicts)),
        explanation,
    )
}

pub(crate) fn status(rule: &Rule, score: f64) -> Status {
    if score >= rule.auto_confirm {
        Status::AutoConfirmed
    } else {
        Status::Proposed
    }
}

pub(crate) fn sum_amounts(records: &[Record], indices: &[u32]) -> Option<Decimal> {
    indices.iter().try_fold(Decimal::ZERO, |sum, i| {
        records[*i as usize].amount.map(|a| sum + a)
    })
}

/// The tie-break key of a pair: its two ids, smaller first, then left, then right. Using the
/// unordered pair first makes the order the same when the sides are swapped.
fn pair_order<'r>(
    left: &'r [Record],
    right: &'r [Record],
    l: u32,
    r: u32,
) -> (&'r str, &'r str, &'r str, &'r str) {
    let (a, b) = (&*left[l as usize].id, &*right[r as usize].id);
    (a.min(b), a.max(b), a, b)
}

/// One candidate pair that passed every required criterion.
struct Pair {
    score: f64,
    amount_gap: Option<Decimal>,
    days_gap: Option<i64>,
    left: u32,
    right: u32,
}

/// Evaluates every criterion; `None` when a required one fails. The blocking key criterion is
/// known to hold for key-index candidates and is not evaluated again.
fn evaluate(
    rule: &Rule,
    left: &Record,
    right: &Record,
    known: Option<usize>,
) -> Option<Vec<Verdict>> {
    let mut verdicts = Vec::with_capacity(rule.criteria.len());
    for (index, criterion) in rule.criteria.iter().enumerate() {
        let verdict = if Some(index) == known {
            Verdict {
                passed: true,
                value: 1.0,
                amount_difference: None,
                days_difference: None,
            }
        } else {
            criterion.evaluate(left, right)
        };
        if criterion.required && !verdict.passed {
            return None;
        }
        verdicts.push(verdict);
    }
    Some(verdicts)
}

/// One-to-one: score every candidate pair, then take pairs best-first, each record once.
///
/// Complexity: candidate generation as in [`crate::candidates`] (parallel over left records),
/// O(p log p) to sort the p passing pairs, O(p) to assign. Ties are broken by the smaller
/// amount gap, then the smaller date gap, then left id, then right id, so the result does not
/// depend on input order. Best-first is greedy: it maximises each decision's score, not the
/// total over all decisions.
fn one_to_one(
    run: &Run<'_>,
    rule_index: usize,
    rule: &Rule,
    taken: &mut Taken,
    phase: &str,
) -> Result<Vec<MatchGroup>, Cancelled> {
    let (left, right) = (run.left, run.right);
    let index = Index::build(rule, right, false, &taken.right);
    let known = match rule.blocking {
        Blocking::Key(criterion) => Some(criterion),
        _ => None,
    };
    let probes: Vec<u32> = (0..left.len() as u32)
        .filter(|i| !taken.left[*i as usize])
        .collect();
    let progress = run.phase(format!("{phase}: scoring"), probes.len());
    let used_right = &taken.right;
    let mut pairs: Vec<Pair> = probes
        .par_chunks(BATCH)
        .flat_map_iter(|chunk| {
            let mut found = Vec::new();
            if run.cancelled.load(Ordering::Relaxed) {
                return found;
            }
            let mut candidates = Vec::new();
            for &l in chunk {
                index.candidates(rule, &left[l as usize], true, &mut candidates);
                for &r in &candidates {
                    if used_right[r as usize] {
                        continue;
                    }
                    let Some(verdicts) =
                        evaluate(rule, &left[l as usize], &right[r as usize], known)
                    else {
                        continue;
                    };
                    let score = criteria::score(&rule.criteria, &verdicts);
                    if score + 1e-12 < rule.min_score {
                        continue;
                    }
                    let amount_gap = verdicts
                        .iter()
                        .find_map(|v| v.amount_difference)
                        .map(|d| d.abs());
                    let days_gap = verdicts
                        .iter()
                        .find_map(|v| v.days_difference)
                        .map(i64::abs);
                    found.push(Pair {
                        score,
                        amount_gap,
                        days_gap,
                        left: l,
                        right: r,
                    });
                }
            }
            progress.advance(chunk.len());
            found
        })
        .collect();
    run.check()?;
    let gap = |g: Option<Decimal>| g.unwrap_or(Decimal::MAX);
    pairs.par_sort_unstable_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| gap(a.amount_gap).cmp(&gap(b.amount_gap)))
            .then_with(|| {
                a.days_gap
                    .unwrap_or(i64::MAX)
                    .cmp(&b.days_gap.unwrap_or(i64::MAX))
            })
            .then_with(|| {
                pair_order(left, right, a.left, a.right)
                    .cmp(&pair_order(left, right, b.left, b.right))
            })
    });
    let mut groups = Vec::new();
    for pair in pairs {
        let (l, r) = (pair.left as usize, pair.right as usize);
        if taken.left[l] || taken.right[r] {
            continue;
        }
        taken.left[l] = true;
        taken.right[r] = true;
        let verdicts: Vec<Verdict> = rule
            .criteria
            .iter()
            .map(|c| c.evaluate(&left[l], &right[r]))
            .collect();
        let (score, explanation) = explain(rule, &verdicts);
        groups.push(MatchGroup {
            rule: rule_index,
            left: vec![pair.left],
            right: vec![pair.right],
            score,
            amount_difference: left[l].amount.zip(right[r].amount).map(|(a, b)| a - b),
            status: status(rule, score),
            explanation,
        });
    }
    Ok(groups)
}

/// Breaks: after all rules, records still free that share a one-to-one key rule's key and pass
/// every required criterion except an amount or date tolerance. Closest pairs first, each
/// record in at most one break.
fn find_breaks(
    run: &Run<'_>,
    rules: &CompiledRules,
    taken: &mut Taken,
) -> Result<Vec<Break>, Cancelled> {
    let (left, right) = (run.left, run.right);
    let mut breaks = Vec::new();
    for (rule_index, rule) in rules.rules.iter().enumerate() {
        let Blocking::Key(key) = rule.blocking else {
            continue;
        };
        if rule.strategy != Strategy::OneToOne {
            continue;
        }
        run.check()?;
        let index = Index::build(rule, right, false, &taken.right);
        let probes: Vec<u32> = (0..left.len() as u32)
            .filter(|i| !taken.left[*i as usize])
            .collect();
        let used_right = &taken.right;
        let mut found: Vec<(Decimal, i64, u32, u32, Vec<Verdict>)> = probes
            .par_chunks(BATCH)
            .flat_map_iter(|chunk| {
                let mut found = Vec::new();
                let mut candidates = Vec::new();
                for &l in chunk {
                    index.candidates(rule, &left[l as usize], true, &mut candidates);
                    for &r in &candidates {
                        if used_right[r as usize] {
                            continue;
                        }
                        let verdicts: Vec<Verdict> = rule
                            .criteria
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                if i == key {
                                    Verdict {
                                        passed: true,
                                        value: 1.0,
                                        amount_difference: None,
                                        days_difference: None,
                                    }
                                } else {
                                    c.evaluate(&left[l as usize], &right[r as usize])
                                }
                            })
                            .collect();
                        let tolerance_failed = rule.criteria.iter().zip(&verdicts).any(|(c, v)| {
                            c.required
                                && !v.passed
                                && matches!(c.test, Test::Amount { .. } | Test::Date { .. })
                                && (v.amount_difference.is_some() || v.days_difference.is_some())
                        });
                        let other_failed = rule.criteria.iter().zip(&verdicts).any(|(c, v)| {
                            c.required
                                && !v.passed
                                && !matches!(c.test, Test::Amount { .. } | Test::Date { .. })
                        });
                        if tolerance_failed && !other_failed {
                            let amount = verdicts
                                .iter()
                                .find_map(|v| v.amount_difference)
                                .map_or(Decimal::MAX, |d| d.abs());
                            let days = verdicts
                                .iter()
                                .find_map(|v| v.days_difference)
                                .map_or(i64::MAX, i64::abs);
                            found.push((amount, days, l, r, verdicts));
                        }
                    }
                }
                found
            })
            .collect();
        found.sort_by(|a, b| {
            a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then_with(|| {
                pair_order(left, right, a.2, a.3).cmp(&pair_order(left, right, b.2, b.3))
            })
        });
        for (_, _, l, r, verdicts) in found {
            if taken.left[l as usize] || taken.right[r as usize] {
                continue;
            }
            taken.left[l as usize] = true;
            taken.right[r as usize] = true;
            let reasons: Vec<String> = rule
                .criteria
                .iter()
                .zip(&verdicts)
                .filter(|(c, v)| c.required && !v.passed)
                .map(
                    |(c, v)| match (&c.test, v.amount_difference, v.days_difference) {
                        (Test::Amount { absolute, relative }, Some(difference), _) => {
                            let (a, b) = (
                                left[l as usize].amount.unwrap_or_default(),
                                right[r as usize].amount.unwrap_or_default(),
                            );
                            format!(
                                "amounts differ by {difference}, beyond the tolerance of {}",
                                criteria::amount_tolerance(*absolute, *relative, a, b).normalize()
                            )
                        }
                        (Test::Date { days, .. }, _, Some(lag)) => {
                            format!("dates are {lag} day(s) apart, outside the {days}-day window")
                        }
                        _ => format!("{} {} failed", c.label, c.test.name()),
                    },
                )
                .collect();
            breaks.push(Break {
                rule: rule_index,
                left: l,
                right: r,
                amount_difference: verdicts.iter().find_map(|v| v.amount_difference),
                days_difference: verdicts.iter().find_map(|v| v.days_difference),
                reason: reasons.join("; "),
            });
        }
    }
    breaks.sort_by(|a, b| left[a.left as usize].id.cmp(&left[b.left as usize].id));
    Ok(breaks)
}
