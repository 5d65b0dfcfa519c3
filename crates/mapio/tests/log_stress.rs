//! Stress test with a live checker: 4 threads append records of 0..2000
//! bytes, mixing `append`, `reserve` + `put` (in pieces, out of order) +
//! `commit`, dropped reservations (padding) and an occasional `sync`,
//! while the log grows 16 KiB at a time. A follower thread in the same
//! process checks every record as it arrives: exactly once, in per-thread
//! order, metadata and payload intact. At the end the follower's records,
//! `records()` and `scan()` all agree with the per-thread counters.
//!
//! Every `sync` releases the pages more than 1 MiB behind the durable
//! prefix (`resident_window`) while the others keep writing and reading.
//!
//! `MAPIO_STRESS_OPS` sets the operations per thread (default 12000),
//! `MAPIO_SEED` the seed. The test prints a `SCORE ... area=stress` line
//! for `scripts/torture`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use mapio::log::{Entry, FollowOptions, LogOptions, LogReader, Record};

use common::mix;

const THREADS: u64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The payload of record `seq` of `thread`: 0..=2000 pseudo-random bytes.
fn payload(seed: u64, thread: u64, seq: u64) -> Vec<u8> {
    let mut s = mix(seed ^ (thread << 48) ^ seq);
    let n = (s % 2001) as usize;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s = mix(s);
        v.extend_from_slice(&s.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Checks one record: `(thread, seq)` from key and time, in order.
fn check(seed: u64, next: &mut HashMap<u64, u64>, r: &Record, who: &str) {
    let t = r
        .key
        .unwrap_or_else(|| panic!("{who}: no key at {}", r.offset));
    assert!(t < THREADS, "{who}: key {t} at {}", r.offset);
    let seq = r.time.unwrap() as u64;
    let n = next.entry(t).or_default();
    assert_eq!(
        seq, *n,
        "{who}: thread {t}: seq {seq} where {n} was due (offset {})",
        r.offset
    );
    assert!(
        r.payload == payload(seed, t, seq),
        "{who}: thread {t} seq {seq}: payload of {} bytes differs (offset {})",
        r.payload.len(),
        r.offset
    );
    *n += 1;
}

#[test]
fn stress_with_a_live_checker() {
    let seed = env_u64("MAPIO_SEED").unwrap_or(0x57_2E55);
    let ops = env_u64("MAPIO_STRESS_OPS").unwrap_or(12_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stress.log");
    let step = 16 << 10;
    // A small resident window: every sync releases the pages behind it
    // while the writers and the follower keep going.
    let log = LogOptions::new()
        .step(step)
        .resident_window(Some(1 << 20))
        .create(&path)
        .unwrap();
    let reader = LogReader::open(&path).unwrap();
    let t0 = Instant::now();
    let seen = std::sync::Arc::new(AtomicU64::new(0));
    let seen_by_follower = seen.clone();
    let follower = std::thread::spawn(move || {
        let mut next = HashMap::new();
        let mut followed = Vec::new();
        let mut last_end = 0;
        let idle = Duration::from_secs(60);
        for r in reader.follow(FollowOptions::new().idle_timeout(Some(idle))) {
            assert!(
                r.offset >= last_end,
                "follower: out of order at {}",
                r.offset
            );
            last_end = r.next_offset();
            check(seed, &mut next, &r, "follower");
            followed.push(r.offset);
            seen_by_follower.fetch_add(1, Ordering::Relaxed);
        }
        assert!(
            reader.closed_cleanly(),
            "the follower ended before the close"
        );
        (next, followed)
    });
    let counts: Vec<(u64, u64)> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                let log = &log;
                s.spawn(move || {
                    let mut seq = 0u64;
                    let mut dropped = 0u64;
                    for i in 0..ops {
                        let h = mix(seed ^ (t << 56) ^ (i << 1) ^ 1);
                        if h.is_multiple_of(10) {
                            // Dropped reservation: padding.
                            let n = (h >> 8) as usize % 2001;
                            let mut r = log.reserve(&Entry::new().key(t), n).unwrap();
                            if n > 0 && h & (1 << 40) != 0 {
                                r.put(0, &vec![0xAB; n / 2]).unwrap();
                            }
                            drop(r);
                            dropped += 1;
                            continue;
                        }
                        let p = payload(seed, t, seq);
                        let e = Entry::new().key(t).time(seq as f64);
                        if h % 10 < 4 {
                            let mut r = log.reserve(&e, p.len()).unwrap();
                            let (a, b) = (p.len() / 3, 2 * p.len() / 3);
                            r.put(b, &p[b..]).unwrap();
                            r.put(0, &p[..a]).unwrap();
                            r.put(a, &p[a..b]).unwrap();
                            r.commit().unwrap();
                        } else {
                            log.append(&e, &p).unwrap();
                        }
                        seq += 1;
                        if i % 2500 == 2499 {
                            log.sync().unwrap();
                        }
                    }
                    (seq, dropped)
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let seen_live = seen.load(Ordering::Relaxed);
    let grown = log.allocated();
    assert!(grown > 100 * step, "the log grew in many steps: {grown}");
    log.close().unwrap();
    let (next, followed) = follower.join().unwrap();
    let written: u64 = counts.iter().map(|c| c.0).sum();
    let dropped: u64 = counts.iter().map(|c| c.1).sum();
    for (t, &(n, _)) in counts.iter().enumerate() {
        assert_eq!(
            next.get(&(t as u64)).copied().unwrap_or(0),
            n,
            "follower, thread {t}"
        );
    }
    assert_eq!(followed.len() as u64, written);

    // After the fact: records() and scan() agree.
    let reader = LogReader::open(&path).unwrap();
    let mut again = HashMap::new();
    let mut offs = Vec::new();
    for r in reader.records() {
        check(seed, &mut again, &r, "records()");
        offs.push(r.offset);
    }
    assert_eq!(again, next);
    assert_eq!(offs, followed);
    let report = reader.scan();
    assert!(
        report.clean && report.damaged.is_empty() && report.holes.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.records, written);
    assert_eq!(report.padding, dropped);
    assert_eq!(report.keys, THREADS);
    eprintln!(
        "log_stress: {THREADS} threads x {ops} ops: {written} records followed and checked \
         ({seen_live} while the writers ran), {dropped} dropped reservations, {} MiB, \
         {} allocation steps, {:.1?}",
        report.end_offset >> 20,
        grown / step,
        t0.elapsed()
    );
    println!(
        "SCORE threads={THREADS} ops={ops} records={written} live={seen_live} dropped={dropped} \
         seed={seed:#x} area=stress"
    );
}
