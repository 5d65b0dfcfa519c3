//! Building and extending an index in one pass over the log, in memory in
//! proportion to the index rather than to the log.
//!
//! The pass keeps, per record with a key, its key's ordinal (the order in
//! which keys were first met) and its offset / 8: 4 bytes each while they
//! fit, 8 bytes on logs past 32 GiB or with more than 4 billion keys. Per
//! key it keeps a count and what the time-order check needs; for the
//! checkpoints, a summary of the times bounded at a fixed size whatever
//! the number of distinct times. The lists are then laid out with a
//! counting sort, straight into the new index's entries section. A log of
//! ten million records is indexed in about 190 MB where keeping every
//! record's key, offset, end and time took a gigabyte.

use super::{Checkpoint, Fields, HEADER_LEN, Index, MAX_CHECKPOINTS, Progress};
use crate::error::Result;
use crate::log::reader::{LogReader, dense_growth};

/// Unsigned integers, 4 bytes each while every value fits, then 8.
enum Column {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Column {
    fn new() -> Column {
        Column::Narrow(Vec::new())
    }

    fn push(&mut self, v: u64) {
        match self {
            Column::Narrow(c) => match u32::try_from(v) {
                Ok(v) => c.push(v),
                Err(_) => {
                    let mut wide = Vec::with_capacity(c.capacity().max(c.len() + 1));
                    wide.extend(c.iter().map(|&x| u64::from(x)));
                    wide.push(v);
                    *self = Column::Wide(wide);
                }
            },
            Column::Wide(c) => c.push(v),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Narrow(c) => c.len(),
            Column::Wide(c) => c.len(),
        }
    }

    fn get(&self, i: usize) -> u64 {
        match self {
            Column::Narrow(c) => u64::from(c[i]),
            Column::Wide(c) => c[i],
        }
    }
}

/// Keys numbered in the order they were first met. Keys below a bound
/// that grows with the number of keys (object ids 0..n, the usual) are
/// looked up in a table indexed by the key; others in a hash map.
#[derive(Default)]
struct Ordinals {
    /// `dense[key]`: the key's ordinal + 1 (0: not met, or kept in `sparse`).
    dense: Vec<u32>,
    sparse: crate::log::query::KeyMap<usize>,
    /// The key of each ordinal.
    keys: Vec<u64>,
    /// Times the table grew.
    #[cfg(test)]
    grown: usize,
}

impl Ordinals {
    /// `key`'s ordinal, and whether it is new.
    fn get_or_insert(&mut self, key: u64) -> (usize, bool) {
        if let Some(&o) = self.dense.get(key as usize).filter(|&&o| o != 0) {
            return (o as usize - 1, false);
        }
        if let Some(&o) = self.sparse.get(&key) {
            return (o, false);
        }
        let ord = self.keys.len();
        self.keys.push(key);
        // The table may cover up to twice the keys met so far, plus 64 Ki
        // slots: 8 bytes a key at worst.
        let room = 2 * self.keys.len() as u64 + (1 << 16);
        if let Some(len) = dense_growth(self.dense.len() as u64, key, room) {
            self.dense.resize(len as usize, 0);
            #[cfg(test)]
            {
                self.grown += 1;
            }
            let dense = &mut self.dense;
            self.sparse.retain(|&k, &mut o| match u32::try_from(o + 1) {
                Ok(v) if k < len => {
                    dense[k as usize] = v;
                    false
                }
                _ => true,
            });
        }
        match (self.dense.get_mut(key as usize), u32::try_from(ord + 1)) {
            (Some(slot), Ok(v)) => *slot = v,
            _ => {
                self.sparse.insert(key, ord);
            }
        }
        (ord, true)
    }
}

/// What the time-order check needs of one key's new records.
#[derive(Clone, Copy)]
struct KeyAcc {
    /// New records (then, once laid out: where the next one goes).
    count: u64,
    /// The first new record's time (NaN: none).
    first: f64,
    /// The latest new record's time (NaN: none).
    last: f64,
    /// Every new record has a time, none earlier than the one before.
    ordered: bool,
}

/// What the checkpoints need of the new records' times, in bounded
/// memory: running maxima of the time in file order, and per time the
/// largest end of a record with that time. Past `cap` distinct times,
/// only the times whose hash has `level` low zero bits are kept (always
/// the smallest): a sample spread evenly over the distinct times whatever
/// their order in the file. What a dropped entry says goes to a kept one,
/// so that every checkpoint bound stays valid, only less tight.
pub(super) struct Times {
    /// Running maxima `(time, offset where it was first reached)`; a kept
    /// maximum carries the offset of the first one dropped before it.
    change: Vec<(f64, u64)>,
    /// The offset of the first maximum dropped since the last kept.
    carry: Option<u64>,
    /// The largest time met (NaN: none).
    max: f64,
    /// `(time, largest end of a record with that time)`: `ends[..sorted]`
    /// sorted by time and distinct, the rest as met.
    ends: Vec<(f64, u64)>,
    sorted: usize,
    level: u32,
    cap: usize,
}

/// A well-spread hash of a time's bits (MurmurHash3's finalizer), fixed
/// so that two builds of one log give the same index.
fn time_hash(t: f64) -> u64 {
    crate::log::query::fmix64(t.to_bits())
}

/// What the checkpoints are made from: the running maxima, and per time
/// the largest end of a record with that time or an earlier one, sorted.
pub(super) struct TimeSummary {
    change: Vec<(f64, u64)>,
    ends: Vec<(f64, u64)>,
    /// Times were dropped: not every distinct time can be a checkpoint.
    pub(super) thinned: bool,
}

impl Times {
    /// A summary of at most about `cap` times (at least 4).
    pub(super) fn new(cap: usize) -> Times {
        Times {
            change: Vec::new(),
            carry: None,
            max: f64::NAN,
            ends: Vec::new(),
            sorted: 0,
            level: 0,
            cap: cap.max(4),
        }
    }

