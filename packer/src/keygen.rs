//! `sea-pack keygen`: a minisign key pair for signing payloads, artifacts and feeds.
//!
//! The secret key is written unencrypted (see [`crate::sign`] for why) through a temporary file
//! that is created with mode 0600, so it is never readable by others, and renamed into place
//! without replacing an existing key unless `--force` is given: losing a release key silently
//! would strand every installed client. The public key goes to `<FILE>.pub` in minisign's own
//! format, usable with `minisign -Vm <file> -p <FILE>.pub` and with `build --public-key`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use minisign::KeyPair;

use crate::cli::KeygenArgs;
use crate::output::{AtomicFile, Replace};

/// Runs `keygen`; prints `public key: <base64>` on `out`.
pub(crate) fn run(args: &KeygenArgs, out: &mut dyn Write) -> Result<()> {
    let secret_path = &args.output;
    let public_path = pub_path(secret_path);
    let replace = if args.force { Replace::Yes } else { Replace::No };
    if !args.force {
        for path in [secret_path, &public_path] {
            if path.symlink_metadata().is_ok() {
                bail!("{} already exists; pass --force to replace it (the old key will be lost)", path.display());
            }
        }
    }
    let pair = KeyPair::generate_unencrypted_keypair().map_err(|e| anyhow!("could not generate a key pair: {e}"))?;
    let secret_text = pair
        .sk
        .to_box(Some("sea-pack secret key (unencrypted: keep it secret)"))
        .map_err(|e| anyhow!("could not encode the secret key: {e}"))?
        .to_string();
    let public_text = pair.pk.to_box().map_err(|e| anyhow!("could not encode the public key: {e}"))?.to_string();
    write_file(secret_path, &secret_text, 0o600, replace)?;
    write_file(&public_path, &public_text, 0o644, replace)?;
    eprintln!(
        "wrote the secret key to {} (keep it secret) and the public key to {}",
        secret_path.display(),
        public_path.display()
    );
    writeln!(out, "public key: {}", pair.pk.to_base64()).context("could not write to stdout")?;
    Ok(())
}

fn write_file(path: &Path, text: &str, mode: u32, replace: Replace) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.writer().write_all(text.as_bytes()).with_context(|| format!("could not write {}", path.display()))?;
    file.commit(mode, replace)
}

/// `<FILE>.pub`.
fn pub_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}
