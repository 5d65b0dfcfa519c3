//! `mapio bench` as a process: a tiny quick run, its JSON checked for
//! shape (every workload and contender there, medians, ratios, verified
//! checksums), never for timings; and its chart.

use std::process::Command;

use serde_json::Value;

fn mapio() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mapio"))
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x["name"].as_str().unwrap_or_else(|| panic!("no name: {x}")))
        .collect()
}

#[test]
fn quick_json_run_has_every_workload_and_contender() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("bench.svg");
    let out = mapio()
        .args([
            "bench", "--quick", "--size", "1048576", "--json", "--rounds", "2",
        ])
        .arg("--dir")
        .arg(dir.path())
        .arg("--plot")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    let r: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert_eq!(r["tool"], "mapio bench");
    assert_eq!(r["valid"], true);
    assert_eq!(r["settings"]["size"], 1_048_576);
    assert_eq!(r["settings"]["quick"], true);
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(!r["machine"]["description"].as_str().unwrap().is_empty());

    let workloads = &r["workloads"];
    let want: &[(&str, &[&str])] = &[
        (
            "array_write",
            &["mapio", "raw_recipe", "std_bufwriter", "memmap2"],
        ),
        ("array_seq_sum", &["mapio", "std_read", "pread", "memmap2"]),
        ("array_random_4k", &["mapio", "pread", "memmap2"]),
        (
            "log_append_64B_1t",
            &[
                "mapio",
                "mapio_plain",
                "mutex_bufwriter",
                "raw_swift",
                "limit_memcpy",
                "limit_mapped_copy",
            ],
        ),
        (
            "log_append_64B_2t",
            &["mapio", "mapio_plain", "mutex_bufwriter", "raw_swift"],
        ),
        (
            "log_append_1KiB_1t",
            &["mapio", "mapio_plain", "mutex_bufwriter", "raw_swift"],
        ),
        (
            "log_append_1KiB_2t",
            &["mapio", "mapio_plain", "mutex_bufwriter", "raw_swift"],
        ),
        ("latency", &["mapio", "unix_socket", "pipe"]),
        ("log_query", &["mapio", "scan"]),
    ];
    assert_eq!(
        names(workloads),
        want.iter().map(|w| w.0).collect::<Vec<_>>()
    );
    for (w, (name, contenders)) in workloads.as_array().unwrap().iter().zip(want) {
        assert_eq!(w["valid"], true, "{name}: {}", w["problems"]);
        assert_eq!(w["baseline"], "mapio", "{name}");
        assert_eq!(w["rounds"], 2, "{name}");
        let expected = w["expected_checksum"].as_str().unwrap();
        let cs = names(&w["contenders"]);
        for c in *contenders {
            assert!(cs.contains(c), "{name}: {c} missing from {cs:?}");
        }
        let latency = w["metric"] == "latency";
        for c in w["contenders"].as_array().unwrap() {
            let who = format!("{name}/{}", c["name"]);
            assert_eq!(c["checksum_ok"], true, "{who}");
            assert_eq!(c["checksums"], serde_json::json!([expected]), "{who}");
            let stats = if latency {
                &c["latency_us"]
            } else {
                &c["time_s"]
            };
            let median = stats["median"].as_f64().unwrap_or(0.0);
            assert!(median > 0.0, "{who}: median {}", stats["median"]);
            for k in ["p25", "p75", "min", "max"] {
                assert!(stats[k].is_number(), "{who}: {k}");
            }
            assert!(c["ratio"].as_f64().is_some_and(|r| r > 0.0), "{who}: ratio");
            if !latency {
                assert!(c["throughput_bps"].as_f64().unwrap() > 0.0, "{who}");
            }
            if name.starts_with("log_append") {
                assert!(c["hot_ratio"].as_f64().is_some_and(|r| r > 0.0), "{who}");
            }
        }
        let mapio = &w["contenders"][0];
        assert_eq!(mapio["name"], "mapio");
        assert_eq!(mapio["ratio"].as_f64(), Some(1.0), "{name}");
    }

    // The index size is reported beside the query timings.
    let notes = r["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("log_query: the index is")),
        "{notes:?}"
    );

    // The chart names every workload.
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for (name, _) in want {
        assert!(svg.contains(name), "{name} missing from the chart");
    }
    // The run's files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "bench.svg")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn bad_usage_is_exit_2() {
    let out = mapio().args(["bench", "--size", "12Q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mapio().args(["bench", "--size", "1000"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least"));
    let out = mapio()
        .args(["bench", "peer", "carrier-pigeon", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A name no workload starts with runs nothing and says so.
    let out = mapio()
        .args(["bench", "--quick", "--only", "log_query,nosuch"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--only nosuch names no workload") && err.contains("log_query"),
        "{err}"
    );
}
