//! A full disk for real, never SIGBUS.
//!
//! Each check runs in a child process (this test binary run again for the
//! single test `child_process`), so that a SIGBUS or SIGXFSZ would kill
//! only the child and the parent would report it. The child fills a file
//! until mapio reports no space, checks the error, and exits normally; the
//! parent then checks that everything written before the error is intact.
//!
//! The room is limited in two ways:
//!
//! * `RLIMIT_FSIZE` (always): the child ignores `SIGXFSZ` and limits its
//!   file size, so growing past the limit fails with `EFBIG`;
//! * a 2 MiB tmpfs (when this runs as root and may mount): a real full
//!   filesystem, `ENOSPC`. Otherwise the test says why it did not run it.
//!
//! Each test prints a `SCORE checks=N ran=0|1 area=full_disk_rlimit` (or
//! `area=full_disk_tmpfs`) line for the scorecard (`scripts/torture`).
#![allow(unsafe_code)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mapio::array::{Array, ArrayOptions};
use mapio::log::{Entry, Log, LogOptions, LogReader};
use mapio::map::{MappedFile, Mode, OpenOptions};

use common::{child_param, child_results, child_role, pattern, pattern_range, report, serial};

const CHILD_TEST: &str = "child_process";
const MIB: u64 = 1 << 20;
/// The file-size limit the rlimit child sets.
const FSIZE_LIMIT: u64 = MIB;
/// Growth step of the growable map: not a multiple of a page.
const GROW_STEP: usize = 64 * 1024 + 1000;
const GROW_SEED: u64 = 0xF00D;
/// Elements per row of the appendable array.
const ROW: usize = 16;
/// Rows per `extend` call.
const BATCH: usize = 100;
/// The file-size limit of the concurrent-grow check: room for thousands of
/// page-sized grows.
const RACE_LIMIT: u64 = 32 * MIB;

// ---------------------------------------------------------------------------
// The child.

#[test]
fn child_process() {
    let Some(role) = child_role() else {
        return;
    };
    assert_eq!(role, "fill", "unknown child role");
    if let Ok(limit) = std::env::var("FD_RLIMIT") {
        let limit: u64 = limit.parse().expect("FD_RLIMIT");
        // SAFETY: called before this process starts any thread of its own
        // (the test harness runs this test on its one test thread, and no
        // other code in this process installs a SIGXFSZ handler); ignoring
        // a signal installs no handler code, so nothing can run unsafely
        // on its delivery.
        let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        assert_ne!(previous, libc::SIG_ERR, "signal(SIGXFSZ, SIG_IGN) failed");
        rustix::process::setrlimit(
            rustix::process::Resource::Fsize,
            rustix::process::Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            },
        )
        .expect("setrlimit(RLIMIT_FSIZE)");
    }
    let dir = PathBuf::from(child_param("FD_DIR"));
    match child_param("FD_CHECK").as_str() {
        "create" => child_create(&dir),
        "grow" => child_grow(&dir),
        "append" => child_append(&dir),
        "log" => child_log(&dir, false),
        "log_bg" => child_log(&dir, true),
        "log_sync" => child_log_sync(&dir),
        "grow_race" => child_grow_race(&dir),
        other => panic!("unknown check {other}"),
    }
}

/// Checks an error is "no space" and names the file.
fn assert_no_space(e: &mapio::Error, path: &Path, what: &str) {
    assert!(e.is_no_space(), "{what}: expected NoSpace, got {e:?}");
    assert!(
        matches!(e, mapio::Error::NoSpace { .. }),
        "{what}: expected Error::NoSpace, got {e:?}"
    );
    assert_eq!(
        e.path(),
        Some(path),
        "{what}: the error names another file: {e}"
    );
    assert!(
        e.to_string().contains(&path.display().to_string()),
        "{what}: message does not name the file: {e}"
    );
}

