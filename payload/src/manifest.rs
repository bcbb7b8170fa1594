//! The manifest: what the launcher needs to know at every start, and nothing more.
//!
//! It is small JSON (a few KiB) so that reading it costs one positional read and a parse measured
//! in microseconds. The per-file list lives in the separate [index](crate::index), which the warm
//! path never reads; the manifest carries only the entry and the executables, with their sizes,
//! because those are checked at every start.
//!
//! A manifest is always validated after parsing ([`Manifest::from_bytes`]): a parsed value that
//! exists is one the launcher may act on.
//!
//! Fields added after the first release are optional and absent when unused (`arg_templates`,
//! `naming`), so a manifest written before them still reads with its old meaning, and one that
//! does not use them is byte-identical to what an older packer wrote.
//!
//! # Fixed-argument templates
//!
//! In a manifest with `arg_templates: true`, every fixed argument is a template: `{pkg_dir}`
//! stands for the absolute path of the extracted tree in use (so a bundled runtime can be the
//! entry and name a script in its own tree: `runtime/bin/node {pkg_dir}/app/main.js`), `{{` and
//! `}}` are literal braces, and any other `{` or `}` is an error ([`check_arg_template`]), caught
//! by `sea-pack build`. The packer sets the flag exactly when an argument contains a brace; in a
//! manifest without it (every one written before templates existed) arguments are literal.

use std::ffi::{OsStr, OsString};

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::codec::Compression;
use crate::digest;
use crate::paths;
use crate::platform;
use crate::trust::{Advanced, RootSet, TrustError, TrustFile, Trusted};

/// The manifest format this crate writes.
pub const MANIFEST_FORMAT: u32 = 1;
/// Longest app name.
pub const MAX_NAME_LEN: usize = 64;
/// Most fixed arguments.
pub const MAX_ARGS: usize = 256;
/// Most executables listed (each is checked at every start).
pub const MAX_EXECUTABLES: usize = 4096;
/// Longest home or cache directory name (`--home-name`, `--cache-name`) and `--env-prefix`.
pub const MAX_DIR_NAME_LEN: usize = 128;
/// The placeholders a fixed argument may use.
pub const ARG_PLACEHOLDERS: [&str; 1] = [PKG_DIR_PLACEHOLDER];
/// `{pkg_dir}`: the absolute path of the extracted tree in use.
pub const PKG_DIR_PLACEHOLDER: &str = "pkg_dir";

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
    /// The whole root when it is more than `public_key` alone: every root key (the first is
    /// `public_key`, kept so that readers of the one-key format still find a root key). Empty in
    /// a one-key build, whose manifest is then byte-identical to the one-key format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_keys: Vec<String>,
    /// How many root keys must sign a trust statement; absent = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// The newest trust chain at build time (`build --trust`), as the exact text of
    /// `trust.json`: a string, so that the parse at every start copies it and looks no further;
    /// it is parsed and verified from the root only when a signature is checked (cold start,
    /// update). It needs no signature of its own: every statement in it is signed by the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
}

impl UpdateSettings {
    /// The channel this build follows: the recorded one, else the feed URL's file stem.
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref().or_else(|| self.feed.as_deref().and_then(crate::feed::channel_of_url))
    }

    /// The baked-in root: `root_keys` with `threshold`, else the one-key format's `public_key`
    /// with threshold 1; `None` for a build that trusts no key.
    pub fn root(&self) -> Option<RootSet> {
        let keys = if self.root_keys.is_empty() { vec![self.public_key.clone()?] } else { self.root_keys.clone() };
        Some(RootSet { keys, threshold: self.threshold.unwrap_or(1) })
    }

    /// The embedded chain, parsed (bounded); `None` when the build embeds none.
    pub fn trust_file(&self) -> Result<Option<TrustFile>, TrustError> {
        self.trust.as_deref().map(|text| TrustFile::from_bytes(text.as_bytes())).transpose()
    }

    /// What this build trusts on its own: the root, walked forward through the embedded chain
    /// (from the statement that names the root, for a build after a root rotation).
    /// `None` for a build that trusts no key.
    pub fn trusted(&self, name: &str) -> Result<Option<Advanced>, TrustError> {
        let Some(root) = self.root() else { return Ok(None) };
        match self.trust_file()? {
            Some(file) => Trusted::anchor(root, &file, name)?.advance(&file, name).map(Some),
            None => Ok(Some(Advanced { trusted: Trusted::from_root(root)?, revoked: Vec::new(), root_changed: false })),
        }
    }
}

