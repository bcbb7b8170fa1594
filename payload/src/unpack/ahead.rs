//! The tar stream, decoded by a thread of its own ahead of the walk.
//!
//! # Implementation
//! A producer thread fills pieces of [`PIECE`] bytes and hands them to the walk through a
//! channel of [`AHEAD_PIECES`]; the walk reads them as its tar stream ([`AheadStream`]) and gives
//! the buffers back for reuse. For a payload of several frames the producer is the ahead decoder
//! of [`super::parallel`], which also sends a marker for each data frame ([`Piece::Data`]): the
//! stream then reads as zeros over it if the walk claimed it, and fails if not. For any other
//! stream it is [`read_ahead`], which reads the decoder (zstd or gzip) in pieces.
//!
//! So decompression, a third of a cold start's CPU time, no longer runs on the walk's thread,
//! which before was the critical path: it decoded, parsed, created directories and fed the
//! writers, and they waited for it. Errors reach the walk in stream order, as read errors.
//!
//! # Invariant
//! The walk's end of the channel is dropped before the threads are joined ([`super::unpack`]),
//! so a producer blocked on a full channel always wakes up (its send fails) when the walk stops
//! early.
//!
//! # Alternatives
//! Cutting stream frames every few MiB would let several threads decode the stream itself, at
//! the cost of compression history at every cut and a frame's worth of buffer per decoder; one
//! producer already takes decompression off the critical path on two cores.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use super::parallel::Frames;
use super::writer::Shared;
use crate::frames::mismatch;

/// Decoded stream bytes handed from the ahead decoder to the walk at a time.
const PIECE: usize = 256 * 1024;
/// Pieces queued for the walk at most: enough to ride over the walk's pauses (a directory
/// created, a batch handed over), small beside a decoder's window.
const AHEAD_PIECES: usize = 3;

/// What the ahead decoder sends the walk, in stream order.
pub(super) enum Piece {
    /// Decoded tar-stream bytes: the buffer and how many of its bytes are valid.
    Bytes(Vec<u8>, usize),
    /// Data frame `n` of the table comes next: zeros in the tar stream if the walk claimed it.
    Data(usize),
    /// The end of the stream (of a framed payload: every frame decoded to exactly its length).
    End,
    /// Decoding failed.
    Failed(io::Error),
}

/// The producer's ends of its channels to the walk.
pub(super) struct AheadTx {
    pieces: SyncSender<Piece>,
    spare: Receiver<Vec<u8>>,
}

impl AheadTx {
    /// A buffer to fill: one the walk gave back, or a new one.
    pub(super) fn spare(&self) -> Vec<u8> {
        self.spare.try_recv().unwrap_or_else(|_| vec![0u8; PIECE])
    }

    /// Hands `piece` to the walk, waiting while the channel is full; an error once the walk
    /// stopped listening.
    pub(super) fn send(&self, piece: Piece) -> Result<(), ()> {
        self.pieces.send(piece).map_err(drop)
    }
}

/// A stream that the walk reads and a producer (started with the other end) fills; `frames`,
/// for the data-frame markers of a framed payload.
pub(super) fn ahead_channel<'a>(frames: Option<&'a Frames<'a>>) -> (AheadTx, AheadStream<'a>) {
    let (pieces, rx) = sync_channel(AHEAD_PIECES);
    let (give_back, spare) = channel();
    let stream =
        AheadStream { frames, rx, give_back, piece: Vec::new(), at: 0, len: 0, zeros: 0, pos: 0, ended: false };
    (AheadTx { pieces, spare }, stream)
}

/// The producer of a plain stream: reads `input` (a decoder) in pieces until its end.
pub(super) fn read_ahead(mut input: impl Read, tx: AheadTx, shared: &Shared) {
    loop {
        if shared.failed.load(Ordering::Relaxed) {
            let _ = tx.send(Piece::Failed(io::Error::other("stopped: another thread failed")));
            return;
        }
        let mut piece = tx.spare();
        let mut filled = 0;
        while filled < piece.len() {
            match input.read(&mut piece[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Piece::Failed(e));
                    return;
                }
            }
        }
        let end = filled < piece.len();
        if filled > 0 && tx.send(Piece::Bytes(piece, filled)).is_err() {
            return;
        }
        if end {
            let _ = tx.send(Piece::End);
            return;
        }
    }
}

/// The tar stream as the walk reads it (see the module docs): the producer's pieces, and zeros
/// for the claimed data frames of a framed payload, which their decoders write. Seeking forward
/// over a claimed file's content costs nothing.
pub(super) struct AheadStream<'a> {
    frames: Option<&'a Frames<'a>>,
    rx: Receiver<Piece>,
    give_back: Sender<Vec<u8>>,
    /// The piece being read, its read position and valid length.
    piece: Vec<u8>,
    at: usize,
    len: usize,
    /// Zeros left of a claimed data frame.
    zeros: u64,
    /// Bytes of the tar stream before the current position.
    pos: u64,
    ended: bool,
}

impl AheadStream<'_> {
    /// Moves to the next piece; `false` at the end of the stream.
    fn next_piece(&mut self) -> io::Result<bool> {
        if self.ended {
            return Ok(false);
        }
        if !self.piece.is_empty() {
            let _ = self.give_back.send(std::mem::take(&mut self.piece));
        }
        self.at = 0;
        self.len = 0;
        match self.rx.recv() {
            Ok(Piece::Bytes(piece, len)) => {
                self.piece = piece;
                self.len = len;
            }
            Ok(Piece::Data(n)) => {
                let frame = self.frames.and_then(|f| Some((f.frames.get(n)?, f.claimed.get(n)?)));
                match frame {
                    Some((frame, claimed)) if claimed.load(Ordering::Relaxed) => self.zeros = frame.u_len,
                    _ => return Err(mismatch("a data frame is not the content of one file of the archive")),
                }
            }
            Ok(Piece::End) => {
                self.ended = true;
                return Ok(false);
            }
            Ok(Piece::Failed(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("the payload's decoding thread stopped")),
        }
        Ok(true)
    }
}

impl Read for AheadStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.at < self.len {
                let n = buf.len().min(self.len - self.at);
                buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
                self.at += n;
                self.pos += n as u64;
                return Ok(n);
            }
            if self.zeros > 0 {
                let n = buf.len().min(usize::try_from(self.zeros).unwrap_or(usize::MAX));
                buf[..n].fill(0);
                self.zeros -= n as u64;
                self.pos += n as u64;
                return Ok(n);
            }
            if !self.next_piece()? {
                return Ok(0);
            }
        }
    }
}

impl Seek for AheadStream<'_> {
    /// Forward only, relative (what the tar walk uses to skip content).
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = to else {
            return Err(io::Error::other("the payload stream seeks forward only"));
        };
        let mut left = u64::try_from(delta).map_err(|_| io::Error::other("the payload stream seeks forward only"))?;
        while left > 0 {
            let n = if self.at < self.len {
                let n = left.min((self.len - self.at) as u64);
                self.at += n as usize;
                n
            } else if self.zeros > 0 {
                let n = left.min(self.zeros);
                self.zeros -= n;
                n
            } else if self.next_piece()? {
                continue;
            } else {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "seek past the end of the payload"));
            };
            left -= n;
            self.pos += n;
        }
        Ok(self.pos)
    }
}
