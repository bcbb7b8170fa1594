//! Updates against a real HTTP server on 127.0.0.1: signed feeds, verified downloads, atomic
//! installs, rollback refusal, self-replacement, and the restart-after-update flow.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use sea_tests::faults::{Publisher, limit_file_size, noise};
use sea_tests::layout::{self, names, pkg_dir};
use sea_tests::server::Fault;
use sea_tests::{Sandbox, bins, require, require_root, run, set_mode, text};

/// The shared feed world (`sea_tests::faults::Publisher`, app `hello`), with the update tests' own
/// app builder and a short update timeout.
struct World(Publisher);

impl std::ops::Deref for World {
    type Target = Publisher;
    fn deref(&self) -> &Publisher {
        &self.0
    }
}

impl World {
    fn new() -> Self {
        World(Publisher::new("hello"))
    }

    /// Packs version `version` of app `name`, whose entry prints its version and then runs `tail`.
    fn build_app(&self, name: &str, version: &str, tail: &str, launcher: Option<&Path>) -> PathBuf {
        let prefix = name.to_uppercase();
        let app = self
            .sb
            .app(&format!("{name}-{version}"))
            .exec("bin/app", format!("#!/bin/sh\necho \"{name} ${prefix}_APP_VERSION\"\n{tail}\n"));
        let mut flags = vec![
            "--compression".to_owned(),
            "zstd:3".to_owned(),
            "--feed".to_owned(),
            self.url(),
            "--public-key".to_owned(),
            self.public_key.clone(),
            "--sign-key".to_owned(),
            self.key.to_string_lossy().into_owned(),
        ];
        if let Some(stub) = launcher {
            flags.extend(["--launcher".to_owned(), stub.to_string_lossy().into_owned()]);
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let out_name = format!("{name}-{version}");
        let bin = self.sb.pack(app.path(), name, version, "bin/app", &flags);
        let dest = self.sb.path(&format!("bin/{out_name}.{}", launcher.map_or("std", |_| "new")));
        fs::rename(&bin, &dest).expect("rename");
        dest
    }

    fn build(&self, version: &str) -> PathBuf {
        self.build_app("hello", version, "", None)
    }

    fn update(&self, bin: &Path) -> Output {
        run(self.sb.cmd(bin).arg("--sea-update").env("HELLO_UPDATE_TIMEOUT", "3"))
    }

    fn first_line(&self, bin: &Path) -> String {
        let out = run(&mut self.sb.cmd(bin));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        stdout.lines().next().unwrap_or_default().to_owned()
    }

    fn trees(&self) -> Vec<String> {
        names(&self.pkg()).into_iter().filter(|n| !n.ends_with(".lock") && !n.starts_with('.')).collect()
    }

    fn downloads(&self) -> Vec<String> {
        names(&self.sb.cache("hello").join("downloads"))
    }

    /// Re-writes the feed through `edit` and signs it again with `key` (our key by default).
    fn edit_feed(&self, key: Option<&Path>, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.dir.join("stable.json");
        let mut feed: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("feed")).expect("json");
        edit(&mut feed);
        let bytes = serde_json::to_vec_pretty(&feed).expect("json");
        self.write_signed(&path, &bytes, key.unwrap_or(&self.key));
    }

    fn write_signed(&self, path: &Path, bytes: &[u8], key: &Path) {
        fs::write(path, bytes).expect("write");
        let sig = sign(key, bytes);
        fs::write(format!("{}.minisig", path.display()), sig).expect("write sig");
    }

    /// Publishes `binaries` in the feed of `channel`.
    fn release_to(&self, binaries: &[&Path], channel: &str) {
        let mut cmd = self.sb.sea_pack();
        cmd.arg("release").args(binaries).arg("--base-url").arg(self.server.url()).arg("-o").arg(&self.dir);
        let out = run(cmd.arg("--sign-key").arg(&self.key).args(["--channel", channel]));
        assert!(out.status.success(), "release: {}", text(&out).1);
    }

    /// The update state's JSON, as `--sea-info` shows it.
    fn info(&self, bin: &Path) -> serde_json::Value {
        serde_json::from_slice(&run(self.sb.cmd(bin).arg("--sea-info")).stdout).expect("--sea-info prints JSON")
    }

    fn other_key(&self) -> PathBuf {
        let key = self.sb.path("other.key");
        if !key.exists() {
            assert!(run(self.sb.sea_pack().arg("keygen").arg("-o").arg(&key)).status.success());
        }
        key
    }
}

