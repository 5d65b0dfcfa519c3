//! State at a time, histories and export, over single logs and per-rank
//! sets, with and without the sidecar index, compared against a
//! brute-force scan of the same logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mapio::array::{ArrayOptions, DType, DynArray, Scalar};
use mapio::log::{
    Entry, Flags, Index, IndexState, Interpolation, Log, LogOptions, LogReader, LogSet, Record,
    Schema, SetOptions,
};
use mapio::map::Mode;
use proptest::prelude::*;

mod common;

use common::listing;

fn schema() -> Schema {
    Schema::new()
        .field("x", DType::F64, 2)
        .unwrap()
        .field("id", DType::U32, 1)
        .unwrap()
}

fn payload(x: f64, y: f64, id: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(20);
    p.extend_from_slice(&x.to_le_bytes());
    p.extend_from_slice(&y.to_le_bytes());
    p.extend_from_slice(&id.to_le_bytes());
    p
}

/// One event of the random simulation.
#[derive(Clone, Debug)]
enum Ev {
    /// Every live key writes its state (a step).
    Step,
    /// Key `k % live` moves to file `f % files` (EXIT there, ENTER here).
    Move(usize, usize),
    /// Key `k % live` is deleted.
    Delete(usize),
    /// A new key is created in file `f % files`.
    Create(usize),
    /// Key `k % live` writes a record late: after its latest one, with an
    /// earlier time (as a slow writer thread would).
    Late(usize),
    /// Key `k % live` writes its latest step again, with other values (a
    /// run restarted from a checkpoint writes its steps again): two
    /// records at one time, the later one counts.
    Again(usize),
}

fn any_ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => Just(Ev::Step),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(k, f)| Ev::Move(k, f)),
        1 => any::<usize>().prop_map(Ev::Delete),
        1 => any::<usize>().prop_map(Ev::Create),
        1 => any::<usize>().prop_map(Ev::Late),
        1 => any::<usize>().prop_map(Ev::Again),
    ]
}

/// Writes `files` logs from the events; returns their paths, and the logs
/// still open unless `close` (live logs: the caller drops them when done,
/// as a writer that stopped without closing would). Time advances
/// by 0.5 per event; a key's times differ, and increase within each file
/// but for its late records (a quarter step before the event's time).
fn write_run(
    dir: &Path,
    files: usize,
    keys: usize,
    events: &[Ev],
    close: bool,
) -> (Vec<PathBuf>, Vec<Log>) {
    let paths: Vec<PathBuf> = (0..files)
        .map(|i| dir.join(format!("run_{i:04}.log")))
        .collect();
    let logs: Vec<Log> = paths
        .iter()
        .map(|p| {
            LogOptions::new()
                .schema(schema())
                .step(16 << 10)
                .create(p)
                .unwrap()
        })
        .collect();
    // live: key -> (file, x)
    let mut live: BTreeMap<u64, (usize, f64)> = BTreeMap::new();
    // key -> the time of its latest step (not its late records)
    let mut stepped: BTreeMap<u64, f64> = BTreeMap::new();
    let mut next_key = 0u64;
    let mut t = 0.0f64;
    for k in 0..keys {
        let f = k % files;
        let x = k as f64;
        logs[f]
            .append(
                &Entry::new().key(next_key).time(t).flags(Flags::CREATE),
                &payload(x, -x, next_key as u32),
            )
            .unwrap();
        live.insert(next_key, (f, x));
        stepped.insert(next_key, t);
        next_key += 1;
    }
    for ev in events {
        match ev {
            Ev::Step => {
                t += 0.5;
                for (&k, (f, x)) in live.iter_mut() {
                    *x += 1.0 + (k % 3) as f64;
                    logs[*f]
                        .append(&Entry::new().key(k).time(t), &payload(*x, -*x, k as u32))
                        .unwrap();
                    stepped.insert(k, t);
                }
            }
            Ev::Move(k, to) if !live.is_empty() => {
                t += 0.5;
                let key = *live.keys().nth(k % live.len()).unwrap();
                let (from, x) = live[&key];
                let to = to % files;
                if to != from {
                    let p = payload(x, -x, key as u32);
                    logs[from]
                        .append(&Entry::new().key(key).time(t).flags(Flags::EXIT), &p)
                        .unwrap();
                    logs[to]
                        .append(&Entry::new().key(key).time(t).flags(Flags::ENTER), &p)
                        .unwrap();
                    live.insert(key, (to, x));
                    stepped.insert(key, t);
                }
            }
            Ev::Delete(k) if !live.is_empty() => {
                t += 0.5;
                let key = *live.keys().nth(k % live.len()).unwrap();
                let (f, x) = live.remove(&key).unwrap();
                logs[f]
                    .append(
                        &Entry::new().key(key).time(t).flags(Flags::DELETE),
                        &payload(x, -x, key as u32),
                    )
                    .unwrap();
            }
            Ev::Late(k) if !live.is_empty() => {
                t += 0.5;
                let key = *live.keys().nth(k % live.len()).unwrap();
                let (f, x) = live[&key];
                logs[f]
                    .append(
                        &Entry::new().key(key).time(t - 0.75),
                        &payload(x - 0.5, 0.5 - x, key as u32),
                    )
                    .unwrap();
            }
            Ev::Again(k) if !live.is_empty() => {
                let key = *live.keys().nth(k % live.len()).unwrap();
                let (f, x) = live[&key];
                let x = x + 0.125;
                logs[f]
                    .append(
                        &Entry::new().key(key).time(stepped[&key]),
                        &payload(x, -x, key as u32),
                    )
                    .unwrap();
                live.insert(key, (f, x));
            }
            Ev::Create(f) => {
                t += 0.5;
                let f = f % files;
                let x = 100.0 + next_key as f64;
                logs[f]
                    .append(
                        &Entry::new().key(next_key).time(t).flags(Flags::CREATE),
                        &payload(x, -x, next_key as u32),
                    )
                    .unwrap();
                live.insert(next_key, (f, x));
                stepped.insert(next_key, t);
                next_key += 1;
            }
            _ => {}
        }
    }
    if !close {
        return (paths, logs);
    }
    for l in logs {
        l.close().unwrap();
    }
    (paths, Vec::new())
}

/// Every data record of every file: (file, record).
fn all_records(paths: &[PathBuf]) -> Vec<(usize, Record)> {
    let mut v = Vec::new();
    for (f, p) in paths.iter().enumerate() {
        for r in LogReader::open(p).unwrap().records() {
            v.push((f, r));
        }
    }
    v
}

fn rank(r: &Record) -> (i64, bool) {
    // Times here are multiples of 0.25: exact as integers of quarters.
    (
        (r.time.unwrap() * 4.0) as i64,
        !r.flags.contains(Flags::EXIT),
    )
}

