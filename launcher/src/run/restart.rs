//! Exit code 75: the app asks to be started again, optionally with new arguments, directory,
//! environment or version (a freshly installed update, typically).
//!
//! # Implementation
//!
//! The app writes a small JSON object to `<PREFIX>_RESTART_FILE` (`<home>/restart/<launcher
//! pid>.json`, in the 0700 home) and exits with 75:
//! `{"args": ["..."], "cwd": "/abs", "env": {"K": "V"}, "version": "1.2.3"}`, every field optional.
//! [`take`] reads it and deletes it (the parsing is `sea_payload::restart`, shared with the fuzzers) — also when it is malformed, so a bad file is reported once
//! and never read again — and validates everything that would otherwise fail later in a less
//! clear way: NUL bytes (cannot be passed to `exec`), environment names that are empty or contain
//! `=`, a relative `cwd` (relative to what?), a version that is not semver. Unknown fields are
//! ignored, so an app written for a newer launcher still restarts. A file over 1 MiB is refused
//! without being read.
//!
//! What the fields do (in `crate::commands::run`): `args` and `cwd` replace the previous ones; `env` is
//! added to the app's environment only — never the launcher's, also not that of a self-updated
//! launcher the restart `exec`s ([`crate::run::relaunch`]); `version` pins the next runs, except a
//! version marked bad, which is skipped with a warning (only `<PREFIX>_VERSION`, the user's own
//! choice, overrides a bad mark).
//!
//! [`StormGuard`] caps the loop: more than [`MAX_RESTARTS`] restarts within [`WINDOW`] means
//! the app is stuck (or a bug restarts it forever); the launcher stops with a clear error and 75.
//!
//! # Limitations
//!
//! JSON strings are Unicode: arguments, paths and values that are not valid UTF-8 cannot be
//! requested.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest restart file accepted.
pub(crate) const MAX_FILE_LEN: u64 = sea_payload::restart::MAX_LEN;

/// At most this many restarts within [`WINDOW`].
pub(crate) const MAX_RESTARTS: usize = 10;
/// The exit code by which the app asks to be restarted.
pub(crate) const EXIT_CODE: i32 = 75;

/// The window of the restart cap.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// A valid restart request. Every field is optional in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestartRequest {
    /// Replaces the user's arguments (the manifest's fixed arguments stay in front).
    pub(crate) args: Option<Vec<OsString>>,
    /// The working directory of the next run (absolute).
    pub(crate) cwd: Option<PathBuf>,
    /// Added to the app's environment.
    pub(crate) env: BTreeMap<OsString, OsString>,
    /// Pins the version of the next run.
    pub(crate) version: Option<semver::Version>,
}

/// A restart file that could not be used. The file has been deleted (unless [`Delete`] says it
/// could not be).
///
/// [`Delete`]: RestartFileError::Delete
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestartFileError {
    /// It exists but could not be opened or read.
    #[error("could not read the restart file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Not a regular file (a directory, a FIFO, …).
    #[error("the restart file {} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Larger than [`MAX_FILE_LEN`].
    #[error("the restart file {} is too large ({len} bytes; at most {MAX_FILE_LEN})", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// Not JSON, not an object, or a field of the wrong type.
    #[error("the restart file {} is malformed: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column when the JSON parser knows them.
        reason: String,
    },
    /// A field has the right type but a value that cannot be used.
    #[error("the restart file {} has an invalid {field}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which field (`args[2]`, `env.FOO`, `cwd`, `version`).
        field: String,
        /// Why.
        reason: String,
    },
    /// It could not be deleted (it would be read again at the next restart).
    #[error("could not delete the restart file {}: {source}", path.display())]
    Delete {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The restart loop ran away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the app asked to restart {count} times within {} s (at most {MAX_RESTARTS} allowed); stopping — it is probably stuck in a restart loop",
    WINDOW.as_secs()
)]
pub(crate) struct RestartStorm {
    /// Restarts within the window, this one included.
    pub(crate) count: usize,
}

/// Reads and deletes the restart file at `path`. `Ok(None)` if there is none.
///
/// The file is deleted whether or not it is valid, so a malformed file is reported once; the
/// caller reports the error and restarts with the previous arguments.
pub(crate) fn take(path: &Path) -> Result<Option<RestartRequest>, RestartFileError> {
    let bytes = match read_limited(path) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => return Ok(None),
        Err(e) => Err(e),
    };
    clear(path).map_err(|source| RestartFileError::Delete { path: path.to_owned(), source })?;
    parse(path, &bytes?).map(Some)
}

