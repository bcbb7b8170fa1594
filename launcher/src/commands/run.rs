//! Running the app: choose a version, make sure its tree is complete, run it, and restart it
//! when it exits with code 75.
//!
//! # The warm path
//! Everything here runs on every invocation of the user's CLI, so each step is a syscall budget:
//! the paths of the home and cache roots are walked (an `lstat` per component, see `dirs`), the
//! tree's usage lock is opened, locked shared and checked (4 syscalls), the entry and executables
//! are `stat`ed, the platform directory is listed once (only when updates are enabled), signal
//! handlers are installed, and the child is spawned. Nothing reads the payload, hashes anything or walks the tree; extraction runs only
//! when the check fails, and the deep check runs in the background once the app is running.
//!
//! # Locks held
//! The shared usage lock of every tree this launcher has run is kept until the launcher exits —
//! not only until the child exits — because an app may leave helpers running from its tree.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use semver::Version;

use crate::app::App;
use crate::care::background;
use crate::care::health::{self, RunResult};
use crate::commands::error::LauncherError;
use crate::run::gitenv::{self, GitEnvOutcome};
use crate::run::restart::{self, StormGuard};
use crate::run::signals::{self, SignalRelay};
use crate::run::supervise::{self, Exit, Spawn, SuperviseError};
use crate::start::extract::{self, ExtractOptions};
use crate::start::lock::{self, Lock, LockError, Mode};
use crate::start::select::{Candidate, Ineligible, Listing, Pin, Source};
use crate::start::tree::{self, TreePaths};
use crate::start::vars;

/// Longest wait for a clean-up that holds a tree exclusively (it takes seconds at most).
const CLEANUP_WAIT: Duration = Duration::from_secs(120);
/// How often the "last used" time of a tree is refreshed.
const TOUCH_PERIOD: Duration = Duration::from_secs(3600);

/// A version ready to run.
#[derive(Debug, Clone)]
struct Target {
    id: String,
    dir: PathBuf,
    version: Version,
    source: Source,
    entry: String,
    /// The manifest's fixed arguments, `{pkg_dir}` expanded to `dir`.
    fixed_args: Vec<OsString>,
    /// Run as the launcher's supervised child (the manifest's `supervise`); `false`: in place.
    supervise: bool,
    /// Marked unflushed in this boot (a fresh cold-start tree): its flush is background work.
    unflushed: bool,
}

impl Target {
    /// Whether this version runs in place of the launcher (`run::exec`).
    fn in_place(&self) -> bool {
        cfg!(unix) && !self.supervise
    }
}

/// State that lives across restarts.
struct Session<'a> {
    app: &'a App,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    extra_env: BTreeMap<OsString, OsString>,
    pin: Option<Pin>,
    excluded: Vec<String>,
    /// Usage locks by tree id: one per tree, however many restarts (a `BTreeMap`: a `HashMap`
    /// would cost the warm start a `getrandom` for its keys).
    held: BTreeMap<String, Lock>,
    storm: StormGuard,
    background_started: bool,
    warned_git: bool,
}

/// Runs the app until it exits for good; never returns on success (the launcher exits with the
/// app's code or dies of its signal).
pub(crate) fn run(app: &'static App) -> Result<std::convert::Infallible, LauncherError> {
    app.dirs.ensure_roots()?;
    let restart_file = app.dirs.restart.join(format!("{}.json", app.process.pid));
    // A package run in place installs no handler (execve would reset them anyway); one whose
    // chosen version turns out supervised gets them before its first spawn.
    let mut relay = None;
    if app.manifest().supervise || cfg!(not(unix)) {
        relay = Some(install_relay(app, &restart_file)?);
    }
    let mut session = Session {
        app,
        args: app.process.args.clone(),
        cwd: None,
        // After a self-update's relaunch: the restart requests' env, for the app only.
        extra_env: crate::run::relaunch::carried_env(app),
        pin: app.pin()?,
        excluded: Vec::new(),
        held: BTreeMap::new(),
        storm: StormGuard::new(),
        background_started: false,
        warned_git: false,
    };
    loop {
        // A terminating signal that arrived while no app was running (between restarts) ends
        // the launcher the way it would have ended the app.
        if let Some(signo) = relay.as_ref().and_then(SignalRelay::take_pending_termination) {
            signals::die_of(signo);
        }
        let target = session.prepare()?;
        if target.in_place() {
            // Returns only when exec failed and another version is to be tried.
            session.exec(&target)?;
            continue;
        }
        if relay.is_none() {
            relay = Some(install_relay(app, &restart_file)?);
        }
        let Some(relay) = relay.as_ref() else { continue };
        let spawn = session.spawn_spec(&target, Some(&restart_file));
        let background_started = &mut session.background_started;
        // Background work starts only once the app has run a while (supervise::SETTLE).
        let outcome = supervise::run(&spawn, relay, &mut || {
            if !*background_started {
                *background_started = true;
                background::start(app, &target.dir, &target.id);
            }
        });
        match outcome {
            Err(e) => session.spawn_failed(&target, e)?,
            Ok(outcome) => {
                session.record_health(&target, result_of(outcome.exit, outcome.ran_for));
                if outcome.exit != Exit::Code(restart::EXIT_CODE) {
                    let _ = restart::clear(&restart_file);
                    if !session.background_started {
                        session.flush_later(&target);
                    }
                    supervise::mirror(outcome.exit);
                }
                session.restart(&restart_file)?;
            }
        }
    }
}

