//! The launcher's errors, and the one place where they become exit codes.
//!
//! Every message is printed as `<name>: <message>` on stderr. Codes follow sysexits(3) where one
//! fits, and the shells' 126/127 for an entry that cannot be run; never 75, which means "restart"
//! to whoever runs the launcher (except for the restart storm, which the README's "Exit codes" gives code 75).

use std::io;
use std::path::PathBuf;

use sea_payload::package::PackageError;

use crate::run::supervise::SuperviseError;
use crate::start::dirs::DirsError;
use crate::start::extract::ExtractError;
use crate::start::lock::LockError;
use crate::start::select::SelectError;

/// Anything that stops the launcher.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LauncherError {
    /// The launcher cannot open or read its own executable (before anything else).
    #[error("cannot {what} its own executable: {source}")]
    OwnExecutable { what: &'static str, source: io::Error },
    /// Started set-user-ID or set-group-ID (see `main`).
    #[error(
        "refusing to run set-user-ID or set-group-ID: a packed app runs with the rights of the user who starts it, from a cache and environment that user controls; remove the bit with `chmod u-s,g-s {}`",
        exe.display()
    )]
    Privileged { exe: PathBuf },
    /// The bare stub, with no app packed into it.
    #[error(
        "this is the sea-launcher {version} stub ({platform}) with no app inside; pack one with `sea-pack build <dir> --name <name> --version <version> --entry <path> -o <out>`"
    )]
    NoApp { version: String, platform: &'static str },
    /// The payload inside the executable is corrupt.
    #[error("{0}\nthe executable is damaged: download or build it again")]
    Package(#[from] PackageError),
    /// Home or cache refused.
    #[error(transparent)]
    Dirs(#[from] DirsError),
    /// A lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Extraction failed.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// No version could be chosen.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The entry could not be started.
    #[error(transparent)]
    Spawn(#[from] SuperviseError),
    /// A variable has a value the launcher cannot use (bounds and spellings in `vars`).
    #[error(transparent)]
    BadValue(#[from] crate::start::vars::BadValue),
    /// The app asked to restart too often.
    #[error("the app asked to restart (exit code 75) more than {limit} times within {window}s; giving up")]
    RestartStorm { limit: usize, window: u64 },
    /// The tree in use is damaged and cannot be repaired here.
    #[error(
        "the installed version {version} is damaged ({detail}) and cannot be repaired from this executable; run `{name} --sea-update` or reinstall"
    )]
    Damaged { name: String, version: String, detail: String },
    /// An update failed.
    #[error("update failed: {0}")]
    Update(#[from] crate::update::UpdateError),
    /// A file-system operation failed.
    #[error("could not {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

/// The exit codes: sysexits(3), and the shells' 126/127.
pub(crate) mod code {
    /// Success.
    pub(crate) const OK: i32 = 0;
    pub(crate) const USAGE: i32 = 64;
    pub(crate) const DATAERR: i32 = 65;
    pub(crate) const UNAVAILABLE: i32 = 69;
    pub(crate) const CANTCREAT: i32 = 73;
    pub(crate) const IOERR: i32 = 74;
    pub(crate) const TEMPFAIL: i32 = 75;
    pub(crate) const NOPERM: i32 = 77;
    pub(crate) const CANNOT_EXECUTE: i32 = 126;
    pub(crate) const NOT_FOUND: i32 = 127;
}

impl LauncherError {
    /// The exit code for this error: the only mapping in the launcher.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            LauncherError::OwnExecutable { .. } => code::IOERR,
            LauncherError::Privileged { .. } => code::NOPERM,
            LauncherError::NoApp { .. } => code::USAGE,
            LauncherError::Package(_) | LauncherError::Damaged { .. } => code::DATAERR,
            LauncherError::Dirs(e) | LauncherError::Update(crate::update::UpdateError::Dirs(e)) => dirs_code(e),
            LauncherError::Update(crate::update::UpdateError::BadValue(_) | crate::update::UpdateError::Usage(_)) => {
                code::USAGE
            }
            LauncherError::Lock(_) | LauncherError::Io { .. } => code::IOERR,
            LauncherError::Extract(ExtractError::Package(_)) => code::DATAERR,
            LauncherError::Extract(ExtractError::NoExec { .. }) => code::CANNOT_EXECUTE,
            LauncherError::Extract(_) => code::IOERR,
            LauncherError::Update(
                crate::update::UpdateError::Io { .. }
                | crate::update::UpdateError::Extract(_)
                | crate::update::UpdateError::DiskFull { .. }
                | crate::update::UpdateError::NoSpace { .. },
            ) => code::IOERR,
            LauncherError::Select(_) | LauncherError::Update(_) => code::UNAVAILABLE,
            LauncherError::Spawn(e) if e.is_not_found() => code::NOT_FOUND,
            LauncherError::Spawn(_) => code::CANNOT_EXECUTE,
            LauncherError::BadValue(_) => code::USAGE,
            LauncherError::RestartStorm { .. } => code::TEMPFAIL,
        }
    }
}

/// A refused home or cache has the same code whichever command met it (`--sea-update` included).
fn dirs_code(error: &DirsError) -> i32 {
    match error {
        DirsError::ForeignOwner { .. } | DirsError::Unsafe { .. } => code::NOPERM,
        DirsError::NoHome { .. } | DirsError::Relative { .. } => code::USAGE,
        _ => code::CANTCREAT,
    }
}
