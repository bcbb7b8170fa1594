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
