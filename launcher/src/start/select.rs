//! Choosing the version to run: the bundled payload or a complete installed update.
//!
//! Candidates are the bundled payload and the trees in `<cache>/pkg/<platform>/` that an update
//! installed (`.sea/update`) and that are complete (`.sea/manifest.json`, validated, same app and
//! platform). A candidate is eligible when its `min_launcher` is satisfied, it is not marked bad,
//! it is a pre-release only if the bundled version or the channel is one, and it is not older
//! than the rollback floor of the channel this build follows ([`crate::start::state`]; no rollback). The preferred version is
//! the highest eligible one; a tie goes to the bundled payload. `<PREFIX>_VERSION` pins one.
//!
//! Only trees newer than the bundled payload can win, so the warm path reads just the directory
//! listing, and opens a tree's manifest only when one is newer.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};

use sea_payload::Manifest;
use sea_payload::manifest::parse_tree_id;
use semver::Version;
use serde::Serialize;

use crate::care::health;
use crate::start::tree;

/// Where a candidate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// The payload inside this executable.
    Bundled,
    /// A tree installed by an update.
    Update,
}

/// A version that could run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Candidate {
    /// Its version.
    pub(crate) version: Version,
    /// Its tree id.
    pub(crate) id: String,
    /// Where it comes from.
    pub(crate) source: Source,
    /// Its tree.
    pub(crate) dir: PathBuf,
    /// Why it may not run; `None` when eligible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ineligible: Option<String>,
    /// Its manifest (updates only; the bundled one is the package's).
    #[serde(skip)]
    pub(crate) manifest: Option<(Manifest, u64)>,
}

impl Candidate {
    /// Whether the update counts as installed: eligible, or marked bad. A bad mark is a verdict
    /// on the release, so downloading it again would only crash again.
    pub(crate) fn counts_as_installed(&self) -> bool {
        self.ineligible.as_deref().is_none_or(|r| r.starts_with(BAD))
    }

    /// Whether it is marked bad.
    pub(crate) fn is_marked_bad(&self) -> bool {
        self.ineligible.as_deref().is_some_and(|r| r.starts_with(BAD))
    }
}

/// What the choice depends on.
pub(crate) struct Inputs<'a> {
    /// The bundled manifest.
    pub(crate) bundled: &'a Manifest,
    /// `<cache>/pkg/<platform>`.
    pub(crate) pkg: &'a Path,
    /// The home (bad marks).
    pub(crate) home: &'a Path,
    /// This launcher's version.
    pub(crate) launcher_version: &'a Version,
    /// `false` when `<PREFIX>_AUTO_UPDATE=0`: bundled only.
    pub(crate) updates: bool,
    /// Whether the configured channel offers pre-releases.
    pub(crate) prerelease_channel: bool,
    /// The followed channel's rollback floor (loaded only if a newer tree exists).
    pub(crate) floor: &'a dyn Fn() -> Option<Version>,
    /// List every tree, not only the ones that could win (for `--sea-info`).
    pub(crate) list_all: bool,
}

/// Why no version could be chosen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SelectError {
    /// The pinned version is not available.
    #[error("version {pin} is not available (set by {source_var}); available: {available}")]
    PinUnavailable { pin: Version, source_var: String, available: String },
}

/// The candidates, best first, and warnings to show.
#[derive(Debug)]
pub(crate) struct Selection {
    /// Every candidate considered; the chosen one first.
    pub(crate) candidates: Vec<Candidate>,
    /// Things the user should know (a bad version skipped, a pinned bad version).
    pub(crate) warnings: Vec<String>,
}

impl Selection {
    /// The chosen candidate.
    pub(crate) fn chosen(&self) -> &Candidate {
        &self.candidates[0]
    }
}

fn bundled_candidate(inputs: &Inputs<'_>) -> Candidate {
    let id = inputs.bundled.tree_id();
    Candidate {
        version: inputs.bundled.version.clone(),
        dir: inputs.pkg.join(&id),
        id,
        source: Source::Bundled,
        ineligible: None,
        manifest: None,
    }
}

