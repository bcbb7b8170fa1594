//! Delta artifacts: a new release's tree, expressed against an earlier release's tree.
//!
//! ```text
//! [ "SEADLT02" ][ u32 LE header length ][ header JSON ]
//! [ u64 LE length ][ new index, zstd with the base index as reference prefix ]
//! [ one op per regular file of the new index, in index order ]
//! ```
//!
//! The header names the app, platform, new version, and the base: its version, payload SHA-256
//! and index SHA-256. It carries the new package's manifest and manifest signature byte for byte,
//! so that with the new index (pinned by the manifest's `index.sha256`) a delta is a verifiable
//! package-equivalent: a client checks the signature of the same manifest bytes a full download
//! would carry, and every output file against the same signed digests.
//!
//! An op is a tag byte, then:
//! * `0` copy: u32 LE ordinal of a base index entry with the same content (5 bytes);
//! * `1` patch: u32 LE base ordinal, u64 LE length, a zstd frame compressed with that base
//!   file as reference prefix (zstd's `--patch-from`), long window covering base and output;
//! * `2` new: u64 LE length, a zstd frame of the whole file;
//! * `3` diff: u32 LE base ordinal, u64 LE length, a zstd frame (window at most 16 MiB) of
//!   approximate-match records against that base file ([`diff`]: bytes added to aligned base
//!   bytes, and literal runs — bsdiff's idea, for rebuilt native code).
//!
//! Format 1 (`SEADLT01`, no diff op) is refused with a message saying so: its ops would parse,
//! but one version of the format is read, not two.
//!
//! Directories and links need no op: the new index says everything about them.
//!
//! # Implementation
//! [`build`] chooses per file: copy when some base file has its SHA-256; else, when the base has a
//! file at the same path, the smallest of the patch, the diff (tried for files of at least
//! [`DIFF_MIN_SIZE`]) and the whole file (tried only when neither is already below half of the
//! file: measuring costs a compression); else the whole file. Output is deterministic:
//! single-threaded zstd, fixed parameters.
//!
//! [`Delta::unpack_to`] regenerates the new release's tar stream on a producer thread (each file
//! streamed through a reader that checks its size and SHA-256 against the new index, and each
//! reused base file checked against the base index before its bytes are used) and feeds it to
//! [`crate::unpack::unpack`] — the same safe-path, link, bomb and parallel-write rules as a full
//! payload, with no path check of its own. A second thread walks the same ops ahead of the
//! producer and reads the small base files that copy ops reuse (up to 256 KiB each, 32 at a
//! time), checking each against the base index, so that on a tree of thousands of unchanged
//! files the opening, reading and hashing overlap the tar stream and the writes instead of
//! preceding each file; the producer uses those bytes only once checked (copy ops of larger
//! files are streamed and checked as before).
//!
//! # Limitations
//! A patch holds its base file in memory (as zstd's reference prefix), and the decoder holds a
//! window up to the output's size: memory while applying is about twice the largest patched
//! file (a diff: its base file and a 16 MiB window). Files whose base and output together
//! exceed 2 GiB are neither patched nor diffed: they travel whole.
//! Renamed files are patched only if their content is identical (copy); a changed file at a new
//! path travels whole. Building a diff holds both files, their records and a 64 MiB table.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::{self, Sha256Bytes};
use crate::index::{EntryKind, Index, IndexEntry};
use crate::manifest::Manifest;
use crate::pack::header;
use crate::signature::{self, SignatureError};
use crate::unpack::{self, UnpackError, UnpackOptions, UnpackSummary};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"SEADLT02";
/// The first format's magic: refused with a message saying so.
pub const MAGIC_V1: &[u8; 8] = b"SEADLT01";
/// The header format this crate writes and reads.
pub const DELTA_FORMAT: u32 = 2;
/// Smallest changed file for which a diff is tried (below, zstd's patch wins on every file
/// measured, and the diff's hash table would cost more than the file).
pub const DIFF_MIN_SIZE: u64 = 64 * 1024;
/// Largest header accepted.
pub const MAX_HEADER_LEN: u64 = 16 * 1024 * 1024;
/// Largest new index accepted (decompressed).
pub const MAX_INDEX_LEN: u64 = 256 * 1024 * 1024;
/// Largest base + output of one patch (the zstd window must cover both, and 2^31 is zstd's limit)
/// or diff (its base file is held in memory).
pub const MAX_PATCH_SPAN: u64 = 1 << 31;
/// Window limit for whole files (`new` ops), as for payloads from untrusted input.
pub const NEW_WINDOW_LOG_MAX: u32 = crate::codec::ZSTD_WINDOW_LOG_MAX_INPUT;

const OP_COPY: u8 = 0;
const OP_PATCH: u8 = 1;
const OP_NEW: u8 = 2;
const OP_DIFF: u8 = 3;

pub mod diff;