/// The brute-force state at `t`: key -> (file, record, payload).
fn brute_state(
    all: &[(usize, Record)],
    t: f64,
    linear: bool,
) -> BTreeMap<u64, (usize, u64, Vec<u8>)> {
    let mut best: BTreeMap<u64, (usize, &Record)> = BTreeMap::new();
    let mut next: BTreeMap<u64, &Record> = BTreeMap::new();
    for (f, r) in all {
        let k = r.key.unwrap();
        let rt = r.time.unwrap();
        // Records come in file order: at an equal rank the later one
        // wins (a step written again), for the record at or before `t` and
        // for the one after it alike.
        if rt <= t {
            if best.get(&k).is_none_or(|(_, b)| rank(r) >= rank(b)) {
                best.insert(k, (*f, r));
            }
        } else if next
            .get(&k)
            .is_none_or(|n| rt < n.time.unwrap() || (rt == n.time.unwrap() && rank(r) >= rank(n)))
        {
            next.insert(k, r);
        }
    }
    best.into_iter()
        .filter(|(_, (_, r))| !r.flags.contains(Flags::DELETE))
        .map(|(k, (f, r))| {
            let p = match (linear, next.get(&k)) {
                (true, Some(n)) => {
                    let w = (t - r.time.unwrap()) / (n.time.unwrap() - r.time.unwrap());
                    let g = |rec: &Record, i: usize| {
                        f64::from_le_bytes(rec.payload[i * 8..i * 8 + 8].try_into().unwrap())
                    };
                    let (x, y) = (
                        g(r, 0) + (g(n, 0) - g(r, 0)) * w,
                        g(r, 1) + (g(n, 1) - g(r, 1)) * w,
                    );
                    let id = u32::from_le_bytes(r.payload[16..20].try_into().unwrap());
                    payload(x, y, id)
                }
                _ => r.payload.clone(),
            };
            (k, (f, r.offset, p))
        })
        .collect()
}

fn check_state(set: &LogSet, all: &[(usize, Record)], t: f64) {
    for (linear, interp) in [(false, Interpolation::None), (true, Interpolation::Linear)] {
        let want = brute_state(all, t, linear);
        let got = set.state_at(t, interp).unwrap();
        // Every entry says what its record says (length, link, time,
        // flags), and as a record it is that record unless interpolated.
        for (e, p) in got.iter() {
            let r = set.reader(e.file).read_at(e.offset).unwrap();
            assert_eq!(
                (Some(e.key), e.len, e.prev, e.time, e.flags),
                (r.key, r.len, r.prev, r.time, r.flags),
                "entry of key {} at t={t}",
                e.key
            );
            assert!(linear || !e.interpolated);
            if !e.interpolated {
                assert_eq!(p, r.payload);
                assert_eq!(got.record(&e), r);
            }
        }
        let got: BTreeMap<u64, (usize, u64, Vec<u8>)> = got
            .iter()
            .map(|(e, p)| (e.key, (e.file, e.offset, p.to_vec())))
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "keys at t={t}"
        );
        for (k, w) in &want {
            let g = &got[k];
            assert_eq!((g.0, g.1), (w.0, w.1), "key {k} at t={t}");
            // Interpolated floats: equal up to rounding.
            let gx: Vec<f64> = (0..2)
                .map(|i| f64::from_le_bytes(g.2[i * 8..i * 8 + 8].try_into().unwrap()))
                .collect();
            let wx: Vec<f64> = (0..2)
                .map(|i| f64::from_le_bytes(w.2[i * 8..i * 8 + 8].try_into().unwrap()))
                .collect();
            for (a, b) in gx.iter().zip(&wx) {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "key {k} at t={t}: {a} vs {b}"
                );
            }
            assert_eq!(g.2[16..], w.2[16..]);
        }
    }
}

fn check_history(set: &LogSet, all: &[(usize, Record)]) {
    let mut keys: Vec<u64> = all.iter().map(|(_, r)| r.key.unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys.into_iter().chain([u64::MAX]) {
        let mut want: Vec<(usize, &Record)> = all
            .iter()
            .filter(|(_, r)| r.key == Some(k))
            .map(|(f, r)| (*f, r))
            .collect();
        want.sort_by(|a, b| {
            a.1.time
                .unwrap()
                .total_cmp(&b.1.time.unwrap())
                .then(rank(a.1).1.cmp(&rank(b.1).1))
                .then(a.0.cmp(&b.0))
        });
        let got = set.history(k).unwrap();
        let got: Vec<(usize, u64)> = got.iter().map(|l| (l.file, l.record.offset)).collect();
        let want: Vec<(usize, u64)> = want.iter().map(|(f, r)| (*f, r.offset)).collect();
        assert_eq!(got, want, "history of key {k}");
    }
}

fn times(all: &[(usize, Record)]) -> Vec<f64> {
    let max = all.iter().map(|(_, r)| r.time.unwrap()).fold(0.0, f64::max);
    let mut ts: Vec<f64> = (0..=(max * 4.0) as i64 + 2)
        .map(|i| i as f64 / 4.0 - 0.25)
        .collect();
    ts.push(1e9);
    ts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Without index, with a fresh index, with indexes of a prefix of each
    /// log, and with those extended: the same answers as a brute-force
    /// scan.
    #[test]
    fn queries_match_brute_force(files in 1usize..4, keys in 1usize..12,
                                 events in prop::collection::vec(any_ev(), 0..25),
                                 close in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (paths, _live) = write_run(dir.path(), files, keys, &events, close);
        let all = all_records(&paths);
        let spec = dir.path().join("run_*.log");
        // 1. No index.
        let set = LogSet::open(&spec, &SetOptions::new()).unwrap();
        prop_assert!(set.index_notes().iter().all(|(_, n)| n.contains("scanning")));
        for t in times(&all) {
            check_state(&set, &all, t);
        }
        check_history(&set, &all);
        drop(set);
        // 2. A fresh index.
        let mut set = LogSet::open(&spec, &SetOptions::new()).unwrap();
        let notes = set.build_indexes(None).unwrap();
        prop_assert!(notes.iter().all(|n| n == "built"), "{notes:?}");
        let set = LogSet::open(&spec, &SetOptions::new()).unwrap();
        prop_assert!(set.index_notes().iter().all(|(_, n)| n.ends_with(".idx")));
        for t in times(&all) {
            check_state(&set, &all, t);
        }
        check_history(&set, &all);
        drop(set);
        // 3. Indexes of a prefix of each log (as if built before the log
        // grew): the rest is scanned and merged.
        for (f, p) in paths.iter().enumerate() {
            let offs: Vec<u64> = all.iter().filter(|(g, _)| *g == f).map(|(_, r)| r.offset).collect();
            let Some(&cut) = offs.get(offs.len() / 2) else { continue };
            let copy = dir.path().join("prefix.tmp");
            std::fs::copy(p, &copy).unwrap();
            std::fs::OpenOptions::new().write(true).open(&copy).unwrap().set_len(cut).unwrap();
            let idx = Index::build(&LogReader::open(&copy).unwrap(), None).unwrap();
            prop_assert_eq!(idx.records(), (offs.len() / 2) as u64);
            idx.save(&Index::path_for(p, None)).unwrap();
            std::fs::remove_file(&copy).unwrap();
        }
        let set = LogSet::open(&spec, &SetOptions::new()).unwrap();
        let notes = set.index_notes();
        prop_assert!(notes.iter().all(|(_, n)| n.ends_with(".idx")), "{:?}", notes);
        for t in times(&all) {
            check_state(&set, &all, t);
        }
        check_history(&set, &all);
        drop(set);
        // 4. Those indexes extended to the whole logs: the lists (and the
        // keys out of time order) of an index built anew, and the same
        // answers.
        for p in &paths {
            let reader = LogReader::open(p).unwrap();
            let (ext, what) = Index::update(&reader, &Index::path_for(p, None), None).unwrap();
            // (A file without records kept its index of stage 2: fresh.)
            prop_assert!(["extended", "fresh"].contains(&what.as_str()), "{}", what);
            let full = Index::build(&reader, None).unwrap();
            prop_assert_eq!(ext.records(), full.records());
            prop_assert_eq!(ext.keys(), full.keys());
            prop_assert_eq!(ext.unordered(), full.unordered());
            for &k in full.keys() {
                prop_assert_eq!(ext.offsets(k), full.offsets(k), "key {}", k);
            }
        }
        let set = LogSet::open(&spec, &SetOptions::new()).unwrap();
        for t in times(&all) {
            check_state(&set, &all, t);
        }
        drop(set);
        // 5. The directory form of the spec gives the same set.
        let set = LogSet::open(dir.path(), &SetOptions::new()).unwrap();
        prop_assert_eq!(set.files().len(), files);
    }
}

/// A state of more than 65,536 candidates is read by several threads, each
/// for a run of keys: the same answers as a brute-force scan, with keys
/// that moved between files (several candidates each) and deleted keys.
#[test]
fn large_states_read_in_parallel_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = vec![Ev::Step];
    for i in 0..40 {
        events.push(Ev::Move(i * 1_703, i));
        events.push(Ev::Delete(i * 2_311));
    }
    events.extend([Ev::Step, Ev::Create(1), Ev::Step]);
    let (paths, _) = write_run(dir.path(), 3, 70_000, &events, true);
    let all = all_records(&paths);
    let spec = dir.path().join("run_*.log");
    for indexed in [false, true] {
        let mut set = LogSet::open(&spec, &SetOptions::new()).unwrap();
        if indexed {
            set.build_indexes(None).unwrap();
        }
        for t in [0.0, 0.5, 1.25, 20.5, 1e9] {
            check_state(&set, &all, t);
        }
    }
}

