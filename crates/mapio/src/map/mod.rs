//! Mapped files in NumPy's four modes.
//!
//! | NumPy | [`Mode`] | file | lock | writes |
//! |---|---|---|---|---|
//! | `r` | [`Mode::ReadOnly`] | must exist | shared | refused |
//! | `r+` | [`Mode::ReadWrite`] | must exist | exclusive | reach the file |
//! | `w+` | [`Mode::Create`] | created or overwritten | exclusive | reach the file |
//! | `c` | [`Mode::CopyOnWrite`] | must exist | shared | stay in memory |
//!
//! A [`MappedFile`] maps any byte range of a file (page alignment is done
//! inside), reserves its space with `fallocate` (never a sparse file that
//! would turn a full disk into `SIGBUS`), can grow in place within a
//! reservation of address space, flushes for real, and takes an advisory
//! lock so that cooperating processes never race on its bytes.
//!
//! Where a filesystem refuses `fallocate` (`EOPNOTSUPP`: some network
//! and FUSE filesystems), mapio falls back explicitly: it writes zeros past
//! the end and into the holes of the range, which is slower but just as
//! safe (never sparse). [`SharedMap::grow`] reports which way it went
//! ([`Allocation::Emulated`]).
//!
//! A [`SharedMap`] is the other way to share: several processes map the
//! same bytes read-write at once and access them only through atomics.
//!
//! ```
//! use mapio::map::{MappedFile, Mode};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("data.bin");
//! let mut f = MappedFile::create(&path, 4096)?;          // w+
//! f.as_mut_slice()?[..5].copy_from_slice(b"hello");
//! f.flush()?;                                            // msync(MS_SYNC)
//! f.close()?;
//!
//! let f = MappedFile::open(&path, Mode::ReadOnly)?;      // r
//! assert_eq!(&f[..5], b"hello");
//!
//! // Any offset: page alignment is handled inside.
//! let f = MappedFile::options().mode(Mode::ReadOnly).offset(1).len(3).open(&path)?;
//! assert_eq!(&f[..], b"ell");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod options;
mod shared;

pub use options::OpenOptions;
pub use shared::SharedMap;

pub use crate::sys::{
    Advice, Allocation, AtomicInt, ExternalSync, ReadOnlyAtomics, page_size, sync_parent_dir,
};

/// A name beside `path` for a file to be renamed over it when complete:
/// `.NAME.mapio-TAG-PID-NONCE`, hidden, in the same directory (so the
/// rename is atomic) and hard to predict. Create it exclusively and never
/// through a link ([`OpenOptions::create_new`], [`OpenOptions::nofollow`]):
/// nobody can then plant a link there to have it write elsewhere.
pub fn temp_path_beside(path: &Path, tag: &str) -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The standard library seeds each `RandomState` at random.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let nonce = h.finish() as u32;
    path.with_file_name(format!(
        ".{name}.mapio-{tag}-{}-{nonce:08x}",
        std::process::id()
    ))
}

/// Removes the temporary files [`temp_path_beside`] named in `dir` that
/// were left by processes no longer running (killed, or stopped by a
/// signal, before they could rename or remove them: an export or index
/// build interrupted with Ctrl-C left files as large as its output), or,
/// with `Some(pid)`, those of process `pid` (a process cleaning up after
/// itself when it is signalled). A file whose writer's lock is still held
/// is never taken for a dead process's. Returns the paths removed. Best effort:
/// what cannot be read or removed is left as it is; only regular files
/// are removed, never what a link points to.
pub fn remove_temporaries(dir: &Path, pid: Option<u32>) -> Vec<PathBuf> {
    // The parent of a bare file name is "": the working directory.
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(temporary_owner) else {
            continue;
        };
        let path = entry.path();
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        let wanted = regular
            && match pid {
                Some(p) => owner == p,
                // A process id this process cannot see (another PID
                // namespace, another host) looks dead: a file still being
                // written holds its writer's lock, so it is kept.
                None => {
                    owner != std::process::id()
                        && !Path::new(&format!("/proc/{owner}")).exists()
                        && !sys::exclusive_lock_held(&path).unwrap_or(true)
                }
            };
        if wanted && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// The process id in a name [`temp_path_beside`] made
/// (`.NAME.mapio-TAG-PID-NONCE`), or `None` for any other name.
fn temporary_owner(name: &str) -> Option<u32> {
    let (rest, nonce) = name.strip_prefix('.')?.rsplit_once('-')?;
    let (rest, pid) = rest.rsplit_once('-')?;
    let (_, tag) = rest.rsplit_once(".mapio-")?;
    let hex = nonce.len() == 8 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    let tag_ok = !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_lowercase());
    (hex && tag_ok && !pid.starts_with('0')).then(|| pid.parse().ok())?
}

