//! The commit-to-visible latency workload: a writer commits small records,
//! each carrying the `CLOCK_MONOTONIC` time of its commit (the same clock
//! in every process of the machine, unlike `std::time::Instant`, whose
//! values cannot be compared across processes), and a reader in another
//! process records, for each record, the time it saw it minus that stamp.
//!
//! The writer is paced ([`write_paced`]: one record, then a sleep of the
//! interval), so that the latency measured is the latency of one record,
//! not the time a backlog takes to drain.
//!
//! Transports ([`Transport`]):
//!
//! * `mapio`: the writer appends to a [`mapio::log::Log`]; the reader
//!   follows it with [`LogReader::follow`] and a long spin
//!   (`FollowOptions::new().spin(1 s)`: it busy-polls, never sleeps).
//! * `unix_socket`: a `std::os::unix::net::UnixStream`, blocking reads.
//! * `pipe`: the reader's stdin, blocking reads.
//!
//! Both sides are here: the parent calls [`latency_round`], which starts
//! the reader as a child process through a command the caller builds (the
//! `mapio` binary re-executed as `mapio bench peer ...`); the child calls
//! [`peer_main`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mapio::log::{Entry, FollowOptions, Log, LogReader};
use serde::{Deserialize, Serialize};

use crate::harness::Sample;

/// Bytes of a record's payload: the sequence number and the stamp.
pub const STAMP_LEN: usize = 16;

/// Records of each round left out of the statistics (the first touches
/// of pages and caches); their checksum still counts.
pub const WARMUP_RECORDS: usize = 20;

/// How long the parent waits for the reader before giving up.
const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// `CLOCK_MONOTONIC` now, in nanoseconds: comparable across processes.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The payload of record `seq`, stamped now.
pub fn stamp(seq: u64) -> [u8; STAMP_LEN] {
    let mut b = [0u8; STAMP_LEN];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..].copy_from_slice(&monotonic_ns().to_le_bytes());
    b
}

/// The sequence number and stamp of a payload (`None` if too short).
pub fn parse_stamp(b: &[u8]) -> Option<(u64, u64)> {
    let s = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let t = u64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    Some((s, t))
}

/// Folds the sequence number of the next record seen into a checksum
/// (order-sensitive: a lost, repeated or reordered record shows).
#[inline]
pub fn fold_seq(acc: u64, seq: u64) -> u64 {
    acc.rotate_left(5) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The checksum of `count` records seen in order.
pub fn expected_latency_checksum(count: usize) -> u64 {
    (0..count as u64).fold(0, fold_seq)
}

/// What a reader saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// For each record, in order: when it was seen minus its stamp, ns.
    pub latencies_ns: Vec<u64>,
    /// [`fold_seq`] of the sequence numbers seen.
    pub checksum: u64,
}

impl Observed {
    /// Reads `count` records with `next` (which returns a payload) and
    /// stamps each as it arrives.
    pub fn collect(
        count: usize,
        mut next: impl FnMut() -> io::Result<Option<[u8; STAMP_LEN]>>,
    ) -> io::Result<Observed> {
        let mut o = Observed {
            latencies_ns: Vec::with_capacity(count),
            checksum: 0,
        };
        for _ in 0..count {
            let Some(p) = next()? else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the writer stopped after {} of {count} records",
                        o.latencies_ns.len()
                    ),
                ));
            };
            let now = monotonic_ns();
            let (seq, at) = parse_stamp(&p).unwrap_or((u64::MAX, now));
            o.latencies_ns.push(now.saturating_sub(at));
            o.checksum = fold_seq(o.checksum, seq);
        }
        Ok(o)
    }
}

/// Commits `count` records, `commit(stamp(i))` for `i` in order, sleeping
/// `interval` before each; returns the mean interval actually achieved
/// (a sleep overshoots by the timer slack).
pub fn write_paced(
    count: usize,
    interval: Duration,
    mut commit: impl FnMut(&[u8; STAMP_LEN]) -> io::Result<()>,
) -> io::Result<Duration> {
    let start = Instant::now();
    for i in 0..count {
        std::thread::sleep(interval);
        commit(&stamp(i as u64))?;
    }
    Ok(start.elapsed() / count.max(1) as u32)
}

/// How the records travel from the writer to the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A mapio log, followed live.
    MapioLog,
    /// A Unix domain stream socket.
    UnixSocket,
    /// A pipe.
    Pipe,
}

impl Transport {
    /// Every transport, mapio first.
    pub const ALL: [Transport; 3] = [Transport::MapioLog, Transport::UnixSocket, Transport::Pipe];

