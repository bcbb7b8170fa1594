//! Deterministic packing of a directory into a package.
//!
//! # Implementation
//! The tree is walked depth-first with each directory's children sorted by name, so parents
//! always precede their children and the order never depends on the file system. Every header is
//! normalised: mtime 0, owner 0:0 with no names, mode 0755 for directories and executables and
//! 0644 for other files (the executable bit is the only permission kept). The tar stream goes
//! through the compressor into the output while each file's SHA-256 is computed for the
//! [index](crate::index), in one pass, without temporary files.
//!
//! With zstd, the content of every file of at least [`frames::FRAME_FILE_MIN`] bytes goes into
//! data frames of its own, compressed in parallel, so that the launcher can decode large files in
//! parallel too ([`crate::frames`]); the tar bytes are the same as without frames.
//!
//! The same tree, compression and metadata therefore give byte-identical output on any machine
//! (zstd's output does not depend on its worker count; see [`crate::codec`]; data frames are
//! compressed each in zstd's single-threaded mode, whatever the number of threads).
//!
//! # What is refused
//! Devices, FIFOs and sockets; names that are not UTF-8 or that [`paths::normalize`] refuses;
//! the reserved top-level `.sea`; symbolic links that are absolute or resolve outside the tree
//! ([`links`]). Hard-linked files are stored as independent copies.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use semver::Version;

use crate::codec::{Codec, Compression, Encoder};
use crate::digest::{self, HashingReader, HashingWriter, Sha256Bytes};
use crate::frames::{self, FramedWriter};
use crate::index::{EntryKind, Index, IndexEntry};
use crate::links;
use crate::manifest::{self, FileCheck, MANIFEST_FORMAT, Manifest, Naming, SectionDigest, UpdateSettings};
use crate::paths;
use crate::trailer::{FORMAT_MIN_LAUNCHER, FORMAT_VERSION, Trailer};
use crate::unpack::Refusal;

/// Options for [`pack_dir`].
#[derive(Clone, Copy)]
pub struct PackOptions<'a> {
    /// Algorithm and level.
    pub compression: Compression,
    /// Compression threads (zstd); output does not depend on it.
    pub threads: u32,
    /// Called with the input bytes read so far.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl std::fmt::Debug for PackOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackOptions")
            .field("compression", &self.compression)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Default for PackOptions<'_> {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        Self { compression: Compression::DEFAULT, threads, progress: None }
    }
}

/// Why packing failed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// Reading the input failed.
    #[error("could not read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// An input entry that cannot be packed safely.
    #[error("cannot pack {}: {reason}", path.display())]
    Refused { path: PathBuf, reason: Refusal },
    /// A file changed size while it was being packed.
    #[error("{} changed while it was being packed; pack a tree that nothing is writing to", path.display())]
    Changed { path: PathBuf },
    /// Writing the output failed.
    #[error("could not write the package: {0}")]
    Write(#[source] io::Error),
    /// The entry is unusable.
    #[error("entry '{entry}' {reason}")]
    Entry { entry: String, reason: String },
    /// The metadata given makes an invalid manifest (a bad name, platform or key).
    #[error(transparent)]
    Manifest(crate::manifest::ManifestError),
    /// The package would claim to run on a launcher that cannot read its format.
    #[error(
        "min_launcher {given} is older than {oldest}, the oldest launcher that reads this package format; give --min-launcher {oldest} or newer"
    )]
    MinLauncher { given: Version, oldest: Version },
    /// The signer failed.
    #[error("could not sign the package: {0}")]
    Sign(String),
}

/// The payload written by [`pack_dir`].
#[derive(Debug, Clone)]
pub struct Packed {
    /// Every entry, in archive order.
    pub index: Index,
    /// Compressed length.
    pub payload_len: u64,
    /// SHA-256 of the compressed bytes.
    pub payload_sha256: Sha256Bytes,
}

/// One input entry, found by the walk.
struct Source {
    rel: String,
    full: PathBuf,
    kind: EntryKind,
    size: u64,
    exec: bool,
    target: Option<String>,
}

