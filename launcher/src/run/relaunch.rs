//! After a self-update replaced the executable on disk, restarts continue in the new launcher.
//!
//! The supervising launcher is still the old code in memory. When the app asks for a restart
//! (exit code 75, typically after running `--sea-update`) and the file at our path is no longer
//! the file we run, the old launcher `exec`s the new one with the restart's arguments: same pid,
//! so the shell that started us keeps waiting on the same process, and the new launcher chooses
//! versions with its own (newer) rules. If the `exec` fails, the old launcher carries on.
//!
//! The new launcher starts with the environment the old one was started with — not with the
//! restart requests' `env`, which is the app's: a request's `LD_PRELOAD`, `<PREFIX>_HOME` or
//! `<PREFIX>_AUTO_UPDATE` must not change how the launcher itself runs. That `env` travels as one
//! JSON value in `<PREFIX>_RELAUNCH_ENV` ([`crate::start::vars::RELAUNCH_ENV`]), which the new launcher
//! takes out of its environment ([`carried_env`]) and adds to the app's only.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use crate::app::App;
use crate::start::vars;

/// `exec`s the replaced launcher if there is one; returns only if there is none or `exec` failed
/// (said as a warning: this launcher carries on).
pub(crate) fn if_replaced(app: &App, args: &[OsString], cwd: Option<&Path>, extra_env: &BTreeMap<OsString, OsString>) {
    if !replaced(app) {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let var = OsString::from(app.vars.name(vars::RELAUNCH_ENV));
        let mut cmd = std::process::Command::new(&app.process.exe_path);
        cmd.args(args).env_clear().envs(app.process.env.iter().filter(|(k, _)| **k != var));
        if !extra_env.is_empty() {
            cmd.env(&var, encode(extra_env));
        }
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        tracing::info!(path = %app.process.exe_path.display(), "the launcher was replaced; continuing in the new one");
        let error = cmd.exec();
        app.warn(&format!("could not start the updated launcher ({error}); continuing with this one"));
    }
    #[cfg(not(unix))]
    let _ = (args, cwd, extra_env);
}

/// The app's extra environment carried by the launcher that `exec`ed this one (empty when none);
/// a value that does not parse is reported and ignored.
pub(crate) fn carried_env(app: &App) -> BTreeMap<OsString, OsString> {
    let var = app.vars.name(vars::RELAUNCH_ENV);
    let Some(value) = app.process.var(&var) else { return BTreeMap::new() };
    match decode(&value.to_string_lossy()) {
        Some(env) => env,
        None => {
            app.warn(&format!("{var} is not the JSON object of strings a launcher writes; ignoring it"));
            BTreeMap::new()
        }
    }
}

/// The environment variables (keys and values are UTF-8: they come from a JSON restart file) as
/// one JSON object.
fn encode(env: &BTreeMap<OsString, OsString>) -> String {
    let map: BTreeMap<String, String> =
        env.iter().filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v.to_str()?.to_owned()))).collect();
    serde_json::to_string(&map).unwrap_or_default()
}

/// Parses [`encode`]'s output; names that could not be set (empty, `=`, NUL) are refused.
fn decode(text: &str) -> Option<BTreeMap<OsString, OsString>> {
    let map: BTreeMap<String, String> = serde_json::from_str(text).ok()?;
    let valid = |k: &str, v: &str| !k.is_empty() && !k.contains(['=', '\0']) && !v.contains('\0');
    map.iter()
        .all(|(k, v)| valid(k, v))
        .then(|| map.into_iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_carried_env_round_trips_and_bad_names_are_refused() {
        let env: BTreeMap<OsString, OsString> =
            [("A".into(), "1 2".into()), ("LD_PRELOAD".into(), "/x.so".into()), ("E".into(), "".into())]
                .into_iter()
                .collect();
        assert_eq!(decode(&encode(&env)), Some(env));
        assert_eq!(decode(r#"{"A=B": "x"}"#), None);
        assert_eq!(decode(r#"{"": "x"}"#), None);
        assert_eq!(decode(r#"["A"]"#), None);
        assert_eq!(decode("{}"), Some(BTreeMap::new()));
    }
}
