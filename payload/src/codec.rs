//! Streaming compression and decompression of the payload.
//!
//! zstd is the default at level 19 (solid, so the ratio matches `tar | zstd -19`), multithreaded
//! in the packer. Its window is capped at 8 MiB ([`ZSTD_WINDOW_LOG`]) whatever the level, so the
//! launcher decodes in a small fixed memory budget, and the decoder refuses frames that ask for
//! more ([`ZSTD_WINDOW_LOG_MAX`]) instead of allocating what a hostile header demands.
//!
//! The packer always runs zstd with at least one worker thread: zstd's output is identical for
//! any number of workers >= 1 but differs from the single-threaded mode, and byte-identical
//! rebuilds must not depend on the machine's core count.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// zstd window of 8 MiB: the window `zstd -19` itself uses on large inputs.
pub const ZSTD_WINDOW_LOG: u32 = 23;
/// Largest window the decoder accepts for payloads (16 MiB of decoder memory).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// Largest window accepted for input archives given to the packer (`zstd --long`).
pub const ZSTD_WINDOW_LOG_MAX_INPUT: u32 = 27;

/// A compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Zstandard.
    Zstd,
    /// gzip (DEFLATE).
    Gzip,
}

/// An algorithm and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// The algorithm.
    pub codec: Codec,
    /// Its level: 1..=22 for zstd, 0..=9 for gzip.
    pub level: i32,
}

/// Why a `--compression` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid compression '{value}': {reason} (expected zstd[:1-22] or gzip[:0-9], e.g. zstd:19)")]
pub struct CompressionParseError {
    value: String,
    reason: &'static str,
}

impl Compression {
    /// zstd at level 19.
    pub const DEFAULT: Compression = Compression { codec: Codec::Zstd, level: 19 };

    fn level_range(codec: Codec) -> std::ops::RangeInclusive<i32> {
        match codec {
            Codec::Zstd => 1..=22,
            Codec::Gzip => 0..=9,
        }
    }

    /// Whether the level is one the codec accepts.
    pub fn is_valid(&self) -> bool {
        Self::level_range(self.codec).contains(&self.level)
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.codec, self.level)
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::Zstd => "zstd",
            Codec::Gzip => "gzip",
        })
    }
}

impl FromStr for Compression {
    type Err = CompressionParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |reason| CompressionParseError { value: value.to_owned(), reason };
        let (name, level) = match value.split_once(':') {
            Some((name, level)) => (name, Some(level)),
            None => (value, None),
        };
        let codec = match name {
            "zstd" => Codec::Zstd,
            "gzip" | "gz" => Codec::Gzip,
            _ => return Err(err("unknown algorithm")),
        };
        let level = match level {
            None => match codec {
                Codec::Zstd => 19,
                Codec::Gzip => 9,
            },
            Some(text) => text.parse::<i32>().map_err(|_| err("level is not a number"))?,
        };
        let compression = Compression { codec, level };
        if !compression.is_valid() {
            return Err(err("level out of range"));
        }
        Ok(compression)
    }
}

/// A streaming compressor; [`Encoder::finish`] must be called to end the stream.
pub(crate) enum Encoder<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Starts a compressed stream into `out`. `threads` >= 1 is used for zstd.
    pub(crate) fn new(compression: Compression, out: W, threads: u32) -> io::Result<Self> {
        Ok(match compression.codec {
            Codec::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, compression.level)?;
                enc.multithread(threads.max(1))?;
                enc.window_log(ZSTD_WINDOW_LOG.min(window_log_for_level(compression.level)))?;
                enc.include_checksum(false)?;
                enc.include_contentsize(false)?;
                Encoder::Zstd(enc)
            }
            Codec::Gzip => {
                let level = flate2::Compression::new(compression.level.clamp(0, 9).unsigned_abs());
                // GzBuilder writes mtime 0 and no file name: deterministic.
                Encoder::Gzip(flate2::GzBuilder::new().write(out, level))
            }
        })
    }

    /// Ends the stream and returns the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
        }
    }
}

