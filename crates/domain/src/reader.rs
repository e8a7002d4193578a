//! Readers: CSV and JSON Lines from any `std::io::Read` into records, streaming.
//!
//! Rows are read in chunks of [`CHUNK_ROWS`] and each chunk is parsed in parallel (rayon), so
//! memory holds one chunk of raw rows at a time besides the records themselves. CSV handles any
//! single-byte delimiter, quoting, a UTF-8 byte-order mark, CRLF and a header row; a row with
//! more or fewer fields than the header is reported, not guessed at. Rows longer than
//! `limits.max_row_bytes` or wider than `limits.max_fields` are errors. With `on_error = "fail"`
//! the first bad row stops the read; with `"skip"` it is reported and left out. Ids must be
//! unique within a source.

use std::io::{BufRead, BufReader, Read};

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::id_order::IdOrder;
use crate::mapping::{Format, Limits, Mapping, OnError, RowError, SourceSpec};
use crate::record::Records;

/// Rows parsed per parallel batch.
pub const CHUNK_ROWS: usize = 32 * 1024;

/// What a read produced.
#[derive(Debug, Default)]
pub struct Dataset {
    /// The records, in input order.
    pub records: Records,
    /// Rows left out (only with `on_error = "skip"`).
    pub skipped: Vec<RowError>,
}

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not CSV/JSON Lines at all, or reading failed.
    #[error("{0}")]
    Malformed(String),
    /// The mapping does not fit the source.
    #[error("mapping: {0}")]
    Mapping(String),
    /// A row could not become a record (and `on_error` is `fail`).
    #[error("{0}")]
    Row(RowError),
}

/// Reads a whole source. `on_rows` is called with the number of rows read so far.
pub fn read(
    input: impl Read,
    spec: &SourceSpec,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<Dataset, ReadError> {
    read_sized(input, None, spec, on_rows)
}

/// Like [`read`], with the input's size in bytes when the caller knows it (a file): after the
/// first chunk the records vector is sized for the whole input, so it does not grow by
/// doubling (copying every record and touching fresh memory each time).
pub fn read_sized(
    input: impl Read,
    size: Option<u64>,
    spec: &SourceSpec,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<Dataset, ReadError> {
    let mut dataset = match spec.format {
        Format::Csv => read_csv(input, size, spec, on_rows)?,
        Format::Jsonl => read_jsonl(input, spec, on_rows)?,
    };
    check_unique_ids(&mut dataset, spec.on_error)?;
    Ok(dataset)
}

fn delimiter(spec: &SourceSpec) -> Result<u8, ReadError> {
    u8::try_from(spec.delimiter)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| {
            ReadError::Mapping(format!(
                "delimiter {:?} must be a single ASCII character",
                spec.delimiter
            ))
        })
}

fn read_csv(
    input: impl Read,
    size: Option<u64>,
    spec: &SourceSpec,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<Dataset, ReadError> {
    // The csv crate reports a record after a CRLF as starting on the previous line (it begins
    // at that line's '\n'), so line numbers are corrected when the file uses CRLF.
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let crlf = input
        .fill_buf()
        .map_err(|error| ReadError::Malformed(format!("read failed: {error}")))?
        .windows(2)
        .any(|pair| pair == b"\r\n");
    let line_of = |position: Option<&csv::Position>| {
        position.map_or(0, csv::Position::line) + u64::from(crlf)
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(spec)?)
        .flexible(true)
        .has_headers(true)
        .from_reader(input);
    let header: Vec<String> = reader
        .byte_headers()
        .map_err(|error| ReadError::Malformed(format!("cannot read the header row: {error}")))?
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = String::from_utf8_lossy(name);
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                &name
            };
            name.trim().to_owned()
        })
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(ReadError::Malformed(
            "the file is empty or has no header row".to_owned(),
        ));
    }
    check_width(1, header.len(), &spec.limits)?;
    let mapping = Mapping::compile(spec, &header).map_err(ReadError::Mapping)?;

    let mut dataset = Dataset::default();
    let mut pieces = Vec::new();
    // Row buffers are reused from chunk to chunk: reading allocates only while the first chunk
    // fills.
    let mut chunk: Vec<(u64, csv::ByteRecord)> = Vec::with_capacity(CHUNK_ROWS);
    let mut filled = 0usize;
    let mut data_rows = 0u64;
    loop {
        if filled == chunk.len() {
            chunk.push((0, csv::ByteRecord::new()));
        }
        let more = reader
            .read_byte_record(&mut chunk[filled].1)
            .map_err(|error| {
                let line = line_of(error.position());
                ReadError::Malformed(format!("line {line}: not valid CSV ({error})"))
            })?;
        if more {
            let row = &chunk[filled].1;
            let line = line_of(row.position());
            if row.as_slice().len() > spec.limits.max_row_bytes {
                return Err(ReadError::Row(RowError {
                    line,
                    column: String::new(),
                    value: String::new(),
                    reason: format!(
                        "row is {} bytes, over the limit of {} (limits.max_row_bytes)",
                        row.as_slice().len(),
                        spec.limits.max_row_bytes
                    ),
                }));
            }
            check_width(line, row.len(), &spec.limits)?;
            chunk[filled].0 = line;
            filled += 1;
        }
        if filled == CHUNK_ROWS || (!more && filled > 0) {
            let width = header.len();
            let first_chunk = data_rows == 0;
            let first_row = data_rows;
            parse_chunk(
                &mut dataset,
                &mut pieces,
                &chunk[..filled],
                |offset, (line, raw), into| {
                    if raw.len() != width {
                        return Err(RowError {
                            line: *line,
                            column: String::new(),
                            value: String::new(),
                            reason: format!("has {} fields; the header has {width}", raw.len()),
                        });
                    }
                    // The row's bytes are checked as UTF-8 at once; a field that is not valid
                    // on its own (or a row that is not) is then found and named.
                    let whole = std::str::from_utf8(raw.as_slice()).ok();
                    let mut values: SmallVec<[&str; 16]> = SmallVec::with_capacity(raw.len());
                    for (index, bytes) in raw.iter().enumerate() {
                        let text = whole
                            .and_then(|row| row.get(raw.range(index)?))
                            .or_else(|| std::str::from_utf8(bytes).ok());
                        values.push(text.ok_or_else(|| RowError {
                            line: *line,
                            column: header[index].clone(),
                            value: String::from_utf8_lossy(bytes).chars().take(80).collect(),
                            reason: "not valid UTF-8".to_owned(),
                        })?);
                    }
                    mapping.record_into(*line, first_row + offset as u64 + 1, &values, into)
                },
                spec.on_error,
            )?;
            if let (Some(size), true) = (size, first_chunk) {
                // Size the columns for the whole input from the first chunk's bytes per row
                // and text per record, with 5 % to spare, so they do not grow by doubling.
                let consumed = reader.position().byte().max(1);
                let estimate = (size as f64 / consumed as f64 * filled as f64 * 1.05) as usize;
                let more = estimate.min(size as usize).saturating_sub(filled);
                dataset.records.reserve(more);
            }
            data_rows += filled as u64;
            filled = 0;
            on_rows(data_rows);
        }
        if !more {
            break;
        }
    }
    Ok(dataset)
}