fn sign(key_file: &Path, data: &[u8]) -> String {
    let text = fs::read_to_string(key_file).expect("key");
    let sk = minisign::SecretKeyBox::from_string(&text).expect("key box").into_unencrypted_secret_key().expect("key");
    minisign::sign(None, &sk, data, Some("test"), None).expect("sign").into_string()
}

/// The update failed with a clear message naming `needle`, installed nothing (only 1.0.0's own
/// tree exists), left no temporary tree, and 1.0.0 still runs.
fn assert_failed_cleanly(w: &World, out: &Output, needle: &str, v1: &Path) {
    let (_, stderr) = text(out);
    assert!(!out.status.success(), "the update should have failed");
    assert_ne!(out.status.code(), Some(75));
    assert!(stderr.starts_with("hello: "), "{stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(w.trees().iter().all(|t| t.starts_with("1.0.0-")), "nothing was installed: {:?}", w.trees());
    assert_eq!(w.first_line(v1), "hello 1.0.0", "the version in use keeps working");
    let leftovers: Vec<String> = names(&w.pkg()).into_iter().filter(|n| n.contains(".tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_update_installs_and_the_next_run_uses_it_while_a_pin_still_works() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v1]);
    let out = w.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).1.contains("up to date (1.0.0)"), "{}", text(&out).1);
    w.release(&[&v2]);
    let out = w.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).1.contains("installed 2.0.0"), "{}", text(&out).1);
    assert_eq!(w.first_line(&v1), "hello 2.0.0");
    let info: serde_json::Value = serde_json::from_slice(&run(w.sb.cmd(&v1).arg("--sea-info")).stdout).expect("json");
    assert_eq!(info["chosen"]["source"], "update");
    assert_eq!(info["update"]["highest_verified"], "2.0.0");
    let out = run(w.sb.cmd(&v1).env("HELLO_VERSION", "1.0.0"));
    assert_eq!(text(&out).0.lines().next(), Some("hello 1.0.0"));
    let out = run(w.sb.cmd(&v1).env("HELLO_AUTO_UPDATE", "0"));
    assert_eq!(text(&out).0.lines().next(), Some("hello 1.0.0"), "AUTO_UPDATE=0 runs the bundled payload");
    assert!(w.downloads().is_empty(), "downloads are removed after install: {:?}", w.downloads());
    assert_eq!(w.update(&v1).status.code(), Some(0), "already current is success");
}

#[test]
fn updates_disabled_or_unconfigured_say_so() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let out = run(w.sb.cmd(&v1).arg("--sea-update").env("HELLO_AUTO_UPDATE", "0"));
    assert!(!out.status.success());
    assert!(text(&out).1.contains("HELLO_AUTO_UPDATE=0"), "{}", text(&out).1);
    assert!(w.server.log().is_empty(), "no network at all");
    let plain = w.sb.app("plain").exec("bin/app", "#!/bin/sh\n");
    let bin = w.sb.pack(plain.path(), "hello", "1.0.0", "bin/app", &[]);
    let out = run(w.sb.cmd(&bin).arg("--sea-update"));
    assert!(!out.status.success());
    assert!(text(&out).1.contains("no update feed"), "{}", text(&out).1);
}

#[test]
fn unreachable_failing_and_hanging_feeds_are_clear_errors() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    w.server.fault("stable.json", Fault::Status(404));
    assert_failed_cleanly(&w, &w.update(&v1), "HTTP 404", &v1);
    w.server.fault("stable.json", Fault::Status(500));
    assert_failed_cleanly(&w, &w.update(&v1), "HTTP 500", &v1);
    w.server.fault("stable.json", Fault::Hang);
    let started = Instant::now();
    assert_failed_cleanly(&w, &w.update(&v1), "timed out", &v1);
    assert!(started.elapsed() < Duration::from_secs(30), "the timeout applies");
    w.server.clear_faults();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let app = w.sb.app("hello-x").exec("bin/app", "#!/bin/sh\necho \"hello $HELLO_APP_VERSION\"\n");
    let url = format!("http://127.0.0.1:{port}/stable.json");
    let key = w.key.to_string_lossy().into_owned();
    let orphan = w.sb.pack(
        app.path(),
        "hello",
        "1.0.0",
        "bin/app",
        &["--feed", &url, "--public-key", &w.public_key, "--sign-key", &key],
    );
    assert_failed_cleanly(&w, &w.update(&orphan), "could not connect", &v1);
}

