//! Delta updates: `sea-pack release` writes deltas, a client with the base tree downloads and
//! applies one, and every failure — 404, bad signature, corrupt, truncated or wrongly based
//! delta, a base tree damaged on disk, a patch producing wrong bytes, an interrupted download —
//! ends in a correct full install, never a partial tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use sea_tests::faults::{Publisher, check_trees, noise, scratch};
use sea_tests::layout::tree_id;
use sea_tests::server::Fault;
use sea_tests::{run, text};

const MIB: usize = 1024 * 1024;

/// Two releases of `hello`: eight incompressible 1 MiB files, of which 2.0.0 changes one (a
/// few scattered bytes), adds a file, drops a file, and changes a small script.
struct World {
    feed: Publisher,
    v1: PathBuf,
    v2: PathBuf,
}

fn app_tree(feed: &Publisher, version: &str, v2: bool) -> PathBuf {
    let app = feed
        .sb
        .app(&format!("hello-{version}"))
        .exec("bin/app", "#!/bin/sh\necho \"hello $HELLO_APP_VERSION\"\n")
        .file("lib/notes.txt", format!("notes of {version}\n").repeat(50));
    for i in 0..8u64 {
        let mut data = noise(i, MIB);
        if v2 && i == 3 {
            for at in (0..MIB).step_by(100_000) {
                data[at] ^= 0x5a;
            }
        }
        fs::write(app.path().join(format!("lib/blob{i}.bin")), data).expect("write");
    }
    if v2 {
        fs::write(app.path().join("lib/added.txt"), "only in 2.0.0\n").expect("write");
    } else {
        fs::write(app.path().join("lib/dropped.txt"), "only in 1.0.0\n").expect("write");
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink("notes.txt", app.path().join("lib/link")).expect("symlink");
    app.path().to_owned()
}

impl World {
    fn new() -> Self {
        let feed = Publisher::new("hello");
        let v1 = feed.pack(&app_tree(&feed, "1.0.0", false), "1.0.0");
        let v2 = feed.pack(&app_tree(&feed, "2.0.0", true), "2.0.0");
        let w = World { feed, v1, v2 };
        w.feed.release(&[&w.v1]);
        w.feed.release(&[&w.v2]);
        // The bundled tree is the base: it exists once 1.0.0 has run.
        assert_eq!(w.first_line(), "hello 1.0.0");
        w
    }

    fn delta_path(&self) -> PathBuf {
        self.feed.dir.join("hello-2.0.0-linux-x64.from-1.0.0.delta")
    }

    fn first_line(&self) -> String {
        let out = run(&mut self.feed.sb.cmd(&self.v1));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        stdout.lines().next().unwrap_or_default().to_owned()
    }

    fn update(&self) -> Output {
        let mut cmd = self.feed.update_cmd(&self.v1);
        run(cmd.env("HELLO_LOG", "info"))
    }

    fn feed_json(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.feed.dir.join("stable.json")).expect("feed")).expect("json")
    }

    /// Replaces the delta file with `bytes`, signs it with our key and re-signs the feed that
    /// names its new size and digest: a hostile delta that passes every download check.
    fn replace_delta_signed(&self, bytes: &[u8]) {
        fs::write(self.delta_path(), bytes).expect("write");
        let mut feed = self.feed_json();
        let release = feed["releases"]
            .as_array_mut()
            .and_then(|r| r.iter_mut().find(|r| r["version"] == "2.0.0"))
            .expect("release 2.0.0");
        let d = &mut release["deltas"][0];
        d["size"] = serde_json::json!(bytes.len());
        d["sha256"] = serde_json::json!(sea_payload::digest::sha256_hex(bytes));
        d["signature"] = serde_json::json!(sign(&self.feed.key, bytes));
        let feed_bytes = serde_json::to_vec_pretty(&feed).expect("json");
        let path = self.feed.dir.join("stable.json");
        fs::write(&path, &feed_bytes).expect("write");
        fs::write(format!("{}.minisig", path.display()), sign(&self.feed.key, &feed_bytes)).expect("write");
    }

    fn requested(&self, suffix: &str) -> bool {
        self.feed.server.log().iter().any(|r| r.path.ends_with(suffix))
    }

    /// The update succeeded with a full download after the delta could not be used (`why` names
    /// the reason), and the cache holds only complete, correct trees.
    fn assert_full_install(&self, out: &Output, why: &str) {
        let (stdout, stderr) = text(out);
        let all = format!("{stdout}{stderr}");
        assert!(out.status.success(), "{all}");
        assert!(all.contains("the delta from 1.0.0 could not be used"), "{all}");
        assert!(all.contains(why), "expected '{why}' in: {all}");
        assert!(all.contains("updated 1.0.0 -> 2.0.0: downloaded"), "{all}");
        assert!(all.contains("(full download)"), "{all}");
        assert!(self.requested("hello-2.0.0-linux-x64.sea"), "the full artifact was downloaded");
        self.assert_v2_installed();
    }

    fn assert_v2_installed(&self) {
        let pkg = self.feed.pkg();
        assert!(pkg.join(tree_id(&self.v2)).join(".sea/manifest.json").exists());
        check_trees(&pkg, &[&self.v1, &self.v2]).expect("only complete, correct trees");
        assert!(scratch(&pkg).is_empty(), "no temporary tree is left: {:?}", scratch(&pkg));
        assert_eq!(self.first_line(), "hello 2.0.0");
    }
}

