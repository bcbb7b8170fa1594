//! `sea-pack trust`: the chain of signed trust statements a release directory carries.
//!
//! The statements are checked here with the same `sea_payload::trust` rules a client applies, and
//! one of them by hand with the stock `minisign` tool, as the README tells publishers to.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

use std::fs;
use std::path::Path;

use sea_payload::trust::{RootSet, Statement, TrustFile, Trusted};
use sea_tests::{Sandbox, assert_clean_error, run, text};

fn trust(sb: &Sandbox, site: &Path, args: &[&str]) -> std::process::Output {
    run(sb.sea_pack().arg("trust").arg(site).args(args))
}

fn chain(site: &Path) -> TrustFile {
    TrustFile::from_bytes(&fs::read(site.join("trust.json")).unwrap()).unwrap()
}

#[test]
fn trust_writes_a_chain_clients_walk_across_three_generations_and_refuses_what_they_would() {
    let sb = Sandbox::new();
    let site = sb.path("site");
    let keys: Vec<_> = ["r1", "r2", "r3", "n1", "n2", "rel1", "rel2"].iter().map(|n| sb.keygen(n)).collect();
    let (r1, r2, r3, n1, n2, rel1, rel2) = (&keys[0], &keys[1], &keys[2], &keys[3], &keys[4], &keys[5], &keys[6]);
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_owned();
    let root_args =
        ["--root", &r1.1, "--root", &r2.1, "--root", &r3.1, "--threshold", "2", "--name", "app", "--delegate", &rel1.1];

    // Below threshold: one root key of the 2 needed. Nothing is written.
    let out = trust(&sb, &site, &[&root_args[..], &["--sign-key", &s(&r1.0)]].concat());
    let err = assert_clean_error(&out, "first statement, one signer");
    assert!(err.contains("signed by 1 of the current root's keys, 2 needed"), "{err}");
    assert!(!site.join("trust.json").exists());
    // A signer outside both roots is named.
    let out = trust(&sb, &site, &[&root_args[..], &["--sign-key", &s(&rel1.0)]].concat());
    assert!(assert_clean_error(&out, "outsider").contains("neither the current root nor the new one"));
    // The first statement needs the baked-in root restated.
    let out = trust(&sb, &site, &["--delegate", &rel1.1, "--name", "app", "--sign-key", &s(&r1.0)]);
    assert!(assert_clean_error(&out, "no root").contains("--root <KEY>... --threshold <M>"));

    let out = trust(&sb, &site, &[&root_args[..], &["--sign-key", &s(&r1.0), "--sign-key", &s(&r2.0)]].concat());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("wrote trust statement 1 of app") && stdout.contains("expires"), "{stdout}");

    // Version 2 revokes rel1 for rel2, signed by another pair of the root.
    let out = trust(&sb, &site, &["--delegate", &rel2.1, "--sign-key", &s(&r1.0), "--sign-key", &s(&r3.0)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("revoked: {}", rel1.1)), "{stdout}");

    // Version 3 rotates the root: the new root must sign too.
    let rotate = ["--root", &n1.1, "--root", &n2.1, "--threshold", "2"];
    let out = trust(
        &sb,
        &site,
        &[&rotate[..], &["--sign-key", &s(&r2.0), "--sign-key", &s(&r3.0), "--sign-key", &s(&n1.0)]].concat(),
    );
    assert!(assert_clean_error(&out, "rotation without the new root").contains("new root's keys, 2 needed"));
    assert_eq!(chain(&site).statements.len(), 2, "a refused statement was written");
    let out = trust(
        &sb,
        &site,
        &[
            &rotate[..],
            &["--sign-key", &s(&r2.0), "--sign-key", &s(&r3.0), "--sign-key", &s(&n1.0), "--sign-key", &s(&n2.0)],
        ]
        .concat(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("the root changed"), "{stdout}");
    // The old root signs nothing any more.
    let out = trust(&sb, &site, &["--delegate", &rel1.1, "--sign-key", &s(&r1.0), "--sign-key", &s(&r2.0)]);
    assert_clean_error(&out, "old root after rotation");

    // A client with the baked-in root walks all three and trusts rel2 only.
    let file = chain(&site);
    let baked =
        Trusted::from_root(RootSet { keys: vec![r1.1.clone(), r2.1.clone(), r3.1.clone()], threshold: 2 }).unwrap();
    let walked = baked.advance(&file, "app").unwrap();
    assert_eq!(walked.trusted.version, 3);
    assert!(walked.trusted.trusts(&rel2.1) && !walked.trusted.trusts(&rel1.1));
    assert_eq!(walked.trusted.root.keys, vec![n1.1.clone(), n2.1.clone()]);
    walked.trusted.check_fresh(sea_payload::time::now()).unwrap();
    let newest: Statement = file.newest().unwrap().unwrap();
    assert!(newest.expires > sea_payload::time::now() + 300 * 86_400, "default expiry is a year");

    // The stock minisign tool checks a statement's signature, as the README says.
    if sea_tests::require_tool("minisign") {
        let body = sb.path("body.json");
        let sig = sb.path("body.minisig");
        fs::write(&body, &file.statements[2].body).unwrap();
        fs::write(&sig, &file.statements[2].signatures[3]).unwrap();
        let out = run(sb.cmd("minisign").arg("-Vm").arg(&body).arg("-x").arg(&sig).arg("-P").arg(&n2.1));
        assert!(out.status.success(), "minisign refused: {}", text(&out).1);
    }
}

#[test]
fn trust_refuses_a_tampered_chain_before_appending() {
    let sb = Sandbox::new();
    let site = sb.path("site");
    let (r1, p1) = sb.keygen("r1");
    let (_, rel) = sb.keygen("rel");
    let out = trust(
        &sb,
        &site,
        &["--root", &p1, "--threshold", "1", "--name", "app", "--delegate", &rel, "--sign-key", r1.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let path = site.join("trust.json");
    let tampered = fs::read_to_string(&path).unwrap().replace("\\\"version\\\":1", "\\\"version\\\":7");
    fs::write(&path, tampered).unwrap();
    let before = fs::read(&path).unwrap();
    let out = trust(&sb, &site, &["--delegate", &rel, "--sign-key", r1.to_str().unwrap()]);
    assert_clean_error(&out, "tampered chain");
    assert_eq!(fs::read(&path).unwrap(), before, "the tampered file was changed");
    fs::write(&path, b"{ not json").unwrap();
    let out = trust(&sb, &site, &["--delegate", &rel, "--sign-key", r1.to_str().unwrap()]);
    assert!(assert_clean_error(&out, "malformed chain").contains("trust.json"));
}
