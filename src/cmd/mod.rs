//! The subcommands of `mapio`, and the one place where exit codes are
//! defined.
//!
//! Each subcommand is a module with an `Args` struct (clap derive) and a
//! `run(Args) -> Outcome` function that calls the library. `main.rs` parses
//! the command line and dispatches; [`finish`] turns the outcome into the
//! process's exit code and prints any error as `mapio: <error>` on stderr.
//!
//! Adding a subcommand: a module here, one variant in `main.rs`'s
//! `Command` enum, one arm in its `match`.

pub mod at;
pub mod bench;
pub mod cat;
pub mod create;
pub mod export;
pub mod history;
pub mod index;
pub mod info;
pub mod recover;
pub mod tail;
pub mod verify;

pub(crate) mod set;

pub(crate) mod args;
pub(crate) mod out;
pub(crate) mod progress;
pub(crate) mod records;

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

/// The exit codes, as printed at the end of `mapio --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  damage found (verify): the file holds records that do not check
  2  usage error: a bad option, a dtype or shape that does not parse, an
     option that does not apply to this kind of file
  3  the input file is corrupt or invalid: a damaged or truncated header,
     a size that does not match, a format this mapio does not know
  4  the file is locked by another process (e.g. a writer holds the log)
  5  no space left on the device (or a quota or file-size limit)
  6  any other I/O error: a missing file, a permission denied, ...

Output: with --json, stdout holds only JSON (one document, or one JSON
object per line for records); messages and errors go to stderr.";

/// What a subcommand ended with. The numbers are part of the interface:
/// scripts rely on them (see [`EXIT_CODES_HELP`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: `verify` found damage.
    Damage = 1,
    /// 2: bad usage (clap uses 2 for its own errors too).
    Usage = 2,
    /// 3: the input file is corrupt or invalid ([`mapio::Error::Corrupt`],
    /// [`mapio::Error::Format`]).
    Corrupt = 3,
    /// 4: locked by another process ([`mapio::Error::Locked`]).
    Locked = 4,
    /// 5: no space ([`mapio::Error::NoSpace`]).
    NoSpace = 5,
    /// 6: any other I/O error.
    Io = 6,
    /// 130: stopped by a signal (Ctrl-C, SIGTERM, SIGHUP), cleanly
    /// (`mapio demo`; the shell's code for Ctrl-C).
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// What a subcommand returns: how it ended, or the error that stopped it.
pub type Outcome = anyhow::Result<Exit>;

/// A wrong use of the command line that clap cannot see (an option that
/// does not apply to the kind of file found): exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Installs a handler for SIGINT, SIGTERM and SIGHUP that removes this
/// process's temporary files in `dirs` (mapio writes large outputs, an
/// export's columns or an index, under temporary names and renames them
/// into place when complete) and exits with status 130: an interrupted
/// command leaves nothing behind. (A file the command creates in the
/// instant between the signal and the exit, and the files of a process
/// killed outright, are removed by the next export or index build there.)
pub fn clean_up_on_signal(dirs: Vec<std::path::PathBuf>) -> anyhow::Result<()> {
    use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let pid = std::process::id();
            let removed: usize = dirs
                .iter()
                .map(|d| mapio::map::remove_temporaries(d, Some(pid)).len())
                .sum();
            let _ = writeln!(
                io::stderr(),
                "mapio: interrupted; {removed} temporary file(s) removed, nothing was replaced"
            );
            std::process::exit(Exit::Interrupted as i32);
        }
    });
    Ok(())
}

/// How an error ends the process: `None` for a closed stdout (the reader
/// of a pipe went away, as `| head` does), which is not a failure.
pub fn classify(err: &anyhow::Error) -> Option<Exit> {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<mapio::Error>() {
            return Some(match e {
                mapio::Error::Corrupt { .. } | mapio::Error::Format { .. } => Exit::Corrupt,
                mapio::Error::Locked { .. } => Exit::Locked,
                mapio::Error::NoSpace { .. } => Exit::NoSpace,
                mapio::Error::InvalidArgument(_) => Exit::Usage,
                mapio::Error::Io { source, .. } if is_broken_pipe(source) => return None,
                _ => Exit::Io,
            });
        }
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            if is_broken_pipe(e) {
                return None;
            }
            return Some(Exit::Io);
        }
        if cause.is::<UsageError>() || cause.is::<mapio::array::dtype::DTypeError>() {
            return Some(Exit::Usage);
        }
        if cause.is::<crate::demo::Interrupted>() {
            return Some(Exit::Interrupted);
        }
    }
    Some(Exit::Io)
}

fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Ends a subcommand: prints the error, if any, as `mapio: <error>` on
/// stderr and returns the exit code.
pub fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(exit) => exit.into(),
        Err(err) => match classify(&err) {
            None => Exit::Ok.into(),
            Some(exit) => {
                // The library's messages name the file and say what to do;
                // nothing to add. A failing stderr cannot be reported.
                let _ = writeln!(io::stderr(), "mapio: {err}");
                exit.into()
            }
        },
    }
}
