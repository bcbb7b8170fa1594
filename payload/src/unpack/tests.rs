use std::fs;
use std::io::Cursor;

use super::*;

/// Builds raw tar bytes entry by entry, with headers written by hand so that hostile forms the
/// `tar` crate's builder would refuse can be made.
struct RawTar {
    out: Vec<u8>,
}

impl RawTar {
    fn new() -> Self {
        Self { out: Vec::new() }
    }

    fn entry(mut self, path: &[u8], kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&[u8]>) -> Self {
        let mut h = tar::Header::new_old();
        {
            let raw = h.as_old_mut();
            raw.name[..path.len()].copy_from_slice(path);
            if let Some(link) = link {
                raw.linkname[..link.len()].copy_from_slice(link);
            }
        }
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_entry_type(kind);
        h.set_mtime(0);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    fn file(self, path: &str, data: &[u8]) -> Self {
        self.entry(path.as_bytes(), tar::EntryType::Regular, 0o644, data, None)
    }

    fn exec(self, path: &str, data: &[u8]) -> Self {
        self.entry(path.as_bytes(), tar::EntryType::Regular, 0o755, data, None)
    }

    fn dir(self, path: &str) -> Self {
        self.entry(path.as_bytes(), tar::EntryType::Directory, 0o755, b"", None)
    }

    fn symlink(self, path: &str, target: &str) -> Self {
        self.entry(path.as_bytes(), tar::EntryType::Symlink, 0o777, b"", Some(target.as_bytes()))
    }

    fn hardlink(self, path: &str, target: &str) -> Self {
        self.entry(path.as_bytes(), tar::EntryType::Link, 0o644, b"", Some(target.as_bytes()))
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

fn run(tar: Vec<u8>, options: &UnpackOptions<'_>) -> (tempfile::TempDir, Result<UnpackSummary, UnpackError>) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dest = scratch.path().join("out");
    fs::create_dir(&dest).expect("mkdir");
    let result = unpack(Cursor::new(tar), &dest, options);
    (scratch, result)
}

fn refusal(tar: Vec<u8>) -> Refusal {
    let (scratch, result) = run(tar, &UnpackOptions::default());
    assert_nothing_outside(scratch.path());
    match result {
        Err(UnpackError::Refused { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Only `out/` may exist in the scratch directory: nothing was written beside the destination.
fn assert_nothing_outside(scratch: &Path) {
    let names: Vec<_> = fs::read_dir(scratch).expect("read").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("out")]);
}

#[test]
fn unpacks_files_dirs_links_and_modes() {
    let tar = RawTar::new()
        .dir("bin")
        .exec("bin/app", b"#!/bin/sh\necho hi\n")
        .file("lib/data.txt", b"data")
        .symlink("current", "lib/data.txt")
        .hardlink("lib/copy.txt", "lib/data.txt")
        .finish();
    let (scratch, result) = run(tar, &UnpackOptions { writers: 3, ..UnpackOptions::default() });
    let summary = result.expect("unpacks");
    assert_eq!(summary, UnpackSummary { entries: 5, bytes: 18 + 4 });
    let out = scratch.path().join("out");
    assert_eq!(fs::read(out.join("current")).expect("via link"), b"data");
    assert_eq!(fs::read(out.join("lib/copy.txt")).expect("hard link"), b"data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| fs::metadata(out.join(p)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode("bin/app") & 0o100, 0o100);
        assert_eq!(mode("lib/data.txt") & 0o111, 0);
    }
}

#[test]
fn strips_components_like_npm_pack() {
    let tar = RawTar::new().file("package/package.json", b"{}").exec("package/bin/x", b"x").finish();
    let options = UnpackOptions { strip_components: 1, ..UnpackOptions::default() };
    let (scratch, result) = run(tar, &options);
    result.expect("unpacks");
    assert!(scratch.path().join("out/package.json").is_file());
    assert!(scratch.path().join("out/bin/x").is_file());
}

#[test]
fn skips_the_root_directory_entry() {
    let tar = RawTar::new().dir("./").exec("./bin/x", b"x").finish();
    let (scratch, result) = run(tar, &UnpackOptions::default());
    assert_eq!(result.expect("unpacks").entries, 1);
    assert!(scratch.path().join("out/bin/x").is_file());
    assert_eq!(refusal(RawTar::new().file("./", b"x").finish()), Refusal::Path(PathError::Empty));
}

#[test]
fn refuses_parent_dir_and_absolute_paths() {
    assert_eq!(refusal(RawTar::new().file("../evil", b"x").finish()), Refusal::Path(PathError::ParentDir));
    assert_eq!(refusal(RawTar::new().file("a/../../evil", b"x").finish()), Refusal::Path(PathError::ParentDir));
    assert_eq!(refusal(RawTar::new().file("/tmp/evil", b"x").finish()), Refusal::Path(PathError::Absolute));
}

#[test]
fn refuses_escaping_symlinks() {
    assert!(matches!(
        refusal(RawTar::new().symlink("x", "/etc/passwd").finish()),
        Refusal::Link(LinkError::Absolute { .. })
    ));
    assert!(matches!(
        refusal(RawTar::new().symlink("x", "../../etc").finish()),
        Refusal::Link(LinkError::Escapes { .. })
    ));
    let chained = RawTar::new().dir("sub").symlink("sub/b", "..").symlink("d", "sub/b/..").finish();
    assert!(matches!(refusal(chained), Refusal::Link(LinkError::Escapes { .. })));
}

#[test]
fn refuses_writing_through_a_symlink() {
    // Classic: a link to a directory, then a file "inside" it.
    let tar = RawTar::new().dir("d").symlink("link", "d").file("link/f", b"x").finish();
    assert!(matches!(refusal(tar), Refusal::NotBelowDirectory(p) if p == "link"));
}

#[test]
fn refuses_hard_links_out_of_the_tree() {
    assert!(matches!(refusal(RawTar::new().hardlink("h", "/etc/passwd").finish()), Refusal::HardLink(_)));
    assert!(matches!(refusal(RawTar::new().hardlink("h", "../x").finish()), Refusal::HardLink(_)));
    assert!(matches!(refusal(RawTar::new().hardlink("h", "later").file("later", b"x").finish()), Refusal::HardLink(_)));
}

#[test]
fn refuses_devices_fifos_and_setid() {
    assert_eq!(
        refusal(RawTar::new().entry(b"c", tar::EntryType::Char, 0o644, b"", None).finish()),
        Refusal::Special("character device")
    );
    assert_eq!(
        refusal(RawTar::new().entry(b"b", tar::EntryType::Block, 0o644, b"", None).finish()),
        Refusal::Special("block device")
    );
    assert_eq!(
        refusal(RawTar::new().entry(b"f", tar::EntryType::Fifo, 0o644, b"", None).finish()),
        Refusal::Special("FIFO")
    );
    assert_eq!(
        refusal(RawTar::new().entry(b"s", tar::EntryType::Regular, 0o4755, b"x", None).finish()),
        Refusal::SetId(0o4755)
    );
    assert_eq!(
        refusal(RawTar::new().entry(b"g", tar::EntryType::Regular, 0o2755, b"x", None).finish()),
        Refusal::SetId(0o2755)
    );
}

#[test]
fn refuses_duplicates_and_reserved_names() {
    assert_eq!(refusal(RawTar::new().file("a", b"1").file("a", b"2").finish()), Refusal::Duplicate);
    assert_eq!(refusal(RawTar::new().file("a", b"1").dir("a").finish()), Refusal::Duplicate);
    assert_eq!(refusal(RawTar::new().file(".sea/manifest.json", b"{}").finish()), Refusal::Path(PathError::Reserved));
    assert!(matches!(refusal(RawTar::new().file("a", b"1").file("a/b", b"2").finish()), Refusal::NotBelowDirectory(_)));
}

#[test]
fn stops_at_declared_limits() {
    let big = vec![0u8; 10_000];
    let tar = RawTar::new().file("a", &big).file("b", &big).finish();
    let (_scratch, result) = run(tar.clone(), &UnpackOptions { max_bytes: 15_000, ..UnpackOptions::default() });
    assert!(matches!(result, Err(UnpackError::TooLarge { limit: 15_000 })), "{result:?}");
    let (_scratch, result) = run(tar, &UnpackOptions { max_entries: 1, ..UnpackOptions::default() });
    assert!(matches!(result, Err(UnpackError::TooManyEntries { limit: 1 })), "{result:?}");
}

#[test]
fn truncated_and_garbage_streams_are_corrupt() {
    let tar = RawTar::new().file("a", &[1u8; 5000]).finish();
    let (_s, result) = run(tar[..3000].to_vec(), &UnpackOptions::default());
    assert!(matches!(result, Err(UnpackError::Corrupt(_))), "{result:?}");
    let (_s, result) = run(vec![0x55u8; 2048], &UnpackOptions::default());
    assert!(matches!(result, Err(UnpackError::Corrupt(_))), "{result:?}");
}

#[test]
fn large_files_are_streamed_directly() {
    let big: Vec<u8> = (0..(3 * DIRECT_WRITE_THRESHOLD as usize)).map(|i| (i % 253) as u8).collect();
    let tar = RawTar::new().file("big.bin", &big).file("small", b"s").finish();
    let (scratch, result) = run(tar, &UnpackOptions::default());
    result.expect("unpacks");
    assert_eq!(fs::read(scratch.path().join("out/big.bin")).expect("read"), big);
}

#[test]
fn durable_mode_unpacks_the_same() {
    let tar = RawTar::new().file("a", b"1").finish();
    let (scratch, result) = run(tar, &UnpackOptions { durability: Durability::Durable, ..UnpackOptions::default() });
    result.expect("unpacks");
    assert_eq!(fs::read(scratch.path().join("out/a")).expect("read"), b"1");
}

/// A framed payload (as the packer cuts one) in a file: `parts` in order, `Ok` the tar bytes of
/// a stream frame, `Err` a large file's content, which goes into data frames after its header.
fn framed_payload(parts: &[Result<Vec<u8>, Vec<u8>>]) -> (tempfile::NamedTempFile, Vec<crate::frames::Frame>) {
    use std::io::Write;
    let compression = crate::codec::Compression { codec: crate::codec::Codec::Zstd, level: 3 };
    let mut sink = crate::frames::FramedWriter::new(compression, 1, Vec::new());
    for part in parts {
        match part {
            Ok(tar) => sink.write_all(tar).expect("stream"),
            Err(content) => {
                let size = content.len() as u64;
                assert_eq!(sink.write_data(&mut &content[..], size, &mut |_| {}).expect("data"), size);
                sink.write_all(&vec![0u8; ((512 - size % 512) % 512) as usize]).expect("padding");
            }
        }
    }
    let payload = sink.finish().expect("finish");
    let mut file = tempfile::NamedTempFile::new().expect("temp");
    file.write_all(&payload).expect("write");
    let frames = crate::frames::read_table(file.as_file(), &(0..payload.len() as u64), u64::MAX)
        .expect("table")
        .expect("several frames");
    (file, frames)
}

/// A regular file's header alone (its content goes into data frames).
fn header_only(path: &str, size: u64) -> Vec<u8> {
    let mut tar = RawTar::new().file(path, b"").out;
    let mut h = tar::Header::new_old();
    h.as_mut_bytes().copy_from_slice(&tar[..512]);
    h.set_size(size);
    h.set_cksum();
    tar.clear();
    tar.extend_from_slice(h.as_bytes());
    tar
}

/// Runs `unpack_frames` on a thread, failing the test instead of hanging if it never returns
/// (a walk that stops while the ahead decoder is blocked on a full channel must still end).
fn unpack_framed_within(
    file: &tempfile::NamedTempFile,
    frames: Vec<crate::frames::Frame>,
    dest: &Path,
) -> Result<(UnpackSummary, Index), UnpackError> {
    let package = file.reopen().expect("reopen");
    let dest = dest.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(unpack_frames(&package, 0, &frames, &dest, &UnpackOptions::default()));
    });
    rx.recv_timeout(std::time::Duration::from_secs(120)).expect("unpack_frames returned")
}

/// Small files, many more bytes than the ahead decoder queues for the walk.
fn many_small_files(prefix: &str) -> Vec<u8> {
    let mut tar = RawTar::new();
    for i in 0..400 {
        tar = tar.file(&format!("{prefix}/f{i}.js"), &vec![b'a' + (i % 26) as u8; 16 * 1024]);
    }
    tar.out
}

#[test]
fn a_framed_payload_unpacks_with_its_stream_decoded_ahead() {
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i: u32| (i % 251) as u8).collect();
    let tail = RawTar::new().file("z/last.txt", b"last").finish();
    let parts = [Ok(many_small_files("a")), Ok(header_only("big.bin", big.len() as u64)), Err(big.clone()), Ok(tail)];
    let (file, frames) = framed_payload(&parts);
    assert!(frames.iter().any(|f| f.kind == crate::frames::FrameKind::Data));
    let scratch = tempfile::tempdir().expect("tempdir");
    let (summary, index) = unpack_framed_within(&file, frames, scratch.path()).expect("unpacks");
    assert_eq!(summary.entries, 402);
    assert_eq!(index.entries.len(), 402, "the directories the archive does not list are not recorded");
    assert_eq!(fs::read(scratch.path().join("big.bin")).expect("big"), big);
    assert_eq!(fs::read(scratch.path().join("z/last.txt")).expect("last"), b"last");
    assert_eq!(fs::read(scratch.path().join("a/f399.js")).expect("small").len(), 16 * 1024);
}

#[test]
fn a_refusal_in_a_framed_payload_ends_the_unpack() {
    // The refused entry comes early; megabytes of stream follow, so the ahead decoder is blocked
    // on its full channel when the walk stops.
    let big = vec![7u8; 3 * 1024 * 1024];
    let evil = RawTar::new().entry(b"a/../../evil", tar::EntryType::Regular, 0o644, b"x", None).out;
    let parts = [
        Ok(header_only("big.bin", big.len() as u64)),
        Err(big),
        Ok(evil),
        Ok(many_small_files("b")),
        Ok(RawTar::new().finish()),
    ];
    let (file, frames) = framed_payload(&parts);
    let scratch = tempfile::tempdir().expect("tempdir");
    let dest = scratch.path().join("out");
    fs::create_dir(&dest).expect("mkdir");
    let err = unpack_framed_within(&file, frames, &dest).expect_err("refused");
    assert!(matches!(err, UnpackError::Refused { reason: Refusal::Path(PathError::ParentDir), .. }), "{err}");
    assert_nothing_outside(scratch.path());
}

#[test]
fn a_damaged_stream_frame_is_corrupt() {
    let big = vec![7u8; 3 * 1024 * 1024];
    let parts =
        [Ok(header_only("big.bin", big.len() as u64)), Err(big), Ok(many_small_files("c")), Ok(RawTar::new().finish())];
    let (file, frames) = framed_payload(&parts);
    // The stream frame after the data frame loses its zstd magic number.
    let second =
        frames.iter().filter(|f| f.kind == crate::frames::FrameKind::Stream).nth(1).expect("second stream frame");
    let mut bytes = fs::read(file.path()).expect("read");
    bytes[second.c_off as usize..second.c_off as usize + 4].copy_from_slice(b"JUNK");
    fs::write(file.path(), &bytes).expect("write");
    let scratch = tempfile::tempdir().expect("tempdir");
    let err = unpack_framed_within(&file, frames, scratch.path()).expect_err("corrupt");
    assert!(matches!(err, UnpackError::Corrupt(_)), "{err}");
}

#[test]
fn a_writer_failure_is_reported_as_the_write() {
    // The first file cannot be created (it exists): its writer fails while the stream is read
    // ahead, and the walk and the producer stop on it. The error reported must be the write, not
    // a damaged stream (the launcher tells a full disk by it). Whether the producer or the walk
    // notices first is a race that this does not force.
    for round in 0..5 {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dest = scratch.path().join("out");
        fs::create_dir(&dest).expect("mkdir");
        fs::write(dest.join("taken.txt"), b"already here").expect("write");
        let mut tar = RawTar::new().file("taken.txt", b"x");
        for i in 0..2000 {
            tar = tar.file(&format!("f{i}.txt"), &vec![b'q'; 4096]);
        }
        let err = unpack(Cursor::new(tar.finish()), &dest, &UnpackOptions::default()).expect_err("fails");
        assert!(matches!(&err, UnpackError::Write { path, .. } if path.ends_with("taken.txt")), "round {round}: {err}");
    }
}
