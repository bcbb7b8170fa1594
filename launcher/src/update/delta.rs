//! Delta updates: building the new release's tree from a tree this client already has.
//!
//! # Implementation
//! Tried before the full artifact, only when the release needs no newer launcher (a
//! self-replacement needs the full artifact) and the feed lists a delta whose base — version and
//! payload SHA-256 — is a complete tree in `<cache>/pkg/<platform>/` (the bundled payload's, or an
//! earlier update's). Under that tree's shared usage lock (clean-up cannot remove it meanwhile):
//!
//! 1. download the delta like any artifact (resuming; size, SHA-256 and minisign signature from
//!    the signed feed checked before a byte of it is read);
//! 2. read the base tree's `.sea/index.json` and check it against the base manifest's digest;
//! 3. open the delta ([`sea_payload::delta`]): its base must be that tree, its new index must match
//!    the digest in the new manifest it carries, and that manifest must be signed by our key and
//!    name this app, platform, version and launcher requirement — the checks a full artifact gets;
//! 4. install with [`extract::ensure_tree`], the full artifact's code path: a temporary sibling,
//!    every reused base file checked against the base index, every output file against the new
//!    index, the payload's safe-unpack rules, durable, renamed into place.
//!
//! A delta the feed lists as no smaller than the full artifact is not downloaded. Any failure —
//! no delta, 404, bad signature, corrupt or truncated delta, damaged base file, wrong output,
//! disk full — is logged (and said, interactively) and the caller downloads the
//! full artifact; nothing of the delta is left in place.

use std::fs;
use std::path::Path;

use sea_payload::delta::{Delta, DeltaError};
use sea_payload::feed::{DeltaArtifact, Release};
use sea_payload::index::Index;
use sea_payload::manifest::tree_id;
use sea_payload::unpack::UnpackOptions;
use sea_payload::{Manifest, digest};
use semver::Version;

use super::{UpdateError, Updater};
use crate::start::extract::{ExtractError, ExtractOptions, TreeSource};
use crate::start::lock::{self, Mode};
use crate::start::repair;
use crate::start::tree::{self, TreePaths};
use sea_payload::trust::Trusted;

/// Largest base index read from disk.
const MAX_INDEX_LEN: u64 = sea_payload::delta::MAX_INDEX_LEN;

/// What trying a delta did.
#[derive(Debug)]
pub(super) struct Tried {
    /// When the release was installed from a delta: the base version, the new tree's id and the
    /// release key that signed its manifest.
    pub(super) installed_from: Option<(Version, String, String)>,
    /// Bytes of delta downloaded (also when it then failed).
    pub(super) downloaded: u64,
}

/// Why a delta was not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Delta(#[from] DeltaError),
    #[error("{0}")]
    Wrong(String),
}

/// Installs `release` from a delta if one applies; never fails (the caller falls back).
pub(super) async fn try_install(
    updater: &Updater<'_>,
    client: &reqwest::Client,
    release: &Release,
    trusted: &Trusted,
) -> Tried {
    let none = Tried { installed_from: None, downloaded: 0 };
    if release.deltas.is_empty() {
        return none;
    }
    if release.min_launcher > updater.app.launcher_version {
        tracing::info!(version = %release.version, "not using a delta: the release needs a newer launcher");
        return none;
    }
    let Some((delta, base)) = find_base(updater, release) else {
        tracing::info!(version = %release.version, "not using a delta: no installed tree is the base of one");
        return none;
    };
    // A delta is worth it only when smaller than the full artifact; a larger one (a publisher's
    // mistake, or a signed feed pointing at something else) is not downloaded at all.
    if delta.artifact.size >= release.payload.size {
        let why = format!(
            "it is {} bytes, not smaller than the full artifact's {} bytes",
            delta.artifact.size, release.payload.size
        );
        report(updater, &delta.from, &why);
        return none;
    }
    let label = format!("{} {} (delta from {})", updater.app.name(), release.version, delta.from);
    let _usage = match lock::acquire(&base.0.lock, Mode::Shared, repair::CLEANUP_WAIT, "cleaning up", &mut || {}) {
        Ok(l) => l,
        Err(e) => {
            report(updater, &delta.from, &e.to_string());
            return none;
        }
    };
    let path = match updater.fetch(client, &delta.artifact, &label, trusted).await {
        Ok(p) => p,
        Err(e) => {
            report(updater, &delta.from, &e.to_string());
            return none;
        }
    };
    let applied = apply(updater, release, delta, &base.0, &base.1, &path, trusted);
    let _ = fs::remove_file(&path);
    match applied {
        Ok((tree_id, signer)) => {
            tracing::info!(version = %release.version, from = %delta.from, bytes = delta.artifact.size, "installed from a delta");
            Tried { installed_from: Some((delta.from.clone(), tree_id, signer)), downloaded: delta.artifact.size }
        }
        Err(e) => {
            report(updater, &delta.from, &e.to_string());
            Tried { installed_from: None, downloaded: delta.artifact.size }
        }
    }
}

