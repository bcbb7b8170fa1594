//! Payloads made of independently decodable zstd frames, for parallel decoding of large files.
//!
//! # Implementation
//! The packer cuts the compressed tar stream around the content of every file of at least
//! [`FRAME_FILE_MIN`] bytes: the tar stream up to and including the file's header is one *stream*
//! frame, the file's content is one or more *data* frames of at most [`FRAME_CHUNK`] bytes, and
//! the tar stream goes on in a new stream frame (the file's padding first). The table of frames
//! (kind, compressed offset and length, uncompressed offset and length) is appended to the payload
//! as a zstd *skippable* frame that ends with a fixed 12-byte footer ([`FOOTER_MAGIC`]), so the
//! payload stays one valid zstd stream: any zstd decoder, older launchers included, decodes it
//! sequentially to the same tar bytes. A payload with no large file is a single frame with no
//! table, byte-identical to the format before frames.
//!
//! The unpacker ([`crate::unpack::unpack_frames`]) decodes stream frames in order on a thread of
//! their own, ahead of the tar walk, and hands the data frames of each large file to decoding
//! threads that write straight into the file at their offset. Where the payload's SHA-256 is
//! checked (format 1; format 2's recorded index covers the tree), another thread hashes the
//! whole payload in order, so it is checked exactly as for a single frame, before anything is
//! published.
//!
//! # What is refused
//! The table is read before the payload is verified, so it is treated as hostile: [`parse_table`]
//! refuses more than [`MAX_FRAMES`] frames, frames that are empty, overlap, leave gaps, do not
//! start at 0 or do not end exactly where the table starts, an unknown kind, and an uncompressed
//! total above the caller's bound. A table that passes but lies about sizes makes decoding fail
//! (each frame must decode to exactly its length and end exactly at its compressed end), and a
//! data frame the archive does not claim as exactly one file's content is refused.
//!
//! # Alternatives
//! The table could live in the manifest (read at every warm start) or the index (parsed JSON at
//! every cold start); inside the payload it changes neither, and it is covered by the payload's
//! digest like every other payload byte.

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;

use crate::codec::{Compression, ZSTD_WINDOW_LOG, ZSTD_WINDOW_LOG_MAX, window_log_for_level};
use crate::section::read_exact_at;

/// Files at least this large get data frames of their own: at a cold start their content is
/// decoded, hashed and written by a decoding thread instead of passing through the walk (the
/// main tree's files of 2 to 8 MiB were a quarter of its bytes, all on the walk's thread).
/// Each one costs a cut of the stream frame (the next one starts with no history), negligible
/// at this size. It must stay above [`crate::unpack::DIRECT_WRITE_THRESHOLD`]: unpackers claim
/// data frames only for larger files, older launchers included (8 MiB before).
pub const FRAME_FILE_MIN: u64 = 2 * 1024 * 1024;
const _: () = assert!(FRAME_FILE_MIN > crate::unpack::DIRECT_WRITE_THRESHOLD);
/// Largest data frame (uncompressed).
pub const FRAME_CHUNK: u64 = 32 * 1024 * 1024;
/// Most frames a table may list (a table of at most ~2.2 MB).
pub const MAX_FRAMES: usize = 1 << 16;
/// The last 8 bytes of a payload that has a frame table.
pub const FOOTER_MAGIC: [u8; 8] = *b"SEAFRM\x00\x01";
/// zstd skippable-frame magic used for the table (0x184D2A50..=0x184D2A5F are skippable).
const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
/// Bytes per table record: kind, then four little-endian u64.
const RECORD_LEN: usize = 33;
/// Footer: u32 frame count, then [`FOOTER_MAGIC`].
const FOOTER_LEN: usize = 12;
/// Skippable-frame header: magic, content length.
const HEADER_LEN: usize = 8;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Tar headers, padding and small files: decoded in order.
    Stream,
    /// Part of one large file's content: may be decoded by any thread into the file.
    Data,
}

/// One frame of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// What it holds.
    pub kind: FrameKind,
    /// Offset of its compressed bytes in the payload.
    pub c_off: u64,
    /// Length of its compressed bytes.
    pub c_len: u64,
    /// Offset of its bytes in the uncompressed tar stream.
    pub u_off: u64,
    /// Length once decoded.
    pub u_len: u64,
}

impl Frame {
    /// End of the uncompressed range.
    pub fn u_end(&self) -> u64 {
        self.u_off + self.u_len
    }
}

