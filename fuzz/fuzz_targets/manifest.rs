//! The manifest parser.
//!
//! Asserts: no panic; an accepted manifest validates, serialises to bytes that parse back to the
//! same value (and to the same bytes again), and its tree id parses back to its version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::Manifest;
use sea_payload::manifest::parse_tree_id;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_bytes(data) else { return };
    manifest.validate().expect("a parsed manifest validates");
    let bytes = manifest.to_bytes();
    let again = Manifest::from_bytes(&bytes).expect("a written manifest parses");
    assert_eq!(again, manifest);
    assert_eq!(again.to_bytes(), bytes);
    let tree_id = manifest.tree_id();
    let (version, short) = parse_tree_id(&tree_id).expect("the tree id parses back");
    assert_eq!(version, manifest.version);
    assert!(manifest.payload.sha256.starts_with(short));
    assert!(manifest.entry_size().is_some());
    let _ = manifest.env_prefix();
});
