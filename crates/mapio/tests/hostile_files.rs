//! Regression tests for the findings of the security review (SECURITY.md,
//! F1–F16): hostile files and paths must give errors, in bounded time and
//! memory, never panics, hangs or writes through planted links. The inputs
//! the fuzzers found are replayed too (`fuzz/corpus/*/bug-*`; the replay
//! prints a `SCORE bug_inputs=N area=hostile` line for `scripts/torture`).

use std::path::{Path, PathBuf};

use mapio::array::{AtomicArray, DynArray};
use mapio::log::format::{self, Flags, HEADER_LEN, Header, Kind, Word0};
use mapio::log::{
    Index, IndexState, Interpolation, Log, LogOptions, LogReader, LogSet, Schema, SetOptions,
};
use std::sync::atomic::AtomicU64;

fn record(key: Option<u64>, prev: Option<u64>, payload: &[u8]) -> Vec<u8> {
    let opt = [key, prev];
    let n_opt = opt.iter().flatten().count();
    let body = 16 + 8 * n_opt + payload.len();
    let len = body.next_multiple_of(8);
    let w0 = Word0 {
        len: len as u32,
        kind: Kind::Data,
        has_key: key.is_some(),
        has_prev: prev.is_some(),
        has_time: false,
        flags: Flags(0),
    }
    .pack();
    let mut rec = vec![0u8; len];
    rec[0..8].copy_from_slice(&w0.to_le_bytes());
    rec[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut at = 16;
    for w in opt.iter().flatten() {
        rec[at..at + 8].copy_from_slice(&w.to_le_bytes());
        at += 8;
    }
    rec[at..at + payload.len()].copy_from_slice(payload);
    let crc = format::record_crc(&rec[12..body], w0);
    rec[8..12].copy_from_slice(&crc.to_le_bytes());
    rec
}

fn log_file(dir: &Path, name: &str, area: &[u8]) -> PathBuf {
    let mut f = Header::new(Schema::new(), 42).encode();
    f.extend_from_slice(area);
    let p = dir.join(name);
    std::fs::write(&p, f).unwrap();
    p
}

#[test]
fn f1_header_counters_at_their_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    LogOptions::new().create(&p).unwrap().close().unwrap();
    let mut b = std::fs::read(&p).unwrap();
    b[format::OFF_SESSIONS..format::OFF_SESSIONS + 8].fill(0xFF);
    b[format::OFF_SYNCED..format::OFF_SYNCED + 8].fill(0xFF);
    std::fs::write(&p, &b).unwrap();
    let log = Log::open(&p).unwrap();
    log.close().unwrap();
    assert_eq!(LogReader::open(&p).unwrap().sessions(), u64::MAX);
}

#[test]
fn f4_offsets_near_the_end_of_the_address_space() {
    let dir = tempfile::tempdir().unwrap();
    // A record whose prev points 8 bytes before 2^64.
    let p = log_file(
        dir.path(),
        "a.log",
        &record(Some(1), Some(u64::MAX - 7), b"x"),
    );
    let r = LogReader::open(&p).unwrap();
    for off in [u64::MAX, u64::MAX - 7, u64::MAX - 15, 1 << 63] {
        assert!(r.read_at(off).is_err());
        assert_eq!(r.records_from(off).count(), 0);
    }
    assert!(
        r.history_back_from(HEADER_LEN).is_err(),
        "a prev past the end is a broken chain"
    );
    assert_eq!(
        r.history(1).unwrap().len(),
        1,
        "the record itself is intact"
    );
}

#[test]
fn f6_resync_over_a_crafted_area_is_linear() {
    // Every 16 bytes a plausible header claiming the rest of the file with
    // a wrong CRC: quadratic re-checksumming took hours at a few MiB.
    let dir = tempfile::tempdir().unwrap();
    let n = 4 << 20;
    let mut area = vec![0u8; n];
    let mut q = 0;
    while q + 16 <= n {
        let len = (n - q) / 8 * 8;
        let w0 = Word0 {
            len: len as u32,
            kind: Kind::Data,
            has_key: false,
            has_prev: false,
            has_time: false,
            flags: Flags(0),
        }
        .pack();
        let w1 = 0xDEAD_BEEFu64 | (((len - 16) as u64) << 32);
        area[q..q + 8].copy_from_slice(&w0.to_le_bytes());
        area[q + 8..q + 16].copy_from_slice(&w1.to_le_bytes());
        q += 16;
    }
    let p = log_file(dir.path(), "r.log", &area);
    let report = mapio::log::verify(&p).unwrap();
    assert_eq!(report.records, 0);
    assert!(!report.damaged.is_empty());
    assert!(mapio::log::recover(&p, mapio::log::Recovery::SkipDamage).is_ok());
}

