//! The harness: contenders run interleaved in rounds, their samples
//! summarised (median, quartiles, spread, throughput, ratio to mapio), their
//! checksums compared, and the whole run reported as JSON, as text tables
//! and (see [`crate::chart`]) as an SVG chart.
//!
//! ```
//! use std::time::Duration;
//! use mapio_bench::harness::*;
//!
//! let contenders = [ContenderSpec::new("mapio", "us"), ContenderSpec::new("other", "them")];
//! let collected = run_interleaved(2, 1, 5, |c| {
//!     Ok(Sample::timed(Duration::from_millis(10 * (c as u64 + 1)), 42))
//! }, || {})?;
//! let spec = WorkloadSpec::throughput("demo", "a demo", "demo", 1 << 20).expect_checksum(42);
//! let w = summarize(&spec, &contenders, &collected);
//! assert!(w.valid);
//! assert_eq!(w.contenders[1].ratio, Some(2.0));   // twice mapio's time
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One run of one contender.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// The time of the whole run.
    pub time: Duration,
    /// A timed phase inside the run (the log workloads' appends).
    pub hot: Option<Duration>,
    /// Latency workloads: one latency per record, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// What the run's output checks to.
    pub checksum: u64,
    /// A warm-up run: its checksum counts, its time does not.
    pub warmup: bool,
}

impl Sample {
    /// A run of `time` that returned `checksum`.
    pub fn timed(time: Duration, checksum: u64) -> Sample {
        Sample {
            time,
            checksum,
            ..Sample::default()
        }
    }

    /// A run of `time` with a phase `hot` inside it.
    pub fn with_hot(time: Duration, hot: Duration, checksum: u64) -> Sample {
        Sample {
            time,
            hot: Some(hot),
            checksum,
            ..Sample::default()
        }
    }

    /// A latency round: one latency per record.
    pub fn latencies(time: Duration, latencies_ns: Vec<u64>, checksum: u64) -> Sample {
        Sample {
            time,
            latencies_ns,
            checksum,
            ..Sample::default()
        }
    }
}

/// The order in which `n` contenders run in round `round`: rotated by one
/// every two rounds, and reversed every other round (`0 1 2`, `2 1 0`,
/// `1 2 0`, `0 2 1`, ...), so that over `2n` rounds every contender runs
/// in every position exactly twice, and a drift in the machine's load
/// hits every contender alike.
pub fn round_order(n: usize, round: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let shift = (round / 2) % n;
    let mut order: Vec<usize> = (0..n).map(|i| (i + shift) % n).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// The samples of one workload: `samples[c]` holds contender `c`'s runs,
/// warm-up runs first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Collected {
    /// Per contender, every run (warm-up ones flagged).
    pub samples: Vec<Vec<Sample>>,
}

/// Runs `n` contenders interleaved: `warmup` untimed rounds, then `rounds`
/// timed ones, each running every contender once in [`round_order`].
/// `run(c)` runs contender `c` once; `tick()` is called after every run (a
/// progress bar). The first error stops everything.
pub fn run_interleaved(
    n: usize,
    warmup: usize,
    rounds: usize,
    mut run: impl FnMut(usize) -> io::Result<Sample>,
    mut tick: impl FnMut(),
) -> io::Result<Collected> {
    let mut samples = vec![Vec::with_capacity(warmup + rounds); n];
    for round in 0..warmup + rounds {
        for c in round_order(n, round) {
            let mut s = run(c)?;
            s.warmup = round < warmup;
            samples[c].push(s);
            tick();
        }
    }
    Ok(Collected { samples })
}

/// Order statistics of a set of values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values.
    pub n: usize,
    /// The median (50th percentile).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// 25th percentile.
    pub p25: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The arithmetic mean.
    pub mean: f64,
}

impl Stats {
    /// The statistics of `values` (`None` if there are none). Percentiles
    /// interpolate linearly between the closest ranks (NumPy's default).
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Stats {
            n: v.len(),
            median: percentile_sorted(&v, 50.0),
            min: v[0],
            max: v[v.len() - 1],
            p25: percentile_sorted(&v, 25.0),
            p75: percentile_sorted(&v, 75.0),
            p90: percentile_sorted(&v, 90.0),
            p99: percentile_sorted(&v, 99.0),
            mean: v.iter().sum::<f64>() / v.len() as f64,
        })
    }

    /// The interquartile range, `p75 - p25`.
    pub fn iqr(&self) -> f64 {
        self.p75 - self.p25
    }

    /// Every value multiplied by `k` (a change of unit).
    pub fn scaled(&self, k: f64) -> Stats {
        Stats {
            n: self.n,
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
            p25: self.p25 * k,
            p75: self.p75 * k,
            p90: self.p90 * k,
            p99: self.p99 * k,
            mean: self.mean * k,
        }
    }
}

