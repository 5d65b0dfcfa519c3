//! `mapio tail [-f] LOG`: the last records of a log, or follow it live.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mapio::log::{FollowOptions, Index, IndexState, LogReader};

use super::args::open_log;
use super::out::Out;
use super::records::print_record;
use super::{Exit, Outcome};

/// Print the last records of a log, or follow it as it grows (-f).
///
/// With -f, records are printed as soon as their writer commits them, and
/// tail exits (0) when the writer closes the log or goes away, or after
/// --idle-timeout without a new record. With -F it stays when the writer
/// leaves and follows the next session too (a run restarted on the log).
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("following").args(["follow", "follow_restarts"]))]
pub struct Args {
    /// The log
    pub path: PathBuf,
    /// Follow the log: print records as they are committed
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Follow the log across restarts: as -f, but when the writer closes
    /// the log or dies, wait for the next one to reopen it and go on
    /// (until Ctrl-C or --idle-timeout)
    #[arg(short = 'F', long)]
    pub follow_restarts: bool,
    /// Print the last N records [default: 10; with -f: all, from the start]
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// With -f: skip the records that exist now, print only new ones
    #[arg(long, requires = "following", conflicts_with = "lines")]
    pub from_end: bool,
    /// With -f: exit after this many seconds without a new record
    #[arg(long, value_name = "SECS", requires = "following", value_parser = parse_secs)]
    pub idle_timeout: Option<Duration>,
    /// Wait up to this many seconds for the log to be created (a writer
    /// started beside tail), instead of failing at once
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub wait: Option<Duration>,
    /// One JSON object per record, per line (as `cat --json`)
    #[arg(long)]
    pub json: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|x| Duration::try_from_secs_f64(x).ok())
        .ok_or_else(|| format!("bad duration {s:?}: give seconds, e.g. 5 or 0.5"))
}

pub fn run(args: Args) -> Outcome {
    let r = match args.wait {
        Some(d) => mapio::log::LogReader::open_wait(&args.path, d)?,
        None => open_log(&args.path, "tail")?,
    };
    let schema = r.schema();
    let mut out = Out::new();
    if !args.follow && !args.follow_restarts {
        let n = args.lines.unwrap_or(10);
        let mut last = VecDeque::with_capacity(n.min(1 << 16));
        for rec in r.records_from(scan_start(&r, &args.path, n)) {
            if last.len() == n {
                last.pop_front();
            }
            if n > 0 {
                last.push_back(rec);
            }
        }
        for rec in &last {
            print_record(&mut out, rec, schema, args.json)?;
        }
        out.flush()?;
        return Ok(Exit::Ok);
    }
    // `-f -n N`: start at the N-th last record that exists now.
    let start = args.lines.map(|n| {
        let mut last = VecDeque::with_capacity(n.min(1 << 16) + 1);
        let mut end = 0;
        for rec in r.records_from(scan_start(&r, &args.path, n)) {
            end = rec.next_offset();
            last.push_back(rec.offset);
            if last.len() > n {
                last.pop_front();
            }
        }
        last.front().copied().unwrap_or(end)
    });
    let mut options = FollowOptions::new()
        .from_end(args.from_end)
        .idle_timeout(args.idle_timeout)
        .stop_at_end(!args.follow_restarts);
    if let Some(at) = start {
        options = options.start_at(at);
    }
    let mut follow = r.follow(options);
    for rec in follow.by_ref() {
        print_record(&mut out, &rec, schema, args.json)?;
        out.flush()?;
    }
    if follow.end() == Some(mapio::log::FollowEnd::WriterGone) {
        eprintln!(
            "mapio: note: the writer left without closing {} (it crashed or was killed); \
             every record it committed was printed (`mapio recover` makes it appendable)",
            args.path.display()
        );
    }
    if let Some(first) = follow.gaps().first() {
        eprintln!(
            "mapio: note: stepped over {} range(s) holding no good record, the first at \
             offset {}..{} ({})",
            follow.gaps().len(),
            first.from,
            first.to,
            first.why
        );
    }
    // The library's follow stops at the first end record when no writer
    // is attached, even if later sessions appended after it (a log closed,
    // reopened, appended to and closed again): print what is left.
    for rec in r.records_from(follow.position()) {
        print_record(&mut out, &rec, schema, args.json)?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// Where to start reading for the last `n` records of the log at `path`:
/// with a fresh index next to it (`mapio index`), a record boundary its
/// checkpoints give, late enough to skip most of the log and early enough
/// that at least `n` records start at or after it (counted from the end
/// back, one checkpoint interval at a time); else the start of the log.
fn scan_start(r: &LogReader, path: &Path, n: usize) -> u64 {
    let first = mapio::log::format::HEADER_LEN;
    let Ok(IndexState::Fresh(idx)) = Index::load(r, &Index::path_for(path, None)) else {
        return first;
    };
    let covered = idx.covered();
    // Checkpoint bounds are record boundaries below what the index covers;
    // one where no record starts (a crafted index) is not used.
    let mut bounds: Vec<u64> = idx
        .checkpoints()
        .iter()
        .flat_map(|c| [c.prefix_end, c.suffix_start])
        .filter(|&b| b > first && b < covered && r.read_at(b).is_ok())
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    // Records past the index, then back one interval at a time.
    let mut count = r.records_from(covered).count();
    let mut upper = covered;
    for &b in bounds.iter().rev() {
        if count >= n {
            return upper;
        }
        count += r
            .records_from(b)
            .take_while(|rec| rec.offset < upper)
            .count();
        upper = b;
    }
    if count >= n { upper } else { first }
}