#[test]
fn bad_feeds_are_refused() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    let feed = w.dir.join("stable.json");
    let good = fs::read(&feed).expect("feed");
    let good_sig = fs::read(w.dir.join("stable.json.minisig")).expect("sig");
    // Invalid JSON, properly signed.
    w.write_signed(&feed, b"{\"format\": 1, \"releases\": [", &w.key);
    assert_failed_cleanly(&w, &w.update(&v1), "not valid JSON", &v1);
    // A modified feed with the old signature.
    let mut tampered = good.clone();
    let at = tampered.iter().position(|b| *b == b'2').expect("a digit");
    tampered[at] = b'3';
    fs::write(&feed, &tampered).expect("write");
    fs::write(w.dir.join("stable.json.minisig"), &good_sig).expect("write");
    assert_failed_cleanly(&w, &w.update(&v1), "signature is not valid", &v1);
    // Signed by another key.
    w.write_signed(&feed, &good, &w.other_key());
    assert_failed_cleanly(&w, &w.update(&v1), "another key", &v1);
    // A garbage signature file.
    fs::write(&feed, &good).expect("write");
    fs::write(w.dir.join("stable.json.minisig"), "not a signature").expect("write");
    assert_failed_cleanly(&w, &w.update(&v1), "signature is not valid", &v1);
    // Releases for another platform only.
    w.write_signed(&feed, &good, &w.key);
    w.edit_feed(None, |f| f["releases"][0]["platform"] = "darwin-arm64".into());
    let out = w.update(&v1);
    assert!(out.status.success() && text(&out).1.contains("up to date (1.0.0)"), "{}", text(&out).1);
    assert!(w.trees().iter().all(|t| t.starts_with("1.0.0-")), "{:?}", w.trees());
    // The feed of another app.
    w.write_signed(&feed, &good, &w.key);
    w.edit_feed(None, |f| f["name"] = "other".into());
    assert_failed_cleanly(&w, &w.update(&v1), "for 'other'", &v1);
}

#[test]
fn bad_downloads_are_deleted_and_nothing_is_installed() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    let good = fs::read(w.dir.join("stable.json")).expect("feed");
    // One byte changed in transit.
    w.server.fault(".sea", Fault::Corrupt(100));
    assert_failed_cleanly(&w, &w.update(&v1), "SHA-256 does not match", &v1);
    assert!(w.downloads().is_empty(), "{:?}", w.downloads());
    w.server.clear_faults();
    // A size that lies (the feed says one byte less than the file).
    w.edit_feed(None, |f| {
        let size = f["releases"][0]["payload"]["size"].as_u64().expect("size");
        f["releases"][0]["payload"]["size"] = (size - 1).into();
    });
    assert_failed_cleanly(&w, &w.update(&v1), "size does not match", &v1);
    assert!(w.downloads().is_empty(), "{:?}", w.downloads());
    // A wrong signature on the artifact (signed by another key, feed re-signed by ours).
    let artifact = w.sb.path("artifact");
    w.write_signed(&w.dir.join("stable.json"), &good, &w.key);
    w.edit_feed(None, |f| {
        let url = f["releases"][0]["payload"]["url"].as_str().expect("url").to_owned();
        let file = w.dir.join(url.rsplit('/').next().expect("name"));
        fs::copy(&file, &artifact).expect("copy");
        f["releases"][0]["payload"]["signature"] = sign(&w.other_key(), &fs::read(&file).expect("read")).into();
    });
    assert_failed_cleanly(&w, &w.update(&v1), "signature is not valid", &v1);
    assert!(w.downloads().is_empty(), "{:?}", w.downloads());
}

#[test]
fn a_payload_of_another_app_is_refused_even_when_everything_is_signed() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let other = w.build_app("other", "2.0.0", "", None);
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    // Put the other app's artifact where ours is, and make the feed describe it faithfully.
    let other_dir = w.sb.path("other-feed");
    let out = run(w
        .sb
        .sea_pack()
        .arg("release")
        .arg(&other)
        .arg("--base-url")
        .arg(w.server.url())
        .arg("-o")
        .arg(&other_dir)
        .arg("--sign-key")
        .arg(&w.key));
    assert!(out.status.success(), "{}", text(&out).1);
    let other_artifact = names(&other_dir).into_iter().find(|n| n.ends_with(".sea")).expect("artifact");
    let bytes = fs::read(other_dir.join(&other_artifact)).expect("read");
    w.edit_feed(None, |f| {
        let url = f["releases"][0]["payload"]["url"].as_str().expect("url").to_owned();
        fs::write(w.dir.join(url.rsplit('/').next().expect("name")), &bytes).expect("write");
        f["releases"][0]["payload"]["size"] = (bytes.len() as u64).into();
        f["releases"][0]["payload"]["sha256"] = sea_payload::digest::sha256_hex(&bytes).into();
        f["releases"][0]["payload"]["signature"] = sign(&w.key, &bytes).into();
    });
    assert_failed_cleanly(&w, &w.update(&v1), "not what the feed describes", &v1);
}

