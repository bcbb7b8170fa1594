//! HTTP for updates: a reqwest client over rustls, small verified fetches and resumable
//! downloads.
//!
//! Building the client reads the system's certificate store (several milliseconds), so it is
//! only ever built by `--sea-update` or the background check, never on the start-up path.
//! Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
//!
//! # Implementation
//!
//! Three bounds, so that no server can hold an update (and its lock) for long:
//!
//! * a connect timeout and a read timeout (`<PREFIX>_UPDATE_TIMEOUT`, default 30 s): a server that
//!   accepts and never answers, or falls silent, fails;
//! * for the feed and its signature, whose sizes are not known in advance: a fixed deadline for
//!   both together (`<PREFIX>_UPDATE_DEADLINE`, default 120 s) and a maximum size each;
//! * for each artifact, whose size the signed feed states: TUF's minimum-speed rule, a deadline
//!   of the same 120 s plus the size at [`MIN_SPEED`] (10 KiB/s) — a 30 MiB payload gets 120 s +
//!   50 min. A server dripping a byte a second keeps the read timeout happy forever; it fails here.
//!
//! A download stopped by its deadline keeps what arrived (`<cache>/downloads/<sha>.part`), as a
//! broken connection does: the bytes are checked against the signed digest once complete, and the
//! next run resumes with a `Range` request instead of paying for them again.
//!
//! The feed and its signature are fetched conditionally ([`get_conditional`]): the validators
//! of the copy kept from the last check (`ETag` → `If-None-Match`, `Last-Modified` →
//! `If-Modified-Since`) go with the request, and a `304 Not Modified` costs a few hundred bytes
//! instead of the whole feed. The kept copy is verified again like a downloaded one (see
//! `super::cache`): a `304` says "unchanged", not "trusted".
//!
//! # Alternatives
//!
//! A minimum speed measured over a sliding window (curl's `--speed-limit`) was rejected: it needs
//! a tuning of its own and a server can stay just above it; a deadline from the signed size bounds
//! the whole download by one number the attacker does not control.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use sea_payload::feed::Artifact;

use super::UpdateError;
use crate::app::App;
use crate::start::vars::{self, BadValue};

/// Default connect and read timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default deadline of the feed fetch, and the floor of every download's deadline.
pub(crate) const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);
/// The slowest average speed a download may have on top of the floor, in bytes per second.
pub(crate) const MIN_SPEED: u64 = 10 * 1024;

/// The time limits of one update run, from `<PREFIX>_UPDATE_TIMEOUT` and
/// `<PREFIX>_UPDATE_DEADLINE`.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Connect and read timeout.
    pub(crate) timeout: Duration,
    /// The feed fetch's deadline and each download's floor.
    pub(crate) deadline: Duration,
    /// The full name of the variable that moves `deadline`, for messages.
    pub(crate) deadline_var: String,
}

impl Limits {
    /// Reads both variables. A bad value is an error when `strict` (`--sea-update`: exit 64);
    /// otherwise (the background check) it is logged and the default is used.
    pub(crate) fn from_app(app: &App, strict: bool) -> Result<Self, BadValue> {
        let read = |setting: &Result<Option<Duration>, BadValue>, default: Duration| match setting.clone() {
            Ok(value) => Ok(value.unwrap_or(default)),
            Err(e) if strict => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, default = default.as_secs(), "the update check uses the default");
                Ok(default)
            }
        };
        Ok(Self {
            timeout: read(&app.settings.update_timeout, DEFAULT_TIMEOUT)?,
            deadline: read(&app.settings.update_deadline, DEFAULT_DEADLINE)?,
            deadline_var: app.vars.name(vars::UPDATE_DEADLINE),
        })
    }
}

/// The deadline of a download of `size` bytes: `floor` plus the size at [`MIN_SPEED`].
pub(crate) fn download_deadline(floor: Duration, size: u64) -> Duration {
    let whole = size / MIN_SPEED;
    // `size % MIN_SPEED < 10,240`, so the product stays far below `u64::MAX` and the quotient
    // below 10^9.
    let nanos = (size % MIN_SPEED) * 1_000_000_000 / MIN_SPEED;
    floor.saturating_add(Duration::new(whole, u32::try_from(nanos).unwrap_or(0)))
}

