//! [`LogReader`]: iterate, follow live, walk histories, verify.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::core::{self, Found, Memory, Meta, Slot};
use super::format::{self, Field, Flags, HEADER_LEN, Header, Kind, Schema};
use super::writer::WRITER_ROLE;
use crate::array::Scalar;
use crate::error::{Error, Result};
use crate::map::{MappedFile, Mode, SharedMap};
use crate::sys::ReadOnlyAtomics;

impl Memory for ReadOnlyAtomics<'_, AtomicU64> {
    #[inline]
    fn load(&self, i: usize, order: Ordering) -> u64 {
        ReadOnlyAtomics::<AtomicU64>::load(self, i, order).unwrap_or(0)
    }
    /// Readers never store.
    fn store(&self, _i: usize, _value: u64, _order: Ordering) {}
    /// Readers never reserve.
    fn fetch_add(&self, i: usize, _value: u64, order: Ordering) -> u64 {
        Memory::load(self, i, order)
    }
}

/// How long [`LogReader::open`] gives a just-created, still empty log's
/// creator to take its lock (the moment between its `open(O_CREAT)` and
/// its `flock`) before calling the file corrupt.
const CREATING_GRACE: Duration = Duration::from_millis(100);

/// What to do with damage found when reopening a log for writing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recovery {
    /// Step over damaged ranges and holes, keeping every good record after
    /// them (the default).
    #[default]
    SkipDamage,
    /// Keep only the records before the first damage or hole; everything
    /// after is dropped when the log is reopened for writing.
    StopAtDamage,
}

/// A range of the log that holds no good record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// First byte.
    pub from: u64,
    /// One past the last byte.
    pub to: u64,
    /// What is wrong: `"hole"` for zeros a crashed writer reserved and
    /// never wrote, else the first problem found.
    pub why: String,
}

impl Damage {
    /// Whether the range holds zeros a writer reserved and never wrote (a
    /// writer killed mid-record): a hole, not damage.
    pub fn is_hole(&self) -> bool {
        self.why == "hole"
    }
}

/// What a scan of a whole log found (`mapio verify`, `mapio info`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanReport {
    /// Good data records.
    pub records: u64,
    /// Padding records (reservations given back).
    pub padding: u64,
    /// End records (one per clean close).
    pub ends: u64,
    /// Payload bytes of the data records.
    pub payload_bytes: u64,
    /// Offset just past the last good record: where appending continues.
    pub end_offset: u64,
    /// Holes: zeros reserved by a writer that never wrote them.
    pub holes: Vec<Damage>,
    /// Damaged ranges: bytes that are neither records nor zeros.
    pub damaged: Vec<Damage>,
    /// The last record is an end record: the log was closed cleanly.
    pub clean: bool,
    /// A writer is attached right now.
    pub live: bool,
    /// Distinct keys.
    pub keys: u64,
    /// Smallest and largest time.
    pub time_range: Option<(f64, f64)>,
    /// The file's size.
    pub file_size: u64,
}

