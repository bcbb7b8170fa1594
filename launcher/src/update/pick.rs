//! Which release of a verified feed to install, if any. Pure: no I/O, unit-tested.
//!
//! A release qualifies when it is for this platform; newer than everything this client has
//! installed (the bundled version and complete installed updates); not older than the highest
//! version ever verified (so an old signed feed replayed by an attacker offers nothing, while an
//! update whose tree was lost — a cleared cache — can be installed again); a pre-release only on a pre-release
//! channel or when the bundled version is one; runnable by this launcher, or shipping a launcher
//! that can run it; and, under a staged rollout, offered to this install. The newest wins.

use sea_payload::digest;
use sea_payload::feed::{Feed, Release};
use semver::Version;

/// What the choice depends on.
#[derive(Debug)]
pub(crate) struct Inputs<'a> {
    /// This platform.
    pub(crate) platform: &'a str,
    /// The newest version this client has installed (bundled or complete update tree).
    pub(crate) current: &'a Version,
    /// The highest version ever verified from the feed: nothing older is installed.
    pub(crate) floor: Option<&'a Version>,
    /// This launcher's version.
    pub(crate) launcher: &'a Version,
    /// Whether pre-releases may be installed.
    pub(crate) prerelease: bool,
    /// This install's stable random id (staged rollouts).
    pub(crate) install_id: &'a str,
}

/// The decision.
#[derive(Debug)]
pub(crate) enum Pick<'a> {
    /// Install this.
    Install(&'a Release),
    /// Nothing to do; the newest version the feed offers this platform, if any.
    UpToDate { newest_offered: Option<Version> },
}

/// Chooses.
pub(crate) fn pick<'a>(feed: &'a Feed, inputs: &Inputs<'_>) -> Pick<'a> {
    let for_us = || feed.releases.iter().filter(|r| r.platform == inputs.platform);
    let best = for_us()
        .filter(|r| r.version > *inputs.current && inputs.floor.is_none_or(|f| r.version >= *f))
        .filter(|r| inputs.prerelease || r.version.pre.is_empty())
        .filter(|r| runnable(r, inputs.launcher))
        .filter(|r| in_rollout(r, inputs.install_id))
        .max_by(|a, b| a.version.cmp(&b.version));
    match best {
        Some(release) => Pick::Install(release),
        None => Pick::UpToDate { newest_offered: for_us().map(|r| r.version.clone()).max() },
    }
}

/// This launcher can run it, or the release ships a launcher that can.
fn runnable(release: &Release, launcher: &Version) -> bool {
    release.min_launcher <= *launcher || release.launcher.as_ref().is_some_and(|l| l.version >= release.min_launcher)
}

/// Under a rollout of p%, an install is in when its bucket (0–99), derived from its id and the
/// version, is below p: stable for one install and version, independent across versions.
pub(crate) fn in_rollout(release: &Release, install_id: &str) -> bool {
    match release.rollout {
        None | Some(100..) => true,
        Some(percent) => bucket(install_id, &release.version) < percent,
    }
}

fn bucket(install_id: &str, version: &Version) -> u8 {
    let d = digest::sha256(format!("{install_id}:{version}").as_bytes());
    (u16::from_be_bytes([d[0], d[1]]) % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_payload::feed::{Artifact, LauncherArtifact};

    fn release(version: &str, min_launcher: &str, launcher: Option<&str>, rollout: Option<u8>) -> Release {
        let artifact =
            Artifact { url: "http://x/a".into(), size: 1, sha256: "ab".repeat(32), signature: String::new() };
        Release {
            version: Version::parse(version).expect("semver"),
            platform: "linux-x64".into(),
            min_launcher: Version::parse(min_launcher).expect("semver"),
            rollout,
            published: 0,
            payload: artifact.clone(),
            launcher: launcher.map(|v| LauncherArtifact { version: Version::parse(v).expect("semver"), artifact }),
            deltas: Vec::new(),
        }
    }

    fn feed(releases: Vec<Release>) -> Feed {
        let mut f = Feed::new("hello", "stable");
        f.releases = releases;
        f
    }

    fn inputs<'a>(current: &'a Version, launcher: &'a Version) -> Inputs<'a> {
        Inputs { platform: "linux-x64", current, floor: None, launcher, prerelease: false, install_id: "id" }
    }

    fn picked(f: &Feed, i: &Inputs<'_>) -> Option<String> {
        match pick(f, i) {
            Pick::Install(r) => Some(r.version.to_string()),
            Pick::UpToDate { .. } => None,
        }
    }

    #[test]
    fn newest_runnable_release_wins() {
        let current = Version::new(1, 0, 0);
        let launcher = Version::new(0, 1, 0);
        let f = feed(vec![
            release("1.5.0", "0.1.0", None, None),
            release("2.0.0", "0.1.0", None, None),
            release("3.0.0", "0.5.0", None, None),
            release("3.1.0-beta.1", "0.1.0", None, None),
        ]);
        assert_eq!(picked(&f, &inputs(&current, &launcher)).as_deref(), Some("2.0.0"));
        let f2 = feed(vec![release("3.0.0", "0.5.0", Some("0.5.0"), None)]);
        assert_eq!(picked(&f2, &inputs(&current, &launcher)).as_deref(), Some("3.0.0"), "ships its launcher");
        let mut pre = inputs(&current, &launcher);
        pre.prerelease = true;
        assert_eq!(picked(&f, &pre).as_deref(), Some("3.1.0-beta.1"));
    }

    #[test]
    fn nothing_older_or_equal_is_offered() {
        let current = Version::new(2, 0, 0);
        let launcher = Version::new(0, 1, 0);
        let f = feed(vec![release("1.0.0", "0.1.0", None, None), release("2.0.0", "0.1.0", None, None)]);
        match pick(&f, &inputs(&current, &launcher)) {
            Pick::UpToDate { newest_offered } => assert_eq!(newest_offered, Some(Version::new(2, 0, 0))),
            Pick::Install(r) => panic!("offered {}", r.version),
        }
    }

    #[test]
    fn the_floor_refuses_rollbacks_but_allows_reinstalling_a_lost_update() {
        let installed = Version::new(1, 0, 0);
        let launcher = Version::new(0, 1, 0);
        let floor = Version::new(2, 0, 0);
        let mut i = inputs(&installed, &launcher);
        i.floor = Some(&floor);
        let f = feed(vec![release("1.5.0", "0.1.0", None, None), release("2.0.0", "0.1.0", None, None)]);
        assert_eq!(picked(&f, &i).as_deref(), Some("2.0.0"), "the lost 2.0.0 comes back");
        let old = feed(vec![release("1.5.0", "0.1.0", None, None)]);
        assert_eq!(picked(&old, &i), None, "1.5.0 is below the floor");
    }

    #[test]
    fn rollout_buckets_are_stable_and_roughly_proportional() {
        let r = release("2.0.0", "0.1.0", None, Some(30));
        let inside = (0..1000).filter(|i| in_rollout(&r, &format!("install-{i}"))).count();
        assert!((200..400).contains(&inside), "{inside} of 1000 in a 30% rollout");
        assert_eq!(in_rollout(&r, "fixed"), in_rollout(&r, "fixed"));
        assert!(!in_rollout(&release("2.0.0", "0.1.0", None, Some(0)), "any"));
    }
}