/// Deletes a restart file if there is one (a stale file of an earlier launcher that had the same
/// pid, or one the app wrote without exiting with 75).
pub(crate) fn clear(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The file's bytes, `None` if it does not exist. Refuses non-regular and oversized files without
/// reading them.
fn read_limited(path: &Path) -> Result<Option<Vec<u8>>, RestartFileError> {
    let read_err = |source| RestartFileError::Read { path: path.to_owned(), source };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(RestartFileError::NotAFile { path: path.to_owned() });
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(RestartFileError::TooLarge { path: path.to_owned(), len: meta.len() });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow after the metadata was read: never read more than the limit allows.
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes).map_err(read_err)?;
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > MAX_FILE_LEN {
        return Err(RestartFileError::TooLarge { path: path.to_owned(), len });
    }
    Ok(Some(bytes))
}

/// Parses with the format crate's parser and converts to what the launcher passes to `exec`.
fn parse(path: &Path, bytes: &[u8]) -> Result<RestartRequest, RestartFileError> {
    use sea_payload::restart::RestartRequestError;
    let request = sea_payload::restart::parse(bytes).map_err(|e| match e {
        RestartRequestError::Malformed(reason) => RestartFileError::Malformed { path: path.to_owned(), reason },
        RestartRequestError::Invalid { field, reason } => {
            RestartFileError::Invalid { path: path.to_owned(), field, reason }
        }
    })?;
    Ok(RestartRequest {
        args: request.args.map(|args| args.into_iter().map(OsString::from).collect()),
        cwd: request.cwd.map(PathBuf::from),
        env: request.env.into_iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect(),
        version: request.version,
    })
}

/// Counts restarts in a sliding window of [`WINDOW`].
#[derive(Debug, Default)]
pub(crate) struct StormGuard {
    /// When each recent restart happened, oldest first.
    recent: VecDeque<Instant>,
}

