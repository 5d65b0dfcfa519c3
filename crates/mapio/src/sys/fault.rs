//! Fault injection: the test seam of the `sys` layer.
//!
//! With the `fault-injection` feature, every system call of [`super`] first
//! asks `check` whether a test wants it to fail. Rules are installed per
//! thread (`inject`), so tests running in parallel in one process do not
//! see each other's faults, or process-wide (`inject_global`) for code that
//! runs on threads the test does not control. Without the feature, `check`
//! is an inlined `Ok(())` and costs nothing, and the functions that install
//! rules do not exist.

use std::io;

/// The system calls that can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `open(2)`
    Open,
    /// `fallocate(2)` (and its explicit fallback)
    Fallocate,
    /// `ftruncate(2)`
    Ftruncate,
    /// `mmap(2)`
    Mmap,
    /// `msync(2)`
    Msync,
    /// `fsync(2)` and `fdatasync(2)`
    Fsync,
    /// `sync_file_range(2)`
    SyncFileRange,
    /// `pwrite(2)`
    Pwrite,
}

#[cfg(feature = "fault-injection")]
mod imp {
    use super::Op;
    use std::cell::RefCell;
    use std::io;
    use std::sync::Mutex;

    #[derive(Clone, Debug)]
    struct Rule {
        op: Op,
        errno: i32,
        skip: u32,
        times: u32,
    }

    thread_local! {
        static THREAD_RULES: RefCell<Vec<Rule>> = const { RefCell::new(Vec::new()) };
        static THREAD_HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    static GLOBAL_RULES: Mutex<Vec<Rule>> = Mutex::new(Vec::new());

    fn apply(rules: &mut Vec<Rule>, op: Op) -> Option<i32> {
        let i = rules.iter().position(|r| r.op == op)?;
        let rule = &mut rules[i];
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        let errno = rule.errno;
        rule.times -= 1;
        if rule.times == 0 {
            rules.remove(i);
        }
        Some(errno)
    }

    pub fn check(op: Op) -> io::Result<()> {
        let hit = THREAD_RULES
            .with(|r| apply(&mut r.borrow_mut(), op))
            .or_else(|| {
                let mut g = GLOBAL_RULES.lock().unwrap_or_else(|e| e.into_inner());
                apply(&mut g, op)
            });
        match hit {
            Some(errno) => {
                THREAD_HITS.with(|h| h.set(h.get() + 1));
                Err(io::Error::from_raw_os_error(errno))
            }
            None => Ok(()),
        }
    }

    pub fn hits() -> u64 {
        THREAD_HITS.with(|h| h.get())
    }

    pub fn inject(op: Op, errno: i32, skip: u32, times: u32) {
        if times > 0 {
            THREAD_RULES.with(|r| {
                r.borrow_mut().push(Rule {
                    op,
                    errno,
                    skip,
                    times,
                })
            });
        }
    }

    pub fn inject_global(op: Op, errno: i32, skip: u32, times: u32) {
        if times > 0 {
            let mut g = GLOBAL_RULES.lock().unwrap_or_else(|e| e.into_inner());
            g.push(Rule {
                op,
                errno,
                skip,
                times,
            });
        }
    }

    pub fn clear() {
        THREAD_RULES.with(|r| r.borrow_mut().clear());
        GLOBAL_RULES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Fails with the injected error if a rule for `op` is due.
#[inline(always)]
pub(crate) fn check(op: Op) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        imp::check(op)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = op;
        Ok(())
    }
}

/// Makes `op` fail with `errno` on this thread, after letting `skip` calls
/// pass, for `times` calls.
#[cfg(feature = "fault-injection")]
pub fn inject(op: Op, errno: i32, skip: u32, times: u32) {
    imp::inject(op, errno, skip, times)
}

/// Like [`inject`], for every thread of the process.
#[cfg(feature = "fault-injection")]
pub fn inject_global(op: Op, errno: i32, skip: u32, times: u32) {
    imp::inject_global(op, errno, skip, times)
}

/// How many injected failures this thread has returned so far.
#[cfg(feature = "fault-injection")]
pub fn hits() -> u64 {
    imp::hits()
}

/// Removes this thread's rules and the process-wide ones.
#[cfg(feature = "fault-injection")]
pub fn clear() {
    imp::clear()
}
