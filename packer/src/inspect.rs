//! `sea-pack inspect`: what a packed executable holds and where, after checking its digests.
//!
//! The digests are checked ([`crate::verify::check`]) before anything is shown, so a summary is
//! never printed for a file whose payload does not match its manifest; the cost is one SHA-256
//! pass over the payload (about 1.7 GB/s here), not a decode. The index is not shipped (format 2):
//! `--entries` rebuilds it by decoding the payload, checks it against the manifest's digest, and
//! lists it. A binary without a signature although it
//! trusts a key is shown, with a status that says its launcher will refuse it; `verify` fails on it.
//!
//! Given a release directory (`sea-pack release -o` output), it shows each feed (`<channel>.json`:
//! app, releases, newest version, signed sequence, and when it expires — clients refuse it from
//! then on) and the expiry of the newest trust statement in `trust.json`, if there is one. The
//! signatures are not checked there (no key is given); clients and `release` check them.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sea_payload::Manifest;
use sea_payload::feed::{self, Feed};
use sea_payload::time::{now, utc_date};
use sea_payload::trailer::Layout;
use sea_payload::trust::TrustFile;
use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::verify::{self, Checked, KeySource, Signature};

/// Runs `inspect`.
pub(crate) fn run(args: &InspectArgs, out: &mut dyn Write) -> Result<()> {
    if args.binary.is_dir() {
        return run_dir(&args.binary, args.json, out);
    }
    let depth = if args.entries { verify::Depth::Full } else { verify::Depth::Digests };
    let checked = verify::check(&args.binary, None, depth)?;
    let written = if args.json { write_json(&checked, out) } else { write_text(&checked, out) };
    written.context("could not write to stdout")
}

fn write_json(checked: &Checked, out: &mut dyn Write) -> std::io::Result<()> {
    let package = &checked.package;
    let value = json!({
        "path": package.path().display().to_string(),
        "file_size": package.file_len(),
        "manifest": serde_json::to_value(package.manifest()).unwrap_or(Value::Null),
        "naming": naming_json(package.manifest()),
        "layout": layout_json(package.layout(), package.after_package_len()),
        "signature": signature_json(&checked.signature),
        "index_shipped": package.has_index_section(),
    });
    let mut value = value;
    if let Some(index) = &checked.index {
        value["entries"] = serde_json::to_value(&index.entries).unwrap_or(Value::Null);
    }
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    writeln!(out, "{text}")
}

/// The names the launcher will use, whether set at build time or derived from the app's name.
fn naming_json(m: &Manifest) -> Value {
    json!({
        "env_prefix": m.env_prefix(),
        "home_name": m.home_dir_name(),
        "cache_name": m.cache_dir_name(),
    })
}

/// `after_package`: what signing appended after the trailer (a Mach-O code signature or a PE
/// certificate table, with its padding); empty for a file that ends in its trailer.
fn layout_json(layout: &Layout, after: u64) -> Value {
    let section = |r: &Range<u64>| json!({ "offset": r.start, "length": r.end - r.start });
    json!({
        "after_package": section(&(layout.trailer.end..layout.trailer.end + after)),
        "stub": section(&(0..layout.stub_len)),
        "payload": section(&layout.payload),
        "index": section(&layout.index),
        "manifest": section(&layout.manifest),
        "signature": section(&layout.signature),
        "trailer": section(&layout.trailer),
    })
}

fn signature_json(signature: &Signature) -> Value {
    match signature {
        Signature::Unsigned => json!({ "status": "unsigned" }),
        Signature::Unverified => json!({ "status": "unverified" }),
        Signature::Missing { key } => json!({ "status": "missing", "key": key }),
        Signature::Verified { key, source, trusted_comment } => json!({
            "status": "verified",
            "key": key,
            "key_source": match source { KeySource::Given => "given", KeySource::BakedIn => "baked-in" },
            "trusted_comment": trusted_comment,
        }),
    }
}

fn write_text(checked: &Checked, out: &mut dyn Write) -> std::io::Result<()> {
    let package = &checked.package;
    let m = package.manifest();
    writeln!(out, "{}", package.path().display())?;
    write_manifest(m, checked, out)?;
    writeln!(out, "  signature     {}", signature_text(&checked.signature))?;
    writeln!(out, "layout (offset, length in bytes):")?;
    let layout = package.layout();
    let mut rows = vec![
        ("stub", 0..layout.stub_len),
        ("payload", layout.payload.clone()),
        ("index", layout.index.clone()),
        ("manifest", layout.manifest.clone()),
        ("signature", layout.signature.clone()),
        ("trailer", layout.trailer.clone()),
    ];
    // What a code signature or certificate table added after the package (macOS, Windows).
    if package.after_package_len() > 0 {
        rows.push(("signing", layout.trailer.end..package.file_len()));
    }
    for (name, range) in rows {
        writeln!(out, "  {name:<12}{:>14}{:>14}", range.start, range.end - range.start)?;
    }
    writeln!(out, "  {:<12}{:>14}{:>14}", "file", 0, package.file_len())?;
    if let Some(index) = &checked.index {
        writeln!(out, "entries (rebuilt from the payload):")?;
        for e in &index.entries {
            let kind = match e.kind {
                sea_payload::index::EntryKind::Dir => "dir ",
                sea_payload::index::EntryKind::File if e.exec => "exec",
                sea_payload::index::EntryKind::File => "file",
                sea_payload::index::EntryKind::Symlink => "link",
            };
            let detail = match (&e.sha256, &e.target) {
                (Some(sha), _) => format!("{:>12} {sha}", e.size),
                (None, Some(target)) => format!("-> {target}"),
                (None, None) => String::new(),
            };
            writeln!(out, "  {kind} {} {detail}", e.path)?;
        }
        return writeln!(out, "checked: trailer, manifest, payload sha256, index rebuilt and matching its sha256");
    }
    writeln!(out, "checked: trailer, manifest, payload sha256")
}

