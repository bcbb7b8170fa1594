//! The client's half of the trust chain: what this install trusts, kept in the home, walked
//! forward from the statements the publisher serves next to the feed.
//!
//! # Implementation
//! What is trusted starts from the root baked into the binary (`update.public_key`, or
//! `update.root_keys` with `update.threshold`), walked through the chain embedded at build time
//! (`build --trust`), and then through `<home>/trust.json` — the highest statement this install
//! ever verified, written atomically 0600 like `update.json` — whichever is newer ([`load`]).
//! Before every update ([`refresh`]) the client fetches `<feed dir>/trust.json`, walks it from
//! there with [`Trusted::advance`] (consecutive versions, each signed by M keys of the root before
//! it, and of the new root when it changes; an older chain is a replay and refused), stores the
//! result, and forgets what keys no longer trusted had vouched for ([`UpdateState::forget_untrusted`]:
//! the rollback floors they raised — fast-forward recovery — and the installed trees they signed,
//! which stop being candidates). Only then is the feed, every artifact and the package inside
//! checked with [`Trusted::verify_release`], after [`Trusted::check_fresh`].
//!
//! A 404 for `trust.json` means the publisher has written no statement (or serves a one-key
//! release directory): what is trusted stays as it is. Anything else that fails — a network
//! error, malformed, oversized, replayed, forked, below threshold, endless — stops the update with
//! an error naming what was wrong; nothing is stored and nothing installed.
//!
//! The bundled payload's signature at cold start is checked with [`for_payload`]: the same state,
//! read-only, never failing (a broken stored state falls back to the embedded chain, then the
//! root), and never checking expiry: the app always runs what it has.
//!
//! # Alternatives
//! Storing only the version number would force a re-walk from the embedded chain at every check
//! and lose revocations seen by a newer binary sharing the home; the verified state is ~1 KB.
//!
//! # Limitations
//! A stored state is trusted as much as the rest of the home (`update.json`): it is the user's
//! own 0700 directory. Trees installed and floors raised before trust statements existed record
//! no signer and are kept (they were signed by the one baked-in key).

use std::path::{Path, PathBuf};

use sea_payload::Manifest;
use sea_payload::trust::{TRUST_FILE, TrustError, TrustFile, Trusted};
use serde::{Deserialize, Serialize};

use super::UpdateError;
use crate::app::App;
use crate::start::state::UpdateState;

/// The stored state's format.
const STATE_FORMAT: u32 = 1;

/// `<home>/trust.json`.
pub(crate) fn path(home: &Path) -> PathBuf {
    home.join(TRUST_FILE)
}

/// `<home>/trust.json`: the newest statement this install verified, for this app.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    format: u32,
    name: String,
    trusted: Trusted,
}

/// What one walk changed: the state now trusted and the release keys it stopped trusting.
#[derive(Debug, Clone)]
pub(crate) struct Refreshed {
    /// Trusted now.
    pub(crate) trusted: Trusted,
    /// Release keys trusted before the walk and not after it: whatever they vouched for is
    /// forgotten ([`UpdateState::forget_untrusted`] does it for every record kept per key).
    pub(crate) revoked: Vec<String>,
}

/// What this install trusts now, without the network: the baked-in root walked through the
/// embedded chain, or the stored state when it is newer. `Ok(None)`: the build trusts no key.
pub(crate) fn load(manifest: &Manifest, home: &Path) -> Result<Option<Trusted>, TrustError> {
    let Some(embedded) = manifest.update.trusted(&manifest.name)? else { return Ok(None) };
    let embedded = embedded.trusted;
    let Some(stored) = read_stored(home, &manifest.name) else { return Ok(Some(embedded)) };
    if stored.version >= embedded.version {
        return Ok(Some(stored));
    }
    // The binary carries a newer chain than the home: walk it from the stored state, so a fork
    // between the two is noticed.
    match manifest.update.trust_file()? {
        Some(file) => stored.advance(&file, &manifest.name).map(|a| Some(a.trusted)),
        None => Ok(Some(embedded)),
    }
}

