//! [`DynArray`]: an array file whose dtype is known only at run time.

use std::path::Path;

use super::npy::{self, Header};
use super::{ArrayOptions, DType, Order, Scalar, data_bytes, npy_error};
use crate::error::{Error, Mismatch, Result};
use crate::map::{MappedFile, Mode};

/// What kind of file holds an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// A `.npy` file with this header version.
    Npy {
        /// `(major, minor)`: (1, 0), (2, 0) or (3, 0).
        version: (u8, u8),
    },
    /// Raw bytes; the layout came from the caller.
    Raw,
}

/// The layout of an array file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayInfo {
    /// `.npy` or raw.
    pub format: FileFormat,
    /// Element type.
    pub dtype: DType,
    /// Shape (empty for a 0-d array).
    pub shape: Vec<usize>,
    /// Memory order.
    pub order: Order,
    /// Byte offset of the first element in the file.
    pub data_offset: u64,
    /// Bytes of element data.
    pub data_len: u64,
    /// The file's size in bytes.
    pub file_size: u64,
}

impl ArrayInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An array file of any supported dtype, chosen at run time; elements are
/// read as [`Scalar`]s in either byte order. The `mapio` tool's `info` and
/// `cat` use it; Rust code that knows its element type uses
/// [`Array<T>`](super::Array).
#[derive(Debug)]
pub struct DynArray {
    pub(super) file: MappedFile,
    pub(super) info: ArrayInfo,
    /// Where the data starts inside the map.
    pub(super) start: usize,
}

impl DynArray {
    /// Opens a `.npy` file read-only.
    pub fn open_npy(path: impl AsRef<Path>) -> Result<DynArray> {
        ArrayOptions::new().open_dyn_npy(path)
    }

    /// Opens a raw file read-only with the given layout.
    pub fn open_raw(
        path: impl AsRef<Path>,
        dtype: DType,
        shape: Option<&[usize]>,
        offset: u64,
        order: Order,
    ) -> Result<DynArray> {
        ArrayOptions::new()
            .offset(offset)
            .order(order)
            .open_dyn_raw(path, dtype, shape)
    }

    pub(super) fn open_npy_with(opts: &ArrayOptions, path: &Path) -> Result<DynArray> {
        if opts.mode == Mode::Create {
            return Err(Error::invalid("mode w+ creates: use create_npy"));
        }
        let file = opts.map_options(opts.mode).open(path)?;
        let header = npy::parse_header(file.as_slice()).map_err(|e| npy_error(path, e))?;
        Self::from_header(file, header)
    }

    pub(super) fn from_header(file: MappedFile, header: Header) -> Result<DynArray> {
        let path = file.path();
        let data_len = data_bytes(path, &header.shape, header.dtype.itemsize())?;
        let data_offset = header.data_offset as u64;
        let file_size = file.len() as u64;
        let end = data_offset.saturating_add(data_len);
        if end > file_size {
            return Err(Error::corrupt(
                path,
                file_size,
                format!(
                    "truncated: the header describes {data_len} bytes of data ({} {:?}) from \
                     offset {data_offset}, but the file ends at {file_size}",
                    header.dtype, header.shape
                ),
            ));
        }
        let info = ArrayInfo {
            format: FileFormat::Npy {
                version: header.version,
            },
            dtype: header.dtype,
            shape: header.shape.clone(),
            order: Order::from_fortran(header.fortran_order),
            data_offset,
            data_len,
            file_size,
        };
        Ok(DynArray {
            file,
            info,
            start: header.data_offset,
        })
    }

    pub(super) fn create_npy_with(
        opts: &ArrayOptions,
        path: &Path,
        dtype: DType,
        shape: &[usize],
    ) -> Result<DynArray> {
        let data_len = data_bytes(path, shape, dtype.itemsize())?;
        let header = Header::new(dtype, opts.order.is_fortran(), shape.to_vec());
        let bytes = header.to_bytes();
        let total = bytes.len() as u64 + data_len;
        let mut file = opts.map_options(Mode::Create).len(total).open(path)?;
        file.as_mut_slice()?[..bytes.len()].copy_from_slice(&bytes);
        let header = Header {
            data_offset: bytes.len(),
            ..header
        };
        Self::from_header(file, header)
    }

