//! The engine's behaviour, strategy by strategy, and its invariants as property tests:
//! every record ends in exactly one bucket; one_to_one never uses a record twice; every group's
//! sums agree within tolerance; the outcome does not depend on input order or thread count;
//! for symmetric one-to-one rules, swapping the sides swaps the outputs; a value that does
//! not parse never becomes zero; and no break is missed.

use chrono::NaiveDate;
use proptest::prelude::*;
use recon_domain::engine::{Cancelled, Observer, Silent, reconcile};
use recon_domain::outcome::{Outcome, Status};
use recon_domain::parse::{AmountFormat, parse_amount};
use recon_domain::record::{Record, Records};
use recon_domain::rules::{CompiledRules, RulesFile};
use rust_decimal::Decimal;

const SOURCES: &str = r#"
[left]
id = "id"
fields = { reference = "ref", amount = "amount", date = "date", counterparty = "who" }
[right]
id = "id"
fields = { reference = "ref", amount = "amount", date = "date", counterparty = "who" }
"#;

fn rules(text: &str) -> CompiledRules {
    RulesFile::from_toml(&format!("{SOURCES}\n{text}"))
        .expect("parses")
        .compile()
        .expect("valid")
}

fn record(id: &str, reference: Option<&str>, amount: &str, day: u32, who: Option<&str>) -> Record {
    Record {
        reference: reference.map(Into::into),
        amount: Some(amount.parse().expect("decimal")),
        date: NaiveDate::from_ymd_opt(2026, 3, day),
        counterparty: who.map(Into::into),
        ..Record::new(id)
    }
}

/// Runs the engine on records built one by one (kept as `Record`s for the checks).
fn run(
    rules: &CompiledRules,
    left: &[Record],
    right: &[Record],
    observer: &dyn Observer,
) -> Result<Outcome, Cancelled> {
    let (left, right): (Records, Records) = (left.iter().collect(), right.iter().collect());
    reconcile(rules, &left, &right, observer)
}

fn ids(records: &[Record], indices: &[u32]) -> Vec<String> {
    indices
        .iter()
        .map(|i| records[*i as usize].id.to_string())
        .collect()
}

fn groups(outcome: &Outcome, left: &[Record], right: &[Record]) -> Vec<(Vec<String>, Vec<String>)> {
    outcome
        .groups
        .iter()
        .map(|g| (ids(left, g.left()), ids(right, g.right())))
        .collect()
}

const EXACT_THEN_FUZZY: &str = r#"
[[rules]]
name = "reference"
auto_confirm = 0.99
criteria = [
  { test = "normalized_equals", field = "reference", normalize = { strip_prefixes = ["REF"], leading_zeros = true } },
  { test = "amount", field = "amount", absolute = "0.05" },
]
[[rules]]
name = "amount and date"
min_score = 0.6
criteria = [
  { test = "amount", field = "amount" },
  { test = "date", field = "date", days = 3 },
  { test = "similarity", field = "counterparty", algorithm = "jaro_winkler", threshold = 0.8, required = false },
]
"#;

#[test]
fn one_to_one_takes_the_best_candidate_not_the_first() {
    let rules = rules(EXACT_THEN_FUZZY);
    // L1 could pair with R1 (off by 0.05) or R2 (exact): the exact one scores higher.
    let left = vec![record("L1", Some("REF 00042"), "100.00", 1, None)];
    let right = vec![
        record("R1", Some("42"), "100.05", 1, None),
        record("R2", Some("ref-42"), "100.00", 1, None),
    ];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(
        groups(&outcome, &left, &right),
        vec![(vec!["L1".to_owned()], vec!["R2".to_owned()])]
    );
    assert_eq!(outcome.groups[0].status(), Status::AutoConfirmed);
    assert_eq!(ids(&right, &outcome.unmatched_right), vec!["R1"]);
}

