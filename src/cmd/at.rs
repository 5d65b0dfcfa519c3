//! `mapio at LOGS --time T`: the state of every object at a time.

use serde_json::{Value, json};

use super::out::Out;
use super::records::{record_json, record_text};
use super::set::{Interp, SetArgs};
use super::{Exit, Outcome};

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
    let set = args.set.open()?;
    let state = set.state_at(args.time, args.interpolate.into())?;
    let schema = set.schema().clone();
    let files: Vec<String> = set
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut out = Out::new();
    for e in state.entries() {
        // The record with the payload at the time.
        let shown = state.record(&e);
        if args.json {
            let mut v = record_json(&shown, &schema);
            if let Value::Object(m) = &mut v {
                m.insert("file".into(), json!(files[e.file]));
                m.insert("interpolated".into(), json!(e.interpolated));
            }
            out.json_line(&v)?;
        } else {
            let file = if files.len() > 1 {
                format!(" file={}", e.file)
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
    Ok(Exit::Ok)
}
