//! The harness: statistics, interleaving, ratios, checksum checks, the
//! JSON report and the SVG chart.

use std::time::Duration;

use super::*;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn stats_of_known_samples() {
    assert_eq!(Stats::of(&[]), None);
    let s = Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    assert_eq!(s.n, 4);
    assert!(close(s.median, 2.5));
    assert!(close(s.p25, 1.75)); // NumPy: np.percentile([1,2,3,4], 25) == 1.75
    assert!(close(s.p75, 3.25));
    assert!(close(s.min, 1.0) && close(s.max, 4.0));
    assert!(close(s.mean, 2.5));
    assert!(close(s.iqr(), 1.5));

    let one = Stats::of(&[7.0]).unwrap();
    assert_eq!(
        (one.median, one.min, one.max, one.p25, one.p99),
        (7.0, 7.0, 7.0, 7.0, 7.0)
    );

    let odd = Stats::of(&[9.0, 1.0, 5.0]).unwrap();
    assert!(close(odd.median, 5.0));

    let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
    let h = Stats::of(&hundred).unwrap();
    assert!(close(h.median, 50.5));
    assert!(close(h.p90, 90.1));
    assert!(close(h.p99, 99.01));
    let scaled = h.scaled(1e3);
    assert!(close(scaled.median, 50_500.0) && scaled.n == 100);
}

#[test]
fn round_order_is_a_permutation_that_moves_everyone_everywhere() {
    assert!(round_order(0, 3).is_empty());
    assert_eq!(round_order(1, 5), vec![0]);
    assert_eq!(round_order(3, 0), vec![0, 1, 2]);
    assert_eq!(round_order(3, 1), vec![2, 1, 0]);
    assert_eq!(round_order(3, 2), vec![1, 2, 0]);
    for n in 1..7 {
        let mut seen = vec![vec![0usize; n]; n]; // [contender][position]
        for round in 0..2 * n {
            let o = round_order(n, round);
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n = {n}, round {round}");
            for (pos, &c) in o.iter().enumerate() {
                seen[c][pos] += 1;
            }
        }
        for (c, row) in seen.iter().enumerate() {
            for (pos, &k) in row.iter().enumerate() {
                assert_eq!(k, 2, "n = {n}: contender {c} at position {pos}");
            }
        }
    }
}

#[test]
fn run_interleaved_runs_every_contender_every_round_in_order() {
    let mut calls = Vec::new();
    let mut ticks = 0;
    let got = run_interleaved(
        3,
        1,
        4,
        |c| {
            calls.push(c);
            Ok(Sample::timed(ms(c as u64 + 1), 7))
        },
        || ticks += 1,
    )
    .unwrap();
    assert_eq!(ticks, 15);
    let want: Vec<usize> = (0..5).flat_map(|r| round_order(3, r)).collect();
    assert_eq!(calls, want);
    for (c, s) in got.samples.iter().enumerate() {
        assert_eq!(s.len(), 5);
        assert!(s[0].warmup && s[1..].iter().all(|x| !x.warmup));
        assert!(s.iter().all(|x| x.time == ms(c as u64 + 1)));
    }
    // The first error stops the run.
    let mut n = 0;
    let e = run_interleaved(
        2,
        0,
        3,
        |_| {
            n += 1;
            if n == 3 {
                Err(std::io::Error::other("boom"))
            } else {
                Ok(Sample::timed(ms(1), 0))
            }
        },
        || {},
    );
    assert!(e.is_err());
    assert_eq!(n, 3);
}

fn collected(per: &[(&[u64], u64)]) -> Collected {
    Collected {
        samples: per
            .iter()
            .map(|(times, sum)| times.iter().map(|&t| Sample::timed(ms(t), *sum)).collect())
            .collect(),
    }
}

fn specs(names: &[&str]) -> Vec<ContenderSpec> {
    names
        .iter()
        .map(|n| ContenderSpec::new(*n, format!("{n} does it")))
        .collect()
}

