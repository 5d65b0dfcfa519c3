//! Reading a log the way a simulation author asks questions of it: the
//! state of every object at a time, one object's history, the data as
//! NumPy arrays — over one log or a set of per-rank logs, with or without
//! the sidecar index, never modifying a log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::core::{Found, Meta};
use super::format::{Flags, HEADER_LEN, Schema};
use super::index::{Index, IndexState};
use super::reader::{LogReader, Record};
use crate::array::{ArrayOptions, DType, Scalar};
use crate::error::{Error, Result};

/// How [`LogSet::state_at`] fills the values between two records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interpolation {
    /// The last record at or before the time, as it is.
    #[default]
    None,
    /// Float fields interpolated linearly between the last record at or
    /// before the time and the next one after it (other fields, and keys
    /// with no later record, or whose next record holds no values, such
    /// as an empty `DELETE`, as in the last record). "The next one" is
    /// the record the state at its time would hold (see [`State`]).
    Linear,
}

/// Options for opening a [`LogSet`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct SetOptions {
    index_dir: Option<PathBuf>,
    no_index: bool,
}

impl SetOptions {
    /// Indexes next to the logs, used when they match.
    pub fn new() -> SetOptions {
        SetOptions::default()
    }

    /// Look for (and, with [`LogSet::build_indexes`], write) indexes in
    /// this directory instead of next to the logs.
    pub fn index_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.index_dir = Some(dir.into());
        self
    }

    /// Ignore indexes: every query scans.
    pub fn no_index(mut self, yes: bool) -> Self {
        self.no_index = yes;
        self
    }
}

struct Member {
    path: PathBuf,
    reader: LogReader,
    index: Option<Index>,
    index_note: String,
}

impl Member {
    /// That the record at `offset` (of key `found`) is one of `key`: an
    /// index that names a record of another key does not belong to this
    /// log (a record found by a scan always matches).
    fn check_key(&self, offset: u64, found: Option<u64>, key: u64) -> Result<()> {
        if found == Some(key) {
            return Ok(());
        }
        let found = found.map_or("no key".to_string(), |k| format!("key {k}"));
        Err(Error::corrupt(
            &self.path,
            offset,
            format!(
                "the index lists this record under key {key}, but it has {found}: \
                 the index does not match the log (rebuild it: `mapio index --rebuild`)"
            ),
        ))
    }
}

/// One log, or a set of logs written by the ranks of one run
/// (`run_0000.log`, `run_0001.log`, ...), read as one: every query merges
/// the files by key and time, and an object that moves between files (an
/// `EXIT` record in one, an `ENTER` record in the other) keeps one
/// continuous history.
pub struct LogSet {
    members: Vec<Member>,
    options: SetOptions,
    meter: Meter,
}

/// How far the scans of a set's current query have read (see
/// [`LogSet::scan_progress`]).
#[derive(Debug, Default)]
struct Meter {
    /// Bytes the scans begun so far will read in all.
    planned: AtomicU64,
    /// Bytes they have read.
    done: AtomicU64,
}

impl Meter {
    fn reset(&self) {
        self.done.store(0, Ordering::Release);
        self.planned.store(0, Ordering::Release);
    }
}

/// One scan of `from..to`, counted in its set's [`Meter`] as it goes
/// (every 4 MiB) and in full when dropped, wherever it stopped.
struct Metered<'a> {
    meter: &'a Meter,
    from: u64,
    len: u64,
    reported: u64,
}

impl<'a> Metered<'a> {
    fn new(meter: &'a Meter, from: u64, to: u64) -> Metered<'a> {
        let m = Metered::planned(meter, from, to);
        meter.planned.fetch_add(m.len, Ordering::Release);
        m
    }

    /// A scan whose bytes were counted as planned already.
    fn planned(meter: &'a Meter, from: u64, to: u64) -> Metered<'a> {
        let len = to.saturating_sub(from);
        Metered {
            meter,
            from,
            len,
            reported: 0,
        }
    }

    /// The scan has reached `offset`.
    fn at(&mut self, offset: u64) {
        let d = offset.saturating_sub(self.from).min(self.len);
        if d >= self.reported + (4 << 20) {
            self.meter
                .done
                .fetch_add(d - self.reported, Ordering::Release);
            self.reported = d;
        }
    }
}

impl Drop for Metered<'_> {
    fn drop(&mut self) {
        self.meter
            .done
            .fetch_add(self.len - self.reported, Ordering::Release);
    }
}

impl std::fmt::Debug for LogSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.members.iter().map(|m| &m.path))
            .finish()
    }
}

/// A record located in a set: which file, and the record.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    /// Position of the file in [`LogSet::files`].
    pub file: usize,
    /// The record.
    pub record: Record,
}

/// One object's entry in a [`State`]: its last record at or before the
/// time (the payload is in the state, see [`State::payload`]).
#[derive(Clone, Copy, Debug)]
pub struct StateEntry {
    /// The object.
    pub key: u64,
    /// The file of its last record at or before the time.
    pub file: usize,
    /// That record's offset in its file.
    pub offset: u64,
    /// That record's length in the file.
    pub len: u64,
    /// That record's time.
    pub time: Option<f64>,
    /// That record's link to the key's previous record.
    pub prev: Option<u64>,
    /// That record's flags.
    pub flags: Flags,
    /// Whether the payload was interpolated to the state's time.
    pub interpolated: bool,
    /// The part of the state holding the payload, and its place there.
    part: u32,
    payload: (usize, usize),
}

/// Entries are equal when they say the same of the same record (where
/// their payloads are kept does not matter).
impl PartialEq for StateEntry {
    fn eq(&self, o: &StateEntry) -> bool {
        (self.key, self.file, self.offset, self.len, self.prev)
            == (o.key, o.file, o.offset, o.len, o.prev)
            && self.time.map(f64::to_bits) == o.time.map(f64::to_bits)
            && (self.flags, self.interpolated) == (o.flags, o.interpolated)
    }
}

/// An entry as a state keeps it: 48 bytes (a state may hold millions;
/// the record's length follows from its fields and payload, the payload's
/// end from the next entry's start).
#[derive(Clone, Copy, Debug)]
struct Slim {
    key: u64,
    offset: u64,
    /// Meaningful with `HAS_TIME`.
    time: f64,
    /// Meaningful with `HAS_PREV`.
    prev: u64,
    /// Where the payload starts in the part's buffer.
    payload: u64,
    file: u32,
    flags: Flags,
    bits: u8,
}

const HAS_TIME: u8 = 1;
const HAS_PREV: u8 = 2;
const INTERPOLATED: u8 = 4;

impl Slim {
    /// The entry of `key`'s record at `offset` in file `file` (its fields
    /// `meta`), its payload from `payload` on in the part's buffer.
    fn new(key: u64, file: u32, offset: u64, meta: &Meta, payload: usize) -> Slim {
        let has = |yes: bool, bit: u8| if yes { bit } else { 0 };
        Slim {
            key,
            offset,
            time: meta.time.unwrap_or(0.0),
            prev: meta.prev.unwrap_or(0),
            payload: payload as u64,
            file,
            flags: meta.flags,
            bits: has(meta.time.is_some(), HAS_TIME) | has(meta.prev.is_some(), HAS_PREV),
        }
    }

    fn time(&self) -> Option<f64> {
        (self.bits & HAS_TIME != 0).then_some(self.time)
    }
}

/// A run of consecutive entries, with their payloads one after the other
/// in one buffer.
#[derive(Clone, Debug, Default)]
struct Part {
    entries: Vec<Slim>,
    payloads: Vec<u8>,
}