#[test]
fn a_truncated_download_resumes_with_a_range_request() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    w.server.fault(".sea", Fault::Truncate(200));
    assert_failed_cleanly(&w, &w.update(&v1), "stopped after", &v1);
    let partial: Vec<String> = w.downloads();
    assert!(partial.len() == 1 && partial[0].ends_with(".part"), "a resumable partial download is kept: {partial:?}");
    w.server.clear_faults();
    let out = w.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        w.server.log().iter().any(|r| r.path.ends_with(".sea") && r.range.as_deref() == Some("bytes=200-")),
        "{:?}",
        w.server.log()
    );
    assert_eq!(w.first_line(&v1), "hello 2.0.0");
    assert!(w.downloads().is_empty());
}

#[test]
fn a_resumed_download_that_does_not_verify_starts_over() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    w.server.fault(".sea", Fault::Truncate(200));
    assert!(!w.update(&v1).status.success());
    // Spoil the kept prefix: it no longer verifies once completed, so it must be discarded.
    let part = w.sb.cache("hello").join("downloads").join(&w.downloads()[0]);
    let mut bytes = fs::read(&part).expect("read");
    bytes[10] ^= 0xff;
    fs::write(&part, bytes).expect("write");
    w.server.clear_faults();
    let out = w.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(w.first_line(&v1), "hello 2.0.0");
}

#[test]
fn a_feed_can_never_roll_a_client_back() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    let v3 = w.build("3.0.0");
    w.release(&[&v2]);
    let old_feed = fs::read(w.dir.join("stable.json")).expect("feed");
    let old_sig = fs::read(w.dir.join("stable.json.minisig")).expect("sig");
    w.release(&[&v3]);
    assert!(w.update(&v1).status.success());
    assert_eq!(w.first_line(&v1), "hello 3.0.0");
    // An attacker replays the old, validly signed feed, and removes 3.0.0's tree.
    fs::write(w.dir.join("stable.json"), old_feed).expect("write");
    fs::write(w.dir.join("stable.json.minisig"), old_sig).expect("write");
    let v3_tree = w.pkg().join(layout::tree_id(&v3));
    fs::remove_dir_all(&v3_tree).expect("rm");
    // The feed's signed sequence is older than the one verified: refused outright (exit 69).
    let out = w.update(&v1);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out).1);
    assert!(text(&out).1.contains("replaying an old feed"), "{}", text(&out).1);
    assert!(!w.trees().contains(&layout::tree_id(&v2)), "2.0.0 was not installed");
    // With the replay check out of the way (a state file without feed records, e.g. rewritten
    // by an older launcher), the rollback floor still offers nothing older.
    let state_path = w.sb.app_home("hello").join("update.json");
    let mut state: serde_json::Value = serde_json::from_slice(&fs::read(&state_path).expect("state")).expect("json");
    state.as_object_mut().expect("object").remove("feeds");
    fs::write(&state_path, serde_json::to_vec(&state).expect("json")).expect("write");
    let out = w.update(&v1);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).1.contains("up to date (3.0.0)"), "{}", text(&out).1);
    assert!(!w.trees().contains(&layout::tree_id(&v2)), "2.0.0 was not installed");
}

/// Version 2.0.0 with 6 MB of incompressible data.
fn big_release(w: &World) -> PathBuf {
    let big = w.sb.app("hello-big").exec("bin/app", "#!/bin/sh\necho big\n");
    fs::write(big.path().join("blob"), noise(11, 6 << 20)).expect("write");
    let key = w.key.to_string_lossy().into_owned();
    let flags = ["--compression", "zstd:1", "--feed", &w.url(), "--public-key", &w.public_key, "--sign-key", &key];
    let v2 = w.sb.pack(big.path(), "hello", "2.0.0", "bin/app", &flags);
    w.release(&[&v2]);
    v2
}

