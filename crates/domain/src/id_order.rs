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
//! (id, index). Memory: 16 bytes per record while sorting, 4 bytes per record kept.

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
        let skip = shared_prefix(records);
        let mut keys: Vec<u128> = records
            .par_iter()
            .enumerate()
            .map(|(i, r)| key(r.id(), skip, i as u32))
            .collect();
        keys.par_sort_unstable();
        let mut order: Vec<u32> = keys.par_iter().map(|key| *key as u32).collect();
        let mut repeats = Vec::new();
        let id = |index: u32| records.get(index as usize).id();
        for run in equal_key_runs(&keys) {
            if run.len() < 2 {
                continue;
            }
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

/// The ranges of `keys` (sorted) whose id bytes are equal.
fn equal_key_runs(keys: &[u128]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= keys.len() {
            return None;
        }
        let mut end = start + 1;
        while end < keys.len() && keys[end] >> 32 == keys[start] >> 32 {
            end += 1;
        }
        let range = start..end;
        start = end;
        Some(range)
    })
}

/// The number of leading bytes every id of `records` shares: sort keys start after them, where
/// ids differ.
fn shared_prefix(records: &Records) -> usize {
    let Some(first) = records.iter().next().map(|r| r.id().as_bytes()) else {
        return 0;
    };
    records
        .par_iter()
        .map(|r| {
            let id = r.id().as_bytes();
            first.iter().zip(id).take_while(|(a, b)| a == b).count()
        })
        .min()
        .unwrap_or(first.len())
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

    #[test]
    fn no_records_no_order() {
        let order = IdOrder::of(&Records::default());
        assert!(order.order.is_empty() && order.repeats.is_empty());
    }
}
