//! After a self-update replaced the executable on disk, restarts continue in the new launcher.
//!
//! The supervising launcher is still the old code in memory. When the app asks for a restart
//! (exit code 75, typically after running `--sea-update`) and the file at our path is no longer
//! the file we run, the old launcher `exec`s the new one with the restart's arguments: same pid,
//! so the shell that started us keeps waiting on the same process, and the new launcher chooses
//! versions with its own (newer) rules. If the `exec` fails, the old launcher carries on.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use crate::app::App;
use crate::error::LauncherError;

/// `exec`s the replaced launcher if there is one; returns only if there is none or `exec` failed.
pub(crate) fn if_replaced(
    app: &App,
    args: &[OsString],
    cwd: Option<&Path>,
    extra_env: &BTreeMap<OsString, OsString>,
) -> Result<(), LauncherError> {
    if !replaced(app) {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(&app.process.exe_path);
        cmd.args(args).env_clear().envs(&app.process.env).envs(extra_env);
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        tracing::info!(path = %app.process.exe_path.display(), "the launcher was replaced; continuing in the new one");
        let error = cmd.exec();
        app.warn(&format!("could not start the updated launcher ({error}); continuing with this one"));
    }
    #[cfg(not(unix))]
    let _ = (args, cwd, extra_env);
    Ok(())
}

/// Whether the path we were started from now names another file.
fn replaced(app: &App) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (Ok(on_disk), Ok(running)) = (std::fs::metadata(&app.process.exe_path), app.process.exe_file.metadata())
        else {
            return false;
        };
        on_disk.ino() != running.ino() || on_disk.dev() != running.dev()
    }
    #[cfg(not(unix))]
    {
        let _ = app;
        false
    }
}
