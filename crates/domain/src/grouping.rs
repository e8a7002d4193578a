//! Grouping strategies: one record against several whose amounts sum to it (one_to_many,
//! many_to_one), and several against several (many_to_many), by bounded subset sums.
//!
//! many_to_one (one_to_many is the mirror): for each free record on the "one" side, in id
//! order, its possible members are the free records on the "many" side that the index offers
//! and that pass every required criterion except the amount (which applies to the sum). If all
//! of them (at most `max_group_size`) sum to the one record's amount within tolerance, they are
//! the group; otherwise a depth-first search over subsets of at most `max_group_size` members,
//! largest amounts first, stops at the first subset within tolerance or after `search_budget`
//! steps. Complexity: candidate generation as for one_to_one, plus O(min(2^k, budget)) per
//! record with k members. Members are taken greedily in id order of the one side.
//!
//! many_to_many: records linked by candidate edges (every required non-amount criterion
//! passes) form connected components. A component with at most `max_group_size` records per
//! side (default 6, at most 12) is matched whole when its sums agree; otherwise every subset
//! of each side is enumerated (at most 2^k each, and no more than `search_budget` in total) and
//! the largest pair of subsets with agreeing sums is matched. Larger components are left
//! unmatched and counted in `components_over_limit`.

use rust_decimal::Decimal;

use crate::candidates::Index;
use crate::criteria::{self, Test, Verdict};
use crate::engine::{Cancelled, Run, Taken, explain_verdicts, status, sum_amounts};
use crate::outcome::MatchGroup;
use crate::record::{RecordRef, Records};
use crate::rules::Rule;

/// Evaluates all criteria except the amount one(s) between a left and a right record.
fn members_pass(rule: &Rule, left: RecordRef<'_>, right: RecordRef<'_>) -> Option<Vec<Verdict>> {
    let mut verdicts = Vec::with_capacity(rule.criteria.len());
    for criterion in &rule.criteria {
        if matches!(criterion.test, Test::Amount { .. }) {
            verdicts.push(Verdict {
                passed: true,
                value: 1.0,
                amount_difference: None,
                days_difference: None,
            });
            continue;
        }
        let verdict = criterion.evaluate(left, right);
        if criterion.required && !verdict.passed {
            return None;
        }
        verdicts.push(verdict);
    }
    Some(verdicts)
}

/// The explanation of a group: each non-amount criterion at its weakest member, the amount
/// criterion on the sums.
fn group_verdicts(
    rule: &Rule,
    left: &Records,
    right: &Records,
    lefts: &[u32],
    rights: &[u32],
) -> Vec<Verdict> {
    let (absolute, relative) = rule
        .amount_criterion()
        .map_or((Decimal::ZERO, Decimal::ZERO), |(_, a, r)| (a, r));
    rule.criteria
        .iter()
        .map(|criterion| {
            if matches!(criterion.test, Test::Amount { .. }) {
                return match (sum_amounts(left, lefts), sum_amounts(right, rights)) {
                    (Some(a), Some(b)) => criteria::compare_amounts(absolute, relative, a, b),
                    _ => Verdict {
                        passed: false,
                        value: 0.0,
                        amount_difference: None,
                        days_difference: None,
                    },
                };
            }
            let mut weakest = Verdict {
                passed: true,
                value: 1.0,
                amount_difference: None,
                days_difference: None,
            };
            for l in lefts {
                for r in rights {
                    let verdict = criterion.evaluate(left.get(*l as usize), right.get(*r as usize));
                    if !verdict.passed || verdict.value < weakest.value {
                        weakest = Verdict {
                            passed: weakest.passed && verdict.passed,
                            value: verdict.value.min(weakest.value),
                            ..verdict
                        };
                    }
                }
            }
            weakest
        })
        .collect()
}

fn make_group(
    run: &Run<'_>,
    rule_index: usize,
    rule: &Rule,
    lefts: Vec<u32>,
    rights: Vec<u32>,
) -> MatchGroup {
    let verdicts = group_verdicts(rule, run.left, run.right, &lefts, &rights);
    let (score, marks) = explain_verdicts(rule, &verdicts);
    let amount_difference = sum_amounts(run.left, &lefts)
        .zip(sum_amounts(run.right, &rights))
        .map(|(a, b)| a - b);
    MatchGroup::new(
        rule_index,
        lefts,
        rights,
        score,
        amount_difference,
        status(rule, score),
        marks,
    )
}

