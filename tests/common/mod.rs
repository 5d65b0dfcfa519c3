//! Helpers shared by the command-line tests.
// Each test file uses some of them.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Python with NumPy (`$MAPIO_PYTHON`, default `python3`), or `None`: then
/// the caller skips `what`, loudly, unless `MAPIO_REQUIRE_NUMPY=1` makes
/// that a failure.
pub fn python(what: &str) -> Option<String> {
    let py = std::env::var("MAPIO_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var("MAPIO_REQUIRE_NUMPY").as_deref() != Ok("1"),
        "NumPy is required (MAPIO_REQUIRE_NUMPY=1) but `{py} -c 'import numpy'` fails"
    );
    eprintln!("SKIPPED: NumPy not installed; {what} did not run");
    None
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