/// Creating files too big for the room left.
fn child_create(dir: &Path) {
    let path = dir.join("big.bin");
    let e = MappedFile::create(&path, 4 * MIB).expect_err("a 4 MiB file fits");
    assert_no_space(&e, &path, "MappedFile::create(4 MiB)");

    let path = dir.join("big.npy");
    let e = Array::<f64>::create_npy(&path, &[512, 1024]).expect_err("a 4 MiB array fits");
    assert_no_space(&e, &path, "Array::create_npy(4 MiB)");

    // The default first allocation step is 64 MiB: with less room, a log
    // starts with half a step, or a quarter, ... (then fills the room).
    let path = dir.join("big.log");
    let log = Log::create(&path).expect("a log on a small disk");
    let mut n = 0u64;
    let err = loop {
        match log.append(&Entry::new().key(n), &payload(n)) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert_no_space(&err, &path, "Log::append (default step)");
    log.sync().expect("sync the full log");
    drop(log);
    let len = std::fs::metadata(&path).expect("stat").len();
    let recs = LogReader::open(&path).expect("open").records().count() as u64;
    assert_eq!(recs, n, "records whose append returned Ok");
    // Steps halve down to 64 KiB: the room is used up to the last step.
    assert!(
        len + 2 * 64 * 1024 >= MIB,
        "{n} records in {len} bytes: the log stopped short of the room"
    );
    std::fs::remove_file(&path).expect("rm");
    report("create", "nospace");
}

/// A growable map grown a step at a time until there is no room.
fn child_grow(dir: &Path) {
    let path = dir.join("grow.bin");
    let mut f = OpenOptions::new()
        .mode(Mode::Create)
        .reserve(64 * MIB)
        .open(&path)
        .expect("create a growable map");
    let base = f.as_slice().as_ptr();
    let mut len = 0usize;
    let err = loop {
        assert!((len as u64) < 64 * MIB, "grew to 64 MiB without an error");
        match f.set_len((len + GROW_STEP) as u64) {
            Ok(()) => {
                f.as_mut_slice().expect("writable")[len..].copy_from_slice(&pattern_range(
                    GROW_SEED,
                    len,
                    len + GROW_STEP,
                ));
                len += GROW_STEP;
            }
            Err(e) => break e,
        }
    };
    assert_no_space(&err, &path, "set_len");
    // The failed growth left the map as it was.
    assert_eq!(f.len(), len, "a failed set_len changed the length");
    assert_eq!(f.as_slice().as_ptr(), base, "the map moved");
    assert!(
        f[..] == pattern(GROW_SEED, len)[..],
        "bytes changed in memory"
    );
    f.close().expect("close after a full disk");
    report("grow_len", len);
}

/// Grows that fail beside grows that succeed, on one exclusive handle:
/// thread A keeps asking for more than the limit allows while thread B
/// grows a page at a time and stores into each new page. A failed grow
/// gives back what it allocated, but must never cut off what B's grow
/// has already made accessible (B would take a SIGBUS, or lose data).
fn child_grow_race(dir: &Path) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let path = dir.join("race.bin");
    let page = 4096u64;
    let m = OpenOptions::new()
        .mode(Mode::Create)
        .len(page)
        .reserve(4 << 30)
        .open_shared_exclusive(&path)
        .expect("create");
    let stop = AtomicBool::new(false);
    let mut failed = 0u64;
    let steps = (RACE_LIMIT - 2 * MIB) / page;
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            let mut failed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if m.grow(2 << 30).is_err() {
                    failed += 1;
                }
            }
            failed
        });
        // Thread A stops when B is done, and also when B panics.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let stop_a = Stop(&stop);
        for i in 1..=steps {
            let len = (i + 1) * page;
            m.grow(len).expect("a grow under the limit");
            let words = m.atomics::<AtomicU64>().expect("atomics");
            assert!(words.len() as u64 * 8 >= len, "grow gave less than asked");
            let size = std::fs::metadata(&path).expect("stat").len();
            assert!(
                size >= len,
                "step {i}: grown to {len} bytes, the file has {size}"
            );
            words[(len / 8 - 1) as usize].store(i, Ordering::Relaxed);
        }
        drop(stop_a);
        failed = a.join().expect("thread A");
    });
    assert!(failed > 0, "no grow failed: the race was not exercised");
    let words = m.atomics::<AtomicU64>().expect("atomics");
    for i in 1..=steps {
        let at = ((i + 1) * page / 8 - 1) as usize;
        assert_eq!(words[at].load(Ordering::Relaxed), i, "step {i}'s word lost");
    }
    drop(m);
    std::fs::remove_file(&path).expect("rm");
    report("grow_race", failed);
}

/// Row `r` of the appendable array.
fn row_values(r: usize) -> impl Iterator<Item = u64> {
    (0..ROW).map(move |c| ((r as u64) << 16 | c as u64) ^ 0xA5A5_0000_0000)
}

