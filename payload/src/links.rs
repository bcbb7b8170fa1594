//! Containment of symbolic links.
//!
//! A link is accepted only when following it, from its own directory and through every other
//! link of the same tree, stays inside the tree. Checking each target lexically on its own is not
//! enough: with `d -> sub/b` and `sub/b -> ..`, the target `d/..` looks harmless but resolves to
//! the tree's parent. So resolution is simulated over the tree's whole set of links
//! ([`check_all`]), with a hop limit for cycles.
//!
//! Dangling links that stay inside are accepted: packages ship them, and they cannot reach out.

use std::collections::HashMap;

use crate::paths;

/// How many links one resolution may follow (Linux's `MAXSYMLINKS`).
pub const MAX_HOPS: usize = 40;

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The target is absolute.
    #[error("link target '{target}' is absolute")]
    Absolute { target: String },
    /// Following the link leaves the tree.
    #[error("link target '{target}' points outside the tree")]
    Escapes { target: String },
    /// Too many links followed (a cycle).
    #[error("link target '{target}' does not resolve (too many levels of links)")]
    TooManyHops { target: String },
    /// The target is not a usable path string.
    #[error("link target '{target}' is not a valid path: {reason}")]
    Invalid { target: String, reason: paths::PathError },
}

/// Checks every link of a tree, given as normalised link path → raw target.
pub fn check_all(links: &HashMap<String, String>) -> Result<(), (String, LinkError)> {
    let mut names: Vec<&String> = links.keys().collect();
    names.sort();
    for name in names {
        let target = &links[name];
        check(name, target, links).map_err(|e| (name.clone(), e))?;
    }
    Ok(())
}

/// Checks one link at normalised path `link` with `target`, resolving through `links`.
pub fn check(link: &str, target: &str, links: &HashMap<String, String>) -> Result<(), LinkError> {
    validate_target(target)?;
    let mut stack: Vec<&str> = paths::parent(link).split('/').filter(|c| !c.is_empty()).collect();
    let mut pending: Vec<&str> = target.split('/').rev().collect();
    let mut hops = 0usize;
    while let Some(component) = pending.pop() {
        match component {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Err(LinkError::Escapes { target: target.to_owned() });
                }
            }
            name => {
                stack.push(name);
                let here = stack.join("/");
                if let Some(next) = links.get(&here) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(LinkError::TooManyHops { target: target.to_owned() });
                    }
                    if next.starts_with('/') {
                        return Err(LinkError::Escapes { target: target.to_owned() });
                    }
                    stack.pop();
                    pending.extend(next.split('/').rev());
                }
            }
        }
    }
    Ok(())
}

/// The target's text alone: relative (on Windows too: no drive), UTF-8-clean, no backslashes or
/// control characters.
pub fn validate_target(target: &str) -> Result<(), LinkError> {
    let first = target.split('/').find(|c| !c.is_empty() && *c != ".");
    if target.starts_with('/') || first.is_some_and(paths::looks_like_drive) {
        return Err(LinkError::Absolute { target: target.to_owned() });
    }
    if target.is_empty() {
        return Err(LinkError::Invalid { target: String::new(), reason: paths::PathError::Empty });
    }
    let reason = if target.len() > paths::MAX_PATH_LEN {
        Some(paths::PathError::TooLong)
    } else if target.chars().any(char::is_control) {
        Some(paths::PathError::ControlChar)
    } else if target.contains('\\') {
        Some(paths::PathError::Backslash)
    } else {
        None
    };
    match reason {
        Some(reason) => Err(LinkError::Invalid { target: target.to_owned(), reason }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn inside_links_pass() {
        let links = tree(&[("bin/x", "../lib/x.js"), ("a", "b/c"), ("sub/up", "..")]);
        assert_eq!(check_all(&links), Ok(()));
        let dangling = tree(&[("a", "nowhere/at/all")]);
        assert_eq!(check_all(&dangling), Ok(()));
    }

    #[test]
    fn direct_escapes_fail() {
        assert!(matches!(check_all(&tree(&[("x", "/etc/passwd")])), Err((_, LinkError::Absolute { .. }))));
        assert!(matches!(check_all(&tree(&[("x", "../etc")])), Err((_, LinkError::Escapes { .. }))));
        assert!(matches!(check_all(&tree(&[("a/x", "../../etc")])), Err((_, LinkError::Escapes { .. }))));
    }

    /// On Windows `C:/x` is absolute and `C:x` relative to drive C's current directory: both leave
    /// the tree, but looked like a first component named `C:`. Found while writing the `links`
    /// fuzz target.
    #[test]
    fn windows_drives_are_absolute() {
        for target in ["C:/Windows/System32", "c:", "C:x/y", "./d:/x"] {
            assert!(matches!(validate_target(target), Err(LinkError::Absolute { .. })), "{target}");
        }
        assert!(matches!(check_all(&tree(&[("a", "b"), ("b", "C:/tmp")])), Err((_, LinkError::Absolute { .. }))));
        assert_eq!(check_all(&tree(&[("a", "sub/C:x"), ("b", "1:x")])), Ok(()));
    }

    #[test]
    fn escapes_through_other_links_fail() {
        // sub/b -> .. is the tree root; d -> sub/b/.. is then the tree's parent.
        let links = tree(&[("sub/b", ".."), ("d", "sub/b/..")]);
        assert!(matches!(check_all(&links), Err((name, LinkError::Escapes { .. })) if name == "d"));
        // A chain where the last link is absolute.
        let links = tree(&[("a", "b"), ("b", "/tmp")]);
        assert!(check_all(&links).is_err());
    }

    #[test]
    fn cycles_fail() {
        let links = tree(&[("a", "b"), ("b", "a")]);
        assert!(matches!(check_all(&links), Err((_, LinkError::TooManyHops { .. }))));
    }
}