/// Depth-first search for a subset whose sum agrees with the target.
struct SubsetSearch<'a> {
    amounts: &'a [Decimal],
    /// Positions, largest magnitude first.
    order: Vec<usize>,
    target: Decimal,
    absolute: Decimal,
    relative: Decimal,
    max_size: usize,
    budget: u64,
    steps: u64,
    /// With no negative amounts, a partial sum above this can only grow: prune it.
    ceiling: Option<Decimal>,
    chosen: Vec<usize>,
}

impl SubsetSearch<'_> {
    fn agrees(&self, sum: Decimal) -> bool {
        criteria::compare_amounts(self.absolute, self.relative, sum, self.target).passed
    }

    fn descend(&mut self, position: usize, sum: Decimal) -> bool {
        if self.steps >= self.budget {
            return false;
        }
        self.steps += 1;
        if !self.chosen.is_empty() && self.agrees(sum) {
            return true;
        }
        if self.chosen.len() == self.max_size {
            return false;
        }
        for next in position..self.order.len() {
            let amount = self.amounts[self.order[next]];
            if self.ceiling.is_some_and(|ceiling| sum + amount > ceiling) {
                continue;
            }
            self.chosen.push(self.order[next]);
            if self.descend(next + 1, sum + amount) {
                return true;
            }
            self.chosen.pop();
            if self.steps >= self.budget {
                return false;
            }
        }
        false
    }
}

/// A subset of `amounts` (positions) of 1..=max_size elements whose sum agrees with `target`.
pub(crate) fn find_subset(
    amounts: &[Decimal],
    target: Decimal,
    absolute: Decimal,
    relative: Decimal,
    max_size: usize,
    budget: u64,
) -> Option<Vec<usize>> {
    if amounts.is_empty() {
        return None;
    }
    if amounts.len() <= max_size
        && criteria::compare_amounts(absolute, relative, amounts.iter().copied().sum(), target)
            .passed
    {
        return Some((0..amounts.len()).collect());
    }
    let mut order: Vec<usize> = (0..amounts.len()).collect();
    order.sort_by(|a, b| amounts[*b].abs().cmp(&amounts[*a].abs()).then(a.cmp(b)));
    let all_non_negative = target >= Decimal::ZERO && amounts.iter().all(|a| *a >= Decimal::ZERO);
    let ceiling = all_non_negative
        .then(|| target + absolute.max(relative * target.abs()) / (Decimal::ONE - relative));
    let mut search = SubsetSearch {
        amounts,
        order,
        target,
        absolute,
        relative,
        max_size,
        budget,
        steps: 0,
        ceiling,
        chosen: Vec::new(),
    };
    if search.descend(0, Decimal::ZERO) {
        search.chosen.sort_unstable();
        Some(search.chosen)
    } else {
        None
    }
}