    pub(super) fn open_raw_with(
        opts: &ArrayOptions,
        path: &Path,
        dtype: DType,
        shape: Option<&[usize]>,
    ) -> Result<DynArray> {
        if opts.mode == Mode::Create {
            return Err(Error::invalid("mode w+ creates: use create_raw"));
        }
        let item = dtype.itemsize();
        let mut map = opts.map_options(opts.mode).offset(opts.offset);
        let shape = match shape {
            Some(s) => {
                map = map.len(data_bytes(path, s, item)?);
                Some(s.to_vec())
            }
            None => None,
        };
        let file = map.open(path)?;
        let shape = match shape {
            Some(s) => s,
            None => {
                // Everything after the offset, as np.memmap does without a
                // shape: measured on the open file, not by a second stat.
                let avail = file.len() as u64;
                if !avail.is_multiple_of(item as u64) {
                    return Err(Error::mismatch(
                        path,
                        Mismatch::Shape,
                        format!(
                            "the {avail} bytes after offset {} are not a whole number of {dtype} elements \
                             ({item} bytes each); give the shape",
                            opts.offset
                        ),
                    ));
                }
                vec![(avail / item as u64) as usize]
            }
        };
        Self::from_raw(file, opts, dtype, shape)
    }

    fn from_raw(
        file: MappedFile,
        opts: &ArrayOptions,
        dtype: DType,
        shape: Vec<usize>,
    ) -> Result<DynArray> {
        let path = file.path();
        let data_len = data_bytes(path, &shape, dtype.itemsize())?;
        if (file.len() as u64) < data_len {
            return Err(Error::mismatch(
                path,
                Mismatch::TooShort,
                "file shorter than the shape needs",
            ));
        }
        let file_size = file.file_len()?;
        let info = ArrayInfo {
            format: FileFormat::Raw,
            dtype,
            shape,
            order: opts.order,
            data_offset: opts.offset,
            data_len,
            file_size,
        };
        Ok(DynArray {
            file,
            info,
            start: 0,
        })
    }

    pub(super) fn create_raw_with(
        opts: &ArrayOptions,
        path: &Path,
        dtype: DType,
        shape: &[usize],
    ) -> Result<DynArray> {
        let data_len = data_bytes(path, shape, dtype.itemsize())?;
        let file = opts
            .map_options(Mode::Create)
            .offset(opts.offset)
            .len(data_len)
            .open(path)?;
        Self::from_raw(file, opts, dtype, shape.to_vec())
    }

    /// The layout.
    pub fn info(&self) -> &ArrayInfo {
        &self.info
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.info.dtype
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.info.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The element bytes, in memory order.
    pub fn data(&self) -> &[u8] {
        let n = self.info.data_len as usize;
        self.file
            .as_slice()
            .get(self.start..self.start + n)
            .unwrap_or(&[])
    }

    /// The element bytes, writable (modes `r+`, `w+`, `c`).
    pub fn data_mut(&mut self) -> Result<&mut [u8]> {
        let n = self.info.data_len as usize;
        let start = self.start;
        Ok(self
            .file
            .as_mut_slice()?
            .get_mut(start..start + n)
            .unwrap_or(&mut []))
    }

    /// The element at position `index` of the array in C (row-major)
    /// order, whatever the memory order; `None` past the end.
    pub fn get(&self, index: usize) -> Option<Scalar> {
        let mem = self.memory_index(index)?;
        let item = self.info.dtype.itemsize();
        let bytes = self.data().get(mem * item..(mem + 1) * item)?;
        Some(self.info.dtype.decode(bytes))
    }

    /// Elements `range` of the C-order sequence.
    pub fn iter_c(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = Scalar> + '_ {
        let end = range.end.min(self.len());
        (range.start.min(end)..end).filter_map(move |i| self.get(i))
    }

    /// Maps a C-order position to the position in memory.
    fn memory_index(&self, index: usize) -> Option<usize> {
        if index >= self.len() {
            return None;
        }
        if self.info.order == Order::C || self.info.shape.len() < 2 {
            return Some(index);
        }
        // Unravel in C order, ravel in Fortran order.
        let shape = &self.info.shape;
        let mut rest = index;
        let mut mem = 0;
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for (k, &d) in shape.iter().enumerate() {
            strides[k] = stride;
            stride *= d;
        }
        for k in (0..shape.len()).rev() {
            let i = rest % shape[k];
            rest /= shape[k];
            mem += i * strides[k];
        }
        Some(mem)
    }

    /// The map (for flushing and hints).
    pub fn mapped_file(&self) -> &MappedFile {
        &self.file
    }

    /// Flushes the data to the disk (`msync(MS_SYNC)`).
    pub fn flush(&self) -> Result<()> {
        self.file.flush()
    }

    /// Flushes (modes `r+`/`w+`) and unmaps, reporting errors.
    pub fn close(self) -> Result<()> {
        self.file.close()
    }
}
