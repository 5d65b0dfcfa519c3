//! `mapio::log::index::Index::decode` on arbitrary bytes, and on bytes
//! built by `mapio_fuzz::build_index` (section sizes that agree with the
//! length and a correct CRC, so the decoder's deep paths run).
//!
//! Never panics; on success re-encoding gives the same bytes, decoding
//! those again gives them too, and every accessor is total.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapio::log::index::Index;
use mapio_fuzz::{Cursor, build_index};

fn check(bytes: &[u8]) {
    let Ok(idx) = Index::decode(bytes) else {
        return;
    };
    // An index is kept as its file's bytes: encoding gives them back.
    let enc = idx.encode();
    assert_eq!(enc, bytes, "re-encoded bytes differ");
    let again = Index::decode(&enc).expect("a re-encoded index does not decode");
    assert_eq!(again.encode(), enc, "encode/decode is not stable");

    // Every accessor is total on whatever decoded.
    let _ = (idx.covered(), idx.records(), idx.time_range());
    let mut listed = 0usize;
    idx.for_each_key(|_, offs| listed += offs.len());
    let mut total = 0usize;
    for &k in idx.keys().iter().take(256) {
        total += idx.offsets(k).len();
    }
    if idx.keys().len() <= 256 {
        assert_eq!(total, listed, "offsets() and for_each_key() disagree");
    }
    // At most one offset per 4 bytes of the file (entries are 4 or 8).
    assert!(listed <= bytes.len() / 4);
    let mut times = vec![
        f64::NAN,
        f64::NEG_INFINITY,
        -1.0,
        0.0,
        0.5,
        1.0,
        1e300,
        f64::INFINITY,
    ];
    times.extend(idx.checkpoints().iter().take(64).map(|c| c.time));
    for t in times {
        let (pe, ss) = idx.bounds(t);
        assert!(ss >= pe, "bounds({t}) = ({pe}, {ss})");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.u8();
    if mode & 1 == 0 {
        let bytes = build_index(&mut c);
        check(&bytes);
    } else {
        check(data);
        check(c.rest());
    }
});
