//! `mapio at LOGS --time T`: the state of every object at a time.

use serde_json::{Value, json};

use mapio::log::LogSet;

use super::out::{Out, time_text};
use super::records::{record_json, record_text};
use super::set::{Interp, SetArgs};
use super::{Exit, Outcome, usage};

/// The state of every object at a time: for each key, its last record at
/// or before T (keys deleted by then, or created later, are absent).
///
/// With --interpolate linear, float fields are interpolated between the
/// records around T. Over a set of per-rank logs, an object that moved
/// between files is found wherever it was at T.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub set: SetArgs,
    /// The time (or step)
    #[arg(long, allow_hyphen_values = true)]
    pub time: f64,
    /// How to fill values between records
    #[arg(long, value_enum, default_value_t = Interp::None)]
    pub interpolate: Interp,
    /// One JSON object per line (per object) on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    if args.time.is_nan() {
        return Err(usage(
            "--time nan is not a time: give a number (or -inf, inf)",
        ));
    }
    let set = args.set.open_for_query()?;
    let state = super::progress::with_scan_bar(&set, "finding the state", || {
        set.state_at(args.time, args.interpolate.into())
    })?;
    let schema = set.schema().clone();
    let files: Vec<String> = set
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut out = Out::new();
    for e in state.entries() {
        // The record with the payload at the time; interpolated values
        // are at the time asked (as `export` writes them), not the
        // record's.
        let mut shown = state.record(&e);
        let record_time = shown.time;
        if e.interpolated {
            shown.time = Some(args.time);
        }
        if args.json {
            let mut v = record_json(&shown, &schema);
            if let Value::Object(m) = &mut v {
                m.insert("file".into(), json!(files[e.file]));
                m.insert("interpolated".into(), json!(e.interpolated));
                if e.interpolated {
                    m.insert("record_time".into(), json!(record_time));
                }
            }
            out.json_line(&v)?;
        } else {
            let file = if files.len() > 1 {
                format!(" file={}", files[e.file])
            } else {
                String::new()
            };
            let interp = if e.interpolated {
                " (interpolated)"
            } else {
                ""
            };
            out.line(&format!("{}{file}{interp}", record_text(&shown, &schema)))?;
        }
    }
    out.flush()?;
    super::set::note_damage(&set);
    if state.is_empty() && !args.json {
        // An empty stdout alone does not say whether T was outside the
        // log's times: say so on stderr.
        let whose = if files.len() > 1 { "logs'" } else { "log's" };
        let range = match time_range(&set) {
            Some((a, b)) => format!(
                "the {whose} times run from {} to {}",
                time_text(a),
                time_text(b)
            ),
            None => format!("no record of the {whose} has a time"),
        };
        eprintln!(
            "mapio: note: no objects at t={} ({range})",
            time_text(args.time)
        );
    }
    Ok(Exit::Ok)
}

/// The smallest and largest record time over the set: from the index
/// where there is one (plus the records after it), else by a scan.
fn time_range(set: &LogSet) -> Option<(f64, f64)> {
    let mut range: Option<(f64, f64)> = None;
    let mut see = |t: f64| {
        if t.is_nan() {
            return;
        }
        range = Some(match range {
            Some((a, b)) => (a.min(t), b.max(t)),
            None => (t, t),
        });
    };
    for i in 0..set.files().len() {
        let reader = set.reader(i);
        match set.index(i) {
            Some(idx) => {
                if let Some((a, b)) = idx.time_range() {
                    see(a);
                    see(b);
                }
                for r in reader.records_from(idx.covered()) {
                    if let Some(t) = r.time {
                        see(t);
                    }
                }
            }
            None => {
                if let Some((a, b)) = reader.scan().time_range {
                    see(a);
                    see(b);
                }
            }
        }
    }
    range
}
