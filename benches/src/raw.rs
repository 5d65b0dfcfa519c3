//! The contenders that need `unsafe`: the raw recipes (the system calls by
//! hand, C style, with rustix: the array write, the SWIFT-style log and the
//! copy into fresh mapped pages that is its limit) and the `memmap2` crate,
//! whose map constructors are `unsafe`.
//!
//! # Safety
//!
//! A mapping of a file is memory that other processes (and other handles
//! in this one) can change or shrink behind Rust's back: a `&[u8]` or
//! `&mut [f64]` over it is sound only while nobody else writes or
//! truncates the file. Neither the raw recipe nor memmap2 takes any lock
//! (that is exactly what mapio adds), so these contenders rely on the
//! benchmark's own promise: every file they touch lives in a private
//! temporary directory (or a path the caller owns) and no other process or
//! handle writes or truncates it while it is mapped. Each `unsafe` block
//! below says which part of that promise, and which property of the
//! mapping, it relies on.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use memmap2::{Mmap, MmapMut};
use rustix::fs::{FallocateFlags, Mode, OFlags};
use rustix::mm::{MapFlags, MsyncFlags, ProtFlags};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::log::{LogRun, LogSpec, checksum_raw_bytes, on_threads, payload_template, set_seq};
use crate::random::{BlockReader, block_index};
use crate::{
    BLOCK, SumF64, block_checksum, file_len, fill_le_bytes, fill_values, fold_block, short_file,
};

/// The raw recipe, by hand with rustix, as a C programmer would write it:
///
/// 1. `open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0640)`;
/// 2. `fallocate(fd, 0, 0, len)` (`posix_fallocate`: blocks reserved, file
///    extended, never sparse);
/// 3. `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`;
/// 4. store the values through the pointer;
/// 5. `msync(MS_SYNC)`, `munmap`;
/// 6. `ftruncate(fd, len)` (cuts a longer file that was there before);
/// 7. `close`.
///
/// No lock is taken and an existing file is not truncated first (step 6
/// fixes its length at the end).
pub fn write_raw_recipe(path: &Path, n: usize) -> io::Result<u64> {
    let len = file_len(n)?;
    let fd = rustix::fs::open(
        path,
        OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o640),
    )?;
    let mut sum = 0;
    if len > 0 {
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64)?;
        // SAFETY: a fresh mapping anywhere (null hint, no MAP_FIXED), so no
        // existing memory is replaced; `fd` is open read-write and the file
        // is `len` bytes long (fallocate above), so every page is backed.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }?;
        {
            // SAFETY: `ptr` is the start of a live read-write mapping of
            // `len = n * 8` bytes, page aligned (so aligned for `f64`), and
            // any bytes are a valid `f64`. The slice ends before `munmap`
            // below, and nobody else writes or truncates the file while it
            // lives (module promise).
            let values = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<f64>(), n) };
            sum = fill_values(values, 0);
        }
        // SAFETY: `ptr..ptr + len` is exactly the mapping made above, page
        // aligned; msync reads no memory of ours.
        let synced = unsafe { rustix::mm::msync(ptr, len, MsyncFlags::SYNC) };
        // SAFETY: as above; no reference into the mapping outlives this
        // point (`values` ended with its block).
        let unmapped = unsafe { rustix::mm::munmap(ptr, len) };
        synced?;
        unmapped?;
    }
    rustix::fs::ftruncate(&fd, len as u64)?;
    drop(fd); // close(2)
    Ok(sum)
}

/// memmap2: `File` opened read-write with `create` and `truncate`,
/// `set_len` (`ftruncate`: a sparse file, blocks allocated as pages are
/// first written), `MmapMut::map_mut`, the values' little-endian bytes
/// stored into it, `flush()` (`msync(MS_SYNC)`), then drop (`munmap`,
/// `close`).
pub fn write_memmap2(path: &Path, n: usize) -> io::Result<u64> {
    let len = file_len(n)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.set_len(len as u64)?;
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: the file is `len` bytes long and nobody else writes or
    // truncates it while the map lives (module promise).
    let mut map = unsafe { MmapMut::map_mut(&file)? };
    let sum = fill_le_bytes(&mut map[..], 0);
    map.flush()?;
    drop(map);
    drop(file);
    Ok(sum)
}