#[test]
fn f7_a_history_chain_that_loops() {
    let dir = tempfile::tempdir().unwrap();
    let a = record(Some(1), Some(HEADER_LEN), &[7; 64]); // points at itself
    let p = log_file(dir.path(), "loop.log", &a);
    let e = LogReader::open(&p)
        .unwrap()
        .history_back_from(HEADER_LEN)
        .unwrap_err();
    assert!(e.to_string().contains("loops"), "{e}");
}

#[test]
fn f8_f2_f3_f5_hostile_indexes_are_stale_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogOptions::new().create(dir.path().join("a.log")).unwrap();
    for i in 0..20u64 {
        log.append(
            &mapio::log::Entry::new().key(i % 3).time(i as f64),
            b"payload",
        )
        .unwrap();
    }
    log.close().unwrap();
    let p = dir.path().join("a.log");
    let reader = LogReader::open(&p).unwrap();
    let ipath = Index::path_for(&p, None);
    let good = Index::build(&reader, None).unwrap().encode();
    let fix_crc = |b: &mut Vec<u8>| {
        let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..124]), &b[128..]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
    };
    let field =
        |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // F5: last_offset at the top of the range.
    let mut b = good.clone();
    field(&mut b, 32, u64::MAX);
    cases.push(("last_offset", b));
    // F3: a record count near the maximum.
    let mut b = good.clone();
    field(&mut b, 48, u64::MAX);
    cases.push(("records", b));
    // F8/F2: a list that repeats an offset or runs past what the index
    // covers.
    let n_keys = u64::from_le_bytes(good[56..64].try_into().unwrap()) as usize;
    let entries_at = 128 + 8 * n_keys + 8 * (n_keys + 1);
    let mut b = good.clone();
    // The first key's second entry (4 bytes each here) made its first.
    b.copy_within(entries_at..entries_at + 4, entries_at + 4);
    cases.push(("repeated", b));
    let mut b = good.clone();
    field(&mut b, 24, HEADER_LEN + 8); // covered: below most listed offsets
    cases.push(("covered", b));
    for (what, mut b) in cases {
        fix_crc(&mut b);
        std::fs::write(&ipath, &b).unwrap();
        match Index::load(&reader, &ipath).unwrap() {
            IndexState::Stale(_) => {}
            IndexState::Fresh(i) => {
                // Accepted only if it still says something true.
                assert_eq!(what, "records", "{what}: a crafted index was trusted");
                let _ = i;
            }
            IndexState::Missing => panic!("{what}"),
        }
        // Queries over it never panic and stay correct.
        let set = LogSet::open(&p, &SetOptions::new()).unwrap();
        assert_eq!(set.history(1).unwrap().len(), 7, "{what}");
        let (_, note) = Index::update(&reader, &ipath, None).unwrap();
        assert!(
            note.starts_with("rebuilt") || note == "fresh" || note == "extended",
            "{what}: {note}"
        );
    }
}

#[test]
fn an_index_naming_a_record_of_another_key_is_an_error_not_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    let log = LogOptions::new().create(&p).unwrap();
    // Key i % 3 at time i: key 0 at 0, 3, 6, ...; key 1 at 1, 4, 7, ...
    for i in 0..20u64 {
        let e = mapio::log::Entry::new().key(i % 3).time(i as f64);
        log.append(&e, b"payload").unwrap();
    }
    log.close().unwrap();
    let reader = LogReader::open(&p).unwrap();
    let ipath = Index::path_for(&p, None);
    let mut b = Index::build(&reader, None).unwrap().encode();
    // Key 0's fourth entry (time 9) made key 1's fourth (time 10): the
    // list stays increasing and inside the log, so the index loads.
    let n_keys = u64::from_le_bytes(b[56..64].try_into().unwrap()) as usize;
    let starts_at = 128 + 8 * n_keys;
    let entries_at = starts_at + 8 * (n_keys + 1);
    let start1 = u64::from_le_bytes(b[starts_at + 8..starts_at + 16].try_into().unwrap());
    let from = entries_at + 4 * (start1 as usize + 3);
    b.copy_within(from..from + 4, entries_at + 4 * 3);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..124]), &b[128..]);
    b[124..128].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&ipath, &b).unwrap();
    assert!(matches!(
        Index::load(&reader, &ipath).unwrap(),
        IndexState::Fresh(_)
    ));
    let mut set = LogSet::open(&p, &SetOptions::new()).unwrap();
    let wrong = |e: mapio::Error| {
        let m = e.to_string();
        assert!(m.contains("under key 0, but it has key 1"), "{m}");
        assert!(m.contains("mapio index --rebuild"), "{m}");
    };
    wrong(set.state_at(10.0, Interpolation::None).unwrap_err());
    wrong(set.history(0).unwrap_err());
    // Keys the crafted entry does not touch are still answered.
    assert_eq!(set.history(2).unwrap().len(), 6);
    // A plain update trusts it (it matches the log); a rebuild does not.
    assert_eq!(set.build_indexes(None).unwrap(), ["fresh"]);
    assert_eq!(set.rebuild_indexes(None).unwrap(), ["rebuilt: on request"]);
    let state = set.state_at(10.0, Interpolation::None).unwrap();
    let zero = state.entries().find(|e| e.key == 0).unwrap();
    assert_eq!(zero.time, Some(9.0));
    let scan = LogSet::open(&p, &SetOptions::new().no_index(true)).unwrap();
    assert_eq!(state, scan.state_at(10.0, Interpolation::None).unwrap());
    assert_eq!(set.history(0).unwrap().len(), 7);
}