/// zstd's own window for a level on a large input, so that low levels keep their small window.
pub(crate) fn window_log_for_level(level: i32) -> u32 {
    match level {
        ..=1 => 19,
        2 => 20,
        3..=5 => 21,
        6..=7 => 22,
        _ => 23,
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
        }
    }
}

/// A streaming decompressor.
pub enum Decoder<R: BufRead> {
    /// Zstandard.
    Zstd(zstd::stream::read::Decoder<'static, R>),
    /// gzip, one or more members.
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    /// Not compressed (plain `.tar` input to the packer).
    Plain(R),
}

impl<R: BufRead> Decoder<R> {
    /// Decodes `input`, refusing zstd windows above `window_log_max`.
    pub fn new(codec: Option<Codec>, input: R, window_log_max: u32) -> io::Result<Self> {
        Ok(match codec {
            Some(Codec::Zstd) => {
                let mut dec = zstd::stream::read::Decoder::with_buffer(input)?;
                dec.window_log_max(window_log_max)?;
                Decoder::Zstd(dec)
            }
            Some(Codec::Gzip) => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(input)),
            None => Decoder::Plain(input),
        })
    }
}

impl<R: BufRead> fmt::Debug for Decoder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decoder::Zstd(_) => "Decoder::Zstd",
            Decoder::Gzip(_) => "Decoder::Gzip",
            Decoder::Plain(_) => "Decoder::Plain",
        })
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Plain(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("zstd".parse::<Compression>(), Ok(Compression::DEFAULT));
        assert_eq!("zstd:3".parse::<Compression>(), Ok(Compression { codec: Codec::Zstd, level: 3 }));
        assert_eq!("gzip".parse::<Compression>(), Ok(Compression { codec: Codec::Gzip, level: 9 }));
        assert_eq!(Compression::DEFAULT.to_string(), "zstd:19");
        assert!("zstd:0".parse::<Compression>().is_err());
        assert!("gzip:10".parse::<Compression>().is_err());
        assert!("xz".parse::<Compression>().is_err());
        assert!("zstd:x".parse::<Compression>().is_err());
    }

    fn round_trip(compression: Compression, threads: u32, data: &[u8]) -> Vec<u8> {
        let mut enc = Encoder::new(compression, Vec::new(), threads).expect("encoder");
        enc.write_all(data).expect("write");
        let packed = enc.finish().expect("finish");
        let mut dec = Decoder::new(Some(compression.codec), &packed[..], ZSTD_WINDOW_LOG_MAX).expect("decoder");
        let mut out = Vec::new();
        dec.read_to_end(&mut out).expect("decode");
        assert_eq!(out, data);
        packed
    }

    #[test]
    fn zstd_output_does_not_depend_on_thread_count() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 ^ (i / 7919) as u8).collect();
        let c = Compression { codec: Codec::Zstd, level: 3 };
        let one = round_trip(c, 1, &data);
        let four = round_trip(c, 4, &data);
        assert_eq!(one, four);
    }

    #[test]
    fn gzip_is_deterministic() {
        let c = Compression { codec: Codec::Gzip, level: 6 };
        assert_eq!(round_trip(c, 1, b"hello hello hello"), round_trip(c, 1, b"hello hello hello"));
    }

    #[test]
    fn oversized_zstd_window_is_refused() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
        enc.window_log(27).expect("window");
        enc.long_distance_matching(true).expect("ldm");
        enc.write_all(&vec![1u8; 1 << 20]).expect("write");
        let packed = enc.finish().expect("finish");
        let mut dec = Decoder::new(Some(Codec::Zstd), &packed[..], ZSTD_WINDOW_LOG_MAX).expect("decoder");
        let mut out = Vec::new();
        assert!(dec.read_to_end(&mut out).is_err());
    }
}
