//! Unpacking a payload of several frames ([`crate::frames`]): large files decoded in parallel.
//!
//! # Implementation
//! The *ahead decoder* ([`decode_ahead`], a thread of its own) decodes the stream frames in
//! order (each read from its own range of the package file) into the pieces of the walk's stream
//! ([`super::ahead`]). So decompression, a third of a cold start's CPU time, no longer runs on the
//! walk's thread, which before was the critical path (it decoded, parsed, created directories
//! and fed the writers, and they waited for it). A data frame is not read at all: it stands in
//! the tar stream as a run of zeros that the walk seeks over.
//!
//! When the walk reaches a regular file whose content is exactly a run of data frames starting
//! at its data offset, it *claims* them, creates the file at its final size and queues one job
//! per frame; decoding threads take jobs from the queue, decode each frame with a streaming
//! decoder and write it at its offset in the file. The ahead decoder takes queued jobs too, at
//! each frame boundary (its decoder is free there) and once the stream is done. So two decoders
//! exist on two cores whatever the number of frames, and memory stays bounded by their windows
//! and the pieces in flight.
//!
//! Every check of the sequential path still applies (the tar walk is the same code), and: a data
//! frame that the walk reaches unclaimed is refused (a table that does not match the archive,
//! checked when the walk reaches it, after it had the chance to claim it); every frame must
//! decode to exactly its table length and end exactly at its compressed end. A decoding error
//! reaches the walk as a read error of its stream, in stream order.
//!
//! # Alternatives
//! Cutting stream frames every few MiB would let several threads decode the stream itself, at
//! the cost of compression history at every cut and a frame's worth of buffer per decoder; one
//! ahead decoder already takes decompression off the critical path on two cores.
//!
//! A recorded index needs each large file's SHA-256, which is sequential while its frames are
//! decoded in any order: the decoder of the frame that is next in its file's digest hashes it as
//! it decodes; a frame finished out of turn is hashed later, read back from the page cache, by
//! whichever thread owns the file's hasher then, without holding a lock ([`FileDigest`]).
//!
//! # Limitations
//! On ext4 two writers of one file take turns on its inode lock, so the copy into the page cache
//! of one large file is not parallel; decoding is.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

use super::ahead::{AheadTx, Piece};
use super::writer::Shared;
use super::{Durability, UnpackError};
use crate::frames::{Frame, FrameDecoder, FrameKind, mismatch};
use crate::section::SectionReader;

/// Bytes decoded per write.
const CHUNK: usize = 256 * 1024;

/// The running SHA-256 of one large file whose frames decode in any order.
pub(super) struct FileDigest {
    slot: usize,
    state: Mutex<DigestState>,
}

struct DigestState {
    /// The hasher, unless a thread owns it (hashing a frame without holding the lock).
    hasher: Option<Sha256>,
    /// The first frame (of this file) not yet hashed.
    next: usize,
    /// Frames decoded, by their number in the file.
    done: Vec<bool>,
    /// Each frame's offset and length in the file.
    spans: Vec<(u64, u64)>,
}

impl FileDigest {
    /// Takes the hasher if frame `n` is the next to hash: its decoder then hashes it as it goes.
    fn take_if_next(&self, n: usize) -> Option<Sha256> {
        let mut s = self.state.lock().ok()?;
        if s.next == n { s.hasher.take() } else { None }
    }