/// What the launcher calls its variables and directories, when not derived from the app's name.
/// Every field absent: `PREFIX` is the name upper-cased, the home `$HOME/.<name>`, the cache
/// directory `<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naming {
    /// The environment variable prefix (`COPILOT_LOADER` → `COPILOT_LOADER_HOME`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_prefix: Option<String>,
    /// The home's directory name under `$HOME`, e.g. `.copilot-loader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_name: Option<String>,
    /// The cache's directory name under the platform's cache directory, e.g. `copilot-loader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_name: Option<String>,
}

impl Naming {
    /// Whether every name is derived from the app's name (the field is then left out).
    pub fn is_default(&self) -> bool {
        *self == Naming::default()
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
    /// Whether `args` are templates (see the module docs); absent = literal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub arg_templates: bool,
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
    /// Variable prefix and directory names that differ from the app's name.
    #[serde(default, skip_serializing_if = "Naming::is_default")]
    pub naming: Naming,
    /// Whether the launcher runs the app as its supervised child (the default: exit-code-75
    /// restarts, crash marking, signal relay) or `exec`s it in place (`false`, `sea-pack build
    /// --no-supervise`: no second process on the start path). Absent = supervised, so the
    /// manifests of every earlier build are unchanged; a launcher older than the field ignores it
    /// and supervises, which keeps every promise of the contract.
    #[serde(default = "supervised", skip_serializing_if = "is_supervised")]
    pub supervise: bool,
}

fn supervised() -> bool {
    true
}

fn is_supervised(supervise: &bool) -> bool {
    *supervise
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
        if self.arg_templates {
            for arg in &self.args {
                check_arg_template(arg).map_err(|e| invalid("args", format!("'{arg}': {e}")))?;
            }
        }
        if let Some(prefix) = &self.naming.env_prefix {
            validate_env_prefix(prefix).map_err(|reason| invalid("naming.env_prefix", reason))?;
        }
        if let Some(name) = &self.naming.home_name {
            validate_dir_name(name).map_err(|reason| invalid("naming.home_name", reason))?;
        }
        if let Some(name) = &self.naming.cache_name {
            validate_dir_name(name).map_err(|reason| invalid("naming.cache_name", reason))?;
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
        if !self.update.root_keys.is_empty() || self.update.threshold.is_some() {
            if self.update.root_keys.first() != self.update.public_key.as_ref() {
                return Err(invalid("update.root_keys", "the first root key must be update.public_key".into()));
            }
            // Bounds only: the keys are decoded where a signature is checked
            // (`Trusted::from_root` validates them), not at every start.
            let (keys, threshold) = (&self.update.root_keys, self.update.threshold.unwrap_or(1));
            if keys.len() > crate::trust::MAX_KEYS || threshold == 0 || threshold as usize > keys.len() {
                return Err(invalid(
                    "update.threshold",
                    format!("{threshold} of {} root keys (1 to {} keys)", keys.len(), crate::trust::MAX_KEYS),
                ));
            }
        }
        if let Some(text) = &self.update.trust {
            // Only bounded here: the chain is parsed and verified where a signature is checked.
            if text.len() as u64 > crate::trust::MAX_TRUST_LEN {
                return Err(invalid("update.trust", format!("larger than {} bytes", crate::trust::MAX_TRUST_LEN)));
            }
            if self.update.public_key.is_none() {
                return Err(invalid("update.trust", "a trust chain needs a root key (update.public_key)".into()));
            }
        }
        Ok(())
    }

    /// The extracted tree's directory name: `<version>-<first 12 hex of payload sha256>`.
    pub fn tree_id(&self) -> String {
        tree_id(&self.version, &self.payload.sha256)
    }

    /// The environment variable prefix: `naming.env_prefix`, else the name upper-cased, `-` and
    /// `.` turned into `_`.
    pub fn env_prefix(&self) -> String {
        self.naming.env_prefix.clone().unwrap_or_else(|| env_prefix(&self.name))
    }

    /// The home's directory name under `$HOME`: `naming.home_name`, else `.<name>`.
    pub fn home_dir_name(&self) -> String {
        self.naming.home_name.clone().unwrap_or_else(|| format!(".{}", self.name))
    }

    /// The cache's directory name: `naming.cache_name`, else `<name>`.
    pub fn cache_dir_name(&self) -> &str {
        self.naming.cache_name.as_deref().unwrap_or(&self.name)
    }

    /// The fixed arguments for a run from the tree at `pkg_dir`: templates expanded
    /// ([`expand_arg`]) when the manifest says they are templates, else as written.
    pub fn fixed_args(&self, pkg_dir: &OsStr) -> Vec<OsString> {
        self.args
            .iter()
            .map(|arg| if self.arg_templates { expand_arg(arg, pkg_dir) } else { OsString::from(arg) })
            .collect()
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

/// Whether `prefix` can be an environment variable prefix: `[A-Z0-9_]`, starting with a letter.
pub fn validate_env_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_DIR_NAME_LEN {
        return Err(format!("must be 1 to {MAX_DIR_NAME_LEN} characters"));
    }
    let first_ok = prefix.as_bytes()[0].is_ascii_uppercase();
    let rest_ok = prefix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !first_ok || !rest_ok {
        return Err(format!(
            "'{prefix}' must start with an upper-case letter and contain only A-Z, 0-9 and '_', e.g. COPILOT_LOADER"
        ));
    }
    Ok(())
}

/// Whether `name` can name a home or cache directory: one path component on every platform (not
/// `.` or `..`, no `/`, `\`, NUL, control character or a character Windows forbids in names).
pub fn validate_dir_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_DIR_NAME_LEN {
        return Err(format!("must be 1 to {MAX_DIR_NAME_LEN} characters"));
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not a directory name"));
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || "/\\<>:\"|?*".contains(*c)) {
        return Err(format!("'{name}' must be a single directory name, without {c:?}, e.g. .my-app-loader"));
    }
    if name.ends_with(['.', ' ']) || name.starts_with(' ') {
        return Err(format!("'{name}' must not start with a space or end with a space or '.'"));
    }
    Ok(())
}

/// Why a fixed argument is not a valid template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgTemplateError {
    /// `{name}` with a name that is not a placeholder.
    #[error(
        "unknown placeholder {{{name}}} at byte {at}; the only one is {{pkg_dir}} (write {{{{ and }}}} for literal braces)"
    )]
    Unknown {
        /// The name between the braces.
        name: String,
        /// Byte offset of the `{`.
        at: usize,
    },
    /// A `{` without its `}`.
    #[error("'{{' at byte {at} is not closed; write {{{{ for a literal brace")]
    Unclosed {
        /// Byte offset of the `{`.
        at: usize,
    },
    /// A `}` without its `{`.
    #[error("'}}' at byte {at} has no opening '{{'; write }}}} for a literal brace")]
    Unopened {
        /// Byte offset of the `}`.
        at: usize,
    },
}

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    PkgDir,
}

