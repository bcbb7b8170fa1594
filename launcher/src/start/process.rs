//! The process's inputs — arguments, environment, pid, own executable — read once at start.
//!
//! Nothing else in the launcher calls `std::env`: values are read here into [`Process`] and
//! passed down, so a test or a reader sees every input in one place (rustup's `process` module).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::PathBuf;

use crate::start::vars::Vars;

/// The launcher's view of its own process.
#[derive(Debug)]
pub(crate) struct Process {
    /// Arguments after the program name.
    pub(crate) args: Vec<OsString>,
    /// The whole environment.
    pub(crate) env: BTreeMap<OsString, OsString>,
    /// Our pid.
    pub(crate) pid: u32,
    /// Absolute path of the packed executable (what `<PREFIX>_LAUNCHER` says).
    pub(crate) exe_path: PathBuf,
    /// The executable, opened once: the payload is read through this handle, which stays valid
    /// even after a self-update replaced the file at `exe_path`.
    pub(crate) exe_file: File,
}

impl Process {
    /// Reads everything. Fails only if the launcher cannot open its own executable.
    pub(crate) fn capture() -> std::io::Result<Self> {
        let (exe_path, exe_file) = open_self()?;
        Ok(Self {
            args: std::env::args_os().skip(1).collect(),
            env: std::env::vars_os().collect(),
            pid: std::process::id(),
            exe_path,
            exe_file,
        })
    }

    /// A variable, `None` when unset.
    pub(crate) fn var(&self, name: &str) -> Option<&OsStr> {
        self.env.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// `<PREFIX>_<suffix>`, `None` when unset or empty.
    pub(crate) fn app_var(&self, vars: &Vars, suffix: &str) -> Option<&OsStr> {
        self.var(&vars.name(suffix)).filter(|v| !v.is_empty())
    }
}

/// Opens the running executable. On Linux `/proc/self/exe` opens the very file being run, even
/// if its path was renamed or replaced since.
fn open_self() -> std::io::Result<(PathBuf, File)> {
    let path = std::env::current_exe()?;
    #[cfg(target_os = "linux")]
    let file = File::open("/proc/self/exe").or_else(|_| File::open(&path))?;
    #[cfg(not(target_os = "linux"))]
    let file = File::open(&path)?;
    Ok((path, file))
}