/// Why a delta could not be built or applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// Reading or writing a file failed.
    #[error("could not {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    /// The delta's bytes are malformed.
    #[error("the delta is corrupt: {0}")]
    Corrupt(String),
    /// The delta is not against this base.
    #[error("the delta is against another base: {0}")]
    WrongBase(String),
    /// A base file the delta reuses differs from the base's index.
    #[error("the base tree is damaged: '{0}' differs from its index")]
    BaseDamaged(String),
    /// A file came out with other bytes than the new index says.
    #[error("the delta produced wrong bytes for '{0}'")]
    WrongOutput(String),
    /// The manifest signature does not verify.
    #[error("the delta's manifest signature: {0}")]
    Signature(#[from] SignatureError),
    /// The generated tree was refused.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// The tree does not match the manifest.
    #[error("the delta produced {found} but the manifest declares {expected}")]
    Mismatch { expected: String, found: String },
}

impl DeltaError {
    fn io(what: &'static str, path: &Path, source: io::Error) -> Self {
        DeltaError::Io { what, path: path.to_owned(), source }
    }

    /// Whether the failure was the disk filling up.
    pub fn is_storage_full(&self) -> bool {
        match self {
            DeltaError::Unpack(e) => e.is_storage_full(),
            DeltaError::Io { source, .. } => unpack::is_storage_full(source),
            _ => false,
        }
    }
}

fn corrupt(why: impl Into<String>) -> DeltaError {
    DeltaError::Corrupt(why.into())
}

/// The delta's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`DELTA_FORMAT`].
    pub format: u32,
    /// The app.
    pub name: String,
    /// The platform.
    pub platform: String,
    /// The new version.
    pub version: Version,
    /// The base version.
    pub base_version: Version,
    /// The base payload's SHA-256 (lower-case hex): which tree of that version.
    pub base_payload_sha256: String,
    /// The base index's SHA-256: the reference prefix of the new index.
    pub base_index_sha256: String,
    /// The new package's manifest, byte for byte.
    pub manifest: String,
    /// The new package's manifest signature (minisign text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// One op, as parsed; data lengths only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Copy base entry `base`.
    Copy { base: u32 },
    /// Patch base entry `base` with `len` bytes of zstd data.
    Patch { base: u32, len: u64 },
    /// A whole file: `len` bytes of zstd data.
    New { len: u64 },
    /// Diff records against base entry `base`: `len` bytes of zstd data.
    Diff { base: u32, len: u64 },
}

/// Reads one op head (the data, if any, follows in `reader`); `left` is how many bytes remain.
pub fn read_op(reader: &mut impl Read, left: u64) -> Result<Op, DeltaError> {
    let mut tag = [0u8; 1];
    reader.read_exact(&mut tag).map_err(|_| corrupt("it ends before the last file's op"))?;
    let mut u32_bytes = [0u8; 4];
    let mut u64_bytes = [0u8; 8];
    let short = |_| corrupt("an op is truncated");
    let op = match tag[0] {
        OP_COPY => {
            reader.read_exact(&mut u32_bytes).map_err(short)?;
            Op::Copy { base: u32::from_le_bytes(u32_bytes) }
        }
        OP_PATCH | OP_DIFF => {
            reader.read_exact(&mut u32_bytes).map_err(short)?;
            reader.read_exact(&mut u64_bytes).map_err(short)?;
            let (base, len) = (u32::from_le_bytes(u32_bytes), u64::from_le_bytes(u64_bytes));
            if tag[0] == OP_PATCH { Op::Patch { base, len } } else { Op::Diff { base, len } }
        }
        OP_NEW => {
            reader.read_exact(&mut u64_bytes).map_err(short)?;
            Op::New { len: u64::from_le_bytes(u64_bytes) }
        }
        other => return Err(corrupt(format!("unknown op {other}"))),
    };
    let data = match op {
        Op::Copy { .. } => 0,
        Op::Patch { len, .. } | Op::Diff { len, .. } => len.saturating_add(13),
        Op::New { len } => len.saturating_add(9),
    };
    if data > left {
        return Err(corrupt("an op's data runs past the end of the file"));
    }
    Ok(op)
}

/// Parses a whole op stream of `files` ops (what the fuzz target drives): every op, its data
/// skipped, and nothing after the last.
pub fn parse_ops(bytes: &[u8], files: usize) -> Result<Vec<Op>, DeltaError> {
    let mut reader = bytes;
    let mut ops = Vec::new();
    for _ in 0..files {
        let left = reader.len() as u64;
        let op = read_op(&mut reader, left)?;
        let skip = match op {
            Op::Copy { .. } => 0,
            Op::Patch { len, .. } | Op::New { len } | Op::Diff { len, .. } => len,
        };
        // read_op checked that `skip` bytes remain.
        reader = &reader[skip as usize..];
        ops.push(op);
    }
    if !reader.is_empty() {
        return Err(corrupt("bytes after the last op"));
    }
    Ok(ops)
}

