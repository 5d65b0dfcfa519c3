//! A memory map of a locked file, and the only place that turns mapped
//! memory into Rust references.
//!
//! # Safety
//!
//! A [`Mapping`] owns its `mmap(2)` region from creation to `munmap(2)` in
//! `Drop`, and the [`File`] behind it. Two invariants make every view sound:
//!
//! 1. **Only backed bytes are reachable.** `accessible` never exceeds the
//!    bytes the file backs (past its end a shared map raises `SIGBUS`). It
//!    only grows after the file has grown ([`Mapping::grow`] allocates first,
//!    [`Mapping::refresh`] reads the size first), and it only shrinks through
//!    `&mut self` ([`Mapping::shrink`]), when no view can be alive, before
//!    the file is truncated. Cooperating processes cannot shrink the file
//!    under us: that needs the exclusive lock or sole use (see
//!    [`File::try_become_sole_user`]).
//! 2. **No data race through a plain reference.** Plain views (`&[u8]`,
//!    `&mut [u8]`) exist only where no cooperating process can write the
//!    bytes: under a shared lock (every other user is a reader), under the
//!    exclusive lock, or in a private (copy-on-write) map. Under the
//!    atomic-sharing lock the only views are slices of atomics, whose
//!    concurrent use from several processes is defined. [`ExternalSync`]
//!    lets a caller take this obligation on in an `unsafe` block.
//!
//! Processes that ignore mapio's advisory locks are outside these
//! guarantees; that limit is documented in SECURITY.md.
#![allow(unsafe_code)]

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64,
    AtomicUsize, Ordering,
};

use rustix::mm::{MapFlags, MsyncFlags, ProtFlags};

use super::fault::{self, Op};
use super::file::{Allocation, File};
use crate::error::LockKind;

/// How the pages of a [`Mapping`] are mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// `PROT_READ`, `MAP_SHARED`.
    ReadOnly,
    /// `PROT_READ | PROT_WRITE`, `MAP_SHARED`: writes reach the file.
    ReadWrite,
    /// `PROT_READ | PROT_WRITE`, `MAP_PRIVATE`: writes stay in this
    /// process's copy of the page.
    CopyOnWrite,
}

/// How a [`Mapping`]'s bytes are viewed, fixed at creation: plain
/// references, or atomics only. A mapping never offers both, so a
/// `&[u8]` can never coexist with a store through an atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `&[u8]` / `&mut [u8]`, where the lock rules out concurrent writers.
    Plain,
    /// `&[AtomicU64]` and friends, for memory other processes write too.
    Atomic,
}

/// Access-pattern hints for `madvise(2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advice {
    /// No special treatment (`MADV_NORMAL`).
    Normal,
    /// Read ahead aggressively, free pages behind (`MADV_SEQUENTIAL`).
    Sequential,
    /// No read-ahead (`MADV_RANDOM`).
    Random,
    /// Start reading the range in now (`MADV_WILLNEED`).
    WillNeed,
    /// Back the range with transparent huge pages where the filesystem
    /// supports it (`MADV_HUGEPAGE`).
    HugePage,
    /// Never use huge pages for the range (`MADV_NOHUGEPAGE`).
    NoHugePage,
}

/// The atomic integer types a mapping can be viewed as.
///
/// Sealed: implemented for the fixed-size atomics of `std`.
pub trait AtomicInt: sealed::Sealed + Send + Sync + 'static {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! atomic_int {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl AtomicInt for $t {}
    )*};
}
atomic_int!(
    AtomicU8, AtomicI8, AtomicU16, AtomicI16, AtomicU32, AtomicI32, AtomicU64, AtomicI64
);

/// A slice of atomics in a read-only map: loads, never stores (a store
/// would fault on a `PROT_READ` page).
#[derive(Clone, Copy, Debug)]
pub struct ReadOnlyAtomics<'a, A>(&'a [A]);

macro_rules! ro_load {
    ($($t:ty => $int:ty),*) => {$(
        impl ReadOnlyAtomics<'_, $t> {
            /// Atomically loads element `i`; `None` past the end.
            ///
            /// On read-only memory std guarantees only `Relaxed` loads, so
            /// a stronger `order` is a relaxed load followed by an acquire
            /// fence, which gives the same synchronisation.
            #[inline]
            pub fn load(&self, i: usize, order: Ordering) -> Option<$int> {
                let v = self.0.get(i)?.load(Ordering::Relaxed);
                if order != Ordering::Relaxed {
                    std::sync::atomic::fence(Ordering::Acquire);
                }
                Some(v)
            }
        }
    )*};
}
ro_load!(AtomicU8 => u8, AtomicI8 => i8, AtomicU16 => u16, AtomicI16 => i16,
         AtomicU32 => u32, AtomicI32 => i32, AtomicU64 => u64, AtomicI64 => i64);

