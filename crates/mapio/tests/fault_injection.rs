//! Fault injection through the `sys` seam: every system call mapio makes
//! is failed in turn, at every point of a whole workflow (map, array, log,
//! index), and each failure must surface as an error (never a panic or a
//! signal), a failed flush must poison its handle, and nothing that was
//! made durable before the failure may be lost.
//!
//! The campaign is exhaustive and deterministic: every (call, errno) pair
//! of `FAULTS` is injected at every call index the workflow reaches, so
//! there is nothing to scale (a repeat would inject the same faults at the
//! same points). Each campaign prints a `SCORE faults=N area=...` line for
//! the scorecard (`scripts/torture`).

use std::path::Path;

use mapio::Error;
use mapio::array::{AppendableArray, Array};
use mapio::fault::{self, Op};
use mapio::log::{Entry, Index, IndexState, Log, LogOptions, LogReader, Recovery};
use mapio::map::{MappedFile, Mode};

/// The calls that can fail, with the errors a real system returns.
const FAULTS: &[(Op, i32)] = &[
    (Op::Open, libc::EACCES),
    (Op::Open, libc::EMFILE),
    (Op::Fallocate, libc::ENOSPC),
    (Op::Fallocate, libc::EFBIG),
    (Op::Fallocate, libc::EIO),
    (Op::Ftruncate, libc::EIO),
    (Op::Mmap, libc::ENOMEM),
    (Op::Msync, libc::EIO),
    (Op::Fsync, libc::EIO),
    (Op::SyncFileRange, libc::EIO),
];

/// Runs `workflow` once per (fault, call index) until the fault is no
/// longer reached; `check` then inspects what is on disk. Returns the
/// number of faults that fired.
fn campaign(
    name: &str,
    mut workflow: impl FnMut(&Path) -> Result<(), Error>,
    mut check: impl FnMut(&Path, &Error),
) -> u64 {
    let mut fired = 0;
    for &(op, errno) in FAULTS {
        for skip in 0..64u32 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            fault::clear();
            let before = fault::hits();
            fault::inject(op, errno, skip, 1);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| workflow(&path)));
            let hit = fault::hits() > before;
            fault::clear();
            let result = match result {
                Ok(r) => r,
                Err(_) => panic!("{name}: {op:?}/{errno} at call {skip} panicked"),
            };
            if !hit {
                // This call index is past the workflow's last such call.
                assert!(result.is_ok(), "{name}: no fault fired, yet {result:?}");
                break;
            }
            fired += 1;
            match result {
                Ok(()) => {
                    // Nothing may be swallowed, except by the one
                    // documented fallback: a growth step that finds no
                    // space is retried for exactly the space needed.
                    let absorbed =
                        op == Op::Fallocate && matches!(errno, libc::ENOSPC | libc::EFBIG);
                    assert!(
                        absorbed,
                        "{name}: {op:?}/{errno} at call {skip} fired but the workflow succeeded"
                    );
                }
                Err(e) => {
                    if matches!(errno, libc::ENOSPC | libc::EFBIG) && op == Op::Fallocate {
                        assert!(e.is_no_space(), "{name}: {op:?}/{errno} gave {e}");
                    }
                    check(&path, &e);
                }
            }
        }
    }
    fired
}

fn pattern(i: usize) -> u8 {
    (i * 31 % 251) as u8
}

#[test]
fn mapped_files() {
    // create, write, flush (durable point), grow, write, flush, async flush, shrink, close
    let fired = campaign(
        "map",
        |p| {
            let mut f = MappedFile::options()
                .mode(Mode::Create)
                .len(8192)
                .reserve(1 << 24)
                .open(p)?;
            for (i, b) in f.as_mut_slice()?.iter_mut().enumerate() {
                *b = pattern(i);
            }
            f.flush()?;
            std::fs::write(p.with_extension("durable"), b"1").unwrap();
            f.set_len(1 << 20)?;
            f.as_mut_slice()?[(1 << 20) - 1] = 7;
            f.flush()?;
            f.flush_async()?;
            f.set_len(100_000)?;
            f.close()
        },
        |p, e| {
            // A flush failure leaves a poisoned handle: covered by the
            // handle being gone; what matters is the file.
            if p.with_extension("durable").exists() {
                let f = MappedFile::open(p, Mode::ReadOnly)
                    .unwrap_or_else(|e2| panic!("{e} then {e2}"));
                assert!(f.len() >= 8192);
                assert!(
                    f[..8192].iter().enumerate().all(|(i, &b)| b == pattern(i)),
                    "after {e}"
                );
            }
        },
    );
    println!("SCORE faults={fired} area=map");
    assert!(fired >= 10);
}

#[test]
fn poisoned_handles_stay_poisoned() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f");
    for op in [Op::Msync] {
        let mut f = MappedFile::create(&p, 4096).unwrap();
        f.as_mut_slice().unwrap()[0] = 1;
        fault::inject(op, libc::EIO, 0, 1);
        assert!(f.flush().is_err());
        for _ in 0..3 {
            assert!(matches!(f.flush(), Err(Error::Poisoned { .. })));
            assert!(matches!(f.flush_async(), Err(Error::Poisoned { .. })));
        }
        assert!(f.close().is_err());
    }
    let log = LogOptions::new()
        .background_allocation(false)
        .create(&p)
        .unwrap();
    log.append(&Entry::new(), b"x").unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    // The first sync after growth fdatasyncs: it fails and poisons.
    let first = log.sync();
    if first.is_err() {
        assert!(matches!(log.sync(), Err(Error::Poisoned { .. })));
        assert!(matches!(
            log.append(&Entry::new(), b"y"),
            Err(Error::Poisoned { .. })
        ));
    }
    fault::clear();
}

