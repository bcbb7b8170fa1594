//! Trust statements: which keys may sign releases, and how that set changes without a new binary.
//!
//! A packed executable bakes in its *root*: up to [`MAX_KEYS`] minisign public keys and a
//! threshold M. The publisher then writes numbered trust statements (`sea-pack trust`). Each one
//! names the root from now on and the *release keys* (the keys that sign feeds and artifacts day
//! to day), and is signed by at least M keys of the root it follows — and, when it changes the
//! root, by at least the new threshold of the new root too. A client keeps the highest statement
//! it verified and walks forward from it one version at a time, so a lost or stolen release key
//! is replaced by one statement, and a lost or stolen root key by a rotation that the remaining
//! root keys sign (TUF's root chain, in minisign's format).
//!
//! # Implementation
//! The release directory holds `trust.json`: the whole chain, oldest first,
//!
//! ```json
//! {"format": 1, "statements": [{"body": "<statement JSON text>", "signatures": ["<minisig text>", …]}, …]}
//! ```
//!
//! and a body is
//!
//! ```json
//! {"type": "sea-trust", "format": 1, "name": "my-cli", "version": 2, "published": 1767225600,
//!  "expires": 1798761600, "root": {"keys": ["RWQ…", "RWQ…"], "threshold": 2}, "release_keys": ["RWQ…"]}
//! ```
//!
//! The signatures are detached minisign signatures of the body's exact bytes, carried as a string
//! so that no canonical JSON is needed: a person checks one with the stock tool by saving `body`
//! and one signature to files (`minisign -Vm body.json -x sig -P <key>`). Everything a client acts
//! on (type, app, version, expiry, keys) is inside the signed body.
//!
//! Rules ([`Trusted::advance`]): versions are consecutive from 1; version 1 is checked against the
//! baked-in root; a chain whose newest version is older than the one already trusted is a replay
//! and refused; a statement at the version already trusted must be the very one trusted (a fork
//! is refused); a signature counts once per distinct key, and only keys of the set in question
//! count. Only the newest statement's expiry matters ([`Trusted::check_fresh`]): old links of the
//! chain may have expired long ago, as in TUF.
//!
//! # Alternatives
//! One file per version (TUF's `N.root.json`, fetched until a 404) costs a request per version and
//! a 404 on every check; the whole chain in one file is one conditional GET, and stays small (a
//! statement is ~0.5 KB; [`MAX_STATEMENTS`] bounds it). A canonical JSON encoding (TUF, OLPC)
//! would let the body be an object, at the price of a canonicaliser on both sides; a string costs
//! nothing.
//!
//! # Limitations
//! A chain is verified from the client's stored version forward: a client that never saw
//! version k trusts version k+1 only through k, so the file must keep every version (the packer
//! only appends). An attacker who holds M root keys controls everything, by design.

use serde::{Deserialize, Serialize};

use crate::signature::{self, SignatureError};

/// The trust file format this crate writes and reads.
pub const TRUST_FORMAT: u32 = 1;
/// The `type` of a statement body; a body of another type is refused.
pub const STATEMENT_TYPE: &str = "sea-trust";
/// File name of the chain in a release directory, next to the feeds.
pub const TRUST_FILE: &str = "trust.json";
/// Largest trust file accepted, in bytes.
pub const MAX_TRUST_LEN: u64 = 1024 * 1024;
/// Most statements in one chain (an "endless chain" is refused before anything is verified).
pub const MAX_STATEMENTS: usize = 1000;
/// Most keys in a root or a release set.
pub const MAX_KEYS: usize = 16;
/// Most signatures on one statement.
pub const MAX_SIGNATURES: usize = 32;
/// Largest statement body, in bytes.
pub const MAX_BODY_LEN: usize = 16 * 1024;

/// A root: the keys that sign trust statements, and how many of them must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootSet {
    /// minisign public keys, base64 (`RW…`).
    pub keys: Vec<String>,
    /// How many distinct keys of `keys` must sign (1 ≤ threshold ≤ keys).
    pub threshold: u32,
}

impl RootSet {
    /// Checks the set: 1 to [`MAX_KEYS`] valid, distinct keys and a threshold they can meet.
    pub fn validate(&self) -> Result<(), TrustError> {
        validate_keys(&self.keys, "root")?;
        if self.threshold == 0 || self.threshold as usize > self.keys.len() {
            return Err(TrustError::Invalid(format!(
                "root threshold {} must be between 1 and the number of root keys ({})",
                self.threshold,
                self.keys.len()
            )));
        }
        Ok(())
    }

    /// Whether two roots are the same set of keys with the same threshold (order does not matter).
    fn same_as(&self, other: &RootSet) -> bool {
        self.threshold == other.threshold && same_keys(&self.keys, &other.keys)
    }
}

