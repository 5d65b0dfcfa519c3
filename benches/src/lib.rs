//! Workloads that compare mapio with the other ways of doing the same I/O.
//!
//! The criterion benchmarks (`benches/array.rs`) and the `mapio bench`
//! subcommand both call this library, so that they measure exactly the
//! same code. Every workload has several *contenders*: mapio and the
//! alternatives a user would otherwise write. All contenders of a workload
//! do the same work on the same data and return the same checksum, so a
//! caller can check that nobody skipped work (the unit tests check it, and
//! that the written files are identical byte for byte).
//!
//! The data is always `n` little-endian `f64` values, the `i`-th being
//! [`value(i)`](value) (`i as f64 * 0.5`): a raw file of exactly `n * 8`
//! bytes, as `np.memmap(path, '<f8', shape=(n,))` reads it.
//!
//! | workload | what is timed | contenders | checksum |
//! |---|---|---|---|
//! | [`Workload::Write`] | create, fill, flush durably, close | mapio, raw_recipe, std_bufwriter, memmap2 | wrapping sum of the bits of the values stored |
//! | [`Workload::SeqSum`] | open, sum every value, close | mapio, std_read, pread, memmap2 | bits of the `f64` sum ([`SumF64`]) |
//! | [`Workload::Random4k`] | reads only: the file is opened and mapped *before*, see [`BlockReader`] | mapio, pread, memmap2 | [`fold_block`] of each block's [`block_checksum`] |
//!
//! Beyond the array workloads:
//!
//! * [`log`]: the continuous-log workloads (mapio's `Log::append` against a
//!   `Mutex<BufWriter<File>>` and the raw SWIFT-style recipe, with 1 and N
//!   threads) and the physical limits measured beside them;
//! * [`latency`]: commit-to-visible latency between two processes (mapio's
//!   log followed live, a Unix socket, a pipe);
//! * [`numpy`]: NumPy's `np.memmap` as a contender, in a Python process;
//! * [`harness`]: interleaved rounds, statistics, ratios to mapio,
//!   checksum checks, the JSON report and its text tables;
//! * [`chart`]: the report as an SVG bar chart;
//! * [`suite`]: the whole `mapio bench` run.
//!
//! ```
//! use mapio_bench::{Contender, Workload};
//! # let dir = tempfile::tempdir()?;
//! let n = 10_000;
//! let mut sums = Vec::new();
//! for &c in Workload::Write.contenders() {
//!     let path = dir.path().join(format!("{c}.f64"));
//!     sums.push(mapio_bench::run_write(c, &path, n)?);
//! }
//! assert!(sums.iter().all(|&s| s == mapio_bench::expected_write_checksum(n)));
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs)]

pub mod chart;
pub mod harness;
pub mod latency;
pub mod log;
pub mod machine;
pub mod numpy;
pub mod query;
mod random;
mod raw;
mod seq;
pub mod suite;
mod write;

use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;

pub use random::{BlockReader, MapioBlocks, PreadBlocks};
pub use raw::{
    Memmap2Blocks, limit_mapped_copy, log_raw_swift, seq_sum_memmap2, write_memmap2,
    write_raw_recipe,
};
pub use seq::{seq_sum_mapio, seq_sum_pread, seq_sum_std_read};
pub use write::{write_mapio, write_std_bufwriter};

// The files are little-endian `f64`; the contenders that view mapped memory
// as `&[f64]` (mapio, the raw recipe) read and write native values.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "the workloads assume a little-endian machine"
);

/// Size of one random read, in bytes (and the alignment of its offset).
pub const BLOCK: usize = 4096;

/// Buffer size of the streaming contenders (`pread`, `BufWriter`): 1 MiB.
pub const BUFFER: usize = 1 << 20;

/// Seed of the random offsets used by the benchmarks.
pub const DEFAULT_SEED: u64 = 0x5EED_0F3A_910C_0D15;

/// The `i`-th value of every data file: `i as f64 * 0.5` (exact, so every
/// partial sum of up to 2^53 / 0.5 of them is exact too).
#[inline]
pub fn value(i: usize) -> f64 {
    i as f64 * 0.5
}

/// Length in bytes of a file of `n` `f64`, or an error if it overflows.
pub fn file_len(n: usize) -> io::Result<usize> {
    n.checked_mul(8)
        .filter(|&b| b as u64 <= i64::MAX as u64)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{n} f64 is too many")))
}

/// The error for a file of `have` bytes of which `want` were to be read.
fn short_file(path: &Path, have: u64, want: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "{}: {have} bytes, but {want} were to be read",
            path.display()
        ),
    )
}