#[test]
fn appendable_arrays() {
    let fired = campaign(
        "append",
        |p| {
            let mut a = AppendableArray::<f64>::create(p, &[4])?;
            for i in 0..1000 {
                a.push(&[i as f64, 1.0, 2.0, 3.0])?;
            }
            a.flush()?;
            std::fs::write(p.with_extension("durable"), b"1000").unwrap();
            for i in 1000..300_000 {
                a.push(&[i as f64, 1.0, 2.0, 3.0])?;
            }
            a.close()
        },
        |p, e| {
            if p.with_extension("durable").exists() {
                let a = Array::<f64>::open_npy(p, Mode::ReadOnly)
                    .unwrap_or_else(|e2| panic!("{e} then {e2}"));
                assert!(a.shape()[0] >= 1000, "{e}: {:?}", a.shape());
                for i in 0..1000 {
                    assert_eq!(a.view()[[i, 0]], i as f64);
                }
            }
        },
    );
    println!("SCORE faults={fired} area=appendable");
    assert!(fired >= 8);
}

#[test]
fn logs() {
    let fired = campaign(
        "log",
        |p| {
            let log = LogOptions::new()
                .step(16 << 10)
                .background_allocation(false)
                .create(p)?;
            for i in 0..500u64 {
                log.append(&Entry::new().key(i % 7).time(i as f64), &[i as u8; 40])?;
            }
            let covered = log.sync()?;
            std::fs::write(p.with_extension("durable"), covered.to_string()).unwrap();
            for i in 500..2000u64 {
                log.append(&Entry::new().key(i % 7).time(i as f64), &[i as u8; 40])?;
            }
            log.sync()?;
            log.sync_async()?;
            log.close()?;
            Ok(())
        },
        |p, e| {
            let Ok(durable) = std::fs::read_to_string(p.with_extension("durable")) else {
                return;
            };
            let durable: u64 = durable.parse().unwrap();
            // Every record below the reported offset is there, intact, and
            // the log reopens for writing (recovery) and closes cleanly.
            let r = LogReader::open(p).unwrap_or_else(|e2| panic!("{e} then {e2}"));
            let below: Vec<_> = r.records().take_while(|rec| rec.offset < durable).collect();
            assert_eq!(below.len(), 500, "after {e}");
            for (i, rec) in below.iter().enumerate() {
                assert_eq!(rec.payload, vec![i as u8; 40]);
            }
            drop(r);
            let (log, report) =
                Log::open_with_report(p, &LogOptions::new().recovery(Recovery::SkipDamage))
                    .unwrap();
            assert!(report.records >= 500);
            log.close().unwrap();
        },
    );
    println!("SCORE faults={fired} area=log");
    assert!(fired >= 8);
}

#[test]
fn index_saves_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logp = dir.path().join("a.log");
    let log = LogOptions::new().create(&logp).unwrap();
    for i in 0..300u64 {
        log.append(&Entry::new().key(i % 10).time(i as f64), b"x")
            .unwrap();
    }
    log.close().unwrap();
    let reader = LogReader::open(&logp).unwrap();
    let idx = Index::build(&reader, None).unwrap();
    let ipath = Index::path_for(&logp, None);
    let mut fired = 0;
    for &(op, errno) in FAULTS {
        for skip in 0..8 {
            let before = fault::hits();
            fault::inject(op, errno, skip, 1);
            let r = idx.save(&ipath);
            let hit = fault::hits() > before;
            fault::clear();
            if !hit {
                r.unwrap();
                std::fs::remove_file(&ipath).unwrap();
                break;
            }
            fired += 1;
            let e = r.expect_err("a fault fired but save succeeded");
            // The error names the index, not the temporary file.
            assert_eq!(e.path(), Some(ipath.as_path()), "{op:?}: {e}");
            // Nothing half-written is ever taken for an index.
            assert!(
                matches!(Index::load(&reader, &ipath).unwrap(), IndexState::Missing),
                "{op:?}"
            );
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");
        }
    }
    println!("SCORE faults={fired} area=index");
    assert!(fired >= 3);
}

/// A filesystem without room for a whole allocation step: the step is
/// halved until an allocation fits, and stays smaller, so a nearly full
/// disk costs a few failed `fallocate` calls, not one (or two) an append.
#[test]
fn a_disk_without_room_for_a_step_halves_it() {
    const STEP: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let log = LogOptions::new()
        .step(STEP)
        .background_allocation(false)
        .create(&path)
        .unwrap();
    let header = std::fs::metadata(&path).unwrap().len() - STEP;
    let size = || std::fs::metadata(&path).unwrap().len() - header;
    let payload = [7u8; 1000];
    // Appends until the records reach `end` bytes past the header.
    let fill_to = |end: u64| {
        while log.tail() < header + end {
            log.append(&Entry::new(), &payload).unwrap();
        }
    };
    fill_to(STEP - 2000);
    assert_eq!(size(), STEP);
    // No room for 1 MiB, nor for 512 KiB: 256 KiB fits.
    fault::clear();
    fault::inject(Op::Fallocate, libc::ENOSPC, 0, 2);
    fill_to(STEP + 1);
    assert_eq!(fault::hits(), 2, "both faults fired");
    fault::clear();
    assert_eq!(size(), STEP + STEP / 4);
    // The next allocation takes the smaller step at once.
    fill_to(STEP + STEP / 4 + 1);
    assert_eq!(size(), STEP + STEP / 2);
    log.close().unwrap();
    let scan = LogReader::open(&path).unwrap().scan();
    assert!(scan.damaged.is_empty() && scan.holes.is_empty(), "{scan:?}");
}
