//! Atomic file output: nothing half-written is ever visible under the final name.
//!
//! # Implementation
//! A file is written as a temporary sibling of its target (same directory, so the same file
//! system), flushed, given its mode, `fsync`ed, then renamed over the target; the directory is
//! `fsync`ed after the rename so that the new name survives a power cut. The temporary file is
//! created with mode 0600 (tempfile's default), so a secret key is never readable by others, not
//! even for an instant; public files are widened with `chmod` before the rename.
//!
//! # Alternatives
//! Writing in place and truncating on error leaves a corrupt file behind after a crash or a full
//! disk, and a reader (a web server, a running launcher) may see it half-written.
//!
//! # Limitations
//! A crash leaves the temporary file (`.<name>.<random>.tmp`) behind; it is never mistaken for a
//! finished file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// Whether [`AtomicFile::commit`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Replace whatever is there.
    Yes,
    /// Fail if the target exists (checked by the rename itself, so there is no race).
    No,
}

/// A file being written; visible under its name only after [`AtomicFile::commit`].
#[derive(Debug)]
pub(crate) struct AtomicFile {
    writer: BufWriter<NamedTempFile>,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`. Its directory must exist.
    pub(crate) fn create(target: &Path) -> Result<Self> {
        let dir = parent_dir(target);
        let prefix = format!(".{}.", target.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("could not create a temporary file in {}", dir.display()))?;
        Ok(Self { writer: BufWriter::with_capacity(256 * 1024, tmp), target: target.to_owned() })
    }

    /// The writer.
    pub(crate) fn writer(&mut self) -> &mut BufWriter<NamedTempFile> {
        &mut self.writer
    }

    /// Flushes what was written and returns the file itself, for fixing headers in place
    /// ([`crate::container::finish`]); nothing may be written through [`Self::writer`] after.
    pub(crate) fn flushed_file(&mut self) -> Result<&mut File> {
        self.writer.flush().with_context(|| format!("could not write {}", self.target.display()))?;
        Ok(self.writer.get_mut().as_file_mut())
    }

    /// Flushes, sets `mode`, syncs and renames into place.
    pub(crate) fn commit(self, mode: u32, replace: Replace) -> Result<()> {
        let target = self.target;
        let write_err = || format!("could not write {}", target.display());
        let tmp = self.writer.into_inner().map_err(|e| e.into_error()).with_context(write_err)?;
        set_mode(tmp.as_file(), mode).with_context(write_err)?;
        tmp.as_file().sync_all().with_context(write_err)?;
        match replace {
            Replace::Yes => tmp.persist(&target).map(drop).map_err(|e| e.error),
            Replace::No => tmp.persist_noclobber(&target).map(drop).map_err(|e| e.error),
        }
        .with_context(|| format!("could not create {}", target.display()))?;
        sync_dir(parent_dir(&target));
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically with `mode`.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.writer().write_all(bytes).with_context(|| format!("could not write {}", path.display()))?;
    file.commit(mode, Replace::Yes)
}

/// The directory a relative or absolute file path lives in (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Makes a rename durable. Best effort: some file systems refuse to sync a directory, and the
/// file itself is already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