fn sign(key_file: &Path, data: &[u8]) -> String {
    let text = fs::read_to_string(key_file).expect("key");
    let sk = minisign::SecretKeyBox::from_string(&text).expect("key box").into_unencrypted_secret_key().expect("key");
    minisign::sign(None, &sk, data, Some("test"), None).expect("sign").into_string()
}

#[test]
fn release_writes_a_small_delta_and_the_client_installs_from_it() {
    let w = World::new();
    let full = fs::metadata(w.feed.dir.join("hello-2.0.0-linux-x64.sea")).expect("full").len();
    let delta = fs::metadata(w.delta_path()).expect("the delta was written").len();
    assert!(delta * 100 <= full * 15, "the delta ({delta} bytes) is at most 15% of the full artifact ({full})");
    let feed = w.feed_json();
    let entry = &feed["releases"][1]["deltas"][0];
    assert_eq!(entry["from"], "1.0.0");
    assert_eq!(entry["size"], delta);
    assert!(entry["signature"].as_str().is_some_and(|s| s.contains("from=1.0.0")), "{entry}");
    assert_eq!(feed["releases"][0].get("deltas"), None, "the first release has no base");

    let out = w.update();
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert!(out.status.success(), "{all}");
    assert!(all.contains("updated 1.0.0 -> 2.0.0: downloaded"), "{all}");
    assert!(all.contains("(delta from 1.0.0)"), "{all}");
    assert!(!w.requested("hello-2.0.0-linux-x64.sea"), "the full artifact was not downloaded");
    assert!(w.requested(".from-1.0.0.delta"));
    w.assert_v2_installed();
    assert!(!w.feed.downloads().join(entry["sha256"].as_str().expect("sha")).exists(), "the delta was deleted");
}