/// The base of a delta being built: an unpacked tree and its package's facts.
#[derive(Debug)]
pub struct Base<'a> {
    /// The unpacked tree.
    pub dir: &'a Path,
    /// The index section, byte for byte.
    pub index_bytes: &'a [u8],
    /// The manifest.
    pub manifest: &'a Manifest,
}

/// The release a delta is built to.
#[derive(Debug)]
pub struct Target<'a> {
    /// The unpacked tree.
    pub dir: &'a Path,
    /// The index section, byte for byte.
    pub index_bytes: &'a [u8],
    /// The manifest, byte for byte.
    pub manifest_bytes: &'a [u8],
    /// The manifest signature.
    pub signature: Option<&'a str>,
}

/// What a built delta holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildSummary {
    /// Files copied from the base.
    pub copied: u64,
    /// Files patched against the base (zstd reference prefix).
    pub patched: u64,
    /// Files diffed against the base ([`diff`] records).
    pub diffed: u64,
    /// Files sent whole.
    pub whole: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Smallest power of two exponent covering `n`, within zstd's window limits.
fn window_log_for(n: u64) -> u32 {
    let bits = 64 - n.saturating_sub(1).leading_zeros();
    bits.clamp(10, 31)
}

fn zstd_err(path: &Path) -> impl Fn(io::Error) -> DeltaError + '_ {
    move |e| DeltaError::io("compress", path, e)
}

/// Compresses `data` with `prefix` as reference prefix.
fn patch_bytes(prefix: &[u8], data: &[u8], level: i32, path: &Path) -> Result<Vec<u8>, DeltaError> {
    let err = zstd_err(path);
    let mut enc = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, prefix).map_err(&err)?;
    enc.include_checksum(false).map_err(&err)?;
    enc.include_contentsize(true).map_err(&err)?;
    enc.set_pledged_src_size(Some(data.len() as u64)).map_err(&err)?;
    enc.window_log(window_log_for(prefix.len() as u64 + data.len() as u64)).map_err(&err)?;
    enc.long_distance_matching(true).map_err(&err)?;
    enc.write_all(data).map_err(&err)?;
    enc.finish().map_err(&err)
}

fn whole_bytes(data: &[u8], level: i32, path: &Path) -> Result<Vec<u8>, DeltaError> {
    let err = zstd_err(path);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), level).map_err(&err)?;
    enc.include_checksum(false).map_err(&err)?;
    enc.include_contentsize(true).map_err(&err)?;
    enc.set_pledged_src_size(Some(data.len() as u64)).map_err(&err)?;
    enc.window_log(window_log_for(data.len() as u64).min(NEW_WINDOW_LOG_MAX)).map_err(&err)?;
    enc.write_all(data).map_err(&err)?;
    enc.finish().map_err(&err)
}

/// The [`diff`] records of `data` against `old`, compressed.
fn diff_bytes(old: &[u8], data: &[u8], level: i32, path: &Path) -> Result<Vec<u8>, DeltaError> {
    let records = diff::records(old, data);
    let err = zstd_err(path);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), level).map_err(&err)?;
    enc.include_checksum(false).map_err(&err)?;
    enc.include_contentsize(true).map_err(&err)?;
    enc.set_pledged_src_size(Some(records.len() as u64)).map_err(&err)?;
    enc.window_log(window_log_for(records.len() as u64).min(diff::DIFF_WINDOW_LOG)).map_err(&err)?;
    enc.write_all(&records).map_err(&err)?;
    enc.finish().map_err(&err)
}

fn read_file(path: &Path) -> Result<Vec<u8>, DeltaError> {
    std::fs::read(path).map_err(|e| DeltaError::io("read", path, e))
}

fn parse_index(bytes: &[u8], what: &str) -> Result<Index, DeltaError> {
    Index::from_bytes(bytes).map_err(|e| corrupt(format!("the {what} index is not valid JSON: {e}")))
}

