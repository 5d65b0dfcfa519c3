//! The query workload: the state of every object at a time, over a log
//! written step by step (SWIFT-style: every key once a step), answered
//! with the sidecar index and by a full scan.

use std::io;
use std::path::Path;

use mapio::array::DType;
use mapio::log::{Entry, Index, Interpolation, LogOptions, LogReader, LogSet, Schema, SetOptions};

/// The shape of the query workload's log.
#[derive(Clone, Copy, Debug)]
pub struct QuerySpec {
    /// Objects (keys).
    pub keys: u64,
    /// Steps: every key has one record a step.
    pub steps: u64,
}

impl QuerySpec {
    /// Records in the log.
    pub fn records(&self) -> u64 {
        self.keys * self.steps
    }

    /// The time queried: between two steps, past the middle.
    pub fn time(&self) -> f64 {
        (self.steps / 2) as f64 + 0.5
    }
}

fn io_err(e: mapio::Error) -> io::Error {
    io::Error::other(e)
}

/// Writes the log (two threads, 48-byte payloads: position and velocity)
/// and its index; returns (log bytes, index bytes).
pub fn prepare_query(path: &Path, spec: QuerySpec) -> io::Result<(u64, u64)> {
    let schema = Schema::new()
        .field("pos", DType::F64, 3)
        .and_then(|s| s.field("vel", DType::F64, 3))
        .map_err(io::Error::other)?;
    let log = LogOptions::new()
        .schema(schema)
        .dense_keys(spec.keys as usize)
        .create(path)
        .map_err(io_err)?;
    let payload = |k: u64, s: u64| {
        let mut p = [0u8; 48];
        for (i, c) in p.chunks_exact_mut(8).enumerate() {
            c.copy_from_slice(&((k * 6 + i as u64) as f64 + s as f64).to_le_bytes());
        }
        p
    };
    for s in 0..spec.steps {
        std::thread::scope(|sc| -> io::Result<()> {
            let hs: Vec<_> = (0..2u64)
                .map(|t| {
                    let log = &log;
                    sc.spawn(move || -> io::Result<()> {
                        for k in (t..spec.keys).step_by(2) {
                            log.append(&Entry::new().key(k).time(s as f64), &payload(k, s))
                                .map_err(io_err)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in hs {
                h.join()
                    .map_err(|_| io::Error::other("writer panicked"))??;
            }
            Ok(())
        })?;
    }
    log.close().map_err(io_err)?;
    let reader = LogReader::open(path).map_err(io_err)?;
    let ipath = Index::path_for(path, None);
    Index::update(&reader, &ipath, None).map_err(io_err)?;
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len());
    Ok((len(path)?, len(&ipath)?))
}

/// The state at `spec.time()`, with the index (`indexed`) or by a scan;
/// returns a checksum of the (key, record offset, payload) of every entry.
pub fn run_query(path: &Path, spec: QuerySpec, indexed: bool) -> io::Result<u64> {
    let set = LogSet::open(path, &SetOptions::new().no_index(!indexed)).map_err(io_err)?;
    let state = set
        .state_at(spec.time(), Interpolation::None)
        .map_err(io_err)?;
    let mut sum = 0u64;
    for (e, payload) in state.iter() {
        let mut h = e.key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ e.offset;
        for c in payload.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = h.rotate_left(7) ^ u64::from_le_bytes(w);
        }
        sum = sum.wrapping_add(h);
    }
    if state.len() as u64 != spec.keys {
        return Err(io::Error::other(format!(
            "the state has {} entries, not {}",
            state.len(),
            spec.keys
        )));
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_scan_agree() {
        let _serial = crate::serial();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.log");
        let spec = QuerySpec {
            keys: 1000,
            steps: 6,
        };
        let (log, idx) = prepare_query(&p, spec).unwrap();
        assert!(idx < log / 10, "index {idx} of a {log}-byte log");
        assert_eq!(
            run_query(&p, spec, true).unwrap(),
            run_query(&p, spec, false).unwrap()
        );
    }
}
