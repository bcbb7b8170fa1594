use super::*;

fn frame(kind: FrameKind, c_off: u64, c_len: u64, u_off: u64, u_len: u64) -> Frame {
    Frame { kind, c_off, c_len, u_off, u_len }
}

/// Three frames over 100 compressed bytes, as the packer writes them.
fn sample() -> Vec<Frame> {
    vec![
        frame(FrameKind::Stream, 0, 10, 0, 1024),
        frame(FrameKind::Data, 10, 60, 1024, 4096),
        frame(FrameKind::Stream, 70, 30, 5120, 1536),
    ]
}

/// The table as it ends a payload whose frames take `compressed` bytes.
fn payload_len(frames: &[Frame], compressed: u64) -> u64 {
    compressed + encode_table(frames).len() as u64
}

fn parse(frames: &[Frame], compressed: u64) -> Result<Vec<Frame>, FrameError> {
    parse_table(&encode_table(frames), payload_len(frames, compressed), 1 << 30)
}

#[test]
fn round_trip() {
    let frames = sample();
    assert_eq!(parse(&frames, 100), Ok(frames.clone()));
    let table = encode_table(&frames);
    let mut footer = [0u8; FOOTER_LEN];
    footer.copy_from_slice(&table[table.len() - FOOTER_LEN..]);
    assert_eq!(table_len(&footer), Ok(Some(table.len() as u64)));
}

#[test]
fn a_payload_without_footer_has_no_table() {
    assert_eq!(table_len(&[0u8; FOOTER_LEN]), Ok(None));
}

#[test]
fn overlapping_frames_are_refused() {
    let mut frames = sample();
    frames[1].c_off = 5;
    assert_eq!(parse(&frames, 100), Err(FrameError::NotContiguous { index: 1 }));
    let mut frames = sample();
    frames[2].u_off = 4000;
    assert_eq!(parse(&frames, 100), Err(FrameError::NotContiguous { index: 2 }));
}

#[test]
fn gaps_are_refused() {
    let mut frames = sample();
    frames[2].c_off = 71;
    frames[2].c_len = 29;
    assert_eq!(parse(&frames, 100), Err(FrameError::NotContiguous { index: 2 }));
    let mut frames = sample();
    frames[0].c_off = 1;
    assert_eq!(parse(&frames, 101), Err(FrameError::NotContiguous { index: 0 }));
}

#[test]
fn out_of_bounds_frames_are_refused() {
    let frames = sample();
    // The frames claim 100 bytes but only 90 precede the table.
    assert!(matches!(parse(&frames, 90), Err(FrameError::SizeMismatch { covered: 100, expected: 90 })));
    let mut frames = sample();
    frames[2].c_len = u64::MAX - 69;
    assert!(parse(&frames, 100).is_err());
    // A table longer than the payload itself.
    let table = encode_table(&sample());
    assert!(parse_table(&table, 10, 1 << 30).is_err());
}

#[test]
fn sizes_that_do_not_cover_the_payload_are_refused() {
    let frames = sample();
    assert_eq!(parse(&frames, 120), Err(FrameError::SizeMismatch { covered: 100, expected: 120 }));
    let mut frames = sample();
    frames[1].u_len = 0;
    assert!(matches!(parse(&frames, 100), Err(FrameError::Malformed(_))));
}

#[test]
fn too_many_frames_are_refused() {
    let mut footer = [0u8; FOOTER_LEN];
    footer[..4].copy_from_slice(&(MAX_FRAMES as u32 + 1).to_le_bytes());
    footer[4..].copy_from_slice(&FOOTER_MAGIC);
    assert_eq!(table_len(&footer), Err(FrameError::TooMany(MAX_FRAMES as u64 + 1)));
    let frames: Vec<Frame> = (0..=MAX_FRAMES as u64).map(|i| frame(FrameKind::Stream, i, 1, i, 1)).collect();
    let compressed = frames.len() as u64;
    assert!(matches!(parse(&frames, compressed), Err(FrameError::TooMany(_))));
}

#[test]
fn a_table_decoding_past_the_limit_is_refused() {
    let frames = sample();
    let limit = 6000;
    assert_eq!(
        parse_table(&encode_table(&frames), payload_len(&frames, 100), limit),
        Err(FrameError::TooLarge { limit })
    );
}

#[test]
fn malformed_bytes_are_refused() {
    let good = encode_table(&sample());
    let len = payload_len(&sample(), 100);
    let mut bad = good.clone();
    bad[0] ^= 1;
    assert!(matches!(parse_table(&bad, len, 1 << 30), Err(FrameError::Malformed(_))));
    let mut bad = good.clone();
    bad[4] ^= 1;
    assert!(matches!(parse_table(&bad, len, 1 << 30), Err(FrameError::Malformed(_))));
    let mut bad = good.clone();
    bad[HEADER_LEN + RECORD_LEN] = 7;
    assert!(matches!(parse_table(&bad, len, 1 << 30), Err(FrameError::Malformed(_))));
    let mut bad = good.clone();
    let at = bad.len() - FOOTER_LEN;
    bad[at] = 2; // count says 2, records say 3
    assert!(matches!(parse_table(&bad, len, 1 << 30), Err(FrameError::Malformed(_))));
    assert!(parse_table(&good[..10], len, 1 << 30).is_err());
    assert!(parse_table(&[], len, 1 << 30).is_err());
}

/// Random bytes never panic the parser, and whatever it accepts satisfies the invariants.
#[test]
fn arbitrary_tables_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut frames = sample();
        for f in &mut frames {
            match next() % 8 {
                0 => f.c_off = next() % 200,
                1 => f.c_len = next() % 200,
                2 => f.u_off = next() % 8000,
                3 => f.u_len = next() % 8000,
                _ => {}
            }
        }
        let compressed = 90 + next() % 20;
        if let Ok(parsed) = parse(&frames, compressed) {
            let mut c = 0;
            let mut u = 0;
            for f in &parsed {
                assert!(f.c_off == c && f.u_off == u && f.c_len > 0 && f.u_len > 0);
                c += f.c_len;
                u += f.u_len;
            }
            assert_eq!(c, compressed);
        }
    }
}
