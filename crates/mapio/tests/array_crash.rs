//! Kill loop for array writers: a child process streams rows into an
//! appendable `.npy` and bytes into a growing raw map, flushing now and
//! then and reporting what each flush covered; the parent kills it with
//! SIGKILL at a random instant and checks that everything flushed is
//! intact, that the `.npy` opens (its header never describes rows that
//! were not written), and that writing can continue.
//!
//! `MAPIO_ARRAY_KILLS` sets the number of kills (default 40). Every
//! `KILLS_PER_FILE` kills the loop starts a fresh pair of files, so that a
//! long loop checks a bounded file per kill instead of one that grows
//! without end. It prints a `SCORE ... area=arrays` line for
//! `scripts/torture`.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mapio::array::{AppendableArray, Array, ArrayOptions};
use mapio::map::{MappedFile, Mode};

const ROW: usize = 4;
/// Kills per pair of files (the default number of kills: one pair).
const KILLS_PER_FILE: u32 = 40;

fn row(i: u64) -> [u64; ROW] {
    [i, i.wrapping_mul(3), i ^ 0x5555, !i]
}

fn raw_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// The child: appends rows and raw bytes forever, reporting flushes.
#[test]
fn child_array_writer() {
    let Some(role) = common::child_role() else {
        return;
    };
    assert_eq!(role, "array-writer");
    let npy = std::path::PathBuf::from(common::child_param("MAPIO_NPY"));
    let raw = std::path::PathBuf::from(common::child_param("MAPIO_RAW"));
    let mut rows = if npy.exists() {
        ArrayOptions::new().open_appendable::<u64>(&npy).unwrap()
    } else {
        AppendableArray::<u64>::create(&npy, &[ROW]).unwrap()
    };
    let mut map = MappedFile::options()
        .mode(if raw.exists() {
            Mode::ReadWrite
        } else {
            Mode::Create
        })
        .reserve(1 << 30)
        .open(&raw)
        .unwrap();
    // A raw file's size says what was allocated, not what was written:
    // continue after what the parent saw flushed.
    let flushed: u64 = common::child_param("MAPIO_RAW_FLUSHED").parse().unwrap();
    map.set_len(flushed).unwrap();
    println!("STARTED rows={} raw={}", rows.rows(), map.len());
    let mut next = rows.rows() as u64;
    let mut raw_len = map.len() as u64;
    loop {
        for _ in 0..2000 {
            rows.push(&row(next)).unwrap();
            next += 1;
        }
        let grow = 5000;
        map.set_len(raw_len + grow).unwrap();
        let s = map.as_mut_slice().unwrap();
        for i in raw_len..raw_len + grow {
            s[i as usize] = raw_byte(i);
        }
        raw_len += grow;
        rows.flush().unwrap();
        map.flush().unwrap();
        println!("FLUSHED rows={next} raw={raw_len}");
    }
}

#[test]
fn kill_loop() {
    if common::child_role().is_some() {
        return;
    }
    let _serial = common::serial();
    let kills: u32 = std::env::var("MAPIO_ARRAY_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("rows.npy");
    let raw = dir.path().join("raw.bin");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut checked_rows = 0u64;
    let mut raw_flushed = 0u64;
    for k in 0..kills {
        if k > 0 && k % KILLS_PER_FILE == 0 {
            // A fresh pair of files (see KILLS_PER_FILE).
            std::fs::remove_file(&npy).unwrap();
            std::fs::remove_file(&raw).unwrap();
            raw_flushed = 0;
        }
        let mut child = common::child_command(
            "child_array_writer",
            "array-writer",
            &[
                ("MAPIO_NPY", npy.display().to_string()),
                ("MAPIO_RAW", raw.display().to_string()),
                ("MAPIO_RAW_FLUSHED", raw_flushed.to_string()),
            ],
        )
        .spawn()
        .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until it started, then kill at a random instant.
        // (The test harness prints its own lines first.)
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("the child did not start");
            if line.contains("STARTED") {
                break;
            }
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(500 + rng % 60_000));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let mut flushed = (0u64, raw_flushed);
        while let Ok(line) = rx.try_recv() {
            if let Some(rest) = line.split("FLUSHED ").nth(1) {
                let mut it = rest
                    .split(' ')
                    .map(|kv| kv.split('=').nth(1).unwrap().parse::<u64>().unwrap());
                flushed = (it.next().unwrap(), it.next().unwrap());
            }
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "kill {k}: the child died otherwise: {status:?}"
        );
        // Everything flushed is there and intact; the header never
        // describes rows that were not written.
        let a = Array::<u64>::open_npy(&npy, Mode::ReadOnly)
            .unwrap_or_else(|e| panic!("kill {k}: {e}"));
        let n = a.shape()[0] as u64;
        assert!(n >= flushed.0, "kill {k}: {n} rows, {} flushed", flushed.0);
        for (i, r) in a.as_slice().chunks_exact(ROW).enumerate() {
            assert_eq!(r, row(i as u64), "kill {k}: row {i} of {n}");
        }
        checked_rows += n;
        drop(a);
        let m = MappedFile::open(&raw, Mode::ReadOnly).unwrap();
        assert!(m.len() as u64 >= flushed.1, "kill {k}");
        for i in 0..flushed.1 {
            assert_eq!(m[i as usize], raw_byte(i), "kill {k}: raw byte {i}");
        }
        drop(m);
        raw_flushed = flushed.1;
        // The next child continues the same files: reopening works.
    }
    println!(
        "SCORE kills={kills} rows_checked={checked_rows} files={} area=arrays",
        kills.div_ceil(KILLS_PER_FILE)
    );
    // The files grew across the kills: writing continued each time.
    let a = Array::<u64>::open_npy(&npy, Mode::ReadOnly).unwrap();
    assert!(a.shape()[0] > 0);
}
