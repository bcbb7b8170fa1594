//! `--sea-install <FILE>`: install a release from a file on disk, for machines without a network.
//!
//! # Implementation
//! `<FILE>` is a `.sea` artifact of a release directory or a packed executable: both are a
//! package, which [`Package::open`] reads alike. It gets the checks a download gets after its
//! bytes arrived, through the same code: the package's manifest and payload signature by the
//! baked-in key, this app and this platform ([`Updater::check_origin`]), a launcher that runs it,
//! the pre-release rule of this client, not below the channel's rollback floor and newer than
//! what is installed (a download is only ever picked when newer) — and then the one install path
//! of updates ([`Updater::extract_update`]: safe extraction, verified, renamed into place), and the
//! floor rises as after a download. Nothing touches the network; the update lock is held, so it
//! never races a `--sea-update`.
//!
//! # Alternatives
//! Self-replacing the launcher from a packed executable that needs a newer one was left out: the
//! packed executable itself is the new launcher, so the user can run (or install) it directly,
//! and the error says so.
//!
//! # Limitations
//! A file has no feed around it: it cannot say it is still fresh, so expiry and sequence do not
//! apply; the floor still refuses going back.

use std::path::Path;
use std::time::Duration;

use sea_payload::Package;

use super::{UpdateError, Updater, http, trust};
use crate::app::App;
use crate::start::lock::{self, Mode};
use crate::start::state::UpdateState;

/// What `--sea-install` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Installed {
    /// Installed this version.
    New(semver::Version),
    /// This version was already installed.
    Already(semver::Version),
}

/// Installs the release in the file at `path` (see the module docs).
pub(crate) fn install_file(app: &App, path: &Path) -> Result<Installed, UpdateError> {
    Updater::for_install(app)?.install_file(path)
}

impl<'a> Updater<'a> {
    /// An updater that never touches the network: the baked-in root and channel only.
    fn for_install(app: &'a App) -> Result<Self, UpdateError> {
        let update = &app.manifest().update;
        if update.root().is_none() {
            return Err(UpdateError::NotConfigured);
        }
        let channel = app.channel().unwrap_or("stable").to_owned();
        let limits = http::Limits::from_app(app, false)?;
        Ok(Self { app, feed_url: update.feed.clone().unwrap_or_default(), channel, interactive: true, limits })
    }

    fn install_file(&self, path: &Path) -> Result<Installed, UpdateError> {
        let dirs = &self.app.dirs;
        dirs.ensure_home()?;
        dirs.ensure_pkg()?;
        let name = self.app.name().to_owned();
        let _lock = lock::acquire(
            &dirs.cache.join("update.lock"),
            Mode::Exclusive,
            Duration::from_secs(600),
            "updating",
            &mut || crate::say::say!("{name}: waiting for another update of {name} to finish..."),
        )?;
        let refuse = |why: String| UpdateError::NotInstallable { path: path.display().to_string(), why };
        let package = Package::open(path).map_err(UpdateError::Package)?;
        // What is trusted now: the embedded and the stored trust statements over the baked-in
        // root, as for a download (no network: the statement is not refreshed, but its expiry counts).
        let trusted = trust::load(self.app.manifest(), &dirs.home)
            .map_err(|source| UpdateError::Trust { url: trust::path(&dirs.home).display().to_string(), source })?
            .ok_or(UpdateError::NotConfigured)?;
        trusted.check_fresh(sea_payload::time::now()).map_err(|source| UpdateError::TrustExpired { source })?;
        let signer = self.check_origin(&package, &trusted).map_err(|e| match e {
            UpdateError::WrongPayload(why) => refuse(why),
            other => other,
        })?;
        let m = package.manifest();
        let version = m.version.clone();
        if m.min_launcher > self.app.launcher_version {
            return Err(refuse(format!(
                "{name} {version} needs launcher {} but this one is {}; run that packed executable itself, or use --sea-update, which also updates the launcher",
                m.min_launcher, self.app.launcher_version
            )));
        }
        if !version.pre.is_empty() && !self.app.runs_prereleases() {
            return Err(refuse(format!(
                "{version} is a pre-release and this build follows channel '{}', which runs none",
                self.channel
            )));
        }
        let mut state = UpdateState::load(&dirs.home);
        if let Some(floor) = self.app.floor(&state).filter(|floor| version < *floor) {
            return Err(refuse(format!(
                "{version} is older than {floor}, the highest version this client verified on channel '{}': refusing to go back (a pin, {}, runs an older installed version)",
                self.channel,
                self.app.vars.name(crate::start::vars::VERSION)
            )));
        }
        let installed = self.installed_version();
        if version < installed {
            return Err(refuse(format!("{version} is older than {installed}, which is installed")));
        }
        if version == installed {
            return Ok(Installed::Already(version));
        }
        self.extract_update(&package, &trusted)?;
        state.record_tree(&m.tree_id(), &signer);
        state.raise(&self.channel, self.app.runs_prereleases(), &version, &signer);
        state.save(&dirs.home).map_err(|e| UpdateError::Io {
            what: "write",
            path: crate::start::state::path(&dirs.home),
            source: e,
        })?;
        Ok(Installed::New(version))
    }
}
