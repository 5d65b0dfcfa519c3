//! Corruption campaign: a closed log of a few hundred records (two
//! sessions; varied payload sizes, keys, chains, times, flags; padding from
//! dropped reservations) is damaged at random, many times over, and read
//! back.
//!
//! Damage kinds: 1..8 flipped bits, a zeroed 4 KiB page, a random byte
//! range overwritten with random bytes, truncation at a random length,
//! damage to the header page. For each case:
//!
//! * `LogReader::open` errors only when the header's checked part (or its
//!   length) is damaged, and then the error names the file; otherwise it
//!   opens, and `records()` and `scan()` do not panic;
//! * every record returned is one that was written, at its offset, with
//!   its exact metadata and payload; in fact exactly the records whose
//!   bytes are untouched are returned (so every record before the first
//!   damaged byte is);
//! * `scan()` agrees with `records()`, and reports the damage (damaged
//!   ranges, holes, fewer records, or no longer clean) whenever a record's
//!   checked bytes changed;
//! * `log::recover` either errors cleanly (destroyed header; the file is
//!   left as it was) or succeeds, after which `verify` reports a clean log
//!   without damage or holes that holds exactly the records the scan found
//!   (`SkipDamage`), or those before the first damage (`StopAtDamage`).
//!
//! Foreign files (random bytes, an `.npy` file, an empty file, zeros) are
//! refused by every entry point, without a panic and without being changed.
//!
//! `MAPIO_CORRUPTIONS` sets the number of cases (default 300),
//! `MAPIO_SEED` the seed, `MAPIO_CORRUPTION_CASE` runs one case only. The
//! campaign prints a `SCORE ... area=logs` line for `scripts/torture`
//! (`accepted` = opened, checked record by record, recovered and
//! appended to: `detected` + `harmless`).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

mod common;

use mapio::log::{self, Chain, Entry, Flags, Log, LogOptions, LogReader, Record, Recovery};

use common::mix;

const HEADER: u64 = 4096;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| {
        let v = v.trim();
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => v.parse().ok(),
        }
    })
}

/// What a record span of the intact file is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Data,
    Padding,
    End,
}

/// The intact log and what it holds.
struct Original {
    bytes: Vec<u8>,
    /// Data records by offset, as written.
    records: BTreeMap<u64, Record>,
    /// Every record of the file: offset, length, kind.
    spans: Vec<(u64, u64, Kind)>,
}