#[test]
fn release_is_deterministic_and_deltas_0_writes_none() {
    let w = World::new();
    let first = fs::read(w.delta_path()).expect("delta");
    // A second release directory gets byte-identical deltas from the same binaries.
    let other = w.feed.sb.path("feed2");
    let out = run(w
        .feed
        .sb
        .sea_pack()
        .arg("release")
        .arg(&w.v1)
        .arg(&w.v2)
        .args(["--base-url", "http://127.0.0.1:1"])
        .arg("-o")
        .arg(&other)
        .arg("--sign-key")
        .arg(&w.feed.key));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(fs::read(other.join("hello-2.0.0-linux-x64.from-1.0.0.delta")).expect("delta"), first);
    let none = w.feed.sb.path("feed3");
    let out = run(w
        .feed
        .sb
        .sea_pack()
        .arg("release")
        .arg(&w.v1)
        .arg(&w.v2)
        .args(["--base-url", "http://127.0.0.1:1", "--deltas", "0"])
        .arg("-o")
        .arg(&none)
        .arg("--sign-key")
        .arg(&w.feed.key));
    assert!(out.status.success(), "{}", text(&out).1);
    let names: Vec<String> =
        fs::read_dir(&none).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".delta")), "{names:?}");
    assert!(!fs::read_to_string(none.join("stable.json")).expect("feed").contains("deltas"));
}

#[test]
fn a_missing_delta_falls_back_to_the_full_artifact() {
    let w = World::new();
    w.feed.server.fault(".delta", Fault::Status(404));
    let out = w.update();
    w.assert_full_install(&out, "404");
}

#[test]
fn an_interrupted_delta_download_falls_back_to_the_full_artifact() {
    let w = World::new();
    w.feed.server.fault(".delta", Fault::Truncate(1000));
    let out = w.update();
    w.assert_full_install(&out, "stopped after");
}

#[test]
fn a_delta_with_a_bad_signature_falls_back_to_the_full_artifact() {
    let w = World::new();
    w.feed.server.fault(".delta", Fault::Corrupt(40));
    let out = w.update();
    w.assert_full_install(&out, "SHA-256 does not match");
    // Signed by another key: the feed's signature for the delta does not verify.
    let w = World::new();
    let mut feed = w.feed_json();
    let payload_sig = feed["releases"][1]["payload"]["signature"].clone();
    feed["releases"][1]["deltas"][0]["signature"] = payload_sig;
    let bytes = serde_json::to_vec_pretty(&feed).expect("json");
    let path = w.feed.dir.join("stable.json");
    fs::write(&path, &bytes).expect("write");
    fs::write(format!("{}.minisig", path.display()), sign(&w.feed.key, &bytes)).expect("write");
    let out = w.update();
    w.assert_full_install(&out, "signature is not valid");
}

#[test]
fn a_signed_but_corrupt_or_truncated_delta_falls_back_to_the_full_artifact() {
    // Validly signed bytes that are not a good delta: the tree it would build is refused.
    let w = World::new();
    let good = fs::read(w.delta_path()).expect("delta");
    let mut bad = good.clone();
    let at = bad.len() - 20;
    bad[at] ^= 0xff;
    w.replace_delta_signed(&bad);
    let out = w.update();
    w.assert_full_install(&out, "delta");

    let w = World::new();
    w.replace_delta_signed(&good[..good.len() / 2]);
    let out = w.update();
    w.assert_full_install(&out, "the delta is corrupt");

    let w = World::new();
    w.replace_delta_signed(b"SEADLT02\xff\xff\xff\x7fjunk");
    let out = w.update();
    w.assert_full_install(&out, "the delta is corrupt");
}

#[test]
fn a_patch_producing_wrong_bytes_is_never_installed() {
    // Re-point the patched file's op at another base file: the patch decodes (or not) to bytes
    // whose SHA-256 is not the new index's.
    let w = World::new();
    let good = fs::read(w.delta_path()).expect("delta");
    // Walk the format to the patch op: magic, header, index, then the ops.
    let header_len = u32::from_le_bytes(good[8..12].try_into().expect("u32")) as usize;
    let index_at = 12 + header_len;
    let index_len = u64::from_le_bytes(good[index_at..index_at + 8].try_into().expect("u64")) as usize;
    let mut pos = index_at + 8 + index_len;
    loop {
        let mut rest = &good[pos..];
        let left = rest.len() as u64;
        match sea_payload::delta::read_op(&mut rest, left).expect("an op") {
            sea_payload::delta::Op::Copy { .. } => pos += 5,
            sea_payload::delta::Op::New { len } => pos += 9 + len as usize,
            sea_payload::delta::Op::Patch { .. } | sea_payload::delta::Op::Diff { .. } => break,
        }
    }
    let mut bad = good.clone();
    let base = u32::from_le_bytes(bad[pos + 1..pos + 5].try_into().expect("u32"));
    bad[pos + 1..pos + 5].copy_from_slice(&(base + 1).to_le_bytes());
    w.replace_delta_signed(&bad);
    let out = w.update();
    w.assert_full_install(&out, "the delta produced wrong bytes for 'lib/blob3.bin'");
}