/// Walks `root` and returns its entries in archive order, refusing what cannot be packed.
fn walk(root: &Path) -> Result<Vec<Source>, PackError> {
    let mut out = Vec::new();
    walk_dir(root, "", &mut out)?;
    let links: HashMap<String, String> =
        out.iter().filter_map(|s| s.target.as_ref().map(|t| (s.rel.clone(), t.clone()))).collect();
    links::check_all(&links).map_err(|(rel, e)| PackError::Refused { path: root.join(rel), reason: e.into() })?;
    Ok(out)
}

fn walk_dir(dir: &Path, rel_dir: &str, out: &mut Vec<Source>) -> Result<(), PackError> {
    let read_err = |source| PackError::Read { path: dir.to_owned(), source };
    let mut children: Vec<(String, PathBuf)> = Vec::new();
    for item in fs::read_dir(dir).map_err(read_err)? {
        let item = item.map_err(read_err)?;
        let full = item.path();
        let name = item.file_name().into_string().map_err(|_| refuse(&full, paths::PathError::NotUtf8))?;
        children.push((name, full));
    }
    children.sort();
    for (name, full) in children {
        let rel = if rel_dir.is_empty() { name } else { format!("{rel_dir}/{name}") };
        let normal = paths::normalize_str(&rel).map_err(|e| refuse(&full, e))?;
        if normal != rel {
            return Err(refuse(&full, paths::PathError::Empty));
        }
        if paths::is_reserved(&rel) {
            return Err(refuse(&full, paths::PathError::Reserved));
        }
        let meta = fs::symlink_metadata(&full).map_err(|source| PackError::Read { path: full.clone(), source })?;
        let kind = meta.file_type();
        if kind.is_dir() {
            out.push(Source {
                rel: rel.clone(),
                full: full.clone(),
                kind: EntryKind::Dir,
                size: 0,
                exec: false,
                target: None,
            });
            walk_dir(&full, &rel, out)?;
        } else if kind.is_file() {
            // No executable bit (Windows): packed as not executable. Untested.
            let exec = executable_bit(&meta).unwrap_or(false);
            out.push(Source { rel, full, kind: EntryKind::File, size: meta.len(), exec, target: None });
        } else if kind.is_symlink() {
            let target = fs::read_link(&full).map_err(|source| PackError::Read { path: full.clone(), source })?;
            let target = target.into_os_string().into_string().map_err(|_| refuse(&full, paths::PathError::NotUtf8))?;
            links::validate_target(&target).map_err(|e| refuse(&full, e))?;
            out.push(Source { rel, full, kind: EntryKind::Symlink, size: 0, exec: false, target: Some(target) });
        } else {
            return Err(refuse(&full, Refusal::Special(special_kind(&kind))));
        }
    }
    Ok(())
}

fn refuse(path: &Path, reason: impl Into<Refusal>) -> PackError {
    PackError::Refused { path: path.to_owned(), reason: reason.into() }
}

/// Whether a file's mode has an executable bit set: the one definition the packer's entry check
/// and the pack's `exec` flag share. `None` where files have no such bit (Windows): each caller
/// says what that means for it.
pub fn executable_bit(meta: &fs::Metadata) -> Option<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(meta.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

#[cfg(unix)]
fn special_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_block_device() {
        "block device"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special"
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: &fs::FileType) -> &'static str {
    "special"
}

/// A tar header as every packed entry has it: GNU format, mtime, uid and gid 0. The delta
/// applier regenerates the same tar stream with it, so the two can never drift apart.
pub(crate) fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Packs the directory `root` as a compressed tar stream into `out`.
pub fn pack_dir(root: &Path, out: impl Write, options: &PackOptions<'_>) -> Result<Packed, PackError> {
    let sources = walk(root)?;
    let hashing = HashingWriter::new(out);
    let sink = match options.compression.codec {
        Codec::Zstd => Sink::Framed(FramedWriter::new(options.compression, options.threads, hashing)),
        Codec::Gzip => {
            Sink::Plain(Encoder::new(options.compression, hashing, options.threads).map_err(PackError::Write)?)
        }
    };
    let mut builder = tar::Builder::new(sink);
    let mut index = Index::default();
    let mut read_total = 0u64;
    for source in &sources {
        let before = read_total;
        let mut report = |done: u64| {
            if let Some(progress) = options.progress {
                progress(before + done);
            }
        };
        let entry = append(&mut builder, source, &mut report)?;
        read_total += entry.size;
        if let Some(progress) = options.progress {
            progress(read_total);
        }
        index.entries.push(entry);
    }
    let sink = builder.into_inner().map_err(PackError::Write)?;
    let hashing = match sink {
        Sink::Framed(framed) => framed.finish(),
        Sink::Plain(encoder) => encoder.finish(),
    }
    .map_err(PackError::Write)?;
    let (payload_sha256, payload_len, _) = hashing.finish();
    Ok(Packed { index, payload_len, payload_sha256 })
}

