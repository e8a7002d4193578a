//! The rules file: both sources' mappings and an ordered list of rules, in JSON or TOML, and
//! its validation into [`CompiledRules`].
//!
//! Validation reports every problem, each saying which rule and criterion, what is wrong and
//! what would be valid, e.g. `rule 2 "batch payouts", criterion 1 (amount): relative must be at
//! least 0 and below 1, e.g. 0.01 for 1%`. The HTTP API reuses these types.

use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::criteria::{Algorithm, Criterion, Direction, Normalizer, Test};
use crate::mapping::SourceSpec;
use crate::record::Field;

/// How a rule pairs records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One left with one right; each record used at most once; best score wins.
    #[default]
    OneToOne,
    /// One left with several right records whose amounts sum to it.
    OneToMany,
    /// Several left records whose amounts sum to one right record.
    ManyToOne,
    /// Several on each side with equal sums.
    ManyToMany,
}

impl Strategy {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneToOne => "one_to_one",
            Self::OneToMany => "one_to_many",
            Self::ManyToOne => "many_to_one",
            Self::ManyToMany => "many_to_many",
        }
    }
}

/// Criterion tests, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Exact text.
    Equals,
    /// Text after normalisation.
    NormalizedEquals,
    /// One contains the other.
    Contains,
    /// Extract with a pattern, then compare.
    Regex,
    /// String similarity.
    Similarity,
    /// Amount tolerance.
    Amount,
    /// Date window.
    Date,
    /// Same currency.
    Currency,
}

/// One criterion, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionSpec {
    /// Which test.
    pub test: TestKind,
    /// The same field on both sides (shorthand for `left` = `right`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Left field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    /// Right field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right: Option<String>,
    /// Weight in the score (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Whether failing rejects the candidate (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Normalisation for text tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalizer>,
    /// Pattern for both sides (regex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Pattern for the left side only (regex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_pattern: Option<String>,
    /// Pattern for the right side only (regex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_pattern: Option<String>,
    /// Similarity measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    /// Similarity threshold in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Absolute amount tolerance.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub absolute: Option<Decimal>,
    /// Relative amount tolerance (0.01 = 1%).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub relative: Option<Decimal>,
    /// Date window in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Date window direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

/// One rule, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name, shown in results.
    pub name: String,
    /// Pairing strategy (default one_to_one).
    #[serde(default)]
    pub strategy: Strategy,
    /// Lowest score proposed (default 0.5).
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// Score at or above which a match is auto-confirmed (default 1.0).
    #[serde(default = "default_auto_confirm")]
    pub auto_confirm: f64,
    /// Largest group per side (grouping strategies; default 10, many_to_many 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_group_size: Option<usize>,
    /// Subset-search steps per group before giving up (default 100 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_budget: Option<u64>,
    /// The criteria.
    pub criteria: Vec<CriterionSpec>,
}

fn default_min_score() -> f64 {
    0.5
}
fn default_auto_confirm() -> f64 {
    1.0
}

/// The whole rules file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// The left source.
    pub left: SourceSpec,
    /// The right source.
    pub right: SourceSpec,
    /// Rules, applied in order; a record matched by one is not offered to later ones.
    pub rules: Vec<RuleSpec>,
}

/// How candidates are found for a rule (never the cross product).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// Hash join on a key criterion (equals, normalized_equals, regex). O(n + m + pairs).
    Key(usize),
    /// Sorted amounts, range query per record. O((n + m) log m + pairs).
    AmountBand(usize),
    /// Sorted dates, range query per record. O((n + m) log m + pairs).
    DateBand(usize),
    /// Trigram postings, capped per record. O(n × trigrams × capped postings).
    Trigram(usize),
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name.
    pub name: String,
    /// Strategy.
    pub strategy: Strategy,
    /// Criteria.
    pub criteria: Vec<Criterion>,
    /// Lowest score proposed.
    pub min_score: f64,
    /// Auto-confirm threshold.
    pub auto_confirm: f64,
    /// Largest group per side.
    pub max_group_size: usize,
    /// Subset-search budget.
    pub search_budget: u64,
    /// Candidate generation.
    pub blocking: Blocking,
}

