//! The sidecar index (`FORMAT.md` section 3): per-key forward lists of
//! record offsets, and time checkpoints. Built in one pass, extended
//! incrementally when the log grows, detected as stale when it no longer
//! matches, and never required.
//!
//! Every section is an aligned array of fixed-width little-endian
//! integers, so a loaded index is the file's map itself: nothing is
//! decoded or copied, and a query at a time binary-searches each key's
//! list in place.

use std::path::{Path, PathBuf};

mod build;

use super::format::HEADER_LEN;
use super::reader::LogReader;
use crate::error::{Error, Result};
use crate::map::{MappedFile, Mode};

/// The bytes an index starts with.
pub const MAGIC: [u8; 8] = *b"MAPIOIDX";
/// The index format version.
pub const VERSION: u32 = 4;
/// Length of the index header.
pub const HEADER: usize = 128;
/// The most checkpoints an index keeps.
pub const MAX_CHECKPOINTS: usize = 4096;

/// Byte offsets of the header fields (FORMAT.md section 3).
pub mod field {
    /// `log_created_ns`
    pub const CREATED: usize = 16;
    /// `covered`
    pub const COVERED: usize = 24;
    /// `last_offset`
    pub const LAST_OFFSET: usize = 32;
    /// `last_word1`
    pub const LAST_WORD1: usize = 40;
    /// `records`
    pub const RECORDS: usize = 48;
    /// `n_keys`
    pub const N_KEYS: usize = 56;
    /// `n_entries`
    pub const N_ENTRIES: usize = 64;
    /// `n_checkpoints`
    pub const N_CPS: usize = 72;
    /// `min_time`
    pub const MIN_TIME: usize = 80;
    /// `max_time`
    pub const MAX_TIME: usize = 88;
    /// `flags`
    pub const FLAGS: usize = 96;
    /// `width` (bytes of an entry: 4 or 8)
    pub const WIDTH: usize = 104;
    /// `n_unordered`
    pub const N_UNORDERED: usize = 112;
    /// `crc`
    pub const CRC: usize = 124;
}
use field::*;

/// A time checkpoint: records before `prefix_end` have time `<= time`;
/// records from `suffix_start` on have time `> time`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checkpoint {
    /// The time.
    pub time: f64,
    /// Every record that starts below this offset has time `<= time`.
    pub prefix_end: u64,
    /// Every record that starts at or after this offset has time `> time`.
    pub suffix_start: u64,
}

/// Where an index's bytes live.
enum Store {
    /// Built in memory, as 8-byte words (every section is aligned).
    Owned(Vec<u64>),
    /// A loaded index file, mapped read-only.
    Mapped(Box<MappedFile>),
}

impl Store {
    fn bytes(&self) -> &[u8] {
        match self {
            Store::Owned(w) => bytemuck::cast_slice(w),
            Store::Mapped(m) => m.as_slice(),
        }
    }
}

/// The sizes of an index's sections; their places follow from them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    n_keys: usize,
    n_entries: usize,
    /// Entries are 8 bytes wide (a log past 32 GiB), else 4.
    wide: bool,
    n_cps: usize,
    n_unordered: usize,
}

impl Layout {
    fn width(&self) -> usize {
        if self.wide { 8 } else { 4 }
    }

    fn starts_at(&self) -> usize {
        HEADER + 8 * self.n_keys
    }

    fn entries_at(&self) -> usize {
        self.starts_at() + 8 * (self.n_keys + 1)
    }

    fn cps_at(&self) -> usize {
        self.entries_at() + (self.n_entries * self.width()).next_multiple_of(8)
    }

    fn unordered_at(&self) -> usize {
        self.cps_at() + 24 * self.n_cps
    }

    /// The file length, or `None` if the sizes overflow (a crafted header).
    fn checked_len(&self) -> Option<usize> {
        let w = self.width();
        HEADER
            .checked_add(self.n_keys.checked_mul(8)?)?
            .checked_add(self.n_keys.checked_add(1)?.checked_mul(8)?)?
            .checked_add(self.n_entries.checked_mul(w)?.checked_next_multiple_of(8)?)?
            .checked_add(self.n_cps.checked_mul(24)?)?
            .checked_add(self.n_unordered.checked_mul(8)?)
    }
}

/// The entries section of an index being assembled.
enum EntrySink<'a> {
    Narrow(&'a mut [u32]),
    Wide(&'a mut [u64]),
}

impl EntrySink<'_> {
    /// Sets entry `n` to `v` (an offset / 8, which fits the width: the
    /// width follows from what the index covers).
    fn set(&mut self, n: usize, v: u64) {
        match self {
            EntrySink::Narrow(e) => e[n] = (v as u32).to_le(),
            EntrySink::Wide(e) => e[n] = v.to_le(),
        }
    }
}

