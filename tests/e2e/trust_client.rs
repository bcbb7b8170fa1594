//! The client side of trust statements, against a loopback server: real packed binaries walk the
//! `trust.json` served next to the feed, remember the newest statement, refuse replayed,
//! below-threshold, malformed and expired ones, refuse what a revoked key signed, recover from a
//! stolen key's fast-forward, and a one-key binary of today's format still updates.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use sea_tests::faults::Publisher;
use sea_tests::layout::names;
use sea_tests::{assert_clean_error, run, text};

const NAME: &str = "tc";

/// A release site for app `tc` served on loopback, with named minisign keys.
struct World {
    feed: Publisher,
    keys: BTreeMap<String, (PathBuf, String)>,
}

impl World {
    fn new(key_names: &[&str]) -> Self {
        let feed = Publisher::new(NAME);
        let keys = key_names.iter().map(|n| ((*n).to_owned(), feed.sb.keygen(n))).collect();
        World { feed, keys }
    }

    fn sk(&self, name: &str) -> String {
        self.keys[name].0.to_string_lossy().into_owned()
    }

    fn pk(&self, name: &str) -> String {
        self.keys[name].1.clone()
    }

    /// `sea-pack trust <site> …`; must succeed.
    fn trust(&self, args: &[String]) {
        let out = run(self.feed.sb.sea_pack().arg("trust").arg(&self.feed.dir).args(args));
        assert!(out.status.success(), "sea-pack trust: {}", text(&out).1);
    }

    /// The first statement: root `roots` (threshold `m`), release keys `delegates`, signed by `signers`.
    fn first_statement(&self, roots: &[&str], m: u32, delegates: &[&str], signers: &[&str]) {
        let mut args = vec!["--name".to_owned(), NAME.to_owned(), "--threshold".to_owned(), m.to_string()];
        args.extend(roots.iter().flat_map(|r| ["--root".to_owned(), self.pk(r)]));
        args.extend(delegates.iter().flat_map(|d| ["--delegate".to_owned(), self.pk(d)]));
        args.extend(signers.iter().flat_map(|s| ["--sign-key".to_owned(), self.sk(s)]));
        self.trust(&args);
    }

    /// A next statement delegating to `delegates`, signed by `signers`, with `extra` flags.
    fn delegate(&self, delegates: &[&str], signers: &[&str], extra: &[String]) {
        let mut args: Vec<String> = extra.to_vec();
        args.extend(delegates.iter().flat_map(|d| ["--delegate".to_owned(), self.pk(d)]));
        args.extend(signers.iter().flat_map(|s| ["--sign-key".to_owned(), self.sk(s)]));
        self.trust(&args);
    }

    /// Packs version `version` (its entry prints `tc <version>`), with root `roots` (threshold
    /// `m`, `None`: the flag left out), signed by `signer`, embedding the site's chain if
    /// `with_trust`; the binary is `bin/<label>`.
    fn build(
        &self,
        label: &str,
        version: &str,
        roots: &[&str],
        m: Option<u32>,
        signer: &str,
        with_trust: bool,
    ) -> PathBuf {
        let sb = &self.feed.sb;
        let app = sb.app(&format!("src-{label}")).exec("bin/app", "#!/bin/sh\necho \"tc $TC_APP_VERSION\"\n");
        let mut flags = vec!["--compression".to_owned(), "zstd:1".to_owned(), "--feed".to_owned(), self.feed.url()];
        flags.extend(roots.iter().flat_map(|r| ["--public-key".to_owned(), self.pk(r)]));
        if let Some(m) = m {
            flags.extend(["--threshold".to_owned(), m.to_string()]);
        }
        flags.extend(["--sign-key".to_owned(), self.sk(signer)]);
        if with_trust {
            flags.extend(["--trust".to_owned(), self.feed.dir.to_string_lossy().into_owned()]);
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let bin = sb.pack(app.path(), NAME, version, "bin/app", &flags);
        let dest = sb.path(&format!("bin/{label}"));
        fs::rename(&bin, &dest).unwrap();
        dest
    }

    /// `sea-pack release <bin> -o <dir> --sign-key <signer>`; must succeed.
    fn release_in(&self, dir: &Path, bin: &Path, signer: &str) {
        let out = run(self
            .feed
            .sb
            .sea_pack()
            .arg("release")
            .arg(bin)
            .arg("--base-url")
            .arg(self.feed.server.url())
            .arg("-o")
            .arg(dir)
            .arg("--sign-key")
            .arg(self.sk(signer)));
        assert!(out.status.success(), "release: {}", text(&out).1);
    }

    fn release(&self, bin: &Path, signer: &str) {
        self.release_in(&self.feed.dir, bin, signer);
    }

    fn update(&self, bin: &Path) -> Output {
        self.feed.update(bin)
    }

    /// `--sea-update` must succeed and install `version`.
    fn updates_to(&self, bin: &Path, version: &str) {
        let out = self.update(bin);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "update to {version} failed: {stderr}");
        assert!(stderr.contains(&format!("installed {version}")), "{stdout}{stderr}");
        assert_eq!(self.runs(bin), format!("tc {version}"));
    }