/// An index built while the log was written covers its first steps; the
/// rest is scanned from the middle of the log, where two writers'
/// disjoint key ranges (low keys and keys past 200,000) come interleaved.
/// Every key's records past the index count, whichever key came first.
#[test]
fn index_of_a_live_log_and_keys_from_disjoint_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run_0000.log");
    let log = LogOptions::new()
        .schema(schema())
        .step(1 << 20)
        .create(&p)
        .unwrap();
    let n = 20_000u64;
    let step = |s: u64| {
        for k in 0..n {
            for key in [k, 200_000 + k] {
                let x = (key + s) as f64;
                log.append(
                    &Entry::new().key(key).time(s as f64),
                    &payload(x, -x, s as u32),
                )
                .unwrap();
            }
        }
    };
    step(0);
    step(1);
    // Indexed while the writer is live: the index covers steps 0 and 1.
    let (idx, what) = Index::update(
        &LogReader::open(&p).unwrap(),
        &Index::path_for(&p, None),
        None,
    )
    .unwrap();
    assert_eq!((what.as_str(), idx.records()), ("built", 4 * n));
    for s in 2..5 {
        step(s);
    }
    log.close().unwrap();
    let all = all_records(std::slice::from_ref(&p));
    let set = LogSet::open(&p, &SetOptions::new()).unwrap();
    assert_eq!(
        set.index(0).map(Index::records),
        Some(4 * n),
        "the live index is used"
    );
    for t in [0.5, 1.0, 2.0, 3.5, 9.0] {
        check_state(&set, &all, t);
    }
    for key in [0, 7, n - 1, 200_000, 200_000 + n - 1] {
        let want: Vec<u64> = all
            .iter()
            .filter(|(_, r)| r.key == Some(key))
            .map(|(_, r)| r.offset)
            .collect();
        let got: Vec<u64> = set
            .history(key)
            .unwrap()
            .iter()
            .map(|l| l.record.offset)
            .collect();
        assert_eq!((got.len(), &got), (5, &want), "history of key {key}");
    }
}

#[test]
fn index_extends_when_the_log_grows_and_detects_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    for step in 0..10 {
        for k in 0..20u64 {
            log.append(
                &Entry::new().key(k).time(step as f64),
                &payload(step as f64, k as f64, k as u32),
            )
            .unwrap();
        }
    }
    // Indexed while the writer is live.
    let reader = LogReader::open(&p).unwrap();
    let ipath = Index::path_for(&p, None);
    let (idx, what) = Index::update(&reader, &ipath, None).unwrap();
    assert_eq!(what, "built");
    assert_eq!(idx.records(), 200);
    // A set that maps this index keeps it while a newer one replaces it.
    let early = LogSet::open(&p, &SetOptions::new()).unwrap();
    assert_eq!(early.index_notes()[0].1, ipath.display().to_string());
    // The log grows: the index is extended, scanning only the new part.
    for step in 10..15 {
        for k in 0..25u64 {
            log.append(
                &Entry::new().key(k).time(step as f64),
                &payload(step as f64, k as f64, k as u32),
            )
            .unwrap();
        }
    }
    let (ext, what) = Index::update(&reader, &ipath, None).unwrap();
    assert_eq!(what, "extended");
    let full = Index::build(&reader, None).unwrap();
    assert_eq!(ext.records(), full.records());
    assert_eq!(ext.keys(), full.keys());
    for &k in full.keys() {
        assert_eq!(ext.offsets(k), full.offsets(k), "key {k}");
    }
    let (_, what) = Index::update(&reader, &ipath, None).unwrap();
    assert_eq!(what, "fresh");
    // Queries with the extended index, while the writer is still live,
    // match a scan.
    let set = LogSet::open(&p, &SetOptions::new()).unwrap();
    let scan = LogSet::open(&p, &SetOptions::new().no_index(true)).unwrap();
    for t in [-1.0, 0.0, 3.5, 9.0, 12.0, 14.0, 100.0] {
        let want = scan.state_at(t, Interpolation::Linear).unwrap();
        assert_eq!(set.state_at(t, Interpolation::Linear).unwrap(), want);
        // The older index covers a prefix: the rest is scanned.
        assert_eq!(early.state_at(t, Interpolation::Linear).unwrap(), want);
    }
    drop((set, scan, early, reader));
    log.close().unwrap();
    // A damaged index is detected and rebuilt.
    let mut bytes = std::fs::read(&ipath).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x10;
    std::fs::write(&ipath, &bytes).unwrap();
    let reader = LogReader::open(&p).unwrap();
    assert!(
        matches!(Index::load(&reader, &ipath).unwrap(), IndexState::Stale(why) if why.contains("checksum"))
    );
    let (_, what) = Index::update(&reader, &ipath, None).unwrap();
    assert!(what.starts_with("rebuilt"), "{what}");
    // An index of an older format version is rebuilt, not misread.
    let mut bytes = std::fs::read(&ipath).unwrap();
    bytes[8] = 1;
    std::fs::write(&ipath, &bytes).unwrap();
    let (_, what) = Index::update(&reader, &ipath, None).unwrap();
    assert_eq!(what, "rebuilt: index version 1 is not supported");
    // An index of another log is stale.
    let q = dir.path().join("b.log");
    LogOptions::new().create(&q).unwrap().close().unwrap();
    let other = LogReader::open(&q).unwrap();
    assert!(
        matches!(Index::load(&other, &ipath).unwrap(), IndexState::Stale(why) if why.contains("another log"))
    );
    // A recreated log under the same name: stale too.
    drop(reader);
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    log.append(&Entry::new().key(1).time(0.0), &payload(0.0, 0.0, 1))
        .unwrap();
    log.close().unwrap();
    let reader = LogReader::open(&p).unwrap();
    assert!(matches!(
        Index::load(&reader, &ipath).unwrap(),
        IndexState::Stale(_)
    ));
}

