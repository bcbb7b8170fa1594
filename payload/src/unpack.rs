//! Safe, parallel unpacking of a tar stream into a fresh directory.
//!
//! # Implementation
//! A thread of its own decodes the stream ahead (`ahead`); the calling thread walks its entries,
//! validating each one before it touches the file system, creates the directories and hands the
//! small files to a pool of writer threads, because on ext4 the time goes into creating files in
//! the kernel, so overlapping file creation with decoding (and with each other) is what beats
//! `tar -I zstd -xf`. Files above [`DIRECT_WRITE_THRESHOLD`] are streamed by the calling thread,
//! and the bytes held for writers are capped at [`IN_FLIGHT_LIMIT`], so memory does not grow
//! with the payload (past it the walk writes a batch itself rather than wait). A payload of
//! several frames ([`unpack_frames`]) has its large files decoded in parallel instead, straight
//! into the file (`parallel`). The code is split by job: the tar walk and its checks (`walk`),
//! the stream decoded ahead (`ahead`), the writer pool (`writer`), the stream bounds (`limits`)
//! and the framed decoders (`parallel`).
//!
//! [`unpack_indexed`] and [`unpack_frames`] also record the [index](crate::index) of what they
//! write, each file's SHA-256 computed by the thread that writes it, so that a package need not
//! ship its index ([`crate::package::Package::unpack_indexed`] compares it with the manifest's).
//!
//! # What is refused (never skipped)
//! Absolute paths, `..`, control characters and backslashes ([`paths`]); devices, FIFOs, sparse
//! and other special entries; setuid, setgid and sticky bits; symbolic links that resolve
//! outside the tree, directly or through other links ([`links`]); hard links to anything but a
//! regular file earlier in the same archive; duplicate entries; an entry below a link or a file;
//! more entries or file bytes than the caller allows (archive bombs), the decompressed stream as
//! a whole included, so even tar's own extension headers cannot grow memory past the limit.
//!
//! Links are created only after every file is written and every link target is checked against
//! the complete set of links, so no write ever goes through a link: every path written is the
//! destination plus a normalised relative path whose parents are directories this call created.
//!
//! # Limitations
//! Modes are normalised (0755 for directories and executables, 0644 otherwise, minus the umask);
//! owners, times, xattrs and ACLs are not restored. The destination must be a new, empty
//! directory that only this process writes to (the launcher's extraction directory is a fresh
//! temporary sibling inside a 0700 cache).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;

use crate::index::Index;
use crate::links::LinkError;
use crate::paths::PathError;

mod ahead;
mod limits;
mod parallel;
mod walk;
mod writer;

use limits::LimitReader;
pub(crate) use limits::{PER_ENTRY_OVERHEAD, stream_limit};
use walk::State;
use writer::{Job, Shared, writer_loop};

/// Files larger than this are written by the decoding thread itself, streaming.
pub const DIRECT_WRITE_THRESHOLD: u64 = 1024 * 1024;
/// Most bytes of file content waiting for writer threads at any time: four batches, one being
/// written and one queued per writer; beyond it the walk writes the batch itself instead of
/// waiting. It is the heap's high-water mark on a cold start (glibc keeps freed heap resident):
/// 8 MiB cost 6 MiB of peak RSS, and 2 MiB left too little room beside the ahead decoder's
/// pieces under the 32 MB bound.
pub const IN_FLIGHT_LIMIT: u64 = 1024 * 1024;

/// How much durability to buy before returning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Leave flushing to the kernel (fine for temporary or re-creatable output).
    #[default]
    None,
    /// Flush every written file to disk before returning (`syncfs` on Linux, one `fsync` per file
    /// elsewhere), so that a tree renamed into place afterwards survives a power cut.
    Durable,
}

/// Options for [`unpack`].
#[derive(Clone, Copy)]
pub struct UnpackOptions<'a> {
    /// Leading path components dropped from every entry (`--strip-components`); entries left
    /// with nothing are skipped.
    pub strip_components: usize,
    /// Refuse once the regular-file bytes exceed this.
    pub max_bytes: u64,
    /// Refuse once the entries exceed this.
    pub max_entries: u64,
    /// Writer threads (at least 1).
    pub writers: usize,
    /// Durability before returning.
    pub durability: Durability,
    /// Called from the decoding thread with the file bytes unpacked so far.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl std::fmt::Debug for UnpackOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnpackOptions")
            .field("strip_components", &self.strip_components)
            .field("max_bytes", &self.max_bytes)
            .field("max_entries", &self.max_entries)
            .field("writers", &self.writers)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl Default for UnpackOptions<'_> {
    fn default() -> Self {
        Self {
            strip_components: 0,
            max_bytes: 64 * 1024 * 1024 * 1024,
            max_entries: 10_000_000,
            writers: default_writers(),
            durability: Durability::None,
            progress: None,
        }
    }
}

