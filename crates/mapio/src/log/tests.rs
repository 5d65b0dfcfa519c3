use super::*;
use crate::array::DType;
use std::collections::HashMap;
use std::path::PathBuf;

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run.log");
    (dir, p)
}

fn small() -> LogOptions {
    LogOptions::new().step(64 << 10).reserve(1 << 32)
}

/// Payload of record `seq` of thread `t`: identifies itself, varies in length.
fn payload(t: u64, seq: u64) -> Vec<u8> {
    let n = 8 + ((t * 7 + seq * 13) % 200) as usize;
    let mut v = Vec::with_capacity(n);
    v.extend_from_slice(&t.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes()[..n.min(16) - 8]);
    while v.len() < n {
        v.push((seq as u8).wrapping_add(v.len() as u8));
    }
    v
}

#[test]
fn concurrent_appends_read_back_exactly_once_in_thread_order() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let threads = 4u64;
    let per = 20_000u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let log = &log;
            s.spawn(move || {
                for seq in 0..per {
                    log.append(&Entry::new().key(t).time(seq as f64), &payload(t, seq))
                        .unwrap();
                }
            });
        }
    });
    let covered = log.sync().unwrap();
    assert_eq!(covered, log.tail());
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    let mut next = vec![0u64; threads as usize];
    let mut n = 0;
    for rec in r.records() {
        let t = rec.key.unwrap();
        let seq = next[t as usize];
        assert_eq!(rec.time, Some(seq as f64));
        assert_eq!(rec.payload, payload(t, seq), "thread {t} seq {seq}");
        next[t as usize] += 1;
        n += 1;
    }
    assert_eq!(n, threads * per);
    assert!(next.iter().all(|&x| x == per));
    let report = r.scan();
    assert!(report.clean, "{report:?}");
    assert_eq!(report.records, threads * per);
    assert_eq!(report.keys, threads);
    assert_eq!(report.time_range, Some((0.0, (per - 1) as f64)));
    // Closed and truncated right after the end record.
    assert_eq!(std::fs::metadata(&p).unwrap().len(), report.end_offset);
}

#[test]
fn history_chains_follow_each_key() {
    let (_d, p) = tmp();
    let log = small().dense_keys(10).create(&p).unwrap();
    let mut want: HashMap<u64, Vec<u64>> = HashMap::new();
    for i in 0..1000u64 {
        let key = (i * 7919) % 13; // some dense, some sparse keys
        let off = log
            .append(&Entry::new().key(key).time(i as f64), &i.to_le_bytes())
            .unwrap();
        want.entry(key).or_default().push(off);
    }
    // Explicit and absent chains.
    let solo = log
        .append(&Entry::new().key(99).chain(Chain::None), b"x")
        .unwrap();
    let r = LogReader::open(&p).unwrap();
    for (key, offs) in &want {
        let h = r.history(*key).unwrap();
        let got: Vec<u64> = h.iter().map(|r| r.offset).collect();
        assert_eq!(&got, offs, "key {key}");
        assert_eq!(h[0].prev, Some(0));
        // One thread: the chain links each record to the one before.
        let chain = r.history_back_from(*offs.last().unwrap()).unwrap();
        assert_eq!(chain.iter().map(|r| r.offset).collect::<Vec<_>>(), *offs);
    }
    assert_eq!(r.read_at(solo).unwrap().prev, None);
    assert!(r.history(12345).unwrap().is_empty());
    drop(r);
    log.close().unwrap();
}

/// A reservation committed after a later append of its key links in
/// commit order (forward); `history` still gives every record of the key
/// in file order, with or without chain links, and the chain walk visits
/// each linked record once.
#[test]
fn history_is_file_order_whatever_the_links() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let a = log.append(&Entry::new().key(1).time(0.0), b"a").unwrap();
    let r = log.reserve(&Entry::new().key(1).time(1.0), 8).unwrap();
    let b = log.append(&Entry::new().key(1).time(2.0), b"b").unwrap();
    let reserved = r.offset();
    r.commit().unwrap();
    let c = log.append(&Entry::new().key(1).time(3.0), b"c").unwrap();
    let d = log
        .append(&Entry::new().key(1).time(4.0).chain(Chain::None), b"d")
        .unwrap();
    log.close().unwrap();
    let reader = LogReader::open(&p).unwrap();
    let h = reader.history(1).unwrap();
    let offsets: Vec<u64> = h.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [a, reserved, b, c, d]);
    assert!(a < reserved && reserved < b);
    // The reservation linked to `b`, committed before it: forward.
    assert_eq!(reader.read_at(reserved).unwrap().prev, Some(b));
    let chain = reader.history_back_from(c).unwrap();
    let walked: Vec<u64> = chain.iter().map(|r| r.offset).collect();
    assert_eq!(walked, [a, b, reserved, c]);
}

/// A reservation leaked with `mem::forget` (never committed nor dropped)
/// is covered with padding by `close`: the closed log reads clean, not
/// damaged, and reopens without recovery work.
#[test]
fn forgotten_reservations_are_padded_at_close() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    log.append(&Entry::new().key(1), b"before").unwrap();
    std::mem::forget(log.reserve(&Entry::new().key(2), 40).unwrap());
    let mut half = log.reserve(&Entry::new().key(3), 64).unwrap();
    half.put(0, &[0xAB; 32]).unwrap(); // partly written, then leaked
    std::mem::forget(half);
    log.append(&Entry::new().key(1), b"after").unwrap();
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    let report = r.scan();
    assert!(report.clean && report.is_intact(), "{report:?}");
    // The two leaked reservations are adjacent: one padding record.
    assert_eq!((report.records, report.padding), (2, 1), "{report:?}");
    let payloads: Vec<Vec<u8>> = r.records().map(|x| x.payload).collect();
    assert_eq!(payloads, [b"before".to_vec(), b"after".to_vec()]);
    drop(r);
    let (log, found) = Log::open_with_report(&p, &small()).unwrap();
    assert!(
        found.damaged.is_empty() && found.holes.is_empty(),
        "{found:?}"
    );
    log.close().unwrap();
}

