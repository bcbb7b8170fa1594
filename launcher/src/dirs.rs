//! The home (state) and cache directories: where they are, and whether they are safe to use.
//!
//! Both are created with mode 0700. One that another user owns, or that others can write to, is
//! refused rather than used: a cache another user can write is a cache that can hand us a
//! program to run. Errors name the path and the variable that moves the directory.
//!
//! On the warm path this costs a `stat` of each root and one `access` of the home; creation and
//! the checks of parents only happen when something is missing.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::process::Process;
use crate::vars::{self, Vars};

/// The directories of one app.
#[derive(Debug, Clone)]
pub(crate) struct Dirs {
    /// State: restart requests, update state, bad-version marks.
    pub(crate) home: PathBuf,
    /// Extracted trees and downloads.
    pub(crate) cache: PathBuf,
    /// `<cache>/pkg/<platform>`: the trees of this platform.
    pub(crate) pkg: PathBuf,
    /// `<home>/restart`: restart requests, one file per launcher pid.
    pub(crate) restart: PathBuf,
    /// The variable that moves the home, e.g. `COPILOT_HOME`.
    pub(crate) home_var: String,
    /// The variable that moves the cache, e.g. `COPILOT_CACHE_HOME`.
    pub(crate) cache_var: String,
}

/// Why a directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirsError {
    /// Neither the variable nor `$HOME` says where.
    #[error("cannot tell where the {what} directory is: HOME is not set; set {var} to a directory")]
    NoHome { what: &'static str, var: String },
    /// The variable holds a relative path.
    #[error("{var} must be an absolute path, not '{}'", value.display())]
    Relative { var: String, value: PathBuf },
    /// Creating it failed.
    #[error("cannot create the {what} directory {}: {source}; set {var} to a writable directory", path.display())]
    Create { what: &'static str, path: PathBuf, var: String, source: io::Error },
    /// It exists but is not a directory.
    #[error("the {what} path {} is not a directory; set {var} to a directory", path.display())]
    NotADirectory { what: &'static str, path: PathBuf, var: String },
    /// Another user owns it.
    #[error("refusing to use the {what} directory {}: it is owned by uid {owner}, not by you (uid {me}); set {var} to a directory you own", path.display())]
    ForeignOwner { what: &'static str, path: PathBuf, var: String, owner: u32, me: u32 },
    /// Others can write to it.
    #[error("refusing to use the {what} directory {}: it is writable by other users (mode {mode:o}); run `chmod go-w {}` or set {var}", path.display(), path.display())]
    Unsafe { what: &'static str, path: PathBuf, var: String, mode: u32 },
    /// It exists but we cannot write to it.
    #[error("the {what} directory {} is not writable ({source}); set {var} to a writable directory", path.display())]
    NotWritable { what: &'static str, path: PathBuf, var: String, source: io::Error },
}

impl Dirs {
    /// Works out the paths from the environment, without touching the file system. The defaults
    /// are `$HOME/<home_name>` and `<cache dir>/<cache_name>` (the manifest's names).
    pub(crate) fn locate(
        process: &Process,
        vars: &Vars,
        home_name: &str,
        cache_name: &str,
        platform: &str,
    ) -> Result<Self, DirsError> {
        let home_var = vars.name(vars::HOME);
        let cache_var = vars.name(vars::CACHE_HOME);
        let user_home = process.var("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let home = match process.app_var(vars, vars::HOME) {
            Some(value) => absolute(&home_var, value)?,
            None => user_home
                .as_ref()
                .map(|h| h.join(home_name))
                .ok_or_else(|| DirsError::NoHome { what: "home", var: home_var.clone() })?,
        };
        let cache = match process.app_var(vars, vars::CACHE_HOME) {
            Some(value) => absolute(&cache_var, value)?,
            None => default_cache(process, user_home.as_deref(), cache_name)
                .ok_or_else(|| DirsError::NoHome { what: "cache", var: cache_var.clone() })?,
        };
        Ok(Self {
            pkg: cache.join("pkg").join(platform),
            restart: home.join("restart"),
            home,
            cache,
            home_var,
            cache_var,
        })
    }

    /// Makes sure the home and its `restart/` exist and are safe and writable.
    pub(crate) fn ensure_home(&self) -> Result<(), DirsError> {
        ensure_dir(&self.home, "home", &self.home_var)?;
        check_writable(&self.home, "home", &self.home_var)?;
        if !is_dir(&self.restart) {
            create(&self.restart, "home", &self.home_var)?;
        }
        Ok(())
    }

    /// Makes sure the cache root exists and is safe (one `stat` when it does).
    pub(crate) fn ensure_cache_root(&self) -> Result<(), DirsError> {
        ensure_dir(&self.cache, "cache", &self.cache_var)
    }

    /// Creates `pkg/<platform>` (called when opening a lock in it found it missing).
    pub(crate) fn ensure_pkg(&self) -> Result<(), DirsError> {
        self.ensure_cache_root()?;
        create(&self.pkg, "cache", &self.cache_var)
    }
}

/// `$XDG_CACHE_HOME/<name>` (absolute values only, as the XDG spec says), else the platform's
/// cache directory.
fn default_cache(process: &Process, user_home: Option<&Path>, name: &str) -> Option<PathBuf> {
    if cfg!(windows) {
        return process.var("LOCALAPPDATA").map(|d| PathBuf::from(d).join(name));
    }
    if let Some(xdg) = process.var("XDG_CACHE_HOME").map(Path::new).filter(|p| p.is_absolute()) {
        return Some(xdg.join(name));
    }
    let base = user_home?;
    if cfg!(target_os = "macos") {
        Some(base.join("Library/Caches").join(name))
    } else {
        Some(base.join(".cache").join(name))
    }
}

fn absolute(var: &str, value: &OsStr) -> Result<PathBuf, DirsError> {
    let path = PathBuf::from(value);
    if path.is_absolute() { Ok(path) } else { Err(DirsError::Relative { var: var.to_owned(), value: path }) }
}

fn is_dir(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// Checks an existing directory, or creates it (and missing parents) with mode 0700.
fn ensure_dir(path: &Path, what: &'static str, var: &str) -> Result<(), DirsError> {
    match fs::metadata(path) {
        Ok(meta) => check_safe(path, &meta, what, var),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create(path, what, var)?;
            let meta = fs::metadata(path).map_err(|source| create_error(path, what, var, source))?;
            check_safe(path, &meta, what, var)
        }
        Err(source) => Err(create_error(path, what, var, source)),
    }
}

fn create(path: &Path, what: &'static str, var: &str) -> Result<(), DirsError> {
    crate::private::create_dir(path, true).map_err(|source| create_error(path, what, var, source))
}

fn create_error(path: &Path, what: &'static str, var: &str, source: io::Error) -> DirsError {
    DirsError::Create { what, path: path.to_owned(), var: var.to_owned(), source }
}

#[cfg(unix)]
fn check_safe(path: &Path, meta: &fs::Metadata, what: &'static str, var: &str) -> Result<(), DirsError> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() {
        return Err(DirsError::NotADirectory { what, path: path.to_owned(), var: var.to_owned() });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(DirsError::ForeignOwner {
            what,
            path: path.to_owned(),
            var: var.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    // A sticky directory writable by others (like /tmp itself) is still unsafe as *our* root.
    if mode & 0o022 != 0 {
        return Err(DirsError::Unsafe { what, path: path.to_owned(), var: var.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_safe(path: &Path, meta: &fs::Metadata, what: &'static str, var: &str) -> Result<(), DirsError> {
    // Windows: ACLs are not checked (untested); only the kind.
    if !meta.is_dir() {
        return Err(DirsError::NotADirectory { what, path: path.to_owned(), var: var.to_owned() });
    }
    Ok(())
}

/// `access(W_OK)`: catches read-only mounts and 0500 directories before anything needs to write.
fn check_writable(path: &Path, what: &'static str, var: &str) -> Result<(), DirsError> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
            return Ok(());
        };
        // SAFETY: c_path is a valid NUL-terminated string for the duration of the call.
        if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(DirsError::NotWritable {
                what,
                path: path.to_owned(),
                var: var.to_owned(),
                source: io::Error::last_os_error(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what, var);
    Ok(())
}

/// `check_writable` for the cache, used when something must be written there.
pub(crate) fn check_cache_writable(dirs: &Dirs) -> Result<(), DirsError> {
    check_writable(&dirs.pkg, "cache", &dirs.cache_var)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_0700_and_refuses_unsafe_modes() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dir = scratch.path().join("a/b");
        ensure_dir(&dir, "home", "X_HOME").expect("creates");
        let mode = fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = ensure_dir(&dir, "home", "X_HOME").expect_err("refused");
        assert!(matches!(err, DirsError::Unsafe { mode: 0o777, .. }), "{err}");
        assert!(err.to_string().contains("X_HOME"));
        let file = scratch.path().join("f");
        fs::write(&file, b"").expect("write");
        assert!(matches!(ensure_dir(&file, "home", "X_HOME"), Err(DirsError::NotADirectory { .. })));
    }
}
