//! HTTP for updates: a reqwest client over rustls, small verified fetches and resumable
//! downloads.
//!
//! Building the client reads the system's certificate store (several milliseconds), so it is
//! only ever built by `--sea-update` or the background check, never on the start-up path.
//! Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`. Every request has a connect timeout
//! and a read timeout (a server that accepts and never answers fails instead of hanging).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use sea_payload::feed::Artifact;

use super::UpdateError;

/// A client for one update run.
pub(crate) fn client(timeout: Duration, user_agent: &str) -> Result<reqwest::Client, UpdateError> {
    // Only the first call in a process installs the provider; later ones are no-ops.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
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

/// GETs a small document (a feed, a signature), refusing more than `limit` bytes.
pub(crate) async fn get_small(client: &reqwest::Client, url: &str, limit: u64) -> Result<Vec<u8>, UpdateError> {
    let mut response = client.get(url).send().await.map_err(|e| http_error(url, e))?;
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

/// Downloads `artifact` into `part`, resuming what a previous attempt left there with a Range
/// request. Never writes more than the feed's size: a server that sends more is lying, and the
/// partial file is deleted. A connection that breaks off leaves the partial file for the next
/// attempt, which is kept only if the whole then verifies.
pub(crate) async fn download(
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
            return Box::pin(download(client, artifact, part, progress, cache_var)).await;
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

/// Bounds how long a whole request may take end to end (the read timeout bounds silences; this
/// bounds a server that trickles bytes forever).
pub(crate) async fn with_deadline<T>(
    deadline: Duration,
    url: &str,
    fut: impl std::future::Future<Output = Result<T, UpdateError>>,
) -> Result<T, UpdateError> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(result) => result,
        Err(_) => Err(UpdateError::Http {
            url: url.to_owned(),
            kind: "timed out",
            detail: format!("no complete answer within {}s", deadline.as_secs()),
        }),
    }
}