/// Why a frame table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes of the table itself are wrong.
    #[error("frame table is malformed: {0}")]
    Malformed(&'static str),
    /// More frames than [`MAX_FRAMES`].
    #[error("frame table lists {0} frames, more than the {MAX_FRAMES} allowed")]
    TooMany(u64),
    /// A frame does not follow the previous one exactly.
    #[error("frame {index} overlaps or leaves a gap after the previous frame")]
    NotContiguous { index: usize },
    /// The frames do not cover the payload exactly.
    #[error("frames cover {covered} compressed bytes but the payload has {expected} before the table")]
    SizeMismatch { covered: u64, expected: u64 },
    /// The frames decode to more than allowed.
    #[error("frames decode to more than {limit} bytes (the declared size): refusing a possible archive bomb")]
    TooLarge { limit: u64 },
}

/// Encodes `frames` as the skippable frame appended to the payload.
pub fn encode_table(frames: &[Frame]) -> Vec<u8> {
    let content = frames.len() * RECORD_LEN + FOOTER_LEN;
    let mut out = Vec::with_capacity(HEADER_LEN + content);
    out.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
    out.extend_from_slice(&(content as u32).to_le_bytes());
    for f in frames {
        out.push(match f.kind {
            FrameKind::Stream => 0,
            FrameKind::Data => 1,
        });
        for v in [f.c_off, f.c_len, f.u_off, f.u_len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.extend_from_slice(&FOOTER_MAGIC);
    out
}

/// Length of the table of a payload whose last [`FOOTER_LEN`] bytes are `footer`, or `None` when
/// the payload has no table (an older, single-frame payload).
fn table_len(footer: &[u8; FOOTER_LEN]) -> Result<Option<u64>, FrameError> {
    if footer[4..] != FOOTER_MAGIC {
        return Ok(None);
    }
    let count = u64::from(u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]));
    if count > MAX_FRAMES as u64 {
        return Err(FrameError::TooMany(count));
    }
    Ok(Some(HEADER_LEN as u64 + count * RECORD_LEN as u64 + FOOTER_LEN as u64))
}

/// Parses and checks a table (the whole skippable frame) found at the end of a payload of
/// `payload_len` bytes; the frames must decode to at most `max_uncompressed` bytes.
pub fn parse_table(table: &[u8], payload_len: u64, max_uncompressed: u64) -> Result<Vec<Frame>, FrameError> {
    let malformed = FrameError::Malformed;
    if table.len() < HEADER_LEN + FOOTER_LEN {
        return Err(malformed("too short"));
    }
    let word = |at: usize| u32::from_le_bytes([table[at], table[at + 1], table[at + 2], table[at + 3]]);
    if word(0) != SKIPPABLE_MAGIC {
        return Err(malformed("not a skippable frame"));
    }
    if word(4) as usize != table.len() - HEADER_LEN {
        return Err(malformed("length field does not match"));
    }
    let footer_at = table.len() - FOOTER_LEN;
    if table[footer_at + 4..] != FOOTER_MAGIC {
        return Err(malformed("no footer"));
    }
    let count = word(footer_at) as usize;
    if count > MAX_FRAMES {
        return Err(FrameError::TooMany(count as u64));
    }
    if count == 0 || footer_at - HEADER_LEN != count * RECORD_LEN {
        return Err(malformed("frame count does not match the table's length"));
    }
    let compressed_end = payload_len.checked_sub(table.len() as u64).ok_or(malformed("longer than the payload"))?;
    let mut frames = Vec::with_capacity(count);
    for (index, record) in table[HEADER_LEN..footer_at].chunks_exact(RECORD_LEN).enumerate() {
        let kind = match record[0] {
            0 => FrameKind::Stream,
            1 => FrameKind::Data,
            _ => return Err(malformed("unknown frame kind")),
        };
        let field = |k: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&record[1 + 8 * k..9 + 8 * k]);
            u64::from_le_bytes(bytes)
        };
        let frame = Frame { kind, c_off: field(0), c_len: field(1), u_off: field(2), u_len: field(3) };
        if frame.c_len == 0 || frame.u_len == 0 {
            return Err(malformed("empty frame"));
        }
        let (c_expected, u_expected) = match frames.last() {
            None => (0, 0),
            Some(prev) => {
                let prev: &Frame = prev;
                (prev.c_off + prev.c_len, prev.u_end())
            }
        };
        if frame.c_off != c_expected || frame.u_off != u_expected {
            return Err(FrameError::NotContiguous { index });
        }
        let c_end = frame.c_off.checked_add(frame.c_len).ok_or(malformed("offset overflows"))?;
        let u_end = frame.u_off.checked_add(frame.u_len).ok_or(malformed("offset overflows"))?;
        if c_end > compressed_end {
            return Err(FrameError::SizeMismatch { covered: c_end, expected: compressed_end });
        }
        if u_end > max_uncompressed {
            return Err(FrameError::TooLarge { limit: max_uncompressed });
        }
        frames.push(frame);
    }
    let covered = frames.last().map_or(0, |f| f.c_off + f.c_len);
    if covered != compressed_end {
        return Err(FrameError::SizeMismatch { covered, expected: compressed_end });
    }
    Ok(frames)
}

