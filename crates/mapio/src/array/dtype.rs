//! NumPy data types (dtypes): parsing and printing NumPy's descr strings,
//! and converting single elements between bytes and [`Scalar`] values.
//!
//! Only the fixed-size numeric dtypes are supported: `bool`, signed and
//! unsigned integers of 1, 2, 4 and 8 bytes, `float32`, `float64`,
//! `complex64` and `complex128`, each in little- or big-endian byte order.
//! Everything else NumPy knows (objects, strings, datetimes, structured
//! dtypes, `float16`, `longdouble`) is rejected by [`DType::parse`] with a
//! [`DTypeError`] that says why.
//!
//! ```
//! use mapio::array::dtype::{ByteOrder, DType, Kind, Scalar};
//!
//! let dt: DType = ">i4".parse().unwrap();
//! assert_eq!(dt.kind(), Kind::Int);
//! assert_eq!(dt.itemsize(), 4);
//! assert_eq!(dt.byte_order(), ByteOrder::Big);
//! assert_eq!(dt.name(), "int32");
//! assert_eq!(dt.decode(&[0xff, 0xff, 0xff, 0xfe]), Scalar::Int(-2));
//! assert_eq!(DType::parse("float64").unwrap().descr(), "<f8");
//! ```

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

use num_complex::Complex;

/// Read a `$t` at `$at` of a 16-byte buffer in little or big endian order.
macro_rules! get_num {
    ($t:ty, $buf:expr, $at:expr, $big:expr) => {{
        let bytes = take::<{ size_of::<$t>() }>(&$buf, $at);
        if $big {
            <$t>::from_be_bytes(bytes)
        } else {
            <$t>::from_le_bytes(bytes)
        }
    }};
}

/// Write `$v` at `$at` of a 16-byte buffer in little or big endian order.
macro_rules! put_num {
    ($buf:expr, $at:expr, $v:expr, $big:expr) => {{
        let v = $v;
        let bytes = if $big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        put(&mut $buf, $at, &bytes);
    }};
}

/// Cast a scalar to the integer type `$t` as NumPy's `astype` does.
macro_rules! cast_int {
    ($v:expr, $t:ty) => {
        match $v {
            Scalar::Bool(b) => <$t>::from(b),
            Scalar::Int(i) => i as $t,
            Scalar::UInt(u) => u as $t,
            Scalar::Float(f) | Scalar::Complex(f, _) => f as $t,
        }
    };
}

/// Cast a scalar to the float type `$t` as NumPy's `astype` does.
macro_rules! cast_float {
    ($v:expr, $t:ty) => {
        match $v {
            Scalar::Bool(b) => <$t>::from(u8::from(b)),
            Scalar::Int(i) => i as $t,
            Scalar::UInt(u) => u as $t,
            Scalar::Float(f) | Scalar::Complex(f, _) => f as $t,
        }
    };
}

/// Byte order of a dtype, the first character of its descr string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `'<'`: least significant byte first.
    Little,
    /// `'>'`: most significant byte first.
    Big,
    /// `'|'`: byte order does not matter (1-byte types).
    NotApplicable,
}

impl ByteOrder {
    /// The byte order of the machine this code runs on (NumPy's `'='`).
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };

    /// The character NumPy uses for this byte order: `'<'`, `'>'` or `'|'`.
    pub const fn as_char(self) -> char {
        match self {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
            ByteOrder::NotApplicable => '|',
        }
    }
}

impl fmt::Display for ByteOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ByteOrder::Little => "little-endian",
            ByteOrder::Big => "big-endian",
            ByteOrder::NotApplicable => "not applicable",
        })
    }
}

/// The kind of a dtype: what its bytes mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// NumPy's `bool` (`'b1'`): one byte, 0 is `False`, anything else `True`.
    Bool,
    /// Two's-complement signed integer (`'i'`).
    Int,
    /// Unsigned integer (`'u'`).
    UInt,
    /// IEEE 754 binary floating point (`'f'`).
    Float,
    /// A pair of IEEE 754 floats, real part first (`'c'`).
    Complex,
}

impl Kind {
    /// NumPy's type character for this kind: `b`, `i`, `u`, `f` or `c`.
    pub const fn type_char(self) -> char {
        match self {
            Kind::Bool => 'b',
            Kind::Int => 'i',
            Kind::UInt => 'u',
            Kind::Float => 'f',
            Kind::Complex => 'c',
        }
    }

    /// The item sizes, in bytes, that this kind supports.
    pub const fn valid_sizes(self) -> &'static [usize] {
        match self {
            Kind::Bool => &[1],
            Kind::Int | Kind::UInt => &[1, 2, 4, 8],
            Kind::Float => &[4, 8],
            Kind::Complex => &[8, 16],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Bool => "bool",
            Kind::Int => "signed integer",
            Kind::UInt => "unsigned integer",
            Kind::Float => "floating-point",
            Kind::Complex => "complex",
        })
    }
}

/// A supported NumPy dtype: kind, item size and byte order.
///
/// A `DType` is always valid: its size is one the kind supports, 1-byte
/// dtypes have [`ByteOrder::NotApplicable`] and multi-byte dtypes never do
/// (as in NumPy, where `'<u1'` is `'|u1'` and `'|f8'` is `'<f8'`). So two
/// dtypes are equal exactly when their [`descr`](DType::descr) strings are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DType {
    kind: Kind,
    size: usize,
    order: ByteOrder,
}

/// Bytes of a C `long`, for NumPy's platform-dependent `'l'`/`'long'`.
const C_LONG_BYTES: usize = if cfg!(windows) { 4 } else { size_of::<usize>() };

impl DType {
    /// `|b1`, NumPy's `bool`.
    pub const BOOL: DType = DType::native(Kind::Bool, 1);
    /// `|i1`, `int8`.
    pub const I8: DType = DType::native(Kind::Int, 1);
    /// `int16` in native byte order.
    pub const I16: DType = DType::native(Kind::Int, 2);
    /// `int32` in native byte order.
    pub const I32: DType = DType::native(Kind::Int, 4);
    /// `int64` in native byte order.
    pub const I64: DType = DType::native(Kind::Int, 8);
    /// `|u1`, `uint8`.
    pub const U8: DType = DType::native(Kind::UInt, 1);
    /// `uint16` in native byte order.
    pub const U16: DType = DType::native(Kind::UInt, 2);
    /// `uint32` in native byte order.
    pub const U32: DType = DType::native(Kind::UInt, 4);
    /// `uint64` in native byte order.
    pub const U64: DType = DType::native(Kind::UInt, 8);
    /// `float32` in native byte order.
    pub const F32: DType = DType::native(Kind::Float, 4);
    /// `float64` in native byte order.
    pub const F64: DType = DType::native(Kind::Float, 8);
    /// `complex64` (two `float32`) in native byte order.
    pub const C64: DType = DType::native(Kind::Complex, 8);
    /// `complex128` (two `float64`) in native byte order.
    pub const C128: DType = DType::native(Kind::Complex, 16);

    /// All supported dtypes in native byte order, smallest kinds first.
    pub const ALL_NATIVE: [DType; 13] = [
        DType::BOOL,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F32,
        DType::F64,
        DType::C64,
        DType::C128,
    ];

    /// The dtype of `kind` and `size` in native byte order; `size` must be valid.
    const fn native(kind: Kind, size: usize) -> DType {
        DType {
            kind,
            size,
            order: normalize_order(size, ByteOrder::NATIVE),
        }
    }

    /// A dtype of the given kind, item size in bytes and byte order.
    ///
    /// The byte order is normalised as NumPy does: it is
    /// [`ByteOrder::NotApplicable`] for 1-byte dtypes whatever is asked, and
    /// `NotApplicable` on a multi-byte dtype means native order.
    ///
    /// # Errors
    ///
    /// [`DTypeError::InvalidSize`] if `kind` has no dtype of `size` bytes
    /// (see [`Kind::valid_sizes`]).
    pub fn new(kind: Kind, size: usize, order: ByteOrder) -> Result<DType, DTypeError> {
        if !kind.valid_sizes().contains(&size) {
            return Err(DTypeError::InvalidSize {
                descr: format!("{}{}{}", order.as_char(), kind.type_char(), size),
                kind,
                size,
            });
        }
        Ok(DType {
            kind,
            size,
            order: normalize_order(size, order),
        })
    }

    /// What the bytes of an element mean.
    pub const fn kind(&self) -> Kind {
        self.kind
    }

    /// Size of one element in bytes.
    pub const fn itemsize(&self) -> usize {
        self.size
    }

    /// Byte order of an element (`NotApplicable` exactly for 1-byte dtypes).
    pub const fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// True if elements are stored in the machine's own byte order, so that
    /// their bytes can be reinterpreted as Rust values directly.
    pub fn is_native(&self) -> bool {
        matches!(self.order, ByteOrder::NotApplicable) || self.order == ByteOrder::NATIVE
    }

    /// The same dtype in another byte order (normalised as in [`DType::new`]).
    #[must_use]
    pub const fn with_byte_order(self, order: ByteOrder) -> DType {
        DType {
            order: normalize_order(self.size, order),
            ..self
        }
    }

    /// NumPy's canonical descr string, as written into `.npy` headers:
    /// `'<f8'`, `'|u1'`, `'|b1'`, `'>i4'`, `'<c16'`, ...
    pub fn descr(&self) -> String {
        format!(
            "{}{}{}",
            self.order.as_char(),
            self.kind.type_char(),
            self.size
        )
    }

