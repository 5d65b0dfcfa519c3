#!/usr/bin/env python3
"""An independent reader of mapio's own file formats, written from FORMAT.md
alone: the continuous log (`.log`, format version 1, section 1) and its
sidecar index (`.idx`, version 4, section 3).  It does not share code with
mapio (Python standard library + NumPy only); its job is to check that
FORMAT.md describes the files mapio writes, as they are written: it parses a
log and its index, checks every rule the spec states, and compares its
decoding with what the `mapio` tool prints.  `tests/format_spec.rs` runs it
under `cargo test`; `craft.py` next to it writes logs by hand (features the
CLI cannot produce, crash damage).

Usage:
  specread.py check LOG [--index IDX] [--cat-json FILE] [--mapio BIN]
                        [--keys K,K,..] [--times T,T,..] [--quiet]
                        [--expect-index | --fresh-index]
  specread.py dump LOG                      # records as JSON lines
  specread.py history LOG --key K [--index IDX]
  specread.py at LOG --time T [--index IDX]

`check` parses the log (and the index, if given or if LOG.idx exists),
validates everything FORMAT.md states, and, if --cat-json or --mapio is
given, compares with the tool (`cat --json`, `info --json`,
`verify --json`, `history --json`, `at --json`).  Exit status 0 when
everything matches, 1 on any spec violation or mismatch (each printed to
stderr as a `MISMATCH [section] ...` line; `note` lines are not failures),
2 on usage error.

By hand, from the repository root:
  cargo build
  B=target/debug/mapio
  $B demo --log /tmp/d.log --no-follow --no-compare --particles 500 --steps 8
  $B index /tmp/d.log
  python3 tests/spec/specread.py check /tmp/d.log --mapio $B --fresh-index
  python3 tests/spec/craft.py features /tmp/f.log
  python3 tests/spec/specread.py check /tmp/f.log --mapio $B \
      --keys 1,2,3,4,5,6,7,8,9,10,11,12,13,14 --times=-inf,-1,0,0.5,1,1.5,2,2.5,3,4,5,6,7,inf
"""
import argparse
import bisect
import fcntl
import json
import math
import mmap
import os
import re
import struct
import subprocess
import sys

import numpy as np

# ---------------------------------------------------------------- CRC32C
CRC_POLY = 0x82F63B78  # Castagnoli, reflected


def _make_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ CRC_POLY if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _make_table()
CRC_TABLE_NP = np.array(CRC_TABLE, dtype=np.uint32)


def crc32c(data, crc=0):
    """Table-driven CRC32C; crc32c(b, crc32c(a)) == crc32c(a + b)."""
    t = CRC_TABLE
    crc ^= 0xFFFFFFFF
    for b in bytes(data):
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_np(arr):
    """CRC32C of a 1-d uint8 array (same table, numpy loop-free per byte is
    not possible; this walks the bytes but avoids Python bytes objects)."""
    return crc32c(arr.tobytes())


def crc32c_rows(mat):
    """CRC32C of every row of a 2-d uint8 matrix, vectorized over rows."""
    crc = np.full(mat.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(mat.shape[1]):
        crc = CRC_TABLE_NP[(crc ^ mat[:, j]) & 0xFF] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


assert crc32c(b"123456789") == 0xE3069283
assert crc32c(b"6789", crc32c(b"12345")) == 0xE3069283
assert int(crc32c_rows(np.frombuffer(b"123456789", np.uint8)[None, :])[0]) == 0xE3069283

# ---------------------------------------------------------------- constants
HEADER_LEN = 4096
TAG = 0x4C47
KIND_DATA, KIND_PAD, KIND_END = 1, 2, 3
FLAG_NAMES = {0: "create", 1: "delete", 2: "enter", 3: "exit"}
F_CREATE, F_DELETE, F_ENTER, F_EXIT = 1, 2, 4, 8
RESERVED_NAMES = {"key", "time", "offset", "file"}
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
WRITER_BYTE = (1 << 63) - 1 - 3


class Problems:
    """Collects spec violations and tool mismatches."""

    def __init__(self, quiet=False):
        self.items = []
        self.notes = []
        self.quiet = quiet

    def err(self, where, msg):
        self.items.append((where, msg))
        if not self.quiet:
            print(f"MISMATCH [{where}] {msg}", file=sys.stderr)

    def note(self, where, msg):
        self.notes.append((where, msg))
        if not self.quiet:
            print(f"note [{where}] {msg}", file=sys.stderr)


def align8(n):
    return (n + 7) & ~7


# ---------------------------------------------------------------- header
class LogError(Exception):
    pass


def parse_header(buf, P):
    if len(buf) < HEADER_LEN:
        raise LogError(f"file is {len(buf)} bytes, shorter than the 4096-byte header")
    h = {}
    h["magic"] = bytes(buf[0:8])
    if h["magic"] != b"MAPIOLOG":
        raise LogError(f"bad magic {h['magic']!r}")
    h["version"], h["header_len"] = struct.unpack_from("<II", buf, 8)
    (h["created_ns"],) = struct.unpack_from("<Q", buf, 16)
    h["field_count"], h["payload_len"] = struct.unpack_from("<II", buf, 24)
    (h["tail"],) = struct.unpack_from("<Q", buf, 256)
    h["allocated"], h["synced"], h["state"], h["sessions"], h["session_start"] = \
        struct.unpack_from("<QQQQQ", buf, 320)
    (h["header_crc"],) = struct.unpack_from("<I", buf, 4092)
    calc = crc32c(bytes(buf[256:256]) + bytes(buf[0:256]) + bytes(buf[512:4092]))
    if calc != h["header_crc"]:
        raise LogError(f"header_crc mismatch: stored {h['header_crc']:#010x}, computed {calc:#010x}")
    if h["version"] != 1:
        raise LogError(f"log format version {h['version']} is newer than this mapio understands (1)")
    if h["header_len"] != HEADER_LEN:
        # 1.1: a reader refuses a header_len that is not 4096
        raise LogError(f"header_len is {h['header_len']}, not 4096")
    # reserved zeros
    n = h["field_count"]
    schema_end = 512 + 48 * n
    if schema_end > 4092:
        raise LogError(f"field_count {n} does not fit in the header")
    for a, b, what in ((32, 256, "reserved 32..256"), (264, 320, "padding 264..320"),
                       (360, 512, "reserved 360..512"), (schema_end, 4092, "reserved after schema")):
        nz = [i for i in range(a, b) if buf[i]]
        if nz:
            P.err("1.1 reserved", f"{what} not zero (first non-zero byte at {nz[0]})")
    ss = h["session_start"]
    if ss != 0 and (ss < HEADER_LEN or ss % 8 != 0):
        P.err("1.1 session_start", f"session_start is {ss}: 0, or a record boundary from 4096")
    if h["state"] not in (0, 1):
        P.err("1.1 state", f"state is {h['state']}, spec says 0 or 1")
    if (n == 0) != (h["payload_len"] == 0):
        P.note("1.1 schema", f"field_count {n} but payload_len {h['payload_len']} (0 = no schema for both)")
    # schema
    fields = []
    names = set()
    for i in range(n):
        base = 512 + 48 * i
        raw_name = bytes(buf[base:base + 32])
        raw_dt = bytes(buf[base + 32:base + 40])
        count, offset = struct.unpack_from("<II", buf, base + 40)
        name = raw_name.split(b"\0", 1)[0]
        if not name or len(name) > 31 or raw_name[len(name):] != b"\0" * (32 - len(name)):
            raise LogError(f"schema field {i}: name slot {raw_name!r} is not 1..31 bytes NUL-padded")
        try:
            sname = name.decode("ascii")
        except UnicodeDecodeError:
            raise LogError(f"schema field {i}: field name {name!r} is not allowed")
        if not NAME_RE.match(sname) or sname in RESERVED_NAMES or sname in names:
            raise LogError(f'schema field {i}: field name "{sname}" is not allowed')
        names.add(sname)
        dts = raw_dt.split(b"\0", 1)[0]
        if raw_dt[len(dts):] != b"\0" * (8 - len(dts)):
            raise LogError(f"schema field {i}: dtype slot {raw_dt!r} not NUL-padded")
        try:
            dt = np.dtype(dts.decode("ascii"))
        except Exception:
            raise LogError(f"schema field {i}: dtype {dts!r} does not parse")
        if offset + dt.itemsize * count > h["payload_len"]:
            raise LogError(f"schema field {i}: {sname} [{offset}, {offset + dt.itemsize * count}) "
                           f"outside payload_len {h['payload_len']}")
        fields.append({"name": sname, "dtype": dts.decode(), "count": count, "offset": offset, "np": dt})
    h["fields"] = fields
    return h


def share_lock(fd):
    """mapio's atomic-sharing lock (FORMAT.md 2): flock(LOCK_SH) plus an OFD
    read lock on byte i64::MAX - 1, so that a closing writer does not
    truncate the file under this reader's map."""
    F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, (1 << 63) - 2, 1, 0))
        return True
    except OSError as e:
        print(f"note: could not take the sharing lock: {e}", file=sys.stderr)
        return False


