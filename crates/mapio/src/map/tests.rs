use super::*;
use crate::sys::fault::{self, Op};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.bin");
    (dir, p)
}

fn page() -> usize {
    sys::page_size()
}

#[test]
fn mode_names_round_trip() {
    for m in [
        Mode::ReadOnly,
        Mode::ReadWrite,
        Mode::Create,
        Mode::CopyOnWrite,
    ] {
        assert_eq!(m.as_numpy().parse::<Mode>().unwrap(), m);
    }
    assert!("rw".parse::<Mode>().is_err());
}

#[test]
fn create_write_reopen_read() {
    let (_d, p) = tmp();
    let mut f = MappedFile::create(&p, 10_000).unwrap();
    assert_eq!(f.len(), 10_000);
    f.as_mut_slice().unwrap()[9_999] = 0xAB;
    f.close().unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 10_000);
    let f = MappedFile::open(&p, Mode::ReadOnly).unwrap();
    assert_eq!(f[9_999], 0xAB);
    assert!(f.iter().take(9_999).all(|&b| b == 0));
}

#[test]
fn read_only_refuses_writes_and_resizes() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"abc").unwrap();
    let mut f = MappedFile::open(&p, Mode::ReadOnly).unwrap();
    assert!(matches!(f.as_mut_slice(), Err(Error::InvalidArgument(_))));
    assert!(f.set_len(10).is_err());
    assert_eq!(&f[..], b"abc");
}

#[test]
fn any_offset_and_length() {
    let (_d, p) = tmp();
    let data: Vec<u8> = (0..3 * page() + 100).map(|i| (i % 251) as u8).collect();
    std::fs::write(&p, &data).unwrap();
    for offset in [0, 1, 7, page() - 1, page(), page() + 3, 2 * page() + 99] {
        for len in [0, 1, 13, page(), data.len() - offset] {
            if offset + len > data.len() {
                continue;
            }
            let f = MappedFile::options()
                .offset(offset as u64)
                .len(len as u64)
                .open(&p)
                .unwrap();
            assert_eq!(
                &f[..],
                &data[offset..offset + len],
                "offset {offset} len {len}"
            );
            assert_eq!(f.offset(), offset as u64);
        }
    }
}

#[test]
fn offset_window_write_leaves_rest_alone() {
    let (_d, p) = tmp();
    std::fs::write(&p, vec![1u8; 3 * page()]).unwrap();
    let mut f = MappedFile::options()
        .mode(Mode::ReadWrite)
        .offset(page() as u64 + 5)
        .len(10)
        .open(&p)
        .unwrap();
    f.as_mut_slice().unwrap().fill(2);
    // Shrinking a window in the middle must not cut the file.
    f.set_len(4).unwrap();
    f.close().unwrap();
    let back = std::fs::read(&p).unwrap();
    assert_eq!(back.len(), 3 * page());
    assert!(back[page() + 5..page() + 15].iter().all(|&b| b == 2));
    assert_eq!(back.iter().filter(|&&b| b == 2).count(), 10);
}

#[test]
fn read_past_end_is_an_error_not_sigbus() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"short").unwrap();
    let e = MappedFile::options().len(100).open(&p).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    assert!(e.to_string().contains("f.bin"), "{e}");
    let e = MappedFile::options().offset(6).open(&p).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    let e = MappedFile::options()
        .mode(Mode::CopyOnWrite)
        .len(6)
        .open(&p)
        .unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
}

#[test]
fn read_write_extends_with_fallocate_not_sparse() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"head").unwrap();
    let f = MappedFile::options()
        .mode(Mode::ReadWrite)
        .len(1 << 20)
        .open(&p)
        .unwrap();
    assert_eq!(&f[..4], b"head");
    drop(f);
    let meta = std::fs::metadata(&p).unwrap();
    assert_eq!(meta.len(), 1 << 20);
    use std::os::unix::fs::MetadataExt;
    assert!(
        meta.blocks() * 512 >= 1 << 20,
        "sparse: {} blocks",
        meta.blocks()
    );
}

#[test]
fn read_write_fills_holes_of_a_sparse_file() {
    let (_d, p) = tmp();
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(1 << 20).unwrap(); // sparse, as np.memmap makes them
    drop(f);
    use std::os::unix::fs::MetadataExt;
    assert!(std::fs::metadata(&p).unwrap().blocks() * 512 < 1 << 20);
    let f = MappedFile::open(&p, Mode::ReadWrite).unwrap();
    drop(f);
    assert!(std::fs::metadata(&p).unwrap().blocks() * 512 >= 1 << 20);
}