impl ScanReport {
    /// Whether the scan found no damage (holes excluded).
    pub fn is_intact(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// One step of a scan.
#[derive(Debug)]
pub(crate) enum Step {
    Record(u64, Found),
    Other(u64, Kind, u64),
    Gap(Damage),
    /// Live log: the record here is not committed yet.
    Pending,
    /// Nothing more below the limit.
    Eof,
}

/// Reads what lies at `pos`. `live`: a writer may still commit records at
/// `pos`, so a zero word there is "pending", not a hole.
pub(crate) fn step<M: Memory + ?Sized>(
    mem: &M,
    pos: u64,
    limit: u64,
    live: bool,
    buf: &mut Vec<u8>,
    budget: &mut u64,
) -> Step {
    if pos.checked_add(format::FIXED_LEN).is_none_or(|e| e > limit) {
        return Step::Eof;
    }
    match core::read_slot(mem, pos, limit, buf) {
        Slot::Record(f) => match f.word0.kind {
            Kind::Data => Step::Record(pos, f),
            k => Step::Other(pos, k, f.word0.len as u64),
        },
        Slot::Empty if live => Step::Pending,
        Slot::Invalid(_) if live && is_past_limit(mem, pos, limit) => Step::Pending,
        slot => {
            // A zero header over written bytes is a record torn by a
            // crash (its writer stores the header last): a hole too.
            let why = match slot {
                Slot::Invalid(why) => why,
                _ => "hole",
            };
            // Zeros to the end (a closed log's unused allocation, kept
            // when a reader was attached at close): the end, found in one
            // pass that stops at the first non-zero word otherwise.
            if core::all_zero(mem, pos, limit) {
                return Step::Eof;
            }
            let mut scratch = Vec::new();
            match core::resync(mem, pos, limit, &mut scratch, budget) {
                Some(q) => {
                    let why = if core::all_zero(mem, pos, q) {
                        "hole"
                    } else {
                        why
                    };
                    Step::Gap(Damage {
                        from: pos,
                        to: q,
                        why: why.to_string(),
                    })
                }
                // Nothing good follows: the gap ends with its last
                // non-zero byte (a torn record); zeros after it are the
                // unused allocation, the end (next step).
                None => Step::Gap(Damage {
                    from: pos,
                    to: core::nonzero_end(mem, pos, limit),
                    why: why.to_string(),
                }),
            }
        }
    }
}

/// A committed record whose length reaches past `limit` (a stale limit).
fn is_past_limit<M: Memory + ?Sized>(mem: &M, pos: u64, limit: u64) -> bool {
    let w = mem.load((pos / 8) as usize, Ordering::Acquire);
    format::Word0::unpack(w).is_some_and(|w0| pos.saturating_add(w0.len as u64) > limit)
}

/// Scans a whole log in memory (the writer's recovery and `verify`),
/// calling `each` for every good data record.
///
/// A range of zeros is a *hole* (space a crashed writer reserved and never
/// wrote) only where a crash can have left one: after the last end record
/// (an end record is written by a clean close, and reopening pads every
/// hole before it) and at or above `synced` (every record below it was
/// committed and made durable). Zeros anywhere else are lost records: a
/// page that never reached the disk, or damage.
pub(crate) fn scan_memory<M: Memory + ?Sized>(
    mem: &M,
    _path: &Path,
    limit: u64,
    live: bool,
    synced: u64,
    policy: Recovery,
    mut each: impl FnMut(u64, &Meta),
) -> ScanReport {
    let mut r = ScanReport {
        end_offset: HEADER_LEN,
        file_size: limit,
        live,
        ..ScanReport::default()
    };
    let mut buf = Vec::new();
    let mut budget = core::resync_budget(limit);
    let mut pos = HEADER_LEN;
    let mut last_kind = None;
    let mut last_end = HEADER_LEN;
    loop {
        match step(mem, pos, limit, live, &mut buf, &mut budget) {
            Step::Record(off, f) => {
                r.records += 1;
                r.payload_bytes += f.payload_len as u64;
                if let Some(t) = f.meta.time {
                    r.time_range = Some(match r.time_range {
                        None => (t, t),
                        Some((a, b)) => (a.min(t), b.max(t)),
                    });
                }
                each(off, &f.meta);
                pos = off + f.word0.len as u64;
                r.end_offset = pos;
                last_kind = Some(Kind::Data);
            }
            Step::Other(off, kind, len) => {
                match kind {
                    Kind::End => {
                        r.ends += 1;
                        last_end = off + len;
                    }
                    _ => r.padding += 1,
                }
                pos = off + len;
                r.end_offset = pos;
                if kind != Kind::Padding {
                    last_kind = Some(kind);
                }
            }
            Step::Gap(d) => {
                let to = d.to;
                if d.is_hole() {
                    r.holes.push(d);
                } else {
                    r.damaged.push(d);
                }
                if policy == Recovery::StopAtDamage {
                    break;
                }
                pos = to;
            }
            Step::Pending | Step::Eof => break,
        }
    }
    // Holes where no crash can have left one are lost records.
    let (holes, lost): (Vec<Damage>, Vec<Damage>) = std::mem::take(&mut r.holes)
        .into_iter()
        .partition(|h| h.from >= last_end && h.from >= synced.min(limit));
    for mut h in lost {
        h.why = "zeros where committed records were (a page lost before it reached the disk, or damage)".into();
        r.damaged.push(h);
    }
    r.damaged.sort_by_key(|d| d.from);
    r.holes = holes;
    r.clean = last_kind == Some(Kind::End)
        && r.damaged.is_empty()
        && r.holes.iter().all(|h| h.to <= r.end_offset);
    r
}

/// A record read from a log.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Offset in the file.
    pub offset: u64,
    /// Length of the whole record in the file (header, payload, padding).
    pub len: u64,
    /// The object it belongs to.
    pub key: Option<u64>,
    /// Offset of the previous record of the key (0: none).
    pub prev: Option<u64>,
    /// Time or step.
    pub time: Option<f64>,
    /// Flags.
    pub flags: Flags,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Record {
    fn from_found(offset: u64, f: &Found, payload: Vec<u8>) -> Record {
        Record {
            offset,
            len: f.word0.len as u64,
            key: f.meta.key,
            prev: f.meta.prev,
            time: f.meta.time,
            flags: f.meta.flags,
            payload,
        }
    }

    /// Offset of the record after this one.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.len
    }

    /// The values of a schema field, or `None` if the payload is too short
    /// for it.
    pub fn field(&self, field: &Field) -> Option<Vec<Scalar>> {
        let item = field.dtype.itemsize();
        let start = field.offset as usize;
        let bytes = self.payload.get(start..start + field.len())?;
        Some(
            bytes
                .chunks_exact(item)
                .map(|c| field.dtype.decode(c))
                .collect(),
        )
    }

    /// The previous record of the key, if the chain names one.
    pub fn prev_offset(&self) -> Option<u64> {
        self.prev.filter(|&p| p != 0)
    }
}

/// How [`LogReader::follow`] waits for new records.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct FollowOptions {
    spin: Duration,
    max_sleep: Duration,
    from_end: bool,
    start_at: Option<u64>,
    stop_at_end: bool,
    idle_timeout: Option<Duration>,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            spin: Duration::from_micros(50),
            max_sleep: Duration::from_millis(2),
            from_end: false,
            start_at: None,
            stop_at_end: true,
            idle_timeout: None,
        }
    }
}

