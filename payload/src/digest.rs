//! SHA-256 helpers: hex encoding, and readers/writers that hash what passes through them.
//!
//! sha2 0.11's digest output no longer formats with `{:x}`, so hex encoding lives here, once.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// A SHA-256 digest as raw bytes.
pub type Sha256Bytes = [u8; 32];

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Parses 64 lower- or upper-case hex digits into a digest; `None` for anything else.
pub fn from_hex(text: &str) -> Option<Sha256Bytes> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_value(pair[0])?;
        let lo = hex_value(pair[1])?;
        out[i] = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// SHA-256 of a byte slice.
pub fn sha256(data: &[u8]) -> Sha256Bytes {
    Sha256::digest(data).into()
}

/// SHA-256 of a byte slice, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&sha256(data))
}

/// Reads everything from `reader`, returning its SHA-256 and length.
pub fn sha256_reader(mut reader: impl Read) -> io::Result<(Sha256Bytes, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

/// A reader that hashes and counts every byte it hands out.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), count: 0 }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of everything read, and the byte count.
    pub fn finish(self) -> (Sha256Bytes, u64) {
        (self.hasher.finalize().into(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts every byte written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), count: 0 }
    }

    /// The digest and count of everything written, and the inner writer.
    pub fn finish(self) -> (Sha256Bytes, u64, W) {
        (self.hasher.finalize().into(), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d = sha256(b"abc");
        let h = to_hex(&d);
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(from_hex(&h), Some(d));
        assert_eq!(from_hex(&h.to_uppercase()), Some(d));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn hashing_reader_and_writer_agree() {
        let data = vec![7u8; 300_000];
        let mut r = HashingReader::new(&data[..]);
        let mut w = HashingWriter::new(Vec::new());
        io::copy(&mut r, &mut w).expect("copy");
        let (rd, rc) = r.finish();
        let (wd, wc, out) = w.finish();
        assert_eq!(rd, wd);
        assert_eq!(rc, 300_000);
        assert_eq!(wc, 300_000);
        assert_eq!(out, data);
        assert_eq!(rd, sha256(&data));
    }
}