/// Writes a delta from `base` to `target` at zstd `level`.
pub fn build(
    base: &Base<'_>,
    target: &Target<'_>,
    level: i32,
    out: &mut impl Write,
) -> Result<BuildSummary, DeltaError> {
    let manifest = Manifest::from_bytes(target.manifest_bytes).map_err(|e| corrupt(format!("new manifest: {e}")))?;
    let base_index = parse_index(base.index_bytes, "base")?;
    let new_index = parse_index(target.index_bytes, "new")?;
    let manifest_text =
        String::from_utf8(target.manifest_bytes.to_vec()).map_err(|_| corrupt("the new manifest is not UTF-8"))?;
    let header = Header {
        format: DELTA_FORMAT,
        name: manifest.name.clone(),
        platform: manifest.platform.clone(),
        version: manifest.version.clone(),
        base_version: base.manifest.version.clone(),
        base_payload_sha256: base.manifest.payload.sha256.clone(),
        base_index_sha256: digest::sha256_hex(base.index_bytes),
        manifest: manifest_text,
        signature: target.signature.map(str::to_owned),
    };
    let header_bytes = serde_json::to_vec(&header).map_err(|e| corrupt(e.to_string()))?;
    let mut summary = BuildSummary::default();
    let put = |out: &mut dyn Write, bytes: &[u8], summary: &mut BuildSummary| -> Result<(), DeltaError> {
        summary.bytes += bytes.len() as u64;
        out.write_all(bytes).map_err(|e| DeltaError::io("write", Path::new("the delta"), e))
    };
    put(out, MAGIC, &mut summary)?;
    put(out, &(header_bytes.len() as u32).to_le_bytes(), &mut summary)?;
    put(out, &header_bytes, &mut summary)?;
    let index_patch = patch_bytes(base.index_bytes, target.index_bytes, level, Path::new("the index"))?;
    put(out, &(index_patch.len() as u64).to_le_bytes(), &mut summary)?;
    put(out, &index_patch, &mut summary)?;

    // Base files by content (first ordinal wins, same path preferred) and by path.
    let mut by_sha: HashMap<&str, u32> = HashMap::new();
    let mut by_path: HashMap<&str, u32> = HashMap::new();
    for (i, e) in base_index.entries.iter().enumerate() {
        if e.kind != EntryKind::File {
            continue;
        }
        let Ok(i) = u32::try_from(i) else { break };
        by_path.insert(e.path.as_str(), i);
        if let Some(sha) = &e.sha256 {
            by_sha.entry(sha.as_str()).or_insert(i);
        }
    }
    for entry in new_index.entries.iter().filter(|e| e.kind == EntryKind::File) {
        let sha = entry.sha256.as_deref().unwrap_or_default();
        let same_path = by_path.get(entry.path.as_str()).copied();
        let same = same_path.filter(|&i| base_index.entries[i as usize].sha256.as_deref() == Some(sha));
        if let Some(i) = same.or_else(|| by_sha.get(sha).copied()) {
            let mut op = vec![OP_COPY];
            op.extend_from_slice(&i.to_le_bytes());
            put(out, &op, &mut summary)?;
            summary.copied += 1;
            continue;
        }
        let new_path = target.dir.join(&entry.path);
        let data = read_file(&new_path)?;
        // The smallest encoding wins; on a tie, the one tried first (patch, diff, whole file).
        let mut best: Option<(u8, u32, Vec<u8>)> = None;
        let same_base = same_path.map(|i| (i, &base_index.entries[i as usize]));
        if let Some((i, base_entry)) = same_base.filter(|(_, b)| b.size.saturating_add(entry.size) < MAX_PATCH_SPAN) {
            let old = read_file(&base.dir.join(&base_entry.path))?;
            best = Some((OP_PATCH, i, patch_bytes(&old, &data, level, &new_path)?));
            if entry.size >= DIFF_MIN_SIZE && base_entry.size >= DIFF_MIN_SIZE {
                let d = diff_bytes(&old, &data, level, &new_path)?;
                if best.as_ref().is_none_or(|(_, _, p)| d.len() < p.len()) {
                    best = Some((OP_DIFF, i, d));
                }
            }
        }
        if best.as_ref().is_none_or(|(_, _, p)| p.len() as u64 >= entry.size / 2) {
            let w = whole_bytes(&data, level, &new_path)?;
            if best.as_ref().is_none_or(|(_, _, p)| w.len() < p.len()) {
                best = Some((OP_NEW, 0, w));
            }
        }
        let Some((tag, i, bytes)) = best else {
            return Err(corrupt(format!("no encoding of '{}'", entry.path)));
        };
        let mut op = vec![tag];
        if tag != OP_NEW {
            op.extend_from_slice(&i.to_le_bytes());
        }
        op.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        put(out, &op, &mut summary)?;
        put(out, &bytes, &mut summary)?;
        match tag {
            OP_PATCH => summary.patched += 1,
            OP_DIFF => summary.diffed += 1,
            _ => summary.whole += 1,
        }
    }
    Ok(summary)
}

/// An opened delta whose header and new index were read and cross-checked.
#[derive(Debug)]
pub struct Delta {
    path: PathBuf,
    header: Header,
    manifest: Manifest,
    index_bytes: Vec<u8>,
    index: Index,
    ops_start: u64,
    len: u64,
}