#[test]
fn reservations_commit_in_place_or_become_padding() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let mut r = log.reserve(&Entry::new().key(1).time(2.0), 20).unwrap();
    r.put(0, b"hello").unwrap();
    r.put_pod(8, &1.5f64).unwrap();
    r.put(16, &[1, 2, 3, 4]).unwrap();
    assert!(r.put(18, &[0; 3]).is_err(), "past the payload");
    let a = r.commit().unwrap();
    let dropped = log.reserve(&Entry::new().key(1), 100).unwrap();
    let dropped_off = dropped.offset();
    drop(dropped);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut r = log.reserve(&Entry::new().key(1), 64).unwrap();
        r.put(0, b"half").unwrap();
        panic!("writer dies mid-record");
    }));
    assert!(panicked.is_err());
    let b = log.append(&Entry::new().key(1), b"after").unwrap();
    let reader = LogReader::open(&p).unwrap();
    let recs: Vec<Record> = reader.records().collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].offset, a);
    assert_eq!(&recs[0].payload[..5], b"hello");
    assert_eq!(recs[0].payload[8..16], 1.5f64.to_le_bytes());
    assert_eq!(recs[1].offset, b);
    // The chain skips the padding: reservations chain only on commit.
    assert_eq!(recs[1].prev, Some(a));
    assert!(reader.read_at(dropped_off).is_err());
    let report = reader.scan();
    assert_eq!(report.padding, 2);
    assert!(report.damaged.is_empty());
    drop(reader);
    log.close().unwrap();
}

#[test]
fn growth_across_many_steps_with_writers_running() {
    let (_d, p) = tmp();
    let log = LogOptions::new()
        .step(4096)
        .reserve(1 << 30)
        .create(&p)
        .unwrap();
    let addr_before = log.allocated();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let log = &log;
            s.spawn(move || {
                for seq in 0..3000 {
                    log.append(&Entry::new().key(t), &payload(t, seq)).unwrap();
                }
            });
        }
    });
    assert!(
        log.allocated() > addr_before + 100 * 4096,
        "grew in many steps"
    );
    log.close().unwrap();
    assert_eq!(LogReader::open(&p).unwrap().records().count(), 9000);
}

#[test]
fn crash_without_close_then_reopen_continues() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    for i in 0..100u64 {
        log.append(&Entry::new().key(i % 3), &i.to_le_bytes())
            .unwrap();
    }
    // A reservation that was never committed: the hole of a crashed thread.
    let hole = log.reserve(&Entry::new(), 40).unwrap();
    std::mem::forget(hole);
    let after = log.append(&Entry::new().key(1), b"after the hole").unwrap();
    drop(log); // no close: like a crash, minus the kill
    let r = LogReader::open(&p).unwrap();
    assert!(!r.writer_active());
    assert!(!r.closed_cleanly());
    let report = r.scan();
    assert_eq!(report.records, 101);
    assert_eq!(report.holes.len(), 1, "{report:?}");
    assert!(!report.clean);
    assert_eq!(r.records().count(), 101);
    drop(r);
    let (log, found) = Log::open_with_report(&p, &small()).unwrap();
    assert_eq!(found.records, 101);
    let next = log.append(&Entry::new().key(1), b"new session").unwrap();
    assert!(next > after);
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    let h = r.history(1).unwrap();
    assert_eq!(h.last().unwrap().payload, b"new session");
    assert_eq!(h[h.len() - 2].offset, after);
    assert_eq!(
        h.last().unwrap().prev,
        Some(after),
        "the chain continues across sessions"
    );
    assert_eq!(r.sessions(), 2);
    assert!(r.closed_cleanly());
    let report = r.scan();
    assert_eq!(report.records, 102);
    assert_eq!(report.ends, 1);
}

