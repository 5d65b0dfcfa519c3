//! Following a log live across processes: the writer is a child process
//! (this test binary, re-executed with `MAPIO_FOLLOW_CHILD` set) writing
//! from 2 threads; the follower is the parent.
//!
//! * `follower_sees_every_record_once_and_ends_after_close`: N records,
//!   each exactly once, per-thread in order, payload intact; the iterator
//!   ends after the writer's `close()`.
//! * `follower_ends_when_the_writer_is_killed`: SIGKILL mid-stream; the
//!   follower ends because the writer is gone (not by its idle-timeout
//!   safety net), having returned only intact records, exactly those a
//!   post-mortem read of the file finds.
//! * `follower_crosses_many_allocation_steps`: the writer allocates 4 KiB
//!   at a time; the follower reads across hundreds of steps.
//!
//! Each test prints a `SCORE records_followed=N area=follow` line for
//! `scripts/torture`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use mapio::log::{Entry, FollowOptions, LogOptions, LogReader, Record};

use common::{fnv, mix};

const CHILD_ENV: &str = "MAPIO_FOLLOW_CHILD";
const THREADS: u32 = 2;
/// The follower's safety net: never reached when things work.
const IDLE: Duration = Duration::from_secs(30);

/// Record `seq` of `thread`: `thread`, `seq`, a pseudo-random body of
/// 0..`max_body` bytes, and a checksum of all that.
fn payload(thread: u32, seq: u64, max_body: u64) -> Vec<u8> {
    let seed = mix(((thread as u64) << 40) ^ seq);
    let body = (seed % max_body) as usize;
    let mut v = Vec::with_capacity(12 + body + 8);
    v.extend_from_slice(&thread.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    let mut s = seed;
    while v.len() < 12 + body {
        s = mix(s);
        v.extend_from_slice(&s.to_le_bytes()[..(12 + body - v.len()).min(8)]);
    }
    let h = fnv(&v);
    v.extend_from_slice(&h.to_le_bytes());
    v
}

/// `(thread, seq)` of an intact payload.
fn decode(p: &[u8], max_body: u64) -> Option<(u32, u64)> {
    if p.len() < 20 {
        return None;
    }
    let t = u32::from_le_bytes(p[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(p[4..12].try_into().unwrap());
    let n = p.len() - 8;
    (fnv(&p[..n]).to_le_bytes() == p[n..] && payload(t, seq, max_body) == p).then_some((t, seq))
}

// ------------------------------------------------------------ child side

/// Not a test of its own: the entry point of the child processes. Does
/// nothing unless `MAPIO_FOLLOW_CHILD` is set.
#[test]
fn follow_child_process() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let path = PathBuf::from(var("MAPIO_FOLLOW_PATH"));
    let per_thread: u64 = var("MAPIO_FOLLOW_N").parse().unwrap();
    let step: u64 = var("MAPIO_FOLLOW_STEP").parse().unwrap();
    let max_body: u64 = var("MAPIO_FOLLOW_BODY").parse().unwrap();
    // Session s > 0 reopens the log (beside the parent's follower) and
    // writes keys of its own: s * THREADS + t.
    let session: u32 = std::env::var("MAPIO_FOLLOW_SESSION").map_or(0, |s| s.parse().unwrap());
    let opts = LogOptions::new().step(step);
    let log = if session == 0 {
        opts.create(&path).unwrap()
    } else {
        opts.open(&path).unwrap()
    };
    println!("@@ ready");
    // Wait until the parent follows.
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    std::thread::scope(|s| {
        for t in session * THREADS..(session + 1) * THREADS {
            let log = &log;
            s.spawn(move || {
                for seq in 0..per_thread {
                    let p = payload(t, seq, max_body);
                    let e = Entry::new().key(t as u64).time(seq as f64);
                    if seq % 5 == 4 {
                        let mut r = log.reserve(&e, p.len()).unwrap();
                        r.put(0, &p).unwrap();
                        r.commit().unwrap();
                    } else {
                        log.append(&e, &p).unwrap();
                    }
                    if seq % 1000 == 999 {
                        // Let the follower catch up now and then.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
        }
    });
    match role.as_str() {
        "close" => {
            let end = log.close().unwrap();
            println!("@@ closed {end}");
        }
        "hang" => {
            println!("@@ written");
            // Wait to be killed.
            std::thread::sleep(Duration::from_secs(120));
            std::process::exit(3);
        }
        other => panic!("unknown role {other}"),
    }
}

// ----------------------------------------------------------- parent side

struct Writer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Writer {
    fn spawn(role: &str, path: &Path, per_thread: u64, step: u64, max_body: u64) -> Writer {
        Writer::spawn_session(role, path, per_thread, step, max_body, 0)
    }

    fn spawn_session(
        role: &str,
        path: &Path,
        per_thread: u64,
        step: u64,
        max_body: u64,
        session: u32,
    ) -> Writer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "follow_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_ENV, role)
            .env("MAPIO_FOLLOW_PATH", path)
            .env("MAPIO_FOLLOW_N", per_thread.to_string())
            .env("MAPIO_FOLLOW_STEP", step.to_string())
            .env("MAPIO_FOLLOW_BODY", max_body.to_string())
            .env("MAPIO_FOLLOW_SESSION", session.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
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
        let w = Writer {
            child,
            stdin,
            lines: rx,
        };
        let ready = w.lines.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(ready, "ready");
        w
    }

    fn go(&mut self) {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Never leave a child behind (a failed assertion unwinds here).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks records as a follower returns them: intact, per-thread in order,
/// each exactly once.
struct Checker {
    next: HashMap<u32, u64>,
    max_body: u64,
    count: u64,
    last_offset: u64,
}

impl Checker {
    fn new(max_body: u64) -> Checker {
        Checker {
            next: HashMap::new(),
            max_body,
            count: 0,
            last_offset: 0,
        }
    }

    fn check(&mut self, r: &Record) {
        assert!(r.offset > self.last_offset, "records out of file order");
        self.last_offset = r.offset;
        let Some((t, seq)) = decode(&r.payload, self.max_body) else {
            panic!("corrupt record at {}: {r:?}", r.offset)
        };
        assert_eq!(r.key, Some(t as u64), "key at {}", r.offset);
        assert_eq!(r.time, Some(seq as f64), "time at {}", r.offset);
        let n = self.next.entry(t).or_default();
        assert_eq!(seq, *n, "thread {t}: seq {seq} where {n} was due");
        *n += 1;
        self.count += 1;
    }
}

/// Follows a child that writes `per_thread` records from each thread and
/// closes; returns the offset of the last record and the reader.
fn follow_to_close(path: &Path, per_thread: u64, step: u64, max_body: u64) -> (u64, LogReader) {
    let mut w = Writer::spawn("close", path, per_thread, step, max_body);
    let reader = LogReader::open(path).unwrap();
    assert!(reader.writer_active());
    w.go();
    let mut c = Checker::new(max_body);
    let mut last = Instant::now();
    for r in reader.follow(FollowOptions::new().idle_timeout(Some(IDLE))) {
        c.check(&r);
        last = Instant::now();
    }
    let quiet = last.elapsed();
    assert!(
        quiet < IDLE / 2,
        "the follower ended {quiet:?} after its last record: the idle timeout, not the close"
    );
    assert_eq!(c.count, THREADS as u64 * per_thread);
    for t in 0..THREADS {
        assert_eq!(c.next.get(&t), Some(&per_thread), "thread {t}");
    }
    let status = w.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let closed = w.lines.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(closed.starts_with("closed "), "{closed}");
    assert!(reader.closed_cleanly());
    assert!(!reader.writer_active());
    (c.last_offset, reader)
}

#[test]
fn follower_sees_every_record_once_and_ends_after_close() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    follow_to_close(&dir.path().join("follow.log"), 20_000, 1 << 20, 200);
    eprintln!(
        "followed 40000 records across processes in {:.1?}",
        t0.elapsed()
    );
    println!("SCORE records_followed=40000 area=follow");
}

#[test]
fn follower_crosses_many_allocation_steps() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let step = 4096;
    let (last, reader) = follow_to_close(&dir.path().join("follow.log"), 5_000, step, 120);
    let steps = (last - 4096) / step;
    println!("SCORE records_followed=10000 steps={steps} area=follow");
    assert!(steps >= 200, "only {steps} allocation steps crossed");
    let report = reader.scan();
    assert!(
        report.clean && report.damaged.is_empty() && report.holes.is_empty(),
        "{report:?}"
    );
}

#[test]
fn follower_ends_when_the_writer_is_killed() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.log");
    let per_thread = 1_000_000; // far more than it gets to write
    let max_body = 200;
    let mut w = Writer::spawn("hang", &path, per_thread, 64 << 10, max_body);
    let reader = LogReader::open(&path).unwrap();
    w.go();
    let mut c = Checker::new(max_body);
    let mut followed = Vec::new();
    let mut killed_at = None;
    let mut last = Instant::now();
    for r in reader.follow(FollowOptions::new().idle_timeout(Some(IDLE))) {
        c.check(&r);
        followed.push(r);
        last = Instant::now();
        if c.count == 20_000 {
            w.child.kill().unwrap(); // SIGKILL, mid-stream
            w.child.wait().unwrap();
            killed_at = Some(Instant::now());
        }
    }
    let killed_at = killed_at.expect("the writer was killed mid-stream");
    let ended = killed_at.elapsed();
    assert!(
        ended < IDLE / 2 && last.elapsed() < IDLE / 2,
        "the follower ended {ended:?} after the kill: the idle timeout, not the writer's death"
    );
    assert!(!reader.writer_active());
    assert!(!reader.closed_cleanly());
    assert!(c.count >= 20_000);
    // Exactly what the file holds.
    let post: Vec<Record> = LogReader::open(&path).unwrap().records().collect();
    assert_eq!(post.len(), followed.len());
    assert!(
        post == followed,
        "the follower and a post-mortem read differ"
    );
    let report = reader.scan();
    assert!(report.damaged.is_empty(), "{report:?}");
    eprintln!(
        "killed writer: follower returned {} records, ended {ended:?} after the kill",
        c.count
    );
    println!("SCORE records_followed={} kills=1 area=follow", c.count);
}

/// A follower left running while the run is killed and restarted, again
/// and again (`mapio tail -F`): every restart reopens the log beside it
/// (it used to be refused with `Locked`), and the follower returns every
/// committed record of every session exactly once, in file order, the
/// same records a post-mortem read finds, going back each time over what
/// it had stepped past after the killed session's last record.
#[test]
fn follower_stays_across_killed_and_restarted_writers() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    const SESSIONS: u32 = 5;
    const LAST_PER_THREAD: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restarted.log");
    let max_body = 200;
    let step = 64 << 10;
    let mut session = 0;
    let mut w = Writer::spawn_session("hang", &path, 1_000_000, step, max_body, session);
    let reader = LogReader::open(&path).unwrap();
    w.go();
    let options = FollowOptions::new()
        .stop_at_end(false)
        .idle_timeout(Some(IDLE));
    let mut follow = reader.follow(options);
    let mut c = Checker::new(max_body);
    let mut followed = Vec::new();
    let mut in_session = 0u64;
    for r in follow.by_ref() {
        c.check(&r);
        // Records of the killed session can still come after the kill.
        in_session += (r.key == Some((session * THREADS) as u64)) as u64;
        followed.push(r);
        let last = session == SESSIONS - 1;
        if !last && in_session == 1_500 {
            w.child.kill().unwrap(); // SIGKILL, mid-stream
            w.child.wait().unwrap();
            drop(w);
            session += 1;
            in_session = 0;
            let role = if session == SESSIONS - 1 {
                "close"
            } else {
                "hang"
            };
            let per_thread = if role == "close" {
                LAST_PER_THREAD
            } else {
                1_000_000
            };
            w = Writer::spawn_session(role, &path, per_thread, step, max_body, session);
            w.go();
        }
        let done = |t| c.next.get(&t) == Some(&LAST_PER_THREAD);
        if last && (session * THREADS..(session + 1) * THREADS).all(done) {
            break;
        }
    }
    assert_eq!(session, SESSIONS - 1, "the follower stopped early");
    let status = w.child.wait().unwrap();
    assert!(status.success(), "{status}");
    // The follower's records are exactly what the file holds.
    let post: Vec<Record> = LogReader::open(&path).unwrap().records().collect();
    assert_eq!(post.len(), followed.len());
    assert!(
        post == followed,
        "the follower and a post-mortem read differ"
    );
    assert_eq!(reader.sessions(), SESSIONS as u64);
    assert!(reader.closed_cleanly());
    let report = reader.scan();
    assert!(report.damaged.is_empty(), "{report:?}");
    println!(
        "SCORE records_followed={} kills={} area=follow",
        c.count,
        SESSIONS - 1
    );
}