impl FollowOptions {
    /// Spin 50 µs, then sleep up to 2 ms between polls; start at the
    /// beginning; stop when the writer closes the log.
    pub fn new() -> FollowOptions {
        FollowOptions::default()
    }

    /// Busy-poll this long before sleeping (lower latency, more CPU).
    pub fn spin(mut self, d: Duration) -> Self {
        self.spin = d;
        self
    }

    /// The longest sleep between polls.
    pub fn max_sleep(mut self, d: Duration) -> Self {
        self.max_sleep = d;
        self
    }

    /// Start at `offset`, a record boundary (a [`Record::offset`] or
    /// [`Record::next_offset`], such as the first of the last N records:
    /// `tail -f -n N`), instead of at the first record; overrides
    /// [`from_end`](Self::from_end). An offset inside a record is read as
    /// damage up to the next record.
    pub fn start_at(mut self, offset: u64) -> Self {
        self.start_at = Some(offset);
        self
    }

    /// Start after the records that exist now (`tail -f` without `-n`).
    pub fn from_end(mut self, yes: bool) -> Self {
        self.from_end = yes;
        self
    }

    /// Stop at the end record of a clean close, or when the writer is gone
    /// and nothing more can come (default); otherwise keep waiting (with
    /// [`idle_timeout`](Self::idle_timeout) as the way out). A follower
    /// that keeps waiting sees the next session's records when a new
    /// writer reopens the log (`Log::open` works beside attached readers):
    /// if it had stepped past where that session starts (over what a
    /// crashed writer left, or over records the new writer discarded: a
    /// resume, or recovery with `Recovery::StopAtDamage`), it goes back
    /// there.
    pub fn stop_at_end(mut self, yes: bool) -> Self {
        self.stop_at_end = yes;
        self
    }

    /// Stop after this long without a new record.
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d;
        self
    }
}

/// A reader of a log, possibly while another process writes it. Opening
/// takes the atomic-sharing lock, read-only: it never changes the file, so
/// read-only files and directories work.
///
/// ```
/// use mapio::log::{Entry, Log, LogReader};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("run.log");
/// let log = Log::create(&path)?;
/// let first = log.append(&Entry::new().key(7).time(0.0), b"a")?;
/// log.append(&Entry::new().key(8).time(0.0), b"b")?;
/// log.append(&Entry::new().key(7).time(1.0), b"c")?;
/// let reader = LogReader::open(&path)?;     // while the writer is live
/// let history = reader.history(7)?;
/// assert_eq!(history.len(), 2);
/// assert_eq!(history[0].offset, first);
/// assert_eq!(history[1].payload, b"c");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LogReader {
    map: SharedMap,
    header: Header,
    path: PathBuf,
    /// A read through this reader stepped over damage (not a hole).
    damage_seen: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("path", &self.path)
            .finish()
    }
}

impl LogReader {
    /// Opens a log for reading.
    ///
    /// A log being created right now (its file exists, its header is not
    /// written yet) is [`Error::Locked`]: try again.
    pub fn open(path: impl AsRef<Path>) -> Result<LogReader> {
        let path = path.as_ref();
        // A file created a moment ago, still empty and unlocked, may be a
        // log whose creator is between `open(O_CREAT)` and its lock: wait
        // for either a little while before calling it corrupt.
        let deadline = Instant::now() + CREATING_GRACE;
        loop {
            match Self::open_once(path) {
                Err(Error::Corrupt { .. })
                    if Instant::now() < deadline && Self::just_created_and_empty(path) =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                r => return r,
            }
        }
    }

