//! The whole `mapio bench` run: every workload, its contenders interleaved
//! in rounds, summarised into a [`Report`].
//!
//! | workload | contenders |
//! |---|---|
//! | `array_write` | mapio, raw_recipe, std_bufwriter, memmap2, (numpy) |
//! | `array_seq_sum` | mapio, std_read, pread, memmap2, (numpy) |
//! | `array_random_4k` | mapio, pread, memmap2, (numpy) |
//! | `log_append_{64B,1KiB}_{1,N}t` | mapio, mapio_plain, mutex_bufwriter, raw_swift; limits limit_memcpy, limit_mapped_copy |
//! | `latency` | mapio, unix_socket, pipe |

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{
    Collected, ContenderSpec, LEGEND, Report, Sample, Settings, WorkloadResult, WorkloadSpec,
    run_interleaved, summarize,
};
use crate::latency::{Transport, expected_latency_checksum, latency_round};
use crate::log::{LogContender, LogSpec, expected_log_checksum, run_log_append};
use crate::numpy::{NumpyPeer, write_offsets};
use crate::{
    BLOCK, Contender, DEFAULT_SEED, Workload, block_checksum, expected_seq_sum,
    expected_write_checksum, fold_block, open_block_reader, prepare_file, random_offsets,
    run_seq_sum, run_write,
};

/// Array size of a full run when none is given: 128 MiB.
pub const DEFAULT_SIZE: u64 = 128 << 20;
/// Array size of a quick run when none is given: 32 MiB.
pub const QUICK_SIZE: u64 = 32 << 20;
/// The smallest array size: 64 KiB.
pub const MIN_SIZE: u64 = 64 << 10;

/// What to run.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// Fewer rounds and (by default) a smaller size: under a minute.
    pub quick: bool,
    /// Array size in bytes (a multiple of 8); the log workloads append
    /// half as many payload bytes per run.
    pub size: u64,
    /// Threads of the N-thread log workloads.
    pub threads: usize,
    /// Where the files go (a directory the run owns).
    pub dir: PathBuf,
    /// Only the workloads whose name starts with one of these (all if
    /// empty).
    pub only: Vec<String>,
    /// Timed rounds of every workload, instead of the defaults.
    pub rounds: Option<usize>,
    /// The command line, for the report.
    pub command: String,
    /// Records a round of the latency workload, and their interval.
    pub latency_records: usize,
    /// The interval between two records of the latency workload.
    pub latency_interval: Duration,
}

impl SuiteOptions {
    /// The defaults for a full (`quick = false`) or quick run; `size`
    /// `None` takes [`DEFAULT_SIZE`] or [`QUICK_SIZE`].
    pub fn new(quick: bool, size: Option<u64>, dir: &Path) -> io::Result<SuiteOptions> {
        let size = size.unwrap_or(if quick { QUICK_SIZE } else { DEFAULT_SIZE });
        if size < MIN_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--size {size}: at least {MIN_SIZE} bytes"),
            ));
        }
        Ok(SuiteOptions {
            quick,
            size: size / 8 * 8,
            threads: 2,
            dir: dir.to_path_buf(),
            only: Vec::new(),
            rounds: None,
            command: "mapio bench".to_string(),
            latency_records: if quick { 1000 } else { 4000 },
            latency_interval: Duration::from_micros(50),
        })
    }

    /// Payload bytes per run of a log workload: half the array size.
    pub fn log_bytes(&self) -> u64 {
        (self.size / 2).max(MIN_SIZE / 2)
    }

    fn rounds(&self, full: usize, quick: usize) -> usize {
        self.rounds
            .unwrap_or(if self.quick { quick } else { full })
            .max(1)
    }

    fn random_reads(&self) -> usize {
        if self.quick { 2_000 } else { 10_000 }
    }

    fn wanted(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.starts_with(o.as_str()))
    }

    /// The query workload's log: 1e6 keys x 10 steps (1e7 records) in a
    /// full run, scaled down with `--size` and `--quick`.
    pub fn query_spec(&self) -> crate::query::QuerySpec {
        let keys = (self.size / 128).clamp(1_000, 1_000_000);
        let keys = if self.quick { keys.min(100_000) } else { keys };
        crate::query::QuerySpec { keys, steps: 10 }
    }

    /// The log workloads: (name, spec).
    pub fn log_workloads(&self) -> io::Result<Vec<(String, LogSpec)>> {
        let mut v = Vec::new();
        for payload in [64usize, 1024] {
            let records = (self.log_bytes() / payload as u64).max(1) as usize;
            let mut threads = vec![1];
            if self.threads != 1 {
                threads.push(self.threads);
            }
            for t in threads {
                let label = if payload >= 1024 {
                    format!("{}KiB", payload / 1024)
                } else {
                    format!("{payload}B")
                };
                v.push((
                    format!("log_append_{label}_{t}t"),
                    LogSpec::new(payload, records, t)?,
                ));
            }
        }
        Ok(v)
    }
}

