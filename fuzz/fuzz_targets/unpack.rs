//! The safe tar unpacker, on hostile archives.
//!
//! Input: a mode byte, then the rest. Modes 0, 1 and 2 give the rest to `unpack` as a plain,
//! zstd-compressed or gzip-compressed stream (through `codec::Decoder`, as the launcher does);
//! mode 3 reads it as a recipe (`sea_payload_fuzz::decode_recipe`) and writes the archive
//! itself, with valid header checksums, so that the unpacker's own checks (paths, links, modes,
//! duplicates, limits) are reached. The mode byte also picks `strip_components` and small limits.
//!
//! Asserts, whether `unpack` succeeded or not: nothing exists beside the destination, the file
//! beside it is untouched, no link inside resolves outside, no file has setuid/setgid/sticky
//! bits, no hard link reaches a file outside, no special files; on success, the summary counts no
//! more than the limits allow.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use sea_payload::codec::{Codec, Decoder, ZSTD_WINDOW_LOG_MAX};
use sea_payload::unpack::{UnpackOptions, unpack};
use sea_payload_fuzz::{Scratch, decode_recipe, verbose, write_tar};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let options = UnpackOptions {
        strip_components: usize::from(mode >> 6),
        max_bytes: if mode & 0x20 == 0 { 64 * 1024 } else { 300 },
        max_entries: if mode & 0x10 == 0 { 64 } else { 3 },
        writers: 1,
        ..UnpackOptions::default()
    };
    let scratch = Scratch::new();
    let result = match mode & 3 {
        0 => unpack(rest, &scratch.out, &options),
        3 => {
            let (entries, tail) = decode_recipe(rest);
            if verbose() {
                eprintln!("entries: {entries:?}");
            }
            let tar = write_tar(&entries, tail);
            unpack(&tar[..], &scratch.out, &options)
        }
        m => {
            let codec = if m == 1 { Codec::Zstd } else { Codec::Gzip };
            let Ok(decoder) = Decoder::new(Some(codec), BufReader::new(rest), ZSTD_WINDOW_LOG_MAX) else { return };
            unpack(decoder, &scratch.out, &options)
        }
    };
    if verbose() {
        eprintln!("outcome: {result:?}");
    }
    scratch.check();
    if let Ok(summary) = result {
        assert!(summary.entries <= options.max_entries && summary.bytes <= options.max_bytes, "{summary:?}");
    }
});
