//! Safe, parallel unpacking of a tar stream into a fresh directory.
//!
//! # Implementation
//! The calling thread decodes the stream and walks its entries, validating each one before it
//! touches the file system; small files are handed to a pool of writer threads, because on ext4
//! the time goes into creating files in the kernel, not into decompression, so overlapping file
//! creation with decoding (and with each other) is what beats `tar -I zstd -xf`. Files above
//! [`DIRECT_WRITE_THRESHOLD`] are streamed by the calling thread, and the bytes held for writers
//! are capped at [`IN_FLIGHT_LIMIT`], so memory does not grow with the payload. A payload of
//! several frames ([`unpack_frames`]) has its large files decoded in parallel instead, straight
//! into the file (`parallel`).
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

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex};

use crate::links::{self, LinkError};

mod parallel;
use crate::paths::{self, PathError};

/// Files larger than this are written by the decoding thread itself, streaming.
pub const DIRECT_WRITE_THRESHOLD: u64 = 1024 * 1024;
/// Most bytes of file content waiting for writer threads at any time.
pub const IN_FLIGHT_LIMIT: u64 = 8 * 1024 * 1024;
/// Tar overhead allowed per entry when bounding the decompressed stream (headers, long names,
/// PAX records, padding).
pub(crate) const PER_ENTRY_OVERHEAD: u64 = 8 * 1024;

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
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
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
pub fn unpack(input: impl Read, dest: &Path, options: &UnpackOptions<'_>) -> Result<UnpackSummary, UnpackError> {
    unpack_with(Skipping { inner: input, pos: 0 }, dest, options, None)
}

/// Unpacks a payload of several frames ([`crate::frames`]), decoding large files in parallel.
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
) -> Result<UnpackSummary, UnpackError> {
    let ctx = parallel::Frames::new(frames, package, payload_start).map_err(UnpackError::Corrupt)?;
    let stream = parallel::FramedStream::new(&ctx);
    unpack_with(stream, dest, options, Some(&ctx))
}

fn unpack_with<R: Read + Seek>(
    input: R,
    dest: &Path,
    options: &UnpackOptions<'_>,
    frames: Option<&parallel::Frames<'_>>,
) -> Result<UnpackSummary, UnpackError> {
    let stream_limit = options
        .max_bytes
        .saturating_add(options.max_entries.saturating_mul(PER_ENTRY_OVERHEAD))
        .saturating_add(1024 * 1024);
    let limited = LimitReader { inner: input, left: stream_limit, limit: options.max_bytes };
    let mut archive = tar::Archive::new(limited);
    archive.set_ignore_zeros(false);
    let shared = Shared::new();
    let (sender, receiver) = sync_channel::<Job>(256);
    let receiver = Mutex::new(receiver);
    let writers = options.writers.max(1);
    let result = std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| writer_loop(&receiver, &shared, options.durability));
        }
        if let Some(ctx) = frames {
            let (queue, package, shared) = (&ctx.queue, ctx.package, &shared);
            for _ in 0..ctx.decoders() {
                scope.spawn(move || parallel::decode_loop(queue, package, shared, options.durability));
            }
        }
        let mut state = State::new(dest, options, &shared, sender, frames);
        let walked = state.walk(&mut archive);
        if walked.is_err() {
            shared.failed.store(true, Ordering::SeqCst);
        }
        let deferred = state.finish_files();
        if let Some(ctx) = frames {
            ctx.queue.close();
        }
        walked.map(|()| deferred)
    });
    let deferred = result?;
    if let Some(err) = shared.take_error() {
        return Err(err);
    }
    let mut archive_reader = archive.into_inner();
    drain(&mut archive_reader)?;
    let summary = deferred.create_links(dest)?;
    if options.durability == Durability::Durable {
        sync_tree(dest)?;
    }
    Ok(summary)
}

/// Reads the rest of the stream (padding after tar's end blocks), so that a digest computed over
/// the compressed input covers all of it.
fn drain(reader: &mut impl Read) -> Result<(), UnpackError> {
    io::copy(reader, &mut io::sink()).map(drop).map_err(UnpackError::Corrupt)
}

/// A unit of work for a writer thread.
struct Job {
    path: PathBuf,
    exec: bool,
    data: Vec<u8>,
}

/// State shared between the decoding thread and the writers.
struct Shared {
    failed: AtomicBool,
    error: Mutex<Option<UnpackError>>,
    in_flight: Mutex<u64>,
    space: Condvar,
    written: AtomicU64,
}

