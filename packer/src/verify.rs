//! `sea-pack verify`, and the integrity checks that `inspect`, `extract` and `release` share.
//!
//! # What is checked
//! 1. the trailer (magic, own checksum, section lengths against the file size) and the manifest
//!    (SHA-256 from the trailer, then parsed and validated) — [`Package::open_with`], which also
//!    finds the package inside a code-signed Mach-O or PE file;
//! 2. the whole payload against its SHA-256; then ([`Depth::Full`]) the payload is decoded and
//!    its index rebuilt from the content (every file hashed), which must be the one whose digest
//!    the manifest pins, with the manifest's totals. A package does not ship its index (format 2),
//!    so this is what authenticates every file against the signed manifest, independently of the
//!    payload digest; a format 1 package's index section is checked against the digest as well;
//! 3. the signature over the manifest bytes (which carry both digests, so it covers everything
//!    but the stub): with `--public-key`, a signature by that key is required; without, a
//!    signed binary is checked against the key baked into it. A binary with a baked-in key but no
//!    signature is an error too, because its launcher refuses to run an unsigned payload.
//!
//! The first failure is reported in one line naming the file and what is wrong.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use sea_payload::Package;
use sea_payload::index::Index;
use sea_payload::package::{PackageErrorKind, Search, SignatureStatus};
use sea_payload::signature::SignatureError;

use crate::cli::VerifyArgs;
use crate::sign;

/// Where the key a signature was checked with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `--public-key`.
    Given,
    /// The manifest's `update.public_key`.
    BakedIn,
}

/// What is known about a package's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signature {
    /// No signature, and no key that wants one.
    Unsigned,
    /// A signature, but no key to check it with.
    Unverified,
    /// No signature, although the binary trusts a key: its launcher will refuse the payload.
    Missing { key: String },
    /// Checked.
    Verified { key: String, source: KeySource, trusted_comment: String },
}

/// How much of a package to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Trailer, manifest, payload digest, signature (and a format 1 index section).
    Digests,
    /// Also rebuild the index from the decoded payload and compare it with the manifest's.
    Full,
}

/// A package whose digests were checked.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The package.
    pub(crate) package: Package,
    /// Its index, when rebuilt ([`Depth::Full`]).
    pub(crate) index: Option<Index>,
    /// Its signature.
    pub(crate) signature: Signature,
}

impl Checked {
    /// Fails unless the signature is acceptable to the binary's own launcher.
    pub(crate) fn require_acceptable(&self) -> Result<()> {
        if let Signature::Missing { key } = &self.signature {
            bail!(
                "{}: the payload is not signed, but the binary trusts the public key {key}, so its launcher \
                 refuses to run it; rebuild with --sign-key",
                self.package.path().display()
            );
        }
        Ok(())
    }
}

/// Opens `path` and checks its digests and signature (see the module docs); `public_key` is a
/// `--public-key` value.
pub(crate) fn check(path: &Path, public_key: Option<&str>, depth: Depth) -> Result<Checked> {
    // Every platform's executables, signed or not: a Mach-O or PE file is read on Linux too.
    let package = Package::open_with(path, Search::Containers)?;
    package.verify_payload()?;
    if package.has_index_section() {
        let section = Index::from_bytes(&package.index_section()?)
            .with_context(|| format!("{}: the index section is not valid JSON", package.path().display()))?;
        check_index(&package, &section)?;
    }
    let index = match depth {
        Depth::Digests => None,
        Depth::Full => {
            let (index, _) = package.reconstruct_index()?;
            check_index(&package, &index)?;
            Some(index)
        }
    };
    let given = public_key.map(sign::resolve_public_key).transpose()?;
    let signature = check_signature(&package, given.as_deref())?;
    Ok(Checked { package, index, signature })
}

/// The index must describe what the manifest declares.
fn check_index(package: &Package, index: &Index) -> Result<()> {
    let manifest = package.manifest();
    if index.entries.len() as u64 != manifest.entries || index.unpacked_size() != manifest.unpacked_size {
        bail!(
            "{}: the index lists {} entries of {} bytes but the manifest declares {} of {}: the file is corrupt",
            package.path().display(),
            index.entries.len(),
            index.unpacked_size(),
            manifest.entries,
            manifest.unpacked_size
        );
    }
    Ok(())
}

