//! Extraction: making a complete tree appear, atomically, exactly once.
//!
//! # Implementation
//! Called only when the start-up check found the tree missing or damaged, with the caller
//! already holding the tree's shared usage lock (so clean-up cannot remove the tree under us).
//! It takes the tree's exclusive extraction lock, waiting while another launcher extracts;
//! checks again (the other launcher usually just finished); checks free space and that the
//! cache is not mounted `noexec`; unpacks into a fresh temporary sibling, recording the index of
//! what it writes (each file hashed by the thread that writes it), which must be the one the
//! manifest pins (`Package::unpack_for_publish`: a format 2 payload is not hashed as a whole too,
//! since that index authenticates everything published; a format 1 payload's SHA-256 is still
//! verified while streaming); writes `.sea/` (that index,
//! then the manifest last); and renames the temporary tree into place. Trees installed by updates are flushed to disk first; a cold start's tree is
//! published unflushed and flushed in the background (`flush`), which is safe because power loss
//! changes the boot id recorded in it. A damaged tree in the way is swapped out atomically
//! (Linux `RENAME_EXCHANGE`), so its path never stops naming a complete tree for the processes
//! still running from it.
//!
//! A crash at any instant leaves either no tree or a complete one; a leftover temporary tree is
//! removed by clean-up once nobody holds the extraction lock.
//!
//! # Alternatives
//! Extracting in place (warp) exposes half-written trees; judging completeness by a lock *file*
//! existing (Copilot's `inuse.<pid>.lock`) breaks after a crash and across PID namespaces.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_payload::Package;
use sea_payload::package::PackageError;
use sea_payload::trust::Trusted;
use sea_payload::unpack::{Durability, UnpackOptions};

use crate::progress::Progress;
use crate::start::dirs::Dirs;
use crate::start::flush;
use crate::start::lock::{self, LockError, Mode};
use crate::start::tree::{self, TreePaths};

/// Longest wait for another launcher's extraction.
const EXTRACT_WAIT: Duration = Duration::from_secs(600);
/// Payloads above this show a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 32 * 1024 * 1024;
/// Free space kept in reserve beyond the payload's own size (its files rounded up to blocks).
const SPACE_MARGIN: u64 = 1024 * 1024;

/// How to extract.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExtractOptions<'a> {
    /// The app name, for messages.
    pub(crate) app: &'a str,
    /// A payload must be signed by a release key this names (the baked-in root, or the newest
    /// trust statement embedded or stored; see [`crate::update::trust`]).
    pub(crate) trusted: Option<&'a sea_payload::trust::Trusted>,
    /// Mark the tree as installed by an update.
    pub(crate) mark_update: bool,
    /// Whether a progress bar may be shown.
    pub(crate) progress: bool,
    /// Publish before the data reaches the disk, leaving the flush to the background (see
    /// `flush`); only for trees that can be extracted again from this binary.
    pub(crate) defer_flush: bool,
}

/// Where a tree's content comes from: a package (the bundled payload, a downloaded artifact), or
/// a delta applied to an installed tree (`update::delta`). Both end in the same verified,
/// atomically published tree.
pub(crate) trait TreeSource {
    /// The manifest of the tree to make.
    fn manifest(&self) -> &sea_payload::Manifest;
    /// The manifest, byte for byte (what the signature covers).
    fn manifest_bytes(&self) -> &[u8];
    /// With trusted keys, a manifest signature that is missing or not by a trusted release key
    /// is an error; returns the key that signed it.
    fn check_trusted(&self, trusted: Option<&Trusted>) -> Result<Option<String>, ExtractError>;
    /// Fills `dest`, an empty directory, verifying every byte against the manifest; returns the
    /// tree's index, byte for byte as the manifest's digest pins it.
    fn unpack_to(&self, dest: &Path, options: &UnpackOptions<'_>, cache_var: &str) -> Result<Vec<u8>, ExtractError>;
}

impl TreeSource for Package {
    fn manifest(&self) -> &sea_payload::Manifest {
        Package::manifest(self)
    }

    fn manifest_bytes(&self) -> &[u8] {
        Package::manifest_bytes(self)
    }

    fn check_trusted(&self, trusted: Option<&Trusted>) -> Result<Option<String>, ExtractError> {
        crate::start::signer::check_package(self, trusted).map_err(ExtractError::Package)
    }

    fn unpack_to(&self, dest: &Path, options: &UnpackOptions<'_>, cache_var: &str) -> Result<Vec<u8>, ExtractError> {
        Package::unpack_for_publish(self, dest, options).map(|(_, index)| index).map_err(|source| {
            if source.is_storage_full() {
                ExtractError::DiskFull { path: dest.to_owned(), var: cache_var.to_owned(), source }
            } else {
                ExtractError::Package(source)
            }
        })
    }
}

/// What [`ensure_tree`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extracted {
    /// Another launcher finished it while we waited.
    AlreadyThere,
    /// Extracted now.
    Fresh,
    /// Replaced a damaged tree.
    Repaired,
}

