//! Progress on stderr, only when stderr is a terminal (never in pipes,
//! files or tests, never on stdout).

use std::io::IsTerminal;
use std::time::Duration;

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
