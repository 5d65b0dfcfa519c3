//! Helpers shared by the integration tests: the Python interpreter (NumPy),
//! child processes made by re-running the current test binary, bounded
//! polling, a test-wide lock, and a tiny JSON reader for what Python prints.
//!
//! Every test file uses only part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Serialising tests of one binary.

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the test-binary-wide lock.
///
/// Spawning a process duplicates every descriptor of this process until the
/// new program is executed (mapio's descriptors are `O_CLOEXEC`, so they go
/// away then). A lock released by one test while another test is spawning
/// a process can therefore look held for a few microseconds, and a test
/// that closes a file and reopens it at once would see a spurious
/// `Error::Locked`. Tests that spawn processes, or that rely on a lock
/// being gone right after a close, hold this guard for their whole run.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Python and NumPy.

/// The interpreter named by `MAPIO_PYTHON` (default `python3`).
pub fn python_program() -> String {
    std::env::var("MAPIO_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "python3".to_owned())
}

/// A `Command` for the interpreter, or `None` if it cannot be run or has
/// no NumPy (the answer is computed once per test binary).
pub fn python() -> Option<Command> {
    static HAS_NUMPY: OnceLock<Result<String, String>> = OnceLock::new();
    let probe = HAS_NUMPY.get_or_init(|| {
        let out = Command::new(python_program())
            .args(["-c", "import numpy, sys; print(numpy.__version__)"])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
            Ok(o) => Err(format!(
                "`{} -c 'import numpy'` failed: {}",
                python_program(),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run `{}`: {e}", python_program())),
        }
    });
    probe.as_ref().ok().map(|_| Command::new(python_program()))
}

/// Whether the NumPy tests can run. If NumPy is missing: panics when
/// `MAPIO_REQUIRE_NUMPY=1` (CI), else prints a loud SKIPPED line to stderr
/// and returns `false`, and the caller returns.
pub fn require_numpy() -> bool {
    if python().is_some() {
        return true;
    }
    let why = format!(
        "NumPy not installed for `{}` (set MAPIO_PYTHON, or `{} -m pip install numpy`)",
        python_program(),
        python_program()
    );
    if std::env::var("MAPIO_REQUIRE_NUMPY").as_deref() == Ok("1") {
        panic!("MAPIO_REQUIRE_NUMPY=1 but {why}");
    }
    eprintln!("\n*** SKIPPED: {why} ***\n");
    false
}

/// Runs `script` (given on stdin) with `args` (`sys.argv[1:]`); returns its
/// stdout. Panics with the script's stderr if it fails.
pub fn run_python<S: AsRef<OsStr>>(script: &str, args: &[S]) -> String {
    let mut cmd = python().expect("run_python needs NumPy: call require_numpy() first");
    cmd.arg("-")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn python");
    child
        .stdin
        .take()
        .expect("python stdin")
        .write_all(script.as_bytes())
        .expect("write the script to python");
    let out = child.wait_with_output().expect("wait for python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        out.status
    );
    if !stderr.trim().is_empty() {
        eprintln!("python stderr:\n{stderr}");
    }
    stdout
}

// ---------------------------------------------------------------------------
// Child processes: the current test binary, running one test.

/// The env var that tells a child which role to play.
pub const CHILD_VAR: &str = "MAPIO_CHILD";

/// The role this process plays, if it is a child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_VAR).ok().filter(|s| !s.is_empty())
}

/// A child env parameter; panics (failing the child) if missing.
pub fn child_param(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs env var {name}"))
}

/// A command that re-runs this test binary to run only `test_name`, with
/// `MAPIO_CHILD=role` and the given env vars.
pub fn child_command(test_name: &str, role: &str, envs: &[(&str, String)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a child to completion.
pub fn run_child(test_name: &str, role: &str, envs: &[(&str, String)]) -> Output {
    child_command(test_name, role, envs)
        .output()
        .expect("spawn the child test process")
}

/// A running child that is killed (and reaped) if the parent's test fails
/// before waiting for it.
pub struct ChildGuard {
    child: Option<std::process::Child>,
}

/// Starts a child (see [`child_command`]) without waiting for it.
pub fn spawn_child(test_name: &str, role: &str, envs: &[(&str, String)]) -> ChildGuard {
    let child = child_command(test_name, role, envs)
        .spawn()
        .expect("spawn the child test process");
    ChildGuard { child: Some(child) }
}

impl ChildGuard {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Whether the child has exited (without reaping it for good: the
    /// status is kept by `std` for [`wait`](Self::wait)).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Waits for the child and returns its output.
    pub fn wait(mut self) -> Output {
        self.child
            .take()
            .expect("child already waited for")
            .wait_with_output()
            .expect("wait for the child")
    }

    /// Waits for the child and checks that it succeeded.
    pub fn wait_ok(self, what: &str) -> Output {
        let out = self.wait();
        assert_child_ok(&out, what);
        out
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Panics unless the child exited with status 0 on its own (not by a
/// signal such as SIGBUS or SIGXFSZ), showing its output.
pub fn assert_child_ok(out: &Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(sig) = out.status.signal() {
        panic!(
            "{what}: the child was killed by signal {sig} ({})\n--- stdout ---\n{stdout}\n--- \
             stderr ---\n{stderr}",
            signal_name(sig)
        );
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: the child failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    // The child's test must really have run (a typo in the test name makes
    // libtest run nothing and exit 0).
    assert!(
        stdout.contains("1 passed"),
        "{what}: the child ran no test\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGBUS => "SIGBUS",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGKILL => "SIGKILL",
        libc::SIGABRT => "SIGABRT",
        _ => "other",
    }
}

/// The values of `RESULT key=value` lines a child printed.
pub fn child_results(out: &Output) -> BTreeMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once("RESULT ").map(|(_, kv)| kv.trim()))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Prints a `RESULT key=value` line for the parent (from a child).
pub fn report(key: &str, value: impl std::fmt::Display) {
    // libtest prints "test name ... " without a newline before the body's
    // output: start a line of our own.
    println!("\nRESULT {key}={value}");
}

// ---------------------------------------------------------------------------
// Waiting without sleeps-as-synchronisation.

/// Generous bound for every cross-process wait.
pub const WAIT: Duration = Duration::from_secs(60);

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Waits for `path` to exist; panics after [`WAIT`].
pub fn wait_for_file(path: &Path) {
    assert!(
        poll_until(WAIT, || path.exists()),
        "timed out waiting for {}",
        path.display()
    );
}

/// Creates a signal file.
pub fn signal_file(path: &Path) {
    std::fs::write(path, b"go").unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// Deterministic data.

/// splitmix64: a well-mixed 64-bit value from any seed (test data and
/// seeds for random choices; not a cryptographic hash).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a of `bytes`: the checksum test payloads carry.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// `len` bytes of a pattern that depends on `seed` and the position.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    pattern_range(seed, 0, len)
}

/// Bytes `start..end` of the pattern [`pattern`] makes.
pub fn pattern_range(seed: u64, start: usize, end: usize) -> Vec<u8> {
    (start as u64..end as u64)
        .map(|i| {
            let x = (i ^ seed.rotate_left(17))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(seed);
            (x >> 56) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// A small JSON reader for what the Python scripts print.

/// A JSON value. Numbers keep their text, so that 64-bit integers are exact.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    /// Parses one JSON document (Python's `json.dumps` output, which may
    /// contain `NaN`, `Infinity` and `-Infinity`).
    pub fn parse(s: &str) -> Json {
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing characters after JSON");
        v
    }

    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m
                .get(key)
                .unwrap_or_else(|| panic!("JSON object has no key {key:?}: {self:?}")),
            _ => panic!("not a JSON object: {self:?}"),
        }
    }

    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            _ => panic!("not a JSON array: {self:?}"),
        }
    }

    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a JSON string: {self:?}"),
        }
    }

    pub fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            _ => panic!("not a JSON bool: {self:?}"),
        }
    }

    pub fn f64(&self) -> f64 {
        match self {
            Json::Num(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => s.parse().unwrap_or_else(|_| panic!("bad number {s}")),
            },
            Json::Bool(b) => f64::from(u8::from(*b)),
            _ => panic!("not a JSON number: {self:?}"),
        }
    }

    pub fn i64(&self) -> i64 {
        match self {
            Json::Num(s) => s.parse().unwrap_or_else(|_| panic!("not an i64: {s}")),
            Json::Bool(b) => i64::from(*b),
            _ => panic!("not a JSON integer: {self:?}"),
        }
    }

    pub fn u64(&self) -> u64 {
        match self {
            Json::Num(s) => s.parse().unwrap_or_else(|_| panic!("not a u64: {s}")),
            Json::Bool(b) => u64::from(*b),
            _ => panic!("not a JSON integer: {self:?}"),
        }
    }

    pub fn usize_vec(&self) -> Vec<usize> {
        self.arr().iter().map(|v| v.u64() as usize).collect()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Json {
        self.ws();
        let c = *self.s.get(self.i).expect("unexpected end of JSON");
        match c {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.eat("}") {
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let k = match self.value() {
                        Json::Str(k) => k,
                        other => panic!("JSON object key is not a string: {other:?}"),
                    };
                    self.ws();
                    assert!(self.eat(":"), "expected ':' at {}", self.i);
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    if self.eat("}") {
                        return Json::Obj(m);
                    }
                    assert!(self.eat(","), "expected ',' or '}}' at {}", self.i);
                }
            }
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Json::Arr(v);
                }
                loop {
                    v.push(self.value());
                    self.ws();
                    if self.eat("]") {
                        return Json::Arr(v);
                    }
                    assert!(self.eat(","), "expected ',' or ']' at {}", self.i);
                }
            }
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return Json::Str(out),
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            match e {
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                b'r' => out.push('\r'),
                                b'b' => out.push('\u{8}'),
                                b'f' => out.push('\u{c}'),
                                b'u' => {
                                    let hex = std::str::from_utf8(&self.s[self.i..self.i + 4])
                                        .expect("hex");
                                    self.i += 4;
                                    let cp = u32::from_str_radix(hex, 16).expect("hex escape");
                                    out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                                }
                                other => out.push(other as char),
                            }
                        }
                        _ => {
                            // Multi-byte UTF-8: copy the whole character.
                            let start = self.i - 1;
                            let mut end = self.i;
                            while end < self.s.len() && (self.s[end] & 0xC0) == 0x80 {
                                end += 1;
                            }
                            out.push_str(std::str::from_utf8(&self.s[start..end]).expect("utf-8"));
                            self.i = end;
                        }
                    }
                }
            }
            b't' if self.eat("true") => Json::Bool(true),
            b'f' if self.eat("false") => Json::Bool(false),
            b'n' if self.eat("null") => Json::Null,
            b'N' if self.eat("NaN") => Json::Num("NaN".into()),
            b'I' if self.eat("Infinity") => Json::Num("Infinity".into()),
            b'-' if self.eat("-Infinity") => Json::Num("-Infinity".into()),
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                assert!(self.i > start, "unexpected JSON character at {start}");
                Json::Num(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
            }
        }
    }
}

/// The sorted names of the files in `dir`.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
