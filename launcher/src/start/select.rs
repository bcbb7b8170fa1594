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
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    pub(crate) ineligible: Option<Ineligible>,
    /// Its manifest (updates only; the bundled one is the package's).
    #[serde(skip)]
    pub(crate) manifest: Option<(Manifest, u64)>,
}

impl Candidate {
    /// Whether the update counts as installed: eligible, or marked bad. A bad mark is a verdict
    /// on the release, so downloading it again would only crash again.
    pub(crate) fn counts_as_installed(&self) -> bool {
        self.ineligible.as_ref().is_none_or(|r| *r == Ineligible::MarkedBad)
    }

    /// Whether it is marked bad.
    pub(crate) fn is_marked_bad(&self) -> bool {
        self.ineligible.as_ref() == Some(&Ineligible::MarkedBad)
    }
}

/// Why a candidate may not run. The messages complete "version X is skipped: …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Ineligible {
    /// Its `min_launcher` is newer than this launcher.
    #[error("it needs launcher {needs} or newer (this is {this})")]
    NeedsLauncher { needs: Version, this: Version },
    /// A pre-release, and this client runs none.
    #[error("it is a pre-release and this channel is stable")]
    PreRelease,
    /// It crashed on start too often ([`health::CRASHES_TO_BAD`]).
    #[error("it is marked bad (it crashed on start {} times in a row)", health::CRASHES_TO_BAD)]
    MarkedBad,
    /// Below the rollback floor of the channel followed.
    #[error("it is older than a version already verified from the feed")]
    BelowFloor,
}

impl Ineligible {
    /// A pin overrides a bad mark and the rollback floor (the user's explicit choice), not an
    /// incompatible launcher or the pre-release rule.
    fn pinnable(&self) -> bool {
        matches!(self, Ineligible::MarkedBad | Ineligible::BelowFloor)
    }
}

fn as_text<S: serde::Serializer>(value: &Option<Ineligible>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(reason) => serializer.collect_str(reason),
        None => serializer.serialize_none(),
    }
}

/// A pinned version, and what pinned it (a variable's name, "the restart request") for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The version.
    pub(crate) version: Version,
    /// What set it.
    pub(crate) set_by: String,
}

/// Which installed trees a selection lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// Only those that could win (newer than the bundled payload, or pinned): the warm path reads
    /// no manifest of an older tree.
    Contenders,
    /// Every tree (`--sea-info`, the update's clean-up).
    All,
}

/// Whether installed updates are considered at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Updates {
    /// Updates are on: installed trees compete.
    On,
    /// `<PREFIX>_AUTO_UPDATE` is off: the bundled payload only (a pin still finds its tree).
    Off,
}