/// The `op` of the [`Error::Io`] a failed `fsync` of a new file's
/// directory gives: the data is durable, only the name may not be.
pub(crate) const DIR_FSYNC: &str = "fsync(parent dir)";

use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::sys::{self, Mapping};

/// NumPy's four modes of `np.memmap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `r`: read-only; the file must exist.
    ReadOnly,
    /// `r+`: read and write; the file must exist. Writes reach the file.
    ReadWrite,
    /// `w+`: create or overwrite, then read and write.
    Create,
    /// `c`: copy-on-write. Writes are allowed but stay in this process's
    /// memory; the file is never changed.
    CopyOnWrite,
}

impl Mode {
    /// NumPy's letter(s) for the mode: `"r"`, `"r+"`, `"w+"` or `"c"`.
    pub fn as_numpy(self) -> &'static str {
        match self {
            Mode::ReadOnly => "r",
            Mode::ReadWrite => "r+",
            Mode::Create => "w+",
            Mode::CopyOnWrite => "c",
        }
    }

    /// Whether writes through the map reach the file.
    pub fn writes_file(self) -> bool {
        matches!(self, Mode::ReadWrite | Mode::Create)
    }

    /// Whether the map can be written at all (to the file or privately).
    pub fn is_writable(self) -> bool {
        self != Mode::ReadOnly
    }
}

impl FromStr for Mode {
    type Err = Error;

    /// Parses NumPy's names: `r`/`readonly`, `r+`/`readwrite`, `w+`/`write`,
    /// `c`/`copyonwrite`.
    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "r" | "readonly" => Ok(Mode::ReadOnly),
            "r+" | "readwrite" => Ok(Mode::ReadWrite),
            "w+" | "write" => Ok(Mode::Create),
            "c" | "copyonwrite" => Ok(Mode::CopyOnWrite),
            _ => Err(Error::invalid(format!(
                "unknown mode {s:?}: expected one of r, r+, w+, c"
            ))),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_numpy())
    }
}

/// State shared by [`MappedFile`] and [`SharedMap`]: the mapping, where
/// the caller's bytes start inside it, and the poison flag.
#[derive(Debug)]
struct Core {
    path: PathBuf,
    map: Mapping,
    /// Offset of the caller's first byte inside the map (`offset % page`).
    delta: usize,
    /// The file's size when it was opened; close never truncates below it.
    original_size: u64,
    /// The first failed flush, if any.
    poisoned: OnceLock<String>,
    /// This handle created the file and no `fsync` of its directory has
    /// made the new name durable yet: the first successful flush does it.
    dir_pending: std::sync::atomic::AtomicBool,
    /// The largest file size this handle's own allocations reached (0 if
    /// they never extended the file). Trimming on close gives back only
    /// that: a size beyond it was made by someone else (another handle
    /// under [`ExternalSync`]), whose bytes are not this handle's to cut.
    extended_to: std::sync::atomic::AtomicU64,
}

impl Core {
    fn io(&self, op: &'static str, e: std::io::Error) -> Error {
        Error::io(&self.path, op, e)
    }

    fn no_space(&self, offset: u64, requested: u64, e: std::io::Error) -> Error {
        if crate::error::is_no_space(&e) {
            Error::NoSpace {
                path: self.path.clone(),
                offset,
                requested,
                source: e,
            }
        } else {
            self.io("fallocate", e)
        }
    }

    /// Offset in the file of the caller's first byte.
    fn offset(&self) -> u64 {
        self.map.file_offset() + self.delta as u64
    }

    /// Bytes the caller can reach after `delta`.
    fn capacity(&self) -> u64 {
        (self.map.reserved_len() - self.delta) as u64
    }

