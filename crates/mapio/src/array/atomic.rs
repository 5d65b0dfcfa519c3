//! [`AtomicArray<A>`]: an array of atomics shared by several processes.

use std::path::Path;
use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering,
};

use ndarray::{ArrayViewD, IxDyn, ShapeBuilder};

use super::npy::{self, Header};
use super::{ArrayOptions, DType, Order, data_bytes, npy_error};
use crate::error::{Error, Mismatch, Result};
use crate::map::{Mode, SharedMap};
use crate::sys::{AtomicInt, ReadOnlyAtomics};

/// An atomic integer type with a NumPy dtype (`AtomicU64` is `<u8`, ...).
pub trait AtomicElement: AtomicInt + Sized {
    /// The dtype of the integer inside.
    const DTYPE: DType;
    /// The integer inside.
    type Int: Copy;
    /// `load` of the atomic.
    fn load_int(&self, order: Ordering) -> Self::Int;
    /// `load` of element `i` of a read-only view.
    fn load_read_only(
        view: &ReadOnlyAtomics<'_, Self>,
        i: usize,
        order: Ordering,
    ) -> Option<Self::Int>;
}

macro_rules! atomic_element {
    ($($t:ty => $int:ty, $d:expr;)*) => {$(
        impl AtomicElement for $t {
            const DTYPE: DType = $d;
            type Int = $int;
            fn load_int(&self, order: Ordering) -> $int {
                self.load(order)
            }
            fn load_read_only(view: &ReadOnlyAtomics<'_, Self>, i: usize, order: Ordering) -> Option<$int> {
                view.load(i, order)
            }
        }
    )*};
}
atomic_element! {
    AtomicU8 => u8, DType::U8;
    AtomicI8 => i8, DType::I8;
    AtomicU16 => u16, DType::U16;
    AtomicI16 => i16, DType::I16;
    AtomicU32 => u32, DType::U32;
    AtomicI32 => i32, DType::I32;
    AtomicU64 => u64, DType::U64;
    AtomicI64 => i64, DType::I64;
}

/// A `.npy` array of integers that several processes (and threads) map
/// read-write at once, through atomics: every process sees every other's
/// stores as they happen, before anything reaches the disk.
///
/// All users must open the file this way (the atomic-sharing lock); plain
/// opens ([`Array`](super::Array), `np.load` aside, which takes no lock)
/// are refused while sharers are attached.
///
/// ```
/// use mapio::array::AtomicArray;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("counts.npy");
/// let a = AtomicArray::<AtomicU64>::create_npy(&path, &[4, 4])?;
/// let b = AtomicArray::<AtomicU64>::open_npy(&path)?;   // e.g. in another process
/// a.view()?[[1, 2]].fetch_add(1, Ordering::Relaxed);
/// assert_eq!(b.view()?[[1, 2]].load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicArray<A: AtomicElement> {
    map: SharedMap,
    shape: Vec<usize>,
    order: Order,
    /// Index of the first element in the map's atomics.
    start: usize,
    len: usize,
    _a: std::marker::PhantomData<A>,
}

impl<A: AtomicElement> AtomicArray<A> {
    /// Creates a zero-filled `.npy` file of `shape` and attaches to it.
    pub fn create_npy(path: impl AsRef<Path>, shape: &[usize]) -> Result<AtomicArray<A>> {
        ArrayOptions::new().create_atomic_npy(path, shape)
    }

    /// Attaches read-write (`r+`) to an existing `.npy` file.
    pub fn open_npy(path: impl AsRef<Path>) -> Result<AtomicArray<A>> {
        ArrayOptions::new()
            .mode(Mode::ReadWrite)
            .open_atomic_npy(path)
    }

    pub(super) fn create_npy_with(
        opts: &ArrayOptions,
        path: &Path,
        shape: &[usize],
    ) -> Result<Self> {
        // Write the whole file under the exclusive lock first, so that no
        // sharer ever attaches to a file without its header.
        let data = data_bytes(path, shape, A::DTYPE.itemsize())?;
        let header = Header::new(A::DTYPE, opts.order.is_fortran(), shape.to_vec());
        let bytes = header.to_bytes();
        let mut f = opts
            .map_options(Mode::Create)
            .len(bytes.len() as u64 + data)
            .open(path)?;
        f.as_mut_slice()?[..bytes.len()].copy_from_slice(&bytes);
        f.close()?;
        Self::open_npy_with(&opts.clone().mode(Mode::ReadWrite), path)
    }

