//! The engine: runs the rules in order over two record sets and returns an [`Outcome`].
//!
//! A record matched by one rule is not offered to later ones. After the rules, records that
//! share a one-to-one rule's key but failed only its amount or date tolerance become breaks.
//! Everything left is unmatched. The output is deterministic: every ordering decision is broken
//! by record ids, never by input position or thread timing, so the same inputs and rules give
//! the same outcome whatever the thread count or input order. Each side's id order is sorted
//! once and kept with its records (`Records::id_order`; the reader's duplicate check already
//! asked for it), each record's position in it is its rank, and every later ordering within a
//! side compares ranks rather than strings. The last tie-break between two pairs compares
//! their ids whole (`Run::pair_order`): it is only reached by pairs equal in all else.
//!
//! Progress is reported through an [`Observer`] (phase, done, total) from worker threads, and
//! the observer's `is_cancelled` is polled every few thousand records; a cancelled run returns
//! [`Cancelled`] and no partial outcome.
//!
//! Memory: besides the records (and their id orders), a run holds a rank per record (4 bytes), the
//! index of the rule being run, its passing candidate pairs (64 bytes each, with their
//! explanation) and the groups (64 bytes each, see [`crate::outcome`]).

use std::cmp::Ordering as Order;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::candidates::Index;
use crate::criteria::{self, Test, Verdict};
use crate::grouping;
use crate::outcome::{Break, Mark, Marks, MatchGroup, Outcome, Status, round4};
use crate::record::{Field, RecordRef, Records};
use crate::rules::{Blocking, CompiledRules, Rule, Strategy};

/// Candidate pairs whose records are read together before they are scored.
const TOUCH_BLOCK: usize = 64;

/// Records handled between progress reports and cancellation checks.
pub(crate) const BATCH: usize = 4096;

/// Receives progress and answers whether to stop. Called from several threads.
pub trait Observer: Sync {
    /// `phase` (e.g. `rule 1/3 "exact": scoring`), records done of total.
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
    pub(crate) left: &'a Records,
    pub(crate) right: &'a Records,
    pub(crate) observer: &'a dyn Observer,
    pub(crate) cancelled: AtomicBool,
    /// Each record's position in its side's id order: orderings within a side compare these
    /// instead of strings.
    pub(crate) left_rank: Vec<u32>,
    pub(crate) right_rank: Vec<u32>,
    /// Record indices in id order ([`Records::id_order`]).
    pub(crate) left_order: &'a [u32],
    pub(crate) right_order: &'a [u32],
}

