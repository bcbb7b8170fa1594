//! `sea-pack release`: packed executables → a signed update feed that any static server serves.
//!
//! # The release directory
//! ```text
//! <DIR>/stable.json                            the channel's feed (one file per channel)
//! <DIR>/stable.json.minisig                    its minisign signature
//! <DIR>/hello-1.2.0-linux-x64.sea              payload artifact: the packed executable minus the stub
//! <DIR>/hello-1.2.0-linux-x64.sea.minisig      its minisign signature
//! <DIR>/hello-1.2.0-linux-x64.from-1.1.0.delta  delta from 1.1.0 (+ .minisig; `--deltas N`, see
//!                                              `sea_payload::delta` and `write_deltas`)
//! <DIR>/sea-launcher-0.2.0-linux-x64           launcher stub, for clients that must self-replace
//! <DIR>/sea-launcher-0.2.0-linux-x64.minisig   its minisign signature
//! ```
//! Upload the directory as is. Files are only ever added: artifacts of earlier releases stay, and
//! a new run merges its releases into the existing feed, whose signature it checks first.
//!
//! # The feed (`<channel>.json`, format 1)
//! Described once, for publishers, in the README ("The release directory and feed", with the
//! freshness fields in "Freshness and mirrors"); the types, their bounds and checks are
//! [`sea_payload::feed`]. The feed's own signature (`<channel>.json.minisig`) covers its exact
//! bytes; clients check it against their baked-in keys, then each download's size, SHA-256 and
//! signature, then the payload's manifest signature, before installing anything.
//!
//! # Implementation
//! Every binary is fully verified and every conflict found before the first file is written:
//! another app, a key that differs from the one baked into a binary, an unsigned payload, a
//! version+platform already in the feed with other content, an existing file with other bytes.
//! Then artifacts are written (atomically, never replacing a file) and signed, and last the
//! merged feed and its signature, so a feed never names a file that is not there yet.
//!
//! # Limitations
//! Concurrent `release` runs into one directory are not serialised; run one at a time.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use sea_payload::digest::{self, HashingReader};
use sea_payload::feed::{self, Artifact, DeltaArtifact, Feed, LauncherArtifact, Release};
use sea_payload::package::Search;
use sea_payload::unpack::UnpackOptions;
use sea_payload::{Package, delta};
use semver::Version;

use crate::cli::ReleaseArgs;
use crate::output::{self, AtomicFile, Replace};
use crate::sign::SigningKey;
use crate::verify::{self, Checked, Signature};

/// Settings common to every file of one run.
#[derive(Debug)]
struct Run {
    dir: PathBuf,
    base_url: String,
    channel: String,
    key: SigningKey,
    rollout: Option<u8>,
    /// Seconds from now until the written feed expires.
    expires_in: u64,
    /// Deltas to write per new release, from the newest earlier releases.
    deltas: usize,
}

/// A file to publish: its name in DIR and the digest of the bytes it must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    name: String,
    sha256: String,
    size: u64,
}

/// What to do with one binary.
#[derive(Debug)]
enum Action {
    /// Add a release.
    Add { payload: Planned, launcher: Option<Planned> },
    /// Identical to a release already in the feed; maybe with a new rollout.
    Keep { index: usize },
    /// The same binary was given twice.
    Repeat,
}

