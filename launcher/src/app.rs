//! The launcher's context: its process inputs, its own package, its directories.
//!
//! Built once in `main`; every mode (`launch`, `--sea-info`, `--sea-gc`, …) reads from it.

use std::ffi::OsStr;
use std::time::Duration;

use sea_payload::{Manifest, Package};
use semver::Version;

use crate::dirs::Dirs;
use crate::error::LauncherError;
use crate::gc;
use crate::process::Process;
use crate::select::{self, Selection};
use crate::state::UpdateState;
use crate::stub;
use crate::vars::{self, Vars};

/// Everything a mode needs.
#[derive(Debug)]
pub(crate) struct App {
    /// Process inputs.
    pub(crate) process: Process,
    /// Variable names.
    pub(crate) vars: Vars,
    /// The bundled package (this executable).
    pub(crate) package: Package,
    /// Home and cache.
    pub(crate) dirs: Dirs,
    /// This launcher's version.
    pub(crate) launcher_version: Version,
}

impl App {
    /// The app's name.
    pub(crate) fn name(&self) -> &str {
        &self.package.manifest().name
    }

    /// The bundled manifest.
    pub(crate) fn manifest(&self) -> &Manifest {
        self.package.manifest()
    }

    /// Prints a warning on stderr.
    pub(crate) fn warn(&self, message: &str) {
        crate::say::say!("{}: warning: {message}", self.name());
        tracing::warn!(message);
    }

    fn var_text(&self, suffix: &str) -> Option<(String, String)> {
        let name = self.vars.name(suffix);
        self.process.app_var(&self.vars, suffix).map(|v| (name, v.to_string_lossy().into_owned()))
    }

    /// `false` when `<PREFIX>_AUTO_UPDATE=0` (or `false`/`no`/`off`): bundled only, no network.
    pub(crate) fn updates_enabled(&self) -> bool {
        !matches!(
            self.process
                .app_var(&self.vars, vars::AUTO_UPDATE)
                .and_then(OsStr::to_str)
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("0" | "false" | "no" | "off")
        )
    }

    /// The version pinned by `<PREFIX>_VERSION`.
    pub(crate) fn pin(&self) -> Result<Option<(Version, String)>, LauncherError> {
        let Some((var, value)) = self.var_text(vars::VERSION) else { return Ok(None) };
        let version = Version::parse(value.trim().trim_start_matches('v')).map_err(|e| LauncherError::BadVariable {
            var: var.clone(),
            value,
            reason: format!("not a semantic version ({e})"),
        })?;
        Ok(Some((version, var)))
    }

    /// Minimum age for clean-up, from `<PREFIX>_GC_MIN_AGE_DAYS` (default 7 days).
    pub(crate) fn gc_min_age(&self) -> Duration {
        let days = match self.var_text(vars::GC_MIN_AGE_DAYS) {
            None => gc::DEFAULT_MIN_AGE_DAYS as f64,
            Some((var, value)) => match value.trim().parse::<f64>() {
                Ok(d) if d.is_finite() && d >= 0.0 => d,
                _ => {
                    self.warn(&format!("{var}={value:?} is not a number of days; using {}", gc::DEFAULT_MIN_AGE_DAYS));
                    gc::DEFAULT_MIN_AGE_DAYS as f64
                }
            },
        };
        Duration::from_secs_f64((days * 86_400.0).min(1e12))
    }

    /// The channel this build follows: recorded at build time, else the feed URL's file stem.
    pub(crate) fn channel(&self) -> Option<&str> {
        self.manifest().update.channel()
    }

    /// Whether the channel followed is a pre-release channel (any channel but `stable`).
    pub(crate) fn prerelease_channel(&self) -> bool {
        self.channel().is_some_and(sea_payload::feed::allows_prerelease)
    }

    /// Whether this client runs pre-releases: on a pre-release channel, or when the bundled
    /// version is one.
    pub(crate) fn runs_prereleases(&self) -> bool {
        self.prerelease_channel() || !self.manifest().version.pre.is_empty()
    }

    /// The rollback floor of the channel followed.
    pub(crate) fn floor(&self, state: &UpdateState) -> Option<Version> {
        state.floor(self.channel()?, self.runs_prereleases())
    }

    /// Chooses a version. `pin` overrides `<PREFIX>_VERSION` (a restart request's version).
    pub(crate) fn select(
        &self,
        pin: Option<(&Version, &str)>,
        list_all: bool,
        updates: bool,
    ) -> Result<Selection, LauncherError> {
        let floor = || self.floor(&UpdateState::load(&self.dirs.home));
        let inputs = select::Inputs {
            bundled: self.manifest(),
            pkg: &self.dirs.pkg,
            home: &self.dirs.home,
            launcher_version: &self.launcher_version,
            updates,
            prerelease_channel: self.prerelease_channel(),
            floor: &floor,
            list_all,
        };
        Ok(select::select(&inputs, pin)?)
    }

    /// The launcher version this binary carries.
    pub(crate) fn launcher_version() -> Version {
        stub::launcher_version().clone()
    }
}