/// One key's list: record offsets divided by 8, increasing.
#[derive(Clone, Copy)]
enum List<'a> {
    Narrow(&'a [u32]),
    Wide(&'a [u64]),
}

impl List<'_> {
    fn len(&self) -> usize {
        match self {
            List::Narrow(l) => l.len(),
            List::Wide(l) => l.len(),
        }
    }

    /// The offset of entry `j` (`j < len`).
    fn offset(&self, j: usize) -> u64 {
        8 * match self {
            List::Narrow(l) => u64::from(l[j]),
            List::Wide(l) => l[j],
        }
    }

    fn offsets(self) -> impl Iterator<Item = u64> {
        (0..self.len()).map(move |j| self.offset(j))
    }
}

/// A sidecar index of one log.
pub struct Index {
    store: Store,
    layout: Layout,
    fields: Fields,
    checkpoints: Vec<Checkpoint>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("covered", &self.fields.covered)
            .field("records", &self.fields.records)
            .field("keys", &self.layout.n_keys)
            .field("checkpoints", &self.checkpoints.len())
            .field("unordered", &self.layout.n_unordered)
            .field("mapped", &matches!(self.store, Store::Mapped(_)))
            .finish()
    }
}

/// Two indexes are equal when their files would be.
impl PartialEq for Index {
    fn eq(&self, other: &Index) -> bool {
        self.store.bytes() == other.store.bytes()
    }
}

/// What [`Index::load`] found.
#[derive(Debug)]
pub enum IndexState {
    /// The index matches the log (it may cover only a prefix of a log
    /// that grew since; see [`Index::covered`]).
    Fresh(Index),
    /// There is an index, but for another log, or damaged: why.
    Stale(String),
    /// There is no index file.
    Missing,
}

/// Progress of a long operation: `(bytes done, bytes in all)`.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// What an index says besides its lists and checkpoints (its header).
#[derive(Clone, Copy)]
struct Fields {
    log_created_ns: u64,
    covered: u64,
    last_offset: u64,
    last_word1: u64,
    records: u64,
    min_time: f64,
    max_time: f64,
    /// Every distinct time of the log is a checkpoint (none were dropped
    /// to keep the index small).
    complete: bool,
    /// The scans that built the index stepped over damage in what it
    /// covers: records there are missing from it (and from the log).
    damaged: bool,
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The CRC an index file carries: its header up to the field, then every
/// section.
fn index_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&bytes[..CRC]), &bytes[HEADER..])
}

/// Whether every list of `entries` (split at `starts`) is strictly
/// increasing and every entry lies in `lo..hi`. Written as whole-array
/// passes over same-width integers without early exits, which the
/// compiler vectorises: a loaded index of ten million records is checked
/// in a few milliseconds.
fn lists_valid<T: Copy + Ord + TryFrom<u64> + Bounded>(
    starts: &[u64],
    entries: &[T],
    lo: u64,
    hi: u64,
) -> bool {
    // Bounds in the entries' own width: `lo..=last`.
    let (Ok(lo), Some(last)) = (T::try_from(lo), hi.checked_sub(1)) else {
        return entries.is_empty();
    };
    let last = T::try_from(last).unwrap_or(T::MAX);
    let out_of_range = entries
        .iter()
        .fold(false, |bad, &e| bad | (e < lo) | (e > last));
    // Steps that do not increase: allowed only where a list ends.
    let flat: usize = entries
        .iter()
        .zip(entries.get(1..).unwrap_or(&[]))
        .map(|(a, b)| usize::from(a >= b))
        .sum();
    let interior = starts.get(1..starts.len().saturating_sub(1)).unwrap_or(&[]);
    let base = starts.first().map_or(0, |&s| s as usize);
    let between: usize = interior
        .iter()
        .map(|&s| {
            let s = s as usize - base;
            usize::from(entries[s - 1] >= entries[s])
        })
        .sum();
    !out_of_range && flat == between
}

/// [`lists_valid`] on up to `threads` threads, each for a run of whole
/// lists of at least `min` entries (`starts` must already be checked:
/// from 0 to the entries' count, increasing).
fn lists_valid_split<T: Copy + Ord + TryFrom<u64> + Bounded + Sync>(
    starts: &[u64],
    entries: &[T],
    lo: u64,
    hi: u64,
    threads: usize,
    min: usize,
) -> bool {
    let n = threads.clamp(1, (entries.len() / min.max(1)).max(1));
    if n == 1 {
        return lists_valid(starts, entries, lo, hi);
    }
    // Run j: the lists from the one where entry j * len / n falls.
    let mut cuts: Vec<usize> = (0..n)
        .map(|j| starts.partition_point(|&s| (s as usize) <= j * entries.len() / n) - 1)
        .collect();
    cuts.push(starts.len() - 1);
    cuts.dedup();
    std::thread::scope(|sc| {
        let runs: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let starts = &starts[w[0]..=w[1]];
                let run = &entries[starts[0] as usize..starts[starts.len() - 1] as usize];
                sc.spawn(move || lists_valid(starts, run, lo, hi))
            })
            .collect();
        runs.into_iter().all(|h| h.join().unwrap_or(false))
    })
}

