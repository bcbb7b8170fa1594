//! The tar walk: every entry validated, then created (directories), queued (small files),
//! streamed (large files) or deferred (links).
//!
//! # Implementation
//! [`State`] is the decoding thread's view of the tree being built: the directories, files and
//! links created so far, so that duplicates, entries below a file or link, and hard links to
//! anything but an earlier file are refused before they touch the file system. Small files go to
//! the writer pool ([`super::writer`]); files above [`super::DIRECT_WRITE_THRESHOLD`] are
//! streamed by this thread, or, in a framed payload, decoded in parallel ([`super::parallel`]).
//! Links are created last ([`Deferred::create_links`]), after the whole set is checked, so no
//! write goes through a link.
//!
//! When the unpack records the index, every entry of the archive is recorded in order through
//! [`IndexEntry::new`] (the packer's own constructor), and each file's digest is computed where
//! its bytes are written: by its writer, by this thread for a streamed file, or by the frame
//! decoders in order ([`super::parallel`]).
//!
//! # Alternatives
//! `tar::Archive::unpack` follows links already created and accepts `..` in link targets.
//!
//! # Limitations
//! A recorded unpack (a sea payload) refuses hard links: the packer never writes them.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;

use sha2::{Digest, Sha256};

use super::limits::{LimitReader, StreamLimit};
use super::parallel;
use super::writer::{BATCH_BYTES, BATCH_FILES, FileJob, Job, Shared, create_file, write_job};
use super::{DIRECT_WRITE_THRESHOLD, Durability, Refusal, UnpackError, UnpackOptions, UnpackSummary, refused};
use crate::index::{EntryKind, Index, IndexEntry};
use crate::links;
use crate::paths::{self, PathError};

/// Links, recorded while walking and created once every file exists.
#[derive(Default)]
pub(super) struct Deferred {
    pub(super) symlinks: HashMap<String, String>,
    pub(super) hardlinks: Vec<(String, String)>,
    pub(super) summary: UnpackSummary,
}

impl Deferred {
    pub(super) fn create_links(self, dest: &Path) -> Result<UnpackSummary, UnpackError> {
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
pub(super) struct State<'a> {
    frames: Option<&'a parallel::Frames<'a>>,
    dest: &'a Path,
    options: &'a UnpackOptions<'a>,
    shared: &'a Shared,
    sender: Option<SyncSender<Job>>,
    /// Small files not yet handed to the writers.
    batch: Job,
    dirs: HashSet<String>,
    files: HashSet<String>,
    deferred: Deferred,
    direct_bytes: u64,
    /// Whether to record the index.
    record: bool,
    /// The entries recorded so far; files get their digests in [`complete_index`].
    index: Vec<IndexEntry>,
}

impl<'a> State<'a> {
    pub(super) fn new(
        dest: &'a Path,
        options: &'a UnpackOptions<'a>,
        shared: &'a Shared,
        sender: SyncSender<Job>,
        frames: Option<&'a parallel::Frames<'a>>,
        record: bool,
    ) -> Self {
        Self {
            frames,
            dest,
            options,
            shared,
            sender: Some(sender),
            batch: Job::default(),
            dirs: HashSet::new(),
            files: HashSet::new(),
            deferred: Deferred::default(),
            direct_bytes: 0,
            record,
            // At its final size from the start: growing by doubling copies it and leaves the
            // smaller copies in the heap (cold-start RSS). Capped, for an undeclared count.
            index: if record { Vec::with_capacity(options.max_entries.min(1 << 16) as usize) } else { Vec::new() },
        }
    }

