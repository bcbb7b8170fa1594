//! Update state kept in the home: `<home>/update.json`.
//!
//! `floors` maps a channel to the highest version this client ever installed from that channel's
//! verified feed: the launcher never installs or selects anything older unless pinned, so a
//! replayed old feed cannot roll a client back. The floor is per channel, and it rises only for a
//! release this client would run (its platform, its channel's pre-release rule, a launcher that
//! runs it): a release of another channel — a `beta.json` served as `stable.json` — can never
//! lift the stable floor above the real stable releases. `last_check` rate-limits the background
//! check to once a day. `feeds` records, per channel, the highest signed feed `sequence` this
//! client verified and the key that verified it ([`FeedRecord`]): a feed with a lower sequence is
//! a replay and refused (`sea_payload::feed::Feed::check_fresh`). A launcher older than `feeds`
//! that rewrites the file drops it; the next check records it again (and until then the rollback
//! floor still holds).
//!
//! # Fast-forward recovery
//! `floor_signers` records, per channel, the release key that signed the feed the floor came
//! from, and `tree_signers` the key that signed each installed update's package. When a trust
//! statement revokes a key, [`UpdateState::forget_untrusted`] drops both, so a version number a
//! stolen key pushed up (99.0.0) does not block the honest releases after it. Every record kept
//! per signer is reset there (one `retain` line each). Records without a signer predate trust
//! statements (signed by the one baked-in key) and are kept; an older launcher rewriting the file
//! drops the signer maps, which then counts as that.
//!
//! # Migration
//! Launchers before per-channel floors wrote one `highest_verified`. When `floors` is absent, that
//! value is taken as the floor of the channel this client follows — unless it is a version this
//! client would not run (a pre-release on a stable client: exactly what the channel-confusion
//! attack left behind), which is dropped; the versions installed still bound what an update
//! offers. `highest_verified` is kept as it was, for older launchers sharing the home (a value of
//! theirs, never raised from another channel), and ignored once `floors` exists; an older launcher
//! that rewrites the file drops `floors`, and the migration runs again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};

/// Largest state file read: a few records per channel take a few kilobytes.
const MAX_LEN: u64 = 1024 * 1024;

/// The update state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UpdateState {
    /// Legacy single floor: read when `floors` is absent, kept unchanged for older launchers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    highest_verified: Option<Version>,
    /// Floor per channel; `None` in a file written before channels had floors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    floors: Option<BTreeMap<String, Version>>,
    /// Last feed check, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_check: Option<u64>,
    /// The newest verified feed per channel (replay protection).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    feeds: BTreeMap<String, FeedRecord>,
    /// Per channel, the release key that signed the feed its floor came from. A floor without
    /// one was raised before trust statements existed (by the one baked-in key) and is kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    floor_signers: BTreeMap<String, String>,
    /// Per installed update tree (by id), the release key that signed its package.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tree_signers: BTreeMap<String, String>,
}

/// The newest feed of one channel this client verified: its signed sequence, and the public key
/// whose signature verified it (so that revoking a key can forget what it vouched for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FeedRecord {
    /// The feed's `sequence`.
    pub(crate) sequence: u64,
    /// The base64 public key that verified it.
    pub(crate) signer: String,
}

/// What [`UpdateState::forget_untrusted`] dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Forgotten {
    /// `(channel, floor, signer)` of every floor dropped.
    pub(crate) floors: Vec<(String, Version, String)>,
    /// `(tree id, signer)` of every tree that is no longer a candidate.
    pub(crate) trees: Vec<(String, String)>,
}

/// `<home>/update.json`.
pub(crate) fn path(home: &Path) -> PathBuf {
    home.join("update.json")
}