fn report(updater: &Updater<'_>, from: &Version, why: &str) {
    tracing::warn!(from = %from, error = %why, "the delta could not be used; downloading the full release");
    if updater.interactive {
        crate::say::say!(
            "{}: the delta from {from} could not be used ({why}); downloading the full release",
            updater.app.name()
        );
    }
}

/// The first delta whose base is a complete tree here, with that tree and its manifest.
fn find_base<'r>(updater: &Updater<'_>, release: &'r Release) -> Option<(&'r DeltaArtifact, (TreePaths, Manifest))> {
    let ours = updater.app.manifest();
    release.deltas.iter().find_map(|d| {
        let tree = TreePaths::new(&updater.app.dirs.pkg, &tree_id(&d.from, &d.base_sha256));
        let (manifest, len) = tree::read_manifest(&tree.dir).ok()?;
        let usable = manifest.payload.sha256.eq_ignore_ascii_case(&d.base_sha256)
            && manifest.version == d.from
            && manifest.name == ours.name
            && manifest.platform == ours.platform
            && tree::quick_check(&tree.dir, &manifest, len).is_ok();
        usable.then_some((d, (tree, manifest)))
    })
}

fn apply(
    updater: &Updater<'_>,
    release: &Release,
    d: &DeltaArtifact,
    base: &TreePaths,
    base_manifest: &Manifest,
    path: &Path,
    trusted: &Trusted,
) -> Result<(String, String), Unusable> {
    let index_path = base.dir.join(tree::INDEX);
    let base_index_bytes = tree::read_small(&index_path, MAX_INDEX_LEN)
        .map_err(|e| Unusable::Wrong(format!("could not read the base index {}: {e}", index_path.display())))?;
    if digest::sha256_hex(&base_index_bytes) != base_manifest.index.sha256 {
        return Err(Unusable::Wrong(format!("the base index {} is damaged", index_path.display())));
    }
    let base_index = Index::from_bytes(&base_index_bytes)
        .map_err(|e| Unusable::Wrong(format!("the base index {} does not parse: {e}", index_path.display())))?;
    let delta = Delta::open(path, &base_index_bytes)?;
    let h = delta.header();
    if h.base_version != d.from || !h.base_payload_sha256.eq_ignore_ascii_case(&d.base_sha256) {
        return Err(Unusable::Wrong(format!("the delta is from {}, the feed says from {}", h.base_version, d.from)));
    }
    // The manifest it carries must be signed by a release key trusted now, as a full download's.
    let signer = DeltaSource::signer(&delta, trusted)?;
    let m = delta.manifest();
    let ours = updater.app.manifest();
    if m.name != ours.name
        || m.platform != ours.platform
        || m.version != release.version
        || m.min_launcher != release.min_launcher
    {
        return Err(Unusable::Wrong(format!(
            "the delta builds {} {} for {}, not the release the feed describes",
            m.name, m.version, m.platform
        )));
    }
    let dirs = &updater.app.dirs;
    let tree = TreePaths::new(&dirs.pkg, &m.tree_id());
    let options = ExtractOptions {
        app: updater.app.name(),
        trusted: Some(trusted),
        mark_update: true,
        progress: updater.interactive,
        defer_flush: false,
    };
    let source = DeltaSource { delta: &delta, base_dir: &base.dir, base_index: &base_index };
    repair::ensure_tree_in_use(&source, &tree, dirs, &options)?;
    Ok((m.tree_id(), signer))
}

/// A delta and its base tree, as a source of the new tree.
struct DeltaSource<'a> {
    delta: &'a Delta,
    base_dir: &'a Path,
    base_index: &'a Index,
}

impl DeltaSource<'_> {
    /// The trusted release key that signed the manifest the delta carries.
    fn signer(delta: &Delta, trusted: &Trusted) -> Result<String, ExtractError> {
        let sig = delta.header().signature.as_deref().ok_or(ExtractError::Delta(DeltaError::Signature(
            sea_payload::signature::SignatureError::BadSignature("the delta's manifest is unsigned".into()),
        )))?;
        trusted.verify_release(delta.manifest_bytes(), sig).map_err(|e| {
            ExtractError::Delta(DeltaError::Signature(match e {
                sea_payload::trust::TrustError::Signature(e) => e,
                _ => sea_payload::signature::SignatureError::OtherKey,
            }))
        })
    }
}

impl TreeSource for DeltaSource<'_> {
    fn manifest(&self) -> &Manifest {
        self.delta.manifest()
    }

    fn manifest_bytes(&self) -> &[u8] {
        self.delta.manifest_bytes()
    }

    fn check_trusted(&self, trusted: Option<&Trusted>) -> Result<Option<String>, ExtractError> {
        match trusted {
            Some(trusted) => DeltaSource::signer(self.delta, trusted).map(Some),
            None => Ok(None),
        }
    }

    fn unpack_to(&self, dest: &Path, options: &UnpackOptions<'_>, _cache_var: &str) -> Result<Vec<u8>, ExtractError> {
        // The delta carries the new index, pinned by the manifest's digest ([`Delta::open`]),
        // and every file it writes was checked against it.
        self.delta.unpack_to(self.base_dir, self.base_index, dest, options).map_err(ExtractError::Delta)?;
        Ok(self.delta.index_bytes().to_vec())
    }
}
