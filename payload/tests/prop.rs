//! Property tests of the format: round trips of every section, the trailer's refusal of every
//! flipped bit, path normalisation, pack → unpack of random trees, and corruption of packed files.
//!
//! The fuzz targets (`fuzz/`) explore the same parsers for hours; these run a few dozen cases of
//! each in the normal test suite, so they stay small: trees of at most a few dozen entries and a
//! case count chosen per property (the whole file runs in a few seconds).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index as Pick;
use sea_payload::codec::{Codec, Compression};
use sea_payload::digest::{Sha256Bytes, to_hex};
use sea_payload::feed::{Artifact, Feed, LauncherArtifact, Release};
use sea_payload::index::{EntryKind, Index, IndexEntry};
use sea_payload::manifest::{FileCheck, MANIFEST_FORMAT, Manifest, SectionDigest, UpdateSettings};
use sea_payload::pack::{PackOptions, PackageSpec, write_package};
use sea_payload::paths::{self, PathError};
use sea_payload::trailer::{MAX_INDEX_LEN, MAX_MANIFEST_LEN, MAX_SIGNATURE_LEN, TRAILER_LEN, Trailer};
use sea_payload::unpack::UnpackOptions;
use sea_payload::{Package, platform};
use semver::Version;

/// `n` cases, or `PROPTEST_CASES` when set (for a long run: `PROPTEST_CASES=5000 cargo test --test prop`).
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    ProptestConfig::with_cases(n)
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn digest() -> impl Strategy<Value = Sha256Bytes> {
    any::<Sha256Bytes>()
}

fn hex_digest() -> impl Strategy<Value = String> {
    digest().prop_map(|d| to_hex(&d))
}

fn version() -> impl Strategy<Value = Version> {
    let pre = prop::option::of(("[a-z][a-z0-9-]{0,5}", prop::option::of(0u16..1000)));
    let build = prop::option::of("[a-zA-Z0-9]{1,6}");
    (0u64..100, 0u64..100, 0u64..1000, pre, build).prop_map(|(major, minor, patch, pre, build)| {
        let mut text = format!("{major}.{minor}.{patch}");
        if let Some((word, number)) = pre {
            text.push('-');
            text.push_str(&word);
            if let Some(n) = number {
                text.push_str(&format!(".{n}"));
            }
        }
        if let Some(build) = build {
            text.push('+');
            text.push_str(&build);
        }
        Version::parse(&text).expect("generated version parses")
    })
}

fn app_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}"
}

fn platform() -> impl Strategy<Value = String> {
    prop::sample::select(platform::KNOWN).prop_map(str::to_owned)
}

/// A normalised relative path outside the reserved directory.
fn rel_path() -> impl Strategy<Value = String> {
    vec("[a-zA-Z0-9_é漢🦀 -][a-zA-Z0-9._é漢🦀 -]{0,8}", 1..5)
        .prop_map(|parts| parts.join("/"))
        .prop_filter("normalised and not reserved", |p| {
            paths::normalize_str(p).as_deref() == Ok(p.as_str()) && !paths::is_reserved(p)
        })
}

/// Any text without NUL (JSON escapes the rest).
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\0', ""))
}

const PUBLIC_KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        (1i32..=22).prop_map(|level| Compression { codec: Codec::Zstd, level }),
        (0i32..=9).prop_map(|level| Compression { codec: Codec::Gzip, level }),
    ]
}

fn manifest() -> impl Strategy<Value = Manifest> {
    let names = (app_name(), version(), platform(), rel_path(), vec(text(), 0..4));
    let sections = (compression(), any::<u64>(), hex_digest(), any::<u64>(), hex_digest(), any::<u64>(), any::<u64>());
    let exes = vec((rel_path(), any::<u64>()), 0..4);
    let tail = (version(), version(), text(), prop::option::of(text()), any::<bool>(), any::<u64>());
    (names, sections, exes, tail).prop_map(|(names, sections, exes, tail)| {
        let (name, version, platform, entry, args) = names;
        let (compression, payload_size, payload_sha, index_size, index_sha, unpacked_size, entries) = sections;
        let (min_launcher, launcher_version, packed_with, feed, keyed, entry_size) = tail;
        let mut executables: Vec<FileCheck> = exes.into_iter().map(|(path, size)| FileCheck { path, size }).collect();
        executables.push(FileCheck { path: entry.clone(), size: entry_size });
        Manifest {
            format: MANIFEST_FORMAT,
            name,
            version,
            platform,
            entry,
            args,
            arg_templates: false,
            compression,
            payload: SectionDigest { size: payload_size, sha256: payload_sha },
            index: SectionDigest { size: index_size, sha256: index_sha },
            unpacked_size,
            entries,
            executables,
            min_launcher,
            launcher_version,
            packed_with,
            update: UpdateSettings { feed, public_key: keyed.then(|| PUBLIC_KEY.to_owned()), ..Default::default() },
            naming: Default::default(),
            supervise: true,
        }
    })
}