/// The `p`-th percentile (0 to 100) of sorted, non-empty `v`, linearly
/// interpolated between the closest ranks.
pub fn percentile_sorted(v: &[f64], p: f64) -> f64 {
    if v.len() == 1 {
        return v[0];
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// What a workload measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The time of a run (lower is better); throughput is bytes per
    /// median time.
    Time,
    /// The latency of each record (lower is better), pooled over rounds.
    Latency,
}

/// Whether a contender is a way to do the work or a physical limit shown
/// for reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// mapio or an alternative to it.
    Contender,
    /// A physical limit (a ceiling), not a way to do the work.
    Limit,
}

/// A contender of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContenderSpec {
    /// Its name (`mapio` is the baseline of the ratios).
    pub name: String,
    /// What it does, in a line.
    pub description: String,
    /// Contender or limit.
    pub role: Role,
}

impl ContenderSpec {
    /// A contender.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> ContenderSpec {
        ContenderSpec {
            name: name.into(),
            description: description.into(),
            role: Role::Contender,
        }
    }

    /// A physical limit.
    pub fn limit(name: impl Into<String>, description: impl Into<String>) -> ContenderSpec {
        ContenderSpec {
            role: Role::Limit,
            ..ContenderSpec::new(name, description)
        }
    }
}

/// The name of the contender every ratio is relative to.
pub const BASELINE: &str = "mapio";

/// A workload, as the report describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadSpec {
    /// Short name (`log_append_64B_2t`).
    pub name: String,
    /// What is measured, in a line.
    pub title: String,
    /// `array`, `log`, `latency`.
    pub group: String,
    /// Time or latency.
    pub metric: Metric,
    /// Bytes of useful work per run (for throughput).
    pub bytes: u64,
    /// Records per run, if the work is records.
    pub records: Option<u64>,
    /// Threads, where it matters.
    pub threads: Option<usize>,
    /// The checksum every contender must return, if known in advance.
    pub expected_checksum: Option<u64>,
    /// What the `hot` phase of a sample is, if the samples have one.
    pub hot_label: Option<String>,
}

impl WorkloadSpec {
    /// A workload timed per run, doing `bytes` of work per run.
    pub fn throughput(name: &str, title: &str, group: &str, bytes: u64) -> WorkloadSpec {
        WorkloadSpec {
            name: name.to_string(),
            title: title.to_string(),
            group: group.to_string(),
            metric: Metric::Time,
            bytes,
            records: None,
            threads: None,
            expected_checksum: None,
            hot_label: None,
        }
    }

    /// A latency workload of `records` records a round.
    pub fn latency(name: &str, title: &str, group: &str, records: u64) -> WorkloadSpec {
        WorkloadSpec {
            metric: Metric::Latency,
            records: Some(records),
            ..WorkloadSpec::throughput(name, title, group, 0)
        }
    }

    /// Every contender must return this checksum.
    pub fn expect_checksum(mut self, sum: u64) -> WorkloadSpec {
        self.expected_checksum = Some(sum);
        self
    }

    /// The work is `n` records.
    pub fn records(mut self, n: u64) -> WorkloadSpec {
        self.records = Some(n);
        self
    }

    /// The work is done by `n` threads.
    pub fn threads(mut self, n: usize) -> WorkloadSpec {
        self.threads = Some(n);
        self
    }

    /// The samples carry a `hot` phase called `label`.
    pub fn hot(mut self, label: &str) -> WorkloadSpec {
        self.hot_label = Some(label.to_string());
        self
    }
}

