use super::*;
use crate::map::Mode;
use num_complex::Complex;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    (dir, p)
}

#[test]
fn npy_round_trip_typed() {
    let (_d, p) = tmp("a.npy");
    let mut a = Array::<f64>::create_npy(&p, &[3, 4]).unwrap();
    for (i, x) in a.as_slice_mut().unwrap().iter_mut().enumerate() {
        *x = i as f64 * 0.5;
    }
    a.view_mut().unwrap()[[2, 3]] = -1.0;
    a.close().unwrap();
    let a = Array::<f64>::open_npy(&p, Mode::ReadOnly).unwrap();
    assert_eq!(a.shape(), &[3, 4]);
    assert_eq!(a.view()[[1, 1]], 2.5);
    assert_eq!(a.view()[[2, 3]], -1.0);
    assert_eq!(a.info().format, FileFormat::Npy { version: (1, 0) });
    assert_eq!(a.info().data_offset % 64, 0);
}

#[test]
fn fortran_order_view_and_c_order_get() {
    let (_d, p) = tmp("f.npy");
    let mut a = ArrayOptions::new()
        .order(Order::Fortran)
        .create_npy::<i32>(&p, &[2, 3])
        .unwrap();
    {
        let mut v = a.view_mut().unwrap();
        for i in 0..2 {
            for j in 0..3 {
                v[[i, j]] = (10 * i + j) as i32;
            }
        }
    }
    // Memory order is column-major.
    assert_eq!(a.as_slice(), &[0, 10, 1, 11, 2, 12]);
    let got: Vec<Scalar> = a.as_dyn().iter_c(0..6).collect();
    let want: Vec<Scalar> = [0, 1, 2, 10, 11, 12]
        .iter()
        .map(|&x| Scalar::Int(x))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn zero_d_and_empty_arrays() {
    let (_d, p) = tmp("z.npy");
    let mut a = Array::<u16>::create_npy(&p, &[]).unwrap();
    assert_eq!(a.len(), 1);
    a.as_slice_mut().unwrap()[0] = 7;
    a.close().unwrap();
    let a = Array::<u16>::open_npy(&p, Mode::ReadOnly).unwrap();
    assert_eq!(a.view().ndim(), 0);
    assert_eq!(a.view()[[]], 7);
    let (_d2, q) = tmp("e.npy");
    let a = Array::<f32>::create_npy(&q, &[0, 5]).unwrap();
    assert!(a.is_empty());
    assert_eq!(a.view().shape(), &[0, 5]);
    drop(a);
    let a = Array::<f32>::open_npy(&q, Mode::ReadWrite).unwrap();
    assert_eq!(a.shape(), &[0, 5]);
}

#[test]
fn wrong_dtype_and_foreign_order_are_errors() {
    let (_d, p) = tmp("a.npy");
    Array::<i32>::create_npy(&p, &[4]).unwrap().close().unwrap();
    let e = Array::<f32>::open_npy(&p, Mode::ReadOnly).unwrap_err();
    assert!(e.to_string().contains("dtype mismatch"), "{e}");
    assert!(e.to_string().contains("a.npy"), "{e}");
    // A big-endian file: DynArray reads it, Array<i32> refuses it.
    let (_d2, q) = tmp("be.npy");
    let be = DType::parse(">i4").unwrap();
    let mut d = ArrayOptions::new().create_dyn_npy(&q, be, &[2]).unwrap();
    d.data_mut()
        .unwrap()
        .copy_from_slice(&[0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]);
    d.close().unwrap();
    let d = DynArray::open_npy(&q).unwrap();
    assert_eq!(d.get(0), Some(Scalar::Int(258)));
    assert_eq!(d.get(1), Some(Scalar::Int(-2)));
    let e = Array::<i32>::open_npy(&q, Mode::ReadOnly).unwrap_err();
    assert!(e.to_string().contains("byte order"), "{e}");
}

#[test]
fn raw_like_np_memmap() {
    let (_d, p) = tmp("raw.bin");
    let mut a = ArrayOptions::new()
        .offset(16)
        .create_raw::<f32>(&p, &[2, 2])
        .unwrap();
    a.as_slice_mut()
        .unwrap()
        .copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
    a.close().unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 16 + 16);
    // Shape inferred: 1-d of everything after the offset.
    let a = ArrayOptions::new()
        .offset(16)
        .open_raw::<f32>(&p, None)
        .unwrap();
    assert_eq!(a.shape(), &[4]);
    let a = ArrayOptions::new()
        .offset(16)
        .order(Order::Fortran)
        .open_raw::<f32>(&p, Some(&[2, 2]))
        .unwrap();
    assert_eq!(a.view()[[0, 1]], 3.0);
    // Misaligned offset: an error, never a misaligned &[f32].
    let e = ArrayOptions::new()
        .offset(2)
        .open_raw::<f32>(&p, Some(&[2]))
        .unwrap_err();
    assert!(e.to_string().contains("aligned"), "{e}");
    // Not a whole number of elements.
    let e = ArrayOptions::new()
        .offset(15)
        .open_raw::<f32>(&p, None)
        .unwrap_err();
    assert!(e.to_string().contains("whole number"), "{e}");
    // Shape larger than the file.
    let e = Array::<f32>::open_raw(&p, Mode::ReadOnly, &[100]).unwrap_err();
    assert!(matches!(e, crate::Error::Format { .. }), "{e}");
}