/// A set holding two copies of one log (a backup beside the original)
/// is refused: every record would count twice.
#[test]
fn a_set_refuses_two_copies_of_one_log() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_run(dir.path(), 2, 10, &[Ev::Step], true);
    assert!(LogSet::open(dir.path(), &SetOptions::new()).is_ok());
    let copy = dir.path().join("run_0002.log");
    std::fs::copy(&paths[1], &copy).unwrap();
    let e = LogSet::open(dir.path(), &SetOptions::new()).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("copies of one log") && m.contains("run_0002.log"),
        "{m}"
    );
    assert!(matches!(e, mapio::Error::InvalidArgument(_)), "{e:?}");
}

#[test]
fn read_only_logs_and_index_dir() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ro.log");
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    for k in 0..10u64 {
        log.append(&Entry::new().key(k).time(1.0), &payload(1.0, 2.0, k as u32))
            .unwrap();
    }
    log.close().unwrap();
    // Read-only file: every query works, nothing is written next to it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let set = LogSet::open(&p, &SetOptions::new()).unwrap();
    assert_eq!(set.state_at(1.0, Interpolation::None).unwrap().len(), 10);
    assert_eq!(set.history(3).unwrap().len(), 1);
    drop(set);
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "a query wrote next to the log");
    // The index goes elsewhere when asked.
    let idx_dir = tempfile::tempdir().unwrap();
    let mut set = LogSet::open(&p, &SetOptions::new().index_dir(idx_dir.path())).unwrap();
    set.build_indexes(None).unwrap();
    assert!(idx_dir.path().join("ro.log.idx").exists());
    let set = LogSet::open(&p, &SetOptions::new().index_dir(idx_dir.path())).unwrap();
    assert!(set.index_notes()[0].1.ends_with("ro.log.idx"));
    assert_eq!(set.state_at(1.0, Interpolation::None).unwrap().len(), 10);
}

#[test]
fn export_columns_match_the_state_and_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = write_run(
        dir.path(),
        2,
        6,
        &[Ev::Step, Ev::Move(1, 1), Ev::Step, Ev::Delete(0), Ev::Step],
        true,
    );
    let set = LogSet::open(dir.path(), &SetOptions::new()).unwrap();
    let out = dir.path().join("all");
    let s = set.export(&out, None, None, Interpolation::None).unwrap();
    let all = all_records(&paths);
    assert_eq!(s.rows, all.len() as u64);
    let names: Vec<&str> = s.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["key", "time", "offset", "file", "x", "id"]);
    let x = DynArray::open_npy(out.join("x.npy")).unwrap();
    assert_eq!(x.shape(), &[all.len(), 2]);
    let key = DynArray::open_npy(out.join("key.npy")).unwrap();
    let file = DynArray::open_npy(out.join("file.npy")).unwrap();
    for (i, (f, r)) in all.iter().enumerate() {
        assert_eq!(key.get(i), Some(Scalar::UInt(r.key.unwrap())));
        assert_eq!(file.get(i), Some(Scalar::UInt(*f as u64)));
        assert_eq!(
            x.get(2 * i),
            Some(Scalar::Float(f64::from_le_bytes(
                r.payload[..8].try_into().unwrap()
            )))
        );
    }
    // At a time, only some fields.
    let at = dir.path().join("at");
    let s = set
        .export(
            &at,
            Some(1.0),
            Some(&["id".to_string()]),
            Interpolation::None,
        )
        .unwrap();
    let state = set.state_at(1.0, Interpolation::None).unwrap();
    assert_eq!(s.rows, state.len() as u64);
    assert!(!at.join("x.npy").exists());
    let id = DynArray::open_npy(at.join("id.npy")).unwrap();
    for (i, e) in state.entries().enumerate() {
        assert_eq!(id.get(i), Some(Scalar::UInt(e.key)));
    }
    assert!(
        set.export(&at, None, Some(&["nope".to_string()]), Interpolation::None)
            .is_err()
    );
    // Interpolated: a row's time is the time its values were taken to.
    let lin = dir.path().join("lin");
    set.export(&lin, Some(1.25), None, Interpolation::Linear)
        .unwrap();
    let state = set.state_at(1.25, Interpolation::Linear).unwrap();
    let time = DynArray::open_npy(lin.join("time.npy")).unwrap();
    let x = DynArray::open_npy(lin.join("x.npy")).unwrap();
    assert!(state.entries().any(|e| e.interpolated));
    for (i, (e, p)) in state.iter().enumerate() {
        let want = if e.interpolated {
            1.25
        } else {
            e.time.unwrap()
        };
        assert_eq!(time.get(i), Some(Scalar::Float(want)), "row {i}");
        let x0 = f64::from_le_bytes(p[..8].try_into().unwrap());
        assert_eq!(x.get(2 * i), Some(Scalar::Float(x0)), "row {i}");
    }
}

/// A closed log of 5 keys × 4 steps at times 0, 1, 2, 3.
fn small_log(dir: &Path) -> PathBuf {
    let p = dir.join("small.log");
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    for step in 0..4u32 {
        for key in 0..5u64 {
            let flags = if step == 0 {
                Flags::CREATE
            } else {
                Flags::NONE
            };
            log.append(
                &Entry::new().key(key).time(step as f64).flags(flags),
                &payload(step as f64, key as f64, key as u32),
            )
            .unwrap();
        }
    }
    log.close().unwrap();
    p
}