/// One contender's results in a workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContenderResult {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Contender or limit.
    pub role: Role,
    /// Timed runs (latency workloads: rounds).
    pub runs: usize,
    /// Distinct checksums returned, as hex (one if all runs agreed).
    pub checksums: Vec<String>,
    /// Every run returned the workload's checksum.
    pub checksum_ok: bool,
    /// Time of a run, in seconds (time workloads).
    pub time_s: Option<Stats>,
    /// Time of the hot phase, in seconds.
    pub hot_s: Option<Stats>,
    /// Latency of a record, in microseconds (latency workloads).
    pub latency_us: Option<Stats>,
    /// Bytes per second at the median time.
    pub throughput_bps: Option<f64>,
    /// Bytes per second at the median hot time.
    pub hot_throughput_bps: Option<f64>,
    /// Records per second at the median time.
    pub records_per_s: Option<f64>,
    /// Records per second at the median hot time.
    pub hot_records_per_s: Option<f64>,
    /// This contender's median (time, or p50 latency) divided by mapio's:
    /// above 1, mapio is faster by that factor.
    pub ratio: Option<f64>,
    /// The same for the hot phase.
    pub hot_ratio: Option<f64>,
}

impl ContenderResult {
    /// The median of the workload's metric: seconds, or µs of latency.
    pub fn median(&self) -> Option<f64> {
        self.time_s
            .as_ref()
            .or(self.latency_us.as_ref())
            .map(|s| s.median)
    }
}

/// One workload's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Short name.
    pub name: String,
    /// What is measured.
    pub title: String,
    /// `array`, `log`, `latency`.
    pub group: String,
    /// Time or latency.
    pub metric: Metric,
    /// Bytes of work per run.
    pub bytes: u64,
    /// Records per run.
    pub records: Option<u64>,
    /// Threads.
    pub threads: Option<usize>,
    /// Timed rounds.
    pub rounds: usize,
    /// Warm-up rounds (checksums checked, times dropped).
    pub warmup_rounds: usize,
    /// The baseline of the ratios.
    pub baseline: String,
    /// The checksum expected of every contender, as hex.
    pub expected_checksum: Option<String>,
    /// What the hot phase is.
    pub hot_label: Option<String>,
    /// Every contender returned the expected checksum in every run.
    pub valid: bool,
    /// What went wrong, if anything.
    pub problems: Vec<String>,
    /// The contenders, in the order given.
    pub contenders: Vec<ContenderResult>,
}

impl WorkloadResult {
    /// The contender called `name`.
    pub fn contender(&self, name: &str) -> Option<&ContenderResult> {
        self.contenders.iter().find(|c| c.name == name)
    }
}