def writer_live(path):
    """True if some process holds an OFD write lock on the writer byte."""
    F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        req = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, WRITER_BYTE, 1, 0)
        res = fcntl.fcntl(fd, F_OFD_GETLK, req)
        l_type = struct.unpack("hhqqi4x", res)[0]
        return l_type != fcntl.F_UNLCK
    except OSError:
        return None
    finally:
        os.close(fd)


# ---------------------------------------------------------------- records
def nopt(w0):
    return ((w0 >> 36) & 1) + ((w0 >> 37) & 1) + ((w0 >> 38) & 1)


def word0_problem(w0, off, size, u8):
    """None if word0 (and the lengths it implies) are valid, else why."""
    if w0 >> 48 != TAG:
        return "tag"
    ln = w0 & 0xFFFFFFFF
    kind = (w0 >> 32) & 0xF
    if kind not in (1, 2, 3):
        return "kind"
    if (w0 >> 39) & 1:
        return "bit 39"
    if ln % 8:
        return "len not a multiple of 8"
    if ln < 16 and not (kind == KIND_PAD and ln == 8):
        return "len < 16"
    if off + ln > size:
        return "len past end of file"
    if kind == KIND_END and ln != 16:
        return "end len != 16"
    if ln >= 16:
        (pl,) = struct.unpack_from("<I", u8, off + 12)
        f = nopt(w0)
        if kind == KIND_DATA:
            if align8(16 + 8 * f + pl) != ln:
                return f"len {ln} != align8(16+8*{f}+payload_len {pl})"
        else:
            if f or pl:
                return "padding/end with optional fields or payload_len"
    return None


def crc_range_len(w0, u8, off):
    ln = w0 & 0xFFFFFFFF
    kind = (w0 >> 32) & 0xF
    if kind != KIND_DATA:
        return 4
    pl = int.from_bytes(u8[off + 12:off + 16].tobytes(), "little")
    return 4 + 8 * nopt(w0) + pl


def crc_ok_single(u8, off, w0):
    ln = w0 & 0xFFFFFFFF
    if ln == 8:
        return True  # lone word0, no crc word
    L = crc_range_len(w0, u8, off)
    stored = int.from_bytes(u8[off + 8:off + 12].tobytes(), "little")
    return crc32c(u8[off + 12:off + 12 + L].tobytes() + u8[off:off + 8].tobytes()) == stored


def crc_ok_batch(u8, offs, w0s):
    """Vectorized CRC check of many records; returns a bool array."""
    ok = np.ones(len(offs), dtype=bool)
    offs = np.asarray(offs, dtype=np.int64)
    w0s = np.asarray(w0s, dtype=np.uint64)
    if len(offs) == 0:
        return ok
    lens = (w0s & np.uint64(0xFFFFFFFF)).astype(np.int64)
    kinds = ((w0s >> np.uint64(32)) & np.uint64(0xF)).astype(np.int64)
    f = (((w0s >> np.uint64(36)) & np.uint64(1)) + ((w0s >> np.uint64(37)) & np.uint64(1))
         + ((w0s >> np.uint64(38)) & np.uint64(1))).astype(np.int64)
    safe = np.where(lens >= 16, offs, 0)
    pl = (u8[safe + 12].astype(np.int64) | (u8[safe + 13].astype(np.int64) << 8)
          | (u8[safe + 14].astype(np.int64) << 16) | (u8[safe + 15].astype(np.int64) << 24))
    L = np.where(kinds == KIND_DATA, 4 + 8 * f + pl, 4)
    stored = (u8[safe + 8].astype(np.uint32) | (u8[safe + 9].astype(np.uint32) << 8)
              | (u8[safe + 10].astype(np.uint32) << 16) | (u8[safe + 11].astype(np.uint32) << 24))
    has_crc = lens >= 16
    for Lv in np.unique(L[has_crc]):
        sel = np.nonzero(has_crc & (L == Lv))[0]
        for c0 in range(0, len(sel), 200_000):
            s = sel[c0:c0 + 200_000]
            o = offs[s]
            idx = np.concatenate([o[:, None] + 12 + np.arange(Lv)[None, :],
                                  o[:, None] + np.arange(8)[None, :]], axis=1)
            ok[s] = crc32c_rows(u8[idx]) == stored[s]
    return ok


class Record:
    __slots__ = ("offset", "len", "kind", "flags", "key", "prev", "time", "payload_len",
                 "payload_off", "crc", "w0")

    def to_json(self, header, u8, file=None):
        d = {"offset": self.offset, "len": self.len, "key": self.key, "prev": self.prev,
             "time": self.time, "flags": flag_names(self.flags), "payload_len": self.payload_len}
        flds = decode_fields(header, u8, self)
        if flds is not None:
            d["fields"] = flds
        if flds is None or 0 < self.payload_len < header["payload_len"]:
            # as `mapio cat --json` prints it: the first 64 bytes (no
            # schema, or a payload too short for it: its bytes are shown)
            n = min(self.payload_len, 64)
            d["payload_hex"] = bytes(u8[self.payload_off:self.payload_off + n]).hex()
        if file is not None:
            d["file"] = file
        return d


