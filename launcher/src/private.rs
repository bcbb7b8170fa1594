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

/// Removes the temporary files `write` left in `dir` when a process was killed between creating
/// and renaming one. Only names of that form, and only when older than `min_age`, so a write in
/// progress in another process is never touched. Returns how many went.
pub(crate) fn sweep_temps(dir: &Path, min_age: std::time::Duration) -> usize {
    let Ok(listing) = fs::read_dir(dir) else { return 0 };
    let now = std::time::SystemTime::now();
    listing
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_temp_name))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            e.metadata().and_then(|m| m.modified()).is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= min_age))
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// `.<name>.tmp-<pid>`, as `write` names its temporary files.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    rest.rsplit_once(".tmp-")
        .is_some_and(|(base, pid)| !base.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
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

    #[test]
    fn sweeps_only_old_temporaries_of_its_own_form() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [".state.json.tmp-123", "state.json", ".tmp-1", ".x.tmp-12a", "keep.tmp-5"] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        std::fs::create_dir(dir.path().join(".d.tmp-7")).expect("mkdir");
        assert_eq!(super::sweep_temps(dir.path(), std::time::Duration::from_secs(3600)), 0, "all are new");
        assert_eq!(super::sweep_temps(dir.path(), std::time::Duration::ZERO), 1);
        assert!(!dir.path().join(".state.json.tmp-123").exists());
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 5);
    }
}
