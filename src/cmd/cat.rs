//! `mapio cat PATH`: an array's elements (C order of the logical array)
//! or a log's records, as text or JSON.

use std::path::PathBuf;

use mapio::array::DynArray;
use mapio::log::{LogReader, LogSet, SetOptions};

use super::args::{Opened, RawLayout, Slice, open_any, parse_slice};
use super::out::{Out, scalar_json};
use super::progress::Progress;
use super::records::print_record;
use super::{Exit, Outcome, usage};

/// Print an array's elements or a log's records.
///
/// Arrays: one element per line in C order of the logical array, as NumPy
/// prints it; with --json one JSON array (complex as [re, im], nan and inf
/// as strings). Logs: one record per line; with --json one JSON object per
/// line (offset, len, key, prev, time, flags, payload_len, and fields or
/// payload_hex; both for a payload shorter than the schema's).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A .npy file, a log, or a raw array (with --dtype)
    pub path: PathBuf,
    #[command(flatten)]
    pub raw: RawLayout,
    /// Arrays: only elements START:STOP[:STEP] of the C-order sequence
    /// (negative counts from the end), or one index N
    #[arg(long, value_name = "START:STOP", value_parser = parse_slice, allow_hyphen_values = true)]
    pub slice: Option<Slice>,
    /// Logs: only this key's records, in file order (its history), found
    /// through the log's index when it has one
    #[arg(long, value_name = "K")]
    pub key: Option<u64>,
    /// Logs, with --key: where the index is (default: next to the log, as
    /// LOG.idx)
    #[arg(long, value_name = "DIR", requires = "key")]
    pub index_dir: Option<PathBuf>,
    /// Logs, with --key: ignore the index and scan
    #[arg(long, requires = "key")]
    pub no_index: bool,
    /// Logs: start at this record offset
    #[arg(long, value_name = "OFFSET")]
    pub from: Option<u64>,
    /// Logs: print at most N records
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// JSON output: an array's elements as one JSON array; a log's records
    /// as JSON lines
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let mut out = Out::new();
    match open_any(&args.path, &args.raw)? {
        Opened::Array(a) => {
            if args.key.is_some() || args.from.is_some() || args.limit.is_some() {
                return Err(usage(format!(
                    "{}: --key, --from and --limit apply to logs; this is an array (use --slice)",
                    args.path.display()
                )));
            }
            cat_array(&mut out, &a, args.slice, args.json)?;
        }
        Opened::Log(r) => {
            if args.slice.is_some() {
                return Err(usage(format!(
                    "{}: --slice applies to arrays; this is a log (use --from and --limit)",
                    args.path.display()
                )));
            }
            cat_log(&mut out, &r, &args)?;
        }
    }
    out.flush()?;
    Ok(Exit::Ok)
}

fn cat_array(out: &mut Out, a: &DynArray, slice: Option<Slice>, json: bool) -> anyhow::Result<()> {
    let (range, step) = match slice {
        Some(s) => s.resolve(a.len())?,
        None => (0..a.len(), 1),
    };
    let total = (range.len() as u64).div_ceil(step as u64);
    let progress = Progress::bar("printing", total, 1 << 22);
    if json {
        out.raw("[")?;
    }
    let mut first = true;
    for (k, s) in a.iter_c(range).step_by(step).enumerate() {
        if json {
            if !first {
                out.raw(",")?;
            }
            out.json(&scalar_json(&s))?;
        } else {
            out.line(&a.dtype().text(&s))?;
        }
        first = false;
        if k % (1 << 20) == 0 {
            progress.set(k as u64);
        }
    }
    if json {
        out.raw("]\n")?;
    }
    Ok(())
}

fn cat_log(out: &mut Out, r: &LogReader, args: &Args) -> anyhow::Result<()> {
    let schema = r.schema();
    let limit = args.limit.unwrap_or(usize::MAX);
    let from = args.from.unwrap_or(0);
    if let Some(key) = args.key {
        // Every intact record of the key, found through the index or by a
        // scan (not by walking the chain, which a damaged or
        // recovered-over record breaks); a broken link is reported, not
        // fatal.
        let mut options = SetOptions::new().no_index(args.no_index);
        if let Some(dir) = &args.index_dir {
            options = options.index_dir(dir);
        }
        // The path as given (a name with `*` or `?` is no pattern here).
        let set = LogSet::open_file(r.path(), &options)?;
        // The key's offsets first, then each record as it is printed.
        let records = super::progress::with_scan_bar(&set, "finding the records", || {
            set.key_records_from(0, key, from)
        })?;
        let mut last = None;
        let mut broken = None;
        for rec in records.take(limit) {
            let rec = rec?;
            // A record with a link must link to the one shown before it
            // (the first, to none), unless --from cut the chain.
            let linked = rec.prev.is_some() && !(last.is_none() && args.from.is_some());
            if broken.is_none() && linked && rec.prev_offset() != last {
                broken = Some(rec.offset);
            }
            last = Some(rec.offset);
            print_record(out, &rec, schema, args.json)?;
        }
        if last.is_none() && !args.json && args.limit != Some(0) {
            // An empty stdout alone does not say whether the key exists.
            let past = if args.from.is_some() {
                " from that offset on"
            } else {
                ""
            };
            eprintln!("mapio: note: no records of key {key} in the log{past}");
        }
        super::set::note_damage(&set);
        if let Some(at) = broken {
            eprintln!(
                "mapio: warning: key {key}'s history chain is broken at offset {at} (a record \
                 it links to is missing or damaged); every intact record of the key is shown"
            );
        }
    } else {
        let records = match args.from {
            Some(off) => r.records_from(off),
            None => r.records(),
        };
        for rec in records.take(limit) {
            print_record(out, &rec, schema, args.json)?;
        }
    }
    Ok(())
}
