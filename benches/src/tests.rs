//! Every contender of a workload does the same work: same checksum, and for
//! the write workload the same file, byte for byte.

use std::path::{Path, PathBuf};

use super::*;

/// Sizes around the edges: empty, less than one lane, not a whole number
/// of pages or blocks, and a few buffers' worth.
const SIZES: [usize; 6] = [0, 1, 7, 1000, 4096 * 3 + 5, BUFFER / 8 * 2 + 777];

fn write_all(dir: &Path, n: usize) -> Vec<(Contender, PathBuf, u64)> {
    Workload::Write
        .contenders()
        .iter()
        .map(|&c| {
            let path = dir.join(format!("{c}-{n}.f64"));
            let sum = run_write(c, &path, n).unwrap_or_else(|e| panic!("{c}, n = {n}: {e}"));
            (c, path, sum)
        })
        .collect()
}

#[test]
fn write_contenders_agree_and_make_identical_files() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    for n in SIZES {
        let expected_sum = expected_write_checksum(n);
        let mut expected_bytes = Vec::with_capacity(n * 8);
        for i in 0..n {
            expected_bytes.extend_from_slice(&value(i).to_le_bytes());
        }
        for (c, path, sum) in write_all(dir.path(), n) {
            assert_eq!(sum, expected_sum, "{c}, n = {n}: checksum");
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len(), n * 8, "{c}, n = {n}: file length");
            assert!(
                bytes == expected_bytes,
                "{c}, n = {n}: file contents differ"
            );
        }
    }
}

#[test]
fn write_contenders_overwrite_a_longer_file() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    for &c in Workload::Write.contenders() {
        let path = dir.path().join(format!("{c}.f64"));
        std::fs::write(&path, vec![0xAB; 100_000]).unwrap();
        run_write(c, &path, 1000).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 8000, "{c}");
        assert_eq!(&bytes[8..16], &value(1).to_le_bytes(), "{c}");
    }
}

#[test]
fn seq_sum_contenders_agree() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    for n in SIZES {
        let path = dir.path().join(format!("data-{n}.f64"));
        prepare_file(&path, n).unwrap();
        let expected = expected_seq_sum(n);
        // Exact: the values are multiples of 0.5 and the sums stay small.
        assert_eq!(
            f64::from_bits(expected),
            0.5 * (n as f64) * (n.max(1) as f64 - 1.0) / 2.0
        );
        for &c in Workload::SeqSum.contenders() {
            let got = run_seq_sum(c, &path, n).unwrap_or_else(|e| panic!("{c}, n = {n}: {e}"));
            assert_eq!(got, expected, "{c}, n = {n}");
        }
    }
}

#[test]
fn seq_sum_of_a_prefix_and_of_too_much() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.f64");
    prepare_file(&path, 5000).unwrap();
    for &c in Workload::SeqSum.contenders() {
        assert_eq!(
            run_seq_sum(c, &path, 333).unwrap(),
            expected_seq_sum(333),
            "{c}"
        );
        assert!(
            run_seq_sum(c, &path, 5001).is_err(),
            "{c} read past the end"
        );
    }
}

#[test]
fn random_contenders_agree() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let n = BUFFER / 8 * 3 + 100; // a partial block at the end
    let path = dir.path().join("data.f64");
    let len = prepare_file(&path, n).unwrap();
    let offsets = random_offsets(len, 2000, DEFAULT_SEED).unwrap();
    assert!(
        offsets
            .iter()
            .all(|&o| o % BLOCK as u64 == 0 && o + BLOCK as u64 <= len)
    );
    // The reference: the file's bytes, folded block by block.
    let bytes = std::fs::read(&path).unwrap();
    let expected = offsets.iter().fold(0u64, |acc, &o| {
        let o = o as usize;
        fold_block(acc, block_checksum(&bytes[o..o + BLOCK]))
    });
    assert_ne!(expected, 0);
    for &c in Workload::Random4k.contenders() {
        let mut r = open_block_reader(c, &path).unwrap();
        assert_eq!(r.name(), c.name());
        assert_eq!(r.len(), len);
        // Twice through the same reader: a warm mapping reads the same.
        assert_eq!(r.read_blocks(&offsets).unwrap(), expected, "{c}");
        assert_eq!(r.read_blocks(&offsets).unwrap(), expected, "{c} (again)");
        assert_eq!(run_random_4k(c, &path, &offsets).unwrap(), expected, "{c}");
        // The last whole block is fine, the partial one after it is not,
        // nor is an unaligned offset.
        let last = (len / BLOCK as u64 - 1) * BLOCK as u64;
        assert!(r.read_blocks(&[last]).is_ok(), "{c}");
        assert!(r.read_blocks(&[last + BLOCK as u64]).is_err(), "{c}");
        assert!(r.read_blocks(&[8]).is_err(), "{c}");
    }
}

#[test]
fn contenders_outside_their_workload_are_refused() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.f64");
    prepare_file(&path, 1024).unwrap();
    for c in Contender::ALL {
        let in_write = Workload::Write.contenders().contains(&c);
        let in_seq = Workload::SeqSum.contenders().contains(&c);
        let in_random = Workload::Random4k.contenders().contains(&c);
        let scratch = dir.path().join(format!("w-{c}"));
        assert_eq!(run_write(c, &scratch, 10).is_ok(), in_write, "{c}");
        assert_eq!(run_seq_sum(c, &path, 10).is_ok(), in_seq, "{c}");
        assert_eq!(open_block_reader(c, &path).is_ok(), in_random, "{c}");
    }
}

#[test]
fn names_round_trip() {
    for w in Workload::ALL {
        assert_eq!(w.name().parse::<Workload>().unwrap(), w);
        assert_eq!(w.contenders()[0], Contender::Mapio);
    }
    for c in Contender::ALL {
        assert_eq!(c.to_string().parse::<Contender>().unwrap(), c);
    }
    assert!("nope".parse::<Contender>().is_err());
    assert!("nope".parse::<Workload>().is_err());
}

#[test]
fn sum_does_not_depend_on_how_values_are_split() {
    let values: Vec<f64> = (0..1000).map(|i| value(i) * 1.37 + 0.1).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut whole = SumF64::new();
    whole.add_values(&values);
    for split in [1, 3, 8, 13, 64, 999] {
        let mut a = SumF64::new();
        let mut b = SumF64::new();
        for (vs, bs) in values.chunks(split).zip(bytes.chunks(split * 8)) {
            a.add_values(vs);
            b.add_le_bytes(bs).unwrap();
        }
        assert_eq!(a.checksum(), whole.checksum(), "split {split}");
        assert_eq!(b.checksum(), whole.checksum(), "split {split} (bytes)");
        assert_eq!(b.count(), 1000);
    }
    assert!(SumF64::new().add_le_bytes(&[0; 7]).is_err());
}

#[test]
fn block_checksums_agree() {
    let values: Vec<f64> = (0..517).map(|i| value(i) - 3.25).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(block_checksum(&bytes), block_checksum_f64(&values));
}

#[test]
fn offsets_are_deterministic() {
    let a = random_offsets(1 << 28, 100, 42).unwrap();
    assert_eq!(a, random_offsets(1 << 28, 100, 42).unwrap());
    assert_ne!(a, random_offsets(1 << 28, 100, 43).unwrap());
    assert!(random_offsets(4095, 1, 1).is_err());
    assert_eq!(random_offsets(4096, 3, 1).unwrap(), vec![0, 0, 0]);
}
