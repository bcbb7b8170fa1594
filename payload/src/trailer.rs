//! The fixed-size trailer at the very end of a packed file.
//!
//! # Layout (128 bytes, little-endian)
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | `SEA-TRLR` |
//! | 8 | 4 | format version (2; 1 is still read) |
//! | 12 | 4 | flags (0; reserved) |
//! | 16 | 8 | payload length |
//! | 24 | 8 | index length (0 in format 2) |
//! | 32 | 8 | manifest length |
//! | 40 | 8 | signature length (0 when unsigned) |
//! | 48 | 32 | payload SHA-256 |
//! | 80 | 32 | manifest SHA-256 |
//! | 112 | 8 | first 8 bytes of SHA-256 of bytes 0..112 (the trailer's own checksum) |
//! | 120 | 8 | [`END_MAGIC`] |
//!
//! The sections lie back to back right before the trailer, in the order payload, index,
//! manifest, signature. Only lengths are stored, never absolute offsets, so removing the stub in
//! front (as `sea-pack release` does) leaves a valid package.
//!
//! Every byte of the trailer is checked: a flipped bit anywhere gives a [`TrailerError`], never a
//! silently shifted section. Nothing here allocates.
//!
//! # Versions
//! Format 1 (sea 0.1 and 0.2) ships the [index](crate::index) as a section. Format 2 (sea 0.3)
//! does not: its index section is always empty, and the unpacker reconstructs the index from the
//! payload and checks it against the digest the manifest pins. A launcher or `sea-pack` older than
//! 0.3.0 refuses format 2 with "unsupported payload format version 2 ... update the launcher",
//! and a format 2 manifest says `min_launcher` 0.3.0 or newer ([`FORMAT_MIN_LAUNCHER`]), so an
//! older client updates its launcher before it downloads such a release.

use std::ops::Range;

use crate::digest::{Sha256Bytes, sha256};

/// Size of the trailer in bytes.
pub const TRAILER_LEN: usize = 128;
/// Magic at the start of the trailer.
pub const START_MAGIC: [u8; 8] = *b"SEA-TRLR";
/// Magic in the last 8 bytes of every packed file. The high byte, CR LF and ^Z catch transfers
/// that mangled the file as text, as PNG's signature does.
pub const END_MAGIC: [u8; 8] = *b"\x89SEA\r\n\x1a\n";
/// The trailer format this crate writes.
pub const FORMAT_VERSION: u32 = 2;
/// The format that ships its index as a section; still read.
pub const FORMAT_WITH_INDEX: u32 = 1;
/// The oldest launcher that reads [`FORMAT_VERSION`] (major, minor, patch): every package this
/// crate writes declares at least this `min_launcher`.
pub const FORMAT_MIN_LAUNCHER: (u64, u64, u64) = (0, 3, 0);

/// The manifest is read on every start: it must stay small.
pub const MAX_MANIFEST_LEN: u64 = 4 * 1024 * 1024;
/// A minisign signature is a few hundred bytes.
pub const MAX_SIGNATURE_LEN: u64 = 16 * 1024;
/// The index is read only by deep verification, streaming, but is still bounded.
pub const MAX_INDEX_LEN: u64 = 512 * 1024 * 1024;

/// Why a trailer was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrailerError {
    /// The file is shorter than a trailer.
    #[error("file is too small ({len} bytes) to hold a sea trailer: not a packed executable, or truncated")]
    TooSmall { len: u64 },
    /// The last 8 bytes are not [`END_MAGIC`].
    #[error("bad magic at end of file: not a sea packed executable (or truncated, or modified after packing)")]
    BadEndMagic,
    /// The trailer does not start with [`START_MAGIC`].
    #[error("bad magic at start of trailer: the trailer is corrupt")]
    BadStartMagic,
    /// The trailer's own checksum does not match.
    #[error("trailer checksum mismatch: the trailer is corrupt")]
    BadChecksum,
    /// A format this crate does not read.
    #[error(
        "unsupported payload format version {found} (this build reads versions {FORMAT_WITH_INDEX} and {FORMAT_VERSION}); update the launcher or sea-pack"
    )]
    UnsupportedVersion { found: u32 },
    /// Format 2 has no index section.
    #[error("format {FORMAT_VERSION} trailer declares an index section of {len} bytes: the trailer is corrupt")]
    UnexpectedIndex { len: u64 },
    /// Reserved flag bits are set.
    #[error("trailer has unknown flags {flags:#x}: the trailer is corrupt or from a newer sea")]
    UnknownFlags { flags: u32 },
    /// A section length exceeds its fixed limit.
    #[error("{section} length {len} exceeds the limit of {limit} bytes: the trailer is corrupt")]
    SectionTooLarge { section: &'static str, len: u64, limit: u64 },
    /// A package always has a manifest.
    #[error("trailer declares an empty manifest: the trailer is corrupt")]
    EmptyManifest,
    /// The sections do not fit in the file.
    #[error(
        "section lengths ({needed} bytes with the trailer) run past the end of the file ({file_len} bytes): the file is truncated or corrupt"
    )]
    PastEndOfFile { needed: u64, file_len: u64 },
}

