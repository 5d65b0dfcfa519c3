//! Integration tests of the `mapio` binary: every subcommand run as a
//! process, its stdout, stderr and exit code checked.

mod common;
use common::listing;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mapio::array::DType;
use mapio::log::{Entry, Flags, Log, LogOptions, Schema};
use mapio::map::{MappedFile, Mode};
use serde_json::Value;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))
            })
            .collect()
    }

    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        if code != 1 {
            assert!(!self.stderr.is_empty(), "a failure says why on stderr");
        }
        self
    }
}

fn mapio() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mapio"));
    c.stdin(Stdio::null());
    c
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out = mapio().args(args).output().expect("run mapio");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// What `--fill arange` puts at C-order position i, as `cat --json` prints it.
fn arange_json(dtype: &str, i: usize) -> Value {
    let kind = DType::parse(dtype).unwrap().kind();
    match kind {
        mapio::array::Kind::Bool => Value::Bool(i % 2 == 1),
        mapio::array::Kind::Float => serde_json::json!(i as f64),
        mapio::array::Kind::Complex => serde_json::json!([i as f64, 0.0]),
        _ => serde_json::json!(i),
    }
}

/// Waits until no process holds a lock on `path`. Another test thread may
/// have forked a child in the instant before this process closed the file:
/// until that child execs, it holds a copy of the descriptor, and with it
/// the locks (flock and OFD locks belong to the open file description).
fn wait_until_released(path: &Path) {
    let start = Instant::now();
    loop {
        let free = MappedFile::options()
            .mode(Mode::ReadWrite)
            .open_shared_exclusive(path)
            .is_ok();
        if free || start.elapsed() > Duration::from_secs(10) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------- arrays

#[test]
fn npy_round_trips_dtypes_orders_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let dtypes = [
        "<f8", "f4", "float64", "i4", ">i4", "u1", "i1", "bool", "c16", "<c8", ">f8", "u8", "i2",
    ];
    for dtype in dtypes {
        for order in ["C", "F"] {
            for shape in ["3,4", "(2, 3, 2)", "5"] {
                let path = dir
                    .path()
                    .join(format!("a-{}.npy", dtype.replace(['<', '>'], "_")));
                run(&[
                    "create",
                    p(&path),
                    "--dtype",
                    dtype,
                    "--shape",
                    shape,
                    "--order",
                    order,
                    "--fill",
                    "arange",
                    "--force",
                ])
                .ok();
                let info = run(&["info", "--json", p(&path)]).ok().json();
                let want = DType::parse(dtype).unwrap();
                assert_eq!(info["dtype"], want.descr());
                assert_eq!(info["dtype_name"], want.name());
                assert_eq!(info["format"], "npy");
                assert_eq!(info["version"], "1.0");
                let n: usize = info["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .product();
                assert_eq!(info["elements"], n);
                assert_eq!(
                    info["fortran_order"],
                    order == "F",
                    "{dtype} {order} {shape}"
                );
                assert_eq!(
                    info["data_len"].as_u64().unwrap(),
                    (n * want.itemsize()) as u64
                );
                assert_eq!(
                    info["file_size"].as_u64().unwrap(),
                    info["data_offset"].as_u64().unwrap() + info["data_len"].as_u64().unwrap()
                );
                let values = run(&["cat", "--json", p(&path)]).ok().json();
                let values = values.as_array().unwrap();
                assert_eq!(values.len(), n);
                for (i, v) in values.iter().enumerate() {
                    assert_eq!(*v, arange_json(dtype, i), "{dtype} {order} {shape} [{i}]");
                }
                // The text form: one element per line, as NumPy prints them.
                let text = run(&["cat", p(&path)]).ok().stdout;
                assert_eq!(text.lines().count(), n);
            }
        }
    }
}

#[test]
fn npy_text_output_is_numpy_like() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    for (dtype, want) in [
        ("f8", "0.0\n1.0\n2.0\n"),
        ("i4", "0\n1\n2\n"),
        ("bool", "False\nTrue\nFalse\n"),
        ("c16", "0j\n(1+0j)\n(2+0j)\n"),
    ] {
        run(&[
            "create",
            p(&path),
            "--dtype",
            dtype,
            "--shape",
            "3",
            "--fill",
            "arange",
            "-f",
        ])
        .ok();
        assert_eq!(run(&["cat", p(&path)]).ok().stdout, want, "{dtype}");
    }
}

#[test]
fn raw_round_trips_with_offset_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    for (dtype, order) in [("u2", "F"), (">f4", "C"), ("i8", "F"), ("bool", "C")] {
        run(&[
            "create",
            p(&path),
            "--dtype",
            dtype,
            "--shape",
            "3,2",
            "--order",
            order,
            "--offset",
            "10",
            "--fill",
            "arange",
            "--force",
        ])
        .ok();
        let size = std::fs::metadata(&path).unwrap().len();
        let item = DType::parse(dtype).unwrap().itemsize() as u64;
        assert_eq!(size, 10 + 6 * item);
        let layout = [
            "--dtype", dtype, "--shape", "(3, 2)", "--offset", "10", "--order", order,
        ];
        let mut args = vec!["info", "--json", p(&path)];
        args.extend(layout);
        let info = run(&args).ok().json();
        assert_eq!(info["format"], "raw");
        assert_eq!(info["data_offset"], 10);
        assert_eq!(info["fortran_order"], order == "F");
        assert_eq!(info["shape"], serde_json::json!([3, 2]));
        assert_eq!(info["file_size"], size);
        let mut args = vec!["cat", "--json", p(&path)];
        args.extend(layout);
        let values = run(&args).ok().json();
        let want: Vec<Value> = (0..6).map(|i| arange_json(dtype, i)).collect();
        assert_eq!(values, Value::Array(want), "{dtype} {order}");
    }
    // Without a shape: 1-d, everything after the offset.
    run(&[
        "create",
        p(&path),
        "--dtype",
        "i4",
        "--shape",
        "7",
        "--fill",
        "arange",
        "-f",
    ])
    .ok();
    let info = run(&["info", "--json", p(&path), "--dtype", "i4", "--offset", "8"])
        .ok()
        .json();
    assert_eq!(info["shape"], serde_json::json!([5]));
    let v = run(&["cat", "--json", p(&path), "--dtype", "i4", "--offset", "8"])
        .ok()
        .json();
    assert_eq!(v, serde_json::json!([2, 3, 4, 5, 6]));
}

#[test]
fn zero_d_and_empty_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let scalar = dir.path().join("s.npy");
    run(&[
        "create",
        p(&scalar),
        "--dtype",
        "f8",
        "--shape",
        "()",
        "--fill",
        "arange",
    ])
    .ok();
    let info = run(&["info", "--json", p(&scalar)]).ok().json();
    assert_eq!(info["shape"], serde_json::json!([]));
    assert_eq!(info["elements"], 1);
    assert_eq!(run(&["cat", p(&scalar)]).ok().stdout, "0.0\n");
    assert_eq!(
        run(&["cat", "--json", p(&scalar)]).ok().json(),
        serde_json::json!([0.0])
    );

    let empty = dir.path().join("e.npy");
    run(&["create", p(&empty), "--dtype", "u1", "--shape", "0,5"]).ok();
    let info = run(&["info", "--json", p(&empty)]).ok().json();
    assert_eq!(info["shape"], serde_json::json!([0, 5]));
    assert_eq!(info["elements"], 0);
    assert_eq!(info["data_len"], 0);
    assert_eq!(run(&["cat", p(&empty)]).ok().stdout, "");
    assert_eq!(
        run(&["cat", "--json", p(&empty)]).ok().json(),
        serde_json::json!([])
    );
    run(&["verify", p(&empty)]).ok();

    let raw0 = dir.path().join("s.raw");
    run(&[
        "create",
        p(&raw0),
        "--dtype",
        "i2",
        "--shape",
        "[]",
        "--fill",
        "arange",
    ])
    .ok();
    assert_eq!(std::fs::metadata(&raw0).unwrap().len(), 2);
    let v = run(&["cat", "--json", p(&raw0), "--dtype", "i2", "--shape", "()"])
        .ok()
        .json();
    assert_eq!(v, serde_json::json!([0]));

    let raw_empty = dir.path().join("e.raw");
    run(&["create", p(&raw_empty), "--dtype", "f4", "--shape", "0"]).ok();
    let info = run(&["info", "--json", p(&raw_empty), "--dtype", "f4"])
        .ok()
        .json();
    assert_eq!(info["shape"], serde_json::json!([0]));
    assert_eq!(
        run(&["cat", "--json", p(&raw_empty), "--dtype", "f4"])
            .ok()
            .json(),
        serde_json::json!([])
    );
}

