//! Open files, space reservation, durability calls and the lock protocol.
//!
//! # Safety
//!
//! This file calls three C functions that Rust cannot check: `fcntl` with
//! `F_OFD_*` (byte-range locks; the `struct flock` argument lives on our
//! stack for the duration of the call), `sync_file_range` and `pread`-free
//! FFI nothing else. Each call passes a descriptor we own, borrowed for the
//! call, and plain integers; no memory is handed to the kernel beyond the
//! `struct flock` on the stack.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{FallocateFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::fault::{self, Op};
use crate::error::LockKind;

/// How [`File::open`] opens a path: `open(2)` flags in words.
///
/// Every file is opened `O_CLOEXEC`, so descriptors never leak into child
/// processes.
#[derive(Clone, Debug)]
pub struct OpenHow {
    /// Open for writing as well as reading (`O_RDWR`); else `O_RDONLY`.
    pub write: bool,
    /// Create the file if it does not exist (`O_CREAT`).
    pub create: bool,
    /// Fail if the file exists (`O_CREAT | O_EXCL`).
    pub create_new: bool,
    /// Truncate an existing file to zero length (`O_TRUNC`).
    pub truncate: bool,
    /// Refuse to follow a symbolic link in the last component (`O_NOFOLLOW`).
    pub nofollow: bool,
    /// Permission bits of a created file (before the umask).
    pub mode: u32,
}

impl Default for OpenHow {
    fn default() -> Self {
        OpenHow {
            write: false,
            create: false,
            create_new: false,
            truncate: false,
            nofollow: false,
            mode: 0o640,
        }
    }
}

/// How long [`File::open`] waits for a conflicting lock to go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Wait {
    /// Fail at once with [`OpenError::Locked`].
    #[default]
    No,
    /// Retry until the lock is free or the time is up.
    For(Duration),
    /// Retry until the lock is free.
    Forever,
}

/// A promise, made in an `unsafe` block, that the caller synchronises all
/// access to a file by other means than mapio's locks.
///
/// With it, mapio takes no lock at all on the file and its maps hand out
/// plain `&[u8]` and `&mut [u8]` views even though other processes may be
/// mapping the same bytes.
#[derive(Clone, Copy, Debug)]
pub struct ExternalSync(());

impl ExternalSync {
    /// Makes the promise.
    ///
    /// # Safety
    ///
    /// For as long as any mapping opened with this token exists, no process
    /// (this one included, through another handle) may write bytes of the
    /// file that this process is reading or writing through a plain Rust
    /// reference, and nobody may shrink the file below what is mapped.
    /// Breaking this is a data race (undefined behaviour) or a `SIGBUS`.
    pub unsafe fn assume() -> ExternalSync {
        ExternalSync(())
    }
}

/// Which lock [`File::open`] takes.
#[derive(Clone, Copy, Debug)]
pub enum LockRequest {
    /// Take this lock, waiting as said.
    Lock(LockKind, Wait),
    /// Take none: the caller synchronises (see [`ExternalSync`]).
    Unlocked(ExternalSync),
}

/// Why [`File::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// A system call failed.
    Io(&'static str, io::Error),
    /// Another process holds a conflicting lock.
    Locked(LockKind),
}

/// How a range of a file was reserved when a map grew (or was created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// `fallocate(2)` reserved the blocks.
    Native,
    /// The filesystem refused `fallocate` (`EOPNOTSUPP`), so every block of
    /// the range was written explicitly (zeros where the file had a hole or
    /// no data). Slower, but just as safe: the file is not sparse.
    Emulated,
}

// The lock protocol.
//
// `flock(2)` alone has two kinds of lock, but mapio has three kinds of user:
// plain readers (`r`, `c`), which may form `&[u8]` and must never see a
// concurrent write; exclusive writers (`r+`, `w+`); and processes that share
// a writable map through atomics (atomic arrays, a log and its followers).
// Readers coexist with readers, atomic sharers with atomic sharers, and
// nobody coexists with an exclusive writer.
//
// * every user takes `flock` (shared, or exclusive for writers): the contract
//   other tools that use `flock` understand;
// * two bytes far past any real data, `READERS_BYTE` and `SHARERS_BYTE`, carry
//   open-file-description (OFD) byte-range locks: a reader holds a read lock
//   on `READERS_BYTE`, an atomic sharer on `SHARERS_BYTE`, an exclusive writer
//   write locks on both. After taking its own byte, a reader tests whether a
//   write lock on `SHARERS_BYTE` would conflict (`F_OFD_GETLK`), and a sharer
//   does the same for `READERS_BYTE`. Both take first and test second, so of
//   two that race at least one sees the other and backs off.
//
// OFD locks belong to the open file description, like `flock` locks: two
// opens of one file in one process conflict just as two processes do, which
// also keeps a process from aliasing `&mut [u8]` through two handles.
const READERS_BYTE: i64 = i64::MAX - 2;
const SHARERS_BYTE: i64 = i64::MAX - 1;
/// Role bytes count down from here: role `r` is byte `ROLE_BASE - r`. A
/// role (say, "the log's writer") is held by at most one open file
/// description, and others can test whether it is held.
const ROLE_BASE: i64 = i64::MAX - 3;

