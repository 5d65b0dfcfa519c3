//! Real NumPy, both ways: files mapio writes are opened by `np.load` /
//! `np.memmap`, files NumPy writes are opened by mapio, and what mapio must
//! refuse it refuses with an error that names the file.
//!
//! Every element value follows one formula, written twice (Rust: `val`,
//! Python: `PY_COMMON`): the value of the element at C-order position `k`.
//! So each side checks the other's file without trusting the other's code.
//!
//! NumPy comes from `MAPIO_PYTHON` (default `python3`); see
//! `common::require_numpy` for what happens when it is missing.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use mapio::Error;
use mapio::array::{
    AppendableArray, Array, ArrayOptions, AtomicArray, Bool, DType, DynArray, Element, FileFormat,
    Order, Scalar,
};
use mapio::map::Mode;
use ndarray::Dimension;
use num_complex::Complex;

use common::{Json, require_numpy, run_python, serial};

// ---------------------------------------------------------------------------
// The value formula, Rust side.

/// Floats: some special values first, then a ramp.
fn fval(k: usize) -> f64 {
    const SPECIAL: [f64; 6] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.1, 1e-5];
    if k < SPECIAL.len() {
        SPECIAL[k]
    } else {
        k as f64 * 0.1 - 1.0
    }
}

/// Integers: a multiplicative hash, truncated to the type's width.
fn mix(k: usize) -> u64 {
    (k as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(12345)
}

/// The same formula in Python, plus the comparison both checks use.
const PY_COMMON: &str = r#"
import io, json, os, sys
import numpy as np
from numpy.lib import format as npformat
try:
    from numpy.lib import _format_impl as npformat_impl
except ImportError:  # NumPy 1.x
    npformat_impl = npformat

SPECIAL = [float('nan'), float('inf'), float('-inf'), -0.0, 0.1, 1e-5]

def fval(k):
    return SPECIAL[k] if k < len(SPECIAL) else k * 0.1 - 1.0

def val(dt, k):
    dt = np.dtype(dt)
    if dt.kind == 'b':
        return k % 3 != 1
    if dt.kind in 'iu':
        bits = dt.itemsize * 8
        x = (k * 0x9E3779B97F4A7C15 + 12345) % (1 << 64)
        x %= (1 << bits)
        if dt.kind == 'i' and x >= (1 << (bits - 1)):
            x -= (1 << bits)
        return x
    if dt.kind == 'f':
        return fval(k)
    if dt.kind == 'c':
        return complex(fval(k), 0.5 - k)
    raise ValueError(dt)

def expected(dt, shape):
    n = int(np.prod(shape, dtype=np.int64))
    return np.array([val(dt, k) for k in range(n)], dtype=dt).reshape(shape)

def same(a, e):
    if a.dtype.kind == 'c':
        return same(a.real, e.real) and same(a.imag, e.imag)
    if a.dtype.kind == 'f':
        return (np.array_equal(a, e, equal_nan=True)
                and np.array_equal(np.signbit(a), np.signbit(e)))
    return np.array_equal(a, e)

def read_preamble(path):
    with open(path, 'rb') as f:
        version = npformat.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(f)
        else:
            shape, fortran, dtype = npformat_impl._read_array_header(f, version)
        return version, shape, fortran, dtype, f.tell()

def tolist(a):
    flat = a.ravel(order='C')
    if a.dtype.kind == 'c':
        return [[float(z.real), float(z.imag)] for z in flat]
    if a.dtype.kind == 'f':
        return [float(x) for x in flat]
    return flat.tolist()
"#;

/// Rust element types under test, with the value formula and JSON decoding.
trait TestElem: Element + std::fmt::Debug {
    fn val(k: usize) -> Self;
    fn from_json(j: &Json) -> Self;
    /// Bit equality, except that any NaN equals any NaN.
    fn same(&self, other: &Self) -> bool {
        bytemuck::bytes_of(self) == bytemuck::bytes_of(other)
    }
}

macro_rules! int_elem {
    ($($t:ty => $j:ident),*) => {$(
        impl TestElem for $t {
            fn val(k: usize) -> $t {
                mix(k) as $t
            }
            fn from_json(j: &Json) -> $t {
                <$t>::try_from(j.$j()).expect("JSON integer out of range")
            }
        }
    )*};
}
int_elem!(i8 => i64, i16 => i64, i32 => i64, i64 => i64, u8 => u64, u16 => u64, u32 => u64, u64 => u64);

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

impl TestElem for f64 {
    fn val(k: usize) -> f64 {
        fval(k)
    }
    fn from_json(j: &Json) -> f64 {
        j.f64()
    }
    fn same(&self, other: &f64) -> bool {
        same_f64(*self, *other)
    }
}

impl TestElem for f32 {
    fn val(k: usize) -> f32 {
        fval(k) as f32
    }
    fn from_json(j: &Json) -> f32 {
        let x = j.f64();
        assert!(x.is_nan() || f64::from(x as f32) == x, "{x} is not an f32");
        x as f32
    }
    fn same(&self, other: &f32) -> bool {
        same_f64(f64::from(*self), f64::from(*other))
            && self.is_sign_negative() == other.is_sign_negative()
    }
}

impl TestElem for Complex<f64> {
    fn val(k: usize) -> Self {
        Complex::new(fval(k), 0.5 - k as f64)
    }
    fn from_json(j: &Json) -> Self {
        let p = j.arr();
        Complex::new(p[0].f64(), p[1].f64())
    }
    fn same(&self, o: &Self) -> bool {
        same_f64(self.re, o.re) && same_f64(self.im, o.im)
    }
}

impl TestElem for Complex<f32> {
    fn val(k: usize) -> Self {
        Complex::new(fval(k) as f32, (0.5 - k as f64) as f32)
    }
    fn from_json(j: &Json) -> Self {
        let p = j.arr();
        Complex::new(p[0].f64() as f32, p[1].f64() as f32)
    }
    fn same(&self, o: &Self) -> bool {
        self.re.same(&o.re) && self.im.same(&o.im)
    }
}

impl TestElem for Bool {
    fn val(k: usize) -> Bool {
        Bool::from(k % 3 != 1)
    }
    fn from_json(j: &Json) -> Bool {
        Bool::from(j.bool())
    }
}

/// Calls `$f::<T>(args)` for the Rust type of a little-endian/native descr.
macro_rules! with_type {
    ($descr:expr, $f:ident($($arg:expr),*)) => {
        match $descr {
            "|b1" => $f::<Bool>($($arg),*),
            "|i1" => $f::<i8>($($arg),*),
            "<i2" => $f::<i16>($($arg),*),
            "<i4" => $f::<i32>($($arg),*),
            "<i8" => $f::<i64>($($arg),*),
            "|u1" => $f::<u8>($($arg),*),
            "<u2" => $f::<u16>($($arg),*),
            "<u4" => $f::<u32>($($arg),*),
            "<u8" => $f::<u64>($($arg),*),
            "<f4" => $f::<f32>($($arg),*),
            "<f8" => $f::<f64>($($arg),*),
            "<c8" => $f::<Complex<f32>>($($arg),*),
            "<c16" => $f::<Complex<f64>>($($arg),*),
            other => panic!("no Rust type for {other}"),
        }
    };
}

const DESCRS: [&str; 13] = [
    "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8", "<c8", "<c16",
];

const SHAPES: [&[usize]; 6] = [&[], &[0], &[5], &[3, 4], &[2, 3, 4], &[0, 3]];

/// Position in memory of the element at C-order position `k`.
fn c_to_mem(shape: &[usize], k: usize, order: Order) -> usize {
    if order == Order::C {
        return k;
    }
    let mut idx = vec![0; shape.len()];
    let mut rest = k;
    for d in (0..shape.len()).rev() {
        idx[d] = rest % shape[d];
        rest /= shape[d];
    }
    let (mut mem, mut stride) = (0, 1);
    for d in 0..shape.len() {
        mem += idx[d] * stride;
        stride *= shape[d];
    }
    mem
}

/// C-order position of a multi-index.
fn c_index(shape: &[usize], idx: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

fn count(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn shape_name(shape: &[usize]) -> String {
    if shape.is_empty() {
        "scalar".to_owned()
    } else {
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    }
}

fn shape_csv(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn descr_name(descr: &str) -> &str {
    &descr[1..]
}

fn order_letter(order: Order) -> &'static str {
    if order.is_fortran() { "F" } else { "C" }
}

/// Fills `data` (the bytes of an array in memory order) by the formula,
/// placing each element itself (no use of mapio's views).
fn fill_bytes<T: TestElem>(data: &mut [u8], shape: &[usize], order: Order) {
    let size = std::mem::size_of::<T>();
    assert_eq!(data.len(), count(shape) * size, "data length");
    for k in 0..count(shape) {
        let mem = c_to_mem(shape, k, order);
        data[mem * size..(mem + 1) * size].copy_from_slice(bytemuck::bytes_of(&T::val(k)));
    }
}

/// Fills a typed array through its `ndarray` view, by multi-index.
fn fill_view<T: TestElem>(a: &mut Array<T>) {
    let shape = a.shape().to_vec();
    let mut v = a.view_mut().expect("view_mut");
    for (idx, x) in v.indexed_iter_mut() {
        *x = T::val(c_index(&shape, idx.slice()));
    }
}

/// One line of the manifest the Python checker reads.
struct Entry {
    /// `npy` or `raw`.
    kind: &'static str,
    path: PathBuf,
    descr: String,
    shape: Vec<usize>,
    order: Order,
    offset: u64,
    /// Compare the preamble byte for byte with NumPy's own writer.
    exact_header: bool,
}

fn manifest_text(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.kind,
            e.path.display(),
            e.descr,
            shape_csv(&e.shape),
            order_letter(e.order),
            e.offset,
            u8::from(e.exact_header)
        )
        .expect("write to a String");
    }
    s
}

/// The checker: every file of the manifest, as a NumPy user opens it.
const PY_CHECK: &str = r#"
failures = []
checked = 0
for line in open(sys.argv[1]).read().splitlines():
    kind, path, descr, shape, order, offset, exact = line.split('\t')
    shape = tuple(int(d) for d in shape.split(',')) if shape else ()
    offset = int(offset)
    fortran = order == 'F'
    def fail(msg):
        failures.append('%s: %s' % (path, msg))
    try:
        e = expected(descr, shape)
        nbytes = e.size * e.dtype.itemsize
        if kind == 'npy':
            version, hshape, hfortran, hdtype, data_offset = read_preamble(path)
            if hshape != shape: fail('header shape %r' % (hshape,))
            if hfortran != fortran: fail('header fortran_order %r' % hfortran)
            if hdtype.str != descr: fail('header descr %r' % hdtype.str)
            if data_offset % 64: fail('data offset %d not 64-aligned' % data_offset)
            if version != (1, 0): fail('version %r (NumPy writes 1.0 here)' % (version,))
            if os.path.getsize(path) != data_offset + nbytes:
                fail('size %d, expected %d' % (os.path.getsize(path), data_offset + nbytes))
            if exact == '1':
                buf = io.BytesIO()
                npformat.write_array_header_1_0(
                    buf, {'descr': descr, 'fortran_order': fortran, 'shape': shape})
                with open(path, 'rb') as f:
                    if f.read(data_offset) != buf.getvalue():
                        fail('preamble differs from NumPy\'s: %r' % buf.getvalue())
            a = np.load(path, mmap_mode='r')
            b = np.load(path)  # the plain reader too
            if not same(b, e): fail('np.load values differ:\n%r\n%r' % (b, e))
        else:
            with open(path, 'rb') as f:
                raw = f.read()
            if len(raw) != offset + nbytes:
                fail('raw size %d, expected %d' % (len(raw), offset + nbytes))
            if raw[:offset] != bytes(offset): fail('bytes before the offset are not zero')
            a = np.memmap(path, dtype=descr, mode='r', offset=offset, shape=shape, order=order)
        if a.dtype.str != descr: fail('dtype %r' % a.dtype.str)
        if a.shape != shape: fail('shape %r' % (a.shape,))
        if fortran and not a.flags.f_contiguous: fail('not F-contiguous')
        if not fortran and not a.flags.c_contiguous: fail('not C-contiguous')
        if not same(np.asarray(a), e): fail('values differ:\n%r\n%r' % (np.asarray(a), e))
        del a
    except Exception as ex:
        fail('exception %r' % (ex,))
    checked += 1
for f in failures:
    print('FAIL', f)
print('CHECKED', checked)
sys.exit(1 if failures else 0)
"#;

fn run_check(dir: &Path, entries: &[Entry]) {
    let manifest = dir.join("manifest.tsv");
    std::fs::write(&manifest, manifest_text(entries)).expect("write manifest");
    let out = run_python(&format!("{PY_COMMON}\n{PY_CHECK}"), &[&manifest]);
    assert!(
        out.contains(&format!("CHECKED {}", entries.len())),
        "checker output: {out}"
    );
}

// ---------------------------------------------------------------------------
// mapio writes, NumPy reads.

fn write_dyn_npy<T: TestElem>(path: &Path, shape: &[usize], order: Order, close: bool) {
    let mut a = ArrayOptions::new()
        .order(order)
        .create_dyn_npy(path, T::DTYPE, shape)
        .unwrap_or_else(|e| panic!("create_dyn_npy {}: {e}", path.display()));
    assert_eq!(a.info().format, FileFormat::Npy { version: (1, 0) });
    fill_bytes::<T>(a.data_mut().expect("data_mut"), shape, order);
    if close {
        a.close().expect("close");
    } else {
        drop(a);
    }
}

fn write_typed_npy<T: TestElem>(path: &Path, shape: &[usize], order: Order) {
    let mut a = ArrayOptions::new()
        .order(order)
        .create_npy::<T>(path, shape)
        .unwrap_or_else(|e| panic!("create_npy {}: {e}", path.display()));
    assert_eq!(a.shape(), shape);
    assert_eq!(a.order(), order);
    fill_view(&mut a);
    // Closed by drop, without close() or flush().
    drop(a);
}

fn write_dyn_raw<T: TestElem>(path: &Path, shape: &[usize], order: Order, offset: u64) {
    let mut a = ArrayOptions::new()
        .order(order)
        .offset(offset)
        .create_dyn_raw(path, T::DTYPE, shape)
        .unwrap_or_else(|e| panic!("create_dyn_raw {}: {e}", path.display()));
    assert_eq!(a.info().format, FileFormat::Raw);
    assert_eq!(a.info().data_offset, offset);
    fill_bytes::<T>(a.data_mut().expect("data_mut"), shape, order);
    a.close().expect("close");
}

fn write_typed_raw<T: TestElem>(path: &Path, shape: &[usize], order: Order, offset: u64) {
    let mut a = ArrayOptions::new()
        .order(order)
        .offset(offset)
        .create_raw::<T>(path, shape)
        .unwrap_or_else(|e| panic!("create_raw {}: {e}", path.display()));
    fill_view(&mut a);
    // Closed by drop (the kernel writes the pages back in its own time).
    drop(a);
}

#[test]
fn mapio_writes_npy_and_raw_numpy_reads_them() {
    let _g = serial();
    if !require_numpy() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut entries = Vec::new();
    for (di, descr) in DESCRS.iter().enumerate() {
        for (si, shape) in SHAPES.iter().enumerate() {
            for order in [Order::C, Order::Fortran] {
                let base = format!(
                    "{}_{}_{}",
                    descr_name(descr),
                    shape_name(shape),
                    order_letter(order)
                );
                // .npy, through the untyped array and through the typed one.
                for via in ["dyn", "typed"] {
                    let path = dir.path().join(format!("{via}_{base}.npy"));
                    if via == "dyn" {
                        with_type!(
                            *descr,
                            write_dyn_npy(&path, shape, order, (di + si) % 2 == 0)
                        );
                    } else {
                        with_type!(*descr, write_typed_npy(&path, shape, order));
                    }
                    entries.push(Entry {
                        kind: "npy",
                        path,
                        descr: descr.to_string(),
                        shape: shape.to_vec(),
                        order,
                        offset: 0,
                        exact_header: true,
                    });
                }
                // Raw files as np.memmap reads them. NumPy cannot map an
                // empty file, so empty shapes get an offset.
                let dyn_offsets = [0u64, 3, 16, 4101];
                let typed_offsets = [0u64, 16, 4104, 8];
                let pick = di + si * 3 + usize::from(order.is_fortran());
                for via in ["dyn", "typed"] {
                    let mut offset = if via == "dyn" {
                        dyn_offsets[pick % 4]
                    } else {
                        typed_offsets[pick % 4]
                    };
                    if count(shape) == 0 && offset == 0 {
                        offset = 16;
                    }
                    let path = dir.path().join(format!("{via}_{base}_at{offset}.raw"));
                    if via == "dyn" {
                        with_type!(*descr, write_dyn_raw(&path, shape, order, offset));
                    } else {
                        with_type!(*descr, write_typed_raw(&path, shape, order, offset));
                    }
                    entries.push(Entry {
                        kind: "raw",
                        path,
                        descr: descr.to_string(),
                        shape: shape.to_vec(),
                        order,
                        offset,
                        exact_header: false,
                    });
                }
            }
        }
    }
    run_check(dir.path(), &entries);
}

/// Rows of a C-order appendable array of `row_len` elements: the element
/// at C position `k` of the final array gets `val(k)`.
fn c_rows<T: TestElem>(first: usize, rows: usize, row_len: usize) -> Vec<T> {
    (first * row_len..(first + rows) * row_len)
        .map(T::val)
        .collect()
}

/// Row `r` (memory order) of a Fortran appendable array of final shape
/// `row_shape + [total]`: element at C position `k` of the final array
/// gets `val(k)`.
fn f_row<T: TestElem>(row_shape: &[usize], r: usize, total: usize) -> Vec<T> {
    let mut shape = row_shape.to_vec();
    shape.push(total);
    let n = count(row_shape);
    let mut row = vec![T::val(0); n];
    for (m, slot) in row.iter_mut().enumerate() {
        // Unravel m in Fortran order over row_shape.
        let mut idx = Vec::with_capacity(shape.len());
        let mut rest = m;
        for &d in row_shape {
            idx.push(rest % d);
            rest /= d;
        }
        idx.push(r);
        *slot = T::val(c_index(&shape, &idx));
    }
    row
}

#[test]
fn appendable_arrays_written_by_mapio_load_in_numpy() {
    let _g = serial();
    if !require_numpy() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut entries = Vec::new();
    let entry = |path: PathBuf, descr: &str, shape: Vec<usize>, order: Order| Entry {
        kind: "npy",
        path,
        descr: descr.to_owned(),
        shape,
        order,
        offset: 0,
        // The header was rewritten in place: its padding differs from a
        // fresh np.save, which is fine for every reader.
        exact_header: false,
    };

    // C order, rows of 3 f64, in batches of varied size (past the 1 MiB
    // first allocation step), closed with close().
    let p = dir.path().join("append_c_f8.npy");
    let mut a = AppendableArray::<f64>::create(&p, &[3]).expect("create");
    let total = 50_000;
    let mut done = 0;
    let mut batch = 1;
    while done < total {
        let n = batch.min(total - done);
        if n == 1 {
            a.push(&c_rows::<f64>(done, 1, 3)).expect("push");
        } else {
            a.extend(&c_rows::<f64>(done, n, 3)).expect("extend");
        }
        done += n;
        batch = batch * 3 % 1001 + 1;
    }
    assert_eq!(a.rows(), total);
    assert_eq!(a.shape(), vec![total, 3]);
    a.close().expect("close");
    entries.push(entry(p, "<f8", vec![total, 3], Order::C));

    // C order, 2-d rows of i16, closed by drop only.
    let p = dir.path().join("append_c_i2_drop.npy");
    let mut a = AppendableArray::<i16>::create(&p, &[2, 5]).expect("create");
    for r in 0..37 {
        a.push(&c_rows::<i16>(r, 1, 10)).expect("push");
    }
    drop(a);
    entries.push(entry(p, "<i2", vec![37, 2, 5], Order::C));

    // Fortran order: grows along the last axis.
    for (name, close) in [("append_f_i4.npy", true), ("append_f_i4_drop.npy", false)] {
        let p = dir.path().join(name);
        let row_shape = [2, 3];
        let total = 41;
        let mut a = ArrayOptions::new()
            .order(Order::Fortran)
            .create_appendable::<i32>(&p, &row_shape)
            .expect("create F");
        assert_eq!(a.order(), Order::Fortran);
        for r in 0..total {
            a.push(&f_row::<i32>(&row_shape, r, total)).expect("push F");
        }
        assert_eq!(a.shape(), vec![2, 3, total]);
        if close {
            a.close().expect("close");
        } else {
            drop(a);
        }
        entries.push(entry(p, "<i4", vec![2, 3, total], Order::Fortran));
    }

    // Complex rows, Fortran, 1-d rows.
    let p = dir.path().join("append_f_c16.npy");
    let mut a = ArrayOptions::new()
        .order(Order::Fortran)
        .create_appendable::<Complex<f64>>(&p, &[4])
        .expect("create");
    let mut rows = Vec::new();
    for r in 0..9 {
        rows.extend(f_row::<Complex<f64>>(&[4], r, 9));
    }
    a.extend(&rows).expect("extend");
    a.close().expect("close");
    entries.push(entry(p, "<c16", vec![4, 9], Order::Fortran));

    // No rows at all.
    let p = dir.path().join("append_empty.npy");
    AppendableArray::<u8>::create(&p, &[7])
        .expect("create")
        .close()
        .expect("close");
    entries.push(entry(p, "|u1", vec![0, 7], Order::C));

    // Still open (and holding its lock) while NumPy reads it: after
    // flush() the file is a valid .npy with the rows so far, even though
    // space for more is allocated after them.
    let p = dir.path().join("append_open.npy");
    let mut open = AppendableArray::<u32>::create(&p, &[4]).expect("create");
    open.extend(&c_rows::<u32>(0, 100, 4)).expect("extend");
    open.flush().expect("flush");
    open.extend(&c_rows::<u32>(100, 5, 4))
        .expect("extend, not flushed");
    let mut e = entry(p, "<u4", vec![100, 4], Order::C);
    e.kind = "npy_open";
    entries.push(e);

    // The checker wants exact sizes for "npy"; an open appendable file has
    // allocated space past its rows, so check it separately.
    let (closed, open_entries): (Vec<_>, Vec<_>) =
        entries.into_iter().partition(|e| e.kind == "npy");
    run_check(dir.path(), &closed);
    let e = &open_entries[0];
    let out = run_python(
        &format!(
            "{PY_COMMON}\n\
             a = np.load(sys.argv[1], mmap_mode='r')\n\
             assert a.shape == (100, 4), a.shape\n\
             assert a.dtype.str == '<u4', a.dtype\n\
             assert same(np.asarray(a), expected('<u4', (100, 4)))\n\
             assert np.load(sys.argv[1]).shape == (100, 4)\n\
             print('OPEN OK')\n"
        ),
        &[&e.path],
    );
    assert!(out.contains("OPEN OK"), "{out}");
    open.close().expect("close");
    run_check(
        dir.path(),
        &[Entry {
            kind: "npy",
            path: e.path.clone(),
            descr: "<u4".into(),
            shape: vec![105, 4],
            order: Order::C,
            offset: 0,
            exact_header: false,
        }],
    );
}

// ---------------------------------------------------------------------------
// NumPy writes, mapio reads.

const PY_WRITE: &str = r#"
out = sys.argv[1]
entries = []

def record(name, a, kind, **extra):
    a = np.asarray(a)
    if kind == 'npy':
        # What the header says (an empty or 1-d array is both C and F
        # contiguous; the writer decides).
        fortran = read_preamble(os.path.join(out, name))[2]
    else:
        fortran = extra['order'] == 'F'
    entries.append(dict(name=name, kind=kind, descr=a.dtype.str, shape=list(a.shape),
                        fortran=bool(fortran), values=tolist(a), **extra))

descrs = ['|b1', '|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8',
          '<f4', '<f8', '<c8', '<c16']
shapes = [(), (0,), (7,), (3, 4), (2, 3, 4), (0, 3)]

# np.save (format 1.0), C and Fortran.
for d in descrs:
    for s in shapes:
        for order in 'CF':
            a = expected(d, s)
            if order == 'F':
                a = np.asfortranarray(a)
            name = 'save_%s_%s_%s.npy' % (d[1:], 'x'.join(map(str, s)) or 'scalar', order)
            np.save(os.path.join(out, name), a)
            record(name, a, 'npy', version=[1, 0])

# Format versions 2.0 and 3.0.
for version in [(2, 0), (3, 0)]:
    for d, s, order in [('<f8', (3, 4), 'C'), ('<i4', (2, 3, 4), 'F'), ('<c16', (5,), 'C'),
                        ('|b1', (4, 2), 'F'), ('<u8', (), 'C')]:
        a = expected(d, s)
        if order == 'F':
            a = np.asfortranarray(a)
        name = 'v%d_%s_%s.npy' % (version[0], d[1:], order)
        with open(os.path.join(out, name), 'wb') as f:
            npformat.write_array(f, a, version=version)
        record(name, a, 'npy', version=list(version))

# open_memmap in w+ mode, filled in place.
for d, s, fortran in [('<f4', (6, 5), False), ('<i8', (4, 3, 2), True), ('<c8', (3,), False),
                      ('<u2', (0, 4), True)]:
    name = 'memmap_%s.npy' % d[1:]
    m = npformat.open_memmap(os.path.join(out, name), mode='w+', dtype=d, shape=s,
                             fortran_order=fortran)
    m[...] = expected(d, s)
    m.flush()
    record(name, m, 'npy', version=[1, 0])
    del m

# Raw np.memmap files with offsets.
for d, off, s, order in [('<f8', 64, (3, 4), 'C'), ('<i4', 100, (2, 5), 'F'),
                         ('|u1', 3, (7,), 'C'), ('<c8', 24, (2, 2), 'F'),
                         ('<u2', 4098, (10,), 'C'), ('<i8', 0, (4,), 'C'),
                         ('<f4', 4096, (2, 3, 4), 'F'), ('|b1', 1, (5, 3), 'F')]:
    name = 'raw_%s_%d.raw' % (d[1:], off)
    m = np.memmap(os.path.join(out, name), dtype=d, mode='w+', offset=off, shape=s, order=order)
    m[...] = expected(d, s)
    m.flush()
    record(name, m, 'raw', offset=off, order=order)
    del m

# Big-endian data.
for d, s, order in [('>i4', (3, 4), 'C'), ('>f8', (5,), 'C'), ('>c16', (2, 2), 'F'),
                    ('>u2', (6,), 'C'), ('>i8', (2, 3), 'F'), ('>f4', (), 'C')]:
    a = expected(d, s)
    if order == 'F':
        a = np.asfortranarray(a)
    name = 'be_%s_%s.npy' % (d[1:], order)
    np.save(os.path.join(out, name), a)
    record(name, a, 'npy', version=[1, 0])

print(json.dumps(entries))
"#;

/// Opens one NumPy-written file as `Array<T>` and compares it.
fn check_numpy_file<T: TestElem>(dir: &Path, e: &Json) {
    let path = dir.join(e.get("name").str());
    let shape = e.get("shape").usize_vec();
    let fortran = e.get("fortran").bool();
    let want: Vec<T> = e.get("values").arr().iter().map(T::from_json).collect();
    let a = match e.get("kind").str() {
        "npy" => Array::<T>::open_npy(&path, Mode::ReadOnly),
        _ => ArrayOptions::new()
            .offset(e.get("offset").u64())
            .order(e.get("order").str().parse().expect("order"))
            .open_raw::<T>(&path, Some(&shape)),
    }
    .unwrap_or_else(|err| panic!("mapio cannot open {}: {err}", path.display()));
    assert_eq!(a.shape(), &shape[..], "{}", path.display());
    if e.get("kind").str() == "npy" {
        assert_eq!(
            a.order(),
            if fortran { Order::Fortran } else { Order::C },
            "{}",
            path.display()
        );
        let v = e.get("version").arr();
        assert_eq!(
            a.info().format,
            FileFormat::Npy {
                version: (v[0].u64() as u8, v[1].u64() as u8)
            },
            "{}",
            path.display()
        );
        assert_eq!(a.info().data_offset % 64, 0, "{}", path.display());
    }
    let got: Vec<T> = a.view().iter().copied().collect();
    assert_eq!(got.len(), want.len(), "{}", path.display());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g.same(w),
            "{}: element {i} (C order): mapio {g:?}, NumPy {w:?}",
            path.display()
        );
    }
    // The untyped array agrees, element by element in C order.
    for (i, w) in want.iter().enumerate() {
        let s = a.as_dyn().get(i).expect("get");
        let mut bytes = vec![0u8; std::mem::size_of::<T>()];
        T::DTYPE.encode(&s, &mut bytes);
        let back: T = bytemuck::pod_read_unaligned(&bytes);
        assert!(
            back.same(w),
            "{}: DynArray::get({i}) = {s:?}",
            path.display()
        );
    }
}

