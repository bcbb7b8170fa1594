//! Validation of the relative paths stored in a payload.
//!
//! Every path in an archive or index passes through [`normalize`] before it touches the file
//! system. The result is a `/`-separated, UTF-8, relative path with no `.`, `..` or empty
//! components, so joining it to a destination can never leave that destination lexically.
//! (Symbolic links are the other way out of a tree; [`crate::links`] closes that one.)
//!
//! Refusing rather than repairing is deliberate: the `tar` crate silently skips `../x` and strips
//! a leading `/`, which turns a hostile archive into a "successful" partial extraction.

/// Longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest single component accepted, in bytes (`NAME_MAX` on common file systems).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 256;
/// Top-level name reserved for sea's own metadata inside an extracted tree.
pub const RESERVED_DIR: &str = ".sea";

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `/x`, or a Windows drive or UNC prefix.
    #[error("absolute path")]
    Absolute,
    /// A `..` component.
    #[error("path contains '..'")]
    ParentDir,
    /// Nothing left after removing `.` components.
    #[error("empty path")]
    Empty,
    /// Not valid UTF-8.
    #[error("path is not valid UTF-8")]
    NotUtf8,
    /// NUL, newline or another control character.
    #[error("path contains a control character")]
    ControlChar,
    /// A backslash, which Windows would read as a separator.
    #[error("path contains a backslash")]
    Backslash,
    /// Longer than [`MAX_PATH_LEN`] or with a component over [`MAX_COMPONENT_LEN`].
    #[error("path is too long")]
    TooLong,
    /// Deeper than [`MAX_DEPTH`].
    #[error("path is nested too deeply")]
    TooDeep,
    /// The reserved top-level name [`RESERVED_DIR`].
    #[error("'{RESERVED_DIR}' is reserved for sea's metadata")]
    Reserved,
}

/// Validates and normalises a raw archive path: drops `.` components, a trailing `/` and repeated
/// separators; refuses everything in [`PathError`].
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    let text = std::str::from_utf8(raw).map_err(|_| PathError::NotUtf8)?;
    normalize_str(text)
}

/// [`normalize`] for text that is already UTF-8.
pub fn normalize_str(text: &str) -> Result<String, PathError> {
    if text.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if text.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if text.chars().any(char::is_control) {
        return Err(PathError::ControlChar);
    }
    if text.contains('\\') {
        return Err(PathError::Backslash);
    }
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for component in text.split('/') {
        match component {
            "" | "." => continue,
            ".." => return Err(PathError::ParentDir),
            c if c.len() > MAX_COMPONENT_LEN => return Err(PathError::TooLong),
            c if depth == 0 && looks_like_drive(c) => return Err(PathError::Absolute),
            c => {
                if depth > 0 {
                    out.push('/');
                }
                out.push_str(c);
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PathError::TooDeep);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(out)
}

/// Whether a normalised path lies in the reserved metadata directory.
pub fn is_reserved(normalized: &str) -> bool {
    normalized == RESERVED_DIR || normalized.starts_with(".sea/")
}

/// Drops the first `n` components of a normalised path; `None` when nothing is left.
pub fn strip_components(normalized: &str, n: usize) -> Option<&str> {
    if n == 0 {
        return Some(normalized);
    }
    let mut rest = normalized;
    for _ in 0..n {
        let (_, tail) = rest.split_once('/')?;
        rest = tail;
    }
    Some(rest)
}

/// The parent of a normalised path, `""` for a top-level name.
pub fn parent(normalized: &str) -> &str {
    normalized.rsplit_once('/').map_or("", |(p, _)| p)
}

/// `C:` as a first component would be a drive on Windows, and so would `C:x` (a path relative
/// to drive C's current directory, which `Path::join` lets replace the destination).
pub(crate) fn looks_like_drive(component: &str) -> bool {
    let b = component.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_harmless_forms() {
        assert_eq!(normalize(b"./a//b/./c/"), Ok("a/b/c".to_owned()));
        assert_eq!(normalize(b"package/bin/x"), Ok("package/bin/x".to_owned()));
        assert_eq!(normalize(b"a..b/c"), Ok("a..b/c".to_owned()));
    }

    #[test]
    fn refuses_hostile_forms() {
        assert_eq!(normalize(b"/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(normalize(b"../x"), Err(PathError::ParentDir));
        assert_eq!(normalize(b"a/../../x"), Err(PathError::ParentDir));
        assert_eq!(normalize(b"a/.."), Err(PathError::ParentDir));
        assert_eq!(normalize(b"./"), Err(PathError::Empty));
        assert_eq!(normalize(b""), Err(PathError::Empty));
        assert_eq!(normalize(b"a\nb"), Err(PathError::ControlChar));
        assert_eq!(normalize(b"a\0b"), Err(PathError::ControlChar));
        assert_eq!(normalize(b"a\\..\\b"), Err(PathError::Backslash));
        assert_eq!(normalize(b"C:/Windows"), Err(PathError::Absolute));
        assert_eq!(normalize(b"a/C:/x"), Ok("a/C:/x".to_owned()));
        assert_eq!(normalize(&[0xff, b'a']), Err(PathError::NotUtf8));
        assert_eq!(normalize("x".repeat(256).as_bytes()), Err(PathError::TooLong));
        assert_eq!(normalize("a/".repeat(300).as_bytes()), Err(PathError::TooDeep));
    }

    /// `C:x` is relative to drive C's current directory on Windows: joined to a destination there,
    /// it replaces the destination. Found while writing the `paths` fuzz target.
    #[test]
    fn refuses_drive_relative_first_components() {
        assert_eq!(normalize(b"C:x"), Err(PathError::Absolute));
        assert_eq!(normalize(b"./z:evil/file"), Err(PathError::Absolute));
        assert_eq!(normalize(b"1:x"), Ok("1:x".to_owned()));
        assert_eq!(normalize(b"x/C:x"), Ok("x/C:x".to_owned()));
    }

    #[test]
    fn strips_and_finds_parents() {
        assert_eq!(strip_components("package/bin/x", 1), Some("bin/x"));
        assert_eq!(strip_components("package", 1), None);
        assert_eq!(strip_components("a/b", 0), Some("a/b"));
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert!(is_reserved(".sea/manifest.json"));
        assert!(is_reserved(".sea"));
        assert!(!is_reserved(".seaweed"));
    }
}