    /// Opens a log for reading, waiting up to `timeout` for it to exist
    /// and for its creator to write its header: for a reader started
    /// beside (or before) the writer, which would otherwise see
    /// `NotFound`, or [`Error::Locked`] while the log is being created.
    /// Every other error is returned at once; so are those two once
    /// `timeout` has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mapio::log::{Entry, Log, LogReader};
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("run.log");
    /// let p = path.clone();
    /// let writer = std::thread::spawn(move || -> mapio::Result<()> {
    ///     std::thread::sleep(Duration::from_millis(20));
    ///     let log = Log::create(&p)?;
    ///     log.append(&Entry::new().key(1), b"hello")?;
    ///     log.close()?;
    ///     Ok(())
    /// });
    /// let reader = LogReader::open_wait(&path, Duration::from_secs(10))?;
    /// writer.join().unwrap()?;
    /// # let _ = reader;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_wait(path: impl AsRef<Path>, timeout: Duration) -> Result<LogReader> {
        let path = path.as_ref();
        // A timeout too long to add to the clock (`Duration::MAX`) is
        // no deadline at all.
        let deadline = Instant::now().checked_add(timeout);
        super::retry_until(deadline, || {
            let r = Self::open(path);
            let again = match &r {
                Err(Error::Locked { .. }) => true,
                Err(Error::Io { source, .. }) => source.kind() == std::io::ErrorKind::NotFound,
                _ => false,
            };
            if again {
                std::ops::ControlFlow::Continue(r)
            } else {
                std::ops::ControlFlow::Break(r)
            }
        })
    }

    /// Whether `path` is shorter than a header, holds only zeros, and was
    /// modified within [`CREATING_GRACE`]: a log a creator may be setting up.
    fn just_created_and_empty(path: &Path) -> bool {
        let Ok(m) = std::fs::metadata(path) else {
            return false;
        };
        let young = m
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < CREATING_GRACE);
        young
            && m.len() < HEADER_LEN
            && std::fs::read(path).is_ok_and(|b| b.iter().all(|&x| x == 0))
    }

    fn open_once(path: &Path) -> Result<LogReader> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, "stat", e))?
            .len();
        if size < HEADER_LEN {
            // Say what it is rather than failing to map a short file; a
            // device or a FIFO is not read (it could be endless or block).
            if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                return Err(Error::io(
                    path,
                    "open",
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
                ));
            }
            let mut head = Vec::new();
            use std::io::Read;
            std::fs::File::open(path)
                .and_then(|f| f.take(HEADER_LEN).read_to_end(&mut head))
                .map_err(|e| Error::io(path, "read", e))?;
            // Empty or zeros: perhaps a log being created, whose creator
            // holds the exclusive lock until its header is written. Say
            // so (a retry will succeed) rather than call it corrupt. Only
            // a test: taking a lock here could make the creator, between
            // its `open` and its lock, fail as "locked".
            if head.iter().all(|&b| b == 0)
                && crate::sys::exclusive_lock_held(path).unwrap_or(false)
            {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                    wanted: crate::LockKind::Atomic,
                });
            }
            return Err(match Header::decode(&head) {
                Err(e) => Error::corrupt(path, 0, e.to_string()),
                Ok(_) => Error::corrupt(path, 0, "truncated log header"),
            });
        }
        let map = MappedFile::options()
            .mode(Mode::ReadOnly)
            .reserve(1 << 40)
            .open_shared(path)?;
        let page = {
            let words = map.atomics_read_only::<AtomicU64>()?;
            let mut page = Vec::with_capacity(HEADER_LEN as usize);
            for i in 0..(HEADER_LEN / 8) as usize {
                page.extend_from_slice(&Memory::load(&words, i, Ordering::Relaxed).to_le_bytes());
            }
            page
        };
        let header = Header::decode(&page).map_err(|e| e.for_file(path))?;
        Ok(LogReader {
            map,
            header,
            path: path.to_path_buf(),
            damage_seen: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The immutable header (version, creation time, schema).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The payload schema.
    pub fn schema(&self) -> &Schema {
        &self.header.schema
    }

    fn words(&self) -> ReadOnlyAtomics<'_, AtomicU64> {
        // Cannot fail: the map was opened shared and is page aligned.
        self.map
            .atomics_read_only::<AtomicU64>()
            .unwrap_or_else(|_| unreachable!("a shared map always has an atomic view"))
    }

    fn header_word(&self, off: usize) -> u64 {
        Memory::load(&self.words(), off / 8, Ordering::Acquire)
    }

    /// Whether a writer has the log open right now.
    pub fn writer_active(&self) -> bool {
        self.map.role_held_elsewhere(WRITER_ROLE).unwrap_or(false)
    }

    /// The reservation counter (offset of the next free byte), as the
    /// writer last left it.
    pub fn tail(&self) -> u64 {
        self.header_word(format::OFF_TAIL)
    }

    /// The offset the last `sync` reported durable.
    pub fn synced(&self) -> u64 {
        self.header_word(format::OFF_SYNCED)
    }

    /// Whether the header says the log was closed cleanly.
    pub fn closed_cleanly(&self) -> bool {
        self.header_word(format::OFF_STATE) == format::STATE_CLOSED
    }

    /// How many times the log was opened for writing.
    pub fn sessions(&self) -> u64 {
        self.header_word(format::OFF_SESSIONS)
    }

    /// Bytes of the file mapped now (re-reading its size).
    fn refresh(&self) -> u64 {
        self.map.refresh().unwrap_or_else(|_| self.map.len()) as u64
    }

    /// The bound below which records may be read: the tail for a live
    /// log, the end of the file otherwise.
    fn limit(&self, live: bool) -> u64 {
        let mut mapped = self.map.len() as u64;
        if live {
            let tail = self.tail();
            if tail > mapped {
                // The writer grew the file past what we map: one fstat.
                mapped = self.refresh();
            }
            tail.min(mapped).max(HEADER_LEN)
        } else {
            mapped
        }
    }

    /// The 8-byte word at `offset` (0 past the end).
    pub(crate) fn word_at(&self, offset: u64) -> u64 {
        Memory::load(&self.words(), (offset / 8) as usize, Ordering::Acquire)
    }

    /// The data record at `offset`, its payload copied into `buf`
    /// (replacing what was there): no allocation once `buf` is large.
    pub(crate) fn read_found(&self, offset: u64, buf: &mut Vec<u8>) -> Result<Found> {
        buf.clear();
        self.read_found_append(offset, buf)
    }

    /// [`read_found`](Self::read_found), appending the payload to `out`
    /// (left as it was on error).
    pub(crate) fn read_found_append(&self, offset: u64, out: &mut Vec<u8>) -> Result<Found> {
        // Re-read the file's size only when the record is not inside what
        // is mapped already (queries read millions of records).
        let mut words = self.words();
        let mut limit = self.map.len() as u64;
        let word0 = Memory::load(&words, (offset / 8) as usize, Ordering::Acquire);
        let inside = format::Word0::unpack(word0)
            .is_some_and(|w| offset.saturating_add((w.len as u64).max(format::FIXED_LEN)) <= limit);
        if !inside {
            limit = self.refresh();
            words = self.words();
        }
        match core::read_slot_append(&words, offset, limit, out) {
            Slot::Record(f) if f.word0.kind == Kind::Data => Ok(f),
            Slot::Record(f) => {
                out.truncate(out.len() - f.payload_len as usize);
                Err(Error::corrupt(&self.path, offset, "not a data record"))
            }
            Slot::Empty => Err(Error::corrupt(
                &self.path,
                offset,
                "no record committed here",
            )),
            Slot::Invalid(why) => Err(Error::corrupt(&self.path, offset, why)),
        }
    }

    /// The record at `offset`.
    ///
    /// An offset that cannot be a record's (not a multiple of 8, inside
    /// the header, or past the end of the file) is an
    /// [`Error::InvalidArgument`]; one where the file holds no good data
    /// record is [`Error::Corrupt`] (say, an offset taken from an index or
    /// a chain that the file no longer matches).
    pub fn read_at(&self, offset: u64) -> Result<Record> {
        // The file's size is re-read only for an offset past what is
        // mapped (a live log grows).
        let mut size = self.map.len() as u64;
        if offset >= size {
            size = self.refresh();
        }
        if !offset.is_multiple_of(8) || offset < HEADER_LEN || offset >= size {
            return Err(Error::invalid(format!(
                "{}: offset {offset} is not a record offset of this log (records start at \
                 multiples of 8 from {HEADER_LEN} up to its end, {size} bytes)",
                self.path.display()
            )));
        }
        self.read_record(offset)
    }

    /// The data record at an offset the file or an index gave (a chain
    /// link, an index entry): anything but a good data record there is
    /// [`Error::Corrupt`].
    pub(crate) fn read_record(&self, offset: u64) -> Result<Record> {
        let mut buf = Vec::new();
        let f = self.read_found(offset, &mut buf)?;
        Ok(Record::from_found(offset, &f, buf))
    }

    /// Every committed data record, in file order. On a live log it ends
    /// at the first record still being written; otherwise it steps over
    /// holes and damage (see [`scan`](Self::scan) for where they are).
    pub fn records(&self) -> Records<'_> {
        let sessions = self.sessions();
        let live = self.writer_active();
        self.refresh();
        let limit = self.limit(live);
        Records {
            reader: self,
            pos: HEADER_LEN,
            live,
            limit,
            buf: Vec::new(),
            budget: core::resync_budget(limit),
            gaps: Vec::new(),
            sessions,
        }
    }

    /// Whether a writer has reopened the log since `sessions` was read
    /// (the header's count then). A read that began with no writer
    /// attached takes zeros for holes a crashed writer left; once a new
    /// writer has reopened the log, zeros may be its records still being
    /// written, and bytes past its start may be changing under the read:
    /// such a read ends at its first gap, as a read of a live log ends at
    /// its first pending record, instead of stepping over.
    fn reopened_since(&self, sessions: u64) -> bool {
        self.sessions() != sessions
    }

    /// Records from `offset` on (a record boundary, such as a
    /// [`Record::next_offset`]).
    pub fn records_from(&self, offset: u64) -> Records<'_> {
        let mut r = self.records();
        r.pos = offset.max(HEADER_LEN);
        r
    }

    /// Calls `each(offset, record)` for every committed data record from
    /// `from` on, in file order, under the same rules as
    /// [`records_from`](Self::records_from), without copying payloads out
    /// (every record is still checked); stops when `each` returns false.
    /// Returns the gaps stepped over (as [`Records::gaps`]).
    pub(crate) fn scan_found(
        &self,
        from: u64,
        mut each: impl FnMut(u64, &Found) -> bool,
    ) -> Vec<Damage> {
        let sessions = self.sessions();
        let live = self.writer_active();
        self.refresh();
        let limit = self.limit(live);
        let mut budget = core::resync_budget(limit);
        let mut buf = Vec::new();
        let mut gaps = Vec::new();
        let words = self.words();
        let mut pos = from.max(HEADER_LEN);
        loop {
            match step(&words, pos, limit, live, &mut buf, &mut budget) {
                Step::Record(off, f) => {
                    pos = off + f.word0.len as u64;
                    if !each(off, &f) {
                        return gaps;
                    }
                }
                Step::Other(off, _, len) => pos = off + len,
                Step::Gap(_) if !live && self.reopened_since(sessions) => return gaps,
                Step::Gap(d) => {
                    self.saw_gap(&d);
                    pos = d.to;
                    gaps.push(d);
                }
                Step::Pending | Step::Eof => return gaps,
            }
        }
    }

    /// Notes a gap a read stepped over: damage (not a hole a crashed
    /// writer left) is remembered for [`damage_seen`](Self::damage_seen).
    fn saw_gap(&self, d: &Damage) {
        if !d.is_hole() {
            self.note_damage();
        }
    }

    /// A record a query was led to (by an index) no longer reads: damage
    /// since the index was built, stepped over; `damage_seen` says so.
    pub(crate) fn note_damage(&self) {
        self.damage_seen
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a read through this reader (records, a query's scan, an
    /// index build) stepped over damage: bytes that are neither records
    /// nor zeros, so records there are missing from what it returned.
    /// Holes a crashed writer left are not damage. [`scan`](Self::scan)
    /// says where.
    pub fn damage_seen(&self) -> bool {
        self.damage_seen.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Scans the whole log and reports records, holes and damage.
    pub fn scan(&self) -> ScanReport {
        let live = self.writer_active();
        let limit = {
            self.refresh();
            self.limit(live)
        };
        let mut keys = KeyCount::default();
        let synced = self.synced();
        let mut r = scan_memory(
            &self.words(),
            &self.path,
            limit,
            live,
            synced,
            Recovery::SkipDamage,
            |_, m| {
                if let Some(k) = m.key {
                    keys.insert(k);
                }
            },
        );
        r.keys = keys.len();
        r.file_size = std::fs::metadata(&self.path)
            .map(|m| m.len())
            .unwrap_or(r.file_size);
        r
    }

    /// Every intact record of `key`, in file order (one scan). Unlike the
    /// chain walk of [`history_back_from`](Self::history_back_from), it
    /// finds records written without a chain link, records past a link
    /// broken by damage, and keeps file order where links do not (see
    /// [`Chain::Auto`](super::Chain::Auto)). [`LogSet::history`](super::LogSet::history)
    /// answers the same in time order, through the index when there is one.
    pub fn history(&self, key: u64) -> Result<Vec<Record>> {
        Ok(self.records().filter(|r| r.key == Some(key)).collect())
    }

    /// The history chain ending at the record at `offset`, oldest first.
    /// Stops with an error at a broken link (a `prev` that is not an
    /// earlier record of the same key).
    pub fn history_back_from(&self, offset: u64) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut rec = self.read_at(offset)?;
        seen.insert(offset);
        let key = rec.key;
        loop {
            let prev = rec.prev_offset();
            out.push(rec);
            let Some(p) = prev else { break };
            // A chain visits each record once: a loop (a damaged or
            // crafted `prev`) is an error, not an endless walk.
            if !seen.insert(p) {
                return Err(Error::corrupt(
                    &self.path,
                    p,
                    "history chain loops back on itself",
                ));
            }
            let next = self.read_record(p)?;
            if next.key != key {
                return Err(Error::corrupt(&self.path, p, "broken history chain"));
            }
            rec = next;
        }
        out.reverse();
        Ok(out)
    }

    /// Follows the log as it grows (`tail -f`): yields each record as soon
    /// as its writer commits it, in file order.
    pub fn follow(&self, options: FollowOptions) -> Follow<'_> {
        // Before the start is found: a session that begins meanwhile is
        // then seen (and a start past it goes back).
        let sessions = self.sessions();
        let start = if let Some(at) = options.start_at {
            at.max(HEADER_LEN)
        } else if options.from_end {
            self.refresh();
            let live = self.writer_active();
            let mut r = self.records();
            let mut end = HEADER_LEN;
            for rec in r.by_ref() {
                end = rec.next_offset();
            }
            end.max(r.pos).min(self.limit(live).max(HEADER_LEN))
        } else {
            HEADER_LEN
        };
        Follow {
            reader: self,
            pos: start,
            options,
            buf: Vec::new(),
            live: self.writer_active(),
            last_check: Instant::now(),
            budget: core::resync_budget(self.map.len() as u64),
            stopped: None,
            gaps: Vec::new(),
            sessions,
        }
    }
}