#[test]
fn info_json_keys_are_exactly_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("a.npy");
    let create = run(&[
        "create",
        "--json",
        p(&npy),
        "--dtype",
        "f8",
        "--shape",
        "2,2",
    ])
    .ok()
    .json();
    let array_keys = [
        "format",
        "dtype",
        "dtype_name",
        "shape",
        "fortran_order",
        "data_offset",
        "data_len",
        "file_size",
        "elements",
    ];
    let mut npy_keys = set(&array_keys);
    npy_keys.insert("version".into());
    assert_eq!(keys(&create), npy_keys);
    let info = run(&["info", "--json", p(&npy)]).ok().json();
    assert_eq!(keys(&info), npy_keys);
    assert_eq!(create, info);

    let raw = dir.path().join("a.bin");
    run(&["create", p(&raw), "--dtype", "u1", "--shape", "16"]).ok();
    let info = run(&["info", "--json", p(&raw), "--dtype", "u1"])
        .ok()
        .json();
    assert_eq!(keys(&info), set(&array_keys));

    let log = dir.path().join("run.log");
    write_log(&log, 3, 2);
    let info = run(&["info", "--json", p(&log)]).ok().json();
    assert_eq!(
        keys(&info),
        set(&[
            "format",
            "version",
            "records",
            "padding",
            "bytes",
            "file_size",
            "keys",
            "time_range",
            "clean",
            "live",
            "sessions",
            "holes",
            "damaged",
            "schema",
        ])
    );
    for f in info["schema"].as_array().unwrap() {
        assert_eq!(keys(f), set(&["name", "dtype", "count", "offset"]));
    }
}

#[test]
fn human_info_is_aligned_key_value_lines() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("a.npy");
    let out = run(&[
        "create",
        p(&npy),
        "--dtype",
        ">i4",
        "--shape",
        "3,4",
        "--order",
        "F",
    ])
    .ok()
    .stdout;
    assert!(out.contains(">i4 (int32)"), "{out}");
    assert!(out.contains("(3, 4)"), "{out}");
    let info = run(&["info", p(&npy)]).ok().stdout;
    let cols: BTreeSet<usize> = info
        .lines()
        .map(|l| {
            let colon = l.find(':').unwrap();
            colon + l[colon + 1..].find(|c| c != ' ').unwrap()
        })
        .collect();
    assert_eq!(cols.len(), 1, "values start in one column:\n{info}");
}

#[test]
fn cat_slice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    run(&[
        "create",
        p(&path),
        "--dtype",
        "i8",
        "--shape",
        "4,5",
        "--order",
        "F",
        "--fill",
        "arange",
    ])
    .ok();
    let get = |slice: &str| {
        run(&["cat", "--json", p(&path), "--slice", slice])
            .ok()
            .json()
    };
    assert_eq!(get("3:7"), serde_json::json!([3, 4, 5, 6]));
    assert_eq!(get(":3"), serde_json::json!([0, 1, 2]));
    assert_eq!(get("-2:"), serde_json::json!([18, 19]));
    assert_eq!(get("18:100"), serde_json::json!([18, 19]));
    assert_eq!(get("7:3"), serde_json::json!([]));
    assert_eq!(get("0:10:4"), serde_json::json!([0, 4, 8]));
    assert_eq!(get("12"), serde_json::json!([12]));
    assert_eq!(
        run(&["cat", p(&path), "--slice", "1:3"]).ok().stdout,
        "1\n2\n"
    );
    let r = run(&["cat", p(&path), "--slice", "20"]).fails(2);
    assert!(r.stderr.contains("out of range"), "{}", r.stderr);
    let r = run(&["cat", p(&path), "--slice", "a:b"]).fails(2);
    assert!(r.stderr.contains("a:b"), "{}", r.stderr);
}

#[test]
fn nan_and_inf_are_strings_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    let mut bytes = Vec::new();
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    let v = run(&["cat", "--json", p(&path), "--dtype", "<f8"])
        .ok()
        .json();
    assert_eq!(v, serde_json::json!(["nan", "inf", "-inf", 1.5]));
    let t = run(&["cat", p(&path), "--dtype", "<f8"]).ok().stdout;
    assert_eq!(t, "nan\ninf\n-inf\n1.5\n");
}

#[test]
fn bad_dtype_and_shape_are_usage_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let r = run(&["create", p(&path), "--dtype", "f2", "--shape", "3"]).fails(2);
    assert!(
        r.stderr.contains("f2") && r.stderr.contains("float16"),
        "{}",
        r.stderr
    );
    let r = run(&["create", p(&path), "--dtype", "blah", "--shape", "3"]).fails(2);
    assert!(r.stderr.contains("blah"), "{}", r.stderr);
    let r = run(&["create", p(&path), "--dtype", "i3", "--shape", "3"]).fails(2);
    assert!(r.stderr.contains("i3"), "{}", r.stderr);
    let r = run(&["create", p(&path), "--dtype", "f8", "--shape", "3,x"]).fails(2);
    assert!(
        r.stderr.contains("3,x") && r.stderr.contains("\"x\""),
        "{}",
        r.stderr
    );
    let r = run(&["create", p(&path), "--dtype", "f8", "--shape", "(3,4]"]).fails(2);
    assert!(r.stderr.contains("shape"), "{}", r.stderr);
    let r = run(&["create", p(&path), "--dtype", "f8", "--shape", "-1"]).fails(2);
    assert!(r.stderr.contains("shape"), "{}", r.stderr);
    let r = run(&[
        "create",
        p(&path),
        "--dtype",
        "f8",
        "--shape",
        "3",
        "--order",
        "X",
    ])
    .fails(2);
    assert!(r.stderr.contains("order"), "{}", r.stderr);
    let r = run(&[
        "create",
        p(&path),
        "--dtype",
        "f8",
        "--shape",
        "3",
        "--offset",
        "8",
    ])
    .fails(2);
    assert!(r.stderr.contains("--offset"), "{}", r.stderr);
    assert!(!path.exists(), "nothing created on a usage error");

    // A raw layout that does not fit the file: the file is wrong for it (3).
    let raw = dir.path().join("five.bin");
    std::fs::write(&raw, [0u8; 5]).unwrap();
    let r = run(&["info", p(&raw), "--dtype", "f8"]).fails(3);
    assert!(
        r.stderr.contains("five.bin") && r.stderr.contains("<f8"),
        "{}",
        r.stderr
    );
    // Raw data without --dtype: say how to read it.
    let r = run(&["info", p(&raw)]).fails(2);
    assert!(r.stderr.contains("--dtype"), "{}", r.stderr);
    // Raw layout flags need --dtype.
    run(&["info", p(&raw), "--shape", "5"]).fails(2);
    // Array-only and log-only options on the wrong kind of file.
    run(&["create", p(&path), "--dtype", "f8", "--shape", "3"]).ok();
    let r = run(&["cat", p(&path), "--key", "3"]).fails(2);
    assert!(r.stderr.contains("--key"), "{}", r.stderr);
    let r = run(&["tail", p(&path)]).fails(2);
    assert!(r.stderr.contains("not a log"), "{}", r.stderr);
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let create = |shape: &str, extra: &[&str]| {
        let mut args = vec!["create", p(&path), "--dtype", "f8", "--shape", shape];
        args.extend_from_slice(extra);
        run(&args)
    };
    let values = || run(&["cat", "--json", p(&path)]).ok().json();
    create("3", &["--fill", "arange"]).ok();
    let r = create("3", &[]).fails(2);
    assert!(
        r.stderr.contains("--force") && r.stderr.contains("a.npy"),
        "{}",
        r.stderr
    );
    assert_eq!(values(), serde_json::json!([0.0, 1.0, 2.0]));
    // --force with no room for the new file: the old one is kept whole,
    // and nothing else is left in the directory.
    let r = create("100000000000000", &["--force"]).fails(5);
    assert!(r.stderr.contains("a.npy: no room"), "{}", r.stderr);
    assert_eq!(values(), serde_json::json!([0.0, 1.0, 2.0]));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    create("3", &["--force"]).ok();
    assert_eq!(values(), serde_json::json!([0.0, 0.0, 0.0]));
}

#[test]
fn no_space_exits_5_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.npy");
    // 800 TB: more than any test machine's disk (or its largest file).
    let r = run(&[
        "create",
        p(&path),
        "--dtype",
        "f8",
        "--shape",
        "100000000000000",
    ])
    .fails(5);
    assert!(
        r.stderr.contains("huge.npy") && r.stderr.contains("no room"),
        "{}",
        r.stderr
    );
    assert!(!path.exists(), "the failed file is removed");
    // A shape no file can hold is a usage error, caught before any I/O.
    let r = run(&[
        "create",
        p(&path),
        "--dtype",
        "f8",
        "--shape",
        "10000000000,10000000000",
    ])
    .fails(2);
    assert!(r.stderr.contains("too large"), "{}", r.stderr);
}

#[test]
fn missing_file_exits_6_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.npy");
    for cmd in ["info", "cat", "verify", "recover", "tail"] {
        let r = run(&[cmd, p(&path)]).fails(6);
        assert!(r.stderr.starts_with("mapio: "), "{}", r.stderr);
        assert!(r.stderr.contains("nope.npy"), "{cmd}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let r = run(&["info", p(&path), "--dtype", "f8"]).fails(6);
    assert!(r.stderr.contains("nope.npy"), "{}", r.stderr);
}

#[test]
fn truncated_npy_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    run(&["create", p(&path), "--dtype", "f8", "--shape", "10"]).ok();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
    for cmd in ["info", "cat", "verify"] {
        let r = run(&[cmd, p(&path)]).fails(3);
        assert!(
            r.stderr.contains("a.npy") && r.stderr.contains("truncated"),
            "{}",
            r.stderr
        );
    }
    // Cut inside the header.
    std::fs::write(&path, &bytes[..40]).unwrap();
    let r = run(&["info", p(&path)]).fails(3);
    assert!(r.stderr.contains("a.npy"), "{}", r.stderr);
    // Bytes past the data: verify complains, info still reads it.
    let mut long = bytes.clone();
    long.extend_from_slice(b"junk");
    std::fs::write(&path, &long).unwrap();
    run(&["info", p(&path)]).ok();
    let r = run(&["verify", p(&path)]).fails(3);
    assert!(r.stderr.contains("too many"), "{}", r.stderr);
}

