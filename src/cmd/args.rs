//! Arguments shared by several subcommands: dtype, shape and order
//! parsing, the raw-array layout flags, and telling the kinds of file apart.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use mapio::array::{DType, DynArray, Order};
use mapio::log::LogReader;

use super::usage;

/// A shape given on the command line (a newtype: clap treats `Vec` as
/// "many values").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape(pub Vec<usize>);

/// `--dtype`: anything [`DType::parse`] accepts.
pub fn parse_dtype(s: &str) -> Result<DType, String> {
    DType::parse(s).map_err(|e| e.to_string())
}

/// `--order`: `C` or `F`.
pub fn parse_order(s: &str) -> Result<Order, String> {
    s.parse::<Order>()
        .map_err(|_| format!("unknown order {s:?}: expected C or F"))
}

/// `--shape`: `3,4`, `(3, 4)`, `[3, 4]`, `(5,)`, `0,5`; `()` or `[]` for a
/// 0-d array.
pub fn parse_shape(s: &str) -> Result<Shape, String> {
    let bad =
        |why: &str| format!("bad shape {s:?}: {why}; write e.g. 3,4 or (3, 4), or () for 0-d");
    let t = s.trim();
    let opens = t.starts_with(['(', '[']);
    let closes = t.ends_with([')', ']']);
    let inner = if opens || closes {
        let paired = (t.starts_with('(') && t.ends_with(')') && t.len() >= 2)
            || (t.starts_with('[') && t.ends_with(']') && t.len() >= 2);
        if !paired {
            return Err(bad("unbalanced brackets"));
        }
        &t[1..t.len() - 1]
    } else {
        t
    };
    let inner = inner.trim();
    if inner.is_empty() {
        return if t.is_empty() {
            Err(bad("empty"))
        } else {
            Ok(Shape(Vec::new()))
        };
    }
    let mut parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop(); // "(5,)"
    }
    parts
        .iter()
        .map(|p| {
            if p.is_empty() {
                return Err(bad("an empty dimension"));
            }
            p.parse::<usize>()
                .map_err(|_| bad(&format!("{p:?} is not a non-negative integer")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Shape)
}

/// `--slice START:STOP[:STEP]` (Python's slice of the flat C-order
/// sequence; negative indices count from the end), or a single index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start: Option<i64>,
    pub stop: Option<i64>,
    pub step: usize,
    /// A single index, not a range.
    pub single: bool,
}

/// Parses `--slice`.
pub fn parse_slice(s: &str) -> Result<Slice, String> {
    let bad = |why: &str| format!("bad slice {s:?}: {why}; write START:STOP, START:, :STOP or N");
    let num = |p: &str| -> Result<Option<i64>, String> {
        let p = p.trim();
        if p.is_empty() {
            Ok(None)
        } else {
            p.parse::<i64>()
                .map(Some)
                .map_err(|_| bad(&format!("{p:?} is not an integer")))
        }
    };
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [one] => {
            let i = num(one)?.ok_or_else(|| bad("empty"))?;
            Ok(Slice {
                start: Some(i),
                stop: None,
                step: 1,
                single: true,
            })
        }
        [a, b] | [a, b, ""] => Ok(Slice {
            start: num(a)?,
            stop: num(b)?,
            step: 1,
            single: false,
        }),
        [a, b, c] => {
            let step = num(c)?.unwrap_or(1);
            if step <= 0 {
                return Err(bad("the step must be positive"));
            }
            Ok(Slice {
                start: num(a)?,
                stop: num(b)?,
                step: step as usize,
                single: false,
            })
        }
        _ => Err(bad("too many colons")),
    }
}

impl Slice {
    /// The positions it selects in a sequence of `len`, as a range and a
    /// step; an error for a single index out of range.
    pub fn resolve(&self, len: usize) -> anyhow::Result<(std::ops::Range<usize>, usize)> {
        let n = len as i64;
        let clamp = |i: i64| -> usize {
            let i = if i < 0 { i + n } else { i };
            i.clamp(0, n) as usize
        };
        if self.single {
            let i = self.start.unwrap_or(0);
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(usage(format!(
                    "index {i} is out of range for {len} elements"
                )));
            }
            let j = j as usize;
            return Ok((j..j + 1, 1));
        }
        let start = self.start.map_or(0, clamp);
        let stop = self.stop.map_or(len, clamp).max(start);
        Ok((start..stop, self.step))
    }
}

/// The layout of a raw array file (`np.memmap`'s arguments). Giving
/// `--dtype` reads any file as a raw array.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RawLayout {
    /// Read the file as a raw array of this NumPy dtype (<f8, f8, float64,
    /// i4, u1, bool, c16, >i4, ...)
    #[arg(long, value_name = "DTYPE", value_parser = parse_dtype)]
    pub dtype: Option<DType>,
    /// Shape of the raw array: 3,4 or (3, 4), () for 0-d [default: 1-d,
    /// everything after the offset]
    #[arg(long, value_name = "SHAPE", value_parser = parse_shape, requires = "dtype")]
    pub shape: Option<Shape>,
    /// Byte offset of the raw array's first element [default: 0]
    #[arg(long, value_name = "BYTES", requires = "dtype")]
    pub offset: Option<u64>,
    /// Memory order of the raw array: C (row-major) or F (column-major)
    /// [default: C]
    #[arg(long, value_name = "C|F", value_parser = parse_order, requires = "dtype")]
    pub order: Option<Order>,
}

/// What a file holds, judged by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Starts with `\x93NUMPY`.
    Npy,
    /// Starts with `MAPIOLOG`.
    Log,
    /// Neither (raw data, or something damaged); the bytes read (up to 8).
    Other(usize),
}