    /// Frame `n` is decoded (and hashed into `hasher` when its decoder owned it). Whoever owns
    /// the hasher then hashes the decoded frames that follow, read back from the file, without
    /// holding the lock, so the other decoders never wait for it; it records the digest once
    /// every frame is hashed. A frame finished while another thread owns the hasher is left to
    /// that thread, which checks `done` under the lock before it gives the hasher back.
    fn frame_done(
        &self,
        n: usize,
        hasher: Option<Sha256>,
        job: &FrameJob,
        shared: &Shared,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let poisoned = || io::Error::other("a digest lock was poisoned");
        let mut s = self.state.lock().map_err(|_| poisoned())?;
        s.done[n] = true;
        let mut own = hasher;
        if own.is_some() {
            s.next = n + 1;
        } else if s.next < s.done.len() && s.done[s.next] {
            own = s.hasher.take();
        }
        loop {
            let Some(mut hasher) = own.take() else { return Ok(()) };
            if s.next == s.done.len() {
                drop(s);
                shared.digest(self.slot, hasher.finalize().into());
                return Ok(());
            }
            if !s.done[s.next] {
                s.hasher = Some(hasher);
                return Ok(());
            }
            let (mut at, len) = s.spans[s.next];
            drop(s);
            let end = at + len;
            while at < end {
                let want = buf.len().min(usize::try_from(end - at).unwrap_or(usize::MAX));
                read_at(&job.file, &mut buf[..want], at)?;
                hasher.update(&buf[..want]);
                at += want as u64;
            }
            s = self.state.lock().map_err(|_| poisoned())?;
            s.next += 1;
            own = Some(hasher);
        }
    }
}

/// One data frame to decode into its file.
pub(super) struct FrameJob {
    file: Arc<File>,
    /// The file's digest being computed, and this frame's number in the file.
    digest: Option<(Arc<FileDigest>, usize)>,
    path: PathBuf,
    /// Compressed range, in the package file.
    c_start: u64,
    c_len: u64,
    u_len: u64,
    /// Where its bytes go in the file.
    offset: u64,
}

/// Jobs for the decoding threads; the calling thread takes from it too, without waiting.
#[derive(Default)]
pub(super) struct JobQueue {
    jobs: Mutex<(VecDeque<FrameJob>, bool)>,
    ready: Condvar,
}

impl JobQueue {
    fn push_all(&self, jobs: Vec<FrameJob>) {
        if let Ok(mut q) = self.jobs.lock() {
            q.0.extend(jobs);
        }
        self.ready.notify_all();
    }

    fn try_pop(&self) -> Option<FrameJob> {
        self.jobs.lock().ok().and_then(|mut q| q.0.pop_front())
    }

    /// Waits for a job; `None` once closed and empty.
    fn pop_wait(&self) -> Option<FrameJob> {
        let mut q = self.jobs.lock().ok()?;
        loop {
            if let Some(job) = q.0.pop_front() {
                return Some(job);
            }
            if q.1 {
                return None;
            }
            q = self.ready.wait(q).ok()?;
        }
    }

    pub(super) fn close(&self) {
        if let Ok(mut q) = self.jobs.lock() {
            q.1 = true;
        }
        self.ready.notify_all();
    }
}

/// What the walk needs to claim frames (calling thread only).
pub(super) struct Frames<'a> {
    pub(super) frames: &'a [Frame],
    /// Set by the walk (the only writer) when it claims a data frame; read by the walk's
    /// stream, so relaxed ordering suffices.
    pub(super) claimed: Vec<AtomicBool>,
    pub(super) queue: JobQueue,
    pub(super) package: &'a File,
    pub(super) payload_start: u64,
}

impl<'a> Frames<'a> {
    pub(super) fn new(frames: &'a [Frame], package: &'a File, payload_start: u64) -> Self {
        Self {
            frames,
            claimed: frames.iter().map(|_| AtomicBool::new(false)).collect(),
            queue: JobQueue::default(),
            package,
            payload_start,
        }
    }

    /// Decoding threads of data frames to start besides the ahead decoder.
    pub(super) fn decoders(&self) -> usize {
        if self.frames.iter().any(|f| f.kind == FrameKind::Data) {
            crate::cpus::available().saturating_sub(1).clamp(1, 3)
        } else {
            0
        }
    }