#[test]
fn later_rules_only_see_what_earlier_rules_left_and_scores_are_explained() {
    let rules = rules(EXACT_THEN_FUZZY);
    let left = vec![
        record("L1", Some("A1"), "10.00", 5, Some("Acme Ltd")),
        record("L2", None, "55.10", 5, Some("Globex")),
    ];
    let right = vec![
        record("R1", Some("a1"), "10.00", 5, None),
        record("R2", None, "55.10", 7, Some("Globex Corp")),
        record("R3", None, "55.10", 5, Some("Initech")),
    ];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(outcome.groups.len(), 2);
    assert_eq!(outcome.groups[0].rule(), 0);
    let fuzzy = &outcome.groups[1];
    assert_eq!(fuzzy.rule(), 1);
    // R3 is the same day but a different counterparty; R2 is two days later and similar.
    // amount 1.0, date 1 − 0.5·2/3, similarity ≈ 0.92: R2 wins over R3 (1.0, 1.0, fails).
    assert_eq!(ids(&right, fuzzy.right()), vec!["R2"]);
    assert_eq!(fuzzy.status(), Status::Proposed);
    let explanation = fuzzy.explanation(&rules);
    let tests: Vec<&str> = explanation.iter().map(|e| e.test).collect();
    assert_eq!(tests, vec!["amount", "date", "similarity"]);
    let total: f64 = explanation.iter().map(|e| e.contribution).sum();
    assert!(
        (total - fuzzy.score()).abs() < 0.001,
        "contributions add up to the score"
    );
}

#[test]
fn ties_are_broken_by_id_whatever_the_input_order() {
    let rules = rules(
        "[[rules]]\nname = \"amount\"\ncriteria = [{ test = \"amount\", field = \"amount\" }]\n",
    );
    let left = vec![
        record("L2", None, "5", 1, None),
        record("L1", None, "5", 1, None),
    ];
    let right = vec![
        record("R2", None, "5", 1, None),
        record("R1", None, "5", 1, None),
    ];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(
        groups(&outcome, &left, &right),
        vec![
            (vec!["L1".into()], vec!["R1".into()]),
            (vec!["L2".into()], vec!["R2".into()])
        ]
    );
}

#[test]
fn a_key_match_outside_tolerance_is_a_break_with_its_difference() {
    let rules = rules(EXACT_THEN_FUZZY);
    let left = vec![record("L1", Some("INV-7"), "100.00", 1, None)];
    let right = vec![record("R1", Some("inv 7"), "97.50", 20, None)];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert!(outcome.groups.is_empty());
    assert_eq!(outcome.breaks.len(), 1);
    assert_eq!(
        outcome.breaks[0].amount_difference,
        Some("2.50".parse().expect("decimal"))
    );
    assert!(
        outcome.breaks[0]
            .reason
            .contains("amounts differ by 2.50, beyond the tolerance of 0.05"),
        "{}",
        outcome.breaks[0].reason
    );
    assert!(outcome.unmatched_left.is_empty() && outcome.unmatched_right.is_empty());
}

#[test]
fn many_to_one_finds_the_invoices_a_payout_covers() {
    let rules = rules(
        r#"
        [[rules]]
        name = "batch payout"
        strategy = "many_to_one"
        criteria = [
          { test = "equals", field = "counterparty" },
          { test = "date", field = "date", days = 5, direction = "right_after" },
          { test = "amount", field = "amount", absolute = "0.01" },
        ]
        "#,
    );
    let left = vec![
        record("INV-1", None, "120.00", 1, Some("Acme")),
        record("INV-2", None, "80.00", 2, Some("Acme")),
        record("INV-3", None, "999.00", 2, Some("Acme")),
        record("INV-4", None, "50.00", 2, Some("Globex")),
    ];
    let right = vec![record("PAY-1", None, "200.00", 4, Some("Acme"))];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(
        groups(&outcome, &left, &right),
        vec![(vec!["INV-1".into(), "INV-2".into()], vec!["PAY-1".into()])]
    );
    assert_eq!(outcome.groups[0].amount_difference(), Some(Decimal::ZERO));
    assert_eq!(ids(&left, &outcome.unmatched_left), vec!["INV-3", "INV-4"]);
}