    fn kept(&self, t: f64) -> bool {
        time_hash(t).trailing_zeros() >= self.level
    }

    /// A record with time `t` (not NaN) from `offset` to `end`, in file
    /// order.
    pub(super) fn see(&mut self, t: f64, offset: u64, end: u64) {
        if self.max.is_nan() || t > self.max {
            self.max = t;
            if self.kept(t) {
                let at = self.carry.take().unwrap_or(offset);
                self.change.push((t, at));
            } else {
                self.carry.get_or_insert(offset);
            }
        }
        match self.ends.last_mut() {
            Some(last) if last.0 == t => {
                last.1 = last.1.max(end);
                // Of 0 and -0, -0 stands for both (it sorts first).
                if t.is_sign_negative() {
                    last.0 = t;
                }
            }
            _ => {
                self.ends.push((t, end));
                if self.ends.len() > self.sorted + self.cap {
                    self.compact();
                }
            }
        }
    }

    /// Sorts what was met since the last compaction into the kept times,
    /// raising the level while they are too many.
    fn compact(&mut self) {
        self.ends.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        self.thin_ends();
        while self.ends.len() > self.cap {
            self.level += 1;
            self.thin_ends();
            self.thin_change();
        }
        self.sorted = self.ends.len();
    }

    /// `ends` (sorted) without repeated times or times the level drops:
    /// each gives its end to the kept time below it (the first is always
    /// kept), whose bound then covers it.
    fn thin_ends(&mut self) {
        let mut out = 0;
        for i in 0..self.ends.len() {
            let (t, e) = self.ends[i];
            if out > 0 && (self.ends[out - 1].0 == t || !self.kept(t)) {
                self.ends[out - 1].1 = self.ends[out - 1].1.max(e);
            } else {
                self.ends[out] = (t, e);
                out += 1;
            }
        }
        self.ends.truncate(out);
    }

