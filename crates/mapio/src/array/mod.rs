//! Typed n-dimensional arrays over mapped files: NumPy's `np.memmap` and
//! `.npy` files, in Rust.
//!
//! * [`Array<T>`] — a typed array over a raw file (dtype, shape, offset and
//!   order given by the caller, exactly as `np.memmap` reads them) or over
//!   a `.npy` file (`np.load(path, mmap_mode=...)` opens what mapio writes,
//!   and mapio opens what NumPy writes). Views are `ndarray` views.
//! * [`AppendableArray<T>`] — a `.npy` file that grows along its first
//!   axis (C order; the last axis in Fortran order), rewriting the header's
//!   shape in place, so a simulation can stream rows that NumPy can read.
//! * [`AtomicArray<A>`] — an array of atomics that several processes map
//!   read-write at once.
//! * [`DynArray`] — any supported dtype, chosen at run time (the `mapio`
//!   tool uses it), including foreign byte order.
//!
//! ```
//! use mapio::array::{Array, Order};
//! use mapio::map::Mode;
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("a.npy");
//! let mut a = Array::<f64>::create_npy(&path, &[3, 4])?;
//! a.view_mut()?[[1, 2]] = 7.5;
//! a.close()?;
//!
//! let a = Array::<f64>::open_npy(&path, Mode::ReadOnly)?;
//! assert_eq!(a.shape(), &[3, 4]);
//! assert_eq!(a.view()[[1, 2]], 7.5);
//! assert_eq!(a.order(), Order::C);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dtype;
pub mod npy;

mod append;
mod atomic;
mod dynamic;
mod options;
mod typed;

pub use append::AppendableArray;
pub use atomic::{AtomicArray, AtomicElement};
pub use dtype::{Bool, ByteOrder, DType, Element, Kind, Scalar};
pub use dynamic::{ArrayInfo, DynArray, FileFormat};
pub use options::ArrayOptions;
pub use typed::Array;

use std::path::Path;

use crate::error::{Error, Mismatch, Result};

/// Memory order of an n-d array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// Row-major: the last index varies fastest (NumPy's default).
    #[default]
    C,
    /// Column-major: the first index varies fastest.
    Fortran,
}

impl Order {
    /// Whether this is Fortran order (the `.npy` header's `fortran_order`).
    pub fn is_fortran(self) -> bool {
        self == Order::Fortran
    }

    fn from_fortran(f: bool) -> Order {
        if f { Order::Fortran } else { Order::C }
    }
}

impl std::str::FromStr for Order {
    type Err = Error;

    /// `C` or `F` (NumPy's letters; lower case accepted).
    fn from_str(s: &str) -> Result<Order> {
        match s {
            "C" | "c" => Ok(Order::C),
            "F" | "f" | "fortran" | "Fortran" => Ok(Order::Fortran),
            _ => Err(Error::invalid(format!(
                "unknown order {s:?}: expected C or F"
            ))),
        }
    }
}

/// Number of elements of `shape`, or an error naming `path` on overflow.
pub(crate) fn element_count(path: &Path, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| {
            Error::mismatch(
                path,
                Mismatch::Shape,
                format!("shape {shape:?} has too many elements"),
            )
        })
}

/// Bytes of data of `shape` with `itemsize`-byte elements.
pub(crate) fn data_bytes(path: &Path, shape: &[usize], itemsize: usize) -> Result<u64> {
    let n = element_count(path, shape)?;
    (n as u64)
        .checked_mul(itemsize as u64)
        .filter(|&b| b <= i64::MAX as u64)
        .ok_or_else(|| {
            Error::mismatch(
                path,
                Mismatch::Shape,
                format!("shape {shape:?} is too large"),
            )
        })
}

/// Converts a `.npy` codec error into mapio's error for `path`.
pub(crate) fn npy_error(path: &Path, e: npy::NpyError) -> Error {
    use npy::NpyError as E;
    match e {
        // The preamble was looked for in the whole file: there is no more
        // of it to read.
        E::Truncated { needed, have } => Error::corrupt(
            path,
            have as u64,
            format!(
                "not a valid .npy file: truncated: its .npy preamble needs at least {needed} \
                 bytes but the file has only {have}"
            ),
        ),
        E::BadMagic | E::BadHeader { .. } | E::HeaderTooLong { .. } => {
            let offset = match &e {
                E::BadHeader { offset, .. } => *offset as u64,
                _ => 0,
            };
            Error::corrupt(path, offset, format!("not a valid .npy file: {e}"))
        }
        E::UnsupportedVersion { .. } | E::UnsupportedDType { .. } => {
            Error::mismatch(path, Mismatch::Unsupported, e.to_string())
        }
        E::SizeOverflow => Error::mismatch(path, Mismatch::Shape, e.to_string()),
        other => Error::format(path, other.to_string()),
    }
}

#[cfg(test)]
mod tests;
