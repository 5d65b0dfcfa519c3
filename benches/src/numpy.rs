//! NumPy's `np.memmap` as a contender of the array workloads: a Python
//! process, started once, that runs each command it is sent on the same
//! files as the Rust contenders, times itself (`time.perf_counter_ns`, so
//! the interpreter's start-up and NumPy's import are never timed) and
//! answers with the time and the checksum of what it wrote or read,
//! computed as the Rust contenders compute it.
//!
//! * write: `np.memmap(path, '<f8', 'w+', shape=(n,))`, filled 1 MiB at a
//!   time with `np.arange(s, e) * 0.5`, `flush()` (`msync(MS_SYNC)`),
//!   `del`; the checksum is then read back from the file (untimed).
//!   (`np.memmap` creates the file by writing its last byte: sparse.)
//! * seq_sum: `np.memmap(path, '<f8', 'r', shape=(n,)).sum()` (exact for
//!   these values in any order, so the bits agree with [`crate::SumF64`]).
//! * random_4k: a `'<u8'` memmap opened once (untimed) with a warm pass,
//!   then for each offset `m[i:i + 512].sum(dtype=uint64)` folded as
//!   [`crate::fold_block`] folds.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Sample;

/// The Python side.
pub const SCRIPT: &str = r#"
import json, struct, sys, time
import numpy as np

MASK = (1 << 64) - 1
CHUNK = 1 << 17

def out(d):
    sys.stdout.write(json.dumps(d) + "\n")
    sys.stdout.flush()

out({"numpy": np.__version__, "python": sys.version.split()[0]})
blocks = None
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd.get("op")
    try:
        if op == "write":
            path, n = cmd["path"], cmd["n"]
            t0 = time.perf_counter_ns()
            m = np.memmap(path, dtype="<f8", mode="w+", shape=(n,))
            for s in range(0, n, CHUNK):
                e = min(n, s + CHUNK)
                m[s:e] = np.arange(s, e, dtype="<f8") * 0.5
            m.flush()
            del m
            t1 = time.perf_counter_ns()
            c = np.memmap(path, dtype="<u8", mode="r", shape=(n,))
            checksum = int(c.sum(dtype=np.uint64))
            del c
            out({"ns": t1 - t0, "checksum": checksum})
        elif op == "seq_sum":
            path, n = cmd["path"], cmd["n"]
            t0 = time.perf_counter_ns()
            m = np.memmap(path, dtype="<f8", mode="r", shape=(n,))
            s = float(m.sum())
            del m
            t1 = time.perf_counter_ns()
            out({"ns": t1 - t0, "checksum": struct.unpack("<Q", struct.pack("<d", s))[0]})
        elif op == "open_blocks":
            m8 = np.memmap(cmd["path"], dtype="<u8", mode="r")
            idx = (np.fromfile(cmd["offsets"], dtype="<u8") // 8).tolist()
            for i in idx:
                m8[i:i + 512].sum(dtype=np.uint64)
            blocks = (m8, idx)
            out({"ok": True})
        elif op == "random_4k":
            m8, idx = blocks
            t0 = time.perf_counter_ns()
            acc = 0
            for i in idx:
                b = int(m8[i:i + 512].sum(dtype=np.uint64))
                acc = (((acc << 7) | (acc >> 57)) & MASK) ^ b
            t1 = time.perf_counter_ns()
            out({"ns": t1 - t0, "checksum": acc})
        elif op == "quit":
            break
        else:
            out({"error": "unknown op %r" % op})
    except Exception as e:
        out({"error": "%s: %s" % (type(e).__name__, e)})
"#;

/// The Python to run: `$MAPIO_PYTHON`, else `python3`.
pub fn python() -> OsString {
    std::env::var_os("MAPIO_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("python3"))
}

/// Whether `python -c 'import numpy'` works.
pub fn numpy_available(python: &OsStr) -> bool {
    Command::new(python)
        .args(["-c", "import numpy"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The running Python process.
pub struct NumpyPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// NumPy's version.
    pub version: String,
}

impl std::fmt::Debug for NumpyPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumpyPeer")
            .field("version", &self.version)
            .finish()
    }
}

impl NumpyPeer {
    /// Starts `python -c SCRIPT` and waits for it to say NumPy's version.
    pub fn start(python: &OsStr) -> io::Result<NumpyPeer> {
        let mut child = Command::new(python)
            .args(["-u", "-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("python's stdin is not piped"))?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| io::Error::other("python's stdout is not piped"))?,
        );
        let mut peer = NumpyPeer {
            child,
            stdin,
            stdout,
            version: String::new(),
        };
        let hello = peer.read()?;
        peer.version = hello["numpy"].as_str().unwrap_or("?").to_string();
        Ok(peer)
    }

    fn read(&mut self) -> io::Result<Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::other("the NumPy process exited"));
        }
        let v: Value = serde_json::from_str(line.trim()).map_err(io::Error::from)?;
        if let Some(e) = v.get("error") {
            return Err(io::Error::other(format!("NumPy: {e}")));
        }
        Ok(v)
    }

    fn call(&mut self, cmd: Value) -> io::Result<Value> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        self.read()
    }

    fn timed(&mut self, cmd: Value) -> io::Result<Sample> {
        let v = self.call(cmd)?;
        let ns = v["ns"]
            .as_u64()
            .ok_or_else(|| io::Error::other(format!("NumPy answered {v}")))?;
        let sum = v["checksum"]
            .as_u64()
            .ok_or_else(|| io::Error::other(format!("NumPy answered {v}")))?;
        Ok(Sample::timed(Duration::from_nanos(ns), sum))
    }

    /// The write workload: `n` values into `path` (overwritten).
    pub fn write(&mut self, path: &Path, n: usize) -> io::Result<Sample> {
        self.timed(json!({"op": "write", "path": path_str(path)?, "n": n}))
    }

    /// The sequential-sum workload over the first `n` values of `path`.
    pub fn seq_sum(&mut self, path: &Path, n: usize) -> io::Result<Sample> {
        self.timed(json!({"op": "seq_sum", "path": path_str(path)?, "n": n}))
    }

    /// Opens `path` for the random-read workload, with the offsets stored
    /// in `offsets_file` (little-endian `u64`), and reads them once.
    pub fn open_blocks(&mut self, path: &Path, offsets_file: &Path) -> io::Result<()> {
        self.call(json!({
            "op": "open_blocks",
            "path": path_str(path)?,
            "offsets": path_str(offsets_file)?,
        }))
        .map(|_| ())
    }

    /// One timed pass of the random reads opened with
    /// [`open_blocks`](Self::open_blocks).
    pub fn random_4k(&mut self) -> io::Result<Sample> {
        self.timed(json!({"op": "random_4k"}))
    }
}