/// Why extraction failed. Nothing partial is left in place.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExtractError {
    /// Waiting for or taking a lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The payload is corrupt, unsigned, or signed by another key.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A delta could not be applied.
    #[error(transparent)]
    Delta(#[from] sea_payload::delta::DeltaError),
    /// Not enough free space.
    #[error("not enough free space in {}: extracting needs {} MB, {} MB are free; free some space or set {var} to another disk", path.display(), needed / 1_000_000, available / 1_000_000)]
    NoSpace { path: PathBuf, needed: u64, available: u64, var: String },
    /// The disk filled up while extracting.
    #[error("the disk filled up while extracting into {} ({source}); free some space or set {var} to another disk", path.display())]
    DiskFull { path: PathBuf, var: String, source: PackageError },
    /// The cache is on a `noexec` mount: programs extracted there cannot run.
    #[error("the cache {} is on a file system mounted noexec ({mount}), so the app cannot run from it; set {var} to a directory on another file system", path.display())]
    NoExec { path: PathBuf, mount: String, var: String },
    /// A file-system operation failed.
    #[error("could not {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

impl ExtractError {
    fn io(what: &'static str, path: &Path, source: io::Error) -> Self {
        ExtractError::Io { what, path: path.to_owned(), source }
    }
}

/// Makes sure `tree` holds the complete payload of `package`. The caller holds the tree's shared
/// usage lock.
pub(crate) fn ensure_tree(
    package: &dyn TreeSource,
    tree: &TreePaths,
    dirs: &Dirs,
    options: &ExtractOptions<'_>,
) -> Result<Extracted, ExtractError> {
    let manifest = package.manifest();
    let manifest_len = package.manifest_bytes().len() as u64;
    let _extracting = lock::acquire(&tree.extract_lock, Mode::Exclusive, EXTRACT_WAIT, "extracting", &mut || {
        crate::say::say!(
            "{}: waiting for another {} process to finish extracting version {}...",
            options.app,
            options.app,
            manifest.version
        );
    })?;
    if tree::quick_check(&tree.dir, manifest, manifest_len).is_ok() {
        if options.mark_update {
            mark_update(&tree.dir)?;
        }
        return Ok(Extracted::AlreadyThere);
    }
    package.check_trusted(options.trusted)?;
    check_space(&dirs.pkg, manifest.unpacked_size + manifest.entries * 4096, &dirs.cache_var)?;
    let temp = tree.temp_dir();
    // The boot id the unflushed tree is marked with; `None`: flush before publishing.
    let boot = if options.defer_flush && !options.mark_update { flush::boot_id() } else { None };
    let defer = boot.is_some();
    let result =
        fill(package, &temp, options, boot.as_deref(), &dirs.cache_var).and_then(|()| publish(&temp, tree, defer));
    if result.is_err() {
        let _ = fs::remove_dir_all(&temp);
    }
    result
}

/// Unpacks and writes the metadata into the temporary tree.
/// With a `boot` id, nothing is flushed and the tree is marked unflushed in that boot.
fn fill(
    package: &dyn TreeSource,
    temp: &Path,
    options: &ExtractOptions<'_>,
    boot: Option<&str>,
    cache_var: &str,
) -> Result<(), ExtractError> {
    create_dir(temp)?;
    let bar = progress_bar(package, options);
    let report = |bytes: u64| {
        if let Some(bar) = &bar {
            bar.set(bytes);
        }
    };
    let defer = boot.is_some();
    let durability = if defer { Durability::None } else { Durability::Durable };
    let unpack_options = UnpackOptions { durability, progress: Some(&report), ..UnpackOptions::default() };
    let unpacked = package.unpack_to(temp, &unpack_options, cache_var);
    drop(bar);
    let index = unpacked?;
    let meta = temp.join(tree::META_DIR);
    create_dir(&meta)?;
    // First in `.sea`: the unflushed mark must exist before anything that publishes the tree.
    if let Some(boot) = boot {
        flush::mark(temp, boot).map_err(|e| ExtractError::io("write", &temp.join(flush::MARK), e))?;
    }
    let write = if defer { write_plain } else { write_synced };
    write(&temp.join(tree::INDEX), &index)?;
    if options.mark_update {
        write(&temp.join(tree::UPDATE_MARK), b"")?;
    }
    // Last: the completion mark.
    write(&temp.join(tree::MANIFEST), package.manifest_bytes())?;
    if !defer {
        sync_dir(&meta)?;
        sync_dir(temp)?;
    }
    Ok(())
}

/// Moves the finished temporary tree into place (durably unless `defer`).
fn publish(temp: &Path, tree: &TreePaths, defer: bool) -> Result<Extracted, ExtractError> {
    let parent = tree.dir.parent().unwrap_or(Path::new("."));
    let outcome = match fs::symlink_metadata(&tree.dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(temp, &tree.dir).map_err(|e| ExtractError::io("move into place", &tree.dir, e))?;
            Extracted::Fresh
        }
        Err(e) => return Err(ExtractError::io("inspect", &tree.dir, e)),
        Ok(_) => {
            replace(temp, tree)?;
            Extracted::Repaired
        }
    };
    if !defer {
        sync_dir(parent)?;
    }
    Ok(outcome)
}

