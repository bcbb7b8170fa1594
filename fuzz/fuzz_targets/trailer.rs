//! The trailer parser and the section layout.
//!
//! Input: a mode byte, 128 trailer bytes, 8 bytes of file length. Mode 0 parses the bytes as
//! given (checksums almost never match); any other mode writes the magics and the checksum first,
//! so that every field value reaches `parse` and `layout`.
//!
//! Asserts: no panic; an accepted trailer re-encodes to exactly its bytes and respects the limits;
//! a successful layout is contiguous, ends with the trailer at the end of the file and lies inside
//! it; a refused layout really does not fit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sea_payload::digest::sha256;
use sea_payload::trailer::{
    END_MAGIC, MAX_INDEX_LEN, MAX_MANIFEST_LEN, MAX_SIGNATURE_LEN, START_MAGIC, TRAILER_LEN, Trailer, TrailerError,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if rest.len() < TRAILER_LEN + 8 {
        return;
    }
    let mut raw = [0u8; TRAILER_LEN];
    raw.copy_from_slice(&rest[..TRAILER_LEN]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&rest[TRAILER_LEN..TRAILER_LEN + 8]);
    let file_len = u64::from_le_bytes(len);
    if mode != 0 {
        raw[0..8].copy_from_slice(&START_MAGIC);
        raw[120..128].copy_from_slice(&END_MAGIC);
        if mode & 2 == 0 {
            // A valid version and flags most of the time; mode bit 1 keeps the fuzzer's.
            raw[8..16].copy_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        }
        let check = sha256(&raw[0..112]);
        raw[112..120].copy_from_slice(&check[0..8]);
    }
    let Ok(trailer) = Trailer::parse(&raw) else { return };
    assert_eq!(trailer.encode(), raw, "an accepted trailer is not canonical");
    assert!(trailer.manifest_len > 0 && trailer.manifest_len <= MAX_MANIFEST_LEN);
    assert!(trailer.signature_len <= MAX_SIGNATURE_LEN);
    assert!(trailer.index_len <= MAX_INDEX_LEN);
    let needed = [trailer.payload_len, trailer.index_len, trailer.manifest_len, trailer.signature_len]
        .iter()
        .map(|l| u128::from(*l))
        .sum::<u128>()
        + TRAILER_LEN as u128;
    match trailer.layout(file_len) {
        Ok(layout) => {
            assert!(needed <= u128::from(file_len));
            assert_eq!(layout.stub_len, layout.payload.start);
            assert_eq!(layout.payload.end, layout.index.start);
            assert_eq!(layout.index.end, layout.manifest.start);
            assert_eq!(layout.manifest.end, layout.signature.start);
            assert_eq!(layout.signature.end, layout.trailer.start);
            assert_eq!(layout.trailer, file_len - TRAILER_LEN as u64..file_len);
            for (range, len) in [
                (&layout.payload, trailer.payload_len),
                (&layout.index, trailer.index_len),
                (&layout.manifest, trailer.manifest_len),
                (&layout.signature, trailer.signature_len),
            ] {
                assert!(range.start <= range.end && range.end <= file_len);
                assert_eq!(range.end - range.start, len);
            }
        }
        Err(TrailerError::PastEndOfFile { .. }) => assert!(needed > u128::from(file_len)),
        Err(other) => panic!("layout failed with {other:?}"),
    }
});