#[test]
fn schema_round_trips_and_decodes_fields() {
    let (_d, p) = tmp();
    let schema = Schema::new()
        .field("pos", DType::F64, 3)
        .unwrap()
        .field("mass", DType::F32, 1)
        .unwrap();
    let log = small().schema(schema.clone()).create(&p).unwrap();
    let mut buf = Vec::new();
    for x in [1.0f64, 2.0, 3.0] {
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.extend_from_slice(&0.5f32.to_le_bytes());
    log.append(&Entry::new().key(5), &buf).unwrap();
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    assert_eq!(r.schema(), &schema);
    let rec = r.records().next().unwrap();
    let pos = rec.field(schema.get("pos").unwrap()).unwrap();
    assert_eq!(pos.len(), 3);
    assert_eq!(pos[2].to_string(), "3.0");
    assert_eq!(
        rec.field(schema.get("mass").unwrap()).unwrap()[0].to_string(),
        "0.5"
    );
}

#[test]
fn sync_failure_poisons_the_log() {
    use crate::sys::fault::{self, Op};
    let (_d, p) = tmp();
    let log = small().background_allocation(false).create(&p).unwrap();
    log.append(&Entry::new(), b"one").unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    assert!(log.sync().is_err());
    assert!(matches!(log.sync(), Err(crate::Error::Poisoned { .. })));
    assert!(matches!(
        log.append(&Entry::new(), b"two"),
        Err(crate::Error::Poisoned { .. })
    ));
    drop(log);
    // What was committed before is there.
    assert_eq!(LogReader::open(&p).unwrap().records().count(), 1);
}

#[test]
fn the_first_sync_of_a_new_log_makes_its_name_durable() {
    // `sync` promises the records are on the disk: the log's directory
    // entry too, once (the second fsync of the first sync; none later).
    use crate::sys::fault::{self, Op};
    let (_d, p) = tmp();
    let log = small().background_allocation(false).create(&p).unwrap();
    log.append(&Entry::new(), b"one").unwrap();
    fault::inject(Op::Fsync, libc::EIO, 1, 1);
    let e = log.sync().unwrap_err();
    assert!(
        matches!(
            e,
            crate::Error::Io {
                op: "fsync(parent dir)",
                ..
            }
        ),
        "{e}"
    );
    fault::clear();
    // The records are on the disk; only the name was not: the log is not
    // poisoned, and the next sync tries the directory again.
    log.append(&Entry::new(), b"two").unwrap();
    log.sync().unwrap();
    log.close().unwrap();
    let log = small()
        .background_allocation(false)
        .create(p.with_extension("2"))
        .unwrap();
    log.append(&Entry::new(), b"one").unwrap();
    log.sync().unwrap();
    fault::inject(Op::Fsync, libc::EIO, 1, 1);
    log.sync().unwrap();
    fault::clear();
    log.close().unwrap();
}

#[test]
fn full_disk_fails_appends_and_keeps_earlier_records() {
    use crate::sys::fault::{self, Op};
    let (_d, p) = tmp();
    let log = LogOptions::new()
        .step(4096)
        .background_allocation(false)
        .create(&p)
        .unwrap();
    let mut n = 0;
    fault::inject(Op::Fallocate, libc::ENOSPC, 0, 100);
    let err = loop {
        match log.append(&Entry::new(), &[7u8; 100]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    fault::clear();
    assert!(err.is_no_space(), "{err}");
    assert!(n > 0);
    assert!(
        log.append(&Entry::new(), b"x").unwrap_err().is_no_space(),
        "stays full"
    );
    // What was committed can still be made durable.
    assert!(log.sync().unwrap() > format::HEADER_LEN);
    assert!(log.close().unwrap_err().is_no_space());
    assert_eq!(LogReader::open(&p).unwrap().records().count(), n);
    let (log, report) = Log::open_with_report(&p, &LogOptions::new()).unwrap();
    assert_eq!(report.records, n as u64);
    log.append(&Entry::new(), b"room again").unwrap();
    log.close().unwrap();
}

#[test]
fn foreign_truncated_and_newer_files_are_refused() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"hello, not a log").unwrap();
    let e = LogReader::open(&p).unwrap_err();
    assert!(e.to_string().contains("not a mapio log"), "{e}");
    assert!(Log::open(&p).is_err());
    let log = small().create(&p).unwrap();
    log.close().unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[format::OFF_VERSION] = 9;
    std::fs::write(&p, &bytes).unwrap();
    let e = LogReader::open(&p).unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
    assert!(
        matches!(
            e,
            crate::Error::Format {
                kind: crate::Mismatch::Unsupported,
                ..
            }
        ),
        "{e:?}"
    );
    let e = Log::open(&p).unwrap_err();
    assert!(
        matches!(
            e,
            crate::Error::Format {
                kind: crate::Mismatch::Unsupported,
                ..
            }
        ),
        "{e:?}"
    );
    std::fs::write(&p, &bytes[..1000]).unwrap();
    assert!(LogReader::open(&p).is_err());
}

#[test]
fn second_writer_is_refused_readers_are_not() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let r1 = LogReader::open(&p).unwrap();
    let r2 = LogReader::open(&p).unwrap();
    assert!(r1.writer_active());
    assert!(matches!(Log::open(&p), Err(crate::Error::Locked { .. })));
    // A plain open of the file is refused while it is shared.
    assert!(crate::map::MappedFile::open(&p, crate::map::Mode::ReadOnly).is_err());
    log.append(&Entry::new(), b"x").unwrap();
    // Close with readers attached: end record, but no truncation.
    let end = log.close().unwrap();
    assert!(std::fs::metadata(&p).unwrap().len() > end);
    assert!(!r1.writer_active());
    assert_eq!(r2.records().count(), 1);
    drop((r1, r2));
    // The next writer truncates what the first could not.
    let log = Log::open(&p).unwrap();
    log.close().unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), end + 16);
}

#[test]
fn follow_sees_records_as_they_commit() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let reader = LogReader::open(&p).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..5000u64 {
                log.append(&Entry::new().key(i), &i.to_le_bytes()).unwrap();
                if i % 1000 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        });
        let mut expect = 0u64;
        for rec in reader
            .follow(FollowOptions::new().idle_timeout(Some(std::time::Duration::from_secs(10))))
        {
            assert_eq!(rec.key, Some(expect));
            expect += 1;
            if expect == 5000 {
                break;
            }
        }
        assert_eq!(expect, 5000);
    });
    // After close, follow ends at the end record.
    log.close().unwrap();
    let all: Vec<Record> = reader.follow(FollowOptions::new()).collect();
    assert_eq!(all.len(), 5000);
}

/// Resident bytes of this process's mappings of `path` (`/proc/self/smaps`).
fn resident_bytes_of(path: &std::path::Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut total = 0;
    let mut in_map = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        let is_header =
            first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if is_header {
            in_map = line.trim_end().ends_with(name);
        } else if in_map && line.starts_with("Rss:") {
            let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            total += kb * 1024;
        }
    }
    total
}

#[test]
fn bounded_resident_memory_releases_synced_pages() {
    // A long run keeps only about the resident window of its log mapped:
    // pages behind the synced offset are released after each sync.
    let write = |window: Option<u64>| -> (tempfile::TempDir, std::path::PathBuf, u64) {
        let (d, p) = tmp();
        let log = LogOptions::new()
            .step(4 << 20)
            .resident_window(window)
            .create(&p)
            .unwrap();
        let payload = vec![1u8; 4000];
        let mut peak = 0;
        for round in 0..12 {
            for _ in 0..1024 {
                log.append(&Entry::new().key(round), &payload).unwrap();
            }
            log.sync().unwrap();
            peak = peak.max(resident_bytes_of(&p));
        }
        // Records behind the window are still readable (faulted back in).
        log.close().unwrap();
        (d, p, peak)
    };
    let (_d1, p1, bounded) = write(Some(8 << 20));
    assert_eq!(LogReader::open(&p1).unwrap().records().count(), 12 * 1024);
    let (_d2, _p2, unbounded) = write(None);
    // 48 MiB written: with an 8 MiB window at most the window, a step
    // ahead and the round in flight stay resident; without it, all.
    assert!(
        bounded < 28 << 20,
        "resident {} MiB with an 8 MiB window",
        bounded >> 20
    );
    assert!(
        unbounded > 40 << 20,
        "the test cannot fail: {} MiB without a window",
        unbounded >> 20
    );
}