/// Puts the fresh tree at `tree.dir` in place of a damaged one; the old one ends up at `temp` or
/// in the trash, and is deleted.
fn replace(temp: &Path, tree: &TreePaths) -> Result<(), ExtractError> {
    #[cfg(target_os = "linux")]
    if exchange(temp, &tree.dir).is_ok() {
        let _ = fs::remove_dir_all(temp);
        return Ok(());
    }
    let trash = tree.trash_dir();
    fs::rename(&tree.dir, &trash).map_err(|e| ExtractError::io("move aside the damaged tree", &tree.dir, e))?;
    fs::rename(temp, &tree.dir).map_err(|e| ExtractError::io("move into place", &tree.dir, e))?;
    let _ = fs::remove_dir_all(&trash);
    Ok(())
}

/// Atomically swaps two paths (Linux ≥ 3.15, most file systems).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths for the duration of the call; AT_FDCWD makes
    // them relative to the working directory (they are absolute anyway).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Adds the update mark to an existing complete tree (an update whose payload another binary
/// already extracted).
pub(crate) fn mark_update(dir: &Path) -> Result<(), ExtractError> {
    let mark = dir.join(tree::UPDATE_MARK);
    if mark.exists() {
        return Ok(());
    }
    write_synced(&mark, b"")
}

fn create_dir(path: &Path) -> Result<(), ExtractError> {
    crate::private::create_dir(path, false).map_err(|e| ExtractError::io("create", path, e))
}

fn write_plain(path: &Path, bytes: &[u8]) -> Result<(), ExtractError> {
    fs::write(path, bytes).map_err(|e| ExtractError::io("write", path, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ExtractError> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(|e| ExtractError::io("create", path, e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| ExtractError::io("write", path, e))
}

fn sync_dir(path: &Path) -> Result<(), ExtractError> {
    #[cfg(unix)]
    {
        let dir = fs::File::open(path).map_err(|e| ExtractError::io("open", path, e))?;
        dir.sync_all().map_err(|e| ExtractError::io("sync", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn progress_bar(package: &dyn TreeSource, options: &ExtractOptions<'_>) -> Option<Progress> {
    let total = package.manifest().unpacked_size;
    if !options.progress || total < PROGRESS_THRESHOLD {
        return None;
    }
    Progress::new(format!("{}: unpacking {}", options.app, package.manifest().version), total)
}

/// Refuses to start an extraction that cannot fit, and one into a `noexec` mount.
fn check_space(dir: &Path, needed: u64, var: &str) -> Result<(), ExtractError> {
    #[cfg(unix)]
    {
        let stats = statvfs(dir).map_err(|e| ExtractError::io("inspect the file system of", dir, e))?;
        if stats.noexec {
            return Err(ExtractError::NoExec { path: dir.to_owned(), mount: mount_point(dir), var: var.to_owned() });
        }
        let needed = needed.saturating_add(SPACE_MARGIN);
        if stats.available < needed {
            return Err(ExtractError::NoSpace {
                path: dir.to_owned(),
                needed,
                available: stats.available,
                var: var.to_owned(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, needed, var);
    Ok(())
}

/// The parts of `statvfs` extraction cares about.
#[cfg(unix)]
pub(crate) struct FsStats {
    /// Bytes available to an unprivileged user.
    pub(crate) available: u64,
    /// Mounted `noexec`.
    pub(crate) noexec: bool,
}

#[cfg(unix)]
pub(crate) fn statvfs(dir: &Path) -> io::Result<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `stats` is plain old data that statvfs fills in; c_path is NUL-terminated.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; both pointers are valid for the call.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let available = (stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64);
    #[allow(clippy::unnecessary_cast)]
    let noexec = (stats.f_flag as u64) & (libc::ST_NOEXEC as u64) != 0;
    Ok(FsStats { available, noexec })
}

/// The mount point holding `path` (from `/proc/self/mountinfo`), for messages.
pub(crate) fn mount_point(path: &Path) -> String {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return "its mount".to_owned();
    };
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|mount| mount.replace("\\040", " "))
        .filter(|mount| path.starts_with(mount))
        .max_by_key(String::len)
        .unwrap_or_else(|| "its mount".to_owned())
}
