//! The log's concurrency protocol, over an abstract memory of 64-bit
//! atomic words, so that loom can check it on plain memory and the writer
//! and reader can run it on a mapped file.
//!
//! # The algorithm
//!
//! Reservation is one `fetch_add` on the `tail` word of the header: the old
//! value is the record's offset, and reservations never overlap. A writer
//! whose reservation ends past the allocated end asks [`Space::grow_to`] and
//! waits for that allocation only. It then stores the record's body words
//! (relaxed), and last stores `word0` with **release** ordering: the
//! commit. A reader loads `word0` with **acquire** ordering; non-zero means
//! the body stores happened before, so the body it then loads is complete,
//! and its CRC must match. Nothing else synchronises writers and readers.
//!
//! Every access goes through [`Memory`]: relaxed loads and stores of the
//! body are atomic too (never plain `&[u8]`), because readers in other
//! processes may scan bytes concurrently (recovery, resync).

use std::sync::atomic::Ordering;

use super::format::{self, FIXED_LEN, Flags, Kind, Word0};
use crate::sys::crc32c_parts;

/// Word index of `tail` in the header.
pub(crate) const TAIL_WORD: usize = format::OFF_TAIL / 8;

/// 64-bit words, atomically accessible (a mapped file, or loom's model).
pub(crate) trait Memory {
    /// Loads word `i` (byte offset `8 * i`); 0 past the end.
    fn load(&self, i: usize, order: Ordering) -> u64;
    /// Stores word `i`; words past the end are not written (the callers
    /// never do that: they write only allocated space).
    fn store(&self, i: usize, value: u64, order: Ordering);
    /// `fetch_add` on word `i`.
    fn fetch_add(&self, i: usize, value: u64, order: Ordering) -> u64;
    /// Stores `bytes` (a multiple of 8 long) little-endian into the words
    /// from word `i` on, relaxed.
    fn store_run(&self, i: usize, bytes: &[u8]) {
        store_each(self, i, bytes);
    }
}

/// [`Memory::store_run`] a word at a time.
fn store_each<M: Memory + ?Sized>(mem: &M, i: usize, bytes: &[u8]) {
    for (j, c) in bytes.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        mem.store(
            i.saturating_add(j),
            u64::from_le_bytes(w),
            Ordering::Relaxed,
        );
    }
}

impl Memory for [std::sync::atomic::AtomicU64] {
    #[inline]
    fn load(&self, i: usize, order: Ordering) -> u64 {
        self.get(i).map_or(0, |w| w.load(order))
    }
    #[inline]
    fn store(&self, i: usize, value: u64, order: Ordering) {
        if let Some(w) = self.get(i) {
            w.store(value, order)
        }
    }
    #[inline]
    fn fetch_add(&self, i: usize, value: u64, order: Ordering) -> u64 {
        self.get(i).map_or(0, |w| w.fetch_add(value, order))
    }
    /// One bounds check for the whole run, not one a word (a 1 KiB
    /// payload is 128 stores).
    #[inline]
    fn store_run(&self, i: usize, bytes: &[u8]) {
        let n = bytes.len() / 8;
        let Some(dst) = i.checked_add(n).and_then(|end| self.get(i..end)) else {
            // Partly past the end (callers never do this): word by word,
            // as `store` would.
            return store_each(self, i, bytes);
        };
        for (d, c) in dst.iter().zip(bytes.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            d.store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
    }
}

/// The allocated extent of the log, and how to extend it.
pub(crate) trait Space {
    /// The error growth can fail with.
    type Error;
    /// Bytes allocated (acquire: the allocation happened before).
    fn allocated(&self) -> u64;
    /// Returns once at least `end` bytes are allocated.
    fn grow_to(&self, end: u64) -> Result<(), Self::Error>;
}

/// The metadata of a record.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Meta {
    /// The object the record belongs to.
    pub key: Option<u64>,
    /// Offset of the previous record of the same key (0 for none).
    pub prev: Option<u64>,
    /// Time or step.
    pub time: Option<f64>,
    /// Flags.
    pub flags: Flags,
}

