//! Building an index takes memory in proportion to the index, not to the
//! log: a few bytes a record and a few dozen a key, measured here by
//! counting every allocation of the build (the log itself is mapped, and
//! its pages are the kernel's cache, not the process's memory).
//!
//! One test in this binary: the allocation counter is process-wide.

use mapio::log::{Entry, Index, LogOptions, LogReader};
use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};

#[global_allocator]
static GLOBAL: &PeakMemAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The most heap the build of `path`'s index held at once, beyond what
/// was held before it, and the index.
fn build_peak(path: &std::path::Path) -> (usize, Index) {
    let reader = LogReader::open(path).unwrap();
    GLOBAL.reset_peak_memory();
    let idx = Index::build(&reader, None).unwrap();
    (GLOBAL.get_peak_memory(), idx)
}

#[test]
fn an_index_build_takes_memory_in_proportion_to_the_index() {
    let dir = tempfile::tempdir().unwrap();
    const KEYS: u64 = 20_000;
    const STEPS: u64 = 15;
    let records = (KEYS * STEPS) as usize;
    // A budget of 24 bytes a record (the index's own 4, and 8 for each
    // record's key ordinal and offset while the lists are laid out, with
    // room for a vector's growth) and 160 bytes a key, plus 4 MiB: the
    // build that kept every record's key, offset, end and time needed
    // about 100 bytes a record.
    let budget = 24 * records + 160 * KEYS as usize + (4 << 20);
    // Times one a step (SWIFT-style), then a distinct time every record
    // (the checkpoints' summary keeps at most 64 Ki of them).
    for distinct_times in [false, true] {
        let path = dir.path().join(format!("{distinct_times}.log"));
        let log = LogOptions::new().create(&path).unwrap();
        for s in 0..STEPS {
            for k in 0..KEYS {
                let t = if distinct_times {
                    (s * KEYS + k) as f64
                } else {
                    s as f64
                };
                log.append(&Entry::new().key(k * 3).time(t), &[7u8; 24])
                    .unwrap();
            }
        }
        log.close().unwrap();
        let (peak, idx) = build_peak(&path);
        assert_eq!(idx.records(), records as u64);
        assert_eq!(idx.keys().len(), KEYS as usize);
        assert!(
            peak <= budget,
            "distinct times {distinct_times}: the build held {peak} B at its peak, \
             {} B a record (budget {budget} B)",
            peak / records
        );
        // The index itself is part of it: 4 bytes a record, 16 a key.
        assert!(peak >= 4 * records + 16 * KEYS as usize, "{peak}");
    }
}