/// A checksum as the report prints it.
pub fn hex(sum: u64) -> String {
    format!("{sum:#018x}")
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Summarises the samples of a workload: statistics of the timed runs,
/// throughput, ratios to mapio's medians, and the checksum check (against
/// the spec's expected checksum, else against mapio's first run).
pub fn summarize(
    spec: &WorkloadSpec,
    contenders: &[ContenderSpec],
    collected: &Collected,
) -> WorkloadResult {
    let mut problems = Vec::new();
    if collected.samples.len() != contenders.len() {
        problems.push(format!(
            "{} contenders but samples for {}",
            contenders.len(),
            collected.samples.len()
        ));
    }
    let base_idx = contenders
        .iter()
        .position(|c| c.name == BASELINE)
        .unwrap_or(0);
    let expected = spec.expected_checksum.or_else(|| {
        collected
            .samples
            .get(base_idx)
            .and_then(|s| s.first())
            .map(|s| s.checksum)
    });
    let mut results = Vec::new();
    let (mut rounds, mut warmup_rounds) = (0, 0);
    for (c, spec_c) in contenders.iter().enumerate() {
        let all: &[Sample] = collected.samples.get(c).map_or(&[], Vec::as_slice);
        let timed: Vec<&Sample> = all.iter().filter(|s| !s.warmup).collect();
        rounds = rounds.max(timed.len());
        warmup_rounds = warmup_rounds.max(all.len() - timed.len());
        let mut sums: Vec<u64> = Vec::new();
        for s in all {
            if !sums.contains(&s.checksum) {
                sums.push(s.checksum);
            }
        }
        let checksum_ok = !all.is_empty() && all.iter().all(|s| Some(s.checksum) == expected);
        if all.is_empty() {
            problems.push(format!("{}: no runs", spec_c.name));
        } else if !checksum_ok {
            let got: Vec<String> = sums.iter().map(|&s| hex(s)).collect();
            problems.push(format!(
                "{}: checksum {} but expected {}",
                spec_c.name,
                got.join(", "),
                expected.map_or_else(|| "none".to_string(), hex)
            ));
        }
        let (time_s, hot_s, latency_us) = match spec.metric {
            Metric::Time => {
                let t: Vec<f64> = timed.iter().map(|s| secs(s.time)).collect();
                let h: Vec<f64> = timed.iter().filter_map(|s| s.hot.map(secs)).collect();
                (Stats::of(&t), Stats::of(&h), None)
            }
            Metric::Latency => {
                let l: Vec<f64> = timed
                    .iter()
                    .flat_map(|s| s.latencies_ns.iter().map(|&ns| ns as f64 / 1e3))
                    .collect();
                (None, None, Stats::of(&l))
            }
        };
        let per_s = |x: f64, st: &Option<Stats>| {
            st.as_ref()
                .filter(|s| s.median > 0.0 && x > 0.0)
                .map(|s| x / s.median)
        };
        let bytes = spec.bytes as f64;
        let records = spec.records.map_or(0.0, |r| r as f64);
        results.push(ContenderResult {
            name: spec_c.name.clone(),
            description: spec_c.description.clone(),
            role: spec_c.role,
            runs: timed.len(),
            checksums: sums.iter().map(|&s| hex(s)).collect(),
            checksum_ok,
            throughput_bps: per_s(bytes, &time_s),
            hot_throughput_bps: per_s(bytes, &hot_s),
            records_per_s: if spec.metric == Metric::Time {
                per_s(records, &time_s)
            } else {
                None
            },
            hot_records_per_s: per_s(records, &hot_s),
            time_s,
            hot_s,
            latency_us,
            ratio: None,
            hot_ratio: None,
        });
    }
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    if let Some(base) = results.get(base_idx).cloned() {
        for r in &mut results {
            r.ratio = ratio(r.median(), base.median());
            r.hot_ratio = ratio(
                r.hot_s.as_ref().map(|s| s.median),
                base.hot_s.as_ref().map(|s| s.median),
            );
        }
    }
    let valid = problems.is_empty() && !results.is_empty();
    WorkloadResult {
        name: spec.name.clone(),
        title: spec.title.clone(),
        group: spec.group.clone(),
        metric: spec.metric,
        bytes: spec.bytes,
        records: spec.records,
        threads: spec.threads,
        rounds,
        warmup_rounds,
        baseline: contenders
            .get(base_idx)
            .map_or_else(|| BASELINE.to_string(), |c| c.name.clone()),
        expected_checksum: expected.map(hex),
        hot_label: spec.hot_label.clone(),
        valid,
        problems,
        contenders: results,
    }
}

/// The machine a run was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// One line: CPU, cores, memory, kernel, filesystem.
    pub description: String,
    /// The CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// RAM in bytes.
    pub memory_bytes: u64,
    /// The kernel release.
    pub kernel: String,
    /// The filesystem of the benchmark's directory and its device.
    pub filesystem: String,
    /// Load averages (1, 5, 15 min) when the run started.
    pub load_before: Vec<f64>,
    /// Load averages when it ended.
    pub load_after: Vec<f64>,
    /// `release` or `debug`: how the benchmark was compiled.
    pub build: String,
}

/// The settings of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `--quick`.
    pub quick: bool,
    /// Array size in bytes.
    pub size: u64,
    /// Payload bytes appended per run of a log workload.
    pub log_bytes: u64,
    /// Threads of the N-thread log workloads.
    pub threads: usize,
    /// NumPy asked for, and found (its version).
    pub numpy: Option<String>,
    /// Where the files were.
    pub dir: String,
}

/// A whole run of `mapio bench`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `mapio bench`.
    pub tool: String,
    /// mapio's version.
    pub version: String,
    /// The command line.
    pub command: String,
    /// The settings.
    pub settings: Settings,
    /// The machine.
    pub machine: Machine,
    /// When it started, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// How long it took, in seconds.
    pub duration_s: f64,
    /// Every workload's results.
    pub workloads: Vec<WorkloadResult>,
    /// Every workload is valid (all checksums match).
    pub valid: bool,
    /// Remarks (a contender left out, and why).
    pub notes: Vec<String>,
    /// How to read the figures.
    pub legend: String,
}

/// How to read a report, as stored in it.
pub const LEGEND: &str = "Times are medians of interleaved runs, with the interquartile range \
(p25-p75). ratio = the contender's median / mapio's median (time, or p50 latency): above 1, \
mapio is faster by that factor. Throughput = useful bytes (array data, log payloads) per median \
time. Log workloads end durable; 'appends' times the appends alone. Limits are not ways to \
write a log but ceilings: memcpy RAM to RAM, and memcpy into freshly fallocated mapped pages.";

