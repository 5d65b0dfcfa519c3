//! `mapio recover LOG`: make a log that was not closed cleanly clean and
//! appendable again, keeping every good record.

use std::path::PathBuf;

use mapio::log::{Recovery, ScanReport};
use serde_json::json;

use super::args::{io_error, open_log};
use super::info::ranges_json;
use super::out::{Out, bytes_text};
use super::progress::Progress;
use super::{Exit, Outcome};

/// Recover a log after a crash: keep every good record, cover holes and
/// damage with padding, write an end record, truncate.
///
/// Fails with exit code 4 while a writer has the log open. With readers
/// attached (a `tail -f`, a query), a crashed log is recovered beside them
/// but keeps its allocated size; run recover again once they are gone to
/// give it back. A log that is already clean is left untouched, unless it
/// was closed while a reader had it open: the space left after its end
/// record is then given back (truncated; exit code 4 while readers are
/// attached), and nothing else changes.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The log
    pub path: PathBuf,
    /// Keep only the records before the first damage or hole, dropping
    /// everything after it (default: step over damage, keep what follows)
    #[arg(long)]
    pub stop_at_damage: bool,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let path = &args.path;
    // Look first (read-only): a clean log is left alone, and the count of
    // records tells what --stop-at-damage drops.
    let before = {
        let r = open_log(path, "recover")?;
        let _p = Progress::spinner("scanning log");
        let scan = r.scan();
        (scan, r.closed_cleanly())
    };
    let (scan, closed) = before;
    // A clean log closed while another process had it open keeps its
    // allocated space past the end record: recovery truncates it.
    let past_end = scan.file_size > scan.end_offset.next_multiple_of(4096);
    let already_clean = closed
        && scan.clean
        && !scan.live
        && scan.holes.is_empty()
        && scan.damaged.is_empty()
        && !past_end;
    let trimmed_only = closed
        && scan.clean
        && !scan.live
        && scan.holes.is_empty()
        && scan.damaged.is_empty()
        && past_end;
    let (report, changed) = if already_clean {
        (scan.clone(), false)
    } else if trimmed_only && mapio::log::trim(path)?.is_some() {
        // Clean, only left at its allocated size: truncated, and nothing
        // else changes (no new session, no second end record).
        (scan.clone(), true)
    } else {
        let recovery = if args.stop_at_damage {
            Recovery::StopAtDamage
        } else {
            Recovery::SkipDamage
        };
        let _p = Progress::spinner("recovering log");
        (mapio::log::recover(path, recovery)?, true)
    };
    let file_size = std::fs::metadata(path)
        .map_err(|e| io_error(path, "stat", e))?
        .len();
    let dropped = scan.records.saturating_sub(report.records);
    let mut out = Out::new();
    print_report(&mut out, &args, &report, changed, dropped, file_size)?;
    out.flush()?;
    Ok(Exit::Ok)
}

fn print_report(
    out: &mut Out,
    args: &Args,
    r: &ScanReport,
    changed: bool,
    dropped: u64,
    file_size: u64,
) -> std::io::Result<()> {
    if args.json {
        return out.json_doc(&json!({
            "changed": changed,
            "records": r.records,
            "padding": r.padding,
            "holes": ranges_json(&r.holes),
            "damaged": ranges_json(&r.damaged),
            "dropped_records": dropped,
            "end_offset": r.end_offset,
            "file_size": file_size,
            "clean": true,
        }));
    }
    let p = args.path.display();
    if !changed {
        out.line(&format!(
            "{p}: already clean ({} records); nothing to do",
            r.records
        ))?;
        return Ok(());
    }
    out.line(&format!(
        "{p}: kept {} records ({} padding), up to offset {}",
        r.records, r.padding, r.end_offset
    ))?;
    let verb = if args.stop_at_damage {
        "stopped at"
    } else {
        "stepped over"
    };
    for h in &r.holes {
        out.line(&format!(
            "  {verb} hole {}..{} ({} bytes)",
            h.from,
            h.to,
            h.to - h.from
        ))?;
    }
    for d in &r.damaged {
        out.line(&format!(
            "  {verb} damage {}..{} ({} bytes): {}",
            d.from,
            d.to,
            d.to - d.from,
            d.why
        ))?;
    }
    if args.stop_at_damage && !(r.holes.is_empty() && r.damaged.is_empty()) {
        out.line(&format!(
            "  dropped everything from offset {} on: {dropped} good records (--stop-at-damage)",
            r.end_offset
        ))?;
    }
    out.line(&format!(
        "the log is now clean and appendable ({})",
        bytes_text(file_size)
    ))?;
    if file_size > r.end_offset + 4096 {
        out.line(
            "  another process has it open, so its allocated space was kept; run `mapio recover` \
             again once it has let go to give that back",
        )?;
    }
    Ok(())
}
