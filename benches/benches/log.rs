//! Criterion benchmarks of the log workloads of `mapio-bench`: each group
//! appends 16 MiB of payload in records of one size from 1 or 2 threads,
//! then makes it durable, with every contender of `mapio bench`'s log
//! workloads ([`LogContender`]): mapio (records with key and time),
//! mapio_plain (records without), a `Mutex<BufWriter<File>>` with the same
//! framing and CRC32C, the raw SWIFT-style recipe, and the two limits.
//!
//! The time measured is a whole run: create, appends, durable end (the
//! file is read back afterwards, untimed, and its checksum checked). Files
//! live in a temporary directory under `std::env::temp_dir()`.
//!
//! ```text
//! cargo bench -p mapio-bench --bench log
//! cargo bench -p mapio-bench --bench log -- 64B_2t     # one group
//! ```

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mapio_bench::log::{LogContender, LogSpec, expected_log_checksum, run_log_append};

/// Payload bytes a run appends.
const PAYLOAD_BYTES: usize = 16 << 20;

fn appends(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("mapio-bench-log-")
        .tempdir_in(std::env::temp_dir())
        .expect("create a temporary directory");
    let path = dir.path().join("bench.log");
    for payload in [64usize, 1024] {
        for threads in [1usize, 2] {
            let spec =
                LogSpec::new(payload, PAYLOAD_BYTES / payload, threads).expect("a valid log spec");
            let want = expected_log_checksum(&spec);
            let name = if payload >= 1024 {
                format!("log_append_{}KiB_{threads}t", payload / 1024)
            } else {
                format!("log_append_{payload}B_{threads}t")
            };
            let mut g = c.benchmark_group(name);
            g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64))
                .sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(3));
            for contender in LogContender::ALL {
                g.bench_function(contender.name(), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let _ = std::fs::remove_file(&path);
                            let run = run_log_append(contender, &path, &spec)
                                .unwrap_or_else(|e| panic!("{}: {e}", contender.name()));
                            assert_eq!(run.checksum, want, "{}: wrong checksum", contender.name());
                            total += run.total;
                        }
                        total
                    })
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, appends);
criterion_main!(benches);
