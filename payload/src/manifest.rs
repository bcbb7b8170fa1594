//! The manifest: what the launcher needs to know at every start, and nothing more.
//!
//! It is small JSON (a few KiB) so that reading it costs one positional read and a parse measured
//! in microseconds. The per-file list lives in the separate [index](crate::index), which the warm
//! path never reads; the manifest carries only the entry and the executables, with their sizes,
//! because those are checked at every start.
//!
//! A manifest is always validated after parsing ([`Manifest::from_bytes`]): a parsed value that
//! exists is one the launcher may act on.

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::codec::Compression;
use crate::digest;
use crate::paths;
use crate::platform;

/// The manifest format this crate writes.
pub const MANIFEST_FORMAT: u32 = 1;
/// Longest app name.
pub const MAX_NAME_LEN: usize = 64;
/// Most fixed arguments.
pub const MAX_ARGS: usize = 256;
/// Most executables listed (each is checked at every start).
pub const MAX_EXECUTABLES: usize = 4096;

/// Length and SHA-256 of a section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDigest {
    /// Length in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// A file checked at every start: it must exist with this size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheck {
    /// Normalised relative path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// Settings for updates, baked in at build time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSettings {
    /// URL of the channel feed (`…/stable.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
    /// minisign public key (base64) that releases and payloads must be signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The channel this build follows (the feed's file stem at build time); the launcher refuses
    /// a feed whose signed `channel` differs. Absent in builds that predate it: the launcher then
    /// takes the feed URL's file stem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl UpdateSettings {
    /// The channel this build follows: the recorded one, else the feed URL's file stem.
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref().or_else(|| self.feed.as_deref().and_then(crate::feed::channel_of_url))
    }
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The app's name; also the name of its home and cache directories.
    pub name: String,
    /// The app's version.
    pub version: Version,
    /// The platform it runs on (see [`platform`]).
    pub platform: String,
    /// Path of the program to run, relative to the extracted tree.
    pub entry: String,
    /// Fixed arguments put before the user's.
    #[serde(default)]
    pub args: Vec<String>,
    /// How the payload is compressed.
    pub compression: Compression,
    /// The compressed payload section.
    pub payload: SectionDigest,
    /// The index section.
    pub index: SectionDigest,
    /// Sum of the sizes of all regular files once unpacked.
    pub unpacked_size: u64,
    /// Number of entries (files, directories, links) in the payload.
    pub entries: u64,
    /// The entry and every other executable file, checked at every start.
    pub executables: Vec<FileCheck>,
    /// Oldest launcher that can run this payload.
    pub min_launcher: Version,
    /// Version of the launcher stub it was packed with.
    pub launcher_version: Version,
    /// The packer that wrote it, e.g. `sea-pack 0.1.0`.
    pub packed_with: String,
    /// Update feed and key.
    #[serde(default)]
    pub update: UpdateSettings,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A format this crate does not read.
    #[error("unsupported manifest format {0} (this build reads {MANIFEST_FORMAT}); update the launcher or sea-pack")]
    Format(u32),
    /// A field has a value that is not allowed.
    #[error("manifest field '{field}' is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Manifest {
    /// Parses and validates.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Serialises deterministically (field order is declaration order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.format != MANIFEST_FORMAT {
            return Err(ManifestError::Format(self.format));
        }
        validate_name(&self.name).map_err(|reason| invalid("name", reason))?;
        if !platform::is_known(&self.platform) {
            return Err(invalid("platform", format!("unknown platform '{}'", self.platform)));
        }
        check_path("entry", &self.entry)?;
        if self.args.len() > MAX_ARGS || self.args.iter().any(|a| a.contains('\0')) {
            return Err(invalid("args", "too many arguments, or a NUL byte".into()));
        }
        if !self.compression.is_valid() {
            return Err(invalid("compression", format!("level {} out of range", self.compression.level)));
        }
        check_digest("payload.sha256", &self.payload.sha256)?;
        check_digest("index.sha256", &self.index.sha256)?;
        if self.executables.len() > MAX_EXECUTABLES {
            return Err(invalid("executables", "too many".into()));
        }
        for exe in &self.executables {
            check_path("executables", &exe.path)?;
        }
        if !self.executables.iter().any(|e| e.path == self.entry) {
            return Err(invalid("executables", "the entry is not listed".into()));
        }
        if let Some(channel) = &self.update.channel {
            crate::feed::validate_channel(channel).map_err(|e| invalid("update.channel", e))?;
        }
        if let Some(key) = &self.update.public_key {
            crate::signature::parse_public_key(key).map_err(|e| invalid("update.public_key", e.to_string()))?;
        }
        Ok(())
    }

    /// The extracted tree's directory name: `<version>-<first 12 hex of payload sha256>`.
    pub fn tree_id(&self) -> String {
        tree_id(&self.version, &self.payload.sha256)
    }

    /// The environment variable prefix: the name upper-cased, `-` and `.` turned into `_`.
    pub fn env_prefix(&self) -> String {
        env_prefix(&self.name)
    }

    /// The entry's expected size.
    pub fn entry_size(&self) -> Option<u64> {
        self.executables.iter().find(|e| e.path == self.entry).map(|e| e.size)
    }
}