    /// `change` without the maxima the level drops: each gives its offset
    /// to the next kept one (or to the carry), whose bound then covers it.
    fn thin_change(&mut self) {
        let mut carry = None;
        let mut out = Vec::with_capacity(self.change.len() / 2);
        for &(m, at) in &self.change {
            if self.kept(m) {
                out.push((m, carry.take().unwrap_or(at)));
            } else {
                carry.get_or_insert(at);
            }
        }
        self.change = out;
        if carry.is_some() {
            self.carry = carry;
        }
    }

    pub(super) fn finish(mut self) -> TimeSummary {
        self.compact();
        if let Some(at) = self.carry {
            self.change.push((self.max, at));
        }
        // The largest time is always a checkpoint (the smallest always
        // stays): a query at or past it scans nothing. Its bound is the
        // end of every record.
        if self.ends.last().is_some_and(|e| e.0 < self.max) {
            self.ends.push((self.max, 0));
        }
        let mut run = 0;
        for e in &mut self.ends {
            run = run.max(e.1);
            e.1 = run;
        }
        TimeSummary {
            change: self.change,
            ends: self.ends,
            thinned: self.level > 0,
        }
    }
}

impl TimeSummary {
    /// The offset of the first new record with a time over `t` (or
    /// before it: a bound), `covered` if none.
    fn first_after(&self, t: f64, covered: u64) -> u64 {
        let i = self.change.partition_point(|&(m, _)| m <= t);
        self.change.get(i).map_or(covered, |&(_, off)| off)
    }

    /// The largest end of a new record with a time `<= t` (or past it: a
    /// bound), 0 if none.
    fn last_end_upto(&self, t: f64) -> u64 {
        let i = self.ends.partition_point(|&(tt, _)| tt <= t);
        if i == 0 { 0 } else { self.ends[i - 1].1 }
    }

    /// The times of new checkpoints.
    fn times(&self) -> impl Iterator<Item = f64> + '_ {
        self.ends.iter().map(|e| e.0)
    }
}

/// Distinct times a build keeps for its checkpoints (16 bytes each; a log
/// with more is sampled, see [`Times`]).
const TIME_CAP: usize = 1 << 16;

impl Index {
    /// The index extended by the records added to the log since it was
    /// built (scanning only those).
    pub fn extend(&self, reader: &LogReader, progress: Option<Progress<'_>>) -> Result<Index> {
        self.extend_with(reader, progress, TIME_CAP)
    }