#[test]
fn zero_length_maps() {
    let (_d, p) = tmp();
    let mut f = MappedFile::create(&p, 0).unwrap();
    assert!(f.is_empty());
    assert_eq!(f.as_mut_slice().unwrap().len(), 0);
    f.flush().unwrap();
    f.flush_async().unwrap();
    f.close().unwrap();
    let f = MappedFile::open(&p, Mode::ReadOnly).unwrap();
    assert!(f.is_empty());
    let f = MappedFile::options().offset(0).len(0).open(&p).unwrap();
    assert_eq!(f.len(), 0);
}

#[test]
fn create_overwrites_and_new_files_are_0640() {
    let (_d, p) = tmp();
    std::fs::write(&p, vec![9u8; 50_000]).unwrap();
    let f = MappedFile::create(&p, 10).unwrap();
    assert!(f.iter().all(|&b| b == 0));
    drop(f);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 10);
    let (_d2, q) = tmp();
    // Set a known umask only for the check's arithmetic: 0o640 & !umask.
    let f = MappedFile::options()
        .mode(Mode::Create)
        .len(1)
        .durable(true)
        .open(&q)
        .unwrap();
    drop(f);
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
    assert_eq!(m & !0o640, 0, "mode {m:o} grants more than 0o640");
    let (_d3, r) = tmp();
    let f = MappedFile::options()
        .mode(Mode::Create)
        .file_mode(0o600)
        .len(1)
        .open(&r)
        .unwrap();
    drop(f);
    let m = std::fs::metadata(&r).unwrap().permissions().mode() & 0o777;
    assert_eq!(m & !0o600, 0);
}

#[test]
fn create_new_refuses_existing() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"x").unwrap();
    let e = MappedFile::options()
        .mode(Mode::Create)
        .create_new(true)
        .len(3)
        .open(&p)
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"x");
}

#[test]
fn growth_keeps_address_and_close_trims() {
    let (_d, p) = tmp();
    let mut f = MappedFile::options()
        .mode(Mode::Create)
        .len(100)
        .reserve(1 << 32)
        .open(&p)
        .unwrap();
    let addr = f.as_ptr();
    let mut n = 100u64;
    while n < 50 << 20 {
        n = n * 3 + 1;
        f.set_len(n).unwrap();
        assert_eq!(f.as_ptr(), addr);
        let s = f.as_mut_slice().unwrap();
        let last = s.len() - 1;
        s[last] = 1;
    }
    assert!(
        f.set_len(5 << 32).is_err(),
        "growth past the reservation must fail"
    );
    f.set_len(12_345).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 12_345);
    f.close().unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 12_345);
}

#[test]
fn copy_on_write_leaves_file_untouched() {
    let (_d, p) = tmp();
    std::fs::write(&p, b"original").unwrap();
    let mut f = MappedFile::open(&p, Mode::CopyOnWrite).unwrap();
    f.as_mut_slice().unwrap().copy_from_slice(b"modified");
    assert_eq!(&f[..], b"modified");
    f.flush().unwrap();
    assert!(f.set_len(100).is_err());
    f.close().unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"original");
}

#[test]
fn conflicting_opens_are_refused() {
    let (_d, p) = tmp();
    let w = MappedFile::create(&p, 10).unwrap();
    let e = MappedFile::open(&p, Mode::ReadOnly).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Locked {
                wanted: crate::LockKind::Shared,
                ..
            }
        ),
        "{e}"
    );
    let e = MappedFile::open(&p, Mode::ReadWrite).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }));
    // w+ must not truncate a file someone holds.
    let e = MappedFile::create(&p, 0).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }));
    assert_eq!(w.len(), 10);
    drop(w);
    let r1 = MappedFile::open(&p, Mode::ReadOnly).unwrap();
    let r2 = MappedFile::open(&p, Mode::CopyOnWrite).unwrap();
    assert!(MappedFile::open(&p, Mode::ReadWrite).is_err());
    drop((r1, r2));
    MappedFile::open(&p, Mode::ReadWrite).unwrap();
}