/// The signed content of one trust statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`]: a feed or other signed JSON can never pass for a statement.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`TRUST_FORMAT`].
    pub format: u32,
    /// The app it speaks for; a client refuses a statement for another app.
    pub name: String,
    /// 1, 2, 3, …: consecutive.
    pub version: u64,
    /// Seconds since the Unix epoch when it was written.
    pub published: u64,
    /// Seconds since the Unix epoch after which a client trusts no release until a newer
    /// statement arrives (a frozen mirror cannot keep serving a chain whose keys were revoked).
    pub expires: u64,
    /// The root from this version on.
    pub root: RootSet,
    /// The keys that sign feeds and artifacts from this version on; a key left out is revoked.
    pub release_keys: Vec<String>,
}

impl Statement {
    /// Parses and checks a body (bounded; never panics).
    pub fn from_body(body: &str) -> Result<Self, TrustError> {
        if body.len() > MAX_BODY_LEN {
            return Err(TrustError::Invalid(format!(
                "a statement body is {} bytes, more than the {MAX_BODY_LEN} allowed",
                body.len()
            )));
        }
        let statement: Statement =
            serde_json::from_str(body).map_err(|e| TrustError::Invalid(format!("statement body: {e}")))?;
        statement.validate()?;
        Ok(statement)
    }

    /// Checks every field that does not depend on the chain.
    pub fn validate(&self) -> Result<(), TrustError> {
        if self.kind != STATEMENT_TYPE {
            return Err(TrustError::Invalid(format!("type is '{}', not '{STATEMENT_TYPE}'", self.kind)));
        }
        if self.format != TRUST_FORMAT {
            return Err(TrustError::Invalid(format!(
                "statement format {} (this launcher reads format {TRUST_FORMAT})",
                self.format
            )));
        }
        if self.version == 0 {
            return Err(TrustError::Invalid("statement version 0 (versions start at 1)".into()));
        }
        self.root.validate()?;
        validate_keys(&self.release_keys, "release")?;
        Ok(())
    }

    /// The body text a publisher signs: compact JSON of the fields in declaration order.
    pub fn to_body(&self) -> String {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A statement body with its signatures, as the trust file carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    /// The exact signed bytes: a [`Statement`] as JSON text.
    pub body: String,
    /// minisign signatures (the text of `.minisig` files) of `body`, by root keys.
    pub signatures: Vec<String>,
}

/// `trust.json`: the chain, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFile {
    /// [`TRUST_FORMAT`].
    pub format: u32,
    /// Every statement ever written, oldest first, versions consecutive.
    pub statements: Vec<SignedStatement>,
}

impl TrustFile {
    /// Parses a trust file (bounded: size, statement count and signature count are checked
    /// before any signature is).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TrustError> {
        if bytes.len() as u64 > MAX_TRUST_LEN {
            return Err(TrustError::Invalid(format!(
                "the trust file is {} bytes, more than the {MAX_TRUST_LEN} allowed",
                bytes.len()
            )));
        }
        let file: TrustFile =
            serde_json::from_slice(bytes).map_err(|e| TrustError::Invalid(format!("trust file: {e}")))?;
        if file.format != TRUST_FORMAT {
            return Err(TrustError::Invalid(format!(
                "trust file format {} (this launcher reads format {TRUST_FORMAT})",
                file.format
            )));
        }
        if file.statements.len() > MAX_STATEMENTS {
            return Err(TrustError::Invalid(format!(
                "the chain has {} statements, more than the {MAX_STATEMENTS} allowed",
                file.statements.len()
            )));
        }
        if let Some(s) = file.statements.iter().find(|s| s.signatures.len() > MAX_SIGNATURES) {
            return Err(TrustError::Invalid(format!(
                "a statement carries {} signatures, more than the {MAX_SIGNATURES} allowed",
                s.signatures.len()
            )));
        }
        Ok(file)
    }

    /// Pretty JSON, newline-terminated, as the packer writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The newest statement, parsed.
    pub fn newest(&self) -> Result<Option<Statement>, TrustError> {
        self.statements.last().map(|s| Statement::from_body(&s.body)).transpose()
    }
}

/// What a client trusts now: its baked-in root (version 0) or the newest statement it verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    /// 0 for the baked-in root, else the statement's version.
    pub version: u64,
    /// The root that must sign the next statement.
    pub root: RootSet,
    /// Keys whose signatures on feeds and artifacts are accepted (the root keys at version 0).
    pub release_keys: Vec<String>,
    /// The statement's expiry (none for the baked-in root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// SHA-256 of the statement's body, to recognise a forked chain at the same version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

