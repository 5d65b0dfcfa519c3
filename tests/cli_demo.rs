//! The main job end to end: `mapio demo` (one log, and one log per rank),
//! then `index`, `at`, `history` and `export`, and NumPy loading what was
//! exported — the README's worked example, run as a new user would.

mod common;
use common::listing;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn mapio(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mapio"))
        .args(args)
        .output()
        .expect("cannot run mapio");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let (code, out, err) = mapio(args);
    assert_eq!(
        code, 0,
        "mapio {args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Python with NumPy, or `None` (the NumPy part is then skipped).
fn python() -> Option<String> {
    common::python("the NumPy part of this test")
}

#[test]
fn demo_json_then_queries_then_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    let out = ok(&[
        "demo",
        "--log",
        p(&log),
        "--particles",
        "2000",
        "--steps",
        "12",
        "--threads",
        "2",
        "--sync-every",
        "4",
        "--json",
    ]);
    let events = lines(&out);
    let synced: Vec<&Value> = events.iter().filter(|e| e["event"] == "synced").collect();
    assert_eq!(synced.len(), 3, "{out}");
    for (i, e) in synced.iter().enumerate() {
        assert_eq!(e["step"], (i as u64 + 1) * 4);
        assert_eq!(e["records"], (i as u64 + 1) * 4 * 2000);
        assert!(e["offset"].as_u64().unwrap() > 4096);
    }
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["records"], 24_000);
    assert_eq!(
        summary["follower"]["records"], 24_000,
        "the follower read every record live"
    );
    assert_eq!(summary["follower"]["ok"], true);
    assert!(summary["bufwriter"]["records_per_s"].as_f64().unwrap() > 0.0);
    // The follower had the log open at close; once it is gone the space
    // allocated ahead is given back: the file holds its records only.
    let end = summary["end_offset"].as_u64().unwrap();
    assert_eq!(summary["file_size"].as_u64(), Some(end), "{summary}");
    assert_eq!(std::fs::metadata(&log).unwrap().len(), end);

    // The log verifies, and info agrees with the demo.
    let info: Value = serde_json::from_str(&ok(&["info", p(&log), "--json"])).unwrap();
    assert_eq!(info["records"], 24_000);
    assert_eq!(info["keys"], 2000);
    assert_eq!(info["clean"], true);
    assert_eq!(info["time_range"], serde_json::json!([0.0, 11.0]));
    ok(&["verify", p(&log)]);

    // Queries without and with the index give the same answers.
    let at_scan = ok(&[
        "at",
        p(&log),
        "--time",
        "7.5",
        "--interpolate",
        "linear",
        "--json",
    ]);
    let idx = ok(&["index", p(&log), "--json"]);
    let idx: Value = serde_json::from_str(&idx).unwrap();
    assert_eq!(idx["indexes"][0]["action"], "built");
    // The demo logs every particle once a step, in time order.
    assert!(idx["indexes"][0]["keys"].as_u64().unwrap() > 0, "{idx}");
    assert_eq!(idx["indexes"][0]["unordered_keys"], 0, "{idx}");
    assert!(
        idx["indexes"][0]["ratio"].as_f64().unwrap() < 0.10,
        "index under 10% of the log: {idx}"
    );
    let at_idx = ok(&[
        "at",
        p(&log),
        "--time",
        "7.5",
        "--interpolate",
        "linear",
        "--json",
    ]);
    assert_eq!(at_scan, at_idx);
    let state = lines(&at_idx);
    assert_eq!(state.len(), 2000);
    assert!(
        state
            .iter()
            .all(|r| r["time"] == 7.5 && r["record_time"] == 7.0 && r["interpolated"] == true)
    );
    let history = lines(&ok(&["history", p(&log), "--key", "42", "--json"]));
    let times: Vec<f64> = history
        .iter()
        .map(|r| r["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times, (0..12).map(|t| t as f64).collect::<Vec<_>>());

    // Export the state at t = 7.5 and everything.
    let state_dir = dir.path().join("state");
    let summary: Value = serde_json::from_str(&ok(&[
        "export",
        p(&log),
        "--out",
        p(&state_dir),
        "--time",
        "7.5",
        "--interpolate",
        "linear",
        "--json",
    ]))
    .unwrap();
    assert_eq!(summary["rows"], 2000);
    let all_dir = dir.path().join("all");
    let summary: Value = serde_json::from_str(&ok(&[
        "export",
        p(&log),
        "--out",
        p(&all_dir),
        "--fields",
        "pos",
        "--json",
    ]))
    .unwrap();
    assert_eq!(summary["rows"], 24_000);
    assert!(!all_dir.join("vel.npy").exists());

    // NumPy loads what mapio exported and agrees with `mapio at`.
    let Some(py) = python() else { return };
    let pos_at_42 = &state.iter().find(|r| r["key"] == 42).unwrap()["fields"]["pos"];
    let script = "import numpy as np, json, sys\n\
d = sys.argv[1]\n\
key = np.load(d + '/key.npy', mmap_mode='r'); pos = np.load(d + '/pos.npy', mmap_mode='r')\n\
vel = np.load(d + '/vel.npy', mmap_mode='r'); t = np.load(d + '/time.npy', mmap_mode='r')\n\
assert pos.shape == (2000, 3) and pos.dtype == np.float64, pos.shape\n\
assert key.dtype == np.uint64 and vel.shape == (2000, 3)\n\
i = int(np.nonzero(key == 42)[0][0])\n\
print(json.dumps({'pos': pos[i].tolist(), 'keys': int(len(np.unique(key))), 't': float(t[i])}))\n";
    let out = Command::new(&py)
        .args(["-c", script, p(&state_dir)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["keys"], 2000);
    // The values were interpolated to 7.5, and time.npy says so.
    assert_eq!(v["t"], 7.5);
    let got: Vec<f64> = v["pos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let want: Vec<f64> = pos_at_42
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(got, want, "NumPy's view of the export matches `mapio at`");

    // A NumPy session keeps the export mapped while `mapio export` writes
    // a new one into the same directory, with no rows: its array keeps
    // the old numbers (written in place, they changed under it, and the
    // shorter file made it die of SIGBUS), and a new load sees the new.
    let script = "import numpy as np, subprocess, sys\n\
mapio, log, d = sys.argv[1:]\n\
pos = np.load(d + '/pos.npy', mmap_mode='r')\n\
before = pos[1500].tolist()\n\
subprocess.run([mapio, 'export', log, '--out', d, '--time', '-1'], check=True, stdout=subprocess.DEVNULL)\n\
assert pos[1500].tolist() == before, (pos[1500], before)\n\
assert float(pos.sum()) == float(np.asarray(pos).sum())\n\
assert np.load(d + '/pos.npy', mmap_mode='r').shape == (0, 3)\n\
print('ok')\n";
    let out = Command::new(&py)
        .args([
            "-c",
            script,
            env!("CARGO_BIN_EXE_mapio"),
            p(&log),
            p(&state_dir),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_with_ranks_writes_a_set_read_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let out = ok(&[
        "demo",
        "--ranks",
        "3",
        "--log",
        p(&runs),
        "--particles",
        "600",
        "--steps",
        "30",
        "--threads",
        "1",
        "--sync-every",
        "10",
        "--json",
    ]);
    let summary = lines(&out)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .unwrap();
    assert_eq!(summary["state_at_last_step"], 600);
    assert_eq!(summary["history_continuous"], true);
    assert!(
        summary["enters"].as_u64().unwrap() > 0,
        "particles moved between ranks: {summary}"
    );
    assert_eq!(summary["enters"], summary["exits"]);
    for r in 0..3 {
        assert!(runs.join(format!("run_{r:04}.log")).exists());
    }
    // The CLI reads the set through a pattern and through the directory.
    let pattern = format!("{}/run_*.log", p(&runs));
    let at = lines(&ok(&["at", &pattern, "--time", "29", "--json"]));
    assert_eq!(at.len(), 600);
    let by_dir = lines(&ok(&["at", p(&runs), "--time", "29", "--json"]));
    assert_eq!(at, by_dir);
    // A particle that changed rank: one continuous history across files.
    let moved = at.iter().find(|r| {
        r["flags"]
            .as_array()
            .is_some_and(|f| f.contains(&"enter".into()))
    });
    if let Some(m) = moved {
        let key = m["key"].as_u64().unwrap().to_string();
        let h = lines(&ok(&["history", &pattern, "--key", &key, "--json"]));
        let files: std::collections::BTreeSet<String> =
            h.iter().map(|r| r["file"].to_string()).collect();
        assert!(files.len() > 1, "the history spans files");
        let steps: Vec<f64> = h
            .iter()
            .filter(|r| !r["flags"].as_array().unwrap().contains(&"exit".into()))
            .map(|r| r["time"].as_f64().unwrap())
            .collect();
        assert_eq!(steps, (0..30).map(|t| t as f64).collect::<Vec<_>>());
    }
    // Indexes for the whole set, then the same answers.
    ok(&["index", &pattern]);
    assert_eq!(lines(&ok(&["at", &pattern, "--time", "29", "--json"])), at);
}

/// `mapio` with extra environment variables.
fn mapio_env(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mapio"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("cannot run mapio");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A small, quick single-log demo writing to `log`: 100 particles,
/// `steps` steps, plus `extra` options.
fn small_demo(log: &Path, steps: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "demo",
        "--log",
        p(log),
        "--particles",
        "100",
        "--steps",
        steps,
        "--no-compare",
    ];
    args.extend_from_slice(extra);
    mapio(&args)
}

#[test]
fn demo_overwrites_only_a_mapio_log_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, "x,y\n1,2\n").unwrap();
    let (code, out, err) = small_demo(&data, "3", &[]);
    assert_eq!(code, 2, "usage error\nstdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("data.csv exists and is not a mapio log; pass --force to overwrite it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&data).unwrap(), b"x,y\n1,2\n", "left alone");

    // With --force it is overwritten.
    let (code, _, err) = small_demo(&data, "3", &["--force"]);
    assert_eq!(code, 0, "{err}");
    let info: Value = serde_json::from_str(&ok(&["info", p(&data), "--json"])).unwrap();
    assert_eq!(info["records"], 300);

    // A mapio log is overwritten without --force (the README runs the demo
    // twice into run.log), and its old index goes with it.
    let log = dir.path().join("run.log");
    let (code, _, err) = small_demo(&log, "3", &[]);
    assert_eq!(code, 0, "{err}");
    ok(&["index", p(&log)]);
    let idx = dir.path().join("run.log.idx");
    assert!(idx.exists());
    let (code, _, err) = small_demo(&log, "2", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!idx.exists(), "the stale index of the old log is removed");
    let info: Value = serde_json::from_str(&ok(&["info", p(&log), "--json"])).unwrap();
    assert_eq!(info["records"], 200);

    // An empty file holds nothing to lose.
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(small_demo(&empty, "3", &[]).0, 0);

    // A log held by a live writer is refused, --force or not.
    let live = dir.path().join("live.log");
    let writer = mapio::log::Log::create(&live).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let (code, _, err) = small_demo(&live, "3", extra);
        assert_eq!(code, 4, "locked: {err}");
        assert!(err.contains("locked"), "{err}");
    }
    writer.close().unwrap();
}

#[test]
fn demo_ranks_refuses_leftovers_of_a_run_with_more_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let demo = |ranks: &str, extra: &[&str]| {
        let mut args = vec![
            "demo",
            "--ranks",
            ranks,
            "--log",
            p(&runs),
            "--particles",
            "300",
            "--steps",
            "10",
            "--threads",
            "1",
            "--json",
        ];
        args.extend_from_slice(extra);
        mapio(&args)
    };
    let (code, _, err) = demo("3", &[]);
    assert_eq!(code, 0, "{err}");
    ok(&["index", p(&runs)]);
    let before = listing(&runs);
    assert_eq!(
        before,
        [
            "run_0000.log",
            "run_0000.log.idx",
            "run_0001.log",
            "run_0001.log.idx",
            "run_0002.log",
            "run_0002.log.idx"
        ]
    );

    // Fewer ranks: refused, naming the old files; nothing touched.
    let (code, out, err) = demo("2", &[]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("run_0002.log, run_0002.log.idx") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(listing(&runs), before);

    // A file that matches run_*.log but is not the demo's: refused even
    // with --force, and nothing is removed.
    let foreign = runs.join("run_old.log");
    std::fs::write(&foreign, "mine").unwrap();
    let (code, _, err) = demo("2", &["--force"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("run_old.log"), "{err}");
    assert!(runs.join("run_0002.log").exists());
    std::fs::remove_file(&foreign).unwrap();

    // --force removes the leftovers; the stale indexes of the logs it
    // overwrites go too; the set check passes.
    let (code, out, err) = demo("2", &["--force"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(listing(&runs), ["run_0000.log", "run_0001.log"]);
    let summary = lines(&out)
        .into_iter()
        .find(|e| e["event"] == "summary")
        .unwrap();
    assert_eq!(summary["history_continuous"], true);
    assert_eq!(summary["state_at_last_step"], 300);

    // A rank log the run would overwrite that is not a mapio log.
    std::fs::write(runs.join("run_0001.log"), "not a log").unwrap();
    let (code, _, err) = demo("2", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("run_0001.log exists and is not a mapio log"),
        "{err}"
    );
}

#[test]
fn demo_validates_sizes_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("x.log");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--particles", "18446744073709551615", "--steps", "1"],
            "--particles",
        ),
        (&["--particles", "0"], "--particles"),
        (&["--steps", "0"], "--steps"),
        (&["--threads", "0"], "--threads"),
        (&["--ranks", "0"], "--ranks"),
        (&["--ranks", "100000"], "--ranks"),
        (&["--sync-every", "2000000000"], "--sync-every"),
        // Within each range, but not in any machine's memory.
        (&["--particles", "1000000000", "--ranks", "1024"], "memory"),
        // More records than a log can hold.
        (
            &["--particles", "1000000", "--steps", "1000000000"],
            "can grow to",
        ),
    ];
    for (extra, says) in cases {
        let mut args = vec!["demo", "--log", p(&log), "--no-follow", "--no-compare"];
        args.extend_from_slice(extra);
        let (code, out, err) = mapio(&args);
        assert_eq!(code, 2, "{extra:?}\nstdout:\n{out}\nstderr:\n{err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(!log.exists(), "{extra:?}: nothing written");
    }
}

#[test]
fn demo_leaves_no_temporary_directory() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let log = dir.path().join("run.log");
    let runs = dir.path().join("runs");
    let small = ["--particles", "100", "--steps", "2"];
    let runs_: [&[&str]; 4] = [
        &["demo", "--log", p(&log)],
        &["demo"],
        &["demo", "--ranks", "2", "--log", p(&runs)],
        &["demo", "--ranks", "2"],
    ];
    for args in runs_ {
        let args: Vec<&str> = args.iter().chain(&small).copied().collect();
        let (code, _, err) = mapio_env(&args, &[("TMPDIR", &tmp)]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(listing(&tmp), Vec::<String>::new(), "{args:?}");
    }
    // Nor when the run fails (here: the log is locked).
    let writer = mapio::log::Log::create(&log).unwrap();
    let args: Vec<&str> = ["demo", "--log", p(&log)]
        .iter()
        .chain(&small)
        .copied()
        .collect();
    let (code, _, _) = mapio_env(&args, &[("TMPDIR", &tmp)]);
    assert_eq!(code, 4);
    assert_eq!(listing(&tmp), Vec::<String>::new());
    writer.close().unwrap();
}

/// Stopped by a signal (Ctrl-C, SIGTERM, SIGHUP), the demo ends after the
/// step in progress with status 130, its temporary log removed and its
/// follower gone (it left hundreds of MB in the temporary directory), and
/// a log given with --log closed cleanly; with --ranks, the rank
/// processes stop too.
#[test]
fn an_interrupted_demo_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let log = dir.path().join("kept.log");
    let long = ["--particles", "20000", "--steps", "100000"];
    for (args, sig) in [
        (vec!["demo"], "TERM"),
        (vec!["demo"], "HUP"),
        (vec!["demo", "--log", p(&log)], "INT"),
        (vec!["demo", "--ranks", "2"], "TERM"),
    ] {
        let args: Vec<&str> = args.iter().chain(&long).copied().collect();
        let child = Command::new(env!("CARGO_BIN_EXE_mapio"))
            .args(&args)
            .env("TMPDIR", &tmp)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Until the run is writing (the log exists and has records).
        let deadline = Instant::now() + Duration::from_secs(60);
        let writing = || {
            let logs: Vec<PathBuf> = std::fs::read_dir(&tmp)
                .unwrap()
                .filter_map(|e| std::fs::read_dir(e.unwrap().path()).ok())
                .flatten()
                .map(|e| e.unwrap().path())
                .chain(std::iter::once(log.clone()))
                .collect();
            logs.iter()
                .any(|l| std::fs::metadata(l).is_ok_and(|m| m.len() > 1 << 20))
        };
        while !writing() {
            assert!(Instant::now() < deadline, "{args:?}: never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let killed = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{args:?} {sig}: {err}");
        assert!(err.contains("interrupted"), "{err}");
        // The rank processes and the follower have gone: nothing holds
        // the (removed) files, nothing is left.
        assert_eq!(listing(&tmp), Vec::<String>::new(), "{args:?} {sig}");
    }
    let info: Value = serde_json::from_str(&ok(&["info", "--json", p(&log)])).unwrap();
    assert_eq!(info["clean"], true, "{info}");
}

#[test]
fn demo_ranks_paths_have_no_double_slash() {
    let dir = tempfile::tempdir().unwrap();
    let runs = format!("{}/", dir.path().join("runs").display());
    let out = ok(&[
        "demo",
        "--ranks",
        "2",
        "--log",
        &runs,
        "--particles",
        "100",
        "--steps",
        "2",
    ]);
    assert!(!out.contains("//"), "{out}");
    assert!(out.contains(&format!("-> {runs}run_NNNN.log")), "{out}");
    assert!(
        out.contains(&format!("try: mapio at '{runs}run_*.log'")),
        "{out}"
    );
}

#[test]
fn demo_reports_the_follower_lag_only_when_measured() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    // A run of a few records: over before the follower's first report.
    let (code, out, err) = small_demo(&log, "3", &["--json"]);
    assert_eq!(code, 0, "{err}");
    let summary = lines(&out).pop().unwrap();
    let f = &summary["follower"];
    let samples = f["lag_samples"].as_u64().expect("lag_samples");
    if samples < 2 {
        assert!(f["max_lag_bytes"].is_null(), "{f}");
        assert!(f["mean_lag_bytes"].is_null(), "{f}");
    } else {
        assert!(f["max_lag_bytes"].is_u64(), "{f}");
    }
    let (code, out, err) = small_demo(&log, "3", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("lag not measured") || out.contains(" measurements)"),
        "{out}"
    );
    if out.contains("lag not measured") {
        assert!(!out.contains("lag max"), "{out}");
    }

    // 24 000 records: the follower reports by record count too, so even a
    // run shorter than its 100 ms report interval is measured.
    let (code, out, err) = mapio(&[
        "demo",
        "--log",
        p(&log),
        "--particles",
        "2000",
        "--steps",
        "12",
        "--no-compare",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let summary = lines(&out).pop().unwrap();
    let f = &summary["follower"];
    assert!(f["lag_samples"].as_u64().unwrap() >= 5, "{f}");
    assert!(f["max_lag_bytes"].is_u64(), "{f}");
    assert!(f["mean_lag_bytes"].is_f64(), "{f}");
}

/// A rank that fails is named, with how it failed and its log, and the
/// demo fails; here rank 1's log is held by a live writer (exit 4 in the
/// rank process).
#[test]
fn demo_ranks_names_a_failed_rank() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    let held = mapio::log::Log::create(runs.join("run_0001.log")).unwrap();
    let (code, out, err) = mapio(&[
        "demo",
        "--ranks",
        "2",
        "--log",
        p(&runs),
        "--particles",
        "200",
        "--steps",
        "3",
        "--threads",
        "1",
    ]);
    drop(held);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("rank 1 (") && err.contains("run_0001.log) exited with status 4"),
        "{err}"
    );
    assert!(!err.contains("rank 0 ("), "{err}");
}