impl Rule {
    /// The amount criterion, for grouping strategies.
    pub fn amount_criterion(&self) -> Option<(usize, Decimal, Decimal)> {
        self.criteria
            .iter()
            .enumerate()
            .find_map(|(i, c)| match c.test {
                Test::Amount { absolute, relative } => Some((i, absolute, relative)),
                _ => None,
            })
    }
}

/// Validated rules.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    /// In order.
    pub rules: Vec<Rule>,
}

/// A validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// Where: `rule 2 "batch", criterion 1 (amount)`.
    pub location: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a rules file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// Not valid JSON/TOML, or a key or value of the wrong kind.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed but invalid; every problem is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<RuleProblem>),
}

impl RulesFile {
    /// Parses TOML.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        toml::from_str(text)
            .map_err(|error| RulesError::Syntax(error.to_string().trim().to_owned()))
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, RulesError> {
        serde_json::from_str(text).map_err(|error| RulesError::Syntax(error.to_string()))
    }

    /// Validates the rules.
    pub fn compile(&self) -> Result<CompiledRules, RulesError> {
        let mut problems = Vec::new();
        if self.rules.is_empty() {
            problems.push(RuleProblem {
                location: "rules".into(),
                message: "no rules; add at least one [[rules]] entry".into(),
            });
        }
        let mut rules = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (index, spec) in self.rules.iter().enumerate() {
            let location = format!("rule {} {:?}", index + 1, spec.name);
            if spec.name.trim().is_empty() {
                problems.push(RuleProblem {
                    location: location.clone(),
                    message: "name is empty; give every rule a name".into(),
                });
            } else if !names.insert(spec.name.clone()) {
                problems.push(RuleProblem {
                    location: location.clone(),
                    message: "another rule has the same name; names must be unique".into(),
                });
            }
            if let Some(rule) =
                compile_rule(spec, &location, &self.left, &self.right, &mut problems)
            {
                rules.push(rule);
            }
        }
        if problems.is_empty() {
            Ok(CompiledRules { rules })
        } else {
            Err(RulesError::Invalid(problems))
        }
    }
}

fn resolve_field(name: &str, source: &SourceSpec) -> Result<Field, String> {
    Ok(match name {
        "id" => Field::Id,
        "reference" => Field::Reference,
        "amount" => Field::Amount,
        "currency" => Field::Currency,
        "date" => Field::Date,
        "counterparty" => Field::Counterparty,
        "description" => Field::Description,
        other => match other.strip_prefix("column:") {
            Some(column) => Field::Column(source.keep.iter().position(|k| k == column).ok_or_else(|| {
                format!("column {column:?} is not in this side's `keep` list; add it there to use it in rules")
            })?),
            None => {
                return Err(format!(
                    "unknown field {other:?}; valid: id, reference, amount, currency, date, counterparty, description, or column:NAME"
                ));
            }
        },
    })
}

fn is_text(field: &Field) -> bool {
    !matches!(field, Field::Amount | Field::Date)
}

/// The settings each test accepts, for "does not apply" messages.
fn accepted(test: TestKind) -> &'static [&'static str] {
    match test {
        TestKind::Equals => &[],
        TestKind::NormalizedEquals | TestKind::Contains => &["normalize"],
        TestKind::Regex => &["pattern", "left_pattern", "right_pattern", "normalize"],
        TestKind::Similarity => &["algorithm", "threshold", "normalize"],
        TestKind::Amount => &["absolute", "relative"],
        TestKind::Date => &["days", "direction"],
        TestKind::Currency => &[],
    }
}