/// Where the tar stream goes: framed zstd, or one gzip stream.
enum Sink<W: Write> {
    Framed(FramedWriter<W>),
    Plain(Encoder<W>),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Framed(w) => w.write(buf),
            Sink::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Framed(w) => w.flush(),
            Sink::Plain(w) => w.flush(),
        }
    }
}

fn append<W: Write>(
    builder: &mut tar::Builder<Sink<W>>,
    source: &Source,
    progress: &mut dyn FnMut(u64),
) -> Result<IndexEntry, PackError> {
    let rel = source.rel.as_str();
    let mut sha = None;
    match source.kind {
        EntryKind::Dir => {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            builder.append_data(&mut h, rel, io::empty()).map_err(PackError::Write)?;
        }
        EntryKind::Symlink => {
            let target = source.target.as_deref().unwrap_or_default();
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            builder.append_link(&mut h, rel, target).map_err(PackError::Write)?;
        }
        EntryKind::File => {
            let file =
                File::open(&source.full).map_err(|e| PackError::Read { path: source.full.clone(), source: e })?;
            let mut reader = HashingReader::new(file.take(source.size));
            let mode = if source.exec { 0o755 } else { 0o644 };
            let mut h = header(tar::EntryType::Regular, mode, source.size);
            let big = source.size >= frames::FRAME_FILE_MIN && matches!(builder.get_ref(), Sink::Framed(_));
            if big {
                // The header (and any long-name entry) through tar, with no content: `append`
                // copies what the reader gives, here nothing, and pads nothing. Then the content
                // as data frames and the padding, as `append_data` would have written them.
                builder.append_data(&mut h, rel, io::empty()).map_err(PackError::Write)?;
                if let Sink::Framed(sink) = builder.get_mut() {
                    let copied = sink
                        .write_data(&mut reader, source.size, progress)
                        .map_err(|e| write_or_read(e, &source.full))?;
                    if copied != source.size {
                        return Err(PackError::Changed { path: source.full.clone() });
                    }
                    let pad = (512 - source.size % 512) % 512;
                    sink.write_all(&[0u8; 512][..pad as usize]).map_err(PackError::Write)?;
                }
            } else {
                builder.append_data(&mut h, rel, &mut reader).map_err(|e| write_or_read(e, &source.full))?;
            }
            let (digest, count) = reader.finish();
            if count != source.size {
                return Err(PackError::Changed { path: source.full.clone() });
            }
            sha = Some(digest);
        }
    }
    Ok(IndexEntry::new(rel.to_owned(), source.kind, source.size, source.exec, sha.as_ref(), source.target.clone()))
}

/// tar's `append_data` reports a short read of the source as an I/O error: call it a change.
fn write_or_read(e: io::Error, path: &Path) -> PackError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        PackError::Changed { path: path.to_owned() }
    } else {
        PackError::Write(e)
    }
}

/// Everything in a manifest that does not come from the payload itself.
#[derive(Debug, Clone)]
pub struct PackageSpec {
    /// App name.
    pub name: String,
    /// App version.
    pub version: Version,
    /// Target platform.
    pub platform: String,
    /// Entry path inside the tree.
    pub entry: String,
    /// Fixed arguments; one with a brace is stored as a template (`{pkg_dir}`, `{{`, `}}`: see
    /// [`crate::manifest`]) and must be a valid one.
    pub args: Vec<String>,
    /// Oldest launcher that may run the payload.
    pub min_launcher: Version,
    /// Version of the stub the package is appended to.
    pub launcher_version: Version,
    /// The packer, e.g. `sea-pack 0.1.0`.
    pub packed_with: String,
    /// Feed and key.
    pub update: UpdateSettings,
    /// Variable prefix and directory names, when not derived from the name.
    pub naming: Naming,
    /// Run the app as the launcher's supervised child (`false`: exec it in place).
    pub supervise: bool,
}