impl Index {
    /// The path of a log's index: `LOG.idx` next to it, or in `dir`.
    pub fn path_for(log: &Path, dir: Option<&Path>) -> PathBuf {
        let name = format!(
            "{}.idx",
            log.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        match dir {
            Some(d) => d.join(name),
            None => log.with_file_name(name),
        }
    }

    /// Builds the index of everything committed in the log, in one pass,
    /// in memory in proportion to the index (about 12 bytes a record with
    /// a key and a few dozen a key while it runs, whatever the number of
    /// distinct times), not to the log.
    pub fn build(reader: &LogReader, progress: Option<Progress<'_>>) -> Result<Index> {
        Index::empty(reader).extend(reader, progress)
    }

    /// The index of none of the log's records.
    fn empty(reader: &LogReader) -> Index {
        let fields = Fields {
            log_created_ns: reader.header().created_ns,
            covered: HEADER_LEN,
            last_offset: 0,
            last_word1: 0,
            records: 0,
            min_time: f64::NAN,
            max_time: f64::NAN,
            complete: true,
            damaged: false,
        };
        Index::assemble(fields, &[], &[0], 0, |_| {}, &[], &[])
    }

    /// An index in memory from its parts: `starts` has one more element
    /// than `keys`, `fill` sets each of the `n_entries` entries (offsets
    /// / 8, written in place in the index's own buffer), and `unordered`
    /// are the keys whose lists are not in time order.
    fn assemble(
        fields: Fields,
        keys: &[u64],
        starts: &[u64],
        n_entries: usize,
        fill: impl FnOnce(&mut EntrySink<'_>),
        checkpoints: &[Checkpoint],
        unordered: &[u64],
    ) -> Index {
        let layout = Layout {
            n_keys: keys.len(),
            n_entries,
            wide: fields.covered.div_ceil(8) > u64::from(u32::MAX),
            n_cps: checkpoints.len(),
            n_unordered: unordered.len(),
        };
        let len = layout.checked_len().expect("an index that fits in memory");
        let mut words = vec![0u64; len / 8];
        {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
            let mut put = |at: usize, v: u64| bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
            put(0, u64::from_le_bytes(MAGIC));
            put(8, u64::from(VERSION));
            put(CREATED, fields.log_created_ns);
            put(COVERED, fields.covered);
            put(LAST_OFFSET, fields.last_offset);
            put(LAST_WORD1, fields.last_word1);
            put(RECORDS, fields.records);
            put(N_KEYS, keys.len() as u64);
            put(N_ENTRIES, n_entries as u64);
            put(N_CPS, checkpoints.len() as u64);
            put(MIN_TIME, fields.min_time.to_bits());
            put(MAX_TIME, fields.max_time.to_bits());
            put(
                FLAGS,
                u64::from(fields.complete) | (u64::from(fields.damaged) << 1),
            );
            put(WIDTH, layout.width() as u64);
            put(N_UNORDERED, unordered.len() as u64);
            for (n, &k) in keys.iter().enumerate() {
                put(HEADER + 8 * n, k);
            }
            for (n, &s) in starts.iter().enumerate() {
                put(layout.starts_at() + 8 * n, s);
            }
            for (n, c) in checkpoints.iter().enumerate() {
                let at = layout.cps_at() + 24 * n;
                put(at, c.time.to_bits());
                put(at + 8, c.prefix_end);
                put(at + 16, c.suffix_start);
            }
            for (n, &k) in unordered.iter().enumerate() {
                put(layout.unordered_at() + 8 * n, k);
            }
            let at = layout.entries_at();
            let section = &mut bytes[at..at + layout.n_entries * layout.width()];
            // The section starts at a multiple of 8 in a buffer of words.
            fill(&mut if layout.wide {
                EntrySink::Wide(bytemuck::cast_slice_mut(section))
            } else {
                EntrySink::Narrow(bytemuck::cast_slice_mut(section))
            });
            let crc = index_crc(bytes);
            bytes[CRC..CRC + 4].copy_from_slice(&crc.to_le_bytes());
        }
        Index {
            store: Store::Owned(words),
            layout,
            fields,
            checkpoints: checkpoints.to_vec(),
        }
    }

    /// [`assemble`](Self::assemble) with the entries given whole.
    #[cfg(test)]
    fn from_lists(
        fields: Fields,
        keys: &[u64],
        starts: &[u64],
        entries: &[u64],
        checkpoints: &[Checkpoint],
        unordered: &[u64],
    ) -> Index {
        let fill = |sink: &mut EntrySink<'_>| {
            for (n, &e) in entries.iter().enumerate() {
                sink.set(n, e);
            }
        };
        Index::assemble(
            fields,
            keys,
            starts,
            entries.len(),
            fill,
            checkpoints,
            unordered,
        )
    }

    /// Whether the scans that built the index stepped over damage in what
    /// it covers (records there are missing from the index, and from the
    /// answers of queries; `mapio verify` says where).
    pub fn damaged(&self) -> bool {
        self.fields.damaged
    }

    /// Every record that starts below this offset is indexed.
    pub fn covered(&self) -> u64 {
        self.fields.covered
    }

    /// Data records indexed.
    pub fn records(&self) -> u64 {
        self.fields.records
    }

    /// Distinct keys indexed, sorted.
    pub fn keys(&self) -> &[u64] {
        let at = HEADER;
        bytemuck::cast_slice(&self.store.bytes()[at..at + 8 * self.layout.n_keys])
    }

    /// The keys whose records are not all in time order in the file (a
    /// record without a time, or one earlier than a record before it):
    /// for them the checkpoints say nothing, and a query reads every
    /// record of the list. Sorted.
    pub fn unordered(&self) -> &[u64] {
        let at = self.layout.unordered_at();
        bytemuck::cast_slice(&self.store.bytes()[at..at + 8 * self.layout.n_unordered])
    }

    /// Where each key's list starts in the entries (one more than keys).
    fn starts(&self) -> &[u64] {
        let at = self.layout.starts_at();
        bytemuck::cast_slice(&self.store.bytes()[at..at + 8 * (self.layout.n_keys + 1)])
    }

    /// Every list, one after the other.
    fn entries(&self) -> List<'_> {
        let at = self.layout.entries_at();
        let bytes = &self.store.bytes()[at..at + self.layout.n_entries * self.layout.width()];
        if self.layout.wide {
            List::Wide(bytemuck::cast_slice(bytes))
        } else {
            List::Narrow(bytemuck::cast_slice(bytes))
        }
    }

