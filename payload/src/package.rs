//! Reading a package: a packed executable, or a release artifact (the same without the stub).
//!
//! [`Package::open`] is on the launcher's warm path, so it does the least it can: one `fstat`,
//! one positional read of the file's last [`TAIL_READ`] bytes (which usually hold the trailer,
//! signature and manifest together), a second read only for a larger manifest, a SHA-256 of the
//! manifest (a few KiB) and its parse. The payload and the index are never read here.
//!
//! A package of format 2 carries no index: [`Package::unpack_indexed`] records it while it
//! writes the verified stream and checks it against the manifest's `index` digest, and
//! [`Package::reconstruct_index`] decodes the payload to rebuild it without writing anything
//! (`sea-pack verify`, and the bases of deltas). A format 1 package's index section is still
//! read ([`Package::index_bytes`]).
//!
//! A code-signed macOS or Windows executable does not end in the trailer: the signature follows
//! the package. When the last bytes are not a trailer and the search is [`Search::Containers`],
//! the package's end is found from the Mach-O or PE headers ([`crate::container::package_end`]),
//! and the sections are located back from there. [`Package::from_file`] (the launcher's own
//! executable) searches containers only where they run, macOS and Windows, so a Linux launcher
//! still reads exactly the last bytes and carries no Mach-O or PE code.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::codec::{Codec, Decoder, ZSTD_WINDOW_LOG_MAX};
use crate::container::{self, ContainerError};
use crate::digest::{self, HashingReader};
use crate::frames;
use crate::index::Index;
use crate::manifest::{Manifest, ManifestError};
use crate::section::{SectionReader, read_exact_at};
use crate::signature::{self, SignatureError};
use crate::trailer::{END_MAGIC, Layout, TRAILER_LEN, Trailer, TrailerError};
use crate::unpack::{self, UnpackError, UnpackOptions, UnpackSummary};

/// Bytes read from the end of the file in the first read: one page, which holds the trailer, a
/// signature and a manifest of a few KB. A larger manifest (an embedded trust statement, many
/// root keys) costs a second read; 16 KiB here cost every warm start three more page faults and
/// a 16 KiB `memset` (issue 11).
pub const TAIL_READ: u64 = 4 * 1024;

/// What went wrong with a package, without its path (see [`PackageError`]).
#[derive(Debug, thiserror::Error)]
pub enum PackageErrorKind {
    /// Reading the file failed.
    #[error("could not read: {0}")]
    Io(#[source] io::Error),
    /// The trailer is missing or corrupt.
    #[error(transparent)]
    Trailer(#[from] TrailerError),
    /// The Mach-O or PE headers that locate the package in a signed executable are corrupt.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// The manifest bytes do not match the trailer's digest.
    #[error("manifest checksum mismatch: the manifest is corrupt")]
    ManifestDigest,
    /// The manifest does not parse or validate.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Trailer and manifest disagree.
    #[error("manifest and trailer disagree on the {0}: the file is corrupt")]
    Inconsistent(&'static str),
    /// The signature section is not text.
    #[error("signature section is not text: the file is corrupt")]
    SignatureNotText,
    /// The payload bytes do not match their digest.
    #[error("payload checksum mismatch (expected sha256 {expected}, found {found}): the payload is corrupt")]
    PayloadDigest { expected: String, found: String },
    /// The index bytes do not match their digest.
    #[error("index checksum mismatch: the index is corrupt")]
    IndexDigest,
    /// The index of the payload's content is not the one the manifest pins.
    #[error(
        "the payload's files do not match the manifest's index (expected {expected_size} bytes with sha256 {expected}, found {found_size} bytes with sha256 {found}): the payload is corrupt or was changed after packing"
    )]
    IndexMismatch { expected: String, expected_size: u64, found: String, found_size: u64 },
    /// The index does not parse.
    #[error("index is not valid JSON: {0}")]
    IndexJson(#[source] serde_json::Error),
    /// A signature is required but absent.
    #[error("payload is not signed, but a signature by the trusted key is required")]
    Unsigned,
    /// The signature does not verify.
    #[error("payload signature: {0}")]
    Signature(#[from] SignatureError),
    /// Unpacking failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// The unpacked tree does not match what the manifest declares.
    #[error("unpacked {found} but the manifest declares {expected}: the payload is corrupt")]
    Mismatch { expected: String, found: String },
}

/// An error about the package at `path`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct PackageError {
    /// The package file.
    pub path: PathBuf,
    /// What went wrong (boxed: the error travels through many `Result`s, most of them `Ok`).
    #[source]
    pub kind: Box<PackageErrorKind>,
}

impl PackageError {
    /// Whether the failure was the disk filling up during unpacking.
    pub fn is_storage_full(&self) -> bool {
        matches!(&*self.kind, PackageErrorKind::Unpack(e) if e.is_storage_full())
    }
}

/// Whether a package carries a signature, and whether it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No signature section.
    Unsigned,
    /// A signature that was not checked (no key given).
    Unverified,
    /// Verified with the given key; the trusted comment.
    Verified(String),
}

/// Where to look for the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// At the very end of the file only (ELF executables and release artifacts).
    End,
    /// At the end, else where the Mach-O or PE headers say the package ends (a code-signed
    /// macOS or Windows executable).
    Containers,
}