impl Shared {
    fn new() -> Self {
        Self {
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
            in_flight: Mutex::new(0),
            space: Condvar::new(),
            written: AtomicU64::new(0),
        }
    }

    fn fail(&self, err: UnpackError) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(err);
        }
        self.failed.store(true, Ordering::SeqCst);
        self.space.notify_all();
    }

    fn take_error(&self) -> Option<UnpackError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Waits until `n` more bytes fit in [`IN_FLIGHT_LIMIT`] (one oversized job may always go).
    fn reserve(&self, n: u64) {
        let Ok(mut used) = self.in_flight.lock() else { return };
        while *used > 0 && *used + n > IN_FLIGHT_LIMIT && !self.failed.load(Ordering::SeqCst) {
            used = match self.space.wait(used) {
                Ok(g) => g,
                Err(_) => return,
            };
        }
        *used += n;
    }

    fn release(&self, n: u64) {
        if let Ok(mut used) = self.in_flight.lock() {
            *used = used.saturating_sub(n);
        }
        self.space.notify_all();
    }
}

fn writer_loop(receiver: &Mutex<Receiver<Job>>, shared: &Shared, durability: Durability) {
    loop {
        let job = match receiver.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let len = job.data.len() as u64;
        if !shared.failed.load(Ordering::SeqCst) {
            match write_file(&job.path, job.exec, &job.data, durability) {
                Ok(()) => {
                    shared.written.fetch_add(len, Ordering::Relaxed);
                }
                Err(source) => shared.fail(UnpackError::Write { path: job.path, source }),
            }
        }
        shared.release(len);
    }
}

fn create_file(path: &Path, exec: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if exec { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = exec;
    options.open(path)
}

fn write_file(path: &Path, exec: bool, data: &[u8], durability: Durability) -> io::Result<()> {
    let mut file = create_file(path, exec)?;
    file.write_all(data)?;
    if durability == Durability::Durable && !cfg!(target_os = "linux") {
        file.sync_all()?;
    }
    Ok(())
}

/// Links, recorded while walking and created once every file exists.
#[derive(Default)]
struct Deferred {
    symlinks: HashMap<String, String>,
    hardlinks: Vec<(String, String)>,
    summary: UnpackSummary,
}

impl Deferred {
    fn create_links(self, dest: &Path) -> Result<UnpackSummary, UnpackError> {
        links::check_all(&self.symlinks).map_err(|(path, e)| refused(path, e))?;
        let mut names: Vec<&String> = self.symlinks.keys().collect();
        names.sort();
        for name in names {
            let path = dest.join(name);
            make_symlink(&self.symlinks[name], &path).map_err(|source| UnpackError::Write { path, source })?;
        }
        for (link, target) in &self.hardlinks {
            let path = dest.join(link);
            fs::hard_link(dest.join(target), &path).map_err(|source| UnpackError::Write { path, source })?;
        }
        Ok(self.summary)
    }
}

fn make_symlink(target: &str, path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, path)
    }
    #[cfg(windows)]
    {
        // Untested: Windows needs to know whether the target is a directory.
        std::os::windows::fs::symlink_file(target.replace('/', "\\"), path)
    }
}

/// The decoding thread's view of the tree being built.
struct State<'a> {
    frames: Option<&'a parallel::Frames<'a>>,
    dest: &'a Path,
    options: &'a UnpackOptions<'a>,
    shared: &'a Shared,
    sender: Option<SyncSender<Job>>,
    dirs: HashSet<String>,
    files: HashSet<String>,
    deferred: Deferred,
    direct_bytes: u64,
}

impl<'a> State<'a> {
    fn new(
        dest: &'a Path,
        options: &'a UnpackOptions<'a>,
        shared: &'a Shared,
        sender: SyncSender<Job>,
        frames: Option<&'a parallel::Frames<'a>>,
    ) -> Self {
        Self {
            frames,
            dest,
            options,
            shared,
            sender: Some(sender),
            dirs: HashSet::new(),
            files: HashSet::new(),
            deferred: Deferred::default(),
            direct_bytes: 0,
        }
    }