#[test]
fn summary_ratios_and_throughput() {
    let spec = WorkloadSpec::throughput("w", "a workload", "array", 1_000_000)
        .records(1000)
        .expect_checksum(5);
    let c = collected(&[(&[10, 30, 20], 5), (&[40, 40, 50], 5), (&[5, 5, 5], 5)]);
    let w = summarize(&spec, &specs(&["other", "mapio", "fast"]), &c);
    assert!(w.valid, "{:?}", w.problems);
    assert_eq!(w.baseline, "mapio");
    assert_eq!(w.rounds, 3);
    let mapio = w.contender("mapio").unwrap();
    assert!(close(mapio.ratio.unwrap(), 1.0));
    assert!(close(mapio.time_s.as_ref().unwrap().median, 0.040));
    assert!(close(mapio.throughput_bps.unwrap(), 1_000_000.0 / 0.040));
    assert!(close(mapio.records_per_s.unwrap(), 1000.0 / 0.040));
    let other = w.contender("other").unwrap();
    assert!(close(other.ratio.unwrap(), 0.5));
    assert!(close(other.time_s.as_ref().unwrap().min, 0.010));
    assert!(close(w.contender("fast").unwrap().ratio.unwrap(), 0.125));
    assert_eq!(w.expected_checksum.as_deref(), Some("0x0000000000000005"));
    assert!(mapio.checksum_ok && mapio.checksums == vec![hex(5)]);
}

#[test]
fn warmup_runs_count_for_checksums_not_for_times() {
    let spec = WorkloadSpec::throughput("w", "t", "g", 8).expect_checksum(1);
    let mut c = collected(&[(&[1000, 10, 10], 1), (&[1000, 20, 20], 1)]);
    for s in &mut c.samples {
        s[0].warmup = true;
    }
    let w = summarize(&spec, &specs(&["mapio", "b"]), &c);
    assert!(w.valid);
    assert_eq!((w.rounds, w.warmup_rounds), (2, 1));
    assert!(close(w.contenders[0].time_s.as_ref().unwrap().max, 0.010));
    assert!(close(w.contenders[1].ratio.unwrap(), 2.0));
    // A warm-up run with a wrong checksum spoils the workload.
    c.samples[1][0].checksum = 2;
    let w = summarize(&spec, &specs(&["mapio", "b"]), &c);
    assert!(!w.valid);
}

#[test]
fn checksum_mismatch_is_detected() {
    // Against the expected checksum.
    let spec = WorkloadSpec::throughput("w", "t", "g", 8).expect_checksum(9);
    let c = collected(&[(&[10, 10], 9), (&[10, 10], 8)]);
    let w = summarize(&spec, &specs(&["mapio", "liar"]), &c);
    assert!(!w.valid);
    assert!(!w.contenders[1].checksum_ok && w.contenders[0].checksum_ok);
    assert_eq!(w.problems.len(), 1);
    assert!(
        w.problems[0].starts_with("liar: checksum 0x0000000000000008"),
        "{:?}",
        w.problems
    );
    assert!(workload_table(&w).contains("INVALID: liar"));

    // One run of many differs.
    let mut c = collected(&[(&[10, 10, 10], 9), (&[10, 10, 10], 9)]);
    c.samples[1][2].checksum = 1;
    let w = summarize(&spec, &specs(&["mapio", "flaky"]), &c);
    assert!(!w.valid);
    assert_eq!(w.contenders[1].checksums.len(), 2);

    // No expected checksum: mapio's first run is the reference.
    let spec = WorkloadSpec::throughput("w", "t", "g", 8);
    let c = collected(&[(&[10], 3), (&[10], 3)]);
    assert!(summarize(&spec, &specs(&["b", "mapio"]), &c).valid);
    let c = collected(&[(&[10], 3), (&[10], 4)]);
    let w = summarize(&spec, &specs(&["b", "mapio"]), &c);
    assert!(!w.valid);
    assert!(w.problems[0].starts_with("b:"), "{:?}", w.problems);

    // A contender with no runs at all.
    let c = collected(&[(&[10], 3), (&[], 3)]);
    assert!(!summarize(&spec, &specs(&["mapio", "b"]), &c).valid);
}