/// The keys the bundled payload's signature is checked with at start: the release keys of the
/// binary's own embedded state and of the stored one together. The bundled payload is what the
/// user installed: a revocation learnt later stops updates signed by the key, not the binary in
/// hand (the build checked its signer against its own chain). Never fails, never checks expiry.
pub(crate) fn for_payload(manifest: &Manifest, home: &Path) -> Option<Trusted> {
    let own = manifest.update.trusted(&manifest.name);
    let own = match own {
        Ok(own) => own.map(|a| a.trusted),
        Err(e) => {
            tracing::warn!(error = %e, "the embedded trust chain is unusable; checking with the baked-in root");
            manifest.update.root().and_then(|r| Trusted::from_root(r).ok())
        }
    };
    let mut trusted = own?;
    match load(manifest, home) {
        Ok(Some(stored)) => {
            for key in stored.release_keys {
                if !trusted.trusts(&key) {
                    trusted.release_keys.push(key);
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "the stored trust state is unusable; checking with the embedded one"),
    }
    Some(trusted)
}

fn read_stored(home: &Path, name: &str) -> Option<Trusted> {
    let bytes = sea_payload::bounded::read(&path(home), 2 * sea_payload::trust::MAX_TRUST_LEN).ok()?;
    match serde_json::from_slice::<Stored>(&bytes) {
        Ok(stored)
            if stored.format == STATE_FORMAT && stored.name == name && stored.trusted.root.validate().is_ok() =>
        {
            Some(stored.trusted)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(path = %path(home).display(), error = %e, "ignoring a malformed stored trust state");
            None
        }
    }
}

fn save(home: &Path, name: &str, trusted: &Trusted) -> std::io::Result<()> {
    let stored = Stored { format: STATE_FORMAT, name: name.to_owned(), trusted: trusted.clone() };
    let bytes = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
    crate::private::write(&path(home), &bytes)
}

/// `<feed dir>/trust.json` for a feed URL `…/<channel>.json`.
pub(crate) fn url_for(feed_url: &str) -> String {
    match feed_url.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{TRUST_FILE}"),
        None => TRUST_FILE.to_owned(),
    }
}

/// Walks the chain served at `url` (`None`: a 404, no statement published) from `before`,
/// stores the result, and forgets in `state` what revoked keys vouched for (the caller saves
/// `state`). Nothing is stored when the chain is refused.
pub(crate) fn refresh(
    app: &App,
    before: Trusted,
    served: Option<&[u8]>,
    url: &str,
    state: &mut UpdateState,
) -> Result<Refreshed, UpdateError> {
    let refused = |source| UpdateError::Trust { url: url.to_owned(), source };
    let trusted = match served {
        None => before.clone(),
        Some(bytes) => {
            let file = TrustFile::from_bytes(bytes).map_err(refused)?;
            let walked = before.advance(&file, app.name()).map_err(refused)?;
            // Stored whenever it verifies (also when the walk started from a newer embedded chain
            // than the home held): a later walk starts here, and an older chain is a replay.
            save(&app.dirs.home, app.name(), &walked.trusted).map_err(|e| UpdateError::Io {
                what: "write",
                path: path(&app.dirs.home),
                source: e,
            })?;
            tracing::info!(version = walked.trusted.version, "trust statement verified and stored");
            walked.trusted
        }
    };
    let revoked: Vec<String> = before.release_keys.iter().filter(|k| !trusted.trusts(k)).cloned().collect();
    for key in &revoked {
        tracing::warn!(%key, "release key revoked by the trust statement");
    }
    // Also what an older walk (or a newer binary's embedded chain) revoked but left recorded.
    let forgotten = state.forget_untrusted(&trusted);
    for (channel, version, key) in &forgotten.floors {
        tracing::warn!(%channel, %version, %key, "dropping the rollback floor raised by a revoked key");
    }
    for (id, key) in &forgotten.trees {
        let mark = app.dirs.pkg.join(id).join(crate::start::tree::UPDATE_MARK);
        match std::fs::remove_file(&mark) {
            Ok(()) => {
                tracing::warn!(tree = %id, %key, "an installed update signed by a revoked key is no longer a candidate")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(UpdateError::Io { what: "remove", path: mark, source: e }),
        }
    }
    Ok(Refreshed { trusted, revoked })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_url_sits_next_to_the_feed() {
        assert_eq!(url_for("https://example.com/app/stable.json"), "https://example.com/app/trust.json");
        assert_eq!(url_for("http://127.0.0.1:80/beta.json"), "http://127.0.0.1:80/trust.json");
    }
}