/// Reads the frame table of the payload at `payload` in `file`: `Ok(None)` for a single-frame
/// payload (no footer), an error for a table that does not pass [`parse_table`].
pub fn read_table(file: &File, payload: &Range<u64>, max_uncompressed: u64) -> io::Result<Option<Vec<Frame>>> {
    let len = payload.end.saturating_sub(payload.start);
    if len < (HEADER_LEN + FOOTER_LEN) as u64 {
        return Ok(None);
    }
    let mut footer = [0u8; FOOTER_LEN];
    read_exact_at(file, &mut footer, payload.end - FOOTER_LEN as u64)?;
    let Some(table_len) = table_len(&footer).map_err(io::Error::other)? else { return Ok(None) };
    if table_len > len {
        return Err(io::Error::other(FrameError::Malformed("longer than the payload")));
    }
    let mut table = vec![0u8; table_len as usize];
    read_exact_at(file, &mut table, payload.end - table_len)?;
    parse_table(&table, len, max_uncompressed).map(Some).map_err(io::Error::other)
}

/// Compresses one data frame on the calling thread (zstd single-threaded mode: deterministic, and
/// independent frames are compressed in parallel by the caller instead).
pub(crate) fn compress_frame(compression: Compression, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::with_capacity(data.len() / 2), compression.level)?;
    enc.window_log(ZSTD_WINDOW_LOG.min(window_log_for_level(compression.level)))?;
    enc.include_checksum(false)?;
    enc.include_contentsize(false)?;
    enc.write_all(data)?;
    enc.finish()
}

/// Decodes one zstd frame at a time, reusing its buffers across frames.
pub(crate) struct FrameDecoder {
    raw: zstd::stream::raw::Decoder<'static>,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    done: bool,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameDecoder")
    }
}

impl FrameDecoder {
    /// A decoder that refuses windows above [`ZSTD_WINDOW_LOG_MAX`].
    pub(crate) fn new() -> io::Result<Self> {
        use zstd::stream::raw::DParameter;
        let mut raw = zstd::stream::raw::Decoder::new()?;
        raw.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))?;
        Ok(Self { raw, input: vec![0u8; 128 * 1024].into_boxed_slice(), start: 0, end: 0, done: false })
    }

    /// Starts a new frame.
    pub(crate) fn begin(&mut self) -> io::Result<()> {
        use zstd::stream::raw::Operation;
        self.raw.reinit()?;
        self.start = 0;
        self.end = 0;
        self.done = false;
        Ok(())
    }

    /// Decodes into `out` from `input` (the frame's compressed bytes and nothing after them);
    /// `Ok(0)` once the frame is complete.
    pub(crate) fn read(&mut self, input: &mut impl Read, out: &mut [u8]) -> io::Result<usize> {
        use zstd::stream::raw::Operation;
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            let mut eof = false;
            if self.start == self.end {
                let n = read_some(input, &mut self.input)?;
                self.start = 0;
                self.end = n;
                eof = n == 0;
            }
            let status = self.raw.run_on_buffers(&self.input[self.start..self.end], out)?;
            self.start += status.bytes_read;
            if status.remaining == 0 {
                self.done = true;
            }
            if status.bytes_written > 0 {
                return Ok(status.bytes_written);
            }
            if eof && status.bytes_read == 0 && !self.done {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "compressed frame is truncated"));
            }
        }
    }

    /// After [`FrameDecoder::read`] produced the frame's length: the frame must end there, with
    /// no byte left in `input`.
    pub(crate) fn finish(&mut self, input: &mut impl Read) -> io::Result<()> {
        let mut probe = [0u8; 1];
        if self.read(input, &mut probe)? != 0 {
            return Err(mismatch("a frame decodes to more bytes than the frame table says"));
        }
        if self.start != self.end || read_some(input, &mut probe)? != 0 {
            return Err(mismatch("a frame has bytes after its end"));
        }
        Ok(())
    }
}

fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// An error for a payload whose frames disagree with its table.
pub(crate) fn mismatch(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("frame table does not match the payload: {what}"))
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The packer's side: a tar stream in, compressed frames and their table out.
pub(crate) struct FramedWriter<W: Write> {
    compression: Compression,
    threads: u32,
    idle: Option<Counting<W>>,
    encoder: Option<crate::codec::Encoder<Counting<W>>>,
    frames: Vec<Frame>,
    frame_c_start: u64,
    frame_u_start: u64,
    u_pos: u64,
}

impl<W: Write> FramedWriter<W> {
    /// Frames into `out`; stream frames use `threads` zstd workers.
    pub(crate) fn new(compression: Compression, threads: u32, out: W) -> Self {
        Self {
            compression,
            threads,
            idle: Some(Counting { inner: out, count: 0 }),
            encoder: None,
            frames: Vec::new(),
            frame_c_start: 0,
            frame_u_start: 0,
            u_pos: 0,
        }
    }

    fn out(&mut self) -> io::Result<&mut Counting<W>> {
        self.idle.as_mut().ok_or_else(|| io::Error::other("framed writer used after an error"))
    }

    /// Ends the current stream frame, if any.
    fn end_stream(&mut self) -> io::Result<()> {
        let Some(encoder) = self.encoder.take() else { return Ok(()) };
        let out = encoder.finish()?;
        let c_end = out.count;
        self.idle = Some(out);
        self.push(FrameKind::Stream, c_end);
        Ok(())
    }

    fn push(&mut self, kind: FrameKind, c_end: u64) {
        self.frames.push(Frame {
            kind,
            c_off: self.frame_c_start,
            c_len: c_end - self.frame_c_start,
            u_off: self.frame_u_start,
            u_len: self.u_pos - self.frame_u_start,
        });
        self.frame_c_start = c_end;
        self.frame_u_start = self.u_pos;
    }

    /// Writes `size` bytes of one file's content, read from `content`, as data frames compressed
    /// in parallel (`threads` at a time). Returns the bytes read (short if the file shrank).
    pub(crate) fn write_data(
        &mut self,
        content: &mut impl Read,
        size: u64,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<u64> {
        self.end_stream()?;
        let batch = self.threads.clamp(1, 4) as usize;
        let mut done = 0u64;
        while done < size {
            let mut chunks = Vec::with_capacity(batch);
            while chunks.len() < batch && done < size {
                let want = (size - done).min(FRAME_CHUNK) as usize;
                let mut chunk = Vec::with_capacity(want);
                let n = content.take(want as u64).read_to_end(&mut chunk)?;
                if n != want {
                    return Ok(done + n as u64);
                }
                done += n as u64;
                chunks.push(chunk);
            }
            let compression = self.compression;
            let compressed: Vec<io::Result<Vec<u8>>> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    chunks.iter().map(|chunk| scope.spawn(move || compress_frame(compression, chunk))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("compression thread panicked"))))
                    .collect()
            });
            for (chunk, frame) in chunks.iter().zip(compressed) {
                let frame = frame?;
                let out = self.out()?;
                out.write_all(&frame)?;
                let c_end = out.count;
                self.u_pos += chunk.len() as u64;
                self.push(FrameKind::Data, c_end);
            }
            progress(done);
        }
        Ok(done)
    }

    /// Ends the last frame and appends the table (only when there is more than one frame, so a
    /// payload without large files keeps the single-frame format). Returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.end_stream()?;
        let table = (self.frames.len() > 1).then(|| encode_table(&self.frames));
        let mut out = self.idle.take().ok_or_else(|| io::Error::other("framed writer used after an error"))?;
        if let Some(table) = table {
            out.write_all(&table)?;
        }
        Ok(out.inner)
    }
}

impl<W: Write> Write for FramedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.encoder.is_none() {
            let out = self.idle.take().ok_or_else(|| io::Error::other("framed writer used after an error"))?;
            self.encoder = Some(crate::codec::Encoder::new(self.compression, out, self.threads)?);
        }
        let encoder = self.encoder.as_mut().ok_or_else(|| io::Error::other("no encoder"))?;
        let n = encoder.write(buf)?;
        self.u_pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.encoder {
            Some(e) => e.flush(),
            None => self.out()?.flush(),
        }
    }
}

#[cfg(test)]
mod tests;
