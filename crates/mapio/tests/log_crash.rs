//! Crash recovery of the continuous log under `kill -9`.
//!
//! * `kill_loop`: a child process (this test binary, re-executed with
//!   `MAPIO_CRASH_CHILD` set) appends records from 4 threads, mixing
//!   `append` and `reserve` + `put` + `commit`, and reports each `sync()`
//!   on stdout. The parent kills it with SIGKILL at a random instant, then
//!   checks the file: every record below the last reported synced offset is
//!   there, every thread's records form a gap-free sequence (a record is
//!   committed before the thread reserves the next, and SIGKILL loses
//!   nothing the process wrote to the map), no record read back anywhere is
//!   corrupt, the history chains link each record to the previous one of
//!   its key across sessions, `verify` reports holes only after the synced
//!   offset and no damage; then it reopens the log for appending, appends,
//!   closes, and checks the log is clean. Every other iteration continues
//!   the same log (sessions pile up), else starts a fresh one. The kill
//!   comes 1..80 ms after the child reports it started; when continuing a
//!   log, one time in three it comes 0..20 ms after the spawn instead
//!   (during startup or recovery); one time in four the child closes the
//!   log after a few hundred appends per thread (the kill lands before,
//!   during or after the close; after it, the log must be clean and
//!   complete). When continuing a log, one time in two the parent keeps a
//!   reader attached through the child's run and its own reopen, so that
//!   both recover beside a reader (in place, without truncating) and the
//!   early kills land in that recovery.
//!
//!   `MAPIO_KILLS` sets the number of kills (default 200; 200 take ~40 s,
//!   5000 ~19 min on 2 cores); `MAPIO_SEED` the seed of the delays. It
//!   prints a `SCORE ... area=log_kill` line for `scripts/torture`.
//! * `abort_mid_reservation_*`: the child reserves a record, writes part of
//!   it and aborts: a true hole (non-zero bytes under a zero `word0`).
//!   Readers step over it, recovery pads it, and a live follower of the
//!   reopened log reads through it without waiting.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

mod common;

use mapio::log::{self, Entry, Flags, FollowOptions, Log, LogOptions, LogReader, Meta, Record};

use common::{fnv, mix};

const CHILD_ENV: &str = "MAPIO_CRASH_CHILD";
const THREADS: u32 = 4;
/// Appends per thread between two `sync()` calls.
const SYNC_EVERY: u64 = 256;
/// Allocation step of the child: small, so that kills land during growth.
const STEP: u64 = 64 << 10;
/// Key of the records the parent appends after each recovery.
const PARENT_KEY: u64 = 1000;

// ---------------------------------------------------------------- payloads

const MAGIC: u32 = 0x4B49_4C4C; // "LLIK"
/// Bytes before the body: magic, session, thread, seq.
const HEAD: usize = 20;

/// Body length of record `seq` of `thread` in `session` (0..300), and
/// the seed of its bytes.
fn body(session: u32, thread: u32, seq: u64) -> (usize, u64) {
    let seed = mix(((session as u64) << 40) ^ ((thread as u64) << 32) ^ seq);
    ((seed % 300) as usize, seed)
}

