//! Writing to stdout: buffered, never panicking on a closed pipe (the
//! error travels up and `finish` exits 0), and the JSON conventions.

use std::io::{self, BufWriter, StdoutLock, Write};

use mapio::array::Scalar;
use serde_json::Value;

/// Buffered stdout. Every write returns `io::Result`; a reader that went
/// away (`| head`) is an `ErrorKind::BrokenPipe` error, which ends the
/// command with exit code 0.
pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
}

impl Out {
    /// Locks stdout.
    pub fn new() -> Out {
        Out {
            w: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
        }
    }

    /// One line of text.
    pub fn line(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// A JSON value (compact), without a newline.
    pub fn json(&mut self, v: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, v).map_err(io::Error::from)
    }

    /// A JSON value on a line of its own (JSON lines).
    pub fn json_line(&mut self, v: &Value) -> io::Result<()> {
        self.json(v)?;
        self.w.write_all(b"\n")
    }

    /// A JSON document, pretty-printed, then a newline.
    pub fn json_doc(&mut self, v: &Value) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.w, v).map_err(io::Error::from)?;
        self.w.write_all(b"\n")
    }

    /// Raw text, no newline.
    pub fn raw(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())
    }

    /// `key: value` lines, the values aligned.
    pub fn table(&mut self, rows: &[(&str, String)]) -> io::Result<()> {
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
        for (k, v) in rows {
            let key = format!("{k}:");
            self.line(&format!("{key:<width$} {v}"))?;
        }
        Ok(())
    }

    /// Pushes everything written so far to stdout.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// A float as JSON: a number, or `"nan"`, `"inf"`, `"-inf"` (JSON has no
/// such numbers).
pub fn float_json(x: f64) -> Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::from("nan"),
        None if x > 0.0 => Value::from("inf"),
        None => Value::from("-inf"),
    }
}

/// An array element as JSON: bools, integers and floats as themselves
/// (non-finite floats as strings), complex as `[re, im]`.
pub fn scalar_json(s: &Scalar) -> Value {
    match *s {
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::from(i),
        Scalar::UInt(u) => Value::from(u),
        Scalar::Float(x) => float_json(x),
        Scalar::Complex(re, im) => Value::Array(vec![float_json(re), float_json(im)]),
    }
}

/// A shape as NumPy prints it: `(3, 4)`, `(5,)`, `()`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// A byte count, with a binary-prefixed size from 1 KiB on.
pub fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{n} bytes ({v:.1} {})", UNITS[unit])
}

/// A time as the tool prints it (Python's float repr).
pub fn time_text(t: f64) -> String {
    Scalar::Float(t).to_string()
}

/// `time` nanoseconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc_text(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scalars() {
        assert_eq!(scalar_json(&Scalar::Float(f64::NAN)), Value::from("nan"));
        assert_eq!(
            scalar_json(&Scalar::Float(f64::INFINITY)),
            Value::from("inf")
        );
        assert_eq!(
            scalar_json(&Scalar::Float(f64::NEG_INFINITY)),
            Value::from("-inf")
        );
        assert_eq!(scalar_json(&Scalar::Float(1.5)), serde_json::json!(1.5));
        assert_eq!(
            scalar_json(&Scalar::Complex(1.0, -2.0)),
            serde_json::json!([1.0, -2.0])
        );
        assert_eq!(
            scalar_json(&Scalar::UInt(u64::MAX)),
            serde_json::json!(u64::MAX)
        );
    }

    #[test]
    fn texts() {
        assert_eq!(shape_text(&[]), "()");
        assert_eq!(shape_text(&[5]), "(5,)");
        assert_eq!(shape_text(&[3, 4]), "(3, 4)");
        assert_eq!(bytes_text(10), "10 bytes");
        assert_eq!(bytes_text(1536), "1536 bytes (1.5 KiB)");
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc_text(1_700_000_000_000_000_000),
            "2023-11-14 22:13:20 UTC"
        );
    }
}
