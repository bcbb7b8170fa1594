//! The writer pool: threads that create and fill the small files the walk hands them.
//!
//! # Implementation
//! On ext4 most of an unpack's time is the kernel creating files, not decompression, so the walk
//! (decoding on the calling thread) queues small files' content in batches ([`Job`]) and
//! [`writer_loop`] threads create and write them in parallel with the walk and with each other.
//! A writer also hashes the content it writes when the unpack records the index
//! ([`crate::index`]), so the digests cost the decoding thread nothing. The bytes queued are
//! capped at [`super::IN_FLIGHT_LIMIT`] ([`Shared::try_reserve`]), so memory does not grow with
//! the payload; when the writers are that far behind, the walk writes the batch itself
//! ([`write_job`]) instead of waiting for them, so no thread sits idle on the other's hand-over.
//! The first failure of any thread is kept in [`Shared`] and stops the others.
//!
//! # Alternatives
//! One thread creating every file (what `tar` does) is bound by the kernel's per-file work.
//!
//! # Limitations
//! Files are created by path (the kernel walks the destination's directories for each); their
//! parents exist because the walk creates directories before it queues their files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use super::{Durability, IN_FLIGHT_LIMIT, UnpackError};
use crate::digest::{self, Sha256Bytes};

/// Files per [`Job`] at most: a batch costs one channel hand-over (and its futex wake-ups)
/// instead of one per file, which was three futex calls per file.
pub(super) const BATCH_FILES: usize = 32;
/// Content bytes per [`Job`] at most (one file may exceed it on its own).
pub(super) const BATCH_BYTES: u64 = 256 * 1024;

/// One small file to create.
pub(super) struct FileJob {
    pub(super) path: PathBuf,
    pub(super) exec: bool,
    pub(super) data: Vec<u8>,
    /// The file's entry in the index being recorded, whose digest the writer computes.
    pub(super) slot: Option<usize>,
}

/// A unit of work for a writer thread: a batch of files, written in order.
#[derive(Default)]
pub(super) struct Job {
    pub(super) files: Vec<FileJob>,
    /// Their content bytes, reserved in [`Shared`] until written.
    pub(super) bytes: u64,
}

/// State shared between the decoding thread and the writers.
pub(super) struct Shared {
    pub(super) failed: AtomicBool,
    error: Mutex<Option<UnpackError>>,
    /// Content bytes queued for the writers.
    in_flight: AtomicU64,
    pub(super) written: AtomicU64,
    /// Digests of recorded files, by index slot, in whatever order the writers finish.
    digests: Mutex<Vec<(usize, Sha256Bytes)>>,
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            written: AtomicU64::new(0),
            digests: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn fail(&self, err: UnpackError) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(err);
        }
        self.failed.store(true, Ordering::SeqCst);
    }

    pub(super) fn take_error(&self) -> Option<UnpackError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    /// Records the digest of the file in index slot `slot`.
    pub(super) fn digest(&self, slot: usize, sha: Sha256Bytes) {
        if let Ok(mut digests) = self.digests.lock() {
            digests.push((slot, sha));
        }
    }

    /// The digests recorded so far.
    pub(super) fn take_digests(&self) -> Vec<(usize, Sha256Bytes)> {
        self.digests.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default()
    }

    /// Reserves room for `n` more queued bytes if they fit in [`IN_FLIGHT_LIMIT`] (one
    /// oversized job may always go when nothing is queued); `false`: the caller writes them.
    pub(super) fn try_reserve(&self, n: u64) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used == 0 || used.saturating_add(n) <= IN_FLIGHT_LIMIT).then(|| used.saturating_add(n))
            })
            .is_ok()
    }

    /// Frees `n` reserved bytes.
    pub(super) fn release(&self, n: u64) {
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A writer thread: takes jobs until the walk closes the queue.
pub(super) fn writer_loop(receiver: &Mutex<Receiver<Job>>, shared: &Shared, durability: Durability) {
    loop {
        let job = match receiver.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let bytes = job.bytes;
        write_job(job, shared, durability);
        shared.release(bytes);
    }
}

/// Creates and fills the files of `job` in order, recording their digests; a failure is kept
/// in `shared` (and stops the other threads).
pub(super) fn write_job(job: Job, shared: &Shared, durability: Durability) {
    for file in job.files {
        if shared.failed.load(Ordering::Relaxed) {
            break;
        }
        match write_file(&file.path, file.exec, &file.data, durability) {
            Ok(()) => {
                if let Some(slot) = file.slot {
                    shared.digest(slot, digest::sha256(&file.data));
                }
                shared.written.fetch_add(file.data.len() as u64, Ordering::Relaxed);
            }
            Err(source) => shared.fail(UnpackError::Write { path: file.path, source }),
        }
    }
}

/// Creates a new file (never an existing one, never through a link) with its final mode.
pub(super) fn create_file(path: &Path, exec: bool) -> io::Result<File> {
    create(path, exec, false)
}

/// As [`create_file`], open for reading too (a framed file's digest reads frames back).
pub(super) fn create_file_rw(path: &Path, exec: bool) -> io::Result<File> {
    create(path, exec, true)
}

fn create(path: &Path, exec: bool, read: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(read).write(true).create_new(true);
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
