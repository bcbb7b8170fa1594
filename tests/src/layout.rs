//! Where a packed binary puts things, computed independently of the launcher from the payload
//! format itself, so tests check the launcher against the README's contract ("The packed executable", "Directories,
//! locks and clean-up") rather than against itself.

use std::fs;
use std::path::{Path, PathBuf};

use sea_payload::Package;
use sea_payload::index::{EntryKind, Index};

/// `<version>-<sha12>` of a packed binary.
pub fn tree_id(binary: &Path) -> String {
    Package::open(binary).expect("packed binary opens").manifest().tree_id()
}

/// The index of a packed binary.
pub fn index(binary: &Path) -> Index {
    Package::open(binary).expect("packed binary opens").read_index().expect("index")
}

/// `<cache>/pkg/<host platform>`.
pub fn pkg_dir(cache: &Path) -> PathBuf {
    cache.join("pkg").join(sea_payload::platform::host().expect("known host platform"))
}

/// Names in a directory, sorted; empty if it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Checks that `tree` holds exactly what the binary's index says (kinds, sizes, link targets)
/// plus sea's `.sea/` metadata; returns the first difference.
pub fn tree_matches(binary: &Path, tree: &Path) -> Result<(), String> {
    if !tree.join(".sea/manifest.json").is_file() {
        return Err(format!("{} has no completion mark", tree.display()));
    }
    for entry in index(binary).entries {
        let path = tree.join(&entry.path);
        let meta = fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", entry.path))?;
        let ok = match entry.kind {
            EntryKind::Dir => meta.is_dir(),
            EntryKind::File => meta.is_file() && meta.len() == entry.size,
            EntryKind::Symlink => meta.file_type().is_symlink(),
        };
        if !ok {
            return Err(format!("{} differs from the index", entry.path));
        }
    }
    Ok(())
}