#[test]
fn export_refuses_a_field_listed_twice_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let set = LogSet::open(small_log(dir.path()), &SetOptions::new()).unwrap();
    let out = dir.path().join("out");
    let twice = ["x".to_string(), "id".to_string(), "x".to_string()];
    let err = set
        .export(&out, None, Some(&twice), Interpolation::None)
        .unwrap_err();
    assert!(matches!(err, mapio::Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("\"x\" is listed twice"), "{err}");
    assert!(!out.exists(), "nothing written, not even the directory");
    // Once each is fine.
    let s = set
        .export(&out, None, Some(&twice[..2]), Interpolation::None)
        .unwrap();
    assert_eq!(s.rows, 20);
}

/// An export replaces the files of an earlier one by renaming complete
/// new files over them: a reader that has an old column mapped (as NumPy
/// with `mmap_mode='r'`) keeps reading the old numbers, whole, even when
/// the new column is shorter (writing in place changed them under it, or
/// cut the file short under its map: `SIGBUS`). No temporary is left.
#[test]
fn an_export_leaves_readers_of_the_earlier_one_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let set = LogSet::open(small_log(dir.path()), &SetOptions::new()).unwrap();
    let out = dir.path().join("out");
    set.export(&out, None, None, Interpolation::None).unwrap();
    let old_x = std::fs::read(out.join("x.npy")).unwrap();
    let held = DynArray::open_npy(out.join("x.npy")).unwrap();
    let held_bytes = held.data().to_vec();
    assert!(held_bytes.len() > 100);
    // The state before any record: no rows at all.
    let s = set
        .export(&out, Some(f64::NEG_INFINITY), None, Interpolation::None)
        .unwrap();
    assert_eq!(s.rows, 0);
    assert_eq!(held.data(), &held_bytes[..], "the reader's numbers changed");
    assert_ne!(std::fs::read(out.join("x.npy")).unwrap(), old_x);
    assert_eq!(
        DynArray::open_npy(out.join("x.npy")).unwrap().shape(),
        &[0, 2]
    );
    assert_eq!(
        listing(&out),
        ["id.npy", "key.npy", "offset.npy", "time.npy", "x.npy"]
    );
}

/// An export that cannot replace a column file (here: `id.npy` is open for
/// writing by another handle) fails with `Locked`, replaces nothing,
/// leaves no temporary behind and keeps the directory that was there.
#[test]
fn a_failed_export_leaves_the_earlier_one_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let set = LogSet::open(small_log(dir.path()), &SetOptions::new()).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let only_id = ["id".to_string()];
    set.export(&out, Some(1.0), Some(&only_id), Interpolation::None)
        .unwrap();
    std::fs::remove_file(out.join("offset.npy")).unwrap();
    let before: Vec<Vec<u8>> = ["id.npy", "key.npy", "time.npy"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    let writer = ArrayOptions::new()
        .mode(Mode::ReadWrite)
        .open_dyn_npy(out.join("id.npy"))
        .unwrap();
    let err = set
        .export(&out, None, None, Interpolation::None)
        .unwrap_err();
    assert!(matches!(err, mapio::Error::Locked { .. }), "{err:?}");
    assert_eq!(listing(&out), ["id.npy", "key.npy", "time.npy"]);
    drop(writer);
    let after: Vec<Vec<u8>> = ["id.npy", "key.npy", "time.npy"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "a failed export replaced files");
    // Once free, the same export works.
    set.export(&out, None, None, Interpolation::None).unwrap();
    assert_eq!(
        listing(&out),
        ["id.npy", "key.npy", "offset.npy", "time.npy", "x.npy"]
    );
}

/// NaN is no time (every comparison with it is false: it found nothing,
/// silently); -inf and +inf are times.
#[test]
fn state_at_nan_is_an_invalid_argument_and_infinities_are_times() {
    let dir = tempfile::tempdir().unwrap();
    let set = LogSet::open(small_log(dir.path()), &SetOptions::new()).unwrap();
    let err = set.state_at(f64::NAN, Interpolation::None).unwrap_err();
    assert!(matches!(err, mapio::Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("NaN"), "{err}");
    assert!(set.state_at(f64::NAN, Interpolation::Linear).is_err());
    assert_eq!(
        set.state_at(f64::NEG_INFINITY, Interpolation::None)
            .unwrap()
            .len(),
        0
    );
    let all = set.state_at(f64::INFINITY, Interpolation::Linear).unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.entries().all(|e| e.time == Some(3.0)));
    let out = dir.path().join("out");
    let err = set
        .export(&out, Some(f64::NAN), None, Interpolation::None)
        .unwrap_err();
    assert!(matches!(err, mapio::Error::InvalidArgument(_)), "{err:?}");
    assert!(!out.exists());
}

