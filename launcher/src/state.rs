//! Update state kept in the home: `<home>/update.json`.
//!
//! `highest_verified` is the highest version ever seen in a feed whose signature verified; the
//! launcher never installs or selects anything older unless pinned, so a replayed old feed
//! cannot roll a client back. `last_check` rate-limits the background check to once a day.

use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};

/// The update state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UpdateState {
    /// Highest version verified from the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) highest_verified: Option<Version>,
    /// Last feed check, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_check: Option<u64>,
}

/// `<home>/update.json`.
pub(crate) fn path(home: &Path) -> PathBuf {
    home.join("update.json")
}

impl UpdateState {
    /// Reads the state; a missing or malformed file is an empty state (malformed: the next
    /// successful check rewrites it).
    pub(crate) fn load(home: &Path) -> Self {
        std::fs::read(path(home)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Writes the state atomically.
    pub(crate) fn save(&self, home: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::private::write(&path(home), &bytes)
    }
}
