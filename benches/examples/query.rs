//! The log_query workload alone, for profiling: writes the log once (kept
//! in the directory given), then times the indexed and the scanning query.
//!
//!     cargo run --release -p mapio-bench --example query -- DIR [KEYS] [ROUNDS] [index|scan]

use std::path::PathBuf;
use std::time::Instant;

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