#[test]
fn a_damaged_base_tree_falls_back_to_the_full_artifact() {
    // A large copied file (streamed and checked as it goes) and a small one (read and checked
    // ahead of the stream).
    for (file, damaged) in
        [("lib/blob5.bin", noise(99, MIB)), ("bin/app", b"#!/bin/sh\necho \"HELLO $HELLO_APP_VERSION\"\n".to_vec())]
    {
        damaged_base_falls_back(file, &damaged);
    }
}

fn damaged_base_falls_back(file: &str, damaged: &[u8]) {
    let w = World::new();
    let base = w.feed.pkg().join(tree_id(&w.v1));
    // Same size, other bytes: the start-up check does not see it, the delta's base check does.
    assert_eq!(fs::metadata(base.join(file)).expect("base file").len(), damaged.len() as u64);
    fs::write(base.join(file), damaged).expect("damage");
    let out = w.update();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(format!("{stdout}{stderr}").contains(&format!("the base tree is damaged: '{file}'")), "{stderr}");
    assert!(stderr.contains("(full download)"), "{stderr}");
    let pkg = w.feed.pkg();
    sea_tests::layout::tree_matches(&w.v2, &pkg.join(tree_id(&w.v2))).expect("2.0.0 is complete and correct");
    assert!(scratch(&pkg).is_empty(), "{:?}", scratch(&pkg));
}

#[test]
fn a_delta_of_another_base_is_not_used() {
    let w = World::new();
    let mut feed = w.feed_json();
    feed["releases"][1]["deltas"][0]["base_sha256"] = serde_json::json!("ab".repeat(32));
    let bytes = serde_json::to_vec_pretty(&feed).expect("json");
    let path = w.feed.dir.join("stable.json");
    fs::write(&path, &bytes).expect("write");
    fs::write(format!("{}.minisig", path.display()), sign(&w.feed.key, &bytes)).expect("write");
    let out = w.update();
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(full download)"), "{stderr}");
    assert!(!w.requested(".delta"), "no delta was downloaded");
    w.assert_v2_installed();
}

