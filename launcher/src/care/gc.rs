//! Clean-up of old trees: `--sea-gc`, and opportunistically in the background after a start.
//!
//! # What is never removed
//! * a tree in use by any running process: every launcher holds its tree's shared lock for its
//!   whole life, and removal needs the exclusive lock, taken without waiting (a lock, unlike
//!   "is that PID alive", holds across PID namespaces);
//! * the tree the caller is about to use (`protect`);
//! * a tree used within the last `<PREFIX>_GC_MIN_AGE_DAYS` days (default 7), "used" being the
//!   mtime of its lock file, which launchers refresh at most hourly;
//! * the [`KEEP_NEWEST`] (two) newest versions;
//! * anything this code did not create: only directories named `<semver>-<12 hex>` holding a
//!   `.sea/` directory, their lock files, and our `.tmp-`/`.trash-` scratch directories are
//!   considered; everything else in the cache is left alone.
//!
//! # How a tree is removed
//! Under its exclusive lock it is renamed to a `.trash-` name (so its path disappears at once,
//! atomically), deleted, and its lock file unlinked while still held. Temporary trees of a
//! crashed extraction are removed only under that tree's extraction lock, so a running
//! extraction is never disturbed; leftover trash is always garbage.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sea_payload::manifest::parse_tree_id;
use semver::Version;
use serde::Serialize;

use crate::start::lock::{self, Mode};
use crate::start::tree::{self, Scratch, TreePaths};

/// Default minimum age in days.
pub(crate) const DEFAULT_MIN_AGE_DAYS: u64 = 7;
/// Versions always kept.
pub(crate) const KEEP_NEWEST: usize = 2;

/// How to clean.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Trees used more recently than this are kept.
    pub(crate) min_age: Duration,
    /// Tree ids the caller uses or is about to use.
    pub(crate) protect: Vec<String>,
}

/// What happened to one tree.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Decision {
    /// Tree id.
    pub(crate) id: String,
    /// Removed, or why it was kept.
    #[serde(serialize_with = "as_text")]
    pub(crate) outcome: Outcome,
}

/// Removed, or why a tree was kept; `--sea-gc` prints these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Renamed away and deleted.
    Removed,
    /// Another clean-up removed it between the listing and the lock.
    RemovedByAnother,
    /// One of the [`KEEP_NEWEST`] highest versions.
    Newest,
    /// The caller uses it or is about to ([`Policy::protect`]).
    Protected,
    /// A launcher holds its shared lock.
    InUse,
    /// Used more recently than [`Policy::min_age`], this long ago.
    Recent(Duration),
    /// Removing it failed (the error is in [`Report::errors`]).
    Failed,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Removed => f.write_str("removed"),
            Outcome::RemovedByAnother => f.write_str("removed (by another clean-up)"),
            Outcome::Newest => write!(f, "kept: one of the {} newest versions", in_words(KEEP_NEWEST)),
            Outcome::Protected => f.write_str("kept: about to be used"),
            Outcome::InUse => f.write_str("kept: in use"),
            Outcome::Recent(age) => write!(f, "kept: used {} ago", human(*age)),
            Outcome::Failed => f.write_str("kept: error"),
        }
    }
}

fn as_text<S: serde::Serializer>(outcome: &Outcome, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(outcome)
}

/// Small counts in words ("the two newest versions").
fn in_words(n: usize) -> String {
    match n {
        1 => "one".to_owned(),
        2 => "two".to_owned(),
        3 => "three".to_owned(),
        n => n.to_string(),
    }
}

/// The result of one clean-up.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    /// One entry per tree.
    pub(crate) trees: Vec<Decision>,
    /// Scratch directories removed.
    pub(crate) scratch_removed: usize,
    /// Errors met (clean-up goes on after an error).
    pub(crate) errors: Vec<String>,
}

impl Report {
    /// Ids removed.
    pub(crate) fn removed(&self) -> impl Iterator<Item = &str> {
        self.trees
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Removed | Outcome::RemovedByAnother))
            .map(|d| d.id.as_str())
    }
}

/// What a listing of the platform directory holds that is ours.
#[derive(Default)]
struct Listing {
    trees: BTreeMap<String, Version>,
    scratch: Vec<(String, Scratch, PathBuf)>,
}