/// Runs `release`.
pub(crate) fn run(args: &ReleaseArgs, out: &mut dyn Write) -> Result<()> {
    let ctx = settings(args)?;
    if args.refresh {
        return refresh(&ctx, out);
    }
    let checked = open_all(&args.binaries, &ctx.key)?;
    let name = checked.first().map(|c| c.package.manifest().name.clone()).context("no binaries given")?;
    fs::create_dir_all(&ctx.dir).with_context(|| format!("could not create {}", ctx.dir.display()))?;
    let feed_path = ctx.dir.join(format!("{}.json", ctx.channel));
    let mut feed = load_feed(&feed_path, &name, &ctx)?;
    let actions = plan(&checked, &feed, &ctx)?;
    for c in &checked {
        let m = c.package.manifest();
        if let Some(follows) = m.update.channel().filter(|follows| *follows != ctx.channel) {
            eprintln!(
                "sea-pack: warning: {} follows channel '{follows}' (its --feed), not '{}': a client of '{}' \
                 that self-replaces with it follows '{follows}' from then on",
                c.package.path().display(),
                ctx.channel,
                ctx.channel
            );
        }
    }
    let mut changed = false;
    for (checked, action) in checked.iter().zip(actions) {
        changed |= apply(&mut feed, checked, action, &ctx, out)?;
    }
    if !changed {
        writeln!(out, "{} unchanged: every release was already in it", feed_path.display())?;
        return print_expiry(&feed, &ctx, out);
    }
    feed.releases.sort_by(|a, b| a.version.cmp(&b.version).then_with(|| a.platform.cmp(&b.platform)));
    write_feed(&feed_path, &mut feed, &ctx)?;
    let count = feed.releases.len();
    let plural = if count == 1 { "" } else { "s" };
    writeln!(out, "wrote {} ({count} release{plural}) and its signature", feed_path.display())?;
    print_expiry(&feed, &ctx, out)
}

/// `release --refresh`: the existing feed, its signature checked, re-signed with a new expiry
/// and the next sequence; nothing else changes and no artifact is touched.
fn refresh(ctx: &Run, out: &mut dyn Write) -> Result<()> {
    let feed_path = ctx.dir.join(format!("{}.json", ctx.channel));
    if !feed_path.exists() {
        bail!(
            "--refresh: there is no feed {} to renew; publish one first with `sea-pack release <BINARY>... --base-url <URL> -o {} --sign-key <FILE>`{}",
            feed_path.display(),
            ctx.dir.display(),
            if ctx.channel == "stable" { String::new() } else { format!(" --channel {}", ctx.channel) }
        );
    }
    let name = peek_name(&feed_path)?;
    let mut feed = load_feed(&feed_path, &name, ctx)?;
    let before = feed.sequence;
    write_feed(&feed_path, &mut feed, ctx)?;
    writeln!(
        out,
        "refreshed {} (sequence {} -> {}, {} release{} unchanged) and its signature",
        feed_path.display(),
        before.map_or_else(|| "none".to_owned(), |n| n.to_string()),
        feed.sequence.unwrap_or_default(),
        feed.releases.len(),
        if feed.releases.len() == 1 { "" } else { "s" }
    )?;
    print_expiry(&feed, ctx, out)
}

/// The app name a feed file states (checked properly, with its signature, by [`load_feed`]).
fn peek_name(path: &Path) -> Result<String> {
    let bytes = read_limited(path, feed::MAX_FEED_LEN)?;
    let feed =
        Feed::from_bytes(&bytes).with_context(|| format!("could not read the existing feed {}", path.display()))?;
    Ok(feed.name)
}