    /// `--sea-update` must fail with exit 69, naming `why`, and install nothing.
    fn refuses(&self, bin: &Path, why: &str, what: &str) -> String {
        let before = self.trees();
        let out = self.update(bin);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(69), "{what}: {stderr}");
        assert!(stderr.contains(why), "{what}: expected '{why}' in: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert_eq!(self.trees(), before, "{what}: something was installed");
        stderr
    }

    /// The first line the app prints.
    fn runs(&self, bin: &Path) -> String {
        let out = run(&mut self.feed.sb.cmd(bin));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "the app does not run: {stderr}");
        stdout.lines().next().unwrap_or_default().to_owned()
    }

    fn trees(&self) -> Vec<String> {
        names(&self.feed.pkg()).into_iter().filter(|n| !n.ends_with(".lock") && !n.starts_with('.')).collect()
    }

    /// The version of the statement stored in the home (`None`: nothing stored).
    fn stored(&self) -> Option<u64> {
        let bytes = fs::read(self.feed.sb.app_home(NAME).join("trust.json")).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["trusted"]["version"].as_u64()
    }

    fn chain_path(&self) -> PathBuf {
        self.feed.dir.join("trust.json")
    }

    fn chain(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.chain_path()).unwrap()).unwrap()
    }

    fn write_chain(&self, chain: &serde_json::Value) {
        fs::write(self.chain_path(), serde_json::to_vec_pretty(chain).unwrap()).unwrap();
    }
}

#[test]
fn a_delegated_key_verifies_offline_and_the_client_follows_root_rotation_across_three_generations() {
    let w = World::new(&["r1", "r2", "n1", "n2", "m1", "rel1", "rel2", "rel3"]);
    w.first_statement(&["r1", "r2"], 2, &["rel1"], &["r1", "r2"]);
    // Built with a 2-of-2 root, signed by the delegated rel1: the embedded statement lets the
    // very first start verify the payload, offline.
    let client = w.build("client", "1.0.0", &["r1", "r2"], Some(2), "rel1", true);
    assert_eq!(w.runs(&client), "tc 1.0.0");
    let v110 = w.build("v110", "1.1.0", &["r1", "r2"], Some(2), "rel1", true);
    w.release(&v110, "rel1");
    w.updates_to(&client, "1.1.0");
    assert_eq!(w.stored(), Some(1));

    // Generation 2: a new root (signed by the old one and the new one), a new release key.
    let rotate = |keys: &[&str], m: u32| {
        let mut args = vec!["--threshold".to_owned(), m.to_string()];
        args.extend(keys.iter().flat_map(|k| ["--root".to_owned(), w.pk(k)]));
        args
    };
    w.delegate(&["rel2"], &["r1", "r2", "n1", "n2"], &rotate(&["n1", "n2"], 2));
    let v120 = w.build("v120", "1.2.0", &["n1", "n2"], Some(2), "rel2", true);
    w.release(&v120, "rel2");
    w.updates_to(&client, "1.2.0");
    assert_eq!(w.stored(), Some(2));

    // Generation 3: a 1-of-1 root, signed by the second root only (the first signs nothing now).
    w.delegate(&["rel3"], &["n1", "n2", "m1"], &rotate(&["m1"], 1));
    let v130 = w.build("v130", "1.3.0", &["m1"], None, "rel3", true);
    w.release(&v130, "rel3");
    w.updates_to(&client, "1.3.0");
    assert_eq!(w.stored(), Some(3));
    let stored = fs::read_to_string(w.feed.sb.app_home(NAME).join("trust.json")).unwrap();
    assert!(stored.contains(&w.pk("m1")) && !stored.contains(&w.pk("r1")), "{stored}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(w.feed.sb.app_home(NAME).join("trust.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the stored state is the user's alone");
    }
}