impl Part {
    /// Entry `i` of part number `part`.
    fn entry(&self, part: u32, i: usize) -> StateEntry {
        let s = &self.entries[i];
        let end = self
            .entries
            .get(i + 1)
            .map_or(self.payloads.len(), |n| n.payload as usize);
        let (has_time, has_prev) = (s.bits & HAS_TIME != 0, s.bits & HAS_PREV != 0);
        let optional = 1 + u64::from(has_time) + u64::from(has_prev);
        let payload = (s.payload as usize, end);
        StateEntry {
            key: s.key,
            file: s.file as usize,
            offset: s.offset,
            len: super::format::record_len(optional, end - payload.0).unwrap_or(0),
            time: s.time(),
            prev: has_prev.then_some(s.prev),
            flags: s.flags,
            interpolated: s.bits & INTERPOLATED != 0,
            part,
            payload,
        }
    }

    fn entries(&self, part: u32) -> impl Iterator<Item = StateEntry> + '_ {
        (0..self.entries.len()).map(move |i| self.entry(part, i))
    }

    fn payload(&self, e: &StateEntry) -> &[u8] {
        self.payloads.get(e.payload.0..e.payload.1).unwrap_or(&[])
    }
}

/// The state of every object at a time: each key's last record at or
/// before it (keys deleted by then, or created after, are absent), sorted
/// by key.
///
/// "Last" is by time; of records with equal times (a run restarted from a
/// checkpoint writes its steps again; an object moving between files has
/// an `EXIT` and an `ENTER` at one time) the one that counts is not an
/// `EXIT` if there is one, then the one later in its file: a step written
/// again replaces the first writing. ([`LogSet::history`] lists both.)
///
/// The payloads live in a few large buffers (one per thread that
/// read them): a state of a million objects is a few allocations, not a
/// million.
#[derive(Clone, Debug)]
pub struct State {
    /// The time asked for.
    pub time: f64,
    parts: Vec<Part>,
}

/// States are equal when their entries and payloads are.
impl PartialEq for State {
    fn eq(&self, o: &State) -> bool {
        self.time.to_bits() == o.time.to_bits() && self.len() == o.len() && self.iter().eq(o.iter())
    }
}

impl State {
    /// The entries, one per key present, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = StateEntry> + '_ {
        self.parts.iter().zip(0..).flat_map(|(p, n)| p.entries(n))
    }

    /// Number of objects present.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.entries.len()).sum()
    }

    /// Whether no object is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An entry's payload at the time: its record's, or interpolated.
    pub fn payload(&self, e: &StateEntry) -> &[u8] {
        self.parts
            .get(e.part as usize)
            .map_or(&[], |p| p.payload(e))
    }

    /// Entries with their payloads.
    pub fn iter(&self) -> impl Iterator<Item = (StateEntry, &[u8])> + '_ {
        self.parts
            .iter()
            .zip(0..)
            .flat_map(|(p, n)| p.entries(n).map(move |e| (e, p.payload(&e))))
    }

    /// An entry as a [`Record`] (its payload copied: interpolated if the
    /// entry is).
    pub fn record(&self, e: &StateEntry) -> Record {
        Record {
            offset: e.offset,
            len: e.len,
            key: Some(e.key),
            prev: e.prev,
            time: e.time,
            flags: e.flags,
            payload: self.payload(e).to_vec(),
        }
    }
}

/// One key's records in one file of a set, read one at a time (see
/// [`LogSet::key_records_from`]).
pub struct KeyRecords<'a> {
    set: &'a LogSet,
    file: usize,
    key: u64,
    offsets: Vec<u64>,
    at: usize,
    /// The offsets came through the file's index.
    indexed: bool,
}

impl std::fmt::Debug for KeyRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecords")
            .field("file", &self.file)
            .field("key", &self.key)
            .field("left", &(self.offsets.len() - self.at))
            .finish_non_exhaustive()
    }
}

impl Iterator for KeyRecords<'_> {
    type Item = Result<Record>;

    /// The next record. One the index lists that no longer reads (damage
    /// since the index was built) makes the rest come from a scan, as
    /// without an index ([`LogSet::damage_seen`] then says so); an index
    /// that names another key's record is an error.
    fn next(&mut self) -> Option<Result<Record>> {
        let m = &self.set.members[self.file];
        loop {
            let &off = self.offsets.get(self.at)?;
            self.at += 1;
            match m.reader.read_record(off) {
                Ok(record) => {
                    return Some(m.check_key(off, record.key, self.key).map(|()| record));
                }
                Err(e) if self.indexed && self.set.damaged_under_index(&e).is_some() => {
                    self.indexed = false;
                    self.offsets = self.set.key_offsets(self.file, self.key, off, false);
                    self.at = 0;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// What [`LogSet::export`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSummary {
    /// Rows in every column.
    pub rows: u64,
    /// Rows whose record holds no values for the fields (an empty
    /// payload, such as a DELETE record's, or one shorter than the schema
    /// from an older or foreign writer): their float fields are NaN,
    /// integer and bool fields 0.
    pub rows_without_values: u64,
    /// The `.npy` files written, with their column names.
    pub files: Vec<(String, PathBuf)>,
}

/// The hasher of the readers' key tables: keys come from files, which
/// may be crafted, so a plain multiply (keys spaced by a power of two all
/// land in one bucket: quadratic time) will not do, and SipHash costs
/// most of a scan. The key, xored with a seed drawn at random once per
/// process, goes through MurmurHash3's 64-bit finalizer (a bijection
/// whose every output bit depends on every input bit): a few
/// nanoseconds, and collisions cannot be planned without the seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyState(u64);

impl Default for KeyState {
    fn default() -> KeyState {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        KeyState(*SEED.get_or_init(|| {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x006d_6170_696f_u64)
        }))
    }
}

impl std::hash::BuildHasher for KeyState {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

/// See [`KeyState`].
pub(crate) struct KeyHasher(u64);

/// MurmurHash3's 64-bit finalizer: every input bit moves every output bit.
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = self.0.rotate_left(29) ^ v;
    }
}

pub(crate) type KeyMap<V> = std::collections::HashMap<u64, V, KeyState>;

/// Per-key candidates of a scan: a flat table for small keys (object ids
/// are usually dense: no hashing, and neighbours in the log are
/// neighbours in memory), a hash map for the rest. The table grows only
/// while it stays within a few times the keys actually seen, so a stray
/// huge key cannot make it allocate much. Every key below the table's
/// length is in the table (when it grows, the keys it now covers move in
/// from the map), so a key has one candidate, whatever order keys come in.
#[derive(Default)]
struct Scratch {
    dense: Vec<Cand>,
    used: usize,
    sparse: KeyMap<Cand>,
}

impl Scratch {
    const EMPTY: u64 = u64::MAX;

    fn slot(&mut self, key: u64, file: usize) -> &mut Cand {
        let fresh = Cand::new(key, file);
        let room = 4 * self.used + (1 << 16);
        let Some(k) = usize::try_from(key)
            .ok()
            .filter(|&k| k < self.dense.len() || (k < room && key != Self::EMPTY))
        else {
            return self.sparse.entry(key).or_insert(fresh);
        };
        if k >= self.dense.len() {
            self.grow((k + 1).max(self.dense.len() * 2).min(room), file);
        }
        let c = &mut self.dense[k];
        if c.key == Self::EMPTY {
            *c = fresh;
            self.used += 1;
        }
        c
    }

    /// Makes the table `n` long, moving in the keys below `n` from the map.
    fn grow(&mut self, n: usize, file: usize) {
        let empty = Cand {
            key: Self::EMPTY,
            ..Cand::new(0, file)
        };
        self.dense.resize(n, empty);
        if self.sparse.is_empty() {
            return;
        }
        let dense = &mut self.dense;
        let mut moved = 0;
        self.sparse.retain(|&key, c| match usize::try_from(key) {
            Ok(k) if k < n => {
                dense[k] = *c;
                moved += 1;
                false
            }
            _ => true,
        });
        self.used += moved;
    }

    fn drain_into(self, out: &mut Vec<Cand>) {
        out.extend(self.dense.into_iter().filter(|c| c.key != Self::EMPTY));
        out.extend(self.sparse.into_values());
    }
}

/// Whether `name` matches the shell wildcard `pattern` (`*` and `?`).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The logs named by `spec`: a file, a directory (its `*.log` files), or a
/// pattern with `*`/`?` in its last component; sorted by name.
pub fn expand(spec: &Path) -> Result<Vec<PathBuf>> {
    if spec.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(spec)
            .map_err(|e| Error::io(spec, "read_dir", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log") && p.is_file())
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(Error::invalid(format!(
                "{}: no .log files in this directory",
                spec.display()
            )));
        }
        return Ok(v);
    }
    let name = spec
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains('*') || name.contains('?') {
        let dir = match spec.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, "read_dir", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| wildcard(name.as_bytes(), n.to_string_lossy().as_bytes()))
            })
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(Error::invalid(format!(
                "{}: no file matches",
                spec.display()
            )));
        }
        return Ok(v);
    }
    Ok(vec![spec.to_path_buf()])
}

