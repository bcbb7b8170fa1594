//! Approximate-match patches (bsdiff's idea): the new file as runs of bytes *added* to aligned
//! base bytes, and runs of literal bytes.
//!
//! A rebuilt native module differs from its base mostly in relocated addresses: between two
//! builds a region keeps its layout while every address in it moves by the same amount. An exact
//! matcher (zstd's `--patch-from`) sees a short match, then a few changed bytes, then a short
//! match: literals and match headers for every address. Subtracting the aligned base bytes turns
//! that region into zeros and a few repeating small differences, which compress very well.
//!
//! ```text
//! record := varint diff_len, varint extra_len, varint base_start,
//!           diff_len bytes (each added, mod 256, to base[base_start + i]), extra_len literal bytes
//! ```
//!
//! The records, concatenated, are compressed as one zstd frame (window at most
//! [`DIFF_WINDOW_LOG`]), so applying holds the base file and a bounded window.
//!
//! # Implementation
//! The new file is walked in blocks of [`BLOCK`] bytes. A block is a diff against the current
//! alignment (base offset minus new offset) when at least half its bytes equal the aligned base
//! bytes; otherwise alignments are looked up from a hash table of the base's [`SEED`]-byte
//! substrings (every position indexed, the last one kept per bucket) at each position of the
//! block, together with the last few alignments used, and the one with the most equal bytes
//! over the block wins if it reaches half; else the block is literal. Consecutive blocks of one
//! kind and alignment make one record. Deterministic: no randomness, no threads.
//!
//! # Alternatives
//! bsdiff proper (suffix array of the base, longest exact match at each position, then forward
//! and backward approximate extension) finds alignments at byte granularity; it needs a suffix
//! sort (5 × the base in memory, minutes for 100 MB) and is not among the allowed crates. The
//! block walk costs one hash table (64 MiB) and linear time, and loses at most a block around
//! each change of alignment.
//!
//! # Limitations
//! Alignments are found only where the base and the new file share [`SEED`] equal bytes; the
//! table keeps one base position per hash bucket, so in very repetitive data the right one may
//! have been overwritten (that region then travels as literals: larger, never wrong).

use std::io::{self, Read};

/// Block size of the walk.
pub const BLOCK: usize = 64;
/// Bytes hashed to find an alignment.
pub const SEED: usize = 12;
/// zstd window of the compressed records: the decoder's memory bound (16 MiB).
pub const DIFF_WINDOW_LOG: u32 = 24;
/// Hash table buckets (2^TABLE_BITS u32).
const TABLE_BITS: u32 = 24;
/// Alignments remembered besides the table's candidates.
const RECENT: usize = 4;

fn seed_hash(bytes: &[u8]) -> usize {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[..8]);
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[8..SEED]);
    let x = u64::from_le_bytes(a).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(u32::from_le_bytes(b)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    (x >> (64 - TABLE_BITS)) as usize
}

/// Bytes of `new[at..at + len]` equal to `old[at + align..]`, or `None` when that base range
/// is out of bounds.
fn score(old: &[u8], new: &[u8], at: usize, len: usize, align: i64) -> Option<usize> {
    let start = i64::try_from(at).ok()?.checked_add(align)?;
    let start = usize::try_from(start).ok()?;
    let base = old.get(start..start.checked_add(len)?)?;
    Some(base.iter().zip(&new[at..at + len]).filter(|(a, b)| a == b).count())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Diff(i64),
    Extra,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The records turning `old` into `new` (uncompressed).
pub fn records(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut table = vec![0u32; 1 << TABLE_BITS];
    if old.len() >= SEED && old.len() < u32::MAX as usize {
        for p in 0..=old.len() - SEED {
            table[seed_hash(&old[p..])] = p as u32 + 1;
        }
    }
    let mut recent: Vec<i64> = vec![0];
    let mut runs: Vec<(Kind, usize)> = Vec::new();
    let mut at = 0;
    while at < new.len() {
        let len = BLOCK.min(new.len() - at);
        let half = len.div_ceil(2);
        let mut best: Option<(usize, i64)> = None;
        let consider = |align: i64, best: &mut Option<(usize, i64)>| {
            if let Some(s) = score(old, new, at, len, align)
                && s >= half
                && best.is_none_or(|(b, _)| s > b)
            {
                *best = Some((s, align));
            }
        };
        consider(recent[0], &mut best);
        if best.is_none_or(|(s, _)| s < len) {
            for &a in &recent[1..] {
                consider(a, &mut best);
            }
            if best.is_none() && len >= SEED {
                for j in at..=at + len - SEED {
                    let p = table[seed_hash(&new[j..])];
                    if p != 0 {
                        consider(i64::from(p - 1) - j as i64, &mut best);
                    }
                }
            }
        }
        let kind = match best {
            Some((_, align)) => {
                if let Some(i) = recent.iter().position(|&a| a == align) {
                    recent.remove(i);
                }
                recent.insert(0, align);
                recent.truncate(RECENT);
                Kind::Diff(align)
            }
            None => Kind::Extra,
        };
        match runs.last_mut() {
            Some((k, n)) if *k == kind => *n += len,
            _ => runs.push((kind, len)),
        }
        at += len;
    }
    let mut out = Vec::with_capacity(new.len() + new.len() / 64);
    let mut at = 0usize;
    let mut i = 0;
    while i < runs.len() {
        let (diff, align) = match runs[i] {
            (Kind::Diff(align), n) => {
                i += 1;
                (n, align)
            }
            (Kind::Extra, _) => (0, 0),
        };
        let extra = match runs.get(i) {
            Some(&(Kind::Extra, n)) => {
                i += 1;
                n
            }
            _ => 0,
        };
        // `score` checked that the aligned range is inside `old`.
        let start = if diff == 0 { 0 } else { (at as i64 + align) as u64 };
        put_varint(&mut out, diff as u64);
        put_varint(&mut out, extra as u64);
        put_varint(&mut out, start);
        let base = &old[start as usize..start as usize + diff];
        out.extend(new[at..at + diff].iter().zip(base).map(|(n, o)| n.wrapping_sub(*o)));
        at += diff;
        out.extend_from_slice(&new[at..at + extra]);
        at += extra;
    }
    out
}

/// Applies records read from `inner` to `base`: yields the new file's bytes.
#[derive(Debug)]
pub struct Apply<'a, R> {
    inner: R,
    base: &'a [u8],
    /// Next base byte of the current diff run.
    pos: usize,
    diff_left: u64,
    extra_left: u64,
}