impl From<bool> for Updates {
    fn from(on: bool) -> Self {
        if on { Updates::On } else { Updates::Off }
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
    /// Off when `<PREFIX>_AUTO_UPDATE=0`: bundled only.
    pub(crate) updates: Updates,
    /// Whether the configured channel offers pre-releases.
    pub(crate) prerelease_channel: bool,
    /// The followed channel's rollback floor (loaded only if a newer tree exists).
    pub(crate) floor: &'a dyn Fn() -> Option<Version>,
    /// Which trees to list.
    pub(crate) listing: Listing,
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

/// Chooses, honouring a pin (named by its `set_by` in messages).
pub(crate) fn select(inputs: &Inputs<'_>, pin: Option<&Pin>) -> Result<Selection, SelectError> {
    let bundled = bundled_candidate(inputs);
    let mut warnings = Vec::new();
    let scanned = inputs.updates == Updates::On || pin.is_some();
    let mut updates = if scanned { scan(inputs, pin.map(|p| &p.version)) } else { Vec::new() };
    if let Some(Pin { version, set_by: var }) = pin {
        if bundled.version == *version {
            let mut candidates = vec![bundled];
            candidates.extend(updates);
            return Ok(Selection { candidates, warnings });
        }
        let found = updates
            .iter()
            .position(|c| c.version == *version && c.ineligible.as_ref().is_none_or(Ineligible::pinnable));
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
    for skipped in updates.iter().filter(|c| c.is_marked_bad()) {
        if skipped.version > bundled.version {
            warnings.push(format!("skipping version {}: {}", skipped.version, Ineligible::MarkedBad));
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

/// Installed update trees, newest first. Without `list_all` or a pin, only trees newer than the
/// bundled payload are examined.
fn scan(inputs: &Inputs<'_>, pin: Option<&Version>) -> Vec<Candidate> {
    let Ok(listing) = fs::read_dir(inputs.pkg) else { return Vec::new() };
    let bundled_id = inputs.bundled.tree_id();
    let mut found: Vec<(Version, String)> = listing
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| {
            let (version, _) = parse_tree_id(&name)?;
            let wanted = inputs.listing == Listing::All
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
        Some(Ineligible::NeedsLauncher { needs: manifest.min_launcher.clone(), this: inputs.launcher_version.clone() })
    } else if !version.pre.is_empty() && !allow_pre {
        Some(Ineligible::PreRelease)
    } else if health::is_bad(inputs.home, &id) {
        Some(Ineligible::MarkedBad)
    } else if floor.is_some_and(|f| version < *f) {
        Some(Ineligible::BelowFloor)
    } else {
        None
    };
    Some(Candidate { version, id, source: Source::Update, dir, ineligible, manifest: Some((manifest, len)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::care::health::{self, RunResult};

    /// A manifest of `hello` `version` whose payload digest starts with `digit`.
    fn manifest(version: &str, digit: char, min_launcher: &str) -> Manifest {
        let json = serde_json::json!({
            "format": 1, "name": "hello", "version": version, "platform": "linux-x64",
            "entry": "run.sh", "args": [], "compression": {"codec": "zstd", "level": 19},
            "payload": {"size": 89, "sha256": digit.to_string().repeat(64)},
            "index": {"size": 146, "sha256": "f".repeat(64)},
            "unpacked_size": 27, "entries": 1, "executables": [{"path": "run.sh", "size": 27}],
            "min_launcher": min_launcher, "launcher_version": "0.2.0", "packed_with": "sea-pack 0.2.0",
            "update": {}
        });
        Manifest::from_bytes(&serde_json::to_vec(&json).expect("json")).expect("a valid manifest")
    }

    /// A cache and home, the bundled `1.0.0`, and this launcher at `0.2.0`.
    struct World {
        dir: tempfile::TempDir,
        bundled: Manifest,
        launcher: Version,
        floor: Option<Version>,
        prerelease_channel: bool,
    }

    impl World {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            fs::create_dir_all(dir.path().join("pkg")).expect("mkdir");
            let launcher = Version::new(0, 2, 0);
            World { dir, bundled: manifest("1.0.0", 'b', "0.1.0"), launcher, floor: None, prerelease_channel: false }
        }

        fn pkg(&self) -> PathBuf {
            self.dir.path().join("pkg")
        }

        fn home(&self) -> PathBuf {
            self.dir.path().join("home")
        }

        /// Installs an update tree (manifest and update mark); returns its id.
        fn install(&self, version: &str, min_launcher: &str) -> String {
            let m = manifest(version, 'a', min_launcher);
            let dir = self.pkg().join(m.tree_id());
            fs::create_dir_all(dir.join(tree::META_DIR)).expect("mkdir");
            fs::write(dir.join(tree::MANIFEST), m.to_bytes()).expect("manifest");
            fs::write(dir.join(tree::UPDATE_MARK), b"").expect("mark");
            m.tree_id()
        }

        /// Marks a tree bad the way a launch does: crashes on start in a row.
        fn crash(&self, id: &str) {
            for _ in 0..health::CRASHES_TO_BAD {
                health::record(&self.home(), id, RunResult::NotExecutable, true).expect("record");
            }
            assert!(health::is_bad(&self.home(), id));
        }

        fn select(&self, pin: Option<&str>, listing: Listing, updates: Updates) -> Result<Selection, SelectError> {
            let floor = || self.floor.clone();
            let (pkg, home) = (self.pkg(), self.home());
            let inputs = Inputs {
                bundled: &self.bundled,
                pkg: &pkg,
                home: &home,
                launcher_version: &self.launcher,
                updates,
                prerelease_channel: self.prerelease_channel,
                floor: &floor,
                listing,
            };
            let pin = pin.map(|v| Pin { version: Version::parse(v).expect("semver"), set_by: "APP_VERSION".into() });
            select(&inputs, pin.as_ref())
        }

        fn chosen(&self, pin: Option<&str>) -> (String, Source, Vec<String>) {
            let s = self.select(pin, Listing::Contenders, Updates::On).expect("a selection");
            (s.chosen().version.to_string(), s.chosen().source, s.warnings)
        }
    }

    #[test]
    fn the_newest_eligible_update_wins_and_a_tie_or_an_older_one_goes_to_the_bundled_payload() {
        let w = World::new();
        assert_eq!(w.chosen(None), ("1.0.0".into(), Source::Bundled, vec![]));
        w.install("0.9.0", "0.1.0");
        w.install("1.0.0", "0.1.0");
        assert_eq!(w.chosen(None).1, Source::Bundled, "older and equal updates do not win");
        w.install("1.1.0", "0.1.0");
        w.install("1.2.0", "0.1.0");
        assert_eq!(w.chosen(None), ("1.2.0".into(), Source::Update, vec![]));
    }

    #[test]
    fn a_tree_without_the_update_mark_or_of_another_app_is_no_candidate() {
        let w = World::new();
        let id = w.install("2.0.0", "0.1.0");
        fs::remove_file(w.pkg().join(&id).join(tree::UPDATE_MARK)).expect("rm");
        assert_eq!(w.chosen(None).1, Source::Bundled);
        let other = w.pkg().join("3.0.0-aaaaaaaaaaaa");
        fs::create_dir_all(other.join(tree::META_DIR)).expect("mkdir");
        fs::write(other.join(tree::UPDATE_MARK), b"").expect("mark");
        fs::write(other.join(tree::MANIFEST), b"{}").expect("garbage");
        assert_eq!(w.chosen(None).1, Source::Bundled, "an unreadable manifest is not a candidate");
    }

    #[test]
    fn a_bad_mark_skips_a_version_with_a_warning_and_a_pin_overrides_it() {
        let w = World::new();
        let id = w.install("2.0.0", "0.1.0");
        w.crash(&id);
        let (version, source, warnings) = w.chosen(None);
        assert_eq!((version.as_str(), source), ("1.0.0", Source::Bundled));
        let expected = format!(
            "skipping version 2.0.0: it is marked bad (it crashed on start {} times in a row)",
            health::CRASHES_TO_BAD
        );
        assert_eq!(warnings, vec![expected]);
        let selection = w.select(None, Listing::Contenders, Updates::On).expect("selection");
        let skipped = selection.candidates.iter().find(|c| c.id == id).expect("listed");
        assert!(skipped.is_marked_bad() && skipped.counts_as_installed());
        let (version, source, warnings) = w.chosen(Some("2.0.0"));
        assert_eq!((version.as_str(), source), ("2.0.0", Source::Update));
        assert!(warnings[0].starts_with("running pinned version 2.0.0 although it is marked bad"), "{warnings:?}");
    }

    #[test]
    fn a_launcher_too_old_is_not_overridden_by_a_pin() {
        let w = World::new();
        let id = w.install("2.0.0", "9.0.0");
        let selection = w.select(None, Listing::Contenders, Updates::On).expect("selection");
        assert_eq!(selection.chosen().source, Source::Bundled);
        let listed = selection.candidates.iter().find(|c| c.id == id).expect("listed");
        assert_eq!(
            listed.ineligible,
            Some(Ineligible::NeedsLauncher { needs: Version::new(9, 0, 0), this: Version::new(0, 2, 0) })
        );
        assert!(!listed.counts_as_installed());
        match w.select(Some("2.0.0"), Listing::Contenders, Updates::On) {
            Err(SelectError::PinUnavailable { pin, source_var, available }) => {
                assert_eq!(
                    (pin.to_string(), source_var.as_str(), available.as_str()),
                    ("2.0.0".into(), "APP_VERSION", "1.0.0")
                );
            }
            other => panic!("expected PinUnavailable, got {other:?}"),
        }
    }

    #[test]
    fn pre_releases_run_only_on_a_pre_release_channel() {
        let mut w = World::new();
        w.install("2.0.0-beta.1", "0.1.0");
        assert_eq!(w.chosen(None).1, Source::Bundled);
        let s = w.select(None, Listing::Contenders, Updates::On).expect("selection");
        assert_eq!(s.candidates[1].ineligible, Some(Ineligible::PreRelease));
        w.prerelease_channel = true;
        assert_eq!(w.chosen(None), ("2.0.0-beta.1".into(), Source::Update, vec![]));
    }

    #[test]
    fn the_rollback_floor_refuses_older_updates_unless_pinned() {
        let mut w = World::new();
        w.install("2.0.0", "0.1.0");
        w.floor = Some(Version::new(3, 0, 0));
        let s = w.select(None, Listing::Contenders, Updates::On).expect("selection");
        assert_eq!(s.chosen().source, Source::Bundled);
        assert_eq!(s.candidates[1].ineligible, Some(Ineligible::BelowFloor));
        assert_eq!(w.chosen(Some("2.0.0")).0, "2.0.0");
    }

    #[test]
    fn with_updates_off_only_the_bundled_payload_runs_but_a_pin_finds_its_tree() {
        let w = World::new();
        w.install("2.0.0", "0.1.0");
        let s = w.select(None, Listing::Contenders, Updates::Off).expect("selection");
        assert_eq!((s.chosen().source, s.candidates.len()), (Source::Bundled, 1));
        let s = w.select(Some("2.0.0"), Listing::Contenders, Updates::Off).expect("selection");
        assert_eq!(s.chosen().version, Version::new(2, 0, 0));
        assert_eq!(w.chosen(Some("1.0.0")).1, Source::Bundled, "a pin of the bundled version");
    }

    #[test]
    fn contenders_leave_older_trees_unread_and_all_lists_them() {
        let w = World::new();
        w.install("0.5.0", "0.1.0");
        w.install("2.0.0", "0.1.0");
        let versions = |listing| {
            let s = w.select(None, listing, Updates::On).expect("selection");
            s.candidates.iter().map(|c| c.version.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(versions(Listing::Contenders), ["2.0.0", "1.0.0"]);
        assert_eq!(versions(Listing::All), ["2.0.0", "1.0.0", "0.5.0"]);
    }
}