/// Splits a template into literal text and placeholders.
fn parse_template(arg: &str) -> Result<Vec<Piece<'_>>, ArgTemplateError> {
    let mut pieces = Vec::new();
    let bytes = arg.as_bytes();
    let (mut i, mut text_start) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                // `{{` / `}}`: the text so far plus one brace, then skip the second.
                pieces.push(Piece::Text(&arg[text_start..=i]));
                i += 2;
                text_start = i;
            }
            b'{' => {
                let close = arg[i + 1..].find(['{', '}']).map(|j| i + 1 + j);
                let Some(close) = close.filter(|&c| bytes[c] == b'}') else {
                    return Err(ArgTemplateError::Unclosed { at: i });
                };
                let name = &arg[i + 1..close];
                if name != PKG_DIR_PLACEHOLDER {
                    return Err(ArgTemplateError::Unknown { name: name.to_owned(), at: i });
                }
                pieces.push(Piece::Text(&arg[text_start..i]));
                pieces.push(Piece::PkgDir);
                i = close + 1;
                text_start = i;
            }
            b'}' => return Err(ArgTemplateError::Unopened { at: i }),
            _ => i += 1,
        }
    }
    pieces.push(Piece::Text(&arg[text_start..]));
    Ok(pieces)
}

/// Checks that `arg` is a valid template: every `{` opens a known placeholder (`{pkg_dir}`) or is
/// doubled, every `}` closes one or is doubled.
pub fn check_arg_template(arg: &str) -> Result<(), ArgTemplateError> {
    parse_template(arg).map(drop)
}