/// Signs manifest bytes, returning a minisign signature file's text.
pub type Signer<'a> = &'a dyn Fn(&[u8]) -> Result<String, String>;

/// Writes a whole package after whatever `out` already holds (the stub): payload, manifest,
/// signature and trailer, in format 2 (no index section; the manifest pins the index's digest).
/// Returns the manifest.
pub fn write_package(
    out: &mut impl Write,
    root: &Path,
    spec: &PackageSpec,
    options: &PackOptions<'_>,
    signer: Option<Signer<'_>>,
) -> Result<Manifest, PackError> {
    let oldest = Version::new(FORMAT_MIN_LAUNCHER.0, FORMAT_MIN_LAUNCHER.1, FORMAT_MIN_LAUNCHER.2);
    if spec.min_launcher < oldest {
        return Err(PackError::MinLauncher { given: spec.min_launcher.clone(), oldest });
    }
    let packed = pack_dir(root, &mut *out, options)?;
    let executables = check_entry(&packed.index, &spec.entry)?;
    let index_bytes = packed.index.to_bytes();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        name: spec.name.clone(),
        version: spec.version.clone(),
        platform: spec.platform.clone(),
        entry: spec.entry.clone(),
        args: spec.args.clone(),
        arg_templates: spec.args.iter().any(|a| manifest::has_braces(a)),
        compression: options.compression,
        payload: SectionDigest { size: packed.payload_len, sha256: digest::to_hex(&packed.payload_sha256) },
        index: SectionDigest { size: index_bytes.len() as u64, sha256: digest::sha256_hex(&index_bytes) },
        unpacked_size: packed.index.unpacked_size(),
        entries: packed.index.entries.len() as u64,
        executables,
        min_launcher: spec.min_launcher.clone(),
        launcher_version: spec.launcher_version.clone(),
        packed_with: spec.packed_with.clone(),
        update: spec.update.clone(),
        naming: spec.naming.clone(),
        supervise: spec.supervise,
    };
    manifest.validate().map_err(PackError::Manifest)?;
    let manifest_bytes = manifest.to_bytes();
    let signature = match signer {
        Some(sign) => sign(&manifest_bytes).map_err(PackError::Sign)?.into_bytes(),
        None => Vec::new(),
    };
    // The index is not shipped (format 2): the manifest pins it, the unpacker rebuilds it.
    let trailer = Trailer {
        version: FORMAT_VERSION,
        payload_len: packed.payload_len,
        index_len: 0,
        manifest_len: manifest_bytes.len() as u64,
        signature_len: signature.len() as u64,
        payload_sha256: packed.payload_sha256,
        manifest_sha256: digest::sha256(&manifest_bytes),
    };
    for part in [&manifest_bytes[..], &signature, &trailer.encode()] {
        out.write_all(part).map_err(PackError::Write)?;
    }
    out.flush().map_err(PackError::Write)?;
    Ok(manifest)
}

/// The entry must be an executable regular file of the tree; returns every executable's check.
fn check_entry(index: &Index, entry: &str) -> Result<Vec<FileCheck>, PackError> {
    let err = |reason: &str| PackError::Entry { entry: entry.to_owned(), reason: reason.to_owned() };
    let found = index.entries.iter().find(|e| e.path == entry).ok_or_else(|| err("is not in the input"))?;
    match found.kind {
        EntryKind::File if found.exec => {}
        EntryKind::File => return Err(err("is not executable (chmod +x it before packing)")),
        EntryKind::Dir => return Err(err("is a directory, not a program")),
        EntryKind::Symlink => return Err(err("is a symbolic link; name the file it points to")),
    }
    Ok(index
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.exec)
        .map(|e| FileCheck { path: e.path.clone(), size: e.size })
        .collect())
}
