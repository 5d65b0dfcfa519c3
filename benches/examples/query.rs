//! The log_query workload alone, for profiling: writes the log once (kept
//! in the directory given), then times the indexed and the scanning query.
//! With `phases`, times each phase of the indexed query instead: opening
//! the set (and checking its index), the state, going through the answer,
//! freeing it.
//!
//!     cargo run --release -p mapio-bench --example query -- DIR [KEYS] [ROUNDS] [index|scan|phases]

use std::path::PathBuf;
use std::time::Instant;

use mapio::log::{Interpolation, LogSet, SetOptions};
use mapio_bench::query::{QuerySpec, prepare_query, run_query};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let keys = args.next().map_or(1_000_000, |s| s.parse().unwrap());
    let rounds: usize = args.next().map_or(3, |s| s.parse().unwrap());
    let only = args.next();
    let spec = QuerySpec { keys, steps: 10 };
    let path = dir.join(format!("query-{keys}.log"));
    if !path.exists() {
        let t = Instant::now();
        let (log, idx) = prepare_query(&path, spec)?;
        eprintln!(
            "wrote {log} B of log, {idx} B of index in {:?}",
            t.elapsed()
        );
    }
    if only.as_deref() == Some("phases") {
        return phases(&path, spec, rounds);
    }
    for _ in 0..rounds {
        for indexed in [true, false] {
            if only.as_deref().is_some_and(|o| (o == "index") != indexed) {
                continue;
            }
            let t = Instant::now();
            let sum = run_query(&path, spec, indexed)?;
            println!(
                "{:>7}: {:>8.1} ms (checksum {sum:#x})",
                if indexed { "index" } else { "scan" },
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}

/// Each phase of the indexed query, `rounds` times, then the medians.
fn phases(path: &std::path::Path, spec: QuerySpec, rounds: usize) -> std::io::Result<()> {
    let names = ["open", "state", "iterate", "free"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        let mut marks = vec![Instant::now()];
        let set = LogSet::open(path, &SetOptions::new()).map_err(std::io::Error::other)?;
        marks.push(Instant::now());
        let state = set
            .state_at(spec.time(), Interpolation::None)
            .map_err(std::io::Error::other)?;
        marks.push(Instant::now());
        let sum = state.iter().fold(0u64, |s, (e, p)| {
            s.wrapping_add(e.key ^ e.offset ^ p.iter().map(|&b| u64::from(b)).sum::<u64>())
        });
        marks.push(Instant::now());
        drop(state);
        marks.push(Instant::now());
        std::hint::black_box(sum);
        let ms: Vec<f64> = marks
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
            .collect();
        println!(
            "{}",
            names
                .iter()
                .zip(&ms)
                .map(|(n, t)| format!("{n} {t:6.1} ms"))
                .collect::<Vec<_>>()
                .join("  ")
        );
        for (all, t) in times.iter_mut().zip(ms) {
            all.push(t);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median: {}",
        names
            .iter()
            .zip(&mut times)
            .map(|(n, v)| format!("{n} {:.1} ms", median(v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
