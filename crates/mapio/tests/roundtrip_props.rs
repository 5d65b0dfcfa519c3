//! Property tests: what goes into a file through mapio comes back out,
//! byte for byte, for random offsets, lengths, modes, shapes and orders.
//!
//! The seed is fixed (set `PROPTEST_RNG_SEED` to explore others), so every
//! run tries the same 64 cases per property.

use std::path::Path;

use mapio::array::{Array, ArrayOptions, Bool, Element, FileFormat, Order};
use mapio::map::{MappedFile, Mode, OpenOptions};
use ndarray::{ArrayD, IxDyn};
use num_complex::Complex;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    let mut c = Config::with_cases(64);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x6D61_7069_6F21);
    }
    c.failure_persistence = None;
    c
}

/// `len` bytes that depend on `seed` and the position.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| {
            let x = (i ^ seed.rotate_left(29))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(seed);
            (x >> 56) as u8
        })
        .collect()
}

/// `n` elements of `T` with arbitrary bit patterns (NaNs with payloads,
/// Bool bytes other than 0 and 1: all must survive a round trip).
fn values<T: Element>(seed: u64, n: usize) -> Vec<T> {
    let size = std::mem::size_of::<T>();
    pattern(seed, n * size)
        .chunks_exact(size)
        .map(bytemuck::pod_read_unaligned)
        .collect()
}

fn bytes_of<T: Element>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// The elements of `a` in `order`'s memory order.
fn memory_order<T: Element>(a: &ArrayD<T>, order: Order) -> Vec<T> {
    match order {
        Order::C => a.iter().copied().collect(),
        // Fortran order is the C order of the reversed axes.
        Order::Fortran => a.t().iter().copied().collect(),
    }
}

fn mode_strategy() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::ReadOnly),
        Just(Mode::ReadWrite),
        Just(Mode::Create),
        Just(Mode::CopyOnWrite)
    ]
}

fn order_strategy() -> impl Strategy<Value = Order> {
    prop_oneof![Just(Order::C), Just(Order::Fortran)]
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..=5, 0..=3)
}

/// One mapped-file round trip; see the property below.
fn mapped_file_case(
    dir: &Path,
    size: usize,
    mode: Mode,
    off_raw: usize,
    len_raw: usize,
    flush: bool,
) {
    let path = dir.join("f.bin");
    let base = pattern(size as u64 ^ 0xBA5E, size);
    std::fs::write(&path, &base).expect("write base");
    let (offset, len) = if mode.writes_file() {
        // Anywhere, even past the end: the file grows (zeros in any gap).
        (off_raw % (size + 5000), len_raw % 9000)
    } else {
        let offset = off_raw % (size + 1);
        (offset, len_raw % (size - offset + 1))
    };
    let data = pattern(off_raw as u64 * 31 + len_raw as u64, len);
    let mut f = OpenOptions::new()
        .mode(mode)
        .offset(offset as u64)
        .len(len as u64)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {mode} offset {offset} len {len} of {size}: {e}"));
    assert_eq!((f.len(), f.offset(), f.mode()), (len, offset as u64, mode));

    // What the map shows before any write.
    let mut before = vec![0u8; len];
    if mode != Mode::Create {
        for (i, b) in before.iter_mut().enumerate() {
            *b = base.get(offset + i).copied().unwrap_or(0);
        }
    }
    assert!(f[..] == before[..], "{mode}: initial bytes");

    // What the file must hold afterwards.
    let expected = match mode {
        Mode::ReadOnly => {
            assert!(f.as_mut_slice().is_err(), "r must refuse writes");
            base.clone()
        }
        Mode::CopyOnWrite => {
            f.as_mut_slice()
                .expect("c is writable")
                .copy_from_slice(&data);
            assert!(f[..] == data[..], "c: own writes visible");
            base.clone()
        }
        Mode::ReadWrite | Mode::Create => {
            f.as_mut_slice().expect("writable").copy_from_slice(&data);
            let mut e = if mode == Mode::Create {
                Vec::new()
            } else {
                base.clone()
            };
            if e.len() < offset + len {
                e.resize(offset + len, 0);
            }
            e[offset..offset + len].copy_from_slice(&data);
            e
        }
    };
    if flush && mode.writes_file() {
        f.flush().expect("flush");
    }
    f.close().expect("close");

    let r = MappedFile::open(&path, Mode::ReadOnly).expect("reopen r");
    assert_eq!(r.len(), expected.len(), "{mode}: file size");
    assert!(r[..] == expected[..], "{mode}: file contents");
    assert_eq!(std::fs::read(&path).expect("read"), expected);
}

