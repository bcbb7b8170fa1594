//! `sea-pack release`: the signed feed, its artifacts, and merging into an existing feed.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sea_payload::Package;
use sea_payload::unpack::UnpackOptions;
use sea_tests::{Sandbox, assert_clean_error, bins, run, text, tree_snapshot};
use serde_json::Value;

const BASE_URL: &str = "https://downloads.example.com/demo/";

/// A sandbox with a release key and an app source tree.
struct Setup {
    sb: Sandbox,
    key: PathBuf,
    public: String,
    site: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let sb = Sandbox::new();
        let (key, public) = sb.keygen("release");
        let site = sb.path("site");
        Self { sb, key, public, site }
    }

    /// Writes app `name` at `version` (its output text differs per version) and packs it, signed,
    /// with the key baked in.
    fn binary(&self, name: &str, version: &str) -> PathBuf {
        let script = format!("#!/bin/sh\necho \"{name} {version}\"\n");
        let app = self.sb.app(&format!("{name}-{version}")).exec("bin/app", script).file("lib/data", version);
        let key = self.key.to_str().unwrap();
        let feed = format!("{BASE_URL}stable.json");
        let extra = ["--sign-key", key, "--public-key", &self.public, "--feed", &feed];
        self.sb.pack(app.path(), name, version, "bin/app", &extra)
    }

    fn release(&self, binaries: &[&Path], extra: &[&str]) -> Output {
        self.release_with_key(binaries, &self.key, extra)
    }

    fn release_with_key(&self, binaries: &[&Path], key: &Path, extra: &[&str]) -> Output {
        let mut cmd = self.sb.sea_pack();
        cmd.arg("release").args(binaries).args(["--base-url", BASE_URL]).arg("--sign-key").arg(key);
        run(cmd.arg("-o").arg(&self.site).args(extra))
    }

    fn release_ok(&self, binaries: &[&Path], extra: &[&str]) -> String {
        let out = self.release(binaries, extra);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "release failed: {stderr}");
        stdout
    }

    /// The feed of `channel`, after checking its signature with the release key.
    fn feed(&self, channel: &str) -> Value {
        let path = self.site.join(format!("{channel}.json"));
        let bytes = fs::read(&path).unwrap();
        let sig = fs::read_to_string(self.site.join(format!("{channel}.json.minisig"))).unwrap();
        let comment = sea_payload::signature::verify(&bytes, &sig, &self.public).expect("the feed signature verifies");
        assert!(comment.contains("name=demo"), "{comment}");
        sea_payload::feed::Feed::from_bytes(&bytes).expect("the feed parses and validates");
        serde_json::from_slice(&bytes).unwrap()
    }
}

fn platform() -> &'static str {
    sea_payload::platform::host().unwrap()
}

/// The file a feed artifact's URL names, checked against its size, sha256 and signature.
fn check_artifact(setup: &Setup, artifact: &Value) -> PathBuf {
    let url = artifact["url"].as_str().unwrap();
    let name = url.strip_prefix(BASE_URL).unwrap_or_else(|| panic!("url {url} is not under the base url"));
    assert!(!name.contains('/'), "{url}");
    let path = setup.site.join(name);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(artifact["size"].as_u64(), Some(bytes.len() as u64), "{name}: size");
    assert_eq!(artifact["sha256"].as_str(), Some(sea_payload::digest::sha256_hex(&bytes).as_str()), "{name}: sha256");
    let sig = artifact["signature"].as_str().unwrap();
    assert_eq!(fs::read_to_string(format!("{}.minisig", path.display())).unwrap(), sig, "{name}: .minisig");
    sea_payload::signature::verify(&bytes, sig, &setup.public).expect("artifact signature verifies");
    path
}

fn have_minisign() -> bool {
    Command::new("minisign").arg("-v").output().is_ok()
}

/// `minisign -Vm <file> -P <key>` with the stock tool.
fn minisign_verifies(file: &Path, public: &str) -> bool {
    Command::new("minisign").arg("-Vm").arg(file).args(["-P", public]).output().unwrap().status.success()
}