/// Fills `out` with `value(start + i)` and returns the wrapping sum of the
/// bits stored (the write workload's checksum).
#[inline]
fn fill_values(out: &mut [f64], start: usize) -> u64 {
    let mut sum = 0u64;
    for (i, x) in out.iter_mut().enumerate() {
        let v = value(start + i);
        *x = v;
        sum = sum.wrapping_add(v.to_bits());
    }
    sum
}

/// Fills `out` (a whole number of 8-byte words) with the little-endian
/// bytes of `value(start + i)`; returns the wrapping sum of their bits.
#[inline]
fn fill_le_bytes(out: &mut [u8], start: usize) -> u64 {
    let mut sum = 0u64;
    for (i, w) in out.chunks_exact_mut(8).enumerate() {
        let v = value(start + i);
        w.copy_from_slice(&v.to_le_bytes());
        sum = sum.wrapping_add(v.to_bits());
    }
    sum
}

/// What [`run_write`] returns for `n` values, computed without I/O.
pub fn expected_write_checksum(n: usize) -> u64 {
    (0..n).fold(0u64, |s, i| s.wrapping_add(value(i).to_bits()))
}

/// What [`run_seq_sum`] returns for `n` values, computed without I/O.
pub fn expected_seq_sum(n: usize) -> u64 {
    let mut s = SumF64::new();
    let mut chunk = vec![0.0; 4096];
    let mut start = 0;
    while start < n {
        let k = chunk.len().min(n - start);
        fill_values(&mut chunk[..k], start);
        s.add_values(&chunk[..k]);
        start += k;
    }
    s.checksum()
}

fn le_u64(w: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(w);
    u64::from_le_bytes(b)
}

/// Number of independent accumulators of [`SumF64`].
const LANES: usize = 8;

/// The sequential-sum workload's sum of `f64` values.
///
/// Value `i` (counting every value ever added, across calls) goes to
/// accumulator `i % 8`, and the accumulators are added up in a fixed order
/// at the end, so the result does not depend on how the values were split
/// into calls. Eight accumulators let the compiler vectorise the loop, so
/// that the sum runs at memory speed and the workload measures the I/O
/// path rather than a chain of dependent additions.
#[derive(Clone, Debug, Default)]
pub struct SumF64 {
    lanes: [f64; LANES],
    count: usize,
}

impl SumF64 {
    /// An empty sum.
    pub fn new() -> SumF64 {
        SumF64::default()
    }

    /// Adds `xs` in order.
    pub fn add_values(&mut self, mut xs: &[f64]) {
        while !self.count.is_multiple_of(LANES) {
            let Some((&x, rest)) = xs.split_first() else {
                return;
            };
            self.lanes[self.count % LANES] += x;
            self.count += 1;
            xs = rest;
        }
        let mut acc = self.lanes;
        let chunks = xs.chunks_exact(LANES);
        let rem = chunks.remainder();
        for c in chunks {
            for l in 0..LANES {
                acc[l] += c[l];
            }
        }
        self.lanes = acc;
        self.count += xs.len() - rem.len();
        for &x in rem {
            self.lanes[self.count % LANES] += x;
            self.count += 1;
        }
    }

    /// Adds the little-endian `f64` in `bytes`, which must be a whole
    /// number of 8-byte values (else an `InvalidData` error, nothing added).
    pub fn add_le_bytes(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if !bytes.len().is_multiple_of(8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} bytes are not a whole number of f64", bytes.len()),
            ));
        }
        while !self.count.is_multiple_of(LANES) {
            let Some((w, rest)) = bytes.split_first_chunk::<8>() else {
                return Ok(());
            };
            self.lanes[self.count % LANES] += f64::from_le_bytes(*w);
            self.count += 1;
            bytes = rest;
        }
        let mut acc = self.lanes;
        let chunks = bytes.chunks_exact(8 * LANES);
        let rem = chunks.remainder();
        for c in chunks {
            let words = lanes_of(c);
            for l in 0..LANES {
                acc[l] += f64::from_le_bytes(words[l]);
            }
        }
        self.lanes = acc;
        self.count += (bytes.len() - rem.len()) / 8;
        for w in rem.chunks_exact(8) {
            self.lanes[self.count % LANES] += f64::from_bits(le_u64(w));
            self.count += 1;
        }
        Ok(())
    }

    /// Number of values added.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The sum.
    pub fn sum(&self) -> f64 {
        let l = &self.lanes;
        ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
    }

    /// The workload's checksum: the bits of [`sum`](Self::sum).
    pub fn checksum(&self) -> u64 {
        self.sum().to_bits()
    }
}

