//! The one error type of mapio.
//!
//! Every error that concerns a file names it. The variants separate what a
//! caller reacts to differently: an I/O failure of the system ([`Error::Io`]),
//! a full disk ([`Error::NoSpace`]), a file another process holds
//! ([`Error::Locked`]), a handle whose earlier flush failed
//! ([`Error::Poisoned`]), content that is damaged ([`Error::Corrupt`]) and
//! content that is well formed but not what was asked for
//! ([`Error::Format`]), and a wrong argument ([`Error::InvalidArgument`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// `Result` with mapio's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an [`Error::Format`] found not to match, so that a program can
/// react (say, fall back to a `DynArray` on [`Mismatch::DType`]) without
/// reading the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The file's element type is not the one asked for.
    DType,
    /// The shape does not fit the file's data, or is too large.
    Shape,
    /// The file is shorter than the map, header or shape needs, or an
    /// offset lies past its end.
    TooShort,
    /// The data is not aligned for the element type.
    Alignment,
    /// Well formed, but not readable by this build: a newer format
    /// version, a dtype mapio does not support.
    Unsupported,
    /// Anything else (say, logs of a set with different schemas).
    Other,
}

/// What a lock was needed for, in [`Error::Locked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// Readers (`r`, `c`): many may hold it; a writer may not.
    Shared,
    /// A single writer (`r+`, `w+`): nobody else may hold any lock.
    Exclusive,
    /// Processes sharing a writable map through atomics (and a log's
    /// followers): many may hold it; plain readers and writers may not.
    Atomic,
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockKind::Shared => "a shared (read) lock",
            LockKind::Exclusive => "an exclusive (write) lock",
            LockKind::Atomic => "an atomic-sharing lock",
        })
    }
}

/// Everything that can go wrong in mapio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{}: {op} failed: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operation that failed, e.g. `"mmap"`.
        op: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },

    /// The disk (or the process's file-size limit, or a quota) has no room
    /// for the space asked for. Nothing written before is lost.
    #[error("{}", no_space_text(path, *offset, *requested, source))]
    NoSpace {
        /// The file concerned.
        path: PathBuf,
        /// Where the new space would have started.
        offset: u64,
        /// How many bytes were asked for.
        requested: u64,
        /// The system's error (`ENOSPC`, `EFBIG` or `EDQUOT`).
        #[source]
        source: io::Error,
    },

    /// Another process holds a lock that conflicts with the one needed.
    #[error(
        "{}: locked by another user (another process, or another handle in this one): cannot \
         take {wanted}; close the other user, or try again when it is done",
        path.display()
    )]
    Locked {
        /// The file concerned.
        path: PathBuf,
        /// The lock that could not be taken.
        wanted: LockKind,
    },

    /// An earlier `flush`/`sync` of this handle failed. The kernel may have
    /// dropped the dirty pages after reporting that failure once, so a later
    /// flush that "succeeded" would be a lie: every flush fails from then on.
    #[error(
        "{}: an earlier flush failed ({first}); the kernel may have dropped unwritten pages, so \
         this handle refuses to report durability again; reopen and check the data",
        path.display()
    )]
    Poisoned {
        /// The file concerned.
        path: PathBuf,
        /// The first failure, as text.
        first: String,
    },

    /// The content of a file is damaged: a checksum does not match, a
    /// length runs past the end, a structure is cut short.
    #[error("{}: corrupt at offset {offset}: {what}", path.display())]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// Byte offset of the damage in the file.
        offset: u64,
        /// What is wrong.
        what: String,
    },

    /// The file is well formed but does not match what was asked: a wrong
    /// dtype or shape, a foreign byte order, an unsupported version, data
    /// that is not aligned for its element type.
    #[error("{}: {what}", path.display())]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What does not match, for a program to react to.
        kind: Mismatch,
        /// What does not match, for a person.
        what: String,
    },

    /// An argument is wrong regardless of any file.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The message of [`Error::NoSpace`]: what could not be had, why, and
/// what is safe (the bytes below `offset`, when there are any).
fn no_space_text(path: &Path, offset: u64, requested: u64, source: &io::Error) -> String {
    let what = if requested > 0 {
        format!("no room for {requested} more bytes at offset {offset}")
    } else {
        "no room".to_string()
    };
    let why = match source.raw_os_error() {
        Some(libc::EFBIG) => "the file would pass the size limit of this filesystem or process",
        Some(libc::EDQUOT) => "the disk quota is used up",
        _ => "the disk is full",
    };
    let kept = if offset > 0 {
        format!("; the file's first {offset} bytes are intact")
    } else {
        String::new()
    };
    format!(
        "{}: {what}: {why} ({source}); free some space, or write less{kept}",
        path.display()
    )
}

impl Error {
    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> Error {
        if is_no_space(&source) {
            // Callers that know the range use `no_space`; this keeps the
            // classification right for everybody else.
            return Error::NoSpace {
                path: path.to_path_buf(),
                offset: 0,
                requested: 0,
                source,
            };
        }
        Error::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    pub(crate) fn format(path: &Path, what: impl Into<String>) -> Error {
        Error::mismatch(path, Mismatch::Other, what)
    }

    pub(crate) fn mismatch(path: &Path, kind: Mismatch, what: impl Into<String>) -> Error {
        Error::Format {
            path: path.to_path_buf(),
            kind,
            what: what.into(),
        }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            what: what.into(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Error {
        Error::InvalidArgument(what.into())
    }

    /// The file this error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::NoSpace { path, .. }
            | Error::Locked { path, .. }
            | Error::Poisoned { path, .. }
            | Error::Corrupt { path, .. }
            | Error::Format { path, .. } => Some(path),
            Error::InvalidArgument(_) => None,
        }
    }

    /// The same error, naming `to` instead of its file: for work done in
    /// a temporary file that stands for `to` (renamed over it on success).
    pub fn for_path(mut self, to: &Path) -> Error {
        match &mut self {
            Error::Io { path, .. }
            | Error::NoSpace { path, .. }
            | Error::Locked { path, .. }
            | Error::Poisoned { path, .. }
            | Error::Corrupt { path, .. }
            | Error::Format { path, .. } => *path = to.to_path_buf(),
            Error::InvalidArgument(_) => {}
        }
        self
    }

    /// True for a full disk, a file-size limit or a quota.
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::NoSpace { .. })
    }
}

/// `ENOSPC`, `EFBIG` (file-size limit) and `EDQUOT` all mean "no room".
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EFBIG) | Some(libc::EDQUOT)
    )
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            Error::NoSpace { .. } => io::ErrorKind::StorageFull,
            Error::Locked { .. } => io::ErrorKind::WouldBlock,
            Error::Corrupt { .. } | Error::Format { .. } => io::ErrorKind::InvalidData,
            Error::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            Error::Poisoned { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
