//! The update feed parser.
//!
//! Asserts: no panic; an accepted feed validates and round-trips through its bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::feed::Feed;

fuzz_target!(|data: &[u8]| {
    let Ok(feed) = Feed::from_bytes(data) else { return };
    feed.validate().expect("a parsed feed validates");
    let bytes = feed.to_bytes();
    let again = Feed::from_bytes(&bytes).expect("a written feed parses");
    assert_eq!(again, feed);
    assert_eq!(again.to_bytes(), bytes);
    let _ = feed.allows_prerelease();
});
