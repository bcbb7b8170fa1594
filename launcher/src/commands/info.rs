//! `--sea-info`: what the launcher knows, as JSON on stdout. Reads only; creates nothing.

use std::io::Write;

use serde_json::json;

use crate::app::App;
use crate::commands::error::LauncherError;
use crate::start::select::Listing;
use crate::start::state::UpdateState;

/// Prints the JSON document; exit code 0.
pub(crate) fn run(app: &App) -> Result<i32, LauncherError> {
    let manifest = app.manifest();
    let pin = app.pin()?;
    let selection = app.select(pin.as_ref(), Listing::All, app.updates())?;
    let chosen = selection.chosen();
    let state = UpdateState::load(&app.dirs.home);
    let doc = json!({
        "name": manifest.name,
        "launcher_version": app.launcher_version.to_string(),
        "binary_version": manifest.version.to_string(),
        "platform": manifest.platform,
        "executable": app.process.exe_path,
        "home": app.dirs.home,
        "cache": app.dirs.cache,
        "chosen": {
            "version": chosen.version.to_string(),
            "source": chosen.source,
            "id": chosen.id,
            "dir": chosen.dir,
        },
        "candidates": selection.candidates,
        "pinned": pin.as_ref().map(|p| p.version.to_string()),
        "auto_update": app.updates_enabled(),
        "dirs": {
            "home": app.dirs.home,
            "cache": app.dirs.cache,
            "pkg": app.dirs.pkg,
            "restart": app.dirs.restart,
            "tree": chosen.dir,
        },
        "payload": {
            "sha256": manifest.payload.sha256,
            "size": manifest.payload.size,
            "unpacked_size": manifest.unpacked_size,
            "entries": manifest.entries,
            "entry": manifest.entry,
            "signed": app.package.signature().is_some(),
            // `false`: built --no-supervise, the launcher execs the app in place.
            "supervise": manifest.supervise,
        },
        "update": {
            "feed": manifest.update.feed,
            "public_key": manifest.update.public_key,
            "channel": app.channel(),
            "highest_verified": app.floor(&state).map(|v| v.to_string()),
            "last_check": state.last_check,
        },
        "settings": app.settings.report(),
        "warnings": selection.warnings,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    Ok(0)
}
