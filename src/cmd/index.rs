//! `mapio index LOGS`: build (or extend, or rebuild) the sidecar index of
//! each log, so that `at`, `history` and `export` need not scan.

use serde_json::json;

use super::args::io_error;
use super::out::{Out, bytes_text};
use super::progress::Progress;
use super::set::SetArgs;
use super::{Exit, Outcome};

/// Build the sidecar index of a log or a set of logs.
///
/// The index (LOG.idx, or in --index-dir) holds each key's record offsets
/// and time checkpoints. It is extended when the log has grown, rebuilt
/// when it no longer matches (or with --rebuild), and never required: every query works
/// without it, only slower. The log itself is never changed.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub set: SetArgs,
    /// Build every index anew, even one that seems to match the log
    #[arg(long)]
    pub rebuild: bool,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let mut set = args.set.open()?;
    let files: Vec<_> = set.files().iter().map(|p| p.to_path_buf()).collect();
    let sizes: Vec<u64> = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let bar = Progress::bar("indexing", total, 64 << 20);
    let done_before: Vec<u64> = sizes
        .iter()
        .scan(0u64, |acc, &s| {
            let b = *acc;
            *acc += s;
            Some(b)
        })
        .collect();
    // An index is written under a temporary name, then renamed.
    if let Some(d) = &args.set.index_dir {
        std::fs::create_dir_all(d).map_err(|e| io_error(d, "mkdir", e))?;
    }
    let ipaths: Vec<_> = files
        .iter()
        .map(|p| mapio::log::Index::path_for(p, args.set.index_dir.as_deref()))
        .collect();
    let dirs = ipaths
        .iter()
        .filter_map(|i| i.parent().map(|d| d.to_path_buf()))
        .collect();
    super::clean_up_on_signal(dirs)?;
    let last = files.len().saturating_sub(1);
    let mut cb = |file: usize, done: u64, all: u64| {
        bar.set(done_before[file] + done);
        if file == last && done >= all {
            bar.next_part("sorting and writing the index");
        }
    };
    let built = if args.rebuild {
        set.rebuild_indexes(Some(&mut cb))
    } else {
        set.build_indexes(Some(&mut cb))
    };
    let notes = built.map_err(|e| {
        let readonly = matches!(&e, mapio::Error::Io { source, .. }
            if matches!(source.kind(), std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem));
        if readonly && args.set.index_dir.is_none() {
            let msg = format!(
                "{e}; an index goes next to its log unless --index-dir DIR puts it elsewhere"
            );
            anyhow::Error::new(e).context(msg)
        } else {
            anyhow::Error::new(e)
        }
    })?;
    drop(bar);
    let mut out = Out::new();
    let mut rows = Vec::new();
    for (i, ((path, ipath), what)) in files.iter().zip(&ipaths).zip(&notes).enumerate() {
        let isize = std::fs::metadata(ipath).map(|m| m.len()).unwrap_or(0);
        // Keys whose records are out of time order: a state reads all of
        // their records (and scans when they are most keys).
        let (keys, unordered) = set
            .index(i)
            .map_or((0, 0), |x| (x.keys().len(), x.unordered().len()));
        // The index against the log's records, not its file: a log left
        // at its allocated size (closed while a reader was attached) is
        // larger than what it holds.
        let data = set.index(i).map_or(sizes[i], |x| x.covered().min(sizes[i]));
        rows.push(json!({
            "log": path, "index": ipath, "action": what,
            "log_bytes": sizes[i], "log_data_bytes": data, "index_bytes": isize,
            "ratio": if data > 0 { isize as f64 / data as f64 } else { 0.0 },
            "keys": keys, "unordered_keys": unordered,
        }));
        if !args.json {
            let order = match unordered {
                0 => String::new(),
                u if 2 * u > keys => format!(
                    "; {u} of {keys} keys out of time order: a state at a time scans this log"
                ),
                u => format!(
                    "; {u} of {keys} keys out of time order (a state reads all their records)"
                ),
            };
            // "rebuilt: why" reads "rebuilt IDX (...); why".
            let (verb, why) = match what.split_once(": ") {
                Some((verb, why)) => (verb, format!("; {why}")),
                None => (what.as_str(), String::new()),
            };
            out.line(&format!(
                "{}: {verb} {} ({}, {:.1}% of the size of the log's records){order}{why}",
                path.display(),
                ipath.display(),
                bytes_text(isize),
                100.0 * isize as f64 / data.max(1) as f64
            ))?;
        }
    }
    if args.json {
        out.json_doc(&json!({ "indexes": rows }))?;
    }
    out.flush()?;
    Ok(Exit::Ok)
}