def flag_names(fl):
    out = []
    for b in range(8):
        if fl & (1 << b):
            out.append(FLAG_NAMES.get(b, 1 << b))  # the tool prints application bits as numbers
    return out


def _field_struct(f):
    dt = f["np"]
    if dt.kind in "fiub" and dt.byteorder in "<|=" and dt.itemsize in (1, 2, 4, 8) and dt.fields is None:
        code = {("f", 4): "f", ("f", 8): "d", ("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
                ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q", ("b", 1): "?"}.get((dt.kind, dt.itemsize))
        if code:
            return struct.Struct("<%d%s" % (f["count"], code))
    return None


def decode_fields(header, u8, r):
    # FORMAT.md 1.2 is silent on a record whose payload_len differs from the
    # schema's; like the tool, decode every field that lies inside the
    # record's payload and give null for the others.
    if not header["fields"]:
        return None
    out = {}
    for f in header["fields"]:
        if f["offset"] + f["np"].itemsize * f["count"] > r.payload_len:
            out[f["name"]] = None
            continue
        a = r.payload_off + f["offset"]
        st = f.setdefault("struct", _field_struct(f))
        if st is not None:
            vals = list(st.unpack_from(u8, a))
        else:
            n = f["np"].itemsize * f["count"]
            vals = np.frombuffer(bytes(u8[a:a + n]), dtype=f["np"]).tolist()
        out[f["name"]] = vals
    return out


def make_record(u8, off, w0):
    r = Record()
    r.offset = off
    r.w0 = w0
    r.len = w0 & 0xFFFFFFFF
    r.kind = (w0 >> 32) & 0xF
    r.flags = (w0 >> 40) & 0xFF
    r.key = r.prev = r.time = None
    r.payload_len = 0
    r.crc = None
    r.payload_off = off + 16
    if r.len >= 16:
        r.crc, r.payload_len = struct.unpack_from("<II", u8, off + 8)
    if r.kind == KIND_DATA:
        p = off + 16
        if (w0 >> 36) & 1:
            (r.key,) = struct.unpack_from("<Q", u8, p)
            p += 8
        if (w0 >> 37) & 1:
            (r.prev,) = struct.unpack_from("<Q", u8, p)
            p += 8
        if (w0 >> 38) & 1:
            (r.time,) = struct.unpack_from("<d", u8, p)
            p += 8
        r.payload_off = p
    return r


class Scan:
    def __init__(self):
        self.records = []      # every good record (data, padding, end) in file order
        self.holes = []        # (start, end) ranges of zeros where a crash can leave them (1.6)
        self.damaged = []      # (start, end) every other range that does not check
        self.trailing = None   # (start, end, all_zero) after the last good record
        self.end_offset = HEADER_LEN
        self.live_stop = None
        self.zero_damage = []  # zero-word0 ranges where no crash can leave a hole (damage)


def scan_log(u8, size, P, live=False, tail=None, buf=None, synced=None):
    """Scan from header_len to the end of the file (FORMAT.md 1.5, 1.6)."""
    S = Scan()
    buf = u8 if buf is None else buf
    w64 = np.frombuffer(u8, dtype="<u8", count=size // 8)
    pos = HEADER_LEN
    gaps = []              # (start, end, starts with a zero word0)
    if size % 8:
        P.note("1", f"file size {size} is not a multiple of 8")
    while pos + 8 <= size:
        # optimistic walk: follow word0 lengths while word0 is valid
        offs, w0s = [], []
        p = pos
        while p + 8 <= size:
            w0 = int(w64[p // 8])
            if w0 == 0 or word0_problem(w0, p, size, buf):
                break
            offs.append(p)
            w0s.append(w0)
            p += w0 & 0xFFFFFFFF
        ok = crc_ok_batch(u8, offs, w0s)
        bad = np.nonzero(~ok)[0]
        nacc = int(bad[0]) if len(bad) else len(offs)
        for i in range(nacc):
            S.records.append(make_record(buf, offs[i], w0s[i]))
        if nacc:
            pos = offs[nacc - 1] + (w0s[nacc - 1] & 0xFFFFFFFF)
        if pos + 8 > size:
            break
        # pos holds a zero word0, or one that does not check, or a bad crc
        w0 = int(w64[pos // 8])
        if live:
            cur_tail = struct.unpack_from("<Q", buf, 256)[0]  # the live header (shared map)
            if w0 == 0 or pos >= size - 8 or cur_tail > size:
                # 1.5: below tail a live reader waits for the writer; past the
                # end of this snapshot's map the record may still be growing.
                S.live_stop = pos
                P.note("1.5", f"live writer: stopping at {pos} (word0 {w0:#x}, tail now {cur_tail}, "
                              f"mapped {size}); a live reader would wait here")
                break
        nxt = find_next_good(u8, w64, pos + 8, size)
        end = nxt
        if nxt is None:
            seg = u8[pos:size]
            nz = np.flatnonzero(seg)
            S.trailing = (pos, size, len(nz) == 0)
            if len(nz):
                # 1.6: where no good record follows, the range ends at its
                # last non-zero 8-byte word (a torn record); the zeros after
                # it are unused allocation, not part of the range.
                end = pos + align8(int(nz[-1]) + 1)
                gaps.append((pos, end, w0 == 0))
                P.note("1.6", f"range [{pos}, {end}) after the last good record "
                              f"(tail {tail}, file size {size})")
            break
        gaps.append((pos, end, w0 == 0))
        pos = nxt
    # 1.6: a range that starts with a zero word0 (zeros, or a record torn
    # before its word0 was stored) is a hole only where a crash can have left
    # one: after the last end record and at or above `synced`.  Anywhere
    # else it is damage (lost records), like a range whose word0 or crc does
    # not check.
    last_end = max((r.offset + r.len for r in S.records if r.kind == KIND_END), default=HEADER_LEN)
    for (g0, g1, zero) in gaps:
        if zero and g0 >= last_end and (synced is None or g0 >= synced):
            S.holes.append((g0, g1))
        else:
            S.damaged.append((g0, g1))
            if zero:
                S.zero_damage.append((g0, g1))
    S.end_offset = (S.records[-1].offset + S.records[-1].len) if S.records else HEADER_LEN
    return S


def find_next_good(u8, w64, start, size):
    a = start // 8
    w = w64[a:]
    cand = np.nonzero((w >> np.uint64(48)) == np.uint64(TAG))[0]
    for c in cand:
        off = (a + int(c)) * 8
        w0 = int(w64[off // 8])
        if word0_problem(w0, off, size, u8) is None and crc_ok_single(u8, off, w0):
            return off
    return None


# ---------------------------------------------------------------- log object
class Log:
    def __init__(self, path, P):
        self.path = path
        self.P = P
        f = open(path, "rb")
        self.f = f
        self.shared = share_lock(f.fileno())  # FORMAT.md 2: attach as a sharer
        self.size = os.fstat(f.fileno()).st_size
        self.mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) if self.size else b""
        self.u8 = np.frombuffer(self.mm, dtype=np.uint8)
        self.header = parse_header(self.u8, P)
        self.live = writer_live(path)
        self.scan = scan_log(self.u8, self.size, P, live=bool(self.live), tail=self.header["tail"], buf=self.mm,
                             synced=self.header["synced"])
        self.data = [r for r in self.scan.records if r.kind == KIND_DATA]
        self.data_offs = [r.offset for r in self.data]
        self.pad_ranges = [(r.offset, r.offset + r.len) for r in self.scan.records if r.kind == KIND_PAD]
        self.by_off = {r.offset: r for r in self.scan.records}

    def check_records(self):
        P, u8 = self.P, self.u8
        # padding bytes of data records are zero
        for r in self.data:
            end_used = r.payload_off + r.payload_len
            if end_used < r.offset + r.len and self.mm[end_used:r.offset + r.len].strip(b"\0"):
                P.err("1.3 pad", f"record at {r.offset}: non-zero pad bytes")
            if r.time is not None and math.isnan(r.time):
                # 1.3: writers refuse a NaN time, but a reader meeting one (a
                # foreign or hand-written file) places the record nowhere, as
                # one without a time: not an error of the file
                P.note("1.3 time", f"record at {r.offset}: time is NaN (read as no time)")
        # session_start: where the current session's first record went,
        # i.e. 4096 or the end of a record (when it lies within the records)
        ss = self.header["session_start"]
        if ss and ss <= self.scan.end_offset:
            ends = {HEADER_LEN} | {r.offset + r.len for r in self.scan.records}
            if ss not in ends:
                P.err("1.1 session_start", f"session_start {ss} is not where a record ends")
        # prev links: 0 or a record of the same key; no loops
        nprev_forward = nprev_not_file_prev = 0
        last_of_key = {}
        for r in self.data:
            if r.prev is not None and r.prev != 0:
                t = self.by_off.get(r.prev)
                lost = any(a0 <= r.prev < b0 for a0, b0 in self.scan.holes + self.scan.damaged + self.pad_ranges)
                if (t is None and lost) or (t is not None and t.kind == KIND_PAD):
                    P.note("1.3 prev", f"record at {r.offset} (key {r.key}): prev {r.prev} lies in a hole/damaged range (or padding that recovery wrote over one)")
                elif t is None or t.kind != KIND_DATA or t.key != r.key:
                    P.err("1.3 prev", f"record at {r.offset} (key {r.key}): prev {r.prev} is not a record of that key")
                elif r.prev >= r.offset:
                    nprev_forward += 1
            if r.key is not None and r.prev is not None:
                exp = last_of_key.get(r.key, 0)
                if r.prev != exp:
                    nprev_not_file_prev += 1
            if r.key is not None:
                last_of_key[r.key] = r.offset
        if nprev_forward or nprev_not_file_prev:
            P.note("1.3 prev", f"{nprev_forward} forward prev links, {nprev_not_file_prev} prev != key's previous record in file")
        # loops
        for r in self.data:
            seen = set()
            x = r
            while x is not None and x.prev:
                if x.offset in seen:
                    P.err("1.3 prev", f"prev loop through {x.offset}")
                    break
                seen.add(x.offset)
                x = self.by_off.get(x.prev)
                if len(seen) > len(self.data):
                    break
            break  # chains are checked pairwise above; one walk is a smoke test

    def summary(self):
        h, S = self.header, self.scan
        times = [r.time for r in self.data if r.time is not None and not math.isnan(r.time)]
        keys = {r.key for r in self.data if r.key is not None}
        return {
            "version": h["version"], "sessions": h["sessions"], "clean": h["state"] == 1,
            "records": len(self.data), "keys": len(keys),
            "padding": sum(1 for r in S.records if r.kind == KIND_PAD),
            "ends": sum(1 for r in S.records if r.kind == KIND_END),
            "holes": [list(x) for x in S.holes], "damaged": [list(x) for x in S.damaged],
            "trailing": list(S.trailing) if S.trailing else None,
            "end_offset": S.end_offset, "file_size": self.size,
            "time_range": [min(times), max(times)] if times else None,
            "tail": h["tail"], "allocated": h["allocated"], "synced": h["synced"],
            "state": h["state"], "live": self.live,
            "schema": [{k: f[k] for k in ("name", "dtype", "count", "offset")} for f in h["fields"]],
        }


# ---------------------------------------------------------------- index
IDX_FMT = "<8sIIQQQQQQQQddQQQII"
assert struct.calcsize(IDX_FMT) == 128


class Index:
    def __init__(self, path, log, P, fresh=False):
        self.path, self.log, self.P = path, log, P
        self.fresh = fresh  # built on the log as it is now: covers all of it
        b = open(path, "rb").read()
        self.raw = b
        if len(b) < 128:
            raise LogError("index shorter than its 128-byte header")
        (magic, version, z12, self.log_created_ns, self.covered, self.last_offset, self.last_word1,
         self.records, self.n_keys, self.n_entries, self.n_cp, self.min_time, self.max_time,
         self.flags, self.width, self.n_unordered, z120, self.crc) = struct.unpack_from(IDX_FMT, b, 0)
        self.valid = True
        def bad(sec, msg):
            self.valid = False
            P.err(sec, msg)
        if magic != b"MAPIOIDX":
            raise LogError(f"index magic {magic!r}")
        if version != 4:
            # 3: version 4; older ones are read as stale and rebuilt, so an
            # index mapio just wrote must be version 4
            bad("3 version", f"index version {version}, not 4 (stale, would be rebuilt)")
        if z12 or z120:
            bad("3 header", f"reserved words not zero: {z12} {z120}")
        if self.width not in (4, 8):
            raise LogError(f"index width {self.width}")
        o = 128
        self.o_keys = o; o += 8 * self.n_keys
        self.o_starts = o; o += 8 * (self.n_keys + 1)
        self.o_entries = o; o += align8(self.width * self.n_entries)
        self.o_cp = o; o += 24 * self.n_cp
        self.o_unord = o; o += 8 * self.n_unordered
        if o != len(b):
            bad("3 layout", f"index is {len(b)} bytes, sections add up to {o}")
            if o > len(b):
                raise LogError("index truncated")
        calc = crc32c(b[0:124] + b[128:o])
        if calc != self.crc:
            alt = crc32c(b[0:124] + b[128:self.o_entries + self.width * self.n_entries] + b[self.o_cp:o])
            bad("3 crc", f"crc stored {self.crc:#010x}, computed {calc:#010x} "
                         f"(without entry padding: {alt:#010x})")
        self.keys = np.frombuffer(b, "<u8", self.n_keys, self.o_keys)
        self.starts = np.frombuffer(b, "<u8", self.n_keys + 1, self.o_starts)
        self.entries = np.frombuffer(b, "<u4" if self.width == 4 else "<u8", self.n_entries,
                                     self.o_entries).astype(np.uint64)
        cp = np.frombuffer(b, np.dtype([("t", "<f8"), ("pe", "<u8"), ("ss", "<u8")]), self.n_cp, self.o_cp)
        self.cp_t = cp["t"].copy()
        self.cp_pe = cp["pe"].astype(np.int64)
        self.cp_ss = cp["ss"].astype(np.int64)
        self.unordered = np.frombuffer(b, "<u8", self.n_unordered, self.o_unord)
        pad = b[self.o_entries + self.width * self.n_entries:self.o_cp]
        if any(pad):
            bad("3 entries", "entries padding not zero")
        self.check_invariants(bad)

    # FORMAT.md section 3: everything a reader checks when it loads an index
    def check_invariants(self, bad):
        k, s, e = self.keys, self.starts, self.entries
        self.stale = None
        if self.log_created_ns != self.log.header["created_ns"]:
            self.stale = f"log_created_ns {self.log_created_ns} != log's {self.log.header['created_ns']}"
        if len(k) > 1 and not np.all(k[1:] > k[:-1]):
            bad("3 keys", "keys not strictly increasing")
        if len(s) and (s[0] != 0 or s[-1] != self.n_entries or (len(s) > 1 and not np.all(s[1:] > s[:-1]))):
            bad("3 starts", "starts: not 0 .. n_entries strictly increasing")
        if len(e):
            d = np.ones(len(e), bool)
            d[1:] = e[1:] > e[:-1]
            d[s[:-1].astype(np.int64)] = True  # list boundaries
            if not d.all():
                bad("3 entries", f"a key's list not strictly increasing at entry {int(np.nonzero(~d)[0][0])}")
            if e.min() < HEADER_LEN // 8 or e.max() >= self.covered // 8:
                bad("3 entries", f"entry outside [4096/8, covered/8): min {int(e.min())} max {int(e.max())}")
        want_w = 4 if (self.covered // 8) < (1 << 32) else 8
        if self.width != want_w:
            bad("3 width", f"width {self.width}, expected {want_w} for covered {self.covered}")
        if self.n_cp > 4096:
            bad("3 checkpoints", f"{self.n_cp} checkpoints > 4096")
        if self.n_cp > 1 and not np.all(self.cp_t[1:] >= self.cp_t[:-1]):
            bad("3 checkpoints", "checkpoints not sorted by time")
        if self.n_cp > 1 and not np.all(self.cp_t[1:] > self.cp_t[:-1]):
            self.P.note("3 checkpoints", "two checkpoints share a time")
        u = self.unordered
        if len(u) > 1 and not np.all(u[1:] > u[:-1]):
            bad("3 unordered", "unordered not strictly increasing")
        if len(u) and not np.all(np.isin(u, k)):
            bad("3 unordered", "an unordered key is not in keys")
        # staleness: the record at last_offset still carries last_word1
        lo = self.last_offset
        if lo:
            if lo + 16 > self.log.size:
                bad("3 staleness", f"last_offset {lo} past end of log")
            else:
                (w1,) = struct.unpack_from("<Q", self.log.u8, lo + 8)
                if w1 != self.last_word1:
                    self.stale = f"word1 at last_offset {lo} is {w1:#x}, index says {self.last_word1:#x}"
        if self.stale:
            # FORMAT.md 3 "Staleness": such an index is not used (it is rebuilt)
            self.valid = False
            self.P.note("3 staleness", f"index is stale ({self.stale}): not used, not cross-checked")

    def list_of(self, key):
        i = int(np.searchsorted(self.keys, np.uint64(key)))
        if i >= len(self.keys) or int(self.keys[i]) != key:
            return []
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return [int(x) * 8 for x in self.entries[a:b]]

    def cross_check(self):
        """Compare every section with what a scan of the log finds."""
        P, L = self.P, self.log
        cov = self.covered
        recs = [r for r in L.scan.records if r.offset < cov]
        data = [r for r in recs if r.kind == KIND_DATA]
        # 3: `covered` is the end of the last data record the index scanned,
        # never past it (a range a crashed writer left after it is not covered)
        if cov not in {HEADER_LEN} | {r.offset + r.len for r in L.scan.records
                                      if r.kind == KIND_DATA}:
            P.err("3 covered", f"covered {cov} is not the end of a data record")
        elif cov > L.scan.end_offset:
            P.err("3 covered", f"covered {cov} is past the end of the last good record {L.scan.end_offset}")
        else:
            # the data records an index built now would scan past `covered`;
            # with --fresh-index (the index was built on the log as it is)
            # there must be none
            after = [r for r in L.scan.records if r.offset >= cov and r.kind == KIND_DATA]
            if after:
                msg = (f"covered {cov}, but the good records from {after[0].offset} to "
                       f"{L.scan.end_offset} (kinds {sorted({r.kind for r in after})}) are not covered")
                if self.fresh:
                    P.err("3 covered", msg + ": the end of the last data record scanned is "
                                             f"{after[-1].offset + after[-1].len}")
                else:
                    P.note("3 covered", msg + " (the log grew since it was indexed?)")
        if self.records != len(data):
            P.err("3 records", f"records {self.records}, scan finds {len(data)} data records below covered")
        keyed = [r for r in data if r.key is not None]
        if self.n_entries != len(keyed):
            P.err("3 n_entries", f"n_entries {self.n_entries}, scan finds {len(keyed)} keyed records")
        lists = {}
        for r in keyed:
            lists.setdefault(r.key, []).append(r.offset)
        if sorted(lists) != [int(x) for x in self.keys]:
            P.err("3 keys", f"keys differ from scan ({len(lists)} keys in scan, {self.n_keys} in index)")
        else:
            nbad = 0
            for i, key in enumerate(sorted(lists)):
                if self.list_of(key) != lists[key]:
                    nbad += 1
                    if nbad == 1:
                        P.err("3 entries", f"key {key}: index list {self.list_of(key)[:5]}.. scan {lists[key][:5]}..")
            if nbad:
                P.err("3 entries", f"{nbad} keys' lists differ from the scan")
        # 3: `last_offset` is the offset of the last data record covered (0: none)
        exp_lo = data[-1].offset if data else 0
        if self.last_offset != exp_lo:
            kinds = {r.offset: r.kind for r in recs}
            P.err("3 last_offset", f"last_offset {self.last_offset} (kind {kinds.get(self.last_offset)}), "
                                   f"last data record below covered is at {exp_lo}")
        times = np.array([r.time if r.time is not None else np.nan for r in data], dtype=np.float64)
        offs = np.array([r.offset for r in data], dtype=np.int64)
        tv = times[~np.isnan(times)]
        mn = float(tv.min()) if len(tv) else float("nan")
        mx = float(tv.max()) if len(tv) else float("nan")
        if not (same_float(mn, self.min_time) and same_float(mx, self.max_time)):
            P.err("3 min/max_time", f"index [{self.min_time}, {self.max_time}], scan [{mn}, {mx}]")
        # unordered keys
        unord = set()
        lastt = {}
        for r in keyed:
            if r.time is None or math.isnan(r.time):
                unord.add(r.key)
            elif r.key in lastt and r.time < lastt[r.key]:
                unord.add(r.key)
            if r.time is not None and not math.isnan(r.time):
                lastt[r.key] = max(lastt.get(r.key, -math.inf), r.time)
        if sorted(unord) != [int(x) for x in self.unordered]:
            P.err("3 unordered", f"unordered {list(self.unordered)[:10]} (n={self.n_unordered}), "
                                 f"scan finds {sorted(unord)[:10]} (n={len(unord)})")
        # checkpoints
        notime = np.isnan(times)
        for i in range(self.n_cp):
            t, pe, ss = float(self.cp_t[i]), int(self.cp_pe[i]), int(self.cp_ss[i])
            if pe % 8 or ss % 8 or not (HEADER_LEN <= pe <= cov) or not (HEADER_LEN <= ss <= cov):
                P.err("3 checkpoint", f"checkpoint {i} t={t}: prefix_end {pe} / suffix_start {ss} out of range")
            before = (offs < pe) & ~notime
            if np.any(times[before] > t):
                P.err("3 checkpoint", f"checkpoint {i} t={t}: a record before prefix_end {pe} has time > t")
            if np.any((offs < pe) & notime):
                P.note("3 checkpoint", f"checkpoint {i}: records without a time before prefix_end")
            after = (offs >= ss) & ~notime
            if np.any(times[after] <= t):
                P.err("3 checkpoint", f"checkpoint {i} t={t}: a record from suffix_start {ss} on has time <= t")
        dist = np.unique(tv)
        allcp = len(dist) == self.n_cp and np.array_equal(dist, np.sort(self.cp_t))
        if bool(self.flags & 1) != allcp:
            P.err("3 flags", f"flags bit 0 = {self.flags & 1}, but every distinct time is a checkpoint: {allcp}")
        # 3 flags bit 1: the scans that built the index stepped over damage
        # below covered (a range whose first word is not zero; zeros are
        # holes or lost records, 1.6). It stays set as the index is
        # extended, so a log recovered since (damage padded) may keep it.
        seen = any(g1 <= cov for (g0, g1) in L.scan.damaged if (g0, g1) not in L.scan.zero_damage)
        if seen and not self.flags & 2:
            P.err("3 flags", f"damage below covered {cov} but flags bit 1 is clear")
        elif self.flags & 2 and not seen:
            P.note("3 flags", "bit 1 (damage seen) set, no damage below covered now (recovered since?)")
        if self.flags & ~3:
            P.err("3 flags", f"unknown flag bits {self.flags:#x}")
        if len(dist) <= 4096 and not allcp:
            P.note("3 checkpoints", f"{len(dist)} distinct times but {self.n_cp} checkpoints")
        # 3: "for a log written step by step both are about the offset where
        # the step after t begins (they can differ by records without a time
        # between the steps, such as an end record; for the last checkpoint
        # prefix_end is covered)": both lie between the end of the last
        # record with a time <= t and the start of the first with a time > t.
        if not unord and self.n_cp:
            tb = times[~notime]
            ob = offs[~notime]
            eb = ob + np.array([r.len for r in data], dtype=np.int64)[~notime]
            stepwise = len(tb) < 2 or np.all(tb[1:] >= tb[:-1])
            if stepwise:
                nmis = 0
                for i in range(self.n_cp):
                    t, pe, ss = float(self.cp_t[i]), int(self.cp_pe[i]), int(self.cp_ss[i])
                    j = int(np.searchsorted(tb, t, side="right"))
                    lo = int(eb[j - 1]) if j > 0 else HEADER_LEN
                    hi = int(ob[j]) if j < len(ob) else cov
                    if not (lo <= pe <= hi and lo <= ss <= hi):
                        nmis += 1
                        if nmis == 1:
                            P.err("3 checkpoint", f"checkpoint t={t}: prefix_end {pe}, suffix_start {ss} "
                                                  f"not in [{lo}, {hi}] (between the step of t and the next)")
                    elif pe != ss:
                        P.note("3 checkpoint", f"checkpoint t={t}: prefix_end {pe} != suffix_start {ss} "
                                               f"(records without a time between the steps)")
                if int(self.cp_pe[-1]) != cov:
                    P.err("3 checkpoint", f"last checkpoint t={float(self.cp_t[-1])}: prefix_end "
                                          f"{int(self.cp_pe[-1])}, not covered {cov}")
                if nmis:
                    P.err("3 checkpoint", f"{nmis} checkpoints of a step-by-step log are not at the next step's start")


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


# ---------------------------------------------------------------- queries
def valid_time(r):
    return r.time is not None and not math.isnan(r.time)


def history_scan(log, key):
    rs = [r for r in log.data if r.key == key]
    return sort_history(rs)


def sort_history(rs):
    # time order (ties in file order).  FORMAT.md is silent on where records
    # without a time go; the tool puts them first, in file order.  A NaN time
    # is treated "as one without a time" (FORMAT.md 1.3).
    untimed = [r for r in rs if not valid_time(r)]
    timed = [r for r in rs if valid_time(r)]
    return sorted(untimed, key=lambda r: r.offset) + sorted(timed, key=lambda r: (r.time, r.offset))


def history_index(log, idx, key):
    offs = idx.list_of(key)
    rs = [log.by_off[o] for o in offs]
    rs += [r for r in log.data if r.offset >= idx.covered and r.key == key]
    return sort_history(rs)


def state_scan(log, T):
    st = {}
    for r in log.data:
        if r.key is None or not valid_time(r) or r.time > T:
            continue
        cur = st.get(r.key)
        if cur is None or r.time >= cur.time:
            st[r.key] = r
    return st


def state_index(log, idx, T):
    """FORMAT.md section 3, the checkpoint algorithm."""
    ts = idx.cp_t
    c = int(np.searchsorted(ts, T, side="right")) - 1    # largest t_c <= T
    pe = int(idx.cp_pe[c]) if c >= 0 else HEADER_LEN
    if c >= 0 and (idx.flags & 1):
        d = c
    else:
        d = int(np.searchsorted(ts, T, side="left"))     # smallest t_d >= T
        d = d if d < len(ts) else None
    ss = int(idx.cp_ss[d]) if d is not None else idx.covered
    unord = set(int(x) for x in idx.unordered)
    st = {}
    by_off = log.by_off
    for i in range(idx.n_keys):
        key = int(idx.keys[i])
        a, b = int(idx.starts[i]), int(idx.starts[i + 1])
        lst = idx.entries[a:b]
        best = None
        if key in unord:
            for o in lst:
                r = by_off[int(o) * 8]
                if valid_time(r) and r.time <= T and (best is None or r.time >= best.time):
                    best = r
        else:
            j = int(np.searchsorted(lst, np.uint64(pe // 8), side="left"))
            if j > 0:
                best = by_off[int(lst[j - 1]) * 8]
            while j < len(lst) and int(lst[j]) * 8 < ss:
                r = by_off[int(lst[j]) * 8]
                if valid_time(r) and r.time <= T:
                    best = r
                j += 1
        if best is not None:
            st[key] = best
    # records the index does not cover yet
    for r in log.data:
        if r.offset >= idx.covered and r.key is not None and valid_time(r) and r.time <= T:
            cur = st.get(r.key)
            if cur is None or r.time >= cur.time:
                st[r.key] = r
    return st


def present(r):
    return not (r.flags & F_DELETE)


# ---------------------------------------------------------------- comparison
def jnum(x):
    if isinstance(x, str) and x.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return float(x)
    return x


def same_val(a, b):
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_val(x, y) for x, y in zip(a, b))
    if isinstance(a, list) and len(a) == 1:
        return same_val(a[0], b)
    a, b = jnum(a), jnum(b)
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        try:
            return same_float(float(a), float(b)) and (math.copysign(1, float(a)) == math.copysign(1, float(b)))
        except TypeError:
            return False
    return a == b


def compare_rec(P, where, mine, tool):
    for k in ("offset", "len", "key", "prev", "time", "flags", "payload_len"):
        if not same_val(mine.get(k), tool.get(k)):
            P.err(where, f"offset {mine['offset']}: {k}: spec reader {mine.get(k)!r}, tool {tool.get(k)!r}")
            return False
    if "fields" in mine:
        fm, ft = mine.get("fields"), tool.get("fields")
        if fm is None or ft is None or set(fm) != set(ft):
            P.err(where, f"offset {mine['offset']}: fields: spec reader {fm}, tool {ft}")
            return False
        for name in fm:
            if not same_val(fm[name], ft[name]):
                P.err(where, f"offset {mine['offset']}: field {name}: spec reader {fm[name]}, tool {ft[name]}")
                return False
        if mine.get("payload_hex") != tool.get("payload_hex"):
            P.err(where, f"offset {mine['offset']}: payload_hex: spec reader {mine.get('payload_hex')!r}, "
                         f"tool {tool.get('payload_hex')!r}")
            return False
    elif isinstance(tool.get("fields"), dict) and all(v is None for v in tool["fields"].values()):
        P.err(where, f"offset {mine['offset']}: payload_len {mine['payload_len']} != schema's: the tool prints "
                     f"every field as null and no payload_hex (spec reader: payload_hex {mine.get('payload_hex')!r})")
        return False
    elif mine.get("payload_hex") != tool.get("payload_hex"):
        P.err(where, f"offset {mine['offset']}: payload_hex differs")
        return False
    extra = set(tool) - set(mine) - {"interpolated", "file"}
    if extra:
        P.note(where, f"tool prints keys the spec reader does not: {sorted(extra)}")
    return True


def compare_lists(P, where, mine, tool, limit=5):
    if len(mine) != len(tool):
        P.err(where, f"{len(mine)} records from the spec reader, {len(tool)} from the tool")
    n = 0
    for a, b in zip(mine, tool):
        if not compare_rec(P, where, a, b):
            n += 1
            if n >= limit:
                break


def run_tool(bin_, args):
    p = subprocess.run([bin_] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def jlines(s):
    return [json.loads(x) for x in s.splitlines() if x.strip()]


# ---------------------------------------------------------------- commands
def cmd_check(a):
    P = Problems(quiet=a.quiet)
    try:
        log = Log(a.log, P)
    except LogError as e:
        print(json.dumps({"error": str(e)}))
        if a.mapio:
            rc, out, err = run_tool(a.mapio, ["verify", a.log, "--json"])
            print(f"tool verify: rc={rc} {err.strip()}", file=sys.stderr)
            if rc != 3:
                P.err("1.1", f"spec reader refuses the file ({e}); tool verify exit {rc}")
        return 1 if (P.items or not a.mapio) else 0
    log.check_records()
    summ = log.summary()
    print(json.dumps(summ, indent=1))
    h = log.header

    idx = None
    ipath = a.index or (a.log + ".idx" if os.path.exists(a.log + ".idx") else None)
    expect = a.expect_index or a.fresh_index
    if ipath:
        try:
            idx = Index(ipath, log, P, fresh=a.fresh_index)
            print(f"index {ipath}: covered {idx.covered}, keys {idx.n_keys}, entries {idx.n_entries}, "
                  f"checkpoints {idx.n_cp}, unordered {idx.n_unordered}, flags {idx.flags}, width {idx.width}, "
                  f"last_offset {idx.last_offset}", file=sys.stderr)
            if idx.stale:
                if expect:
                    P.err("3 staleness", f"index {ipath} is stale ({idx.stale}), but mapio wrote it for this log")
                idx = None
            else:
                idx.cross_check()
        except LogError as e:
            P.err("3", f"index unreadable: {e}")
    elif expect:
        P.err("3", f"no index for {a.log}")

    cat = None
    if a.cat_json:
        cat = jlines(open(a.cat_json).read())
    elif a.mapio:
        if a.cat_limit:
            cat = []
            starts = [HEADER_LEN] + [s0 for (s0, e0) in log.scan.holes + log.scan.damaged
                                     + ([log.scan.trailing[:2]] if log.scan.trailing else [])]
            for s0 in starts:
                i = bisect.bisect_left(log.data_offs, s0)
                fr = log.data_offs[max(0, i - 3)] if log.data_offs else HEADER_LEN
                n = a.cat_limit if s0 == HEADER_LEN else 6
                rc, out, err = run_tool(a.mapio, ["cat", a.log, "--json", "--from", str(fr), "--limit", str(n)])
                cat += jlines(out)
        else:
            rc, out, err = run_tool(a.mapio, ["cat", a.log, "--json"])
            cat = jlines(out)
    if cat is not None:
        by = {r.offset: r for r in log.data}
        if a.cat_limit:
            mine = [r.to_json(h, log.mm) for r in log.data[:a.cat_limit]]
            for (s0, e0) in log.scan.holes + log.scan.damaged + ([log.scan.trailing[:2]] if log.scan.trailing else []):
                i = bisect.bisect_left(log.data_offs, s0)
                mine += [r.to_json(h, log.mm) for r in log.data[max(0, i - 3):i + 3]]
            got = {d["offset"]: d for d in cat}
            for m in mine:
                if m["offset"] not in got:
                    P.err("cat", f"record at {m['offset']} not printed by the tool")
                else:
                    compare_rec(P, "cat", m, got[m["offset"]])
            mo = {m["offset"] for m in mine}
            for d in cat:
                if d["offset"] not in by:
                    P.err("cat", f"tool prints a record at {d['offset']} the spec reader does not return")
        else:
            compare_lists(P, "cat", [r.to_json(h, log.mm) for r in log.data], cat)

    keys = sorted({r.key for r in log.data if r.key is not None})
    qkeys = [int(x) for x in a.keys.split(",")] if a.keys else (keys[:2] + keys[-1:] if keys else [])
    times = sorted({r.time for r in log.data if valid_time(r)})
    if a.times:
        qtimes = [float(x) for x in a.times.split(",")]
    elif times:
        qtimes = sorted({times[0] - 1, times[0], times[len(times) // 2], times[len(times) // 2] + 0.5,
                         times[-1], times[-1] + 1})
    else:
        qtimes = [0.0]

    # index answers == scan answers
    if idx is not None and idx.valid:
        for k in qkeys:
            hs, hi = history_scan(log, k), history_index(log, idx, k)
            if [r.offset for r in hs] != [r.offset for r in hi]:
                P.err("3 history", f"key {k}: index answer differs from scan")
        for T in qtimes:
            ss, si = state_scan(log, T), state_index(log, idx, T)
            if {k: r.offset for k, r in ss.items()} != {k: r.offset for k, r in si.items()}:
                diff = [k for k in set(ss) | set(si) if (ss.get(k) and ss[k].offset) != (si.get(k) and si[k].offset)]
                P.err("3 at", f"T={T}: checkpoint algorithm differs from scan for {len(diff)} keys, e.g. key {diff[:3]}")

    if a.mapio:
        B = a.mapio
        rc, out, err = run_tool(B, ["info", a.log, "--json"])
        if rc != 0:
            P.err("info", f"tool info exit {rc}: {err.strip()}")
        else:
            info = json.loads(out)
            exp = {"version": summ["version"], "sessions": summ["sessions"], "clean": summ["clean"],
                   "records": summ["records"], "keys": summ["keys"], "padding": summ["padding"],
                   "holes": len(summ["holes"]), "file_size": summ["file_size"],
                   "live": bool(summ["live"]), "schema": summ["schema"]}
            if summ["time_range"] is not None or "time_range" in info:
                exp["time_range"] = summ["time_range"]
            for k, v in exp.items():
                if not same_json(info.get(k), v):
                    P.err("info", f"{k}: spec reader {v!r}, tool {info.get(k)!r}")
            if ranges(info.get("damaged")) != summ["damaged"]:
                P.err("info", f"damaged: spec reader {summ['damaged']}, tool {info.get('damaged')}")
            if info.get("bytes") != summ["end_offset"]:
                P.note("info", f"bytes: tool {info.get('bytes')}, spec reader end of last good record {summ['end_offset']}")
        rc, out, err = run_tool(B, ["verify", a.log, "--json"])
        try:
            v = json.loads(out)
        except Exception:
            v = {}
            P.err("verify", f"tool verify exit {rc}, no JSON: {err.strip()}")
        if v:
            ok_mine = not summ["damaged"]
            v["holes"] = ranges(v.get("holes"))
            v["damaged"] = ranges(v.get("damaged"))
            for k, want in (("records", summ["records"]), ("padding", summ["padding"]),
                            ("holes", summ["holes"]), ("damaged", summ["damaged"]),
                            ("end_offset", summ["end_offset"]), ("file_size", summ["file_size"]),
                            ("ok", ok_mine), ("clean", summ["clean"])):
                if not same_json(v.get(k), want):
                    P.err("verify", f"{k}: spec reader {want!r}, tool {v.get(k)!r}")
            if (rc == 1) != (not ok_mine):
                P.err("verify", f"tool exit {rc}, spec reader damaged={summ['damaged']}")
        ixargs = [] if idx is not None else ["--no-index"]
        for k in qkeys:
            rc, out, err = run_tool(B, ["history", a.log, "--key", str(k), "--json"] + ixargs)
            mineh = [r.to_json(h, log.mm) for r in history_scan(log, k)]
            compare_lists(P, f"history key {k}", mineh, jlines(out))
        for T in qtimes:
            rc, out, err = run_tool(B, ["at", a.log, "--time", repr(T), "--json"] + ixargs)
            st = state_index(log, idx, T) if (idx is not None and idx.valid) else state_scan(log, T)
            minea = [st[k].to_json(h, log.mm) for k in sorted(st) if present(st[k])]
            compare_lists(P, f"at T={T}", minea, jlines(out))
    n = len(P.items)
    print(f"{'OK' if n == 0 else 'FAIL'}: {len(log.data)} data records, {n} mismatches, {len(P.notes)} notes",
          file=sys.stderr)
    return 1 if n else 0


def ranges(x):
    """verify/info print ranges as {"from", "to", "why"}; keep [from, to]."""
    if not isinstance(x, list):
        return x
    return [[d["from"], d["to"]] if isinstance(d, dict) else d for d in x]


def same_json(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    a, b = jnum(a), jnum(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return same_float(float(a), float(b))
    return a == b


def cmd_dump(a):
    P = Problems()
    log = Log(a.log, P)
    for r in log.scan.records:
        d = r.to_json(log.header, log.mm) if r.kind == KIND_DATA else \
            {"offset": r.offset, "len": r.len, "kind": {2: "padding", 3: "end"}[r.kind]}
        print(json.dumps(d))
    return 0


def open_log_and_index(a):
    P = Problems()
    log = Log(a.log, P)
    return log, (Index(a.index, log, P) if a.index else None)


def cmd_history(a):
    log, idx = open_log_and_index(a)
    rs = history_index(log, idx, a.key) if idx else history_scan(log, a.key)
    for r in rs:
        print(json.dumps(r.to_json(log.header, log.mm)))
    return 0


def cmd_at(a):
    log, idx = open_log_and_index(a)
    st = state_index(log, idx, a.time) if idx else state_scan(log, a.time)
    for k in sorted(st):
        if present(st[k]):
            print(json.dumps(st[k].to_json(log.header, log.mm)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest="cmd", required=True)
    c = sp.add_parser("check")
    c.add_argument("log")
    c.add_argument("--index")
    c.add_argument("--cat-json")
    c.add_argument("--mapio", help="path of the mapio binary: compare info/verify/cat/history/at")
    c.add_argument("--keys")
    c.add_argument("--times")
    c.add_argument("--quiet", action="store_true")
    c.add_argument("--expect-index", action="store_true",
                   help="the index exists and is meant for this log: a stale one is a mismatch")
    c.add_argument("--fresh-index", action="store_true",
                   help="as --expect-index, and the index was built on the log as it is: it covers all of it")
    c.add_argument("--cat-limit", type=int, help="compare only the first N records (and those around damage) with cat")
    d = sp.add_parser("dump"); d.add_argument("log")
    h = sp.add_parser("history"); h.add_argument("log"); h.add_argument("--key", type=int, required=True); h.add_argument("--index")
    t = sp.add_parser("at"); t.add_argument("log"); t.add_argument("--time", type=float, required=True); t.add_argument("--index")
    a = ap.parse_args()
    return {"check": cmd_check, "dump": cmd_dump, "history": cmd_history, "at": cmd_at}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