#[test]
fn flush_failure_poisons() {
    let (_d, p) = tmp();
    let mut f = MappedFile::create(&p, 4096).unwrap();
    f.as_mut_slice().unwrap()[0] = 1;
    fault::inject(Op::Msync, libc::EIO, 0, 1);
    let e = f.flush().unwrap_err();
    assert!(matches!(e, Error::Io { op: "msync", .. }), "{e}");
    // The fault is gone, but the handle must not claim durability again.
    let e = f.flush().unwrap_err();
    assert!(matches!(e, Error::Poisoned { .. }), "{e}");
    assert!(matches!(f.flush_async(), Err(Error::Poisoned { .. })));
    assert!(f.close().is_err());
}

#[test]
fn full_disk_on_create_and_growth_is_an_error() {
    let (_d, p) = tmp();
    fault::inject(Op::Fallocate, libc::ENOSPC, 0, 1);
    let e = MappedFile::create(&p, 1 << 20).unwrap_err();
    assert!(e.is_no_space(), "{e}");
    let mut f = MappedFile::options()
        .mode(Mode::Create)
        .len(4096)
        .reserve(1 << 24)
        .open(&p)
        .unwrap();
    f.as_mut_slice().unwrap()[..4].copy_from_slice(b"keep");
    fault::inject(Op::Fallocate, libc::EFBIG, 0, 1);
    let e = f.set_len(1 << 23).unwrap_err();
    assert!(
        matches!(e, Error::NoSpace { offset: 4096, requested, .. } if requested == (1 << 23) - 4096),
        "{e}"
    );
    assert_eq!(f.len(), 4096);
    assert_eq!(&f[..4], b"keep");
    f.set_len(8192).unwrap();
    f.close().unwrap();
    assert_eq!(&std::fs::read(&p).unwrap()[..4], b"keep");
}

#[test]
fn hints_and_populate() {
    let (_d, p) = tmp();
    let f = MappedFile::options()
        .mode(Mode::Create)
        .len(1 << 20)
        .advise(Advice::Sequential)
        .populate(true)
        .open(&p)
        .unwrap();
    f.advise(Advice::Random).unwrap();
    f.advise_range(Advice::WillNeed, 10, 5000).unwrap();
    f.populate().unwrap();
    f.flush_range(100, 10).unwrap();
    f.flush_async_range(0, 1 << 20).unwrap();
}

/// The `Anonymous:` kilobytes of the mapping that starts at `addr`
/// (`/proc/self/smaps`): memory private to this process, not the file's.
fn anonymous_kib_of_mapping_at(addr: usize) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ')
            && let Some((start, _)) = range.split_once('-')
            && let Ok(start) = usize::from_str_radix(start, 16)
        {
            inside = start == addr;
            continue;
        }
        if inside && let Some(rest) = line.strip_prefix("Anonymous:") {
            return rest.trim().trim_end_matches("kB").trim().parse().unwrap();
        }
    }
    panic!("no mapping at {addr:#x} in /proc/self/smaps");
}

#[test]
fn populating_a_copy_on_write_map_copies_nothing() {
    // MADV_POPULATE_WRITE on a private map copies every page: a map of a
    // large file in mode `c` would cost its whole size in anonymous memory.
    let (_d, p) = tmp();
    std::fs::write(&p, vec![3u8; 4 << 20]).unwrap();
    let f = MappedFile::open(&p, Mode::CopyOnWrite).unwrap();
    f.populate().unwrap();
    assert_eq!(anonymous_kib_of_mapping_at(f.as_ptr() as usize), 0);
    drop(f);
    let mut f = MappedFile::options()
        .mode(Mode::CopyOnWrite)
        .populate(true)
        .open(&p)
        .unwrap();
    assert_eq!(anonymous_kib_of_mapping_at(f.as_ptr() as usize), 0);
    // Writes still work, and copy only the page they touch.
    f.as_mut_slice().unwrap()[5000] = 9;
    let kib = anonymous_kib_of_mapping_at(f.as_ptr() as usize);
    assert!(kib <= 2 * page() as u64 / 1024, "{kib} KiB");
    drop(f);
    assert!(std::fs::read(&p).unwrap().iter().all(|&b| b == 3));
}

