//! The update feed: `<channel>.json`, signed by `<channel>.json.minisig`, served statically.
//!
//! The packer writes it (`sea-pack release`), the launcher reads it (`--sea-update`). Each release
//! names its payload artifact (a package without stub) and, when it needs a launcher newer than
//! some clients have, the launcher stub to self-replace with; every artifact carries its size,
//! SHA-256 and minisign signature, all checked before anything is installed.
//!
//! The feed names its app and its channel inside the signed bytes, so a mirror cannot serve one
//! channel's validly signed feed as another's: a client refuses a feed whose `channel` is not the
//! one it follows ([`channel_of_url`] says which one a feed URL names). Every URL — the feed's own
//! and each artifact's — is `https://`, or `http://` on a loopback address only ([`check_url`]):
//! the signatures protect the bytes, not their freshness, and plain HTTP on the open network lets
//! anyone on the path withhold or replay.
//!
//! # Freshness
//! A signature says who wrote a feed, not when: a mirror (or anyone on the path) that keeps
//! serving an old, validly signed feed would keep every client on a version with a known hole.
//! So the signed bytes also carry `expires` (Unix seconds; `sea-pack release --expires`, default
//! 90 days, renewed by `release --refresh`) and `sequence` (raised by one at every write of the
//! channel's feed). [`Feed::check_fresh`] refuses an expired feed, and one whose sequence is below
//! the highest this client has verified for the channel (a replay); the same feed again (equal
//! sequence) is fine.
//!
//! Feeds written before these fields (no `expires`, no `sequence`) are still read, but only by a
//! client that has never verified a sequence for the channel: once a client has seen a fresh
//! feed, an old-format one is a downgrade of the protection and refused like a replay. Older
//! clients read new feeds unchanged: [`Feed`] does not deny unknown fields, so serde skips both.

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
    /// Deltas to this release from earlier ones ([`crate::delta`]); absent in older feeds, and
    /// ignored by older clients (the feed does not deny unknown fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<DeltaArtifact>,
}

/// A delta artifact: the release's tree expressed against an earlier release of the same
/// platform, for clients that have that tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaArtifact {
    /// The base version.
    pub from: Version,
    /// The base payload's SHA-256 (lower-case hex): which build of that version.
    pub base_sha256: String,
    /// The file.
    #[serde(flatten)]
    pub artifact: Artifact,
}

/// A channel's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    /// [`FEED_FORMAT`].
    pub format: u32,
    /// The app name; a client refuses a feed of another app.
    pub name: String,
    /// The channel (`stable`, `beta`, …): signed with the rest, and checked by every client
    /// against the channel it follows. Any channel but `stable` offers pre-releases.
    pub channel: String,
    /// Every release ever added, newest last.
    pub releases: Vec<Release>,
    /// Seconds since the Unix epoch after which clients refuse this feed; absent in feeds
    /// written before expiry existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Raised by one at every write of this channel's feed; a client refuses a lower one than it
    /// has verified. Absent in feeds written before sequences existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