#[test]
fn a_replayed_statement_and_a_revoked_key_are_refused_and_nothing_is_installed() {
    let w = World::new(&["root", "rel1", "rel2"]);
    w.first_statement(&["root"], 1, &["rel1"], &["root"]);
    let client = w.build("client", "1.0.0", &["root"], None, "rel1", true);
    let v150 = w.build("v150", "1.5.0", &["root"], None, "rel1", true);
    let version_one = fs::read(w.chain_path()).unwrap();
    w.delegate(&["rel2"], &["root"], &[]);
    let v110 = w.build("v110", "1.1.0", &["root"], None, "rel2", true);
    w.release(&v110, "rel2");
    w.updates_to(&client, "1.1.0");
    assert_eq!(w.stored(), Some(2));

    // Revoked: rel1 (no longer a release key at version 2) signs a feed and its artifact.
    let evil = w.feed.sb.path("evil");
    fs::create_dir(&evil).unwrap();
    w.release_in(&evil, &v150, "rel1");
    let honest = w.feed.sb.path("honest");
    fs::rename(&w.feed.dir, &honest).unwrap();
    fs::create_dir(&w.feed.dir).unwrap();
    for name in names(&evil) {
        fs::copy(evil.join(&name), w.feed.dir.join(&name)).unwrap();
    }
    fs::copy(honest.join("trust.json"), w.chain_path()).unwrap();
    let err = w.refuses(&client, "does not trust (revoked", "a feed signed by a revoked key");
    assert!(err.contains("trust statement 2"), "{err}");

    // Replayed: the mirror serves version 1 of the chain, which still trusted rel1.
    fs::write(w.chain_path(), &version_one).unwrap();
    w.refuses(&client, "a replayed statement, refused", "a replayed statement");
    assert_eq!(w.stored(), Some(2), "the stored statement went back");
    assert_eq!(w.runs(&client), "tc 1.1.0", "the app no longer runs what it had");
}