/// A client for one update run.
pub(crate) fn client(timeout: Duration, user_agent: &str) -> Result<reqwest::Client, UpdateError> {
    // Only the first call in a process installs the provider; later ones are no-ops.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder();
    // The static stub must not let its glibc load NSS modules (`super::resolve`).
    #[cfg(sea_static)]
    let builder = builder.dns_resolver(std::sync::Arc::new(super::resolve::SystemResolver));
    builder
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .user_agent(user_agent)
        .redirect(super::redirect_policy())
        .http1_only()
        .build()
        .map_err(|e| UpdateError::Client(e.to_string()))
}

fn http_error(url: &str, e: reqwest::Error) -> UpdateError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    UpdateError::Http { url: url.to_owned(), kind, detail: super::with_causes(&e) }
}

/// The body of a successful response of at most `limit` bytes.
async fn read_small(mut response: reqwest::Response, url: &str, limit: u64) -> Result<Vec<u8>, UpdateError> {
    let status = response.status();
    if !status.is_success() {
        return Err(UpdateError::Status { url: url.to_owned(), status: status.as_u16() });
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(UpdateError::TooLarge { url: url.to_owned(), limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| http_error(url, e))? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            return Err(UpdateError::TooLarge { url: url.to_owned(), limit });
        }
    }
    Ok(body)
}

/// The cache validators of a response: what makes the next request conditional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Validators {
    /// The `ETag` header, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) etag: Option<String>,
    /// The `Last-Modified` header, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_modified: Option<String>,
}

impl Validators {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// What a conditional GET returned.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// A new body, and its validators.
    Body(Vec<u8>, Validators),
    /// `304 Not Modified`: the copy the validators came from is current.
    NotModified,
}

/// GETs a small document (a feed, a signature), refusing more than `limit` bytes, conditionally on `known` (the validators of the copy
/// the caller kept): `If-None-Match` and `If-Modified-Since`, as RFC 9110 says a cache sends them.
pub(crate) async fn get_conditional(
    client: &reqwest::Client,
    url: &str,
    limit: u64,
    known: Option<&Validators>,
) -> Result<Fetched, UpdateError> {
    let mut request = client.get(url);
    if let Some(known) = known.filter(|k| !k.is_empty()) {
        if let Some(etag) = &known.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &known.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
        }
    }
    let response = request.send().await.map_err(|e| http_error(url, e))?;
    if response.status() == reqwest::StatusCode::NOT_MODIFIED {
        if known.is_some() {
            return Ok(Fetched::NotModified);
        }
        return Err(UpdateError::Status { url: url.to_owned(), status: 304 });
    }
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let validators =
        Validators { etag: header(reqwest::header::ETAG), last_modified: header(reqwest::header::LAST_MODIFIED) };
    let body = read_small(response, url, limit).await?;
    Ok(Fetched::Body(body, validators))
}

/// Downloads `artifact` into `part` within [`download_deadline`] of its signed size, resuming
/// what a previous attempt left there with a Range request. Never writes more than the feed's
/// size: a server that sends more is lying, and the partial file is deleted. A connection that
/// breaks off, or the deadline, leaves the partial file for the next attempt, which is kept only
/// if the whole then verifies.
pub(crate) async fn download(
    client: &reqwest::Client,
    artifact: &Artifact,
    part: &Path,
    progress: &dyn Fn(u64),
    cache_var: &str,
    limits: &Limits,
) -> Result<(), UpdateError> {
    let deadline = download_deadline(limits.deadline, artifact.size);
    match tokio::time::timeout(deadline, download_once(client, artifact, part, progress, cache_var)).await {
        Ok(result) => result,
        Err(_) => {
            // The write in progress was dropped with the future: what reached the file is a prefix.
            let have = fs::metadata(part).map_or(0, |m| m.len());
            Err(UpdateError::Http {
                url: artifact.url.clone(),
                kind: "timed out",
                detail: format!(
                    "the download did not finish within its deadline of {:.1}s for its signed size of {} bytes \
                     ({}s plus the size at {} KiB/s; {} raises the {}s); {have} bytes arrived and are kept: \
                     run the update again to resume",
                    deadline.as_secs_f64(),
                    artifact.size,
                    secs(limits.deadline),
                    MIN_SPEED / 1024,
                    limits.deadline_var,
                    secs(limits.deadline),
                ),
            })
        }
    }
}