/// Writes the log the campaign damages, and checks it reads back exactly.
fn build(path: &Path, seed: u64) -> Original {
    let mut rng = Rng(seed ^ 0xB01D);
    let mut written: BTreeMap<u64, Record> = BTreeMap::new();
    let mut last_of_key: BTreeMap<u64, u64> = BTreeMap::new();
    let mut padding = 0;
    for session in 0..2 {
        let opts = LogOptions::new().step(16 << 10);
        let log = if session == 0 {
            opts.create(path).unwrap()
        } else {
            // Reopening chains each key to its last record in the file,
            // whatever chain that record had.
            for (&off, r) in &written {
                if let Some(k) = r.key {
                    last_of_key.insert(k, off);
                }
            }
            opts.open(path).unwrap()
        };
        for i in 0..200u64 {
            let n = match rng.below(6) {
                0 => 0,
                1 => rng.below(9) as usize,
                2 => 8 * (1 + rng.below(4)) as usize,
                3 => rng.below(2000) as usize,
                _ => rng.below(200) as usize,
            };
            let data = rng.bytes(n);
            let mut e = Entry::new();
            let key = (rng.below(10) < 7).then(|| rng.below(20));
            let mut chain = None;
            if let Some(k) = key {
                e = e.key(k);
                match rng.below(10) {
                    0 => {
                        e = e.chain(Chain::None);
                    }
                    1 => {
                        let to = 4096 + 8 * rng.below(1000);
                        e = e.chain(Chain::To(to));
                        chain = Some(to);
                    }
                    _ => chain = Some(u64::MAX), // auto
                }
            }
            let time = (rng.below(10) < 6).then(|| (session * 1000 + i) as f64 * 0.25);
            if let Some(t) = time {
                e = e.time(t);
            }
            let flags = Flags(rng.below(16) as u8);
            e = e.flags(flags);
            let off = match rng.below(10) {
                0 => {
                    // Dropped: becomes padding (maybe half written first).
                    let mut r = log.reserve(&e, n).unwrap();
                    if n > 0 && rng.below(2) == 0 {
                        r.put(0, &data[..n / 2]).unwrap();
                    }
                    drop(r);
                    padding += 1;
                    continue;
                }
                1 | 2 => {
                    let mut r = log.reserve(&e, n).unwrap();
                    let cut = n / 3;
                    r.put(cut, &data[cut..]).unwrap();
                    r.put(0, &data[..cut]).unwrap();
                    r.commit().unwrap()
                }
                _ => log.append(&e, &data).unwrap(),
            };
            let prev = match chain {
                None => None,
                Some(u64::MAX) => Some(last_of_key.get(&key.unwrap()).copied().unwrap_or(0)),
                Some(to) => Some(to),
            };
            if let (Some(k), Some(u64::MAX)) = (key, chain) {
                last_of_key.insert(k, off);
            }
            written.insert(
                off,
                Record {
                    offset: off,
                    len: 0, // filled from the read-back below
                    key,
                    prev,
                    time,
                    flags,
                    payload: data,
                },
            );
        }
        log.close().unwrap();
    }
    let reader = LogReader::open(path).unwrap();
    let got: Vec<Record> = reader.records().collect();
    assert_eq!(got.len(), written.len());
    let mut records = BTreeMap::new();
    for r in got {
        let mut want = written
            .remove(&r.offset)
            .expect("a record where none was written");
        want.len = r.len;
        assert_eq!(r, want);
        records.insert(r.offset, r);
    }
    let report = reader.scan();
    assert!(report.clean && report.damaged.is_empty() && report.holes.is_empty());
    assert_eq!(report.padding, padding);
    assert_eq!(report.ends, 2);
    drop(reader);
    let bytes = std::fs::read(path).unwrap();
    // The spans, from the record framing of the intact file.
    let mut spans = Vec::new();
    let mut pos = HEADER;
    while pos < bytes.len() as u64 {
        let w = u64::from_le_bytes(bytes[pos as usize..pos as usize + 8].try_into().unwrap());
        let len = w & 0xFFFF_FFFF;
        let kind = match (w >> 32) & 0xF {
            1 => Kind::Data,
            2 => Kind::Padding,
            3 => Kind::End,
            k => panic!("kind {k} at {pos}"),
        };
        assert_eq!(kind == Kind::Data, records.contains_key(&pos));
        spans.push((pos, len, kind));
        pos += len;
    }
    assert_eq!(pos, bytes.len() as u64);
    Original {
        bytes,
        records,
        spans,
    }
}

/// One damage: the damaged bytes and a description.
fn damage(orig: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = orig.to_vec();
    let len = b.len() as u64;
    let desc = match rng.below(6) {
        0 | 1 => {
            let n = 1 + rng.below(8);
            let mut bits = Vec::new();
            // Mostly in the records, sometimes in the header.
            let in_header = rng.below(8) == 0;
            for _ in 0..n {
                let byte = if in_header {
                    rng.below(HEADER)
                } else {
                    HEADER + rng.below(len - HEADER)
                };
                let bit = rng.below(8);
                b[byte as usize] ^= 1 << bit;
                bits.push(byte * 8 + bit);
            }
            format!("flip bits {bits:?}")
        }
        2 => {
            let page = rng.below(len.div_ceil(4096));
            let from = (page * 4096) as usize;
            let to = (from + 4096).min(b.len());
            b[from..to].fill(0);
            format!("zero page {page} ({from}..{to})")
        }
        3 => {
            let n = 1 + rng.below(256);
            let from = if rng.below(10) == 0 {
                rng.below(HEADER)
            } else {
                HEADER + rng.below(len - HEADER)
            };
            let to = (from + n).min(len);
            let r = rng.bytes((to - from) as usize);
            b[from as usize..to as usize].copy_from_slice(&r);
            format!("random bytes {from}..{to}")
        }
        4 => {
            let at = if rng.below(8) == 0 {
                rng.below(HEADER + 16)
            } else {
                rng.below(len)
            };
            b.truncate(at as usize);
            format!("truncate at {at}")
        }
        _ => {
            // The header: its counters (unchecked) or its checked part.
            let at = rng.below(HEADER) as usize;
            let n = 1 + rng.below(16) as usize;
            let to = (at + n).min(HEADER as usize);
            for x in &mut b[at..to] {
                *x = rng.next() as u8;
            }
            format!("header bytes {at}..{to}")
        }
    };
    (b, desc)
}

/// What a damage changed: the offsets whose byte differs, and where the
/// file was cut (every byte from there on is gone).
struct Changed {
    bytes: Vec<u64>,
    cut: Option<u64>,
}

