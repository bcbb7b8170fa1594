use super::*;

struct Key {
    public: String,
    secret: minisign::SecretKey,
}

fn keys(n: usize) -> Vec<Key> {
    (0..n)
        .map(|_| {
            let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("keypair");
            Key { public: pair.pk.to_base64(), secret: pair.sk }
        })
        .collect()
}

fn root(keys: &[&Key], threshold: u32) -> RootSet {
    RootSet { keys: keys.iter().map(|k| k.public.clone()).collect(), threshold }
}

fn statement(version: u64, root: RootSet, release: &[&Key], expires: u64) -> Statement {
    Statement {
        kind: STATEMENT_TYPE.into(),
        format: TRUST_FORMAT,
        name: "app".into(),
        version,
        published: 1,
        expires,
        root,
        release_keys: release.iter().map(|k| k.public.clone()).collect(),
    }
}

fn sign(statement: &Statement, by: &[&Key]) -> SignedStatement {
    let body = statement.to_body();
    let signatures = by
        .iter()
        .map(|k| minisign::sign(None, &k.secret, body.as_bytes(), Some("t"), None).expect("sign").into_string())
        .collect();
    SignedStatement { body, signatures }
}

fn chain(statements: Vec<SignedStatement>) -> TrustFile {
    TrustFile { format: TRUST_FORMAT, statements }
}

const FAR: u64 = u64::MAX / 2;

#[test]
fn walks_three_generations_with_a_root_rotation() {
    let k = keys(8);
    let (a, b, c, d, e, f, r1, r2) = (&k[0], &k[1], &k[2], &k[3], &k[4], &k[5], &k[6], &k[7]);
    let baked = Trusted::from_root(root(&[a, b, c], 2)).expect("root");
    let v1 = sign(&statement(1, root(&[a, b, c], 2), &[r1], FAR), &[a, b]);
    let v2 = sign(&statement(2, root(&[a, b, c], 2), &[r2], FAR), &[a, c]);
    // The rotation is signed by two of the old root and two of the new one.
    let v3 = sign(&statement(3, root(&[d, e, f], 2), &[r2], FAR), &[b, c, d, f]);
    let file = chain(vec![v1.clone(), v2.clone(), v3.clone()]);
    let walked = baked.advance(&file, "app").expect("walk");
    assert_eq!(walked.trusted.version, 3);
    assert!(walked.root_changed);
    assert!(walked.trusted.trusts(&r2.public));
    assert!(!walked.trusted.trusts(&r1.public));
    // Everything the baked-in root signed as release keys is revoked, r1 never was trusted here.
    assert_eq!(walked.revoked, vec![a.public.clone(), b.public.clone(), c.public.clone()]);

    // A client that stopped at version 1 learns that r1 is revoked.
    let at1 = baked.advance(&chain(vec![v1.clone()]), "app").expect("v1").trusted;
    let later = at1.advance(&file, "app").expect("walk from 1");
    assert_eq!(later.revoked, vec![r1.public.clone()]);
    assert_eq!(later.trusted, walked.trusted);

    // After the rotation the old root signs nothing: a fourth statement by it alone is refused.
    let v4 = sign(&statement(4, root(&[d, e, f], 2), &[r1], FAR), &[a, b, c]);
    let err = walked.trusted.advance(&chain(vec![v1, v2, v3, v4]), "app");
    assert_eq!(err, Err(TrustError::BelowThreshold { version: 4, set: "current", valid: 0, threshold: 2 }));
}

#[test]
fn refuses_below_threshold_and_counts_each_key_once() {
    let k = keys(3);
    let baked = Trusted::from_root(root(&[&k[0], &k[1], &k[2]], 2)).expect("root");
    let body = statement(1, root(&[&k[0], &k[1], &k[2]], 2), &[&k[2]], FAR);
    let once = sign(&body, &[&k[0]]);
    let twice = sign(&body, &[&k[0], &k[0]]);
    for signed in [once, twice] {
        let err = baked.advance(&chain(vec![signed]), "app").expect_err("below threshold");
        assert_eq!(err, TrustError::BelowThreshold { version: 1, set: "current", valid: 1, threshold: 2 });
        assert!(err.to_string().contains("below threshold"), "{err}");
    }
    // Signatures by keys outside the root do not count, even valid ones.
    let outsider = keys(1);
    let signed = sign(&body, &[&k[0], &outsider[0]]);
    assert!(matches!(baked.advance(&chain(vec![signed]), "app"), Err(TrustError::BelowThreshold { valid: 1, .. })));
}