impl Search {
    /// What the launcher needs for its own executable: containers on macOS and Windows only.
    pub const fn native() -> Self {
        if NATIVE_CONTAINERS { Search::Containers } else { Search::End }
    }
}

/// Whether executables of this platform are Mach-O or PE files, whose package may sit before a
/// code signature.
const NATIVE_CONTAINERS: bool = cfg!(any(target_os = "macos", target_os = "windows"));

/// An opened package.
#[derive(Debug)]
pub struct Package {
    file: File,
    path: PathBuf,
    file_len: u64,
    trailer: Trailer,
    layout: Layout,
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    signature: Option<String>,
}

impl Package {
    /// Opens the package at `path` ([`Search::native`]: the launcher's view).
    pub fn open(path: &Path) -> Result<Self, PackageError> {
        let file = File::open(path)
            .map_err(|e| PackageError { path: path.to_owned(), kind: Box::new(PackageErrorKind::Io(e)) })?;
        Self::from_file(file, path.to_owned())
    }

    /// Opens the package at `path`, looking for it as `search` says (`sea-pack` reads the
    /// executables of every platform with [`Search::Containers`]).
    pub fn open_with(path: &Path, search: Search) -> Result<Self, PackageError> {
        let file = File::open(path)
            .map_err(|e| PackageError { path: path.to_owned(), kind: Box::new(PackageErrorKind::Io(e)) })?;
        Self::from_file_with(file, path.to_owned(), search)
    }

    /// Reads the package from an open file ([`Search::native`]); `path` is used in messages only.
    /// The search is fixed at compile time, so a Linux launcher links no Mach-O or PE code.
    pub fn from_file(file: File, path: PathBuf) -> Result<Self, PackageError> {
        Self::build(Self::read::<NATIVE_CONTAINERS>(&file), file, path)
    }

    /// Reads the package from an open file, looking for it as `search` says.
    pub fn from_file_with(file: File, path: PathBuf, search: Search) -> Result<Self, PackageError> {
        let read = match search {
            Search::End => Self::read::<false>(&file),
            Search::Containers => Self::read::<true>(&file),
        };
        Self::build(read, file, path)
    }

    #[allow(clippy::type_complexity)]
    fn build(
        read: Result<(u64, Trailer, Layout, Vec<u8>, Manifest, Option<String>), PackageErrorKind>,
        file: File,
        path: PathBuf,
    ) -> Result<Self, PackageError> {
        match read {
            Ok((file_len, trailer, layout, manifest_bytes, manifest, signature)) => {
                Ok(Self { file, path, file_len, trailer, layout, manifest_bytes, manifest, signature })
            }
            Err(kind) => Err(PackageError { path, kind: Box::new(kind) }),
        }
    }