fn artifact() -> impl Strategy<Value = Artifact> {
    ("https://[a-z0-9.]{1,12}(:[0-9]{1,5})?/[a-zA-Z0-9._/-]{0,20}", any::<u64>(), hex_digest(), text()).prop_map(
        |(url, size, sha256, comment)| Artifact {
            url,
            size,
            sha256,
            signature: format!("untrusted comment: x\nRWQ\ntrusted comment: {}\nAA==\n", comment.replace('\n', " ")),
        },
    )
}

fn release() -> impl Strategy<Value = Release> {
    let launcher = prop::option::of((version(), artifact()))
        .prop_map(|l| l.map(|(version, artifact)| LauncherArtifact { version, artifact }));
    (version(), platform(), version(), prop::option::of(0u8..=100), any::<u64>(), artifact(), launcher).prop_map(
        |(version, platform, min_launcher, rollout, published, payload, launcher)| Release {
            version,
            platform,
            min_launcher,
            rollout,
            published,
            payload,
            launcher,
            deltas: Vec::new(),
        },
    )
}

fn feed() -> impl Strategy<Value = Feed> {
    let fresh = (prop::option::of(any::<u64>()), prop::option::of(any::<u64>()));
    (app_name(), "[a-z0-9_-]{1,32}", vec(release(), 0..4), fresh).prop_map(|(name, channel, releases, fresh)| {
        let mut feed = Feed::new(&name, &channel);
        feed.releases = releases;
        (feed.expires, feed.sequence) = fresh;
        feed
    })
}

fn index_entry() -> impl Strategy<Value = IndexEntry> {
    let kind = prop_oneof![Just(EntryKind::Dir), Just(EntryKind::File), Just(EntryKind::Symlink)];
    (text(), kind, any::<u64>(), any::<bool>(), prop::option::of(hex_digest()), prop::option::of(text()))
        .prop_map(|(path, kind, size, exec, sha256, target)| IndexEntry { path, kind, size, exec, sha256, target })
}