impl Changed {
    fn new(orig: &[u8], new: &[u8]) -> Changed {
        Changed {
            bytes: orig
                .iter()
                .zip(new)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i as u64)
                .collect(),
            cut: (new.len() < orig.len()).then_some(new.len() as u64),
        }
    }

    /// The first byte changed or gone.
    fn first(&self) -> u64 {
        let b = self.bytes.first().copied().unwrap_or(u64::MAX);
        b.min(self.cut.unwrap_or(u64::MAX))
    }

    /// Whether any byte of `from..to` changed or is gone.
    fn touches(&self, from: u64, to: u64) -> bool {
        self.bytes.iter().any(|&c| c >= from && c < to) || self.cut.is_some_and(|n| to > n)
    }
}

/// Whether the header's checked bytes (or its length) are damaged.
fn header_broken(ch: &Changed) -> bool {
    ch.cut.is_some_and(|n| n < HEADER)
        || ch
            .bytes
            .iter()
            .any(|&c| c < HEADER && !(256..512).contains(&c))
}

#[derive(Default)]
struct Tally {
    cases: u64,
    refused: u64,
    detected: u64,
    harmless: u64,
    recovered: u64,
}

fn run_case(orig: &Original, dir: &Path, seed: u64, case: u64, tally: &mut Tally) {
    let mut rng = Rng(mix(seed) ^ mix(case + 1));
    let (bytes, desc) = damage(&orig.bytes, &mut rng);
    let policy = if rng.below(4) == 0 {
        Recovery::StopAtDamage
    } else {
        Recovery::SkipDamage
    };
    let ctx = format!("case {case} (MAPIO_SEED={seed:#x} MAPIO_CORRUPTION_CASE={case}): {desc}");
    let path = dir.join(format!("case{case}.log"));
    std::fs::write(&path, &bytes).unwrap();
    let ch = Changed::new(&orig.bytes, &bytes);
    let first = ch.first();
    let broken = header_broken(&ch);
    tally.cases += 1;

    let reader = match LogReader::open(&path) {
        Err(e) => {
            assert!(broken, "{ctx}: refused an intact header: {e}");
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{ctx}: the error does not name the file: {msg}"
            );
            tally.refused += 1;
            // Recovery refuses too, and leaves the file alone.
            let r = catch_unwind(|| log::recover(&path, policy));
            let r = r.unwrap_or_else(|_| panic!("{ctx}: recover panicked"));
            let e = r.expect_err(&format!("{ctx}: recovered a log whose header is damaged"));
            assert!(
                e.to_string().contains(&path.display().to_string()),
                "{ctx}: {e}"
            );
            assert!(
                std::fs::read(&path).unwrap() == bytes,
                "{ctx}: a failed recovery changed the file"
            );
            assert!(log::verify(&path).is_err(), "{ctx}");
            std::fs::remove_file(&path).unwrap();
            return;
        }
        Ok(r) => r,
    };
    assert!(!broken, "{ctx}: opened a log whose header is damaged");
    let recs: Vec<Record> = catch_unwind(AssertUnwindSafe(|| reader.records().collect()))
        .unwrap_or_else(|_| panic!("{ctx}: records() panicked"));
    let scan = catch_unwind(AssertUnwindSafe(|| reader.scan()))
        .unwrap_or_else(|_| panic!("{ctx}: scan() panicked"));
    drop(reader);

    // Every record returned is one written there, exactly.
    for r in &recs {
        match orig.records.get(&r.offset) {
            Some(w) => assert_eq!(r, w, "{ctx}: record at {} differs", r.offset),
            None => panic!("{ctx}: a record where none was written: {r:?}"),
        }
    }
    // Exactly the untouched records come back (so all before `first`).
    let untouched: Vec<u64> = orig
        .records
        .values()
        .filter(|w| !ch.touches(w.offset, w.offset + w.len))
        .map(|w| w.offset)
        .collect();
    let got: Vec<u64> = recs.iter().map(|r| r.offset).collect();
    for w in orig.records.values() {
        if w.offset + w.len <= first {
            assert!(
                got.contains(&w.offset),
                "{ctx}: lost the record at {}, before the first damaged byte {first}",
                w.offset
            );
        }
    }
    assert_eq!(got, untouched, "{ctx}: records returned vs untouched");
    // scan() agrees with records() and reports the damage.
    assert_eq!(scan.records, recs.len() as u64, "{ctx}: {scan:?}");
    let checked_change = orig.spans.iter().any(|&(off, len, kind)| {
        let checked = if kind == Kind::Padding {
            len.min(16)
        } else {
            len
        };
        ch.touches(off, off + checked)
    });
    let data_change = recs.len() < orig.records.len();
    let reported = !scan.damaged.is_empty() || !scan.holes.is_empty() || data_change;
    if data_change {
        assert!(reported, "{ctx}");
    }
    if checked_change {
        assert!(
            reported || !scan.clean,
            "{ctx}: records changed, the scan says nothing: {scan:?}"
        );
        tally.detected += 1;
    } else {
        tally.harmless += 1;
        assert_eq!(recs.len(), orig.records.len(), "{ctx}");
    }
    if !scan.damaged.is_empty() {
        assert!(!scan.clean, "{ctx}: damaged yet clean: {scan:?}");
    }

    // Recovery, then a clean log with the records the scan found.
    let found = catch_unwind(|| log::recover(&path, policy))
        .unwrap_or_else(|_| panic!("{ctx}: recover panicked"))
        .unwrap_or_else(|e| panic!("{ctx}: recover failed: {e}"));
    let first_gap = scan
        .damaged
        .iter()
        .chain(&scan.holes)
        .map(|d| d.from)
        .min()
        .unwrap_or(u64::MAX);
    let kept: Vec<&Record> = match policy {
        Recovery::SkipDamage => recs.iter().collect(),
        Recovery::StopAtDamage => recs.iter().filter(|r| r.offset < first_gap).collect(),
    };
    assert_eq!(found.records, kept.len() as u64, "{ctx}: {found:?}");
    let after = log::verify(&path).unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
    assert!(
        after.clean && after.damaged.is_empty() && after.holes.is_empty(),
        "{ctx}: after recovery ({policy:?}): {after:?}"
    );
    let reader = LogReader::open(&path).unwrap();
    let again: Vec<Record> = reader.records().collect();
    drop(reader);
    assert_eq!(
        again.iter().collect::<Vec<_>>(),
        kept,
        "{ctx}: recovery ({policy:?}) changed the records"
    );
    // And it takes appends again.
    let log = LogOptions::new()
        .step(16 << 10)
        .open(&path)
        .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    log.append(&Entry::new().key(1), b"after recovery").unwrap();
    log.close().unwrap();
    let n = LogReader::open(&path).unwrap().records().count();
    assert_eq!(n, kept.len() + 1, "{ctx}");
    tally.recovered += 1;
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn corruption_campaign() {
    let seed = env_u64("MAPIO_SEED").unwrap_or(0xC0_2202);
    let cases = env_u64("MAPIO_CORRUPTIONS").unwrap_or(300);
    let only = env_u64("MAPIO_CORRUPTION_CASE");
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let orig = build(&dir.path().join("orig.log"), seed);
    let mut tally = Tally::default();
    match only {
        Some(case) => run_case(&orig, dir.path(), seed, case, &mut tally),
        None => {
            for case in 0..cases {
                run_case(&orig, dir.path(), seed, case, &mut tally);
            }
        }
    }
    eprintln!(
        "log_corruption: {} cases on a log of {} records ({} bytes, seed {seed:#x}): \
         {} refused (header), {} damaged records detected, {} harmless, {} recovered, {:.1?}",
        tally.cases,
        orig.records.len(),
        orig.bytes.len(),
        tally.refused,
        tally.detected,
        tally.harmless,
        tally.recovered,
        t0.elapsed()
    );
    println!(
        "SCORE damaged_logs={} refused={} accepted={} detected={} harmless={} recovered={} \
         records={} seed={seed:#x} area=logs",
        tally.cases,
        tally.refused,
        tally.detected + tally.harmless,
        tally.detected,
        tally.harmless,
        tally.recovered,
        orig.records.len()
    );
}