#[test]
fn a_disk_that_fills_mid_download_leaves_nothing() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    big_release(&w);
    assert_eq!(w.first_line(&v1), "hello 1.0.0");
    // Files may not grow past 1 MiB: the download fails with EFBIG part-way, as on a full disk.
    let mut cmd = w.sb.cmd(&v1);
    cmd.arg("--sea-update").env("HELLO_UPDATE_TIMEOUT", "5");
    limit_file_size(&mut cmd, 1 << 20);
    let out = run(&mut cmd);
    assert_failed_cleanly(&w, &out, "disk filled up while downloading", &v1);
    assert!(text(&out).1.contains("HELLO_CACHE_HOME"), "{}", text(&out).1);
    assert!(w.downloads().is_empty(), "no half-download left: {:?}", w.downloads());
}

#[test]
#[ignore = "needs root: it mounts a small file system (scripts/test.sh runs it: CI is root)"]
fn a_download_that_cannot_fit_is_refused_up_front() {
    if !require_root("mount a small file system") {
        return;
    }
    let w = World::new();
    let v1 = w.build("1.0.0");
    big_release(&w);
    let cache = w.sb.path("tiny-cache");
    fs::create_dir(&cache).expect("mkdir");
    let mounted = run(w.sb.cmd("mount").args(["-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs"]).arg(&cache));
    if !require(mounted.status.success(), &format!("cannot mount tmpfs here: {}", text(&mounted).1.trim())) {
        return;
    }
    let small = run(w.sb.cmd(&v1).env("HELLO_CACHE_HOME", &cache).env("HELLO_AUTO_UPDATE", "0"));
    let out = run(w.sb.cmd(&v1).arg("--sea-update").env("HELLO_CACHE_HOME", &cache));
    let downloads = names(&cache.join("downloads"));
    let trees = names(&pkg_dir(&cache));
    let works = run(w.sb.cmd(&v1).env("HELLO_CACHE_HOME", &cache));
    let _ = run(w.sb.cmd("umount").arg(&cache));
    assert!(small.status.success(), "1.0.0 fits: {}", text(&small).1);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("not enough free space") && stderr.contains("HELLO_CACHE_HOME"), "{stderr}");
    assert!(downloads.is_empty(), "{downloads:?}");
    assert!(trees.iter().all(|t| !t.starts_with("2.0.0")), "{trees:?}");
    assert_eq!(text(&works).0.lines().next(), Some("hello 1.0.0"));
}

/// A copy of the launcher stub that says it is a newer version: what a newer build of
/// sea-launcher is, as far as version checks go (the marker is where the launcher reads its own
/// version).
fn newer_stub(sb: &Sandbox) -> PathBuf {
    let mut bytes = fs::read(&bins().launcher).expect("stub");
    let host = sea_payload::platform::host().expect("host platform");
    let marker = sea_payload::marker::encode(env!("CARGO_PKG_VERSION"), host);
    let at = bytes.windows(marker.len()).position(|w| w == marker).expect("marker");
    let digit = at + marker.windows(8).position(|w| w == b"version=").expect("version field") + 8;
    bytes[digit] = b'9';
    let path = sb.path("sea-launcher-newer");
    fs::write(&path, bytes).expect("write");
    set_mode(&path, 0o755);
    path
}

#[test]
fn a_release_that_needs_a_newer_launcher_replaces_the_executable() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let stub = newer_stub(&w.sb);
    let v2 = w.build_app("hello", "2.0.0", "", Some(&stub));
    w.release(&[&v2]);
    let before = fs::read(&v1).expect("read");
    // Under a pin of the old version: the trial start of the new executable must not trip on it.
    let out = run(w.update_cmd(&v1).env("HELLO_VERSION", "1.0.0"));
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("launcher was updated"), "{stderr}");
    let after = fs::read(&v1).expect("read");
    assert_ne!(before, after);
    assert_eq!(after, fs::read(&v2).expect("read"), "the executable is now exactly the 2.0.0 build");
    let info: serde_json::Value = serde_json::from_slice(&run(w.sb.cmd(&v1).arg("--sea-info")).stdout).expect("json");
    assert!(info["launcher_version"].as_str().is_some_and(|v| v.starts_with('9')), "{info}");
    assert_eq!(info["binary_version"], "2.0.0");
    assert_eq!(w.first_line(&v1), "hello 2.0.0");
}

