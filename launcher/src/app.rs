//! The launcher's context: its process inputs, its settings, its own package, its directories.
//!
//! Built once in `main`; every mode (`launch`, `--sea-info`, `--sea-gc`, …) reads from it.

use sea_payload::{Manifest, Package};
use semver::Version;

use crate::start::dirs::Dirs;
use crate::start::process::Process;
use crate::start::select::{self, Listing, Pin, SelectError, Selection, Updates};
use crate::start::settings::Settings;
use crate::start::state::UpdateState;
use crate::start::stub;
use crate::start::vars::{BadValue, Vars};

/// Everything a mode needs.
#[derive(Debug)]
pub(crate) struct App {
    /// Process inputs.
    pub(crate) process: Process,
    /// Variable names.
    pub(crate) vars: Vars,
    /// What the variables say, parsed once.
    pub(crate) settings: Settings,
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

    /// `false` when `<PREFIX>_AUTO_UPDATE` is `0`, `false`, `no` or `off` (any letter case):
    /// bundled only, no network. A value it does not understand keeps updates on, with one
    /// warning per process: starting the app is not refused over a setting of the background
    /// check (and the app itself may share the variable); `--sea-update` refuses it (exit 64).
    pub(crate) fn updates_enabled(&self) -> bool {
        static WARNED: std::sync::Once = std::sync::Once::new();
        self.settings.auto_update.clone().unwrap_or_else(|e| {
            WARNED.call_once(|| self.warn(&format!("{e}; updates stay on")));
            true
        })
    }

    /// [`App::updates_enabled`] for [`App::select`].
    pub(crate) fn updates(&self) -> Updates {
        Updates::from(self.updates_enabled())
    }

    /// The version pinned by `<PREFIX>_VERSION`; a bad value is an error (exit 64).
    pub(crate) fn pin(&self) -> Result<Option<Pin>, BadValue> {
        self.settings.pin.clone()
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

    /// Chooses a version. `pin` is `<PREFIX>_VERSION`'s or a restart request's.
    pub(crate) fn select(
        &self,
        pin: Option<&Pin>,
        listing: Listing,
        updates: Updates,
    ) -> Result<Selection, SelectError> {
        let floor = || self.floor(&UpdateState::load(&self.dirs.home));
        let inputs = select::Inputs {
            bundled: self.manifest(),
            pkg: &self.dirs.pkg,
            home: &self.dirs.home,
            launcher_version: &self.launcher_version,
            updates,
            prerelease_channel: self.prerelease_channel(),
            floor: &floor,
            listing,
        };
        select::select(&inputs, pin)
    }

    /// The launcher version this binary carries.
    pub(crate) fn launcher_version() -> Version {
        stub::launcher_version().clone()
    }
}