fn scalar_from_json(dtype: DType, j: &Json) -> Scalar {
    match dtype.kind() {
        mapio::array::Kind::Bool => Scalar::Bool(j.bool()),
        mapio::array::Kind::Int => Scalar::Int(j.i64()),
        mapio::array::Kind::UInt => Scalar::UInt(j.u64()),
        mapio::array::Kind::Float => Scalar::Float(j.f64()),
        mapio::array::Kind::Complex => {
            let p = j.arr();
            Scalar::Complex(p[0].f64(), p[1].f64())
        }
    }
}

fn same_scalar(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Float(x), Scalar::Float(y)) => same_f64(*x, *y),
        (Scalar::Complex(a, b), Scalar::Complex(c, d)) => same_f64(*a, *c) && same_f64(*b, *d),
        _ => a == b,
    }
}

/// A big-endian file: refused by `Array<T>` with a clear error, read by
/// `DynArray` with the right values.
fn check_big_endian(dir: &Path, e: &Json) {
    let path = dir.join(e.get("name").str());
    let descr = e.get("descr").str();
    let dtype = DType::parse(descr).expect("parse descr");
    let native = dtype
        .with_byte_order(mapio::array::ByteOrder::NATIVE)
        .descr();
    let err = with_type!(native.as_str(), typed_open_error(&path));
    assert!(
        matches!(err, Error::Format { .. }),
        "{}: expected a Format error, got {err:?}",
        path.display()
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(descr), "the error should name {descr}: {msg}");

    let a = DynArray::open_npy(&path)
        .unwrap_or_else(|err| panic!("DynArray {}: {err}", path.display()));
    assert_eq!(a.dtype(), dtype);
    assert_eq!(a.shape(), &e.get("shape").usize_vec()[..]);
    assert_eq!(
        a.info().order,
        if e.get("fortran").bool() {
            Order::Fortran
        } else {
            Order::C
        }
    );
    let want = e.get("values").arr();
    assert_eq!(a.len(), want.len());
    for (i, w) in want.iter().enumerate() {
        let w = scalar_from_json(dtype, w);
        let g = a.get(i).expect("get");
        assert!(
            same_scalar(&g, &w),
            "{}: element {i}: mapio {g:?}, NumPy {w:?}",
            path.display()
        );
    }
    let all: Vec<Scalar> = a.iter_c(0..a.len()).collect();
    assert_eq!(all.len(), want.len());
}

