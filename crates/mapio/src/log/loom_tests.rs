//! Loom model of the log's commit protocol (`core.rs`): the very functions
//! the writer and reader run on a mapped file (`reserve`, `write_record`,
//! `write_padding`, `put_bytes` + `commit_reserved`, `read_slot`, `resync`,
//! and the live reader's `reader::step`), run here over a small memory of
//! loom atomics, under every interleaving (up to the preemption bound) and
//! every value the C11 memory model lets a relaxed load return.
//!
//! Run with `scripts/loom` (`RUSTFLAGS="--cfg loom"`, `LOOM_MAX_PREEMPTIONS`).
//!
//! The model memory stands for the mapped file: the header's `tail` word,
//! then the record area from `HEADER_LEN` on. The "file size" is a plain
//! (non-loom) counter that growth raises before it publishes `allocated`:
//! the kernel's view, globally visible at once. Any access by a writer or a
//! reader to a word at or past it panics: the analogue of `SIGBUS`.
//!
//! Two deliberately broken variants show that the checks can fail: a commit
//! whose `word0` store is `Relaxed` (loom finds a reader that sees a torn
//! record), and a writer that stores without waiting for its allocation
//! (the `SIGBUS` check fires).

use std::sync::atomic::Ordering;

use loom::sync::atomic::AtomicU64;
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::core::{self, Found, Memory, Meta, Slot, Space, TAIL_WORD};
use super::format::{FIXED_LEN, Flags, HEADER_LEN, Kind, Word0};
use super::reader::{self, Step};

/// Word index of the first record.
const BASE: usize = (HEADER_LEN / 8) as usize;
/// Words of record area in the model (records are a few words each).
const WORDS: usize = 24;

/// The mapped file, in miniature.
struct Model {
    /// The header's `tail` word.
    tail: AtomicU64,
    /// The record area: word `k` is byte `HEADER_LEN + 8 k` of the file.
    words: Vec<AtomicU64>,
    /// `Inner::allocated`: what writers and readers consult.
    allocated: AtomicU64,
    /// The file's size as the kernel sees it (not a loom object: the
    /// kernel is sequentially consistent, and this adds no interleavings).
    file_len: std::sync::atomic::AtomicU64,
    /// `Inner::grow`.
    grow: Mutex<()>,
    /// Allocation step.
    step: u64,
}

impl Model {
    /// A model whose first `allocated` bytes exist, growing by `step`.
    fn new(allocated: u64, step: u64) -> Arc<Model> {
        assert!(allocated >= HEADER_LEN && step % 8 == 0 && step > 0);
        Arc::new(Model {
            tail: AtomicU64::new(HEADER_LEN),
            words: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
            allocated: AtomicU64::new(allocated),
            file_len: std::sync::atomic::AtomicU64::new(allocated),
            grow: Mutex::new(()),
            step,
        })
    }

    /// The word `i`, after checking that it exists in the file.
    fn word(&self, i: usize, what: &str) -> &AtomicU64 {
        if i == TAIL_WORD {
            return &self.tail;
        }
        assert!(
            i >= BASE,
            "{what} of header word {i}: the protocol touches only `tail` in the header"
        );
        let end = 8 * (i as u64 + 1);
        let file_len = self.file_len.load(Ordering::SeqCst);
        assert!(
            end <= file_len,
            "SIGBUS: {what} of bytes {}..{end}, past the end of the file ({file_len})",
            end - 8
        );
        self.words
            .get(i - BASE)
            .unwrap_or_else(|| panic!("the model memory is too small for word {i}"))
    }
}

impl Memory for Model {
    fn load(&self, i: usize, order: Ordering) -> u64 {
        self.word(i, "load").load(order)
    }
    fn store(&self, i: usize, value: u64, order: Ordering) {
        self.word(i, "store").store(value, order)
    }
    fn fetch_add(&self, i: usize, value: u64, order: Ordering) -> u64 {
        self.word(i, "fetch_add").fetch_add(value, order)
    }
}