    /// NumPy's name of the dtype: `"bool"`, `"int8"`, ..., `"float64"`,
    /// `"complex128"` (the same for both byte orders).
    pub const fn name(&self) -> &'static str {
        match (self.kind, self.size) {
            (Kind::Bool, _) => "bool",
            (Kind::Int, 1) => "int8",
            (Kind::Int, 2) => "int16",
            (Kind::Int, 4) => "int32",
            (Kind::Int, _) => "int64",
            (Kind::UInt, 1) => "uint8",
            (Kind::UInt, 2) => "uint16",
            (Kind::UInt, 4) => "uint32",
            (Kind::UInt, _) => "uint64",
            (Kind::Float, 4) => "float32",
            (Kind::Float, _) => "float64",
            (Kind::Complex, 8) => "complex64",
            (Kind::Complex, _) => "complex128",
        }
    }

    /// Parse a NumPy dtype string.
    ///
    /// Accepts what `numpy.dtype(s)` accepts for the supported dtypes:
    ///
    /// * descr strings: an optional byte order (`<`, `>`, `=` native, `|`
    ///   not applicable) then a kind character and a size in bytes: `"<f8"`,
    ///   `"|u1"`, `"b1"`, `">c16"`, `"=i4"`. A byte order on a 1-byte type is
    ///   ignored (`"<u1"` is `'|u1'`), `'|'` on a multi-byte type means
    ///   native;
    /// * names: `"bool"`, `"int8"` ... `"int64"`, `"uint8"` ... `"uint64"`,
    ///   `"float32"`, `"float64"`, `"complex64"`, `"complex128"`, and the C
    ///   names `"double"`, `"single"`, `"float"`, `"complex"`, `"byte"`,
    ///   `"ubyte"`, `"short"`, `"ushort"`, `"intc"`, `"uintc"`, `"longlong"`,
    ///   `"ulonglong"`, `"csingle"`, `"cdouble"`, `"bool_"`, plus the
    ///   platform-dependent `"int"`, `"int_"`, `"uint"`, `"intp"`, `"uintp"`,
    ///   `"long"`, `"ulong"` (sized as NumPy 2 sizes them on this platform).
    ///   Names take no byte-order prefix, as in NumPy;
    /// * one-character type codes, optionally with a byte order: `"?"`,
    ///   `"b"`, `"B"`, `"h"`, `"H"`, `"i"`, `"I"`, `"l"`, `"L"`, `"q"`,
    ///   `"Q"`, `"p"`, `"P"`, `"n"`, `"N"`, `"f"`, `"d"`, `"F"`, `"D"`.
    ///
    /// Unlike NumPy, no surrounding whitespace and no sign or spaces inside
    /// the size are accepted (NumPy takes `"i+8"` and `"f 8"`).
    ///
    /// # Errors
    ///
    /// * [`DTypeError::Empty`] for `""`;
    /// * [`DTypeError::Unsupported`] for dtypes NumPy knows but this crate
    ///   cannot map: objects (`"O"`), strings (`"S10"`, `"U5"`), void
    ///   (`"V8"`), datetimes (`"M8[ns]"`, `"m8"`), `float16` (`"f2"`),
    ///   `longdouble` (`"f16"`, `"g"`), structured and subarray dtypes
    ///   (`"f8,i4"`, `"(2,)f8"`);
    /// * [`DTypeError::InvalidSize`] for a size the kind does not have
    ///   (`"i3"`, `"b2"`, `"c4"`);
    /// * [`DTypeError::Unrecognized`] for anything else.
    pub fn parse(s: &str) -> Result<DType, DTypeError> {
        if s.is_empty() {
            return Err(DTypeError::Empty);
        }
        if let Some(result) = parse_name(s) {
            return result;
        }
        let unrecognized = || DTypeError::Unrecognized { descr: clip(s) };
        let unsupported = |why: &'static str| DTypeError::Unsupported {
            descr: clip(s),
            why,
        };

        let (order, rest) = match s.as_bytes()[0] {
            b'<' => (ByteOrder::Little, &s[1..]),
            b'>' => (ByteOrder::Big, &s[1..]),
            b'=' => (ByteOrder::NATIVE, &s[1..]),
            b'|' => (ByteOrder::NotApplicable, &s[1..]),
            _ => (ByteOrder::NATIVE, s),
        };
        let after_count = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        if rest.contains(',')
            || rest.starts_with(['(', '[', '{'])
            || (after_count.len() < rest.len() && !after_count.is_empty())
        {
            return Err(unsupported(WHY_STRUCTURED));
        }
        let mut chars = rest.chars();
        let Some(code) = chars.next() else {
            return Err(unrecognized());
        };
        let tail = chars.as_str();

        if tail.is_empty() {
            let dtype = match code {
                '?' => DType::BOOL,
                'b' => DType::I8,
                'B' => DType::U8,
                'h' => DType::I16,
                'H' => DType::U16,
                'i' => DType::I32,
                'I' => DType::U32,
                'l' => DType::native(Kind::Int, C_LONG_BYTES),
                'L' => DType::native(Kind::UInt, C_LONG_BYTES),
                'q' => DType::I64,
                'Q' => DType::U64,
                'p' | 'n' => DType::native(Kind::Int, size_of::<usize>()),
                'P' | 'N' => DType::native(Kind::UInt, size_of::<usize>()),
                'f' => DType::F32,
                'd' => DType::F64,
                'F' => DType::C64,
                'D' => DType::C128,
                'e' => return Err(unsupported(WHY_HALF)),
                'g' | 'G' => return Err(unsupported(WHY_LONGDOUBLE)),
                'O' => return Err(unsupported(WHY_OBJECT)),
                'S' | 'a' | 'U' | 'c' => return Err(unsupported(WHY_STRING)),
                'T' => return Err(unsupported(WHY_STRINGDTYPE)),
                'V' => return Err(unsupported(WHY_VOID)),
                'M' | 'm' => return Err(unsupported(WHY_DATETIME)),
                _ => return Err(unrecognized()),
            };
            return Ok(dtype.with_byte_order(order));
        }

        if matches!(code, 'M' | 'm') {
            return if tail.starts_with(['8', '[']) {
                Err(unsupported(WHY_DATETIME))
            } else {
                Err(unrecognized())
            };
        }
        if !tail.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unrecognized());
        }
        let Ok(size) = tail.parse::<usize>() else {
            return Err(unrecognized());
        };
        let kind = match code {
            'b' => Kind::Bool,
            'i' => Kind::Int,
            'u' => Kind::UInt,
            'f' => match size {
                2 => return Err(unsupported(WHY_HALF)),
                12 | 16 => return Err(unsupported(WHY_LONGDOUBLE)),
                _ => Kind::Float,
            },
            'c' => match size {
                24 | 32 => return Err(unsupported(WHY_LONGDOUBLE)),
                _ => Kind::Complex,
            },
            'O' => return Err(unsupported(WHY_OBJECT)),
            'S' | 'a' | 'U' => return Err(unsupported(WHY_STRING)),
            'V' => return Err(unsupported(WHY_VOID)),
            _ => return Err(unrecognized()),
        };
        DType::new(kind, size, order).map_err(|_| DTypeError::InvalidSize {
            descr: clip(s),
            kind,
            size,
        })
    }

    /// Decode one element from its bytes, honouring the byte order.
    ///
    /// `bytes` must hold exactly [`itemsize`](DType::itemsize) bytes. This is
    /// checked with a `debug_assert!`; in release builds extra bytes are
    /// ignored and missing trailing bytes read as zero, so this never panics.
    ///
    /// Integers widen to [`Scalar::Int`] / [`Scalar::UInt`], `float32`
    /// widens losslessly to [`Scalar::Float`], `complex64` to
    /// [`Scalar::Complex`].
    pub fn decode(&self, bytes: &[u8]) -> Scalar {
        debug_assert_eq!(
            bytes.len(),
            self.size,
            "DType::decode of {} takes exactly {} bytes",
            self.descr(),
            self.size
        );
        let mut buf = [0u8; 16];
        let n = bytes.len().min(self.size).min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        let big = self.order == ByteOrder::Big;
        match self.kind {
            Kind::Bool => Scalar::Bool(buf[0] != 0),
            Kind::Int => Scalar::Int(match self.size {
                1 => i64::from(get_num!(i8, buf, 0, big)),
                2 => i64::from(get_num!(i16, buf, 0, big)),
                4 => i64::from(get_num!(i32, buf, 0, big)),
                _ => get_num!(i64, buf, 0, big),
            }),
            Kind::UInt => Scalar::UInt(match self.size {
                1 => u64::from(buf[0]),
                2 => u64::from(get_num!(u16, buf, 0, big)),
                4 => u64::from(get_num!(u32, buf, 0, big)),
                _ => get_num!(u64, buf, 0, big),
            }),
            Kind::Float => Scalar::Float(match self.size {
                4 => f64::from(get_num!(f32, buf, 0, big)),
                _ => get_num!(f64, buf, 0, big),
            }),
            Kind::Complex => match self.size {
                8 => Scalar::Complex(
                    f64::from(get_num!(f32, buf, 0, big)),
                    f64::from(get_num!(f32, buf, 4, big)),
                ),
                _ => Scalar::Complex(get_num!(f64, buf, 0, big), get_num!(f64, buf, 8, big)),
            },
        }
    }

    /// Encode one element into `out`, honouring the byte order: the inverse
    /// of [`decode`](DType::decode).
    ///
    /// `out` must hold exactly [`itemsize`](DType::itemsize) bytes (checked
    /// with a `debug_assert!`; in release builds only the bytes that fit are
    /// written, so this never panics).
    ///
    /// A value of another kind is cast as NumPy's `astype` casts:
    ///
    /// * to `bool`: anything non-zero is `True` (NaN too, `-0.0` is not);
    ///   complex is `True` if either part is non-zero;
    /// * to integers: `bool` is 0 or 1; integers wrap (two's complement)
    ///   to the target width; floats truncate toward zero as Rust's `as`
    ///   does (saturating at the bounds, NaN to 0, where NumPy's result is
    ///   undefined); complex uses its real part;
    /// * to floats: rounded to nearest; complex uses its real part;
    /// * to complex: a real value becomes the real part, the imaginary part
    ///   is 0.
    pub fn encode(&self, value: &Scalar, out: &mut [u8]) {
        debug_assert_eq!(
            out.len(),
            self.size,
            "DType::encode of {} takes exactly {} bytes",
            self.descr(),
            self.size
        );
        let mut buf = [0u8; 16];
        let big = self.order == ByteOrder::Big;
        let v = *value;
        match self.kind {
            Kind::Bool => buf[0] = u8::from(v.is_truthy()),
            Kind::Int => match self.size {
                1 => put_num!(buf, 0, cast_int!(v, i8), big),
                2 => put_num!(buf, 0, cast_int!(v, i16), big),
                4 => put_num!(buf, 0, cast_int!(v, i32), big),
                _ => put_num!(buf, 0, cast_int!(v, i64), big),
            },
            Kind::UInt => match self.size {
                1 => put_num!(buf, 0, cast_int!(v, u8), big),
                2 => put_num!(buf, 0, cast_int!(v, u16), big),
                4 => put_num!(buf, 0, cast_int!(v, u32), big),
                _ => put_num!(buf, 0, cast_int!(v, u64), big),
            },
            Kind::Float => match self.size {
                4 => put_num!(buf, 0, cast_float!(v, f32), big),
                _ => put_num!(buf, 0, cast_float!(v, f64), big),
            },
            Kind::Complex => {
                let im = match v {
                    Scalar::Complex(_, im) => im,
                    _ => 0.0,
                };
                match self.size {
                    8 => {
                        put_num!(buf, 0, cast_float!(v, f32), big);
                        put_num!(buf, 4, im as f32, big);
                    }
                    _ => {
                        put_num!(buf, 0, cast_float!(v, f64), big);
                        put_num!(buf, 8, im, big);
                    }
                }
            }
        }
        let n = out.len().min(self.size).min(buf.len());
        out[..n].copy_from_slice(&buf[..n]);
    }
}

