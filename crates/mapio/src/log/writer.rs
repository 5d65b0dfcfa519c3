//! [`Log`]: the writer of a continuous log.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::core::{self, Memory, Meta, Space, TAIL_WORD};
use super::format::{self, Flags, HEADER_LEN, Header, Schema};
use super::reader::{Recovery, ScanReport, scan_memory};
use crate::error::{Error, Result};
use crate::map::{MappedFile, Mode, SharedMap};

/// The role byte the single writer holds (FORMAT.md section 2).
pub(crate) const WRITER_ROLE: u8 = 0;

const OFF_WORD_ALLOCATED: usize = format::OFF_ALLOCATED / 8;
const OFF_WORD_SYNCED: usize = format::OFF_SYNCED / 8;
const OFF_WORD_STATE: usize = format::OFF_STATE / 8;
const OFF_WORD_SESSIONS: usize = format::OFF_SESSIONS / 8;
const OFF_WORD_SESSION_START: usize = format::OFF_SESSION_START / 8;

/// How a record links to the previous record of its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Chain {
    /// The writer fills in the offset of the key's record committed
    /// before this one (0 for the first), tracking it for the caller. The
    /// default when a key is given. With one thread writing a key at a
    /// time, that is the key's previous record in the file; a reservation
    /// committed after a later append of its key, or one key appended by
    /// several threads at once, links in commit order (FORMAT.md 1.3).
    #[default]
    Auto,
    /// This offset (the caller tracks chains itself).
    To(u64),
    /// No `prev` field.
    None,
}

/// The metadata of one record: key, history chain, time, flags.
///
/// ```
/// use mapio::log::{Entry, Flags};
/// let e = Entry::new().key(42).time(1.5).flags(Flags::CREATE);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[must_use]
pub struct Entry {
    key: Option<u64>,
    chain: Chain,
    time: Option<f64>,
    flags: Flags,
}

impl Entry {
    /// No key, no time, no flags.
    pub fn new() -> Entry {
        Entry::default()
    }

    /// The object this record belongs to; chained to the key's previous
    /// record automatically (see [`Chain`]).
    pub fn key(mut self, key: u64) -> Entry {
        self.key = Some(key);
        self
    }

    /// How to link to the previous record of the key.
    pub fn chain(mut self, chain: Chain) -> Entry {
        self.chain = chain;
        self
    }

    /// The simulation time (or step) of the record.
    pub fn time(mut self, time: f64) -> Entry {
        self.time = Some(time);
        self
    }

    /// Flags ([`Flags::CREATE`], [`Flags::DELETE`], ...).
    pub fn flags(mut self, flags: Flags) -> Entry {
        self.flags = flags;
        self
    }

    /// The record's metadata, with a placeholder `prev` for `Auto` (the
    /// length is the same whatever its value).
    fn meta(&self) -> Meta {
        let prev = match (self.key, self.chain) {
            (_, Chain::To(off)) => Some(off),
            (Some(_), Chain::Auto) => Some(0),
            _ => None,
        };
        Meta {
            key: self.key,
            prev,
            time: self.time,
            flags: self.flags,
        }
    }
}