#[test]
fn hot_phase_and_latency_summaries() {
    let spec = WorkloadSpec::throughput("log", "t", "log", 1000)
        .records(10)
        .hot("appends")
        .expect_checksum(1);
    let c = Collected {
        samples: vec![
            vec![Sample::with_hot(ms(100), ms(50), 1); 3],
            vec![Sample::with_hot(ms(100), ms(25), 1); 3],
        ],
    };
    let w = summarize(&spec, &specs(&["mapio", "raw"]), &c);
    let raw = w.contender("raw").unwrap();
    assert!(close(raw.ratio.unwrap(), 1.0));
    assert!(close(raw.hot_ratio.unwrap(), 0.5));
    assert!(close(raw.hot_throughput_bps.unwrap(), 1000.0 / 0.025));
    assert!(close(raw.hot_records_per_s.unwrap(), 10.0 / 0.025));
    assert!(workload_table(&w).contains("appends"));

    let spec = WorkloadSpec::latency("latency", "t", "latency", 4).expect_checksum(2);
    let c = Collected {
        samples: vec![
            vec![
                Sample::latencies(ms(1), vec![1000, 2000], 2),
                Sample::latencies(ms(1), vec![3000, 4000], 2),
            ],
            vec![Sample::latencies(ms(1), vec![10_000, 10_000, 10_000], 2)],
        ],
    };
    let w = summarize(&spec, &specs(&["mapio", "pipe"]), &c);
    assert!(w.valid);
    let m = w.contender("mapio").unwrap();
    let l = m.latency_us.as_ref().unwrap();
    assert_eq!(l.n, 4);
    assert!(close(l.median, 2.5) && close(l.max, 4.0));
    assert!(m.time_s.is_none() && m.throughput_bps.is_none());
    assert!(close(w.contender("pipe").unwrap().ratio.unwrap(), 4.0));
    assert!(workload_table(&w).contains("p99 µs"));
}

/// A report with a workload of each kind.
pub(crate) fn sample_report(valid: bool) -> Report {
    let spec =
        WorkloadSpec::throughput("array_write", "write it", "array", 1 << 20).expect_checksum(1);
    let c = collected(&[
        (&[10, 12], 1),
        (&[11, 13], 1),
        (&[20, 20], if valid { 1 } else { 2 }),
    ]);
    let a = summarize(&spec, &specs(&["mapio", "raw_recipe", "std_bufwriter"]), &c);
    let spec = WorkloadSpec::throughput("log_append_64B_2t", "log it", "log", 1 << 20)
        .hot("appends")
        .expect_checksum(1);
    let mut cs = specs(&["mapio", "mutex_bufwriter"]);
    cs.push(ContenderSpec::limit("limit_memcpy", "copy"));
    let c = Collected {
        samples: vec![
            vec![Sample::with_hot(ms(10), ms(5), 1); 2],
            vec![Sample::with_hot(ms(30), ms(25), 1); 2],
            vec![Sample::with_hot(ms(2), ms(2), 1); 2],
        ],
    };
    let b = summarize(&spec, &cs, &c);
    let spec = WorkloadSpec::latency("latency", "see it", "latency", 3).expect_checksum(1);
    let c = Collected {
        samples: vec![
            vec![Sample::latencies(ms(1), vec![1000, 1500], 1)],
            vec![Sample::latencies(ms(1), vec![9000, 9500], 1)],
        ],
    };
    let l = summarize(&spec, &specs(&["mapio", "unix_socket"]), &c);
    let workloads = vec![a, b, l];
    Report {
        tool: "mapio bench".into(),
        version: "0.1.0".into(),
        command: "mapio bench --quick".into(),
        settings: Settings {
            quick: true,
            size: 1 << 20,
            log_bytes: 1 << 19,
            threads: 2,
            numpy: None,
            dir: "/tmp/x".into(),
        },
        machine: Machine {
            description: "2 x Test CPU <&> \"quoted\", 1 GiB".into(),
            cores: 2,
            load_before: vec![1.0, 2.0, 3.0],
            load_after: vec![1.5, 2.0, 3.0],
            build: "debug".into(),
            ..Machine::default()
        },
        started_unix_s: 1,
        duration_s: 2.0,
        valid: workloads.iter().all(|w| w.valid),
        workloads,
        notes: vec!["numpy left out".into()],
        legend: LEGEND.into(),
    }
}