/// With a schema, a payload holds every field or none: anything between is
/// refused at append (it used to export as zeros that were never written).
/// A record without values (a DELETE's empty payload) exports NaN floats,
/// 0 integers, and is counted.
#[test]
fn payloads_hold_every_field_or_none_and_export_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short.log");
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    let short = log
        .append(&Entry::new().key(1).time(0.0), &1.5f64.to_le_bytes())
        .unwrap_err();
    assert!(matches!(short, mapio::Error::InvalidArgument(_)), "{short}");
    assert!(short.to_string().contains("8 bytes"), "{short}");
    assert!(log.reserve(&Entry::new().key(1), 19).is_err());
    log.append(&Entry::new().key(1).time(0.0), &payload(1.0, 2.0, 3))
        .unwrap();
    let mut longer = payload(4.0, 5.0, 6);
    longer.extend_from_slice(b"extra");
    log.append(&Entry::new().key(2).time(0.0), &longer).unwrap();
    log.append(&Entry::new().key(1).time(1.0).flags(Flags::DELETE), &[])
        .unwrap();
    log.close().unwrap();

    let set = LogSet::open(&p, &SetOptions::new()).unwrap();
    let out = dir.path().join("all");
    let s = set.export(&out, None, None, Interpolation::None).unwrap();
    assert_eq!((s.rows, s.rows_without_values), (3, 1));
    let x = DynArray::open_npy(out.join("x.npy")).unwrap();
    let xs: Vec<f64> = (0..6)
        .map(|i| match x.get(i).unwrap() {
            Scalar::Float(v) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(&xs[..4], &[1.0, 2.0, 4.0, 5.0]);
    assert!(xs[4].is_nan() && xs[5].is_nan(), "{xs:?}");
    let id = DynArray::open_npy(out.join("id.npy")).unwrap();
    let ids: Vec<Scalar> = (0..3).map(|i| id.get(i).unwrap()).collect();
    assert_eq!(ids, [Scalar::UInt(3), Scalar::UInt(6), Scalar::UInt(0)]);
    // The state after the delete has only key 2, with values.
    let s = set
        .export(dir.path().join("at"), Some(1.0), None, Interpolation::None)
        .unwrap();
    assert_eq!((s.rows, s.rows_without_values), (1, 0));
}

/// The log at `p` opened twice: to be scanned (`true`), and with an index
/// built over it (`false`).
fn scanned_and_indexed(p: &Path) -> [(bool, LogSet); 2] {
    let scanned = LogSet::open(p, &SetOptions::new().no_index(true)).unwrap();
    let mut indexed = LogSet::open(p, &SetOptions::new()).unwrap();
    indexed.build_indexes(None).unwrap();
    [(true, scanned), (false, indexed)]
}

/// A particle deleted after `t` (a DELETE with an empty payload, as the
/// docs suggest) has nothing to interpolate towards: its entry keeps its
/// record's values, so it must not say "interpolated", and the export's
/// `time.npy` must hold the record's time, not the time asked for (it
/// said 0.5 next to the values of time 0).
#[test]
fn linear_state_before_an_empty_delete_is_not_interpolated() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("del.log");
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    for k in [1u64, 2] {
        log.append(&Entry::new().key(k).time(0.0), &payload(1.0, 2.0, k as u32))
            .unwrap();
    }
    log.append(&Entry::new().key(1).time(1.0).flags(Flags::DELETE), &[])
        .unwrap();
    log.append(&Entry::new().key(2).time(1.0), &payload(3.0, 4.0, 2))
        .unwrap();
    log.close().unwrap();
    for (no_index, set) in scanned_and_indexed(&p) {
        let state = set.state_at(0.5, Interpolation::Linear).unwrap();
        let got: Vec<(u64, bool, Vec<u8>)> = state
            .iter()
            .map(|(e, p)| (e.key, e.interpolated, p.to_vec()))
            .collect();
        assert_eq!(
            got,
            [
                (1, false, payload(1.0, 2.0, 1)),
                (2, true, payload(2.0, 3.0, 2)),
            ]
        );
        let out = dir.path().join(format!("at_{no_index}"));
        set.export(&out, Some(0.5), None, Interpolation::Linear)
            .unwrap();
        let time = DynArray::open_npy(out.join("time.npy")).unwrap();
        let times: Vec<Scalar> = (0..2).map(|i| time.get(i).unwrap()).collect();
        assert_eq!(times, [Scalar::Float(0.0), Scalar::Float(0.5)]);
    }
}

/// An index built on a crashed log whose last reservation was half written
/// (bytes in place, never committed) covers only up to its last good
/// record: the reopened writer appends where that torn record was, and the
/// next query must see those records (the index once claimed to cover the
/// torn range and missed them).
#[test]
fn an_index_of_a_crashed_log_ends_at_its_last_good_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("torn.log");
    let log = LogOptions::new()
        .schema(schema())
        .background_allocation(false)
        .create(&p)
        .unwrap();
    for key in 0..3u64 {
        log.append(
            &Entry::new().key(key).time(0.0),
            &payload(0.0, 0.0, key as u32),
        )
        .unwrap();
    }
    let mut torn = log.reserve(&Entry::new().key(0).time(1.0), 20).unwrap();
    torn.put(0, &[0xAB; 20]).unwrap();
    std::mem::forget(torn);
    drop(log); // no close: the writer died mid-record
    let reader = LogReader::open(&p).unwrap();
    let idx = Index::build(&reader, None).unwrap();
    let last_good = reader.records().last().unwrap().next_offset();
    assert_eq!(
        idx.covered(),
        last_good,
        "covered past the last good record"
    );
    idx.save(&Index::path_for(&p, None)).unwrap();
    drop(reader);

    let log = LogOptions::new().open(&p).unwrap();
    let again = log
        .append(&Entry::new().key(0).time(2.0), &payload(2.0, 2.0, 0))
        .unwrap();
    assert!(
        again < idx.covered() + 64,
        "the writer continues at the torn record"
    );
    log.close().unwrap();
    for opts in [SetOptions::new(), SetOptions::new().no_index(true)] {
        let set = LogSet::open(&p, &opts).unwrap();
        let h: Vec<u64> = set
            .history(0)
            .unwrap()
            .iter()
            .map(|r| r.record.offset)
            .collect();
        assert_eq!(h.last(), Some(&again), "{h:?}");
    }
}

/// A run restarted from a checkpoint writes its steps again: a key then
/// has two records at one time, and the later one is what the state at
/// that time holds. Interpolating towards that time must use it too (it
/// used the superseded record: the answer jumped from 9.99 at t = 0.999
/// to 20 at t = 1), with and without index, however many times the step
/// was written.
#[test]
fn interpolation_goes_towards_the_record_a_restart_wrote_again() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("restart.log");
    let x = |v: f64| payload(v, -v, 1);
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    log.append(&Entry::new().key(1).time(0.0), &x(0.0)).unwrap();
    log.append(&Entry::new().key(2).time(0.0), &x(0.0)).unwrap();
    // The first run, after its checkpoint at t = 0, then killed.
    log.append(&Entry::new().key(1).time(1.0), &x(10.0))
        .unwrap();
    log.append(&Entry::new().key(2).time(1.0), &x(10.0))
        .unwrap();
    log.append(&Entry::new().key(2).time(1.0), &x(15.0))
        .unwrap();
    drop(log);
    // The restart writes step 1 again.
    let log = Log::open(&p).unwrap();
    log.append(&Entry::new().key(1).time(1.0), &x(20.0))
        .unwrap();
    log.append(&Entry::new().key(2).time(1.0), &x(30.0))
        .unwrap();
    log.append(&Entry::new().key(1).time(2.0), &x(40.0))
        .unwrap();
    log.append(&Entry::new().key(2).time(2.0), &x(40.0))
        .unwrap();
    log.close().unwrap();
    for (no_index, set) in scanned_and_indexed(&p) {
        let xs = |t: f64, i: Interpolation| -> Vec<(u64, f64, bool)> {
            set.state_at(t, i)
                .unwrap()
                .iter()
                .map(|(e, p)| {
                    let v = f64::from_le_bytes(p[..8].try_into().unwrap());
                    (e.key, v, e.interpolated)
                })
                .collect()
        };
        let at = |t| xs(t, Interpolation::None);
        let lin = |t| xs(t, Interpolation::Linear);
        assert_eq!(at(1.0), [(1, 20.0, false), (2, 30.0, false)], "{no_index}");
        assert_eq!(lin(0.5), [(1, 10.0, true), (2, 15.0, true)], "{no_index}");
        assert_eq!(lin(1.5), [(1, 30.0, true), (2, 35.0, true)], "{no_index}");
    }
}

