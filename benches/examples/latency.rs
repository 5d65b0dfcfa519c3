//! The latency workload alone, with the reader optionally pinned to a CPU
//! (run the writer pinned with `taskset` too), to tell the cost of the
//! transport from the cost of sharing cores with other work.
//!
//! ```text
//! cargo build --release --bin mapio
//! cargo build --release -p mapio-bench --example latency
//! taskset -c 0 target/release/examples/latency target/release/mapio 4000 3 1
//! #                                            MAPIO_BINARY     RECORDS ROUNDS [READER_CPU]
//! ```

use std::io;
use std::process::Command;
use std::time::Duration;

use mapio_bench::harness::{Stats, hex};
use mapio_bench::latency::{Transport, expected_latency_checksum, latency_round};

fn main() -> io::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let exe = a
        .first()
        .cloned()
        .unwrap_or_else(|| "target/release/mapio".into());
    let count: usize = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(4000);
    let rounds: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let cpu = a.get(3).cloned();
    let dir = tempfile::tempdir()?;
    let peer = |args: &[String]| {
        let mut c = match &cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpu.as_str(), exe.as_str()]);
                c
            }
            None => Command::new(&exe),
        };
        c.args(["bench", "peer"]).args(args);
        c
    };
    for t in Transport::ALL {
        let mut all = Vec::new();
        for _ in 0..rounds {
            let s = latency_round(t, dir.path(), count, Duration::from_micros(50), &peer)?;
            assert_eq!(
                s.checksum,
                expected_latency_checksum(count),
                "{}",
                hex(s.checksum)
            );
            all.extend(s.latencies_ns.iter().map(|&n| n as f64 / 1e3));
        }
        let s = Stats::of(&all).unwrap_or_default();
        println!(
            "{:<12} p50 {:7.2} µs  p90 {:7.2}  p99 {:8.2}  max {:9.1}  ({} samples)",
            t.name(),
            s.median,
            s.p90,
            s.p99,
            s.max,
            s.n
        );
    }
    Ok(())
}
