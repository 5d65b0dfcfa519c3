//! The `.npy` file preamble: reading and writing NumPy's array headers,
//! without any I/O.
//!
//! A `.npy` file starts with a preamble:
//!
//! * the magic string `\x93NUMPY`;
//! * the format version, two bytes (major, minor): 1.0, 2.0 or 3.0;
//! * the length of the header that follows: a little-endian `u16` in
//!   version 1.0, a `u32` in 2.0 and 3.0;
//! * the header: a Python dict literal, ASCII (latin-1) in 1.0 and 2.0,
//!   UTF-8 in 3.0, such as
//!   `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`,
//!   padded with spaces and ended by `'\n'` so that the preamble's length is
//!   a multiple of [`ALIGN`] (64) bytes.
//!
//! The array's data follows at [`Header::data_offset`].
//!
//! [`Header::to_bytes`] writes the preamble byte for byte as NumPy 2's
//! `np.save` does, including the spare spaces NumPy leaves so that the
//! length of the growth axis can later be rewritten in place
//! ([`rewrite_shape`]). [`parse_header`] reads what NumPy's reader accepts,
//! including headers written by other tools and by Python 2.
//!
//! ```
//! use mapio::array::dtype::DType;
//! use mapio::array::npy::{parse_header, Header};
//!
//! let header = Header::new(DType::F64, false, [3, 4]);
//! let bytes = header.to_bytes();
//! assert_eq!(bytes.len(), 128);
//! assert_eq!(header.data_offset, 128);
//! assert_eq!(parse_header(&bytes).unwrap(), header);
//! ```

use std::fmt::Write as _;

use super::dtype::{DType, clip};

/// The magic string every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The preamble (magic, version, header length and header) is padded to a
/// multiple of this many bytes, so that the data is aligned.
pub const ALIGN: usize = 64;

/// The longest header [`parse_header`] accepts, in bytes.
///
/// NumPy's reader refuses headers over 10 000 characters from untrusted
/// files unless told otherwise; this crate allows up to 1 MiB, and never
/// allocates for bytes it was not given.
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// Characters of room NumPy's writer reserves for the length of the growth
/// axis: `len(str(8 * 2**64 - 1))`.
pub const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The most dimensions an array may have (NumPy 2's `NPY_MAXDIMS`).
pub const MAX_DIMS: usize = 64;

/// The largest array, in bytes, that a header may describe: `isize::MAX` on
/// 64-bit platforms, NumPy's own limit there.
pub const MAX_DATA_LEN: u64 = u64::MAX >> 1;

/// Longest header a version 1.0 file can hold (its length field is a `u16`).
const MAX_V1_HEADER_LEN: usize = u16::MAX as usize;

/// Maximum nesting of brackets in a header literal.
const MAX_DEPTH: usize = 32;

/// The contents of a `.npy` preamble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The dtype of the elements.
    pub dtype: DType,
    /// True if the data is stored in Fortran (column-major) order, false
    /// for C (row-major) order.
    pub fortran_order: bool,
    /// The length of each axis; empty for a 0-d array (one element).
    pub shape: Vec<usize>,
    /// The format version (major, minor): (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// Length of the preamble (magic, version, header length and header):
    /// the offset in the file where the data starts.
    pub data_offset: usize,
}

impl Header {
    /// A header as NumPy's writer would make it for an array of `dtype`,
    /// order and `shape`: `version` is the oldest format that can hold it
    /// and `data_offset` the length of [`to_bytes`](Header::to_bytes).
    pub fn new(dtype: DType, fortran_order: bool, shape: impl Into<Vec<usize>>) -> Header {
        let shape = shape.into();
        let dict = dict_literal(dtype, fortran_order, &shape, true);
        let version = guess_version(dict.len());
        let data_offset = preamble_len(prefix_len(version).unwrap_or(12), dict.len());
        Header {
            dtype,
            fortran_order,
            shape,
            version,
            data_offset,
        }
    }

    /// The number of elements: the product of the shape (1 for a 0-d
    /// array), or `None` if it overflows `usize`. Never `None` for a header
    /// returned by [`parse_header`].
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// The length of the data in bytes, or `None` if it overflows `u64`.
    /// Never `None` for a header returned by [`parse_header`].
    pub fn data_len(&self) -> Option<u64> {
        let n = u64::try_from(self.num_elements()?).ok()?;
        n.checked_mul(u64::try_from(self.dtype.itemsize()).ok()?)
    }

    /// The axis NumPy reserves room for in the header so the file can grow
    /// along it: 0 in C order, the last axis in Fortran order; `None` for a
    /// 0-d array.
    pub fn growth_axis(&self) -> Option<usize> {
        let last = self.shape.len().checked_sub(1)?;
        Some(if self.fortran_order { last } else { 0 })
    }

    /// The preamble exactly as NumPy 2's `np.save` writes it for this
    /// array: format 1.0 if the header fits in 65 535 bytes, else 2.0.
    ///
    /// The `version` and `data_offset` fields are ignored (they describe
    /// the file a header was read from); for a header made by
    /// [`Header::new`] they agree with the result.
    ///
    /// # Panics
    ///
    /// Only if the header would exceed 4 GiB, which takes over a billion
    /// dimensions.
    pub fn to_bytes(&self) -> Vec<u8> {
        let dict = dict_literal(self.dtype, self.fortran_order, &self.shape, true);
        let version = guess_version(dict.len());
        match wrap(&dict, version) {
            Ok(bytes) => bytes,
            Err(e) => panic!("cannot write a .npy header of {} bytes: {e}", dict.len()),
        }
    }

    /// The preamble as `np.lib.format.write_array(f, arr, version=version)`
    /// writes it: like [`to_bytes`](Header::to_bytes) but in the given
    /// format version.
    ///
    /// # Errors
    ///
    /// [`NpyError::UnsupportedVersion`] for a version other than 1.0, 2.0
    /// or 3.0; [`NpyError::HeaderTooLong`] if the header does not fit the
    /// version's length field.
    pub fn to_bytes_with_version(&self, version: (u8, u8)) -> Result<Vec<u8>, NpyError> {
        let dict = dict_literal(self.dtype, self.fortran_order, &self.shape, true);
        wrap(&dict, version)
    }
}

/// Why a `.npy` preamble could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    /// The bytes do not start with [`MAGIC`].
    #[error(
        "not a .npy file: it does not start with the magic string \\x93NUMPY; check that the \
         path names a file written by numpy.save"
    )]
    BadMagic,
    /// Fewer bytes were given than the preamble needs.
    #[error(
        "truncated .npy preamble: at least {needed} bytes are needed but only {have} were \
         given; read more of the file, or if that was all of it, the file is truncated"
    )]
    Truncated {
        /// Bytes needed to go on. Exact (the whole preamble) once the
        /// header length field was read, else a lower bound.
        needed: usize,
        /// Bytes given.
        have: usize,
    },
    /// A format version this crate does not know.
    #[error(
        "unsupported .npy format version {major}.{minor}: only versions 1.0, 2.0 and 3.0 \
         exist; the file is corrupt or from a newer NumPy"
    )]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header is longer than allowed.
    #[error(
        "the .npy header is {len} bytes long, more than the limit of {max}; the file is \
         corrupt, or its array has too many dimensions for this format version"
    )]
    HeaderTooLong {
        /// The header's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header is not a valid `.npy` header dict.
    #[error("malformed .npy header at byte {offset}: {what}")]
    BadHeader {
        /// Offset from the start of the file where the problem was found.
        offset: usize,
        /// What is wrong.
        what: String,
    },
    /// The header is valid but its dtype is not supported.
    #[error("unsupported dtype {descr} in .npy header: {why}")]
    UnsupportedDType {
        /// The dtype as written in the header (shortened if long).
        descr: String,
        /// Why it is not supported and what to do instead.
        why: String,
    },
    /// The array's size in bytes overflows.
    #[error(
        "the .npy header describes an array too large to exist: its size in bytes exceeds \
         2^63 - 1; the header is corrupt"
    )]
    SizeOverflow,
    /// A rewritten header does not fit in the existing preamble.
    #[error(
        "no room to rewrite the .npy header in place: the new header needs {needed} bytes but \
         the preamble holds {have}; write a new file instead"
    )]
    NoRoom {
        /// Header bytes needed (dict literal and final newline).
        needed: usize,
        /// Header bytes available.
        have: usize,
    },
}

/// Bytes before the header: magic, version and length field.
fn prefix_len(version: (u8, u8)) -> Result<usize, NpyError> {
    match version {
        (1, 0) => Ok(MAGIC.len() + 2 + 2),
        (2, 0) | (3, 0) => Ok(MAGIC.len() + 2 + 4),
        (major, minor) => Err(NpyError::UnsupportedVersion { major, minor }),
    }
}

/// Length of a preamble whose header dict literal is `dict_len` bytes, as
/// NumPy pads it: at least one space, then `'\n'`, up to a multiple of
/// [`ALIGN`]. (NumPy adds a full [`ALIGN`] spaces when no padding is needed.)
fn preamble_len(prefix_len: usize, dict_len: usize) -> usize {
    let unpadded = prefix_len + dict_len + 1;
    unpadded + (ALIGN - unpadded % ALIGN)
}

/// The oldest version whose length field can hold a header dict of `dict_len`.
fn guess_version(dict_len: usize) -> (u8, u8) {
    let prefix = MAGIC.len() + 2 + 2;
    if preamble_len(prefix, dict_len) - prefix <= MAX_V1_HEADER_LEN {
        (1, 0)
    } else {
        (2, 0)
    }
}

/// NumPy's header dict literal, with the growth room if `growth`.
fn dict_literal(dtype: DType, fortran_order: bool, shape: &[usize], growth: bool) -> String {
    let mut s = String::with_capacity(64 + 22 * shape.len());
    s.push_str("{'descr': '");
    s.push_str(&dtype.descr());
    s.push_str("', 'fortran_order': ");
    s.push_str(if fortran_order { "True" } else { "False" });
    s.push_str(", 'shape': (");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{d}");
    }
    if shape.len() == 1 {
        s.push(',');
    }
    s.push_str("), }");
    if growth {
        let axis = if fortran_order {
            shape.last()
        } else {
            shape.first()
        };
        if let Some(d) = axis {
            let digits = decimal_digits(*d);
            s.extend(std::iter::repeat_n(
                ' ',
                GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits),
            ));
        }
    }
    s
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// NumPy's `_wrap_header`: prefix, header, padding spaces and `'\n'`.
fn wrap(dict: &str, version: (u8, u8)) -> Result<Vec<u8>, NpyError> {
    let prefix = prefix_len(version)?;
    let total = preamble_len(prefix, dict.len());
    let header_len = total - prefix;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version.0, version.1]);
    if version == (1, 0) {
        let len = u16::try_from(header_len).map_err(|_| NpyError::HeaderTooLong {
            len: header_len,
            max: MAX_V1_HEADER_LEN,
        })?;
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        let len = u32::try_from(header_len).map_err(|_| NpyError::HeaderTooLong {
            len: header_len,
            max: u32::MAX as usize,
        })?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    Ok(out)
}