    pub(super) fn extend_with(
        &self,
        reader: &LogReader,
        mut progress: Option<Progress<'_>>,
        time_cap: usize,
    ) -> Result<Index> {
        let total = reader.tail().max(self.fields.covered);
        let mut ordinals = Ordinals::default();
        let mut accs: Vec<KeyAcc> = Vec::new();
        // Per new record with a key: its key's ordinal and offset / 8.
        let (mut ords, mut offs) = (Column::new(), Column::new());
        let mut times = Times::new(time_cap);
        let (mut min_time, mut max_time) = (self.fields.min_time, self.fields.max_time);
        let mut last_offset = self.fields.last_offset;
        // Covered: up to the end of the last good record, never past it.
        // The scan may step over a torn range after it (a crashed
        // writer's half-written record); a reopened writer appends there,
        // so those bytes must be scanned again next time.
        let mut covered = self.fields.covered;
        let mut n = 0u64;
        let gaps = reader.scan_found(self.fields.covered, |offset, found| {
            let end = offset + u64::from(found.word0.len);
            covered = covered.max(end);
            last_offset = offset;
            n += 1;
            // A NaN time (writers refuse it; a foreign file may have one)
            // is no time: no checkpoint, placed nowhere.
            let time = found.meta.time.filter(|t| !t.is_nan());
            if let Some(t) = time {
                times.see(t, offset, end);
                // (`min`/`max` of NaN, no time yet, and `t` is `t`.)
                min_time = min_time.min(t);
                max_time = max_time.max(t);
            }
            if let Some(key) = found.meta.key {
                let (ord, new) = ordinals.get_or_insert(key);
                let t = time.unwrap_or(f64::NAN);
                if new {
                    accs.push(KeyAcc {
                        count: 0,
                        first: t,
                        last: f64::NAN,
                        ordered: true,
                    });
                }
                let acc = &mut accs[ord];
                // In order: a time, and none before it later.
                acc.ordered &= !t.is_nan() && (acc.last.is_nan() || t >= acc.last);
                acc.last = t;
                acc.count += 1;
                ords.push(ord as u64);
                offs.push(offset / 8);
            }
            if n.is_multiple_of(65536) {
                if let Some(p) = progress.as_mut() {
                    p(offset, total);
                }
            }
            true
        });
        if let Some(p) = progress.as_mut() {
            p(covered, covered);
        }
        // Damage the scan stepped over inside what the index covers (a
        // torn range after the last record is scanned again next time).
        let damaged = self.fields.damaged || gaps.iter().any(|d| !d.is_hole() && d.to <= covered);
        // The keys in order: the old ones merged with the new ones.
        let mut new_keys: Vec<usize> = (0..ordinals.keys.len()).collect();
        new_keys.sort_unstable_by_key(|&o| ordinals.keys[o]);
        let old_keys = self.keys();
        let mut old_unordered = self.unordered().iter().peekable();
        let mut keys: Vec<u64> = Vec::with_capacity(old_keys.len() + new_keys.len());
        let mut starts: Vec<u64> = Vec::with_capacity(old_keys.len() + new_keys.len() + 1);
        // Where each old key's list goes in the new entries.
        let mut old_to: Vec<u64> = Vec::with_capacity(old_keys.len());
        let mut unordered: Vec<u64> = Vec::new();
        let mut total_entries = 0u64;
        let (mut i, mut j) = (0, 0);
        loop {
            let old = old_keys.get(i).copied();
            let new = new_keys.get(j).map(|&o| ordinals.keys[o]);
            let k = match (old, new) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            keys.push(k);
            starts.push(total_entries);
            while old_unordered.next_if(|&&u| u < k).is_some() {}
            let mut ordered = old_unordered.next_if(|&&u| u == k).is_none();
            let mut old_len = 0;
            if old == Some(k) {
                let list = self.list(i);
                old_len = list.len() as u64;
                old_to.push(total_entries);
                if ordered && new == Some(k) {
                    // New records follow: the old list's last time, from
                    // the log, must not be later than the first new one.
                    let last = reader
                        .read_record(list.offset(list.len() - 1))
                        .ok()
                        .and_then(|r| r.time)
                        .unwrap_or(f64::NAN);
                    let first = accs[new_keys[j]].first;
                    ordered = !last.is_nan() && !first.is_nan() && first >= last;
                }
                i += 1;
            }
            total_entries += old_len;
            if new == Some(k) {
                let acc = &mut accs[new_keys[j]];
                ordered &= acc.ordered;
                let count = acc.count;
                // From now on: where the key's next new offset goes.
                acc.count = total_entries;
                total_entries += count;
                j += 1;
            }
            if !ordered {
                unordered.push(k);
            }
        }
        starts.push(total_entries);
        drop(new_keys);
        let (checkpoints, complete) = merge_checkpoints(
            &self.checkpoints,
            self.fields.covered,
            self.fields.max_time,
            &times.finish(),
            covered,
        );
        let fields = Fields {
            log_created_ns: self.fields.log_created_ns,
            covered,
            last_offset,
            last_word1: if last_offset == self.fields.last_offset {
                self.fields.last_word1
            } else {
                reader.word_at(last_offset + 8)
            },
            records: self.fields.records.saturating_add(n),
            min_time,
            max_time,
            complete: self.fields.complete && complete,
            damaged,
        };
        let n_entries = usize::try_from(total_entries).expect("an index that fits in memory");
        Ok(Index::assemble(
            fields,
            &keys,
            &starts,
            n_entries,
            |sink| {
                // The old lists where they go, then each new offset after
                // its key's earlier ones (a counting sort: file order is
                // kept within a key).
                for (i, &to) in old_to.iter().enumerate() {
                    for (d, off) in (to as usize..).zip(self.list(i).offsets()) {
                        sink.set(d, off / 8);
                    }
                }
                for r in 0..ords.len() {
                    let acc = &mut accs[ords.get(r) as usize];
                    sink.set(acc.count as usize, offs.get(r));
                    acc.count += 1;
                }
            },
            &checkpoints,
            &unordered,
        ))
    }
}

