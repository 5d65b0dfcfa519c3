#!/usr/bin/env python3
"""Writes mapio logs by hand, from FORMAT.md section 1 alone, to exercise
what the mapio CLI cannot produce: every record feature (8-byte padding,
records without key, prev or time, forward prev links, application flags,
+-inf and NaN times, short payloads, several sessions), crash damage, and
more distinct times than an index keeps checkpoints.  Part of the
independent reader of FORMAT.md (see specread.py), used by
tests/format_spec.rs to check that the spec describes the files mapio
writes; standard library only (it imports specread, which needs NumPy).

Usage (then check the result with `specread.py check OUT --mapio BIN`):
  craft.py features OUT          # every record feature, a clean 2-session log
  craft.py crash SRC OUT         # a copy of a clean `mapio demo` log (at
                                 # least 1000 records), damaged as a crash
                                 # and a bad medium would
  craft.py many OUT [LATE]       # 12000 distinct times; LATE keys also get
                                 # a late record with an earlier time
  craft.py append LOG N T0       # append N steps (times T0, T0+1, ..) for
                                 # keys 0, 1, 2 after the last good record,
                                 # as a reopened writer would, then an end
"""
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from specread import crc32c, align8, TAG  # noqa: E402


def header(fields=(), payload_len=0, created=1_700_000_000_123_456_789, tail=0, state=1, sessions=1):
    h = bytearray(4096)
    h[0:8] = b"MAPIOLOG"
    struct.pack_into("<IIQII", h, 8, 1, 4096, created, len(fields), payload_len)
    for i, (name, dt, count, off) in enumerate(fields):
        b = 512 + 48 * i
        h[b:b + 32] = name.encode().ljust(32, b"\0")
        h[b + 32:b + 40] = dt.encode().ljust(8, b"\0")
        struct.pack_into("<II", h, b + 40, count, off)
    struct.pack_into("<Q", h, 256, tail)
    struct.pack_into("<QQQQ", h, 320, tail, tail, state, sessions)
    struct.pack_into("<I", h, 4092, crc32c(bytes(h[0:256]) + bytes(h[512:4092])))
    return h


def word0(ln, kind, has_key=False, has_prev=False, has_time=False, flags=0):
    return (ln | (kind << 32) | (int(has_key) << 36) | (int(has_prev) << 37) | (int(has_time) << 38)
            | (flags << 40) | (TAG << 48))


def data(payload, key=None, prev=None, time=None, flags=0):
    opt = b""
    if key is not None:
        opt += struct.pack("<Q", key)
    if prev is not None:
        opt += struct.pack("<Q", prev)
    if time is not None:
        opt += struct.pack("<d", time)
    body = struct.pack("<I", len(payload)) + opt + payload
    ln = align8(12 + len(body))
    w0 = struct.pack("<Q", word0(ln, 1, key is not None, prev is not None, time is not None, flags))
    crc = crc32c(body + w0)
    rec = w0 + struct.pack("<I", crc) + body
    return rec + b"\0" * (ln - len(rec))


def padding(ln, junk=b""):
    w0 = struct.pack("<Q", word0(ln, 2))
    if ln == 8:
        return w0
    body = struct.pack("<I", 0)
    rec = w0 + struct.pack("<I", crc32c(body + w0)) + body + junk
    return rec + b"\0" * (ln - len(rec))


def end():
    w0 = struct.pack("<Q", word0(16, 3))
    body = struct.pack("<I", 0)
    return w0 + struct.pack("<I", crc32c(body + w0)) + body


