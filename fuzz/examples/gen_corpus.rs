//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`
//! from real files made by the library itself: `.npy` files of several
//! dtypes, orders and versions, log header pages, logs with records
//! (closed cleanly, crashed, recovered), and a real sidecar index.
//!
//! ```text
//! cd fuzz && cargo run --example gen_corpus
//! ```
//!
//! Seeds are small (the whole corpus stays well under 200 KiB): libFuzzer
//! learns from structure, not from size.

use std::path::{Path, PathBuf};

use mapio::array::npy::Header as NpyHeader;
use mapio::array::{ArrayOptions, DType, Order};
use mapio::log::format::{HEADER_LEN, Header as LogHeader};
use mapio::log::index::Index;
use mapio::log::{Chain, Entry, Flags, LogOptions, LogReader, Schema};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    dir
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(format!("seed-{name}")), bytes).expect("write seed");
}

fn small_log(dir: &Path, name: &str, schema: Schema, n: u64, close: bool) -> PathBuf {
    let path = dir.join(name);
    let opts = LogOptions::new()
        .schema(schema)
        .background_allocation(false)
        .step(4096);
    let log = opts.create(&path).expect("create log");
    for i in 0..n {
        let e = match i % 4 {
            0 => Entry::new()
                .key(i % 3)
                .time((i / 3) as f64)
                .flags(Flags::CREATE),
            1 => Entry::new().key(i % 3).time((i / 3) as f64),
            2 => Entry::new().time(i as f64).chain(Chain::None),
            _ => Entry::new(),
        };
        let payload: Vec<u8> = (0..(i as usize * 7) % 40)
            .map(|b| b as u8 ^ i as u8)
            .collect();
        log.append(&e, &payload).expect("append");
    }
    if close {
        log.close().expect("close");
    } else {
        log.sync().expect("sync");
        drop(log); // a crash: no end record, allocated zeros after the tail
    }
    path
}

