//! The write workload's safe contenders: mapio and `std::io::BufWriter`.
//! (The raw recipe and memmap2 need `unsafe` and live in `raw`.)

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use mapio::array::Array;

use crate::{BUFFER, file_len, fill_values, value};

/// mapio: `Array::<f64>::create_raw` (open, lock, `ftruncate(0)`,
/// `fallocate`, `mmap`), fill `as_slice_mut()`, `flush()`
/// (`msync(MS_SYNC)`), `close()` (flush again, trim, `munmap`, close).
pub fn write_mapio(path: &Path, n: usize) -> io::Result<u64> {
    file_len(n)?;
    let mut a = Array::<f64>::create_raw(path, &[n])?;
    let sum = fill_values(a.as_slice_mut()?, 0);
    a.flush()?;
    a.close()?;
    Ok(sum)
}

/// std: `File::create` (`O_TRUNC`), the values' little-endian bytes through
/// a 1 MiB `BufWriter`, `flush`, `sync_all` (`fsync`), close.
pub fn write_std_bufwriter(path: &Path, n: usize) -> io::Result<u64> {
    file_len(n)?;
    let mut w = BufWriter::with_capacity(BUFFER, File::create(path)?);
    let mut sum = 0u64;
    for i in 0..n {
        let v = value(i);
        w.write_all(&v.to_le_bytes())?;
        sum = sum.wrapping_add(v.to_bits());
    }
    let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(sum)
}