def features(out):
    fields = [("a", "<f8", 1, 0), ("b", "<i4", 2, 8), ("c", "|u1", 3, 16), ("d", "<f4", 1, 20)]
    PL = 24

    def pay(i):
        return struct.pack("<d", i * 0.5) + struct.pack("<ii", i, -i) + bytes([i & 255, 1, 2]) + b"\0" \
            + struct.pack("<f", i / 3)

    recs = []
    off = 4096
    last = {}

    def add(rec, key=None):
        nonlocal off
        recs.append(rec)
        o = off
        off += len(rec)
        return o

    def d(key=None, time=None, flags=0, payload=None, prev="auto", link=True):
        p = last.get(key, 0) if prev == "auto" else prev
        if key is None and prev == "auto":
            p = None
        o = add(data(pay(len(recs)) if payload is None else payload, key, p, time, flags))
        if key is not None and link:
            last[key] = o
        return o

    # step 0: create keys 1..4
    for k in (1, 2, 3, 4):
        d(k, 0.0, 1)
    add(padding(8))                      # lone word0
    d(None, 0.5)                         # no key, with time
    d(5, None)                           # key without time -> unordered
    add(padding(16))
    add(padding(40, b"\xde\xad\xbe\xef" * 4))  # body meaningless
    for k in (1, 2, 3, 4):
        d(k, 1.0, 0x10 if k == 1 else 0)  # app flag bit 4 on key 1
    d(6, 1.0, 0, payload=b"")           # empty payload (payload_len != schema)
    d(7, 1.5, 0, payload=b"\x01\x02\x03")  # short payload, padded
    add(end())                           # session 1 closed; reopened below
    d(2, 2.0, 2)                         # DELETE key 2
    for k in (1, 3):
        d(k, 2.0)
    d(4, 0.5)                            # late writer: earlier time -> key 4 unordered
    d(3, 3.0, 0x80)                      # app flag bit 7
    d(8, float("inf"))                   # +inf time
    d(9, float("-inf"))                  # -inf time
    # forward link: key 10's first record points to its second (commit order)
    o1 = off
    rec_a_len = len(data(pay(0), 10, 0, 4.0))
    d(10, 4.0, 0, prev=o1 + rec_a_len)
    d(10, 4.0, 0, prev=0)
    d(1, 5.0, 0, prev=0)                 # prev 0 though key 1 has earlier records
    d(11, 5.0, 0, prev=None)             # key, no prev field
    d(1, 6.0, 8)                         # EXIT
    add(padding(8))
    d(12, 6.0, 4)                        # ENTER
    for t in (1.0, None, 0.5, None, 2.0):   # key 13: timed and untimed, out of order
        d(13, t)
    d(14, 1.0)
    d(14, float("nan"))                  # NaN time: writers refuse it; readers read it as no time (1.3)
    d(14, 3.0)
    d(1, 7.0, 4)                         # key 1 re-enters after its EXIT
    add(end())
    body = b"".join(recs)
    tail = 4096 + len(body)
    h = header(fields, PL, tail=tail, state=1, sessions=2)
    with open(out, "wb") as f:
        f.write(h + body)


