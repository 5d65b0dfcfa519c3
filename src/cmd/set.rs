//! Options shared by the commands that read one log or a set of per-rank
//! logs (`index`, `at`, `history`, `export`).

use std::path::PathBuf;

use mapio::log::{LogSet, SetOptions};

/// One log, a directory of logs, or a pattern such as `'run_*.log'`.
#[derive(clap::Args, Debug)]
pub struct SetArgs {
    /// A log, a directory of `.log` files, or a pattern like 'run_*.log'
    /// (quoted, so that mapio expands it: a set of per-rank logs is read
    /// as one)
    pub logs: PathBuf,
    /// Where the indexes are (default: next to each log, as LOG.idx)
    #[arg(long)]
    pub index_dir: Option<PathBuf>,
    /// Ignore indexes and scan
    #[arg(long)]
    pub no_index: bool,
}

impl SetArgs {
    /// Opens the set.
    pub fn open(&self) -> anyhow::Result<LogSet> {
        if self.logs.is_file() {
            super::args::refuse_npy(&self.logs, "this command")?;
        }
        let mut o = SetOptions::new().no_index(self.no_index);
        if let Some(d) = &self.index_dir {
            o = o.index_dir(d);
        }
        let set = LogSet::open(&self.logs, &o)?;
        // A log whose writer died holds only what it committed: answers
        // from it may be older than the others' (a rank that crashed).
        let several = set.files().len() > 1;
        for (i, path) in set.files().iter().enumerate() {
            let r = set.reader(i);
            if !r.closed_cleanly() && !r.writer_active() {
                let behind = if several {
                    ", its objects may be behind the other logs'"
                } else {
                    ""
                };
                eprintln!(
                    "mapio: note: {} was not closed cleanly (its writer crashed or was killed): \
                     it holds what was committed before{behind}; `mapio recover` makes it \
                     appendable",
                    path.display()
                );
            }
        }
        Ok(set)
    }

    /// Opens the set for a query (`at`, `history`, `export`): as
    /// [`open`](Self::open), and with `--index-dir`, a note for each log
    /// that has no usable index there (the query scans it: right, but
    /// slower than the user who named the directory expects).
    pub fn open_for_query(&self) -> anyhow::Result<LogSet> {
        let set = self.open()?;
        if let (Some(dir), false) = (&self.index_dir, self.no_index) {
            for (i, path) in set.files().iter().enumerate() {
                if set.index(i).is_none() {
                    eprintln!(
                        "mapio: note: no usable index of {} in {}: scanning the log \
                         (`mapio index --index-dir {} {}` makes one)",
                        path.display(),
                        dir.display(),
                        dir.display(),
                        path.display()
                    );
                }
            }
        }
        Ok(set)
    }
}

/// After a query: a note for each log whose records, as the query (or
/// its index) met them, stepped over damage. The answer may leave out
/// what was in the damaged ranges, and nothing else would say so.
pub fn note_damage(set: &LogSet) {
    for (i, path) in set.files().iter().enumerate() {
        if set.damage_seen(i) {
            eprintln!(
                "mapio: note: {} is damaged: records in its damaged ranges cannot be read, \
                 and this answer may lack some (`mapio verify` lists the ranges)",
                path.display()
            );
        }
    }
}

/// `--interpolate none|linear`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interp {
    /// Each object's last record at or before the time
    #[default]
    None,
    /// Float fields interpolated linearly to the time
    Linear,
}

impl From<Interp> for mapio::log::Interpolation {
    fn from(i: Interp) -> Self {
        match i {
            Interp::None => mapio::log::Interpolation::None,
            Interp::Linear => mapio::log::Interpolation::Linear,
        }
    }
}
