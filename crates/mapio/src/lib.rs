//! mapio: memory-mapped file I/O done right.
//!
//! Layers, lowest first (arrows point down only):
//!
//! * `sys` (private) — the only code that calls the operating system or
//!   uses CPU-specific instructions, and the only code with `unsafe` blocks. Its functions hand out views whose
//!   soundness rests on invariants the layers above keep, so it is not
//!   public: safe code outside the crate cannot break them.
//! * [`map`] — mapped files in NumPy's four modes, growth, flush, locks.
//! * [`array`](mod@array) — typed n-d arrays over maps, `.npy` headers.
//! * [`log`] — the continuous log.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod array;
mod error;
pub mod log;
pub mod map;
mod sys;

/// Making system calls fail on purpose, for tests of error paths (feature
/// `fault-injection`).
#[cfg(feature = "fault-injection")]
pub use sys::fault;

pub use error::{Error, LockKind, Mismatch, Result};

// The crates whose types appear in mapio's API, so that users name the
// same versions mapio was built with.
pub use bytemuck;
pub use ndarray;
pub use num_complex;

/// The examples of the README are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
