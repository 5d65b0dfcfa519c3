//! [`AppendableArray<T>`]: a `.npy` file that grows by whole rows.

use std::marker::PhantomData;
use std::path::Path;

use ndarray::{ArrayViewD, IxDyn, ShapeBuilder};

use super::npy::{self, Header};
use super::{ArrayOptions, Element, Order, element_count, npy_error};
use crate::error::{Error, Mismatch, Result};
use crate::map::{MappedFile, Mode};

/// Default address space reserved for growth: 1 TiB (no memory, no disk).
const DEFAULT_RESERVE: u64 = 1 << 40;
/// Smallest allocation step.
const MIN_STEP: u64 = 1 << 20;
/// Largest allocation step.
const MAX_STEP: u64 = 1 << 30;

/// A `.npy` file that grows along its growth axis — the first axis in C
/// order, the last in Fortran order, as NumPy defines it — by appending
/// rows. The header's shape is rewritten in place (NumPy leaves room for
/// that), so the file is a valid `.npy` that `np.load` reads after every
/// [`flush`](Self::flush).
///
/// Space is reserved ahead of the rows with `fallocate` in growing steps,
/// inside a reserved range of address space, so appending never moves the
/// map. [`close`](Self::close) (or drop) trims the file to the rows written.
///
/// Only [`flush`](Self::flush) and `close` make rows durable, in a safe
/// order (the rows, then the header that counts them). Dropping without
/// `close` writes the header and trims, but syncs nothing and reports no
/// error: after a process crash the file is whole (the kernel has the
/// pages), but after a power loss the header may count rows whose bytes
/// never reached the disk, and those read as zeros. Call `close`.
///
/// ```
/// use mapio::array::{AppendableArray, Array};
/// use mapio::map::Mode;
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("rows.npy");
/// let mut a = AppendableArray::<f32>::create(&path, &[3])?;   // shape (0, 3)
/// a.push(&[1.0, 2.0, 3.0])?;
/// a.extend(&[4.0, 5.0, 6.0, 7.0, 8.0, 9.0])?;
/// a.close()?;
/// let a = Array::<f32>::open_npy(&path, Mode::ReadOnly)?;
/// assert_eq!(a.shape(), &[3, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AppendableArray<T: Element> {
    file: MappedFile,
    header: Header,
    /// Shape without the growth axis.
    row_shape: Vec<usize>,
    /// Elements per row.
    row_len: usize,
    rows: usize,
    /// Rows the header says, as last written.
    header_rows: usize,
    closed: bool,
    _t: PhantomData<T>,
}

impl<T: Element> AppendableArray<T> {
    /// Creates a `.npy` file with zero rows of `row_shape`, in C order.
    pub fn create(path: impl AsRef<Path>, row_shape: &[usize]) -> Result<AppendableArray<T>> {
        ArrayOptions::new().create_appendable(path, row_shape)
    }

    /// Opens an existing `.npy` file (of this element type) to append to.
    pub fn open(path: impl AsRef<Path>) -> Result<AppendableArray<T>> {
        ArrayOptions::new().open_appendable(path)
    }

    fn shape_of(order: Order, row_shape: &[usize], rows: usize) -> Vec<usize> {
        let mut s = row_shape.to_vec();
        match order {
            Order::C => s.insert(0, rows),
            Order::Fortran => s.push(rows),
        }
        s
    }

    pub(super) fn create_with(
        opts: &ArrayOptions,
        path: &Path,
        row_shape: &[usize],
    ) -> Result<Self> {
        let row_len = element_count(path, row_shape)?;
        let shape = Self::shape_of(opts.order, row_shape, 0);
        let header = Header::new(T::DTYPE, opts.order.is_fortran(), shape);
        let bytes = header.to_bytes();
        let mut file = opts
            .map_options(Mode::Create)
            .len(bytes.len() as u64)
            .reserve(opts.reserve.unwrap_or(DEFAULT_RESERVE))
            .open(path)?;
        file.as_mut_slice()?.copy_from_slice(&bytes);
        let header = Header {
            data_offset: bytes.len(),
            ..header
        };
        Ok(AppendableArray {
            file,
            header,
            row_shape: row_shape.to_vec(),
            row_len,
            rows: 0,
            header_rows: 0,
            closed: false,
            _t: PhantomData,
        })
    }