impl Meta {
    fn word0(&self, len: u64, kind: Kind) -> Word0 {
        Word0 {
            len: len as u32,
            kind,
            has_key: self.key.is_some(),
            has_prev: self.prev.is_some(),
            has_time: self.time.is_some(),
            flags: self.flags,
        }
    }

    fn optional_count(&self) -> u64 {
        self.key.is_some() as u64 + self.prev.is_some() as u64 + self.time.is_some() as u64
    }

    /// The optional fields as words, in order.
    fn optional_words(&self) -> impl Iterator<Item = u64> {
        [self.key, self.prev, self.time.map(f64::to_bits)]
            .into_iter()
            .flatten()
    }

    /// Length of a record with this metadata and `payload` bytes.
    pub fn record_len(&self, payload: usize) -> Option<u64> {
        format::record_len(self.optional_count(), payload)
    }
}

/// The CRC of a record: `head` (payload length and optional fields), the
/// payload, then `word0` (FORMAT.md 1.3), each taken from where it lies.
#[inline]
pub(crate) fn record_crc(head: &[u8], payload: &[u8], word0: u64) -> u32 {
    crc32c_parts(0, &[head, payload, &word0.to_le_bytes()])
}

/// `payload_len` and the optional fields, as the CRC sees them; returns
/// the buffer and its used length.
#[inline]
fn head_bytes(payload_len: u32, optional: &[u64]) -> ([u8; 28], usize) {
    let mut head = [0u8; 28];
    head[..4].copy_from_slice(&payload_len.to_le_bytes());
    for (i, w) in optional.iter().enumerate() {
        head[4 + 8 * i..12 + 8 * i].copy_from_slice(&w.to_le_bytes());
    }
    (head, 4 + 8 * optional.len())
}

/// Reserves `len` bytes: one `fetch_add`, then (only past the allocated
/// end) a wait for the allocation. Returns the record's offset.
pub(crate) fn reserve<M: Memory + ?Sized, S: Space>(
    mem: &M,
    space: &S,
    len: u64,
) -> Result<u64, S::Error> {
    // Relaxed is enough for disjointness: fetch_add is a single atomic
    // read-modify-write, so every reservation sees a distinct old value.
    let off = mem.fetch_add(TAIL_WORD, len, Ordering::Relaxed);
    let end = off + len;
    if end > space.allocated() {
        space.grow_to(end)?;
    }
    Ok(off)
}

/// Stores `bytes` little-endian into the words from byte `at` (a multiple
/// of 8), zero-padding the last word.
#[inline]
fn store_bytes<M: Memory + ?Sized>(mem: &M, at: u64, bytes: &[u8]) {
    let i = (at / 8) as usize;
    let whole = bytes.len() / 8 * 8;
    mem.store_run(i, &bytes[..whole]);
    let i = i + whole / 8;
    let rest = &bytes[whole..];
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        mem.store(i, u64::from_le_bytes(w), Ordering::Relaxed);
    }
}

/// Writes a whole data record into its reserved, allocated space and
/// commits it.
pub(crate) fn write_record<M: Memory + ?Sized>(
    mem: &M,
    off: u64,
    len: u64,
    meta: &Meta,
    payload: &[u8],
) {
    let word0 = meta.word0(len, Kind::Data).pack();
    let payload_len = payload.len() as u32;
    let mut optional = [0u64; 3];
    let mut n = 0;
    for w in meta.optional_words() {
        optional[n] = w;
        n += 1;
    }
    let (head, head_len) = head_bytes(payload_len, &optional[..n]);
    let mut at = off + FIXED_LEN;
    for &w in &optional[..n] {
        mem.store((at / 8) as usize, w, Ordering::Relaxed);
        at += 8;
    }
    store_bytes(mem, at, payload);
    let crc = record_crc(&head[..head_len], payload, word0);
    let i = (off / 8) as usize;
    let word1 = crc as u64 | ((payload_len as u64) << 32);
    mem.store(i + 1, word1, Ordering::Relaxed);
    // The commit: everything above happens-before a reader's acquire load
    // that sees this value.
    mem.store(i, word0, Ordering::Release);
}