#[test]
fn ranges_past_the_end_are_refused() {
    // A flush of bytes that are not mapped must not pass for one that made
    // them durable: every range must lie inside the map.
    let (_d, p) = tmp();
    let f = MappedFile::options()
        .mode(Mode::Create)
        .offset(100)
        .len(5000)
        .open(&p)
        .unwrap();
    f.flush_range(0, 5000).unwrap();
    f.flush_range(5000, 0).unwrap();
    f.advise_range(Advice::WillNeed, 4999, 1).unwrap();
    for (off, len) in [(4000, 1001), (5001, 0), (6000, 1), (1, usize::MAX)] {
        for r in [
            f.flush_range(off, len),
            f.flush_async_range(off, len),
            f.advise_range(Advice::Random, off, len),
        ] {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{off}+{len}: {e}");
            assert!(
                e.to_string()
                    .contains("past the end of the map (5000 bytes)"),
                "{e}"
            );
        }
    }
    drop(f);
    let s = MappedFile::options()
        .mode(Mode::ReadWrite)
        .len(64)
        .open_shared(&p)
        .unwrap();
    let n = s.len();
    s.flush_range(0, n).unwrap();
    assert!(matches!(
        s.flush_range(0, n + 1),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        s.flush_async_range(n - 4, 5),
        Err(Error::InvalidArgument(_))
    ));
    // Hints too: a range past the end is the caller's mistake to hear of
    // (they returned Ok for any range).
    s.populate(0, n, false).unwrap();
    s.release(0, n).unwrap();
    for (off, len) in [(0, n + 1), (1 << 40, 10), (1, usize::MAX)] {
        for r in [s.populate(off, len, true), s.release(off, len)] {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{off}+{len}: {e}");
        }
    }
}

#[test]
fn shared_maps_see_each_other() {
    let (_d, p) = tmp();
    let a = MappedFile::options()
        .mode(Mode::Create)
        .len(4096)
        .reserve(1 << 20)
        .open_shared(&p)
        .unwrap();
    let b = MappedFile::options()
        .mode(Mode::ReadWrite)
        .reserve(1 << 20)
        .open_shared(&p)
        .unwrap();
    let r = MappedFile::options()
        .mode(Mode::ReadOnly)
        .reserve(1 << 20)
        .open_shared(&p)
        .unwrap();
    a.atomics::<AtomicU64>().unwrap()[7].store(99, Ordering::Release);
    assert_eq!(
        b.atomics::<AtomicU64>().unwrap()[7].load(Ordering::Acquire),
        99
    );
    assert_eq!(
        r.atomics_read_only::<AtomicU64>()
            .unwrap()
            .load(7, Ordering::Acquire),
        Some(99)
    );
    assert!(
        r.atomics::<AtomicU64>().is_err(),
        "read-only shared map offers no stores"
    );
    // Plain users are refused while sharers are attached, and vice versa.
    assert!(matches!(
        MappedFile::open(&p, Mode::ReadOnly),
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        MappedFile::open(&p, Mode::ReadWrite),
        Err(Error::Locked { .. })
    ));
    // Growth by one sharer becomes visible to the others after refresh.
    a.grow(8192).unwrap();
    a.atomics::<AtomicU32>().unwrap()[2000].store(5, Ordering::Release);
    assert_eq!(b.refresh().unwrap(), 8192);
    assert_eq!(
        b.atomics::<AtomicU32>().unwrap()[2000].load(Ordering::Acquire),
        5
    );
    // Truncation is skipped while others are attached.
    drop(r);
    assert!(!a.close(Some(100)).unwrap());
    assert!(b.close(Some(100)).unwrap());
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 100);
}

/// `truncate` only ever shrinks: a length past the end leaves the file as
/// it is (extending it with `ftruncate` would leave a hole that a store on
/// a full disk turns into SIGBUS).
#[test]
fn shared_truncate_never_grows_the_file() {
    let (_d, p) = tmp();
    let mut m = MappedFile::options()
        .mode(Mode::Create)
        .len(64)
        .reserve(1 << 20)
        .open_shared(&p)
        .unwrap();
    let size = || std::fs::metadata(&p).unwrap().len();
    assert_eq!(size(), 64);
    assert!(m.truncate(50_000).unwrap());
    assert_eq!((size(), m.len()), (64, 64));
    assert_eq!(m.refresh().unwrap(), 64);
    assert!(m.truncate(32).unwrap());
    assert_eq!(size(), 32);
    assert!(m.close(Some(1 << 19)).unwrap());
    assert_eq!(size(), 32);
}

