//! The id order of one side's records: their indices sorted by id, computed once per record
//! set and kept with it ([`crate::record::Records::id_order`]) until the records change.
//!
//! Two consumers need it: the reader, which finds repeated ids as neighbours in this order,
//! and the engine, which writes its output in id order and breaks ties by id. One sort serves
//! both. (They sorted separately before, a hash sort for the check and an id sort in the
//! engine: 8 % of an exact-key run of a million records a side.)
//!
//! The sort is a parallel sort of 16-byte keys, each [`KEY_ID_BYTES`] bytes of the id after
//! the prefix every id of the side shares ("INV-2026-" of "INV-2026-000001"…) above the
//! record's index; only inside runs of keys with equal id bytes are ids compared whole, by
//! (id, index). Numbered ids, whose rests after the prefix are short and use few distinct
//! bytes, get 8-byte keys instead: four bits a byte (see [`packing_codes`]). Memory: 16 (or
//! 8) bytes per record while sorting, 4 bytes per record kept.

use rayon::prelude::*;

use crate::record::Records;

/// Bytes of an id (after the shared prefix) in a sort key.
const KEY_ID_BYTES: usize = 12;

/// Record indices in id order, equal ids in index order.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdOrder {
    /// Record indices, by (id, index).
    pub(crate) order: Vec<u32>,
    /// Positions `p` in `order` whose id equals the id at `p - 1`, ascending. Empty when every
    /// id is unique.
    pub(crate) repeats: Vec<u32>,
}

impl IdOrder {
    /// Sorts `records` by id.
    pub(crate) fn of(records: &Records) -> Self {
        let (skip, longest) = shared_prefix(records);
        let (mut order, ties) = match packing_codes(records, longest - skip) {
            Some(codes) => sort_keys(
                records
                    .par_iter()
                    .enumerate()
                    .map(|(i, r)| packed_key(r.id(), skip, &codes, i as u32))
                    .collect(),
                |key: &u64| (*key >> 32, *key as u32),
            ),
            None => sort_keys(
                records
                    .par_iter()
                    .enumerate()
                    .map(|(i, r)| key(r.id(), skip, i as u32))
                    .collect(),
                |key: &u128| (*key >> 32, *key as u32),
            ),
        };
        let mut repeats = Vec::new();
        let id = |index: u32| records.get(index as usize).id();
        for run in ties {
            let run_order = &mut order[run.clone()];
            run_order.sort_unstable_by(|a, b| id(*a).cmp(id(*b)).then(a.cmp(b)));
            for at in 1..run_order.len() {
                if id(run_order[at]) == id(run_order[at - 1]) {
                    repeats.push((run.start + at) as u32);
                }
            }
        }
        Self { order, repeats }
    }
}

/// Sorts `keys` (in parallel) and returns the record index of each, in order, with the ranges
/// of two or more keys whose id parts are equal. `parts` splits a key into its id part and
/// the record index.
fn sort_keys<K, P>(
    mut keys: Vec<K>,
    parts: impl Fn(&K) -> (P, u32) + Sync,
) -> (Vec<u32>, Vec<std::ops::Range<usize>>)
where
    K: Ord + Send + Sync,
    P: PartialEq,
{
    keys.par_sort_unstable();
    let order = keys.par_iter().map(|key| parts(key).1).collect();
    let mut ties = Vec::new();
    let mut start = 0;
    for run in keys.chunk_by(|a, b| parts(a).0 == parts(b).0) {
        if run.len() > 1 {
            ties.push(start..start + run.len());
        }
        start += run.len();
    }
    (order, ties)
}

/// Most bytes after the shared prefix a packed key holds.
const PACKED_BYTES: usize = 8;

