//! Candidate generation: for a record on one side, which records on the other side are worth
//! scoring. Every rule has one blocking method (chosen in [`crate::rules`]); none of them
//! compares every pair.
//!
//! - Key: a hash index of the normalised key (or regex extract). Build O(m), probe O(1) + hits.
//! - Amount band: amounts sorted; a probe takes the range its tolerance allows, widened to
//!   cover the relative part ((abs + rel·|a|) / (1 − rel)) and checked exactly afterwards.
//!   Build O(m log m), probe O(log m + hits).
//! - Date band: the same over dates and the window's direction.
//! - Trigram: postings of character trigrams of the normalised text. Trigrams held by more than
//!   `TRIGRAM_STOP_FRACTION` of the records (and at least `TRIGRAM_STOP_MIN`) are skipped as
//!   uninformative; a probe keeps the `TRIGRAM_MAX_CANDIDATES` records sharing the most
//!   trigrams, and at least 40 % of its own. This is approximate by design: two texts that share
//!   only very common trigrams are not offered.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{Days, NaiveDate};
use rayon::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};
use rustc_hash::{FxHashMap, FxHasher};

use crate::criteria::{Direction, Normalizer, Test};
use crate::record::{RecordRef, Records};
use crate::rules::{Blocking, Rule};

/// A trigram held by this fraction of records or more is skipped...
pub(crate) const TRIGRAM_STOP_FRACTION: f64 = 0.005;
/// ...unless fewer than this many records hold it.
pub(crate) const TRIGRAM_STOP_MIN: usize = 64;
/// Most candidates a trigram probe yields.
pub(crate) const TRIGRAM_MAX_CANDIDATES: usize = 50;

const END: u32 = u32::MAX;

/// An index over the available records of one side. Keys borrow the records' text when no
/// normalisation is needed.
pub(crate) enum Index<'a> {
    Key {
        criterion: usize,
        table: KeyTable<'a>,
    },
    Amount {
        sorted: AmountKeys,
        absolute: Decimal,
        relative: Decimal,
    },
    Date {
        sorted: Vec<(NaiveDate, u32)>,
        days: u32,
        direction: Direction,
    },
    /// `rank` orders records by id, so truncating ties never depends on input order.
    Trigram {
        criterion: usize,
        postings: FxHashMap<u64, Vec<u32>>,
        stop: usize,
        normalizer: Normalizer,
        rank: &'a [u32],
    },
}

