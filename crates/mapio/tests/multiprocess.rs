//! Two real processes: locks between plain opens in NumPy's four modes,
//! copy-on-write isolation, sharing through atomics before any flush, the
//! `ExternalSync` opt-in, and sharers against plain users.
//!
//! The other process is this test binary run again for the single test
//! `child_process`, which plays the role named by `MAPIO_CHILD` (see
//! `common::child_command`). Parent and child synchronise through signal
//! files or the shared memory itself, with bounded polls.
#![allow(unsafe_code)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mapio::array::{Array, AtomicArray};
use mapio::map::{ExternalSync, MappedFile, Mode, OpenOptions, SharedMap};
use mapio::{Error, LockKind};

use common::{
    ChildGuard, WAIT, child_param, child_role, pattern, poll_until, report, serial, signal_file,
    spawn_child, wait_for_file,
};

const CHILD_TEST: &str = "child_process";

/// The other process's side of every test.
#[test]
fn child_process() {
    let Some(role) = child_role() else {
        return;
    };
    match role.as_str() {
        "hold" => child_hold(),
        "cow_read" => child_cow_read(),
        "atomic_array" => {
            let a = AtomicArray::<AtomicU64>::open_npy(child_param("MP_PATH")).expect("attach");
            child_atomics(a.as_slice().expect("atomics"));
        }
        "shared_map" => {
            let m = MappedFile::options()
                .mode(Mode::ReadWrite)
                .open_shared(child_param("MP_PATH"))
                .expect("attach shared");
            child_atomics(m.atomics::<AtomicU64>().expect("atomics"));
        }
        "external" => child_external(),
        other => panic!("unknown child role {other}"),
    }
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(child_param(name))
}

/// Opens `MP_PATH` as `MP_MODE` says, signals `MP_READY`, waits for
/// `MP_RELEASE`, then closes and exits.
fn child_hold() {
    let path = env_path("MP_PATH");
    let mode = child_param("MP_MODE");
    let len: usize = child_param("MP_LEN").parse().expect("MP_LEN");
    let seed: u64 = child_param("MP_SEED").parse().expect("MP_SEED");
    enum Held {
        Plain(MappedFile),
        Shared(SharedMap),
    }
    let held = match mode.as_str() {
        "shared" => Held::Shared(
            MappedFile::options()
                .mode(Mode::ReadWrite)
                .open_shared(&path)
                .expect("open_shared"),
        ),
        "w+" => {
            let mut f = MappedFile::create(&path, len as u64).expect("create");
            f.as_mut_slice()
                .expect("writable")
                .copy_from_slice(&pattern(seed, len));
            f.flush().expect("flush");
            Held::Plain(f)
        }
        m => Held::Plain(MappedFile::open(&path, m.parse().expect("mode")).expect("open")),
    };
    match &held {
        Held::Plain(f) => assert_eq!(&f[..], &pattern(seed, len)[..], "child sees the pattern"),
        Held::Shared(m) => assert_eq!(m.len(), len, "child's shared map"),
    }
    signal_file(&env_path("MP_READY"));
    wait_for_file(&env_path("MP_RELEASE"));
    drop(held);
    report("held", &mode);
}

/// Reads `MP_PATH` (mode `r`, next to the parent's `c` map) and checks it
/// holds the original pattern.
fn child_cow_read() {
    let path = env_path("MP_PATH");
    let len: usize = child_param("MP_LEN").parse().expect("MP_LEN");
    let want = pattern(child_param("MP_SEED").parse().expect("MP_SEED"), len);
    let f = MappedFile::open(&path, Mode::ReadOnly).expect("open r beside a c map");
    assert_eq!(f.len(), len);
    assert!(
        f[..] == want[..],
        "the child's map shows the parent's private writes"
    );
    assert!(
        std::fs::read(&path).expect("read") == want,
        "the file changed"
    );
    report("cow_read", "unchanged");
}

/// Slots of the atomics protocol between parent and child.
const CHILD_VALUES: usize = 8; // 0..8: stored by the child
const ACK: usize = 8; // the parent's answer
const COUNTER: usize = 9; // both fetch_add here
const GO: usize = 10; // the parent's start signal for the counter
const SET: usize = 11; // the child is spinning, waiting for GO
const PARENT_VALUES: usize = 12; // 12..16: stored by the parent
const SLOTS: usize = 16;
const MAGIC: u64 = 0x6D61_7069_6F00_0000;
const ACK_VALUE: u64 = 0xACC0_57ED;
const ADDS: u64 = 2_000_000;