fn child_append(dir: &Path) {
    let path = dir.join("rows.npy");
    let mut a = ArrayOptions::new()
        .reserve(64 * MIB)
        .create_appendable::<u64>(&path, &[ROW])
        .expect("create appendable");
    let mut rows = 0usize;
    let err = loop {
        assert!(
            rows * ROW * 8 < 64 << 20,
            "appended 64 MiB without an error"
        );
        let batch: Vec<u64> = (rows..rows + BATCH).flat_map(row_values).collect();
        match a.extend(&batch) {
            Ok(()) => rows += BATCH,
            Err(e) => break e,
        }
    };
    assert_no_space(&err, &path, "AppendableArray::extend");
    assert_eq!(a.rows(), rows, "a failed extend changed the row count");
    let want: Vec<u64> = (0..rows).flat_map(row_values).collect();
    assert!(a.as_slice() == &want[..], "rows changed in memory");
    a.close().expect("close after a full disk");
    report("rows", rows);
}

/// Payload of the `i`-th log record.
fn payload(i: u64) -> Vec<u8> {
    pattern(i, 1 + (i as usize * 37) % 300)
}

fn child_log(dir: &Path, background: bool) {
    let path = dir.join("run.log");
    let log = LogOptions::new()
        .reserve(64 * MIB)
        .step(64 * 1024)
        .background_allocation(background)
        .create(&path)
        .expect("create the log");
    let mut ok = 0u64;
    let err = loop {
        assert!(ok < 10_000_000, "no error after 10 million records");
        let entry = Entry::new().key(ok % 7).time(ok as f64);
        match log.append(&entry, &payload(ok)) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    report("records", ok);
    assert_no_space(&err, &path, "Log::append");
    assert!(
        log.append(&Entry::new(), b"x").is_err(),
        "an append after the error succeeded"
    );
    drop(log);
}

/// After a full disk, the records committed before it can still be made
/// durable, and the log can still be closed with its end record.
fn child_log_sync(dir: &Path) {
    let path = dir.join("run.log");
    let log = LogOptions::new()
        .reserve(64 * MIB)
        .step(64 * 1024)
        .background_allocation(false)
        .create(&path)
        .expect("create the log");
    let mut ok = 0u64;
    let err = loop {
        match log.append(&Entry::new().key(ok % 7).time(ok as f64), &payload(ok)) {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
    };
    report("records", ok);
    assert_no_space(&err, &path, "Log::append");
    // Every record whose append returned Ok is committed; sync must make
    // them durable (the error itself says "data written before is
    // intact").
    let durable = log.sync().expect("sync after a full disk");
    let reader = LogReader::open(&path).expect("open a reader");
    let last = reader.records().last().expect("records").next_offset();
    assert!(
        durable >= last,
        "sync covers {durable}, the records end at {last}"
    );
    report("sync", durable);
}

// ---------------------------------------------------------------------------
// The parent.

/// Runs one check in a child; returns what it reported.
fn run_check(dir: &Path, check: &str, rlimit: Option<u64>) -> BTreeMap<String, String> {
    let mut envs = vec![
        ("FD_DIR", dir.display().to_string()),
        ("FD_CHECK", check.to_owned()),
    ];
    if let Some(l) = rlimit {
        envs.push(("FD_RLIMIT", l.to_string()));
    }
    let out = common::run_child(CHILD_TEST, "fill", &envs);
    // A child killed by SIGBUS or SIGXFSZ fails here, by name.
    common::assert_child_ok(
        &out,
        &format!("full-disk check {check:?} (rlimit {rlimit:?})"),
    );
    child_results(&out)
}

fn check_grow(dir: &Path, rlimit: Option<u64>, room: u64) {
    let r = run_check(dir, "grow", rlimit);
    let len: usize = r["grow_len"].parse().expect("grow_len");
    assert!(
        len as u64 <= room && len as u64 + GROW_STEP as u64 > room / 2,
        "grew to {len} bytes with {room} bytes of room"
    );
    if rlimit.is_some() {
        // Every step that fits under the limit succeeded.
        assert!(
            len as u64 + GROW_STEP as u64 > room,
            "stopped early at {len}"
        );
    }
    let bytes = std::fs::read(dir.join("grow.bin")).expect("read grow.bin");
    assert_eq!(bytes.len(), len, "file size after close");
    assert!(
        bytes == pattern(GROW_SEED, len),
        "bytes written before the full disk changed"
    );
}

fn check_append(dir: &Path, rlimit: Option<u64>, room: u64) {
    let r = run_check(dir, "append", rlimit);
    let rows: usize = r["rows"].parse().expect("rows");
    let batch_bytes = (BATCH * ROW * 8) as u64;
    assert!(rows > 0, "not one batch fitted");
    if rlimit.is_some() {
        assert!(
            128 + rows as u64 * ROW as u64 * 8 + batch_bytes > room,
            "stopped early at {rows} rows"
        );
    }
    let path = dir.join("rows.npy");
    let a = Array::<u64>::open_npy(&path, Mode::ReadOnly).expect("reopen the rows");
    assert_eq!(a.shape(), &[rows, ROW]);
    let want: Vec<u64> = (0..rows).flat_map(row_values).collect();
    assert!(
        a.as_slice() == &want[..],
        "rows written before the full disk changed"
    );
    assert_eq!(
        std::fs::metadata(&path).expect("stat").len(),
        a.info().data_offset + (rows * ROW * 8) as u64,
        "close trims to the rows"
    );
}

fn check_log(dir: &Path, check: &str, rlimit: Option<u64>) {
    let r = run_check(dir, check, rlimit);
    let ok: u64 = r["records"].parse().expect("records");
    assert!(ok > 100, "only {ok} records fitted");
    let path = dir.join("run.log");
    let reader = LogReader::open(&path).expect("open the log");
    let recs: Vec<_> = reader.records().collect();
    assert_eq!(recs.len() as u64, ok, "records whose append returned Ok");
    for (i, rec) in recs.iter().enumerate() {
        let i = i as u64;
        assert_eq!(rec.key, Some(i % 7), "record {i}");
        assert_eq!(rec.time, Some(i as f64), "record {i}");
        assert!(rec.payload == payload(i), "payload of record {i}");
    }
    let scan = reader.scan();
    assert_eq!(scan.records, ok);
    assert!(scan.damaged.is_empty(), "damage: {:?}", scan.damaged);
    drop(reader);
    if rlimit.is_some() {
        // Room again (the parent has no limit): the log takes appends.
        let log = Log::open(&path).expect("reopen the log for writing");
        log.append(&Entry::new().key(99), b"after")
            .expect("append after recovery");
        log.close().expect("close");
        let recs: Vec<_> = LogReader::open(&path).expect("open").records().collect();
        assert_eq!(recs.len() as u64, ok + 1);
        assert_eq!(recs[ok as usize].payload, b"after");
    }
}

#[test]
fn file_size_limit_is_an_error_not_a_signal() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = Some(FSIZE_LIMIT);
    let r = run_check(dir.path(), "create", limit);
    assert_eq!(r["create"], "nospace");
    check_grow(dir.path(), limit, FSIZE_LIMIT);
    check_append(dir.path(), limit, FSIZE_LIMIT);
    check_log(dir.path(), "log", limit);
    println!("SCORE checks=4 ran=1 area=full_disk_rlimit");
}

#[test]
fn file_size_limit_with_background_log_allocation() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    check_log(dir.path(), "log_bg", Some(FSIZE_LIMIT));
    println!("SCORE checks=1 ran=1 area=full_disk_rlimit");
}