#[test]
fn locked_file_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    run(&["create", p(&path), "--dtype", "f8", "--shape", "10"]).ok();
    let held = MappedFile::open(&path, Mode::ReadWrite).unwrap();
    let r = run(&["info", p(&path)]).fails(4);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    assert!(r.stderr.contains("a.npy"), "{}", r.stderr);
    run(&["cat", p(&path)]).fails(4);
    drop(held);
    wait_until_released(&path);
    run(&["info", p(&path)]).ok();

    let raw = dir.path().join("b.bin");
    let _held = MappedFile::create(&raw, 64).unwrap();
    let r = run(&["info", p(&raw), "--dtype", "u1"]).fails(4);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
}

#[test]
fn help_documents_exit_codes() {
    let r = run(&["--help"]).ok();
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 "] {
        assert!(r.stdout.contains(&format!("  {code}")), "{}", r.stdout);
    }
    assert!(r.stdout.contains("locked"));
    run(&["no-such-command"]).fails(2);
    run::<&str>(&[]).fails(2);
}

#[test]
fn broken_pipe_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    run(&[
        "create",
        p(&path),
        "--dtype",
        "f8",
        "--shape",
        "2000000",
        "--fill",
        "arange",
    ])
    .ok();
    for json in [false, true] {
        let mut cmd = mapio();
        cmd.arg("cat").arg(&path);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        if !json {
            assert_eq!(first, "0.0\n");
        }
        drop(reader); // as `head -1` exits
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(60) {
                child.kill().unwrap();
                let _ = child.wait();
                panic!("mapio cat kept running after its stdout was closed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(0), "{status:?}; stderr: {stderr}");
        assert_eq!(stderr, "", "a closed pipe is not an error");
    }
}

// ------------------------------------------------------------------ logs

fn schema() -> Schema {
    Schema::new()
        .field(
            "pos",
            DType::F64.with_byte_order(mapio::array::ByteOrder::Little),
            3,
        )
        .unwrap()
        .field(
            "mass",
            DType::F32.with_byte_order(mapio::array::ByteOrder::Little),
            1,
        )
        .unwrap()
}

fn payload(key: u64, step: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for x in [key as f64, step as f64, (key * step) as f64] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.extend_from_slice(&(key as f32 + 0.5).to_le_bytes());
    b
}

fn options() -> LogOptions {
    LogOptions::new()
        .schema(schema())
        .step(1 << 20)
        .background_allocation(false)
}

fn append(log: &Log, key: u64, step: u64) -> u64 {
    let flags = if step == 0 {
        Flags::CREATE
    } else {
        Flags::NONE
    };
    log.append(
        &Entry::new().key(key).time(step as f64 * 0.5).flags(flags),
        &payload(key, step),
    )
    .unwrap()
}

/// A closed log of `keys` keys × `steps` steps, step-major.
fn write_log(path: &Path, keys: u64, steps: u64) {
    let log = options().create(path).unwrap();
    for step in 0..steps {
        for key in 0..keys {
            append(&log, key, step);
        }
    }
    log.close().unwrap();
}

#[test]
fn log_info() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 4, 5);
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["format"], "mapio-log");
    assert_eq!(info["version"], 1);
    assert_eq!(info["records"], 20);
    assert_eq!(info["keys"], 4);
    assert_eq!(info["time_range"], serde_json::json!([0.0, 2.0]));
    assert_eq!(info["clean"], true);
    assert_eq!(info["live"], false);
    assert_eq!(info["sessions"], 1);
    assert_eq!(info["holes"], 0);
    assert_eq!(info["damaged"], serde_json::json!([]));
    assert_eq!(info["bytes"], info["file_size"]);
    assert_eq!(
        info["schema"],
        serde_json::json!([
            {"name": "pos", "dtype": "<f8", "count": 3, "offset": 0},
            {"name": "mass", "dtype": "<f4", "count": 1, "offset": 24},
        ])
    );
    let text = run(&["info", p(&path)]).ok().stdout;
    assert!(text.contains("closed cleanly"), "{text}");
    assert!(text.contains("pos <f8[3]"), "{text}");
}

#[test]
fn log_cat_json_text_key_from_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 3, 4);
    let lines = run(&["cat", "--json", p(&path)]).ok().json_lines();
    assert_eq!(lines.len(), 12);
    let mut prev_of = std::collections::HashMap::new();
    for (i, rec) in lines.iter().enumerate() {
        let (step, key) = (i as u64 / 3, i as u64 % 3);
        for k in [
            "offset",
            "len",
            "key",
            "prev",
            "time",
            "flags",
            "payload_len",
            "fields",
        ] {
            assert!(rec.get(k).is_some(), "{k} missing in {rec}");
        }
        assert_eq!(rec["key"], key);
        assert_eq!(rec["time"], step as f64 * 0.5);
        assert_eq!(rec["payload_len"], 28);
        assert_eq!(
            rec["flags"],
            if step == 0 {
                serde_json::json!(["create"])
            } else {
                serde_json::json!([])
            }
        );
        assert_eq!(
            rec["fields"],
            serde_json::json!({
                "pos": [key as f64, step as f64, (key * step) as f64],
                "mass": key as f64 + 0.5,
            })
        );
        // History chains: prev is the key's previous record (0 for the first).
        let offset = rec["offset"].as_u64().unwrap();
        assert_eq!(rec["prev"], prev_of.get(&key).copied().unwrap_or(0u64));
        prev_of.insert(key, offset);
    }
    let text = run(&["cat", p(&path)]).ok().stdout;
    assert_eq!(text.lines().count(), 12);
    assert!(text.lines().next().unwrap().contains("key=0"), "{text}");
    assert!(text.contains("pos=[1.0, 2.0, 2.0] mass=1.5"), "{text}");
    assert!(text.contains("flags=create"), "{text}");

    let history = run(&["cat", "--json", "--key", "1", p(&path)])
        .ok()
        .json_lines();
    assert_eq!(history.len(), 4);
    for (step, rec) in history.iter().enumerate() {
        assert_eq!(rec["key"], 1);
        assert_eq!(rec["time"], step as f64 * 0.5);
    }
    assert_eq!(run(&["cat", "--key", "99", p(&path)]).ok().stdout, "");

    let third = lines[2]["offset"].as_u64().unwrap().to_string();
    let from = run(&["cat", "--json", "--from", &third, "--limit", "2", p(&path)])
        .ok()
        .json_lines();
    assert_eq!(from.len(), 2);
    assert_eq!(from[0], lines[2]);
    assert_eq!(from[1], lines[3]);
    run(&["cat", "--slice", "1:2", p(&path)]).fails(2);
}

#[test]
fn log_without_schema_prints_payload_hex() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.log");
    let log = LogOptions::new()
        .step(1 << 20)
        .background_allocation(false)
        .create(&path)
        .unwrap();
    log.append(&Entry::new(), b"\x01\x02hello").unwrap();
    log.append(&Entry::new().flags(Flags(0x10) | Flags::EXIT), &[0xab; 100])
        .unwrap();
    log.close().unwrap();
    let lines = run(&["cat", "--json", p(&path)]).ok().json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["payload_hex"], "010268656c6c6f");
    assert_eq!(lines[0]["key"], Value::Null);
    assert_eq!(lines[0]["time"], Value::Null);
    assert_eq!(lines[0]["fields"], Value::Null);
    assert_eq!(lines[1]["payload_len"], 100);
    assert_eq!(lines[1]["payload_hex"].as_str().unwrap().len(), 128);
    assert_eq!(lines[1]["flags"], serde_json::json!(["exit", 16]));
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["schema"], serde_json::json!([]));
    assert_eq!(info["time_range"], Value::Null);
}

/// Offset of the middle record of a log, by `cat --json`.
fn middle_record(path: &Path) -> (u64, usize) {
    let lines = run(&["cat", "--json", p(path)]).ok().json_lines();
    let mid = &lines[lines.len() / 2];
    (mid["offset"].as_u64().unwrap(), lines.len())
}