    /// The time checkpoints.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// Smallest and largest time, if any record has one.
    pub fn time_range(&self) -> Option<(f64, f64)> {
        (!self.fields.min_time.is_nan()).then_some((self.fields.min_time, self.fields.max_time))
    }

    /// The list of key number `i`.
    fn list(&self, i: usize) -> List<'_> {
        let starts = self.starts();
        let (a, b) = (starts[i] as usize, starts[i + 1] as usize);
        match self.entries() {
            List::Narrow(l) => List::Narrow(&l[a..b]),
            List::Wide(l) => List::Wide(&l[a..b]),
        }
    }

    /// The offsets of every record of `key`, in file order.
    pub fn offsets(&self, key: u64) -> Vec<u64> {
        match self.keys().binary_search(&key) {
            Ok(i) => self.list(i).offsets().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Calls `f(key, offsets)` for every key, in key order.
    pub fn for_each_key(&self, mut f: impl FnMut(u64, &[u64])) {
        let mut buf = Vec::new();
        for (i, &k) in self.keys().iter().enumerate() {
            buf.clear();
            buf.extend(self.list(i).offsets());
            f(k, &buf);
        }
    }

    /// Calls `f(key, before, from, then)` for every key, in key order: the
    /// offset of the key's last record below `below`, of its first record
    /// at or after `from`, and of the record after that one (`None` where
    /// there is none: a query that interpolates checks it for a record
    /// at the same time, e.g. a step written again after a restart). Two
    /// binary searches in each list, in place: a query at a time touches a
    /// few bytes per key.
    /// Only the keys at positions `keys` (in [`keys`](Self::keys)) are
    /// visited: threads of a query each take a run.
    pub fn around(
        &self,
        keys: std::ops::Range<usize>,
        below: u64,
        from: u64,
        mut f: impl FnMut(u64, Option<u64>, Option<u64>, Option<u64>),
    ) {
        let n = self.layout.n_keys;
        let keys = keys.start.min(n)..keys.end.clamp(keys.start.min(n), n);
        let starts = &self.starts()[keys.start..keys.end + 1];
        let keys = &self.keys()[keys];
        match self.entries() {
            List::Narrow(e) => around_in(keys, starts, e, below, from, &mut f),
            List::Wide(e) => around_in(keys, starts, e, below, from, &mut f),
        }
    }

    /// The checkpoint bounds for a query at time `t`: records below the
    /// first offset have time `<= t`; records with time `<= t` all start
    /// below the second (within what the index covers).
    pub fn bounds(&self, t: f64) -> (u64, u64) {
        let cps = &self.checkpoints;
        let lo = cps.partition_point(|c| c.time <= t);
        let prefix_end = if lo == 0 {
            HEADER_LEN
        } else {
            cps[lo - 1].prefix_end
        };
        // With every distinct time a checkpoint, no record has a time in
        // (t_c, t]: the records with time <= t are those with time <= t_c.
        let suffix = if self.fields.complete && lo > 0 {
            Some(&cps[lo - 1])
        } else {
            cps.get(cps.partition_point(|c| c.time < t))
        };
        let suffix_start = suffix.map_or(self.fields.covered, |c| c.suffix_start);
        (prefix_end, suffix_start.max(prefix_end))
    }

    /// Bytes of the index file.
    pub fn encode(&self) -> Vec<u8> {
        self.store.bytes().to_vec()
    }

    /// Reads an index file's bytes; `Err(why)` if damaged.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Index, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err("index sections do not match its length".into());
        }
        let mut words = vec![0u64; bytes.len() / 8];
        bytemuck::cast_slice_mut(&mut words).copy_from_slice(bytes);
        Index::from_store(Store::Owned(words))
    }

    /// Checks an index file's bytes wherever they are, and keeps them
    /// there.
    fn from_store(store: Store) -> std::result::Result<Index, String> {
        let bytes = store.bytes();
        if bytes.len() < HEADER || bytes[0..8] != MAGIC {
            return Err("not a mapio index".into());
        }
        let version = u64_at(bytes, 8) as u32;
        if version != VERSION {
            return Err(format!("index version {version} is not supported"));
        }
        if index_crc(bytes).to_le_bytes() != bytes[CRC..CRC + 4] {
            return Err("index checksum mismatch (damaged)".into());
        }
        let wide = match u64_at(bytes, WIDTH) {
            4 => false,
            8 => true,
            w => return Err(format!("index entries {w} bytes wide")),
        };
        let size = |at: usize| usize::try_from(u64_at(bytes, at)).unwrap_or(usize::MAX);
        let layout = Layout {
            n_keys: size(N_KEYS),
            n_entries: size(N_ENTRIES),
            wide,
            n_cps: size(N_CPS),
            n_unordered: size(N_UNORDERED),
        };
        if layout.checked_len() != Some(bytes.len()) {
            return Err("index sections do not match its length".into());
        }
        let fields = Fields {
            log_created_ns: u64_at(bytes, CREATED),
            covered: u64_at(bytes, COVERED),
            last_offset: u64_at(bytes, LAST_OFFSET),
            last_word1: u64_at(bytes, LAST_WORD1),
            records: u64_at(bytes, RECORDS),
            min_time: f64::from_bits(u64_at(bytes, MIN_TIME)),
            max_time: f64::from_bits(u64_at(bytes, MAX_TIME)),
            complete: u64_at(bytes, FLAGS) & 1 == 1,
            damaged: u64_at(bytes, FLAGS) & 2 == 2,
        };
        let checkpoints = (0..layout.n_cps)
            .map(|n| {
                let at = layout.cps_at() + 24 * n;
                Checkpoint {
                    time: f64::from_bits(u64_at(bytes, at)),
                    prefix_end: u64_at(bytes, at + 8),
                    suffix_start: u64_at(bytes, at + 16),
                }
            })
            .collect();
        let idx = Index {
            store,
            layout,
            fields,
            checkpoints,
        };
        idx.check_lists()?;
        Ok(idx)
    }

    /// The key table is sorted and every key has a list; every list is
    /// strictly increasing inside what the index covers. A crafted index
    /// cannot list a record twice, point outside the log, or send a
    /// binary search astray.
    fn check_lists(&self) -> std::result::Result<(), String> {
        let keys = self.keys();
        let starts = self.starts();
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err("index key table is not ordered".into());
        }
        if self.unordered().windows(2).any(|w| w[0] >= w[1]) {
            return Err("index list of keys out of time order is not ordered".into());
        }
        if starts.first() != Some(&0)
            || starts.windows(2).any(|w| w[0] >= w[1])
            || starts.last() != Some(&(self.layout.n_entries as u64))
        {
            return Err("index key without records, or lists out of order".into());
        }
        if self.layout.n_entries as u64 > self.fields.records {
            return Err("index lists more records than it counts".into());
        }
        let (lo, hi) = (HEADER_LEN / 8, self.fields.covered.div_ceil(8));
        // Ten million entries are checked on two cores in half the time.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let ok = match self.entries() {
            List::Narrow(l) => lists_valid_split(starts, l, lo, hi, threads, 1 << 20),
            List::Wide(l) => lists_valid_split(starts, l, lo, hi, threads, 1 << 20),
        };
        if !ok {
            return Err(
                "index lists an offset twice, out of order, or outside what it covers".into(),
            );
        }
        Ok(())
    }

    /// Writes the index to `path` atomically (a temporary file, written
    /// through a mapio map with its space reserved, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.store.bytes();
        // A fresh name, created exclusively (O_EXCL: never through a
        // symbolic link someone planted there); what an earlier build
        // killed half-way left beside it goes first.
        if let Some(dir) = path.parent() {
            crate::map::remove_temporaries(dir, None);
        }
        let tmp = crate::map::temp_path_beside(path, "index");
        let write = || -> Result<()> {
            let mut f = MappedFile::options()
                .mode(Mode::Create)
                .create_new(true)
                .nofollow(true)
                .len(bytes.len() as u64)
                .open(&tmp)?;
            f.as_mut_slice()?.copy_from_slice(bytes);
            f.close()?;
            std::fs::rename(&tmp, path).map_err(|e| Error::io(path, "rename", e))
        };
        // All or nothing: a failure leaves no temporary file behind, and
        // the error names the index, not the temporary file.
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.for_path(path)
        })
    }

    /// Loads the index at `path` for the log `reader` reads, checking that
    /// it still matches. The file is mapped, not read: a query touches
    /// only the pages it needs (an index is replaced by renaming a new
    /// file over it, never rewritten in place, so the map stays valid).
    pub fn load(reader: &LogReader, path: &Path) -> Result<IndexState> {
        // Only a regular file of a plausible size is read (never a FIFO
        // or a device, never more than the log could need).
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IndexState::Missing),
            Err(e) => return Err(Error::io(path, "stat", e)),
        };
        if !meta.is_file() {
            return Ok(IndexState::Stale(
                "the index path is not a regular file".into(),
            ));
        }
        if meta.len() < HEADER as u64 {
            return Ok(IndexState::Stale("not a mapio index".into()));
        }
        let log_len = std::fs::metadata(reader.path())
            .map(|m| m.len())
            .unwrap_or(0);
        if meta.len() > log_len.saturating_add(64 << 20) {
            return Ok(IndexState::Stale(
                "the index is larger than its log could need".into(),
            ));
        }
        let map = match MappedFile::options()
            .mode(Mode::ReadOnly)
            .populate(true)
            .open(path)
        {
            Ok(m) => m,
            Err(Error::Locked { .. }) => {
                return Ok(IndexState::Stale(
                    "the index is locked by another process".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        let idx = match Index::from_store(Store::Mapped(Box::new(map))) {
            Ok(i) => i,
            Err(why) => return Ok(IndexState::Stale(why)),
        };
        if idx.fields.log_created_ns != reader.header().created_ns {
            return Ok(IndexState::Stale("the index belongs to another log".into()));
        }
        let last_word1 = idx
            .fields
            .last_offset
            .checked_add(8)
            .map(|o| reader.word_at(o));
        if idx.fields.last_offset != 0 && last_word1 != Some(idx.fields.last_word1) {
            return Ok(IndexState::Stale(
                "the log no longer holds the last record the index covers".into(),
            ));
        }
        Ok(IndexState::Fresh(idx))
    }

    /// Builds the index anew from the log, whatever is at `path`, and
    /// saves it; returns it and `"rebuilt: on request"`.
    pub fn rebuild(
        reader: &LogReader,
        path: &Path,
        progress: Option<Progress<'_>>,
    ) -> Result<(Index, String)> {
        let idx = Index::build(reader, progress)?;
        idx.save(path)?;
        Ok((idx, "rebuilt: on request".into()))
    }

    /// Loads the index if it matches, extends it if the log grew, or
    /// builds it; saves it if anything changed. Returns it and what was
    /// done (`"fresh"`, `"extended"`, `"built"`, or `"rebuilt: why"`).
    pub fn update(
        reader: &LogReader,
        path: &Path,
        progress: Option<Progress<'_>>,
    ) -> Result<(Index, String)> {
        let (idx, what) = match Index::load(reader, path)? {
            IndexState::Fresh(i) => {
                let grown = reader.records_from(i.fields.covered).next().is_some();
                if grown {
                    (i.extend(reader, progress)?, "extended".to_string())
                } else {
                    return Ok((i, "fresh".into()));
                }
            }
            IndexState::Stale(why) => (Index::build(reader, progress)?, format!("rebuilt: {why}")),
            IndexState::Missing => (Index::build(reader, progress)?, "built".into()),
        };
        idx.save(path)?;
        Ok((idx, what))
    }
}

/// The largest value of an entry type.
trait Bounded {
    const MAX: Self;
}

impl Bounded for u32 {
    const MAX: u32 = u32::MAX;
}

impl Bounded for u64 {
    const MAX: u64 = u64::MAX;
}

/// [`Index::around`] over entries of one width (offsets / 8).
fn around_in<T: Copy + Into<u64>>(
    keys: &[u64],
    starts: &[u64],
    entries: &[T],
    below: u64,
    from: u64,
    f: &mut impl FnMut(u64, Option<u64>, Option<u64>, Option<u64>),
) {
    let (below, from) = (below.div_ceil(8), from.div_ceil(8));
    // Entries below `bound`: lists are sorted. Short lists (the usual:
    // one record a step) are counted without branches, long ones halved.
    let count_below = |list: &[T], bound: u64| -> usize {
        if list.len() <= 32 {
            list.iter().map(|&e| usize::from(e.into() < bound)).sum()
        } else {
            list.partition_point(|&e| e.into() < bound)
        }
    };
    for (&k, w) in keys.iter().zip(starts.windows(2)) {
        let list = &entries[w[0] as usize..w[1] as usize];
        let b = count_below(list, below);
        let a = if from <= below {
            count_below(list, from)
        } else {
            b + count_below(&list[b..], from)
        };
        let before = b.checked_sub(1).map(|j| 8 * list[j].into());
        let after = list.get(a).map(|&e| 8 * e.into());
        let then = list.get(a + 1).map(|&e| 8 * e.into());
        f(k, before, after, then);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorised list check agrees with a plain one, list by list.
    fn lists_valid_naive(starts: &[u64], entries: &[u32], lo: u64, hi: u64) -> bool {
        starts.windows(2).all(|w| {
            let l = &entries[w[0] as usize..w[1] as usize];
            l.windows(2).all(|p| p[0] < p[1]) && l.iter().all(|&e| (lo..hi).contains(&(e as u64)))
        })
    }

    proptest::proptest! {
        #[test]
        fn list_check_matches_the_plain_one(
            lens in proptest::collection::vec(1usize..5, 0..12),
            raw in proptest::collection::vec(0u32..40, 60),
            lo in 0u64..5,
            hi in 20u64..45,
        ) {
            let mut starts = vec![0u64];
            for l in &lens {
                starts.push(starts.last().unwrap() + *l as u64);
            }
            let entries = &raw[..*starts.last().unwrap() as usize];
            let want = lists_valid_naive(&starts, entries, lo, hi);
            proptest::prop_assert_eq!(lists_valid(&starts, entries, lo, hi), want);
            // Split into runs of whole lists on threads: the same answer.
            for (threads, min) in [(2, 1), (3, 4), (8, 1), (2, 1000)] {
                proptest::prop_assert_eq!(
                    lists_valid_split(&starts, entries, lo, hi, threads, min),
                    want
                );
            }
        }
    }

    /// Past 32 GiB of log, entries are 8 bytes wide and still round-trip.
    #[test]
    fn wide_entries_round_trip() {
        let big = 40u64 << 30;
        let fields = Fields {
            log_created_ns: 7,
            covered: big + 64,
            last_offset: big,
            last_word1: 1,
            records: 3,
            min_time: 0.0,
            max_time: 1.0,
            complete: true,
            damaged: false,
        };
        let entries = [HEADER_LEN / 8, big / 8, 2 * HEADER_LEN / 8];
        let idx = Index::from_lists(fields, &[5, 9], &[0, 2, 3], &entries, &[], &[]);
        assert!(idx.layout.wide);
        let again = Index::decode(&idx.encode()).unwrap();
        assert_eq!(again, idx);
        assert_eq!(again.offsets(5), vec![HEADER_LEN, big]);
        assert_eq!(again.offsets(9), vec![2 * HEADER_LEN]);
        let mut got = Vec::new();
        again.around(0..usize::MAX, big, big, |k, b, a, _| got.push((k, b, a)));
        assert_eq!(
            got,
            vec![
                (5, Some(HEADER_LEN), Some(big)),
                (9, Some(2 * HEADER_LEN), None)
            ]
        );
        // The same offsets in a log below 32 GiB are 4 bytes wide.
        let small = Fields {
            covered: 4096,
            ..fields
        };
        let narrow = Index::from_lists(small, &[5], &[0, 2], &[HEADER_LEN / 8, 300], &[], &[]);
        assert!(!narrow.layout.wide);
        assert_eq!(narrow.encode().len(), HEADER + 8 + 16 + 8);
    }

    /// Crafted lists are refused, each with a reason.
    #[test]
    fn crafted_lists_are_refused() {
        let fields = Fields {
            log_created_ns: 7,
            covered: HEADER_LEN + 4096,
            last_offset: 0,
            last_word1: 0,
            records: 4,
            min_time: f64::NAN,
            max_time: f64::NAN,
            complete: true,
            damaged: false,
        };
        // Entries are offsets / 8: the first record starts at `b`.
        let b = HEADER_LEN / 8;
        let ok = Index::from_lists(
            fields,
            &[1, 2],
            &[0, 2, 4],
            &[b, b + 9, b + 1, b + 2],
            &[],
            &[],
        );
        assert!(Index::decode(&ok.encode()).is_ok());
        // (keys, list starts, entries, what the refusal says)
        type Case<'a> = (&'a [u64], &'a [u64], [u64; 4], &'a str);
        let cases: [Case; 6] = [
            (&[2, 1], &[0, 2, 4], [b, b + 9, b + 1, b + 2], "not ordered"),
            (
                &[1, 2],
                &[0, 2, 2],
                [b, b + 9, b + 1, b + 2],
                "without records",
            ),
            (&[1, 2], &[0, 2, 4], [b, b, b + 1, b + 2], "twice"),
            (
                &[1, 2],
                &[0, 2, 4],
                [b + 9, b, b + 1, b + 2],
                "out of order",
            ),
            (&[1, 2], &[0, 2, 4], [b, b + 9, b + 1, b + 512], "outside"),
            (&[1, 2], &[0, 2, 4], [b - 1, b + 9, b + 1, b + 2], "outside"),
        ];
        for (keys, starts, entries, want) in cases {
            let bad = Index::from_lists(fields, keys, starts, &entries, &[], &[]);
            let why = Index::decode(&bad.encode()).unwrap_err();
            assert!(why.contains(want), "{why} (wanted {want})");
        }
        let over = Fields {
            records: 3,
            ..fields
        };
        let bad = Index::from_lists(
            over,
            &[1, 2],
            &[0, 2, 4],
            &[b, b + 9, b + 1, b + 2],
            &[],
            &[],
        );
        assert!(
            Index::decode(&bad.encode())
                .unwrap_err()
                .contains("more records")
        );
        let lists = (&[1, 2], &[0, 2, 4], &[b, b + 9, b + 1, b + 2]);
        let bad = Index::from_lists(fields, lists.0, lists.1, lists.2, &[], &[2, 1]);
        let why = Index::decode(&bad.encode()).unwrap_err();
        assert!(why.contains("time order"), "{why}");
        let ok = Index::from_lists(fields, lists.0, lists.1, lists.2, &[], &[1, 2]);
        assert_eq!(Index::decode(&ok.encode()).unwrap().unordered(), [1, 2]);
    }

    /// Keys whose records are not in time order in the file (a late
    /// record, a record without a time) are listed, across extensions.
    #[test]
    fn keys_out_of_time_order_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let log = crate::log::LogOptions::new().create(&path).unwrap();
        let put = |key: u64, time: Option<f64>| {
            let e = crate::log::Entry::new().key(key);
            let e = match time {
                Some(t) => e.time(t),
                None => e,
            };
            log.append(&e, b"x").unwrap();
        };
        let reader = LogReader::open(&path).unwrap();
        for k in 0..6 {
            put(k, Some(1.0));
        }
        put(1, Some(0.5)); // late
        put(2, None); // no time
        put(3, Some(1.0)); // equal times are in order
        let first = Index::build(&reader, None).unwrap();
        assert_eq!(first.unordered(), [1, 2]);
        put(4, Some(0.75)); // late against a record of the older index
        put(5, Some(2.0));
        put(9, Some(3.0));
        put(9, Some(2.5)); // late within the new records
        put(0, Some(2.0));
        let ext = first.extend(&reader, None).unwrap();
        assert_eq!(ext.unordered(), [1, 2, 4, 9]);
        assert_eq!(Index::build(&reader, None).unwrap(), ext);
    }

    #[test]
    fn around_agrees_with_the_full_lists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let log = crate::log::LogOptions::new().create(&path).unwrap();
        // Keys with 1 to 7 records, interleaved, some starting late.
        for i in 0..200u64 {
            let key = (i * 7) % 23 + u64::from(i > 100) * 1000;
            let e = crate::log::Entry::new().key(key).time(i as f64);
            log.append(&e, &i.to_le_bytes()).unwrap();
        }
        log.close().unwrap();
        let reader = LogReader::open(&path).unwrap();
        let idx = Index::build(&reader, None).unwrap();
        // Saved and loaded, it is the same index.
        let ipath = Index::path_for(&path, None);
        idx.save(&ipath).unwrap();
        match Index::load(&reader, &ipath).unwrap() {
            IndexState::Fresh(loaded) => assert_eq!(loaded, idx),
            other => panic!("{other:?}"),
        }
        assert_eq!(Index::decode(&idx.encode()).unwrap(), idx);
        let mut lists = Vec::new();
        idx.for_each_key(|k, offs| lists.push((k, offs.to_vec())));
        let all: Vec<u64> = reader.records().map(|r| r.offset).collect();
        let probes = [
            0,
            HEADER_LEN,
            all[1],
            all[57],
            all[57] + 1,
            all[150],
            u64::MAX,
        ];
        for &below in &probes {
            for &from in probes.iter().filter(|&&f| f >= below) {
                let mut got = Vec::new();
                idx.around(0..usize::MAX, below, from, |k, b, a, _| got.push((k, b, a)));
                let want: Vec<_> = lists
                    .iter()
                    .map(|(k, offs)| {
                        let b = offs.iter().copied().filter(|&o| o < below).max();
                        let a = offs.iter().copied().find(|&o| o >= from);
                        (*k, b, a)
                    })
                    .collect();
                assert_eq!(got, want, "below {below} from {from}");
                // Runs of key positions visit exactly their keys.
                let n = lists.len();
                for cuts in [[0, n / 3, n], [1, n - 1, n + 5], [n / 2, n / 2, n / 2 + 1]] {
                    let mut part = Vec::new();
                    for w in cuts.windows(2) {
                        idx.around(w[0]..w[1], below, from, |k, b, a, _| part.push((k, b, a)));
                    }
                    let want = &want[cuts[0]..cuts[2].min(n)];
                    assert_eq!(part, want, "runs {cuts:?}");
                }
            }
        }
    }
}