#[test]
fn the_app_can_update_itself_and_restart_into_the_new_version() {
    for needs_new_launcher in [false, true] {
        let w = World::new();
        let tail = "if [ \"$HELLO_APP_VERSION\" = 1.0.0 ]; then \"$HELLO_LAUNCHER\" --sea-update || exit 3; exit 75; fi\necho \"now $HELLO_APP_VERSION\"";
        let v1 = w.build_app("hello", "1.0.0", tail, None);
        let stub = newer_stub(&w.sb);
        let v2 = w.build_app("hello", "2.0.0", tail, needs_new_launcher.then_some(stub.as_path()));
        w.release(&[&v2]);
        let out = run(w.sb.cmd(&v1).env("HELLO_UPDATE_TIMEOUT", "5"));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout, "hello 1.0.0\nhello 2.0.0\nnow 2.0.0\n", "new launcher: {needs_new_launcher}; {stderr}");
    }
}

#[test]
fn a_black_holed_feed_does_not_delay_start_or_exit() {
    use std::io::BufRead;
    let w = World::new();
    // The app announces itself at once, then lives 300 ms: long enough for the background check
    // to reach the server, which accepts the connection and never answers.
    let app = w.sb.app("hello-slow").exec("bin/app", "#!/bin/sh\necho started\nsleep 0.3\n");
    let key = w.key.to_string_lossy().into_owned();
    let flags = ["--feed", &w.url(), "--public-key", &w.public_key, "--sign-key", &key];
    let v1 = w.sb.pack(app.path(), "hello", "1.0.0", "bin/app", &flags);
    w.release(&[&v1]);
    w.server.fault("stable.json", Fault::Hang);
    let state = w.sb.app_home("hello").join("update.json");
    assert!(run(w.sb.cmd(&v1).env("HELLO_AUTO_UPDATE", "0")).status.success(), "extracted once");
    // (time to the app's first line, time to the launcher's exit), median of 7 runs each
    let time = |auto: &str| {
        let mut starts = Vec::new();
        let mut exits = Vec::new();
        for _ in 0..7 {
            let _ = fs::remove_file(&state);
            let began = Instant::now();
            let mut child =
                w.sb.cmd(&v1)
                    .env("HELLO_AUTO_UPDATE", auto)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
            assert_eq!(line, "started\n");
            starts.push(began.elapsed());
            assert!(child.wait().expect("wait").success());
            exits.push(began.elapsed());
        }
        starts.sort();
        exits.sort();
        (starts[3], exits[3])
    };
    let (start_off, exit_off) = time("0");
    let (start_on, exit_on) = time("1");
    assert!(w.server.log().iter().any(|r| r.path == "/stable.json"), "the background check did reach the server");
    // A deadline, not a timing window: waiting on the black-holed feed would cost the update
    // timeout (30 s by default), so a second of slack still catches it while a loaded machine's
    // jitter between the two series cannot fail the test.
    let slack = Duration::from_secs(1);
    assert!(
        start_on < start_off + slack,
        "start-up: {start_on:?} with a black-holed feed vs {start_off:?} with updates off"
    );
    assert!(exit_on < exit_off + slack, "exit: {exit_on:?} with a black-holed feed vs {exit_off:?} with updates off");
}

// Issue 8, item 2: channel confusion (mix-and-match).

#[test]
fn a_mirror_serving_the_beta_feed_as_stable_is_refused_and_the_stable_fix_still_installs() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let beta = w.build("2.0.0-beta.1");
    let fix = w.build("1.1.0");
    w.release_to(&[&beta], "beta");
    // The mirror serves the validly signed beta feed under the stable name.
    fs::copy(w.dir.join("beta.json"), w.dir.join("stable.json")).expect("copy");
    fs::copy(w.dir.join("beta.json.minisig"), w.dir.join("stable.json.minisig")).expect("copy");
    let out = w.update(&v1);
    assert_failed_cleanly(
        &w,
        &out,
        "is the signed feed of channel 'beta', but this build follows channel 'stable'",
        &v1,
    );
    assert_eq!(out.status.code(), Some(69), "update unavailable: {}", text(&out).1);
    assert_eq!(w.info(&v1)["update"]["highest_verified"], serde_json::Value::Null, "the floor did not move");
    // The real stable feed, with the fix.
    fs::remove_file(w.dir.join("stable.json")).expect("rm");
    fs::remove_file(w.dir.join("stable.json.minisig")).expect("rm");
    w.release(&[&fix]);
    let out = w.update(&v1);
    assert!(out.status.success() && text(&out).1.contains("installed 1.1.0"), "{}", text(&out).1);
    assert_eq!(w.first_line(&v1), "hello 1.1.0");
    let info = w.info(&v1);
    assert_eq!(info["update"]["channel"], "stable");
    assert_eq!(info["update"]["highest_verified"], "1.1.0");
}

