//! What machine a run is measured on, from `/proc` (Linux).

use std::path::Path;

use crate::harness::Machine;

/// The load averages (1, 5 and 15 minutes), or empty if unknown.
pub fn load_average() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            s.split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn memory_bytes() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| {
            let rest = l.strip_prefix("MemTotal:")?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The filesystem type and device of the mount that holds `dir` (the
/// longest mount point that is a prefix of its canonical path).
pub fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let point = f[1].replace("\\040", " ");
        if dir.starts_with(&point) && best.as_ref().is_none_or(|(n, _)| point.len() > *n) {
            best = Some((point.len(), format!("{} on {} ({})", f[2], point, f[0])));
        }
    }
    best.map_or_else(|| "unknown".to_string(), |(_, s)| s)
}

/// Describes this machine; `dir` is where the benchmark's files go.
pub fn describe(dir: &Path) -> Machine {
    let cpu = cpu_model();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = memory_bytes();
    let kernel = kernel();
    let filesystem = filesystem_of(dir);
    let fs_type = filesystem
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    Machine {
        description: format!(
            "{cores} x {cpu}, {:.0} GiB RAM, Linux {kernel}, {fs_type} ({})",
            memory as f64 / (1u64 << 30) as f64,
            dir.display()
        ),
        cpu,
        cores,
        memory_bytes: memory,
        kernel,
        filesystem,
        load_before: load_average(),
        load_after: Vec::new(),
        build: build.to_string(),
    }
}
