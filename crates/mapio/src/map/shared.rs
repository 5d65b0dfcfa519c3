//! [`SharedMap`]: one writable map shared by several processes through
//! atomics.

use std::path::Path;

use super::{Core, Mode};
use crate::error::{Error, Result};
use crate::sys::{Allocation, AtomicInt, ReadOnlyAtomics};

/// A file mapped by several processes (and threads) at once, each seeing
/// the others' writes as soon as they happen, before anything reaches the
/// disk.
///
/// Its bytes are reachable only as atomics (`&[AtomicU64]`,
/// `&[AtomicU32]`, ...): concurrent loads and stores from many processes
/// are then defined behaviour, where plain `&[u8]` would be a data race.
/// Every process that opens the file with
/// [`OpenOptions::open_shared`](super::OpenOptions::open_shared) takes the
/// atomic-sharing lock; plain readers and exclusive writers are refused
/// while any sharer is attached, and vice versa.
///
/// It can grow while in use (`&self`): the address never changes, so every
/// slice handed out stays valid.
///
/// ```
/// use mapio::map::{MappedFile, Mode};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("counters.bin");
/// let a = MappedFile::options().mode(Mode::Create).len(64).open_shared(&path)?;
/// let b = MappedFile::options().mode(Mode::ReadWrite).open_shared(&path)?; // another process, say
/// a.atomics::<AtomicU64>()?[3].fetch_add(5, Ordering::AcqRel);
/// assert_eq!(b.atomics::<AtomicU64>()?[3].load(Ordering::Acquire), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SharedMap {
    core: Core,
    mode: Mode,
}

impl SharedMap {
    pub(super) fn new(core: Core, mode: Mode) -> SharedMap {
        SharedMap { core, mode }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.core.path
    }

    /// The mode it was opened in (`r`, `r+` or `w+`).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Offset in the file of the first mapped byte.
    pub fn offset(&self) -> u64 {
        self.core.offset()
    }

    /// Bytes mapped and backed by the file right now. Grows with
    /// [`grow`](Self::grow) (this process) and [`refresh`](Self::refresh)
    /// (growth by another process).
    pub fn len(&self) -> usize {
        self.core
            .map
            .accessible_len()
            .saturating_sub(self.core.delta)
    }

    /// Whether no byte is mapped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The length the map can reach without moving.
    pub fn capacity(&self) -> u64 {
        self.core.capacity()
    }

    fn check_align<A>(&self) -> Result<()> {
        let size = std::mem::size_of::<A>();
        if !self.core.delta.is_multiple_of(size) {
            return Err(Error::mismatch(
                &self.core.path,
                crate::Mismatch::Alignment,
                format!(
                    "offset {} is not a multiple of {size}, the size of the atomic type",
                    self.offset()
                ),
            ));
        }
        Ok(())
    }

    /// The bytes as atomics, for loads and stores. An error in mode `r`, or
    /// if the offset is not aligned for `A`.
    pub fn atomics<A: AtomicInt>(&self) -> Result<&[A]> {
        self.check_align::<A>()?;
        let all = self.core.map.atomics::<A>().ok_or_else(|| {
            Error::invalid(format!(
                "{}: opened in mode {} (read-only); use atomics_read_only, or open with r+ or w+",
                self.core.path.display(),
                self.mode
            ))
        })?;
        Ok(all
            .get(self.core.delta / std::mem::size_of::<A>()..)
            .unwrap_or(&[]))
    }

