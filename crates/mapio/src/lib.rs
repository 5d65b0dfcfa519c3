//! mapio: memory-mapped file I/O done right.
//!
//! Layers, lowest first (arrows point down only):
//!
//! * [`sys`] — the only code that calls the operating system and the only
//!   code with `unsafe` blocks.
//! * [`map`] — mapped files in NumPy's four modes, growth, flush, locks.
//! * [`array`](mod@array) — typed n-d arrays over maps, `.npy` headers.
//! * [`log`] — the continuous log.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod array;
mod error;
pub mod log;
pub mod map;
pub mod sys;

pub use error::{Error, LockKind, Result};

/// The examples of the README are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
