//! The log workloads: `R` records of a fixed payload size appended by 1 or
//! `N` threads, each contender ending durable, and the physical limits
//! measured beside them.
//!
//! Every contender appends the same records: thread `t` appends
//! [`LogSpec::count`]`(t)` records, the `i`-th of which has the payload
//! [`payload`]`(t, i)` (its first 8 bytes are `t`, the next 8 are `i`,
//! little-endian; the rest is a fixed pattern of `t`). Each contender's file
//! is read back after the timing and its payloads hashed ([`record_hash`],
//! summed with wrapping: the order the threads interleaved in does not
//! matter, a lost, torn or duplicated record does), so all contenders
//! return [`expected_log_checksum`]. Where a format has a key and a time,
//! they must be `t` and `i` too, or the checksum is spoiled.
//!
//! The contenders ([`LogContender`]):
//!
//! | name | append | end |
//! |---|---|---|
//! | `mapio` | [`mapio::log::Log::append`] with key `t`, time `i` (default options) | `sync()`, `close()` |
//! | `mapio_plain` | [`mapio::log::Log::append`] without key or time: the raw recipe's information, a 16-byte record header instead of 40 | `sync()`, `close()` |
//! | `mutex_bufwriter` | CRC32C and framing outside the lock, then `Mutex<BufWriter<File>>` (1 MiB) | `flush`, `fdatasync` |
//! | `raw_swift` | `fetch_add` on an `AtomicU64` tail, `memcpy` of (len, payload) into a file `fallocate`d and mapped up front; no checksum | `msync(MS_SYNC)`, `munmap` |
//! | `limit_memcpy` | the raw recipe's bytes copied RAM to RAM (prefaulted buffer), one thread | none |
//! | `limit_mapped_copy` | the raw recipe's bytes copied into freshly `fallocate`d mapped pages, no tail counter, one thread | `msync(MS_SYNC)`, `munmap` |
//!
//! Each run reports two times ([`LogRun`]): the whole run (create, appends,
//! durable end) and the appends alone (from the first append to the last
//! one returning, thread start and join included).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mapio::log::{Entry, Log, LogReader};

use crate::BUFFER;

/// The size of a run of a log workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSpec {
    /// Payload bytes of every record (at least 16, a multiple of 8).
    pub payload: usize,
    /// Records appended in all, shared out among the threads.
    pub records: usize,
    /// Appending threads (the limits always use one).
    pub threads: usize,
}

impl LogSpec {
    /// A spec, checked: the payload holds at least the thread and the
    /// sequence number and is a whole number of words; one thread at least.
    pub fn new(payload: usize, records: usize, threads: usize) -> io::Result<LogSpec> {
        if payload < 16 || !payload.is_multiple_of(8) || payload > (1 << 24) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a payload of {payload} bytes: it must be a multiple of 8 from 16 to 16 MiB"
                ),
            ));
        }
        if threads == 0 || threads > 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{threads} threads: 1 to 1024"),
            ));
        }
        Ok(LogSpec {
            payload,
            records,
            threads,
        })
    }

    /// Records appended by thread `t`: an even share, the first threads
    /// taking one more each when `records` does not divide.
    pub fn count(&self, t: usize) -> usize {
        self.records / self.threads + usize::from(t < self.records % self.threads)
    }

    /// Payload bytes of a whole run.
    pub fn payload_bytes(&self) -> u64 {
        self.records as u64 * self.payload as u64
    }

    /// Bytes of one record of the raw recipe: an 8-byte length, then the
    /// payload.
    pub fn raw_record_len(&self) -> usize {
        8 + self.payload
    }

    /// Bytes of the raw recipe's file.
    pub fn raw_file_len(&self) -> usize {
        self.records * self.raw_record_len()
    }
}

/// The payload template of thread `t`: zeros where the thread and sequence
/// number go, then a pattern of `t`. [`set_seq`] fills in the rest.
pub fn payload_template(t: usize, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len)
        .map(|k| (k as u8).wrapping_mul(31) ^ (t as u8).wrapping_mul(101))
        .collect();
    p[..8].copy_from_slice(&(t as u64).to_le_bytes());
    p[8..16].copy_from_slice(&0u64.to_le_bytes());
    p
}

/// Turns a template into the payload of sequence number `i`.
#[inline]
pub fn set_seq(p: &mut [u8], i: usize) {
    p[8..16].copy_from_slice(&(i as u64).to_le_bytes());
}