fn typed_open_error<T: TestElem>(path: &Path) -> Error {
    match Array::<T>::open_npy(path, Mode::ReadOnly) {
        Ok(_) => panic!(
            "{}: a foreign byte order opened as Array<T>",
            path.display()
        ),
        Err(e) => e,
    }
}

#[test]
fn numpy_writes_mapio_reads() {
    let _g = serial();
    if !require_numpy() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_python(&format!("{PY_COMMON}\n{PY_WRITE}"), &[dir.path()]);
    let entries = Json::parse(out.trim());
    let entries = entries.arr();
    assert!(entries.len() > 170, "only {} files", entries.len());
    let mut big_endian = 0;
    for e in entries {
        let descr = e.get("descr").str();
        if descr.starts_with('>') {
            check_big_endian(dir.path(), e);
            big_endian += 1;
        } else {
            with_type!(descr, check_numpy_file(dir.path(), e));
        }
    }
    assert_eq!(big_endian, 6);
}

#[test]
fn numpy_modifies_what_mapio_created() {
    let _g = serial();
    if !require_numpy() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let npy = dir.path().join("m.npy");
    let raw = dir.path().join("m.raw");
    let mut a = Array::<f64>::create_npy(&npy, &[4, 5]).expect("create npy");
    fill_view(&mut a);
    a.close().expect("close");
    let mut r = ArrayOptions::new()
        .order(Order::Fortran)
        .offset(16)
        .create_raw::<i32>(&raw, &[3, 3])
        .expect("create raw");
    fill_view(&mut r);
    r.close().expect("close");

    let script = format!(
        "{PY_COMMON}\n\
         a = np.load(sys.argv[1], mmap_mode='r+')\n\
         a[1, 2] = 42.5\n\
         a[:, 0] *= 2\n\
         a.flush()\n\
         b = np.array(a)\n\
         del a\n\
         m = np.memmap(sys.argv[2], dtype='<i4', mode='r+', offset=16, shape=(3, 3), order='F')\n\
         m[2, 1] = -7\n\
         m[0, :] += 1\n\
         m.flush()\n\
         c = np.array(m)\n\
         del m\n\
         print(json.dumps(dict(npy=tolist(b), raw=tolist(c))))\n"
    );
    let out = Json::parse(run_python(&script, &[&npy, &raw]).trim());

    let a = Array::<f64>::open_npy(&npy, Mode::ReadOnly).expect("reopen npy");
    let got: Vec<f64> = a.view().iter().copied().collect();
    let want: Vec<f64> = out.get("npy").arr().iter().map(Json::f64).collect();
    assert_eq!(got.len(), 20);
    assert!(
        got.iter().zip(&want).all(|(g, w)| g.same(w)),
        "{got:?} != {want:?}"
    );
    assert_eq!(a.view()[[1, 2]], 42.5);
    assert!(a.view()[[3, 0]].same(&(f64::val(15) * 2.0)));
    assert!(
        a.view()[[0, 1]].same(&f64::val(1)),
        "untouched element changed"
    );

    let r = ArrayOptions::new()
        .order(Order::Fortran)
        .offset(16)
        .open_raw::<i32>(&raw, Some(&[3, 3]))
        .expect("reopen raw");
    let got: Vec<i32> = r.view().iter().copied().collect();
    let want: Vec<i32> = out.get("raw").arr().iter().map(i32::from_json).collect();
    assert_eq!(got, want);
    assert_eq!(r.view()[[2, 1]], -7);
    assert_eq!(r.view()[[0, 2]], i32::val(2).wrapping_add(1));
    assert_eq!(r.view()[[1, 1]], i32::val(4));
}

