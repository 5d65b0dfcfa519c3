//! FORMAT.md against the files mapio writes: `tests/spec/specread.py`, a
//! reader of the log and index formats written from FORMAT.md alone
//! (Python + NumPy, no code shared with mapio), checks every rule of the
//! spec on logs and indexes the tool wrote (`mapio demo`, `index`,
//! `recover`) and on logs written by hand (`tests/spec/craft.py`: every
//! record feature, crash damage, more times than an index keeps
//! checkpoints), and compares its decoding with `mapio cat`, `info`,
//! `verify`, `history` and `at` (`--json`). Any `MISMATCH` fails the test.
//!
//! Needs Python with NumPy (`$MAPIO_PYTHON`, default `python3`); without
//! it the test is skipped, loudly, unless `MAPIO_REQUIRE_NUMPY=1` makes it
//! a failure (as `scripts/test` does).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const MAPIO: &str = env!("CARGO_BIN_EXE_mapio");

/// Small enough for a debug build: 500 particles x 8 steps (4000 records;
/// `craft.py crash` needs 1000).
const PARTICLES: &str = "500";
const STEPS: u32 = 8;

/// Python with NumPy, or `None` (the test is then skipped).
fn python() -> Option<String> {
    common::python("the FORMAT.md reader (tests/spec)")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/spec")
        .join(name)
}

#[track_caller]
fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn mapio(dir: &Path, args: &[&str]) {
    run(Command::new(MAPIO).current_dir(dir).args(args));
}

#[track_caller]
fn craft(py: &str, dir: &Path, args: &[&str]) {
    run(Command::new(py)
        .current_dir(dir)
        .arg(script("craft.py"))
        .args(args));
}

fn demo(dir: &Path, args: &[&str]) {
    let steps = STEPS.to_string();
    let mut all = vec!["demo", "--no-follow", "--no-compare"];
    all.extend(["--particles", PARTICLES, "--steps", &steps]);
    all.extend(args);
    mapio(dir, &all);
}

/// The checks of one test: each runs `specread.py check`; the failures
/// (with their MISMATCH lines) are reported together at the end.
struct Checks<'a> {
    py: &'a str,
    dir: &'a Path,
    failed: Vec<String>,
}

impl Checks<'_> {
    fn check(&mut self, log: &str, extra: &[&str]) {
        let out = Command::new(self.py)
            .current_dir(self.dir)
            .arg(script("specread.py"))
            .args(["check", log, "--mapio", MAPIO])
            .args(extra)
            .output()
            .expect("cannot run specread.py");
        let err = String::from_utf8_lossy(&out.stderr);
        let summary = err.lines().last().unwrap_or("").to_string();
        eprintln!("specread.py check {log} {}: {summary}", extra.join(" "));
        if !out.status.success() {
            let mismatches: Vec<&str> = err.lines().filter(|l| l.contains("MISMATCH")).collect();
            let shown = if mismatches.is_empty() {
                err.to_string() // a crash of the script: all of it
            } else {
                mismatches.join("\n")
            };
            self.failed.push(format!(
                "specread.py check {log} {} exited {}:\n{shown}",
                extra.join(" "),
                out.status
            ));
        }
    }

    fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "FORMAT.md and the files mapio writes disagree (tests/spec/specread.py):\n\n{}",
            self.failed.join("\n\n")
        );
    }
}

/// Logs the tool writes, indexed, then crashed (by hand), recovered, and
/// appended to after an index of the crashed log.
#[test]
fn demo_logs_crashes_and_indexes_follow_format_md() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    demo(dir, &["--log", "d.log"]);
    demo(dir, &["--log", "set", "--ranks", "2"]);
    mapio(dir, &["index", "d.log"]);
    mapio(dir, &["index", "set"]);
    // d.log damaged as a crash and a bad medium would: holes, damage, a
    // torn record at the end; and a copy recovered.
    craft(&py, dir, &["crash", "d.log", "x.log"]);
    std::fs::copy(dir.join("x.log"), dir.join("xr.log")).unwrap();
    mapio(dir, &["recover", "xr.log"]);
    // An index of the crashed log, then recovery and appends (as a reopened
    // writer): the records appended start at the index's `covered`.
    std::fs::copy(dir.join("x.log"), dir.join("y.log")).unwrap();
    mapio(dir, &["index", "y.log"]);
    mapio(dir, &["recover", "y.log"]);
    let (t0, t1, t2) = (STEPS - 1, STEPS, STEPS + 1);
    craft(&py, dir, &["append", "y.log", "2", &t1.to_string()]);

    let mut c = Checks {
        py: &py,
        dir,
        failed: Vec::new(),
    };
    for log in ["d.log", "set/run_0000.log", "set/run_0001.log"] {
        c.check(log, &["--fresh-index"]);
    }
    for log in ["x.log", "xr.log"] {
        assert!(!dir.join(format!("{log}.idx")).exists());
        c.check(log, &[]);
    }
    let times = format!("--times={t0},{t1},{t2}");
    c.check("y.log", &["--expect-index", "--keys", "0,1,2", &times]);
    c.finish();
}

/// Key 7 of `craft.py features` has a 3-byte payload under a 24-byte
/// schema (writers refuse that; a foreign file may hold it): `cat` shows
/// its bytes besides the fields it cannot decode, in JSON and in text.
fn short_payload_is_shown(dir: &Path) {
    let out = |args: &[&str]| {
        let o = Command::new(MAPIO)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let json = out(&["cat", "--json", "--key", "7", "f.log"]);
    let rec: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(rec["payload_len"], 3, "{rec}");
    assert_eq!(rec["payload_hex"], "010203", "{rec}");
    let fields = rec["fields"].as_object().unwrap();
    assert!(fields.values().all(|v| v.is_null()), "{rec}");
    let text = out(&["cat", "--key", "7", "f.log"]);
    assert!(text.contains("payload[3]=010203"), "{text}");
    assert!(text.contains("a=<missing>"), "{text}");
    // An empty payload (key 6, a marker record) has nothing to show.
    let json = out(&["cat", "--json", "--key", "6", "f.log"]);
    let rec: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(rec.get("payload_hex").is_none(), "{rec}");
}

/// Logs written by hand: every record feature (with and without an index)
/// and more distinct times than an index keeps checkpoints.
#[test]
fn crafted_logs_follow_format_md() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    craft(&py, dir, &["features", "f.log"]);
    short_payload_is_shown(dir);
    std::fs::copy(dir.join("f.log"), dir.join("fi.log")).unwrap();
    mapio(dir, &["index", "fi.log"]);
    craft(&py, dir, &["many", "m.log"]);
    craft(&py, dir, &["many", "m2.log", "60"]);
    mapio(dir, &["index", "m.log"]);
    mapio(dir, &["index", "m2.log"]);

    let mut c = Checks {
        py: &py,
        dir,
        failed: Vec::new(),
    };
    let keys = "1,2,3,4,5,6,7,8,9,10,11,12,13,14";
    // `--times=`: the first time is negative, not an option
    let times = "--times=-inf,-1,0,0.5,1,1.5,2,2.5,3,4,5,6,7,inf";
    c.check("f.log", &["--keys", keys, times]);
    c.check("fi.log", &["--fresh-index", "--keys", keys, times]);
    c.check("m.log", &["--fresh-index"]);
    c.check("m2.log", &["--fresh-index"]);
    c.finish();
}