#[test]
fn shared_map_alignment_and_modes() {
    let (_d, p) = tmp();
    std::fs::write(&p, vec![0u8; 64]).unwrap();
    let m = MappedFile::options()
        .mode(Mode::ReadWrite)
        .offset(4)
        .open_shared(&p)
        .unwrap();
    assert!(m.atomics::<AtomicU64>().is_err());
    assert_eq!(m.atomics::<AtomicU32>().unwrap().len(), 15);
    drop(m);
    assert!(
        MappedFile::options()
            .mode(Mode::CopyOnWrite)
            .open_shared(&p)
            .is_err()
    );
}

#[test]
#[allow(unsafe_code)] // the opt-in under test is made in an unsafe block
fn external_sync_allows_plain_sharing() {
    let (_d, p) = tmp();
    // SAFETY: both handles are used from this thread only, one at a time.
    let token = unsafe { ExternalSync::assume() };
    let mut a = MappedFile::options()
        .mode(Mode::Create)
        .len(16)
        .external_sync(token)
        .open(&p)
        .unwrap();
    let b = MappedFile::options()
        .mode(Mode::ReadWrite)
        .external_sync(token)
        .open(&p)
        .unwrap();
    a.as_mut_slice().unwrap()[3] = 7;
    assert_eq!(b[3], 7);
}

#[test]
#[allow(unsafe_code)] // the opt-in under test is made in an unsafe block
fn closing_never_cuts_off_what_another_handle_grew() {
    // Under ExternalSync another handle (another process, say) may grow the
    // file; a handle that never grew it, or grew it and shrank it again
    // (it no longer owns the bytes past its new end), must not "give back"
    // those bytes on drop or close: the other's view would end in SIGBUS.
    let (_d, p) = tmp();
    std::fs::write(&p, vec![1u8; 4096]).unwrap();
    // SAFETY: one thread; the handles' views are used one at a time and the
    // test checks that nobody shrinks the file under `b`.
    let token = unsafe { ExternalSync::assume() };
    for (shrunk, close) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut a = MappedFile::options()
            .mode(Mode::ReadWrite)
            .reserve(1 << 20)
            .external_sync(token)
            .open(&p)
            .unwrap();
        let n = a.len() as u64;
        if shrunk {
            a.set_len(n + 8 * 4096).unwrap();
            a.set_len(n).unwrap();
            assert_eq!(std::fs::metadata(&p).unwrap().len(), n);
        }
        let mut b = MappedFile::options()
            .mode(Mode::ReadWrite)
            .reserve(1 << 20)
            .external_sync(token)
            .open(&p)
            .unwrap();
        b.set_len(n + 4096).unwrap();
        let end = b.len();
        b.as_mut_slice().unwrap()[end - 1] = 2;
        if close {
            a.close().unwrap();
        } else {
            drop(a);
        }
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            n + 4096,
            "{shrunk} {close}"
        );
        assert_eq!(b[end - 1], 2);
        b.close().unwrap();
    }
}

#[test]
fn a_failed_create_leaves_no_file() {
    let (_d, p) = tmp();
    fault::inject(Op::Fallocate, libc::ENOSPC, 0, 1);
    assert!(MappedFile::create(&p, 1 << 20).unwrap_err().is_no_space());
    assert!(
        !p.exists(),
        "the file created for the failed w+ is still there"
    );
    // A file that existed before is left in place (truncated by w+, as
    // NumPy's w+ truncates).
    std::fs::write(&p, b"old").unwrap();
    fault::inject(Op::Fallocate, libc::ENOSPC, 0, 1);
    assert!(MappedFile::create(&p, 1 << 20).is_err());
    assert!(p.exists());
}

#[test]
fn an_empty_shared_map_gives_aligned_empty_atomics() {
    // Nothing is mapped, yet `&[AtomicU64]` must have an aligned pointer
    // even when empty (a misaligned one is undefined behaviour; debug
    // builds abort in `slice::from_raw_parts`).
    let (_d, p) = tmp();
    let s = MappedFile::options()
        .mode(Mode::Create)
        .open_shared(&p)
        .unwrap();
    assert_eq!(s.len(), 0);
    let a = s.atomics::<AtomicU64>().unwrap();
    assert!(a.is_empty());
    assert_eq!(a.as_ptr() as usize % std::mem::align_of::<AtomicU64>(), 0);
    let r = s.atomics_read_only::<AtomicU64>().unwrap();
    assert_eq!(r.len(), 0);
}

