//! The index parser.
//!
//! Asserts: no panic (the size sum included); an accepted index round-trips through its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::index::Index;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = Index::from_bytes(data) else { return };
    let _ = index.unpacked_size();
    let bytes = index.to_bytes();
    let again = Index::from_bytes(&bytes).expect("a written index parses");
    assert_eq!(again, index);
    assert_eq!(again.to_bytes(), bytes);
});