/// Whether `arg` contains a brace (so it must be stored as a template to mean what it says).
pub fn has_braces(arg: &str) -> bool {
    arg.contains(['{', '}'])
}

/// `arg` with `{pkg_dir}` replaced by `pkg_dir` and `{{`/`}}` by single braces. A template that
/// does not parse (which [`Manifest::validate`] refuses) is returned as written.
pub fn expand_arg(arg: &str, pkg_dir: &OsStr) -> OsString {
    let Ok(pieces) = parse_template(arg) else { return OsString::from(arg) };
    let mut out = OsString::with_capacity(arg.len() + pkg_dir.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push(text),
            Piece::PkgDir => out.push(pkg_dir),
        }
    }
    out
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
            arg_templates: false,
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
            naming: Naming::default(),
            supervise: true,
        }
    }

    #[test]
    fn supervised_is_the_default_and_is_not_written() {
        let m = sample();
        let text = String::from_utf8(m.to_bytes()).expect("utf-8");
        assert!(!text.contains("supervise"), "{text}");
        let in_place = Manifest { supervise: false, ..m };
        let bytes = in_place.to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(json["supervise"], false, "{json}");
        assert!(!Manifest::from_bytes(&bytes).expect("valid").supervise);
        assert!(Manifest::from_bytes(&sample().to_bytes()).expect("valid").supervise);
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

    #[test]
    fn templates_expand_pkg_dir_and_doubled_braces() {
        let dir = OsStr::new("/c/pkg/linux-x64/1.0.0-abc");
        assert_eq!(expand_arg("{pkg_dir}/app/main.js", dir), "/c/pkg/linux-x64/1.0.0-abc/app/main.js");
        assert_eq!(
            expand_arg("--data={pkg_dir}:{pkg_dir}", dir),
            "--data=/c/pkg/linux-x64/1.0.0-abc:/c/pkg/linux-x64/1.0.0-abc"
        );
        assert_eq!(expand_arg("{{pkg_dir}}", dir), "{pkg_dir}");
        assert_eq!(expand_arg("{{{pkg_dir}}}", dir), "{/c/pkg/linux-x64/1.0.0-abc}");
        assert_eq!(expand_arg("plain", dir), "plain");
        assert_eq!(expand_arg("", dir), "");
        assert_eq!(expand_arg("a}}b{{c", dir), "a}b{c");
    }

    #[test]
    fn bad_templates_are_refused_with_the_position() {
        let err = |arg| check_arg_template(arg).expect_err(arg);
        assert_eq!(err("{pkgdir}/x"), ArgTemplateError::Unknown { name: "pkgdir".into(), at: 0 });
        assert_eq!(err("x{}"), ArgTemplateError::Unknown { name: String::new(), at: 1 });
        assert_eq!(err("a{pkg_dir"), ArgTemplateError::Unclosed { at: 1 });
        assert_eq!(err("{a{pkg_dir}}"), ArgTemplateError::Unclosed { at: 0 });
        assert_eq!(err("a}b"), ArgTemplateError::Unopened { at: 1 });
        assert_eq!(err("{"), ArgTemplateError::Unclosed { at: 0 });
        let message = err("{pkgdir}").to_string();
        assert!(message.contains("{pkgdir}") && message.contains("{pkg_dir}") && message.contains("{{"), "{message}");
        assert!(check_arg_template("{pkg_dir}/é/{{x}}").is_ok());
    }

    #[test]
    fn args_are_literal_unless_the_manifest_says_templates() {
        let mut m = sample();
        m.args = vec!["{pkg_dir}/main.js".into(), "{x".into()];
        assert!(m.validate().is_ok(), "an old manifest's braces are literal");
        assert_eq!(m.fixed_args(OsStr::new("/t")), ["{pkg_dir}/main.js", "{x"]);
        m.arg_templates = true;
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { field: "args", .. })));
        m.args.pop();
        m.validate().expect("valid template");
        assert_eq!(m.fixed_args(OsStr::new("/t")), ["/t/main.js"]);
        let bytes = m.to_bytes();
        assert!(String::from_utf8_lossy(&bytes).contains("\"arg_templates\": true"));
        assert_eq!(Manifest::from_bytes(&bytes).expect("parses"), m);
    }

    #[test]
    fn naming_defaults_to_the_name_and_old_manifests_read() {
        let m = sample();
        let text = String::from_utf8(m.to_bytes()).expect("utf-8");
        assert!(!text.contains("naming") && !text.contains("arg_templates"), "unused fields are left out: {text}");
        assert_eq!((m.env_prefix(), m.home_dir_name(), m.cache_dir_name()), ("HELLO".into(), ".hello".into(), "hello"));
        let mut m = sample();
        m.naming = Naming {
            env_prefix: Some("COPILOT_LOADER".into()),
            home_name: Some(".copilot-loader".into()),
            cache_name: Some("copilot-loader".into()),
        };
        let parsed = Manifest::from_bytes(&m.to_bytes()).expect("valid");
        assert_eq!(parsed.env_prefix(), "COPILOT_LOADER");
        assert_eq!(parsed.home_dir_name(), ".copilot-loader");
        assert_eq!(parsed.cache_dir_name(), "copilot-loader");
    }

    #[test]
    fn bad_names_are_refused() {
        for prefix in ["", "copilot", "1ABC", "A-B", "A B", "_A", "Ä"] {
            assert!(validate_env_prefix(prefix).is_err(), "{prefix:?}");
        }
        for prefix in ["A", "COPILOT_LOADER", "X9_"] {
            assert!(validate_env_prefix(prefix).is_ok(), "{prefix:?}");
        }
        for name in ["", ".", "..", "a/b", "/abs", "a\\b", "a\0b", "a\nb", "c:", "x.", " x"] {
            assert!(validate_dir_name(name).is_err(), "{name:?}");
        }
        for name in [".copilot-loader", "copilot-loader", "My App", "..x"] {
            assert!(validate_dir_name(name).is_ok(), "{name:?}");
        }
        let mut m = sample();
        m.naming.home_name = Some("../x".into());
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { field: "naming.home_name", .. })));
        let mut m = sample();
        m.naming.env_prefix = Some("lower".into());
        assert!(matches!(m.validate(), Err(ManifestError::Invalid { field: "naming.env_prefix", .. })));
    }
}