#[test]
fn mapio_appends_to_numpy_files() {
    let _g = serial();
    if !require_numpy() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = r#"
d = sys.argv[1]
np.save(os.path.join(d, 'c.npy'), expected('<f4', (3, 4)))
np.save(os.path.join(d, 'f.npy'), np.asfortranarray(expected('<i8', (2, 5))))
with open(os.path.join(d, 'v2.npy'), 'wb') as f:
    npformat.write_array(f, expected('<u2', (3, 2)), version=(2, 0))
np.save(os.path.join(d, 'one_d.npy'), expected('<f8', (5,)))
np.save(os.path.join(d, 'empty.npy'), expected('<c8', (0, 3)))
print('WRITTEN')
"#;
    let out = run_python(&format!("{PY_COMMON}\n{setup}"), &[dir.path()]);
    assert!(out.contains("WRITTEN"));

    // Rows continue the formula: element at C position k of the final
    // array is val(k) (for C order: the old rows already are).
    let p = dir.path().join("c.npy");
    let mut a = AppendableArray::<f32>::open(&p).expect("open c");
    assert_eq!(
        (a.rows(), a.row_shape(), a.order()),
        (3, &[4][..], Order::C)
    );
    a.extend(&c_rows::<f32>(3, 7, 4)).expect("extend");
    a.push(&c_rows::<f32>(10, 1, 4)).expect("push");
    a.close().expect("close");

    // Fortran (2, 5): grows along the last axis. The old rows were written
    // for a total of 5, so new values are checked separately below.
    let p = dir.path().join("f.npy");
    let mut a = AppendableArray::<i64>::open(&p).expect("open f");
    assert_eq!(
        (a.rows(), a.row_shape(), a.order()),
        (5, &[2][..], Order::Fortran)
    );
    for r in 5..8 {
        a.push(&[1000 + r as i64, 2000 + r as i64]).expect("push f");
    }
    a.close().expect("close");

    let p = dir.path().join("v2.npy");
    let mut a = AppendableArray::<u16>::open(&p).expect("open v2");
    a.extend(&c_rows::<u16>(3, 4, 2)).expect("extend v2");
    a.close().expect("close");

    let p = dir.path().join("one_d.npy");
    let mut a = AppendableArray::<f64>::open(&p).expect("open 1-d");
    assert_eq!(a.row_shape(), &[] as &[usize]);
    a.extend(&c_rows::<f64>(5, 95, 1)).expect("extend 1-d");
    drop(a);

    let p = dir.path().join("empty.npy");
    let mut a = AppendableArray::<Complex<f32>>::open(&p).expect("open empty");
    a.extend(&c_rows::<Complex<f32>>(0, 2, 3))
        .expect("extend empty");
    a.close().expect("close");

    let check = r#"
d = sys.argv[1]
def chk(name, dt, shape, version):
    p = os.path.join(d, name)
    a = np.load(p)
    assert a.shape == shape, (name, a.shape)
    assert a.dtype.str == dt, (name, a.dtype)
    assert read_preamble(p)[0] == version, (name, read_preamble(p)[0])
    return a
assert same(chk('c.npy', '<f4', (11, 4), (1, 0)), expected('<f4', (11, 4)))
f = chk('f.npy', '<i8', (2, 8), (1, 0))
assert np.load(os.path.join(d, 'f.npy'), mmap_mode='r').flags.f_contiguous
assert same(f[:, :5], np.asfortranarray(expected('<i8', (2, 5)))), f
assert same(f[:, 5:], np.array([[1005, 1006, 1007], [2005, 2006, 2007]])), f
assert same(chk('v2.npy', '<u2', (7, 2), (2, 0)), expected('<u2', (7, 2)))
assert same(chk('one_d.npy', '<f8', (100,), (1, 0)), expected('<f8', (100,)))
assert same(chk('empty.npy', '<c8', (2, 3), (1, 0)), expected('<c8', (2, 3)))
print('APPENDED OK')
"#;
    let out = run_python(&format!("{PY_COMMON}\n{check}"), &[dir.path()]);
    assert!(out.contains("APPENDED OK"), "{out}");
}