/// Maps the whole of `file` read-only with memmap2 (`None` if it is empty:
/// there is nothing to map).
fn map_read_only(file: &File) -> io::Result<Option<Mmap>> {
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: nobody writes or truncates the file while the map lives
    // (module promise).
    let map = unsafe { Mmap::map(file)? };
    Ok(Some(map))
}

/// memmap2: `Mmap::map` of the whole file and a sum of its first `n`
/// values, viewed in place as `&[f64]` (`align_to`, no copy) exactly as
/// mapio's `as_slice()` views them.
pub fn seq_sum_memmap2(path: &Path, n: usize) -> io::Result<u64> {
    let len = file_len(n)?;
    let file = File::open(path)?;
    let mut s = SumF64::new();
    if len == 0 {
        return Ok(s.checksum());
    }
    let map = map_read_only(&file)?;
    let bytes = map
        .as_deref()
        .and_then(|m| m.get(..len))
        .ok_or_else(|| short_file(path, map.as_ref().map_or(0, |m| m.len() as u64), len))?;
    // SAFETY: every bit pattern of 8 bytes is a valid `f64`, and `align_to`
    // puts only correctly aligned `f64` in the middle part.
    let (head, values, tail) = unsafe { bytes.align_to::<f64>() };
    if !head.is_empty() || !tail.is_empty() {
        // A mapping is page aligned and `len` is a multiple of 8, so this
        // does not happen; stay correct anyway.
        s.add_le_bytes(bytes)?;
    } else {
        s.add_values(values);
    }
    Ok(s.checksum())
}

/// memmap2: the whole file as one `Mmap`; a block is a 4 KiB slice of it.
#[derive(Debug)]
pub struct Memmap2Blocks {
    map: Option<Mmap>,
    len: u64,
}

impl Memmap2Blocks {
    /// Opens and maps `path`.
    pub fn open(path: &Path) -> io::Result<Memmap2Blocks> {
        let file = File::open(path)?;
        let map = map_read_only(&file)?;
        let len = map.as_ref().map_or(0, |m| m.len() as u64);
        Ok(Memmap2Blocks { map, len })
    }
}

impl BlockReader for Memmap2Blocks {
    fn name(&self) -> &'static str {
        "memmap2"
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn read_blocks(&mut self, offsets: &[u64]) -> io::Result<u64> {
        let bytes: &[u8] = self.map.as_deref().unwrap_or(&[]);
        let mut acc = 0u64;
        for &off in offsets {
            let i = block_index(off, self.len)?;
            acc = fold_block(acc, block_checksum(&bytes[i..i + BLOCK]));
        }
        Ok(acc)
    }
}

/// A read-write shared mapping made by hand with rustix: `len` bytes of
/// `fd` from offset 0, unmapped on drop.
struct RawMap {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

// SAFETY: the mapping is plain shared memory that lives until `drop`; the
// only accesses through the pointer are `write_at` (callers write
// disjoint ranges, see there) and `msync`, both fine from any thread.
unsafe impl Sync for RawMap {}

impl RawMap {
    /// Maps the first `len` (> 0) bytes of `fd`, which is open read-write
    /// and at least `len` bytes long (allocated with `fallocate`).
    fn new(fd: &rustix::fd::OwnedFd, len: usize) -> io::Result<RawMap> {
        // SAFETY: a fresh mapping anywhere (null hint, no MAP_FIXED), so
        // no existing memory is replaced; the file is open read-write and
        // at least `len` bytes long, so every page is backed.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        Ok(RawMap { ptr, len })
    }

    /// Copies `bytes` to byte `at` of the mapping.
    ///
    /// The caller owns `at..at + bytes.len()`: no other thread reads or
    /// writes that range meanwhile (each range comes from its own
    /// `fetch_add` reservation, or from one thread's sequential cursor).
    #[inline]
    fn write_at(&self, at: usize, bytes: &[u8]) {
        assert!(
            at <= self.len && bytes.len() <= self.len - at,
            "write past the map"
        );
        // SAFETY: the range is inside the live mapping (checked above), the
        // mapping is writable, no Rust reference into it exists, no other
        // thread touches this range (the caller's reservation), and nobody
        // else writes or truncates the file while it is mapped (module
        // promise). `bytes` is ordinary memory, not part of the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.cast::<u8>().add(at),
                bytes.len(),
            );
        }
    }

    /// `msync(MS_SYNC)` of the whole mapping.
    fn sync(&self) -> io::Result<()> {
        // SAFETY: `ptr..ptr + len` is exactly the live mapping made in
        // `new`, page aligned; msync reads no memory of ours.
        unsafe { rustix::mm::msync(self.ptr, self.len, MsyncFlags::SYNC) }?;
        Ok(())
    }
}