#[test]
fn json_shape_and_round_trip() {
    let r = sample_report(true);
    let text = r.to_json();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["tool"], "mapio bench");
    assert_eq!(v["valid"], true);
    assert!(
        v["machine"]["description"]
            .as_str()
            .unwrap()
            .contains("Test CPU")
    );
    let ws = v["workloads"].as_array().unwrap();
    assert_eq!(ws.len(), 3);
    let a = &ws[0];
    assert_eq!(a["name"], "array_write");
    assert_eq!(a["metric"], "time");
    assert_eq!(a["valid"], true);
    assert_eq!(a["baseline"], "mapio");
    let c0 = &a["contenders"][0];
    assert_eq!(c0["name"], "mapio");
    assert_eq!(c0["role"], "contender");
    assert_eq!(c0["checksum_ok"], true);
    assert!(c0["time_s"]["median"].as_f64().unwrap() > 0.0);
    for k in ["p25", "p75", "min", "max", "p90", "p99", "mean", "n"] {
        assert!(c0["time_s"][k].is_number(), "{k}");
    }
    assert_eq!(c0["ratio"].as_f64(), Some(1.0));
    assert!(c0["throughput_bps"].as_f64().unwrap() > 0.0);
    assert_eq!(ws[1]["contenders"][2]["role"], "limit");
    assert!(ws[1]["contenders"][1]["hot_ratio"].as_f64().unwrap() > 1.0);
    assert_eq!(ws[2]["metric"], "latency");
    assert!(
        ws[2]["contenders"][0]["latency_us"]["median"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(ws[2]["contenders"][0]["time_s"].is_null());
    // It reads back (floats to within their last digit: serde_json's
    // default float parsing is not exactly round-trip).
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back.workloads.len(), r.workloads.len());
    for (a, b) in back.workloads.iter().zip(&r.workloads) {
        assert_eq!(
            (&a.name, a.valid, a.contenders.len()),
            (&b.name, b.valid, b.contenders.len())
        );
        for (x, y) in a.contenders.iter().zip(&b.contenders) {
            assert_eq!(x.name, y.name);
            assert!(close(x.ratio.unwrap(), y.ratio.unwrap()));
        }
    }

    let bad = sample_report(false);
    assert!(!bad.valid);
    let v: serde_json::Value = serde_json::from_str(&bad.to_json()).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["workloads"][0]["valid"], false);
    assert_eq!(bad.problems().len(), 1);
    assert!(bad.problems()[0].starts_with("array_write: std_bufwriter"));
}

#[test]
fn text_report_names_everything() {
    let r = sample_report(true);
    let t = report_text(&r);
    for w in [
        "array_write",
        "log_append_64B_2t",
        "latency",
        "raw_recipe",
        "limit_memcpy",
    ] {
        assert!(t.contains(w), "{w} missing from\n{t}");
    }
    assert!(t.contains("(limit)"));
    assert!(t.contains("note: numpy left out"));
    assert!(!t.contains("INVALID"));
}

#[test]
fn svg_chart_is_well_formed_and_names_the_workloads() {
    for valid in [true, false] {
        let r = sample_report(valid);
        let svg = crate::chart::svg_chart(&r).unwrap();
        let doc = roxmltree::Document::parse(&svg)
            .unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        let all = texts.join("\n");
        for w in &r.workloads {
            assert!(all.contains(&w.name), "{} missing", w.name);
            for c in &w.contenders {
                assert!(all.contains(&c.name), "{} missing", c.name);
            }
        }
        assert!(
            all.contains("Test CPU <&> \"quoted\""),
            "the machine, unescaped back"
        );
        assert!(all.contains("mapio bench --quick"));
        assert!(all.contains("1.00x"));
        let rects = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
        assert!(rects >= 8, "bars drawn: {rects}");
        assert_eq!(all.contains("INVALID"), !valid);
    }
}

#[test]
fn formatting_helpers() {
    assert_eq!(time_text(1.5), "1.500 s");
    assert_eq!(time_text(0.0123), "12.30 ms");
    assert_eq!(time_text(12e-6), "12.0 µs");
    assert_eq!(rate_text(100.0 * 1048576.0), "100 MiB/s");
    assert_eq!(rate_text(20.0 * 1073741824.0), "20.0 GiB/s");
    assert_eq!(count_text(1_500_000.0), "1.50 M");
    assert_eq!(hex(255), "0x00000000000000ff");
}