/// The length a table indexed by small keys (of length `len`, counted in
/// keys) grows to so that it holds `key` (`key >= len`): at least twice
/// `len`, so that keys kept elsewhere meanwhile move into it at most once
/// per doubling, whatever order keys come in; `None` if that passes
/// `room`, the most the table may take (the key is kept elsewhere).
pub(crate) fn dense_growth(len: u64, key: u64, room: u64) -> Option<u64> {
    let grown = (2 * len).max(key.saturating_add(1));
    (key >= len && grown <= room).then_some(grown)
}

/// Counts distinct keys: a bit per key for small keys (object ids are
/// usually dense: a million keys take 128 KiB, where a hash set takes
/// megabytes and a cache miss per record), a hash set for the rest. The
/// bits grow only while they stay within a word per key seen (plus 4 Mi
/// keys' worth), so a stray huge key cannot make them allocate much;
/// every key below their end is in them, whatever order keys come in.
#[derive(Default)]
pub(crate) struct KeyCount {
    bits: Vec<u64>,
    dense: u64,
    sparse: HashSet<u64, super::query::KeyState>,
}

impl KeyCount {
    pub(crate) fn insert(&mut self, key: u64) {
        let room = (self.dense + self.sparse.len() as u64 + (1 << 16)) * 64;
        let end = self.bits.len() as u64 * 64;
        if key >= end {
            let Some(len) = dense_growth(end, key, room) else {
                self.sparse.insert(key);
                return;
            };
            let words = len.div_ceil(64);
            self.bits.resize(words as usize, 0);
            let end = words * 64;
            let moved: Vec<u64> = self.sparse.iter().copied().filter(|&k| k < end).collect();
            for k in moved {
                self.sparse.remove(&k);
                self.set(k);
            }
        }
        self.set(key);
    }

