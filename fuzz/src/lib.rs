//! Helpers shared by the fuzz targets: a scratch directory for whole-file
//! targets, a byte cursor over the fuzz input, builders that turn fuzz
//! bytes into *valid* structures (log records with correct CRCs, index
//! files with consistent section sizes and CRC) so that libFuzzer reaches
//! the code behind the checksums, and independent checkers of what mapio
//! returns.
//!
//! Nothing here is part of mapio: it only uses mapio's public API.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mapio::log::format::{self, Kind, Word0};
use mapio::log::{Flags, Record};

/// A directory private to this process for the files the whole-file
/// targets write: `$MAPIO_FUZZ_TMP`, else `/dev/shm` (tmpfs: no disk I/O),
/// else the system temporary directory; inside it `mapio-fuzz-<pid>`.
///
/// `fuzz/run` points `MAPIO_FUZZ_TMP` at a directory it removes afterwards.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("MAPIO_FUZZ_TMP")
            .map(PathBuf::from)
            .or_else(|| {
                let shm = Path::new("/dev/shm");
                shm.is_dir().then(|| shm.to_path_buf())
            })
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("mapio-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch directory");
        dir
    })
}

/// Writes `bytes` to `name` in the scratch directory (replacing it) and
/// returns the path.
pub fn write_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    // Remove first: a file another handle still maps must not be truncated
    // under it (none should, but a fresh inode makes sure).
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).expect("cannot write a fuzz input file");
    path
}

/// Reads the fuzz input front to back; past its end every read is zero.
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// The next `N` bytes, zero-filled past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in a.iter_mut() {
            *b = self.u8();
        }
        a
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

