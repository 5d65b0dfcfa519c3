//! Reproductions of the resource-exhaustion findings in SECURITY.md, with
//! small, bounded sizes: each prints what it measured so the growth is
//! visible without exhausting the machine.
//!
//! ```text
//! cd fuzz
//! cargo run --release --example hostile_files -- history   # memory ~ file² (LogReader::history_back_from)
//! cargo run --release --example hostile_files -- resync    # time ~ file² (scan/verify/recover resync)
//! cargo run --release --example hostile_files -- index     # memory ~ index × record (LogSet::history)
//! cargo run --release --example hostile_files -- tmpfile   # Index::save follows a planted symlink
//! cargo run --release --example hostile_files -- atomic    # AtomicArray ignores an unaligned data offset
//! cargo run --release --example hostile_files -- fifo      # opening a FIFO blocks before the regular-file check
//! (ulimit -v 4000000; cargo run --release --example hostile_files -- devzero)
//!                                                        # LogReader::open / Index::load read a device to EOF
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use mapio::log::format::{HEADER_LEN, Header, Kind, Word0};
use mapio::log::index::{HEADER, Index, MAGIC, VERSION};
use mapio::log::{Flags, LogReader, LogSet, Schema, SetOptions};
use mapio_fuzz::{encode_record, fix_index_crc, idx};

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("mapio-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Peak resident memory of this process so far, in MiB (`VmHWM`).
fn peak_rss_mib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn log_with(area: &[u8]) -> Vec<u8> {
    let mut f = Header::new(Schema::new(), 42).encode();
    f.extend_from_slice(area);
    f
}

/// One record of key 1 whose `prev` is its own offset (4096).
fn history(payload: usize) {
    let dir = tmp();
    let rec = encode_record(
        Kind::Data,
        Some(1),
        Some(HEADER_LEN),
        None,
        0,
        &vec![7u8; payload],
    );
    let path = dir.join("loop.log");
    std::fs::write(&path, log_with(&rec)).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let before = peak_rss_mib();
    let t = Instant::now();
    let r = LogReader::open(&path).unwrap();
    let res = r.history(1);
    println!(
        "history: file {size} bytes -> {:?} after {:.2?}, peak RSS {} MiB -> {} MiB",
        res.map(|v| v.len()).map_err(|e| e.to_string()),
        t.elapsed(),
        before,
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Every 16 bytes a data `word0` claiming the rest of the file, followed
/// by a `word1` whose payload length matches, and a wrong CRC.
fn resync(area_len: usize) {
    let dir = tmp();
    let mut area = vec![0u8; area_len];
    let mut q = 0;
    while q + 16 <= area_len {
        let len = ((area_len - q) / 8 * 8).min(u32::MAX as usize - 7);
        let w0 = Word0 {
            len: len as u32,
            kind: Kind::Data,
            has_key: false,
            has_prev: false,
            has_time: false,
            flags: Flags(0),
        }
        .pack();
        let w1 = 0xDEAD_BEEFu64 | (((len - 16) as u64) << 32);
        area[q..q + 8].copy_from_slice(&w0.to_le_bytes());
        area[q + 8..q + 16].copy_from_slice(&w1.to_le_bytes());
        q += 16;
    }
    let path = dir.join("resync.log");
    std::fs::write(&path, log_with(&area)).unwrap();
    let t = Instant::now();
    let report = mapio::log::verify(&path).unwrap();
    println!(
        "resync: record area {area_len} bytes -> verify took {:.2?} ({} damaged range(s), {} records)",
        t.elapsed(),
        report.damaged.len(),
        report.records
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A matching index whose list for key 1 names the one record `n` times.
fn index(n: usize, payload: usize) {
    let dir = tmp();
    let rec = encode_record(Kind::Data, Some(1), None, None, 0, &vec![7u8; payload]);
    let path = dir.join("run.log");
    std::fs::write(&path, log_with(&rec)).unwrap();
    let created = LogReader::open(&path).unwrap().header().created_ns;
    let mut b = vec![0u8; HEADER];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[idx::CREATED..idx::CREATED + 8].copy_from_slice(&created.to_le_bytes());
    b[24..32].copy_from_slice(&(HEADER_LEN + rec.len() as u64).to_le_bytes()); // covered
    b[48..56].copy_from_slice(&(n as u64).to_le_bytes()); // records
    b[idx::N_KEYS..idx::N_KEYS + 8].copy_from_slice(&1u64.to_le_bytes());
    b[idx::N_ENTRIES..idx::N_ENTRIES + 8].copy_from_slice(&(n as u64).to_le_bytes());
    b[idx::WIDTH..idx::WIDTH + 8].copy_from_slice(&4u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes()); // key 1
    b.extend_from_slice(&0u64.to_le_bytes()); // its list starts at entry 0
    b.extend_from_slice(&(n as u64).to_le_bytes()); // and ends at n
    for _ in 0..n {
        // The first record's offset / 8, n times.
        b.extend_from_slice(&((HEADER_LEN / 8) as u32).to_le_bytes());
    }
    b.resize(b.len().next_multiple_of(8), 0);
    fix_index_crc(&mut b);
    std::fs::write(Index::path_for(&path, None), &b).unwrap();
    let before = peak_rss_mib();
    let t = Instant::now();
    let set = LogSet::open(&path, &SetOptions::new()).unwrap();
    let res = set.history(1).map(|v| v.len());
    println!(
        "index: log {} bytes, index {} bytes -> LogSet::history {:?} after {:.2?}, peak RSS {} MiB -> {} MiB",
        std::fs::metadata(&path).unwrap().len(),
        b.len(),
        res.map_err(|e| e.to_string()),
        t.elapsed(),
        before,
        peak_rss_mib()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `Index::save` writes `<index>.tmp<pid>` with mode w+ (O_CREAT without
/// O_EXCL or O_NOFOLLOW): a symlink planted at that name is followed and
/// its target overwritten.
fn tmpfile() {
    let dir = tmp();
    let log = dir.join("run.log");
    let l = mapio::log::LogOptions::new()
        .background_allocation(false)
        .step(4096)
        .create(&log)
        .unwrap();
    l.append(&mapio::log::Entry::new().key(1), b"x").unwrap();
    l.close().unwrap();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"precious data\n").unwrap();
    let ipath = Index::path_for(&log, None);
    let planted = ipath.with_extension(format!("idx.tmp{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let reader = LogReader::open(&log).unwrap();
    let idx = Index::build(&reader, None).unwrap();
    let r = idx.save(&ipath);
    let now = std::fs::read(&victim).unwrap();
    println!(
        "tmpfile: save -> {:?}; symlink {} planted; victim now {} bytes, starts {:?}",
        r.map_err(|e| e.to_string()),
        planted.display(),
        now.len(),
        String::from_utf8_lossy(&now[..now.len().min(8)])
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A path that is not a regular file and reports size 0.
fn devzero() {
    let dir = tmp();
    let log = dir.join("z.log");
    std::os::unix::fs::symlink("/dev/zero", &log).unwrap();
    let t = Instant::now();
    println!("devzero: LogReader::open(symlink to /dev/zero) ... (watch memory)");
    let r = LogReader::open(&log);
    println!("devzero: -> {:?} after {:.2?}", r.map(|_| ()), t.elapsed());
    let _ = std::fs::remove_dir_all(dir);
}

/// A `.npy` whose header is 64 bytes (data at offset 74, which
/// `parse_header` accepts: other writers need not align), opened as an
/// array of `AtomicU64`: element 0 is then read and written at byte 72,
/// two bytes inside the header.
fn atomic() {
    use mapio::array::ArrayOptions;
    use mapio::map::Mode;
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tmp();
    let path = dir.join("a.npy");
    let dict = b"{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }";
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    f.extend_from_slice(&64u16.to_le_bytes());
    f.extend_from_slice(dict);
    f.resize(10 + 63, b' ');
    f.push(b'\n');
    f.extend_from_slice(&1u64.to_le_bytes());
    f.extend_from_slice(&2u64.to_le_bytes());
    std::fs::write(&path, &f).unwrap();
    let h = mapio::array::npy::parse_header(&f).unwrap();
    let a = ArrayOptions::new()
        .mode(Mode::ReadWrite)
        .open_atomic_npy::<AtomicU64>(&path);
    match a {
        Ok(a) => {
            let before = (a.load(0, Ordering::SeqCst), a.load(1, Ordering::SeqCst));
            a.as_slice().unwrap()[0].store(u64::MAX, Ordering::SeqCst);
            drop(a);
            let after = std::fs::read(&path).unwrap();
            println!(
                "atomic: data_offset {} -> opened; elements read as {before:?} (file holds (Some(1), Some(2))); \
                 after storing element 0, header bytes 72..74 are {:?} (were {:?}); parse_header now: {:?}",
                h.data_offset,
                &after[72..74],
                &f[72..74],
                mapio::array::npy::parse_header(&after).map(|h| h.shape)
            );
        }
        Err(e) => println!("atomic: refused: {e}"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `File::open` opens (without `O_NONBLOCK`) before it checks that the
/// path is a regular file: opening a FIFO read-only blocks until a writer
/// appears. Each open runs on a thread; the result is reported after 2 s.
fn fifo() {
    let dir = tmp();
    let path = dir.join("pipe.npy");
    let ok = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .map(|s| s.success());
    if ok.ok() != Some(true) {
        println!("fifo: mkfifo failed");
        return;
    }
    type Opener = fn(&Path) -> String;
    let openers: [(&str, Opener); 3] = [
        ("MappedFile::open(r)", |p| {
            format!(
                "{:?}",
                mapio::map::MappedFile::open(p, mapio::map::Mode::ReadOnly).map(|_| ())
            )
        }),
        ("DynArray::open_npy", |p| {
            format!("{:?}", mapio::array::DynArray::open_npy(p).map(|_| ()))
        }),
        ("LogReader::open", |p| {
            format!("{:?}", LogReader::open(p).map(|_| ()))
        }),
    ];
    for (name, f) in openers {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(f(&p));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(2)) {
            Ok(r) => println!("fifo: {name} -> {r}"),
            Err(_) => println!("fifo: {name} -> still blocked after 2 s"),
        }
    }
    // Unblock the stuck opens so the process can exit.
    for _ in 0..3 {
        let _ = std::fs::OpenOptions::new().write(true).open(&path);
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "history" => {
            for p in [4 << 10, 16 << 10, 64 << 10] {
                history(p);
            }
        }
        "resync" => {
            for n in [64 << 10, 128 << 10, 256 << 10, 512 << 10] {
                resync(n);
            }
        }
        "index" => {
            for (n, p) in [(1000, 16 << 10), (4000, 16 << 10), (16000, 16 << 10)] {
                index(n, p);
            }
        }
        "tmpfile" => tmpfile(),
        "devzero" => devzero(),
        "atomic" => atomic(),
        "fifo" => fifo(),
        _ => eprintln!("usage: hostile_files history|resync|index|tmpfile|atomic|fifo|devzero"),
    }
    let _ = Path::new(".");
}