impl Delta {
    /// Opens the delta at `path` against a base whose index section is `base_index_bytes`: reads
    /// the header, decodes the new index and checks it against the new manifest's digest.
    pub fn open(path: &Path, base_index_bytes: &[u8]) -> Result<Self, DeltaError> {
        let mut file = File::open(path).map_err(|e| DeltaError::io("open", path, e))?;
        let len = file.metadata().map_err(|e| DeltaError::io("inspect", path, e))?.len();
        let mut reader = BufReader::new(&mut file);
        let mut magic = [0u8; 8];
        reader.read_exact(&mut magic).map_err(|_| corrupt("it is too short"))?;
        if &magic == MAGIC_V1 {
            return Err(corrupt(
                "it is a delta of format 1 (SEADLT01), which this version no longer reads (format 2 added diff ops)",
            ));
        }
        if &magic != MAGIC {
            return Err(corrupt("it does not start with SEADLT02"));
        }
        let mut u32_bytes = [0u8; 4];
        reader.read_exact(&mut u32_bytes).map_err(|_| corrupt("it is too short"))?;
        let header_len = u64::from(u32::from_le_bytes(u32_bytes));
        if header_len > MAX_HEADER_LEN || header_len > len {
            return Err(corrupt(format!("its header declares {header_len} bytes")));
        }
        let mut header_bytes = vec![0u8; header_len as usize];
        reader.read_exact(&mut header_bytes).map_err(|_| corrupt("the header is truncated"))?;
        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|e| corrupt(format!("the header does not parse: {e}")))?;
        if header.format != DELTA_FORMAT {
            return Err(corrupt(format!("unsupported delta format {}", header.format)));
        }
        let base_index_sha = digest::sha256_hex(base_index_bytes);
        if header.base_index_sha256 != base_index_sha {
            return Err(DeltaError::WrongBase(format!(
                "it is against base index {}, the tree's is {base_index_sha}",
                header.base_index_sha256
            )));
        }
        let manifest = Manifest::from_bytes(header.manifest.as_bytes())
            .map_err(|e| corrupt(format!("its manifest does not validate: {e}")))?;
        if manifest.version != header.version || manifest.name != header.name || manifest.platform != header.platform {
            return Err(corrupt("its header and manifest disagree"));
        }
        let mut u64_bytes = [0u8; 8];
        reader.read_exact(&mut u64_bytes).map_err(|_| corrupt("the index is truncated"))?;
        let index_len = u64::from_le_bytes(u64_bytes);
        let consumed = 8 + 4 + header_len + 8;
        if index_len > len - consumed.min(len) {
            return Err(corrupt("the index runs past the end of the file"));
        }
        if manifest.index.size > MAX_INDEX_LEN {
            return Err(corrupt(format!("the manifest declares an index of {} bytes", manifest.index.size)));
        }
        let mut index_bytes = Vec::new();
        {
            let mut dec = zstd::stream::read::Decoder::with_ref_prefix((&mut reader).take(index_len), base_index_bytes)
                .map_err(|e| DeltaError::io("decode the index of", path, e))?;
            let window = window_log_for(base_index_bytes.len() as u64 + manifest.index.size);
            dec.window_log_max(window).map_err(|e| DeltaError::io("decode the index of", path, e))?;
            dec.take(manifest.index.size + 1)
                .read_to_end(&mut index_bytes)
                .map_err(|e| corrupt(format!("the index does not decode: {e}")))?;
        }
        if index_bytes.len() as u64 != manifest.index.size || digest::sha256_hex(&index_bytes) != manifest.index.sha256
        {
            return Err(corrupt("the index does not match the manifest's digest"));
        }
        let index = parse_index(&index_bytes, "new")?;
        Ok(Self { path: path.to_owned(), header, manifest, index_bytes, index, ops_start: consumed + index_len, len })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The new manifest (not yet signature-checked: see [`Delta::check_signature`]).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The new manifest, byte for byte.
    pub fn manifest_bytes(&self) -> &[u8] {
        self.header.manifest.as_bytes()
    }

    /// The new index section, byte for byte (its digest is the manifest's).
    pub fn index_bytes(&self) -> &[u8] {
        &self.index_bytes
    }

    /// Checks the manifest's signature with `public_key`; returns the trusted comment.
    pub fn check_signature(&self, public_key: &str) -> Result<String, DeltaError> {
        let sig = self.header.signature.as_deref().ok_or(DeltaError::Signature(SignatureError::Mismatch))?;
        Ok(signature::verify(self.manifest_bytes(), sig, public_key)?)
    }