/// Installs the signal relay, and clears a restart request left by a dead launcher that had this
/// pid (it must not be taken for the app's).
fn install_relay(app: &App, restart_file: &std::path::Path) -> Result<SignalRelay, LauncherError> {
    let relay = SignalRelay::install().map_err(|e| LauncherError::Io {
        what: "install signal handlers for",
        path: app.process.exe_path.clone(),
        source: e,
    })?;
    tracing::debug!(ignored = ?relay.ignored(), "signal relay installed; ignored signals stay ignored");
    let _ = restart::clear(restart_file);
    Ok(relay)
}

fn result_of(exit: Exit, ran_for: Duration) -> RunResult {
    match exit {
        Exit::Code(_) => RunResult::Exited(ran_for),
        Exit::Signal(signo) => RunResult::Signal(signo, ran_for),
    }
}

impl Session<'_> {
    /// Chooses and readies a version; falls back past update trees that turn out broken.
    fn prepare(&mut self) -> Result<Target, LauncherError> {
        loop {
            let pin = self.pin.as_ref();
            let selection = self.app.select(pin, Listing::Contenders, self.app.updates())?;
            for warning in &selection.warnings {
                self.app.warn(warning);
            }
            let chosen = selection
                .candidates
                .iter()
                .enumerate()
                .find(|(i, c)| !self.excluded.contains(&c.id) && (c.ineligible.is_none() || (*i == 0 && pin.is_some())))
                .map(|(_, c)| c.clone());
            let Some(chosen) = chosen else {
                // Everything else was excluded: the bundled payload always remains.
                return self.ready_bundled();
            };
            match chosen.source {
                Source::Bundled => return self.ready_bundled(),
                Source::Update => match self.ready_update(&chosen)? {
                    Some(target) => return Ok(target),
                    None => self.excluded.push(chosen.id.clone()),
                },
            }
        }
    }

    /// Takes the shared usage lock of a tree (once per tree), creating the platform directory if
    /// needed.
    fn lock_tree(&mut self, tree: &TreePaths) -> Result<(), LauncherError> {
        if self.held.contains_key(&tree.id) {
            return Ok(());
        }
        let name = self.app.name().to_owned();
        let mut on_wait = || crate::say::say!("{name}: waiting for a clean-up of version {} to finish...", tree.id);
        let lock = match lock::acquire(&tree.lock, Mode::Shared, CLEANUP_WAIT, "cleaning up", &mut on_wait) {
            Err(LockError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                self.app.dirs.ensure_pkg()?;
                lock::acquire(&tree.lock, Mode::Shared, CLEANUP_WAIT, "cleaning up", &mut on_wait)?
            }
            other => other?,
        };
        lock.touch(TOUCH_PERIOD);
        self.held.insert(tree.id.clone(), lock);
        Ok(())
    }

    fn ready_bundled(&mut self) -> Result<Target, LauncherError> {
        let app = self.app;
        let manifest = app.manifest();
        let tree = TreePaths::new(&app.dirs.pkg, &manifest.tree_id());
        self.lock_tree(&tree)?;
        let manifest_len = app.package.manifest_bytes().len() as u64;
        let unflushed = match tree::quick_check(&tree.dir, manifest, manifest_len) {
            Ok(checked) => checked.unflushed,
            Err(damage) => self.extract_bundled(&tree, &damage)?,
        };
        Ok(Target {
            id: tree.id.clone(),
            dir: tree.dir.clone(),
            version: manifest.version.clone(),
            source: Source::Bundled,
            entry: manifest.entry.clone(),
            fixed_args: manifest.fixed_args(tree.dir.as_os_str()),
            supervise: manifest.supervise,
            unflushed,
        })
    }

    /// Extracts the bundled payload's tree, found damaged or missing; returns whether it was
    /// published unflushed (cold path only: one more `open` of the mark).
    fn extract_bundled(&self, tree: &TreePaths, damage: &tree::Damage) -> Result<bool, LauncherError> {
        let app = self.app;
        let manifest = app.manifest();
        {
            tracing::info!(tree = %tree.dir.display(), %damage, "extracting");
            crate::start::dirs::check_cache_writable(&app.dirs)?;
            let trusted = crate::update::trust::for_payload(manifest, &app.dirs.home);
            let options = ExtractOptions {
                app: app.name(),
                trusted: trusted.as_ref(),
                mark_update: false,
                progress: true,
                defer_flush: true,
            };
            let done = extract::ensure_tree(&app.package, tree, &app.dirs, &options)?;
            tracing::info!(?done, "tree ready");
        }
        Ok(crate::start::flush::mark_of(&tree.dir) == crate::start::flush::Mark::ThisBoot)
    }

    /// Readies an installed update; `None` (with a warning) when its tree turns out damaged:
    /// it cannot be re-extracted from this executable, so the next candidate runs instead and
    /// the next update check installs it again.
    fn ready_update(&mut self, candidate: &Candidate) -> Result<Option<Target>, LauncherError> {
        let Some((manifest, len)) = &candidate.manifest else { return Ok(None) };
        let tree = TreePaths::new(&self.app.dirs.pkg, &candidate.id);
        self.lock_tree(&tree)?;
        let checked = match tree::quick_check(&tree.dir, manifest, *len) {
            Ok(checked) => checked,
            Err(damage) => {
                // A tree that vanished since the scan was removed by someone (a cleared cache), not
                // damaged: there is nothing to mark.
                if !tree.dir.exists() {
                    self.app.warn(&format!(
                        "installed version {} is no longer installed; using another version",
                        candidate.version
                    ));
                    return Ok(None);
                }
                self.app.warn(&format!(
                    "installed version {} is damaged ({damage}); using another version",
                    candidate.version
                ));
                let _ = tree::mark_damaged(&tree.dir);
                return Ok(None);
            }
        };
        Ok(Some(Target {
            id: candidate.id.clone(),
            dir: tree.dir.clone(),
            version: candidate.version.clone(),
            source: Source::Update,
            entry: manifest.entry.clone(),
            fixed_args: manifest.fixed_args(tree.dir.as_os_str()),
            supervise: manifest.supervise,
            unflushed: checked.unflushed,
        }))
    }

    /// The child's program, arguments and complete environment; no restart file for a run in
    /// place (nothing would read it).
    fn spawn_spec(&mut self, target: &Target, restart_file: Option<&std::path::Path>) -> Spawn {
        let app = self.app;
        let mut env = app.process.env.clone();
        env.remove(std::ffi::OsStr::new(&app.vars.name(vars::RELAUNCH_ENV)));
        env.extend(self.extra_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut set = |suffix: &str, value: OsString| {
            env.insert(app.vars.name(suffix).into(), value);
        };
        set(vars::RUN_APP, "1".into());
        set(vars::PKG_DIR, target.dir.clone().into());
        set(vars::LAUNCHER, app.process.exe_path.clone().into());
        if let Some(restart_file) = restart_file {
            set(vars::RESTART_FILE, restart_file.into());
        }
        set(vars::LOADER_PID, app.process.pid.to_string().into());
        set(vars::APP_VERSION, target.version.to_string().into());
        if let GitEnvOutcome::Unparsable(count) = gitenv::inject(&mut env)
            && !self.warned_git
        {
            self.warned_git = true;
            app.warn(&format!(
                "GIT_CONFIG_COUNT={count:?} is not a count git accepts (git refuses to run with it), so safe.bareRepository=explicit was not added; fix or unset GIT_CONFIG_COUNT"
            ));
        }
        let mut args = target.fixed_args.clone();
        args.extend(self.args.iter().cloned());
        Spawn { program: target.dir.join(&target.entry), args, env, cwd: self.cwd.clone() }
    }

    /// Runs `target` in place of the launcher (`run::exec`), after starting the background work
    /// that is due. Returns only when `execve` failed and another version is to be tried.
    fn exec(&mut self, target: &Target) -> Result<(), LauncherError> {
        let spawn = self.spawn_spec(target, None);
        let due = background::due(self.app, &target.dir, target.unflushed);
        tracing::debug!(program = %spawn.program.display(), ?due, "running the app in place");
        #[cfg(unix)]
        if due.any() {
            background::detach(self.app, &target.dir, &target.id, due);
        }
        let error = crate::run::exec::replace(&spawn, self.held.get(&target.id).map(Lock::file));
        self.spawn_failed(target, supervise::spawn_error(&spawn, error))
    }

    /// An app that exited before its background work started (a short command) leaves a fresh
    /// tree unflushed: its mark would cost every later start two reads, and the first start
    /// after a reboot a whole extraction. So a detached process flushes it now (once: the mark is
    /// then gone), the way an in-place run's does, after the app has already exited.
    fn flush_later(&self, target: &Target) {
        #[cfg(unix)]
        {
            if target.unflushed {
                let due = background::Due { flush: true, ..Default::default() };
                background::detach(self.app, &target.dir, &target.id, due);
            }
        }
        #[cfg(not(unix))]
        let _ = target;
    }

    fn record_health(&self, target: &Target, result: RunResult) {
        if target.source == Source::Bundled {
            return;
        }
        match health::record(&self.app.dirs.home, &target.id, result, true) {
            Ok(true) => self.app.warn(&format!(
                "version {} crashed on start {} times in a row; it is marked bad and will not be chosen again",
                target.version,
                health::CRASHES_TO_BAD
            )),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not record the run's health"),
        }
    }

    /// An entry that cannot be started: an update falls back to the next version, the bundled
    /// payload's is an error (after telling a `noexec` cache apart).
    fn spawn_failed(&mut self, target: &Target, error: SuperviseError) -> Result<(), LauncherError> {
        if target.source == Source::Update {
            self.record_health(target, RunResult::NotExecutable);
            self.app.warn(&format!("version {} cannot be started ({error}); using another version", target.version));
            self.excluded.push(target.id.clone());
            return Ok(());
        }
        #[cfg(unix)]
        if extract::statvfs(&target.dir).is_ok_and(|s| s.noexec) {
            return Err(extract::ExtractError::NoExec {
                path: self.app.dirs.cache.clone(),
                mount: extract::mount_point(&target.dir),
                var: self.app.dirs.cache_var.clone(),
            }
            .into());
        }
        Err(error.into())
    }

    /// A restart request's `version` pins the next runs — but, unlike `<PREFIX>_VERSION` (the
    /// user's explicit choice), it does not override a bad mark: the app asking for a version
    /// that was marked bad for crashing on start would only crash again. The pin is then dropped with a
    /// warning naming the variable that does override it.
    fn pin_for_restart(&mut self, version: Version) {
        let requested = Pin { version, set_by: "the restart request".to_owned() };
        let marked_bad = match self.app.select(Some(&requested), Listing::Contenders, self.app.updates()) {
            Ok(selection) => selection.chosen().is_marked_bad(),
            // Not available: keep the pin, so the next run reports it like any unavailable pin.
            Err(_) => false,
        };
        if marked_bad {
            self.app.warn(&format!(
                "the restart request asks for version {version}, but {}; ignoring that version (set {}={version} to run it anyway)",
                Ineligible::MarkedBad,
                self.app.vars.name(vars::VERSION),
                version = requested.version,
            ));
            return;
        }
        self.pin = Some(requested);
    }

    /// Exit code 75: reads the restart request and prepares the next run.
    fn restart(&mut self, restart_file: &std::path::Path) -> Result<(), LauncherError> {
        // The request is consumed first, even when the storm cap then stops the loop: no restart
        // file outlives the launcher.
        match restart::take(restart_file) {
            Ok(Some(request)) => {
                if let Some(args) = request.args {
                    self.args = args;
                }
                if let Some(cwd) = request.cwd {
                    self.cwd = Some(cwd);
                }
                self.extra_env.extend(request.env);
                if let Some(version) = request.version {
                    self.pin_for_restart(version);
                }
            }
            Ok(None) => {}
            Err(e) => self.app.warn(&format!("{e}; restarting with the previous arguments")),
        }
        self.storm.record(Instant::now()).map_err(|_| LauncherError::RestartStorm {
            limit: restart::MAX_RESTARTS,
            window: restart::WINDOW.as_secs(),
        })?;
        crate::run::relaunch::if_replaced(self.app, &self.args, self.cwd.as_deref(), &self.extra_env);
        Ok(())
    }
}