/// `<version>-<first 12 hex of sha256>`.
pub fn tree_id(version: &Version, sha256_hex: &str) -> String {
    let short = sha256_hex.get(..12).unwrap_or(sha256_hex);
    format!("{version}-{short}")
}

/// Splits a tree directory name back into version and short digest; `None` if it is not one.
pub fn parse_tree_id(name: &str) -> Option<(Version, &str)> {
    let (version, short) = name.rsplit_once('-')?;
    if short.len() != 12 || !short.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    Some((Version::parse(version).ok()?, short))
}

/// The environment variable prefix for an app name.
pub fn env_prefix(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Whether `name` can be an app name: a file name on every platform, and an environment-variable
/// prefix once upper-cased.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters"));
    }
    let first_ok = name.as_bytes()[0].is_ascii_alphanumeric();
    let rest_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !first_ok || !rest_ok {
        return Err(format!(
            "'{name}' must start with a letter or digit and contain only letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

fn invalid(field: &'static str, reason: String) -> ManifestError {
    ManifestError::Invalid { field, reason }
}

fn check_path(field: &'static str, path: &str) -> Result<(), ManifestError> {
    match paths::normalize_str(path) {
        Ok(normal) if normal == path && !paths::is_reserved(path) => Ok(()),
        Ok(_) => Err(invalid(field, format!("'{path}' is not a normalised path"))),
        Err(e) => Err(invalid(field, format!("'{path}': {e}"))),
    }
}

fn check_digest(field: &'static str, hex: &str) -> Result<(), ManifestError> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        debug_assert!(digest::from_hex(hex).is_some());
        Ok(())
    } else {
        Err(invalid(field, "not 64 lower-case hex digits".into()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::Codec;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            name: "hello".into(),
            version: Version::new(1, 2, 3),
            platform: "linux-x64".into(),
            entry: "bin/hello".into(),
            args: vec!["--flag".into()],
            compression: Compression { codec: Codec::Zstd, level: 19 },
            payload: SectionDigest { size: 10, sha256: "ab".repeat(32) },
            index: SectionDigest { size: 5, sha256: "cd".repeat(32) },
            unpacked_size: 100,
            entries: 3,
            executables: vec![FileCheck { path: "bin/hello".into(), size: 42 }],
            min_launcher: Version::new(0, 1, 0),
            launcher_version: Version::new(0, 1, 0),
            packed_with: "sea-pack 0.1.0".into(),
            update: UpdateSettings::default(),
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let parsed = Manifest::from_bytes(&m.to_bytes()).expect("valid");
        assert_eq!(parsed, m);
        assert_eq!(m.tree_id(), "1.2.3-abababababab");
        assert_eq!(m.entry_size(), Some(42));
    }

    #[test]
    fn tree_ids_parse_back() {
        let (v, short) = parse_tree_id("1.0.0-beta.1-0123456789ab").expect("tree id");
        assert_eq!(v, Version::parse("1.0.0-beta.1").expect("semver"));
        assert_eq!(short, "0123456789ab");
        assert!(parse_tree_id("1.0.0").is_none());
        assert!(parse_tree_id("junk-0123456789ab").is_none());
        assert!(parse_tree_id("1.0.0-0123456789AB").is_none());
        assert!(parse_tree_id(".1.0.0-0123456789ab.tmp").is_none());
    }

    #[test]
    fn prefixes() {
        assert_eq!(env_prefix("copilot"), "COPILOT");
        assert_eq!(env_prefix("my-app.x"), "MY_APP_X");
    }

    #[test]
    fn refuses_bad_fields() {
        let mut m = sample();
        m.entry = "../x".into();
        assert!(m.validate().is_err());
        let mut m = sample();
        m.name = "a/b".into();
        assert!(m.validate().is_err());
        let mut m = sample();
        m.platform = "plan9-mips".into();
        assert!(m.validate().is_err());
        let mut m = sample();
        m.payload.sha256 = "zz".into();
        assert!(m.validate().is_err());
        let mut m = sample();
        m.executables.clear();
        assert!(m.validate().is_err());
        let mut m = sample();
        m.format = 2;
        assert!(matches!(m.validate(), Err(ManifestError::Format(2))));
        assert!(Manifest::from_bytes(b"{\"format\":1").is_err());
        assert!(Manifest::from_bytes(b"").is_err());
    }
}
