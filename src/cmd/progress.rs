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
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut spinner = Some(Progress::spinner(msg));
            let mut bar: Option<Progress> = None;
            while !done.load(Ordering::Relaxed) {
                let (read, planned) = set.scan_progress();
                if bar.is_none() && planned >= 64 << 20 {
                    drop(spinner.take());
                    bar = Some(Progress::bar(msg, planned, 0));
                }
                if let Some(b) = &bar {
                    b.set_length(planned);
                    b.set(read);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = query();
        done.store(true, Ordering::Relaxed);
        r
    })
}