impl<'a, A> ReadOnlyAtomics<'a, A> {
    /// The elements in `range`; `None` if it is out of bounds.
    pub fn get(&self, range: std::ops::Range<usize>) -> Option<ReadOnlyAtomics<'a, A>> {
        self.0.get(range).map(ReadOnlyAtomics)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A region of a file mapped into memory: `mmap(2)` on creation,
/// `munmap(2)` on drop.
///
/// The region may reserve more address space than the file backs
/// (`reserved_len` > `accessible_len`): [`grow`](Self::grow) then extends
/// the file into it without the address ever changing. See the module
/// documentation for the invariants behind its views.
#[derive(Debug)]
pub struct Mapping {
    file: File,
    ptr: NonNull<u8>,
    reserved: usize,
    file_offset: u64,
    prot: Protection,
    view: View,
    accessible: AtomicUsize,
    /// Held while growing: a failed allocation under the exclusive lock
    /// sets the file's size back to what it was before (`File::allocate`),
    /// which must never cut off what a concurrent grow of this handle has
    /// already made accessible.
    grow_lock: std::sync::Mutex<()>,
}

// SAFETY: a `Mapping` owns its region like a `Box<[u8]>` owns its heap
// memory; sending it to another thread moves that ownership.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` gives out shared plain views only where no concurrent
// writer exists (module invariant 2) and atomics otherwise; its own mutable
// state through `&self` (`accessible`) is atomic.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(2)`s `reserve` bytes (rounded up to pages) of `file` from
    /// `file_offset`, which must be a multiple of the page size.
    ///
    /// Only the bytes the file backs now are accessible; the rest of the
    /// reservation becomes accessible as the file grows.
    pub fn new(
        file: File,
        file_offset: u64,
        reserve: usize,
        prot: Protection,
        view: View,
    ) -> io::Result<Mapping> {
        let page = super::page_size();
        if !file_offset.is_multiple_of(page as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mapping offset is not a multiple of the page size",
            ));
        }
        let reserved = reserve
            .checked_next_multiple_of(page)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        if prot == Protection::ReadWrite && !file.is_writable() {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let size = file.size()?;
        let accessible = backed(size, file_offset, reserved);
        if reserved == 0 {
            // Nothing is mapped; every view is empty. The pointer of an
            // empty slice must still be non-null and aligned for its
            // element type (`NonNull::dangling()` is 1, misaligned for an
            // `&[AtomicU64]`), so take one aligned to a page, as a real
            // map is: it is never dereferenced nor unmapped.
            let aligned = NonNull::new(std::ptr::without_provenance_mut::<u8>(page))
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            return Ok(Mapping {
                file,
                ptr: aligned,
                reserved: 0,
                file_offset,
                prot,
                view,
                accessible: AtomicUsize::new(0),
                grow_lock: std::sync::Mutex::new(()),
            });
        }
        fault::check(Op::Mmap)?;
        let (prot_flags, map_flags) = match prot {
            Protection::ReadOnly => (ProtFlags::READ, MapFlags::SHARED),
            Protection::ReadWrite => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED),
            Protection::CopyOnWrite => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE),
        };
        // SAFETY: we ask for a fresh region anywhere (null hint, no
        // MAP_FIXED), so no existing memory is replaced; the descriptor is
        // live for the call and the mapping keeps its own reference to the
        // file after it.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                reserved,
                prot_flags,
                map_flags,
                file.fd(),
                file_offset,
            )
        }?;
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Mapping {
            file,
            ptr,
            reserved,
            file_offset,
            prot,
            view,
            accessible: AtomicUsize::new(accessible),
            grow_lock: std::sync::Mutex::new(()),
        })
    }

    /// The file behind the map.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Offset in the file of the first mapped byte (a page multiple).
    pub fn file_offset(&self) -> u64 {
        self.file_offset
    }

    /// Address space reserved, in bytes (a page multiple).
    pub fn reserved_len(&self) -> usize {
        self.reserved
    }

    /// Bytes from the start of the map that the file backs.
    pub fn accessible_len(&self) -> usize {
        self.accessible.load(Ordering::Acquire)
    }

    /// The address of the first byte, for alignment checks and diagnostics.
    #[cfg(test)]
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    fn plain_allowed(&self) -> bool {
        if self.view != View::Plain {
            return false;
        }
        match self.file.lock_kind() {
            None => true, // ExternalSync: the caller promised.
            Some(LockKind::Shared) | Some(LockKind::Exclusive) => true,
            Some(LockKind::Atomic) => false,
        }
    }

    /// The accessible bytes as a plain slice; `None` under the
    /// atomic-sharing lock, where other processes may write concurrently.
    pub fn bytes(&self) -> Option<&[u8]> {
        if !self.plain_allowed() {
            return None;
        }
        let len = self.accessible_len();
        // SAFETY: `ptr..ptr+len` is mapped, readable and backed by the file
        // (invariant 1); nobody writes it while this borrow lives (invariant
        // 2, and `&self` excludes `bytes_mut`); it stays mapped until drop.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len) })
    }

    /// The accessible bytes as a mutable slice; `None` unless the map is
    /// writable and this handle is the only writer (exclusive lock, or a
    /// private copy-on-write map).
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        if self.view != View::Plain {
            return None;
        }
        let allowed = match self.prot {
            Protection::ReadOnly => false,
            Protection::CopyOnWrite => true,
            Protection::ReadWrite => {
                matches!(self.file.lock_kind(), None | Some(LockKind::Exclusive))
            }
        };
        if !allowed {
            return None;
        }
        let len = self.accessible_len();
        // SAFETY: as in `bytes`, and the pages are writable (ReadWrite or
        // a private map); `&mut self` makes this the only view in this
        // process, and the lock (or the private map) excludes writers in
        // others.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) })
    }

    fn atomics_allowed(&self) -> bool {
        // Under the exclusive lock nobody else maps the file, so atomics
        // are fine too (a sharer sets up a file exclusively, then shares).
        self.view == View::Atomic
            && self.prot != Protection::CopyOnWrite
            && !matches!(self.file.lock_kind(), Some(LockKind::Shared))
    }

    /// Steps the file's lock down from exclusive to atomic sharing (see
    /// [`File::downgrade_to_atomic`]); only for atomic views.
    pub fn downgrade_to_atomic(&mut self) -> io::Result<()> {
        if self.view != View::Atomic {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a plain view cannot be shared",
            ));
        }
        self.file.downgrade_to_atomic()
    }

    /// The accessible bytes as atomics that this and other processes may
    /// load and store concurrently; `None` unless the map is shared,
    /// writable and held under the atomic-sharing lock.
    pub fn atomics<A: AtomicInt>(&self) -> Option<&[A]> {
        if !self.atomics_allowed() || self.prot != Protection::ReadWrite {
            return None;
        }
        let n = self.accessible_len() / std::mem::size_of::<A>();
        // SAFETY: the region is page aligned (so aligned for any `A`),
        // mapped read-write and backed for `n * size_of::<A>()` bytes
        // (invariant 1). Every `A` is an integer atomic with the size and
        // bit validity of its integer, so any bytes are a valid `A`; all
        // other users access the bytes atomically too (invariant 2).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<A>(), n) })
    }

    /// Like [`atomics`](Self::atomics) for a map that may be read-only:
    /// loads only.
    pub fn atomics_read_only<A: AtomicInt>(&self) -> Option<ReadOnlyAtomics<'_, A>> {
        if !self.atomics_allowed() {
            return None;
        }
        let n = self.accessible_len() / std::mem::size_of::<A>();
        // SAFETY: as in `atomics`; `ReadOnlyAtomics` offers loads only, so
        // a read-only page is never written.
        let s = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<A>(), n) };
        Some(ReadOnlyAtomics(s))
    }

    /// Makes the first `len` bytes of the map accessible, allocating the
    /// file (`fallocate`) where it does not reach that far yet. Concurrent
    /// calls are fine; the address never changes.
    pub fn grow(&self, len: usize) -> io::Result<Allocation> {
        if len > self.reserved {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot grow to {len} bytes: only {} bytes of address space are reserved",
                    self.reserved
                ),
            ));
        }
        if len <= self.accessible_len() {
            return Ok(Allocation::Native);
        }
        if self.prot != Protection::ReadWrite {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        // One grow at a time (see `grow_lock`); a poisoned lock guards no
        // data, so it is taken all the same.
        let _one = self.grow_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.accessible_len();
        if len <= current {
            return Ok(Allocation::Native);
        }
        let how = self
            .file
            .allocate(self.file_offset + current as u64, (len - current) as u64)?;
        self.accessible.fetch_max(len, Ordering::AcqRel);
        Ok(how)
    }

    /// Re-reads the file's size and makes whatever it now backs (up to the
    /// reservation) accessible; returns the accessible length. For readers
    /// of a file that another process grows.
    pub fn refresh(&self) -> io::Result<usize> {
        // Under the exclusive lock a failed grow of this handle sets the
        // size back after a moment of being longer: a size read in that
        // moment must not be published (see `grow_lock`).
        let _one = (self.file.lock_kind() == Some(LockKind::Exclusive))
            .then(|| self.grow_lock.lock().unwrap_or_else(|e| e.into_inner()));
        let size = self.file.size()?;
        let now = backed(size, self.file_offset, self.reserved);
        let prev = self.accessible.fetch_max(now, Ordering::AcqRel);
        Ok(prev.max(now))
    }

    /// Truncates the file to end `len` bytes into the map (`ftruncate(2)`),
    /// first taking the bytes past `len` out of every view.
    ///
    /// Returns `Ok(false)` without truncating when other processes may
    /// still be mapping the file (an atomic sharer that is not the sole
    /// user); they, or the next opener, can truncate later. Never grows
    /// the file: at or past its end there is nothing to do (`Ok(true)`),
    /// where `ftruncate` would have extended it with a hole, which a store
    /// on a full disk turns into `SIGBUS`.
    pub fn shrink(&mut self, len: usize) -> io::Result<bool> {
        if self.prot != Protection::ReadWrite {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let len = len.min(self.reserved);
        if self.file_offset.saturating_add(len as u64) >= self.file.size()? {
            return Ok(true);
        }
        if !self.file.try_become_sole_user()? && self.file.lock_kind().is_some() {
            return Ok(false);
        }
        self.accessible.fetch_min(len, Ordering::AcqRel);
        self.file.truncate(self.file_offset + len as u64)?;
        Ok(true)
    }

    /// Page-aligned sub-range of the map covering `off..off+len`, clipped
    /// to the accessible bytes.
    fn page_range(&self, off: usize, len: usize) -> Option<(*mut u8, usize)> {
        let end = off.saturating_add(len).min(self.accessible_len());
        if off >= end {
            return None;
        }
        let page = super::page_size();
        let start = off - off % page;
        // SAFETY: pointer arithmetic only: `start < end <= reserved`, so
        // the result stays inside the mapped region.
        let p = unsafe { self.ptr.as_ptr().add(start) };
        Some((p, end - start))
    }

    /// `msync(MS_SYNC)` of `off..off+len` (clipped to what is accessible):
    /// returns when the dirty pages of the range are on the disk. A no-op
    /// for read-only and private maps.
    pub fn sync(&self, off: usize, len: usize) -> io::Result<()> {
        if self.prot != Protection::ReadWrite {
            return Ok(());
        }
        let Some((p, n)) = self.page_range(off, len) else {
            return Ok(());
        };
        fault::check(Op::Msync)?;
        // SAFETY: `p..p+n` is page aligned and inside our mapping;
        // `msync` neither reads nor writes through the pointer for us.
        unsafe { rustix::mm::msync(p.cast(), n, MsyncFlags::SYNC) }.map_err(io::Error::from)
    }

    /// Starts write-back of `off..off+len` without waiting
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`); Linux ignores
    /// `msync(MS_ASYNC)`.
    pub fn start_sync(&self, off: usize, len: usize) -> io::Result<()> {
        if self.prot != Protection::ReadWrite {
            return Ok(());
        }
        let end = off.saturating_add(len).min(self.accessible_len());
        if off >= end {
            return Ok(());
        }
        self.file
            .start_writeback(self.file_offset + off as u64, (end - off) as u64)
    }

    /// `madvise(2)` over `off..off+len`.
    pub fn advise(&self, off: usize, len: usize, advice: Advice) -> io::Result<()> {
        use rustix::mm::Advice as A;
        let Some((p, n)) = self.page_range(off, len) else {
            return Ok(());
        };
        let a = match advice {
            Advice::Normal => A::Normal,
            Advice::Sequential => A::Sequential,
            Advice::Random => A::Random,
            Advice::WillNeed => A::WillNeed,
            Advice::HugePage => A::LinuxHugepage,
            Advice::NoHugePage => A::LinuxNoHugepage,
        };
        // SAFETY: the range is inside our mapping; none of these hints
        // changes the contents of the memory (unlike MADV_DONTNEED on a
        // private map, which is not offered here).
        unsafe { rustix::mm::madvise(p.cast(), n, a) }.map_err(io::Error::from)
    }

    /// Faults the pages of `off..off+len` in now (`MADV_POPULATE_READ`, or
    /// `MADV_POPULATE_WRITE` with `write` on a shared writable map), so
    /// later accesses take no page faults. A private (copy-on-write) map
    /// is always populated for reading: a write fault there copies the
    /// page, so `MADV_POPULATE_WRITE` would turn the whole range into
    /// anonymous memory. Falls back to touching every page on kernels
    /// older than 5.14.
    pub fn populate(&self, off: usize, len: usize, write: bool) -> io::Result<()> {
        use rustix::mm::Advice as A;
        let Some((p, n)) = self.page_range(off, len) else {
            return Ok(());
        };
        let advice = if write && self.prot == Protection::ReadWrite {
            A::LinuxPopulateWrite
        } else {
            A::LinuxPopulateRead
        };
        // SAFETY: the range is inside our mapping and backed by the file;
        // populating changes no contents (a write fault on a private page
        // copies it unchanged).
        match unsafe { rustix::mm::madvise(p.cast(), n, advice) } {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::INVAL) => {
                let page = super::page_size();
                let mut i = 0;
                while i < n {
                    // SAFETY: `p + i` is inside the accessible, mapped,
                    // readable range, aligned for a byte; reading it as an
                    // `AtomicU8` (relaxed, allowed on read-only memory) has
                    // no effect but the page fault we want, and cannot race
                    // with concurrent atomic or exclusive writers.
                    let byte = unsafe { AtomicU8::from_ptr(p.add(i)) };
                    byte.load(Ordering::Relaxed);
                    i += page;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Drops the pages of `off..off+len` from this process's memory
    /// (`MADV_DONTNEED`) so that resident memory stays bounded; the data
    /// stays in the file and the page cache and is faulted back in on the
    /// next access. Refused for private maps, where it would lose writes.
    pub fn discard(&self, off: usize, len: usize) -> io::Result<()> {
        if self.prot == Protection::CopyOnWrite {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "discarding pages of a copy-on-write map would lose its private changes",
            ));
        }
        let page = super::page_size();
        // Only whole pages inside the range.
        let start = off.next_multiple_of(page);
        let end = off.saturating_add(len).min(self.accessible_len());
        let end = end - end % page;
        if start >= end {
            return Ok(());
        }
        // SAFETY: the range is inside our shared mapping. For a shared file
        // map MADV_DONTNEED only unmaps the pages: their contents stay in
        // the page cache and the next access reads the same bytes, so no
        // view observes a change.
        let p = unsafe { self.ptr.as_ptr().add(start) };
        // SAFETY: see above.
        unsafe { rustix::mm::madvise(p.cast(), end - start, rustix::mm::Advice::LinuxDontNeed) }
            .map_err(io::Error::from)
    }
}

/// Bytes of a `reserved`-byte map at `file_offset` backed by a file of
/// `size` bytes.
fn backed(size: u64, file_offset: u64, reserved: usize) -> usize {
    let n = size.saturating_sub(file_offset);
    usize::try_from(n).unwrap_or(usize::MAX).min(reserved)
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.reserved > 0 {
            // SAFETY: `ptr..ptr+reserved` is exactly the region `mmap`
            // returned; no view outlives `self`, so nothing refers to it.
            // An error here (impossible for a valid region) cannot be acted on.
            let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.reserved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{LockRequest, OpenHow, Wait};

    fn file(path: &std::path::Path, kind: LockKind) -> File {
        let how = OpenHow {
            write: kind != LockKind::Shared,
            create: true,
            ..OpenHow::default()
        };
        File::open(path, &how, LockRequest::Lock(kind, Wait::No))
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn grow_within_reservation_keeps_address() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut m = Mapping::new(
            file(&p, LockKind::Exclusive),
            0,
            1 << 30,
            Protection::ReadWrite,
            View::Plain,
        )
        .unwrap();
        assert_eq!(m.accessible_len(), 0);
        let addr = m.addr();
        for step in 1..=8usize {
            m.grow(step * 100_000).unwrap();
            let b = m.bytes_mut().unwrap();
            assert_eq!(b.len(), step * 100_000);
            b[step * 100_000 - 1] = step as u8;
            assert_eq!(m.addr(), addr);
        }
        m.sync(0, usize::MAX).unwrap();
        assert!(m.shrink(123_456).unwrap());
        assert_eq!(m.file().size().unwrap(), 123_456);
        assert_eq!(m.bytes().unwrap().len(), 123_456);
        assert_eq!(m.bytes().unwrap()[99_999], 1);
        assert!(m.grow(2 << 30).is_err());
    }

    #[test]
    fn views_follow_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 8192]).unwrap();
        let mut shared = Mapping::new(
            file(&p, LockKind::Shared),
            0,
            8192,
            Protection::ReadOnly,
            View::Plain,
        )
        .unwrap();
        assert!(shared.bytes().is_some());
        assert!(shared.bytes_mut().is_none());
        assert!(shared.atomics_read_only::<AtomicU64>().is_none());
        drop(shared);
        let mut a = Mapping::new(
            file(&p, LockKind::Atomic),
            0,
            8192,
            Protection::ReadWrite,
            View::Atomic,
        )
        .unwrap();
        assert!(a.bytes().is_none());
        assert!(a.bytes_mut().is_none());
        let words = a.atomics::<AtomicU64>().unwrap();
        assert_eq!(words.len(), 1024);
        assert_eq!(words[0].load(Ordering::Relaxed), 0x0707070707070707);
    }

    #[test]
    fn copy_on_write_never_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![1u8; 5000]).unwrap();
        let mut m = Mapping::new(
            file(&p, LockKind::Shared),
            0,
            5000,
            Protection::CopyOnWrite,
            View::Plain,
        )
        .unwrap();
        m.bytes_mut().unwrap().fill(9);
        m.sync(0, 5000).unwrap();
        assert!(m.discard(0, 5000).is_err());
        drop(m);
        assert!(std::fs::read(&p).unwrap().iter().all(|&b| b == 1));
    }

    #[test]
    fn reader_refresh_sees_growth() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let w = Mapping::new(
            file(&p, LockKind::Atomic),
            0,
            1 << 24,
            Protection::ReadWrite,
            View::Atomic,
        )
        .unwrap();
        let r = Mapping::new(
            file(&p, LockKind::Atomic),
            0,
            1 << 24,
            Protection::ReadOnly,
            View::Atomic,
        )
        .unwrap();
        w.grow(8192).unwrap();
        w.atomics::<AtomicU64>().unwrap()[1000].store(42, Ordering::Release);
        assert_eq!(r.atomics_read_only::<AtomicU64>().unwrap().len(), 0);
        assert_eq!(r.refresh().unwrap(), 8192);
        assert_eq!(
            r.atomics_read_only::<AtomicU64>()
                .unwrap()
                .load(1000, Ordering::Acquire),
            Some(42)
        );
    }

    #[test]
    fn zero_length_map() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut m = Mapping::new(
            file(&p, LockKind::Exclusive),
            0,
            0,
            Protection::ReadWrite,
            View::Plain,
        )
        .unwrap();
        assert_eq!(m.bytes_mut().unwrap().len(), 0);
        m.sync(0, 10).unwrap();
        m.populate(0, 10, true).unwrap();
        m.advise(0, 10, Advice::Sequential).unwrap();
    }

    #[test]
    fn populate_and_discard() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut m = Mapping::new(
            file(&p, LockKind::Exclusive),
            0,
            1 << 20,
            Protection::ReadWrite,
            View::Plain,
        )
        .unwrap();
        m.grow(1 << 20).unwrap();
        m.populate(0, 1 << 20, true).unwrap();
        m.bytes_mut().unwrap()[5000] = 3;
        m.discard(0, 1 << 20).unwrap();
        assert_eq!(m.bytes().unwrap()[5000], 3);
        for a in [
            Advice::Sequential,
            Advice::Random,
            Advice::WillNeed,
            Advice::Normal,
        ] {
            m.advise(0, 1 << 20, a).unwrap();
        }
    }
}