/// Check that an array of `dtype` and `shape` can exist, as NumPy does when
/// it creates one: the product of the non-zero dimensions times the item
/// size must not exceed [`MAX_DATA_LEN`] (even when another dimension is
/// 0), and the element count must fit `usize`.
fn check_size(dtype: DType, shape: &[usize]) -> Result<(), NpyError> {
    let mut bytes = u64::try_from(dtype.itemsize()).map_err(|_| NpyError::SizeOverflow)?;
    for &d in shape.iter().filter(|&&d| d != 0) {
        let d = u64::try_from(d).map_err(|_| NpyError::SizeOverflow)?;
        bytes = bytes
            .checked_mul(d)
            .filter(|&b| b <= MAX_DATA_LEN)
            .ok_or(NpyError::SizeOverflow)?;
    }
    if bytes > MAX_DATA_LEN {
        return Err(NpyError::SizeOverflow);
    }
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .map(|_| ())
        .ok_or(NpyError::SizeOverflow)
}

/// Read the preamble at the start of a `.npy` file.
///
/// `prefix` is the start of the file; it may be longer than the preamble
/// (the data that follows is ignored). Reads what NumPy's reader accepts:
/// the header dict may have its keys in any order, single or double quotes,
/// comments, any whitespace, trailing commas, parentheses, Python 2 long
/// integers (`3L`, in versions 1.0 and 2.0), integers in hex, octal or
/// binary or with underscores; no trailing newline or alignment is
/// required. Duplicate keys are allowed, the last one wins (as in Python).
/// Unlike NumPy, `True`/`False` are not accepted as dimensions.
///
/// Never panics, and allocates at most in proportion to the bytes given.
///
/// # Errors
///
/// * [`NpyError::BadMagic`] if `prefix` does not start with [`MAGIC`] (or
///   a part of it, when shorter);
/// * [`NpyError::Truncated`] if `prefix` ends before the preamble does:
///   call again with at least `needed` bytes;
/// * [`NpyError::UnsupportedVersion`] for versions other than 1.0, 2.0 and
///   3.0;
/// * [`NpyError::HeaderTooLong`] if the header length field exceeds
///   [`MAX_HEADER_LEN`] (checked before the header is needed);
/// * [`NpyError::BadHeader`] if the header is not a Python dict literal
///   with exactly the keys `'descr'`, `'fortran_order'` (a bool) and
///   `'shape'` (a tuple of at most [`MAX_DIMS`] non-negative integers),
///   or a version 3.0 header is not UTF-8;
/// * [`NpyError::UnsupportedDType`] if `descr` is not a supported dtype,
///   including structured dtypes (a list) and subarrays (a tuple);
/// * [`NpyError::SizeOverflow`] if the array's size in bytes exceeds
///   [`MAX_DATA_LEN`].
pub fn parse_header(prefix: &[u8]) -> Result<Header, NpyError> {
    let have = prefix.len();
    let magic_len = have.min(MAGIC.len());
    if prefix[..magic_len] != MAGIC[..magic_len] {
        return Err(NpyError::BadMagic);
    }
    let (major, minor) = match prefix.get(MAGIC.len()..MAGIC.len() + 2) {
        Some(&[major, minor]) => (major, minor),
        _ => {
            return Err(NpyError::Truncated {
                needed: MAGIC.len() + 2,
                have,
            });
        }
    };
    let version = (major, minor);
    let start = prefix_len(version)?;
    let Some(len_field) = prefix.get(MAGIC.len() + 2..start) else {
        return Err(NpyError::Truncated {
            needed: start,
            have,
        });
    };
    let header_len = match *len_field {
        [a, b] => usize::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => usize::try_from(u32::from_le_bytes([a, b, c, d])).unwrap_or(usize::MAX),
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    if header_len > MAX_HEADER_LEN {
        return Err(NpyError::HeaderTooLong {
            len: header_len,
            max: MAX_HEADER_LEN,
        });
    }
    let data_offset = start + header_len;
    let Some(text) = prefix.get(start..data_offset) else {
        return Err(NpyError::Truncated {
            needed: data_offset,
            have,
        });
    };

    let utf8 = version == (3, 0);
    if utf8 {
        std::str::from_utf8(text).map_err(|e| NpyError::BadHeader {
            offset: start + e.valid_up_to(),
            what: "a version 3.0 header must be UTF-8, but this byte is not".to_owned(),
        })?;
    }
    if let Some(at) = text.iter().position(|&b| b == 0) {
        return Err(NpyError::BadHeader {
            offset: start + at,
            what: "the header contains a NUL byte".to_owned(),
        });
    }
    let parser = Parser {
        src: text,
        pos: 0,
        base: start,
        utf8,
        allow_long_suffix: !utf8,
    };
    let dict = parser.parse_all()?;
    let (dtype, fortran_order, shape) = interpret(&dict, text, start, utf8)?;
    Ok(Header {
        dtype,
        fortran_order,
        shape,
        version,
        data_offset,
    })
}

/// Check the parsed header literal as NumPy does and extract its fields.
fn interpret(
    dict: &Node,
    text: &[u8],
    base: usize,
    utf8: bool,
) -> Result<(DType, bool, Vec<usize>), NpyError> {
    let bad = |node: &Node, what: String| NpyError::BadHeader {
        offset: base + node.start,
        what,
    };
    let src = |node: &Node| snippet(text, node, utf8);

    let Value::Dict(entries) = &dict.value else {
        return Err(bad(
            dict,
            format!(
                "the header must be a Python dict literal, found {} {}",
                dict.value.type_name(),
                src(dict)
            ),
        ));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match &key.value {
            Value::Str(k) if k == "descr" => &mut descr,
            Value::Str(k) if k == "fortran_order" => &mut fortran,
            Value::Str(k) if k == "shape" => &mut shape,
            _ => {
                return Err(bad(
                    key,
                    format!(
                        "unexpected key {}: a .npy header has exactly the keys 'descr', \
                         'fortran_order' and 'shape'",
                        src(key)
                    ),
                ));
            }
        };
        *slot = Some(value);
    }
    let missing = |name: &str| {
        bad(
            dict,
            format!(
                "the header has no key '{name}': a .npy header has exactly the keys 'descr', \
                 'fortran_order' and 'shape'"
            ),
        )
    };
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape_node = shape.ok_or_else(|| missing("shape"))?;

    // 'shape': a tuple of non-negative ints.
    let Value::Tuple(dims) = &shape_node.value else {
        return Err(bad(
            shape_node,
            format!(
                "'shape' must be a tuple of non-negative integers, found {} {}",
                shape_node.value.type_name(),
                src(shape_node)
            ),
        ));
    };
    if dims.len() > MAX_DIMS {
        return Err(bad(
            shape_node,
            format!(
                "'shape' has {} dimensions; NumPy arrays have at most {MAX_DIMS}",
                dims.len()
            ),
        ));
    }
    let mut shape = Vec::with_capacity(dims.len());
    for dim in dims {
        match dim.value {
            Value::Int {
                negative,
                magnitude,
            } => match magnitude {
                Some(0) => shape.push(0),
                Some(_) if negative => {
                    return Err(bad(
                        dim,
                        format!("negative dimension {} in 'shape'", src(dim)),
                    ));
                }
                Some(m) => shape.push(usize::try_from(m).map_err(|_| NpyError::SizeOverflow)?),
                None if negative => {
                    return Err(bad(
                        dim,
                        format!("negative dimension {} in 'shape'", src(dim)),
                    ));
                }
                None => return Err(NpyError::SizeOverflow),
            },
            _ => {
                return Err(bad(
                    dim,
                    format!(
                        "'shape' entries must be non-negative integers, found {} {}",
                        dim.value.type_name(),
                        src(dim)
                    ),
                ));
            }
        }
    }

    // 'fortran_order': a bool.
    let Value::Bool(fortran_order) = fortran.value else {
        return Err(bad(
            fortran,
            format!(
                "'fortran_order' must be True or False, found {}",
                src(fortran)
            ),
        ));
    };

    // 'descr': a dtype string.
    let dtype = match &descr.value {
        Value::Str(s) => DType::parse(s).map_err(|e| NpyError::UnsupportedDType {
            descr: format!("'{}'", clip(s)),
            why: e.reason(),
        })?,
        Value::List => {
            return Err(NpyError::UnsupportedDType {
                descr: src(descr),
                why: "structured dtypes (record arrays) are not supported; save each field as \
                      a separate plain array"
                    .to_owned(),
            });
        }
        Value::Tuple(_) => {
            return Err(NpyError::UnsupportedDType {
                descr: src(descr),
                why: "subarray dtypes are not supported; save the array with the subarray \
                      axes as ordinary axes instead"
                    .to_owned(),
            });
        }
        other => {
            return Err(bad(
                descr,
                format!(
                    "'descr' must be a dtype string such as '<f8', found {} {}",
                    other.type_name(),
                    src(descr)
                ),
            ));
        }
    };

    check_size(dtype, &shape)?;
    Ok((dtype, fortran_order, shape))
}

/// Rewrite the header of `preamble` in place with a new shape, keeping
/// its length (so [`Header::data_offset`] does not change) and its
/// version: the new dict literal is padded with spaces up to the final
/// `'\n'`, as NumPy pads.
///
/// `preamble` is the start of the file (at least `header.data_offset`
/// bytes; only those are written) and `header` what [`parse_header`] read
/// from it (or [`Header::new`] made for it). The dtype and order stay
/// those of `header`. Growing the growth axis
/// ([`Header::growth_axis`]) of a file NumPy or [`Header::to_bytes`] wrote
/// always fits.
///
/// # Errors
///
/// Nothing is written on error.
///
/// * [`NpyError::Truncated`] if `preamble` is shorter than
///   `header.data_offset`;
/// * [`NpyError::UnsupportedVersion`] if `header.version` is not 1.0, 2.0
///   or 3.0;
/// * [`NpyError::BadHeader`] if `preamble` does not hold a preamble of
///   `header`'s version and length, or `new_shape` has more than
///   [`MAX_DIMS`] dimensions;
/// * [`NpyError::SizeOverflow`] if the new array would be too large;
/// * [`NpyError::NoRoom`] if the new header does not fit.
pub fn rewrite_shape(
    preamble: &mut [u8],
    header: &Header,
    new_shape: &[usize],
) -> Result<(), NpyError> {
    let start = prefix_len(header.version)?;
    let end = header.data_offset;
    let have = preamble.len();
    let Some(region) = preamble.get_mut(..end) else {
        return Err(NpyError::Truncated { needed: end, have });
    };
    let mismatch = |offset: usize, what: &str| NpyError::BadHeader {
        offset,
        what: format!("cannot rewrite the shape: {what}"),
    };
    if end <= start {
        return Err(mismatch(
            start,
            "the header's data_offset leaves no room for a header",
        ));
    }
    if &region[..MAGIC.len()] != MAGIC {
        return Err(mismatch(
            0,
            "the preamble does not start with the .npy magic",
        ));
    }
    if region[MAGIC.len()..MAGIC.len() + 2] != [header.version.0, header.version.1] {
        return Err(mismatch(
            MAGIC.len(),
            "the preamble's version differs from the header's",
        ));
    }
    let len_field = &region[MAGIC.len() + 2..start];
    let declared = match *len_field {
        [a, b] => usize::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => usize::try_from(u32::from_le_bytes([a, b, c, d])).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    if declared != end - start {
        return Err(mismatch(
            MAGIC.len() + 2,
            "the preamble's header length differs from the header's data_offset",
        ));
    }
    if new_shape.len() > MAX_DIMS {
        return Err(mismatch(
            start,
            &format!(
                "the new shape has {} dimensions; NumPy arrays have at most {MAX_DIMS}",
                new_shape.len()
            ),
        ));
    }
    check_size(header.dtype, new_shape)?;
    let dict = dict_literal(header.dtype, header.fortran_order, new_shape, false);
    let room = end - start;
    if dict.len() + 1 > room {
        return Err(NpyError::NoRoom {
            needed: dict.len() + 1,
            have: room,
        });
    }
    let text = &mut region[start..];
    text[..dict.len()].copy_from_slice(dict.as_bytes());
    text[dict.len()..room - 1].fill(b' ');
    text[room - 1] = b'\n';
    Ok(())
}

/// `node`'s source text for an error message (shortened if long).
fn snippet(text: &[u8], node: &Node, utf8: bool) -> String {
    let bytes = text.get(node.start..node.end).unwrap_or_default();
    let s: String = if utf8 {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    };
    clip(&s)
}

/// A parsed Python literal and where it is in the header.
#[derive(Debug)]
struct Node {
    /// Offset of its first byte in the header text.
    start: usize,
    /// Offset just past its last byte.
    end: usize,
    value: Value,
}

/// The Python literals a header may contain (a subset of what
/// `ast.literal_eval` accepts; the rest are rejected as syntax errors).
#[derive(Debug)]
enum Value {
    Str(String),
    Bytes,
    /// An integer; `magnitude` is `None` if it exceeds `u128`.
    Int {
        negative: bool,
        magnitude: Option<u128>,
    },
    /// A float or imaginary number (only ever rejected, so no value).
    Float,
    Bool(bool),
    None,
    Tuple(Vec<Node>),
    /// A list (its items are parsed but not needed).
    List,
    /// A set (its items are parsed but not needed).
    Set,
    Dict(Vec<(Node, Node)>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "the string",
            Value::Bytes => "the bytes literal",
            Value::Int { .. } => "the integer",
            Value::Float => "the number",
            Value::Bool(_) => "the bool",
            Value::None => "the value",
            Value::Tuple(_) => "the tuple",
            Value::List => "the list",
            Value::Set => "the set",
            Value::Dict(_) => "the dict",
        }
    }
}

/// A recursive-descent parser for the Python literal in a header.
struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    /// Offset of `src` in the file, for error offsets.
    base: usize,
    /// The text is UTF-8 (version 3.0), else latin-1.
    utf8: bool,
    /// Drop Python 2's `L` after integers, as NumPy does for versions < 3.0.
    allow_long_suffix: bool,
}

