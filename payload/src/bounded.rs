//! Reading a small file whole, never more than a limit: the one bounded read of the launcher and
//! the packer for files whose size they do not control (manifests, indexes, state and kept
//! documents in the home and cache).
//!
//! # Implementation
//! The file is read through `take(limit + 1)`: a file that grows while it is read (or lies about
//! its size) still costs at most `limit + 1` bytes of memory, and one byte over the limit is how
//! "too large" is told from "exactly the limit".

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The bytes of the file at `path` when it holds at most `limit` bytes; a larger file is an
/// `InvalidData` error naming the path and the limit.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_up_to_the_limit_and_refuses_one_byte_more() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").expect("write");
        assert_eq!(super::read(&path, 5).expect("fits"), b"12345");
        let e = super::read(&path, 4).expect_err("too large");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("larger than 4 bytes"), "{e}");
        assert_eq!(super::read(&dir.path().join("none"), 4).expect_err("missing").kind(), std::io::ErrorKind::NotFound);
    }
}