/// The payload of the `i`-th record of thread `t`.
pub fn payload(t: usize, i: usize, len: usize) -> Vec<u8> {
    let mut p = payload_template(t, len);
    set_seq(&mut p, i);
    p
}

/// The hash of one payload (position-dependent over its 8-byte words).
#[inline]
pub fn record_hash(payload: &[u8]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64 ^ payload.len() as u64;
    let chunks = payload.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0x0100_0000_01B3)
            .rotate_left(29);
    }
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0x0100_0000_01B3)
            .rotate_left(29);
    }
    h ^ (h >> 31)
}

/// Added to a checksum for a record whose key or time disagrees with its
/// payload: the checksum can then no longer match.
const MISMATCH: u64 = 0xBAD0_BAD0_BAD0_BAD1;

/// What every contender's file must hash to, computed without I/O.
pub fn expected_log_checksum(spec: &LogSpec) -> u64 {
    let mut sum = 0u64;
    for t in 0..spec.threads {
        let mut p = payload_template(t, spec.payload);
        for i in 0..spec.count(t) {
            set_seq(&mut p, i);
            sum = sum.wrapping_add(record_hash(&p));
        }
    }
    sum
}

/// The thread and sequence number a payload carries.
fn payload_ids(p: &[u8]) -> (u64, u64) {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&p[..8]);
    b.copy_from_slice(&p[8..16]);
    (u64::from_le_bytes(a), u64::from_le_bytes(b))
}

/// One run of a log contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRun {
    /// The whole run: create, appends, durable end.
    pub total: Duration,
    /// The appends alone.
    pub appends: Duration,
    /// The checksum of what the file (or buffer) holds, read back after
    /// the timing.
    pub checksum: u64,
}

/// Who appends. See the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogContender {
    /// `mapio::log::Log::append`.
    Mapio,
    /// `mapio::log::Log::append` of records without key or time: the
    /// same information as the raw recipe's records (the thread and the
    /// sequence number are in the payload), a 16-byte record header.
    MapioPlain,
    /// `Mutex<BufWriter<File>>` with the same framing and CRC32C.
    MutexBufWriter,
    /// The raw SWIFT-style recipe by hand.
    RawSwift,
    /// Limit: `memcpy` RAM to RAM.
    LimitMemcpy,
    /// Limit: `memcpy` into freshly allocated mapped pages.
    LimitMappedCopy,
}

impl LogContender {
    /// Every contender, mapio first, then the alternatives, then the limits.
    pub const ALL: [LogContender; 6] = [
        LogContender::Mapio,
        LogContender::MapioPlain,
        LogContender::MutexBufWriter,
        LogContender::RawSwift,
        LogContender::LimitMemcpy,
        LogContender::LimitMappedCopy,
    ];

    /// `mapio`, `mapio_plain`, `mutex_bufwriter`, `raw_swift`,
    /// `limit_memcpy` or `limit_mapped_copy`.
    pub fn name(self) -> &'static str {
        match self {
            LogContender::Mapio => "mapio",
            LogContender::MapioPlain => "mapio_plain",
            LogContender::MutexBufWriter => "mutex_bufwriter",
            LogContender::RawSwift => "raw_swift",
            LogContender::LimitMemcpy => "limit_memcpy",
            LogContender::LimitMappedCopy => "limit_mapped_copy",
        }
    }

    /// One line saying what it does.
    pub fn description(self) -> &'static str {
        match self {
            LogContender::Mapio => "mapio Log::append (key, time, CRC32C), sync + close",
            LogContender::MapioPlain => {
                "mapio Log::append without key or time (the raw recipe's information), sync + close"
            }
            LogContender::MutexBufWriter => {
                "Mutex<BufWriter<File>> 1 MiB, same framing + CRC32C, flush + fdatasync"
            }
            LogContender::RawSwift => {
                "raw SWIFT recipe: fallocate + mmap, AtomicU64 fetch_add, memcpy, msync"
            }
            LogContender::LimitMemcpy => "limit: memcpy RAM to RAM, 1 thread",
            LogContender::LimitMappedCopy => {
                "limit: memcpy into fresh fallocated mapped pages, 1 thread, msync"
            }
        }
    }

    /// Whether this is a physical limit rather than a way to write a log.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            LogContender::LimitMemcpy | LogContender::LimitMappedCopy
        )
    }
}