#[test]
fn truncated_and_damaged_npy() {
    let (_d, p) = tmp("t.npy");
    Array::<f64>::create_npy(&p, &[100])
        .unwrap()
        .close()
        .unwrap();
    let full = std::fs::read(&p).unwrap();
    // Data cut short.
    std::fs::write(&p, &full[..full.len() - 8]).unwrap();
    let e = Array::<f64>::open_npy(&p, Mode::ReadOnly).unwrap_err();
    assert!(matches!(e, crate::Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    // r+ must not extend or truncate it.
    assert!(Array::<f64>::open_npy(&p, Mode::ReadWrite).is_err());
    assert_eq!(std::fs::metadata(&p).unwrap().len(), full.len() as u64 - 8);
    // Header cut short.
    std::fs::write(&p, &full[..20]).unwrap();
    let e = Array::<f64>::open_npy(&p, Mode::ReadOnly).unwrap_err();
    assert!(matches!(e, crate::Error::Corrupt { .. }), "{e}");
    // The whole file was read: the message says it is truncated, and does
    // not ask the caller to "read more of the file".
    let msg = e.to_string();
    assert!(msg.contains("truncated"), "{msg}");
    assert!(
        msg.contains("128 bytes") && msg.contains("only 20"),
        "{msg}"
    );
    assert!(!msg.contains("read more"), "{msg}");
    // Wrong magic.
    let mut bad = full.clone();
    bad[1] = b'X';
    std::fs::write(&p, &bad).unwrap();
    let e = Array::<f64>::open_npy(&p, Mode::ReadOnly).unwrap_err();
    assert!(matches!(e, crate::Error::Corrupt { .. }), "{e}");
    // Empty file.
    std::fs::write(&p, b"").unwrap();
    assert!(Array::<f64>::open_npy(&p, Mode::ReadOnly).is_err());
}

/// A typed raw array whose offset would leave its data unaligned is
/// refused before the file is touched (`w+` would have emptied it).
#[test]
fn unaligned_typed_create_refused_before_truncating() {
    let (_d, p) = tmp("keep.bin");
    std::fs::write(&p, vec![b'Z'; 10_000]).unwrap();
    let e = ArrayOptions::new()
        .offset(3)
        .create_raw::<f32>(&p, &[2])
        .unwrap_err();
    assert!(e.to_string().contains("multiple of 4"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), vec![b'Z'; 10_000]);
    let missing = p.with_file_name("new.bin");
    assert!(
        ArrayOptions::new()
            .offset(6)
            .create_raw::<f64>(&missing, &[1])
            .is_err()
    );
    assert!(!missing.exists());
    // Nothing to misalign: no data, or an element type of alignment 1.
    ArrayOptions::new()
        .offset(3)
        .create_raw::<f32>(&missing, &[0])
        .unwrap();
    ArrayOptions::new()
        .offset(3)
        .create_raw::<u8>(&missing, &[5])
        .unwrap();
}

/// A `.npy` whose header leaves its data unaligned (legal, though NumPy
/// never writes one) opens as a `DynArray`; a typed open says why not,
/// without advice about offsets that a `.npy` does not have.
#[test]
fn npy_with_unaligned_data_opens_dynamically() {
    let (_d, p) = tmp("tight.npy");
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }".to_string();
    while 10 + header.len() + 1 < 73 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for x in [1.5f64, -2.0] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&p, &b).unwrap();
    let d = DynArray::open_npy(&p).unwrap();
    assert_eq!(d.info().data_offset, 73);
    assert_eq!(d.get(1), Some(Scalar::Float(-2.0)));
    let e = Array::<f64>::open_npy(&p, Mode::ReadOnly).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("header ends at offset 73") && m.contains("DynArray"),
        "{m}"
    );
    assert!(!m.contains("choose an offset"), "{m}");
}