/// Writers refuse a NaN time; a record carrying one anyway (a crafted
/// log) is placed nowhere by queries, with or without the index, and an
/// infinite time is never interpolated from (its weights would be NaN).
#[test]
fn nan_and_infinite_times_never_make_nan_states() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.log");
    let schema = Schema::new()
        .field("x", mapio::array::DType::F64, 1)
        .unwrap();
    let log = LogOptions::new().schema(schema).create(&p).unwrap();
    let at = |key: u64, t: f64, x: f64| {
        log.append(&mapio::log::Entry::new().key(key).time(t), &x.to_le_bytes())
    };
    assert!(
        at(1, f64::NAN, 0.0)
            .unwrap_err()
            .to_string()
            .contains("NaN")
    );
    at(1, 0.0, 1.0).unwrap();
    let crafted = at(1, 9.0, 2.0).unwrap();
    at(2, f64::NEG_INFINITY, 1.0).unwrap();
    at(2, 1.0, 2.0).unwrap();
    log.close().unwrap();
    // Key 1's second record gets a NaN time (and a CRC that matches).
    let mut b = std::fs::read(&p).unwrap();
    let o = crafted as usize;
    let payload_len = u32::from_le_bytes(b[o + 12..o + 16].try_into().unwrap()) as usize;
    b[o + 32..o + 40].copy_from_slice(&f64::NAN.to_le_bytes()); // key, prev, time
    let w0 = u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let crc = format::record_crc(&b[o + 12..o + 40 + payload_len], w0);
    b[o + 8..o + 12].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    let x_of = |set: &LogSet, t: f64, how| -> Vec<(u64, f64, bool)> {
        let state = set.state_at(t, how).unwrap();
        state
            .iter()
            .map(|(e, p)| {
                (
                    e.key,
                    f64::from_le_bytes(p[..8].try_into().unwrap()),
                    e.interpolated,
                )
            })
            .collect()
    };
    let mut set = LogSet::open(&p, &SetOptions::new().no_index(true)).unwrap();
    for indexed in [false, true] {
        if indexed {
            set = LogSet::open(&p, &SetOptions::new()).unwrap();
            set.build_indexes(None).unwrap();
        }
        // Key 1: only its time-0 record is placed; key 2: from -inf on,
        // not interpolated between -inf and 1.
        assert_eq!(
            x_of(&set, 0.5, Interpolation::Linear),
            [(1, 1.0, false), (2, 1.0, false)],
            "indexed: {indexed}"
        );
        assert_eq!(
            x_of(&set, 100.0, Interpolation::None),
            [(1, 1.0, false), (2, 2.0, false)],
            "indexed: {indexed}"
        );
        // History: the NaN-time record first, as one without a time.
        let h: Vec<u64> = set
            .history(1)
            .unwrap()
            .iter()
            .map(|l| l.record.offset)
            .collect();
        assert_eq!(h.first(), Some(&crafted), "indexed: {indexed}");
    }
    // The index makes no checkpoint of a NaN time (they stay sorted).
    let reader = mapio::log::LogReader::open(&p).unwrap();
    let idx = mapio::log::Index::build(&reader, None).unwrap();
    let times: Vec<f64> = idx.checkpoints().iter().map(|c| c.time).collect();
    assert!(times.iter().all(|t| !t.is_nan()), "{times:?}");
    assert!(times.is_sorted_by(|a, b| a < b), "{times:?}");
}