#[test]
fn one_to_many_is_the_mirror() {
    let rules = rules(
        r#"
        [[rules]]
        name = "split"
        strategy = "one_to_many"
        criteria = [ { test = "equals", field = "reference" }, { test = "amount", field = "amount" } ]
        "#,
    );
    let left = vec![record("L", Some("X"), "30", 1, None)];
    let right = vec![
        record("R1", Some("X"), "10", 1, None),
        record("R2", Some("X"), "20", 1, None),
        record("R3", Some("Y"), "30", 1, None),
    ];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(
        groups(&outcome, &left, &right),
        vec![(vec!["L".into()], vec!["R1".into(), "R2".into()])]
    );
}

#[test]
fn many_to_many_matches_equal_sums_within_a_linked_component() {
    let rules = rules(
        r#"
        [[rules]]
        name = "netting"
        strategy = "many_to_many"
        criteria = [ { test = "equals", field = "counterparty" }, { test = "amount", field = "amount" } ]
        "#,
    );
    let left = vec![
        record("L1", None, "10", 1, Some("A")),
        record("L2", None, "15", 1, Some("A")),
        record("L3", None, "99", 1, Some("A")),
    ];
    let right = vec![
        record("R1", None, "5", 1, Some("A")),
        record("R2", None, "20", 1, Some("A")),
        record("R3", None, "7", 1, Some("B")),
    ];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(
        groups(&outcome, &left, &right),
        vec![(
            vec!["L1".into(), "L2".into()],
            vec!["R1".into(), "R2".into()]
        )]
    );
    assert_eq!(ids(&left, &outcome.unmatched_left), vec!["L3"]);
    assert_eq!(ids(&right, &outcome.unmatched_right), vec!["R3"]);
}

#[test]
fn fuzzy_text_alone_finds_candidates_through_trigrams() {
    let rules = rules(
        "[[rules]]\nname = \"names\"\ncriteria = [{ test = \"similarity\", field = \"counterparty\", algorithm = \"token_set\", threshold = 0.8 }]\n",
    );
    let left = vec![
        record("L1", None, "1", 1, Some("Acme Industries Ltd")),
        record("L2", None, "1", 1, Some("Globex")),
    ];
    let right = vec![
        record("R1", None, "2", 9, Some("ACME INDUSTRIES LIMITED")),
        record("R2", None, "2", 9, Some("Umbrella")),
    ];
    let outcome = run(&rules, &left, &right, &Silent).expect("runs");
    assert_eq!(
        groups(&outcome, &left, &right),
        vec![(vec!["L1".into()], vec!["R1".into()])]
    );
}

struct CancelAfter(std::sync::atomic::AtomicU64);

impl Observer for CancelAfter {
    fn progress(&self, _phase: &str, _done: u64, _total: u64) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed) > 1
    }
}

#[test]
fn progress_is_reported_and_cancellation_stops_the_run() {
    let rules = rules(EXACT_THEN_FUZZY);
    let left: Vec<Record> = (0..10_000)
        .map(|i| record(&format!("L{i}"), Some(&format!("R{i}")), "1", 1, None))
        .collect();
    let right = left.clone();
    let observer = CancelAfter(std::sync::atomic::AtomicU64::new(0));
    assert_eq!(run(&rules, &left, &right, &observer), Err(Cancelled));
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn arb_side(prefix: &'static str) -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(
        (
            prop::option::of(0u8..6),
            1i64..8,
            1u32..6,
            prop::option::of(0u8..3),
        ),
        0..25,
    )
    .prop_map(move |rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (reference, amount, day, who))| Record {
                reference: reference.map(|r| format!("ref-{r}").into()),
                amount: Some(Decimal::new(amount * 250, 2)),
                date: NaiveDate::from_ymd_opt(2026, 3, day),
                counterparty: who.map(|w| ["acme", "globex", "initech"][w as usize].into()),
                ..Record::new(format!("{prefix}{i:03}"))
            })
            .collect()
    })
}

