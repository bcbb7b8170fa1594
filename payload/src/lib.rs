//! The on-disk format of a sea packed executable.
//!
//! A packed executable is the launcher stub followed by four sections and a fixed-size trailer:
//!
//! ```text
//! [ stub ][ payload ][ index ][ manifest ][ signature ][ trailer (128 bytes) ]
//! ```
//!
//! * **payload** — a deterministic tar stream, compressed with zstd or gzip ([`pack`], [`unpack`]);
//! * **index** — empty since format 2: the index (every entry's path, kind, size, executable bit,
//!   sha256) is pinned by the manifest's digest and rebuilt by the unpacker from what it writes
//!   ([`index`]); format 1 packages ship it here;
//! * **manifest** — small JSON document the launcher reads at every start ([`manifest`]);
//! * **signature** — optional minisign signature of the manifest bytes ([`signature`]);
//! * **trailer** — lengths of the four sections, the payload and manifest digests, and its own
//!   checksum ([`trailer`]).
//!
//! Sections are located from the end of the file, so the same bytes without the stub (a release
//! artifact) are a valid package too: [`package::Package`] reads both.
//!
//! # Invariants
//! * Parsing a trailer, a manifest, an index or an archive never panics and never allocates from a
//!   length field that was not first checked against the file size and a fixed limit.
//! * [`unpack`] writes only below its destination, refuses (rather than skips) every hostile entry,
//!   and stops at the sizes the manifest declares.
//! * This crate does no networking and spawns no processes.

pub mod bounded;
pub mod delta;
pub mod digest;
pub mod feed;
pub mod frames;
pub mod index;
pub mod links;
pub mod manifest;
pub mod pack;
pub mod package;
pub mod paths;
pub mod platform;
pub mod restart;
pub mod signature;
pub mod time;
pub mod trailer;
pub mod trust;
pub mod unpack;

pub mod codec;
pub mod container;
pub(crate) mod cpus;
pub mod marker;
mod section;

pub use codec::{Codec, Compression, CompressionParseError};
pub use manifest::Manifest;
pub use package::{Package, PackageError};
pub use trailer::{Layout, Trailer, TrailerError};

/// Version of this crate; the launcher records it as `launcher_version` in manifests it is packed with.
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");