#[test]
fn f11_f12_devices_and_fifos_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.npy");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        c.as_c_str(),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    // Opening a FIFO must not block waiting for a writer.
    assert!(DynArray::open_npy(&fifo).is_err());
    assert!(LogReader::open(&fifo).is_err());
    assert!(mapio::map::MappedFile::open(&fifo, mapio::map::Mode::ReadOnly).is_err());
    let zero = dir.path().join("z.log");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    assert!(LogReader::open(&zero).is_err());
}

#[test]
fn f13_index_save_never_follows_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    LogOptions::new().create(&p).unwrap().close().unwrap();
    let reader = LogReader::open(&p).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // Links at every name an older mapio would have used.
    let ipath = Index::path_for(&p, None);
    std::os::unix::fs::symlink(
        &victim,
        ipath.with_extension(format!("idx.tmp{}", std::process::id())),
    )
    .unwrap();
    Index::build(&reader, None).unwrap().save(&ipath).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(matches!(
        Index::load(&reader, &ipath).unwrap(),
        IndexState::Fresh(_)
    ));
}

#[test]
fn f14_atomic_arrays_refuse_unaligned_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    // A valid header whose padding was shortened by 6 bytes: data at 74.
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    let dict = b"{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }";
    let mut text = dict.to_vec();
    while (10 + text.len() + 1) < 74 {
        text.push(b' ');
    }
    text.push(b'\n');
    h.extend_from_slice(&(text.len() as u16).to_le_bytes());
    h.extend_from_slice(&text);
    assert_eq!(h.len(), 74);
    h.extend_from_slice(&[0u8; 16]);
    std::fs::write(&p, &h).unwrap();
    let e = AtomicArray::<AtomicU64>::open_npy(&p).unwrap_err();
    assert!(e.to_string().contains("not a multiple"), "{e}");
}

#[test]
fn fuzz_findings_replay() {
    // The inputs the fuzzers minimised, through the entry points that
    // panicked on them: now errors or clean results.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut n = 0;
    for target in ["log_scan", "index_update"] {
        let Ok(rd) = std::fs::read_dir(corpus.join(target)) else {
            continue;
        };
        for e in rd {
            let path = e.unwrap().path();
            if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("bug-")
            {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let dir = tempfile::tempdir().unwrap();
            // As a record area after a valid header, and as a whole file.
            for (name, file) in [
                ("area.log", log_file(dir.path(), "area.log", &bytes)),
                ("raw.log", {
                    let q = dir.path().join("raw.log");
                    std::fs::write(&q, &bytes).unwrap();
                    q
                }),
            ] {
                let _ = name;
                if let Ok(r) = LogReader::open(&file) {
                    let keys: Vec<u64> = r.records().filter_map(|rec| rec.key).collect();
                    for k in keys {
                        let _ = r.history(k);
                    }
                    let _ = r.scan();
                    drop(r);
                    let _ = mapio::log::recover(&file, mapio::log::Recovery::SkipDamage);
                }
            }
            n += 1;
        }
    }
    assert!(n >= 3, "the fuzz corpus's bug inputs were not found ({n})");
    println!("SCORE bug_inputs={n} area=hostile");
}

/// A log whose schema field 0 is renamed to `name` in the header, the
/// header's checksum recomputed (as a crafted file would have it).
fn log_with_field_name(dir: &Path, file: &str, name: &[u8]) -> PathBuf {
    use mapio::array::DType;
    let p = dir.join(file);
    let schema = Schema::new()
        .field("placeholder", DType::F64, 1)
        .unwrap()
        .field("other", DType::F64, 1)
        .unwrap();
    let log = LogOptions::new().schema(schema).create(&p).unwrap();
    for k in 0..4u64 {
        log.append(&mapio::log::Entry::new().key(k).time(k as f64), &[0u8; 16])
            .unwrap();
    }
    log.close().unwrap();
    let mut b = std::fs::read(&p).unwrap();
    let at = format::OFF_FIELDS;
    b[at..at + 32].fill(0);
    b[at..at + name.len()].copy_from_slice(name);
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&b[..format::IMMUTABLE_END]),
        &b[format::OFF_FIELDS..format::OFF_HEADER_CRC],
    );
    b[format::OFF_HEADER_CRC..format::OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&p, &b).unwrap();
    p
}