#[test]
fn copy_on_write_npy_leaves_file() {
    let (_d, p) = tmp("c.npy");
    Array::<u8>::create_npy(&p, &[8]).unwrap().close().unwrap();
    let before = std::fs::read(&p).unwrap();
    let mut a = Array::<u8>::open_npy(&p, Mode::CopyOnWrite).unwrap();
    a.as_slice_mut().unwrap().fill(5);
    assert!(a.as_slice().iter().all(|&x| x == 5));
    a.close().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn complex_and_bool_elements() {
    let (_d, p) = tmp("c.npy");
    let mut a = Array::<Complex<f64>>::create_npy(&p, &[2]).unwrap();
    a.as_slice_mut().unwrap()[1] = Complex::new(1.5, -2.0);
    a.close().unwrap();
    let d = DynArray::open_npy(&p).unwrap();
    assert_eq!(d.dtype().descr(), "<c16");
    assert_eq!(d.get(1), Some(Scalar::Complex(1.5, -2.0)));
    let (_d2, q) = tmp("b.npy");
    let mut b = Array::<Bool>::create_npy(&q, &[3]).unwrap();
    b.as_slice_mut().unwrap()[2] = Bool::from(true);
    b.close().unwrap();
    let d = DynArray::open_npy(&q).unwrap();
    assert_eq!(d.dtype().descr(), "|b1");
    assert_eq!(d.get(2), Some(Scalar::Bool(true)));
}

#[test]
fn appendable_grows_and_reopens() {
    let (_d, p) = tmp("app.npy");
    let mut a = AppendableArray::<f64>::create(&p, &[3]).unwrap();
    for i in 0..100_000 {
        let x = i as f64;
        a.push(&[x, x + 0.5, -x]).unwrap();
    }
    assert_eq!(a.rows(), 100_000);
    assert!(a.push(&[1.0]).is_err());
    assert!(a.extend(&[1.0, 2.0]).is_err());
    a.flush().unwrap();
    // After flush the header already describes every row.
    let hdr = npy::parse_header(&std::fs::read(&p).unwrap()).unwrap();
    assert_eq!(hdr.shape, vec![100_000, 3]);
    a.close().unwrap();
    let size = std::fs::metadata(&p).unwrap().len();
    assert_eq!(size, hdr.data_offset as u64 + 100_000 * 3 * 8);
    let mut a = AppendableArray::<f64>::open(&p).unwrap();
    a.extend(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    drop(a); // drop also leaves a consistent file
    let a = Array::<f64>::open_npy(&p, Mode::ReadOnly).unwrap();
    assert_eq!(a.shape(), &[100_002, 3]);
    assert_eq!(a.view()[[99_999, 1]], 99_999.5);
    assert_eq!(a.view()[[100_001, 2]], 6.0);
    assert!(AppendableArray::<f32>::open(&p).is_err());
}

/// A `.npy` saved without growth padding (a tight header) is refused by
/// `AppendableArray::open` at once, not after rows were accepted, and is
/// left as it was.
#[test]
fn appendable_open_refuses_a_header_without_room_to_grow() {
    let (_d, p) = tmp("tight.npy");
    // 10 + 63 = 73 bytes of preamble, no spare space for more digits.
    let mut header = "{'descr': '<f8', 'fortran_order': False, 'shape': (9, 1999), }".to_string();
    header.push('\n');
    assert_eq!(10 + header.len(), 73);
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.resize(b.len() + 9 * 1999 * 8, 0);
    std::fs::write(&p, &b).unwrap();
    let e = AppendableArray::<f64>::open(&p).expect_err("refused at open");
    assert!(e.to_string().contains("no room to grow"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b, "the file is untouched");
    // NumPy's own header (padded for growth) opens and grows.
    let q = p.with_file_name("padded.npy");
    let a = Array::<f64>::create_npy(&q, &[9, 1999]).unwrap();
    a.close().unwrap();
    let mut g = AppendableArray::<f64>::open(&q).unwrap();
    g.extend(&vec![1.0; 1999]).unwrap();
    g.close().unwrap();
    assert_eq!(DynArray::open_npy(&q).unwrap().info().shape, [10, 1999]);
}

/// Rows of no elements (a zero in the row shape, as in NumPy's
/// `np.zeros((3, 0))`) reopen for appending, in both orders: a file mapio
/// wrote itself, or NumPy did, is not "too large to exist".
#[test]
fn appendable_reopens_rows_of_no_elements() {
    let (_d, p) = tmp("empty_rows.npy");
    let mut a = AppendableArray::<f64>::create(&p, &[0]).unwrap();
    a.push(&[]).unwrap();
    a.push(&[]).unwrap();
    a.close().unwrap();
    let mut a = AppendableArray::<f64>::open(&p).unwrap();
    assert_eq!(a.shape(), vec![2, 0]);
    a.push(&[]).unwrap();
    a.close().unwrap();
    assert_eq!(DynArray::open_npy(&p).unwrap().shape(), &[3, 0]);

    let q = p.with_file_name("empty_rows_f.npy");
    let mut a = ArrayOptions::new()
        .order(Order::Fortran)
        .create_appendable::<i32>(&q, &[4, 0])
        .unwrap();
    a.push(&[]).unwrap();
    a.close().unwrap();
    let mut a = AppendableArray::<i32>::open(&q).unwrap();
    assert_eq!(a.shape(), vec![4, 0, 1]);
    a.push(&[]).unwrap();
    a.close().unwrap();
    assert_eq!(DynArray::open_npy(&q).unwrap().shape(), &[4, 0, 2]);
}

#[test]
fn appendable_fortran_grows_last_axis() {
    let (_d, p) = tmp("f.npy");
    let mut a = ArrayOptions::new()
        .order(Order::Fortran)
        .create_appendable::<i16>(&p, &[2])
        .unwrap();
    a.push(&[1, 2]).unwrap();
    a.push(&[3, 4]).unwrap();
    assert_eq!(a.shape(), vec![2, 2]);
    a.close().unwrap();
    let a = Array::<i16>::open_npy(&p, Mode::ReadOnly).unwrap();
    assert_eq!(a.order(), Order::Fortran);
    assert_eq!(a.view()[[1, 0]], 2);
    assert_eq!(a.view()[[0, 1]], 3);
}

#[test]
fn appendable_full_disk_keeps_rows() {
    use crate::sys::fault::{self, Op};
    let (_d, p) = tmp("full.npy");
    let mut a = AppendableArray::<u64>::create(&p, &[1]).unwrap();
    a.extend(&vec![7u64; 1 << 17]).unwrap(); // exactly 1 MiB: the first step
    fault::inject(Op::Fallocate, libc::ENOSPC, 0, 2);
    let e = a.push(&[8]).unwrap_err();
    assert!(e.is_no_space(), "{e}");
    assert_eq!(a.rows(), 1 << 17);
    a.close().unwrap();
    let a = Array::<u64>::open_npy(&p, Mode::ReadOnly).unwrap();
    assert_eq!(a.len(), 1 << 17);
    assert!(a.as_slice().iter().all(|&x| x == 7));
}

#[test]
fn atomic_array_shared_between_handles() {
    let (_d, p) = tmp("at.npy");
    let a = AtomicArray::<AtomicU64>::create_npy(&p, &[10]).unwrap();
    let b = AtomicArray::<AtomicU64>::open_npy(&p).unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    a.as_slice().unwrap()[3].fetch_add(1, Ordering::Relaxed);
                    b.as_slice().unwrap()[3].fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(a.load(3, Ordering::Acquire), Some(40_000));
    let r = ArrayOptions::new()
        .open_atomic_npy::<AtomicU64>(&p)
        .unwrap();
    assert_eq!(r.load(3, Ordering::Acquire), Some(40_000));
    assert!(r.as_slice().is_err());
    assert_eq!(r.load(10, Ordering::Acquire), None);
    // Wrong atomic width is a dtype mismatch.
    assert!(AtomicArray::<AtomicU32>::open_npy(&p).is_err());
    // A plain open is refused while sharers are attached.
    assert!(matches!(
        Array::<u64>::open_npy(&p, Mode::ReadOnly),
        Err(crate::Error::Locked { .. })
    ));
}

fn any_dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(
        [
            "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8", "<c8",
            "<c16", ">i2", ">i4", ">f8", ">c16", ">u8",
        ]
        .to_vec(),
    )
    .prop_map(|s| DType::parse(s).unwrap())
}

fn any_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 0..4)
}

