//! Unpacking a payload of several frames ([`crate::frames`]): large files decoded in parallel.
//!
//! # Implementation
//! The calling thread serves the tar walk of [`super::unpack`] from [`FramedStream`]: stream
//! frames are decoded in order (each read from its own range of the package file); a data frame
//! is not read at all, and stands in the tar stream as a run of zeros that the walk seeks over.
//! When the walk reaches a regular file whose content is exactly a run of data frames starting
//! at its data offset, it *claims* them, creates the file at its final size and queues one job
//! per frame; decoding threads and the calling thread itself (whose decoder, the one stream
//! frames use, is idle at that moment) take jobs from the queue, decode each frame with a
//! streaming decoder and write it at its offset in the file. So two decoders exist on two cores
//! whatever the number of frames, and memory stays bounded by their windows.
//!
//! Every check of the sequential path still applies (the tar walk is the same code), and: a data
//! frame that the walk reaches unclaimed is refused (a table that does not match the archive);
//! every frame must decode to exactly its table length and end exactly at its compressed end.
//! The caller hashes the whole payload in order on a thread of its own and compares the digest
//! before anything is published ([`crate::package::Package::unpack_to`]).
//!
//! A recorded index needs each large file's SHA-256, which is sequential while its frames are
//! decoded in any order: the decoder of the frame that is next in its file's digest hashes it as
//! it decodes; a frame finished out of turn is hashed later, read back from the page cache, by
//! whichever thread owns the file's hasher then, without holding a lock ([`FileDigest`]).
//!
//! # Limitations
//! On ext4 two writers of one file take turns on its inode lock, so the copy into the page cache
//! of one large file is not parallel; decoding is.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

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
    pub(super) claimed: Vec<Cell<bool>>,
    pub(super) decoder: RefCell<FrameDecoder>,
    pub(super) queue: JobQueue,
    pub(super) package: &'a File,
    pub(super) payload_start: u64,
}

impl<'a> Frames<'a> {
    pub(super) fn new(frames: &'a [Frame], package: &'a File, payload_start: u64) -> io::Result<Self> {
        Ok(Self {
            frames,
            claimed: frames.iter().map(|_| Cell::new(false)).collect(),
            decoder: RefCell::new(FrameDecoder::new()?),
            queue: JobQueue::default(),
            package,
            payload_start,
        })
    }

    /// Decoding threads to start besides the calling thread.
    pub(super) fn decoders(&self) -> usize {
        if self.frames.iter().any(|f| f.kind == FrameKind::Data) {
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 3))
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
            if f.kind != FrameKind::Data || f.u_off >= end || self.claimed[last].get() {
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
            c.set(true);
        }
        Some(first..last)
    }

    /// If the file's content is a run of data frames, creates the file, decodes them (with the
    /// decoding threads) and returns `true`. With a `slot`, its digest is recorded there.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_file(
        &self,
        shared: &Shared,
        durability: Durability,
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
        // Help: the stream decoder is idle until the walk goes on.
        if let Ok(mut decoder) = self.decoder.try_borrow_mut() {
            let mut buf = vec![0u8; CHUNK];
            while let Some(job) = self.queue.try_pop() {
                run_job(&mut decoder, self.package, &job, shared, durability, &mut buf);
            }
        }
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

/// Where the walk is in the current frame.
enum Position<'a> {
    /// Before the frame's first byte.
    Start,
    /// Inside a stream frame: its compressed bytes, and the uncompressed bytes left.
    Stream { input: SectionReader<'a>, u_left: u64 },
    /// Inside a claimed data frame, which its decoder writes: zeros left in the tar stream.
    Zeros(u64),
}

/// The uncompressed tar stream of a framed payload, as the walk reads it (see the module docs).
/// Seeking forward over a claimed file's content costs nothing.
pub(super) struct FramedStream<'a> {
    frames: &'a Frames<'a>,
    index: usize,
    position: Position<'a>,
    /// Bytes of the tar stream before the current position.
    pos: u64,
}

impl<'a> FramedStream<'a> {
    pub(super) fn new(frames: &'a Frames<'a>) -> Self {
        Self { frames, index: 0, position: Position::Start, pos: 0 }
    }

    fn next_frame(&mut self) {
        self.index += 1;
        self.position = Position::Start;
    }

    /// Enters the current frame if at its start; `false` past the last frame.
    fn enter(&mut self) -> io::Result<bool> {
        let Some(frame) = self.frames.frames.get(self.index).copied() else { return Ok(false) };
        if let Position::Start = self.position {
            self.position = match frame.kind {
                FrameKind::Stream => {
                    self.frames.decoder.try_borrow_mut().map_err(io::Error::other)?.begin()?;
                    let start = self.frames.payload_start + frame.c_off;
                    Position::Stream {
                        input: SectionReader::new(self.frames.package, start..start + frame.c_len),
                        u_left: frame.u_len,
                    }
                }
                FrameKind::Data if self.frames.claimed[self.index].get() => Position::Zeros(frame.u_len),
                FrameKind::Data => {
                    return Err(mismatch("a data frame is not the content of one file of the archive"));
                }
            };
        }
        Ok(true)
    }
}

impl Read for FramedStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.enter()? {
                return Ok(0);
            }
            match &mut self.position {
                Position::Start => {}
                Position::Zeros(0) => self.next_frame(),
                Position::Zeros(left) => {
                    let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    buf[..n].fill(0);
                    *left -= n as u64;
                    self.pos += n as u64;
                    return Ok(n);
                }
                Position::Stream { input, u_left } => {
                    let want = buf.len().min(usize::try_from(*u_left).unwrap_or(usize::MAX));
                    let mut decoder = self.frames.decoder.try_borrow_mut().map_err(io::Error::other)?;
                    let n = decoder.read(input, &mut buf[..want])?;
                    if n == 0 {
                        return Err(mismatch("a frame decodes to fewer bytes than the frame table says"));
                    }
                    *u_left -= n as u64;
                    self.pos += n as u64;
                    if *u_left == 0 {
                        // Finish the frame now, so that the decoder is free for the data frames
                        // a claim may queue next.
                        decoder.finish(input)?;
                        drop(decoder);
                        self.next_frame();
                    }
                    return Ok(n);
                }
            }
        }
    }
}

impl Seek for FramedStream<'_> {
    /// Forward only, relative (what the tar walk uses to skip content).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = to else {
            return Err(io::Error::other("the payload stream seeks forward only"));
        };
        let mut left = u64::try_from(delta).map_err(|_| io::Error::other("the payload stream seeks forward only"))?;
        let mut scratch = [0u8; 8192];
        while left > 0 {
            if !self.enter()? {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "seek past the end of the payload"));
            }
            match &mut self.position {
                Position::Zeros(0) => self.next_frame(),
                Position::Zeros(zeros) => {
                    let n = left.min(*zeros);
                    *zeros -= n;
                    left -= n;
                    self.pos += n;
                }
                _ => {
                    let want = scratch.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.read(&mut scratch[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "seek past the end of the payload"));
                    }
                    left -= n as u64;
                }
            }
        }
        Ok(self.pos)
    }
}