/// Seconds as written in messages: `120`, `2.5`.
fn secs(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

async fn download_once(
    client: &reqwest::Client,
    artifact: &Artifact,
    part: &Path,
    progress: &dyn Fn(u64),
    cache_var: &str,
) -> Result<(), UpdateError> {
    let url = artifact.url.as_str();
    let io = |what, source| UpdateError::Io { what, path: part.to_owned(), source };
    let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > artifact.size {
        fs::remove_file(part).map_err(|e| io("remove", e))?;
        have = 0;
    }
    if have == artifact.size && have > 0 {
        return Ok(());
    }
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().await.map_err(|e| http_error(url, e))?;
    let status = response.status().as_u16();
    let append = match status {
        206 if have > 0 && content_range_start(&response) == Some(have) => true,
        200 => false,
        416 if have > 0 => {
            // The server has nothing past our prefix: start over.
            let _ = fs::remove_file(part);
            return Box::pin(download_once(client, artifact, part, progress, cache_var)).await;
        }
        _ => return Err(UpdateError::Status { url: url.to_owned(), status }),
    };
    let start = if append { have } else { 0 };
    if let Some(len) = response.content_length()
        && start + len != artifact.size
    {
        let _ = fs::remove_file(part);
        return Err(UpdateError::SizeMismatch { url: url.to_owned(), expected: artifact.size, found: start + len });
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(|e| io("create", e))?;
    let mut written = start;
    progress(written);
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            // The connection broke off mid-body: what arrived is kept for a resumed attempt.
            Err(e) => {
                let _ = file.sync_all();
                tracing::debug!(error = %e, written, "download interrupted");
                return Err(UpdateError::Truncated { url: url.to_owned(), expected: artifact.size, found: written });
            }
        };
        written += chunk.len() as u64;
        if written > artifact.size {
            drop(file);
            let _ = fs::remove_file(part);
            return Err(UpdateError::SizeMismatch { url: url.to_owned(), expected: artifact.size, found: written });
        }
        if let Err(e) = file.write_all(&chunk) {
            drop(file);
            // A full disk keeps nothing: the space is what the user needs back.
            let _ = fs::remove_file(part);
            if sea_payload::unpack::is_storage_full(&e) {
                return Err(UpdateError::DiskFull { path: part.to_owned(), source: e, var: cache_var.to_owned() });
            }
            return Err(io("write", e));
        }
        progress(written);
    }
    file.sync_all().map_err(|e| io("sync", e))?;
    if written != artifact.size {
        return Err(UpdateError::Truncated { url: url.to_owned(), expected: artifact.size, found: written });
    }
    Ok(())
}

fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.parse().ok()
}

/// Whether an error should make a later attempt start from scratch rather than resume.
pub(crate) fn keep_partial(error: &UpdateError) -> bool {
    matches!(error, UpdateError::Http { .. } | UpdateError::Truncated { .. })
}

/// Bounds how long the feed fetch (a document of unknown size, and its signature) may take end
/// to end: the read timeout bounds silences; this bounds a server that trickles bytes forever.
pub(crate) async fn with_deadline<T>(
    limits: &Limits,
    url: &str,
    fut: impl std::future::Future<Output = Result<T, UpdateError>>,
) -> Result<T, UpdateError> {
    match tokio::time::timeout(limits.deadline, fut).await {
        Ok(result) => result,
        Err(_) => Err(UpdateError::Http {
            url: url.to_owned(),
            kind: "timed out",
            detail: format!(
                "no complete answer within the deadline of {}s ({} raises it)",
                secs(limits.deadline),
                limits.deadline_var
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_deadline_grows_with_the_signed_size_at_the_minimum_speed() {
        let floor = Duration::from_secs(120);
        assert_eq!(download_deadline(floor, 0), floor);
        assert_eq!(download_deadline(floor, 10 * 1024), Duration::from_secs(121));
        assert_eq!(download_deadline(floor, 5 * 1024), Duration::from_millis(120_500));
        assert_eq!(download_deadline(floor, 30 * 1024 * 1024), Duration::from_secs(120 + 3072));
        assert_eq!(download_deadline(Duration::from_secs(2), 1), Duration::new(2, 97_656));
        // Never an overflow or a panic, whatever the feed claims.
        assert_eq!(download_deadline(Duration::MAX, u64::MAX), Duration::MAX);
        assert!(download_deadline(floor, u64::MAX) > Duration::from_secs(u64::MAX / MIN_SPEED));
    }

    #[test]
    fn seconds_in_messages_are_short() {
        assert_eq!(secs(Duration::from_secs(120)), "120");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5");
    }
}