/// At a record's own time there is nothing to interpolate: the entry is
/// the record, as it is (a weight of 0 times the step to an infinite value
/// made it NaN, and the entry said "interpolated").
#[test]
fn linear_state_at_a_records_own_time_is_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("own.log");
    let log = LogOptions::new().schema(schema()).create(&p).unwrap();
    log.append(&Entry::new().key(1).time(1.0), &payload(1.0, 2.0, 1))
        .unwrap();
    log.append(
        &Entry::new().key(1).time(2.0),
        &payload(f64::INFINITY, f64::NAN, 1),
    )
    .unwrap();
    log.close().unwrap();
    for (no_index, set) in scanned_and_indexed(&p) {
        let state = set.state_at(1.0, Interpolation::Linear).unwrap();
        let (e, got) = state.iter().next().unwrap();
        assert!(!e.interpolated, "{no_index}");
        assert_eq!(got, payload(1.0, 2.0, 1), "{no_index}");
    }
}

/// Writes keys 0..4 for steps 0..10 (key `k` at step `s` has time
/// `time(k, s)`) and returns the offset of the record of `hit` (key, step).
fn four_keys_ten_steps(path: &Path, time: impl Fn(u64, u32) -> f64, hit: (u64, u32)) -> u64 {
    let log = LogOptions::new().schema(schema()).create(path).unwrap();
    let mut at = 0;
    for step in 0..10u32 {
        for key in 0..4u64 {
            let off = log
                .append(
                    &Entry::new().key(key).time(time(key, step)),
                    &payload(step as f64, key as f64, step),
                )
                .unwrap();
            if (key, step) == hit {
                at = off;
            }
        }
    }
    log.close().unwrap();
    at
}

/// The states at `times`, with and without interpolation, agree.
fn assert_same_states(scan: &LogSet, indexed: &LogSet, times: &[f64]) {
    for &t in times {
        for interp in [Interpolation::None, Interpolation::Linear] {
            let want = scan.state_at(t, interp).unwrap();
            let got = indexed.state_at(t, interp).unwrap();
            assert!(got == want, "state_at({t}, {interp:?})");
        }
    }
}

/// Indexes the log at `path`, then damages the record at `hit` (a payload
/// byte flipped: its CRC fails); the log opened scanned, and indexed.
fn index_then_damage(path: &Path, hit: u64) -> (LogSet, LogSet) {
    LogSet::open(path, &SetOptions::new())
        .unwrap()
        .build_indexes(None)
        .unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[hit as usize + 44] ^= 0x10;
    std::fs::write(path, &bytes).unwrap();
    let scan = LogSet::open(path, &SetOptions::new().no_index(true)).unwrap();
    let indexed = LogSet::open(path, &SetOptions::new()).unwrap();
    (scan, indexed)
}

/// A log damaged after its index was built (a flipped byte in a record the
/// index lists): the indexed queries answer as a scan does, stepping over
/// the damaged record and saying so, instead of failing as corrupt.
#[test]
fn damage_after_the_index_was_built_is_answered_as_by_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run_0000.log");
    let hit = four_keys_ten_steps(&path, |_, step| step as f64, (2, 5));
    // Flip a payload byte of key 2's record at step 5.
    let (scan, indexed) = index_then_damage(&path, hit);
    assert!(indexed.index(0).is_some(), "the index is still used");
    assert_same_states(&scan, &indexed, &[5.0, 5.5, 6.0]);
    let s = indexed.state_at(5.0, Interpolation::None).unwrap();
    let e = s.entries().find(|e| e.key == 2).unwrap();
    assert_eq!(e.time, Some(4.0), "the record before the damaged one");
    assert!(indexed.damage_seen(0));
    assert_eq!(indexed.history(2).unwrap(), scan.history(2).unwrap());
    assert_eq!(indexed.history(2).unwrap().len(), 9);
}

/// The same for a key whose records are out of time order (the index
/// lists every record of it, and the query reads each one's time): the
/// damaged record is stepped over, and `damage_seen` says so, as a scan's,
/// even where no scanned range of the query covers it.
#[test]
fn damage_after_the_index_was_built_in_an_unordered_key_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run_0000.log");
    // Key 3 goes back in time (10, 9, ..., 1): out of order.
    let time = |key, step: u32| {
        if key == 3 {
            10.0 - step as f64
        } else {
            step as f64
        }
    };
    let hit = four_keys_ten_steps(&path, time, (3, 5));
    let (scan, indexed) = index_then_damage(&path, hit);
    assert!(!indexed.index(0).unwrap().unordered().is_empty());
    assert!(!indexed.damage_seen(0));
    // Key 3's records all lie after 0.5: which of them is damaged, and what
    // time it had, the query cannot know; a scan says damage_seen.
    let want = scan.state_at(0.5, Interpolation::Linear).unwrap();
    assert!(scan.damage_seen(0));
    assert!(indexed.state_at(0.5, Interpolation::Linear).unwrap() == want);
    assert!(
        indexed.damage_seen(0),
        "the indexed query stepped over damage silently"
    );
    assert_same_states(&scan, &indexed, &[5.0, 5.5, 9.5]);
}

/// One key's records in file order: through an index of a prefix of the
/// log (its list, then a scan of the rest), the same as a scan; times out
/// of order stay in file order. A damaged record is stepped over, noted,
/// and answered as by a scan.
#[test]
fn key_records_come_through_the_index_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let log = LogOptions::new().create(&path).unwrap();
    let mut want: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut put = |key: u64, t: f64| {
        let off = log
            .append(&Entry::new().key(key).time(t), &[key as u8; 16])
            .unwrap();
        want.entry(key).or_default().push(off);
    };
    for step in 0..6 {
        for key in 0..5 {
            // Key 4 goes back in time.
            put(
                key,
                if key == 4 {
                    10.0 - step as f64
                } else {
                    step as f64
                },
            );
        }
    }
    LogSet::open(&path, &SetOptions::new())
        .unwrap()
        .build_indexes(None)
        .unwrap();
    for step in 6..9 {
        for key in [0, 2, 4, 7] {
            put(key, step as f64);
        }
    }
    log.close().unwrap();
    let indexed = LogSet::open(&path, &SetOptions::new()).unwrap();
    let scan = LogSet::open(&path, &SetOptions::new().no_index(true)).unwrap();
    assert!(indexed.index(0).unwrap().covered() < std::fs::metadata(&path).unwrap().len());
    for key in 0..9 {
        let got: Vec<u64> = indexed
            .key_records(0, key)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(
            got,
            want.get(&key).cloned().unwrap_or_default(),
            "key {key}"
        );
        assert_eq!(
            indexed.key_records(0, key).unwrap(),
            scan.key_records(0, key).unwrap()
        );
    }
    assert!(!indexed.damage_seen(0));
    // A flipped payload byte in key 2's third record, which the index lists.
    let hit = want[&2][2];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[hit as usize + 44] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let indexed = LogSet::open(&path, &SetOptions::new()).unwrap();
    let got: Vec<u64> = indexed
        .key_records(0, 2)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    let mut expect = want[&2].clone();
    expect.retain(|&o| o != hit);
    assert_eq!(got, expect);
    assert!(indexed.damage_seen(0));
}

