//! Bounds on the decompressed stream.
//!
//! # Implementation
//! [`LimitReader`] counts every byte of the decompressed stream, tar's own headers and padding
//! included, against a budget derived from the caller's limits ([`stream_limit`]); past it a read
//! fails with [`StreamLimit`], which the walk reports as [`super::UnpackError::TooLarge`]. Seeks
//! (skipping content the walk does not read) are counted too.
//!
//! # Alternatives
//! Counting file bytes only (the declared sizes) would let PAX records and long-name entries
//! grow memory without bound.
//!
//! # Limitations
//! Only forward, relative seeks exist: a tar walk never needs another kind.

use std::io::{self, Read, Seek, SeekFrom};

use super::UnpackOptions;

/// Tar overhead allowed per entry when bounding the decompressed stream (headers, long names,
/// PAX records, padding).
pub(crate) const PER_ENTRY_OVERHEAD: u64 = 8 * 1024;

/// The most bytes the decompressed stream may have under `options`.
pub(crate) fn stream_limit(options: &UnpackOptions<'_>) -> u64 {
    options.max_bytes.saturating_add(options.max_entries.saturating_mul(PER_ENTRY_OVERHEAD)).saturating_add(1024 * 1024)
}

/// Marker error for the decompressed-stream limit.
#[derive(Debug)]
pub(super) struct StreamLimit(pub(super) u64);

impl std::fmt::Display for StreamLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed stream exceeds its limit")
    }
}

impl std::error::Error for StreamLimit {}

/// Caps the decompressed stream, so that no part of it (tar extension headers included) can grow
/// memory or disk use past what the caller allowed.
pub(super) struct LimitReader<R> {
    pub(super) inner: R,
    pub(super) left: u64,
    pub(super) limit: u64,
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(StreamLimit(self.limit))),
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for LimitReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if let SeekFrom::Current(delta) = to {
            let delta = u64::try_from(delta).map_err(|_| io::Error::other("the archive stream seeks forward only"))?;
            if delta > self.left {
                return Err(io::Error::other(StreamLimit(self.limit)));
            }
            self.left -= delta;
        }
        self.inner.seek(to)
    }
}