#[test]
fn release_writes_a_signed_feed_and_verifiable_artifacts() {
    let setup = Setup::new();
    let bin = setup.binary("demo", "1.0.0");
    let stdout = setup.release_ok(&[&bin], &[]);
    assert!(stdout.contains("added demo 1.0.0"), "{stdout}");
    let feed = setup.feed("stable");
    assert_eq!(feed["format"], 1);
    assert_eq!(feed["name"], "demo");
    assert_eq!(feed["channel"], "stable");
    let releases = feed["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 1);
    let release = &releases[0];
    assert_eq!(release["version"], "1.0.0");
    assert_eq!(release["platform"], platform());
    let package = Package::open(&bin).unwrap();
    let launcher_version = package.manifest().launcher_version.to_string();
    assert_eq!(release["min_launcher"], launcher_version.as_str());
    assert!(release["published"].as_u64().unwrap() > 1_600_000_000);
    assert!(release.get("rollout").is_none());
    let artifact = check_artifact(&setup, &release["payload"]);
    assert_eq!(artifact.file_name().unwrap().to_str().unwrap(), format!("demo-1.0.0-{}.sea", platform()));
    assert_eq!(release["launcher"]["version"], launcher_version.as_str());
    let stub = check_artifact(&setup, &release["launcher"]);
    assert_eq!(stub.file_name().unwrap().to_str().unwrap(), format!("sea-launcher-{launcher_version}-{}", platform()));
    assert_eq!(fs::read(&stub).unwrap(), fs::read(&bins().launcher).unwrap(), "the stub is the launcher as built");
    // The artifact is the binary minus its stub, and a package in its own right.
    let whole = fs::read(&bin).unwrap();
    assert_eq!(fs::read(&artifact).unwrap(), &whole[package.layout().stub_len as usize..]);
    let released = Package::open(&artifact).unwrap();
    assert_eq!(released.layout().stub_len, 0);
    released.verify_payload().unwrap();
    released.check_signature(Some(&setup.public)).unwrap();
    let dest = setup.sb.path("unpacked");
    fs::create_dir(&dest).unwrap();
    released.unpack_to(&dest, &UnpackOptions::default()).unwrap();
    assert_eq!(tree_snapshot(&dest), tree_snapshot(&setup.sb.path("apps/demo-1.0.0")));
    let verify = run(setup.sb.sea_pack().arg("verify").arg(&artifact).args(["--public-key", &setup.public]));
    assert!(verify.status.success(), "{}", text(&verify).1);
    if have_minisign() {
        for file in [artifact.clone(), stub, setup.site.join("stable.json")] {
            assert!(minisign_verifies(&file, &setup.public), "minisign -Vm {} failed", file.display());
        }
        let mut tampered = fs::read(&artifact).unwrap();
        tampered[10] ^= 1;
        fs::write(&artifact, tampered).unwrap();
        assert!(!minisign_verifies(&artifact, &setup.public), "minisign accepted a tampered artifact");
    } else {
        eprintln!("note: minisign is not installed; the stock-tool check was skipped");
    }
}

#[test]
fn a_second_version_is_added_and_the_first_kept() {
    let setup = Setup::new();
    let v1 = setup.binary("demo", "1.0.0");
    let v2 = setup.binary("demo", "1.10.0");
    let v1b = setup.binary("demo", "1.2.0-beta.1");
    setup.release_ok(&[&v1], &[]);
    let first = setup.feed("stable")["releases"][0].clone();
    setup.release_ok(&[&v2], &[]);
    setup.release_ok(&[&v1b], &[]);
    let feed = setup.feed("stable");
    let releases = feed["releases"].as_array().unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.0.0", "1.2.0-beta.1", "1.10.0"], "sorted by semver, not as text");
    assert_eq!(releases[0], first, "the first release is kept exactly");
    for release in releases {
        check_artifact(&setup, &release["payload"]);
        check_artifact(&setup, &release["launcher"]);
    }
    // Both versions share one launcher stub file.
    let stubs = fs::read_dir(&setup.site)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("sea-launcher-"))
        .count();
    assert_eq!(stubs, 2, "one stub and its signature");
}

#[test]
fn several_binaries_in_one_run() {
    let setup = Setup::new();
    let v1 = setup.binary("demo", "1.0.0");
    let v2 = setup.binary("demo", "2.0.0");
    let stdout = setup.release_ok(&[&v2, &v1, &v1], &["--channel", "beta"]);
    assert!(stdout.contains("2 releases"), "{stdout}");
    let feed = setup.feed("beta");
    assert_eq!(feed["channel"], "beta");
    assert_eq!(feed["releases"].as_array().unwrap().len(), 2);
    assert!(!setup.site.join("stable.json").exists());
}