fn child_atomics(a: &[AtomicU64]) {
    assert!(a.len() >= SLOTS, "only {} slots", a.len());
    for (i, slot) in a.iter().enumerate().take(CHILD_VALUES) {
        slot.store(MAGIC + i as u64, Ordering::Release);
    }
    assert!(
        spin_until(|| a[ACK].load(Ordering::Acquire) == ACK_VALUE),
        "the parent never acknowledged"
    );
    for (i, slot) in a[PARENT_VALUES..SLOTS].iter().enumerate() {
        assert_eq!(
            slot.load(Ordering::Acquire),
            !(MAGIC + i as u64),
            "parent's value {i}"
        );
    }
    // Both processes spin (no sleeping) for the start, so that they add
    // at the same time.
    a[SET].store(1, Ordering::Release);
    assert!(
        spin_until(|| a[GO].load(Ordering::Acquire) != 0),
        "no go signal"
    );
    let mut interleaved = 0u64;
    let mut last = None;
    for _ in 0..ADDS {
        let seen = a[COUNTER].fetch_add(1, Ordering::AcqRel);
        if last.is_some_and(|l| seen != l + 1) {
            interleaved += 1;
        }
        last = Some(seen);
    }
    report("interleaved", interleaved);
}

/// Busy-waits (bounded by [`WAIT`]) until `cond` holds.
fn spin_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while !cond() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

/// `ExternalSync`: reads the parent's pattern through its own map, writes
/// its own, all without locks or flushes, phases separated by files.
fn child_external() {
    let path = env_path("MP_PATH");
    let split: usize = child_param("MP_SPLIT").parse().expect("MP_SPLIT");
    let len: usize = child_param("MP_LEN").parse().expect("MP_LEN");
    wait_for_file(&env_path("MP_A_WRITTEN"));
    // SAFETY: the parent wrote bytes 0..split before creating MP_A_WRITTEN
    // and touches no byte until MP_B_WRITTEN exists; this process writes
    // only split..len before creating MP_B_WRITTEN, and nobody shrinks
    // the file.
    let token = unsafe { ExternalSync::assume() };
    let mut f = OpenOptions::new()
        .mode(Mode::ReadWrite)
        .external_sync(token)
        .open(&path)
        .expect("open with ExternalSync");
    assert_eq!(f.len(), len);
    assert!(
        f[..split] == pattern(1, split)[..],
        "the parent's bytes, unflushed"
    );
    f.as_mut_slice().expect("writable")[split..].copy_from_slice(&pattern(2, len - split));
    signal_file(&env_path("MP_B_WRITTEN"));
    wait_for_file(&env_path("MP_DONE"));
    drop(f);
    report("external", "ok");
}

// ---------------------------------------------------------------------------
// The parent's side.

struct Holder {
    child: ChildGuard,
    release: PathBuf,
}

