//! The restart request: what an app writes to `<PREFIX>_RESTART_FILE` before exiting with code
//! 75 to be started again.
//!
//! `{"args": ["..."], "cwd": "/abs", "env": {"K": "V"}, "version": "1.2.3"}`, every field
//! optional; unknown fields are ignored (an app written for a newer launcher still restarts).
//! [`parse`] validates everything that would otherwise fail later in a less clear way: NUL bytes
//! (cannot be passed to `exec`), environment names that are empty or contain `=`, a relative
//! `cwd` (relative to what?), a version that is not semver. Only parsing lives here, so that it
//! can be fuzzed like the other formats; reading, deleting and the restart loop are the
//! launcher's.
//!
//! JSON strings are Unicode: arguments, paths and values that are not valid UTF-8 cannot be
//! requested.

use std::collections::BTreeMap;

use semver::Version;

/// The largest restart file accepted, in bytes.
pub const MAX_LEN: u64 = 1024 * 1024;

/// A valid restart request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartRequest {
    /// Replaces the user's arguments (the manifest's fixed arguments stay in front).
    pub args: Option<Vec<String>>,
    /// The working directory of the next run (absolute).
    pub cwd: Option<String>,
    /// Added to the app's environment.
    pub env: BTreeMap<String, String>,
    /// Pins the version of the next run.
    pub version: Option<Version>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartRequestError {
    /// Not JSON, not an object, or a field of the wrong type.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A field has the right type but a value that cannot be used.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field (`args[2]`, `env.FOO`, `cwd`, `version`).
        field: String,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, serde::Deserialize)]
struct Raw {
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    version: Option<String>,
}

/// Parses and validates a request.
pub fn parse(bytes: &[u8]) -> Result<RestartRequest, RestartRequestError> {
    let invalid = |field: String, reason: &str| RestartRequestError::Invalid { field, reason: reason.to_owned() };
    if bytes.len() as u64 > MAX_LEN {
        return Err(RestartRequestError::Malformed(format!("larger than {MAX_LEN} bytes")));
    }
    // serde also accepts a struct written as a JSON array; the format is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(RestartRequestError::Malformed("expected a JSON object like {\"args\": [\"...\"]}".to_owned()));
    }
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| RestartRequestError::Malformed(e.to_string()))?;
    if let Some(i) = raw.args.as_ref().and_then(|args| args.iter().position(|a| a.contains('\0'))) {
        return Err(invalid(format!("args[{i}]"), "contains a NUL byte"));
    }
    if let Some(cwd) = &raw.cwd {
        if cwd.contains('\0') {
            return Err(invalid("cwd".into(), "contains a NUL byte"));
        }
        if !cwd.starts_with('/') && !is_windows_absolute(cwd) {
            return Err(invalid("cwd".into(), &format!("{cwd:?} is not an absolute path")));
        }
    }
    let env = raw.env.unwrap_or_default();
    for (name, value) in &env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(invalid(format!("env name {name:?}"), "must be non-empty, without '=' or NUL"));
        }
        if value.contains('\0') {
            return Err(invalid(format!("env.{name}"), "contains a NUL byte"));
        }
    }
    let version = match raw.version {
        None => None,
        Some(text) => Some(
            Version::parse(&text)
                .map_err(|e| invalid("version".into(), &format!("{text:?} is not a semantic version ({e})")))?,
        ),
    };
    Ok(RestartRequest { args: raw.args, cwd: raw.cwd, env, version })
}

/// `C:\…` or `\\server\…`: absolute on Windows (untested there).
fn is_windows_absolute(path: &str) -> bool {
    cfg!(windows) && {
        let b = path.as_bytes();
        (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
            || path.starts_with("\\\\")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_empty_requests() {
        let r =
            parse(br#"{"args":["a","b c"],"cwd":"/tmp","env":{"K":"V"},"version":"1.2.3","future":1}"#).expect("valid");
        assert_eq!(r.args, Some(vec!["a".to_owned(), "b c".to_owned()]));
        assert_eq!(r.cwd.as_deref(), Some("/tmp"));
        assert_eq!(r.env.get("K").map(String::as_str), Some("V"));
        assert_eq!(r.version, Some(Version::new(1, 2, 3)));
        assert_eq!(parse(b" {} ").expect("empty"), RestartRequest::default());
    }

    #[test]
    fn refusals() {
        for bad in [&b"[]"[..], b"", b"{", b"null", br#"{"args":"x"}"#, br#"{"env":{"K":1}}"#] {
            assert!(matches!(parse(bad), Err(RestartRequestError::Malformed(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        for bad in [
            &br#"{"args":["a\u0000b"]}"#[..],
            br#"{"cwd":"relative"}"#,
            br#"{"env":{"":"v"}}"#,
            br#"{"env":{"A=B":"v"}}"#,
            br#"{"version":"1.2"}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(RestartRequestError::Invalid { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