    fn walk<R: Read + Seek>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), UnpackError> {
        // With seeking, content the walk does not read (a claimed file's) is skipped, not read.
        let entries = archive.entries_with_seek().map_err(|e| self.stream_error(e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.stream_error(e))?;
            if self.shared.failed.load(Ordering::SeqCst) {
                break;
            }
            self.entry(entry)?;
            if let Some(progress) = self.options.progress {
                progress(self.shared.written.load(Ordering::Relaxed) + self.direct_bytes);
            }
        }
        Ok(())
    }

    /// Turns a read error into [`UnpackError::TooLarge`] when the stream limit caused it.
    fn stream_error(&self, e: io::Error) -> UnpackError {
        if let Some(limit) = e.get_ref().and_then(|inner| inner.downcast_ref::<StreamLimit>()) {
            return UnpackError::TooLarge { limit: limit.0 };
        }
        UnpackError::Corrupt(e)
    }

    /// Closes the writers' queue and waits for them; returns the links still to create.
    fn finish_files(&mut self) -> Deferred {
        self.sender.take();
        std::mem::take(&mut self.deferred)
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw).into_owned();
        let normal = match paths::normalize(&raw) {
            Ok(normal) => normal,
            // `./`, which `tar -cf x.tar -C dir .` writes first, is the destination itself.
            Err(PathError::Empty) if kind == tar::EntryType::Directory => return Ok(()),
            Err(e) => return Err(refused(&display, e)),
        };
        let Some(path) = paths::strip_components(&normal, self.options.strip_components) else {
            return Ok(());
        };
        let path = path.to_owned();
        if paths::is_reserved(&path) {
            return Err(refused(path, PathError::Reserved));
        }
        self.count_entry()?;
        let mode = entry.header().mode().map_err(|e| refused(&path, Refusal::Header(e.to_string())))?;
        if mode & 0o7000 != 0 && kind != tar::EntryType::Symlink {
            return Err(refused(path, Refusal::SetId(mode)));
        }
        match kind {
            tar::EntryType::Directory => self.directory(&path),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                let pos = entry.raw_file_position();
                self.regular(&path, mode & 0o111 != 0, size, pos, &mut entry)
            }
            tar::EntryType::Symlink => {
                let target = link_target(&entry, &path)?;
                self.symlink(&path, target)
            }
            tar::EntryType::Link => {
                let target = link_target(&entry, &path)?;
                self.hardlink(&path, &target)
            }
            other => Err(refused(path, Refusal::Special(special_name(other)))),
        }
    }

    fn count_entry(&mut self) -> Result<(), UnpackError> {
        self.deferred.summary.entries += 1;
        if self.deferred.summary.entries > self.options.max_entries {
            return Err(UnpackError::TooManyEntries { limit: self.options.max_entries });
        }
        Ok(())
    }

    fn taken(&self, path: &str) -> bool {
        self.dirs.contains(path) || self.files.contains(path) || self.deferred.symlinks.contains_key(path)
    }

    /// Makes sure every ancestor of `path` is a directory of this archive, creating missing ones
    /// (archives such as `npm pack`'s do not list their directories).
    fn ensure_parent(&mut self, path: &str) -> Result<(), UnpackError> {
        let parent = paths::parent(path);
        if parent.is_empty() || self.dirs.contains(parent) {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut cursor = parent;
        while !cursor.is_empty() && !self.dirs.contains(cursor) {
            if self.files.contains(cursor) || self.deferred.symlinks.contains_key(cursor) {
                return Err(refused(path, Refusal::NotBelowDirectory(cursor.to_owned())));
            }
            missing.push(cursor.to_owned());
            cursor = paths::parent(cursor);
        }
        for dir in missing.into_iter().rev() {
            self.mkdir(&dir)?;
        }
        Ok(())
    }

    fn mkdir(&mut self, path: &str) -> Result<(), UnpackError> {
        let full = self.dest.join(path);
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o755);
        }
        builder.create(&full).map_err(|source| UnpackError::Write { path: full, source })?;
        self.dirs.insert(path.to_owned());
        Ok(())
    }

    fn directory(&mut self, path: &str) -> Result<(), UnpackError> {
        if self.dirs.contains(path) {
            return Ok(());
        }
        if self.taken(path) {
            return Err(refused(path, Refusal::Duplicate));
        }
        self.ensure_parent(path)?;
        self.mkdir(path)
    }

    fn add_bytes(&mut self, size: u64) -> Result<(), UnpackError> {
        self.deferred.summary.bytes = self.deferred.summary.bytes.saturating_add(size);
        if self.deferred.summary.bytes > self.options.max_bytes {
            return Err(UnpackError::TooLarge { limit: self.options.max_bytes });
        }
        Ok(())
    }

    fn regular(
        &mut self,
        path: &str,
        exec: bool,
        size: u64,
        pos: u64,
        content: &mut impl Read,
    ) -> Result<(), UnpackError> {
        if self.taken(path) {
            return Err(refused(path, Refusal::Duplicate));
        }
        self.add_bytes(size)?;
        self.ensure_parent(path)?;
        self.files.insert(path.to_owned());
        let full = self.dest.join(path);
        if size > DIRECT_WRITE_THRESHOLD
            && let Some(frames) = self.frames
            && frames.write_file(self.shared, self.options.durability, &full, exec, pos, size)?
        {
            return Ok(());
        }
        if size > DIRECT_WRITE_THRESHOLD {
            return self.write_direct(full, exec, size, content);
        }
        let mut data = Vec::with_capacity(size as usize);
        content.take(size).read_to_end(&mut data).map_err(|e| self.stream_error(e))?;
        if data.len() as u64 != size {
            return Err(UnpackError::Corrupt(io::ErrorKind::UnexpectedEof.into()));
        }
        self.shared.reserve(size);
        let job = Job { path: full, exec, data };
        if let Some(sender) = &self.sender
            && sender.send(job).is_err()
        {
            self.shared.release(size);
        }
        Ok(())
    }

    fn write_direct(
        &mut self,
        full: PathBuf,
        exec: bool,
        size: u64,
        content: &mut impl Read,
    ) -> Result<(), UnpackError> {
        let file = create_file(&full, exec).map_err(|source| UnpackError::Write { path: full.clone(), source })?;
        let mut writer = io::BufWriter::with_capacity(256 * 1024, file);
        let mut reader = content.take(size);
        let mut buf = vec![0u8; 256 * 1024];
        let mut copied = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.stream_error(e)),
            };
            writer.write_all(&buf[..n]).map_err(|source| UnpackError::Write { path: full.clone(), source })?;
            copied += n as u64;
            self.direct_bytes += n as u64;
        }
        if copied != size {
            return Err(UnpackError::Corrupt(io::ErrorKind::UnexpectedEof.into()));
        }
        let file =
            writer.into_inner().map_err(|e| UnpackError::Write { path: full.clone(), source: e.into_error() })?;
        if self.options.durability == Durability::Durable && !cfg!(target_os = "linux") {
            file.sync_all().map_err(|source| UnpackError::Write { path: full, source })?;
        }
        Ok(())
    }

    fn symlink(&mut self, path: &str, target: String) -> Result<(), UnpackError> {
        if self.taken(path) {
            return Err(refused(path, Refusal::Duplicate));
        }
        links::validate_target(&target).map_err(|e| refused(path, e))?;
        self.ensure_parent(path)?;
        self.deferred.symlinks.insert(path.to_owned(), target);
        Ok(())
    }

    fn hardlink(&mut self, path: &str, raw_target: &str) -> Result<(), UnpackError> {
        if self.taken(path) {
            return Err(refused(path, Refusal::Duplicate));
        }
        let target = paths::normalize_str(raw_target)
            .ok()
            .and_then(|t| paths::strip_components(&t, self.options.strip_components).map(str::to_owned))
            .filter(|t| self.files.contains(t))
            .ok_or_else(|| refused(path, Refusal::HardLink(raw_target.to_owned())))?;
        self.ensure_parent(path)?;
        self.files.insert(path.to_owned());
        self.deferred.hardlinks.push((path.to_owned(), target));
        Ok(())
    }
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<String, UnpackError> {
    let raw = entry.link_name_bytes().ok_or_else(|| refused(path, Refusal::Header("link without a target".into())))?;
    String::from_utf8(raw.into_owned()).map_err(|_| refused(path, PathError::NotUtf8))
}

fn special_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::GNUSparse => "sparse file",
        _ => "special",
    }
}

/// Marker error for the decompressed-stream limit.
#[derive(Debug)]
struct StreamLimit(u64);

impl std::fmt::Display for StreamLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed stream exceeds its limit")
    }
}

impl std::error::Error for StreamLimit {}

/// Caps the decompressed stream, so that no part of it (tar extension headers included) can grow
/// memory or disk use past what the caller allowed.
struct LimitReader<R> {
    inner: R,
    left: u64,
    limit: u64,
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

/// A stream that "seeks" forward by reading (the plain, sequential input).
struct Skipping<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Skipping<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Seek for Skipping<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = to else {
            return Err(io::Error::other("the archive stream seeks forward only"));
        };
        let delta = u64::try_from(delta).map_err(|_| io::Error::other("the archive stream seeks forward only"))?;
        let copied = io::copy(&mut self.by_ref().take(delta), &mut io::sink())?;
        if copied != delta {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected EOF during skip"));
        }
        Ok(self.pos)
    }
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
