//! [`Array<T>`]: a typed n-d array over a mapped file.

use std::marker::PhantomData;
use std::path::Path;

use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn, ShapeBuilder};

use super::{ArrayInfo, ArrayOptions, DynArray, Element, Order};
use crate::error::{Error, Mismatch, Result};
use crate::map::{MappedFile, Mode};

/// A typed n-dimensional array stored in a file and mapped into memory:
/// `np.memmap` in Rust.
///
/// The element type is checked against the file's dtype when opening: an
/// `Array<f64>` opens `<f8` data only, never reinterprets `<i8` or `>f8`
/// (use [`DynArray`] for foreign byte order). Views are `ndarray` views of
/// the mapped memory, with no copy.
#[derive(Debug)]
pub struct Array<T: Element> {
    inner: DynArray,
    _t: PhantomData<T>,
}

impl<T: Element> Array<T> {
    /// Opens a `.npy` file in `mode` (`r`, `r+` or `c`), as
    /// `np.load(path, mmap_mode=mode)`.
    pub fn open_npy(path: impl AsRef<Path>, mode: Mode) -> Result<Array<T>> {
        ArrayOptions::new().mode(mode).open_npy(path)
    }

    /// Creates a `.npy` file of `shape` in C order, zero-filled, with its
    /// space reserved (`fallocate`), as
    /// `np.lib.format.open_memmap(path, 'w+', dtype, shape)` but never
    /// sparse.
    pub fn create_npy(path: impl AsRef<Path>, shape: &[usize]) -> Result<Array<T>> {
        ArrayOptions::new().create_npy(path, shape)
    }

    /// Opens a raw file of `shape` in C order from offset 0, as
    /// `np.memmap(path, dtype, mode, shape=shape)`.
    pub fn open_raw(path: impl AsRef<Path>, mode: Mode, shape: &[usize]) -> Result<Array<T>> {
        ArrayOptions::new().mode(mode).open_raw(path, Some(shape))
    }

    /// Creates a raw file of `shape` (`np.memmap` with mode `w+`).
    pub fn create_raw(path: impl AsRef<Path>, shape: &[usize]) -> Result<Array<T>> {
        ArrayOptions::new().create_raw(path, shape)
    }

    pub(super) fn from_dyn(inner: DynArray) -> Result<Array<T>> {
        let path = inner.path();
        let have = inner.dtype();
        let want = T::DTYPE;
        if have != want {
            let what = if have.with_byte_order(want.byte_order()) == want {
                format!(
                    "the data is {have} ({}, {} byte order) but this platform is little-endian; \
                     open it as a DynArray, or convert it in NumPy with a.astype('{want}')",
                    have.name(),
                    if have.is_native() {
                        "native"
                    } else {
                        "foreign"
                    },
                )
            } else {
                format!(
                    "dtype mismatch: the file holds {have} ({}) but {} was asked for ({want})",
                    have.name(),
                    want.name()
                )
            };
            return Err(Error::mismatch(path, Mismatch::DType, what));
        }
        let align = std::mem::align_of::<T>();
        let addr = inner.data().as_ptr() as usize;
        if !inner.data().is_empty() && !addr.is_multiple_of(align) {
            let offset = inner.info().data_offset;
            let what = match inner.info().format {
                super::FileFormat::Npy { .. } => format!(
                    "its .npy header ends at offset {offset}, which leaves the data unaligned \
                     for {} ({align}-byte alignment; NumPy pads headers to 64 bytes): open it \
                     as a DynArray, or save it again with np.save",
                    want.name()
                ),
                super::FileFormat::Raw => format!(
                    "data at file offset {offset} is not aligned for {} ({align}-byte \
                     alignment); choose an offset that is a multiple of {align}",
                    want.name()
                ),
            };
            return Err(Error::mismatch(path, Mismatch::Alignment, what));
        }
        Ok(Array {
            inner,
            _t: PhantomData,
        })
    }

    /// The layout (format, dtype, shape, order, offsets).
    pub fn info(&self) -> &ArrayInfo {
        self.inner.info()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.inner.shape()
    }

    /// The memory order.
    pub fn order(&self) -> Order {
        self.inner.info().order
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The elements in memory order.
    pub fn as_slice(&self) -> &[T] {
        bytemuck::try_cast_slice(self.inner.data()).unwrap_or(&[])
    }

    /// The elements in memory order, writable (modes `r+`, `w+`, `c`).
    pub fn as_slice_mut(&mut self) -> Result<&mut [T]> {
        let bytes = self.inner.data_mut()?;
        Ok(bytemuck::try_cast_slice_mut(bytes).unwrap_or(&mut []))
    }

    fn dim(&self) -> ndarray::Shape<IxDyn> {
        IxDyn(self.shape()).set_f(self.order().is_fortran())
    }

    /// An `ndarray` view of the mapped data.
    pub fn view(&self) -> ArrayViewD<'_, T> {
        let dim = self.dim();
        // The slice has exactly `len` elements (checked on opening), so the
        // shape always fits; an empty view is the impossible fallback.
        ArrayViewD::from_shape(dim, self.as_slice())
            .unwrap_or_else(|_| ndarray::ArrayView1::from(&[][..]).into_dyn())
    }

    /// A mutable `ndarray` view (modes `r+`, `w+`, `c`).
    pub fn view_mut(&mut self) -> Result<ArrayViewMutD<'_, T>> {
        let dim = self.dim();
        let path = self.path().to_path_buf();
        let slice = self.as_slice_mut()?;
        ArrayViewMutD::from_shape(dim, slice).map_err(|e| {
            Error::mismatch(
                &path,
                Mismatch::Shape,
                format!("shape does not match the data: {e}"),
            )
        })
    }

    /// The untyped array.
    pub fn as_dyn(&self) -> &DynArray {
        &self.inner
    }

    /// The map (for hints and ranged flushes).
    pub fn mapped_file(&self) -> &MappedFile {
        &self.inner.file
    }

    /// Writes the dirty pages to the disk and waits (`msync(MS_SYNC)`); a
    /// failure poisons the handle (see [`MappedFile::flush`]).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Starts write-back without waiting (`sync_file_range`).
    pub fn flush_async(&self) -> Result<()> {
        self.inner.file.flush_async()
    }

    /// Flushes (in `r+`/`w+`) and unmaps, reporting every error.
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }
}