impl Space for Model {
    type Error = std::convert::Infallible;

    fn allocated(&self) -> u64 {
        self.allocated.load(Ordering::Acquire)
    }

    /// Like `Inner::allocate_to`, but one step at a time, publishing each
    /// step: other writers may find their space allocated half-way through.
    fn grow_to(&self, end: u64) -> Result<(), Self::Error> {
        let _g = self.grow.lock().unwrap();
        let mut have = self.allocated.load(Ordering::Acquire);
        while have < end {
            have += self.step;
            // fallocate, then publish.
            self.file_len.fetch_max(have, Ordering::SeqCst);
            self.allocated.store(have, Ordering::Release);
        }
        Ok(())
    }
}

/// What one writer does, and what it leaves.
#[derive(Clone, Debug)]
struct Plan {
    meta: Meta,
    payload: Vec<u8>,
    how: How,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum How {
    /// `reserve` + `write_record` (what `Log::append` does).
    Append,
    /// `reserve` + `put_bytes` in pieces + `commit_reserved`
    /// (`Log::reserve` + `Reservation::put` + `commit`).
    PutCommit,
    /// `reserve` + `write_padding` (a dropped `Reservation`).
    Abandon,
    /// `reserve` + the broken commit below.
    RelaxedCommit,
    /// `fetch_add` without waiting for the allocation, then `write_record`.
    NoGrowWait,
}

impl Plan {
    fn new(meta: Meta, payload: &[u8], how: How) -> Plan {
        Plan {
            meta,
            payload: payload.to_vec(),
            how,
        }
    }

    fn len(&self) -> u64 {
        self.meta.record_len(self.payload.len()).unwrap()
    }

    /// Runs the plan; returns the record's offset.
    fn run(&self, m: &Model) -> u64 {
        let len = self.len();
        if self.how == How::NoGrowWait {
            let off = m.fetch_add(TAIL_WORD, len, Ordering::Relaxed);
            core::write_record(m, off, len, &self.meta, &self.payload);
            return off;
        }
        let off = match core::reserve(m, m, len) {
            Ok(off) => off,
            Err(never) => match never {},
        };
        match self.how {
            How::Append => core::write_record(m, off, len, &self.meta, &self.payload),
            How::PutCommit => {
                let start = off + FIXED_LEN + 8 * optional_count(&self.meta);
                // Unaligned pieces, out of order.
                let cut = self.payload.len().min(3);
                core::put_bytes(m, start, cut as u64, &self.payload[cut..]);
                core::put_bytes(m, start, 0, &self.payload[..cut]);
                core::commit_reserved(m, off, len, &self.meta, self.payload.len() as u32);
            }
            How::Abandon => core::write_padding(m, off, len),
            How::RelaxedCommit => write_record_relaxed(m, off, len, &self.meta, &self.payload),
            How::NoGrowWait => unreachable!(),
        }
        off
    }

