//! Recognising a launcher stub by its marker, and learning its version and platform.
//!
//! # Implementation
//! `sea-launcher` embeds `SEA-STUB-INFO:1;version=<semver>;platform=<platform>;` plus a NUL in its
//! read-only data (see `launcher/src/start/stub.rs`). The packer searches the stub's bytes for it
//! rather than running the stub, so a stub built for another platform packs just as well. The version
//! becomes the manifest's `launcher_version` (and the default `min_launcher`), the platform the
//! default `--platform`.
//!
//! A file that already carries a valid trailer (at its end, or inside a signed Mach-O or PE) is a
//! packed executable, not a stub: packing it again would hide the first payload behind the
//! second, so it is refused.
//!
//! The marker format is [`sea_payload::marker`]'s, shared with the launcher.
//!
//! # Limitations
//! The first marker wins; a stub is not expected to contain two.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sea_payload::marker;
use sea_payload::trailer::{TRAILER_LEN, Trailer};
use semver::Version;

/// A launcher stub, read into memory.
#[derive(Debug)]
pub(crate) struct Stub {
    /// Its bytes, written in front of the payload.
    pub(crate) bytes: Vec<u8>,
    /// The launcher version it reports.
    pub(crate) version: Version,
    /// The platform it was built for, as its marker spells it (may be unknown to the format).
    pub(crate) platform: String,
}

/// Reads and checks the stub at `path`.
pub(crate) fn load(path: &Path) -> Result<Stub> {
    let bytes = std::fs::read(path).with_context(|| {
        format!("could not read the launcher stub {} (pass --launcher <STUB> to use another)", path.display())
    })?;
    if carries_payload(&bytes) {
        bail!(
            "{} already carries a payload: it is a packed executable, not a bare sea-launcher stub; \
             pass the plain sea-launcher with --launcher",
            path.display()
        );
    }
    let (version, platform) =
        parse_marker(&bytes).with_context(|| format!("{} is not a sea-launcher stub", path.display()))?;
    Ok(Stub { bytes, version, platform })
}

/// Whether the bytes carry a sea package: a valid trailer at the end, or where the Mach-O or PE
/// headers of a signed executable say the package ends.
fn carries_payload(bytes: &[u8]) -> bool {
    let trailer_before = |end: usize| {
        let Some(start) = end.checked_sub(TRAILER_LEN) else { return false };
        let mut raw = [0u8; TRAILER_LEN];
        raw.copy_from_slice(&bytes[start..end]);
        Trailer::parse(&raw).is_ok()
    };
    if trailer_before(bytes.len()) {
        return true;
    }
    match sea_payload::container::package_end_in(bytes) {
        Ok(Some(end)) => usize::try_from(end).is_ok_and(trailer_before),
        _ => false,
    }
}

/// Finds the marker and returns its version and platform ([`sea_payload::marker::find`]).
fn parse_marker(bytes: &[u8]) -> Result<(Version, String)> {
    let marker = marker::find(bytes)?;
    Ok((marker.version, marker.platform))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_marker() {
        let bytes = b"\x7fELF junk SEA-STUB junk SEA-STUB-INFO:1;version=1.2.3;platform=linux-x64;\0more";
        let (version, platform) = parse_marker(bytes).expect("marker");
        assert_eq!(version, Version::new(1, 2, 3));
        assert_eq!(platform, "linux-x64");
    }

    #[test]
    fn refuses_missing_or_odd_markers() {
        assert!(parse_marker(b"no marker here").is_err());
        assert!(parse_marker(b"SEA-STUB-INFO:2;version=1.0.0;platform=linux-x64;\0").is_err());
        assert!(parse_marker(b"SEA-STUB-INFO:1;version=x;platform=linux-x64;\0").is_err());
        assert!(parse_marker(b"SEA-STUB-INFO:1;version=1.0.0;platform=linux-x64;").is_err());
        assert!(parse_marker(b"SEA-STUB-INFO:1;platform=linux-x64;\0").is_err());
    }

    #[test]
    fn truncated_or_plain_bytes_carry_no_payload() {
        assert!(!carries_payload(b"short"));
        assert!(!carries_payload(b"\xcf\xfa\xed\xfe truncated mach-o"));
    }
}
