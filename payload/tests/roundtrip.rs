//! Pack a directory, read it back as a package, unpack it, and corrupt it everywhere.

use std::fs;
use std::io::Write;
use std::path::Path;

use sea_payload::manifest::UpdateSettings;
use sea_payload::pack::{PackOptions, PackageSpec, write_package};
use sea_payload::unpack::UnpackOptions;
use sea_payload::{Codec, Compression, Package};

fn spec() -> PackageSpec {
    PackageSpec {
        name: "hello".into(),
        version: semver::Version::new(1, 0, 0),
        platform: "linux-x64".into(),
        entry: "bin/hello".into(),
        args: vec![],
        min_launcher: semver::Version::new(0, 3, 0),
        launcher_version: semver::Version::new(0, 3, 0),
        packed_with: "test".into(),
        update: UpdateSettings::default(),
        naming: Default::default(),
        supervise: true,
    }
}

fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::create_dir_all(root.join("lib/empty")).expect("mkdir");
    fs::write(root.join("bin/hello"), "#!/bin/sh\necho hello\n").expect("write");
    fs::write(root.join("lib/data.txt"), "x".repeat(100_000)).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(root.join("bin/hello"), fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink("../lib/data.txt", root.join("bin/data")).expect("symlink");
    }
}

fn build(root: &Path, out: &Path, compression: Compression) -> Vec<u8> {
    let mut file = fs::File::create(out).expect("create");
    file.write_all(b"STUB BYTES").expect("stub");
    let options = PackOptions { compression, threads: 2, progress: None };
    write_package(&mut file, root, &spec(), &options, None).expect("pack");
    fs::read(out).expect("read")
}

#[test]
fn round_trip_is_exact_and_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("app");
    make_tree(&root);
    for compression in [Compression::DEFAULT, Compression { codec: Codec::Gzip, level: 6 }] {
        let a = build(&root, &dir.path().join("a.bin"), compression);
        let b = build(&root, &dir.path().join("b.bin"), compression);
        assert_eq!(a, b, "rebuild is byte-identical");
        let package = Package::open(&dir.path().join("a.bin")).expect("opens");
        assert_eq!(package.layout().stub_len, 10);
        package.verify_payload().expect("digest");
        let index = package.read_index().expect("index");
        assert_eq!(index.entries.len() as u64, package.manifest().entries);
        let dest = dir.path().join(format!("out-{}", compression.codec));
        fs::create_dir(&dest).expect("mkdir");
        package.unpack_to(&dest, &UnpackOptions::default()).expect("unpacks");
        assert_eq!(fs::read(dest.join("lib/data.txt")).expect("read"), "x".repeat(100_000).as_bytes());
        assert!(dest.join("lib/empty").is_dir());
        #[cfg(unix)]
        assert_eq!(fs::read_link(dest.join("bin/data")).expect("link"), Path::new("../lib/data.txt"));
    }
}

/// A manifest larger than the first read of the file's end (`TAIL_READ`) is read in a second
/// read, whole, and still checked against the trailer's digest.
#[test]
fn a_manifest_larger_than_the_first_read_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("app");
    make_tree(&root);
    let out = dir.path().join("big.bin");
    let mut file = fs::File::create(&out).expect("create");
    file.write_all(b"STUB BYTES").expect("stub");
    let options = PackOptions { compression: Compression::DEFAULT, threads: 2, progress: None };
    let big =
        PackageSpec { args: (0..200).map(|i| format!("--a-fixed-argument-of-some-length-{i:04}")).collect(), ..spec() };
    let manifest = write_package(&mut file, &root, &big, &options, None).expect("pack");
    drop(file);
    assert!(manifest.to_bytes().len() as u64 > sea_payload::package::TAIL_READ, "the test needs a large manifest");
    let package = Package::open(&out).expect("opens");
    assert_eq!(package.manifest().args.len(), 200);
    assert_eq!(package.manifest_bytes(), manifest.to_bytes().as_slice());
}

#[test]
fn every_corruption_is_a_clean_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("app");
    make_tree(&root);
    let good = build(&root, &dir.path().join("good.bin"), Compression { codec: Codec::Zstd, level: 3 });
    let bad = dir.path().join("bad.bin");
    // Every byte after the stub, flipped: open + full verification + unpack must fail cleanly
    // (or, for bytes no check covers, still unpack the exact tree).
    let step = (good.len() / 400).max(1);
    for offset in (10..good.len()).step_by(step) {
        let mut bytes = good.clone();
        bytes[offset] ^= 0x20;
        fs::write(&bad, &bytes).expect("write");
        let outcome = Package::open(&bad).and_then(|p| {
            p.verify_payload()?;
            p.read_index()?;
            Ok(())
        });
        assert!(outcome.is_err(), "flip at {offset} of {} went unnoticed", good.len());
    }
    for cut in (0..good.len()).step_by(step) {
        fs::write(&bad, &good[..cut]).expect("write");
        let outcome = Package::open(&bad).and_then(|p| p.verify_payload());
        assert!(outcome.is_err(), "truncation at {cut} went unnoticed");
    }
}
