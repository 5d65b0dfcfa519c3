//! `mapio demo`: a particle simulation that streams every particle's state,
//! every step, into a continuous log from several threads (the SWIFT
//! pattern), while a second process follows the log live.
//!
//! The physics is deliberately cheap (particles orbit in a softened
//! central potential, leapfrog steps); the point is the I/O.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mapio::array::DType;
use mapio::log::Index;
use mapio::log::{Entry, Flags, FollowOptions, Log, LogOptions, LogReader, Schema};
use serde_json::json;

use crate::cmd::args::{Sniffed, sniff};
use crate::cmd::out::bytes_text;
use crate::cmd::usage;

/// Options of `mapio demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to write the log (default: a temporary file, removed at the
    /// end). An existing file there is overwritten only if it is a mapio
    /// log (or empty); anything else needs --force.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Overwrite what is at --log even if it is not a mapio log; with
    /// --ranks, remove the run_NNNN.log files (and their .idx) of an
    /// earlier run with more ranks.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Writer threads (1 to 1024).
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_THREADS))]
    pub threads: usize,
    /// Particles (1 to 10^9, and as many as fit in memory).
    #[arg(long, default_value_t = 50_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_PARTICLES))]
    pub particles: usize,
    /// Simulation steps (1 to 10^9); every particle is logged at every step.
    #[arg(long, default_value_t = 40, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_STEPS))]
    pub steps: usize,
    /// Make the log durable (`sync`) every K steps (0: only when it is
    /// closed at the end).
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=MAX_STEPS))]
    pub sync_every: usize,
    /// Do not start the second process that follows the log live.
    #[arg(long)]
    pub no_follow: bool,
    /// Skip the comparison run through `Mutex<BufWriter<File>>`.
    #[arg(long)]
    pub no_compare: bool,
    /// One JSON object per line on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run N writer processes (1 to 1024), one log each (`run_0000.log`,
    /// ...; `--log` is then a directory), the way an MPI code writes one
    /// log per rank. Particles move between ranks as they orbit: an EXIT
    /// record in one log, an ENTER record in the other.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_RANKS))]
    pub ranks: usize,
}

/// The largest `--threads`.
const MAX_THREADS: u64 = 1024;
/// The largest `--ranks` (writer processes; `run_NNNN.log` keeps 4 digits).
const MAX_RANKS: u64 = 1024;
/// The largest `--particles` (memory is checked too: [`check_sizes`]).
const MAX_PARTICLES: u64 = 1_000_000_000;
/// The largest `--steps` and `--sync-every`.
const MAX_STEPS: u64 = 1_000_000_000;

/// Options of the hidden `mapio demo-rank` (one rank of `demo --ranks`).
#[derive(Clone, Debug, clap::Args)]
pub struct RankArgs {
    /// This rank (its log is `--log`).
    #[arg(long)]
    pub rank: usize,
    #[command(flatten)]
    pub demo: DemoArgs,
}

/// Bytes of one particle's payload: position and velocity, 3 × f64 each.
const PAYLOAD: usize = 48;

fn schema() -> Result<Schema> {
    Schema::new()
        .field("pos", DType::F64, 3)
        .and_then(|s| s.field("vel", DType::F64, 3))
        .map_err(anyhow::Error::msg)
}

#[derive(Clone, Copy)]
struct Particle {
    pos: [f64; 3],
    vel: [f64; 3],
}

impl Particle {
    fn new(id: usize) -> Particle {
        // Deterministic spread on a disc with roughly circular velocities.
        let a = id as f64 * 2.399_963_229_728_653; // golden angle
        let r = 1.0 + (id % 997) as f64 / 997.0 * 9.0;
        let z = ((id % 31) as f64 - 15.0) * 0.01;
        let v = 1.0 / r.sqrt();
        Particle {
            pos: [r * a.cos(), r * a.sin(), z],
            vel: [-v * a.sin(), v * a.cos(), 0.0],
        }
    }

    /// One leapfrog step in a softened point-mass potential.
    fn step(&mut self, dt: f64) {
        let acc = |p: &[f64; 3]| {
            let r2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2] + 0.01;
            let inv = 1.0 / (r2 * r2.sqrt());
            [-p[0] * inv, -p[1] * inv, -p[2] * inv]
        };
        let a = acc(&self.pos);
        for ((v, x), a) in self.vel.iter_mut().zip(self.pos.iter_mut()).zip(a) {
            *v += 0.5 * dt * a;
            *x += dt * *v;
        }
        let a = acc(&self.pos);
        for (v, a) in self.vel.iter_mut().zip(a) {
            *v += 0.5 * dt * a;
        }
    }

    /// The rank that owns the particle: its angular sector.
    fn owner(&self, ranks: usize) -> usize {
        let a = self.pos[1].atan2(self.pos[0]) + std::f64::consts::PI;
        ((a / std::f64::consts::TAU * ranks as f64) as usize).min(ranks - 1)
    }

    fn payload(&self) -> [u8; PAYLOAD] {
        let mut b = [0u8; PAYLOAD];
        for (k, x) in self.pos.iter().chain(&self.vel).enumerate() {
            b[k * 8..k * 8 + 8].copy_from_slice(&x.to_le_bytes());
        }
        b
    }
}