    pub(super) fn open_npy_with(opts: &ArrayOptions, path: &Path) -> Result<Self> {
        if !matches!(opts.mode, Mode::ReadWrite | Mode::ReadOnly) {
            return Err(Error::invalid(format!(
                "an atomic array opens in mode r+ or r, not {}",
                opts.mode
            )));
        }
        let map = opts.map_options(opts.mode).open_shared(path)?;
        // Copy the preamble out through atomic loads, and no byte more:
        // another sharer may be storing to the data right after it (with
        // its own, wider atomics: the preamble's bytes are never those).
        let bytes_view = map.atomics_read_only::<AtomicU8>()?;
        let mut prefix = Vec::new();
        let mut want = 16usize;
        let header = loop {
            let n = want.min(bytes_view.len());
            prefix.extend((prefix.len()..n).filter_map(|i| bytes_view.load(i, Ordering::Relaxed)));
            match npy::parse_header(&prefix) {
                Err(npy::NpyError::Truncated { needed, .. })
                    if needed > prefix.len() && n < bytes_view.len() =>
                {
                    want = needed.min(npy::MAX_HEADER_LEN + 16);
                }
                r => break r.map_err(|e| npy_error(path, e))?,
            }
        };
        if header.dtype != A::DTYPE {
            return Err(Error::mismatch(
                path,
                Mismatch::DType,
                format!(
                    "dtype mismatch: the file holds {} but an array of {} was asked for",
                    header.dtype,
                    A::DTYPE
                ),
            ));
        }
        if header.data_offset % A::DTYPE.itemsize() != 0 {
            return Err(Error::mismatch(
                path,
                Mismatch::Alignment,
                format!(
                    "the data starts at offset {}, not a multiple of {} bytes: atomics cannot be \
                     aligned there (np.save and mapio align data to 64 bytes: rewrite the file with one of them)",
                    header.data_offset,
                    A::DTYPE.itemsize()
                ),
            ));
        }
        let data = data_bytes(path, &header.shape, A::DTYPE.itemsize())?;
        if (header.data_offset as u64).saturating_add(data) > map.len() as u64 {
            return Err(Error::corrupt(
                path,
                map.len() as u64,
                "truncated: the file is shorter than its header says",
            ));
        }
        let item = A::DTYPE.itemsize();
        Ok(AtomicArray {
            start: header.data_offset / item,
            len: (data / item as u64) as usize,
            shape: header.shape,
            order: Order::from_fortran(header.fortran_order),
            map,
            _a: std::marker::PhantomData,
        })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The memory order.
    pub fn order(&self) -> Order {
        self.order
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in memory order (mode `r+`).
    pub fn as_slice(&self) -> Result<&[A]> {
        let all = self.map.atomics::<A>()?;
        Ok(all.get(self.start..self.start + self.len).unwrap_or(&[]))
    }

    /// An `ndarray` view of the atomics (mode `r+`).
    pub fn view(&self) -> Result<ArrayViewD<'_, A>> {
        let dim = IxDyn(&self.shape).set_f(self.order.is_fortran());
        ArrayViewD::from_shape(dim, self.as_slice()?).map_err(|e| {
            Error::mismatch(
                self.map.path(),
                Mismatch::Shape,
                format!("shape does not match: {e}"),
            )
        })
    }

    /// Loads element `index` (in memory order); works in mode `r` too.
    pub fn load(&self, index: usize, order: Ordering) -> Option<A::Int> {
        if index >= self.len {
            return None;
        }
        match self.map.atomics::<A>() {
            Ok(all) => all.get(self.start + index).map(|a| a.load_int(order)),
            Err(_) => self.load_read_only(index, order),
        }
    }

    fn load_read_only(&self, index: usize, order: Ordering) -> Option<A::Int> {
        let view = self.map.atomics_read_only::<A>().ok()?;
        A::load_read_only(&view, self.start + index, order)
    }

    /// The shared map (flushes, path).
    pub fn shared_map(&self) -> &SharedMap {
        &self.map
    }

    /// `msync(MS_SYNC)` of the whole file.
    pub fn flush(&self) -> Result<()> {
        self.map.flush()
    }
}