/// `N` bytes of `buf` from `at` (zeros where out of range; never panics).
fn take<const N: usize>(buf: &[u8; 16], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

/// Copy `bytes` into `buf` at `at` (nothing if out of range; never panics).
fn put(buf: &mut [u8; 16], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// NumPy's byte-order normalisation for a dtype of `size` bytes.
const fn normalize_order(size: usize, order: ByteOrder) -> ByteOrder {
    if size == 1 {
        ByteOrder::NotApplicable
    } else if matches!(order, ByteOrder::NotApplicable) {
        ByteOrder::NATIVE
    } else {
        order
    }
}

const WHY_STRUCTURED: &str = "structured and subarray dtypes are not supported; \
     store each field as a separate plain numeric array";
const WHY_OBJECT: &str = "object arrays hold Python object pointers, which cannot be \
     memory-mapped; convert the array to a numeric dtype first";
const WHY_STRING: &str = "fixed-width byte and unicode string dtypes are not supported; \
     store the text elsewhere or encode it as integer codes";
const WHY_STRINGDTYPE: &str = "variable-width StringDType arrays cannot be memory-mapped; \
     store the text elsewhere or encode it as integer codes";
const WHY_VOID: &str = "raw void dtypes are not supported; \
     view the data as a numeric dtype such as '|u1' instead";
const WHY_DATETIME: &str = "datetime64 and timedelta64 dtypes are not supported; \
     store them as int64 (e.g. arr.view('<i8')) together with their unit";
const WHY_HALF: &str = "float16 (half precision) is not supported yet; \
     convert with arr.astype('<f4')";
const WHY_LONGDOUBLE: &str = "extended-precision long double dtypes are platform-specific \
     and not supported; convert with arr.astype('<f8') (or '<c16' for complex)";

/// Dtype names (no byte-order prefix, as in NumPy). `None` if `s` is not a name.
fn parse_name(s: &str) -> Option<Result<DType, DTypeError>> {
    let unsupported = |why: &'static str| {
        Some(Err(DTypeError::Unsupported {
            descr: clip(s),
            why,
        }))
    };
    let dtype = match s {
        "bool" | "bool_" => DType::BOOL,
        "int8" | "byte" => DType::I8,
        "int16" | "short" => DType::I16,
        "int32" | "intc" => DType::I32,
        "int64" | "longlong" => DType::I64,
        "uint8" | "ubyte" => DType::U8,
        "uint16" | "ushort" => DType::U16,
        "uint32" | "uintc" => DType::U32,
        "uint64" | "ulonglong" => DType::U64,
        "float32" | "single" => DType::F32,
        "float64" | "double" | "float" => DType::F64,
        "complex64" | "csingle" => DType::C64,
        "complex128" | "cdouble" | "complex" => DType::C128,
        "int" | "int_" | "intp" => DType::native(Kind::Int, size_of::<usize>()),
        "uint" | "uintp" => DType::native(Kind::UInt, size_of::<usize>()),
        "long" => DType::native(Kind::Int, C_LONG_BYTES),
        "ulong" => DType::native(Kind::UInt, C_LONG_BYTES),
        "float16" | "half" => return unsupported(WHY_HALF),
        "longdouble" | "clongdouble" | "float96" | "float128" | "complex192" | "complex256" => {
            return unsupported(WHY_LONGDOUBLE);
        }
        "object" | "object_" => return unsupported(WHY_OBJECT),
        "str" | "str_" | "unicode" | "bytes" | "bytes_" => return unsupported(WHY_STRING),
        "void" => return unsupported(WHY_VOID),
        _ if s.starts_with("datetime64") || s.starts_with("timedelta64") => {
            return unsupported(WHY_DATETIME);
        }
        _ => return None,
    };
    Some(Ok(dtype))
}

/// `s` for an error message, shortened to at most 64 characters.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX - 3).collect();
        out.push_str("...");
        out
    }
}

impl FromStr for DType {
    type Err = DTypeError;

    fn from_str(s: &str) -> Result<DType, DTypeError> {
        DType::parse(s)
    }
}

impl fmt::Display for DType {
    /// Prints the [`descr`](DType::descr) string, e.g. `<f8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.descr())
    }
}

/// Why a dtype string or dtype could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DTypeError {
    /// The dtype string was empty.
    #[error("empty dtype string: give a NumPy dtype such as '<f8', '|u1', 'int32' or 'bool'")]
    Empty,
    /// The string is not a NumPy dtype this crate knows.
    #[error(
        "unrecognised dtype {descr:?}: give a NumPy dtype such as '<f8', '|u1', 'int32', \
         'float64' or 'bool'"
    )]
    Unrecognized {
        /// The offending string (shortened if long).
        descr: String,
    },
    /// A valid NumPy dtype that this crate does not support.
    #[error("unsupported dtype {descr:?}: {why}")]
    Unsupported {
        /// The offending string (shortened if long).
        descr: String,
        /// Why it is not supported and what to do instead.
        why: &'static str,
    },
    /// The kind has no dtype of this item size.
    #[error("invalid dtype {descr:?}: {}", size_reason(*.kind, *.size))]
    InvalidSize {
        /// The offending string (shortened if long).
        descr: String,
        /// The kind asked for.
        kind: Kind,
        /// The item size asked for, in bytes.
        size: usize,
    },
}

impl DTypeError {
    /// Why the dtype was rejected, without naming it: the explanation part
    /// of the message, for embedding in other errors.
    pub fn reason(&self) -> String {
        match self {
            DTypeError::Empty => "the dtype string is empty".to_owned(),
            DTypeError::Unrecognized { .. } => {
                "not a NumPy dtype this crate recognises; expected e.g. '<f8', '|u1', 'int32' \
                 or 'bool'"
                    .to_owned()
            }
            DTypeError::Unsupported { why, .. } => (*why).to_owned(),
            DTypeError::InvalidSize { kind, size, .. } => size_reason(*kind, *size),
        }
    }
}

fn size_reason(kind: Kind, size: usize) -> String {
    let sizes = kind
        .valid_sizes()
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!("there is no {size}-byte {kind} dtype (valid item sizes: {sizes})")
}

/// One array element as a Rust value, whatever its dtype.
///
/// `Display` prints it as NumPy prints the value (`str()` of a NumPy
/// scalar, which for floats is Python's shortest round-trip `repr`):
/// `True`, `-5`, `0.1`, `1e+16`, `nan`, `-inf`, `(1+2j)`, `2j`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// A `bool` element.
    Bool(bool),
    /// A signed integer element of any width.
    Int(i64),
    /// An unsigned integer element of any width.
    UInt(u64),
    /// A `float32` (widened losslessly) or `float64` element.
    Float(f64),
    /// A complex element: real part, imaginary part.
    Complex(f64, f64),
}

