//! The home (state) and cache directories: where they are, and whether they are safe to use.
//!
//! Both are created with mode 0700. One that another user owns, or that others can write to, is
//! refused rather than used: a cache another user can write is a cache that can hand us a
//! program to run. Errors name the path and the variable that moves the directory.
//!
//! # Implementation
//! A root is safe only if no other (non-root) user can change what its path names, so the check
//! walks the path from `/` down, as OpenSSH's StrictModes does, with `lstat` on each component:
//!
//! * every directory on the way is owned by root or by us, and not writable by group or others —
//!   unless it is sticky (like `/tmp`), in which case others can add entries but not rename or
//!   remove ours, so the entry we go through next must be owned by root or by us;
//! * a symlink on the way is followed (its target walked the same way), once it passed the same
//!   owner rule: it lives in a checked directory, so nobody else can replace it;
//! * the root itself is not a symlink, is a directory, is ours, and is not writable by others.
//!
//! Once the walk passed, no component can be renamed, replaced or re-pointed by anyone but root
//! and us: the walk is not a snapshot that a later use by path could race, it proves that the
//! path is stable. That is why the rest of the launcher, and the app (which gets
//! `<PREFIX>_PKG_DIR` as a plain path), can go on using paths. The attack this closes (issue 8):
//! with write access to the cache's parent, an attacker renamed the cache away and flipped a
//! symlink between it and a look-alike tree after the old one-`stat` check.
//!
//! On the warm path this costs one `lstat` per component of the home, plus one per component of
//! the cache not shared with the home (they share `$HOME` by default), and one `access` of the
//! home; creation only happens when something is missing.
//!
//! # Alternatives
//! Holding an `O_DIRECTORY|O_NOFOLLOW` descriptor of the root and resolving everything relative to
//! it (`openat`, `execveat`) would protect the launcher's own look-ups only: the app loads its
//! files through `<PREFIX>_PKG_DIR` by path, and a script entry is opened again by path by its
//! interpreter. With an unsafe ancestor the attacker could still swap the tree under the app, so
//! the path itself has to be safe, and once it is, descriptors add nothing.
//!
//! # Limitations
//! Root (and anything with `CAP_DAC_OVERRIDE` or `CAP_FOWNER`) can change anything, and so can any
//! process running as us; a network file system's server can too. POSIX ACLs are covered by the
//! mode bits: an entry that grants write to someone else needs the ACL mask, which shows as the
//! group-write bit. Inside a user namespace, directories of unmapped owners appear as the
//! overflow uid (65534) and are refused: their real owner is unknown. A symlinked root is refused
//! even when it is our own (set the variable to its target). Windows: only the kind is checked.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::start::process::Process;
use crate::start::settings::Settings;
use crate::start::vars::{self, Vars};

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
    /// Others can write to it, or to a directory on its path, or it is a symlink.
    #[error("refusing to use the {what} directory {}: {why}; {}", path.display(), why.remedy(path, var))]
    Unsafe { what: &'static str, path: PathBuf, var: String, why: Unsafety },
    /// It exists but we cannot write to it.
    #[error("the {what} directory {} is not writable ({source}); set {var} to a writable directory", path.display())]
    NotWritable { what: &'static str, path: PathBuf, var: String, source: io::Error },
}

/// Why a root that exists is not safe: someone other than root and us could change what its
/// path names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unsafety {
    /// The root is writable by others.
    #[error("it is writable by other users (mode {mode:o})")]
    Writable { mode: u32 },
    /// The root is a symbolic link (whoever can change it can point it elsewhere).
    #[error("it is a symbolic link, not a directory")]
    Symlink,
    /// A directory on the way is writable by others and not sticky: they can rename what is in it.
    #[error("{} is writable by other users (mode {mode:o}), who could swap what it holds", ancestor.display())]
    AncestorWritable { ancestor: PathBuf, mode: u32 },
    /// A directory or symlink on the way belongs to another user, who can swap it or what it holds.
    #[error("{} is owned by uid {owner}, who could replace it or what it holds", ancestor.display())]
    AncestorOwner { ancestor: PathBuf, owner: u32 },
}