fn check_signature(package: &Package, given: Option<&str>) -> Result<Signature> {
    let manifest = package.manifest();
    // What the binary's own launcher trusts: its root keys, or the newest embedded statement's
    // release keys.
    let trusted = manifest
        .update
        .trusted(&manifest.name)
        .map_err(|e| anyhow!("{}: the embedded trust chain: {e}", package.path().display()))?
        .map(|a| a.trusted);
    if let (Some(given), Some(trusted)) = (given, &trusted)
        && !trusted.trusts(given)
    {
        bail!(
            "{}: --public-key {given} is not a key the binary trusts ({}), and its launcher checks its \
             payload with those",
            package.path().display(),
            trusted.release_keys.join(", ")
        );
    }
    let (keys, source) = match (given, &trusted) {
        (Some(key), _) => (vec![key.to_owned()], KeySource::Given),
        (None, Some(t)) if package.signature().is_some() => (t.release_keys.clone(), KeySource::BakedIn),
        (None, Some(t)) => return Ok(Signature::Missing { key: t.release_keys.join(", ") }),
        (None, None) if package.signature().is_some() => return Ok(Signature::Unverified),
        (None, None) => return Ok(Signature::Unsigned),
    };
    // The key whose id the signature names, else the first (its error then says "another key").
    let mut result = None;
    for key in &keys {
        match package.check_signature(Some(key)) {
            Err(e) if matches!(&*e.kind, PackageErrorKind::Signature(SignatureError::OtherKey)) => {
                result.get_or_insert((key.clone(), Err(e)));
            }
            other => {
                result = Some((key.clone(), other));
                break;
            }
        }
    }
    let Some((key, result)) = result else { bail!("{}: no key to check the signature with", package.path().display()) };
    let all = keys.join(", ");
    match result {
        Ok(SignatureStatus::Verified(trusted_comment)) => Ok(Signature::Verified { key, source, trusted_comment }),
        Ok(_) => Err(anyhow!("{}: the signature was not checked", package.path().display())),
        Err(e) => Err(match source {
            KeySource::Given => anyhow!("{e} (checked with --public-key {key})"),
            KeySource::BakedIn => anyhow!("{e} (checked with the public keys the binary trusts, {all})"),
        }),
    }
}

/// Runs `verify`: prints what was checked on `out`.
pub(crate) fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<()> {
    let checked = check(&args.binary, args.public_key.as_deref(), Depth::Full)?;
    checked.require_acceptable()?;
    report(&checked, out).context("could not write to stdout")
}

fn report(checked: &Checked, out: &mut dyn Write) -> std::io::Result<()> {
    let package = &checked.package;
    let manifest = package.manifest();
    writeln!(
        out,
        "ok  trailer and manifest (sha256 {})",
        sea_payload::digest::to_hex(&package.trailer().manifest_sha256)
    )?;
    writeln!(out, "ok  payload: {} bytes, sha256 {}", manifest.payload.size, manifest.payload.sha256)?;
    let entries = checked.index.as_ref().map_or(0, |i| i.entries.len());
    let how = if package.has_index_section() { "shipped and rebuilt" } else { "rebuilt from the payload" };
    writeln!(out, "ok  index ({how}): {entries} entries, sha256 {}", manifest.index.sha256)?;
    match &checked.signature {
        Signature::Verified { key, source, trusted_comment } => {
            let whose = match source {
                KeySource::Given => "--public-key",
                KeySource::BakedIn => "the baked-in public key",
            };
            writeln!(out, "ok  signature by {whose} {key} (trusted comment: {trusted_comment})")?;
        }
        Signature::Unverified => {
            writeln!(out, "--  signature present but not checked: no key baked in; pass --public-key to check it")?
        }
        Signature::Unsigned => writeln!(out, "--  not signed")?,
        Signature::Missing { .. } => {}
    }
    writeln!(
        out,
        "verified {}: {} {} ({})",
        package.path().display(),
        manifest.name,
        manifest.version,
        manifest.platform
    )
}