impl Scalar {
    /// The value as an `f64`, as Python's `float()` gives it: floats as
    /// they are, integers converted (rounded beyond 2^53); `None` for a
    /// bool or a complex.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::Float(f) => Some(f),
            Scalar::Int(i) => Some(i as f64),
            Scalar::UInt(u) => Some(u as f64),
            Scalar::Bool(_) | Scalar::Complex(..) => None,
        }
    }

    /// The value as an `i64` if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Scalar::Int(i) => Some(i),
            Scalar::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The value as a `u64` if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Scalar::UInt(u) => Some(u),
            Scalar::Int(i) => u64::try_from(i).ok(),
            _ => None,
        }
    }

    /// Python's truth value: non-zero (NaN is true, `-0.0` is not).
    pub fn is_truthy(&self) -> bool {
        match *self {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::UInt(u) => u != 0,
            Scalar::Float(f) => f != 0.0,
            Scalar::Complex(re, im) => re != 0.0 || im != 0.0,
        }
    }
}

impl From<bool> for Scalar {
    fn from(v: bool) -> Scalar {
        Scalar::Bool(v)
    }
}

impl From<i64> for Scalar {
    fn from(v: i64) -> Scalar {
        Scalar::Int(v)
    }
}

impl From<u64> for Scalar {
    fn from(v: u64) -> Scalar {
        Scalar::UInt(v)
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Scalar {
        Scalar::Float(v)
    }
}

impl From<Complex<f64>> for Scalar {
    fn from(v: Complex<f64>) -> Scalar {
        Scalar::Complex(v.re, v.im)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match *self {
            Scalar::Bool(true) => "True".to_owned(),
            Scalar::Bool(false) => "False".to_owned(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Float(x) => py_float_repr(x, true, false),
            Scalar::Complex(re, im) => {
                // CPython's complex_repr: no parentheses when the real part
                // is +0.0; parts printed without a forced ".0".
                if re == 0.0 && re.is_sign_positive() {
                    format!("{}j", py_float_repr(im, false, false))
                } else {
                    format!(
                        "({}{}j)",
                        py_float_repr(re, false, false),
                        py_float_repr(im, false, true)
                    )
                }
            }
        };
        f.pad(&s)
    }
}

impl DType {
    /// An element of this dtype as NumPy prints it (`str` of the scalar):
    /// as [`Scalar`]'s `Display` (Python's `repr`), but 4-byte floats (and
    /// the parts of 8-byte complex numbers) with the fewest digits that
    /// identify the `float32`, `0.1` rather than `0.10000000149011612`.
    pub fn text(&self, s: &Scalar) -> String {
        match (*s, self.size) {
            (Scalar::Float(x), 4) if self.kind == Kind::Float => np_float32_repr(x as f32, true),
            (Scalar::Complex(re, im), 8) if self.kind == Kind::Complex => {
                let (re, im) = (re as f32, im as f32);
                let part = |x: f32, sign: bool| {
                    let t = np_float32_repr(x, false);
                    if sign && !t.starts_with('-') {
                        format!("+{t}")
                    } else {
                        t
                    }
                };
                if re == 0.0 && re.is_sign_positive() {
                    format!("{}j", part(im, false))
                } else {
                    format!("({}{}j)", part(re, false), part(im, true))
                }
            }
            _ => s.to_string(),
        }
    }
}

/// NumPy's `str(np.float32(x))`: the shortest digits that round-trip in
/// `float32`, positional for `1e-4 < |x| < 1e6`, else scientific with a
/// signed exponent of at least two digits (`1e+06`, `9.99e-05`);
/// `add_dot_0` appends ".0" to integral positional values.
fn np_float32_repr(x: f32, add_dot_0: bool) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = x.abs();
    if a == 0.0 || (a > 1e-4 && a < 1e6) {
        let t = format!("{x}");
        return if add_dot_0 && !t.contains(['.', 'e']) {
            format!("{t}.0")
        } else {
            t
        };
    }
    // Rust's `{:e}`: the same shortest digits, as "1.2345678e7".
    let t = format!("{x:e}");
    let (mantissa, exp) = t.split_once('e').unwrap_or((&t, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Python's `repr(float)` (format code `'r'`): the shortest string that
/// round-trips, positional for exponents -4 <= e < 16, else scientific with
/// a signed, at least two-digit exponent. `add_dot_0` appends ".0" to
/// integral positional values (as `repr` of a float does, but not the parts
/// of a complex); `force_sign` prefixes non-negative values with `+`.
fn py_float_repr(x: f64, add_dot_0: bool, force_sign: bool) -> String {
    let plus = if force_sign { "+" } else { "" };
    if x.is_nan() {
        return format!("{plus}nan");
    }
    if x.is_infinite() {
        return if x < 0.0 {
            "-inf".to_owned()
        } else {
            format!("{plus}inf")
        };
    }
    // zmij (Schubfach) gives the shortest digits that round-trip and, when
    // several strings of that length do, the one nearest the exact value,
    // ties to even: Python's choice (`float_repr_matches_the_reference`
    // checks it against Python's rule, computed the slow way).
    let mut buf = zmij::Buffer::new();
    let (digits, decpt) = decimal_digits(buf.format_finite(x.abs()));
    let negative = x.is_sign_negative();
    py_float_layout(digits.as_str(), decpt, negative, plus, add_dot_0)
}

/// The significant digits of a decimal number written as `123.45`,
/// `0.001`, `1e-7` or `1.5e22` (no sign), and where the point goes: the
/// value is `0.DIGITS * 10^decpt`. Zero is `("0", 1)`.
fn decimal_digits(text: &str) -> (Digits, i32) {
    let (mantissa, exp) = text
        .split_once(['e', 'E'])
        .map_or((text, 0), |(m, e)| (m, e.parse::<i32>().unwrap_or(0)));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = || int.bytes().chain(frac.bytes());
    let leading = all().take_while(|&b| b == b'0').count();
    let mut digits = Digits::default();
    for b in all().skip(leading) {
        digits.push(b);
    }
    digits.trim_zeros();
    if digits.len == 0 {
        digits.push(b'0');
        return (digits, 1);
    }
    let decpt = int.len() as i32 - leading as i32 + exp;
    (digits, decpt)
}

/// Up to 32 decimal digits, on the stack (a double's shortest or exact
/// `{:e}` form has at most 17 significant ones).
#[derive(Default)]
struct Digits {
    bytes: [u8; 32],
    len: usize,
}

impl Digits {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn trim_zeros(&mut self) {
        while self.len > 0 && self.bytes[self.len - 1] == b'0' {
            self.len -= 1;
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("0")
    }
}

/// Python's layout of `0.DIGITS * 10^decpt` (see [`py_float_repr`]).
fn py_float_layout(
    digits: &str,
    decpt: i32,
    negative: bool,
    plus: &str,
    add_dot_0: bool,
) -> String {
    let ndigits = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let exponent = decpt - 1;
    let mut out = String::with_capacity(digits.len() + 8);
    out.push_str(if negative { "-" } else { plus });
    if !(-3..=16).contains(&decpt) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(digits);
    } else if decpt >= ndigits {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (decpt - ndigits) as usize));
        if add_dot_0 {
            out.push_str(".0");
        }
    } else {
        let (int_part, frac_part) = digits.split_at(decpt as usize);
        out.push_str(int_part);
        out.push('.');
        out.push_str(frac_part);
    }
    out
}

/// Python's rule for `repr(float)`, the slow way (the reference the fast
/// [`py_float_repr`] is checked against): Rust's shortest `{:e}` digits,
/// or, when several strings of that length round-trip, the one nearest
/// the exact value, ties to even, which Rust's exact mode (`{:.N$e}`)
/// gives and which is used whenever it round-trips too.
#[cfg(test)]
fn py_float_repr_reference(x: f64) -> String {
    if !x.is_finite() {
        return py_float_repr(x, true, false);
    }
    let shortest = format!("{:e}", x.abs());
    let ndigits = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.bytes().filter(u8::is_ascii_digit).count());
    let nearest = format!("{:.*e}", ndigits.saturating_sub(1), x.abs());
    let sci = if nearest
        .parse::<f64>()
        .is_ok_and(|y| y.to_bits() == x.abs().to_bits())
    {
        nearest
    } else {
        shortest
    };
    let (digits, decpt) = decimal_digits(&sci);
    py_float_layout(digits.as_str(), decpt, x.is_sign_negative(), "", true)
}

/// NumPy's `bool` element (`|b1`): one byte, 0 is `False`, anything else
/// `True`.
///
/// Equality and hashing compare the raw byte, so `Bool(1) != Bool(2)` even
/// though both are `True`; compare [`Bool::get`] for truth values.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Bool(pub u8);

impl Bool {
    /// `False`, stored as 0.
    pub const FALSE: Bool = Bool(0);
    /// `True`, stored as 1 (as NumPy stores it).
    pub const TRUE: Bool = Bool(1);