/// Starts a child that holds `path` open as `mode` ("r", "r+", "w+", "c"
/// or "shared") and waits until it does.
fn hold(dir: &Path, path: &Path, mode: &str, len: usize, seed: u64) -> Holder {
    let ready = dir.join(format!("ready-{mode}"));
    let release = dir.join(format!("release-{mode}"));
    let _ = std::fs::remove_file(&ready);
    let _ = std::fs::remove_file(&release);
    let mut child = spawn_child(
        CHILD_TEST,
        "hold",
        &[
            ("MP_PATH", path.display().to_string()),
            ("MP_MODE", mode.to_owned()),
            ("MP_LEN", len.to_string()),
            ("MP_SEED", seed.to_string()),
            ("MP_READY", ready.display().to_string()),
            ("MP_RELEASE", release.display().to_string()),
        ],
    );
    let up = poll_until(WAIT, || ready.exists() || child.has_exited());
    if !ready.exists() {
        let out = child.wait();
        panic!(
            "the child never got hold of {} in mode {mode} (timed out: {}):\n{}\n{}",
            path.display(),
            !up,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Holder { child, release }
}

impl Holder {
    fn release(self) {
        signal_file(&self.release);
        let out = self.child.wait_ok("holding child");
        assert!(
            !common::child_results(&out).is_empty(),
            "child reported nothing"
        );
    }
}

/// Asserts that `r` is `Error::Locked` for `path` wanting `wanted`.
fn assert_locked<T: std::fmt::Debug>(
    r: mapio::Result<T>,
    path: &Path,
    wanted: LockKind,
    what: &str,
) {
    let e = match r {
        Err(e) => e,
        Ok(v) => panic!("{what}: expected Error::Locked({wanted:?}), got Ok({v:?})"),
    };
    match &e {
        Error::Locked { path: p, wanted: w } => {
            assert_eq!(p, path, "{what}: wrong path in {e}");
            assert_eq!(*w, wanted, "{what}: wrong lock kind in {e}");
        }
        other => panic!("{what}: expected Error::Locked({wanted:?}), got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{what}: {msg}");
    assert!(msg.contains("locked"), "{what}: {msg}");
}

fn opts(mode: Mode) -> OpenOptions {
    OpenOptions::new().mode(mode)
}

/// Opens that must succeed wait a little, in case a lock released by an
/// earlier step is still in the middle of going away.
fn patient(mode: Mode) -> OpenOptions {
    opts(mode).wait(WAIT)
}

#[test]
fn a_writer_in_another_process_locks_out_every_open() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let len = 10_000;
    for (child_mode, seed) in [("r+", 11), ("w+", 12)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data.bin");
        let want = pattern(seed, len);
        if child_mode == "r+" {
            std::fs::write(&path, &want).expect("write");
        }
        let holder = hold(dir.path(), &path, child_mode, len, seed);
        let what = |m: &str| format!("child holds {child_mode}, parent opens {m}");

        assert_locked(
            MappedFile::open(&path, Mode::ReadOnly),
            &path,
            LockKind::Shared,
            &what("r"),
        );
        assert_locked(
            MappedFile::open(&path, Mode::ReadWrite),
            &path,
            LockKind::Exclusive,
            &what("r+"),
        );
        assert_locked(
            MappedFile::open(&path, Mode::Create),
            &path,
            LockKind::Exclusive,
            &what("w+"),
        );
        assert_locked(
            MappedFile::create(&path, 7),
            &path,
            LockKind::Exclusive,
            &what("w+ len 7"),
        );
        assert_locked(
            MappedFile::open(&path, Mode::CopyOnWrite),
            &path,
            LockKind::Shared,
            &what("c"),
        );
        assert_locked(
            opts(Mode::ReadOnly).offset(4096).len(10).open(&path),
            &path,
            LockKind::Shared,
            &what("r at an offset"),
        );
        assert_locked(
            opts(Mode::ReadWrite).open_shared(&path),
            &path,
            LockKind::Atomic,
            &what("a shared map"),
        );
        assert_locked(
            Array::<u8>::open_raw(&path, Mode::ReadOnly, &[len]),
            &path,
            LockKind::Shared,
            &what("an Array<u8>"),
        );
        // A bounded wait ends in the same error.
        assert_locked(
            opts(Mode::ReadOnly)
                .wait(Duration::from_millis(200))
                .open(&path),
            &path,
            LockKind::Shared,
            &what("r with a 200 ms wait"),
        );
        // The refused w+ truncated nothing.
        assert_eq!(std::fs::read(&path).expect("read"), want, "{}", what("w+"));

        // With a wait, the open succeeds once the child lets go, and not
        // before it was told to.
        let released = AtomicBool::new(false);
        let opened = std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let f = opts(Mode::ReadWrite).wait(WAIT).open(&path);
                (f, released.load(Ordering::SeqCst))
            });
            released.store(true, Ordering::SeqCst);
            holder.release();
            waiter.join().expect("waiter thread")
        });
        let (f, after_release) = opened;
        let f =
            f.unwrap_or_else(|e| panic!("{}: open with wait failed: {e}", what("r+ with wait")));
        assert!(
            after_release,
            "the waiting open succeeded while the child held the lock"
        );
        assert_eq!(&f[..], &want[..]);
    }
}

#[test]
fn a_reader_in_another_process_admits_readers_only() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data.bin");
    let len = 3 * 4096 + 5;
    let want = pattern(21, len);
    std::fs::write(&path, &want).expect("write");
    let holder = hold(dir.path(), &path, "r", len, 21);

    let r = patient(Mode::ReadOnly)
        .open(&path)
        .expect("r beside a reader");
    assert_eq!(&r[..], &want[..]);
    let mut c = patient(Mode::CopyOnWrite)
        .open(&path)
        .expect("c beside a reader");
    c.as_mut_slice().expect("c is writable")[..4].copy_from_slice(b"priv");
    assert_eq!(&c[..4], b"priv");
    let r2 = patient(Mode::ReadOnly)
        .offset(5000)
        .len(100)
        .open(&path)
        .expect("second r");
    assert_eq!(&r2[..], &want[5000..5100]);

    assert_locked(
        MappedFile::open(&path, Mode::ReadWrite),
        &path,
        LockKind::Exclusive,
        "r+",
    );
    assert_locked(
        MappedFile::open(&path, Mode::Create),
        &path,
        LockKind::Exclusive,
        "w+",
    );
    assert_locked(
        opts(Mode::ReadOnly).open_shared(&path),
        &path,
        LockKind::Atomic,
        "shared r beside a reader",
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        want,
        "refused opens changed the file"
    );
    drop((r, c, r2));

    // Our own readers are gone, the child's is not: still refused.
    assert_locked(
        MappedFile::open(&path, Mode::ReadWrite),
        &path,
        LockKind::Exclusive,
        "r+ again",
    );
    holder.release();
    let f = patient(Mode::ReadWrite)
        .open(&path)
        .expect("r+ after the child left");
    assert_eq!(&f[..], &want[..]);
}