/// `(value, index)` of every available record that has a value: the input of the band indexes.
fn keyed<K>(
    records: &Records,
    used: &[bool],
    value: impl Fn(RecordRef<'_>) -> Option<K>,
) -> Vec<(K, u32)> {
    records
        .iter()
        .enumerate()
        .filter(|(i, _)| !used[*i])
        .filter_map(|(i, r)| value(r).map(|k| (k, i as u32)))
        .collect()
}

fn trigrams(text: &str, out: &mut Vec<u64>) {
    out.clear();
    let chars: Vec<char> = std::iter::once(' ')
        .chain(text.chars())
        .chain(std::iter::once(' '))
        .collect();
    for window in chars.windows(3) {
        let mut hasher = FxHasher::default();
        window.hash(&mut hasher);
        out.push(hasher.finish());
    }
    out.sort_unstable();
    out.dedup();
}

impl<'a> Index<'a> {
    /// Indexes `records` (the `target_is_left` side) that are not `used`; `rank` is each
    /// record's position in id order.
    pub(crate) fn build(
        rule: &Rule,
        records: &'a Records,
        target_is_left: bool,
        used: &[bool],
        rank: &'a [u32],
    ) -> Self {
        let available = |i: usize| !used[i];
        match rule.blocking {
            Blocking::Key(criterion) => {
                let criterion_rule = &rule.criteria[criterion];
                let table = KeyTable::build(records.len(), |i| {
                    available(i)
                        .then(|| criterion_rule.key(records.get(i), target_is_left))
                        .flatten()
                });
                Self::Key { criterion, table }
            }
            Blocking::AmountBand(criterion) => {
                let Test::Amount { absolute, relative } = rule.criteria[criterion].test else {
                    unreachable_blocking()
                };
                let sorted = AmountKeys::build(keyed(records, used, |r| r.amount()));
                Self::Amount {
                    sorted,
                    absolute,
                    relative,
                }
            }
            Blocking::DateBand(criterion) => {
                let Test::Date { days, direction } = rule.criteria[criterion].test else {
                    unreachable_blocking()
                };
                let mut sorted = keyed(records, used, |r| r.date());
                sorted.par_sort_unstable();
                Self::Date {
                    sorted,
                    days,
                    direction,
                }
            }
            Blocking::Trigram(criterion) => {
                let Test::Similarity { ref normalizer, .. } = rule.criteria[criterion].test else {
                    unreachable_blocking()
                };
                let field = if target_is_left {
                    &rule.criteria[criterion].left
                } else {
                    &rule.criteria[criterion].right
                };
                let grams: Vec<(u32, Vec<u64>)> = records
                    .par_iter()
                    .enumerate()
                    .filter(|(i, _)| available(*i))
                    .filter_map(|(i, record)| {
                        let text = normalizer.apply(record.text(field)?);
                        let mut out = Vec::new();
                        trigrams(&text, &mut out);
                        Some((i as u32, out))
                    })
                    .collect();
                let mut postings: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
                for (i, grams) in &grams {
                    for gram in grams {
                        postings.entry(*gram).or_default().push(*i);
                    }
                }
                let stop =
                    ((grams.len() as f64 * TRIGRAM_STOP_FRACTION) as usize).max(TRIGRAM_STOP_MIN);
                Self::Trigram {
                    criterion,
                    postings,
                    stop,
                    normalizer: normalizer.clone(),
                    rank,
                }
            }
        }
    }

    /// The candidates of every record of `probes` (indices into `records`, the side not
    /// indexed), appended to `out` as (probe, candidate) pairs in probe order, each probe's as
    /// [`Index::candidates`] gives them. A key index looks the probes up a block at a time
    /// (see [`KeyTable::touch_all`]); the others probe one by one. `candidates` is scratch.
    pub(crate) fn candidate_pairs(
        &self,
        rule: &Rule,
        records: &Records,
        probes: &[u32],
        probe_is_left: bool,
        candidates: &mut Vec<u32>,
        out: &mut Vec<(u32, u32)>,
    ) {
        let (criterion, table) = match self {
            Self::Key { criterion, table } => (criterion, table),
            Self::Amount {
                sorted: AmountKeys::Fixed { keys, indices, .. },
                ..
            } => {
                let bounds = |probe: u32| {
                    let amount = records.get(probe as usize).amount()?;
                    self.fixed_band(amount)
                };
                band_pairs(keys, |key| *key, |at| indices[at], probes, bounds, out);
                return;
            }
            Self::Date { sorted, .. } => {
                let bounds =
                    |probe: u32| self.date_band(records.get(probe as usize), probe_is_left);
                band_pairs(
                    sorted,
                    |(date, _)| *date,
                    |at| sorted[at].1,
                    probes,
                    bounds,
                    out,
                );
                return;
            }
            _ => {
                for &probe in probes {
                    self.candidates(rule, records.get(probe as usize), probe_is_left, candidates);
                    out.extend(candidates.iter().map(|&c| (probe, c)));
                }
                return;
            }
        };
        let criterion = &rule.criteria[*criterion];
        let mut keyed: Vec<(u32, u64, Cow<'_, str>)> = Vec::with_capacity(TOUCH_BLOCK);
        for block in probes.chunks(TOUCH_BLOCK) {
            keyed.clear();
            keyed.extend(block.iter().filter_map(|&probe| {
                let key = criterion.key(records.get(probe as usize), probe_is_left)?;
                Some((probe, key_hash(&key), key))
            }));
            table.touch_all(keyed.iter().map(|(_, hash, _)| *hash));
            for (probe, hash, key) in &keyed {
                candidates.clear();
                table.find_hashed(*hash, key, candidates);
                out.extend(candidates.iter().map(|&c| (*probe, c)));
            }
        }
    }

    /// Candidate indices on the indexed side for `probe` (on the other side), appended to
    /// `out` (cleared first). `rule` must be the rule the index was built for.
    pub(crate) fn candidates(
        &self,
        rule: &Rule,
        probe: RecordRef<'_>,
        probe_is_left: bool,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        match self {
            Self::Key { criterion, table } => {
                if let Some(key) = rule.criteria[*criterion].key(probe, probe_is_left) {
                    table.find(&key, out);
                }
            }
            Self::Amount {
                sorted,
                absolute,
                relative,
            } => {
                let Some(amount) = probe.amount() else { return };
                if let Some((low, high)) = self.fixed_band(amount) {
                    sorted.fixed_range(low, high, out);
                    return;
                }
                let width = band_width(amount, *absolute, *relative);
                sorted.range(amount - width, amount + width, out);
            }
            Self::Date { sorted, .. } => {
                let Some((low, high)) = self.date_band(probe, probe_is_left) else {
                    return;
                };
                let start = sorted.partition_point(|(d, _)| *d < low);
                out.extend(
                    sorted[start..]
                        .iter()
                        .take_while(|(d, _)| *d <= high)
                        .map(|(_, i)| *i),
                );
            }
            Self::Trigram {
                criterion,
                postings,
                stop,
                normalizer,
                rank,
            } => {
                let field = if probe_is_left {
                    &rule.criteria[*criterion].left
                } else {
                    &rule.criteria[*criterion].right
                };
                let Some(text) = probe.text(field) else {
                    return;
                };
                let mut grams = Vec::new();
                trigrams(&normalizer.apply(text), &mut grams);
                let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
                let mut informative = 0u32;
                for gram in &grams {
                    if let Some(list) = postings.get(gram).filter(|list| list.len() <= *stop) {
                        informative += 1;
                        for i in list {
                            *counts.entry(*i).or_default() += 1;
                        }
                    }
                }
                let needed = ((f64::from(informative) * 0.4).ceil() as u32).max(1);
                let mut ranked: Vec<(u32, u32)> =
                    counts.into_iter().filter(|(_, c)| *c >= needed).collect();
                ranked.sort_unstable_by(|a, b| {
                    b.1.cmp(&a.1)
                        .then(rank[a.0 as usize].cmp(&rank[b.0 as usize]))
                });
                out.extend(
                    ranked
                        .into_iter()
                        .take(TRIGRAM_MAX_CANDIDATES)
                        .map(|(i, _)| i),
                );
            }
        }
    }

    /// The fixed-point bounds of the amount band around `amount`, rounded outward to the keys'
    /// decimals; `None` when the index is not an amount band over fixed-point keys.
    fn fixed_band(&self, amount: Decimal) -> Option<(i64, i64)> {
        let Self::Amount {
            sorted,
            absolute,
            relative,
        } = self
        else {
            return None;
        };
        if relative.is_zero()
            && let Some(bounds) = sorted.fixed_around(amount, *absolute)
        {
            return Some(bounds);
        }
        let width = band_width(amount, *absolute, *relative);
        sorted.fixed_bounds(amount - width, amount + width)
    }

    /// The dates a probe's date window takes, inclusive; `None` when the index is not a date
    /// band or the probe has no date.
    fn date_band(
        &self,
        probe: RecordRef<'_>,
        probe_is_left: bool,
    ) -> Option<(NaiveDate, NaiveDate)> {
        let Self::Date {
            days, direction, ..
        } = self
        else {
            return None;
        };
        let date = probe.date()?;
        let window = Days::new(u64::from(*days));
        let before = date.checked_sub_days(window).unwrap_or(NaiveDate::MIN);
        let after = date.checked_add_days(window).unwrap_or(NaiveDate::MAX);
        // The window is defined as right − left; seen from a right probe it flips.
        Some(match (direction, probe_is_left) {
            (Direction::Both, _) => (before, after),
            (Direction::RightAfter, true) | (Direction::RightBefore, false) => (date, after),
            (Direction::RightBefore, true) | (Direction::RightAfter, false) => (before, date),
        })
    }
}

/// How far from `amount` the band reaches: wide enough for the relative part measured from
/// either amount ((abs + rel·|a|) / (1 − rel)); candidates are checked exactly afterwards.
fn band_width(amount: Decimal, absolute: Decimal, relative: Decimal) -> Decimal {
    (absolute + relative * amount.abs()) / (Decimal::ONE - relative)
}

/// The candidate pairs of a band index for every probe of `probes` that `bounds` gives a range
/// `[low, high]`: the records (`record(position)`) of the positions of `sorted` whose
/// `key` lies in it, appended to `out` in probe order, each probe's in key order.
///
/// The keys are far larger than the caches, and a binary search is a chain of about twenty
/// loads, each waiting for the one before. So the probes go [`TOUCH_BLOCK`] at a time and
/// their searches take each step together (see [`partition_points`]): the processor waits for
/// a block's loads at once, where searching one probe after the other waited for each in turn.
fn band_pairs<T, K: Ord + Copy>(
    sorted: &[T],
    key: impl Fn(&T) -> K,
    record: impl Fn(usize) -> u32,
    probes: &[u32],
    bounds: impl Fn(u32) -> Option<(K, K)>,
    out: &mut Vec<(u32, u32)>,
) {
    let mut banded: Vec<(u32, K, K)> = Vec::with_capacity(TOUCH_BLOCK);
    let mut starts: Vec<usize> = Vec::with_capacity(TOUCH_BLOCK);
    for block in probes.chunks(TOUCH_BLOCK) {
        banded.clear();
        banded.extend(
            block
                .iter()
                .filter_map(|&probe| bounds(probe).map(|(low, high)| (probe, low, high))),
        );
        partition_points(
            sorted,
            banded.len(),
            |item, at| key(item) < banded[at].1,
            &mut starts,
        );
        for (&(probe, _, high), &start) in banded.iter().zip(&starts) {
            let end = start
                + sorted[start..]
                    .iter()
                    .take_while(|item| key(item) <= high)
                    .count();
            out.extend((start..end).map(|at| (probe, record(at))));
        }
    }
}

/// For each of `queries` queries, the first position of `sorted` whose item is not
/// `below(item, query)` (what [`slice::partition_point`] gives), into `out`; `sorted` must be
/// partitioned for each query as `partition_point` requires.
///
/// Every search takes the same number of halving steps (branch-free: the next position is
/// computed, not branched to), and each step is taken for all queries before the next, so a
/// step's loads, independent of one another, are waited for together.
fn partition_points<T>(
    sorted: &[T],
    queries: usize,
    below: impl Fn(&T, usize) -> bool,
    out: &mut Vec<usize>,
) {
    out.clear();
    out.resize(queries, 0);
    if sorted.is_empty() {
        return;
    }
    // Invariant: each answer lies in [base, base + size], and base + size ≤ sorted.len().
    let mut size = sorted.len();
    while size > 1 {
        let half = size / 2;
        for (query, base) in out.iter_mut().enumerate() {
            *base += half * usize::from(below(&sorted[*base + half], query));
        }
        size -= half;
    }
    for (query, base) in out.iter_mut().enumerate() {
        *base += usize::from(below(&sorted[*base], query));
    }
}

/// Records whose keys one parallel task of [`KeyTable::build`] finds and hashes.
const BUILD_CHUNK: usize = 16 * 1024;

/// Keys whose home slots are read together before they are inserted or looked up.
const TOUCH_BLOCK: usize = 32;

/// Keys held in a table slot itself; a longer key is compared through `KeyTable::keys`.
const INLINE_KEY: usize = 16;

/// Set in a slot's length when more than one record has its key.
const SHARED: u64 = 1 << 63;

/// One slot of a [`KeyTable`], 32 bytes, half a cache line: the key's hash; the last record
/// inserted with the key plus one (0: the slot is empty) in the low half and the key's length
/// in bytes (with [`SHARED`]) in the high half; the key's bytes, zero-padded, when it has at
/// most [`INLINE_KEY`]. All zeros is an empty slot.
type KeySlot = [u64; 4];

/// The first [`INLINE_KEY`] bytes of `key`, zero-padded, as two words.
fn inline_key(key: &str) -> [u64; 2] {
    let mut bytes = [0u8; INLINE_KEY];
    let length = key.len().min(INLINE_KEY);
    bytes[..length].copy_from_slice(&key.as_bytes()[..length]);
    let (low, high) = bytes.split_at(8);
    [
        u64::from_le_bytes(low.try_into().unwrap_or_default()),
        u64::from_le_bytes(high.try_into().unwrap_or_default()),
    ]
}

/// The exact-key index: an open-addressing hash table (linear probing, at most half full)
/// from each key to the records that have it, chained through `next`, newest first.
///
/// A probe for a short key (references and invoice numbers are: at most [`INLINE_KEY`] bytes)
/// reads one slot and, when its key has one record, nothing else: the key is compared with
/// the slot's copy. A general hash map of borrowed strings read a control byte, a bucket and
/// the key's own allocation, three cache misses in tables far larger than the caches, and
/// that was most of an exact-key reconciliation's matching time.
///
/// The slots are split into one part per thread (a power of two), chosen by the hash's top
/// bits; probing wraps within a part. Each part is filled by its own thread, in record order,
/// so the build runs in parallel and gives the same table whatever the thread timing.
pub(crate) struct KeyTable<'a> {
    slots: Vec<KeySlot>,
    /// log2 of the number of parts.
    part_bits: u32,
    /// log2 of the slots per part.
    part_slot_bits: u32,
    /// Each record's key (for keys too long for a slot).
    keys: Vec<Option<Cow<'a, str>>>,
    /// The record inserted before each one with the same key. Each record is written by the
    /// one thread that fills its key's part (relaxed atomics: no ordering is needed, the
    /// build's threads are joined before any read).
    next: Vec<AtomicU32>,
}

fn key_hash(key: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// Most parts a key table is split into.
const MAX_PARTS: usize = 16;

/// Slots a part has at least.
const MIN_PART_SLOTS: usize = 16;

/// A key's (record, hash, key) as the build found it.
type KeyEntry<'a> = (u32, u64, Cow<'a, str>);

impl<'a> KeyTable<'a> {
    /// Indexes records `0..count` by `key_of(record)` (`None`: not indexed). Keys are found
    /// and hashed in parallel chunks, kept per chunk and per part of the table (no copy into
    /// one vector), and only the records that have one are visited after: a table for a few
    /// leftover records (breaks) costs what they do.
    pub(crate) fn build(
        count: usize,
        key_of: impl Fn(usize) -> Option<Cow<'a, str>> + Sync,
    ) -> Self {
        let parts = rayon::current_num_threads()
            .next_power_of_two()
            .clamp(1, MAX_PARTS);
        let part_bits = parts.trailing_zeros();
        // Per chunk of records, the entries of each part, in record order: each part's thread
        // then reads its own entries only (reading all of them and skipping the others' was
        // most of the fill's memory traffic).
        let mut chunks: Vec<Vec<Vec<KeyEntry<'a>>>> = (0..count.div_ceil(BUILD_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let mut by_part: Vec<Vec<KeyEntry<'a>>> = vec![Vec::new(); parts];
                for i in chunk * BUILD_CHUNK..((chunk + 1) * BUILD_CHUNK).min(count) {
                    if let Some(key) = key_of(i) {
                        let hash = key_hash(&key);
                        by_part[Self::part_of(hash, part_bits)].push((i as u32, hash, key));
                    }
                }
                by_part
            })
            .collect();
        let present: usize = chunks.iter().flatten().map(Vec::len).sum();
        let capacity = (present * 2)
            .max(parts * MIN_PART_SLOTS)
            .next_power_of_two();
        // The slots are zeroed by writing, in parallel, rather than taken as memory the system
        // zeroes lazily: the build reads each slot before it writes it (see `touch`), and a page
        // of fresh memory that is read first is mapped to the system's shared zero page, so the
        // write that follows faults a second time and flushes the page from every thread's TLB,
        // an interprocessor interrupt per page (a VM exit each on a virtual machine).
        let mut slots: Vec<KeySlot> = Vec::with_capacity(capacity);
        slots.par_extend(rayon::iter::repeat_n([0u64; 4], capacity));
        let mut table = Self {
            slots,
            part_bits,
            part_slot_bits: (capacity / parts).trailing_zeros(),
            next: (0..count).map(|_| AtomicU32::new(END)).collect(),
            keys: Vec::new(),
        };
        // Each record's key is kept only when some key is too long for a slot.
        if chunks
            .iter()
            .flatten()
            .flatten()
            .any(|(_, _, key)| key.len() > INLINE_KEY)
        {
            let mut keys: Vec<Option<Cow<'a, str>>> = vec![None; count];
            for (record, _, key) in chunks.iter_mut().flatten().flatten() {
                keys[*record as usize] = Some(std::mem::take(key));
            }
            table.fill(
                &chunks,
                |record, _| keys[record as usize].as_deref().unwrap_or_default(),
                &keys,
            );
            table.keys = keys;
        } else {
            table.fill(&chunks, |_, key| key, &[]);
        }
        table
    }

    /// Inserts every entry of `chunks` (per chunk, per part) into its part, each part by its
    /// own thread, in order; an entry's key is `key_of(record, key)`. `keys` holds each
    /// record's key when some key is longer than a slot's.
    fn fill<'k>(
        &mut self,
        chunks: &'k [Vec<Vec<KeyEntry<'a>>>],
        key_of: impl Fn(u32, &'k str) -> &'k str + Sync,
        keys: &[Option<Cow<'a, str>>],
    ) {
        let (part_bits, part_slot_bits) = (self.part_bits, self.part_slot_bits);
        let next = &self.next;
        self.slots
            .par_chunks_mut(1 << part_slot_bits)
            .enumerate()
            .for_each(|(part, slots)| {
                let home = |hash: u64| Self::home_in_part(hash, part_bits, part_slot_bits);
                for block in chunks
                    .iter()
                    .flat_map(|chunk| chunk[part].chunks(TOUCH_BLOCK))
                {
                    touch(slots, block.iter().map(|(_, hash, _)| home(*hash)));
                    for (index, hash, key) in block {
                        let key = key_of(*index, key);
                        let at = locate(slots, home(*hash), *hash, key, keys);
                        let slot = &mut slots[at];
                        let record = u64::from(*index) + 1;
                        if slot[1] == 0 {
                            let [low, high] = inline_key(key);
                            *slot = [*hash, record | ((key.len() as u64) << 32), low, high];
                        } else {
                            next[*index as usize]
                                .store((slot[1] as u32).wrapping_sub(1), Ordering::Relaxed);
                            slot[1] = (slot[1] & !u64::from(u32::MAX)) | record | SHARED;
                        }
                    }
                }
            });
    }

    /// The part a hash's key lives in: its top bits.
    fn part_of(hash: u64, part_bits: u32) -> usize {
        hash.checked_shr(64 - part_bits).unwrap_or(0) as usize
    }

    /// A hash's home slot within its part: the bits after the part's.
    fn home_in_part(hash: u64, part_bits: u32, part_slot_bits: u32) -> usize {
        ((hash << part_bits) >> (64 - part_slot_bits)) as usize
    }

    /// The slots of the part holding `hash`'s key, and the key's home slot in them.
    fn part(&self, hash: u64) -> (&[KeySlot], usize) {
        let part = Self::part_of(hash, self.part_bits);
        let length = 1 << self.part_slot_bits;
        (
            &self.slots[part * length..(part + 1) * length],
            Self::home_in_part(hash, self.part_bits, self.part_slot_bits),
        )
    }

    /// Reads the home slot of each hash and nothing else (see [`touch`]).
    fn touch_all(&self, hashes: impl Iterator<Item = u64>) {
        let sum = hashes.fold(0u64, |sum, hash| {
            let (slots, home) = self.part(hash);
            sum.wrapping_add(slots[home][1])
        });
        std::hint::black_box(sum);
    }

    /// Appends the records whose key is `key`, newest first.
    pub(crate) fn find(&self, key: &str, out: &mut Vec<u32>) {
        self.find_hashed(key_hash(key), key, out);
    }

    /// [`KeyTable::find`] for a key whose hash is known.
    fn find_hashed(&self, hash: u64, key: &str, out: &mut Vec<u32>) {
        let (slots, home) = self.part(hash);
        let slot = &slots[locate(slots, home, hash, key, &self.keys)];
        if slot[1] == 0 {
            return;
        }
        let mut at = (slot[1] as u32).wrapping_sub(1);
        if slot[1] & SHARED == 0 {
            out.push(at);
            return;
        }
        while at != END {
            out.push(at);
            at = self.next[at as usize].load(Ordering::Relaxed);
        }
    }
}