/// Runs contender `c` on `path` (created or overwritten; the limit
/// `limit_memcpy` does not touch it) and reads its output back.
pub fn run_log_append(c: LogContender, path: &Path, spec: &LogSpec) -> io::Result<LogRun> {
    match c {
        LogContender::Mapio => log_mapio(path, spec),
        LogContender::MapioPlain => log_mapio_plain(path, spec),
        LogContender::MutexBufWriter => log_mutex_bufwriter(path, spec),
        LogContender::RawSwift => crate::raw::log_raw_swift(path, spec),
        LogContender::LimitMemcpy => limit_memcpy(spec),
        LogContender::LimitMappedCopy => crate::raw::limit_mapped_copy(path, spec),
    }
}

/// Runs `append(t)` for every thread `t`: inline for one thread, else in
/// scoped threads; returns the first error.
pub(crate) fn on_threads(
    threads: usize,
    append: impl Fn(usize) -> io::Result<()> + Sync,
) -> io::Result<()> {
    if threads == 1 {
        return append(0);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let append = &append;
                s.spawn(move || append(t))
            })
            .collect();
        let mut result = Ok(());
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("an appending thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// mapio: `Log::create` (default options: 64 MiB allocated ahead by a
/// background thread), each thread appends with key `t` and time `i`,
/// `sync()`, `close()`. Read back with `LogReader::records()`.
pub fn log_mapio(path: &Path, spec: &LogSpec) -> io::Result<LogRun> {
    run_mapio(path, spec, true)
}

/// mapio's run, with records keyed (key `t`, time `i`) or plain.
fn run_mapio(path: &Path, spec: &LogSpec, keyed: bool) -> io::Result<LogRun> {
    let start = Instant::now();
    let log = Log::create(path)?;
    let a = Instant::now();
    on_threads(spec.threads, |t| {
        let mut p = payload_template(t, spec.payload);
        for i in 0..spec.count(t) {
            set_seq(&mut p, i);
            let entry = if keyed {
                Entry::new().key(t as u64).time(i as f64)
            } else {
                Entry::new()
            };
            log.append(&entry, &p)?;
        }
        Ok(())
    })?;
    let appends = a.elapsed();
    log.sync()?;
    log.close()?;
    let total = start.elapsed();
    Ok(LogRun {
        total,
        appends,
        checksum: checksum_mapio(path, keyed)?,
    })
}

/// The checksum of a mapio log's records (with key `t` and time `i`).
pub fn checksum_mapio_log(path: &Path) -> io::Result<u64> {
    checksum_mapio(path, true)
}

/// The checksum of a mapio log's records, keyed (key `t`, time `i`) or
/// plain (neither).
fn checksum_mapio(path: &Path, keyed: bool) -> io::Result<u64> {
    let reader = LogReader::open(path)?;
    let mut sum = 0u64;
    for r in reader.records() {
        sum = sum.wrapping_add(record_hash(&r.payload));
        if r.payload.len() < 16 {
            sum = sum.wrapping_add(MISMATCH);
            continue;
        }
        let (t, i) = payload_ids(&r.payload);
        let want = if keyed {
            (Some(t), Some(i as f64))
        } else {
            (None, None)
        };
        if (r.key, r.time) != want {
            sum = sum.wrapping_add(MISMATCH);
        }
    }
    Ok(sum)
}

/// mapio with records that carry neither key nor time: what the raw
/// recipe stores (a length and the payload, which holds the thread and the
/// sequence number), with mapio's framing, CRC32C and commit protocol.
pub fn log_mapio_plain(path: &Path, spec: &LogSpec) -> io::Result<LogRun> {
    run_mapio(path, spec, false)
}

/// Bytes before the payload in the `mutex_bufwriter` framing: record
/// length (u32), CRC32C (u32) of key, time and payload, key (u64), time
/// (f64), all little-endian.
pub const FRAME_HEAD: usize = 24;

/// The frame head of a record for the `mutex_bufwriter` contender.
#[inline]
pub fn frame_head(key: u64, time: f64, payload: &[u8]) -> [u8; FRAME_HEAD] {
    let mut h = [0u8; FRAME_HEAD];
    h[0..4].copy_from_slice(&((FRAME_HEAD + payload.len()) as u32).to_le_bytes());
    h[8..16].copy_from_slice(&key.to_le_bytes());
    h[16..24].copy_from_slice(&time.to_bits().to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[8..24]), payload);
    h[4..8].copy_from_slice(&crc.to_le_bytes());
    h
}

