//! Updates: a signed feed, verified downloads, atomic installs, and self-replacement.
//!
//! # Implementation
//! `--sea-update` and the once-a-day background check run the same steps, on a current-thread
//! tokio runtime built for the occasion (never on the start-up path):
//!
//! 0. fetch `<feed dir>/trust.json` and walk the trust statements in it from the newest one this
//!    install trusts ([`trust`]): store the result, forget the floors and trees of revoked keys,
//!    and refuse to go on past the newest statement's expiry;
//! 1. fetch `<feed>` and `<feed>.minisig` (`https://`, or plain `http://` on loopback only;
//!    `<PREFIX>_UPDATE_URL` replaces the baked-in URL), conditionally on the copy kept from the
//!    last check ([`cache`]; a `304` reuses it), verify the signature with the release keys
//!    trusted now (the baked-in root keys while no statement is published), parse, and refuse a
//!    feed of another app or of another channel than the one this build follows (the signed
//!    `channel` field against the channel recorded at build time), an expired feed, and one
//!    older than a feed already verified (its signed `sequence` against
//!    [`crate::start::state::FeedRecord`]) — then record its sequence and the key that signed it;
//! 2. choose a release ([`pick`]): newer than anything this client has installed and not below
//!    its channel's rollback floor, for this platform, a pre-release only when this client runs
//!    them (its channel, not the feed's say-so), runnable, inside its rollout;
//! 3. download the payload artifact into `<cache>/downloads/` (resuming a partial download),
//!    then verify its size, SHA-256 and minisign signature **before** anything is unpacked;
//! 4. check that the package inside names this app, this platform and that version, and is
//!    signed by a trusted release key (recorded beside the tree);
//! 5. install it with the launcher's own safe extraction ([`crate::start::extract`]) into
//!    `<cache>/pkg/<platform>/<version>-<sha12>/`, marked as an update;
//! 6. if it needs a newer launcher, download and verify that too and replace the executable
//!    ([`replace`]: platform marker, verified bytes, a trial start before and after the swap);
//! 7. raise the channel's rollback floor to the version ([`crate::start::state`]) — only for a release
//!    this client runs — recording the key that signed the feed, and delete the downloads.
//!
//! Anything that fails verification is deleted and reported; the version in use is never
//! touched. One update runs at a time (`<cache>/update.lock`).

mod cache;
mod delta;
mod http;
pub(crate) mod install;
mod pick;
mod replace;
#[cfg(any(sea_static, test))]
mod resolve;
pub(crate) mod trust;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_payload::feed::{self, Artifact, Feed, FeedError, MAX_FEED_LEN, MAX_SIGNATURE_LEN, Release, Stale};
use sea_payload::package::PackageError;
use sea_payload::signature::{self, SignatureError};
use sea_payload::trust::{TrustError, Trusted};
use sea_payload::{Package, digest};
use semver::Version;

use crate::app::App;
use crate::progress::Progress;
use crate::start::extract::{self, ExtractError, ExtractOptions};
use crate::start::lock::{self, LockError, Mode};
use crate::start::select::{Listing, Source, Updates};
use crate::start::state::UpdateState;
use crate::start::tree::TreePaths;