fn compile_rule(
    spec: &RuleSpec,
    location: &str,
    left: &SourceSpec,
    right: &SourceSpec,
    problems: &mut Vec<RuleProblem>,
) -> Option<Rule> {
    let before = problems.len();
    let mut problem = |message: String| {
        problems.push(RuleProblem {
            location: location.to_owned(),
            message,
        })
    };
    if !(0.0..=1.0).contains(&spec.min_score) {
        problem(format!(
            "min_score is {}; it must be between 0 and 1",
            spec.min_score
        ));
    }
    if !(0.0..=1.0).contains(&spec.auto_confirm) {
        problem(format!(
            "auto_confirm is {}; it must be between 0 and 1",
            spec.auto_confirm
        ));
    }
    if spec.auto_confirm < spec.min_score {
        problem(format!(
            "auto_confirm ({}) is below min_score ({}); it must be at least min_score",
            spec.auto_confirm, spec.min_score
        ));
    }
    let max_group_size = spec
        .max_group_size
        .unwrap_or(if spec.strategy == Strategy::ManyToMany {
            6
        } else {
            10
        });
    let limit = if spec.strategy == Strategy::ManyToMany {
        12
    } else {
        64
    };
    if spec.strategy == Strategy::OneToOne
        && (spec.max_group_size.is_some() || spec.search_budget.is_some())
    {
        problem("max_group_size and search_budget apply to grouping strategies only; remove them or change strategy".into());
    } else if !(1..=limit).contains(&max_group_size) {
        problem(format!(
            "max_group_size is {max_group_size}; for {} it must be 1 to {limit}",
            spec.strategy.as_str()
        ));
    }
    if spec.criteria.is_empty() {
        problem("no criteria; add at least one [[rules.criteria]]".into());
    }

    let mut criteria = Vec::new();
    for (index, criterion) in spec.criteria.iter().enumerate() {
        let here = format!(
            "{location}, criterion {} ({})",
            index + 1,
            serde_json::to_value(criterion.test)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        );
        match compile_criterion(criterion, left, right) {
            Ok(compiled) => criteria.push(compiled),
            Err(messages) => problems.extend(messages.into_iter().map(|message| RuleProblem {
                location: here.clone(),
                message,
            })),
        }
    }
    if problems.len() > before {
        return None;
    }
    let required = |predicate: fn(&Test) -> bool| {
        criteria
            .iter()
            .position(|c| c.required && predicate(&c.test))
    };
    let key = required(|t| matches!(t, Test::Equals(_) | Test::Regex { .. }));
    let amount = required(|t| matches!(t, Test::Amount { .. }));
    let date = required(|t| matches!(t, Test::Date { .. }));
    let similar = required(|t| matches!(t, Test::Similarity { .. }));
    let grouping = spec.strategy != Strategy::OneToOne;
    if grouping && amount.is_none() {
        problems.push(RuleProblem {
            location: location.to_owned(),
            message: format!(
                "{} needs a required amount criterion: it is what the group's sum is checked with",
                spec.strategy.as_str()
            ),
        });
        return None;
    }
    // Grouping strategies check amounts on sums, so they cannot find members by amount.
    let blocking = match (key, amount, date, similar) {
        (Some(i), ..) => Blocking::Key(i),
        (None, Some(i), ..) if !grouping => Blocking::AmountBand(i),
        (None, _, Some(i), _) => Blocking::DateBand(i),
        (None, _, None, Some(i)) => Blocking::Trigram(i),
        _ => {
            problems.push(RuleProblem {
                location: location.to_owned(),
                message: if grouping {
                    "no required criterion to find group members with; add a required equals, normalized_equals, regex, date or similarity criterion (the amount applies to the sum)".into()
                } else {
                    "no required criterion to find candidates with; add a required equals, normalized_equals, regex, amount, date or similarity criterion (comparing every pair is never done)".into()
                },
            });
            return None;
        }
    };
    Some(Rule {
        name: spec.name.clone(),
        strategy: spec.strategy,
        criteria,
        min_score: spec.min_score,
        auto_confirm: spec.auto_confirm,
        max_group_size,
        search_budget: spec.search_budget.unwrap_or(100_000),
        blocking,
    })
}

