//! The sidecar index (`FORMAT.md` section 3): per-key forward lists of
//! record offsets, and time checkpoints. Built in one pass, extended
//! incrementally when the log grows, detected as stale when it no longer
//! matches, and never required.

use std::path::{Path, PathBuf};

use super::format::HEADER_LEN;
use super::reader::LogReader;
use crate::error::{Error, Result};
use crate::map::{MappedFile, Mode};

/// The bytes an index starts with.
pub const MAGIC: [u8; 8] = *b"MAPIOIDX";
/// The index format version.
pub const VERSION: u32 = 1;
/// Length of the index header.
pub const HEADER: usize = 128;
/// The most checkpoints an index keeps.
pub const MAX_CHECKPOINTS: usize = 4096;

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

/// A sidecar index of one log.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    log_created_ns: u64,
    covered: u64,
    last_offset: u64,
    last_word1: u64,
    records: u64,
    keys: Vec<u64>,
    list_starts: Vec<u64>,
    lists: Vec<u8>,
    checkpoints: Vec<Checkpoint>,
    min_time: f64,
    max_time: f64,
    /// Every distinct time of the log is a checkpoint (none were dropped
    /// to keep the index small).
    complete: bool,
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

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The varint at `*pos` (advancing it), or `None` if it is truncated or
/// longer than 10 bytes. Queries decode millions of them: one 8-byte load
/// finds the end of any varint of up to 8 bytes, and three masked shifts
/// pack its 7-bit groups, without a branch per byte.
fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    if let Some(chunk) = pos.checked_add(8).and_then(|end| bytes.get(*pos..end)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let stops = !w & 0x8080_8080_8080_8080;
        if stops != 0 {
            // The last byte of the varint is the first without its top bit.
            let n = (stops.trailing_zeros() / 8 + 1) as usize;
            let mut x = w & 0x7F7F_7F7F_7F7F_7F7F;
            if n < 8 {
                x &= (1u64 << (8 * n)) - 1;
            }
            x = (x & 0x007F_007F_007F_007F) | ((x & 0x7F00_7F00_7F00_7F00) >> 1);
            x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x3FFF_0000_3FFF_0000) >> 2);
            x = (x & 0x0000_0000_0FFF_FFFF) | ((x & 0x0FFF_FFFF_0000_0000) >> 4);
            *pos += n;
            return Some(x);
        }
    }
    get_varint_bytewise(bytes, pos)
}

fn get_varint_bytewise(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7F) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The offsets of one key's list: a first offset, then deltas (varints).
/// Ends at the end of the list or at a truncated varint (lists are
/// validated when an index is loaded).
struct ListOffsets<'a> {
    bytes: &'a [u8],
    pos: usize,
    acc: Option<u64>,
}

impl Iterator for ListOffsets<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let v = get_varint(self.bytes, &mut self.pos)?;
        let off = self.acc.map_or(v, |a| a.saturating_add(v));
        self.acc = Some(off);
        Some(off)
    }
}

/// One record seen by a build pass.
struct Seen {
    key: Option<u64>,
    offset: u64,
    end: u64,
    time: Option<f64>,
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

    /// Builds the index of everything committed in the log, in one pass.
    pub fn build(reader: &LogReader, progress: Option<Progress<'_>>) -> Result<Index> {
        let base = Index {
            log_created_ns: reader.header().created_ns,
            covered: HEADER_LEN,
            last_offset: 0,
            last_word1: 0,
            records: 0,
            keys: Vec::new(),
            list_starts: Vec::new(),
            lists: Vec::new(),
            checkpoints: Vec::new(),
            min_time: f64::NAN,
            max_time: f64::NAN,
            complete: true,
        };
        base.extend(reader, progress)
    }