#[test]
fn recover_and_verify() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    for i in 0..50u64 {
        log.append(&Entry::new().key(i), &[i as u8; 33]).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    // Damage a record in the middle.
    let r = LogReader::open(&p).unwrap();
    let victim = r.records().nth(20).unwrap();
    drop(r);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[victim.offset as usize + 30] ^= 0xFF;
    std::fs::write(&p, &bytes).unwrap();
    let report = verify(&p).unwrap();
    assert_eq!(report.records, 49);
    assert_eq!(report.damaged.len(), 1);
    assert_eq!(report.damaged[0].from, victim.offset);
    assert_eq!(report.damaged[0].to, victim.next_offset());
    // StopAtDamage keeps the prefix only.
    let dir2 = tempfile::tempdir().unwrap();
    let q = dir2.path().join("copy.log");
    std::fs::write(&q, &bytes).unwrap();
    let found = recover(&q, Recovery::StopAtDamage).unwrap();
    assert_eq!(found.records, 20);
    assert_eq!(verify(&q).unwrap().records, 20);
    // SkipDamage keeps everything good.
    let found = recover(&p, Recovery::SkipDamage).unwrap();
    assert_eq!(found.records, 49);
    let after = verify(&p).unwrap();
    assert!(after.clean, "{after:?}");
    assert_eq!(after.records, 49);
    assert!(after.padding >= 1, "the damaged record became padding");
}

#[test]
fn follow_continues_past_the_end_record_of_an_earlier_session() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    log.append(&Entry::new(), b"first session").unwrap();
    log.close().unwrap();
    let log = Log::open(&p).unwrap();
    log.append(&Entry::new(), b"second session").unwrap();
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    let got: Vec<Vec<u8>> = r.follow(FollowOptions::new()).map(|r| r.payload).collect();
    assert_eq!(got, [b"first session".to_vec(), b"second session".to_vec()]);
}

#[test]
fn read_at_an_offset_no_record_can_have_is_an_invalid_argument() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let at = log.append(&Entry::new().key(1), b"12345678").unwrap();
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    assert_eq!(r.read_at(at).unwrap().payload, b"12345678");
    for bad in [5, 0, 4088, at + 4, 1 << 40, u64::MAX] {
        let e = r.read_at(bad).unwrap_err();
        assert!(matches!(e, crate::Error::InvalidArgument(_)), "{bad}: {e}");
    }
    // A possible offset where the file holds no data record: corrupt.
    let end = std::fs::metadata(&p).unwrap().len() - 16;
    assert!(matches!(r.read_at(end), Err(crate::Error::Corrupt { .. })));
}

#[test]
fn create_new_refuses_an_existing_file_and_leaves_it_alone() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"not a log").unwrap();
    let e = small().create_new(true).create(&p).unwrap_err();
    assert!(
        matches!(&e, crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
        "{e}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"not a log");
    std::fs::remove_file(&p).unwrap();
    small()
        .create_new(true)
        .create(&p)
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn opening_a_log_while_it_is_created_says_locked_not_corrupt() {
    // Between `open(O_CREAT)` and its header, a log being created is empty
    // (or zeros) under its creator's exclusive lock: a reader must hear
    // "locked" (retry) rather than "corrupt".
    let (_d, p) = tmp();
    let creating = crate::map::MappedFile::options()
        .mode(crate::map::Mode::Create)
        .open_shared_exclusive(&p)
        .unwrap();
    let e = LogReader::open(&p).unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e}");
    drop(creating);
    let e = LogReader::open(&p).unwrap_err();
    assert!(matches!(e, crate::Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn opening_a_log_just_created_but_not_yet_locked_says_locked_not_corrupt() {
    // A follower that opens a log as soon as its file appears can come
    // between the creator's `open(O_CREAT)` and its lock: the file is
    // empty and nobody holds a lock yet. It must hear "locked" (retry),
    // not "corrupt: the file is empty" (6 times in 300 in a race test).
    let (_d, p) = tmp();
    std::fs::File::create(&p).unwrap();
    let creator = {
        let p = p.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let m = crate::map::MappedFile::options()
                .mode(crate::map::Mode::ReadWrite)
                .open_shared_exclusive(&p)
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(m);
        })
    };
    let e = LogReader::open(&p).unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e}");
    creator.join().unwrap();
}

#[test]
fn a_follower_says_why_it_stopped_and_what_it_stepped_over() {
    use crate::log::FollowEnd;
    use std::time::Duration;
    let (_d, p) = tmp();
    let log = small().background_allocation(false).create(&p).unwrap();
    log.append(&Entry::new().key(1), b"first").unwrap();
    let reader = LogReader::open(&p).unwrap();
    // A live writer and nothing new: an idle timeout, and it goes on.
    let mut f = reader.follow(FollowOptions::new().idle_timeout(Some(Duration::from_millis(20))));
    assert_eq!(f.next().unwrap().payload, b"first");
    assert_eq!(f.end(), None);
    assert!(f.next().is_none());
    assert_eq!(f.end(), Some(FollowEnd::IdleTimeout));
    log.append(&Entry::new().key(1), b"second").unwrap();
    assert_eq!(f.next().unwrap().payload, b"second");
    assert_eq!(f.end(), None);
    // A hole, then the writer dies without closing.
    std::mem::forget(log.reserve(&Entry::new().key(2), 8).unwrap());
    log.append(&Entry::new().key(1), b"third").unwrap();
    drop(log);
    let rest: Vec<_> = f.by_ref().map(|r| r.payload).collect();
    assert_eq!(rest, [b"third".to_vec()]);
    assert_eq!(f.end(), Some(FollowEnd::WriterGone));
    assert_eq!(f.gaps().len(), 1, "{:?}", f.gaps());
    assert_eq!(f.gaps()[0].why, "hole");
    drop(reader);
    // A clean close.
    let q = p.with_extension("closed");
    let log = small().create(&q).unwrap();
    log.append(&Entry::new().key(1), b"only").unwrap();
    log.close().unwrap();
    let reader = LogReader::open(&q).unwrap();
    let mut f = reader.follow(FollowOptions::new());
    assert_eq!(f.by_ref().count(), 1);
    assert_eq!(f.end(), Some(FollowEnd::Closed));
    assert!(f.gaps().is_empty());
    // From the end of a closed log: nothing to read, still a clean close.
    let mut f = reader.follow(FollowOptions::new().from_end(true));
    assert!(f.next().is_none());
    assert_eq!(f.end(), Some(FollowEnd::Closed));
    drop(reader);
    // Reopened by a writer that dies before appending: not a clean close,
    // although the last record in the file is an end record.
    let log = small().open(&q).unwrap();
    drop(log);
    let reader = LogReader::open(&q).unwrap();
    let mut f = reader.follow(FollowOptions::new());
    assert_eq!(f.by_ref().count(), 1);
    assert_eq!(f.end(), Some(FollowEnd::WriterGone));
}

/// A log closed while a reader is attached keeps its allocation; `trim`
/// gives it back once the reader is gone (refused while it is attached),
/// changing nothing else, and leaves other logs alone.
#[test]
fn trim_gives_back_what_a_log_closed_under_a_reader_kept() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    for i in 0..100u64 {
        log.append(&Entry::new().key(i % 7).time(i as f64), &payload(1, i))
            .unwrap();
    }
    let reader = LogReader::open(&p).unwrap();
    let end = log.close().unwrap();
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(size > end, "closed under a reader: {size} vs {end}");
    let e = trim(&p).unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e}");
    drop(reader);
    let header_before = std::fs::read(&p).unwrap()[..4096].to_vec();
    assert_eq!(trim(&p).unwrap(), Some(end));
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(bytes.len() as u64, end);
    assert_eq!(
        &bytes[..4096],
        &header_before[..],
        "the header is unchanged"
    );
    let r = LogReader::open(&p).unwrap();
    assert!(r.closed_cleanly());
    let scan = r.scan();
    assert!(scan.clean && scan.damaged.is_empty(), "{scan:?}");
    assert_eq!(scan.records, 100);
    drop(r);
    assert_eq!(trim(&p).unwrap(), None, "nothing left to trim");

    // A log not closed cleanly is recover's: trim leaves it as it is.
    let (_d2, q) = tmp();
    let log = small().create(&q).unwrap();
    log.append(&Entry::new().key(1), b"x").unwrap();
    drop(log);
    let before = std::fs::read(&q).unwrap();
    assert_eq!(trim(&q).unwrap(), None);
    assert_eq!(std::fs::read(&q).unwrap(), before);
}

