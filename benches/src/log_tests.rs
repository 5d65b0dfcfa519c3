//! Every log contender appends the same records and returns the same
//! checksum; a damaged file does not.

use super::*;

fn specs() -> Vec<LogSpec> {
    let mut v = Vec::new();
    for payload in [16, 64, 1024] {
        for (records, threads) in [(0, 1), (1, 1), (1000, 1), (1001, 3), (257, 2)] {
            v.push(LogSpec::new(payload, records, threads).unwrap());
        }
    }
    v
}

#[test]
fn spec_checks_and_shares() {
    assert!(LogSpec::new(8, 1, 1).is_err());
    assert!(LogSpec::new(20, 1, 1).is_err());
    assert!(LogSpec::new(64, 1, 0).is_err());
    let s = LogSpec::new(64, 10, 3).unwrap();
    assert_eq!(
        (0..3).map(|t| s.count(t)).collect::<Vec<_>>(),
        vec![4, 3, 3]
    );
    assert_eq!(s.payload_bytes(), 640);
    assert_eq!(s.raw_file_len(), 10 * 72);
}

#[test]
fn payloads_carry_thread_and_sequence() {
    let p = payload(3, 77, 64);
    assert_eq!(payload_ids(&p), (3, 77));
    assert_ne!(payload(3, 77, 64), payload(2, 77, 64));
    assert_ne!(
        record_hash(&payload(0, 1, 64)),
        record_hash(&payload(0, 2, 64))
    );
    assert_ne!(
        record_hash(&payload(0, 1, 64)),
        record_hash(&payload(1, 1, 64))
    );
}

#[test]
fn every_contender_returns_the_expected_checksum() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    for spec in specs() {
        let want = expected_log_checksum(&spec);
        for c in LogContender::ALL {
            let path = dir.path().join(format!("{}.log", c.name()));
            let run = run_log_append(c, &path, &spec)
                .unwrap_or_else(|e| panic!("{} {spec:?}: {e}", c.name()));
            assert_eq!(run.checksum, want, "{} {spec:?}", c.name());
            assert!(run.appends <= run.total, "{}", c.name());
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[test]
fn the_files_hold_what_each_format_says() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let spec = LogSpec::new(64, 100, 2).unwrap();
    // mapio: a clean log of 100 records, keys 0 and 1.
    let p = dir.path().join("m.log");
    log_mapio(&p, &spec).unwrap();
    let reader = LogReader::open(&p).unwrap();
    let scan = reader.scan();
    assert_eq!(scan.records, 100);
    assert!(scan.clean && scan.is_intact());
    assert_eq!(reader.history(1).unwrap().len(), 50);
    // mutex_bufwriter: 100 frames of 24 + 64 bytes.
    let p = dir.path().join("b.log");
    log_mutex_bufwriter(&p, &spec).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 100 * 88);
    // raw: exactly its records, nothing more.
    let p = dir.path().join("r.log");
    log_raw_swift_path(&p, &spec);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 100 * 72);
}

fn log_raw_swift_path(p: &Path, spec: &LogSpec) {
    crate::raw::log_raw_swift(p, spec).unwrap();
}

#[test]
fn damage_spoils_the_checksum() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().unwrap();
    let spec = LogSpec::new(64, 50, 1).unwrap();
    let want = expected_log_checksum(&spec);

    // A flipped payload byte in each format.
    let p = dir.path().join("b.log");
    log_mutex_bufwriter(&p, &spec).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[24 + 30] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    assert_ne!(checksum_framed(&p).unwrap(), want);
    // A frame with the wrong key (but a right CRC) is caught too.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[24 + 30] ^= 1;
    let head = frame_head(9, 0.0, &bytes[24..88]);
    bytes[..24].copy_from_slice(&head);
    std::fs::write(&p, &bytes).unwrap();
    assert_ne!(checksum_framed(&p).unwrap(), want);
    // A truncated file.
    std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    assert_ne!(checksum_framed(&p).unwrap(), want);

    let p = dir.path().join("r.log");
    log_raw_swift_path(&p, &spec);
    let mut bytes = std::fs::read(&p).unwrap();
    assert_eq!(checksum_raw_bytes(&bytes, &spec), want);
    bytes[72 * 3 + 40] ^= 0x10;
    assert_ne!(checksum_raw_bytes(&bytes, &spec), want);
    bytes[72 * 3 + 40] ^= 0x10;
    bytes[72 * 3] = 0; // a record's length word
    assert_ne!(checksum_raw_bytes(&bytes, &spec), want);
    // A missing record.
    let bytes = std::fs::read(&p).unwrap();
    assert_ne!(checksum_raw_bytes(&bytes[72..], &spec), want);

    // mapio: a record the CRC rejects is not read, so it is missing.
    let p = dir.path().join("m.log");
    log_mapio(&p, &spec).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    let last_payload = bytes.len() - 16 - 20;
    bytes[last_payload] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    assert_ne!(checksum_mapio_log(&p).unwrap(), want);
}