#[test]
fn verify_detects_damage_and_recover_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 5, 10);
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    for k in [
        "ok",
        "records",
        "padding",
        "holes",
        "damaged",
        "clean",
        "end_offset",
        "file_size",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], 50);
    assert_eq!(v["clean"], true);
    assert!(run(&["verify", p(&path)]).ok().stdout.contains("OK"));

    // Flip one byte of the middle record's checksum.
    let (off, n) = middle_record(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[off as usize + 8] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let r = run(&["verify", "--json", p(&path)]).fails(1);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["records"], 49);
    let damaged = v["damaged"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{v}");
    assert_eq!(damaged[0]["from"], off);
    assert!(damaged[0]["to"].as_u64().unwrap() > off);
    assert!(!damaged[0]["why"].as_str().unwrap().is_empty());
    let text = run(&["verify", p(&path)]).fails(1).stdout;
    assert!(
        text.contains("DAMAGED") && text.contains("mapio recover"),
        "{text}"
    );
    // Its writer closed it: the damage came later, not from a crash.
    assert!(
        text.contains("closed cleanly by its writer, damaged since"),
        "{text}"
    );
    assert!(!text.contains("crashed"), "{text}");
    // The other records are still readable.
    assert_eq!(
        run(&["cat", "--json", p(&path)]).ok().json_lines().len(),
        n - 1
    );

    let rec = run(&["recover", "--json", p(&path)]).ok().json();
    assert_eq!(rec["records"], 49);
    assert_eq!(rec["changed"], true);
    assert_eq!(rec["damaged"].as_array().unwrap().len(), 1);
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["clean"], true);
    assert_eq!(v["records"], 49);
    let text = run(&["recover", p(&path)]).ok().stdout;
    assert!(text.contains("already clean"), "{text}");
}

/// A closed log cut short (truncated in the middle of its records) lost
/// records it had made durable: `verify` says so and exits 1, and neither
/// it nor `info` blames a crashed writer (its writer closed it).
#[test]
fn verify_reports_a_log_cut_short_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 5, 10);
    let (off, n) = middle_record(&path);
    // Cut 8 bytes into the middle record: it and everything after it are
    // gone, and what is left of it is too short to be seen as a torn record.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(off + 8).unwrap();
    drop(f);

    let v = run(&["verify", "--json", p(&path)]).fails(1).json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["records"].as_u64(), Some(n as u64 / 2), "{v}");
    let damaged = v["damaged"].as_array().unwrap();
    assert_eq!(damaged.len(), 1, "{v}");
    assert_eq!(damaged[0]["from"], off, "{v}");
    assert_eq!(damaged[0]["to"], off + 8, "{v}");
    let text = run(&["verify", p(&path)]).fails(1).stdout;
    assert!(
        text.contains("DAMAGED") && text.contains("cut short"),
        "{text}"
    );
    assert!(!text.contains("crashed"), "{text}");
    let info = run(&["info", p(&path)]).ok().stdout;
    assert!(info.contains("damaged since"), "{info}");
    assert!(!info.contains("crashed"), "{info}");
    assert_eq!(
        run(&["info", "--json", p(&path)]).ok().json()["damaged"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Recovery keeps what is left, and the log verifies again.
    let rec = run(&["recover", "--json", p(&path)]).ok().json();
    assert_eq!(rec["records"].as_u64(), Some(n as u64 / 2), "{rec}");
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(
        (v["ok"].as_bool(), v["clean"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
}

/// A log closed while a reader had it open keeps its allocated space
/// past the end record (truncating would fault the reader); `recover`
/// truncates it, losing and changing nothing else, and then finds it
/// clean.
#[test]
fn recover_truncates_a_clean_log_left_at_its_allocated_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slack.log");
    let log = options().create(&path).unwrap();
    for key in 0..20 {
        append(&log, key, 0);
    }
    let reader = mapio::log::LogReader::open(&path).unwrap();
    log.close().unwrap();
    drop(reader);
    let size = || std::fs::metadata(&path).unwrap().len();
    assert!(size() >= 1 << 20, "closed with a reader: {} bytes", size());
    let rec = run(&["recover", "--json", p(&path)]).ok().json();
    assert_eq!(
        (rec["records"].as_u64(), rec["changed"].as_bool()),
        (Some(20), Some(true)),
        "{rec}"
    );
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(
        (v["records"].as_u64(), v["clean"].as_bool()),
        (Some(20), Some(true)),
        "{v}"
    );
    assert!(size() < 1 << 16, "after recover: {} bytes", size());
    // Only truncated: no new session, no second end record.
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["sessions"], 1, "{info}");
    let text = run(&["recover", p(&path)]).ok().stdout;
    assert!(text.contains("already clean"), "{text}");
}

/// `verify` takes several files, a directory or a quoted pattern (as the
/// query commands do): every file is reported, and it exits 1 if any is
/// damaged; with --json one document lists them.
#[test]
fn verify_checks_a_set_of_logs() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..3)
        .map(|r| dir.path().join(format!("run_{r:04}.log")))
        .collect();
    for path in &paths {
        write_log(path, 3, 4);
    }
    let pattern = dir.path().join("run_*.log");
    let text = run(&["verify", p(&pattern)]).ok().stdout;
    assert_eq!(text.matches("12 good records").count(), 3, "{text}");
    // Damage the second log.
    let (off, _) = middle_record(&paths[1]);
    let mut bytes = std::fs::read(&paths[1]).unwrap();
    bytes[off as usize + 8] ^= 0xff;
    std::fs::write(&paths[1], &bytes).unwrap();
    for spec in [p(&pattern), p(dir.path())] {
        let r = run(&["verify", "--json", spec]).fails(1);
        let v = r.json();
        assert_eq!(v["ok"], false, "{v}");
        let files = v["files"].as_array().unwrap();
        let oks: Vec<bool> = files.iter().map(|f| f["ok"] == true).collect();
        assert_eq!(oks, [true, false, true], "{v}");
        assert!(files[1]["path"].as_str().unwrap().ends_with("run_0001.log"));
    }
    // Files named one by one, too; one file keeps the single document.
    run(&["verify", p(&paths[0]), p(&paths[1])]).fails(1);
    let one = run(&["verify", "--json", p(&paths[2])]).ok().json();
    assert_eq!((one["ok"].as_bool(), one.get("files")), (Some(true), None));
    // A pattern matching nothing is a usage error.
    let none = dir.path().join("nothing_*.log");
    run(&["verify", p(&none)]).fails(2);
}

#[test]
fn recover_stop_at_damage_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 2, 10);
    let (off, _) = middle_record(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[off as usize + 8] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let text = run(&["recover", "--stop-at-damage", p(&path)]).ok().stdout;
    assert!(text.contains("dropped"), "{text}");
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(v["records"], 10);
    assert_eq!(v["clean"], true);
}

#[test]
fn unclean_log_verifies_with_a_warning_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let log = options().create(&path).unwrap();
    for key in 0..6 {
        append(&log, key, 0);
    }
    // A reservation never committed: a hole the crashed writer left.
    let hole = log
        .reserve(&Entry::new().key(9), schema().payload_len())
        .unwrap();
    std::mem::forget(hole);
    append(&log, 1, 1);
    drop(log); // no close: as if the process died
    wait_until_released(&path);

    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["clean"], false);
    assert_eq!(v["records"], 7);
    let text = run(&["verify", p(&path)]).ok().stdout;
    assert!(text.contains("not closed cleanly"), "{text}");
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["clean"], false);
    // Queries answer from what was committed, and say the log is unclean.
    let at = run(&["at", p(&path), "--time", "9"]).ok();
    assert_eq!(at.stdout.lines().count(), 6);
    assert!(at.stderr.contains("not closed cleanly"), "{}", at.stderr);
    // A follower prints every committed record and says how it ended.
    let tail = run(&["tail", "-f", p(&path)]).ok();
    assert_eq!(tail.stdout.lines().count(), 7);
    assert!(
        tail.stderr.contains("left without closing"),
        "{}",
        tail.stderr
    );
    assert!(
        tail.stderr.contains("stepped over 1 range"),
        "{}",
        tail.stderr
    );
    let rec = run(&["recover", p(&path)]).ok().stdout;
    assert!(rec.contains("now clean"), "{rec}");
    let at = run(&["at", p(&path), "--time", "9"]).ok();
    assert_eq!(at.stderr, "", "after recovery");
    let tail = run(&["tail", "-f", p(&path)]).ok();
    assert!(!tail.stderr.contains("left without"), "{}", tail.stderr);
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(v["clean"], true);
    assert_eq!(v["records"], 7);
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["clean"], true);
    assert_eq!(info["sessions"], 2);
}

/// `mapio recover` beside a reader: the crashed log is recovered (it used
/// to exit 4), keeps its allocation, and says so; once the reader is
/// gone, a second recover gives the space back.
#[test]
fn recover_beside_a_reader_keeps_the_allocation_until_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let log = options().create(&path).unwrap();
    for k in 0..3 {
        append(&log, k, 0);
    }
    drop(log); // a crash
    wait_until_released(&path);
    let reader = mapio::log::LogReader::open(&path).unwrap();
    let r = run(&["recover", p(&path)]).ok();
    assert!(r.stdout.contains("now clean"), "{}", r.stdout);
    assert!(
        r.stdout.contains("its allocated space was kept"),
        "{}",
        r.stdout
    );
    let kept = std::fs::metadata(&path).unwrap().len();
    assert_eq!(reader.records().count(), 3);
    drop(reader);
    let r = run(&["recover", "--json", p(&path)]).ok().json();
    assert_eq!(r["changed"], true);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < kept, "{size} vs {kept}");
    assert_eq!(r["file_size"], size);
    let v = run(&["verify", "--json", p(&path)]).ok().json();
    assert_eq!(v["clean"], true);
    assert_eq!(v["records"], 3);
}