/// Every entry point on `path` errors (naming the file), never panics,
/// and leaves the file as it was.
fn refused_everywhere(path: &Path, what: &str) {
    let before = std::fs::read(path).unwrap();
    let name = path.display().to_string();
    let check = |r: Result<(), mapio::Error>, op: &str| match r {
        Ok(()) => panic!("{what}: {op} accepted it"),
        Err(e) => assert!(e.to_string().contains(&name), "{what}: {op}: {e}"),
    };
    let r = catch_unwind(|| {
        check(LogReader::open(path).map(drop), "LogReader::open");
        check(log::verify(path).map(drop), "verify");
        check(
            log::recover(path, Recovery::SkipDamage).map(drop),
            "recover",
        );
        check(Log::open(path).map(drop), "Log::open");
    });
    assert!(r.is_ok(), "{what}: panicked");
    assert!(
        std::fs::read(path).unwrap() == before,
        "{what}: the file was changed"
    );
}

#[test]
fn foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let p = dir.path().join("random.bin");
    std::fs::write(&p, rng.bytes(3 * 4096 + 5)).unwrap();
    refused_everywhere(&p, "random bytes");
    let p = dir.path().join("short.bin");
    std::fs::write(&p, rng.bytes(100)).unwrap();
    refused_everywhere(&p, "100 random bytes");
    let p = dir.path().join("empty.log");
    std::fs::write(&p, b"").unwrap();
    refused_everywhere(&p, "an empty file");
    let p = dir.path().join("zeros.log");
    std::fs::write(&p, vec![0u8; 8192]).unwrap();
    refused_everywhere(&p, "zeros");
    // The magic, then garbage.
    let p = dir.path().join("magic.log");
    let mut b = b"MAPIOLOG".to_vec();
    b.extend(rng.bytes(5000));
    std::fs::write(&p, &b).unwrap();
    refused_everywhere(&p, "the magic, then random bytes");
    // A NumPy file.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npy");
    let mut npys: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    npys.sort();
    assert!(!npys.is_empty());
    for npy in [
        &npys[0],
        npys.iter()
            .max_by_key(|p| p.metadata().unwrap().len())
            .unwrap(),
    ] {
        let p = dir.path().join("array.npy");
        std::fs::copy(npy, &p).unwrap();
        refused_everywhere(&p, &format!("{}", npy.display()));
    }
}

