//! The update feed: `<channel>.json`, signed by `<channel>.json.minisig`, served statically.
//!
//! The packer writes it (`sea-pack release`), the launcher reads it (`--sea-update`). Each release
//! names its payload artifact (a package without stub) and, when it needs a launcher newer than
//! some clients have, the launcher stub to self-replace with; every artifact carries its size,
//! SHA-256 and minisign signature, all checked before anything is installed.

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::manifest;
use crate::platform;

/// The feed format this crate writes.
pub const FEED_FORMAT: u32 = 1;
/// Largest feed accepted, in bytes.
pub const MAX_FEED_LEN: u64 = 8 * 1024 * 1024;
/// Largest detached signature accepted, in bytes.
pub const MAX_SIGNATURE_LEN: u64 = 16 * 1024;

/// A downloadable, verifiable file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Absolute URL.
    pub url: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// minisign signature of the file (the text of its `.minisig`).
    pub signature: String,
}

/// A launcher stub for self-replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LauncherArtifact {
    /// The stub's version.
    pub version: Version,
    /// The file.
    #[serde(flatten)]
    pub artifact: Artifact,
}

/// One release of one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The app version.
    pub version: Version,
    /// Its platform.
    pub platform: String,
    /// Oldest launcher that runs it.
    pub min_launcher: Version,
    /// Share of installs (0–100) offered this release; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<u8>,
    /// Seconds since the Unix epoch when it was added to the feed.
    #[serde(default)]
    pub published: u64,
    /// The payload artifact.
    pub payload: Artifact,
    /// The launcher stub, for clients whose launcher is older than `min_launcher`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launcher: Option<LauncherArtifact>,
}

/// A channel's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    /// [`FEED_FORMAT`].
    pub format: u32,
    /// The app name; a client refuses a feed of another app.
    pub name: String,
    /// The channel (`stable`, `beta`, …); any channel but `stable` offers pre-releases.
    pub channel: String,
    /// Every release ever added, newest last.
    pub releases: Vec<Release>,
}

/// Why a feed was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Not JSON of the expected shape.
    #[error("feed is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field has a value that is not allowed.
    #[error("feed is invalid: {0}")]
    Invalid(String),
}

impl Feed {
    /// An empty feed.
    pub fn new(name: &str, channel: &str) -> Self {
        Self { format: FEED_FORMAT, name: name.to_owned(), channel: channel.to_owned(), releases: Vec::new() }
    }

    /// Parses and validates.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FeedError> {
        let feed: Feed = serde_json::from_slice(bytes)?;
        feed.validate()?;
        Ok(feed)
    }

    /// Serialises deterministically.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Whether this channel offers pre-releases.
    pub fn allows_prerelease(&self) -> bool {
        allows_prerelease(&self.channel)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), FeedError> {
        if self.format != FEED_FORMAT {
            return Err(FeedError::Invalid(format!("unsupported feed format {}", self.format)));
        }
        manifest::validate_name(&self.name).map_err(|e| FeedError::Invalid(format!("name: {e}")))?;
        validate_channel(&self.channel).map_err(FeedError::Invalid)?;
        for r in &self.releases {
            let what = format!("release {} ({})", r.version, r.platform);
            if !platform::is_known(&r.platform) {
                return Err(FeedError::Invalid(format!("{what}: unknown platform")));
            }
            if r.rollout.is_some_and(|p| p > 100) {
                return Err(FeedError::Invalid(format!("{what}: rollout over 100")));
            }
            validate_artifact(&r.payload).map_err(|e| FeedError::Invalid(format!("{what}: payload {e}")))?;
            if let Some(l) = &r.launcher {
                validate_artifact(&l.artifact).map_err(|e| FeedError::Invalid(format!("{what}: launcher {e}")))?;
            }
        }
        Ok(())
    }
}

/// Any channel but `stable` offers pre-releases.
pub fn allows_prerelease(channel: &str) -> bool {
    channel != "stable"
}

/// A channel name: a short lower-case word, used as a file name.
pub fn validate_channel(channel: &str) -> Result<(), String> {
    let ok = !channel.is_empty()
        && channel.len() <= 32
        && channel.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("channel '{channel}' must be 1-32 of a-z, 0-9, '-', '_'")) }
}

fn validate_artifact(a: &Artifact) -> Result<(), String> {
    if !(a.url.starts_with("https://") || a.url.starts_with("http://")) {
        return Err(format!("url '{}' is not http(s)", a.url));
    }
    if crate::digest::from_hex(&a.sha256).is_none() {
        return Err("sha256 is not 64 hex digits".into());
    }
    if a.signature.len() as u64 > MAX_SIGNATURE_LEN || !a.signature.contains("trusted comment:") {
        return Err("signature is not a minisign signature".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        Artifact {
            url: "http://127.0.0.1:1/a.sea".into(),
            size: 3,
            sha256: "ab".repeat(32),
            signature: "untrusted comment: x\nRW\ntrusted comment: y\nZZ".into(),
        }
    }

    #[test]
    fn round_trip_and_validation() {
        let mut feed = Feed::new("hello", "stable");
        feed.releases.push(Release {
            version: Version::new(1, 0, 0),
            platform: "linux-x64".into(),
            min_launcher: Version::new(0, 1, 0),
            rollout: Some(50),
            published: 1,
            payload: artifact(),
            launcher: None,
        });
        let parsed = Feed::from_bytes(&feed.to_bytes()).expect("valid");
        assert_eq!(parsed, feed);
        assert!(!feed.allows_prerelease());
        let mut bad = feed.clone();
        bad.releases[0].rollout = Some(101);
        assert!(bad.validate().is_err());
        let mut bad = feed.clone();
        bad.releases[0].payload.url = "file:///etc/passwd".into();
        assert!(bad.validate().is_err());
        let mut bad = feed;
        bad.channel = "../x".into();
        assert!(bad.validate().is_err());
        assert!(Feed::from_bytes(b"[]").is_err());
    }
}
