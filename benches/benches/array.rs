//! Criterion benchmarks of the array workloads of `mapio-bench`: each group
//! compares all contenders of one workload on the same size.
//!
//! * `array_write_64MiB`: create + fill + durable flush + close of 8 Mi
//!   `f64`. The previous iteration's file is deleted before each timed
//!   write (untimed), so every contender creates a new file.
//! * `array_seq_sum_256MiB`: open + sum + close of a 256 MiB file that is
//!   in the page cache.
//! * `array_random_4k_warm`: 10,000 random 4 KiB reads of that file through
//!   a reader opened (and mapped) once, outside the timing; after the
//!   warm-up the mappings have every page the offsets touch mapped.
//! * `array_random_4k_fresh`: the same reads through a reader opened
//!   just before each timed run (the open and `mmap` untimed), so a
//!   mapping contender's first-touch page faults are part of the time.
//!
//! Files live in a temporary directory under `std::env::temp_dir()`.
//!
//! ```text
//! cargo bench -p mapio-bench --bench array
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mapio_bench::{
    BLOCK, DEFAULT_SEED, Workload, expected_seq_sum, expected_write_checksum, open_block_reader,
    prepare_file, random_offsets, run_random_4k, run_seq_sum, run_write,
};

/// 8 Mi `f64` = 64 MiB.
const WRITE_N: usize = 8 << 20;
/// 32 Mi `f64` = 256 MiB.
const READ_N: usize = 32 << 20;
/// Random reads per timed run.
const RANDOM_READS: usize = 10_000;

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mapio-bench-")
        .tempdir_in(std::env::temp_dir())
        .expect("create a temporary directory")
}

fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", path.display()),
    }
}

fn write(c: &mut Criterion) {
    let dir = tempdir();
    let expected = expected_write_checksum(WRITE_N);
    let mut g = c.benchmark_group("array_write_64MiB");
    g.throughput(Throughput::Bytes((WRITE_N * 8) as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(15)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for &contender in Workload::Write.contenders() {
        let path = dir.path().join(format!("{contender}.f64"));
        g.bench_function(contender.name(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    remove(&path);
                    let t = Instant::now();
                    let sum = run_write(contender, &path, WRITE_N).expect("write");
                    total += t.elapsed();
                    assert_eq!(sum, expected, "{contender}: wrong checksum");
                }
                total
            })
        });
        assert_eq!(
            std::fs::metadata(&path).expect("written file").len(),
            (WRITE_N * 8) as u64
        );
        remove(&path);
    }
    g.finish();
}

fn reads(c: &mut Criterion) {
    let dir = tempdir();
    let path = dir.path().join("data.f64");
    let len = prepare_file(&path, READ_N).expect("prepare the data file");

    // Sequential sum.
    let expected = expected_seq_sum(READ_N);
    let mut g = c.benchmark_group("array_seq_sum_256MiB");
    g.throughput(Throughput::Bytes(len))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(15)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    for &contender in Workload::SeqSum.contenders() {
        assert_eq!(
            run_seq_sum(contender, &path, READ_N).expect("sum"),
            expected,
            "{contender}: wrong checksum"
        );
        g.bench_function(contender.name(), |b| {
            b.iter(|| black_box(run_seq_sum(contender, &path, READ_N).expect("sum")))
        });
    }
    g.finish();

    // Random 4 KiB reads.
    let offsets = random_offsets(len, RANDOM_READS, DEFAULT_SEED).expect("offsets");
    let expected =
        run_random_4k(Workload::Random4k.contenders()[0], &path, &offsets).expect("random reads");
    let bytes = (RANDOM_READS * BLOCK) as u64;

    let mut g = c.benchmark_group("array_random_4k_warm");
    g.throughput(Throughput::Bytes(bytes))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for &contender in Workload::Random4k.contenders() {
        let mut reader = open_block_reader(contender, &path).expect("open");
        assert_eq!(reader.read_blocks(&offsets).expect("read"), expected);
        g.bench_function(contender.name(), |b| {
            b.iter(|| black_box(reader.read_blocks(black_box(&offsets)).expect("read")))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("array_random_4k_fresh");
    g.throughput(Throughput::Bytes(bytes))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for &contender in Workload::Random4k.contenders() {
        g.bench_function(contender.name(), |b| {
            b.iter_batched_ref(
                || open_block_reader(contender, &path).expect("open"),
                |reader| black_box(reader.read_blocks(black_box(&offsets)).expect("read")),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, write, reads);
criterion_main!(benches);
