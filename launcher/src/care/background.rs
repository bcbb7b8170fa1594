//! Work done while the app runs, never before it starts and never delaying the launcher's exit:
//! an opportunistic clean-up (at most once a day), the update check (at most once a day), and
//! the deep check of the tree in use.
//!
//! It runs on one thread started after the child was spawned. The launcher does not wait for
//! it: when the app exits, the launcher exits, and the thread dies with it — an update feed that
//! never answers cannot hold the launcher. Everything it does is safe to interrupt at any
//! instant: clean-up renames a tree away before deleting it, an install extracts into a
//! temporary sibling and renames, and the check only reads, then renames one file.
//!
//! An app run in place of the launcher (`run::exec`, `--no-supervise`) leaves no launcher to
//! host the thread. Its start asks [`due`] instead (a few `stat`s, no network) and, only when
//! something is due, [`detach`]es a process for the same work: a fresh tree to flush, the daily
//! clean-up or update check, or the deep check, which such runs do at most once per
//! [`CHECK_PERIOD`] per tree (stamp `.sea/checked`) instead of at every start. The process is a
//! grandchild (the app never sees it as a child of its own, so its `wait`s are not disturbed),
//! in a session of its own (a Ctrl-C or hang-up aimed at the app does not stop it half-way),
//! with stdin, stdout and stderr on `/dev/null` (a pipe from the app, `app | head`, ends when the
//! app ends, not when the background work does), and it holds the tree's usage lock through the
//! descriptor it inherits. A supervised app that exits before its background work started
//! gets the same process for the flush alone (`commands::run`), so a short command's fresh
//! tree does not stay unflushed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::app::App;
use crate::care::gc;
use crate::care::verify::{self, Depth};
use crate::start::tree;
use crate::update;

/// Clean-up runs at most this often in the background.
const GC_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The deep check waits this long after start, so a short-lived command never pays for it and a
/// long one gets its start-up CPU first.
const CHECK_DELAY: Duration = Duration::from_secs(1);

/// Starts the background thread for the tree `dir` (id `id`) now in use.
pub(crate) fn start(app: &'static App, dir: &Path, id: &str) {
    let started = Instant::now();
    let policy = policy(app, id);
    let dir: PathBuf = dir.to_owned();
    // Everything, each step checking for itself whether it is due: the flush (first: until then
    // a power cut would cost this tree, see `flush`) finds no mark, the clean-up and the update
    // check their stamps, and the deep check runs at every start that lasts.
    let all = Due { flush: true, gc: true, update: true, check: true };
    let spawned =
        std::thread::Builder::new().name("sea-background".into()).spawn(move || work(app, &dir, all, &policy, started));
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the background thread");
    }
}

/// How often an app run in place of the launcher has its tree checked in full.
pub(crate) const CHECK_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The stamp of the last full check of a tree run in place, relative to the tree.
pub(crate) const CHECKED_STAMP: &str = ".sea/checked";

/// Background work an in-place run has to do now; nothing due means no process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// The tree is marked unflushed (a cold start just extracted it).
    pub(crate) flush: bool,
    /// The daily clean-up.
    pub(crate) gc: bool,
    /// The daily update check.
    pub(crate) update: bool,
    /// The tree's full check (at most once per [`CHECK_PERIOD`]).
    pub(crate) check: bool,
}

impl Due {
    /// Whether anything is due.
    pub(crate) fn any(self) -> bool {
        self.flush || self.gc || self.update || self.check
    }
}

/// What is due for the tree `dir` of an in-place run; `unflushed` is what the start's tree check
/// found (`tree::Checked`), so the mark is not looked at twice.
pub(crate) fn due(app: &App, dir: &Path, unflushed: bool) -> Due {
    Due {
        flush: unflushed,
        gc: gc::is_due(&gc_stamp(app), GC_PERIOD),
        update: update::background_due(app),
        check: gc::is_due(&dir.join(CHECKED_STAMP), CHECK_PERIOD),
    }
}