    /// The index extended by the records added to the log since it was
    /// built (scanning only those).
    pub fn extend(&self, reader: &LogReader, mut progress: Option<Progress<'_>>) -> Result<Index> {
        let total = reader.tail().max(self.covered);
        let mut seen = Vec::new();
        let mut records = reader.records_from(self.covered);
        let mut last = (self.last_offset, self.last_word1);
        let mut n = 0u64;
        for rec in records.by_ref() {
            seen.push(Seen {
                key: rec.key,
                offset: rec.offset,
                end: rec.next_offset(),
                time: rec.time,
            });
            last = (rec.offset, reader.word_at(rec.offset + 8));
            n += 1;
            if n % 65536 == 0 {
                if let Some(p) = progress.as_mut() {
                    p(rec.offset, total);
                }
            }
        }
        let covered = records.position().max(self.covered);
        if let Some(p) = progress.as_mut() {
            p(covered, covered);
        }
        // Per-key lists: old lists, then the new offsets (all larger). A
        // sort of (key, offset) pairs groups them without a hash map.
        let mut pairs: Vec<(u64, u64)> = seen
            .iter()
            .filter_map(|s| s.key.map(|k| (k, s.offset)))
            .collect();
        pairs.sort_unstable();
        let mut all_keys: Vec<u64> = Vec::with_capacity(self.keys.len() + 16);
        {
            let (mut i, mut j) = (0, 0);
            while i < self.keys.len() || j < pairs.len() {
                let a = self.keys.get(i).copied();
                let b = pairs.get(j).map(|p| p.0);
                let k = match (a, b) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) => a,
                    (None, Some(b)) => b,
                    (None, None) => break,
                };
                all_keys.push(k);
                while self.keys.get(i) == Some(&k) {
                    i += 1;
                }
                while pairs.get(j).map(|p| p.0) == Some(k) {
                    j += 1;
                }
            }
        }
        let mut lists = Vec::with_capacity(self.lists.len() + pairs.len() * 4);
        let mut starts = Vec::with_capacity(all_keys.len());
        let mut j = 0;
        for &k in &all_keys {
            starts.push(lists.len() as u64);
            let mut prev = None;
            if let Ok(i) = self.keys.binary_search(&k) {
                lists.extend_from_slice(self.list_bytes(i));
                prev = self.offsets_of_index(i).last().copied();
            }
            while let Some(&(pk, off)) = pairs.get(j) {
                if pk != k {
                    break;
                }
                match prev {
                    None => put_varint(&mut lists, off),
                    // Lists are validated as increasing on load, and new
                    // records lie after what the index covered.
                    Some(p) => put_varint(&mut lists, off.saturating_sub(p)),
                }
                prev = Some(off);
                j += 1;
            }
        }
        let (mut min_time, mut max_time) = (self.min_time, self.max_time);
        for t in seen.iter().filter_map(|s| s.time) {
            min_time = if min_time.is_nan() {
                t
            } else {
                min_time.min(t)
            };
            max_time = if max_time.is_nan() {
                t
            } else {
                max_time.max(t)
            };
        }
        let (checkpoints, complete) = merge_checkpoints(
            &self.checkpoints,
            self.covered,
            self.max_time,
            &seen,
            covered,
        );
        Ok(Index {
            log_created_ns: self.log_created_ns,
            covered,
            last_offset: last.0,
            last_word1: last.1,
            records: self.records.saturating_add(seen.len() as u64),
            keys: all_keys,
            list_starts: starts,
            lists,
            checkpoints,
            min_time,
            max_time,
            complete: self.complete && complete,
        })
    }

    /// Every record that starts below this offset is indexed.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// Data records indexed.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Distinct keys indexed, sorted.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// The time checkpoints.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// Smallest and largest time, if any record has one.
    pub fn time_range(&self) -> Option<(f64, f64)> {
        (!self.min_time.is_nan()).then_some((self.min_time, self.max_time))
    }

    fn list_bytes(&self, i: usize) -> &[u8] {
        let start = self.list_starts[i] as usize;
        let end = self
            .list_starts
            .get(i + 1)
            .map(|&e| e as usize)
            .unwrap_or(self.lists.len());
        self.lists.get(start..end).unwrap_or(&[])
    }

    /// The offsets of list `i`, decoded as they are read.
    fn list(&self, i: usize) -> ListOffsets<'_> {
        ListOffsets {
            bytes: self.list_bytes(i),
            pos: 0,
            acc: None,
        }
    }

    fn offsets_of_index(&self, i: usize) -> Vec<u64> {
        self.list(i).collect()
    }

    /// The offsets of every record of `key`, in file order.
    pub fn offsets(&self, key: u64) -> Vec<u64> {
        match self.keys.binary_search(&key) {
            Ok(i) => self.offsets_of_index(i),
            Err(_) => Vec::new(),
        }
    }

    /// Calls `f(key, offsets)` for every key, in key order.
    pub fn for_each_key(&self, mut f: impl FnMut(u64, &[u64])) {
        let mut buf = Vec::new();
        for (i, &k) in self.keys.iter().enumerate() {
            buf.clear();
            buf.extend(self.list(i));
            f(k, &buf);
        }
    }

    /// Calls `f(key, before, from)` for every key, in key order: the
    /// offset of the key's last record below `below` and of its first
    /// record at or after `from` (`None` where there is none). Each list is
    /// decoded once and only as far as `from`: a query at a time touches a
    /// few bytes per key instead of every offset.
    pub fn around(&self, below: u64, from: u64, mut f: impl FnMut(u64, Option<u64>, Option<u64>)) {
        for (i, &k) in self.keys.iter().enumerate() {
            let mut before = None;
            let mut list = self.list(i);
            let after = list.find(|&off| {
                if off < below {
                    before = Some(off);
                }
                off >= from
            });
            f(k, before, after);
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
        let suffix = if self.complete && lo > 0 {
            Some(&cps[lo - 1])
        } else {
            cps.get(cps.partition_point(|c| c.time < t))
        };
        let suffix_start = suffix.map_or(self.covered, |c| c.suffix_start);
        (prefix_end, suffix_start.max(prefix_end))
    }

    /// Bytes of the index file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let fields = [
            self.log_created_ns,
            self.covered,
            self.last_offset,
            self.last_word1,
            self.records,
            self.keys.len() as u64,
            self.lists.len() as u64,
            self.checkpoints.len() as u64,
            self.min_time.to_bits(),
            self.max_time.to_bits(),
            self.complete as u64,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        for (k, s) in self.keys.iter().zip(&self.list_starts) {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&s.to_le_bytes());
        }
        out.extend_from_slice(&self.lists);
        for c in &self.checkpoints {
            out.extend_from_slice(&c.time.to_bits().to_le_bytes());
            out.extend_from_slice(&c.prefix_end.to_le_bytes());
            out.extend_from_slice(&c.suffix_start.to_le_bytes());
        }
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out[..124]), &out[HEADER..]);
        out[124..128].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads an index file's bytes; `Err(why)` if damaged.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Index, String> {
        Index::decode_owned(bytes.to_vec())
    }

    /// [`decode`](Self::decode), keeping the lists where they are in
    /// `bytes` (a large index is not copied a second time).
    fn decode_owned(mut bytes: Vec<u8>) -> std::result::Result<Index, String> {
        if bytes.len() < HEADER || bytes[0..8] != MAGIC {
            return Err("not a mapio index".into());
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[o..o + 8]);
            u64::from_le_bytes(a)
        };
        if u32_at(8) != VERSION {
            return Err(format!("index version {} is not supported", u32_at(8)));
        }
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..124]), &bytes[HEADER..]);
        if crc != u32_at(124) {
            return Err("index checksum mismatch (damaged)".into());
        }
        let n_keys = u64_at(56) as usize;
        let lists_len = u64_at(64) as usize;
        let n_cps = u64_at(72) as usize;
        let need = n_keys
            .checked_mul(16)
            .and_then(|a| a.checked_add(lists_len))
            .and_then(|a| n_cps.checked_mul(24).and_then(|b| a.checked_add(b)))
            .and_then(|a| a.checked_add(HEADER));
        if need != Some(bytes.len()) {
            return Err("index sections do not match its length".into());
        }
        let mut p = HEADER;
        let mut keys = Vec::with_capacity(n_keys);
        let mut starts = Vec::with_capacity(n_keys);
        for _ in 0..n_keys {
            keys.push(u64_at(p));
            starts.push(u64_at(p + 8));
            p += 16;
        }
        if keys.windows(2).any(|w| w[0] >= w[1])
            || starts.windows(2).any(|w| w[0] > w[1])
            || starts.last().is_some_and(|&s| s as usize > lists_len)
        {
            return Err("index key table is not ordered".into());
        }
        let lists = &bytes[p..p + lists_len];
        let lists_at = p;
        p += lists_len;
        let covered = u64_at(24);
        // Every list must decode to strictly increasing offsets inside
        // what the index covers: a crafted index cannot list a record
        // twice, point outside the log, or make extending it underflow.
        let mut total = 0u64;
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(lists_len, |&e| e as usize);
            let list = &lists[start as usize..end];
            let mut pos = 0;
            let mut prev: Option<u64> = None;
            while pos < list.len() {
                let v = get_varint(list, &mut pos).ok_or("index list is truncated")?;
                let off = match prev {
                    None => v,
                    Some(p) if v > 0 => p.checked_add(v).ok_or("index offset overflows")?,
                    Some(_) => return Err("index lists a record twice".into()),
                };
                if off < HEADER_LEN || off >= covered {
                    return Err("index offset outside what it covers".into());
                }
                prev = Some(off);
                total += 1;
            }
            if prev.is_none() {
                return Err("index key without records".into());
            }
        }
        if total > u64_at(48) {
            return Err("index lists more records than it counts".into());
        }
        let mut checkpoints = Vec::with_capacity(n_cps);
        for _ in 0..n_cps {
            checkpoints.push(Checkpoint {
                time: f64::from_bits(u64_at(p)),
                prefix_end: u64_at(p + 8),
                suffix_start: u64_at(p + 16),
            });
            p += 24;
        }
        let mut idx = Index {
            log_created_ns: u64_at(16),
            covered,
            last_offset: u64_at(32),
            last_word1: u64_at(40),
            records: u64_at(48),
            keys,
            list_starts: starts,
            lists: Vec::new(),
            checkpoints,
            min_time: f64::from_bits(u64_at(80)),
            max_time: f64::from_bits(u64_at(88)),
            complete: u64_at(96) & 1 == 1,
        };
        // The lists stay in the file's buffer, moved to its start.
        bytes.truncate(lists_at + lists_len);
        bytes.drain(..lists_at);
        idx.lists = bytes;
        Ok(idx)
    }

    /// Writes the index to `path` atomically (a temporary file, written
    /// through a mapio map with its space reserved, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.encode();
        // A fresh name, created exclusively (O_EXCL: never through a
        // symbolic link someone planted there).
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = path.with_extension(format!("idx.tmp{}.{nonce:08x}", std::process::id()));
        let write = || -> Result<()> {
            let mut f = MappedFile::options()
                .mode(Mode::Create)
                .create_new(true)
                .nofollow(true)
                .len(bytes.len() as u64)
                .open(&tmp)?;
            f.as_mut_slice()?.copy_from_slice(&bytes);
            f.close()?;
            std::fs::rename(&tmp, path).map_err(|e| Error::io(path, "rename", e))
        };
        // All or nothing: a failure leaves no temporary file behind.
        write().inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Loads the index at `path` for the log `reader` reads, checking that
    /// it still matches.
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
        let log_len = std::fs::metadata(reader.path())
            .map(|m| m.len())
            .unwrap_or(0);
        if meta.len() > log_len.saturating_add(64 << 20) {
            return Ok(IndexState::Stale(
                "the index is larger than its log could need".into(),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
        let idx = match Index::decode_owned(bytes) {
            Ok(i) => i,
            Err(why) => return Ok(IndexState::Stale(why)),
        };
        if idx.log_created_ns != reader.header().created_ns {
            return Ok(IndexState::Stale("the index belongs to another log".into()));
        }
        let last_word1 = idx.last_offset.checked_add(8).map(|o| reader.word_at(o));
        if idx.last_offset != 0 && last_word1 != Some(idx.last_word1) {
            return Ok(IndexState::Stale(
                "the log no longer holds the last record the index covers".into(),
            ));
        }
        Ok(IndexState::Fresh(idx))
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
                let grown = reader.records_from(i.covered).next().is_some();
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

/// Checkpoints after appending `new` records (file order) to a log whose
/// first `old_covered` bytes the `old` checkpoints describe. Every bound
/// stays valid (a query may scan more than needed, never miss a record).
fn merge_checkpoints(
    old: &[Checkpoint],
    old_covered: u64,
    old_max: f64,
    new: &[Seen],
    covered: u64,
) -> (Vec<Checkpoint>, bool) {
    // First new record with time > t, for the new part: running maxima.
    let mut change: Vec<(f64, u64)> = Vec::new(); // (running max, offset where it first reached it)
    for s in new {
        if let Some(t) = s.time {
            if change.last().is_none_or(|&(m, _)| t > m) {
                change.push((t, s.offset));
            }
        }
    }
    let first_new_after = |t: f64| -> u64 {
        let i = change.partition_point(|&(m, _)| m <= t);
        change.get(i).map_or(covered, |&(_, off)| off)
    };
    // Largest end of a new record with time <= t: per distinct time, then
    // a running maximum over sorted times.
    let mut ends: Vec<(f64, u64)> = new
        .iter()
        .filter_map(|s| s.time.map(|t| (t, s.end)))
        .collect();
    ends.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut run = 0u64;
    for e in ends.iter_mut() {
        run = run.max(e.1);
        e.1 = run;
    }
    let last_new_end_upto = |t: f64| -> u64 {
        let i = ends.partition_point(|&(tt, _)| tt <= t);
        if i == 0 { 0 } else { ends[i - 1].1 }
    };
    let mut out: Vec<Checkpoint> = old
        .iter()
        .map(|c| Checkpoint {
            time: c.time,
            prefix_end: if c.prefix_end < old_covered {
                c.prefix_end
            } else {
                first_new_after(c.time)
            },
            suffix_start: c.suffix_start.max(last_new_end_upto(c.time)),
        })
        .collect();
    let mut times: Vec<f64> = ends.iter().map(|e| e.0).collect();
    times.dedup();
    for t in times {
        if old.iter().any(|c| c.time == t) {
            continue;
        }
        let below = old.partition_point(|c| c.time <= t);
        let prefix_end = if old_max.is_nan() || t >= old_max {
            first_new_after(t)
        } else if below == 0 {
            HEADER_LEN
        } else {
            out[below - 1].prefix_end.min(old_covered)
        };
        let old_suffix = match old.get(old.partition_point(|c| c.time < t)) {
            Some(_) if old_max.is_nan() => HEADER_LEN,
            Some(c) => c.suffix_start,
            None if old_max.is_nan() => HEADER_LEN,
            None => old_covered,
        };
        out.push(Checkpoint {
            time: t,
            prefix_end,
            suffix_start: old_suffix.max(last_new_end_upto(t)),
        });
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    let complete = out.len() <= MAX_CHECKPOINTS;
    if !complete {
        // Keep an even spread, always the first and the last.
        let n = out.len();
        let keep: Vec<Checkpoint> = (0..MAX_CHECKPOINTS)
            .map(|i| out[i * (n - 1) / (MAX_CHECKPOINTS - 1)])
            .collect();
        out = keep;
    }
    (out, complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
        }
        assert_eq!(get_varint(&[0x80, 0x80], &mut 0), None);
    }

    proptest::proptest! {
        /// The 8-byte fast path reads exactly what the byte loop reads,
        /// on any bytes (canonical or not, truncated or overlong).
        #[test]
        fn fast_varints_match_the_byte_loop(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![proptest::num::u8::ANY, 0x80u8..=0xFF],
                0..40,
            ),
            start in 0usize..40,
        ) {
            let (mut a, mut b) = (start, start);
            loop {
                let fast = get_varint(&bytes, &mut a);
                let slow = get_varint_bytewise(&bytes, &mut b);
                proptest::prop_assert_eq!(fast, slow);
                if fast.is_none() {
                    break;
                }
                proptest::prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn varints_round_trip_any_value(vs in proptest::collection::vec(proptest::num::u64::ANY, 0..20)) {
            let mut b = Vec::new();
            for &v in &vs {
                put_varint(&mut b, v >> (v % 64));
            }
            let mut p = 0;
            for &v in &vs {
                proptest::prop_assert_eq!(get_varint(&b, &mut p), Some(v >> (v % 64)));
            }
            proptest::prop_assert_eq!(p, b.len());
        }
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
                idx.around(below, from, |k, b, a| got.push((k, b, a)));
                let want: Vec<_> = lists
                    .iter()
                    .map(|(k, offs)| {
                        let b = offs.iter().copied().filter(|&o| o < below).max();
                        let a = offs.iter().copied().find(|&o| o >= from);
                        (*k, b, a)
                    })
                    .collect();
                assert_eq!(got, want, "below {below} from {from}");
            }
        }
    }
}