/// `at --interpolate linear` shows interpolated values at the time asked
/// (as `export` writes them), with the record's own time beside them.
#[test]
fn at_interpolated_shows_the_time_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 2, 3); // times 0, 0.5, 1
    let lines = run(&[
        "at",
        p(&path),
        "--time",
        "0.25",
        "--interpolate",
        "linear",
        "--json",
    ])
    .ok()
    .json_lines();
    assert_eq!(lines.len(), 2);
    for v in &lines {
        assert_eq!(v["interpolated"], true, "{v}");
        assert_eq!(v["time"], 0.25, "{v}");
        assert_eq!(v["record_time"], 0.0, "{v}");
        assert_eq!(v["fields"]["pos"][1], 0.5, "step 0 to 1, halfway: {v}");
    }
    let text = run(&["at", p(&path), "--time", "0.25", "--interpolate", "linear"])
        .ok()
        .stdout;
    assert!(text.contains("(interpolated)"), "{text}");
    let out = dir.path().join("state");
    run(&[
        "export",
        p(&path),
        "--out",
        p(&out),
        "--time",
        "0.25",
        "--interpolate",
        "linear",
    ])
    .ok();
    // Without interpolation, the record's own time.
    let plain = run(&["at", p(&path), "--time", "0.25", "--json"])
        .ok()
        .json_lines();
    assert!(
        plain
            .iter()
            .all(|v| v["time"] == 0.0 && v.get("record_time").is_none())
    );
}

/// A process id that is not running: a child that has exited.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// Temporary files an export or index build killed half-way left (as
/// large as its output) are removed by the next one there; those of a
/// running process, and other files, are not.
#[test]
fn export_and_index_remove_what_killed_ones_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 3, 2);
    let out = dir.path().join("state");
    std::fs::create_dir(&out).unwrap();
    let dead = dead_pid();
    let left = out.join(format!(".pos.npy.mapio-export-{dead}-0123abcd"));
    let live = out.join(format!(
        ".pos.npy.mapio-export-{}-0123abcd",
        std::process::id()
    ));
    let other = out.join(format!(".notes.mapio-export-{dead}-xyz"));
    for f in [&left, &live, &other] {
        std::fs::write(f, b"x").unwrap();
    }
    // Named for a process this one cannot see (another PID namespace),
    // but still being written: its writer's lock keeps it.
    let writing = out.join(format!(".mass.npy.mapio-export-{dead}-89abcdef"));
    let held = MappedFile::options()
        .mode(Mode::Create)
        .len(8)
        .open(&writing)
        .unwrap();
    run(&["export", p(&path), "--out", p(&out)]).ok();
    assert!(!left.exists() && live.exists() && other.exists());
    assert!(writing.exists(), "a file being written is kept");
    drop(held);
    let idx_left = dir
        .path()
        .join(format!(".run.log.idx.mapio-index-{dead}-89abcdef"));
    std::fs::write(&idx_left, b"x").unwrap();
    run(&["index", p(&path)]).ok();
    assert!(!idx_left.exists());
    assert!(dir.path().join("run.log.idx").exists());
    // A bare file name: its directory is the working directory.
    std::fs::write(&idx_left, b"x").unwrap();
    let o = mapio()
        .current_dir(dir.path())
        .args(["index", "--rebuild", "run.log"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!idx_left.exists());
}

/// `index --index-dir DIR` makes DIR (as `at`'s note suggests it).
#[test]
fn index_makes_its_index_dir() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 3, 2);
    let idx = dir.path().join("indexes/run");
    let note = run(&["at", p(&path), "--time", "1", "--index-dir", p(&idx)])
        .ok()
        .stderr;
    assert!(note.contains("mapio index --index-dir"), "{note}");
    run(&["index", "--index-dir", p(&idx), p(&path)]).ok();
    assert!(idx.join("run.log.idx").exists());
    let note = run(&["at", p(&path), "--time", "1", "--index-dir", p(&idx)])
        .ok()
        .stderr;
    assert_eq!(note, "");
}

/// Ctrl-C in the middle of an export removes its temporary columns and
/// exits 130, replacing nothing.
#[test]
fn an_interrupted_export_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    write_log(&path, 20_000, 20);
    let out = dir.path().join("state");
    let mut child = mapio()
        .args(["export", p(&path), "--out", p(&out), "--no-index"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let temporaries = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|it| {
                it.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().contains(".mapio-export-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Every column's temporary file (key, time, offset, pos, mass): they
    // are made in a burst before the rows are written, and a file made in
    // the instant between the signal and the exit would be left (for the
    // next export to remove).
    let start = Instant::now();
    while temporaries(&out).len() < 5 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the export ended first: make the log bigger"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no temporary file appeared"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"));
    assert_eq!(temporaries(&out), Vec::<PathBuf>::new());
    assert!(
        !out.join("pos.npy").exists(),
        "nothing was renamed into place"
    );
}

#[test]
fn recover_while_a_writer_holds_the_log_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let log = options().create(&path).unwrap();
    append(&log, 1, 0);
    let r = run(&["recover", p(&path)]).fails(4);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    // Readers work while the writer is live.
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["live"], true);
    assert_eq!(info["records"], 1);
    assert_eq!(run(&["cat", "--json", p(&path)]).ok().json_lines().len(), 1);
    log.close().unwrap();
    wait_until_released(&path);
    run(&["recover", p(&path)]).ok();
}

#[test]
fn tail_prints_the_last_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 4, 5);
    let all = run(&["cat", "--json", p(&path)]).ok().json_lines();
    let last = run(&["tail", "--json", p(&path)]).ok().json_lines();
    assert_eq!(last, all[10..]);
    let last3 = run(&["tail", "--json", "-n", "3", p(&path)])
        .ok()
        .json_lines();
    assert_eq!(last3, all[17..]);
    assert_eq!(run(&["tail", "-n", "0", p(&path)]).ok().stdout, "");
    let text = run(&["tail", "-n", "2", p(&path)]).ok().stdout;
    assert_eq!(text.lines().count(), 2);
    // -f on a closed log prints everything and exits at its end.
    let followed = run(&["tail", "-f", "--json", p(&path)]).ok().json_lines();
    assert_eq!(followed, all);
    let followed = run(&["tail", "-f", "-n", "2", "--json", p(&path)])
        .ok()
        .json_lines();
    assert_eq!(followed, all[18..]);
}

#[test]
fn tail_follow_reads_every_session_of_a_reopened_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.log");
    write_log(&path, 2, 1);
    let log = options().open(&path).unwrap();
    append(&log, 0, 1);
    append(&log, 1, 1);
    log.close().unwrap();
    wait_until_released(&path);
    let all = run(&["cat", "--json", p(&path)]).ok().json_lines();
    assert_eq!(all.len(), 4);
    let followed = run(&["tail", "-f", "--json", p(&path)]).ok().json_lines();
    assert_eq!(followed, all);
    let info = run(&["info", "--json", p(&path)]).ok().json();
    assert_eq!(info["sessions"], 2);
    assert_eq!(info["clean"], true);
}

/// Collects a child's stdout lines in a thread; kills the child if it has
/// not exited by `deadline`.
fn wait_with_deadline(
    mut child: std::process::Child,
    deadline: Duration,
) -> (Option<i32>, Vec<String>) {
    // Read here unless the caller reads the child's stdout itself.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        stdout.map_or_else(Vec::new, |out| {
            BufReader::new(out).lines().map(|l| l.unwrap()).collect()
        })
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("mapio tail -f did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), reader.join().unwrap())
}

#[test]
fn tail_follow_prints_records_as_they_arrive_and_exits_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.log");
    let log = options().create(&path).unwrap();
    append(&log, 0, 0);
    let child = mapio()
        .args(["tail", "-f", "--json", p(&path)])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let writer = std::thread::spawn(move || {
        for step in 1..40 {
            append(&log, step % 3, step);
            if step % 10 == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        log.close().unwrap();
    });
    let (code, lines) = wait_with_deadline(child, Duration::from_secs(60));
    writer.join().unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), 40, "every record printed once: {lines:?}");
    for (i, l) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["time"], i as f64 * 0.5);
    }
    let all = run(&["cat", "--json", p(&path)]).ok().stdout;
    assert_eq!(all.lines().collect::<Vec<_>>(), lines);
}

/// `tail -F` stays attached when the writer dies, does not keep the
/// restarted run out (it reopens beside it), and prints the new session.
#[test]
fn tail_follow_restarts_reads_a_run_restarted_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restart.log");
    let log = options().create(&path).unwrap();
    append(&log, 0, 0);
    append(&log, 1, 0);
    let child = mapio()
        .args(["tail", "-F", "--json", "--idle-timeout", "1.5", p(&path)])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(log); // the run dies without closing
    std::thread::sleep(Duration::from_millis(100));
    let log = options().open(&path).expect("reopened beside tail -F");
    append(&log, 0, 1);
    append(&log, 1, 1);
    let end = log.close().unwrap();
    assert!(
        std::fs::metadata(&path).unwrap().len() > end,
        "closed beside the follower: not truncated"
    );
    let (code, lines) = wait_with_deadline(child, Duration::from_secs(60));
    assert_eq!(code, Some(0));
    let all = run(&["cat", "--json", p(&path)]).ok().stdout;
    assert_eq!(all.lines().count(), 4);
    assert_eq!(all.lines().collect::<Vec<_>>(), lines);
}

