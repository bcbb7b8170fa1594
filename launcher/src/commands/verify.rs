//! `--sea-verify`: hashes the executable's own payload, then every file of the tree in use
//! against its index ([`crate::care::verify`] checks), and repairs or marks what is damaged.

use std::io::Write;

use crate::app::App;
use crate::care::verify::{Depth, Findings, check, load_index};
use crate::commands::error::{LauncherError, code};
use crate::start::extract::ExtractOptions;
use crate::start::repair;
use crate::start::select::{Listing, Source};
use crate::start::tree::{self, TreePaths};

/// Hashes the executable's own payload, then every file of the tree in use
/// against its index. A damaged bundled tree is re-extracted at once; a damaged update is marked
/// so that the next start uses another version and the next update check reinstalls it.
pub(crate) fn run(app: &App) -> Result<i32, LauncherError> {
    let mut out = std::io::stdout().lock();
    app.package.verify_payload()?;
    let trusted = crate::update::trust::for_payload(app.manifest(), &app.dirs.home);
    crate::start::signer::check_package(&app.package, trusted.as_ref())?;
    let _ = writeln!(out, "payload of {}: sha256 ok", app.process.exe_path.display());
    app.dirs.ensure_home()?;
    app.dirs.ensure_cache_root()?;
    let pin = app.pin()?;
    let selection = app.select(pin.as_ref(), Listing::Contenders, app.updates())?;
    let chosen = selection.chosen().clone();
    if !chosen.dir.join(tree::MANIFEST).exists() && chosen.source == Source::Bundled {
        let _ = writeln!(out, "version {} is not extracted yet: nothing else to verify", chosen.version);
        return Ok(code::OK);
    }
    let index = load_index(&chosen.dir);
    let findings = match &index {
        Ok(index) => check(&chosen.dir, index, Depth::Contents, usize::MAX),
        Err(damage) => Findings { checked: 0, damage: vec![damage.clone()] },
    };
    if findings.damage.is_empty() {
        let _ =
            writeln!(out, "version {} in {}: {} entries ok", chosen.version, chosen.dir.display(), findings.checked);
        return Ok(code::OK);
    }
    for damage in &findings.damage {
        let _ = writeln!(out, "damaged: {damage}");
    }
    let _ = tree::mark_damaged(&chosen.dir);
    if chosen.source == Source::Update {
        return Err(LauncherError::Damaged {
            name: app.name().to_owned(),
            version: chosen.version.to_string(),
            detail: format!("{} damaged entries", findings.damage.len()),
        });
    }
    let paths = TreePaths::new(&app.dirs.pkg, &chosen.id);
    let options = ExtractOptions {
        app: app.name(),
        trusted: trusted.as_ref(),
        mark_update: false,
        progress: true,
        defer_flush: false,
    };
    repair::ensure_tree_in_use(&app.package, &paths, &app.dirs, &options)?;
    let _ =
        writeln!(out, "version {}: repaired ({} damaged entries re-extracted)", chosen.version, findings.damage.len());
    Ok(code::OK)
}
