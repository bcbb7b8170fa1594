//! sea-launcher: the native stub of a packed executable.
//!
//! `main` is the one dispatch point (as in rustup): it opens the executable's own payload, reads
//! the process's inputs and settings once, and hands off to a command — `--sea-info`,
//! `--sea-update`, `--sea-gc`, `--sea-verify`, `--sea-install <FILE>` when that is the first
//! argument, otherwise `run`, which runs the app with every argument untouched (`--help` and
//! `--version` included). Errors become exit codes in one place
//! ([`commands::error::LauncherError::exit_code`]) and are printed as `<name>: <message>`. The
//! contract (commands, variables, directories, exit codes) is the README's "The packed
//! executable" and "Directories, locks and clean-up".
//!
//! The folders follow a start: `commands/` → `start/` → `run/`, with `care/` and `update/` for
//! what happens around it. Domain modules never import `commands`.
//!
//! | module | what it does |
//! | --- | --- |
//! | `main` | start-up, refusing set-user-ID, opening the payload, dispatch |
//! | `app` | the context every command reads: process, settings, package, directories |
//! | `commands::run` | the default command: choose, ready, run and restart the app |
//! | `commands::info` | `--sea-info`: what the launcher knows, as JSON |
//! | `commands::update` | `--sea-update`: an update now, and what it did |
//! | `commands::install` | `--sea-install <FILE>`: install a release from a file |
//! | `commands::gc` | `--sea-gc`: clean the cache now |
//! | `commands::verify` | `--sea-verify`: check the payload and the tree in use, repair |
//! | `commands::error` | every error of a command, and its exit code |
//! | `start::startup` | what runs before `main` on Linux with glibc |
//! | `start::process` | arguments, environment, pid and own executable, read once |
//! | `start::vars` | every variable's name and parser |
//! | `start::settings` | the variables parsed once into typed settings |
//! | `start::logging` | structured logs on stderr (`<PREFIX>_LOG`) |
//! | `start::stub` | this launcher's version and platform (the stub marker) |
//! | `start::dirs` | where home and cache are, and whether they are safe |
//! | `start::state` | update state in the home (feed record, rollback floor) |
//! | `start::select` | which version runs: eligibility, pins, the rollback floor |
//! | `start::tree` | one extracted tree: paths, metadata, the per-start check |
//! | `start::extract` | making a complete tree appear atomically, once |
//! | `start::flush` | deferred durability of a cold-start extraction |
//! | `start::lock` | the advisory locks that decide what is in use |
//! | `start::repair` | installing or repairing a tree outside a launch: usage lock, then extract |
//! | `start::signer` | which key signed a package, against the keys this build trusts |
//! | `run::spawn` | starting the app's process (clone + exec, parent-death signal) |
//! | `run::exec` | running the app in place of the launcher (`--no-supervise` packages) |
//! | `run::signals` | the signal handlers and their self-pipe |
//! | `run::supervise` | waiting, forwarding signals, mirroring the app's exit |
//! | `run::restart` | exit code 75: restart requests and the storm guard |
//! | `run::relaunch` | continuing in a self-updated launcher |
//! | `run::gitenv` | git safety for the app (`safe.bareRepository`) |
//! | `care::background` | work done while the app runs: flush, verify, clean up, update check (a thread, or a detached process for an in-place run) |
//! | `care::gc` | which trees clean-up removes, and removing them |
//! | `care::health` | bad-version marks |
//! | `care::verify` | deep verification of a tree against its index |
//! | `update` | the signed feed, verified downloads, atomic installs |
//! | `update::{http, resolve, cache, pick, delta, trust, replace, install}` | fetching, host names (through `getent` in the static stub), the kept feed, the release choice, deltas, the trust chain, self-replacement, installing from a file |
//! | `say`, `progress`, `private` | messages on stderr, the progress line, files that are the user's alone |

// On Linux with glibc the C `main` below replaces std's start-up, which costs a warm start
// ~0.15 ms (see `start::startup`). Not under `cargo test`, whose harness brings its own `main`.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

mod app;
mod care;
mod commands;
mod private;
mod progress;
mod run;
mod say;
mod start;
mod update;

use std::path::Path;

use sea_payload::Package;
use sea_payload::package::PackageErrorKind;
use sea_payload::trailer::TrailerError;

