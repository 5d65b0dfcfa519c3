//! A whole `.npy` file from arbitrary bytes, opened with
//! `DynArray::open_npy` and read element by element with `iter_c`; on the
//! same file, the typed and copy-on-write opens.
//!
//! Never panics; what opens is consistent with the file: the data lies
//! inside it, the element count matches the shape, every element is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapio::array::{Array, ArrayOptions, DynArray};
use mapio::map::Mode;
use mapio_fuzz::write_file;

/// Elements read per file (the inputs are small; this bounds time for
/// shapes with many 1-byte elements).
const MAX_ELEMENTS: usize = 1 << 14;

fn typed<T: mapio::array::Element>(path: &std::path::Path) {
    if let Ok(a) = Array::<T>::open_npy(path, Mode::ReadOnly) {
        assert_eq!(a.as_slice().len(), a.len());
        let v = a.view();
        assert_eq!(v.len(), a.len());
        assert_eq!(v.shape(), a.shape());
    }
}

fuzz_target!(|data: &[u8]| {
    let path = write_file("f.npy", data);
    let Ok(a) = DynArray::open_npy(&path) else {
        return;
    };
    let info = a.info().clone();
    assert_eq!(info.file_size, data.len() as u64);
    let end = info
        .data_offset
        .checked_add(info.data_len)
        .expect("data end overflows");
    assert!(
        end <= info.file_size,
        "data past the end of the file: {info:?}"
    );
    let n = a.len();
    assert_eq!(info.data_len, (n * a.dtype().itemsize()) as u64);
    assert_eq!(a.data().len() as u64, info.data_len);
    assert_eq!(
        a.data(),
        &data[info.data_offset as usize..end as usize],
        "data() is not the file's bytes"
    );
    let take = n.min(MAX_ELEMENTS);
    assert_eq!(a.iter_c(0..take).count(), take, "iter_c skipped elements");
    assert!(a.get(n).is_none());
    let _ = a.iter_c(n.saturating_sub(3)..usize::MAX).count();
    drop(a);

    // Typed opens: a dtype mismatch or misaligned data is an error, never a panic.
    typed::<u8>(&path);
    typed::<i16>(&path);
    typed::<f32>(&path);
    typed::<f64>(&path);
    typed::<u64>(&path);
    // Copy-on-write: writes stay in memory.
    if let Ok(mut a) = ArrayOptions::new()
        .mode(Mode::CopyOnWrite)
        .open_dyn_npy(&path)
        && let Ok(d) = a.data_mut()
    {
        d.fill(0xA5);
    }
    assert_eq!(
        std::fs::read(&path).expect("read back"),
        data,
        "copy-on-write changed the file"
    );
});