impl<'a, R: Read> Apply<'a, R> {
    /// Records from `inner` (already decompressed) against `base`.
    pub fn new(inner: R, base: &'a [u8]) -> Self {
        Self { inner, base, pos: 0, diff_left: 0, extra_left: 0 }
    }

    /// The decompressed record stream (to drain what follows the output).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads one varint; `Ok(None)` at a clean end of the stream.
    fn varint(&mut self, first: bool) -> io::Result<Option<u64>> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let mut b = [0u8; 1];
            if self.inner.read(&mut b)? == 0 {
                return if first && shift == 0 { Ok(None) } else { Err(bad("a record is truncated")) };
            }
            let part = u64::from(b[0] & 0x7f);
            if shift == 63 && part > 1 {
                return Err(bad("a record length overflows"));
            }
            v |= part << shift;
            if b[0] & 0x80 == 0 {
                return Ok(Some(v));
            }
        }
        Err(bad("a record length overflows"))
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

impl<R: Read> Read for Apply<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.diff_left == 0 && self.extra_left == 0 {
            let Some(diff) = self.varint(true)? else { return Ok(0) };
            let extra = self.varint(false)?.unwrap_or_default();
            let start = self.varint(false)?.unwrap_or_default();
            let end = start.checked_add(diff).ok_or_else(|| bad("a record's base range overflows"))?;
            if end > self.base.len() as u64 {
                return Err(bad("a record reaches past the end of its base file"));
            }
            if diff == 0 && extra == 0 {
                return Err(bad("an empty record"));
            }
            self.pos = start as usize;
            self.diff_left = diff;
            self.extra_left = extra;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.diff_left > 0 {
            let want = buf.len().min(self.diff_left.min(usize::MAX as u64) as usize);
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                return Err(bad("a record is truncated"));
            }
            // `end <= base.len()` was checked for the whole run.
            for (b, o) in buf[..n].iter_mut().zip(&self.base[self.pos..self.pos + n]) {
                *b = b.wrapping_add(*o);
            }
            self.pos += n;
            self.diff_left -= n as u64;
            return Ok(n);
        }
        let want = buf.len().min(self.extra_left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(bad("a record is truncated"));
        }
        self.extra_left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(base: &[u8], recs: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Apply::new(recs, base).read_to_end(&mut out)?;
        Ok(out)
    }

    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_shifted_and_relocated_data() {
        let old = noise(1, 300_000);
        let mut new = old.clone();
        // Relocate: add 16 to every fourth byte of a region, insert new bytes, delete some.
        for i in (10_000..80_000).step_by(4) {
            new[i] = new[i].wrapping_add(16);
        }
        new.splice(120_000..120_000, noise(2, 5_000));
        new.drain(200_000..203_333);
        let recs = records(&old, &new);
        assert_eq!(apply(&old, &recs).expect("apply"), new);
        // Mostly diff runs: few literal bytes beyond the insertion and the block edges.
        let zeros = recs.iter().filter(|&&b| b == 0).count();
        assert!(zeros > new.len() * 8 / 10, "{zeros} zeros of {}", new.len());
        for (o, n) in [(&b""[..], &b"abc"[..]), (b"abc", b""), (b"", b""), (b"same", b"same")] {
            assert_eq!(apply(o, &records(o, n)).expect("apply"), n);
        }
    }

    #[test]
    fn hostile_records_fail_cleanly() {
        let base = b"0123456789";
        let mut recs = Vec::new();
        put_varint(&mut recs, 5);
        put_varint(&mut recs, 0);
        put_varint(&mut recs, 8);
        assert!(apply(base, &recs).is_err(), "past the base's end");
        let mut recs = Vec::new();
        put_varint(&mut recs, 1);
        put_varint(&mut recs, 0);
        put_varint(&mut recs, u64::MAX);
        assert!(apply(base, &recs).is_err(), "overflowing range");
        assert!(apply(base, &[0x80; 11]).is_err(), "endless varint");
        assert!(apply(base, &[0, 0, 0]).is_err(), "empty record");
        let mut recs = Vec::new();
        put_varint(&mut recs, 0);
        put_varint(&mut recs, 100);
        put_varint(&mut recs, 0);
        recs.extend_from_slice(b"short");
        assert!(apply(base, &recs).is_err(), "truncated literal run");
    }
}