/// An `Io` error of mapio's kind, naming the file.
pub fn io_error(path: &Path, op: &'static str, source: std::io::Error) -> anyhow::Error {
    mapio::Error::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
    .into()
}

/// Reads the first bytes of `path` to tell a `.npy` file and a log apart.
pub fn sniff(path: &Path) -> anyhow::Result<Sniffed> {
    let (head, n) = first_bytes(path)?;
    Ok(if head[..n].starts_with(mapio::array::npy::MAGIC) {
        Sniffed::Npy
    } else if n == 8 && head == mapio::log::format::MAGIC {
        Sniffed::Log
    } else {
        Sniffed::Other(n)
    })
}

/// The first (up to) 8 bytes of a regular file, and how many there are.
pub fn first_bytes(path: &Path) -> anyhow::Result<([u8; 8], usize)> {
    // A FIFO would block the open (and a device read forever): only
    // regular files are opened, as the library maps only those.
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, "open", e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "is a directory, not a regular file"
        } else {
            "is not a regular file (mapio maps regular files only)"
        };
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        return Err(io_error(path, "open", e));
    }
    let mut f = File::open(path).map_err(|e| io_error(path, "open", e))?;
    let mut head = [0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, "read", e)),
        }
    }
    Ok((head, n))
}

/// Whether the file name says `.npy`.
pub fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// An opened file of any kind the tool knows.
pub enum Opened {
    /// A `.npy` or raw array.
    Array(DynArray),
    /// A continuous log.
    Log(LogReader),
}

/// Opens `path` read-only as what it is: with `--dtype`, a raw array;
/// otherwise a `.npy` file or a log, told by content (then by name).
pub fn open_any(path: &Path, raw: &RawLayout) -> anyhow::Result<Opened> {
    // A directory or a pattern names a set of logs, which the commands that
    // read one file (info, cat) do not take: say which commands do.
    let pattern = path.to_string_lossy().contains(['*', '?']) && !path.exists();
    if path.is_dir() || pattern {
        return Err(usage(format!(
            "{}: {} names a set of logs, and this command reads one file; give one log, or \
             use a command that reads a set (verify, index, at, history, export)",
            path.display(),
            if pattern { "a pattern" } else { "a directory" }
        )));
    }
    if let Some(dtype) = raw.dtype {
        let shape = raw.shape.as_ref().map(|s| s.0.as_slice());
        let a = DynArray::open_raw(
            path,
            dtype,
            shape,
            raw.offset.unwrap_or(0),
            raw.order.unwrap_or_default(),
        )?;
        return Ok(Opened::Array(a));
    }
    match sniff(path)? {
        Sniffed::Npy => Ok(Opened::Array(DynArray::open_npy(path)?)),
        Sniffed::Log => Ok(Opened::Log(LogReader::open(path)?)),
        // Named as one, but not one: let the library say what is wrong.
        Sniffed::Other(_) if has_ext(path, "npy") => Ok(Opened::Array(DynArray::open_npy(path)?)),
        Sniffed::Other(_) if has_ext(path, "log") => Ok(Opened::Log(LogReader::open(path)?)),
        Sniffed::Other(0) => Err(usage(format!(
            "{}: the file is empty; to read it as a raw array give --dtype",
            path.display()
        ))),
        Sniffed::Other(_) => Err(usage(format!(
            "{}: neither a .npy file nor a mapio log; to read it as a raw array give --dtype \
             (and --shape, --offset, --order as needed)",
            path.display()
        ))),
    }
}

/// A usage error if `path` is a `.npy` file given where `what` wants a
/// log (the log reader would call it a corrupt log).
pub fn refuse_npy(path: &Path, what: &str) -> anyhow::Result<()> {
    if sniff(path)? == Sniffed::Npy {
        return Err(usage(format!(
            "{}: a .npy array, not a log; {what} works on mapio logs",
            path.display()
        )));
    }
    Ok(())
}

/// Opens `path` as a log, with a usage error for a `.npy` file.
pub fn open_log(path: &Path, what: &str) -> anyhow::Result<LogReader> {
    refuse_npy(path, what)?;
    Ok(LogReader::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let ok = |s: &str| parse_shape(s).unwrap().0;
        assert_eq!(ok("3,4"), vec![3, 4]);
        assert_eq!(ok("(3, 4)"), vec![3, 4]);
        assert_eq!(ok("[3,4]"), vec![3, 4]);
        assert_eq!(ok("(5,)"), vec![5]);
        assert_eq!(ok("5"), vec![5]);
        assert_eq!(ok("0,5"), vec![0, 5]);
        assert_eq!(ok("()"), Vec::<usize>::new());
        assert_eq!(ok("[]"), Vec::<usize>::new());
        for bad in ["", "(3,4]", "3,,4", "-1", "a", "(,)", "3,4,,", "(3"] {
            assert!(parse_shape(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn slices() {
        let r = |s: &str, n| parse_slice(s).unwrap().resolve(n).unwrap();
        assert_eq!(r("2:5", 10), (2..5, 1));
        assert_eq!(r(":3", 10), (0..3, 1));
        assert_eq!(r("-3:", 10), (7..10, 1));
        assert_eq!(r("5:2", 10), (5..5, 1));
        assert_eq!(r("::2", 10), (0..10, 2));
        assert_eq!(r("4", 10), (4..5, 1));
        assert_eq!(r("-1", 10), (9..10, 1));
        assert_eq!(r("0:100", 10), (0..10, 1));
        assert!(parse_slice("10").unwrap().resolve(10).is_err());
        assert!(parse_slice("a:b").is_err());
        assert!(parse_slice("1:2:0").is_err());
        assert!(parse_slice("1:2:3:4").is_err());
    }
}
