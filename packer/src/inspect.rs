//! `sea-pack inspect`: what a packed executable holds and where, after checking its digests.
//!
//! The digests are checked ([`crate::verify::check`]) before anything is shown, so a summary is
//! never printed for a file whose payload or index does not match its manifest; the cost is one
//! SHA-256 pass over the payload (about 1.7 GB/s here). A binary without a signature although it
//! trusts a key is shown, with a status that says its launcher will refuse it; `verify` fails on it.

use std::io::Write;
use std::ops::Range;

use anyhow::{Context, Result};
use sea_payload::Manifest;
use sea_payload::trailer::Layout;
use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::verify::{self, Checked, KeySource, Signature};

/// Runs `inspect`.
pub(crate) fn run(args: &InspectArgs, out: &mut dyn Write) -> Result<()> {
    let checked = verify::check(&args.binary, None)?;
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
    });
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
    writeln!(out, "checked: trailer, manifest, payload sha256, index sha256")
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
    writeln!(out, "  index         {} bytes, {} entries", m.index.size, checked.index.entries.len())?;
    writeln!(out, "  launcher      stub {}, runs on launcher >= {}", m.launcher_version, m.min_launcher)?;
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
