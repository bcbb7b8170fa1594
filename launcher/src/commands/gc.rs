//! `--sea-gc`: cleans the cache now and prints what happened to each tree ([`crate::care::gc`]
//! decides).

use std::io::Write;

use crate::app::App;
use crate::care::gc::{self, Policy};
use crate::commands::error::{LauncherError, code};
use crate::start::select::Listing;

/// Exit 0, or 74 when a tree could not be removed (each one is warned about).
pub(crate) fn run(app: &App) -> Result<i32, LauncherError> {
    // The home is swept too (stale temporary files): it gets the checks a launch gives it first,
    // so a home owned by someone else is refused (77), not cleaned.
    app.dirs.ensure_roots()?;
    let min_age = app.settings.gc_min_age.clone()?;
    let pin = app.pin()?;
    let selection = app.select(pin.as_ref(), Listing::Contenders, app.updates())?;
    let policy = Policy { min_age, protect: vec![selection.chosen().id.clone(), app.manifest().tree_id()] };
    let report = gc::collect(&app.dirs.pkg, &policy);
    gc::sweep_home(&app.dirs.home);
    let mut out = std::io::stdout().lock();
    for decision in &report.trees {
        let _ = writeln!(out, "{}: {}", decision.id, decision.outcome);
    }
    let removed = report.removed().count();
    let _ = writeln!(out, "removed {removed} tree(s) and {} leftover temporary tree(s)", report.scratch_removed);
    for error in &report.errors {
        app.warn(error);
    }
    Ok(if report.errors.is_empty() { code::OK } else { code::IOERR })
}
