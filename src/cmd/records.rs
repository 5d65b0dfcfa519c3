//! How log records are printed by `cat` and `tail`: one line of text, or
//! one JSON object per line.

use std::fmt::Write as _;
use std::io;

use mapio::log::{Flags, Record, Schema};
use serde_json::{Map, Value};

use super::out::{Out, float_json, scalar_json, time_text};

/// Bytes of payload shown when the log has no schema.
const HEX_BYTES: usize = 64;

/// The names of the flags set: `create`, `delete`, `enter`, `exit`, and
/// the application's bits 4–7 as their values.
pub fn flag_names(flags: Flags) -> Vec<Value> {
    const NAMES: [(Flags, &str); 4] = [
        (Flags::CREATE, "create"),
        (Flags::DELETE, "delete"),
        (Flags::ENTER, "enter"),
        (Flags::EXIT, "exit"),
    ];
    let mut out: Vec<Value> = NAMES
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| Value::from(*n))
        .collect();
    for bit in 4..8 {
        if flags.0 & (1 << bit) != 0 {
            out.push(Value::from(1u8 << bit));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A record as a JSON object: `offset`, `len`, `key`, `prev`, `time`,
/// `flags`, `payload_len`, and `fields` (schema) or `payload_hex` (first
/// 64 bytes, no schema); both for a payload the schema cannot decode
/// whole (see [`undecodable`]).
pub fn record_json(rec: &Record, schema: &Schema) -> Value {
    let mut m = Map::new();
    m.insert("offset".into(), rec.offset.into());
    m.insert("len".into(), rec.len.into());
    m.insert("key".into(), rec.key.map_or(Value::Null, Value::from));
    m.insert("prev".into(), rec.prev.map_or(Value::Null, Value::from));
    m.insert("time".into(), rec.time.map_or(Value::Null, float_json));
    m.insert("flags".into(), Value::Array(flag_names(rec.flags)));
    m.insert("payload_len".into(), rec.payload.len().into());
    if schema.is_empty() || undecodable(rec, schema) {
        let n = rec.payload.len().min(HEX_BYTES);
        m.insert("payload_hex".into(), hex(&rec.payload[..n]).into());
    }
    if !schema.is_empty() {
        let mut fields = Map::new();
        for f in schema.fields() {
            let v = match rec.field(f) {
                None => Value::Null,
                Some(vals) if f.count == 1 && vals.len() == 1 => scalar_json(&vals[0]),
                Some(vals) => Value::Array(vals.iter().map(scalar_json).collect()),
            };
            fields.insert(f.name.clone(), v);
        }
        m.insert("fields".into(), Value::Object(fields));
    }
    Value::Object(m)
}

/// A record with a schema whose payload holds some bytes but is shorter
/// than the schema's (a foreign file: mapio's writers refuse it): the
/// fields it does not hold print as missing, and its bytes are shown too,
/// so that nothing the record holds is hidden. (An empty payload is a
/// marker record, e.g. a delete: nothing to show.)
fn undecodable(rec: &Record, schema: &Schema) -> bool {
    !rec.payload.is_empty() && rec.payload.len() < schema.payload_len()
}

/// A record as one line of text:
/// `offset=4096 len=48 key=7 prev=0 time=0.5 flags=create pos=[1.0, 2.0] mass=3.0`.
pub fn record_text(rec: &Record, schema: &Schema) -> String {
    let mut s = format!("offset={} len={}", rec.offset, rec.len);
    if let Some(k) = rec.key {
        let _ = write!(s, " key={k}");
    }
    if let Some(p) = rec.prev {
        let _ = write!(s, " prev={p}");
    }
    if let Some(t) = rec.time {
        let _ = write!(s, " time={}", time_text(t));
    }
    if rec.flags.0 != 0 {
        let names: Vec<String> = flag_names(rec.flags)
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let _ = write!(s, " flags={}", names.join(","));
    }
    if schema.is_empty() || undecodable(rec, schema) {
        let n = rec.payload.len().min(HEX_BYTES);
        let more = if rec.payload.len() > n { "..." } else { "" };
        let _ = write!(
            s,
            " payload[{}]={}{more}",
            rec.payload.len(),
            hex(&rec.payload[..n])
        );
    }
    if !schema.is_empty() {
        for f in schema.fields() {
            match rec.field(f) {
                None => {
                    let _ = write!(s, " {}=<missing>", f.name);
                }
                Some(vals) if f.count == 1 && vals.len() == 1 => {
                    let _ = write!(s, " {}={}", f.name, vals[0]);
                }
                Some(vals) => {
                    let _ = write!(s, " {}=[", f.name);
                    for (i, v) in vals.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        let _ = write!(s, "{sep}{v}");
                    }
                    s.push(']');
                }
            }
        }
    }
    s
}

/// Prints one record in the chosen format.
pub fn print_record(out: &mut Out, rec: &Record, schema: &Schema, json: bool) -> io::Result<()> {
    if json {
        out.json_line(&record_json(rec, schema))
    } else {
        out.line(&record_text(rec, schema))
    }
}