/// Each byte's 4-bit code in packed keys (1 to 15, in byte order; 0 pads), when every id's
/// rest after the shared prefix is at most [`PACKED_BYTES`] long (`longest_rest`) and the ids
/// use at most 15 distinct bytes: numbered ids ("L391093", "INV-2026-000123"), whose keys
/// then fit 8 bytes with the index and sort about twice as fast as 16-byte ones. `None`
/// otherwise. The bytes are counted over the ids' text whole, at memory speed, prefix and all
/// (it adds few: "INV-" to digits), rather than id by id after the prefix.
fn packing_codes(records: &Records, longest_rest: usize) -> Option<[u8; 256]> {
    if longest_rest > PACKED_BYTES {
        return None;
    }
    let used = records
        .id_text()
        .as_bytes()
        .par_chunks(64 * 1024)
        .map(|chunk| {
            let mut seen = [false; 256];
            for &byte in chunk {
                seen[usize::from(byte)] = true;
            }
            seen
        })
        .reduce(|| [false; 256], |a, b| std::array::from_fn(|k| a[k] | b[k]));
    if used.iter().filter(|seen| **seen).count() > 15 {
        return None;
    }
    let mut codes = [0u8; 256];
    let mut next = 0;
    for (byte, seen) in used.iter().enumerate() {
        if *seen {
            next += 1;
            codes[byte] = next;
        }
    }
    Some(codes)
}

/// An id's packed key: the codes of its bytes after the first `skip`, four bits each from the
/// top, zero-padded, above the record's index. Every byte is coded, so equal id parts mean
/// equal ids, and codes keep byte order, so keys order records as their ids do.
fn packed_key(id: &str, skip: usize, codes: &[u8; 256], index: u32) -> u64 {
    let rest = id.as_bytes().get(skip..).unwrap_or_default();
    let packed = rest
        .iter()
        .take(PACKED_BYTES)
        .enumerate()
        .fold(0u64, |packed, (at, byte)| {
            packed | u64::from(codes[usize::from(*byte)]) << (60 - 4 * at)
        });
    packed | u64::from(index)
}

/// The number of leading bytes every id of `records` shares (sort keys start after them,
/// where ids differ), and the longest id's length.
fn shared_prefix(records: &Records) -> (usize, usize) {
    let Some(first) = records.iter().next().map(|r| r.id().as_bytes()) else {
        return (0, 0);
    };
    records
        .par_iter()
        .map(|r| {
            let id = r.id().as_bytes();
            let shared = first.iter().zip(id).take_while(|(a, b)| a == b).count();
            (shared, id.len())
        })
        .reduce(|| (first.len(), 0), |(a, x), (b, y)| (a.min(b), x.max(y)))
}