impl Run<'_> {
    pub(crate) fn check(&self) -> Result<(), Cancelled> {
        if self.cancelled.load(Ordering::Relaxed) || self.observer.is_cancelled() {
            self.cancelled.store(true, Ordering::Relaxed);
            return Err(Cancelled);
        }
        Ok(())
    }

    /// Runs `each` for every probe, in parallel batches of [`BATCH`] with one scratch value
    /// per batch, and collects what it pushes. Progress is reported under `phase` after each
    /// batch; once the run is cancelled no new batch starts (callers then `check`). Every
    /// strategy's candidate scan goes through here.
    pub(crate) fn scan<T, S>(
        &self,
        phase: String,
        probes: &[u32],
        each: impl Fn(u32, &mut S, &mut Vec<T>) + Sync,
    ) -> Vec<T>
    where
        T: Send,
        S: Default,
    {
        let batches = self.scan_batches(phase, probes, each);
        let mut found = Vec::with_capacity(batches.iter().map(Vec::len).sum());
        for mut batch in batches {
            found.append(&mut batch);
        }
        found
    }

    /// [`Run::scan`] without joining the batches' results: a large scan's results are not
    /// copied into one vector (one-to-one walks the batches as they are).
    pub(crate) fn scan_batches<T, S>(
        &self,
        phase: String,
        probes: &[u32],
        each: impl Fn(u32, &mut S, &mut Vec<T>) + Sync,
    ) -> Vec<Vec<T>>
    where
        T: Send,
        S: Default,
    {
        self.scan_chunks(phase, probes, |chunk, scratch: &mut S, found| {
            for &probe in chunk {
                each(probe, scratch, found);
            }
        })
    }

    /// [`Run::scan_batches`] with `each` called once per batch of probes, so it can do one
    /// step for all of them before the next (see [`one_to_one`]).
    pub(crate) fn scan_chunks<T, S>(
        &self,
        phase: String,
        probes: &[u32],
        each: impl Fn(&[u32], &mut S, &mut Vec<T>) + Sync,
    ) -> Vec<Vec<T>>
    where
        T: Send,
        S: Default,
    {
        let progress = self.phase(phase, probes.len());
        probes
            .par_chunks(BATCH)
            .map(|chunk| {
                let mut found = Vec::new();
                if self.cancelled.load(Ordering::Relaxed) {
                    return found;
                }
                let mut scratch = S::default();
                each(chunk, &mut scratch, &mut found);
                progress.advance(chunk.len());
                found
            })
            .collect()
    }

    /// A progress counter for one phase.
    pub(crate) fn phase(&self, name: String, total: usize) -> Phase<'_> {
        self.observer.progress(&name, 0, total as u64);
        Phase {
            run: self,
            name,
            total: total as u64,
            done: AtomicU64::new(0),
        }
    }

    /// The tie-break key of a pair: its two ids, smaller first, then left, then right. Using
    /// the unordered pair first keeps the order when the sides are swapped. (Only pairs equal
    /// in everything else get here, so the ids are compared whole.)
    fn pair_order(&self, l: u32, r: u32) -> (&str, &str, &str, &str) {
        let (a, b) = (
            self.left.get(l as usize).id(),
            self.right.get(r as usize).id(),
        );
        (a.min(b), a.max(b), a, b)
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
    left: &Records,
    right: &Records,
    observer: &dyn Observer,
) -> Result<Outcome, Cancelled> {
    assert!(
        left.len() < u32::MAX as usize && right.len() < u32::MAX as usize,
        "more than 4 billion records per side are not supported"
    );
    observer.progress("ordering ids", 0, 1);
    let ((left_order, left_rank), (right_order, right_rank)) =
        rayon::join(|| order_and_ranks(left), || order_and_ranks(right));
    let run = Run {
        left,
        right,
        observer,
        cancelled: AtomicBool::new(false),
        left_rank,
        right_rank,
        left_order,
        right_order,
    };
    let mut taken = Taken {
        left: vec![false; left.len()],
        right: vec![false; right.len()],
    };
    let mut groups = Vec::new();
    let mut components_over_limit = 0;
    // Per rule, the candidate pairs of a one-to-one key rule that failed a criterion: the
    // only pairs that can be breaks.
    let mut near_misses: Vec<NearMisses> = vec![Vec::new(); rules.rules.len()];
    let count = rules.rules.len();
    for (index, rule) in rules.rules.iter().enumerate() {
        run.check()?;
        let phase = format!("rule {}/{count} {:?}", index + 1, rule.name);
        let made = match rule.strategy {
            Strategy::OneToOne => {
                let (made, missed) = one_to_one(&run, index, rule, &mut taken, &phase)?;
                near_misses[index] = missed;
                made
            }
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
        if groups.is_empty() {
            // The first rule's groups are kept as they are, not copied.
            groups = made;
        } else {
            groups.extend(made);
        }
    }
    run.check()?;
    let breaks = find_breaks(&run, rules, &near_misses, &mut taken)?;

    let (left_rank, right_rank) = (&run.left_rank, &run.right_rank);
    // One-to-one groups have one record a side: only the other strategies' need ordering.
    let one_to_one_only = rules
        .rules
        .iter()
        .all(|rule| rule.strategy == Strategy::OneToOne);
    if !one_to_one_only {
        groups.par_iter_mut().for_each(|group| {
            group.sort_members(|i| left_rank[*i as usize], |i| right_rank[*i as usize]);
        });
    }
    let first =
        |ranks: &[u32], indices: &[u32]| indices.first().map_or(u32::MAX, |i| ranks[*i as usize]);
    let output_order = |g: &MatchGroup| {
        (
            g.rule(),
            first(left_rank, g.left()),
            first(right_rank, g.right()),
        )
    };
    // One-to-one rules make their groups in this order already (each rule's in left-id
    // order, the rules' one after the other): only the other strategies' need sorting, and
    // reading a million groups to check cost a hundredth of an exact-key run.
    let sorted = |groups: &[MatchGroup]| {
        groups
            .par_windows(2)
            .all(|pair| output_order(&pair[0]) <= output_order(&pair[1]))
    };
    if one_to_one_only {
        debug_assert!(sorted(&groups), "one-to-one groups come in output order");
    } else if !sorted(&groups) {
        groups.par_sort_unstable_by_key(output_order);
    }
    let unmatched = |order: &[u32], taken: &[bool]| -> Vec<u32> {
        order
            .par_iter()
            .copied()
            .filter(|i| !taken[*i as usize])
            .collect()
    };
    let (unmatched_left, unmatched_right) = rayon::join(
        || unmatched(run.left_order, &taken.left),
        || unmatched(run.right_order, &taken.right),
    );
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

/// A side's records in id order (kept with them, see [`Records::id_order`]) and each record's
/// position in it.
fn order_and_ranks(records: &Records) -> (&[u32], Vec<u32>) {
    let order = &records.id_order().order;
    let mut rank = vec![0u32; order.len()];
    for (position, &index) in order.iter().enumerate() {
        rank[index as usize] = position as u32;
    }
    (order, rank)
}

/// The score and the marks of the explanation from each criterion's (passed, value).
pub(crate) fn explain(
    rule: &Rule,
    parts: impl Iterator<Item = (bool, f64)> + Clone,
) -> (f64, Marks) {
    let total: f64 = rule.criteria.iter().map(|c| c.weight).sum();
    let marks = rule
        .criteria
        .iter()
        .zip(parts.clone())
        .map(|(criterion, (passed, value))| {
            let contribution = if passed && total > 0.0 {
                criterion.weight * value / total
            } else {
                0.0
            };
            Mark::new(passed, value, contribution)
        })
        .collect();
    (
        round4(criteria::weighted_score(&rule.criteria, parts)),
        marks,
    )
}

/// [`explain`] from verdicts.
pub(crate) fn explain_verdicts(rule: &Rule, verdicts: &[Verdict]) -> (f64, Marks) {
    explain(rule, verdicts.iter().map(|v| (v.passed, v.value)))
}

pub(crate) fn status(rule: &Rule, score: f64) -> Status {
    if score >= rule.auto_confirm {
        Status::AutoConfirmed
    } else {
        Status::Proposed
    }
}

pub(crate) fn sum_amounts(records: &Records, indices: &[u32]) -> Option<Decimal> {
    indices.iter().try_fold(Decimal::ZERO, |sum, i| {
        records.get(*i as usize).amount().map(|a| sum + a)
    })
}

/// A verdict for the blocking key criterion, which holds by construction for key candidates.
const KEY_HOLDS: Verdict = Verdict {
    passed: true,
    value: 1.0,
    amount_difference: None,
    days_difference: None,
};

/// One candidate pair that passed every required criterion, with what its place in the
/// best-first order depends on and its explanation, made while its verdicts were at hand so a
/// chosen pair is never evaluated twice. (64 bytes: a million of them are held at once.)
struct Pair {
    /// Unrounded score.
    score: f64,
    /// |amount difference| as f64: only used to order, ties fall through to ids.
    amount_gap: f64,
    days_gap: i32,
    left: u32,
    right: u32,
    /// Left − right amount, when both are known.
    amount_difference: Option<Decimal>,
    marks: Marks,
}

impl Pair {
    /// Best first: higher score, then smaller amount gap, then smaller date gap, then the ids
    /// ([`Run::pair_order`]; looked up only for pairs equal in all else).
    fn best_first(&self, other: &Self, run: &Run<'_>) -> Order {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.amount_gap.total_cmp(&other.amount_gap))
            .then_with(|| self.days_gap.cmp(&other.days_gap))
            .then_with(|| {
                run.pair_order(self.left, self.right)
                    .cmp(&run.pair_order(other.left, other.right))
            })
    }
}

/// Evaluates every criterion into `verdicts`; false as soon as a required one fails. The
/// blocking key criterion (`known`) is not evaluated again.
fn evaluate(
    rule: &Rule,
    left: RecordRef<'_>,
    right: RecordRef<'_>,
    known: Option<usize>,
    verdicts: &mut Vec<Verdict>,
) -> bool {
    verdicts.clear();
    for (index, criterion) in rule.criteria.iter().enumerate() {
        let verdict = if Some(index) == known {
            KEY_HOLDS
        } else {
            criterion.evaluate(left, right)
        };
        if criterion.required && !verdict.passed {
            return false;
        }
        verdicts.push(verdict);
    }
    true
}

/// (left, right) candidate pairs of a one-to-one key rule that failed a required criterion.
type NearMisses = Vec<(u32, u32)>;

/// What one batch of a one-to-one scan reuses from probe to probe.
#[derive(Default)]
struct ScanScratch {
    candidates: Vec<u32>,
    /// (left, right) candidate pairs of the batch.
    pairs: Vec<(u32, u32)>,
    verdicts: Vec<Verdict>,
    /// Pairs that failed a required criterion (kept for a key rule's breaks).
    missed: Vec<(u32, u32)>,
    /// The last explanation made, for the next pair that scores alike.
    explained: LastExplanation,
}

/// The last pair's (passed, value) per criterion, with the score and marks made from them:
/// pairs of one rule often score alike (every exact match does), and then share them.
#[derive(Default)]
struct LastExplanation {
    parts: Vec<(bool, f64)>,
    score: f64,
    /// Made when first asked for: a pair under the rule's minimum score needs none.
    marks: Option<Marks>,
}

impl LastExplanation {
    /// The score of `verdicts`, computed anew only when their (passed, value) list differs
    /// from the last one's.
    fn score(&mut self, rule: &Rule, verdicts: &[Verdict]) -> f64 {
        let same = self.parts.len() == verdicts.len()
            && self
                .parts
                .iter()
                .zip(verdicts)
                .all(|(&(passed, value), v)| {
                    passed == v.passed && value.to_bits() == v.value.to_bits()
                });
        if !same {
            self.parts.clear();
            self.parts
                .extend(verdicts.iter().map(|v| (v.passed, v.value)));
            self.score = criteria::score(&rule.criteria, verdicts);
            self.marks = None;
        }
        self.score
    }

    /// The marks of the verdicts last given to [`LastExplanation::score`].
    fn marks(&mut self, rule: &Rule, verdicts: &[Verdict]) -> Marks {
        self.marks
            .get_or_insert_with(|| explain_verdicts(rule, verdicts).1)
            .clone()
    }
}

/// One-to-one: score every candidate pair, then take pairs best-first, each record once.
///
/// Complexity: candidate generation as in [`crate::candidates`] (parallel over left records),
/// O(p) over the p passing pairs to find the contested ones (those sharing a record with
/// another pair) and to take the rest, O(c log c) to sort the c contested ones best-first,
/// O(n) over the n left records to put the chosen pairs in output order. Ties are broken by
/// the smaller amount gap, then the smaller date gap, then the ids, so the result does not
/// depend on input order. Best-first is greedy: it maximises each decision's score, not the
/// total over all.
fn one_to_one(
    run: &Run<'_>,
    rule_index: usize,
    rule: &Rule,
    taken: &mut Taken,
    phase: &str,
) -> Result<(Vec<MatchGroup>, NearMisses), Cancelled> {
    let (left, right) = (run.left, run.right);
    let index = Index::build(rule, right, false, &taken.right, &run.right_rank);
    let near_misses: Mutex<NearMisses> = Mutex::new(Vec::new());
    let known = match rule.blocking {
        Blocking::Key(criterion) => Some(criterion),
        _ => None,
    };
    let probes: Vec<u32> = (0..left.len() as u32)
        .filter(|i| !taken.left[*i as usize])
        .collect();
    let used_right = &taken.right;
    // The text fields the criteria read on the right, each once (a key the index matched is
    // not read again).
    let mut right_texts: Vec<&Field> = Vec::new();
    for (at, criterion) in rule.criteria.iter().enumerate() {
        if Some(at) != known
            && !matches!(criterion.right, Field::Amount | Field::Date)
            && !right_texts.contains(&&criterion.right)
        {
            right_texts.push(&criterion.right);
        }
    }
    // Each batch of probes is taken in steps: the candidates of every probe, then a pass that
    // only reads each candidate record, then the scoring. The records are found at random
    // places; a loop that only loads lets the processor wait for many of them at once, where
    // scoring each pair as it was found waited for one miss at a time.
    let mut batches: Vec<Vec<Pair>> = run.scan_chunks(
        format!("{phase}: scoring"),
        &probes,
        |chunk, scratch: &mut ScanScratch, found| {
            let ScanScratch {
                candidates,
                pairs,
                verdicts,
                missed,
                explained,
            } = scratch;
            pairs.clear();
            index.candidate_pairs(rule, left, chunk, true, candidates, pairs);
            pairs.retain(|&(_, r)| !used_right[r as usize]);
            found.reserve_exact(pairs.len());
            // Pairs are scored a block at a time, each block's right records read first by a
            // loop that only loads: the amount, and the first byte of each text the criteria
            // read (the text's end in its column, then its bytes). A whole batch read ahead was
            // evicted again before it was scored. (Ranks are not read: only pairs equal in
            // score and gaps are ordered by them, later.)
            for block in pairs.chunks(TOUCH_BLOCK) {
                let touched = block.iter().fold(0u64, |sum, &(_, r)| {
                    let record = right.get(r as usize);
                    let texts = right_texts.iter().fold(0u64, |sum, field| {
                        let first = record.text(field).and_then(|text| text.bytes().next());
                        sum.wrapping_add(first.map_or(0, u64::from))
                    });
                    sum.wrapping_add(record.amount().map_or(0, |a| u64::from(a.scale())))
                        .wrapping_add(texts)
                });
                std::hint::black_box(touched);
                for &(l, r) in block {
                    let (a, b) = (left.get(l as usize), right.get(r as usize));
                    if !evaluate(rule, a, b, known, verdicts) {
                        if known.is_some() {
                            missed.push((l, r));
                        }
                        continue;
                    }
                    let score = explained.score(rule, verdicts);
                    if score + 1e-12 < rule.min_score {
                        continue;
                    }
                    let amount_gap = verdicts.iter().find_map(|v| v.amount_difference).map_or(
                        f64::INFINITY,
                        |d| {
                            if d.is_zero() {
                                0.0
                            } else {
                                d.abs().to_f64().unwrap_or(f64::INFINITY)
                            }
                        },
                    );
                    let days_gap = verdicts
                        .iter()
                        .find_map(|v| v.days_difference)
                        .map_or(i32::MAX, |d| d.unsigned_abs().min(i32::MAX as u64) as i32);
                    found.push(Pair {
                        score,
                        amount_gap,
                        days_gap,
                        left: l,
                        right: r,
                        amount_difference: a.amount().zip(b.amount()).map(|(x, y)| x - y),
                        marks: explained.marks(rule, verdicts),
                    });
                }
            }
            if !missed.is_empty() {
                near_misses
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .append(missed);
            }
        },
    );
    run.check()?;
    // The key table (64 MB for a million keys) is not needed past the scan: freed now, so it
    // is never held together with the groups made below. (mimalloc gives a block that large
    // back to the system at once; the groups fault their own pages in.)
    drop(index);

    let (contested, chosen) = choose(run, &mut batches, taken);
    let pick_of = |&(batch, at): &(u32, u32)| match batch {
        CONTESTED => &contested[at as usize],
        _ => &batches[batch as usize][at as usize],
    };
    // An indexed parallel collect writes each group straight into its place in the new
    // vector, so the pages of a large one (64 MB for a million groups) are first touched by
    // both threads at once, by the writes that fill them. The chosen pairs are read in output
    // order, at random places in the batches: at the start of each block of them, a loop that
    // only loads reads the block's pairs, so their misses are waited for together.
    let groups: Vec<MatchGroup> = (0..chosen.len())
        .into_par_iter()
        .map(|position| {
            if position % TOUCH_BLOCK == 0 {
                let block = &chosen[position..(position + TOUCH_BLOCK).min(chosen.len())];
                let touched = block.iter().fold(0u64, |sum, chosen| {
                    let pick = pick_of(chosen);
                    sum.wrapping_add(pick.score.to_bits())
                        .wrapping_add(pick.marks.len() as u64)
                });
                std::hint::black_box(touched);
            }
            let pick = pick_of(&chosen[position]);
            let score = round4(pick.score);
            MatchGroup::new(
                rule_index,
                &[pick.left][..],
                &[pick.right][..],
                score,
                pick.amount_difference,
                status(rule, score),
                pick.marks.clone(),
            )
        })
        .collect();
    let near_misses = near_misses
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok((groups, near_misses))
}

/// Marks a chosen pair that was taken out of the batches as contested.
const CONTESTED: u32 = u32::MAX;

/// Chooses among one-to-one pairs, marking their records taken. A pair that is the only one
/// of both its records is chosen whatever the order, and choosing it decides nothing for any
/// other pair, so only contested pairs are taken out of the batches and sorted best-first; the
/// others are chosen where they lie. Returns the contested pairs and the chosen ones in output
/// order (by left id: a left record is in one group at most), as (batch or [`CONTESTED`],
/// position).
///
/// Finding the contested pairs and taking them out runs in parallel; what stays serial is the
/// best-first walk over the contested pairs and one pass that marks the records taken and
/// places each chosen pair at its left record's rank, from where they are read off in output
/// order (no sort).
fn choose(
    run: &Run<'_>,
    batches: &mut [Vec<Pair>],
    taken: &mut Taken,
) -> (Vec<Pair>, Vec<(u32, u32)>) {
    // Per record: bit 1 once it is in a pair, bit 2 once it is in a second one.
    let seen = |count: usize| -> Vec<AtomicU8> { (0..count).map(|_| AtomicU8::new(0)).collect() };
    let (left_seen, right_seen) = (seen(taken.left.len()), seen(taken.right.len()));
    let mark = |seen: &[AtomicU8], record: u32| {
        let record = &seen[record as usize];
        if record.fetch_or(1, Ordering::Relaxed) & 1 != 0 {
            record.fetch_or(2, Ordering::Relaxed);
        }
    };
    batches.par_iter().for_each(|batch| {
        for pair in batch {
            mark(&left_seen, pair.left);
            mark(&right_seen, pair.right);
        }
    });
    let shared =
        |seen: &[AtomicU8], record: u32| seen[record as usize].load(Ordering::Relaxed) & 2 != 0;
    let contested: Vec<Vec<Pair>> = batches
        .par_iter_mut()
        .map(|batch| {
            batch
                .extract_if(.., |pair| {
                    shared(&left_seen, pair.left) || shared(&right_seen, pair.right)
                })
                .collect()
        })
        .collect();
    drop((left_seen, right_seen));
    let mut contested: Vec<Pair> = contested.into_iter().flatten().collect();
    contested.par_sort_unstable_by(|a, b| a.best_first(b, run));
    // Where each chosen pair lies, by its left record's rank (its place in output order):
    // (batch << 32) | position. The pairs come in left-index order, so the ranks are read in
    // order, and the chosen pairs are then read off in order, into a vector of the right
    // size, rather than looked up at random by left id (13 ms of (a), now 4).
    let mut chosen_at = vec![u64::MAX; taken.left.len()];
    let located = contested
        .iter()
        .enumerate()
        .map(|(at, pair)| (CONTESTED, at, pair))
        .chain(batches.iter().enumerate().flat_map(|(batch, pairs)| {
            pairs
                .iter()
                .enumerate()
                .map(move |(at, pair)| (batch as u32, at, pair))
        }));
    let mut count = 0;
    for (batch, at, pair) in located {
        let (l, r) = (pair.left as usize, pair.right as usize);
        if taken.left[l] || taken.right[r] {
            continue;
        }
        taken.left[l] = true;
        taken.right[r] = true;
        chosen_at[run.left_rank[l] as usize] = (u64::from(batch) << 32) | at as u64;
        count += 1;
    }
    let mut chosen = Vec::with_capacity(count);
    chosen.extend(
        chosen_at
            .iter()
            .filter(|at| **at != u64::MAX)
            .map(|at| ((at >> 32) as u32, *at as u32)),
    );
    (contested, chosen)
}

/// Breaks: after all rules, records still free that share a one-to-one key rule's key and pass
/// every required criterion except an amount or date tolerance. Closest pairs first, each
/// record in at most one break.
fn find_breaks(
    run: &Run<'_>,
    rules: &CompiledRules,
    near_misses: &[NearMisses],
    taken: &mut Taken,
) -> Result<Vec<Break>, Cancelled> {
    let (left, right) = (run.left, run.right);
    let is_tolerance = |test: &Test| matches!(test, Test::Amount { .. } | Test::Date { .. });
    let mut breaks = Vec::new();
    for (rule_index, rule) in rules.rules.iter().enumerate() {
        let Blocking::Key(key) = rule.blocking else {
            continue;
        };
        if rule.strategy != Strategy::OneToOne {
            continue;
        }
        run.check()?;
        // A break's records share the rule's key, so the rule's scan met the pair (both were
        // free then, as they are now) and it failed a criterion there: only those pairs are
        // looked at again, not the whole of both sides.
        let missed = &near_misses[rule_index];
        let progress = run.phase(format!("breaks of rule {:?}", rule.name), missed.len());
        let (taken_left, taken_right) = (&taken.left, &taken.right);
        let mut found: Vec<(Decimal, i64, u32, u32, Vec<Verdict>)> = missed
            .par_iter()
            .filter(|&&(l, r)| !taken_left[l as usize] && !taken_right[r as usize])
            .filter_map(|&(l, r)| {
                let verdicts: Vec<Verdict> = rule
                    .criteria
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i == key {
                            KEY_HOLDS
                        } else {
                            c.evaluate(left.get(l as usize), right.get(r as usize))
                        }
                    })
                    .collect();
                let failed = |tolerance: bool| {
                    rule.criteria
                        .iter()
                        .zip(&verdicts)
                        .any(|(c, v)| c.required && !v.passed && is_tolerance(&c.test) == tolerance)
                };
                let measured = verdicts
                    .iter()
                    .any(|v| v.amount_difference.is_some() || v.days_difference.is_some());
                if !(failed(true) && !failed(false) && measured) {
                    return None;
                }
                let amount = verdicts
                    .iter()
                    .find_map(|v| v.amount_difference)
                    .map_or(Decimal::MAX, |d| d.abs());
                let days = verdicts
                    .iter()
                    .find_map(|v| v.days_difference)
                    .map_or(i64::MAX, i64::abs);
                Some((amount, days, l, r, verdicts))
            })
            .collect();
        progress.advance(missed.len());
        run.check()?;
        // Closest first. Gaps repeat (differences of a few cents or days), so pairs equal in
        // both are then ordered by their ids, one run of them at a time, each pair's ids read
        // once: comparing ids inside the whole sort read four per comparison, at random
        // places, and was most of this phase.
        found.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        found
            .par_chunk_by_mut(|a, b| a.0 == b.0 && a.1 == b.1)
            .filter(|tied| tied.len() > 1)
            .for_each(|tied| tied.sort_by_cached_key(|pair| run.pair_order(pair.2, pair.3)));
        let mut chosen = Vec::new();
        for (_, _, l, r, verdicts) in found {
            if taken.left[l as usize] || taken.right[r as usize] {
                continue;
            }
            taken.left[l as usize] = true;
            taken.right[r as usize] = true;
            chosen.push((l, r, verdicts));
        }
        // Their reasons are written in parallel: formatting decimals was most of this phase.
        breaks.par_extend(chosen.into_par_iter().map(|(l, r, verdicts)| {
            let reasons: Vec<String> = rule
                .criteria
                .iter()
                .zip(&verdicts)
                .filter(|(c, v)| c.required && !v.passed)
                .map(
                    |(c, v)| match (&c.test, v.amount_difference, v.days_difference) {
                        (Test::Amount { absolute, relative }, Some(difference), _) => {
                            let (a, b) = (
                                left.get(l as usize).amount().unwrap_or_default(),
                                right.get(r as usize).amount().unwrap_or_default(),
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
            Break {
                rule: rule_index,
                left: l,
                right: r,
                amount_difference: verdicts.iter().find_map(|v| v.amount_difference),
                days_difference: verdicts.iter().find_map(|v| v.days_difference),
                reason: reasons.join("; "),
            }
        }));
    }
    breaks.par_sort_by_key(|b| run.left_rank[b.left as usize]);
    Ok(breaks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    #[test]
    fn a_candidate_pair_takes_64_bytes() {
        assert_eq!(std::mem::size_of::<Pair>(), 64);
    }

    #[test]
    fn a_shared_explanation_is_the_one_made_afresh() {
        let rules = crate::rules::RulesFile::from_toml(
            r#"
[left]
id = "id"
fields = { amount = "amount", date = "date" }
[right]
id = "id"
fields = { amount = "amount", date = "date" }
[[rules]]
name = "close"
criteria = [
  { test = "amount", field = "amount", absolute = "1.00", weight = 2 },
  { test = "date", field = "date", days = 3, required = false },
]
"#,
        )
        .expect("parses")
        .compile()
        .expect("valid");
        let rule = &rules.rules[0];
        let verdict = |passed, value| Verdict {
            passed,
            value,
            amount_difference: None,
            days_difference: None,
        };
        let lists = [
            [verdict(true, 1.0), verdict(true, 1.0)],
            [verdict(true, 1.0), verdict(true, 1.0)],
            [verdict(true, 1.0), verdict(false, 0.0)],
            [verdict(true, 0.5), verdict(false, 0.0)],
            [verdict(true, 0.5), verdict(true, 0.25)],
            [verdict(true, 1.0), verdict(true, 1.0)],
        ];
        let mut last = LastExplanation::default();
        for (n, verdicts) in lists.iter().enumerate() {
            let score = last.score(rule, verdicts);
            assert_eq!(score, criteria::score(&rule.criteria, verdicts), "list {n}");
            assert_eq!(
                last.marks(rule, verdicts),
                explain_verdicts(rule, verdicts).1,
                "list {n}"
            );
        }
    }

    #[test]
    fn ranks_are_positions_in_id_order() {
        let ids = ["b", "INV-10", "a", "INV-9", "a\0", "INV-1"];
        let records: Records = ids
            .iter()
            .map(|id| Record::new(*id))
            .collect::<Vec<_>>()
            .into();
        let (order, rank) = order_and_ranks(&records);
        let mut expected: Vec<u32> = (0..ids.len() as u32).collect();
        expected.sort_by_key(|i| ids[*i as usize]);
        assert_eq!(order, expected);
        for (position, index) in order.iter().enumerate() {
            assert_eq!(rank[*index as usize], position as u32);
        }
    }
}