    #[allow(clippy::type_complexity)]
    fn read<const CONTAINERS: bool>(
        file: &File,
    ) -> Result<(u64, Trailer, Layout, Vec<u8>, Manifest, Option<String>), PackageErrorKind> {
        let file_len = file.metadata().map_err(PackageErrorKind::Io)?.len();
        if file_len < TRAILER_LEN as u64 {
            return Err(TrailerError::TooSmall { len: file_len }.into());
        }
        let (mut tail, mut tail_start) = read_tail(file, file_len)?;
        let mut end = file_len;
        if CONTAINERS && tail[tail.len() - END_MAGIC.len()..] != END_MAGIC {
            let found = container::package_end(file_len, |offset, len| {
                let mut buf = vec![0u8; len];
                read_exact_at(file, &mut buf, offset).map(|()| buf)
            })?;
            if let Some(found) = found.filter(|&e| e != file_len) {
                if found < TRAILER_LEN as u64 {
                    return Err(TrailerError::BadEndMagic.into());
                }
                end = found;
                (tail, tail_start) = read_tail(file, end)?;
            }
        }
        let mut raw = [0u8; TRAILER_LEN];
        raw.copy_from_slice(&tail[tail.len() - TRAILER_LEN..]);
        let trailer = Trailer::parse(&raw)?;
        let layout = trailer.layout(end)?;
        let manifest_bytes = slice_or_read(file, &tail, tail_start, &layout.manifest)?;
        if digest::sha256(&manifest_bytes) != trailer.manifest_sha256 {
            return Err(PackageErrorKind::ManifestDigest);
        }
        let manifest = Manifest::from_bytes(&manifest_bytes)?;
        check_consistency(&manifest, &trailer)?;
        let signature = if layout.signature.is_empty() {
            None
        } else {
            let bytes = slice_or_read(file, &tail, tail_start, &layout.signature)?;
            Some(String::from_utf8(bytes).map_err(|_| PackageErrorKind::SignatureNotText)?)
        };
        Ok((file_len, trailer, layout, manifest_bytes, manifest, signature))
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest exactly as stored (what the signature covers).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The signature file text, if signed.
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    /// The trailer.
    pub fn trailer(&self) -> &Trailer {
        &self.trailer
    }

    /// Where the sections lie.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Total file length.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    fn error(&self, kind: impl Into<PackageErrorKind>) -> PackageError {
        PackageError { path: self.path.clone(), kind: Box::new(kind.into()) }
    }