/// An open file descriptor with the lock mapio holds on it.
///
/// Dropping it closes the descriptor, which releases the locks.
#[derive(Debug)]
pub struct File {
    fd: OwnedFd,
    lock: Option<LockKind>,
    writable: bool,
}

fn errno_to_io(e: Errno) -> io::Error {
    io::Error::from(e)
}

fn retry_eintr<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            r => return r.map_err(errno_to_io),
        }
    }
}

impl File {
    /// `open(2)` with `O_CLOEXEC`, then the lock asked for.
    ///
    /// The path must name a regular file.
    pub fn open(path: &Path, how: &OpenHow, lock: LockRequest) -> Result<File, OpenError> {
        fault::check(Op::Open).map_err(|e| OpenError::Io("open", e))?;
        // O_NONBLOCK: opening a FIFO must not wait for a writer (the
        // regular-file check below then refuses it). Linux ignores the
        // flag for regular files.
        let mut flags = OFlags::CLOEXEC | OFlags::NONBLOCK;
        flags |= if how.write {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        if how.create || how.create_new {
            flags |= OFlags::CREATE;
        }
        if how.create_new {
            flags |= OFlags::EXCL;
        }
        if how.truncate {
            flags |= OFlags::TRUNC;
        }
        if how.nofollow {
            flags |= OFlags::NOFOLLOW;
        }
        let mode = Mode::from_raw_mode(how.mode);
        let fd = retry_eintr(|| rustix::fs::open(path, flags, mode))
            .map_err(|e| OpenError::Io("open", e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| OpenError::Io("fstat", e.into()))?;
        let file_type = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if file_type != rustix::fs::FileType::RegularFile {
            let what = if file_type == rustix::fs::FileType::Directory {
                "is a directory, not a regular file"
            } else {
                "is not a regular file (mapio maps regular files only)"
            };
            return Err(OpenError::Io(
                "open",
                io::Error::new(io::ErrorKind::InvalidInput, what),
            ));
        }
        let mut file = File {
            fd,
            lock: None,
            writable: how.write,
        };
        if let LockRequest::Lock(kind, wait) = lock {
            file.lock_with_wait(kind, wait)?;
        }
        Ok(file)
    }

    /// The lock held, or `None` when opened with [`ExternalSync`].
    pub fn lock_kind(&self) -> Option<LockKind> {
        self.lock
    }

    /// Whether the descriptor was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn lock_with_wait(&mut self, kind: LockKind, wait: Wait) -> Result<(), OpenError> {
        let deadline = match wait {
            Wait::No => Some(Instant::now()),
            Wait::For(d) => Some(Instant::now() + d),
            Wait::Forever => None,
        };
        let mut pause = Duration::from_micros(500);
        loop {
            match self.try_lock(kind) {
                Ok(true) => {
                    self.lock = Some(kind);
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => return Err(OpenError::Io("lock", e)),
            }
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    return Err(OpenError::Locked(kind));
                }
                pause = pause.min(deadline - now);
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// One attempt at the whole protocol; on conflict releases what it took.
    fn try_lock(&self, kind: LockKind) -> io::Result<bool> {
        let fd = self.fd.as_fd();
        let op = match kind {
            LockKind::Exclusive => FlockOperation::NonBlockingLockExclusive,
            LockKind::Shared | LockKind::Atomic => FlockOperation::NonBlockingLockShared,
        };
        match retry_eintr(|| rustix::fs::flock(fd, op)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
        let taken = match kind {
            LockKind::Exclusive => {
                ofd_lock(fd, READERS_BYTE, libc::F_WRLCK)?
                    && (ofd_lock(fd, SHARERS_BYTE, libc::F_WRLCK)?
                        || ofd_unlock_and_false(fd, READERS_BYTE)?)
            }
            LockKind::Shared => {
                ofd_lock(fd, READERS_BYTE, libc::F_RDLCK)?
                    && (!ofd_conflicts(fd, SHARERS_BYTE)?
                        || ofd_unlock_and_false(fd, READERS_BYTE)?)
            }
            LockKind::Atomic => {
                ofd_lock(fd, SHARERS_BYTE, libc::F_RDLCK)?
                    && (!ofd_conflicts(fd, READERS_BYTE)?
                        || ofd_unlock_and_false(fd, SHARERS_BYTE)?)
            }
        };
        if !taken {
            retry_eintr(|| rustix::fs::flock(fd, FlockOperation::Unlock))?;
        }
        Ok(taken)
    }

    /// Whether this handle is the only user of the file among processes
    /// that follow mapio's lock protocol: true for an exclusive lock; for
    /// an atomic sharer, true if no other sharer (or anybody else) is
    /// attached right now, in which case the handle is upgraded to hold
    /// the writer's byte locks so that nobody can attach until it closes.
    pub fn try_become_sole_user(&mut self) -> io::Result<bool> {
        match self.lock {
            Some(LockKind::Exclusive) => Ok(true),
            Some(LockKind::Atomic) => {
                let fd = self.fd.as_fd();
                // OFD lock conversion is atomic: on conflict our read lock
                // on SHARERS_BYTE stays as it was.
                if !ofd_lock(fd, SHARERS_BYTE, libc::F_WRLCK)? {
                    return Ok(false);
                }
                if !ofd_lock(fd, READERS_BYTE, libc::F_WRLCK)? {
                    ofd_lock(fd, SHARERS_BYTE, libc::F_RDLCK)?;
                    return Ok(false);
                }
                Ok(true)
            }
            Some(LockKind::Shared) | None => Ok(false),
        }
    }

    /// Steps down from the exclusive lock to the atomic-sharing lock, so
    /// that other sharers can attach once an exclusive set-up (truncating,
    /// writing a header) is done.
    pub fn downgrade_to_atomic(&mut self) -> io::Result<()> {
        if self.lock != Some(LockKind::Exclusive) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only an exclusive lock can be downgraded",
            ));
        }
        let fd = self.fd.as_fd();
        // OFD conversions are atomic, and the read lock on SHARERS_BYTE
        // keeps plain readers and writers out throughout. The `flock`
        // conversion is not atomic (Linux drops the old lock first), so it
        // blocks rather than failing if a writer probes in between; such a
        // writer backs off at our OFD lock.
        ofd_lock(fd, SHARERS_BYTE, libc::F_RDLCK)?;
        ofd_lock(fd, READERS_BYTE, libc::F_UNLCK)?;
        retry_eintr(|| rustix::fs::flock(fd, FlockOperation::LockShared))?;
        self.lock = Some(LockKind::Atomic);
        Ok(())
    }

    /// Takes role `role` (an OFD write lock on its byte); `Ok(false)` if
    /// another open file description holds it. Released when the file is
    /// closed.
    pub fn lock_role(&self, role: u8) -> io::Result<bool> {
        ofd_lock(self.fd.as_fd(), ROLE_BASE - role as i64, libc::F_WRLCK)
    }

    /// Whether another open file description (in any process) holds role
    /// `role`.
    pub fn role_held_elsewhere(&self, role: u8) -> io::Result<bool> {
        ofd_conflicts(self.fd.as_fd(), ROLE_BASE - role as i64)
    }

    /// The file's size in bytes (`fstat(2)`).
    pub fn size(&self) -> io::Result<u64> {
        let st = rustix::fs::fstat(&self.fd)?;
        Ok(u64::try_from(st.st_size).unwrap_or(0))
    }

    /// The filesystem's preferred block size (`st_blksize`).
    fn block_size(&self) -> io::Result<u64> {
        let st = rustix::fs::fstat(&self.fd)?;
        Ok(u64::try_from(st.st_blksize).unwrap_or(4096).max(512))
    }

    /// `fallocate(2)`: reserves the blocks of `offset..offset+len`, growing
    /// the file if the range ends past its end.
    ///
    /// Never makes a sparse file: where the filesystem does not support
    /// `fallocate` (`EOPNOTSUPP`), every block of the range is written
    /// explicitly and [`Allocation::Emulated`] says so.
    /// A full disk is `ENOSPC`; a file-size limit `EFBIG` (the caller's
    /// process should ignore `SIGXFSZ`, as Rust programs do not by default,
    /// for that to be an error rather than a signal).
    pub fn allocate(&self, offset: u64, len: u64) -> io::Result<Allocation> {
        fault::check(Op::Fallocate)?;
        if len == 0 {
            return Ok(Allocation::Native);
        }
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EFBIG))?;
        // A failed `fallocate` may leave the file grown by what it could
        // allocate (ext4 does): a handle with the exclusive lock (nobody
        // else can be growing the file) sets the size back, so a full disk
        // is not left full by an allocation that failed. No view of this
        // handle reaches past the old size yet: `Mapping::grow` runs one
        // allocation at a time and publishes its length only after this.
        let before = match self.lock {
            Some(LockKind::Exclusive) => Some(self.size()?),
            _ => None,
        };
        // The explicit fallback grows the file a write at a time: one that
        // fails half-way is set back the same way.
        let r = match retry_eintr(|| {
            rustix::fs::fallocate(&self.fd, FallocateFlags::empty(), offset, len)
        }) {
            Ok(()) => Ok(Allocation::Native),
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => self
                .allocate_by_writing(offset, end)
                .map(|()| Allocation::Emulated),
            Err(e) => Err(e),
        };
        if r.is_err()
            && let Some(b) = before
            && self.size().is_ok_and(|now| now > b)
        {
            let _ = retry_eintr(|| rustix::fs::ftruncate(&self.fd, b));
        }
        r
    }

    /// The explicit fallback of [`allocate`](Self::allocate): like glibc's
    /// `posix_fallocate` emulation, but reported, and fast past the end.
    fn allocate_by_writing(&self, offset: u64, end: u64) -> io::Result<()> {
        let size = self.size()?;
        let block = self.block_size()?;
        // Inside the file: a block whose first byte reads as zero may be a
        // hole; writing that zero back allocates it without changing data.
        // That read-then-write would race with a process storing into the
        // same block through its map, which only atomic sharers may be
        // doing: for them only the part past the end is written (holes
        // inside stay holes; see SECURITY.md).
        let inside_end = if self.lock == Some(LockKind::Atomic) {
            offset
        } else {
            end.min(size)
        };
        let mut pos = offset - offset % block;
        while pos < inside_end {
            let mut byte = [0u8; 1];
            let n = retry_eintr(|| rustix::io::pread(&self.fd, &mut byte, pos))?;
            if n == 1 && byte[0] == 0 {
                self.write_all_at(&[0u8], pos)?;
            }
            pos += block;
        }
        // Past the end: plain zeros, in large writes.
        let zeros = vec![0u8; 1 << 16];
        let mut pos = size.max(offset);
        while pos < end {
            let n = (end - pos).min(zeros.len() as u64) as usize;
            self.write_all_at(&zeros[..n], pos)?;
            pos += n as u64;
        }
        Ok(())
    }

    /// `pwrite(2)` until all of `buf` is written at `offset`.
    pub fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            fault::check(Op::Pwrite)?;
            let n = retry_eintr(|| rustix::io::pwrite(&self.fd, buf, offset))?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    /// `pread(2)` until `buf` is full or the file ends; returns the count.
    #[cfg(test)]
    pub fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
        let mut total = 0;
        while !buf.is_empty() {
            let n = retry_eintr(|| rustix::io::pread(&self.fd, &mut *buf, offset))?;
            if n == 0 {
                break;
            }
            total += n;
            buf = &mut buf[n..];
            offset += n as u64;
        }
        Ok(total)
    }

    /// `ftruncate(2)`. Not public: shrinking a file that is mapped is only
    /// safe through [`Mapping::shrink`](super::Mapping::shrink), which
    /// first takes the bytes out of every view.
    pub(super) fn truncate(&self, len: u64) -> io::Result<()> {
        fault::check(Op::Ftruncate)?;
        retry_eintr(|| rustix::fs::ftruncate(&self.fd, len))
    }

    /// Sets the length of a file that is not mapped (`ftruncate(2)`).
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.truncate(len)
    }

    /// `fsync(2)`: data and metadata durable.
    pub fn sync_all(&self) -> io::Result<()> {
        fault::check(Op::Fsync)?;
        retry_eintr(|| rustix::fs::fsync(&self.fd))
    }

    /// `fdatasync(2)`: data, and the metadata needed to read it, durable.
    pub fn sync_data(&self) -> io::Result<()> {
        fault::check(Op::Fsync)?;
        retry_eintr(|| rustix::fs::fdatasync(&self.fd))
    }

    /// `sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`: starts write-back
    /// of the dirty pages of the range and returns without waiting. (Linux
    /// ignores `msync(MS_ASYNC)`, so this is how an asynchronous flush
    /// really starts.)
    pub fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        fault::check(Op::SyncFileRange)?;
        let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let n = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        loop {
            // SAFETY: `sync_file_range` takes a descriptor we own (borrowed
            // for the call) and three integers; it touches no memory of ours.
            let r = unsafe {
                libc::sync_file_range(self.fd.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE)
            };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }

    /// `posix_fadvise(POSIX_FADV_DONTNEED)`: drop clean cached pages of the
    /// range (after they were written back) so a long run keeps its page
    /// cache footprint bounded.
    pub fn drop_cache(&self, offset: u64, len: u64) -> io::Result<()> {
        let len = std::num::NonZeroU64::new(len);
        retry_eintr(|| rustix::fs::fadvise(&self.fd, offset, len, rustix::fs::Advice::DontNeed))
    }
}

