//! Fuzz target: any bytes through the CSV and JSON Lines readers, with a mapping that uses
//! every field kind, must give records or a clear error, never a panic, and a record's amount
//! must never be zero unless the input held a zero. Run: see crates/domain/fuzz/README.md.

#![no_main]

use libfuzzer_sys::fuzz_target;
use recon_domain::mapping::{FieldColumns, Format, Indicator, Limits, OnError, ParseOptions, SourceSpec};
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
            indicator: Some(Indicator { column: "dc".into(), debit: vec!["D".into()], credit: vec!["C".into()] }),
            ..ParseOptions::default()
        },
        on_error,
        limits: Limits { max_row_bytes: 4096, max_fields: 64 },
        ..SourceSpec::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let with_header = [b"id,ref,amount,date,who,ccy,dc\n".as_slice(), data].concat();
    for format in [Format::Csv, Format::Jsonl] {
        for on_error in [OnError::Fail, OnError::Skip] {
            let input = if format == Format::Csv { with_header.as_slice() } else { data };
            if let Ok(dataset) = reader::read(input, &spec(format, on_error), &|_| {}) {
                for record in dataset.records.iter() {
                    if record.amount().is_some_and(|a| a.is_zero()) {
                        assert!(input.contains(&b'0'), "an amount became zero without a 0 in the input");
                    }
                }
            }
        }
    }
});
