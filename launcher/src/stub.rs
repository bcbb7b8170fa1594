//! The marker by which `sea-pack` recognises a launcher stub and learns its version and platform,
//! and from which the launcher itself reads its own version.
//!
//! The packer reads the marker from the stub's bytes rather than running the stub, so a stub
//! built for another platform can be packed too. The marker is a fixed ASCII record in read-only
//! data: `SEA-STUB-INFO:1;version=<semver>;platform=<platform>;` followed by a NUL.
//!
//! The launcher reads its version from the same bytes at run time, so the version a release
//! pipeline sees is by construction the version the launcher believes it has.

use std::sync::OnceLock;

use semver::Version;

/// The platform this stub was compiled for (set by `build.rs` from the target triple).
pub(crate) const PLATFORM: &str = env!("SEA_STUB_PLATFORM");

/// The marker. `#[used]` keeps it through link-time optimisation.
#[used]
static STUB_INFO: &[u8] =
    concat!("SEA-STUB-INFO:1;version=", env!("CARGO_PKG_VERSION"), ";platform=", env!("SEA_STUB_PLATFORM"), ";\0")
        .as_bytes();

/// The `version=` field of a marker.
pub(crate) fn parse_version(marker: &[u8]) -> Option<Version> {
    Version::parse(field(marker, "version=")?).ok()
}

/// A `<name>=` field of a marker (the text up to its NUL).
fn field<'m>(marker: &'m [u8], name: &str) -> Option<&'m str> {
    let text = std::str::from_utf8(marker.split(|b| *b == 0).next()?).ok()?;
    text.split(';').find_map(|f| f.strip_prefix(name))
}

/// What a stub's marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The launcher version.
    pub(crate) version: Version,
    /// The platform it was built for (empty when the marker names none).
    pub(crate) platform: String,
}

/// This launcher's version, as its marker says.
pub(crate) fn launcher_version() -> &'static Version {
    static VERSION: OnceLock<Version> = OnceLock::new();
    // black_box: the marker must be read from the binary's bytes, not folded at compile time.
    VERSION.get_or_init(|| parse_version(std::hint::black_box(STUB_INFO)).unwrap_or_else(|| Version::new(0, 0, 0)))
}

/// Finds and parses the marker in a stub's bytes (a downloaded launcher for self-replacement):
/// the first occurrence with a valid version. The prefix searched for is a slice of our own
/// marker, so the binary carries the marker text once: a second literal copy would be found
/// first by `sea-pack`.
pub(crate) fn find_marker(stub: &[u8]) -> Option<Marker> {
    let ours: &[u8] = std::hint::black_box(STUB_INFO);
    let prefix = &ours[..ours.iter().position(|b| *b == b';')? + 1];
    stub.windows(prefix.len()).enumerate().filter(|(_, w)| *w == prefix).find_map(|(at, _)| {
        let marker = &stub[at..stub.len().min(at + 256)];
        let version = parse_version(marker)?;
        Some(Marker { version, platform: field(marker, "platform=").unwrap_or_default().to_owned() })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_marker() {
        assert_eq!(super::launcher_version().to_string(), env!("CARGO_PKG_VERSION"));
        let blob = b"xxSEA-STUB-INFO:1;version=9.8.7;platform=linux-x64;\0yy";
        let marker = super::find_marker(blob).expect("marker");
        assert_eq!(marker.version.to_string(), "9.8.7");
        assert_eq!(super::find_marker(b"nothing here"), None);
        assert_eq!(marker.platform, "linux-x64");
        assert_eq!(super::find_marker(b"SEA-STUB-INFO:1;version=1.0.0;\0").map(|m| m.platform), Some(String::new()));
    }
}