/// Starts the background work of an in-place run in a detached process (see the module docs) and
/// returns once that process exists; the app is `exec`ed next. A failure to start it is logged:
/// the work is only ever late, never lost (it is still due at the next start).
#[cfg(unix)]
pub(crate) fn detach(app: &App, dir: &Path, id: &str, due: Due) {
    let started = Instant::now();
    // SAFETY: the launcher is single-threaded here (no background thread in an in-place run,
    // the extraction's threads are joined), so the child may do anything the parent could.
    let child = unsafe { libc::fork() };
    match child {
        -1 => {
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not start the background work");
            return;
        }
        0 => {}
        pid => {
            // The intermediate child exits at once: reap it, so the app never inherits it.
            let mut status = 0;
            // SAFETY: waits for our own child, just forked.
            while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {}
            return;
        }
    }
    // The intermediate child: a session of its own, then the worker, reparented when we exit.
    // SAFETY: plain syscalls in a single-threaded child; `_exit` runs no destructor or atexit
    // handler of the launcher's (its buffers belong to the process that goes on to exec).
    unsafe {
        libc::setsid();
        match libc::fork() {
            0 => {}
            _ => libc::_exit(0),
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    let policy = policy(app, id);
    work(app, dir, due, &policy, started);
    // SAFETY: as above.
    unsafe { libc::_exit(0) }
}

/// The background work, on the thread of [`start`] or in the process of [`detach`]: each step
/// of `due`, in order.
fn work(app: &App, dir: &Path, due: Due, policy: &gc::Policy, started: Instant) {
    if due.flush {
        match crate::start::flush::flush(dir) {
            Ok(flushed) => tracing::debug!(flushed, "flush of the tree in use"),
            Err(e) => tracing::warn!(error = %e, tree = %dir.display(), "could not flush the tree in use"),
        }
    }
    if due.gc && gc::due(&gc_stamp(app), GC_PERIOD) {
        let report = gc::collect(&app.dirs.pkg, policy);
        gc::sweep_home(&app.dirs.home);
        tracing::debug!(removed = report.removed().count(), errors = report.errors.len(), "background clean-up");
    }
    if due.update {
        update::background(app);
    }
    if due.check {
        std::thread::sleep(CHECK_DELAY.saturating_sub(started.elapsed()));
        // Stamped first: a check that finds damage removes the completion mark, and a tree
        // whose check cannot run should not retry at every start.
        let _ = fs::write(dir.join(CHECKED_STAMP), b"");
        check_tree(dir);
    }
}

/// The stamp of the last background clean-up (its mtime).
fn gc_stamp(app: &App) -> PathBuf {
    app.dirs.cache.join("gc.stamp")
}

/// The clean-up policy: the configured minimum age, and the tree about to be used protected.
fn policy(app: &App, id: &str) -> gc::Policy {
    // A bad value must not stop the app: logged, and the default used.
    let min_age = app.settings.gc_min_age.clone().unwrap_or_else(|e| {
        tracing::warn!(error = %e, days = gc::DEFAULT_MIN_AGE_DAYS, "background clean-up uses the default");
        Duration::from_secs(gc::DEFAULT_MIN_AGE_DAYS * 86_400)
    });
    gc::Policy { min_age, protect: vec![id.to_owned()] }
}

/// The deep check of the tree in use: every entry exists with its size. Damage is recorded by
/// removing the tree's completion mark, so the next start repairs it.
fn check_tree(dir: &Path) {
    let index = match verify::load_index(dir) {
        Ok(index) => index,
        Err(damage) => return mark(dir, &damage.to_string()),
    };
    let findings = verify::check(dir, &index, Depth::Sizes, 1);
    tracing::debug!(checked = findings.checked, damaged = findings.damage.len(), "background check");
    if let Some(damage) = findings.damage.first() {
        mark(dir, &damage.to_string());
    }
}

fn mark(dir: &Path, why: &str) {
    tracing::warn!(tree = %dir.display(), why, "damaged tree; it will be repaired at the next start");
    let _ = tree::mark_damaged(dir);
}
