//! Property test of the trust chain: random chains of statements, each signed by a random subset
//! of a pool of keys and sometimes rotating the root, walked by `Trusted::advance` and by a
//! direct model of the rules. Both must agree on whether the chain is accepted, how far it gets,
//! and what is trusted at the end.

#![allow(clippy::unwrap_used)] // test code: a failed set-up step should fail loudly

use std::sync::LazyLock;

use proptest::prelude::*;
use sea_payload::trust::{
    RootSet, STATEMENT_TYPE, SignedStatement, Statement, TRUST_FORMAT, TrustError, TrustFile, Trusted,
};

const POOL: usize = 5;

/// Key pairs made once: key generation is the slow part.
static KEYS: LazyLock<Vec<(String, minisign::SecretKey)>> = LazyLock::new(|| {
    (0..POOL)
        .map(|_| {
            let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
            (pair.pk.to_base64(), pair.sk)
        })
        .collect()
});

/// One link of a generated chain: the root it names (a non-empty subset of the pool and a
/// threshold), its release key, and who signs it.
#[derive(Debug, Clone)]
struct Link {
    root_mask: u8,
    threshold: u32,
    release: usize,
    signers: u8,
}

fn members(mask: u8) -> Vec<usize> {
    (0..POOL).filter(|i| mask & (1 << i) != 0).collect()
}

fn link() -> impl Strategy<Value = Link> {
    (1u8..(1 << POOL), 1u32..=3, 0..POOL, 0u8..(1 << POOL)).prop_map(|(root_mask, t, release, signers)| {
        let n = members(root_mask).len() as u32;
        Link { root_mask, threshold: t.min(n), release, signers }
    })
}

fn root_of(mask: u8, threshold: u32) -> RootSet {
    RootSet { keys: members(mask).into_iter().map(|i| KEYS[i].0.clone()).collect(), threshold }
}

fn signed(version: u64, link: &Link) -> SignedStatement {
    let statement = Statement {
        kind: STATEMENT_TYPE.into(),
        format: TRUST_FORMAT,
        name: "app".into(),
        version,
        published: 0,
        expires: u64::MAX,
        root: root_of(link.root_mask, link.threshold),
        release_keys: vec![KEYS[link.release].0.clone()],
    };
    let body = statement.to_body();
    let signatures = members(link.signers)
        .into_iter()
        .map(|i| minisign::sign(None, &KEYS[i].1, body.as_bytes(), None, None).unwrap().into_string())
        .collect();
    SignedStatement { body, signatures }
}

fn count(signers: u8, root_mask: u8) -> u32 {
    (signers & root_mask).count_ones()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn advance_agrees_with_the_model(baked_mask in 1u8..(1 << POOL), baked_t in 1u32..=3, links in proptest::collection::vec(link(), 1..5)) {
        let baked_t = baked_t.min(baked_mask.count_ones());
        let baked = Trusted::from_root(root_of(baked_mask, baked_t)).unwrap();
        let file = TrustFile {
            format: TRUST_FORMAT,
            statements: links.iter().enumerate().map(|(i, l)| signed(i as u64 + 1, l)).collect(),
        };
        // The model: walk the rules directly on masks.
        let (mut mask, mut t, mut expected_err) = (baked_mask, baked_t, None);
        for (i, l) in links.iter().enumerate() {
            if count(l.signers, mask) < t {
                expected_err = Some((i as u64 + 1, "current"));
                break;
            }
            if (l.root_mask, l.threshold) != (mask, t) && count(l.signers, l.root_mask) < l.threshold {
                expected_err = Some((i as u64 + 1, "new"));
                break;
            }
            mask = l.root_mask;
            t = l.threshold;
        }
        match (baked.advance(&file, "app"), expected_err) {
            (Ok(walked), None) => {
                let last = links.last().unwrap();
                prop_assert_eq!(walked.trusted.version, links.len() as u64);
                prop_assert!(walked.trusted.root.keys.iter().all(|k| root_of(last.root_mask, 1).keys.contains(k)));
                prop_assert_eq!(walked.trusted.root.threshold, last.threshold);
                prop_assert!(walked.trusted.trusts(&KEYS[last.release].0));
                prop_assert_eq!(walked.trusted.release_keys.len(), 1);
                // Walking the same chain again from where it ended changes nothing.
                let again = walked.trusted.advance(&file, "app").unwrap();
                prop_assert!(!again.changed(&walked.trusted));
            }
            (Err(TrustError::BelowThreshold { version, set, .. }), Some((v, s))) => {
                prop_assert_eq!(version, v);
                prop_assert_eq!(set, s);
            }
            (got, want) => prop_assert!(false, "advance gave {:?}, the model {:?}", got, want),
        }
    }
}