/// Per-key candidates found in one file: offsets (`NONE` for none) and
/// their times (NaN until known). 48 bytes.
#[derive(Clone, Copy, Debug)]
struct Cand {
    key: u64,
    file: u32,
    best: u64,
    best_t: f64,
    next: u64,
    next_t: f64,
}

/// No record.
const NONE: u64 = u64::MAX;

impl Cand {
    fn new(key: u64, file: usize) -> Cand {
        Cand {
            key,
            file: file as u32,
            best: NONE,
            best_t: f64::NAN,
            next: NONE,
            next_t: f64::NAN,
        }
    }

    /// Takes a record of the key at `offset` with time `rt` into account
    /// (`best_t` and `next_t` known): the best record at or before `t`
    /// has the latest time, then the latest offset; the next after `t`
    /// has the earliest time, then the latest offset: the record a state
    /// at its time would hold (of a step written twice, after a restart,
    /// the second).
    fn see(&mut self, offset: u64, rt: f64, t: f64) {
        if rt.is_nan() {
            // Not before t, nor after it (a crafted log: writers refuse
            // NaN times): as a record without a time, it is not placed.
            return;
        }
        if rt <= t {
            if self.best == NONE || rt > self.best_t || (rt == self.best_t && offset > self.best) {
                self.best = offset;
                self.best_t = rt;
            }
        } else if self.next == NONE || rt < self.next_t || (rt == self.next_t && offset > self.next)
        {
            self.next = offset;
            self.next_t = rt;
        }
    }

    /// Takes what a scan found for time `t` (`later`) into account, by
    /// the rule of [`see`](Self::see), reading the times of this
    /// candidate's records only when needed (a record whose time cannot be
    /// read counts as the earliest).
    fn merge(&mut self, later: &Cand, t: f64, reader: &LogReader, scratch: &mut Vec<u8>) {
        let mut time_of = |off: u64| time_at(reader, off, scratch).unwrap_or(f64::NEG_INFINITY);
        if later.best != NONE {
            if self.best != NONE && self.best_t.is_nan() {
                self.best_t = time_of(self.best);
            }
            self.see(later.best, later.best_t, t);
        }
        if later.next != NONE {
            if self.next != NONE && self.next_t.is_nan() {
                self.next_t = time_of(self.next);
            }
            self.see(later.next, later.next_t, t);
        }
    }
}

/// Of a key's records in time order, from `next` on (`then` the one after
/// it), the last with `next`'s time, and that time (NaN if unknown): the
/// record to interpolate towards is the one a state at its time would
/// hold, and a step written twice (a run restarted from a checkpoint
/// writes its steps again) has two records at that time, the second the
/// one that counts. Usually `then` has a later time: one record read more.
fn last_of_its_time(
    idx: &Index,
    reader: &LogReader,
    key: u64,
    next: u64,
    then: u64,
    scratch: &mut Vec<u8>,
) -> (u64, f64) {
    let Some(tn) = time_at(reader, next, scratch) else {
        return (next, f64::NAN);
    };
    if time_at(reader, then, scratch) != Some(tn) {
        return (next, tn);
    }
    // Two records at that time or more (rare): the rest of the list.
    let mut last = then;
    for off in idx.offsets(key).into_iter().filter(|&o| o > then) {
        if time_at(reader, off, scratch) != Some(tn) {
            break;
        }
        last = off;
    }
    (last, tn)
}

/// The time of the record at `offset`, if it can be read and has one.
/// (`scratch` holds the payload, read to check the record's CRC.) A
/// record the index lists that cannot be read is damage, stepped over as
/// a scan steps over it, and noted as a scan notes it.
fn time_at(reader: &LogReader, offset: u64, scratch: &mut Vec<u8>) -> Option<f64> {
    match reader.read_found(offset, scratch) {
        Ok(f) => f.meta.time,
        Err(_) => {
            reader.note_damage();
            None
        }
    }
}

/// Where one file's candidates come from. A query never holds every
/// candidate at once: each reading thread takes a run of keys from every
/// source, a block at a time.
enum Source<'a> {
    /// Through the file's index: each key's records on both sides of the
    /// checkpoint bounds `below`/`from` (every record, for a key out of
    /// time order), corrected by `scanned` (what the scan of the rest of
    /// the file found for keys of the index, sorted).
    Indexed {
        idx: &'a Index,
        file: usize,
        below: u64,
        from: u64,
        scanned: Vec<Cand>,
    },
    /// Found by a scan (a file without index, or keys its index lacks),
    /// sorted by key.
    Listed(Vec<Cand>),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Indexed { idx, .. } => idx.keys().len(),
            Source::Listed(v) => v.len(),
        }
    }

    fn key(&self, i: usize) -> u64 {
        match self {
            Source::Indexed { idx, .. } => idx.keys()[i],
            Source::Listed(v) => v[i].key,
        }
    }

    /// The first position in `range` whose key is over `key`.
    fn after(&self, range: std::ops::Range<usize>, key: u64) -> usize {
        range.start
            + match self {
                Source::Indexed { idx, .. } => idx.keys()[range].partition_point(|&k| k <= key),
                Source::Listed(v) => v[range].partition_point(|c| c.key <= key),
            }
    }

    /// Appends the candidates at positions `range` for time `t` to `out`
    /// (with `linear`, each with the record to interpolate towards).
    fn gather(
        &self,
        range: std::ops::Range<usize>,
        t: f64,
        linear: bool,
        set: &LogSet,
        out: &mut Vec<Cand>,
    ) {
        match self {
            Source::Listed(v) => out.extend_from_slice(&v[range]),
            Source::Indexed {
                idx,
                file,
                below,
                from,
                scanned,
            } => {
                let first = idx.keys().get(range.start).copied().unwrap_or(NONE);
                let mut fix = scanned[scanned.partition_point(|c| c.key < first)..]
                    .iter()
                    .peekable();
                let unordered = idx.unordered();
                let mut odd = unordered[unordered.partition_point(|&k| k < first)..]
                    .iter()
                    .peekable();
                let reader = &set.members[*file].reader;
                let mut scratch = Vec::new();
                idx.around(range, *below, *from, |key, best, next, then| {
                    let mut c = Cand::new(key, *file);
                    while odd.next_if(|&&k| k < key).is_some() {}
                    if odd.next_if(|&&k| k == key).is_some() {
                        // Out of time order: every record of the key counts.
                        for off in idx.offsets(key) {
                            if let Some(rt) = time_at(reader, off, &mut scratch) {
                                c.see(off, rt, t);
                            }
                        }
                    } else {
                        c.best = best.unwrap_or(NONE);
                        c.next = next.unwrap_or(NONE);
                        if let (true, Some(n), Some(then)) = (linear, next, then) {
                            (c.next, c.next_t) =
                                last_of_its_time(idx, reader, key, n, then, &mut scratch);
                        }
                    }
                    while fix.next_if(|f| f.key < key).is_some() {}
                    if let Some(f) = fix.next_if(|f| f.key == key) {
                        c.merge(f, t, reader, &mut scratch);
                    }
                    out.push(c);
                });
            }
        }
    }
}