    /// Claims the data frames that hold exactly the `size` bytes at `pos` of the tar stream.
    fn claim(&self, pos: u64, size: u64) -> Option<std::ops::Range<usize>> {
        let first = self.frames.partition_point(|f| f.u_off < pos);
        let end = pos.checked_add(size)?;
        let mut last = first;
        loop {
            let f = self.frames.get(last)?;
            if f.kind != FrameKind::Data || f.u_off >= end || self.claimed[last].load(Ordering::Relaxed) {
                return None;
            }
            last += 1;
            match f.u_end() {
                e if e == end => break,
                e if e > end => return None,
                _ => {}
            }
        }
        if self.frames.get(first)?.u_off != pos {
            return None;
        }
        for c in &self.claimed[first..last] {
            c.store(true, Ordering::Relaxed);
        }
        Some(first..last)
    }

    /// If the file's content is a run of data frames, creates the file, decodes them (with the
    /// decoding threads) and returns `true`. With a `slot`, its digest is recorded there.
    pub(super) fn write_file(
        &self,
        full: &std::path::Path,
        exec: bool,
        pos: u64,
        size: u64,
        slot: Option<usize>,
    ) -> Result<bool, UnpackError> {
        let Some(run) = self.claim(pos, size) else { return Ok(false) };
        let file = super::writer::create_file_rw(full, exec)
            .map_err(|source| UnpackError::Write { path: full.to_owned(), source })?;
        // At its final size first: the frames' writes, in any order, then never extend the file
        // (on ext4 each extending write also updates the size under the inode's lock).
        file.set_len(size).map_err(|source| UnpackError::Write { path: full.to_owned(), source })?;
        let file = Arc::new(file);
        let frames = &self.frames[run];
        let digest = slot.map(|slot| {
            Arc::new(FileDigest {
                slot,
                state: Mutex::new(DigestState {
                    hasher: Some(Sha256::new()),
                    next: 0,
                    done: vec![false; frames.len()],
                    spans: frames.iter().map(|f| (f.u_off - pos, f.u_len)).collect(),
                }),
            })
        });
        let jobs = frames
            .iter()
            .enumerate()
            .map(|(n, f)| FrameJob {
                file: Arc::clone(&file),
                digest: digest.as_ref().map(|d| (Arc::clone(d), n)),
                path: full.to_owned(),
                c_start: self.payload_start + f.c_off,
                c_len: f.c_len,
                u_len: f.u_len,
                offset: f.u_off - pos,
            })
            .collect();
        self.queue.push_all(jobs);
        Ok(true)
    }
}

/// A decoding thread: takes jobs until the queue is closed.
pub(super) fn decode_loop(queue: &JobQueue, package: &File, shared: &Shared, durability: Durability) {
    let mut decoder = match FrameDecoder::new() {
        Ok(d) => d,
        Err(e) => {
            shared.fail(UnpackError::Corrupt(e));
            return;
        }
    };
    let mut buf = vec![0u8; CHUNK];
    while let Some(job) = queue.pop_wait() {
        run_job(&mut decoder, package, &job, shared, durability, &mut buf);
    }
}

fn run_job(
    decoder: &mut FrameDecoder,
    package: &File,
    job: &FrameJob,
    shared: &Shared,
    durability: Durability,
    buf: &mut [u8],
) {
    if shared.failed.load(Ordering::SeqCst) {
        return;
    }
    if let Err(e) = decode_job(decoder, package, job, shared, durability, buf) {
        shared.fail(e);
    }
}