fn list(pkg: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(pkg)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        let path = entry.path();
        if let Some((version, _)) = parse_tree_id(&name) {
            if path.join(tree::META_DIR).is_dir() && !is_symlink(&path) {
                listing.trees.insert(name, version);
            }
        } else if let Some((id, kind)) = tree::parse_scratch_name(&name)
            && parse_tree_id(id).is_some()
            && !is_symlink(&path)
        {
            listing.scratch.push((id.to_owned(), kind, path));
        }
    }
    Ok(listing)
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Cleans `pkg` (one platform's directory).
pub(crate) fn collect(pkg: &Path, policy: &Policy) -> Report {
    let mut report = Report::default();
    let listing = match list(pkg) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return report,
        Err(e) => {
            report.errors.push(format!("cannot list {}: {e}", pkg.display()));
            return report;
        }
    };
    let newest = newest_ids(&listing.trees);
    for id in listing.trees.keys() {
        let outcome = if newest.contains(id) {
            Outcome::Newest
        } else if policy.protect.contains(id) {
            Outcome::Protected
        } else {
            match remove_tree(pkg, id, policy.min_age) {
                Ok(outcome) => outcome,
                Err(e) => {
                    report.errors.push(format!("cannot remove {id}: {e}"));
                    Outcome::Failed
                }
            }
        };
        report.trees.push(Decision { id: id.clone(), outcome });
    }
    for (id, kind, path) in &listing.scratch {
        if remove_scratch(pkg, id, *kind, path) {
            report.scratch_removed += 1;
        }
    }
    report
}

/// The ids of the [`KEEP_NEWEST`] highest versions.
fn newest_ids(trees: &BTreeMap<String, Version>) -> Vec<String> {
    let mut by_version: Vec<(&Version, &String)> = trees.iter().map(|(id, v)| (v, id)).collect();
    by_version.sort_by(|a, b| b.cmp(a));
    let mut versions: Vec<&Version> = Vec::new();
    let mut ids = Vec::new();
    for (version, id) in by_version {
        if !versions.contains(&version) {
            if versions.len() == KEEP_NEWEST {
                break;
            }
            versions.push(version);
        }
        ids.push(id.clone());
    }
    ids
}

fn remove_tree(pkg: &Path, id: &str, min_age: Duration) -> io::Result<Outcome> {
    let paths = TreePaths::new(pkg, id);
    if let Some(age) = last_used(&paths).and_then(|t| SystemTime::now().duration_since(t).ok())
        && age < min_age
    {
        return Ok(Outcome::Recent(age));
    }
    let Some(held) = lock::try_acquire(&paths.lock, Mode::Exclusive).map_err(io::Error::other)? else {
        return Ok(Outcome::InUse);
    };
    // Checked again under the lock: a launcher may have started using it meanwhile and released.
    if let Some(age) = held.last_used().and_then(|t| SystemTime::now().duration_since(t).ok())
        && age < min_age
    {
        return Ok(Outcome::Recent(age));
    }
    // Another clean-up may have removed the tree (and unlinked its lock file, which locking just
    // created again) between our listing and our lock: then there is nothing left but that file.
    let trash = paths.trash_dir();
    match fs::rename(&paths.dir, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            held.remove();
            return Ok(Outcome::RemovedByAnother);
        }
        Err(e) => return Err(e),
    }
    let removed = fs::remove_dir_all(&trash);
    if let Ok(Some(extract)) = lock::try_acquire(&paths.extract_lock, Mode::Exclusive) {
        extract.remove();
    }
    held.remove();
    removed.map(|()| Outcome::Removed)
}

/// When a tree was last used: its lock file's mtime, else the tree's own.
fn last_used(paths: &TreePaths) -> Option<SystemTime> {
    fs::metadata(&paths.lock).or_else(|_| fs::metadata(&paths.dir)).and_then(|m| m.modified()).ok()
}

fn remove_scratch(pkg: &Path, id: &str, kind: Scratch, path: &Path) -> bool {
    match kind {
        Scratch::Trash => remove_dir_ignoring_races(path),
        Scratch::Temp => {
            let paths = TreePaths::new(pkg, id);
            match lock::try_acquire(&paths.extract_lock, Mode::Exclusive) {
                Ok(Some(_extracting)) => remove_dir_ignoring_races(path),
                _ => false,
            }
        }
    }
}

/// Another clean-up may be removing the same directory: "not found" counts as done.
fn remove_dir_ignoring_races(path: &Path) -> bool {
    match fs::remove_dir_all(path) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}min", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Whether a background clean-up is due: at most once a day, judged by the stamp's mtime. Marks
