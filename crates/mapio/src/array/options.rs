//! [`ArrayOptions`]: how an array file is opened or created.

use std::path::Path;
use std::time::Duration;

use super::{AppendableArray, Array, AtomicArray, AtomicElement, DType, DynArray, Element, Order};
use crate::error::{Error, Result};
use crate::map::{Advice, Mode, OpenOptions};

/// How to open or create an array file: mode, order, offset (raw files),
/// and the map's options (locks, permissions, hints, growth).
///
/// ```
/// use mapio::array::{ArrayOptions, Order};
/// use mapio::map::Mode;
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("f.npy");
/// let a = ArrayOptions::new().order(Order::Fortran).create_npy::<i32>(&path, &[2, 3])?;
/// assert_eq!(a.order(), Order::Fortran);
/// drop(a);
/// let mut a = ArrayOptions::new().mode(Mode::CopyOnWrite).open_npy::<i32>(&path)?;
/// a.as_slice_mut()?[0] = 1; // stays in memory
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ArrayOptions {
    pub(super) map: OpenOptions,
    pub(super) mode: Mode,
    pub(super) order: Order,
    pub(super) offset: u64,
    pub(super) reserve: Option<u64>,
}

impl Default for ArrayOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ArrayOptions {
    /// Mode `r`, C order, offset 0.
    pub fn new() -> ArrayOptions {
        ArrayOptions {
            map: OpenOptions::new(),
            mode: Mode::ReadOnly,
            order: Order::C,
            offset: 0,
            reserve: None,
        }
    }

    /// The mode for `open_*` (NumPy's `r`, `r+`, `c`); `create_*` always
    /// uses `w+`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Memory order for `create_*` and for raw files (a `.npy` header
    /// carries its own).
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Byte offset of the data in a raw file (`np.memmap`'s `offset`).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Address space reserved for an [`AppendableArray`] to grow into
    /// without moving (default 1 TiB; it costs no memory).
    pub fn reserve(mut self, bytes: u64) -> Self {
        self.reserve = Some(bytes);
        self
    }

    /// Wait up to `timeout` for another process's conflicting lock.
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.map = self.map.wait(timeout);
        self
    }

    /// Permission bits of created files (default `0o640`).
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.map = self.map.file_mode(mode);
        self
    }

    /// Make a created file and its directory entry durable on creation.
    pub fn durable(mut self, yes: bool) -> Self {
        self.map = self.map.durable(yes);
        self
    }

    /// Refuse symbolic links (`O_NOFOLLOW`).
    pub fn nofollow(mut self, yes: bool) -> Self {
        self.map = self.map.nofollow(yes);
        self
    }

    /// When creating: fail if the file already exists (`O_EXCL`) instead
    /// of overwriting it.
    pub fn create_new(mut self, yes: bool) -> Self {
        self.map = self.map.create_new(yes);
        self
    }

    /// An access-pattern hint for the map.
    pub fn advise(mut self, advice: Advice) -> Self {
        self.map = self.map.advise(advice);
        self
    }

    /// Fault all pages in on opening.
    pub fn populate(mut self, yes: bool) -> Self {
        self.map = self.map.populate(yes);
        self
    }

    /// Opens a `.npy` file as `Array<T>`.
    pub fn open_npy<T: Element>(&self, path: impl AsRef<Path>) -> Result<Array<T>> {
        Array::from_dyn(self.open_dyn_npy(path)?)
    }

    /// Creates a `.npy` file of `shape`, zero-filled, its space reserved.
    pub fn create_npy<T: Element>(
        &self,
        path: impl AsRef<Path>,
        shape: &[usize],
    ) -> Result<Array<T>> {
        Array::from_dyn(self.create_dyn_npy(path, T::DTYPE, shape)?)
    }

    /// Opens a raw file as `np.memmap(path, dtype, mode, offset, shape,
    /// order)` would; `shape` `None` means a 1-d array of everything after
    /// the offset.
    pub fn open_raw<T: Element>(
        &self,
        path: impl AsRef<Path>,
        shape: Option<&[usize]>,
    ) -> Result<Array<T>> {
        Array::from_dyn(self.open_dyn_raw(path, T::DTYPE, shape)?)
    }

    /// Creates a raw file (`np.memmap` with mode `w+`): `offset` zero
    /// bytes, then the zero-filled data.
    pub fn create_raw<T: Element>(
        &self,
        path: impl AsRef<Path>,
        shape: &[usize],
    ) -> Result<Array<T>> {
        // Checked before the file is touched: `w+` truncates it.
        let align = std::mem::align_of::<T>() as u64;
        if !self.offset.is_multiple_of(align) && shape.iter().all(|&d| d > 0) {
            return Err(Error::invalid(format!(
                "{}: data at file offset {} would not be aligned for {} ({align}-byte \
                 alignment); choose an offset that is a multiple of {align} (or create it as a \
                 DynArray)",
                path.as_ref().display(),
                self.offset,
                T::DTYPE.name()
            )));
        }
        Array::from_dyn(self.create_dyn_raw(path, T::DTYPE, shape)?)
    }

    /// Opens a `.npy` file of any supported dtype.
    pub fn open_dyn_npy(&self, path: impl AsRef<Path>) -> Result<DynArray> {
        DynArray::open_npy_with(self, path.as_ref())
    }

    /// Creates a `.npy` file of a dtype chosen at run time.
    pub fn create_dyn_npy(
        &self,
        path: impl AsRef<Path>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<DynArray> {
        DynArray::create_npy_with(self, path.as_ref(), dtype, shape)
    }

    /// Opens a raw file of a dtype chosen at run time.
    pub fn open_dyn_raw(
        &self,
        path: impl AsRef<Path>,
        dtype: DType,
        shape: Option<&[usize]>,
    ) -> Result<DynArray> {
        DynArray::open_raw_with(self, path.as_ref(), dtype, shape)
    }

    /// Creates a raw file of a dtype chosen at run time.
    pub fn create_dyn_raw(
        &self,
        path: impl AsRef<Path>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<DynArray> {
        DynArray::create_raw_with(self, path.as_ref(), dtype, shape)
    }

    /// Creates a `.npy` file with zero rows of `row_shape` that grows by
    /// appending rows.
    pub fn create_appendable<T: Element>(
        &self,
        path: impl AsRef<Path>,
        row_shape: &[usize],
    ) -> Result<AppendableArray<T>> {
        AppendableArray::create_with(self, path.as_ref(), row_shape)
    }

    /// Opens an existing `.npy` file to append rows to it.
    pub fn open_appendable<T: Element>(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<AppendableArray<T>> {
        AppendableArray::open_with(self, path.as_ref())
    }

    /// Creates a `.npy` array of atomics shared with other processes.
    pub fn create_atomic_npy<A: AtomicElement>(
        &self,
        path: impl AsRef<Path>,
        shape: &[usize],
    ) -> Result<AtomicArray<A>> {
        AtomicArray::create_npy_with(self, path.as_ref(), shape)
    }

    /// Opens a `.npy` array of atomics shared with other processes (`r+`
    /// for loads and stores, `r` for loads).
    pub fn open_atomic_npy<A: AtomicElement>(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<AtomicArray<A>> {
        AtomicArray::open_npy_with(self, path.as_ref())
    }

    pub(super) fn map_options(&self, mode: Mode) -> OpenOptions {
        self.map.clone().mode(mode)
    }
}