/// Against nginx (the Debian package) serving the release directory on a loopback port, as a
/// CDN would: the delta is used, and a partial delta download resumes with a `Range` request
/// that nginx answers with `206`.
#[test]
fn against_nginx_the_delta_is_used_and_a_partial_download_resumes() {
    let sb = sea_tests::Sandbox::new();
    let dir = sb.path("site");
    fs::create_dir(&dir).expect("mkdir");
    let Some(nginx) = sea_tests::nginx::Nginx::start(&dir) else {
        assert!(!sea_tests::require_tool("nginx"), "nginx runs but did not start");
        return;
    };
    let (key, public_key) = sb.keygen("release");
    let feed_url = format!("{}/stable.json", nginx.url());
    let key_text = key.to_string_lossy().into_owned();
    let flags = ["--compression", "zstd:1", "--feed", &feed_url, "--public-key", &public_key, "--sign-key", &key_text];
    let shell = Publisher {
        sb,
        dir: dir.clone(),
        server: sea_tests::server::Server::start(&dir),
        key,
        public_key: public_key.clone(),
        name: "hello".into(),
    };
    let v1 = shell.sb.pack(&app_tree(&shell, "1.0.0", false), "hello", "1.0.0", "bin/app", &flags);
    let v2 = shell.sb.pack(&app_tree(&shell, "2.0.0", true), "hello", "2.0.0", "bin/app", &flags);
    for bin in [&v1, &v2] {
        let out = run(shell
            .sb
            .sea_pack()
            .arg("release")
            .arg(bin)
            .arg("--base-url")
            .arg(nginx.url())
            .arg("-o")
            .arg(&dir)
            .arg("--sign-key")
            .arg(&shell.key));
        assert!(out.status.success(), "release: {}", text(&out).1);
    }
    assert!(run(&mut shell.sb.cmd(&v1)).status.success());
    // Half of the delta is already downloaded: the update must fetch only the rest.
    let delta = fs::read(dir.join("hello-2.0.0-linux-x64.from-1.0.0.delta")).expect("delta");
    let downloads = shell.downloads();
    fs::create_dir_all(&downloads).expect("mkdir");
    sea_tests::set_mode(&downloads, 0o700);
    let sha = sea_payload::digest::sha256_hex(&delta);
    fs::write(downloads.join(format!("{sha}.part")), &delta[..delta.len() / 2]).expect("partial");
    let out = shell.update(&v1);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("(delta from 1.0.0)"), "{stderr}");
    let log = nginx.log();
    let deltas: Vec<_> = log.iter().filter(|l| l.uri.ends_with(".from-1.0.0.delta")).collect();
    assert!(deltas.iter().any(|l| l.status == 206 && l.range != "-"), "a Range request answered 206: {log:?}");
    assert!(
        !log.iter().any(|l| l.uri.ends_with("hello-2.0.0-linux-x64.sea")),
        "the full artifact was not downloaded: {log:?}"
    );
    check_trees(&shell.pkg(), &[&v1, &v2]).expect("only complete, correct trees");
    let out = run(&mut shell.sb.cmd(&v1));
    assert_eq!(text(&out).0.lines().next(), Some("hello 2.0.0"));
}

/// The ops of a delta's bytes (walking magic, header and index), with each op's offset.
fn ops_of(delta: &[u8]) -> Vec<(usize, sea_payload::delta::Op)> {
    use sea_payload::delta::Op;
    let header_len = u32::from_le_bytes(delta[8..12].try_into().expect("u32")) as usize;
    let index_at = 12 + header_len;
    let index_len = u64::from_le_bytes(delta[index_at..index_at + 8].try_into().expect("u64")) as usize;
    let mut pos = index_at + 8 + index_len;
    let mut ops = Vec::new();
    while pos < delta.len() {
        let mut rest = &delta[pos..];
        let left = rest.len() as u64;
        let op = sea_payload::delta::read_op(&mut rest, left).expect("an op");
        ops.push((pos, op));
        pos += match op {
            Op::Copy { .. } => 5,
            Op::New { len } => 9 + len as usize,
            Op::Patch { len, .. } | Op::Diff { len, .. } => 13 + len as usize,
        };
    }
    ops
}

#[test]
fn a_relocated_native_module_travels_as_a_diff_and_installs() {
    let feed = Publisher::new("hello");
    let module = noise(7, 512 * 1024);
    let tree = |version: &str, relocate: bool| {
        let app =
            feed.sb.app(&format!("hello-{version}")).exec("bin/app", "#!/bin/sh\necho \"hello $HELLO_APP_VERSION\"\n");
        let mut data = module.clone();
        if relocate {
            // A rebuild: in the middle half, every fourth byte (an "address") moves by 16.
            for at in (128 * 1024..384 * 1024).step_by(4) {
                data[at] = data[at].wrapping_add(16);
            }
        }
        fs::create_dir_all(app.path().join("lib")).expect("mkdir");
        fs::write(app.path().join("lib/addon.node"), data).expect("write");
        app.path().to_owned()
    };
    let v1 = feed.pack(&tree("1.0.0", false), "1.0.0");
    let v2 = feed.pack(&tree("2.0.0", true), "2.0.0");
    feed.release(&[&v1]);
    feed.release(&[&v2]);
    assert!(run(&mut feed.sb.cmd(&v1)).status.success());
    let delta = fs::read(feed.dir.join("hello-2.0.0-linux-x64.from-1.0.0.delta")).expect("delta");
    let ops: Vec<_> = ops_of(&delta).into_iter().map(|(_, op)| op).collect();
    assert!(ops.iter().any(|op| matches!(op, sea_payload::delta::Op::Diff { .. })), "{ops:?}");
    // A tenth of the module at most: the exact-match patch would cost about a quarter of it.
    assert!(delta.len() < module.len() / 10, "{} bytes", delta.len());
    let out = run(feed.update_cmd(&v1).env("HELLO_LOG", "info"));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("(delta from 1.0.0)"), "{stderr}");
    check_trees(&feed.pkg(), &[&v1, &v2]).expect("only complete, correct trees");
    assert!(scratch(&feed.pkg()).is_empty());
}