/// it done when it is due.
pub(crate) fn due(stamp: &Path, period: Duration) -> bool {
    is_due(stamp, period) && fs::write(stamp, b"").is_ok()
}

/// Whether the stamp is missing or older than `period`, without marking anything.
pub(crate) fn is_due(stamp: &Path, period: Duration) -> bool {
    fs::metadata(stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_none_or(|age| age >= period)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn make_tree(pkg: &Path, id: &str) {
        fs::create_dir_all(pkg.join(id).join(".sea")).expect("mkdir");
        fs::write(pkg.join(id).join(".sea/manifest.json"), b"{}").expect("write");
        fs::write(pkg.join(format!("{id}.lock")), b"").expect("lock file");
    }

    fn age(pkg: &Path, id: &str, days: u64) {
        let when = SystemTime::now() - Duration::from_secs(days * 86_400);
        let file = fs::File::options().write(true).open(pkg.join(format!("{id}.lock"))).expect("open");
        file.set_modified(when).expect("mtime");
    }

    #[test]
    fn keeps_newest_in_use_recent_and_foreign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pkg = dir.path();
        let ids = [
            "1.0.0-aaaaaaaaaaaa",
            "2.0.0-bbbbbbbbbbbb",
            "3.0.0-cccccccccccc",
            "4.0.0-dddddddddddd",
            "0.9.0-eeeeeeeeeeee",
        ];
        for id in ids {
            make_tree(pkg, id);
            age(pkg, id, 30);
        }
        age(pkg, "0.9.0-eeeeeeeeeeee", 1);
        fs::create_dir_all(pkg.join("5.0.0-ffffffffffff")).expect("foreign look-alike without .sea");
        fs::create_dir_all(pkg.join("not-ours")).expect("foreign");
        fs::create_dir_all(pkg.join(".1.0.0-aaaaaaaaaaaa.tmp-1-0")).expect("crashed extraction");
        fs::create_dir_all(pkg.join(".2.0.0-bbbbbbbbbbbb.trash-1-0")).expect("crashed deletion");
        let in_use = lock::try_acquire(&pkg.join("2.0.0-bbbbbbbbbbbb.lock"), Mode::Shared).expect("ok").expect("lock");
        let policy = Policy { min_age: Duration::from_secs(7 * 86_400), protect: vec![] };
        let report = collect(pkg, &policy);
        let removed: Vec<&str> = report.removed().collect();
        assert_eq!(removed, vec!["1.0.0-aaaaaaaaaaaa"], "{report:?}");
        assert!(pkg.join("2.0.0-bbbbbbbbbbbb").is_dir(), "in use");
        assert!(pkg.join("3.0.0-cccccccccccc").is_dir() && pkg.join("4.0.0-dddddddddddd").is_dir(), "two newest");
        assert!(pkg.join("0.9.0-eeeeeeeeeeee").is_dir(), "recently used");
        assert!(pkg.join("5.0.0-ffffffffffff").is_dir() && pkg.join("not-ours").is_dir(), "not ours");
        assert!(!pkg.join("1.0.0-aaaaaaaaaaaa.lock").exists());
        assert_eq!(report.scratch_removed, 2);
        drop(in_use);
        let report = collect(pkg, &policy);
        assert_eq!(report.removed().collect::<Vec<_>>(), vec!["2.0.0-bbbbbbbbbbbb"]);
    }

    #[test]
    fn running_extraction_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pkg = dir.path();
        let temp = pkg.join(".1.0.0-aaaaaaaaaaaa.tmp-1-0");
        fs::create_dir_all(&temp).expect("mkdir");
        let _extracting = lock::try_acquire(&pkg.join("1.0.0-aaaaaaaaaaaa.extract.lock"), Mode::Exclusive)
            .expect("ok")
            .expect("lock");
        let report = collect(pkg, &Policy { min_age: Duration::ZERO, protect: vec![] });
        assert_eq!(report.scratch_removed, 0);
        assert!(temp.is_dir());
    }
}

/// A temporary state file older than this belongs to a writer that died.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// Removes the home's leftover temporary state files (see `private::sweep_temps`).
pub(crate) fn sweep_home(home: &Path) -> usize {
    crate::private::sweep_temps(home, STALE_TEMP) + crate::private::sweep_temps(&home.join("health"), STALE_TEMP)
}
