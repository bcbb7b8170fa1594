//! The launcher's context: its process inputs, its own package, its directories.
//!
//! Built once in `main`; every mode (`launch`, `--sea-info`, `--sea-gc`, …) reads from it.

use std::time::Duration;

use sea_payload::{Manifest, Package};
use semver::Version;

use crate::care::gc;
use crate::commands::error::LauncherError;
use crate::start::dirs::Dirs;
use crate::start::process::Process;
use crate::start::select::{self, Selection};
use crate::start::state::UpdateState;
use crate::start::stub;
use crate::start::vars::{self, BadValue, Vars};

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

    /// `<PREFIX>_AUTO_UPDATE` as a switch ([`vars::switch`]); unset or empty = on.
    pub(crate) fn auto_update(&self) -> Result<bool, BadValue> {
        let name = self.vars.name(vars::AUTO_UPDATE);
        self.process.app_var(&self.vars, vars::AUTO_UPDATE).map_or(Ok(true), |raw| vars::switch(&name, raw))
    }

    /// `false` when `<PREFIX>_AUTO_UPDATE` is `0`, `false`, `no` or `off` (any letter case):
    /// bundled only, no network. A value it does not understand keeps updates on, with one
    /// warning per process: starting the app is not refused over a setting of the background
    /// check (and the app itself may share the variable); `--sea-update` refuses it (exit 64).
    pub(crate) fn updates_enabled(&self) -> bool {
        static WARNED: std::sync::Once = std::sync::Once::new();
        self.auto_update().unwrap_or_else(|e| {
            WARNED.call_once(|| self.warn(&format!("{e}; updates stay on")));
            true
        })
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

    /// Minimum age for clean-up, from `<PREFIX>_GC_MIN_AGE_DAYS` (default 7 days, at most
    /// [`vars::MAX_GC_MIN_AGE_DAYS`]).
    pub(crate) fn gc_min_age(&self) -> Result<Duration, BadValue> {
        let name = self.vars.name(vars::GC_MIN_AGE_DAYS);
        match self.process.app_var(&self.vars, vars::GC_MIN_AGE_DAYS) {
            None => Ok(Duration::from_secs(gc::DEFAULT_MIN_AGE_DAYS * 86_400)),
            Some(raw) => vars::days(&name, raw, vars::MAX_GC_MIN_AGE_DAYS),
        }
    }

    /// Seconds from `<PREFIX>_<suffix>` ([`vars::seconds`]), `None` when unset or empty.
    pub(crate) fn seconds_var(&self, suffix: &str, max: Duration) -> Result<Option<Duration>, BadValue> {
        let name = self.vars.name(suffix);
        self.process.app_var(&self.vars, suffix).map(|raw| vars::seconds(&name, raw, max)).transpose()
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