impl StormGuard {
    /// A guard that has seen no restart.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records a restart at `now`. `Err` when this is more than [`MAX_RESTARTS`] within
    /// [`WINDOW`] (the 11th restart in 60 s); the caller stops with exit code 75.
    pub(crate) fn record(&mut self, now: Instant) -> Result<(), RestartStorm> {
        while self.recent.front().is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() > MAX_RESTARTS {
            return Err(RestartStorm { count: self.recent.len() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory (its path, and the `tempfile` guard that removes it on drop).
    struct Scratch(PathBuf, #[allow(dead_code)] tempfile::TempDir);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = tempfile::Builder::new().prefix(&format!("sea-restart-{tag}-")).tempdir().expect("temp dir");
            Scratch(dir.path().to_owned(), dir)
        }

        fn file(&self, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join("restart.json");
            std::fs::write(&path, contents).expect("write restart file");
            path
        }
    }

    #[test]
    fn missing_file_is_no_request() {
        let s = Scratch::new("missing");
        assert_eq!(take(&s.0.join("nope.json")).expect("take"), None);
    }

    #[test]
    fn full_request_is_parsed_and_the_file_deleted() {
        let s = Scratch::new("full");
        let path =
            s.file(r#"{"args": ["a", "b c"], "cwd": "/tmp", "env": {"K": "v=1", "E": ""}, "version": "1.2.3-rc.1"}"#);
        let req = take(&path).expect("take").expect("request");
        assert_eq!(req.args, Some(vec![OsString::from("a"), OsString::from("b c")]));
        assert_eq!(req.cwd, Some(PathBuf::from("/tmp")));
        assert_eq!(req.env.get(&OsString::from("K")), Some(&OsString::from("v=1")));
        assert_eq!(req.env.get(&OsString::from("E")), Some(&OsString::from("")));
        assert_eq!(req.version, Some(semver::Version::parse("1.2.3-rc.1").expect("semver")));
        assert!(!path.exists(), "the restart file must be deleted");
    }

    #[test]
    fn every_field_is_optional_and_null_is_absent() {
        let s = Scratch::new("optional");
        for text in ["{}", " {\"args\": null, \"env\": null} ", r#"{"future": {"x": 1}}"#] {
            let req = take(&s.file(text)).expect("take").expect("request");
            assert_eq!(req, RestartRequest::default(), "{text}");
        }
        let req = take(&s.file(r#"{"args": []}"#)).expect("take").expect("request");
        assert_eq!(req.args, Some(vec![]), "an empty list replaces the arguments with none");
    }

    #[test]
    fn malformed_files_are_errors_and_deleted_anyway() {
        let s = Scratch::new("malformed");
        let cases: &[(&str, &str)] = &[
            ("{not json", "malformed"),
            ("", "malformed"),
            ("[[\"a\"]]", "JSON object"),
            ("\"args\"", "JSON object"),
            (r#"{"args": "a b"}"#, "malformed"),
            (r#"{"args": [1]}"#, "malformed"),
            (r#"{"env": {"K": 1}}"#, "malformed"),
            (r#"{"env": ["K"]}"#, "malformed"),
            (r#"{"cwd": 5}"#, "malformed"),
            (r#"{"args": ["a"], "args": ["b"]}"#, "duplicate"),
            (r#"{"args": ["a\u0000b"]}"#, "args[0]"),
            (r#"{"cwd": "/a\u0000"}"#, "NUL"),
            (r#"{"cwd": "relative/dir"}"#, "absolute"),
            (r#"{"env": {"A=B": "x"}}"#, "env name"),
            (r#"{"env": {"": "x"}}"#, "env name"),
            (r#"{"env": {"K": "x\u0000"}}"#, "env.K"),
            (r#"{"version": "latest"}"#, "semantic version"),
            (r#"{"version": "v1.2.3"}"#, "semantic version"),
            ("{} trailing", "malformed"),
        ];
        for (text, expect) in cases {
            let path = s.file(text);
            let err = take(&path).expect_err(text);
            let msg = err.to_string();
            assert!(msg.contains(expect), "{text}: {msg}");
            assert!(msg.contains(&path.display().to_string()), "{text}: {msg}");
            assert!(!path.exists(), "{text}: the file must be deleted anyway");
        }
    }

    #[test]
    fn oversized_file_is_refused_unread_and_deleted() {
        let s = Scratch::new("oversized");
        let mut big = b"{\"args\": [\"".to_vec();
        big.resize(usize::try_from(MAX_FILE_LEN).expect("fits") + 10, b'a');
        big.extend_from_slice(b"\"]}");
        let path = s.file(&big);
        assert!(matches!(take(&path), Err(RestartFileError::TooLarge { .. })));
        assert!(!path.exists());
        // Exactly at the limit is fine.
        let mut edge = b"{\"args\": [\"".to_vec();
        let limit = usize::try_from(MAX_FILE_LEN).expect("fits");
        edge.resize(limit - 3, b'a');
        edge.extend_from_slice(b"\"]}");
        assert_eq!(edge.len(), limit);
        let req = take(&s.file(&edge)).expect("take").expect("request");
        assert_eq!(req.args.expect("args")[0].len(), limit - 14);
    }

    #[test]
    fn a_directory_is_not_a_restart_file() {
        let s = Scratch::new("dir");
        let path = s.0.join("restart.json");
        std::fs::create_dir(&path).expect("mkdir");
        assert!(matches!(take(&path), Err(RestartFileError::NotAFile { .. }) | Err(RestartFileError::Delete { .. })));
    }

    #[test]
    fn clear_ignores_a_missing_file() {
        let s = Scratch::new("clear");
        clear(&s.0.join("none.json")).expect("missing is fine");
        let path = s.file("{}");
        clear(&path).expect("clear");
        assert!(!path.exists());
    }

    #[test]
    fn ten_restarts_a_minute_are_fine_the_eleventh_is_a_storm() {
        let t0 = Instant::now();
        let mut guard = StormGuard::new();
        for i in 0..10 {
            guard.record(t0 + Duration::from_secs(i)).expect("within the cap");
        }
        let err = guard.record(t0 + Duration::from_secs(10)).expect_err("the 11th within 60 s");
        assert_eq!(err.count, 11);
        assert!(err.to_string().contains("restart"), "{err}");
    }

    #[test]
    fn restarts_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let mut guard = StormGuard::new();
        for i in 0..10 {
            guard.record(t0 + Duration::from_secs(i * 5)).expect("within the cap");
        }
        // The first restart (t0) is exactly 60 s old at t0+60: out of the window.
        guard.record(t0 + Duration::from_secs(60)).expect("t0 left the window");
        // Now 10 within (t0+5 .. t0+60]: one more at t0+61 is still fine (t0+5 is out? no: 56 s).
        let err = guard.record(t0 + Duration::from_secs(61)).expect_err("11 within 60 s");
        assert_eq!(err.count, 11);
        // A slow restarter never trips it.
        let mut slow = StormGuard::new();
        for i in 0..100 {
            slow.record(t0 + Duration::from_secs(i * 7)).expect("one every 7 s");
        }
    }
}