/// How often the background check runs.
pub(crate) const CHECK_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// Why an update failed. Nothing is installed when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    /// `<PREFIX>_AUTO_UPDATE` is off (`var` is `NAME=value`).
    #[error("updates are disabled by {var}; unset it to update")]
    Disabled { var: String },
    /// A variable has a value the update cannot use.
    #[error(transparent)]
    BadValue(#[from] crate::start::vars::BadValue),
    /// Home or cache refused (kept whole: its exit code is the launch's, 77 for a foreign owner).
    #[error(transparent)]
    Dirs(#[from] crate::start::dirs::DirsError),
    /// Packed without a feed or key.
    #[error("this build has no update feed: it was packed without --feed and --public-key")]
    NotConfigured,
    /// The HTTP client could not be built.
    #[error("could not set up HTTPS: {0}")]
    Client(String),
    /// A request failed.
    #[error("{kind} {url}: {detail}")]
    Http { url: String, kind: &'static str, detail: String },
    /// A non-success status.
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// A response larger than allowed.
    #[error("{url} is larger than {limit} bytes; refusing it")]
    TooLarge { url: String, limit: u64 },
    /// The feed's signature does not verify.
    #[error("the feed's signature is not valid: {0}")]
    FeedSignature(SignatureError),
    /// The feed is signed, but by no key the newest trust statement trusts.
    #[error("{url}: {source}; nothing was installed")]
    FeedNotTrusted { url: String, source: TrustError },
    /// The trust statements served next to the feed (or the state stored) were refused.
    #[error("{url}: {source}; nothing was installed and what this install trusts is unchanged")]
    Trust { url: String, source: TrustError },
    /// The newest trust statement has expired.
    #[error(
        "{source}: no release is trusted until the publisher writes a new statement (`sea-pack trust <DIR> --sign-key <ROOT KEY>...`) and publishes its trust.json next to the feed; nothing was installed"
    )]
    TrustExpired { source: TrustError },
    /// The feed does not parse.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// The feed URL baked in is not one the launcher fetches from.
    #[error("refusing to update from the feed URL baked into this build: {0}; rebuild with an https:// --feed")]
    InsecureFeed(String),
    /// The feed URL does not say which channel this build follows.
    #[error(
        "cannot tell which channel this build follows: its feed URL {url} does not end in <channel>.json; rebuild it with `sea-pack build --feed …/<channel>.json`"
    )]
    NoChannel { url: String },
    /// The feed is another app's.
    #[error("the feed is for '{found}', not for this app")]
    OtherApp { found: String },
    /// The feed is another channel's: a mirror or server serves it under this channel's name.
    #[error(
        "{url} is the signed feed of channel '{found}', but this build follows channel '{expected}': the server serves another channel's feed under this name; nothing was installed"
    )]
    OtherChannel { url: String, found: String, expected: String },
    /// The feed verified but is not fresh: expired, or older than one already verified.
    #[error("{url}: {stale}; {advice}; nothing was installed and the app keeps running {running}")]
    Stale { url: String, stale: Stale, advice: &'static str, running: Version },
    /// A command was used wrongly.
    #[error("{0}")]
    Usage(String),
    /// A file given to `--sea-install` is not a release this client may install.
    #[error("{path}: {why}; nothing was installed")]
    NotInstallable { path: String, why: String },
    /// The size of a download differs from the feed's.
    #[error("{url}: the size does not match the feed (expected {expected} bytes, got {found}); nothing was installed")]
    SizeMismatch { url: String, expected: u64, found: u64 },
    /// The connection ended early.
    #[error("{url}: the download stopped after {found} of {expected} bytes; run the update again to resume")]
    Truncated { url: String, expected: u64, found: u64 },
    /// The SHA-256 differs from the feed's.
    #[error("{url}: the SHA-256 does not match the feed; the download was deleted and nothing was installed")]
    DigestMismatch { url: String },
    /// The artifact's signature does not verify.
    #[error("{url}: the signature is not valid ({source}); the download was deleted and nothing was installed")]
    ArtifactSignature { url: String, source: SignatureError },
    /// The downloaded package is corrupt or unsigned.
    #[error(transparent)]
    Package(PackageError),
    /// The downloaded package is not the release the feed describes.
    #[error("the downloaded package is not what the feed describes: {0}; nothing was installed")]
    WrongPayload(String),
    /// The new launcher is unusable.
    #[error("the new launcher is unusable: {0}")]
    BadLauncher(String),
    /// Installing failed.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// Another update holds the lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Replacing the executable failed.
    #[error("could not replace the executable {} ({source}); the old one still works — reinstall it to get the new launcher", path.display())]
    SelfReplace { path: PathBuf, source: io::Error },
    /// The disk filled up while downloading.
    #[error("the disk filled up while downloading to {} ({source}); the partial download was deleted; free some space or set {var} to another disk", path.display())]
    DiskFull { path: PathBuf, source: io::Error, var: String },
    /// Not enough space to download.
    #[error("not enough free space in {} to download {needed} bytes ({available} free); free some space or set {var} to another disk", path.display())]
    NoSpace { path: PathBuf, needed: u64, available: u64, var: String },
    /// A file operation failed.
    #[error("could not {what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

/// What an update did.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Already current; the newest version the feed offers this platform.
    UpToDate { current: Version, newest_offered: Option<Version> },
    /// Installed a release (and maybe a new launcher).
    Installed { version: Version, launcher: Option<Version>, download: Download },
}

/// What installing a release downloaded.
#[derive(Debug)]
pub(crate) struct Download {
    /// The newest version installed before.
    pub(crate) previous: Version,
    /// Bytes downloaded (delta and full artifact, when a delta failed).
    pub(crate) bytes: u64,
    /// The full artifact's size.
    pub(crate) full: u64,
    /// The base version, when a delta was used.
    pub(crate) delta_from: Option<Version>,
}

