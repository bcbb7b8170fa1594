//! The update feed parser.
//!
//! Asserts: no panic; an accepted feed validates and round-trips through its bytes; the freshness
//! check never panics and always refuses an expired feed.
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
    let seen = feed.sequence.map(|s| s.wrapping_add(1));
    let _ = feed.check_fresh(0, seen);
    if let Some(expires) = feed.expires {
        assert!(feed.check_fresh(expires, None).is_err(), "expired at its expiry");
        assert!(feed.check_fresh(u64::MAX, seen).is_err());
    }
});