/// A run restarted from a checkpoint resumes its log at the offset `sync`
/// returned then: what the first run wrote after it is discarded, the
/// chains continue from the records kept, the log's own index is removed;
/// an offset no record ends at is refused before anything changes.
#[test]
fn resume_at_a_synced_offset_discards_what_followed() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let step = |log: &Log, t: u64, tag: u8| {
        for k in 0..3u64 {
            log.append(&Entry::new().key(k).time(t as f64), &[tag; 8])
                .unwrap();
        }
    };
    step(&log, 0, 0);
    step(&log, 1, 1);
    let checkpoint = log.sync().unwrap();
    step(&log, 2, 2);
    let mid = log
        .append(&Entry::new().key(9).time(2.0), &[9; 40])
        .unwrap();
    step(&log, 3, 3);
    drop(log); // killed after its checkpoint
    let idx = Index::path_for(&p, None);
    LogSet::open(&p, &SetOptions::new())
        .unwrap()
        .build_indexes(None)
        .unwrap();
    assert!(idx.exists());

    // Refused, and nothing changed: inside a record, unaligned, past the end.
    let before = std::fs::read(&p).unwrap();
    let size = before.len() as u64;
    for bad in [mid + 8, checkpoint + 4, size + 8, 8] {
        let e = small().resume_at(bad).open(&p).unwrap_err();
        assert!(matches!(e, crate::Error::InvalidArgument(_)), "{bad}: {e}");
        assert!(e.to_string().contains("cannot resume"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), before, "{bad} changed the log");
    }

    let log = small().resume_at(checkpoint).open(&p).unwrap();
    assert!(!idx.exists(), "the index of discarded records is gone");
    step(&log, 2, 20);
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    let recs: Vec<Record> = r.records().collect();
    assert_eq!(recs.len(), 9);
    assert!(recs.iter().all(|x| x.key != Some(9)));
    for k in 0..3u64 {
        let h = r.history(k).unwrap();
        let tags: Vec<u8> = h.iter().map(|x| x.payload[0]).collect();
        assert_eq!(tags, [0, 1, 20], "key {k}");
        // The chain links the resumed record to the kept one.
        assert_eq!(h[2].prev_offset(), Some(h[1].offset));
    }
}

