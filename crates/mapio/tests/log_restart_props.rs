//! Property tests of reopening a log: `LogOptions::resume_at` (a run
//! restarted from a checkpoint) and `mapio::log::trim`, over random logs of
//! several sessions (closed, closed under a reader, or killed), against a
//! model of what was appended.
//!
//! The seed is fixed (set `PROPTEST_RNG_SEED` to explore others).

use std::path::Path;

use mapio::log::{Entry, Log, LogOptions, LogReader, trim};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    let mut c = Config::with_cases(48);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x7265_7375_6D65);
    }
    c.failure_persistence = None;
    c
}

/// How a session ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Close,
    /// Closed while a reader was attached: the allocation stays.
    CloseUnderReader,
    /// Dropped without close, as a killed writer.
    Crash,
}

fn any_end() -> impl Strategy<Value = End> {
    prop_oneof![
        Just(End::Close),
        Just(End::CloseUnderReader),
        Just(End::Crash)
    ]
}

/// One appended record, as the model knows it.
#[derive(Clone, Debug, PartialEq)]
struct Rec {
    offset: u64,
    next: u64,
    key: u64,
    time: f64,
    payload: Vec<u8>,
}

fn options() -> LogOptions {
    LogOptions::new()
        .step(64 << 10)
        .reserve(1 << 30)
        .background_allocation(false)
}

/// Appends `n` records (keys cycle through `keys`, payload lengths vary),
/// numbering them from `seq`.
fn append(log: &Log, n: usize, keys: u64, seq: &mut u64, model: &mut Vec<Rec>) {
    for _ in 0..n {
        let key = *seq % keys;
        let len = 8 + (*seq as usize * 11) % 41;
        let payload: Vec<u8> = (0..len)
            .map(|i| (*seq as u8).wrapping_add(i as u8))
            .collect();
        let time = *seq as f64;
        let offset = log
            .append(&Entry::new().key(key).time(time), &payload)
            .unwrap();
        // A record is 16 bytes of header, 24 of key, link and time, and the
        // payload padded to 8.
        let next = offset + 40 + (len as u64).next_multiple_of(8);
        model.push(Rec {
            offset,
            next,
            key,
            time,
            payload,
        });
        *seq += 1;
    }
}

fn end_session(log: Log, end: End, path: &Path) {
    match end {
        End::Close => {
            log.close().unwrap();
        }
        End::CloseUnderReader => {
            let reader = LogReader::open(path).unwrap();
            log.close().unwrap();
            drop(reader);
        }
        End::Crash => drop(log),
    }
}

/// The log's records, as the model's records (offsets and links checked).
fn read(path: &Path) -> Vec<Rec> {
    let r = LogReader::open(path).unwrap();
    let recs: Vec<Rec> = r
        .records()
        .map(|x| Rec {
            offset: x.offset,
            next: x.next_offset(),
            key: x.key.unwrap(),
            time: x.time.unwrap(),
            payload: x.payload.clone(),
        })
        .collect();
    // Every record links to the key's record before it in the file.
    let mut last = std::collections::HashMap::new();
    for x in r.records() {
        let k = x.key.unwrap();
        assert_eq!(
            x.prev_offset(),
            last.get(&k).copied(),
            "link of {}",
            x.offset
        );
        last.insert(k, x.offset);
    }
    recs
}

fn case(sessions: &[(usize, End)], keys: u64, pick: usize, more: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let mut model = Vec::new();
    let mut seq = 0u64;
    for (i, &(n, end)) in sessions.iter().enumerate() {
        let log = if i == 0 {
            options().create(&path).unwrap()
        } else {
            options().open(&path).unwrap()
        };
        append(&log, n, keys, &mut seq, &mut model);
        end_session(log, end, &path);
    }
    assert_eq!(read(&path), model, "the log holds what was appended");

    // trim: a clean log gives back what it kept, and nothing else changes.
    let closed = LogReader::open(&path).unwrap().closed_cleanly();
    let size = std::fs::metadata(&path).unwrap().len();
    match trim(&path).unwrap() {
        Some(end) => {
            assert!(closed && end < size, "trimmed {size} to {end}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
        }
        None => assert!(!closed || size == model.last().map_or(4096, |r| r.next) + 16),
    }
    assert_eq!(read(&path), model, "trim changed the records");

    // An offset inside a record is refused, and changes nothing.
    let before = std::fs::read(&path).unwrap();
    if let Some(r) = model.get(pick % model.len().max(1)) {
        let e = options().resume_at(r.offset + 8).open(&path).unwrap_err();
        assert!(matches!(e, mapio::Error::InvalidArgument(_)), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    // Resume at a record boundary: the start of record `pick` (or the end
    // of the last one), then append `more`.
    let at = model
        .get(pick)
        .map_or_else(|| model.last().map_or(4096, |r| r.next), |r| r.offset);
    let log = options().resume_at(at).open(&path).unwrap();
    model.retain(|r| r.offset < at);
    append(&log, more, keys, &mut seq, &mut model);
    log.close().unwrap();
    assert_eq!(read(&path), model, "resumed at {at}");
    assert!(mapio::log::verify(&path).unwrap().clean);
}

proptest! {
    #![proptest_config(config())]

    /// Random sessions, then `trim`, then `resume_at` a random record
    /// boundary and more appends: the log holds exactly the records before
    /// the boundary and the new ones, linked per key.
    #[test]
    fn resume_and_trim_keep_exactly_the_model(
        sessions in prop::collection::vec((0usize..60, any_end()), 1..4),
        keys in 1u64..6,
        pick in 0usize..200,
        more in 0usize..30,
    ) {
        case(&sessions, keys, pick, more);
    }
}