#[test]
fn malformed_wrongly_signed_below_threshold_endless_and_expired_statements_are_refused() {
    let w = World::new(&["r1", "r2", "r3", "rel1", "rel2", "outsider"]);
    w.first_statement(&["r1", "r2", "r3"], 2, &["rel1"], &["r1", "r2"]);
    let client = w.build("client", "1.0.0", &["r1", "r2", "r3"], Some(2), "rel1", true);
    let v110 = w.build("v110", "1.1.0", &["r1", "r2", "r3"], Some(2), "rel1", true);
    w.release(&v110, "rel1");
    let good = w.chain();

    // Below threshold: version 2 with one of its two signatures dropped.
    w.delegate(&["rel1", "rel2"], &["r1", "r3"], &[]);
    let mut chain = w.chain();
    let two = chain.clone();
    chain["statements"][1]["signatures"].as_array_mut().unwrap().truncate(1);
    w.write_chain(&chain);
    w.refuses(
        &client,
        "signed by 1 of the current root's keys, 2 needed: refused (below threshold)",
        "below threshold",
    );
    assert_eq!(w.stored(), None, "a refused chain was stored");

    // Wrongly signed: version 2 signed by a key outside the root.
    let mut chain = two.clone();
    let outsider_sig = {
        let body = chain["statements"][1]["body"].as_str().unwrap().to_owned();
        let text = fs::read_to_string(w.sk("outsider")).unwrap();
        let sk = minisign::SecretKeyBox::from_string(&text).unwrap().into_unencrypted_secret_key().unwrap();
        minisign::sign(None, &sk, body.as_bytes(), Some("outsider"), None).unwrap().into_string()
    };
    chain["statements"][1]["signatures"] = serde_json::json!([outsider_sig]);
    w.write_chain(&chain);
    w.refuses(&client, "signed by 0 of the current root's keys", "wrongly signed");

    // Malformed, oversized, endless.
    fs::write(w.chain_path(), b"{ \"format\": 1, \"statements\": [ {").unwrap();
    w.refuses(&client, "invalid trust statement: trust file", "malformed");
    fs::write(w.chain_path(), vec![b' '; 1024 * 1024 + 1]).unwrap();
    w.refuses(&client, "larger than 1048576 bytes", "oversized");
    let mut endless = good.clone();
    endless["statements"] = serde_json::Value::Array(vec![serde_json::json!({"body": "{}", "signatures": []}); 1001]);
    w.write_chain(&endless);
    w.refuses(&client, "more than the 1000 allowed", "endless");
    assert_eq!(w.stored(), None);
    assert_eq!(w.runs(&client), "tc 1.0.0");

    // The good chain back: the update goes through.
    w.write_chain(&two);
    w.updates_to(&client, "1.1.0");
    assert_eq!(w.stored(), Some(2));

    // Expired: the newest statement's expiry has passed; the publisher is told what to do.
    w.delegate(&["rel1"], &["r1", "r2"], &["--expires".to_owned(), "1s".to_owned()]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let err = w.refuses(&client, "expired on", "expired statement");
    assert!(err.contains("sea-pack trust"), "{err}");
    assert_eq!(w.stored(), Some(3), "revocations count even from an expired statement");
}

#[test]
fn fast_forward_recovery_a_revoked_keys_99_does_not_block_the_honest_3() {
    let w = World::new(&["root", "stolen", "fresh"]);
    w.first_statement(&["root"], 1, &["stolen"], &["root"]);
    let client = w.build("client", "2.0.0", &["root"], None, "stolen", true);
    assert_eq!(w.runs(&client), "tc 2.0.0");

    // The thief signs 99.0.0 with the stolen release key and serves it (a hijacked mirror).
    let honest = w.feed.sb.path("honest");
    fs::create_dir(&honest).unwrap();
    fs::copy(w.chain_path(), honest.join("trust.json")).unwrap();
    let evil = w.build("evil", "99.0.0", &["root"], None, "stolen", true);
    w.release(&evil, "stolen");
    w.updates_to(&client, "99.0.0");

    // The publisher revokes the stolen key, and publishes an honest 3.0.0 from its own directory.
    let thief_site = w.feed.sb.path("thief-site");
    fs::rename(&w.feed.dir, &thief_site).unwrap();
    fs::rename(&honest, &w.feed.dir).unwrap();
    w.delegate(&["fresh"], &["root"], &[]);
    let v300 = w.build("v300", "3.0.0", &["root"], None, "fresh", true);
    w.release(&v300, "fresh");
    let out = w.update(&client);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "the honest 3.0.0 was blocked: {stdout}{stderr}");
    assert!(stderr.contains("installed 3.0.0"), "{stderr}");
    assert!(stderr.contains(&format!("revoked the release key {}", w.pk("stolen"))), "{stderr}");
    // 99.0.0's tree is no longer a candidate: the app runs 3.0.0.
    assert_eq!(w.runs(&client), "tc 3.0.0");
    let info: serde_json::Value =
        serde_json::from_slice(&run(w.feed.sb.cmd(&client).arg("--sea-info")).stdout).unwrap();
    assert!(!info.to_string().contains("\"99.0.0\""), "99.0.0 is still listed: {info}");
}