/// The decoded trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// [`FORMAT_VERSION`], or [`FORMAT_WITH_INDEX`] for a package that ships its index.
    pub version: u32,
    /// Length of the compressed payload.
    pub payload_len: u64,
    /// Length of the index section (0 in format 2).
    pub index_len: u64,
    /// Length of the manifest section.
    pub manifest_len: u64,
    /// Length of the signature section; 0 when unsigned.
    pub signature_len: u64,
    /// SHA-256 of the payload section.
    pub payload_sha256: Sha256Bytes,
    /// SHA-256 of the manifest section.
    pub manifest_sha256: Sha256Bytes,
}

/// Where each section lies in a file of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Bytes before the payload (the launcher stub; 0 for a release artifact).
    pub stub_len: u64,
    /// The compressed payload.
    pub payload: Range<u64>,
    /// The index.
    pub index: Range<u64>,
    /// The manifest.
    pub manifest: Range<u64>,
    /// The signature (empty when unsigned).
    pub signature: Range<u64>,
    /// The trailer itself.
    pub trailer: Range<u64>,
}

impl Trailer {
    /// Decodes and checks a trailer. `bytes` must be the last [`TRAILER_LEN`] bytes of a file.
    pub fn parse(bytes: &[u8; TRAILER_LEN]) -> Result<Self, TrailerError> {
        if bytes[120..128] != END_MAGIC {
            return Err(TrailerError::BadEndMagic);
        }
        if bytes[0..8] != START_MAGIC {
            return Err(TrailerError::BadStartMagic);
        }
        if bytes[112..120] != sha256(&bytes[0..112])[0..8] {
            return Err(TrailerError::BadChecksum);
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION && version != FORMAT_WITH_INDEX {
            return Err(TrailerError::UnsupportedVersion { found: version });
        }
        let flags = u32_at(bytes, 12);
        if flags != 0 {
            return Err(TrailerError::UnknownFlags { flags });
        }
        let trailer = Trailer {
            version,
            payload_len: u64_at(bytes, 16),
            index_len: u64_at(bytes, 24),
            manifest_len: u64_at(bytes, 32),
            signature_len: u64_at(bytes, 40),
            payload_sha256: digest_at(bytes, 48),
            manifest_sha256: digest_at(bytes, 80),
        };
        trailer.check_limits()?;
        Ok(trailer)
    }

    /// Encodes the trailer, computing its checksum.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut out = [0u8; TRAILER_LEN];
        out[0..8].copy_from_slice(&START_MAGIC);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[12..16].copy_from_slice(&0u32.to_le_bytes());
        out[16..24].copy_from_slice(&self.payload_len.to_le_bytes());
        out[24..32].copy_from_slice(&self.index_len.to_le_bytes());
        out[32..40].copy_from_slice(&self.manifest_len.to_le_bytes());
        out[40..48].copy_from_slice(&self.signature_len.to_le_bytes());
        out[48..80].copy_from_slice(&self.payload_sha256);
        out[80..112].copy_from_slice(&self.manifest_sha256);
        let check = sha256(&out[0..112]);
        out[112..120].copy_from_slice(&check[0..8]);
        out[120..128].copy_from_slice(&END_MAGIC);
        out
    }

    /// Locates the sections in a file of `file_len` bytes whose last bytes are this trailer.
    pub fn layout(&self, file_len: u64) -> Result<Layout, TrailerError> {
        let needed = [self.payload_len, self.index_len, self.manifest_len, self.signature_len]
            .iter()
            .try_fold(TRAILER_LEN as u64, |acc, len| acc.checked_add(*len));
        // A sum that overflows never fits, even in a file of u64::MAX bytes.
        if needed.is_none_or(|n| n > file_len) {
            return Err(TrailerError::PastEndOfFile { needed: needed.unwrap_or(u64::MAX), file_len });
        }
        let trailer_start = file_len - TRAILER_LEN as u64;
        let signature_start = trailer_start - self.signature_len;
        let manifest_start = signature_start - self.manifest_len;
        let index_start = manifest_start - self.index_len;
        let payload_start = index_start - self.payload_len;
        Ok(Layout {
            stub_len: payload_start,
            payload: payload_start..index_start,
            index: index_start..manifest_start,
            manifest: manifest_start..signature_start,
            signature: signature_start..trailer_start,
            trailer: trailer_start..file_len,
        })
    }

