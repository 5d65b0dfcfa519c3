//! `mapio export LOGS --out DIR`: log fields as `.npy` files for NumPy.

use std::path::PathBuf;

use serde_json::json;

use super::out::Out;
use super::progress::Progress;
use super::set::{Interp, SetArgs};
use super::{Exit, Outcome};

/// Export a log (or a set) as NumPy arrays: key.npy, time.npy, offset.npy
/// (file.npy for a set) and one .npy per schema field, loadable with
/// np.load(path, mmap_mode='r'). With --time, the rows are the state at
/// that time; otherwise every record.
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
    let set = args.set.open()?;
    let summary = {
        let _p = Progress::spinner("exporting");
        set.export(
            &args.out,
            args.time,
            args.fields.as_deref(),
            args.interpolate.into(),
        )?
    };
    let mut out = Out::new();
    if args.json {
        let files: serde_json::Map<String, serde_json::Value> = summary
            .files
            .iter()
            .map(|(n, p)| (n.clone(), json!(p)))
            .collect();
        out.json_doc(&json!({"rows": summary.rows, "files": files}))?;
    } else {
        out.line(&format!(
            "{} rows into {}:",
            summary.rows,
            args.out.display()
        ))?;
        for (name, path) in &summary.files {
            out.line(&format!("  {name:<12} {}", path.display()))?;
        }
    }
    out.flush()?;
    Ok(Exit::Ok)
}