fn canonical(d: DType, s: Scalar) -> Scalar {
    // Round the random bytes through decode/encode so that values such as
    // NaN payloads and bools compare by what a reader sees.
    let mut b = vec![0u8; d.itemsize()];
    d.encode(&s, &mut b);
    d.decode(&b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever is written through a DynArray in any dtype, shape, order,
    /// format and offset reads back element for element in C order.
    #[test]
    fn dyn_round_trip(dtype in any_dtype(), shape in any_shape(), fortran in any::<bool>(),
                      npy_format in any::<bool>(), offset_items in 0u64..20, seed in any::<u64>()) {
        let (_d, p) = tmp("x");
        let order = if fortran { Order::Fortran } else { Order::C };
        let opts = ArrayOptions::new().order(order).offset(offset_items * dtype.itemsize() as u64);
        let mut a = if npy_format {
            opts.create_dyn_npy(&p, dtype, &shape).unwrap()
        } else {
            opts.create_dyn_raw(&p, dtype, &shape).unwrap()
        };
        let mut state = seed | 1;
        for b in a.data_mut().unwrap() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            *b = state as u8;
        }
        let expected: Vec<Scalar> = a.iter_c(0..a.len()).collect();
        a.close().unwrap();
        let b = if npy_format {
            DynArray::open_npy(&p).unwrap()
        } else {
            let off = offset_items * dtype.itemsize() as u64;
            DynArray::open_raw(&p, dtype, Some(&shape), off, order).unwrap()
        };
        prop_assert_eq!(b.shape(), &shape[..]);
        prop_assert_eq!(b.info().order, order);
        let got: Vec<Scalar> = b.iter_c(0..b.len()).collect();
        prop_assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            let (g, e) = (canonical(dtype, *g), canonical(dtype, *e));
            // NaN != NaN: compare bit patterns through the encoder.
            let (mut gb, mut eb) = (vec![0u8; dtype.itemsize()], vec![0u8; dtype.itemsize()]);
            dtype.encode(&g, &mut gb);
            dtype.encode(&e, &mut eb);
            prop_assert_eq!(gb, eb);
        }
    }

    /// Typed arrays: the ndarray view agrees with C-order reading.
    #[test]
    fn typed_view_matches_c_order(shape in any_shape(), fortran in any::<bool>()) {
        let (_d, p) = tmp("t.npy");
        let order = if fortran { Order::Fortran } else { Order::C };
        let mut a = ArrayOptions::new().order(order)
        .create_npy::<i64>(&p, &shape).unwrap();
        for (i, x) in a.as_slice_mut().unwrap().iter_mut().enumerate() {
            *x = i as i64 * 3 - 7;
        }
        let c_order: Vec<i64> = a.view().iter().copied().collect();
        let via_dyn: Vec<i64> = a.as_dyn().iter_c(0..a.len()).map(|s| match s {
            Scalar::Int(v) => v,
            other => panic!("{other:?}"),
        }).collect();
        prop_assert_eq!(c_order, via_dyn);
    }
}

