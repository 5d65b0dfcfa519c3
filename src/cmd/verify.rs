//! `mapio verify PATH...`: check logs record by record (or a `.npy`
//! file's header and size) without changing them.

use std::path::{Path, PathBuf};

use mapio::array::DynArray;
use mapio::log::ScanReport;
use serde_json::{Value, json};

use super::args::{Sniffed, has_ext, sniff};
use super::info::{array_json, ranges_json};
use super::out::{Out, bytes_text};
use super::progress::Progress;
use super::{Exit, Outcome};

/// Check a log (or a .npy file) without changing it.
///
/// Logs: every record's checksum is checked; holes (space a crashed writer
/// reserved and never wrote) are reported as a warning, damaged ranges
/// make verify exit 1. A .npy file: its header must parse and the file's
/// size must match it (exit 3 otherwise).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mapio logs or .npy files; a directory or a pattern like
    /// 'run_*.log' (quoted) stands for its logs, as in `mapio at`
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let mut paths = Vec::new();
    for p in &args.paths {
        // A directory or a pattern stands for its logs, as in `mapio at`.
        let pattern = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(['*', '?']));
        if p.is_dir() || (pattern && !p.exists()) {
            paths.extend(mapio::log::expand(p)?);
        } else {
            paths.push(p.clone());
        }
    }
    let mut out = Out::new();
    let mut exit = Exit::Ok;
    let mut docs = Vec::new();
    for path in &paths {
        let (e, doc) = verify_one(&mut out, path, args.json)?;
        if e != Exit::Ok {
            exit = e;
        }
        docs.extend(doc.map(|d| (path, d)));
    }
    if args.json {
        match docs.as_slice() {
            [(_, doc)] => out.json_doc(doc)?,
            _ => {
                let ok = docs.iter().all(|(_, d)| d["ok"] == true);
                let files: Vec<Value> = docs
                    .into_iter()
                    .map(|(path, mut d)| {
                        d["path"] = json!(path);
                        d
                    })
                    .collect();
                out.json_doc(&json!({ "ok": ok, "files": files }))?;
            }
        }
    }
    out.flush()?;
    Ok(exit)
}

/// Verifies one file: prints its report (text), or returns it (JSON).
fn verify_one(out: &mut Out, path: &Path, json: bool) -> anyhow::Result<(Exit, Option<Value>)> {
    let is_npy = match sniff(path)? {
        Sniffed::Npy => true,
        Sniffed::Log => false,
        Sniffed::Other(_) => has_ext(path, "npy"),
    };
    if is_npy {
        return verify_npy(out, path, json);
    }
    let reader = mapio::log::LogReader::open(path)?;
    let report = {
        let _p = Progress::spinner("verifying log");
        super::info::scan_log(&reader)
    };
    let exit = if report.is_intact() {
        Exit::Ok
    } else {
        Exit::Damage
    };
    if json {
        return Ok((exit, Some(log_json(&report))));
    }
    // Whether its last writer closed it (the header says so): damage
    // found then came later, not from a crash.
    print_log_report(out, path, &report, reader.closed_cleanly())?;
    Ok((exit, None))
}

fn verify_npy(out: &mut Out, path: &Path, json: bool) -> anyhow::Result<(Exit, Option<Value>)> {
    // Opening parses the header and checks that the data fits the file.
    let a = DynArray::open_npy(path)?;
    let info = a.info();
    let end = info.data_offset + info.data_len;
    if info.file_size != end {
        return Err(mapio::Error::Corrupt {
            path: path.to_path_buf(),
            offset: end,
            what: format!(
                "the header describes {} bytes of data from offset {}, ending at {end}, but the \
                 file has {} bytes: {} bytes too many",
                info.data_len,
                info.data_offset,
                info.file_size,
                info.file_size - end
            ),
        }
        .into());
    }
    if json {
        let mut v = array_json(info);
        v["ok"] = true.into();
        return Ok((Exit::Ok, Some(v)));
    } else {
        out.line(&format!(
            "{}: OK: .npy header parses, {} {} data of {} fits the file ({})",
            path.display(),
            info.dtype.descr(),
            super::out::shape_text(&info.shape),
            bytes_text(info.data_len),
            bytes_text(info.file_size),
        ))?;
    }
    Ok((Exit::Ok, None))
}

fn log_json(r: &ScanReport) -> Value {
    json!({
        "ok": r.is_intact(),
        "records": r.records,
        "keys": r.keys,
        "padding": r.padding,
        "holes": ranges_json(&r.holes),
        "damaged": ranges_json(&r.damaged),
        "clean": r.clean,
        "live": r.live,
        "end_offset": r.end_offset,
        "file_size": r.file_size,
    })
}

fn print_log_report(
    out: &mut Out,
    path: &Path,
    r: &ScanReport,
    closed: bool,
) -> std::io::Result<()> {
    let p = path.display();
    out.line(&format!(
        "{p}: {} good records, {} padding, up to offset {} (file: {})",
        r.records,
        r.padding,
        r.end_offset,
        bytes_text(r.file_size)
    ))?;
    for h in &r.holes {
        out.line(&format!(
            "  warning: hole {}..{} ({} bytes): space reserved by a writer that never wrote it \
             (stepped over, nothing lost)",
            h.from,
            h.to,
            h.to - h.from
        ))?;
    }
    for d in &r.damaged {
        out.line(&format!(
            "  damaged {}..{} ({} bytes): {}",
            d.from,
            d.to,
            d.to - d.from,
            d.why
        ))?;
    }
    if r.live {
        out.line("  live: a writer is attached; records may still be arriving")?;
    } else if r.clean {
        out.line("  closed cleanly")?;
    } else if closed && !r.damaged.is_empty() {
        out.line(
            "  closed cleanly by its writer, damaged since (the ranges above: the disk, or a \
             program outside mapio)",
        )?;
    } else {
        out.line(&format!(
            "  not closed cleanly (the writer crashed or was killed); `mapio recover {p}` makes \
             it appendable again, keeping every good record"
        ))?;
    }
    if r.is_intact() {
        out.line("OK")?;
    } else {
        out.line(&format!(
            "DAMAGED: {} damaged range(s); the good records around them are readable; `mapio \
             recover {p}` keeps them and covers the damage",
            r.damaged.len()
        ))?;
    }
    Ok(())
}