#[test]
fn the_first_flush_of_a_created_file_makes_its_name_durable() {
    // Flushed bytes must not be lost with the file's name after a crash:
    // the first flush of a file this handle created fsyncs the directory
    // (seen here as the one `fsync` call that fails on purpose).
    let (_d, p) = tmp();
    let mut f = MappedFile::create(&p, 4096).unwrap();
    f.as_mut_slice().unwrap()[0] = 1;
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    let e = f.flush().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Io {
                op: "fsync(parent dir)",
                ..
            }
        ),
        "{e}"
    );
    // The data is durable; only the name is retried, once.
    f.flush().unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    f.flush().unwrap();
    f.close().unwrap();
    fault::clear();
    // A file that existed, or one created with `durable`, has no pending
    // directory entry.
    let f = MappedFile::open(&p, Mode::ReadWrite).unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    f.flush().unwrap();
    fault::clear();
    let q = p.with_extension("durable");
    let f = MappedFile::options()
        .mode(Mode::Create)
        .len(64)
        .durable(true)
        .open(&q)
        .unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    f.flush().unwrap();
    fault::clear();
    // A created file that is closed without a write still gets its name
    // made durable by close.
    let r = p.with_extension("untouched");
    let f = MappedFile::create(&r, 64).unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    assert!(f.close().is_err());
    fault::clear();
}

#[test]
fn the_first_ranged_flush_of_a_created_file_makes_its_name_durable() {
    // A program that flushes only the ranges it wrote must not lose the
    // file, bytes and all, with its name after a crash.
    let (_d, p) = tmp();
    let mut f = MappedFile::create(&p, 4096).unwrap();
    f.as_mut_slice().unwrap()[0] = 1;
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    let e = f.flush_range(0, 1).unwrap_err();
    assert!(matches!(e, Error::Io { op: DIR_FSYNC, .. }), "{e}");
    f.flush_range(0, 1).unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    f.flush_range(0, 1).unwrap();
    fault::clear();
    drop(f);
    let q = p.with_extension("shared");
    let m = MappedFile::options()
        .mode(Mode::Create)
        .len(64)
        .open_shared(&q)
        .unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    let e = m.flush_range(0, 8).unwrap_err();
    assert!(matches!(e, Error::Io { op: DIR_FSYNC, .. }), "{e}");
    m.flush_range(0, 8).unwrap();
    fault::clear();
}

#[test]
fn flushing_an_emptied_map_makes_its_size_durable() {
    // An empty map has no page to msync: the flush is an fdatasync, so a
    // truncation to zero is made durable (it used to make no call at all).
    let (_d, p) = tmp();
    std::fs::write(&p, vec![7u8; 10_000]).unwrap();
    let mut f = MappedFile::open(&p, Mode::ReadWrite).unwrap();
    f.set_len(0).unwrap();
    fault::inject(Op::Fsync, libc::EIO, 0, 1);
    let e = f.flush().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{e}"
    );
    fault::clear();
    drop(f);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
}

#[test]
fn temporary_names_say_their_owner() {
    let p = temp_path_beside(std::path::Path::new("/d/pos.npy"), "export");
    let name = p.file_name().unwrap().to_str().unwrap();
    assert_eq!(super::temporary_owner(name), Some(std::process::id()));
    for (name, owner) in [
        (".pos.npy.mapio-export-123-0123abcd", Some(123)),
        (".a-b.idx.mapio-index-7-ffffffff", Some(7)),
        ("pos.npy.mapio-export-123-0123abcd", None), // not hidden
        (".pos.npy.mapio-export-123-0123abc", None), // short nonce
        (".pos.npy.mapio-export-0123-0123abcd", None),
        (".pos.npy.mapio-Export-123-0123abcd", None),
        (".pos.npy.mapio--123-0123abcd", None),
        (".pos.npy-123-0123abcd", None),
        (".pos.npy.mapio-export-x1-0123abcd", None),
    ] {
        assert_eq!(super::temporary_owner(name), owner, "{name}");
    }
}
