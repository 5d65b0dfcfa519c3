//! The system layer: the only code in mapio that calls the operating system,
//! and the only code with `unsafe` blocks.
//!
//! * [`File`] — `open(2)` (always `O_CLOEXEC`), the advisory lock protocol
//!   (`flock(2)` plus OFD byte-range locks), `fallocate(2)` with an explicit
//!   fallback, `ftruncate(2)`, `fsync(2)`/`fdatasync(2)`,
//!   `sync_file_range(2)`, `posix_fadvise(2)`.
//! * [`Mapping`] — `mmap(2)`/`munmap(2)`, `msync(2)`, `madvise(2)`, and the
//!   views (`&[u8]`, `&mut [u8]`, `&[AtomicU64]`, ...) whose soundness rests
//!   on the lock the file holds. Its module documentation states the
//!   invariants.
//! * [`crc32c_parts`] — CRC-32C with the SSE 4.2 instruction where the CPU
//!   has it (the `crc32c` crate elsewhere and for long inputs).
//! * [`fault`] — the seam where tests make system calls fail.
//!
//! Linux only: mapio relies on mapping past the end of a file, on
//! `sync_file_range`, on OFD locks and on `MADV_POPULATE_*`.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "mapio supports Linux only: it relies on Linux's mmap, fallocate, sync_file_range and OFD locks"
);

mod crc;
pub mod fault;
mod file;
mod mapping;

pub use crc::crc32c_parts;
pub use file::{
    Allocation, ExternalSync, File, LockRequest, OpenError, OpenHow, Wait, exclusive_lock_held,
    page_size, sync_parent_dir,
};
pub use mapping::{Advice, AtomicInt, Mapping, Protection, ReadOnlyAtomics, View};