#[test]
fn a_one_key_binary_of_todays_format_updates_from_a_site_with_statements() {
    let w = World::new(&["root", "rel"]);
    // Today's format: one --public-key, no --threshold, no --trust, signed by the root key.
    let client = w.build("client", "1.0.0", &["root"], None, "root", false);
    let inspect = run(w.feed.sb.sea_pack().arg("inspect").arg(&client).arg("--json"));
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let update = json["manifest"]["update"].as_object().unwrap();
    let mut fields: Vec<&str> = update.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["channel", "feed", "public_key"], "the one-key format changed: {update:?}");

    // The publisher starts statements and keeps the root key among the release keys, so the feed
    // (signed by the root key) verifies for clients that know only the root.
    w.first_statement(&["root"], 1, &["root", "rel"], &["root"]);
    let v110 = w.build("v110", "1.1.0", &["root"], None, "root", true);
    w.release(&v110, "root");
    w.updates_to(&client, "1.1.0");
    assert_eq!(w.stored(), Some(1));
}

#[test]
fn build_refuses_a_signer_the_binary_would_not_trust_and_a_threshold_or_chain_that_cannot_work() {
    let w = World::new(&["r1", "r2", "rel", "other"]);
    let sb = &w.feed.sb;
    let app = sb.app("src").exec("bin/app", "#!/bin/sh\necho hi\n");
    let build = |extra: &[String]| {
        let out = sb.path("bin/refused");
        run(sb
            .sea_pack()
            .arg("build")
            .arg(app.path())
            .args(["--name", NAME, "--version", "1.0.0", "--entry", "bin/app", "--feed", &w.feed.url()])
            .args(extra)
            .arg("-o")
            .arg(&out))
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let (r1, r2) = (w.pk("r1"), w.pk("r2"));
    let (sk_r1, sk_rel, sk_other) = (w.sk("r1"), w.sk("rel"), w.sk("other"));

    let err = assert_clean_error(
        &build(&s(&["--public-key", &r1, "--public-key", &r2, "--threshold", "3", "--sign-key", &sk_r1])),
        "threshold above the keys",
    );
    assert!(err.contains("--threshold 3 must be between 1 and the number of --public-key root keys (2)"), "{err}");
    let err =
        assert_clean_error(&build(&s(&["--public-key", &r1, "--sign-key", &sk_rel])), "delegated key, no --trust");
    assert!(err.contains(&format!("does not match --public-key {r1}")) && err.contains("--trust"), "{err}");

    w.first_statement(&["r1", "r2"], 2, &["rel"], &["r1", "r2"]);
    let site = w.feed.dir.to_string_lossy().into_owned();
    let err = assert_clean_error(
        &build(&s(&[
            "--public-key",
            &r1,
            "--public-key",
            &r2,
            "--threshold",
            "2",
            "--trust",
            &site,
            "--sign-key",
            &sk_other,
        ])),
        "signer outside the statement",
    );
    assert!(err.contains("is not a key trust statement 1 (embedded with --trust) trusts"), "{err}");
    // The chain does not start from this root: no binary built with it could use it.
    let err = assert_clean_error(
        &build(&s(&["--public-key", &w.pk("other"), "--trust", &site, "--sign-key", &sk_rel])),
        "chain from another root",
    );
    assert!(err.contains("does not verify from the --public-key root keys"), "{err}");
    assert!(!sb.path("bin/refused").exists());
    // The right pair builds, and the payload verifies with the delegated key.
    let out = build(&s(&[
        "--public-key",
        &r1,
        "--public-key",
        &r2,
        "--threshold",
        "2",
        "--trust",
        &site,
        "--sign-key",
        &sk_rel,
    ]));
    assert!(out.status.success(), "{}", text(&out).1);
    let out = run(sb.sea_pack().arg("verify").arg(sb.path("bin/refused")));
    assert!(out.status.success(), "verify: {}", text(&out).1);
}