/// `open_wait` waits for a log to be created (NotFound, then Locked while
/// its creator writes the header) and opens it; it gives up with the last
/// error after its timeout, and returns other errors at once.
#[test]
fn open_wait_waits_for_the_log_to_be_created() {
    use std::time::{Duration, Instant};
    let (_d, p) = tmp();
    let e = LogReader::open_wait(&p, Duration::from_millis(30)).unwrap_err();
    assert!(
        matches!(&e, crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{e}"
    );
    let q = p.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        // The creator holds the file, header not yet written, a while.
        let m = crate::map::MappedFile::options()
            .mode(crate::map::Mode::Create)
            .open_shared_exclusive(&q)
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Freshly touched: a reader that comes between this handle's
        // going and the creator's lock sees a young empty file and waits.
        std::fs::File::options()
            .write(true)
            .open(&q)
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        drop(m);
        let log = small().create(&q).unwrap();
        log.append(&Entry::new().key(3), b"abc").unwrap();
        log.close().unwrap();
    });
    let r = LogReader::open_wait(&p, Duration::from_secs(20)).unwrap();
    writer.join().unwrap();
    assert!(r.records().count() <= 1);
    drop(r);
    assert_eq!(LogReader::open(&p).unwrap().records().count(), 1);
    // Not a log: at once, however long the timeout.
    std::fs::write(&p, vec![7u8; 8192]).unwrap();
    let t = Instant::now();
    let e = LogReader::open_wait(&p, Duration::from_secs(20)).unwrap_err();
    assert!(matches!(e, crate::Error::Corrupt { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// `Records::gaps` lists what a read stepped over, and the reader
/// remembers damage (not holes) for queries to report.
#[test]
fn records_report_the_damage_they_step_over() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let mut offs = Vec::new();
    for i in 0..10u64 {
        offs.push(log.append(&Entry::new().key(i), &[i as u8; 24]).unwrap());
    }
    log.close().unwrap();
    let r = LogReader::open(&p).unwrap();
    let mut it = r.records();
    assert_eq!(it.by_ref().count(), 10);
    assert!(it.gaps().is_empty() && !r.damage_seen());
    drop(r);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[offs[4] as usize + 30] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    let r = LogReader::open(&p).unwrap();
    let mut it = r.records();
    assert_eq!(it.by_ref().count(), 9);
    assert_eq!(it.gaps().len(), 1);
    assert!(!it.gaps()[0].is_hole());
    assert_eq!(it.gaps()[0].from, offs[4]);
    assert!(r.damage_seen());
}

/// The header's `tail` is a hint outside the checksum (FORMAT.md 1.1):
/// a stale or crafted one that points at an earlier session's end record
/// must never make `trim` cut off the records after it.
#[test]
fn trim_never_cuts_records_off_at_a_stale_tail() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    log.append(&Entry::new().key(1).time(0.0), b"first session")
        .unwrap();
    let first_end = log.close().unwrap();
    let log = small().open(&p).unwrap();
    for i in 0..10u64 {
        log.append(&Entry::new().key(2).time(i as f64), b"second session")
            .unwrap();
    }
    let reader = LogReader::open(&p).unwrap();
    log.close().unwrap();
    drop(reader);
    // The tail word (bytes 256..264) says the log ends at the first
    // session's end record, as a stale (or hostile) header would.
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&first_end.to_le_bytes(), 256).unwrap();
    drop(f);
    let _ = trim(&p).unwrap();
    let r = LogReader::open(&p).unwrap();
    assert_eq!(r.records().count(), 11, "trim cut records off");
}

/// "Wait as long as it takes" is a natural timeout to pass: it must not
/// panic (an `Instant` overflow).
#[test]
fn open_wait_takes_a_timeout_of_any_length() {
    let (_d, p) = tmp();
    small().create(&p).unwrap().close().unwrap();
    LogReader::open_wait(&p, std::time::Duration::MAX).unwrap();
}

/// A sync point names its log: resuming another log from it (two ranks'
/// points swapped) is refused and changes nothing; its own log resumes.
#[test]
fn resume_from_a_sync_point_of_another_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("run_0000.log"),
        dir.path().join("run_0001.log"),
    );
    let mut points = Vec::new();
    for p in [&a, &b] {
        let log = small().create(p).unwrap();
        for i in 0..5u64 {
            log.append(&Entry::new().key(i).time(0.0), &[1; 16])
                .unwrap();
        }
        points.push(log.sync_point().unwrap());
        for i in 0..5u64 {
            log.append(&Entry::new().key(i).time(1.0), &[2; 16])
                .unwrap();
        }
        drop(log);
        // Distinct creation times, as two ranks' logs have.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_ne!(points[0].log_created_ns, points[1].log_created_ns);
    let before = std::fs::read(&b).unwrap();
    let e = small().resume_from(points[0]).open(&b).unwrap_err();
    assert!(matches!(e, crate::Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("another log"), "{e}");
    assert_eq!(std::fs::read(&b).unwrap(), before);
    for (p, point) in [(&a, points[0]), (&b, points[1])] {
        small().resume_from(point).open(p).unwrap().close().unwrap();
        assert_eq!(LogReader::open(p).unwrap().records().count(), 5);
    }
}

/// A follower left running (`mapio tail -f`) does not keep a restarted
/// run out: the new writer recovers beside it (padding the hole, zeroing
/// in place what followed the last good record, never truncating under
/// the follower's map), and the follower goes on with the new session,
/// going back over the bytes it had stepped past.
#[test]
fn a_writer_reopens_a_crashed_log_beside_a_follower() {
    use std::os::unix::fs::FileExt;
    let (_d, p) = tmp();
    let log = small().background_allocation(false).create(&p).unwrap();
    log.append(&Entry::new().key(1), b"first").unwrap();
    std::mem::forget(log.reserve(&Entry::new().key(2), 8).unwrap());
    let good_end = log.append(&Entry::new().key(1), b"second").unwrap() + 40;
    drop(log); // a crash: no end record
    // A torn record after the last good one: a header word, a bad body.
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    let torn = format::Word0 {
        len: 64,
        kind: format::Kind::Data,
        has_key: false,
        has_prev: false,
        has_time: false,
        flags: Flags::default(),
    }
    .pack();
    f.write_all_at(&torn.to_le_bytes(), good_end).unwrap();
    f.write_all_at(&[0xa5; 40], good_end + 8).unwrap();
    drop(f);
    let size = std::fs::metadata(&p).unwrap().len();

    let reader = LogReader::open(&p).unwrap();
    let opts = FollowOptions::new()
        .stop_at_end(false)
        .idle_timeout(Some(std::time::Duration::from_millis(30)));
    let mut f = reader.follow(opts);
    let got: Vec<_> = f.by_ref().map(|r| r.payload).collect();
    assert_eq!(got, [b"first".to_vec(), b"second".to_vec()]);
    assert_eq!(
        f.gaps().len(),
        2,
        "the hole and the torn record: {:?}",
        f.gaps()
    );
    assert!(f.position() > good_end, "stepped over the torn record");

    // Refused with `Locked` before: the follower held the file.
    let log = small().background_allocation(false).open(&p).unwrap();
    assert_eq!(log.tail(), good_end);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), size, "not truncated");
    log.append(&Entry::new().key(1), b"third").unwrap();
    assert_eq!(f.next().unwrap().payload, b"third");
    assert_eq!(f.gaps().len(), 1, "the torn record's gap is forgotten");
    assert_eq!(f.gaps()[0].why, "hole");
    let end = log.close().unwrap();
    assert!(f.next().is_none());
    drop(f);

    // The file as another reader finds it: one hole padded, three records,
    // a clean end, zeros after it.
    let again = LogReader::open(&p).unwrap();
    let all: Vec<_> = again.records().map(|r| r.payload).collect();
    assert_eq!(
        all,
        [b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
    );
    assert!(again.closed_cleanly());
    assert_eq!(again.sessions(), 2);
    let bytes = std::fs::read(&p).unwrap();
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));
    drop((again, reader));
    assert_eq!(trim(&p).unwrap(), Some(end));
}