/// Fills a reservation that will never hold data with a padding record,
/// so that readers step over it.
pub(crate) fn write_padding<M: Memory + ?Sized>(mem: &M, off: u64, len: u64) {
    let word0 = Meta::default().word0(len, Kind::Padding).pack();
    let i = (off / 8) as usize;
    if len >= FIXED_LEN {
        let crc = format::record_crc(&0u32.to_le_bytes(), word0);
        mem.store(i + 1, crc as u64, Ordering::Relaxed);
    }
    mem.store(i, word0, Ordering::Release);
}

/// Covers `from..to` (multiples of 8) with padding records, so that
/// readers step over it: how recovery neutralises holes and damage.
pub(crate) fn fill_padding<M: Memory + ?Sized>(mem: &M, from: u64, to: u64) {
    const MAX: u64 = 1 << 30;
    let mut pos = from;
    while pos < to {
        let mut n = (to - pos).min(MAX);
        if to - pos - n == 8 {
            n -= 8; // never leave a remainder a record cannot cover
        }
        write_padding(mem, pos, n);
        pos += n;
    }
}

/// Writes the end record (16 bytes).
pub(crate) fn write_end<M: Memory + ?Sized>(mem: &M, off: u64) {
    let word0 = Meta::default().word0(format::END_LEN, Kind::End).pack();
    let crc = format::record_crc(&0u32.to_le_bytes(), word0);
    let i = (off / 8) as usize;
    mem.store(i + 1, crc as u64, Ordering::Relaxed);
    mem.store(i, word0, Ordering::Release);
}

/// Stores `bytes` at `payload_off` inside the payload of the reserved
/// record at `off` whose header is `header_len` bytes: partial words at
/// either end are read, merged and written back (the reservation owns
/// them).
pub(crate) fn put_bytes<M: Memory + ?Sized>(
    mem: &M,
    payload_start: u64,
    payload_off: u64,
    bytes: &[u8],
) {
    let mut pos = payload_start + payload_off;
    let mut rest = bytes;
    while !rest.is_empty() {
        let i = (pos / 8) as usize;
        let in_word = (pos % 8) as usize;
        let n = (8 - in_word).min(rest.len());
        if in_word == 0 && n == 8 {
            // Whole words: the common case.
            let whole = rest.len() / 8 * 8;
            store_bytes(mem, pos, &rest[..whole]);
            pos += whole as u64;
            rest = &rest[whole..];
            continue;
        }
        let mut w = mem.load(i, Ordering::Relaxed).to_le_bytes();
        w[in_word..in_word + n].copy_from_slice(&rest[..n]);
        mem.store(i, u64::from_le_bytes(w), Ordering::Relaxed);
        pos += n as u64;
        rest = &rest[n..];
    }
}

/// Commits a reserved record whose payload was written with [`put_bytes`]:
/// writes the optional fields, computes the CRC from the stored payload,
/// stores `word1` and last `word0`.
pub(crate) fn commit_reserved<M: Memory + ?Sized>(
    mem: &M,
    off: u64,
    len: u64,
    meta: &Meta,
    payload_len: u32,
) {
    let word0 = meta.word0(len, Kind::Data).pack();
    let mut optional = [0u64; 3];
    let mut n = 0;
    for w in meta.optional_words() {
        optional[n] = w;
        n += 1;
    }
    let mut at = off + FIXED_LEN;
    for &w in &optional[..n] {
        mem.store((at / 8) as usize, w, Ordering::Relaxed);
        at += 8;
    }
    let (head, head_len) = head_bytes(payload_len, &optional[..n]);
    let mut crc = crc32c_parts(0, &[&head[..head_len]]);
    crc = crc_of_words(mem, at, payload_len as usize, crc);
    crc = crc32c_parts(crc, &[&word0.to_le_bytes()]);
    let word1 = crc as u64 | ((payload_len as u64) << 32);
    let i = (off / 8) as usize;
    mem.store(i + 1, word1, Ordering::Relaxed);
    mem.store(i, word0, Ordering::Release);
}