/// Writer threads for this machine: one per core, at least two (file creation blocks in the
/// kernel, so two writers help even on one core).
pub fn default_writers() -> usize {
    crate::cpus::available().clamp(2, 8)
}

/// What was unpacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackSummary {
    /// Entries created (directories, files, links).
    pub entries: u64,
    /// Bytes of regular-file content.
    pub bytes: u64,
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The path itself.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A symbolic link.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A device, FIFO, socket or other special file.
    #[error("{0} entries are not allowed")]
    Special(&'static str),
    /// setuid, setgid or sticky bits.
    #[error("setuid, setgid and sticky bits are not allowed (mode {0:o})")]
    SetId(u32),
    /// A hard link whose target is not a regular file earlier in the archive.
    #[error("hard link to '{0}', which is not a regular file earlier in the archive")]
    HardLink(String),
    /// The same path twice.
    #[error("duplicate entry")]
    Duplicate,
    /// A path below a link or a regular file.
    #[error("path goes through '{0}', which is not a directory of the archive")]
    NotBelowDirectory(String),
    /// A header field that does not parse.
    #[error("malformed header: {0}")]
    Header(String),
    /// A hard link in a sea payload, whose packer stores copies.
    #[error("hard links are not allowed in a sea payload (the packer stores copies)")]
    HardLinkInPayload,
}

/// Why unpacking failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// A hostile or malformed entry.
    #[error("refused archive entry '{path}': {reason}")]
    Refused { path: String, reason: Refusal },
    /// The stream is not a readable (compressed) tar archive.
    #[error("archive is corrupt or truncated: {0}")]
    Corrupt(#[source] io::Error),
    /// More entries than allowed.
    #[error("archive has more than {limit} entries (the declared count): refusing a possible archive bomb")]
    TooManyEntries { limit: u64 },
    /// More bytes than allowed.
    #[error("archive unpacks to more than {limit} bytes (the declared size): refusing a possible archive bomb")]
    TooLarge { limit: u64 },
    /// Writing to the destination failed.
    #[error("could not write {}: {source}{}", path.display(), hint(source))]
    Write { path: PathBuf, source: io::Error },
}

impl UnpackError {
    /// Whether the failure is the disk filling up.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, UnpackError::Write { source, .. } if is_storage_full(source))
    }
}

/// Whether an I/O error means "no space left" or "quota exceeded" or "file too large".
pub fn is_storage_full(e: &io::Error) -> bool {
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        return code == libc::ENOSPC || code == libc::EDQUOT || code == libc::EFBIG;
    }
    e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::FileTooLarge
}

fn hint(e: &io::Error) -> &'static str {
    if is_storage_full(e) { " (the disk or quota is full: free some space and try again)" } else { "" }
}

fn refused(path: impl Into<String>, reason: impl Into<Refusal>) -> UnpackError {
    UnpackError::Refused { path: path.into(), reason: reason.into() }
}

/// Unpacks the tar stream `input` into `dest`, an existing empty directory.
///
/// On error, `dest` holds a partial tree: callers unpack into a temporary directory and remove
/// it on failure (the launcher and packer both do).
pub fn unpack(input: impl Read + Send, dest: &Path, options: &UnpackOptions<'_>) -> Result<UnpackSummary, UnpackError> {
    unpack_with(Source::Sequential(input), dest, options, false).map(|(summary, _)| summary)
}

/// As [`unpack`], and records the [index](crate::index) of what was written, in archive order:
/// the index the packer made of the same tree, if the stream is a sea payload. Hard links are
/// refused ([`Refusal::HardLinkInPayload`]).
pub fn unpack_indexed(
    input: impl Read + Send,
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(UnpackSummary, Index), UnpackError> {
    unpack_with(Source::Sequential(input), dest, options, true)
}

/// Unpacks a payload of several frames ([`crate::frames`]), decoding large files in parallel,
/// and records its index as [`unpack_indexed`] does.
///
/// `package` is the file the payload is in, at `payload_start`, which frames are read from;
/// `frames` is its checked table. The caller verifies the payload's digest (this reads only what
/// it decodes). The same checks as [`unpack`] apply, and the same caveat on error.
pub fn unpack_frames(
    package: &File,
    payload_start: u64,
    frames: &[crate::frames::Frame],
    dest: &Path,
    options: &UnpackOptions<'_>,
) -> Result<(UnpackSummary, Index), UnpackError> {
    let ctx = parallel::Frames::new(frames, package, payload_start);
    unpack_with::<io::Empty>(Source::Framed(&ctx), dest, options, true)
}

/// Where the tar stream comes from.
enum Source<'a, R> {
    /// A decoder, read ahead of the walk by a thread of its own.
    Sequential(R),
    /// The frames of a payload, decoded ahead of the walk, large files in parallel.
    Framed(&'a parallel::Frames<'a>),
}

