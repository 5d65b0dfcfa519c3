//! `mapio::array::npy::parse_header` on arbitrary bytes.
//!
//! Never panics; on success the header obeys the documented limits, the
//! header NumPy's writer would make for it (`Header::to_bytes`) is 64-byte
//! aligned and parses back to the same array, and rewriting the shape in
//! place either fails cleanly or leaves a preamble that parses back.
//!
//! The parsed `data_offset` itself need not be a multiple of 64: the parser
//! documents that it accepts headers "with no trailing newline or alignment
//! required" (files written by other tools); alignment is checked where the
//! data is viewed as typed elements (`Array::open_npy`), not here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapio::array::npy::{self, ALIGN, MAX_DATA_LEN, MAX_DIMS, MAX_HEADER_LEN, parse_header};

fuzz_target!(|data: &[u8]| {
    let Ok(h) = parse_header(data) else {
        return;
    };
    assert!(
        matches!(h.version, (1, 0) | (2, 0) | (3, 0)),
        "{:?}",
        h.version
    );
    assert!(
        h.data_offset <= data.len(),
        "data_offset past the bytes given"
    );
    assert!(
        h.data_offset <= 12 + MAX_HEADER_LEN,
        "header longer than the cap"
    );
    assert!(h.shape.len() <= MAX_DIMS);
    assert!(h.num_elements().is_some(), "element count overflows");
    let len = h.data_len().expect("data length overflows");
    assert!(len <= MAX_DATA_LEN);

    // What mapio writes for this array: aligned, and reads back the same.
    let bytes = h.to_bytes();
    assert_eq!(
        bytes.len() % ALIGN,
        0,
        "to_bytes is not {ALIGN}-byte aligned"
    );
    let again = parse_header(&bytes).expect("to_bytes does not parse back");
    assert_eq!(again.dtype, h.dtype);
    assert_eq!(again.fortran_order, h.fortran_order);
    assert_eq!(again.shape, h.shape);
    assert_eq!(again.data_offset, bytes.len());
    assert_eq!(again.data_offset % ALIGN, 0);

    // In the file's own version, when it fits.
    if let Ok(bytes) = h.to_bytes_with_version(h.version) {
        let again = parse_header(&bytes).expect("to_bytes_with_version does not parse back");
        assert_eq!(again.version, h.version);
        assert_eq!(
            (again.dtype, again.fortran_order),
            (h.dtype, h.fortran_order)
        );
        assert_eq!(again.shape, h.shape);
        assert_eq!(again.data_offset % ALIGN, 0);
    }

    // Rewriting the shape in place (what AppendableArray does).
    let mut pre = data[..h.data_offset].to_vec();
    let mut shape = h.shape.clone();
    if let Some(axis) = h.growth_axis() {
        shape[axis] = shape[axis].saturating_add(1);
    }
    for new_shape in [h.shape.clone(), shape] {
        let mut copy = pre.clone();
        match npy::rewrite_shape(&mut copy, &h, &new_shape) {
            Ok(()) => {
                let again = parse_header(&copy).expect("rewritten header does not parse");
                assert_eq!(again.shape, new_shape);
                assert_eq!(again.dtype, h.dtype);
                assert_eq!(again.fortran_order, h.fortran_order);
                assert_eq!(again.version, h.version);
                assert_eq!(again.data_offset, h.data_offset);
            }
            Err(_) => assert_eq!(copy, pre, "a failed rewrite changed the preamble"),
        }
    }
    pre.clear();
});
