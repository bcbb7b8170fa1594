//! Recognising a launcher stub by its marker, and learning its version and platform.
//!
//! # Implementation
//! `sea-launcher` embeds `SEA-STUB-INFO:1;version=<semver>;platform=<platform>;` plus a NUL in its
//! read-only data (see `launcher/src/stub.rs`). The packer searches the stub's bytes for it rather
//! than running the stub, so a stub built for another platform packs just as well. The version
//! becomes the manifest's `launcher_version` (and the default `min_launcher`), the platform the
//! default `--platform`.
//!
//! A file that already ends in a valid trailer is a packed executable, not a stub: packing it
//! again would hide the first payload behind the second, so it is refused.
//!
//! # Limitations
//! The first marker wins; a stub is not expected to contain two.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sea_payload::trailer::{TRAILER_LEN, Trailer};
use semver::Version;

/// The marker's fixed prefix.
const MARKER: &[u8] = b"SEA-STUB-INFO:";
/// The marker format this packer reads.
const MARKER_FORMAT: &str = "1";
/// Longest marker body read (up to its NUL).
const MAX_MARKER_LEN: usize = 256;

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

/// Whether the bytes end in a valid sea trailer.
fn carries_payload(bytes: &[u8]) -> bool {
    let Some(start) = bytes.len().checked_sub(TRAILER_LEN) else { return false };
    let mut raw = [0u8; TRAILER_LEN];
    raw.copy_from_slice(&bytes[start..]);
    Trailer::parse(&raw).is_ok()
}

/// Finds the marker and returns its version and platform. The marker's prefix may also occur
/// elsewhere in a binary (code that searches for markers carries it), so every occurrence is
/// tried and the first one that parses wins.
fn parse_marker(bytes: &[u8]) -> Result<(Version, String)> {
    let mut from = 0;
    let mut first_error = None;
    while let Some(offset) = find(&bytes[from..], MARKER) {
        let at = from + offset;
        match parse_marker_at(bytes, at) {
            Ok(found) => return Ok(found),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        from = at + 1;
    }
    Err(first_error.unwrap_or_else(|| anyhow::anyhow!("no SEA-STUB-INFO marker found (was it built from launcher/?)")))
}

/// Parses the marker that starts at `at`.
fn parse_marker_at(bytes: &[u8], at: usize) -> Result<(Version, String)> {
    let rest = &bytes[at + MARKER.len()..];
    let end =
        rest.iter().take(MAX_MARKER_LEN).position(|&b| b == 0).context("the SEA-STUB-INFO marker is not terminated")?;
    let body = std::str::from_utf8(&rest[..end]).context("the SEA-STUB-INFO marker is not text")?;
    let mut fields = body.split(';').filter(|f| !f.is_empty());
    let format = fields.next().unwrap_or_default();
    if format != MARKER_FORMAT {
        bail!(
            "stub marker format '{format}' is not supported by this sea-pack (it reads {MARKER_FORMAT}); update sea-pack"
        );
    }
    let (mut version, mut platform) = (None, None);
    for field in fields {
        match field.split_once('=') {
            Some(("version", v)) => version = Some(v),
            Some(("platform", p)) => platform = Some(p),
            _ => {}
        }
    }
    let version = version.context("the stub marker has no version")?;
    let version =
        Version::parse(version).with_context(|| format!("the stub marker's version '{version}' is not semver"))?;
    let platform = platform.context("the stub marker has no platform")?.to_owned();
    Ok((version, platform))
}

/// Position of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
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
    fn finds_needles() {
        assert_eq!(find(b"aaab", b"ab"), Some(2));
        assert_eq!(find(b"aaa", b"ab"), None);
        assert_eq!(find(b"a", b"ab"), None);
    }
}
