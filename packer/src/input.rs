//! The build input: a directory, or a release archive unpacked safely into a temporary directory.
//!
//! # Implementation
//! An archive is recognised by its first bytes (gzip, zstd, or the `ustar` magic of a plain tar)
//! and only then by its extension (old v7 tars have no magic). It is decoded as a stream and
//! unpacked by [`sea_payload::unpack`], the same code the launcher trusts with downloads: every
//! hostile entry (absolute or `..` paths, links that leave the tree, hard links to outside,
//! devices, FIFOs, setuid bits) is refused with its name, never skipped, and `--strip-components`
//! is applied there. The unpacked tree is then packed like any directory, so both inputs share
//! one packing path and give byte-identical output for the same files.
//!
//! A directory input is packed in place; [`sea_payload::pack`] refuses what it cannot pack safely
//! (links out of the tree, FIFOs, sockets, devices) with the path of the offending entry.
//!
//! # Alternatives
//! Packing straight from the archive stream would avoid the temporary copy, but the payload must
//! be sorted and normalised, which needs the whole tree anyway, and one packing path is simpler
//! to keep deterministic.
//!
//! # Limitations
//! The temporary tree lives in `$TMPDIR`, so it needs room for the unpacked app; xz, bzip2 and zip
//! archives are not read (the error says how to convert them).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sea_payload::Codec;
use sea_payload::codec::{Decoder, ZSTD_WINDOW_LOG_MAX_INPUT};
use sea_payload::unpack::{self, UnpackOptions};

use crate::progress::Progress;

/// What kind of input was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory, packed in place.
    Dir,
    /// A tar archive, with its compression (`None` for plain tar).
    Archive(Option<Codec>),
}

/// An input ready to pack: its root directory, kept alive as long as this value.
#[derive(Debug)]
pub(crate) struct Prepared {
    root: PathBuf,
    /// Bytes of regular files, when known (for the progress bar).
    pub(crate) size: Option<u64>,
    _temp: Option<tempfile::TempDir>,
}

impl Prepared {
    /// The directory to pack.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

/// Finds out what `path` is.
pub(crate) fn detect(path: &Path) -> Result<Kind> {
    let meta = std::fs::metadata(path).with_context(|| format!("could not read the input {}", path.display()))?;
    if meta.is_dir() {
        return Ok(Kind::Dir);
    }
    if !meta.is_file() {
        bail!("the input {} is neither a directory nor an archive file", path.display());
    }
    let mut head = [0u8; 512];
    let n = read_head(path, &mut head)?;
    sniff(&head[..n]).or_else(|| by_extension(path)).map(Ok).unwrap_or_else(|| Err(unknown_format(path, &head[..n])))
}

/// Makes `path` ready to pack: a directory as is, an archive unpacked into a temporary directory.
pub(crate) fn prepare(path: &Path, kind: Kind, strip_components: usize) -> Result<Prepared> {
    match kind {
        Kind::Dir if strip_components > 0 => {
            bail!("--strip-components applies to archive inputs only, and {} is a directory", path.display())
        }
        Kind::Dir => Ok(Prepared { root: path.to_owned(), size: None, _temp: None }),
        Kind::Archive(codec) => unpack_archive(path, codec, strip_components),
    }
}

fn unpack_archive(path: &Path, codec: Option<Codec>, strip_components: usize) -> Result<Prepared> {
    let temp = tempfile::Builder::new()
        .prefix("sea-pack-input-")
        .tempdir()
        .context("could not create a temporary directory to unpack the input into (set TMPDIR to move it)")?;
    let file = File::open(path).with_context(|| format!("could not open the input {}", path.display()))?;
    let archive_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = Progress::bytes("unpacking", archive_len);
    let counted = CountingReader { inner: file, count: 0, bar: &bar };
    let decoder = Decoder::new(codec, BufReader::with_capacity(256 * 1024, counted), ZSTD_WINDOW_LOG_MAX_INPUT)
        .with_context(|| format!("could not read the archive {}", path.display()))?;
    let options = UnpackOptions { strip_components, ..UnpackOptions::default() };
    let summary = unpack::unpack(decoder, temp.path(), &options)
        .with_context(|| format!("could not unpack the input archive {}", path.display()))?;
    bar.finish();
    if summary.entries == 0 {
        bail!("the input archive {} has no entries left after --strip-components {strip_components}", path.display());
    }
    Ok(Prepared { root: temp.path().to_owned(), size: Some(summary.bytes), _temp: Some(temp) })
}

/// Counts the compressed bytes read, for the unpacking bar.
struct CountingReader<'a, R> {
    inner: R,
    count: u64,
    bar: &'a Progress,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        self.bar.set(self.count);
        Ok(n)
    }
}

fn read_head(path: &Path, head: &mut [u8]) -> Result<usize> {
    let mut file = File::open(path).with_context(|| format!("could not open the input {}", path.display()))?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("could not read the input {}", path.display())),
        }
    }
    Ok(filled)
}

/// The format from the first bytes, if they say.
fn sniff(head: &[u8]) -> Option<Kind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Archive(Some(Codec::Gzip)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Kind::Archive(Some(Codec::Zstd)))
    } else if head.get(257..262) == Some(b"ustar") {
        Some(Kind::Archive(None))
    } else {
        None
    }
}

/// The format from the file name, for archives whose bytes do not say (v7 tar).
fn by_extension(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".tar") {
        Some(Kind::Archive(None))
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Kind::Archive(Some(Codec::Gzip)))
    } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
        Some(Kind::Archive(Some(Codec::Zstd)))
    } else {
        None
    }
}

fn unknown_format(path: &Path, head: &[u8]) -> anyhow::Error {
    let hint = if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        "it is xz-compressed, which is not supported: recompress it with zstd (xz -dc x.tar.xz | zstd -o x.tar.zst)"
    } else if head.starts_with(b"BZh") {
        "it is bzip2-compressed, which is not supported: recompress it with gzip or zstd"
    } else if head.starts_with(b"PK\x03\x04") {
        "it is a zip file, which is not supported: unzip it and pass the directory"
    } else {
        "expected a directory or a .tar, .tar.gz/.tgz or .tar.zst archive"
    };
    anyhow::anyhow!("cannot use {} as input: {hint}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_magic_before_extension() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(Kind::Archive(Some(Codec::Gzip))));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some(Kind::Archive(Some(Codec::Zstd))));
        let mut tar = [0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), Some(Kind::Archive(None)));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(by_extension(Path::new("a/App-1.0.TGZ")), Some(Kind::Archive(Some(Codec::Gzip))));
        assert_eq!(by_extension(Path::new("a.tar.zst")), Some(Kind::Archive(Some(Codec::Zstd))));
        assert_eq!(by_extension(Path::new("a.tar")), Some(Kind::Archive(None)));
        assert_eq!(by_extension(Path::new("a.zip")), None);
    }
}