    /// `mapio`, `unix_socket`, `pipe`: the contender's name, and the
    /// peer's argument.
    pub fn name(self) -> &'static str {
        match self {
            Transport::MapioLog => "mapio",
            Transport::UnixSocket => "unix_socket",
            Transport::Pipe => "pipe",
        }
    }

    /// The transport called `name`.
    pub fn from_name(name: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.name() == name)
    }

    /// What it is, in a line.
    pub fn description(self) -> &'static str {
        match self {
            Transport::MapioLog => {
                "Log::append in one process, LogReader::follow (spin 1 s) in another"
            }
            Transport::UnixSocket => "std UnixStream, write_all / blocking read_exact",
            Transport::Pipe => "pipe to the reader's stdin, write_all / blocking read_exact",
        }
    }
}

/// The reader's side, in the child process: opens the transport (`path`:
/// the log or the socket; the pipe is stdin), prints `ready` on `out`,
/// reads `count` records, and prints what it saw as one JSON line.
pub fn peer_main(
    transport: Transport,
    path: Option<&Path>,
    count: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    let need_path = || {
        path.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "this transport needs --path")
        })
    };
    let ready = |out: &mut dyn Write| -> io::Result<()> {
        out.write_all(b"ready\n")?;
        out.flush()
    };
    let observed = match transport {
        Transport::MapioLog => {
            let reader = LogReader::open(need_path()?)?;
            ready(out)?;
            let mut follow = reader.follow(FollowOptions::new().spin(Duration::from_secs(1)));
            Observed::collect(count, || {
                Ok(follow.next().map(|r| {
                    let mut b = [0u8; STAMP_LEN];
                    let n = r.payload.len().min(STAMP_LEN);
                    b[..n].copy_from_slice(&r.payload[..n]);
                    b
                }))
            })?
        }
        Transport::UnixSocket => {
            let mut s = UnixStream::connect(need_path()?)?;
            ready(out)?;
            Observed::collect(count, || read_stamp(&mut s))?
        }
        Transport::Pipe => {
            let mut stdin = io::stdin().lock();
            ready(out)?;
            Observed::collect(count, || read_stamp(&mut stdin))?
        }
    };
    serde_json::to_writer(&mut *out, &observed).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

fn read_stamp(r: &mut impl Read) -> io::Result<Option<[u8; STAMP_LEN]>> {
    let mut b = [0u8; STAMP_LEN];
    match r.read_exact(&mut b) {
        Ok(()) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// A child reader and the lines it prints, read by a helper thread so
/// that the parent can wait with a timeout.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<io::Result<String>>,
}

impl Peer {
    fn spawn(mut cmd: Command, stdin: bool) -> io::Result<Peer> {
        cmd.stdout(Stdio::piped())
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("the reader's stdout is not piped"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                let got = r.read_line(&mut line);
                let end = matches!(got, Ok(0) | Err(_));
                let msg = got.map(|_| line);
                if tx.send(msg).is_err() || end {
                    break;
                }
            }
        });
        Ok(Peer { child, lines: rx })
    }

    /// The next line the reader prints (an error if it exits first or
    /// says nothing for [`PEER_TIMEOUT`]).
    fn line(&mut self) -> io::Result<String> {
        match self.lines.recv_timeout(PEER_TIMEOUT) {
            Ok(Ok(l)) if !l.is_empty() => Ok(l),
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait()?;
                Err(io::Error::other(format!(
                    "the latency reader exited early ({status})"
                )))
            }
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the latency reader said nothing for {PEER_TIMEOUT:?}"),
                ))
            }
        }
    }

    fn expect_ready(&mut self) -> io::Result<()> {
        let l = self.line()?;
        if l.trim() != "ready" {
            return Err(io::Error::other(format!(
                "the latency reader said {l:?} instead of ready"
            )));
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Observed> {
        let l = self.line()?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "the latency reader failed ({status})"
            )));
        }
        serde_json::from_str(l.trim()).map_err(io::Error::from)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // On an error path the child may still run: end it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Accepts one connection on `listener`, giving up if the child exits or