    /// Builds the new tree into `dest` (an existing empty directory) from the base tree at
    /// `base_dir`, whose index is `base_index`. On error `dest` may hold a partial tree; the
    /// caller removes it.
    pub fn unpack_to(
        &self,
        base_dir: &Path,
        base_index: &Index,
        dest: &Path,
        options: &UnpackOptions<'_>,
    ) -> Result<UnpackSummary, DeltaError> {
        let options = UnpackOptions {
            max_bytes: options.max_bytes.min(self.manifest.unpacked_size),
            max_entries: options.max_entries.min(self.manifest.entries),
            ..*options
        };
        let (sender, receiver) = sync_channel::<io::Result<Vec<u8>>>(4);
        let failure: Mutex<Option<DeltaError>> = Mutex::new(None);
        let unpacked = std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut writer = ChannelWriter { sender, buf: Vec::with_capacity(CHUNK) };
                if let Err(e) = self.produce(base_dir, base_index, &mut writer) {
                    let _ = writer.sender.send(Err(io::Error::other(e.to_string())));
                    if let Ok(mut slot) = failure.lock() {
                        *slot = Some(e);
                    }
                }
            });
            let reader = ChannelReader { receiver, chunk: Vec::new(), pos: 0, done: false };
            unpack::unpack(reader, dest, &options)
        });
        let produced = failure.lock().ok().and_then(|mut e| e.take());
        let summary = match (unpacked, produced) {
            // The unpacker saw the producer's failure as a broken stream: report the cause.
            (Err(UnpackError::Corrupt(_)) | Ok(_), Some(e)) => return Err(e),
            (Err(e), _) => return Err(e.into()),
            (Ok(summary), None) => summary,
        };
        if summary.entries != self.manifest.entries || summary.bytes != self.manifest.unpacked_size {
            return Err(DeltaError::Mismatch {
                expected: format!("{} entries, {} bytes", self.manifest.entries, self.manifest.unpacked_size),
                found: format!("{} entries, {} bytes", summary.entries, summary.bytes),
            });
        }
        Ok(summary)
    }

    /// The op stream, from its first op.
    fn ops_reader(&self) -> Result<io::Take<BufReader<File>>, DeltaError> {
        let mut file = File::open(&self.path).map_err(|e| DeltaError::io("open", &self.path, e))?;
        file.seek(SeekFrom::Start(self.ops_start)).map_err(|e| DeltaError::io("read", &self.path, e))?;
        Ok(BufReader::with_capacity(256 * 1024, file).take(self.len - self.ops_start))
    }

    /// Writes the new tree's tar stream into `out`, with a second thread reading and checking
    /// the small base files that copy ops reuse, ahead of the stream ([`Delta::read_ahead`]).
    fn produce(&self, base_dir: &Path, base_index: &Index, out: &mut ChannelWriter) -> Result<(), DeltaError> {
        let (sender, ahead) = sync_channel::<Result<Option<Vec<u8>>, DeltaError>>(READ_AHEAD_FILES);
        std::thread::scope(|scope| {
            scope.spawn(|| self.read_ahead(base_dir, base_index, sender));
            // `ahead` is moved in, so a failure drops it and the reader's next send ends it.
            self.produce_with(base_dir, base_index, out, ahead)
        })
    }

    /// For every copy op in order, sends the base file's bytes once they match the base index
    /// (files up to [`READ_AHEAD_MAX_FILE`]), `None` for larger ones (the producer streams
    /// those, checking as it goes), or the error that stops it. Ends at the first failure, at the
    /// end of the ops, or when the producer stops listening.
    fn read_ahead(&self, base_dir: &Path, base_index: &Index, sender: SyncSender<Result<Option<Vec<u8>>, DeltaError>>) {
        let Ok(mut ops) = self.ops_reader() else { return };
        for entry in self.index.entries.iter().filter(|e| e.kind == EntryKind::File) {
            let left = ops.limit();
            // A malformed stream: the producer, parsing the same bytes, reports it.
            let Ok(op) = read_op(&mut ops, left) else { return };
            let item = match op {
                Op::Copy { base } => match base_file(base_index, base, entry) {
                    Ok((b, _)) if b.size > READ_AHEAD_MAX_FILE => Ok(None),
                    Ok((b, sha)) => read_base(base_dir, b, sha).map(Some),
                    Err(e) => Err(e),
                },
                Op::Patch { len, .. } | Op::New { len } | Op::Diff { len, .. } => {
                    if io::copy(&mut (&mut ops).take(len), &mut io::sink()).is_err() {
                        return;
                    }
                    continue;
                }
            };
            let stop = item.is_err();
            if sender.send(item).is_err() || stop {
                return;
            }
        }
    }

    fn produce_with(
        &self,
        base_dir: &Path,
        base_index: &Index,
        out: &mut ChannelWriter,
        ahead: Receiver<Result<Option<Vec<u8>>, DeltaError>>,
    ) -> Result<(), DeltaError> {
        let mut ops = self.ops_reader()?;
        let mut builder = tar::Builder::new(out);
        let write_err = |e: io::Error| corrupt(format!("the tree could not be generated: {e}"));
        for entry in &self.index.entries {
            match entry.kind {
                EntryKind::Dir => {
                    let mut h = header(tar::EntryType::Directory, 0o755, 0);
                    builder.append_data(&mut h, &entry.path, io::empty()).map_err(write_err)?;
                }
                EntryKind::Symlink => {
                    let target = entry.target.as_deref().unwrap_or_default();
                    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                    builder.append_link(&mut h, &entry.path, target).map_err(write_err)?;
                }
                EntryKind::File => {
                    let left = ops.limit();
                    let op = read_op(&mut ops, left)?;
                    let mode = if entry.exec { 0o755 } else { 0o644 };
                    let mut h = header(tar::EntryType::Regular, mode, entry.size);
                    let expected = entry
                        .sha256
                        .as_deref()
                        .and_then(digest::from_hex)
                        .ok_or_else(|| corrupt(format!("the index has no valid SHA-256 for '{}'", entry.path)))?;
                    let check = Check { entry, expected };
                    match op {
                        Op::Copy { base } => {
                            let (base_entry, base_sha) = base_file(base_index, base, entry)?;
                            // The output is the base file: one hash checks both.
                            if base_sha != expected || base_entry.size != entry.size {
                                return Err(corrupt(format!(
                                    "'{}' is a copy of base file '{}', whose index digest or size is another",
                                    entry.path, base_entry.path
                                )));
                            }
                            let read = ahead
                                .recv()
                                .map_err(|_| corrupt("the base files could not be read ahead of the stream"))?;
                            if let Some(bytes) = read? {
                                // Checked against the base index by `read_ahead`: its size and
                                // SHA-256, which are this entry's.
                                builder.append_data(&mut h, &entry.path, &bytes[..]).map_err(write_err)?;
                                continue;
                            }
                            let path = base_dir.join(&base_entry.path);
                            let f = File::open(&path).map_err(|e| DeltaError::io("open the base file", &path, e))?;
                            let mut reader = check.reader(f, Some(&base_entry.path));
                            builder.append_data(&mut h, &entry.path, &mut reader).map_err(|e| reader.error(e))?;
                        }
                        Op::Patch { base, len } => {
                            let (base_entry, base_sha) = base_file(base_index, base, entry)?;
                            let span = base_entry.size.saturating_add(entry.size);
                            if span >= MAX_PATCH_SPAN {
                                return Err(corrupt(format!("a patch of '{}' spans {span} bytes", entry.path)));
                            }
                            let old = read_base(base_dir, base_entry, base_sha)?;
                            let data = (&mut ops).take(len);
                            let mut dec = zstd::stream::read::Decoder::with_ref_prefix(data, &old)
                                .map_err(|e| DeltaError::io("decode", &self.path, e))?;
                            dec.window_log_max(window_log_for(span))
                                .map_err(|e| DeltaError::io("decode", &self.path, e))?;
                            let mut reader = check.reader(dec, None);
                            builder.append_data(&mut h, &entry.path, &mut reader).map_err(|e| reader.error(e))?;
                            let rest = reader.into_inner().finish();
                            skip_rest(rest)?;
                        }
                        Op::Diff { base, len } => {
                            let (base_entry, base_sha) = base_file(base_index, base, entry)?;
                            let span = base_entry.size.saturating_add(entry.size);
                            if span >= MAX_PATCH_SPAN {
                                return Err(corrupt(format!("a diff of '{}' spans {span} bytes", entry.path)));
                            }
                            let old = read_base(base_dir, base_entry, base_sha)?;
                            let data = (&mut ops).take(len);
                            let mut dec = zstd::stream::read::Decoder::with_buffer(data)
                                .map_err(|e| DeltaError::io("decode", &self.path, e))?;
                            dec.window_log_max(diff::DIFF_WINDOW_LOG)
                                .map_err(|e| DeltaError::io("decode", &self.path, e))?;
                            let mut reader = check.reader(diff::Apply::new(dec, &old), None);
                            builder.append_data(&mut h, &entry.path, &mut reader).map_err(|e| reader.error(e))?;
                            let rest = reader.into_inner().into_inner().finish();
                            skip_rest(rest)?;
                        }
                        Op::New { len } => {
                            let data = (&mut ops).take(len);
                            let mut dec = zstd::stream::read::Decoder::with_buffer(data)
                                .map_err(|e| DeltaError::io("decode", &self.path, e))?;
                            dec.window_log_max(NEW_WINDOW_LOG_MAX)
                                .map_err(|e| DeltaError::io("decode", &self.path, e))?;
                            let mut reader = check.reader(dec, None);
                            builder.append_data(&mut h, &entry.path, &mut reader).map_err(|e| reader.error(e))?;
                            let rest = reader.into_inner().finish();
                            skip_rest(rest)?;
                        }
                    }
                }
            }
        }
        if ops.limit() != 0 {
            return Err(corrupt("bytes after the last op"));
        }
        let out = builder.into_inner().map_err(write_err)?;
        out.flush().map_err(write_err)
    }
}