#[test]
fn re_releasing_is_a_no_op_and_a_changed_release_is_refused() {
    let setup = Setup::new();
    let bin = setup.binary("demo", "1.0.0");
    setup.release_ok(&[&bin], &[]);
    let feed_path = setup.site.join("stable.json");
    let before = (fs::read(&feed_path).unwrap(), fs::read(setup.site.join("stable.json.minisig")).unwrap());
    let stdout = setup.release_ok(&[&bin], &[]);
    assert!(stdout.contains("unchanged"), "{stdout}");
    let after = (fs::read(&feed_path).unwrap(), fs::read(setup.site.join("stable.json.minisig")).unwrap());
    assert_eq!(before, after, "an identical re-release rewrote the feed");
    // Same version, other content.
    let app = setup.sb.app("changed").exec("bin/app", "#!/bin/sh\necho changed\n");
    let key = setup.key.to_str().unwrap();
    let changed = setup.sb.path("changed.bin");
    let out = run(setup
        .sb
        .sea_pack()
        .arg("build")
        .arg(app.path())
        .args(["--name", "demo", "--version", "1.0.0", "--entry", "bin/app", "--sign-key", key])
        .args(["--public-key", &setup.public, "-o"])
        .arg(&changed));
    assert!(out.status.success(), "{}", text(&out).1);
    let err = assert_clean_error(&setup.release(&[&changed], &[]), "changed release");
    assert!(err.contains("already has demo 1.0.0") && err.contains("new --version"), "{err}");
    assert_eq!(fs::read(&feed_path).unwrap(), before.0, "the feed changed");
}

#[test]
fn rollout_is_recorded_and_can_be_widened() {
    let setup = Setup::new();
    let bin = setup.binary("demo", "1.0.0");
    setup.release_ok(&[&bin], &["--rollout", "10"]);
    assert_eq!(setup.feed("stable")["releases"][0]["rollout"], 10);
    let stdout = setup.release_ok(&[&bin], &["--rollout", "50"]);
    assert!(stdout.contains("10% -> 50%"), "{stdout}");
    assert_eq!(setup.feed("stable")["releases"][0]["rollout"], 50);
    let out = setup.release(&[&bin], &["--rollout", "101"]);
    assert!(!out.status.success());
}

#[test]
fn release_refuses_what_clients_would_reject() {
    let setup = Setup::new();
    let sb = &setup.sb;
    let demo = setup.binary("demo", "1.0.0");
    let other_app = setup.binary("other", "1.0.0");
    let err = assert_clean_error(&setup.release(&[&demo, &other_app], &[]), "two apps");
    assert!(err.contains("'demo'") && err.contains("'other'"), "{err}");
    assert!(!setup.site.join("stable.json").exists(), "a refused release wrote a feed");
    // Unsigned.
    let app = sb.app("plain").exec("bin/app", "#!/bin/sh\n");
    let unsigned = sb.pack(app.path(), "demo", "3.0.0", "bin/app", &[]);
    let err = assert_clean_error(&setup.release(&[&unsigned], &[]), "unsigned");
    assert!(err.contains("not signed"), "{err}");
    // Built for another key.
    let (other_key, other_public) = sb.keygen("other");
    let other_key = other_key.to_str().unwrap();
    let foreign =
        sb.pack(app.path(), "demo", "4.0.0", "bin/app", &["--sign-key", other_key, "--public-key", &other_public]);
    let err = assert_clean_error(&setup.release(&[&foreign], &[]), "other key baked in");
    assert!(err.contains("trusts the public key") && err.contains(&other_public), "{err}");
    // A corrupt binary.
    let mut bytes = fs::read(&demo).unwrap();
    let at = bytes.len() - 200;
    bytes[at] ^= 1;
    let corrupt = sb.path("corrupt.bin");
    fs::write(&corrupt, bytes).unwrap();
    assert_clean_error(&setup.release(&[&corrupt], &[]), "corrupt binary");
    // A bad base URL and channel.
    let mut bad_url = sb.sea_pack();
    bad_url.arg("release").arg(&demo).args(["--base-url", "ftp://x", "-o"]).arg(&setup.site);
    let err = assert_clean_error(&run(bad_url.arg("--sign-key").arg(&setup.key)), "ftp base url");
    assert!(err.contains("--base-url"), "{err}");
    let err = assert_clean_error(&setup.release(&[&demo], &["--channel", "../x"]), "bad channel");
    assert!(err.contains("channel"), "{err}");
    assert!(!setup.site.join("stable.json").exists());
}