/// The header's counters (`tail`, `allocated`, `synced`, `state`,
/// `sessions`) are hints outside the checksum: any value in them must
/// neither hide records nor make a reader or recovery fail or panic.
#[test]
fn garbage_in_the_header_counters_is_harmless() {
    counters_case(|field, value| !(field == "sessions" && value == u64::MAX));
}

#[test]
fn sessions_counter_at_max_does_not_panic_on_reopen() {
    counters_case(|field, value| field == "sessions" && value == u64::MAX);
}

fn counters_case(which: impl Fn(&str, u64) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.log");
    let log = LogOptions::new().create(&path).unwrap();
    for i in 0..50u64 {
        log.append(&Entry::new().key(i % 3).time(i as f64), &[i as u8; 40])
            .unwrap();
    }
    log.close().unwrap();
    let orig = std::fs::read(&path).unwrap();
    let want: Vec<Record> = LogReader::open(&path).unwrap().records().collect();
    for value in [0u64, 1, 4095, 4096, 1 << 40, u64::MAX - 1, u64::MAX] {
        for (field, off) in [
            ("tail", 256usize),
            ("allocated", 320),
            ("synced", 328),
            ("state", 336),
            ("sessions", 344),
        ] {
            if !which(field, value) {
                continue;
            }
            let ctx = format!("{field} = {value:#x}");
            let mut b = orig.clone();
            b[off..off + 8].copy_from_slice(&value.to_le_bytes());
            std::fs::write(&path, &b).unwrap();
            let r = catch_unwind(|| {
                let reader = LogReader::open(&path).unwrap();
                let got: Vec<Record> = reader.records().collect();
                let scan = reader.scan();
                (got, scan)
            });
            let (got, scan) = r.unwrap_or_else(|_| panic!("{ctx}: reading panicked"));
            assert_eq!(got, want, "{ctx}");
            assert_eq!(scan.records, 50, "{ctx}");
            let r = catch_unwind(|| {
                let log = Log::open(&path).unwrap();
                log.append(&Entry::new(), b"more").unwrap();
                log.close().unwrap();
            });
            assert!(r.is_ok(), "{ctx}: reopening panicked");
            assert_eq!(log::verify(&path).unwrap().records, 51, "{ctx}");
        }
    }
}

/// A page of committed records zeroed in a log that was closed cleanly
/// (power loss losing a page, FORMAT.md 1.8) is lost data, not a hole: no
/// crashed writer of that log can have left it (recovery pads the holes of
/// a crashed session before the next `close`).
#[test]
fn zeroed_page_of_a_closed_log_is_damage_not_a_hole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closed.log");
    let log = LogOptions::new().step(16 << 10).create(&path).unwrap();
    for i in 0..200u64 {
        log.append(&Entry::new().key(i).time(i as f64), &[i as u8; 100])
            .unwrap();
    }
    log.close().unwrap();
    // The first page of records: it starts at a record boundary, so the
    // scan meets a zero `word0` there.
    let mut b = std::fs::read(&path).unwrap();
    b[4096..8192].fill(0);
    std::fs::write(&path, &b).unwrap();
    let reader = LogReader::open(&path).unwrap();
    assert!(reader.closed_cleanly());
    let report = reader.scan();
    assert!(report.records < 200, "records were lost: {report:?}");
    assert!(
        !report.is_intact() && !report.clean,
        "lost records reported as a hole of a clean, intact log: {report:?}"
    );
}