/// Drains what is left of an op's data (a frame shorter than its declared length).
fn skip_rest<R: Read>(mut rest: R) -> Result<(), DeltaError> {
    io::copy(&mut rest, &mut io::sink()).map(drop).map_err(|e| corrupt(format!("could not read an op's data: {e}")))
}

/// The base entry `ordinal`, which must be a regular file with a digest.
fn base_file<'i>(
    base_index: &'i Index,
    ordinal: u32,
    entry: &IndexEntry,
) -> Result<(&'i IndexEntry, Sha256Bytes), DeltaError> {
    let base = base_index
        .entries
        .get(ordinal as usize)
        .filter(|b| b.kind == EntryKind::File)
        .ok_or_else(|| corrupt(format!("'{}' refers to base entry {ordinal}, which is not a file", entry.path)))?;
    let sha = base
        .sha256
        .as_deref()
        .and_then(digest::from_hex)
        .ok_or_else(|| corrupt(format!("the base index has no valid SHA-256 for '{}'", base.path)))?;
    Ok((base, sha))
}

/// Reads a base file whole, checking it against the base index before its bytes are used.
fn read_base(base_dir: &Path, base: &IndexEntry, sha: Sha256Bytes) -> Result<Vec<u8>, DeltaError> {
    let path = base_dir.join(&base.path);
    let file = File::open(&path).map_err(|e| DeltaError::io("open the base file", &path, e))?;
    // One read for the bytes, one for the end (the size is the verified base index's).
    let mut bytes = Vec::with_capacity(base.size.min(READ_AHEAD_MAX_FILE) as usize + 1);
    file.take(base.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| DeltaError::io("read the base file", &path, e))?;
    if bytes.len() as u64 != base.size || digest::sha256(&bytes) != sha {
        return Err(DeltaError::BaseDamaged(base.path.clone()));
    }
    Ok(bytes)
}