fn unpack_with<R: Read + Send>(
    source: Source<'_, R>,
    dest: &Path,
    options: &UnpackOptions<'_>,
    record: bool,
) -> Result<(UnpackSummary, Index), UnpackError> {
    let shared = Shared::new();
    let (sender, receiver) = sync_channel::<Job>(16);
    let receiver = Mutex::new(receiver);
    let writers = options.writers.max(1);
    let result = std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| writer_loop(&receiver, &shared, options.durability));
        }
        let shared = &shared;
        let (ctx, stream) = match source {
            Source::Sequential(input) => {
                let (tx, stream) = ahead::ahead_channel(None);
                scope.spawn(move || ahead::read_ahead(input, tx, shared));
                (None, stream)
            }
            Source::Framed(ctx) => {
                let (tx, stream) = ahead::ahead_channel(Some(ctx));
                let (queue, package) = (&ctx.queue, ctx.package);
                for _ in 0..ctx.decoders() {
                    scope.spawn(move || parallel::decode_loop(queue, package, shared, options.durability));
                }
                scope.spawn(move || parallel::decode_ahead(ctx, tx, shared, options.durability));
                (Some(ctx), stream)
            }
        };
        let limited = LimitReader { inner: stream, left: stream_limit(options), limit: options.max_bytes };
        let mut archive = tar::Archive::new(limited);
        archive.set_ignore_zeros(false);
        let mut state = State::new(dest, options, shared, sender, ctx, record);
        // The rest of the stream (padding after tar's end blocks) is read too, so that every
        // frame is decoded and checked; not after a writer failed (that error is reported).
        let walked = state.walk(&mut archive).and_then(|()| {
            if shared.failed.load(Ordering::SeqCst) { Ok(()) } else { drain(&mut archive.into_inner()) }
        });
        if walked.is_err() {
            shared.failed.store(true, Ordering::SeqCst);
        }
        let deferred = state.finish_files();
        // The walk's stream is gone (`archive` is consumed or dropped), so the ahead decoder
        // cannot block on it; closing the queue ends the decoding threads.
        if let Some(ctx) = ctx {
            ctx.queue.close();
        }
        walked.map(|()| deferred)
    });
    // A thread's failure first: the stream producers stop on it, which the walk may then have
    // seen as a damaged stream.
    if let Some(err) = shared.take_error() {
        return Err(err);
    }
    let (deferred, entries) = result?;
    let index = walk::complete_index(entries, shared.take_digests())?;
    let summary = deferred.create_links(dest)?;
    if options.durability == Durability::Durable {
        sync_tree(dest)?;
    }
    Ok((summary, index))
}

/// The index of the sea payload `input` (a decoded tar stream), without writing anything: every
/// entry recorded as [`unpack_indexed`] records it, each file's content hashed as it is read.
/// Paths, kinds and link targets are checked as the unpacker checks them one by one (not
/// duplicates or links through links: the caller compares the result with the index the manifest
/// pins, which a payload with either cannot have); the limits of `options` apply.
pub fn index_of(input: impl Read, options: &UnpackOptions<'_>) -> Result<Index, UnpackError> {
    walk::index_of(LimitReader { inner: input, left: stream_limit(options), limit: options.max_bytes }, options)
}

/// Reads the rest of the stream (padding after tar's end blocks), so that a digest computed over
/// the compressed input covers all of it.
fn drain(reader: &mut impl Read) -> Result<(), UnpackError> {
    io::copy(reader, &mut io::sink()).map(drop).map_err(UnpackError::Corrupt)
}

/// Makes the unpacked tree durable.
fn sync_tree(dest: &Path) -> Result<(), UnpackError> {
    let dir = File::open(dest).map_err(|source| UnpackError::Write { path: dest.to_owned(), source })?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs takes any open descriptor of the file system to flush; `dir` is open for
        // the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(UnpackError::Write { path: dest.to_owned(), source: io::Error::last_os_error() });
        }
    }
    #[cfg(not(target_os = "linux"))]
    dir.sync_all().map_err(|source| UnpackError::Write { path: dest.to_owned(), source })?;
    Ok(())
}

#[cfg(test)]
mod tests;
