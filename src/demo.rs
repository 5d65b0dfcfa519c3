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
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mapio::array::DType;
use mapio::log::{Entry, Flags, FollowOptions, Log, LogOptions, LogReader, Schema};
use serde_json::json;

/// Options of `mapio demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to write the log (default: a temporary file, removed at the end).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Writer threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Particles.
    #[arg(long, default_value_t = 50_000)]
    pub particles: usize,
    /// Simulation steps; every particle is logged at every step.
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    /// Make the log durable (`sync`) every K steps.
    #[arg(long, default_value_t = 10)]
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
    /// Run N writer processes, one log each (`run_0000.log`, ...; `--log`
    /// is then a directory), the way an MPI code writes one log per rank.
    /// Particles move between ranks as they orbit: an EXIT record in one
    /// log, an ENTER record in the other.
    #[arg(long, default_value_t = 1)]
    pub ranks: usize,
}

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
    if args.ranks > 1 {
        return run_ranks(args);
    }
    let dir = tempfile_dir()?;
    let (path, keep) = match &args.log {
        Some(p) => (p.clone(), true),
        None => (dir.join("mapio-demo.log"), false),
    };
    let log = LogOptions::new()
        .schema(schema()?)
        .dense_keys(args.particles)
        .create(&path)?;
    let record_len = 16 + 24 + PAYLOAD as u64;
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
    let stats = std::sync::Arc::new(Mutex::new(FollowerStats::default()));
    let reader_thread = follower.as_mut().and_then(|c| c.stdout.take()).map(|out| {
        let stats = std::sync::Arc::clone(&stats);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
                s.records = v["records"].as_u64().unwrap_or(s.records);
                if let Some(lag) = v["lag_bytes"].as_u64() {
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
            let lag = stats.lock().map(|s| s.records).unwrap_or(0);
            emit(
                args.json,
                json!({"event": "synced", "step": step + 1, "records": records, "offset": offset,
                       "sync_ms": ms, "follower_records": lag}),
                format!(
                    "  step {:>4}: {records} records, durable up to byte {offset} (sync {ms:.1} ms, \
                     follower has read {lag})",
                    step + 1
                ),
            );
            last_sync = Instant::now();
        }
        Ok(())
    })?;
    let _ = last_sync;
    let bytes = log.tail() - mapio::log::format::HEADER_LEN;
    let final_size = log.close()?;

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
    }
    let fstats = stats
        .lock()
        .map(|s| {
            (
                s.records,
                s.max_lag_bytes,
                if s.samples > 0 {
                    s.lag_sum / s.samples as f64
                } else {
                    0.0
                },
                s.done,
            )
        })
        .unwrap_or_default();

    // The comparison run: same records, same threads, one locked BufWriter.
    let compare = if args.no_compare {
        None
    } else {
        let cmp_path = dir.join("mapio-demo-bufwriter.bin");
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
        "file_size": final_size,
        "seconds": run.seconds,
        "records_per_s": rate,
        "mb_per_s": mb / run.seconds,
        "threads": args.threads,
        "follower": if args.no_follow { serde_json::Value::Null } else {
            json!({"records": fstats.0, "max_lag_bytes": fstats.1, "mean_lag_bytes": fstats.2,
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
            println!(
                "  follower    read {} records live from another process; lag max {:.1} MB, mean {:.1} MB{}",
                fstats.0,
                fstats.1 as f64 / 1e6,
                fstats.2 / 1e6,
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
    if !keep {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }
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

fn tempfile_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let d = base.join(format!("mapio-demo-{}-{i}", std::process::id()));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).context("cannot create a temporary directory"),
        }
    }
    anyhow::bail!("cannot create a temporary directory")
}

/// The follower process (`mapio demo-follow LOG`): follows the log live
/// and prints, as JSON lines, how many records it has read and how far
/// behind the writers it is.
pub fn follow_main(path: &Path) -> Result<i32> {
    let reader = LogReader::open(path)?;
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
        if last_report.elapsed() > Duration::from_millis(100) {
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
    let log = LogOptions::new()
        .schema(schema()?)
        .dense_keys(d.particles)
        .create(path)?;
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
    let (dir, keep) = match &args.log {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            (d.clone(), true)
        }
        None => (tempfile_dir()?, false),
    };
    if !args.json {
        println!(
            "mapio demo: {} ranks (processes) x {} threads, {} particles x {} steps -> {}/run_NNNN.log",
            args.ranks,
            args.threads,
            args.particles,
            args.steps,
            dir.display()
        );
    }
    let exe = std::env::current_exe().context("cannot find the mapio executable")?;
    let start = Instant::now();
    let mut children = Vec::new();
    for r in 0..args.ranks {
        let log = dir.join(format!("run_{r:04}.log"));
        let child = Command::new(&exe)
            .arg("demo-rank")
            .args(["--rank", &r.to_string(), "--log"])
            .arg(&log)
            .args(["--ranks", &args.ranks.to_string()])
            .args(["--threads", &args.threads.to_string()])
            .args(["--particles", &args.particles.to_string()])
            .args(["--steps", &args.steps.to_string()])
            .args(["--sync-every", &args.sync_every.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start a rank process")?;
        children.push(child);
    }
    let (mut records, mut enters, mut exits, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut failed = false;
    for mut child in children {
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
        failed |= !child.wait()?.success();
    }
    let seconds = start.elapsed().as_secs_f64();
    if failed {
        anyhow::bail!("a rank process failed");
    }
    // Read the set back as one: every particle present at the last step,
    // and a particle that moved has one continuous history.
    let set = mapio::log::LogSet::open(&dir, &mapio::log::SetOptions::new())?;
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
                "  logs kept in {} (try: mapio at '{}/run_*.log' --time {last})",
                dir.display(),
                dir.display()
            );
        } else {
            println!("  (pass --log DIR to keep the logs)");
        }
    }
    if !keep {
        drop(set);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(if state.len() == args.particles && history_ok {
        0
    } else {
        1
    })
}