#[test]
fn a_failed_grow_never_cuts_off_a_concurrent_one() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run_check(dir.path(), "grow_race", Some(RACE_LIMIT));
    assert!(r["grow_race"].parse::<u64>().expect("count") > 0);
    println!("SCORE checks=1 ran=1 area=full_disk_rlimit");
}

#[test]
fn log_sync_after_a_full_disk() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run_check(dir.path(), "log_sync", Some(FSIZE_LIMIT));
    assert!(r.contains_key("sync"), "{r:?}");
    println!("SCORE checks=1 ran=1 area=full_disk_rlimit");
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Mounts a 2 MiB tmpfs at `at`, or says why not.
fn mount_tmpfs(at: &Path) -> Result<Mount, String> {
    mount_fs("tmpfs", "size=2m,mode=0700", at)
}

/// Mounts a filesystem of type `fs` (no device) at `at`, or says why not.
fn mount_fs(fs: &str, options: &str, at: &Path) -> Result<Mount, String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not running as root".into());
    }
    let out = Command::new("mount")
        .args(["-t", fs, "-o", options, fs])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount -t {fs} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Mount(at.to_path_buf()))
}

/// On a filesystem without `fallocate` (ramfs here; some network
/// filesystems) a grow writes zeros, 64 KiB at a time. One that fails
/// half-way (the third write fails) has grown the file, and the handle
/// must give that back: it is set back under the exclusive lock at once,
/// and close or drop leaves the file as it was (a full disk would
/// otherwise stay full).
#[test]
fn a_grow_that_fails_half_way_without_fallocate_is_given_back() {
    use mapio::fault::{self, Op};
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let _mount = match mount_fs("ramfs", "mode=0700", &mnt) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED a_grow_that_fails_half_way_without_fallocate_is_given_back: {why}");
            return;
        }
    };
    let p = mnt.join("f");
    std::fs::write(&p, vec![1u8; 4096]).unwrap();
    for close in [false, true] {
        let mut f = MappedFile::options()
            .mode(Mode::ReadWrite)
            .reserve(1 << 20)
            .open(&p)
            .unwrap();
        fault::inject(Op::Pwrite, libc::EIO, 2, 1);
        f.set_len(1 << 20).unwrap_err();
        fault::clear();
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            4096,
            "set back at once"
        );
        if close {
            f.close().unwrap();
        } else {
            drop(f);
        }
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 4096);
        assert_eq!(std::fs::read(&p).unwrap(), vec![1u8; 4096]);
    }
}