    /// The bytes as atomics for loads only; works in every mode.
    pub fn atomics_read_only<A: AtomicInt>(&self) -> Result<ReadOnlyAtomics<'_, A>> {
        self.check_align::<A>()?;
        let all = self
            .core
            .map
            .atomics_read_only::<A>()
            .ok_or_else(|| Error::invalid("no atomic view of this map"))?;
        let start = self.core.delta / std::mem::size_of::<A>();
        let start = start.min(all.len());
        Ok(all.get(start..all.len()).unwrap_or(all))
    }

    /// Grows the map to `len` bytes, reserving the space in the file with
    /// `fallocate`. Safe to call from many threads while others use the
    /// map: nothing moves.
    pub fn grow(&self, len: u64) -> Result<Allocation> {
        if !self.mode.writes_file() {
            return Err(Error::invalid(format!(
                "{}: cannot grow a map opened read-only",
                self.core.path.display()
            )));
        }
        self.core.grow_to(len)
    }

    /// Re-reads the file's size, so that growth by another process becomes
    /// visible; returns the new [`len`](Self::len).
    pub fn refresh(&self) -> Result<usize> {
        self.core
            .map
            .refresh()
            .map_err(|e| self.core.io("fstat", e))?;
        Ok(self.len())
    }

    /// `msync(MS_SYNC)` of a range; poisons the map on failure (see
    /// [`MappedFile::flush`](super::MappedFile::flush), which says what
    /// else a first flush does). A range reaching past [`len`](Self::len)
    /// is an [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn flush_range(&self, offset: usize, len: usize) -> Result<()> {
        self.core.check_range("flush", offset, len, self.len())?;
        self.core.flush_range(offset, len)
    }

    /// `msync(MS_SYNC)` of everything mapped (as
    /// [`MappedFile::flush`](super::MappedFile::flush), which says what
    /// else a first flush does).
    pub fn flush(&self) -> Result<()> {
        self.core.flush_all(self.len(), self.mode.writes_file())
    }

    /// `fdatasync`: makes the file's size (after growth) durable along with
    /// written data; poisons on failure. The first one of a file this
    /// handle created also makes its name durable, as a first flush does.
    pub fn sync_data(&self) -> Result<()> {
        self.core
            .durable("fdatasync", || self.core.map.file().sync_data())?;
        self.core.sync_dir_once()
    }

    /// Starts write-back of a range without waiting (`sync_file_range`);
    /// the range must lie inside [`len`](Self::len), as for
    /// [`flush_range`](Self::flush_range).
    pub fn flush_async_range(&self, offset: usize, len: usize) -> Result<()> {
        self.core.check_range("flush", offset, len, self.len())?;
        self.core.flush_async_range(offset, len)
    }

    /// Faults the pages of a range in now, so that later accesses take no
    /// (or only minor) page faults: useful ahead of writers, from another
    /// thread. `write` faults them in writable (`MADV_POPULATE_WRITE`,
    /// which dirties them), else readable (`MADV_POPULATE_READ`: the page
    /// cache is filled and zeroed, and a later write takes only a minor
    /// fault). The range must lie inside [`len`](Self::len), as for
    /// [`flush_range`](Self::flush_range).
    pub fn populate(&self, offset: usize, len: usize, write: bool) -> Result<()> {
        self.core.check_range("populate", offset, len, self.len())?;
        let off = offset.saturating_add(self.core.delta);
        self.core
            .map
            .populate(off, len, write && self.mode.writes_file())
            .map_err(|e| self.core.io("madvise(populate)", e))
    }

    /// Drops the pages of a range from this process's memory
    /// (`MADV_DONTNEED`) and, once they are clean, from the page cache
    /// (`POSIX_FADV_DONTNEED`), so that a long run keeps its memory
    /// bounded. The data stays in the file; a later access reads it back.
    /// The range must lie inside [`len`](Self::len), as for
    /// [`flush_range`](Self::flush_range).
    pub fn release(&self, offset: usize, len: usize) -> Result<()> {
        self.core.check_range("release", offset, len, self.len())?;
        let off = offset.saturating_add(self.core.delta);
        self.core
            .map
            .discard(off, len)
            .map_err(|e| self.core.io("madvise(DONTNEED)", e))?;
        self.core
            .map
            .file()
            .drop_cache(self.offset() + offset as u64, len as u64)
            .map_err(|e| self.core.io("posix_fadvise", e))
    }

    /// Steps down from the exclusive lock of
    /// [`OpenOptions::open_shared_exclusive`](super::OpenOptions::open_shared_exclusive)
    /// to the sharing lock, so that other sharers can attach.
    pub fn share(&mut self) -> Result<()> {
        if self.core.map.file().lock_kind() != Some(crate::LockKind::Exclusive) {
            return Ok(());
        }
        let core = &mut self.core;
        core.map
            .downgrade_to_atomic()
            .map_err(|e| Error::io(&core.path, "lock", e))
    }

    /// Truncates the file to end `len` bytes after the offset, taking the
    /// bytes past it out of the map first. Only while this handle is the
    /// sole user (the exclusive lock, or no other sharer attached);
    /// returns whether it truncated. It never grows the file (a length at
    /// or past the end leaves it as it is: use [`grow`](Self::grow), which
    /// reserves the space); once it has truncated, this handle stays the
    /// sole user, so later sharers are refused until it closes.
    pub fn truncate(&mut self, len: u64) -> Result<bool> {
        if !self.mode.writes_file() {
            return Err(Error::invalid("cannot truncate a map opened read-only"));
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(self.core.delta))
            .ok_or_else(|| Error::invalid("length too large"))?;
        let core = &mut self.core;
        core.map
            .shrink(end)
            .map_err(|e| Error::io(&core.path, "ftruncate", e))
    }

    /// Takes role `role` among the sharers (at most one holder, e.g. "the
    /// writer"); `Ok(false)` if another handle holds it. Released on close.
    pub fn claim_role(&self, role: u8) -> Result<bool> {
        self.core
            .map
            .file()
            .lock_role(role)
            .map_err(|e| self.core.io("lock", e))
    }

    /// Whether another handle, in any process, holds role `role`.
    pub fn role_held_elsewhere(&self, role: u8) -> Result<bool> {
        self.core
            .map
            .file()
            .role_held_elsewhere(role)
            .map_err(|e| self.core.io("lock", e))
    }

    /// Whether an earlier flush failed (see [`Error::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.core.poisoned.get().is_some()
    }

    /// Closes the map. With `truncate_to`, truncates the file to end that
    /// many bytes after the offset (a writer giving back preallocated
    /// space), but only if no other process has the file open: a sharer
    /// still attached could be reading there. Returns whether it truncated.
    pub fn close(mut self, truncate_to: Option<u64>) -> Result<bool> {
        match truncate_to {
            Some(len) => self.truncate(len),
            None => Ok(false),
        }
    }
}