fn write_manifest(m: &Manifest, checked: &Checked, out: &mut dyn Write) -> std::io::Result<()> {
    let none = || "none".to_owned();
    writeln!(out, "  name          {}", m.name)?;
    writeln!(out, "  version       {}", m.version)?;
    writeln!(out, "  platform      {}", m.platform)?;
    writeln!(out, "  entry         {}", command_line(&m.entry, &m.args))?;
    if m.arg_templates {
        writeln!(out, "                ({{pkg_dir}} = the extracted tree in use)")?;
    }
    let set = |field: &Option<String>| if field.is_some() { "" } else { " (from the name)" };
    writeln!(out, "  variables     {}_*{}", m.env_prefix(), set(&m.naming.env_prefix))?;
    writeln!(out, "  home          $HOME/{}{}", m.home_dir_name(), set(&m.naming.home_name))?;
    writeln!(out, "  cache         <cache dir>/{}{}", m.cache_dir_name(), set(&m.naming.cache_name))?;
    writeln!(out, "  compression   {}", m.compression)?;
    writeln!(out, "  payload       {} bytes, sha256 {}", m.payload.size, m.payload.sha256)?;
    writeln!(
        out,
        "  unpacked      {} bytes in {} entries ({} executable)",
        m.unpacked_size,
        m.entries,
        m.executables.len()
    )?;
    let shipped = if checked.package.has_index_section() { "shipped" } else { "not shipped, rebuilt when unpacked" };
    writeln!(
        out,
        "  index         {} bytes, {} entries ({shipped}), sha256 {}",
        m.index.size, m.entries, m.index.sha256
    )?;
    writeln!(out, "  launcher      stub {}, runs on launcher >= {}", m.launcher_version, m.min_launcher)?;
    let run = if m.supervise {
        "as the launcher's supervised child (restarts on exit code 75)"
    } else {
        "in place of the launcher (exec; --no-supervise: no restarts)"
    };
    writeln!(out, "  runs          {run}")?;
    writeln!(out, "  packed with   {}", m.packed_with)?;
    writeln!(out, "  feed          {}", m.update.feed.clone().unwrap_or_else(none))?;
    writeln!(out, "  public key    {}", m.update.public_key.clone().unwrap_or_else(none))
}

fn signature_text(signature: &Signature) -> String {
    match signature {
        Signature::Unsigned => "none".to_owned(),
        Signature::Unverified => "present, not checked (no key baked in; use verify --public-key)".to_owned(),
        Signature::Missing { .. } => {
            "MISSING: the binary trusts a public key but is unsigned, so its launcher refuses to run it".to_owned()
        }
        Signature::Verified { trusted_comment, .. } => {
            format!("verified with the baked-in public key (trusted comment: {trusted_comment})")
        }
    }
}

/// The entry and its fixed arguments as a shell would read them.
fn command_line(entry: &str, args: &[String]) -> String {
    std::iter::once(entry.to_owned()).chain(args.iter().map(|a| quote(a))).collect::<Vec<_>>().join(" ")
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

/// One feed of a release directory.
struct FeedSummary {
    file: String,
    feed: Feed,
    signed: bool,
}

/// `inspect <DIR>`: the feeds and the trust statement of a release directory.
fn run_dir(dir: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let feeds = feeds_in(dir)?;
    let trust = trust_statement(dir)?;
    if feeds.is_empty() && trust.is_none() {
        bail!(
            "{} holds no feed (<channel>.json) and no trust.json: it is not a release directory (write one with `sea-pack release`)",
            dir.display()
        );
    }
    let written =
        if json { dir_json(dir, &feeds, trust.as_ref(), out) } else { dir_text(dir, &feeds, trust.as_ref(), out) };
    written.context("could not write to stdout")
}

/// "feed <channel>.json expires …" for every feed of a release directory (`trust` prints these
/// after writing a statement, as `release` prints the statement's).
pub(crate) fn feed_expiry_lines(dir: &Path) -> Vec<String> {
    feeds_in(dir)
        .unwrap_or_default()
        .iter()
        .map(|f| match f.feed.expires {
            Some(e) => format!(
                "feed {} expires {} UTC{}: renew it before then with `sea-pack release --refresh`",
                f.file,
                utc_date(e),
                expired_tag(Some(e))
            ),
            None => format!("feed {} has no expiry (older format): renew it with `sea-pack release --refresh`", f.file),
        })
        .collect()
}

/// The feeds (`<channel>.json`) of a release directory, by file name.
fn feeds_in(dir: &Path) -> Result<Vec<FeedSummary>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read the directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n != "trust.json" && feed::channel_of_url(n).is_some())
        .collect();
    names.sort();
    let mut feeds = Vec::new();
    for file in names {
        let path = dir.join(&file);
        let bytes = read_bounded(&path, feed::MAX_FEED_LEN)?;
        let feed = Feed::from_bytes(&bytes).with_context(|| format!("{} is not a valid feed", path.display()))?;
        let signed = dir.join(format!("{file}.minisig")).is_file();
        feeds.push(FeedSummary { file, feed, signed });
    }
    Ok(feeds)
}