fn check_width(line: u64, fields: usize, limits: &Limits) -> Result<(), ReadError> {
    if fields > limits.max_fields {
        return Err(ReadError::Row(RowError {
            line,
            column: String::new(),
            value: String::new(),
            reason: format!(
                "row has {fields} fields, over the limit of {} (limits.max_fields)",
                limits.max_fields
            ),
        }));
    }
    Ok(())
}

/// Rows parsed into one piece of records by one parallel task.
const PIECE_ROWS: usize = 2048;

/// Parses `rows` in parallel into `dataset.records`: each task parses a piece of
/// [`PIECE_ROWS`] rows into its own [`Records`] from `pieces`, and the pieces are appended in
/// order. The pieces are kept from chunk to chunk, so once they have grown, parsing allocates
/// nothing. A row that fails adds nothing; the errors, in row order, are skipped or the first
/// one is returned, as `on_error` says.
fn parse_chunk<T: Sync>(
    dataset: &mut Dataset,
    pieces: &mut Vec<Records>,
    rows: &[T],
    parse: impl Fn(usize, &T, &mut Records) -> Result<(), RowError> + Sync,
    on_error: OnError,
) -> Result<(), ReadError> {
    let count = rows.len().div_ceil(PIECE_ROWS);
    if pieces.len() < count {
        pieces.resize_with(count, Records::default);
    }
    let failed: Vec<Vec<RowError>> = pieces[..count]
        .par_iter_mut()
        .zip(rows.par_chunks(PIECE_ROWS))
        .enumerate()
        .map(|(piece, (records, rows))| {
            records.clear();
            let mut failed = Vec::new();
            for (k, row) in rows.iter().enumerate() {
                if let Err(error) = parse(piece * PIECE_ROWS + k, row, records) {
                    failed.push(error);
                    if on_error == OnError::Fail {
                        break;
                    }
                }
            }
            failed
        })
        .collect();
    for (records, mut failed) in pieces.iter().zip(failed) {
        if on_error == OnError::Fail && !failed.is_empty() {
            return Err(ReadError::Row(failed.swap_remove(0)));
        }
        dataset.records.append(records);
        dataset.skipped.extend(failed);
    }
    Ok(())
}

