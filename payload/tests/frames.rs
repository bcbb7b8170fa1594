//! Payloads with large files: several frames, decoded in parallel, and still one zstd stream.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use sea_payload::codec::{Codec, Compression, Decoder, ZSTD_WINDOW_LOG_MAX};
use sea_payload::frames::{self, FrameKind};
use sea_payload::manifest::UpdateSettings;
use sea_payload::pack::{PackOptions, PackageSpec, write_package};
use sea_payload::unpack::{self, UnpackOptions};
use sea_payload::{Package, package::PackageErrorKind};

const FAST: Compression = Compression { codec: Codec::Zstd, level: 3 };

fn spec() -> PackageSpec {
    PackageSpec {
        name: "big".into(),
        version: semver::Version::new(1, 0, 0),
        platform: "linux-x64".into(),
        entry: "bin/run".into(),
        args: vec![],
        min_launcher: semver::Version::new(0, 3, 0),
        launcher_version: semver::Version::new(0, 3, 0),
        packed_with: "test".into(),
        update: UpdateSettings::default(),
        naming: Default::default(),
        supervise: true,
    }
}

/// Compressible but not trivial bytes (a small xorshift alphabet).
fn pseudo(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b"abcdefghij"[(state % 10) as usize]
        })
        .collect()
}

/// A tree with a 40 MiB runtime (two data frames), a 9 MiB file with a long name, small files.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    let long = format!("lib/{}/data.bin", "n".repeat(120));
    fs::create_dir_all(root.join(&long).parent().expect("parent")).expect("mkdir");
    fs::write(root.join("bin/run"), "#!/bin/sh\nexit 0\n").expect("write");
    fs::write(root.join("bin/runtime"), pseudo(40 * 1024 * 1024 + 123, 7)).expect("write");
    fs::write(root.join(&long), pseudo(9 * 1024 * 1024 + 1, 9)).expect("write");
    for i in 0..50 {
        fs::write(root.join(format!("lib/small{i}.js")), format!("module.exports = {i};\n").repeat(i + 1))
            .expect("write");
    }
    use std::os::unix::fs::PermissionsExt;
    for exe in ["bin/run", "bin/runtime"] {
        fs::set_permissions(root.join(exe), fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

fn build(root: &Path, out: &Path, threads: u32) -> Vec<u8> {
    let mut file = fs::File::create(out).expect("create");
    file.write_all(b"STUB").expect("stub");
    let options = PackOptions { compression: FAST, threads, progress: None };
    write_package(&mut file, root, &spec(), &options, None).expect("pack");
    fs::read(out).expect("read")
}

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
                out.push((rel, Vec::new()));
            } else {
                out.push((rel, fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn large_files_get_data_frames_that_unpack_in_parallel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("app");
    make_tree(&root);
    let bin = dir.path().join("a.bin");
    let bytes = build(&root, &bin, 2);
    assert_eq!(bytes, build(&root, &dir.path().join("b.bin"), 1), "output does not depend on threads");
    let package = Package::open(&bin).expect("opens");
    let frames = frames::read_table(package.file(), &package.layout().payload, u64::MAX)
        .expect("table reads")
        .expect("a payload with large files has a frame table");
    let data = frames.iter().filter(|f| f.kind == FrameKind::Data).count();
    assert_eq!(data, 2 + 1, "40 MiB in 32 MiB frames, and the 9 MiB file in one");
    assert_eq!(frames.iter().filter(|f| f.kind == FrameKind::Stream).count(), 3);

    let dest = dir.path().join("out");
    fs::create_dir(&dest).expect("mkdir");
    let summary = package.unpack_to(&dest, &UnpackOptions::default()).expect("unpacks");
    assert_eq!(summary.entries, package.manifest().entries);
    assert_eq!(snapshot(&dest), snapshot(&root));

    // One zstd stream all the same: the sequential unpacker (older launchers) reads it too.
    let mut payload = Vec::new();
    package.payload_reader().read_to_end(&mut payload).expect("payload");
    let decoder = Decoder::new(Some(Codec::Zstd), &payload[..], ZSTD_WINDOW_LOG_MAX).expect("decoder");
    let seq = dir.path().join("seq");
    fs::create_dir(&seq).expect("mkdir");
    unpack::unpack(decoder, &seq, &UnpackOptions::default()).expect("sequential unpack");
    assert_eq!(snapshot(&seq), snapshot(&root));
}

#[test]
fn a_corrupt_data_frame_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("app");
    make_tree(&root);
    let bin = dir.path().join("a.bin");
    let mut bytes = build(&root, &bin, 2);
    let package = Package::open(&bin).expect("opens");
    let frames = frames::read_table(package.file(), &package.layout().payload, u64::MAX).expect("table").expect("some");
    let start = package.layout().payload.start;
    drop(package);
    for (n, frame) in frames.iter().filter(|f| f.kind == FrameKind::Data).enumerate() {
        let mut bad = bytes.clone();
        let at = (start + frame.c_off + frame.c_len / 2) as usize;
        bad[at] ^= 0x55;
        let path = dir.path().join(format!("bad{n}.bin"));
        fs::write(&path, &bad).expect("write");
        let package = Package::open(&path).expect("the manifest is intact");
        let dest = dir.path().join(format!("bad{n}"));
        fs::create_dir(&dest).expect("mkdir");
        let err = package.unpack_to(&dest, &UnpackOptions::default()).expect_err("corrupt frame");
        assert!(matches!(*err.kind, PackageErrorKind::PayloadDigest { .. }), "{err}");
        // The launcher's unpack, which does not hash a format 2 payload while it unpacks, still
        // refuses it and names the damage the same way (it hashes the payload after the failure).
        let dest = dir.path().join(format!("bad{n}-publish"));
        fs::create_dir(&dest).expect("mkdir");
        let err = package.unpack_for_publish(&dest, &UnpackOptions::default()).expect_err("corrupt frame");
        assert!(matches!(*err.kind, PackageErrorKind::PayloadDigest { .. }), "{err}");
    }
    // An intact package unpacks for publishing, with the index the manifest pins.
    let good = Package::open(&bin).expect("opens");
    let dest = dir.path().join("good-publish");
    fs::create_dir(&dest).expect("mkdir");
    let (_, index) = good.unpack_for_publish(&dest, &UnpackOptions::default()).expect("unpacks");
    assert_eq!(index, good.index_bytes().expect("index"));
    assert_eq!(snapshot(&dest), snapshot(&root));
    drop(good);
    // A frame table that lies (the data frame boundaries moved) is refused too.
    let table_at = bytes.len() - 128; // before the trailer: find the footer by search instead
    let footer = bytes[..table_at].windows(8).rposition(|w| w == frames::FOOTER_MAGIC).expect("footer");
    let count = frames.len();
    let records = footer - 4 - count * 33;
    bytes[records + 33 + 1 + 8] ^= 1; // second frame's compressed length
    let path = dir.path().join("lying.bin");
    fs::write(&path, &bytes).expect("write");
    let package = Package::open(&path).expect("the manifest is intact");
    let dest = dir.path().join("lying");
    fs::create_dir(&dest).expect("mkdir");
    assert!(package.unpack_to(&dest, &UnpackOptions::default()).is_err());
}