/// `create_new` refuses an existing file (and `nofollow` a link to one)
/// and leaves it as it was, as `mapio create --force` relies on for its
/// temporary file.
#[test]
fn create_new_and_nofollow_leave_existing_files_alone() {
    let (d, p) = tmp("exists.npy");
    std::fs::write(&p, b"keep").unwrap();
    let e = ArrayOptions::new()
        .create_new(true)
        .create_npy::<f64>(&p, &[4])
        .unwrap_err();
    assert!(e.to_string().contains("exists"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"keep");
    let link = d.path().join("link.npy");
    std::os::unix::fs::symlink(&p, &link).unwrap();
    for opts in [
        ArrayOptions::new().create_new(true),
        ArrayOptions::new().nofollow(true),
    ] {
        assert!(opts.create_dyn_npy(&link, DType::F64, &[4]).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"keep");
    }
    // Without either, w+ overwrites through the link, as np.memmap does.
    ArrayOptions::new().create_npy::<f64>(&link, &[4]).unwrap();
    assert_ne!(std::fs::read(&p).unwrap(), b"keep");
}

/// A program can tell what did not match without reading the message.
#[test]
fn format_errors_say_what_did_not_match() {
    use crate::Mismatch;
    let kind = |r: Result<Array<f64>>| match r {
        Err(Error::Format { kind, .. }) => kind,
        Err(e) => panic!("not a Format error: {e}"),
        Ok(_) => panic!("opened"),
    };
    let (d, p) = tmp("f32.npy");
    Array::<f32>::create_npy(&p, &[4]).unwrap().close().unwrap();
    assert_eq!(
        kind(ArrayOptions::new().open_npy::<f64>(&p)),
        Mismatch::DType
    );
    let raw = d.path().join("raw.bin");
    std::fs::write(&raw, [0u8; 80]).unwrap();
    let opts = ArrayOptions::new();
    assert_eq!(
        kind(opts.open_raw::<f64>(&raw, Some(&[100]))),
        Mismatch::TooShort
    );
    assert_eq!(
        kind(
            ArrayOptions::new()
                .offset(3)
                .open_raw::<f64>(&raw, Some(&[2]))
        ),
        Mismatch::Alignment
    );
    assert_eq!(
        kind(ArrayOptions::new().offset(4).open_raw::<f64>(&raw, None)),
        Mismatch::Shape
    );
}