def crash(src, out):
    """Copy a clean `mapio demo` log (88-byte records from 4096, one end
    record) and damage it the way a crash or a bad medium would: every kind
    of range FORMAT.md 1.6 distinguishes."""
    b = bytearray(open(src, "rb").read())
    R = lambda i: 4096 + 88 * i  # noqa: E731
    for i in (100, 200, 300, 400, 500, 501, 600, 700, 800, 900, 901, 902):
        w0 = struct.unpack_from("<Q", b, R(i))[0]
        assert w0 >> 48 == TAG and w0 & 0xFFFFFFFF == 88 and (w0 >> 32) & 0xF == 1, \
            f"{src}: record {i} is not an 88-byte data record at {R(i)} (a demo log of 1000+ records?)"
    # drop the end record, mark open (crashed)
    assert struct.unpack_from("<Q", b, len(b) - 16)[0] >> 32 & 0xF == 3
    del b[len(b) - 16:]
    struct.pack_into("<Q", b, 336, 0)
    struct.pack_into("<Q", b, 256, len(b))
    # `synced` in the middle: zeros below it are damage; at or above it
    # (and after the last end record) they are holes (1.6)
    struct.pack_into("<Q", b, 328, R(450))
    # below `synced`: damage
    b[R(100):R(100) + 8] = bytes(8)                # zero word0, body intact
    b[R(200):R(201)] = bytes(88)                   # all zeros
    b[R(300) + 40] ^= 1                            # payload bit flip (crc)
    b[R(400) + 7] ^= 0xFF                          # tag
    # above `synced` but before the last end record (at R(700)): damage
    b[R(500):R(502)] = bytes(176)                  # 2 records of zeros
    b[R(501) + 20] = 7                             # ... with a non-zero byte in them
    # an 8-byte damaged range: rewrite record 600 as an 80-byte record + 8 junk bytes
    k, p, t = struct.unpack_from("<QQd", b, R(600) + 16)   # keep the original key/prev/time
    r = data(b"\x11" * 40, k, p, t)
    assert len(r) == 80
    b[R(600):R(600) + 80] = r
    b[R(600) + 80:R(601)] = b"\x55" * 8
    # a session boundary: record 700 becomes padding + an end record (a
    # session that closed, and a writer that reopened the log after it)
    b[R(700):R(701)] = padding(72) + end()
    struct.pack_into("<Q", b, 344, 2)
    # after the last end record and at or above `synced`: holes
    b[R(800):R(800) + 8] = bytes(8)                # zero word0, body intact (a torn record)
    b[R(900):R(903)] = bytes(3 * 88)               # 3 records of zeros
    # zeros at the end, like fallocated space, with a torn record in it
    tail_extra = bytearray(8192)
    tail_extra[100:108] = b"\x01" * 8
    b += tail_extra
    with open(out, "wb") as f:
        f.write(b)


def many_times(out, n_keys=100, n_steps=120, late_keys=0):
    """A log with n_steps*... distinct times (> 4096 checkpoints): each key
    gets its own time inside each step; the first late_keys keys also get a
    late record with an earlier time."""
    fields = [("v", "<f8", 1, 0)]
    recs = []
    off = 4096
    last = {}
    for step in range(n_steps):
        for k in range(n_keys):
            t = step + k / n_keys
            r = data(struct.pack("<d", t), k, last.get(k, 0), t, 1 if step == 0 else 0)
            last[k] = off
            recs.append(r)
            off += len(r)
        if step == n_steps // 2:
            for k in range(late_keys):
                t = step - 3.25
                r = data(struct.pack("<d", t), k, last.get(k, 0), t)
                last[k] = off
                recs.append(r)
                off += len(r)
    recs.append(end())
    body = b"".join(recs)
    with open(out, "wb") as f:
        f.write(header(fields, 8, tail=4096 + len(body)) + body)


def append(path, n, t0, keys=(0, 1, 2)):
    """Append n steps after the end record, as a writer reopening the log would."""
    import specread as s
    P = s.Problems(quiet=True)
    L = s.Log(path, P)
    last = {}
    for r in L.data:
        if r.key is not None:
            last[r.key] = r.offset
    b = bytearray(open(path, "rb").read()[:L.scan.end_offset])
    for i in range(n):
        for k in keys:
            t = t0 + i
            last[k], rec = len(b), data(struct.pack("<d", t), k, last.get(k, 0), t)
            b += rec
    b += end()
    struct.pack_into("<Q", b, 256, len(b))
    struct.pack_into("<Q", b, 344, struct.unpack_from("<Q", b, 344)[0] + 1)
    with open(path, "wb") as f:
        f.write(b)


def main(argv):
    cmds = {
        "features": (1, lambda a: features(a[0])),
        "crash": (2, lambda a: crash(a[0], a[1])),
        "many": (1, lambda a: many_times(a[0], late_keys=int(a[1]) if len(a) > 1 else 0)),
        "append": (3, lambda a: append(a[0], int(a[1]), float(a[2]))),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][0]:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[argv[1]][1](argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
