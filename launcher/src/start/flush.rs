//! Deferred durability of a tree extracted at a cold start (Linux).
//!
//! Flushing a fresh tree to disk before running the app (`syncfs`) made the user wait for the
//! disk: about a third of a 200 MB cold start here. Instead the tree is published unflushed, with
//! `.sea/unflushed` holding the kernel's boot id, and the background work of a launcher whose app
//! runs for a while flushes the file system and removes the mark.
//!
//! # Invariant
//! Unflushed data can only be lost by a power cut or a kernel crash, and either changes the boot
//! id. Within one boot the page cache is what every process reads, so an unflushed tree is
//! complete. A start that finds the mark with another boot's id — or unreadable, its own content
//! lost — treats the tree as damaged and extracts it again. The mark is written before the
//! completion mark and the rename that publishes the tree, so a journaling file system never
//! persists the rename without the mark's directory entry.
//!
//! Not covered: a removable disk pulled out before the flush and plugged in again within the same
//! boot. The background check of every file's size against the index still finds what such a
//! disk lost, and the next start repairs it.
//!
//! Not for trees installed by updates: they cannot be extracted again from the binary, so they
//! are flushed before they are published. Without a boot id (other systems) neither is deferred.
//!
//! # Cost
//! On the warm path one failed `open` of the mark. An app that exits before the background work
//! starts (a short command) has the flush done by a detached process as the launcher exits
//! (`care::background`), so a mark outlives its boot only when that process is killed first; it
//! then costs one extraction after the restart.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// The mark, relative to the tree.
pub(crate) const MARK: &str = ".sea/unflushed";

/// This boot's id; `None` where there is none (then trees are flushed before they are published).
pub(crate) fn boot_id() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let id = id.trim();
        (!id.is_empty()).then(|| id.to_owned())
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// What a tree's unflushed mark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// No mark: the tree is on disk.
    Absent,
    /// Marked in this boot: complete in the page cache, still to be flushed.
    ThisBoot,
    /// Marked in another boot, or unreadable: the content may have been lost.
    Lost,
}

/// Reads the tree's mark (one `open`, which fails on a flushed tree).
pub(crate) fn mark_of(dir: &Path) -> Mark {
    let file = match fs::File::open(dir.join(MARK)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Mark::Absent,
        Err(_) => return Mark::Lost,
    };
    let mut id = String::new();
    if file.take(128).read_to_string(&mut id).is_err() {
        return Mark::Lost;
    }
    if boot_id().is_some_and(|now| now == id.trim()) { Mark::ThisBoot } else { Mark::Lost }
}

/// Marks the temporary tree `temp` (its `.sea` exists) as unflushed in boot `boot`.
pub(crate) fn mark(temp: &Path, boot: &str) -> io::Result<()> {
    fs::write(temp.join(MARK), boot)
}

/// Flushes the file system of the tree at `dir` if it is marked, then removes the mark. Returns
/// whether it flushed. The mark is removed through the tree's own `.sea` directory, opened before
/// the flush: a repair may meanwhile swap in another tree at `dir`, whose mark must stay.
#[cfg(target_os = "linux")]
pub(crate) fn flush(dir: &Path) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let meta = fs::File::open(dir.join(sea_payload::paths::RESERVED_DIR))?;
    let name = c"unflushed";
    // SAFETY: a valid directory descriptor and a NUL-terminated name; `stat` is written by the call.
    let present = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstatat(meta.as_raw_fd(), name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) == 0
    };
    if !present {
        return Ok(false);
    }
    // SAFETY: `meta` is open for the duration of the call.
    if unsafe { libc::syncfs(meta.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // A removal that does not reach the disk before a crash only costs one extraction later.
    // SAFETY: as above.
    if unsafe { libc::unlinkat(meta.as_raw_fd(), name.as_ptr(), 0) } != 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
    }
    Ok(true)
}

/// Nothing is ever deferred where there is no boot id.
#[cfg(not(target_os = "linux"))]
pub(crate) fn flush(_dir: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Whether the tree's content may have been lost: what `tree::quick_check` refuses.
    fn maybe_lost(dir: &Path) -> bool {
        mark_of(dir) == Mark::Lost
    }

    #[test]
    fn a_mark_of_this_boot_is_safe_another_boots_or_unreadable_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join(".sea")).expect("mkdir");
        assert!(!maybe_lost(dir.path()), "no mark");
        mark(dir.path(), &boot_id().expect("boot id")).expect("mark");
        assert!(!maybe_lost(dir.path()), "this boot");
        fs::write(dir.path().join(MARK), "00000000-0000-0000-0000-000000000000\n").expect("write");
        assert!(maybe_lost(dir.path()), "another boot");
        fs::write(dir.path().join(MARK), b"\xff\xfe").expect("write");
        assert!(maybe_lost(dir.path()), "unreadable");
        fs::write(dir.path().join(MARK), "").expect("write");
        assert!(maybe_lost(dir.path()), "emptied by a crash");
    }

    #[test]
    fn flushing_removes_the_mark_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join(".sea")).expect("mkdir");
        assert!(!flush(dir.path()).expect("nothing to flush"));
        mark(dir.path(), &boot_id().expect("boot id")).expect("mark");
        assert!(flush(dir.path()).expect("flushed"));
        assert!(!dir.path().join(MARK).exists());
        assert!(!flush(dir.path()).expect("again"));
    }
}