    /// The record a reader must see at its offset, once committed.
    fn expected(&self, off: u64) -> Seen {
        if self.how == How::Abandon {
            Seen {
                off,
                len: self.len(),
                kind: Kind::Padding,
                meta: Meta::default(),
                payload: Vec::new(),
            }
        } else {
            Seen {
                off,
                len: self.len(),
                kind: Kind::Data,
                meta: self.meta,
                payload: self.payload.clone(),
            }
        }
    }
}

fn optional_count(meta: &Meta) -> u64 {
    meta.key.is_some() as u64 + meta.prev.is_some() as u64 + meta.time.is_some() as u64
}

/// `core::write_record` with the commit (`word0` store) `Relaxed` instead
/// of `Release`: wrong, and loom must say so.
fn write_record_relaxed(m: &Model, off: u64, len: u64, meta: &Meta, payload: &[u8]) {
    let word0 = Word0 {
        len: len as u32,
        kind: Kind::Data,
        has_key: meta.key.is_some(),
        has_prev: meta.prev.is_some(),
        has_time: meta.time.is_some(),
        flags: meta.flags,
    }
    .pack();
    let payload_len = payload.len() as u32;
    let mut crc = crc32c::crc32c(&payload_len.to_le_bytes());
    let mut at = off + FIXED_LEN;
    for w in [meta.key, meta.prev, meta.time.map(f64::to_bits)]
        .into_iter()
        .flatten()
    {
        m.store((at / 8) as usize, w, Ordering::Relaxed);
        crc = crc32c::crc32c_append(crc, &w.to_le_bytes());
        at += 8;
    }
    for (k, c) in payload.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        m.store(
            (at / 8) as usize + k,
            u64::from_le_bytes(w),
            Ordering::Relaxed,
        );
    }
    crc = crc32c::crc32c_append(crc, payload);
    crc = crc32c::crc32c_append(crc, &word0.to_le_bytes());
    let i = (off / 8) as usize;
    m.store(
        i + 1,
        crc as u64 | ((payload_len as u64) << 32),
        Ordering::Relaxed,
    );
    m.store(i, word0, Ordering::Relaxed); // the bug
}

/// A record (or padding) as a reader saw it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    off: u64,
    len: u64,
    kind: Kind,
    meta: Meta,
    payload: Vec<u8>,
}

/// How the reader thread reads.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// `read_slot`, and `resync` past a record still being written.
    Resync,
    /// `reader::step` with `live` set: what `LogReader::follow` and
    /// `records()` do while a writer is attached.
    Live,
}

/// The record at `pos` as read, checked against what the writers write.
fn seen(pos: u64, f: &Found, payload: &[u8], plans: &[Plan]) -> Seen {
    let s = Seen {
        off: pos,
        len: f.word0.len as u64,
        kind: f.word0.kind,
        meta: f.meta,
        payload: payload.to_vec(),
    };
    let known = plans.iter().any(|p| {
        let e = p.expected(pos);
        e.kind == s.kind && e.len == s.len && e.meta == s.meta && e.payload == s.payload
    });
    assert!(known, "reader saw a torn record: {s:?}");
    s
}

/// A reader's pass over what is committed, from the header end up to
/// `min(tail, allocated)`: never an invalid record, and every record
/// exactly one a writer wrote.
fn scan(m: &Model, plans: &[Plan], how: Reader) -> Vec<Seen> {
    match how {
        Reader::Resync => scan_resync(m, plans),
        Reader::Live => scan_live(m, plans),
    }
}

/// [`Reader::Live`]: stops where a record is still pending, as a live
/// reader does (it would wait there).
fn scan_live(m: &Model, plans: &[Plan]) -> Vec<Seen> {
    let tail = m.load(TAIL_WORD, Ordering::Acquire);
    let limit = tail.min(m.allocated());
    let mut pos = HEADER_LEN;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader::step(m, pos, limit, true, &mut buf, &mut u64::MAX.clone()) {
            Step::Record(off, f) => {
                let s = seen(off, &f, &buf, plans);
                pos = off + s.len;
                out.push(s);
            }
            Step::Other(off, kind, len) => {
                let f = Found {
                    word0: Word0::unpack(m.load(off as usize / 8, Ordering::Acquire)).unwrap(),
                    meta: Meta::default(),
                    payload_len: 0,
                };
                assert_eq!(kind, f.word0.kind);
                let s = seen(off, &f, &[], plans);
                pos = off + len;
                out.push(s);
            }
            Step::Gap(d) => panic!("reader saw a gap in a live log: {d:?}"),
            Step::Pending | Step::Eof => break,
        }
    }
    out
}