impl Drop for RawMap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no reference
        // into it exists (all accesses were copies through `write_at`).
        // An error here leaks address space only.
        let _ = unsafe { rustix::mm::munmap(self.ptr, self.len) };
    }
}

/// Opens `path` for the raw contenders: created or truncated, then
/// allocated to `len` bytes with `fallocate` (`posix_fallocate`).
fn create_allocated(path: &Path, len: usize) -> io::Result<rustix::fd::OwnedFd> {
    let fd = rustix::fs::open(
        path,
        OFlags::CREATE | OFlags::TRUNC | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o640),
    )?;
    if len > 0 {
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64)?;
    }
    Ok(fd)
}

/// The frame both raw mapped log runs share: a file `fallocate`d to its
/// final size and mapped; `fill(map, record_len)` timed as the appends;
/// then `msync(MS_SYNC)`, `munmap`, `close`, and the file read back with
/// `std::fs::read` for its checksum.
fn raw_mapped_run(
    path: &Path,
    spec: &LogSpec,
    fill: impl FnOnce(&RawMap, usize) -> io::Result<()>,
) -> io::Result<LogRun> {
    let start = Instant::now();
    let len = spec.raw_file_len();
    let fd = create_allocated(path, len)?;
    let appends;
    if len > 0 {
        let map = RawMap::new(&fd, len)?;
        let a = Instant::now();
        fill(&map, spec.raw_record_len())?;
        appends = a.elapsed();
        map.sync()?;
        drop(map);
    } else {
        appends = Duration::ZERO;
    }
    drop(fd);
    let total = start.elapsed();
    let bytes = std::fs::read(path)?;
    Ok(LogRun {
        total,
        appends,
        checksum: checksum_raw_bytes(&bytes, spec),
    })
}

/// The raw SWIFT-style log recipe, by hand: one file, `fallocate`d to its
/// final size up front and mapped; an `AtomicU64` tail; every append is
/// one `fetch_add` and a `memcpy` of (length, payload) into the map; no
/// checksum, no commit word; `msync(MS_SYNC)`, `munmap` and `close` at the
/// end. Read back with `std::fs::read`.
pub fn log_raw_swift(path: &Path, spec: &LogSpec) -> io::Result<LogRun> {
    raw_mapped_run(path, spec, |map, rec| {
        let tail = AtomicU64::new(0);
        on_threads(spec.threads, |t| {
            let mut p = payload_template(t, spec.payload);
            for i in 0..spec.count(t) {
                set_seq(&mut p, i);
                let off = tail.fetch_add(rec as u64, Ordering::Relaxed) as usize;
                // The same bytes as `put_raw_record`, copied straight
                // into the map: the length word, then the payload.
                map.write_at(off, &(rec as u64).to_le_bytes());
                map.write_at(off + 8, &p);
            }
            Ok(())
        })
    })
}

/// Limit: the raw recipe's bytes copied by one thread into a file
/// `fallocate`d and mapped just before (fresh pages: each first write
/// faults), with no tail counter; then `msync(MS_SYNC)`. `appends` times
/// the copy alone.
pub fn limit_mapped_copy(path: &Path, spec: &LogSpec) -> io::Result<LogRun> {
    raw_mapped_run(path, spec, |map, rec| {
        let mut at = 0usize;
        for t in 0..spec.threads {
            let mut p = payload_template(t, spec.payload);
            for i in 0..spec.count(t) {
                set_seq(&mut p, i);
                // What `log_raw_swift` copies, without the tail counter.
                map.write_at(at, &(rec as u64).to_le_bytes());
                map.write_at(at + 8, &p);
                at += rec;
            }
        }
        Ok(())
    })
}
