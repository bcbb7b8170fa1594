//! The marker by which `sea-pack` recognises a launcher stub and learns its version and platform.
//!
//! The packer reads it from the stub's bytes rather than running the stub, so a stub built for
//! another platform can be packed too. The marker is a fixed ASCII record in read-only data:
//! `SEA-STUB-INFO:1;version=<semver>;platform=<platform>;` followed by a NUL.

/// This launcher's version.
pub(crate) const LAUNCHER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The platform this stub was compiled for (set by `build.rs` from the target triple).
pub(crate) const PLATFORM: &str = env!("SEA_STUB_PLATFORM");

/// The marker. `#[used]` keeps it through link-time optimisation although nothing reads it.
#[used]
static STUB_INFO: &[u8] = concat!(
    "SEA-STUB-INFO:1;version=",
    env!("CARGO_PKG_VERSION"),
    ";platform=",
    env!("SEA_STUB_PLATFORM"),
    ";\0"
)
.as_bytes();