    fn check_poison(&self) -> Result<()> {
        match self.poisoned.get() {
            Some(first) => Err(Error::Poisoned {
                path: self.path.clone(),
                first: first.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Runs a durability call; on failure poisons the handle.
    fn durable(&self, op: &'static str, f: impl FnOnce() -> std::io::Result<()>) -> Result<()> {
        self.check_poison()?;
        f().map_err(|e| {
            let _ = self.poisoned.set(format!("{op}: {e}"));
            self.io(op, e)
        })
    }

    fn grow_to(&self, len: u64) -> Result<sys::Allocation> {
        let end = len
            .checked_add(self.delta as u64)
            .and_then(|e| usize::try_from(e).ok())
            .ok_or_else(|| Error::invalid(format!("length {len} is too large")))?;
        if end > self.map.reserved_len() {
            return Err(Error::invalid(format!(
                "{}: cannot grow to {len} bytes: {} bytes of address space are reserved; \
                 open with OpenOptions::reserve to grow further",
                self.path.display(),
                self.capacity()
            )));
        }
        let start = self.map.accessible_len();
        let how = self.map.grow(end).map_err(|e| {
            self.no_space(
                self.map.file_offset() + start as u64,
                end.saturating_sub(start) as u64,
                e,
            )
        })?;
        if end > start {
            self.extended_to.fetch_max(
                self.map.file_offset() + end as u64,
                std::sync::atomic::Ordering::AcqRel,
            );
        }
        Ok(how)
    }

    /// Checks that `offset..offset+len` lies inside the caller's `total`
    /// bytes: a flush or hint for bytes that are not mapped is a mistake
    /// the caller must hear of (a flush that covered nothing must not
    /// look like one that made the bytes durable).
    fn check_range(&self, op: &str, offset: usize, len: usize, total: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= total => Ok(()),
            _ => Err(Error::invalid(format!(
                "{}: {op} of {len} bytes at offset {offset} reaches past the end of the map \
                 ({total} bytes)",
                self.path.display()
            ))),
        }
    }

    /// After a successful flush: the new file's name durable too (once),
    /// so that flushed bytes cannot be lost with the name after a crash.
    /// A failure is reported and retried by the next flush (the data
    /// itself is durable, so the handle is not poisoned).
    fn sync_dir_once(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.dir_pending.load(Ordering::Acquire) {
            sys::sync_parent_dir(&self.path).map_err(|e| self.io(DIR_FSYNC, e))?;
            self.dir_pending.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// A full flush of `len` bytes: `msync` of them, or `fdatasync` when
    /// there are none (the size itself may be what changed, and an empty
    /// `msync` writes nothing), then the directory entry once.
    fn flush_all(&self, len: usize, writes_file: bool) -> Result<()> {
        if len == 0 && writes_file {
            self.durable("fdatasync", || self.map.file().sync_data())?;
            self.sync_dir_once()
        } else {
            self.flush_range(0, len)
        }
    }

    /// `msync(MS_SYNC)` of a range, then the directory entry once.
    fn flush_range(&self, off: usize, len: usize) -> Result<()> {
        let off = off.saturating_add(self.delta);
        self.durable("msync", || self.map.sync(off, len))?;
        self.sync_dir_once()
    }

    fn flush_async_range(&self, off: usize, len: usize) -> Result<()> {
        self.check_poison()?;
        let off = off.saturating_add(self.delta);
        self.map
            .start_sync(off, len)
            .map_err(|e| self.io("sync_file_range", e))
    }
}

/// A file (or a byte range of one) mapped into memory, with plain byte
/// access: `&[u8]` through `Deref`, `&mut [u8]` through
/// [`as_mut_slice`](Self::as_mut_slice).
///
/// Dropping it unmaps and releases the lock; space this handle added past
/// the file's original end but did not use is given back. Dropping does
/// not flush: the kernel writes the pages back in its own time. Call
/// [`flush`](Self::flush) for durability and [`close`](Self::close) to see
/// every error.
#[derive(Debug)]
pub struct MappedFile {
    core: Core,
    mode: Mode,
    /// The caller's length in bytes.
    len: usize,
    closed: bool,
    /// Written through since the last full flush (close skips a second
    /// `msync` when nothing is dirty).
    dirty: std::sync::atomic::AtomicBool,
}

impl MappedFile {
    /// Options for opening: mode, offset, length, growth, locks, hints.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Maps the whole of an existing file in `mode` (`w+` creates an empty
    /// file; use [`create`](Self::create) to give it a size).
    pub fn open(path: impl AsRef<Path>, mode: Mode) -> Result<MappedFile> {
        OpenOptions::new().mode(mode).open(path)
    }

    /// Creates (or overwrites) a file of `len` bytes, all reserved on the
    /// disk, and maps it read-write (`w+`).
    pub fn create(path: impl AsRef<Path>, len: u64) -> Result<MappedFile> {
        OpenOptions::new().mode(Mode::Create).len(len).open(path)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.core.path
    }

    /// The mode it was opened in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Offset in the file of the first mapped byte.
    pub fn offset(&self) -> u64 {
        self.core.offset()
    }

    /// Length of the mapped range in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapped range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size of the whole file now (`fstat`).
    pub fn file_len(&self) -> Result<u64> {
        self.core
            .map
            .file()
            .size()
            .map_err(|e| self.core.io("fstat", e))
    }

    /// The largest length [`set_len`](Self::set_len) can reach without
    /// moving the map (see [`OpenOptions::reserve`]).
    pub fn capacity(&self) -> u64 {
        self.core.capacity()
    }

    /// The bytes, read-only.
    pub fn as_slice(&self) -> &[u8] {
        let bytes = self.core.map.bytes().unwrap_or(&[]);
        bytes
            .get(self.core.delta..self.core.delta + self.len)
            .unwrap_or(&[])
    }

    /// The bytes, writable: in `r+` and `w+` writes reach the file, in `c`
    /// they stay in memory. An error in `r`.
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        let (delta, len) = (self.core.delta, self.len);
        let mode = self.mode;
        *self.dirty.get_mut() = true;
        match self.core.map.bytes_mut() {
            Some(b) => Ok(b.get_mut(delta..delta + len).unwrap_or(&mut [])),
            None => Err(Error::invalid(format!(
                "{}: opened in mode {mode} (read-only); open with r+, w+ or c to write",
                self.core.path.display()
            ))),
        }
    }

    /// Sets the length of the mapped range, and of the file to match:
    /// growing reserves the new space with `fallocate` (an error, not a
    /// crash, when the disk is full) and never moves the map; shrinking
    /// truncates the file if the range is its tail (a range in the middle
    /// of a file just gets shorter). Only in `r+` and `w+`.
    pub fn set_len(&mut self, len: u64) -> Result<()> {
        if !self.mode.writes_file() {
            return Err(Error::invalid(format!(
                "{}: cannot resize a map opened in mode {}",
                self.core.path.display(),
                self.mode
            )));
        }
        let new = usize::try_from(len).map_err(|_| Error::invalid("length too large"))?;
        *self.dirty.get_mut() = true;
        if new >= self.len {
            self.core.grow_to(len)?;
        } else {
            // Truncate the file only where the range is its tail: a window
            // in the middle of a file must not cut off what follows it.
            let size = self.file_len()?;
            if size <= self.offset() + self.len as u64 {
                let end = self.core.delta + new;
                let core = &mut self.core;
                if core
                    .map
                    .shrink(end)
                    .map_err(|e| Error::io(&core.path, "ftruncate", e))?
                {
                    // What this handle had grown past the new end is gone:
                    // growth there later is another handle's (close must
                    // not cut it off).
                    let now = core.map.file_offset() + end as u64;
                    core.extended_to
                        .fetch_min(now, std::sync::atomic::Ordering::AcqRel);
                }
            }
        }
        self.len = new;
        Ok(())
    }

    /// Writes the dirty pages to the disk and waits (`msync(MS_SYNC)`;
    /// `fdatasync` for an empty map, whose size is all there is). The
    /// first flush of a file this handle created also makes its name
    /// durable (`fsync` of the directory; [`OpenOptions::durable`] does it
    /// at creation instead; a directory this process may write but not
    /// read cannot be opened for it, and is left to the filesystem).
    ///
    /// If it fails, the kernel may already have dropped the pages it could
    /// not write, so this handle is poisoned: this and every later flush
    /// return an error.
    pub fn flush(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        let was = self.dirty.swap(false, Ordering::AcqRel);
        self.core
            .flush_all(self.len, self.mode.writes_file())
            .inspect_err(|_| {
                self.dirty.store(was, Ordering::Release);
            })
    }

    /// Like [`flush`](Self::flush) for `len` bytes from `offset` (relative
    /// to the start of the mapped range), the name of a file this handle
    /// created included. A range reaching past [`len`](Self::len) is an
    /// [`Error::InvalidArgument`].
    pub fn flush_range(&self, offset: usize, len: usize) -> Result<()> {
        self.core.check_range("flush", offset, len, self.len)?;
        self.core.flush_range(offset, len)
    }

    /// Starts writing the dirty pages back and returns at once
    /// (`sync_file_range`; Linux ignores `msync(MS_ASYNC)`). No durability
    /// promise: follow with [`flush`](Self::flush) for that.
    pub fn flush_async(&self) -> Result<()> {
        self.core.flush_async_range(0, self.len)
    }

    /// Like [`flush_async`](Self::flush_async) for a range (inside
    /// [`len`](Self::len), as for [`flush_range`](Self::flush_range)).
    pub fn flush_async_range(&self, offset: usize, len: usize) -> Result<()> {
        self.core.check_range("flush", offset, len, self.len)?;
        self.core.flush_async_range(offset, len)
    }

    /// Tells the kernel how the bytes will be accessed (`madvise`).
    pub fn advise(&self, advice: Advice) -> Result<()> {
        self.advise_range(advice, 0, self.len)
    }

    /// Like [`advise`](Self::advise) for a range (inside
    /// [`len`](Self::len), as for [`flush_range`](Self::flush_range)).
    pub fn advise_range(&self, advice: Advice, offset: usize, len: usize) -> Result<()> {
        self.core.check_range("madvise", offset, len, self.len)?;
        let off = offset.saturating_add(self.core.delta);
        self.core
            .map
            .advise(off, len, advice)
            .map_err(|e| self.core.io("madvise", e))
    }

    /// Faults every page in now, so that later accesses take no page
    /// faults (`MADV_POPULATE_WRITE` in `r+` and `w+`,
    /// `MADV_POPULATE_READ` in `r` and `c`: populating a copy-on-write map
    /// for writing would copy every page into anonymous memory; there the
    /// first write to a page still takes a fault that copies it).
    pub fn populate(&self) -> Result<()> {
        let write = self.mode.writes_file();
        self.core
            .map
            .populate(self.core.delta, self.len, write)
            .map_err(|e| self.core.io("madvise(populate)", e))
    }

    /// Flushes (in `r+`/`w+`), gives back space this handle added past the
    /// file's original end but did not use, and unmaps, reporting every
    /// error.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        if self.mode.writes_file() {
            // Pages written and flushed already need no second msync; a
            // poisoned handle still reports its failure.
            if self.dirty.load(std::sync::atomic::Ordering::Acquire)
                || self.core.poisoned.get().is_some()
                || self
                    .core
                    .dir_pending
                    .load(std::sync::atomic::Ordering::Acquire)
            {
                self.flush()?;
            }
            self.trim()?;
        }
        Ok(())
    }

    /// Truncates to `max(original size, offset + len)` if the file is
    /// longer: space this handle added for growth and not used. A file
    /// grown past what this handle allocated was grown by another handle
    /// (possible only under [`ExternalSync`]) and is left as it is.
    fn trim(&mut self) -> Result<()> {
        let keep = self.core.original_size.max(self.offset() + self.len as u64);
        let size = self.file_len()?;
        let ours = *self.core.extended_to.get_mut();
        if size > keep && size <= ours {
            let end = (keep - self.core.map.file_offset()) as usize;
            let core = &mut self.core;
            core.map
                .shrink(end)
                .map_err(|e| Error::io(&core.path, "ftruncate", e))?;
        }
        Ok(())
    }
}

impl Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if !self.closed && self.mode.writes_file() {
            let _ = self.trim();
        }
    }
}

/// Rounds `offset` down to a page: (aligned offset, remainder).
fn split_offset(offset: u64) -> (u64, usize) {
    let page = sys::page_size() as u64;
    let delta = offset % page;
    (offset - delta, delta as usize)
}

#[cfg(test)]
mod tests;