/// [`Reader::Resync`]: at a zero `word0` (a record still being written)
/// it resyncs to the next committed record.
fn scan_resync(m: &Model, plans: &[Plan]) -> Vec<Seen> {
    let tail = m.load(TAIL_WORD, Ordering::Acquire);
    let limit = tail.min(m.allocated());
    let mut pos = HEADER_LEN;
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    while pos + FIXED_LEN <= limit {
        match core::read_slot(m, pos, limit, &mut buf) {
            Slot::Record(f) => {
                let s = seen(pos, &f, &buf, plans);
                pos += s.len;
                out.push(s);
            }
            Slot::Empty => match core::resync(m, pos, limit, &mut scratch, &mut u64::MAX.clone()) {
                Some(q) => pos = q,
                None => break,
            },
            Slot::Invalid(why) => {
                // A committed record that runs past a stale `allocated`:
                // the real reader waits (`reader::is_past_limit`).
                let w = m.load(pos as usize / 8, Ordering::Acquire);
                if Word0::unpack(w).is_some_and(|w0| pos + w0.len as u64 > limit) {
                    break;
                }
                panic!("reader saw an invalid record at {pos}: {why}");
            }
        }
    }
    out
}

/// Runs `plans` on one writer thread each, with a reader thread scanning
/// concurrently; then checks what the reader saw against what the writers
/// left, and a final scan (everything joined) against all of it.
fn run(allocated: u64, step: u64, plans: Vec<Plan>) {
    run_with(Reader::Resync, allocated, step, plans)
}

fn run_with(how: Reader, allocated: u64, step: u64, plans: Vec<Plan>) {
    let m = Model::new(allocated, step);
    let plans = std::sync::Arc::new(plans);
    let writers: Vec<_> = (0..plans.len())
        .map(|k| {
            let (m, plans) = (m.clone(), plans.clone());
            thread::spawn(move || plans[k].run(&m))
        })
        .collect();
    let reader = {
        let (m, plans) = (m.clone(), plans.clone());
        thread::spawn(move || scan(&m, &plans, how))
    };
    let offs: Vec<u64> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let seen = reader.join().unwrap();
    let mut expected: Vec<Seen> = plans
        .iter()
        .zip(&offs)
        .map(|(p, &off)| p.expected(off))
        .collect();
    expected.sort_by_key(|s| s.off);
    for s in &seen {
        assert!(
            expected.contains(s),
            "reader saw {s:?}, which no writer wrote there ({expected:?})"
        );
    }
    // Reservations are disjoint and contiguous.
    let mut at = HEADER_LEN;
    for e in &expected {
        assert_eq!(e.off, at, "reservations overlap or leave gaps");
        at += e.len;
    }
    assert_eq!(m.load(TAIL_WORD, Ordering::Relaxed), at);
    // Everything joined: a scan sees every record, in order.
    assert_eq!(scan(&m, &plans, how), expected);
}

/// `loom::model` with a default preemption bound of 2 (override with
/// `LOOM_MAX_PREEMPTIONS`), counting and printing the interleavings.
fn check(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    let bound = b.preemption_bound;
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    let start = std::time::Instant::now();
    b.check(move || {
        count.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom {name}: {} interleavings explored (preemption bound {bound:?}) in {:.1?}",
        n.load(Ordering::Relaxed),
        start.elapsed()
    );
}

/// Runs a model that must fail; returns why it failed, after printing
/// how many interleavings loom explored to find the failure.
fn check_fails(name: &str, f: impl Fn() + Sync + Send + 'static) -> String {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.check(move || {
            count.fetch_add(1, Ordering::Relaxed);
            f()
        })
    }));
    std::panic::set_hook(quiet);
    let Err(e) = r else {
        panic!("loom {name}: the broken protocol passed every interleaving")
    };
    let why = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    eprintln!(
        "loom {name}: caught as expected in interleaving {}: {why}",
        n.load(Ordering::Relaxed)
    );
    why
}

const ROOM: u64 = HEADER_LEN + 8 * WORDS as u64;

fn plain(payload: &[u8]) -> Plan {
    Plan::new(Meta::default(), payload, How::Append)
}

fn keyed(payload: &[u8], how: How) -> Plan {
    Plan::new(
        Meta {
            key: Some(7),
            prev: None,
            time: Some(0.5),
            flags: Flags::CREATE,
        },
        payload,
        how,
    )
}

