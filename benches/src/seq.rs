//! The sequential-sum workload's safe contenders: mapio, a whole-file
//! `read`, and `pread` in a loop. (memmap2 needs `unsafe`: see `raw`.)
//!
//! Each opens the file, sums its first `n` values with [`SumF64`] and
//! closes it; the open is part of the time (it is small next to the
//! 256 MiB the benchmark reads).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use mapio::array::Array;
use mapio::map::Mode;

use crate::{BUFFER, SumF64, file_len, short_file};

/// mapio: `Array::<f64>::open_raw(path, Mode::ReadOnly, &[n])` (open,
/// shared lock, `mmap`) and a sum over `as_slice()`, which faults the pages
/// in as it goes.
pub fn seq_sum_mapio(path: &Path, n: usize) -> io::Result<u64> {
    file_len(n)?;
    let a = Array::<f64>::open_raw(path, Mode::ReadOnly, &[n])?;
    let mut s = SumF64::new();
    s.add_values(a.as_slice());
    Ok(s.checksum())
}

/// std: the first `n * 8` bytes into one `Vec<u8>` with `read_exact`
/// (what `std::fs::read` does), then a sum of their little-endian values.
/// The 256 MiB buffer is allocated and faulted in on every call: that is
/// the cost of this way of reading.
pub fn seq_sum_std_read(path: &Path, n: usize) -> io::Result<u64> {
    let len = file_len(n)?;
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            short_file(path, file.metadata().map(|m| m.len()).unwrap_or(0), len)
        } else {
            e
        }
    })?;
    let mut s = SumF64::new();
    s.add_le_bytes(&buf)?;
    Ok(s.checksum())
}

/// `pread(2)` (std's `FileExt::read_at`) of 1 MiB at a time into one
/// reused buffer, summing each buffer's little-endian values.
pub fn seq_sum_pread(path: &Path, n: usize) -> io::Result<u64> {
    let len = file_len(n)?;
    let file = File::open(path)?;
    let mut buf = vec![0u8; BUFFER.min(len)];
    let mut s = SumF64::new();
    let mut pos = 0usize;
    while pos < len {
        let want = buf.len().min(len - pos);
        let chunk = &mut buf[..want];
        let mut got = 0;
        while got < want {
            match file.read_at(&mut chunk[got..], (pos + got) as u64) {
                Ok(0) => return Err(short_file(path, (pos + got) as u64, len)),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        s.add_le_bytes(chunk)?;
        pos += want;
    }
    Ok(s.checksum())
}