impl UpdateState {
    /// Reads the state; a missing or malformed file is an empty state (malformed: the next
    /// successful check rewrites it).
    pub(crate) fn load(home: &Path) -> Self {
        sea_payload::bounded::read(&path(home), MAX_LEN)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the state atomically.
    pub(crate) fn save(&self, home: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::private::write(&path(home), &bytes)
    }

    /// The rollback floor of `channel`, for a client that runs pre-releases iff `prerelease`.
    pub(crate) fn floor(&self, channel: &str, prerelease: bool) -> Option<Version> {
        match &self.floors {
            Some(floors) => floors.get(channel).cloned(),
            None => self.highest_verified.clone().filter(|v| prerelease || v.pre.is_empty()),
        }
    }

    /// The newest verified feed of `channel`, if any.
    pub(crate) fn feed_record(&self, channel: &str) -> Option<&FeedRecord> {
        self.feeds.get(channel)
    }

    /// Records a verified, fresh feed of `channel` (a sequence never goes down; the signer is the
    /// one of the newest feed).
    pub(crate) fn record_feed(&mut self, channel: &str, sequence: u64, signer: &str) {
        let record =
            self.feeds.entry(channel.to_owned()).or_insert_with(|| FeedRecord { sequence, signer: signer.into() });
        if sequence >= record.sequence {
            *record = FeedRecord { sequence, signer: signer.to_owned() };
        }
    }

    /// Raises the floor of `channel` to `version` (never lowers it). The caller states that this
    /// client runs `version`: it installed it for this platform, under this channel's pre-release
    /// rule, with a launcher that runs it.
    pub(crate) fn raise(&mut self, channel: &str, prerelease: bool, version: &Version, signer: &str) {
        if self.floors.is_none() {
            let migrated = self.floor(channel, prerelease);
            self.floors = Some(migrated.map(|v| (channel.to_owned(), v)).into_iter().collect());
        }
        let floors = self.floors.get_or_insert_with(BTreeMap::new);
        let floor = floors.entry(channel.to_owned()).or_insert_with(|| version.clone());
        if *version >= *floor {
            *floor = version.clone();
            self.floor_signers.insert(channel.to_owned(), signer.to_owned());
        }
    }

    /// Records the key that signed the package of the installed tree `id`.
    pub(crate) fn record_tree(&mut self, id: &str, signer: &str) {
        self.tree_signers.insert(id.to_owned(), signer.to_owned());
    }

    /// Fast-forward recovery: drops every floor raised by, and every tree record signed by, a
    /// key `trusted` does not trust (a revoked one), so that what a stolen key signed cannot
    /// block the honest releases after it. Records kept per signer are reset here, in one place.
    pub(crate) fn forget_untrusted(&mut self, trusted: &sea_payload::trust::Trusted) -> Forgotten {
        let mut forgotten = Forgotten::default();
        let revoked: Vec<String> =
            self.floor_signers.iter().filter(|(_, k)| !trusted.trusts(k)).map(|(c, _)| c.clone()).collect();
        for channel in revoked {
            let key = self.floor_signers.remove(&channel).unwrap_or_default();
            if let Some(version) = self.floors.as_mut().and_then(|f| f.remove(&channel)) {
                forgotten.floors.push((channel, version, key));
            }
        }
        self.tree_signers.retain(|id, key| {
            let keep = trusted.trusts(key);
            if !keep {
                forgotten.trees.push((id.clone(), key.clone()));
            }
            keep
        });
        // The sequence a revoked key vouched for goes too: the feed signed by the new key starts
        // its own count (fast-forward recovery, as for the floors).
        self.feeds.retain(|_, record| trusted.trusts(&record.signer));
        forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    fn v(s: &str) -> Version {
        Version::parse(s).expect("semver")
    }

    fn parse(json: &str) -> UpdateState {
        serde_json::from_str(json).expect("state")
    }

    #[test]
    fn floors_are_per_channel_and_only_rise() {
        let mut s = UpdateState::default();
        s.raise("stable", false, &v("1.1.0"), K);
        s.raise("beta", true, &v("2.0.0-beta.1"), K);
        s.raise("stable", false, &v("1.0.0"), K);
        assert_eq!(s.floor("stable", false), Some(v("1.1.0")));
        assert_eq!(s.floor("beta", true), Some(v("2.0.0-beta.1")));
        assert_eq!(s.floor("nightly", true), None);
        let round: UpdateState = serde_json::from_slice(&serde_json::to_vec(&s).expect("json")).expect("parse");
        assert_eq!(round, s);
    }

    #[test]
    fn a_legacy_floor_migrates_to_the_followed_channel_unless_this_client_would_not_run_it() {
        let legacy = parse(r#"{"highest_verified": "2.0.0", "last_check": 5}"#);
        assert_eq!(legacy.floor("stable", false), Some(v("2.0.0")));
        let poisoned = parse(r#"{"highest_verified": "2.0.0-beta.1"}"#);
        assert_eq!(poisoned.floor("stable", false), None, "a pre-release floor does not bind a stable client");
        assert_eq!(poisoned.floor("beta", true), Some(v("2.0.0-beta.1")));
        let mut s = poisoned;
        s.raise("stable", false, &v("1.1.0"), K);
        assert_eq!(s.floor("stable", false), Some(v("1.1.0")));
        let mut s = legacy;
        s.raise("stable", false, &v("1.5.0"), K);
        assert_eq!(s.floor("stable", false), Some(v("2.0.0")), "the migrated floor is kept");
        assert_eq!(s.last_check, Some(5));
        // Kept for older launchers, ignored once floors exist.
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["highest_verified"], "2.0.0");
        assert_eq!(json["floors"]["stable"], "2.0.0");
        let other = parse(r#"{"highest_verified": "9.0.0", "floors": {"stable": "1.0.0"}}"#);
        assert_eq!(other.feed_record("stable"), None);
        assert_eq!(other.floor("stable", false), Some(v("1.0.0")));
    }

    #[test]
    fn feed_sequences_only_rise_and_keep_their_signer() {
        let mut s = UpdateState::default();
        s.record_feed("stable", 3, "RWkey1");
        s.record_feed("stable", 2, "RWkey2");
        assert_eq!(s.feed_record("stable"), Some(&FeedRecord { sequence: 3, signer: "RWkey1".into() }));
        s.record_feed("stable", 3, "RWkey2");
        s.record_feed("beta", 1, "RWkey1");
        let round: UpdateState = serde_json::from_slice(&serde_json::to_vec(&s).expect("json")).expect("parse");
        assert_eq!(round, s);
        assert_eq!(round.feed_record("stable").map(|r| r.signer.as_str()), Some("RWkey2"));
    }

    #[test]
    fn forgetting_a_revoked_key_drops_its_floors_and_trees_and_keeps_the_rest() {
        use sea_payload::trust::{RootSet, Trusted};
        const OTHER: &str = "RWTU6+G4WI+n6Fh4Jz5aA0bhrN1bl+rDGrZvsGB0RoV1X4eUOWXYzLay";
        let mut s = parse(r#"{"floors": {"legacy": "5.0.0"}}"#);
        s.raise("stable", false, &v("99.0.0"), K);
        s.raise("beta", true, &v("3.0.0-beta.1"), OTHER);
        s.record_tree("99.0.0-0123456789ab", K);
        s.record_tree("3.0.0-beta.1-0123456789ab", OTHER);
        s.record_feed("stable", 7, K);
        s.record_feed("beta", 2, OTHER);
        let trusted = Trusted::from_root(RootSet { keys: vec![OTHER.to_owned()], threshold: 1 }).expect("root");
        let forgotten = s.forget_untrusted(&trusted);
        assert_eq!(forgotten.floors, vec![("stable".to_owned(), v("99.0.0"), K.to_owned())]);
        assert_eq!(forgotten.trees, vec![("99.0.0-0123456789ab".to_owned(), K.to_owned())]);
        assert_eq!(s.floor("stable", false), None, "the floor the revoked key raised is gone");
        assert_eq!(s.floor("beta", true), Some(v("3.0.0-beta.1")));
        assert_eq!(s.floor("legacy", false), Some(v("5.0.0")), "a floor with no signer on record is kept");
        assert_eq!(s.feed_record("stable"), None, "the sequence the revoked key vouched for is gone");
        assert_eq!(s.feed_record("beta").map(|r| r.sequence), Some(2));
        assert_eq!(s.forget_untrusted(&trusted), Forgotten::default(), "forgetting twice drops nothing more");
    }
}