#[test]
fn a_root_change_needs_the_new_root_too() {
    let k = keys(4);
    let baked = Trusted::from_root(root(&[&k[0]], 1)).expect("root");
    let signed = sign(&statement(1, root(&[&k[1], &k[2]], 2), &[&k[3]], FAR), &[&k[0], &k[1]]);
    let err = baked.advance(&chain(vec![signed]), "app").expect_err("new root below threshold");
    assert_eq!(err, TrustError::BelowThreshold { version: 1, set: "new", valid: 1, threshold: 2 });
}

#[test]
fn refuses_replays_gaps_forks_and_other_apps() {
    let k = keys(3);
    let baked = Trusted::from_root(root(&[&k[0]], 1)).expect("root");
    let v1 = sign(&statement(1, root(&[&k[0]], 1), &[&k[1]], FAR), &[&k[0]]);
    let v2 = sign(&statement(2, root(&[&k[0]], 1), &[&k[2]], FAR), &[&k[0]]);
    let at2 = baked.advance(&chain(vec![v1.clone(), v2.clone()]), "app").expect("walk").trusted;
    assert_eq!(at2.advance(&chain(vec![v1.clone()]), "app"), Err(TrustError::Replayed { trusted: 2, offered: 1 }));
    assert_eq!(at2.advance(&chain(vec![]), "app"), Err(TrustError::Replayed { trusted: 2, offered: 0 }));
    // The same chain again changes nothing.
    let same = at2.advance(&chain(vec![v1.clone(), v2.clone()]), "app").expect("same");
    assert!(!same.changed(&at2));
    assert!(same.revoked.is_empty());
    // A chain that starts past the next version.
    assert_eq!(baked.advance(&chain(vec![v2.clone()]), "app"), Err(TrustError::Gap { trusted: 0, first: 2 }));
    // Another version 2, validly signed, is a fork.
    let other2 = sign(&statement(2, root(&[&k[0]], 1), &[&k[1]], FAR), &[&k[0]]);
    assert_eq!(at2.advance(&chain(vec![v1.clone(), other2]), "app"), Err(TrustError::Forked { version: 2 }));
    // Another app.
    assert!(matches!(baked.advance(&chain(vec![v1.clone()]), "other"), Err(TrustError::OtherApp { .. })));
    // Versions that skip.
    let v3 = sign(&statement(3, root(&[&k[0]], 1), &[&k[2]], FAR), &[&k[0]]);
    assert!(matches!(baked.advance(&chain(vec![v1, v3]), "app"), Err(TrustError::Invalid(_))));
}

#[test]
fn release_signatures_follow_the_newest_statement_and_its_expiry() {
    let k = keys(3);
    let baked = Trusted::from_root(root(&[&k[0]], 1)).expect("root");
    let sig = |key: &Key| minisign::sign(None, &key.secret, &b"feed"[..], Some("t"), None).expect("sign").into_string();
    assert_eq!(baked.verify_release(b"feed", &sig(&k[0])), Ok(k[0].public.clone()));
    let v1 = sign(&statement(1, root(&[&k[0]], 1), &[&k[1]], 1_000), &[&k[0]]);
    let walked = baked.advance(&chain(vec![v1.clone()]), "app").expect("walk");
    let trusted = walked.trusted;
    assert_eq!(trusted.verify_release(b"feed", &sig(&k[1])), Ok(k[1].public.clone()));
    assert_eq!(trusted.verify_release(b"feed", &sig(&k[0])), Err(TrustError::NotTrusted { version: 1 }));
    assert_eq!(trusted.verify_release(b"feed", &sig(&k[2])), Err(TrustError::NotTrusted { version: 1 }));
    assert!(matches!(trusted.verify_release(b"fee", &sig(&k[1])), Err(TrustError::Signature(_))));
    assert!(trusted.check_fresh(999).is_ok());
    let expired = trusted.check_fresh(1_000).expect_err("expired");
    assert!(expired.to_string().contains("1970-01-01 00:16:40"), "{expired}");
    // An expired link in the middle of a chain does not matter; the newest one does.
    let v2 = sign(&statement(2, root(&[&k[0]], 1), &[&k[1]], FAR), &[&k[0]]);
    let fresh = baked.advance(&chain(vec![v1, v2]), "app").expect("walk").trusted;
    assert!(fresh.check_fresh(2_000).is_ok());
}

