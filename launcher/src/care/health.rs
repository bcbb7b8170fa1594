//! Bad-version marks: a version that crashes on start [`CRASHES_TO_BAD`] runs in a row is not
//! chosen again.
//!
//! "Crashes on start" (README, "Directories, locks and clean-up"): its entry cannot be executed,
//! or the app dies of one of [`CRASH_SIGNALS`] (SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGFPE) within
//! [`START_WINDOW`] of start — in a row, without ever having run longer. A run that lasts longer proves the version can work, and it is never marked bad after
//! that; any other run ends a streak. The bundled payload is never marked: it is the fallback.
//!
//! State lives in `<home>/health/<tree id>.json` and is written only at exit, and only when it
//! changes (a crash, the first long run, the end of a streak), so the warm path reads nothing
//! for the bundled payload and writes nothing at all.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Runs shorter than this that die of a crash signal count as crashes on start.
pub(crate) const START_WINDOW: Duration = Duration::from_secs(10);
/// Crashes in a row that make a version bad.
pub(crate) const CRASHES_TO_BAD: u32 = 3;

/// The signals that count as a crash.
#[cfg(unix)]
pub(crate) const CRASH_SIGNALS: [i32; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGABRT, libc::SIGFPE];
#[cfg(not(unix))]
pub(crate) const CRASH_SIGNALS: [i32; 0] = [];

/// One version's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Health {
    /// Crashes on start in a row.
    #[serde(default)]
    pub(crate) crashes: u32,
    /// Has run past the start window at least once.
    #[serde(default)]
    pub(crate) ran_long: bool,
    /// Marked bad.
    #[serde(default)]
    pub(crate) bad: bool,
}

/// How a run ended, as far as health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunResult {
    /// The entry could not be executed.
    NotExecutable,
    /// Died of a signal after running this long.
    Signal(i32, Duration),
    /// Exited with a code after running this long.
    Exited(Duration),
}

impl RunResult {
    fn is_crash_on_start(self) -> bool {
        match self {
            RunResult::NotExecutable => true,
            RunResult::Signal(sig, ran) => CRASH_SIGNALS.contains(&sig) && ran < START_WINDOW,
            RunResult::Exited(_) => false,
        }
    }

    fn ran_long(self) -> bool {
        matches!(self, RunResult::Signal(_, ran) | RunResult::Exited(ran) if ran >= START_WINDOW)
    }
}

fn path(home: &Path, id: &str) -> PathBuf {
    home.join("health").join(format!("{id}.json"))
}

/// The record of a version; a missing or unreadable record is a clean one.
pub(crate) fn load(home: &Path, id: &str) -> Health {
    // A record is a few dozen bytes; anything much larger is not one.
    sea_payload::bounded::read(&path(home, id), 64 * 1024)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Whether the version is marked bad.
pub(crate) fn is_bad(home: &Path, id: &str) -> bool {
    load(home, id).bad
}

/// Folds one run into the record. Returns `true` when this run made the version bad.
pub(crate) fn record(home: &Path, id: &str, result: RunResult, markable: bool) -> io::Result<bool> {
    let file = path(home, id);
    let exists = file.exists();
    // The common case — a clean run of a version with no record — costs one failed stat.
    if !exists && !result.is_crash_on_start() && !result.ran_long() {
        return Ok(false);
    }
    let before = if exists { load(home, id) } else { Health::default() };
    let after = next(&before, result, markable);
    if after != before {
        write(&file, &after)?;
    }
    Ok(after.bad && !before.bad)
}

/// The record after one more run.
pub(crate) fn next(before: &Health, result: RunResult, markable: bool) -> Health {
    let mut h = before.clone();
    if result.ran_long() {
        h.ran_long = true;
    }
    if result.is_crash_on_start() && !h.ran_long {
        h.crashes += 1;
        if h.crashes >= CRASHES_TO_BAD && markable {
            h.bad = true;
        }
    } else {
        h.crashes = 0;
    }
    h
}

fn write(file: &Path, health: &Health) -> io::Result<()> {
    crate::private::create_dir(file.parent().unwrap_or(Path::new(".")), true)?;
    let bytes = serde_json::to_vec(health).map_err(io::Error::other)?;
    crate::private::write(file, &bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_millis(10);

    #[test]
    fn three_crashes_in_a_row_make_a_version_bad() {
        let mut h = Health::default();
        for _ in 0..2 {
            h = next(&h, RunResult::Signal(libc::SIGSEGV, QUICK), true);
            assert!(!h.bad);
        }
        h = next(&h, RunResult::NotExecutable, true);
        assert!(h.bad);
    }

    #[test]
    fn a_good_run_ends_the_streak_and_a_long_one_protects_for_ever() {
        let mut h = Health::default();
        h = next(&h, RunResult::Signal(libc::SIGABRT, QUICK), true);
        h = next(&h, RunResult::Exited(QUICK), true);
        assert_eq!(h.crashes, 0);
        h = next(&h, RunResult::Exited(START_WINDOW), true);
        for _ in 0..5 {
            h = next(&h, RunResult::Signal(libc::SIGSEGV, QUICK), true);
        }
        assert!(!h.bad);
    }

    #[test]
    fn other_signals_and_late_crashes_do_not_count() {
        let h = next(&Health::default(), RunResult::Signal(libc::SIGTERM, QUICK), true);
        assert_eq!(h.crashes, 0);
        let h = next(&Health::default(), RunResult::Signal(libc::SIGSEGV, START_WINDOW), true);
        assert_eq!(h.crashes, 0);
        assert!(h.ran_long);
    }

    #[test]
    fn the_bundled_payload_is_never_marked() {
        let mut h = Health::default();
        for _ in 0..5 {
            h = next(&h, RunResult::NotExecutable, false);
        }
        assert!(!h.bad);
    }

    #[test]
    fn records_round_trip_on_disk() {
        let home = tempfile::tempdir().expect("tempdir");
        for _ in 0..2 {
            assert!(!record(home.path(), "1.0.0-0123456789ab", RunResult::NotExecutable, true).expect("record"));
        }
        assert!(record(home.path(), "1.0.0-0123456789ab", RunResult::NotExecutable, true).expect("record"));
        assert!(is_bad(home.path(), "1.0.0-0123456789ab"));
        assert!(!is_bad(home.path(), "2.0.0-0123456789ab"));
    }
}