#[test]
fn an_existing_feed_must_verify_and_belong_to_the_app() {
    let setup = Setup::new();
    let demo = setup.binary("demo", "1.0.0");
    setup.release_ok(&[&demo], &[]);
    let feed_path = setup.site.join("stable.json");
    let sig_path = setup.site.join("stable.json.minisig");
    let (good, good_sig) = (fs::read_to_string(&feed_path).unwrap(), fs::read_to_string(&sig_path).unwrap());
    let v2 = setup.binary("demo", "2.0.0");
    // Tampered: refused, and left as it was.
    let tampered = good.replace("\"min_launcher\"", "\"min_launcher\" ");
    fs::write(&feed_path, &tampered).unwrap();
    let err = assert_clean_error(&setup.release(&[&v2], &[]), "tampered feed");
    assert!(err.contains("does not verify"), "{err}");
    assert_eq!(fs::read_to_string(&feed_path).unwrap(), tampered);
    fs::write(&feed_path, &good).unwrap();
    // Missing signature.
    fs::remove_file(&sig_path).unwrap();
    let err = assert_clean_error(&setup.release(&[&v2], &[]), "missing feed signature");
    assert!(err.contains("stable.json.minisig"), "{err}");
    fs::write(&sig_path, &good_sig).unwrap();
    // Released with another key into the same directory: the feed does not verify with it.
    let (other_key, other_public) = setup.sb.keygen("other");
    let app = setup.sb.app("foreign").exec("bin/app", "#!/bin/sh\n");
    let other_key_s = other_key.to_str().unwrap();
    let foreign = setup.sb.pack(
        app.path(),
        "demo",
        "5.0.0",
        "bin/app",
        &["--sign-key", other_key_s, "--public-key", &other_public],
    );
    let err = assert_clean_error(&setup.release_with_key(&[&foreign], &other_key, &[]), "other signer");
    assert!(err.contains("does not verify"), "{err}");
    // A feed of another app in the same directory.
    let other_app = setup.binary("other", "1.0.0");
    let err = assert_clean_error(&setup.release(&[&other_app], &[]), "feed of another app");
    assert!(err.contains("feed of app 'demo'"), "{err}");
    assert_eq!(fs::read_to_string(&feed_path).unwrap(), good);
    // And the good feed still takes the next version.
    setup.release_ok(&[&v2], &[]);
    assert_eq!(setup.feed("stable")["releases"].as_array().unwrap().len(), 2);
}

/// Issue 8: plain `http://` feeds and artifacts on the open network are refused where they are
/// made (`build --feed`, `release --base-url`); loopback stays allowed for local mirrors and tests.
/// A build records the channel its feed URL names, and refuses a feed URL that names none.
#[test]
fn plain_http_off_loopback_is_refused_and_the_channel_is_recorded() {
    let setup = Setup::new();
    let sb = &setup.sb;
    let app = sb.app("demo-http").exec("bin/app", "#!/bin/sh\n");
    let key = setup.key.to_str().unwrap();
    let build = |feed: &str, out: &str| {
        let out = sb.path(out);
        let mut cmd = sb.sea_pack();
        cmd.arg("build").arg(app.path()).args(["--name", "demo", "--version", "1.0.0", "--entry", "bin/app"]);
        cmd.args(["--feed", feed, "--public-key", &setup.public, "--sign-key", key, "-o"]).arg(&out);
        (run(&mut cmd), out)
    };
    let (refused, out) = build("http://downloads.example.com/demo/stable.json", "plain");
    let err = assert_clean_error(&refused, "plain http feed");
    assert!(err.contains("--feed") && err.contains("plain http://"), "{err}");
    assert!(!out.exists());
    let (refused, _) = build("https://downloads.example.com/demo/feed", "no-channel");
    let err = assert_clean_error(&refused, "feed URL without a channel");
    assert!(err.contains("<channel>.json"), "{err}");
    let (built, out) = build("http://127.0.0.1:9/demo/beta.json", "loopback");
    assert!(built.status.success(), "loopback http is allowed: {}", text(&built).1);
    let manifest = serde_json::to_value(Package::open(&out).unwrap().manifest()).unwrap();
    assert_eq!(manifest["update"]["channel"], "beta", "the channel is recorded in the manifest");
    // The release side: a plain-http base URL would give clients artifact URLs they refuse.
    let demo = setup.binary("demo", "1.0.0");
    let mut http = sb.sea_pack();
    http.arg("release").arg(&demo).args(["--base-url", "http://downloads.example.com/demo", "-o"]).arg(&setup.site);
    let err = assert_clean_error(&run(http.arg("--sign-key").arg(&setup.key)), "plain http base url");
    assert!(err.contains("--base-url") && err.contains("plain http://"), "{err}");
    assert!(!setup.site.join("stable.json").exists());
}