/// Continues `crc` over `n` bytes stored from byte `at`.
fn crc_of_words<M: Memory + ?Sized>(mem: &M, at: u64, n: usize, mut crc: u32) -> u32 {
    let mut i = (at / 8) as usize;
    let mut left = n;
    let mut buf = [0u8; 512];
    while left > 0 {
        let take = left.min(buf.len());
        let words = take.div_ceil(8);
        for k in 0..words {
            let w = mem.load(i + k, Ordering::Relaxed).to_le_bytes();
            buf[k * 8..k * 8 + 8].copy_from_slice(&w);
        }
        crc = crc32c_parts(crc, &[&buf[..take]]);
        i += words;
        left -= take;
    }
    crc
}

/// A record as found in memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Found {
    pub word0: Word0,
    pub meta: Meta,
    pub payload_len: u32,
}

/// What lies at an offset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Slot {
    /// `word0` is zero: not (yet) written.
    Empty,
    /// A committed record whose CRC checks; its payload was copied out.
    Record(Found),
    /// Something that is not a valid record (why).
    Invalid(&'static str),
}

/// Reads the record at `off` (a multiple of 8), which must end at or
/// before `limit`, copying its payload into `payload`. Never panics and
/// never returns a record whose framing or CRC does not check.
pub(crate) fn read_slot<M: Memory + ?Sized>(
    mem: &M,
    off: u64,
    limit: u64,
    payload: &mut Vec<u8>,
) -> Slot {
    payload.clear();
    read_slot_append(mem, off, limit, payload)
}

/// [`read_slot`], appending the payload to what `out` holds (a query
/// gathers a million payloads into one buffer, each copied once); `out`
/// is left as it was unless a record is returned.
pub(crate) fn read_slot_append<M: Memory + ?Sized>(
    mem: &M,
    off: u64,
    limit: u64,
    out: &mut Vec<u8>,
) -> Slot {
    let base = out.len();
    if !off.is_multiple_of(8) || off.checked_add(FIXED_LEN).is_none_or(|e| e > limit) {
        return Slot::Invalid("record header runs past the end");
    }
    let i = (off / 8) as usize;
    let w = mem.load(i, Ordering::Acquire);
    if w == 0 {
        return Slot::Empty;
    }
    let Some(word0) = Word0::unpack(w) else {
        return Slot::Invalid("invalid record header");
    };
    let len = word0.len as u64;
    if off.checked_add(len).is_none_or(|e| e > limit) {
        return Slot::Invalid("record runs past the end of the log");
    }
    let word1 = mem.load(i + 1, Ordering::Relaxed);
    let stored_crc = word1 as u32;
    let payload_len = (word1 >> 32) as u32;
    let header_len = word0.header_len();
    if word0.kind == Kind::Padding && len < FIXED_LEN {
        return Slot::Record(Found {
            word0,
            meta: Meta::default(),
            payload_len: 0,
        });
    }
    if word0.kind != Kind::Data {
        if payload_len != 0 {
            return Slot::Invalid("padding or end record with a payload");
        }
        if format::record_crc(&0u32.to_le_bytes(), w) != stored_crc {
            return Slot::Invalid("checksum mismatch");
        }
        return Slot::Record(Found {
            word0,
            meta: Meta::default(),
            payload_len: 0,
        });
    }
    let body = header_len + payload_len as u64;
    if body > len || len - body >= 8 {
        return Slot::Invalid("payload length does not match the record length");
    }
    let mut fields = [None; 3];
    let mut optional = [0u64; 3];
    let mut n_opt = 0;
    let mut k = i + 2;
    for (slot, present) in fields
        .iter_mut()
        .zip([word0.has_key, word0.has_prev, word0.has_time])
    {
        if present {
            let v = mem.load(k, Ordering::Relaxed);
            *slot = Some(v);
            optional[n_opt] = v;
            n_opt += 1;
            k += 1;
        }
    }
    let found = Found {
        word0,
        meta: Meta {
            key: fields[0],
            prev: fields[1],
            time: fields[2].map(f64::from_bits),
            flags: word0.flags,
        },
        payload_len,
    };
    let n = payload_len as usize;
    let words = n.div_ceil(8);
    let (head, h) = head_bytes(payload_len, &optional[..n_opt]);
    // Whole words, loaded into a small stack block and appended with one
    // copy (a scan copies every payload of the log to check its CRC).
    out.reserve(words * 8);
    let mut block = [0u64; 32];
    for first in (0..words).step_by(block.len()) {
        let m = (words - first).min(block.len());
        for (j, w) in block[..m].iter_mut().enumerate() {
            *w = mem.load(k + first + j, Ordering::Relaxed).to_le();
        }
        out.extend_from_slice(bytemuck::cast_slice(&block[..m]));
    }
    // The padding after the payload (in its last word) must be zero: then
    // every bit of a record is checked.
    if out[base + n..].iter().any(|&b| b != 0) {
        out.truncate(base);
        return Slot::Invalid("non-zero padding");
    }
    out.truncate(base + n);
    if record_crc(&head[..h], &out[base..], w) != stored_crc {
        out.truncate(base);
        return Slot::Invalid("checksum mismatch");
    }
    Slot::Record(found)
}