/// Where records go: the mapped log, or the comparison `BufWriter`.
trait Sink: Sync {
    fn write(&self, id: u64, step: u64, flags: Flags, payload: &[u8; PAYLOAD]) -> Result<()>;
}

impl Sink for Log {
    fn write(&self, id: u64, step: u64, flags: Flags, payload: &[u8; PAYLOAD]) -> Result<()> {
        self.append(
            &Entry::new().key(id).time(step as f64).flags(flags),
            payload,
        )?;
        Ok(())
    }
}

/// The comparison: the same records, framed the same way (length, key,
/// time, flags, CRC32C, payload), through one `Mutex<BufWriter<File>>`.
struct Buffered(Mutex<BufWriter<File>>);

impl Sink for Buffered {
    fn write(&self, id: u64, step: u64, flags: Flags, payload: &[u8; PAYLOAD]) -> Result<()> {
        let mut rec = [0u8; 24 + PAYLOAD];
        rec[0..4].copy_from_slice(&((24 + PAYLOAD) as u32).to_le_bytes());
        rec[4] = flags.0;
        rec[8..16].copy_from_slice(&id.to_le_bytes());
        rec[16..24].copy_from_slice(&(step as f64).to_le_bytes());
        rec[24..].copy_from_slice(payload);
        let crc = crc32c(&rec[8..]);
        rec[5..8].copy_from_slice(&crc.to_le_bytes()[..3]);
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(&rec)?;
        Ok(())
    }
}

/// CRC32C, as the log computes it.
fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

struct Run {
    records: u64,
    seconds: f64,
}

/// Runs the simulation, writing every particle every step into `sink`;
/// `after_step` runs on the main thread after each step.
/// Set by SIGINT, SIGTERM or SIGHUP once [`catch_interrupts`] has run:
/// the demo stops after the step in progress, closes its log and removes
/// its temporary files (a second signal ends it at once).
fn stop_flag() -> &'static Arc<AtomicBool> {
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Turns Ctrl-C (and SIGTERM, SIGHUP) into a clean stop: without it, an
/// interrupted demo left its temporary log (hundreds of MB) behind.
fn catch_interrupts() -> Result<()> {
    use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // The shutdown first: armed by the flag the first signal sets.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(stop_flag()))
            .context("cannot install a signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(stop_flag()))
            .context("cannot install a signal handler")?;
    }
    Ok(())
}

/// The error of a demo stopped by a signal (exit status 130).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted: the demo stopped after the step in progress")
    }
}

impl std::error::Error for Interrupted {}

/// `Err(Interrupted)` once a signal asked the demo to stop.
fn check_interrupt() -> Result<()> {
    if stop_flag().load(Ordering::Relaxed) {
        return Err(Interrupted.into());
    }
    Ok(())
}

