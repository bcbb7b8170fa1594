//! The stub marker: how `sea-pack` recognises a launcher stub and learns its version and platform,
//! and how the launcher reads its own version and that of a downloaded stub.
//!
//! # Format
//! A fixed ASCII record in the stub's read-only data:
//! `SEA-STUB-INFO:1;version=<semver>;platform=<platform>;` followed by a NUL. Fields after the
//! format number are `key=value` pairs separated by `;`; unknown keys are ignored, so a newer
//! launcher may add some. The record is at most [`MAX_LEN`] bytes after the prefix.
//!
//! # Implementation
//! The marker is searched for in the stub's bytes rather than read by running the stub, so a stub
//! built for another platform (a Mach-O or PE file on Linux) packs just as well. The prefix may
//! also occur elsewhere in a binary (code that searches for markers carries it), so every
//! occurrence is tried and the first one that parses wins.
//!
//! # Limitations
//! The first valid marker wins; a stub is not expected to contain two.

use semver::Version;

/// The marker's fixed prefix.
pub const PREFIX: &[u8] = b"SEA-STUB-INFO:";
/// The marker format this crate reads and writes.
pub const FORMAT: &str = "1";
/// Longest marker body read after the prefix (up to its NUL).
pub const MAX_LEN: usize = 256;

/// What a marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubMarker {
    /// The launcher version.
    pub version: Version,
    /// The platform the stub was built for, as the marker spells it (may be unknown to the format).
    pub platform: String,
}

/// Why a marker was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    /// No occurrence of [`PREFIX`].
    #[error("no SEA-STUB-INFO marker found (was it built from launcher/?)")]
    Missing,
    /// No NUL within [`MAX_LEN`] bytes.
    #[error("the SEA-STUB-INFO marker at offset {offset} is not terminated")]
    Unterminated { offset: usize },
    /// Not UTF-8.
    #[error("the SEA-STUB-INFO marker at offset {offset} is not text")]
    NotText { offset: usize },
    /// Another format number.
    #[error("stub marker format '{found}' is not supported by this sea (it reads {FORMAT}); update sea-pack")]
    UnsupportedFormat { found: String },
    /// A required field is absent.
    #[error("the stub marker has no {0}")]
    MissingField(&'static str),
    /// The version is not semver.
    #[error("the stub marker's version '{0}' is not semver")]
    BadVersion(String),
}

/// The marker bytes for `version` and `platform`, NUL included: what the launcher embeds, and what
/// tests write into a foreign executable to make it a stand-in stub.
pub fn encode(version: &str, platform: &str) -> Vec<u8> {
    let mut out = PREFIX.to_vec();
    out.extend_from_slice(format!("{FORMAT};version={version};platform={platform};\0").as_bytes());
    out
}

/// Finds the first occurrence of [`PREFIX`] that parses; if none parses, the error of the first.
pub fn find(bytes: &[u8]) -> Result<StubMarker, MarkerError> {
    let mut from = 0;
    let mut first_error = None;
    while let Some(offset) = find_bytes(&bytes[from..], PREFIX) {
        let at = from + offset;
        match parse_at(bytes, at) {
            Ok(found) => return Ok(found),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        from = at + 1;
    }
    Err(first_error.unwrap_or(MarkerError::Missing))
}

/// Parses the marker whose prefix starts at `at` (the caller found [`PREFIX`] there).
pub fn parse_at(bytes: &[u8], at: usize) -> Result<StubMarker, MarkerError> {
    let rest = bytes.get(at + PREFIX.len()..).unwrap_or_default();
    let end = rest.iter().take(MAX_LEN).position(|&b| b == 0).ok_or(MarkerError::Unterminated { offset: at })?;
    let body = std::str::from_utf8(&rest[..end]).map_err(|_| MarkerError::NotText { offset: at })?;
    let mut fields = body.split(';').filter(|f| !f.is_empty());
    let format = fields.next().unwrap_or_default();
    if format != FORMAT {
        return Err(MarkerError::UnsupportedFormat { found: format.to_owned() });
    }
    let (mut version, mut platform) = (None, None);
    for field in fields {
        match field.split_once('=') {
            Some(("version", v)) => version = Some(v),
            Some(("platform", p)) => platform = Some(p),
            _ => {}
        }
    }
    let version = version.ok_or(MarkerError::MissingField("version"))?;
    let version = Version::parse(version).map_err(|_| MarkerError::BadVersion(version.to_owned()))?;
    let platform = platform.ok_or(MarkerError::MissingField("platform"))?.to_owned();
    Ok(StubMarker { version, platform })
}

/// Parses a marker that starts at the beginning of `bytes` (the launcher's own).
pub fn parse(bytes: &[u8]) -> Result<StubMarker, MarkerError> {
    if !bytes.starts_with(PREFIX) {
        return Err(MarkerError::Missing);
    }
    parse_at(bytes, 0)
}

/// Position of the first occurrence of `needle` in `haystack`.
fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
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
        let marker = find(bytes).expect("marker");
        assert_eq!(marker.version, Version::new(1, 2, 3));
        assert_eq!(marker.platform, "linux-x64");
    }

    #[test]
    fn an_unparsable_prefix_before_the_real_marker_is_skipped() {
        let bytes = b"SEA-STUB-INFO:\x01\x02 then SEA-STUB-INFO:1;version=2.0.0;platform=darwin-arm64;\0";
        assert_eq!(find(bytes).map(|m| m.platform), Ok("darwin-arm64".to_owned()));
    }

    #[test]
    fn encode_round_trips() {
        let bytes = encode("0.3.1", "win32-x64");
        assert_eq!(bytes.last(), Some(&0));
        let marker = parse(&bytes).expect("parses");
        assert_eq!((marker.version.to_string(), marker.platform), ("0.3.1".to_owned(), "win32-x64".to_owned()));
    }

    #[test]
    fn refuses_missing_or_odd_markers() {
        assert_eq!(find(b"no marker here"), Err(MarkerError::Missing));
        assert!(matches!(
            find(b"SEA-STUB-INFO:2;version=1.0.0;platform=linux-x64;\0"),
            Err(MarkerError::UnsupportedFormat { .. })
        ));
        assert!(matches!(find(b"SEA-STUB-INFO:1;version=x;platform=linux-x64;\0"), Err(MarkerError::BadVersion(_))));
        assert!(matches!(
            find(b"SEA-STUB-INFO:1;version=1.0.0;platform=linux-x64;"),
            Err(MarkerError::Unterminated { .. })
        ));
        assert_eq!(find(b"SEA-STUB-INFO:1;platform=linux-x64;\0"), Err(MarkerError::MissingField("version")));
    }

    #[test]
    fn finds_needles() {
        assert_eq!(find_bytes(b"aaab", b"ab"), Some(2));
        assert_eq!(find_bytes(b"aaa", b"ab"), None);
        assert_eq!(find_bytes(b"a", b"ab"), None);
    }
}
