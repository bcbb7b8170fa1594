//! Work done while the app runs, never before it starts and never delaying the launcher's exit:
//! an opportunistic clean-up (at most once a day), the update check (at most once a day), and
//! the deep check of the tree in use.
//!
//! It runs on one thread started after the child was spawned. The launcher does not wait for
//! it: when the app exits, the launcher exits, and the thread dies with it — an update feed that
//! never answers cannot hold the launcher. Everything it does is safe to interrupt at any
//! instant: clean-up renames a tree away before deleting it, an install extracts into a
//! temporary sibling and renames, and the check only reads, then renames one file.

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
    let stamp = app.dirs.cache.join("gc.stamp");
    // A bad value must not stop the app: logged, and the default used.
    let min_age = app.settings.gc_min_age.clone().unwrap_or_else(|e| {
        tracing::warn!(error = %e, days = gc::DEFAULT_MIN_AGE_DAYS, "background clean-up uses the default");
        Duration::from_secs(gc::DEFAULT_MIN_AGE_DAYS * 86_400)
    });
    let policy = gc::Policy { min_age, protect: vec![id.to_owned()] };
    let dir: PathBuf = dir.to_owned();
    let spawned = std::thread::Builder::new().name("sea-background".into()).spawn(move || {
        // First: until then a power cut would cost this tree (see `flush`).
        match crate::start::flush::flush(&dir) {
            Ok(flushed) => tracing::debug!(flushed, "flush of the tree in use"),
            Err(e) => tracing::warn!(error = %e, tree = %dir.display(), "could not flush the tree in use"),
        }
        if gc::due(&stamp, GC_PERIOD) {
            let report = gc::collect(&app.dirs.pkg, &policy);
            gc::sweep_home(&app.dirs.home);
            tracing::debug!(removed = report.removed().count(), errors = report.errors.len(), "background clean-up");
        }
        update::background(app);
        std::thread::sleep(CHECK_DELAY.saturating_sub(started.elapsed()));
        check_tree(&dir);
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the background thread");
    }
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
