//! One log contender, run again and again: for profiling (`perf record`)
//! a single contender of the log workloads without the others.
//!
//! ```text
//! cargo build --release -p mapio-bench --example log_append
//! perf record -g target/release/examples/log_append mapio 64 262144 1 20
//! #                                                  CONTENDER PAYLOAD RECORDS THREADS RUNS
//! ```
//!
//! CONTENDER is `mapio`, `mutex_bufwriter`, `raw_swift`, `limit_memcpy` or
//! `limit_mapped_copy`. Prints the median total and append times.
//!
//! CONTENDER `mapio-phases` runs mapio's log without reading it back (so
//! that a profile holds only the writer) and times each phase: create,
//! appends, `sync()`, `close()`. Suffixes change the options:
//! `-dense` sets `LogOptions::dense_keys(threads)` (the key table flat
//! instead of a hash map), `-prefault` sets `prefault(true)` (off by default), `-plain`
//! appends records without key and time (the same bytes of information as
//! the raw recipe's: a 16-byte record header instead of 40); e.g.
//! `mapio-phases-dense-prefault`.

use std::io;
use std::time::Duration;

use std::time::Instant;

use mapio::log::{Entry, LogOptions};
use mapio_bench::log::{
    LogContender, LogSpec, expected_log_checksum, payload_template, run_log_append, set_seq,
};

fn arg<T: std::str::FromStr>(a: &[String], i: usize, default: T) -> T {
    a.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() -> io::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let name = a.first().map_or("mapio", String::as_str);
    if let Some(rest) = name.strip_prefix("mapio-phases") {
        let spec = LogSpec::new(arg(&a, 1, 64), arg(&a, 2, 262_144), arg(&a, 3, 1))?;
        return phases(&spec, arg(&a, 4, 20), rest);
    }
    let c = LogContender::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown contender {name}"),
            )
        })?;
    let spec = LogSpec::new(arg(&a, 1, 64), arg(&a, 2, 262_144), arg(&a, 3, 1))?;
    let runs: usize = arg(&a, 4, 20);
    let dir = tempfile::Builder::new()
        .prefix("mapio-log-append-")
        .tempdir_in(std::env::temp_dir())?;
    let path = dir.path().join("log");
    let want = expected_log_checksum(&spec);
    let mut total = Vec::new();
    let mut appends = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(&path);
        let r = run_log_append(c, &path, &spec)?;
        assert_eq!(r.checksum, want, "wrong checksum");
        total.push(r.total);
        appends.push(r.appends);
    }
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (t, ap) = (med(&mut total), med(&mut appends));
    println!(
        "{name} {spec:?}: median total {:.2} ms, appends {:.2} ms ({:.0} ns a record)",
        t.as_secs_f64() * 1e3,
        ap.as_secs_f64() * 1e3,
        ap.as_secs_f64() * 1e9 / spec.records.max(1) as f64
    );
    Ok(())
}

/// mapio's log phase by phase, never read back.
fn phases(spec: &LogSpec, runs: usize, variant: &str) -> io::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mapio-log-append-")
        .tempdir_in(std::env::temp_dir())?;
    let path = dir.path().join("log");
    let mut t = [const { Vec::new() }; 4];
    for _ in 0..runs {
        let _ = std::fs::remove_file(&path);
        let t0 = Instant::now();
        let mut o = LogOptions::new();
        if variant.contains("-dense") {
            o = o.dense_keys(spec.threads);
        }
        if variant.contains("-prefault") {
            o = o.prefault(true);
        }
        let log = o.create(&path)?;
        let plain = variant.contains("-plain");
        let t1 = Instant::now();
        std::thread::scope(|s| {
            for th in 0..spec.threads {
                let log = &log;
                s.spawn(move || {
                    let mut p = payload_template(th, spec.payload);
                    for i in 0..spec.count(th) {
                        set_seq(&mut p, i);
                        let e = if plain {
                            Entry::new()
                        } else {
                            Entry::new().key(th as u64).time(i as f64)
                        };
                        log.append(&e, &p).expect("append");
                    }
                });
            }
        });
        let t2 = Instant::now();
        log.sync()?;
        let t3 = Instant::now();
        log.close()?;
        let t4 = Instant::now();
        for (k, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].into_iter().enumerate() {
            t[k].push(d);
        }
    }
    let names = ["create", "appends", "sync", "close"];
    for (k, v) in t.iter_mut().enumerate() {
        v.sort();
        println!(
            "{:>8}: median {:8.2} ms",
            names[k],
            v[v.len() / 2].as_secs_f64() * 1e3
        );
    }
    Ok(())
}
