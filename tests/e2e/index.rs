//! The index is not shipped (format 2): the launcher and `sea-pack` rebuild it from the payload
//! and check it against the digest the signed manifest pins; format 1 packages still work.

use std::fs;
use std::path::{Path, PathBuf};

use sea_payload::Package;
use sea_payload::digest;
use sea_tests::layout::{self, names, pkg_dir};
use sea_tests::{Sandbox, forge, run, text};

/// An app with small files, a link, and a file above the direct-write threshold (1 MiB), whose
/// `share/data.txt` says `data`.
fn app(sb: &Sandbox, dir: &str, data: &str) -> PathBuf {
    let mut big = Vec::with_capacity(3 << 20);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while big.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Half-compressible: a few distinct bytes.
        big.push(b"abcdefgh"[(x % 8) as usize]);
    }
    let app = sb
        .app(dir)
        .exec("bin/app", "#!/bin/sh\necho ran\n")
        .file("share/data.txt", data)
        .file("share/big.bin", &big)
        .file("lib/a/b/c.js", "module.exports = 1;\n");
    std::os::unix::fs::symlink("../share/data.txt", app.path().join("bin/data")).expect("symlink");
    app.path().to_owned()
}

fn pack(sb: &Sandbox, version: &str, data: &str) -> PathBuf {
    let dir = app(sb, &format!("app-{version}"), data);
    sb.pack(&dir, "idx", version, "bin/app", &["--compression", "zstd:3"])
}

fn tree(sb: &Sandbox, bin: &Path) -> PathBuf {
    pkg_dir(&sb.cache("idx")).join(layout::tree_id(bin))
}

/// Trees (not locks) in the app's package directory, temporary ones included.
fn trees(sb: &Sandbox) -> Vec<String> {
    names(&pkg_dir(&sb.cache("idx"))).into_iter().filter(|n| !n.ends_with(".lock")).collect()
}

#[test]
fn the_packed_file_ships_no_index_and_the_tree_gets_the_manifests() {
    let sb = Sandbox::new();
    let bin = pack(&sb, "1.0.0", "one\n");
    let package = Package::open(&bin).expect("opens");
    assert!(!package.has_index_section());
    let l = package.layout();
    assert!(l.index.is_empty(), "index section {:?}", l.index);
    assert_eq!(l.payload.end, l.manifest.start, "nothing between payload and manifest");
    assert_eq!(package.trailer().version, sea_payload::trailer::FORMAT_VERSION);
    let v = &package.manifest().min_launcher;
    assert!((v.major, v.minor) >= (0, 3), "min_launcher {v}: older launchers cannot read this format");
    let out = run(&mut sb.cmd(&bin));
    assert!(out.status.success(), "{}", text(&out).1);
    let written = fs::read(tree(&sb, &bin).join(".sea/index.json")).expect("index in the tree");
    assert_eq!(digest::sha256_hex(&written), package.manifest().index.sha256);
    assert_eq!(written.len() as u64, package.manifest().index.size);
    assert_eq!(written, package.index_bytes().expect("rebuilt"));
    // Deep verification reads it.
    let out = run(sb.cmd(&bin).arg("--sea-verify"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success() && stdout.contains("entries ok"), "{stdout}{stderr}");
    let out = run(sb.sea_pack().arg("verify").arg(&bin));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success() && stdout.contains("index (rebuilt from the payload)"), "{stdout}{stderr}");
    let out = run(sb.sea_pack().args(["inspect", "--entries"]).arg(&bin));
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.contains("share/big.bin") && stdout.contains("bin/data -> ../share/data.txt"),
        "{stdout}{stderr}"
    );
}

/// An attacker who changes a file and recomputes the payload's digest (and the trailer's) but
/// cannot recompute the index the manifest pins: the launcher publishes nothing, and `sea-pack`
/// refuses the file, although every digest over the bytes themselves matches.
#[test]
fn a_payload_whose_files_are_not_the_manifests_index_is_refused_and_nothing_is_published() {
    let sb = Sandbox::new();
    let good = pack(&sb, "1.0.0", "one\n");
    let changed = pack(&sb, "1.0.1", "two\n");
    let forged = sb.path("forged");
    forge::transplant_payload(&good, &changed, &forged);
    let package = Package::open(&forged).expect("the forged file opens");
    package.verify_payload().expect("its payload digest matches");
    let out = run(&mut sb.cmd(&forged));
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success() && !stdout.contains("ran"), "{stdout}{stderr}");
    assert!(stderr.contains("do not match the manifest's index"), "{stderr}");
    assert!(trees(&sb).is_empty(), "something was published or left: {:?}", trees(&sb));
    for cmd in ["verify", "extract"] {
        let mut c = sb.sea_pack();
        c.arg(cmd).arg(&forged);
        if cmd == "extract" {
            c.arg(sb.path("out"));
        }
        let out = run(&mut c);
        let (_, stderr) = text(&out);
        assert!(!out.status.success() && stderr.contains("do not match the manifest's index"), "{cmd}: {stderr}");
    }
    assert!(!sb.path("out").exists(), "extract left its output");
    // The same transplant of the good payload onto itself is accepted: the check is the index.
    let same = sb.path("same");
    forge::transplant_payload(&good, &good, &same);
    assert!(run(sb.sea_pack().arg("verify").arg(&same)).status.success());
}

/// A package of sea 0.2 (format 1: the index shipped as a section) still runs, verifies and
/// extracts, and its tree gets the same index.
#[test]
fn a_format_1_package_still_runs_verifies_and_extracts() {
    let sb = Sandbox::new();
    let bin = pack(&sb, "1.0.0", "one\n");
    let old = sb.path("old-format");
    forge::to_format_1(&bin, &old);
    let package = Package::open(&old).expect("opens");
    assert!(package.has_index_section() && !package.layout().index.is_empty());
    let out = run(&mut sb.cmd(&old));
    assert!(out.status.success() && text(&out).0 == "ran\n", "{}", text(&out).1);
    let written = fs::read(tree(&sb, &old).join(".sea/index.json")).expect("index in the tree");
    assert_eq!(written, package.index_section().expect("section"));
    assert!(run(sb.cmd(&old).arg("--sea-verify")).status.success());
    let out = run(sb.sea_pack().arg("verify").arg(&old));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success() && stdout.contains("index (shipped and rebuilt)"), "{stdout}{stderr}");
    let out = run(sb.sea_pack().arg("extract").arg(&old).arg(sb.path("x")));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(fs::read(sb.path("x/share/data.txt")).expect("extracted"), b"one\n");
    // A shipped index that is not the manifest's is refused by verify.
    let mut bytes = fs::read(&old).expect("read");
    let at = package.layout().index.start as usize + 3;
    bytes[at] ^= 0x01;
    let bad = sb.path("bad-index");
    fs::write(&bad, &bytes).expect("write");
    assert!(!run(sb.sea_pack().arg("verify").arg(&bad)).status.success());
}
