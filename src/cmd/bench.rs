//! `mapio bench`: the speed of memory mapping, measured side by side on
//! this machine, with the alternatives run interleaved in the same rounds.
//! The workloads, the contenders and the statistics live in the
//! `mapio-bench` library (`benches/`); this is the command line around it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mapio_bench::chart::svg_chart;
use mapio_bench::harness::report_text;
use mapio_bench::latency::{Transport, peer_main};
use mapio_bench::numpy::{NumpyPeer, numpy_available, python};
use mapio_bench::suite::{Progress, SuiteOptions, planned_runs, run_suite};

use super::out::Out;
use super::{Exit, Outcome, usage};

/// Measure mapio against the alternatives on this machine, side by side.
///
/// Workloads (each one's contenders run interleaved, one run each per
/// round, the order rotated and reversed from round to round):
///   array_write       create + fill + durable flush + close of a large f64
///                     array: mapio, the raw C recipe, std BufWriter, memmap2
///   array_seq_sum     sum of a cached file: mapio, read, pread, memmap2
///   array_random_4k   random 4 KiB reads of a cached file: mapio, pread, memmap2
///   log_append_*      64 B and 1 KiB records from 1 and N threads, ending
///                     durable: mapio's log, Mutex<BufWriter>, the raw SWIFT
///                     recipe, and the limits (memcpy; copy into fresh mapped pages)
///   latency           commit-to-visible latency across two processes: mapio's
///                     log followed live, a Unix socket, a pipe
///   log_query         the state of every object at one time over a large log:
///                     with the sidecar index, and by scanning every record
///
/// Every contender's output is checked (a checksum); if any disagrees the
/// results are marked invalid and the command exits 1. The ratio column is
/// the contender's median over mapio's: above 1, mapio is faster.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    peer: Option<PeerCommand>,
    /// Fewer rounds and 32 MiB arrays: under a minute
    #[arg(long)]
    pub quick: bool,
    /// Array size in bytes (suffixes K, M, G, KiB, MiB, GiB); the log
    /// workloads append half as many payload bytes a run [default: 128 MiB,
    /// 32 MiB with --quick]
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub size: Option<u64>,
    /// Print one JSON document on stdout instead of the tables
    #[arg(long)]
    pub json: bool,
    /// Write an SVG bar chart of the results to this file
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Add NumPy's np.memmap to the array workloads (python3, or
    /// $MAPIO_PYTHON; skipped with a note if NumPy is missing)
    #[arg(long)]
    pub numpy: bool,
    /// Threads of the multi-threaded log workloads
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Timed rounds of every workload, instead of the defaults
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: Option<u32>,
    /// Run only the workloads whose names start with these (comma-separated:
    /// array, log_append_1KiB, latency, ...)
    #[arg(long, value_name = "WORKLOAD", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where to put the benchmark's files [default: the temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum PeerCommand {
    /// The reader of the latency workload, in its own process (internal).
    #[command(hide = true)]
    Peer(PeerArgs),
}

#[derive(clap::Args, Debug)]
struct PeerArgs {
    /// mapio, unix_socket or pipe
    transport: String,
    /// Records to read
    #[arg(long)]
    count: usize,
    /// The log or the socket
    #[arg(long)]
    path: Option<PathBuf>,
}

/// `--size`: bytes, with an optional K/M/G (or KiB/MiB/GiB) suffix, powers
/// of 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}: write e.g. 1048576, 64M or 1GiB"))?;
    let k: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        other => return Err(format!("bad size {s:?}: unknown unit {other:?}")),
    };
    n.checked_mul(k)
        .ok_or_else(|| format!("bad size {s:?}: too large"))
}

pub fn run(args: Args) -> Outcome {
    if let Some(PeerCommand::Peer(p)) = args.peer {
        return peer(p);
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = WorkDir::create(&base)?;
    let mut opts =
        SuiteOptions::new(args.quick, args.size, work.path()).map_err(|e| usage(e.to_string()))?;
    opts.threads = usize::from(args.threads);
    opts.rounds = args.rounds.map(|r| r as usize);
    opts.only = args.only.clone();
    opts.command = command_line();
    let names = opts.workload_names()?;
    if let Some(o) = opts
        .only
        .iter()
        .find(|o| !names.iter().any(|n| n.starts_with(o.as_str())))
    {
        return Err(usage(format!(
            "--only {o} names no workload (they are: {})",
            names.join(", ")
        )));
    }

    let mut notes = Vec::new();
    let mut numpy = None;
    if args.numpy {
        let py = python();
        if numpy_available(&py) {
            numpy = Some(NumpyPeer::start(&py)?);
        } else {
            let note = format!(
                "NumPy not found ({} -c 'import numpy' failed; set MAPIO_PYTHON to a Python that has it): np.memmap left out",
                py.to_string_lossy()
            );
            eprintln!("mapio: note: {note}");
            notes.push(note);
        }
    }

    let exe = std::env::current_exe()?;
    let peer_cmd = move |a: &[String]| {
        let mut c = Command::new(&exe);
        c.arg("bench").arg("peer").args(a);
        c
    };
    let total = planned_runs(&opts, numpy.is_some())?;
    let bar = progress_bar(total);
    let mut on_progress = |p: &Progress| {
        if let Some(b) = &bar {
            b.set_message(p.workload.clone());
            b.set_position(p.done);
        }
    };
    let result = run_suite(&opts, numpy.as_mut(), &peer_cmd, &mut on_progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut report = result?;
    report.settings.numpy = numpy.as_ref().map(|n| n.version.clone());
    report.notes.extend(notes);
    drop(numpy);

    let mut out = Out::new();
    if args.json {
        out.raw(&report.to_json())?;
        out.line("")?;
    } else {
        out.raw(&report_text(&report))?;
    }
    out.flush()?;
    if let Some(file) = &args.plot {
        let svg = svg_chart(&report).map_err(anyhow::Error::msg)?;
        std::fs::write(file, svg)
            .map_err(|e| anyhow::anyhow!("{}: cannot write the chart: {e}", file.display()))?;
        eprintln!("mapio: wrote the chart to {}", file.display());
    }
    if !report.valid {
        let mut err = std::io::stderr().lock();
        for p in report.problems() {
            let _ = writeln!(err, "mapio: checksum mismatch: {p}");
        }
        let _ = writeln!(
            err,
            "mapio: the results are invalid: a contender did not do the same work"
        );
        return Ok(Exit::Damage);
    }
    Ok(Exit::Ok)
}

/// The reader side of the latency workload (`mapio bench peer ...`).
fn peer(p: PeerArgs) -> Outcome {
    let t = Transport::from_name(&p.transport).ok_or_else(|| {
        usage(format!(
            "unknown transport {:?}: mapio, unix_socket or pipe",
            p.transport
        ))
    })?;
    let mut stdout = std::io::stdout().lock();
    peer_main(t, p.path.as_deref(), p.count, &mut stdout)?;
    Ok(Exit::Ok)
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let mut args = std::env::args();
    let _ = args.next();
    let rest: Vec<String> = args.collect();
    format!("mapio {}", rest.join(" "))
}

/// An indicatif bar on stderr, only when stderr is a terminal.
fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:20} [{bar:40}] {pos}/{len} runs {elapsed}/{eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.enable_steady_tick(Duration::from_millis(200));
    Some(pb)
}

/// A directory of the run's own under `base`, removed at the end.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(base: &Path) -> anyhow::Result<WorkDir> {
        let dir = base.join(format!("mapio-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot create the benchmark's directory: {e}",
                dir.display()
            )
        })?;
        Ok(WorkDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert!(parse_size("").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
