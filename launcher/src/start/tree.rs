//! One extracted tree: its paths, its metadata, and the check run at every start.
//!
//! A tree is `<cache>/pkg/<platform>/<version>-<sha12>/`, holding the app's files and sea's own
//! `.sea/` directory (the packer refuses inputs that contain one):
//!
//! * `.sea/manifest.json` — the manifest, byte for byte. Written last before the tree is renamed
//!   into place, it is the completion mark: no manifest, no tree. The background check renames it
//!   to `manifest.json.damaged` when it finds damage, so the next start repairs the tree.
//! * `.sea/index.json` — the index, for deep verification.
//! * `.sea/update` — present when `--sea-update` installed the tree (only those are candidates
//!   besides the bundled payload).
//!
//! Beside the tree, in the same directory: `<id>.lock` and `<id>.extract.lock` (see
//! [`crate::start::lock`]), temporary trees `.<id>.tmp-<pid>-<n>` and doomed ones `.<id>.trash-<pid>-<n>`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sea_payload::Manifest;

/// sea's directory inside a tree: the name the payload format reserves (the paths below spell it
/// out; a test checks they agree).
pub(crate) const META_DIR: &str = sea_payload::paths::RESERVED_DIR;
/// The manifest, relative to the tree.
pub(crate) const MANIFEST: &str = ".sea/manifest.json";
/// Where the background check moves a damaged tree's manifest.
pub(crate) const MANIFEST_DAMAGED: &str = ".sea/manifest.json.damaged";
/// The index, relative to the tree.
pub(crate) const INDEX: &str = ".sea/index.json";
/// Mark of a tree installed by an update.
pub(crate) const UPDATE_MARK: &str = ".sea/update";

/// The paths of one tree.
#[derive(Debug, Clone)]
pub(crate) struct TreePaths {
    /// `<version>-<sha12>`.
    pub(crate) id: String,
    /// The tree.
    pub(crate) dir: PathBuf,
    /// Shared while in use.
    pub(crate) lock: PathBuf,
    /// Exclusive while being extracted.
    pub(crate) extract_lock: PathBuf,
    pkg: PathBuf,
}

impl TreePaths {
    /// The tree `id` under `pkg`.
    pub(crate) fn new(pkg: &Path, id: &str) -> Self {
        Self {
            id: id.to_owned(),
            dir: pkg.join(id),
            lock: pkg.join(format!("{id}.lock")),
            extract_lock: pkg.join(format!("{id}.extract.lock")),
            pkg: pkg.to_owned(),
        }
    }

    /// A fresh name for a temporary tree beside this one.
    pub(crate) fn temp_dir(&self) -> PathBuf {
        self.pkg.join(format!(".{}.tmp-{}", self.id, unique()))
    }

    /// A fresh name for a tree about to be deleted.
    pub(crate) fn trash_dir(&self) -> PathBuf {
        self.pkg.join(format!(".{}.trash-{}", self.id, unique()))
    }
}

/// `<pid>-<counter>`: unique among live processes sharing the cache (a pid is not reused while
/// its process lives, and the counter separates one process's own names).
fn unique() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// What is wrong with a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Damage {
    /// No completion mark: never finished, marked damaged, or removed.
    #[error("the tree is missing or incomplete")]
    Incomplete,
    /// A file is gone.
    #[error("'{0}' is missing")]
    Missing(String),
    /// A file has the wrong size or kind.
    #[error("'{0}' was modified (wrong size or type)")]
    Changed(String),
    /// Extracted without a flush in an earlier boot: data may have been lost (see `flush`).
    #[error("it was not yet written to disk when the system last went down")]
    Unflushed,
}

/// A tree that passed [`quick_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Marked unflushed in this boot: the background work still has to flush it.
    pub(crate) unflushed: bool,
}

/// The check run at every start: completion mark, entry and every executable exist with their
/// size, and no unflushed data from an earlier boot. Costs one `stat` per executable and one
/// failed `open`, whatever the number of files in the tree; says whether the tree is still to be
/// flushed, so that nothing looks at the mark a second time.
pub(crate) fn quick_check(dir: &Path, manifest: &Manifest, manifest_len: u64) -> Result<Checked, Damage> {
    match fs::metadata(dir.join(MANIFEST)) {
        Ok(meta) if meta.is_file() && meta.len() == manifest_len => {}
        _ => return Err(Damage::Incomplete),
    }
    for exe in &manifest.executables {
        match fs::metadata(dir.join(&exe.path)) {
            Ok(meta) if meta.is_file() && meta.len() == exe.size => {}
            Ok(_) => return Err(Damage::Changed(exe.path.clone())),
            Err(_) => return Err(Damage::Missing(exe.path.clone())),
        }
    }
    match crate::start::flush::mark_of(dir) {
        crate::start::flush::Mark::Lost => Err(Damage::Unflushed),
        mark => Ok(Checked { unflushed: mark == crate::start::flush::Mark::ThisBoot }),
    }
}

/// Reads and validates the manifest of an installed tree (update candidates only; never on the
/// warm path of the bundled payload).
pub(crate) fn read_manifest(dir: &Path) -> io::Result<(Manifest, u64)> {
    let bytes = read_small(&dir.join(MANIFEST), 4 * 1024 * 1024)?;
    let manifest = Manifest::from_bytes(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((manifest, bytes.len() as u64))
}

/// Reads a file of at most `limit` bytes ([`sea_payload::bounded::read`]).
pub(crate) fn read_small(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    sea_payload::bounded::read(path, limit)
}

/// Marks a tree damaged so that the next start repairs it (used by the background check).
pub(crate) fn mark_damaged(dir: &Path) -> io::Result<()> {
    fs::rename(dir.join(MANIFEST), dir.join(MANIFEST_DAMAGED))
}

/// Whether a directory name is one of ours that is not a tree: a temporary or doomed tree.
pub(crate) fn parse_scratch_name(name: &str) -> Option<(&str, Scratch)> {
    let rest = name.strip_prefix('.')?;
    if let Some((id, _)) = rest.split_once(".tmp-") {
        return Some((id, Scratch::Temp));
    }
    if let Some((id, _)) = rest.split_once(".trash-") {
        return Some((id, Scratch::Trash));
    }
    None
}

/// Kinds of scratch directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scratch {
    /// An extraction in progress, or a crashed one.
    Temp,
    /// A tree being deleted, or whose deletion crashed.
    Trash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names() {
        let t = TreePaths::new(Path::new("/c/pkg/linux-x64"), "1.0.0-0123456789ab");
        let temp = t.temp_dir();
        let name = temp.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(parse_scratch_name(name), Some(("1.0.0-0123456789ab", Scratch::Temp)));
        let trash = t.trash_dir();
        let name = trash.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(parse_scratch_name(name), Some(("1.0.0-0123456789ab", Scratch::Trash)));
        assert_ne!(t.temp_dir(), t.temp_dir());
        assert_eq!(parse_scratch_name("1.0.0-0123456789ab"), None);
        assert_eq!(parse_scratch_name(".hidden"), None);
    }

    #[test]
    fn the_metadata_paths_are_inside_the_reserved_directory() {
        for path in [MANIFEST, MANIFEST_DAMAGED, INDEX, UPDATE_MARK] {
            assert!(path.strip_prefix(META_DIR).is_some_and(|rest| rest.starts_with('/')), "{path}");
        }
    }
}