/// Reads the given slots and nothing else. The table is far larger than the caches, so each
/// slot is a cache miss; a loop that only loads lets the processor wait for a whole block of
/// them at once, where inserting or probing one key after the other waited for one miss at a
/// time (the table's build was a serial tenth of an exact-key run). The slots stay in cache
/// for the block's real work right after.
fn touch(slots: &[KeySlot], homes: impl Iterator<Item = usize>) {
    let sum = homes.fold(0u64, |sum, home| sum.wrapping_add(slots[home][1]));
    std::hint::black_box(sum);
}

/// The slot of `slots` (one part) holding `key`, or the empty slot where it would go, probing
/// from `home`.
fn locate(
    slots: &[KeySlot],
    home: usize,
    hash: u64,
    key: &str,
    keys: &[Option<Cow<'_, str>>],
) -> usize {
    let mask = slots.len() - 1;
    let mut at = home;
    let length = key.len() as u64;
    let inline = inline_key(key);
    loop {
        let slot = &slots[at];
        if slot[1] == 0 {
            return at;
        }
        if slot[0] == hash
            && (slot[1] >> 32) & !(SHARED >> 32) == length
            && slot[2..] == inline
            && (key.len() <= INLINE_KEY
                || keys[(slot[1] as u32 - 1) as usize].as_deref() == Some(key))
        {
            return at;
        }
        at = (at + 1) & mask;
    }
}

/// Amounts sorted for range queries. When every amount fits a common number of decimals as a
/// 64-bit integer (the usual case: money), they are kept as fixed-point integers, which sort
/// and compare several times faster than `Decimal`, with their records alongside; otherwise as
/// decimals.
pub(crate) enum AmountKeys {
    Fixed {
        scale: u32,
        keys: Vec<i64>,
        indices: Vec<u32>,
    },
    Exact(Vec<(Decimal, u32)>),
}

/// Most decimals the fixed-point form takes.
const MAX_FIXED_SCALE: u32 = 12;

fn to_fixed(amount: Decimal, scale: u32) -> Option<i128> {
    let shift = scale.checked_sub(amount.scale())?;
    amount.mantissa().checked_mul(10i128.checked_pow(shift)?)
}

fn to_fixed64(amount: Decimal, scale: u32) -> Option<i64> {
    to_fixed(amount, scale).and_then(|fixed| i64::try_from(fixed).ok())
}

impl AmountKeys {
    fn build(mut amounts: Vec<(Decimal, u32)>) -> Self {
        let scale = amounts.iter().map(|(a, _)| a.scale()).max().unwrap_or(0);
        if scale <= MAX_FIXED_SCALE {
            let fixed: Option<Vec<(i64, u32)>> = amounts
                .par_iter()
                .map(|(a, i)| to_fixed64(*a, scale).map(|k| (k, *i)))
                .collect();
            if let Some(mut sorted) = fixed {
                sorted.par_sort_unstable();
                let (keys, indices): (Vec<i64>, Vec<u32>) = sorted.into_iter().unzip();
                return Self::Fixed {
                    scale,
                    keys,
                    indices,
                };
            }
        }
        amounts.par_sort_unstable();
        Self::Exact(amounts)
    }

    /// The fixed-point bounds within `width` of `amount` (rounded outward to the keys'
    /// decimals), when both are exact in fixed point; otherwise `None`, and
    /// [`AmountKeys::fixed_bounds`] is the way. Saves the decimal arithmetic of every probe of
    /// a rule with an absolute tolerance only.
    fn fixed_around(&self, amount: Decimal, width: Decimal) -> Option<(i64, i64)> {
        let Self::Fixed { scale, .. } = self else {
            return None;
        };
        let width = width.round_dp_with_strategy(*scale, RoundingStrategy::ToPositiveInfinity);
        let (centre, width) = (to_fixed64(amount, *scale)?, to_fixed64(width, *scale)?);
        Some((centre.saturating_sub(width), centre.saturating_add(width)))
    }

    /// [low, high] in fixed point, rounded outward to the keys' decimals and clamped to the
    /// 64-bit range; `None` for decimal keys.
    fn fixed_bounds(&self, low: Decimal, high: Decimal) -> Option<(i64, i64)> {
        let Self::Fixed { scale, .. } = self else {
            return None;
        };
        let low = to_fixed(
            low.round_dp_with_strategy(*scale, RoundingStrategy::ToNegativeInfinity),
            *scale,
        );
        let high = to_fixed(
            high.round_dp_with_strategy(*scale, RoundingStrategy::ToPositiveInfinity),
            *scale,
        );
        let clamp = |fixed: i128| fixed.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
        Some((low.map_or(i64::MIN, clamp), high.map_or(i64::MAX, clamp)))
    }

    /// Appends the indices whose amount lies in [low, high].
    fn range(&self, low: Decimal, high: Decimal, out: &mut Vec<u32>) {
        match self {
            Self::Fixed { .. } => {
                if let Some((low, high)) = self.fixed_bounds(low, high) {
                    self.fixed_range(low, high, out);
                }
            }
            Self::Exact(sorted) => {
                let start = sorted.partition_point(|(a, _)| *a < low);
                out.extend(
                    sorted[start..]
                        .iter()
                        .take_while(|(a, _)| *a <= high)
                        .map(|(_, i)| *i),
                );
            }
        }
    }

    /// Appends the indices whose fixed-point amount lies in [low, high].
    fn fixed_range(&self, low: i64, high: i64, out: &mut Vec<u32>) {
        let Self::Fixed { keys, indices, .. } = self else {
            return;
        };
        let start = keys.partition_point(|key| *key < low);
        let end = start + keys[start..].iter().take_while(|key| **key <= high).count();
        out.extend_from_slice(&indices[start..end]);
    }
}

fn unreachable_blocking() -> ! {
    // rules::compile_rule only chooses a band or trigram blocking for a criterion of that test.
    panic!("blocking criterion does not match its test; rules validation guarantees it does")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn the_key_table_finds_exactly_the_records_with_the_key_newest_first() {
        // Short and long keys (over the 16 inline bytes), shared keys, keys that differ only
        // past byte 16, missing keys, and enough of them to wrap and collide in the table;
        // then short keys only (the table keeps no keys of its own).
        for with_long_keys in [true, false] {
            let mut keys: Vec<Option<String>> = Vec::new();
            // Several of the build's parallel chunks.
            for i in 0..(BUILD_CHUNK as u32 * 3 + 500) {
                keys.push(match i % 7 {
                    0 => None,
                    1 => Some(format!("REF{:05}", i % 300)),
                    2 if with_long_keys => {
                        Some(format!("a-rather-long-invoice-number-{}", i % 200))
                    }
                    3 if with_long_keys => Some(format!("exactly-16-bytes{}", i % 3)),
                    3 => Some(format!("exactly-16-byte{}", i % 3)),
                    4 => Some(format!("{:016}", i % 50)),
                    _ => Some(format!("k{i}")),
                });
            }
            assert_eq!(
                keys.iter().flatten().any(|k| k.len() > INLINE_KEY),
                with_long_keys
            );
            // One part, and several filled at once (the part count follows the threads).
            for threads in [1, 3, 8] {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a thread pool")
                    .install(|| key_table_finds(&keys));
            }
        }
    }

    fn key_table_finds(keys: &[Option<String>]) {
        let table = KeyTable::build(keys.len(), |i| keys[i].as_deref().map(Cow::Borrowed));
        let mut probes: Vec<String> = keys.iter().flatten().cloned().collect();
        probes.extend(
            ["", "REF99999", "exactly-16-bytes", "exactly-16-bytes9", "k"].map(String::from),
        );
        // Each key's records, newest first, by a plain scan.
        let mut expected: FxHashMap<&str, Vec<u32>> = FxHashMap::default();
        for (i, key) in keys.iter().enumerate().rev() {
            if let Some(key) = key {
                expected.entry(key).or_default().push(i as u32);
            }
        }
        let mut found = Vec::new();
        for probe in &probes {
            found.clear();
            table.find(probe, &mut found);
            let expected = expected.get(probe.as_str()).cloned().unwrap_or_default();
            assert_eq!(found, expected, "{probe:?}");
        }
    }

    fn range(keys: &AmountKeys, low: &str, high: &str) -> Vec<u32> {
        let mut out = Vec::new();
        keys.range(d(low), d(high), &mut out);
        out.sort_unstable();
        out
    }

    /// The band only proposes candidates (each is then checked exactly), so rounding the bounds
    /// outward may add a neighbour at the edge but must never lose one.
    #[test]
    fn fixed_point_keys_never_miss_what_decimals_find_across_scales_and_signs() {
        let amounts = ["-1.5", "2", "2.00", "0.125", "-0.001", "100"];
        let indexed: Vec<(Decimal, u32)> = amounts
            .iter()
            .enumerate()
            .map(|(i, a)| (d(a), i as u32))
            .collect();
        let fixed = AmountKeys::build(indexed.clone());
        assert!(matches!(fixed, AmountKeys::Fixed { scale: 3, .. }));
        let exact = AmountKeys::Exact({
            let mut sorted = indexed;
            sorted.sort_unstable();
            sorted
        });
        for (low, high) in [
            ("2", "2"),
            ("-1.5", "0"),
            ("-0.0015", "0.1249"),
            ("0.1245", "2.0001"),
            ("-1000", "1000"),
            ("1.99999", "1.99999"),
        ] {
            let (found, expected) = (range(&fixed, low, high), range(&exact, low, high));
            assert!(
                expected.iter().all(|i| found.contains(i)),
                "[{low}, {high}]: {found:?} lacks some of {expected:?}"
            );
            let unit = d("0.001");
            for extra in found.iter().filter(|i| !expected.contains(i)) {
                let amount = d(amounts[*extra as usize]);
                assert!(
                    amount >= d(low) - unit && amount <= d(high) + unit,
                    "[{low}, {high}]: {amount} is beyond the rounding edge"
                );
            }
        }
        assert_eq!(range(&fixed, "2", "2"), vec![1, 2]);
    }

    /// The fixed-point shortcut for absolute tolerances finds what the decimal bounds find,
    /// over a thousand keys.
    #[test]
    fn ranges_around_an_amount_agree_with_decimal_bounds() {
        let indexed: Vec<(Decimal, u32)> = (0..1000u32)
            .map(|i| (Decimal::new(i64::from(i) * 7 - 2000, 2), i))
            .collect();
        let keys = AmountKeys::build(indexed);
        assert!(matches!(keys, AmountKeys::Fixed { scale: 2, .. }));
        for centre in [
            "-20.00", "-19.99", "0", "0.07", "4.48", "49.93", "50", "100",
        ] {
            for width in ["0", "0.01", "0.005", "0.07", "1.5", "1000"] {
                let (centre, width) = (d(centre), d(width));
                let mut around = Vec::new();
                let (low, high) = keys.fixed_around(centre, width).expect("exact bounds");
                keys.fixed_range(low, high, &mut around);
                around.sort_unstable();
                let mut bounded = Vec::new();
                keys.range(centre - width, centre + width, &mut bounded);
                bounded.sort_unstable();
                assert_eq!(around, bounded, "{centre} ± {width}");
            }
        }
        assert!(
            keys.fixed_around(d("0.001"), d("1")).is_none(),
            "a centre finer than the keys takes the decimal path"
        );
    }

    /// The searches taken a step at a time for many queries give what `partition_point` gives
    /// one by one: empty and one-item slices, runs of equal keys, queries before the first key,
    /// on keys, between them and past the last.
    #[test]
    fn partition_points_agree_with_partition_point() {
        let mut out = Vec::new();
        for length in [0usize, 1, 2, 3, 7, 8, 9, 100, 1000] {
            let sorted: Vec<i64> = (0..length as i64).map(|i| i / 3 * 2).collect();
            let queries: Vec<i64> = (-3..length as i64 + 3).collect();
            partition_points(
                &sorted,
                queries.len(),
                |key, at| *key < queries[at],
                &mut out,
            );
            let expected: Vec<usize> = queries
                .iter()
                .map(|q| sorted.partition_point(|key| key < q))
                .collect();
            assert_eq!(out, expected, "length {length}");
        }
    }

    /// A block of band probes finds exactly the records a plain filter finds, each probe's in
    /// key order, and probes without bounds find nothing.
    #[test]
    fn band_pairs_find_every_record_in_each_probes_range() {
        let sorted: Vec<(i64, u32)> = {
            let mut items: Vec<(i64, u32)> = (0..500u32)
                .map(|i| ((i64::from(i) * 37) % 101, i))
                .collect();
            items.sort_unstable();
            items
        };
        // More probes than one block; every third has no bounds.
        let probes: Vec<u32> = (0..100).collect();
        let bounds = |probe: u32| {
            (!probe.is_multiple_of(3)).then(|| {
                (
                    i64::from(probe) - 10,
                    i64::from(probe) + i64::from(probe % 4),
                )
            })
        };
        let mut out = Vec::new();
        band_pairs(
            &sorted,
            |(key, _)| *key,
            |at| sorted[at].1,
            &probes,
            bounds,
            &mut out,
        );
        let expected: Vec<(u32, u32)> = probes
            .iter()
            .filter_map(|&probe| bounds(probe).map(|range| (probe, range)))
            .flat_map(|(probe, (low, high))| {
                sorted
                    .iter()
                    .filter(move |(key, _)| (low..=high).contains(key))
                    .map(move |(_, record)| (probe, *record))
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(out, expected);
    }

    #[test]
    fn too_many_decimals_fall_back_to_exact_keys() {
        let keys = AmountKeys::build(vec![(d("0.0000000000001"), 0), (d("1"), 1)]);
        assert!(matches!(keys, AmountKeys::Exact(_)));
        assert_eq!(range(&keys, "0", "0.5"), vec![0]);
    }
}
