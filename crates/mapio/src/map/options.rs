//! [`OpenOptions`]: how a file is opened and mapped.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use super::{Core, MappedFile, Mode, SharedMap, split_offset};
use crate::error::{Error, LockKind, Result};
use crate::sys::{
    self, Advice, ExternalSync, File, LockRequest, Mapping, OpenError, OpenHow, Protection, View,
    Wait,
};

/// How to open and map a file: the mode, the byte range, room to grow,
/// locking, permissions and hints. Start from [`MappedFile::options`].
///
/// ```
/// use mapio::map::{MappedFile, Mode};
/// use std::time::Duration;
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("grow.bin");
/// let mut f = MappedFile::options()
///     .mode(Mode::Create)
///     .len(4096)
///     .reserve(1 << 30)          // grow to 1 GiB without moving
///     .wait(Duration::from_secs(1))
///     .open(&path)?;
/// let before = f.as_slice().as_ptr();
/// f.set_len(1 << 20)?;           // fallocate, same address
/// assert_eq!(f.as_slice().as_ptr(), before);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct OpenOptions {
    mode: Mode,
    offset: u64,
    len: Option<u64>,
    reserve: Option<u64>,
    file_mode: u32,
    wait: Wait,
    durable: bool,
    nofollow: bool,
    create_new: bool,
    advice: Option<Advice>,
    populate: bool,
    external: Option<ExternalSync>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Mode `r`, the whole file, no waiting for locks, new files `0o640`.
    pub fn new() -> OpenOptions {
        OpenOptions {
            mode: Mode::ReadOnly,
            offset: 0,
            len: None,
            reserve: None,
            file_mode: 0o640,
            wait: Wait::No,
            durable: false,
            nofollow: false,
            create_new: false,
            advice: None,
            populate: false,
            external: None,
        }
    }

    /// The mode (NumPy's `r`, `r+`, `w+`, `c`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Byte offset in the file where the map starts; any value, page
    /// alignment is handled inside.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Length of the map in bytes. Default: to the end of the file (`r`,
    /// `r+`, `c`) or 0 (`w+`). In `r+` and `w+` the file is extended (with
    /// `fallocate`) to hold it; in `r` and `c` it must fit in the file.
    pub fn len(mut self, len: u64) -> Self {
        self.len = Some(len);
        self
    }

    /// Address space to reserve for growth, in bytes from the offset: the
    /// map can then grow to this length with
    /// [`MappedFile::set_len`] without ever moving. Reserving costs no
    /// memory and no disk, only address space. `r+` and `w+` only.
    pub fn reserve(mut self, bytes: u64) -> Self {
        self.reserve = Some(bytes);
        self
    }

    /// Permission bits for a file that `w+` creates (default `0o640`,
    /// before the process's umask).
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode;
        self
    }

    /// Wait up to `timeout` for a conflicting lock held by another process
    /// to be released (default: fail at once with [`Error::Locked`]).
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Wait::For(timeout);
        self
    }

    /// Wait as long as it takes for conflicting locks to be released.
    pub fn wait_forever(mut self) -> Self {
        self.wait = Wait::Forever;
        self
    }

    /// Fail at once when the file is locked (the default; undoes
    /// [`wait`](Self::wait)).
    pub(crate) fn no_wait(mut self) -> Self {
        self.wait = Wait::No;
        self
    }

    /// On creation (`w+`), make the new file and its directory entry
    /// durable (`fsync` of the file and of its parent directory) before
    /// returning.
    pub fn durable(mut self, yes: bool) -> Self {
        self.durable = yes;
        self
    }

    /// Refuse to open the path if it is a symbolic link (`O_NOFOLLOW`).
    pub fn nofollow(mut self, yes: bool) -> Self {
        self.nofollow = yes;
        self
    }

    /// With `w+`: fail if the file already exists (`O_EXCL`) instead of
    /// overwriting it.
    pub fn create_new(mut self, yes: bool) -> Self {
        self.create_new = yes;
        self
    }

    /// An access-pattern hint applied right after mapping.
    pub fn advise(mut self, advice: Advice) -> Self {
        self.advice = Some(advice);
        self
    }

    /// Fault all pages in right after mapping (see
    /// [`MappedFile::populate`]).
    pub fn populate(mut self, yes: bool) -> Self {
        self.populate = yes;
        self
    }

    /// Take no lock: the caller synchronises with other processes by its
    /// own means, as promised by the [`ExternalSync`] token (made in an
    /// `unsafe` block). This is how several processes share one writable
    /// map of plain (non-atomic) data, e.g. with their own barrier between
    /// a writing and a reading phase.
    pub fn external_sync(mut self, token: ExternalSync) -> Self {
        self.external = Some(token);
        self
    }

    /// Opens and maps the file for plain byte access.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<MappedFile> {
        let path = path.as_ref();
        let kind = match self.mode {
            Mode::ReadOnly | Mode::CopyOnWrite => LockKind::Shared,
            Mode::ReadWrite | Mode::Create => LockKind::Exclusive,
        };
        let (core, len) = self.open_core(path, kind, View::Plain)?;
        let f = MappedFile {
            core,
            mode: self.mode,
            len,
            closed: false,
            // A new or extended file's allocation is only durable after a
            // flush: start dirty in the modes that write.
            dirty: std::sync::atomic::AtomicBool::new(self.mode.writes_file()),
        };
        self.apply_hints(&f.core, len)?;
        Ok(f)
    }

    /// Opens and maps the file for sharing through atomics with other
    /// processes that do the same (`r` for loads only, `r+` or `w+` for
    /// loads and stores). See [`SharedMap`].
    pub fn open_shared(&self, path: impl AsRef<Path>) -> Result<SharedMap> {
        let path = path.as_ref();
        if self.mode == Mode::CopyOnWrite {
            return Err(Error::invalid(
                "a shared map cannot be copy-on-write: use r, r+ or w+",
            ));
        }
        let (core, len) = self.open_core(path, LockKind::Atomic, View::Atomic)?;
        self.apply_hints(&core, len)?;
        Ok(SharedMap::new(core, self.mode))
    }

    /// Like [`open_shared`](Self::open_shared), but holding the exclusive
    /// lock: nobody else can attach until [`SharedMap::share`] steps down
    /// to the sharing lock. For setting a shared file up (writing a
    /// header, recovering, truncating) before others see it.
    pub fn open_shared_exclusive(&self, path: impl AsRef<Path>) -> Result<SharedMap> {
        let path = path.as_ref();
        if !self.mode.writes_file() {
            return Err(Error::invalid(
                "an exclusive shared map needs mode r+ or w+",
            ));
        }
        let (core, len) = self.open_core(path, LockKind::Exclusive, View::Atomic)?;
        self.apply_hints(&core, len)?;
        Ok(SharedMap::new(core, self.mode))
    }

    fn apply_hints(&self, core: &Core, len: usize) -> Result<()> {
        if let Some(a) = self.advice {
            core.map
                .advise(core.delta, len, a)
                .map_err(|e| core.io("madvise", e))?;
        }
        if self.populate {
            core.map
                .populate(core.delta, len, self.mode.writes_file())
                .map_err(|e| core.io("madvise(populate)", e))?;
        }
        Ok(())
    }

    fn open_core(&self, path: &Path, kind: LockKind, view: View) -> Result<(Core, usize)> {
        // `w+` that fails after creating the file removes it again: a
        // failed create leaves nothing behind. Whether this call created
        // it is known exactly by trying O_EXCL first (a check for
        // existence before opening could race with another creator).
        if self.mode == Mode::Create && !self.create_new {
            match self
                .clone()
                .create_new(true)
                .open_core_inner(path, kind, view)
            {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                Ok(r) => return Ok(r),
                Err(e) => {
                    if !matches!(e, Error::Locked { .. }) {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(e);
                }
            }
        }
        let r = self.open_core_inner(path, kind, view);
        if r.is_err() && self.create_new && !matches!(r, Err(Error::Locked { .. })) {
            // With O_EXCL the file is ours whenever open got that far.
            if !matches!(&r, Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists)
            {
                let _ = std::fs::remove_file(path);
            }
        }
        r
    }

    fn open_core_inner(&self, path: &Path, kind: LockKind, view: View) -> Result<(Core, usize)> {
        let mode = self.mode;
        if self.reserve.is_some() && !mode.writes_file() && view != View::Atomic {
            return Err(Error::invalid(format!(
                "reserve() needs a mode that writes the file (r+ or w+), not {mode}"
            )));
        }
        if self.create_new && mode != Mode::Create {
            return Err(Error::invalid("create_new() needs mode w+"));
        }
        let how = OpenHow {
            write: mode.writes_file(),
            create: mode == Mode::Create,
            create_new: self.create_new,
            truncate: false,
            nofollow: self.nofollow,
            mode: self.file_mode,
        };
        // `w+` truncates, which must not happen under another process's
        // map: take the exclusive lock first, truncate, then (for a shared
        // map) step down to the atomic-sharing lock.
        let first_lock = if mode == Mode::Create {
            LockKind::Exclusive
        } else {
            kind
        };
        let request = match self.external {
            Some(token) => LockRequest::Unlocked(token),
            None => LockRequest::Lock(first_lock, self.wait),
        };
        let mut file = File::open(path, &how, request).map_err(|e| match e {
            OpenError::Locked(wanted) => Error::Locked {
                path: path.to_path_buf(),
                wanted,
            },
            OpenError::Io(op, e) => Error::io(path, op, e),
        })?;
        if mode == Mode::Create {
            file.set_len(0)
                .map_err(|e| Error::io(path, "ftruncate", e))?;
        }
        let size = file.size().map_err(|e| Error::io(path, "fstat", e))?;
        let len = match self.len {
            Some(len) => len,
            None if mode == Mode::Create => 0,
            None => size.checked_sub(self.offset).ok_or_else(|| {
                Error::mismatch(
                    path,
                    crate::Mismatch::TooShort,
                    format!(
                        "offset {} is past the end of the file ({size} bytes)",
                        self.offset
                    ),
                )
            })?,
        };
        let end = self
            .offset
            .checked_add(len)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| {
                Error::invalid(format!("offset {} + length {len} overflows", self.offset))
            })?;
        let len_usize = usize::try_from(len).map_err(|_| Error::invalid("length too large"))?;
        if mode.writes_file() {
            // Allocate the whole range, not only what lies past the end: a
            // file written sparse by someone else has holes, and a write
            // into a hole on a full disk is a SIGBUS. A gap between the
            // file's end and the offset is allocated too (zeros, as in
            // NumPy's `w+` with an offset), never left as a hole.
            let start = self.offset.min(size);
            file.allocate(start, end - start).map_err(|e| {
                if crate::error::is_no_space(&e) {
                    Error::NoSpace {
                        path: path.to_path_buf(),
                        offset: size.min(self.offset),
                        requested: end.saturating_sub(size),
                        source: e,
                    }
                } else {
                    Error::io(path, "fallocate", e)
                }
            })?;
        } else if end > size {
            return Err(Error::mismatch(
                path,
                crate::Mismatch::TooShort,
                format!(
                    "file is {size} bytes but the map needs {end} (offset {} + length {len}); \
                     the file may be truncated",
                    self.offset
                ),
            ));
        }
        if mode == Mode::Create && self.durable {
            file.sync_all().map_err(|e| Error::io(path, "fsync", e))?;
            sys::sync_parent_dir(path).map_err(|e| Error::io(path, super::DIR_FSYNC, e))?;
        }
        if mode == Mode::Create && kind == LockKind::Atomic && self.external.is_none() {
            file.downgrade_to_atomic()
                .map_err(|e| Error::io(path, "lock", e))?;
        }
        let reserve = self.reserve.unwrap_or(0).max(len);
        let (aligned, delta) = split_offset(self.offset);
        let map_len = usize::try_from(reserve)
            .ok()
            .and_then(|r| r.checked_add(delta))
            .ok_or_else(|| {
                Error::invalid(format!("reservation of {reserve} bytes is too large"))
            })?;
        let prot = match (mode, kind) {
            (Mode::ReadOnly, _) => Protection::ReadOnly,
            (Mode::CopyOnWrite, _) => Protection::CopyOnWrite,
            _ => Protection::ReadWrite,
        };
        let map = Mapping::new(file, aligned, map_len, prot, view).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                Error::io(
                    path,
                    "mmap",
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "cannot reserve {map_len} bytes of address space ({e}); \
                             ask for a smaller reserve() or check `ulimit -v`"
                        ),
                    ),
                )
            } else {
                Error::io(path, "mmap", e)
            }
        })?;
        let core = Core {
            path: path.to_path_buf(),
            map,
            delta,
            original_size: if mode == Mode::Create { 0 } else { size },
            poisoned: OnceLock::new(),
            // A file this call created (O_EXCL) has a directory entry no
            // fsync has covered yet, unless `durable` did it above.
            dir_pending: std::sync::atomic::AtomicBool::new(
                mode == Mode::Create && self.create_new && !self.durable,
            ),
            extended_to: std::sync::atomic::AtomicU64::new(if mode.writes_file() && end > size {
                end
            } else {
                0
            }),
        };
        Ok((core, len_usize))
    }
}