/// `tail -F -n N` prints the last N records, then everything a run
/// restarted from an earlier checkpoint writes (the follower goes back
/// below where -n started).
#[test]
fn tail_follow_restarts_with_lines_prints_a_resumed_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resumed.log");
    let log = options().create(&path).unwrap();
    let mut points = Vec::new();
    for step in 0..4 {
        append(&log, 0, step);
        points.push(log.sync_point().unwrap());
    }
    drop(log);
    let mut child = mapio()
        .args([
            "tail",
            "-F",
            "-n",
            "1",
            "--json",
            "--idle-timeout",
            "1.5",
            p(&path),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let _ = tx.send(l.unwrap());
        }
    });
    // The follower has printed the last record: now the run restarts.
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let log = options().resume_from(points[1]).open(&path).unwrap();
    append(&log, 0, 20);
    append(&log, 0, 21);
    log.close().unwrap();
    let (code, _) = wait_with_deadline(child, Duration::from_secs(60));
    assert_eq!(code, Some(0));
    reader.join().unwrap();
    let lines: Vec<String> = std::iter::once(first).chain(rx.try_iter()).collect();
    let times: Vec<f64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["time"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(times, [1.5, 10.0, 10.5], "{lines:?}");
}

#[test]
fn tail_follow_from_end_and_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.log");
    let log = options().create(&path).unwrap();
    for k in 0..5 {
        append(&log, k, 0);
    }
    // Nothing new: the idle timeout ends it, printing nothing.
    let start = Instant::now();
    let r = run(&[
        "tail",
        "-f",
        "--from-end",
        "--idle-timeout",
        "0.3",
        p(&path),
    ])
    .ok();
    assert_eq!(r.stdout, "");
    assert!(start.elapsed() >= Duration::from_millis(300));

    let child = mapio()
        .args(["tail", "-f", "--from-end", "--json", p(&path)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Give it time to find the end before appending.
    std::thread::sleep(Duration::from_millis(300));
    append(&log, 7, 1);
    append(&log, 8, 1);
    log.close().unwrap();
    let (code, lines) = wait_with_deadline(child, Duration::from_secs(60));
    assert_eq!(code, Some(0));
    let keys: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(keys, vec![7, 8]);
    run(&["tail", "-n", "1", "--from-end", p(&path)]).fails(2);
}

#[test]
fn json_mode_keeps_stdout_pure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 2, 2);
    for args in [
        vec!["info", "--json"],
        vec!["verify", "--json"],
        vec!["recover", "--json"],
    ] {
        let mut a = args.clone();
        a.push(p(&path));
        let r = run(&a).ok();
        r.json();
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&[0xee; 64]).unwrap();
    drop(f);
    let r = run(&["verify", "--json", p(&path)]).fails(1);
    r.json();
}

/// A log where some keys were written late (an earlier time after a later
/// one): `mapio index` says how many, and `mapio at` through the index
/// answers as a scan does.
/// `cat --key` shows every intact record of the key when a record of its
/// chain was damaged (and after `recover` turned it into padding), and
/// says the chain is broken.
#[test]
fn cat_key_survives_a_damaged_record_of_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.log");
    let log = options().create(&path).unwrap();
    let mut of_seven = Vec::new();
    for step in 0..4 {
        for key in 0..10 {
            let off = append(&log, key, step);
            if key == 7 {
                of_seven.push(off);
            }
        }
    }
    log.close().unwrap();
    // Damage key 7's second record (one byte of its payload).
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[of_seven[1] as usize + 40] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    for when in ["damaged", "recovered"] {
        if when == "recovered" {
            run(&["recover", p(&path)]).ok();
        }
        let r = run(&["cat", "--json", "--key", "7", p(&path)]);
        assert_eq!(r.code, Some(0), "{when}: {}", r.stderr);
        let offsets: Vec<u64> = r
            .json_lines()
            .iter()
            .map(|v| v["offset"].as_u64().unwrap())
            .collect();
        assert_eq!(offsets, [of_seven[0], of_seven[2], of_seven[3]], "{when}");
        let at = of_seven[2].to_string();
        assert!(
            r.stderr.contains("broken at offset") && r.stderr.contains(&at),
            "{when}: {}",
            r.stderr
        );
    }
    // An intact key: no warning.
    let r = run(&["cat", "--key", "6", p(&path)]).ok();
    assert_eq!((r.stdout.lines().count(), r.stderr.as_str()), (4, ""));
}

/// `cat --key` goes through the log's index (next to it, or in
/// `--index-dir`), scanning only what the log holds past it, and prints
/// what a scan (`--no-index`) prints. An index that names another key's
/// record under the key is an error, never a wrong answer.
#[test]
fn cat_key_goes_through_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.log");
    let log = options().create(&path).unwrap();
    for step in 0..5 {
        for key in 0..10 {
            append(&log, key, step);
        }
    }
    let elsewhere = dir.path().join("idx");
    run(&["index", p(&path)]).ok();
    run(&["index", "--index-dir", p(&elsewhere), p(&path)]).ok();
    // Records past the index.
    for key in [3, 11] {
        append(&log, key, 5);
    }
    log.close().unwrap();
    let cat = |extra: &[&str]| {
        let mut args = vec!["cat", "--json", "--key", "3"];
        args.extend_from_slice(extra);
        args.push(p(&path));
        run(&args).ok().stdout
    };
    let scan = cat(&["--no-index"]);
    assert_eq!(scan.lines().count(), 6);
    assert_eq!(cat(&[]), scan);
    assert_eq!(cat(&["--index-dir", p(&elsewhere)]), scan);
    // Key 3's list in the index, made to name key 4's records: the index
    // is what `cat --key` read.
    let idx_path = dir.path().join("k.log.idx");
    let reader = mapio::log::LogReader::open(&path).unwrap();
    let idx = mapio::log::Index::build(&reader, None).unwrap();
    let (three, four) = (idx.offsets(3), idx.offsets(4));
    let mut bytes = std::fs::read(&idx_path).unwrap();
    let mut swapped = 0;
    for at in (128..bytes.len() - 4).step_by(4) {
        let v = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        if let Some(j) = three.iter().position(|&o| o / 8 == u64::from(v)) {
            bytes[at..at + 4].copy_from_slice(&((four[j] / 8) as u32).to_le_bytes());
            swapped += 1;
        }
    }
    assert_eq!(swapped, 5, "key 3's five indexed records");
    // The index's checksum over its sections, set again.
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..124]), &bytes[128..]);
    bytes[124..128].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&idx_path, &bytes).unwrap();
    let r = run(&["cat", "--key", "3", p(&path)]).fails(3);
    assert!(
        r.stderr.contains("under key 3, but it has key 4"),
        "{}",
        r.stderr
    );
    assert_eq!(cat(&["--no-index"]), scan);
    // --index-dir and --no-index go with --key.
    run(&["cat", "--no-index", p(&path)]).fails(2);
}

/// A `.npy` file given to a command that reads logs is named for what it
/// is (a usage error), not reported as a corrupt log.
#[test]
fn log_commands_say_a_npy_file_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("data.npy");
    run(&["create", p(&npy), "--dtype", "f8", "--shape", "4"]).ok();
    let out = dir.path().join("out");
    let commands: [&[&str]; 4] = [
        &["at", "--time", "1"],
        &["history", "--key", "1"],
        &["index"],
        &["export", "--out", p(&out)],
    ];
    for args in commands {
        let r = mapio().args(args).arg(&npy).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("data.npy: a .npy array, not a log"),
            "{args:?}: {err}"
        );
    }
}