/// Checksum of one block read by the random-read workload: the wrapping
/// sum of its little-endian 64-bit words (a trailing partial word, which
/// whole blocks never have, is ignored).
#[inline]
pub fn block_checksum(block: &[u8]) -> u64 {
    let mut acc = [0u64; LANES];
    let chunks = block.chunks_exact(8 * LANES);
    let rem = chunks.remainder();
    for c in chunks {
        let words = lanes_of(c);
        for l in 0..LANES {
            acc[l] = acc[l].wrapping_add(u64::from_le_bytes(words[l]));
        }
    }
    let mut sum = acc.iter().fold(0u64, |s, &a| s.wrapping_add(a));
    for w in rem.chunks_exact(8) {
        sum = sum.wrapping_add(le_u64(w));
    }
    sum
}

/// A 64-byte chunk as eight 8-byte words, with no bounds checks left in
/// the caller's loop (so that it vectorises).
#[inline(always)]
fn lanes_of(chunk: &[u8]) -> [[u8; 8]; LANES] {
    let mut words = [[0u8; 8]; LANES];
    if let Ok(c) = <&[u8; 8 * LANES]>::try_from(chunk) {
        for (l, w) in words.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&c[8 * l..8 * l + 8]);
            *w = b;
        }
    }
    words
}

/// [`block_checksum`] of a block already viewed as `f64` (the bits of a
/// native `f64` are its little-endian word on this machine).
#[inline]
pub fn block_checksum_f64(block: &[f64]) -> u64 {
    let mut acc = [0u64; LANES];
    let chunks = block.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] = acc[l].wrapping_add(c[l].to_bits());
        }
    }
    let mut sum = acc.iter().fold(0u64, |s, &a| s.wrapping_add(a));
    for x in rem {
        sum = sum.wrapping_add(x.to_bits());
    }
    sum
}

/// Folds one block's checksum into the running checksum of a sequence of
/// reads (order-sensitive, so reading the right blocks in the wrong order
/// shows).
#[inline]
pub fn fold_block(acc: u64, block: u64) -> u64 {
    acc.rotate_left(7) ^ block
}

/// A tiny xorshift64* generator: the random-read workload's offsets are
/// the same on every run and every machine.
#[derive(Clone, Debug)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator seeded with `seed` (0 is replaced by a fixed non-zero
    /// seed, since xorshift would stay at 0).
    pub fn new(seed: u64) -> XorShift64 {
        XorShift64 {
            state: if seed == 0 { DEFAULT_SEED } else { seed },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (`bound > 0`; the modulo bias is irrelevant
    /// here).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// `count` offsets of whole [`BLOCK`]s inside a file of `file_len` bytes,
/// [`BLOCK`]-aligned, drawn from [`XorShift64`] seeded with `seed`.
///
/// An error if the file holds no whole block.
pub fn random_offsets(file_len: u64, count: usize, seed: u64) -> io::Result<Vec<u64>> {
    let blocks = file_len / BLOCK as u64;
    if blocks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a file of {file_len} bytes holds no {BLOCK}-byte block"),
        ));
    }
    let mut rng = XorShift64::new(seed);
    Ok((0..count)
        .map(|_| rng.below(blocks) * BLOCK as u64)
        .collect())
}

/// Writes the data file of `n` values at `path` (with
/// [`write_std_bufwriter`], so durably) and reads it once, so that it is in
/// the page cache for the read workloads. Returns the file's length.
pub fn prepare_file(path: &Path, n: usize) -> io::Result<u64> {
    write_std_bufwriter(path, n)?;
    let sum = seq_sum_pread(path, n)?;
    if sum != expected_seq_sum(n) {
        return Err(io::Error::other(format!(
            "{}: the data file does not read back as written",
            path.display()
        )));
    }
    Ok(file_len(n)? as u64)
}

/// The three workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Create a file of `n` `f64`, fill it, flush it durably, close it.
    Write,
    /// Sum the `n` `f64` of a file that is in the page cache.
    SeqSum,
    /// Read [`BLOCK`]-byte blocks at random aligned offsets of a cached
    /// file that is already open (and mapped).
    Random4k,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 3] = [Workload::Write, Workload::SeqSum, Workload::Random4k];

    /// The workload's name: `write`, `seq_sum` or `random_4k`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Write => "write",
            Workload::SeqSum => "seq_sum",
            Workload::Random4k => "random_4k",
        }
    }

    /// The contenders of this workload, mapio first.
    pub fn contenders(self) -> &'static [Contender] {
        use Contender::*;
        match self {
            Workload::Write => &[Mapio, RawRecipe, StdBufWriter, Memmap2],
            Workload::SeqSum => &[Mapio, StdRead, Pread, Memmap2],
            Workload::Random4k => &[Mapio, Pread, Memmap2],
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown workload {s:?}: expected write, seq_sum or random_4k"),
                )
            })
    }
}