fn trailer() -> impl Strategy<Value = Trailer> {
    (any::<u64>(), 0..=MAX_INDEX_LEN, 1..=MAX_MANIFEST_LEN, 0..=MAX_SIGNATURE_LEN, digest(), digest()).prop_map(
        |(payload_len, index_len, manifest_len, signature_len, payload_sha256, manifest_sha256)| Trailer {
            version: sea_payload::trailer::FORMAT_WITH_INDEX,
            payload_len,
            index_len,
            manifest_len,
            signature_len,
            payload_sha256,
            manifest_sha256,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Section round trips

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn trailer_round_trips(t in trailer()) {
        prop_assert_eq!(Trailer::parse(&t.encode()), Ok(t));
    }

    #[test]
    fn every_bit_flip_of_a_trailer_is_refused(t in trailer()) {
        let bytes = t.encode();
        for bit in 0..TRAILER_LEN * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(Trailer::parse(&flipped).is_err(), "flip of bit {} was accepted", bit);
        }
    }

    #[test]
    fn a_layout_lies_inside_the_file(t in trailer(), file_len in any::<u64>()) {
        let needed = [t.payload_len, t.index_len, t.manifest_len, t.signature_len]
            .iter()
            .map(|l| u128::from(*l))
            .sum::<u128>()
            + TRAILER_LEN as u128;
        match t.layout(file_len) {
            Ok(layout) => {
                prop_assert!(needed <= u128::from(file_len));
                prop_assert_eq!(layout.trailer.end, file_len);
                prop_assert_eq!(layout.payload.end - layout.payload.start, t.payload_len);
                prop_assert_eq!(layout.stub_len + needed as u64, file_len);
            }
            Err(_) => prop_assert!(needed > u128::from(file_len)),
        }
    }

    #[test]
    fn manifest_round_trips(m in manifest()) {
        m.validate().expect("generated manifest is valid");
        let bytes = m.to_bytes();
        let parsed = Manifest::from_bytes(&bytes).expect("parses");
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }

    #[test]
    fn feed_round_trips(f in feed()) {
        f.validate().expect("generated feed is valid");
        let bytes = f.to_bytes();
        let parsed = Feed::from_bytes(&bytes).expect("parses");
        prop_assert_eq!(&parsed, &f);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }

    /// Freshness: an expired feed is refused whatever the sequences; an unexpired one is
    /// accepted exactly when it is not older than the sequence seen (or nothing was seen).
    #[test]
    fn feed_freshness_is_expiry_then_sequence(f in feed(), now in any::<u64>(), seen in prop::option::of(any::<u64>())) {
        let verdict = f.check_fresh(now, seen);
        let expired = f.expires.is_some_and(|e| e <= now);
        let ordered = match seen {
            None => true,
            Some(seen) => f.expires.is_some() && f.sequence.is_some_and(|s| s >= seen),
        };
        prop_assert_eq!(verdict.is_ok(), !expired && ordered, "{:?}", verdict);
        if expired {
            let is_expired = matches!(verdict, Err(sea_payload::feed::Stale::Expired { .. }));
            prop_assert!(is_expired);
        }
        // Seeing the feed's own sequence again never turns an accepted feed away.
        if let (Some(s), false) = (f.sequence, expired) {
            prop_assert_eq!(f.check_fresh(now, Some(s)).is_ok(), f.expires.is_some());
        }
    }

    #[test]
    fn index_round_trips(entries in vec(index_entry(), 0..8)) {
        let index = Index { entries };
        let total: u128 = index.entries.iter().map(|e| u128::from(e.size)).sum();
        prop_assert_eq!(index.unpacked_size(), u64::try_from(total).unwrap_or(u64::MAX));
        let bytes = index.to_bytes();
        let parsed = Index::from_bytes(&bytes).expect("parses");
        prop_assert_eq!(&parsed, &index);
        prop_assert_eq!(parsed.to_bytes(), bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Path normalisation

/// A component that `normalize` keeps.
fn component() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._~ é漢🦀:-]{1,12}".prop_filter("not . or .. or a drive", |c| {
        let b = c.as_bytes();
        c != "." && c != ".." && !(b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
    })
}

/// Separators that `normalize` folds into one `/`.
fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["/", "//", "/./", "/././/"][..])
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn normalize_output_is_relative_clean_and_a_fixed_point(raw in vec(any::<u8>(), 0..64)) {
        if let Ok(normal) = paths::normalize(&raw) {
            prop_assert!(!normal.starts_with('/'));
            prop_assert!(normal.split('/').all(|c| !c.is_empty() && c != "." && c != ".."), "{:?}", normal);
            prop_assert_eq!(paths::normalize(normal.as_bytes()), Ok(normal.clone()));
        }
    }

    #[test]
    fn normalize_folds_separators_and_dots(
        parts in vec(component(), 1..6),
        seps in vec(separator(), 6),
        leading_dot in any::<bool>(),
        trailing in any::<bool>(),
    ) {
        let mut raw = if leading_dot { "./".to_owned() } else { String::new() };
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                raw.push_str(seps[i]);
            }
            raw.push_str(part);
        }
        if trailing {
            raw.push('/');
        }
        prop_assert_eq!(paths::normalize(raw.as_bytes()), Ok(parts.join("/")));
    }

    #[test]
    fn normalize_refuses_parent_and_absolute(
        parts in vec(component(), 0..5),
        at in any::<Pick>(),
        drive in "[a-zA-Z]:[a-z]{0,3}",
    ) {
        let with_drive = format!("{drive}/{}", parts.join("/"));
        prop_assert_eq!(paths::normalize(with_drive.as_bytes()), Err(PathError::Absolute));
        let mut with_parent = parts.clone();
        with_parent.insert(at.index(parts.len() + 1), "..".to_owned());
        prop_assert_eq!(paths::normalize(with_parent.join("/").as_bytes()), Err(PathError::ParentDir));
        let absolute = format!("/{}", parts.join("/"));
        prop_assert_eq!(paths::normalize(absolute.as_bytes()), Err(PathError::Absolute));
    }
}