    /// A reader over the compressed payload.
    pub fn payload_reader(&self) -> impl Read + '_ {
        SectionReader::new(&self.file, self.layout.payload.clone())
    }

    /// A reader over the stub (everything before the payload).
    pub fn stub_reader(&self) -> impl Read + '_ {
        SectionReader::new(&self.file, 0..self.layout.stub_len)
    }

    /// A reader over the package, from the payload to the end of the trailer: the release
    /// artifact. A code signature after the package (macOS, Windows) is not part of it.
    pub fn artifact_reader(&self) -> impl Read + '_ {
        SectionReader::new(&self.file, self.layout.stub_len..self.layout.trailer.end)
    }

    /// Bytes after the trailer: a code signature (Mach-O) or certificate table (PE) appended by
    /// signing, with its alignment padding; 0 for a file that ends in its trailer.
    pub fn after_package_len(&self) -> u64 {
        self.file_len - self.layout.trailer.end
    }

    /// Whether the package ships its index as a section (format 1).
    pub fn has_index_section(&self) -> bool {
        self.trailer.version == crate::trailer::FORMAT_WITH_INDEX
    }

    /// The index, byte for byte as the manifest pins it: the section of a format 1 package, else
    /// reconstructed from the payload ([`Package::reconstruct_index`]).
    pub fn index_bytes(&self) -> Result<Vec<u8>, PackageError> {
        if self.has_index_section() { self.index_section() } else { self.reconstruct_index().map(|(_, b)| b) }
    }

    /// Decodes the whole payload (sequentially, writing nothing) and rebuilds its index, which
    /// must be the one the manifest pins; returns it parsed and as bytes. This checks every file's
    /// content against the signed manifest, independently of the payload's own digest.
    pub fn reconstruct_index(&self) -> Result<(Index, Vec<u8>), PackageError> {
        let options = UnpackOptions {
            max_bytes: self.manifest.unpacked_size,
            max_entries: self.manifest.entries,
            ..UnpackOptions::default()
        };
        let input = io::BufReader::with_capacity(256 * 1024, self.payload_reader());
        let decoder = Decoder::new(Some(self.manifest.compression.codec), input, ZSTD_WINDOW_LOG_MAX)
            .map_err(|e| self.error(PackageErrorKind::Unpack(UnpackError::Corrupt(e))))?;
        let index = unpack::index_of(decoder, &options).map_err(|e| self.error(e))?;
        let bytes = index.to_bytes();
        self.check_index(&bytes)?;
        Ok((index, bytes))
    }

    /// `bytes` must be the index the manifest pins.
    fn check_index(&self, bytes: &[u8]) -> Result<(), PackageError> {
        let found = digest::sha256_hex(bytes);
        if found != self.manifest.index.sha256 || bytes.len() as u64 != self.manifest.index.size {
            return Err(self.error(PackageErrorKind::IndexMismatch {
                expected: self.manifest.index.sha256.clone(),
                expected_size: self.manifest.index.size,
                found,
                found_size: bytes.len() as u64,
            }));
        }
        Ok(())
    }

    /// The index section's bytes (format 1), checked against the manifest's digest.
    pub fn index_section(&self) -> Result<Vec<u8>, PackageError> {
        let range = self.layout.index.clone();
        let mut bytes = vec![0u8; (range.end - range.start) as usize];
        read_exact_at(&self.file, &mut bytes, range.start).map_err(|e| self.error(PackageErrorKind::Io(e)))?;
        if digest::sha256_hex(&bytes) != self.manifest.index.sha256 {
            return Err(self.error(PackageErrorKind::IndexDigest));
        }
        Ok(bytes)
    }

    /// The parsed index (see [`Package::index_bytes`]).
    pub fn read_index(&self) -> Result<Index, PackageError> {
        if !self.has_index_section() {
            return self.reconstruct_index().map(|(index, _)| index);
        }
        let bytes = self.index_section()?;
        Index::from_bytes(&bytes).map_err(|e| self.error(PackageErrorKind::IndexJson(e)))
    }

    /// Hashes the whole payload and compares it with the manifest.
    pub fn verify_payload(&self) -> Result<(), PackageError> {
        let (found, _) =
            digest::sha256_reader(self.payload_reader()).map_err(|e| self.error(PackageErrorKind::Io(e)))?;
        self.compare_payload_digest(&found)
    }

    fn compare_payload_digest(&self, found: &digest::Sha256Bytes) -> Result<(), PackageError> {
        if *found != self.trailer.payload_sha256 {
            return Err(self.error(PackageErrorKind::PayloadDigest {
                expected: self.manifest.payload.sha256.clone(),
                found: digest::to_hex(found),
            }));
        }
        Ok(())
    }

    /// Checks the signature. With `public_key`, a missing or non-verifying signature is an error;
    /// without, the status only says whether there is one.
    pub fn check_signature(&self, public_key: Option<&str>) -> Result<SignatureStatus, PackageError> {
        match (public_key, &self.signature) {
            (None, None) => Ok(SignatureStatus::Unsigned),
            (None, Some(_)) => Ok(SignatureStatus::Unverified),
            (Some(_), None) => Err(self.error(PackageErrorKind::Unsigned)),
            (Some(key), Some(sig)) => signature::verify(&self.manifest_bytes, sig, key)
                .map(SignatureStatus::Verified)
                .map_err(|e| self.error(e)),
        }
    }

    /// Unpacks the payload into `dest` (an existing empty directory), verifying its SHA-256 while
    /// streaming, its sizes against the manifest, and the index of what was written against the
    /// manifest's (see [`Package::unpack_indexed`]). On error `dest` may hold a partial tree; the
    /// caller removes it.
    pub fn unpack_to(&self, dest: &Path, options: &UnpackOptions<'_>) -> Result<UnpackSummary, PackageError> {
        self.unpack_indexed(dest, options).map(|(summary, _)| summary)
    }

    /// As [`Package::unpack_to`], and returns the index of the tree written, byte for byte as the
    /// manifest pins it (what the launcher writes as `.sea/index.json`). The index is recorded
    /// while the files are written, each file's SHA-256 computed from the bytes written to it; a
    /// format 2 package whose recorded index is not the manifest's is an error. For a format 1
    /// package, whose packer may have written it differently, the index section is the fallback.
    /// The whole payload's SHA-256 is checked too (see [`Package::unpack_for_publish`]).
    pub fn unpack_indexed(
        &self,
        dest: &Path,
        options: &UnpackOptions<'_>,
    ) -> Result<(UnpackSummary, Vec<u8>), PackageError> {
        self.unpack_checked(dest, options, true)
    }

    /// As [`Package::unpack_indexed`], for a tree about to be published (the launcher's
    /// extraction): a format 2 package's payload is then not hashed as a whole. Its recorded
    /// index, checked against the manifest's digest, authenticates every path, kind, size,
    /// executable bit, content and link target written, which is all that is published, so the
    /// payload digest adds nothing for the tree (and costs a core's worth of SHA-256 of the whole
    /// compressed payload). A format 1 package, whose index may not be the one recorded, is
    /// still hashed. When unpacking fails or the index does not match, the payload is hashed
    /// after all, so that a damaged payload reports as "payload checksum mismatch".
    pub fn unpack_for_publish(
        &self,
        dest: &Path,
        options: &UnpackOptions<'_>,
    ) -> Result<(UnpackSummary, Vec<u8>), PackageError> {
        if self.has_index_section() {
            return self.unpack_checked(dest, options, true);
        }
        self.unpack_checked(dest, options, false).map_err(|e| match self.verify_payload() {
            Err(corrupt) if matches!(*corrupt.kind, PackageErrorKind::PayloadDigest { .. }) => corrupt,
            _ => e,
        })
    }

    fn unpack_checked(
        &self,
        dest: &Path,
        options: &UnpackOptions<'_>,
        hash_payload: bool,
    ) -> Result<(UnpackSummary, Vec<u8>), PackageError> {
        let mut hashing =
            hash_payload.then(|| HashingReader::new(io::BufReader::with_capacity(256 * 1024, self.payload_reader())));
        let options = UnpackOptions {
            max_bytes: options.max_bytes.min(self.manifest.unpacked_size),
            max_entries: options.max_entries.min(self.manifest.entries),
            ..*options
        };
        let codec = self.manifest.compression.codec;
        let frames = match codec {
            Codec::Zstd => frames::read_table(&self.file, &self.layout.payload, frames_limit(&options))
                .map_err(|e| self.error(PackageErrorKind::Unpack(UnpackError::Corrupt(e))))?,
            Codec::Gzip => None,
        };
        let summary = match (&frames, hashing.as_mut()) {
            (Some(frames), Some(hashing)) => {
                // The digest is computed by a thread of its own, reading the payload in order
                // while the frames are decoded; it is compared below, before anything else.
                let (summary, hashed) = std::thread::scope(|scope| {
                    let hasher = scope.spawn(|| io::copy(hashing, &mut io::sink()));
                    let summary = unpack::unpack_frames(&self.file, self.layout.payload.start, frames, dest, &options);
                    (summary, hasher.join())
                });
                match hashed {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(self.error(PackageErrorKind::Io(e))),
                    Err(_) => return Err(self.error(PackageErrorKind::Io(io::Error::other("hashing thread failed")))),
                }
                summary
            }
            (Some(frames), None) => {
                unpack::unpack_frames(&self.file, self.layout.payload.start, frames, dest, &options)
            }
            (None, Some(hashing)) => {
                let decoder = Decoder::new(Some(codec), io::BufReader::new(hashing), ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| self.error(PackageErrorKind::Unpack(UnpackError::Corrupt(e))))?;
                unpack::unpack_indexed(decoder, dest, &options)
            }
            (None, None) => {
                let input = io::BufReader::with_capacity(256 * 1024, self.payload_reader());
                let decoder = Decoder::new(Some(codec), input, ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| self.error(PackageErrorKind::Unpack(UnpackError::Corrupt(e))))?;
                unpack::unpack_indexed(decoder, dest, &options)
            }
        };
        if let Some(mut hashing) = hashing {
            // The payload digest decides first: a corrupt payload reports as corrupt, whatever
            // the unpacker tripped over.
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| self.error(PackageErrorKind::Io(e)))?;
            let (found, _) = hashing.finish();
            self.compare_payload_digest(&found)?;
        }
        let (summary, index) = summary.map_err(|e| self.error(e))?;
        if summary.entries != self.manifest.entries || summary.bytes != self.manifest.unpacked_size {
            return Err(self.error(PackageErrorKind::Mismatch {
                expected: format!("{} entries, {} bytes", self.manifest.entries, self.manifest.unpacked_size),
                found: format!("{} entries, {} bytes", summary.entries, summary.bytes),
            }));
        }
        let bytes = index.to_bytes();
        match self.check_index(&bytes) {
            Ok(()) => Ok((summary, bytes)),
            Err(_) if self.has_index_section() => Ok((summary, self.index_section()?)),
            Err(e) => Err(e),
        }
    }
}

