//! The random-read workload: [`BlockReader`] and its safe contenders.
//! (memmap2 needs `unsafe`: see `raw`.)

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mapio::array::Array;
use mapio::map::Mode;

use crate::{BLOCK, block_checksum, block_checksum_f64, fold_block};

/// An open file from which the random-read workload reads [`BLOCK`]-byte
/// blocks.
///
/// Opening (and, for the mapping contenders, `mmap`) happens in the
/// constructor, *outside* the timed part: the workload measures the reads.
/// A mapping contender's first read of a page takes a page fault (the
/// kernel maps up to 16 neighbouring cached pages at once), and the pages
/// stay mapped for the reader's life: calling
/// [`read_blocks`](Self::read_blocks) again on the same reader with the
/// same offsets measures reads through a warm mapping, while a fresh
/// reader each time measures the first-touch faults too. The criterion
/// benches time both.
pub trait BlockReader {
    /// The contender's name.
    fn name(&self) -> &'static str;

    /// The file's length in bytes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the block at each offset (which must be a multiple of
    /// [`BLOCK`] with the whole block inside the file) and returns the
    /// [`fold_block`] of their [`block_checksum`]s, in order.
    fn read_blocks(&mut self, offsets: &[u64]) -> io::Result<u64>;
}

fn bad_offset(off: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("block offset {off} is not {BLOCK}-aligned or its block ends past {len} bytes"),
    )
}

/// Checks one offset; returns it as a `usize` byte index.
#[inline]
pub(crate) fn block_index(off: u64, len: u64) -> io::Result<usize> {
    if !off.is_multiple_of(BLOCK as u64) || off.checked_add(BLOCK as u64).is_none_or(|e| e > len) {
        return Err(bad_offset(off, len));
    }
    usize::try_from(off).map_err(|_| bad_offset(off, len))
}

/// mapio: the whole file as `Array::<f64>::open_raw(path, Mode::ReadOnly,
/// &[len / 8])`; a block is a 512-element slice of `as_slice()`.
#[derive(Debug)]
pub struct MapioBlocks {
    array: Array<f64>,
}

impl MapioBlocks {
    /// Opens and maps `path` (its length must be a multiple of 8).
    pub fn open(path: &Path) -> io::Result<MapioBlocks> {
        let len = std::fs::metadata(path)?.len();
        let n = usize::try_from(len / 8)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        let array = Array::<f64>::open_raw(path, Mode::ReadOnly, &[n])?;
        Ok(MapioBlocks { array })
    }
}

impl BlockReader for MapioBlocks {
    fn name(&self) -> &'static str {
        "mapio"
    }

    fn len(&self) -> u64 {
        self.array.len() as u64 * 8
    }

    fn read_blocks(&mut self, offsets: &[u64]) -> io::Result<u64> {
        let len = self.len();
        let values = self.array.as_slice();
        let mut acc = 0u64;
        for &off in offsets {
            let i = block_index(off, len)? / 8;
            let block = &values[i..i + BLOCK / 8];
            acc = fold_block(acc, block_checksum_f64(block));
        }
        Ok(acc)
    }
}

/// `pread(2)` (std's `FileExt::read_exact_at`) of each block into one
/// reused 4 KiB buffer.
#[derive(Debug)]
pub struct PreadBlocks {
    file: File,
    len: u64,
    buf: Box<[u8; BLOCK]>,
}

impl PreadBlocks {
    /// Opens `path`.
    pub fn open(path: &Path) -> io::Result<PreadBlocks> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(PreadBlocks {
            file,
            len,
            buf: Box::new([0u8; BLOCK]),
        })
    }
}

impl BlockReader for PreadBlocks {
    fn name(&self) -> &'static str {
        "pread"
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_blocks(&mut self, offsets: &[u64]) -> io::Result<u64> {
        let mut acc = 0u64;
        for &off in offsets {
            block_index(off, self.len)?;
            self.file.read_exact_at(&mut self.buf[..], off)?;
            acc = fold_block(acc, block_checksum(&self.buf[..]));
        }
        Ok(acc)
    }
}