// ---------------------------------------------------------------------------------------------
// Pack → unpack of random trees

#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>, bool),
    Dir(BTreeMap<String, Node>),
}

/// A file name, odd unicode included (combining marks, right-to-left override, astral plane).
fn file_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 ._~+=,@#%&()'{}-]{1,12}", "[aé漢字ßΩ🦀\u{202e}\u{0301}\u{00a0}]{1,6}", "[a-z]{100,120}",]
        .prop_filter("not . or .. or .sea", |n| n != "." && n != ".." && n != ".sea")
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..600), (any::<u8>(), 0usize..5000).prop_map(|(b, n)| vec![b; n])]
}

fn tree() -> impl Strategy<Value = BTreeMap<String, Node>> {
    let leaf = (content(), any::<bool>()).prop_map(|(data, exec)| Node::File(data, exec));
    let node = leaf.prop_recursive(3, 24, 4, |inner| btree_map(file_name(), inner, 0..4).prop_map(Node::Dir));
    btree_map(file_name(), node, 0..6)
}

/// A link to be placed in an existing directory, pointing at an existing entry.
fn links() -> impl Strategy<Value = Vec<(Pick, Pick, String)>> {
    vec((any::<Pick>(), any::<Pick>(), file_name()), 0..4)
}

const ENTRY: &str = "sea-entry";

/// Writes `nodes` below `dir`; records every directory and every entry, relative to the root.
fn write_nodes(root: &Path, rel: &str, nodes: &BTreeMap<String, Node>, dirs: &mut Vec<String>, all: &mut Vec<String>) {
    for (name, node) in nodes {
        let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let full = root.join(&child);
        match node {
            Node::File(data, exec) => {
                fs::write(&full, data).expect("write file");
                let mode = if *exec { 0o755 } else { 0o644 };
                fs::set_permissions(&full, fs::Permissions::from_mode(mode)).expect("chmod");
            }
            Node::Dir(children) => {
                fs::create_dir(&full).expect("mkdir");
                dirs.push(child.clone());
                write_nodes(root, &child, children, dirs, all);
            }
        }
        all.push(child);
    }
}

/// The relative link target from directory `from` to `to`.
fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|c| !c.is_empty()).collect();
    let to: Vec<&str> = to.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
}