fn simulate(
    args: &DemoArgs,
    sink: &dyn Sink,
    mut after_step: impl FnMut(usize, u64) -> Result<()>,
) -> Result<Run> {
    let mut particles: Vec<Particle> = (0..args.particles).map(Particle::new).collect();
    let threads = args.threads.max(1);
    let chunk = args.particles.div_ceil(threads).max(1);
    let written = AtomicU64::new(0);
    let start = Instant::now();
    for step in 0..args.steps {
        let flags = if step == 0 {
            Flags::CREATE
        } else {
            Flags::NONE
        };
        let result: Result<()> = std::thread::scope(|s| {
            let handles: Vec<_> = particles
                .chunks_mut(chunk)
                .enumerate()
                .map(|(t, part)| {
                    let written = &written;
                    s.spawn(move || -> Result<()> {
                        for (i, p) in part.iter_mut().enumerate() {
                            if step > 0 {
                                p.step(0.01);
                            }
                            let id = (t * chunk + i) as u64;
                            sink.write(id, step as u64, flags, &p.payload())?;
                        }
                        written.fetch_add(part.len() as u64, Ordering::Relaxed);
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
            }
            Ok(())
        });
        result?;
        after_step(step, written.load(Ordering::Relaxed))?;
        check_interrupt()?;
    }
    Ok(Run {
        records: written.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn emit(json_mode: bool, value: serde_json::Value, text: String) {
    if json_mode {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// The follower process's reports, read by the demo.
#[derive(Default)]
struct FollowerStats {
    records: u64,
    max_lag_bytes: u64,
    lag_sum: f64,
    samples: u64,
    done: bool,
}

fn spawn_follower(log: &Path) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the mapio executable")?;
    Command::new(exe)
        .arg("demo-follow")
        .arg(log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the follower process")
}

/// Runs `mapio demo`.
pub fn run(args: &DemoArgs) -> Result<i32> {
    check_sizes(args)?;
    if args.ranks > 1 {
        return run_ranks(args);
    }
    if let Some(p) = &args.log {
        check_overwrite(p, args.force)?;
    }
    catch_interrupts()?;
    // The temporary log (without --log) and the comparison run's file;
    // removed when `dir` is dropped, whatever happens.
    let dir = TempDir::new()?;
    let (path, keep) = match &args.log {
        Some(p) => (p.clone(), true),
        None => (dir.path().join("mapio-demo.log"), false),
    };
    let log = LogOptions::new()
        .schema(schema()?)
        .dense_keys(args.particles)
        .create(&path)?;
    remove_stale_index(&path);
    let record_len = RECORD_BYTES;
    if !args.json {
        println!(
            "mapio demo: {} particles x {} steps, {} writer threads -> {}",
            args.particles,
            args.steps,
            args.threads,
            path.display()
        );
    }

    // The second process, following the log live.
    let mut follower = if args.no_follow {
        None
    } else {
        Some(spawn_follower(&path)?)
    };
    let stats = Arc::new(Mutex::new(FollowerStats::default()));
    let reader_thread = follower.as_mut().and_then(|c| c.stdout.take()).map(|out| {
        let stats = Arc::clone(&stats);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
                s.records = v["records"].as_u64().unwrap_or(s.records);
                // Only a progress report measures the lag: the final one
                // is sent once the writers are done.
                let lag = v["lag_bytes"].as_u64().filter(|_| v["event"] == "progress");
                if let Some(lag) = lag {
                    s.max_lag_bytes = s.max_lag_bytes.max(lag);
                    s.lag_sum += lag as f64;
                    s.samples += 1;
                }
                if v["event"] == "done" {
                    s.done = true;
                }
            }
        })
    });

    let mut last_sync = Instant::now();
    let run = simulate(args, &log, |step, records| {
        if args.sync_every > 0 && (step + 1) % args.sync_every == 0 {
            let t = Instant::now();
            let offset = log.sync()?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let (lag, reports) = stats
                .lock()
                .map(|s| (s.records, s.samples))
                .unwrap_or((0, 0));
            let follower = if args.no_follow {
                String::new()
            } else if reports == 0 {
                ", no follower report yet".to_string()
            } else {
                format!(", follower has read {lag}")
            };
            emit(
                args.json,
                json!({"event": "synced", "step": step + 1, "records": records, "offset": offset,
                       "sync_ms": ms, "follower_records": lag}),
                format!(
                    "  step {:>4}: {records} records, durable up to byte {offset} (sync {ms:.1} ms{follower})",
                    step + 1
                ),
            );
            last_sync = Instant::now();
        }
        Ok(())
    });
    let run = match run {
        Err(e) if e.is::<Interrupted>() => {
            // A clean end for a log that is kept (--log), and the
            // follower told so; the temporary files go with `dir`.
            let _ = log.close();
            if let Some(mut child) = follower {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(e);
        }
        r => r?,
    };
    let _ = last_sync;
    let bytes = log.tail() - mapio::log::format::HEADER_LEN;
    // Where the log ends (the file is that long unless a reader, such as
    // the follower, still had it open at close: FORMAT.md 1.7).
    let end_offset = log.close()?;

    // Wait for the follower to see the end record and report.
    let mut follower_ok = None;
    if let Some(mut child) = follower {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                follower_ok = Some(status.success());
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                follower_ok = Some(false);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(t) = reader_thread {
            let _ = t.join();
        }
        // The follower had the log open when it closed, so the space the
        // writers had allocated ahead was kept (truncating under a
        // reader's map would crash it). It has let go: give it back.
        // Another reader (a user's `tail -f`) keeps it: no harm.
        match mapio::log::trim(&path) {
            Ok(_) | Err(mapio::Error::Locked { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // The lag (max, mean) is reported only when the follower measured it
    // at least twice while the writers ran.
    let fstats = stats
        .lock()
        .map(|s| {
            let lag = (s.samples >= MIN_LAG_SAMPLES)
                .then(|| (s.max_lag_bytes, s.lag_sum / s.samples as f64));
            (s.records, lag, s.samples, s.done)
        })
        .unwrap_or_default();

    // The comparison run: same records, same threads, one locked BufWriter.
    let compare = if args.no_compare {
        None
    } else {
        let cmp_path = dir.path().join("mapio-demo-bufwriter.bin");
        let f = File::create(&cmp_path)?;
        let sink = Buffered(Mutex::new(BufWriter::with_capacity(1 << 20, f)));
        let r = simulate(args, &sink, |step, _| {
            if args.sync_every > 0 && (step + 1) % args.sync_every == 0 {
                let mut w = sink.0.lock().unwrap_or_else(|e| e.into_inner());
                w.flush()?;
                w.get_ref().sync_data()?;
            }
            Ok(())
        })?;
        let mut w = sink.0.into_inner().unwrap_or_else(|e| e.into_inner());
        w.flush()?;
        w.get_ref().sync_all()?;
        drop(w);
        let _ = std::fs::remove_file(&cmp_path);
        Some(r)
    };

    let mb = bytes as f64 / 1e6;
    let rate = run.records as f64 / run.seconds;
    let summary = json!({
        "event": "summary",
        "log": path,
        "records": run.records,
        "record_bytes": record_len,
        "bytes": bytes,
        "end_offset": end_offset,
        "file_size": std::fs::metadata(&path).map(|m| m.len()).unwrap_or(end_offset),
        "seconds": run.seconds,
        "records_per_s": rate,
        "mb_per_s": mb / run.seconds,
        "threads": args.threads,
        "follower": if args.no_follow { serde_json::Value::Null } else {
            json!({"records": fstats.0, "max_lag_bytes": fstats.1.map(|l| l.0),
                   "mean_lag_bytes": fstats.1.map(|l| l.1), "lag_samples": fstats.2,
                   "saw_end": fstats.3, "ok": follower_ok})
        },
        "bufwriter": compare.as_ref().map(|c| json!({
            "seconds": c.seconds,
            "records_per_s": c.records as f64 / c.seconds,
            "speedup": c.seconds / run.seconds,
        })),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!();
        println!("  records     {} ({} bytes each)", run.records, record_len);
        println!("  bytes       {:.1} MB in {:.2} s", mb, run.seconds);
        println!(
            "  throughput  {:.2} M records/s, {:.0} MB/s (simulation included)",
            rate / 1e6,
            mb / run.seconds
        );
        if !args.no_follow {
            let lag = match fstats.1 {
                Some((max, mean)) => format!(
                    "lag max {:.1} MB, mean {:.1} MB ({} measurements)",
                    max as f64 / 1e6,
                    mean / 1e6,
                    fstats.2
                ),
                None => format!(
                    "lag not measured ({} measurement{}): the run was shorter than the follower's \
                     report interval ({} ms or {REPORT_RECORDS} records)",
                    fstats.2,
                    if fstats.2 == 1 { "" } else { "s" },
                    REPORT_INTERVAL.as_millis()
                ),
            };
            println!(
                "  follower    read {} records live from another process; {lag}{}",
                fstats.0,
                if follower_ok == Some(true) {
                    ""
                } else {
                    " (did not finish cleanly)"
                }
            );
        }
        if let Some(c) = &compare {
            println!(
                "  BufWriter   same records through Mutex<BufWriter<File>>: {:.2} s, {:.2} M records/s -> mapio {:.2}x",
                c.seconds,
                c.records as f64 / c.seconds / 1e6,
                c.seconds / run.seconds
            );
            if !args.no_follow {
                println!(
                    "              (mapio's run shared the {} cores with the live follower, the BufWriter run \
                     did not: --no-follow compares like with like; `mapio bench` measures each side alone)",
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                );
            }
        }
        if keep {
            println!("  log kept at {} (try: mapio info {0})", path.display());
        } else {
            println!("  (pass --log PATH to keep the log)");
        }
    }
    drop(dir);
    let follower_failed = !args.no_follow && (follower_ok != Some(true) || fstats.0 != run.records);
    if follower_failed {
        eprintln!(
            "mapio demo: the follower read {} of {} records",
            fstats.0, run.records
        );
        return Ok(1);
    }
    Ok(0)
}

/// A temporary directory of the demo's own, removed with everything in it
/// when dropped (at the end of the run, or on an early error).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let base = std::env::temp_dir();
        for i in 0..1000u32 {
            let d = base.join(format!("mapio-demo-{}-{i}", std::process::id()));
            match std::fs::create_dir(&d) {
                Ok(()) => return Ok(TempDir(d)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).context("cannot create a temporary directory"),
            }
        }
        anyhow::bail!("cannot create a temporary directory")
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes of memory one particle costs a writer process: its state, and
/// its slot in the log's key table (`dense_keys`).
const BYTES_PER_PARTICLE: u64 = (size_of::<Particle>() + size_of::<u64>()) as u64;
/// Bytes of memory one particle costs the set check of `--ranks` (a
/// state entry and a per-key candidate while the set is read).
const BYTES_PER_PARTICLE_CHECK: u64 = 96;
/// Bytes of one record the demo writes: record header, key, time,
/// payload (see `record_len` in [`run`]).
const RECORD_BYTES: u64 = 16 + 24 + PAYLOAD as u64;
/// The largest size a log can grow to (`LogOptions::reserve`'s default).
const LOG_RESERVE: u64 = 1 << 40;

/// Refuses, before anything is allocated or written, a run that cannot
/// fit: more memory than the machine has, or a log larger than a log can
/// grow to.
fn check_sizes(args: &DemoArgs) -> Result<()> {
    let particles = args.particles as u64;
    let ranks = args.ranks as u64;
    let check = if ranks > 1 {
        BYTES_PER_PARTICLE_CHECK
    } else {
        0
    };
    // Every rank process simulates every particle.
    let need = particles.saturating_mul(
        BYTES_PER_PARTICLE
            .saturating_mul(ranks)
            .saturating_add(check),
    );
    let (limit, what) = match memory_available() {
        Some(m) => (m, "available on this machine"),
        None => (64 << 30, "the demo allows"),
    };
    if need > limit {
        let per = if ranks > 1 {
            format!(
                " ({} processes hold every particle, {BYTES_PER_PARTICLE} bytes each)",
                args.ranks
            )
        } else {
            format!(" ({BYTES_PER_PARTICLE} bytes each)")
        };
        return Err(usage(format!(
            "--particles {} needs about {} of memory{per}, more than the {} {what}; \
             pass fewer --particles{}",
            args.particles,
            bytes_text(need),
            bytes_text(limit),
            if ranks > 1 { " or --ranks" } else { "" }
        )));
    }
    let bytes = particles
        .checked_mul(args.steps as u64)
        .and_then(|r| r.checked_mul(RECORD_BYTES))
        .unwrap_or(u64::MAX);
    // With ranks, the records are shared among the logs.
    if bytes > LOG_RESERVE.saturating_mul(ranks) {
        let logs = if ranks > 1 {
            format!(
                "{} logs can grow to, {} each",
                args.ranks,
                bytes_text(LOG_RESERVE)
            )
        } else {
            format!("a log can grow to, {}", bytes_text(LOG_RESERVE))
        };
        return Err(usage(format!(
            "--particles {} x --steps {} make {} of records ({RECORD_BYTES} bytes each), more than \
             {logs}; pass fewer --particles or --steps",
            args.particles,
            args.steps,
            bytes_text(bytes),
        )));
    }
    Ok(())
}

/// The memory available now (Linux: `MemAvailable` in /proc/meminfo,
/// else `MemTotal`), or `None` where it cannot be read.
fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    };
    field("MemAvailable:").or_else(|| field("MemTotal:"))
}

/// Refuses to overwrite `path` unless it is missing, a mapio log, an
/// empty file (nothing to lose), or `force` is set. A log held by a live
/// writer (or reader) is refused by the library's create: it takes the
/// file's exclusive lock before truncating it (exit code 4).
fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(crate::cmd::args::io_error(path, "stat", e)),
    };
    if force {
        return Ok(());
    }
    // What a link leads to (none for a dangling one).
    let target = std::fs::metadata(path).ok();
    if target.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(usage(format!(
            "{} is a directory: with one rank, --log names the log file \
             (--ranks N writes run_NNNN.log files into a directory)",
            path.display()
        )));
    }
    let empty = meta.is_file() && meta.len() == 0;
    if empty || (target.is_some_and(|m| m.is_file()) && sniff(path)? == Sniffed::Log) {
        return Ok(());
    }
    Err(usage(format!(
        "{} exists and is not a mapio log; pass --force to overwrite it",
        path.display()
    )))
}

/// Removes the sidecar index (`LOG.idx`) of a log just created over an
/// older one: it indexes records that are gone (the library would see it
/// as stale and scan instead, but it is clutter). Only a file that is a
/// mapio index is removed.
fn remove_stale_index(log: &Path) {
    let idx = Index::path_for(log, None);
    let is_index = crate::cmd::args::first_bytes(&idx)
        .is_ok_and(|(head, n)| n == 8 && head == mapio::log::index::MAGIC);
    if is_index {
        let _ = std::fs::remove_file(&idx);
    }
}

/// How often the follower reports: every `REPORT_INTERVAL`, and every
/// `REPORT_RECORDS` records read (so a short run is measured too).
const REPORT_INTERVAL: Duration = Duration::from_millis(100);
const REPORT_RECORDS: u64 = 4096;
/// Fewer lag measurements than this, and the demo says the lag was not
/// measured rather than print figures no measurement backs.
const MIN_LAG_SAMPLES: u64 = 2;

/// The follower process (`mapio demo-follow LOG`): follows the log live
/// and prints, as JSON lines, how many records it has read and how far
/// behind the writers it is.
pub fn follow_main(path: &Path) -> Result<i32> {
    // The writer holds the file's exclusive lock for an instant when it
    // closes (it truncates the file to its end): a run shorter than this
    // process's start-up can end just then. Try again for a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reader = loop {
        match LogReader::open(path) {
            Err(mapio::Error::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            r => break r?,
        }
    };
    let mut n = 0u64;
    let mut last_report = Instant::now();
    let mut out = std::io::stdout().lock();
    let mut follow =
        reader.follow(FollowOptions::new().idle_timeout(Some(Duration::from_secs(20))));
    while let Some(rec) = follow.next() {
        n += 1;
        if rec.payload.len() != PAYLOAD {
            anyhow::bail!(
                "record at {} has a payload of {} bytes",
                rec.offset,
                rec.payload.len()
            );
        }
        if n.is_multiple_of(REPORT_RECORDS) || last_report.elapsed() > REPORT_INTERVAL {
            let lag = reader.tail().saturating_sub(follow.position());
            writeln!(
                out,
                "{}",
                json!({"event": "progress", "records": n, "lag_bytes": lag})
            )?;
            out.flush()?;
            last_report = Instant::now();
        }
    }
    writeln!(
        out,
        "{}",
        json!({"event": "done", "records": n, "lag_bytes": 0})
    )?;
    out.flush()?;
    Ok(0)
}

/// One rank of `demo --ranks`: simulates every particle (the physics is
/// deterministic and cheap, so ranks agree on who owns what without
/// talking to each other) and logs those it owns, with ENTER and EXIT
/// records when a particle changes rank.
pub fn rank_main(args: &RankArgs) -> Result<i32> {
    let d = &args.demo;
    let ranks = d.ranks.max(1);
    let me = args.rank;
    let path = d.log.as_ref().context("demo-rank needs --log")?;
    catch_interrupts()?;
    // The parent holds this process's stdin open while it wants the run to
    // go on: it closes it to stop the ranks (it was signalled), and the
    // kernel closes it if the parent dies. Either way, stop after the step.
    std::thread::spawn(|| {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        stop_flag().store(true, Ordering::Relaxed);
    });
    let log = LogOptions::new()
        .schema(schema()?)
        .dense_keys(d.particles)
        .create(path)?;
    remove_stale_index(path);
    let mut particles: Vec<Particle> = (0..d.particles).map(Particle::new).collect();
    let threads = d.threads.max(1);
    let chunk = d.particles.div_ceil(threads).max(1);
    let counts = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]; // records, enters, exits
    let start = Instant::now();
    for step in 0..d.steps {
        std::thread::scope(|s| -> Result<()> {
            let handles: Vec<_> = particles
                .chunks_mut(chunk)
                .enumerate()
                .map(|(t, part)| {
                    let (log, counts) = (&log, &counts);
                    s.spawn(move || -> Result<()> {
                        for (i, p) in part.iter_mut().enumerate() {
                            let id = (t * chunk + i) as u64;
                            let before = p.owner(ranks);
                            if step > 0 {
                                p.step(0.01);
                            }
                            let after = p.owner(ranks);
                            let time = step as f64;
                            if step == 0 {
                                if after == me {
                                    log.append(
                                        &Entry::new().key(id).time(time).flags(Flags::CREATE),
                                        &p.payload(),
                                    )?;
                                    counts[0].fetch_add(1, Ordering::Relaxed);
                                }
                                continue;
                            }
                            if before == me && after != me {
                                log.append(
                                    &Entry::new().key(id).time(time).flags(Flags::EXIT),
                                    &p.payload(),
                                )?;
                                counts[0].fetch_add(1, Ordering::Relaxed);
                                counts[2].fetch_add(1, Ordering::Relaxed);
                            } else if after == me {
                                let flags = if before != me {
                                    Flags::ENTER
                                } else {
                                    Flags::NONE
                                };
                                log.append(
                                    &Entry::new().key(id).time(time).flags(flags),
                                    &p.payload(),
                                )?;
                                counts[0].fetch_add(1, Ordering::Relaxed);
                                if before != me {
                                    counts[1].fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
            }
            Ok(())
        })?;
        if d.sync_every > 0 && (step + 1) % d.sync_every == 0 {
            let offset = log.sync()?;
            println!(
                "{}",
                json!({"event": "synced", "rank": me, "step": step + 1,
                       "records": counts[0].load(Ordering::Relaxed), "offset": offset})
            );
        }
        if let Err(e) = check_interrupt() {
            log.close()?;
            return Err(e);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let bytes = log.tail() - mapio::log::format::HEADER_LEN;
    log.close()?;
    println!(
        "{}",
        json!({"event": "rank_done", "rank": me, "records": counts[0].load(Ordering::Relaxed),
               "enters": counts[1].load(Ordering::Relaxed), "exits": counts[2].load(Ordering::Relaxed),
               "bytes": bytes, "seconds": seconds})
    );
    Ok(0)
}

/// `mapio demo --ranks N`: N writer processes, then a check of the set.
fn run_ranks(args: &DemoArgs) -> Result<i32> {
    // Without --log, a temporary directory removed when `tmp` is dropped.
    let mut tmp = None;
    let dir = match &args.log {
        Some(d) => {
            prepare_rank_dir(d, args.ranks, args.force)?;
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => tmp.insert(TempDir::new()?).path().to_path_buf(),
    };
    let keep = tmp.is_none();
    // Ctrl-C reaches the rank processes too (they stop after their step
    // and close their logs); this one waits for them, then cleans up.
    catch_interrupts()?;
    // The set is the demo's own files, whatever else is in the directory.
    let pattern = dir.join("run_*.log");
    if !args.json {
        println!(
            "mapio demo: {} ranks (processes) x {} threads, {} particles x {} steps -> {}",
            args.ranks,
            args.threads,
            args.particles,
            args.steps,
            dir.join("run_NNNN.log").display()
        );
    }
    let exe = std::env::current_exe().context("cannot find the mapio executable")?;
    let start = Instant::now();
    let mut children = Vec::new();
    for r in 0..args.ranks {
        let log = dir.join(rank_log_name(r));
        let child = Command::new(&exe)
            .arg("demo-rank")
            .args(["--rank", &r.to_string(), "--log"])
            .arg(&log)
            .args(["--ranks", &args.ranks.to_string()])
            .args(["--threads", &args.threads.to_string()])
            .args(["--particles", &args.particles.to_string()])
            .args(["--steps", &args.steps.to_string()])
            .args(["--sync-every", &args.sync_every.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start a rank process")?;
        children.push(child);
    }
    // The ranks' lifelines (their stdin): closed when this process is
    // signalled (a SIGTERM or SIGHUP may reach it alone), or dies, and the
    // ranks then stop after their step.
    let lifelines: Vec<_> = children.iter_mut().filter_map(|c| c.stdin.take()).collect();
    let ranks_done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = Arc::clone(&ranks_done);
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) && !stop_flag().load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(lifelines);
        })
    };
    let (mut records, mut enters, mut exits, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut failed = Vec::new();
    for (rank, mut child) in children.into_iter().enumerate() {
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if args.json {
                    println!("{line}");
                }
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if v["event"] == "rank_done" {
                    records += v["records"].as_u64().unwrap_or(0);
                    enters += v["enters"].as_u64().unwrap_or(0);
                    exits += v["exits"].as_u64().unwrap_or(0);
                    bytes += v["bytes"].as_u64().unwrap_or(0);
                    if !args.json {
                        println!(
                            "  rank {}: {} records ({} entered, {} left)",
                            v["rank"], v["records"], v["enters"], v["exits"]
                        );
                    }
                }
            }
        }
        let status = child.wait()?;
        if !status.success() {
            failed.push((rank, status));
        }
    }
    ranks_done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let seconds = start.elapsed().as_secs_f64();
    check_interrupt()?;
    if !failed.is_empty() {
        use std::os::unix::process::ExitStatusExt;
        let what: Vec<String> = failed
            .iter()
            .map(|(rank, status)| {
                let how = match (status.code(), status.signal()) {
                    (Some(c), _) => format!("exited with status {c}"),
                    (None, Some(9)) => "was killed (SIGKILL)".to_string(),
                    (None, Some(s)) => format!("was killed by signal {s}"),
                    (None, None) => "failed".to_string(),
                };
                format!(
                    "rank {rank} ({}) {how}",
                    dir.join(rank_log_name(*rank)).display()
                )
            })
            .collect();
        anyhow::bail!(
            "{}; a killed rank's log is readable as it is, and `mapio recover` on it keeps every \
             record it committed (the other ranks' logs are complete)",
            what.join("; ")
        );
    }
    // Read the set back as one: every particle present at the last step,
    // and a particle that moved has one continuous history.
    let set = mapio::log::LogSet::open(&pattern, &mapio::log::SetOptions::new())?;
    let last = args.steps.saturating_sub(1) as f64;
    let state = set.state_at(last, mapio::log::Interpolation::None)?;
    let mut moved = None;
    for e in state.entries() {
        if e.file != 0 || e.flags.contains(Flags::ENTER) {
            moved = Some(e.key);
            break;
        }
    }
    let history_ok = match moved {
        Some(k) => {
            let h = set.history(k)?;
            let times: Vec<f64> = h
                .iter()
                .filter(|l| !l.record.flags.contains(Flags::EXIT))
                .filter_map(|l| l.record.time)
                .collect();
            times.windows(2).all(|w| w[1] == w[0] + 1.0) && times.len() == args.steps
        }
        None => true,
    };
    let summary = json!({
        "event": "summary", "ranks": args.ranks, "records": records, "bytes": bytes,
        "enters": enters, "exits": exits, "seconds": seconds,
        "records_per_s": records as f64 / seconds,
        "state_at_last_step": state.len(), "particles": args.particles,
        "history_continuous": history_ok, "dir": dir,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!();
        println!(
            "  records     {records} in {seconds:.2} s ({:.2} M records/s over {} processes)",
            records as f64 / seconds / 1e6,
            args.ranks
        );
        println!("  moves       {enters} particles entered a new rank ({exits} EXIT records)");
        println!(
            "  set check   state at step {last}: {} of {} particles; a moving particle's history is {}",
            state.len(),
            args.particles,
            if history_ok { "continuous" } else { "BROKEN" }
        );
        if keep {
            println!(
                "  logs kept in {} (try: mapio at '{}' --time {last})",
                dir.display(),
                pattern.display()
            );
        } else {
            println!("  (pass --log DIR to keep the logs)");
        }
    }
    drop(set);
    drop(tmp);
    Ok(if state.len() == args.particles && history_ok {
        0
    } else {
        1
    })
}

/// The log of rank `r` in `demo --ranks`.
fn rank_log_name(r: usize) -> String {
    format!("run_{r:04}.log")
}

/// A file name of the demo's own pattern: `run_<digits>.log` (a rank's
/// log) or `run_<digits>.log.idx` (its index); the rank, if it parses.
fn demo_file(name: &str) -> Option<Option<usize>> {
    let rest = name.strip_prefix("run_")?;
    let digits = rest
        .strip_suffix(".log.idx")
        .or_else(|| rest.strip_suffix(".log"))?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().ok())
}

/// Names shown of a long list of files.
const NAMES_SHOWN: usize = 8;

fn name_list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(NAMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMES_SHOWN {
        s += &format!(" and {} more", names.len() - NAMES_SHOWN);
    }
    s
}

/// Makes `dir` ready for `ranks` logs: the logs the run overwrites must be
/// mapio logs (or `force`), and files of an earlier run with more ranks
/// (`run_NNNN.log` past the last rank, and any `run_NNNN.log.idx` of
/// those), which would join the set, are refused, or removed with
/// `force`. Only files of the demo's own naming pattern are ever removed;
/// other files matching `run_*.log` are always refused.
fn prepare_rank_dir(dir: &Path, ranks: usize, force: bool) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(usage(format!(
                "{} exists and is not a directory: with --ranks N, --log names a directory",
                dir.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(crate::cmd::args::io_error(dir, "stat", e)),
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| crate::cmd::args::io_error(dir, "read_dir", e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let ours = |name: &str| {
        (0..ranks).any(|r| {
            let log = rank_log_name(r);
            name == log || name.strip_suffix(".idx") == Some(log.as_str())
        })
    };
    let mut leftovers = Vec::new();
    let mut foreign = Vec::new();
    for name in names {
        if ours(&name) {
            if !name.ends_with(".idx") {
                check_overwrite(&dir.join(&name), force)?;
            }
        } else if demo_file(&name).is_some() {
            leftovers.push(name);
        } else if name.starts_with("run_") && name.ends_with(".log") {
            foreign.push(name);
        }
    }
    let pattern = dir.join("run_*.log");
    if !foreign.is_empty() {
        return Err(usage(format!(
            "{} holds files that match {} but are not the demo's own (run_NNNN.log): {}; the set \
             would include them: remove or rename them, or pick another --log directory",
            dir.display(),
            pattern.display(),
            name_list(&foreign)
        )));
    }
    if leftovers.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(usage(format!(
            "{} holds {} from an earlier run with more ranks; this run writes {} to {} and the \
             old files would join the set ({}): remove them or pick another --log directory, \
             or pass --force to remove them",
            dir.display(),
            name_list(&leftovers),
            rank_log_name(0),
            rank_log_name(ranks - 1),
            pattern.display()
        )));
    }
    for name in &leftovers {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(|e| crate::cmd::args::io_error(&path, "remove", e))?;
    }
    Ok(())
}