/// The last `TAIL_READ` bytes (or fewer) before `end`, and their offset.
fn read_tail(file: &File, end: u64) -> Result<(Vec<u8>, u64), PackageErrorKind> {
    let tail_len = end.min(TAIL_READ);
    let tail_start = end - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    read_exact_at(file, &mut tail, tail_start).map_err(PackageErrorKind::Io)?;
    Ok((tail, tail_start))
}

/// The most a frame table may decode to: the files and the tar overhead the unpacker allows.
fn frames_limit(options: &UnpackOptions<'_>) -> u64 {
    options
        .max_bytes
        .saturating_add(options.max_entries.saturating_mul(unpack::PER_ENTRY_OVERHEAD))
        .saturating_add(1024 * 1024)
}

fn slice_or_read(
    file: &File,
    tail: &[u8],
    tail_start: u64,
    range: &std::ops::Range<u64>,
) -> Result<Vec<u8>, PackageErrorKind> {
    if range.start >= tail_start {
        let from = (range.start - tail_start) as usize;
        let to = (range.end - tail_start) as usize;
        return Ok(tail[from..to].to_vec());
    }
    let mut bytes = vec![0u8; (range.end - range.start) as usize];
    read_exact_at(file, &mut bytes, range.start).map_err(PackageErrorKind::Io)?;
    Ok(bytes)
}

fn check_consistency(manifest: &Manifest, trailer: &Trailer) -> Result<(), PackageErrorKind> {
    if manifest.payload.size != trailer.payload_len {
        return Err(PackageErrorKind::Inconsistent("payload length"));
    }
    if manifest.payload.sha256 != digest::to_hex(&trailer.payload_sha256) {
        return Err(PackageErrorKind::Inconsistent("payload digest"));
    }
    if trailer.version == crate::trailer::FORMAT_WITH_INDEX && manifest.index.size != trailer.index_len {
        return Err(PackageErrorKind::Inconsistent("index length"));
    }
    Ok(())
}
