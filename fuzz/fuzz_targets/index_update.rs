//! A hostile sidecar index next to a real log: `Index::load`, then
//! `Index::update` (which extends a "fresh" index with the log's newer
//! records), then the queries that trust an index: `LogSet::history` and
//! `LogSet::state_at`.
//!
//! The log is made once per process with the library (a few keys, times,
//! a history chain). Each input becomes an index file (built by
//! `mapio_fuzz::build_index`, or raw bytes), then is made to *match* the
//! log where the input asks: `log_created_ns` set to the log's, `covered`
//! pulled inside the log, `last_offset`/`last_word1` pointing at a real
//! record, CRC recomputed. A matching index is trusted by design (its CRC
//! is not a signature); the invariant here is only that trusting it
//! never panics and never hangs.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mapio::log::format::HEADER_LEN;
use mapio::log::index::{Index, IndexState};
use mapio::log::{Entry, Interpolation, LogOptions, LogReader, LogSet, SetOptions};
use mapio_fuzz::{Cursor, build_index, fix_index_crc, idx, known_bugs, scratch_dir};

struct TheLog {
    path: PathBuf,
    bytes: Vec<u8>,
    created_ns: u64,
    offsets: Vec<u64>,
}

fn the_log() -> &'static TheLog {
    static LOG: OnceLock<TheLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = scratch_dir().join("indexed.log");
        let _ = std::fs::remove_file(&path);
        let opts = LogOptions::new().background_allocation(false).step(4096);
        let log = opts.create(&path).expect("create the log");
        let mut offsets = Vec::new();
        for step in 0..6u64 {
            for key in 0..5u64 {
                let payload = (key * 100 + step).to_le_bytes();
                let e = Entry::new().key(key).time(step as f64);
                offsets.push(log.append(&e, &payload).expect("append"));
            }
        }
        log.close().expect("close");
        let bytes = std::fs::read(&path).expect("read the log");
        let created_ns = LogReader::open(&path).expect("open").header().created_ns;
        TheLog {
            path,
            bytes,
            created_ns,
            offsets,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let log = the_log();
    let mut c = Cursor::new(data);
    let mode = c.u8();
    let pick = c.u8() as usize;
    let covered_at = c.u8() as u64;
    let mut bytes = if mode & 1 == 0 {
        build_index(&mut c)
    } else {
        c.rest().to_vec()
    };
    if bytes.len() >= mapio::log::index::HEADER {
        if mode & 2 == 0 {
            bytes[idx::CREATED..idx::CREATED + 8].copy_from_slice(&log.created_ns.to_le_bytes());
        }
        if mode & 4 == 0 {
            // `covered` inside the log, so that `update` extends.
            let covered = HEADER_LEN + 8 * covered_at;
            bytes[24..32].copy_from_slice(&covered.to_le_bytes());
        }
        if mode & 8 == 0 {
            let last = if pick == 0 {
                0
            } else {
                log.offsets[pick % log.offsets.len()]
            };
            bytes[idx::LAST_OFFSET..idx::LAST_OFFSET + 8].copy_from_slice(&last.to_le_bytes());
            let w1 = if last == 0 {
                0
            } else {
                let at = last as usize + 8;
                u64::from_le_bytes(log.bytes[at..at + 8].try_into().unwrap())
            };
            bytes[40..48].copy_from_slice(&w1.to_le_bytes());
        }
        // Known bug 5 (README.md): `Index::load` computes `last_offset + 8`
        // unchecked.
        let at = idx::LAST_OFFSET;
        let last = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        if !known_bugs() && last > u64::MAX - 64 {
            bytes[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
        }
        if mode & 16 == 0 {
            fix_index_crc(&mut bytes);
        }
    }
    let dir = scratch_dir().join("idx");
    std::fs::create_dir_all(&dir).expect("index dir");
    let ipath = Index::path_for(&log.path, Some(&dir));
    std::fs::write(&ipath, &bytes).expect("write the index");

    let reader = LogReader::open(&log.path).expect("open the log");
    match Index::load(&reader, &ipath).expect("load") {
        IndexState::Fresh(i) => {
            let _ = i.bounds(2.0);
            let _ = i.offsets(3);
        }
        IndexState::Stale(_) | IndexState::Missing => {}
    }
    // Known bug 4 (README.md): reading or scanning from an offset within
    // 16 bytes of `u64::MAX` overflows, and an index can name such offsets
    // (`covered`, checkpoints, list entries) that the queries then read.
    if !known_bugs() {
        const LIM: u64 = u64::MAX - 64;
        if let Ok(i) = Index::decode(&bytes) {
            let huge = i.covered() > LIM
                || i.checkpoints()
                    .iter()
                    .any(|c| c.prefix_end > LIM || c.suffix_start > LIM)
                || i.keys()
                    .iter()
                    .any(|&k| i.offsets(k).iter().any(|&o| o > LIM));
            if huge {
                return;
            }
        }
    }
    // The queries that trust a matching index (before update rewrites it).
    let set = LogSet::open(&log.path, &SetOptions::new().index_dir(&dir)).expect("open the set");
    for key in [0u64, 3, 9] {
        let _ = set.history(key);
    }
    for t in [-1.0, 0.0, 2.5, 5.0, f64::NAN] {
        let _ = set.state_at(t, Interpolation::None);
        let _ = set.state_at(t, Interpolation::Linear);
    }
    drop(set);
    // Known bugs 2 and 3 (fuzz/README.md): `Index::extend` (index.rs)
    // does unchecked arithmetic on values read from the index file: a
    // key's list that ends past a newer record of the key (`off - p`), and
    // a `records` count near `u64::MAX` (`self.records + seen.len()`).
    if !known_bugs()
        && let Ok(IndexState::Fresh(i)) = Index::load(&reader, &ipath)
    {
        let newer: Vec<(u64, u64)> = reader
            .records_from(i.covered())
            .filter_map(|r| r.key.map(|k| (k, r.offset)))
            .collect();
        let hits = newer
            .iter()
            .any(|&(k, off)| i.offsets(k).last().is_some_and(|&last| last > off));
        // Known bug 3: `records + new records` unchecked, likewise.
        if hits || i.records() > u64::MAX - (1 << 20) {
            return;
        }
    }
    // Update: extend a "fresh" index, or rebuild a stale one.
    if let Ok((updated, what)) = Index::update(&reader, &ipath, None)
        && what != "fresh"
        && !what.starts_with("extended")
    {
        // Rebuilt from the log: must be exactly what a build gives.
        let built = Index::build(&reader, None).expect("build");
        assert_eq!(updated.encode(), built.encode(), "{what}");
    }
});