/// A FIFO (or a device) given for a file is refused at once: opening a
/// FIFO for reading would wait for a writer forever.
#[test]
fn a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let commands: [&[&str]; 9] = [
        &["info"],
        &["cat"],
        &["verify"],
        &["recover"],
        &["tail"],
        &["tail", "-f"],
        &["index"],
        &["at", "--time", "1"],
        &["history", "--key", "1"],
    ];
    for args in commands {
        let mut child = mapio()
            .args(args)
            .arg(&fifo)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("mapio {args:?} on a FIFO is still waiting after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(6), "{args:?}: {err}");
        assert!(
            err.contains("not a regular file") && err.contains("pipe.log"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn index_reports_keys_out_of_time_order_and_at_still_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.log");
    let log = options().create(&path).unwrap();
    for step in 0..4 {
        for key in 0..6 {
            append(&log, key, step);
        }
    }
    // Keys 1 and 4 get a record for step 1 again, after step 3's.
    append(&log, 1, 1);
    append(&log, 4, 1);
    log.close().unwrap();
    let idx = run(&["index", "--json", p(&path)]).ok().json();
    assert_eq!(idx["indexes"][0]["keys"], 6, "{idx}");
    assert_eq!(idx["indexes"][0]["unordered_keys"], 2, "{idx}");
    let text = run(&["index", p(&path)]).ok().stdout;
    assert!(text.contains("2 of 6 keys out of time order"), "{text}");
    assert!(text.contains(": fresh "), "{text}");
    let again = run(&["index", "--rebuild", "--json", p(&path)]).ok().json();
    assert_eq!(
        again["indexes"][0]["action"], "rebuilt: on request",
        "{again}"
    );
    let text = run(&["index", "--rebuild", p(&path)]).ok().stdout;
    assert!(
        text.contains(": rebuilt ") && text.trim_end().ends_with("; on request"),
        "{text}"
    );
    assert_eq!(again["indexes"][0]["unordered_keys"], 2, "{again}");
    for t in ["0.5", "0.75", "1.25", "9"] {
        let with = run(&["at", p(&path), "--time", t, "--json"]).ok().stdout;
        let without = run(&["at", p(&path), "--time", t, "--json", "--no-index"])
            .ok()
            .stdout;
        assert_eq!(with, without, "at t={t}");
    }
}

// ------------------------------------------------ export and at: hostile input

/// A log (4 keys × 5 steps) whose first schema field is renamed to `name`
/// in the header, the header checksum recomputed as a crafted file has it.
fn log_with_field_name(path: &Path, name: &[u8]) {
    use mapio::log::format::{IMMUTABLE_END, OFF_FIELDS, OFF_HEADER_CRC};
    write_log(path, 4, 5);
    let mut b = std::fs::read(path).unwrap();
    b[OFF_FIELDS..OFF_FIELDS + 32].fill(0);
    b[OFF_FIELDS..OFF_FIELDS + name.len()].copy_from_slice(name);
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&b[..IMMUTABLE_END]),
        &b[OFF_FIELDS..OFF_HEADER_CRC],
    );
    b[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, &b).unwrap();
}

/// A crafted schema field name must never become a path outside --out
/// (or an existing .npy elsewhere): the log is refused as corrupt (exit
/// 3), naming the field, and nothing is written.
#[test]
fn export_refuses_a_log_whose_field_names_are_paths() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("a").join("b");
    std::fs::create_dir_all(&work).unwrap();
    let out = work.join("out");
    let victim = dir.path().join("victim.npy");
    std::fs::write(&victim, b"precious").unwrap();
    let names: [&[u8]; 7] = [
        b"../../pwned",
        b"../../../victim",
        b"..",
        b".",
        b"a/b",
        b"a\nb",
        b"offset",
    ];
    for (i, name) in names.iter().enumerate() {
        let log = work.join(format!("crafted{i}.log"));
        log_with_field_name(&log, name);
        let shown = format!("{:?}", String::from_utf8_lossy(name));
        let r = run(&["export", p(&log), "--out", p(&out)]).fails(3);
        assert!(r.stderr.contains("schema field 0"), "{}", r.stderr);
        assert!(r.stderr.contains(&shown), "{shown}: {}", r.stderr);
        assert_eq!(r.stdout, "");
        assert!(!out.exists(), "{shown}: nothing written");
        run(&["at", p(&log), "--time", "1"]).fails(3);
    }
    assert!(!dir.path().join("a").join("pwned.npy").exists());
    assert!(!dir.path().join("pwned.npy").exists());
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(listing(&work).len(), names.len());
}

#[test]
fn export_with_a_field_listed_twice_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    write_log(&log, 4, 5);
    let out = dir.path().join("out");
    let r = run(&["export", p(&log), "--out", p(&out), "--fields", "pos,pos"]).fails(2);
    assert!(r.stderr.contains("\"pos\" twice"), "{}", r.stderr);
    assert!(!r.stderr.contains("locked"), "{}", r.stderr);
    assert!(!out.exists(), "nothing written");
    run(&["export", p(&log), "--out", p(&out), "--fields", "pos,mass"]).ok();
}

/// An export that fails half-way (`mass.npy` cannot be created: a
/// directory of that name is there) removes the files it had written;
/// the directory given as --out, which was there, stays.
#[test]
fn a_failed_export_leaves_no_half_written_set() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    write_log(&log, 4, 5);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("mass.npy")).unwrap();
    let r = run(&["export", p(&log), "--out", p(&out)]);
    assert_ne!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("mass.npy"), "{}", r.stderr);
    assert_eq!(listing(&out), ["mass.npy"], "{}", r.stderr);
    assert!(out.join("mass.npy").is_dir());
}

/// .npy files of an earlier export that this one did not write are named
/// in a warning on stderr; stdout (and --json) list only this export's.
#[test]
fn export_warns_about_npy_files_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    write_log(&log, 4, 5);
    let out = dir.path().join("out");
    let r = run(&["export", p(&log), "--out", p(&out)]).ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    std::fs::write(out.join("notes.txt"), b"not an array").unwrap();
    let r = run(&[
        "export",
        p(&log),
        "--out",
        p(&out),
        "--fields",
        "mass",
        "--json",
    ])
    .ok();
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "mapio: warning: {} also holds pos.npy from something else (not part of this export)",
            out.display()
        )
    );
    let files = r.json()["files"].as_object().unwrap().clone();
    let mut names: Vec<&str> = files.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["key", "mass", "offset", "time"]);
}

/// Exporting a set writes file.npy, each row's log as a number: the
/// export says which log each number stands for (text and JSON).
#[test]
fn export_of_a_set_names_the_logs_file_npy_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let paths: Vec<_> = (0..3)
        .map(|r| logs.join(format!("run_{r:04}.log")))
        .collect();
    for path in &paths {
        write_log(path, 3, 4);
    }
    let out = dir.path().join("out");
    let v = run(&["export", p(&logs), "--out", p(&out), "--json"])
        .ok()
        .json();
    assert!(v["files"].get("file").is_some(), "{v}");
    let listed: Vec<&str> = v["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {v}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = paths.iter().map(|x| p(x)).collect();
    assert_eq!(listed, expected);
    let text = run(&["export", p(&logs), "--out", p(&out)]).ok().stdout;
    for (i, path) in paths.iter().enumerate() {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [&i.to_string(), p(path)]),
            "{text}"
        );
    }
    // One log: no file.npy, no numbering.
    let text = run(&["export", p(&paths[0]), "--out", p(&out)]).ok().stdout;
    assert!(!text.contains("numbers the logs"), "{text}");
}

/// `--time nan` is a usage error (it used to find nothing and exit 0);
/// -inf and inf are times. An empty answer gets a note on stderr with
/// the log's time range (text mode only).
#[test]
fn at_and_export_refuse_a_nan_time_and_note_an_empty_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    write_log(&log, 4, 5);
    for nan in ["nan", "NaN", "-nan"] {
        let r = run(&["at", p(&log), "--time", nan]).fails(2);
        assert!(r.stderr.contains("nan is not a time"), "{}", r.stderr);
        assert_eq!(r.stdout, "");
        let out = dir.path().join("out");
        run(&["export", p(&log), "--out", p(&out), "--time", nan]).fails(2);
        assert!(!out.exists());
    }
    for (t, shown) in [("-5", "-5.0"), ("-inf", "-inf")] {
        let r = run(&["at", p(&log), "--time", t]).ok();
        assert_eq!(r.stdout, "");
        assert!(
            r.stderr.contains(&format!("no objects at t={shown} "))
                && r.stderr.contains("(the log's times run from 0.0 to 2.0)"),
            "{}",
            r.stderr
        );
        let r = run(&["at", p(&log), "--time", t, "--json"]).ok();
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""));
    }
    // With an index too.
    run(&["index", p(&log)]).ok();
    let r = run(&["at", p(&log), "--time", "-1"]).ok();
    assert!(r.stderr.contains("from 0.0 to 2.0"), "{}", r.stderr);
    for t in ["inf", "+inf", "2"] {
        let r = run(&["at", p(&log), "--time", t]).ok();
        assert_eq!(r.stdout.lines().count(), 4, "t={t}: {}", r.stdout);
        assert_eq!(r.stderr, "");
    }
}

/// A directory the user may write but not read (a drop box, mode 0333):
/// the directory cannot be opened to be fsynced after a create, and that
/// must not fail the create (it did, and removed the file). Needs root, to
/// run the tool as `nobody`; says so and returns otherwise.
#[test]
fn create_and_log_in_a_write_only_directory() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    // The owner of a directory this process just made is its user.
    if std::fs::metadata(dir.path()).unwrap().uid() != 0 {
        eprintln!("SKIPPED create_and_log_in_a_write_only_directory: needs root to run as nobody");
        return;
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    std::fs::set_permissions(&drop, std::fs::Permissions::from_mode(0o333)).unwrap();
    let as_nobody = |args: &[&str]| {
        let out = mapio()
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run mapio");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let npy = drop.join("x.npy");
    let (code, err) = as_nobody(&["create", "--dtype", "f8", "--shape", "4", p(&npy)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::metadata(&npy).unwrap().len(), 128 + 32);
    let log = drop.join("run.log");
    let (code, err) = as_nobody(&[
        "demo",
        "--log",
        p(&log),
        "--no-follow",
        "--no-compare",
        "--particles",
        "50",
        "--steps",
        "2",
    ]);
    assert_eq!(code, Some(0), "{err}");
}

/// A key with no records: `history` and `cat --key` print nothing and
/// exit 0, and say so on stderr (an empty stdout alone does not tell a
/// missing key from a mistyped path of an empty log); JSON stays clean.
/// Over a set, the text of `history` and `at` names each row's log by its
/// path, as their JSON does (it printed the log's number).
#[test]
fn queries_say_when_a_key_has_no_records_and_name_logs_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 3, 4);
    let h = run(&["history", p(&path), "--key", "99"]).ok();
    assert_eq!(h.stdout, "");
    assert!(h.stderr.contains("no records of key 99"), "{}", h.stderr);
    let c = run(&["cat", p(&path), "--key", "99"]).ok();
    assert_eq!(c.stdout, "");
    assert!(c.stderr.contains("no records of key 99"), "{}", c.stderr);
    let j = run(&["history", p(&path), "--key", "99", "--json"]).ok();
    assert_eq!((j.stdout.as_str(), j.stderr.as_str()), ("", ""));
    let found = run(&["history", p(&path), "--key", "2"]).ok();
    assert_eq!(found.stdout.lines().count(), 4);
    assert_eq!(found.stderr, "");

    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let second = logs.join("run_0001.log");
    std::fs::rename(&path, logs.join("run_0000.log")).unwrap();
    write_log(&second, 3, 4);
    let h = run(&["history", p(&logs), "--key", "1"]).ok().stdout;
    assert!(
        h.lines().all(|l| l.contains("file=") && l.contains(".log")),
        "{h}"
    );
    assert!(h.contains(&format!("file={}", second.display())), "{h}");
    let a = run(&["at", p(&logs), "--time", "1"]).ok().stdout;
    assert!(
        a.lines()
            .all(|l| l.contains(&format!("file={}", logs.display()))),
        "{a}"
    );
}