    fn set(&mut self, key: u64) {
        let (w, b) = ((key / 64) as usize, 1u64 << (key % 64));
        if self.bits[w] & b == 0 {
            self.bits[w] |= b;
            self.dense += 1;
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.dense + self.sparse.len() as u64
    }

    /// Words of bits held.
    #[cfg(test)]
    pub(crate) fn words(&self) -> usize {
        self.bits.len()
    }
}

/// Iterator of [`LogReader::records`].
pub struct Records<'a> {
    reader: &'a LogReader,
    pos: u64,
    live: bool,
    limit: u64,
    buf: Vec<u8>,
    budget: u64,
    gaps: Vec<Damage>,
    /// The header's `sessions` when the read began (see
    /// [`LogReader::reopened_since`]).
    sessions: u64,
}

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("path", &self.reader.path)
            .field("position", &self.pos)
            .field("live", &self.live)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Records<'_> {
    /// Offset where the next record would start.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The ranges stepped over so far: holes a crashed writer left, or
    /// damage (see [`Damage::is_hole`]). Never returned as records.
    pub fn gaps(&self) -> &[Damage] {
        &self.gaps
    }
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let words = self.reader.words();
        loop {
            match step(
                &words,
                self.pos,
                self.limit,
                self.live,
                &mut self.buf,
                &mut self.budget,
            ) {
                Step::Record(off, f) => {
                    self.pos = off + f.word0.len as u64;
                    return Some(Record::from_found(off, &f, std::mem::take(&mut self.buf)));
                }
                Step::Other(off, _, len) => self.pos = off + len,
                Step::Gap(_) if !self.live && self.reader.reopened_since(self.sessions) => {
                    return None;
                }
                Step::Gap(d) => {
                    self.reader.saw_gap(&d);
                    self.pos = d.to;
                    self.gaps.push(d);
                }
                Step::Pending | Step::Eof => return None,
            }
        }
    }
}