const MIXED: &str = r#"
[[rules]]
name = "key"
criteria = [ { test = "normalized_equals", field = "reference" }, { test = "amount", field = "amount", absolute = "0.50" } ]
[[rules]]
name = "batch"
strategy = "many_to_one"
max_group_size = 4
criteria = [ { test = "equals", field = "counterparty" }, { test = "amount", field = "amount" } ]
[[rules]]
name = "net"
strategy = "many_to_many"
max_group_size = 4
criteria = [ { test = "equals", field = "counterparty" }, { test = "amount", field = "amount" } ]
[[rules]]
name = "band"
criteria = [ { test = "amount", field = "amount" }, { test = "date", field = "date", days = 1 } ]
"#;

const SYMMETRIC: &str = r#"
[[rules]]
name = "key"
criteria = [ { test = "normalized_equals", field = "reference" }, { test = "amount", field = "amount", absolute = "0.50" } ]
[[rules]]
name = "band"
criteria = [ { test = "amount", field = "amount", absolute = "2.50" }, { test = "date", field = "date", days = 2 }, { test = "equals", field = "counterparty", required = false } ]
"#;

fn check_buckets(outcome: &Outcome, left: usize, right: usize) -> Result<(), TestCaseError> {
    let mut seen_left = vec![0u32; left];
    let mut seen_right = vec![0u32; right];
    for group in &outcome.groups {
        prop_assert!(!group.left().is_empty() && !group.right().is_empty());
        group
            .left()
            .iter()
            .for_each(|i| seen_left[*i as usize] += 1);
        group
            .right()
            .iter()
            .for_each(|i| seen_right[*i as usize] += 1);
    }
    for item in &outcome.breaks {
        seen_left[item.left as usize] += 1;
        seen_right[item.right as usize] += 1;
    }
    outcome
        .unmatched_left
        .iter()
        .for_each(|i| seen_left[*i as usize] += 1);
    outcome
        .unmatched_right
        .iter()
        .for_each(|i| seen_right[*i as usize] += 1);
    prop_assert!(
        seen_left.iter().all(|n| *n == 1),
        "left buckets: {seen_left:?}"
    );
    prop_assert!(
        seen_right.iter().all(|n| *n == 1),
        "right buckets: {seen_right:?}"
    );
    Ok(())
}

/// The outcome in id terms, comparable across reorderings of the input.
fn by_ids(outcome: &Outcome, left: &[Record], right: &[Record]) -> String {
    let mut text = String::new();
    for group in &outcome.groups {
        text += &format!(
            "G{} {:?} {:?} {:.4} {:?}\n",
            group.rule(),
            ids(left, group.left()),
            ids(right, group.right()),
            group.score(),
            group.amount_difference()
        );
    }
    for item in &outcome.breaks {
        text += &format!(
            "B{} {} {}\n",
            item.rule, left[item.left as usize].id, right[item.right as usize].id
        );
    }
    text += &format!(
        "UL {:?}\nUR {:?}\n",
        ids(left, &outcome.unmatched_left),
        ids(right, &outcome.unmatched_right)
    );
    text
}