/// Who does the work. Not every contender takes part in every workload:
/// see [`Workload::contenders`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Contender {
    /// mapio's `Array<f64>` (over a `MappedFile`).
    Mapio,
    /// The C recipe by hand with rustix: `open`, `fallocate`, `mmap`,
    /// stores, `msync(MS_SYNC)`, `munmap`, `ftruncate`, `close`.
    RawRecipe,
    /// `std::fs::File` behind a 1 MiB `BufWriter`, then `sync_all`.
    StdBufWriter,
    /// `std::fs::read`-style: the whole file into one `Vec<u8>`.
    StdRead,
    /// `pread(2)` (std's `FileExt`) into a buffer.
    Pread,
    /// The `memmap2` crate.
    Memmap2,
}

impl Contender {
    /// Every contender.
    pub const ALL: [Contender; 6] = [
        Contender::Mapio,
        Contender::RawRecipe,
        Contender::StdBufWriter,
        Contender::StdRead,
        Contender::Pread,
        Contender::Memmap2,
    ];

    /// The contender's name: `mapio`, `raw_recipe`, `std_bufwriter`,
    /// `std_read`, `pread` or `memmap2`.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Mapio => "mapio",
            Contender::RawRecipe => "raw_recipe",
            Contender::StdBufWriter => "std_bufwriter",
            Contender::StdRead => "std_read",
            Contender::Pread => "pread",
            Contender::Memmap2 => "memmap2",
        }
    }
}

impl fmt::Display for Contender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Contender {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Contender> {
        Contender::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "unknown contender {s:?}: expected mapio, raw_recipe, std_bufwriter, \
                         std_read, pread or memmap2"
                    ),
                )
            })
    }
}

fn not_in(workload: Workload, c: Contender) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{c} does not take part in the {workload} workload"),
    )
}

/// Runs contender `c` of the write workload: creates (or overwrites) `path`
/// with `n` values, flushed durably, and returns the checksum.
pub fn run_write(c: Contender, path: &Path, n: usize) -> io::Result<u64> {
    match c {
        Contender::Mapio => write_mapio(path, n),
        Contender::RawRecipe => write_raw_recipe(path, n),
        Contender::StdBufWriter => write_std_bufwriter(path, n),
        Contender::Memmap2 => write_memmap2(path, n),
        other => Err(not_in(Workload::Write, other)),
    }
}

/// Runs contender `c` of the sequential-sum workload over the first `n`
/// values of `path` (which must hold at least that many).
pub fn run_seq_sum(c: Contender, path: &Path, n: usize) -> io::Result<u64> {
    match c {
        Contender::Mapio => seq_sum_mapio(path, n),
        Contender::StdRead => seq_sum_std_read(path, n),
        Contender::Pread => seq_sum_pread(path, n),
        Contender::Memmap2 => seq_sum_memmap2(path, n),
        other => Err(not_in(Workload::SeqSum, other)),
    }
}

/// Opens `path` for contender `c` of the random-read workload. The time
/// this takes (open, lock, `mmap`) is not part of the workload.
pub fn open_block_reader(c: Contender, path: &Path) -> io::Result<Box<dyn BlockReader>> {
    match c {
        Contender::Mapio => Ok(Box::new(MapioBlocks::open(path)?)),
        Contender::Pread => Ok(Box::new(PreadBlocks::open(path)?)),
        Contender::Memmap2 => Ok(Box::new(Memmap2Blocks::open(path)?)),
        other => Err(not_in(Workload::Random4k, other)),
    }
}

/// Opens `path` for contender `c` and reads the blocks at `offsets`: the
/// random-read workload including the open, for one-shot callers.
pub fn run_random_4k(c: Contender, path: &Path, offsets: &[u64]) -> io::Result<u64> {
    open_block_reader(c, path)?.read_blocks(offsets)
}

#[cfg(test)]
mod tests;

/// Serialises this crate's tests that use files: a test that spawns a
/// process (NumPy) duplicates every open descriptor, locks included,
/// until the child calls `exec`, so a file another test has just closed
/// can look locked for an instant when it is reopened.
#[cfg(test)]
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
