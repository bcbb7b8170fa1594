//! Path normalisation.
//!
//! Asserts: no panic; an accepted path is relative, has no `.`, `..` or empty components, no
//! backslash or control character, fits the limits, is a fixed point of `normalize`, and read as
//! a Windows path has no drive prefix (`C:` or the drive-relative `C:x`).
//! `strip_components` and `parent` stay within the path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::paths::{self, MAX_COMPONENT_LEN, MAX_DEPTH, MAX_PATH_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(normal) = paths::normalize(data) else { return };
    assert!(!normal.starts_with('/'), "{normal:?} is absolute");
    assert!(!normal.is_empty());
    assert!(normal.len() <= MAX_PATH_LEN && normal.len() <= data.len());
    assert!(!normal.contains('\\') && !normal.chars().any(char::is_control), "{normal:?}");
    let components: Vec<&str> = normal.split('/').collect();
    assert!(components.len() <= MAX_DEPTH);
    for c in &components {
        assert!(!c.is_empty() && *c != "." && *c != "..", "{normal:?} has component {c:?}");
        assert!(c.len() <= MAX_COMPONENT_LEN);
    }
    let first = components[0].as_bytes();
    assert!(!(first.len() >= 2 && first[0].is_ascii_alphabetic() && first[1] == b':'), "{normal:?} has a drive prefix");
    assert!(std::path::Path::new(&normal).components().all(|c| matches!(c, std::path::Component::Normal(_))));
    assert_eq!(paths::normalize(normal.as_bytes()).as_deref(), Ok(normal.as_str()), "not a fixed point");
    assert_eq!(paths::normalize_str(&normal).as_deref(), Ok(normal.as_str()));
    let parent = paths::parent(&normal);
    assert!(normal.starts_with(parent));
    for n in 0..=components.len() {
        match paths::strip_components(&normal, n) {
            Some(rest) => assert_eq!(rest, components[n..].join("/")),
            None => assert_eq!(n, components.len()),
        }
    }
    let _ = paths::is_reserved(&normal);
});