/// A program for `mapio_fuzz::build_record_area` (see its op codes).
fn program() -> Vec<u8> {
    let mut p = Vec::new();
    // data record: key 1, prev auto, time 3, small payload "hello"
    p.extend_from_slice(&[0, 0b0000_0111, 1, 3, 5]);
    p.extend_from_slice(b"hello");
    // data record: key 1 chained, no time
    p.extend_from_slice(&[1, 0b0000_0011, 1, 4]);
    p.extend_from_slice(b"abcd");
    // padding of 24 bytes
    p.extend_from_slice(&[4, 2]);
    // hole of 16 bytes
    p.extend_from_slice(&[6, 1]);
    // data record pointing at itself
    p.extend_from_slice(&[2, 0b0010_0011, 2, 0]);
    // end record
    p.push(5);
    // garbage: 6 raw bytes
    p.extend_from_slice(&[7, 12, 0xde, 0xad, 0xbe, 0xef, 0x47, 0x4c]);
    // data record after the damage
    p.extend_from_slice(&[3, 0b0000_0101, 0, 9, 2, b'o', b'k']);
    p
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("mapio-gen-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");

    // --- .npy ---------------------------------------------------------
    let arrays: &[(&str, &str, &[usize], Order)] = &[
        ("f8-3x4-c", "<f8", &[3, 4], Order::C),
        ("i4-2x3-f", "<i4", &[2, 3], Order::Fortran),
        ("u1-5", "|u1", &[5], Order::C),
        ("b1-0d", "|b1", &[], Order::C),
        ("c8-2", "<c8", &[2], Order::C),
        ("be-i2-3", ">i2", &[3], Order::C),
        ("f4-0x3", "<f4", &[0, 3], Order::C),
        ("u8-2x1x2-f", "<u8", &[2, 1, 2], Order::Fortran),
    ];
    for (name, descr, shape, order) in arrays {
        let dtype = DType::parse(descr).expect("dtype");
        let path = tmp.join(format!("{name}.npy"));
        let mut a = ArrayOptions::new()
            .order(*order)
            .create_dyn_npy(&path, dtype, shape)
            .expect("create npy");
        for (i, b) in a.data_mut().expect("data").iter_mut().enumerate() {
            *b = (i * 37) as u8;
        }
        a.close().expect("close npy");
        let bytes = std::fs::read(&path).expect("read npy");
        seed("npy_file", name, &bytes);
        let h = mapio::array::npy::parse_header(&bytes).expect("parse");
        seed("npy_header", name, &bytes[..h.data_offset]);
    }
    for (v, name) in [((2, 0), "v2"), ((3, 0), "v3")] {
        let h = NpyHeader::new(DType::F64, false, vec![2, 2]);
        let mut bytes = h.to_bytes_with_version(v).expect("version");
        seed("npy_header", &format!("f8-{name}"), &bytes);
        bytes.extend_from_slice(&[0u8; 32]);
        seed("npy_file", &format!("f8-2x2-{name}"), &bytes);
    }
    // What other writers produce: compact, double quotes, no alignment.
    let dict = br#"{"descr":"<i2","shape":(2,),"fortran_order":False}"#;
    let mut odd = b"\x93NUMPY\x01\x00".to_vec();
    odd.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    odd.extend_from_slice(dict);
    seed("npy_header", "compact", &odd);
    odd.extend_from_slice(&[1, 0, 2, 0]);
    seed("npy_file", "compact-unaligned", &odd);

    // --- log header ---------------------------------------------------
    let schema = Schema::new()
        .field("pos", DType::F64, 3)
        .and_then(|s| s.field("id", DType::U32, 1))
        .and_then(|s| s.field("m", DType::parse(">f4").expect("dtype"), 2))
        .expect("schema");
    let page = LogHeader::new(schema.clone(), 1_700_000_000_000_000_000).encode();
    seed("log_header", "schema", &page);
    seed(
        "log_header",
        "empty",
        &LogHeader::new(Schema::new(), 0).encode(),
    );
    // Fixed-up mode: mode byte, 16 bytes of created/count/payload_len, table.
    let mut fix = vec![0u8];
    fix.extend_from_slice(&page[16..32]);
    fix.extend_from_slice(&page[512..512 + 3 * 48]);
    seed("log_header", "fixup-schema", &fix);

    // --- logs -----------------------------------------------------------
    let clean = small_log(&tmp, "clean.log", Schema::new(), 12, true);
    let clean_bytes = std::fs::read(&clean).expect("read log");
    let mut whole = vec![3u8];
    whole.extend_from_slice(&clean_bytes);
    seed("log_scan", "whole-clean", &whole);
    let mut raw = vec![2u8];
    raw.extend_from_slice(&clean_bytes[HEADER_LEN as usize..]);
    seed("log_scan", "raw-area-clean", &raw);
    let mut raw = vec![2u8 | 0x20];
    let with_schema = small_log(&tmp, "schema.log", schema, 6, true);
    raw.extend_from_slice(&std::fs::read(&with_schema).expect("read")[HEADER_LEN as usize..]);
    seed("log_scan", "raw-area-schema", &raw);
    // A crash: trailing allocated zeros cut to 64 bytes.
    let crashed = small_log(&tmp, "crashed.log", Schema::new(), 5, false);
    let bytes = std::fs::read(&crashed).expect("read");
    let used = LogReader::open(&crashed).expect("open").scan().end_offset as usize;
    let mut raw = vec![2u8];
    raw.extend_from_slice(&bytes[HEADER_LEN as usize..(used + 64).min(bytes.len())]);
    seed("log_scan", "raw-area-crashed", &raw);
    // Built programs, with each recovery policy and counters.
    let p = program();
    for (name, mode) in [
        ("program-skip", 0u8),
        ("program-stop", 4),
        ("program-recover", 0xC8),
        ("program-schema", 0x20),
    ] {
        let mut s = vec![mode];
        s.extend_from_slice(&p);
        seed("log_scan", name, &s);
    }
    let mut s = vec![0x10u8];
    for v in [8192u64, 8192, 4096, 1, 3] {
        s.extend_from_slice(&v.to_le_bytes());
    }
    s.extend_from_slice(&p);
    seed("log_scan", "program-counters", &s);

    // --- index ----------------------------------------------------------
    let reader = LogReader::open(&clean).expect("open");
    let idx = Index::build(&reader, None).expect("build index");
    let enc = idx.encode();
    let mut s = vec![1u8];
    s.extend_from_slice(&enc);
    seed("index_decode", "real", &s);
    // Built mode: shape, n_keys, lists_len, n_cps, then the rest.
    let mut s = vec![0u8, 0, 3, 6, 2];
    s.extend_from_slice(&enc[16..128]);
    s.extend_from_slice(&[1, 0, 2, 2, 3, 4]);
    s.extend_from_slice(&[0x81, 0x20, 0x10, 0x90, 0x20, 0x08]);
    s.extend_from_slice(&[0, 0, 0, 1, 1, 2]);
    seed("index_decode", "built", &s);
    // index_update: mode, pick, covered_at, then an index.
    let mut s = vec![1u8, 3, 4];
    s.extend_from_slice(&enc);
    seed("index_update", "real-other-log", &s);
    let mut s = vec![0u8, 5, 10, 0, 3, 6, 2];
    s.extend_from_slice(&enc[16..128]);
    s.extend_from_slice(&[0, 0, 1, 2, 2, 3]);
    s.extend_from_slice(&[0x90, 0x20, 0x10, 0x90, 0x20, 0x08]);
    s.extend_from_slice(&[0, 0, 0, 1, 1, 2]);
    seed("index_update", "built", &s);

    let _ = std::fs::remove_dir_all(&tmp);
    let mut total = 0u64;
    for t in [
        "npy_header",
        "npy_file",
        "log_header",
        "log_scan",
        "index_decode",
        "index_update",
    ] {
        for e in std::fs::read_dir(corpus(t)).expect("corpus") {
            total += e.expect("entry").metadata().expect("meta").len();
        }
    }
    println!("seed corpus: {total} bytes");
}