/// `scan_progress` counts what a query's scans read: the whole log
/// without an index (twice for an export of every record: counting, then
/// writing), little through a fresh index; polled from another thread
/// while a query runs it only grows and never passes what is planned.
#[test]
fn scan_progress_counts_what_queries_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run_0000.log");
    let log = LogOptions::new().schema(schema()).create(&path).unwrap();
    for step in 0..40u32 {
        for key in 0..2000u64 {
            log.append(
                &Entry::new().key(key).time(f64::from(step)),
                &payload(f64::from(step), key as f64, step),
            )
            .unwrap();
        }
    }
    log.close().unwrap();
    let data = LogReader::open(&path).unwrap().tail() - 4096;
    let scan = LogSet::open(&path, &SetOptions::new().no_index(true)).unwrap();
    assert_eq!(scan.scan_progress(), (0, 0));
    scan.state_at(20.0, Interpolation::None).unwrap();
    assert_eq!(scan.scan_progress(), (data, data));
    scan.history(7).unwrap();
    assert_eq!(
        scan.scan_progress(),
        (data, data),
        "history starts again at 0"
    );
    scan.export(dir.path().join("all"), None, None, Interpolation::None)
        .unwrap();
    assert_eq!(scan.scan_progress(), (2 * data, 2 * data));
    // Polled while a query runs, on a set that ran none before.
    let scan = LogSet::open(&path, &SetOptions::new().no_index(true)).unwrap();
    let polls = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut seen = vec![scan.scan_progress()];
            while seen.len() < 100_000 {
                let p = scan.scan_progress();
                if p != *seen.last().unwrap() {
                    seen.push(p);
                }
                if p == (data, data) {
                    break;
                }
            }
            seen
        });
        scan.state_at(30.5, Interpolation::Linear).unwrap();
        poller.join().unwrap()
    });
    for w in polls.windows(2) {
        assert!(w[1].0 >= w[0].0 && w[1].1 >= w[0].1, "{polls:?}");
    }
    assert!(
        polls.iter().all(|&(done, planned)| done <= planned),
        "{polls:?}"
    );
    assert_eq!(scan.scan_progress(), (data, data));
    // Through a fresh index: a query scans what the checkpoints leave open.
    let mut set = LogSet::open(&path, &SetOptions::new()).unwrap();
    set.build_indexes(None).unwrap();
    let indexed = LogSet::open(&path, &SetOptions::new()).unwrap();
    indexed.state_at(20.0, Interpolation::None).unwrap();
    let (done, planned) = indexed.scan_progress();
    assert_eq!(done, planned);
    assert!(planned < data / 20, "{planned} of {data}");
    // (Past what the index covers: the log's end record.)
    indexed.key_records(0, 7).unwrap();
    let (done, planned) = indexed.scan_progress();
    assert!(done == planned && planned <= 64, "{done} {planned}");
}

/// `key_records_from` reads each record when it is reached: the first few
/// of a key are read without the rest (here, an index entry further on
/// names another key's record: collecting them all is an error), and
/// records start at the offset given.
#[test]
fn key_records_are_read_when_reached() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let log = LogOptions::new().create(&path).unwrap();
    let mut offs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for step in 0..6 {
        for key in 0..3u64 {
            let off = log
                .append(&Entry::new().key(key).time(f64::from(step)), b"abc")
                .unwrap();
            offs.entry(key).or_default().push(off);
        }
    }
    log.close().unwrap();
    let reader = LogReader::open(&path).unwrap();
    let idx = Index::build(&reader, None).unwrap();
    // Key 1's fifth entry made to name key 2's fifth record.
    let ipath = Index::path_for(&path, None);
    idx.save(&ipath).unwrap();
    let mut bytes = std::fs::read(&ipath).unwrap();
    let (from, to) = (offs[&1][4] / 8, offs[&2][4] / 8);
    let at = (128..bytes.len() - 4)
        .step_by(4)
        .find(|&a| u32::from_le_bytes(bytes[a..a + 4].try_into().unwrap()) == from as u32)
        .unwrap();
    bytes[at..at + 4].copy_from_slice(&(to as u32).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..124]), &bytes[128..]);
    bytes[124..128].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&ipath, &bytes).unwrap();
    let set = LogSet::open(&path, &SetOptions::new()).unwrap();
    assert!(set.index(0).is_some());
    let first: Vec<u64> = set
        .key_records_from(0, 1, 0)
        .unwrap()
        .take(4)
        .map(|r| r.unwrap().offset)
        .collect();
    assert_eq!(first, offs[&1][..4]);
    assert!(
        set.key_records(0, 1).is_err(),
        "the fifth names key 2's record"
    );
    let later: Vec<u64> = set
        .key_records_from(0, 0, offs[&0][3])
        .unwrap()
        .map(|r| r.unwrap().offset)
        .collect();
    assert_eq!(later, offs[&0][3..]);
    assert_eq!(set.key_records_from(0, 0, 0).unwrap().count(), 6);
    assert!(set.key_records_from(1, 0, 0).is_err(), "no second file");
}

/// An export of every record of a set, one log growing while it runs:
/// each file gives the records committed when it was counted, and the
/// other files all of theirs (the growing one once took the rows of the
/// files after it).
#[test]
fn an_export_beside_a_writer_takes_every_record_of_the_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("run_0000.log"),
        dir.path().join("run_0001.log"),
    );
    let closed = LogOptions::new().schema(schema()).create(&b).unwrap();
    for step in 0..200u32 {
        let e = Entry::new()
            .key(1_000_000 + u64::from(step))
            .time(f64::from(step));
        closed.append(&e, &payload(1.0, 2.0, step)).unwrap();
    }
    closed.close().unwrap();
    let live = LogOptions::new().schema(schema()).create(&a).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut step = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let e = Entry::new().key(7).time(f64::from(step));
                live.append(&e, &payload(0.0, 0.0, step)).unwrap();
                step += 1;
            }
        });
        // The writer stops however the rounds end (a failed one too).
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        while LogReader::open(&a).unwrap().records().count() < 1000 {
            std::thread::yield_now();
        }
        for round in 0..5 {
            let set = LogSet::open(dir.path(), &SetOptions::new()).unwrap();
            let out = dir.path().join(format!("out{round}"));
            let summary = set.export(&out, None, None, Interpolation::None).unwrap();
            let files = DynArray::open_npy(out.join("file.npy")).unwrap();
            let of_b = (0..summary.rows as usize)
                .filter(|&i| files.get(i) == Some(Scalar::UInt(1)))
                .count();
            assert_eq!(of_b, 200, "round {round}: {} rows", summary.rows);
        }
    });
    live.close().unwrap();
}
