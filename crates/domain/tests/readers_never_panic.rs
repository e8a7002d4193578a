//! The readers' promise, checked on stable in every test run (cargo-fuzz runs the same target
//! for longer, see fuzz/README.md): arbitrary bytes give records or an error, never a panic,
//! and an amount never becomes zero unless the input held a zero.

use proptest::prelude::*;
use recon_domain::mapping::{FieldColumns, Format, Indicator, OnError, ParseOptions, SourceSpec};
use recon_domain::reader;

fn spec(format: Format, on_error: OnError) -> SourceSpec {
    SourceSpec {
        format,
        id: Some("id".into()),
        fields: FieldColumns {
            reference: Some("ref".into()),
            amount: Some("amount".into()),
            date: Some("date".into()),
            counterparty: Some("who".into()),
            currency: Some("ccy".into()),
            ..FieldColumns::default()
        },
        parse: ParseOptions {
            date_formats: vec!["%d/%m/%Y".into(), "%Y-%m-%d".into(), "%+".into()],
            indicator: Some(Indicator {
                column: "dc".into(),
                debit: vec!["D".into()],
                credit: vec!["C".into()],
            }),
            ..ParseOptions::default()
        },
        on_error,
        ..SourceSpec::default()
    }
}

fn check(input: &[u8], format: Format) -> Result<(), TestCaseError> {
    for on_error in [OnError::Fail, OnError::Skip] {
        if let Ok(dataset) = reader::read(input, &spec(format, on_error), &|_| {}) {
            for record in dataset.records.iter() {
                if record.amount().is_some_and(|a| a.is_zero()) {
                    prop_assert!(
                        input.contains(&b'0'),
                        "an amount became zero without a 0 in the input"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Bytes that look like CSV rows often enough to get past the header.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b",".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"(1,234.50)".to_vec()),
            Just(b"2026-02-30".to_vec()),
            Just(b"31/12/2026".to_vec()),
            Just(b"EUR".to_vec()),
            Just(b"D".to_vec()),
            Just(vec![0xff, 0xfe]),
            "[ -~]{0,8}".prop_map(String::into_bytes),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn csv_input_never_panics(body in csvish()) {
        check(&[b"id,ref,amount,date,who,ccy,dc\n".as_slice(), &body].concat(), Format::Csv)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&bytes, Format::Csv)?;
        check(&bytes, Format::Jsonl)?;
    }

    #[test]
    fn json_lines_input_never_panics(lines in prop::collection::vec(r#"\{("(id|ref|amount|date|who|ccy|dc)":(-?[0-9.]{0,6}|"[ -~]{0,6}"|null|\[\]),?){0,7}\}"#, 0..6)) {
        check(lines.join("\n").as_bytes(), Format::Jsonl)?;
    }
}