/// How to create or open a log for writing.
#[derive(Clone, Debug)]
#[must_use]
pub struct LogOptions {
    schema: Schema,
    reserve: u64,
    step: u64,
    background: bool,
    resident_window: Option<u64>,
    prefault: bool,
    dense_keys: usize,
    recovery: Recovery,
    resume_at: Option<u64>,
    /// The `created_ns` of the log a [`SyncPoint`] given to
    /// [`LogOptions::resume_from`] came from.
    resume_log: Option<u64>,
    file_mode: u32,
    wait: Option<Duration>,
    durable: bool,
    create_new: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl LogOptions {
    /// No schema; 1 TiB of address space; 64 MiB allocation steps made by
    /// a background thread; 1 GiB resident window; keys below 65536
    /// chained through a flat table.
    pub fn new() -> LogOptions {
        LogOptions {
            schema: Schema::new(),
            reserve: 1 << 40,
            step: 64 << 20,
            background: true,
            resident_window: Some(1 << 30),
            prefault: false,
            dense_keys: 1 << 16,
            recovery: Recovery::SkipDamage,
            resume_at: None,
            resume_log: None,
            file_mode: 0o640,
            wait: None,
            durable: false,
            create_new: false,
        }
    }

    /// The payload schema stored in the header (for tools).
    pub fn schema(mut self, schema: Schema) -> Self {
        self.schema = schema;
        self
    }

    /// Address space reserved: the largest size the log can reach.
    pub fn reserve(mut self, bytes: u64) -> Self {
        self.reserve = bytes;
        self
    }

    /// Bytes allocated (`fallocate`) at a time ahead of the writers
    /// (default 64 MiB). Where the filesystem has no room for a whole
    /// step, the log takes half, a quarter, ... (down to 64 KiB, then what
    /// a record needs), and keeps the smaller step: a nearly full disk
    /// fills up to its last bytes, then appends fail with
    /// [`Error::NoSpace`](crate::Error::NoSpace).
    pub fn step(mut self, bytes: u64) -> Self {
        self.step = bytes.max(4096);
        self
    }

    /// Allocate ahead in a background thread (default), so that writers
    /// never wait for `fallocate`; without it the writer that crosses the
    /// allocated end allocates the next step.
    pub fn background_allocation(mut self, yes: bool) -> Self {
        self.background = yes;
        self
    }

    /// With background allocation, also fault pages in (readable) from the
    /// background thread, a window ahead of the tail, so that writers take
    /// only minor faults. Off by default: on a machine without idle cores
    /// it costs more than it saves (measured by `mapio bench`).
    pub fn prefault(mut self, yes: bool) -> Self {
        self.prefault = yes;
        self
    }

    /// Keep at most about this many bytes of already synced log mapped in
    /// memory: after each `sync`, older pages are released
    /// (`MADV_DONTNEED`, `POSIX_FADV_DONTNEED`), so a run that writes
    /// 100 GiB keeps its memory bounded. `None`: never release.
    pub fn resident_window(mut self, bytes: Option<u64>) -> Self {
        self.resident_window = bytes;
        self
    }

    /// Keys below `n` (default 65536) are tracked for [`Chain::Auto`] in a
    /// flat table (fast, 8 bytes a key); others in a hash map.
    pub fn dense_keys(mut self, n: usize) -> Self {
        self.dense_keys = n;
        self
    }

    /// What reopening does with damage it finds (default: step over it).
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// [`open`](Self::open) discards every record from `offset` on and
    /// appends from there: how a run restarted from a checkpoint takes up
    /// its log where the checkpoint left it, as SWIFT's restarts do,
    /// instead of writing its steps a second time after the first ones.
    /// `offset` is one that [`Log::sync`] returned (or any record boundary,
    /// such as a record's [`next_offset`](super::Record::next_offset)); it
    /// is refused, before anything changes, if no record ends there or if
    /// it lies past the log's records. The records before it are kept as
    /// recovery keeps them; the chains continue from them. An index of the
    /// log next to it (`LOG.idx`) is removed, one elsewhere is found stale
    /// when next used. A follower attached meanwhile goes back to
    /// `offset` when the new session starts (records after it that it had
    /// already returned are gone from the log).
    pub fn resume_at(mut self, offset: u64) -> Self {
        self.resume_at = Some(offset);
        self
    }

    /// [`resume_at`](Self::resume_at) the offset of `point`, checking
    /// first that the log is the one `point` came from
    /// ([`Log::sync_point`]): in a run of many ranks, a checkpoint holds one
    /// point per log, and one swapped for another would otherwise cut a
    /// log at an offset that means nothing there (refused, unchanged:
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument)).
    pub fn resume_from(mut self, point: SyncPoint) -> Self {
        self.resume_at = Some(point.offset);
        self.resume_log = Some(point.log_created_ns);
        self
    }

    /// Permission bits of a created log (default `0o640`).
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode;
        self
    }

    /// Wait this long for other processes to let go of the file.
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Make the created file and its directory entry durable at once.
    pub fn durable(mut self, yes: bool) -> Self {
        self.durable = yes;
        self
    }

    /// [`create`](Self::create) fails if the file already exists
    /// ([`Error::Io`](crate::Error::Io) of kind `AlreadyExists`, `O_EXCL`)
    /// instead of overwriting it.
    pub fn create_new(mut self, yes: bool) -> Self {
        self.create_new = yes;
        self
    }

    /// Creates (or overwrites: see [`create_new`](Self::create_new)) the
    /// log at `path`.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<Log> {
        Log::create_with(self, path.as_ref())
    }

    /// Opens an existing log to append to it, recovering it first if it
    /// was not closed cleanly. Readers attached to the log do not stand in
    /// the way (a live follower goes on with the new session); another
    /// writer does: [`Error::Locked`], or a wait as [`wait`](Self::wait)
    /// says.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Log> {
        Log::open_with(self, path.as_ref()).map(|(log, _)| log)
    }

    fn map_options(&self, mode: Mode) -> crate::map::OpenOptions {
        let mut o = MappedFile::options()
            .mode(mode)
            .reserve(self.reserve)
            .file_mode(self.file_mode)
            .durable(self.durable);
        if let Some(w) = self.wait {
            o = o.wait(w);
        }
        o
    }
}

/// Tracks the last record of each key for [`Chain::Auto`].
struct Keys {
    dense: Box<[AtomicU64]>,
    sparse: Box<[Mutex<IdMap>]>,
}

/// Key -> offset of its last record.
type IdMap = HashMap<u64, u64, std::hash::BuildHasherDefault<IdHasher>>;