    pub(super) fn open_with(opts: &ArrayOptions, path: &Path) -> Result<Self> {
        let file = opts
            .map_options(Mode::ReadWrite)
            .reserve(opts.reserve.unwrap_or(DEFAULT_RESERVE))
            .open(path)?;
        let header = npy::parse_header(file.as_slice()).map_err(|e| npy_error(path, e))?;
        if header.dtype != T::DTYPE {
            return Err(Error::mismatch(
                path,
                Mismatch::DType,
                format!(
                    "dtype mismatch: the file holds {} but {} was asked for",
                    header.dtype,
                    T::DTYPE
                ),
            ));
        }
        if header.shape.is_empty() {
            return Err(Error::mismatch(
                path,
                Mismatch::Shape,
                "a 0-d array has no axis to append along",
            ));
        }
        let order = if header.fortran_order {
            Order::Fortran
        } else {
            Order::C
        };
        let (rows, row_shape) = match order {
            Order::C => (header.shape[0], header.shape[1..].to_vec()),
            Order::Fortran => {
                let n = header.shape.len() - 1;
                (header.shape[n], header.shape[..n].to_vec())
            }
        };
        let row_len = element_count(path, &row_shape)?;
        let need = (header.data_offset as u64).saturating_add(super::data_bytes(
            path,
            &header.shape,
            T::DTYPE.itemsize(),
        )?);
        if need > file.len() as u64 {
            return Err(Error::corrupt(
                path,
                file.len() as u64,
                format!(
                    "truncated: the header describes {need} bytes but the file has {}",
                    file.len()
                ),
            ));
        }
        // The header is rewritten in place as rows are added: it must have
        // room for the most rows the reservation holds, checked now rather
        // than at the first flush, after rows were accepted.
        let row_bytes = (row_len as u64).saturating_mul(T::DTYPE.itemsize() as u64);
        let most = match row_bytes {
            // Rows of no elements take no space, but NumPy still bounds the
            // shape: the non-zero dimensions times the item size must stay
            // within `MAX_DATA_LEN` (a `usize::MAX` rows would not).
            0 => {
                let per_row = row_shape
                    .iter()
                    .filter(|&&d| d != 0)
                    .try_fold(T::DTYPE.itemsize() as u64, |b, &d| b.checked_mul(d as u64))
                    .unwrap_or(u64::MAX);
                usize::try_from(npy::MAX_DATA_LEN / per_row)
                    .unwrap_or(usize::MAX)
                    .max(rows)
            }
            b => usize::try_from(file.capacity().saturating_sub(header.data_offset as u64) / b)
                .unwrap_or(usize::MAX)
                .max(rows),
        };
        let mut preamble = file.as_slice()[..header.data_offset].to_vec();
        let largest = Self::shape_of(order, &row_shape, most);
        match npy::rewrite_shape(&mut preamble, &header, &largest) {
            Err(npy::NpyError::NoRoom { needed, have }) => {
                return Err(Error::format(
                    path,
                    format!(
                        "its .npy header has no room to grow: {most} rows need a {needed}-byte \
                         header, it has {have} (a file saved without the padding NumPy adds \
                         for growth); save it again with a recent np.save, or copy the rows \
                         into a new AppendableArray"
                    ),
                ));
            }
            r => r.map_err(|e| npy_error(path, e))?,
        }
        Ok(AppendableArray {
            file,
            header,
            row_shape,
            row_len,
            rows,
            header_rows: rows,
            closed: false,
            _t: PhantomData,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Rows appended so far (including those the file had when opened).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The shape of one row.
    pub fn row_shape(&self) -> &[usize] {
        &self.row_shape
    }

    /// The current shape.
    pub fn shape(&self) -> Vec<usize> {
        Self::shape_of(self.order(), &self.row_shape, self.rows)
    }

    /// The memory order.
    pub fn order(&self) -> Order {
        Order::from_fortran(self.header.fortran_order)
    }

    fn data_end(&self, rows: usize) -> Option<u64> {
        (rows as u64)
            .checked_mul(self.row_len as u64)?
            .checked_mul(T::DTYPE.itemsize() as u64)?
            .checked_add(self.header.data_offset as u64)
    }

    /// Appends one row of `row_len` elements (in memory order).
    pub fn push(&mut self, row: &[T]) -> Result<()> {
        if self.row_len == 0 && row.is_empty() {
            // Rows of no elements take no bytes, but they are rows.
            self.rows += 1;
            return Ok(());
        }
        if row.len() != self.row_len {
            return Err(Error::invalid(format!(
                "a row of shape {:?} has {} elements, got {}",
                self.row_shape,
                self.row_len,
                row.len()
            )));
        }
        self.extend(row)
    }

    /// Appends whole rows (their elements back to back, in memory order).
    /// On a full disk the error comes before anything is written: the rows
    /// already there are intact. (Rows of zero elements cannot be counted
    /// from a slice: append them with [`push`](Self::push).)
    pub fn extend(&mut self, rows: &[T]) -> Result<()> {
        if self.row_len == 0 {
            if !rows.is_empty() {
                return Err(Error::invalid("rows of this shape have no elements"));
            }
            return Ok(());
        }
        if !rows.len().is_multiple_of(self.row_len) {
            return Err(Error::invalid(format!(
                "{} elements are not a whole number of rows of {}",
                rows.len(),
                self.row_len
            )));
        }
        let new_rows = self.rows + rows.len() / self.row_len;
        let start = self
            .data_end(self.rows)
            .ok_or_else(|| Error::invalid("array too large"))? as usize;
        let end = self
            .data_end(new_rows)
            .ok_or_else(|| Error::invalid("array too large"))?;
        self.ensure_allocated(end)?;
        let bytes: &[u8] = bytemuck::cast_slice(rows);
        self.file.as_mut_slice()?[start..start + bytes.len()].copy_from_slice(bytes);
        self.rows = new_rows;
        Ok(())
    }

    fn ensure_allocated(&mut self, end: u64) -> Result<()> {
        let have = self.file.len() as u64;
        if end <= have {
            return Ok(());
        }
        let step = have.clamp(MIN_STEP, MAX_STEP);
        let want = end.max(have + step).min(self.file.capacity());
        if want < end {
            return Err(Error::invalid(format!(
                "{}: {end} bytes exceed the {} bytes of address space reserved; \
                 open with ArrayOptions::reserve",
                self.path().display(),
                self.file.capacity()
            )));
        }
        match self.file.set_len(want) {
            Ok(()) => Ok(()),
            // Short of room for the step: try for exactly what is needed.
            Err(e) if e.is_no_space() && want > end => self.file.set_len(end),
            Err(e) => Err(e),
        }
    }

    /// The rows written so far, as an `ndarray` view.
    pub fn view(&self) -> ArrayViewD<'_, T> {
        let shape = IxDyn(&self.shape()).set_f(self.order().is_fortran());
        ArrayViewD::from_shape(shape, self.as_slice())
            .unwrap_or_else(|_| ndarray::ArrayView1::from(&[][..]).into_dyn())
    }

    /// The rows written so far, in memory order.
    pub fn as_slice(&self) -> &[T] {
        let start = self.header.data_offset;
        let end = self.data_end(self.rows).unwrap_or(0) as usize;
        match self.file.as_slice().get(start..end) {
            Some(b) if !b.is_empty() => bytemuck::try_cast_slice(b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Rewrites the header's shape in place if rows were added since.
    fn write_header(&mut self) -> Result<()> {
        if self.rows == self.header_rows {
            return Ok(());
        }
        let shape = self.shape();
        let off = self.header.data_offset;
        let path = self.path().to_path_buf();
        let preamble = &mut self.file.as_mut_slice()?[..off];
        npy::rewrite_shape(preamble, &self.header, &shape).map_err(|e| npy_error(&path, e))?;
        self.header.shape = shape;
        self.header_rows = self.rows;
        Ok(())
    }

    /// Makes the rows durable and visible to `np.load`: the data first,
    /// then the header with the new shape, each `msync`ed, so a crash
    /// between the two leaves a header that describes only written rows.
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush()?;
        self.write_header()?;
        self.file.flush_range(0, self.header.data_offset)
    }

    /// Flushes and trims the file to the rows written.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        self.flush()?;
        let end = self.data_end(self.rows).unwrap_or(0);
        self.file.set_len(end)?;
        self.file.flush()?;
        // `self.file` is closed by drop; nothing is left to report.
        Ok(())
    }
}

impl<T: Element> Drop for AppendableArray<T> {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.write_header();
            if let Some(end) = self.data_end(self.rows) {
                let _ = self.file.set_len(end);
            }
        }
    }
}