/// The result of walking a chain forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advanced {
    /// What is trusted now (unchanged when the chain held nothing newer).
    pub trusted: Trusted,
    /// Release keys trusted before and not any more: whatever they vouched for (a rollback floor,
    /// a feed sequence) must be forgotten (fast-forward recovery).
    pub revoked: Vec<String>,
    /// Whether the root changed along the way.
    pub root_changed: bool,
}

impl Advanced {
    /// Whether anything changed.
    pub fn changed(&self, before: &Trusted) -> bool {
        self.trusted.version != before.version
    }
}

impl Trusted {
    /// The state of a binary that has seen no statement: its baked-in root signs releases itself.
    pub fn from_root(root: RootSet) -> Result<Self, TrustError> {
        root.validate()?;
        Ok(Self { version: 0, release_keys: root.keys.clone(), root, expires: None, body_sha256: None })
    }

    /// The starting state of a binary built with root `root` and the embedded chain `file`: the
    /// baked-in root (version 0) when the chain starts from it; else — a binary built after a
    /// root rotation bakes in the new root — the earliest statement that names exactly `root`,
    /// checked against `root`'s threshold (every statement naming a root is signed by it: as
    /// the current root, or as the new one of a rotation). TUF's rule: a client ships with a
    /// recent root and trusts from there. The caller walks `file` forward from the result.
    pub fn anchor(root: RootSet, file: &TrustFile, name: &str) -> Result<Self, TrustError> {
        let baked = Self::from_root(root)?;
        for signed in &file.statements {
            let statement = Statement::from_body(&signed.body)?;
            if statement.version == 1 && statement.root.same_as(&baked.root) {
                return Ok(baked);
            }
            if !statement.root.same_as(&baked.root) {
                continue;
            }
            if statement.name != name {
                return Err(TrustError::OtherApp { expected: name.to_owned(), found: statement.name });
            }
            count_signatures(&signed.body, &signed.signatures, &baked.root, statement.version, "baked-in")?;
            return Ok(Self {
                version: statement.version,
                root: statement.root,
                release_keys: statement.release_keys,
                expires: Some(statement.expires),
                body_sha256: Some(crate::digest::sha256_hex(signed.body.as_bytes())),
            });
        }
        Ok(baked)
    }

    /// Walks `file` forward from this state. See the module docs for the rules. The result may
    /// be expired: the caller stores it (revocations count at once) and checks
    /// [`Trusted::check_fresh`] before it trusts a release.
    pub fn advance(&self, file: &TrustFile, name: &str) -> Result<Advanced, TrustError> {
        let mut current = self.clone();
        let mut root_changed = false;
        let Some(first) = file.statements.first() else {
            return if self.version > 0 {
                Err(TrustError::Replayed { trusted: self.version, offered: 0 })
            } else {
                Ok(Advanced { trusted: current, revoked: Vec::new(), root_changed })
            };
        };
        let first_version = Statement::from_body(&first.body)?.version;
        let newest_version = first_version.saturating_add(file.statements.len() as u64 - 1);
        if newest_version < self.version {
            return Err(TrustError::Replayed { trusted: self.version, offered: newest_version });
        }
        if first_version > self.version.saturating_add(1) {
            return Err(TrustError::Gap { trusted: self.version, first: first_version });
        }
        for (i, signed) in file.statements.iter().enumerate() {
            let statement = Statement::from_body(&signed.body)?;
            let expected = first_version + i as u64;
            if statement.version != expected {
                return Err(TrustError::Invalid(format!(
                    "statement {} of the chain has version {}, expected {expected}: versions must be consecutive",
                    i + 1,
                    statement.version
                )));
            }
            if statement.name != name {
                return Err(TrustError::OtherApp { expected: name.to_owned(), found: statement.name });
            }
            let digest = crate::digest::sha256_hex(signed.body.as_bytes());
            if statement.version < current.version {
                continue;
            }
            if statement.version == current.version {
                // The one already trusted (version 0 has no body to compare).
                if current.body_sha256.as_deref().is_some_and(|d| d != digest) {
                    return Err(TrustError::Forked { version: statement.version });
                }
                continue;
            }
            count_signatures(&signed.body, &signed.signatures, &current.root, statement.version, "current")?;
            if !statement.root.same_as(&current.root) {
                count_signatures(&signed.body, &signed.signatures, &statement.root, statement.version, "new")?;
                root_changed = true;
            }
            current = Trusted {
                version: statement.version,
                root: statement.root,
                release_keys: statement.release_keys,
                expires: Some(statement.expires),
                body_sha256: Some(digest),
            };
        }
        let revoked = self.release_keys.iter().filter(|k| !contains_key(&current.release_keys, k)).cloned().collect();
        Ok(Advanced { trusted: current, revoked, root_changed })
    }