/// One `.npy` round trip through `Array<T>`.
fn npy_case<T: Element + PartialEq + std::fmt::Debug>(
    dir: &Path,
    shape: &[usize],
    order: Order,
    seed: u64,
    close: bool,
) {
    let path = dir.join("a.npy");
    let n: usize = shape.iter().product();
    let src = ArrayD::from_shape_vec(IxDyn(shape), values::<T>(seed, n)).expect("shape");
    let mut a = ArrayOptions::new()
        .order(order)
        .create_npy::<T>(&path, shape)
        .expect("create_npy");
    assert_eq!((a.shape(), a.order(), a.len()), (shape, order, n));
    assert!(
        bytes_of(a.as_slice()).iter().all(|&b| b == 0),
        "a new array is zero-filled"
    );
    a.view_mut().expect("view_mut").assign(&src);
    if close {
        a.close().expect("close");
    } else {
        drop(a);
    }

    let a = Array::<T>::open_npy(&path, Mode::ReadOnly).expect("reopen");
    assert_eq!((a.shape(), a.order()), (shape, order));
    assert!(matches!(a.info().format, FileFormat::Npy { .. }));
    let got: Vec<T> = a.view().iter().copied().collect();
    let want: Vec<T> = src.iter().copied().collect();
    assert!(bytes_of(&got) == bytes_of(&want), "logical order");
    let mem = memory_order(&src, order);
    assert!(bytes_of(a.as_slice()) == bytes_of(&mem), "memory order");
    let off = a.info().data_offset as usize;
    assert_eq!(off % 64, 0, "data is 64-byte aligned");
    let file = std::fs::read(&path).expect("read");
    assert_eq!(file.len(), off + n * std::mem::size_of::<T>(), "file size");
    assert!(&file[off..] == bytes_of(&mem), "bytes in the file");
}

/// One raw-file round trip: `offset` zero bytes, then the data.
fn raw_case<T: Element + std::fmt::Debug>(
    dir: &Path,
    shape: &[usize],
    order: Order,
    offset: u64,
    seed: u64,
) {
    let path = dir.join("a.raw");
    let n: usize = shape.iter().product();
    let size = std::mem::size_of::<T>();
    let src = ArrayD::from_shape_vec(IxDyn(shape), values::<T>(seed, n)).expect("shape");
    let opts = ArrayOptions::new().order(order).offset(offset);
    let mut a = opts.create_raw::<T>(&path, shape).expect("create_raw");
    assert_eq!(a.info().data_offset, offset);
    a.view_mut().expect("view_mut").assign(&src);
    a.close().expect("close");

    let mem = memory_order(&src, order);
    let file = std::fs::read(&path).expect("read");
    let off = offset as usize;
    assert_eq!(file.len(), off + n * size, "file size");
    assert!(
        file[..off].iter().all(|&b| b == 0),
        "zeros before the offset"
    );
    assert!(&file[off..] == bytes_of(&mem), "bytes in the file");

    let b = opts.open_raw::<T>(&path, Some(shape)).expect("reopen");
    assert_eq!((b.shape(), b.order()), (shape, order));
    let got: Vec<T> = b.view().iter().copied().collect();
    let want: Vec<T> = src.iter().copied().collect();
    assert!(bytes_of(&got) == bytes_of(&want), "logical order");
    drop(b);

    // Without a shape: 1-d, everything after the offset.
    let c = opts.open_raw::<T>(&path, None).expect("reopen 1-d");
    assert_eq!(c.shape(), &[n]);
    assert!(bytes_of(c.as_slice()) == bytes_of(&mem));
    drop(c);

    // A misaligned offset is an error, not a panic or a misread.
    if std::mem::align_of::<T>() > 1 && n >= 2 {
        let r = ArrayOptions::new()
            .offset(offset + 1)
            .open_raw::<T>(&path, Some(&[n - 1]));
        assert!(
            matches!(r, Err(mapio::Error::Format { .. })),
            "misaligned offset {}: {r:?}",
            offset + 1
        );
    }
}