fn read_jsonl(
    input: impl Read,
    spec: &SourceSpec,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<Dataset, ReadError> {
    let mut input = BufReader::new(input);
    let mut dataset = Dataset::default();
    let mut pieces = Vec::new();
    let mut mapping: Option<Mapping> = None;
    let mut header: Vec<String> = Vec::new();
    let mut chunk: Vec<(u64, String)> = Vec::with_capacity(CHUNK_ROWS);
    let mut line_number = 0u64;
    let mut data_rows = 0u64;
    loop {
        let mut bytes = Vec::new();
        let limit = spec.limits.max_row_bytes as u64 + 1;
        let read = (&mut input)
            .take(limit)
            .read_until(b'\n', &mut bytes)
            .map_err(|error| ReadError::Malformed(format!("read failed: {error}")))?;
        let more = read > 0;
        if more {
            line_number += 1;
            if bytes.len() as u64 >= limit && bytes.last() != Some(&b'\n') {
                return Err(ReadError::Row(RowError {
                    line: line_number,
                    column: String::new(),
                    value: String::new(),
                    reason: format!(
                        "line is over the limit of {} bytes (limits.max_row_bytes)",
                        spec.limits.max_row_bytes
                    ),
                }));
            }
            let text = String::from_utf8(bytes).map_err(|_| {
                ReadError::Row(RowError {
                    line: line_number,
                    column: String::new(),
                    value: String::new(),
                    reason: "not valid UTF-8".to_owned(),
                })
            })?;
            let text = if line_number == 1 {
                text.trim_start_matches('\u{feff}').to_owned()
            } else {
                text
            };
            if !text.trim().is_empty() {
                if mapping.is_none() {
                    let object: FxHashMap<String, &RawValue> = serde_json::from_str(text.trim())
                        .map_err(|error| {
                            ReadError::Malformed(format!(
                                "line {line_number}: not a JSON object ({error})"
                            ))
                        })?;
                    header = object.into_keys().collect();
                    header.sort();
                    check_width(line_number, header.len(), &spec.limits)?;
                    mapping = Some(Mapping::compile(spec, &header).map_err(ReadError::Mapping)?);
                }
                chunk.push((line_number, text));
            }
        }
        if let Some(mapping) = &mapping
            && (chunk.len() == CHUNK_ROWS || (!more && !chunk.is_empty()))
        {
            let first_row = data_rows;
            parse_chunk(
                &mut dataset,
                &mut pieces,
                &chunk,
                |offset, (line, text), into| {
                    json_row(
                        mapping,
                        &header,
                        (*line, first_row + offset as u64 + 1),
                        text,
                        &spec.limits,
                        into,
                    )
                },
                spec.on_error,
            )?;
            data_rows += chunk.len() as u64;
            chunk.clear();
            on_rows(data_rows);
        }
        if !more {
            break;
        }
    }
    if mapping.is_none() {
        return Err(ReadError::Malformed(
            "the file holds no JSON objects".to_owned(),
        ));
    }
    Ok(dataset)
}

fn json_row(
    mapping: &Mapping,
    header: &[String],
    (line, data_row): (u64, u64),
    text: &str,
    limits: &Limits,
    into: &mut Records,
) -> Result<(), RowError> {
    let error = |column: &str, reason: String| RowError {
        line,
        column: column.to_owned(),
        value: String::new(),
        reason,
    };
    let object: FxHashMap<&str, &RawValue> = serde_json::from_str(text.trim())
        .map_err(|e| error("", format!("not a JSON object ({e})")))?;
    if object.len() > limits.max_fields {
        return Err(error(
            "",
            format!(
                "object has {} fields, over the limit of {} (limits.max_fields)",
                object.len(),
                limits.max_fields
            ),
        ));
    }
    let mut owned: Vec<String> = Vec::with_capacity(header.len());
    for name in header {
        let value = match object.get(name.as_str()) {
            None => String::new(),
            Some(raw) => {
                let raw = raw.get();
                match raw.as_bytes().first() {
                    Some(b'"') => serde_json::from_str::<String>(raw)
                        .map_err(|e| error(name, format!("bad string ({e})")))?,
                    Some(b'{') | Some(b'[') => {
                        return Err(error(
                            name,
                            "nested objects and arrays are not supported".to_owned(),
                        ));
                    }
                    _ if raw == "null" => String::new(),
                    // Numbers keep their literal text, so decimals stay exact.
                    _ => raw.to_owned(),
                }
            }
        };
        owned.push(value);
    }
    let values: Vec<&str> = owned.iter().map(String::as_str).collect();
    mapping.record_into(line, data_row, &values, into)
}

/// Finds ids that occur more than once, as neighbours in the records' id order
/// ([`Records::id_order`], which the engine then reuses: one sort for both). Every occurrence
/// after the first is a row error naming the first one's line; with `skip` they are left out,
/// in line order.
fn check_unique_ids(dataset: &mut Dataset, on_error: OnError) -> Result<(), ReadError> {
    let records = &dataset.records;
    let IdOrder { order, repeats } = records.id_order();
    // (position of a repeated id, position of its first occurrence): equal ids are in index
    // order, so the first of a run of them is the first occurrence.
    let mut duplicates: Vec<(usize, usize)> = Vec::new();
    let (mut first, mut previous) = (0, None);
    for &at in repeats {
        let at = at as usize;
        if previous != Some(at - 1) {
            first = at - 1;
        }
        previous = Some(at);
        duplicates.push((order[at] as usize, order[first] as usize));
    }
    if duplicates.is_empty() {
        return Ok(());
    }
    duplicates.sort_unstable();
    let error = |(at, first): (usize, usize)| {
        let record = records.get(at);
        RowError {
            line: record.line(),
            column: "id".to_owned(),
            value: record.id().to_owned(),
            reason: format!(
                "duplicate id (first on line {}); ids must be unique within a source",
                records.get(first).line()
            ),
        }
    };
    if on_error == OnError::Fail {
        return Err(ReadError::Row(error(duplicates[0])));
    }
    let errors: Vec<RowError> = duplicates.iter().map(|d| error(*d)).collect();
    let mut repeated = vec![false; records.len()];
    for (at, _) in &duplicates {
        repeated[*at] = true;
    }
    dataset.records.retain(|index| !repeated[index]);
    dataset.skipped.extend(errors);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::FieldColumns;

    fn spec() -> SourceSpec {
        SourceSpec {
            id: Some("id".into()),
            fields: FieldColumns {
                reference: Some("ref".into()),
                amount: Some("amount".into()),
                date: Some("date".into()),
                ..FieldColumns::default()
            },
            ..SourceSpec::default()
        }
    }

    fn read_str(text: &str, spec: &SourceSpec) -> Result<Dataset, ReadError> {
        read(text.as_bytes(), spec, &|_| {})
    }

    #[test]
    fn csv_with_bom_crlf_and_quotes_reads() {
        let text = "\u{feff}id,ref,amount,date\r\n1,\"A, quoted\",\"1,234.50\",2026-01-02\r\n2,B,-3,2026-01-03\r\n";
        let dataset = read_str(text, &spec()).expect("reads");
        assert_eq!(dataset.records.len(), 2);
        assert_eq!(dataset.records.get(0).reference(), Some("A, quoted"));
        assert_eq!(
            dataset.records.get(0).amount().map(|a| a.to_string()),
            Some("1234.50".into())
        );
        assert_eq!(dataset.records.get(1).line(), 3);
    }

    #[test]
    fn a_bad_value_names_line_column_and_value() {
        let error =
            read_str("id,ref,amount,date\n1,A,12.x,2026-01-02\n", &spec()).expect_err("fails");
        match error {
            ReadError::Row(row) => {
                assert_eq!(
                    (row.line, row.column.as_str(), row.value.as_str()),
                    (2, "amount", "12.x")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn skip_mode_reports_and_leaves_out_bad_rows() {
        let spec = SourceSpec {
            on_error: OnError::Skip,
            ..spec()
        };
        let dataset = read_str("id,ref,amount,date\n1,A,1,2026-01-02\n2,B,x,2026-01-02\n3,C,3,nope\n4,D\n5,E,5,2026-01-05\n", &spec).expect("reads");
        assert_eq!(
            dataset.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
            vec!["1", "5"]
        );
        assert_eq!(
            dataset.skipped.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(dataset.skipped[2].reason.contains("has 2 fields"));
    }

    #[test]
    fn bad_rows_across_parallel_chunks_are_skipped_in_order_or_the_first_fails() {
        let rows = CHUNK_ROWS * 2 + 100;
        let bad = |row: usize| row % 997 == 5;
        let mut text = String::from("id,ref,amount,date\n");
        for row in 0..rows {
            let amount = if bad(row) { "x" } else { "1.5" };
            text.push_str(&format!("{row},R{row},{amount},2026-01-02\n"));
        }
        let skipping = SourceSpec {
            on_error: OnError::Skip,
            ..spec()
        };
        let dataset = read_str(&text, &skipping).expect("reads");
        let kept: Vec<String> = (0..rows)
            .filter(|r| !bad(*r))
            .map(|r| r.to_string())
            .collect();
        let ids: Vec<String> = dataset.records.iter().map(|r| r.id().to_string()).collect();
        assert_eq!(ids, kept);
        let lines: Vec<u64> = (0..rows)
            .filter(|r| bad(*r))
            .map(|r| r as u64 + 2)
            .collect();
        let skipped: Vec<u64> = dataset.skipped.iter().map(|e| e.line).collect();
        assert_eq!(skipped, lines);
        match read_str(&text, &spec()).expect_err("fails") {
            ReadError::Row(row) => assert_eq!(row.line, 7),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let error = read_str(
            "id,ref,amount,date\n1,A,1,2026-01-02\n1,B,2,2026-01-02\n",
            &spec(),
        )
        .expect_err("dup");
        assert!(
            error.to_string().contains("duplicate id (first on line 2)"),
            "{error}"
        );
    }

    #[test]
    fn skipped_duplicates_name_the_first_occurrence_and_keep_the_rest_in_order() {
        let mut spec = spec();
        spec.on_error = OnError::Skip;
        let dataset = read_str(
            "id,ref,amount,date\n1,A,1,2026-01-02\n2,B,2,2026-01-02\n1,C,3,2026-01-02\n3,D,4,2026-01-02\n1,E,5,2026-01-02\n2,F,6,2026-01-02\n",
            &spec,
        )
        .expect("skips");
        let ids: Vec<&str> = dataset.records.iter().map(|r| r.id()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        let references: Vec<_> = dataset.records.iter().map(|r| r.reference()).collect();
        assert_eq!(references, [Some("A"), Some("B"), Some("D")]);
        let skipped: Vec<(u64, &str)> = dataset
            .skipped
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3);
        assert_eq!(
            skipped.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
            [4, 6, 7]
        );
        assert!(skipped[0].1.contains("first on line 2"));
        assert!(skipped[1].1.contains("first on line 2"));
        assert!(skipped[2].1.contains("first on line 3"));
    }

    #[test]
    fn a_mapped_column_missing_from_the_header_is_named() {
        let error = read_str("id,reference,amount,date\n", &spec()).expect_err("no ref column");
        assert!(error.to_string().contains("\"ref\""), "{error}");
    }

    #[test]
    fn limits_turn_into_errors() {
        let spec = SourceSpec {
            limits: Limits {
                max_row_bytes: 20,
                max_fields: 4,
            },
            ..spec()
        };
        assert!(
            read_str(
                "id,ref,amount,date\n1,AAAAAAAAAAAAAAAAAAAAAAAAA,1,2026-01-02\n",
                &spec
            )
            .expect_err("long")
            .to_string()
            .contains("max_row_bytes")
        );
        assert!(
            read_str("id,ref,amount,date,x\n", &spec)
                .expect_err("wide")
                .to_string()
                .contains("max_fields")
        );
    }

    #[test]
    fn json_lines_keep_decimal_literals_exact() {
        let spec = SourceSpec {
            format: Format::Jsonl,
            ..spec()
        };
        let text = "{\"id\":\"a\",\"ref\":\"R1\",\"amount\":0.1,\"date\":\"2026-01-02\"}\n\n{\"id\":\"b\",\"ref\":null,\"amount\":\"-2.50\",\"date\":\"2026-01-03\"}\n";
        let dataset = read_str(text, &spec).expect("reads");
        assert_eq!(
            dataset.records.get(0).amount().map(|a| a.to_string()),
            Some("0.1".into())
        );
        assert_eq!(dataset.records.get(1).reference(), None);
        assert_eq!(dataset.records.get(1).line(), 3);
        assert!(read_str("not json\n", &spec).is_err());
    }

    #[test]
    fn rows_without_an_id_column_are_numbered() {
        let spec = SourceSpec { id: None, ..spec() };
        let dataset = read_str(
            "id,ref,amount,date\nx,A,1,2026-01-02\ny,B,2,2026-01-02\n",
            &spec,
        )
        .expect("reads");
        assert_eq!(
            dataset.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
            vec!["row-1", "row-2"]
        );
    }
}