use crate::app::App;
use crate::commands::error::LauncherError;
use crate::commands::info;
use crate::start::dirs::Dirs;
use crate::start::process::Process;
use crate::start::settings::Settings;
use crate::start::vars::{self, Vars};
use crate::start::{logging, stub};

#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    start::startup::init();
    run()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(test))))]
fn main() {
    run()
}

/// Everything after start-up; never returns (every mode ends in `exit`, which flushes stdout).
fn run() -> ! {
    if privileged() {
        refuse_privileged()
    }
    let process = match Process::capture() {
        Ok(process) => process,
        Err(source) => fail("sea-launcher", &LauncherError::OwnExecutable { what: "open", source }),
    };
    let package = match Package::from_file(clone_file(&process), process.exe_path.clone()) {
        Ok(package) => package,
        Err(e) => not_packed(&process.exe_path, e),
    };
    let manifest = package.manifest();
    let vars = Vars::new(manifest.env_prefix());
    let settings = Settings::parse(&process, &vars);
    let log_var = vars.name(vars::LOG);
    let name = manifest.name.clone();
    let log_warning = logging::init(settings.log.as_deref(), &log_var, &name);
    if let Some(warning) = log_warning {
        crate::say::say!("{name}: warning: {warning}");
    }
    let home_name = manifest.home_dir_name();
    let dirs = match Dirs::locate(&process, &vars, &settings, &home_name, manifest.cache_dir_name(), &manifest.platform)
    {
        Ok(dirs) => dirs,
        Err(e) => fail(&name, &LauncherError::from(e)),
    };
    // The context lives as long as the process; leaking it lets the background thread borrow it.
    let app: &'static App =
        Box::leak(Box::new(App { process, vars, settings, package, dirs, launcher_version: App::launcher_version() }));
    let mode = app.process.args.first().and_then(|a| a.to_str()).unwrap_or_default();
    let result = match mode {
        "--sea-info" => info::run(app),
        "--sea-gc" => commands::gc::run(app),
        "--sea-verify" => commands::verify::run(app),
        "--sea-update" => commands::update::run(app),
        "--sea-install" => commands::install::run(app, app.process.args.get(1).map(|a| a.as_os_str())),
        _ => commands::run::run(app).map(|never| match never {}),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(&name, &e),
    }
}

/// Whether the kernel started us in secure-execution mode: set-user-ID, set-group-ID (or file
/// capabilities). Reads the auxiliary vector saved at start-up; no system call.
fn privileged() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: getauxval only reads the auxiliary vector; 0 means "not secure" or "absent".
    return unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    #[cfg(any(target_os = "macos", target_os = "freebsd"))]
    // SAFETY: issetugid has no preconditions.
    return unsafe { libc::issetugid() } != 0;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "freebsd")))]
    false
}

/// A packed app runs with the rights of whoever starts it: installed set-user-ID, its app, its
/// cache and its environment would all be chosen by the caller but run with the owner's rights.
fn refuse_privileged() -> ! {
    let exe = std::env::current_exe().unwrap_or_else(|_| "sea-launcher".into());
    let me = exe.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sea-launcher".into());
    fail(&me, &LauncherError::Privileged { exe })
}

/// A second handle to the executable for the package reader (the first stays in `Process`).
fn clone_file(process: &Process) -> std::fs::File {
    match process.exe_file.try_clone() {
        Ok(file) => file,
        Err(source) => fail("sea-launcher", &LauncherError::OwnExecutable { what: "read", source }),
    }
}

/// The executable carries no valid payload: the bare stub, or a damaged packed file.
fn not_packed(path: &Path, error: sea_payload::PackageError) -> ! {
    let me = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "sea-launcher".into());
    if matches!(*error.kind, PackageErrorKind::Trailer(TrailerError::BadEndMagic | TrailerError::TooSmall { .. })) {
        let version = stub::launcher_version().to_string();
        fail(&me, &LauncherError::NoApp { version, platform: stub::PLATFORM })
    }
    fail(&me, &LauncherError::Package(error))
}

/// Prints `<name>: <message>` and exits with the error's code ([`LauncherError::exit_code`]).
fn fail(name: &str, error: &LauncherError) -> ! {
    crate::say::say!("{name}: {error}");
    std::process::exit(error.exit_code())
}