/// A run resumed from a checkpoint beside a follower: the follower had
/// returned records past the resume point; it goes back there and reads
/// the new session's records once each.
#[test]
fn a_follower_goes_back_to_where_a_resumed_run_starts() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let mut points = Vec::new();
    for step in 0..5u64 {
        log.append(&Entry::new().key(7).time(step as f64), &step.to_le_bytes())
            .unwrap();
        points.push(log.sync_point().unwrap());
    }
    drop(log);
    let reader = LogReader::open(&p).unwrap();
    let opts = FollowOptions::new()
        .stop_at_end(false)
        .idle_timeout(Some(std::time::Duration::from_millis(30)));
    let mut f = reader.follow(opts);
    assert_eq!(f.by_ref().count(), 5);
    // Restart from the checkpoint after step 1: steps 2.. again.
    let log = small().resume_from(points[1]).open(&p).unwrap();
    for step in 2..4u64 {
        log.append(
            &Entry::new().key(7).time(step as f64),
            &(100 + step).to_le_bytes(),
        )
        .unwrap();
    }
    let again: Vec<_> = f
        .by_ref()
        .map(|r| u64::from_le_bytes(r.payload[..8].try_into().unwrap()))
        .collect();
    assert_eq!(again, [102, 103]);
    assert!(f.gaps().is_empty(), "{:?}", f.gaps());
    log.close().unwrap();
    let all: Vec<_> = reader
        .records()
        .map(|r| u64::from_le_bytes(r.payload[..8].try_into().unwrap()))
        .collect();
    assert_eq!(all, [0, 1, 102, 103]);
}

/// Two writers still exclude each other when readers are attached; with
/// `wait`, the second one gets in once the first has closed.
#[test]
fn beside_readers_a_second_writer_is_refused_or_waits() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let _reader = LogReader::open(&p).unwrap();
    let e = small().open(&p).unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e}");
    let t = std::time::Instant::now();
    let e = small()
        .wait(std::time::Duration::from_millis(100))
        .open(&p)
        .unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e}");
    assert!(t.elapsed() >= std::time::Duration::from_millis(100));
    std::thread::scope(|s| {
        let second = s.spawn(|| small().wait(std::time::Duration::from_secs(20)).open(&p));
        std::thread::sleep(std::time::Duration::from_millis(50));
        log.append(&Entry::new(), b"by the first").unwrap();
        log.close().unwrap();
        let second = second.join().unwrap().unwrap();
        second.append(&Entry::new(), b"by the second").unwrap();
        second.close().unwrap();
    });
    let all: Vec<_> = LogReader::open(&p)
        .unwrap()
        .records()
        .map(|r| r.payload)
        .collect();
    assert_eq!(all, [b"by the first".to_vec(), b"by the second".to_vec()]);
}

/// A read that began with no writer attached, while a writer reopens the
/// log beside it and leaves a record pending: it stops there (as a read
/// of a live log stops at its first pending record) instead of taking it
/// for a crash hole, stepping over it and returning what follows.
#[test]
fn a_read_begun_before_a_reopen_stops_at_a_pending_record() {
    let (_d, p) = tmp();
    let log = small().background_allocation(false).create(&p).unwrap();
    log.append(&Entry::new().key(1), b"first").unwrap();
    let reader = LogReader::open(&p).unwrap();
    log.close().unwrap(); // not truncated: the reader is attached
    let mut it = reader.records();
    assert_eq!(it.next().unwrap().payload, b"first");
    let w = small().background_allocation(false).open(&p).unwrap();
    let mut a = w.reserve(&Entry::new().key(2), 8).unwrap();
    a.put(0, &2u64.to_le_bytes()).unwrap();
    w.append(&Entry::new().key(3), b"third").unwrap();
    let rest: Vec<_> = it.by_ref().map(|r| r.key).collect();
    assert!(
        rest.is_empty() && it.gaps().is_empty(),
        "{rest:?} {:?}",
        it.gaps()
    );
    assert!(!reader.damage_seen());
    a.commit().unwrap();
    w.close().unwrap();
    let post: Vec<_> = reader.records().map(|r| r.key).collect();
    assert_eq!(post, [Some(1), Some(2), Some(3)]);
}

/// An index build that began with no writer attached, while a writer
/// reopens the log (hook: the progress callback) and leaves a record
/// pending: the build stops there (it used to step over it as a crash
/// hole and cover past it, so that extending never picked it up).
#[test]
fn an_index_built_while_a_writer_reopens_the_log_misses_nothing() {
    let (_d, p) = tmp();
    let log = small().background_allocation(false).create(&p).unwrap();
    for i in 0..65536u64 {
        log.append(&Entry::new().key(i % 8), &i.to_le_bytes())
            .unwrap();
    }
    let reader = LogReader::open(&p).unwrap();
    log.close().unwrap();
    let mut leaked: Option<&'static Log> = None;
    let mut res: Option<Reservation<'static>> = None;
    let mut progress = |_: u64, _: u64| {
        if leaked.is_some() {
            return;
        }
        let w: &'static Log = Box::leak(Box::new(
            small().background_allocation(false).open(&p).unwrap(),
        ));
        let mut r = w.reserve(&Entry::new().key(100), 8).unwrap();
        r.put(0, &100u64.to_le_bytes()).unwrap();
        w.append(&Entry::new().key(101), b"later").unwrap();
        leaked = Some(w);
        res = Some(r);
    };
    let idx = Index::build(&reader, Some(&mut progress)).unwrap();
    res.take().expect("hook ran").commit().unwrap();
    let w = leaked.unwrap();
    w.append(&Entry::new().key(102), b"after").unwrap();
    let idx = idx.extend(&reader, None).unwrap();
    assert_eq!(idx.offsets(101).len(), 1);
    assert_eq!(idx.offsets(102).len(), 1);
    assert_eq!(
        LogReader::open(&p)
            .unwrap()
            .records()
            .filter(|r| r.key == Some(100))
            .count(),
        1,
        "the record is in the log"
    );
    assert_eq!(
        idx.offsets(100).len(),
        1,
        "the pending record is indexed once committed"
    );
}

