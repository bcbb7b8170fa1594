//! Positional reads of one section of a file.
//!
//! Positional reads (`pread`) leave the file offset alone, so several readers can share one open
//! handle to the launcher's own executable without seeking behind each other's backs.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;

/// Reads exactly `buf.len()` bytes at `offset`.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0usize;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// A [`Read`] over `range` of `file`. A file that ends early gives `UnexpectedEof`, never a short
/// section that looks complete.
#[derive(Debug)]
pub(crate) struct SectionReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl<'a> SectionReader<'a> {
    pub(crate) fn new(file: &'a File, range: Range<u64>) -> Self {
        Self { file, pos: range.start, end: range.end }
    }
}

impl Read for SectionReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = read_at(self.file, &mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file ended inside a section"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
