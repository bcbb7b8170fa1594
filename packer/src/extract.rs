//! `sea-pack extract`: the payload of a packed executable, unpacked into a new directory.
//!
//! # Implementation
//! The binary is checked as `verify` checks it (digests, and the signature against the baked-in
//! key), then unpacked by [`sea_payload::Package::unpack_to`] — the launcher's own safe unpacker,
//! which verifies the payload's SHA-256 while streaming and the index of what it writes against
//! the manifest's — into a temporary sibling of DIR, which
//! is renamed to DIR only once complete. A failure at any point removes the temporary directory,
//! so DIR either ends up complete or is left as it was.
//!
//! # Limitations
//! DIR may exist only if it is an empty directory (a rename replaces an empty directory on Unix).
//! The unpacked tree has normalised modes (0755/0644 minus the umask); owners and times are not
//! part of a payload.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sea_payload::unpack::UnpackOptions;

use crate::cli::ExtractArgs;
use crate::output;
use crate::progress::Progress;
use crate::verify;

/// Runs `extract`.
pub(crate) fn run(args: &ExtractArgs, out: &mut dyn Write) -> Result<()> {
    let dest = &args.dir;
    check_destination(dest)?;
    // Digests only: the unpack itself checks the index of what it writes against the manifest's.
    let checked = verify::check(&args.binary, None, verify::Depth::Digests)?;
    checked.require_acceptable()?;
    let package = &checked.package;
    let parent = output::parent_dir(dest);
    let temp = tempfile::Builder::new()
        .prefix(".sea-extract-")
        .tempdir_in(parent)
        .with_context(|| format!("could not create a temporary directory in {}", parent.display()))?;
    let bar = Progress::bytes("extracting", package.manifest().unpacked_size);
    let progress = |done: u64| bar.set(done);
    let options = UnpackOptions { progress: Some(&progress), ..UnpackOptions::default() };
    let summary = package.unpack_to(temp.path(), &options)?;
    bar.finish();
    set_dir_mode(temp.path())?;
    std::fs::rename(temp.path(), dest)
        .with_context(|| format!("could not move the extracted tree to {}", dest.display()))?;
    // Renamed: nothing is left for the guard to remove.
    let _ = temp.keep();
    writeln!(out, "extracted {} entries ({} bytes) to {}", summary.entries, summary.bytes, dest.display())
        .context("could not write to stdout")
}

/// DIR must not exist, or be an empty directory; its parent must exist.
fn check_destination(dest: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            let mut entries = std::fs::read_dir(dest).with_context(|| format!("could not read {}", dest.display()))?;
            if entries.next().is_some() {
                bail!("{} already exists and is not empty; give a new directory", dest.display());
            }
            Ok(())
        }
        Ok(_) => bail!("{} already exists and is not a directory; give a new directory", dest.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = output::parent_dir(dest);
            if !parent.is_dir() {
                bail!("the parent directory {} does not exist; create it first", parent.display());
            }
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("could not read {}", dest.display())),
    }
}

/// A temporary directory is 0700; the extracted tree's root gets the usual 0755.
#[cfg(unix)]
fn set_dir_mode(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("could not set the mode of {}", dir.display()))
}

#[cfg(not(unix))]
fn set_dir_mode(_dir: &Path) -> Result<()> {
    Ok(())
}