/// `Mutex<BufWriter<File>>` (1 MiB buffer): each thread computes the frame
/// head and CRC32C outside the lock, then writes head and payload under
/// it; at the end `flush` and `fdatasync`.
pub fn log_mutex_bufwriter(path: &Path, spec: &LogSpec) -> io::Result<LogRun> {
    let start = Instant::now();
    let w = Mutex::new(BufWriter::with_capacity(BUFFER, File::create(path)?));
    let a = Instant::now();
    on_threads(spec.threads, |t| {
        let mut p = payload_template(t, spec.payload);
        for i in 0..spec.count(t) {
            set_seq(&mut p, i);
            let head = frame_head(t as u64, i as f64, &p);
            let mut g = w.lock().unwrap_or_else(|e| e.into_inner());
            g.write_all(&head)?;
            g.write_all(&p)?;
        }
        Ok(())
    })?;
    let appends = a.elapsed();
    let w = w.into_inner().unwrap_or_else(|e| e.into_inner());
    let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_data()?;
    drop(file);
    let total = start.elapsed();
    Ok(LogRun {
        total,
        appends,
        checksum: checksum_framed(path)?,
    })
}

/// The checksum of a `mutex_bufwriter` file: every frame's CRC is checked
/// (a bad one spoils the checksum), then its payload hashed.
pub fn checksum_framed(path: &Path) -> io::Result<u64> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut sum = 0u64;
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < FRAME_HEAD {
            return Ok(sum.wrapping_add(MISMATCH));
        }
        let mut w4 = [0u8; 4];
        w4.copy_from_slice(&rest[0..4]);
        let len = u32::from_le_bytes(w4) as usize;
        if len < FRAME_HEAD + 16 || len > rest.len() {
            return Ok(sum.wrapping_add(MISMATCH));
        }
        let p = &rest[FRAME_HEAD..len];
        let mut w8 = [0u8; 8];
        w8.copy_from_slice(&rest[8..16]);
        let key = u64::from_le_bytes(w8);
        w8.copy_from_slice(&rest[16..24]);
        let time = f64::from_bits(u64::from_le_bytes(w8));
        let (t, i) = payload_ids(p);
        if frame_head(key, time, p)[..] != rest[..FRAME_HEAD] || key != t || time != i as f64 {
            sum = sum.wrapping_add(MISMATCH);
        }
        sum = sum.wrapping_add(record_hash(p));
        pos += len;
    }
    Ok(sum)
}

/// The checksum of the raw recipe's bytes: records of an 8-byte length
/// (which must be the record's) and the payload, back to back.
pub fn checksum_raw_bytes(bytes: &[u8], spec: &LogSpec) -> u64 {
    let rec = spec.raw_record_len();
    let mut sum = 0u64;
    if bytes.len() != spec.raw_file_len() {
        sum = sum.wrapping_add(MISMATCH);
    }
    for r in bytes.chunks_exact(rec) {
        let mut w = [0u8; 8];
        w.copy_from_slice(&r[..8]);
        if u64::from_le_bytes(w) != rec as u64 {
            sum = sum.wrapping_add(MISMATCH);
        }
        sum = sum.wrapping_add(record_hash(&r[8..]));
    }
    sum
}

/// Writes record `i` of thread `t` in the raw framing into `dst` (exactly
/// [`LogSpec::raw_record_len`] bytes): the copy every raw contender makes.
#[inline]
pub(crate) fn put_raw_record(dst: &mut [u8], payload: &[u8]) {
    dst[..8].copy_from_slice(&((8 + payload.len()) as u64).to_le_bytes());
    dst[8..].copy_from_slice(payload);
}

/// Limit: the raw recipe's bytes copied into a buffer in RAM whose pages
/// were touched beforehand (untimed), one thread, no file.
pub fn limit_memcpy(spec: &LogSpec) -> io::Result<LogRun> {
    let rec = spec.raw_record_len();
    let mut buf = vec![1u8; spec.raw_file_len()];
    // `vec![1; n]` writes every byte: every page is faulted in.
    std::hint::black_box(&mut buf);
    let start = Instant::now();
    let mut at = 0usize;
    for t in 0..spec.threads {
        let mut p = payload_template(t, spec.payload);
        for i in 0..spec.count(t) {
            set_seq(&mut p, i);
            put_raw_record(&mut buf[at..at + rec], &p);
            at += rec;
        }
    }
    std::hint::black_box(&buf);
    let took = start.elapsed();
    Ok(LogRun {
        total: took,
        appends: took,
        checksum: checksum_raw_bytes(&buf, spec),
    })
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