impl Download {
    /// `updated 1.4.0 -> 1.5.0: downloaded 2.1 MB of 48.0 MB (delta from 1.4.0)`.
    pub(crate) fn line(&self, version: &Version) -> String {
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1_000_000.0);
        let how = match &self.delta_from {
            Some(from) => format!("delta from {from}"),
            None => "full download".to_owned(),
        };
        format!("updated {} -> {version}: downloaded {} of {} ({how})", self.previous, mb(self.bytes), mb(self.full))
    }
}

/// One update run.
struct Updater<'a> {
    app: &'a App,
    feed_url: String,
    /// The channel this build follows.
    channel: String,
    interactive: bool,
    limits: http::Limits,
}

/// `--sea-update`: one update now, in the foreground (waits for another update, shows progress).
pub(crate) fn update_now(app: &App) -> Result<Outcome, UpdateError> {
    Updater::new(app, true)?.run()
}

/// Whether the background check would ask the feed now: updates on, a feed and a key baked in,
/// and no check within [`CHECK_PERIOD`]. No network; reads the update state only when updates
/// are configured. An in-place run (`run::exec`) starts a background process only when this or
/// another piece of background work is due.
pub(crate) fn background_due(app: &App) -> bool {
    let update = &app.manifest().update;
    if update.feed.is_none() || update.root().is_none() || !app.settings.auto_update.clone().unwrap_or(true) {
        return false;
    }
    let state = UpdateState::load(&app.dirs.home);
    state.last_check.is_none_or(|t| now_secs().saturating_sub(t) >= CHECK_PERIOD.as_secs())
}

/// The background check: at most once per [`CHECK_PERIOD`], silent (logs only), skipped when
/// another update runs.
pub(crate) fn background(app: &App) {
    if !background_due(app) {
        return;
    }
    let updater = match Updater::new(app, false) {
        Ok(updater) => updater,
        Err(UpdateError::Disabled { .. } | UpdateError::NotConfigured) => return,
        // A bad `<PREFIX>_UPDATE_URL`, an insecure baked-in feed: said, not acted on.
        Err(e) => {
            tracing::warn!(error = %e, "background update check skipped");
            return;
        }
    };
    match updater.run() {
        Ok(outcome) => tracing::info!(?outcome, "background update check"),
        Err(e) => tracing::warn!(error = %e, "background update check failed"),
    }
}

/// Redirects are followed (at most 10) only to URLs [`feed::check_url`] accepts: an `https://`
/// feed cannot be downgraded to plain `http://` by a redirect.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else if let Err(why) = feed::check_url(attempt.url().as_str()) {
            attempt.error(format!("refusing the redirect: {why}"))
        } else {
            attempt.follow()
        }
    })
}