/// Why a validly signed feed is not fresh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// The feed's expiry has passed: a frozen mirror, or a publisher that stopped renewing.
    #[error("the feed expired on {} UTC", crate::time::utc_date(*expires))]
    Expired {
        /// When it expired (Unix seconds).
        expires: u64,
    },
    /// Older than a feed already verified for this channel (`found` absent: a feed of the format
    /// before sequences, after this client has verified one with a sequence).
    #[error(
        "the feed is older than one this client already verified (its sequence is {}, this client has seen {seen}): a mirror or the network is replaying an old feed",
        found.map_or_else(|| "missing".to_owned(), |n| n.to_string())
    )]
    Replayed {
        /// The feed's sequence.
        found: Option<u64>,
        /// The highest sequence verified before.
        seen: u64,
    },
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
        Self {
            format: FEED_FORMAT,
            name: name.to_owned(),
            channel: channel.to_owned(),
            releases: Vec::new(),
            expires: None,
            sequence: None,
        }
    }

    /// Whether a client may act on this (already signature-checked) feed at `now`, having
    /// verified sequence `seen` of this channel before (`None`: never). Expiry is checked first:
    /// an expired feed is refused whatever its sequence. A feed without `expires`/`sequence` is
    /// accepted only when `seen` is `None` (see the module's *Freshness*).
    pub fn check_fresh(&self, now: u64, seen: Option<u64>) -> Result<(), Stale> {
        if let Some(expires) = self.expires
            && expires <= now
        {
            return Err(Stale::Expired { expires });
        }
        match (seen, self.sequence) {
            (None, _) => Ok(()),
            (Some(seen), Some(found)) if found >= seen && self.expires.is_some() => Ok(()),
            (Some(seen), found) => Err(Stale::Replayed { found, seen }),
        }
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
            for d in &r.deltas {
                let from = format!("{what}: delta from {}", d.from);
                validate_artifact(&d.artifact).map_err(|e| FeedError::Invalid(format!("{from}: {e}")))?;
                if crate::digest::from_hex(&d.base_sha256).is_none() {
                    return Err(FeedError::Invalid(format!("{from}: base_sha256 is not a SHA-256")));
                }
                if d.from >= r.version {
                    return Err(FeedError::Invalid(format!("{from}: the base is not older than the release")));
                }
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

/// The channel a feed URL names: the file stem of `…/<channel>.json`, if it is a valid channel.
pub fn channel_of_url(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let channel = path.rsplit('/').next()?.strip_suffix(".json")?;
    validate_channel(channel).ok().map(|()| channel)
}

/// A URL the launcher may fetch from: `https://`, or `http://` on a loopback host (`127.0.0.0/8`,
/// `[::1]`, `localhost`: a local mirror or a test server). No user-info, no backslash, no
/// whitespace: forms that parsers disagree about.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
        return Err(format!("url '{url}' contains whitespace, a control character or a backslash"));
    }
    let (secure, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("url '{url}' is not an https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("url '{url}' has no host, or has user-info before the host"));
    }
    if !secure && !is_loopback(authority) {
        return Err(format!(
            "url '{url}' is plain http:// on a non-loopback host: use https:// (plain http is allowed only \
             on 127.0.0.1, [::1] or localhost, for local mirrors and tests)"
        ));
    }
    Ok(())
}

/// Whether an authority (`host[:port]`) names the loopback interface.
fn is_loopback(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn validate_artifact(a: &Artifact) -> Result<(), String> {
    check_url(&a.url)?;
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
            deltas: Vec::new(),
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
        let mut bad = feed.clone();
        bad.releases[0].payload.url = "http://example.com/a.sea".into();
        assert!(bad.validate().is_err(), "plain http off loopback");
        let mut bad = feed.clone();
        bad.channel = "../x".into();
        assert!(bad.validate().is_err());
        assert!(Feed::from_bytes(b"[]").is_err());
        let mut fresh = feed;
        fresh.expires = Some(1_800_000_000);
        fresh.sequence = Some(7);
        assert_eq!(Feed::from_bytes(&fresh.to_bytes()).expect("valid"), fresh);
    }

    #[test]
    fn an_old_client_reads_a_new_feed_and_a_new_client_an_old_one() {
        let mut feed = Feed::new("hello", "stable");
        feed.expires = Some(10);
        feed.sequence = Some(3);
        let mut json: serde_json::Value = serde_json::from_slice(&feed.to_bytes()).expect("json");
        assert_eq!(json["expires"], 10);
        assert_eq!(json["sequence"], 3);
        // A field this crate does not know is skipped, as an older client skips these two.
        json["from_the_future"] = serde_json::json!({"x": 1});
        assert!(Feed::from_bytes(&serde_json::to_vec(&json).expect("json")).is_ok());
        let old = br#"{"format":1,"name":"hello","channel":"stable","releases":[]}"#;
        let old = Feed::from_bytes(old).expect("an old-format feed parses");
        assert_eq!((old.expires, old.sequence), (None, None));
    }

    #[test]
    fn freshness_refuses_expired_replayed_and_downgraded_feeds() {
        let mut feed = Feed::new("hello", "stable");
        feed.expires = Some(1000);
        feed.sequence = Some(5);
        assert_eq!(feed.check_fresh(999, None), Ok(()));
        assert_eq!(feed.check_fresh(999, Some(5)), Ok(()), "the same feed again");
        assert_eq!(feed.check_fresh(999, Some(4)), Ok(()));
        assert_eq!(feed.check_fresh(999, Some(6)), Err(Stale::Replayed { found: Some(5), seen: 6 }));
        assert_eq!(feed.check_fresh(1000, None), Err(Stale::Expired { expires: 1000 }));
        assert_eq!(feed.check_fresh(u64::MAX, Some(0)), Err(Stale::Expired { expires: 1000 }));
        let msg = feed.check_fresh(1000, None).expect_err("expired").to_string();
        assert!(msg.contains("1970-01-01 00:16:40 UTC"), "{msg}");
        let old = Feed::new("hello", "stable");
        assert_eq!(old.check_fresh(u64::MAX, None), Ok(()), "old format, never saw a sequence");
        assert_eq!(old.check_fresh(0, Some(1)), Err(Stale::Replayed { found: None, seen: 1 }));
        let mut no_expiry = feed;
        no_expiry.expires = None;
        assert!(no_expiry.check_fresh(0, Some(1)).is_err(), "a sequence without an expiry is a downgrade too");
    }

    #[test]
    fn only_https_or_loopback_http_is_accepted() {
        for ok in [
            "https://example.com/x/stable.json",
            "http://127.0.0.1:8080/stable.json",
            "http://127.1.2.3/stable.json",
            "http://[::1]:9/stable.json",
            "http://localhost/stable.json",
            "http://LOCALHOST:1",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/stable.json",
            "http://127.0.0.1.example.com/stable.json",
            "http://127.0.0.1@example.com/stable.json",
            "http://example.com\\@127.0.0.1/",
            "http://[::1].example.com/",
            "http://10.0.0.1/stable.json",
            "ftp://127.0.0.1/x",
            "file:///etc/passwd",
            "https:///x",
            "https://exa mple.com/x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_channel_is_the_feed_file_stem() {
        assert_eq!(channel_of_url("https://example.com/app/stable.json"), Some("stable"));
        assert_eq!(channel_of_url("http://127.0.0.1:1/beta.json?x=1"), Some("beta"));
        assert_eq!(channel_of_url("https://example.com/app/feed"), None);
        assert_eq!(channel_of_url("https://example.com/app/Stable.json"), None);
        assert_eq!(channel_of_url("https://example.com/app/.json"), None);
    }
}