#[test]
fn a_format_1_delta_is_refused_with_a_clear_message() {
    let w = World::new();
    let mut old = fs::read(w.delta_path()).expect("delta");
    old[..8].copy_from_slice(b"SEADLT01");
    w.replace_delta_signed(&old);
    let out = w.update();
    w.assert_full_install(&out, "it is a delta of format 1 (SEADLT01), which this version no longer reads");
}

#[test]
fn an_oversized_delta_is_never_used() {
    // Served larger than the signed feed says: the download stops and is deleted.
    let w = World::new();
    let mut bigger = fs::read(w.delta_path()).expect("delta");
    bigger.extend_from_slice(&noise(5, MIB));
    fs::write(w.delta_path(), &bigger).expect("write");
    let out = w.update();
    w.assert_full_install(&out, "delta");
    assert!(w.feed.downloads().read_dir().map_or(true, |mut d| d.next().is_none()), "no download is left");

    // Signed, but not smaller than the full artifact: not even downloaded.
    let w = World::new();
    let full = fs::metadata(w.feed.dir.join("hello-2.0.0-linux-x64.sea")).expect("full").len() as usize;
    let mut padded = fs::read(w.delta_path()).expect("delta");
    padded.resize(full + 1, 0);
    w.replace_delta_signed(&padded);
    let out = w.update();
    w.assert_full_install(&out, "not smaller than the full artifact");
    assert!(!w.requested(".delta"), "the oversized delta was not downloaded");
}