/// An error and its causes, `: `-separated (reqwest's own message leaves out why a redirect or a
/// connection failed).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<'a> Updater<'a> {
    fn new(app: &'a App, interactive: bool) -> Result<Self, UpdateError> {
        // A bad value refuses `--sea-update`; the background check was warned about at start.
        let enabled = app.settings.auto_update.clone().or_else(|e| if interactive { Err(e) } else { Ok(true) })?;
        if !enabled {
            let var = app.settings.auto_update_text().unwrap_or_default().to_owned();
            return Err(UpdateError::Disabled { var });
        }
        let update = &app.manifest().update;
        let (Some(feed_url), Some(_)) = (update.feed.clone(), update.root()) else {
            return Err(UpdateError::NotConfigured);
        };
        let channel = app.channel().ok_or_else(|| UpdateError::NoChannel { url: feed_url.clone() })?.to_owned();
        // A mirror replaces the URL only; the keys, the channel and every check stay.
        let feed_url = match app.settings.update_url(&app.vars, &channel)? {
            Some(mirror) => mirror,
            None => {
                feed::check_url(&feed_url).map_err(UpdateError::InsecureFeed)?;
                feed_url
            }
        };
        let limits = http::Limits::from_app(app, interactive)?;
        Ok(Self { app, feed_url, channel, interactive, limits })
    }

    fn run(&self) -> Result<Outcome, UpdateError> {
        let dirs = &self.app.dirs;
        dirs.ensure_home()?;
        dirs.ensure_pkg()?;
        let lock_path = dirs.cache.join("update.lock");
        let _lock = if self.interactive {
            let name = self.app.name().to_owned();
            lock::acquire(&lock_path, Mode::Exclusive, Duration::from_secs(600), "updating", &mut || {
                crate::say::say!("{name}: waiting for another update of {name} to finish...");
            })?
        } else {
            match lock::try_acquire(&lock_path, Mode::Exclusive)? {
                Some(lock) => lock,
                None => return Ok(self.up_to_date(None)),
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| UpdateError::Client(e.to_string()))?;
        runtime.block_on(self.run_async())
    }

    fn up_to_date(&self, newest_offered: Option<Version>) -> Outcome {
        Outcome::UpToDate { current: self.current_version(&UpdateState::load(&self.app.dirs.home)), newest_offered }
    }

    /// The newest version this client can show as its own: installed, or its channel's floor.
    fn current_version(&self, state: &UpdateState) -> Version {
        let installed = self.installed_version();
        self.app.floor(state).map_or(installed.clone(), |floor| floor.max(installed))
    }

    /// The newest version installed: bundled, or a complete update tree that is eligible or marked
    /// bad.
    fn installed_version(&self) -> Version {
        let mut current = self.app.manifest().version.clone();
        if let Ok(selection) = self.app.select(None, Listing::All, Updates::On) {
            for c in selection.candidates.iter().filter(|c| c.source == Source::Update && c.counts_as_installed()) {
                current = current.max(c.version.clone());
            }
        }
        current
    }

    async fn run_async(&self) -> Result<Outcome, UpdateError> {
        let user_agent = format!("sea-launcher/{} ({})", self.app.launcher_version, self.app.name());
        let client = http::client(self.limits.timeout, &user_agent)?;
        // The attempt counts as the day's check even if the feed never answers: a black-holed
        // feed costs one background request a day, not one per start.
        let mut state = UpdateState::load(&self.app.dirs.home);
        state.last_check = Some(now_secs());
        let _ = state.save(&self.app.dirs.home);
        let trusted = self.refresh_trust(&client, &mut state).await?;
        let (feed, feed_signer) = self.fetch_feed(&client, &trusted, &mut state).await?;
        let installed = self.installed_version();
        let current = self.current_version(&state);
        let install_id = install_id(&self.app.dirs.home);
        let floor = self.app.floor(&state);
        let inputs = pick::Inputs {
            platform: &self.app.manifest().platform,
            current: &installed,
            floor: floor.as_ref(),
            launcher: &self.app.launcher_version,
            // This client's rule, never the feed's: the feed's channel was checked to be ours.
            prerelease: self.app.runs_prereleases(),
            install_id: &install_id,
        };
        let release = match pick::pick(&feed, &inputs) {
            pick::Pick::Install(release) => release.clone(),
            pick::Pick::UpToDate { newest_offered } => {
                self.clean_downloads(&[]);
                return Ok(Outcome::UpToDate { current, newest_offered });
            }
        };
        let keep: Vec<&str> = std::iter::once(release.payload.sha256.as_str())
            .chain(release.launcher.iter().map(|l| l.artifact.sha256.as_str()))
            .chain(release.deltas.iter().map(|d| d.artifact.sha256.as_str()))
            .collect();
        self.clean_downloads(&keep);
        self.install(&client, &release, &mut state, &trusted, &feed_signer).await
    }

    /// Walks the trust statements served next to the feed ([`trust`]) and checks the result is
    /// fresh: what the feed and the artifacts are checked with.
    async fn refresh_trust(&self, client: &reqwest::Client, state: &mut UpdateState) -> Result<Trusted, UpdateError> {
        let url = trust::url_for(&self.feed_url);
        let home = &self.app.dirs.home;
        let before = trust::load(self.app.manifest(), home)
            .map_err(|source| UpdateError::Trust { url: trust::path(home).display().to_string(), source })?
            .ok_or(UpdateError::NotConfigured)?;
        // Conditionally on the copy kept from the last walk: a `304` re-walks the kept bytes (a
        // no-op when nothing changed; the kept copy is verified like a download, never trusted).
        let cache_dir = &self.app.dirs.cache;
        let kept = cache::load_trust(cache_dir, &url);
        let served = http::with_deadline(&self.limits, &url, async {
            let known = kept.as_ref().map(|k| &k.doc.validators);
            match http::get_conditional(client, &url, sea_payload::trust::MAX_TRUST_LEN, known).await {
                Ok(http::Fetched::Body(bytes, validators)) => Ok(Some((bytes, Some(validators)))),
                Ok(http::Fetched::NotModified) => Ok(kept.as_ref().map(|k| (k.doc.body.clone().into_bytes(), None))),
                // No statement published: what is trusted stays as it is.
                Err(UpdateError::Status { status: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        let (served, validators) = served.map_or((None, None), |(bytes, v)| (Some(bytes), v));
        let refreshed = trust::refresh(self.app, before, served.as_deref(), &url, state)?;
        if let (Some(validators), Some(bytes)) = (validators, &served)
            && let Ok(body) = String::from_utf8(bytes.clone())
        {
            cache::save_trust(cache_dir, &cache::KeptDoc { url: url.clone(), doc: cache::Kept { validators, body } });
        }
        if self.interactive {
            for key in &refreshed.revoked {
                crate::say::say!("{}: the publisher revoked the release key {key}", self.app.name());
            }
        }
        state.save(home).map_err(|e| UpdateError::Io {
            what: "write",
            path: crate::start::state::path(home),
            source: e,
        })?;
        refreshed.trusted.check_fresh(now_secs()).map_err(|source| UpdateError::TrustExpired { source })?;
        Ok(refreshed.trusted)
    }

    /// Fetches, verifies and checks the feed (module step 1), records its sequence with the key
    /// that signed it, and keeps it for the next conditional request; returns the feed and that key.
    async fn fetch_feed(
        &self,
        client: &reqwest::Client,
        trusted: &Trusted,
        state: &mut UpdateState,
    ) -> Result<(Feed, String), UpdateError> {
        let url = self.feed_url.as_str();
        let cache_dir = &self.app.dirs.cache;
        let mut kept = cache::load(cache_dir, &self.channel, url);
        loop {
            let reused = kept.is_some();
            let (bytes, sig, fresh_copy) = self.fetch_feed_bytes(client, kept.as_ref()).await?;
            match self.check_feed(&bytes, &sig, trusted, state) {
                // A kept copy that no longer verifies (or a 304 for one half only, against a
                // changed other half): fetch both afresh, once.
                Err(UpdateError::FeedSignature(_) | UpdateError::FeedNotTrusted { .. } | UpdateError::Feed(_))
                    if reused =>
                {
                    tracing::debug!("the kept feed did not verify; fetching it again in full");
                    kept = None;
                }
                Err(e) => return Err(e),
                Ok((feed, signer)) => {
                    if let Some(copy) = fresh_copy {
                        cache::save(cache_dir, &self.channel, &copy);
                    }
                    if let Some(sequence) = feed.sequence {
                        state.record_feed(&self.channel, sequence, &signer);
                        if let Err(e) = state.save(&self.app.dirs.home) {
                            tracing::warn!(error = %e, "could not record the feed's sequence; replays of older feeds are caught by the rollback floor only");
                        }
                    }
                    return Ok((feed, signer));
                }
            }
        }
    }

    /// The feed's and the signature's bytes, each from the server or — on a `304` — from `kept`;
    /// and the copy to keep when anything new arrived.
    async fn fetch_feed_bytes(
        &self,
        client: &reqwest::Client,
        kept: Option<&cache::KeptFeed>,
    ) -> Result<(Vec<u8>, String, Option<cache::KeptFeed>), UpdateError> {
        let url = self.feed_url.as_str();
        let sig_url = format!("{url}.minisig");
        let (feed, sig) = http::with_deadline(&self.limits, url, async {
            let feed = http::get_conditional(client, url, MAX_FEED_LEN, kept.map(|k| &k.feed.validators)).await?;
            let sig = http::get_conditional(client, &sig_url, MAX_SIGNATURE_LEN, kept.map(|k| &k.signature.validators))
                .await?;
            Ok((feed, sig))
        })
        .await?;
        let not_text = || UpdateError::FeedSignature(SignatureError::BadSignature("not text".into()));
        let resolve = |fetched: http::Fetched, kept: Option<&cache::Kept>| match (fetched, kept) {
            (http::Fetched::Body(body, validators), _) => {
                String::from_utf8(body).map(|body| (cache::Kept { validators, body }, true)).map_err(|_| ())
            }
            (http::Fetched::NotModified, Some(kept)) => Ok((kept.clone(), false)),
            (http::Fetched::NotModified, None) => Err(()),
        };
        let (feed, new_feed) = resolve(feed, kept.map(|k| &k.feed))
            .map_err(|()| UpdateError::Feed(FeedError::Invalid(format!("{url} is not UTF-8 text"))))?;
        let (sig, new_sig) = resolve(sig, kept.map(|k| &k.signature)).map_err(|()| not_text())?;
        let bytes = feed.body.clone().into_bytes();
        let text = sig.body.clone();
        let copy = (new_feed || new_sig).then(|| cache::KeptFeed { url: url.to_owned(), feed, signature: sig });
        Ok((bytes, text, copy))
    }

    /// Signature (by a trusted release key, returned), format, app, channel and freshness of a feed.
    fn check_feed(
        &self,
        bytes: &[u8],
        sig: &str,
        trusted: &Trusted,
        state: &UpdateState,
    ) -> Result<(Feed, String), UpdateError> {
        let url = self.feed_url.as_str();
        let signer = trusted.verify_release(bytes, sig).map_err(|e| match e {
            TrustError::Signature(e) => UpdateError::FeedSignature(e),
            // No statement published: the one-key wording ("another key than the one this binary trusts").
            TrustError::NotTrusted { version: 0 } => UpdateError::FeedSignature(SignatureError::OtherKey),
            source => UpdateError::FeedNotTrusted { url: url.to_owned(), source },
        })?;
        let feed = Feed::from_bytes(bytes)?;
        if feed.name != self.app.name() {
            return Err(UpdateError::OtherApp { found: feed.name });
        }
        if feed.channel != self.channel {
            return Err(UpdateError::OtherChannel {
                url: url.to_owned(),
                found: feed.channel,
                expected: self.channel.clone(),
            });
        }
        let seen = state.feed_record(&self.channel).map(|r| r.sequence);
        feed.check_fresh(sea_payload::time::now(), seen).map_err(|stale| {
            let advice = match stale {
                Stale::Expired { .. } => {
                    "the publisher must renew it with `sea-pack release --refresh` (or a new release); a mirror that serves it must sync"
                }
                Stale::Replayed { .. } => "the feed was refused",
            };
            UpdateError::Stale { url: url.to_owned(), stale, advice, running: self.installed_version() }
        })?;
        Ok((feed, signer))
    }

    async fn install(
        &self,
        client: &reqwest::Client,
        release: &Release,
        state: &mut UpdateState,
        trusted: &Trusted,
        feed_signer: &str,
    ) -> Result<Outcome, UpdateError> {
        let previous = self.installed_version();
        let tried = delta::try_install(self, client, release, trusted).await;
        let mut download = Download {
            previous,
            bytes: tried.downloaded,
            full: release.payload.size,
            delta_from: tried.installed_from.as_ref().map(|(from, _, _)| from.clone()),
        };
        let (launcher, tree_id, package_signer) = match tried.installed_from {
            Some((_, tree_id, signer)) => (None, tree_id, signer),
            None => {
                let payload_path = self
                    .fetch(client, &release.payload, &format!("{} {}", self.app.name(), release.version), trusted)
                    .await?;
                download.bytes += release.payload.size;
                let outcome = self.install_downloaded(client, release, &payload_path, trusted).await;
                let _ = fs::remove_file(&payload_path);
                outcome?
            }
        };
        // Recorded before anything can fail below: a tree on disk always has its signer on record.
        state.record_tree(&tree_id, &package_signer);
        // The floor rises only for a release this client runs: for its platform, allowed by its
        // pre-release rule, and runnable by the launcher it now has. `pick` chose by the same
        // rules; this keeps the invariant where the floor is written.
        let launcher_now = launcher.as_ref().unwrap_or(&self.app.launcher_version);
        let runs = release.platform == self.app.manifest().platform
            && (self.app.runs_prereleases() || release.version.pre.is_empty())
            && release.min_launcher <= *launcher_now;
        if !runs {
            return Err(UpdateError::WrongPayload(format!(
                "release {} is not one this client runs; the rollback floor was left as it was",
                release.version
            )));
        }
        state.raise(&self.channel, self.app.runs_prereleases(), &release.version, feed_signer);
        state.save(&self.app.dirs.home).map_err(|e| UpdateError::Io {
            what: "write",
            path: crate::start::state::path(&self.app.dirs.home),
            source: e,
        })?;
        Ok(Outcome::Installed { version: release.version.clone(), launcher, download })
    }

    async fn install_downloaded(
        &self,
        client: &reqwest::Client,
        release: &Release,
        payload_path: &Path,
        trusted: &Trusted,
    ) -> Result<(Option<Version>, String, String), UpdateError> {
        let package = Package::open(payload_path).map_err(UpdateError::Package)?;
        let signer = self.check_package(&package, release, trusted)?;
        let tree_id = package.manifest().tree_id();
        self.extract_update(&package, trusted)?;
        if release.min_launcher <= self.app.launcher_version {
            return Ok((None, tree_id, signer));
        }
        let Some(launcher) = &release.launcher else {
            return Err(UpdateError::BadLauncher(format!(
                "release {} needs launcher {} but the feed ships none",
                release.version, release.min_launcher
            )));
        };
        let stub_path =
            self.fetch(client, &launcher.artifact, &format!("launcher {}", launcher.version), trusted).await?;
        let replaced = replace::replace(self.app, trusted, &stub_path, launcher, payload_path, release);
        let _ = fs::remove_file(&stub_path);
        replaced.map(|v| (Some(v), tree_id, signer))
    }

    /// Installs a verified package as an update tree (`<cache>/pkg/<platform>/<version>-<sha12>/`,
    /// marked as an update), with the launcher's safe extraction: the one install path of
    /// `--sea-update` and `--sea-install`.
    fn extract_update(&self, package: &Package, trusted: &Trusted) -> Result<(), UpdateError> {
        let dirs = &self.app.dirs;
        let tree = TreePaths::new(&dirs.pkg, &package.manifest().tree_id());
        let options = ExtractOptions {
            app: self.app.name(),
            trusted: Some(trusted),
            mark_update: true,
            progress: self.interactive,
            defer_flush: false,
        };
        crate::start::repair::ensure_tree_in_use(package, &tree, dirs, &options)?;
        Ok(())
    }

    /// The package must be the release the feed describes, signed by a trusted release key
    /// (returned).
    fn check_package(&self, package: &Package, release: &Release, trusted: &Trusted) -> Result<String, UpdateError> {
        let m = package.manifest();
        let wrong = if m.version != release.version {
            Some(format!("it is version {}, the feed says {}", m.version, release.version))
        } else if m.min_launcher != release.min_launcher {
            Some("its launcher requirement differs from the feed's".to_owned())
        } else {
            None
        };
        if let Some(why) = wrong {
            return Err(UpdateError::WrongPayload(why));
        }
        self.check_origin(package, trusted)
    }

    /// The package must be this app's, for this platform, signed by a trusted release key
    /// (returned).
    fn check_origin(&self, package: &Package, trusted: &Trusted) -> Result<String, UpdateError> {
        if let Some(why) = self.foreign(package) {
            return Err(UpdateError::WrongPayload(why));
        }
        let signer = crate::start::signer::check_package(package, Some(trusted)).map_err(UpdateError::Package)?;
        signer.ok_or_else(|| UpdateError::WrongPayload("its signature was not checked".into()))
    }

    /// Why a package is not this app's for this platform, if it is not.
    fn foreign(&self, package: &Package) -> Option<String> {
        let m = package.manifest();
        let ours = self.app.manifest();
        if m.name != ours.name {
            Some(format!("it is '{}', not '{}'", m.name, ours.name))
        } else if m.platform != ours.platform {
            Some(format!("it is for {}, not {}", m.platform, ours.platform))
        } else {
            None
        }
    }

    /// Deletes what earlier runs left in `<cache>/downloads/` except the partial downloads of the
    /// artifacts in `keep` (which resume): under the update lock, anything else belongs to a
    /// release that is no longer the one to install.
    fn clean_downloads(&self, keep: &[&str]) {
        let downloads = self.app.dirs.cache.join("downloads");
        let Ok(listing) = fs::read_dir(&downloads) else { return };
        for entry in listing.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let sha = name.strip_suffix(".part").unwrap_or(&name);
            if !keep.iter().any(|k| k.eq_ignore_ascii_case(sha)) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Downloads and verifies one artifact; returns its path in `<cache>/downloads/`. A resumed
    /// download that does not verify is deleted and fetched once more from scratch.
    async fn fetch(
        &self,
        client: &reqwest::Client,
        artifact: &Artifact,
        label: &str,
        trusted: &Trusted,
    ) -> Result<PathBuf, UpdateError> {
        let downloads = self.app.dirs.cache.join("downloads");
        crate::private::create_dir(&downloads, true).map_err(|e| UpdateError::Io {
            what: "create",
            path: downloads.clone(),
            source: e,
        })?;
        let name = if digest::from_hex(&artifact.sha256).is_some() {
            artifact.sha256.to_ascii_lowercase()
        } else {
            "invalid".into()
        };
        let part = downloads.join(format!("{name}.part"));
        let done = downloads.join(&name);
        check_space(&downloads, artifact.size, &self.app.dirs.cache_var)?;
        for attempt in 0..2 {
            let resumed = fs::metadata(&part).is_ok_and(|m| m.len() > 0);
            let bar = self.progress_bar(artifact.size, label);
            let report = |n: u64| {
                if let Some(bar) = &bar {
                    bar.set(n);
                }
            };
            let downloaded =
                http::download(client, artifact, &part, &report, &self.app.dirs.cache_var, &self.limits).await;
            drop(bar);
            if let Err(e) = downloaded {
                if !http::keep_partial(&e) {
                    let _ = fs::remove_file(&part);
                }
                return Err(e);
            }
            match verify_file(&part, artifact, trusted) {
                Ok(()) => {
                    fs::rename(&part, &done).map_err(|e| UpdateError::Io {
                        what: "rename",
                        path: part.clone(),
                        source: e,
                    })?;
                    return Ok(done);
                }
                Err(e) => {
                    let _ = fs::remove_file(&part);
                    if !(resumed && attempt == 0) {
                        return Err(e);
                    }
                }
            }
        }
        Err(UpdateError::DigestMismatch { url: artifact.url.clone() })
    }

    fn progress_bar(&self, total: u64, label: &str) -> Option<Progress> {
        if !self.interactive {
            return None;
        }
        Progress::new(format!("{}: downloading {label}", self.app.name()), total)
    }
}

/// Size, SHA-256 and minisign signature of a downloaded file, in one streaming pass.
fn verify_file(path: &Path, artifact: &Artifact, trusted: &Trusted) -> Result<(), UpdateError> {
    let io = |source| UpdateError::Io { what: "read", path: path.to_owned(), source };
    let file = fs::File::open(path).map_err(io)?;
    verify_reader(file, artifact, trusted, path)
}

/// Size, SHA-256 and minisign signature of bytes held in memory: the bytes then used are the
/// bytes verified.
pub(super) fn verify_bytes(
    bytes: &[u8],
    artifact: &Artifact,
    trusted: &Trusted,
    from: &Path,
) -> Result<(), UpdateError> {
    verify_reader(bytes, artifact, trusted, from)
}

/// Size, SHA-256 and minisign signature of what `reader` yields (read from `from`).
fn verify_reader(
    mut reader: impl Read,
    artifact: &Artifact,
    trusted: &Trusted,
    from: &Path,
) -> Result<(), UpdateError> {
    let url = artifact.url.clone();
    let io = |source| UpdateError::Io { what: "read", path: from.to_owned(), source };
    let sig = signature::parse_signature(&artifact.signature)
        .map_err(|source| UpdateError::ArtifactSignature { url: url.clone(), source })?;
    // The release key whose id the signature names; a key the statement does not trust is
    // "another key", whatever signed it.
    let keys = trusted
        .release_keys
        .iter()
        .map(|key| signature::parse_public_key(key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(UpdateError::FeedSignature)?;
    let mut verifier = signature::Streaming::start(&sig, &keys)
        .map_err(|source| UpdateError::ArtifactSignature { url: url.clone(), source })?;
    let mut hasher = digest::HashingReader::new(&mut reader);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = hasher.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n]);
    }
    let (sha, size) = hasher.finish();
    if size != artifact.size {
        return Err(UpdateError::SizeMismatch { url, expected: artifact.size, found: size });
    }
    if Some(sha) != digest::from_hex(&artifact.sha256) {
        return Err(UpdateError::DigestMismatch { url });
    }
    verifier.finish().map_err(|_| UpdateError::ArtifactSignature { url, source: SignatureError::Mismatch })
}

/// Refuses a download that cannot fit (what is already downloaded counts as fitting).
fn check_space(dir: &Path, size: u64, var: &str) -> Result<(), UpdateError> {
    #[cfg(unix)]
    if let Ok(stats) = extract::statvfs(dir)
        && stats.available < size
    {
        return Err(UpdateError::NoSpace {
            path: dir.to_owned(),
            needed: size,
            available: stats.available,
            var: var.to_owned(),
        });
    }
    #[cfg(not(unix))]
    let _ = (dir, size, var);
    Ok(())
}

/// This install's stable random id, created on first use in `<home>/install-id`.
fn install_id(home: &Path) -> String {
    let path = home.join("install-id");
    if let Ok(text) = fs::read_to_string(&path)
        && text.trim().len() == 32
    {
        return text.trim().to_owned();
    }
    let mut raw = [0u8; 16];
    let random = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut raw));
    if random.is_err() {
        let seed = format!("{:?}{}", SystemTime::now(), std::process::id());
        raw.copy_from_slice(&digest::sha256(seed.as_bytes())[..16]);
    }
    let id = digest::to_hex(&raw);
    let _ = crate::private::write(&path, id.as_bytes());
    id
}