/// A hasher for integer keys: one multiply. Keys are object ids chosen by
/// the writing program itself, so SipHash's protection against chosen
/// keys buys nothing here and costs a lot per append.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    /// The product's high half first: a table's bucket comes from the low
    /// bits, which for keys spaced by a power of two (`n << 32`) would
    /// all be zero.
    fn finish(&self) -> u64 {
        self.0.rotate_left(32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Keys {
    fn new(dense: usize) -> Keys {
        Keys {
            dense: (0..dense).map(|_| AtomicU64::new(0)).collect(),
            sparse: (0..64).map(|_| Mutex::new(HashMap::default())).collect(),
        }
    }

    /// Records `off` as the key's latest; returns the previous (0: none).
    fn swap(&self, key: u64, off: u64) -> u64 {
        if let Some(slot) = usize::try_from(key).ok().and_then(|k| self.dense.get(k)) {
            return slot.swap(off, Ordering::AcqRel);
        }
        let shard = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize;
        let mut m = self.sparse[shard].lock().unwrap_or_else(|e| e.into_inner());
        m.insert(key, off).unwrap_or(0)
    }
}

struct Background {
    wanted: bool,
    stop: bool,
}

pub(crate) struct Inner {
    map: SharedMap,
    path: PathBuf,
    header: Header,
    allocated: AtomicU64,
    capacity: u64,
    /// The allocation step: the configured one, halved each time the
    /// filesystem has no room for a whole step (a nearly full disk then
    /// costs a few failed `fallocate` calls, not one per append).
    step: AtomicU64,
    grow: Mutex<()>,
    /// A flush failed: the log is poisoned (FORMAT.md 1.7).
    failed: OnceLock<String>,
    /// Allocation failed for a reservation: the log is full. Appends fail;
    /// what was committed can still be synced and read.
    full: OnceLock<(String, bool)>,
    /// The background thread's last allocation failed; it waits for a
    /// writer to succeed before trying again.
    bg_failed: AtomicBool,
    bg_requested: AtomicBool,
    bg: Mutex<Background>,
    bg_cv: Condvar,
    keys: Keys,
    sync: Mutex<SyncState>,
    resident_window: Option<u64>,
    prefault: Prefault,
    /// Pages below this offset were faulted in ahead of the writers.
    prefaulted: AtomicU64,
    /// Every record below this offset is committed: a record boundary
    /// that the background thread advances behind the writers, so that
    /// `sync` walks only the last stretch (the walk is one dependent,
    /// mostly cache-missing load a record).
    committed: AtomicU64,
    /// The tail when the background thread last walked (a walk stopped by
    /// a reservation still being written is retried only after the tail
    /// has moved on by a step, not on every append).
    walked: AtomicU64,
}

/// How the background thread faults pages in ahead of the writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefault {
    Off,
    Read,
    Write,
}

/// How far ahead of the tail pages are faulted in.
const PREFAULT_WINDOW: u64 = 8 << 20;
/// The smallest step a nearly full disk halves the allocation step to
/// (below it, a writer allocates just what its record needs).
const MIN_STEP: u64 = 64 << 10;

/// How far the writers may get ahead of the committed prefix the
/// background thread has walked before they wake it.
const COMMIT_WALK_STEP: u64 = 4 << 20;

struct SyncState {
    /// Every record below this offset is committed (scanned so far).
    prefix: u64,
    /// Pages below this offset were released.
    released: u64,
}

impl Inner {
    fn words(&self) -> Result<&[AtomicU64]> {
        self.map.atomics::<AtomicU64>()
    }

    fn check_failed(&self) -> Result<()> {
        match self.failed.get() {
            Some(why) => Err(Error::Poisoned {
                path: self.path.clone(),
                first: why.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether appends can go on: not poisoned, not full.
    fn check_writable(&self) -> Result<()> {
        self.check_failed()?;
        match self.full.get() {
            Some((why, true)) => Err(Error::NoSpace {
                path: self.path.clone(),
                offset: self.allocated.load(Ordering::Acquire),
                requested: 0,
                source: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!(
                        "the log is full since an earlier append ({why}); every record before it is intact and can be synced"
                    ),
                ),
            }),
            Some((why, false)) => Err(Error::invalid(format!(
                "{}: the log cannot grow: {why}",
                self.path.display()
            ))),
            None => Ok(()),
        }
    }

    /// Allocates up to at least `end`, a step at a time. For a writer
    /// (`needed`), failure means its reservation can never be written:
    /// the log is full from then on. For the background thread it only
    /// means "not ahead of time": writers will try for what they need.
    fn allocate_to(&self, end: u64, needed: bool) -> Result<()> {
        let _g = self.grow.lock().unwrap_or_else(|e| e.into_inner());
        let have = self.allocated.load(Ordering::Acquire);
        if end <= have {
            return Ok(());
        }
        self.check_writable()?;
        if end > self.capacity {
            let why = format!(
                "it reached its reserved size of {} bytes; reopen with a larger LogOptions::reserve",
                self.capacity
            );
            if needed {
                let _ = self.full.set((why.clone(), false));
            }
            return Err(Error::invalid(format!("{}: {why}", self.path.display())));
        }
        // No room for a whole step: half a step, and so on down to what
        // the reservation needs (a writer's); smaller steps from then on.
        let mut step = self.step.load(Ordering::Relaxed);
        let r = loop {
            let target = end.max(have + step).min(self.capacity);
            match self.map.grow(target) {
                Err(e) if e.is_no_space() && target > end && needed => {
                    let half = step / 2;
                    if half < MIN_STEP || have + half <= end {
                        break self.map.grow(end).map(|_| end);
                    }
                    step = half;
                    self.step.store(step, Ordering::Relaxed);
                }
                r => break r.map(|_| target),
            }
        };
        match r {
            Ok(now) => {
                self.allocated.store(now, Ordering::Release);
                self.bg_failed.store(false, Ordering::Relaxed);
                if let Ok(w) = self.words() {
                    w.store(OFF_WORD_ALLOCATED, now, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(e) => {
                if needed {
                    let _ = self.full.set((e.to_string(), e.is_no_space()));
                } else {
                    self.bg_failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }

    fn request_background(&self, end: u64) {
        let step = self.step.load(Ordering::Relaxed);
        let need_space = end + step / 2 > self.allocated.load(Ordering::Relaxed);
        let need_pages = self.prefault != Prefault::Off
            && end + PREFAULT_WINDOW / 2 > self.prefaulted.load(Ordering::Relaxed);
        let need_walk = end > self.walked.load(Ordering::Relaxed) + COMMIT_WALK_STEP;
        if (need_space || need_pages || need_walk)
            && !self.bg_requested.swap(true, Ordering::AcqRel)
        {
            let mut bg = self.bg.lock().unwrap_or_else(|e| e.into_inner());
            bg.wanted = true;
            self.bg_cv.notify_one();
        }
    }

    fn background_loop(self: Arc<Inner>) {
        loop {
            {
                let mut bg = self.bg.lock().unwrap_or_else(|e| e.into_inner());
                while !bg.wanted && !bg.stop {
                    bg = self.bg_cv.wait(bg).unwrap_or_else(|e| e.into_inner());
                }
                if bg.stop {
                    return;
                }
                bg.wanted = false;
            }
            let tail = self.tail();
            let have = self.allocated.load(Ordering::Acquire);
            let step = self.step.load(Ordering::Relaxed);
            // Errors surface to the writer that needs the space.
            let ok = self.failed.get().is_none() && self.full.get().is_none();
            if ok
                && !self.bg_failed.load(Ordering::Relaxed)
                && have < self.capacity
                && tail + step / 2 > have
            {
                let _ = self.allocate_to(have + step, false);
            }
            if ok && self.prefault != Prefault::Off {
                // Take the page faults (and the kernel's zeroing of new
                // pages) here, a window ahead of the tail, not in the
                // writers.
                let from = self.prefaulted.load(Ordering::Acquire).max(tail);
                let to = (tail + PREFAULT_WINDOW).min(self.allocated.load(Ordering::Acquire));
                if to > from {
                    let write = self.prefault == Prefault::Write;
                    let _ = self
                        .map
                        .populate(from as usize, (to - from) as usize, write);
                    self.prefaulted.fetch_max(to, Ordering::AcqRel);
                }
            }
            if ok {
                // Walk the records committed since the last walk, while
                // they are likely still in the cache.
                let from = self.committed.load(Ordering::Acquire);
                let limit = tail.min(self.allocated.load(Ordering::Acquire));
                if let Ok(p) = self.scan_prefix(from, limit) {
                    self.committed.fetch_max(p, Ordering::AcqRel);
                }
                self.walked.fetch_max(limit, Ordering::Relaxed);
            }
            self.bg_requested.store(false, Ordering::Release);
        }
    }

    fn tail(&self) -> u64 {
        self.words()
            .map(|w| w.load(TAIL_WORD, Ordering::Acquire))
            .unwrap_or(HEADER_LEN)
    }

    /// Advances the committed prefix as far as records are committed.
    fn scan_prefix(&self, from: u64, limit: u64) -> Result<u64> {
        let words = self.words()?;
        let mut pos = from;
        while pos + format::FIXED_LEN <= limit {
            let w = words.load((pos / 8) as usize, Ordering::Acquire);
            match format::Word0::unpack(w) {
                Some(w0) if pos + w0.len as u64 <= limit => pos += w0.len as u64,
                _ => break,
            }
        }
        Ok(pos)
    }

    /// Covers with padding every gap below `limit` that no record fills:
    /// called by `close`, when no append is in flight, so a gap is a
    /// reservation that was forgotten (`mem::forget`), never committed nor
    /// dropped. Recovery would do the same on the next open; done here, a
    /// closed log reads as clean.
    fn pad_forgotten(&self, limit: u64) -> Result<()> {
        let words = self.words()?;
        let start = {
            let st = self.sync.lock().unwrap_or_else(|e| e.into_inner());
            st.prefix.max(self.committed.load(Ordering::Acquire))
        };
        let mut budget = core::resync_budget(limit);
        let mut scratch = Vec::new();
        let mut pos = start;
        loop {
            pos = self.scan_prefix(pos, limit)?;
            if pos >= limit {
                break;
            }
            let next = core::resync(words, pos, limit, &mut scratch, &mut budget).unwrap_or(limit);
            core::fill_padding(words, pos, next);
            pos = next;
        }
        self.committed.fetch_max(pos, Ordering::AcqRel);
        Ok(())
    }

    /// `fdatasync` (and, the first time for a new log, the directory's
    /// `fsync`). A failed `fdatasync` poisons the log: the kernel may have
    /// dropped pages it could not write. A failed directory `fsync` does
    /// not (the records are on the disk; only the name is not yet): it is
    /// reported, and the next sync tries again.
    fn sync_data(&self) -> Result<()> {
        self.map.sync_data().inspect_err(|e| {
            if !matches!(e, Error::Io { op, .. } if *op == crate::map::DIR_FSYNC) {
                let _ = self.failed.set(e.to_string());
            }
        })
    }

    fn sync(&self) -> Result<u64> {
        self.check_failed()?;
        let mut st = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let tail = self.tail().min(self.allocated.load(Ordering::Acquire));
        // The prefix is computed before the flush, so that every record it
        // covers was committed before its pages were written. (Counting
        // commits instead would put a second locked instruction, and its
        // store-buffer drain, on every append.)
        // The background thread may have walked most of the way already
        // (both are record boundaries with everything below committed).
        let from = st.prefix.max(self.committed.load(Ordering::Acquire));
        let prefix = self.scan_prefix(from, tail)?;
        self.committed.fetch_max(prefix, Ordering::AcqRel);
        // The hint goes to the header first, to be flushed with the data.
        self.words()?
            .store(OFF_WORD_SYNCED, prefix, Ordering::Relaxed);
        // One `fdatasync` writes back every page dirtied through the map
        // (Linux tracks them in the page cache) together with the file's
        // size after growth: one device flush, where `msync` of the
        // records, `msync` of the header and `fdatasync` would be three.
        self.sync_data()?;
        st.prefix = prefix;
        if let Some(window) = self.resident_window {
            let page = crate::sys::page_size() as u64;
            let upto = prefix.saturating_sub(window) / page * page;
            if upto > st.released.max(HEADER_LEN) {
                let from = st.released.max(HEADER_LEN);
                // Best effort: failing to release memory loses nothing.
                let _ = self.map.release(from as usize, (upto - from) as usize);
                st.released = upto;
            }
        }
        Ok(prefix)
    }
}

impl Space for Inner {
    type Error = Error;

    fn allocated(&self) -> u64 {
        self.allocated.load(Ordering::Acquire)
    }

    fn grow_to(&self, end: u64) -> Result<()> {
        self.allocate_to(end, true)
    }
}

/// Truncates a cleanly closed log to its end record, if the space its
/// writer had allocated ahead is still there (a log closed while another
/// process had it open keeps it: truncating under a reader's map would
/// crash it). Needs the log to itself ([`Error::Locked`] otherwise).
/// Changes nothing else; `None` if there was nothing to trim (or the log
/// was not closed cleanly: [`recover`](super::recover) is for those).
pub(crate) fn trim_closed(path: &Path) -> Result<Option<u64>> {
    let mut map = LogOptions::new()
        .map_options(Mode::ReadWrite)
        .open_shared_exclusive(path)?;
    let words = map.atomics::<AtomicU64>()?;
    Header::decode(&read_page(words)).map_err(|e| e.for_file(path))?;
    let size = map.len() as u64;
    let end = words.load(TAIL_WORD, Ordering::Relaxed);
    let closed = words.load(OFF_WORD_STATE, Ordering::Relaxed) == format::STATE_CLOSED;
    // `close` reserved its end record last: the tail is where it ends.
    let ends_there = end >= HEADER_LEN + format::END_LEN
        && end <= size
        && end % 8 == 0
        && format::Word0::unpack(
            words.load(((end - format::END_LEN) / 8) as usize, Ordering::Relaxed),
        )
        .is_some_and(|w| w.kind == format::Kind::End);
    if !closed || !ends_there || size <= end {
        return Ok(None);
    }
    // `tail` and `state` are hints outside the checksum (stale after a
    // crash of the machine, or crafted): truncate only zeros, never a
    // record a stale tail does not know of.
    let only_zeros_after = size.is_multiple_of(8)
        && words.len() as u64 * 8 >= size
        && core::all_zero(words, end, size);
    if !only_zeros_after {
        return Ok(None);
    }
    map.truncate(end)?;
    map.sync_data()?;
    Ok(Some(end))
}

/// Where a log stood when [`Log::sync_point`] returned: every record below
/// `offset` is durable. Two plain numbers, for a simulation to save with
/// its checkpoint and give back to [`LogOptions::resume_from`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyncPoint {
    /// The offset [`Log::sync`] returned.
    pub offset: u64,
    /// Which log: its header's `created_ns`.
    pub log_created_ns: u64,
}

/// What a writer found when it opened (and recovered) an existing log.
pub type OpenReport = ScanReport;

/// The writer of a continuous log: many threads append at once (`Log` is
/// `Sync`), each with one atomic fetch-add and a copy straight into the
/// mapped file; other processes read it live.
///
/// ```
/// use mapio::log::{Entry, Log, LogReader};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("run.log");
/// let log = Log::create(&path)?;
/// std::thread::scope(|s| {
///     for t in 0..4u64 {
///         let log = &log;
///         s.spawn(move || {
///             for i in 0..100u64 {
///                 log.append(&Entry::new().key(t).time(i as f64), &i.to_le_bytes()).unwrap();
///             }
///         });
///     }
/// });
/// let durable = log.sync()?;          // every record below is on disk
/// log.close()?;
/// let reader = LogReader::open(&path)?;
/// assert_eq!(reader.records().count(), 400);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Log {
    inner: Arc<Inner>,
    bg: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("path", &self.inner.path)
            .field("tail", &self.inner.tail())
            .finish()
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Writes `bytes` into the header page through the atomic words.
fn write_page(words: &[AtomicU64], bytes: &[u8]) {
    for (i, c) in bytes.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        words.store(i, u64::from_le_bytes(w), Ordering::Relaxed);
    }
}

/// Reads the header page out through the atomic words.
pub(crate) fn read_page(words: &[AtomicU64]) -> Vec<u8> {
    let n = (HEADER_LEN as usize / 8).min(words.len());
    let mut page = Vec::with_capacity(n * 8);
    for i in 0..n {
        page.extend_from_slice(&words.load(i, Ordering::Relaxed).to_le_bytes());
    }
    page
}

impl Log {
    /// Creates (or overwrites) a log with default options.
    pub fn create(path: impl AsRef<Path>) -> Result<Log> {
        LogOptions::new().create(path)
    }

    /// Opens an existing log for appending, with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Log> {
        LogOptions::new().open(path)
    }

    /// Opens an existing log for appending and returns what recovery found.
    pub fn open_with_report(
        path: impl AsRef<Path>,
        options: &LogOptions,
    ) -> Result<(Log, OpenReport)> {
        Log::open_with(options, path.as_ref())
    }

    fn create_with(opts: &LogOptions, path: &Path) -> Result<Log> {
        // No room for a whole first step: half a step, and so on (a
        // failed create leaves no file behind).
        let mut step = opts.step;
        let map = loop {
            let initial = HEADER_LEN + step;
            match opts
                .map_options(Mode::Create)
                .create_new(opts.create_new)
                .len(initial.min(opts.reserve.max(HEADER_LEN)))
                .open_shared_exclusive(path)
            {
                Err(e) if e.is_no_space() && step / 2 >= MIN_STEP => step /= 2,
                r => break r?,
            }
        };
        let header = Header::new(opts.schema.clone(), now_ns());
        let mut page = header.encode();
        let allocated = map.len() as u64;
        page[format::OFF_ALLOCATED..format::OFF_ALLOCATED + 8]
            .copy_from_slice(&allocated.to_le_bytes());
        page[format::OFF_SESSIONS..format::OFF_SESSIONS + 8].copy_from_slice(&1u64.to_le_bytes());
        page[format::OFF_SESSION_START..format::OFF_SESSION_START + 8]
            .copy_from_slice(&HEADER_LEN.to_le_bytes());
        write_page(map.atomics::<AtomicU64>()?, &page);
        if opts.durable {
            map.flush_range(0, HEADER_LEN as usize)?;
        }
        let log = Self::start(
            opts,
            map,
            path,
            header,
            HEADER_LEN,
            allocated,
            Keys::new(opts.dense_keys),
        )?;
        log.inner.step.store(step, Ordering::Relaxed);
        Ok(log)
    }

    /// Opens `path` for appending: alone if nobody has it open (the
    /// exclusive lock, so that recovery may truncate), else beside the
    /// readers attached (the sharing lock and the writer byte at once: a
    /// follower left running must not keep a restarted run out). Returns
    /// the map and whether it is alone.
    fn open_for_append(opts: &LogOptions, path: &Path) -> Result<(SharedMap, bool)> {
        // Without `wait`, one try; a wait too long for the clock is none.
        let deadline = match opts.wait {
            Some(w) => Instant::now().checked_add(w),
            None => Some(Instant::now()),
        };
        let alone = opts
            .map_options(Mode::ReadWrite)
            .no_wait()
            .open_shared_exclusive(path);
        match alone {
            Err(Error::Locked { .. }) => {}
            r => return r.map(|m| (m, true)),
        }
        // Readers, or another writer. The sharing lock waits as the
        // options say for an exclusive holder (another writer recovering,
        // `mapio recover`); the writer byte decides between writers.
        let map = opts.map_options(Mode::ReadWrite).open_shared(path)?;
        super::retry_until(deadline, || match map.claim_role(WRITER_ROLE) {
            Ok(true) => ControlFlow::Break(Ok(())),
            Ok(false) => ControlFlow::Continue(Err(Error::Locked {
                path: path.to_path_buf(),
                wanted: crate::LockKind::Exclusive,
            })),
            Err(e) => ControlFlow::Break(Err(e)),
        })?;
        Ok((map, false))
    }

    fn open_with(opts: &LogOptions, path: &Path) -> Result<(Log, ScanReport)> {
        let (mut map, alone) = Self::open_for_append(opts, path)?;
        let words = map.atomics::<AtomicU64>()?;
        let header = Header::decode(&read_page(words)).map_err(|e| e.for_file(path))?;
        if let Some(id) = opts.resume_log.filter(|&id| id != header.created_ns) {
            return Err(Error::invalid(format!(
                "{}: cannot resume from a sync point of another log (created at {id} ns, \
                 this one at {} ns)",
                path.display(),
                header.created_ns
            )));
        }
        let keys = Keys::new(opts.dense_keys);
        let size = map.len() as u64;
        let limit = match opts.resume_at {
            Some(at) if at < HEADER_LEN || at % 8 != 0 || at > size => {
                return Err(Error::invalid(format!(
                    "{}: cannot resume at offset {at}: {}",
                    path.display(),
                    if at > size {
                        format!("the log is {size} bytes long")
                    } else {
                        "records start at 4096 and end at multiples of 8".to_string()
                    }
                )));
            }
            Some(at) => at,
            None => size,
        };
        let synced = words.load(OFF_WORD_SYNCED, Ordering::Relaxed);
        let report = scan_memory(
            words,
            path,
            limit,
            false,
            synced,
            opts.recovery,
            |off, meta| {
                if let Some(k) = meta.key {
                    keys.swap(k, off);
                }
            },
        );
        let good_end = report.end_offset;
        if let Some(at) = opts.resume_at {
            // Checked before anything is changed.
            if good_end != at {
                return Err(Error::invalid(format!(
                    "{}: cannot resume at offset {at}: no record ends there (the records \
                     before it end at {good_end}); pass an offset Log::sync returned",
                    path.display()
                )));
            }
            // Best effort: an index that describes discarded records.
            let _ = std::fs::remove_file(super::Index::path_for(path, None));
        }
        // The new session first, so that readers attached know of it
        // before any byte changes under them: they read no further than
        // `tail`, a follower that had gone past `session_start` goes back
        // there, and a read that began before stops at its next gap. The
        // header's counters are hints outside the checksum: any value
        // must be harmless.
        let sessions = words
            .load(OFF_WORD_SESSIONS, Ordering::Relaxed)
            .saturating_add(1);
        words.store(OFF_WORD_SYNCED, synced.min(good_end), Ordering::Relaxed);
        words.store(TAIL_WORD, good_end, Ordering::Relaxed);
        words.store(OFF_WORD_STATE, format::STATE_OPEN, Ordering::Relaxed);
        words.store(OFF_WORD_SESSION_START, good_end, Ordering::Relaxed);
        // Release: a reader that sees the new count sees the rest.
        words.store(OFF_WORD_SESSIONS, sessions, Ordering::Release);
        // Holes and damage below the end become padding: a live reader
        // must never wait at a hole left by a crashed session, and nothing
        // there could be returned anyway (it does not check).
        for gap in report.holes.iter().chain(&report.damaged) {
            if gap.to <= good_end {
                core::fill_padding(words, gap.from, gap.to);
            }
        }
        // Zero everything after the last good record, so that nothing
        // stale can be mistaken for a record later: truncate (allocation
        // brings back zeros), or, with readers attached (their maps would
        // fault past a truncation), clear it in place (`clear_range`:
        // killed half-way, the log is still records and zeros, and the
        // restarted run resumes again); the file keeps its length, all of
        // it allocated (an `r+` open allocates it).
        let size = map.len() as u64;
        let truncated = alone && size > good_end && map.truncate(good_end)?;
        let allocated = if size > good_end && !truncated {
            let words = map.atomics::<AtomicU64>()?;
            core::clear_range(words, good_end, core::nonzero_end(words, good_end, size));
            size
        } else {
            good_end
        };
        map.atomics::<AtomicU64>()?
            .store(OFF_WORD_ALLOCATED, allocated, Ordering::Relaxed);
        map.flush_range(0, HEADER_LEN as usize)?;
        let log = Self::start(opts, map, path, header, good_end, allocated, keys)?;
        Ok((log, report))
    }

    fn start(
        opts: &LogOptions,
        mut map: SharedMap,
        path: &Path,
        header: Header,
        prefix: u64,
        allocated: u64,
        keys: Keys,
    ) -> Result<Log> {
        if !map.claim_role(WRITER_ROLE)? {
            return Err(Error::Locked {
                path: path.to_path_buf(),
                wanted: crate::LockKind::Exclusive,
            });
        }
        map.share()?;
        let capacity = map.capacity();
        let inner = Arc::new(Inner {
            map,
            path: path.to_path_buf(),
            header,
            allocated: AtomicU64::new(allocated),
            capacity,
            step: AtomicU64::new(opts.step),
            grow: Mutex::new(()),
            failed: OnceLock::new(),
            full: OnceLock::new(),
            bg_failed: AtomicBool::new(false),
            bg_requested: AtomicBool::new(false),
            bg: Mutex::new(Background {
                wanted: false,
                stop: false,
            }),
            bg_cv: Condvar::new(),
            keys,
            sync: Mutex::new(SyncState {
                prefix,
                released: HEADER_LEN,
            }),
            resident_window: opts.resident_window,
            prefault: if opts.prefault {
                Prefault::Read
            } else {
                Prefault::Off
            },
            prefaulted: AtomicU64::new(prefix),
            committed: AtomicU64::new(prefix),
            walked: AtomicU64::new(prefix),
        });
        let bg = if opts.background {
            let i = Arc::clone(&inner);
            Some(
                std::thread::Builder::new()
                    .name("mapio-log-alloc".into())
                    .spawn(move || i.background_loop())
                    .map_err(|e| Error::io(path, "spawn", e))?,
            )
        } else {
            None
        };
        if bg.is_some() {
            // Fault in the first window before the first append needs it.
            inner.request_background(prefix);
        }
        Ok(Log { inner, bg })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The payload schema.
    pub fn schema(&self) -> &Schema {
        &self.inner.header.schema
    }

    /// Offset of the next free byte (reserved so far).
    pub fn tail(&self) -> u64 {
        self.inner.tail()
    }

    /// Bytes allocated in the file.
    pub fn allocated(&self) -> u64 {
        self.inner.allocated.load(Ordering::Acquire)
    }

    /// The length of a record of `meta` and `payload` bytes, checking the
    /// entry: a NaN time is refused (no query could place the record).
    fn record_len(&self, meta: &Meta, payload: usize) -> Result<u64> {
        if meta.time.is_some_and(f64::is_nan) {
            return Err(Error::invalid(
                "a record's time cannot be NaN (queries place records by time)",
            ));
        }
        // With a schema, a payload holds every field (or none: a marker
        // record such as a DELETE); one that stops inside the fields would
        // decode and export as values that were never written.
        let fields = self.inner.header.schema.payload_len();
        if payload != 0 && payload < fields {
            return Err(Error::invalid(format!(
                "a payload of {payload} bytes does not hold the schema's fields ({fields} bytes); \
                 give every field, or an empty payload for a record without values"
            )));
        }
        meta.record_len(payload)
            .ok_or_else(|| Error::invalid(format!("a record of {payload} bytes is too long")))
    }

    fn resolve_prev(&self, entry: &Entry, off: u64, meta: &mut Meta) {
        if let (Some(key), Chain::Auto) = (entry.key, entry.chain) {
            meta.prev = Some(self.inner.keys.swap(key, off));
        }
    }

    /// Appends one record; returns its offset. Callable from any number of
    /// threads at once. On the hot path: one atomic fetch-add, the copy,
    /// and one release store; no lock and no system call.
    ///
    /// With a [`Schema`], the payload holds every field (at least
    /// [`Schema::payload_len`] bytes) or is empty (a record without
    /// values, such as a DELETE); anything between is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn append(&self, entry: &Entry, payload: &[u8]) -> Result<u64> {
        self.inner.check_writable()?;
        let mut meta = entry.meta();
        let len = self.record_len(&meta, payload.len())?;
        let mut words = self.inner.words()?;
        let off = core::reserve(words, &*self.inner, len)?;
        if (off + len) as usize > words.len() * 8 {
            // The reservation needed the file to grow: a longer view.
            words = self.inner.words()?;
        }
        self.resolve_prev(entry, off, &mut meta);
        core::write_record(words, off, len, &meta, payload);
        if self.bg.is_some() {
            self.inner.request_background(off + len);
        }
        Ok(off)
    }

    /// Reserves a record of `payload_len` bytes to be written in place
    /// (no intermediate buffer) and committed with
    /// [`Reservation::commit`]. Dropped without commit, or on a panic
    /// mid-write, it becomes padding that readers step over.
    pub fn reserve(&self, entry: &Entry, payload_len: usize) -> Result<Reservation<'_>> {
        self.inner.check_writable()?;
        let meta = entry.meta();
        let len = self.record_len(&meta, payload_len)?;
        let header_words = self.inner.words()?;
        let off = core::reserve(header_words, &*self.inner, len)?;
        if self.bg.is_some() {
            self.inner.request_background(off + len);
        }
        Ok(Reservation {
            log: self,
            entry: *entry,
            meta,
            off,
            len,
            payload_len,
            done: false,
        })
    }

    /// Makes every record committed before the call durable (`msync` of
    /// the records, `fdatasync` if the file grew) and returns the offset
    /// below which every record is committed and durable. A failure
    /// poisons the log: every later `sync` and `append` fails.
    pub fn sync(&self) -> Result<u64> {
        self.inner.sync()
    }

    /// [`sync`](Self::sync), returning where the log stands as a
    /// [`SyncPoint`]: its offset and which log it is. Saved with a
    /// checkpoint, it is what [`LogOptions::resume_from`] takes to restart
    /// the run there.
    pub fn sync_point(&self) -> Result<SyncPoint> {
        Ok(SyncPoint {
            offset: self.sync()?,
            log_created_ns: self.inner.header.created_ns,
        })
    }

    /// Starts write-back of everything reserved so far without waiting
    /// (`sync_file_range`); no durability promise.
    pub fn sync_async(&self) -> Result<()> {
        self.inner.check_failed()?;
        let tail = self.tail().min(self.allocated());
        self.inner
            .map
            .flush_async_range(HEADER_LEN as usize, (tail - HEADER_LEN) as usize)
    }

    fn stop_background(&mut self) {
        if let Some(h) = self.bg.take() {
            {
                let mut bg = self.inner.bg.lock().unwrap_or_else(|e| e.into_inner());
                bg.stop = true;
                self.inner.bg_cv.notify_one();
            }
            let _ = h.join();
        }
    }

    /// Closes the log: writes the end record, syncs, marks the header
    /// clean, and truncates the file after the end record (unless another
    /// process still has it open). Returns the log's final size.
    ///
    /// A full log (an append failed for lack of space) is synced, but
    /// cannot take its end record: `close` then reports the full disk, and
    /// the next opening recovers it like a crashed one, losing nothing.
    pub fn close(mut self) -> Result<u64> {
        self.inner.check_failed()?;
        if let Err(e) = self.inner.check_writable() {
            self.inner.sync()?;
            return Err(e);
        }
        let tail = self
            .inner
            .tail()
            .min(self.inner.allocated.load(Ordering::Acquire));
        self.inner.pad_forgotten(tail)?;
        let words = self.inner.words()?;
        let off = match core::reserve(words, &*self.inner, format::END_LEN) {
            Ok(off) => off,
            Err(e) => {
                self.inner.sync()?;
                return Err(e);
            }
        };
        core::write_end(self.inner.words()?, off);
        let end = off + format::END_LEN;
        self.inner
            .words()?
            .store(OFF_WORD_STATE, format::STATE_CLOSED, Ordering::Release);
        // With `self` consumed no append is in flight: everything reserved
        // is committed or padding (forgotten reservations were padded
        // above).
        self.stop_background();
        // The background thread held the only other reference.
        let inner =
            Arc::get_mut(&mut self.inner).ok_or_else(|| Error::invalid("log still in use"))?;
        // Truncate only if nobody else is attached; either way the end
        // record marks the end. The space after it holds only zeros.
        let truncated = inner.map.truncate(end);
        // One flush for the end record, the header and the new size
        // together (`fdatasync` covers the size), even when the truncate
        // failed: the log is closed either way.
        inner.sync_data()?;
        truncated?;
        Ok(end)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.stop_background();
    }
}

/// A record reserved with [`Log::reserve`], written in place.
pub struct Reservation<'a> {
    log: &'a Log,
    entry: Entry,
    meta: Meta,
    off: u64,
    len: u64,
    payload_len: usize,
    done: bool,
}

impl std::fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("offset", &self.off)
            .field("len", &self.len)
            .field("payload_len", &self.payload_len)
            .field("entry", &self.entry)
            .field("committed", &self.done)
            .finish_non_exhaustive()
    }
}

impl Reservation<'_> {
    /// The record's offset in the file.
    pub fn offset(&self) -> u64 {
        self.off
    }

    /// The payload length.
    pub fn len(&self) -> usize {
        self.payload_len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload_len == 0
    }

    fn payload_start(&self) -> u64 {
        self.off
            + format::FIXED_LEN
            + 8 * (self.meta.key.is_some() as u64
                + self.meta.prev.is_some() as u64
                + self.meta.time.is_some() as u64)
    }

    /// Writes `bytes` at byte `at` of the payload.
    pub fn put(&mut self, at: usize, bytes: &[u8]) -> Result<()> {
        if at
            .checked_add(bytes.len())
            .is_none_or(|e| e > self.payload_len)
        {
            return Err(Error::invalid(format!(
                "{} bytes at {at} do not fit a payload of {}",
                bytes.len(),
                self.payload_len
            )));
        }
        let words = self.log.inner.words()?;
        core::put_bytes(words, self.payload_start(), at as u64, bytes);
        Ok(())
    }

    /// Writes a plain value (`f64`, `[f32; 3]`, a `#[repr(C)]` Pod struct)
    /// at byte `at` of the payload, in the machine's (little-endian) layout.
    pub fn put_pod<T: bytemuck::Pod>(&mut self, at: usize, value: &T) -> Result<()> {
        self.put(at, bytemuck::bytes_of(value))
    }

    /// Commits the record: from now on readers see it. Returns its offset.
    pub fn commit(mut self) -> Result<u64> {
        let words = self.log.inner.words()?;
        let entry = self.entry;
        let mut meta = self.meta;
        self.log.resolve_prev(&entry, self.off, &mut meta);
        core::commit_reserved(words, self.off, self.len, &meta, self.payload_len as u32);
        self.done = true;
        Ok(self.off)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Ok(words) = self.log.inner.words() {
                core::write_padding(words, self.off, self.len);
            }
        }
    }
}

#[cfg(test)]
const _: () = {
    const fn is_sync<T: Sync + Send>() {}
    is_sync::<Log>();
};