    pub(super) fn walk<R: Read + Seek>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), UnpackError> {
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

    /// Closes the writers' queue; returns the links still to create and the entries recorded.
    pub(super) fn finish_files(&mut self) -> (Deferred, Option<Vec<IndexEntry>>) {
        if !self.shared.failed.load(Ordering::SeqCst) {
            self.send_batch();
        }
        self.sender.take();
        let index = self.record.then(|| std::mem::take(&mut self.index));
        (std::mem::take(&mut self.deferred), index)
    }

    /// Records an entry (when recording); returns its slot.
    fn note(&mut self, path: &str, kind: EntryKind, size: u64, exec: bool, target: Option<&str>) -> Option<usize> {
        if !self.record {
            return None;
        }
        self.index.push(IndexEntry::new(path.to_owned(), kind, size, exec, None, target.map(str::to_owned)));
        Some(self.index.len() - 1)
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            return Ok(());
        }
        // The path is copied once, normalised (this runs for every entry of the archive).
        let normal = match paths::normalize(&entry.path_bytes()) {
            Ok(normal) => normal,
            // `./`, which `tar -cf x.tar -C dir .` writes first, is the destination itself.
            Err(PathError::Empty) if kind == tar::EntryType::Directory => return Ok(()),
            Err(e) => return Err(refused(String::from_utf8_lossy(&entry.path_bytes()).into_owned(), e)),
        };
        let path = match paths::strip_components(&normal, self.options.strip_components).map(str::len) {
            None => return Ok(()),
            Some(len) if len == normal.len() => normal,
            Some(len) => normal[normal.len() - len..].to_owned(),
        };
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
        self.note(path, EntryKind::Dir, 0, false, None);
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
        let slot = self.note(path, EntryKind::File, size, exec, None);
        let full = self.dest.join(path);
        if size > DIRECT_WRITE_THRESHOLD
            && let Some(frames) = self.frames
            && frames.write_file(&full, exec, pos, size, slot)?
        {
            return Ok(());
        }
        if size > DIRECT_WRITE_THRESHOLD {
            return self.write_direct(full, exec, size, content, slot);
        }
        let mut data = Vec::with_capacity(size as usize);
        content.take(size).read_to_end(&mut data).map_err(|e| self.stream_error(e))?;
        if data.len() as u64 != size {
            return Err(UnpackError::Corrupt(io::ErrorKind::UnexpectedEof.into()));
        }
        self.batch.files.push(FileJob { path: full, exec, data, slot });
        self.batch.bytes += size;
        if self.batch.files.len() >= BATCH_FILES || self.batch.bytes >= BATCH_BYTES {
            self.send_batch();
        }
        Ok(())
    }

    /// Hands the batch of small files to the writers, or, when they are
    /// [`super::IN_FLIGHT_LIMIT`] behind, writes it here (waiting for them would leave this
    /// thread idle, and the stream decoder behind it).
    fn send_batch(&mut self) {
        if self.batch.files.is_empty() {
            return;
        }
        let job = std::mem::take(&mut self.batch);
        let bytes = job.bytes;
        if !self.shared.try_reserve(bytes) {
            write_job(job, self.shared, self.options.durability);
            return;
        }
        if let Some(sender) = &self.sender
            && sender.send(job).is_err()
        {
            self.shared.release(bytes);
        }
    }