/// What a writer killed while it clears a resume beside a reader leaves,
/// at every instant of `clear_range` (replayed store by store on a
/// memory that stops after n stores): the records before the point where
/// it stopped, then at most a hole, then zeros. Nothing reads as damage,
/// no record is cut short, and the records not yet cleared are intact
/// (the restarted run resumes again).
#[test]
fn a_writer_killed_while_it_clears_a_resume_leaves_a_log() {
    use super::core::Memory;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    /// A memory whose stores stop after `budget` of them (the kill).
    struct Killed<'a> {
        words: &'a [AtomicU64],
        budget: AtomicUsize,
    }
    impl Memory for Killed<'_> {
        fn load(&self, i: usize, order: Ordering) -> u64 {
            self.words.load(i, order)
        }
        fn store(&self, i: usize, value: u64, order: Ordering) {
            let left = self.budget.load(Ordering::Relaxed);
            if left > 0 {
                self.budget.store(left - 1, Ordering::Relaxed);
                self.words.store(i, value, order);
            }
        }
        fn fetch_add(&self, i: usize, value: u64, order: Ordering) -> u64 {
            self.words.fetch_add(i, value, order)
        }
    }
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let mut points = Vec::new();
    for step in 0..5u64 {
        log.append(&Entry::new().key(7), &step.to_le_bytes())
            .unwrap();
        points.push(log.sync_point().unwrap());
    }
    let end = log.close().unwrap();
    let from = points[1].offset;
    let pristine = std::fs::read(&p).unwrap();
    let stores = ((end - from) / 8) as usize;
    for n in 0..=stores {
        std::fs::write(&p, &pristine).unwrap();
        {
            let m = crate::map::MappedFile::options()
                .mode(crate::map::Mode::ReadWrite)
                .open_shared(&p)
                .unwrap();
            let words = m.atomics::<AtomicU64>().unwrap();
            // What the writer stores in the header first (`open_with`).
            words[format::OFF_SYNCED / 8].store(from, Ordering::Relaxed);
            words[format::OFF_TAIL / 8].store(from, Ordering::Relaxed);
            words[format::OFF_STATE / 8].store(format::STATE_OPEN, Ordering::Relaxed);
            let mem = Killed {
                words,
                budget: AtomicUsize::new(n),
            };
            core::clear_range(&mem, from, end);
        }
        let report = verify(&p).unwrap();
        assert!(
            report.damaged.is_empty(),
            "after {n} stores: {:?}",
            report.damaged
        );
        let kept: Vec<_> = LogReader::open(&p)
            .unwrap()
            .records()
            .map(|r| u64::from_le_bytes(r.payload[..8].try_into().unwrap()))
            .collect();
        assert!(
            kept.len() >= 2 && kept.iter().copied().eq(0..kept.len() as u64),
            "after {n} stores: {kept:?}"
        );
        if n == stores {
            assert_eq!(kept, [0, 1]);
        }
        // The restarted run resumes again.
        let w = small().resume_from(points[1]).open(&p).unwrap();
        w.close().unwrap();
        assert_eq!(LogReader::open(&p).unwrap().records().count(), 2);
    }
}

proptest::proptest! {
    /// The distinct-key count of a scan, whatever the keys: dense, huge,
    /// in any order, repeated.
    #[test]
    fn key_count_counts_distinct_keys(
        keys in proptest::collection::vec(
            proptest::prop_oneof![0u64..5000, 0u64..(1 << 24), proptest::num::u64::ANY],
            0..3000,
        )
    ) {
        let mut c = super::reader::KeyCount::default();
        for &k in &keys {
            c.insert(k);
        }
        let distinct: std::collections::HashSet<u64> = keys.iter().copied().collect();
        proptest::prop_assert_eq!(c.len(), distinct.len() as u64);
        // Bounded: at most a word per key seen, plus the start.
        proptest::prop_assert!(c.words() <= distinct.len() + (1 << 16) + 1);
    }
}

/// Keys spaced by a power of two (ids such as `n << 32`) cost the writer's
/// chain table linear time: its hash is a multiply, whose low bits (the
/// bucket) would all be zero for such keys; `finish` takes the high ones.
#[test]
fn spaced_keys_chain_in_linear_time() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let t = std::time::Instant::now();
    // 600 000 keys: about 3 s unoptimised; in one bucket, minutes.
    for j in 1..=600_000u64 {
        log.append(&Entry::new().key(j << 32), b"x").unwrap();
    }
    log.append(&Entry::new().key(7 << 32), b"y").unwrap();
    let took = t.elapsed();
    log.close().unwrap();
    assert!(took < std::time::Duration::from_secs(40), "{took:?}");
    let last = LogReader::open(&p).unwrap().records().last().unwrap();
    assert_eq!(last.payload, b"y");
    assert!(
        last.prev_offset().is_some(),
        "linked to key 7 << 32's first record"
    );
}

/// `FollowOptions::start_at` starts at a record boundary (`tail -f -n`),
/// and overrides `from_end`.
#[test]
fn a_follower_starts_where_it_is_told() {
    let (_d, p) = tmp();
    let log = small().create(&p).unwrap();
    let offsets: Vec<u64> = (0..5u64)
        .map(|i| log.append(&Entry::new().key(i), &i.to_le_bytes()).unwrap())
        .collect();
    log.close().unwrap();
    let reader = LogReader::open(&p).unwrap();
    let keys =
        |o: FollowOptions| -> Vec<u64> { reader.follow(o).map(|r| r.key.unwrap()).collect() };
    assert_eq!(keys(FollowOptions::new().start_at(offsets[3])), [3, 4]);
    assert_eq!(
        keys(FollowOptions::new().start_at(offsets[3]).from_end(true)),
        [3, 4]
    );
    assert_eq!(keys(FollowOptions::new().start_at(0)), [0, 1, 2, 3, 4]);
    assert_eq!(keys(FollowOptions::new().from_end(true)), Vec::<u64>::new());
}