    /// The truth value: `false` for 0, `true` for anything else.
    pub const fn get(self) -> bool {
        self.0 != 0
    }
}

impl From<bool> for Bool {
    fn from(b: bool) -> Bool {
        Bool(u8::from(b))
    }
}

impl From<Bool> for bool {
    fn from(b: Bool) -> bool {
        b.get()
    }
}

impl fmt::Display for Bool {
    /// `True` or `False`, as NumPy prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(if self.get() { "True" } else { "False" })
    }
}

/// Rust element types with a fixed NumPy dtype, whose bytes in memory are
/// exactly an element of that dtype in native byte order.
///
/// Implementations must have `size_of::<Self>() == Self::DTYPE.itemsize()`
/// and the same bit layout as NumPy's element. Implemented for `i8` ...
/// `i64`, `u8` ... `u64`, `f32`, `f64`, `Complex<f32>`, `Complex<f64>` and
/// [`Bool`].
pub trait Element: bytemuck::Pod + Send + Sync + 'static {
    /// The dtype of this type, in native byte order.
    const DTYPE: DType;
}

macro_rules! impl_element {
    ($($t:ty => $d:expr),* $(,)?) => {
        $(impl Element for $t {
            const DTYPE: DType = $d;
        })*
    };
}

impl_element! {
    i8 => DType::I8,
    i16 => DType::I16,
    i32 => DType::I32,
    i64 => DType::I64,
    u8 => DType::U8,
    u16 => DType::U16,
    u32 => DType::U32,
    u64 => DType::U64,
    f32 => DType::F32,
    f64 => DType::F64,
    Complex<f32> => DType::C64,
    Complex<f64> => DType::C128,
    Bool => DType::BOOL,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LE: ByteOrder = ByteOrder::Little;
    const BE: ByteOrder = ByteOrder::Big;
    const NA: ByteOrder = ByteOrder::NotApplicable;

    fn dt(kind: Kind, size: usize, order: ByteOrder) -> DType {
        DType::new(kind, size, order).unwrap()
    }

    /// Every supported dtype in every byte order (1-byte ones once).
    fn all_dtypes() -> Vec<DType> {
        let mut out = Vec::new();
        for d in DType::ALL_NATIVE {
            for order in [LE, BE] {
                let d = d.with_byte_order(order);
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }

    /// `DType::text` of `float32` and `complex64` elements, against what
    /// NumPy 2.4 printed for `str(np.float32(v))` / `str(np.complex64(v))`.
    #[test]
    fn float32_text_as_numpy_prints_it() {
        let f4 = DType::F32;
        for (v, want) in [
            (0.1, "0.1"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (123456789.0, "1.2345679e+08"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (3.4e38, "3.4e+38"),
            (16777217.0, "1.6777216e+07"),
            (1e6, "1e+06"),
            (9999999.0, "9.999999e+06"),
            (0.0001, "1e-04"),
            (0.00012345, "0.00012345"),
            (9.99e-5, "9.99e-05"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(f4.text(&Scalar::Float(v)), want, "{v}");
        }
        let c8 = DType::C64;
        assert_eq!(c8.text(&Scalar::Complex(0.1, 0.2)), "(0.1+0.2j)");
        assert_eq!(c8.text(&Scalar::Complex(0.0, 2.0)), "2j");
        assert_eq!(c8.text(&Scalar::Complex(1.0, -2.0)), "(1-2j)");
        // Other dtypes print as Scalar's Display.
        assert_eq!(DType::F64.text(&Scalar::Float(0.1)), "0.1");
        assert_eq!(
            DType::F64.text(&Scalar::Float(f64::from(0.1f32))),
            "0.10000000149011612"
        );
    }

    #[test]
    fn parses_every_accepted_form() {
        let cases: &[(&str, &str)] = &[
            // Descr strings as NumPy writes them.
            ("<f8", "<f8"),
            ("<f4", "<f4"),
            ("<i8", "<i8"),
            ("<i4", "<i4"),
            ("<i2", "<i2"),
            ("|i1", "|i1"),
            ("|u1", "|u1"),
            ("<u2", "<u2"),
            ("<u4", "<u4"),
            ("<u8", "<u8"),
            ("|b1", "|b1"),
            ("<c8", "<c8"),
            ("<c16", "<c16"),
            (">i4", ">i4"),
            (">f8", ">f8"),
            (">c16", ">c16"),
            (">u2", ">u2"),
            // Native order and "not applicable" on multi-byte types.
            ("=f8", "<f8"),
            ("=i2", "<i2"),
            ("|f8", "<f8"),
            ("|i4", "<i4"),
            // Byte order on 1-byte types is ignored.
            ("<u1", "|u1"),
            (">u1", "|u1"),
            ("=i1", "|i1"),
            ("<b1", "|b1"),
            (">b1", "|b1"),
            // Without byte order.
            ("f8", "<f8"),
            ("f4", "<f4"),
            ("i1", "|i1"),
            ("i2", "<i2"),
            ("i4", "<i4"),
            ("i8", "<i8"),
            ("u1", "|u1"),
            ("u2", "<u2"),
            ("u4", "<u4"),
            ("u8", "<u8"),
            ("b1", "|b1"),
            ("c8", "<c8"),
            ("c16", "<c16"),
            ("i08", "<i8"),
            // Names.
            ("float64", "<f8"),
            ("float32", "<f4"),
            ("int8", "|i1"),
            ("int16", "<i2"),
            ("int32", "<i4"),
            ("int64", "<i8"),
            ("uint8", "|u1"),
            ("uint16", "<u2"),
            ("uint32", "<u4"),
            ("uint64", "<u8"),
            ("bool", "|b1"),
            ("bool_", "|b1"),
            ("complex64", "<c8"),
            ("complex128", "<c16"),
            ("double", "<f8"),
            ("single", "<f4"),
            ("float", "<f8"),
            ("complex", "<c16"),
            ("byte", "|i1"),
            ("ubyte", "|u1"),
            ("short", "<i2"),
            ("ushort", "<u2"),
            ("intc", "<i4"),
            ("uintc", "<u4"),
            ("longlong", "<i8"),
            ("ulonglong", "<u8"),
            ("csingle", "<c8"),
            ("cdouble", "<c16"),
            // Type codes.
            ("?", "|b1"),
            ("<?", "|b1"),
            ("b", "|i1"),
            ("B", "|u1"),
            ("h", "<i2"),
            ("H", "<u2"),
            ("i", "<i4"),
            ("I", "<u4"),
            ("q", "<i8"),
            ("Q", "<u8"),
            ("f", "<f4"),
            ("d", "<f8"),
            ("F", "<c8"),
            ("D", "<c16"),
            ("<d", "<f8"),
            (">D", ">c16"),
            (">h", ">i2"),
        ];
        for &(input, descr) in cases {
            let d = DType::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(d.descr(), descr, "parsing {input:?}");
            assert_eq!(input.parse::<DType>(), Ok(d));
        }
    }

    #[test]
    fn platform_dependent_names_follow_the_platform() {
        let ptr = size_of::<usize>();
        // `int_` is NumPy 2's default integer (`np.int_`, `intp`).
        for name in ["int", "int_", "intp", "p", "n"] {
            let d = DType::parse(name).unwrap();
            assert_eq!((d.kind(), d.itemsize()), (Kind::Int, ptr), "{name}");
        }
        for name in ["uint", "uintp", "P", "N"] {
            let d = DType::parse(name).unwrap();
            assert_eq!((d.kind(), d.itemsize()), (Kind::UInt, ptr), "{name}");
        }
        for name in ["long", "l"] {
            assert_eq!(DType::parse(name).unwrap().itemsize(), C_LONG_BYTES);
        }
        for name in ["ulong", "L"] {
            let d = DType::parse(name).unwrap();
            assert_eq!((d.kind(), d.itemsize()), (Kind::UInt, C_LONG_BYTES));
        }
    }

    #[test]
    fn rejects_unsupported_dtypes_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("O", "object"),
            ("|O", "object"),
            ("O8", "object"),
            ("object", "object"),
            ("f8,i4", "structured"),
            ("<f8,<i4", "structured"),
            ("(2,)f8", "structured"),
            ("2f8", "structured"),
            ("[('a', '<f8')]", "structured"),
            ("{'names': ['a']}", "structured"),
            ("S10", "string"),
            ("|S10", "string"),
            ("U5", "string"),
            ("<U5", "string"),
            ("a5", "string"),
            ("S", "string"),
            ("U", "string"),
            ("c", "string"),
            ("str", "string"),
            ("bytes", "string"),
            ("T", "StringDType"),
            ("V", "void"),
            ("V8", "void"),
            ("|V16", "void"),
            ("void", "void"),
            ("M8", "datetime64"),
            ("m8", "datetime64"),
            ("M", "datetime64"),
            ("M8[ns]", "datetime64"),
            ("<M8[ns]", "datetime64"),
            (">m8[s]", "datetime64"),
            ("datetime64", "datetime64"),
            ("datetime64[ms]", "datetime64"),
            ("timedelta64", "datetime64"),
            ("f2", "float16"),
            ("<f2", "float16"),
            ("e", "float16"),
            ("float16", "float16"),
            ("half", "float16"),
            ("f16", "long double"),
            ("<f12", "long double"),
            ("g", "long double"),
            ("G", "long double"),
            ("c32", "long double"),
            ("longdouble", "long double"),
            ("float128", "long double"),
            ("complex256", "long double"),
        ];
        for &(input, needle) in cases {
            match DType::parse(input) {
                Err(e @ DTypeError::Unsupported { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(needle), "{input:?}: {msg}");
                    assert!(msg.contains(&format!("{input:?}")), "{input:?}: {msg}");
                    assert!(e.reason().contains(needle));
                }
                other => panic!("{input:?}: expected Unsupported, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_invalid_sizes() {
        let cases: &[(&str, Kind, usize)] = &[
            ("i3", Kind::Int, 3),
            ("<i16", Kind::Int, 16),
            ("i0", Kind::Int, 0),
            ("u16", Kind::UInt, 16),
            ("|u3", Kind::UInt, 3),
            ("b2", Kind::Bool, 2),
            ("f1", Kind::Float, 1),
            ("<f3", Kind::Float, 3),
            ("c4", Kind::Complex, 4),
            ("c64", Kind::Complex, 64),
        ];
        for &(input, kind, size) in cases {
            let err = DType::parse(input).unwrap_err();
            assert_eq!(
                err,
                DTypeError::InvalidSize {
                    descr: input.to_owned(),
                    kind,
                    size
                }
            );
            let msg = err.to_string();
            assert!(
                msg.contains(input) && msg.contains("valid item sizes"),
                "{msg}"
            );
        }
    }

    #[test]
    fn rejects_unrecognized_strings() {
        assert_eq!(DType::parse(""), Err(DTypeError::Empty));
        for input in [
            "x",
            "<",
            ">",
            "|",
            "=",
            "<<f8",
            "<=i8",
            "||i8",
            "!f8",
            "<float64",
            ">float64",
            "<bool",
            "Float64",
            "FLOAT64",
            "float064",
            "int0",
            "bool8",
            " f8",
            "f8 ",
            "i+8",
            "f 8",
            "i8\n",
            "é8",
            "u",
            "1",
            "12",
            "i-1",
            "f8x",
            "x8",
            "i99999999999999999999999",
            "float6",
            "M4",
            "\0",
        ] {
            match DType::parse(input) {
                Err(DTypeError::Unrecognized { descr }) => assert_eq!(descr, input),
                other => panic!("{input:?}: expected Unrecognized, got {other:?}"),
            }
        }
    }

    #[test]
    fn long_strings_are_clipped_in_errors() {
        let long = "x".repeat(10_000);
        let err = DType::parse(&long).unwrap_err();
        let msg = err.to_string();
        assert!(msg.len() < 300, "{msg}");
        assert!(msg.contains("..."));
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let msg = DType::parse("O").unwrap_err().to_string();
        assert!(msg.contains("convert"), "{msg}");
        let msg = DType::parse("zz").unwrap_err().to_string();
        assert!(msg.contains("'<f8'"), "{msg}");
        let msg = DType::parse("M8[ns]").unwrap_err().to_string();
        assert!(msg.contains("int64"), "{msg}");
        assert!(DTypeError::Empty.to_string().contains("'<f8'"));
        assert!(!DTypeError::Empty.reason().is_empty());
        assert!(
            DType::parse("zz")
                .unwrap_err()
                .reason()
                .contains("recognises")
        );
    }

    #[test]
    fn descr_name_and_display() {
        let cases: &[(DType, &str, &str)] = &[
            (dt(Kind::Bool, 1, LE), "|b1", "bool"),
            (dt(Kind::Int, 1, BE), "|i1", "int8"),
            (dt(Kind::Int, 2, LE), "<i2", "int16"),
            (dt(Kind::Int, 4, BE), ">i4", "int32"),
            (dt(Kind::Int, 8, LE), "<i8", "int64"),
            (dt(Kind::UInt, 1, LE), "|u1", "uint8"),
            (dt(Kind::UInt, 2, BE), ">u2", "uint16"),
            (dt(Kind::UInt, 4, LE), "<u4", "uint32"),
            (dt(Kind::UInt, 8, BE), ">u8", "uint64"),
            (dt(Kind::Float, 4, LE), "<f4", "float32"),
            (dt(Kind::Float, 8, BE), ">f8", "float64"),
            (dt(Kind::Complex, 8, LE), "<c8", "complex64"),
            (dt(Kind::Complex, 16, BE), ">c16", "complex128"),
        ];
        for &(d, descr, name) in cases {
            assert_eq!(d.descr(), descr);
            assert_eq!(d.to_string(), descr);
            assert_eq!(format!("{d:>6}"), format!("{descr:>6}"));
            assert_eq!(d.name(), name);
            assert_eq!(DType::parse(name).unwrap().name(), name);
            assert_eq!(DType::parse(descr), Ok(d));
        }
    }

    #[test]
    fn every_dtype_round_trips_through_its_descr() {
        let all = all_dtypes();
        assert_eq!(all.len(), 13 + 10);
        for d in all {
            assert_eq!(DType::parse(&d.descr()), Ok(d));
            assert_eq!(d.descr().parse::<DType>(), Ok(d));
            assert!(d.kind().valid_sizes().contains(&d.itemsize()));
        }
    }

    #[test]
    fn constructor_validates_and_normalises() {
        assert_eq!(dt(Kind::Float, 8, NA).byte_order(), ByteOrder::NATIVE);
        assert_eq!(dt(Kind::UInt, 1, BE).byte_order(), NA);
        assert_eq!(dt(Kind::Bool, 1, LE).byte_order(), NA);
        assert_eq!(dt(Kind::Int, 4, BE).byte_order(), BE);
        let err = DType::new(Kind::Int, 3, LE).unwrap_err();
        assert_eq!(
            err,
            DTypeError::InvalidSize {
                descr: "<i3".to_owned(),
                kind: Kind::Int,
                size: 3
            }
        );
        assert!(DType::new(Kind::Bool, 8, NA).is_err());
        assert!(DType::new(Kind::Complex, 4, LE).is_err());
        assert!(DType::new(Kind::Float, 2, LE).is_err());
        assert!(DType::new(Kind::Float, 16, LE).is_err());
        for kind in [
            Kind::Bool,
            Kind::Int,
            Kind::UInt,
            Kind::Float,
            Kind::Complex,
        ] {
            for &size in kind.valid_sizes() {
                let d = dt(kind, size, BE);
                assert_eq!((d.kind(), d.itemsize()), (kind, size));
                assert_eq!(d.descr().chars().nth(1), Some(kind.type_char()));
            }
        }
    }

    #[test]
    fn byte_order_helpers() {
        let f8 = DType::F64;
        assert!(f8.is_native());
        assert!(DType::U8.is_native());
        assert!(DType::BOOL.is_native());
        let big = f8.with_byte_order(BE);
        assert_eq!(big.descr(), ">f8");
        assert_eq!(big.is_native(), ByteOrder::NATIVE == BE);
        assert_eq!(big.with_byte_order(NA), DType::F64);
        assert_eq!(DType::U8.with_byte_order(BE), DType::U8);
        assert_eq!(LE.as_char(), '<');
        assert_eq!(BE.as_char(), '>');
        assert_eq!(NA.as_char(), '|');
        assert_eq!(LE.to_string(), "little-endian");
        assert_eq!(Kind::UInt.to_string(), "unsigned integer");
        assert_eq!(
            ByteOrder::NATIVE,
            LE,
            "all supported targets are little-endian"
        );
    }

    #[test]
    fn element_dtypes_match_their_rust_types() {
        fn check<T: Element>(name: &str) {
            assert_eq!(size_of::<T>(), T::DTYPE.itemsize(), "{name}");
            assert!(T::DTYPE.is_native(), "{name}");
            assert_eq!(T::DTYPE.name(), name);
        }
        check::<i8>("int8");
        check::<i16>("int16");
        check::<i32>("int32");
        check::<i64>("int64");
        check::<u8>("uint8");
        check::<u16>("uint16");
        check::<u32>("uint32");
        check::<u64>("uint64");
        check::<f32>("float32");
        check::<f64>("float64");
        check::<Complex<f32>>("complex64");
        check::<Complex<f64>>("complex128");
        check::<Bool>("bool");
        assert_eq!(<f64 as Element>::DTYPE.descr(), "<f8");
        assert_eq!(<Bool as Element>::DTYPE.descr(), "|b1");
        assert_eq!(<Complex<f32> as Element>::DTYPE.descr(), "<c8");
    }

    #[test]
    fn element_memory_decodes_to_the_same_value() {
        fn check<T: Element + Into<Scalar>>(v: T) {
            let s: Scalar = v.into();
            assert_eq!(T::DTYPE.decode(bytemuck::bytes_of(&v)), s);
            let mut out = vec![0u8; size_of::<T>()];
            T::DTYPE.encode(&s, &mut out);
            assert_eq!(out, bytemuck::bytes_of(&v));
        }
        check(-5i64);
        check(u64::MAX);
        check(1.5f64);
        check(Complex::new(1.0f64, -2.0));
        let c = Complex::new(0.5f32, 3.25f32);
        assert_eq!(
            DType::C64.decode(bytemuck::bytes_of(&c)),
            Scalar::Complex(0.5, 3.25)
        );
        assert_eq!(
            DType::I16.decode(bytemuck::bytes_of(&-300i16)),
            Scalar::Int(-300)
        );
        assert_eq!(
            DType::U32.decode(bytemuck::bytes_of(&7u32)),
            Scalar::UInt(7)
        );
        assert_eq!(
            DType::F32.decode(bytemuck::bytes_of(&0.1f32)),
            Scalar::Float(f64::from(0.1f32))
        );
        assert_eq!(
            DType::BOOL.decode(bytemuck::bytes_of(&Bool::TRUE)),
            Scalar::Bool(true)
        );
    }

    #[test]
    fn decode_honours_byte_order() {
        let be_i4 = DType::parse(">i4").unwrap();
        let le_i4 = DType::parse("<i4").unwrap();
        assert_eq!(be_i4.decode(&[0, 0, 1, 2]), Scalar::Int(258));
        assert_eq!(le_i4.decode(&[0, 0, 1, 2]), Scalar::Int(0x0201_0000));
        assert_eq!(be_i4.decode(&[0xff, 0xff, 0xff, 0xfe]), Scalar::Int(-2));
        assert_eq!(
            DType::parse(">u2").unwrap().decode(&[0xab, 0xcd]),
            Scalar::UInt(0xabcd)
        );
        assert_eq!(
            DType::parse(">f8").unwrap().decode(&1.5f64.to_be_bytes()),
            Scalar::Float(1.5)
        );
        let mut c16 = Vec::new();
        c16.extend_from_slice(&1.5f64.to_be_bytes());
        c16.extend_from_slice(&(-2.0f64).to_be_bytes());
        assert_eq!(
            DType::parse(">c16").unwrap().decode(&c16),
            Scalar::Complex(1.5, -2.0)
        );
        let mut c8 = Vec::new();
        c8.extend_from_slice(&0.25f32.to_le_bytes());
        c8.extend_from_slice(&8.0f32.to_le_bytes());
        assert_eq!(DType::C64.decode(&c8), Scalar::Complex(0.25, 8.0));
        assert_eq!(DType::I8.decode(&[0x80]), Scalar::Int(-128));
        assert_eq!(DType::U8.decode(&[0x80]), Scalar::UInt(128));
        assert_eq!(DType::BOOL.decode(&[0]), Scalar::Bool(false));
        assert_eq!(DType::BOOL.decode(&[2]), Scalar::Bool(true));
        assert_eq!(DType::BOOL.decode(&[0xff]), Scalar::Bool(true));
    }

    #[test]
    fn encode_writes_numpy_bytes() {
        let mut out = [0u8; 4];
        DType::parse(">i4")
            .unwrap()
            .encode(&Scalar::Int(258), &mut out);
        assert_eq!(out, [0, 0, 1, 2]);
        DType::parse("<i4")
            .unwrap()
            .encode(&Scalar::Int(258), &mut out);
        assert_eq!(out, [2, 1, 0, 0]);
        DType::parse(">f4")
            .unwrap()
            .encode(&Scalar::Float(1.0), &mut out);
        assert_eq!(out, 1.0f32.to_be_bytes());
        let mut out = [0u8; 16];
        DType::parse(">c16")
            .unwrap()
            .encode(&Scalar::Complex(1.0, 2.0), &mut out);
        assert_eq!(&out[..8], &1.0f64.to_be_bytes());
        assert_eq!(&out[8..], &2.0f64.to_be_bytes());
        let mut b = [7u8];
        DType::BOOL.encode(&Scalar::Bool(true), &mut b);
        assert_eq!(b, [1]);
        DType::BOOL.encode(&Scalar::Bool(false), &mut b);
        assert_eq!(b, [0]);
    }

    fn cast(d: DType, v: Scalar) -> Scalar {
        let mut buf = vec![0u8; d.itemsize()];
        d.encode(&v, &mut buf);
        d.decode(&buf)
    }

    #[test]
    fn encode_casts_like_numpy_astype() {
        use Scalar::{Bool as B, Complex as C, Float as F, Int as I, UInt as U};
        let i1 = DType::I8;
        let u1 = DType::U8;
        let i4 = DType::I32;
        let u8_ = DType::U64;
        let f4 = DType::F32;
        let f8 = DType::F64;
        let c8 = DType::C64;
        let c16 = DType::C128;
        let b = DType::BOOL;
        let cases: &[(DType, Scalar, Scalar)] = &[
            // To bool: non-zero is True, NaN too, -0.0 not.
            (b, I(0), B(false)),
            (b, I(-3), B(true)),
            (b, U(0), B(false)),
            (b, U(9), B(true)),
            (b, F(0.0), B(false)),
            (b, F(-0.0), B(false)),
            (b, F(f64::NAN), B(true)),
            (b, F(0.5), B(true)),
            (b, C(0.0, 0.0), B(false)),
            (b, C(0.0, 1.0), B(true)),
            // To integers: bool is 0/1, integers wrap, floats truncate.
            (i1, B(true), I(1)),
            (i1, B(false), I(0)),
            (i1, I(300), I(44)),
            (i1, I(-129), I(127)),
            (i1, U(255), I(-1)),
            (u1, I(-1), U(255)),
            (u1, I(256), U(0)),
            (u1, B(true), U(1)),
            (i4, F(2.9), I(2)),
            (i4, F(-2.9), I(-2)),
            (i4, F(f64::NAN), I(0)),
            (i4, F(1e300), I(i64::from(i32::MAX))),
            (i4, F(-1e300), I(i64::from(i32::MIN))),
            (u1, F(300.5), U(255)),
            (u1, F(-1.5), U(0)),
            (i4, C(7.5, 3.0), I(7)),
            (u8_, I(-1), U(u64::MAX)),
            (DType::I64, U(u64::MAX), I(-1)),
            // To floats: rounded; complex keeps the real part.
            (f8, I(-7), F(-7.0)),
            (f8, U(u64::MAX), F(18_446_744_073_709_551_616.0)),
            (f8, B(true), F(1.0)),
            (f8, C(1.5, 2.0), F(1.5)),
            (f4, F(0.1), F(f64::from(0.1f32))),
            (f4, F(1e300), F(f64::INFINITY)),
            (f4, I(16_777_217), F(16_777_216.0)),
            (f4, B(false), F(0.0)),
            // To complex: the imaginary part is 0.
            (c16, F(2.5), C(2.5, 0.0)),
            (c16, I(-3), C(-3.0, 0.0)),
            (c16, B(true), C(1.0, 0.0)),
            (c8, U(3), C(3.0, 0.0)),
            (c8, C(0.1, -0.1), C(f64::from(0.1f32), f64::from(-0.1f32))),
        ];
        for &(d, v, expected) in cases {
            for order in [LE, BE] {
                let d = d.with_byte_order(order);
                assert_eq!(cast(d, v), expected, "{v:?} as {d}");
            }
        }
        // NaN stays NaN in floats and complex.
        assert!(matches!(cast(f4, F(f64::NAN)), F(x) if x.is_nan()));
        assert!(matches!(cast(c8, C(1.0, f64::NAN)), C(re, im) if re == 1.0 && im.is_nan()));
        // -0.0 keeps its sign.
        assert!(matches!(cast(f8, F(-0.0)), F(x) if x == 0.0 && x.is_sign_negative()));
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "takes exactly 8 bytes"))]
    fn decode_of_a_short_slice_is_a_debug_assertion() {
        // In release builds, missing bytes read as zero.
        let d = DType::parse("<i8").unwrap();
        assert_eq!(d.decode(&[1, 2]), Scalar::Int(0x0201));
        assert_eq!(d.decode(&[]), Scalar::Int(0));
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "takes exactly 4 bytes"))]
    fn encode_into_a_short_slice_is_a_debug_assertion() {
        // In release builds, only the bytes that fit are written.
        let mut out = [0u8; 2];
        DType::parse(">u4")
            .unwrap()
            .encode(&Scalar::UInt(0x0102_0304), &mut out);
        assert_eq!(out, [1, 2]);
    }

    #[test]
    fn scalar_display_matches_numpy_str() {
        // Expected strings are NumPy 2's str() of np.float64 / np.complex128.
        let cases: &[(Scalar, &str)] = &[
            (Scalar::Bool(true), "True"),
            (Scalar::Bool(false), "False"),
            (Scalar::Int(-5), "-5"),
            (Scalar::Int(i64::MIN), "-9223372036854775808"),
            (Scalar::UInt(u64::MAX), "18446744073709551615"),
            (Scalar::Float(0.0), "0.0"),
            (Scalar::Float(-0.0), "-0.0"),
            (Scalar::Float(1.0), "1.0"),
            (Scalar::Float(-1.5), "-1.5"),
            (Scalar::Float(0.1), "0.1"),
            (Scalar::Float(1e16), "1e+16"),
            (Scalar::Float(1e15), "1000000000000000.0"),
            (
                Scalar::Float(123_456_789_012_345_680.0),
                "1.2345678901234568e+17",
            ),
            (Scalar::Float(1e-4), "0.0001"),
            (Scalar::Float(1e-5), "1e-05"),
            (Scalar::Float(1.5e-7), "1.5e-07"),
            (Scalar::Float(5e-324), "5e-324"),
            (Scalar::Float(f64::MAX), "1.7976931348623157e+308"),
            (Scalar::Float(f64::NAN), "nan"),
            (Scalar::Float(-f64::NAN), "nan"),
            (Scalar::Float(f64::INFINITY), "inf"),
            (Scalar::Float(f64::NEG_INFINITY), "-inf"),
            (Scalar::Float(2.5), "2.5"),
            (Scalar::Float(100.0), "100.0"),
            (Scalar::Float(1e22), "1e+22"),
            (Scalar::Float(12345.678), "12345.678"),
            (Scalar::Float(f64::from(0.1f32)), "0.10000000149011612"),
            // Two 17-digit strings round-trip; Python takes the nearest,
            // ties to even (Rust's shortest `{:e}` says ...563 here).
            (
                Scalar::Float(f64::from_bits(0xc03e_fe89_0000_0000)),
                "-30.994277954101562",
            ),
            (
                Scalar::Float(f64::from_bits(0x4083_f24d_a000_0000)),
                "638.2879028320312",
            ),
            (
                Scalar::Float(f64::from_bits(0xc080_be88_a000_0000)),
                "-535.8167114257812",
            ),
            (Scalar::Complex(1.0, 2.0), "(1+2j)"),
            (Scalar::Complex(0.0, 2.0), "2j"),
            (Scalar::Complex(-0.0, 2.0), "(-0+2j)"),
            (Scalar::Complex(0.0, -2.0), "-2j"),
            (Scalar::Complex(1.0, -0.0), "(1-0j)"),
            (Scalar::Complex(1.5, 1e16), "(1.5+1e+16j)"),
            (Scalar::Complex(f64::NAN, f64::NAN), "(nan+nanj)"),
            (
                Scalar::Complex(f64::INFINITY, f64::NEG_INFINITY),
                "(inf-infj)",
            ),
            (Scalar::Complex(0.0, 0.0), "0j"),
            (Scalar::Complex(-0.0, -0.0), "(-0-0j)"),
            (Scalar::Complex(1e-5, 0.0), "(1e-05+0j)"),
            (Scalar::Complex(1.0, f64::NAN), "(1+nanj)"),
            (Scalar::Complex(1.0, -f64::NAN), "(1+nanj)"),
            (Scalar::Complex(0.0, f64::NAN), "nanj"),
            (Scalar::Complex(f64::NAN, 0.0), "(nan+0j)"),
        ];
        for &(v, s) in cases {
            assert_eq!(v.to_string(), s, "{v:?}");
        }
        assert_eq!(format!("{:>6}", Scalar::Bool(true)), "  True");
    }

    #[test]
    fn scalar_conversions_and_truthiness() {
        assert_eq!(Scalar::from(true), Scalar::Bool(true));
        assert_eq!(Scalar::from(-1i64), Scalar::Int(-1));
        assert_eq!(Scalar::from(1u64), Scalar::UInt(1));
        assert_eq!(Scalar::from(0.5f64), Scalar::Float(0.5));
        assert_eq!(
            Scalar::from(Complex::new(1.0, 2.0)),
            Scalar::Complex(1.0, 2.0)
        );
        assert!(Scalar::Float(f64::NAN).is_truthy());
        assert!(!Scalar::Float(-0.0).is_truthy());
        assert!(Scalar::Complex(0.0, -1.0).is_truthy());
        assert!(!Scalar::UInt(0).is_truthy());
        assert_eq!(Scalar::Float(1.5).as_f64(), Some(1.5));
        assert_eq!(Scalar::Int(-3).as_f64(), Some(-3.0));
        assert_eq!(Scalar::UInt(7).as_f64(), Some(7.0));
        assert_eq!(Scalar::Bool(true).as_f64(), None);
        assert_eq!(Scalar::Complex(1.0, 0.0).as_f64(), None);
        assert_eq!(Scalar::UInt(u64::MAX).as_i64(), None);
        assert_eq!(Scalar::UInt(5).as_i64(), Some(5));
        assert_eq!(Scalar::Int(-1).as_u64(), None);
        assert_eq!(Scalar::Int(9).as_u64(), Some(9));
        assert_eq!(Scalar::Float(1.0).as_u64(), None);
    }

    #[test]
    fn bool_element() {
        assert_eq!(Bool::from(true), Bool::TRUE);
        assert_eq!(Bool::from(false), Bool::FALSE);
        assert_eq!(Bool::default(), Bool::FALSE);
        assert!(bool::from(Bool(2)));
        assert!(!bool::from(Bool(0)));
        assert!(Bool(255).get());
        assert_ne!(Bool(1), Bool(2), "equality compares raw bytes");
        assert_eq!(Bool(7).to_string(), "True");
        assert_eq!(Bool(0).to_string(), "False");
        let raw: &[u8] = bytemuck::cast_slice(&[Bool::TRUE, Bool::FALSE]);
        assert_eq!(raw, &[1, 0]);
    }

    fn any_dtype() -> impl Strategy<Value = DType> {
        proptest::sample::select(all_dtypes())
    }

    /// A value of `d`'s own kind that it can represent exactly.
    fn representable(d: DType) -> BoxedStrategy<Scalar> {
        let bits = 8 * d.itemsize() as u32;
        match d.kind() {
            Kind::Bool => any::<bool>().prop_map(Scalar::Bool).boxed(),
            Kind::Int => any::<i64>()
                .prop_map(move |i| Scalar::Int((i << (64 - bits)) >> (64 - bits)))
                .boxed(),
            Kind::UInt => any::<u64>()
                .prop_map(move |u| Scalar::UInt(if bits == 64 { u } else { u % (1 << bits) }))
                .boxed(),
            Kind::Float if d.itemsize() == 4 => any::<f32>()
                .prop_map(|f| Scalar::Float(f64::from(f)))
                .boxed(),
            Kind::Float => any::<f64>().prop_map(Scalar::Float).boxed(),
            Kind::Complex if d.itemsize() == 8 => (any::<f32>(), any::<f32>())
                .prop_map(|(re, im)| Scalar::Complex(f64::from(re), f64::from(im)))
                .boxed(),
            Kind::Complex => (any::<f64>(), any::<f64>())
                .prop_map(|(re, im)| Scalar::Complex(re, im))
                .boxed(),
        }
    }

    /// Equality that treats all NaNs as equal and tells -0.0 from 0.0.
    fn same(a: Scalar, b: Scalar) -> bool {
        fn f(x: f64, y: f64) -> bool {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        match (a, b) {
            (Scalar::Float(x), Scalar::Float(y)) => f(x, y),
            (Scalar::Complex(a, b), Scalar::Complex(c, d)) => f(a, c) && f(b, d),
            _ => a == b,
        }
    }

    proptest! {
        #[test]
        fn scalar_round_trips_through_bytes(
            (d, v) in any_dtype().prop_flat_map(|d| (Just(d), representable(d)))
        ) {
            let mut buf = vec![0u8; d.itemsize()];
            d.encode(&v, &mut buf);
            let back = d.decode(&buf);
            prop_assert!(same(back, v), "{:?} -> {:?} -> {:?}", v, buf, back);
        }

        #[test]
        fn bytes_round_trip_through_scalar(
            (d, bytes) in any_dtype()
                .prop_flat_map(|d| (Just(d), proptest::collection::vec(any::<u8>(), d.itemsize())))
        ) {
            let v = d.decode(&bytes);
            let mut out = vec![0u8; d.itemsize()];
            d.encode(&v, &mut out);
            match d.kind() {
                Kind::Bool => prop_assert_eq!(out[0] != 0, bytes[0] != 0),
                Kind::Float | Kind::Complex => prop_assert!(same(d.decode(&out), v)),
                _ => prop_assert_eq!(out, bytes),
            }
        }

        #[test]
        fn big_endian_is_little_endian_reversed_per_component(
            (d, v) in any_dtype().prop_flat_map(|d| (Just(d), representable(d)))
        ) {
            let le = d.with_byte_order(LE);
            let be = d.with_byte_order(BE);
            let mut a = vec![0u8; d.itemsize()];
            let mut b = vec![0u8; d.itemsize()];
            le.encode(&v, &mut a);
            be.encode(&v, &mut b);
            let part = if d.kind() == Kind::Complex { d.itemsize() / 2 } else { d.itemsize() };
            for chunk in a.chunks_mut(part) {
                chunk.reverse();
            }
            prop_assert_eq!(a, b);
        }

        #[test]
        fn float_repr_matches_the_reference(bits in any::<u64>(), narrow in any::<f32>()) {
            // Any double, and a float32 widened (short mantissas, where
            // several shortest strings round-trip most often).
            for x in [f64::from_bits(bits), f64::from(narrow)] {
                prop_assert_eq!(py_float_repr(x, true, false), py_float_repr_reference(x), "{:#x}", x.to_bits());
            }
        }

        #[test]
        fn float_display_round_trips(x in any::<f64>()) {
            let s = Scalar::Float(x).to_string();
            let back: f64 = s.parse().unwrap();
            prop_assert!(same(Scalar::Float(back), Scalar::Float(x)) || (x.is_nan() && back.is_nan()), "{} -> {}", x, s);
            if x.is_finite() {
                // Python always shows a '.', an exponent or both.
                prop_assert!(s.contains('.') || s.contains('e'), "{}", s);
            }
        }

        #[test]
        fn complex_display_is_well_formed(re in any::<f64>(), im in any::<f64>()) {
            let s = Scalar::Complex(re, im).to_string();
            prop_assert!(s.ends_with("j") || s.ends_with("j)"), "{}", s);
            prop_assert_eq!(s.starts_with('('), s.ends_with(')'));
        }

        #[test]
        fn parse_never_panics(s in ".{0,12}") {
            let _ = DType::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_dtype_like_strings(s in "[<>=|!]?[a-zA-Z?]{1,3}[0-9]{0,3}") {
            if let Ok(d) = DType::parse(&s) {
                prop_assert_eq!(DType::parse(&d.descr()), Ok(d));
            }
        }
    }
}
