//! Every environment variable the launcher reads or sets, in one place.
//!
//! Names are `<PREFIX>_<SUFFIX>`, where `PREFIX` is the app name upper-cased with `-` and `.`
//! turned into `_` (`copilot` → `COPILOT_HOME`). Only [`crate::process`] reads the environment;
//! everything else receives values through [`Vars`] and the process snapshot.

/// State directory (restart requests, update state, bad-version marks). Default `$HOME/.<name>`.
pub(crate) const HOME: &str = "HOME";
/// Cache directory (extracted trees, downloads). Default `$XDG_CACHE_HOME/<name>`, else
/// `$HOME/.cache/<name>` (`~/Library/Caches/<name>` on macOS, `%LOCALAPPDATA%\<name>` on Windows).
pub(crate) const CACHE_HOME: &str = "CACHE_HOME";
/// Pins a version: `<PREFIX>_VERSION=1.2.3`.
pub(crate) const VERSION: &str = "VERSION";
/// `0` = bundled payload only, no network.
pub(crate) const AUTO_UPDATE: &str = "AUTO_UPDATE";
/// Trees used within this many days are never removed by clean-up (default 7).
pub(crate) const GC_MIN_AGE_DAYS: &str = "GC_MIN_AGE_DAYS";
/// Seconds without progress before an update request gives up (default 30).
pub(crate) const UPDATE_TIMEOUT: &str = "UPDATE_TIMEOUT";
/// `error`, `warn`, `info`, `debug` or `trace`: structured logs on stderr.
pub(crate) const LOG: &str = "LOG";

/// Set for the app: `1`.
pub(crate) const RUN_APP: &str = "RUN_APP";
/// Set for the app: the tree in use.
pub(crate) const PKG_DIR: &str = "PKG_DIR";
/// Set for the app: absolute path of the packed executable.
pub(crate) const LAUNCHER: &str = "LAUNCHER";
/// Set for the app: where it may write a restart request.
pub(crate) const RESTART_FILE: &str = "RESTART_FILE";
/// Set for the app: the launcher's pid.
pub(crate) const LOADER_PID: &str = "LOADER_PID";
/// Set for the app: the version in use.
pub(crate) const APP_VERSION: &str = "APP_VERSION";

/// Internal, from launcher to launcher: the restart requests' `env` (JSON), carried across the
/// `exec` of a self-updated launcher so that it reaches the app only, never the launcher itself
/// ([`crate::relaunch`]). Removed before the app starts.
pub(crate) const RELAUNCH_ENV: &str = "RELAUNCH_ENV";

/// Variable names for one app.
#[derive(Debug, Clone)]
pub(crate) struct Vars {
    prefix: String,
}

impl Vars {
    /// Names for the app with this `PREFIX`.
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// `<PREFIX>_<suffix>`.
    pub(crate) fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        let v = super::Vars::new("COPILOT".into());
        assert_eq!(v.name(super::HOME), "COPILOT_HOME");
        assert_eq!(v.name(super::CACHE_HOME), "COPILOT_CACHE_HOME");
    }
}