/// The payload of record `seq` of `thread` in `session`: describes itself,
/// has a pseudo-random body of 0..300 bytes, and ends with its own
/// checksum (FNV-1a of everything before).
fn payload(session: u32, thread: u32, seq: u64) -> Vec<u8> {
    let (n, mut s) = body(session, thread, seq);
    let mut v = Vec::with_capacity(HEAD + n + 8);
    v.extend_from_slice(&MAGIC.to_le_bytes());
    v.extend_from_slice(&session.to_le_bytes());
    v.extend_from_slice(&thread.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    while v.len() < HEAD + n {
        s = mix(s);
        v.extend_from_slice(&s.to_le_bytes()[..(HEAD + n - v.len()).min(8)]);
    }
    let h = fnv(&v);
    v.extend_from_slice(&h.to_le_bytes());
    v
}

/// `(session, thread, seq)` of an intact payload: the right length for
/// what it says it is, and its checksum matches.
fn decode(p: &[u8]) -> Option<(u32, u32, u64)> {
    if p.len() < HEAD + 8 || p[..4] != MAGIC.to_le_bytes() {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(p[i..i + 4].try_into().unwrap());
    let (s, t) = (u32_at(4), u32_at(8));
    let seq = u64::from_le_bytes(p[12..20].try_into().unwrap());
    let n = p.len() - 8;
    (body(s, t, seq).0 == n - HEAD && fnv(&p[..n]).to_le_bytes() == p[n..]).then_some((s, t, seq))
}

fn entry(thread: u32, seq: u64) -> Entry {
    let e = Entry::new().key(thread as u64).time(seq as f64);
    if seq == 0 { e.flags(Flags::CREATE) } else { e }
}

// ------------------------------------------------------------ child side

/// Not a test of its own: the entry point of the child processes. Does
/// nothing unless `MAPIO_CRASH_CHILD` is set.
#[test]
fn crash_child_process() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(std::env::var("MAPIO_CRASH_PATH").unwrap());
    match role.as_str() {
        "writer" => child_writer(&path),
        "abort-middle" => child_abort(&path, true),
        "abort-tail" => child_abort(&path, false),
        other => panic!("unknown child role {other}"),
    }
}

fn say(line: std::fmt::Arguments) {
    // One write per line (println! holds the lock for the whole line).
    println!("@@ {line}");
}

fn child_writer(path: &Path) {
    let session: u32 = std::env::var("MAPIO_CRASH_SESSION")
        .unwrap()
        .parse()
        .unwrap();
    let opts = LogOptions::new().step(STEP).reserve(1 << 34);
    let log = if path.exists() {
        opts.open(path).unwrap()
    } else {
        opts.create(path).unwrap()
    };
    // Appends per thread before closing the log (0: never).
    let stop: u64 = std::env::var("MAPIO_CRASH_STOP").unwrap().parse().unwrap();
    // The last committed record of each thread: (seq, end offset).
    let last: Vec<Mutex<Option<(u64, u64)>>> = (0..THREADS).map(|_| Mutex::new(None)).collect();
    say(format_args!("start {session} {}", log.tail()));
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (log, last) = (&log, &last);
            s.spawn(move || {
                let mut seq = 0u64;
                while stop == 0 || seq < stop {
                    let p = payload(session, t, seq);
                    let e = entry(t, seq);
                    let off = if mix(seq ^ t as u64).is_multiple_of(3) {
                        let mut r = log.reserve(&e, p.len()).unwrap();
                        let cut = p.len() / 2;
                        r.put(cut, &p[cut..]).unwrap();
                        r.put(0, &p[..cut]).unwrap();
                        r.commit().unwrap()
                    } else {
                        log.append(&e, &p).unwrap()
                    };
                    let end = off + record_len(p.len());
                    *last[t as usize].lock().unwrap() = Some((seq, end));
                    seq += 1;
                    if seq.is_multiple_of(SYNC_EVERY) {
                        let o = log.sync().unwrap();
                        // Each thread's records up to the last one ending
                        // at or below `o` are durable.
                        let covered: Vec<String> = last
                            .iter()
                            .map(|l| match *l.lock().unwrap() {
                                Some((s, e)) if e <= o => (s + 1).to_string(),
                                _ => "-".to_string(),
                            })
                            .collect();
                        say(format_args!("sync {o} {}", covered.join(" ")));
                        if Instant::now() > deadline {
                            // Nobody killed us: the parent is gone.
                            std::process::exit(3);
                        }
                    }
                }
            });
        }
    });
    // Every thread is done: close, then wait to be killed.
    let end = log.close().unwrap();
    say(format_args!("closed {end}"));
    std::thread::sleep(Duration::from_secs(60));
    std::process::exit(3);
}