fn in_pool<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
        .install(work)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_record_lands_in_exactly_one_bucket(left in arb_side("L"), right in arb_side("R")) {
        let outcome = run(&rules(MIXED), &left, &right, &Silent).expect("runs");
        check_buckets(&outcome, left.len(), right.len())?;
    }

    /// A break is a pair that shares a one-to-one key rule's key and misses a tolerance; once
    /// breaks are chosen, no such pair is left among the unmatched records.
    #[test]
    fn breaks_share_the_key_and_none_is_left_unmatched(left in arb_side("L"), right in arb_side("R")) {
        let outcome = run(&rules(MIXED), &left, &right, &Silent).expect("runs");
        for item in &outcome.breaks {
            let (l, r) = (&left[item.left as usize], &right[item.right as usize]);
            prop_assert_eq!(item.rule, 0);
            prop_assert!(l.reference.is_some() && l.reference == r.reference);
            let difference = l.amount.zip(r.amount).map(|(a, b)| (a - b).abs());
            prop_assert!(difference > Some(Decimal::new(50, 2)), "{:?}", difference);
        }
        for &l in &outcome.unmatched_left {
            for &r in &outcome.unmatched_right {
                let (a, b) = (&left[l as usize], &right[r as usize]);
                prop_assert!(
                    a.reference.is_none() || a.reference != b.reference,
                    "{} and {} share {:?} and are both unmatched",
                    a.id,
                    b.id,
                    a.reference
                );
            }
        }
    }

    #[test]
    fn every_group_sum_agrees_within_its_tolerance(left in arb_side("L"), right in arb_side("R")) {
        let compiled = rules(MIXED);
        let outcome = run(&compiled, &left, &right, &Silent).expect("runs");
        for group in &outcome.groups {
            let (_, absolute, relative) = compiled.rules[group.rule()].amount_criterion().expect("every rule here has one");
            let sum = |records: &[Record], indices: &[u32]| indices.iter().map(|i| records[*i as usize].amount.expect("amount")).sum::<Decimal>();
            let (a, b) = (sum(&left, group.left()), sum(&right, group.right()));
            prop_assert!((a - b).abs() <= absolute.max(relative * a.abs().max(b.abs())), "{a} vs {b} in rule {}", group.rule());
            prop_assert!(group.score() >= compiled.rules[group.rule()].min_score - 1e-9);
        }
    }

    #[test]
    fn the_outcome_ignores_input_order_and_thread_count(left in arb_side("L"), right in arb_side("R"), seed in any::<u64>()) {
        let compiled = rules(MIXED);
        let expected = in_pool(1, || run(&compiled, &left, &right, &Silent).expect("runs"));
        let expected = by_ids(&expected, &left, &right);
        let mut shuffled_left = left.clone();
        let mut shuffled_right = right.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        for i in (1..shuffled_left.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; shuffled_left.swap(i, j); }
        for i in (1..shuffled_right.len()).rev() { let j = (next() % (i as u64 + 1)) as usize; shuffled_right.swap(i, j); }
        let actual = in_pool(4, || run(&compiled, &shuffled_left, &shuffled_right, &Silent).expect("runs"));
        prop_assert_eq!(by_ids(&actual, &shuffled_left, &shuffled_right), expected);
    }

    #[test]
    fn swapping_sides_swaps_the_outcome_for_symmetric_rules(left in arb_side("L"), right in arb_side("R")) {
        let compiled = rules(SYMMETRIC);
        let forward = run(&compiled, &left, &right, &Silent).expect("runs");
        let backward = run(&compiled, &right, &left, &Silent).expect("runs");
        let mut pairs_forward: Vec<(String, String, String)> = forward.groups.iter().map(|g| (ids(&left, g.left()).join("|"), ids(&right, g.right()).join("|"), format!("{:.4}", g.score()))).collect();
        let mut pairs_backward: Vec<(String, String, String)> = backward.groups.iter().map(|g| (ids(&left, g.right()).join("|"), ids(&right, g.left()).join("|"), format!("{:.4}", g.score()))).collect();
        pairs_forward.sort();
        pairs_backward.sort();
        prop_assert_eq!(pairs_forward, pairs_backward);
        prop_assert_eq!(ids(&left, &forward.unmatched_left), ids(&left, &backward.unmatched_right));
        let mut breaks_forward: Vec<(String, String)> = forward.breaks.iter().map(|b| (left[b.left as usize].id.to_string(), right[b.right as usize].id.to_string())).collect();
        let mut breaks_backward: Vec<(String, String)> = backward.breaks.iter().map(|b| (left[b.right as usize].id.to_string(), right[b.left as usize].id.to_string())).collect();
        breaks_forward.sort();
        breaks_backward.sort();
        prop_assert_eq!(breaks_forward, breaks_backward);
    }

    #[test]
    fn formatted_amounts_parse_back_exactly(cents in -10_000_000_000i64..10_000_000_000, style in 0u8..4) {
        let value = Decimal::new(cents, 2);
        let plain = value.abs().to_string();
        let (int, frac) = plain.split_once('.').unwrap_or((&plain, "00"));
        let grouped: String = int.chars().rev().collect::<Vec<_>>().chunks(3).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(",").chars().rev().collect();
        let body = format!("{grouped}.{frac}");
        let text = match (value.is_sign_negative(), style) {
            (false, _) => body,
            (true, 0) => format!("-{body}"),
            (true, 1) => format!("({body})"),
            (true, 2) => format!("{body}-"),
            (true, _) => format!("- {body}"),
        };
        prop_assert_eq!(parse_amount(&text, &AmountFormat::default()).expect("parses"), value);
    }

    #[test]
    fn a_value_that_does_not_parse_never_becomes_zero(text in "\\PC{0,12}") {
        match parse_amount(&text, &AmountFormat::default()) {
            Ok(value) if value.is_zero() => prop_assert!(text.chars().any(|c| c == '0'), "{text:?} became zero"),
            Ok(_) => prop_assert!(text.chars().any(|c| c.is_ascii_digit())),
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }
}