/// after [`PEER_TIMEOUT`].
fn accept(listener: &UnixListener, child: &mut Child) -> io::Result<UnixStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + PEER_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "the latency reader exited before connecting ({status})"
                    )));
                }
                if Instant::now() > deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the latency reader did not connect",
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One round of the latency workload over `transport`: files in `dir`,
/// `count` records paced `interval` apart, the reader started with
/// `peer(args)` (a command that runs [`peer_main`] with these arguments:
/// `TRANSPORT --count N [--path P]`). Returns the latencies without the
/// first [`WARMUP_RECORDS`], and the reader's checksum over all.
pub fn latency_round(
    transport: Transport,
    dir: &Path,
    count: usize,
    interval: Duration,
    peer: &dyn Fn(&[String]) -> Command,
) -> io::Result<Sample> {
    let mut args = vec![
        transport.name().to_string(),
        "--count".to_string(),
        count.to_string(),
    ];
    let start = Instant::now();
    let observed = match transport {
        Transport::MapioLog => {
            let path = dir.join("latency.log");
            remove_if_there(&path)?;
            let log = Log::create(&path)?;
            args.extend(["--path".to_string(), path.display().to_string()]);
            let mut p = Peer::spawn(peer(&args), false)?;
            p.expect_ready()?;
            write_paced(count, interval, |b| {
                log.append(&Entry::new(), b)
                    .map(|_| ())
                    .map_err(io::Error::from)
            })?;
            let o = p.finish()?;
            log.close()?;
            remove_if_there(&path)?;
            o
        }
        Transport::UnixSocket => {
            let path = dir.join("latency.sock");
            remove_if_there(&path)?;
            let listener = UnixListener::bind(&path)?;
            args.extend(["--path".to_string(), path.display().to_string()]);
            let mut p = Peer::spawn(peer(&args), false)?;
            let mut s = accept(&listener, &mut p.child)?;
            p.expect_ready()?;
            write_paced(count, interval, |b| s.write_all(b))?;
            let o = p.finish()?;
            drop(s);
            remove_if_there(&path)?;
            o
        }
        Transport::Pipe => {
            let mut p = Peer::spawn(peer(&args), true)?;
            let mut stdin = p
                .child
                .stdin
                .take()
                .ok_or_else(|| io::Error::other("the reader's stdin is not piped"))?;
            p.expect_ready()?;
            write_paced(count, interval, |b| stdin.write_all(b))?;
            drop(stdin);
            p.finish()?
        }
    };
    let took = start.elapsed();
    let latencies = observed
        .latencies_ns
        .get(WARMUP_RECORDS.min(observed.latencies_ns.len())..)
        .unwrap_or(&[])
        .to_vec();
    Ok(Sample::latencies(took, latencies, observed.checksum))
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_on_one_clock() {
        let a = monotonic_ns();
        let s = stamp(42);
        let (seq, at) = parse_stamp(&s).unwrap();
        assert_eq!(seq, 42);
        assert!(at >= a && monotonic_ns() >= at);
        assert_eq!(parse_stamp(&s[..15]), None);
    }

    #[test]
    fn the_checksum_sees_order_and_loss() {
        let mk = |seqs: Vec<u64>| {
            let mut it = seqs.into_iter();
            let n = it.len();
            Observed::collect(n, || Ok(it.next().map(stamp))).unwrap()
        };
        let ok = mk((0..10).collect());
        assert_eq!(ok.checksum, expected_latency_checksum(10));
        assert_eq!(ok.latencies_ns.len(), 10);
        assert_ne!(
            mk(vec![0, 1, 3, 2, 4]).checksum,
            expected_latency_checksum(5)
        );
        assert_ne!(
            mk(vec![0, 1, 2, 3, 5]).checksum,
            expected_latency_checksum(5)
        );
        // A writer that stops early is an error.
        let mut left = 3;
        let e = Observed::collect(5, || {
            left -= 1;
            Ok((left > 0).then(|| stamp(0)))
        });
        assert!(e.is_err());
    }

    fn parse_peer_output(out: &[u8]) -> Observed {
        let text = String::from_utf8(out.to_vec()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("ready"));
        serde_json::from_str(lines.next().unwrap()).unwrap()
    }

    #[test]
    fn peer_over_a_unix_socket() {
        let _serial = crate::serial();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let p = path.clone();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            peer_main(Transport::UnixSocket, Some(&p), 200, &mut out).map(|_| out)
        });
        let (mut s, _) = listener.accept().unwrap();
        let interval = write_paced(200, Duration::from_micros(10), |b| s.write_all(b)).unwrap();
        assert!(interval >= Duration::from_micros(10));
        let o = parse_peer_output(&reader.join().unwrap().unwrap());
        assert_eq!(o.checksum, expected_latency_checksum(200));
        assert_eq!(o.latencies_ns.len(), 200);
    }

    #[test]
    fn peer_following_a_mapio_log() {
        let _serial = crate::serial();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.log");
        let log = Log::create(&path).unwrap();
        let p = path.clone();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            peer_main(Transport::MapioLog, Some(&p), 300, &mut out).map(|_| out)
        });
        write_paced(300, Duration::from_micros(10), |b| {
            log.append(&Entry::new(), b)
                .map(|_| ())
                .map_err(io::Error::from)
        })
        .unwrap();
        let o = parse_peer_output(&reader.join().unwrap().unwrap());
        log.close().unwrap();
        assert_eq!(o.checksum, expected_latency_checksum(300));
        // Stamps come from one clock: no latency is absurd.
        assert!(o.latencies_ns.iter().all(|&l| l < 60_000_000_000));
    }

    #[test]
    fn a_path_is_needed_and_transports_have_names() {
        let mut out = Vec::new();
        assert!(peer_main(Transport::MapioLog, None, 1, &mut out).is_err());
        for t in Transport::ALL {
            assert_eq!(Transport::from_name(t.name()), Some(t));
        }
        assert_eq!(Transport::from_name("carrier pigeon"), None);
    }
}