/// Checkpoints after appending the records `new` summarises to a log whose
/// first `old_covered` bytes the `old` checkpoints describe. Every bound
/// stays valid (a query may scan more than needed, never miss a record).
fn merge_checkpoints(
    old: &[Checkpoint],
    old_covered: u64,
    old_max: f64,
    new: &TimeSummary,
    covered: u64,
) -> (Vec<Checkpoint>, bool) {
    let mut out: Vec<Checkpoint> = old
        .iter()
        .map(|c| Checkpoint {
            time: c.time,
            prefix_end: if c.prefix_end < old_covered {
                c.prefix_end
            } else {
                new.first_after(c.time, covered)
            },
            suffix_start: c.suffix_start.max(new.last_end_upto(c.time)),
        })
        .collect();
    for t in new.times() {
        if old
            .get(old.partition_point(|c| c.time < t))
            .is_some_and(|c| c.time == t)
        {
            continue;
        }
        let below = old.partition_point(|c| c.time <= t);
        let prefix_end = if old_max.is_nan() || t >= old_max {
            new.first_after(t, covered)
        } else if below == 0 {
            HEADER_LEN
        } else {
            out[below - 1].prefix_end.min(old_covered)
        };
        let old_suffix = match old.get(old.partition_point(|c| c.time < t)) {
            Some(_) if old_max.is_nan() => HEADER_LEN,
            Some(c) => c.suffix_start,
            None if old_max.is_nan() => HEADER_LEN,
            None => old_covered,
        };
        out.push(Checkpoint {
            time: t,
            prefix_end,
            suffix_start: old_suffix.max(new.last_end_upto(t)),
        });
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    let complete = !new.thinned && out.len() <= MAX_CHECKPOINTS;
    if out.len() > MAX_CHECKPOINTS {
        // Keep an even spread, always the first and the last.
        let n = out.len();
        let keep: Vec<Checkpoint> = (0..MAX_CHECKPOINTS)
            .map(|i| out[i * (n - 1) / (MAX_CHECKPOINTS - 1)])
            .collect();
        out = keep;
    }
    (out, complete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Entry, LogOptions};
    use proptest::prelude::*;

    #[test]
    fn a_column_widens_when_a_value_needs_it() {
        let mut c = Column::new();
        c.push(7);
        c.push(u64::from(u32::MAX));
        assert!(matches!(c, Column::Narrow(_)));
        c.push(u64::from(u32::MAX) + 1);
        assert!(matches!(c, Column::Wide(_)));
        c.push(3);
        let got: Vec<u64> = (0..c.len()).map(|i| c.get(i)).collect();
        assert_eq!(got, [7, u64::from(u32::MAX), u64::from(u32::MAX) + 1, 3]);
    }

    #[test]
    fn ordinals_number_keys_in_the_order_met() {
        let mut o = Ordinals::default();
        let keys = [5, 1 << 40, 5, 0, 70_000, 1 << 40, 3, u64::MAX, 200_000, 0];
        let mut want: Vec<u64> = Vec::new();
        for k in keys {
            let (ord, new) = o.get_or_insert(k);
            match want.iter().position(|&w| w == k) {
                Some(p) => assert_eq!((ord, new), (p, false), "key {k}"),
                None => {
                    assert_eq!((ord, new), (want.len(), true), "key {k}");
                    want.push(k);
                }
            }
        }
        assert_eq!(o.keys, want);
        // Dense object ids stay in the table: a few bytes a key.
        let mut o = Ordinals::default();
        for k in (0..300_000u64).rev() {
            o.get_or_insert(k);
        }
        assert!(
            o.sparse.len() < 300_000 / 2,
            "{} in the map",
            o.sparse.len()
        );
        assert_eq!(o.get_or_insert(123), (300_000 - 1 - 123, false));
    }

    /// Keys that land just inside the table's room one after another (a
    /// crafted log) grow it by doubling, not once a key: each growth walks
    /// the keys kept in the map.
    #[test]
    fn the_key_table_grows_by_doubling_whatever_the_keys() {
        let mut o = Ordinals::default();
        let s = 20_000u64;
        for i in 0..s {
            o.get_or_insert((1 << 40) + i * 977);
        }
        for _ in 0..s {
            let k = o.keys.len() as u64 + 1;
            o.get_or_insert(2 * k + 65_535);
        }
        assert!(o.grown <= 40, "the table grew {} times", o.grown);
        for (ord, &k) in o.keys.clone().iter().enumerate() {
            assert_eq!(o.get_or_insert(k), (ord, false));
        }
    }

    /// A sampled summary still ends with a checkpoint at the largest time,
    /// whose prefix is everything: a query at the end scans nothing.
    #[test]
    fn a_thinned_build_keeps_the_largest_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let log = LogOptions::new().create(&path).unwrap();
        for t in 0..1000u32 {
            log.append(&Entry::new().key(u64::from(t % 7)).time(f64::from(t)), b"x")
                .unwrap();
        }
        let reader = LogReader::open(&path).unwrap();
        let idx = Index::empty(&reader)
            .extend_with(&reader, None, 16)
            .unwrap();
        let last = *idx.checkpoints().last().unwrap();
        assert_eq!(
            (last.time, last.prefix_end, last.suffix_start),
            (999.0, idx.covered(), idx.covered())
        );
        assert_eq!(idx.bounds(999.0), (idx.covered(), idx.covered()));
        assert!(idx.checkpoints().len() < 40);
        drop(log);
    }

    /// Of the times 0 and -0, the checkpoint is at -0 whichever comes
    /// first in the file (as the earlier build, which sorted them).
    #[test]
    fn zero_and_minus_zero_make_one_checkpoint_at_minus_zero() {
        for times in [[0.0, -0.0], [-0.0, 0.0]] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.log");
            let log = LogOptions::new().create(&path).unwrap();
            for t in times {
                log.append(&Entry::new().time(t), b"x").unwrap();
            }
            let reader = LogReader::open(&path).unwrap();
            let idx = Index::build(&reader, None).unwrap();
            let cps = idx.checkpoints();
            assert_eq!(cps.len(), 1, "{times:?}");
            assert_eq!(cps[0].time.to_bits(), (-0.0f64).to_bits(), "{times:?}");
            drop(log);
        }
    }

    /// The summary never holds much more than its cap, and its bounds hold
    /// for every time it keeps, whatever the order of the times.
    #[test]
    fn a_time_summary_stays_small_and_its_bounds_hold() {
        let cap = 64;
        let mut times = Times::new(cap);
        // (time, offset, end): times shuffled by a multiplicative step.
        let recs: Vec<(f64, u64, u64)> = (0..20_000u64)
            .map(|i| {
                (
                    ((i * 7919) % 5000) as f64,
                    4096 + 32 * i,
                    4096 + 32 * i + 32,
                )
            })
            .collect();
        for &(t, off, end) in &recs {
            times.see(t, off, end);
            assert!(times.ends.len() <= 2 * cap + 1 && times.change.len() <= 2 * cap + 1);
        }
        let s = times.finish();
        assert!(s.thinned);
        assert!(s.times().count() <= cap && s.times().count() > cap / 4);
        let covered = recs.last().unwrap().2;
        for t in s.times() {
            let first = s.first_after(t, covered);
            assert!(
                recs.iter().all(|r| r.1 >= first || r.0 <= t),
                "prefix at {t}"
            );
            let last = s.last_end_upto(t);
            assert!(recs.iter().all(|r| r.0 > t || r.2 <= last), "suffix at {t}");
        }
    }

    /// A record to write: (key, time), `None` for none; NaN stands for a
    /// time the summary must ignore (writers refuse it).
    fn record() -> impl Strategy<Value = (Option<u64>, Option<f64>)> {
        (
            prop::option::weighted(0.9, 0u64..12),
            prop_oneof![
                8 => (0u32..40).prop_map(|t| Some(f64::from(t) / 2.0)),
                1 => Just(None),
            ],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Built whole or extended from a prefix, with the time summary
        /// sampling at a tiny cap: every key's list, the keys out of time
        /// order and every checkpoint bound agree with the log.
        #[test]
        fn a_sampled_build_agrees_with_the_log(
            recs in prop::collection::vec(record(), 1..160),
            cut in 0usize..160,
            cap in 4usize..12,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.log");
            let log = LogOptions::new().create(&path).unwrap();
            let reader = LogReader::open(&path).unwrap();
            let put = |&(key, time): &(Option<u64>, Option<f64>)| {
                let mut e = Entry::new();
                if let Some(k) = key {
                    e = e.key(k);
                }
                if let Some(t) = time {
                    e = e.time(t);
                }
                log.append(&e, b"payload").unwrap();
            };
            let cut = cut.min(recs.len());
            recs[..cut].iter().for_each(put);
            let empty = Index::empty(&reader);
            let first = empty.extend_with(&reader, None, cap).unwrap();
            recs[cut..].iter().for_each(put);
            let idx = first.extend_with(&reader, None, cap).unwrap();
            let whole = empty.extend_with(&reader, None, cap).unwrap();
            let all: Vec<_> = reader.records().collect();
            for idx in [&idx, &whole] {
                prop_assert_eq!(idx.records(), all.len() as u64);
                let mut keys: Vec<u64> = all.iter().filter_map(|r| r.key).collect();
                keys.sort_unstable();
                keys.dedup();
                prop_assert_eq!(idx.keys(), &keys[..]);
                let mut unordered = Vec::new();
                for &k in &keys {
                    let mine: Vec<_> = all.iter().filter(|r| r.key == Some(k)).collect();
                    let offs: Vec<u64> = mine.iter().map(|r| r.offset).collect();
                    prop_assert_eq!(idx.offsets(k), offs);
                    let ordered = mine.iter().all(|r| r.time.is_some())
                        && mine.windows(2).all(|w| w[0].time <= w[1].time);
                    if !ordered {
                        unordered.push(k);
                    }
                }
                prop_assert_eq!(idx.unordered(), &unordered[..]);
                // What a query at any time relies on.
                for probe in (-1..=42).map(|t| f64::from(t) / 2.0 - 0.25) {
                    let (prefix_end, suffix_start) = idx.bounds(probe);
                    // (Records without a time are placed by reading them.)
                    for r in all.iter().filter(|r| r.time.is_some()) {
                        let t = r.time.unwrap();
                        if r.offset < prefix_end {
                            prop_assert!(t <= probe, "record at {} before {prefix_end} at {probe}", r.offset);
                        }
                        if t <= probe {
                            prop_assert!(r.offset < suffix_start, "record at {} from {suffix_start} at {probe}", r.offset);
                        }
                    }
                }
            }
            drop(log);
        }
    }
}