impl SuiteOptions {
    /// The names of every workload this suite can run (what `only`
    /// selects from by prefix).
    pub fn workload_names(&self) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = ["array_write", "array_seq_sum", "array_random_4k"]
            .map(String::from)
            .into();
        v.extend(self.log_workloads()?.into_iter().map(|(name, _)| name));
        v.extend(["latency", "log_query"].map(String::from));
        Ok(v)
    }
}

/// Where a run is: for a progress bar.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Runs done so far.
    pub done: u64,
    /// Runs in all.
    pub total: u64,
    /// The workload running.
    pub workload: String,
}

/// The number of runs a suite makes, for a progress bar.
pub fn planned_runs(o: &SuiteOptions, numpy: bool) -> io::Result<u64> {
    let np = u64::from(numpy);
    let mut p = 0;
    let mut add = |name: &str, contenders: u64, rounds: usize, warmup: usize| {
        if o.wanted(name) {
            p += contenders * (rounds + warmup) as u64;
        }
    };
    add("array_write", 4 + np, o.rounds(15, 5), 1);
    add("array_seq_sum", 4 + np, o.rounds(25, 7), 1);
    add("array_random_4k", 3 + np, o.rounds(40, 10), 0);
    for (name, _) in o.log_workloads()? {
        add(&name, LogContender::ALL.len() as u64, o.rounds(15, 5), 1);
    }
    add("latency", Transport::ALL.len() as u64, o.rounds(6, 2), 0);
    add("log_query", 2, o.rounds(5, 2), 0);
    Ok(p)
}

fn mib(bytes: u64) -> String {
    let m = bytes as f64 / (1u64 << 20) as f64;
    if m >= 10.0 {
        format!("{m:.0} MiB")
    } else if m >= 1.0 {
        format!("{m:.1} MiB")
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

type Runner<'a> = Box<dyn FnMut() -> io::Result<Sample> + 'a>;

/// Progress of the whole run.
struct Ctx<'p> {
    done: u64,
    total: u64,
    progress: &'p mut dyn FnMut(&Progress),
}

impl Ctx<'_> {
    fn report(&mut self, workload: &str) {
        (self.progress)(&Progress {
            done: self.done,
            total: self.total,
            workload: workload.to_string(),
        });
    }
}

/// Runs one workload's contenders interleaved and summarises them.
fn run_workload(
    spec: &WorkloadSpec,
    contenders: &[ContenderSpec],
    mut runners: Vec<Runner<'_>>,
    rounds: usize,
    warmup: usize,
    ctx: &mut Ctx<'_>,
) -> io::Result<WorkloadResult> {
    ctx.report(&spec.name);
    let collected: Collected = run_interleaved(
        runners.len(),
        warmup,
        rounds,
        |c| runners[c](),
        || {
            ctx.done += 1;
            ctx.report(&spec.name);
        },
    )?;
    Ok(summarize(spec, contenders, &collected))
}

