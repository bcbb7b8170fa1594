//! Advisory file locks: what is in use is decided by locks the kernel holds, never by whether a
//! file exists.
//!
//! # Implementation
//! std's `File::lock` family (flock on Unix, LockFileEx on Windows). The kernel drops a lock when
//! its process dies, however it dies, so a crash never leaves a stale lock; and flock works
//! across PID namespaces (containers sharing one home), where "is that PID alive" does not.
//! Each lock is a separate small file beside what it protects (Windows locks are mandatory, so a
//! tree's own files are never locked).
//!
//! Clean-up deletes a lock file together with its tree, while holding it exclusively. A process
//! that opened the file just before then locks an unlinked inode; so after locking, [`acquire`]
//! checks that the path still names the locked inode, and starts over if not (the pattern of
//! cargo's and uv's lock files).
//!
//! # Protocol
//! * `<id>.lock`: shared by every launcher using tree `<id>`, for its whole life; clean-up
//!   removes the tree only under an exclusive lock taken without waiting.
//! * `<id>.extract.lock`: exclusive while one launcher extracts `<id>`; the others wait, then find
//!   the tree complete. Clean-up removes temporary trees of `<id>` only under this lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    path: PathBuf,
    /// The lock file's mtime when it was locked (clean-up reads it as "last used").
    mtime: Option<std::time::SystemTime>,
}

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Many holders.
    Shared,
    /// One holder.
    Exclusive,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    /// Opening or locking the file failed.
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Waited too long.
    #[error("timed out after {}s waiting for the lock {} (held by another process of this app: {what})", waited.as_secs(), path.display())]
    Timeout { path: PathBuf, waited: Duration, what: &'static str },
}

impl Lock {
    /// The open lock file (an in-place run hands it to the app, `run::exec`).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

fn open(path: &Path) -> io::Result<File> {
    match OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path) {
        Ok(file) => Ok(file),
        // A read-only cache can still be used: flock needs no write access.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied || is_read_only_fs(&e) => File::open(path),
        Err(e) => Err(e),
    }
}

fn is_read_only_fs(e: &io::Error) -> bool {
    #[cfg(unix)]
    return e.raw_os_error() == Some(libc::EROFS);
    #[cfg(not(unix))]
    return e.kind() == io::ErrorKind::ReadOnlyFilesystem;
}

/// Whether the path still names the file we hold; `Some(mtime)` of the held file if it does.
fn still_linked(file: &File, path: &Path) -> io::Result<Option<Option<std::time::SystemTime>>> {
    let held = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok(Some(held.modified().ok())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        // Windows cannot delete an open file, so the race does not arise there.
        let _ = path;
        Ok(Some(held.modified().ok()))
    }
}

/// Takes the lock, waiting for it as long as needed up to `timeout`, calling `on_wait` once if it
/// has to wait (to tell the user why nothing happens).
pub(crate) fn acquire(
    path: &Path,
    mode: Mode,
    timeout: Duration,
    what: &'static str,
    on_wait: &mut dyn FnMut(),
) -> Result<Lock, LockError> {
    let start = Instant::now();
    let mut waited = false;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(lock) = try_acquire(path, mode)? {
            return Ok(lock);
        }
        if start.elapsed() >= timeout {
            return Err(LockError::Timeout { path: path.to_owned(), waited: start.elapsed(), what });
        }
        if !waited && start.elapsed() >= Duration::from_millis(500) {
            waited = true;
            on_wait();
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Takes the lock only if nobody holds it; `None` when it is held. A lock on a file that was
/// unlinked meanwhile (by a clean-up) is dropped and the path tried again.
pub(crate) fn try_acquire(path: &Path, mode: Mode) -> Result<Option<Lock>, LockError> {
    let io_err = |source| LockError::Io { path: path.to_owned(), source };
    loop {
        let file = open(path).map_err(io_err)?;
        let taken = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match taken {
            Ok(()) => {
                if let Some(mtime) = still_linked(&file, path).map_err(io_err)? {
                    return Ok(Some(Lock { file, path: path.to_owned(), mtime }));
                }
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
    }
}

impl Lock {
    /// Records "used now" in the lock file's mtime, at most once per `period` so that the warm
    /// path rarely writes: clean-up keeps trees used within the last days.
    pub(crate) fn touch(&self, period: Duration) {
        let stale = self.mtime.is_none_or(|m| m.elapsed().is_ok_and(|age| age >= period));
        if stale {
            let _ = self.file.set_modified(std::time::SystemTime::now());
        }
    }

    /// When the lock file was last touched, as seen when it was locked.
    pub(crate) fn last_used(&self) -> Option<std::time::SystemTime> {
        self.mtime
    }

    /// Deletes the lock file while still holding it (clean-up of a removed tree).
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_excludes_exclusive_and_release_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.lock");
        let a = try_acquire(&path, Mode::Shared).expect("ok").expect("free");
        let b = try_acquire(&path, Mode::Shared).expect("ok").expect("shared twice");
        assert!(try_acquire(&path, Mode::Exclusive).expect("ok").is_none());
        drop(a);
        assert!(try_acquire(&path, Mode::Exclusive).expect("ok").is_none());
        drop(b);
        let x = try_acquire(&path, Mode::Exclusive).expect("ok").expect("free now");
        assert!(try_acquire(&path, Mode::Shared).expect("ok").is_none());
        drop(x);
    }

    #[test]
    fn a_removed_lock_file_is_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.lock");
        let x = try_acquire(&path, Mode::Exclusive).expect("ok").expect("free");
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || acquire(&path, Mode::Shared, Duration::from_secs(10), "test", &mut || {}))
        };
        std::thread::sleep(Duration::from_millis(50));
        x.remove();
        let held = waiter.join().expect("join").expect("locked");
        assert!(path.exists(), "the waiter re-created the lock file instead of locking the unlinked one");
        assert!(still_linked(held.file(), &path).expect("stat").is_some());
    }

    #[test]
    fn timeout_names_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.lock");
        let _x = try_acquire(&path, Mode::Exclusive).expect("ok").expect("free");
        let err = acquire(&path, Mode::Exclusive, Duration::from_millis(30), "extracting", &mut || {})
            .expect_err("times out");
        assert!(err.to_string().contains("t.lock"));
    }
}