/// When the feed expires, and the trust statement of the directory if there is one.
fn print_expiry(feed: &Feed, ctx: &Run, out: &mut dyn Write) -> Result<()> {
    match feed.expires {
        Some(expires) => writeln!(
            out,
            "  feed {}.json expires {} UTC{} (sequence {}): renew it before then with `sea-pack release --refresh -o {} --sign-key <FILE>`",
            feed.channel,
            sea_payload::time::utc_date(expires),
            if expires <= now() { " (EXPIRED)" } else { "" },
            feed.sequence.unwrap_or_default(),
            ctx.dir.display()
        )?,
        None => writeln!(out, "  feed {}.json has no expiry (written by an older sea-pack)", feed.channel)?,
    }
    if let Some(line) = crate::inspect::trust_expiry_line(&ctx.dir) {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

fn settings(args: &ReleaseArgs) -> Result<Run> {
    feed::validate_channel(&args.channel).map_err(|e| anyhow!("invalid --channel: {e}"))?;
    let expires_in = crate::duration::parse(&args.expires).context("--expires")?;
    let base_url = match &args.base_url {
        Some(given) => {
            let base_url = given.trim_end_matches('/').to_owned();
            if base_url.ends_with("//") {
                bail!("--base-url '{given}' must be an https:// URL, e.g. https://example.com/hello");
            }
            feed::check_url(&base_url)
                .map_err(|e| anyhow!("--base-url: {e}; e.g. --base-url https://example.com/hello"))?;
            base_url
        }
        // `--refresh` writes no artifact, so it names no URL.
        None => String::new(),
    };
    let key = SigningKey::load(&args.sign_key)?;
    Ok(Run {
        dir: args.output.clone(),
        base_url,
        channel: args.channel.clone(),
        key,
        rollout: args.rollout,
        expires_in,
        deltas: args.deltas,
    })
}

/// Opens and fully verifies every binary; all must be one app, signed by the release key.
fn open_all(paths: &[PathBuf], key: &SigningKey) -> Result<Vec<Checked>> {
    let mut all: Vec<Checked> = Vec::new();
    for path in paths {
        let checked = verify::check(path, None, verify::Depth::Full)?;
        check_key(&checked, key)?;
        if let Some(first) = all.first() {
            let (a, b) = (&first.package.manifest().name, &checked.package.manifest().name);
            if a != b {
                bail!(
                    "{} is app '{a}' but {} is app '{b}': a feed belongs to one app; release them separately",
                    first.package.path().display(),
                    path.display()
                );
            }
        }
        all.push(checked);
    }
    Ok(all)
}

/// The payload must be signed by the release key, and a key baked into the binary must be it:
/// clients check both, and would refuse the release otherwise.
fn check_key(checked: &Checked, key: &SigningKey) -> Result<()> {
    let path = checked.package.path().display();
    let public = key.public_base64();
    let manifest = checked.package.manifest();
    if let Some(trusted) = manifest.update.trusted(&manifest.name).ok().flatten().map(|a| a.trusted)
        && !trusted.trusts(&public)
    {
        bail!(
            "{path} trusts the public key {}, but --sign-key {} is {public}: its clients would reject \
             this release; sign with the key the binary was built with (a --public-key, or a release key of \
             the statement given to --trust)",
            trusted.release_keys.join(", "),
            key.path().display()
        );
    }
    match &checked.signature {
        Signature::Verified { .. } => Ok(()),
        Signature::Missing { .. } | Signature::Unsigned => bail!(
            "{path} is not signed: build it with --sign-key {} (clients refuse unsigned payloads)",
            key.path().display()
        ),
        Signature::Unverified => checked
            .package
            .check_signature(Some(&public))
            .map(drop)
            .map_err(|e| anyhow!("{e} (checked with --sign-key's public key {public})")),
    }
}

/// Reads the existing feed, after checking its signature; or starts an empty one.
fn load_feed(path: &Path, name: &str, ctx: &Run) -> Result<Feed> {
    if !path.exists() {
        return Ok(Feed::new(name, &ctx.channel));
    }
    let bytes = read_limited(path, feed::MAX_FEED_LEN)?;
    let sig_path = minisig_path(path);
    let sig = fs::read_to_string(&sig_path).with_context(|| {
        format!(
            "{} exists but its signature {} cannot be read; restore it, or move the feed away",
            path.display(),
            sig_path.display()
        )
    })?;
    crate::trust::verify_existing(&bytes, &sig, &ctx.key.public_base64(), &ctx.dir).map_err(|e| {
        anyhow!(
            "the existing feed {} does not verify with --sign-key's public key ({e}); it was modified or \
             signed with another key: refusing to add to it",
            path.display()
        )
    })?;
    let feed =
        Feed::from_bytes(&bytes).with_context(|| format!("could not read the existing feed {}", path.display()))?;
    if feed.name != name {
        bail!("{} is the feed of app '{}', not '{name}': use another -o directory", path.display(), feed.name);
    }
    if feed.channel != ctx.channel {
        bail!("{} says it is channel '{}', not '{}'", path.display(), feed.channel, ctx.channel);
    }
    Ok(feed)
}

/// Decides what to do with each binary, finding every conflict before anything is written.
fn plan(checked: &[Checked], feed: &Feed, ctx: &Run) -> Result<Vec<Action>> {
    let mut files: HashMap<String, (String, PathBuf)> = HashMap::new();
    let mut releases: HashMap<(Version, String), String> = HashMap::new();
    let mut actions = Vec::new();
    for c in checked {
        let m = c.package.manifest();
        let payload = planned(artifact_name(m), c.package.artifact_reader())?;
        let key = (m.version.clone(), m.platform.clone());
        match releases.insert(key, payload.sha256.clone()) {
            Some(other) if other != payload.sha256 => {
                bail!("two of the binaries are {} {} for {} with different content", m.name, m.version, m.platform)
            }
            Some(_) => {
                actions.push(Action::Repeat);
                continue;
            }
            None => {}
        }
        if let Some(index) = feed.releases.iter().position(|r| r.version == m.version && r.platform == m.platform) {
            actions.push(keep(feed, index, &payload, c, ctx)?);
            continue;
        }
        check_present(&ctx.dir, &payload)?;
        claim(&mut files, &payload, c.package.path())?;
        let launcher = if m.min_launcher > Version::new(0, 0, 0) {
            let stub = planned(stub_name(m), c.package.stub_reader())?;
            check_present(&ctx.dir, &stub)?;
            claim(&mut files, &stub, c.package.path())?;
            Some(stub)
        } else {
            None
        };
        actions.push(Action::Add { payload, launcher });
    }
    Ok(actions)
}

/// A release already in the feed: fine if identical, an error otherwise.
fn keep(feed: &Feed, index: usize, payload: &Planned, c: &Checked, ctx: &Run) -> Result<Action> {
    let existing = &feed.releases[index].payload;
    if existing.sha256 != payload.sha256 || existing.size != payload.size {
        let m = c.package.manifest();
        bail!(
            "{}.json already has {} {} for {} with other content (sha256 {}, {} has {}): a released version \
             never changes; build a new --version",
            ctx.channel,
            m.name,
            m.version,
            m.platform,
            existing.sha256,
            c.package.path().display(),
            payload.sha256
        );
    }
    Ok(Action::Keep { index })
}

/// Two binaries of one run may share a file (the same stub) only with the same bytes.
fn claim(files: &mut HashMap<String, (String, PathBuf)>, file: &Planned, from: &Path) -> Result<()> {
    match files.get(&file.name) {
        Some((sha, other)) if *sha != file.sha256 => bail!(
            "{} and {} both need {} but with different content; a launcher or app version cannot have \
             two builds",
            other.display(),
            from.display(),
            file.name
        ),
        Some(_) => Ok(()),
        None => {
            files.insert(file.name.clone(), (file.sha256.clone(), from.to_owned()));
            Ok(())
        }
    }
}

/// Hashes the bytes a file must hold.
fn planned(name: String, content: impl Read) -> Result<Planned> {
    let (sha, size) = digest::sha256_reader(content).with_context(|| format!("could not read the bytes of {name}"))?;
    Ok(Planned { name, sha256: digest::to_hex(&sha), size })
}

/// A file already in DIR must hold exactly the planned bytes: published files never change.
fn check_present(dir: &Path, file: &Planned) -> Result<()> {
    let path = dir.join(&file.name);
    match fs::File::open(&path) {
        Ok(existing) => {
            let (sha, size) =
                digest::sha256_reader(existing).with_context(|| format!("could not read {}", path.display()))?;
            if digest::to_hex(&sha) != file.sha256 || size != file.size {
                bail!(
                    "{} already exists with other content: a published file never changes (remove it only if \
                     no feed names it)",
                    path.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Carries out one binary's action; returns whether the feed changed.
fn apply(feed: &mut Feed, c: &Checked, action: Action, ctx: &Run, out: &mut dyn Write) -> Result<bool> {
    let m = c.package.manifest();
    let what = format!("{} {} ({})", m.name, m.version, m.platform);
    match action {
        Action::Repeat => Ok(false),
        Action::Keep { index } => {
            let release = &mut feed.releases[index];
            match ctx.rollout {
                Some(rollout) if release.rollout != Some(rollout) => {
                    writeln!(out, "rollout of {what}: {} -> {rollout}%", percent(release.rollout))?;
                    release.rollout = Some(rollout);
                    Ok(true)
                }
                _ => {
                    writeln!(out, "unchanged: {what} is already in {}.json", ctx.channel)?;
                    Ok(false)
                }
            }
        }
        Action::Add { payload, launcher } => {
            let comment =
                format!("sea name={} version={} platform={} file={}", m.name, m.version, m.platform, payload.name);
            let payload = publish(&payload, c.package.artifact_reader(), 0o644, &comment, ctx)?;
            let launcher = match launcher {
                Some(stub) => {
                    let comment = format!(
                        "sea-launcher version={} platform={} file={}",
                        m.launcher_version, m.platform, stub.name
                    );
                    let artifact = publish(&stub, c.package.stub_reader(), 0o755, &comment, ctx)?;
                    Some(LauncherArtifact { version: m.launcher_version.clone(), artifact })
                }
                None => None,
            };
            writeln!(out, "added {what}: {}", payload.url)?;
            let deltas = write_deltas(feed, c, &payload, ctx, out)?;
            feed.releases.push(Release {
                version: m.version.clone(),
                platform: m.platform.clone(),
                min_launcher: m.min_launcher.clone(),
                rollout: ctx.rollout,
                published: now(),
                payload,
                launcher,
                deltas,
            });
            Ok(true)
        }
    }
}

fn percent(rollout: Option<u8>) -> String {
    rollout.map_or_else(|| "100%".to_owned(), |p| format!("{p}%"))
}

/// Writes (unless present: [`plan`] checked that its bytes are the same) and signs one file;
/// returns its feed entry. A signature already there is kept if it verifies.
fn publish(file: &Planned, content: impl Read, mode: u32, comment: &str, ctx: &Run) -> Result<Artifact> {
    let path = ctx.dir.join(&file.name);
    if fs::symlink_metadata(&path).is_err() {
        write_checked(&path, content, file, mode)?;
    }
    let sig_path = minisig_path(&path);
    let existing = fs::read_to_string(&sig_path).ok().filter(|sig| ctx.key.signed_file(&path, sig));
    let signature = match existing {
        Some(sig) => sig,
        None => {
            let reader = fs::File::open(&path).with_context(|| format!("could not read {}", path.display()))?;
            let sig = ctx.key.sign(std::io::BufReader::new(reader), comment)?;
            output::write_bytes(&sig_path, sig.as_bytes(), 0o644)?;
            sig
        }
    };
    Ok(Artifact {
        url: format!("{}/{}", ctx.base_url, file.name),
        size: file.size,
        sha256: file.sha256.clone(),
        signature,
    })
}

/// Copies `content` to a new file at `path`, failing if the bytes are not the planned ones (the
/// binary changed since it was verified) or if a file appeared there meanwhile.
fn write_checked(path: &Path, content: impl Read, file: &Planned, mode: u32) -> Result<()> {
    let mut atomic = AtomicFile::create(path)?;
    let mut reader = HashingReader::new(content);
    std::io::copy(&mut reader, atomic.writer()).with_context(|| format!("could not write {}", path.display()))?;
    let (sha, size) = reader.finish();
    if digest::to_hex(&sha) != file.sha256 || size != file.size {
        bail!("the source of {} changed while it was being released; run the release again", path.display());
    }
    atomic.commit(mode, Replace::No)
}

/// Sets the next sequence and the expiry, validates, writes and signs the feed.
fn write_feed(path: &Path, feed: &mut Feed, ctx: &Run) -> Result<()> {
    let sequence = feed.sequence.unwrap_or(0).checked_add(1).context("the feed's sequence cannot grow any more")?;
    feed.sequence = Some(sequence);
    feed.expires = Some(now().saturating_add(ctx.expires_in));
    feed.validate().with_context(|| format!("refusing to write an invalid feed to {}", path.display()))?;
    let bytes = feed.to_bytes();
    let comment = format!(
        "sea feed name={} channel={} releases={} sequence={sequence}",
        feed.name,
        feed.channel,
        feed.releases.len()
    );
    let sig = ctx.key.sign(&bytes[..], &comment)?;
    output::write_bytes(path, &bytes, 0o644)?;
    output::write_bytes(&minisig_path(path), sig.as_bytes(), 0o644)
}

fn artifact_name(m: &sea_payload::Manifest) -> String {
    format!("{}-{}-{}.sea", m.name, m.version, m.platform)
}

fn stub_name(m: &sea_payload::Manifest) -> String {
    format!("sea-launcher-{}-{}", m.launcher_version, m.platform)
}

fn minisig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).with_context(|| format!("could not read {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is larger than the {limit} bytes a feed may have", path.display());
    }
    Ok(bytes)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes and signs deltas to the new release `c` from up to `ctx.deltas` earlier releases of its
/// platform whose artifacts are in DIR (newest first); a base whose artifact is missing is
/// skipped with a warning. Deterministic: the same inputs give the same bytes.
fn write_deltas(
    feed: &Feed,
    c: &Checked,
    full: &Artifact,
    ctx: &Run,
    out: &mut dyn Write,
) -> Result<Vec<DeltaArtifact>> {
    let m = c.package.manifest();
    let mut bases: Vec<&Release> =
        feed.releases.iter().filter(|r| r.platform == m.platform && r.version < m.version).collect();
    bases.sort_by(|a, b| b.version.cmp(&a.version));
    bases.truncate(ctx.deltas);
    if bases.is_empty() {
        return Ok(Vec::new());
    }
    let scratch = tempfile::tempdir().context("could not create a temporary directory for deltas")?;
    let new_dir = scratch.path().join("new");
    let new_index = unpack_for_delta(&c.package, &new_dir)?;
    let mut deltas = Vec::new();
    for (n, base) in bases.into_iter().enumerate() {
        let file_name = base.payload.url.rsplit('/').next().unwrap_or_default();
        let base_path = ctx.dir.join(file_name);
        let base_pkg = match open_base(&base_path, base, ctx) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("sea-pack: warning: no delta from {} {}: {e:#}", m.name, base.version);
                continue;
            }
        };
        let base_dir = scratch.path().join(format!("base-{n}"));
        let base_index = unpack_for_delta(&base_pkg, &base_dir)?;
        let mut bytes = Vec::new();
        let summary = delta::build(
            &delta::Base { dir: &base_dir, index_bytes: &base_index, manifest: base_pkg.manifest() },
            &delta::Target {
                dir: &new_dir,
                index_bytes: &new_index,
                manifest_bytes: c.package.manifest_bytes(),
                signature: c.package.signature(),
            },
            m.compression.level.clamp(1, 22),
            &mut bytes,
        )
        .with_context(|| format!("could not build the delta from {}", base.version))?;
        let _ = fs::remove_dir_all(&base_dir);
        let name = format!("{}-{}-{}.from-{}.delta", m.name, m.version, m.platform, base.version);
        let file = planned(name, &bytes[..])?;
        check_present(&ctx.dir, &file)?;
        let comment = format!(
            "sea delta name={} version={} platform={} from={} file={}",
            m.name, m.version, m.platform, base.version, file.name
        );
        let artifact = publish(&file, &bytes[..], 0o644, &comment, ctx)?;
        writeln!(
            out,
            "  delta from {}: {} bytes, {:.1}% of the full {} ({} copied, {} patched, {} diffed, {} whole)",
            base.version,
            artifact.size,
            100.0 * artifact.size as f64 / full.size.max(1) as f64,
            full.size,
            summary.copied,
            summary.patched,
            summary.diffed,
            summary.whole
        )?;
        deltas.push(DeltaArtifact {
            from: base.version.clone(),
            base_sha256: base_pkg.manifest().payload.sha256.clone(),
            artifact,
        });
    }
    Ok(deltas)
}

/// An earlier release's artifact in DIR, checked against its feed entry and the release key.
fn open_base(path: &Path, base: &Release, ctx: &Run) -> Result<Package> {
    let file = fs::File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    let (sha, size) = digest::sha256_reader(file).with_context(|| format!("could not read {}", path.display()))?;
    if digest::to_hex(&sha) != base.payload.sha256 || size != base.payload.size {
        bail!("{} is not the artifact the feed names (other size or SHA-256)", path.display());
    }
    let package = Package::open_with(path, Search::End)?;
    package.check_signature(Some(&ctx.key.public_base64()))?;
    let bm = package.manifest();
    if bm.version != base.version || bm.platform != base.platform {
        bail!("{} is {} for {}, not what the feed says", path.display(), bm.version, bm.platform);
    }
    Ok(package)
}

/// Unpacks a package's payload into `dir` (created), for diffing; returns its index as the
/// manifest pins it (recorded while unpacking: a package need not ship it).
fn unpack_for_delta(package: &Package, dir: &Path) -> Result<Vec<u8>> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let (_, index) = package.unpack_indexed(dir, &UnpackOptions::default())?;
    Ok(index)
}