/// Runs every workload of `o` and returns the report. `numpy`: the NumPy
/// process, if NumPy is to take part. `peer(args)`: the command that runs
/// [`crate::latency::peer_main`] with `args` in another process.
/// `progress` is called after every run.
pub fn run_suite(
    o: &SuiteOptions,
    mut numpy: Option<&mut NumpyPeer>,
    peer: &dyn Fn(&[String]) -> Command,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<Report> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut machine = crate::machine::describe(&o.dir);
    let total = planned_runs(o, numpy.is_some())?;
    let mut workloads = Vec::new();
    let dir = &o.dir;
    let n = (o.size / 8) as usize;

    let mut ctx = Ctx {
        done: 0,
        total,
        progress,
    };

    // Arrays: write.
    if o.wanted("array_write") {
        let mut contenders = Vec::new();
        let mut runners: Vec<Runner<'_>> = Vec::new();
        for &c in Workload::Write.contenders() {
            contenders.push(ContenderSpec::new(
                c.name(),
                array_description(c, Workload::Write),
            ));
            let path = dir.join(format!("write-{c}.f64"));
            runners.push(Box::new(move || {
                remove(&path)?;
                let t = Instant::now();
                let sum = run_write(c, &path, n)?;
                let s = Sample::timed(t.elapsed(), sum);
                remove(&path)?;
                Ok(s)
            }));
        }
        if let Some(np) = numpy.as_deref_mut() {
            contenders.push(ContenderSpec::new(
                "numpy",
                "np.memmap(w+) (sparse), fill by 1 MiB slices, flush, del",
            ));
            let path = dir.join("write-numpy.f64");
            runners.push(Box::new(move || {
                remove(&path)?;
                let s = np.write(&path, n)?;
                remove(&path)?;
                Ok(s)
            }));
        }
        let spec = WorkloadSpec::throughput(
            "array_write",
            &format!(
                "create + fill + durable flush + close of {n} f64 ({})",
                mib(o.size)
            ),
            "array",
            o.size,
        )
        .expect_checksum(expected_write_checksum(n));
        workloads.push(run_workload(
            &spec,
            &contenders,
            runners,
            o.rounds(15, 5),
            1,
            &mut ctx,
        )?);
    }

    // Arrays: reads of a cached file.
    let data = dir.join("data.f64");
    let reads = o.wanted("array_seq_sum") || o.wanted("array_random_4k");
    if reads {
        prepare_file(&data, n)?;
    }
    if o.wanted("array_seq_sum") {
        let mut contenders = Vec::new();
        let mut runners: Vec<Runner<'_>> = Vec::new();
        for &c in Workload::SeqSum.contenders() {
            contenders.push(ContenderSpec::new(
                c.name(),
                array_description(c, Workload::SeqSum),
            ));
            let data = &data;
            runners.push(Box::new(move || {
                let t = Instant::now();
                let sum = run_seq_sum(c, data, n)?;
                Ok(Sample::timed(t.elapsed(), sum))
            }));
        }
        if let Some(np) = numpy.as_deref_mut() {
            contenders.push(ContenderSpec::new(
                "numpy",
                "np.memmap(r).sum() (open included)",
            ));
            let data = &data;
            runners.push(Box::new(move || np.seq_sum(data, n)));
        }
        let spec = WorkloadSpec::throughput(
            "array_seq_sum",
            &format!("open + sum + close of a cached {} file", mib(o.size)),
            "array",
            o.size,
        )
        .expect_checksum(expected_seq_sum(n));
        workloads.push(run_workload(
            &spec,
            &contenders,
            runners,
            o.rounds(25, 7),
            1,
            &mut ctx,
        )?);
    }
    if o.wanted("array_random_4k") {
        let len = std::fs::metadata(&data)?.len();
        let count = o.random_reads();
        let offsets = random_offsets(len, count, DEFAULT_SEED)?;
        let expected = {
            let bytes = std::fs::read(&data)?;
            offsets.iter().fold(0u64, |acc, &off| {
                let i = off as usize;
                fold_block(acc, block_checksum(&bytes[i..i + BLOCK]))
            })
        };
        let mut contenders = Vec::new();
        let mut runners: Vec<Runner<'_>> = Vec::new();
        for &c in Workload::Random4k.contenders() {
            contenders.push(ContenderSpec::new(
                c.name(),
                array_description(c, Workload::Random4k),
            ));
            let mut reader = open_block_reader(c, &data)?;
            // The warm-up pass: maps (or caches) the pages.
            let warm = reader.read_blocks(&offsets)?;
            let offsets = &offsets;
            let mut first = Some(warm);
            runners.push(Box::new(move || {
                let t = Instant::now();
                let sum = reader.read_blocks(offsets)?;
                let took = t.elapsed();
                // A warm pass that disagreed must show too.
                let sum = match first.take() {
                    Some(w) if w != sum => w,
                    _ => sum,
                };
                Ok(Sample::timed(took, sum))
            }));
        }
        if let Some(np) = numpy {
            let file = dir.join("offsets.u64");
            write_offsets(&file, &offsets)?;
            np.open_blocks(&data, &file)?;
            contenders.push(ContenderSpec::new(
                "numpy",
                "np.memmap(r) opened once; m[i:i+512].sum() per block",
            ));
            runners.push(Box::new(move || np.random_4k()));
        }
        let spec = WorkloadSpec::throughput(
            "array_random_4k",
            &format!(
                "{count} random 4 KiB reads of a cached {} file, opened once (warm)",
                mib(len)
            ),
            "array",
            (count * BLOCK) as u64,
        )
        .records(count as u64)
        .expect_checksum(expected);
        workloads.push(run_workload(
            &spec,
            &contenders,
            runners,
            o.rounds(40, 10),
            0,
            &mut ctx,
        )?);
    }
    if reads {
        remove(&data)?;
        remove(&dir.join("offsets.u64"))?;
    }

    // Logs.
    for (name, spec_l) in o.log_workloads()? {
        if !o.wanted(&name) {
            continue;
        }
        let mut contenders = Vec::new();
        let mut runners: Vec<Runner<'_>> = Vec::new();
        for c in LogContender::ALL {
            contenders.push(if c.is_limit() {
                ContenderSpec::limit(c.name(), c.description())
            } else {
                ContenderSpec::new(c.name(), c.description())
            });
            let path = dir.join(format!("{name}-{}.log", c.name()));
            runners.push(Box::new(move || {
                remove(&path)?;
                let r = run_log_append(c, &path, &spec_l)?;
                remove(&path)?;
                Ok(Sample::with_hot(r.total, r.appends, r.checksum))
            }));
        }
        let threads = if spec_l.threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{} threads", spec_l.threads)
        };
        let spec = WorkloadSpec::throughput(
            &name,
            &format!(
                "{threads} append {} records of {} B ({} of payload), then durable",
                spec_l.records,
                spec_l.payload,
                mib(spec_l.payload_bytes())
            ),
            "log",
            spec_l.payload_bytes(),
        )
        .records(spec_l.records as u64)
        .threads(spec_l.threads)
        .hot("appends")
        .expect_checksum(expected_log_checksum(&spec_l));
        workloads.push(run_workload(
            &spec,
            &contenders,
            runners,
            o.rounds(15, 5),
            1,
            &mut ctx,
        )?);
    }

    // Commit-to-visible latency.
    if o.wanted("latency") {
        let count = o.latency_records;
        let interval = o.latency_interval;
        let mut contenders = Vec::new();
        let mut runners: Vec<Runner<'_>> = Vec::new();
        for t in Transport::ALL {
            contenders.push(ContenderSpec::new(t.name(), t.description()));
            runners.push(Box::new(move || {
                latency_round(t, dir, count, interval, peer)
            }));
        }
        let spec = WorkloadSpec::latency(
            "latency",
            &format!(
                "commit-to-visible latency across two processes: {count} records a round, \
                 one every {} µs (+ sleep slack)",
                interval.as_micros()
            ),
            "latency",
            count as u64,
        )
        .expect_checksum(expected_latency_checksum(count));
        workloads.push(run_workload(
            &spec,
            &contenders,
            runners,
            o.rounds(6, 2),
            0,
            &mut ctx,
        )?);
    }

    // State at a time: with the sidecar index against a full scan.
    let mut notes = Vec::new();
    if o.wanted("log_query") {
        let spec = o.query_spec();
        let path = dir.join("query.log");
        let (log_len, idx_len) = crate::query::prepare_query(&path, spec)?;
        notes.push(format!(
            "log_query: the index is {:.1}% of the log ({} of {})",
            100.0 * idx_len as f64 / log_len as f64,
            mib(idx_len),
            mib(log_len)
        ));
        let contenders = vec![
            ContenderSpec::new("mapio", "LogSet::state_at with the sidecar index"),
            ContenderSpec::new("scan", "LogSet::state_at scanning every record (no index)"),
        ];
        let runners: Vec<Runner<'_>> = vec![
            Box::new(|| {
                let t = Instant::now();
                let sum = crate::query::run_query(&path, spec, true)?;
                Ok(Sample::timed(t.elapsed(), sum))
            }),
            Box::new(|| {
                let t = Instant::now();
                let sum = crate::query::run_query(&path, spec, false)?;
                Ok(Sample::timed(t.elapsed(), sum))
            }),
        ];
        let wspec = WorkloadSpec::throughput(
            "log_query",
            &format!(
                "state of {} keys at t = {} over a log of {} records ({})",
                spec.keys,
                spec.time(),
                spec.records(),
                mib(log_len)
            ),
            "log",
            log_len,
        )
        .records(spec.keys);
        workloads.push(run_workload(
            &wspec,
            &contenders,
            runners,
            o.rounds(5, 2),
            0,
            &mut ctx,
        )?);
        remove(&path)?;
        remove(&mapio::log::Index::path_for(&path, None))?;
    }

    machine.load_after = crate::machine::load_average();
    let valid = workloads.iter().all(|w| w.valid);
    Ok(Report {
        tool: "mapio bench".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        command: o.command.clone(),
        settings: Settings {
            quick: o.quick,
            size: o.size,
            log_bytes: o.log_bytes(),
            threads: o.threads,
            numpy: None,
            dir: o.dir.display().to_string(),
        },
        machine,
        started_unix_s: started_unix,
        duration_s: started.elapsed().as_secs_f64(),
        workloads,
        valid,
        notes,
        legend: LEGEND.to_string(),
    })
}

/// What an array contender does, in a line.
pub fn array_description(c: Contender, w: Workload) -> &'static str {
    match (c, w) {
        (Contender::Mapio, Workload::Write) => "Array::create_raw, fill as_slice_mut, flush, close",
        (Contender::RawRecipe, _) => {
            "rustix open, fallocate, mmap, fill, msync, munmap, ftruncate, close"
        }
        (Contender::StdBufWriter, _) => "File + 1 MiB BufWriter, write_all, sync_all",
        (Contender::Memmap2, Workload::Write) => "set_len (sparse), MmapMut, fill, flush",
        (Contender::Mapio, Workload::SeqSum) => "Array::open_raw(r), sum as_slice()",
        (Contender::StdRead, _) => "whole file into one Vec<u8> (read_exact), sum",
        (Contender::Pread, Workload::SeqSum) => "pread 1 MiB at a time into one buffer, sum",
        (Contender::Memmap2, Workload::SeqSum) => "Mmap::map, sum as &[f64]",
        (Contender::Mapio, _) => "Array::open_raw(r) once; a block is a slice",
        (Contender::Pread, _) => "pread of each 4 KiB block into one buffer",
        (Contender::Memmap2, _) => "Mmap::map once; a block is a slice",
    }
}
