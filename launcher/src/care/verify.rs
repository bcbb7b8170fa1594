//! Deep verification of a tree against its index.
//!
//! Two depths: [`Depth::Sizes`] checks that every entry exists with its kind and size (what the
//! background check does while the app runs: thousands of `stat`s, no reading), and
//! [`Depth::Contents`] also hashes every file (`--sea-verify`).

use std::fs;
use std::path::Path;

use sea_payload::digest;
use sea_payload::index::{EntryKind, Index};

use crate::start::tree::{self, Damage};

/// How deep to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Existence, kind and size.
    Sizes,
    /// Also the SHA-256 of every file.
    Contents,
}

/// What a verification found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Entries checked.
    pub(crate) checked: usize,
    /// Damage found (empty: the tree is intact).
    pub(crate) damage: Vec<Damage>,
}

/// Reads the tree's own index (`.sea/index.json`), checked against the digest in its manifest.
pub(crate) fn load_index(dir: &Path) -> Result<Index, Damage> {
    let (manifest, _) = tree::read_manifest(dir).map_err(|_| Damage::Incomplete)?;
    let bytes = tree::read_small(&dir.join(tree::INDEX), sea_payload::trailer::MAX_INDEX_LEN)
        .map_err(|_| Damage::Missing(tree::INDEX.to_owned()))?;
    if digest::sha256_hex(&bytes) != manifest.index.sha256 {
        return Err(Damage::Changed(tree::INDEX.to_owned()));
    }
    Index::from_bytes(&bytes).map_err(|_| Damage::Changed(tree::INDEX.to_owned()))
}

/// Checks every entry of `index` under `dir`. Stops early once `limit` damages were found.
pub(crate) fn check(dir: &Path, index: &Index, depth: Depth, limit: usize) -> Findings {
    let mut findings = Findings::default();
    for entry in &index.entries {
        findings.checked += 1;
        if let Some(damage) = check_entry(dir, entry, depth) {
            findings.damage.push(damage);
            if findings.damage.len() >= limit {
                break;
            }
        }
    }
    findings
}

fn check_entry(dir: &Path, entry: &sea_payload::index::IndexEntry, depth: Depth) -> Option<Damage> {
    let path = dir.join(&entry.path);
    let Ok(meta) = fs::symlink_metadata(&path) else {
        return Some(Damage::Missing(entry.path.clone()));
    };
    let changed = || Some(Damage::Changed(entry.path.clone()));
    match entry.kind {
        EntryKind::Dir if !meta.is_dir() => changed(),
        EntryKind::Symlink => match fs::read_link(&path) {
            Ok(target) if Some(target.as_os_str()) == entry.target.as_deref().map(std::ffi::OsStr::new) => None,
            _ => changed(),
        },
        EntryKind::File if !meta.is_file() || meta.len() != entry.size => changed(),
        EntryKind::File if depth == Depth::Contents => {
            let found = fs::File::open(&path).and_then(digest::sha256_reader).ok().map(|(d, _)| digest::to_hex(&d));
            if found.is_some() && found == entry.sha256 { None } else { changed() }
        }
        _ => None,
    }
}