#[test]
fn a_rollback_floor_raised_by_another_channel_no_longer_blocks_the_stable_fix() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let fix = w.build("1.1.0");
    w.release(&[&fix]);
    // What the confusion attack left behind with the single, channel-less floor of before.
    let home = w.sb.app_home("hello");
    fs::create_dir_all(&home).expect("mkdir");
    set_mode(&home, 0o700);
    fs::write(home.join("update.json"), r#"{"highest_verified": "2.0.0-beta.1"}"#).expect("write");
    let out = w.update(&v1);
    assert!(out.status.success() && text(&out).1.contains("installed 1.1.0"), "{}", text(&out).1);
    assert_eq!(w.first_line(&v1), "hello 1.1.0");
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(home.join("update.json")).expect("state")).expect("json");
    assert_eq!(state["floors"]["stable"], "1.1.0", "{state}");
}

// Issue 8, item 3: a signed release must not brick the executable.

/// Releases 2.0.0 with the launcher artifact's bytes replaced by `stub` (re-signed properly: the
/// release key signs whatever it is given) and updates 1.0.0; the update must fail with `needle`,
/// leave the executable byte for byte as it was and still running, and leave nothing beside it.
fn assert_unrunnable_launcher_is_refused(make: impl FnOnce(Vec<u8>, &str) -> Vec<u8>, needle: &str) {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let stub = newer_stub(&w.sb);
    let v2 = w.build_app("hello", "2.0.0", "", Some(&stub));
    w.release(&[&v2]);
    w.edit_feed(None, |f| {
        let launcher = &mut f["releases"][0]["launcher"];
        let version = launcher["version"].as_str().expect("version").to_owned();
        let bytes = make(fs::read(&stub).expect("stub"), &version);
        let url = launcher["url"].as_str().expect("url").to_owned();
        fs::write(w.dir.join(url.rsplit('/').next().expect("name")), &bytes).expect("write");
        launcher["size"] = (bytes.len() as u64).into();
        launcher["sha256"] = sea_payload::digest::sha256_hex(&bytes).into();
        launcher["signature"] = sign(&w.key, &bytes).into();
    });
    let before = fs::read(&v1).expect("read");
    let out = w.update(&v1);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("the new launcher is unusable") && stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(fs::read(&v1).expect("read"), before, "the executable was not touched");
    assert_eq!(w.first_line(&v1), "hello 1.0.0", "and it still starts");
    let dir = v1.parent().expect("dir");
    let beside: Vec<String> = names(dir).into_iter().filter(|n| n.contains(".sea-")).collect();
    assert!(beside.is_empty(), "nothing left beside the executable: {beside:?}");
    let info = w.info(&v1);
    assert_eq!(info["update"]["highest_verified"], serde_json::Value::Null, "the floor did not move: {info}");
}

#[test]
fn a_signed_launcher_for_another_platform_is_refused_and_the_executable_still_starts() {
    let host = sea_payload::platform::host().expect("host platform");
    let other = if host == "win32-x64" {
        "linux-x64".to_owned()
    } else if host.len() == 9 {
        "win32-x64".to_owned()
    } else {
        "x".repeat(host.len())
    };
    assert_eq!(other.len(), host.len());
    assert_unrunnable_launcher_is_refused(
        |mut bytes, version| {
            let marker = sea_payload::marker::encode(version, host);
            let at = bytes.windows(marker.len()).position(|w| w == marker).expect("marker");
            // `platform=<host>;` then the NUL.
            let field = at + marker.len() - host.len() - 2;
            bytes[field..field + host.len()].copy_from_slice(other.as_bytes());
            bytes
        },
        &format!("built for '{other}'"),
    );
}

#[test]
fn a_signed_launcher_that_cannot_execute_is_refused_and_the_executable_still_starts() {
    let host = sea_payload::platform::host().expect("host platform");
    assert_unrunnable_launcher_is_refused(
        |_, version| {
            // An ELF header and the marker, and nothing that runs: `Exec format error`.
            let mut bytes = b"\x7fELF\x02\x01\x01\0".to_vec();
            bytes.resize(4096, 0);
            bytes.extend(sea_payload::marker::encode(version, host));
            bytes.resize(8192, 0);
            bytes
        },
        "does not start",
    );
}