/// A zstd frame of raw blocks: what any decoder accepts, without a compressor.
fn raw_zstd(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0xa0];
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(128 * 1024).collect() };
    for (i, chunk) in chunks.iter().enumerate() {
        let last = u32::from(i + 1 == chunks.len());
        let head = last | ((chunk.len() as u32) << 3);
        out.extend_from_slice(&head.to_le_bytes()[..3]);
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn a_signed_delta_whose_paths_leave_its_tree_writes_nothing_outside() {
    // A delta whose new index (and the manifest pinning it, signed by the release key) names
    // paths outside the tree: the payload's unpacker refuses it, nothing is written outside the
    // temporary tree, and the full artifact is installed.
    for escape in ["../escaped.txt", "/tmp/sea-escaped.txt", "lib/../../escaped.txt"] {
        let w = World::new();
        let good = fs::read(w.delta_path()).expect("delta");
        let pkg = w.feed.pkg();
        let base_index = fs::read(pkg.join(tree_id(&w.v1)).join(".sea/index.json")).expect("base index");
        let opened = sea_payload::delta::Delta::open(&w.delta_path(), &base_index).expect("open");
        let index = String::from_utf8(opened.index_bytes().to_vec()).expect("utf-8");
        assert!(index.contains("\"lib/added.txt\""), "{index}");
        let index = index.replace("\"lib/added.txt\"", &format!("\"{escape}\"")).into_bytes();
        let mut manifest: serde_json::Value = serde_json::from_slice(opened.manifest_bytes()).expect("manifest");
        manifest["index"]["sha256"] = serde_json::json!(sea_payload::digest::sha256_hex(&index));
        manifest["index"]["size"] = serde_json::json!(index.len());
        let manifest = serde_json::to_string(&manifest).expect("json");
        let mut header: serde_json::Value = serde_json::to_value(opened.header()).expect("header");
        header["signature"] = serde_json::json!(sign(&w.feed.key, manifest.as_bytes()));
        header["manifest"] = serde_json::json!(manifest);
        let header = serde_json::to_vec(&header).expect("json");
        let header_len = u32::from_le_bytes(good[8..12].try_into().expect("u32")) as usize;
        let index_at = 12 + header_len;
        let index_len = u64::from_le_bytes(good[index_at..index_at + 8].try_into().expect("u64")) as usize;
        let frame = raw_zstd(&index);
        let mut bad = good[..8].to_vec();
        bad.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bad.extend_from_slice(&header);
        bad.extend_from_slice(&(frame.len() as u64).to_le_bytes());
        bad.extend_from_slice(&frame);
        bad.extend_from_slice(&good[index_at + 8 + index_len..]);
        w.replace_delta_signed(&bad);
        let out = w.update();
        w.assert_full_install(&out, "the delta from 1.0.0 could not be used");
        let (_, stderr) = text(&out);
        assert!(!stderr.contains("the delta is corrupt: its manifest"), "the crafted delta parsed: {stderr}");
        let outside = [pkg.join("escaped.txt"), pkg.parent().expect("parent").join("escaped.txt")];
        for p in outside.iter().chain([&PathBuf::from("/tmp/sea-escaped.txt")]) {
            assert!(!p.exists(), "{escape}: {} was written", p.display());
        }
    }
}

#[test]
fn a_disk_that_fills_while_a_delta_is_applied_falls_back_and_leaves_nothing() {
    // Files may not grow past 512 KiB (EFBIG, as on a full disk): the delta downloads (it is
    // small) but writing the first 1 MiB file of the new tree fails; the fallback to the full
    // artifact is attempted and reported, fails too (its download is larger), and the update
    // ends in a clear error with only complete trees, while 1.0.0 keeps running.
    let w = World::new();
    let mut cmd = w.feed.update_cmd(&w.v1);
    cmd.env("HELLO_LOG", "info");
    sea_tests::faults::limit_file_size(&mut cmd, 512 * 1024);
    let out = run(&mut cmd);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert!(!out.status.success(), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    // Said in this order: the delta's failure and the fallback, then the full download's error.
    let delta_failed = all.find("hello: the delta from 1.0.0 could not be used (could not write").expect(&all);
    assert!(all[delta_failed..].contains("the disk or quota is full: free some space"), "{all}");
    assert!(all[delta_failed..].contains("); downloading the full release"), "{all}");
    let full_failed = all.find("hello: update failed: the disk filled up while downloading").expect(&all);
    assert!(delta_failed < full_failed, "{all}");
    assert!(w.requested(".from-1.0.0.delta") && w.requested("hello-2.0.0-linux-x64.sea"), "both were tried");
    assert!(stderr.contains("HELLO_CACHE_HOME"), "the error says where: {stderr}");
    let pkg = w.feed.pkg();
    assert!(scratch(&pkg).is_empty(), "no temporary tree is left: {:?}", scratch(&pkg));
    assert!(!pkg.join(tree_id(&w.v2)).exists(), "2.0.0 was not installed");
    check_trees(&pkg, &[&w.v1, &w.v2]).expect("only complete, correct trees");
    assert!(w.feed.downloads().read_dir().map_or(true, |mut d| d.next().is_none()), "no download is left");
    assert_eq!(w.first_line(), "hello 1.0.0", "the version in use keeps running");
    // With room again, the delta is used.
    let out = w.update();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("(delta from 1.0.0)"), "{stderr}");
    w.assert_v2_installed();
}
