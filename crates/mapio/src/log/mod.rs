//! The continuous log: many threads append records at once through one
//! atomic fetch-add into a mapped file, other processes read them live,
//! and a crash at any instant loses nothing that was committed.
//!
//! The file format, the commit protocol and recovery are specified in
//! `FORMAT.md` at the root of the repository.
//!
//! * [`Log`] — the writer (`Sync`: share it between threads).
//! * [`LogReader`] — iterate, walk a key's history, follow live, verify.
//! * [`verify`] and [`recover`] — what `mapio verify` and `mapio recover` do.
//! * [`LogSet`] — one log or a set of per-rank logs: the state at a time,
//!   a key's history, export to NumPy; sped up by the sidecar [`Index`].

// The log and its index keep little-endian words in place and read them
// as native integers (atomics in the log, mapped arrays in the index).
#[cfg(target_endian = "big")]
compile_error!(
    "mapio's log layer reads its little-endian files in place: big-endian hosts are not supported"
);

pub(crate) mod core;
pub mod format;
pub mod index;
mod query;
mod reader;
mod writer;

pub use self::core::Meta;
pub use format::{Field, Flags, Schema};
pub use index::{Index, IndexState};
pub use query::{
    ExportSummary, Interpolation, KeyRecords, Located, LogSet, SetOptions, State, StateEntry,
    expand,
};
pub use reader::{
    Damage, Follow, FollowEnd, FollowOptions, LogReader, Record, Records, Recovery, ScanReport,
};
pub use writer::{Chain, Entry, Log, LogOptions, OpenReport, Reservation, SyncPoint};

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Result;

/// Calls `attempt` until it breaks with an answer, sleeping between tries
/// (0.5 ms, doubling up to 50 ms, never past `deadline`); once `deadline`
/// has passed, the last try's answer is the answer (`None`: no deadline).
/// How an open waits for a lock or a file that another process holds or
/// is creating.
pub(crate) fn retry_until<T>(
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> ControlFlow<T, T>,
) -> T {
    let mut pause = Duration::from_micros(500);
    loop {
        let answer = match attempt() {
            ControlFlow::Break(done) => return done,
            ControlFlow::Continue(answer) => answer,
        };
        let now = Instant::now();
        let left = match deadline {
            Some(d) if now >= d => return answer,
            Some(d) => d - now,
            None => Duration::MAX,
        };
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Scans a log and reports its records, holes and damage, without
/// changing it (it may be live).
pub fn verify(path: impl AsRef<Path>) -> Result<ScanReport> {
    Ok(LogReader::open(path)?.scan())
}

/// Makes a log that was not closed cleanly appendable again, losing no
/// committed record: scans it, zeroes what follows the last good record,
/// writes an end record, and truncates (with readers attached it clears
/// in place instead, and the file keeps its allocation until [`trim`]
/// gives it back). Returns what the scan found.
pub fn recover(path: impl AsRef<Path>, recovery: Recovery) -> Result<ScanReport> {
    let opts = LogOptions::new()
        .recovery(recovery)
        .background_allocation(false);
    let (log, report) = Log::open_with_report(path, &opts)?;
    log.close()?;
    Ok(report)
}

/// Gives back the space a cleanly closed log still holds past its end
/// record: a log closed while a reader was attached keeps its allocation
/// (by default up to 64 MiB), since truncating under the reader's map
/// would crash it. Once the readers are gone, `trim` truncates it to its
/// records and syncs, changing nothing else (not even the header). Needs
/// the log to itself ([`Error::Locked`](crate::Error::Locked) while a
/// reader or writer is attached). Returns the new size, or `None` if there
/// was nothing to trim, or the log was not closed cleanly (see
/// [`recover`]), or anything but zeros follows the end record its header
/// names (a stale or crafted header: `trim` cuts off only zeros).
pub fn trim(path: impl AsRef<Path>) -> Result<Option<u64>> {
    writer::trim_closed(path.as_ref())
}

#[cfg(test)]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;