impl Unsafety {
    /// What to do about it.
    fn remedy(&self, path: &Path, var: &str) -> String {
        match self {
            Unsafety::Writable { .. } => format!("run `chmod go-w {}` or set {var}", path.display()),
            Unsafety::Symlink => format!("set {var} to the directory it points to"),
            Unsafety::AncestorWritable { ancestor, .. } => format!(
                "run `chmod go-w {}` (or `chmod +t` to make it sticky, like /tmp), or set {var} to a directory under a path only you and root can change",
                ancestor.display()
            ),
            Unsafety::AncestorOwner { .. } => {
                format!("set {var} to a directory under a path only you and root can change")
            }
        }
    }
}

impl Dirs {
    /// Works out the paths from the environment, without touching the file system. The defaults
    /// are `$HOME/<home_name>` and `<cache dir>/<cache_name>` (the manifest's names).
    pub(crate) fn locate(
        process: &Process,
        vars: &Vars,
        settings: &Settings,
        home_name: &str,
        cache_name: &str,
        platform: &str,
    ) -> Result<Self, DirsError> {
        let home_var = vars.name(vars::HOME);
        let cache_var = vars.name(vars::CACHE_HOME);
        let user_home = process.var("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let home = match settings.home.as_deref() {
            Some(value) => absolute(&home_var, value)?,
            None => user_home
                .as_ref()
                .map(|h| h.join(home_name))
                .ok_or_else(|| DirsError::NoHome { what: "home", var: home_var.clone() })?,
        };
        let cache = match settings.cache_home.as_deref() {
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
        self.ensure_home_with(&mut Verified::new())
    }

    fn ensure_home_with(&self, verified: &mut Verified) -> Result<(), DirsError> {
        ensure_dir(&self.home, "home", &self.home_var, verified)?;
        check_writable(&self.home, "home", &self.home_var)?;
        if !is_dir(&self.restart) {
            create(&self.restart, "home", &self.home_var)?;
        }
        Ok(())
    }

    /// Makes sure the cache root exists and is safe (one `lstat` per component when it does).
    pub(crate) fn ensure_cache_root(&self) -> Result<(), DirsError> {
        ensure_dir(&self.cache, "cache", &self.cache_var, &mut Verified::new())
    }

    /// [`Dirs::ensure_home`] then [`Dirs::ensure_cache_root`], walking the directories the two
    /// paths share (usually `$HOME` and its parents) once.
    pub(crate) fn ensure_roots(&self) -> Result<(), DirsError> {
        let mut verified = Verified::new();
        self.ensure_home_with(&mut verified)?;
        ensure_dir(&self.cache, "cache", &self.cache_var, &mut verified)
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

/// Directories a walk found safe to pass through, each with whether others may add entries to it
/// (sticky and writable by others), so that the cache's walk does not repeat the home's. Stays
/// true for the life of the process: only root and we can change a directory that passed.
#[derive(Debug)]
struct Verified {
    dirs: Vec<(PathBuf, bool)>,
    /// Our effective uid, asked once.
    me: u32,
}

impl Verified {
    fn new() -> Self {
        #[cfg(unix)]
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        #[cfg(not(unix))]
        let me = 0;
        Self { dirs: Vec::new(), me }
    }

    fn get(&self, dir: &Path) -> Option<bool> {
        self.dirs.iter().find(|(d, _)| d == dir).map(|(_, shared)| *shared)
    }
}

/// Checks an existing directory, or creates it (and missing parents) with mode 0700.
fn ensure_dir(path: &Path, what: &'static str, var: &str, verified: &mut Verified) -> Result<(), DirsError> {
    match walk(path, what, var, verified) {
        Err(DirsError::Create { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            create(path, what, var)?;
            walk(path, what, var, verified)
        }
        other => other,
    }
}

fn create(path: &Path, what: &'static str, var: &str) -> Result<(), DirsError> {
    crate::private::create_dir(path, true).map_err(|source| create_error(path, what, var, source))
}

fn create_error(path: &Path, what: &'static str, var: &str, source: io::Error) -> DirsError {
    DirsError::Create { what, path: path.to_owned(), var: var.to_owned(), source }
}

/// Most symlinks followed in one walk (the kernel's own limit).
#[cfg(unix)]
const MAX_LINKS: usize = 40;

/// The StrictModes walk (see the module header): from `/` down to `path`, `lstat` on each
/// component not yet in `verified`, following symlinks on the way. A missing component is a
/// [`DirsError::Create`] with `NotFound`, so that the caller can create it and walk again.
#[cfg(unix)]
fn walk(path: &Path, what: &'static str, var: &str, verified: &mut Verified) -> Result<(), DirsError> {
    use std::os::unix::fs::MetadataExt;
    let me = verified.me;
    let refuse = |why| DirsError::Unsafe { what, path: path.to_owned(), var: var.to_owned(), why };
    let lstat = |p: &Path| fs::symlink_metadata(p).map_err(|source| create_error(path, what, var, source));
    let others = |uid: u32| uid != 0 && uid != me;
    // Checks a directory on the way; whether others may add entries to it.
    let ancestor = |dir: &Path, meta: &fs::Metadata| -> Result<bool, DirsError> {
        if !meta.is_dir() {
            return Err(create_error(path, what, var, io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        if others(meta.uid()) {
            return Err(refuse(Unsafety::AncestorOwner { ancestor: dir.to_owned(), owner: meta.uid() }));
        }
        let mode = meta.mode() & 0o7777;
        let writable = mode & 0o022 != 0;
        if writable && mode & 0o1000 == 0 {
            return Err(refuse(Unsafety::AncestorWritable { ancestor: dir.to_owned(), mode }));
        }
        Ok(writable)
    };
    let root = Path::new("/");
    let root_shared = match verified.get(root) {
        Some(shared) => shared,
        None => {
            let shared = ancestor(root, &lstat(root)?)?;
            verified.dirs.push((root.to_owned(), shared));
            shared
        }
    };
    // Components still to walk, the next one last.
    let mut pending = Vec::new();
    push_components(&mut pending, path);
    // The directories we stand in, `/` first (symlinks resolved), with their `shared` flag.
    let mut chain = vec![(root.to_owned(), root_shared)];
    let mut links = 0;
    loop {
        let Some((dir, shared)) = chain.last().cloned() else { return Ok(()) };
        let Some(name) = pending.pop() else {
            // `path` is `/` or ends in `..`: the root is where we stand.
            return check_root(path, &lstat(&dir)?, me, what, var).inspect(|()| verified.dirs.push((dir, false)));
        };
        if name == ".." {
            if chain.len() > 1 {
                chain.pop();
            }
            continue;
        }
        let next = dir.join(&name);
        let leaf = pending.is_empty();
        if !leaf && let Some(next_shared) = verified.get(&next) {
            chain.push((next, next_shared));
            continue;
        }
        let meta = lstat(&next)?;
        if leaf {
            if meta.file_type().is_symlink() {
                return Err(refuse(Unsafety::Symlink));
            }
            check_root(path, &meta, me, what, var)?;
            // A safe root is a safe ancestor too (a cache inside the home).
            verified.dirs.push((next, false));
            return Ok(());
        }
        // In a sticky directory others can write, only the owner of an entry can swap it.
        if shared && others(meta.uid()) {
            return Err(refuse(Unsafety::AncestorOwner { ancestor: next, owner: meta.uid() }));
        }
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return Err(create_error(path, what, var, io::Error::from_raw_os_error(libc::ELOOP)));
            }
            let target = fs::read_link(&next).map_err(|source| create_error(path, what, var, source))?;
            if target.is_absolute() {
                chain.truncate(1);
            }
            push_components(&mut pending, &target);
            continue;
        }
        let next_shared = ancestor(&next, &meta)?;
        verified.dirs.push((next.clone(), next_shared));
        chain.push((next, next_shared));
    }
}

/// Pushes the names of `path` onto `pending` so that the first is popped first (`/` and `.`
/// dropped; `..` kept, it is resolved against the directories actually walked).
#[cfg(unix)]
fn push_components(pending: &mut Vec<std::ffi::OsString>, path: &Path) {
    use std::path::Component;
    let names = path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    });
    let start = pending.len();
    pending.extend(names);
    pending[start..].reverse();
}

#[cfg(not(unix))]
fn walk(path: &Path, what: &'static str, var: &str, verified: &mut Verified) -> Result<(), DirsError> {
    let meta = fs::metadata(path).map_err(|source| create_error(path, what, var, source))?;
    check_root(path, &meta, verified.me, what, var)
}

/// The root itself: a directory of ours that others cannot write.
#[cfg(unix)]
fn check_root(path: &Path, meta: &fs::Metadata, me: u32, what: &'static str, var: &str) -> Result<(), DirsError> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() {
        return Err(DirsError::NotADirectory { what, path: path.to_owned(), var: var.to_owned() });
    }
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
        return Err(DirsError::Unsafe {
            what,
            path: path.to_owned(),
            var: var.to_owned(),
            why: Unsafety::Writable { mode },
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_root(path: &Path, meta: &fs::Metadata, _me: u32, what: &'static str, var: &str) -> Result<(), DirsError> {
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

    fn ensure(dir: &Path) -> Result<(), DirsError> {
        ensure_dir(dir, "home", "X_HOME", &mut Verified::new())
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn creates_0700_and_refuses_unsafe_modes() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dir = scratch.path().join("a/b");
        ensure(&dir).expect("creates");
        let mode = fs::metadata(&dir).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        chmod(&dir, 0o777);
        let err = ensure(&dir).expect_err("refused");
        assert!(matches!(err, DirsError::Unsafe { why: Unsafety::Writable { mode: 0o777 }, .. }), "{err}");
        assert!(err.to_string().contains("X_HOME"));
        let file = scratch.path().join("f");
        fs::write(&file, b"").expect("write");
        assert!(matches!(ensure(&file), Err(DirsError::NotADirectory { .. })));
    }

    #[test]
    fn walks_every_ancestor() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let top = scratch.path();
        // World-writable on the way: refused, naming it, and nothing created below it.
        let wide = top.join("wide");
        fs::create_dir(&wide).expect("mkdir");
        chmod(&wide, 0o777);
        let err = ensure(&wide.join("x/root")).expect_err("refused");
        let DirsError::Unsafe { why: Unsafety::AncestorWritable { ancestor, mode: 0o777 }, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(ancestor, &wide);
        assert!(err.to_string().contains("chmod go-w") && err.to_string().contains("X_HOME"), "{err}");
        assert_eq!(fs::read_dir(&wide).expect("ls").count(), 0);
        // Sticky: our own entry inside is fine (like a cache under /tmp).
        chmod(&wide, 0o1777);
        ensure(&wide.join("x/root")).expect("sticky parent, own child");
        // A symlink on the way is followed; one into the wide directory is refused again.
        chmod(&wide, 0o777);
        std::os::unix::fs::symlink(&wide, top.join("via")).expect("symlink");
        let err = ensure(&top.join("via/x/root")).expect_err("refused through the link");
        assert!(
            matches!(&err, DirsError::Unsafe { why: Unsafety::AncestorWritable { ancestor, .. }, .. } if ancestor == &wide),
            "{err}"
        );
        fs::create_dir(top.join("safe")).expect("mkdir");
        std::os::unix::fs::symlink("safe", top.join("rel")).expect("symlink");
        ensure(&top.join("rel/root")).expect("relative symlink to a safe directory");
        assert!(top.join("safe/root").is_dir());
        // `..` resolves against the directory walked (the link's target), as the kernel does.
        ensure(&top.join("rel/../safe/root")).expect("dot-dot");
        // Conservatively, a path through a writable directory is refused even when `..` leaves it.
        assert!(matches!(ensure(&top.join("via/../safe/root")), Err(DirsError::Unsafe { .. })));
        // The root itself a symlink: refused.
        let err = ensure(&top.join("rel")).expect_err("symlinked root");
        assert!(matches!(err, DirsError::Unsafe { why: Unsafety::Symlink, .. }), "{err}");
        // A loop: an error, not a hang.
        std::os::unix::fs::symlink("loop", top.join("loop")).expect("symlink");
        assert!(matches!(ensure(&top.join("loop/x")), Err(DirsError::Create { .. })));
    }

    #[test]
    fn the_cache_walk_reuses_the_homes() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let home = scratch.path().join("h/.app");
        let cache = scratch.path().join("h/.cache/app");
        let mut verified = Verified::new();
        ensure_dir(&home, "home", "X_HOME", &mut verified).expect("home");
        let after_home = verified.dirs.len();
        ensure_dir(&cache, "cache", "X_CACHE_HOME", &mut verified).expect("cache");
        // Only `.cache` and `app` are new.
        assert_eq!(verified.dirs.len(), after_home + 2, "{:?}", verified.dirs);
        // A cache inside the home passes through the verified home.
        ensure_dir(&home.join("c"), "cache", "X_CACHE_HOME", &mut verified).expect("cache in home");
    }
}