/// One appendable array: batches of rows, maybe a reopen in the middle.
fn append_case<T: Element + std::fmt::Debug>(
    dir: &Path,
    row_shape: &[usize],
    order: Order,
    batches: &[(usize, bool)],
    reopen_at: usize,
    close: bool,
) {
    let path = dir.join("rows.npy");
    let row_len: usize = row_shape.iter().product();
    let opts = ArrayOptions::new().order(order).reserve(1 << 30);
    let mut a = opts
        .create_appendable::<T>(&path, row_shape)
        .expect("create_appendable");
    let mut all: Vec<T> = Vec::new();
    for (i, &(rows, flush)) in batches.iter().enumerate() {
        if i == reopen_at {
            a.close().expect("close before reopening");
            a = opts.open_appendable::<T>(&path).expect("reopen");
            assert_eq!(a.rows(), all.len() / row_len);
            assert_eq!(a.order(), order);
            assert_eq!(a.row_shape(), row_shape);
        }
        let batch = values::<T>(all.len() as u64, rows * row_len);
        if rows == 1 {
            a.push(&batch).expect("push");
        } else {
            a.extend(&batch).expect("extend");
        }
        all.extend_from_slice(&batch);
        assert_eq!(a.rows(), all.len() / row_len);
        assert!(bytes_of(a.as_slice()) == bytes_of(&all), "rows so far");
        if flush {
            a.flush().expect("flush");
        }
    }
    let rows = all.len() / row_len;
    let mut shape = row_shape.to_vec();
    match order {
        Order::C => shape.insert(0, rows),
        Order::Fortran => shape.push(rows),
    }
    assert_eq!(a.shape(), shape);
    if close {
        a.close().expect("close");
    } else {
        drop(a);
    }

    let b = Array::<T>::open_npy(&path, Mode::ReadOnly).expect("open as an array");
    assert_eq!((b.shape(), b.order()), (&shape[..], order));
    assert!(
        bytes_of(b.as_slice()) == bytes_of(&all),
        "the concatenation"
    );
    assert_eq!(
        std::fs::metadata(&path).expect("stat").len(),
        b.info().data_offset + (all.len() * std::mem::size_of::<T>()) as u64,
        "trimmed to the rows"
    );
}

proptest! {
    #![proptest_config(config())]

    /// Any offset and length in any mode: writes in r+/w+ reach the file,
    /// c never changes it, r shows it.
    #[test]
    fn mapped_file_round_trip(
        size in prop_oneof![0usize..64, 0usize..3 * 4096 + 300],
        mode in mode_strategy(),
        off_raw in any::<u16>(),
        len_raw in any::<u16>(),
        flush in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        mapped_file_case(dir.path(), size, mode, off_raw as usize, len_raw as usize, flush);
    }

    /// `.npy` files through `Array<T>`: 0-d and empty shapes included.
    #[test]
    fn npy_round_trip(
        shape in shape_strategy(),
        order in order_strategy(),
        seed in any::<u64>(),
        close in any::<bool>(),
        ty in 0usize..6,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        match ty {
            0 => npy_case::<f64>(d, &shape, order, seed, close),
            1 => npy_case::<i16>(d, &shape, order, seed, close),
            2 => npy_case::<u8>(d, &shape, order, seed, close),
            3 => npy_case::<Complex<f32>>(d, &shape, order, seed, close),
            4 => npy_case::<Bool>(d, &shape, order, seed, close),
            _ => npy_case::<u64>(d, &shape, order, seed, close),
        }
    }

    /// Raw files with offsets aligned for `T` (up to past a page), both
    /// orders.
    #[test]
    fn raw_round_trip(
        shape in shape_strategy(),
        order in order_strategy(),
        k in 0u64..700,
        seed in any::<u64>(),
        ty in 0usize..5,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        match ty {
            0 => raw_case::<f64>(d, &shape, order, k * 8, seed),
            1 => raw_case::<i32>(d, &shape, order, k * 4, seed),
            2 => raw_case::<u16>(d, &shape, order, k * 2, seed),
            3 => raw_case::<i8>(d, &shape, order, k, seed),
            _ => raw_case::<Complex<f64>>(d, &shape, order, k * 8, seed),
        }
    }

    /// Appending random batches of rows gives their concatenation.
    #[test]
    fn appendable_round_trip(
        row_shape in prop::collection::vec(1usize..=4, 0..=2),
        order in order_strategy(),
        batches in prop::collection::vec((0usize..=40, any::<bool>()), 0..=25),
        reopen_at in 0usize..30,
        close in any::<bool>(),
        ty in 0usize..3,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        match ty {
            0 => append_case::<f64>(d, &row_shape, order, &batches, reopen_at, close),
            1 => append_case::<i32>(d, &row_shape, order, &batches, reopen_at, close),
            _ => append_case::<Complex<f32>>(d, &row_shape, order, &batches, reopen_at, close),
        }
    }
}

/// A row of shape `(0,)` has no elements, but it is still a row: NumPy's
/// `np.concatenate` of `(n, 0)` arrays adds up their rows.
#[test]
fn appending_rows_of_no_elements_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty_rows.npy");
    let mut a = ArrayOptions::new()
        .create_appendable::<f64>(&path, &[0])
        .expect("create");
    a.push(&[]).expect("push an empty row");
    a.push(&[]).expect("push another");
    assert_eq!(a.rows(), 2, "each push appends one row");
    a.close().expect("close");
    let b = Array::<f64>::open_npy(&path, Mode::ReadOnly).expect("open");
    assert_eq!(b.shape(), &[2, 0]);
}
