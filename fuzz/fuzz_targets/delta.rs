//! The delta op-stream and header parsers.
//!
//! Input: a count byte (ops expected), then the op stream; or, with the count byte 0xff, a
//! whole delta file opened against an empty base index; or, with 0xfe, diff records applied to
//! a fixed 4 KiB base.
//! Asserts: no panic; parsed ops never claim data past the input; an opened delta's new index
//! matches the digest of its manifest; applying records never panics (a record past its base
//! is an error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;

use sea_payload::delta::{self, Delta, Op};

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else { return };
    if count == 0xff {
        let Ok(dir) = tempfile::tempdir() else { return };
        let path = dir.path().join("d.delta");
        if std::fs::write(&path, rest).is_err() {
            return;
        }
        if let Ok(d) = Delta::open(&path, b"") {
            let digest = sea_payload::digest::sha256_hex(d.index_bytes());
            assert_eq!(digest, d.manifest().index.sha256);
        }
        return;
    }
    if count == 0xfe {
        let base: Vec<u8> = (0..4096u32).map(|i| (i * 31) as u8).collect();
        let mut out = Vec::new();
        let _ = delta::diff::Apply::new(rest, &base).take(1 << 24).read_to_end(&mut out);
        return;
    }
    if let Ok(ops) = delta::parse_ops(rest, usize::from(count)) {
        assert_eq!(ops.len(), usize::from(count));
        let total: u64 = ops
            .iter()
            .map(|op| match op {
                Op::Copy { .. } => 5,
                Op::Patch { len, .. } | Op::Diff { len, .. } => 13 + len,
                Op::New { len } => 9 + len,
            })
            .sum();
        assert_eq!(total, rest.len() as u64);
    }
});