/// A group's explanation is the same whether its marks are held inline (rules with up to four
/// criteria) or on the heap (rules with more).
#[test]
fn explanations_are_the_same_held_inline_or_on_the_heap() {
    let criteria = [
        r#"{ test = "amount", field = "amount", absolute = "1.00" }"#,
        r#"{ test = "date", field = "date", days = 5 }"#,
        r#"{ test = "similarity", field = "counterparty", algorithm = "jaro_winkler", threshold = 0.5, required = false }"#,
        r#"{ test = "similarity", field = "counterparty", algorithm = "levenshtein", threshold = 0.5, required = false }"#,
        r#"{ test = "similarity", field = "counterparty", algorithm = "token_set", threshold = 0.5, required = false }"#,
        r#"{ test = "contains", field = "counterparty", required = false }"#,
        r#"{ test = "equals", field = "reference", required = false }"#,
    ];
    let left = vec![
        record("L1", Some("A"), "100.00", 1, Some("acme trading ltd")),
        record("L2", Some("B"), "250.00", 4, Some("globex")),
    ];
    let right = vec![
        record("R1", Some("A"), "100.40", 3, Some("acme tradng limited")),
        record("R2", Some("X"), "250.00", 6, Some("globex corp")),
    ];
    let explain = |count: usize| {
        let text = format!(
            "[[rules]]\nname = \"r\"\nmin_score = 0.1\ncriteria = [\n{}\n]\n",
            criteria[..count].join(",\n")
        );
        let rules = rules(&text);
        let outcome = run(&rules, &left, &right, &Silent).expect("runs");
        outcome
            .groups
            .iter()
            .map(|g| {
                let parts: Vec<(bool, f64)> = g
                    .explanation(&rules)
                    .iter()
                    .map(|e| (e.passed, e.value))
                    .collect();
                (g.score(), parts)
            })
            .collect::<Vec<_>>()
    };
    let inline = explain(4);
    let spilled = explain(7);
    assert_eq!(inline.len(), 2);
    for ((inline_score, inline_parts), (_, spilled_parts)) in inline.iter().zip(&spilled) {
        assert_eq!(
            inline_parts.as_slice(),
            &spilled_parts[..4],
            "same verdicts either way"
        );
        assert!(*inline_score > 0.0 && inline_parts.iter().any(|(_, v)| *v < 1.0 && *v > 0.0));
    }
}