fn compile_criterion(
    spec: &CriterionSpec,
    left: &SourceSpec,
    right: &SourceSpec,
) -> Result<Criterion, Vec<String>> {
    let mut errors = Vec::new();
    let (left_name, right_name) = match (&spec.field, &spec.left, &spec.right) {
        (Some(field), None, None) => (field.clone(), field.clone()),
        (None, Some(l), Some(r)) => (l.clone(), r.clone()),
        _ => {
            return Err(vec![
                "give either `field` (same on both sides) or both `left` and `right`".into(),
            ]);
        }
    };
    let left_field = resolve_field(&left_name, left).map_err(|e| format!("left: {e}"));
    let right_field = resolve_field(&right_name, right).map_err(|e| format!("right: {e}"));
    let (left_field, right_field) = match (left_field, right_field) {
        (Ok(l), Ok(r)) => (l, r),
        (l, r) => {
            errors.extend(l.err());
            errors.extend(r.err());
            return Err(errors);
        }
    };
    let set: Vec<(&str, bool)> = vec![
        ("normalize", spec.normalize.is_some()),
        ("pattern", spec.pattern.is_some()),
        ("left_pattern", spec.left_pattern.is_some()),
        ("right_pattern", spec.right_pattern.is_some()),
        ("algorithm", spec.algorithm.is_some()),
        ("threshold", spec.threshold.is_some()),
        ("absolute", spec.absolute.is_some()),
        ("relative", spec.relative.is_some()),
        ("days", spec.days.is_some()),
        ("direction", spec.direction.is_some()),
    ];
    let valid = accepted(spec.test);
    for (name, present) in set {
        if present && !valid.contains(&name) {
            errors.push(format!(
                "`{name}` does not apply to this test; valid settings here: {}",
                if valid.is_empty() {
                    "none besides field/left/right, weight, required".to_owned()
                } else {
                    valid.join(", ")
                }
            ));
        }
    }
    let weight = spec.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        errors.push(format!("weight is {weight}; it must be a positive number"));
    }
    let text_test = matches!(
        spec.test,
        TestKind::Equals
            | TestKind::NormalizedEquals
            | TestKind::Contains
            | TestKind::Regex
            | TestKind::Similarity
    );
    if text_test && !(is_text(&left_field) && is_text(&right_field)) {
        errors.push("this test compares text; amount and date are not text fields".into());
    }
    let both = |field: Field, what: &str, errors: &mut Vec<String>| {
        if left_field != field || right_field != field {
            errors.push(format!(
                "this test compares {what} on both sides; use field = \"{what}\""
            ));
        }
    };
    let compile_pattern = |pattern: &Option<String>, errors: &mut Vec<String>| -> Option<Regex> {
        pattern.as_ref().and_then(|p| match Regex::new(p) {
            Ok(regex) => Some(regex),
            Err(error) => {
                errors.push(format!(
                    "pattern {p:?} is not a valid regular expression: {error}"
                ));
                None
            }
        })
    };
    let test = match spec.test {
        TestKind::Equals => Test::Equals(None),
        TestKind::NormalizedEquals => Test::Equals(Some(
            spec.normalize.clone().unwrap_or_else(Normalizer::for_keys),
        )),
        TestKind::Contains => {
            Test::Contains(spec.normalize.clone().unwrap_or_else(Normalizer::for_text))
        }
        TestKind::Regex => {
            if spec.pattern.is_some()
                && (spec.left_pattern.is_some() || spec.right_pattern.is_some())
            {
                errors.push(
                    "give `pattern` for both sides, or `left_pattern`/`right_pattern`, not both"
                        .into(),
                );
            }
            if spec.pattern.is_none() && spec.left_pattern.is_none() && spec.right_pattern.is_none()
            {
                errors.push("a regex test needs `pattern` (or `left_pattern`/`right_pattern`), e.g. pattern = \"INV-?(\\\\d+)\"".into());
            }
            let left = compile_pattern(
                &spec.left_pattern.clone().or_else(|| spec.pattern.clone()),
                &mut errors,
            );
            let right = compile_pattern(
                &spec.right_pattern.clone().or_else(|| spec.pattern.clone()),
                &mut errors,
            );
            Test::Regex {
                left,
                right,
                normalizer: spec.normalize.clone().unwrap_or_else(Normalizer::for_keys),
            }
        }
        TestKind::Similarity => {
            let threshold = spec.threshold.unwrap_or(0.85);
            if !(0.0..=1.0).contains(&threshold) {
                errors.push(format!(
                    "threshold is {threshold}; it must be between 0 and 1, e.g. 0.85"
                ));
            }
            Test::Similarity {
                algorithm: spec.algorithm.unwrap_or(Algorithm::JaroWinkler),
                threshold,
                normalizer: spec.normalize.clone().unwrap_or_else(Normalizer::for_text),
            }
        }
        TestKind::Amount => {
            both(Field::Amount, "amount", &mut errors);
            let absolute = spec.absolute.unwrap_or_default();
            let relative = spec.relative.unwrap_or_default();
            if absolute.is_sign_negative() {
                errors.push(format!(
                    "absolute is {absolute}; it must be 0 or more, e.g. \"0.01\""
                ));
            }
            if relative.is_sign_negative() || relative >= Decimal::ONE {
                errors.push(format!("relative is {relative}; it must be at least 0 and below 1, e.g. \"0.01\" for 1%"));
            }
            Test::Amount { absolute, relative }
        }
        TestKind::Date => {
            both(Field::Date, "date", &mut errors);
            let days = spec.days.unwrap_or(0);
            if days > 366 {
                errors.push(format!(
                    "days is {days}; windows longer than 366 days are refused"
                ));
            }
            Test::Date {
                days,
                direction: spec.direction.unwrap_or_default(),
            }
        }
        TestKind::Currency => {
            both(Field::Currency, "currency", &mut errors);
            Test::Currency
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Criterion {
        label: if left_name == right_name {
            left_name.into()
        } else {
            format!("{left_name}~{right_name}").into()
        },
        left: left_field,
        right: right_field,
        weight,
        required: spec.required.unwrap_or(true),
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [left]
        id = "id"
        fields = { reference = "ref", amount = "amount", date = "date" }
        [right]
        id = "id"
        fields = { reference = "ref", amount = "amount", date = "date" }
    "#;

    fn compile(rules: &str) -> Result<CompiledRules, RulesError> {
        RulesFile::from_toml(&format!("{BASE}\n{rules}"))?.compile()
    }

    #[test]
    fn a_valid_rule_set_compiles_with_its_blocking() {
        let compiled = compile(
            r#"
            [[rules]]
            name = "exact"
            criteria = [ { test = "normalized_equals", field = "reference" }, { test = "amount", field = "amount", absolute = "0.01" } ]
            [[rules]]
            name = "fuzzy"
            criteria = [ { test = "amount", field = "amount" }, { test = "date", field = "date", days = 3 } ]
            "#,
        )
        .expect("valid");
        assert_eq!(compiled.rules[0].blocking, Blocking::Key(0));
        assert_eq!(compiled.rules[1].blocking, Blocking::AmountBand(0));
    }

    #[test]
    fn problems_name_rule_criterion_fault_and_fix() {
        let error = compile(
            r#"
            [[rules]]
            name = "bad"
            criteria = [
              { test = "amount", field = "amount", threshold = 0.9, relative = "1.5" },
              { test = "similarity", field = "colour" },
              { test = "regex", field = "reference", pattern = "(unclosed" },
            ]
            "#,
        )
        .expect_err("invalid");
        let text = error.to_string();
        assert!(text.contains(r#"rule 1 "bad", criterion 1 (amount): `threshold` does not apply to this test; valid settings here: absolute, relative"#), "{text}");
        assert!(
            text.contains("relative is 1.5; it must be at least 0 and below 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"criterion 2 (similarity): left: unknown field "colour""#),
            "{text}"
        );
        assert!(
            text.contains(
                "criterion 3 (regex): pattern \"(unclosed\" is not a valid regular expression"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_rule_without_a_way_to_find_candidates_is_refused() {
        let error = compile(
            r#"
            [[rules]]
            name = "cross"
            criteria = [ { test = "contains", field = "reference" } ]
            "#,
        )
        .expect_err("no blocking");
        assert!(
            error
                .to_string()
                .contains("comparing every pair is never done"),
            "{error}"
        );
    }

    #[test]
    fn grouping_needs_an_amount_and_a_member_key() {
        let error = compile(
            r#"
            [[rules]]
            name = "batch"
            strategy = "many_to_one"
            criteria = [ { test = "amount", field = "amount" } ]
            "#,
        )
        .expect_err("no member key");
        assert!(
            error
                .to_string()
                .contains("no required criterion to find group members with"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_syntax_errors_with_positions() {
        let error = compile("[[rules]]\nname = \"x\"\nstratgy = \"one_to_one\"\ncriteria = []\n")
            .expect_err("typo");
        assert!(
            error.to_string().contains("unknown field `stratgy`"),
            "{error}"
        );
        let error = compile("[[rules]]\nname = \"x\"\nstrategy = \"one_to_two\"\ncriteria = []\n")
            .expect_err("bad variant");
        assert!(error.to_string().contains("one_to_two"), "{error}");
    }

    #[test]
    fn json_and_toml_forms_are_the_same_rules() {
        let toml_form = RulesFile::from_toml(&format!("{BASE}\n[[rules]]\nname = \"r\"\ncriteria = [{{ test = \"equals\", field = \"reference\" }}]\n")).expect("toml");
        let json = serde_json::to_string(&toml_form).expect("to json");
        assert_eq!(RulesFile::from_json(&json).expect("json"), toml_form);
    }
}