/// many_to_one when `many_on_left`, else one_to_many.
pub(crate) fn many_to_one(
    run: &Run<'_>,
    rule_index: usize,
    rule: &Rule,
    taken: &mut Taken,
    phase: &str,
    many_on_left: bool,
) -> Result<Vec<MatchGroup>, Cancelled> {
    let (left, right) = (run.left, run.right);
    let (many, one) = if many_on_left {
        (left, right)
    } else {
        (right, left)
    };
    let (many_taken, one_taken) = if many_on_left {
        (&taken.left, &taken.right)
    } else {
        (&taken.right, &taken.left)
    };
    let (many_rank, one_order) = if many_on_left {
        (&run.left_rank, run.right_order)
    } else {
        (&run.right_rank, run.left_order)
    };
    let index = Index::build(rule, many, many_on_left, many_taken, many_rank);
    let probes: Vec<u32> = one_order
        .iter()
        .copied()
        .filter(|i| !one_taken[*i as usize])
        .collect();
    let memberships: Vec<(u32, Vec<u32>)> = run.scan(
        format!("{phase}: finding members"),
        &probes,
        |o, candidates: &mut Vec<u32>, found| {
            index.candidates(rule, one.get(o as usize), !many_on_left, candidates);
            let mut members: Vec<u32> = candidates
                .iter()
                .copied()
                .filter(|m| !many_taken[*m as usize] && many.get(*m as usize).amount().is_some())
                .filter(|m| {
                    let (l, r) = if many_on_left {
                        (many.get(*m as usize), one.get(o as usize))
                    } else {
                        (one.get(o as usize), many.get(*m as usize))
                    };
                    members_pass(rule, l, r).is_some()
                })
                .collect();
            members.sort_unstable_by_key(|m| many_rank[*m as usize]);
            found.push((o, members));
        },
    );
    run.check()?;
    let (absolute, relative) = rule
        .amount_criterion()
        .map_or((Decimal::ZERO, Decimal::ZERO), |(_, a, r)| (a, r));
    let mut groups = Vec::new();
    for (o, members) in memberships {
        let Some(target) = one.get(o as usize).amount() else {
            continue;
        };
        let many_taken = if many_on_left {
            &taken.left
        } else {
            &taken.right
        };
        let free: Vec<u32> = members
            .into_iter()
            .filter(|m| !many_taken[*m as usize])
            .collect();
        let amounts: Vec<Decimal> = free
            .iter()
            .map(|m| many.get(*m as usize).amount().unwrap_or_default())
            .collect();
        let Some(subset) = find_subset(
            &amounts,
            target,
            absolute,
            relative,
            rule.max_group_size,
            rule.search_budget,
        ) else {
            continue;
        };
        let chosen: Vec<u32> = subset.into_iter().map(|p| free[p]).collect();
        for m in &chosen {
            if many_on_left {
                taken.left[*m as usize] = true
            } else {
                taken.right[*m as usize] = true
            }
        }
        if many_on_left {
            taken.right[o as usize] = true
        } else {
            taken.left[o as usize] = true
        }
        let (lefts, rights) = if many_on_left {
            (chosen, vec![o])
        } else {
            (vec![o], chosen)
        };
        let group = make_group(run, rule_index, rule, lefts, rights);
        if group.score() + 1e-12 >= rule.min_score {
            groups.push(group);
        } else {
            for l in group.left() {
                taken.left[*l as usize] = false;
            }
            for r in group.right() {
                taken.right[*r as usize] = false;
            }
        }
    }
    Ok(groups)
}

struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            let (low, high) = if a < b { (a, b) } else { (b, a) };
            self.parent[high as usize] = low;
        }
    }
}

/// All non-empty subsets of `amounts` as (sum, mask), sorted by sum then mask.
fn subset_sums(amounts: &[Decimal]) -> Vec<(Decimal, u32)> {
    let mut sums: Vec<(Decimal, u32)> = (1u32..(1 << amounts.len()))
        .map(|mask| {
            (
                amounts
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, a)| *a)
                    .sum(),
                mask,
            )
        })
        .collect();
    sums.sort_unstable();
    sums
}