/// Makes the tree on disk: the random nodes, the executable entry, then links between them.
fn make_tree(root: &Path, nodes: &BTreeMap<String, Node>, links: &[(Pick, Pick, String)]) {
    fs::create_dir(root).expect("mkdir root");
    let mut dirs = vec![String::new()];
    let mut all = Vec::new();
    let mut nodes = nodes.clone();
    nodes.insert(ENTRY.to_owned(), Node::File(b"#!/bin/sh\n".to_vec(), true));
    write_nodes(root, "", &nodes, &mut dirs, &mut all);
    let mut taken: BTreeSet<String> = all.iter().cloned().collect();
    for (dir, target, name) in links {
        let dir = &dirs[dir.index(dirs.len())];
        let link = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
        if !taken.insert(link.clone()) {
            continue;
        }
        let target = relative(dir, &all[target.index(all.len())]);
        std::os::unix::fs::symlink(&target, root.join(&link)).expect("symlink");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Dir,
    File { data: Vec<u8>, exec: bool },
    Link(PathBuf),
}

/// Every entry below `root`: kind, content, executable bit, link target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Seen> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Seen>) {
        for item in fs::read_dir(root.join(rel)).expect("read dir") {
            let rel = rel.join(item.expect("dir entry").file_name());
            let full = root.join(&rel);
            let meta = fs::symlink_metadata(&full).expect("stat");
            let seen = if meta.file_type().is_symlink() {
                Seen::Link(fs::read_link(&full).expect("readlink"))
            } else if meta.is_dir() {
                walk(root, &rel, out);
                Seen::Dir
            } else {
                Seen::File { data: fs::read(&full).expect("read"), exec: meta.permissions().mode() & 0o111 != 0 }
            };
            out.insert(rel, seen);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn spec() -> PackageSpec {
    PackageSpec {
        name: "prop".into(),
        version: Version::new(1, 0, 0),
        platform: "linux-x64".into(),
        entry: ENTRY.into(),
        args: vec![],
        min_launcher: Version::new(0, 3, 0),
        launcher_version: Version::new(0, 3, 0),
        packed_with: "prop".into(),
        update: UpdateSettings::default(),
        naming: Default::default(),
        supervise: true,
    }
}

fn pack(root: &Path, compression: Compression) -> Vec<u8> {
    let mut out = b"STUB".to_vec();
    let options = PackOptions { compression, threads: 1, progress: None };
    write_package(&mut out, root, &spec(), &options, None).expect("packs");
    out
}

fn small_unpack_options() -> UnpackOptions<'static> {
    UnpackOptions { writers: 2, ..UnpackOptions::default() }
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn random_trees_survive_pack_and_unpack(nodes in tree(), links in links(), gzip in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("in");
        make_tree(&root, &nodes, &links);
        let compression = if gzip {
            Compression { codec: Codec::Gzip, level: 1 }
        } else {
            Compression { codec: Codec::Zstd, level: 1 }
        };
        let packed = pack(&root, compression);
        prop_assert!(packed == pack(&root, compression), "packing twice differs");
        let file = dir.path().join("app.sea");
        fs::write(&file, &packed).expect("write package");
        let package = Package::open(&file).expect("opens");
        package.verify_payload().expect("payload digest");
        let index = package.read_index().expect("index");
        let out = dir.path().join("out");
        fs::create_dir(&out).expect("mkdir out");
        let summary = package.unpack_to(&out, &small_unpack_options()).expect("unpacks");
        let before = snapshot(&root);
        prop_assert_eq!(summary.entries, before.len() as u64);
        prop_assert_eq!(index.entries.len(), before.len());
        prop_assert_eq!(snapshot(&out), before);
    }
}

proptest! {
    #![proptest_config(cases(32))]

    /// The index is not shipped: what the unpacker records while it writes, and what
    /// `reconstruct_index` rebuilds without writing, must be exactly the packer's index.
    #[test]
    fn the_unpacker_records_the_packers_index(nodes in tree(), links in links(), gzip in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("in");
        make_tree(&root, &nodes, &links);
        let compression = Compression { codec: if gzip { Codec::Gzip } else { Codec::Zstd }, level: 1 };
        let options = PackOptions { compression, threads: 1, progress: None };
        let packed = sea_payload::pack::pack_dir(&root, io::sink(), &options).expect("packs");
        let file = dir.path().join("app.sea");
        fs::write(&file, pack(&root, compression)).expect("write package");
        let package = Package::open(&file).expect("opens");
        prop_assert!(!package.has_index_section());
        prop_assert_eq!(package.layout().index.clone(), package.layout().manifest.start..package.layout().manifest.start);
        let out = dir.path().join("out");
        fs::create_dir(&out).expect("mkdir out");
        let (_, recorded) = package.unpack_indexed(&out, &small_unpack_options()).expect("unpacks");
        prop_assert_eq!(&recorded, &packed.index.to_bytes());
        let (rebuilt, bytes) = package.reconstruct_index().expect("rebuilds");
        prop_assert_eq!(&rebuilt, &packed.index);
        prop_assert_eq!(bytes, recorded);
    }
}

// ---------------------------------------------------------------------------------------------
// Corruption of a packed file

const STUB_LEN: usize = 4;

/// A small package with a bit of everything.
static PACKED: LazyLock<Vec<u8>> = LazyLock::new(|| fixture(None));

/// The same, signed with a fresh key; and that key.
static SIGNED: LazyLock<(Vec<u8>, String)> = LazyLock::new(|| {
    let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("keypair");
    let sign = |data: &[u8]| {
        minisign::sign(None, &pair.sk, data, Some("prop"), None).map(|s| s.into_string()).map_err(|e| e.to_string())
    };
    (fixture(Some(&sign)), pair.pk.to_base64())
});

fn fixture(signer: Option<sea_payload::pack::Signer<'_>>) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("in");
    let mut nodes = BTreeMap::new();
    let lib = BTreeMap::from([
        ("data.txt".to_owned(), Node::File(b"some data\n".repeat(50), false)),
        ("tool".to_owned(), Node::File(b"#!/bin/sh\nexit 0\n".to_vec(), true)),
    ]);
    nodes.insert("lib".to_owned(), Node::Dir(lib));
    nodes.insert("empty".to_owned(), Node::Dir(BTreeMap::new()));
    make_tree(&root, &nodes, &[]);
    std::os::unix::fs::symlink("lib/data.txt", root.join("link")).expect("symlink");
    let mut out = b"STUB".to_vec();
    let options = PackOptions { compression: Compression { codec: Codec::Zstd, level: 3 }, threads: 1, progress: None };
    write_package(&mut out, &root, &spec(), &options, signer).expect("packs");
    out
}

/// Opens, verifies, reads the index and unpacks `bytes`; the first failure, if any.
fn open_verify_unpack(bytes: &[u8]) -> Result<(), String> {
    open_verify_unpack_with(bytes, None)
}

/// [`open_verify_unpack`], also requiring a signature by `key` when given.
fn open_verify_unpack_with(bytes: &[u8], key: Option<&str>) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.sea");
    fs::write(&file, bytes).expect("write");
    let out = dir.path().join("out");
    fs::create_dir(&out).expect("mkdir");
    let package = Package::open(&file).map_err(|e| e.to_string())?;
    if key.is_some() {
        package.check_signature(key).map_err(|e| e.to_string())?;
    }
    package.verify_payload().map_err(|e| e.to_string())?;
    package.read_index().map_err(|e| e.to_string())?;
    package.unpack_to(&out, &small_unpack_options()).map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn the_corruption_fixtures_are_valid() {
    open_verify_unpack(&PACKED).expect("the intact package unpacks");
    let (signed, key) = &*SIGNED;
    open_verify_unpack_with(signed, Some(key)).expect("the intact signed package unpacks");
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn every_flipped_byte_after_the_stub_is_reported(at in any::<Pick>(), mask in 1u8..=255) {
        let mut bytes = PACKED.clone();
        let offset = STUB_LEN + at.index(bytes.len() - STUB_LEN);
        bytes[offset] ^= mask;
        prop_assert!(open_verify_unpack(&bytes).is_err(), "flip at {} of {} went unnoticed", offset, bytes.len());
    }

    #[test]
    fn every_flipped_byte_of_a_signed_package_is_reported(at in any::<Pick>(), mask in 1u8..=255) {
        // The signature section is covered by no digest, only by the signature itself; its first
        // line, the untrusted comment, is covered by nothing (by minisign's design).
        let (signed, key) = &*SIGNED;
        let mut bytes = signed.clone();
        let offset = STUB_LEN + at.index(bytes.len() - STUB_LEN);
        bytes[offset] ^= mask;
        let signature_start = {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("app.sea");
            fs::write(&file, signed).expect("write");
            Package::open(&file).expect("opens").layout().signature.start as usize
        };
        let comment_end = signature_start + signed[signature_start..].iter().position(|b| *b == b'\n').expect("line");
        if !(signature_start..comment_end).contains(&offset) {
            prop_assert!(open_verify_unpack_with(&bytes, Some(key)).is_err(), "flip at {} went unnoticed", offset);
        }
    }

    #[test]
    fn every_truncation_is_reported(at in any::<Pick>()) {
        let cut = at.index(PACKED.len());
        prop_assert!(open_verify_unpack(&PACKED[..cut]).is_err(), "truncation to {} went unnoticed", cut);
    }

    #[test]
    fn a_flipped_byte_in_the_payload_alone_stops_unpacking(at in any::<Pick>(), mask in 1u8..=255) {
        // Without the separate verify step: unpack_to's streaming digest must catch it.
        let package_len = PACKED.len();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.sea");
        fs::write(&file, &*PACKED).expect("write");
        let payload = Package::open(&file).expect("opens").layout().payload.clone();
        let mut bytes = PACKED.clone();
        let offset = payload.start as usize + at.index((payload.end - payload.start) as usize);
        bytes[offset] ^= mask;
        fs::write(&file, &bytes).expect("write");
        let out = dir.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        let package = Package::open(&file).expect("still opens: the payload is read only when unpacking");
        prop_assert!(package.unpack_to(&out, &small_unpack_options()).is_err(), "flip at {} of {}", offset, package_len);
    }
}