/// `fsync(2)` of the directory holding `path`, so that a newly created (or
/// renamed) entry survives a crash. A directory this process may write
/// but not read cannot be opened for it: that is `Ok`, the name left to
/// the filesystem.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = match retry_eintr(|| {
        rustix::fs::open(
            parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }) {
        Ok(d) => d,
        // A directory this process may write but not read (a drop box,
        // mode 0333) cannot be opened to be synced: there is nothing more
        // a process can do, and the name is left to the filesystem (ext4
        // and XFS commit it with the file's own fsync).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    fault::check(Op::Fsync)?;
    retry_eintr(|| rustix::fs::fsync(&dir))
}

/// Whether some handle holds the exclusive-writer lock on the regular file
/// at `path` (a `w+` that is still creating it, say), found without taking
/// any lock: a plain reader's lock would conflict, so this only tests.
pub fn exclusive_lock_held(path: &Path) -> io::Result<bool> {
    let fd = retry_eintr(|| {
        rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )
    })?;
    ofd_test(fd.as_fd(), READERS_BYTE, libc::F_RDLCK)
}

/// The size of a page of memory (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> usize {
    rustix::param::page_size()
}

fn flock_struct(ty: libc::c_int, start: i64) -> libc::flock {
    libc::flock {
        l_type: ty as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: 1,
        l_pid: 0,
    }
}

