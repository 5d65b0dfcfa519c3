//! Progress on stderr, only when stderr is a terminal (never in pipes,
//! files or tests, never on stdout).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mapio::log::LogSet;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner or a bar that is hidden unless stderr is a terminal; cleared
/// when dropped.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A spinner with a message, for work whose length is unknown (the
    /// library's scan reports no progress).
    pub fn spinner(msg: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            pb.set_style(style);
        }
        pb.set_message(msg.to_string());
        pb.enable_steady_tick(Duration::from_millis(100));
        Progress(Some(pb))
    }

    /// A bar of `len` steps, shown only for long work (`len >= min`).
    pub fn bar(msg: &str, len: u64, min: u64) -> Progress {
        if len < min || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let pb = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:40}] {percent}% {elapsed}/{eta}")
        {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.to_string());
        Progress(Some(pb))
    }

    /// Sets a bar's length (what it measures became better known).
    pub fn set_length(&self, len: u64) {
        if let Some(pb) = &self.0 {
            pb.set_length(len);
        }
    }

    /// Advances a bar to `pos`.
    pub fn set(&self, pos: u64) {
        if let Some(pb) = &self.0 {
            pb.set_position(pos);
        }
    }

    /// The part the bar measures is done and `msg` says what comes next:
    /// the bar turns into a spinner saying so, instead of sitting at 100%.
    pub fn next_part(&self, msg: &str) {
        let Some(pb) = &self.0 else { return };
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            pb.set_style(style);
        }
        pb.set_message(msg.to_string());
        pb.enable_steady_tick(Duration::from_millis(100));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}

/// Runs `query` on `set` under a spinner that says `msg`, which turns into
/// a bar of what the query's scans have read (see
/// [`LogSet::scan_progress`]) once they plan to read at least 64 MiB: a
/// query through a fresh index is quick, one that scans a large log shows
/// how far it is.
pub fn with_scan_bar<T>(set: &LogSet, msg: &str, query: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return query();
    }
    with_display(set, msg, query)
}

/// [`with_scan_bar`] on a terminal.
fn with_display<T>(set: &LogSet, msg: &str, query: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let display = s.spawn(|| {
            let mut spinner = Some(Progress::spinner(msg));
            let mut bar: Option<Progress> = None;
            while !done.load(Ordering::Acquire) {
                let (read, planned) = set.scan_progress();
                if bar.is_none() && planned >= 64 << 20 {
                    drop(spinner.take());
                    bar = Some(Progress::bar(msg, planned, 0));
                }
                if let Some(b) = &bar {
                    b.set_length(planned);
                    b.set(read);
                }
                std::thread::park_timeout(Duration::from_millis(100));
            }
        });
        // Set however `query` ends (a panic too), waking the display, so
        // that it stops at once and clears its line.
        struct Stop<'a>(&'a AtomicBool, &'a std::thread::Thread);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
                self.1.unpark();
            }
        }
        let _stop = Stop(&done, display.thread());
        query()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The display stops however the query ends: a panic in it reaches
    /// the caller, and nothing waits for a display that never stops.
    #[test]
    fn a_query_that_panics_stops_the_display() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        mapio::log::LogOptions::new()
            .create(&path)
            .unwrap()
            .close()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let set = LogSet::open(&path, &mapio::log::SetOptions::new()).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_display(&set, "testing", || -> u32 { panic!("in the query") })
            }));
            let _ = tx.send(r.is_err());
            let ok = with_display(&set, "testing", || 7);
            let _ = tx.send(ok == 7);
        });
        for what in ["the panic", "a query after it"] {
            let got = rx.recv_timeout(Duration::from_secs(20));
            assert_eq!(got, Ok(true), "{what}: the display never stopped");
        }
    }
}
