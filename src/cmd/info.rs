//! `mapio info PATH`: what a file is. A `.npy` header, a log's header and
//! scan, or a raw array's layout (`--dtype`, `--shape`, `--offset`,
//! `--order`).

use std::path::PathBuf;

use mapio::array::{ArrayInfo, FileFormat, Order};
use mapio::log::{Damage, LogReader, ScanReport};
use serde_json::{Value, json};

use super::args::{Opened, RawLayout, open_any};
use super::out::{Out, bytes_text, float_json, shape_text, time_text, utc_text};
use super::progress::Progress;
use super::{Exit, Outcome};

/// Show what a file is: a .npy array, a raw array (with --dtype) or a log.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The file: .npy and logs are recognised by their content; anything
    /// else needs --dtype
    pub path: PathBuf,
    #[command(flatten)]
    pub raw: RawLayout,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let mut out = Out::new();
    match open_any(&args.path, &args.raw)? {
        Opened::Array(a) => print_array(&mut out, a.info(), args.json)?,
        Opened::Log(r) => {
            let scan = {
                let _p = Progress::spinner("scanning log");
                scan_log(&r)
            };
            print_log(&mut out, &r, &scan, args.json)?;
        }
    }
    out.flush()?;
    Ok(Exit::Ok)
}

/// Scans a log (`info`, `verify`), counting as damage the end its file
/// lost: a log its writer closed (the header says so) whose last record
/// is not the end record `close` wrote, or whose file ends below the
/// header's `synced` (every record below it had been made durable). A
/// crashed writer leaves neither (its log is not marked closed, and what
/// it made durable is in the file); a file cut short since (truncated, or
/// a disk that lost its end) does, and the scan alone, which stops at the
/// end of the file, cannot tell.
pub fn scan_log(r: &LogReader) -> ScanReport {
    let mut scan = r.scan();
    let synced = r.synced();
    let lost_end = r.closed_cleanly() && !scan.clean && scan.damaged.is_empty();
    if !scan.live && (lost_end || synced > scan.file_size) {
        let what = if lost_end {
            "without the end record its writer wrote when it closed the log".to_string()
        } else {
            format!("before byte {synced}, below which every record had been made durable")
        };
        scan.damaged.push(Damage {
            from: scan.end_offset,
            to: synced.max(scan.file_size).max(scan.end_offset),
            why: format!(
                "the file ends at byte {} {what}: it was cut short (truncated) since, and the \
                 records after byte {} are lost",
                scan.file_size, scan.end_offset
            ),
        });
        scan.clean = false;
    }
    scan
}

/// An array's layout as JSON (`info --json`, `create --json`).
pub fn array_json(info: &ArrayInfo) -> Value {
    let mut v = json!({
        "format": match info.format { FileFormat::Npy { .. } => "npy", FileFormat::Raw => "raw" },
        "dtype": info.dtype.descr(),
        "dtype_name": info.dtype.name(),
        "shape": info.shape,
        "fortran_order": info.order == Order::Fortran,
        "data_offset": info.data_offset,
        "data_len": info.data_len,
        "file_size": info.file_size,
        "elements": info.len(),
    });
    if let FileFormat::Npy {
        version: (major, minor),
    } = info.format
    {
        v["version"] = Value::from(format!("{major}.{minor}"));
    }
    v
}

/// Prints an array's layout, as text or JSON.
pub fn print_array(out: &mut Out, info: &ArrayInfo, json: bool) -> std::io::Result<()> {
    if json {
        return out.json_doc(&array_json(info));
    }
    let format = match info.format {
        FileFormat::Npy {
            version: (major, minor),
        } => format!("npy {major}.{minor}"),
        FileFormat::Raw => "raw".to_string(),
    };
    let order = match info.order {
        Order::C => "C (row-major)",
        Order::Fortran => "F (column-major)",
    };
    out.table(&[
        ("format", format),
        (
            "dtype",
            format!("{} ({})", info.dtype.descr(), info.dtype.name()),
        ),
        ("shape", shape_text(&info.shape)),
        ("order", order.to_string()),
        ("elements", info.len().to_string()),
        ("data offset", info.data_offset.to_string()),
        ("data length", bytes_text(info.data_len)),
        ("file size", bytes_text(info.file_size)),
    ])
}

fn damage_json(d: &mapio::log::Damage) -> Value {
    json!({ "from": d.from, "to": d.to, "why": d.why })
}

/// A list of holes or damaged ranges as JSON.
pub fn ranges_json(list: &[mapio::log::Damage]) -> Value {
    Value::Array(list.iter().map(damage_json).collect())
}

fn print_log(out: &mut Out, r: &LogReader, scan: &ScanReport, json: bool) -> std::io::Result<()> {
    let clean = scan.clean && r.closed_cleanly();
    let live = scan.live || r.writer_active();
    let schema = r.schema();
    if json {
        let fields: Vec<Value> = schema
            .fields()
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "dtype": f.dtype.descr(),
                    "count": f.count,
                    "offset": f.offset,
                })
            })
            .collect();
        return out.json_doc(&json!({
            "format": "mapio-log",
            "version": r.header().version,
            "records": scan.records,
            "padding": scan.padding,
            "bytes": scan.end_offset,
            "file_size": scan.file_size,
            "keys": scan.keys,
            "time_range": scan.time_range.map_or(Value::Null, |(a, b)| json!([float_json(a), float_json(b)])),
            "clean": clean,
            "live": live,
            "sessions": r.sessions(),
            "holes": scan.holes.len(),
            "damaged": ranges_json(&scan.damaged),
            "schema": fields,
        }));
    }
    let state = if live {
        "live: a writer is attached".to_string()
    } else if clean {
        "closed cleanly".to_string()
    } else if r.closed_cleanly() && !scan.damaged.is_empty() {
        // As `verify` says it: the damage came later, not from a crash.
        "closed cleanly by its writer, damaged since (see `mapio verify`)".to_string()
    } else {
        format!(
            "not closed cleanly (the writer crashed or was killed); `mapio recover {}` makes it \
             appendable again",
            r.path().display()
        )
    };
    let mut rows = vec![
        (
            "format",
            format!("mapio log, format version {}", r.header().version),
        ),
        ("created", utc_text(r.header().created_ns)),
        (
            "records",
            format!(
                "{} ({} payload bytes), {} padding",
                scan.records, scan.payload_bytes, scan.padding
            ),
        ),
        ("keys", scan.keys.to_string()),
        (
            "time range",
            scan.time_range.map_or("none".to_string(), |(a, b)| {
                format!("{} .. {}", time_text(a), time_text(b))
            }),
        ),
        ("bytes", bytes_text(scan.end_offset)),
        ("file size", bytes_text(scan.file_size)),
        ("state", state),
        ("sessions", r.sessions().to_string()),
        ("holes", scan.holes.len().to_string()),
        (
            "damaged",
            if scan.damaged.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{} range(s); see `mapio verify {}`",
                    scan.damaged.len(),
                    r.path().display()
                )
            },
        ),
    ];
    if schema.is_empty() {
        rows.push(("schema", "none (payloads are raw bytes)".to_string()));
    } else {
        let desc: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| {
                if f.count == 1 {
                    format!("{} {}", f.name, f.dtype.descr())
                } else {
                    format!("{} {}[{}]", f.name, f.dtype.descr(), f.count)
                }
            })
            .collect();
        rows.push((
            "schema",
            format!(
                "{} ({} payload bytes)",
                desc.join(", "),
                schema.payload_len()
            ),
        ));
    }
    out.table(&rows)
}