/// What one output file must be.
struct Check<'a> {
    entry: &'a IndexEntry,
    expected: Sha256Bytes,
}

impl<'a> Check<'a> {
    fn reader<R: Read>(self, inner: R, base: Option<&'a str>) -> Checked<'a, R> {
        Checked { inner, hasher: Sha256::new(), count: 0, check: self, base, failure: None }
    }
}

/// Yields exactly the entry's size, and fails instead of handing out its last byte when the
/// content's SHA-256 differs from the index's, or more content follows.
struct Checked<'a, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    check: Check<'a>,
    base: Option<&'a str>,
    failure: Option<DeltaError>,
}

impl<R: Read> Checked<'_, R> {
    fn error(&mut self, e: io::Error) -> DeltaError {
        self.failure.take().unwrap_or_else(|| corrupt(format!("the tree could not be generated: {e}")))
    }

    fn into_inner(self) -> R {
        self.inner
    }

    fn fail(&mut self, e: DeltaError) -> io::Error {
        let text = e.to_string();
        self.failure = Some(e);
        io::Error::new(io::ErrorKind::InvalidData, text)
    }

    fn wrong(&self) -> DeltaError {
        match self.base {
            Some(base) => DeltaError::BaseDamaged(base.to_owned()),
            None => DeltaError::WrongOutput(self.check.entry.path.clone()),
        }
    }
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.check.entry.size;
        if self.count == size || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min((size - self.count).min(usize::MAX as u64) as usize);
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => {
                let wrong = match self.base {
                    Some(base) => DeltaError::io("read the base file", Path::new(base), e),
                    None => corrupt(format!("'{}' does not decode: {e}", self.check.entry.path)),
                };
                return Err(self.fail(wrong));
            }
        };
        if n == 0 {
            let wrong = self.wrong();
            return Err(self.fail(wrong));
        }
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.count == size {
            let mut probe = [0u8; 1];
            let more = self.inner.read(&mut probe).unwrap_or(1);
            let sha: Sha256Bytes = std::mem::take(&mut self.hasher).finalize().into();
            if more != 0 || sha != self.check.expected {
                let wrong = self.wrong();
                return Err(self.fail(wrong));
            }
        }
        Ok(n)
    }
}

const CHUNK: usize = 256 * 1024;
/// Largest base file [`Delta::read_ahead`] reads into memory; larger ones are streamed.
const READ_AHEAD_MAX_FILE: u64 = 256 * 1024;
/// Files read ahead at most (with [`READ_AHEAD_MAX_FILE`]: at most 8 MiB held).
const READ_AHEAD_FILES: usize = 32;

/// The producer's end of the tar pipe.
struct ChannelWriter {
    sender: SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.sender.send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the unpacker stopped"))
    }
}

/// The unpacker's end of the tar pipe.
struct ChannelReader {
    receiver: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_parse_and_refuse_overruns() {
        let mut bytes = vec![OP_COPY, 7, 0, 0, 0, OP_NEW];
        bytes.extend_from_slice(&3u64.to_le_bytes());
        bytes.extend_from_slice(b"abc");
        bytes.push(OP_PATCH);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        let ops = parse_ops(&bytes, 3).expect("parse");
        assert_eq!(ops, vec![Op::Copy { base: 7 }, Op::New { len: 3 }, Op::Patch { base: 1, len: 0 }]);
        assert!(parse_ops(&bytes, 2).is_err(), "bytes after the last op");
        assert!(parse_ops(&bytes, 4).is_err(), "an op missing");
        let mut long = vec![OP_NEW];
        long.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_ops(&long, 1).is_err(), "data past the end, without overflow");
        assert!(parse_ops(&[9], 1).is_err(), "unknown op");
    }

    #[test]
    fn window_covers_the_span() {
        assert_eq!(window_log_for(0), 10);
        assert_eq!(window_log_for(1024), 10);
        assert_eq!(window_log_for(1025), 11);
        assert_eq!(window_log_for(u64::MAX), 31);
        assert!(1u64 << window_log_for(3 << 20) >= 3 << 20);
    }
}