/// Runs `f` (`checks` checks) in a freshly mounted 2 MiB tmpfs, or says
/// why it cannot.
fn with_small_tmpfs(checks: u32, f: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    match mount_tmpfs(&mnt) {
        Ok(_mount) => {
            f(&mnt);
            println!("SCORE checks={checks} ran=1 area=full_disk_tmpfs");
        }
        Err(why) => {
            eprintln!("tmpfs check not run: {why}");
            println!("SCORE checks=0 ran=0 area=full_disk_tmpfs");
        }
    }
}

const TMPFS_ROOM: u64 = 2 * MIB;

#[test]
fn small_tmpfs_fills_up_without_sigbus() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    with_small_tmpfs(4, |mnt| {
        let r = run_check(mnt, "create", None);
        assert_eq!(r["create"], "nospace");
        // One file at a time: each check needs the whole filesystem.
        check_grow(mnt, None, TMPFS_ROOM);
        std::fs::remove_file(mnt.join("grow.bin")).expect("rm");
        check_append(mnt, None, TMPFS_ROOM);
        std::fs::remove_file(mnt.join("rows.npy")).expect("rm");
        check_log(mnt, "log", None);
    });
}

#[test]
fn small_tmpfs_with_background_log_allocation() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    with_small_tmpfs(1, |mnt| check_log(mnt, "log_bg", None));
}

/// Mounts a small ext4 image (a file in `dir`) at `dir/mnt`, or says why
/// not: ext4, unlike tmpfs, keeps what a failed `fallocate` could get.
fn mount_ext4(dir: &Path) -> Result<(Mount, PathBuf), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not running as root".into());
    }
    let img = dir.join("fs.img");
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(32 * MIB))
        .map_err(|e| e.to_string())?;
    let run = |cmd: &mut Command| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&img))?;
    run(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt))?;
    Ok((Mount(mnt.clone()), mnt))
}

/// On ext4, an allocation that fails for lack of room gives back what it
/// got: the file keeps its size and the disk is not left full.
#[test]
fn a_failed_allocation_gives_the_space_back() {
    let _g = serial();
    if child_role().is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (_mount, mnt) = match mount_ext4(dir.path()) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("ext4 check not run: {why}");
            println!("SCORE checks=0 ran=0 area=full_disk_ext4");
            return;
        }
    };
    let free = || {
        let st = rustix::fs::statvfs(&mnt).expect("statvfs");
        st.f_bavail * st.f_frsize
    };
    let before = free();
    let keep = mnt.join("keep.bin");
    std::fs::write(&keep, vec![7u8; 1000]).expect("write");
    // Growing an existing file past the room: r+ with a length.
    let e = OpenOptions::new()
        .mode(Mode::ReadWrite)
        .len(64 * MIB)
        .open(&keep)
        .expect_err("64 MiB fit on a 32 MiB disk");
    assert_no_space(&e, &keep, "open r+ with a length");
    let len = std::fs::metadata(&keep).expect("stat").len();
    assert_eq!(len, 1000, "the file keeps its size");
    assert!(
        std::fs::read(&keep).expect("read") == vec![7u8; 1000],
        "and its bytes"
    );
    // A new file too large: nothing left behind.
    let big = mnt.join("big.bin");
    let e = MappedFile::create(&big, 64 * MIB).expect_err("64 MiB fit");
    assert_no_space(&e, &big, "create");
    assert!(!big.exists());
    let after = free();
    assert!(
        after + MIB >= before,
        "the failed allocations kept {} bytes of the disk",
        before.saturating_sub(after)
    );
    println!("SCORE checks=1 ran=1 area=full_disk_ext4");
}