// ---------------------------------------------------------------------------
// What mapio must refuse.

#[test]
fn mapio_refuses_unsupported_numpy_files() {
    let _g = serial();
    if !require_numpy() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = r#"
import numpy as np, os, sys
d = sys.argv[1]
np.save(os.path.join(d, 'structured.npy'), np.zeros(3, dtype=[('a', '<i4'), ('b', '<f8')]))
np.save(os.path.join(d, 'object.npy'), np.array([1, 'a', None], dtype=object), allow_pickle=True)
np.save(os.path.join(d, 'half.npy'), np.arange(6, dtype='<f2').reshape(2, 3))
np.save(os.path.join(d, 'bytes.npy'), np.array([b'abc', b'hello'], dtype='|S5'))
np.save(os.path.join(d, 'unicode.npy'), np.array(['x', 'yz'], dtype='<U3'))
np.save(os.path.join(d, 'datetime.npy'), np.array([0, 1], dtype='<M8[ns]'))
np.save(os.path.join(d, 'longdouble.npy'), np.zeros(2, dtype=np.longdouble))
print('WRITTEN')
"#;
    assert!(run_python(setup, &[dir.path()]).contains("WRITTEN"));
    let cases = [
        ("structured.npy", None),
        ("object.npy", Some("|O")),
        ("half.npy", Some("f2")),
        ("bytes.npy", Some("S5")),
        ("unicode.npy", Some("U3")),
        ("datetime.npy", Some("M8")),
        ("longdouble.npy", None),
    ];
    for (name, mention) in cases {
        let path = dir.path().join(name);
        let before = std::fs::read(&path).expect("read");
        let shown = path.display().to_string();
        let errors: Vec<(&str, Error)> = vec![
            (
                "DynArray::open_npy",
                DynArray::open_npy(&path).expect_err(name),
            ),
            (
                "Array<f64>::open_npy",
                Array::<f64>::open_npy(&path, Mode::ReadOnly).expect_err(name),
            ),
            (
                "Array<u8>::open_npy(c)",
                Array::<u8>::open_npy(&path, Mode::CopyOnWrite).expect_err(name),
            ),
            (
                "Array<i32>::open_npy(r+)",
                Array::<i32>::open_npy(&path, Mode::ReadWrite).expect_err(name),
            ),
            (
                "AppendableArray<f64>::open",
                AppendableArray::<f64>::open(&path).expect_err(name),
            ),
            (
                "AtomicArray<AtomicU64>::open_npy",
                AtomicArray::<AtomicU64>::open_npy(&path).expect_err(name),
            ),
        ];
        for (how, e) in errors {
            let msg = e.to_string();
            assert!(
                matches!(e, Error::Format { .. } | Error::Corrupt { .. }),
                "{name} via {how}: expected a Format error, got {e:?}"
            );
            assert!(
                msg.contains(&shown),
                "{name} via {how}: error does not name the file: {msg}"
            );
            if let Some(m) = mention {
                assert!(
                    msg.contains(m),
                    "{name} via {how}: error does not say {m:?}: {msg}"
                );
            }
            eprintln!("{name} via {how}: {msg}");
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "{name} changed"
        );
    }
}