/// `fcntl(F_OFD_SETLK)` of one byte; `Ok(false)` on conflict.
fn ofd_lock(fd: BorrowedFd<'_>, byte: i64, ty: libc::c_int) -> io::Result<bool> {
    let mut fl = flock_struct(ty, byte);
    loop {
        // SAFETY: `fl` is a valid `struct flock` on our stack that outlives
        // the call; `fd` is a live descriptor borrowed for the call.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) => return Ok(false),
            _ => return Err(e),
        }
    }
}

fn ofd_unlock_and_false(fd: BorrowedFd<'_>, byte: i64) -> io::Result<bool> {
    ofd_lock(fd, byte, libc::F_UNLCK)?;
    Ok(false)
}

/// `fcntl(F_OFD_GETLK)`: would a write lock on `byte` conflict with a lock
/// held through another open file description?
fn ofd_conflicts(fd: BorrowedFd<'_>, byte: i64) -> io::Result<bool> {
    ofd_test(fd, byte, libc::F_WRLCK)
}

/// `fcntl(F_OFD_GETLK)` of a lock of type `ty` on `byte`: whether another
/// open file description holds a conflicting one. Takes no lock.
fn ofd_test(fd: BorrowedFd<'_>, byte: i64, ty: libc::c_int) -> io::Result<bool> {
    let mut fl = flock_struct(ty, byte);
    // SAFETY: as in `ofd_lock`: `fl` lives on our stack for the call.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path, kind: LockKind) -> Result<File, OpenError> {
        let how = OpenHow {
            write: kind != LockKind::Shared,
            create: true,
            ..OpenHow::default()
        };
        File::open(path, &how, LockRequest::Lock(kind, Wait::No))
    }

    fn conflicts(a: LockKind, b: LockKind) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let _first = open(&p, a).unwrap();
        match open(&p, b) {
            Ok(_) => false,
            Err(OpenError::Locked(k)) => {
                assert_eq!(k, b);
                true
            }
            Err(OpenError::Io(op, e)) => panic!("{op}: {e}"),
        }
    }

    #[test]
    fn lock_matrix() {
        use LockKind::*;
        // Readers share with readers, sharers with sharers, nobody with an
        // exclusive writer, and readers never with sharers.
        let table = [
            (Shared, Shared, false),
            (Shared, Exclusive, true),
            (Shared, Atomic, true),
            (Exclusive, Shared, true),
            (Exclusive, Exclusive, true),
            (Exclusive, Atomic, true),
            (Atomic, Shared, true),
            (Atomic, Exclusive, true),
            (Atomic, Atomic, false),
        ];
        for (a, b, expect) in table {
            assert_eq!(conflicts(a, b), expect, "{a:?} then {b:?}");
        }
    }

    #[test]
    fn lock_released_on_drop_and_wait_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let first = open(&p, LockKind::Exclusive).unwrap();
        let how = OpenHow::default();
        let t = Instant::now();
        let r = File::open(
            &p,
            &how,
            LockRequest::Lock(LockKind::Shared, Wait::For(Duration::from_millis(30))),
        );
        assert!(matches!(r, Err(OpenError::Locked(LockKind::Shared))));
        assert!(t.elapsed() >= Duration::from_millis(30));
        drop(first);
        open(&p, LockKind::Shared).unwrap();
    }

    #[test]
    fn sole_user_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut a = open(&p, LockKind::Atomic).unwrap();
        let b = open(&p, LockKind::Atomic).unwrap();
        assert!(!a.try_become_sole_user().unwrap());
        drop(b);
        assert!(a.try_become_sole_user().unwrap());
        // Now nobody can attach.
        assert!(matches!(
            open(&p, LockKind::Atomic),
            Err(OpenError::Locked(_))
        ));
        assert!(matches!(
            open(&p, LockKind::Shared),
            Err(OpenError::Locked(_))
        ));
    }

    #[test]
    fn roles_are_exclusive_and_visible() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let a = open(&p, LockKind::Atomic).unwrap();
        let b = open(&p, LockKind::Atomic).unwrap();
        assert!(!b.role_held_elsewhere(0).unwrap());
        assert!(a.lock_role(0).unwrap());
        assert!(a.lock_role(0).unwrap(), "taking a role twice is idempotent");
        assert!(!b.lock_role(0).unwrap());
        assert!(b.role_held_elsewhere(0).unwrap());
        assert!(!a.role_held_elsewhere(0).unwrap());
        assert!(b.lock_role(1).unwrap(), "roles are independent");
        drop(a);
        assert!(!b.role_held_elsewhere(0).unwrap());
        assert!(b.lock_role(0).unwrap());
    }

    #[test]
    fn allocate_is_not_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = open(&p, LockKind::Exclusive).unwrap();
        f.allocate(0, 1 << 20).unwrap();
        assert_eq!(f.size().unwrap(), 1 << 20);
        let st = rustix::fs::fstat(f.fd()).unwrap();
        assert!(st.st_blocks as u64 * 512 >= 1 << 20, "file is sparse");
    }

    #[test]
    fn emulated_allocation_fills_holes_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut f = open(&p, LockKind::Exclusive).unwrap();
        // A sparse file with data in its first block.
        f.write_all_at(b"keep", 0).unwrap();
        f.set_len(256 << 10).unwrap();
        f.allocate_by_writing(0, 512 << 10).unwrap();
        assert_eq!(f.size().unwrap(), 512 << 10);
        let st = rustix::fs::fstat(f.fd()).unwrap();
        assert!(st.st_blocks as u64 * 512 >= 512 << 10, "file is sparse");
        let mut buf = [0u8; 4];
        f.read_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"keep");
    }

    #[test]
    fn open_refuses_directories_and_follows_nofollow() {
        let dir = tempfile::tempdir().unwrap();
        let how = OpenHow::default();
        let r = File::open(
            dir.path(),
            &how,
            LockRequest::Lock(LockKind::Shared, Wait::No),
        );
        assert!(matches!(r, Err(OpenError::Io(..))));
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let how = OpenHow {
            nofollow: true,
            ..OpenHow::default()
        };
        let r = File::open(&link, &how, LockRequest::Lock(LockKind::Shared, Wait::No));
        assert!(matches!(r, Err(OpenError::Io(..))));
    }
}