/// many_to_many; returns the groups and how many components were over the limits.
pub(crate) fn many_to_many(
    run: &Run<'_>,
    rule_index: usize,
    rule: &Rule,
    taken: &mut Taken,
    phase: &str,
) -> Result<(Vec<MatchGroup>, usize), Cancelled> {
    let (left, right) = (run.left, run.right);
    let index = Index::build(rule, right, false, &taken.right, &run.right_rank);
    let probes: Vec<u32> = (0..left.len() as u32)
        .filter(|i| !taken.left[*i as usize] && left.get(*i as usize).amount().is_some())
        .collect();
    let used_right = &taken.right;
    let edges: Vec<(u32, u32)> = run.scan(
        format!("{phase}: linking"),
        &probes,
        |l, candidates: &mut Vec<u32>, found| {
            index.candidates(rule, left.get(l as usize), true, candidates);
            for &r in candidates.iter() {
                if !used_right[r as usize]
                    && right.get(r as usize).amount().is_some()
                    && members_pass(rule, left.get(l as usize), right.get(r as usize)).is_some()
                {
                    found.push((l, r));
                }
            }
        },
    );
    run.check()?;
    let offset = left.len() as u32;
    let mut sets = UnionFind {
        parent: (0..(left.len() + right.len()) as u32).collect(),
    };
    for (l, r) in &edges {
        sets.union(*l, offset + r);
    }
    let mut components: std::collections::BTreeMap<u32, (Vec<u32>, Vec<u32>)> =
        std::collections::BTreeMap::new();
    for (l, r) in &edges {
        let root = sets.find(*l);
        let entry = components.entry(root).or_default();
        entry.0.push(*l);
        entry.1.push(*r);
    }
    let mut components: Vec<(Vec<u32>, Vec<u32>)> = components
        .into_values()
        .map(|(mut ls, mut rs)| {
            ls.sort_unstable_by_key(|i| run.left_rank[*i as usize]);
            ls.dedup();
            rs.sort_unstable_by_key(|i| run.right_rank[*i as usize]);
            rs.dedup();
            (ls, rs)
        })
        .collect();
    components.sort_by_key(|(ls, _)| run.left_rank[ls[0] as usize]);

    let (absolute, relative) = rule
        .amount_criterion()
        .map_or((Decimal::ZERO, Decimal::ZERO), |(_, a, r)| (a, r));
    let agrees =
        |a: Decimal, b: Decimal| criteria::compare_amounts(absolute, relative, a, b).passed;
    let mut groups = Vec::new();
    let mut over_limit = 0;
    for (ls, rs) in components {
        let amounts_l: Vec<Decimal> = ls
            .iter()
            .map(|i| left.get(*i as usize).amount().unwrap_or_default())
            .collect();
        let amounts_r: Vec<Decimal> = rs
            .iter()
            .map(|i| right.get(*i as usize).amount().unwrap_or_default())
            .collect();
        if ls.len() > rule.max_group_size
            || rs.len() > rule.max_group_size
            || (1u64 << ls.len()) + (1u64 << rs.len()) > rule.search_budget
        {
            over_limit += 1;
            continue;
        }
        if agrees(
            amounts_l.iter().copied().sum(),
            amounts_r.iter().copied().sum(),
        ) {
            mark(taken, &ls, &rs);
            groups.push(make_group(run, rule_index, rule, ls, rs));
            continue;
        }
        let sums_l = subset_sums(&amounts_l);
        let mut best: Option<(u32, u32, u32)> = None;
        for (sum_r, mask_r) in subset_sums(&amounts_r) {
            let width = (absolute + relative * sum_r.abs()) / (Decimal::ONE - relative);
            let start = sums_l.partition_point(|(s, _)| *s < sum_r - width);
            for (sum_l, mask_l) in sums_l[start..]
                .iter()
                .take_while(|(s, _)| *s <= sum_r + width)
            {
                if !agrees(*sum_l, sum_r) {
                    continue;
                }
                let size = mask_l.count_ones() + mask_r.count_ones();
                let better = match best {
                    None => true,
                    Some((best_size, best_l, best_r)) => {
                        size > best_size
                            || (size == best_size && (*mask_l, mask_r) < (best_l, best_r))
                    }
                };
                if better {
                    best = Some((size, *mask_l, mask_r));
                }
            }
        }
        if let Some((_, mask_l, mask_r)) = best {
            let pick = |ids: &[u32], mask: u32| {
                ids.iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, id)| *id)
                    .collect::<Vec<u32>>()
            };
            let (chosen_l, chosen_r) = (pick(&ls, mask_l), pick(&rs, mask_r));
            mark(taken, &chosen_l, &chosen_r);
            groups.push(make_group(run, rule_index, rule, chosen_l, chosen_r));
        }
    }
    Ok((groups, over_limit))
}

fn mark(taken: &mut Taken, lefts: &[u32], rights: &[u32]) {
    for l in lefts {
        taken.left[*l as usize] = true;
    }
    for r in rights {
        taken.right[*r as usize] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn the_whole_set_is_tried_first_then_subsets() {
        let amounts = [d("10"), d("20"), d("30")];
        assert_eq!(
            find_subset(&amounts, d("60"), d("0"), d("0"), 10, 1000),
            Some(vec![0, 1, 2])
        );
        assert_eq!(
            find_subset(&amounts, d("40"), d("0"), d("0"), 10, 1000),
            Some(vec![0, 2])
        );
        assert_eq!(
            find_subset(&amounts, d("41"), d("0"), d("0"), 10, 1000),
            None
        );
        assert_eq!(
            find_subset(&amounts, d("41"), d("1"), d("0"), 10, 1000).map(|s| s.len()),
            Some(2)
        );
    }

    #[test]
    fn group_size_and_budget_bound_the_search() {
        let amounts: Vec<Decimal> = (1..=20).map(Decimal::from).collect();
        assert_eq!(
            find_subset(&amounts, Decimal::from(210), d("0"), d("0"), 5, 1_000_000),
            None,
            "needs all 20 members"
        );
        assert!(
            find_subset(&amounts, Decimal::from(99), d("0"), d("0"), 10, 3).is_none(),
            "budget of 3 steps"
        );
    }

    #[test]
    fn negative_amounts_are_searched_without_pruning() {
        let amounts = [d("-5"), d("15"), d("7")];
        assert_eq!(
            find_subset(&amounts, d("10"), d("0"), d("0"), 10, 1000),
            Some(vec![0, 1])
        );
    }
}
