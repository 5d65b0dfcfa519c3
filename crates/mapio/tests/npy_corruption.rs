//! Corruption campaign for `.npy` files: valid files of many dtypes,
//! shapes and header versions, damaged at random (bit flips, truncation,
//! overwritten ranges, a forged header length or shape), then opened the
//! ways a user opens them. Nothing may panic, and a damaged file must
//! either be refused with an error that names it, or open as an array
//! whose every element lies inside the file (the `.npy` format has no
//! checksum: damage to the data bytes themselves is undetectable by
//! design, damage to the structure is not).
//!
//! `MAPIO_NPY_CORRUPTIONS` sets the number of damaged files (default 400).

use std::path::Path;

use mapio::array::{ArrayOptions, DType, DynArray, Order};
use mapio::map::Mode;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A valid `.npy` file's bytes.
fn original(rng: &mut Rng, dir: &Path) -> Vec<u8> {
    let dtypes = [
        "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u4", "<f4", "<f8", "<c16", ">i4", ">f8",
    ];
    let dtype = DType::parse(dtypes[rng.below(dtypes.len() as u64) as usize]).unwrap();
    let ndim = rng.below(4) as usize;
    let shape: Vec<usize> = (0..ndim).map(|_| rng.below(6) as usize).collect();
    let order = if rng.below(2) == 0 {
        Order::C
    } else {
        Order::Fortran
    };
    let p = dir.join("orig.npy");
    let mut a = ArrayOptions::new()
        .order(order)
        .create_dyn_npy(&p, dtype, &shape)
        .unwrap();
    for b in a.data_mut().unwrap() {
        *b = rng.next() as u8;
    }
    a.close().unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    bytes
}

/// Damages `bytes` in one of several ways; returns a description.
fn damage(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let n = bytes.len() as u64;
    match rng.below(6) {
        0 => {
            let k = 1 + rng.below(8);
            for _ in 0..k {
                let i = rng.below(n) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            format!("{k} bit flips")
        }
        1 => {
            let to = rng.below(n) as usize;
            bytes.truncate(to);
            format!("truncated to {to}")
        }
        2 => {
            let i = rng.below(n) as usize;
            let len = (1 + rng.below(64) as usize).min(bytes.len() - i);
            for b in &mut bytes[i..i + len] {
                *b = rng.next() as u8;
            }
            format!("{len} random bytes at {i}")
        }
        3 => {
            // A forged header length (version 1: u16 at 8).
            let v = rng.next() as u16;
            bytes[8..10].copy_from_slice(&v.to_le_bytes());
            format!("header length {v}")
        }
        4 => {
            // A forged shape: a huge first dimension.
            let text = String::from_utf8_lossy(&bytes[10..bytes.len().min(200)]).into_owned();
            match text.find("'shape': (") {
                Some(at) => {
                    let at = 10 + at + "'shape': (".len();
                    let digits = b"99999999999999999999";
                    let k = (1 + rng.below(20) as usize).min(bytes.len() - at);
                    bytes[at..at + k].copy_from_slice(&digits[..k]);
                    format!("shape forged to {k} nines")
                }
                None => "no shape to forge".into(),
            }
        }
        _ => {
            let extra = rng.below(100) as usize;
            bytes.extend((0..extra).map(|_| rng.next() as u8));
            format!("{extra} bytes appended")
        }
    }
}

#[test]
fn damaged_npy_files_never_panic_and_never_read_outside() {
    let cases: u64 = std::env::var("MAPIO_NPY_CORRUPTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.npy");
    let mut rng = Rng(0xDEC0_DE5E_ED00_0001);
    let (mut refused, mut opened) = (0u64, 0u64);
    for case in 0..cases {
        let mut bytes = original(&mut rng, dir.path());
        let what = damage(&mut rng, &mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let result = std::panic::catch_unwind(|| {
            let mut outcomes = Vec::new();
            // As DynArray (any dtype, any byte order) in r and c.
            for mode in [Mode::ReadOnly, Mode::CopyOnWrite] {
                match ArrayOptions::new().mode(mode).open_dyn_npy(&path) {
                    Ok(a) => {
                        let info = a.info().clone();
                        assert!(
                            info.data_offset + info.data_len <= bytes.len() as u64,
                            "case {case} ({what}): {info:?}"
                        );
                        // Every element can be read.
                        let n = a.iter_c(0..a.len()).count();
                        assert_eq!(n, a.len());
                        outcomes.push(true);
                    }
                    Err(e) => {
                        assert!(
                            e.to_string().contains("damaged.npy"),
                            "case {case} ({what}): {e}"
                        );
                        outcomes.push(false);
                    }
                }
            }
            // As typed arrays: a dtype mismatch is an error too, never a panic.
            let _ = ArrayOptions::new().open_npy::<f64>(&path);
            let _ = ArrayOptions::new().open_npy::<u8>(&path);
            let _ = DynArray::open_npy(&path).map(|a| a.get(0));
            outcomes
        });
        let outcomes = result.unwrap_or_else(|_| panic!("case {case} ({what}) panicked"));
        if outcomes[0] {
            opened += 1;
        } else {
            refused += 1;
        }
        // Opening read-only never changed the file.
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "case {case}: the file changed"
        );
    }
    println!("SCORE damaged_npy={cases} refused={refused} opened_consistent={opened} area=npy");
    assert!(
        refused > cases / 4,
        "most structural damage is refused ({refused} of {cases})"
    );
}