impl Report {
    /// The workload called `name`.
    pub fn workload(&self, name: &str) -> Option<&WorkloadResult> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The problems of every invalid workload.
    pub fn problems(&self) -> Vec<String> {
        self.workloads
            .iter()
            .flat_map(|w| w.problems.iter().map(move |p| format!("{}: {p}", w.name)))
            .collect()
    }
}

/// A duration in seconds, in the unit that suits it.
pub fn time_text(s: f64) -> String {
    if !s.is_finite() {
        return "-".to_string();
    }
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Bytes per second, in MiB/s or GiB/s.
pub fn rate_text(bps: f64) -> String {
    let mib = bps / (1024.0 * 1024.0);
    if mib >= 10_000.0 {
        format!("{:.1} GiB/s", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB/s")
    }
}

/// A count in a short form (`1.5 M`).
pub fn count_text(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"))
}

/// The text tables of a workload.
pub fn workload_table(w: &WorkloadResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — {} ({} rounds{})",
        w.name,
        w.title,
        w.rounds,
        if w.warmup_rounds > 0 {
            format!(" + {} warm-up", w.warmup_rounds)
        } else {
            String::new()
        }
    );
    let width = w
        .contenders
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(8)
        .max(10);
    match w.metric {
        Metric::Time => {
            let hot = w.hot_label.as_deref();
            let _ = write!(
                s,
                "  {:<width$}  {:>10}  {:>23}  {:>11}  {:>7}",
                "contender", "median", "p25–p75 (min)", "throughput", "ratio"
            );
            if let Some(h) = hot {
                let _ = write!(s, "  {:>10}  {:>11}  {:>7}", h, "throughput", "ratio");
            }
            s.push('\n');
            for c in &w.contenders {
                let Some(t) = &c.time_s else { continue };
                let spread = format!("{}–{} ({})", short(t.p25), short(t.p75), short(t.min));
                let _ = write!(
                    s,
                    "  {:<width$}  {:>10}  {:>23}  {:>11}  {:>7}",
                    c.name,
                    time_text(t.median),
                    spread,
                    c.throughput_bps.map_or_else(|| "-".into(), rate_text),
                    ratio_text(c.ratio)
                );
                if hot.is_some() {
                    let h = c.hot_s.as_ref().map_or(f64::NAN, |h| h.median);
                    let _ = write!(
                        s,
                        "  {:>10}  {:>11}  {:>7}",
                        time_text(h),
                        c.hot_throughput_bps.map_or_else(|| "-".into(), rate_text),
                        ratio_text(c.hot_ratio)
                    );
                }
                if c.role == Role::Limit {
                    s.push_str("  (limit)");
                }
                s.push('\n');
            }
        }
        Metric::Latency => {
            let _ = writeln!(
                s,
                "  {:<width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:>11}",
                "contender", "p50 µs", "p90 µs", "p99 µs", "max µs", "samples", "ratio (p50)"
            );
            for c in &w.contenders {
                let Some(l) = &c.latency_us else { continue };
                let _ = writeln!(
                    s,
                    "  {:<width$}  {:>9.2}  {:>9.2}  {:>9.2}  {:>9.1}  {:>8}  {:>11}",
                    c.name,
                    l.median,
                    l.p90,
                    l.p99,
                    l.max,
                    l.n,
                    ratio_text(c.ratio)
                );
            }
        }
    }
    if w.valid {
        let _ = writeln!(
            s,
            "  checksums: every run of every contender returned {}",
            w.expected_checksum.as_deref().unwrap_or("the same")
        );
    } else {
        for p in &w.problems {
            let _ = writeln!(s, "  INVALID: {p}");
        }
    }
    s
}

/// A time without padding, for the spread column.
fn short(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2}s")
    } else if s >= 1e-3 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{:.0}µs", s * 1e6)
    }
}

/// The whole report as text: the machine, then a table per workload.
pub fn report_text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} {} — {}", r.tool, r.version, r.command);
    let _ = writeln!(s, "machine: {}", r.machine.description);
    let _ = writeln!(
        s,
        "load average before {:?}, after {:?}; {} build; {:.0} s",
        r.machine.load_before, r.machine.load_after, r.machine.build, r.duration_s
    );
    let _ = writeln!(s, "{}", r.legend);
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    for w in &r.workloads {
        s.push('\n');
        s.push_str(&workload_table(w));
    }
    s
}

#[cfg(test)]
#[path = "harness_tests.rs"]
mod tests;