#[test]
fn copy_on_write_never_reaches_the_file() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cow.bin");
    let len = 3 * 4096 + 17;
    let want = pattern(31, len);
    std::fs::write(&path, &want).expect("write");

    let mut whole = patient(Mode::CopyOnWrite).open(&path).expect("c");
    for b in whole.as_mut_slice().expect("c is writable") {
        *b = !*b;
    }
    let mut window = patient(Mode::CopyOnWrite)
        .offset(4095)
        .len(4098)
        .open(&path)
        .expect("c at an offset");
    window.as_mut_slice().expect("writable").fill(0xEE);
    assert!(
        whole.iter().zip(&want).all(|(a, b)| *a == !*b),
        "own writes visible"
    );
    assert!(window.iter().all(|&b| b == 0xEE));
    // Flushing a private map must not write it either (NumPy: a no-op).
    let _ = whole.flush();
    let _ = window.flush();

    let out = common::run_child(
        CHILD_TEST,
        "cow_read",
        &[
            ("MP_PATH", path.display().to_string()),
            ("MP_LEN", len.to_string()),
            ("MP_SEED", "31".to_owned()),
        ],
    );
    common::assert_child_ok(&out, "reader beside copy-on-write maps");
    assert_eq!(common::child_results(&out)["cow_read"], "unchanged");

    whole.close().expect("close c");
    drop(window);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        want,
        "c changed the file"
    );
    let again = patient(Mode::CopyOnWrite).open(&path).expect("c again");
    assert_eq!(&again[..], &want[..], "private writes survived the close");
}

/// The parent's side of the atomics protocol (see `child_atomics`).
fn parent_atomics(a: &[AtomicU64], child: ChildGuard, what: &str) {
    assert!(
        poll_until(WAIT, || {
            (0..CHILD_VALUES).all(|i| a[i].load(Ordering::Acquire) == MAGIC + i as u64)
        }),
        "{what}: the child's stores never showed up in the parent's map: {:?}",
        a[..CHILD_VALUES]
            .iter()
            .map(|x| x.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    );
    for (i, slot) in a[PARENT_VALUES..SLOTS].iter().enumerate() {
        slot.store(!(MAGIC + i as u64), Ordering::Release);
    }
    a[ACK].store(ACK_VALUE, Ordering::Release);
    assert!(
        spin_until(|| a[SET].load(Ordering::Acquire) != 0),
        "{what}: the child never got ready"
    );
    a[GO].store(1, Ordering::Release);
    for _ in 0..ADDS {
        a[COUNTER].fetch_add(1, Ordering::AcqRel);
    }
    let out = child.wait_ok(what);
    assert_eq!(
        a[COUNTER].load(Ordering::Acquire),
        2 * ADDS,
        "{what}: concurrent fetch_add lost updates"
    );
    eprintln!(
        "{what}: the child saw {} interleavings",
        common::child_results(&out)["interleaved"]
    );
}

#[test]
fn atomic_array_is_shared_live_without_flush() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("counters.npy");
    let a = AtomicArray::<AtomicU64>::create_npy(&path, &[SLOTS]).expect("create");
    let child = spawn_child(
        CHILD_TEST,
        "atomic_array",
        &[("MP_PATH", path.display().to_string())],
    );
    parent_atomics(a.as_slice().expect("atomics"), child, "AtomicArray");
    // A plain open is refused while the parent is still attached.
    assert_locked(
        Array::<u64>::open_npy(&path, Mode::ReadOnly),
        &path,
        LockKind::Shared,
        "plain Array beside a sharer",
    );
    drop(a);
    // What both processes stored is in the file.
    let a = ArrayCheck::open(&path);
    for i in 0..CHILD_VALUES {
        assert_eq!(a.0[i], MAGIC + i as u64);
    }
    assert_eq!(a.0[ACK], ACK_VALUE);
    assert_eq!(a.0[COUNTER], 2 * ADDS);
}

struct ArrayCheck(Vec<u64>);

