//! Keys and signatures, in minisign's format.
//!
//! # Implementation
//! Signing uses the `minisign` crate (prehashed ed25519, the default of minisign 0.8+), so every
//! signature sea-pack writes can be checked with the stock tool: `minisign -Vm <file> -P <key>`.
//! Verification goes through [`sea_payload::signature`], the same code the launcher runs.
//! A signature's trusted comment (signed too) names what was signed, so a signature moved onto
//! another file is recognisable by a person reading it.
//!
//! # Limitations
//! Secret keys must be unencrypted: sea-pack runs in release pipelines with no one to type a
//! password. Keep the key in the pipeline's secret store.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use minisign::{PublicKey, SecretKey, SecretKeyBox};
use sea_payload::signature;

/// The untrusted (unsigned) comment line of every signature sea-pack writes.
const UNTRUSTED_COMMENT: &str = "signature from sea-pack";

/// A secret key loaded from a file, with its public half.
pub(crate) struct SigningKey {
    secret: SecretKey,
    public: PublicKey,
    path: PathBuf,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public", &self.public_base64()).field("path", &self.path).finish()
    }
}

impl SigningKey {
    /// Loads an unencrypted minisign secret key file.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the secret key file {}", path.display()))?;
        let secret =
            SecretKeyBox::from_string(&text).and_then(SecretKeyBox::into_unencrypted_secret_key).map_err(|e| {
                anyhow!(
                    "{} is not an unencrypted minisign secret key ({}); make one with `sea-pack keygen -o FILE`",
                    path.display(),
                    e.to_string().to_lowercase()
                )
            })?;
        let public = PublicKey::from_secret_key(&secret)
            .map_err(|e| anyhow!("could not derive the public key of {}: {e}", path.display()))?;
        Ok(Self { secret, public, path: path.to_owned() })
    }

    /// The public key, base64 (`RW…`), as `--public-key` and manifests carry it.
    pub(crate) fn public_base64(&self) -> String {
        self.public.to_base64()
    }

    /// The key file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Signs everything `data` yields; returns the text of a `.minisig` file.
    pub(crate) fn sign(&self, data: impl Read, trusted_comment: &str) -> Result<String> {
        if trusted_comment.contains(['\n', '\r']) {
            bail!("a trusted comment must be one line");
        }
        let signature =
            minisign::sign(Some(&self.public), &self.secret, data, Some(trusted_comment), Some(UNTRUSTED_COMMENT))
                .map_err(|e| anyhow!("could not sign with {}: {e}", self.path.display()))?;
        Ok(signature.into_string())
    }

    /// Whether `signature_text` is a valid signature of the file at `path` by this key (streaming,
    /// so large artifacts are not read into memory).
    pub(crate) fn signed_file(&self, path: &Path, signature_text: &str) -> bool {
        let (Ok(signature), Ok(key)) =
            (signature::parse_signature(signature_text), signature::parse_public_key(&self.public_base64()))
        else {
            return false;
        };
        let Ok(mut file) = std::fs::File::open(path) else { return false };
        let keys = [key];
        let Ok(mut streaming) = signature::Streaming::start(&signature, &keys) else { return false };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => streaming.update(&buf[..n]),
                Err(_) => return false,
            }
        }
        streaming.finish().is_ok()
    }
}

/// Reads a `--public-key` value: the base64 key itself, or the path of a minisign `.pub` file.
/// Returns the base64 key.
pub(crate) fn resolve_public_key(value: &str) -> Result<String> {
    let path = Path::new(value);
    let text = if path.is_file() {
        std::fs::read_to_string(path)
            .with_context(|| format!("could not read the public key file {}", path.display()))?
    } else {
        value.to_owned()
    };
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap_or_default()
        .to_owned();
    signature::parse_public_key(&line).map_err(|e| {
        anyhow!("--public-key '{value}' is neither a minisign public key (RW…) nor a readable .pub file: {e}")
    })?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_what_the_launcher_verifies() {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("keypair");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        std::fs::write(&path, pair.sk.to_box(None).expect("box").to_string()).expect("write");
        let key = SigningKey::load(&path).expect("load");
        assert_eq!(key.public_base64(), pair.pk.to_base64());
        let sig = key.sign(&b"data"[..], "sea test").expect("sign");
        assert_eq!(signature::verify(b"data", &sig, &key.public_base64()), Ok("sea test".to_owned()));
        let pub_path = dir.path().join("k.pub");
        std::fs::write(&pub_path, pair.pk.to_box().expect("box").to_string()).expect("write");
        let from_file = resolve_public_key(pub_path.to_str().expect("utf-8")).expect("pub file");
        assert_eq!(from_file, key.public_base64());
        assert_eq!(resolve_public_key(&from_file).expect("base64"), from_file);
        assert!(resolve_public_key("RWnope").is_err());
        assert!(SigningKey::load(&pub_path).is_err());
    }
}