/// The bytes of one record as the log's writer lays it out (FORMAT.md 1.3):
/// `word0 crc payload_len [key] [prev] [time] payload pad`, with a correct
/// CRC. `len` of `None` is the natural length.
pub fn encode_record(
    kind: Kind,
    key: Option<u64>,
    prev: Option<u64>,
    time: Option<f64>,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let opt = [key, prev, time.map(f64::to_bits)];
    let n_opt = opt.iter().flatten().count();
    let body = 16 + 8 * n_opt + payload.len();
    let len = body.next_multiple_of(8);
    let w0 = Word0 {
        len: len as u32,
        kind,
        has_key: key.is_some(),
        has_prev: prev.is_some(),
        has_time: time.is_some(),
        flags: Flags(flags),
    }
    .pack();
    let mut rec = vec![0u8; len];
    rec[0..8].copy_from_slice(&w0.to_le_bytes());
    rec[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut at = 16;
    for w in opt.iter().flatten() {
        rec[at..at + 8].copy_from_slice(&w.to_le_bytes());
        at += 8;
    }
    rec[at..at + payload.len()].copy_from_slice(payload);
    let crc = format::record_crc(&rec[12..body], w0);
    rec[8..12].copy_from_slice(&crc.to_le_bytes());
    rec
}

/// A padding record of `len` bytes (a multiple of 8, at least 8), as the
/// writer and recovery write it.
pub fn encode_padding(len: usize) -> Vec<u8> {
    let w0 = Word0 {
        len: len as u32,
        kind: Kind::Padding,
        has_key: false,
        has_prev: false,
        has_time: false,
        flags: Flags(0),
    }
    .pack();
    let mut rec = vec![0u8; len];
    rec[0..8].copy_from_slice(&w0.to_le_bytes());
    if len >= 16 {
        let crc = format::record_crc(&0u32.to_le_bytes(), w0);
        rec[8..12].copy_from_slice(&crc.to_le_bytes());
    }
    rec
}

/// The end record `close()` writes.
pub fn encode_end() -> Vec<u8> {
    let w0 = Word0 {
        len: format::END_LEN as u32,
        kind: Kind::End,
        has_key: false,
        has_prev: false,
        has_time: false,
        flags: Flags(0),
    }
    .pack();
    let mut rec = vec![0u8; 16];
    rec[0..8].copy_from_slice(&w0.to_le_bytes());
    let crc = format::record_crc(&0u32.to_le_bytes(), w0);
    rec[8..12].copy_from_slice(&crc.to_le_bytes());
    rec
}

/// Builds a log's record area from fuzz bytes: a program of operations
/// that append valid data records (with keys, chains that may point
/// anywhere including at themselves, times, payloads), padding, end
/// records, holes (zeros), raw garbage, and bit flips of what is there.
/// The result is what a crashed or hostile writer could leave behind,
/// but with enough valid CRCs that the scanner's deep paths run.
pub fn build_record_area(c: &mut Cursor<'_>) -> Vec<u8> {
    let mut area: Vec<u8> = Vec::new();
    let mut last_of_key: [u64; 8] = [0; 8];
    let mut ops = 0;
    while !c.is_empty() && ops < 256 {
        ops += 1;
        let op = c.u8();
        let here = format::HEADER_LEN + area.len() as u64;
        match op % 8 {
            0..=3 => {
                let bits = c.u8();
                let key_sel = c.u8();
                let key = (bits & 1 != 0).then(|| {
                    if key_sel < 8 {
                        key_sel as u64
                    } else if key_sel == 0xFF {
                        c.u64()
                    } else {
                        (key_sel % 8) as u64
                    }
                });
                let prev = (bits & 2 != 0).then(|| match (bits >> 4) & 3 {
                    0 => key.map_or(0, |k| last_of_key[(k % 8) as usize]),
                    1 => 0,
                    2 => here, // a chain that points at itself
                    _ => {
                        let p = c.u64();
                        // Known bug 4 (README.md): reading at an offset
                        // within 16 bytes of `u64::MAX` overflows.
                        if known_bugs() {
                            p
                        } else {
                            p.min(u64::MAX - 64)
                        }
                    }
                });
                let time = (bits & 4 != 0).then(|| {
                    let t = c.u8();
                    if t == 0xFF {
                        f64::from_bits(c.u64())
                    } else {
                        t as f64
                    }
                });
                let plen = if bits & 8 != 0 {
                    c.u16() as usize % 2048
                } else {
                    (c.u8() % 64) as usize
                };
                let payload = c.take(plen);
                let rec = encode_record(Kind::Data, key, prev, time, bits >> 6, payload);
                if let Some(k) = key {
                    last_of_key[(k % 8) as usize] = here;
                }
                area.extend_from_slice(&rec);
            }
            4 => {
                let n = (c.u8() % 32) as usize + 1;
                area.extend_from_slice(&encode_padding(8 * n));
            }
            5 => area.extend_from_slice(&encode_end()),
            6 => {
                // A hole: a reservation that was never written.
                let n = (c.u8() as usize % 64) + 1;
                area.resize(area.len() + 8 * n, 0);
            }
            _ => {
                let what = c.u8();
                if what & 1 == 0 {
                    // Raw bytes (garbage, or a hand-made word0).
                    let n = (what >> 1) as usize;
                    let raw = c.take(n);
                    area.extend_from_slice(raw);
                } else if !area.is_empty() {
                    // Flip one bit of what was written so far.
                    let at = c.u16() as usize % area.len();
                    area[at] ^= 1 << ((what >> 1) & 7);
                }
            }
        }
    }
    area
}

/// Checks, independently of mapio's reader, that `rec` is a record that
/// really is in `file` at `rec.offset` and passes every check FORMAT.md
/// 1.3 asks for: framing, tag, kind, length, zero padding and CRC.
pub fn check_record(file: &[u8], rec: &Record) {
    let off = usize::try_from(rec.offset).expect("offset fits usize");
    assert!(rec.offset >= format::HEADER_LEN, "record inside the header");
    assert_eq!(rec.offset % 8, 0, "record not 8-byte aligned");
    let end = off
        .checked_add(rec.len as usize)
        .expect("record end overflows");
    assert!(end <= file.len(), "record runs past the end of the file");
    let bytes = &file[off..end];
    let w0 = u64::from_le_bytes(bytes[0..8].try_into().unwrap());
    let word = Word0::unpack(w0).expect("returned record has an invalid word0");
    assert_eq!(word.kind, Kind::Data, "returned a non-data record");
    assert_eq!(word.len as u64, rec.len, "length differs from word0");
    assert_eq!(word.flags, rec.flags, "flags differ from word0");
    let crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    let plen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    assert_eq!(plen, rec.payload.len(), "payload length differs");
    let mut at = 16;
    let mut opt = |present: bool| -> Option<u64> {
        present.then(|| {
            let v = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            at += 8;
            v
        })
    };
    let key = opt(word.has_key);
    let prev = opt(word.has_prev);
    let time = opt(word.has_time);
    assert_eq!(key, rec.key, "key differs");
    assert_eq!(prev, rec.prev, "prev differs");
    assert_eq!(time, rec.time.map(f64::to_bits), "time differs");
    let body = at + plen;
    assert!(body <= bytes.len(), "payload runs past the record");
    assert!(
        bytes.len() - body < 8,
        "record longer than its padding allows"
    );
    assert_eq!(&bytes[at..body], &rec.payload[..], "payload differs");
    assert!(
        bytes[body..].iter().all(|&b| b == 0),
        "non-zero padding after the payload"
    );
    assert_eq!(
        format::record_crc(&bytes[12..body], w0),
        crc,
        "returned a record whose CRC does not match"
    );
}

/// Index header offsets (FORMAT.md section 3).
pub use mapio::log::index::field as idx;

/// Recomputes an index file's CRC (bytes `0..124` then every section).
pub fn fix_index_crc(bytes: &mut [u8]) {
    let h = mapio::log::index::HEADER;
    if bytes.len() < h {
        return;
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..idx::CRC]), &bytes[h..]);
    bytes[idx::CRC..idx::CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Builds index-file bytes from fuzz bytes whose section sizes agree with
/// its length and whose CRC checks, so that decoding gets past the cheap
/// refusals. The key table is sorted, list starts run from 0 to the entry
/// count, and each list increases, unless the input asks otherwise.
pub fn build_index(c: &mut Cursor<'_>) -> Vec<u8> {
    let h = mapio::log::index::HEADER;
    let shape = c.u8();
    let n_keys = (c.u8() % 32) as usize;
    let n_entries = (c.u8() % 64) as usize;
    let n_cps = (c.u8() % 32) as usize;
    let wide = shape & 64 != 0;
    let mut out = vec![0u8; h];
    out[0..8].copy_from_slice(&mapio::log::index::MAGIC);
    out[8..12].copy_from_slice(&mapio::log::index::VERSION.to_le_bytes());
    let head = c.take(h - 16);
    out[16..16 + head.len()].copy_from_slice(head);
    let put =
        |out: &mut Vec<u8>, at: usize, v: u64| out[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut out, idx::N_ENTRIES, n_entries as u64);
    put(&mut out, idx::N_CPS, n_cps as u64);
    if shape & 128 == 0 {
        put(&mut out, idx::WIDTH, if wide { 8 } else { 4 });
    }
    let mut keys: Vec<u64> = (0..n_keys)
        .map(|_| {
            if shape & 4 != 0 {
                c.u64()
            } else {
                c.u8() as u64
            }
        })
        .collect();
    let mut starts: Vec<u64> = (0..n_keys)
        .map(|_| {
            if shape & 8 != 0 {
                c.u64()
            } else {
                c.u8() as u64 % (n_entries as u64 + 1)
            }
        })
        .collect();
    if shape & 1 == 0 {
        keys.sort_unstable();
        keys.dedup();
        starts.truncate(keys.len());
        starts.sort_unstable();
        if let Some(s) = starts.first_mut() {
            *s = 0;
        }
    }
    starts.resize(keys.len(), 0);
    starts.push(n_entries as u64);
    put(&mut out, idx::N_KEYS, keys.len() as u64);
    for k in &keys {
        out.extend_from_slice(&k.to_le_bytes());
    }
    for s in &starts {
        out.extend_from_slice(&s.to_le_bytes());
    }
    // Entries (offsets / 8): increasing runs from the log's first record
    // on, or raw.
    let mut e = format::HEADER_LEN / 8;
    for _ in 0..n_entries {
        e = if shape & 32 != 0 {
            c.u64()
        } else {
            e + 1 + (c.u8() as u64 % 4)
        };
        if wide {
            out.extend_from_slice(&e.to_le_bytes());
        } else {
            out.extend_from_slice(&(e as u32).to_le_bytes());
        }
    }
    out.resize(out.len().next_multiple_of(8), 0);
    for _ in 0..n_cps {
        let t = if shape & 16 != 0 {
            f64::from_bits(c.u64())
        } else {
            c.u8() as f64
        };
        out.extend_from_slice(&t.to_bits().to_le_bytes());
        let (a, b) = if shape & 32 != 0 {
            (c.u64(), c.u64())
        } else {
            (
                format::HEADER_LEN + 8 * c.u8() as u64,
                format::HEADER_LEN + 8 * c.u8() as u64,
            )
        };
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    // Keys out of time order: some of the table's, sorted, or raw.
    let n_unordered = (c.u8() % 8) as usize;
    put(&mut out, idx::N_UNORDERED, n_unordered as u64);
    for u in 0..n_unordered {
        let k = if shape & 4 != 0 {
            c.u64()
        } else {
            keys.get(u * 2).copied().unwrap_or(u as u64)
        };
        out.extend_from_slice(&k.to_le_bytes());
    }
    if shape & 2 == 0 {
        fix_index_crc(&mut out);
    }
    out
}

/// Whether inputs may reach the bugs this fuzzing found (now always: they
/// are fixed; the targets used to steer around them while they were open).
pub fn known_bugs() -> bool {
    // The five bugs are fixed (SECURITY.md, "Status of the findings"): the
    // targets no longer steer around them, so a regression is found.
    true
}
