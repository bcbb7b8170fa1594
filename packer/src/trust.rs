//! `sea-pack trust`: write the next version of the signed trust statement of a release directory.
//!
//! # Implementation
//! The chain lives in `<DIR>/trust.json` ([`sea_payload::trust`] has the format and the rules).
//! This command reads and verifies the existing chain with the same code a client runs, builds
//! the next statement (the release keys from `--delegate`, the root from `--root`/`--threshold`,
//! both defaulting to the previous statement's), signs it with every `--sign-key`, and then walks
//! the new chain exactly as a client would before it writes anything: a statement that clients
//! would refuse (below a threshold, a key outside both roots) is an error here, never a file.
//! The file is replaced atomically; statements are only ever appended.
//!
//! The first statement restates the root baked into the binaries (`build --public-key` and
//! `--threshold`): there is no earlier statement to read it from, and clients check version 1
//! against their baked-in root, so a first statement with another root would be refused by them.
//!
//! # Limitations
//! Every signer must be present in one run (one process holds all the `--sign-key` files). For
//! keys kept on separate offline machines, sign on each and merge the signature lists by hand:
//! the body is the same text, and a statement carries a list of signatures.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use sea_payload::trust::{
    RootSet, STATEMENT_TYPE, SignedStatement, Statement, TRUST_FILE, TRUST_FORMAT, TrustFile, Trusted,
};

use crate::cli::TrustArgs;
use crate::duration;
use crate::output;
use crate::sign::{SigningKey, resolve_public_key};