/// Bytes a scan may spend verifying resync candidates: a few times what it
/// scans, so that a crafted file (every word a plausible record header
/// claiming a long record) costs linear time, not quadratic. A real log's
/// damage never comes near it.
pub(crate) fn resync_budget(limit: u64) -> u64 {
    limit.saturating_mul(8).saturating_add(64 << 20)
}

/// The next offset after `from` (exclusive), below `limit`, that holds a
/// record that checks; `None` if there is none. Verifying a candidate
/// costs its length from `budget`; candidates it cannot pay for any more
/// are passed over.
pub(crate) fn resync<M: Memory + ?Sized>(
    mem: &M,
    from: u64,
    limit: u64,
    scratch: &mut Vec<u8>,
    budget: &mut u64,
) -> Option<u64> {
    let mut q = from.checked_add(8)?.checked_next_multiple_of(8)?;
    while q.checked_add(FIXED_LEN).is_some_and(|e| e <= limit) {
        let w = mem.load((q / 8) as usize, Ordering::Acquire);
        if w != 0 {
            if let Some(w0) = Word0::unpack(w) {
                let cost = (w0.len as u64).max(FIXED_LEN);
                if cost <= *budget {
                    *budget -= cost;
                    if let Slot::Record(_) = read_slot(mem, q, limit, scratch) {
                        return Some(q);
                    }
                }
            }
        }
        q += 8;
    }
    None
}

/// Clears `from..to` (multiples of 8) in place: how a writer that
/// reopens a log beside readers discards what follows its last good
/// record (they would fault past a truncation). Whatever is there is
/// zeroed from the end back, and each record's `word0` before the rest of
/// it, so that at every instant (a writer killed half-way) the log is its
/// records, at most one hole (a `word0` of zero over bytes), then zeros:
/// what a crash leaves, never zeros between records, nor a record cut
/// short that would read as damage. The records' offsets are collected
/// first (8 bytes each).
pub(crate) fn clear_range<M: Memory + ?Sized>(mem: &M, from: u64, to: u64) {
    let zero = |a: u64, b: u64| {
        for i in ((a / 8) as usize..(b / 8) as usize).rev() {
            mem.store(i, 0, Ordering::Relaxed);
        }
    };
    let mut starts = Vec::new();
    let mut pos = from;
    while let Some(w) = Word0::unpack(mem.load((pos / 8) as usize, Ordering::Relaxed)) {
        match pos.checked_add(w.len as u64) {
            Some(end) if end <= to => {
                starts.push(pos);
                pos = end;
            }
            _ => break,
        }
    }
    zero(pos, to);
    for &start in starts.iter().rev() {
        mem.store((start / 8) as usize, 0, Ordering::Relaxed);
        zero(start + 8, pos);
        pos = start;
    }
}