// Issue 8, extras: the restart request after a self-update.

#[test]
fn a_restart_requests_env_reaches_the_app_but_not_the_relaunched_launcher() {
    for needs_new_launcher in [false, true] {
        let w = World::new();
        let elsewhere = w.sb.path("elsewhere");
        let tail = format!(
            "if [ \"$HELLO_APP_VERSION\" = 1.0.0 ]; then \"$HELLO_LAUNCHER\" --sea-update || exit 3\n\
             printf '{{\"env\": {{\"HELLO_CACHE_HOME\": \"{}\", \"MARK\": \"carried\"}}}}' > \"$HELLO_RESTART_FILE\"; exit 75; fi\n\
             echo \"now $HELLO_APP_VERSION $MARK $HELLO_PKG_DIR\"",
            elsewhere.display()
        );
        let v1 = w.build_app("hello", "1.0.0", &tail, None);
        let stub = newer_stub(&w.sb);
        let v2 = w.build_app("hello", "2.0.0", &tail, needs_new_launcher.then_some(stub.as_path()));
        w.release(&[&v2]);
        let out = run(w.sb.cmd(&v1).env("HELLO_UPDATE_TIMEOUT", "5"));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let last = stdout.lines().last().unwrap_or_default();
        let expected = format!("now 2.0.0 carried {}", w.pkg().join(layout::tree_id(&v2)).display());
        assert_eq!(last, expected, "new launcher: {needs_new_launcher}; the app got MARK, the launcher kept its cache");
        assert!(!elsewhere.exists(), "new launcher: {needs_new_launcher}: the launcher never used the app's variable");
    }
}

#[test]
fn a_restart_request_does_not_pin_a_version_marked_bad() {
    let w = World::new();
    let once = w.sb.path("restarted-once");
    let tail = format!(
        "if [ ! -e '{0}' ]; then : > '{0}'; echo '{{\"version\": \"2.0.0\"}}' > \"$HELLO_RESTART_FILE\"; exit 75; fi",
        once.display()
    );
    let v1 = w.build_app("hello", "1.0.0", &tail, None);
    let v2 = w.build_app("hello", "2.0.0", "kill -SEGV $$", None);
    w.release(&[&v2]);
    assert!(w.update(&v1).status.success());
    let health = w.sb.app_home("hello").join("health");
    fs::create_dir_all(&health).expect("mkdir");
    let mark = r#"{"crashes": 3, "ran_long": false, "bad": true}"#;
    fs::write(health.join(format!("{}.json", layout::tree_id(&v2))), mark).expect("mark");
    let out = run(sea_tests::faults::no_core_dumps(&mut w.sb.cmd(&v1)));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "the bad version was not run: {stderr}");
    assert_eq!(stdout, "hello 1.0.0\nhello 1.0.0\n", "{stderr}");
    assert!(
        stderr.contains("the restart request asks for version 2.0.0, but it is marked bad")
            && stderr.contains("HELLO_VERSION=2.0.0"),
        "{stderr}"
    );
}

// Issue 8, extras: plain http.

#[test]
fn a_feed_naming_plain_http_artifacts_off_loopback_is_refused() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    w.edit_feed(None, |f| f["releases"][0]["payload"]["url"] = "http://downloads.example.com/hello-2.0.0.sea".into());
    assert_failed_cleanly(&w, &w.update(&v1), "plain http://", &v1);
    assert!(w.server.log().iter().all(|r| !r.path.ends_with(".sea")), "nothing was downloaded");
}

#[test]
fn a_redirect_to_plain_http_off_loopback_is_not_followed() {
    let w = World::new();
    let v1 = w.build("1.0.0");
    let v2 = w.build("2.0.0");
    w.release(&[&v2]);
    w.server.fault("stable.json", Fault::Redirect("http://downloads.example.com/stable.json".into()));
    assert_failed_cleanly(&w, &w.update(&v1), "refusing the redirect", &v1);
    // A redirect that stays on loopback is followed.
    fs::copy(w.dir.join("stable.json"), w.dir.join("moved.json")).expect("copy");
    w.server.fault("stable.json", Fault::Redirect(format!("{}/moved.json", w.server.url())));
    let out = w.update(&v1);
    assert!(out.status.success() && text(&out).1.contains("installed 2.0.0"), "{}", text(&out).1);
}
