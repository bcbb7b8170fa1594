//! Files and directories that are the user's alone: directories created 0700, and small state
//! files written 0600 so that a reader never sees half of one (temporary sibling, fsync, rename:
//! self-replace's rule, applied to the launcher's own state).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Creates a directory with mode 0700 (and, with `recursive`, its missing parents likewise).
pub(crate) fn create_dir(path: &Path, recursive: bool) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Replaces `path` with `bytes` atomically. The temporary file is removed on failure.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn create(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        super::write(&p, b"1").expect("write");
        super::write(&p, b"22").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"22");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