/// Length of a record of [`entry`] (key, auto chain, time) in the file.
fn record_len(payload: usize) -> u64 {
    Meta {
        key: Some(0),
        prev: Some(0),
        time: Some(0.0),
        flags: Flags::NONE,
    }
    .record_len(payload)
    .unwrap()
}

fn child_abort(path: &Path, records_after: bool) {
    let log = LogOptions::new().step(STEP).create(path).unwrap();
    for seq in 0..100 {
        log.append(&entry(0, seq), &payload(1, 0, seq)).unwrap();
    }
    let p = payload(1, 1, 0);
    let mut r = log.reserve(&entry(1, 0), p.len()).unwrap();
    r.put(0, &p[..p.len() / 2]).unwrap();
    let (off, len) = (r.offset(), record_len(p.len()));
    if records_after {
        for seq in 100..150 {
            log.append(&entry(0, seq), &payload(1, 0, seq)).unwrap();
        }
    }
    let synced = log.sync().unwrap();
    say(format_args!("hole {off} {len} {synced}"));
    std::io::stdout().flush().unwrap();
    // Dies with the reservation half written: neither committed nor
    // given back.
    std::mem::forget(r);
    std::process::abort();
}

// ----------------------------------------------------------- parent side

fn spawn_child(
    role: &str,
    path: &Path,
    session: u32,
    stop: u64,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ENV, role)
        .env("MAPIO_CRASH_PATH", path)
        .env("MAPIO_CRASH_SESSION", session.to_string())
        .env("MAPIO_CRASH_STOP", stop.to_string())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("@@ ") {
                if tx.send(rest.to_string()).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

/// A small deterministic PRNG for the parent's choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the parent knows must be in the log.
#[derive(Default)]
struct Expect {
    /// Records per (session, thread) of finished sessions.
    done: HashMap<(u32, u32), u64>,
    /// Records the parent appended itself, per session.
    parent: HashMap<u32, u64>,
}

struct Totals {
    kills: u64,
    early: u64,
    closed: u64,
    /// Iterations with a reader attached through the run and the reopen.
    beside: u64,
    records_verified: u64,
    sessions: u64,
    holes: u64,
    synced_records: u64,
}

#[test]
fn kill_loop() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let kills = env_u64("MAPIO_KILLS", 200);
    let seed = env_u64("MAPIO_SEED", 0x5EED_C4A5);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.log");
    let started = Instant::now();
    let mut totals = Totals {
        kills: 0,
        early: 0,
        closed: 0,
        beside: 0,
        records_verified: 0,
        sessions: 0,
        holes: 0,
        synced_records: 0,
    };
    let mut expect = Expect::default();
    let mut session = 0u32;
    for iter in 0..kills {
        if iter % 2 == 0 {
            // A fresh log every other time; else continue the last one.
            let _ = std::fs::remove_file(&path);
            expect = Expect::default();
        }
        session += 1;
        // Continuing a log, now and then kill the child early, without
        // waiting for it to start: during its startup, or while it
        // recovers the log.
        let early = iter % 2 == 1 && rng.below(3) == 0;
        let beside = iter % 2 == 1 && rng.below(2) == 0;
        let delay = if early {
            Duration::from_micros(rng.below(20_000))
        } else {
            Duration::from_micros(1000 + rng.below(79_000))
        };
        // Now and then the child closes the log after a few hundred
        // appends per thread: the kill lands before, during or after.
        let stop = if rng.below(4) == 0 {
            1 + rng.below(600)
        } else {
            0
        };
        let ctx = format!(
            "kill {iter} (MAPIO_SEED={seed:#x}, session {session}, delay {delay:?}{}{}{})",
            if early { " after spawn" } else { "" },
            if beside { ", beside a reader" } else { "" },
            if stop > 0 {
                format!(", close after {stop} appends per thread")
            } else {
                String::new()
            }
        );
        totals.early += early as u64;
        totals.beside += beside as u64;
        let kill = Kill {
            session,
            delay,
            early,
            beside,
            stop,
            last_look: iter % 2 == 1 || iter + 1 == kills,
        };
        one_kill(&path, &kill, &mut expect, &mut totals, &ctx);
        if (iter + 1) % 500 == 0 {
            eprintln!(
                "log_crash kill_loop: {} of {kills} kills, {} records verified, {:.0?}",
                iter + 1,
                totals.records_verified,
                started.elapsed()
            );
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "log_crash kill_loop: {} kills ({} early, {} after a close, {} beside a reader), {} sessions, \
         {} records verified ({} below a reported sync), {} holes stepped over, seed {seed:#x}, {:.1?}",
        totals.kills,
        totals.early,
        totals.closed,
        totals.beside,
        totals.sessions,
        totals.records_verified,
        totals.synced_records,
        totals.holes,
        elapsed
    );
    println!(
        "SCORE kills={} sessions={} records_verified={} synced_records={} holes={} early={} \
         closed={} beside={} seed={seed:#x} area=log_kill",
        totals.kills,
        totals.sessions,
        totals.records_verified,
        totals.synced_records,
        totals.holes,
        totals.early,
        totals.closed,
        totals.beside
    );
}

/// One iteration of the kill loop.
struct Kill {
    session: u32,
    /// When to kill: after the child reports it started, or (`early`)
    /// after it was spawned.
    delay: Duration,
    early: bool,
    /// Keep a reader attached through the child's run and the reopen.
    beside: bool,
    /// Appends per thread after which the child closes the log (0: never).
    stop: u64,
    /// Check the log once more after reopening (the next iteration starts
    /// a fresh one).
    last_look: bool,
}

fn one_kill(path: &Path, kill: &Kill, expect: &mut Expect, totals: &mut Totals, ctx: &str) {
    let &Kill {
        session,
        delay,
        early,
        beside,
        stop,
        last_look,
    } = kill;
    let attached =
        beside.then(|| LogReader::open(path).unwrap_or_else(|e| panic!("{ctx}: reader: {e}")));
    let (mut child, rx) = spawn_child("writer", path, session, stop);
    if !early {
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{ctx}: the child never started ({e})"));
        assert!(first.starts_with("start "), "{ctx}: {first}");
    }
    std::thread::sleep(delay);
    if let Some(status) = child.try_wait().unwrap() {
        panic!("{ctx}: the child exited by itself: {status}");
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "{ctx}: {status}");
    totals.kills += 1;
    totals.sessions += 1;
    // Everything the child reported before it died.
    let mut synced = 0u64;
    let mut covered = vec![0u64; THREADS as usize];
    let mut closed = None;
    for line in rx.iter() {
        let mut it = line.split(' ');
        match it.next() {
            Some("sync") => {}
            Some("closed") => {
                closed = it.next().and_then(|e| e.parse::<u64>().ok());
                continue;
            }
            _ => continue,
        }
        let Some(o) = it.next().and_then(|o| o.parse::<u64>().ok()) else {
            continue;
        };
        let counts: Vec<Option<u64>> = it.map(|c| c.parse().ok()).collect();
        if counts.len() != THREADS as usize {
            continue; // cut short by the kill
        }
        synced = synced.max(o);
        for (c, n) in covered.iter_mut().zip(counts) {
            *c = (*c).max(n.unwrap_or(0));
        }
    }

    // 1. Read it as it was left.
    let reader = LogReader::open(path).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert!(!reader.writer_active(), "{ctx}: the dead writer's lock");
    let recs: Vec<Record> = reader.records().collect();
    drop(reader);
    let report = log::verify(path).unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
    assert_eq!(report.records, recs.len() as u64, "{ctx}");
    assert!(
        report.damaged.is_empty(),
        "{ctx}: damage after a kill: {:?}",
        report.damaged
    );
    for h in &report.holes {
        assert!(
            h.from >= synced,
            "{ctx}: hole {h:?} below the synced offset {synced}"
        );
    }
    totals.holes += report.holes.len() as u64;
    if let Some(end) = closed {
        // Killed after a clean close: nothing to recover.
        assert!(report.clean && report.holes.is_empty(), "{ctx}: {report:?}");
        assert_eq!(report.end_offset, end, "{ctx}");
        totals.closed += 1;
    }
    let counts = check_records(&recs, ctx, expect, session, synced);
    totals.records_verified += recs.len() as u64;
    for t in 0..THREADS {
        let have = counts.get(&(session, t)).copied().unwrap_or(0);
        if closed.is_some() {
            assert_eq!(have, stop, "{ctx}: thread {t} after close");
        }
        assert!(
            have >= covered[t as usize],
            "{ctx}: thread {t} has {have} records, {} were reported synced",
            covered[t as usize]
        );
        totals.synced_records += covered[t as usize];
    }

    // 2. Reopen for appending: recovery, then a new record, then close.
    let (log, found) = Log::open_with_report(path, &LogOptions::new().step(STEP))
        .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    assert_eq!(found.records, report.records, "{ctx}");
    let n = expect.parent.get(&session).copied().unwrap_or(0);
    log.append(
        &Entry::new().key(PARENT_KEY).time(session as f64),
        &payload(session, 99, n),
    )
    .unwrap_or_else(|e| panic!("{ctx}: append after recovery: {e}"));
    log.close()
        .unwrap_or_else(|e| panic!("{ctx}: close after recovery: {e}"));
    if let Some(r) = attached {
        // It kept the file's length: nothing was truncated under it.
        assert!(r.records().count() as u64 > report.records, "{ctx}");
    }
    expect.parent.insert(session, n + 1);
    for t in 0..THREADS {
        let have = counts.get(&(session, t)).copied().unwrap_or(0);
        expect.done.insert((session, t), have);
    }

    // 3. Clean now, everything kept.
    let after = log::verify(path).unwrap();
    assert!(
        after.clean && after.holes.is_empty() && after.damaged.is_empty(),
        "{ctx}: after recovery and close: {after:?}"
    );
    assert_eq!(after.records, report.records + 1, "{ctx}");
    if last_look {
        // The next iteration starts a fresh log: check this one a last
        // time (else the next iteration checks it all).
        let recs: Vec<Record> = LogReader::open(path).unwrap().records().collect();
        check_records(&recs, ctx, expect, u32::MAX, 0);
    }
}

/// Checks every record: payload intact, metadata consistent with it,
/// per-(session, thread) sequences gap-free from 0, history chains
/// linking each record to the previous of its key; finished sessions
/// complete. Returns the count per (session, thread).
fn check_records(
    recs: &[Record],
    ctx: &str,
    expect: &Expect,
    live_session: u32,
    synced: u64,
) -> HashMap<(u32, u32), u64> {
    let mut next: HashMap<(u32, u32), u64> = HashMap::new();
    let mut last_of_key: HashMap<u64, u64> = HashMap::new();
    let mut prev_end = 0;
    for r in recs {
        assert!(r.offset >= prev_end, "{ctx}: records out of order");
        prev_end = r.next_offset();
        let Some((s, t, seq)) = decode(&r.payload) else {
            panic!("{ctx}: corrupt payload at {}: {:?}", r.offset, r.payload)
        };
        let want_prev = last_of_key.insert(r.key.unwrap(), r.offset).unwrap_or(0);
        assert_eq!(r.prev, Some(want_prev), "{ctx}: chain at {}", r.offset);
        if t == 99 {
            assert_eq!(r.key, Some(PARENT_KEY), "{ctx}");
            *next.entry((s, t)).or_default() += 1;
            continue;
        }
        assert_eq!(r.key, Some(t as u64), "{ctx}: key at {}", r.offset);
        assert_eq!(r.time, Some(seq as f64), "{ctx}: time at {}", r.offset);
        assert_eq!(r.flags.contains(Flags::CREATE), seq == 0, "{ctx}");
        let n = next.entry((s, t)).or_default();
        assert_eq!(
            seq, *n,
            "{ctx}: session {s} thread {t}: seq {seq} where {n} was due (offset {}, synced {synced})",
            r.offset
        );
        *n += 1;
    }
    for (&(s, t), &n) in &expect.done {
        if s != live_session {
            assert_eq!(
                next.get(&(s, t)).copied().unwrap_or(0),
                n,
                "{ctx}: session {s} thread {t} lost records"
            );
        }
    }
    for (&s, &n) in &expect.parent {
        assert_eq!(next.get(&(s, 99)).copied().unwrap_or(0), n, "{ctx}");
    }
    next
}

fn abort_mid_reservation(role: &str, records_after: bool) {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abort.log");
    let (mut child, rx) = spawn_child(role, &path, 1, 0);
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child must abort: {status}");
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the child reported its hole");
    let v: Vec<u64> = line
        .strip_prefix("hole ")
        .unwrap()
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    let (hole, len, synced) = (v[0], v[1], v[2]);
    let n = if records_after { 150 } else { 100 };

    // Readers step over the hole.
    let reader = LogReader::open(&path).unwrap();
    assert!(!reader.writer_active());
    let recs: Vec<Record> = reader.records().collect();
    assert_eq!(recs.len(), n);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(decode(&r.payload), Some((1, 0, i as u64)));
    }
    let report = reader.scan();
    assert!(report.damaged.is_empty(), "{report:?}");
    if records_after {
        assert_eq!(report.holes.len(), 1, "{report:?}");
        assert_eq!(report.holes[0].from, hole);
        assert_eq!(report.holes[0].to, hole + len, "{report:?}");
        assert_eq!(synced, hole, "the sync prefix ends at the hole");
    } else {
        assert!(report.holes.iter().all(|h| h.from == hole), "{report:?}");
        assert_eq!(report.end_offset, hole);
    }
    // A follower of the dead log ends (the writer is gone) with the same
    // records.
    let t0 = Instant::now();
    let followed: Vec<Record> = reader
        .follow(FollowOptions::new().idle_timeout(Some(Duration::from_secs(20))))
        .collect();
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "follower ended by timeout"
    );
    assert_eq!(followed, recs);
    drop(reader);

    // Recovery pads the hole (or cuts it off at the tail).
    let (log, found) = Log::open_with_report(&path, &LogOptions::new().step(4096)).unwrap();
    assert_eq!(found.records, n as u64);
    // A live follower of the reopened log reads through the old hole
    // without waiting, then sees new records as they come.
    let reader = LogReader::open(&path).unwrap();
    assert!(reader.writer_active());
    std::thread::scope(|s| {
        let follower = s.spawn(|| {
            let t0 = Instant::now();
            let got: Vec<Record> = reader
                .follow(FollowOptions::new().idle_timeout(Some(Duration::from_secs(20))))
                .collect();
            (got, t0.elapsed())
        });
        for seq in 0..200 {
            log.append(&entry(2, seq), &payload(2, 2, seq)).unwrap();
            if seq == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        log.close().unwrap();
        let (got, took) = follower.join().unwrap();
        assert!(took < Duration::from_secs(10), "follower hung: {took:?}");
        assert_eq!(got.len(), n + 200);
        assert_eq!(&got[..n], &recs[..]);
        for (i, r) in got[n..].iter().enumerate() {
            assert_eq!(decode(&r.payload), Some((2, 2, i as u64)));
        }
    });
    let after = log::verify(&path).unwrap();
    assert!(
        after.clean && after.holes.is_empty() && after.damaged.is_empty(),
        "{after:?}"
    );
    assert_eq!(after.records, n as u64 + 200);
    if records_after {
        assert!(after.padding >= 1, "the hole became padding: {after:?}");
    }
}

#[test]
fn abort_mid_reservation_leaves_a_hole_between_records() {
    abort_mid_reservation("abort-middle", true);
}

#[test]
fn abort_mid_reservation_at_the_tail() {
    abort_mid_reservation("abort-tail", false);
}