/// Keys of a thread's block: at most this many from each source.
const BLOCK: usize = 4096;
/// Below this many candidates a state is read by one thread.
const PARALLEL_MIN: usize = 1 << 16;
/// The most threads a query uses.
const MAX_THREADS: usize = 8;

/// The threads a query may use: the machine's cores, at most 8.
fn query_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
}

/// `work(i, &items[i])` for every item, spread round-robin over up to
/// `threads` threads (scoped; the calling thread takes the first share,
/// so one thread means no thread is started). The results in item order;
/// the first error if any; a panic in a worker is resumed here.
fn in_parallel<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    work: impl Fn(usize, &I) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = threads.clamp(1, items.len().max(1));
    let work = &work;
    let share = move |j: usize| -> Vec<(usize, Result<T>)> {
        (j..items.len())
            .step_by(threads)
            .map(|i| (i, work(i, &items[i])))
            .collect()
    };
    let mut done: Vec<(usize, Result<T>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|j| s.spawn(move || share(j))).collect();
        let mut done = share(0);
        for h in handles {
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The sources' keys cut into `n` runs of about equal length (cut at keys
/// of the largest source, so a key is never split): per run, the range of
/// positions it takes from each source.
fn key_runs(sources: &[Source], n: usize) -> Vec<Vec<std::ops::Range<usize>>> {
    let Some(big) = sources.iter().max_by_key(|s| s.len()) else {
        return Vec::new();
    };
    // Run j holds the keys below cut j (and from cut j - 1 on).
    let cuts: Vec<Option<u64>> = (1..n)
        .map(|j| (big.len() > 0).then(|| big.key(big.len() * j / n)))
        .chain([None])
        .collect();
    let mut from = vec![0; sources.len()];
    cuts.iter()
        .map(|cut| {
            sources
                .iter()
                .zip(&mut from)
                .map(|(s, from)| {
                    let to = match cut {
                        Some(k) if *k > 0 => s.after(*from..s.len(), k - 1),
                        Some(_) => *from,
                        None => s.len(),
                    };
                    std::mem::replace(from, to)..to
                })
                .collect()
        })
        .collect()
}

impl LogSet {
    /// Opens a log, a directory of logs or a pattern (see [`expand`]).
    pub fn open(spec: impl AsRef<Path>, options: &SetOptions) -> Result<LogSet> {
        LogSet::open_paths(expand(spec.as_ref())?, options)
    }

    /// Opens one log as a set of one, taking its path as it is (a name
    /// with `*` or `?` in it is not a pattern here).
    pub fn open_file(path: impl AsRef<Path>, options: &SetOptions) -> Result<LogSet> {
        LogSet::open_paths(vec![path.as_ref().to_path_buf()], options)
    }

    fn open_paths(paths: Vec<PathBuf>, options: &SetOptions) -> Result<LogSet> {
        let mut members = Vec::with_capacity(paths.len());
        for path in paths {
            let reader = LogReader::open(&path)?;
            let (index, index_note) = if options.no_index {
                (None, "not used".to_string())
            } else {
                let ipath = Index::path_for(&path, options.index_dir.as_deref());
                // An index that cannot be read (its permissions, say) is
                // not used: every query works without one.
                match Index::load(&reader, &ipath) {
                    Ok(IndexState::Fresh(i)) => (Some(i), format!("{}", ipath.display())),
                    Ok(IndexState::Stale(why)) => (None, format!("stale ({why}): scanning")),
                    Ok(IndexState::Missing) => (None, "none: scanning".into()),
                    Err(e) => (None, format!("unreadable ({e}): scanning")),
                }
            };
            members.push(Member {
                path,
                reader,
                index,
                index_note,
            });
        }
        let set = LogSet {
            members,
            options: options.clone(),
            meter: Meter::default(),
        };
        set.check_schemas()?;
        Ok(set)
    }

    /// One schema for all; and each log once: two files created at the
    /// same nanosecond are copies of one log (the ranks of a run create
    /// theirs apart), whose records would count twice.
    fn check_schemas(&self) -> Result<()> {
        let mut created: Vec<(u64, &Path)> = self
            .members
            .iter()
            .map(|m| (m.reader.header().created_ns, m.path.as_path()))
            .collect();
        created.sort_unstable();
        if let Some(w) = created.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid(format!(
                "{} and {} are copies of one log (created at the same instant): a set \
                 reads each log once",
                w[0].1.display(),
                w[1].1.display()
            )));
        }
        let first = self.members[0].reader.schema();
        for m in &self.members[1..] {
            if m.reader.schema() != first {
                return Err(Error::format(
                    &m.path,
                    format!(
                        "its schema differs from {}'s: a set must share one schema",
                        self.members[0].path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The files, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.members.iter().map(|m| m.path.as_path()).collect()
    }

    /// The reader of file `i`.
    pub fn reader(&self, i: usize) -> &LogReader {
        &self.members[i].reader
    }

    /// The index file `i`'s queries use, if any.
    pub fn index(&self, i: usize) -> Option<&Index> {
        self.members[i].index.as_ref()
    }

    /// For each file: whether its index is used, and why not.
    pub fn index_notes(&self) -> Vec<(&Path, &str)> {
        self.members
            .iter()
            .map(|m| (m.path.as_path(), m.index_note.as_str()))
            .collect()
    }

    /// The payload schema (shared by every file).
    pub fn schema(&self) -> &Schema {
        self.members[0].reader.schema()
    }

    /// Builds (or extends, or rebuilds) every file's index and saves it;
    /// returns what was done per file. `progress` gets `(file, done, all)`.
    pub fn build_indexes(
        &mut self,
        progress: Option<&mut dyn FnMut(usize, u64, u64)>,
    ) -> Result<Vec<String>> {
        self.make_indexes(false, progress)
    }

    /// Builds every file's index anew from its log, even one that seems to
    /// match (say, after a query found it naming records of other keys),
    /// and saves it; returns what was done per file.
    pub fn rebuild_indexes(
        &mut self,
        progress: Option<&mut dyn FnMut(usize, u64, u64)>,
    ) -> Result<Vec<String>> {
        self.make_indexes(true, progress)
    }

    fn make_indexes(
        &mut self,
        anew: bool,
        mut progress: Option<&mut dyn FnMut(usize, u64, u64)>,
    ) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            let ipath = Index::path_for(&m.path, self.options.index_dir.as_deref());
            let mut cb = |d: u64, a: u64| {
                if let Some(p) = progress.as_mut() {
                    p(i, d, a)
                }
            };
            let (idx, what) = if anew {
                Index::rebuild(&m.reader, &ipath, Some(&mut cb))?
            } else {
                Index::update(&m.reader, &ipath, Some(&mut cb))?
            };
            m.index_note = format!("{}", ipath.display());
            m.index = Some(idx);
            notes.push(what);
        }
        Ok(notes)
    }

    /// `work(f)` for every file `f`, on up to as many threads as the
    /// machine has cores; the results in file order.
    fn each_file<T: Send>(&self, work: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
        in_parallel(&self.members, query_threads(), |f, _| work(f))
    }

    /// Calls `each(offset, record)` for every committed data record of
    /// file `file` that starts in `from..to` (`to` may be `u64::MAX`: to
    /// the end), in file order, counting what it reads in the set's
    /// [`scan_progress`](Self::scan_progress).
    fn scan_file(&self, file: usize, from: u64, to: u64, mut each: impl FnMut(u64, &Found)) {
        if from >= to {
            return;
        }
        let reader = &self.members[file].reader;
        let mut metered = Metered::new(&self.meter, from, to.min(reader.tail().max(from)));
        reader.scan_found(from, |offset, found| {
            if offset >= to {
                return false;
            }
            metered.at(offset);
            each(offset, found);
            true
        });
    }

    /// Bytes of log the scans of the query running on this set (or of
    /// the last one) have read so far, and bytes they will read in all as
    /// far as known yet (each file's scans count once they begin): for a
    /// progress display on another thread. A query through a fresh index
    /// scans little or nothing. Both start again at 0 with each query.
    pub fn scan_progress(&self) -> (u64, u64) {
        // `planned` first: a scan adds to it before it reads, so `done`
        // passes it only when read across another scan's start (or a new
        // query's reset); it is clamped, never ahead of `planned`.
        let planned = self.meter.planned.load(Ordering::Acquire);
        let done = self.meter.done.load(Ordering::Acquire);
        (done.min(planned), planned)
    }

    /// The sources of file `file`'s candidates for time `t`: through its
    /// index (and a scan of what the index's checkpoints leave open and of
    /// the log past the index), or a scan of the whole file.
    fn candidates(&self, file: usize, t: f64, scan: bool) -> Vec<Source<'_>> {
        let m = &self.members[file];
        // An index whose keys are mostly out of time order would have the
        // query read every record anyway, in list order: a scan is cheaper.
        let index = m
            .index
            .as_ref()
            .filter(|_| !scan)
            .filter(|idx| 2 * idx.unordered().len() <= idx.keys().len());
        let (scan_ranges, bounds) = match index {
            Some(idx) => {
                let (below, from) = idx.bounds(t);
                (
                    vec![(below, from), (idx.covered(), u64::MAX)],
                    Some((idx, below, from)),
                )
            }
            None => (vec![(HEADER_LEN, u64::MAX)], None),
        };
        let mut seen = Scratch::default();
        for (from, to) in scan_ranges {
            self.scan_file(file, from, to, |offset, found| {
                if let (Some(key), Some(rt)) = (found.meta.key, found.meta.time) {
                    seen.slot(key, file).see(offset, rt, t);
                }
            });
        }
        let mut found = Vec::new();
        seen.drain_into(&mut found);
        found.sort_unstable_by_key(|c| c.key);
        let Some((idx, below, from)) = bounds else {
            return vec![Source::Listed(found)];
        };
        // Keys of the index are corrected through it; others are listed.
        let keys = idx.keys();
        let (scanned, extra): (Vec<Cand>, Vec<Cand>) = found
            .into_iter()
            .partition(|c| keys.binary_search(&c.key).is_ok());
        let mut sources = vec![Source::Indexed {
            idx,
            file,
            below,
            from,
            scanned,
        }];
        if !extra.is_empty() {
            sources.push(Source::Listed(extra));
        }
        sources
    }

    /// The state of every object at time `t` (see [`State`]). A large
    /// state (over 65,536 objects) is read by up to 8 scoped threads, as
    /// many as the machine has cores, each reading and checking the
    /// records of a run of keys.
    pub fn state_at(&self, t: f64, interpolation: Interpolation) -> Result<State> {
        self.meter.reset();
        if t.is_nan() {
            // Every comparison with NaN is false: it would quietly find
            // nothing. -inf (nothing yet) and +inf (everything) are times.
            return Err(Error::invalid(
                "the time is NaN: ask for a number (or -inf, +inf)",
            ));
        }
        // A file whose index leads to a record that no longer checks (the
        // log was damaged after the index was built) is scanned instead,
        // as without an index: the answer steps over the damage (and
        // `damage_seen` says so) rather than failing.
        let mut scan = vec![false; self.members.len()];
        loop {
            match self.state_at_with(t, interpolation, &scan) {
                Err(e) => match self.damaged_under_index(&e) {
                    Some(f) if !scan[f] => scan[f] = true,
                    _ => return Err(e),
                },
                r => return r,
            }
        }
    }

    /// The file with an index where error `e` is a record that does not
    /// check (damage since the index was built, not an index that names
    /// another key's record, which stays an error).
    fn damaged_under_index(&self, e: &Error) -> Option<usize> {
        let Error::Corrupt { path, offset, .. } = e else {
            return None;
        };
        let f = self.members.iter().position(|m| m.reader.path() == path)?;
        let m = &self.members[f];
        (m.index.is_some() && m.reader.read_record(*offset).is_err()).then_some(f)
    }

    fn state_at_with(&self, t: f64, interpolation: Interpolation, scan: &[bool]) -> Result<State> {
        // Each file's candidates on a thread of its own (a set of per-rank
        // logs without indexes is scanned on every core).
        let sources: Vec<Source> = self
            .each_file(|f| Ok(self.candidates(f, t, scan[f])))?
            .into_iter()
            .flatten()
            .collect();
        let linear = interpolation == Interpolation::Linear;
        // The records are read (and checked) by a few threads, each for a
        // run of keys: reading a known offset needs nothing of the others.
        let total: usize = sources.iter().map(Source::len).sum();
        let threads = if total < PARALLEL_MIN {
            1
        } else {
            query_threads()
        };
        let runs = key_runs(&sources, threads);
        let parts = in_parallel(&runs, threads, |_, run| {
            self.read_part(&sources, run, t, linear)
        })?;
        Ok(State { time: t, parts })
    }

    /// The entries of the keys at positions `run` of the `sources`, as a
    /// part of a state: the candidates gathered a block of keys at a time,
    /// each key's best record read once, from the map straight into the
    /// part's payload buffer.
    fn read_part(
        &self,
        sources: &[Source],
        run: &[std::ops::Range<usize>],
        t: f64,
        linear: bool,
    ) -> Result<Part> {
        let keys: usize = run.iter().map(ExactSizeIterator::len).sum();
        let mut out = Part {
            entries: Vec::with_capacity(keys),
            payloads: Vec::new(),
        };
        let mut at: Vec<usize> = run.iter().map(|r| r.start).collect();
        let mut block = Vec::with_capacity(BLOCK);
        let mut bufs = (Vec::new(), Vec::new());
        loop {
            // The block ends at the earliest of every source's BLOCK-th key.
            let end = sources
                .iter()
                .zip(run.iter().zip(&at))
                .filter(|(_, (r, a))| **a < r.end)
                .map(|(s, (r, a))| s.key((*a + BLOCK).min(r.end) - 1))
                .min();
            let Some(end) = end else { break };
            block.clear();
            for ((s, r), a) in sources.iter().zip(run).zip(&mut at) {
                let to = s.after(*a..r.end, end);
                s.gather(*a..to, t, linear, self, &mut block);
                *a = to;
            }
            if sources.len() > 1 {
                block.sort_by_key(|c| (c.key, c.file));
            }
            self.read_block(&block, t, linear, keys, &mut out, &mut bufs)?;
        }
        Ok(out)
    }

    /// Adds the entries of `cands` (whole keys, sorted) to `out`.
    fn read_block(
        &self,
        cands: &[Cand],
        t: f64,
        linear: bool,
        expect: usize,
        out: &mut Part,
        (buf, next_buf): &mut (Vec<u8>, Vec<u8>),
    ) -> Result<()> {
        let Part { entries, payloads } = out;
        let mut i = 0;
        while i < cands.len() {
            let key = cands[i].key;
            let start = payloads.len();
            let mut best: Option<(Slim, Rank)> = None;
            // The record to interpolate towards: the earliest time after
            // `t`, and at that time the one a state would hold (`rank`).
            let mut next: Option<(f64, Rank)> = None;
            while i < cands.len() && cands[i].key == key {
                let c = cands[i];
                i += 1;
                let member = &self.members[c.file as usize];
                let reader = &member.reader;
                if c.best != NONE {
                    let mark = payloads.len();
                    let f = reader.read_found_append(c.best, payloads)?;
                    if let Err(e) = member.check_key(c.best, f.meta.key, key) {
                        payloads.truncate(mark);
                        return Err(e);
                    }
                    if mark == 0 {
                        // One payload seen: room for the rest at once.
                        payloads.reserve(
                            expect.saturating_sub(entries.len()) * (payloads.len() - mark),
                        );
                    }
                    let rank = rank(f.meta.time, f.meta.flags, c.best);
                    if best.as_ref().is_none_or(|(_, r)| rank > *r) {
                        // This record's payload replaces the earlier best's.
                        if mark > start {
                            payloads.copy_within(mark.., start);
                            payloads.truncate(payloads.len() - (mark - start));
                        }
                        best = Some((Slim::new(key, c.file, c.best, &f.meta, start), rank));
                    } else {
                        payloads.truncate(mark);
                    }
                }
                if linear && c.next != NONE {
                    let f = reader.read_found(c.next, buf)?;
                    member.check_key(c.next, f.meta.key, key)?;
                    if let Some(tn) = f.meta.time {
                        let r = rank(f.meta.time, f.meta.flags, c.next);
                        if next.is_none_or(|(nt, nr)| tn < nt || (tn == nt && r > nr)) {
                            next = Some((tn, r));
                            std::mem::swap(next_buf, buf);
                        }
                    }
                }
            }
            let Some((mut e, _)) = best else { continue };
            if e.flags.contains(Flags::DELETE) {
                payloads.truncate(start);
                continue;
            }
            if let (true, Some(ta), Some((tb, _))) = (linear, e.time(), next)
                && interpolate(self.schema(), &mut payloads[start..], next_buf, ta, tb, t)
            {
                e.bits |= INTERPOLATED;
            }
            entries.push(e);
        }
        Ok(())
    }

    /// Whether file `file`'s records met so far stepped over damage: its
    /// index says its scan did, or a query's (or this set's index build's)
    /// scan did. Records in damaged ranges are missing from answers;
    /// [`LogReader::scan`] says where.
    pub fn damage_seen(&self, file: usize) -> bool {
        let m = &self.members[file];
        m.index.as_ref().is_some_and(Index::damaged) || m.reader.damage_seen()
    }

    /// Every record of `key` across the set, in time order (file order
    /// for equal times and records without a time). A step written twice
    /// (a run restarted from a checkpoint) is listed twice; the later one
    /// is the one [`state_at`](Self::state_at) holds.
    pub fn history(&self, key: u64) -> Result<Vec<Located>> {
        self.meter.reset();
        let per_file = self.each_file(|f| {
            self.records_of(f, key, 0)
                .map(|r| r.map(|record| Located { file: f, record }))
                .collect::<Result<Vec<_>>>()
        })?;
        let mut out = per_file.concat();
        out.sort_by(|a, b| {
            // No time (or a NaN one, from a file mapio did not write):
            // first, as if earliest.
            let time = |l: &Located| {
                l.record
                    .time
                    .filter(|t| !t.is_nan())
                    .unwrap_or(f64::NEG_INFINITY)
            };
            let (ta, tb) = (time(a), time(b));
            ta.total_cmp(&tb)
                // At a move, the EXIT from the old file comes first.
                .then(
                    (!a.record.flags.contains(Flags::EXIT))
                        .cmp(&!b.record.flags.contains(Flags::EXIT)),
                )
                .then(a.file.cmp(&b.file))
                .then(a.record.offset.cmp(&b.record.offset))
        });
        Ok(out)
    }

    /// Every intact record of `key` in file number `file` (of
    /// [`files`](Self::files)), in file order: through the file's index if
    /// it has one (its list of the key's records, then a scan of what the
    /// log holds past the index), else by a scan of the file. A record the
    /// index lists that no longer reads (damage since the index was built)
    /// makes it scan instead, as without an index;
    /// [`damage_seen`](Self::damage_seen) then says so.
    pub fn key_records(&self, file: usize, key: u64) -> Result<Vec<Record>> {
        self.key_records_from(file, key, 0)?.collect()
    }

    /// [`key_records`](Self::key_records) one at a time, from offset
    /// `from` on: the offsets are found first (through the index, a few
    /// bytes a record), and each record is read when the iterator reaches
    /// it, so taking the first few reads only those.
    pub fn key_records_from(&self, file: usize, key: u64, from: u64) -> Result<KeyRecords<'_>> {
        if file >= self.members.len() {
            return Err(Error::invalid(format!(
                "no file {file} in a set of {}",
                self.members.len()
            )));
        }
        self.meter.reset();
        Ok(self.records_of(file, key, from))
    }

    /// `key`'s records in file `f` from offset `from` on, as part of a
    /// query (file `f` is one of the set's).
    fn records_of(&self, f: usize, key: u64, from: u64) -> KeyRecords<'_> {
        let indexed = self.members[f].index.is_some();
        KeyRecords {
            set: self,
            file: f,
            key,
            offsets: self.key_offsets(f, key, from, indexed),
            at: 0,
            indexed,
        }
    }

    /// The offsets of `key`'s records in file `f` from `from` on, in file
    /// order: through its index (`indexed`, if it has one; then a scan of
    /// the log past it), or by a scan.
    fn key_offsets(&self, f: usize, key: u64, from: u64, indexed: bool) -> Vec<u64> {
        let mut offsets = Vec::new();
        let scan_from = |start: u64, v: &mut Vec<u64>| {
            self.scan_file(f, start.max(from), u64::MAX, |off, found| {
                if found.meta.key == Some(key) {
                    v.push(off);
                }
            });
        };
        match self.members[f].index.as_ref().filter(|_| indexed) {
            Some(idx) => {
                offsets = idx.offsets(key);
                offsets.retain(|&o| o >= from);
                scan_from(idx.covered(), &mut offsets);
            }
            None => scan_from(HEADER_LEN, &mut offsets),
        }
        offsets
    }

    /// Writes the data as NumPy arrays into `dir` (created if missing):
    /// `key.npy` (`<u8`), `time.npy` (`<f8`: the time of the row's values,
    /// its record's, or `time` for a row interpolated to it; NaN where a
    /// record has none),
    /// `offset.npy` (`<u8`), `file.npy` (`<u2`, sets of several files
    /// only), and one `.npy` per schema field (or those in `fields`), of
    /// the field's dtype, shape `(rows,)` or `(rows, count)`. With `time`,
    /// the rows are the state at that time; otherwise every data record.
    /// A record without a key has key 0 (every record of a log written
    /// with keys has one); a record without values for the fields (an
    /// empty payload, such as a DELETE's) has NaN in float fields and 0 in
    /// integer fields, and is counted in
    /// [`rows_without_values`](ExportSummary::rows_without_values).
    ///
    /// It writes exactly the files the summary lists; other files in
    /// `dir`, e.g. `.npy` files of an earlier export with other fields,
    /// are left alone and are not part of this export. Each file is
    /// written under a temporary name beside it and renamed over the old
    /// one once every column is complete: a program that has the old file
    /// open or mapped (NumPy's `np.load(..., mmap_mode='r')`) keeps reading
    /// the old export, unchanged. A file another process is writing (a
    /// mapio array open `r+`) is not replaced: [`Error::Locked`], and
    /// nothing is. A name listed twice in `fields`, an unknown name or a
    /// NaN `time` is an [`Error::InvalidArgument`], before anything is
    /// written. On an error, the temporary files are removed (best
    /// effort), and so is `dir` if this export created it; the files of an
    /// earlier export stay as they were (unless a rename itself failed,
    /// after which the columns renamed before it are this export's).
    pub fn export(
        &self,
        dir: impl AsRef<Path>,
        time: Option<f64>,
        fields: Option<&[String]>,
        interpolation: Interpolation,
    ) -> Result<ExportSummary> {
        let dir = dir.as_ref();
        let schema = self.schema().clone();
        if let Some(names) = fields {
            for (i, n) in names.iter().enumerate() {
                if names[..i].contains(n) {
                    return Err(Error::invalid(format!(
                        "field {n:?} is listed twice in the fields to export"
                    )));
                }
            }
        }
        let chosen: Vec<_> = match fields {
            Some(names) => names
                .iter()
                .map(|n| {
                    schema.get(n).cloned().ok_or_else(|| {
                        let known: Vec<&str> =
                            schema.fields().iter().map(|f| f.name.as_str()).collect();
                        Error::invalid(format!(
                            "no field {n:?} in the schema (fields: {})",
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            None => schema.fields().to_vec(),
        };
        // Defence in depth (a log's header already obeys the field name
        // rule, format::check_field_name): every column becomes
        // `dir/NAME.npy`, so NAME must be a plain file name, and one only.
        let mut columns = vec!["key", "time", "offset"];
        if self.members.len() > 1 {
            columns.push("file");
        }
        columns.extend(chosen.iter().map(|f| f.name.as_str()));
        for (i, c) in columns.iter().enumerate() {
            let plain = !c.is_empty()
                && *c != "."
                && *c != ".."
                && !c.contains(['/', '\\'])
                && !c.chars().any(char::is_control);
            if !plain || columns[..i].contains(c) {
                return Err(Error::format(
                    &self.members[0].path,
                    format!(
                        "schema field {c:?} cannot be exported: {}",
                        if plain {
                            "its name is used by another column"
                        } else {
                            "its name is not a plain file name"
                        }
                    ),
                ));
            }
        }
        // The rows: the state at `time`, or every record (streamed, after
        // counting them, so that a log of any size exports in bounded memory).
        let state = match time {
            Some(t) => Some(self.state_at(t, interpolation)?),
            None => None,
        };
        // Without a time: two passes over every file, counting its
        // records, then writing as many (of a live log, the records
        // committed when it was counted: those a writer adds between the
        // passes are left out).
        let ends: Vec<u64> = self.members.iter().map(|m| m.reader.tail()).collect();
        let mut counts = vec![0usize; self.members.len()];
        let n = match &state {
            Some(s) => s.len(),
            None => {
                self.meter.reset();
                let write_pass: u64 = ends.iter().map(|e| e.saturating_sub(HEADER_LEN)).sum();
                self.meter.planned.fetch_add(write_pass, Ordering::Release);
                for (f, c) in counts.iter_mut().enumerate() {
                    self.scan_file(f, HEADER_LEN, u64::MAX, |_, _| *c += 1);
                }
                counts.iter().sum()
            }
        };
        // The directories this export creates (innermost first), removed
        // again on failure; a directory that was there is kept.
        let mut made_dirs = Vec::new();
        let mut d = dir;
        while !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err() {
            made_dirs.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "mkdir", e))?;
        // Columns an earlier export killed half-way left (as large as the
        // export).
        crate::map::remove_temporaries(dir, None);
        // Each column is written under a temporary name beside its file
        // and renamed over it when every column is complete: a program
        // that has the previous export mapped (NumPy's `mmap_mode='r'`)
        // keeps reading it, unchanged, where writing over it in place
        // would change its numbers under it, or make it crash (`SIGBUS`)
        // when the new file is shorter. (column file, its temporary)
        let mut created: Vec<(PathBuf, PathBuf)> = Vec::new();
        let written = (|| -> Result<ExportSummary> {
            /// Where a column's bytes come from: a payload range, or one of
            /// the fixed columns by name.
            struct Spec {
                name: String,
                field: Option<(usize, usize)>,
                width: usize,
                /// What a row without the field's bytes holds.
                missing: Vec<u8>,
            }
            let mut specs = Vec::new();
            let mut arrays = Vec::new();
            let mut files = Vec::new();
            let mut add = |name: &str,
                           dtype: DType,
                           count: u32,
                           field: Option<(usize, usize)>|
             -> Result<()> {
                let path = dir.join(format!("{name}.npy"));
                let shape: Vec<usize> = if count == 1 {
                    vec![n]
                } else {
                    vec![n, count as usize]
                };
                let tmp = crate::map::temp_path_beside(&path, "export");
                let opts = ArrayOptions::new().create_new(true).nofollow(true);
                match opts.create_dyn_npy(&tmp, dtype, &shape) {
                    Ok(a) => arrays.push(a),
                    // Created exclusively: nothing of ours was left there.
                    Err(e) => return Err(e.for_path(&path)),
                }
                created.push((path.clone(), tmp));
                files.push((name.to_string(), path));
                specs.push(Spec {
                    name: name.to_string(),
                    field,
                    width: dtype.itemsize() * count as usize,
                    missing: missing_value(dtype).repeat(count as usize),
                });
                Ok(())
            };
            add("key", DType::U64, 1, None)?;
            add("time", DType::F64, 1, None)?;
            add("offset", DType::U64, 1, None)?;
            if self.members.len() > 1 {
                add("file", DType::U16, 1, None)?;
            }
            for f in &chosen {
                add(
                    &f.name,
                    f.dtype,
                    f.count,
                    Some((f.offset as usize, f.len())),
                )?;
            }
            let mut data: Vec<&mut [u8]> = Vec::with_capacity(arrays.len());
            for a in arrays.iter_mut() {
                data.push(a.data_mut()?);
            }
            // One row: (file, key, time, offset, payload).
            let mut put = |row: usize,
                           file: usize,
                           key: Option<u64>,
                           time: Option<f64>,
                           offset: u64,
                           payload: &[u8]| {
                for (c, d) in specs.iter().zip(data.iter_mut()) {
                    let Some(out) = d.get_mut(row * c.width..(row + 1) * c.width) else {
                        continue;
                    };
                    match (c.field, c.name.as_str()) {
                        (Some((start, len)), _) => match payload.get(start..start + len) {
                            Some(b) => out.copy_from_slice(b),
                            None => out.copy_from_slice(&c.missing),
                        },
                        (None, "key") => out.copy_from_slice(&key.unwrap_or(0).to_le_bytes()),
                        (None, "time") => {
                            out.copy_from_slice(&time.unwrap_or(f64::NAN).to_le_bytes())
                        }
                        (None, "offset") => out.copy_from_slice(&offset.to_le_bytes()),
                        (None, _) => out.copy_from_slice(&(file as u16).to_le_bytes()),
                    }
                }
            };
            let fields_len = chosen.iter().map(|f| f.offset as usize + f.len()).max();
            let mut without_values = 0u64;
            let mut count = |payload: &[u8]| {
                if fields_len.is_some_and(|l| payload.len() < l) {
                    without_values += 1;
                }
            };
            let mut rows = 0usize;
            match &state {
                Some(s) => {
                    for (e, payload) in s.iter() {
                        // The time of the row's values: the state's, for
                        // values interpolated to it.
                        let t = if e.interpolated { Some(s.time) } else { e.time };
                        put(rows, e.file, Some(e.key), t, e.offset, payload);
                        count(payload);
                        rows += 1;
                    }
                }
                None => {
                    'files: for (f, m) in self.members.iter().enumerate() {
                        let mut metered = Metered::planned(&self.meter, HEADER_LEN, ends[f]);
                        for rec in m.reader.records().take(counts[f]) {
                            if rows == n {
                                break 'files; // never more rows than counted
                            }
                            metered.at(rec.offset);
                            put(rows, f, rec.key, rec.time, rec.offset, &rec.payload);
                            count(&rec.payload);
                            rows += 1;
                        }
                    }
                }
            }
            drop(data);
            for a in arrays {
                a.close()?;
            }
            // A column file another process is writing (a mapio array
            // open `r+`, holding its exclusive lock) is not replaced: its
            // writes would go on into a file no name leads to. Readers
            // (shared locks, or none, as NumPy) are no reason to wait.
            // The probes keep their shared locks until the renames are
            // done: no writer can take a column file in between.
            let mut held = Vec::with_capacity(created.len());
            for (path, _) in &created {
                // Nothing replaces a directory: say so before any rename.
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                    return Err(Error::io(
                        path,
                        "rename",
                        std::io::Error::new(
                            std::io::ErrorKind::IsADirectory,
                            "a directory is in the column file's place",
                        ),
                    ));
                }
                let probe = crate::map::MappedFile::options()
                    .mode(crate::map::Mode::ReadOnly)
                    .len(0)
                    .nofollow(true)
                    .open(path);
                match probe {
                    Err(e @ Error::Locked { .. }) => return Err(e),
                    Ok(m) => held.push(m),
                    Err(_) => {} // not there yet, or not a file a map opens
                }
            }
            let mut failed = None;
            let mut renamed = 0;
            for (path, tmp) in &created {
                if let Err(e) = std::fs::rename(tmp, path) {
                    failed = Some(Error::io(path, "rename", e));
                    break;
                }
                renamed += 1;
            }
            drop(held);
            // Those renamed stay (complete columns of this export); the
            // temporaries of the others are removed below.
            created.drain(..renamed);
            if let Some(e) = failed {
                return Err(e);
            }
            // The new names as durable as the columns (closed: flushed).
            crate::map::sync_parent_dir(&dir.join("key.npy"))
                .map_err(|e| Error::io(dir, crate::map::DIR_FSYNC, e))?;
            Ok(ExportSummary {
                rows: n as u64,
                rows_without_values: without_values,
                files,
            })
        })();
        if written.is_err() {
            // Best effort: the error being reported matters more.
            for (_, tmp) in &created {
                let _ = std::fs::remove_file(tmp);
            }
            for d in &made_dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
        written
    }
}

/// The order of candidates for "the last record at or before the time".
type Rank = (u64, bool, u64);

/// Later time first; at equal times a record that is not an `EXIT` (the
/// object arrived elsewhere), then a later offset.
fn rank(time: Option<f64>, flags: Flags, offset: u64) -> Rank {
    let t = time.unwrap_or(f64::NEG_INFINITY);
    // Map the float to an order-preserving integer.
    let bits = t.to_bits();
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    (key, !flags.contains(Flags::EXIT), offset)
}

/// Interpolates the float fields of payload `a` (time `ta`) linearly to
/// time `t` towards payload `b` (time `tb`), in place; whether it did
/// (only between two finite, increasing times: an infinite one would make
/// every weight NaN; and only if both payloads hold a float field: a
/// DELETE with an empty payload after `a` leaves `a` as it is, and so
/// does a schema without float fields).
fn interpolate(schema: &Schema, a: &mut [u8], b: &[u8], ta: f64, tb: f64, t: f64) -> bool {
    // At the record's own time there is nothing to interpolate (and a
    // weight of 0 times an infinite difference would be NaN).
    if !(ta.is_finite() && tb.is_finite() && tb > ta) || t == ta {
        return false;
    }
    let w = (t - ta) / (tb - ta);
    let mut done = false;
    for f in schema.fields() {
        if f.dtype.kind() != crate::array::Kind::Float {
            continue;
        }
        let item = f.dtype.itemsize();
        for k in 0..f.count as usize {
            let at = f.offset as usize + k * item;
            let (Some(xa), Some(xb)) = (a.get(at..at + item), b.get(at..at + item)) else {
                continue;
            };
            let (Scalar::Float(va), Scalar::Float(vb)) = (f.dtype.decode(xa), f.dtype.decode(xb))
            else {
                continue;
            };
            f.dtype
                .encode(&Scalar::Float(va + (vb - va) * w), &mut a[at..at + item]);
            done = true;
        }
    }
    done
}

/// The bytes of one element that stands for "no value": NaN for floats
/// (and both parts of a complex), in the dtype's byte order; zeros for
/// integers and bools, which have no such value.
fn missing_value(dtype: DType) -> Vec<u8> {
    use crate::array::{ByteOrder, Kind};
    let size = dtype.itemsize();
    let part = match dtype.kind() {
        Kind::Float => size,
        Kind::Complex => size / 2,
        _ => return vec![0; size],
    };
    let mut nan: Vec<u8> = match part {
        2 => 0x7E00u16.to_le_bytes().to_vec(),
        4 => f32::NAN.to_le_bytes().to_vec(),
        8 => f64::NAN.to_le_bytes().to_vec(),
        _ => return vec![0; size],
    };
    if dtype.byte_order() == ByteOrder::Big {
        nan.reverse();
    }
    nan.repeat(size / part)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs take every position of every source once, in order, the
    /// largest source about evenly, and a key from one run only.
    #[test]
    fn runs_split_between_keys() {
        let listed = |keys: &[u64]| Source::Listed(keys.iter().map(|&k| Cand::new(k, 0)).collect());
        let sources = [
            listed(&[0, 1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 20, 21, 30, 31, 40]),
            listed(&[]),
            listed(&[2, 3, 4, 40, 41, u64::MAX]),
            listed(&[0, 13]),
        ];
        for n in 1..20 {
            let runs = key_runs(&sources, n);
            assert_eq!(runs.len(), n);
            let mut owner = std::collections::HashMap::new();
            for (s, source) in sources.iter().enumerate() {
                let mut at = 0;
                for (j, run) in runs.iter().enumerate() {
                    assert_eq!(run[s].start, at, "{n} runs: source {s} run {j}");
                    at = run[s].end;
                    for i in run[s].clone() {
                        let was = owner.insert(source.key(i), j);
                        assert!(
                            was.is_none_or(|w| w == j),
                            "{n} runs: key {} split",
                            source.key(i)
                        );
                    }
                }
                assert_eq!(at, source.len(), "{n} runs: source {s}");
            }
            let big: Vec<usize> = runs.iter().map(|r| r[0].len()).collect();
            if n <= 16 {
                assert!(
                    big.iter().all(|&l| l.abs_diff(16 / n) <= 1),
                    "{n} runs: {big:?}"
                );
            }
        }
        assert!(key_runs(&[], 3).is_empty());
    }

    /// A key seen first while it is too large for the flat table, then
    /// again after the table grew past it, keeps one candidate (a scan
    /// that starts mid-log, or ranks writing disjoint key ranges, see keys
    /// in such an order).
    #[test]
    fn scratch_keeps_one_candidate_per_key_in_any_order() {
        let mut s = Scratch::default();
        let mut expect = std::collections::BTreeMap::new();
        let mut see = |s: &mut Scratch, key: u64, off: u64| {
            s.slot(key, 0).see(off, off as f64, f64::INFINITY);
            expect.insert(key, off);
        };
        let mut off = 0;
        // Large keys first (beyond the table), then the small keys that
        // make it grow past them, then the large keys again.
        for round in 0..3 {
            for key in (300_000..300_100).chain([u64::MAX - 1]) {
                off += 8;
                see(&mut s, key, off);
            }
            if round == 0 {
                for key in 0..100_000 {
                    off += 8;
                    see(&mut s, key, off);
                }
            }
        }
        assert!(
            s.dense.len() > 300_100,
            "the table grew past the large keys"
        );
        let mut out = Vec::new();
        s.drain_into(&mut out);
        out.sort_by_key(|c| c.key);
        let got: Vec<(u64, u64)> = out.iter().map(|c| (c.key, c.best)).collect();
        assert_eq!(got, expect.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"run_*.log", b"run_0001.log"));
        assert!(wildcard(b"run_????.log", b"run_0001.log"));
        assert!(!wildcard(b"run_????.log", b"run_01.log"));
        assert!(wildcard(b"*", b""));
        assert!(!wildcard(b"a*b", b"acbd"));
    }
}