/// The newest statement of `<dir>/trust.json`, if the file exists.
fn trust_statement(dir: &Path) -> Result<Option<sea_payload::trust::Statement>> {
    let path = dir.join("trust.json");
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(&path, sea_payload::trust::MAX_TRUST_LEN)?;
    let file =
        TrustFile::from_bytes(&bytes).with_context(|| format!("{} is not a valid trust file", path.display()))?;
    file.newest().with_context(|| format!("the newest statement of {} is not valid", path.display()))
}

/// "trust statement N expires …" for `<dir>/trust.json`, if there is a readable one (`release`
/// prints it after the feed's expiry).
pub(crate) fn trust_expiry_line(dir: &Path) -> Option<String> {
    let statement = trust_statement(dir).ok()??;
    Some(format!(
        "trust statement {} (trust.json) expires {} UTC{}: write a new one with `sea-pack trust` before then",
        statement.version,
        utc_date(statement.expires),
        expired_tag(Some(statement.expires))
    ))
}

fn expired_tag(expires: Option<u64>) -> &'static str {
    if expires.is_some_and(|e| e <= now()) { " (EXPIRED: clients refuse it)" } else { "" }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("could not read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).with_context(|| format!("could not read {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is larger than the {limit} bytes allowed", path.display());
    }
    Ok(bytes)
}

fn dir_text(
    dir: &Path,
    feeds: &[FeedSummary],
    trust: Option<&sea_payload::trust::Statement>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "{} (release directory; signatures not checked here)", dir.display())?;
    for f in feeds {
        let feed = &f.feed;
        let newest = feed.releases.iter().map(|r| &r.version).max();
        writeln!(out, "feed {}", f.file)?;
        writeln!(out, "  app           {}", feed.name)?;
        writeln!(out, "  channel       {}", feed.channel)?;
        writeln!(
            out,
            "  releases      {}{}",
            feed.releases.len(),
            newest.map(|v| format!(", newest {v}")).unwrap_or_default()
        )?;
        writeln!(
            out,
            "  sequence      {}",
            feed.sequence.map_or_else(|| "none (older format)".to_owned(), |n| n.to_string())
        )?;
        match feed.expires {
            Some(e) => writeln!(out, "  expires       {} UTC{}", utc_date(e), expired_tag(Some(e)))?,
            None => writeln!(out, "  expires       never (older format; clients that saw a newer feed refuse it)")?,
        }
        writeln!(out, "  signature     {}", if f.signed { "present" } else { "MISSING: clients refuse this feed" })?;
    }
    if let Some(s) = trust {
        writeln!(out, "trust.json")?;
        writeln!(out, "  statement     {}", s.version)?;
        writeln!(out, "  expires       {} UTC{}", utc_date(s.expires), expired_tag(Some(s.expires)))?;
    }
    Ok(())
}

fn dir_json(
    dir: &Path,
    feeds: &[FeedSummary],
    trust: Option<&sea_payload::trust::Statement>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let now = now();
    let feeds: Vec<Value> = feeds
        .iter()
        .map(|f| {
            let feed = &f.feed;
            json!({
                "file": f.file,
                "name": feed.name,
                "channel": feed.channel,
                "releases": feed.releases.len(),
                "newest": feed.releases.iter().map(|r| &r.version).max().map(ToString::to_string),
                "sequence": feed.sequence,
                "expires": feed.expires,
                "expires_utc": feed.expires.map(utc_date),
                "expired": feed.expires.is_some_and(|e| e <= now),
                "signature": f.signed,
            })
        })
        .collect();
    let trust = trust.map(|s| {
        json!({
            "version": s.version,
            "expires": s.expires,
            "expires_utc": utc_date(s.expires),
            "expired": s.expires <= now,
        })
    });
    let value = json!({ "path": dir.display().to_string(), "feeds": feeds, "trust": trust });
    writeln!(out, "{}", serde_json::to_string_pretty(&value).unwrap_or_default())
}