#[test]
fn two_writers_and_a_live_reader() {
    check("two_writers_and_a_live_reader", || {
        run(
            ROOM,
            8,
            vec![plain(b"first writer...."), keyed(b"second!!!", How::Append)],
        )
    });
}

#[test]
fn growth_in_tiny_steps_both_writers_past_the_end() {
    // Nothing allocated yet: both reservations lie past the end, and the
    // allocation grows 16 bytes at a time.
    check("growth_in_tiny_steps_both_writers_past_the_end", || {
        run(
            HEADER_LEN,
            16,
            vec![plain(b"first writer...."), plain(b"second writer...")],
        )
    });
}

#[test]
fn growth_reservation_straddling_the_end() {
    // The first record straddles the allocated end.
    check("growth_reservation_straddling_the_end", || {
        run(
            HEADER_LEN + 16,
            8,
            vec![plain(b"0123456789abcdef"), plain(b"fedcba9876543210")],
        )
    });
}

#[test]
fn abandoned_reservation_next_to_a_committed_one() {
    check("abandoned_reservation_next_to_a_committed_one", || {
        run(
            ROOM,
            8,
            vec![
                Plan::new(Meta::default(), b"given back, never written", How::Abandon),
                keyed(b"committed", How::Append),
            ],
        );
    });
}

#[test]
fn abandoned_reservation_with_growth() {
    check("abandoned_reservation_with_growth", || {
        run(
            HEADER_LEN,
            16,
            vec![
                Plan::new(Meta::default(), b"given back......", How::Abandon),
                plain(b"committed......."),
            ],
        );
    });
}

#[test]
fn reserve_put_commit_next_to_an_append() {
    check("reserve_put_commit_next_to_an_append", || {
        run(
            ROOM,
            8,
            vec![
                keyed(b"in place, pieces", How::PutCommit),
                plain(b"appended"),
            ],
        );
    });
}

#[test]
fn live_step_reader_with_two_writers() {
    check("live_step_reader_with_two_writers", || {
        run_with(
            Reader::Live,
            ROOM,
            8,
            vec![
                Plan::new(Meta::default(), b"given back......", How::Abandon),
                keyed(b"second!!!", How::Append),
            ],
        )
    });
}

#[test]
fn live_step_reader_with_growth() {
    check("live_step_reader_with_growth", || {
        run_with(
            Reader::Live,
            HEADER_LEN + 16,
            16,
            vec![plain(b"0123456789abcdef"), plain(b"fedcba9876543210")],
        )
    });
}

#[test]
fn relaxed_commit_is_caught_by_the_live_reader() {
    let why = check_fails("relaxed_commit_is_caught_by_the_live_reader", || {
        run_with(
            Reader::Live,
            ROOM,
            8,
            vec![Plan::new(
                Meta::default(),
                b"relaxed commit..",
                How::RelaxedCommit,
            )],
        )
    });
    assert!(
        why.contains("reader saw"),
        "failed for another reason: {why}"
    );
}

#[test]
fn relaxed_commit_is_caught() {
    // One writer whose commit is Relaxed: loom finds a reader that sees
    // its word0 but not (all of) its body.
    let why = check_fails("relaxed_commit_is_caught", || {
        run(
            ROOM,
            8,
            vec![Plan::new(
                Meta::default(),
                b"relaxed commit..",
                How::RelaxedCommit,
            )],
        )
    });
    assert!(
        why.contains("reader saw"),
        "failed for another reason: {why}"
    );
}

#[test]
fn store_before_allocation_is_caught() {
    // A writer that stores without waiting for its allocation.
    let why = check_fails("store_before_allocation_is_caught", || {
        run(
            HEADER_LEN,
            16,
            vec![Plan::new(
                Meta::default(),
                b"no growth wait..",
                How::NoGrowWait,
            )],
        )
    });
    assert!(why.contains("SIGBUS"), "failed for another reason: {why}");
}