/// Chooses, honouring a pin (`pin`, named by `pin_var` in messages).
pub(crate) fn select(inputs: &Inputs<'_>, pin: Option<(&Version, &str)>) -> Result<Selection, SelectError> {
    let bundled = bundled_candidate(inputs);
    let mut warnings = Vec::new();
    let mut updates = if inputs.updates || pin.is_some() { scan(inputs, pin.map(|p| p.0)) } else { Vec::new() };
    if let Some((version, var)) = pin {
        if bundled.version == *version {
            let mut candidates = vec![bundled];
            candidates.extend(updates);
            return Ok(Selection { candidates, warnings });
        }
        let found = updates.iter().position(|c| c.version == *version && c.ineligible.as_deref().is_none_or(pinnable));
        let Some(at) = found else {
            let mut available: Vec<String> = std::iter::once(bundled.version.to_string())
                .chain(updates.iter().filter(|c| c.ineligible.is_none()).map(|c| c.version.to_string()))
                .collect();
            available.dedup();
            return Err(SelectError::PinUnavailable {
                pin: version.clone(),
                source_var: var.to_owned(),
                available: available.join(", "),
            });
        };
        let chosen = updates.remove(at);
        if let Some(reason) = &chosen.ineligible {
            warnings.push(format!("running pinned version {} although {reason}", chosen.version));
        }
        let mut candidates = vec![chosen];
        candidates.push(bundled);
        candidates.extend(updates);
        return Ok(Selection { candidates, warnings });
    }
    for skipped in updates.iter().filter(|c| c.ineligible.as_deref().is_some_and(|r| r.starts_with(BAD))) {
        if skipped.version > bundled.version {
            warnings.push(format!("skipping version {}: {}", skipped.version, BAD));
        }
    }
    let best = updates.iter().position(|c| c.ineligible.is_none() && c.version > bundled.version);
    let mut candidates = Vec::with_capacity(updates.len() + 1);
    match best {
        Some(at) => {
            candidates.push(updates.remove(at));
            candidates.push(bundled);
        }
        None => candidates.push(bundled),
    }
    candidates.extend(updates);
    Ok(Selection { candidates, warnings })
}

pub(crate) const BAD: &str = "it is marked bad (it crashed on start 3 times in a row)";

/// A pin overrides a bad mark and the rollback floor, not an incompatible launcher or a broken
/// tree.
fn pinnable(reason: &str) -> bool {
    reason.starts_with(BAD) || reason.starts_with(FLOOR)
}

const FLOOR: &str = "it is older than a version already verified from the feed";

/// Installed update trees, newest first. Without `list_all` or a pin, only trees newer than the
/// bundled payload are examined.
fn scan(inputs: &Inputs<'_>, pin: Option<&Version>) -> Vec<Candidate> {
    let Ok(listing) = fs::read_dir(inputs.pkg) else { return Vec::new() };
    let bundled_id = inputs.bundled.tree_id();
    let mut found: Vec<(Version, String)> = listing
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let (version, _) = parse_tree_id(&name)?;
            let wanted = inputs.list_all
                || pin.is_some_and(|p| *p == version)
                || version.cmp(&inputs.bundled.version) == Ordering::Greater;
            (wanted && name != bundled_id).then_some((version, name))
        })
        .collect();
    if found.is_empty() {
        return Vec::new();
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let floor = (inputs.floor)();
    found.into_iter().filter_map(|(version, id)| examine(inputs, version, id, floor.as_ref())).collect()
}

/// Reads one tree's metadata; `None` for trees that are not installed updates (another binary's
/// bundled tree, a half-made or foreign directory): those are not candidates at all.
fn examine(inputs: &Inputs<'_>, version: Version, id: String, floor: Option<&Version>) -> Option<Candidate> {
    let dir = inputs.pkg.join(&id);
    if !dir.join(tree::UPDATE_MARK).exists() {
        return None;
    }
    let (manifest, len) = tree::read_manifest(&dir).ok()?;
    if manifest.tree_id() != id || manifest.name != inputs.bundled.name || manifest.platform != inputs.bundled.platform
    {
        return None;
    }
    let allow_pre = inputs.prerelease_channel || !inputs.bundled.version.pre.is_empty();
    let ineligible = if manifest.min_launcher > *inputs.launcher_version {
        Some(format!("it needs launcher {} or newer (this is {})", manifest.min_launcher, inputs.launcher_version))
    } else if !version.pre.is_empty() && !allow_pre {
        Some("it is a pre-release and this channel is stable".to_owned())
    } else if health::is_bad(inputs.home, &id) {
        Some(BAD.to_owned())
    } else if floor.is_some_and(|f| version < *f) {
        Some(FLOOR.to_owned())
    } else {
        None
    };
    Some(Candidate { version, id, source: Source::Update, dir, ineligible, manifest: Some((manifest, len)) })
}
