//! Writes the seed corpus of the fuzz targets: a few tiny valid inputs per target, so that
//! fuzzing starts past the magics and checksums. Deterministic: rerunning gives the same files.
//!
//! Usage: `gen-seeds <corpus dir>` (normally `fuzz/corpus`).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sea_payload::Compression;
use sea_payload::codec::Codec;
use sea_payload::feed::{Artifact, Feed, LauncherArtifact, Release};
use sea_payload::manifest::UpdateSettings;
use sea_payload::pack::{PackOptions, PackageSpec, pack_dir, write_package};
use sea_payload::trailer::TRAILER_LEN;
use sea_payload::{Manifest, Package};
use sea_payload_fuzz::{Format, NameForm, TarEntry, encode_recipe};
use semver::Version;

fn main() {
    let Some(corpus) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-seeds <corpus dir>");
        std::process::exit(2);
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let tree = scratch.path().join("app");
    make_tree(&tree);

    let zstd = package(&tree, scratch.path(), Compression { codec: Codec::Zstd, level: 19 }, UpdateSettings::default());
    let update = UpdateSettings {
        feed: Some("https://example.invalid/app/stable.json".into()),
        public_key: Some("RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3".into()),
        channel: Some("stable".into()),
        ..Default::default()
    };
    let gzip = package(&tree, scratch.path(), Compression { codec: Codec::Gzip, level: 9 }, update);

    let opened = {
        let path = scratch.path().join("seed.sea");
        fs::write(&path, &zstd).expect("write");
        Package::open(&path).expect("seed package opens")
    };
    let gzip_manifest = {
        let path = scratch.path().join("seed-gzip.sea");
        fs::write(&path, &gzip).expect("write");
        Package::open(&path).expect("seed package opens").manifest_bytes().to_vec()
    };

    let trailer = &zstd[zstd.len() - TRAILER_LEN..];
    let len = (zstd.len() as u64).to_le_bytes();
    write(&corpus, "trailer", "seed-raw", &[&[0], trailer, &len]);
    write(&corpus, "trailer", "seed-fixup", &[&[1], trailer, &len]);

    write(&corpus, "manifest", "seed-plain", &[opened.manifest_bytes()]);
    write(&corpus, "manifest", "seed-update", &[&gzip_manifest]);
    write(&corpus, "index", "seed-index", &[&opened.index_bytes().expect("index")]);
    write(&corpus, "feed", "seed-feed", &[&feed().to_bytes()]);

    write(&corpus, "package", "seed-zstd", &[&[0], &zstd]);
    write(&corpus, "package", "seed-gzip", &[&[0], &gzip]);

    let tar = archive(&tree);
    write(&corpus, "unpack", "seed-plain", &[&[0], &tar]);
    write(&corpus, "unpack", "seed-zstd", &[&[1], &zstd::encode_all(&tar[..], 19).expect("zstd")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).expect("gzip");
    write(&corpus, "unpack", "seed-gzip", &[&[2], &gz.finish().expect("gzip")]);

    for (name, mode, recipe) in recipes() {
        write(&corpus, "unpack", &format!("seed-recipe-{name}"), &[&[mode], &encode_recipe(&recipe)]);
    }

    for (name, path) in [("plain", "a/b/c"), ("dots", "./a//b/./c/"), ("parent", "a/../b"), ("drive", "C:/x")] {
        write(&corpus, "paths", &format!("seed-{name}"), &[path.as_bytes()]);
    }
}

fn make_tree(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::create_dir_all(root.join("lib/empty")).expect("mkdir");
    fs::write(root.join("bin/app"), "#!/bin/sh\necho hi\n").expect("write");
    fs::set_permissions(root.join("bin/app"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(root.join("lib/data.txt"), "data\n").expect("write");
    std::os::unix::fs::symlink("../lib/data.txt", root.join("bin/data")).expect("symlink");
}

fn package(tree: &Path, scratch: &Path, compression: Compression, update: UpdateSettings) -> Vec<u8> {
    let spec = PackageSpec {
        name: "seed".into(),
        version: Version::new(1, 0, 0),
        platform: "linux-x64".into(),
        entry: "bin/app".into(),
        args: vec!["--seed".into()],
        min_launcher: Version::new(0, 3, 0),
        launcher_version: Version::new(0, 3, 0),
        packed_with: "gen-seeds".into(),
        update,
        naming: Default::default(),
        supervise: true,
    };
    let path = scratch.join("pack.tmp");
    let mut file = fs::File::create(&path).expect("create");
    file.write_all(b"STUB").expect("stub");
    let options = PackOptions { compression, threads: 1, progress: None };
    let manifest: Manifest = write_package(&mut file, tree, &spec, &options, None).expect("pack");
    drop((file, manifest));
    fs::read(&path).expect("read")
}

/// The tree as a plain tar stream (sea's own deterministic packing, decompressed), with a hard
/// link and a long name added.
fn archive(tree: &Path) -> Vec<u8> {
    let options = PackOptions { compression: Compression { codec: Codec::Gzip, level: 0 }, threads: 1, progress: None };
    let mut gz = Vec::new();
    pack_dir(tree, &mut gz, &options).expect("pack");
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar).expect("gunzip");
    tar.truncate(tar.len() - 1024);
    let mut builder = tar::Builder::new(tar);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o644);
    builder.append_link(&mut h, "lib/data-link.txt", "lib/data.txt").expect("hard link");
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    builder.append_data(&mut h, format!("lib/{}", "long-name-".repeat(12)), &b"abc"[..]).expect("long");
    builder.into_inner().expect("tar")
}

/// Recipes for the `unpack` target (mode byte, entries): one benign tree, then each hostile form
/// the unpacker refuses, for the fuzzer to mutate and combine.
fn recipes() -> Vec<(&'static str, u8, Vec<TarEntry>)> {
    let e = TarEntry::new;
    let file = |name| e(name, b'0', 0o644, None, b"data\n");
    let dir = |name| e(name, b'5', 0o755, None, b"");
    let symlink = |name, target| e(name, b'2', 0o777, Some(target), b"");
    let hardlink = |name, target| e(name, b'1', 0o644, Some(target), b"");
    let long = format!("sub/{}", "long-".repeat(30));
    vec![
        (
            "tree",
            3,
            vec![
                dir("sub"),
                file("sub/f.txt"),
                e("a", b'0', 0o755, None, b"#!/bin/sh\n"),
                symlink("b", "sub/f.txt"),
                symlink("sub/c", "../a"),
                hardlink("c", "a"),
                dir("dir/"),
            ],
        ),
        ("escape", 3, vec![symlink("a", "..")]),
        ("escape-deep", 3, vec![dir("sub"), symlink("sub/a", "../../b")]),
        ("escape-via-link", 3, vec![dir("sub"), symlink("sub/b", ".."), symlink("d", "sub/b/..")]),
        ("absolute-link", 3, vec![symlink("a", "/")]),
        ("drive-link", 3, vec![symlink("a", "C:/a")]),
        ("cycle", 3, vec![symlink("a", "b"), symlink("b", "a")]),
        ("below-link", 3, vec![dir("sub"), symlink("a", "sub"), file("a/f.txt")]),
        ("below-file", 3, vec![file("a"), file("a/b")]),
        ("hardlink-out", 3, vec![hardlink("h", "../sentinel")]),
        ("hardlink-to-link", 3, vec![dir("sub"), symlink("a", "sub"), hardlink("h", "a")]),
        ("setuid", 3, vec![e("a", b'0', 0o4755, None, b"x")]),
        ("duplicate", 3, vec![file("a"), file("a")]),
        ("parent", 3, vec![file("../a")]),
        ("absolute", 3, vec![file("/a")]),
        ("reserved", 3, vec![dir(".sea"), file(".sea/a")]),
        ("device", 3, vec![e("a", b'3', 0o644, None, b"")]),
        (
            "long-names",
            3,
            vec![
                TarEntry { form: NameForm::Gnu, ..symlink(&long, "../a") },
                TarEntry { form: NameForm::Pax, ..file(&format!("{long}-pax")) },
                TarEntry { format: Format::Ustar, ..file(&format!("u/{}/x", "m".repeat(120))) },
            ],
        ),
        ("size-lie", 3, vec![TarEntry { size_lie: Some(600), ..file("a") }, file("b")]),
        (
            "strip",
            0x40 | 3,
            vec![dir("package"), file("package/a"), symlink("package/b", "a"), hardlink("package/c", "package/a")],
        ),
        ("limits", 0x30 | 3, vec![file("a"), file("b"), file("c"), file("d")]),
    ]
}

fn feed() -> Feed {
    let artifact = |url: &str| Artifact {
        url: url.into(),
        size: 1234,
        sha256: "ab".repeat(32),
        signature: "untrusted comment: sig\nRWQ\ntrusted comment: timestamp:0\nAA==\n".into(),
    };
    let mut feed = Feed::new("seed", "beta");
    feed.releases.push(Release {
        version: Version::new(1, 1, 0),
        platform: "linux-x64".into(),
        min_launcher: Version::new(0, 2, 0),
        rollout: Some(25),
        published: 1_700_000_000,
        payload: artifact("https://example.invalid/app-1.1.0.sea"),
        launcher: Some(LauncherArtifact {
            version: Version::parse("0.2.0-rc.1").expect("semver"),
            artifact: artifact("http://127.0.0.1:8080/stub"),
        }),
        deltas: Vec::new(),
    });
    feed.expires = Some(1_800_000_000);
    feed.sequence = Some(42);
    feed
}

fn write(corpus: &Path, target: &str, name: &str, parts: &[&[u8]]) {
    let dir = corpus.join(target);
    fs::create_dir_all(&dir).expect("mkdir corpus");
    let bytes: Vec<u8> = parts.concat();
    fs::write(dir.join(name), &bytes).expect("write seed");
    println!("{}/{name}: {} bytes", target, bytes.len());
}