impl ArrayCheck {
    fn open(path: &Path) -> ArrayCheck {
        let a = Array::<u64>::open_npy(path, Mode::ReadOnly).expect("reopen as a plain array");
        ArrayCheck(a.as_slice().to_vec())
    }
}

#[test]
fn shared_map_is_shared_live_without_flush() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.bin");
    let m = opts(Mode::Create)
        .len(4096)
        .open_shared(&path)
        .expect("create shared");
    let child = spawn_child(
        CHILD_TEST,
        "shared_map",
        &[("MP_PATH", path.display().to_string())],
    );
    parent_atomics(
        m.atomics::<AtomicU64>().expect("atomics"),
        child,
        "SharedMap",
    );
    drop(m);
    let f = patient(Mode::ReadOnly).open(&path).expect("reopen plain");
    let words: Vec<u64> = f
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    assert_eq!(words[COUNTER], 2 * ADDS);
    assert_eq!(words[3], MAGIC + 3);
}

#[test]
fn external_sync_shares_plain_bytes_between_processes() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ext.bin");
    let (len, split) = (3 * 4096 + 100, 5000);
    let a_written = dir.path().join("a-written");
    let b_written = dir.path().join("b-written");
    let done = dir.path().join("done");
    // SAFETY: this process writes bytes 0..split before creating
    // `a_written` and reads split..len only after the child created
    // `b_written`; the child writes only split..len, in between; nobody
    // shrinks the file while it is mapped.
    let token = unsafe { ExternalSync::assume() };
    let mut f = opts(Mode::Create)
        .len(len as u64)
        .external_sync(token)
        .open(&path)
        .expect("create with ExternalSync");
    let child = spawn_child(
        CHILD_TEST,
        "external",
        &[
            ("MP_PATH", path.display().to_string()),
            ("MP_LEN", len.to_string()),
            ("MP_SPLIT", split.to_string()),
            ("MP_A_WRITTEN", a_written.display().to_string()),
            ("MP_B_WRITTEN", b_written.display().to_string()),
            ("MP_DONE", done.display().to_string()),
        ],
    );
    f.as_mut_slice().expect("writable")[..split].copy_from_slice(&pattern(1, split));
    signal_file(&a_written);
    wait_for_file(&b_written);
    assert!(
        f[split..] == pattern(2, len - split)[..],
        "the child's bytes are not visible through the parent's map"
    );
    assert!(f[..split] == pattern(1, split)[..]);
    signal_file(&done);
    let out = child.wait_ok("ExternalSync child");
    assert_eq!(common::child_results(&out)["external"], "ok");
    f.close().expect("close");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes.len(), len);
    assert!(
        bytes[..split] == pattern(1, split)[..] && bytes[split..] == pattern(2, len - split)[..]
    );
}

#[test]
fn sharers_and_plain_users_exclude_each_other() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.bin");
    let len = 4096;
    std::fs::write(&path, pattern(41, len)).expect("write");

    // A sharer in the child: plain opens refused, other sharers welcome.
    let holder = hold(dir.path(), &path, "shared", len, 41);
    assert_locked(
        MappedFile::open(&path, Mode::ReadOnly),
        &path,
        LockKind::Shared,
        "r beside a sharer",
    );
    assert_locked(
        MappedFile::open(&path, Mode::CopyOnWrite),
        &path,
        LockKind::Shared,
        "c beside a sharer",
    );
    assert_locked(
        MappedFile::open(&path, Mode::ReadWrite),
        &path,
        LockKind::Exclusive,
        "r+ beside a sharer",
    );
    assert_locked(
        MappedFile::open(&path, Mode::Create),
        &path,
        LockKind::Exclusive,
        "w+ beside a sharer",
    );
    let s = patient(Mode::ReadWrite)
        .open_shared(&path)
        .expect("a second sharer");
    assert_eq!(s.len(), len);
    let ro = patient(Mode::ReadOnly)
        .open_shared(&path)
        .expect("a read-only sharer");
    drop((s, ro));
    holder.release();

    // Plain users in the child: sharers refused.
    for mode in ["r", "r+", "c"] {
        let holder = hold(dir.path(), &path, mode, len, 41);
        for share_mode in [Mode::ReadOnly, Mode::ReadWrite] {
            assert_locked(
                opts(share_mode).open_shared(&path),
                &path,
                LockKind::Atomic,
                &format!("shared {share_mode} beside a plain {mode}"),
            );
        }
        assert_locked(
            AtomicArray::<AtomicU64>::open_npy(&path),
            &path,
            LockKind::Atomic,
            &format!("an AtomicArray beside a plain {mode}"),
        );
        holder.release();
    }
    assert_eq!(std::fs::read(&path).expect("read"), pattern(41, len));
}