#[test]
fn refuses_malformed_and_oversized_input() {
    let k = keys(2);
    assert!(TrustFile::from_bytes(b"{").is_err());
    assert!(TrustFile::from_bytes(br#"{"format": 2, "statements": []}"#).is_err());
    assert!(TrustFile::from_bytes(br#"{"format": 1, "statements": [], "extra": 1}"#).is_err());
    assert!(TrustFile::from_bytes(&vec![b' '; MAX_TRUST_LEN as usize + 1]).is_err());
    let many = chain(vec![SignedStatement { body: "{}".into(), signatures: vec![] }; MAX_STATEMENTS + 1]);
    assert!(TrustFile::from_bytes(&many.to_bytes()).is_err());
    let sigs = chain(vec![SignedStatement { body: "{}".into(), signatures: vec![String::new(); MAX_SIGNATURES + 1] }]);
    assert!(TrustFile::from_bytes(&sigs.to_bytes()).is_err());

    let good = statement(1, root(&[&k[0]], 1), &[&k[1]], FAR);
    let file = chain(vec![sign(&good, &[&k[0]])]);
    assert_eq!(TrustFile::from_bytes(&file.to_bytes()), Ok(file.clone()));
    assert_eq!(file.newest(), Ok(Some(good.clone())));

    let bad = |f: &dyn Fn(&mut Statement)| {
        let mut s = good.clone();
        f(&mut s);
        Statement::from_body(&s.to_body()).is_err()
    };
    assert!(bad(&|s| s.kind = "sea-feed".into()));
    assert!(bad(&|s| s.format = 2));
    assert!(bad(&|s| s.version = 0));
    assert!(bad(&|s| s.root.threshold = 0));
    assert!(bad(&|s| s.root.threshold = 2));
    assert!(bad(&|s| s.root.keys.clear()));
    assert!(bad(&|s| s.root.keys.push(s.root.keys[0].clone())));
    assert!(bad(&|s| s.release_keys.clear()));
    assert!(bad(&|s| s.release_keys = vec!["RWnope".into()]));
    assert!(bad(&|s| s.release_keys = vec![s.release_keys[0].clone(); MAX_KEYS + 1]));
    assert!(Statement::from_body(&format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY_LEN))).is_err());
    // A feed, or any other signed JSON, is not a statement.
    assert!(Statement::from_body(r#"{"format":1,"name":"app","channel":"stable","releases":[]}"#).is_err());
}

#[test]
fn a_binary_built_after_a_rotation_anchors_at_the_statement_naming_its_root() {
    let k = keys(5);
    let (a, b, c, d, r1) = (&k[0], &k[1], &k[2], &k[3], &k[4]);
    let v1 = sign(&statement(1, root(&[a, b], 2), &[r1], FAR), &[a, b]);
    let v2 = sign(&statement(2, root(&[c, d], 2), &[r1], FAR), &[a, b, c, d]);
    let v3 = sign(&statement(3, root(&[c, d], 2), &[a], FAR), &[c, d]);
    let file = chain(vec![v1, v2.clone(), v3]);
    // The old root starts at 0, the new one at the rotation.
    assert_eq!(Trusted::anchor(root(&[a, b], 2), &file, "app").expect("old root").version, 0);
    let anchored = Trusted::anchor(root(&[c, d], 2), &file, "app").expect("new root");
    assert_eq!(anchored.version, 2);
    let walked = anchored.advance(&file, "app").expect("walk");
    assert_eq!(walked.trusted.version, 3);
    assert!(walked.trusted.trusts(&a.public));
    // A rotation statement not signed by enough of the root that anchors on it is refused.
    let forged = SignedStatement { signatures: v2.signatures[..3].to_vec(), ..v2 };
    let file = chain(vec![forged]);
    assert!(matches!(
        Trusted::anchor(root(&[c, d], 2), &file, "app"),
        Err(TrustError::BelowThreshold { valid: 1, .. })
    ));
}