/// Field names become `NAME.npy` in `export`: a crafted header naming a
/// field `/tmp/x`, `../../pwned`, `.`, `..`, `a/b`, a name with a newline,
/// an export column (`key`) or a name used twice (`other` is field 1's:
/// reported at field 1) is refused as corrupt
/// when the log is opened, naming the field, and nothing is written.
#[test]
fn crafted_schema_field_names_are_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("a").join("b");
    std::fs::create_dir_all(&work).unwrap();
    let out = work.join("out");
    let sentinel = dir.path().join("pwned.npy");
    let bad: [&[u8]; 11] = [
        b"/tmp/x",
        b"../../pwned",
        b".",
        b"..",
        b"a/b",
        b"a\nb",
        b"key",
        b"file",
        b"other",
        b"1st",
        &[b'x'; 32],
    ];
    // The crafted files are good logs but for the name: the same file
    // with a good name opens.
    let good = log_with_field_name(&work, "good.log", b"fine_name");
    assert_eq!(
        LogReader::open(&good).unwrap().schema().fields()[0].name,
        "fine_name"
    );
    for (i, name) in bad.iter().enumerate() {
        let p = log_with_field_name(&work, &format!("bad{i}.log"), name);
        let shown = format!("{:?}", String::from_utf8_lossy(name));
        for err in [
            LogReader::open(&p).map(|_| ()).unwrap_err(),
            LogSet::open(&p, &SetOptions::new())
                .map(|_| ())
                .unwrap_err(),
            Log::open(&p).map(|_| ()).unwrap_err(),
        ] {
            assert!(
                matches!(err, mapio::Error::Corrupt { .. }),
                "{shown}: {err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains("schema field ") && msg.contains(&shown),
                "{shown}: {msg}"
            );
        }
    }
    assert!(!out.exists());
    assert!(!sentinel.exists());
    assert!(!dir.path().join("a").join("pwned.npy").exists());
}

/// A `prev` link that cannot be a record's offset (misaligned, or past the
/// end), in a crafted file, is damage: `Corrupt` (CLI exit 3), not an
/// invalid argument of the caller's (exit 2).
#[test]
fn an_impossible_prev_link_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("prev.log");
    let log = LogOptions::new().create(&p).unwrap();
    let e = mapio::log::Entry::new().key(1).time(0.0);
    log.append(&e, b"first!!!").unwrap();
    let second = log.append(&e, b"second!!").unwrap();
    log.close().unwrap();
    let clean = std::fs::read(&p).unwrap();
    for bad_prev in [4097u64, 1 << 40] {
        let mut b = clean.clone();
        let o = second as usize;
        let payload_len = u32::from_le_bytes(b[o + 12..o + 16].try_into().unwrap()) as usize;
        b[o + 24..o + 32].copy_from_slice(&bad_prev.to_le_bytes()); // key, prev, time
        let w0 = u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let crc = format::record_crc(&b[o + 12..o + 40 + payload_len], w0);
        b[o + 8..o + 12].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        let r = mapio::log::LogReader::open(&p).unwrap();
        let err = r.history_back_from(second).unwrap_err();
        assert!(
            matches!(err, mapio::Error::Corrupt { .. }),
            "{bad_prev}: {err}"
        );
    }
}

/// A data record with a key and a time (and an empty payload).
fn timed_record(key: u64, time: f64) -> Vec<u8> {
    let w0 = Word0 {
        len: 32,
        kind: Kind::Data,
        has_key: true,
        has_prev: false,
        has_time: true,
        flags: Flags(0),
    }
    .pack();
    let mut rec = vec![0u8; 32];
    rec[0..8].copy_from_slice(&w0.to_le_bytes());
    rec[16..24].copy_from_slice(&key.to_le_bytes());
    rec[24..32].copy_from_slice(&time.to_bits().to_le_bytes());
    let crc = format::record_crc(&rec[12..32], w0);
    rec[8..12].copy_from_slice(&crc.to_le_bytes());
    rec
}

#[test]
fn f25_keys_spaced_by_a_power_of_two_cost_linear_time() {
    // Keys j << 32: with a plain multiply as the key tables' hash, every
    // key landed in one bucket, and a state or a verify of a few MB took
    // quadratic time.
    let dir = tempfile::tempdir().unwrap();
    let n = 200_000u64;
    let area: Vec<u8> = (0..n)
        .flat_map(|j| timed_record((j + 1) << 32, j as f64))
        .collect();
    let p = log_file(dir.path(), "spaced.log", &area);
    let t = std::time::Instant::now();
    let report = mapio::log::verify(&p).unwrap();
    assert_eq!((report.records, report.keys), (n, n));
    let set = LogSet::open(&p, &SetOptions::new().no_index(true)).unwrap();
    let state = set.state_at(f64::INFINITY, Interpolation::None).unwrap();
    assert_eq!(state.len(), n as usize);
    let index = Index::build(&LogReader::open(&p).unwrap(), None).unwrap();
    assert_eq!(index.keys().len(), n as usize);
    let took = t.elapsed();
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}