/// `index` measures the index against the log's records, not its file: a
/// log closed while a reader was attached keeps its allocated size (here
/// 1 MiB for a few KiB of records), which made the index look tiny.
/// A query given `--index-dir` where no index is says it scans.
#[test]
fn index_ratio_is_of_the_records_and_a_missing_index_dir_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    let log = options().create(&path).unwrap();
    for step in 0..4 {
        for key in 0..3 {
            append(&log, key, step);
        }
    }
    let reader = mapio::log::LogReader::open(&path).unwrap();
    log.close().unwrap();
    drop(reader);
    let v = run(&["index", "--json", p(&path)]).ok().json();
    let row = &v["indexes"][0];
    let (file, data, idx) = (
        row["log_bytes"].as_u64().unwrap(),
        row["log_data_bytes"].as_u64().unwrap(),
        row["index_bytes"].as_u64().unwrap(),
    );
    assert!(file >= 1 << 20 && data < 8192, "{row}");
    assert_eq!(row["ratio"].as_f64().unwrap(), idx as f64 / data as f64);
    let text = run(&["index", p(&path)]).ok().stdout;
    assert!(text.contains("of the log's records"), "{text}");

    let elsewhere = dir.path().join("no-such-dir");
    let r = run(&["at", p(&path), "--time", "1", "--index-dir", p(&elsewhere)]).ok();
    assert_eq!(r.stdout.lines().count(), 3);
    assert!(r.stderr.contains("no usable index"), "{}", r.stderr);
    let r = run(&["at", p(&path), "--time", "1"]).ok();
    assert_eq!(r.stderr, "");
}

/// `info` and `cat` read one file: a directory or a pattern (a set of
/// logs) is a usage error that names the commands that read a set.
#[test]
fn info_and_cat_of_a_set_point_to_the_commands_for_sets() {
    let dir = tempfile::tempdir().unwrap();
    write_log(&dir.path().join("run_0000.log"), 2, 2);
    let pattern = dir.path().join("run_*.log");
    for cmd in ["info", "cat"] {
        for target in [dir.path(), pattern.as_path()] {
            let e = run(&[cmd, p(target)]).fails(2).stderr;
            assert!(e.contains("set of logs") && e.contains("verify"), "{e}");
        }
    }
}

/// `tail -f --wait SECS` started before its log exists waits for the
/// writer to create it, then follows it to its close; without --wait a
/// missing log is an error at once.
#[test]
fn tail_follow_waits_for_a_log_not_yet_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.log");
    let child = mapio()
        .args(["tail", "-f", "--wait", "30", p(&path)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    write_log(&path, 3, 4);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 12);
    std::fs::remove_file(&path).unwrap();
    run(&["tail", "-f", p(&path)]).fails(6);
}

/// Queries over a damaged log step over the damaged record (it cannot be
/// trusted) and say so on stderr, whether they scan or use an index built
/// over the damage; an intact log gets no such note.
#[test]
fn queries_over_a_damaged_log_say_records_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.log");
    write_log(&path, 5, 10);
    let quiet = run(&["history", p(&path), "--key", "2"]).ok();
    assert_eq!(quiet.stderr, "");
    let (off, _) = middle_record(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[off as usize + 40] ^= 0x55; // a payload byte: the CRC fails
    std::fs::write(&path, &bytes).unwrap();
    let out = dir.path().join("out");
    for indexed in [false, true] {
        if indexed {
            run(&["index", p(&path)]).ok();
        }
        for args in [
            vec!["at", p(&path), "--time", "4"],
            vec!["history", p(&path), "--key", "2"],
            vec!["export", p(&path), "--out", p(&out)],
        ] {
            let r = run(&args).ok();
            assert!(
                r.stderr.contains("is damaged") && r.stderr.contains("verify"),
                "{args:?} (indexed: {indexed}): {}",
                r.stderr
            );
        }
    }
}

/// On a terminal, a query that scans a large log (here 72 MiB, without an
/// index) shows a bar of how far its scan is, on stderr; the answer on
/// stdout is the same. (`script` gives the command a terminal.)
#[test]
fn a_long_scan_shows_a_progress_bar_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let log = LogOptions::new().create(&path).unwrap();
    let payload = vec![7u8; 1000];
    for step in 0..7500u64 {
        for key in 0..10 {
            log.append(&Entry::new().key(key).time(step as f64), &payload)
                .unwrap();
        }
    }
    log.close().unwrap();
    let cmd = format!(
        "{} at --no-index --time 3000 {}",
        env!("CARGO_BIN_EXE_mapio"),
        path.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs a command on a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("finding the state ["), "no bar in {text:?}");
    let answers = text.lines().filter(|l| l.contains(" time=3000.0")).count();
    assert_eq!(answers, 10, "{text}");
    // Not on a pipe.
    let r = run(&["at", "--no-index", "--time", "3000", p(&path)]).ok();
    assert_eq!((r.stdout.lines().count(), r.stderr.as_str()), (10, ""));
}

/// `cat --key` of a log whose name has a `?` in it reads that log, not
/// another that the name would match as a pattern.
#[test]
fn cat_key_reads_the_file_named_even_with_a_wildcard_in_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("run?.log");
    let other = dir.path().join("run0.log");
    for (path, steps) in [(&odd, 5), (&other, 3)] {
        let log = options().create(path).unwrap();
        for step in 0..steps {
            for key in 0..4 {
                append(&log, key, step);
            }
        }
        log.close().unwrap();
    }
    let r = run(&["cat", "--key", "0", p(&odd)]).ok();
    assert_eq!(r.stdout.lines().count(), 5, "{}", r.stdout);
    // --from and --limit with --key.
    let all = run(&["cat", "--json", "--key", "2", p(&odd)])
        .ok()
        .json_lines();
    let third = all[2]["offset"].as_u64().unwrap().to_string();
    let r = run(&[
        "cat",
        "--json",
        "--key",
        "2",
        "--from",
        &third,
        "--limit",
        "2",
        p(&odd),
    ])
    .ok();
    assert_eq!(r.json_lines(), all[2..4]);
}

/// `tail -n N` starts at a checkpoint of a fresh index (`mapio index`)
/// late enough to skip most of the log, and prints what it prints without
/// one: for N within the records past the index, across one or several
/// checkpoint intervals, and past the whole log; `-f -n N` too.
#[test]
fn tail_lines_start_at_an_index_checkpoint_and_print_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.log");
    let idx = dir.path().join("t.log.idx");
    let log = options().create(&path).unwrap();
    for step in 0..8 {
        for key in 0..6 {
            append(&log, key, step);
        }
    }
    run(&["index", p(&path)]).ok();
    // Records past the index.
    for key in 0..4 {
        append(&log, key, 8);
    }
    log.close().unwrap();
    let hidden = dir.path().join("hidden.idx");
    for n in [0, 1, 3, 4, 5, 9, 16, 40, 52, 53, 100] {
        let n = n.to_string();
        std::fs::rename(&idx, &hidden).unwrap();
        let scan = run(&["tail", "--json", "-n", &n, p(&path)]).ok().stdout;
        let follow_scan = run(&["tail", "-f", "--json", "-n", &n, p(&path)])
            .ok()
            .stdout;
        std::fs::rename(&hidden, &idx).unwrap();
        let indexed = run(&["tail", "--json", "-n", &n, p(&path)]).ok().stdout;
        let follow_indexed = run(&["tail", "-f", "--json", "-n", &n, p(&path)])
            .ok()
            .stdout;
        assert_eq!(indexed, scan, "-n {n}");
        assert_eq!(follow_indexed, follow_scan, "-f -n {n}");
        let want: usize = n.parse::<usize>().unwrap().min(52);
        assert_eq!(scan.lines().count(), want, "-n {n}");
    }
}