fn decode_job(
    decoder: &mut FrameDecoder,
    package: &File,
    job: &FrameJob,
    shared: &Shared,
    durability: Durability,
    buf: &mut [u8],
) -> Result<(), UnpackError> {
    let mut input = SectionReader::new(package, job.c_start..job.c_start + job.c_len);
    decoder.begin().map_err(UnpackError::Corrupt)?;
    // Hashed while decoding when it is its file's next frame to hash (checked once: the frames
    // before it are all hashed, so it stays next until it is done).
    let mut inline = job.digest.as_ref().and_then(|(d, n)| d.take_if_next(*n));
    let mut at = 0u64;
    loop {
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let n = decoder.read(&mut input, buf).map_err(UnpackError::Corrupt)?;
        if n == 0 {
            break;
        }
        if at + n as u64 > job.u_len {
            return Err(UnpackError::Corrupt(mismatch("a frame decodes to more bytes than the frame table says")));
        }
        write_at(&job.file, &buf[..n], job.offset + at)
            .map_err(|source| UnpackError::Write { path: job.path.clone(), source })?;
        if let Some(hasher) = &mut inline {
            hasher.update(&buf[..n]);
        }
        at += n as u64;
        shared.written.fetch_add(n as u64, Ordering::Relaxed);
    }
    if at != job.u_len {
        return Err(UnpackError::Corrupt(mismatch("a frame decodes to fewer bytes than the frame table says")));
    }
    decoder.finish(&mut input).map_err(UnpackError::Corrupt)?;
    if let Some((digest, n)) = &job.digest {
        digest
            .frame_done(*n, inline, job, shared, buf)
            .map_err(|source| UnpackError::Write { path: job.path.clone(), source })?;
    }
    if durability == Durability::Durable && !cfg!(target_os = "linux") {
        job.file.sync_data().map_err(|source| UnpackError::Write { path: job.path.clone(), source })?;
    }
    Ok(())
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    // Untested, as `write_at`.
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    // Untested: Windows' positional write moves the file pointer, which no one else uses here.
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// The ahead decoder's thread: decodes the stream frames in order into pieces for the walk, and
/// the claimed files' data frames it finds queued at each frame boundary (its decoder is free
/// there); once the stream is done, it decodes data frames like the other decoding threads.
pub(super) fn decode_ahead(ctx: &Frames<'_>, tx: AheadTx, shared: &Shared, durability: Durability) {
    let mut decoder = match FrameDecoder::new() {
        Ok(d) => d,
        Err(e) => {
            let _ = tx.send(Piece::Failed(e));
            return;
        }
    };
    let mut buf = vec![0u8; CHUNK];
    let last = match stream_frames(ctx, &mut decoder, &tx, shared, durability, &mut buf) {
        Ok(()) => Piece::End,
        Err(e) => Piece::Failed(e),
    };
    // The walk may be gone (it failed, or it has what it needs): then nobody listens.
    let _ = tx.send(last);
    drop(tx);
    while let Some(job) = ctx.queue.pop_wait() {
        run_job(&mut decoder, ctx.package, &job, shared, durability, &mut buf);
    }
}

/// Decodes every stream frame into pieces; `Ok` also when the walk stopped listening.
fn stream_frames(
    ctx: &Frames<'_>,
    decoder: &mut FrameDecoder,
    tx: &AheadTx,
    shared: &Shared,
    durability: Durability,
    buf: &mut [u8],
) -> io::Result<()> {
    for (n, frame) in ctx.frames.iter().enumerate() {
        if shared.failed.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped: another thread failed"));
        }
        match frame.kind {
            FrameKind::Data => {
                if tx.send(Piece::Data(n)).is_err() {
                    return Ok(());
                }
            }
            FrameKind::Stream => {
                decoder.begin()?;
                let start = ctx.payload_start + frame.c_off;
                let mut input = SectionReader::new(ctx.package, start..start + frame.c_len);
                let mut left = frame.u_len;
                while left > 0 {
                    let mut piece = tx.spare();
                    let want = piece.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let mut filled = 0;
                    while filled < want {
                        let k = decoder.read(&mut input, &mut piece[filled..want])?;
                        if k == 0 {
                            return Err(mismatch("a frame decodes to fewer bytes than the frame table says"));
                        }
                        filled += k;
                    }
                    left -= filled as u64;
                    if left == 0 {
                        decoder.finish(&mut input)?;
                    }
                    if tx.send(Piece::Bytes(piece, filled)).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        while let Some(job) = ctx.queue.try_pop() {
            run_job(decoder, ctx.package, &job, shared, durability, buf);
        }
    }
    Ok(())
}
