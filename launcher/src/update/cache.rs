//! The feed kept from the last check, for conditional requests: `<cache>/feed/<channel>.json`;
//! and the trust statements likewise, `<cache>/feed/trust/statements.json`.
//!
//! # Implementation
//! One JSON file per channel holds the URL it came from, the exact bytes of the feed and of its
//! signature, and the validators (`ETag`, `Last-Modified`) each came with. It is written
//! atomically after the feed verified, so bytes and validators always belong together. On a
//! `304 Not Modified` the kept bytes are used — and verified again exactly like downloaded ones
//! (signature, app, channel, freshness): the cache directory is the user's, and a `304` only says
//! "unchanged", never "trusted".
//!
//! # Alternatives
//! Keeping the validators only and trusting the parsed feed from the last run was rejected: it
//! would make a file in the cache a source of trust. Storing it in the home (state) was rejected:
//! it is a copy of something re-fetchable, which is what the cache is for.
//!
//! # Limitations
//! A kept copy from another URL (the mirror variable changed) is ignored, not migrated.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::http::Validators;

/// One kept document: its exact text and the validators it came with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Kept {
    /// The validators of the response.
    #[serde(flatten)]
    pub(crate) validators: Validators,
    /// The body, as received (a feed and a minisign signature are UTF-8 text).
    pub(crate) body: String,
}

/// The feed and its signature as last verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptFeed {
    /// The feed URL they came from.
    pub(crate) url: String,
    /// `<channel>.json`.
    pub(crate) feed: Kept,
    /// `<channel>.json.minisig`.
    pub(crate) signature: Kept,
}

/// `<cache>/feed/<channel>.json`.
pub(crate) fn path(cache: &Path, channel: &str) -> PathBuf {
    cache.join("feed").join(format!("{channel}.json"))
}

/// The copy kept for `channel` from `url`; `None` when there is none, it is unreadable or it came
/// from another URL.
pub(crate) fn load(cache: &Path, channel: &str, url: &str) -> Option<KeptFeed> {
    // The feed, its signature and validators: bounded by the feed's own limits.
    let limit = sea_payload::feed::MAX_FEED_LEN + 2 * sea_payload::feed::MAX_SIGNATURE_LEN;
    let bytes = sea_payload::bounded::read(&path(cache, channel), limit).ok()?;
    let kept: KeptFeed = serde_json::from_slice(&bytes).ok()?;
    (kept.url == url).then_some(kept)
}

/// Keeps `kept` for `channel` (atomically); a failure only costs the next check a full fetch.
pub(crate) fn save(cache: &Path, channel: &str, kept: &KeptFeed) {
    write_json(&path(cache, channel), kept, "the feed");
}

/// Writes `value` as JSON to `file` (atomically, creating its directory); a failure is logged.
fn write_json(file: &Path, value: &impl Serialize, what: &str) {
    let written = file
        .parent()
        .map_or(Ok(()), |dir| crate::private::create_dir(dir, true))
        .and_then(|()| serde_json::to_vec(value).map_err(std::io::Error::other))
        .and_then(|bytes| crate::private::write(file, &bytes));
    if let Err(e) = written {
        tracing::debug!(error = %e, path = %file.display(), "could not keep {what} for conditional requests");
    }
}

/// One document kept on its own (the trust statements), with the URL it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptDoc {
    /// Where it came from.
    pub(crate) url: String,
    /// The document.
    pub(crate) doc: Kept,
}

/// `<cache>/feed/trust/statements.json` (a directory of its own: no channel name can clash).
fn trust_path(cache: &Path) -> PathBuf {
    cache.join("feed").join("trust").join("statements.json")
}

/// The trust statements kept from `url`, if any.
pub(crate) fn load_trust(cache: &Path, url: &str) -> Option<KeptDoc> {
    let bytes = sea_payload::bounded::read(&trust_path(cache), 2 * sea_payload::trust::MAX_TRUST_LEN).ok()?;
    let kept: KeptDoc = serde_json::from_slice(&bytes).ok()?;
    (kept.url == url).then_some(kept)
}

/// Keeps the trust statements that were just walked (atomically); a failure costs a full fetch.
pub(crate) fn save_trust(cache: &Path, kept: &KeptDoc) {
    write_json(&trust_path(cache), kept, "the trust statements");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_feed_round_trips_and_belongs_to_its_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = KeptFeed {
            url: "http://127.0.0.1:1/stable.json".into(),
            feed: Kept {
                validators: Validators { etag: Some("\"abc\"".into()), last_modified: None },
                body: "{}\n".into(),
            },
            signature: Kept { validators: Validators::default(), body: "sig".into() },
        };
        save(dir.path(), "stable", &kept);
        assert_eq!(load(dir.path(), "stable", &kept.url), Some(kept.clone()));
        assert_eq!(load(dir.path(), "stable", "http://127.0.0.1:2/stable.json"), None);
        assert_eq!(load(dir.path(), "beta", &kept.url), None);
        std::fs::write(path(dir.path(), "stable"), b"{not json").expect("write");
        assert_eq!(load(dir.path(), "stable", &kept.url), None, "a damaged copy is ignored");
        let doc = KeptDoc { url: "http://127.0.0.1:1/trust.json".into(), doc: kept.feed.clone() };
        save_trust(dir.path(), &doc);
        assert_eq!(load_trust(dir.path(), &doc.url), Some(doc.clone()));
        assert_eq!(load_trust(dir.path(), "http://127.0.0.1:2/trust.json"), None);
    }
}