type PResult<T> = Result<T, NpyError>;

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Parser<'_> {
    fn error<T>(&self, at: usize, what: impl Into<String>) -> PResult<T> {
        Err(NpyError::BadHeader {
            offset: self.base + at,
            what: what.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    /// The whole header: one literal, then only whitespace and comments.
    fn parse_all(mut self) -> PResult<Node> {
        let node = self.parse_value(0)?;
        self.skip_blank()?;
        if self.pos < self.src.len() {
            return self.error(
                self.pos,
                format!(
                    "unexpected {} after the header dict",
                    self.describe_char(self.pos)
                ),
            );
        }
        Ok(node)
    }

    /// Skip whitespace, comments and backslash line continuations.
    fn skip_blank(&mut self) -> PResult<()> {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.pos += 1,
                b'#' => {
                    while !matches!(self.peek(), None | Some(b'\n' | b'\r')) {
                        self.pos += 1;
                    }
                }
                b'\\' => {
                    let at = self.pos;
                    match (self.peek_at(1), self.peek_at(2)) {
                        (Some(b'\r'), Some(b'\n')) => self.pos += 3,
                        (Some(b'\n' | b'\r'), _) => self.pos += 2,
                        _ => return self.error(at, "unexpected backslash"),
                    }
                    if self.peek().is_none() {
                        return self.error(at, "line continuation at the end of the header");
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// "the character 'x'" or "the end of the header" for messages.
    fn describe_char(&self, at: usize) -> String {
        match self.src.get(at) {
            None => "end of the header".to_owned(),
            Some(&b) if b.is_ascii_graphic() => format!("character '{}'", char::from(b)),
            Some(&b) => format!("byte 0x{b:02x}"),
        }
    }

    fn parse_value(&mut self, depth: usize) -> PResult<Node> {
        self.skip_blank()?;
        let start = self.pos;
        let Some(b) = self.peek() else {
            return self.error(start, "unexpected end of the header: a value is missing");
        };
        match b {
            b'{' | b'(' | b'[' => {
                if depth >= MAX_DEPTH {
                    return self
                        .error(start, format!("brackets nested more than {MAX_DEPTH} deep"));
                }
                self.pos += 1;
                match b {
                    b'{' => self.parse_dict_or_set(start, depth + 1),
                    b'(' => self.parse_tuple_or_group(start, depth + 1),
                    _ => {
                        self.parse_items(b']', depth + 1)?;
                        Ok(self.node(start, Value::List))
                    }
                }
            }
            b'\'' | b'"' => self.parse_strings(start),
            b'0'..=b'9' => self.parse_number(start, false),
            b'.' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.parse_number(start, false)
            }
            b'+' | b'-' => {
                self.pos += 1;
                self.skip_blank()?;
                match self.peek() {
                    Some(b'0'..=b'9') => self.parse_number(start, b == b'-'),
                    Some(b'.') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                        self.parse_number(start, b == b'-')
                    }
                    _ => self.error(
                        self.pos,
                        format!(
                            "expected a number after '{}', found the {}",
                            char::from(b),
                            self.describe_char(self.pos)
                        ),
                    ),
                }
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let name_end = self.ident_end(start);
                if self.at_prefixed_string() {
                    return self.parse_strings(start);
                }
                self.pos = name_end;
                let value = match &self.src[start..name_end] {
                    b"True" => Value::Bool(true),
                    b"False" => Value::Bool(false),
                    b"None" => Value::None,
                    name => {
                        return self.error(
                            start,
                            format!(
                                "unexpected name '{}': only literals (strings, numbers, True, \
                                 False, None, tuples, lists and dicts) may appear in a header",
                                clip(&String::from_utf8_lossy(name))
                            ),
                        );
                    }
                };
                Ok(self.node(start, value))
            }
            _ => self.error(start, format!("unexpected {}", self.describe_char(start))),
        }
    }

    fn node(&self, start: usize, value: Value) -> Node {
        Node {
            start,
            end: self.pos,
            value,
        }
    }

    /// True at a string prefix (`u`, `r`, `b`, `f` or a pair) and a quote.
    fn at_prefixed_string(&self) -> bool {
        let end = self.ident_end(self.pos);
        let prefix = &self.src[self.pos..end];
        prefix.len() <= 2
            && prefix
                .iter()
                .all(|b| matches!(b.to_ascii_lowercase(), b'u' | b'r' | b'b' | b'f'))
            && matches!(self.src.get(end), Some(b'\'' | b'"'))
    }

    fn ident_end(&self, from: usize) -> usize {
        let mut end = from;
        while self.src.get(end).copied().is_some_and(is_ident_byte) {
            end += 1;
        }
        end
    }

    /// Comma-separated values up to `close`, with an optional trailing comma.
    fn parse_items(&mut self, close: u8, depth: usize) -> PResult<Vec<Node>> {
        let mut items = Vec::new();
        loop {
            self.skip_blank()?;
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.parse_value(depth)?);
            if self.expect_comma_or(close)? {
                return Ok(items);
            }
        }
    }

    /// After an item: consume `,` (returns false) or `close` (returns true).
    fn expect_comma_or(&mut self, close: u8) -> PResult<bool> {
        self.skip_blank()?;
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => self.error(
                self.pos,
                format!(
                    "expected ',' or '{}', found the {}",
                    char::from(close),
                    self.describe_char(self.pos)
                ),
            ),
        }
    }

    fn parse_tuple_or_group(&mut self, start: usize, depth: usize) -> PResult<Node> {
        self.skip_blank()?;
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(self.node(start, Value::Tuple(Vec::new())));
        }
        let first = self.parse_value(depth)?;
        self.skip_blank()?;
        match self.peek() {
            // `(x)` is just `x`.
            Some(b')') => {
                self.pos += 1;
                Ok(first)
            }
            Some(b',') => {
                self.pos += 1;
                let mut items = vec![first];
                items.extend(self.parse_items(b')', depth)?);
                Ok(self.node(start, Value::Tuple(items)))
            }
            _ => self.error(
                self.pos,
                format!(
                    "expected ',' or ')', found the {}",
                    self.describe_char(self.pos)
                ),
            ),
        }
    }

    fn parse_dict_or_set(&mut self, start: usize, depth: usize) -> PResult<Node> {
        self.skip_blank()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(self.node(start, Value::Dict(Vec::new())));
        }
        let first = self.parse_value(depth)?;
        self.skip_blank()?;
        if self.peek() != Some(b':') {
            // A set literal `{a, b}`.
            if !self.expect_comma_or(b'}')? {
                self.parse_items(b'}', depth)?;
            }
            return Ok(self.node(start, Value::Set));
        }
        let mut entries = Vec::new();
        let mut key = first;
        loop {
            // At the ':' after `key`.
            self.skip_blank()?;
            if self.peek() != Some(b':') {
                return self.error(
                    self.pos,
                    format!(
                        "expected ':' after a dict key, found the {}",
                        self.describe_char(self.pos)
                    ),
                );
            }
            self.pos += 1;
            let value = self.parse_value(depth)?;
            entries.push((key, value));
            if self.expect_comma_or(b'}')? {
                break;
            }
            self.skip_blank()?;
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            key = self.parse_value(depth)?;
        }
        Ok(self.node(start, Value::Dict(entries)))
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn parse_strings(&mut self, start: usize) -> PResult<Node> {
        let mut text = String::new();
        let mut kind = None;
        loop {
            let lit_start = self.pos;
            let is_bytes = self.parse_string_literal(&mut text)?;
            match kind {
                None => kind = Some(is_bytes),
                Some(k) if k != is_bytes => {
                    return self.error(lit_start, "cannot mix bytes and str literals");
                }
                Some(_) => {}
            }
            let end = self.pos;
            self.skip_blank()?;
            let next_is_string = match self.peek() {
                Some(b'\'' | b'"') => true,
                Some(_) => self.at_prefixed_string(),
                _ => false,
            };
            if !next_is_string {
                self.pos = end;
                break;
            }
        }
        let value = if kind == Some(true) {
            Value::Bytes
        } else {
            Value::Str(text)
        };
        Ok(self.node(start, value))
    }

    /// One string literal with its prefix; appends its value to `out`.
    /// Returns whether it is a bytes literal.
    fn parse_string_literal(&mut self, out: &mut String) -> PResult<bool> {
        let start = self.pos;
        let prefix_end = self.ident_end(start);
        let prefix = self.src[start..prefix_end].to_ascii_lowercase();
        let (raw, bytes) = match prefix.as_slice() {
            b"" | b"u" => (false, false),
            b"r" => (true, false),
            b"b" => (false, true),
            b"br" | b"rb" => (true, true),
            b"f" | b"fr" | b"rf" => {
                return self.error(start, "f-strings are not literals");
            }
            _ => {
                return self.error(
                    start,
                    format!(
                        "unknown string prefix '{}'",
                        clip(&String::from_utf8_lossy(&self.src[start..prefix_end]))
                    ),
                );
            }
        };
        self.pos = prefix_end;
        let Some(quote) = self.peek() else {
            return self.error(self.pos, "unexpected end of the header in a string");
        };
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        loop {
            let Some(b) = self.peek() else {
                return self.error(start, "unterminated string literal");
            };
            if b == quote {
                if !triple {
                    self.pos += 1;
                    return Ok(bytes);
                }
                if self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) {
                    self.pos += 3;
                    return Ok(bytes);
                }
                out.push(char::from(b));
                self.pos += 1;
                continue;
            }
            if (b == b'\n' || b == b'\r') && !triple {
                return self.error(start, "unterminated string literal (newline inside it)");
            }
            if b == b'\\' {
                if raw {
                    // A raw string keeps the backslash and the character
                    // after it (which may be the quote).
                    out.push('\\');
                    self.pos += 1;
                    self.push_char(out)?;
                } else {
                    self.parse_escape(out, bytes)?;
                }
                continue;
            }
            self.push_char(out)?;
        }
    }

    /// Append the character at `pos` (latin-1 or UTF-8) and step over it.
    fn push_char(&mut self, out: &mut String) -> PResult<()> {
        let Some(b) = self.peek() else {
            return Ok(());
        };
        if b.is_ascii() || !self.utf8 {
            out.push(char::from(b));
            self.pos += 1;
            return Ok(());
        }
        let width = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        let decoded = self
            .src
            .get(self.pos..self.pos + width)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.chars().next());
        match decoded {
            Some(c) => {
                out.push(c);
                self.pos += width;
                Ok(())
            }
            None => self.error(self.pos, "invalid UTF-8 in a string"),
        }
    }

    /// A backslash escape in a non-raw string, at `pos` (the backslash).
    fn parse_escape(&mut self, out: &mut String, bytes: bool) -> PResult<()> {
        let at = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return self.error(at, "unterminated string literal");
        };
        self.pos += 1;
        let simple = match c {
            b'\n' => return Ok(()),
            b'\r' => {
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
                return Ok(());
            }
            b'\\' => '\\',
            b'\'' => '\'',
            b'"' => '"',
            b'a' => '\x07',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'v' => '\x0b',
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            b'x' => self.hex_escape(at, 2)?,
            b'u' if !bytes => self.hex_escape(at, 4)?,
            b'U' if !bytes => self.hex_escape(at, 8)?,
            b'N' if !bytes => {
                return self.error(at, "\\N{...} escapes are not supported in a header");
            }
            _ => {
                // Python keeps unknown escapes as they are.
                self.pos -= 1;
                out.push('\\');
                return self.push_char(out);
            }
        };
        out.push(simple);
        Ok(())
    }

    fn hex_escape(&mut self, at: usize, digits: usize) -> PResult<char> {
        let hex = self
            .src
            .get(self.pos..self.pos + digits)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        let Some(hex) = hex else {
            return self.error(
                at,
                format!("truncated \\x/\\u/\\U escape: {digits} hex digits expected"),
            );
        };
        let value = hex.iter().fold(0u32, |v, &h| {
            v * 16 + char::from(h).to_digit(16).unwrap_or(0)
        });
        self.pos += digits;
        match char::from_u32(value) {
            Some(c) => Ok(c),
            None => self.error(at, "escape is not a valid Unicode character"),
        }
    }

    /// A number literal at `pos`; the node starts at `start` (a sign).
    fn parse_number(&mut self, start: usize, negative: bool) -> PResult<Node> {
        let num_start = self.pos;
        let radix = match (self.peek(), self.peek_at(1)) {
            (Some(b'0'), Some(b'x' | b'X')) => 16,
            (Some(b'0'), Some(b'o' | b'O')) => 8,
            (Some(b'0'), Some(b'b' | b'B')) => 2,
            _ => 10,
        };
        let value = if radix == 10 {
            self.parse_decimal(num_start, negative)?
        } else {
            self.pos += 2;
            let (magnitude, ndigits) = self.parse_digits(radix, true)?;
            if ndigits == 0 {
                return self.error(num_start, "invalid integer literal: no digits after prefix");
            }
            Value::Int {
                negative,
                magnitude,
            }
        };
        let literal_end = self.pos;
        // Python 2 long integers: NumPy drops a name token `L` after a number.
        if self.allow_long_suffix {
            loop {
                // Only spaces may separate the tokens: a comment or a
                // newline inside brackets is a token of its own.
                let save = self.pos;
                while matches!(self.peek(), Some(b' ' | b'\t' | b'\x0c')) {
                    self.pos += 1;
                }
                let end = self.ident_end(self.pos);
                if &self.src[self.pos..end] == b"L" {
                    self.pos = end;
                } else {
                    self.pos = save;
                    break;
                }
            }
        }
        if self.pos == literal_end && self.peek().is_some_and(is_ident_byte) {
            return self.error(
                num_start,
                format!(
                    "invalid number literal: unexpected {} after the digits",
                    self.describe_char(self.pos)
                ),
            );
        }
        let mut node = self.node(start, value);
        node.end = literal_end;
        Ok(node)
    }

    /// Digits of `radix` with single underscores between them (and, after a
    /// radix prefix, before the first). Returns the value (`None` on
    /// overflow) and the digit count.
    fn parse_digits(
        &mut self,
        radix: u32,
        underscore_first: bool,
    ) -> PResult<(Option<u128>, usize)> {
        let mut value = Some(0u128);
        let mut ndigits = 0usize;
        loop {
            let at = self.pos;
            let underscore = self.peek() == Some(b'_');
            if underscore {
                if ndigits == 0 && !underscore_first {
                    break;
                }
                self.pos += 1;
            }
            match self.peek().and_then(|b| char::from(b).to_digit(radix)) {
                Some(d) => {
                    value = value
                        .and_then(|v| v.checked_mul(u128::from(radix)))
                        .and_then(|v| v.checked_add(u128::from(d)));
                    ndigits += 1;
                    self.pos += 1;
                }
                None if underscore => {
                    return self.error(at, "invalid number literal: misplaced '_'");
                }
                None => break,
            }
        }
        Ok((value, ndigits))
    }

    fn parse_decimal(&mut self, num_start: usize, negative: bool) -> PResult<Value> {
        let (magnitude, int_digits) = self.parse_digits(10, false)?;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            self.parse_digits(10, false)?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let (_, exp_digits) = self.parse_digits(10, false)?;
            if exp_digits == 0 {
                self.pos = save;
            } else {
                is_float = true;
            }
        }
        if matches!(self.peek(), Some(b'j' | b'J')) {
            is_float = true;
            self.pos += 1;
        }
        if is_float {
            return Ok(Value::Float);
        }
        // Python forbids leading zeros in non-zero decimal integers.
        if int_digits > 1 && self.src[num_start] == b'0' && magnitude != Some(0) {
            return self.error(
                num_start,
                "leading zeros in decimal integer literals are not permitted",
            );
        }
        Ok(Value::Int {
            negative,
            magnitude,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::dtype::{ByteOrder, Kind, Scalar};
    use proptest::prelude::*;

    const GOOD: &str = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }";

    /// A preamble of `version` around exactly `text` (no padding added).
    fn preamble(version: (u8, u8), text: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version.0, version.1]);
        if version.0 == 1 {
            out.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
        } else {
            out.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
        }
        out.extend_from_slice(text);
        out
    }

    fn parse_v(version: (u8, u8), text: &str) -> Result<Header, NpyError> {
        parse_header(&preamble(version, text.as_bytes()))
    }

    fn parse_v1(text: &str) -> Result<Header, NpyError> {
        parse_v((1, 0), text)
    }

    fn f8() -> DType {
        DType::parse("<f8").unwrap()
    }

    fn all_dtypes() -> Vec<DType> {
        let mut out = Vec::new();
        for d in DType::ALL_NATIVE {
            for order in [ByteOrder::Little, ByteOrder::Big] {
                let d = d.with_byte_order(order);
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }

    // ---- Writing ------------------------------------------------------

    #[test]
    fn to_bytes_matches_numpy_byte_for_byte() {
        // Expected bytes from NumPy 2.4's `_write_array_header`.
        let spaces = |n: usize| " ".repeat(n);
        let cases: Vec<(Header, String)> = vec![
            (
                Header::new(f8(), false, [3, 4]),
                format!("\u{93}NUMPY\u{1}\u{0}v\u{0}{GOOD}{}\n", spaces(58)),
            ),
            (
                Header::new(DType::parse(">i4").unwrap(), true, [2, 3, 4]),
                format!(
                    "\u{93}NUMPY\u{1}\u{0}v\u{0}{{'descr': '>i4', 'fortran_order': True, \
                     'shape': (2, 3, 4), }}{}\n",
                    spaces(56)
                ),
            ),
            (
                Header::new(DType::BOOL, false, []),
                format!(
                    "\u{93}NUMPY\u{1}\u{0}v\u{0}{{'descr': '|b1', 'fortran_order': False, \
                     'shape': (), }}{}\n",
                    spaces(62)
                ),
            ),
            // No padding needed: NumPy then pads a full 64 bytes.
            (
                Header::new(DType::parse("<c16").unwrap(), false, [10; 11]),
                format!(
                    "\u{93}NUMPY\u{1}\u{0}\u{b6}\u{0}{{'descr': '<c16', 'fortran_order': False, \
                     'shape': (10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10), }}{}\n",
                    spaces(19 + 64)
                ),
            ),
        ];
        for (header, expected) in cases {
            // The expected strings only use chars < 256: one byte each.
            let expected: Vec<u8> = expected.chars().map(|c| c as u8).collect();
            let bytes = header.to_bytes();
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&expected)
            );
            assert_eq!(bytes, expected);
            assert_eq!(header.version, (1, 0));
            assert_eq!(header.data_offset, bytes.len());
            assert_eq!(bytes.len() % ALIGN, 0);
            assert_eq!(parse_header(&bytes).unwrap(), header);
        }
    }

    #[test]
    fn to_bytes_with_version_matches_numpy() {
        let header = Header::new(DType::parse("<c16").unwrap(), false, [5]);
        let v3 = header.to_bytes_with_version((3, 0)).unwrap();
        let mut expected = b"\x93NUMPY\x03\x00t\x00\x00\x00".to_vec();
        expected.extend_from_slice(b"{'descr': '<c16', 'fortran_order': False, 'shape': (5,), }");
        expected.resize(127, b' ');
        expected.push(b'\n');
        assert_eq!(v3, expected);
        let parsed = parse_header(&v3).unwrap();
        assert_eq!(parsed.version, (3, 0));
        assert_eq!(parsed.shape, [5]);
        let v2 = header.to_bytes_with_version((2, 0)).unwrap();
        assert_eq!(&v2[6..12], b"\x02\x00t\x00\x00\x00");
        assert_eq!(&v2[12..], &v3[12..]);
        assert_eq!(
            header.to_bytes_with_version((1, 0)).unwrap(),
            header.to_bytes()
        );
        assert_eq!(
            header.to_bytes_with_version((4, 0)),
            Err(NpyError::UnsupportedVersion { major: 4, minor: 0 })
        );
    }

    #[test]
    fn huge_headers_switch_to_version_2() {
        // NumPy: 25 000 dims of 1 need version 2.0, 75 136 bytes.
        let header = Header::new(DType::I64, false, vec![1; 25_000]);
        assert_eq!(header.version, (2, 0));
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), 75_136);
        assert_eq!(header.data_offset, 75_136);
        assert_eq!(&bytes[..12], b"\x93NUMPY\x02\x00t%\x01\x00");
        assert_eq!(
            header.to_bytes_with_version((1, 0)),
            Err(NpyError::HeaderTooLong {
                len: 75_126,
                max: 65_535
            })
        );
        // ... while 21 000 dims of 3 in Fortran order still fit 1.0.
        let header = Header::new(DType::I64, true, vec![3; 21_000]);
        assert_eq!(header.version, (1, 0));
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), 63_104);
        assert_eq!(&bytes[..10], b"\x93NUMPY\x01\x00v\xf6");
        // These parse only up to NumPy's 64 dimensions.
        assert!(matches!(
            parse_header(&bytes),
            Err(NpyError::BadHeader { what, .. }) if what.contains("at most 64")
        ));
    }

    #[test]
    fn header_accessors() {
        let h = Header::new(f8(), false, [3, 4]);
        assert_eq!(h.num_elements(), Some(12));
        assert_eq!(h.data_len(), Some(96));
        assert_eq!(h.growth_axis(), Some(0));
        let h = Header::new(DType::C64, true, [2, 0, 5]);
        assert_eq!(h.num_elements(), Some(0));
        assert_eq!(h.data_len(), Some(0));
        assert_eq!(h.growth_axis(), Some(2));
        let h = Header::new(DType::U8, true, []);
        assert_eq!(h.num_elements(), Some(1));
        assert_eq!(h.data_len(), Some(1));
        assert_eq!(h.growth_axis(), None);
        let h = Header::new(DType::U8, false, vec![usize::MAX, 2]);
        assert_eq!(h.num_elements(), None);
        assert_eq!(h.data_len(), None);
        let h = Header::new(f8(), false, vec![usize::MAX]);
        assert_eq!(h.num_elements(), Some(usize::MAX));
        assert_eq!(h.data_len(), None);
        // Header::new takes vectors, arrays and slices.
        let shape: &[usize] = &[7];
        assert_eq!(Header::new(f8(), false, shape).shape, vec![7]);
    }

    #[test]
    fn growth_room_is_reserved_on_the_right_axis() {
        // C order: 21 - digits(shape[0]) spaces; Fortran: of shape[-1].
        let c = Header::new(f8(), false, [12_345, 1]).to_bytes();
        let f = Header::new(f8(), true, [12_345, 1]).to_bytes();
        let text = |b: &[u8]| String::from_utf8(b[10..].to_vec()).unwrap();
        let (c, f) = (text(&c), text(&f));
        assert!(c.contains(&format!("(12345, 1), }}{}", " ".repeat(16))));
        assert!(f.contains(&format!("(12345, 1), }}{}", " ".repeat(20))));
        // A 0-d array gets no growth room, only alignment padding.
        let h = Header::new(f8(), false, []);
        assert_eq!(h.data_offset, 128);
    }

    // ---- Reading: accepted -------------------------------------------

    #[test]
    fn parses_numpy_header() {
        let bytes = Header::new(f8(), false, [3, 4]).to_bytes();
        let h = parse_header(&bytes).unwrap();
        assert_eq!(h.dtype, f8());
        assert!(!h.fortran_order);
        assert_eq!(h.shape, [3, 4]);
        assert_eq!(h.version, (1, 0));
        assert_eq!(h.data_offset, 128);
        // Data after the preamble is ignored.
        let mut with_data = bytes.clone();
        with_data.extend_from_slice(&[0xff; 96]);
        assert_eq!(parse_header(&with_data).unwrap(), h);
    }

    #[test]
    fn accepts_what_numpys_literal_parser_accepts() {
        // Each was checked against NumPy 2.4's reader.
        let cases: &[(&str, &str, bool, &[usize])] = &[
            (GOOD, "<f8", false, &[3, 4]),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "  {'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "\n{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "\t{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "\x0c{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "\r{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\n\n  \n",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\r\n",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\t",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} # c",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', # c\n 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "({'descr': '<f8', 'fortran_order': False, 'shape': (3,)})",
                "<f8",
                false,
                &[3],
            ),
            (
                "{\"descr\": \"<f8\", 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': ()}",
                "<f8",
                false,
                &[],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': ( )}",
                "<f8",
                false,
                &[],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L)}",
                "<f8",
                false,
                &[3, 4],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3 L, 4L)}",
                "<f8",
                false,
                &[3, 4],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 0x10L)}",
                "<f8",
                false,
                &[3, 16],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (0x10,)}",
                "<f8",
                false,
                &[16],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1_0,)}",
                "<f8",
                false,
                &[10],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (0b11, 0o7, 0X1f, 0_0)}",
                "<f8",
                false,
                &[3, 7, 31, 0],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (0x_1f,)}",
                "<f8",
                false,
                &[31],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (00,)}",
                "<f8",
                false,
                &[0],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-0,)}",
                "<f8",
                false,
                &[0],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (+3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (+ 3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (3,\n 4)}",
                "<f8",
                false,
                &[3, 4],
            ),
            (
                "{'descr': '<f8',\n 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', \\\n 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', \\\r\n 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': ((3),)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f8', 'fortran_order': (False), 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': ('<f8'), 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr':'<f8','fortran_order':False,'shape':(3,4,)}",
                "<f8",
                false,
                &[3, 4],
            ),
            (
                "{'shape': (3,), 'fortran_order': True, 'descr': '>i2'}",
                ">i2",
                true,
                &[3],
            ),
            (
                "{'descr': u'<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': U'<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': r'<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<' 'f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<' \n \"f\" u'8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'desc' 'r': '<f8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<\\x66\\x38', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<\\u0066\\U00000038', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<\\1468', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '<f\\\n8', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '''<f8''', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': \"\"\"<f8\"\"\", 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': 'float64', 'fortran_order': False, 'shape': (3,)}",
                "<f8",
                false,
                &[3],
            ),
            (
                "{'descr': '=u2', 'fortran_order': False, 'shape': (3,)}",
                "<u2",
                false,
                &[3],
            ),
            // Duplicate keys: the last one wins, as in a Python dict.
            (
                "{'descr': '<f8', 'descr': '<i4', 'fortran_order': False, 'shape': (3,)}",
                "<i4",
                false,
                &[3],
            ),
            // Large but valid.
            (
                "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775807,)}",
                "|u1",
                false,
                &[9_223_372_036_854_775_807],
            ),
            (
                "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 9223372036854775807)}",
                "|u1",
                false,
                &[0, 9_223_372_036_854_775_807],
            ),
        ];
        for &(text, descr, fortran, shape) in cases {
            let h = parse_v1(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(h.dtype.descr(), descr, "{text:?}");
            assert_eq!(h.fortran_order, fortran, "{text:?}");
            assert_eq!(h.shape, shape, "{text:?}");
            assert_eq!(h.data_offset, 10 + text.len());
            assert!(h.num_elements().is_some() && h.data_len().is_some());
        }
    }

    #[test]
    fn python2_long_suffix_only_before_version_3() {
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L)}";
        assert_eq!(parse_v((2, 0), text).unwrap().shape, [3, 4]);
        assert!(matches!(
            parse_v((3, 0), text),
            Err(NpyError::BadHeader { .. })
        ));
        // Only a separate name token `L` is dropped.
        for bad in ["(3l,)", "(3Lx,)", "(3LL,)", "(3\nL,)"] {
            let text = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {bad}}}");
            assert!(
                matches!(parse_v1(&text), Err(NpyError::BadHeader { .. })),
                "{bad}"
            );
        }
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3 L L,)}";
        assert_eq!(parse_v1(text).unwrap().shape, [3]);
    }

    #[test]
    fn version_3_headers_are_utf8() {
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} # é ✓";
        assert_eq!(parse_v((3, 0), text).unwrap().shape, [3]);
        // A key with non-ASCII characters is decoded, then rejected by name.
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'é': 1}";
        match parse_v((3, 0), text) {
            Err(NpyError::BadHeader { what, offset }) => {
                assert!(what.contains("'é'"), "{what}");
                assert_eq!(offset, 12 + text.find("'é'").unwrap());
            }
            other => panic!("{other:?}"),
        }
        let mut raw = b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} #".to_vec();
        raw.push(0xe9);
        match parse_header(&preamble((3, 0), &raw)) {
            Err(NpyError::BadHeader { offset, what }) => {
                assert_eq!(offset, 12 + raw.len() - 1);
                assert!(what.contains("UTF-8"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        // The same byte is fine in a latin-1 comment (versions 1.0 and 2.0).
        assert!(parse_header(&preamble((1, 0), &raw)).is_ok());
        assert!(parse_header(&preamble((2, 0), &raw)).is_ok());
    }

    #[test]
    fn accepts_headers_up_to_the_limit() {
        let mut text = GOOD.as_bytes().to_vec();
        text.resize(MAX_HEADER_LEN - 1, b' ');
        text.push(b'\n');
        let h = parse_header(&preamble((2, 0), &text)).unwrap();
        assert_eq!(h.data_offset, 12 + MAX_HEADER_LEN);
        assert_eq!(h.shape, [3, 4]);
    }

    // ---- Reading: rejected -------------------------------------------

    #[test]
    fn rejects_bad_magic() {
        for bytes in [
            &b"NUMPY\x01\x00"[..],
            b"\x93NUMPX\x01\x00v\x00",
            b"\x94",
            b"x",
            b"PK\x03\x04 a zip file",
            b"\x93numpy\x01\x00",
        ] {
            assert_eq!(parse_header(bytes), Err(NpyError::BadMagic), "{bytes:?}");
        }
    }

    #[test]
    fn reports_truncation_at_every_point() {
        for version in [(1, 0), (2, 0), (3, 0)] {
            let bytes = Header::new(f8(), false, [3, 4])
                .to_bytes_with_version(version)
                .unwrap();
            let start = if version == (1, 0) { 10 } else { 12 };
            for k in 0..bytes.len() {
                let needed = if k < 8 {
                    8
                } else if k < start {
                    start
                } else {
                    bytes.len()
                };
                assert_eq!(
                    parse_header(&bytes[..k]),
                    Err(NpyError::Truncated { needed, have: k }),
                    "{version:?} cut at {k}"
                );
            }
            assert!(parse_header(&bytes).is_ok());
        }
    }

    #[test]
    fn rejects_unknown_versions() {
        for (major, minor) in [(4, 0), (1, 1), (0, 0), (2, 1), (3, 1), (255, 255)] {
            let mut bytes = Header::new(f8(), false, [3]).to_bytes();
            bytes[6] = major;
            bytes[7] = minor;
            let expected = Err(NpyError::UnsupportedVersion { major, minor });
            assert_eq!(parse_header(&bytes), expected);
            assert_eq!(parse_header(&bytes[..8]), expected);
        }
    }

    #[test]
    fn rejects_overlong_headers_before_reading_them() {
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend_from_slice(&u32::try_from(MAX_HEADER_LEN + 1).unwrap().to_le_bytes());
        assert_eq!(
            parse_header(&bytes),
            Err(NpyError::HeaderTooLong {
                len: MAX_HEADER_LEN + 1,
                max: MAX_HEADER_LEN
            })
        );
        let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(GOOD.as_bytes());
        assert!(matches!(
            parse_header(&bytes),
            Err(NpyError::HeaderTooLong { .. })
        ));
    }

    /// `(text, fragment of the message, fragment of the text where the
    /// error is reported)`; every one is rejected by NumPy 2.4 too.
    const BAD_HEADERS: &[(&str, &str, &str)] = &[
        ("", "unexpected end", ""),
        ("   \n  ", "unexpected end", ""),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,),,}",
            "expected",
            ",}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,,)}",
            "unexpected character ','",
            ",)",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (,)}",
            "unexpected character ','",
            ",)",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3)}",
            "the integer 3",
            "3)",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': [3]}",
            "the list [3]",
            "[3]",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': 3}",
            "tuple",
            "3}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3l,)}",
            "invalid number",
            "3l",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (010,)}",
            "leading zeros",
            "010",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0_1,)}",
            "leading zeros",
            "0_1",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1__0,)}",
            "misplaced '_'",
            "__0",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (10_,)}",
            "misplaced '_'",
            "_,",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0x,)}",
            "no digits",
            "0x",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0x1g,)}",
            "invalid number",
            "0x1g",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (--3,)}",
            "expected a number",
            "-3",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}",
            "negative dimension -3",
            "-3",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (- 3,)}",
            "negative dimension",
            "- 3",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1L)}",
            "negative dimension",
            "-1L",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-99999999999999999999999999999999999999999,)}",
            "negative dimension",
            "-9999",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (True,)}",
            "the bool True",
            "True,",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1e3,)}",
            "the number 1e3",
            "1e3",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,)}",
            "the number 3.0",
            "3.0",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3j,)}",
            "the number 3j",
            "3j",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': ('3',)}",
            "the string '3'",
            "'3'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (None,)}",
            "None",
            "None,",
        ),
        (
            "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}",
            "True or False, found 0",
            "0,",
        ),
        (
            "{'descr': '<f8', 'fortran_order': None, 'shape': (3,)}",
            "True or False",
            "None",
        ),
        (
            "{'descr': '<f8', 'fortran_order': 'False', 'shape': (3,)}",
            "True or False",
            "'False'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': false, 'shape': (3,)}",
            "unexpected name 'false'",
            "false",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}",
            "unexpected key 'x'",
            "'x'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 1: 1}",
            "unexpected key 1",
            "1: 1",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), b'x': 1}",
            "unexpected key b'x'",
            "b'x'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'Shape': (3,)}",
            "unexpected key 'Shape'",
            "'Shape'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False}",
            "no key 'shape'",
            "{",
        ),
        (
            "{'descr': '<f8', 'shape': (3,)}",
            "no key 'fortran_order'",
            "{",
        ),
        (
            "{'fortran_order': False, 'shape': (3,)}",
            "no key 'descr'",
            "{",
        ),
        ("{}", "no key 'descr'", "{"),
        (
            "{'descr': b'<f8', 'fortran_order': False, 'shape': (3,)}",
            "the bytes literal b'<f8'",
            "b'<f8'",
        ),
        (
            "{'descr': 8, 'fortran_order': False, 'shape': (3,)}",
            "dtype string",
            "8,",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)};",
            "unexpected character ';'",
            ";",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}{}",
            "unexpected character '{'",
            "{}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\0",
            "NUL",
            "\0",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\n \n\0",
            "NUL",
            "\0",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), **{}}",
            "unexpected character '*'",
            "**",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} \\\n",
            "line continuation",
            "\\",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} \\ ",
            "backslash",
            "\\",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)",
            "expected ',' or '}'",
            "",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,",
            "unexpected end",
            "",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape' (3,)}",
            "expected ':'",
            "(3,)}",
        ),
        (
            "{'descr': '<f8' 'fortran_order': False, 'shape': (3,)}",
            "found the character ':'",
            ": False",
        ),
        (
            "{'descr': '<f8, 'fortran_order': False, 'shape': (3,)}",
            "found the character 'f'",
            "fortran_order'",
        ),
        (
            "{'descr': '<f8\n', 'fortran_order': False, 'shape': (3,)}",
            "unterminated string",
            "'<f8",
        ),
        (
            "{'descr': '''<f8', 'fortran_order': False, 'shape': (3,)}",
            "unterminated string",
            "'''",
        ),
        (
            "{'descr': f'<f8', 'fortran_order': False, 'shape': (3,)}",
            "f-strings",
            "f'",
        ),
        (
            "{'descr': x'<f8', 'fortran_order': False, 'shape': (3,)}",
            "unexpected name 'x'",
            "x'",
        ),
        (
            "{'descr': ub'<f8', 'fortran_order': False, 'shape': (3,)}",
            "unknown string prefix 'ub'",
            "ub'",
        ),
        (
            "{'descr': b'<f8' '', 'fortran_order': False, 'shape': (3,)}",
            "mix bytes and str",
            "'',",
        ),
        (
            "{'descr': '<\\x6', 'fortran_order': False, 'shape': (3,)}",
            "truncated",
            "\\x6",
        ),
        (
            "{'descr': '<\\N{DIGIT EIGHT}', 'fortran_order': False, 'shape': (3,)}",
            "\\N",
            "\\N",
        ),
        (
            "{'descr': '\\U00110000', 'fortran_order': False, 'shape': (3,)}",
            "not a valid Unicode",
            "\\U",
        ),
        (
            "[('descr', '<f8')]",
            "must be a Python dict literal, found the list",
            "[",
        ),
        ("{'descr', 'fortran_order', 'shape'}", "found the set", "{"),
        ("('descr', '<f8')", "found the tuple", "("),
        ("'descr'", "found the string", "'"),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}\u{a0}",
            "byte 0xc2",
            "\u{a0}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x",
            "unexpected character 'x'",
            "x",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,) 'x'}",
            "expected ',' or '}'",
            "'x'",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': .}",
            "unexpected character '.'",
            ".}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,) 5}",
            "expected ',' or '}'",
            "5}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': {1 2}}",
            "expected ',' or '}'",
            "2}",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': ([1 2],)}",
            "expected ',' or ']'",
            "2]",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3 4)}",
            "expected ',' or ')'",
            "4)",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2 3)}",
            "expected ',' or ')'",
            "3)",
        ),
    ];

    #[test]
    fn rejects_malformed_headers_with_the_offset_of_the_problem() {
        for &(text, fragment, at) in BAD_HEADERS {
            let err = parse_v1(text).unwrap_err();
            let NpyError::BadHeader { offset, what } = &err else {
                panic!("{text:?}: expected BadHeader, got {err:?}");
            };
            assert!(
                what.contains(fragment),
                "{text:?}: {what:?} lacks {fragment:?}"
            );
            let expected = if at.is_empty() {
                text.len()
            } else {
                text.rfind(at)
                    .unwrap_or_else(|| panic!("{at:?} not in {text:?}"))
            };
            // Errors at the end of the text may point at the end or at the
            // start of the construct left open.
            if at.is_empty() {
                assert!(*offset <= 10 + expected, "{text:?}: {offset}");
            } else {
                let first = text.find(at).unwrap();
                assert!(
                    *offset == 10 + expected || *offset == 10 + first,
                    "{text:?}: offset {offset}, expected {} ({at:?})",
                    10 + expected
                );
            }
            assert!(err.to_string().contains(&format!("at byte {offset}")));
        }
    }

    #[test]
    fn rejects_unsupported_dtypes() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "[('a', '<f8'), ('b', '<i4')]",
                "[('a', '<f8'), ('b', '<i4')]",
                "structured",
            ),
            ("[('', '<f8')]", "[('', '<f8')]", "structured"),
            ("('<f8', (2,))", "('<f8', (2,))", "subarray"),
            ("'|O'", "'|O'", "object"),
            ("'O'", "'O'", "object"),
            ("'<U5'", "'<U5'", "string"),
            ("'|S10'", "'|S10'", "string"),
            ("'|V8'", "'|V8'", "void"),
            ("'<M8[ns]'", "'<M8[ns]'", "datetime64"),
            ("'<m8[s]'", "'<m8[s]'", "datetime64"),
            ("'<f2'", "'<f2'", "float16"),
            ("'<f16'", "'<f16'", "long double"),
            ("'<i3'", "'<i3'", "3-byte"),
            ("'nonsense'", "'nonsense'", "recognises"),
            ("''", "''", "empty"),
        ];
        for &(descr_src, descr, why_fragment) in cases {
            let text = format!("{{'descr': {descr_src}, 'fortran_order': False, 'shape': (3,)}}");
            match parse_v1(&text) {
                Err(NpyError::UnsupportedDType { descr: d, why }) => {
                    assert_eq!(d, descr);
                    assert!(why.contains(why_fragment), "{descr}: {why}");
                }
                other => panic!("{descr}: {other:?}"),
            }
        }
        let msg = parse_v1("{'descr': '|O', 'fortran_order': False, 'shape': (3,)}")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("'|O'") && msg.contains("convert"), "{msg}");
    }

    #[test]
    fn rejects_sizes_that_overflow() {
        for shape in [
            "(99999999999999999999999999,)",
            "(18446744073709551616,)",
            "(340282366920938463463374607431768211456,)",
            "(4611686018427387904, 2)",
            "(1152921504606846976,)",
            "(1152921504606846976, 0)",
            "(0, 4294967296, 4294967296)",
            "(18446744073709551615,)",
        ] {
            let text = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}}}");
            assert_eq!(parse_v1(&text), Err(NpyError::SizeOverflow), "{shape}");
        }
        // Just below the limit.
        let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846975,)}";
        let h = parse_v1(text).unwrap();
        assert_eq!(h.data_len(), Some(MAX_DATA_LEN - 7));
    }

    #[test]
    fn rejects_too_many_dimensions() {
        let dims = |n: usize| vec!["1"; n].join(", ");
        let ok = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},)}}",
            dims(64)
        );
        assert_eq!(parse_v1(&ok).unwrap().shape.len(), 64);
        let bad = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},)}}",
            dims(65)
        );
        assert!(matches!(
            parse_v1(&bad),
            Err(NpyError::BadHeader { what, .. }) if what.contains("65 dimensions")
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for depth in [MAX_DEPTH + 1, 1000, 400_000] {
            let text = format!(
                "{{'descr': '<f8', 'fortran_order': False, 'shape': {}{}}}",
                "(".repeat(depth),
                ")".repeat(depth)
            );
            let bytes = preamble((2, 0), text.as_bytes());
            assert!(matches!(
                parse_header(&bytes),
                Err(NpyError::BadHeader { what, .. }) if what.contains("nested")
            ));
        }
        let ok = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': {}3,{}}}",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(parse_v1(&ok).unwrap().shape, [3]);
    }

    #[test]
    fn error_messages_explain() {
        let all = [
            NpyError::BadMagic,
            NpyError::Truncated {
                needed: 128,
                have: 20,
            },
            NpyError::UnsupportedVersion { major: 4, minor: 0 },
            NpyError::HeaderTooLong {
                len: 1 << 30,
                max: MAX_HEADER_LEN,
            },
            NpyError::BadHeader {
                offset: 17,
                what: "oops".to_owned(),
            },
            NpyError::UnsupportedDType {
                descr: "'|O'".to_owned(),
                why: "objects".to_owned(),
            },
            NpyError::SizeOverflow,
            NpyError::NoRoom {
                needed: 200,
                have: 118,
            },
        ];
        let fragments = [
            "magic",
            "at least 128 bytes",
            "4.0",
            "1073741824",
            "at byte 17: oops",
            "'|O'",
            "too large",
            "needs 200 bytes",
        ];
        for (e, fragment) in all.iter().zip(fragments) {
            let msg = e.to_string();
            assert!(msg.contains(fragment), "{msg}");
        }
    }

    // ---- Rewriting the shape -----------------------------------------

    #[test]
    fn rewrite_shape_grows_the_growth_axis_in_place() {
        for fortran in [false, true] {
            let header = Header::new(f8(), fortran, [3, 4]);
            let mut bytes = header.to_bytes();
            bytes.extend_from_slice(&[0xaa; 8]);
            let new_shape = if fortran {
                [3, 99_999_999_999]
            } else {
                [99_999_999_999, 4]
            };
            rewrite_shape(&mut bytes, &header, &new_shape).unwrap();
            assert_eq!(&bytes[128..], &[0xaa; 8], "data untouched");
            let parsed = parse_header(&bytes).unwrap();
            assert_eq!(parsed.shape, new_shape);
            assert_eq!(parsed.data_offset, header.data_offset);
            assert_eq!(parsed.version, header.version);
            assert_eq!(bytes[127], b'\n');
            // And back.
            rewrite_shape(&mut bytes, &parsed, &[3, 4]).unwrap();
            assert_eq!(bytes[..128], header.to_bytes()[..]);
        }
    }

    #[test]
    fn rewrite_shape_in_version_2_and_3_files() {
        for version in [(2, 0), (3, 0)] {
            let mut bytes = Header::new(DType::I32, false, [5])
                .to_bytes_with_version(version)
                .unwrap();
            let header = parse_header(&bytes).unwrap();
            rewrite_shape(&mut bytes, &header, &[12_345_678_901_234_567_890 / 4 / 2]).unwrap();
            let parsed = parse_header(&bytes).unwrap();
            assert_eq!(parsed.shape, [1_543_209_862_654_320_986]);
            assert_eq!(parsed.version, version);
        }
    }

    #[test]
    fn rewrite_shape_errors_leave_the_preamble_alone() {
        let header = Header::new(f8(), false, [3, 4]);
        let original = header.to_bytes();
        let check = |bytes: &mut Vec<u8>, h: &Header, shape: &[usize], expected: NpyError| {
            let before = bytes.clone();
            assert_eq!(rewrite_shape(bytes, h, shape), Err(expected));
            assert_eq!(*bytes, before);
        };
        // No room for many more dimensions.
        let mut bytes = original.clone();
        check(
            &mut bytes,
            &header,
            &[1; 22],
            NpyError::NoRoom {
                needed: 120,
                have: 118,
            },
        );
        // Too large.
        check(
            &mut bytes,
            &header,
            &[usize::MAX / 2, 3],
            NpyError::SizeOverflow,
        );
        // Too many dimensions.
        assert!(matches!(
            rewrite_shape(&mut bytes, &header, &[1; 65]),
            Err(NpyError::BadHeader { .. })
        ));
        // Preamble shorter than the header says.
        let mut short = original[..100].to_vec();
        check(
            &mut short,
            &header,
            &[5, 4],
            NpyError::Truncated {
                needed: 128,
                have: 100,
            },
        );
        // Preamble that is not the header's.
        let mut wrong_magic = original.clone();
        wrong_magic[1] = b'X';
        let before = wrong_magic.clone();
        assert!(matches!(
            rewrite_shape(&mut wrong_magic, &header, &[5, 4]),
            Err(NpyError::BadHeader { offset: 0, .. })
        ));
        assert_eq!(wrong_magic, before);
        let mut wrong_version = header.to_bytes_with_version((2, 0)).unwrap();
        assert!(matches!(
            rewrite_shape(&mut wrong_version, &header, &[5, 4]),
            Err(NpyError::BadHeader { offset: 6, .. })
        ));
        let mut stale = header.clone();
        stale.data_offset = 192;
        let mut long = original.clone();
        long.resize(256, 0);
        assert!(matches!(
            rewrite_shape(&mut long, &stale, &[5, 4]),
            Err(NpyError::BadHeader { offset: 8, .. })
        ));
        stale.data_offset = 10;
        assert!(matches!(
            rewrite_shape(&mut long, &stale, &[5, 4]),
            Err(NpyError::BadHeader { .. })
        ));
        stale.version = (9, 9);
        assert_eq!(
            rewrite_shape(&mut long, &stale, &[5, 4]),
            Err(NpyError::UnsupportedVersion { major: 9, minor: 9 })
        );
        assert_eq!(&long[..128], &original[..]);
    }

    #[test]
    fn rewrite_shape_of_0d_and_to_0d() {
        let header = Header::new(DType::U8, false, []);
        let mut bytes = header.to_bytes();
        rewrite_shape(&mut bytes, &header, &[7]).unwrap();
        assert_eq!(parse_header(&bytes).unwrap().shape, [7]);
        rewrite_shape(&mut bytes, &header, &[]).unwrap();
        assert_eq!(bytes, header.to_bytes());
    }

    // ---- Golden files written by NumPy ---------------------------------

    /// A minimal JSON reader for the fixture manifest (numbers kept as text
    /// so that 64-bit integers stay exact; Python's NaN/Infinity allowed).
    #[derive(Clone, Debug)]
    enum Json {
        Null,
        Bool(bool),
        Num(String),
        Str(String),
        Arr(Vec<Json>),
        Obj(Vec<(String, Json)>),
    }

    impl Json {
        fn parse(s: &str) -> Json {
            let mut p = JsonParser {
                s: s.as_bytes(),
                i: 0,
            };
            let v = p.value();
            p.ws();
            assert_eq!(p.i, s.len(), "trailing JSON");
            v
        }

        fn get(&self, key: &str) -> &Json {
            match self {
                Json::Obj(entries) => entries
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v)
                    .unwrap_or_else(|| panic!("no key {key}")),
                _ => panic!("not an object"),
            }
        }

        fn str(&self) -> &str {
            match self {
                Json::Str(s) => s,
                other => panic!("not a string: {other:?}"),
            }
        }

        fn bool(&self) -> bool {
            match self {
                Json::Bool(b) => *b,
                other => panic!("not a bool: {other:?}"),
            }
        }

        fn num<T: std::str::FromStr>(&self) -> T
        where
            T::Err: std::fmt::Debug,
        {
            match self {
                Json::Num(s) => s.parse().unwrap(),
                other => panic!("not a number: {other:?}"),
            }
        }

        fn arr(&self) -> &[Json] {
            match self {
                Json::Arr(items) => items,
                other => panic!("not an array: {other:?}"),
            }
        }
    }

    struct JsonParser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl JsonParser<'_> {
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
                self.i += 1;
            }
        }

        fn eat(&mut self, lit: &str) -> bool {
            if self.s[self.i..].starts_with(lit.as_bytes()) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }

        fn value(&mut self) -> Json {
            self.ws();
            match self.s[self.i] {
                b'{' => {
                    self.i += 1;
                    let mut entries = Vec::new();
                    loop {
                        self.ws();
                        if self.eat("}") {
                            return Json::Obj(entries);
                        }
                        self.eat(",");
                        self.ws();
                        let Json::Str(key) = self.value() else {
                            panic!("key")
                        };
                        self.ws();
                        assert!(self.eat(":"));
                        entries.push((key, self.value()));
                    }
                }
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        self.ws();
                        if self.eat("]") {
                            return Json::Arr(items);
                        }
                        self.eat(",");
                        items.push(self.value());
                    }
                }
                b'"' => {
                    self.i += 1;
                    let mut out = Vec::new();
                    loop {
                        match self.s[self.i] {
                            b'"' => break,
                            b'\\' => {
                                self.i += 1;
                                out.push(match self.s[self.i] {
                                    b'n' => b'\n',
                                    b't' => b'\t',
                                    c => c,
                                });
                            }
                            c => out.push(c),
                        }
                        self.i += 1;
                    }
                    self.i += 1;
                    Json::Str(String::from_utf8(out).unwrap())
                }
                b't' | b'f' | b'n' => {
                    for (lit, v) in [
                        ("true", Json::Bool(true)),
                        ("false", Json::Bool(false)),
                        ("null", Json::Null),
                    ] {
                        if self.eat(lit) {
                            return v;
                        }
                    }
                    panic!("bad JSON literal at {}", self.i);
                }
                _ => {
                    let start = self.i;
                    while self.s.get(self.i).is_some_and(|c| !b",]} \n".contains(c)) {
                        self.i += 1;
                    }
                    Json::Num(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
                }
            }
        }
    }

    fn fixture_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npy")
    }

    fn scalar_from_json(kind: Kind, v: &Json) -> Scalar {
        match kind {
            Kind::Bool => Scalar::Bool(v.bool()),
            Kind::Int => Scalar::Int(v.num()),
            Kind::UInt => Scalar::UInt(v.num()),
            Kind::Float => Scalar::Float(v.num()),
            Kind::Complex => Scalar::Complex(v.arr()[0].num(), v.arr()[1].num()),
        }
    }

    fn same(a: Scalar, b: Scalar) -> bool {
        let f = |x: f64, y: f64| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits();
        match (a, b) {
            (Scalar::Float(x), Scalar::Float(y)) => f(x, y),
            (Scalar::Complex(a, b), Scalar::Complex(c, d)) => f(a, c) && f(b, d),
            _ => a == b,
        }
    }

    /// Storage position of the element at C-order position `c_index`.
    fn storage_index(shape: &[usize], fortran: bool, c_index: usize) -> usize {
        if !fortran {
            return c_index;
        }
        let mut rest = c_index;
        let mut index = vec![0; shape.len()];
        for (axis, &len) in shape.iter().enumerate().rev() {
            index[axis] = rest % len;
            rest /= len;
        }
        let mut stride = 1;
        let mut pos = 0;
        for (axis, &len) in shape.iter().enumerate() {
            pos += index[axis] * stride;
            stride *= len;
        }
        pos
    }

    #[test]
    fn golden_files_written_by_numpy() {
        let dir = fixture_dir();
        let manifest = std::fs::read_to_string(dir.join("manifest.json"))
            .expect("run tests/fixtures/make_npy_fixtures.py to create the fixtures");
        let manifest = Json::parse(&manifest);
        let entries = manifest.arr();
        assert!(entries.len() >= 100, "only {} fixtures", entries.len());
        let mut descrs = std::collections::BTreeSet::new();
        let mut versions = std::collections::BTreeSet::new();
        let mut values_checked = 0;
        for entry in entries {
            let name = entry.get("name").str();
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let h = parse_header(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let shape: Vec<usize> = entry.get("shape").arr().iter().map(Json::num).collect();
            let version: Vec<u8> = entry.get("version").arr().iter().map(Json::num).collect();
            assert_eq!(h.dtype.descr(), entry.get("descr").str(), "{name}");
            assert_eq!(h.shape, shape, "{name}");
            assert_eq!(h.fortran_order, entry.get("fortran_order").bool(), "{name}");
            assert_eq!([h.version.0, h.version.1], version[..], "{name}");
            assert_eq!(
                h.data_offset,
                entry.get("data_offset").num::<usize>(),
                "{name}"
            );
            descrs.insert(h.dtype.descr());
            versions.insert(h.version);

            // Byte-for-byte agreement with NumPy's writer.
            let ours = Header::new(h.dtype, h.fortran_order, shape.clone());
            if h.version == (1, 0) {
                assert_eq!(ours.to_bytes(), bytes[..h.data_offset], "{name}");
                assert_eq!(ours, h, "{name}");
            } else {
                assert_eq!(
                    ours.to_bytes_with_version(h.version).unwrap(),
                    bytes[..h.data_offset],
                    "{name}"
                );
            }

            // Growing the growth axis in place keeps the file readable.
            if let Some(axis) = h.growth_axis() {
                let mut copy = bytes.clone();
                let mut grown = shape.clone();
                grown[axis] = 987_654_321;
                rewrite_shape(&mut copy, &h, &grown).unwrap();
                let again = parse_header(&copy).unwrap();
                assert_eq!(again.shape, grown, "{name}");
                assert_eq!(again.data_offset, h.data_offset, "{name}");
                assert_eq!(copy[h.data_offset..], bytes[h.data_offset..], "{name}");
            }

            if entry.get("header_only").bool() {
                assert_eq!(bytes.len(), h.data_offset, "{name}");
                continue;
            }
            let data = &bytes[h.data_offset..];
            assert_eq!(Some(data.len() as u64), h.data_len(), "{name}");
            let values = entry.get("values").arr();
            let strs = entry.get("strs").arr();
            assert_eq!(Some(values.len()), h.num_elements(), "{name}");
            let size = h.dtype.itemsize();
            for (c_index, (v, s)) in values.iter().zip(strs).enumerate() {
                let at = storage_index(&h.shape, h.fortran_order, c_index) * size;
                let got = h.dtype.decode(&data[at..at + size]);
                let expected = scalar_from_json(h.dtype.kind(), v);
                assert!(
                    same(got, expected),
                    "{name}[{c_index}]: {got:?} != {expected:?}"
                );
                assert_eq!(got.to_string(), s.str(), "{name}[{c_index}]");
                // Encoding gives NumPy's bytes back.
                let mut out = vec![0; size];
                h.dtype.encode(&got, &mut out);
                assert_eq!(out, data[at..at + size], "{name}[{c_index}]");
                values_checked += 1;
            }
        }
        let expected_descrs = [
            "|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f4", "<f8", "<c8",
            "<c16", ">i2", ">i4", ">u8", ">f4", ">f8", ">c16",
        ];
        for d in expected_descrs {
            assert!(descrs.contains(d), "no fixture with {d}");
        }
        assert_eq!(
            versions.into_iter().collect::<Vec<_>>(),
            [(1, 0), (2, 0), (3, 0)]
        );
        assert!(values_checked > 500, "{values_checked}");
    }

    // ---- Properties ----------------------------------------------------

    fn any_dtype() -> impl Strategy<Value = DType> {
        proptest::sample::select(all_dtypes())
    }

    fn any_dim() -> impl Strategy<Value = usize> {
        prop_oneof![
            4 => 0usize..20,
            2 => 0usize..100_000,
            1 => any::<u32>().prop_map(|d| d as usize),
            1 => any::<usize>(),
        ]
    }

    fn any_header() -> impl Strategy<Value = Header> {
        (
            any_dtype(),
            any::<bool>(),
            proptest::collection::vec(any_dim(), 0..=6),
        )
            .prop_map(|(dtype, fortran, shape)| Header::new(dtype, fortran, shape))
    }

    /// A header that parses: its size does not overflow.
    fn valid_header() -> impl Strategy<Value = Header> {
        any_header().prop_filter("size overflows", |h| check_size(h.dtype, &h.shape).is_ok())
    }

    proptest! {
        #[test]
        fn header_round_trips(header in any_header()) {
            let bytes = header.to_bytes();
            prop_assert_eq!(bytes.len() % ALIGN, 0);
            prop_assert_eq!(bytes.len(), header.data_offset);
            prop_assert_eq!(header.version, (1, 0));
            prop_assert_eq!(*bytes.last().unwrap(), b'\n');
            match parse_header(&bytes) {
                Ok(parsed) => prop_assert_eq!(parsed, header),
                Err(e) => {
                    prop_assert_eq!(e, NpyError::SizeOverflow);
                    prop_assert!(check_size(header.dtype, &header.shape).is_err());
                }
            }
        }

        #[test]
        fn header_round_trips_in_every_version(header in valid_header(), v in 1u8..=3) {
            let bytes = header.to_bytes_with_version((v, 0)).unwrap();
            prop_assert_eq!(bytes.len() % ALIGN, 0);
            let parsed = parse_header(&bytes).unwrap();
            prop_assert_eq!(parsed.version, (v, 0));
            prop_assert_eq!(parsed.data_offset, bytes.len());
            prop_assert_eq!((parsed.dtype, parsed.fortran_order), (header.dtype, header.fortran_order));
            prop_assert_eq!(parsed.shape, header.shape);
        }

        #[test]
        fn growth_axis_can_grow_to_any_length(header in valid_header(), new_len in any_dim()) {
            let Some(axis) = header.growth_axis() else { return Ok(()) };
            let mut bytes = header.to_bytes();
            let mut shape = header.shape.clone();
            shape[axis] = new_len;
            match rewrite_shape(&mut bytes, &header, &shape) {
                Ok(()) => {
                    let parsed = parse_header(&bytes).unwrap();
                    prop_assert_eq!(&parsed.shape, &shape);
                    prop_assert_eq!(parsed.data_offset, header.data_offset);
                    prop_assert_eq!(parsed.dtype, header.dtype);
                    // Rewriting is what NumPy would have written, modulo padding.
                    let fresh = Header::new(header.dtype, header.fortran_order, shape.clone());
                    if fresh.data_offset == header.data_offset {
                        prop_assert_eq!(fresh.to_bytes(), bytes);
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e, NpyError::SizeOverflow);
                    prop_assert!(check_size(header.dtype, &shape).is_err());
                }
            }
        }

        #[test]
        fn growth_to_the_largest_lengths_fits(header in valid_header()) {
            // Room for 21 digits: every usize fits (the size check aside).
            let Some(axis) = header.growth_axis() else { return Ok(()) };
            let mut shape = header.shape.clone();
            shape[axis] = usize::MAX;
            let dict = dict_literal(header.dtype, header.fortran_order, &shape, false);
            prop_assert!(dict.len() < header.data_offset - 10);
        }

        #[test]
        fn parse_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_header(&bytes);
        }

        #[test]
        fn parse_never_panics_on_random_headers(
            version in 1u8..=3,
            text in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = parse_header(&preamble((version, 0), &text));
        }

        #[test]
        fn parse_never_panics_on_mutated_preambles(
            header in any_header(),
            version in 1u8..=3,
            mutations in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..8),
            cut in any::<usize>(),
        ) {
            let mut bytes = header.to_bytes_with_version((version, 0)).unwrap();
            for (at, byte, how) in mutations {
                let at = at % bytes.len();
                match how {
                    0 => bytes[at] ^= 1 << (byte % 8),
                    1 => bytes[at] = byte,
                    2 => bytes.insert(at, byte),
                    _ => { bytes.remove(at); }
                }
                if bytes.is_empty() {
                    bytes.push(byte);
                }
            }
            let cut = cut % (bytes.len() + 1);
            for prefix in [&bytes[..], &bytes[..cut]] {
                if let Ok(h) = parse_header(prefix) {
                    prop_assert!(h.data_offset <= prefix.len());
                    prop_assert!(h.num_elements().is_some());
                    prop_assert!(h.data_len().is_some_and(|n| n <= MAX_DATA_LEN));
                    prop_assert!(h.shape.len() <= MAX_DIMS);
                }
            }
        }

        #[test]
        fn parse_never_panics_on_python_like_text(
            version in 1u8..=3,
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "(", ")", "[", "]", ",", ":", " ", "\n", "\t", "'descr'", "'shape'",
                "'fortran_order'", "'<f8'", "'|b1'", "\"<i4\"", "True", "False", "None", "3",
                "-1", "0x1f", "0b", "1_0", "L", " L", "#c\n", "\\\n", "\\", "'", "\"", "'''",
                "u'", "b'", "r'", "f'", "1e5", "1.5", "2j", "99999999999999999999999999999999999999999",
                "\\x41", "\\u00e9", "\\N{X}", "é", "\u{0}", "+", "-", ".", "_", "x", "\r",
            ]), 0..60),
        ) {
            let text = tokens.concat();
            if let Ok(h) = parse_header(&preamble((version, 0), text.as_bytes())) {
                prop_assert!(h.num_elements().is_some());
            }
        }

        #[test]
        fn parse_accepts_reordered_and_restyled_headers(
            header in valid_header(),
            order in Just([0usize, 1, 2]).prop_shuffle(),
            double_quotes in any::<bool>(),
            trailing_comma in any::<bool>(),
            space in proptest::sample::select(vec!["", " ", "  ", "\n", "\t"]),
        ) {
            let q = if double_quotes { '"' } else { '\'' };
            let shape = match header.shape.len() {
                1 => format!("({},)", header.shape[0]),
                _ => format!(
                    "({})",
                    header.shape.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
                ),
            };
            let items = [
                format!("{q}descr{q}:{space}{q}{}{q}", header.dtype.descr()),
                format!(
                    "{q}fortran_order{q}:{space}{}",
                    if header.fortran_order { "True" } else { "False" }
                ),
                format!("{q}shape{q}:{space}{shape}"),
            ];
            let body = order.iter().map(|&i| items[i].as_str()).collect::<Vec<_>>().join(",");
            let text = format!("{{{space}{body}{}}}", if trailing_comma { "," } else { "" });
            let parsed = parse_v1(&text).unwrap();
            prop_assert_eq!(parsed.dtype, header.dtype);
            prop_assert_eq!(parsed.fortran_order, header.fortran_order);
            prop_assert_eq!(parsed.shape, header.shape);
        }
    }
}
