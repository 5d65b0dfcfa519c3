//! `mapio history LOGS --key K`: one object's records in time order.

use serde_json::{Value, json};

use super::out::Out;
use super::records::{record_json, record_text};
use super::set::SetArgs;
use super::{Exit, Outcome};

/// Every record of one object, in time order, across a set of logs (an
/// object that moved between files keeps one continuous history).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub set: SetArgs,
    /// The key (object id)
    #[arg(long)]
    pub key: u64,
    /// One JSON object per line on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let set = args.set.open_for_query()?;
    let history =
        super::progress::with_scan_bar(&set, "finding the history", || set.history(args.key))?;
    let schema = set.schema().clone();
    let files: Vec<String> = set
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut out = Out::new();
    for l in &history {
        if args.json {
            let mut v = record_json(&l.record, &schema);
            if let Value::Object(m) = &mut v {
                m.insert("file".into(), json!(files[l.file]));
            }
            out.json_line(&v)?;
        } else if files.len() > 1 {
            out.line(&format!(
                "file={} {}",
                files[l.file],
                record_text(&l.record, &schema)
            ))?;
        } else {
            out.line(&record_text(&l.record, &schema))?;
        }
    }
    out.flush()?;
    super::set::note_damage(&set);
    if history.is_empty() && !args.json {
        // An empty stdout alone does not say whether the key exists.
        let whose = if files.len() > 1 { "logs" } else { "log" };
        eprintln!("mapio: note: no records of key {} in the {whose}", args.key);
    }
    Ok(Exit::Ok)
}