/// Iterator of [`LogReader::follow`]: blocks until the next record.
pub struct Follow<'a> {
    reader: &'a LogReader,
    pos: u64,
    options: FollowOptions,
    buf: Vec<u8>,
    live: bool,
    last_check: Instant,
    budget: u64,
    stopped: Option<FollowEnd>,
    gaps: Vec<Damage>,
    /// The header's `sessions` when last looked at: a change means a new
    /// writer reopened the log (and cleared what followed its last good
    /// record).
    sessions: u64,
}

/// Why a [`Follow`] returned `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowEnd {
    /// The writer closed the log cleanly (its end record was the last
    /// thing read) and left.
    Closed,
    /// The writer left without closing (it crashed or was killed):
    /// everything it committed was returned; [`Follow::gaps`] lists what
    /// was stepped over.
    WriterGone,
    /// Nothing new arrived for [`FollowOptions::idle_timeout`]; calling
    /// `next` again goes on waiting.
    IdleTimeout,
}

impl std::fmt::Debug for Follow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow")
            .field("path", &self.reader.path)
            .field("position", &self.pos)
            .field("options", &self.options)
            .field("live", &self.live)
            .field("end", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Follow<'_> {
    /// Offset where the next record will start.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Why the last `next` returned `None` (`None` while records come).
    pub fn end(&self) -> Option<FollowEnd> {
        self.stopped
    }

    /// The ranges stepped over so far: holes a crashed writer left, or
    /// damage (see [`Damage::why`]). Never returned as records.
    pub fn gaps(&self) -> &[Damage] {
        &self.gaps
    }
}