    fn write_direct(
        &mut self,
        full: PathBuf,
        exec: bool,
        size: u64,
        content: &mut impl Read,
        slot: Option<usize>,
    ) -> Result<(), UnpackError> {
        let mut hasher = slot.map(|_| Sha256::new());
        // No `BufWriter`: the reads are up to 256 KiB already, and its buffer was heap high-water.
        let mut file = create_file(&full, exec).map_err(|source| UnpackError::Write { path: full.clone(), source })?;
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
            file.write_all(&buf[..n]).map_err(|source| UnpackError::Write { path: full.clone(), source })?;
            if let Some(hasher) = &mut hasher {
                hasher.update(&buf[..n]);
            }
            copied += n as u64;
            self.direct_bytes += n as u64;
        }
        if copied != size {
            return Err(UnpackError::Corrupt(io::ErrorKind::UnexpectedEof.into()));
        }
        if let (Some(slot), Some(hasher)) = (slot, hasher) {
            self.shared.digest(slot, hasher.finalize().into());
        }
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
        self.note(path, EntryKind::Symlink, 0, false, Some(&target));
        self.deferred.symlinks.insert(path.to_owned(), target);
        Ok(())
    }

    fn hardlink(&mut self, path: &str, raw_target: &str) -> Result<(), UnpackError> {
        if self.record {
            return Err(refused(path, Refusal::HardLinkInPayload));
        }
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

/// See [`super::index_of`].
pub(super) fn index_of<R: Read>(input: LimitReader<R>, options: &UnpackOptions<'_>) -> Result<Index, UnpackError> {
    let mut archive = tar::Archive::new(input);
    archive.set_ignore_zeros(false);
    let mut entries = Vec::new();
    let mut bytes = 0u64;
    let stream_error = |e: io::Error| match e.get_ref().and_then(|inner| inner.downcast_ref::<StreamLimit>()) {
        Some(limit) => UnpackError::TooLarge { limit: limit.0 },
        None => UnpackError::Corrupt(e),
    };
    let mut buf = vec![0u8; 256 * 1024];
    for entry in archive.entries().map_err(stream_error)? {
        let mut entry = entry.map_err(stream_error)?;
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let path = paths::normalize(&raw).map_err(|e| refused(String::from_utf8_lossy(&raw), e))?;
        if paths::is_reserved(&path) {
            return Err(refused(path, PathError::Reserved));
        }
        if entries.len() as u64 >= options.max_entries {
            return Err(UnpackError::TooManyEntries { limit: options.max_entries });
        }
        let mode = entry.header().mode().map_err(|e| refused(&path, Refusal::Header(e.to_string())))?;
        if mode & 0o7000 != 0 && kind != tar::EntryType::Symlink {
            return Err(refused(path, Refusal::SetId(mode)));
        }
        let recorded = match kind {
            tar::EntryType::Directory => IndexEntry::new(path, EntryKind::Dir, 0, false, None, None),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                bytes = bytes.saturating_add(size);
                if bytes > options.max_bytes {
                    return Err(UnpackError::TooLarge { limit: options.max_bytes });
                }
                let mut hasher = Sha256::new();
                let mut read = 0u64;
                loop {
                    let n = match entry.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(stream_error(e)),
                    };
                    hasher.update(&buf[..n]);
                    read += n as u64;
                }
                if read != size {
                    return Err(UnpackError::Corrupt(io::ErrorKind::UnexpectedEof.into()));
                }
                let sha: crate::digest::Sha256Bytes = hasher.finalize().into();
                IndexEntry::new(path, EntryKind::File, size, mode & 0o111 != 0, Some(&sha), None)
            }
            tar::EntryType::Symlink => {
                let target = link_target(&entry, &path)?;
                links::validate_target(&target).map_err(|e| refused(&path, e))?;
                IndexEntry::new(path, EntryKind::Symlink, 0, false, None, Some(target))
            }
            tar::EntryType::Link => return Err(refused(path, Refusal::HardLinkInPayload)),
            other => return Err(refused(path, Refusal::Special(special_name(other)))),
        };
        entries.push(recorded);
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(stream_error)?;
    Ok(Index { entries })
}

/// Puts the digests the writers computed into the recorded entries; `None` when nothing was
/// recorded (an empty index).
pub(super) fn complete_index(
    entries: Option<Vec<IndexEntry>>,
    digests: Vec<(usize, crate::digest::Sha256Bytes)>,
) -> Result<Index, UnpackError> {
    let Some(mut entries) = entries else { return Ok(Index::default()) };
    for (slot, sha) in digests {
        if let Some(entry) = entries.get_mut(slot) {
            entry.sha256 = Some(crate::digest::to_hex(&sha));
        }
    }
    if let Some(entry) = entries.iter().find(|e| e.kind == EntryKind::File && e.sha256.is_none()) {
        // Every writer that did not fail recorded its file's digest; a failure is reported first.
        return Err(UnpackError::Corrupt(io::Error::other(format!("no digest was recorded for '{}'", entry.path))));
    }
    Ok(Index { entries })
}
