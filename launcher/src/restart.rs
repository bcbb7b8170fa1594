//! SHIM — replaced by the supervision branch.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) const EXIT_CODE: i32 = 75;
pub(crate) const MAX_RESTARTS: usize = 10;
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(crate) struct RestartRequest {
    pub(crate) args: Option<Vec<OsString>>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) env: BTreeMap<OsString, OsString>,
    pub(crate) version: Option<semver::Version>,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed restart file {}: {reason}", path.display())]
pub(crate) struct RestartFileError {
    path: PathBuf,
    reason: String,
}

#[derive(serde::Deserialize)]
struct Raw {
    args: Option<Vec<String>>,
    cwd: Option<String>,
    env: Option<BTreeMap<String, String>>,
    version: Option<semver::Version>,
}

pub(crate) fn take(path: &Path) -> Result<Option<RestartRequest>, RestartFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RestartFileError { path: path.to_owned(), reason: e.to_string() }),
    };
    let _ = std::fs::remove_file(path);
    let raw: Raw = serde_json::from_slice(&bytes)
        .map_err(|e| RestartFileError { path: path.to_owned(), reason: e.to_string() })?;
    Ok(Some(RestartRequest {
        args: raw.args.map(|a| a.into_iter().map(OsString::from).collect()),
        cwd: raw.cwd.map(PathBuf::from),
        env: raw.env.unwrap_or_default().into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        version: raw.version,
    }))
}

#[derive(Debug, thiserror::Error)]
#[error("restart storm")]
pub(crate) struct RestartStorm;

#[derive(Debug)]
pub(crate) struct StormGuard {
    starts: VecDeque<Instant>,
}

impl StormGuard {
    pub(crate) fn new() -> Self {
        Self { starts: VecDeque::new() }
    }

    pub(crate) fn record(&mut self, now: Instant) -> Result<(), RestartStorm> {
        while self.starts.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60)) {
            self.starts.pop_front();
        }
        self.starts.push_back(now);
        if self.starts.len() > 10 { Err(RestartStorm) } else { Ok(()) }
    }
}
