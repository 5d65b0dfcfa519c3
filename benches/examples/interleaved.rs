//! Interleaved runs of the array workloads: one run of each contender per
//! round, round after round, the order reversed every other round (A B C,
//! C B A, ...), so that a change in the machine's load hits every
//! contender alike (criterion runs one contender after the other, which on
//! a shared machine can put one contender in a busy minute and the next in
//! a quiet one). Prints the median and minimum per contender and each
//! median's ratio to mapio's.
//!
//! ```text
//! cargo run --release -p mapio-bench --example interleaved -- \
//!     [WORKLOAD ...] [--rounds N] [--only CONTENDER,CONTENDER,...]
//! ```
//!
//! WORKLOAD is `write` (64 MiB), `seq_sum` (256 MiB, cached) or
//! `random_4k` (10,000 reads of a cached 256 MiB file through readers
//! opened once); default all three. Files go in a temporary directory
//! under `std::env::temp_dir()`.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use mapio_bench::{
    BlockReader, Contender, DEFAULT_SEED, Workload, expected_seq_sum, expected_write_checksum,
    open_block_reader, prepare_file, random_offsets, run_seq_sum, run_write,
};

const WRITE_N: usize = 8 << 20;
const READ_N: usize = 32 << 20;
const RANDOM_READS: usize = 10_000;

fn main() -> io::Result<()> {
    let mut workloads = Vec::new();
    let mut rounds = 25usize;
    let mut only: Option<Vec<Contender>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--only" {
            let list = args.next().unwrap_or_default();
            only = Some(
                list.split(',')
                    .map(str::parse)
                    .collect::<io::Result<Vec<Contender>>>()?,
            );
        } else if a == "--rounds" {
            rounds = args
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "--rounds N"))?;
        } else {
            workloads.push(a.parse::<Workload>()?);
        }
    }
    if workloads.is_empty() {
        workloads = Workload::ALL.to_vec();
    }
    let dir = tempfile::Builder::new()
        .prefix("mapio-bench-")
        .tempdir_in(std::env::temp_dir())?;
    let data = dir.path().join("data.f64");
    if workloads.iter().any(|&w| w != Workload::Write) {
        prepare_file(&data, READ_N)?;
    }
    for w in workloads {
        let contenders: Vec<Contender> = w
            .contenders()
            .iter()
            .copied()
            .filter(|c| only.as_ref().is_none_or(|o| o.contains(c)))
            .collect();
        let times = match w {
            Workload::Write => write(dir.path(), &contenders, rounds)?,
            Workload::SeqSum => seq_sum(&data, &contenders, rounds)?,
            Workload::Random4k => random(&data, &contenders, rounds)?,
        };
        report(w, rounds, &times);
    }
    Ok(())
}

fn write(
    dir: &Path,
    contenders: &[Contender],
    rounds: usize,
) -> io::Result<Vec<(Contender, Vec<Duration>)>> {
    let expected = expected_write_checksum(WRITE_N);
    let mut times: Vec<_> = contenders.iter().map(|&c| (c, Vec::new())).collect();
    for round in 0..rounds {
        for (c, t) in in_order(&mut times, round) {
            let path = dir.join(format!("{c}.f64"));
            let _ = std::fs::remove_file(&path);
            let start = Instant::now();
            let sum = run_write(*c, &path, WRITE_N)?;
            t.push(start.elapsed());
            assert_eq!(sum, expected, "{c}");
        }
    }
    Ok(times)
}

fn seq_sum(
    data: &Path,
    contenders: &[Contender],
    rounds: usize,
) -> io::Result<Vec<(Contender, Vec<Duration>)>> {
    let expected = expected_seq_sum(READ_N);
    let mut times: Vec<_> = contenders.iter().map(|&c| (c, Vec::new())).collect();
    for round in 0..rounds {
        for (c, t) in in_order(&mut times, round) {
            let start = Instant::now();
            let sum = run_seq_sum(*c, data, READ_N)?;
            t.push(start.elapsed());
            assert_eq!(sum, expected, "{c}");
        }
    }
    Ok(times)
}

fn random(
    data: &Path,
    contenders: &[Contender],
    rounds: usize,
) -> io::Result<Vec<(Contender, Vec<Duration>)>> {
    let len = std::fs::metadata(data)?.len();
    let offsets = random_offsets(len, RANDOM_READS, DEFAULT_SEED)?;
    let mut readers: Vec<(Contender, Box<dyn BlockReader>, Vec<Duration>)> = Vec::new();
    for &c in contenders {
        readers.push((c, open_block_reader(c, data)?, Vec::new()));
    }
    // One untimed pass each: the warm-up that maps the pages.
    let mut expected = None;
    for (c, r, _) in readers.iter_mut() {
        let sum = r.read_blocks(&offsets)?;
        assert_eq!(*expected.get_or_insert(sum), sum, "{c}");
    }
    for round in 0..rounds {
        for (_, r, t) in in_order(&mut readers, round) {
            let start = Instant::now();
            std::hint::black_box(r.read_blocks(&offsets)?);
            t.push(start.elapsed());
        }
    }
    Ok(readers.into_iter().map(|(c, _, t)| (c, t)).collect())
}

/// The items in order on even rounds, in reverse order on odd ones.
fn in_order<T>(items: &mut [T], round: usize) -> Box<dyn Iterator<Item = &mut T> + '_> {
    if round.is_multiple_of(2) {
        Box::new(items.iter_mut())
    } else {
        Box::new(items.iter_mut().rev())
    }
}

fn median(t: &mut [Duration]) -> Duration {
    t.sort();
    let n = t.len();
    if !n.is_multiple_of(2) {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2
    }
}

fn report(w: Workload, rounds: usize, times: &[(Contender, Vec<Duration>)]) {
    println!("{w} ({rounds} interleaved rounds)");
    let mut rows = Vec::new();
    for (c, t) in times {
        let mut t = t.clone();
        let med = median(&mut t);
        let min = t.first().copied().unwrap_or_default();
        rows.push((*c, med, min));
    }
    let base = rows
        .iter()
        .find(|r| r.0 == Contender::Mapio)
        .map(|r| r.1.as_secs_f64())
        .unwrap_or(f64::NAN);
    for (c, med, min) in rows {
        println!(
            "  {:<14} median {:>9.3} ms   min {:>9.3} ms   {:.2}x mapio's time",
            c.name(),
            med.as_secs_f64() * 1e3,
            min.as_secs_f64() * 1e3,
            med.as_secs_f64() / base
        );
    }
}