/// Runs `sea-pack trust`.
pub(crate) fn run(args: &TrustArgs, out: &mut dyn Write) -> Result<()> {
    let path = args.dir.join(TRUST_FILE);
    let existing = read_chain(&path)?;
    let previous = match &existing {
        Some(file) => Some(verify_chain(file, &path)?),
        None => None,
    };
    let expires_in = duration::parse(&args.expires).context("--expires")?;
    let root = match (&previous, args.root.is_empty(), args.threshold) {
        (_, false, Some(threshold)) => RootSet { keys: resolve_keys(&args.root, "--root")?, threshold },
        (_, false, None) => bail!("--root needs --threshold: how many of the new root keys must sign"),
        (_, true, Some(_)) => bail!("--threshold goes with --root (the new root set it applies to)"),
        (Some((_, trusted)), true, None) => trusted.root.clone(),
        (None, true, None) => bail!(
            "{} has no trust statement yet: the first one restates the root baked into your binaries, \
             so give it as --root <KEY>... --threshold <M> (the keys and threshold given to `build`)",
            args.dir.display()
        ),
    };
    root.validate().map_err(|e| anyhow!("{e}"))?;
    let release_keys = match (&previous, args.delegate.is_empty()) {
        (_, false) => resolve_keys(&args.delegate, "--delegate")?,
        (Some((_, trusted)), true) => trusted.release_keys.clone(),
        (None, true) => bail!("the first trust statement needs --delegate <KEY>...: the keys that sign releases"),
    };
    let name = match (&previous, &args.name) {
        (Some((name, _)), Some(given)) if given != name => {
            bail!("{} speaks for '{name}', not '{given}'", path.display())
        }
        (Some((name, _)), _) => name.clone(),
        (None, Some(name)) => {
            sea_payload::manifest::validate_name(name).map_err(|e| anyhow!("--name: {e}"))?;
            name.clone()
        }
        (None, None) => bail!("the first trust statement needs --name <NAME>: the app it speaks for"),
    };
    let now = sea_payload::time::now();
    let statement = Statement {
        kind: STATEMENT_TYPE.into(),
        format: TRUST_FORMAT,
        name: name.clone(),
        version: previous.as_ref().map_or(1, |(_, t)| t.version + 1),
        published: now,
        expires: now.saturating_add(expires_in),
        root,
        release_keys,
    };
    statement.validate().map_err(|e| anyhow!("{e}"))?;

    // The root that must sign this version: the previous statement's, or for version 1 the baked-in one.
    let before = match &previous {
        Some((_, trusted)) => trusted.clone(),
        None => Trusted::from_root(statement.root.clone()).map_err(|e| anyhow!("{e}"))?,
    };
    let body = statement.to_body();
    let mut signatures = Vec::new();
    for key_path in &args.sign_keys {
        let key = SigningKey::load(key_path)?;
        let public = key.public_base64();
        if !before.root.keys.contains(&public) && !statement.root.keys.contains(&public) {
            bail!(
                "{} ({public}) is a key of neither the current root nor the new one; a statement is signed by root keys",
                key_path.display()
            );
        }
        let comment = format!("sea trust statement {} of {name}", statement.version);
        signatures.push(key.sign(body.as_bytes(), &comment)?);
    }
    let mut file = existing.unwrap_or(TrustFile { format: TRUST_FORMAT, statements: Vec::new() });
    file.statements.push(SignedStatement { body, signatures });
    // Walk the new chain as a client at the previous version would.
    let walked = before
        .advance(&file, &name)
        .map_err(|e| anyhow!("{e}; pass --sign-key for enough root keys (this statement was not written)"))?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("could not create {}", args.dir.display()))?;
    output::write_bytes(&path, &file.to_bytes(), 0o644)?;

    writeln!(out, "wrote trust statement {} of {name} to {}", statement.version, path.display())?;
    writeln!(out, "  root: {} of {} keys", statement.root.threshold, statement.root.keys.len())?;
    for key in &statement.root.keys {
        writeln!(out, "    {key}")?;
    }
    writeln!(out, "  release keys:")?;
    for key in &statement.release_keys {
        writeln!(out, "    {key}")?;
    }
    for key in &walked.revoked {
        writeln!(out, "  revoked: {key}")?;
    }
    if walked.root_changed {
        writeln!(out, "  the root changed: binaries built from now on should bake in the new root keys")?;
    }
    writeln!(
        out,
        "  expires {} UTC: write a new statement (or the same keys again) before then",
        sea_payload::time::utc_date(statement.expires)
    )?;
    for line in crate::inspect::feed_expiry_lines(&args.dir) {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// Reads `<DIR>/trust.json` if it exists.
fn read_chain(path: &Path) -> Result<Option<TrustFile>> {
    match std::fs::read(path) {
        Ok(bytes) => TrustFile::from_bytes(&bytes).map(Some).map_err(|e| anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Verifies an existing chain from its first statement (which restates the baked-in root);
/// returns the app name and the newest trusted state.
fn verify_chain(file: &TrustFile, path: &Path) -> Result<(String, Trusted)> {
    let first = file.statements.first().ok_or_else(|| anyhow!("{} holds no statement", path.display()))?;
    let first = Statement::from_body(&first.body).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let baked = Trusted::from_root(first.root.clone()).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let walked = baked.advance(file, &first.name).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok((first.name, walked.trusted))
}

/// Resolves `--root`/`--delegate` values (base64 keys or `.pub` files).
fn resolve_keys(values: &[String], flag: &str) -> Result<Vec<String>> {
    values.iter().map(|v| resolve_public_key(v).with_context(|| flag.to_owned())).collect()
}

/// Whether a feed already in `dir` may be added to by `--sign-key` `public`: signed by it, or by
/// a release key of any statement of `dir`'s verified chain (the key it replaced after a
/// rotation). The signer that verified, or the error of the check with `public`.
pub(crate) fn verify_existing(bytes: &[u8], sig: &str, public: &str, dir: &Path) -> Result<String, String> {
    let own = sea_payload::signature::verify(bytes, sig, public).map(|_| public.to_owned()).map_err(|e| e.to_string());
    if own.is_ok() {
        return own;
    }
    let path = dir.join(TRUST_FILE);
    let Ok(Some(file)) = read_chain(&path) else { return own };
    if verify_chain(&file, &path).is_err() {
        return own;
    }
    let earlier =
        file.statements.iter().filter_map(|s| Statement::from_body(&s.body).ok()).flat_map(|s| s.release_keys);
    for key in earlier {
        if sea_payload::signature::verify(bytes, sig, &key).is_ok() {
            return Ok(key);
        }
    }
    own
}