/// The end of the last non-zero 8-byte word of `from..to` (`from` if all
/// are zero), scanning back from `to`.
pub(crate) fn nonzero_end<M: Memory + ?Sized>(mem: &M, from: u64, to: u64) -> u64 {
    let (first, mut i) = (from / 8, to / 8);
    while i > first && mem.load((i - 1) as usize, Ordering::Relaxed) == 0 {
        i -= 1;
    }
    (i * 8).max(from)
}

/// Whether the bytes of `from..to` are all zero.
pub(crate) fn all_zero<M: Memory + ?Sized>(mem: &M, from: u64, to: u64) -> bool {
    (from / 8..to.div_ceil(8)).all(|i| mem.load(i as usize, Ordering::Relaxed) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU64;

    struct Vecs(Vec<AtomicU64>);
    impl Vecs {
        fn new(words: usize) -> Vecs {
            let v = Vecs((0..words).map(|_| AtomicU64::new(0)).collect());
            v.0[TAIL_WORD].store(format::HEADER_LEN, Ordering::Relaxed);
            v
        }
    }
    struct Fixed(u64, Mutex<()>);
    impl Space for Fixed {
        type Error = ();
        fn allocated(&self) -> u64 {
            self.0
        }
        fn grow_to(&self, end: u64) -> Result<(), ()> {
            let _g = self.1.lock().unwrap();
            if end <= self.0 { Ok(()) } else { Err(()) }
        }
    }

    /// A run of stores is the same as word-by-word stores, also where it
    /// runs past the end (only the words inside are written).
    #[test]
    fn store_runs_match_single_stores() {
        let bytes: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37)).collect();
        for at in [0usize, 3, 6, 8, 9, 100] {
            let zeros = || (0..10).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
            let (a, b) = (zeros(), zeros());
            let (a, b): (&[AtomicU64], &[AtomicU64]) = (&a, &b);
            a.store_run(at, &bytes);
            store_each(b, at, &bytes);
            let load = |m: &[AtomicU64]| {
                m.iter()
                    .map(|w| w.load(Ordering::Relaxed))
                    .collect::<Vec<_>>()
            };
            assert_eq!(load(a), load(b), "run at word {at}");
            if at <= 2 {
                assert_eq!(
                    a[at + 1].load(Ordering::Relaxed).to_le_bytes(),
                    bytes[8..16]
                );
            }
        }
    }

    #[test]
    fn write_read_round_trip_and_damage_detection() {
        let m = Vecs::new(1 << 12);
        let mem: &[AtomicU64] = &m.0;
        let space = Fixed(8 * (1 << 12), Mutex::new(()));
        let metas = [
            Meta::default(),
            Meta {
                key: Some(7),
                prev: Some(4096),
                time: Some(1.5),
                flags: Flags::CREATE,
            },
            Meta {
                key: Some(u64::MAX),
                time: Some(-0.0),
                ..Meta::default()
            },
        ];
        let mut offs = vec![];
        for (k, meta) in metas.iter().enumerate() {
            for n in [0usize, 1, 7, 8, 9, 100] {
                let payload: Vec<u8> = (0..n).map(|i| (i * 31 + k) as u8).collect();
                let len = meta.record_len(n).unwrap();
                let off = reserve(mem, &space, len).unwrap();
                write_record(mem, off, len, meta, &payload);
                offs.push((off, *meta, payload));
            }
        }
        let mut buf = vec![];
        for (off, meta, payload) in &offs {
            match read_slot(mem, *off, 1 << 15, &mut buf) {
                Slot::Record(f) => {
                    assert_eq!(f.meta, *meta);
                    assert_eq!(&buf, payload);
                }
                other => panic!("{other:?}"),
            }
        }
        // Flip each bit of a record (key, prev, time, 7-byte payload and
        // its padding): it never reads as valid.
        let (off, _, _) = offs[8];
        let len = Word0::unpack(mem[(off / 8) as usize].load(Ordering::Relaxed))
            .unwrap()
            .len as u64;
        for bit in 0..(len * 8) {
            let i = (off / 8 + bit / 64) as usize;
            let mask = 1u64 << (bit % 64);
            mem[i].fetch_xor(mask, Ordering::Relaxed);
            let slot = read_slot(mem, off, 1 << 15, &mut buf);
            assert!(!matches!(slot, Slot::Record(_)), "bit {bit}: {slot:?}");
            mem[i].fetch_xor(mask, Ordering::Relaxed);
        }
        assert!(matches!(
            read_slot(mem, off, 1 << 15, &mut buf),
            Slot::Record(_)
        ));
    }

    #[test]
    fn padding_end_and_resync() {
        let m = Vecs::new(1024);
        let mem: &[AtomicU64] = &m.0;
        let space = Fixed(8192, Mutex::new(()));
        let a = reserve(mem, &space, 64).unwrap();
        write_padding(mem, a, 64);
        let hole = reserve(mem, &space, 48).unwrap(); // never written
        let meta = Meta {
            key: Some(1),
            ..Meta::default()
        };
        let len = meta.record_len(10).unwrap();
        let c = reserve(mem, &space, len).unwrap();
        write_record(mem, c, len, &meta, b"0123456789");
        let e = reserve(mem, &space, 16).unwrap();
        write_end(mem, e);
        let mut buf = vec![];
        assert!(
            matches!(read_slot(mem, a, 8192, &mut buf), Slot::Record(f) if f.word0.kind == Kind::Padding)
        );
        assert_eq!(read_slot(mem, hole, 8192, &mut buf), Slot::Empty);
        assert_eq!(
            resync(mem, hole, 8192, &mut buf, &mut u64::MAX.clone()),
            Some(c)
        );
        assert!(all_zero(mem, hole, c));
        assert!(
            matches!(read_slot(mem, e, 8192, &mut buf), Slot::Record(f) if f.word0.kind == Kind::End)
        );
        assert_eq!(resync(mem, e, 8192, &mut buf, &mut u64::MAX.clone()), None);
        // Records running past the limit are refused.
        assert!(matches!(
            read_slot(mem, c, c + 8, &mut buf),
            Slot::Invalid(_)
        ));
    }

    #[test]
    fn fill_padding_covers_any_gap() {
        let m = Vecs::new(1024);
        let mem: &[AtomicU64] = &m.0;
        for (from, to) in [
            (4096u64, 4104u64),
            (4200, 4224),
            (4400, 4408 + 16),
            (5000, 5000),
        ] {
            fill_padding(mem, from, to);
            let mut pos = from;
            let mut buf = vec![];
            while pos < to {
                match read_slot(mem, pos, 8192, &mut buf) {
                    Slot::Record(f) => {
                        assert_eq!(f.word0.kind, Kind::Padding);
                        pos += f.word0.len as u64;
                    }
                    other => panic!("{from}..{to} at {pos}: {other:?}"),
                }
            }
            assert_eq!(pos, to);
        }
    }

    #[test]
    fn put_bytes_then_commit() {
        let m = Vecs::new(1024);
        let mem: &[AtomicU64] = &m.0;
        let space = Fixed(8192, Mutex::new(()));
        let meta = Meta {
            time: Some(2.0),
            ..Meta::default()
        };
        let payload: Vec<u8> = (0..37u8).collect();
        let len = meta.record_len(payload.len()).unwrap();
        let off = reserve(mem, &space, len).unwrap();
        let start = off + FIXED_LEN + 8;
        // Out of order, unaligned pieces.
        put_bytes(mem, start, 30, &payload[30..]);
        put_bytes(mem, start, 3, &payload[3..17]);
        put_bytes(mem, start, 0, &payload[..3]);
        put_bytes(mem, start, 17, &payload[17..30]);
        commit_reserved(mem, off, len, &meta, payload.len() as u32);
        let mut buf = vec![];
        assert!(matches!(
            read_slot(mem, off, 8192, &mut buf),
            Slot::Record(_)
        ));
        assert_eq!(buf, payload);
    }

    #[test]
    fn growth_failure_is_reported() {
        let m = Vecs::new(1024);
        let mem: &[AtomicU64] = &m.0;
        let space = Fixed(4096 + 64, Mutex::new(()));
        assert!(reserve(mem, &space, 64).is_ok());
        assert!(reserve(mem, &space, 64).is_err());
    }
}