    /// Refuses a statement whose expiry has passed at `now` (seconds since the epoch).
    pub fn check_fresh(&self, now: u64) -> Result<(), TrustError> {
        match self.expires {
            Some(expires) if expires <= now => Err(TrustError::Expired { version: self.version, expires }),
            _ => Ok(()),
        }
    }

    /// Verifies a feed's or an artifact's signature with the release keys; returns the key that
    /// signed it (the caller records it beside what that signature vouched for).
    pub fn verify_release(&self, data: &[u8], signature_text: &str) -> Result<String, TrustError> {
        let mut last = SignatureError::OtherKey;
        for key in &self.release_keys {
            match signature::verify(data, signature_text, key) {
                Ok(_) => return Ok(key.clone()),
                Err(SignatureError::OtherKey) => {}
                Err(e) => last = e,
            }
        }
        Err(match last {
            SignatureError::OtherKey => TrustError::NotTrusted { version: self.version },
            e => TrustError::Signature(e),
        })
    }

    /// Whether `key` is a release key now.
    pub fn trusts(&self, key: &str) -> bool {
        contains_key(&self.release_keys, key)
    }
}

/// Why a trust statement or chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// Not a well-formed trust file or statement.
    #[error("invalid trust statement: {0}")]
    Invalid(String),
    /// The statement is for another app.
    #[error("the trust statement is for '{found}', not '{expected}'")]
    OtherApp {
        /// This app.
        expected: String,
        /// The statement's.
        found: String,
    },
    /// Fewer valid signatures than the threshold.
    #[error(
        "trust statement {version} is signed by {valid} of the {set} root's keys, {threshold} needed: \
         refused (below threshold)"
    )]
    BelowThreshold {
        /// The statement's version.
        version: u64,
        /// "current" or "new".
        set: &'static str,
        /// Distinct keys of that set whose signatures verified.
        valid: u32,
        /// The set's threshold.
        threshold: u32,
    },
    /// Older than the statement already trusted: a replay (a stale or hostile mirror).
    #[error(
        "the trust statements offered end at version {offered}, older than version {trusted} already trusted: a replayed statement, refused"
    )]
    Replayed {
        /// The version trusted.
        trusted: u64,
        /// The newest version offered.
        offered: u64,
    },
    /// The chain starts after the trusted version + 1: a link is missing.
    #[error(
        "the trust chain starts at version {first} but version {trusted} is the newest trusted: the versions between are missing"
    )]
    Gap {
        /// The version trusted.
        trusted: u64,
        /// The chain's first version.
        first: u64,
    },
    /// Another statement with the version already trusted.
    #[error("trust statement {version} differs from the one already trusted at that version: a forked chain, refused")]
    Forked {
        /// The version.
        version: u64,
    },
    /// The newest statement has expired.
    #[error("trust statement {version} expired on {} (UTC)", crate::time::utc_date(*expires))]
    Expired {
        /// Its version.
        version: u64,
        /// Its expiry, seconds since the epoch.
        expires: u64,
    },
    /// Signed by no key the newest statement trusts.
    #[error("signed by a key that trust statement {version} does not trust (revoked, or never a release key)")]
    NotTrusted {
        /// The version trusted (0: the baked-in root keys).
        version: u64,
    },
    /// A signature that is itself malformed or does not match.
    #[error("{0}")]
    Signature(SignatureError),
}

/// Counts distinct keys of `set` with a valid signature over `body`; fails below the threshold.
fn count_signatures(
    body: &str,
    signatures: &[String],
    set: &RootSet,
    version: u64,
    which: &'static str,
) -> Result<(), TrustError> {
    let valid = set
        .keys
        .iter()
        .filter(|key| signatures.iter().any(|sig| signature::verify(body.as_bytes(), sig, key).is_ok()))
        .count() as u32;
    if valid < set.threshold {
        return Err(TrustError::BelowThreshold { version, set: which, valid, threshold: set.threshold });
    }
    Ok(())
}

/// 1 to [`MAX_KEYS`] valid, distinct minisign keys.
fn validate_keys(keys: &[String], what: &str) -> Result<(), TrustError> {
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(TrustError::Invalid(format!("{} {what} keys: between 1 and {MAX_KEYS} are allowed", keys.len())));
    }
    for (i, key) in keys.iter().enumerate() {
        signature::parse_public_key(key).map_err(|e| TrustError::Invalid(format!("{what} key {}: {e}", i + 1)))?;
        if keys[..i].iter().any(|k| k.trim() == key.trim()) {
            return Err(TrustError::Invalid(format!("{what} key {} is listed twice", key.trim())));
        }
    }
    Ok(())
}

fn contains_key(keys: &[String], key: &str) -> bool {
    keys.iter().any(|k| k.trim() == key.trim())
}

fn same_keys(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|k| contains_key(b, k))
}

#[cfg(test)]
mod tests;
