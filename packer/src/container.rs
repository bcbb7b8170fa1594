//! Placing the package in a macOS (Mach-O) or Windows (PE) stub so that the output can be
//! code-signed afterwards: the packer's side of [`sea_payload::container`].
//!
//! # Implementation
//! [`prepare`] runs while `build` checks its flags, before anything is compressed: the stub's
//! format and architecture must match `--platform` (a Mach-O for `darwin-*`, a PE for `win32-*`,
//! anything else only for the other platforms), and an existing code signature is removed. The
//! output is then written as [`Placement::head`] + package, and [`finish`] fixes the headers
//! (Mach-O: string table and `__LINKEDIT` stretched over the package; PE: the checksum) before
//! the atomic rename, so a half-fixed file is never visible.
//!
//! # Limitations
//! The output is not signed: on Apple silicon it must be signed (at least ad hoc, `codesign -s -`)
//! before it runs. See README "macOS and Windows".

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use sea_payload::container::{Format, Placement};

use crate::stub::Stub;

/// Checks `stub` against `platform` and prepares it; warns when a signature is removed.
pub(crate) fn prepare(stub: &Stub, platform: &str, stub_path: &Path) -> Result<Placement> {
    let placement = Placement::prepare(&stub.bytes, platform)
        .with_context(|| format!("{} cannot be the launcher for {platform}", stub_path.display()))?;
    if placement.removed_signature() {
        let what = match placement.format() {
            Some(Format::Pe) => "Authenticode certificate table",
            _ => "code signature",
        };
        eprintln!("sea-pack: note: removed the {what} of {}: sign the packed output instead", stub_path.display());
    }
    Ok(placement)
}

/// Fixes the headers of the written output `file` (head + package).
pub(crate) fn finish(placement: &Placement, file: &mut File, out: &Path) -> Result<()> {
    placement.finish(file).with_context(|| format!("could not finish {}", out.display()))
}