/// An id's sort key: [`KEY_ID_BYTES`] bytes after the first `skip`, zero-padded, above the
/// record's index. Keys order records as their ids do wherever those bytes differ (`key >> 32`
/// differs); equal ones need the full comparison.
fn key(id: &str, skip: usize, index: u32) -> u128 {
    let mut bytes = [0u8; 16];
    let rest = id.as_bytes().get(skip..).unwrap_or_default();
    let length = rest.len().min(KEY_ID_BYTES);
    bytes[..length].copy_from_slice(&rest[..length]);
    bytes[KEY_ID_BYTES..].copy_from_slice(&index.to_be_bytes());
    u128::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    fn records(ids: &[String]) -> Records {
        ids.iter()
            .map(|id| Record::new(id.as_str()))
            .collect::<Vec<_>>()
            .into()
    }

    /// Ids that share long prefixes, differ only past the key's bytes, hold NUL bytes, are
    /// prefixes of each other or repeat.
    fn awkward_ids(seed: u64, count: usize) -> Vec<String> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|i| {
                let n = next();
                match n % 7 {
                    0 => format!("INV-2026-11-{:06}", n % 5000),
                    1 => format!("INV-2026-11-{:06}-{i}", n % 50),
                    2 => format!("INV-2026-11-000000000000{}", n % 7),
                    3 => format!("INV-2026-11-{}\0{i}", n % 3),
                    4 => format!("INV-2026-11-{:x}{i}", n % 4096),
                    5 => format!("INV-2026-11-{}", n % 40),
                    _ => format!("INV-2026-11-{i}"),
                }
            })
            .collect()
    }

    #[test]
    fn orders_as_ids_compare_and_finds_every_repeat() {
        for (seed, odd_one) in [(7, false), (11, true), (12345, false)] {
            let mut ids = awkward_ids(seed, 3000);
            if odd_one {
                // Nothing shared: one id starts differently.
                ids.push("A".to_owned());
            }
            let records = records(&ids);
            let IdOrder { order, repeats } = IdOrder::of(&records);
            let mut expected: Vec<u32> = (0..ids.len() as u32).collect();
            expected.sort_by(|a, b| ids[*a as usize].cmp(&ids[*b as usize]).then(a.cmp(b)));
            assert_eq!(order, expected);
            let expected_repeats: Vec<u32> = (1..expected.len())
                .filter(|&p| ids[expected[p] as usize] == ids[expected[p - 1] as usize])
                .map(|p| p as u32)
                .collect();
            assert!(!expected_repeats.is_empty(), "the ids repeat");
            assert_eq!(repeats, expected_repeats);
        }
    }

    /// The naive order and repeats of `ids`: sorted as strings, equal ones by index.
    fn expected(ids: &[String]) -> (Vec<u32>, Vec<u32>) {
        let mut order: Vec<u32> = (0..ids.len() as u32).collect();
        order.sort_by(|a, b| ids[*a as usize].cmp(&ids[*b as usize]).then(a.cmp(b)));
        let repeats = (1..order.len())
            .filter(|&p| ids[order[p] as usize] == ids[order[p - 1] as usize])
            .map(|p| p as u32)
            .collect();
        (order, repeats)
    }

    #[test]
    fn numbered_ids_are_packed_and_ordered_as_strings() {
        let mut state = 99u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Variable lengths ("L9" < "L10" as strings), a bare prefix, repeats.
        let mut ids: Vec<String> = (0..5000)
            .map(|_| format!("L{}", next() % 10u64.pow((next() % 8) as u32 + 1)))
            .collect();
        ids.push("L".to_owned());
        ids.push("L".to_owned());
        let records = records(&ids);
        let (skip, longest) = shared_prefix(&records);
        assert!(packing_codes(&records, longest - skip).is_some());
        let IdOrder { order, repeats } = IdOrder::of(&records);
        let (expected_order, expected_repeats) = expected(&ids);
        assert!(!expected_repeats.is_empty(), "the ids repeat");
        assert_eq!((order, repeats), (expected_order, expected_repeats));
    }

    #[test]
    fn ids_that_do_not_pack_are_ordered_the_same_way() {
        // Fifteen distinct bytes (a shared prefix's counted) and eight after the prefix pack;
        // one more of either does not.
        let fifteen = "0123456789abcde";
        let cases = [
            (
                fifteen
                    .chars()
                    .map(|c| format!("{c}{c}"))
                    .collect::<Vec<_>>(),
                true,
            ),
            (fifteen.chars().map(|c| format!("x{c}")).collect(), false),
            (
                vec!["x12345678".into(), "x2".into(), "x12345678".into()],
                true,
            ),
            (
                vec!["x123456789".into(), "x2".into(), "x123456789".into()],
                false,
            ),
        ];
        for (ids, packs) in cases {
            let records = records(&ids);
            let (skip, longest) = shared_prefix(&records);
            assert_eq!(
                packing_codes(&records, longest - skip).is_some(),
                packs,
                "{ids:?}"
            );
            let IdOrder { order, repeats } = IdOrder::of(&records);
            assert_eq!((order, repeats), expected(&ids), "{ids:?}");
        }
    }

    #[test]
    fn no_records_no_order() {
        let order = IdOrder::of(&Records::default());
        assert!(order.order.is_empty() && order.repeats.is_empty());
    }
}