/// Floats print as Python's `repr` prints them (`mapio cat` of a float
/// array, a log's fields): 50,000 doubles of random bits and 50,000
/// widened float32 values (short mantissas, where several shortest strings
/// round-trip and Python takes the nearest), compared with Python itself.
#[test]
fn floats_print_as_python_repr_prints_them() {
    if !require_numpy() {
        return;
    }
    // SplitMix64.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut values: Vec<f64> = (0..50_000).map(|_| f64::from_bits(next())).collect();
    values.extend((0..50_000).map(|_| f64::from(f32::from_bits(next() as u32))));
    values.extend([
        0.0,
        -0.0,
        1e16,
        1e-4,
        9.999e-5,
        1e22,
        5e-324,
        f64::MAX,
        f64::NAN,
    ]);
    let bits: String = values
        .iter()
        .map(|v| format!("{:016x}\n", v.to_bits()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bits.txt");
    std::fs::write(&input, bits).unwrap();
    let script = "import struct, sys\n\
        for line in open(sys.argv[1]):\n\
        \x20   print(repr(struct.unpack('<d', bytes.fromhex(line.strip())[::-1])[0]))\n";
    let want = run_python(script, &[&input]);
    let mut wrong = 0;
    for (v, want) in values.iter().zip(want.lines()) {
        let got = Scalar::Float(*v).to_string();
        if got != want {
            wrong += 1;
            eprintln!("{:#018x}: mapio {got}, Python {want}", v.to_bits());
        }
    }
    assert_eq!(want.lines().count(), values.len());
    assert_eq!(wrong, 0, "values printed otherwise than by Python");
}