impl Drop for NumpyPeer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

fn path_str(p: &Path) -> io::Result<&str> {
    p.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not UTF-8, which the NumPy side needs", p.display()),
        )
    })
}

/// Writes `offsets` as little-endian `u64` to `path` (for
/// [`NumpyPeer::open_blocks`]).
pub fn write_offsets(path: &Path, offsets: &[u64]) -> io::Result<()> {
    let bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        DEFAULT_SEED, block_checksum, expected_seq_sum, expected_write_checksum, fold_block,
        prepare_file, random_offsets,
    };

    /// NumPy's answers agree with the Rust contenders' checksums.
    #[test]
    fn numpy_contender_agrees() {
        let py = python();
        if !numpy_available(&py) {
            assert!(
                std::env::var_os("MAPIO_REQUIRE_NUMPY").is_none(),
                "NumPy is required (MAPIO_REQUIRE_NUMPY) but {py:?} cannot import it"
            );
            eprintln!("NumPy not found: skipping");
            return;
        }
        let _serial = crate::serial();
        let dir = tempfile::tempdir().unwrap();
        let mut np = NumpyPeer::start(&py).unwrap();
        assert!(!np.version.is_empty());
        let n = 100_003;
        let w = dir.path().join("w.f64");
        let s = np.write(&w, n).unwrap();
        assert_eq!(s.checksum, expected_write_checksum(n));
        assert_eq!(std::fs::metadata(&w).unwrap().len(), n as u64 * 8);

        let data = dir.path().join("d.f64");
        let len = prepare_file(&data, n).unwrap();
        assert_eq!(np.seq_sum(&data, n).unwrap().checksum, expected_seq_sum(n));

        let offsets = random_offsets(len, 500, DEFAULT_SEED).unwrap();
        let bytes = std::fs::read(&data).unwrap();
        let want = offsets.iter().fold(0, |acc, &o| {
            fold_block(acc, block_checksum(&bytes[o as usize..o as usize + 4096]))
        });
        let file = dir.path().join("offsets.u64");
        write_offsets(&file, &offsets).unwrap();
        np.open_blocks(&data, &file).unwrap();
        for _ in 0..2 {
            let s = np.random_4k().unwrap();
            assert_eq!(s.checksum, want);
            assert!(s.time > Duration::ZERO);
        }
        // An error on the Python side is an error here, and the peer lives on.
        assert!(np.seq_sum(&dir.path().join("missing"), 10).is_err());
        assert_eq!(np.seq_sum(&data, n).unwrap().checksum, expected_seq_sum(n));
    }
}
