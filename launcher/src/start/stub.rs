//! The marker by which `sea-pack` recognises a launcher stub and learns its version and platform,
//! and from which the launcher itself reads its own version.
//!
//! The packer reads the marker from the stub's bytes rather than running the stub, so a stub
//! built for another platform can be packed too. The marker is a fixed ASCII record in read-only
//! data: `SEA-STUB-INFO:1;version=<semver>;platform=<platform>;` followed by a NUL.
//!
//! The launcher reads its version from the same bytes at run time, so the version a release
//! pipeline sees is by construction the version the launcher believes it has. The format is
//! [`sea_payload::marker`]'s, shared with `sea-pack`; only the literal lives here, because it must
//! be built at compile time.

use std::sync::OnceLock;

use semver::Version;

/// The platform this stub was compiled for (set by `build.rs` from the target triple).
pub(crate) const PLATFORM: &str = env!("SEA_STUB_PLATFORM");

/// The marker. `#[used]` keeps it through link-time optimisation.
#[used]
static STUB_INFO: &[u8] =
    concat!("SEA-STUB-INFO:1;version=", env!("CARGO_PKG_VERSION"), ";platform=", env!("SEA_STUB_PLATFORM"), ";\0")
        .as_bytes();

/// The `version=` field of a marker that starts at the beginning of `marker`.
pub(crate) fn parse_version(marker: &[u8]) -> Option<Version> {
    sea_payload::marker::parse(marker).ok().map(|m| m.version)
}

/// This launcher's version, as its marker says.
pub(crate) fn launcher_version() -> &'static Version {
    static VERSION: OnceLock<Version> = OnceLock::new();
    // black_box: the marker must be read from the binary's bytes, not folded at compile time.
    VERSION.get_or_init(|| parse_version(std::hint::black_box(STUB_INFO)).unwrap_or_else(|| Version::new(0, 0, 0)))
}

/// What a stub's marker says (the format is [`sea_payload::marker`]'s).
pub(crate) type Marker = sea_payload::marker::StubMarker;

/// Finds and parses the marker in a stub's bytes (a downloaded launcher for self-replacement).
/// Every occurrence of the prefix is tried (see [`sea_payload::marker::find`]), so the shared
/// prefix constant this binary also carries is skipped.
pub(crate) fn find_marker(stub: &[u8]) -> Option<Marker> {
    sea_payload::marker::find(stub).ok()
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
        // A marker that names no platform cannot pass the self-replace platform check: refused here.
        assert_eq!(super::find_marker(b"SEA-STUB-INFO:1;version=1.0.0;\0"), None);
    }
}
