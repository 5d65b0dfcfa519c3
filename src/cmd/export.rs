//! `mapio export LOGS --out DIR`: log fields as `.npy` files for NumPy.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::out::Out;
use super::set::{Interp, SetArgs};
use super::{Exit, Outcome, usage};

/// Export a log (or a set) as NumPy arrays: key.npy, time.npy, offset.npy
/// (file.npy for a set) and one .npy per schema field, loadable with
/// np.load(path, mmap_mode='r'). With --time, the rows are the state at
/// that time; otherwise every record. Other .npy files already in DIR are
/// not part of the export (a warning names them). Files of an earlier
/// export are replaced by renaming complete new ones over them: a program
/// that has them mapped keeps the old arrays; on an error, they stay as
/// they were.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub set: SetArgs,
    /// The directory to write the .npy files into (created)
    #[arg(long)]
    pub out: PathBuf,
    /// Export the state at this time instead of every record
    #[arg(long, allow_hyphen_values = true)]
    pub time: Option<f64>,
    /// Only these schema fields (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub fields: Option<Vec<String>>,
    /// With --time: how to fill values between records
    #[arg(long, value_enum, default_value_t = Interp::None)]
    pub interpolate: Interp,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    if args.time.is_some_and(f64::is_nan) {
        return Err(usage(
            "--time nan is not a time: give a number (or -inf, inf)",
        ));
    }
    if let Some(fields) = &args.fields {
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].contains(f) {
                return Err(usage(format!("--fields lists {f:?} twice")));
            }
        }
    }
    let set = args.set.open_for_query()?;
    super::clean_up_on_signal(vec![args.out.clone()])?;
    let summary = super::progress::with_scan_bar(&set, "exporting", || {
        set.export(
            &args.out,
            args.time,
            args.fields.as_deref(),
            args.interpolate.into(),
        )
    })?;
    let others = other_npy_files(&args.out, &summary.files);
    if !others.is_empty() {
        eprintln!(
            "mapio: warning: {} also holds {} from something else (not part of this export)",
            args.out.display(),
            others.join(", ")
        );
    }
    if summary.rows_without_values > 0 {
        eprintln!(
            "mapio: note: {} of {} rows come from records without values for the fields \
             (empty payloads, such as DELETE records, or shorter than the schema): \
             their float fields are NaN, integer fields 0",
            summary.rows_without_values, summary.rows
        );
    }
    // file.npy holds a row's log as a number: the log's place in the set.
    let logs = set.files();
    let numbered = summary.files.iter().any(|(n, _)| n == "file");
    let mut out = Out::new();
    if args.json {
        let files: serde_json::Map<String, serde_json::Value> = summary
            .files
            .iter()
            .map(|(n, p)| (n.clone(), json!(p)))
            .collect();
        out.json_doc(&json!({
            "rows": summary.rows,
            "rows_without_values": summary.rows_without_values,
            "files": files,
            "logs": logs,
        }))?;
    } else {
        out.line(&format!(
            "{} rows into {}:",
            summary.rows,
            args.out.display()
        ))?;
        for (name, path) in &summary.files {
            out.line(&format!("  {name:<12} {}", path.display()))?;
        }
        if numbered {
            out.line("file.npy numbers the logs:")?;
            for (i, log) in logs.iter().enumerate() {
                out.line(&format!("  {i:<12} {}", log.display()))?;
            }
        }
    }
    out.flush()?;
    super::set::note_damage(&set);
    Ok(Exit::Ok)
}

/// The `.npy` files in `dir` that this export did not write (e.g. the
/// columns of an earlier export with other fields, or more rows), sorted;
/// at most 10 named, then how many more.
fn other_npy_files(dir: &Path, written: &[(String, PathBuf)]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path().extension().is_some_and(|x| x == "npy")
                && !written
                    .iter()
                    .any(|(_, p)| p.file_name() == Some(&e.file_name()))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    const SHOWN: usize = 10;
    if names.len() > SHOWN {
        let more = names.len() - SHOWN;
        names.truncate(SHOWN);
        names.push(format!("and {more} more"));
    }
    names
}