    fn check_limits(&self) -> Result<(), TrailerError> {
        let limits = [
            ("manifest", self.manifest_len, MAX_MANIFEST_LEN),
            ("signature", self.signature_len, MAX_SIGNATURE_LEN),
            ("index", self.index_len, MAX_INDEX_LEN),
        ];
        for (section, len, limit) in limits {
            if len > limit {
                return Err(TrailerError::SectionTooLarge { section, len, limit });
            }
        }
        if self.manifest_len == 0 {
            return Err(TrailerError::EmptyManifest);
        }
        if self.version == FORMAT_VERSION && self.index_len != 0 {
            return Err(TrailerError::UnexpectedIndex { len: self.index_len });
        }
        Ok(())
    }
}

fn u32_at(bytes: &[u8; TRAILER_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8; TRAILER_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn digest_at(bytes: &[u8; TRAILER_LEN], at: usize) -> Sha256Bytes {
    let mut b = [0u8; 32];
    b.copy_from_slice(&bytes[at..at + 32]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Trailer {
        Trailer {
            version: FORMAT_WITH_INDEX,
            payload_len: 1000,
            index_len: 200,
            manifest_len: 300,
            signature_len: 0,
            payload_sha256: [1; 32],
            manifest_sha256: [2; 32],
        }
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let bytes = t.encode();
        assert_eq!(Trailer::parse(&bytes), Ok(t));
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = sample().encode();
        for i in 0..TRAILER_LEN {
            for bit in 0..8 {
                let mut b = bytes;
                b[i] ^= 1 << bit;
                assert!(Trailer::parse(&b).is_err(), "flip of bit {bit} in byte {i} was accepted");
            }
        }
    }

    #[test]
    fn layout_from_the_end() {
        let t = sample();
        let layout = t.layout(5000).expect("fits");
        assert_eq!(layout.trailer, 4872..5000);
        assert_eq!(layout.signature, 4872..4872);
        assert_eq!(layout.manifest, 4572..4872);
        assert_eq!(layout.index, 4372..4572);
        assert_eq!(layout.payload, 3372..4372);
        assert_eq!(layout.stub_len, 3372);
        assert_eq!(t.layout(1628).map(|l| l.stub_len), Ok(0));
        assert_eq!(t.layout(1627), Err(TrailerError::PastEndOfFile { needed: 1628, file_len: 1627 }));
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut t = sample();
        t.payload_len = u64::MAX;
        assert!(matches!(t.layout(10_000), Err(TrailerError::PastEndOfFile { .. })));
    }

    /// Found by the `trailer` fuzz target: lengths whose sum overflows were saturated to
    /// u64::MAX, which "fit" a file of u64::MAX bytes, and the section starts then underflowed.
    #[test]
    fn overflowing_lengths_do_not_fit_the_largest_file() {
        let mut t = sample();
        t.payload_len = u64::MAX - 100;
        assert_eq!(t.layout(u64::MAX), Err(TrailerError::PastEndOfFile { needed: u64::MAX, file_len: u64::MAX }));
        t.payload_len = u64::MAX - 128 - 200 - 300;
        let layout = t.layout(u64::MAX).expect("exactly fits");
        assert_eq!(layout.stub_len, 0);
    }

    #[test]
    fn format_2_has_no_index_section() {
        let mut t = sample();
        t.version = FORMAT_VERSION;
        assert_eq!(Trailer::parse(&t.encode()), Err(TrailerError::UnexpectedIndex { len: 200 }));
        t.index_len = 0;
        assert_eq!(Trailer::parse(&t.encode()), Ok(t.clone()));
        t.version = 3;
        assert_eq!(Trailer::parse(&t.encode()), Err(TrailerError::UnsupportedVersion { found: 3 }));
    }

    #[test]
    fn oversized_manifest_is_refused_before_reading() {
        let mut t = sample();
        t.manifest_len = MAX_MANIFEST_LEN + 1;
        assert!(matches!(Trailer::parse(&t.encode()), Err(TrailerError::SectionTooLarge { section: "manifest", .. })));
    }
}