impl Follow<'_> {
    /// Whether a new writer has reopened the log since the last look. It
    /// cleared everything after the last good record before counting the
    /// session: a follower that had stepped past that point (over what a
    /// crashed writer left, or over records a resumed run discarded) goes
    /// back to where the session starts, and forgets the gaps it found
    /// there (bytes the new writer replaced, possibly while they were
    /// read).
    fn new_session(&mut self) -> bool {
        let now = self.reader.sessions();
        if now == self.sessions {
            return false;
        }
        self.sessions = now;
        let start = self.reader.header_word(format::OFF_SESSION_START);
        if start >= HEADER_LEN && start.is_multiple_of(8) && start < self.pos {
            self.pos = start;
            self.gaps.retain(|g| g.from < start);
        }
        self.live = self.reader.writer_active();
        self.reader.refresh();
        true
    }
}

impl Iterator for Follow<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        // The writer is gone: nothing more can come (an idle timeout, by
        // contrast, goes on waiting).
        if matches!(
            self.stopped,
            Some(FollowEnd::Closed | FollowEnd::WriterGone)
        ) {
            return None;
        }
        let mut waited = Instant::now();
        let mut pause = Duration::from_micros(20);
        loop {
            let limit = self.reader.limit(self.live);
            // The budget grows with the log, so that a long follow of a
            // growing log keeps the linear bound.
            self.budget = self.budget.max(core::resync_budget(limit) / 2);
            let s = step(
                &self.reader.words(),
                self.pos,
                limit,
                self.live,
                &mut self.buf,
                &mut self.budget,
            );
            // Looked at after the step's loads: a record of a new session
            // was committed after its writer counted the session, so a
            // step that read one sees the new count here.
            if self.new_session() {
                continue;
            }
            match s {
                Step::Record(off, f) => {
                    self.pos = off + f.word0.len as u64;
                    self.stopped = None;
                    return Some(Record::from_found(off, &f, std::mem::take(&mut self.buf)));
                }
                Step::Other(off, _, len) => {
                    // An end record marks the end of a session, not of the
                    // log: a later session may have appended after it. The
                    // follower stops when nothing follows and no writer is
                    // attached (below).
                    self.pos = off + len;
                    waited = Instant::now();
                    continue;
                }
                Step::Gap(d) => {
                    self.pos = d.to;
                    self.gaps.push(d);
                    continue;
                }
                Step::Pending | Step::Eof => {}
            }
            // Nothing new: is the writer still there?
            if self.last_check.elapsed() > Duration::from_millis(20) || !self.live {
                self.last_check = Instant::now();
                let live = self.reader.writer_active();
                if self.live && !live {
                    // The writer just left: read what it left behind once
                    // more, stepping over holes now.
                    self.live = false;
                    self.reader.refresh();
                    continue;
                }
                self.live = live;
                if !live && self.options.stop_at_end {
                    // The header says whether the last writer closed the
                    // log (a writer that reopened it and died did not).
                    self.stopped = Some(if self.reader.closed_cleanly() {
                        FollowEnd::Closed
                    } else {
                        FollowEnd::WriterGone
                    });
                    return None;
                }
            }
            if let Some(t) = self.options.idle_timeout {
                if waited.elapsed() >= t {
                    self.stopped = Some(FollowEnd::IdleTimeout);
                    return None;
                }
            }
            if waited.elapsed() < self.options.spin {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(pause);
                pause = (pause * 2).min(self.options.max_sleep);
            }
        }
    }
}
